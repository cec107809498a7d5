/* Event loop: whole batches from every source, per-packet errors logged
 * once per tick, flush before read, backpressure holds instead of drops,
 * timers fire at their deadline. Driven through the real loader and the
 * in-memory test plugin. */
#include <string.h>

#include "loader.h"
#include "loop.h"

typedef struct {
  EmberPlugin *plugin;
  EmberBackend *backend;
  EmberLoopBackend *lb;
  guint batches;
  guint packets;
  guint error_slots;
  guint max_batch;
  guint32 next_seq;
  gboolean in_order;
  guint first_tick_batches;
} Source;

static EmberPlugin *
load_test_plugin (void)
{
  g_autofree char *path = g_strdup_printf ("%s/testplug-good.so", TEST_PLUGIN_DIR);
  g_autoptr (GError) error = NULL;
  EmberPlugin *p = ember_plugin_load (path, EMBER_PLUGIN_DIR_ENV, &error);
  g_assert_no_error (error);
  return p;
}

static EmberBackend *
open_backend (EmberPlugin *p, const char *settings)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *text = g_strdup_printf ("[test-loopback]\n%s\n", settings);
  EmberBackendArgs args = { kf, "test-loopback", "ember-test" };
  EmberBackend *be;

  g_assert_true (g_key_file_load_from_data (kf, text, (gsize) -1, 0, NULL));
  be = p->io.open (&args, &error);
  g_assert_no_error (error);
  return be;
}

static void
on_batch (EmberLoopBackend *from, EmberPacket *batch, guint n, EmberErrorList *errors,
          gpointer user_data)
{
  Source *s = user_data;

  g_assert_true (from == s->lb);
  s->batches++;
  s->max_batch = MAX (s->max_batch, n);
  for (guint i = 0; i < n; i++)
    {
      guint32 seq;
      if (batch[i].error != 0)
        {
          s->error_slots++;
          continue;
        }
      g_assert_cmpuint (batch[i].len, ==, 4);
      seq = (guint32) batch[i].data[0] << 24 | (guint32) batch[i].data[1] << 16 |
            (guint32) batch[i].data[2] << 8 | batch[i].data[3];
      if (seq == 0xdeadbeef)
        {
          /* A packet the handler itself cannot process: its error joins
           * the tick's list and the rest of the batch goes on. */
          ember_error_list_add (errors, "packet %u: bad magic", i);
          continue;
        }
      s->packets++;
      if (seq < s->next_seq)
        s->in_order = FALSE;
      s->next_seq = seq + 1;
    }
}

static void
run_until (GMainContext *ctx, gboolean (*done) (gpointer), gpointer data)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (!done (data) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ctx, FALSE);
  g_assert_true (done (data));
}

static gboolean
two_sources_done (gpointer data)
{
  Source *s = data;
  return s[0].packets + s[0].error_slots == 250 && s[1].packets + s[1].error_slots == 250;
}

static void
test_batches_and_errors (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (EmberLoop) loop = ember_loop_new (ctx);
  g_autoptr (EmberPlugin) p = load_test_plugin ();
  Source s[2] = { 0 };
  EmberLoopStats st;

  for (int i = 0; i < 2; i++)
    {
      s[i].plugin = p;
      s[i].in_order = TRUE;
      s[i].backend = open_backend (p, "generate=250\nerror-every=50");
      s[i].lb = ember_loop_add_backend (loop, i == 0 ? "a" : "b", &p->io, s[i].backend, 2048,
                                        64, on_batch, &s[i]);
    }

  /* One tick: each source gets one whole batch, neither starves. */
  ember_loop_tick (loop);
  g_assert_cmpuint (s[0].batches, ==, 1);
  g_assert_cmpuint (s[1].batches, ==, 1);
  g_assert_cmpuint (s[0].max_batch, ==, EMBER_BATCH_MAX);

  run_until (ctx, two_sources_done, s);
  for (int i = 0; i < 2; i++)
    {
      /* Every good packet arrived though every 50th slot failed. */
      g_assert_cmpuint (s[i].packets, ==, 245);
      g_assert_cmpuint (s[i].error_slots, ==, 5);
      g_assert_true (s[i].in_order);
      g_assert_cmpuint (s[i].batches, ==, 3);
    }
  ember_loop_get_stats (loop, &st);
  g_assert_cmpuint (st.errors, ==, 10);
  /* Errors are logged once per tick, not once per packet: three ticks
   * carried the 250 + 250 slots. */
  g_assert_cmpuint (st.error_logs, ==, 3);
  g_assert_cmpuint (st.packets_in, ==, 500);

  for (int i = 0; i < 2; i++)
    {
      ember_loop_remove_backend (loop, s[i].lb);
      p->io.close (s[i].backend);
    }
}

static gboolean
loopback_done (gpointer data)
{
  Source *s = data;
  return s->packets == 500;
}

static guint room_calls;

static void
on_room (EmberLoopBackend *lb, gpointer user_data)
{
  (void) lb;
  (*(guint *) user_data)++;
}

static gboolean
room_done (gpointer data)
{
  return *(guint *) data > 0;
}

