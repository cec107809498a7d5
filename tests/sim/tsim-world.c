/* tsim/world — the tunnel simulator's world: hosts, relays, the run
 * loop, faults and the agreement bookkeeping. See tsim.h. */
#include "tsim-private.h"
#include "engine.h"
#include "tunnel/gateway.h"

#include <string.h>

const EmberWgVtable tsim_wg_vtable = {
  .engine_new = ember_wg_engine_new,
  .engine_free = ember_wg_engine_free,
  .set_clock = ember_wg_engine_set_clock,
  .set_under_load = ember_wg_engine_set_under_load,
  .get_public_key = ember_wg_engine_get_public_key,
  .add_peer = ember_wg_engine_add_peer,
  .remove_peer = ember_wg_engine_remove_peer,
  .lookup_peer = ember_wg_engine_lookup_peer,
  .set_endpoint = ember_wg_peer_set_endpoint,
  .get_peer_stats = ember_wg_peer_get_stats,
  .initiate = ember_wg_engine_initiate,
  .encapsulate = ember_wg_engine_encapsulate,
  .decapsulate = ember_wg_engine_decapsulate,
  .update_timers = ember_wg_engine_update_timers,
  .poll_transmit = ember_wg_engine_poll_transmit,
  .poll_timeout = ember_wg_engine_poll_timeout,
  .poll_event = ember_wg_engine_poll_event,
};

void
tsim_config_init (TSimConfig *c)
{
  memset (c, 0, sizeof *c);
  c->n_relays = 2;
  c->n_sites = 1;
  c->portal_latency = 40 * G_TIME_SPAN_MILLISECOND;
  c->authz_ttl = 3600 * G_TIME_SPAN_SECOND;
}

static void
boot_relay (TSim *sim, guint index)
{
  SimRelay *r = &sim->w->relays[index];
  sim_relay_halt (r);
  sim_relay_boot (sim->w, r);
}

guint
tsim_relay_add (TSim *sim)
{
  SimWorld *w = sim->w;
  g_assert_cmpuint (w->n_relays, <, SIM_MAX_RELAYS);
  SimRelay *r = &w->relays[w->n_relays];
  memset (r, 0, sizeof *r);
  r->index = w->n_relays;
  r->ip = SIM_IP (192, 0, 2, 10 + w->n_relays);
  r->present = TRUE;
  sim_relay_boot (w, r);
  w->n_relays++;
  tsim_portal_push_relays (sim);
  return r->index;
}

void
tsim_relay_remove (TSim *sim, guint index)
{
  SimRelay *r = &sim->w->relays[index];
  if (!r->present)
    return;
  r->present = FALSE;
  sim_relay_halt (r);
  tsim_portal_push_relays (sim);
}

void
tsim_relay_reboot (TSim *sim, guint index)
{
  if (!sim->w->relays[index].present)
    return;
  boot_relay (sim, index);
  tsim_portal_push_relays (sim);
}

guint
tsim_n_relays (const TSim *sim)
{
  return sim->w->n_relays;
}

gboolean
tsim_relay_present (const TSim *sim, guint index)
{
  return index < sim->w->n_relays && sim->w->relays[index].present;
}

TSim *
tsim_new (const TSimConfig *config, guint64 seed)
{
  TSim *sim = g_new0 (TSim, 1);
  sim->cfg = *config;
  g_assert_cmpuint (config->n_sites, >=, 1);
  g_assert_cmpuint (config->n_sites, <=, TSIM_MAX_GATEWAYS);
  SimWorld *w = sim->w = g_new0 (SimWorld, 1);
  sim_rng_seed (&w->rng, seed);
  sim_rng_seed (&sim->rng, seed ^ G_GUINT64_CONSTANT (0x7e11e1));
  w->net = sim_net_new (&w->rng);
  sim_net_set_loss (w->net, config->loss);
  sim_net_set_block_direct (w->net, config->block_direct);
  g_queue_init (&w->signals);
  g_queue_init (&w->held);
  sim->packets = g_new0 (PacketRecord, TSIM_MAX_PACKETS);
  for (guint g = 0; g < TSIM_MAX_GATEWAYS; g++)
    sim->disagree_since[g] = -1;
  g_assert_true (ember_addr_parse ("100.64.0.2", &sim->tun4, NULL));
  g_assert_true (ember_addr_parse ("fd00:2021:1111::2", &sim->tun6, NULL));
  tsim_portal_init (sim);

  /* The client. */
  guint32 public_ip = SIM_IP (203, 0, 113, 10);
  guint32 ip = config->client_mapping == SIM_NAT_NONE ? public_ip : SIM_IP (192, 168, 1, 10);
  gint64 latency = (gint64) (5 + sim_rng_below (&sim->rng, 40)) * G_TIME_SPAN_MILLISECOND;
  SimHost *h = sim_net_add_host (w->net, ip, config->client_mapping, config->client_filtering,
                                 public_ip, latency, NULL, NULL);
  h->is_node = TRUE;
  EmberAddr sock = sim_addr (ip, TSIM_PORT);
  relay_shell_init (&sim->client, sim, h, &sock, NULL, sim_rng_next (&sim->rng));
  tsim_client_start (sim);

  for (guint i = 0; i < config->n_relays; i++)
    {
      SimRelay *r = &w->relays[w->n_relays];
      r->index = w->n_relays;
      r->ip = SIM_IP (192, 0, 2, 10 + w->n_relays);
      r->present = TRUE;
      sim_relay_boot (w, r);
      w->n_relays++;
    }
  for (guint g = 0; g < config->n_sites; g++)
    {
      sim->gw[g] = tsim_gateway_new (sim, g, 0, NULL);
      tsim_portal_gateway_init (sim, g);
    }
  tsim_portal_client_init (sim);
  return sim;
}

