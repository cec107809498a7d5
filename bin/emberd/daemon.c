/* daemon — the part client and gateway modes share (daemon.h). */
#define G_LOG_DOMAIN "ember-daemon"

#include "daemon.h"

#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "ember-build-config.h"
#include "ice/candidate.h"
#include "net/cidr.h"
#include "paths.h"

/* The Error signal for a portal away this long (org.ember.Ember1.xml). */

guint64
ember_daemon_rng (gpointer user_data)
{
  guint64 v;
  (void) user_data;
  if (gnutls_rnd (GNUTLS_RND_KEY, &v, sizeof v) != 0)
    g_error ("the system random number generator failed");
  return v;
}

/* ---- sd_notify --------------------------------------------------------------- */

static void
notify_status (EmberDaemon *d)
{
  const char *portal = ember_portal_session_state_to_string (d->portal_state);
  guint n = d->node != NULL ? ember_tunnel_node_get_n_conns (d->node) : 0;
  g_autofree char *text = g_strdup_printf ("portal %s, %s %s, %u connection(s)", portal,
                                           d->ifname,
                                           ember_shell_has_tun (d->shell) ? "up" : "not up yet",
                                           n);

  if (g_strcmp0 (text, d->last_notify) == 0)
    return;
  g_free (d->last_notify);
  d->last_notify = g_steal_pointer (&text);
  ember_notifier_status (d->notifier, d->last_notify);
  /* READY once the TUN is up and the portal joined the first time. */
  if (!d->ready_sent && d->joined_once && ember_shell_has_tun (d->shell))
    {
      d->ready_sent = TRUE;
      ember_notifier_ready (d->notifier);
      g_info ("ready: %s is up and the portal joined", d->ifname);
    }
}

/* ---- Status --------------------------------------------------------------------- */

void
ember_daemon_status_changed (EmberDaemon *d)
{
  d->status_dirty = TRUE;
}

static const char *
relay_of (EmberDaemon *d, const EmberAddr *relayed)
{
  static char text[EMBER_ADDR_PORT_STRLEN];
  EmberAddr relay;

  if (!ember_shell_relay_of (d->shell, relayed, &relay))
    return NULL;
  return ember_addr_format_port (&relay, text);
}

/* A relay whose address shares the IP of a peer's relayed candidate (a
 * relay hands out addresses of its own host). */
static const char *
relay_by_ip (EmberDaemon *d, const EmberAddr *remote)
{
  static char text[EMBER_ADDR_PORT_STRLEN];
  EmberRelaySpec specs[EMBER_TUNNEL_MAX_RELAYS];
  guint n = ember_tunnel_node_get_relays (d->node, specs, G_N_ELEMENTS (specs));

  for (guint i = 0; i < n; i++)
    if (specs[i].server.family == remote->family
        && memcmp (specs[i].server.addr, remote->addr, remote->family == EMBER_ADDR_IPV4 ? 4 : 16)
               == 0)
      return ember_addr_format_port (&specs[i].server, text);
  return NULL;
}

typedef struct {
  EmberDaemon *d;
  EmberStatus *st;
  gint64 now;
} StatusVisit;

/* The API's State (org.ember.Ember1.xml). */
static const char *
api_state (EmberDaemon *d)
{
  if (d->token == NULL)
    return "signed-out";
  if (d->session == NULL)
    return "disconnected";
  if (d->portal_state == EMBER_PORTAL_SESSION_JOINED)
    return "connected";
  return d->joined_session ? "reconnecting" : "connecting";
}

static void
status_conn (EmberTunnelConn *conn, gpointer data)
{
  StatusVisit *v = data;
  EmberStatusConnection *c = ember_status_add_connection (
      v->st, ember_tunnel_conn_get_peer_id (conn),
      ember_tunnel_conn_state_to_string (ember_tunnel_conn_get_state (conn)));
  EmberIceCandidate local, remote;
  EmberWgPeerStats ws;

  if (ember_tunnel_conn_get_selected (conn, &local, &remote))
    {
      char a[EMBER_ADDR_PORT_STRLEN];
      const char *relay = NULL;

      g_free (c->local);
      c->local = g_strdup (ember_addr_format_port (&local.addr, a));
      g_free (c->remote);
      c->remote = g_strdup (ember_addr_format_port (&remote.addr, a));
      /* Relayed when either side of the selected pair is a relayed
       * candidate: ours goes through our relay, theirs through theirs. */
      if (local.type == EMBER_ICE_CANDIDATE_RELAY)
        relay = relay_of (v->d, &local.base);
      else if (remote.type == EMBER_ICE_CANDIDATE_RELAY)
        relay = relay_by_ip (v->d, &remote.addr);
      g_free (c->path);
      c->path = g_strdup (local.type == EMBER_ICE_CANDIDATE_RELAY
                                  || remote.type == EMBER_ICE_CANDIDATE_RELAY
                              ? "relayed"
                              : "direct");
      if (relay != NULL)
        {
          g_free (c->relay);
          c->relay = g_strdup (relay);
        }
    }
  if (ember_tunnel_conn_get_wg_stats (v->d->node, conn, &ws))
    {
      EmberStatusCounters *t = &v->st->counters;

      c->rx_bytes = ws.rx_bytes;
      c->tx_bytes = ws.tx_bytes;
      if (ws.last_handshake != G_MININT64 && ws.last_handshake != 0)
        {
          c->handshake_age_s = (v->now - ws.last_handshake) / G_USEC_PER_SEC;
          t->handshakes++;
        }
      t->rx_bytes += ws.rx_bytes;
      t->tx_bytes += ws.tx_bytes;
      t->rx_packets += ws.rx_packets;
      t->tx_packets += ws.tx_packets;
      t->dropped_packets += ws.staged_dropped;
    }
}

