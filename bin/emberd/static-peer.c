/* static-peer — emberd's WireGuard static-peer mode.
 *
 * A driver on the shell (shell.h): a WireGuard engine plugin with the
 * peers of a wg-quick style file, cryptokey routing by AllowedIPs
 * (longest prefix), the engine's timers on the shell's timer. The shell
 * owns the TUN, the UDP socket, the signals and the status period.
 * Everything runs on the main thread.
 */
#define G_LOG_DOMAIN "ember-static"

#include "static-peer.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "dbus-api.h"
#include "ember-build-config.h"
#include "hooks.h"
#include "ember-plugin-wg.h"
#include "io/udp.h"
#include "loader.h"
#include "net/prefix-table.h"
#include "paths.h"
#include "shell.h"
#include "static-routes.h"
#include "sysdns.h"
#include "tunnel/wgconf.h"

/* TUN slots hold one IP packet; offloads split super-packets in the
 * plugin, so the link MTU bounds them (a bigger decrypted packet could
 * not be written anyway and counts as a buffer drop). */
#define DEFAULT_MTU 1420
#define SCRATCH (EMBER_WG_HEADROOM + 65535 + EMBER_WG_TAILROOM)
#define STATUS_PERIOD_MS 1000

typedef struct {
  EmberWgPeer *wg;
  EmberWgConfPeer *conf;
  char *name; /* base64 public key */
} Peer;

typedef struct {
  EmberWgConf *conf;
  char *ifname;
  char *status_path;
  EmberRegistry *registry;
  const EmberWgVtable *wg;
  EmberWgEngine *engine;
  EmberShell *shell;
  guint mtu;
  GPtrArray *peers;  /* Peer */
  EmberPrefixTable *routes; /* AllowedIPs -> Peer, cryptokey routing */
  EmberStaticRoutes plan;   /* what routing the file asks for */
  EmberNetconf *netconf;    /* routes and rules; NULL: none needed */
  EmberSysdns *sysdns;      /* DNS =; NULL: none */
  EmberDbusApi *api;        /* properties only: every method is WrongMode here */
  guint8 *scratch;   /* the engine's transmits */
  guint64 errors[16];
} Node;

/* ---- Routing ------------------------------------------------------------- */

static Peer *
route_lookup (Node *n, guint8 family, const guint8 *addr)
{
  return ember_prefix_table_lookup (n->routes, family, addr, NULL);
}

/* Destination (dst=TRUE) or source address of an IP packet, bounds
 * checked. */
static gboolean
ip_addr (const guint8 *p, gsize len, gboolean dst, guint8 *family, const guint8 **addr)
{
  if (len >= 20 && p[0] >> 4 == 4)
    {
      *family = 4;
      *addr = p + (dst ? 16 : 12);
      return TRUE;
    }
  if (len >= 40 && p[0] >> 4 == 6)
    {
      *family = 6;
      *addr = p + (dst ? 24 : 8);
      return TRUE;
    }
  return FALSE;
}

/* ---- Output -------------------------------------------------------------- */

static void count_error (Node *n, EmberWgResult r);

static void
queue_udp (Node *n, const EmberAddr *to, const guint8 *data, gsize len)
{
  if (to->family == EMBER_ADDR_NONE)
    return; /* a peer without an endpoint yet: nothing to send to */
  if (!ember_shell_send (n->shell, NULL, to, data, len))
    count_error (n, EMBER_WG_ERR_BUFFER);
}

