/* ember-portal/io.c — see io.h. */
#include "io.h"

#include <string.h>

typedef enum { OP_ADOPT, OP_SEND, OP_CLOSE } OpKind;

typedef struct {
  OpKind kind;
  EmberPortalIoConn *conn;
  char *text;          /* OP_SEND: a GRefString */
  gushort code;        /* OP_CLOSE */
  char *reason;
  GIOStream *stream;   /* OP_ADOPT */
  GUri *uri;
} Op;

typedef struct {
  EmberPortalIo *io;
  GThread *thread;
  GMainContext *ctx;
  GMainLoop *loop;
  GSource *wake;       /* ready-time source: ops are queued */
  GMutex lock;
  GQueue ops;          /* Op *, under lock */
  gboolean stopping;   /* under lock */
  GHashTable *conns;   /* worker only: the connections it owns (one ref each) */
  GQueue held;         /* serving thread only: ops collected during a hold */
} Worker;

struct _EmberPortalIoConn {
  gint ref;
  Worker *worker;
  EmberPortalChannel channel;
  SoupWebsocketConnection *ws;   /* worker only */
  gpointer user_data;            /* serving thread only */
  gboolean released;             /* serving thread only */
};

struct _EmberPortalIo {
  GMainContext *ctx;   /* the serving thread's */
  EmberPortalIoEventFunc func;
  gpointer user_data;
  guint max_frame;
  Worker *workers;
  guint n_workers, next;
  GSource *wake;       /* ready-time source on ctx: events are queued */
  GMutex lock;
  GQueue events;       /* EmberPortalIoEvent *, under lock */
  gboolean freeing;    /* under lock: events are dropped */
  guint hold;          /* serving thread only: ember_portal_io_hold depth */
};

static EmberPortalIoConn *
conn_ref (EmberPortalIoConn *c)
{
  g_atomic_int_inc (&c->ref);
  return c;
}

static void
conn_unref (EmberPortalIoConn *c)
{
  if (g_atomic_int_dec_and_test (&c->ref))
    {
      g_assert (c->ws == NULL);
      g_free (c);
    }
}

/* A source that fires when another thread sets its ready time to 0. */
static gboolean
wake_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs wake_funcs = { NULL, NULL, wake_dispatch, NULL, NULL, NULL };

static GSource *
wake_source_new (GMainContext *ctx, GSourceFunc func, gpointer data)
{
  GSource *s = g_source_new (&wake_funcs, sizeof (GSource));
  g_source_set_callback (s, func, data, NULL);
  g_source_set_ready_time (s, -1);
  g_source_attach (s, ctx);
  return s;
}

/* ---- events: worker -> serving thread ------------------------------------ */

static void
event_free (EmberPortalIoEvent *ev)
{
  ember_portal_message_clear (&ev->msg);
  g_clear_error (&ev->error);
  g_free (ev->close_reason);
  conn_unref (ev->conn);
  g_free (ev);
}

static void
post_event (EmberPortalIo *io, EmberPortalIoEvent *ev)
{
  g_mutex_lock (&io->lock);
  gboolean drop = io->freeing;
  /* One wake-up per batch: the queue was empty, so no wake is pending. */
  gboolean wake = !drop && g_queue_is_empty (&io->events);
  if (!drop)
    g_queue_push_tail (&io->events, ev);
  g_mutex_unlock (&io->lock);
  if (drop)
    event_free (ev);
  else if (wake)
    g_source_set_ready_time (io->wake, 0);
}

static gboolean
deliver_events (gpointer user_data)
{
  EmberPortalIo *io = user_data;
  GQueue batch = G_QUEUE_INIT;
  g_mutex_lock (&io->lock);
  batch = io->events;
  g_queue_init (&io->events);
  g_mutex_unlock (&io->lock);
  EmberPortalIoEvent *ev;
  /* The answers to this batch leave in one batch per worker. */
  ember_portal_io_hold (io);
  while ((ev = g_queue_pop_head (&batch)) != NULL)
    {
      if (!ev->conn->released)
        io->func (io->user_data, ev);
      event_free (ev);
    }
  ember_portal_io_flush (io);
  return G_SOURCE_CONTINUE;
}

