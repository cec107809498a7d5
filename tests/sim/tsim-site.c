/* tsim/site — the packets of the tunnel simulator: the client's traffic
 * (ICMP echo, UDP, TCP SYN, each carrying its id), the resource networks
 * behind the gateways that answer it, the leak check against the
 * gateways' ground truth, and the outcome of every packet as the
 * client's TUN sees it. */
#include "tsim-private.h"

#include <string.h>

#define TCP_SYN 0x02
#define TCP_ACK 0x10

static void
put16 (guint8 *p, guint v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static void
put32 (guint8 *p, guint32 v)
{
  put16 (p, v >> 16);
  put16 (p + 2, v & 0xffff);
}

static guint
get16 (const guint8 *p)
{
  return ((guint) p[0] << 8) | p[1];
}

static guint32
get32 (const guint8 *p)
{
  return ((guint32) get16 (p) << 16) | get16 (p + 2);
}

/* A TCP segment with only flags, seq and ack, from src to dst. */
static gboolean
build_tcp (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off, const EmberAddr *src,
           const EmberAddr *dst, guint flags, guint32 seq, guint32 ack)
{
  gboolean v6 = src->family == EMBER_ADDR_IPV6;
  gsize ip = v6 ? 40 : 20, len = ip + 20;
  if (off + len > cap)
    return FALSE;
  guint8 *p = buf + off;
  memset (p, 0, len);
  if (v6)
    {
      p[0] = 0x60;
      put16 (p + 4, 20);
      p[6] = EMBER_IPPROTO_TCP;
      p[7] = 64;
      memcpy (p + 8, src->addr, 16);
      memcpy (p + 24, dst->addr, 16);
    }
  else
    {
      p[0] = 0x45;
      put16 (p + 2, (guint) len);
      put16 (p + 6, EMBER_IPV4_FLAG_DF);
      p[8] = 64;
      p[9] = EMBER_IPPROTO_TCP;
      memcpy (p + 12, src->addr, 4);
      memcpy (p + 16, dst->addr, 4);
    }
  guint8 *t = p + ip;
  put16 (t, src->port);
  put16 (t + 2, dst->port);
  put32 (t + 4, seq);
  put32 (t + 8, ack);
  t[12] = 5 << 4;
  t[13] = (guint8) flags;
  put16 (t + 14, 65535);
  if (ember_ip_packet_parse (pkt, buf, cap, off, len) != EMBER_PACKET_OK)
    return FALSE;
  ember_ip_packet_update_checksums (pkt);
  return TRUE;
}

/* Which of our packets this is (a request, a reply, or the packet an
 * ICMP error quotes): its id, or 0. */
static guint
packet_id (const guint8 *p, gsize len, gboolean reply)
{
  if (len < 20)
    return 0;
  guint version = p[0] >> 4;
  gsize ip;
  guint proto;
  if (version == 4)
    {
      ip = (gsize) (p[0] & 0x0f) * 4;
      proto = p[9];
    }
  else if (version == 6 && len >= 40)
    {
      ip = 40;
      proto = p[6];
    }
  else
    return 0;
  if (len < ip + 8)
    return 0;
  const guint8 *l4 = p + ip;
  switch (proto)
    {
    case EMBER_IPPROTO_ICMP:
    case EMBER_IPPROTO_ICMPV6:
      return (get16 (l4 + 4) << 16) | get16 (l4 + 6);
    case EMBER_IPPROTO_UDP:
      return len >= ip + 12 ? get32 (l4 + 8) : 0;
    case EMBER_IPPROTO_TCP:
      if (len < ip + 12)
        return 0;
      return reply ? get32 (l4 + 8) - 1 : get32 (l4 + 4);
    }
  return 0;
}

static guint
record (TSim *sim, TSimProto proto)
{
  g_assert_cmpuint (sim->n_packets, <, TSIM_MAX_PACKETS - 1);
  guint id = ++sim->n_packets;
  PacketRecord *r = &sim->packets[id];
  memset (r, 0, sizeof *r);
  r->sent = sim->w->now;
  r->proto = proto;
  return id;
}

static guint
send_from (TSim *sim, TSimProto proto, const EmberAddr *src_in, const char *dst_ip, guint16 port)
{
  EmberAddr dst, src = *src_in;
  g_assert_true (ember_addr_parse (dst_ip, &dst, NULL));
  guint id = record (sim, proto);
  guint8 buf[EMBER_PACKET_BUF_SIZE + 64];
  gsize off = EMBER_WG_HEADROOM;
  EmberIpPacket pkt;
  guint8 payload[4];
  put32 (payload, id);
  switch (proto)
    {
    case TSIM_ICMP:
      g_assert_cmpint (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, off, &src, &dst, FALSE,
                                                        (guint16) (id >> 16), (guint16) id, payload, 4),
                       ==, EMBER_PACKET_OK);
      break;
    case TSIM_UDP:
      src.port = (guint16) (20000 + id % 40000);
      dst.port = port;
      g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, off, &src, &dst, payload, 4),
                       ==, EMBER_PACKET_OK);
      break;
    case TSIM_TCP:
      src.port = (guint16) (20000 + id % 40000);
      dst.port = port;
      g_assert_true (build_tcp (&pkt, buf, sizeof buf, off, &src, &dst, TCP_SYN, id, 0));
      break;
    }
  tsim_client_tun_send (sim, buf, sizeof buf, off, ember_ip_packet_len (&pkt));
  return id;
}

