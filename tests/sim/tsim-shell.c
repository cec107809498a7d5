/* tsim/shell — the I/O shells of the simulated devices.
 *
 * The relay shell plays turn.so for one tunnel node: one sans-IO TURN
 * client per relay the node lists, driven by the node's relay commands,
 * its events fed back as EmberRelayEvent, relayed datagrams delivered
 * with the relayed address as the local side. The client shell runs the
 * client tunnel: portal messages in and out, datagrams, the TUN. */
#include "tsim-private.h"

#include <string.h>

/* ---- relay shell -------------------------------------------------------- */

static ShellRelay *
by_server (RelayShell *s, const EmberAddr *server)
{
  for (guint i = 0; i < EMBER_TUNNEL_MAX_RELAYS; i++)
    if (s->r[i].tc != NULL && ember_ice_addr_equal (&s->r[i].server, server))
      return &s->r[i];
  return NULL;
}

static ShellRelay *
by_relayed (RelayShell *s, const EmberAddr *relayed)
{
  for (guint i = 0; i < EMBER_TUNNEL_MAX_RELAYS; i++)
    if (s->r[i].tc != NULL && ember_turn_client_owns_relayed (s->r[i].tc, relayed))
      return &s->r[i];
  return NULL;
}

void
relay_shell_init (RelayShell *s, TSim *sim, SimHost *host, const EmberAddr *sock,
                  EmberTunnelNode *node, guint64 seed)
{
  memset (s, 0, sizeof *s);
  s->sim = sim;
  s->host = host;
  s->sock = *sock;
  s->node = node;
  s->dirty = TRUE;
  sim_rng_seed (&s->rng, seed);
}

void
relay_shell_clear (RelayShell *s)
{
  for (guint i = 0; i < EMBER_TUNNEL_MAX_RELAYS; i++)
    g_clear_pointer (&s->r[i].tc, ember_turn_client_free);
}

static void
send_udp (RelayShell *s, const EmberAddr *to, const guint8 *buf, gsize len)
{
  sim_net_send (s->sim->w->net, s->sim->w->now, s->host, &s->sock, to, buf, len);
}

static void
set_relays (RelayShell *s)
{
  EmberRelaySpec specs[EMBER_TUNNEL_MAX_RELAYS];
  guint n = ember_tunnel_node_get_relays (s->node, specs, EMBER_TUNNEL_MAX_RELAYS);
  gint64 now = s->sim->w->now;
  /* Relays that left are released. */
  for (guint i = 0; i < EMBER_TUNNEL_MAX_RELAYS; i++)
    {
      ShellRelay *r = &s->r[i];
      gboolean keep = FALSE;
      for (guint k = 0; k < n && r->tc != NULL && !keep; k++)
        keep = ember_ice_addr_equal (&specs[k].server, &r->server);
      if (r->tc != NULL && !keep)
        g_clear_pointer (&r->tc, ember_turn_client_free);
    }
  for (guint k = 0; k < n; k++)
    {
      ShellRelay *r = by_server (s, &specs[k].server);
      if (r != NULL)
        {
          /* New credentials: the relay rebooted (or renewed them). */
          if (strcmp (r->user, specs[k].username) != 0 || strcmp (r->pass, specs[k].password) != 0)
            {
              g_strlcpy (r->user, specs[k].username, sizeof r->user);
              g_strlcpy (r->pass, specs[k].password, sizeof r->pass);
              ember_turn_client_update_credentials (r->tc, now, r->user, r->pass);
            }
          continue;
        }
      for (guint i = 0; i < EMBER_TUNNEL_MAX_RELAYS && r == NULL; i++)
        if (s->r[i].tc == NULL)
          r = &s->r[i];
      g_assert_nonnull (r);
      r->server = specs[k].server;
      g_strlcpy (r->user, specs[k].username, sizeof r->user);
      g_strlcpy (r->pass, specs[k].password, sizeof r->pass);
      EmberTurnRng rng = { sim_rng_next_cb, &s->rng };
      r->tc = ember_turn_client_new (&r->server, r->user, r->pass, &rng, now);
    }
}

