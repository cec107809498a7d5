/* ember-portal/serve.c — the server object and the `serve` verb: the
 * listeners, the bearer-token check that runs before a WebSocket
 * upgrade, the registry of joined sessions and the periodic sweep. */
#include "serve-private.h"
#include "log.h"

#include <glib-unix.h>
#include <gnutls/crypto.h>
#include <string.h>

#define AUTH_KEY "ember-portal-auth"
#define RATE_LIMIT_MAX_KEYS 65536
#define LISTEN_BACKLOG 4096
/* Threads the WebSocket connections are spread over (io.h). */
#define IO_THREADS 4
/* How long a gateway has to answer authorize_flow. */
#define SWEEP_MAX_US G_USEC_PER_SEC

void
server_random (gpointer buf, gsize len)
{
  if (gnutls_rnd (GNUTLS_RND_RANDOM, buf, len) < 0)
    g_error ("gnutls_rnd failed"); /* no entropy: nothing safe to do */
}

gint64
server_unix_now (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* What the token check found, handed from the HTTP handler to the
 * WebSocket callback on the message. */
typedef struct {
  EmberStoreToken *token;
  char *remote_host;
  GInetAddress *source;
  char *external_id;
  guint revision;             /* vsn= */
  EmberPortalKey public_key;
  EmberPortalTunnelAddresses tunnel;
} AuthInfo;

static void
auth_info_free (gpointer p)
{
  AuthInfo *a = p;
  ember_store_token_free (a->token);
  g_free (a->remote_host);
  g_clear_object (&a->source);
  g_free (a->external_id);
  g_free (a);
}

/* ---- registry ----------------------------------------------------------- */

GPtrArray *
server_site_gateways (EmberPortalServer *srv, const char *site_id)
{
  return site_id != NULL ? g_hash_table_lookup (srv->site_gateways, site_id) : NULL;
}

void
server_register_joined (EmberPortalServer *srv, Session *s)
{
  GHashTable *table = s->channel == EMBER_PORTAL_CHANNEL_CLIENT ? srv->clients : srv->gateways;
  Session *old = g_hash_table_lookup (table, s->device_id);
  if (old != NULL && old != s)
    {
      /* One session per device: the newer sign-in wins. */
      session_disconnect (old, EMBER_PORTAL_DISCONNECT_REPLACED);
      server_unregister (srv, old);
    }
  g_hash_table_replace (table, s->device_id, s);
  if (s->channel == EMBER_PORTAL_CHANNEL_CLIENT)
    srv->stats.client_sessions++;
  else
    {
      srv->stats.gateway_sessions++;
      GPtrArray *list = g_hash_table_lookup (srv->site_gateways, s->site_id);
      if (list == NULL)
        {
          list = g_ptr_array_new ();
          g_hash_table_insert (srv->site_gateways, g_strdup (s->site_id), list);
        }
      g_ptr_array_add (list, s);
    }
}

void
server_forget (EmberPortalServer *srv, Session *s)
{
  server_unregister (srv, s);
  g_queue_unlink (&srv->sessions, &s->link);
  srv->stats.websockets--;
}

void
server_unregister (EmberPortalServer *srv, Session *s)
{
  /* Still in srv->sessions until its connection is gone (server_forget),
   * so a shutdown meanwhile frees it too. */
  s->closing = TRUE;
  if (!s->joined)
    return;
  s->joined = FALSE;
  GHashTable *table = s->channel == EMBER_PORTAL_CHANNEL_CLIENT ? srv->clients : srv->gateways;
  if (g_hash_table_lookup (table, s->device_id) == s)
    g_hash_table_remove (table, s->device_id);
  if (s->channel == EMBER_PORTAL_CHANNEL_CLIENT)
    srv->stats.client_sessions--;
  else
    {
      srv->stats.gateway_sessions--;
      GPtrArray *list = g_hash_table_lookup (srv->site_gateways, s->site_id);
      if (list != NULL)
        g_ptr_array_remove_fast (list, s);
      if (g_hash_table_lookup (srv->gateways, s->device_id) == NULL)
        authorize_gateway_gone (srv, s->device_id);
    }
}

guint
ember_portal_server_n_clients (EmberPortalServer *srv)
{
  return g_hash_table_size (srv->clients);
}

guint
ember_portal_server_n_gateways (EmberPortalServer *srv)
{
  return g_hash_table_size (srv->gateways);
}

/* ---- the token check ---------------------------------------------------- */

static void
refuse (SoupServerMessage *msg, guint status, const char *error, const char *reason)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_add_string_value (b, error);
  if (reason != NULL)
    {
      json_builder_set_member_name (b, "reason");
      json_builder_add_string_value (b, reason);
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  gsize len = 0;
  char *body = json_to_string (root, FALSE);
  len = strlen (body);
  soup_server_message_set_status (msg, status, NULL);
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  if (status == 401)
    soup_message_headers_replace (h, "WWW-Authenticate", "Bearer realm=\"ember-portal\"");
  else if (status == 429)
    soup_message_headers_replace (h, "Retry-After", "10");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, body, len);
}

