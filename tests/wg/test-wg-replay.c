/* test-wg-replay.c — the replay window, with the case table of the Linux
 * kernel's WireGuard counter self-test (selftest/counter.c), re-written. */
#include <glib.h>

#include "replay.h"

#define LIM (EMBER_WG_REPLAY_WINDOW + 1)
#define REJ EMBER_WG_REJECT_AFTER_MESSAGES

typedef struct {
  guint64 counter;
  gboolean accept;
} Case;

static void
test_kernel_table (void)
{
  static const Case cases[] = {
    { 0, TRUE }, { 1, TRUE }, { 1, FALSE }, { 9, TRUE }, { 8, TRUE },
    { 7, TRUE }, { 7, FALSE }, { LIM, TRUE }, { LIM - 1, TRUE },
    { LIM - 1, FALSE }, { LIM - 2, TRUE }, { 2, TRUE }, { 2, FALSE },
    { LIM + 16, TRUE }, { 3, FALSE }, { LIM + 16, FALSE }, { LIM * 4, TRUE },
    { LIM * 4 - (LIM - 1), TRUE }, { 10, FALSE }, { LIM * 4 - LIM, FALSE },
    { LIM * 4 - (LIM + 1), FALSE }, { LIM * 4 - (LIM - 2), TRUE },
    { LIM * 4 + 1 - LIM, FALSE }, { 0, FALSE }, { REJ, FALSE },
    { REJ - 1, TRUE }, { REJ, FALSE }, { REJ - 1, FALSE }, { REJ - 2, TRUE },
    { REJ + 1, FALSE }, { REJ + 2, FALSE }, { REJ - 2, FALSE },
    { REJ - 3, TRUE }, { 0, FALSE },
  };
  EmberWgReplay r;

  ember_wg_replay_init (&r);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("case %" G_GSIZE_FORMAT ": %" G_GUINT64_FORMAT, i + 1,
                      cases[i].counter);
      g_assert_cmpint (ember_wg_replay_check (&r, cases[i].counter), ==,
                       cases[i].accept);
    }
}

static void
test_bulk (void)
{
  EmberWgReplay r;
  const guint64 W = EMBER_WG_REPLAY_WINDOW;

  /* 1: ascending fills the window; 0 is still just inside. */
  ember_wg_replay_init (&r);
  for (guint64 i = 1; i <= W; i++)
    g_assert_true (ember_wg_replay_check (&r, i));
  g_assert_true (ember_wg_replay_check (&r, 0));
  g_assert_false (ember_wg_replay_check (&r, 0));

  /* 2: one further and 0 falls out while 1 is the oldest accepted. */
  ember_wg_replay_init (&r);
  for (guint64 i = 2; i <= W + 1; i++)
    g_assert_true (ember_wg_replay_check (&r, i));
  g_assert_true (ember_wg_replay_check (&r, 1));
  g_assert_false (ember_wg_replay_check (&r, 0));

  /* 3: descending from the window size down to 1. */
  ember_wg_replay_init (&r);
  for (guint64 i = W + 1; i > 0; i--)
    g_assert_true (ember_wg_replay_check (&r, i));

  /* 4 */
  ember_wg_replay_init (&r);
  for (guint64 i = W + 2; i > 1; i--)
    g_assert_true (ember_wg_replay_check (&r, i));
  g_assert_false (ember_wg_replay_check (&r, 0));

  /* 5 */
  ember_wg_replay_init (&r);
  for (guint64 i = W; i > 0; i--)
    g_assert_true (ember_wg_replay_check (&r, i));
  g_assert_true (ember_wg_replay_check (&r, W + 1));
  g_assert_false (ember_wg_replay_check (&r, 0));

  /* 6 */
  ember_wg_replay_init (&r);
  for (guint64 i = W; i > 0; i--)
    g_assert_true (ember_wg_replay_check (&r, i));
  g_assert_true (ember_wg_replay_check (&r, 0));
  g_assert_true (ember_wg_replay_check (&r, W + 1));
}

/* A jump of more than the whole ring clears it: nothing stale survives. */
static void
test_big_jump_clears (void)
{
  EmberWgReplay r;

  ember_wg_replay_init (&r);
  for (guint64 i = 0; i < 200; i++)
    g_assert_true (ember_wg_replay_check (&r, i));
  g_assert_true (ember_wg_replay_check (&r, 1000000));
  g_assert_false (ember_wg_replay_check (&r, 199));
  for (guint64 i = 1000000 - EMBER_WG_REPLAY_WINDOW; i < 1000000; i++)
    g_assert_true (ember_wg_replay_check (&r, i));
  g_assert_false (ember_wg_replay_check (&r, 1000000 - EMBER_WG_REPLAY_WINDOW - 1));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wg/replay/kernel-counter-table", test_kernel_table);
  g_test_add_func ("/wg/replay/kernel-bulk-sequences", test_bulk);
  g_test_add_func ("/wg/replay/big-jump-clears-window", test_big_jump_clears);
  return g_test_run ();
}
