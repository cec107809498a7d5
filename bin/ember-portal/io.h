/* ember-portal/io — the WebSocket connections, spread over I/O threads.
 *
 * GLib's main loop costs O(sources) per iteration: with 10,000 sessions
 * on one context every wake-up (a heartbeat, a join) walks 10,000 poll
 * records, and joins and fan-out slow down with the square of the
 * sessions. So the connections live on a few worker threads, each with
 * its own GMainContext, and the serving thread keeps only listeners and
 * timers. A worker owns its SoupWebsocketConnections outright: it parses
 * incoming frames with the codec (in parallel) and hands whole messages
 * to the serving thread; the serving thread hands it frame text to send
 * and closes to perform. Both directions are batched queues with one
 * wake-up per batch, so a fan-out to every session costs one wake-up per
 * worker.
 *
 * Threads: ember_portal_io_* calls are for the serving thread (the one
 * that made the pool); events are delivered on it too.
 */
#pragma once

#include "portal/codec.h"

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _EmberPortalIo EmberPortalIo;
typedef struct _EmberPortalIoConn EmberPortalIoConn;

typedef enum {
  EMBER_PORTAL_IO_MESSAGE,   /* a text frame: msg parsed, or error set */
  EMBER_PORTAL_IO_BINARY,    /* a binary frame */
  EMBER_PORTAL_IO_TOO_BIG,   /* over the size limit: libsoup closes with 1009 */
  EMBER_PORTAL_IO_CLOSED,    /* the connection is gone; no event follows */
} EmberPortalIoEventKind;

typedef struct {
  EmberPortalIoEventKind kind;
  EmberPortalIoConn *conn;
  EmberPortalMessage msg;    /* MESSAGE without error */
  GError *error;             /* MESSAGE that did not parse (msg.ref may be set) */
  gushort close_code;        /* CLOSED */
  char *close_reason;        /* CLOSED */
} EmberPortalIoEvent;

/* Called on the serving thread for each event, in order per connection. */
typedef void (*EmberPortalIoEventFunc) (gpointer user_data, EmberPortalIoEvent *event);

/* `channel_of` tells the parser which channel a connection speaks (see
 * ember_portal_io_adopt). */
EmberPortalIo *ember_portal_io_new (guint n_threads, guint max_frame_size,
                                    EmberPortalIoEventFunc func, gpointer user_data);
/* Closes every connection that is left (code 1001 "shutdown" after what
 * was queued), stops the threads and drops events not yet delivered. */
void ember_portal_io_free (EmberPortalIo *io);

/* Takes `stream` (stolen from an upgraded request) to a worker, which
 * makes the server side of a WebSocket on it. Returns the serving
 * thread's reference; `user_data` rides along for the caller. */
EmberPortalIoConn *ember_portal_io_adopt (EmberPortalIo *io, GIOStream *stream, GUri *uri,
                                          EmberPortalChannel channel, gpointer user_data);
gpointer ember_portal_io_conn_get_data (EmberPortalIoConn *conn);
void ember_portal_io_conn_set_data (EmberPortalIoConn *conn, gpointer user_data);
/* Queues a text frame (a reference is taken). */
void ember_portal_io_send (EmberPortalIoConn *conn, char *ref_string);
void ember_portal_io_close (EmberPortalIoConn *conn, gushort code, const char *reason);
/* Between hold and flush, sends and closes collect on the serving
 * thread and reach each worker in one batch with one wake-up (a fan-out
 * to every session, the answers to a batch of events). Nests. */
void ember_portal_io_hold (EmberPortalIo *io);
void ember_portal_io_flush (EmberPortalIo *io);
/* Drops the serving thread's reference; events for it are dropped. */
void ember_portal_io_conn_release (EmberPortalIoConn *conn);

G_END_DECLS
