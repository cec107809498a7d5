/* tunnel/client — resources, authorizations, held packets and the packet
 * path of the client tunnel. See client.h and docs/tunnel.md. */
#define G_LOG_DOMAIN "ember-tunnel"

#include "tunnel/client.h"
#include "net/prefix-table.h"
#include "net/token-bucket.h"
#include "packet/packet.h"

#include <string.h>

typedef struct {
  gint64 at;
  guint16 len;
  guint8 data[EMBER_PACKET_MTU];
} HeldPacket;

/* A name of a dns resource with its proxy addresses (the DNS stub's), told
 * to the gateway in request_authorization's dns_names. */
typedef struct {
  char *name;
  EmberAddr addr4, addr6;    /* family NONE when the resource lacks it */
  guint32 sent_seq;          /* the first request that carried it; 0: none yet */
} ProxyName;

typedef struct {
  EmberPortalId id;
  EmberPortalResourceType type;
  EmberCidr cidr;            /* type cidr */
  EmberPortalId site;
  gboolean routed;           /* its prefixes are in the table */
  EmberClientAuthzState authz;
  EmberPortalId gateway;     /* AUTHORIZED */
  EmberTunnelConn *conn;     /* its connection, cached (NULL: look it up) */
  gint64 expires;            /* AUTHORIZED, in `now`'s clock */
  gint64 requested_at;       /* REQUESTED, or a renewal in flight */
  gint64 authorized_at;      /* AUTHORIZED */
  gint64 renew_at;           /* AUTHORIZED: ask again then if in use */
  gboolean renewing;
  gint64 denied_until;       /* DENIED */
  EmberIcmpUnreachable denied_why;
  HeldPacket *held;          /* EMBER_CLIENT_HOLD_MAX, allocated on first use */
  guint held_head, held_len;
  gint64 last_used;
  GPtrArray *names;          /* ProxyName*, type dns */
  guint32 req_seq;           /* requests sent */
  guint32 answered_seq;      /* requests answered (or given up on) */
} Resource;

/* Per gateway connection (the node conn's user data). */
typedef struct {
  EmberPortalId id;
  EmberAddr tunnel4, tunnel6;  /* its tunnel addresses: ICMP it sends comes from them */
  gint64 restart_at;           /* FAILED: ask again then; else G_MAXINT64 */
  gint64 unused_since;         /* no authorized resource: 0 while used */
} Gateway;

typedef struct {
  guint16 len;
  guint8 data[EMBER_PACKET_MTU];
} TunPacket;

struct _EmberClientTunnel {
  EmberTunnelNode *node;
  gint64 wall_offset;          /* wall µs - now */
  GHashTable *resources;       /* id string -> Resource* */
  EmberPrefixTable *table;     /* cidr -> Resource* */
  Resource *internet;          /* the internet resource, if announced */
  gboolean internet_enabled;
  GHashTable *proxies;         /* EmberAddr* (owned) -> Resource* */
  EmberAddr iface4, iface6;
  EmberAddr hosts[EMBER_TUNNEL_MAX_HOST_ADDRS];
  guint n_hosts;
  GQueue portal_out;           /* EmberPortalMessage* */
  GQueue events;               /* EmberClientEvent* */
  TunPacket icmp[EMBER_CLIENT_ICMP_QUEUE];
  guint icmp_head, icmp_len;
  EmberTokenBucket icmp_bucket;  /* EMBER_CLIENT_ICMP_RATE per second */
  gboolean flush_pending;
  EmberClientStats stats;
};

/* ---- small helpers ----------------------------------------------------- */

static gboolean
id_equal (const EmberPortalId *a, const EmberPortalId *b)
{
  return strcmp (a->str, b->str) == 0;
}

static void
push_event (EmberClientTunnel *t, const EmberClientEvent *ev)
{
  g_queue_push_tail (&t->events, g_memdup2 (ev, sizeof *ev));
}

static void
route_event (EmberClientTunnel *t, EmberClientEventType type, const EmberCidr *cidr)
{
  EmberClientEvent ev = { .type = type, .cidr = *cidr };
  push_event (t, &ev);
}

