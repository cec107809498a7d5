/* gateway-mode — emberd as a gateway: the gateway tunnel
 * (tunnel/gateway.h) on the shell.
 *
 * Datagrams (direct or relayed) go to handle_datagram; what passes the
 * policy is written to the TUN and the kernel forwards it to the
 * resource network, masqueraded by gateway-nat (a table of Ember's own,
 * forwarding on). Packets coming back from the resource network reach
 * handle_tun and leave encrypted towards their client. What the policy
 * refuses the machine counts and answers (ICMP prohibited, queued in
 * poll_transmit); the shell drops nothing else.
 *
 * The TUN comes up with the gateway's tunnel addresses from the portal's
 * first init, with routes for the clients' ranges (100.64.0.0/11 and
 * fd00:2021:1111::/107, docs/portal-admin.md), so replies to clients
 * find their way back into it. The portal being away changes nothing
 * for authorized flows; SIGHUP reconnects the portal session and resets
 * the connections (the clients restart them).
 */
#define G_LOG_DOMAIN "ember-gateway"

#include "client-mode.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#include "daemon.h"
#include "dns.h"
#include "gateway-nat.h"
#include "net/cidr.h"
#include "net/token-bucket.h"
#include "packet/packet.h"
#include "tunnel/gateway.h"

/* Denied packets are logged through a token bucket: a burst of
 * DENIAL_LOG_BURST lines, then one per second, so a single denial is
 * always logged at once while a client hammering a closed port cannot
 * flood the journal; what the bucket held back is counted in the next
 * line. */
#define DENIAL_LOG_BURST 10
#define DENIAL_LOG_RATE 1

/* The portal hands clients tunnel addresses from these ranges. */
#define CLIENT_RANGES "100.64.0.0/11;fd00:2021:1111::/107"

typedef struct {
  EmberDaemon d;
  EmberGatewayTunnel *tunnel;
  EmberGatewayNat *nat;
  EmberDnsShell *dns;          /* lookups of proxy addresses' names (dns.h) */
  GHashTable *served;          /* id -> EmberDaemonResource: of the authorizations sent */
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  EmberTokenBucket denial_log;
  guint64 denials_unlogged;
} Gateway;

static void
drain (Gateway *g, gint64 now)
{
  EmberDaemon *d = &g->d;
  EmberTunnelTransmit tx;
  EmberPortalMessage msg;
  EmberGatewayTunnelEvent ev;

  gsize n;

  ember_daemon_pump_relays (d);
  while (ember_gateway_tunnel_poll_transmit (g->tunnel, now, g->buf, sizeof g->buf, &tx))
    ember_shell_send (d->shell, &tx.from, &tx.to, g->buf, tx.len);
  /* Packets the DNS translator held until their name was looked up. */
  while ((n = ember_gateway_tunnel_poll_network (g->tunnel, now, g->buf, sizeof g->buf)) > 0)
    ember_shell_write_tun (d->shell, g->buf, n);
  ember_dns_shell_drain (g->dns, now);
  while (ember_gateway_tunnel_poll_portal (g->tunnel, &msg))
    ember_daemon_portal_send (d, &msg);
  while (ember_gateway_tunnel_poll_event (g->tunnel, &ev))
    {
      switch (ev.type)
        {
        case EMBER_GATEWAY_EVENT_CLIENT_UP:
          g_info ("client %s is connected", ev.client_id.str);
          break;
        case EMBER_GATEWAY_EVENT_CLIENT_GONE:
          g_info ("client %s is gone (%s)", ev.client_id.str, ev.reason);
          break;
        case EMBER_GATEWAY_EVENT_DISCONNECTED:
          g_warning ("the portal ended this session (reason %d)", (int) ev.disconnect);
          break;
        }
      ember_daemon_status_changed (d);
    }
  /* Relay commands the events above caused. */
  ember_daemon_pump_relays (d);
  ember_shell_arm_timer (d->shell, ember_gateway_tunnel_poll_timeout (g->tunnel));
  ember_daemon_check_conns (d);
  if (d->status_dirty)
    ember_daemon_write_status (d);
}