EmberStatus *
ember_daemon_snapshot (EmberDaemon *d)
{
  EmberStatus *st = ember_status_new ();
  char a[EMBER_ADDR_STRLEN];
  StatusVisit v = { d, st, g_get_monotonic_time () };

  st->mode = g_strdup (d->config->mode);
  st->pid = getpid ();
  st->state = g_strdup (api_state (d));
  st->public_key = g_strdup (d->public_key != NULL ? d->public_key : "");
  ember_status_set (&st->device_id, d->device_id);
  ember_status_set (&st->device_name, d->device_name);
  st->portal_url = g_strdup (d->config->portal_url);
  st->portal_state = g_strdup (ember_portal_session_state_to_string (d->portal_state));
  st->portal_since = d->portal_since;
  st->ifname = g_strdup (ember_shell_has_tun (d->shell) ? d->ifname : "");
  st->ipv4 = g_strdup (d->iface4.family ? ember_addr_format (&d->iface4, a) : "");
  st->ipv6 = g_strdup (d->iface6.family ? ember_addr_format (&d->iface6, a) : "");
  if (d->mode->status != NULL)
    d->mode->status (d, st);
  ember_tunnel_node_foreach (d->node, status_conn, &v);
  /* Totals since the daemon started: what the machines that went down
   * (Disconnect, SignOut, Reset) had counted. */
  st->counters.rx_bytes += d->counters_base.rx_bytes;
  st->counters.tx_bytes += d->counters_base.tx_bytes;
  st->counters.rx_packets += d->counters_base.rx_packets;
  st->counters.tx_packets += d->counters_base.tx_packets;
  st->counters.dropped_packets += d->counters_base.dropped_packets;
  st->counters.handshakes += d->counters_base.handshakes;
  return st;
}

void
ember_daemon_write_status (EmberDaemon *d)
{
  g_autoptr (EmberStatus) st = ember_daemon_snapshot (d);
  g_autoptr (GError) error = NULL;

  d->status_dirty = FALSE;
  if (!ember_status_write (st, d->status_path, &error))
    g_debug ("status: %s", error->message);
  if (d->api != NULL)
    ember_dbus_api_update (d->api, st);
  notify_status (d);
}

static void
collect_conn (EmberTunnelConn *conn, gpointer data)
{
  g_ptr_array_add (data, conn);
}

/* SIGHUP: a new portal session now, and every connection fails (the
 * machine restarts them; fail() withdraws their candidates first). */
static void
on_hangup (EmberShell *shell, gpointer user_data)
{
  EmberDaemon *d = user_data;
  g_autoptr (GPtrArray) conns = g_ptr_array_new ();
  gint64 now = g_get_monotonic_time ();

  (void) shell;
  g_info ("reconnecting to the portal and resetting every connection");
  if (d->session != NULL)
    ember_portal_session_reconnect (d->session);
  ember_tunnel_node_foreach (d->node, collect_conn, conns);
  for (guint i = 0; i < conns->len; i++)
    ember_tunnel_node_fail (d->node, conns->pdata[i], now, "reset by SIGHUP");
  d->mode->drain (d, now);
}

static void
fingerprint_conn (EmberTunnelConn *conn, gpointer data)
{
  guint *fp = data;
  *fp = *fp * 31u + ember_tunnel_conn_get_generation (conn) * 4u
        + (guint) ember_tunnel_conn_get_state (conn);
}

void
ember_daemon_check_conns (EmberDaemon *d)
{
  guint fp = ember_tunnel_node_get_n_conns (d->node);

  /* Connection states change inside the machine without an event the
   * shell sees; a change shows in the status at once, not a second later. */
  ember_tunnel_node_foreach (d->node, fingerprint_conn, &fp);
  if (fp != d->conn_fingerprint)
    {
      d->conn_fingerprint = fp;
      d->status_dirty = TRUE;
    }
}