static EmberPortalMessage *
new_message (EmberPortalEvent event)
{
  EmberPortalMessage *msg = g_new0 (EmberPortalMessage, 1);
  ember_portal_message_init (msg, event, EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  return msg;
}

static Gateway *
gateway_of (EmberTunnelConn *conn)
{
  return conn != NULL ? ember_tunnel_conn_get_user_data (conn) : NULL;
}

static gint64
unix_to_now (const EmberClientTunnel *t, gint64 unix_s)
{
  if (unix_s > G_MAXINT64 / G_TIME_SPAN_SECOND)
    return G_MAXINT64;
  return unix_s * G_TIME_SPAN_SECOND - t->wall_offset;
}

static void
internet_cidrs (EmberCidr out[2])
{
  static const guint8 zero[16] = { 0 };
  ember_cidr_init (&out[0], EMBER_ADDR_IPV4, zero, 0);
  ember_cidr_init (&out[1], EMBER_ADDR_IPV6, zero, 0);
}

/* ---- ICMP to the TUN ------------------------------------------------------- */

static void
refuse (EmberClientTunnel *t, gint64 now, guint8 *buf, gsize cap, gsize off, gsize len,
        EmberIcmpUnreachable why)
{
  t->stats.tun_refused++;
  if (!ember_token_bucket_ready (&t->icmp_bucket, now) || t->icmp_len == EMBER_CLIENT_ICMP_QUEUE)
    {
      t->stats.icmp_suppressed++;
      return;
    }
  EmberIpPacket pkt, out;
  if (ember_ip_packet_parse (&pkt, buf, cap, off, len) != EMBER_PACKET_OK)
    return;
  /* The answer comes "from" the address the application tried to reach,
   * as a router on the path would send it; the kernel matches it to the
   * socket by the quoted header. */
  EmberAddr src;
  ember_ip_packet_get_destination (&pkt, &src);
  TunPacket *slot = &t->icmp[(t->icmp_head + t->icmp_len) % EMBER_CLIENT_ICMP_QUEUE];
  guint8 scratch[EMBER_PACKET_BUF_SIZE];
  if (ember_ip_packet_build_icmp_unreachable (&out, scratch, sizeof scratch, 0, &pkt, &src, why)
      != EMBER_PACKET_OK)
    return;  /* e.g. never answer an ICMP error with one */
  slot->len = (guint16) ember_ip_packet_len (&out);
  memcpy (slot->data, ember_ip_packet_data (&out), slot->len);
  t->icmp_len++;
  ember_token_bucket_spend (&t->icmp_bucket);
  t->stats.icmp_sent++;
}

/* ---- held packets ----------------------------------------------------------- */

static void
hold (EmberClientTunnel *t, Resource *r, gint64 now, const guint8 *data, gsize len)
{
  if (r->held == NULL)
    r->held = g_new (HeldPacket, EMBER_CLIENT_HOLD_MAX);
  if (r->held_len == EMBER_CLIENT_HOLD_MAX)
    {
      r->held_head = (r->held_head + 1) % EMBER_CLIENT_HOLD_MAX;
      r->held_len--;
      t->stats.held_dropped++;
    }
  HeldPacket *h = &r->held[(r->held_head + r->held_len++) % EMBER_CLIENT_HOLD_MAX];
  h->at = now;
  h->len = (guint16) len;
  memcpy (h->data, data, len);
  t->stats.held++;
}

static HeldPacket *
held_peek (Resource *r)
{
  return r->held_len > 0 ? &r->held[r->held_head] : NULL;
}

static void
held_pop (Resource *r)
{
  r->held_head = (r->held_head + 1) % EMBER_CLIENT_HOLD_MAX;
  r->held_len--;
}

/* The held packets of a refused resource get their ICMP answers now. */
static void
refuse_held (EmberClientTunnel *t, Resource *r, gint64 now)
{
  HeldPacket *h;
  while ((h = held_peek (r)) != NULL)
    {
      refuse (t, now, h->data, sizeof h->data, 0, h->len, r->denied_why);
      held_pop (r);
      t->stats.held_dropped++;
    }
}

static void
drop_held (EmberClientTunnel *t, Resource *r)
{
  t->stats.held_dropped += r->held_len;
  r->held_len = 0;
}

/* ---- resources ---------------------------------------------------------------- */

static void
unroute (EmberClientTunnel *t, Resource *r)
{
  if (!r->routed)
    return;
  r->routed = FALSE;
  if (r->type == EMBER_PORTAL_RESOURCE_CIDR)
    {
      ember_prefix_table_remove (t->table, &r->cidr);
      route_event (t, EMBER_CLIENT_EVENT_ROUTE_REMOVE, &r->cidr);
    }
  else if (r->type == EMBER_PORTAL_RESOURCE_INTERNET)
    {
      EmberCidr all[2];
      internet_cidrs (all);
      for (guint i = 0; i < 2; i++)
        {
          ember_prefix_table_remove (t->table, &all[i]);
          route_event (t, EMBER_CLIENT_EVENT_ROUTE_REMOVE, &all[i]);
        }
    }
}

static void
route (EmberClientTunnel *t, Resource *r)
{
  if (r->routed)
    return;
  if (r->type == EMBER_PORTAL_RESOURCE_CIDR)
    {
      ember_prefix_table_insert (t->table, &r->cidr, r);
      route_event (t, EMBER_CLIENT_EVENT_ROUTE_ADD, &r->cidr);
      r->routed = TRUE;
    }
  else if (r->type == EMBER_PORTAL_RESOURCE_INTERNET && t->internet_enabled)
    {
      EmberCidr all[2];
      internet_cidrs (all);
      for (guint i = 0; i < 2; i++)
        {
          ember_prefix_table_insert (t->table, &all[i], r);
          route_event (t, EMBER_CLIENT_EVENT_ROUTE_ADD, &all[i]);
        }
      r->routed = TRUE;
    }
}

static void
remove_proxies_of (EmberClientTunnel *t, Resource *r)
{
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, t->proxies);
  while (g_hash_table_iter_next (&it, &key, &value))
    if (value == r)
      {
        EmberCidr c;
        const EmberAddr *a = key;
        ember_cidr_init (&c, a->family, a->addr, ember_addr_family_bits (a->family));
        ember_prefix_table_remove (t->table, &c);
        route_event (t, EMBER_CLIENT_EVENT_ROUTE_REMOVE, &c);
        g_hash_table_iter_remove (&it);
      }
}

static void
proxy_name_free (gpointer data)
{
  ProxyName *n = data;
  g_free (n->name);
  g_free (n);
}

static void
resource_free (gpointer data)
{
  Resource *r = data;
  g_free (r->held);
  if (r->names != NULL)
    g_ptr_array_unref (r->names);
  g_free (r);
}

static void
forget_authorization (Resource *r)
{
  r->authz = EMBER_CLIENT_AUTHZ_NONE;
  r->conn = NULL;
  memset (&r->gateway, 0, sizeof r->gateway);
}

static void
upsert_resource (EmberClientTunnel *t, const EmberPortalResource *in)
{
  Resource *r = g_hash_table_lookup (t->resources, in->id.str);
  EmberCidr cidr = { 0 };
  if (in->type == EMBER_PORTAL_RESOURCE_CIDR)
    cidr = in->cidr;
  if (r != NULL)
    {
      gboolean moved = r->type != in->type || !ember_cidr_equal (&r->cidr, &cidr);
      if (!id_equal (&r->site, &in->site.id))
        {
          /* Another site means other gateways: ask again. */
          forget_authorization (r);
          r->site = in->site.id;
        }
      if (!moved)
        return;
      unroute (t, r);
      if (r->type == EMBER_PORTAL_RESOURCE_DNS)
        remove_proxies_of (t, r);
      if (r->names != NULL)
        g_ptr_array_set_size (r->names, 0);
      if (t->internet == r)
        t->internet = NULL;
    }
  else
    {
      r = g_new0 (Resource, 1);
      r->id = in->id;
      r->site = in->site.id;
      g_hash_table_insert (t->resources, r->id.str, r);
    }
  r->type = in->type;
  r->cidr = cidr;
  if (r->type == EMBER_PORTAL_RESOURCE_INTERNET)
    {
      if (t->internet != NULL && t->internet != r)
        unroute (t, t->internet);
      t->internet = r;
    }
  route (t, r);
}

static void
delete_resource (EmberClientTunnel *t, const EmberPortalId *id)
{
  Resource *r = g_hash_table_lookup (t->resources, id->str);
  if (r == NULL)
    return;
  unroute (t, r);
  remove_proxies_of (t, r);
  drop_held (t, r);
  if (t->internet == r)
    t->internet = NULL;
  g_hash_table_remove (t->resources, id->str);
}

/* ---- authorizations ---------------------------------------------------------- */

