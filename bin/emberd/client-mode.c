/* client-mode — emberd as a client: the client tunnel (tunnel/client.h)
 * on the shell.
 *
 * TUN packets go to handle_tun, datagrams (the UDP socket's and those
 * turn.so relayed) to handle_datagram; the node's relay commands go to
 * turn.so and its events back (daemon.c). Portal messages go in as they
 * come, and what the tunnel has for the portal goes out through the
 * session, queued while the portal is away: a tunnel never goes down
 * because the portal did.
 *
 * The TUN comes up with the addresses of the portal's first init (the
 * INTERFACE event). Routes for the resources come and go with the
 * tunnel's ROUTE_ADD / ROUTE_REMOVE through netconf (journalled: removed
 * at exit, or at the next start after a SIGKILL). The internet resource
 * (a /0 route) becomes netconf's full tunnel: the default route in a
 * table of Ember's own, for traffic without Ember's fwmark, which is on
 * the UDP socket and on turn.so's sockets. It is on by default: the
 * headless client routes what the policy grants.
 *
 * Roaming: netmon's address changes reach set_host_addresses, which
 * restarts ICE when the usable set changed. SIGHUP reconnects the portal
 * session and fails every connection, which the tunnel restarts.
 *
 * The D-Bus API (daemon.c) may take all of it down and up again
 * (Disconnect, Connect, SignOut, SignIn): new_tunnel replaces the machine
 * with a fresh one. SetInternetResource turns the internet resource on
 * or off; the choice is kept in <state-dir>/internet ("on" or "off").
 */
#define G_LOG_DOMAIN "ember-client"

#include "client-mode.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "dns.h"
#include "net/cidr.h"
#include "ice/candidate.h"
#include "tunnel/client.h"

#define INTERNET_FILE "internet"


typedef struct {
  EmberDaemon d;
  EmberClientTunnel *tunnel;
  GHashTable *resources;      /* id -> EmberDaemonResource */
  GArray *pending_routes;     /* EmberCidr, ROUTE_ADD before the TUN was up */
  gboolean internet;          /* the internet resource is on */
  EmberDnsShell *dns;         /* the stub on the TUN (dns.h) */
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
} Client;

/* ---- Routes ------------------------------------------------------------------ */

static int
cidr_family (const EmberCidr *cidr)
{
  return cidr->family == EMBER_ADDR_IPV4 ? AF_INET : AF_INET6;
}

static void
route (Client *c, const EmberCidr *cidr, gboolean add)
{
  EmberDaemon *d = &c->d;
  guint ifindex = ember_shell_get_ifindex (d->shell);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = ember_cidr_to_string (cidr);
  gboolean ok;

  if (cidr->prefix == 0)
    ok = add ? ember_netconf_full_tunnel_add (d->netconf, ifindex, cidr_family (cidr),
                                              EMBER_NETCONF_DEFAULT_FWMARK,
                                              EMBER_NETCONF_DEFAULT_TABLE, &error)
             : ember_netconf_full_tunnel_remove (d->netconf, cidr_family (cidr), &error);
  else
    ok = add ? ember_netconf_route_add (d->netconf, ifindex, cidr, 0, &error)
             : ember_netconf_route_remove (d->netconf, ifindex, cidr, 0, &error);
  if (!ok)
    g_warning ("%s %s: %s", add ? "route" : "route removal", text, error->message);
  else
    g_info ("%s %s %s %s", add ? "routing" : "no longer routing", text, add ? "into" : "through",
            d->ifname);
}

static void
handle_event (Client *c, const EmberClientEvent *ev)
{
  EmberDaemon *d = &c->d;
  g_autoptr (GError) error = NULL;

  switch (ev->type)
    {
    case EMBER_CLIENT_EVENT_INTERFACE:
      if (ember_shell_has_tun (d->shell))
        {
          if (!ember_ice_addr_equal (&ev->addr, &d->iface4)
              || !ember_ice_addr_equal (&ev->addr6, &d->iface6))
            g_warning ("the portal changed this device's tunnel addresses; restart emberd to "
                       "use them");
          break;
        }
      if (!ember_daemon_open_tun (d, &ev->addr, &ev->addr6, NULL, &error))
        {
          g_printerr ("emberd: cannot bring up %s: %s\n", d->ifname, error->message);
          ember_shell_quit (d->shell, EMBER_EXIT_FAILURE);
          break;
        }
      for (guint i = 0; i < c->pending_routes->len; i++)
        route (c, &g_array_index (c->pending_routes, EmberCidr, i), TRUE);
      g_array_set_size (c->pending_routes, 0);
      ember_dns_shell_tun_up (c->dns);
      break;
    case EMBER_CLIENT_EVENT_ROUTE_ADD:
      if (!ember_shell_has_tun (d->shell))
        g_array_append_val (c->pending_routes, ev->cidr);
      else
        route (c, &ev->cidr, TRUE);
      break;
    case EMBER_CLIENT_EVENT_ROUTE_REMOVE:
      for (guint i = 0; i < c->pending_routes->len; i++)
        if (ember_cidr_equal (&g_array_index (c->pending_routes, EmberCidr, i), &ev->cidr))
          g_array_remove_index (c->pending_routes, i--);
      if (ember_shell_has_tun (d->shell))
        route (c, &ev->cidr, FALSE);
      break;
    case EMBER_CLIENT_EVENT_DISCONNECTED:
      g_warning ("the portal ended this session (reason %d)", (int) ev->disconnect);
      break;
    }
  ember_daemon_status_changed (d);
}