static void
drain_engine (Node *n, gint64 now)
{
  EmberWgTransmit t;
  EmberWgEvent ev;

  while (n->wg->poll_transmit (n->engine, now, n->scratch, SCRATCH, &t))
    queue_udp (n, &t.to, n->scratch, t.len);
  while (n->wg->poll_event (n->engine, &ev))
    {
      Peer *p = NULL;
      for (guint i = 0; i < n->peers->len && p == NULL; i++)
        if (((Peer *) n->peers->pdata[i])->wg == ev.peer)
          p = n->peers->pdata[i];
      switch (ev.type)
        {
        case EMBER_WG_EVENT_HANDSHAKE_COMPLETE:
          g_info ("peer %s: handshake complete", p != NULL ? p->name : "?");
          break;
        case EMBER_WG_EVENT_HANDSHAKE_FAILED:
          g_warning ("peer %s: handshake did not complete, giving up for now",
                     p != NULL ? p->name : "?");
          break;
        case EMBER_WG_EVENT_KEYS_EXPIRED:
          g_info ("peer %s: session keys expired", p != NULL ? p->name : "?");
          break;
        }
    }
  ember_shell_arm_timer (n->shell, n->wg->poll_timeout (n->engine));
}

static void
count_error (Node *n, EmberWgResult r)
{
  guint i = (guint) -r;
  if (i < G_N_ELEMENTS (n->errors))
    n->errors[i]++;
}

static const char *
result_name (guint i)
{
  static const char *const names[] = {
    "ok", "malformed", "bad mac", "unknown peer", "handshake", "replay", "decrypt",
    "expired", "busy", "rate limited", "buffer", "no route", "not allowed",
  };
  return i < G_N_ELEMENTS (names) ? names[i] : "other";
}

#define ERR_NO_ROUTE 11
#define ERR_NOT_ALLOWED 12

/* Errors of one batch, logged once (seed 001). */
static void
log_batch_errors (Node *n, const char *what)
{
  g_autoptr (GString) s = NULL;

  for (guint i = 1; i < G_N_ELEMENTS (n->errors); i++)
    if (n->errors[i] != 0)
      {
        if (s == NULL)
          s = g_string_new (NULL);
        g_string_append_printf (s, "%s%s: %" G_GUINT64_FORMAT, s->len ? ", " : "",
                                result_name (i), n->errors[i]);
        n->errors[i] = 0;
      }
  if (s != NULL)
    g_debug ("%s: dropped packets (%s)", what, s->str);
}

/* ---- TUN -> UDP ---------------------------------------------------------- */

static void
on_tun_packet (EmberShell *shell, gint64 now, guint8 *buf, gsize cap, gsize off, gsize len,
               gpointer user_data)
{
  Node *n = user_data;
  guint8 family;
  const guint8 *dst;
  Peer *peer;
  EmberAddr to;
  EmberWgResult r;

  (void) shell;
  if (!ip_addr (buf + off, len, TRUE, &family, &dst))
    {
      count_error (n, EMBER_WG_ERR_MALFORMED);
      return;
    }
  peer = route_lookup (n, family, dst);
  if (peer == NULL)
    {
      n->errors[ERR_NO_ROUTE]++;
      return;
    }
  r = n->wg->encapsulate (n->engine, peer->wg, now, buf, cap, &off, &len, &to);
  if (r == EMBER_WG_DATAGRAM)
    queue_udp (n, &to, buf + off, len);
  else if (r < 0)
    count_error (n, r);
}

/* ---- UDP -> TUN ---------------------------------------------------------- */

static void
on_datagram (EmberShell *shell, gint64 now, const EmberAddr *local, const EmberAddr *from,
             guint8 *data, gsize len, gpointer user_data)
{
  Node *n = user_data;
  gsize offset = 0, plen = len;
  EmberWgPeer *wgpeer = NULL;
  EmberWgResult r = n->wg->decapsulate (n->engine, now, from, data, &offset, &plen, &wgpeer);

  (void) local;
  if (r == EMBER_WG_PACKET && plen > 0)
    {
      guint8 family;
      const guint8 *src;
      Peer *owner;

      /* Cryptokey routing: the inner source must be one of the sending
       * peer's AllowedIPs. */
      if (!ip_addr (data + offset, plen, FALSE, &family, &src) ||
          (owner = route_lookup (n, family, src)) == NULL || owner->wg != wgpeer)
        n->errors[ERR_NOT_ALLOWED]++;
      else if (!ember_shell_write_tun (shell, data + offset, plen))
        count_error (n, EMBER_WG_ERR_BUFFER);
    }
  else if (r < 0)
    count_error (n, r);
}