static void
auth_failed (EmberPortalServer *srv, SoupServerMessage *msg, const char *host,
             EmberPortalAuthFailure why, const char *reason)
{
  srv->stats.auth_failures_total[why]++;
  ember_portal_rate_limit_take (srv->failure_limit, host, g_get_monotonic_time ());
  g_info ("refused a session from %s: %s", host, reason);
  refuse (msg, 401, "unauthorized", reason);
}

/* docs/portal-protocol.md: 1..128 of A-Z a-z 0-9 . _ : - */
static gboolean
external_id_ok (const char *s)
{
  gsize n = strlen (s);
  return n > 0 && n <= 128
         && strspn (s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n;
}

static void on_upgraded (SoupServerMessage *msg, gpointer user_data);

static void
handle_upgrade (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  (void) soup;
  EmberPortalServer *srv = user_data;
  gboolean gateway = g_str_has_prefix (path, "/gateway/");
  if (strcmp (path, "/client/websocket") != 0 && strcmp (path, "/gateway/websocket") != 0)
    {
      refuse (msg, 404, "not_found", NULL);
      return;
    }
  const char *host = soup_server_message_get_remote_host (msg);
  if (host == NULL)
    host = "?";
  gint64 now_us = g_get_monotonic_time ();
  /* A flood of upgrades, or of guesses, from one address stops here,
   * before the database is asked anything. */
  if (!ember_portal_rate_limit_take (srv->join_limit, host, now_us)
      || !ember_portal_rate_limit_check (srv->failure_limit, host, now_us))
    {
      srv->stats.rate_limited_total++;
      refuse (msg, 429, "rate_limited", "too_many_attempts");
      return;
    }

  const char *authz = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                    "Authorization");
  if (authz == NULL || g_ascii_strncasecmp (authz, "Bearer ", 7) != 0 || authz[7] == '\0')
    {
      auth_failed (srv, msg, host, EMBER_PORTAL_AUTH_MISSING, "missing_token");
      return;
    }
  const char *bearer = authz + 7;
  while (*bearer == ' ')
    bearer++;

  EmberStoreTokenStatus status = EMBER_STORE_TOKEN_UNKNOWN;
  g_autoptr (EmberStoreToken) token = NULL;
  g_autoptr (GError) error = NULL;
  if (!ember_store_token_verify (srv->store, bearer, server_unix_now (), &status, &token, &error))
    {
      g_warning ("token check: %s", error->message);
      refuse (msg, 503, "unavailable", "storage");
      return;
    }
  switch (status)
    {
    case EMBER_STORE_TOKEN_VALID:
      break;
    case EMBER_STORE_TOKEN_EXPIRED:
      auth_failed (srv, msg, host, EMBER_PORTAL_AUTH_EXPIRED, "expired_token");
      return;
    case EMBER_STORE_TOKEN_REVOKED:
      auth_failed (srv, msg, host, EMBER_PORTAL_AUTH_REVOKED, "revoked_token");
      return;
    case EMBER_STORE_TOKEN_UNKNOWN:
    default:
      auth_failed (srv, msg, host, EMBER_PORTAL_AUTH_INVALID, "invalid_token");
      return;
    }
  EmberStoreDeviceKind want = gateway ? EMBER_STORE_DEVICE_GATEWAY : EMBER_STORE_DEVICE_CLIENT;
  if (token->kind != want)
    {
      /* docs/portal-protocol.md: "one for the other endpoint" is invalid. */
      auth_failed (srv, msg, host, EMBER_PORTAL_AUTH_WRONG_KIND, "invalid_token");
      return;
    }

  AuthInfo *a = g_new0 (AuthInfo, 1);
  g_autoptr (GError) qerr = NULL;
  const char *pk = query != NULL ? g_hash_table_lookup (query, "public_key") : NULL;
  const char *ext = query != NULL ? g_hash_table_lookup (query, "external_id") : NULL;
  if (pk == NULL || !ember_portal_key_parse (pk, &a->public_key, "public_key", &qerr))
    {
      auth_info_free (a);
      srv->stats.auth_failures_total[EMBER_PORTAL_AUTH_BAD_QUERY]++;
      g_info ("refused a session from %s: public_key: %s", host,
              pk == NULL ? "missing" : qerr->message);
      refuse (msg, 400, "bad_request", "invalid_public_key");
      return;
    }
  if (ext == NULL || !external_id_ok (ext))
    {
      auth_info_free (a);
      srv->stats.auth_failures_total[EMBER_PORTAL_AUTH_BAD_QUERY]++;
      g_info ("refused a session from %s: external_id: expected 1..128 of A-Z a-z 0-9 . _ : -",
              host);
      refuse (msg, 400, "bad_request", "invalid_external_id");
      return;
    }
  /* The revision the device reads (absent: the first); one newer than
   * ours gets ours, every later member being optional. */
  const char *vsn = query != NULL ? g_hash_table_lookup (query, "vsn") : NULL;
  guint64 revision = 1;
  if (vsn != NULL && (!g_ascii_isdigit (vsn[0])
                      || !g_ascii_string_to_unsigned (vsn, 10, 1, 999999, &revision, NULL)))
    {
      auth_info_free (a);
      srv->stats.auth_failures_total[EMBER_PORTAL_AUTH_BAD_QUERY]++;
      g_info ("refused a session from %s: vsn: expected a revision 1..999999", host);
      refuse (msg, 400, "bad_request", "invalid_vsn");
      return;
    }
  a->revision = (guint) MIN (revision, EMBER_PORTAL_REVISION);

  g_autofree char *v4 = NULL, *v6 = NULL;
  if (gateway)
    {
      g_autoptr (EmberStoreGateway) gw = ember_store_gateway_get (srv->store, token->device_id, &error);
      if (gw != NULL)
        {
          v4 = g_strdup (gw->ipv4);
          v6 = g_strdup (gw->ipv6);
        }
    }
  else
    {
      g_autoptr (EmberStoreClient) c = ember_store_client_get (srv->store, token->device_id, &error);
      if (c != NULL)
        {
          v4 = g_strdup (c->ipv4);
          v6 = g_strdup (c->ipv6);
        }
    }
  if (v4 == NULL || !convert_tunnel (v4, v6, &a->tunnel, &error)
      || !ember_store_device_connected (srv->store, want, token->device_id, pk, ext, &error))
    {
      auth_info_free (a);
      g_warning ("%s %s: %s", gateway ? "gateway" : "client", token->device_name,
                 error ? error->message : "no tunnel address");
      refuse (msg, 503, "unavailable", "storage");
      return;
    }
  a->token = g_steal_pointer (&token);
  a->remote_host = g_strdup (host);
  a->source = g_inet_address_new_from_string (host);
  a->external_id = g_strdup (ext);
  /* Answer 101 ourselves (no extensions: permessage-deflate would keep
   * two zlib streams per connection) and take the connection once the
   * answer is out, to hand it to an I/O thread. */
  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    {
      auth_info_free (a);
      if (soup_server_message_get_status (msg) == 0)
        refuse (msg, 400, "bad_request", "not_a_websocket_handshake");
      return;
    }
  g_object_set_data_full (G_OBJECT (msg), AUTH_KEY, a, auth_info_free);
  g_signal_connect (msg, "wrote-informational", G_CALLBACK (on_upgraded), srv);
}

