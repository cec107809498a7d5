/* channel — a bounded ring of packet slots between threads (seed 004).
 *
 * Owns `capacity` preallocated slots of `slot_size` bytes; nothing is
 * allocated per packet. Used two ways:
 *   - receive: the reader threads (many producers) push copies; the main
 *     thread pops batches in poll_recv_many() and arms a waker when empty;
 *   - send: the main thread (one producer) pushes in send(); one writer
 *     thread takes a run of slots, writes them in place and releases
 *     them, waking the main thread's send waker if it was full.
 * Producers that find the ring full wait (receive) or are refused (send:
 * the caller checked has_room() first, which is the backpressure).
 *
 * Thread-safe: every function may be called from any thread; the waker
 * is only called, never stored beyond tun_channel_close().
 *
 * Shared with plugins/tun-wintun, which is also built for Windows: GLib
 * and the C library only, no POSIX-only headers.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"

G_BEGIN_DECLS

typedef struct _TunChannel TunChannel;

TunChannel *tun_channel_new (guint capacity, gsize slot_size);
void tun_channel_free (TunChannel *ch);
gsize tun_channel_slot_size (const TunChannel *ch);

/* Wakes everyone waiting; afterwards pushes fail and take() returns what
 * is left, then 0. */
void tun_channel_close (TunChannel *ch);

/* Copies `n` packets in, waiting for room while the channel is open.
 * Returns how many were pushed (fewer only when closed). Wakes the armed
 * consumer waker. */
guint tun_channel_push_wait (TunChannel *ch, const guint8 *const *pkts, const gsize *lens, guint n);

/* Copies one packet in without waiting. FALSE when full or closed. */
gboolean tun_channel_try_push (TunChannel *ch, const guint8 *pkt, gsize len);

/* Lock-free hint for the single producer: TRUE means one push fits. */
gboolean tun_channel_has_room (TunChannel *ch);
/* Like has_room(), but when full stores `waker` to be woken by release()
 * once a slot frees. Returns whether there is room. */
gboolean tun_channel_poll_room (TunChannel *ch, EmberWaker *waker);

/* Consumer, copying: fills up to `max` packets into `batch`. When empty,
 * stores `waker` (woken by the next push) and returns 0. A packet larger
 * than a slot's capacity sets that slot's error to EMSGSIZE. */
guint tun_channel_pop_many (TunChannel *ch, EmberPacket *batch, guint max, EmberWaker *waker,
                            guint64 *dropped);

/* Consumer, in place: waits until packets are queued (or closed) and
 * returns up to `max` of them as pointers/lengths into the ring; they
 * stay owned by the consumer until release(n). Returns 0 only when
 * closed and empty. */
guint tun_channel_take (TunChannel *ch, guint8 **pkts, gsize *lens, guint max);
void tun_channel_release (TunChannel *ch, guint n);

guint tun_channel_count (TunChannel *ch);

G_END_DECLS