/* ---- Shell hooks ----------------------------------------------------------- */

/* After each batch (seed 001): staged packets and handshakes go out
 * behind the datagrams already queued; errors are logged once. */
static void
on_drain (EmberShell *shell, gint64 now, gpointer user_data)
{
  Node *n = user_data;
  (void) shell;
  drain_engine (n, now);
  log_batch_errors (n, "batch");
}

static void
on_timeout (EmberShell *shell, gint64 now, gpointer user_data)
{
  Node *n = user_data;
  (void) shell;
  n->wg->update_timers (n->engine, now);
}

/* The D-Bus properties of a static peer: always "connected" (there is no
 * portal), the file's addresses, the peers' WireGuard counters. */
static void
update_api (Node *n)
{
  g_autoptr (EmberStatus) st = ember_status_new ();
  guint8 pub[EMBER_WG_KEY_SIZE];

  st->mode = g_strdup ("static-peer");
  st->state = g_strdup ("connected");
  st->portal_url = g_strdup ("");
  st->portal_state = g_strdup ("");
  n->wg->get_public_key (n->engine, pub);
  st->public_key = g_base64_encode (pub, sizeof pub);
  st->ifname = g_strdup (n->ifname);
  st->ipv4 = g_strdup ("");
  st->ipv6 = g_strdup ("");
  st->cidrs = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n->conf->addresses->len; i++)
    g_ptr_array_add (st->cidrs,
                     ember_cidr_to_string (&g_array_index (n->conf->addresses, EmberCidr, i)));
  for (guint i = 0; i < n->peers->len; i++)
    {
      Peer *p = n->peers->pdata[i];
      EmberWgPeerStats ws;

      n->wg->get_peer_stats (p->wg, &ws);
      st->counters.rx_bytes += ws.rx_bytes;
      st->counters.tx_bytes += ws.tx_bytes;
      st->counters.rx_packets += ws.rx_packets;
      st->counters.tx_packets += ws.tx_packets;
      st->counters.dropped_packets += ws.staged_dropped;
      if (ws.last_handshake != G_MININT64)
        st->counters.handshakes++;
    }
  /* DNS =: the system resolver asks the file's servers themselves, with
   * no sentinel and no plugin in between. */
  if (n->sysdns != NULL)
    {
      EmberSysdnsMode mode = ember_sysdns_get_mode (n->sysdns);

      ember_status_set (&st->dns.system, ember_sysdns_mode_name (mode));
      st->dns.applied = mode != EMBER_SYSDNS_NONE;
      for (guint i = 0; i < n->conf->dns_servers->len; i++)
        {
          EmberAddr a = g_array_index (n->conf->dns_servers, EmberAddr, i);
          char text[EMBER_ADDR_PORT_STRLEN];

          if (a.port == 0)
            a.port = 53;
          ember_status_add_dns_server (st, NULL, NULL, ember_addr_format_port (&a, text));
        }
    }
  ember_dbus_api_update (n->api, st);
}

static void
write_status (Node *n)
{
  g_autofree EmberWgPeer **wgs = g_new (EmberWgPeer *, n->peers->len + 1);
  g_autofree const char **names = g_new (const char *, n->peers->len + 1);

  for (guint i = 0; i < n->peers->len; i++)
    {
      Peer *p = n->peers->pdata[i];
      wgs[i] = p->wg;
      names[i] = p->name;
    }
  ember_static_status_write (n->status_path, n->ifname, n->wg, wgs, names, n->peers->len,
                             g_get_monotonic_time (), g_get_real_time ());
  if (n->api != NULL)
    update_api (n);
}