guint
tsim_send (TSim *sim, TSimProto proto, const char *dst, guint16 port)
{
  return send_from (sim, proto, strchr (dst, ':') != NULL ? &sim->tun6 : &sim->tun4, dst, port);
}

guint
tsim_send_spoofed (TSim *sim, const char *src, const char *dst)
{
  EmberAddr s;
  g_assert_true (ember_addr_parse (src, &s, NULL));
  return send_from (sim, TSIM_ICMP, &s, dst, 0);
}

TSimOutcome
tsim_outcome (const TSim *sim, guint id, gint64 *at)
{
  g_assert_cmpuint (id, <=, sim->n_packets);
  if (at != NULL)
    *at = sim->packets[id].outcome_at;
  return sim->packets[id].outcome;
}

gint64
tsim_reached (const TSim *sim, guint id)
{
  g_assert_cmpuint (id, <=, sim->n_packets);
  return sim->packets[id].reached;
}

const char *
tsim_outcome_to_string (TSimOutcome outcome)
{
  switch (outcome)
    {
    case TSIM_PENDING: return "pending";
    case TSIM_ANSWERED: return "answered";
    case TSIM_PROHIBITED: return "prohibited";
    case TSIM_NO_ROUTE: return "no-route";
    case TSIM_OTHER_ICMP: return "other-icmp";
    }
  return "?";
}

/* ---- the resource networks ------------------------------------------------ */

/* Whether the gateway of `site` was told, as of now, that the client may
 * send this packet there. */
static gboolean
permitted (TSim *sim, guint site, const EmberAddr *dst, guint proto, guint16 port,
           gboolean *in_resource)
{
  *in_resource = FALSE;
  for (guint r = 0; r < TSIM_N_RES; r++)
    {
      if (tsim_res_site (r) != site)
        continue;
      EmberCidr c[2];
      guint n = tsim_res_cidrs (r, c);
      gboolean in = FALSE;
      for (guint i = 0; i < n; i++)
        in = in || ember_cidr_contains_addr (&c[i], dst);
      if (!in)
        continue;
      *in_resource = TRUE;
      const TruthAuth *t = &sim->truth[site][r];
      if (t->active && sim->w->now < t->expires && tsim_filters_allow (t->filters, proto, port))
        return TRUE;
    }
  return FALSE;
}