static void
on_status_tick (EmberShell *shell, gpointer user_data)
{
  EmberDaemon *d = user_data;
  (void) shell;
  gint64 outage = d->outage_since != 0 ? g_get_monotonic_time () - d->outage_since : 0;
  if (d->outage_since != 0 && !d->outage_told && d->api != NULL
      && outage >= (gint64) d->config->portal_outage_notice_s * G_USEC_PER_SEC)
    {
      gint64 secs = outage / G_USEC_PER_SEC;
      g_autofree char *how_long =
          secs < 120 ? g_strdup_printf ("%" G_GINT64_FORMAT " seconds", secs)
                     : g_strdup_printf ("%" G_GINT64_FORMAT " minutes", secs / 60);
      const char *why = d->portal_error != NULL ? d->portal_error : "no answer";
      g_autofree char *msg = g_strdup_printf ("the portal %s has been unreachable for %s (%s)",
                                              d->config->portal_url, how_long, why);
      d->outage_told = TRUE;
      ember_dbus_api_emit_error (d->api, EMBER_DBUS_ERROR_PORTAL_UNREACHABLE, msg);
    }
  ember_daemon_write_status (d);
  /* The status tick runs on the main loop: it proves the loop turns. */
  if (d->watchdog)
    ember_notifier_watchdog (d->notifier);
}

/* ---- Resources as the status shows them ----------------------------------------- */

static void
resource_free (gpointer data)
{
  EmberDaemonResource *r = data;
  g_free (r->name);
  g_free (r->address);
  g_free (r->site);
  g_free (r);
}

GHashTable *
ember_daemon_resource_table_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, resource_free);
}

void
ember_daemon_track_resource (GHashTable *table, const EmberPortalResource *pr)
{
  EmberDaemonResource *r = g_new0 (EmberDaemonResource, 1);

  r->name = g_strdup (pr->name);
  r->site = g_strdup (pr->site.name);
  switch (pr->type)
    {
    case EMBER_PORTAL_RESOURCE_CIDR:
      r->type = "cidr";
      r->address = ember_cidr_to_string (&pr->cidr);
      break;
    case EMBER_PORTAL_RESOURCE_DNS:
      r->type = "dns";
      r->address = g_strdup (pr->dns_pattern);
      r->ip_stack = ember_portal_ip_stack_to_string (pr->ip_stack);
      break;
    case EMBER_PORTAL_RESOURCE_INTERNET:
      r->type = "internet";
      r->address = g_strdup ("");
      break;
    }
  g_hash_table_replace (table, g_strdup (pr->id.str), r);
}

/* ---- Relays ------------------------------------------------------------------- */

/* What the node was last given as our server-reflexive address through
 * `relay`; added (unset) when new, NULL when the table is full. */
static EmberAddr *
srflx_fed (EmberDaemon *d, const EmberAddr *relay)
{
  for (guint i = 0; i < d->n_srflx; i++)
    if (ember_ice_addr_equal (&d->srflx[i].relay, relay))
      return &d->srflx[i].fed;
  if (d->n_srflx == G_N_ELEMENTS (d->srflx))
    return NULL;
  memset (&d->srflx[d->n_srflx], 0, sizeof d->srflx[0]);
  d->srflx[d->n_srflx].relay = *relay;
  return &d->srflx[d->n_srflx++].fed;
}

/* Gives the node `addr` as our server-reflexive address through
 * `relay`, with the one it replaces as `old` so that candidate is
 * withdrawn. */
static void
srflx_feed (EmberDaemon *d, gint64 now, const EmberAddr *relay, const EmberAddr *addr)
{
  EmberRelayEvent ev = { .type = EMBER_RELAY_EVENT_SRFLX, .relay = *relay, .addr = *addr };
  EmberAddr *fed = srflx_fed (d, relay);

  if (fed != NULL)
    {
      if (ember_ice_addr_is_set (fed) && !ember_ice_addr_equal (fed, addr))
        ev.old = *fed;
      *fed = *addr;
    }
  ember_tunnel_node_handle_relay_event (d->node, now, &ev);
  d->status_dirty = TRUE;
}

/* The relay set changed: forget relays that left; a relay whose mapping
 * the shell's Binding already knows (the machine is new, or the relay
 * came back) gets it at once, since the Binding reports changes only. */
static void
srflx_relays_set (EmberDaemon *d, const EmberRelaySpec *specs, guint n)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = d->n_srflx; i-- > 0;)
    {
      gboolean keep = FALSE;
      for (guint k = 0; k < n && !keep; k++)
        keep = ember_ice_addr_equal (&specs[k].server, &d->srflx[i].relay);
      if (!keep)
        d->srflx[i] = d->srflx[--d->n_srflx];
    }
  for (guint k = 0; k < n; k++)
    {
      EmberAddr mapped;
      if (ember_shell_srflx_of (d->shell, &specs[k].server, &mapped))
        srflx_feed (d, now, &specs[k].server, &mapped);
    }
}

/* The shell's own Binding: the ICE socket's mapping as a relay sees it. */
static void
on_srflx (EmberShell *shell, gint64 now, const EmberRelayEvent *ev, gpointer user_data)
{
  EmberDaemon *d = user_data;
  (void) shell;
  srflx_feed (d, now, &ev->relay, &ev->addr);
}