static void
collect_live (EmberTunnelConn *conn, gpointer user_data)
{
  GArray *ids = user_data;
  Gateway *gw = gateway_of (conn);
  if (gw != NULL && ember_tunnel_conn_get_state (conn) != EMBER_TUNNEL_CONN_FAILED)
    g_array_append_val (ids, gw->id);
}

/* Used lately enough to renew: in the second half of the time before
 * the renewal point (an idle resource lets its authorization lapse). */
static gboolean
in_use (const Resource *r)
{
  return r->last_used >= r->authorized_at + (r->renew_at - r->authorized_at) / 2;
}

static void
send_request (EmberClientTunnel *t, Resource *r, gint64 now)
{
  EmberPortalMessage *msg = new_message (EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION);
  EmberPortalRequestAuthorization *req = &msg->u.request_authorization;
  req->resource_id = r->id;
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (EmberPortalId));
  ember_tunnel_node_foreach (t->node, collect_live, ids);
  req->n_connected_gateway_ids = MIN (ids->len, (guint) EMBER_PORTAL_MAX_PEER_IDS);
  req->connected_gateway_ids = (EmberPortalId *) (void *) g_array_free (ids, FALSE);
  r->req_seq++;
  if (r->names != NULL && r->names->len > 0)
    {
      /* The newest names when there are more than a message holds. */
      guint n = MIN (r->names->len, (guint) EMBER_PORTAL_MAX_DNS_NAMES);
      guint first = r->names->len - n;
      req->dns_names = g_new0 (EmberPortalDnsName, n);
      req->n_dns_names = n;
      for (guint i = 0; i < n; i++)
        {
          ProxyName *pn = g_ptr_array_index (r->names, first + i);
          req->dns_names[i].name = g_strdup (pn->name);
          req->dns_names[i].ipv4 = pn->addr4;
          req->dns_names[i].ipv6 = pn->addr6;
          if (pn->sent_seq == 0)
            pn->sent_seq = r->req_seq;
        }
    }
  g_queue_push_tail (&t->portal_out, msg);
  r->requested_at = now;
  t->stats.requests++;
  g_debug ("resource %s: authorization requested", r->id.str);
}

static void
request (EmberClientTunnel *t, Resource *r, gint64 now)
{
  send_request (t, r, now);
  r->authz = EMBER_CLIENT_AUTHZ_REQUESTED;
  r->renewing = FALSE;
}

static void
authorization_created (EmberClientTunnel *t, gint64 now, const EmberPortalAuthorizationCreated *a)
{
  Resource *r = g_hash_table_lookup (t->resources, a->resource_id.str);
  if (r == NULL)
    return;  /* deleted meanwhile */
  r->authz = EMBER_CLIENT_AUTHZ_AUTHORIZED;
  /* The portal answers a client's requests in order: the oldest
   * unanswered one is answered, and the gateway knows its names. */
  if (r->answered_seq < r->req_seq)
    r->answered_seq++;
  r->gateway = a->gateway.id;
  r->conn = NULL;
  r->expires = unix_to_now (t, a->expires_at);
  r->authorized_at = now;
  /* Renew at 80 % of the lifetime while in use, so a flow never meets
   * the expiry (the gateway would refuse what crosses it). */
  r->renew_at = now + (r->expires - now) / 10 * 8;
  r->renewing = FALSE;

  EmberTunnelConn *conn = ember_tunnel_node_lookup (t->node, a->gateway.id.str);
  Gateway *gw = gateway_of (conn);
  guint generation = conn != NULL ? ember_tunnel_conn_get_generation (conn) : 0;
  EmberTunnelConnConfig cfg = { .has_preshared_key = TRUE };
  g_strlcpy (cfg.peer_id, a->gateway.id.str, sizeof cfg.peer_id);
  memcpy (cfg.public_key, a->gateway.public_key.bytes, EMBER_WG_KEY_SIZE);
  memcpy (cfg.preshared_key, a->preshared_key.bytes, EMBER_WG_KEY_SIZE);
  g_strlcpy (cfg.local_ufrag, a->client_ice.ufrag, sizeof cfg.local_ufrag);
  g_strlcpy (cfg.local_pwd, a->client_ice.pwd, sizeof cfg.local_pwd);
  g_strlcpy (cfg.remote_ufrag, a->gateway_ice.ufrag, sizeof cfg.remote_ufrag);
  g_strlcpy (cfg.remote_pwd, a->gateway_ice.pwd, sizeof cfg.remote_pwd);
  g_autoptr (GError) error = NULL;
  conn = ember_tunnel_node_connect (t->node, now, &cfg, &error);
  explicit_bzero (&cfg, sizeof cfg);
  if (conn == NULL)
    {
      g_warning ("gateway %s: cannot connect: %s", a->gateway.id.str, error->message);
      forget_authorization (r);
      return;
    }
  if (gw == NULL)
    {
      gw = g_new0 (Gateway, 1);
      gw->id = a->gateway.id;
      ember_tunnel_conn_set_user_data (conn, gw);
    }
  gw->tunnel4 = a->gateway.tunnel.ipv4;
  gw->tunnel6 = a->gateway.tunnel.ipv6;
  gw->unused_since = 0;
  if (ember_tunnel_conn_get_generation (conn) != generation)
    gw->restart_at = G_MAXINT64;  /* (re)started: no restart pending */
  else if (ember_tunnel_conn_get_state (conn) == EMBER_TUNNEL_CONN_UP)
    t->flush_pending = TRUE;      /* reused: held packets can go */
}

static EmberIcmpUnreachable
failure_icmp (EmberPortalAuthzFailure why)
{
  /* Offline: no gateway serves it now (a route problem); not found and
   * forbidden: policy says no. */
  return why == EMBER_PORTAL_AUTHZ_OFFLINE ? EMBER_ICMP_UNREACH_NO_ROUTE
                                           : EMBER_ICMP_UNREACH_PROHIBITED;
}

static void
deny (EmberClientTunnel *t, Resource *r, gint64 now, EmberIcmpUnreachable why)
{
  forget_authorization (r);
  r->renewing = FALSE;
  r->authz = EMBER_CLIENT_AUTHZ_DENIED;
  r->denied_until = now + EMBER_CLIENT_DENIED_BACKOFF_US;
  r->denied_why = why;
  refuse_held (t, r, now);
}

/* The packet path asks this for every packet: the connection is cached
 * in the resource (a connection is only freed by the idle close, when no
 * authorized resource points at it any more). */
static EmberTunnelConn *
conn_for (EmberClientTunnel *t, Resource *r)
{
  if (r->authz != EMBER_CLIENT_AUTHZ_AUTHORIZED)
    return NULL;
  if (r->conn == NULL)
    r->conn = ember_tunnel_node_lookup (t->node, r->gateway.str);
  return r->conn;
}

