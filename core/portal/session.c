/* portal/session.c — see session.h. */
#include "portal/session.h"
#include "portal/codec.h"
#include "portal/upgrade.h"

#include <libsoup/soup.h>
#include <string.h>

G_DEFINE_QUARK (ember-portal-session-error-quark, ember_portal_session_error)

/* One connection attempt and, once upgraded, the connection itself. It
 * outlives its session's interest in it only as long as an asynchronous
 * step still holds a reference; `dead` tells such a step to stop. */
typedef struct {
  gint refs;
  gboolean dead;
  EmberPortalSession *session;
  GCancellable *cancel;
  SoupWebsocketConnection *ws;
  GError *ws_error;        /* the last "error" signal: why it closed */
  char *join_ref;
  gboolean joined;
  guint unanswered;        /* heartbeats sent since the last reply */
  GSource *deadline;       /* connect + upgrade + join */
  GSource *heartbeat;
  GSource *stable;         /* the join held: reset the backoff */
} Conn;

struct _EmberPortalSession {
  gint refs;
  gboolean freed;
  GMainContext *ctx;
  EmberPortalChannel channel;
  EmberPortalUpgradeRequest req;
  char *ws_uri;            /* for SoupWebsocketConnection and messages */
  gint64 heartbeat_us, base_us, max_us;
  EmberPortalSessionCallbacks cb;
  gpointer user_data;

  EmberPortalSessionState state;
  gboolean started;
  GRand *rand;
  gint64 backoff_prev_us;  /* the last delay; 0 after a reset */
  Conn *conn;
  GSource *retry;
  gint64 retry_delay_us;   /* of the scheduled retry */
  GQueue queue;            /* char *: frames built while not joined */
  guint next_ref;
};

static void attempt_start (EmberPortalSession *s);

/* ---- bookkeeping ----------------------------------------------------------- */

static EmberPortalSession *
session_ref (EmberPortalSession *s)
{
  s->refs++;
  return s;
}

static void
session_unref (EmberPortalSession *s)
{
  if (--s->refs > 0)
    return;
  g_queue_clear_full (&s->queue, g_free);
  ember_portal_upgrade_request_free (&s->req);
  g_free (s->ws_uri);
  g_rand_free (s->rand);
  g_main_context_unref (s->ctx);
  g_free (s);
}

static Conn *
conn_ref (Conn *c)
{
  c->refs++;
  return c;
}

static void
conn_unref (Conn *c)
{
  if (--c->refs > 0)
    return;
  g_clear_object (&c->cancel);
  g_clear_error (&c->ws_error);
  g_free (c->join_ref);
  g_free (c);
}

static void
drop_source (GSource **src)
{
  if (*src != NULL)
    {
      g_source_destroy (*src);
      g_source_unref (*src);
      *src = NULL;
    }
}

static GSource *
add_timeout (EmberPortalSession *s, gint64 delay_us, GSourceFunc func, gpointer data,
             GDestroyNotify notify)
{
  GSource *src = delay_us <= 0 ? g_idle_source_new ()
                               : g_timeout_source_new ((guint) MIN ((delay_us + 999) / 1000,
                                                                    (gint64) G_MAXUINT));
  g_source_set_callback (src, func, data, notify);
  g_source_attach (src, s->ctx);
  return src;
}

static char *
fresh_ref (EmberPortalSession *s)
{
  return g_strdup_printf ("%u", ++s->next_ref);
}

/* Emits a state change; FALSE when the callback freed the session. */
static gboolean
set_state (EmberPortalSession *s, EmberPortalSessionState state, const GError *error)
{
  s->state = state;
  if (s->cb.state_changed == NULL)
    return TRUE;
  session_ref (s);
  s->cb.state_changed (s, state, error, s->user_data);
  gboolean alive = !s->freed;
  session_unref (s);
  return alive;
}

/* The source's destroy notify drops the reference, also when the context
 * is destroyed before it ran. */
static gboolean
unref_later (gpointer data)
{
  (void) data;
  return G_SOURCE_REMOVE;
}

/* Ends `c`: no callback of it runs any more. The socket is closed with
 * `code`; the WebSocket object is released from the main context, since
 * this may run inside one of its own signal emissions. */
