/* Unit tests for core/io/gso_queue.c: coalescing, order, limits. */
#include "io/gso_queue.h"

#include <string.h>

static EmberAddr
addr4 (guint8 last, guint16 port)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = port };
  a.addr[0] = 192;
  a.addr[1] = 0;
  a.addr[2] = 2;
  a.addr[3] = last;
  return a;
}

static EmberAddr
addr6 (guint8 last, guint16 port)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV6, .port = port };
  a.addr[0] = 0x20;
  a.addr[1] = 0x01;
  a.addr[2] = 0x0d;
  a.addr[3] = 0xb8;
  a.addr[15] = last;
  return a;
}

static void
fill (guint8 *buf, gsize len, guint8 tag)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (tag + i);
}

static void
test_coalesce_same_size_same_dst (void)
{
  g_autoptr (EmberGsoQueue) q = ember_gso_queue_new (4);
  EmberAddr d = addr4 (1, 51820);
  guint8 buf[1200];

  for (guint i = 0; i < 10; i++)
    {
      fill (buf, sizeof buf, (guint8) i);
      g_assert_cmpint (ember_gso_queue_push (q, &d, buf, sizeof buf), ==, EMBER_GSO_PUSH_QUEUED);
    }
  g_assert_cmpuint (ember_gso_queue_n_batches (q), ==, 1);
  g_assert_cmpuint (ember_gso_queue_n_datagrams (q), ==, 10);

  EmberGsoBatch b[4];
  g_assert_cmpuint (ember_gso_queue_peek (q, b, 4), ==, 1);
  g_assert_cmpuint (b[0].segment_size, ==, 1200);
  g_assert_cmpuint (b[0].n_segments, ==, 10);
  g_assert_cmpuint (b[0].len, ==, 12000);
  g_assert_cmpint (ember_gso_addr_compare (&b[0].dst, &d), ==, 0);
  for (guint i = 0; i < 10; i++)
    {
      fill (buf, sizeof buf, (guint8) i);
      g_assert_cmpmem (b[0].data + i * 1200, (int) (1200), buf, (int) (1200));
    }
  ember_gso_queue_consume (q, 10);
  g_assert_true (ember_gso_queue_is_empty (q));
  g_assert_cmpuint (ember_gso_queue_n_batches (q), ==, 0);
}

