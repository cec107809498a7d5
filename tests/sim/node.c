/* sim/node — a client or gateway: one ICE agent per connection
 * generation, one TURN client per relay, and the reconnect policy
 * core/tunnel will follow:
 *   - the client (controlling) offers; the gateway answers;
 *   - a FAILED agent on the gateway tells the client (SIG_FAILED) and is
 *     dropped; the client restarts ICE on its own failure, on SIG_FAILED
 *     and when an offer stays unanswered for SIM_OFFER_TIMEOUT;
 *   - a restart is a new agent: new ufrag/pwd, a newly sampled relay and
 *     fresh candidates.
 */
#include "sim-private.h"

#include <string.h>

static NodeRelay *
node_relay (SimNode *n, gint relay)
{
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    if (n->r[i].relay == relay && n->r[i].tc != NULL)
      return &n->r[i];
  return NULL;
}

static NodeRelay *
relay_by_server (SimNode *n, const EmberAddr *server)
{
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    if (n->r[i].tc != NULL && ember_ice_addr_equal (ember_turn_client_get_server (n->r[i].tc), server))
      return &n->r[i];
  return NULL;
}

static NodeRelay *
relay_by_relayed (SimNode *n, const EmberAddr *relayed)
{
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    if (n->r[i].tc != NULL && ember_turn_client_owns_relayed (n->r[i].tc, relayed))
      return &n->r[i];
  return NULL;
}

void
sim_node_init (SimWorld *w, SimNode *n, guint idx)
{
  memset (n, 0, sizeof *n);
  n->w = w;
  n->idx = idx;
  n->client = idx == 0;
  sim_rng_seed (&n->rng, sim_rng_next (&w->rng));
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    n->r[i].relay = -1;
  n->sampled = -1;
  n->force_relay = -1;
  n->restart_at = G_MAXINT64;
  n->next_data = G_MAXINT64;
  n->local_relay = n->remote_relay = -1;
}

void
sim_node_clear (SimNode *n)
{
  g_clear_pointer (&n->agent, ember_ice_agent_free);
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    g_clear_pointer (&n->r[i].tc, ember_turn_client_free);
}

gboolean
sim_node_connected (const SimNode *n)
{
  return n->agent != NULL && ember_ice_agent_get_state (n->agent) == EMBER_ICE_STATE_CONNECTED;
}

static void
send_udp (SimNode *n, const EmberAddr *to, const guint8 *buf, gsize len)
{
  sim_net_send (n->w->net, n->w->now, n->host, &n->sock, to, buf, len);
}

/* Sends `buf` from a local base: the socket, or through the TURN client
 * that owns the relayed address. */
static void
send_from_base (SimNode *n, const EmberAddr *base, const EmberAddr *to, const guint8 *buf,
                gsize len)
{
  if (ember_ice_addr_equal (base, &n->sock))
    {
      send_udp (n, to, buf, len);
      return;
    }
  NodeRelay *r = relay_by_relayed (n, base);
  if (r == NULL)
    return;
  guint8 out[2048];
  gsize m = ember_turn_client_encode (r->tc, n->w->now, to, buf, len, out, sizeof out);
  if (m > 0)
    send_udp (n, ember_turn_client_get_server (r->tc), out, m);
}

static void
add_local (SimNode *n, EmberIceCandidateType type, const EmberAddr *addr, const EmberAddr *server)
{
  if (n->agent == NULL || !ember_ice_addr_is_set (addr))
    return;
  EmberIceCandidate c;
  const EmberAddr *base = type == EMBER_ICE_CANDIDATE_SRFLX ? &n->sock : NULL;
  EmberAddr other = *addr;
  if (type == EMBER_ICE_CANDIDATE_SRFLX && n->w->cfg.srflx_other_socket)
    other.port = (guint16) (addr->port ^ 0x4000);  /* nobody's mapping */
  ember_ice_candidate_init_local (&c, type, &other, base, server);
  /* Refusals (after nomination, duplicates) are the agent's rules. */
  ember_ice_agent_add_local_candidate (n->agent, &c, NULL);
}

