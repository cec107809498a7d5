/* gateway — the gateway tunnel: the policy (gateway-policy.h) in front of
 * the connection layer (node.h), driven by the portal's gateway channel.
 * See gateway.h. */
#include <string.h>

#include "tunnel/gateway-portal.h"
#include "tunnel/gateway.h"
#include "dns/translate.h"

/* A packet the DNS translator released or answered, waiting for
 * poll_network / poll_transmit. */
typedef struct {
  EmberPortalId client;
  gsize len;
  guint8 data[];
} DnsPacket;

struct _EmberGatewayTunnel {
  EmberTunnelNode *node;
  EmberGatewayPolicy *policy;
  gint64 wall_offset;          /* wall clock (Unix µs) minus `now` */
  EmberAddr iface[2];          /* our tunnel addresses (init): never host candidates */
  guint n_iface;
  GQueue portal_out;           /* EmberPortalMessage* */
  GQueue events;               /* EmberGatewayTunnelEvent* */
  EmberDnsTranslator *dns;     /* proxy addresses of dns resources (docs/dns.md) */
  GQueue dns_to_network;       /* DnsPacket*: released, translated, checked */
  GQueue dns_to_client;        /* DnsPacket*: ICMP unreachable */
  EmberGatewayTunnelStats stats;
};

