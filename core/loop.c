/* loop — batches from every backend each tick, flush first (seed 001, 003). */
#define G_LOG_DOMAIN "ember-loop"

#include "loop.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>


typedef struct {
  EmberWaker waker; /* what the plugin sees */
  EmberLoop *loop;
  gint fired;       /* atomic */
} LoopWaker;

struct _EmberLoopBackend {
  EmberLoop *loop;
  char *label;
  const EmberBackendVtable *vt;
  EmberBackend *backend;
  gsize capacity;
  EmberBatchFunc on_batch;
  gpointer user_data;
  LoopWaker recv_waker;
  LoopWaker send_waker;

  EmberPacket batch[EMBER_BATCH_MAX];
  guint8 *recv_buf;

  /* Sends held while the backend applies backpressure: a ring of
   * preallocated slots, so queuing allocates nothing. */
  guint8 *send_buf;
  EmberPacket *send_slots;
  guint send_len;
  guint send_head;
  guint send_count;

  gboolean blocked;
  gboolean failed;

  /* ember_loop_backend_notify_room() */
  guint room_wanted;
  EmberRoomFunc room_func;
  gpointer room_data;

  EmberPolledFunc polled_func;
  gpointer polled_data;
};

struct _EmberTimer {
  GSource source;
  EmberLoop *loop;
  EmberTimerFunc func;
  gpointer user_data;
};

struct _EmberLoop {
  GMainContext *context;
  GSource *source;
  int efd;
  GPtrArray *backends;
  EmberErrorList errors;
  EmberLoopStats stats;
};

/* ---- Error list ---------------------------------------------------------- */

void
ember_error_list_add (EmberErrorList *list, const char *format, ...)
{
  va_list ap;

  list->count++;
  if (list->kept >= EMBER_ERROR_LIST_KEEP)
    return;
  va_start (ap, format);
  list->messages[list->kept++] = g_strdup_vprintf (format, ap);
  va_end (ap);
}

void
ember_error_list_clear (EmberErrorList *list)
{
  for (guint i = 0; i < list->kept; i++)
    g_clear_pointer (&list->messages[i], g_free);
  list->kept = 0;
  list->count = 0;
}

static void
log_errors (EmberLoop *loop)
{
  EmberErrorList *list = &loop->errors;
  g_autoptr (GString) text = NULL;

  if (list->count == 0)
    return;
  text = g_string_new (NULL);
  for (guint i = 0; i < list->kept; i++)
    g_string_append_printf (text, "%s%s", i > 0 ? "; " : "", list->messages[i]);
  if (list->count > list->kept)
    g_string_append_printf (text, "; and %u more", list->count - list->kept);
  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "MESSAGE",
                    "%u packet error(s) this tick: %s", list->count, text->str);
  loop->stats.errors += list->count;
  loop->stats.error_logs++;
  ember_error_list_clear (list);
}

/* ---- Wakers -------------------------------------------------------------- */

static void
loop_signal (EmberLoop *loop)
{
  guint64 one = 1;
  /* EAGAIN means the counter is already non-zero: the loop will wake. */
  while (write (loop->efd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

static void
loop_waker_wake (EmberWaker *waker)
{
  LoopWaker *lw = (LoopWaker *) waker;
  g_atomic_int_set (&lw->fired, 1);
  loop_signal (lw->loop);
}

static void
loop_waker_init (LoopWaker *lw, EmberLoop *loop, gboolean fired)
{
  lw->waker.wake = loop_waker_wake;
  lw->loop = loop;
  lw->fired = fired;
}

/* ---- Backend calls: the one place that talks to a vtable ------------------ */

static gint
backend_recv (EmberLoopBackend *lb, guint max, GError **error)
{
  for (guint i = 0; i < max; i++)
    {
      EmberPacket *p = &lb->batch[i];
      memset (p, 0, sizeof *p);
      p->data = lb->recv_buf + (gsize) i * lb->capacity;
      p->capacity = lb->capacity;
    }
  gint n = lb->vt->poll_recv_many (lb->backend, &lb->recv_waker.waker, lb->batch, max, error);
  if (n > (gint) max)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "%s: poll_recv_many returned %d packets for %u slots", lb->label, n, max);
      return -1;
    }
  if (n < 0 && error != NULL && *error == NULL)
    g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                 "%s: poll_recv_many failed without a reason", lb->label);
  return n;
}