/* A remote candidate inside a resource this client routes into the TUN
 * (a gateway's LAN address, when its LAN is the resource) cannot work:
 * the checks to it would enter the tunnel they are meant to build, and
 * the gateway would refuse them. The internet resource does not count:
 * it routes only traffic without Ember's fwmark, and the node's sockets
 * carry it. */
static gboolean
candidate_in_resource (EmberClientTunnel *t, const EmberIceCandidate *c)
{
  Resource *r = ember_prefix_table_lookup_addr (t->table, &c->addr, NULL);
  if (r == NULL || r == t->internet)
    return FALSE;
  char buf[EMBER_ADDR_PORT_STRLEN];
  g_debug ("remote candidate %s: inside resource %s, which is routed into the tunnel: ignored",
           ember_addr_format_port (&c->addr, buf), r->id.str);
  return TRUE;
}

static void
candidates_to_conn (EmberClientTunnel *t, gint64 now, const EmberPortalIceCandidates *c,
                    gboolean invalidate)
{
  EmberTunnelConn *conn = ember_tunnel_node_lookup (t->node, c->peer_id.str);
  if (conn == NULL)
    return;
  for (guint i = 0; i < c->n_candidates; i++)
    {
      if (invalidate)
        ember_tunnel_conn_invalidate_remote_candidate (t->node, conn, now, &c->candidates[i]);
      else if (!candidate_in_resource (t, &c->candidates[i]))
        ember_tunnel_conn_add_remote_candidate (t->node, conn, now, &c->candidates[i], NULL);
    }
}

static void
relays_from_portal (EmberClientTunnel *t, gint64 now, const EmberPortalId *gone, guint n_gone,
                    const EmberPortalRelay *relays, guint n, gboolean replace_all)
{
  g_autofree EmberTunnelRelay *specs = g_new0 (EmberTunnelRelay, MAX (n, 1u) * 2);
  guint k = 0;
  for (guint i = 0; i < n; i++)
    {
      /* One node relay per address family; ids stay distinct. */
      const EmberAddr *fam[2] = { &relays[i].ipv4, &relays[i].ipv6 };
      for (guint f = 0; f < 2; f++)
        {
          if (fam[f]->family == EMBER_ADDR_NONE)
            continue;
          EmberTunnelRelay *s = &specs[k++];
          g_snprintf (s->id, sizeof s->id, "%s%s", relays[i].id.str, f == 0 ? "" : "/6");
          s->addr = *fam[f];
          g_strlcpy (s->username, relays[i].username != NULL ? relays[i].username : "",
                     sizeof s->username);
          g_strlcpy (s->password, relays[i].password != NULL ? relays[i].password : "",
                     sizeof s->password);
        }
    }
  g_autofree char **ids = g_new0 (char *, MAX (n_gone, 1u) * 2);
  g_autofree char *id6 = g_new0 (char, (gsize) MAX (n_gone, 1u) * (EMBER_PORTAL_ID_LEN + 3));
  guint m = 0;
  for (guint i = 0; i < n_gone; i++)
    {
      ids[m++] = (char *) gone[i].str;
      char *s = id6 + (gsize) i * (EMBER_PORTAL_ID_LEN + 3);
      g_snprintf (s, EMBER_PORTAL_ID_LEN + 3, "%s/6", gone[i].str);
      ids[m++] = s;
    }
  ember_tunnel_node_update_relays (t->node, now, (const char *const *) ids, m, specs, k,
                                   replace_all);
  explicit_bzero (specs, sizeof *specs * MAX (n, 1u) * 2);
}

static void
client_init (EmberClientTunnel *t, gint64 now, const EmberPortalClientInit *init)
{
  t->iface4 = init->iface.ipv4;
  t->iface6 = init->iface.ipv6;
  EmberClientEvent ev = { .type = EMBER_CLIENT_EVENT_INTERFACE, .addr = t->iface4, .addr6 = t->iface6 };
  push_event (t, &ev);
  /* Resources the new list lacks are gone. */
  GHashTableIter it;
  gpointer key, value;
  GPtrArray *gone = g_ptr_array_new ();
  g_hash_table_iter_init (&it, t->resources);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      gboolean keep = FALSE;
      for (guint i = 0; i < init->n_resources && !keep; i++)
        keep = id_equal (&init->resources[i].id, &((Resource *) value)->id);
      if (!keep)
        g_ptr_array_add (gone, value);
    }
  for (guint i = 0; i < gone->len; i++)
    delete_resource (t, &((Resource *) g_ptr_array_index (gone, i))->id);
  g_ptr_array_free (gone, TRUE);
  for (guint i = 0; i < init->n_resources; i++)
    upsert_resource (t, &init->resources[i]);
  relays_from_portal (t, now, NULL, 0, init->relays, init->n_relays, TRUE);
  /* The tunnel's own addresses never become host candidates. */
  if (t->n_hosts > 0)
    ember_client_tunnel_set_host_addresses (t, now, t->hosts, t->n_hosts);
}

void
ember_client_tunnel_handle_portal (EmberClientTunnel *t, gint64 now, const EmberPortalMessage *msg)
{
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_CLIENT_INIT:
      client_init (t, now, &msg->u.client_init);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
      upsert_resource (t, &msg->u.resource);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_DELETED:
      delete_resource (t, &msg->u.resource_deleted.id);
      break;
    case EMBER_PORTAL_EVENT_RELAYS_PRESENCE:
      relays_from_portal (t, now, msg->u.relays_presence.disconnected_ids,
                          msg->u.relays_presence.n_disconnected_ids,
                          msg->u.relays_presence.connected, msg->u.relays_presence.n_connected,
                          FALSE);
      break;
    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED:
      authorization_created (t, now, &msg->u.authorization_created);
      break;
    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED:
      {
        Resource *r = g_hash_table_lookup (t->resources, msg->u.authorization_failed.resource_id.str);
        if (r != NULL)
          deny (t, r, now, failure_icmp (msg->u.authorization_failed.reason));
        break;
      }
    case EMBER_PORTAL_EVENT_ICE_CANDIDATES:
      candidates_to_conn (t, now, &msg->u.ice_candidates, FALSE);
      break;
    case EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES:
      candidates_to_conn (t, now, &msg->u.ice_candidates, TRUE);
      break;
    case EMBER_PORTAL_EVENT_REJECT_ACCESS:
      {
        Resource *r = g_hash_table_lookup (t->resources, msg->u.reject_access.resource_id.str);
        if (r != NULL)
          deny (t, r, now, EMBER_ICMP_UNREACH_PROHIBITED);
        break;
      }
    case EMBER_PORTAL_EVENT_DISCONNECT:
      {
        EmberClientEvent ev = { .type = EMBER_CLIENT_EVENT_DISCONNECTED,
                                .disconnect = msg->u.disconnect.reason };
        push_event (t, &ev);
        break;
      }
    default:
      break;  /* replies, and events of the other channel */
    }
}

