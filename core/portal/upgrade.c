/* portal/upgrade.c — see upgrade.h. */
#include "portal/upgrade.h"
#include "portal/session.h"
#include "ember-build-config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

/* RFC 6455 §1.3 */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef struct {
  EmberPortalUpgradeRequest req;
  GSocketClient *client;
  GIOStream *stream;
  char *request;          /* holds the token: wiped */
  gsize request_len;
  char *accept;           /* the Sec-WebSocket-Accept we expect */
  GByteArray *head;
  guint8 byte;
  guint status;
  char *reason_phrase;
  SoupMessageHeaders *headers;
  guint8 *body;
  gsize body_len;
  GTlsCertificateFlags tls_errors;  /* why the certificate was refused */
} Upgrade;

static void
wipe_string (char *s)
{
  if (s != NULL)
    explicit_bzero (s, strlen (s));
}

void
ember_portal_upgrade_request_free (EmberPortalUpgradeRequest *req)
{
  if (req == NULL)
    return;
  g_free (req->host);
  g_clear_object (&req->tls_database);
  g_free (req->path);
  g_free (req->host_header);
  wipe_string (req->token);
  g_free (req->token);
  memset (req, 0, sizeof *req);
}

static void
upgrade_free (gpointer data)
{
  Upgrade *u = data;
  ember_portal_upgrade_request_free (&u->req);
  g_clear_object (&u->client);
  g_clear_object (&u->stream);
  if (u->request != NULL)
    explicit_bzero (u->request, u->request_len);
  g_free (u->request);
  g_free (u->accept);
  if (u->head != NULL)
    g_byte_array_unref (u->head);
  g_free (u->reason_phrase);
  g_clear_pointer (&u->headers, soup_message_headers_unref);
  g_free (u->body);
  g_free (u);
}

/* What a person reads: printable ASCII, at most `max` bytes. */
static char *
printable (const guint8 *data, gsize len, gsize max)
{
  GString *s = g_string_new (NULL);
  for (gsize i = 0; i < len && i < max; i++)
    {
      if (data[i] >= 0x20 && data[i] < 0x7f)
        g_string_append_c (s, (char) data[i]);
      else
        g_string_append_printf (s, "\\x%02x", data[i]);
    }
  if (len > max)
    g_string_append (s, "…");
  return g_string_free (s, FALSE);
}

