/* doh — the DNS over HTTPS upstream plugin (kind dns, "doh"), RFC 8484.
 * See docs/dns-upstreams.md.
 *
 * Each query is one POST of application/dns-message to
 * https://NAME:PORT/PATH through libsoup 3, which negotiates HTTP/2 by
 * ALPN when the server offers it (many queries then share one
 * connection as streams) and keeps connections alive otherwise. One
 * SoupSession per upstream, each told to connect to the configured
 * address (`remote-connectable`), so no name is ever resolved through the
 * system resolver Ember itself may be serving. The certificate chain is
 * checked against `ca-file` or the system's store, and the certificate
 * against the upstream's server name (or its address without one): the
 * name is set as the TLS connection's server identity when the
 * handshake starts, so it decides both SNI and the check.
 *
 * RFC 8484 §4.1: the id goes out as 0, which keeps answers cacheable by
 * HTTP caches; the query's own id is put back into the answer.
 *
 * Threads: the vtable is the shell's (../common/shell.c); everything in
 * this file runs on the backend's worker thread, where the sessions were
 * made (libsoup sessions belong to one thread).
 */
#include <errno.h>
#include <libsoup/soup.h>
#include <string.h>

#include "shell.h"

typedef struct {
  SoupSession *session;
  GUri *uri;
  GSocketConnectable *identity;
} Upstream;

typedef struct {
  Upstream up[DNS_MAX_UPSTREAMS];
  GTlsDatabase *database;
} Doh;

/* One request; the slot's owner while in flight. */
typedef struct {
  DnsShell *sh;
  guint slot;
  GCancellable *cancel;
  gboolean forgotten;
} Request;

static const DnsConfigSpec doh_spec = {
  .plugin = "doh", .default_port = 443, .tls = TRUE, .http = TRUE,
};

static void
request_free (Request *r)
{
  g_clear_object (&r->cancel);
  g_free (r);
}

static void
network_event (SoupMessage *msg, GSocketClientEvent event, GIOStream *connection, gpointer data)
{
  (void) msg;
  Upstream *u = data;
  if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && G_IS_TLS_CLIENT_CONNECTION (connection))
    g_tls_client_connection_set_server_identity (G_TLS_CLIENT_CONNECTION (connection),
                                                 u->identity);
}

static void
sent (GObject *obj, GAsyncResult *res, gpointer data)
{
  Request *r = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (obj), res, &error);
  if (r->forgotten)
    {
      request_free (r);
      return;
    }
  DnsShell *sh = r->sh;
  DnsSlot *s = &sh->slots[r->slot];
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (obj), res);
  gint err = 0;
  char where[EMBER_ADDR_PORT_STRLEN];
  dns_addr_format (&sh->config.upstreams[s->upstream].addr, where, sizeof where);
  if (body == NULL)
    {
      err = dns_errno_from_gerror (error);
      g_log_structured (sh->log_domain, G_LOG_LEVEL_INFO, "MESSAGE", "doh %s: %s", where,
                        error->message);
    }
  else
    {
      guint status = soup_message_get_status (msg);
      const char *type = soup_message_headers_get_content_type (
        soup_message_get_response_headers (msg), NULL);
      gsize len = 0;
      const guint8 *data_ = g_bytes_get_data (body, &len);
      if (status != SOUP_STATUS_OK || type == NULL
          || g_ascii_strcasecmp (type, "application/dns-message") != 0
          || len < DNS_HEADER_LEN || len > EMBER_DNS_ANSWER_MAX)
        {
          g_log_structured (sh->log_domain, G_LOG_LEVEL_INFO, "MESSAGE",
                            "doh %s: HTTP %u, %s, %" G_GSIZE_FORMAT " bytes", where, status,
                            type != NULL ? type : "no content type", len);
          err = EPROTO;
        }
      else
        {
          /* The query's id back in place of the 0 that was sent. */
          guint8 *answer = g_memdup2 (data_, len);
          answer[0] = s->query[0];
          answer[1] = s->query[1];
          dns_shell_complete (sh, r->slot, answer, len, 0);
          g_free (answer);
        }
    }
  if (err != 0)
    dns_shell_complete (sh, r->slot, NULL, 0, err);
  dns_shell_update_timer (sh);
  request_free (r);
}