void
relay_shell_sync (RelayShell *s)
{
  gint64 now = s->sim->w->now;
  s->dirty = TRUE;
  gboolean more = TRUE;
  while (more)
    {
      more = FALSE;
      EmberTunnelRelayCommand cmd;
      while (ember_tunnel_node_poll_relay_command (s->node, &cmd))
        {
          more = TRUE;
          switch (cmd.type)
            {
            case EMBER_TUNNEL_RELAY_SET:
              set_relays (s);
              break;
            case EMBER_TUNNEL_RELAY_ALLOCATE:
              {
                ShellRelay *r = by_server (s, &cmd.relay);
                if (r != NULL)
                  {
                    ember_turn_client_want_allocation (r->tc, now);
                    if (ember_turn_client_is_allocated (r->tc))
                      {
                        /* turn.so reports ALLOCATED again for every allocate(). */
                        EmberRelayEvent ev = { .type = EMBER_RELAY_EVENT_ALLOCATED, .relay = r->server };
                        ev.n_relayed = ember_turn_client_get_relayed (r->tc, ev.relayed);
                        ember_tunnel_node_handle_relay_event (s->node, now, &ev);
                      }
                  }
                break;
              }
            case EMBER_TUNNEL_RELAY_ADD_PEER:
              {
                ShellRelay *r = by_relayed (s, &cmd.relayed);
                if (r != NULL)
                  ember_turn_client_add_peer (r->tc, now, &cmd.peer);
                break;
              }
            }
        }
      for (guint i = 0; i < EMBER_TUNNEL_MAX_RELAYS; i++)
        {
          ShellRelay *r = &s->r[i];
          if (r->tc == NULL)
            continue;
          guint8 buf[EMBER_TURN_MAX_MESSAGE + 64];
          EmberAddr to;
          gsize len;
          while ((len = ember_turn_client_poll_transmit (r->tc, buf, sizeof buf, &to)) > 0)
            send_udp (s, &to, buf, len);
          EmberTurnEvent tev;
          while (ember_turn_client_poll_event (r->tc, &tev))
            {
              more = TRUE;
              EmberRelayEvent ev = { .relay = r->server, .addr = tev.addr, .old = tev.old,
                                     .n_relayed = tev.n_relayed, .error_code = tev.error_code };
              memcpy (ev.relayed, tev.relayed, sizeof ev.relayed);
              switch (tev.type)
                {
                case EMBER_TURN_EVENT_SRFLX: ev.type = EMBER_RELAY_EVENT_SRFLX; break;
                case EMBER_TURN_EVENT_ALLOCATED: ev.type = EMBER_RELAY_EVENT_ALLOCATED; break;
                case EMBER_TURN_EVENT_INVALIDATED: ev.type = EMBER_RELAY_EVENT_INVALIDATED; break;
                case EMBER_TURN_EVENT_DOWN: ev.type = EMBER_RELAY_EVENT_DOWN; break;
                case EMBER_TURN_EVENT_UP: ev.type = EMBER_RELAY_EVENT_UP; break;
                case EMBER_TURN_EVENT_ALLOCATION_FAILED: ev.type = EMBER_RELAY_EVENT_FAILED; break;
                }
              if (g_getenv ("EMBER_SIM_TRACE") != NULL)
                {
                  char a[EMBER_ICE_ADDR_STRLEN], b[EMBER_ICE_ADDR_STRLEN];
                  g_printerr ("[%9.3f] shell %s: relay %s event %d addr %s\n", (double) now / 1e6,
                              ember_ice_addr_to_string (&s->sock, a),
                              ember_ice_addr_to_string (&r->server, b), tev.type,
                              ember_ice_addr_to_string (&tev.addr, a));
                }
              ember_tunnel_node_handle_relay_event (s->node, now, &ev);
            }
        }
    }
}

gboolean
relay_shell_input (RelayShell *s, const EmberAddr *from, const guint8 *buf, gsize len,
                   EmberAddr *local, EmberAddr *peer, const guint8 **data, gsize *data_len)
{
  ShellRelay *r = by_server (s, from);
  if (r == NULL)
    return FALSE;
  s->dirty = TRUE;
  *data = NULL;
  EmberTurnInputResult res = ember_turn_client_handle_input (r->tc, s->sim->w->now, from, buf, len,
                                                             peer, data, data_len);
  if (res == EMBER_TURN_INPUT_NOT_FOR_US)
    return FALSE;
  if (res == EMBER_TURN_INPUT_DATA)
    {
      EmberAddr relayed[2];
      if (ember_turn_client_get_relayed (r->tc, relayed) == 0)
        *data = NULL;
      else
        *local = relayed[0];
    }
  else
    *data = NULL;
  return TRUE;
}

void
relay_shell_send (RelayShell *s, const EmberTunnelTransmit *tx, const guint8 *buf)
{
  if (ember_ice_addr_equal (&tx->from, &s->sock))
    {
      send_udp (s, &tx->to, buf, tx->len);
      return;
    }
  ShellRelay *r = by_relayed (s, &tx->from);
  if (r == NULL)
    return;  /* an allocation that died meanwhile */
  s->dirty = TRUE;
  guint8 out[EMBER_WG_TRANSMIT_MAX + 64];
  gsize m = ember_turn_client_encode (r->tc, s->sim->w->now, &tx->to, buf, tx->len, out, sizeof out);
  if (m > 0)
    send_udp (s, &r->server, out, m);
}

gint64
relay_shell_poll_timeout (RelayShell *s)
{
  if (!s->dirty)
    return s->deadline;
  gint64 t = G_MAXINT64;
  for (guint i = 0; i < EMBER_TUNNEL_MAX_RELAYS; i++)
    if (s->r[i].tc != NULL)
      t = MIN (t, ember_turn_client_poll_timeout (s->r[i].tc));
  s->deadline = t;
  s->dirty = FALSE;
  return t;
}

void
relay_shell_timeout (RelayShell *s)
{
  s->dirty = TRUE;
  for (guint i = 0; i < EMBER_TUNNEL_MAX_RELAYS; i++)
    if (s->r[i].tc != NULL && ember_turn_client_poll_timeout (s->r[i].tc) <= s->sim->w->now)
      ember_turn_client_handle_timeout (s->r[i].tc, s->sim->w->now);
}

