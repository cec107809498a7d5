/* ring — one step on each of a Wintun session's two rings.
 *
 * Receive: take what the receive ring holds, up to a batch, copying each
 * packet out and releasing it at once so the driver can reuse the room.
 * Send: put a run of packets on the send ring in order, stopping at the
 * first one the ring has no room for; that packet and the ones after it
 * stay with the caller (nothing is dropped on a full ring).
 * No threads, no waiting: io.c decides when to call and what to do with
 * the status. Any thread, one caller per ring at a time.
 */
#pragma once

#include <glib.h>

#include "ops.h"

G_BEGIN_DECLS

typedef enum {
  WINTUN_RING_OK,     /* receive: the batch is full, more may wait; send: all sent */
  WINTUN_RING_EMPTY,  /* receive: nothing more now (wait for the read event) */
  WINTUN_RING_FULL,   /* send: no room for the next packet (ERROR_BUFFER_OVERFLOW) */
  WINTUN_RING_EOF,    /* the adapter is ending (ERROR_HANDLE_EOF) */
  WINTUN_RING_BROKEN, /* another error, in *err (e.g. ERROR_INVALID_DATA) */
} WintunRingStatus;

/* Receives up to `max` packets into `buf`, slot i at buf + i * slot_size,
 * its length in lens[i]. A packet longer than slot_size is released and
 * counted in *oversized instead. Returns the number of slots filled;
 * *status says why it stopped. */
guint wintun_ring_receive (const WintunSessionOps *ops, void *session, guint8 *buf,
                           gsize slot_size, gsize *lens, guint max, guint64 *oversized,
                           WintunRingStatus *status, guint32 *err);

/* Sends pkts[0..n) in order. Returns how many left; *status is OK when
 * all did, otherwise FULL, EOF or BROKEN for pkts[returned]. */
guint wintun_ring_send (const WintunSessionOps *ops, void *session, guint8 *const *pkts,
                        const gsize *lens, guint n, WintunRingStatus *status, guint32 *err);

G_END_DECLS
