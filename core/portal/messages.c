/* portal/messages — names, ownership and equality of portal messages. */
#include "portal/messages.h"

#include <string.h>

#define CH_CLIENT (1u << EMBER_PORTAL_CHANNEL_CLIENT)
#define CH_GATEWAY (1u << EMBER_PORTAL_CHANNEL_GATEWAY)
#define CH_BOTH (CH_CLIENT | CH_GATEWAY)

static const struct {
  const char *name;
  guint channels;
  EmberPortalDirection direction;
} events[EMBER_PORTAL_EVENT_COUNT_] = {
  [EMBER_PORTAL_EVENT_PHX_JOIN] = { "phx_join", CH_BOTH, EMBER_PORTAL_TO_PORTAL },
  [EMBER_PORTAL_EVENT_PHX_REPLY] = { "phx_reply", CH_BOTH, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_HEARTBEAT] = { "heartbeat", CH_BOTH, EMBER_PORTAL_TO_PORTAL },
  [EMBER_PORTAL_EVENT_RELAYS_PRESENCE] = { "relays_presence", CH_BOTH, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_DISCONNECT] = { "disconnect", CH_BOTH, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_ICE_CANDIDATES] = { "ice_candidates", CH_BOTH, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES] = { "invalidate_ice_candidates", CH_BOTH,
                                                      EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_REJECT_ACCESS] = { "reject_access", CH_BOTH, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_CLIENT_INIT] = { "init", CH_CLIENT, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED] = { "resource_created_or_updated", CH_CLIENT,
                                                        EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_RESOURCE_DELETED] = { "resource_deleted", CH_CLIENT,
                                             EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED] = { "authorization_created", CH_CLIENT,
                                                  EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED] = { "authorization_creation_failed",
                                                          CH_CLIENT, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION] = { "request_authorization", CH_CLIENT,
                                                  EMBER_PORTAL_TO_PORTAL },
  [EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES] = { "new_gateway_ice_candidates", CH_CLIENT,
                                                       EMBER_PORTAL_TO_PORTAL },
  [EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES] = { "invalidate_gateway_ice_candidates",
                                                              CH_CLIENT, EMBER_PORTAL_TO_PORTAL },
  [EMBER_PORTAL_EVENT_GATEWAY_INIT] = { "init", CH_GATEWAY, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_AUTHORIZE_FLOW] = { "authorize_flow", CH_GATEWAY, EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_RESOURCE_UPDATED] = { "resource_updated", CH_GATEWAY,
                                             EMBER_PORTAL_FROM_PORTAL },
  [EMBER_PORTAL_EVENT_FLOW_AUTHORIZED] = { "authorization_created", CH_GATEWAY,
                                            EMBER_PORTAL_TO_PORTAL },
  [EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES] = { "broadcast_ice_candidates", CH_GATEWAY,
                                                     EMBER_PORTAL_TO_PORTAL },
  [EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES] = {
    "broadcast_invalidated_ice_candidates", CH_GATEWAY, EMBER_PORTAL_TO_PORTAL },
};

const char *
ember_portal_event_to_string (EmberPortalEvent event)
{
  if ((guint) event >= EMBER_PORTAL_EVENT_COUNT_)
    return "unknown";
  return events[event].name;
}

gboolean
ember_portal_event_allowed (EmberPortalEvent event, EmberPortalChannel channel,
                            EmberPortalDirection direction)
{
  if ((guint) event >= EMBER_PORTAL_EVENT_COUNT_ || (guint) channel > 1)
    return FALSE;
  return (events[event].channels & (1u << channel)) != 0 && events[event].direction == direction;
}

#define NAME_OF(table, v) ((guint) (v) < G_N_ELEMENTS (table) ? table[v] : "unknown")

const char *
ember_portal_channel_to_string (EmberPortalChannel channel)
{
  static const char *const names[] = { "client", "gateway" };
  return NAME_OF (names, channel);
}

const char *
ember_portal_topic_to_string (EmberPortalTopic topic)
{
  static const char *const names[] = { "client", "gateway", "phoenix" };
  return NAME_OF (names, topic);
}

const char *
ember_portal_reply_reason_to_string (EmberPortalReplyReason reason)
{
  static const char *const names[] = {
    "none", "invalid_frame", "invalid_payload", "unknown_event", "wrong_direction",
    "unknown_topic", "not_joined", "already_joined", "rate_limited", "internal",
  };
  return NAME_OF (names, reason);
}