static EmberPortalMessage *
new_message (EmberPortalEvent event)
{
  EmberPortalMessage *msg = g_new0 (EmberPortalMessage, 1);

  ember_portal_message_init (msg, event, EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  return msg;
}

static void
push_event (EmberGatewayTunnel *t, EmberGatewayTunnelEventType type, const char *client_id,
            const char *reason)
{
  EmberGatewayTunnelEvent *ev = g_new0 (EmberGatewayTunnelEvent, 1);

  ev->type = type;
  if (client_id)
    g_strlcpy (ev->client_id.str, client_id, sizeof ev->client_id.str);
  ev->reason = reason;
  g_queue_push_tail (&t->events, ev);
}

static EmberGatewayClient *
client_of (EmberTunnelConn *conn)
{
  return conn ? ember_tunnel_conn_get_user_data (conn) : NULL;
}

/* ---- what the policy and the node reported ----------------------------- */

static void
sync_policy (EmberGatewayTunnel *t)
{
  EmberGatewayEvent ev;

  while (ember_gateway_policy_poll_event (t->policy, &ev))
    {
      switch (ev.type)
        {
        case EMBER_GATEWAY_EVENT_AUTHORIZATION_CREATED:
          {
            EmberGatewayClient *c = ember_gateway_policy_find_client (t->policy, ev.client_id);
            EmberPortalMessage *msg;

            /* Only what still stands is answered (undone just now: no). */
            if (!c || !ember_gateway_client_is_authorized (c, ev.resource_id))
              break;
            msg = new_message (EMBER_PORTAL_EVENT_FLOW_AUTHORIZED);

            msg->u.flow_authorized.ref = g_steal_pointer (&ev.ref);
            g_queue_push_tail (&t->portal_out, msg);
            break;
          }
        case EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED:
          {
            EmberGatewayClient *c = ember_gateway_policy_find_client (t->policy, ev.client_id);
            EmberTunnelConn *conn = ember_tunnel_node_lookup (t->node, ev.client_id);

            /* Authorized again since (a later message in the same
             * batch): it stays. */
            if (c && ember_gateway_client_get_n_authorizations (c) > 0)
              break;
            if (conn)
              ember_tunnel_node_close (t->node, conn);
            ember_gateway_policy_remove_client (t->policy, ev.client_id);
            {
              EmberPortalId id = { 0 };

              g_strlcpy (id.str, ev.client_id, sizeof id.str);
              ember_dns_translator_remove_client (t->dns, &id);
            }
            push_event (t, EMBER_GATEWAY_EVENT_CLIENT_GONE, ev.client_id, ev.reason);
            break;
          }
        case EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED:
        default:
          break;
        }
      ember_gateway_event_clear (&ev);
    }
}

/* The names a client gave proxy addresses (authorize_flow's dns_names). */
static void
dns_names_from_flow (EmberGatewayTunnel *t, gint64 now, const EmberPortalAuthorizeFlow *af)
{
  for (guint i = 0; i < af->n_dns_names; i++)
    {
      const EmberPortalDnsName *dn = &af->dns_names[i];
      GError *error = NULL;

      if (af->resource.type != EMBER_PORTAL_RESOURCE_DNS ||
          !ember_dns_translator_add_name (t->dns, now, &af->client.id, &af->resource.id,
                                          af->resource.dns_pattern, dn->name, &dn->ipv4,
                                          &dn->ipv6, &error))
        {
          g_warning ("client %s, resource %s: dns_names[%u]: %s", af->client.id.str,
                     af->resource.id.str, i, error ? error->message : "not a dns resource");
          g_clear_error (&error);
          t->stats.portal_errors++;
        }
    }
}

/* The real addresses the translator knows for the resource's names, to
 * the policy (also after an authorization that re-created the policy's
 * entry for the resource, which starts empty). */
static void
dns_resolved_to_policy (EmberGatewayTunnel *t, gint64 now, const EmberPortalId *resource)
{
  g_autoptr (GArray) cidrs = ember_dns_translator_resource_addresses (t->dns, resource);
  GError *error = NULL;

  if (!ember_gateway_policy_set_resolved_addresses (t->policy, now, resource->str,
                                                    (const EmberCidr *) (void *) cidrs->data,
                                                    cidrs->len, &error))
    {
      g_debug ("resource %s: resolved addresses: %s", resource->str, error->message);
      g_clear_error (&error);
    }
}

static void
dns_queue (GQueue *q, const EmberPortalId *client, const guint8 *data, gsize len)
{
  DnsPacket *p = g_malloc (sizeof *p + len);

  p->client = *client;
  p->len = len;
  memcpy (p->data, data, len);
  g_queue_push_tail (q, p);
}

/* The translator's news: resolved addresses to the policy, released
 * packets through the policy to the network, ICMP to the clients. */
static void
sync_dns (EmberGatewayTunnel *t, gint64 now)
{
  EmberDnsNatEvent ev;
  EmberDnsNatOutput out;
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  gsize n;

  while (ember_dns_translator_poll_event (t->dns, &ev))
    dns_resolved_to_policy (t, now, &ev.resource);
  while ((n = ember_dns_translator_poll_output (t->dns, buf + EMBER_PACKET_HEADROOM,
                                                sizeof buf - EMBER_PACKET_HEADROOM, &out)) > 0)
    {
      EmberGatewayClient *c = ember_gateway_policy_find_client (t->policy, out.client.str);
      EmberIpPacket pkt;

      if (!c)
        continue;
      if (out.kind == EMBER_DNS_NAT_OUT_CLIENT)
        {
          dns_queue (&t->dns_to_client, &out.client, buf + EMBER_PACKET_HEADROOM, n);
          continue;
        }
      if (ember_ip_packet_parse (&pkt, buf, sizeof buf, EMBER_PACKET_HEADROOM, n) !=
            EMBER_PACKET_OK ||
          ember_gateway_policy_from_client (t->policy, now, c, &pkt, NULL) !=
            EMBER_GATEWAY_VERDICT_FORWARD)
        {
          t->stats.refused_from_clients++;
          continue;
        }
      t->stats.to_network++;
      dns_queue (&t->dns_to_network, &out.client, buf + EMBER_PACKET_HEADROOM, n);
    }
}

static void
signal_candidate (EmberGatewayTunnel *t, const EmberTunnelNodeEvent *ev, gboolean invalidate)
{
  EmberPortalMessage *msg =
    new_message (invalidate ? EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES
                            : EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES);
  EmberPortalIceBroadcast *b = &msg->u.ice_broadcast;

  b->n_peer_ids = 1;
  b->peer_ids = g_new0 (EmberPortalId, 1);
  g_strlcpy (b->peer_ids[0].str, ev->peer_id, sizeof b->peer_ids[0].str);
  b->n_candidates = 1;
  b->candidates = g_new (EmberIceCandidate, 1);
  b->candidates[0] = ev->candidate;
  g_queue_push_tail (&t->portal_out, msg);
}

static void
sync_node (EmberGatewayTunnel *t)
{
  EmberTunnelNodeEvent ev;

  while (ember_tunnel_node_poll_event (t->node, &ev))
    switch (ev.type)
      {
      case EMBER_TUNNEL_NODE_EVENT_CANDIDATE:
        signal_candidate (t, &ev, FALSE);
        break;
      case EMBER_TUNNEL_NODE_EVENT_INVALIDATE_CANDIDATE:
        signal_candidate (t, &ev, TRUE);
        break;
      case EMBER_TUNNEL_NODE_EVENT_STATE:
        {
          EmberTunnelConn *conn = ember_tunnel_node_lookup (t->node, ev.peer_id);

          /* A failed connection waits: the client restarts it (rules,
           * docs/tunnel.md). */
          if (conn && ember_tunnel_conn_get_generation (conn) == ev.generation &&
              ev.state == EMBER_TUNNEL_CONN_UP)
            push_event (t, EMBER_GATEWAY_EVENT_CLIENT_UP, ev.peer_id, NULL);
          break;
        }
      default:
        break;
      }
}

/* ---- portal messages ------------------------------------------------------ */

static gint64
wall_now (const EmberGatewayTunnel *t, gint64 now)
{
  return now + t->wall_offset;
}

static void
refused (EmberGatewayTunnel *t, const char *what, GError *error)
{
  t->stats.portal_errors++;
  g_warning ("gateway: %s refused: %s", what, error ? error->message : "invalid");
  g_clear_error (&error);
}

/* The connection for an authorize_flow: node_connect() decides — the
 * same ICE credentials, key and PSK on a connection that has not failed
 * keep it, anything else restarts it on the flow's credentials
 * (docs/tunnel.md, rule 2). The gateway judges nothing by its own view of
 * the connection's health, so it cannot decide differently from the
 * client after a lost message. */
static void
connect_client (EmberGatewayTunnel *t, gint64 now, const EmberPortalAuthorizeFlow *f)
{
  EmberGatewayClient *c = ember_gateway_policy_find_client (t->policy, f->client.id.str);
  EmberTunnelConnConfig cfg = { .has_preshared_key = TRUE };
  EmberTunnelConn *conn;
  GError *error = NULL;

  if (!c)
    return;
  g_strlcpy (cfg.peer_id, f->client.id.str, sizeof cfg.peer_id);
  memcpy (cfg.public_key, f->client.public_key.bytes, sizeof cfg.public_key);
  memcpy (cfg.preshared_key, f->preshared_key.bytes, sizeof cfg.preshared_key);
  g_strlcpy (cfg.local_ufrag, f->gateway_ice.ufrag, sizeof cfg.local_ufrag);
  g_strlcpy (cfg.local_pwd, f->gateway_ice.pwd, sizeof cfg.local_pwd);
  g_strlcpy (cfg.remote_ufrag, f->client_ice.ufrag, sizeof cfg.remote_ufrag);
  g_strlcpy (cfg.remote_pwd, f->client_ice.pwd, sizeof cfg.remote_pwd);
  conn = ember_tunnel_node_connect (t->node, now, &cfg, &error);
  explicit_bzero (cfg.preshared_key, sizeof cfg.preshared_key);
  if (!conn)
    {
      /* A key the engine refuses (low-order, ours, another client's):
       * the authorization is undone and goes unanswered, so the portal
       * never tells the client to connect to something that cannot be. */
      ember_gateway_policy_reject (t->policy, now, f->client.id.str, f->resource.id.str, NULL);
      refused (t, "authorize_flow (connection)", error);
      return;
    }
  ember_tunnel_conn_set_user_data (conn, c);
  ember_gateway_client_set_user_data (c, conn);
}

static void
relays_from_portal (EmberGatewayTunnel *t, gint64 now, const EmberPortalId *gone, guint n_gone,
                    const EmberPortalRelay *relays, guint n, gboolean replace_all)
{
  g_autofree EmberTunnelRelay *specs = g_new0 (EmberTunnelRelay, MAX (n, 1u) * 2);
  g_autofree char **ids = g_new0 (char *, MAX (n_gone, 1u) * 2);
  g_autofree char *id6 = g_new0 (char, (gsize) MAX (n_gone, 1u) * (EMBER_PORTAL_ID_LEN + 3));
  guint k = 0, m = 0;

  /* One node relay per address family, "/6" marking the IPv6 one, as the
   * client tunnel does. */
  for (guint i = 0; i < n; i++)
    {
      const EmberAddr *fam[2] = { &relays[i].ipv4, &relays[i].ipv6 };

      for (guint f = 0; f < 2; f++)
        {
          EmberTunnelRelay *s;

          if (fam[f]->family == EMBER_ADDR_NONE)
            continue;
          s = &specs[k++];
          g_snprintf (s->id, sizeof s->id, "%s%s", relays[i].id.str, f == 0 ? "" : "/6");
          s->addr = *fam[f];
          g_strlcpy (s->username, relays[i].username ? relays[i].username : "",
                     sizeof s->username);
          g_strlcpy (s->password, relays[i].password ? relays[i].password : "",
                     sizeof s->password);
        }
    }
  for (guint i = 0; i < n_gone; i++)
    {
      char *s = id6 + (gsize) i * (EMBER_PORTAL_ID_LEN + 3);

      ids[m++] = (char *) gone[i].str;
      g_snprintf (s, EMBER_PORTAL_ID_LEN + 3, "%s/6", gone[i].str);
      ids[m++] = s;
    }
  ember_tunnel_node_update_relays (t->node, now, (const char *const *) ids, m, specs, k,
                                   replace_all);
  explicit_bzero (specs, sizeof *specs * MAX (n, 1u) * 2);
}

static void
candidates_to_conn (EmberGatewayTunnel *t, gint64 now, const EmberPortalIceCandidates *c,
                    gboolean invalidate)
{
  EmberTunnelConn *conn = ember_tunnel_node_lookup (t->node, c->peer_id.str);

  if (!conn)
    return;
  for (guint i = 0; i < c->n_candidates; i++)
    {
      if (invalidate)
        ember_tunnel_conn_invalidate_remote_candidate (t->node, conn, now, &c->candidates[i]);
      else
        ember_tunnel_conn_add_remote_candidate (t->node, conn, now, &c->candidates[i], NULL);
    }
}

void
ember_gateway_tunnel_handle_portal (EmberGatewayTunnel *t, gint64 now,
                                    const EmberPortalMessage *msg)
{
  GError *error = NULL;

  g_return_if_fail (t && msg);
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_GATEWAY_INIT:
      {
        const EmberPortalGatewayInit *init = &msg->u.gateway_init;

        t->n_iface = 0;
        if (init->iface.ipv4.family != EMBER_ADDR_NONE)
          t->iface[t->n_iface++] = init->iface.ipv4;
        if (init->iface.ipv6.family != EMBER_ADDR_NONE)
          t->iface[t->n_iface++] = init->iface.ipv6;
        ember_gateway_policy_set_own_addresses (t->policy, &init->iface.ipv4, &init->iface.ipv6);
        relays_from_portal (t, now, NULL, 0, init->relays, init->n_relays, TRUE);
        if (!ember_gateway_policy_apply_init (t->policy, now, wall_now (t, now), init, &error))
          refused (t, "init", error);
        for (guint i = 0; i < init->n_authorizations; i++)
          if (init->authorizations[i].resource.type == EMBER_PORTAL_RESOURCE_DNS)
            dns_resolved_to_policy (t, now, &init->authorizations[i].resource.id);
        break;
      }
    case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
      if (ember_gateway_policy_authorize_flow (t->policy, now, wall_now (t, now),
                                               &msg->u.authorize_flow, &error))
        {
          dns_names_from_flow (t, now, &msg->u.authorize_flow);
          if (msg->u.authorize_flow.resource.type == EMBER_PORTAL_RESOURCE_DNS)
            dns_resolved_to_policy (t, now, &msg->u.authorize_flow.resource.id);
          connect_client (t, now, &msg->u.authorize_flow);
        }
      else
        refused (t, "authorize_flow", error);
      break;
    case EMBER_PORTAL_EVENT_ICE_CANDIDATES:
      candidates_to_conn (t, now, &msg->u.ice_candidates, FALSE);
      break;
    case EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES:
      candidates_to_conn (t, now, &msg->u.ice_candidates, TRUE);
      break;
    case EMBER_PORTAL_EVENT_REJECT_ACCESS:
      /* Already gone (expired, an earlier reject) is not an error here:
       * the portal and the gateway race on expiry. */
      if (!ember_gateway_policy_reject_access (t->policy, now, &msg->u.reject_access, &error))
        g_clear_error (&error);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
      if (!ember_gateway_policy_resource_updated (t->policy, now, &msg->u.resource, &error))
        refused (t, "resource_updated", error);
      break;
    case EMBER_PORTAL_EVENT_RELAYS_PRESENCE:
      relays_from_portal (t, now, msg->u.relays_presence.disconnected_ids,
                          msg->u.relays_presence.n_disconnected_ids,
                          msg->u.relays_presence.connected, msg->u.relays_presence.n_connected,
                          FALSE);
      break;
    case EMBER_PORTAL_EVENT_DISCONNECT:
      {
        EmberGatewayTunnelEvent *ev = g_new0 (EmberGatewayTunnelEvent, 1);

        ev->type = EMBER_GATEWAY_EVENT_DISCONNECTED;
        ev->disconnect = msg->u.disconnect.reason;
        g_queue_push_tail (&t->events, ev);
        break;
      }
    default:
      break;
    }
  /* authorization_created before the candidates of a connection it
   * started (docs/tunnel.md, rule 4). */
  sync_policy (t);
  sync_node (t);
}