void
ember_daemon_pump_relays (EmberDaemon *d)
{
  EmberTunnelRelayCommand cmd;

  while (ember_tunnel_node_poll_relay_command (d->node, &cmd))
    switch (cmd.type)
      {
      case EMBER_TUNNEL_RELAY_SET:
        {
          EmberRelaySpec specs[EMBER_TUNNEL_MAX_RELAYS];
          guint n = ember_tunnel_node_get_relays (d->node, specs, G_N_ELEMENTS (specs));
          ember_shell_relay_set (d->shell, specs, n);
          srflx_relays_set (d, specs, n);
          break;
        }
      case EMBER_TUNNEL_RELAY_ALLOCATE:
        ember_shell_relay_allocate (d->shell, &cmd.relay);
        break;
      case EMBER_TUNNEL_RELAY_ADD_PEER:
        ember_shell_relay_add_peer (d->shell, &cmd.relayed, &cmd.peer);
        break;
      }
}

void
ember_daemon_relay_event (EmberDaemon *d, gint64 now, const EmberRelayEvent *ev)
{
  char a[EMBER_ADDR_PORT_STRLEN];

  switch (ev->type)
    {
    case EMBER_RELAY_EVENT_DOWN:
      {
        /* The node forgets the relay's server-reflexive address. */
        EmberAddr *fed = srflx_fed (d, &ev->relay);
        g_warning ("relay %s stopped answering", ember_addr_format_port (&ev->relay, a));
        if (fed != NULL)
          memset (fed, 0, sizeof *fed);
        break;
      }
    case EMBER_RELAY_EVENT_UP:
      {
        EmberAddr mapped;
        g_info ("relay %s answers again", ember_addr_format_port (&ev->relay, a));
        ember_tunnel_node_handle_relay_event (d->node, now, ev);
        if (ember_shell_srflx_of (d->shell, &ev->relay, &mapped))
          srflx_feed (d, now, &ev->relay, &mapped);
        d->status_dirty = TRUE;
        return;
      }
    case EMBER_RELAY_EVENT_FAILED:
      g_warning ("relay %s refused us (STUN error %u)", ember_addr_format_port (&ev->relay, a),
                 ev->error_code);
      break;
    case EMBER_RELAY_EVENT_SRFLX:
      {
        /* turn.so learns the mapping of its own socket, whose port is
         * no use to ICE; the shell's own Binding learns the ICE
         * socket's (docs/tunnel.md). Once that answered, turn.so's is
         * ignored. Until then (the first round trip, or a relay that
         * answers turn.so only) it stands in, with the ICE socket's
         * port: right behind NATs that keep the inside port when it is
         * free (Linux masquerade, most home routers), replaced (`old`)
         * when the Binding's answer says otherwise. */
        EmberAddr guess = ev->addr, mapped;
        if (ember_shell_srflx_of (d->shell, &ev->relay, &mapped))
          return;
        guess.port = ember_shell_get_port (d->shell);
        srflx_feed (d, now, &ev->relay, &guess);
        return;
      }
    case EMBER_RELAY_EVENT_ALLOCATED:
    case EMBER_RELAY_EVENT_INVALIDATED:
      break; /* the shell keeps the relayed addresses (ember_shell_relay_of) */
    }
  ember_tunnel_node_handle_relay_event (d->node, now, ev);
  d->status_dirty = TRUE;
}

/* ---- Host addresses ---------------------------------------------------------------- */

void
ember_daemon_refresh_addresses (EmberDaemon *d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) list = ember_netmon_list_addresses (d->netmon, &error);
  EmberAddr addrs[EMBER_TUNNEL_MAX_HOST_ADDRS];
  guint n = 0;

  if (list == NULL)
    {
      g_warning ("cannot list the host's addresses: %s", error->message);
      return;
    }
  for (guint i = 0; i < list->len && n < G_N_ELEMENTS (addrs); i++)
    {
      EmberAddr a = g_array_index (list, EmberAddr, i);
      /* The TUN's own addresses are no way to reach us. */
      if (ember_ice_addr_equal (&a, &d->iface4) || ember_ice_addr_equal (&a, &d->iface6))
        continue;
      a.port = ember_shell_get_port (d->shell);
      addrs[n++] = a;
    }
  /* Roaming: the portal's WebSocket may hang on an address that is
   * gone (TCP notices only after its retransmissions run out); a new
   * session from the new addresses now, while ICE restarts. */
  if (d->addrs_known && d->session != NULL
      && (n != d->n_last_addrs || memcmp (addrs, d->last_addrs, n * sizeof addrs[0]) != 0))
    {
      g_info ("the host's addresses changed: reconnecting to the portal");
      ember_portal_session_reconnect (d->session);
    }
  /* A new address may be a new NAT: ask the relays for the mapping. */
  if (d->addrs_known
      && (n != d->n_last_addrs || memcmp (addrs, d->last_addrs, n * sizeof addrs[0]) != 0))
    ember_shell_srflx_refresh (d->shell);
  memcpy (d->last_addrs, addrs, n * sizeof addrs[0]);
  d->n_last_addrs = n;
  d->addrs_known = TRUE;
  d->mode->host_addresses (d, g_get_monotonic_time (), addrs, n);
}

static void
on_netmon (EmberNetmon *mon, gpointer user_data)
{
  EmberDaemon *d = user_data;
  (void) mon;
  g_info ("the host's addresses or routes changed");
  ember_daemon_refresh_addresses (d);
}