static void
conn_kill (Conn *c, gushort code, const char *reason)
{
  if (c->dead)
    return;
  c->dead = TRUE;
  g_cancellable_cancel (c->cancel);
  drop_source (&c->deadline);
  drop_source (&c->heartbeat);
  drop_source (&c->stable);
  if (c->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (c->ws, c);
      if (soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        {
          g_main_context_push_thread_default (c->session->ctx);
          soup_websocket_connection_close (c->ws, code, reason);
          g_main_context_pop_thread_default (c->session->ctx);
        }
      GSource *later = g_idle_source_new ();
      g_source_set_callback (later, unref_later, g_steal_pointer (&c->ws), g_object_unref);
      g_source_attach (later, c->session->ctx);
      g_source_unref (later);
    }
  if (c->session->conn == c)
    c->session->conn = NULL;
  conn_unref (c);
}

static gboolean
on_retry (gpointer data)
{
  EmberPortalSession *s = data;
  g_clear_pointer (&s->retry, g_source_unref);
  s->retry_delay_us = 0;
  attempt_start (s);
  return G_SOURCE_REMOVE;
}

static void
schedule_attempt (EmberPortalSession *s, gint64 delay_us)
{
  drop_source (&s->retry);
  s->retry = add_timeout (s, delay_us, on_retry, s, NULL);
  s->retry_delay_us = delay_us;
}

/* The connection `c` ended with `error` (taken). Fatal errors end in
 * REJECTED; anything else schedules the next attempt and reports
 * DISCONNECTED. */
static void
conn_fail (Conn *c, GError *error, gint64 retry_after_us, gushort close_code)
{
  EmberPortalSession *s = c->session;
  gboolean fatal = error->domain == EMBER_PORTAL_SESSION_ERROR
                   && (error->code == EMBER_PORTAL_SESSION_ERROR_UNAUTHORIZED
                       || error->code == EMBER_PORTAL_SESSION_ERROR_REPLACED);
  conn_kill (c, close_code, NULL);
  if (fatal)
    {
      g_debug ("portal session: %s: %s", s->ws_uri, error->message);
      set_state (s, EMBER_PORTAL_SESSION_REJECTED, error);
      g_error_free (error);
      return;
    }
  gint64 delay = ember_portal_session_backoff_next (s->backoff_prev_us, g_rand_int (s->rand),
                                                    s->base_us, s->max_us);
  s->backoff_prev_us = delay;
  delay = MAX (delay, MIN (retry_after_us, EMBER_PORTAL_SESSION_RETRY_AFTER_MAX_US));
  schedule_attempt (s, delay);
  g_prefix_error (&error, "%s: ", s->ws_uri);
  g_debug ("portal session: %s; next attempt in %.1f s", error->message,
           (double) delay / G_USEC_PER_SEC);
  set_state (s, EMBER_PORTAL_SESSION_DISCONNECTED, error);
  g_error_free (error);
}

static void conn_fail_with (Conn *c, EmberPortalSessionError code, gushort close_code,
                            const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static void
conn_fail_with (Conn *c, EmberPortalSessionError code, gushort close_code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  conn_fail (c, g_error_new_literal (EMBER_PORTAL_SESSION_ERROR, (gint) code, text), 0,
             close_code);
}

/* ---- the joined session ---------------------------------------------------- */

/* Whether frames can go out now: joined, and the portal has not started
 * to close (a close frame from it makes the socket CLOSING). */
static gboolean
conn_writable (Conn *c)
{
  return c != NULL && !c->dead && c->ws != NULL
         && soup_websocket_connection_get_state (c->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

/* libsoup attaches the WebSocket's sources to the thread-default
 * context whenever it (re)starts them, so every call into it runs with
 * ours pushed. */
static void
send_text (Conn *c, const char *text)
{
  g_main_context_push_thread_default (c->session->ctx);
  soup_websocket_connection_send_text (c->ws, text);
  g_main_context_pop_thread_default (c->session->ctx);
}

static void
send_internal (Conn *c, EmberPortalEvent event, char **ref_out)
{
  EmberPortalSession *s = c->session;
  g_auto (EmberPortalMessage) msg;
  ember_portal_message_init (&msg, event, s->channel, NULL);
  msg.ref = fresh_ref (s);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = ember_portal_message_build (&msg, s->channel, NULL, &error);
  /* phx_join and heartbeat have empty payloads: they always build */
  g_assert_no_error (error);
  send_text (c, text);
  if (ref_out != NULL)
    *ref_out = g_strdup (msg.ref);
}

static gboolean
on_heartbeat (gpointer data)
{
  Conn *c = data;
  /* docs/portal-protocol.md: no reply to two heartbeats in a row → reconnect */
  if (c->unanswered >= 2)
    {
      g_clear_pointer (&c->heartbeat, g_source_unref);  /* destroyed by returning */
      conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_NETWORK, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                      "no reply to two heartbeats in a row");
      return G_SOURCE_REMOVE;
    }
  if (conn_writable (c))
    send_internal (c, EMBER_PORTAL_EVENT_HEARTBEAT, NULL);
  c->unanswered++;
  return G_SOURCE_CONTINUE;
}

static gboolean
on_stable (gpointer data)
{
  Conn *c = data;
  g_clear_pointer (&c->stable, g_source_unref);
  c->session->backoff_prev_us = 0;
  return G_SOURCE_REMOVE;
}

static void
joined (Conn *c)
{
  EmberPortalSession *s = c->session;
  c->joined = TRUE;
  drop_source (&c->deadline);
  c->heartbeat = add_timeout (s, s->heartbeat_us, on_heartbeat, c, NULL);
  c->stable = add_timeout (s, 3 * s->heartbeat_us, on_stable, c, NULL);
  /* What waited goes first, before anything sent from the callbacks. */
  while (!g_queue_is_empty (&s->queue) && conn_writable (c))
    {
      g_autofree char *text = g_queue_pop_head (&s->queue);
      send_text (c, text);
    }
  set_state (s, EMBER_PORTAL_SESSION_JOINED, NULL);
}

/* A `disconnect` was delivered: the portal closes right after (4001). */
static void
disconnected_by_portal (Conn *c, EmberPortalDisconnectReason reason)
{
  const char *name = ember_portal_disconnect_reason_to_string (reason);
  switch (reason)
    {
    case EMBER_PORTAL_DISCONNECT_TOKEN_REVOKED:
    case EMBER_PORTAL_DISCONNECT_TOKEN_EXPIRED:
      conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_UNAUTHORIZED, SOUP_WEBSOCKET_CLOSE_NORMAL,
                      "the portal rejected the token (%s)", name);
      return;
    case EMBER_PORTAL_DISCONNECT_DEVICE_REMOVED:
      conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_UNAUTHORIZED, SOUP_WEBSOCKET_CLOSE_NORMAL,
                      "the portal removed this device (%s)", name);
      return;
    case EMBER_PORTAL_DISCONNECT_REPLACED:
      conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_REPLACED, SOUP_WEBSOCKET_CLOSE_NORMAL,
                      "another session signed in with this token and external_id (%s)", name);
      return;
    case EMBER_PORTAL_DISCONNECT_SHUTDOWN:
    case EMBER_PORTAL_DISCONNECT_PROTOCOL_ERROR:
    default:
      conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_CLOSED, SOUP_WEBSOCKET_CLOSE_NORMAL,
                      "the portal disconnected this session (%s)", name);
      return;
    }
}

