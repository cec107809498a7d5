/* tests/portal/session-fakes.c — see session-fakes.h. */
#include "session-fakes.h"
#include "portal-fx.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

static char *
read_request (GInputStream *in)
{
  GString *s = g_string_new (NULL);
  char c;
  while (s->len < 8192 && !g_str_has_suffix (s->str, "\r\n\r\n")
         && g_input_stream_read (in, &c, 1, NULL, NULL) == 1)
    g_string_append_c (s, c);
  return g_string_free (s, FALSE);
}

static char *
accept_for (const char *request)
{
  const char *k = strstr (request, "Sec-WebSocket-Key: ");
  g_assert_nonnull (k);
  k += strlen ("Sec-WebSocket-Key: ");
  g_autofree char *key = g_strndup (k, strcspn (k, "\r\n"));
  g_autofree char *concat = g_strconcat (key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", NULL);
  guint8 digest[20];
  gsize len = sizeof digest;
  g_autoptr (GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  g_checksum_update (sha1, (const guchar *) concat, -1);
  g_checksum_get_digest (sha1, digest, &len);
  return g_base64_encode (digest, len);
}

static gboolean
on_raw_run (GThreadedSocketService *service, GSocketConnection *conn, GObject *source,
            gpointer user_data)
{
  (void) service;
  (void) source;
  RawServer *raw = user_data;
  g_atomic_int_inc (&raw->connections);
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  g_autofree char *request = read_request (in);
  g_autofree char *accept = accept_for (request);
  g_autofree char *upgrade = g_strdup_printf ("HTTP/1.1 101 Switching Protocols\r\n"
                                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                              "Sec-WebSocket-Accept: %s\r\n\r\n",
                                              raw->mode == RAW_BAD_ACCEPT ? "AAAA" : accept);
  switch (raw->mode)
    {
    case RAW_NOT_HTTP:
      g_output_stream_write_all (out, "SSH-2.0-OpenSSH_9.2\r\n", 21, NULL, NULL, NULL);
      break;
    case RAW_HTTP_NO_END:
      g_output_stream_write_all (out, "HTTP/1.1 200 OK\r\nContent-", 25, NULL, NULL, NULL);
      break;
    case RAW_BAD_ACCEPT:
      g_output_stream_write_all (out, upgrade, strlen (upgrade), NULL, NULL, NULL);
      break;
    case RAW_INVALID_FRAME:
      {
        g_output_stream_write_all (out, upgrade, strlen (upgrade), NULL, NULL, NULL);
        /* FIN + RSV1..3 + opcode 0xB (reserved), length 2 */
        static const guint8 frame[] = { 0xfb, 0x02, 'h', 'i' };
        g_output_stream_write_all (out, frame, sizeof frame, NULL, NULL, NULL);
        char sink[256];
        /* until the client gives up */
        while (g_input_stream_read (in, sink, sizeof sink, NULL, NULL) > 0)
          ;
      }
      break;
    case RAW_CLOSE_MID_FRAME:
      {
        g_output_stream_write_all (out, upgrade, strlen (upgrade), NULL, NULL, NULL);
        /* a text frame announcing 256 bytes, of which 10 come */
        static const guint8 frame[] = { 0x81, 0x7e, 0x01, 0x00, '{', '"', 't', 'o', 'p',
                                        'i', 'c', '"', ':', '"' };
        g_output_stream_write_all (out, frame, sizeof frame, NULL, NULL, NULL);
        g_usleep (20 * 1000);
      }
      break;
    case RAW_SILENT:
      {
        char sink[256];
        GSocket *sock = g_socket_connection_get_socket (conn);
        g_socket_set_timeout (sock, 3);
        while (g_input_stream_read (in, sink, sizeof sink, NULL, NULL) > 0)
          ;
      }
      break;
    }
  g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
  return TRUE;
}

void
raw_start (RawServer *raw, RawMode mode)
{
  memset (raw, 0, sizeof *raw);
  raw->mode = mode;
  raw->service = g_threaded_socket_service_new (4);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;
  g_socket_listener_add_address (G_SOCKET_LISTENER (raw->service), any, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  raw->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (raw->service, "run", G_CALLBACK (on_raw_run), raw);
  g_socket_service_start (raw->service);
}

void
raw_stop (RawServer *raw)
{
  g_socket_service_stop (raw->service);
  g_socket_listener_close (G_SOCKET_LISTENER (raw->service));
  g_clear_object (&raw->service);   /* waits for its threads */
}

static gboolean
close_later (gpointer data)
{
  SoupWebsocketConnection *ws = data;
  if (soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (ws, 1001, "shutdown");
  return G_SOURCE_REMOVE;
}

/* The client's frames may still arrive after this side began to close. */
static void
fake_send (SoupWebsocketConnection *ws, const char *text)
{
  if (soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_text (ws, text);
}

static void
fake_ws_message (SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer user_data)
{
  FakePortal *fp = user_data;
  (void) type;
  gsize len = 0;
  const char *text = g_bytes_get_data (bytes, &len);
  g_auto (EmberPortalMessage) in = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_portal_message_parse (text, len, EMBER_PORTAL_CHANNEL_CLIENT,
                                             EMBER_PORTAL_TO_PORTAL, &in, &error));
  if (in.event == EMBER_PORTAL_EVENT_HEARTBEAT && strcmp (fp->ws_mode, "no-heartbeat-reply") != 0)
    {
      g_auto (EmberPortalMessage) hb;
      ember_portal_message_init (&hb, EMBER_PORTAL_EVENT_PHX_REPLY, EMBER_PORTAL_CHANNEL_CLIENT,
                                 in.ref);
      hb.topic = EMBER_PORTAL_TOPIC_PHOENIX;
      g_autofree char *t = ember_portal_message_build (&hb, EMBER_PORTAL_CHANNEL_CLIENT, NULL, &error);
      g_assert_no_error (error);
      fake_send (ws, t);
      return;
    }
  if (in.event != EMBER_PORTAL_EVENT_PHX_JOIN)
    return;
  if (strcmp (fp->ws_mode, "bad-json") == 0)
    {
      fake_send (ws, "{\"topic\":\"client\",");
      return;
    }
  if (strcmp (fp->ws_mode, "binary") == 0)
    {
      soup_websocket_connection_send_binary (ws, "\x01\x02", 2);
      return;
    }
  if (strcmp (fp->ws_mode, "close-4029") == 0)
    {
      soup_websocket_connection_close (ws, 4029, "rate_limited");
      return;
    }
  g_auto (EmberPortalMessage) reply;
  ember_portal_message_init (&reply, EMBER_PORTAL_EVENT_PHX_REPLY, EMBER_PORTAL_CHANNEL_CLIENT,
                             in.ref);
  if (strcmp (fp->ws_mode, "join-error") == 0)
    {
      reply.u.reply.status = EMBER_PORTAL_REPLY_ERROR;
      reply.u.reply.reason = EMBER_PORTAL_REPLY_REASON_INTERNAL;
      reply.u.reply.message = g_strdup ("storage failed");
    }
  g_autofree char *t = ember_portal_message_build (&reply, EMBER_PORTAL_CHANNEL_CLIENT, NULL, &error);
  g_assert_no_error (error);
  fake_send (ws, t);
  if (strcmp (fp->ws_mode, "join-error") == 0)
    return;
  g_auto (EmberPortalMessage) init;
  ember_portal_message_init (&init, EMBER_PORTAL_EVENT_CLIENT_INIT, EMBER_PORTAL_CHANNEL_CLIENT,
                             NULL);
  ember_addr_parse ("100.64.0.2", &init.u.client_init.iface.ipv4, NULL);
  ember_addr_parse ("fd00:2021:1111::2", &init.u.client_init.iface.ipv6, NULL);
  g_autofree char *it = ember_portal_message_build (&init, EMBER_PORTAL_CHANNEL_CLIENT, NULL, &error);
  g_assert_no_error (error);
  fake_send (ws, it);
  if (strcmp (fp->ws_mode, "flap") == 0)
    {
      if (fp->n_ws != fp->hold)
        close_later (ws);
      else
        g_timeout_add_full (G_PRIORITY_DEFAULT, fp->hold_ms, close_later, g_object_ref (ws),
                            g_object_unref);
    }
}

static void
fake_ws (SoupServer *server, SoupServerMessage *msg, const char *path,
         SoupWebsocketConnection *ws, gpointer user_data)
{
  (void) server;
  (void) msg;
  (void) path;
  FakePortal *fp = user_data;
  g_ptr_array_add (fp->sockets, g_object_ref (ws));
  fp->n_ws++;
  g_signal_connect (ws, "message", G_CALLBACK (fake_ws_message), fp);
}

static void
fake_http (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
           gpointer user_data)
{
  (void) server;
  (void) path;
  (void) query;
  FakePortal *fp = user_data;
  if (fp->n_attempts < 8)
    fp->attempt_times[fp->n_attempts] = g_get_monotonic_time ();
  fp->n_attempts++;
  if (fp->status == 0)
    return;   /* the WebSocket handler answers */
  soup_server_message_set_status (msg, fp->status, NULL);
  if (fp->retry_after != NULL)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                  fp->retry_after);
  const char *body = fp->status == 200 ? "<html>hello</html>"
                                       : "{\"error\":\"unavailable\",\"reason\":\"storage\"}";
  soup_server_message_set_response (msg, fp->status == 200 ? "text/html" : "application/json",
                                    SOUP_MEMORY_STATIC, body, strlen (body));
}

void
fake_start (FakePortal *fp, guint status, const char *retry_after, const char *ws_mode)
{
  g_assert_true (fake_start_on (fp, G_SOCKET_FAMILY_IPV4, status, retry_after, ws_mode));
}

gboolean
fake_start_on (FakePortal *fp, GSocketFamily family, guint status, const char *retry_after,
               const char *ws_mode)
{
  memset (fp, 0, sizeof *fp);
  fp->status = status;
  fp->retry_after = retry_after;
  fp->ws_mode = ws_mode;
  fp->sockets = g_ptr_array_new_with_free_func (g_object_unref);
  fp->attempt_times = g_new0 (gint64, 8);
  fp->server = soup_server_new (NULL, NULL);
  soup_server_add_early_handler (fp->server, NULL, fake_http, fp, NULL);
  if (status == 0)
    soup_server_add_websocket_handler (fp->server, "/client/websocket", NULL, NULL, fake_ws, fp,
                                       NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (family);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr (GError) error = NULL;
  if (!soup_server_listen (fp->server, addr, 0, &error))
    {
      /* a machine without IPv6 loopback */
      g_assert_true (family == G_SOCKET_FAMILY_IPV6);
      fake_stop (fp);
      return FALSE;
    }
  GSList *uris = soup_server_get_uris (fp->server);
  fp->port = (guint16) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return TRUE;
}

void
fake_stop (FakePortal *fp)
{
  soup_server_disconnect (fp->server);
  g_clear_object (&fp->server);
  g_ptr_array_unref (fp->sockets);
  g_free (fp->attempt_times);
  portal_fx_run (20);
}

/* A self-signed certificate for `dns_name` and, when `ip` is set, that
 * address; written as PEM to dir/NAME.crt and dir/NAME.key. */
void
write_certificate (const char *dir, const char *name, const char *dns_name, const char *ip)
{
  gnutls_x509_privkey_t key;
  gnutls_x509_crt_t crt;
  g_assert_cmpint (gnutls_x509_privkey_init (&key), ==, 0);
  g_assert_cmpint (gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA,
                                                 GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
                   ==, 0);
  g_assert_cmpint (gnutls_x509_crt_init (&crt), ==, 0);
  time_t now = time (NULL);
  static const guint8 serial[] = { 0x01, 0x23, 0x45 };
  g_assert_cmpint (gnutls_x509_crt_set_version (crt, 3), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_serial (crt, serial, sizeof serial), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_activation_time (crt, now - 3600), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_expiration_time (crt, now + 86400), ==, 0);
  g_autofree char *dn = g_strdup_printf ("CN=%s", dns_name);
  g_assert_cmpint (gnutls_x509_crt_set_dn (crt, dn, NULL), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_key (crt, key), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, dns_name,
                                                         (unsigned) strlen (dns_name),
                                                         GNUTLS_FSAN_APPEND),
                   ==, 0);
  if (ip != NULL)
    {
      guint8 addr[4];
      g_assert_cmpint (inet_pton (AF_INET, ip, addr), ==, 1);
      g_assert_cmpint (gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS, addr,
                                                             sizeof addr, GNUTLS_FSAN_APPEND),
                       ==, 0);
    }
  /* its own trust anchor */
  g_assert_cmpint (gnutls_x509_crt_set_basic_constraints (crt, 1, -1), ==, 0);
  g_assert_cmpint (gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE
                                                         | GNUTLS_KEY_KEY_CERT_SIGN),
                   ==, 0);
  g_assert_cmpint (gnutls_x509_crt_sign2 (crt, crt, key, GNUTLS_DIG_SHA256, 0), ==, 0);
  gnutls_datum_t pem = { 0 };
  g_assert_cmpint (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
  g_autofree char *crt_path = g_strdup_printf ("%s/%s.crt", dir, name);
  g_assert_true (g_file_set_contents (crt_path, (const char *) pem.data, pem.size, NULL));
  gnutls_free (pem.data);
  g_assert_cmpint (gnutls_x509_privkey_export2 (key, GNUTLS_X509_FMT_PEM, &pem), ==, 0);
  g_autofree char *key_path = g_strdup_printf ("%s/%s.key", dir, name);
  g_assert_true (g_file_set_contents (key_path, (const char *) pem.data, pem.size, NULL));
  gnutls_free (pem.data);
  gnutls_x509_crt_deinit (crt);
  gnutls_x509_privkey_deinit (key);
}

