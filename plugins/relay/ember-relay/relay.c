/* ember-relay — the STUN/TURN relay program: options, the server core
 * and the data plane of relay-io.c, run until SIGINT/SIGTERM. The main
 * thread runs GLib's loop for signals and the metrics server only. */
#include "relay-io.h"
#include "log.h"
#include "net/cidr.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static gboolean
parse_host_port (const char *text, guint16 default_port, EmberAddr *out, GError **error)
{
  g_autoptr (GSocketConnectable) c = g_network_address_parse (text, default_port, error);
  if (c == NULL)
    return FALSE;
  g_autoptr (GInetAddress) ia =
    g_inet_address_new_from_string (g_network_address_get_hostname (G_NETWORK_ADDRESS (c)));
  if (ia == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "\"%s\": expected an IP address (and port)", text);
      return FALSE;
    }
  memset (out, 0, sizeof *out);
  gsize n = g_inet_address_get_native_size (ia);
  out->family = n == 4 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6;
  memcpy (out->addr, g_inet_address_to_bytes (ia), n);
  out->port = g_network_address_get_port (G_NETWORK_ADDRESS (c));
  return TRUE;
}


static gboolean
on_signal (gpointer user_data)
{
  GMainLoop *loop = user_data;
  g_info ("signal received, stopping");
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

static void
rng (gpointer user_data, guint8 *buf, gsize len)
{
  (void) user_data;
  if (gnutls_rnd (GNUTLS_RND_NONCE, buf, len) < 0)
    g_error ("gnutls_rnd failed"); /* no entropy: nothing safe to do */
}

static void
collect_stats (gpointer user_data, EmberRelayServerStats *server, EmberRelayShellStats *shell)
{
  ember_relay_io_get_stats (user_data, server, shell);
}

/* ---- options -------------------------------------------------------- */

static char **opt_listen, **opt_user, **opt_allow;
static char *opt_ip4, *opt_ip6, *opt_range, *opt_realm, *opt_secret, *opt_secret_file;
static char *opt_metrics, *opt_log, *opt_xdp;
static char **opt_xdp_if;
static gboolean opt_rfc5766;
#define UNSET G_MININT
static gint opt_quota = UNSET;
static gint opt_alloc_sndbuf = UNSET;

static const GOptionEntry entries[] = {
  { "listen", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &opt_listen,
    "UDP address to serve STUN/TURN on, repeatable (default 0.0.0.0:3478 and [::]:3478) [EMBER_RELAY_LISTEN, comma-separated]", "ADDR:PORT" },
  { "public-ip4", 0, 0, G_OPTION_ARG_STRING, &opt_ip4,
    "IPv4 address announced as relayed address; enables IPv4 allocations [EMBER_RELAY_PUBLIC_IP4]", "ADDR" },
  { "public-ip6", 0, 0, G_OPTION_ARG_STRING, &opt_ip6,
    "IPv6 address announced as relayed address; enables IPv6 allocations [EMBER_RELAY_PUBLIC_IP6]", "ADDR" },
  { "port-range", 0, 0, G_OPTION_ARG_STRING, &opt_range,
    "Allocation ports (default 49152-65535) [EMBER_RELAY_PORT_RANGE]", "LOW-HIGH" },
  { "realm", 0, 0, G_OPTION_ARG_STRING, &opt_realm, "Authentication realm (default ember) [EMBER_RELAY_REALM]", "REALM" },
  { "secret", 0, 0, G_OPTION_ARG_STRING, &opt_secret,
    "Shared secret for time-limited credentials (prefer --secret-file) [EMBER_RELAY_SECRET]", "SECRET" },
  { "secret-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_secret_file,
    "File holding the shared secret [EMBER_RELAY_SECRET_FILE]", "PATH" },
  { "user", 'u', 0, G_OPTION_ARG_STRING_ARRAY, &opt_user,
    "Static user, repeatable [EMBER_RELAY_USER, comma-separated]", "NAME:PASSWORD" },
  { "allow-peer", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_allow,
    "Allow relaying to this otherwise denied range, repeatable [EMBER_RELAY_ALLOW_PEER, comma-separated]", "CIDR" },
  { "rfc5766-channels", 0, 0, G_OPTION_ARG_NONE, &opt_rfc5766,
    "Also accept channel numbers 0x5000-0x7FFF of RFC 5766 (coturn's tools use them) [EMBER_RELAY_RFC5766_CHANNELS=1]", NULL },
  { "user-quota", 0, 0, G_OPTION_ARG_INT, &opt_quota,
    "Allocations per username (default 10) [EMBER_RELAY_USER_QUOTA]", "N" },
  { "allocation-send-buffer", 0, 0, G_OPTION_ARG_INT, &opt_alloc_sndbuf,
    "Kernel send buffer of each allocation socket in bytes (default 1048576) [EMBER_RELAY_ALLOCATION_SEND_BUFFER]", "BYTES" },
  { "xdp", 0, 0, G_OPTION_ARG_STRING, &opt_xdp,
    "Relay bound channels in XDP: off, auto (default: native where the driver has it, else off), native or generic [EMBER_RELAY_XDP]", "MODE" },
  { "xdp-interface", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_xdp_if,
    "Interface to attach XDP to, repeatable (default: those holding the --listen addresses; all that are up but loopback for a wildcard one) [EMBER_RELAY_XDP_INTERFACE, comma-separated]", "IFNAME" },
  { "metrics-listen", 0, 0, G_OPTION_ARG_STRING, &opt_metrics,
    "Serve Prometheus metrics at http://ADDR:PORT/metrics [EMBER_RELAY_METRICS_LISTEN]", "ADDR:PORT" },
  { "log", 0, 0, G_OPTION_ARG_STRING, &opt_log,
    "Log filter, e.g. debug or info,ember-relay=trace [EMBER_RELAY_LOG]", "FILTER" },
  { NULL },
};

static void
env_string (char **opt, const char *name)
{
  const char *v = g_getenv (name);
  if (*opt == NULL && v != NULL && v[0] != '\0')
    *opt = g_strdup (v);
}

/* An integer option: unset takes the environment variable, if any;
 * either must be 1..max, else the error names the flag or variable. */
static gboolean
positive_int (gint *opt, const char *flag, const char *env, gint max, GError **error)
{
  const char *v = g_getenv (env);
  if (*opt == UNSET && v != NULL && v[0] != '\0')
    {
      gint64 n;
      if (!g_ascii_string_to_signed (v, 10, 1, max, &n, NULL))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "%s=\"%s\": expected an integer from 1 to %d", env, v, max);
          return FALSE;
        }
      *opt = (gint) n;
    }
  else if (*opt != UNSET && (*opt < 1 || *opt > max))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s %d: expected an integer from 1 to %d", flag, *opt, max);
      return FALSE;
    }
  return TRUE;
}

