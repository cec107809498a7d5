/* build — packet builders: UDP, ICMP echo and ICMP errors, IPv4 and IPv6.
 * Each writes a complete packet with correct checksums into a caller
 * buffer and parses it back, so the caller gets a ready view. */
#include "packet/packet-private.h"

#define BUILD_TTL 64

static gsize
ip_header_len (guint family)
{
  return family == EMBER_ADDR_IPV4 ? EMBER_IPV4_HEADER_MIN : EMBER_IPV6_HEADER_LEN;
}

/* Writes the IP header for `l4_len` bytes of `proto`. */
static void
write_ip_header (guint8 *d, guint family, guint proto, const guint8 *src, const guint8 *dst,
                 gsize l4_len)
{
  if (family == EMBER_ADDR_IPV4)
    {
      memset (d, 0, EMBER_IPV4_HEADER_MIN);
      d[EMBER_IPV4_OFF_VER_IHL] = 0x45;
      ember_wr16 (d + EMBER_IPV4_OFF_TOTAL_LEN, (guint16) (EMBER_IPV4_HEADER_MIN + l4_len));
      /* RFC 6864 §4.1: with DF set the identification may be zero. */
      ember_wr16 (d + EMBER_IPV4_OFF_FLAGS_FRAG, EMBER_IPV4_FLAG_DF);
      d[EMBER_IPV4_OFF_TTL] = BUILD_TTL;
      d[EMBER_IPV4_OFF_PROTO] = (guint8) proto;
      memcpy (d + EMBER_IPV4_OFF_SRC, src, EMBER_IPV4_ADDR_LEN);
      memcpy (d + EMBER_IPV4_OFF_DST, dst, EMBER_IPV4_ADDR_LEN);
      ember_wr16 (d + EMBER_IPV4_OFF_CHECKSUM,
                  ember_checksum_finish (ember_checksum_add (0, d, EMBER_IPV4_HEADER_MIN)));
    }
  else
    {
      memset (d, 0, EMBER_IPV6_HEADER_LEN);
      d[0] = 0x60;
      ember_wr16 (d + EMBER_IPV6_OFF_PAYLOAD_LEN, (guint16) l4_len);
      d[EMBER_IPV6_OFF_NEXT_HEADER] = (guint8) proto;
      d[EMBER_IPV6_OFF_HOP_LIMIT] = BUILD_TTL;
      memcpy (d + EMBER_IPV6_OFF_SRC, src, EMBER_IPV6_ADDR_LEN);
      memcpy (d + EMBER_IPV6_OFF_DST, dst, EMBER_IPV6_ADDR_LEN);
    }
}

static gboolean
family_ok (guint family)
{
  return family == EMBER_ADDR_IPV4 || family == EMBER_ADDR_IPV6;
}

/* Checks room, writes the IP header, leaves the L4 part to the caller. */
static EmberPacketResult
begin (guint8 *buf, gsize cap, gsize off, guint family, guint proto, const guint8 *src,
       const guint8 *dst, gsize l4_len, guint8 **l4)
{
  gsize hl = ip_header_len (family);

  if (hl + l4_len > EMBER_PACKET_MTU || off > cap || hl + l4_len > cap - off)
    return EMBER_PACKET_ERR_NO_SPACE;
  write_ip_header (buf + off, family, proto, src, dst, l4_len);
  *l4 = buf + off + hl;
  return EMBER_PACKET_OK;
}

static EmberPacketResult
finish (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off, guint family, guint proto,
        gsize l4_len)
{
  guint8 *d = buf + off;
  guint8 *l4 = d + ip_header_len (family);
  int co = ember_l4_checksum_offset (family, proto);

  ember_wr16 (l4 + co, ember_l4_checksum_compute (d, family, proto, l4, l4_len));
  return ember_ip_packet_parse (pkt, buf, cap, off, ip_header_len (family) + l4_len);
}