const char *
ember_portal_authz_failure_to_string (EmberPortalAuthzFailure reason)
{
  static const char *const names[] = { "not_found", "forbidden", "offline" };
  return NAME_OF (names, reason);
}

const char *
ember_portal_disconnect_reason_to_string (EmberPortalDisconnectReason reason)
{
  static const char *const names[] = {
    "token_revoked", "token_expired", "device_removed", "replaced", "shutdown", "protocol_error",
  };
  return NAME_OF (names, reason);
}

const char *
ember_portal_protocol_to_string (EmberPortalProtocol protocol)
{
  static const char *const names[] = { "tcp", "udp", "icmp" };
  return NAME_OF (names, protocol);
}

const char *
ember_portal_resource_type_to_string (EmberPortalResourceType type)
{
  static const char *const names[] = { "cidr", "dns", "internet" };
  return NAME_OF (names, type);
}

const char *
ember_portal_ip_stack_to_string (EmberPortalIpStack stack)
{
  static const char *const names[] = { "dual", "ipv4", "ipv6" };
  return NAME_OF (names, stack);
}

/* ---- Ownership ----------------------------------------------------------- */

void
ember_portal_message_init (EmberPortalMessage *msg, EmberPortalEvent event,
                           EmberPortalChannel channel, const char *ref)
{
  memset (msg, 0, sizeof *msg);
  msg->event = event;
  msg->topic = event == EMBER_PORTAL_EVENT_HEARTBEAT ? EMBER_PORTAL_TOPIC_PHOENIX
               : channel == EMBER_PORTAL_CHANNEL_GATEWAY ? EMBER_PORTAL_TOPIC_GATEWAY
                                                         : EMBER_PORTAL_TOPIC_CLIENT;
  msg->ref = g_strdup (ref);
}

static void
free_secret (char *s)
{
  if (s != NULL)
    explicit_bzero (s, strlen (s));
  g_free (s);
}

void
ember_portal_resource_clear (EmberPortalResource *res)
{
  g_free (res->name);
  g_free (res->dns_pattern);
  g_free (res->site.name);
  g_free (res->filters);
  memset (res, 0, sizeof *res);
}

void
ember_portal_relay_clear (EmberPortalRelay *relay)
{
  g_free (relay->username);
  free_secret (relay->password);
  memset (relay, 0, sizeof *relay);
}

static void
clear_resources (EmberPortalResource *v, guint n)
{
  for (guint i = 0; v != NULL && i < n; i++)
    ember_portal_resource_clear (&v[i]);
  g_free (v);
}

static void
clear_relays (EmberPortalRelay *v, guint n)
{
  for (guint i = 0; v != NULL && i < n; i++)
    ember_portal_relay_clear (&v[i]);
  g_free (v);
}

void
ember_portal_message_clear (EmberPortalMessage *msg)
{
  if (msg == NULL)
    return;
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_PHX_REPLY:
      g_free (msg->u.reply.message);
      break;
    case EMBER_PORTAL_EVENT_RELAYS_PRESENCE:
      g_free (msg->u.relays_presence.disconnected_ids);
      clear_relays (msg->u.relays_presence.connected, msg->u.relays_presence.n_connected);
      break;
    case EMBER_PORTAL_EVENT_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES:
      g_free (msg->u.ice_candidates.candidates);
      break;
    case EMBER_PORTAL_EVENT_CLIENT_INIT:
      clear_resources (msg->u.client_init.resources, msg->u.client_init.n_resources);
      clear_relays (msg->u.client_init.relays, msg->u.client_init.n_relays);
      g_free (msg->u.client_init.device.name);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
    case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
      ember_portal_resource_clear (&msg->u.resource);
      break;
    case EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION:
      g_free (msg->u.request_authorization.connected_gateway_ids);
      ember_portal_dns_names_free (msg->u.request_authorization.dns_names,
                                   msg->u.request_authorization.n_dns_names);
      break;
    case EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      g_free (msg->u.ice_broadcast.peer_ids);
      g_free (msg->u.ice_broadcast.candidates);
      break;
    case EMBER_PORTAL_EVENT_GATEWAY_INIT:
      clear_relays (msg->u.gateway_init.relays, msg->u.gateway_init.n_relays);
      for (guint i = 0; msg->u.gateway_init.authorizations != NULL
                        && i < msg->u.gateway_init.n_authorizations; i++)
        ember_portal_resource_clear (&msg->u.gateway_init.authorizations[i].resource);
      if (msg->u.gateway_init.authorizations != NULL)
        explicit_bzero (msg->u.gateway_init.authorizations,
                        msg->u.gateway_init.n_authorizations * sizeof (EmberPortalAuthorization));
      g_free (msg->u.gateway_init.authorizations);
      g_free (msg->u.gateway_init.device.name);
      break;
    case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
      g_free (msg->u.authorize_flow.ref);
      ember_portal_resource_clear (&msg->u.authorize_flow.resource);
      ember_portal_dns_names_free (msg->u.authorize_flow.dns_names,
                                   msg->u.authorize_flow.n_dns_names);
      break;
    case EMBER_PORTAL_EVENT_FLOW_AUTHORIZED:
      g_free (msg->u.flow_authorized.ref);
      break;
    default:
      break;
    }
  g_free (msg->ref);
  /* Wipes the preshared keys and ICE passwords held inline. */
  explicit_bzero (msg, sizeof *msg);
}

