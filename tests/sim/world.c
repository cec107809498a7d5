/* sim/world — the portal (signalling, relay set), the run loop and the
 * invariant bookkeeping. */
#include "sim-private.h"

#include <string.h>

#define PORTAL 2

void
sim_world_config_init (SimWorldConfig *c)
{
  memset (c, 0, sizeof *c);
  c->client_mapping = c->client_filtering = SIM_NAT_NONE;
  c->gateway_mapping = c->gateway_filtering = SIM_NAT_NONE;
  c->n_relays = 2;
  c->signalling_latency = 40 * G_TIME_SPAN_MILLISECOND;
}

gboolean
sim_world_uses_real_relay (void)
{
  return TRUE;
}

static void
push_relays (SimWorld *w)
{
  for (guint i = 0; i < 2; i++)
    {
      SimSignal sig = { .type = SIG_RELAYS, .to = i };
      sim_world_signal (w, PORTAL, &sig);
    }
}

void
sim_world_signal (SimWorld *w, guint from, const SimSignal *in)
{
  SimSignal *sig = g_new (SimSignal, 1);
  *sig = *in;
  if (from != PORTAL)
    sig->to = from == 0 ? 1 : 0;
  sig->at = w->now + w->cfg.signalling_latency;
  /* The portal keeps what it could not deliver to (or receive from) a
   * cut-off client and hands it over when the client reconnects. */
  if (w->client_cut && (from == 0 || sig->to == 0))
    g_queue_push_tail (&w->held, sig);
  else
    g_queue_push_tail (&w->signals, sig);
}

SimWorld *
sim_world_new (const SimWorldConfig *config, guint64 seed)
{
  SimWorld *w = g_new0 (SimWorld, 1);
  w->cfg = *config;
  sim_rng_seed (&w->rng, seed);
  w->net = sim_net_new (&w->rng);
  sim_net_set_loss (w->net, config->loss);
  sim_net_set_block_direct (w->net, config->block_direct);
  w->now = 0;
  w->mismatch_since = -1;
  g_queue_init (&w->signals);
  g_queue_init (&w->held);

  for (guint i = 0; i < 2; i++)
    {
      SimNode *n = &w->nodes[i];
      sim_node_init (w, n, i);
      SimNatKind mapping = i == 0 ? config->client_mapping : config->gateway_mapping;
      SimNatKind filtering = i == 0 ? config->client_filtering : config->gateway_filtering;
      guint32 public_ip = i == 0 ? SIM_IP (203, 0, 113, 10) : SIM_IP (198, 51, 100, 10);
      guint32 private_ip = i == 0 ? SIM_IP (192, 168, 1, 10) : SIM_IP (10, 0, 0, 10);
      gint64 latency = (gint64) (5 + sim_rng_below (&w->rng, 40)) * G_TIME_SPAN_MILLISECOND;
      guint32 ip = mapping == SIM_NAT_NONE ? public_ip : private_ip;
      SimHost *h = sim_net_add_host (w->net, ip, mapping, filtering, public_ip, latency, NULL, NULL);
      EmberAddr sock = sim_addr (ip, SIM_NODE_PORT);
      sim_node_attach (n, h, &sock);
    }
  for (guint i = 0; i < config->n_relays; i++)
    sim_world_add_relay (w);
  return w;
}

void
sim_world_free (SimWorld *w)
{
  if (w == NULL)
    return;
  for (guint i = 0; i < 2; i++)
    sim_node_clear (&w->nodes[i]);
  for (guint i = 0; i < w->n_relays; i++)
    sim_relay_halt (&w->relays[i]);
  g_queue_clear_full (&w->signals, g_free);
  g_queue_clear_full (&w->held, g_free);
  sim_net_free (w->net);
  g_free (w);
}

void
sim_world_connect (SimWorld *w)
{
  sim_node_restart (&w->nodes[0]);
}

gint64
sim_world_now (const SimWorld *w)
{
  return w->now;
}

