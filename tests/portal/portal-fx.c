/* tests/portal/portal-fx.c — see portal-fx.h. */
#include "portal-fx.h"

#include <glib/gstdio.h>
#include <string.h>

static gboolean
on_timeout (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
portal_fx_wait (gboolean *flag, guint timeout_ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (timeout_ms, on_timeout, &expired);
  while (!*flag && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return *flag;
}

void
portal_fx_run (guint ms)
{
  gboolean never = FALSE;
  portal_fx_wait (&never, ms);
}

char *
portal_fx_path (PortalFx *fx, const char *name)
{
  return g_build_filename (fx->dir, name, NULL);
}

static void
start (PortalFx *fx)
{
  g_autoptr (GError) error = NULL;
  fx->server = ember_portal_server_new (fx->config, &error);
  g_assert_no_error (error);
  fx->port = ember_portal_server_port (fx->server, 0);
  g_assert_cmpuint (fx->port, !=, 0);
}

void
portal_fx_setup (PortalFx *fx, const char *extra)
{
  memset (fx, 0, sizeof *fx);
  g_autoptr (GError) error = NULL;
  fx->dir = g_dir_make_tmp ("portal-server-XXXXXX", &error);
  g_assert_no_error (error);
  fx->state_dir = g_build_filename (fx->dir, "state", NULL);
  gboolean admin = extra != NULL && strstr (extra, "admin-listen=") != NULL;
  g_autofree char *text = g_strdup_printf ("[portal]\n"
                                           "listen=127.0.0.1:0\n"
                                           "state-dir=%s\n"
                                           "%s"
                                           "metrics-listen=127.0.0.1:0\n"
                                           "change-poll-interval=0.05\n"
                                           "%s",
                                           fx->state_dir, admin ? "" : "admin-listen=\n",
                                           extra ? extra : "");
  g_autofree char *conf = portal_fx_path (fx, "portal.conf");
  g_file_set_contents (conf, text, -1, &error);
  g_assert_no_error (error);
  fx->config = ember_portal_serve_config_load (conf, &error);
  g_assert_no_error (error);
  start (fx);
  /* The server created the database; the test writes it through its own
   * connection, as `ember-portal apply` would from another process. */
  fx->store = ember_store_open (fx->state_dir, &error);
  g_assert_no_error (error);
  fx->http = soup_session_new ();
}

void
portal_fx_stop (PortalFx *fx)
{
  g_clear_pointer (&fx->server, ember_portal_server_free);
  portal_fx_run (50);
}

void
portal_fx_start (PortalFx *fx)
{
  start (fx);
}

void
portal_fx_restart (PortalFx *fx)
{
  portal_fx_stop (fx);
  start (fx);
}

static void
remove_tree (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  if (d != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      g_dir_close (d);
    }
  g_remove (path);
}

void
portal_fx_teardown (PortalFx *fx)
{
  g_clear_pointer (&fx->server, ember_portal_server_free);
  g_clear_pointer (&fx->store, ember_store_free);
  g_clear_pointer (&fx->config, ember_portal_serve_config_free);
  g_clear_object (&fx->http);
  portal_fx_run (20);
  if (fx->dir != NULL)
    remove_tree (fx->dir);
  g_free (fx->dir);
  g_free (fx->state_dir);
}

void
portal_fx_model (PortalFx *fx, char **client_token, char **gateway_token)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_store_site_put (fx->store, "home", "test", &error));
  g_assert_no_error (error);
  EmberStoreResource web = { 0 };
  web.name = (char *) "web";
  web.type = EMBER_STORE_RESOURCE_CIDR;
  web.address = (char *) "10.20.0.0/24";
  web.site_name = (char *) "home";
  web.filters = g_array_new (FALSE, TRUE, sizeof (EmberStoreFilter));
  EmberStoreFilter tcp = { EMBER_STORE_PROTOCOL_TCP, 80, 80 };
  EmberStoreFilter icmp = { EMBER_STORE_PROTOCOL_ICMP, 0, 0 };
  g_array_append_val (web.filters, tcp);
  g_array_append_val (web.filters, icmp);
  g_assert_true (ember_store_resource_put (fx->store, &web, "test", &error));
  g_assert_no_error (error);
  g_array_unref (web.filters);
  *client_token = ember_store_token_create (fx->store, EMBER_STORE_DEVICE_CLIENT, "laptop", NULL,
                                            0, "test", NULL, &error);
  g_assert_no_error (error);
  if (gateway_token != NULL)
    {
      *gateway_token = ember_store_token_create (fx->store, EMBER_STORE_DEVICE_GATEWAY, "gw1",
                                                 "home", 0, "test", NULL, &error);
      g_assert_no_error (error);
    }
  const char *members[] = { "laptop", NULL };
  g_assert_true (ember_store_group_put (fx->store, "staff", members, "test", &error));
  g_assert_no_error (error);
  EmberStorePolicy p = { 0 };
  p.group_name = (char *) "staff";
  p.resource_name = (char *) "web";
  g_assert_true (ember_store_policy_put (fx->store, &p, "test", &error));
  g_assert_no_error (error);
}