static void
on_status (EmberShell *shell, gpointer user_data)
{
  (void) shell;
  write_status (user_data);
}

/* ---- Set-up -------------------------------------------------------------- */

static void
engine_rng (gpointer user_data, guint8 *buf, gsize len)
{
  (void) user_data;
  if (gnutls_rnd (GNUTLS_RND_KEY, buf, len) != 0)
    g_error ("the system random number generator failed");
}

static gboolean
resolve_endpoint (const EmberWgConfPeer *cp, EmberAddr *out, GError **error)
{
  struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV };
  struct addrinfo *res = NULL;
  char port[8];
  int rc;

  g_snprintf (port, sizeof port, "%u", cp->endpoint_port);
  rc = getaddrinfo (cp->endpoint_host, port, &hints, &res);
  if (rc != 0 || res == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "peer on line %u: Endpoint %s: %s",
                   cp->line, cp->endpoint_host, gai_strerror (rc));
      return FALSE;
    }
  ember_udp_addr_from_sockaddr (res->ai_addr, res->ai_addrlen, out);
  freeaddrinfo (res);
  return TRUE;
}

static char *
join_cidrs (GArray *a, GArray *b)
{
  g_autoptr (GString) s = g_string_new (NULL);
  GArray *lists[2] = { a, b };

  for (int l = 0; l < 2; l++)
    for (guint i = 0; lists[l] != NULL && i < lists[l]->len; i++)
      {
        g_autofree char *c = ember_cidr_to_string (&g_array_index (lists[l], EmberCidr, i));
        g_string_append_printf (s, "%s%s", s->len ? ";" : "", c);
      }
  return g_strdup (s->str);
}

/* The TUN plugin's group: the interface and its addresses. The routes
 * are netconf's (static-routes.h): the plugin replaces a route that is
 * already there, and Ember must never change one it did not add. */
static GKeyFile *
tun_keyfile (Node *n)
{
  GKeyFile *kf = g_key_file_new ();
  g_autofree char *addresses = join_cidrs (n->conf->addresses, NULL);

  g_key_file_set_string (kf, "tun-linux", "name", n->ifname);
  g_key_file_set_integer (kf, "tun-linux", "mtu", (gint) n->mtu);
  if (*addresses)
    g_key_file_set_string (kf, "tun-linux", "address", addresses);
  return kf;
}

/* Test only: EMBER_WG_TEST_REKEY_AFTER_S=N makes the engine rekey its
 * sessions N seconds after each handshake instead of 120 s, so the
 * interop test can watch rekeys under traffic. Read here, in the shell,
 * never by the engine. */
static gboolean
apply_test_rekey (Node *n, const EmberPlugin *wgp, GError **error)
{
  const char *v = g_getenv ("EMBER_WG_TEST_REKEY_AFTER_S");
  guint64 secs;

  if (v == NULL || *v == '\0')
    return TRUE;
  if (!g_ascii_string_to_unsigned (v, 10, 1, 3600, &secs, error))
    {
      g_prefix_error (error, "EMBER_WG_TEST_REKEY_AFTER_S: ");
      return FALSE;
    }
  if (wgp->vtable_size < G_STRUCT_OFFSET (EmberWgVtable, set_test_rekey_after)
                             + sizeof (n->wg->set_test_rekey_after)
      || n->wg->set_test_rekey_after == NULL)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
                   "%s: EMBER_WG_TEST_REKEY_AFTER_S set but the plugin has no "
                   "set_test_rekey_after", wgp->path);
      return FALSE;
    }
  g_warning ("test only: sessions rekey %" G_GUINT64_FORMAT " s after each handshake", secs);
  n->wg->set_test_rekey_after (n->engine, (gint64) secs * G_USEC_PER_SEC);
  return TRUE;
}