static gboolean
doh_setup (DnsShell *sh, GError **error)
{
  Doh *d = g_new0 (Doh, 1);
  sh->transport = d;
  if (sh->config.ca_file != NULL)
    {
      g_autoptr (GError) local = NULL;
      d->database = g_tls_file_database_new (sh->config.ca_file, &local);
      if (d->database == NULL)
        {
          g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG, "[%s] ca-file: %s",
                       sh->spec->plugin, local->message);
          return FALSE;
        }
    }
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    {
      Upstream *u = &d->up[k];
      const DnsUpstream *cu = &sh->config.upstreams[k];
      char ip[EMBER_ADDR_STRLEN];
      ember_addr_format (&cu->addr, ip);
      const char *host = cu->name != NULL ? cu->name : ip;
      u->uri = g_uri_build (G_URI_FLAGS_NONE, "https", NULL, host, cu->addr.port,
                            sh->config.path, NULL, NULL);
      g_autoptr (GSocketAddress) addr = dns_addr_to_gsocket (&cu->addr);
      if (cu->name != NULL)
        u->identity = g_network_address_new (cu->name, cu->addr.port);
      else
        u->identity = G_SOCKET_CONNECTABLE (g_object_ref (addr));
      u->session = soup_session_new_with_options (
        "remote-connectable", addr, "timeout", MAX (sh->config.timeout_ms / 1000, 1),
        "idle-timeout", MAX (sh->config.idle_ms / 1000, 1), "user-agent", "ember-doh",
        /* Straight to the upstream, never through a proxy from the environment. */
        "proxy-resolver", NULL, NULL);
      if (d->database != NULL)
        soup_session_set_tls_database (u->session, d->database);
    }
  return TRUE;
}

static void
doh_start (DnsShell *sh, guint i)
{
  Doh *d = sh->transport;
  DnsSlot *s = &sh->slots[i];
  Upstream *u = &d->up[s->upstream];
  Request *r = g_new0 (Request, 1);
  r->sh = sh;
  r->slot = i;
  r->cancel = g_cancellable_new ();
  s->owner = r;

  SoupMessage *msg = soup_message_new_from_uri (SOUP_METHOD_POST, u->uri);
  SoupMessageHeaders *h = soup_message_get_request_headers (msg);
  soup_message_headers_replace (h, "Accept", "application/dns-message");
  guint8 *wire = g_memdup2 (s->query, s->query_len);
  wire[0] = 0;
  wire[1] = 0;
  g_autoptr (GBytes) body = g_bytes_new_take (wire, s->query_len);
  soup_message_set_request_body_from_bytes (msg, "application/dns-message", body);
  g_signal_connect (msg, "network-event", G_CALLBACK (network_event), u);
  soup_session_send_and_read_async (u->session, msg, G_PRIORITY_DEFAULT, r->cancel, sent, r);
  g_object_unref (msg);
}

static void
doh_forget (DnsShell *sh, guint i)
{
  Request *r = sh->slots[i].owner;
  if (r == NULL)
    return;
  r->forgotten = TRUE;
  g_cancellable_cancel (r->cancel);
}

static void
doh_teardown (DnsShell *sh)
{
  Doh *d = sh->transport;
  if (d == NULL)
    return;
  for (guint i = 0; i < DNS_SLOTS; i++)
    if (sh->slots[i].busy && sh->slots[i].owner != NULL)
      doh_forget (sh, i);
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    {
      Upstream *u = &d->up[k];
      if (u->session != NULL)
        soup_session_abort (u->session);
      g_clear_object (&u->session);
      g_clear_pointer (&u->uri, g_uri_unref);
      g_clear_object (&u->identity);
    }
  g_clear_object (&d->database);
  g_clear_pointer (&sh->transport, g_free);
}

static const DnsTransportOps doh_ops = {
  .setup = doh_setup, .start = doh_start, .forget = doh_forget, .teardown = doh_teardown,
};

static EmberBackend *
doh_open (const EmberBackendArgs *args, GError **error)
{
  return dns_shell_open (args, &doh_spec, &doh_ops, error);
}

static gboolean
doh_validate_config (GKeyFile *config, const char *group, GError **error)
{
  DnsConfig c;
  if (!dns_config_parse (config, group, &doh_spec, &c, error))
    return FALSE;
  dns_config_clear (&c);
  return TRUE;
}

EMBER_PLUGIN_EXPORT const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberBackendVtable vtable = {
    .open = doh_open,
    .poll_recv_many = dns_shell_poll_recv_many,
    .poll_send_ready = dns_shell_poll_send_ready,
    .send = dns_shell_send,
    .close = dns_shell_close,
    .validate_config = doh_validate_config,
    .get_control = dns_shell_get_control,
  };
  static const EmberPluginInfo info = {
    .abi_major = EMBER_PLUGIN_ABI_MAJOR,
    .abi_minor = EMBER_PLUGIN_ABI_MINOR,
    .name = "doh",
    .kind = EMBER_PLUGIN_KIND_DNS,
    .description = "DNS upstreams over HTTPS, HTTP/2 when offered (RFC 8484, libsoup)",
    .vtable_size = sizeof vtable,
    .vtable = &vtable,
  };
  return &info;
}