static void
on_upgraded (SoupServerMessage *msg, gpointer user_data)
{
  EmberPortalServer *srv = user_data;
  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;
  /* Taken once: a second 1xx would find nothing. */
  AuthInfo *a = g_object_steal_data (G_OBJECT (msg), AUTH_KEY);
  if (a == NULL)
    return;
  GUri *uri = soup_server_message_get_uri (msg);
  EmberPortalChannel channel = g_str_has_prefix (g_uri_get_path (uri), "/gateway/")
                                 ? EMBER_PORTAL_CHANNEL_GATEWAY
                                 : EMBER_PORTAL_CHANNEL_CLIENT;
  Session *s = session_new (srv, channel);
  s->device_id = g_strdup (a->token->device_id);
  s->device_name = g_strdup (a->token->device_name);
  s->token_id = g_strdup (a->token->id);
  s->site_id = g_strdup (a->token->site_id);
  s->token_expires_at = a->token->expires_at;
  s->remote_host = g_steal_pointer (&a->remote_host);
  s->source = g_steal_pointer (&a->source);
  s->external_id = g_steal_pointer (&a->external_id);
  s->revision = a->revision;
  s->public_key = a->public_key;
  s->tunnel = a->tunnel;
  g_autoptr (GIOStream) stream = soup_server_message_steal_connection (msg);
  s->conn = ember_portal_io_adopt (srv->io, stream, uri, channel, s);
  g_queue_push_tail_link (&srv->sessions, &s->link);
  srv->stats.websockets++;
  auth_info_free (a);
}