static void
open_tun (Gateway *g, const EmberPortalGatewayInit *init)
{
  EmberDaemon *d = &g->d;
  g_autoptr (GError) error = NULL;

  if (ember_shell_has_tun (d->shell))
    {
      if (!ember_ice_addr_equal (&init->iface.ipv4, &d->iface4)
          || !ember_ice_addr_equal (&init->iface.ipv6, &d->iface6))
        g_warning ("the portal changed this gateway's tunnel addresses; restart emberd to use "
                   "them");
      return;
    }
  if (!ember_daemon_open_tun (d, &init->iface.ipv4, &init->iface.ipv6, CLIENT_RANGES, &error))
    {
      g_printerr ("emberd: cannot bring up %s: %s\n", d->ifname, error->message);
      ember_shell_quit (d->shell, EMBER_EXIT_FAILURE);
      return;
    }
  g->nat = ember_gateway_nat_new (d->ifname, &error);
  if (g->nat == NULL)
    {
      g_printerr ("emberd: %s\n", error->message);
      ember_shell_quit (d->shell, EMBER_EXIT_FAILURE);
      return;
    }
  g_info ("forwarding from %s, masquerading (nftables table %s)", d->ifname,
          ember_gateway_nat_get_table (g->nat));
}

/* ---- Status ---------------------------------------------------------------------- */

static void
track_portal_resources (Gateway *g, const EmberPortalMessage *msg)
{
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_GATEWAY_INIT:
      for (guint i = 0; i < msg->u.gateway_init.n_authorizations; i++)
        ember_daemon_track_resource (g->served, &msg->u.gateway_init.authorizations[i].resource);
      break;
    case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
      ember_daemon_track_resource (g->served, &msg->u.authorize_flow.resource);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
      if (g_hash_table_contains (g->served, msg->u.resource.id.str))
        ember_daemon_track_resource (g->served, &msg->u.resource);
      break;
    default:
      break;
    }
}

static void
status_client (EmberGatewayClient *client, gpointer data)
{
  GPtrArray *live = data;

  if (ember_gateway_client_get_n_authorizations (client) > 0)
    g_ptr_array_add (live, client);
}

static int
by_client_id (gconstpointer a, gconstpointer b)
{
  return strcmp (ember_gateway_client_get_id (*(EmberGatewayClient *const *) a),
                 ember_gateway_client_get_id (*(EmberGatewayClient *const *) b));
}

static int
by_resource_name (gconstpointer a, gconstpointer b)
{
  const EmberStatusResource *x = *(EmberStatusResource *const *) a;
  const EmberStatusResource *y = *(EmberStatusResource *const *) b;
  int c = strcmp (x->name, y->name);
  return c != 0 ? c : strcmp (x->id, y->id);
}

/* The resources some client may reach now and the clients with live
 * flows, sorted so an unchanged state gives the same snapshot (no
 * PropertiesChanged for a new order). What the portal described of a
 * resource nobody holds any more is forgotten: a new authorization
 * describes it again. */
static void
mode_status (EmberDaemon *d, EmberStatus *st)
{
  Gateway *g = (Gateway *) d;
  g_autoptr (GPtrArray) live = g_ptr_array_new ();
  g_autoptr (GHashTable) held = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter it;
  gpointer key, value;

  ember_gateway_policy_foreach_client (ember_gateway_tunnel_get_policy (g->tunnel), status_client,
                                       live);
  g_ptr_array_sort (live, by_client_id);
  for (guint i = 0; i < live->len; i++)
    {
      EmberGatewayClient *client = live->pdata[i];
      guint n = ember_gateway_client_get_n_authorizations (client);
      EmberStatusClient *sc = ember_status_add_client (st, ember_gateway_client_get_id (client), n);

      for (guint k = 0; k < n; k++)
        {
          const char *id = ember_gateway_client_get_authorization (client, k);

          g_ptr_array_add (sc->resources, g_strdup (id));
          g_hash_table_add (held, (gpointer) id);
        }
    }
  g_hash_table_iter_init (&it, g->served);
  while (g_hash_table_iter_next (&it, &key, &value))
    if (!g_hash_table_contains (held, key))
      g_hash_table_iter_remove (&it);
  g_hash_table_iter_init (&it, held);
  while (g_hash_table_iter_next (&it, &key, NULL))
    {
      EmberDaemonResource *r = g_hash_table_lookup (g->served, key);
      EmberStatusResource *sr = ember_status_add_resource (
          st, key, r != NULL ? r->name : "", r != NULL ? r->address : "",
          r != NULL ? r->type : "", "serving", NULL);

      ember_status_set (&sr->site, r != NULL ? r->site : "");
    }
  g_ptr_array_sort (st->resources, by_resource_name);
  ember_dns_shell_status (g->dns, st);
}