static EmberPoll
backend_send_ready (EmberLoopBackend *lb, GError **error)
{
  EmberPoll r = lb->vt->poll_send_ready (lb->backend, &lb->send_waker.waker, error);
  if (r == EMBER_POLL_ERROR && error != NULL && *error == NULL)
    g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                 "%s: poll_send_ready failed without a reason", lb->label);
  return r;
}

/* ---- Flush --------------------------------------------------------------- */

static void
backend_fail (EmberLoopBackend *lb, GError *error)
{
  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "MESSAGE",
                    "backend %s failed, no longer polled: %s", lb->label, error->message);
  g_error_free (error);
  lb->failed = TRUE;
}

static void
notify_room (EmberLoopBackend *lb)
{
  EmberRoomFunc func = lb->room_func;

  if (func == NULL || lb->send_len - lb->send_count < lb->room_wanted)
    return;
  lb->room_func = NULL;
  func (lb, lb->room_data);
}

static void flush_queue (EmberLoopBackend *lb);

static void
flush_backend (EmberLoopBackend *lb)
{
  flush_queue (lb);
  notify_room (lb);
}

static void
flush_queue (EmberLoopBackend *lb)
{
  lb->blocked = FALSE;
  while (lb->send_count > 0 && !lb->failed)
    {
      GError *error = NULL;
      EmberPacket *p = &lb->send_slots[lb->send_head];

      switch (backend_send_ready (lb, &error))
        {
        case EMBER_POLL_PENDING:
          lb->blocked = TRUE;
          return;
        case EMBER_POLL_ERROR:
          backend_fail (lb, error);
          return;
        case EMBER_POLL_READY:
          break;
        }
      if (!lb->vt->send (lb->backend, p, &error))
        {
          /* A refused packet (too large, no route) is that packet's error;
           * the backend and the rest of the queue go on. */
          ember_error_list_add (&lb->loop->errors, "%s: send: %s", lb->label,
                                error != NULL ? error->message : "refused");
          g_clear_error (&error);
        }
      else
        lb->loop->stats.packets_out++;
      lb->send_head = (lb->send_head + 1) % lb->send_len;
      lb->send_count--;
    }
}

static gboolean
flush_all (EmberLoop *loop)
{
  gboolean blocked = FALSE;

  for (guint i = 0; i < loop->backends->len; i++)
    {
      EmberLoopBackend *lb = g_ptr_array_index (loop->backends, i);
      flush_backend (lb);
      blocked |= lb->blocked;
    }
  return blocked;
}

/* ---- Tick ---------------------------------------------------------------- */

void
ember_loop_tick (EmberLoop *loop)
{
  gboolean more = FALSE;

  loop->stats.ticks++;

  /* Flush first: what sits in a queue is finished work (seed 001). A
   * backend that cannot take it suspends reading until it can (seed 003):
   * reading more now would only grow the queue or drop. */
  if (flush_all (loop))
    {
      loop->stats.blocked_ticks++;
      log_errors (loop);
      return;
    }

  /* One batch from every ready source, so none starves the others. */
  for (guint i = 0; i < loop->backends->len; i++)
    {
      EmberLoopBackend *lb = g_ptr_array_index (loop->backends, i);
      GError *error = NULL;
      gint n;

      if (lb->failed || !g_atomic_int_compare_and_exchange (&lb->recv_waker.fired, 1, 0))
        continue;
      n = backend_recv (lb, EMBER_BATCH_MAX, &error);
      if (n < 0)
        {
          backend_fail (lb, error);
          continue;
        }
      if (n == 0)
        {
          if (lb->polled_func != NULL)
            lb->polled_func (lb, lb->polled_data);
          continue; /* pending: the plugin holds the waker */
        }

      for (gint j = 0; j < n; j++)
        if (lb->batch[j].error != 0)
          ember_error_list_add (&loop->errors, "%s: packet %d of %d: %s", lb->label, j, n,
                                g_strerror (lb->batch[j].error));
      loop->stats.batches++;
      loop->stats.packets_in += (guint64) n;
      lb->on_batch (lb, lb->batch, (guint) n, &loop->errors, lb->user_data);
      if (lb->polled_func != NULL)
        lb->polled_func (lb, lb->polled_data);

      /* A plugin registers the waker only when it returns "pending", so
       * a source that gave packets is polled again next tick, after the
       * other sources had their turn, until it says pending. */
      g_atomic_int_set (&lb->recv_waker.fired, 1);
      more = TRUE;
    }

  flush_all (loop);
  log_errors (loop);
  if (more)
    g_source_set_ready_time (loop->source, 0);
}

