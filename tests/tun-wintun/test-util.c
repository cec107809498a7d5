/* test-util — a counting waker and numbered test packets. See test-util.h. */
#include "test-util.h"

#include <string.h>

/* ---- A waker that counts ---------------------------------------------- */

static void
test_waker_wake (EmberWaker *w)
{
  TestWaker *t = (TestWaker *) w;
  g_mutex_lock (&t->lock);
  t->woken++;
  g_cond_broadcast (&t->cond);
  g_mutex_unlock (&t->lock);
}

void
test_waker_init (TestWaker *t)
{
  memset (t, 0, sizeof *t);
  t->base.wake = test_waker_wake;
  g_mutex_init (&t->lock);
  g_cond_init (&t->cond);
}

void
test_waker_clear (TestWaker *t)
{
  g_mutex_clear (&t->lock);
  g_cond_clear (&t->cond);
}

/* Waits (bounded) until woken more than `seen` times; returns the count. */
guint
test_waker_wait (TestWaker *t, guint seen)
{
  gint64 until = g_get_monotonic_time () + WAIT_US;
  g_mutex_lock (&t->lock);
  while (t->woken <= seen)
    if (!g_cond_wait_until (&t->cond, &t->lock, until))
      break;
  guint n = t->woken;
  g_mutex_unlock (&t->lock);
  return n;
}

guint
test_waker_count (TestWaker *t)
{
  g_mutex_lock (&t->lock);
  guint n = t->woken;
  g_mutex_unlock (&t->lock);
  return n;
}

/* ---- Packets ----------------------------------------------------------- */

/* An IPv4 (even i) or IPv6 (odd i) packet whose bytes encode i. */
gsize
make_packet (guint i, guint8 *buf, gsize len)
{
  memset (buf, 0, len);
  buf[0] = (i % 2 == 0) ? 0x45 : 0x60;
  for (gsize k = 1; k + 4 <= len; k += 4)
    {
      buf[k] = (guint8) (i >> 24);
      buf[k + 1] = (guint8) (i >> 16);
      buf[k + 2] = (guint8) (i >> 8);
      buf[k + 3] = (guint8) i;
    }
  return len;
}

gsize
packet_len (guint i)
{
  return 40 + (i * 37) % 1200;
}

void
assert_packet (guint i, const guint8 *data, gsize len)
{
  guint8 want[1500];
  g_assert_cmpuint (len, ==, packet_len (i));
  make_packet (i, want, packet_len (i));
  g_assert_true (memcmp (data, want, len) == 0);
}