static void
add_relayed (SimNode *n, NodeRelay *r)
{
  EmberAddr relayed[2];
  guint k = ember_turn_client_get_relayed (r->tc, relayed);
  for (guint i = 0; i < k; i++)
    add_local (n, EMBER_ICE_CANDIDATE_RELAY, &relayed[i], ember_turn_client_get_server (r->tc));
  for (guint i = 0; i < n->n_remotes; i++)
    ember_turn_client_add_peer (r->tc, n->w->now, &n->remotes[i]);
}

static void
gather (SimNode *n)
{
  /* Host candidates through the filter the real shell uses. */
  EmberAddr hosts[4];
  guint nh = ember_ice_filter_host_addresses (&n->sock, 1, NULL, 0, hosts, 4);
  for (guint i = 0; i < nh; i++)
    add_local (n, EMBER_ICE_CANDIDATE_HOST, &hosts[i], NULL);
  for (guint i = 0; i < n->w->cfg.extra_hosts; i++)
    {
      EmberAddr lan = sim_addr (SIM_IP (172, 16 + n->idx, i, 1), SIM_NODE_PORT);
      add_local (n, EMBER_ICE_CANDIDATE_HOST, &lan, NULL);
    }
  /* Server-reflexive from EVERY relay (seed 000), not only the sampled. */
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    if (n->r[i].tc != NULL && ember_ice_addr_is_set (&n->r[i].mapped))
      add_local (n, EMBER_ICE_CANDIDATE_SRFLX, &n->r[i].mapped,
                 ember_turn_client_get_server (n->r[i].tc));
  /* Relayed: one relay sampled per connection with the injected RNG. */
  gint present[SIM_MAX_RELAYS];
  guint np = 0;
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    if (n->r[i].tc != NULL && !ember_turn_client_is_down (n->r[i].tc))
      present[np++] = n->r[i].relay;
  EmberIceRng rng = { sim_rng_next_cb, &n->rng };
  gint k = ember_ice_sample_relay (&rng, np);
  n->sampled = k < 0 ? -1 : present[k];
  if (n->force_relay >= 0 && node_relay (n, n->force_relay) != NULL)
    n->sampled = n->force_relay;
  NodeRelay *r = n->sampled >= 0 ? node_relay (n, n->sampled) : NULL;
  if (r != NULL)
    {
      ember_turn_client_want_allocation (r->tc, n->w->now);
      if (ember_turn_client_is_allocated (r->tc))
        add_relayed (n, r);
    }
}

static void
new_agent (SimNode *n, guint gen)
{
  g_clear_pointer (&n->agent, ember_ice_agent_free);
  EmberIceRng rng = { sim_rng_next_cb, &n->rng };
  n->agent = ember_ice_agent_new (n->client ? EMBER_ICE_ROLE_CONTROLLING : EMBER_ICE_ROLE_CONTROLLED,
                                  &rng, n->w->now);
  n->gen = gen;
  n->n_remotes = 0;
  n->local_kind = n->remote_kind = SIM_PAIR_NONE;
  n->local_relay = n->remote_relay = -1;
  n->next_data = G_MAXINT64;
}

void
sim_node_restart (SimNode *n)
{
  g_assert (n->client);
  n->restarts++;
  n->restart_at = G_MAXINT64;
  new_agent (n, n->gen + 1);
  n->offer_at = n->w->now;
  n->answered = FALSE;
  SimSignal sig = { .type = SIG_OFFER, .gen = n->gen };
  g_strlcpy (sig.ufrag, ember_ice_agent_get_local_ufrag (n->agent), sizeof sig.ufrag);
  g_strlcpy (sig.pwd, ember_ice_agent_get_local_pwd (n->agent), sizeof sig.pwd);
  sim_world_signal (n->w, n->idx, &sig);
  gather (n);
}

static void
schedule_restart (SimNode *n)
{
  if (n->restart_at == G_MAXINT64)
    n->restart_at = n->w->now + SIM_RESTART_BACKOFF;
}

static SimPairKind
kind_of (EmberIceCandidateType t)
{
  switch (t)
    {
    case EMBER_ICE_CANDIDATE_HOST: return SIM_PAIR_HOST;
    case EMBER_ICE_CANDIDATE_RELAY: return SIM_PAIR_RELAY;
    default: return SIM_PAIR_SRFLX;
    }
}

static gint
world_relay_by_ip (const SimWorld *w, const EmberAddr *a)
{
  for (guint i = 0; i < w->n_relays; i++)
    if (sim_addr (w->relays[i].ip, 0).addr[3] == a->addr[3]
        && memcmp (sim_addr (w->relays[i].ip, 0).addr, a->addr, 4) == 0)
      return (gint) i;
  return -1;
}