static void
fail (GTask *task, EmberPortalSessionError code, gint64 retry_after_us, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static void
fail (GTask *task, EmberPortalSessionError code, gint64 retry_after_us, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_task_set_task_data (task, g_memdup2 (&retry_after_us, sizeof retry_after_us), g_free);
  g_task_return_new_error (task, EMBER_PORTAL_SESSION_ERROR, (gint) code, "%s", text);
  g_object_unref (task);
}

static void
fail_io (GTask *task, const char *doing, GError *error)
{
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  EmberPortalSessionError code = error->domain == G_TLS_ERROR ? EMBER_PORTAL_SESSION_ERROR_TLS
                                                              : EMBER_PORTAL_SESSION_ERROR_NETWORK;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_autofree char *why = NULL;
  if (code == EMBER_PORTAL_SESSION_ERROR_TLS && u->tls_errors != 0)
    {
      GTlsCertificateFlags f = u->tls_errors;
      GString *w = g_string_new (" (the certificate");
      static const struct {
        GTlsCertificateFlags flags;
        const char *text;
      } reasons[] = {
        { G_TLS_CERTIFICATE_UNKNOWN_CA, "is not issued by a trusted authority" },
        { G_TLS_CERTIFICATE_BAD_IDENTITY, "does not name this host" },
        { G_TLS_CERTIFICATE_NOT_ACTIVATED | G_TLS_CERTIFICATE_EXPIRED,
          "is outside its validity period" },
        { G_TLS_CERTIFICATE_REVOKED, "is revoked" },
        { G_TLS_CERTIFICATE_INSECURE, "uses an insecure algorithm" },
        { G_TLS_CERTIFICATE_GENERIC_ERROR, "is unusable" },
      };
      const char *sep = " ";
      for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
        if (f & reasons[i].flags)
          {
            g_string_append_printf (w, "%s%s", sep, reasons[i].text);
            sep = ", ";
          }
      g_string_append_c (w, ')');
      why = g_string_free (w, FALSE);
    }
  fail (task, code, 0, "%s %s:%u: %s%s", doing, u->req.host, u->req.port, error->message,
        why != NULL ? why : "");
  g_error_free (error);
}

/* Reads from the connection. Called from callbacks, where the context
 * being iterated need not be the thread-default one that GIO attaches
 * its sources to: the task's context is pushed for the call. */
static void
read_async (GTask *task, void *buf, gsize len, gboolean all, GAsyncReadyCallback cb)
{
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  GInputStream *in = g_io_stream_get_input_stream (u->stream);
  GMainContext *ctx = g_task_get_context (task);
  g_main_context_push_thread_default (ctx);
  if (all)
    g_input_stream_read_all_async (in, buf, len, G_PRIORITY_DEFAULT, g_task_get_cancellable (task),
                                   cb, task);
  else
    g_input_stream_read_async (in, buf, len, G_PRIORITY_DEFAULT, g_task_get_cancellable (task), cb,
                               task);
  g_main_context_pop_thread_default (ctx);
}

gint64
ember_portal_upgrade_parse_retry_after (const char *value, gint64 now_unix)
{
  if (value == NULL)
    return 0;
  while (*value == ' ' || *value == '\t')
    value++;
  if (g_ascii_isdigit (*value))
    {
      g_autofree char *digits = g_strchomp (g_strdup (value));
      guint64 secs = 0;
      if (!g_ascii_string_to_unsigned (digits, 10, 0, G_MAXINT32, &secs, NULL))
        return 0;
      return (gint64) secs * G_USEC_PER_SEC;
    }
  g_autoptr (GDateTime) when = soup_date_time_new_from_http_string (value);
  if (when == NULL)
    return 0;
  gint64 delta = g_date_time_to_unix (when) - now_unix;
  return delta > 0 ? delta * G_USEC_PER_SEC : 0;
}

/* A refusal: {"error": "unauthorized", "reason": "expired_token"} from
 * the portal; anything else (a proxy's HTML page) is shown shortened. */
static void
refused (GTask *task)
{
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  g_autofree char *reason = NULL;
  g_autofree char *what = NULL;
  if (u->body_len > 0)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      if (json_parser_load_from_data (parser, (const char *) u->body, (gssize) u->body_len, NULL)
          && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        {
          JsonObject *o = json_node_get_object (json_parser_get_root (parser));
          const char *r = json_object_has_member (o, "reason")
                            ? json_object_get_string_member_with_default (o, "reason", NULL)
                            : NULL;
          const char *e = json_object_has_member (o, "error")
                            ? json_object_get_string_member_with_default (o, "error", NULL)
                            : NULL;
          if (r != NULL)
            reason = printable ((const guint8 *) r, strlen (r), 64);
          if (e != NULL)
            what = printable ((const guint8 *) e, strlen (e), 64);
        }
      if (reason == NULL && what == NULL)
        what = printable (u->body, u->body_len, 80);
    }
  gint64 retry_after = ember_portal_upgrade_parse_retry_after (
    soup_message_headers_get_one (u->headers, "Retry-After"), g_get_real_time () / G_USEC_PER_SEC);
  g_autofree char *phrase = printable ((const guint8 *) u->reason_phrase,
                                       strlen (u->reason_phrase), 64);
  g_autofree char *detail = NULL;
  if (reason != NULL && what != NULL)
    detail = g_strdup_printf (" (%s: %s)", what, reason);
  else if (reason != NULL || what != NULL)
    detail = g_strdup_printf (" (%s)", reason != NULL ? reason : what);
  else
    detail = g_strdup ("");

  if (u->status == SOUP_STATUS_UNAUTHORIZED)
    fail (task, EMBER_PORTAL_SESSION_ERROR_UNAUTHORIZED, 0, "the portal rejected the token (%s)",
          reason != NULL ? reason : "unauthorized");
  else if (u->status == 429)
    fail (task, EMBER_PORTAL_SESSION_ERROR_RATE_LIMITED, retry_after,
          "the portal refused the connection: %u %s%s", u->status, phrase, detail);
  else
    fail (task, EMBER_PORTAL_SESSION_ERROR_HTTP, retry_after,
          "the portal answered %u %s instead of a WebSocket upgrade%s", u->status, phrase, detail);
}

static void
on_body (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  GError *error = NULL;
  gsize n = 0;
  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), res, &n, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, error);
          g_object_unref (task);
          return;
        }
      /* the status says enough */
      g_clear_error (&error);
    }
  u->body_len = n;
  refused (task);
}