static void
on_io_event (gpointer user_data, EmberPortalIoEvent *ev)
{
  (void) user_data;
  Session *s = ember_portal_io_conn_get_data (ev->conn);
  if (s != NULL)
    session_on_event (s, ev);
}

/* ---- timers ------------------------------------------------------------- */

static void
refresh_relays (Session *s, gint64 now)
{
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_RELAYS_PRESENCE, s->channel, NULL);
  m.u.relays_presence.connected = g_new0 (EmberPortalRelay, EMBER_PORTAL_MAX_RELAYS);
  m.u.relays_presence.n_connected = session_relays (s, m.u.relays_presence.connected, now);
  session_send (s, &m);
}

static gboolean
on_sweep (gpointer user_data)
{
  EmberPortalServer *srv = user_data;
  gint64 now_us = g_get_monotonic_time ();
  gint64 now = server_unix_now ();
  gint64 timeout = 3 * srv->config->heartbeat_interval_us;
  gint64 refresh_before = srv->config->relay_credential_lifetime_us / G_USEC_PER_SEC / 4;
  GList *next = NULL;
  /* Sessions that joined together refresh their credentials together. */
  ember_portal_io_hold (srv->io);
  for (GList *l = srv->sessions.head; l != NULL; l = next)
    {
      next = l->next;
      Session *s = l->data;
      if (s->closing)
        continue;
      if (now_us - s->last_heartbeat_us > timeout)
        {
          srv->stats.heartbeat_timeouts_total++;
          g_info ("%s %s from %s: no heartbeat for %.1f s: closed",
                  ember_portal_channel_to_string (s->channel), s->device_name, s->remote_host,
                  (double) (now_us - s->last_heartbeat_us) / 1e6);
          server_unregister (srv, s);
          session_close (s, EMBER_PORTAL_CLOSE_HEARTBEAT_TIMEOUT, "heartbeat_timeout");
          continue;
        }
      if (s->token_expires_at != 0 && s->token_expires_at <= now)
        {
          srv->stats.sessions_closed_revoked_total++;
          session_disconnect (s, EMBER_PORTAL_DISCONNECT_TOKEN_EXPIRED);
          server_unregister (srv, s);
          continue;
        }
      if (s->joined && ember_portal_relays_up_count (srv->relays) > 0
          && s->relay_expires_at - now < refresh_before)
        refresh_relays (s, now);
    }
  authorize_sweep (srv, now_us, now);
  ember_portal_io_flush (srv->io);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_poll (gpointer user_data)
{
  fanout_poll (user_data);
  return G_SOURCE_CONTINUE;
}

static void
on_admin_changed (gpointer user_data)
{
  fanout_poll (user_data);
}

static void
on_relays_changed (gpointer user_data, const gint *down, const gint *up)
{
  EmberPortalServer *srv = user_data;
  srv->stats.relays_up = ember_portal_relays_up_count (srv->relays);
  gint64 now = server_unix_now ();
  ember_portal_io_hold (srv->io);
  for (GList *l = srv->sessions.head; l != NULL; l = l->next)
    {
      Session *s = l->data;
      if (!s->joined)
        continue;
      g_auto (EmberPortalMessage) m;
      ember_portal_message_init (&m, EMBER_PORTAL_EVENT_RELAYS_PRESENCE, s->channel, NULL);
      EmberPortalRelaysPresence *p = &m.u.relays_presence;
      p->disconnected_ids = g_new0 (EmberPortalId, EMBER_PORTAL_MAX_RELAYS);
      for (guint i = 0; down[i] >= 0 && p->n_disconnected_ids < EMBER_PORTAL_MAX_RELAYS; i++)
        p->disconnected_ids[p->n_disconnected_ids++] = srv->relay_ids[down[i]];
      /* `connected`: every relay up, with fresh credentials, so a client
       * replaces its list rather than merging. */
      p->connected = g_new0 (EmberPortalRelay, EMBER_PORTAL_MAX_RELAYS);
      p->n_connected = up[0] >= 0 || down[0] >= 0 ? session_relays (s, p->connected, now) : 0;
      session_send (s, &m);
    }
  ember_portal_io_flush (srv->io);
}

/* ---- set-up ------------------------------------------------------------- */

static gboolean
listen_all (EmberPortalServer *srv, GError **error)
{
  const EmberPortalServeConfig *c = srv->config;
  SoupServerListenOptions opts = 0;
  if (c->tls_certificate != NULL)
    {
      g_autoptr (GTlsCertificate) cert = g_tls_certificate_new_from_files (c->tls_certificate,
                                                                           c->tls_key, error);
      if (cert == NULL)
        {
          g_prefix_error (error, "%s: [portal] tls-certificate/tls-key: ", c->path);
          return FALSE;
        }
      soup_server_set_tls_certificate (srv->soup, cert);
      opts = SOUP_SERVER_LISTEN_HTTPS;
    }
  for (guint i = 0; c->listen[i] != NULL; i++)
    {
      g_autoptr (GInetSocketAddress) sa = ember_portal_parse_listen (c->listen[i], "listen", error);
      if (sa == NULL)
        return FALSE;
      /* Our own socket for a deep accept queue: after a restart every
       * device reconnects at once, and GSocket's default backlog of 10
       * would drop their SYNs into seconds of retransmission. */
      g_autoptr (GSocket) sock = g_socket_new (g_socket_address_get_family (G_SOCKET_ADDRESS (sa)),
                                               G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);
      if (sock != NULL)
        g_socket_set_listen_backlog (sock, LISTEN_BACKLOG);
      if (sock == NULL || !g_socket_bind (sock, G_SOCKET_ADDRESS (sa), TRUE, error)
          || !g_socket_listen (sock, error)
          || !soup_server_listen_socket (srv->soup, sock, opts, error))
        {
          g_prefix_error (error, "%s: [portal] listen %s: ", c->path, c->listen[i]);
          return FALSE;
        }
    }
  return TRUE;
}

static guint16
port_of (SoupServer *soup, guint i)
{
  GSList *listeners = soup_server_get_listeners (soup);
  GSocket *sock = g_slist_nth_data (listeners, i);
  g_slist_free (listeners);
  if (sock == NULL)
    return 0;
  g_autoptr (GSocketAddress) sa = g_socket_get_local_address (sock, NULL);
  return sa != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (sa)) : 0;
}