/* ---- Drain ---------------------------------------------------------------------- */

static void
drain (Client *c, gint64 now)
{
  EmberDaemon *d = &c->d;
  gboolean more = TRUE;

  while (more)
    {
      EmberTunnelTransmit tx;
      EmberPortalMessage msg;
      EmberClientEvent ev;
      gsize n;

      more = FALSE;
      ember_dns_shell_drain (c->dns, now);
      ember_daemon_pump_relays (d);
      while (ember_client_tunnel_poll_transmit (c->tunnel, now, c->buf, sizeof c->buf, &tx))
        ember_shell_send (d->shell, &tx.from, &tx.to, c->buf, tx.len);
      while (ember_client_tunnel_poll_portal (c->tunnel, &msg))
        ember_daemon_portal_send (d, &msg);
      while ((n = ember_client_tunnel_poll_tun (c->tunnel, c->buf, sizeof c->buf)) > 0)
        ember_shell_write_tun (d->shell, c->buf, n);
      while (ember_client_tunnel_poll_event (c->tunnel, &ev))
        {
          handle_event (c, &ev);
          more = TRUE;
        }
    }
  ember_shell_arm_timer (d->shell, MIN (ember_client_tunnel_poll_timeout (c->tunnel),
                                        ember_dns_shell_poll_timeout (c->dns)));
  ember_daemon_check_conns (d);
  if (d->status_dirty)
    ember_daemon_write_status (d);
}

/* ---- Shell callbacks --------------------------------------------------------------- */

static void
on_tun_packet (EmberShell *shell, gint64 now, guint8 *buf, gsize cap, gsize off, gsize len,
               gpointer user_data)
{
  Client *c = user_data;
  EmberTunnelTransmit tx;

  if (ember_dns_shell_handle_tun (c->dns, now, buf, cap, off, len))
    return;
  if (ember_client_tunnel_handle_tun (c->tunnel, now, buf, cap, &off, &len, &tx)
      == EMBER_CLIENT_DATAGRAM)
    ember_shell_send (shell, &tx.from, &tx.to, buf + off, len);
}

static void
on_datagram (EmberShell *shell, gint64 now, const EmberAddr *local, const EmberAddr *remote,
             guint8 *buf, gsize len, gpointer user_data)
{
  Client *c = user_data;
  gsize off = 0;

  if (ember_client_tunnel_handle_datagram (c->tunnel, now, local, remote, buf, &off, &len)
      == EMBER_CLIENT_PACKET)
    ember_shell_write_tun (shell, buf + off, len);
}

static void
on_relay_event (EmberShell *shell, gint64 now, const EmberRelayEvent *ev, gpointer user_data)
{
  Client *c = user_data;
  (void) shell;
  ember_daemon_relay_event (&c->d, now, ev);
}

static void
on_timeout (EmberShell *shell, gint64 now, gpointer user_data)
{
  Client *c = user_data;
  (void) shell;
  ember_client_tunnel_handle_timeout (c->tunnel, now);
  ember_dns_shell_handle_timeout (c->dns, now);
}

static void
on_drain (EmberShell *shell, gint64 now, gpointer user_data)
{
  (void) shell;
  drain (user_data, now);
}

/* The DNS plugin answered: drain and send. */
static void
dns_kick (gpointer user_data)
{
  Client *c = user_data;

  drain (c, g_get_monotonic_time ());
  ember_shell_flush (c->d.shell);
}

/* ---- Daemon hooks ----------------------------------------------------------------- */