static void
handle_agent_event (SimNode *n, const EmberIceEvent *ev)
{
  SimSignal sig = { .gen = n->gen };
  switch (ev->type)
    {
    case EMBER_ICE_EVENT_LOCAL_CANDIDATE:
    case EMBER_ICE_EVENT_INVALIDATE_CANDIDATE:
      {
        sig.type = ev->type == EMBER_ICE_EVENT_LOCAL_CANDIDATE ? SIG_CANDIDATE : SIG_INVALIDATE;
        g_autofree char *s = ember_ice_candidate_to_string (&ev->candidate);
        g_strlcpy (sig.cand, s, sizeof sig.cand);
        if (sig.type == SIG_CANDIDATE && n->lose_next_candidate)
          {
            n->lose_next_candidate = FALSE;
            break;
          }
        sim_world_signal (n->w, n->idx, &sig);
        break;
      }
    case EMBER_ICE_EVENT_CONNECTED:
      {
        n->local_kind = kind_of (ev->local.type);
        n->remote_kind = kind_of (ev->remote.type);
        NodeRelay *r = ev->local.type == EMBER_ICE_CANDIDATE_RELAY
                           ? relay_by_relayed (n, &ev->local.base) : NULL;
        n->local_relay = r != NULL ? r->relay : -1;
        n->remote_relay = ev->remote.type == EMBER_ICE_CANDIDATE_RELAY
                              ? world_relay_by_ip (n->w, &ev->remote.addr) : -1;
        if (n->next_data == G_MAXINT64)
          n->next_data = n->w->now;
        break;
      }
    case EMBER_ICE_EVENT_FAILED:
      n->local_kind = n->remote_kind = SIM_PAIR_NONE;
      n->next_data = G_MAXINT64;
      if (n->client)
        schedule_restart (n);
      else
        {
          /* The gateway gives up on this generation and says so. */
          sig.type = SIG_FAILED;
          sim_world_signal (n->w, n->idx, &sig);
          g_clear_pointer (&n->agent, ember_ice_agent_free);
        }
      break;
    }
}

static void
invalidate_relayed (SimNode *n, const EmberTurnEvent *ev)
{
  if (n->agent == NULL)
    return;
  for (guint i = 0; i < ev->n_relayed; i++)
    ember_ice_agent_invalidate_local_candidate (n->agent, n->w->now, &ev->relayed[i]);
}

static void
handle_turn_event (SimNode *n, NodeRelay *r, const EmberTurnEvent *ev)
{
  switch (ev->type)
    {
    case EMBER_TURN_EVENT_SRFLX:
      r->mapped = ev->addr;
      add_local (n, EMBER_ICE_CANDIDATE_SRFLX, &ev->addr, ember_turn_client_get_server (r->tc));
      break;
    case EMBER_TURN_EVENT_ALLOCATED:
      if (r->relay == n->sampled)
        add_relayed (n, r);
      break;
    case EMBER_TURN_EVENT_INVALIDATED:
      invalidate_relayed (n, ev);
      break;
    case EMBER_TURN_EVENT_DOWN:
      memset (&r->mapped, 0, sizeof r->mapped);
      break;
    case EMBER_TURN_EVENT_UP:
    case EMBER_TURN_EVENT_ALLOCATION_FAILED:
      break;
    }
}

/* Drains every state machine of the node until nothing is pending. */
static void
flush (SimNode *n)
{
  gboolean more = TRUE;
  while (more)
    {
      more = FALSE;
      guint8 buf[2048];
      EmberAddr from, to;
      gsize len;
      for (guint i = 0; i < SIM_MAX_RELAYS; i++)
        {
          NodeRelay *r = &n->r[i];
          if (r->tc == NULL)
            continue;
          while ((len = ember_turn_client_poll_transmit (r->tc, buf, sizeof buf, &to)) > 0)
            send_udp (n, &to, buf, len);
          EmberTurnEvent tev;
          while (r->tc != NULL && ember_turn_client_poll_event (r->tc, &tev))
            {
              handle_turn_event (n, r, &tev);
              more = TRUE;
            }
        }
      if (n->agent == NULL)
        continue;
      while (n->agent != NULL
             && (len = ember_ice_agent_poll_transmit (n->agent, buf, sizeof buf, &from, &to)) > 0)
        send_from_base (n, &from, &to, buf, len);
      EmberIceEvent ev;
      while (n->agent != NULL && ember_ice_agent_poll_event (n->agent, &ev))
        {
          handle_agent_event (n, &ev);
          more = TRUE;
        }
    }
}