typedef struct {
  GSource source;
  EmberLoop *loop;
} TickSource;

static gboolean
tick_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  EmberLoop *loop = ((TickSource *) source)->loop;
  guint64 value;

  (void) callback;
  (void) user_data;
  g_source_set_ready_time (source, -1);
  while (read (loop->efd, &value, sizeof value) < 0 && errno == EINTR)
    ;
  ember_loop_tick (loop);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs tick_funcs = {
  .dispatch = tick_dispatch,
};

EmberLoop *
ember_loop_new (GMainContext *context)
{
  EmberLoop *loop = g_new0 (EmberLoop, 1);
  TickSource *ts;

  loop->context = context != NULL ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
  loop->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->efd < 0)
    g_error ("eventfd: %s", g_strerror (errno));
  loop->backends = g_ptr_array_new ();

  ts = (TickSource *) g_source_new (&tick_funcs, sizeof (TickSource));
  ts->loop = loop;
  loop->source = &ts->source;
  g_source_set_name (loop->source, "ember-loop-tick");
  g_source_add_unix_fd (loop->source, loop->efd, G_IO_IN);
  g_source_attach (loop->source, loop->context);
  return loop;
}

void
ember_loop_free (EmberLoop *loop)
{
  if (loop == NULL)
    return;
  while (loop->backends->len > 0)
    ember_loop_remove_backend (loop, g_ptr_array_index (loop->backends, 0));
  g_ptr_array_unref (loop->backends);
  ember_error_list_clear (&loop->errors);
  g_source_destroy (loop->source);
  g_source_unref (loop->source);
  close (loop->efd);
  g_main_context_unref (loop->context);
  g_free (loop);
}

EmberLoopBackend *
ember_loop_add_backend (EmberLoop *loop, const char *label, const EmberBackendVtable *vtable,
                        EmberBackend *backend, gsize packet_capacity, guint send_queue_len,
                        EmberBatchFunc on_batch, gpointer user_data)
{
  EmberLoopBackend *lb;

  g_return_val_if_fail (vtable != NULL && backend != NULL && on_batch != NULL, NULL);
  g_return_val_if_fail (packet_capacity > 0 && send_queue_len > 0, NULL);

  lb = g_new0 (EmberLoopBackend, 1);
  lb->loop = loop;
  lb->label = g_strdup (label);
  lb->vt = vtable;
  lb->backend = backend;
  lb->capacity = packet_capacity;
  lb->on_batch = on_batch;
  lb->user_data = user_data;
  /* The first tick polls every backend once; after that the wakers say. */
  loop_waker_init (&lb->recv_waker, loop, 1);
  loop_waker_init (&lb->send_waker, loop, 0);
  lb->recv_buf = g_malloc (packet_capacity * EMBER_BATCH_MAX);
  lb->send_len = send_queue_len;
  lb->send_buf = g_malloc (packet_capacity * send_queue_len);
  lb->send_slots = g_new0 (EmberPacket, send_queue_len);
  for (guint i = 0; i < send_queue_len; i++)
    {
      lb->send_slots[i].data = lb->send_buf + (gsize) i * packet_capacity;
      lb->send_slots[i].capacity = packet_capacity;
    }
  g_ptr_array_add (loop->backends, lb);
  g_source_set_ready_time (loop->source, 0);
  return lb;
}