static gboolean
node_start (Node *n, GError **error)
{
  g_autoptr (GPtrArray) dirs = ember_paths_plugin_dirs (NULL);
  static const EmberShellCallbacks callbacks = {
    .tun_packet = on_tun_packet,
    .datagram = on_datagram,
    .timeout = on_timeout,
    .drain = on_drain,
    .status = on_status,
  };
  g_autoptr (GKeyFile) tun_kf = NULL;
  EmberShellConfig shell_cfg;
  EmberPlugin *wgp;
  EmberAddr bind = { 0 };
  gint64 now = g_get_monotonic_time ();

  n->registry = ember_registry_new ();
  ember_registry_scan (n->registry, dirs);
  wgp = ember_registry_lookup (n->registry, "wg", "wg", EMBER_PLUGIN_KIND_WG, error);
  if (wgp == NULL)
    return FALSE;
  /* Members after poll_event are optional (test only). */
  if (wgp->vtable_size < G_STRUCT_OFFSET (EmberWgVtable, set_test_rekey_after))
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
                   "%s: WireGuard vtable too short (%zu bytes)", wgp->path, wgp->vtable_size);
      return FALSE;
    }
  n->wg = wgp->vtable;

  n->engine = n->wg->engine_new (n->conf->private_key, engine_rng, NULL, now,
                                 g_get_real_time (), error);
  if (n->engine == NULL)
    return FALSE;
  if (!apply_test_rekey (n, wgp, error))
    return FALSE;

  for (guint i = 0; i < n->conf->peers->len; i++)
    {
      EmberWgConfPeer *cp = n->conf->peers->pdata[i];
      EmberWgPeerConfig pc = { 0 };
      Peer *p = g_new0 (Peer, 1);

      g_ptr_array_add (n->peers, p);
      memcpy (pc.public_key, cp->public_key, 32);
      pc.has_preshared_key = cp->has_preshared_key;
      memcpy (pc.preshared_key, cp->preshared_key, 32);
      pc.persistent_keepalive_s = cp->persistent_keepalive;
      if (cp->endpoint_host != NULL && !resolve_endpoint (cp, &pc.endpoint, error))
        return FALSE;
      p->conf = cp;
      p->name = g_base64_encode (cp->public_key, 32);
      p->wg = n->wg->add_peer (n->engine, &pc, error);
      gnutls_memset (pc.preshared_key, 0, sizeof pc.preshared_key);
      if (p->wg == NULL)
        return FALSE;
      /* As with `wg setconf`, a prefix listed by two peers belongs to
       * the later one. */
      for (guint j = 0; j < cp->allowed_ips->len; j++)
        ember_prefix_table_insert (n->routes, &g_array_index (cp->allowed_ips, EmberCidr, j), p);
    }

  if (n->conf->has_listen_port)
    {
      bind.family = EMBER_ADDR_NONE;
      bind.port = n->conf->listen_port;
    }
  n->scratch = g_malloc (SCRATCH);
  tun_kf = tun_keyfile (n);
  shell_cfg = (EmberShellConfig){
    .registry = n->registry,
    .tun_plugin = "tun-linux",
    .tun_config = tun_kf,
    .tun_group = "tun-linux",
    .ifname = n->ifname,
    .mtu = n->mtu,
    .bind = n->conf->has_listen_port ? &bind : NULL,
    .fwmark = n->plan.fwmark,
    .status_period_ms = STATUS_PERIOD_MS,
  };
  n->shell = ember_shell_new (&shell_cfg, &callbacks, n, error);
  if (n->shell == NULL)
    return FALSE;

  /* Peers with an endpoint get a handshake at once, as wg does when
   * persistent keepalive is set; the others wait for traffic. */
  for (guint i = 0; i < n->peers->len; i++)
    {
      Peer *p = n->peers->pdata[i];
      if (p->conf->endpoint_host != NULL && p->conf->persistent_keepalive != 0)
        n->wg->initiate (n->engine, p->wg, now);
    }
  drain_engine (n, now);
  ember_shell_flush (n->shell);
  return TRUE;
}

