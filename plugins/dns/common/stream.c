/* plugins/dns/common/stream — DNS over TCP and TLS with connection reuse.
 * See stream.h.
 *
 * A slot's owner is the Conn it was written to, or the DnsStream while it
 * waits to be written. Every asynchronous GIO call holds a reference on
 * its Conn and checks `dead` first: a connection that was closed (idle,
 * error, free) may still see its callbacks run once, cancelled.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#include "stream.h"

/* Written on one connection at most this often before the query fails. */
#define STREAM_TRIES 2

typedef struct {
  DnsStream *st;        /* NULL once dead */
  GIOStream *io;
  GCancellable *cancel;
  gboolean open, writing, dead;
  guint8 wbuf[2 + EMBER_DNS_QUERY_MAX];
  guint8 lenbuf[2];
  guint8 rbuf[EMBER_DNS_ANSWER_MAX];
} Conn;

struct _DnsStream {
  DnsShell *sh;
  guint upstream;
  gboolean tls;
  GTlsDatabase *database;
  Conn *conn;
  GQueue waiting;       /* slot indices (GUINT_TO_POINTER), not yet written */
  GSource *idle;
};

static void conn_read_len (Conn *c);
static void conn_write_next (Conn *c);
static void stream_kill (DnsStream *st, gint error);

static Conn *
conn_ref (Conn *c)
{
  return g_rc_box_acquire (c);
}

static void
conn_clear (gpointer data)
{
  Conn *c = data;
  g_clear_object (&c->io);
  g_clear_object (&c->cancel);
}

static void
conn_unref (Conn *c)
{
  g_rc_box_release_full (c, conn_clear);
}

static gboolean
conn_has_slots (DnsStream *st)
{
  for (guint i = 0; i < DNS_SLOTS; i++)
    if (st->sh->slots[i].busy && st->sh->slots[i].owner == st->conn)
      return TRUE;
  return FALSE;
}

static gboolean
idle_fired (gpointer data)
{
  DnsStream *st = data;
  g_clear_pointer (&st->idle, g_source_unref);
  if (st->conn != NULL && !conn_has_slots (st) && g_queue_is_empty (&st->waiting))
    stream_kill (st, 0);
  return G_SOURCE_REMOVE;
}

static void
idle_arm (DnsStream *st)
{
  if (st->idle != NULL)
    {
      g_source_destroy (st->idle);
      g_clear_pointer (&st->idle, g_source_unref);
    }
  if (st->conn == NULL || conn_has_slots (st) || !g_queue_is_empty (&st->waiting))
    return;
  st->idle = g_timeout_source_new (MAX (st->sh->config.idle_ms, 1));
  g_source_set_callback (st->idle, idle_fired, st, NULL);
  g_source_attach (st->idle, g_main_context_get_thread_default ());
}

static void
closed_cb (GObject *obj, GAsyncResult *res, gpointer data)
{
  g_io_stream_close_finish (G_IO_STREAM (obj), res, NULL);
  conn_unref (data);
}

/* Ends the connection. Its written slots go back to the front of the
 * queue while they have tries left, else fail with `error` (0: the
 * connection was idle). Then reconnects if anything waits. */
static void
stream_kill (DnsStream *st, gint error)
{
  Conn *c = st->conn;
  if (c == NULL)
    return;
  st->conn = NULL;
  c->dead = TRUE;
  c->st = NULL;
  g_cancellable_cancel (c->cancel);
  if (c->io != NULL && c->open)
    {
      /* TLS: close_notify; TCP: FIN. Best effort, not waited for. */
      g_io_stream_close_async (c->io, G_PRIORITY_DEFAULT, NULL, closed_cb, conn_ref (c));
    }
  DnsShell *sh = st->sh;
  for (guint i = 0; i < DNS_SLOTS; i++)
    {
      DnsSlot *s = &sh->slots[i];
      if (!s->busy || s->owner != c)
        continue;
      if (error == 0 || s->tries >= STREAM_TRIES || !c->open)
        dns_shell_complete (sh, i, NULL, 0, error != 0 ? error : ECONNRESET);
      else
        {
          s->owner = st;
          g_queue_push_head (&st->waiting, GUINT_TO_POINTER (i));
        }
    }
  if (!c->open)
    {
      /* Never connected: what waits cannot go either. */
      while (!g_queue_is_empty (&st->waiting))
        {
          guint i = GPOINTER_TO_UINT (g_queue_pop_head (&st->waiting));
          dns_shell_complete (sh, i, NULL, 0, error != 0 ? error : ECONNREFUSED);
        }
    }
  conn_unref (c);
  if (st->idle != NULL)
    {
      g_source_destroy (st->idle);
      g_clear_pointer (&st->idle, g_source_unref);
    }
  if (!g_queue_is_empty (&st->waiting))
    {
      guint i = GPOINTER_TO_UINT (g_queue_pop_head (&st->waiting));
      dns_stream_submit (st, i);
    }
}