static void
test_backpressure_holds (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (EmberLoop) loop = ember_loop_new (ctx);
  g_autoptr (EmberPlugin) p = load_test_plugin ();
  Source s = { 0 };
  EmberLoopStats st;
  guint32 sent = 0;

  s.in_order = TRUE;
  s.backend = open_backend (p, "capacity=8");
  s.lb = ember_loop_add_backend (loop, "loopback", &p->io, s.backend, 2048, 64, on_batch, &s);

  /* The plugin takes 8 at a time; the loop must hold the rest, never drop
   * them, and send them once the waker says there is room. */
  while (sent < 500)
    {
      while (sent < 500 && ember_loop_backend_queued (s.lb) < 64)
        {
          guint8 b[4] = { (guint8) (sent >> 24), (guint8) (sent >> 16), (guint8) (sent >> 8),
                          (guint8) sent };
          g_assert_true (ember_loop_send (s.lb, b, sizeof b, NULL, 0));
          sent++;
        }
      g_main_context_iteration (ctx, FALSE);
    }
  run_until (ctx, loopback_done, &s);
  g_assert_true (s.in_order);
  ember_loop_get_stats (loop, &st);
  g_assert_cmpuint (st.send_drops, ==, 0);
  g_assert_cmpuint (st.packets_out, ==, 500);
  g_assert_cmpuint (st.blocked_ticks, >, 0);

  /* A full queue refuses (and counts) instead of overwriting... */
  for (guint i = 0; i < 64; i++)
    g_assert_true (ember_loop_send (s.lb, (const guint8 *) "abcd", 4, NULL, 0));
  g_assert_false (ember_loop_send (s.lb, (const guint8 *) "abcd", 4, NULL, 0));
  ember_loop_get_stats (loop, &st);
  g_assert_cmpuint (st.send_drops, ==, 1);

  /* ...and a producer that paused is told once a flush made room. */
  room_calls = 0;
  g_assert_true (ember_loop_backend_notify_room (s.lb, 16, on_room, &room_calls));
  run_until (ctx, room_done, &room_calls);
  g_assert_cmpuint (room_calls, ==, 1);
  g_assert_cmpuint (64 - ember_loop_backend_queued (s.lb), >=, 16);
  /* With room already there nothing is registered. */
  g_assert_false (ember_loop_backend_notify_room (s.lb, 1, on_room, &room_calls));

  ember_loop_remove_backend (loop, s.lb);
  p->io.close (s.backend);
}

static gboolean
eight_done (gpointer data)
{
  return ((Source *) data)->packets == 8;
}

static void
test_handler_errors_do_not_drop_batch (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (EmberLoop) loop = ember_loop_new (ctx);
  g_autoptr (EmberPlugin) p = load_test_plugin ();
  Source s = { 0 };
  EmberLoopStats st;
  const guint8 bad[4] = { 0xde, 0xad, 0xbe, 0xef };

  s.in_order = TRUE;
  s.backend = open_backend (p, "capacity=16");
  s.lb = ember_loop_add_backend (loop, "loopback", &p->io, s.backend, 2048, 16, on_batch, &s);
  for (guint32 i = 0; i < 10; i++)
    {
      guint8 b[4] = { 0, 0, 0, (guint8) i };
      g_assert_true (ember_loop_send (s.lb, i == 3 || i == 7 ? bad : b, 4, NULL, 0));
    }
  run_until (ctx, eight_done, &s);
  g_assert_true (s.in_order);
  ember_loop_get_stats (loop, &st);
  g_assert_cmpuint (st.errors, ==, 2);
  g_assert_cmpuint (st.error_logs, >=, 1);
  g_assert_cmpuint (st.error_logs, <=, 2);
  ember_loop_remove_backend (loop, s.lb);
  p->io.close (s.backend);
}

typedef struct {
  gint64 fired_at;
  gint64 deadline;
} TimerState;

static void
on_timer (EmberTimer *timer, gint64 now, gpointer user_data)
{
  TimerState *t = user_data;
  (void) timer;
  t->fired_at = now;
}

static gboolean
timer_done (gpointer data)
{
  return ((TimerState *) data)->fired_at != 0;
}

static void
test_timer (void)
{
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  g_autoptr (EmberLoop) loop = ember_loop_new (ctx);
  TimerState t = { 0 };
  EmberTimer *timer = ember_loop_timer_new (loop, on_timer, &t);

  t.deadline = g_get_monotonic_time () + 20000;
  ember_timer_set_deadline (timer, t.deadline);
  g_assert_cmpint (ember_timer_get_deadline (timer), ==, t.deadline);
  run_until (ctx, timer_done, &t);
  g_assert_cmpint (t.fired_at, >=, t.deadline);
  /* Fired timers disarm until set again. */
  g_assert_cmpint (ember_timer_get_deadline (timer), ==, -1);
  ember_timer_free (timer);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The loop logs per-tick error summaries as warnings: test data here. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_test_add_func ("/loop/batch/every-source-each-tick-errors-logged-once",
                   test_batches_and_errors);
  g_test_add_func ("/loop/batch/handler-errors-keep-the-rest", test_handler_errors_do_not_drop_batch);
  g_test_add_func ("/loop/send/backpressure-holds-not-drops", test_backpressure_holds);
  g_test_add_func ("/loop/timer/fires-at-deadline", test_timer);
  return g_test_run ();
}