/* ---- The portal ------------------------------------------------------------------- */

void
ember_daemon_portal_send (EmberDaemon *d, EmberPortalMessage *msg)
{
  g_autoptr (GError) error = NULL;

  /* Queued while the portal is away (the session keeps them in order);
   * a refusal is a bug or a full queue, and the machine asks again.
   * Disconnected or signed out: the machine is a fresh one that is
   * told nothing, and what it asks for goes nowhere. */
  if (d->session != NULL && !ember_portal_session_send (d->session, msg, &error))
    g_warning ("portal: cannot send: %s", error->message);
  ember_portal_message_clear (msg);
}

/* Every init says again who this device is at the portal (or, from a
 * portal that predates the member, nothing). */
static void
remember_device (EmberDaemon *d, const EmberPortalDevice *dev)
{
  if (g_strcmp0 (d->device_name, dev->name) == 0
      && g_strcmp0 (d->device_id, dev->name != NULL ? dev->id.str : NULL) == 0)
    return;
  g_free (d->device_id);
  g_free (d->device_name);
  d->device_id = dev->name != NULL ? g_strdup (dev->id.str) : NULL;
  d->device_name = g_strdup (dev->name);
  d->status_dirty = TRUE;
  if (dev->name != NULL)
    g_info ("portal: this device is %s (%s)", dev->name, dev->id.str);
}

static void
on_portal_message (EmberPortalSession *s, const EmberPortalMessage *msg, gpointer user_data)
{
  EmberDaemon *d = user_data;
  (void) s;
  if (msg->event == EMBER_PORTAL_EVENT_CLIENT_INIT)
    remember_device (d, &msg->u.client_init.device);
  else if (msg->event == EMBER_PORTAL_EVENT_GATEWAY_INIT)
    remember_device (d, &msg->u.gateway_init.device);
  d->mode->portal_message (d, g_get_monotonic_time (), msg);
}

static gboolean portal_open (EmberDaemon *d, GError **error);

/* Takes the portal session and the tunnel down: the session, the routes
 * and rules (netconf removes what it added while the TUN still exists),
 * the TUN, the machine's connections (a fresh machine). sign_out: and
 * forgets the token. */
static void
go_down (EmberDaemon *d, gboolean sign_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStatus) last = ember_daemon_snapshot (d);

  d->counters_base = last->counters;
  g_clear_pointer (&d->session, ember_portal_session_free);
  d->portal_state = EMBER_PORTAL_SESSION_DISCONNECTED;
  d->portal_since = g_get_real_time () / G_USEC_PER_SEC;
  d->joined_session = FALSE;
  d->outage_since = 0;
  d->outage_told = FALSE;
  g_clear_pointer (&d->netconf, ember_netconf_free);
  ember_shell_close_tun (d->shell);
  memset (&d->iface4, 0, sizeof d->iface4);
  memset (&d->iface6, 0, sizeof d->iface6);
  /* No relays: turn.so releases its allocations, the shell's Binding
   * stops (with or without turn.so). */
  ember_shell_relay_set (d->shell, NULL, 0);
  d->netconf = ember_netconf_new (d->config->state_dir, &error);
  if (d->netconf == NULL)
    {
      g_printerr ("emberd: %s\n", error->message);
      ember_shell_quit (d->shell, EMBER_EXIT_FAILURE);
    }
  d->mode->new_tunnel (d, g_get_monotonic_time ());
  ember_daemon_refresh_addresses (d);
  if (sign_out && d->token != NULL)
    ember_identity_token_free (g_steal_pointer (&d->token));
  /* Another token may name another device. */
  if (sign_out)
    {
      g_clear_pointer (&d->device_id, g_free);
      g_clear_pointer (&d->device_name, g_free);
    }
  d->status_dirty = TRUE;
  g_info ("%s: the portal session and %s are down", sign_out ? "signed out" : "disconnected",
          d->ifname);
}

static gboolean
on_rejected (gpointer user_data)
{
  EmberDaemon *d = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *msg = g_steal_pointer (&d->rejection);

  d->rejected_id = 0;
  go_down (d, TRUE);
  if (!ember_identity_delete_token (d->config->state_dir, &error))
    g_warning ("%s", error->message);
  ember_dbus_api_emit_error (d->api, EMBER_DBUS_ERROR_TOKEN_REJECTED, msg);
  ember_daemon_write_status (d);
  return G_SOURCE_REMOVE;
}