/* ---- the worker's side of a connection ------------------------------------- */

static EmberPortalIoEvent *
event_new (EmberPortalIoEventKind kind, EmberPortalIoConn *c)
{
  EmberPortalIoEvent *ev = g_new0 (EmberPortalIoEvent, 1);
  ev->kind = kind;
  ev->conn = conn_ref (c);
  return ev;
}

static void
on_message (SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer user_data)
{
  (void) ws;
  EmberPortalIoConn *c = user_data;
  EmberPortalIo *io = c->worker->io;
  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    {
      post_event (io, event_new (EMBER_PORTAL_IO_BINARY, c));
      return;
    }
  EmberPortalIoEvent *ev = event_new (EMBER_PORTAL_IO_MESSAGE, c);
  gsize len = 0;
  const char *text = g_bytes_get_data (bytes, &len);
  /* Parsed here, on the worker: the serving thread gets values. */
  ember_portal_message_parse (text, len, c->channel, EMBER_PORTAL_TO_PORTAL, &ev->msg, &ev->error);
  post_event (io, ev);
}

static void
on_error (SoupWebsocketConnection *ws, GError *error, gpointer user_data)
{
  (void) ws;
  EmberPortalIoConn *c = user_data;
  if (g_error_matches (error, SOUP_WEBSOCKET_ERROR, SOUP_WEBSOCKET_CLOSE_TOO_BIG))
    post_event (c->worker->io, event_new (EMBER_PORTAL_IO_TOO_BIG, c));
}

static gboolean
drop_ws (gpointer user_data)
{
  EmberPortalIoConn *c = user_data;
  g_clear_object (&c->ws);
  conn_unref (c); /* the worker's */
  return G_SOURCE_REMOVE;
}

static void
on_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  EmberPortalIoConn *c = user_data;
  Worker *w = c->worker;
  EmberPortalIoEvent *ev = event_new (EMBER_PORTAL_IO_CLOSED, c);
  ev->close_code = soup_websocket_connection_get_close_code (ws);
  ev->close_reason = g_strdup (soup_websocket_connection_get_close_data (ws));
  post_event (w->io, ev);
  g_signal_handlers_disconnect_by_data (ws, c);
  /* The worker's reference moves to drop_ws: the connection is still
   * inside its own signal emission. */
  g_hash_table_steal (w->conns, c);
  GSource *s = g_idle_source_new ();
  g_source_set_callback (s, drop_ws, c, NULL);
  g_source_attach (s, w->ctx);
  g_source_unref (s);
}

static void
op_free (Op *op)
{
  if (op->text != NULL)
    g_ref_string_release (op->text);
  g_free (op->reason);
  g_clear_object (&op->stream);
  g_clear_pointer (&op->uri, g_uri_unref);
  conn_unref (op->conn);
  g_free (op);
}

