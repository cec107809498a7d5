/* gateway-check — the per-packet half of gateway-policy: the three checks
 * on a client's packet, reply matching, ICMP prohibited answers. No
 * allocation, no GError: a verdict, a reason and a counter. */
#include <string.h>

#include "tunnel/gateway-policy-private.h"

static inline guint16
rd16 (const guint8 *p)
{
  return (guint16) ((guint16) p[0] << 8 | p[1]);
}

static ProtoClass
proto_class (guint version, guint proto)
{
  if (proto == EMBER_IPPROTO_TCP)
    return PROTO_TCP;
  if (proto == EMBER_IPPROTO_UDP)
    return PROTO_UDP;
  if ((version == 4 && proto == EMBER_IPPROTO_ICMP) ||
      (version == 6 && proto == EMBER_IPPROTO_ICMPV6))
    return PROTO_ICMP;
  return PROTO_OTHER;
}

/* The addresses, protocol and ports of a packet quoted in an ICMP error
 * (RFC 792, RFC 4443 §3: as much of the offending packet as fits, so it
 * is usually truncated and core/packet's parser, which checks total
 * lengths, does not apply). */
typedef struct {
  const guint8 *src, *dst;
  guint8 proto;
  gboolean has_ports;
  guint16 sport, dport;
} Quoted;

static gboolean
parse_quoted (guint version, const guint8 *b, gsize len, Quoted *q)
{
  gsize off;
  guint8 nh;
  gboolean later_fragment = FALSE;

  memset (q, 0, sizeof *q);
  if (version == 4)
    {
      if (len < EMBER_IPV4_HEADER_MIN || b[0] >> 4 != 4)
        return FALSE;
      off = (gsize) (b[0] & 0x0f) * 4;
      if (off < EMBER_IPV4_HEADER_MIN || off > len)
        return FALSE;
      nh = b[EMBER_IPV4_OFF_PROTO];
      later_fragment = (rd16 (b + EMBER_IPV4_OFF_FLAGS_FRAG) & EMBER_IPV4_FRAG_MASK) != 0;
      q->src = b + EMBER_IPV4_OFF_SRC;
      q->dst = b + EMBER_IPV4_OFF_DST;
    }
  else
    {
      if (len < EMBER_IPV6_HEADER_LEN || b[0] >> 4 != 6)
        return FALSE;
      off = EMBER_IPV6_HEADER_LEN;
      nh = b[EMBER_IPV6_OFF_NEXT_HEADER];
      q->src = b + EMBER_IPV6_OFF_SRC;
      q->dst = b + EMBER_IPV6_OFF_DST;
      /* RFC 8200 §4: skip extension headers; a bounded walk. */
      for (guint n = 0; n < 8; n++)
        {
          gsize hl;

          if (nh == EMBER_IPPROTO_HOPOPTS || nh == EMBER_IPPROTO_ROUTING ||
              nh == EMBER_IPPROTO_DSTOPTS || nh == EMBER_IPPROTO_AH)
            {
              if (off + 2 > len)
                return FALSE;
              hl = nh == EMBER_IPPROTO_AH ? ((gsize) b[off + 1] + 2) * 4
                                          : ((gsize) b[off + 1] + 1) * 8;
            }
          else if (nh == EMBER_IPPROTO_FRAGMENT)
            {
              if (off + EMBER_IPV6_FRAG_HEADER_LEN > len)
                return FALSE;
              hl = EMBER_IPV6_FRAG_HEADER_LEN;
              later_fragment = (rd16 (b + off + 2) & 0xfff8u) != 0;
            }
          else
            break;
          nh = b[off];
          off += hl;
        }
    }
  q->proto = nh;
  if ((nh == EMBER_IPPROTO_TCP || nh == EMBER_IPPROTO_UDP) && !later_fragment && off + 4 <= len)
    {
      q->has_ports = TRUE;
      q->sport = rd16 (b + off);
      q->dport = rd16 (b + off + 2);
    }
  return TRUE;
}

static gboolean
client_owns (const EmberGatewayClient *c, guint version, const guint8 *addr)
{
  if (version == 4)
    return c->has_ipv4 && memcmp (addr, c->ipv4, 4) == 0;
  return c->has_ipv6 && memcmp (addr, c->ipv6, 16) == 0;
}

/* Whether traffic between `c` and `resource_addr` (its port on the
 * resource's side: the destination port going out, the source port
 * coming back) is allowed. */
static gboolean
allowed (const EmberGatewayClient *c, guint version, const guint8 *resource_addr,
         guint proto, gboolean has_port, guint16 port)
{
  const Rule *rule = ember_gateway_rules_lookup (&c->rules, (guint8) version, resource_addr);

  return rule && ember_gateway_rule_allows (rule, proto_class (version, proto), has_port, port);
}