static void
on_ws_message (SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer data)
{
  (void) ws;
  Conn *c = data;
  EmberPortalSession *s = c->session;
  if (type != SOUP_WEBSOCKET_DATA_TEXT)
    {
      /* docs/portal-protocol.md: every message is text */
      conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                      "the portal sent a binary message");
      return;
    }
  gsize len = 0;
  const char *text = g_bytes_get_data (bytes, &len);
  g_auto (EmberPortalMessage) msg = { 0 };
  g_autoptr (GError) error = NULL;
  if (!ember_portal_message_parse (text, len, s->channel, EMBER_PORTAL_FROM_PORTAL, &msg, &error))
    {
      /* A view we know is incomplete is worse than a fresh init. */
      gushort code = g_error_matches (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_JSON)
                       ? SOUP_WEBSOCKET_CLOSE_BAD_DATA
                     : g_error_matches (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_TOO_LARGE)
                       ? SOUP_WEBSOCKET_CLOSE_TOO_BIG
                       : SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION;
      conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, code,
                      "the portal sent a message the protocol does not allow: %s",
                      error->message);
      return;
    }
  if (msg.event == EMBER_PORTAL_EVENT_PHX_REPLY && msg.topic == EMBER_PORTAL_TOPIC_PHOENIX)
    {
      c->unanswered = 0;
      return;
    }
  if (!c->joined)
    {
      if (msg.event != EMBER_PORTAL_EVENT_PHX_REPLY || g_strcmp0 (msg.ref, c->join_ref) != 0)
        {
          conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_PROTOCOL,
                          SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                          "the portal sent %s before it answered the join",
                          ember_portal_event_to_string (msg.event));
          return;
        }
      if (msg.u.reply.status != EMBER_PORTAL_REPLY_OK)
        {
          conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, SOUP_WEBSOCKET_CLOSE_NORMAL,
                          "the portal refused the join: %s%s%s",
                          ember_portal_reply_reason_to_string (msg.u.reply.reason),
                          msg.u.reply.message != NULL ? ": " : "",
                          msg.u.reply.message != NULL ? msg.u.reply.message : "");
          return;
        }
      joined (c);
      return;
    }
  if (s->cb.message != NULL)
    {
      conn_ref (c);
      session_ref (s);
      s->cb.message (s, &msg, s->user_data);
      session_unref (s);
      gboolean gone = c->dead;
      conn_unref (c);
      if (gone)
        return;
    }
  if (msg.event == EMBER_PORTAL_EVENT_DISCONNECT)
    disconnected_by_portal (c, msg.u.disconnect.reason);
}