EmberPacketResult
ember_ip_packet_build_udp (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off,
                           const EmberAddr *src, const EmberAddr *dst, const guint8 *payload,
                           gsize payload_len)
{
  gsize l4_len = EMBER_UDP_HEADER_LEN + payload_len;
  EmberPacketResult r;
  guint8 *l4;

  if (src->family != dst->family || !family_ok (src->family))
    return EMBER_PACKET_ERR_ADDRESS;
  r = begin (buf, cap, off, src->family, EMBER_IPPROTO_UDP, src->addr, dst->addr, l4_len, &l4);
  if (r != EMBER_PACKET_OK)
    return r;
  ember_wr16 (l4 + EMBER_UDP_OFF_SRC_PORT, src->port);
  ember_wr16 (l4 + EMBER_UDP_OFF_DST_PORT, dst->port);
  ember_wr16 (l4 + EMBER_UDP_OFF_LEN, (guint16) l4_len);
  ember_wr16 (l4 + EMBER_UDP_OFF_CHECKSUM, 0);
  if (payload_len > 0)
    memmove (l4 + EMBER_UDP_HEADER_LEN, payload, payload_len);
  return finish (pkt, buf, cap, off, src->family, EMBER_IPPROTO_UDP, l4_len);
}

EmberPacketResult
ember_ip_packet_build_icmp_echo (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off,
                                 const EmberAddr *src, const EmberAddr *dst, gboolean reply,
                                 guint16 id, guint16 seq, const guint8 *payload,
                                 gsize payload_len)
{
  gsize l4_len = EMBER_ICMP_HEADER_LEN + payload_len;
  gboolean v4 = src->family == EMBER_ADDR_IPV4;
  guint proto = v4 ? EMBER_IPPROTO_ICMP : EMBER_IPPROTO_ICMPV6;
  EmberPacketResult r;
  guint8 *l4;

  if (src->family != dst->family || !family_ok (src->family))
    return EMBER_PACKET_ERR_ADDRESS;
  r = begin (buf, cap, off, src->family, proto, src->addr, dst->addr, l4_len, &l4);
  if (r != EMBER_PACKET_OK)
    return r;
  if (v4)
    l4[EMBER_ICMP_OFF_TYPE] = reply ? EMBER_ICMPV4_ECHO_REPLY : EMBER_ICMPV4_ECHO_REQUEST;
  else
    l4[EMBER_ICMP_OFF_TYPE] = reply ? EMBER_ICMPV6_ECHO_REPLY : EMBER_ICMPV6_ECHO_REQUEST;
  l4[EMBER_ICMP_OFF_CODE] = 0;
  ember_wr16 (l4 + EMBER_ICMP_OFF_CHECKSUM, 0);
  ember_wr16 (l4 + EMBER_ICMP_OFF_ID, id);
  ember_wr16 (l4 + EMBER_ICMP_OFF_SEQ, seq);
  if (payload_len > 0)
    memmove (l4 + EMBER_ICMP_HEADER_LEN, payload, payload_len);
  return finish (pkt, buf, cap, off, src->family, proto, l4_len);
}

/* Common part of the error builders: `rest` is bytes 4..7 of the ICMP
 * header (unused / MTU). */