static void
on_datagram (SimNode *n, const EmberAddr *local, const EmberAddr *from, const guint8 *buf,
             gsize len)
{
  if (n->agent == NULL)
    return;
  EmberIceInputResult res = ember_ice_agent_handle_input (n->agent, n->w->now, local, from, buf, len);
  if (res == EMBER_ICE_INPUT_NOT_STUN && len >= 5 && buf[0] == 0x80
      && sim_node_connected (n))
    {
      n->data_rx++;
      n->last_data_rx = n->w->now;
    }
}

static void
deliver (SimHost *host, gint64 now, const EmberAddr *local, const EmberAddr *from,
         const guint8 *buf, gsize len, gpointer user_data)
{
  (void) host;
  (void) now;
  SimNode *n = user_data;
  NodeRelay *r = relay_by_server (n, from);
  if (r != NULL)
    {
      EmberAddr peer;
      const guint8 *data;
      gsize data_len;
      EmberTurnInputResult res = ember_turn_client_handle_input (r->tc, n->w->now, from, buf, len,
                                                                 &peer, &data, &data_len);
      if (res == EMBER_TURN_INPUT_DATA)
        {
          EmberAddr relayed[2];
          if (ember_turn_client_get_relayed (r->tc, relayed) > 0)
            on_datagram (n, &relayed[0], &peer, data, data_len);
        }
      else if (res == EMBER_TURN_INPUT_NOT_FOR_US)
        on_datagram (n, local, from, buf, len);
    }
  else
    on_datagram (n, local, from, buf, len);
  flush (n);
}

void
sim_node_attach (SimNode *n, SimHost *host, const EmberAddr *sock)
{
  n->host = host;
  n->sock = *sock;
  host->deliver = deliver;
  host->user_data = n;
  host->is_node = TRUE;
}

void
sim_node_signal (SimNode *n, const SimSignal *sig)
{
  SimWorld *w = n->w;
  switch (sig->type)
    {
    case SIG_RELAYS:
      /* The portal keeps what a cut-off client missed and delivers it
       * on reconnect, so no restart is needed here: a gateway that gave
       * up meanwhile has sent SIG_FAILED. */
      sim_node_sync_relays (n);
      break;
    case SIG_OFFER:
      if (n->client || sig->gen < n->gen || (sig->gen == n->gen && n->agent != NULL))
        break;
      new_agent (n, sig->gen);
      ember_ice_agent_set_remote_credentials (n->agent, sig->ufrag, sig->pwd, NULL);
      {
        SimSignal ans = { .type = SIG_ANSWER, .gen = n->gen };
        g_strlcpy (ans.ufrag, ember_ice_agent_get_local_ufrag (n->agent), sizeof ans.ufrag);
        g_strlcpy (ans.pwd, ember_ice_agent_get_local_pwd (n->agent), sizeof ans.pwd);
        sim_world_signal (w, n->idx, &ans);
      }
      gather (n);
      break;
    case SIG_ANSWER:
      if (!n->client || sig->gen != n->gen || n->agent == NULL || n->answered)
        break;
      n->answered = TRUE;
      ember_ice_agent_set_remote_credentials (n->agent, sig->ufrag, sig->pwd, NULL);
      break;
    case SIG_CANDIDATE:
    case SIG_INVALIDATE:
      {
        if (sig->gen != n->gen || n->agent == NULL)
          break;
        EmberIceCandidate c;
        if (!ember_ice_candidate_from_string (sig->cand, &c, NULL))
          break;
        if (sig->type == SIG_INVALIDATE)
          {
            ember_ice_agent_invalidate_remote_candidate (n->agent, w->now, &c.addr);
            break;
          }
        if (!ember_ice_agent_add_remote_candidate (n->agent, &c, NULL))
          break;
        if (n->n_remotes < G_N_ELEMENTS (n->remotes))
          n->remotes[n->n_remotes++] = c.addr;
        NodeRelay *r = n->sampled >= 0 ? node_relay (n, n->sampled) : NULL;
        if (r != NULL)
          ember_turn_client_add_peer (r->tc, w->now, &c.addr);
        break;
      }
    case SIG_FAILED:
      if (n->client && sig->gen == n->gen)
        schedule_restart (n);
      break;
    }
  flush (n);
}