/* ---- Equality ------------------------------------------------------------ */

static gboolean
str_eq (const char *a, const char *b)
{
  return g_strcmp0 (a, b) == 0;
}

static gboolean
addr_eq (const EmberAddr *a, const EmberAddr *b)
{
  if (a->family != b->family || a->port != b->port)
    return FALSE;
  guint n = a->family == EMBER_ADDR_IPV4 ? 4 : a->family == EMBER_ADDR_IPV6 ? 16 : 0;
  return memcmp (a->addr, b->addr, n) == 0;
}

static gboolean
id_eq (const EmberPortalId *a, const EmberPortalId *b)
{
  return strncmp (a->str, b->str, sizeof a->str) == 0;
}

static gboolean
ids_eq (const EmberPortalId *a, guint na, const EmberPortalId *b, guint nb)
{
  if (na != nb)
    return FALSE;
  for (guint i = 0; i < na; i++)
    if (!id_eq (&a[i], &b[i]))
      return FALSE;
  return TRUE;
}

static gboolean
dns_names_eq (const EmberPortalDnsName *a, guint na, const EmberPortalDnsName *b, guint nb)
{
  if (na != nb)
    return FALSE;
  for (guint i = 0; i < na; i++)
    if (g_strcmp0 (a[i].name, b[i].name) != 0 || !addr_eq (&a[i].ipv4, &b[i].ipv4)
        || !addr_eq (&a[i].ipv6, &b[i].ipv6))
      return FALSE;
  return TRUE;
}

static gboolean
key_eq (const EmberPortalKey *a, const EmberPortalKey *b)
{
  return memcmp (a->bytes, b->bytes, sizeof a->bytes) == 0;
}

static gboolean
tunnel_eq (const EmberPortalTunnelAddresses *a, const EmberPortalTunnelAddresses *b)
{
  return addr_eq (&a->ipv4, &b->ipv4) && addr_eq (&a->ipv6, &b->ipv6);
}

static gboolean
ice_eq (const EmberPortalIceCredentials *a, const EmberPortalIceCredentials *b)
{
  return strncmp (a->ufrag, b->ufrag, sizeof a->ufrag) == 0
         && strncmp (a->pwd, b->pwd, sizeof a->pwd) == 0;
}

static gboolean
peer_eq (const EmberPortalPeer *a, const EmberPortalPeer *b)
{
  return id_eq (&a->id, &b->id) && key_eq (&a->public_key, &b->public_key)
         && tunnel_eq (&a->tunnel, &b->tunnel);
}

/* Candidates compare by their wire text: a host candidate's base, for
 * one, is not part of it. */
static gboolean
candidates_eq (const EmberIceCandidate *a, guint na, const EmberIceCandidate *b, guint nb)
{
  if (na != nb)
    return FALSE;
  for (guint i = 0; i < na; i++)
    {
      g_autofree char *sa = ember_ice_candidate_to_string (&a[i]);
      g_autofree char *sb = ember_ice_candidate_to_string (&b[i]);
      if (strcmp (sa, sb) != 0)
        return FALSE;
    }
  return TRUE;
}