/* ---- the client ---------------------------------------------------------------- */

void
tsim_client_public_key (TSim *sim, guint8 out[32])
{
  ember_tunnel_node_get_public_key (ember_client_tunnel_get_node (sim->ct), out);
}

void
tsim_client_flush (TSim *sim)
{
  EmberClientTunnel *t = sim->ct;
  gint64 now = sim->w->now;
  gboolean more = TRUE;
  while (more)
    {
      more = FALSE;
      relay_shell_sync (&sim->client);
      guint8 buf[EMBER_WG_TRANSMIT_MAX];
      EmberTunnelTransmit tx;
      while (ember_client_tunnel_poll_transmit (t, now, buf, sizeof buf, &tx))
        {
          more = TRUE;
          relay_shell_send (&sim->client, &tx, buf);
        }
      EmberPortalMessage msg;
      while (ember_client_tunnel_poll_portal (t, &msg))
        {
          more = TRUE;
          tsim_portal_receive (sim, TSIM_TO_CLIENT, &msg);
        }
      gsize n;
      while ((n = ember_client_tunnel_poll_tun (t, buf, sizeof buf)) > 0)
        {
          more = TRUE;
          tsim_tun_receive (sim, buf, n);
        }
      EmberClientEvent ev;
      while (ember_client_tunnel_poll_event (t, &ev))
        more = TRUE;  /* routes: the simulated TUN routes everything to us */
    }
}

static void
client_deliver (SimHost *host, gint64 now, const EmberAddr *local, const EmberAddr *from,
                const guint8 *buf, gsize len, gpointer user_data)
{
  (void) host;
  (void) now;
  TSim *sim = user_data;
  if (sim->ct == NULL)
    return;
  EmberAddr relayed, peer;
  const guint8 *data;
  gsize data_len;
  guint8 copy[EMBER_WG_TRANSMIT_MAX + 64];
  gsize off = 0, n;
  EmberClientResult r;
  if (relay_shell_input (&sim->client, from, buf, len, &relayed, &peer, &data, &data_len))
    {
      if (data == NULL || data_len > sizeof copy)
        goto out;
      memcpy (copy, data, data_len);
      n = data_len;
      r = ember_client_tunnel_handle_datagram (sim->ct, sim->w->now, &relayed, &peer, copy, &off, &n);
    }
  else
    {
      if (len > sizeof copy)
        return;
      memcpy (copy, buf, len);
      n = len;
      r = ember_client_tunnel_handle_datagram (sim->ct, sim->w->now, local, from, copy, &off, &n);
    }
  if (r == EMBER_CLIENT_PACKET)
    tsim_tun_receive (sim, copy + off, n);
out:
  tsim_client_flush (sim);
}

void
tsim_client_start (TSim *sim)
{
  EmberClientTunnelConfig cfg = { .wg = &tsim_wg_vtable, .rng = { sim_rng_next_cb, &sim->client.rng },
                                  .wall_us = (SIM_UNIX_EPOCH * G_TIME_SPAN_SECOND) + sim->w->now };
  for (guint i = 0; i < 32; i++)
    cfg.private_key[i] = (guint8) (0x11 + i);
  g_autoptr (GError) error = NULL;
  sim->ct = ember_client_tunnel_new (&cfg, sim->w->now, &error);
  g_assert_no_error (error);
  sim->client.node = ember_client_tunnel_get_node (sim->ct);
  sim->client.host->deliver = client_deliver;
  sim->client.host->user_data = sim;
  ember_client_tunnel_set_host_addresses (sim->ct, sim->w->now, &sim->client.sock, 1);
}

void
tsim_client_stop (TSim *sim)
{
  relay_shell_clear (&sim->client);
  g_clear_pointer (&sim->ct, ember_client_tunnel_free);
}

gint64
tsim_client_poll_timeout (TSim *sim)
{
  return MIN (ember_client_tunnel_poll_timeout (sim->ct), relay_shell_poll_timeout (&sim->client));
}

void
tsim_client_timeout (TSim *sim)
{
  relay_shell_timeout (&sim->client);
  relay_shell_sync (&sim->client);
  if (ember_client_tunnel_poll_timeout (sim->ct) <= sim->w->now)
    ember_client_tunnel_handle_timeout (sim->ct, sim->w->now);
  tsim_client_flush (sim);
}

void
tsim_client_portal (TSim *sim, const EmberPortalMessage *msg)
{
  ember_client_tunnel_handle_portal (sim->ct, sim->w->now, msg);
  tsim_client_flush (sim);
}

void
tsim_client_tun_send (TSim *sim, guint8 *buf, gsize cap, gsize off, gsize len)
{
  EmberTunnelTransmit tx;
  EmberClientResult r = ember_client_tunnel_handle_tun (sim->ct, sim->w->now, buf, cap, &off, &len, &tx);
  if (r == EMBER_CLIENT_DATAGRAM)
    relay_shell_send (&sim->client, &tx, buf + off);
  tsim_client_flush (sim);
}