gboolean
ember_gateway_tunnel_poll_portal (EmberGatewayTunnel *t, EmberPortalMessage *out)
{
  EmberPortalMessage *msg;

  sync_policy (t);
  sync_node (t);
  msg = g_queue_pop_head (&t->portal_out);
  if (!msg)
    return FALSE;
  *out = *msg;
  g_free (msg);
  return TRUE;
}

static void
fail_conn (EmberTunnelConn *conn, gpointer user_data)
{
  gpointer *args = user_data;

  if (ember_tunnel_conn_get_state (conn) != EMBER_TUNNEL_CONN_FAILED)
    ember_tunnel_node_fail (args[0], conn, *(gint64 *) args[1], "host addresses changed");
}

void
ember_gateway_tunnel_set_host_addresses (EmberGatewayTunnel *t, gint64 now,
                                         const EmberAddr *addrs, guint n)
{
  gpointer args[2] = { t->node, &now };

  /* A gateway that moved withdraws its candidates: the clients restart
   * (docs/tunnel.md, rules 3 and 5). */
  if (ember_tunnel_node_set_host_addresses (t->node, addrs, n, t->iface, t->n_iface))
    ember_tunnel_node_foreach (t->node, fail_conn, args);
  sync_node (t);
}

/* ---- packets ---------------------------------------------------------------- */