void
tsim_free (TSim *sim)
{
  if (sim == NULL)
    return;
  tsim_client_stop (sim);
  for (guint g = 0; g < TSIM_MAX_GATEWAYS; g++)
    tsim_gateway_free (sim->gw[g]);
  for (guint i = 0; i < sim->w->n_relays; i++)
    sim_relay_halt (&sim->w->relays[i]);
  tsim_portal_clear (sim);
  sim_net_free (sim->w->net);
  g_free (sim->w);
  g_free (sim->packets);
  g_free (sim);
}

gint64
tsim_now (const TSim *sim)
{
  return sim->w->now;
}

/* ---- the run loop ------------------------------------------------------------ */

static gboolean
client_up_to (const TSim *sim, guint site)
{
  EmberTunnelConn *c = ember_tunnel_node_lookup (ember_client_tunnel_get_node (sim->ct),
                                                 tsim_gateway_id (site));
  return c != NULL && ember_tunnel_conn_get_state (c) == EMBER_TUNNEL_CONN_UP;
}

static void
track (TSim *sim)
{
  for (guint g = 0; g < sim->cfg.n_sites; g++)
    {
      gboolean c = client_up_to (sim, g);
      gboolean s = sim->gw[g] != NULL && tsim_gateway_conn_up (sim->gw[g]);
      if (c != s && sim->disagree_since[g] < 0)
        sim->disagree_since[g] = sim->w->now;
      if (c == s)
        sim->disagree_since[g] = -1;
      if (sim->disagree_since[g] >= 0)
        sim->max_disagree = MAX (sim->max_disagree, sim->w->now - sim->disagree_since[g]);
    }
}

void
tsim_run_until (TSim *sim, gint64 until)
{
  SimWorld *w = sim->w;
  for (guint64 steps = 0;; steps++)
    {
      g_assert_cmpuint (steps, <, 20000000);
      /* Each deadline is read once per step (the TURN clients' are not
       * free); one that moves earlier meanwhile is seen next step. */
      gint64 tc = tsim_client_poll_timeout (sim);
      gint64 tg[TSIM_MAX_GATEWAYS] = { G_MAXINT64, G_MAXINT64 };
      gint64 t = MIN (sim_net_next_delivery (w->net), tsim_portal_next (sim));
      t = MIN (t, tc);
      for (guint g = 0; g < sim->cfg.n_sites; g++)
        if (sim->gw[g] != NULL)
          t = MIN (t, tg[g] = tsim_gateway_poll_timeout (sim->gw[g]));
      for (guint i = 0; i < w->n_relays; i++)
        t = MIN (t, w->relays[i].wake);
      if (t > until)
        {
          w->now = MAX (w->now, until);
          track (sim);
          return;
        }
      w->now = MAX (w->now, t);
      sim_net_run_until (w->net, w->now);
      tsim_portal_deliver_due (sim);
      tsim_portal_expire (sim);
      if (tc <= w->now)
        tsim_client_timeout (sim);
      for (guint g = 0; g < sim->cfg.n_sites; g++)
        if (sim->gw[g] != NULL && tg[g] <= w->now)
          tsim_gateway_timeout (sim->gw[g]);
      for (guint i = 0; i < w->n_relays; i++)
        if (w->relays[i].wake <= w->now)
          sim_relay_timeout (w, &w->relays[i]);
      track (sim);
    }
}

/* ---- faults -------------------------------------------------------------------- */

