/* test-util — what the Linux unit tests and the Wine tests of tun-wintun
 * share: a waker that counts its wakes (any thread), and numbered IPv4
 * and IPv6 test packets whose bytes say which one they are, so order and
 * loss show. Every wait is bounded (WAIT_US).
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h"

G_BEGIN_DECLS

#define WAIT_US (5 * G_USEC_PER_SEC)

typedef struct {
  EmberWaker base;
  GMutex lock;
  GCond cond;
  guint woken;
} TestWaker;

void test_waker_init (TestWaker *t);
void test_waker_clear (TestWaker *t);
/* Waits (bounded) until woken more than `seen` times; returns the count. */
guint test_waker_wait (TestWaker *t, guint seen);
guint test_waker_count (TestWaker *t);

/* Packet i: IPv4 for even i, IPv6 for odd, packet_len(i) bytes long
 * (40 to 1239). make_packet() fills `len` bytes of buf and returns len. */
gsize packet_len (guint i);
gsize make_packet (guint i, guint8 *buf, gsize len);
/* Asserts that data/len is packet i. */
void assert_packet (guint i, const guint8 *data, gsize len);

G_END_DECLS