char *
portal_fx_resource_id (PortalFx *fx, const char *name)
{
  g_autoptr (GPtrArray) list = ember_store_list_resources (fx->store, NULL);
  for (guint i = 0; list != NULL && i < list->len; i++)
    {
      EmberStoreResource *r = g_ptr_array_index (list, i);
      if (strcmp (r->name, name) == 0)
        return g_strdup (r->id);
    }
  return NULL;
}

char *
portal_fx_client_id (PortalFx *fx, const char *name)
{
  g_autoptr (EmberStoreClient) c = ember_store_client_get_by_name (fx->store, name, NULL);
  return c != NULL ? g_strdup (c->id) : NULL;
}

/* ---- peers ----------------------------------------------------------------- */

void
portal_message_free (EmberPortalMessage *msg)
{
  if (msg == NULL)
    return;
  ember_portal_message_clear (msg);
  g_free (msg);
}

static void
on_message (SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer user_data)
{
  (void) ws;
  PortalPeer *p = user_data;
  g_assert_cmpint (type, ==, SOUP_WEBSOCKET_DATA_TEXT);
  gsize len = 0;
  const char *text = g_bytes_get_data (bytes, &len);
  EmberPortalMessage *msg = g_new0 (EmberPortalMessage, 1);
  g_autoptr (GError) error = NULL;
  if (!ember_portal_message_parse (text, len, p->channel, EMBER_PORTAL_FROM_PORTAL, msg, &error))
    g_error ("the portal sent a frame its own codec refuses: %s: %.*s", error->message,
             (int) MIN (len, 400), text);
  g_queue_push_tail (&p->inbox, msg);
}

static void
on_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  PortalPeer *p = user_data;
  p->closed = TRUE;
  p->close_code = soup_websocket_connection_get_close_code (ws);
  p->close_reason = g_strdup (soup_websocket_connection_get_close_data (ws));
}

typedef struct {
  gboolean done;
  SoupWebsocketConnection *ws;
  GError *error;
} Connect;

static void
on_connected (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Connect *c = user_data;
  c->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), res, &c->error);
  c->done = TRUE;
}

PortalPeer *
portal_peer_connect (PortalFx *fx, EmberPortalChannel channel, const char *token,
                     const char *external_id, guint *status)
{
  PortalPeer *p = g_new0 (PortalPeer, 1);
  p->fx = fx;
  p->channel = channel;
  g_queue_init (&p->inbox);
  guint8 key[32];
  for (guint i = 0; i < sizeof key; i++)
    key[i] = (guint8) g_random_int ();
  p->public_key = g_base64_encode (key, sizeof key);
  g_autofree char *pk = g_uri_escape_string (p->public_key, NULL, FALSE);
  g_autofree char *vsn = fx->peer_vsn == NULL ? g_strdup_printf ("&vsn=%d", EMBER_PORTAL_REVISION)
                         : *fx->peer_vsn != '\0' ? g_strdup_printf ("&vsn=%s", fx->peer_vsn)
                                                : g_strdup ("");
  g_autofree char *uri = g_strdup_printf (
    "ws://127.0.0.1:%u/%s/websocket?public_key=%s&external_id=%s%s", fx->port,
    channel == EMBER_PORTAL_CHANNEL_CLIENT ? "client" : "gateway", pk, external_id, vsn);
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", uri);
  if (token != NULL)
    {
      g_autofree char *auth = g_strdup_printf ("Bearer %s", token);
      soup_message_headers_append (soup_message_get_request_headers (msg), "Authorization", auth);
    }
  Connect c = { 0 };
  soup_session_websocket_connect_async (fx->http, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        on_connected, &c);
  portal_fx_wait (&c.done, 2000);
  g_assert_true (c.done);
  if (status != NULL)
    *status = soup_message_get_status (msg);
  if (c.ws == NULL)
    {
      g_clear_error (&c.error);
      portal_peer_free (p);
      return NULL;
    }
  p->ws = c.ws;
  g_signal_connect (p->ws, "message", G_CALLBACK (on_message), p);
  g_signal_connect (p->ws, "closed", G_CALLBACK (on_closed), p);
  return p;
}