static void
on_portal_state (EmberPortalSession *s, EmberPortalSessionState state, const GError *error,
                 gpointer user_data)
{
  EmberDaemon *d = user_data;
  (void) s;

  d->portal_state = state;
  d->portal_since = g_get_real_time () / G_USEC_PER_SEC;
  switch (state)
    {
    case EMBER_PORTAL_SESSION_JOINED:
      g_info ("portal: joined %s", d->config->portal_url);
      d->joined_once = TRUE;
      d->joined_session = TRUE;
      d->outage_since = 0;
      d->outage_told = FALSE;
      break;
    case EMBER_PORTAL_SESSION_CONNECTING:
      g_debug ("portal: connecting to %s", d->config->portal_url);
      break;
    case EMBER_PORTAL_SESSION_DISCONNECTED:
      /* The tunnels stay: the portal being away is no reason to stop. */
      if (error != NULL)
        {
          g_warning ("portal: %s; retrying", error->message);
          g_free (d->portal_error);
          d->portal_error = g_strdup (error->message);
        }
      if (d->outage_since == 0)
        d->outage_since = g_get_monotonic_time ();
      break;
    case EMBER_PORTAL_SESSION_REJECTED:
      /* A desktop client signs in again through the API: signed out,
       * told by the Error signal. Without the API, nothing can. */
      if (d->mode->new_tunnel != NULL && d->api != NULL && ember_dbus_api_is_serving (d->api))
        {
          g_free (d->rejection);
          d->rejection = g_strdup (error != NULL ? error->message
                                                 : "the portal rejected the token");
          /* Not from inside the session's own callback. */
          if (d->rejected_id == 0)
            d->rejected_id = g_idle_add (on_rejected, d);
          break;
        }
      g_printerr ("emberd: %s\n", error != NULL ? error->message : "the portal rejected us");
      g_warning ("portal: %s", error != NULL ? error->message : "rejected");
      ember_shell_quit (d->shell, EMBER_EXIT_REJECTED);
      break;
    }
  ember_daemon_write_status (d);
}

/* ---- The D-Bus methods (client) ---------------------------------------------------- */

static gboolean
not_signed_in (EmberDaemon *d, GError **error)
{
  if (d->token != NULL)
    return FALSE;
  g_set_error_literal (error, EMBER_DBUS_ERROR, EMBER_DBUS_ERROR_NOT_SIGNED_IN,
                       "emberd is signed out: SignIn first");
  return TRUE;
}

/* A method's failure as the API's Failed error, with the cause's text. */
static gboolean
method_failed (GError **error, const GError *cause)
{
  g_set_error_literal (error, EMBER_DBUS_ERROR, EMBER_DBUS_ERROR_FAILED, cause->message);
  return FALSE;
}

static gboolean
api_sign_in (gpointer user_data, const char *portal_url, const char *token, GError **error)
{
  EmberDaemon *d = user_data;
  g_autoptr (GError) local = NULL;

  if (d->token != NULL)
    {
      g_set_error (error, EMBER_DBUS_ERROR, EMBER_DBUS_ERROR_ALREADY_SIGNED_IN,
                   "emberd is signed in to %s: SignOut first", d->config->portal_url);
      return FALSE;
    }
  if (!ember_identity_store_token (d->config->state_dir, portal_url, token, &local))
    {
      g_set_error (error, EMBER_DBUS_ERROR, EMBER_DBUS_ERROR_FAILED,
                   "cannot store the token: %s", local->message);
      return FALSE;
    }
  d->token = g_strdup (token);
  g_free (d->config->portal_url);
  d->config->portal_url = g_strdup (portal_url);
  g_info ("signed in over D-Bus; token stored in %s", d->config->state_dir);
  if (!portal_open (d, &local))
    {
      ember_daemon_write_status (d);
      return method_failed (error, local);
    }
  ember_daemon_write_status (d);
  return TRUE;
}

static gboolean
api_sign_out (gpointer user_data, GError **error)
{
  EmberDaemon *d = user_data;
  g_autoptr (GError) local = NULL;

  if (not_signed_in (d, error))
    return FALSE;
  go_down (d, TRUE);
  if (!ember_identity_delete_token (d->config->state_dir, &local))
    {
      ember_daemon_write_status (d);
      return method_failed (error, local);
    }
  ember_daemon_write_status (d);
  return TRUE;
}

static gboolean
api_connect (gpointer user_data, GError **error)
{
  EmberDaemon *d = user_data;
  g_autoptr (GError) local = NULL;

  if (not_signed_in (d, error))
    return FALSE;
  if (d->session != NULL)
    return TRUE;
  if (!portal_open (d, &local))
    {
      return method_failed (error, local);
    }
  ember_daemon_write_status (d);
  return TRUE;
}

static gboolean
api_disconnect (gpointer user_data, GError **error)
{
  EmberDaemon *d = user_data;

  if (not_signed_in (d, error))
    return FALSE;
  if (d->session != NULL)
    go_down (d, FALSE);
  ember_daemon_write_status (d);
  return TRUE;
}

static gboolean
api_reset (gpointer user_data, GError **error)
{
  EmberDaemon *d = user_data;

  if (not_signed_in (d, error))
    return FALSE;
  g_info ("reset over D-Bus: building the portal session and the tunnel again");
  go_down (d, FALSE);
  return api_connect (d, error);
}

static gboolean
api_set_internet (gpointer user_data, gboolean enabled, GError **error)
{
  EmberDaemon *d = user_data;

  if (!d->mode->set_internet (d, g_get_monotonic_time (), enabled, error))
    return FALSE;
  ember_daemon_write_status (d);
  return TRUE;
}

static const EmberDbusApiMethods client_methods = {
  .sign_in = api_sign_in,
  .sign_out = api_sign_out,
  .connect = api_connect,
  .disconnect = api_disconnect,
  .set_internet = api_set_internet,
  .reset = api_reset,
};