static gboolean
healthy (const SimWorld *w)
{
  const SimNode *c = &w->nodes[0], *g = &w->nodes[1];
  return sim_node_connected (c) && sim_node_connected (g) && c->gen == g->gen
         && c->last_data_rx > 0 && g->last_data_rx > 0
         && w->now - c->last_data_rx <= SIM_DATA_FRESH && w->now - g->last_data_rx <= SIM_DATA_FRESH;
}

static void
track (SimWorld *w)
{
  const SimNode *c = &w->nodes[0], *g = &w->nodes[1];
  gboolean cc = sim_node_connected (c), gc = sim_node_connected (g);
  gboolean mismatch = cc != gc || (cc && gc && c->gen != g->gen);
  if (mismatch && w->mismatch_since < 0)
    w->mismatch_since = w->now;
  if (!mismatch)
    w->mismatch_since = -1;
  if (w->mismatch_since >= 0)
    w->max_mismatch = MAX (w->max_mismatch, w->now - w->mismatch_since);
  if (w->first_healthy == 0 && healthy (w))
    w->first_healthy = w->now;
}

void
sim_world_run_until (SimWorld *w, gint64 until)
{
  for (guint64 steps = 0;; steps++)
    {
      g_assert (steps < 50000000);
      gint64 t = sim_net_next_delivery (w->net);
      if (!g_queue_is_empty (&w->signals))
        t = MIN (t, ((SimSignal *) g_queue_peek_head (&w->signals))->at);
      for (guint i = 0; i < 2; i++)
        t = MIN (t, sim_node_poll_timeout (&w->nodes[i]));
      for (guint i = 0; i < w->n_relays; i++)
        t = MIN (t, w->relays[i].wake);
      if (t > until)
        {
          w->now = until;
          track (w);
          return;
        }
      w->now = MAX (w->now, t);
      sim_net_run_until (w->net, w->now);
      while (!g_queue_is_empty (&w->signals)
             && ((SimSignal *) g_queue_peek_head (&w->signals))->at <= w->now)
        {
          SimSignal *sig = g_queue_pop_head (&w->signals);
          sim_node_signal (&w->nodes[sig->to], sig);
          g_free (sig);
        }
      for (guint i = 0; i < 2; i++)
        if (sim_node_poll_timeout (&w->nodes[i]) <= w->now)
          sim_node_timeout (&w->nodes[i]);
      for (guint i = 0; i < w->n_relays; i++)
        if (w->relays[i].wake <= w->now)
          sim_relay_timeout (w, &w->relays[i]);
      track (w);
    }
}

/* ---- faults -------------------------------------------------------------- */

guint
sim_world_add_relay (SimWorld *w)
{
  g_assert (w->n_relays < SIM_MAX_RELAYS);
  SimRelay *r = &w->relays[w->n_relays];
  memset (r, 0, sizeof *r);
  r->index = w->n_relays;
  r->ip = SIM_IP (192, 0, 2, 10 + w->n_relays);
  r->present = TRUE;
  sim_relay_boot (w, r);
  w->n_relays++;
  push_relays (w);
  return r->index;
}

void
sim_world_remove_relay (SimWorld *w, guint index)
{
  g_assert (index < w->n_relays);
  if (!w->relays[index].present)
    return;
  w->relays[index].present = FALSE;
  sim_relay_halt (&w->relays[index]);
  push_relays (w);
}

void
sim_world_reboot_relay (SimWorld *w, guint index)
{
  g_assert (index < w->n_relays);
  SimRelay *r = &w->relays[index];
  if (!r->present)
    return;
  sim_relay_halt (r);
  sim_relay_boot (w, r);
  push_relays (w);
}