PortalPeer *
portal_peer_join (PortalFx *fx, EmberPortalChannel channel, const char *token,
                  const char *external_id)
{
  PortalPeer *p = portal_peer_connect (fx, channel, token, external_id, NULL);
  g_assert_nonnull (p);
  g_auto (EmberPortalMessage) join;
  ember_portal_message_init (&join, EMBER_PORTAL_EVENT_PHX_JOIN, channel, NULL);
  g_autofree char *ref = g_strdup (portal_peer_send (p, &join));
  g_autoptr (EmberPortalMessage) reply = portal_peer_expect (p, EMBER_PORTAL_EVENT_PHX_REPLY, 2000);
  g_assert_nonnull (reply);
  g_assert_cmpstr (reply->ref, ==, ref);
  g_assert_cmpint (reply->u.reply.status, ==, EMBER_PORTAL_REPLY_OK);
  /* init follows the reply at once */
  EmberPortalEvent init = channel == EMBER_PORTAL_CHANNEL_CLIENT ? EMBER_PORTAL_EVENT_CLIENT_INIT
                                                                 : EMBER_PORTAL_EVENT_GATEWAY_INIT;
  gboolean seen = FALSE;
  for (int i = 0; i < 200 && !seen; i++)
    {
      for (GList *l = p->inbox.head; l != NULL; l = l->next)
        seen = seen || ((EmberPortalMessage *) l->data)->event == init;
      if (!seen)
        portal_fx_run (10);
    }
  g_assert_true (seen);
  return p;
}

void
portal_peer_free (PortalPeer *p)
{
  if (p == NULL)
    return;
  if (p->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (p->ws, p);
      if (soup_websocket_connection_get_state (p->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (p->ws, 1000, NULL);
      g_object_unref (p->ws);
    }
  g_queue_clear_full (&p->inbox, (GDestroyNotify) portal_message_free);
  g_free (p->close_reason);
  g_free (p->public_key);
  g_free (p);
}

const char *
portal_peer_send (PortalPeer *p, EmberPortalMessage *msg)
{
  if (msg->ref == NULL)
    msg->ref = g_strdup_printf ("%u", ++p->next_ref);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = ember_portal_message_build (msg, p->channel, NULL, &error);
  g_assert_no_error (error);
  soup_websocket_connection_send_text (p->ws, text);
  return msg->ref;
}

void
portal_peer_send_text (PortalPeer *p, const char *text)
{
  soup_websocket_connection_send_text (p->ws, text);
}

EmberPortalMessage *
portal_peer_expect (PortalPeer *p, EmberPortalEvent event, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      for (GList *l = p->inbox.head; l != NULL; l = l->next)
        {
          EmberPortalMessage *m = l->data;
          if (m->event == event)
            {
              g_queue_delete_link (&p->inbox, l);
              return m;
            }
        }
      if (g_get_monotonic_time () >= deadline)
        return NULL;
      portal_fx_run (5);
    }
}

gushort
portal_peer_wait_closed (PortalPeer *p, guint timeout_ms)
{
  portal_fx_wait (&p->closed, timeout_ms);
  return p->closed ? p->close_code : 0;
}

typedef struct {
  gboolean done;
  GBytes *bytes;
  GError *error;
} Get;

static void
on_read (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Get *g = user_data;
  g->bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), res, &g->error);
  g->done = TRUE;
}

guint
portal_fx_request (PortalFx *fx, const char *method, guint16 port, const char *path,
                   const char *authorization, const char *body_in, char **body)
{
  /* Asynchronous: the server answers from this thread's main loop. */
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  g_autoptr (SoupMessage) msg = soup_message_new (method, uri);
  if (authorization != NULL)
    soup_message_headers_append (soup_message_get_request_headers (msg), "Authorization",
                                 authorization);
  if (body_in != NULL)
    {
      g_autoptr (GBytes) b = g_bytes_new (body_in, strlen (body_in));
      soup_message_set_request_body_from_bytes (msg, "application/json", b);
    }
  Get g = { 0 };
  soup_session_send_and_read_async (fx->http, msg, G_PRIORITY_DEFAULT, NULL, on_read, &g);
  portal_fx_wait (&g.done, 5000);
  g_assert_true (g.done);
  g_assert_no_error (g.error);
  if (body != NULL)
    *body = g_strndup (g_bytes_get_data (g.bytes, NULL), g_bytes_get_size (g.bytes));
  g_bytes_unref (g.bytes);
  return soup_message_get_status (msg);
}

guint
portal_fx_get (PortalFx *fx, guint16 port, const char *path, const char *authorization,
               char **body)
{
  return portal_fx_request (fx, "GET", port, path, authorization, NULL, body);
}