static void
leak (TSim *sim, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
leak (TSim *sim, const char *fmt, ...)
{
  if (sim->leaks++ > 0)
    return;
  va_list ap;
  va_start (ap, fmt);
  g_vsnprintf (sim->leak_what, sizeof sim->leak_what, fmt, ap);
  va_end (ap);
}

void
tsim_site_receive (TSim *sim, guint site, const guint8 *data, gsize len)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE + 64];
  if (len > EMBER_PACKET_MTU)
    return;
  memcpy (buf + EMBER_WG_HEADROOM, data, len);
  EmberIpPacket pkt;
  if (ember_ip_packet_parse (&pkt, buf, sizeof buf, EMBER_WG_HEADROOM, len) != EMBER_PACKET_OK)
    {
      leak (sim, "site %u got a malformed packet", site);
      return;
    }
  sim->site_packets++;
  EmberAddr src, dst;
  ember_ip_packet_get_source (&pkt, &src);
  ember_ip_packet_get_destination (&pkt, &dst);
  guint proto = ember_ip_packet_protocol (&pkt);
  guint16 port = 0;
  ember_ip_packet_get_destination_port (&pkt, &port);
  guint id = packet_id (ember_ip_packet_data (&pkt), len, FALSE);
  char a[EMBER_ADDR_STRLEN], b[EMBER_ADDR_STRLEN];
  const EmberAddr *self = src.family == EMBER_ADDR_IPV4 ? &sim->tun4 : &sim->tun6;
  gboolean in_resource;
  if (!ember_ice_addr_same_ip (&src, self))
    leak (sim, "%.3f s: site %u got a spoofed packet from %s to %s", (double) sim->w->now / 1e6, site,
          ember_addr_format (&src, a), ember_addr_format (&dst, b));
  else if (!permitted (sim, site, &dst, proto, port, &in_resource))
    leak (sim, "%.3f s: site %u got packet %u to %s proto %u port %u (%s)", (double) sim->w->now / 1e6,
          site, id, ember_addr_format (&dst, b), proto, port,
          in_resource ? "not authorized at the gateway now" : "in no resource of the site");
  if (id > 0 && id <= sim->n_packets && sim->packets[id].reached == 0)
    sim->packets[id].reached = sim->w->now;

  /* The host answers. */
  guint8 out[EMBER_PACKET_BUF_SIZE + 64];
  gsize off = EMBER_WG_HEADROOM;
  EmberIpPacket reply;
  EmberPacketResult res;
  gsize plen;
  const guint8 *payload = ember_ip_packet_payload (&pkt, &plen);
  switch (proto)
    {
    case EMBER_IPPROTO_ICMP:
    case EMBER_IPPROTO_ICMPV6:
      if (!ember_ip_packet_is_icmp_echo (&pkt))
        return;
      res = ember_ip_packet_build_icmp_echo (&reply, out, sizeof out, off, &dst, &src, TRUE,
                                             ember_ip_packet_get_icmp_identifier (&pkt),
                                             ember_ip_packet_get_icmp_sequence (&pkt), payload, plen);
      break;
    case EMBER_IPPROTO_UDP:
      {
        EmberAddr s = dst, d = src;
        ember_ip_packet_get_destination_port (&pkt, &s.port);
        ember_ip_packet_get_source_port (&pkt, &d.port);
        res = ember_ip_packet_build_udp (&reply, out, sizeof out, off, &s, &d, payload, plen);
        break;
      }
    case EMBER_IPPROTO_TCP:
      {
        EmberAddr s = dst, d = src;
        ember_ip_packet_get_destination_port (&pkt, &s.port);
        ember_ip_packet_get_source_port (&pkt, &d.port);
        guint32 seq = get32 (ember_ip_packet_data (&pkt) + pkt.l4_off + 4);
        res = build_tcp (&reply, out, sizeof out, off, &s, &d, TCP_SYN | TCP_ACK, 7, seq + 1)
                  ? EMBER_PACKET_OK : EMBER_PACKET_ERR_NO_SPACE;
        break;
      }
    default:
      return;
    }
  if (res == EMBER_PACKET_OK && sim->gw[site] != NULL)
    tsim_gateway_from_network (sim->gw[site], out, sizeof out, off, ember_ip_packet_len (&reply));
}

/* ---- the client's TUN -------------------------------------------------------- */

void
tsim_tun_receive (TSim *sim, const guint8 *data, gsize len)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE + 64];
  if (len > EMBER_PACKET_BUF_SIZE)
    return;
  memcpy (buf, data, len);
  EmberIpPacket pkt;
  if (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len) != EMBER_PACKET_OK)
    return;
  TSimOutcome outcome = TSIM_ANSWERED;
  guint id;
  if (ember_ip_packet_is_icmp_error (&pkt))
    {
      guint8 type, code;
      ember_ip_packet_icmp_type (&pkt, &type, &code);
      gboolean v4 = ember_ip_packet_version (&pkt) == 4;
      if ((v4 && type == EMBER_ICMPV4_DEST_UNREACH
           && (code == EMBER_ICMPV4_UNREACH_ADMIN_PROHIBITED || code == EMBER_ICMPV4_UNREACH_HOST_PROHIBITED))
          || (!v4 && type == EMBER_ICMPV6_DEST_UNREACH && code == EMBER_ICMPV6_UNREACH_PROHIBITED))
        outcome = TSIM_PROHIBITED;
      else if ((v4 && type == EMBER_ICMPV4_DEST_UNREACH && code == EMBER_ICMPV4_UNREACH_NET)
               || (!v4 && type == EMBER_ICMPV6_DEST_UNREACH && code == EMBER_ICMPV6_UNREACH_NO_ROUTE))
        outcome = TSIM_NO_ROUTE;
      else
        outcome = TSIM_OTHER_ICMP;
      gsize qlen;
      const guint8 *quoted = ember_ip_packet_payload (&pkt, &qlen);
      id = quoted != NULL ? packet_id (quoted, qlen, FALSE) : 0;
    }
  else
    id = packet_id (ember_ip_packet_data (&pkt), len, TRUE);
  if (id == 0 || id > sim->n_packets)
    return;
  PacketRecord *r = &sim->packets[id];
  if (r->outcome != TSIM_PENDING)
    return;
  r->outcome = outcome;
  r->outcome_at = sim->w->now;
}