static void
run_op (Worker *w, Op *op)
{
  EmberPortalIoConn *c = op->conn;
  switch (op->kind)
    {
    case OP_ADOPT:
      c->ws = soup_websocket_connection_new (op->stream, op->uri, SOUP_WEBSOCKET_CONNECTION_SERVER,
                                             NULL, NULL, NULL);
      soup_websocket_connection_set_max_incoming_payload_size (c->ws, w->io->max_frame);
      soup_websocket_connection_set_keepalive_interval (c->ws, 0);
      g_signal_connect (c->ws, "message", G_CALLBACK (on_message), c);
      g_signal_connect (c->ws, "error", G_CALLBACK (on_error), c);
      g_signal_connect (c->ws, "closed", G_CALLBACK (on_closed), c);
      g_hash_table_add (w->conns, conn_ref (c));
      break;
    case OP_SEND:
      if (c->ws != NULL && soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_send_text (c->ws, op->text);
      break;
    case OP_CLOSE:
      if (c->ws != NULL && soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (c->ws, op->code, op->reason);
      break;
    }
}

static gboolean
run_ops (gpointer user_data)
{
  Worker *w = user_data;
  GQueue batch = G_QUEUE_INIT;
  g_mutex_lock (&w->lock);
  batch = w->ops;
  g_queue_init (&w->ops);
  gboolean stopping = w->stopping;
  g_mutex_unlock (&w->lock);
  Op *op;
  while ((op = g_queue_pop_head (&batch)) != NULL)
    {
      run_op (w, op);
      op_free (op);
    }
  if (stopping)
    g_main_loop_quit (w->loop);
  return G_SOURCE_CONTINUE;
}

static gpointer
worker_main (gpointer user_data)
{
  Worker *w = user_data;
  g_main_context_push_thread_default (w->ctx);
  g_main_loop_run (w->loop);
  /* Stopping: say goodbye to whoever is left, give the frames a moment
   * to leave, then drop the sockets. */
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, w->conns);
  while (g_hash_table_iter_next (&it, &key, NULL))
    {
      EmberPortalIoConn *c = key;
      if (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (c->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "shutdown");
    }
  gint64 until = g_get_monotonic_time () + 100 * 1000;
  while (g_get_monotonic_time () < until && g_hash_table_size (w->conns) > 0)
    if (!g_main_context_iteration (w->ctx, FALSE))
      g_usleep (1000);
  g_hash_table_iter_init (&it, w->conns);
  while (g_hash_table_iter_next (&it, &key, NULL))
    {
      EmberPortalIoConn *c = key;
      g_signal_handlers_disconnect_by_data (c->ws, c);
      g_clear_object (&c->ws);
      g_hash_table_iter_remove (&it);
    }
  /* drop_ws callbacks still queued */
  while (g_main_context_iteration (w->ctx, FALSE))
    ;
  g_main_context_pop_thread_default (w->ctx);
  return NULL;
}

static void
queue_op (Worker *w, Op *op)
{
  if (w->io->hold > 0)
    {
      g_queue_push_tail (&w->held, op);
      return;
    }
  g_mutex_lock (&w->lock);
  gboolean wake = g_queue_is_empty (&w->ops);
  g_queue_push_tail (&w->ops, op);
  g_mutex_unlock (&w->lock);
  if (wake)
    g_source_set_ready_time (w->wake, 0);
}

/* ---- the serving thread's side ---------------------------------------------- */

EmberPortalIo *
ember_portal_io_new (guint n_threads, guint max_frame_size, EmberPortalIoEventFunc func,
                     gpointer user_data)
{
  EmberPortalIo *io = g_new0 (EmberPortalIo, 1);
  io->ctx = g_main_context_ref_thread_default ();
  io->func = func;
  io->user_data = user_data;
  io->max_frame = max_frame_size;
  g_mutex_init (&io->lock);
  g_queue_init (&io->events);
  io->wake = wake_source_new (io->ctx, deliver_events, io);
  io->n_workers = MAX (n_threads, 1);
  io->workers = g_new0 (Worker, io->n_workers);
  for (guint i = 0; i < io->n_workers; i++)
    {
      Worker *w = &io->workers[i];
      w->io = io;
      w->ctx = g_main_context_new ();
      w->loop = g_main_loop_new (w->ctx, FALSE);
      g_mutex_init (&w->lock);
      g_queue_init (&w->ops);
      w->conns = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) conn_unref, NULL);
      g_queue_init (&w->held);
      w->wake = wake_source_new (w->ctx, run_ops, w);
      g_autofree char *name = g_strdup_printf ("portal-io-%u", i);
      w->thread = g_thread_new (name, worker_main, w);
    }
  return io;
}