static void
env_list (char ***opt, const char *name)
{
  const char *v = g_getenv (name);
  if (*opt == NULL && v != NULL && v[0] != '\0')
    *opt = g_strsplit (v, ",", -1);
}

static gboolean
parse_public (const char *text, guint8 family, const char *flag, EmberAddr *out, GError **error)
{
  if (!parse_host_port (text, 0, out, error) || out->family != family)
    {
      g_clear_error (error);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s \"%s\": expected an %s address",
                   flag, text, family == EMBER_ADDR_IPV4 ? "IPv4" : "IPv6");
      return FALSE;
    }
  return TRUE;
}

static gboolean
configure (EmberRelayServerConfig *c, GBytes **secret, GError **error)
{
  if (opt_ip4 != NULL && !parse_public (opt_ip4, EMBER_ADDR_IPV4, "--public-ip4", &c->public_ip4, error))
    return FALSE;
  if (opt_ip6 != NULL && !parse_public (opt_ip6, EMBER_ADDR_IPV6, "--public-ip6", &c->public_ip6, error))
    return FALSE;
  if (opt_range != NULL)
    {
      unsigned lo, hi;
      char tail;
      if (sscanf (opt_range, "%u-%u%c", &lo, &hi, &tail) != 2 || lo == 0 || lo > hi || hi > 65535)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "--port-range \"%s\": expected LOW-HIGH within 1-65535", opt_range);
          return FALSE;
        }
      c->port_min = (guint16) lo;
      c->port_max = (guint16) hi;
    }
  if (opt_realm != NULL)
    c->realm = opt_realm;
  if (opt_secret_file != NULL)
    {
      char *data;
      gsize len;
      if (!g_file_get_contents (opt_secret_file, &data, &len, error))
        return FALSE;
      while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
      *secret = g_bytes_new_take (data, len);
    }
  else if (opt_secret != NULL)
    *secret = g_bytes_new (opt_secret, strlen (opt_secret));
  if (*secret != NULL)
    c->secret = g_bytes_get_data (*secret, &c->secret_len);
  return TRUE;
}

/* Allocations send from the announced address when the host holds it,
 * so peers see datagrams come from the XOR-RELAYED-ADDRESS they were
 * given; behind a 1:1 NAT (the address is not ours) they bind the
 * wildcard and the route picks the source, which the NAT rewrites. */