static void
mode_portal_message (EmberDaemon *d, gint64 now, const EmberPortalMessage *msg)
{
  Client *c = (Client *) d;

  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_CLIENT_INIT:
      g_hash_table_remove_all (c->resources);
      for (guint i = 0; i < msg->u.client_init.n_resources; i++)
        ember_daemon_track_resource (c->resources, &msg->u.client_init.resources[i]);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
      ember_daemon_track_resource (c->resources, &msg->u.resource);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_DELETED:
      g_hash_table_remove (c->resources, msg->u.resource_deleted.id.str);
      break;
    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED:
      {
        EmberDaemonResource *r = g_hash_table_lookup (c->resources,
                                           msg->u.authorization_failed.resource_id.str);
        if (r != NULL)
          r->offline = msg->u.authorization_failed.reason == EMBER_PORTAL_AUTHZ_OFFLINE;
        break;
      }
    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED:
      {
        EmberDaemonResource *r = g_hash_table_lookup (c->resources,
                                           msg->u.authorization_created.resource_id.str);
        if (r != NULL)
          r->offline = FALSE;
        break;
      }
    default:
      break;
    }
  ember_client_tunnel_handle_portal (c->tunnel, now, msg);
  ember_dns_shell_portal_message (c->dns, msg);
  ember_daemon_status_changed (d);
  drain (c, now);
  ember_shell_flush (d->shell);
}

static void
mode_host_addresses (EmberDaemon *d, gint64 now, const EmberAddr *addrs, guint n)
{
  Client *c = (Client *) d;
  ember_client_tunnel_set_host_addresses (c->tunnel, now, addrs, n);
  drain (c, now);
  ember_shell_flush (d->shell);
}

static void
mode_drain (EmberDaemon *d, gint64 now)
{
  drain ((Client *) d, now);
}

static const char *
authz_status (Client *c, EmberClientAuthzState state, const EmberPortalId *gw, gboolean offline)
{
  EmberTunnelConn *conn;

  switch (state)
    {
    case EMBER_CLIENT_AUTHZ_NONE:
      return "not_connected";
    case EMBER_CLIENT_AUTHZ_REQUESTED:
      return "connecting";
    case EMBER_CLIENT_AUTHZ_DENIED:
      return offline ? "gateway_offline" : "denied";
    case EMBER_CLIENT_AUTHZ_AUTHORIZED:
      conn = ember_tunnel_node_lookup (c->d.node, gw->str);
      return conn != NULL && ember_tunnel_conn_get_state (conn) == EMBER_TUNNEL_CONN_UP
                 ? "connected"
                 : "connecting";
    }
  return "not_connected";
}

static void
mode_status (EmberDaemon *d, EmberStatus *st)
{
  Client *c = (Client *) d;
  GHashTableIter it;
  gpointer key, value;

  g_hash_table_iter_init (&it, c->resources);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      EmberDaemonResource *r = value;
      EmberPortalId id = { 0 }, gw = { 0 };
      EmberClientAuthzState state = EMBER_CLIENT_AUTHZ_NONE;
      guint held = 0;

      g_strlcpy (id.str, key, sizeof id.str);
      ember_client_tunnel_get_resource (c->tunnel, &id, &state, &gw, &held);
      EmberStatusResource *sr = ember_status_add_resource (
          st, key, r->name, r->address, r->type, authz_status (c, state, &gw, r->offline),
          state == EMBER_CLIENT_AUTHZ_AUTHORIZED ? gw.str : "");
      g_free (sr->site);
      sr->site = g_strdup (r->site != NULL ? r->site : "");
      g_free (sr->ip_stack);
      sr->ip_stack = g_strdup (r->ip_stack != NULL ? r->ip_stack : "");
    }
  st->internet = c->internet;
  ember_dns_shell_status (c->dns, st);
}

static EmberClientTunnel *
tunnel_new (Client *c, gint64 now, GError **error)
{
  EmberClientTunnelConfig tc = { 0 };
  EmberClientTunnel *tunnel;

  tc.wg = c->d.wg;
  memcpy (tc.private_key, c->d.identity->private_key, sizeof tc.private_key);
  tc.rng = (EmberIceRng){ ember_daemon_rng, NULL };
  tc.wall_us = g_get_real_time ();
  tunnel = ember_client_tunnel_new (&tc, now, error);
  gnutls_memset (tc.private_key, 0, sizeof tc.private_key);
  if (tunnel == NULL)
    return NULL;
  c->d.node = ember_client_tunnel_get_node (tunnel);
  ember_client_tunnel_set_internet_enabled (tunnel, now, c->internet);
  return tunnel;
}