EmberGatewayResult
ember_gateway_tunnel_handle_datagram (EmberGatewayTunnel *t, gint64 now, const EmberAddr *local,
                                      const EmberAddr *remote, guint8 *buf, gsize *off,
                                      gsize *len)
{
  EmberTunnelConn *conn = NULL;
  EmberGatewayClient *c;
  EmberIpPacket pkt;

  switch (ember_tunnel_node_handle_input (t->node, now, local, remote, buf, off, len, &conn))
    {
    case EMBER_TUNNEL_PACKET:
      break;
    case EMBER_TUNNEL_DONE:
      return EMBER_GATEWAY_DONE;
    case EMBER_TUNNEL_DROPPED:
    default:
      t->stats.dropped++;
      return EMBER_GATEWAY_DROPPED;
    }
  c = client_of (conn);
  if (!c || ember_ip_packet_parse (&pkt, buf, *off + *len, *off, *len) != EMBER_PACKET_OK)
    {
      t->stats.dropped++;
      return EMBER_GATEWAY_DROPPED;
    }
  /* A proxy address of a dns resource becomes the real one before the
   * policy looks at the destination. */
  {
    EmberPortalId id = { 0 };

    g_strlcpy (id.str, ember_gateway_client_get_id (c), sizeof id.str);
    switch (ember_dns_translator_from_client (t->dns, now, &id, &pkt))
      {
      case EMBER_DNS_NAT_HELD:
        return EMBER_GATEWAY_DONE;
      case EMBER_DNS_NAT_UNREACHABLE:
        t->stats.refused_from_clients++;
        return EMBER_GATEWAY_REFUSED;
      case EMBER_DNS_NAT_DROPPED:
        t->stats.dropped++;
        return EMBER_GATEWAY_DROPPED;
      case EMBER_DNS_NAT_PASS:
      case EMBER_DNS_NAT_TRANSLATED:
      default:
        break;
      }
  }
  if (ember_gateway_policy_from_client (t->policy, now, c, &pkt, NULL) !=
      EMBER_GATEWAY_VERDICT_FORWARD)
    {
      t->stats.refused_from_clients++;
      return EMBER_GATEWAY_REFUSED;
    }
  t->stats.to_network++;
  return EMBER_GATEWAY_TO_NETWORK;
}

