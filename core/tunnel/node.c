/* tunnel/node — connections, relays and the datagram path shared by the
 * client and gateway tunnels. See node.h. */
#define G_LOG_DOMAIN "ember-tunnel"

#include "tunnel/node.h"
#include "stun/wire.h"

#include <string.h>

#define MAX_LOCALS EMBER_ICE_MAX_LOCAL_CANDIDATES
#define MAX_REMOTES EMBER_ICE_MAX_REMOTE_CANDIDATES

typedef struct {
  EmberTunnelRelay spec;
  EmberAddr srflx;        /* as this relay sees us, or unset */
  EmberAddr relayed[2];   /* our allocation on it */
  guint n_relayed;
  gboolean down;
} NodeRelay;

struct _EmberTunnelConn {
  char peer_id[EMBER_TUNNEL_ID_MAX];
  guint generation;
  EmberTunnelConnState state;
  EmberIceAgent *agent;
  EmberWgPeer *peer;
  guint8 public_key[EMBER_WG_KEY_SIZE];
  gboolean has_psk;
  guint8 psk[EMBER_WG_KEY_SIZE];
  /* The credentials this generation runs on (rule 2: the same ones again
   * mean "keep it", docs/tunnel.md). */
  char local_ufrag[EMBER_ICE_UFRAG_MAX + 1], local_pwd[EMBER_ICE_PWD_MAX + 1];
  char remote_ufrag[EMBER_ICE_UFRAG_MAX + 1], remote_pwd[EMBER_ICE_PWD_MAX + 1];
  /* The relay this generation sampled (seed 000), or unset. */
  EmberAddr sampled;
  /* Selected pair, valid in HANDSHAKE and UP. */
  EmberIceCandidate sel_local, sel_remote;
  /* What we signalled, to withdraw it on failure. */
  EmberIceCandidate locals[MAX_LOCALS];
  guint n_locals;
  EmberAddr remotes[MAX_REMOTES];
  guint n_remotes;
  gint64 last_rx, last_tx;
  gpointer user_data;
};

struct _EmberTunnelNode {
  const EmberWgVtable *wg;
  EmberWgEngine *engine;
  EmberIceRole role;
  EmberIceRng rng;
  EmberAddr hosts[EMBER_TUNNEL_MAX_HOST_ADDRS];
  guint n_hosts;
  NodeRelay relays[EMBER_TUNNEL_MAX_RELAYS];
  guint n_relays;
  GPtrArray *conns;          /* EmberTunnelConn*, creation order */
  GHashTable *by_id;         /* peer_id -> conn */
  GHashTable *by_peer;       /* EmberWgPeer* -> conn */
  guint tx_cursor;           /* round robin over agents in poll_transmit */
  EmberTunnelNodeEvent events[EMBER_TUNNEL_MAX_EVENTS];
  guint ev_head, ev_len;
  EmberTunnelRelayCommand cmds[EMBER_TUNNEL_MAX_RELAY_COMMANDS];
  guint cmd_head, cmd_len;
  EmberTunnelNodeStats stats;
  guint64 events_dropped;
};

/* ---- helpers ---------------------------------------------------------- */

static void
wg_rng (gpointer user_data, guint8 *buf, gsize len)
{
  EmberTunnelNode *node = user_data;
  for (gsize i = 0; i < len; i += 8)
    {
      guint64 r = ember_ice_rng_next (&node->rng);
      for (gsize j = 0; j < 8 && i + j < len; j++)
        buf[i + j] = (guint8) (r >> (8 * j));
    }
}

static EmberTunnelNodeEvent *
push_event (EmberTunnelNode *node, EmberTunnelNodeEventType type, const EmberTunnelConn *conn)
{
  if (node->ev_len == EMBER_TUNNEL_MAX_EVENTS)
    {
      /* The owner drains after every call; a full ring is a bug there.
       * Losing the oldest beats losing the newest state. */
      node->ev_head = (node->ev_head + 1) % EMBER_TUNNEL_MAX_EVENTS;
      node->ev_len--;
      node->events_dropped++;
    }
  EmberTunnelNodeEvent *ev = &node->events[(node->ev_head + node->ev_len++) % EMBER_TUNNEL_MAX_EVENTS];
  memset (ev, 0, sizeof *ev);
  ev->type = type;
  g_strlcpy (ev->peer_id, conn->peer_id, sizeof ev->peer_id);
  ev->generation = conn->generation;
  ev->state = conn->state;
  return ev;
}

static void
push_command (EmberTunnelNode *node, const EmberTunnelRelayCommand *cmd)
{
  if (node->cmd_len == EMBER_TUNNEL_MAX_RELAY_COMMANDS)
    {
      node->cmd_head = (node->cmd_head + 1) % EMBER_TUNNEL_MAX_RELAY_COMMANDS;
      node->cmd_len--;
    }
  node->cmds[(node->cmd_head + node->cmd_len++) % EMBER_TUNNEL_MAX_RELAY_COMMANDS] = *cmd;
}

static void
set_state (EmberTunnelNode *node, EmberTunnelConn *conn, EmberTunnelConnState state,
           const char *reason)
{
  if (conn->state == state)
    return;
  g_debug ("%s %s: %s -> %s (generation %u)%s%s",
           node->role == EMBER_ICE_ROLE_CONTROLLING ? "client, gateway" : "gateway, client",
           conn->peer_id, ember_tunnel_conn_state_to_string (conn->state),
           ember_tunnel_conn_state_to_string (state), conn->generation, reason != NULL ? ": " : "",
           reason != NULL ? reason : "");
  conn->state = state;
  EmberTunnelNodeEvent *ev = push_event (node, EMBER_TUNNEL_NODE_EVENT_STATE, conn);
  ev->reason = reason;
}