gboolean
ember_client_tunnel_poll_portal (EmberClientTunnel *t, EmberPortalMessage *out)
{
  EmberPortalMessage *msg = g_queue_pop_head (&t->portal_out);
  if (msg == NULL)
    return FALSE;
  *out = *msg;
  g_free (msg);
  return TRUE;
}

/* ---- node events ----------------------------------------------------------------- */

static void
signal_candidate (EmberClientTunnel *t, const EmberTunnelNodeEvent *ev, gboolean invalidate)
{
  EmberPortalMessage *msg = new_message (invalidate ? EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES
                                                    : EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES);
  EmberPortalIceBroadcast *b = &msg->u.ice_broadcast;
  b->n_peer_ids = 1;
  b->peer_ids = g_new0 (EmberPortalId, 1);
  g_strlcpy (b->peer_ids[0].str, ev->peer_id, sizeof b->peer_ids[0].str);
  b->n_candidates = 1;
  b->candidates = g_new (EmberIceCandidate, 1);
  b->candidates[0] = ev->candidate;
  g_queue_push_tail (&t->portal_out, msg);
}

/* Applies what the node reported since the last call. */
static void
sync_node (EmberClientTunnel *t, gint64 now)
{
  EmberTunnelNodeEvent ev;
  while (ember_tunnel_node_poll_event (t->node, &ev))
    {
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
            Gateway *gw = gateway_of (conn);
            if (gw == NULL || ember_tunnel_conn_get_generation (conn) != ev.generation)
              break;
            g_debug ("gateway %s: connection %s (generation %u)%s%s", ev.peer_id,
                     ember_tunnel_conn_state_to_string (ev.state), ev.generation,
                     ev.reason != NULL ? ": " : "", ev.reason != NULL ? ev.reason : "");
            if (ev.state == EMBER_TUNNEL_CONN_UP)
              t->flush_pending = TRUE;
            else if (ev.state == EMBER_TUNNEL_CONN_FAILED && gw->restart_at == G_MAXINT64)
              gw->restart_at = now + EMBER_CLIENT_RESTART_BACKOFF_US;
            break;
          }
        }
    }
}

/* ---- packets --------------------------------------------------------------------- */

/* Whether `dst` is a proxy address of `r` whose name no answered request
 * carried yet: the gateway could not translate it, so it waits (asking
 * for it now if no request carried it). */
static gboolean
name_unknown_to_gateway (EmberClientTunnel *t, Resource *r, const EmberAddr *dst, gint64 now)
{
  if (r->names == NULL || r->names->len == 0)
    return FALSE;
  for (guint i = r->names->len; i-- > 0;)
    {
      ProxyName *pn = g_ptr_array_index (r->names, i);
      if (!ember_ice_addr_same_ip (&pn->addr4, dst) && !ember_ice_addr_same_ip (&pn->addr6, dst))
        continue;
      if (pn->sent_seq == 0)
        {
          send_request (t, r, now);
          r->renewing = TRUE;
        }
      return pn->sent_seq == 0 || pn->sent_seq > r->answered_seq;
    }
  return FALSE;
}

EmberClientResult
ember_client_tunnel_handle_tun (EmberClientTunnel *t, gint64 now, guint8 *buf, gsize cap,
                                gsize *off, gsize *len, EmberTunnelTransmit *tx)
{
  EmberIpPacket pkt;
  if (*len > EMBER_PACKET_MTU
      || ember_ip_packet_parse (&pkt, buf, cap, *off, *len) != EMBER_PACKET_OK)
    {
      t->stats.tun_dropped++;
      return EMBER_CLIENT_DROPPED;
    }
  t->stats.tun_packets++;
  EmberAddr dst;
  ember_ip_packet_get_destination (&pkt, &dst);
  Resource *r = ember_prefix_table_lookup_addr (t->table, &dst, NULL);
  if (r == NULL)
    {
      refuse (t, now, buf, cap, *off, *len, EMBER_ICMP_UNREACH_NO_ROUTE);
      return EMBER_CLIENT_REFUSED;
    }
  r->last_used = now;
  switch (r->authz)
    {
    case EMBER_CLIENT_AUTHZ_AUTHORIZED:
      {
        EmberTunnelConn *conn = conn_for (t, r);
        if (name_unknown_to_gateway (t, r, &dst, now))
          break;  /* held until the gateway learnt the name */
        if (conn != NULL && r->held_len == 0
            && ember_tunnel_conn_get_state (conn) == EMBER_TUNNEL_CONN_UP)
          {
            EmberTunnelResult res = ember_tunnel_node_encapsulate (t->node, conn, now, buf, cap,
                                                                   off, len, tx);
            if (res == EMBER_TUNNEL_DATAGRAM)
              return EMBER_CLIENT_DATAGRAM;
            if (res == EMBER_TUNNEL_DONE)
              return EMBER_CLIENT_HELD;  /* staged in the engine */
            if (res == EMBER_TUNNEL_DROPPED)
              {
                t->stats.tun_dropped++;
                return EMBER_CLIENT_DROPPED;
              }
          }
        if (conn == NULL)
          request (t, r, now);
        break;
      }
    case EMBER_CLIENT_AUTHZ_DENIED:
      if (now < r->denied_until)
        {
          refuse (t, now, buf, cap, *off, *len, r->denied_why);
          return EMBER_CLIENT_REFUSED;
        }
      request (t, r, now);
      break;
    case EMBER_CLIENT_AUTHZ_NONE:
      request (t, r, now);
      break;
    case EMBER_CLIENT_AUTHZ_REQUESTED:
      break;
    }
  hold (t, r, now, buf + *off, *len);
  return EMBER_CLIENT_HELD;
}