void
ember_portal_io_free (EmberPortalIo *io)
{
  if (io == NULL)
    return;
  g_mutex_lock (&io->lock);
  io->freeing = TRUE;
  g_mutex_unlock (&io->lock);
  for (guint i = 0; i < io->n_workers; i++)
    {
      Worker *w = &io->workers[i];
      g_mutex_lock (&w->lock);
      w->stopping = TRUE;
      g_mutex_unlock (&w->lock);
      g_source_set_ready_time (w->wake, 0);
    }
  for (guint i = 0; i < io->n_workers; i++)
    {
      Worker *w = &io->workers[i];
      g_thread_join (w->thread);
      g_queue_clear_full (&w->ops, (GDestroyNotify) op_free);
      g_queue_clear_full (&w->held, (GDestroyNotify) op_free);
      g_source_destroy (w->wake);
      g_source_unref (w->wake);
      g_hash_table_unref (w->conns);
      g_main_loop_unref (w->loop);
      g_main_context_unref (w->ctx);
      g_mutex_clear (&w->lock);
    }
  g_queue_clear_full (&io->events, (GDestroyNotify) event_free);
  g_source_destroy (io->wake);
  g_source_unref (io->wake);
  g_main_context_unref (io->ctx);
  g_mutex_clear (&io->lock);
  g_free (io->workers);
  g_free (io);
}

EmberPortalIoConn *
ember_portal_io_adopt (EmberPortalIo *io, GIOStream *stream, GUri *uri,
                       EmberPortalChannel channel, gpointer user_data)
{
  EmberPortalIoConn *c = g_new0 (EmberPortalIoConn, 1);
  c->ref = 1; /* the serving thread's */
  c->channel = channel;
  c->user_data = user_data;
  c->worker = &io->workers[io->next++ % io->n_workers];
  Op *op = g_new0 (Op, 1);
  op->kind = OP_ADOPT;
  op->conn = conn_ref (c);
  op->stream = g_object_ref (stream);
  op->uri = g_uri_ref (uri);
  queue_op (c->worker, op);
  return c;
}

gpointer
ember_portal_io_conn_get_data (EmberPortalIoConn *c)
{
  return c->user_data;
}

void
ember_portal_io_conn_set_data (EmberPortalIoConn *c, gpointer user_data)
{
  c->user_data = user_data;
}

void
ember_portal_io_send (EmberPortalIoConn *c, char *ref_string)
{
  if (c->released)
    return;
  Op *op = g_new0 (Op, 1);
  op->kind = OP_SEND;
  op->conn = conn_ref (c);
  op->text = g_ref_string_acquire (ref_string);
  queue_op (c->worker, op);
}

void
ember_portal_io_close (EmberPortalIoConn *c, gushort code, const char *reason)
{
  if (c->released)
    return;
  Op *op = g_new0 (Op, 1);
  op->kind = OP_CLOSE;
  op->conn = conn_ref (c);
  op->code = code;
  op->reason = g_strdup (reason);
  queue_op (c->worker, op);
}

void
ember_portal_io_hold (EmberPortalIo *io)
{
  io->hold++;
}

void
ember_portal_io_flush (EmberPortalIo *io)
{
  g_return_if_fail (io->hold > 0);
  if (--io->hold > 0)
    return;
  for (guint i = 0; i < io->n_workers; i++)
    {
      Worker *w = &io->workers[i];
      if (g_queue_is_empty (&w->held))
        continue;
      g_mutex_lock (&w->lock);
      gboolean wake = g_queue_is_empty (&w->ops);
      /* Append the whole batch: O(1) with the GQueue's tail. */
      if (w->ops.tail != NULL)
        {
          w->ops.tail->next = w->held.head;
          w->held.head->prev = w->ops.tail;
          w->ops.tail = w->held.tail;
          w->ops.length += w->held.length;
        }
      else
        w->ops = w->held;
      g_queue_init (&w->held);
      g_mutex_unlock (&w->lock);
      if (wake)
        g_source_set_ready_time (w->wake, 0);
    }
}

void
ember_portal_io_conn_release (EmberPortalIoConn *c)
{
  c->released = TRUE;
  c->user_data = NULL;
  conn_unref (c);
}