static NodeRelay *
relay_by_addr (EmberTunnelNode *node, const EmberAddr *addr)
{
  for (guint i = 0; i < node->n_relays; i++)
    if (ember_ice_addr_equal (&node->relays[i].spec.addr, addr))
      return &node->relays[i];
  return NULL;
}

static NodeRelay *
relay_by_id (EmberTunnelNode *node, const char *id)
{
  for (guint i = 0; i < node->n_relays; i++)
    if (strcmp (node->relays[i].spec.id, id) == 0)
      return &node->relays[i];
  return NULL;
}

static const EmberAddr *
host_of_family (const EmberTunnelNode *node, guint8 family)
{
  for (guint i = 0; i < node->n_hosts; i++)
    if (node->hosts[i].family == family)
      return &node->hosts[i];
  return NULL;
}

static void
add_local (EmberTunnelNode *node, EmberTunnelConn *conn, EmberIceCandidateType type,
           const EmberAddr *addr, const EmberAddr *server)
{
  if (conn->agent == NULL || !ember_ice_addr_is_set (addr))
    return;
  const EmberAddr *base = NULL;
  if (type == EMBER_ICE_CANDIDATE_SRFLX)
    {
      base = host_of_family (node, addr->family);
      if (base == NULL)
        return;
    }
  EmberIceCandidate c;
  ember_ice_candidate_init_local (&c, type, addr, base, server);
  /* Refusals (after nomination: seed 000; duplicates) are the agent's
   * rules, not errors. */
  ember_ice_agent_add_local_candidate (conn->agent, &c, NULL);
}

static void
add_peer_command (EmberTunnelNode *node, const NodeRelay *r, const EmberAddr *peer)
{
  for (guint i = 0; i < r->n_relayed; i++)
    if (r->relayed[i].family == peer->family)
      {
        EmberTunnelRelayCommand cmd = { .type = EMBER_TUNNEL_RELAY_ADD_PEER,
                                        .relayed = r->relayed[i], .peer = *peer };
        push_command (node, &cmd);
      }
}

static void
add_relayed (EmberTunnelNode *node, EmberTunnelConn *conn, const NodeRelay *r)
{
  for (guint i = 0; i < r->n_relayed; i++)
    add_local (node, conn, EMBER_ICE_CANDIDATE_RELAY, &r->relayed[i], &r->spec.addr);
  for (guint i = 0; i < conn->n_remotes; i++)
    add_peer_command (node, r, &conn->remotes[i]);
}

/* Host candidates, server-reflexive ones from every relay, relayed ones
 * from one sampled relay (seed 000). */
static void
gather (EmberTunnelNode *node, EmberTunnelConn *conn, gint64 now)
{
  (void) now;
  for (guint i = 0; i < node->n_hosts; i++)
    add_local (node, conn, EMBER_ICE_CANDIDATE_HOST, &node->hosts[i], NULL);
  guint up[EMBER_TUNNEL_MAX_RELAYS], n_up = 0;
  for (guint i = 0; i < node->n_relays; i++)
    {
      NodeRelay *r = &node->relays[i];
      add_local (node, conn, EMBER_ICE_CANDIDATE_SRFLX, &r->srflx, &r->spec.addr);
      if (!r->down)
        up[n_up++] = i;
    }
  memset (&conn->sampled, 0, sizeof conn->sampled);
  gint k = ember_ice_sample_relay (&node->rng, n_up);
  if (k < 0)
    return;
  NodeRelay *r = &node->relays[up[k]];
  conn->sampled = r->spec.addr;
  EmberTunnelRelayCommand cmd = { .type = EMBER_TUNNEL_RELAY_ALLOCATE, .relay = r->spec.addr };
  push_command (node, &cmd);
  if (r->n_relayed > 0)
    add_relayed (node, conn, r);
}

static void
withdraw_locals (EmberTunnelNode *node, EmberTunnelConn *conn)
{
  for (guint i = 0; i < conn->n_locals; i++)
    {
      EmberTunnelNodeEvent *ev = push_event (node, EMBER_TUNNEL_NODE_EVENT_INVALIDATE_CANDIDATE, conn);
      ev->candidate = conn->locals[i];
    }
  conn->n_locals = 0;
}