static void
relay_from_public (EmberRelayIo *io, const EmberAddr *public_ip)
{
  if (public_ip->family == EMBER_ADDR_NONE)
    return;
  EmberAddr probe = *public_ip;
  probe.port = 0;
  g_autoptr (GError) error = NULL;
  int fd = ember_relay_io_open_udp (&probe, 0, 0, &error);
  char text[EMBER_ADDR_STRLEN];
  if (fd < 0)
    {
      g_info ("%s is not an address of this host (%s): allocations send from the address "
              "the route picks", ember_addr_format (public_ip, text), error->message);
      return;
    }
  close (fd);
  ember_relay_io_set_relayed_address (io, public_ip);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- Ember STUN/TURN relay");
  g_option_context_set_summary (ctx,
    "Serves STUN Binding and TURN (RFC 8656) over UDP until SIGINT/SIGTERM.\n"
    "Relaying to loopback, private, link-local and other special-purpose\n"
    "ranges is refused unless --allow-peer lists them.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("ember-relay: %s\n", error->message);
      return 2;
    }
  env_list (&opt_listen, "EMBER_RELAY_LISTEN");
  env_list (&opt_user, "EMBER_RELAY_USER");
  env_list (&opt_allow, "EMBER_RELAY_ALLOW_PEER");
  env_string (&opt_ip4, "EMBER_RELAY_PUBLIC_IP4");
  env_string (&opt_ip6, "EMBER_RELAY_PUBLIC_IP6");
  env_string (&opt_range, "EMBER_RELAY_PORT_RANGE");
  env_string (&opt_realm, "EMBER_RELAY_REALM");
  env_string (&opt_secret, "EMBER_RELAY_SECRET");
  env_string (&opt_secret_file, "EMBER_RELAY_SECRET_FILE");
  env_string (&opt_metrics, "EMBER_RELAY_METRICS_LISTEN");
  env_string (&opt_log, "EMBER_RELAY_LOG");
  env_string (&opt_xdp, "EMBER_RELAY_XDP");
  env_list (&opt_xdp_if, "EMBER_RELAY_XDP_INTERFACE");
  if (g_strcmp0 (g_getenv ("EMBER_RELAY_RFC5766_CHANNELS"), "1") == 0)
    opt_rfc5766 = TRUE;

  if (!ember_log_init ("ember-relay", opt_log, NULL, &error))
    {
      g_printerr ("ember-relay: --log: %s\n", error->message);
      return 2;
    }

  EmberRelayServer *server = NULL;
  EmberRelayIo *io = NULL;
  EmberRelayXdp *xdp = NULL;
  EmberRelayXdpMode xdp_mode = EMBER_RELAY_XDP_AUTO;
  guint16 listen_ports[EMBER_RELAY_IO_MAX_LISTENERS];
  EmberAddr listen_addrs[EMBER_RELAY_IO_MAX_LISTENERS];
  guint n_listen_ports = 0;
  GMainLoop *loop = NULL;
  g_autoptr (GArray) listen_fds = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GArray) listen_families = g_array_new (FALSE, FALSE, sizeof (guint8));
  g_autoptr (GBytes) secret = NULL;
  EmberRelayServerConfig c;
  ember_relay_server_config_init (&c);
  c.software = "ember-relay";
  c.rng = rng;
  c.rfc5766_channels = opt_rfc5766;
  /* Tests only: watch a channel binding expire without waiting 10 min. */
  const char *lifetime = g_getenv ("EMBER_RELAY_TEST_CHANNEL_LIFETIME");
  if (lifetime != NULL)
    c.channel_lifetime = (guint) g_ascii_strtoull (lifetime, NULL, 10);
  int rc = 1;
  if (!positive_int (&opt_quota, "--user-quota", "EMBER_RELAY_USER_QUOTA", 1 << 20, &error) ||
      !positive_int (&opt_alloc_sndbuf, "--allocation-send-buffer",
                     "EMBER_RELAY_ALLOCATION_SEND_BUFFER", G_MAXINT / 2, &error))
    goto out;
  if (opt_quota > 0)
    c.max_allocations_per_user = (guint) opt_quota;
  int alloc_sndbuf = opt_alloc_sndbuf > 0 ? opt_alloc_sndbuf : 1 << 20;
  if (!configure (&c, &secret, &error))
    goto out;
  if (opt_xdp != NULL && !ember_relay_xdp_mode_parse (opt_xdp, &xdp_mode, &error))
    goto out;

  /* Listeners. */
  const char *defaults[] = { "0.0.0.0:3478", "[::]:3478", NULL };
  const char *const *listen = opt_listen ? (const char *const *) opt_listen : defaults;
  for (guint i = 0; listen[i] != NULL; i++)
    {
      EmberAddr a;
      if (i == EMBER_RELAY_IO_MAX_LISTENERS)
        {
          g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "at most %d --listen",
                       EMBER_RELAY_IO_MAX_LISTENERS);
          goto out;
        }
      if (!parse_host_port (listen[i], 3478, &a, &error))
        {
          g_prefix_error (&error, "--listen: ");
          goto out;
        }
      int fd = ember_relay_io_open_udp (&a, 4 << 20, 4 << 20, &error);
      if (fd < 0)
        {
          g_prefix_error (&error, "--listen %s: ", listen[i]);
          goto out;
        }
      g_array_append_val (listen_fds, fd);
      g_array_append_val (listen_families, a.family);
      listen_addrs[n_listen_ports] = a;
      listen_ports[n_listen_ports++] = a.port;
      /* An explicit listen address doubles as the announced address. */
      static const guint8 zero[16];
      gboolean unspecified = memcmp (a.addr, zero, 16) == 0;
      if (!unspecified && a.family == EMBER_ADDR_IPV4 && c.public_ip4.family == EMBER_ADDR_NONE)
        c.public_ip4 = a;
      if (!unspecified && a.family == EMBER_ADDR_IPV6 && c.public_ip6.family == EMBER_ADDR_NONE)
        c.public_ip6 = a;
    }
  server = ember_relay_server_new (&c, &error);
  if (server == NULL)
    {
      g_prefix_error (&error, "(set --public-ip4/--public-ip6) ");
      goto out;
    }
  for (guint i = 0; opt_user != NULL && opt_user[i] != NULL; i++)
    {
      char *colon = strchr (opt_user[i], ':');
      if (colon == NULL)
        {
          g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "--user \"%s\": expected NAME:PASSWORD", opt_user[i]);
          goto out;
        }
      *colon = '\0';
      if (!ember_relay_server_add_user (server, opt_user[i], colon + 1, &error))
        goto out;
      gnutls_memset (colon + 1, 0, strlen (colon + 1));
    }
  for (guint i = 0; opt_allow != NULL && opt_allow[i] != NULL; i++)
    if (!ember_relay_server_allow_peer (server, g_strstrip (opt_allow[i]), &error))
      goto out;

  io = ember_relay_io_new (server, alloc_sndbuf, g_getenv ("EMBER_RELAY_NO_GSO") == NULL);
  relay_from_public (io, &c.public_ip4);
  relay_from_public (io, &c.public_ip6);
  for (guint i = 0; i < listen_fds->len; i++)
    {
      if (!ember_relay_io_add_listener (io, g_array_index (listen_fds, int, i),
                                        g_array_index (listen_families, guint8, i), &error))
        goto out;
      g_array_index (listen_fds, int, i) = -1; /* the shell's now */
    }
  if (xdp_mode != EMBER_RELAY_XDP_OFF)
    {
      EmberRelayXdpConfig xc = {
        .interfaces = (const char *const *) opt_xdp_if,
        .listen_addrs = listen_addrs,
        .n_listen_addrs = n_listen_ports,
        .listen_ports = listen_ports,
        .n_listen_ports = n_listen_ports,
        .port_min = c.port_min,
        .port_max = c.port_max,
      };
      g_autoptr (GError) xdp_error = NULL;
      xdp = ember_relay_xdp_new (xdp_mode, &xc, &xdp_error);
      if (xdp != NULL)
        {
          g_info ("XDP fast path for bound channels: %s mode on %u interface(s)",
                  ember_relay_xdp_mode_name (xdp), ember_relay_xdp_n_interfaces (xdp));
          ember_relay_io_set_xdp (io, xdp);
        }
      else if (xdp_mode == EMBER_RELAY_XDP_AUTO)
        g_info ("XDP fast path off: %s", xdp_error->message);
      else
        g_warning ("XDP fast path off, relaying in user space: %s", xdp_error->message);
    }
  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_unix_signal_add (SIGTERM, on_signal, loop);

  EmberRelayMetrics *metrics = NULL;
  if (opt_metrics != NULL &&
      (metrics = ember_relay_metrics_start (opt_metrics, collect_stats, io, &error)) == NULL)
    goto out;

  for (guint i = 0; listen[i] != NULL; i++)
    g_info ("listening on udp %s", listen[i]);
  ember_relay_io_start (io);
  g_main_loop_run (loop);
  ember_relay_io_stop (io);
  rc = 0;
  ember_relay_metrics_stop (metrics);

out:
  if (error != NULL)
    g_printerr ("ember-relay: %s\n", error->message);
  ember_relay_io_free (io);
  ember_relay_xdp_free (xdp);
  for (guint i = 0; i < listen_fds->len; i++)
    if (g_array_index (listen_fds, int, i) >= 0)
      close (g_array_index (listen_fds, int, i));
  ember_relay_server_free (server);
  if (loop != NULL)
    g_main_loop_unref (loop);
  ember_log_shutdown ();
  return rc;
}
