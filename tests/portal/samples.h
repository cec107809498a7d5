/* tests/portal/samples — one filled message of every event, shared by the
 * codec tests and the fuzz target's round trip checks. */
#pragma once

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "portal/codec.h"

static inline EmberPortalId
sample_id (guint n)
{
  EmberPortalId id;
  g_snprintf (id.str, sizeof id.str, "%08x-0000-4000-8000-%012x", n, n * 7u);
  return id;
}

static inline EmberAddr
sample_ip (const char *text, guint16 port)
{
  EmberAddr a;
  memset (&a, 0, sizeof a);
  if (inet_pton (AF_INET, text, a.addr) == 1)
    a.family = EMBER_ADDR_IPV4;
  else if (inet_pton (AF_INET6, text, a.addr) == 1)
    a.family = EMBER_ADDR_IPV6;
  a.port = port;
  return a;
}

static inline EmberPortalKey
sample_key (guint8 seed)
{
  EmberPortalKey k;
  for (guint i = 0; i < EMBER_PORTAL_KEY_LEN; i++)
    k.bytes[i] = (guint8) (seed * 31u + i * 7u);
  return k;
}

static inline EmberPortalTunnelAddresses
sample_tunnel (guint n)
{
  EmberPortalTunnelAddresses t;
  char v4[32], v6[64];
  g_snprintf (v4, sizeof v4, "100.64.0.%u", n % 250 + 1);
  g_snprintf (v6, sizeof v6, "fd00:2021:1111::%x", n + 1);
  t.ipv4 = sample_ip (v4, 0);
  t.ipv6 = sample_ip (v6, 0);
  return t;
}

static inline void
sample_ice (EmberPortalIceCredentials *c, char tag)
{
  memset (c, 0, sizeof *c);
  g_snprintf (c->ufrag, sizeof c->ufrag, "uf%c+/abc", tag);
  g_snprintf (c->pwd, sizeof c->pwd, "pw%cd0123456789abcdefghij+/", tag);
}

/* type: 0 cidr v4, 1 cidr v6, 2 dns, 3 internet; n varies the content. */
static inline void
sample_resource (EmberPortalResource *r, guint type, guint n)
{
  memset (r, 0, sizeof *r);
  r->id = sample_id (0x100 + n);
  r->name = g_strdup_printf ("resource %u — ünïcode", n);
  r->site.id = sample_id (0x200 + n % 3);
  r->site.name = g_strdup_printf ("site %u", n % 3);
  switch (type % 4)
    {
    case 0:
      {
        EmberAddr net = sample_ip ("10.20.0.0", 0);
        net.addr[2] = (guint8) n;
        r->type = EMBER_PORTAL_RESOURCE_CIDR;
        ember_cidr_init (&r->cidr, EMBER_ADDR_IPV4, net.addr, 24);
        break;
      }
    case 1:
      r->type = EMBER_PORTAL_RESOURCE_CIDR;
      ember_cidr_init (&r->cidr, EMBER_ADDR_IPV6, sample_ip ("2001:db8::", 0).addr, 48);
      break;
    case 2:
      r->type = EMBER_PORTAL_RESOURCE_DNS;
      r->dns_pattern = g_strdup_printf ("%s.corp%u.example", n % 2 ? "**" : "*", n);
      break;
    default:
      r->type = EMBER_PORTAL_RESOURCE_INTERNET;
      break;
    }
  if (type % 4 == 3)
    return;
  r->n_filters = 3;
  r->filters = g_new0 (EmberPortalFilter, 3);
  r->filters[0].protocol = EMBER_PORTAL_PROTOCOL_TCP;
  r->filters[0].n_ports = 2;
  r->filters[0].ports[0] = (EmberPortalPortRange){ 80, 80 };
  r->filters[0].ports[1] = (EmberPortalPortRange){ 8000, 8100 };
  r->filters[1].protocol = EMBER_PORTAL_PROTOCOL_UDP;
  r->filters[2].protocol = EMBER_PORTAL_PROTOCOL_ICMP;
}

