/* dot — the DNS over TLS upstream plugin (kind dns, "dot"), RFC 7858.
 * See docs/dns-upstreams.md.
 *
 * One TLS connection per upstream through GIO's TLS (GnuTLS underneath,
 * glib-networking), made on demand, reused for every query with
 * pipelining and closed with close_notify after `idle-timeout` without a
 * query in flight (../common/stream.c, shared with do53's TCP). The
 * certificate chain is checked against `ca-file` or the system's trust
 * store, and the certificate against the upstream's server name
 * ("ADDR#NAME"), or its IP address when it has none (RFC 7858 §4.2's
 * strict profile: no fallback to clear text, no unchecked certificate).
 * A query on an upstream whose handshake fails comes back with EPROTO.
 *
 * Threads: the vtable is the shell's (../common/shell.c); everything in
 * this file runs on the backend's worker thread.
 */
#include "shell.h"
#include "stream.h"

typedef struct {
  GTlsDatabase *database;
  DnsStream *streams[DNS_MAX_UPSTREAMS];
} Dot;

static const DnsConfigSpec dot_spec = {
  .plugin = "dot", .default_port = 853, .tls = TRUE, .http = FALSE,
};

static gboolean
dot_setup (DnsShell *sh, GError **error)
{
  Dot *d = g_new0 (Dot, 1);
  sh->transport = d;
  if (sh->config.ca_file != NULL)
    {
      g_autoptr (GError) local = NULL;
      d->database = g_tls_file_database_new (sh->config.ca_file, &local);
      if (d->database == NULL)
        {
          g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                       "[%s] ca-file: %s", sh->spec->plugin, local->message);
          return FALSE;
        }
    }
  else if (g_tls_backend_get_default_database (g_tls_backend_get_default ()) == NULL)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_UNSUPPORTED,
                   "%s: no TLS backend with a trust store (is glib-networking installed?)",
                   sh->spec->plugin);
      return FALSE;
    }
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    d->streams[k] = dns_stream_new (sh, k, TRUE, d->database);
  return TRUE;
}

static void
dot_start (DnsShell *sh, guint i)
{
  Dot *d = sh->transport;
  dns_stream_submit (d->streams[sh->slots[i].upstream], i);
}

static void
dot_forget (DnsShell *sh, guint i)
{
  Dot *d = sh->transport;
  dns_stream_forget (d->streams[sh->slots[i].upstream], i);
}

static void
dot_teardown (DnsShell *sh)
{
  Dot *d = sh->transport;
  if (d == NULL)
    return;
  for (guint k = 0; k < sh->config.n_upstreams; k++)
    dns_stream_free (d->streams[k]);
  g_clear_object (&d->database);
  g_clear_pointer (&sh->transport, g_free);
}

static const DnsTransportOps dot_ops = {
  .setup = dot_setup, .start = dot_start, .forget = dot_forget, .teardown = dot_teardown,
};

static EmberBackend *
dot_open (const EmberBackendArgs *args, GError **error)
{
  return dns_shell_open (args, &dot_spec, &dot_ops, error);
}

static gboolean
dot_validate_config (GKeyFile *config, const char *group, GError **error)
{
  DnsConfig c;
  if (!dns_config_parse (config, group, &dot_spec, &c, error))
    return FALSE;
  dns_config_clear (&c);
  return TRUE;
}

EMBER_PLUGIN_EXPORT const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberBackendVtable vtable = {
    .open = dot_open,
    .poll_recv_many = dns_shell_poll_recv_many,
    .poll_send_ready = dns_shell_poll_send_ready,
    .send = dns_shell_send,
    .close = dns_shell_close,
    .validate_config = dot_validate_config,
    .get_control = dns_shell_get_control,
  };
  static const EmberPluginInfo info = {
    .abi_major = EMBER_PLUGIN_ABI_MAJOR,
    .abi_minor = EMBER_PLUGIN_ABI_MINOR,
    .name = "dot",
    .kind = EMBER_PLUGIN_KIND_DNS,
    .description = "DNS upstreams over TLS, certificate and name checked (RFC 7858)",
    .vtable_size = sizeof vtable,
    .vtable = &vtable,
  };
  return &info;
}