static void
handle_agent_event (EmberTunnelNode *node, EmberTunnelConn *conn, const EmberIceEvent *ev,
                    gint64 now)
{
  switch (ev->type)
    {
    case EMBER_ICE_EVENT_LOCAL_CANDIDATE:
      {
        if (conn->n_locals < MAX_LOCALS)
          conn->locals[conn->n_locals++] = ev->candidate;
        EmberTunnelNodeEvent *nev = push_event (node, EMBER_TUNNEL_NODE_EVENT_CANDIDATE, conn);
        nev->candidate = ev->candidate;
        break;
      }
    case EMBER_ICE_EVENT_INVALIDATE_CANDIDATE:
      {
        for (guint i = 0; i < conn->n_locals; i++)
          if (ember_ice_addr_equal (&conn->locals[i].addr, &ev->candidate.addr))
            {
              conn->locals[i] = conn->locals[--conn->n_locals];
              break;
            }
        EmberTunnelNodeEvent *nev = push_event (node, EMBER_TUNNEL_NODE_EVENT_INVALIDATE_CANDIDATE, conn);
        nev->candidate = ev->candidate;
        break;
      }
    case EMBER_ICE_EVENT_CONNECTED:
      {
        conn->sel_local = ev->local;
        conn->sel_remote = ev->remote;
        node->wg->set_endpoint (conn->peer, &ev->remote.addr);
        EmberWgPeerStats st;
        node->wg->get_peer_stats (conn->peer, &st);
        if (conn->state == EMBER_TUNNEL_CONN_UP || conn->state == EMBER_TUNNEL_CONN_HANDSHAKE)
          break;  /* a new selection of the same generation */
        /* The controlling side (client) is the WireGuard initiator. It
         * handshakes on every new ICE session and is UP only once that
         * handshake completed, even with an older session in hand: the
         * peer may have restarted or closed the connection and lost it,
         * and would drop what we send on it (held packets included)
         * until the engine's own timers gave up (KEEPALIVE +
         * REKEY_TIMEOUT, 15 s). One round trip. A session younger than
         * EMBER_TUNNEL_FRESH_SESSION_US is the peer's too, and a new
         * initiation would be rate-limited anyway. The controlled side
         * uses a session it has at once (the initiator's new handshake
         * replaces it). */
        gboolean fresh = st.has_session && st.last_handshake != G_MININT64
                         && now - st.last_handshake < EMBER_TUNNEL_FRESH_SESSION_US;
        if (node->role == EMBER_ICE_ROLE_CONTROLLING && !fresh)
          {
            node->wg->initiate (node->engine, conn->peer, now);
            set_state (node, conn, EMBER_TUNNEL_CONN_HANDSHAKE, NULL);
          }
        else
          set_state (node, conn, st.has_session ? EMBER_TUNNEL_CONN_UP : EMBER_TUNNEL_CONN_HANDSHAKE,
                     NULL);
        break;
      }
    case EMBER_ICE_EVENT_FAILED:
      set_state (node, conn, EMBER_TUNNEL_CONN_FAILED, ev->reason);
      /* Tell the peer through signalling that nothing we offered is
       * valid any more: its agent fails at once instead of waiting for
       * consent to time out, so both sides agree sooner. */
      withdraw_locals (node, conn);
      break;
    }
}

static void
handle_wg_event (EmberTunnelNode *node, const EmberWgEvent *ev)
{
  EmberTunnelConn *conn = g_hash_table_lookup (node->by_peer, ev->peer);
  if (conn == NULL)
    return;
  switch (ev->type)
    {
    case EMBER_WG_EVENT_HANDSHAKE_COMPLETE:
      if (conn->state == EMBER_TUNNEL_CONN_HANDSHAKE
          || (conn->state == EMBER_TUNNEL_CONN_CHECKING && conn->agent != NULL
              && ember_ice_agent_get_state (conn->agent) == EMBER_ICE_STATE_CONNECTED))
        set_state (node, conn, EMBER_TUNNEL_CONN_UP, NULL);
      break;
    case EMBER_WG_EVENT_HANDSHAKE_FAILED:
      if (conn->state != EMBER_TUNNEL_CONN_FAILED)
        {
          set_state (node, conn, EMBER_TUNNEL_CONN_FAILED, "wireguard handshake gave up");
          withdraw_locals (node, conn);
        }
      break;
    case EMBER_WG_EVENT_KEYS_EXPIRED:
      /* Idle for 9 minutes: the next packet starts a handshake (the
       * engine stages it), so the connection stays usable. */
      break;
    }
}

/* Moves every agent's and the engine's events into node events. */
static void
pump (EmberTunnelNode *node, gint64 now)
{
  gboolean more = TRUE;
  while (more)
    {
      more = FALSE;
      for (guint i = 0; i < node->conns->len; i++)
        {
          EmberTunnelConn *conn = g_ptr_array_index (node->conns, i);
          EmberIceEvent ev;
          while (conn->agent != NULL && ember_ice_agent_poll_event (conn->agent, &ev))
            {
              handle_agent_event (node, conn, &ev, now);
              more = TRUE;
            }
        }
      EmberWgEvent wev;
      while (node->wg->poll_event (node->engine, &wev))
        {
          handle_wg_event (node, &wev);
          more = TRUE;
        }
    }
}

/* ---- lifecycle -------------------------------------------------------------- */

EmberTunnelNode *
ember_tunnel_node_new (const EmberTunnelNodeConfig *config, gint64 now, GError **error)
{
  g_return_val_if_fail (config != NULL && config->wg != NULL && config->rng.next != NULL, NULL);
  EmberTunnelNode *node = g_new0 (EmberTunnelNode, 1);
  node->wg = config->wg;
  node->role = config->role;
  node->rng = config->rng;
  node->engine = node->wg->engine_new (config->private_key, wg_rng, node, now, config->wall_us, error);
  if (node->engine == NULL)
    {
      g_free (node);
      return NULL;
    }
  node->conns = g_ptr_array_new ();
  node->by_id = g_hash_table_new (g_str_hash, g_str_equal);
  node->by_peer = g_hash_table_new (g_direct_hash, g_direct_equal);
  return node;
}