static gboolean
resource_eq (const EmberPortalResource *a, const EmberPortalResource *b)
{
  if (!id_eq (&a->id, &b->id) || !str_eq (a->name, b->name) || a->type != b->type
      || !id_eq (&a->site.id, &b->site.id) || !str_eq (a->site.name, b->site.name)
      || a->n_filters != b->n_filters)
    return FALSE;
  if (a->type == EMBER_PORTAL_RESOURCE_CIDR && !ember_cidr_equal (&a->cidr, &b->cidr))
    return FALSE;
  if (a->type == EMBER_PORTAL_RESOURCE_DNS
      && (!str_eq (a->dns_pattern, b->dns_pattern) || a->ip_stack != b->ip_stack))
    return FALSE;
  for (guint i = 0; i < a->n_filters; i++)
    {
      const EmberPortalFilter *fa = &a->filters[i], *fb = &b->filters[i];
      if (fa->protocol != fb->protocol || fa->n_ports != fb->n_ports
          || fa->n_ports > EMBER_PORTAL_MAX_PORT_RANGES
          || memcmp (fa->ports, fb->ports, fa->n_ports * sizeof fa->ports[0]) != 0)
        return FALSE;
    }
  return TRUE;
}

static gboolean
resources_eq (const EmberPortalResource *a, guint na, const EmberPortalResource *b, guint nb)
{
  if (na != nb)
    return FALSE;
  for (guint i = 0; i < na; i++)
    if (!resource_eq (&a[i], &b[i]))
      return FALSE;
  return TRUE;
}

static gboolean
relays_eq (const EmberPortalRelay *a, guint na, const EmberPortalRelay *b, guint nb)
{
  if (na != nb)
    return FALSE;
  for (guint i = 0; i < na; i++)
    if (!id_eq (&a[i].id, &b[i].id) || !addr_eq (&a[i].ipv4, &b[i].ipv4)
        || !addr_eq (&a[i].ipv6, &b[i].ipv6) || !str_eq (a[i].username, b[i].username)
        || !str_eq (a[i].password, b[i].password) || a[i].expires_at != b[i].expires_at)
      return FALSE;
  return TRUE;
}

static gboolean
device_eq (const EmberPortalDevice *a, const EmberPortalDevice *b)
{
  return str_eq (a->name, b->name) && (a->name == NULL || id_eq (&a->id, &b->id));
}