static inline void
sample_relay (EmberPortalRelay *r, guint n)
{
  memset (r, 0, sizeof *r);
  r->id = sample_id (0x300 + n);
  if (n % 3 != 2)
    r->ipv4 = sample_ip ("203.0.113.5", (guint16) (3478 + n));
  if (n % 3 != 0)
    r->ipv6 = sample_ip ("2001:db8::5", 3478);
  r->username = g_strdup_printf ("1765011600:%s", sample_id (n).str);
  r->password = g_strdup ("8J1x7PpVqR0s6o0iJdM0m9y3b2E=");
  r->expires_at = 1765011600 + n;
}

static inline EmberPortalPeer
sample_peer (guint n)
{
  EmberPortalPeer p;
  p.id = sample_id (0x400 + n);
  p.public_key = sample_key ((guint8) n);
  p.tunnel = sample_tunnel (n);
  return p;
}

/* Two names with proxy addresses: one dual-stack, one IPv4 only. */
static inline EmberPortalDnsName *
sample_dns_names (guint *n_out)
{
  EmberPortalDnsName *d = g_new0 (EmberPortalDnsName, 2);
  d[0].name = g_strdup ("app.corp.example");
  d[0].ipv4 = sample_ip ("100.96.0.1", 0);
  d[0].ipv6 = sample_ip ("fd00:2021:1111:8000::1", 0);
  d[1].name = g_strdup ("db.corp.example");
  d[1].ipv4 = sample_ip ("100.96.0.2", 0);
  *n_out = 2;
  return d;
}

static inline EmberIceCandidate *
sample_candidates (guint *n_out)
{
  static const char *const texts[] = {
    "candidate:1 1 udp 2130706431 192.0.2.10 51820 typ host",
    "candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 192.0.2.10 rport 51820",
    "candidate:3 1 udp 16777215 2001:db8::9 49152 typ relay raddr 2001:db8::1 rport 3478",
  };
  EmberIceCandidate *c = g_new0 (EmberIceCandidate, G_N_ELEMENTS (texts));
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    if (!ember_ice_candidate_from_string (texts[i], &c[i], NULL))
      g_error ("sample candidate %u does not parse", i);
  *n_out = G_N_ELEMENTS (texts);
  return c;
}