static gboolean
source_allowed (EmberClientTunnel *t, EmberTunnelConn *conn, const EmberAddr *src)
{
  Gateway *gw = gateway_of (conn);
  if (gw == NULL)
    return FALSE;
  Resource *r = ember_prefix_table_lookup_addr (t->table, src, NULL);
  if (r != NULL && r->authz == EMBER_CLIENT_AUTHZ_AUTHORIZED && id_equal (&r->gateway, &gw->id))
    return TRUE;
  /* ICMP errors the gateway itself sends. */
  return ember_ice_addr_same_ip (src, src->family == EMBER_ADDR_IPV4 ? &gw->tunnel4 : &gw->tunnel6);
}

EmberClientResult
ember_client_tunnel_handle_datagram (EmberClientTunnel *t, gint64 now, const EmberAddr *local,
                                     const EmberAddr *remote, guint8 *buf, gsize *off, gsize *len)
{
  EmberTunnelConn *conn = NULL;
  EmberTunnelResult res = ember_tunnel_node_handle_input (t->node, now, local, remote, buf, off, len,
                                                          &conn);
  if (res == EMBER_TUNNEL_DONE)
    return EMBER_CLIENT_DONE;
  if (res != EMBER_TUNNEL_PACKET)
    return EMBER_CLIENT_DROPPED;
  EmberIpPacket pkt;
  EmberAddr src, dst;
  if (ember_ip_packet_parse (&pkt, buf, *off + *len, *off, *len) != EMBER_PACKET_OK)
    return EMBER_CLIENT_DROPPED;
  ember_ip_packet_get_source (&pkt, &src);
  ember_ip_packet_get_destination (&pkt, &dst);
  const EmberAddr *self = dst.family == EMBER_ADDR_IPV4 ? &t->iface4 : &t->iface6;
  /* A gateway may only send from the resources it serves us, to us. */
  if (!ember_ice_addr_same_ip (&dst, self) || !source_allowed (t, conn, &src))
    {
      t->stats.net_spoofed++;
      return EMBER_CLIENT_DROPPED;
    }
  t->stats.net_packets++;
  return EMBER_CLIENT_PACKET;
}

/* ---- timers and output -------------------------------------------------------- */

typedef struct {
  EmberClientTunnel *t;
  gint64 now;
  gint64 next;
  GPtrArray *to_close;
} ConnVisit;

static gboolean
resource_uses (EmberClientTunnel *t, const Gateway *gw)
{
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, t->resources);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Resource *r = value;
      if (r->authz == EMBER_CLIENT_AUTHZ_AUTHORIZED && id_equal (&r->gateway, &gw->id))
        return TRUE;
    }
  return FALSE;
}

static void
visit_conn (EmberTunnelConn *conn, gpointer user_data)
{
  ConnVisit *v = user_data;
  Gateway *gw = gateway_of (conn);
  if (gw == NULL)
    return;
  if (!resource_uses (v->t, gw))
    {
      if (gw->unused_since == 0)
        gw->unused_since = v->now;
      if (v->now >= gw->unused_since + EMBER_CLIENT_IDLE_CLOSE_US)
        {
          if (v->to_close != NULL)
            g_ptr_array_add (v->to_close, conn);
          return;
        }
      v->next = MIN (v->next, gw->unused_since + EMBER_CLIENT_IDLE_CLOSE_US);
      return;
    }
  gw->unused_since = 0;
  v->next = MIN (v->next, gw->restart_at);
}

static void
restart_gateway (EmberClientTunnel *t, Gateway *gw, gint64 now)
{
  /* docs/tunnel.md rule 5: one authorization restarts the connection for
   * every resource it serves; the others keep theirs. Ask for one (with
   * held packets if any); if the connection is still down when the
   * request has timed out, ask again (for another one if that one was
   * refused or moved to another gateway). */
  Resource *lead = NULL;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, t->resources);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Resource *r = value;
      if (r->authz != EMBER_CLIENT_AUTHZ_AUTHORIZED || !id_equal (&r->gateway, &gw->id))
        continue;
      if (lead == NULL || (lead->held_len == 0 && r->held_len > 0))
        lead = r;
    }
  if (lead == NULL)
    {
      gw->restart_at = G_MAXINT64;  /* nothing uses it: the idle close follows */
      return;
    }
  send_request (t, lead, now);
  gw->restart_at = now + EMBER_CLIENT_REQUEST_TIMEOUT_US;
}

static void
restart_due (EmberTunnelConn *conn, gpointer user_data)
{
  ConnVisit *v = user_data;
  Gateway *gw = gateway_of (conn);
  if (gw != NULL && gw->restart_at <= v->now)
    g_ptr_array_add (v->to_close, gw);
}

void
ember_client_tunnel_handle_timeout (EmberClientTunnel *t, gint64 now)
{
  ember_tunnel_node_handle_timeout (t->node, now);
  sync_node (t, now);

  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, t->resources);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Resource *r = value;
      if (r->authz == EMBER_CLIENT_AUTHZ_AUTHORIZED && now >= r->expires)
        {
          forget_authorization (r);
          if (r->held_len > 0)
            request (t, r, now);
        }
      else if (r->authz == EMBER_CLIENT_AUTHZ_AUTHORIZED && !r->renewing && now >= r->renew_at
               && in_use (r))
        {
          send_request (t, r, now);
          r->renewing = TRUE;
        }
      else if (r->authz == EMBER_CLIENT_AUTHZ_AUTHORIZED && r->renewing
               && now >= r->requested_at + EMBER_CLIENT_REQUEST_TIMEOUT_US)
        {
          r->answered_seq = r->req_seq;  /* that one is lost */
          send_request (t, r, now);
        }
      else if (r->authz == EMBER_CLIENT_AUTHZ_REQUESTED
               && now >= r->requested_at + EMBER_CLIENT_REQUEST_TIMEOUT_US)
        {
          r->answered_seq = r->req_seq;
          request (t, r, now);
        }
      HeldPacket *h;
      while ((h = held_peek (r)) != NULL && now >= h->at + EMBER_CLIENT_HOLD_TIMEOUT_US)
        {
          held_pop (r);
          t->stats.held_expired++;
        }
    }

  ConnVisit v = { t, now, G_MAXINT64, g_ptr_array_new () };
  ember_tunnel_node_foreach (t->node, restart_due, &v);
  for (guint i = 0; i < v.to_close->len; i++)
    restart_gateway (t, g_ptr_array_index (v.to_close, i), now);
  g_ptr_array_set_size (v.to_close, 0);
  ember_tunnel_node_foreach (t->node, visit_conn, &v);
  for (guint i = 0; i < v.to_close->len; i++)
    {
      EmberTunnelConn *conn = g_ptr_array_index (v.to_close, i);
      GHashTableIter rit;
      gpointer rv;
      g_hash_table_iter_init (&rit, t->resources);
      while (g_hash_table_iter_next (&rit, NULL, &rv))
        if (((Resource *) rv)->conn == conn)
          ((Resource *) rv)->conn = NULL;
      g_free (gateway_of (conn));
      ember_tunnel_node_close (t->node, conn);
    }
  g_ptr_array_free (v.to_close, TRUE);
  sync_node (t, now);
}