guint16
ember_portal_server_port (EmberPortalServer *srv, guint i)
{
  /* soup_server_get_listeners lists the newest first. */
  guint n = g_strv_length (srv->config->listen);
  return i < n ? port_of (srv->soup, n - 1 - i) : 0;
}

guint16
ember_portal_server_admin_port (EmberPortalServer *srv)
{
  return srv->admin != NULL ? port_of (srv->admin, 0) : 0;
}

guint16
ember_portal_server_metrics_port (EmberPortalServer *srv)
{
  return srv->metrics != NULL ? ember_portal_metrics_port (srv->metrics) : 0;
}

EmberPortalServer *
ember_portal_server_new (const EmberPortalServeConfig *config, GError **error)
{
  g_autoptr (EmberPortalServer) srv = g_new0 (EmberPortalServer, 1);
  srv->config = config;
  g_queue_init (&srv->sessions);
  srv->clients = g_hash_table_new (g_str_hash, g_str_equal);
  srv->gateways = g_hash_table_new (g_str_hash, g_str_equal);
  srv->site_gateways = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify) g_ptr_array_unref);
  srv->pending = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) authz_free);
  srv->authorizations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) authz_free);
  srv->resource_digests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  server_random (srv->ref_key, sizeof srv->ref_key);
  srv->join_limit = ember_portal_rate_limit_new (config->join_rate, config->join_burst,
                                                 RATE_LIMIT_MAX_KEYS);
  srv->failure_limit = ember_portal_rate_limit_new (config->auth_failure_rate,
                                                    config->auth_failure_burst,
                                                    RATE_LIMIT_MAX_KEYS);

  if (g_mkdir_with_parents (config->state_dir, 0700) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: [portal] state-dir %s: %s",
                   config->path, config->state_dir, g_strerror (errno));
      return NULL;
    }
  srv->store = ember_store_open (config->state_dir, error);
  if (srv->store == NULL || !fanout_init (srv, error) || !authorize_load (srv, error))
    return NULL;

  srv->relay_ids = g_new0 (EmberPortalId, MAX (config->n_relays, 1));
  for (guint i = 0; i < config->n_relays; i++)
    convert_relay_id (config->relays[i].name, &srv->relay_ids[i]);
  srv->relays = ember_portal_relays_new (config, on_relays_changed, srv, error);
  if (srv->relays == NULL)
    return NULL;
  srv->stats.relays = config->n_relays;

  srv->io = ember_portal_io_new (IO_THREADS, MIN (config->max_frame_size, EMBER_PORTAL_FRAME_MAX),
                                 on_io_event, srv);
  srv->soup = soup_server_new ("server-header", "ember-portal", NULL);
  /* The upgrade is ours: token check, then 101 (or a refusal); other
   * paths get 404. */
  soup_server_add_handler (srv->soup, NULL, handle_upgrade, srv, NULL);
  soup_server_add_handler (srv->soup, "/client/websocket", handle_upgrade, srv, NULL);
  soup_server_add_handler (srv->soup, "/gateway/websocket", handle_upgrade, srv, NULL);
  if (!listen_all (srv, error))
    return NULL;

  if (config->admin_listen != NULL)
    {
      g_autoptr (GInetSocketAddress) sa = ember_portal_parse_listen (config->admin_listen,
                                                                     "admin-listen", error);
      srv->admin = soup_server_new ("server-header", "ember-portal", NULL);
      /* Same storage connection and thread; a change made through it is
       * fanned out at once instead of at the next poll. */
      srv->admin_api = ember_portal_admin_attach (srv->admin, srv->store, on_admin_changed, srv);
      if (sa == NULL || !soup_server_listen (srv->admin, G_SOCKET_ADDRESS (sa), 0, error))
        {
          g_prefix_error (error, "%s: [portal] admin-listen %s: ", config->path,
                          config->admin_listen);
          return NULL;
        }
    }

  if (config->metrics_listen != NULL)
    {
      srv->metrics = ember_portal_metrics_start (config->metrics_listen, &srv->stats, error);
      if (srv->metrics == NULL)
        return NULL;
    }

  gint64 sweep = MIN (SWEEP_MAX_US, config->heartbeat_interval_us / 4);
  srv->sweep_timer = g_timeout_add ((guint) MAX (10, sweep / 1000), on_sweep, srv);
  srv->poll_timer = g_timeout_add ((guint) MAX (10, config->change_poll_us / 1000), on_poll, srv);
  return g_steal_pointer (&srv);
}