static void
conn_free (EmberTunnelNode *node, EmberTunnelConn *conn)
{
  g_clear_pointer (&conn->agent, ember_ice_agent_free);
  if (conn->peer != NULL)
    node->wg->remove_peer (node->engine, conn->peer);
  explicit_bzero (conn, sizeof *conn);
  g_free (conn);
}

void
ember_tunnel_node_free (EmberTunnelNode *node)
{
  if (node == NULL)
    return;
  for (guint i = 0; i < node->conns->len; i++)
    {
      EmberTunnelConn *conn = g_ptr_array_index (node->conns, i);
      g_clear_pointer (&conn->agent, ember_ice_agent_free);
      conn->peer = NULL;  /* engine_free frees the peers */
      conn_free (node, conn);
    }
  node->wg->engine_free (node->engine);
  g_ptr_array_free (node->conns, TRUE);
  g_hash_table_destroy (node->by_id);
  g_hash_table_destroy (node->by_peer);
  explicit_bzero (node->relays, sizeof node->relays);
  g_free (node);
}

void
ember_tunnel_node_get_public_key (EmberTunnelNode *node, guint8 out[EMBER_WG_KEY_SIZE])
{
  node->wg->get_public_key (node->engine, out);
}

void
ember_tunnel_node_set_wall_clock (EmberTunnelNode *node, gint64 now, gint64 wall_us)
{
  node->wg->set_clock (node->engine, now, wall_us);
}

gboolean
ember_tunnel_node_set_host_addresses (EmberTunnelNode *node, const EmberAddr *addrs, guint n,
                                      const EmberAddr *exclude, guint n_exclude)
{
  EmberAddr filtered[EMBER_TUNNEL_MAX_HOST_ADDRS];
  guint k = ember_ice_filter_host_addresses (addrs, n, exclude, n_exclude, filtered,
                                             EMBER_TUNNEL_MAX_HOST_ADDRS);
  gboolean changed = k != node->n_hosts;
  for (guint i = 0; i < k && !changed; i++)
    changed = !ember_ice_addr_equal (&filtered[i], &node->hosts[i]);
  memcpy (node->hosts, filtered, k * sizeof filtered[0]);
  node->n_hosts = k;
  return changed;
}

/* ---- relays ----------------------------------------------------------------- */

static void
invalidate_relayed (EmberTunnelNode *node, gint64 now, const EmberAddr *relayed, guint n)
{
  for (guint i = 0; i < node->conns->len; i++)
    {
      EmberTunnelConn *conn = g_ptr_array_index (node->conns, i);
      for (guint k = 0; conn->agent != NULL && k < n; k++)
        ember_ice_agent_invalidate_local_candidate (conn->agent, now, &relayed[k]);
    }
}

static void
remove_relay (EmberTunnelNode *node, gint64 now, guint index)
{
  NodeRelay *r = &node->relays[index];
  invalidate_relayed (node, now, r->relayed, r->n_relayed);
  explicit_bzero (r, sizeof *r);
  node->relays[index] = node->relays[--node->n_relays];
}

void
ember_tunnel_node_update_relays (EmberTunnelNode *node, gint64 now,
                                 const char *const *disconnected_ids, guint n_disconnected,
                                 const EmberTunnelRelay *connected, guint n_connected,
                                 gboolean replace_all)
{
  gboolean changed = FALSE;
  for (guint i = 0; i < n_disconnected; i++)
    for (guint k = 0; k < node->n_relays; k++)
      if (strcmp (node->relays[k].spec.id, disconnected_ids[i]) == 0)
        {
          remove_relay (node, now, k);
          changed = TRUE;
          break;
        }
  if (replace_all)
    for (guint k = node->n_relays; k-- > 0;)
      {
        gboolean keep = FALSE;
        for (guint i = 0; i < n_connected && !keep; i++)
          keep = strcmp (connected[i].id, node->relays[k].spec.id) == 0;
        if (!keep)
          {
            remove_relay (node, now, k);
            changed = TRUE;
          }
      }
  for (guint i = 0; i < n_connected; i++)
    {
      NodeRelay *r = relay_by_id (node, connected[i].id);
      if (r != NULL)
        {
          if (memcmp (&r->spec, &connected[i], sizeof r->spec) != 0)
            {
              /* A new address is another relay for the allocation: the
               * old relayed candidates die. New credentials mean a
               * reboot, which the shell's TURN client reports itself
               * (INVALIDATED). */
              if (!ember_ice_addr_equal (&r->spec.addr, &connected[i].addr))
                {
                  invalidate_relayed (node, now, r->relayed, r->n_relayed);
                  r->n_relayed = 0;
                  memset (&r->srflx, 0, sizeof r->srflx);
                }
              r->spec = connected[i];
              changed = TRUE;
            }
          continue;
        }
      if (node->n_relays == EMBER_TUNNEL_MAX_RELAYS)
        {
          g_warning ("relay %s ignored: already %d relays", connected[i].id, EMBER_TUNNEL_MAX_RELAYS);
          continue;
        }
      r = &node->relays[node->n_relays++];
      memset (r, 0, sizeof *r);
      r->spec = connected[i];
      changed = TRUE;
    }
  if (changed)
    {
      EmberTunnelRelayCommand cmd = { .type = EMBER_TUNNEL_RELAY_SET };
      push_command (node, &cmd);
    }
  pump (node, now);
}

guint
ember_tunnel_node_get_relays (const EmberTunnelNode *node, EmberRelaySpec *out, guint max)
{
  guint k = MIN (max, node->n_relays);
  for (guint i = 0; i < k; i++)
    {
      out[i].server = node->relays[i].spec.addr;
      out[i].username = node->relays[i].spec.username;
      out[i].password = node->relays[i].spec.password;
    }
  return k;
}