static gboolean
payload_eq (EmberPortalEvent event, const EmberPortalMessage *a, const EmberPortalMessage *b)
{
  switch (event)
    {
    case EMBER_PORTAL_EVENT_PHX_JOIN:
    case EMBER_PORTAL_EVENT_HEARTBEAT:
      return TRUE;
    case EMBER_PORTAL_EVENT_PHX_REPLY:
      return a->u.reply.status == b->u.reply.status && a->u.reply.reason == b->u.reply.reason
             && str_eq (a->u.reply.message, b->u.reply.message);
    case EMBER_PORTAL_EVENT_RELAYS_PRESENCE:
      {
        const EmberPortalRelaysPresence *x = &a->u.relays_presence, *y = &b->u.relays_presence;
        return ids_eq (x->disconnected_ids, x->n_disconnected_ids, y->disconnected_ids,
                       y->n_disconnected_ids)
               && relays_eq (x->connected, x->n_connected, y->connected, y->n_connected);
      }
    case EMBER_PORTAL_EVENT_DISCONNECT:
      return a->u.disconnect.reason == b->u.disconnect.reason;
    case EMBER_PORTAL_EVENT_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES:
      {
        const EmberPortalIceCandidates *x = &a->u.ice_candidates, *y = &b->u.ice_candidates;
        return id_eq (&x->peer_id, &y->peer_id)
               && candidates_eq (x->candidates, x->n_candidates, y->candidates, y->n_candidates);
      }
    case EMBER_PORTAL_EVENT_REJECT_ACCESS:
      return id_eq (&a->u.reject_access.resource_id, &b->u.reject_access.resource_id)
             && id_eq (&a->u.reject_access.client_id, &b->u.reject_access.client_id);
    case EMBER_PORTAL_EVENT_CLIENT_INIT:
      {
        const EmberPortalClientInit *x = &a->u.client_init, *y = &b->u.client_init;
        return tunnel_eq (&x->iface, &y->iface)
               && resources_eq (x->resources, x->n_resources, y->resources, y->n_resources)
               && relays_eq (x->relays, x->n_relays, y->relays, y->n_relays)
               && device_eq (&x->device, &y->device);
      }
    case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
    case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
      return resource_eq (&a->u.resource, &b->u.resource);
    case EMBER_PORTAL_EVENT_RESOURCE_DELETED:
      return id_eq (&a->u.resource_deleted.id, &b->u.resource_deleted.id);
    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED:
      {
        const EmberPortalAuthorizationCreated *x = &a->u.authorization_created,
                                              *y = &b->u.authorization_created;
        return id_eq (&x->resource_id, &y->resource_id) && peer_eq (&x->gateway, &y->gateway)
               && key_eq (&x->preshared_key, &y->preshared_key)
               && ice_eq (&x->client_ice, &y->client_ice)
               && ice_eq (&x->gateway_ice, &y->gateway_ice) && x->expires_at == y->expires_at;
      }
    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED:
      return id_eq (&a->u.authorization_failed.resource_id, &b->u.authorization_failed.resource_id)
             && a->u.authorization_failed.reason == b->u.authorization_failed.reason;
    case EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION:
      {
        const EmberPortalRequestAuthorization *x = &a->u.request_authorization,
                                              *y = &b->u.request_authorization;
        return id_eq (&x->resource_id, &y->resource_id)
               && ids_eq (x->connected_gateway_ids, x->n_connected_gateway_ids,
                          y->connected_gateway_ids, y->n_connected_gateway_ids)
               && dns_names_eq (x->dns_names, x->n_dns_names, y->dns_names, y->n_dns_names);
      }
    case EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      {
        const EmberPortalIceBroadcast *x = &a->u.ice_broadcast, *y = &b->u.ice_broadcast;
        return ids_eq (x->peer_ids, x->n_peer_ids, y->peer_ids, y->n_peer_ids)
               && candidates_eq (x->candidates, x->n_candidates, y->candidates, y->n_candidates);
      }
    case EMBER_PORTAL_EVENT_GATEWAY_INIT:
      {
        const EmberPortalGatewayInit *x = &a->u.gateway_init, *y = &b->u.gateway_init;
        if (!tunnel_eq (&x->iface, &y->iface)
            || !relays_eq (x->relays, x->n_relays, y->relays, y->n_relays)
            || x->n_authorizations != y->n_authorizations || !device_eq (&x->device, &y->device))
          return FALSE;
        for (guint i = 0; i < x->n_authorizations; i++)
          {
            const EmberPortalAuthorization *p = &x->authorizations[i], *q = &y->authorizations[i];
            if (!peer_eq (&p->client, &q->client) || !resource_eq (&p->resource, &q->resource)
                || !key_eq (&p->preshared_key, &q->preshared_key) || p->expires_at != q->expires_at)
              return FALSE;
          }
        return TRUE;
      }
    case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
      {
        const EmberPortalAuthorizeFlow *x = &a->u.authorize_flow, *y = &b->u.authorize_flow;
        return str_eq (x->ref, y->ref) && resource_eq (&x->resource, &y->resource)
               && peer_eq (&x->client, &y->client)
               && key_eq (&x->preshared_key, &y->preshared_key)
               && ice_eq (&x->client_ice, &y->client_ice)
               && ice_eq (&x->gateway_ice, &y->gateway_ice) && x->expires_at == y->expires_at
               && dns_names_eq (x->dns_names, x->n_dns_names, y->dns_names, y->n_dns_names);
      }
    case EMBER_PORTAL_EVENT_FLOW_AUTHORIZED:
      return str_eq (a->u.flow_authorized.ref, b->u.flow_authorized.ref);
    case EMBER_PORTAL_EVENT_COUNT_:
      break;
    }
  return FALSE;
}

gboolean
ember_portal_message_equal (const EmberPortalMessage *a, const EmberPortalMessage *b)
{
  g_return_val_if_fail (a != NULL && b != NULL, FALSE);
  return a->event == b->event && a->topic == b->topic && str_eq (a->ref, b->ref)
         && payload_eq (a->event, a, b);
}

EmberPortalDnsName *
ember_portal_dns_names_copy (const EmberPortalDnsName *names, guint n)
{
  EmberPortalDnsName *out;

  if (n == 0 || names == NULL)
    return NULL;
  out = g_new0 (EmberPortalDnsName, n);
  for (guint i = 0; i < n; i++)
    {
      out[i] = names[i];
      out[i].name = g_strdup (names[i].name);
    }
  return out;
}

void
ember_portal_dns_names_free (EmberPortalDnsName *names, guint n)
{
  for (guint i = 0; names != NULL && i < n; i++)
    g_free (names[i].name);
  g_free (names);
}
