/* io — the packet path of a Wintun session: a receive thread, a send
 * thread and two bounded channels (seed 004).
 *
 * Wintun's convenient API blocks (seed 004), so a receive thread waits on
 * the session's read event, drains the receive ring in batches and pushes
 * them into a bounded channel that the core empties with
 * poll_recv_many(), up to EMBER_BATCH_MAX at a time. send() copies a
 * packet into a bounded send channel; the send thread moves runs of them
 * onto the send ring. When the ring is full (ERROR_BUFFER_OVERFLOW) the
 * send thread keeps the packets, backs off and tries again, so the
 * channel fills, poll_send_ready() turns PENDING and the core holds its
 * packets; the send thread wakes it as soon as it frees a slot. Nothing
 * is dropped. ERROR_HANDLE_EOF on either ring is the end of the adapter:
 * packets already received are still handed out, then poll_recv_many()
 * and poll_send_ready() fail with EMBER_PLUGIN_ERROR_CLOSED.
 *
 * Platform-neutral: it reaches Wintun only through WintunSessionOps.
 * Threads: the wintun_io_* functions run on the core's main thread; the
 * two threads touch only the session, the channels and atomics.
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h"
#include "ops.h"

G_BEGIN_DECLS

typedef struct _WintunIo WintunIo;

typedef struct {
  guint64 rx_packets;
  guint64 rx_oversized;  /* longer than the MTU: released and counted */
  guint64 tx_packets;
  guint64 tx_ring_full;  /* times the send ring had no room */
  guint64 tx_lost;       /* queued when the adapter ended */
} WintunIoStats;

/* Starts the two threads on an open session. `channel_capacity` packets
 * of `mtu` bytes each way. `name` is the adapter's, for messages. */
WintunIo *wintun_io_start (const WintunSessionOps *ops, void *session, const char *name,
                           guint mtu, guint channel_capacity, const char *log_domain,
                           GError **error);

gint wintun_io_recv_many (WintunIo *io, EmberWaker *waker, EmberPacket *batch, guint max,
                          GError **error);
EmberPoll wintun_io_send_ready (WintunIo *io, EmberWaker *waker, GError **error);
gboolean wintun_io_send (WintunIo *io, const EmberPacket *packet, GError **error);

void wintun_io_stats (WintunIo *io, WintunIoStats *out);

/* Stops and joins the threads (calling ops->stop) and frees everything;
 * the session may be ended afterwards. Logs the counters. */
void wintun_io_stop (WintunIo *io);

G_END_DECLS