EmberGatewayResult
ember_gateway_tunnel_handle_tun (EmberGatewayTunnel *t, gint64 now, guint8 *buf, gsize cap,
                                 gsize *off, gsize *len, EmberTunnelTransmit *tx)
{
  EmberGatewayClient *c = NULL;
  EmberTunnelConn *conn;
  EmberIpPacket pkt;

  if (*off > cap || *len > cap - *off ||
      ember_ip_packet_parse (&pkt, buf, cap, *off, *len) != EMBER_PACKET_OK)
    {
      t->stats.dropped++;
      return EMBER_GATEWAY_DROPPED;
    }
  if (ember_gateway_policy_from_network (t->policy, now, &pkt, &c, NULL) !=
      EMBER_GATEWAY_VERDICT_FORWARD)
    {
      t->stats.refused_from_network++;
      return EMBER_GATEWAY_REFUSED;
    }
  /* A reply of a translated flow leaves from the proxy address. */
  ember_dns_translator_to_client (t->dns, now, &pkt);
  conn = ember_gateway_client_get_user_data (c);
  if (!conn)
    {
      t->stats.not_ready++;
      return EMBER_GATEWAY_NOT_READY;
    }
  switch (ember_tunnel_node_encapsulate (t->node, conn, now, buf, cap, off, len, tx))
    {
    case EMBER_TUNNEL_DATAGRAM:
      t->stats.to_clients++;
      return EMBER_GATEWAY_DATAGRAM;
    case EMBER_TUNNEL_NOT_READY:
      t->stats.not_ready++;
      return EMBER_GATEWAY_NOT_READY;
    default:
      t->stats.dropped++;
      return EMBER_GATEWAY_DROPPED;
    }
}