/* ---- Set-up ------------------------------------------------------------------------ */

gboolean
ember_daemon_init (EmberDaemon *d, EmberConfig *config, EmberPortalChannel channel,
                   const EmberDaemonMode *mode, gpointer mode_data, int *exit_code,
                   GError **error)
{
  g_autoptr (GPtrArray) dirs = NULL;
  g_autofree char *source = NULL;
  const char *group;
  EmberPlugin *wgp;

  d->config = config;
  d->channel = channel;
  d->mode = mode;
  d->mode_data = mode_data;
  d->status_path = ember_status_path (config->runtime_dir);
  group = config->roles[EMBER_PLUGIN_KIND_TUN];
  d->ifname = g_key_file_get_string (config->keyfile, group, "name", NULL);
  if (d->ifname == NULL)
    d->ifname = g_strdup (EMBER_DAEMON_DEFAULT_IFNAME);
  d->mtu = EMBER_DAEMON_DEFAULT_MTU;
  if (g_key_file_has_key (config->keyfile, group, "mtu", NULL))
    d->mtu = (guint) g_key_file_get_integer (config->keyfile, group, "mtu", NULL);

  *exit_code = EMBER_EXIT_CONFIG;
  if (mode->new_tunnel != NULL)
    {
      g_autofree char *url = NULL;
      GError *local = NULL;

      /* SignIn's token, with the portal it was given for. */
      d->token = ember_identity_load_stored_token (config->state_dir, &url, &local);
      if (local != NULL)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
      if (d->token != NULL)
        {
          g_free (config->portal_url);
          config->portal_url = g_steal_pointer (&url);
          source = g_strdup_printf ("SignIn, stored in %s", config->state_dir);
        }
    }
  if (d->token == NULL)
    {
      GError *local = NULL;

      d->token = ember_identity_load_token (config->portal_token_file, &source, &local);
      /* A client that serves the API waits for SignIn. */
      if (d->token == NULL && mode->new_tunnel != NULL && config->portal_token_file == NULL
          && !g_str_equal (config->bus, "none")
          && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        {
          g_info ("%s: signed out, waiting for SignIn on D-Bus", local->message);
          g_clear_error (&local);
        }
      else if (d->token == NULL)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
    }
  if (d->token != NULL)
    g_info ("portal token from %s", source);

  dirs = ember_paths_plugin_dirs ((const char *const *) config->plugin_dirs);
  d->registry = ember_registry_new ();
  ember_registry_scan (d->registry, dirs);
  if (!ember_config_check_plugins (config, d->registry, error))
    return FALSE;
  wgp = ember_registry_lookup (d->registry, "wg", config->roles[EMBER_PLUGIN_KIND_WG],
                               EMBER_PLUGIN_KIND_WG, error);
  if (wgp == NULL)
    return FALSE;
  d->wg = wgp->vtable;

  *exit_code = EMBER_EXIT_FAILURE;
  d->identity = ember_identity_load (config->state_dir, error);
  if (d->identity == NULL)
    return FALSE;
  g_info ("device %s (state in %s)", d->identity->external_id, config->state_dir);
  return TRUE;
}

gboolean
ember_daemon_start (EmberDaemon *d, const EmberShellCallbacks *callbacks, guint32 fwmark,
                    GError **error)
{
  const char *transport = d->config->roles[EMBER_PLUGIN_KIND_TRANSPORT];
  guint8 pub[EMBER_WG_KEY_SIZE];
  EmberShellCallbacks cb = *callbacks;
  EmberShellConfig sc = { 0 };

  /* The relay traffic must leave by the main table too (full tunnel). */
  if (fwmark != 0 && transport != NULL
      && !g_key_file_has_key (d->config->keyfile, transport, "fwmark", NULL))
    g_key_file_set_uint64 (d->config->keyfile, transport, "fwmark", fwmark);
  d->notifier = ember_notifier_new ();
  cb.status = on_status_tick;
  cb.hangup = on_hangup;
  cb.srflx = on_srflx;
  {
    guint64 usec = 0;
    /* WatchdogSec= of at least 2 s: pinged once a second (the status
     * tick); a shorter one could not be served by that tick. */
    if (sd_watchdog_enabled (0, &usec) > 0)
      {
        d->watchdog = usec >= 2 * G_USEC_PER_SEC;
        if (!d->watchdog)
          g_warning ("WatchdogSec= below 2 s is not supported; not pinging the watchdog");
      }
  }
  sc.registry = d->registry;
  sc.fwmark = fwmark;
  sc.transport_plugin = transport;
  sc.transport_config = d->config->keyfile;
  sc.transport_group = transport;
  sc.status_period_ms = EMBER_DAEMON_STATUS_PERIOD_MS;
  d->shell = ember_shell_new (&sc, &cb, d, error);
  if (d->shell == NULL)
    return FALSE;

  d->netconf = ember_netconf_new (d->config->state_dir, error);
  if (d->netconf == NULL)
    return FALSE;
  d->netmon = ember_netmon_new (NULL, on_netmon, d, error);
  if (d->netmon == NULL)
    return FALSE;

  ember_tunnel_node_get_public_key (d->node, pub);
  d->public_key = g_base64_encode (pub, sizeof pub);
  d->api = ember_dbus_api_new (d->config->bus, d->config->mode, EMBER_VERSION,
                               d->mode->new_tunnel != NULL ? &client_methods
                                                           : &(EmberDbusApiMethods){ 0 },
                               d);
  ember_daemon_refresh_addresses (d);
  if (d->token != NULL && !portal_open (d, error))
    return FALSE;
  ember_daemon_write_status (d);
  return TRUE;
}

static gboolean
portal_open (EmberDaemon *d, GError **error)
{
  static const EmberPortalSessionCallbacks portal_cb = {
    .message = on_portal_message,
    .state_changed = on_portal_state,
  };
  EmberPortalSessionConfig pc = { 0 };

  g_return_val_if_fail (d->session == NULL && d->token != NULL, FALSE);
  pc.url = d->config->portal_url;
  pc.token = d->token;
  pc.channel = d->channel;
  pc.public_key = d->public_key;
  pc.external_id = d->identity->external_id;
  pc.ca_file = d->config->portal_ca_file;
  d->session = ember_portal_session_new (NULL, &pc, &portal_cb, d, error);
  if (d->session == NULL)
    return FALSE;
  d->portal_state = EMBER_PORTAL_SESSION_CONNECTING;
  d->joined_session = FALSE;
  g_info ("public key %s; signing in to %s", d->public_key, d->config->portal_url);
  ember_portal_session_start (d->session);
  return TRUE;
}

gboolean
ember_daemon_open_tun (EmberDaemon *d, const EmberAddr *ipv4, const EmberAddr *ipv6,
                       const char *routes, GError **error)
{
  GKeyFile *kf = d->config->keyfile;
  const char *group = d->config->roles[EMBER_PLUGIN_KIND_TUN];
  g_autoptr (GString) addrs = g_string_new (NULL);
  char a[EMBER_ADDR_STRLEN];

  if (ipv4 != NULL && ipv4->family == EMBER_ADDR_IPV4)
    {
      d->iface4 = *ipv4;
      g_string_append_printf (addrs, "%s/32", ember_addr_format (ipv4, a));
    }
  if (ipv6 != NULL && ipv6->family == EMBER_ADDR_IPV6)
    {
      d->iface6 = *ipv6;
      g_string_append_printf (addrs, "%s%s/128", addrs->len ? ";" : "",
                              ember_addr_format (ipv6, a));
    }
  /* The plugin's own group, with what the portal decides. */
  g_key_file_set_string (kf, group, "name", d->ifname);
  if (addrs->len > 0)
    g_key_file_set_string (kf, group, "address", addrs->str);
  if (routes != NULL && *routes)
    g_key_file_set_string (kf, group, "route", routes);
  if (!g_key_file_has_key (kf, group, "mtu", NULL))
    g_key_file_set_integer (kf, group, "mtu", (gint) d->mtu);
  if (!ember_shell_open_tun (d->shell, group, kf, group, d->ifname, d->mtu, error))
    return FALSE;
  g_info ("%s is up: %s", d->ifname, addrs->str);
  /* Our own routes and addresses on it are no roaming. */
  ember_netmon_set_ignored_ifindex (d->netmon, ember_shell_get_ifindex (d->shell));
  /* Its own addresses leave the host candidates. */
  ember_daemon_refresh_addresses (d);
  d->status_dirty = TRUE;
  return TRUE;
}

int
ember_daemon_run (EmberDaemon *d)
{
  return ember_shell_run (d->shell);
}

void
ember_daemon_clear (EmberDaemon *d)
{
  /* The API first: no method reaches a daemon being taken apart. */
  g_clear_pointer (&d->api, ember_dbus_api_free);
  g_clear_handle_id (&d->rejected_id, g_source_remove);
  g_clear_pointer (&d->rejection, g_free);
  g_clear_pointer (&d->portal_error, g_free);
  g_clear_pointer (&d->public_key, g_free);
  g_clear_pointer (&d->device_id, g_free);
  g_clear_pointer (&d->device_name, g_free);
  g_clear_pointer (&d->session, ember_portal_session_free);
  g_clear_pointer (&d->netmon, ember_netmon_free);
  g_clear_pointer (&d->shell, ember_shell_free);
  /* After the TUN is gone: what it routed went with it; the rest (full
   * tunnel rules) is removed here. */
  g_clear_pointer (&d->netconf, ember_netconf_free);
  g_clear_pointer (&d->registry, ember_registry_free);
  g_clear_pointer (&d->identity, ember_identity_free);
  if (d->token != NULL)
    ember_identity_token_free (g_steal_pointer (&d->token));
  if (d->status_path != NULL)
    g_unlink (d->status_path);
  g_clear_pointer (&d->status_path, g_free);
  g_clear_pointer (&d->ifname, g_free);
  g_clear_pointer (&d->last_notify, g_free);
  g_clear_pointer (&d->notifier, ember_notifier_free);
}
