/* tsim/gateway — a simulated gateway: the gateway tunnel (core/tunnel/
 * gateway.h) on a simulated host, its relay shell, and the site network
 * its TUN leads to (tsim-site.c). One per site. */
#include "tsim-private.h"
#include "tunnel/gateway.h"

#include <string.h>

struct _TSimGateway {
  TSim *sim;
  guint site;
  guint boot;
  EmberGatewayTunnel *t;
  RelayShell shell;
  SimRng rng;
};

void
tsim_gateway_addresses (guint site, EmberAddr *tun4, EmberAddr *tun6)
{
  g_assert_true (ember_addr_parse (site == 0 ? "100.64.0.1" : "100.64.0.3", tun4, NULL));
  g_assert_true (ember_addr_parse (site == 0 ? "fd00:2021:1111::1" : "fd00:2021:1111::3", tun6, NULL));
}

void
tsim_gateway_public_key (TSimGateway *gw, guint8 out[32])
{
  ember_tunnel_node_get_public_key (ember_gateway_tunnel_get_node (gw->t), out);
}

SimHost *
tsim_gateway_host (TSimGateway *gw)
{
  return gw->shell.host;
}

void
tsim_gateway_flush (TSimGateway *gw)
{
  TSim *sim = gw->sim;
  gint64 now = sim->w->now;
  gboolean more = TRUE;
  while (more)
    {
      more = FALSE;
      relay_shell_sync (&gw->shell);
      guint8 buf[EMBER_WG_TRANSMIT_MAX];
      EmberTunnelTransmit tx;
      while (ember_gateway_tunnel_poll_transmit (gw->t, now, buf, sizeof buf, &tx))
        {
          more = TRUE;
          relay_shell_send (&gw->shell, &tx, buf);
        }
      EmberPortalMessage msg;
      while (ember_gateway_tunnel_poll_portal (gw->t, &msg))
        {
          more = TRUE;
          tsim_portal_receive (sim, 1 + gw->site, &msg);
        }
      EmberGatewayTunnelEvent ev;
      while (ember_gateway_tunnel_poll_event (gw->t, &ev))
        more = TRUE;
    }
}

static void
gateway_deliver (SimHost *host, gint64 now, const EmberAddr *local, const EmberAddr *from,
                 const guint8 *buf, gsize len, gpointer user_data)
{
  (void) host;
  (void) now;
  TSimGateway *gw = user_data;
  TSim *sim = gw->sim;
  EmberAddr relayed, peer;
  const guint8 *data;
  gsize data_len, off = 0, n;
  guint8 copy[EMBER_WG_TRANSMIT_MAX + 64];
  EmberGatewayResult r;
  if (relay_shell_input (&gw->shell, from, buf, len, &relayed, &peer, &data, &data_len))
    {
      if (data == NULL || data_len > sizeof copy)
        goto out;
      memcpy (copy, data, data_len);
      n = data_len;
      r = ember_gateway_tunnel_handle_datagram (gw->t, sim->w->now, &relayed, &peer, copy, &off, &n);
    }
  else
    {
      if (len > sizeof copy)
        return;
      memcpy (copy, buf, len);
      n = len;
      r = ember_gateway_tunnel_handle_datagram (gw->t, sim->w->now, local, from, copy, &off, &n);
    }
  tsim_gateway_flush (gw);
  if (r == EMBER_GATEWAY_TO_NETWORK)
    tsim_site_receive (sim, gw->site, copy + off, n);
out:
  tsim_gateway_flush (gw);
}

void
tsim_gateway_from_network (TSimGateway *gw, guint8 *buf, gsize cap, gsize off, gsize len)
{
  EmberTunnelTransmit tx;
  EmberGatewayResult r = ember_gateway_tunnel_handle_tun (gw->t, gw->sim->w->now, buf, cap, &off,
                                                          &len, &tx);
  if (r == EMBER_GATEWAY_DATAGRAM)
    relay_shell_send (&gw->shell, &tx, buf + off);
  tsim_gateway_flush (gw);
}

TSimGateway *
tsim_gateway_new (TSim *sim, guint site, guint boot, SimHost *host)
{
  TSimGateway *gw = g_new0 (TSimGateway, 1);
  gw->sim = sim;
  gw->site = site;
  gw->boot = boot;
  sim_rng_seed (&gw->rng, sim_rng_next (&sim->rng));
  gboolean nat = sim->cfg.gateway_mapping != SIM_NAT_NONE;
  guint32 public_ip = SIM_IP (198, 51, 100, 10 + site);
  guint32 ip = nat ? SIM_IP (10, 0, site, 10) : public_ip;
  if (host == NULL)
    {
      gint64 latency = (gint64) (5 + sim_rng_below (&sim->rng, 40)) * G_TIME_SPAN_MILLISECOND;
      host = sim_net_add_host (sim->w->net, ip, sim->cfg.gateway_mapping,
                               sim->cfg.gateway_filtering, public_ip, latency, NULL, NULL);
      host->is_node = TRUE;
    }
  /* A restarted process binds a new port: an allocation the old one
   * left on a relay must not be mistaken for ours. */
  EmberAddr sock = sim_addr (ip, (guint16) (TSIM_PORT + boot));
  relay_shell_init (&gw->shell, sim, host, &sock, NULL, sim_rng_next (&sim->rng));

  EmberGatewayTunnelConfig cfg = { .wg = &tsim_wg_vtable, .rng = { sim_rng_next_cb, &gw->rng },
                                   .wall_us = SIM_UNIX_EPOCH * G_TIME_SPAN_SECOND + sim->w->now };
  /* The same identity across restarts: the key lives on disk. */
  for (guint i = 0; i < 32; i++)
    cfg.private_key[i] = (guint8) (0x40 + 0x10 * site + i);
  g_autoptr (GError) error = NULL;
  gw->t = ember_gateway_tunnel_new (&cfg, sim->w->now, &error);
  g_assert_no_error (error);
  gw->shell.node = ember_gateway_tunnel_get_node (gw->t);
  host->deliver = gateway_deliver;
  host->user_data = gw;
  host->down = FALSE;
  ember_gateway_tunnel_set_host_addresses (gw->t, sim->w->now, &sock, 1);
  return gw;
}

void
tsim_gateway_free (TSimGateway *gw)
{
  if (gw == NULL)
    return;
  relay_shell_clear (&gw->shell);
  ember_gateway_tunnel_free (gw->t);
  g_free (gw);
}

gint64
tsim_gateway_poll_timeout (TSimGateway *gw)
{
  return MIN (ember_gateway_tunnel_poll_timeout (gw->t), relay_shell_poll_timeout (&gw->shell));
}

void
tsim_gateway_timeout (TSimGateway *gw)
{
  relay_shell_timeout (&gw->shell);
  relay_shell_sync (&gw->shell);
  if (ember_gateway_tunnel_poll_timeout (gw->t) <= gw->sim->w->now)
    ember_gateway_tunnel_handle_timeout (gw->t, gw->sim->w->now);
  tsim_gateway_flush (gw);
}

void
tsim_gateway_portal (TSimGateway *gw, const EmberPortalMessage *msg)
{
  ember_gateway_tunnel_handle_portal (gw->t, gw->sim->w->now, msg);
  tsim_gateway_flush (gw);
}

gboolean
tsim_gateway_conn_up (TSimGateway *gw)
{
  return ember_gateway_tunnel_client_up (gw->t, tsim_client_id ());
}

guint64
tsim_gw_refused (TSimGateway *gw)
{
  EmberGatewayTunnelStats st;
  ember_gateway_tunnel_get_stats (gw->t, &st);
  return st.refused_from_clients;
}