void
ember_gateway_tunnel_handle_timeout (EmberGatewayTunnel *t, gint64 now)
{
  ember_tunnel_node_handle_timeout (t->node, now);
  ember_gateway_policy_handle_timeout (t->policy, now);
  ember_dns_translator_handle_timeout (t->dns, now);
  sync_policy (t);
  sync_node (t);
  sync_dns (t, now);
}

gsize
ember_gateway_tunnel_poll_network (EmberGatewayTunnel *t, gint64 now, guint8 *buf, gsize cap)
{
  DnsPacket *p;
  gsize n;

  sync_dns (t, now);
  while ((p = g_queue_pop_head (&t->dns_to_network)))
    {
      n = p->len;
      if (n <= cap)
        memcpy (buf, p->data, n);
      g_free (p);
      if (n <= cap)
        return n;
      t->stats.dropped++;
    }
  return 0;
}

EmberDnsTranslator *
ember_gateway_tunnel_get_translator (EmberGatewayTunnel *t)
{
  return t->dns;
}

gboolean
ember_gateway_tunnel_poll_transmit (EmberGatewayTunnel *t, gint64 now, guint8 *buf, gsize cap,
                                    EmberTunnelTransmit *tx)
{
  EmberGatewayClient *c;
  gsize n;

  sync_policy (t);
  sync_node (t);
  if (ember_tunnel_node_poll_transmit (t->node, now, buf, cap, tx))
    return TRUE;
  if (cap < EMBER_WG_HEADROOM + EMBER_PACKET_MTU + EMBER_WG_TAILROOM)
    return FALSE;
  /* ICMP unreachable for proxy addresses without a real address. */
  sync_dns (t, now);
  {
    DnsPacket *p;

    while ((p = g_queue_pop_head (&t->dns_to_client)))
      {
        EmberGatewayClient *dc = ember_gateway_policy_find_client (t->policy, p->client.str);
        EmberTunnelConn *conn = dc ? ember_gateway_client_get_user_data (dc) : NULL;
        gsize off = EMBER_WG_HEADROOM, len = p->len;

        if (conn && len <= EMBER_PACKET_MTU)
          {
            memcpy (buf + off, p->data, len);
            g_free (p);
            if (ember_tunnel_node_encapsulate (t->node, conn, now, buf, cap, &off, &len, tx) ==
                EMBER_TUNNEL_DATAGRAM)
              {
                if (off != 0)
                  memmove (buf, buf + off, len);
                tx->len = len;
                return TRUE;
              }
            t->stats.dropped++;
            continue;
          }
        g_free (p);
        t->stats.dropped++;
      }
  }
  /* ICMP prohibited answers, to the clients whose packets were refused. */
  while ((n = ember_gateway_policy_poll_packet_to_client (
            t->policy, buf + EMBER_WG_HEADROOM, cap - EMBER_WG_HEADROOM - EMBER_WG_TAILROOM,
            &c)) > 0)
    {
      EmberTunnelConn *conn = ember_gateway_client_get_user_data (c);
      gsize off = EMBER_WG_HEADROOM, len = n;

      if (conn &&
          ember_tunnel_node_encapsulate (t->node, conn, now, buf, cap, &off, &len, tx) ==
            EMBER_TUNNEL_DATAGRAM)
        {
          if (off != 0)
            memmove (buf, buf + off, len);
          tx->len = len;
          return TRUE;
        }
      /* No session to carry it (the connection is not up yet). */
      t->stats.dropped++;
    }
  return FALSE;
}