/* An ICMP error (PMTU, unreachable) about a packet between `c` and a
 * resource passes when that packet would. `quoted_from_client`: the
 * quoted packet was sent by the client (an error coming back to it). */
static gboolean
icmp_error_allowed (const EmberGatewayClient *c, const EmberIpPacket *pkt,
                    gboolean quoted_from_client)
{
  gsize len;
  const guint8 *b = ember_ip_packet_payload (pkt, &len);
  guint v = ember_ip_packet_version (pkt);
  Quoted q;

  if (!b || !parse_quoted (v, b, len, &q))
    return FALSE;
  if (quoted_from_client)
    return client_owns (c, v, q.src) && allowed (c, v, q.dst, q.proto, q.has_ports, q.dport);
  return client_owns (c, v, q.dst) && allowed (c, v, q.src, q.proto, q.has_ports, q.sport);
}

static gboolean
packet_port (const EmberIpPacket *pkt, gboolean source, guint16 *port)
{
  if (source)
    return ember_ip_packet_get_source_port (pkt, port) == EMBER_PACKET_OK;
  return ember_ip_packet_get_destination_port (pkt, port) == EMBER_PACKET_OK;
}

static void
queue_prohibited (EmberGatewayPolicy *policy, gint64 now, EmberGatewayClient *c,
                  const EmberIpPacket *pkt)
{
  IcmpSlot *slot;
  EmberIpPacket out;
  EmberAddr from;

  if (ember_ip_packet_is_icmp_error (pkt))
    return; /* RFC 1122 §3.2.2, RFC 4443 §2.4(e): never answer an error */
  /* Token bucket: EMBER_GATEWAY_TOKEN per answer, now in µs. */
  if (now > c->icmp_refilled)
    {
      gint64 cap = (gint64) EMBER_GATEWAY_ICMP_BURST * EMBER_GATEWAY_TOKEN;
      gint64 dt = MIN (now - c->icmp_refilled, cap);

      c->icmp_tokens = MIN (cap, c->icmp_tokens + dt * EMBER_GATEWAY_ICMP_PER_SECOND);
      c->icmp_refilled = now;
    }
  if (c->icmp_tokens < EMBER_GATEWAY_TOKEN || policy->icmp_len == EMBER_GATEWAY_ICMP_QUEUE)
    {
      policy->counters.icmp_rate_limited++;
      return;
    }
  slot = &policy->icmp[(policy->icmp_head + policy->icmp_len) % EMBER_GATEWAY_ICMP_QUEUE];
  /* From the gateway, the router that refused it (RFC 1812 §4.3.2.4);
   * without an address of that family, from the address tried. */
  from = policy->own[ember_ip_packet_version (pkt) == 4 ? 0 : 1];
  if (from.family == EMBER_ADDR_NONE)
    ember_ip_packet_get_destination (pkt, &from);
  if (ember_ip_packet_build_icmp_unreachable (&out, slot->data, sizeof slot->data, 0, pkt,
                                              &from, EMBER_ICMP_UNREACH_PROHIBITED) !=
      EMBER_PACKET_OK)
    return;
  c->icmp_tokens -= EMBER_GATEWAY_TOKEN;
  slot->client = c;
  slot->len = ember_ip_packet_len (&out);
  policy->icmp_len++;
  policy->counters.icmp_sent++;
}

static EmberGatewayVerdict
drop (EmberGatewayPolicy *policy, EmberGatewayDropReason why, EmberGatewayDropReason *reason)
{
  policy->counters.dropped[why]++;
  if (reason)
    *reason = why;
  return EMBER_GATEWAY_VERDICT_DROP;
}