static void
on_ws_error (SoupWebsocketConnection *ws, GError *error, gpointer data)
{
  (void) ws;
  Conn *c = data;
  if (c->ws_error == NULL)
    c->ws_error = g_error_copy (error);
}

static void
on_ws_closed (SoupWebsocketConnection *ws, gpointer data)
{
  Conn *c = data;
  gushort code = soup_websocket_connection_get_close_code (ws);
  const char *reason = soup_websocket_connection_get_close_data (ws);
  if (c->ws_error != NULL)
    {
      /* libsoup's messages ("Received invalid WebSocket response …") name the fault */
      EmberPortalSessionError kind = c->ws_error->domain == G_IO_ERROR
                                       ? EMBER_PORTAL_SESSION_ERROR_NETWORK
                                       : EMBER_PORTAL_SESSION_ERROR_PROTOCOL;
      conn_fail_with (c, kind, SOUP_WEBSOCKET_CLOSE_NORMAL, "the WebSocket to the portal failed: %s",
                      c->ws_error->message);
      return;
    }
  if (code == 0 || code == SOUP_WEBSOCKET_CLOSE_NO_STATUS || code == SOUP_WEBSOCKET_CLOSE_ABNORMAL)
    {
      conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_NETWORK, SOUP_WEBSOCKET_CLOSE_NORMAL,
                      "the connection to the portal ended without a close frame");
      return;
    }
  g_autofree char *shown = g_strescape (reason != NULL ? reason : "", NULL);
  conn_fail_with (c,
                  code == EMBER_PORTAL_CLOSE_RATE_LIMITED ? EMBER_PORTAL_SESSION_ERROR_RATE_LIMITED
                                                          : EMBER_PORTAL_SESSION_ERROR_CLOSED,
                  SOUP_WEBSOCKET_CLOSE_NORMAL, "the portal closed the connection (%u %s)", code,
                  shown);
}

/* ---- connecting ------------------------------------------------------------ */

static gboolean
on_deadline (gpointer data)
{
  Conn *c = data;
  g_clear_pointer (&c->deadline, g_source_unref);
  conn_fail_with (c, EMBER_PORTAL_SESSION_ERROR_NETWORK, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                  "no %s within %.1f s",
                  c->ws != NULL ? "reply to the join" : "WebSocket upgrade",
                  (double) (2 * c->session->heartbeat_us) / G_USEC_PER_SEC);
  return G_SOURCE_REMOVE;
}