void
ember_tunnel_node_handle_relay_event (EmberTunnelNode *node, gint64 now, const EmberRelayEvent *ev)
{
  NodeRelay *r = relay_by_addr (node, &ev->relay);
  switch (ev->type)
    {
    case EMBER_RELAY_EVENT_SRFLX:
      if (r == NULL)
        break;
      r->srflx = ev->addr;
      /* A changed mapping: the old candidate names a port nobody
       * answers on any more; withdraw it (the agent tells the peer)
       * unless another relay still sees us there. */
      if (ember_ice_addr_is_set (&ev->old) && !ember_ice_addr_equal (&ev->old, &ev->addr))
        {
          gboolean still = FALSE;
          for (guint k = 0; k < node->n_relays && !still; k++)
            still = ember_ice_addr_equal (&node->relays[k].srflx, &ev->old);
          for (guint i = 0; i < node->conns->len && !still; i++)
            {
              EmberTunnelConn *conn = g_ptr_array_index (node->conns, i);
              if (conn->agent != NULL)
                ember_ice_agent_invalidate_local_candidate (conn->agent, now, &ev->old);
            }
        }
      for (guint i = 0; i < node->conns->len; i++)
        add_local (node, g_ptr_array_index (node->conns, i), EMBER_ICE_CANDIDATE_SRFLX, &ev->addr,
                   &r->spec.addr);
      break;
    case EMBER_RELAY_EVENT_ALLOCATED:
      if (r == NULL)
        break;
      r->n_relayed = MIN (ev->n_relayed, 2u);
      memcpy (r->relayed, ev->relayed, r->n_relayed * sizeof ev->relayed[0]);
      r->down = FALSE;
      for (guint i = 0; i < node->conns->len; i++)
        {
          EmberTunnelConn *conn = g_ptr_array_index (node->conns, i);
          if (ember_ice_addr_equal (&conn->sampled, &r->spec.addr))
            add_relayed (node, conn, r);
        }
      break;
    case EMBER_RELAY_EVENT_INVALIDATED:
      invalidate_relayed (node, now, ev->relayed, MIN (ev->n_relayed, 2u));
      if (r != NULL)
        r->n_relayed = 0;
      break;
    case EMBER_RELAY_EVENT_DOWN:
      if (r == NULL)
        break;
      r->down = TRUE;
      r->n_relayed = 0;
      memset (&r->srflx, 0, sizeof r->srflx);
      break;
    case EMBER_RELAY_EVENT_UP:
      if (r != NULL)
        r->down = FALSE;
      break;
    case EMBER_RELAY_EVENT_FAILED:
      break;
    }
  pump (node, now);
}

gboolean
ember_tunnel_node_poll_relay_command (EmberTunnelNode *node, EmberTunnelRelayCommand *cmd)
{
  if (node->cmd_len == 0)
    return FALSE;
  *cmd = node->cmds[node->cmd_head];
  node->cmd_head = (node->cmd_head + 1) % EMBER_TUNNEL_MAX_RELAY_COMMANDS;
  node->cmd_len--;
  return TRUE;
}

/* ---- connections --------------------------------------------------------- */

static gboolean
same_peer (const EmberTunnelConn *conn, const EmberTunnelConnConfig *cfg)
{
  return conn->peer != NULL && memcmp (conn->public_key, cfg->public_key, EMBER_WG_KEY_SIZE) == 0
         && conn->has_psk == cfg->has_preshared_key
         && (!conn->has_psk || memcmp (conn->psk, cfg->preshared_key, EMBER_WG_KEY_SIZE) == 0);
}