EmberGatewayVerdict
ember_gateway_policy_from_client (EmberGatewayPolicy *policy, gint64 now,
                                  EmberGatewayClient *client, const EmberIpPacket *pkt,
                                  EmberGatewayDropReason *reason)
{
  const guint8 *data = ember_ip_packet_data (pkt);
  guint v = ember_ip_packet_version (pkt);
  guint proto = ember_ip_packet_protocol (pkt);
  const guint8 *src = data + (v == 4 ? EMBER_IPV4_OFF_SRC : EMBER_IPV6_OFF_SRC);
  const guint8 *dst = data + (v == 4 ? EMBER_IPV4_OFF_DST : EMBER_IPV6_OFF_DST);
  const Rule *rule;
  ProtoClass pc;
  guint16 port = 0;
  gboolean has_port, ok;

  if (G_UNLIKELY (now >= policy->next_expiry))
    ember_gateway_policy_expire (policy, now);

  /* 1. No spoofing: the source is this client's own tunnel address. */
  if (!client_owns (client, v, src))
    return drop (policy, EMBER_GATEWAY_DROP_SPOOFED, reason);

  /* 2. The destination lies in a resource the client is authorized for. */
  rule = ember_gateway_rules_lookup (&client->rules, (guint8) v, dst);
  if (!rule)
    {
      queue_prohibited (policy, now, client, pkt);
      return drop (policy, EMBER_GATEWAY_DROP_NOT_AUTHORIZED, reason);
    }

  /* 3. Protocol and port pass the filters. */
  pc = proto_class (v, proto);
  has_port = packet_port (pkt, FALSE, &port);
  ok = ember_gateway_rule_allows (rule, pc, has_port, port);
  if (!ok && pc == PROTO_ICMP && ember_ip_packet_is_icmp_error (pkt))
    /* The client's kernel answering traffic it received (e.g. a PMTU
     * error): allowed when the quoted packet was. */
    ok = icmp_error_allowed (client, pkt, FALSE);
  if (!ok)
    {
      queue_prohibited (policy, now, client, pkt);
      return drop (policy, EMBER_GATEWAY_DROP_FILTERED, reason);
    }
  policy->counters.forwarded_to_network++;
  return EMBER_GATEWAY_VERDICT_FORWARD;
}

EmberGatewayVerdict
ember_gateway_policy_from_client_bytes (EmberGatewayPolicy *policy, gint64 now,
                                        EmberGatewayClient *client, guint8 *buf, gsize len,
                                        EmberGatewayDropReason *reason)
{
  EmberIpPacket pkt;

  if (ember_ip_packet_parse (&pkt, buf, len, 0, len) != EMBER_PACKET_OK)
    return drop (policy, EMBER_GATEWAY_DROP_MALFORMED, reason);
  return ember_gateway_policy_from_client (policy, now, client, &pkt, reason);
}

EmberGatewayVerdict
ember_gateway_policy_from_network (EmberGatewayPolicy *policy, gint64 now,
                                   const EmberIpPacket *pkt, EmberGatewayClient **client,
                                   EmberGatewayDropReason *reason)
{
  const guint8 *data = ember_ip_packet_data (pkt);
  guint v = ember_ip_packet_version (pkt);
  const guint8 *src = data + (v == 4 ? EMBER_IPV4_OFF_SRC : EMBER_IPV6_OFF_SRC);
  const guint8 *dst = data + (v == 4 ? EMBER_IPV4_OFF_DST : EMBER_IPV6_OFF_DST);
  EmberGatewayClient *c;
  guint16 port = 0;
  gboolean ok;

  *client = NULL;
  if (G_UNLIKELY (now >= policy->next_expiry))
    ember_gateway_policy_expire (policy, now);

  /* The destination names exactly one client: the address table has one
   * owner per address, released the moment the client loses its last
   * authorization. */
  if (v == 4)
    c = g_hash_table_lookup (policy->by_ipv4,
                             GUINT_TO_POINTER ((guint32) dst[0] << 24 | (guint32) dst[1] << 16 |
                                               (guint32) dst[2] << 8 | dst[3]));
  else
    c = g_hash_table_lookup (policy->by_ipv6, dst);
  if (!c)
    return drop (policy, EMBER_GATEWAY_DROP_REPLY_NO_CLIENT, reason);

  if (ember_ip_packet_is_icmp_error (pkt))
    /* From the resource or a router on the way: about a packet the
     * client sent, which must have been allowed. */
    ok = icmp_error_allowed (c, pkt, TRUE);
  else
    {
      gboolean has_port = packet_port (pkt, TRUE, &port);

      ok = allowed (c, v, src, ember_ip_packet_protocol (pkt), has_port, port);
    }
  if (!ok)
    return drop (policy, EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED, reason);
  policy->counters.forwarded_to_client++;
  *client = c;
  return EMBER_GATEWAY_VERDICT_FORWARD;
}

gsize
ember_gateway_policy_poll_packet_to_client (EmberGatewayPolicy *policy, guint8 *buf, gsize cap,
                                            EmberGatewayClient **client)
{
  while (policy->icmp_len > 0)
    {
      IcmpSlot *slot = &policy->icmp[policy->icmp_head];
      gsize len = slot->len;

      g_return_val_if_fail (cap >= len, 0);
      policy->icmp_head = (policy->icmp_head + 1) % EMBER_GATEWAY_ICMP_QUEUE;
      policy->icmp_len--;
      if (!slot->client)
        continue;
      memcpy (buf, slot->data, len);
      *client = slot->client;
      return len;
    }
  *client = NULL;
  return 0;
}