static void
on_upgraded (GObject *source, GAsyncResult *res, gpointer data)
{
  (void) source;
  Conn *c = data;
  gint64 retry_after = 0;
  GError *error = NULL;
  GIOStream *stream = ember_portal_upgrade_finish (res, &retry_after, &error);
  if (c->dead)
    {
      g_clear_object (&stream);
      g_clear_error (&error);
      conn_unref (c);
      return;
    }
  EmberPortalSession *s = c->session;
  if (stream == NULL)
    {
      conn_fail (c, error, retry_after, SOUP_WEBSOCKET_CLOSE_NORMAL);
      conn_unref (c);
      return;
    }
  g_autoptr (GUri) uri = g_uri_parse (s->ws_uri, G_URI_FLAGS_ENCODED, NULL);
  g_main_context_push_thread_default (s->ctx);
  c->ws = soup_websocket_connection_new (stream, uri, SOUP_WEBSOCKET_CONNECTION_CLIENT, NULL,
                                         NULL, NULL);
  g_main_context_pop_thread_default (s->ctx);
  g_object_unref (stream);
  /* The portal's init may reach the protocol's limit; heartbeats are ours. */
  g_object_set (c->ws, "max-incoming-payload-size", (guint64) EMBER_PORTAL_FRAME_MAX,
                "keepalive-interval", 0u, NULL);
  g_signal_connect (c->ws, "message", G_CALLBACK (on_ws_message), c);
  g_signal_connect (c->ws, "error", G_CALLBACK (on_ws_error), c);
  g_signal_connect (c->ws, "closed", G_CALLBACK (on_ws_closed), c);
  send_internal (c, EMBER_PORTAL_EVENT_PHX_JOIN, &c->join_ref);
  conn_unref (c);
}

static void
attempt_start (EmberPortalSession *s)
{
  g_assert (s->conn == NULL);
  Conn *c = g_new0 (Conn, 1);
  c->refs = 1;
  c->session = s;
  c->cancel = g_cancellable_new ();
  s->conn = c;
  conn_ref (c);
  gboolean alive = set_state (s, EMBER_PORTAL_SESSION_CONNECTING, NULL) && !c->dead;
  conn_unref (c);
  if (!alive)
    return;
  c->deadline = add_timeout (s, 2 * s->heartbeat_us, on_deadline, c, NULL);
  g_main_context_push_thread_default (s->ctx);
  ember_portal_upgrade_async (&s->req, c->cancel, on_upgraded, conn_ref (c));
  g_main_context_pop_thread_default (s->ctx);
}

/* ---- the API --------------------------------------------------------------- */

static gboolean
invalid (GError **error, const char *field, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
invalid (GError **error, const char *field, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_PORTAL_SESSION_ERROR, EMBER_PORTAL_SESSION_ERROR_INVALID,
               "portal %s: %s", field, text);
  return FALSE;
}

static gboolean
token_ok (const char *token, GError **error)
{
  if (token == NULL || *token == '\0')
    return invalid (error, "token", "empty");
  for (const char *p = token; *p != '\0'; p++)
    if ((guchar) *p <= 0x20 || (guchar) *p == 0x7f)
      return invalid (error, "token", "contains a space or control character");
  return TRUE;
}

/* docs/portal-protocol.md: 1..128 of A-Z a-z 0-9 . _ : - */
static gboolean
external_id_ok (const char *id, GError **error)
{
  gsize n = id != NULL ? strlen (id) : 0;
  if (n == 0 || n > 128
      || strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") != n)
    return invalid (error, "external_id",
                    "\"%s\" is not 1..128 characters of A-Z a-z 0-9 . _ : -", id ? id : "");
  return TRUE;
}

static gboolean
parse_url (EmberPortalSession *s, const char *url, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (url == NULL)
    return invalid (error, "url", "missing");
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, &local);
  if (uri == NULL)
    return invalid (error, "url", "\"%s\": %s", url, local->message);
  const char *scheme = g_uri_get_scheme (uri);
  gboolean tls = g_ascii_strcasecmp (scheme, "wss") == 0;
  if (!tls && g_ascii_strcasecmp (scheme, "ws") != 0)
    return invalid (error, "url", "\"%s\": expected ws:// or wss://", url);
  const char *host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0')
    return invalid (error, "url", "\"%s\": no host", url);
  if (g_uri_get_userinfo (uri) != NULL || g_uri_get_query (uri) != NULL
      || g_uri_get_fragment (uri) != NULL)
    return invalid (error, "url", "\"%s\": expected no user, query or fragment", url);
  gint port = g_uri_get_port (uri);
  gboolean default_port = port == -1;
  if (default_port)
    port = tls ? 443 : 80;
  if (port <= 0 || port > 65535)
    return invalid (error, "url", "\"%s\": bad port", url);
  /* The base path, without its trailing slashes; the endpoint follows. */
  g_autofree char *base = g_strdup (g_uri_get_path (uri));
  gsize blen = strlen (base);
  while (blen > 0 && base[blen - 1] == '/')
    base[--blen] = '\0';

  s->req.tls = tls;
  s->req.port = (guint16) port;
  s->req.host = g_strdup (host);
  gboolean v6 = strchr (host, ':') != NULL;
  g_autofree char *bracketed = v6 ? g_strdup_printf ("[%s]", host) : g_strdup (host);
  s->req.host_header = default_port ? g_strdup (bracketed)
                                    : g_strdup_printf ("%s:%d", bracketed, port);
  s->ws_uri = g_strdup_printf ("%s://%s%s/%s/websocket", tls ? "wss" : "ws", s->req.host_header,
                               base, ember_portal_channel_to_string (s->channel));
  return TRUE;
}

