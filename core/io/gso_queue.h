/* gso_queue — the UDP send queue that builds GSO batches (seed 002).
 *
 * Datagrams queued for the same destination with the same length are
 * appended to one buffer, so the socket layer can hand each buffer to the
 * kernel in a single sendmsg() with UDP_SEGMENT. Batches are handed out
 * ordered by (segment size, destination) ascending: small control
 * datagrams (STUN, TURN) leave before bulk WireGuard data even when the
 * bulk was queued first.
 *
 * Pure logic: no sockets, no clock. It owns a fixed pool of batch buffers
 * (allocated once, on first use, then recycled) and a sorted array of
 * keys, so nothing is allocated per datagram in steady state. When every
 * buffer is taken, push() refuses: the caller flushes and, if the socket
 * is not writable, waits for writability (seed 003) instead of dropping.
 *
 * Not thread-safe: one thread (the socket's owner) calls everything.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"

G_BEGIN_DECLS

/* The kernel refuses more segments than this in one UDP_SEGMENT send. */
#define EMBER_GSO_MAX_SEGMENTS 64
/* A GSO send is one IP datagram before segmentation: 65535 minus the
 * IPv4 and UDP headers bounds the payload of the whole batch. */
#define EMBER_GSO_MAX_BYTES (65535 - 20 - 8)

typedef struct _EmberGsoQueue EmberGsoQueue;

typedef enum {
  EMBER_GSO_PUSH_QUEUED = 0,
  EMBER_GSO_PUSH_FULL,     /* no buffer free: flush first */
  EMBER_GSO_PUSH_INVALID,  /* empty or larger than EMBER_GSO_MAX_BYTES */
} EmberGsoPush;

/* One batch as handed out by peek: `n_segments` datagrams of
 * `segment_size` bytes each, back to back at `data` (`len` bytes). The
 * pointer stays valid until the batch is consumed or the queue freed. */
typedef struct {
  EmberAddr dst;
  guint16 segment_size;
  guint n_segments;
  const guint8 *data;
  gsize len;
} EmberGsoBatch;

/* `n_buffers` bounds how many batches may be pending at once; each buffer
 * holds EMBER_GSO_MAX_BYTES. */
EmberGsoQueue *ember_gso_queue_new (guint n_buffers);
void ember_gso_queue_free (EmberGsoQueue *queue);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberGsoQueue, ember_gso_queue_free)

/* Copies one datagram into the queue. */
EmberGsoPush ember_gso_queue_push (EmberGsoQueue *queue, const EmberAddr *dst,
                                   const guint8 *data, gsize len);

/* Fills up to `max` batches in flush order and returns how many. */
guint ember_gso_queue_peek (EmberGsoQueue *queue, EmberGsoBatch *out, guint max);

/* Removes the first `n_segments` datagrams in flush order (whole batches
 * and, for the last one touched, a prefix of it). */
void ember_gso_queue_consume (EmberGsoQueue *queue, guint n_segments);

/* Drops the whole first batch (e.g. its destination is unreachable).
 * Returns how many datagrams were dropped. */
guint ember_gso_queue_drop_head (EmberGsoQueue *queue);

gboolean ember_gso_queue_is_empty (const EmberGsoQueue *queue);
guint ember_gso_queue_n_batches (const EmberGsoQueue *queue);
guint ember_gso_queue_n_datagrams (const EmberGsoQueue *queue);

/* Orders two destinations the way the queue does (family, address, port,
 * scope); exposed for tests and for callers that key on EmberAddr. */
gint ember_gso_addr_compare (const EmberAddr *a, const EmberAddr *b);

G_END_DECLS