void
tsim_gateway_restart (TSim *sim, guint site)
{
  TSimGateway *old = sim->gw[site];
  g_assert_nonnull (old);
  SimHost *host = tsim_gateway_host (old);
  guint boot = ++sim->gateway_boots;
  tsim_gateway_free (old);
  sim->gw[site] = NULL;
  /* The new process knows nothing until the portal's init arrives. */
  memset (sim->truth[site], 0, sizeof sim->truth[site]);
  sim->gw[site] = tsim_gateway_new (sim, site, boot, host);
  tsim_portal_gateway_init (sim, site);
}

void
tsim_client_roam (TSim *sim)
{
  SimHost *h = sim->client.host;
  sim->roams++;
  guint8 last = (guint8) (10 + sim->roams % 200);
  if (h->mapping == SIM_NAT_NONE)
    h->ip = SIM_IP (203, 0, 113, last);
  else
    {
      h->ip = SIM_IP (192, 168, 1, last);
      sim_net_nat_rebind (sim->w->net, h);
    }
  sim->client.sock = sim_addr (h->ip, TSIM_PORT);
  ember_client_tunnel_set_host_addresses (sim->ct, sim->w->now, &sim->client.sock, 1);
  tsim_client_flush (sim);
}

void
tsim_internet_enable (TSim *sim, gboolean enabled)
{
  ember_client_tunnel_set_internet_enabled (sim->ct, sim->w->now, enabled);
  tsim_client_flush (sim);
}

void
tsim_partition_direct (TSim *sim, gboolean cut)
{
  for (guint g = 0; g < sim->cfg.n_sites; g++)
    sim_net_set_partition (sim->w->net, sim->client.host->id, tsim_gateway_host (sim->gw[g])->id, cut);
}

void
tsim_nat_rebind (TSim *sim, gboolean client)
{
  sim_net_nat_rebind (sim->w->net, client ? sim->client.host : tsim_gateway_host (sim->gw[0]));
}

void
tsim_set_loss (TSim *sim, double loss)
{
  sim_net_set_loss (sim->w->net, loss);
}

/* ---- observations ------------------------------------------------------------ */

void
tsim_conn_status (const TSim *sim, guint site, TSimConnStatus *out)
{
  memset (out, 0, sizeof *out);
  EmberTunnelNode *node = ember_client_tunnel_get_node (sim->ct);
  EmberTunnelConn *c = ember_tunnel_node_lookup (node, tsim_gateway_id (site));
  out->n_client_conns = ember_tunnel_node_get_n_conns (node);
  out->client_up = client_up_to (sim, site);
  out->gateway_up = sim->gw[site] != NULL && tsim_gateway_conn_up (sim->gw[site]);
  if (c != NULL)
    {
      out->generation = ember_tunnel_conn_get_generation (c);
      EmberIceCandidate l, r;
      if (ember_tunnel_conn_get_selected (c, &l, &r))
        out->relayed = l.type == EMBER_ICE_CANDIDATE_RELAY || r.type == EMBER_ICE_CANDIDATE_RELAY;
    }
}

guint64
tsim_leaks (const TSim *sim, const char **what)
{
  if (what != NULL)
    *what = sim->leak_what;
  return sim->leaks;
}

gint64
tsim_max_disagreement (const TSim *sim)
{
  return sim->max_disagree;
}

guint64
tsim_site_packets (const TSim *sim)
{
  return sim->site_packets;
}

guint64
tsim_gateway_refused (const TSim *sim, guint site)
{
  return sim->gw[site] != NULL ? tsim_gw_refused (sim->gw[site]) : 0;
}

guint
tsim_authorizations (const TSim *sim)
{
  return sim->n_authorizations;
}

void
tsim_dump (const TSim *sim)
{
  for (guint g = 0; g < sim->cfg.n_sites; g++)
    {
      TSimConnStatus st;
      tsim_conn_status (sim, g, &st);
      g_printerr ("  site %u: client %s (gen %u%s), gateway %s\n", g, st.client_up ? "up" : "down",
                  st.generation, st.relayed ? ", relayed" : "", st.gateway_up ? "up" : "down");
    }
  EmberClientStats cs;
  ember_client_tunnel_get_stats (sim->ct, &cs);
  g_printerr ("  client: %" G_GUINT64_FORMAT " requests, %" G_GUINT64_FORMAT " held, %"
              G_GUINT64_FORMAT " held dropped, %" G_GUINT64_FORMAT " expired, %" G_GUINT64_FORMAT
              " flushed, %" G_GUINT64_FORMAT " icmp, %" G_GUINT64_FORMAT " from gateways; %"
              G_GUINT64_FORMAT " packets reached sites\n", cs.requests, cs.held, cs.held_dropped,
              cs.held_expired, cs.flushed, cs.icmp_sent, cs.net_packets, sim->site_packets);
}
