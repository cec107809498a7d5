/* fake-ring — Wintun's two packet rings in memory, for tests.
 *
 * The model of the real thing: each ring is a byte ring of a power-of-two
 * capacity whose packets carry a 4-byte length and are aligned to 4
 * bytes, with slack after the end so that no packet wraps. The receive
 * ring is filled by the test (inject, as the driver does with what
 * Windows routes into the adapter) and read through the Wintun calls;
 * the send ring is filled through the Wintun calls and read by the test
 * (take_sent, as the driver hands packets to Windows). A packet
 * allocated on the send ring leaves only after it was sent, in
 * allocation order; received packets free their room once released, in
 * receive order. The test may also make the send ring report full and
 * end the adapter (both rings then answer ERROR_HANDLE_EOF).
 *
 * Used by the Linux unit tests (tests/tun-wintun/test-tun-wintun.c) and by
 * the stand-in wintun.dll under Wine (standin-wintun.c), which add the
 * read event. Thread-safe; `notify` runs with no lock held.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _FakeRing FakeRing;

/* `notify(data)` is called whenever the receive ring gets a packet (the
 * driver setting the read event) and when the adapter ends. */
FakeRing *fake_ring_new (guint32 capacity, void (*notify) (void *data), void *data);
void fake_ring_free (FakeRing *ring);

/* Wintun calls (errors as in ops.h). */
const guint8 *fake_ring_receive (FakeRing *ring, guint32 *size, guint32 *err);
void fake_ring_release (FakeRing *ring, const guint8 *packet);
guint8 *fake_ring_allocate (FakeRing *ring, guint32 size, guint32 *err);
void fake_ring_send (FakeRing *ring, const guint8 *packet);

/* Test side. inject() returns FALSE when the receive ring has no room. */
gboolean fake_ring_inject (FakeRing *ring, const guint8 *packet, gsize len);
/* Copies the oldest sent packet into buf and frees its room; returns its
 * length, 0 when none is waiting, or its true length when cap is short
 * (the packet is consumed anyway). */
gsize fake_ring_take_sent (FakeRing *ring, guint8 *buf, gsize cap);
/* Number of sent packets waiting for take_sent(). */
guint fake_ring_sent_waiting (FakeRing *ring);
/* While TRUE, allocate() answers ERROR_BUFFER_OVERFLOW as a full ring
 * would. Counts how many times it did. */
void fake_ring_force_full (FakeRing *ring, gboolean full);
guint fake_ring_overflows (FakeRing *ring);
/* The adapter goes away: every call answers ERROR_HANDLE_EOF. */
void fake_ring_end (FakeRing *ring);

G_END_DECLS