void
sim_node_sync_relays (SimNode *n)
{
  SimWorld *w = n->w;
  /* Relays the portal no longer lists: their candidates go. */
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    {
      NodeRelay *r = &n->r[i];
      if (r->tc == NULL || w->relays[r->relay].present)
        continue;
      EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_INVALIDATED };
      ev.n_relayed = ember_turn_client_get_relayed (r->tc, ev.relayed);
      invalidate_relayed (n, &ev);
      g_clear_pointer (&r->tc, ember_turn_client_free);
      r->relay = -1;
    }
  for (guint k = 0; k < w->n_relays; k++)
    {
      SimRelay *relay = &w->relays[k];
      if (!relay->present)
        continue;
      char user[64], pass[64];
      sim_relay_credentials (relay, w->now, n->idx, user, sizeof user, pass, sizeof pass);
      NodeRelay *r = node_relay (n, (gint) k);
      if (r != NULL)
        {
          /* Same relay, other credentials (a new secret): it rebooted.
           * The boot number stands for "the password of the same
           * username changed"; the expiry alone changing is no reboot. */
          if (r->boot != relay->boot)
            {
              r->boot = relay->boot;
              g_strlcpy (r->user, user, sizeof r->user);
              g_strlcpy (r->pass, pass, sizeof r->pass);
              ember_turn_client_update_credentials (r->tc, w->now, user, pass);
            }
          continue;
        }
      for (guint i = 0; i < SIM_MAX_RELAYS; i++)
        if (n->r[i].tc == NULL)
          {
            r = &n->r[i];
            break;
          }
      g_assert (r != NULL);
      r->relay = (gint) k;
      r->boot = relay->boot;
      g_strlcpy (r->user, user, sizeof r->user);
      g_strlcpy (r->pass, pass, sizeof r->pass);
      memset (&r->mapped, 0, sizeof r->mapped);
      EmberTurnRng rng = { sim_rng_next_cb, &n->rng };
      EmberAddr server = sim_addr (relay->ip, SIM_RELAY_PORT);
      r->tc = ember_turn_client_new (&server, user, pass, &rng, w->now);
    }
  flush (n);
}

gint64
sim_node_poll_timeout (const SimNode *n)
{
  gint64 t = MIN (n->restart_at, n->next_data);
  if (n->client && n->agent != NULL && !n->answered)
    t = MIN (t, n->offer_at + SIM_OFFER_TIMEOUT);
  if (n->agent != NULL)
    t = MIN (t, ember_ice_agent_poll_timeout (n->agent));
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    if (n->r[i].tc != NULL)
      t = MIN (t, ember_turn_client_poll_timeout (n->r[i].tc));
  return t;
}

void
sim_node_timeout (SimNode *n)
{
  gint64 now = n->w->now;
  for (guint i = 0; i < SIM_MAX_RELAYS; i++)
    if (n->r[i].tc != NULL && ember_turn_client_poll_timeout (n->r[i].tc) <= now)
      ember_turn_client_handle_timeout (n->r[i].tc, now);
  flush (n);
  if (n->agent != NULL && ember_ice_agent_poll_timeout (n->agent) <= now)
    ember_ice_agent_handle_timeout (n->agent, now);
  flush (n);
  if (n->client && now >= n->restart_at)
    sim_node_restart (n);
  else if (n->client && n->agent != NULL && !n->answered && now >= n->offer_at + SIM_OFFER_TIMEOUT)
    sim_node_restart (n);
  if (now >= n->next_data)
    {
      EmberIceCandidate l, r;
      if (n->agent != NULL && ember_ice_agent_get_selected (n->agent, &l, &r))
        {
          guint8 data[16] = { 0x80 };
          n->data_seq++;
          memcpy (data + 1, &n->data_seq, 8);
          send_from_base (n, &l.base, &r.addr, data, sizeof data);
          n->next_data = now + SIM_DATA_INTERVAL;
        }
      else
        n->next_data = G_MAXINT64;
    }
  flush (n);
}