void
sim_world_partition_client_portal (SimWorld *w, gboolean cut)
{
  if (w->client_cut == cut)
    return;
  w->client_cut = cut;
  if (cut)
    return;
  /* The client reconnects: what waited is delivered, then the current
   * relay set (the portal's "init"). */
  while (!g_queue_is_empty (&w->held))
    {
      SimSignal *sig = g_queue_pop_head (&w->held);
      sig->at = w->now + w->cfg.signalling_latency;
      g_queue_push_tail (&w->signals, sig);
    }
  SimSignal sig = { .type = SIG_RELAYS, .to = 0 };
  sim_world_signal (w, PORTAL, &sig);
}

void
sim_world_partition_direct (SimWorld *w, gboolean cut)
{
  sim_net_set_partition (w->net, w->nodes[0].host->id, w->nodes[1].host->id, cut);
}

void
sim_world_partition_node_relay (SimWorld *w, gboolean client, guint relay, gboolean cut)
{
  g_assert (relay < w->n_relays);
  sim_net_set_partition (w->net, w->nodes[client ? 0 : 1].host->id, w->relays[relay].host->id, cut);
}

void
sim_world_nat_rebind (SimWorld *w, gboolean client)
{
  sim_net_nat_rebind (w->net, w->nodes[client ? 0 : 1].host);
}

void
sim_world_lose_next_candidate (SimWorld *w, gboolean from_client)
{
  w->nodes[from_client ? 0 : 1].lose_next_candidate = TRUE;
}

void
sim_world_force_relay (SimWorld *w, gboolean client, gint relay)
{
  w->nodes[client ? 0 : 1].force_relay = relay;
}

/* ---- observations ----------------------------------------------------------- */

void
sim_world_status (const SimWorld *w, gboolean client, SimNodeStatus *out)
{
  const SimNode *n = &w->nodes[client ? 0 : 1];
  memset (out, 0, sizeof *out);
  out->connected = sim_node_connected (n);
  out->generation = n->gen;
  out->local_kind = n->local_kind;
  out->remote_kind = n->remote_kind;
  out->local_relay = n->local_relay;
  out->remote_relay = n->remote_relay;
  out->last_data_rx = n->last_data_rx;
  out->data_rx = n->data_rx;
  out->restarts = n->restarts;
}

gboolean
sim_world_healthy (const SimWorld *w)
{
  return healthy (w);
}

gint64
sim_world_max_mismatch (const SimWorld *w)
{
  return w->max_mismatch;
}

gint64
sim_world_first_healthy (const SimWorld *w)
{
  return w->first_healthy;
}

const char *
sim_pair_kind_to_string (SimPairKind kind)
{
  switch (kind)
    {
    case SIM_PAIR_HOST: return "host";
    case SIM_PAIR_SRFLX: return "srflx";
    case SIM_PAIR_RELAY: return "relay";
    default: return "none";
    }
}

void
sim_world_dump (const SimWorld *w)
{
  for (guint i = 0; i < 2; i++)
    {
      const SimNode *n = &w->nodes[i];
      g_printerr ("  %s gen %u sampled %d agent %s\n", i == 0 ? "client" : "gateway", n->gen,
                  n->sampled,
                  n->agent == NULL ? "none"
                  : ember_ice_agent_get_state (n->agent) == EMBER_ICE_STATE_CONNECTED ? "connected"
                  : ember_ice_agent_get_state (n->agent) == EMBER_ICE_STATE_FAILED    ? "failed"
                                                                                      : "checking");
      for (guint k = 0; n->agent != NULL && k < ember_ice_agent_get_n_pairs (n->agent); k++)
        {
          EmberIcePairInfo p;
          ember_ice_agent_get_pair (n->agent, k, &p);
          char a[EMBER_ICE_ADDR_STRLEN], b[EMBER_ICE_ADDR_STRLEN];
          g_printerr ("    %s %s -> %s %s: %s%s\n", ember_ice_candidate_type_to_string (p.local.type),
                      ember_ice_addr_to_string (&p.local.base, a),
                      ember_ice_candidate_type_to_string (p.remote.type),
                      ember_ice_addr_to_string (&p.remote.addr, b),
                      ember_ice_pair_state_to_string (p.state), p.nominated ? " nominated" : "");
        }
    }
}