EmberTunnelConn *
ember_tunnel_node_connect (EmberTunnelNode *node, gint64 now, const EmberTunnelConnConfig *cfg,
                           GError **error)
{
  g_return_val_if_fail (node != NULL && cfg != NULL, NULL);
  if (cfg->peer_id[0] == '\0' || memchr (cfg->peer_id, '\0', sizeof cfg->peer_id) == NULL)
    {
      g_set_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_PARSE, "connection: peer id is empty or too long");
      return NULL;
    }
  EmberTunnelConn *conn = g_hash_table_lookup (node->by_id, cfg->peer_id);
  if (conn != NULL && conn->state != EMBER_TUNNEL_CONN_FAILED && conn->agent != NULL
      && same_peer (conn, cfg) && cfg->local_ufrag[0] != '\0'
      && strcmp (conn->local_ufrag, cfg->local_ufrag) == 0
      && strcmp (conn->local_pwd, cfg->local_pwd) == 0
      && strcmp (conn->remote_ufrag, cfg->remote_ufrag) == 0
      && strcmp (conn->remote_pwd, cfg->remote_pwd) == 0)
    return conn;  /* rule 2: the session these credentials name goes on */

  g_autoptr (EmberIceAgent) agent = ember_ice_agent_new (node->role, &node->rng, now);
  if (cfg->local_ufrag[0] != '\0'
      && !ember_ice_agent_set_local_credentials (agent, cfg->local_ufrag, cfg->local_pwd, error))
    return NULL;
  if (!ember_ice_agent_set_remote_credentials (agent, cfg->remote_ufrag, cfg->remote_pwd, error))
    return NULL;

  gboolean same_key = conn != NULL && same_peer (conn, cfg);
  if (conn != NULL && !same_key)
    {
      g_hash_table_remove (node->by_peer, conn->peer);
      node->wg->remove_peer (node->engine, conn->peer);
      conn->peer = NULL;
    }
  if (conn == NULL || conn->peer == NULL)
    {
      EmberWgPeerConfig pc = { .has_preshared_key = cfg->has_preshared_key };
      memcpy (pc.public_key, cfg->public_key, EMBER_WG_KEY_SIZE);
      memcpy (pc.preshared_key, cfg->preshared_key, EMBER_WG_KEY_SIZE);
      EmberWgPeer *peer = node->wg->add_peer (node->engine, &pc, error);
      explicit_bzero (&pc, sizeof pc);
      if (peer == NULL)
        {
          if (conn != NULL)
            ember_tunnel_node_close (node, conn);
          return NULL;
        }
      if (conn == NULL)
        {
          conn = g_new0 (EmberTunnelConn, 1);
          g_strlcpy (conn->peer_id, cfg->peer_id, sizeof conn->peer_id);
          g_ptr_array_add (node->conns, conn);
          g_hash_table_insert (node->by_id, conn->peer_id, conn);
        }
      conn->peer = peer;
      g_hash_table_insert (node->by_peer, peer, conn);
      memcpy (conn->public_key, cfg->public_key, EMBER_WG_KEY_SIZE);
      conn->has_psk = cfg->has_preshared_key;
      memcpy (conn->psk, cfg->preshared_key, EMBER_WG_KEY_SIZE);
    }

  g_clear_pointer (&conn->agent, ember_ice_agent_free);
  conn->agent = g_steal_pointer (&agent);
  g_strlcpy (conn->local_ufrag, ember_ice_agent_get_local_ufrag (conn->agent), sizeof conn->local_ufrag);
  g_strlcpy (conn->local_pwd, ember_ice_agent_get_local_pwd (conn->agent), sizeof conn->local_pwd);
  g_strlcpy (conn->remote_ufrag, cfg->remote_ufrag, sizeof conn->remote_ufrag);
  g_strlcpy (conn->remote_pwd, cfg->remote_pwd, sizeof conn->remote_pwd);
  conn->generation++;
  conn->n_locals = conn->n_remotes = 0;
  memset (&conn->sel_local, 0, sizeof conn->sel_local);
  memset (&conn->sel_remote, 0, sizeof conn->sel_remote);
  conn->state = EMBER_TUNNEL_CONN_FAILED;  /* so the change is an event */
  set_state (node, conn, EMBER_TUNNEL_CONN_CHECKING, NULL);
  gather (node, conn, now);
  pump (node, now);
  return conn;
}

EmberTunnelConn *
ember_tunnel_node_lookup (EmberTunnelNode *node, const char *peer_id)
{
  return g_hash_table_lookup (node->by_id, peer_id);
}

void
ember_tunnel_node_fail (EmberTunnelNode *node, EmberTunnelConn *conn, gint64 now,
                        const char *reason)
{
  if (conn->state == EMBER_TUNNEL_CONN_FAILED)
    return;
  set_state (node, conn, EMBER_TUNNEL_CONN_FAILED, reason);
  withdraw_locals (node, conn);
  g_clear_pointer (&conn->agent, ember_ice_agent_free);
  pump (node, now);
}

void
ember_tunnel_node_close (EmberTunnelNode *node, EmberTunnelConn *conn)
{
  /* The peer learns it through signalling (docs/tunnel.md). */
  if (conn->state != EMBER_TUNNEL_CONN_FAILED)
    withdraw_locals (node, conn);
  g_hash_table_remove (node->by_id, conn->peer_id);
  if (conn->peer != NULL)
    g_hash_table_remove (node->by_peer, conn->peer);
  g_ptr_array_remove (node->conns, conn);
  conn_free (node, conn);
}

guint
ember_tunnel_node_get_n_conns (const EmberTunnelNode *node)
{
  return node->conns->len;
}

void
ember_tunnel_node_foreach (EmberTunnelNode *node,
                           void (*func) (EmberTunnelConn *conn, gpointer user_data),
                           gpointer user_data)
{
  for (guint i = 0; i < node->conns->len; i++)
    func (g_ptr_array_index (node->conns, i), user_data);
}

gboolean
ember_tunnel_conn_add_remote_candidate (EmberTunnelNode *node, EmberTunnelConn *conn, gint64 now,
                                        const EmberIceCandidate *c, GError **error)
{
  if (conn->agent == NULL)
    {
      g_set_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_STATE, "connection has no agent");
      return FALSE;
    }
  gboolean ok = ember_ice_agent_add_remote_candidate (conn->agent, c, error);
  if (ok)
    {
      if (conn->n_remotes < MAX_REMOTES)
        conn->remotes[conn->n_remotes++] = c->addr;
      NodeRelay *r = relay_by_addr (node, &conn->sampled);
      if (r != NULL)
        add_peer_command (node, r, &c->addr);
    }
  pump (node, now);
  return ok;
}