static inline EmberPortalId *
sample_ids (guint n, guint base)
{
  EmberPortalId *ids = g_new0 (EmberPortalId, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    ids[i] = sample_id (base + i);
  return ids;
}

/* Fills `msg` with a valid message of `event` on `channel`. */
static inline void
sample_message (EmberPortalMessage *msg, EmberPortalEvent event, EmberPortalChannel channel)
{
  gboolean gw = channel == EMBER_PORTAL_CHANNEL_GATEWAY;
  ember_portal_message_init (msg, event, channel, "42");
  switch (event)
    {
    case EMBER_PORTAL_EVENT_PHX_JOIN:
    case EMBER_PORTAL_EVENT_HEARTBEAT:
      break;
    case EMBER_PORTAL_EVENT_PHX_REPLY:
      msg->u.reply.status = EMBER_PORTAL_REPLY_ERROR;
      msg->u.reply.reason = EMBER_PORTAL_REPLY_REASON_INVALID_PAYLOAD;
      msg->u.reply.message = g_strdup ("payload.resource_id: missing");
      break;
    case EMBER_PORTAL_EVENT_RELAYS_PRESENCE:
      msg->u.relays_presence.n_disconnected_ids = 2;
      msg->u.relays_presence.disconnected_ids = sample_ids (2, 0x300);
      msg->u.relays_presence.n_connected = 3;
      msg->u.relays_presence.connected = g_new0 (EmberPortalRelay, 3);
      for (guint i = 0; i < 3; i++)
        sample_relay (&msg->u.relays_presence.connected[i], i);
      break;
    case EMBER_PORTAL_EVENT_DISCONNECT:
      msg->u.disconnect.reason = EMBER_PORTAL_DISCONNECT_REPLACED;
      break;
    case EMBER_PORTAL_EVENT_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES:
      msg->u.ice_candidates.peer_id = sample_id (0x400);
      msg->u.ice_candidates.candidates = sample_candidates (&msg->u.ice_candidates.n_candidates);
      break;
    case EMBER_PORTAL_EVENT_REJECT_ACCESS:
      msg->u.reject_access.resource_id = sample_id (0x100);
      if (gw)
        msg->u.reject_access.client_id = sample_id (0x401);
      break;
    case EMBER_PORTAL_EVENT_CLIENT_INIT:
      msg->u.client_init.iface = sample_tunnel (1);
      msg->u.client_init.n_resources = 5;
      msg->u.client_init.resources = g_new0 (EmberPortalResource, 5);
      for (guint i = 0; i < 5; i++)
        sample_resource (&msg->u.client_init.resources[i], i, i);
      msg->u.client_init.n_relays = 2;
      msg->u.client_init.relays = g_new0 (EmberPortalRelay, 2);
      for (guint i = 0; i < 2; i++)
        sample_relay (&msg->u.client_init.relays[i], i + 1);
      msg->u.client_init.device.id = sample_id (0x300);
      msg->u.client_init.device.name = g_strdup ("laptop");
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
      sample_resource (&msg->u.resource, 2, 7);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
      sample_resource (&msg->u.resource, 1, 8);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_DELETED:
      msg->u.resource_deleted.id = sample_id (0x101);
      break;
    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED:
      msg->u.authorization_created.resource_id = sample_id (0x100);
      msg->u.authorization_created.gateway = sample_peer (9);
      msg->u.authorization_created.preshared_key = sample_key (77);
      sample_ice (&msg->u.authorization_created.client_ice, 'c');
      sample_ice (&msg->u.authorization_created.gateway_ice, 'g');
      msg->u.authorization_created.expires_at = 1765011600;
      break;
    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED:
      msg->u.authorization_failed.resource_id = sample_id (0x102);
      msg->u.authorization_failed.reason = EMBER_PORTAL_AUTHZ_OFFLINE;
      break;
    case EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION:
      msg->u.request_authorization.resource_id = sample_id (0x100);
      msg->u.request_authorization.n_connected_gateway_ids = 2;
      msg->u.request_authorization.connected_gateway_ids = sample_ids (2, 0x409);
      msg->u.request_authorization.dns_names =
        sample_dns_names (&msg->u.request_authorization.n_dns_names);
      break;
    case EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      msg->u.ice_broadcast.n_peer_ids = 3;
      msg->u.ice_broadcast.peer_ids = sample_ids (3, 0x400);
      msg->u.ice_broadcast.candidates = sample_candidates (&msg->u.ice_broadcast.n_candidates);
      break;
    case EMBER_PORTAL_EVENT_GATEWAY_INIT:
      msg->u.gateway_init.iface = sample_tunnel (0);
      msg->u.gateway_init.n_relays = 1;
      msg->u.gateway_init.relays = g_new0 (EmberPortalRelay, 1);
      sample_relay (&msg->u.gateway_init.relays[0], 4);
      msg->u.gateway_init.n_authorizations = 2;
      msg->u.gateway_init.authorizations = g_new0 (EmberPortalAuthorization, 2);
      for (guint i = 0; i < 2; i++)
        {
          EmberPortalAuthorization *a = &msg->u.gateway_init.authorizations[i];
          a->client = sample_peer (i + 1);
          sample_resource (&a->resource, i, i);
          a->preshared_key = sample_key ((guint8) (50 + i));
          a->expires_at = 1765011600 + i;
        }
      msg->u.gateway_init.device.id = sample_id (0x301);
      msg->u.gateway_init.device.name = g_strdup ("gateway “home” 1");
      break;
    case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
      msg->u.authorize_flow.ref = g_strdup ("AAEC.signed-ref");
      sample_resource (&msg->u.authorize_flow.resource, 0, 3);
      msg->u.authorize_flow.client = sample_peer (2);
      msg->u.authorize_flow.preshared_key = sample_key (78);
      sample_ice (&msg->u.authorize_flow.client_ice, 'c');
      sample_ice (&msg->u.authorize_flow.gateway_ice, 'g');
      msg->u.authorize_flow.expires_at = 1765011600;
      msg->u.authorize_flow.dns_names = sample_dns_names (&msg->u.authorize_flow.n_dns_names);
      break;
    case EMBER_PORTAL_EVENT_FLOW_AUTHORIZED:
      msg->u.flow_authorized.ref = g_strdup ("AAEC.signed-ref");
      break;
    case EMBER_PORTAL_EVENT_COUNT_:
      break;
    }
}