static void
peer_free (gpointer data)
{
  Peer *p = data;
  g_free (p->name);
  g_free (p);
}

static void
node_stop (Node *n)
{
  g_clear_pointer (&n->shell, ember_shell_free); /* the TUN plugin removes its interface */
  if (n->engine != NULL)
    n->wg->engine_free (n->engine); /* wipes the keys */
  g_free (n->scratch);
  g_ptr_array_unref (n->peers);
  ember_prefix_table_free (n->routes);
  g_clear_pointer (&n->registry, ember_registry_free);
  if (n->status_path != NULL)
    g_unlink (n->status_path);
  g_free (n->status_path);
}

/* DNS = as wg-quick does it with resolvconf: the servers and search
 * domains of the file become the system resolver's for as long as the
 * tunnel is up, through the system DNS control (plugins/dns/sysdns):
 * systemd-resolved on the TUN link (with the default route, so every
 * name goes there), else resolvconf, else resolv.conf rewritten and
 * restored. EMBER_DNS_SYSTEM=auto|resolved|resolvconf|file|none picks
 * one. Failing to set it fails the start, as in wg-quick: going on would
 * leave names to a resolver a full tunnel may bypass. */
static gboolean
set_dns (Node *n, const char *state_dir, GError **error)
{
  const EmberWgConf *c = n->conf;
  const char *mode_name = g_getenv ("EMBER_DNS_SYSTEM");
  EmberSysdnsOptions opts = { .mode = EMBER_SYSDNS_AUTO, .ifname = n->ifname,
                              .ifindex = (int) ember_shell_get_ifindex (n->shell),
                              .state_dir = state_dir };
  g_autoptr (GPtrArray) search = g_ptr_array_new ();
  EmberSysdnsConfig cfg = { 0 };

  if (c->dns_line == 0)
    return TRUE;
  if (g_mkdir_with_parents (state_dir, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "state directory %s: %s",
                   state_dir, g_strerror (e));
      return FALSE;
    }
  if (mode_name != NULL && *mode_name
      && !ember_sysdns_mode_from_name (mode_name, &opts.mode, error))
    {
      g_prefix_error (error, "EMBER_DNS_SYSTEM: ");
      return FALSE;
    }
  for (guint i = 0; i < c->dns_search->len; i++)
    g_ptr_array_add (search, g_ptr_array_index (c->dns_search, i));
  g_ptr_array_add (search, NULL);
  cfg.servers = (const EmberAddr *) c->dns_servers->data;
  cfg.n_servers = c->dns_servers->len;
  cfg.search = (const char *const *) search->pdata;
  cfg.default_route = c->dns_servers->len > 0;
  n->sysdns = ember_sysdns_new (&opts, error);
  if (n->sysdns == NULL || !ember_sysdns_apply (n->sysdns, &cfg, error))
    {
      g_prefix_error (error, "%s:%u: DNS: ", c->path, c->dns_line);
      return FALSE;
    }
  g_info ("DNS: %u server(s), %u search domain(s) through %s", cfg.n_servers,
          c->dns_search->len, ember_sysdns_mode_name (ember_sysdns_get_mode (n->sysdns)));
  return TRUE;
}

/* Where netconf keeps its journal for this interface:
 * $EMBER_STATE_DIR (default /var/lib/ember)/static-IFNAME, 0700. One
 * directory per interface, so that two static peers never share a
 * journal, and a restart under the same name cleans up after a killed
 * run. */
static char *
state_dir_path (const char *ifname)
{
  const char *base = g_getenv ("EMBER_STATE_DIR");
  g_autofree char *name = g_strdup_printf ("static-%s", ifname);

  return g_build_filename (base != NULL && *base ? base : "/var/lib/ember", name, NULL);
}

/* netconf is opened when the plan needs it, and also whenever a journal
 * is there: a killed run with a full tunnel left rules that must go
 * even when this run's file asks for none. It is opened before PreUp so
 * the hooks see the machine as it was before any Ember run. */