gboolean
ember_tunnel_conn_invalidate_remote_candidate (EmberTunnelNode *node, EmberTunnelConn *conn,
                                               gint64 now, const EmberIceCandidate *c)
{
  if (conn->agent == NULL)
    return FALSE;
  gboolean removed = ember_ice_agent_invalidate_remote_candidate (conn->agent, now, &c->addr);
  gboolean had = conn->n_remotes > 0;
  g_debug ("%s: the peer withdrew %s (%u signalled before)", conn->peer_id,
           ember_ice_candidate_type_to_string (c->type), conn->n_remotes);
  for (guint i = 0; i < conn->n_remotes; i++)
    if (ember_ice_addr_equal (&conn->remotes[i], &c->addr))
      {
        conn->remotes[i] = conn->remotes[--conn->n_remotes];
        break;
      }
  /* docs/tunnel.md: a peer that withdraws every candidate it signalled
   * has ended this ICE session (it failed, roamed or closed). Its
   * peer-reflexive paths would otherwise keep us "connected" alone. */
  if (had && conn->n_remotes == 0 && conn->state != EMBER_TUNNEL_CONN_FAILED)
    {
      set_state (node, conn, EMBER_TUNNEL_CONN_FAILED, "the peer withdrew every candidate");
      g_clear_pointer (&conn->agent, ember_ice_agent_free);
      conn->n_locals = 0;
    }
  pump (node, now);
  return removed;
}

const char *
ember_tunnel_conn_get_peer_id (const EmberTunnelConn *conn)
{
  return conn->peer_id;
}

EmberTunnelConnState
ember_tunnel_conn_get_state (const EmberTunnelConn *conn)
{
  return conn->state;
}

gboolean
ember_tunnel_conn_get_public_key (const EmberTunnelConn *conn, guint8 out[EMBER_WG_KEY_SIZE])
{
  if (conn->peer == NULL)
    return FALSE;
  memcpy (out, conn->public_key, EMBER_WG_KEY_SIZE);
  return TRUE;
}

guint
ember_tunnel_conn_get_generation (const EmberTunnelConn *conn)
{
  return conn->generation;
}

const char *
ember_tunnel_conn_get_local_ufrag (const EmberTunnelConn *conn)
{
  return ember_ice_agent_get_local_ufrag (conn->agent);
}

const char *
ember_tunnel_conn_get_local_pwd (const EmberTunnelConn *conn)
{
  return ember_ice_agent_get_local_pwd (conn->agent);
}

gboolean
ember_tunnel_conn_get_selected (const EmberTunnelConn *conn, EmberIceCandidate *local,
                                EmberIceCandidate *remote)
{
  if (conn->state != EMBER_TUNNEL_CONN_HANDSHAKE && conn->state != EMBER_TUNNEL_CONN_UP)
    return FALSE;
  if (local != NULL)
    *local = conn->sel_local;
  if (remote != NULL)
    *remote = conn->sel_remote;
  return TRUE;
}

gboolean
ember_tunnel_conn_get_wg_stats (const EmberTunnelNode *node, const EmberTunnelConn *conn,
                                EmberWgPeerStats *stats)
{
  if (conn->peer == NULL)
    return FALSE;
  node->wg->get_peer_stats (conn->peer, stats);
  return TRUE;
}

gint64
ember_tunnel_conn_get_last_rx (const EmberTunnelConn *conn)
{
  return conn->last_rx;
}

gint64
ember_tunnel_conn_get_last_tx (const EmberTunnelConn *conn)
{
  return conn->last_tx;
}

void
ember_tunnel_conn_set_user_data (EmberTunnelConn *conn, gpointer user_data)
{
  conn->user_data = user_data;
}

gpointer
ember_tunnel_conn_get_user_data (const EmberTunnelConn *conn)
{
  return conn->user_data;
}

/* ---- packets ------------------------------------------------------------------ */

static gboolean
has_path (const EmberTunnelConn *conn)
{
  return conn->state == EMBER_TUNNEL_CONN_HANDSHAKE || conn->state == EMBER_TUNNEL_CONN_UP;
}

EmberTunnelResult
ember_tunnel_node_encapsulate (EmberTunnelNode *node, EmberTunnelConn *conn, gint64 now,
                               guint8 *buf, gsize cap, gsize *off, gsize *len,
                               EmberTunnelTransmit *tx)
{
  if (conn->state != EMBER_TUNNEL_CONN_UP)
    {
      node->stats.not_ready++;
      return EMBER_TUNNEL_NOT_READY;
    }
  EmberAddr to;
  EmberWgResult r = node->wg->encapsulate (node->engine, conn->peer, now, buf, cap, off, len, &to);
  switch (r)
    {
    case EMBER_WG_DATAGRAM:
      tx->from = conn->sel_local.base;
      tx->to = conn->sel_remote.addr;
      tx->len = *len;
      conn->last_tx = now;
      node->stats.packets_out++;
      return EMBER_TUNNEL_DATAGRAM;
    case EMBER_WG_QUEUED:
      /* Keys too old: staged while a new handshake runs. */
      conn->last_tx = now;
      node->stats.packets_out++;
      pump (node, now);
      return EMBER_TUNNEL_DONE;
    default:
      return EMBER_TUNNEL_DROPPED;
    }
}

static gboolean
looks_like_stun (const guint8 *buf, gsize len)
{
  /* RFC 8489 §5: top two bits zero, magic cookie at bytes 4..7. */
  return len >= EMBER_STUN_HEADER_LEN && (buf[0] & 0xc0) == 0 && buf[4] == 0x21 && buf[5] == 0x12
         && buf[6] == 0xa4 && buf[7] == 0x42;
}