static gboolean
check_101 (GTask *task)
{
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  const char *accept = soup_message_headers_get_one (u->headers, "Sec-WebSocket-Accept");
  if (!soup_message_headers_header_contains (u->headers, "Upgrade", "websocket")
      || !soup_message_headers_header_contains (u->headers, "Connection", "upgrade"))
    {
      fail (task, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, 0,
            "the portal answered 101 without \"Upgrade: websocket\" and \"Connection: Upgrade\"");
      return FALSE;
    }
  if (accept == NULL || strcmp (accept, u->accept) != 0)
    {
      fail (task, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, 0,
            "the portal answered 101 with a wrong Sec-WebSocket-Accept");
      return FALSE;
    }
  /* We offered no extension and no subprotocol (RFC 6455 §4.1, 5 and 6). */
  if (soup_message_headers_get_one (u->headers, "Sec-WebSocket-Extensions") != NULL
      || soup_message_headers_get_one (u->headers, "Sec-WebSocket-Protocol") != NULL)
    {
      fail (task, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, 0,
            "the portal answered 101 with an extension or subprotocol that was not offered");
      return FALSE;
    }
  return TRUE;
}

static void
head_done (GTask *task)
{
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  u->headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  SoupHTTPVersion version;
  if (!soup_headers_parse_response ((const char *) u->head->data, (int) u->head->len, u->headers,
                                    &version, &u->status, &u->reason_phrase))
    {
      g_autofree char *shown = printable (u->head->data, u->head->len, 80);
      fail (task, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, 0,
            "the portal's answer is not an HTTP response: \"%s\"", shown);
      return;
    }
  if (u->reason_phrase == NULL)
    u->reason_phrase = g_strdup ("");
  if (u->status == SOUP_STATUS_SWITCHING_PROTOCOLS)
    {
      if (check_101 (task))
        {
          g_task_return_pointer (task, g_object_ref (u->stream), g_object_unref);
          g_object_unref (task);
        }
      return;
    }
  goffset len = soup_message_headers_get_content_length (u->headers);
  if (soup_message_headers_get_encoding (u->headers) != SOUP_ENCODING_CONTENT_LENGTH || len <= 0
      || len > EMBER_PORTAL_UPGRADE_BODY_MAX)
    {
      refused (task);
      return;
    }
  u->body = g_malloc ((gsize) len + 1);
  u->body[len] = 0;
  read_async (task, u->body, (gsize) len, TRUE, on_body);
}

static void read_byte (GTask *task);

static void
on_not_http (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_clear_error (&error);
  if (n > 0)
    g_byte_array_append (u->head, u->body, (guint) n);
  g_autofree char *shown = printable (u->head->data, u->head->len, 48);
  fail (task, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, 0,
        "the portal's answer is not HTTP: it starts with \"%s\"", shown);
}

static void
on_byte (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);
  if (n < 0)
    {
      fail_io (task, "reading the answer of", error);
      return;
    }
  if (n == 0)
    {
      if (u->head->len == 0)
        fail (task, EMBER_PORTAL_SESSION_ERROR_NETWORK, 0,
              "%s:%u closed the connection without answering", u->req.host, u->req.port);
      else
        {
          g_autofree char *shown = printable (u->head->data, u->head->len, 80);
          fail (task, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, 0,
                "%s:%u closed the connection in the middle of its answer: \"%s\"", u->req.host,
                u->req.port, shown);
        }
      return;
    }
  g_byte_array_append (u->head, &u->byte, 1);
  const guint8 *h = u->head->data;
  guint len = u->head->len;
  /* Something that does not start like "HTTP/1.1 " is refused at once,
   * not after it filled the buffer or timed out. */
  if (len <= 5 && memcmp (h, "HTTP/", len) != 0)
    {
      /* whatever else already came, for the message */
      u->body = g_malloc (64);
      read_async (task, u->body, 64, FALSE, on_not_http);
      return;
    }
  if (len >= 4 && memcmp (h + len - 4, "\r\n\r\n", 4) == 0)
    {
      head_done (task);
      return;
    }
  if (len >= EMBER_PORTAL_UPGRADE_HEAD_MAX)
    {
      fail (task, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, 0,
            "the portal's answer has no end of header within %u bytes",
            (guint) EMBER_PORTAL_UPGRADE_HEAD_MAX);
      return;
    }
  read_byte (task);
}

/* One byte at a time: the header is a few hundred bytes, once per
 * connection, and whatever follows it belongs to the WebSocket. */
static void
read_byte (GTask *task)
{
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  read_async (task, &u->byte, 1, FALSE, on_byte);
}

static void
on_written (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  GError *error = NULL;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error);
  explicit_bzero (u->request, u->request_len);
  if (!ok)
    {
      fail_io (task, "sending the upgrade request to", error);
      return;
    }
  read_byte (task);
}