void
ember_portal_server_free (EmberPortalServer *srv)
{
  if (srv == NULL)
    return;
  if (srv->sweep_timer != 0)
    g_source_remove (srv->sweep_timer);
  if (srv->poll_timer != 0)
    g_source_remove (srv->poll_timer);
  while (srv->sessions.head != NULL)
    {
      Session *s = srv->sessions.head->data;
      if (!s->closing)
        session_disconnect (s, EMBER_PORTAL_DISCONNECT_SHUTDOWN);
      server_forget (srv, s);
      session_free (s);
    }
  /* Sends what was queued, closes the rest, joins the threads. */
  g_clear_pointer (&srv->io, ember_portal_io_free);
  if (srv->soup != NULL)
    {
      soup_server_disconnect (srv->soup);
      g_object_unref (srv->soup);
    }
  g_clear_pointer (&srv->admin_api, ember_portal_admin_free);
  if (srv->admin != NULL)
    {
      soup_server_disconnect (srv->admin);
      g_object_unref (srv->admin);
    }
  ember_portal_metrics_stop (srv->metrics);
  ember_portal_relays_free (srv->relays);
  g_free (srv->relay_ids);
  g_clear_pointer (&srv->pending, g_hash_table_unref);
  g_clear_pointer (&srv->authorizations, g_hash_table_unref);
  g_clear_pointer (&srv->resource_digests, g_hash_table_unref);
  g_clear_pointer (&srv->clients, g_hash_table_unref);
  g_clear_pointer (&srv->gateways, g_hash_table_unref);
  g_clear_pointer (&srv->site_gateways, g_hash_table_unref);
  ember_portal_rate_limit_free (srv->join_limit);
  ember_portal_rate_limit_free (srv->failure_limit);
  g_clear_pointer (&srv->access, ember_store_access_free);
  g_clear_pointer (&srv->store, ember_store_free);
  gnutls_memset (srv->ref_key, 0, sizeof srv->ref_key);
  g_free (srv);
}