EmberTunnelResult
ember_tunnel_node_handle_input (EmberTunnelNode *node, gint64 now, const EmberAddr *local,
                                const EmberAddr *remote, guint8 *buf, gsize *off, gsize *len,
                                EmberTunnelConn **conn_out)
{
  *conn_out = NULL;
  if (looks_like_stun (buf + *off, *len))
    {
      node->stats.stun_in++;
      EmberTunnelResult res = EMBER_TUNNEL_DROPPED;
      for (guint i = 0; i < node->conns->len; i++)
        {
          EmberTunnelConn *conn = g_ptr_array_index (node->conns, i);
          if (conn->agent == NULL)
            continue;
          EmberIceInputResult r = ember_ice_agent_handle_input (conn->agent, now, local, remote,
                                                               buf + *off, *len);
          if (r == EMBER_ICE_INPUT_HANDLED)
            {
              res = EMBER_TUNNEL_DONE;
              break;
            }
          if (r == EMBER_ICE_INPUT_INVALID)
            break;
        }
      if (res == EMBER_TUNNEL_DROPPED)
        node->stats.dropped_in++;
      pump (node, now);
      return res;
    }

  node->stats.wg_in++;
  EmberWgPeer *peer = NULL;
  EmberWgResult r = node->wg->decapsulate (node->engine, now, remote, buf, off, len, &peer);
  EmberTunnelConn *conn = peer != NULL ? g_hash_table_lookup (node->by_peer, peer) : NULL;
  if (r == EMBER_WG_PACKET && conn != NULL)
    {
      /* The engine roamed its endpoint to this source; data always
       * leaves on the pair ICE selected. */
      if (has_path (conn))
        node->wg->set_endpoint (conn->peer, &conn->sel_remote.addr);
      conn->last_rx = now;
      node->stats.packets_in++;
      *conn_out = conn;
      pump (node, now);
      return EMBER_TUNNEL_PACKET;
    }
  if (conn != NULL && r >= 0)
    conn->last_rx = now;
  pump (node, now);
  if (r < 0 || r == EMBER_WG_PACKET)
    {
      node->stats.dropped_in++;
      return EMBER_TUNNEL_DROPPED;
    }
  return EMBER_TUNNEL_DONE;
}

void
ember_tunnel_node_handle_timeout (EmberTunnelNode *node, gint64 now)
{
  for (guint i = 0; i < node->conns->len; i++)
    {
      EmberTunnelConn *conn = g_ptr_array_index (node->conns, i);
      if (conn->agent != NULL && ember_ice_agent_poll_timeout (conn->agent) <= now)
        ember_ice_agent_handle_timeout (conn->agent, now);
    }
  if (node->wg->poll_timeout (node->engine) <= now)
    node->wg->update_timers (node->engine, now);
  pump (node, now);
}

gboolean
ember_tunnel_node_poll_transmit (EmberTunnelNode *node, gint64 now, guint8 *buf, gsize cap,
                                 EmberTunnelTransmit *tx)
{
  /* ICE checks first (small, seed 002), round robin over connections. */
  guint n = node->conns->len;
  for (guint k = 0; k < n; k++)
    {
      EmberTunnelConn *conn = g_ptr_array_index (node->conns, (node->tx_cursor + k) % n);
      if (conn->agent == NULL)
        continue;
      gsize len = ember_ice_agent_poll_transmit (conn->agent, buf, cap, &tx->from, &tx->to);
      if (len > 0)
        {
          tx->len = len;
          node->tx_cursor = (node->tx_cursor + k) % n;
          return TRUE;
        }
    }
  EmberWgTransmit wt;
  while (node->wg->poll_transmit (node->engine, now, buf, cap, &wt))
    {
      EmberTunnelConn *conn = wt.peer != NULL ? g_hash_table_lookup (node->by_peer, wt.peer) : NULL;
      if (conn == NULL || !has_path (conn))
        continue;  /* no path yet: the engine retries on its timers */
      tx->from = conn->sel_local.base;
      tx->to = conn->sel_remote.addr;
      tx->len = wt.len;
      conn->last_tx = now;
      return TRUE;
    }
  pump (node, now);
  return FALSE;
}

gint64
ember_tunnel_node_poll_timeout (EmberTunnelNode *node)
{
  gint64 t = node->wg->poll_timeout (node->engine);
  for (guint i = 0; i < node->conns->len; i++)
    {
      EmberTunnelConn *conn = g_ptr_array_index (node->conns, i);
      if (conn->agent != NULL)
        t = MIN (t, ember_ice_agent_poll_timeout (conn->agent));
    }
  return t;
}

gboolean
ember_tunnel_node_poll_event (EmberTunnelNode *node, EmberTunnelNodeEvent *ev)
{
  if (node->ev_len == 0)
    return FALSE;
  *ev = node->events[node->ev_head];
  node->ev_head = (node->ev_head + 1) % EMBER_TUNNEL_MAX_EVENTS;
  node->ev_len--;
  return TRUE;
}

void
ember_tunnel_node_get_stats (const EmberTunnelNode *node, EmberTunnelNodeStats *stats)
{
  *stats = node->stats;
}

const char *
ember_tunnel_conn_state_to_string (EmberTunnelConnState state)
{
  switch (state)
    {
    case EMBER_TUNNEL_CONN_CHECKING: return "checking";
    case EMBER_TUNNEL_CONN_HANDSHAKE: return "handshake";
    case EMBER_TUNNEL_CONN_UP: return "up";
    case EMBER_TUNNEL_CONN_FAILED: return "failed";
    }
  return "unknown";
}