/* seed 002: small datagrams leave first whatever the queueing order. */
static void
test_order_small_segments_first (void)
{
  g_autoptr (EmberGsoQueue) q = ember_gso_queue_new (8);
  EmberAddr wg = addr4 (9, 51820), relay = addr4 (7, 3478), v6 = addr6 (3, 3478);
  guint8 bulk[1400], stun[100], turn[36];
  fill (bulk, sizeof bulk, 1);
  fill (stun, sizeof stun, 2);
  fill (turn, sizeof turn, 3);

  g_assert_cmpint (ember_gso_queue_push (q, &wg, bulk, sizeof bulk), ==, EMBER_GSO_PUSH_QUEUED);
  g_assert_cmpint (ember_gso_queue_push (q, &wg, bulk, sizeof bulk), ==, EMBER_GSO_PUSH_QUEUED);
  g_assert_cmpint (ember_gso_queue_push (q, &v6, stun, sizeof stun), ==, EMBER_GSO_PUSH_QUEUED);
  g_assert_cmpint (ember_gso_queue_push (q, &relay, stun, sizeof stun), ==, EMBER_GSO_PUSH_QUEUED);
  g_assert_cmpint (ember_gso_queue_push (q, &relay, turn, sizeof turn), ==, EMBER_GSO_PUSH_QUEUED);
  g_assert_cmpint (ember_gso_queue_push (q, &relay, stun, sizeof stun), ==, EMBER_GSO_PUSH_QUEUED);

  EmberGsoBatch b[8];
  guint n = ember_gso_queue_peek (q, b, 8);
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpuint (b[0].segment_size, ==, 36);
  g_assert_cmpuint (b[1].segment_size, ==, 100);
  g_assert_cmpuint (b[1].dst.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (b[1].n_segments, ==, 2);
  g_assert_cmpuint (b[2].segment_size, ==, 100);
  g_assert_cmpuint (b[2].dst.family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpuint (b[3].segment_size, ==, 1400);
  g_assert_cmpuint (b[3].n_segments, ==, 2);

  /* Consuming 2 datagrams takes the 36-byte batch and half the next. */
  ember_gso_queue_consume (q, 2);
  n = ember_gso_queue_peek (q, b, 8);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpuint (b[0].segment_size, ==, 100);
  g_assert_cmpuint (b[0].n_segments, ==, 1);
  g_assert_cmpmem (b[0].data, (int) (b[0].len), stun, (int) (sizeof stun));
  g_assert_cmpuint (ember_gso_queue_n_datagrams (q), ==, 4);

  /* A STUN queued after the bulk still goes before it. */
  g_assert_cmpint (ember_gso_queue_push (q, &wg, stun, sizeof stun), ==, EMBER_GSO_PUSH_QUEUED);
  n = ember_gso_queue_peek (q, b, 8);
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpuint (b[3].segment_size, ==, 1400);
}

static void
test_limits_split_batches (void)
{
  g_autoptr (EmberGsoQueue) q = ember_gso_queue_new (8);
  EmberAddr d = addr6 (1, 443);
  guint8 small[10] = { 0 }, big[1400] = { 0 };

  /* 64 segments per batch at most. */
  for (guint i = 0; i < 130; i++)
    g_assert_cmpint (ember_gso_queue_push (q, &d, small, sizeof small), ==, EMBER_GSO_PUSH_QUEUED);
  EmberGsoBatch b[8];
  g_assert_cmpuint (ember_gso_queue_peek (q, b, 8), ==, 3);
  g_assert_cmpuint (b[0].n_segments, ==, 64);
  g_assert_cmpuint (b[1].n_segments, ==, 64);
  g_assert_cmpuint (b[2].n_segments, ==, 2);
  ember_gso_queue_consume (q, 130);

  /* And no more than EMBER_GSO_MAX_BYTES: 46 * 1400 = 64400 fits, 47 not. */
  for (guint i = 0; i < 47; i++)
    g_assert_cmpint (ember_gso_queue_push (q, &d, big, sizeof big), ==, EMBER_GSO_PUSH_QUEUED);
  g_assert_cmpuint (ember_gso_queue_peek (q, b, 8), ==, 2);
  g_assert_cmpuint (b[0].n_segments, ==, 46);
  g_assert_cmpuint (b[0].len, <=, EMBER_GSO_MAX_BYTES);
  g_assert_cmpuint (b[1].n_segments, ==, 1);
}

static void
test_full_and_invalid (void)
{
  g_autoptr (EmberGsoQueue) q = ember_gso_queue_new (2);
  guint8 buf[200] = { 0 };
  EmberAddr a = addr4 (1, 1), b = addr4 (2, 1), c = addr4 (3, 1);

  g_assert_cmpint (ember_gso_queue_push (q, &a, buf, 0), ==, EMBER_GSO_PUSH_INVALID);
  g_assert_cmpint (ember_gso_queue_push (q, &a, buf, EMBER_GSO_MAX_BYTES + 1), ==,
                   EMBER_GSO_PUSH_INVALID);
  g_assert_cmpint (ember_gso_queue_push (q, &a, buf, 100), ==, EMBER_GSO_PUSH_QUEUED);
  g_assert_cmpint (ember_gso_queue_push (q, &b, buf, 100), ==, EMBER_GSO_PUSH_QUEUED);
  /* Both buffers taken: a third key is refused, nothing is lost... */
  g_assert_cmpint (ember_gso_queue_push (q, &c, buf, 100), ==, EMBER_GSO_PUSH_FULL);
  /* ...but an existing batch still accepts its own kind. */
  g_assert_cmpint (ember_gso_queue_push (q, &a, buf, 100), ==, EMBER_GSO_PUSH_QUEUED);
  g_assert_cmpuint (ember_gso_queue_n_datagrams (q), ==, 3);

  g_assert_cmpuint (ember_gso_queue_drop_head (q), ==, 2);
  g_assert_cmpint (ember_gso_queue_push (q, &c, buf, 100), ==, EMBER_GSO_PUSH_QUEUED);
  EmberGsoBatch out[4];
  g_assert_cmpuint (ember_gso_queue_peek (q, out, 4), ==, 2);
  g_assert_cmpint (ember_gso_addr_compare (&out[0].dst, &b), ==, 0);
  g_assert_cmpint (ember_gso_addr_compare (&out[1].dst, &c), ==, 0);

  /* Consuming more than queued is harmless. */
  ember_gso_queue_consume (q, 1000);
  g_assert_true (ember_gso_queue_is_empty (q));
  g_assert_cmpuint (ember_gso_queue_n_datagrams (q), ==, 0);
}

/* Buffers are recycled: a long run through a tiny pool never fails. */
static void
test_buffers_recycled (void)
{
  g_autoptr (EmberGsoQueue) q = ember_gso_queue_new (3);
  guint8 buf[64];
  guint64 total = 0;

  for (guint round = 0; round < 1000; round++)
    {
      for (guint i = 0; i < 3; i++)
        {
          EmberAddr d = addr4 ((guint8) i, 9);
          fill (buf, 20 + i, (guint8) round);
          g_assert_cmpint (ember_gso_queue_push (q, &d, buf, 20 + i), ==, EMBER_GSO_PUSH_QUEUED);
        }
      EmberGsoBatch b[3];
      guint n = ember_gso_queue_peek (q, b, 3);
      g_assert_cmpuint (n, ==, 3);
      for (guint i = 0; i < n; i++)
        {
          g_assert_cmpuint (b[i].segment_size, ==, 20 + i);
          g_assert_cmpuint (b[i].data[0], ==, (guint8) round);
          total += b[i].n_segments;
        }
      ember_gso_queue_consume (q, 3);
    }
  g_assert_cmpuint (total, ==, 3000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/io/gso-queue/coalesces-same-size-same-destination",
                   test_coalesce_same_size_same_dst);
  g_test_add_func ("/io/gso-queue/orders-small-segments-first", test_order_small_segments_first);
  g_test_add_func ("/io/gso-queue/splits-at-segment-and-byte-limits", test_limits_split_batches);
  g_test_add_func ("/io/gso-queue/refuses-when-full-or-invalid", test_full_and_invalid);
  g_test_add_func ("/io/gso-queue/recycles-buffers", test_buffers_recycled);
  return g_test_run ();
}