/* ---- the `serve` verb --------------------------------------------------- */

static gboolean
on_signal (gpointer user_data)
{
  g_info ("signal received, stopping");
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

int
ember_portal_serve_main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *log_filter = NULL;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "The portal's configuration file",
      "FILE" },
    { "log", 0, 0, G_OPTION_ARG_STRING, &log_filter,
      "Log filter, e.g. info,ember-portal=debug [EMBER_LOG]", "FILTER" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- serve the signalling channel");
  g_option_context_set_summary (
    ctx, "Serves /client/websocket and /gateway/websocket on every [portal] listen address,\n"
         "the admin API on admin-listen and /metrics on metrics-listen, until SIGINT/SIGTERM.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("ember-portal serve: %s\n", error->message);
      return 2;
    }
  if (config_path == NULL)
    {
      g_printerr ("ember-portal serve: --config FILE is required\n");
      return 2;
    }
  if (!ember_log_init ("ember-portal", log_filter, NULL, &error))
    {
      g_printerr ("ember-portal serve: --log: %s\n", error->message);
      return 2;
    }
  g_autoptr (EmberPortalServeConfig) config = ember_portal_serve_config_load (config_path, &error);
  if (config == NULL)
    {
      g_printerr ("ember-portal serve: %s\n", error->message);
      return 1;
    }
  g_autoptr (EmberPortalServer) srv = ember_portal_server_new (config, &error);
  if (srv == NULL)
    {
      g_printerr ("ember-portal serve: %s\n", error->message);
      return 1;
    }
  for (guint i = 0; config->listen[i] != NULL; i++)
    g_message ("listening on %s://%s (port %u)", config->tls_certificate ? "wss" : "ws",
               config->listen[i], ember_portal_server_port (srv, i));
  if (srv->admin != NULL)
    g_message ("admin API on http://%s/v1 (port %u)", config->admin_listen,
               ember_portal_server_admin_port (srv));
  if (srv->metrics != NULL)
    g_message ("metrics on http://%s/metrics (port %u)", config->metrics_listen,
               ember_portal_server_metrics_port (srv));
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint sig_int = g_unix_signal_add (SIGINT, on_signal, loop);
  guint sig_term = g_unix_signal_add (SIGTERM, on_signal, loop);
  g_main_loop_run (loop);
  g_source_remove (sig_int);
  g_source_remove (sig_term);
  g_clear_pointer (&srv, ember_portal_server_free);
  ember_log_shutdown ();
  return 0;
}
