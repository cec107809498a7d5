/* loop — the event loop driver on a GLib main context.
 *
 * Each tick (seed 001):
 *   1. flush: packets queued for each backend are sent first, while the
 *      backend says it is ready; a backend that is not ready keeps its
 *      queue and suspends reading until it drains (seed 003);
 *   2. read: every backend whose waker fired, or that gave packets last
 *      tick, gets one poll_recv_many() of up to EMBER_BATCH_MAX packets,
 *      and the whole batch goes to its handler, so no source starves the
 *      others; a backend is polled until it returns "pending" (which is
 *      when it registers the waker);
 *   3. flush again what the handlers queued;
 *   4. per-packet errors collected during the tick are logged once.
 * Timers ("wake me at T", T on the g_get_monotonic_time() clock) serve the
 * sans-IO state machines.
 *
 * Everything here runs on the thread that runs the GMainContext; only the
 * wakers handed to plugins are called from other threads.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"

G_BEGIN_DECLS

typedef struct _EmberLoop EmberLoop;
typedef struct _EmberLoopBackend EmberLoopBackend;
typedef struct _EmberTimer EmberTimer;

/* Per-tick error collector: keeps the first EMBER_ERROR_LIST_KEEP
 * messages and counts the rest. */
#define EMBER_ERROR_LIST_KEEP 16
typedef struct {
  guint count;
  guint kept;
  char *messages[EMBER_ERROR_LIST_KEEP];
} EmberErrorList;

void ember_error_list_add (EmberErrorList *list, const char *format, ...) G_GNUC_PRINTF (2, 3);
void ember_error_list_clear (EmberErrorList *list);

/* Called with each received batch. `batch[i].error` may be set for slots
 * the backend could not fill; the loop has already recorded those. The
 * handler adds its own per-packet errors to `errors` and goes on. */
typedef void (*EmberBatchFunc) (EmberLoopBackend *from, EmberPacket *batch, guint n,
                                EmberErrorList *errors, gpointer user_data);
typedef void (*EmberTimerFunc) (EmberTimer *timer, gint64 now, gpointer user_data);

EmberLoop *ember_loop_new (GMainContext *context);
void ember_loop_free (EmberLoop *loop);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberLoop, ember_loop_free)

/* Attaches an opened backend. The loop owns neither vtable nor backend;
 * the caller closes the backend *before* ember_loop_remove_backend(),
 * because the wakers the plugin holds live in the loop's backend and its
 * threads may fire them until close() returns.
 * `packet_capacity` is the buffer size of each receive slot and of each
 * queued send; `send_queue_len` bounds how many sends the loop holds while
 * the backend applies backpressure. */
EmberLoopBackend *ember_loop_add_backend (EmberLoop *loop, const char *label,
                                          const EmberBackendVtable *vtable,
                                          EmberBackend *backend,
                                          gsize packet_capacity, guint send_queue_len,
                                          EmberBatchFunc on_batch, gpointer user_data);
void ember_loop_remove_backend (EmberLoop *loop, EmberLoopBackend *lb);
const char *ember_loop_backend_label (const EmberLoopBackend *lb);

/* Queues one packet for the backend (copied). Returns FALSE when the
 * queue is full, which the caller counts as a drop: it happens only when
 * the backend has applied backpressure for longer than the queue lasts. */
gboolean ember_loop_send (EmberLoopBackend *lb, const guint8 *data, gsize len,
                          const EmberAddr *remote, guint16 segment_size);
/* The same with the packet's local address: a transport that owns
 * several (turn.so picks the allocation by it) reads `local`. */
gboolean ember_loop_send_from (EmberLoopBackend *lb, const guint8 *data, gsize len,
                               const EmberAddr *local, const EmberAddr *remote,
                               guint16 segment_size);
guint ember_loop_backend_queued (const EmberLoopBackend *lb);

/* Called after every poll_recv_many() of the backend, whatever it
 * returned (after the batch handler when there was a batch): a
 * transport with events of its own (ember-plugin-relay.h) is drained
 * there, also on wake-ups that bring no datagram. */
typedef void (*EmberPolledFunc) (EmberLoopBackend *lb, gpointer user_data);
void ember_loop_backend_set_polled (EmberLoopBackend *lb, EmberPolledFunc func,
                                    gpointer user_data);

/* Asks to be told once the backend's send queue has at least `room` free
 * slots, so a producer that paused (instead of dropping) resumes as soon
 * as a flush makes room, not on a polling timer. Returns FALSE, and
 * registers nothing, when the room is there already. One-shot; a new
 * call replaces the previous request. */
typedef void (*EmberRoomFunc) (EmberLoopBackend *lb, gpointer user_data);
gboolean ember_loop_backend_notify_room (EmberLoopBackend *lb, guint room, EmberRoomFunc func,
                                         gpointer user_data);

/* Runs one tick now (also what the GSource dispatch does). */
void ember_loop_tick (EmberLoop *loop);

typedef struct {
  guint64 ticks;
  guint64 batches;
  guint64 packets_in;
  guint64 packets_out;
  guint64 errors;
  guint64 error_logs;     /* log lines written for errors (one per tick) */
  guint64 send_drops;     /* ember_loop_send() refusals */
  guint64 blocked_ticks;  /* ticks that skipped reading due to backpressure */
} EmberLoopStats;
void ember_loop_get_stats (const EmberLoop *loop, EmberLoopStats *stats);

/* Timers. Deadline -1 disarms. The callback runs on the loop's context;
 * packets it queues are flushed right after it returns. */
EmberTimer *ember_loop_timer_new (EmberLoop *loop, EmberTimerFunc func, gpointer user_data);
void ember_timer_set_deadline (EmberTimer *timer, gint64 deadline_us);
gint64 ember_timer_get_deadline (const EmberTimer *timer);
void ember_timer_free (EmberTimer *timer);

G_END_DECLS