/* ---- Shell callbacks ------------------------------------------------------------ */

static void
on_tun_packet (EmberShell *shell, gint64 now, guint8 *buf, gsize cap, gsize off, gsize len,
               gpointer user_data)
{
  Gateway *g = user_data;
  EmberTunnelTransmit tx;

  if (ember_gateway_tunnel_handle_tun (g->tunnel, now, buf, cap, &off, &len, &tx)
      == EMBER_GATEWAY_DATAGRAM)
    ember_shell_send (shell, &tx.from, &tx.to, buf + off, len);
}

/* A client's packet the policy refused (the machine answered it with
 * ICMP prohibited where it may): who sent what where. */
static void
log_denial (Gateway *g, gint64 now, const EmberAddr *peer, guint8 *buf, gsize off, gsize len)
{
  EmberIpPacket pkt;
  EmberAddr src, dst;
  guint16 sport = 0, dport = 0;
  char peer_s[EMBER_ADDR_PORT_STRLEN], src_s[EMBER_ADDR_STRLEN], dst_s[EMBER_ADDR_STRLEN];
  const char *proto;

  if (!ember_token_bucket_ready (&g->denial_log, now))
    {
      g->denials_unlogged++;
      return;
    }
  if (ember_ip_packet_parse (&pkt, buf, off + len, off, len) != EMBER_PACKET_OK)
    return;
  ember_ip_packet_get_source (&pkt, &src);
  ember_ip_packet_get_destination (&pkt, &dst);
  (void) ember_ip_packet_get_source_port (&pkt, &sport);
  (void) ember_ip_packet_get_destination_port (&pkt, &dport);
  switch (ember_ip_packet_protocol (&pkt))
    {
    case 6:
      proto = "tcp";
      break;
    case 17:
      proto = "udp";
      break;
    case 1:
    case 58:
      proto = "icmp";
      break;
    default:
      proto = "ip";
      break;
    }
  g_message ("denied by policy: %s %s:%u -> %s:%u from the client at %s"
             " (%" G_GUINT64_FORMAT " more denied, not logged, since the last line)",
             proto, ember_addr_format (&src, src_s), sport, ember_addr_format (&dst, dst_s), dport,
             ember_addr_format_port (peer, peer_s), g->denials_unlogged);
  ember_token_bucket_spend (&g->denial_log);
  g->denials_unlogged = 0;
}

static void
on_datagram (EmberShell *shell, gint64 now, const EmberAddr *local, const EmberAddr *remote,
             guint8 *buf, gsize len, gpointer user_data)
{
  Gateway *g = user_data;
  gsize off = 0;

  switch (ember_gateway_tunnel_handle_datagram (g->tunnel, now, local, remote, buf, &off, &len))
    {
    case EMBER_GATEWAY_TO_NETWORK:
      ember_shell_write_tun (shell, buf + off, len);
      break;
    case EMBER_GATEWAY_REFUSED:
      log_denial (g, now, remote, buf, off, len);
      break;
    default:
      break;
    }
}

static void
on_relay_event (EmberShell *shell, gint64 now, const EmberRelayEvent *ev, gpointer user_data)
{
  Gateway *g = user_data;
  (void) shell;
  ember_daemon_relay_event (&g->d, now, ev);
}

static void
on_timeout (EmberShell *shell, gint64 now, gpointer user_data)
{
  Gateway *g = user_data;
  (void) shell;
  ember_gateway_tunnel_handle_timeout (g->tunnel, now);
}