EmberPortalSession *
ember_portal_session_new (GMainContext *ctx, const EmberPortalSessionConfig *cfg,
                          const EmberPortalSessionCallbacks *cb, gpointer user_data,
                          GError **error)
{
  g_return_val_if_fail (cfg != NULL, NULL);
  g_autoptr (GError) local = NULL;
  EmberPortalKey key;
  if (cfg->channel != EMBER_PORTAL_CHANNEL_CLIENT && cfg->channel != EMBER_PORTAL_CHANNEL_GATEWAY)
    {
      invalid (error, "channel", "neither client nor gateway");
      return NULL;
    }
  if (cfg->public_key == NULL || !ember_portal_key_parse (cfg->public_key, &key, "public_key", &local))
    {
      g_set_error (error, EMBER_PORTAL_SESSION_ERROR, EMBER_PORTAL_SESSION_ERROR_INVALID,
                   "portal %s", local != NULL ? local->message : "public_key: missing");
      return NULL;
    }
  if (!external_id_ok (cfg->external_id, error) || !token_ok (cfg->token, error))
    return NULL;
  if (cfg->heartbeat_interval_us < 0 || cfg->backoff_base_us < 0 || cfg->backoff_max_us < 0)
    {
      invalid (error, "tuning", "negative interval");
      return NULL;
    }

  EmberPortalSession *s = g_new0 (EmberPortalSession, 1);
  s->refs = 1;
  s->ctx = g_main_context_ref (ctx != NULL ? ctx : g_main_context_default ());
  s->channel = cfg->channel;
  s->rand = cfg->random_seed != 0 ? g_rand_new_with_seed (cfg->random_seed) : g_rand_new ();
  g_queue_init (&s->queue);
  s->heartbeat_us = cfg->heartbeat_interval_us > 0 ? cfg->heartbeat_interval_us
                                                   : EMBER_PORTAL_HEARTBEAT_INTERVAL_US;
  s->base_us = cfg->backoff_base_us > 0 ? cfg->backoff_base_us
                                        : EMBER_PORTAL_SESSION_BACKOFF_BASE_US;
  s->max_us = cfg->backoff_max_us > 0 ? cfg->backoff_max_us : EMBER_PORTAL_SESSION_BACKOFF_MAX_US;
  s->max_us = MAX (s->max_us, s->base_us);
  if (cb != NULL)
    s->cb = *cb;
  s->user_data = user_data;
  if (!parse_url (s, cfg->url, error))
    {
      session_unref (s);
      return NULL;
    }
  if (s->req.tls && cfg->ca_file != NULL)
    {
      s->req.tls_database = g_tls_file_database_new (cfg->ca_file, &local);
      if (s->req.tls_database == NULL)
        {
          invalid (error, "ca_file", "%s: %s", cfg->ca_file, local->message);
          session_unref (s);
          return NULL;
        }
    }
  g_autofree char *pk = g_uri_escape_string (cfg->public_key, NULL, FALSE);
  g_autofree char *ext = g_uri_escape_string (cfg->external_id, NULL, FALSE);
  const char *after_host = strchr (strstr (s->ws_uri, "://") + 3, '/');
  s->req.path = g_strdup_printf ("%s?public_key=%s&external_id=%s&vsn=%d", after_host, pk, ext,
                                 EMBER_PORTAL_REVISION);
  s->req.token = g_strdup (cfg->token);
  return s;
}

void
ember_portal_session_start (EmberPortalSession *s)
{
  g_return_if_fail (s != NULL);
  if (s->started)
    return;
  s->started = TRUE;
  schedule_attempt (s, 0);
}

void
ember_portal_session_reconnect (EmberPortalSession *s)
{
  g_return_if_fail (s != NULL);
  s->started = TRUE;
  s->backoff_prev_us = 0;
  if (s->conn != NULL)
    conn_kill (s->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, "reconnect");
  schedule_attempt (s, 0);
}