static void
conn_failed (Conn *c, GError *error)
{
  DnsStream *st = c->st;
  char buf[EMBER_ADDR_PORT_STRLEN];
  if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    g_log_structured (st->sh->log_domain, G_LOG_LEVEL_INFO, "MESSAGE", "%s %s: %s",
                      st->sh->spec->plugin,
                      dns_addr_format (&st->sh->config.upstreams[st->upstream].addr, buf,
                                       sizeof buf),
                      error->message);
  stream_kill (st, error != NULL ? dns_errno_from_gerror (error) : ECONNRESET);
}

/* ---- Reading -------------------------------------------------------------------- */

static void
body_cb (GObject *obj, GAsyncResult *res, gpointer data)
{
  Conn *c = data;
  gsize got = 0;
  g_autoptr (GError) error = NULL;
  gboolean ok = g_input_stream_read_all_finish (G_INPUT_STREAM (obj), res, &got, &error);
  if (!c->dead)
    {
      gsize len = ((gsize) c->lenbuf[0] << 8) | c->lenbuf[1];
      if (!ok || got != len)
        conn_failed (c, error);
      else
        {
          DnsStream *st = c->st;
          gint i = len >= DNS_HEADER_LEN
                     ? dns_shell_find (st->sh, st->upstream, c, dns_msg_id (c->rbuf))
                     : -1;
          if (i >= 0)
            dns_shell_complete (st->sh, (guint) i, c->rbuf, len, 0);
          conn_read_len (c);
          idle_arm (st);
          dns_shell_update_timer (st->sh);
        }
    }
  conn_unref (c);
}

static void
len_cb (GObject *obj, GAsyncResult *res, gpointer data)
{
  Conn *c = data;
  gsize got = 0;
  g_autoptr (GError) error = NULL;
  gboolean ok = g_input_stream_read_all_finish (G_INPUT_STREAM (obj), res, &got, &error);
  if (!c->dead)
    {
      gsize len = ((gsize) c->lenbuf[0] << 8) | c->lenbuf[1];
      if (!ok || got != 2 || len == 0)
        conn_failed (c, error);
      else
        g_input_stream_read_all_async (g_io_stream_get_input_stream (c->io), c->rbuf, len,
                                       G_PRIORITY_DEFAULT, c->cancel, body_cb, conn_ref (c));
    }
  conn_unref (c);
}

static void
conn_read_len (Conn *c)
{
  g_input_stream_read_all_async (g_io_stream_get_input_stream (c->io), c->lenbuf, 2,
                                 G_PRIORITY_DEFAULT, c->cancel, len_cb, conn_ref (c));
}

/* ---- Writing -------------------------------------------------------------------- */

static void
write_cb (GObject *obj, GAsyncResult *res, gpointer data)
{
  Conn *c = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (obj), res, NULL, &error);
  if (!c->dead)
    {
      c->writing = FALSE;
      if (!ok)
        conn_failed (c, error);
      else
        conn_write_next (c);
    }
  conn_unref (c);
}

static void
conn_write_next (Conn *c)
{
  DnsStream *st = c->st;
  if (c->writing || !c->open || g_queue_is_empty (&st->waiting))
    return;
  guint i = GPOINTER_TO_UINT (g_queue_pop_head (&st->waiting));
  DnsSlot *s = &st->sh->slots[i];
  s->owner = c;
  s->tries++;
  c->wbuf[0] = (guint8) (s->query_len >> 8);
  c->wbuf[1] = (guint8) s->query_len;
  memcpy (c->wbuf + 2, s->query, s->query_len);
  c->writing = TRUE;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (c->io), c->wbuf,
                                   s->query_len + 2, G_PRIORITY_DEFAULT, c->cancel, write_cb,
                                   conn_ref (c));
}

/* ---- Connecting ------------------------------------------------------------------- */