static EmberPacketResult
build_error (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off,
             const EmberIpPacket *offending, const EmberAddr *src, guint8 type, guint8 code,
             guint32 rest)
{
  guint family = offending->version == 4 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6;
  guint proto = family == EMBER_ADDR_IPV4 ? EMBER_IPPROTO_ICMP : EMBER_IPPROTO_ICMPV6;
  gsize hl = ip_header_len (family);
  gsize limit = family == EMBER_ADDR_IPV4 ? EMBER_ICMPV4_ERROR_MAX : EMBER_ICMPV6_ERROR_MAX;
  gsize quote, room, min_quote;
  const guint8 *od = ember_ip_packet_data (offending);
  guint8 dst[16];
  guint8 *l4;

  if (src->family != family)
    return EMBER_PACKET_ERR_ADDRESS;
  /* RFC 1122 §3.2.2 / RFC 4443 §2.4(e): never an error about an error,
   * nor about a non-first fragment. */
  if (ember_ip_packet_is_icmp_error (offending))
    return EMBER_PACKET_ERR_PROTOCOL;
  if (offending->frag == EMBER_IP_FRAG_LATER)
    return EMBER_PACKET_ERR_FRAGMENT;

  if (off > cap)
    return EMBER_PACKET_ERR_NO_SPACE;
  room = MIN (cap - off, limit);
  if (room < hl + EMBER_ICMP_HEADER_LEN)
    return EMBER_PACKET_ERR_NO_SPACE;
  quote = MIN (offending->len, room - hl - EMBER_ICMP_HEADER_LEN);
  /* RFC 792: at least the IP header and 64 bits of the datagram. */
  min_quote = MIN (offending->len, (gsize) offending->l4_off + 8);
  if (quote < min_quote)
    return EMBER_PACKET_ERR_NO_SPACE;

  /* Take the destination before moving the quote, so that building the
   * error over the offending packet's own buffer works too. */
  memcpy (dst, od + (family == EMBER_ADDR_IPV4 ? EMBER_IPV4_OFF_SRC : EMBER_IPV6_OFF_SRC),
          family == EMBER_ADDR_IPV4 ? EMBER_IPV4_ADDR_LEN : EMBER_IPV6_ADDR_LEN);
  l4 = buf + off + hl;
  memmove (l4 + EMBER_ICMP_HEADER_LEN, od, quote);
  write_ip_header (buf + off, family, proto, src->addr, dst, EMBER_ICMP_HEADER_LEN + quote);
  l4[EMBER_ICMP_OFF_TYPE] = type;
  l4[EMBER_ICMP_OFF_CODE] = code;
  ember_wr16 (l4 + EMBER_ICMP_OFF_CHECKSUM, 0);
  ember_wr32 (l4 + 4, rest);
  return finish (pkt, buf, cap, off, family, proto, EMBER_ICMP_HEADER_LEN + quote);
}

EmberPacketResult
ember_ip_packet_build_icmp_unreachable (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off,
                                        const EmberIpPacket *offending, const EmberAddr *src,
                                        EmberIcmpUnreachable why)
{
  static const guint8 v4_codes[] = {
    [EMBER_ICMP_UNREACH_NO_ROUTE] = EMBER_ICMPV4_UNREACH_NET,
    [EMBER_ICMP_UNREACH_HOST] = EMBER_ICMPV4_UNREACH_HOST,
    [EMBER_ICMP_UNREACH_PORT] = EMBER_ICMPV4_UNREACH_PORT,
    [EMBER_ICMP_UNREACH_PROHIBITED] = EMBER_ICMPV4_UNREACH_ADMIN_PROHIBITED,
  };
  static const guint8 v6_codes[] = {
    [EMBER_ICMP_UNREACH_NO_ROUTE] = EMBER_ICMPV6_UNREACH_NO_ROUTE,
    [EMBER_ICMP_UNREACH_HOST] = EMBER_ICMPV6_UNREACH_ADDRESS,
    [EMBER_ICMP_UNREACH_PORT] = EMBER_ICMPV6_UNREACH_PORT,
    [EMBER_ICMP_UNREACH_PROHIBITED] = EMBER_ICMPV6_UNREACH_PROHIBITED,
  };

  g_return_val_if_fail ((guint) why < G_N_ELEMENTS (v4_codes), EMBER_PACKET_ERR_PROTOCOL);
  if (offending->version == 4)
    return build_error (pkt, buf, cap, off, offending, src, EMBER_ICMPV4_DEST_UNREACH,
                        v4_codes[why], 0);
  return build_error (pkt, buf, cap, off, offending, src, EMBER_ICMPV6_DEST_UNREACH,
                      v6_codes[why], 0);
}

EmberPacketResult
ember_ip_packet_build_packet_too_big (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off,
                                      const EmberIpPacket *offending, const EmberAddr *src,
                                      guint32 mtu)
{
  if (offending->version == 4)
    /* RFC 1191 §4: next-hop MTU in the low 16 bits of the second word. */
    return build_error (pkt, buf, cap, off, offending, src, EMBER_ICMPV4_DEST_UNREACH,
                        EMBER_ICMPV4_UNREACH_FRAG_NEEDED, MIN (mtu, 0xffffu));
  return build_error (pkt, buf, cap, off, offending, src, EMBER_ICMPV6_PACKET_TOO_BIG, 0, mtu);
}