static void
on_connected (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Upgrade *u = g_object_get_data (G_OBJECT (task), "upgrade");
  GError *error = NULL;
  GSocketConnection *conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), res, &error);
  if (conn == NULL)
    {
      fail_io (task, u->req.tls ? "cannot connect (TLS) to" : "cannot connect to", error);
      return;
    }
  u->stream = G_IO_STREAM (conn);
  /* RFC 6455 §4.1: a random 16-byte nonce, base64 */
  guint8 nonce[16];
  for (guint i = 0; i < sizeof nonce; i += 4)
    {
      guint32 r = g_random_int ();
      memcpy (nonce + i, &r, 4);
    }
  g_autofree char *key = g_base64_encode (nonce, sizeof nonce);
  g_autofree char *concat = g_strconcat (key, WS_GUID, NULL);
  guint8 digest[20];
  gsize dlen = sizeof digest;
  g_autoptr (GChecksum) sha1 = g_checksum_new (G_CHECKSUM_SHA1);
  g_checksum_update (sha1, (const guchar *) concat, -1);
  g_checksum_get_digest (sha1, digest, &dlen);
  u->accept = g_base64_encode (digest, dlen);
  u->request = g_strdup_printf ("GET %s HTTP/1.1\r\n"
                                "Host: %s\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: %s\r\n"
                                "Sec-WebSocket-Version: 13\r\n"
                                "Authorization: Bearer %s\r\n"
                                "User-Agent: emberd/" EMBER_VERSION "\r\n"
                                "\r\n",
                                u->req.path, u->req.host_header, key, u->req.token);
  u->request_len = strlen (u->request);
  GMainContext *ctx = g_task_get_context (task);
  g_main_context_push_thread_default (ctx);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (u->stream), u->request,
                                   u->request_len, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), on_written, task);
  g_main_context_pop_thread_default (ctx);
}

/* Called only when validation failed: refuse, and remember why. */
static gboolean
on_accept_certificate (GTlsConnection *conn, GTlsCertificate *cert, GTlsCertificateFlags errors,
                       gpointer user_data)
{
  (void) conn;
  (void) cert;
  Upgrade *u = user_data;
  u->tls_errors = errors;
  return FALSE;
}

static void
on_client_event (GSocketClient *client, GSocketClientEvent event, GSocketConnectable *connectable,
                 GIOStream *connection, gpointer user_data)
{
  (void) client;
  (void) connectable;
  Upgrade *u = user_data;
  if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CONNECTION (connection))
    return;
  if (u->req.tls_database != NULL)
    g_tls_connection_set_database (G_TLS_CONNECTION (connection), u->req.tls_database);
  g_signal_connect (connection, "accept-certificate", G_CALLBACK (on_accept_certificate), u);
}

void
ember_portal_upgrade_async (const EmberPortalUpgradeRequest *req, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  Upgrade *u = g_new0 (Upgrade, 1);
  u->req.host = g_strdup (req->host);
  u->req.port = req->port;
  u->req.tls = req->tls;
  u->req.tls_database = req->tls_database != NULL ? g_object_ref (req->tls_database) : NULL;
  u->req.path = g_strdup (req->path);
  u->req.host_header = g_strdup (req->host_header);
  u->req.token = g_strdup (req->token);
  u->head = g_byte_array_new ();
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  g_object_set_data_full (G_OBJECT (task), "upgrade", u, upgrade_free);

  u->client = g_socket_client_new ();
  /* A portal session is long-lived and goes to one host; proxies for
   * ws:// are not supported. */
  g_socket_client_set_enable_proxy (u->client, FALSE);
  if (req->tls)
    {
      /* The default validation checks the chain and that the certificate
       * names the host we connect to (the GNetworkAddress below). */
      g_socket_client_set_tls (u->client, TRUE);
      g_signal_connect (u->client, "event", G_CALLBACK (on_client_event), u);
    }
  g_autoptr (GSocketConnectable) addr = g_network_address_new (u->req.host, u->req.port);
  g_socket_client_connect_async (u->client, addr, cancellable, on_connected, task);
}

GIOStream *
ember_portal_upgrade_finish (GAsyncResult *result, gint64 *retry_after_us, GError **error)
{
  GTask *task = G_TASK (result);
  const gint64 *ra = g_task_get_task_data (task);
  *retry_after_us = ra != NULL ? *ra : 0;
  return g_task_propagate_pointer (task, error);
}