typedef struct {
  EmberClientTunnel *t;
  gint64 next;
} ConnDeadline;

static void
conn_deadline (EmberTunnelConn *conn, gpointer user_data)
{
  ConnDeadline *d = user_data;
  Gateway *gw = gateway_of (conn);
  if (gw == NULL)
    return;
  d->next = MIN (d->next, gw->restart_at);
  if (gw->unused_since > 0)
    d->next = MIN (d->next, gw->unused_since + EMBER_CLIENT_IDLE_CLOSE_US);
  else if (!resource_uses (d->t, gw))
    d->next = G_MININT64;  /* due now: handle_timeout starts its idle clock */
}

gint64
ember_client_tunnel_poll_timeout (EmberClientTunnel *t)
{
  gint64 next = ember_tunnel_node_poll_timeout (t->node);
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, t->resources);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Resource *r = value;
      if (r->authz == EMBER_CLIENT_AUTHZ_AUTHORIZED)
        {
          next = MIN (next, r->expires);
          if (r->renewing)
            next = MIN (next, r->requested_at + EMBER_CLIENT_REQUEST_TIMEOUT_US);
          else if (in_use (r))
            next = MIN (next, r->renew_at);
        }
      else if (r->authz == EMBER_CLIENT_AUTHZ_REQUESTED)
        next = MIN (next, r->requested_at + EMBER_CLIENT_REQUEST_TIMEOUT_US);
      HeldPacket *h = held_peek (r);
      if (h != NULL)
        next = MIN (next, h->at + EMBER_CLIENT_HOLD_TIMEOUT_US);
    }
  ConnDeadline d = { t, next };
  ember_tunnel_node_foreach (t->node, conn_deadline, &d);
  next = d.next;
  return next;
}

gboolean
ember_client_tunnel_poll_transmit (EmberClientTunnel *t, gint64 now, guint8 *buf, gsize cap,
                                   EmberTunnelTransmit *tx)
{
  sync_node (t, now);
  if (ember_tunnel_node_poll_transmit (t->node, now, buf, cap, tx))
    return TRUE;
  sync_node (t, now);
  if (!t->flush_pending)
    return FALSE;
  /* Held packets of resources whose connection is up, oldest first. */
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, t->resources);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Resource *r = value;
      EmberTunnelConn *conn = conn_for (t, r);
      if (r->held_len == 0 || conn == NULL
          || ember_tunnel_conn_get_state (conn) != EMBER_TUNNEL_CONN_UP)
        continue;
      while (r->held_len > 0)
        {
          HeldPacket *h = held_peek (r);
          gsize off = EMBER_WG_HEADROOM, len = h->len;
          if (cap < EMBER_WG_HEADROOM + len + EMBER_WG_TAILROOM)
            return FALSE;
          memcpy (buf + off, h->data, len);
          EmberTunnelResult res = ember_tunnel_node_encapsulate (t->node, conn, now, buf, cap, &off,
                                                                 &len, tx);
          if (res == EMBER_TUNNEL_NOT_READY)
            break;
          held_pop (r);
          t->stats.flushed++;
          if (res == EMBER_TUNNEL_DATAGRAM)
            {
              if (off != 0)
                memmove (buf, buf + off, len);
              tx->len = len;
              return TRUE;
            }
        }
    }
  t->flush_pending = FALSE;
  return ember_tunnel_node_poll_transmit (t->node, now, buf, cap, tx);
}

gsize
ember_client_tunnel_poll_tun (EmberClientTunnel *t, guint8 *buf, gsize cap)
{
  if (t->icmp_len == 0)
    return 0;
  TunPacket *p = &t->icmp[t->icmp_head];
  if (cap < p->len)
    return 0;
  memcpy (buf, p->data, p->len);
  t->icmp_head = (t->icmp_head + 1) % EMBER_CLIENT_ICMP_QUEUE;
  t->icmp_len--;
  return p->len;
}

gboolean
ember_client_tunnel_poll_event (EmberClientTunnel *t, EmberClientEvent *ev)
{
  EmberClientEvent *e = g_queue_pop_head (&t->events);
  if (e == NULL)
    return FALSE;
  *ev = *e;
  g_free (e);
  return TRUE;
}

/* ---- control ----------------------------------------------------------------------- */

EmberClientTunnel *
ember_client_tunnel_new (const EmberClientTunnelConfig *config, gint64 now, GError **error)
{
  g_return_val_if_fail (config != NULL, NULL);
  EmberTunnelNodeConfig nc = { .wg = config->wg, .role = EMBER_ICE_ROLE_CONTROLLING,
                               .rng = config->rng, .wall_us = config->wall_us };
  memcpy (nc.private_key, config->private_key, EMBER_WG_KEY_SIZE);
  EmberTunnelNode *node = ember_tunnel_node_new (&nc, now, error);
  explicit_bzero (&nc, sizeof nc);
  if (node == NULL)
    return NULL;
  EmberClientTunnel *t = g_new0 (EmberClientTunnel, 1);
  t->node = node;
  t->wall_offset = config->wall_us - now;
  t->resources = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, resource_free);
  t->table = ember_prefix_table_new ();
  /* Few entries, visited by iteration: keys are owned EmberAddr copies. */
  t->proxies = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_free, NULL);
  g_queue_init (&t->portal_out);
  g_queue_init (&t->events);
  ember_token_bucket_init (&t->icmp_bucket, EMBER_CLIENT_ICMP_RATE, EMBER_CLIENT_ICMP_RATE, now);
  return t;
}

static void
free_gateway (EmberTunnelConn *conn, gpointer user_data)
{
  (void) user_data;
  g_free (gateway_of (conn));
}

void
ember_client_tunnel_free (EmberClientTunnel *t)
{
  if (t == NULL)
    return;
  ember_tunnel_node_foreach (t->node, free_gateway, NULL);
  ember_tunnel_node_free (t->node);
  g_hash_table_destroy (t->resources);
  g_hash_table_destroy (t->proxies);
  ember_prefix_table_free (t->table);
  EmberPortalMessage *msg;
  while ((msg = g_queue_pop_head (&t->portal_out)) != NULL)
    {
      ember_portal_message_clear (msg);
      g_free (msg);
    }
  g_queue_clear_full (&t->events, g_free);
  g_free (t);
}