gboolean
ember_gateway_tunnel_poll_event (EmberGatewayTunnel *t, EmberGatewayTunnelEvent *ev)
{
  EmberGatewayTunnelEvent *head;

  sync_policy (t);
  sync_node (t);
  head = g_queue_pop_head (&t->events);
  if (!head)
    return FALSE;
  *ev = *head;
  g_free (head);
  return TRUE;
}

gint64
ember_gateway_tunnel_poll_timeout (EmberGatewayTunnel *t)
{
  return MIN (MIN (ember_tunnel_node_poll_timeout (t->node),
                   ember_gateway_policy_poll_timeout (t->policy)),
              ember_dns_translator_poll_timeout (t->dns));
}

/* ---- life and status ------------------------------------------------------ */

EmberGatewayTunnel *
ember_gateway_tunnel_new (const EmberGatewayTunnelConfig *config, gint64 now, GError **error)
{
  EmberTunnelNodeConfig nc = {
    .wg = config->wg, .role = EMBER_ICE_ROLE_CONTROLLED, .rng = config->rng,
    .wall_us = config->wall_us,
  };
  EmberGatewayTunnel *t;
  EmberTunnelNode *node;

  memcpy (nc.private_key, config->private_key, sizeof nc.private_key);
  node = ember_tunnel_node_new (&nc, now, error);
  explicit_bzero (nc.private_key, sizeof nc.private_key);
  if (!node)
    return NULL;
  t = g_new0 (EmberGatewayTunnel, 1);
  t->node = node;
  t->policy = ember_gateway_policy_new ();
  t->dns = ember_dns_translator_new (&config->rng);
  t->wall_offset = config->wall_us - now;
  g_queue_init (&t->portal_out);
  g_queue_init (&t->events);
  return t;
}