gboolean
ember_portal_session_set_token (EmberPortalSession *s, const char *token, GError **error)
{
  g_return_val_if_fail (s != NULL, FALSE);
  if (!token_ok (token, error))
    return FALSE;
  if (s->req.token != NULL)
    explicit_bzero (s->req.token, strlen (s->req.token));
  g_free (s->req.token);
  s->req.token = g_strdup (token);
  return TRUE;
}

gboolean
ember_portal_session_send (EmberPortalSession *s, const EmberPortalMessage *msg, GError **error)
{
  g_return_val_if_fail (s != NULL && msg != NULL, FALSE);
  if (msg->event == EMBER_PORTAL_EVENT_PHX_JOIN || msg->event == EMBER_PORTAL_EVENT_HEARTBEAT
      || !ember_portal_event_allowed (msg->event, s->channel, EMBER_PORTAL_TO_PORTAL))
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_WRONG_DIRECTION,
                   "%s is not a message a %s sends to the portal through its session",
                   ember_portal_event_to_string (msg->event),
                   ember_portal_channel_to_string (s->channel));
      return FALSE;
    }
  gboolean now = conn_writable (s->conn) && s->conn->joined;
  if (!now && g_queue_get_length (&s->queue) >= EMBER_PORTAL_SESSION_QUEUE_MAX)
    {
      g_set_error (error, EMBER_PORTAL_SESSION_ERROR, EMBER_PORTAL_SESSION_ERROR_QUEUE_FULL,
                   "not joined to the portal and %u messages already wait: %s refused",
                   (guint) EMBER_PORTAL_SESSION_QUEUE_MAX,
                   ember_portal_event_to_string (msg->event));
      return FALSE;
    }
  /* A shallow copy: only the ref differs, the payload is read in place. */
  EmberPortalMessage framed = *msg;
  g_autofree char *ref = msg->ref == NULL ? fresh_ref (s) : NULL;
  if (ref != NULL)
    framed.ref = ref;
  char *text = ember_portal_message_build (&framed, s->channel, NULL, error);
  if (text == NULL)
    return FALSE;
  if (now)
    {
      send_text (s->conn, text);
      g_free (text);
    }
  else
    g_queue_push_tail (&s->queue, text);
  return TRUE;
}

EmberPortalSessionState
ember_portal_session_get_state (EmberPortalSession *s)
{
  g_return_val_if_fail (s != NULL, EMBER_PORTAL_SESSION_DISCONNECTED);
  return s->state;
}

gint64
ember_portal_session_get_retry_delay (EmberPortalSession *s)
{
  g_return_val_if_fail (s != NULL, 0);
  return s->retry != NULL ? s->retry_delay_us : 0;
}

guint
ember_portal_session_queued (EmberPortalSession *s)
{
  g_return_val_if_fail (s != NULL, 0);
  return g_queue_get_length (&s->queue);
}

void
ember_portal_session_free (EmberPortalSession *s)
{
  if (s == NULL || s->freed)
    return;
  s->freed = TRUE;
  drop_source (&s->retry);
  if (s->conn != NULL)
    conn_kill (s->conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "shutdown");
  session_unref (s);
}

const char *
ember_portal_session_state_to_string (EmberPortalSessionState state)
{
  switch (state)
    {
    case EMBER_PORTAL_SESSION_DISCONNECTED:
      return "disconnected";
    case EMBER_PORTAL_SESSION_CONNECTING:
      return "connecting";
    case EMBER_PORTAL_SESSION_JOINED:
      return "joined";
    case EMBER_PORTAL_SESSION_REJECTED:
      return "rejected";
    default:
      return "?";
    }
}

gint64
ember_portal_session_backoff_next (gint64 prev_us, guint32 random, gint64 base_us, gint64 max_us)
{
  if (base_us <= 0)
    base_us = 1;
  if (max_us < base_us)
    max_us = base_us;
  gint64 prev = CLAMP (prev_us, base_us, max_us);
  /* decorrelated jitter: uniform in [base, 3 × prev], then capped; in
   * double so that no tuning overflows */
  double span = 3.0 * (double) prev - (double) base_us;
  double next = (double) base_us + span * ((double) random / (double) G_MAXUINT32);
  return next >= (double) max_us ? max_us : (gint64) next;
}