static void
mode_new_tunnel (EmberDaemon *d, gint64 now)
{
  Client *c = (Client *) d;
  g_autoptr (GError) error = NULL;
  EmberClientTunnel *fresh = tunnel_new (c, now, &error);

  if (fresh == NULL)
    {
      /* Same key and RNG as at start: a bug, not a state to run in. */
      g_error ("cannot build a new client tunnel: %s", error->message);
    }
  ember_client_tunnel_free (c->tunnel);
  c->tunnel = fresh;
  /* The TUN is closed: the sentinels are gone with it. */
  ember_dns_shell_tun_down (c->dns);
  ember_dns_shell_set_tunnel (c->dns, fresh);
  g_hash_table_remove_all (c->resources);
  g_array_set_size (c->pending_routes, 0);
  drain (c, now);
}

static gboolean
has_internet_resource (Client *c)
{
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, c->resources);
  while (g_hash_table_iter_next (&it, NULL, &value))
    if (g_str_equal (((EmberDaemonResource *) value)->type, "internet"))
      return TRUE;
  return FALSE;
}

static gboolean
mode_set_internet (EmberDaemon *d, gint64 now, gboolean enabled, GError **error)
{
  Client *c = (Client *) d;
  g_autofree char *path = g_build_filename (d->config->state_dir, INTERNET_FILE, NULL);
  g_autoptr (GError) local = NULL;

  if (!has_internet_resource (c))
    {
      g_set_error_literal (error, EMBER_DBUS_ERROR, EMBER_DBUS_ERROR_NO_INTERNET_RESOURCE,
                           "the portal's policy gives this device no internet resource");
      return FALSE;
    }
  if (!g_file_set_contents_full (path, enabled ? "on\n" : "off\n", -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local))
    {
      g_set_error (error, EMBER_DBUS_ERROR, EMBER_DBUS_ERROR_FAILED,
                   "cannot keep the choice: %s", local->message);
      return FALSE;
    }
  c->internet = enabled;
  ember_client_tunnel_set_internet_enabled (c->tunnel, now, enabled);
  g_info ("internet resource %s", enabled ? "on" : "off");
  drain (c, now);
  ember_shell_flush (d->shell);
  return TRUE;
}

/* On unless the state directory says "off". */
static gboolean
load_internet (const char *state_dir)
{
  g_autofree char *path = g_build_filename (state_dir, INTERNET_FILE, NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return TRUE;
  return !g_str_equal (g_strstrip (text), "off");
}

static const EmberDaemonMode client_mode = {
  .portal_message = mode_portal_message,
  .host_addresses = mode_host_addresses,
  .drain = mode_drain,
  .status = mode_status,
  .new_tunnel = mode_new_tunnel,
  .set_internet = mode_set_internet,
};

int
ember_client_mode_run (EmberConfig *config)
{
  static const EmberShellCallbacks callbacks = {
    .tun_packet = on_tun_packet,
    .datagram = on_datagram,
    .relay_event = on_relay_event,
    .timeout = on_timeout,
    .drain = on_drain,
  };
  g_autoptr (GError) error = NULL;
  Client c = { 0 };
  gint64 now = g_get_monotonic_time ();
  int code = EMBER_EXIT_FAILURE;

  c.resources = ember_daemon_resource_table_new ();
  c.pending_routes = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  if (!ember_daemon_init (&c.d, config, EMBER_PORTAL_CHANNEL_CLIENT, &client_mode, NULL, &code,
                          &error))
    goto out;
  c.internet = load_internet (config->state_dir);
  c.tunnel = tunnel_new (&c, now, &error);
  code = EMBER_EXIT_FAILURE;
  if (c.tunnel == NULL)
    goto out;
  c.dns = ember_dns_shell_new_client (&c.d, c.tunnel, dns_kick, &c, &error);
  if (c.dns == NULL)
    goto out;
  if (!ember_daemon_start (&c.d, &callbacks, EMBER_NETCONF_DEFAULT_FWMARK, &error))
    goto out;
  code = ember_daemon_run (&c.d);

out:
  if (error != NULL)
    g_printerr ("emberd: %s\n", error->message);
  /* The system resolver back first, then the session (no callback
   * after), then the devices. */
  g_clear_pointer (&c.dns, ember_dns_shell_free);
  ember_daemon_clear (&c.d);
  g_clear_pointer (&c.tunnel, ember_client_tunnel_free);
  g_hash_table_unref (c.resources);
  g_array_unref (c.pending_routes);
  return code;
}