static void
conn_ready (Conn *c)
{
  c->open = TRUE;
  conn_read_len (c);
  conn_write_next (c);
}

static void
handshake_cb (GObject *obj, GAsyncResult *res, gpointer data)
{
  Conn *c = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = g_tls_connection_handshake_finish (G_TLS_CONNECTION (obj), res, &error);
  if (!c->dead)
    {
      if (ok)
        conn_ready (c);
      else
        conn_failed (c, error);
    }
  conn_unref (c);
}

static void
connect_cb (GObject *obj, GAsyncResult *res, gpointer data)
{
  Conn *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) sc
    = g_socket_client_connect_finish (G_SOCKET_CLIENT (obj), res, &error);
  if (!c->dead)
    {
      DnsStream *st = c->st;
      if (sc == NULL)
        conn_failed (c, error);
      else if (!st->tls)
        {
          g_socket_set_option (g_socket_connection_get_socket (sc), IPPROTO_TCP, TCP_NODELAY, 1,
                               NULL);
          c->io = G_IO_STREAM (g_steal_pointer (&sc));
          conn_ready (c);
        }
      else
        {
          const DnsUpstream *u = &st->sh->config.upstreams[st->upstream];
          g_autoptr (GSocketConnectable) identity = NULL;
          if (u->name != NULL)
            identity = g_network_address_new (u->name, u->addr.port);
          else
            identity = G_SOCKET_CONNECTABLE (dns_addr_to_gsocket (&u->addr));
          GIOStream *tls = g_tls_client_connection_new (G_IO_STREAM (sc), identity, &error);
          if (tls == NULL)
            conn_failed (c, error);
          else
            {
              if (st->database != NULL)
                g_tls_connection_set_database (G_TLS_CONNECTION (tls), st->database);
              c->io = tls;
              g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT,
                                                c->cancel, handshake_cb, conn_ref (c));
            }
        }
    }
  conn_unref (c);
}

static void
stream_connect (DnsStream *st)
{
  Conn *c = g_rc_box_new0 (Conn);
  c->st = st;
  c->cancel = g_cancellable_new ();
  st->conn = c;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_socket_client_set_timeout (client, MAX (st->sh->config.timeout_ms / 1000, 1));
  /* An upstream is an address to reach directly, never through a proxy
   * from the environment. */
  g_socket_client_set_enable_proxy (client, FALSE);
  g_autoptr (GSocketAddress) addr = dns_addr_to_gsocket (&st->sh->config.upstreams[st->upstream].addr);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (addr), c->cancel, connect_cb,
                                 conn_ref (c));
}

/* ---- API --------------------------------------------------------------------------- */

DnsStream *
dns_stream_new (DnsShell *sh, guint upstream, gboolean tls, GTlsDatabase *database)
{
  DnsStream *st = g_new0 (DnsStream, 1);
  st->sh = sh;
  st->upstream = upstream;
  st->tls = tls;
  st->database = database != NULL ? g_object_ref (database) : NULL;
  g_queue_init (&st->waiting);
  return st;
}

void
dns_stream_submit (DnsStream *st, guint i)
{
  st->sh->slots[i].owner = st;
  g_queue_push_tail (&st->waiting, GUINT_TO_POINTER (i));
  if (st->idle != NULL)
    {
      g_source_destroy (st->idle);
      g_clear_pointer (&st->idle, g_source_unref);
    }
  if (st->conn == NULL)
    stream_connect (st);
  else
    conn_write_next (st->conn);
}

gboolean
dns_stream_owns (DnsStream *st, guint i)
{
  gpointer owner = st->sh->slots[i].owner;
  return owner != NULL && (owner == st || owner == st->conn);
}

void
dns_stream_forget (DnsStream *st, guint i)
{
  g_queue_remove (&st->waiting, GUINT_TO_POINTER (i));
  st->sh->slots[i].owner = NULL;
  idle_arm (st);
}

void
dns_stream_free (DnsStream *st)
{
  if (st == NULL)
    return;
  g_queue_clear (&st->waiting);
  if (st->conn != NULL)
    {
      Conn *c = st->conn;
      st->conn = NULL;
      c->dead = TRUE;
      c->st = NULL;
      g_cancellable_cancel (c->cancel);
      conn_unref (c);
    }
  if (st->idle != NULL)
    {
      g_source_destroy (st->idle);
      g_source_unref (st->idle);
    }
  g_clear_object (&st->database);
  g_free (st);
}