void
ember_loop_remove_backend (EmberLoop *loop, EmberLoopBackend *lb)
{
  g_ptr_array_remove (loop->backends, lb);
  g_free (lb->label);
  g_free (lb->recv_buf);
  g_free (lb->send_buf);
  g_free (lb->send_slots);
  g_free (lb);
}

const char *
ember_loop_backend_label (const EmberLoopBackend *lb)
{
  return lb->label;
}

gboolean
ember_loop_send (EmberLoopBackend *lb, const guint8 *data, gsize len, const EmberAddr *remote,
                 guint16 segment_size)
{
  return ember_loop_send_from (lb, data, len, NULL, remote, segment_size);
}

void
ember_loop_backend_set_polled (EmberLoopBackend *lb, EmberPolledFunc func, gpointer user_data)
{
  lb->polled_func = func;
  lb->polled_data = user_data;
}

gboolean
ember_loop_send_from (EmberLoopBackend *lb, const guint8 *data, gsize len, const EmberAddr *local,
                      const EmberAddr *remote, guint16 segment_size)
{
  EmberPacket *p;

  if (lb->send_count == lb->send_len || len > lb->capacity)
    {
      lb->loop->stats.send_drops++;
      return FALSE;
    }
  p = &lb->send_slots[(lb->send_head + lb->send_count) % lb->send_len];
  memcpy (p->data, data, len);
  p->len = len;
  p->segment_size = segment_size;
  p->error = 0;
  if (remote != NULL)
    p->remote = *remote;
  else
    memset (&p->remote, 0, sizeof p->remote);
  if (local != NULL)
    p->local = *local;
  else
    memset (&p->local, 0, sizeof p->local);
  lb->send_count++;
  g_source_set_ready_time (lb->loop->source, 0);
  return TRUE;
}

guint
ember_loop_backend_queued (const EmberLoopBackend *lb)
{
  return lb->send_count;
}

gboolean
ember_loop_backend_notify_room (EmberLoopBackend *lb, guint room, EmberRoomFunc func,
                                gpointer user_data)
{
  g_return_val_if_fail (func != NULL && room <= lb->send_len, FALSE);

  if (lb->send_len - lb->send_count >= room)
    return FALSE;
  lb->room_wanted = room;
  lb->room_func = func;
  lb->room_data = user_data;
  return TRUE;
}

void
ember_loop_get_stats (const EmberLoop *loop, EmberLoopStats *stats)
{
  *stats = loop->stats;
}

/* ---- Timers -------------------------------------------------------------- */

static gboolean
timer_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  EmberTimer *t = (EmberTimer *) source;

  (void) callback;
  (void) user_data;
  g_source_set_ready_time (source, -1);
  t->func (t, g_source_get_time (source), t->user_data);
  /* What the state machine queued goes out now, not at the next read. */
  flush_all (t->loop);
  log_errors (t->loop);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
  .dispatch = timer_dispatch,
};

EmberTimer *
ember_loop_timer_new (EmberLoop *loop, EmberTimerFunc func, gpointer user_data)
{
  EmberTimer *t = (EmberTimer *) g_source_new (&timer_funcs, sizeof (EmberTimer));

  t->loop = loop;
  t->func = func;
  t->user_data = user_data;
  g_source_set_name (&t->source, "ember-timer");
  g_source_set_ready_time (&t->source, -1);
  g_source_attach (&t->source, loop->context);
  return t;
}

void
ember_timer_set_deadline (EmberTimer *timer, gint64 deadline_us)
{
  g_source_set_ready_time (&timer->source, deadline_us < 0 ? -1 : deadline_us);
}

gint64
ember_timer_get_deadline (const EmberTimer *timer)
{
  return g_source_get_ready_time ((GSource *) &timer->source);
}

void
ember_timer_free (EmberTimer *timer)
{
  if (timer == NULL)
    return;
  g_source_destroy (&timer->source);
  g_source_unref (&timer->source);
}