static void
message_free (gpointer p)
{
  ember_portal_message_clear (p);
  g_free (p);
}

void
ember_gateway_tunnel_free (EmberGatewayTunnel *t)
{
  if (!t)
    return;
  ember_tunnel_node_free (t->node);
  ember_gateway_policy_free (t->policy);
  ember_dns_translator_free (t->dns);
  g_queue_clear_full (&t->dns_to_network, g_free);
  g_queue_clear_full (&t->dns_to_client, g_free);
  g_queue_clear_full (&t->portal_out, message_free);
  g_queue_clear_full (&t->events, g_free);
  g_free (t);
}

EmberTunnelNode *
ember_gateway_tunnel_get_node (EmberGatewayTunnel *t)
{
  return t->node;
}

EmberGatewayPolicy *
ember_gateway_tunnel_get_policy (EmberGatewayTunnel *t)
{
  return t->policy;
}

void
ember_gateway_tunnel_set_wall_clock (EmberGatewayTunnel *t, gint64 now, gint64 wall_us)
{
  t->wall_offset = wall_us - now;
  ember_tunnel_node_set_wall_clock (t->node, now, wall_us);
}

void
ember_gateway_tunnel_get_stats (const EmberGatewayTunnel *t, EmberGatewayTunnelStats *stats)
{
  *stats = t->stats;
}

gboolean
ember_gateway_tunnel_client_up (EmberGatewayTunnel *t, const char *client_id)
{
  EmberTunnelConn *conn = ember_tunnel_node_lookup (t->node, client_id);

  return conn && ember_tunnel_conn_get_state (conn) == EMBER_TUNNEL_CONN_UP;
}

const char *
ember_gateway_result_to_string (EmberGatewayResult result)
{
  switch (result)
    {
    case EMBER_GATEWAY_TO_NETWORK:
      return "to network";
    case EMBER_GATEWAY_DATAGRAM:
      return "datagram";
    case EMBER_GATEWAY_DONE:
      return "done";
    case EMBER_GATEWAY_REFUSED:
      return "refused";
    case EMBER_GATEWAY_NOT_READY:
      return "not ready";
    case EMBER_GATEWAY_DROPPED:
      return "dropped";
    default:
      return "unknown";
    }
}