static void
on_drain (EmberShell *shell, gint64 now, gpointer user_data)
{
  (void) shell;
  drain (user_data, now);
}

/* ---- Daemon hooks ---------------------------------------------------------------- */

static void
mode_portal_message (EmberDaemon *d, gint64 now, const EmberPortalMessage *msg)
{
  Gateway *g = (Gateway *) d;

  if (msg->event == EMBER_PORTAL_EVENT_GATEWAY_INIT)
    {
      /* The policy's expiries are wall-clock: keep its view current. */
      ember_gateway_tunnel_set_wall_clock (g->tunnel, now, g_get_real_time ());
      open_tun (g, &msg->u.gateway_init);
    }
  track_portal_resources (g, msg);
  ember_gateway_tunnel_handle_portal (g->tunnel, now, msg);
  ember_daemon_status_changed (d);
  drain (g, now);
  ember_shell_flush (d->shell);
}

static void
mode_host_addresses (EmberDaemon *d, gint64 now, const EmberAddr *addrs, guint n)
{
  Gateway *g = (Gateway *) d;
  ember_gateway_tunnel_set_host_addresses (g->tunnel, now, addrs, n);
  drain (g, now);
  ember_shell_flush (d->shell);
}

static void
mode_drain (EmberDaemon *d, gint64 now)
{
  drain ((Gateway *) d, now);
}

/* The DNS plugin answered a lookup: drain and send. */
static void
dns_kick (gpointer user_data)
{
  Gateway *g = user_data;

  drain (g, g_get_monotonic_time ());
  ember_shell_flush (g->d.shell);
}

static const EmberDaemonMode gateway_mode = {
  .portal_message = mode_portal_message,
  .host_addresses = mode_host_addresses,
  .drain = mode_drain,
  .status = mode_status,
};

int
ember_gateway_mode_run (EmberConfig *config)
{
  static const EmberShellCallbacks callbacks = {
    .tun_packet = on_tun_packet,
    .datagram = on_datagram,
    .relay_event = on_relay_event,
    .timeout = on_timeout,
    .drain = on_drain,
  };
  g_autoptr (GError) error = NULL;
  Gateway g = { 0 };
  EmberGatewayTunnelConfig tc = { 0 };
  gint64 now = g_get_monotonic_time ();
  int code = EMBER_EXIT_FAILURE;

  ember_token_bucket_init (&g.denial_log, DENIAL_LOG_RATE, DENIAL_LOG_BURST, now);
  g.served = ember_daemon_resource_table_new ();
  if (!ember_daemon_init (&g.d, config, EMBER_PORTAL_CHANNEL_GATEWAY, &gateway_mode, NULL, &code,
                          &error))
    goto out;
  tc.wg = g.d.wg;
  memcpy (tc.private_key, g.d.identity->private_key, sizeof tc.private_key);
  tc.rng = (EmberIceRng){ ember_daemon_rng, NULL };
  tc.wall_us = g_get_real_time ();
  g.tunnel = ember_gateway_tunnel_new (&tc, now, &error);
  gnutls_memset (tc.private_key, 0, sizeof tc.private_key);
  code = EMBER_EXIT_FAILURE;
  if (g.tunnel == NULL)
    goto out;
  g.d.node = ember_gateway_tunnel_get_node (g.tunnel);
  g.dns = ember_dns_shell_new_gateway (&g.d, ember_gateway_tunnel_get_translator (g.tunnel),
                                       dns_kick, &g, &error);
  if (g.dns == NULL)
    goto out;
  /* A gateway routes nothing of its own into the tunnel: no fwmark. */
  if (!ember_daemon_start (&g.d, &callbacks, 0, &error))
    goto out;
  code = ember_daemon_run (&g.d);

out:
  if (error != NULL)
    g_printerr ("emberd: %s\n", error->message);
  g_clear_pointer (&g.dns, ember_dns_shell_free);
  ember_daemon_clear (&g.d);
  g_clear_pointer (&g.nat, ember_gateway_nat_free);
  g_clear_pointer (&g.tunnel, ember_gateway_tunnel_free);
  g_clear_pointer (&g.served, g_hash_table_unref);
  return code;
}