EmberTunnelNode *
ember_client_tunnel_get_node (EmberClientTunnel *t)
{
  return t->node;
}

static void
roam_conn (EmberTunnelConn *conn, gpointer user_data)
{
  ConnVisit *v = user_data;
  Gateway *gw = gateway_of (conn);
  ember_tunnel_node_fail (v->t->node, conn, v->now, "roamed: host addresses changed");
  if (gw != NULL)
    gw->restart_at = v->now;  /* ask again at once: nothing to back off from */
}

void
ember_client_tunnel_set_host_addresses (EmberClientTunnel *t, gint64 now, const EmberAddr *addrs,
                                        guint n)
{
  n = MIN (n, (guint) EMBER_TUNNEL_MAX_HOST_ADDRS);
  if (addrs != t->hosts)
    memcpy (t->hosts, addrs, n * sizeof addrs[0]);
  t->n_hosts = n;
  EmberAddr exclude[2] = { t->iface4, t->iface6 };
  if (!ember_tunnel_node_set_host_addresses (t->node, t->hosts, n, exclude, 2))
    return;
  ConnVisit v = { t, now, G_MAXINT64, NULL };
  ember_tunnel_node_foreach (t->node, roam_conn, &v);
  sync_node (t, now);
}

void
ember_client_tunnel_set_internet_enabled (EmberClientTunnel *t, gint64 now, gboolean enabled)
{
  (void) now;
  if (t->internet_enabled == enabled)
    return;
  t->internet_enabled = enabled;
  if (t->internet == NULL)
    return;
  if (enabled)
    route (t, t->internet);
  else
    {
      unroute (t, t->internet);
      drop_held (t, t->internet);
    }
}

gboolean
ember_client_tunnel_add_proxy_address (EmberClientTunnel *t, const EmberPortalId *resource_id,
                                       const EmberAddr *addr)
{
  Resource *r = g_hash_table_lookup (t->resources, resource_id->str);
  if (r == NULL || r->type != EMBER_PORTAL_RESOURCE_DNS)
    return FALSE;
  EmberCidr c;
  if (!ember_cidr_init (&c, addr->family, addr->addr, ember_addr_family_bits (addr->family)))
    return FALSE;
  ember_client_tunnel_remove_proxy_address (t, addr);
  EmberAddr *key = g_memdup2 (addr, sizeof *addr);
  g_hash_table_insert (t->proxies, key, r);
  ember_prefix_table_insert (t->table, &c, r);
  route_event (t, EMBER_CLIENT_EVENT_ROUTE_ADD, &c);
  return TRUE;
}

gboolean
ember_client_tunnel_add_proxy_name (EmberClientTunnel *t, gint64 now,
                                    const EmberPortalId *resource_id, const char *name,
                                    const EmberAddr *addr4, const EmberAddr *addr6)
{
  Resource *r = g_hash_table_lookup (t->resources, resource_id->str);
  gboolean has4 = addr4 != NULL && addr4->family == EMBER_ADDR_IPV4;
  gboolean has6 = addr6 != NULL && addr6->family == EMBER_ADDR_IPV6;
  if (r == NULL || r->type != EMBER_PORTAL_RESOURCE_DNS || name == NULL || (!has4 && !has6))
    return FALSE;
  if ((has4 && !ember_client_tunnel_add_proxy_address (t, resource_id, addr4))
      || (has6 && !ember_client_tunnel_add_proxy_address (t, resource_id, addr6)))
    return FALSE;
  if (r->names == NULL)
    r->names = g_ptr_array_new_with_free_func (proxy_name_free);
  for (guint i = 0; i < r->names->len; i++)
    if (g_ascii_strcasecmp (((ProxyName *) g_ptr_array_index (r->names, i))->name, name) == 0)
      g_ptr_array_remove_index (r->names, i--);
  ProxyName *pn = g_new0 (ProxyName, 1);
  pn->name = g_strdup (name);
  if (has4)
    pn->addr4 = *addr4;
  if (has6)
    pn->addr6 = *addr6;
  g_ptr_array_add (r->names, pn);
  /* A gateway already serving the resource learns the name at once, so
   * the application's first packet rarely waits. */
  if (r->authz == EMBER_CLIENT_AUTHZ_AUTHORIZED || r->authz == EMBER_CLIENT_AUTHZ_REQUESTED)
    {
      send_request (t, r, now);
      if (r->authz == EMBER_CLIENT_AUTHZ_AUTHORIZED)
        r->renewing = TRUE;
    }
  return TRUE;
}

void
ember_client_tunnel_remove_proxy_address (EmberClientTunnel *t, const EmberAddr *addr)
{
  GHashTableIter it;
  gpointer key;
  g_hash_table_iter_init (&it, t->proxies);
  while (g_hash_table_iter_next (&it, &key, NULL))
    if (ember_ice_addr_same_ip (key, addr))
      {
        EmberCidr c;
        ember_cidr_init (&c, addr->family, addr->addr, ember_addr_family_bits (addr->family));
        ember_prefix_table_remove (t->table, &c);
        route_event (t, EMBER_CLIENT_EVENT_ROUTE_REMOVE, &c);
        g_hash_table_iter_remove (&it);
        return;
      }
}

/* ---- status --------------------------------------------------------------------------- */

void
ember_client_tunnel_get_stats (const EmberClientTunnel *t, EmberClientStats *stats)
{
  *stats = t->stats;
}

gboolean
ember_client_tunnel_get_resource (EmberClientTunnel *t, const EmberPortalId *id,
                                  EmberClientAuthzState *state, EmberPortalId *gateway_id,
                                  guint *n_held)
{
  Resource *r = g_hash_table_lookup (t->resources, id->str);
  if (r == NULL)
    return FALSE;
  if (state != NULL)
    *state = r->authz;
  if (gateway_id != NULL)
    *gateway_id = r->gateway;
  if (n_held != NULL)
    *n_held = r->held_len;
  return TRUE;
}

const char *
ember_client_result_to_string (EmberClientResult result)
{
  switch (result)
    {
    case EMBER_CLIENT_DATAGRAM: return "datagram";
    case EMBER_CLIENT_PACKET: return "packet";
    case EMBER_CLIENT_HELD: return "held";
    case EMBER_CLIENT_REFUSED: return "refused";
    case EMBER_CLIENT_DONE: return "done";
    case EMBER_CLIENT_DROPPED: return "dropped";
    }
  return "unknown";
}
