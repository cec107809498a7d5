/* test-wg-allowedips.c — longest-prefix match for cryptokey routing. */
#include <glib.h>
#include <string.h>

#include "allowedips.h"

#define V4(a, b, c, d) ((const guint8[]) { a, b, c, d })

static int peer_a, peer_b, peer_c;

static void
test_longest_prefix_v4 (void)
{
  EmberWgAllowedIps *t = ember_wg_allowedips_new ();

  g_assert_true (ember_wg_allowedips_insert (t, 4, V4 (10, 0, 0, 0), 8, &peer_a));
  g_assert_true (ember_wg_allowedips_insert (t, 4, V4 (10, 1, 0, 0), 16, &peer_b));
  g_assert_true (ember_wg_allowedips_insert (t, 4, V4 (10, 1, 2, 3), 32, &peer_c));
  g_assert_true (ember_wg_allowedips_lookup (t, 4, V4 (10, 9, 9, 9)) == &peer_a);
  g_assert_true (ember_wg_allowedips_lookup (t, 4, V4 (10, 1, 9, 9)) == &peer_b);
  g_assert_true (ember_wg_allowedips_lookup (t, 4, V4 (10, 1, 2, 3)) == &peer_c);
  g_assert_true (ember_wg_allowedips_lookup (t, 4, V4 (10, 1, 2, 4)) == &peer_b);
  g_assert_null (ember_wg_allowedips_lookup (t, 4, V4 (11, 0, 0, 1)));
  /* Host bits past the prefix do not matter. */
  g_assert_true (ember_wg_allowedips_insert (t, 4, V4 (192, 168, 7, 99), 24, &peer_c));
  g_assert_true (ember_wg_allowedips_lookup (t, 4, V4 (192, 168, 7, 1)) == &peer_c);
  /* Default route and replacement. */
  g_assert_true (ember_wg_allowedips_insert (t, 4, V4 (0, 0, 0, 0), 0, &peer_a));
  g_assert_true (ember_wg_allowedips_lookup (t, 4, V4 (8, 8, 8, 8)) == &peer_a);
  g_assert_true (ember_wg_allowedips_insert (t, 4, V4 (10, 1, 0, 0), 16, &peer_a));
  g_assert_true (ember_wg_allowedips_lookup (t, 4, V4 (10, 1, 9, 9)) == &peer_a);
  /* Bad input. */
  g_assert_false (ember_wg_allowedips_insert (t, 4, V4 (1, 2, 3, 4), 33, &peer_a));
  g_assert_false (ember_wg_allowedips_insert (t, 5, V4 (1, 2, 3, 4), 8, &peer_a));
  ember_wg_allowedips_free (t);
}

static void
test_v6_and_remove (void)
{
  EmberWgAllowedIps *t = ember_wg_allowedips_new ();
  guint8 net[16] = { 0xfd, 0x00, 0xab, 0xcd };
  guint8 host[16] = { 0xfd, 0x00, 0xab, 0xcd, [15] = 7 };
  guint8 other[16] = { 0xfd, 0x00, 0xab, 0xce, [15] = 7 };
  guint8 pkt[40] = { 0x60 };

  g_assert_true (ember_wg_allowedips_insert (t, 6, net, 32, &peer_a));
  g_assert_true (ember_wg_allowedips_insert (t, 6, host, 128, &peer_b));
  g_assert_true (ember_wg_allowedips_insert (t, 4, V4 (10, 0, 0, 0), 8, &peer_b));
  g_assert_true (ember_wg_allowedips_lookup (t, 6, host) == &peer_b);
  g_assert_null (ember_wg_allowedips_lookup (t, 6, other));
  memcpy (pkt + 8, host, 16);   /* source */
  memcpy (pkt + 24, net, 16);   /* destination */
  g_assert_true (ember_wg_allowedips_lookup_src (t, pkt, sizeof pkt) == &peer_b);
  g_assert_true (ember_wg_allowedips_lookup_dst (t, pkt, sizeof pkt) == &peer_a);
  g_assert_null (ember_wg_allowedips_lookup_src (t, pkt, 39));

  ember_wg_allowedips_remove_value (t, &peer_b);
  g_assert_true (ember_wg_allowedips_lookup (t, 6, host) == &peer_a);
  g_assert_null (ember_wg_allowedips_lookup (t, 4, V4 (10, 0, 0, 1)));
  ember_wg_allowedips_remove_value (t, &peer_a);
  g_assert_null (ember_wg_allowedips_lookup (t, 6, host));
  ember_wg_allowedips_free (t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wg/allowedips/longest-prefix-wins-v4", test_longest_prefix_v4);
  g_test_add_func ("/wg/allowedips/v6-packets-and-peer-removal", test_v6_and_remove);
  return g_test_run ();
}