static gboolean
open_netconf (Node *n, GError **error)
{
  g_autofree char *dir = state_dir_path (n->ifname);
  g_autofree char *journal = g_build_filename (dir, "netconf.journal", NULL);

  if (!ember_static_routes_need_netconf (&n->plan, n->conf) && !g_file_test (journal, G_FILE_TEST_EXISTS))
    return TRUE;
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "state directory %s: %s",
                   dir, g_strerror (e));
      return FALSE;
    }
  n->netconf = ember_netconf_new (dir, error);
  return n->netconf != NULL;
}

static void
node_down (Node *n)
{
  /* The resolver, rules and routes first, while the interface still
   * exists (wg-quick's del_if order). */
  g_clear_pointer (&n->api, ember_dbus_api_free);
  g_clear_pointer (&n->sysdns, ember_sysdns_free);
  g_clear_pointer (&n->netconf, ember_netconf_free);
  node_stop (n);
}

int
ember_static_peer_run (const char *config_path, const char *ifname)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberWgConf) conf = ember_wgconf_load (config_path, &error);
  Node n = { 0 };
  g_autofree char *status_dir = NULL;
  g_autofree char *dir = NULL;
  int code;

  if (conf == NULL || !ember_static_routes_plan (conf, NULL, &n.plan, &error))
    {
      g_printerr ("emberd: %s\n", error->message);
      return 1;
    }
  n.conf = conf;
  if (conf->save_config)
    g_message ("%s:%u: SaveConfig = true: emberd never writes the file back; the peers' "
               "state lives only in this run", conf->path, conf->save_config_line);
  n.mtu = conf->mtu != 0 ? conf->mtu : DEFAULT_MTU;
  n.ifname = (char *) (ifname != NULL ? ifname : "ember0");
  n.peers = g_ptr_array_new_with_free_func (peer_free);
  n.routes = ember_prefix_table_new ();
  n.status_path = ember_static_status_path (n.ifname);
  dir = state_dir_path (n.ifname);
  status_dir = g_path_get_dirname (n.status_path);
  g_mkdir_with_parents (status_dir, 0755);

  /* wg-quick's order: PreUp before the interface exists; then the
   * interface with its addresses, routes and rules; PostUp once all is
   * up; PreDown while it still is; PostDown after it is gone. A failing
   * PreUp, interface or route stops there and undoes what Ember set up
   * (as wg-quick's trap does, without down hooks); a failing PostUp takes
   * the whole down path, hooks included, since PostDown usually undoes
   * PostUp. */
  if (!open_netconf (&n, &error) || !ember_hooks_run (conf, EMBER_WGCONF_PRE_UP, n.ifname, &error)
      || !node_start (&n, &error)
      || (n.netconf != NULL
          && !ember_static_routes_apply (&n.plan, conf, n.netconf,
                                         ember_shell_get_ifindex (n.shell), &error))
      || !set_dns (&n, dir, &error))
    {
      g_printerr ("emberd: %s\n", error->message);
      node_down (&n);
      return 1;
    }
  if (ember_hooks_run (conf, EMBER_WGCONF_POST_UP, n.ifname, &error))
    {
      g_info ("static-peer mode up on %s with %u peer(s)", n.ifname, n.peers->len);
      /* The same API as a client's, for a desktop showing the tunnel. */
      n.api = ember_dbus_api_new ("system", "static-peer", EMBER_VERSION,
                                  &(EmberDbusApiMethods){ 0 }, NULL);
      write_status (&n);
      code = ember_shell_run (n.shell);
    }
  else
    {
      g_printerr ("emberd: %s; taking the interface down again\n", error->message);
      code = 1;
    }
  ember_hooks_run_all (conf, EMBER_WGCONF_PRE_DOWN, n.ifname);
  node_down (&n);
  ember_hooks_run_all (conf, EMBER_WGCONF_POST_DOWN, n.ifname);
  return code;
}
