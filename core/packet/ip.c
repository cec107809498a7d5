/* ip — parsing and the IP-layer half of EmberIpPacket: validation,
 * IPv6 extension headers, addresses, TTL, checksum verify/recompute. */
#include "packet/packet-private.h"

const char *
ember_packet_result_to_string (EmberPacketResult result)
{
  switch (result)
    {
    case EMBER_PACKET_OK: return "ok";
    case EMBER_PACKET_ERR_TRUNCATED: return "truncated";
    case EMBER_PACKET_ERR_VERSION: return "bad IP version";
    case EMBER_PACKET_ERR_HEADER_LENGTH: return "bad IPv4 header length";
    case EMBER_PACKET_ERR_TOTAL_LENGTH: return "IP length does not match the buffer";
    case EMBER_PACKET_ERR_EXT_HEADER: return "malformed IPv6 extension header";
    case EMBER_PACKET_ERR_L4_LENGTH: return "bad UDP/TCP/ICMP length";
    case EMBER_PACKET_ERR_FRAGMENT: return "fragmented packet";
    case EMBER_PACKET_ERR_PROTOCOL: return "wrong protocol for this operation";
    case EMBER_PACKET_ERR_CHECKSUM: return "bad checksum";
    case EMBER_PACKET_ERR_NO_SPACE: return "buffer too small";
    case EMBER_PACKET_ERR_ADDRESS: return "bad address";
    case EMBER_PACKET_ERR_UNTRANSLATABLE: return "not translatable";
    }
  return "unknown packet error";
}

static EmberPacketResult
walk_v6_extensions (const guint8 *d, gsize limit, EmberIpHeaderInfo *out)
{
  guint nh = d[EMBER_IPV6_OFF_NEXT_HEADER];
  gsize pos = EMBER_IPV6_HEADER_LEN;
  gboolean first = TRUE;

  /* Every extension header is at least 8 bytes, so the walk ends within
   * limit / 8 steps. */
  for (;;)
    {
      gsize hl;

      switch (nh)
        {
        case EMBER_IPPROTO_HOPOPTS:
          /* RFC 8200 §4.1: hop-by-hop options only right after the header. */
          if (!first)
            return EMBER_PACKET_ERR_EXT_HEADER;
          G_GNUC_FALLTHROUGH;
        case EMBER_IPPROTO_ROUTING:
        case EMBER_IPPROTO_DSTOPTS:
          if (pos + 2 > limit)
            return EMBER_PACKET_ERR_TRUNCATED;
          hl = ((gsize) d[pos + 1] + 1) * 8;  /* RFC 8200 §4.3: 8-octet units, minus the first */
          break;
        case EMBER_IPPROTO_AH:
          if (pos + 2 > limit)
            return EMBER_PACKET_ERR_TRUNCATED;
          hl = ((gsize) d[pos + 1] + 2) * 4;  /* RFC 4302 §2.2: 4-octet units, minus 2 */
          if (hl < 12)
            return EMBER_PACKET_ERR_EXT_HEADER;
          break;
        case EMBER_IPPROTO_FRAGMENT:
          {
            guint16 fo;

            if (pos + EMBER_IPV6_FRAG_HEADER_LEN > limit)
              return EMBER_PACKET_ERR_TRUNCATED;
            if (out->has_frag_header)
              return EMBER_PACKET_ERR_EXT_HEADER;
            out->has_frag_header = TRUE;
            fo = ember_rd16 (d + pos + 2);
            if ((fo & 0xfff8u) != 0)
              out->frag = EMBER_IP_FRAG_LATER;
            else if (fo & 1u)
              out->frag = EMBER_IP_FRAG_FIRST;
            /* else an atomic fragment (RFC 6946): a whole packet. */
            hl = EMBER_IPV6_FRAG_HEADER_LEN;
          }
          break;
        default:
          out->proto = (guint8) nh;
          out->hlen = (guint16) pos;
          return EMBER_PACKET_OK;
        }

      if (pos + hl > limit)
        return EMBER_PACKET_ERR_TRUNCATED;
      nh = d[pos];
      pos += hl;
      first = FALSE;
      if (out->frag == EMBER_IP_FRAG_LATER)
        {
          /* What follows is the middle of the fragmentable part, not a
           * header; stop and report the protocol it belongs to. */
          out->proto = (guint8) nh;
          out->hlen = (guint16) pos;
          return EMBER_PACKET_OK;
        }
    }
}

EmberPacketResult
ember_ip_header_walk (const guint8 *d, gsize avail, gboolean quoted, EmberIpHeaderInfo *out)
{
  memset (out, 0, sizeof *out);
  if (avail < 1)
    return EMBER_PACKET_ERR_TRUNCATED;
  out->version = (guint8) (d[0] >> 4);

  if (out->version == 4)
    {
      gsize ihl, total;
      guint16 ff;

      if (avail < EMBER_IPV4_HEADER_MIN)
        return EMBER_PACKET_ERR_TRUNCATED;
      ihl = (gsize) (d[0] & 0x0f) * 4;
      if (ihl < EMBER_IPV4_HEADER_MIN)
        return EMBER_PACKET_ERR_HEADER_LENGTH;
      if (ihl > avail)
        return EMBER_PACKET_ERR_TRUNCATED;
      total = ember_rd16 (d + EMBER_IPV4_OFF_TOTAL_LEN);
      if (total < ihl)
        return EMBER_PACKET_ERR_TOTAL_LENGTH;
      if (!quoted && total > avail)
        return EMBER_PACKET_ERR_TOTAL_LENGTH;
      ff = ember_rd16 (d + EMBER_IPV4_OFF_FLAGS_FRAG);
      if ((ff & EMBER_IPV4_FRAG_MASK) != 0)
        out->frag = EMBER_IP_FRAG_LATER;
      else if (ff & EMBER_IPV4_FLAG_MF)
        out->frag = EMBER_IP_FRAG_FIRST;
      out->proto = d[EMBER_IPV4_OFF_PROTO];
      out->hlen = (guint16) ihl;
      out->len = total;
      return EMBER_PACKET_OK;
    }

  if (out->version == 6)
    {
      gsize plen;

      if (avail < EMBER_IPV6_HEADER_LEN)
        return EMBER_PACKET_ERR_TRUNCATED;
      plen = ember_rd16 (d + EMBER_IPV6_OFF_PAYLOAD_LEN);
      /* A zero payload length means a jumbogram (RFC 2675): never on a
       * 1280-byte TUN, refuse it. */
      if (plen == 0 && d[EMBER_IPV6_OFF_NEXT_HEADER] == EMBER_IPPROTO_HOPOPTS)
        return EMBER_PACKET_ERR_TOTAL_LENGTH;
      out->len = EMBER_IPV6_HEADER_LEN + plen;
      if (!quoted && out->len > avail)
        return EMBER_PACKET_ERR_TOTAL_LENGTH;
      return walk_v6_extensions (d, MIN (out->len, avail), out);
    }

  return EMBER_PACKET_ERR_VERSION;
}

static EmberPacketResult
validate_l4 (const guint8 *l4, gsize remaining, guint version, guint proto, EmberIpFragment frag,
             gboolean *has_l4)
{
  *has_l4 = FALSE;
  if (frag == EMBER_IP_FRAG_LATER)
    return EMBER_PACKET_OK;

  if (proto == EMBER_IPPROTO_UDP)
    {
      gsize ulen;

      if (remaining < EMBER_UDP_HEADER_LEN)
        return EMBER_PACKET_ERR_L4_LENGTH;
      ulen = ember_rd16 (l4 + EMBER_UDP_OFF_LEN);
      if (ulen < EMBER_UDP_HEADER_LEN)
        return EMBER_PACKET_ERR_L4_LENGTH;
      /* The UDP length must cover exactly the IP payload: anything else
       * would forward bytes that no checksum covers. A first fragment
       * carries only part of the datagram. */
      if (frag == EMBER_IP_FRAG_NONE && ulen != remaining)
        return EMBER_PACKET_ERR_L4_LENGTH;
      if (frag == EMBER_IP_FRAG_FIRST && ulen < remaining)
        return EMBER_PACKET_ERR_L4_LENGTH;
    }
  else if (proto == EMBER_IPPROTO_TCP)
    {
      gsize doff;

      if (remaining < EMBER_TCP_HEADER_MIN)
        return EMBER_PACKET_ERR_L4_LENGTH;
      doff = (gsize) (l4[EMBER_TCP_OFF_DATA_OFF] >> 4) * 4;
      if (doff < EMBER_TCP_HEADER_MIN || doff > remaining)
        return EMBER_PACKET_ERR_L4_LENGTH;
    }
  else if ((version == 4 && proto == EMBER_IPPROTO_ICMP) ||
           (version == 6 && proto == EMBER_IPPROTO_ICMPV6))
    {
      if (remaining < EMBER_ICMP_HEADER_LEN)
        return EMBER_PACKET_ERR_L4_LENGTH;
    }
  else
    return EMBER_PACKET_OK;

  *has_l4 = TRUE;
  return EMBER_PACKET_OK;
}

EmberPacketResult
ember_ip_packet_parse (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off, gsize len)
{
  EmberIpHeaderInfo info;
  EmberPacketResult r;
  gboolean has_l4;

  g_return_val_if_fail (pkt != NULL, EMBER_PACKET_ERR_NO_SPACE);
  g_return_val_if_fail (buf != NULL || len == 0, EMBER_PACKET_ERR_NO_SPACE);
  g_return_val_if_fail (off <= cap && len <= cap - off, EMBER_PACKET_ERR_NO_SPACE);

  memset (pkt, 0, sizeof *pkt);
  if (buf == NULL)
    return EMBER_PACKET_ERR_TRUNCATED;
  r = ember_ip_header_walk (buf + off, len, FALSE, &info);
  if (r != EMBER_PACKET_OK)
    return r;
  r = validate_l4 (buf + off + info.hlen, info.len - info.hlen, info.version, info.proto,
                   (EmberIpFragment) info.frag, &has_l4);
  if (r != EMBER_PACKET_OK)
    return r;

  pkt->buf = buf;
  pkt->cap = cap;
  pkt->off = off;
  pkt->len = info.len;
  pkt->l4_off = info.hlen;
  pkt->version = info.version;
  pkt->proto = info.proto;
  pkt->frag = info.frag;
  pkt->has_l4 = (guint8) has_l4;
  return EMBER_PACKET_OK;
}

/* ---- addresses ---- */

static gsize
addr_offset (const EmberIpPacket *pkt, gboolean source)
{
  if (pkt->version == 4)
    return source ? EMBER_IPV4_OFF_SRC : EMBER_IPV4_OFF_DST;
  return source ? EMBER_IPV6_OFF_SRC : EMBER_IPV6_OFF_DST;
}

static gsize
addr_len (const EmberIpPacket *pkt)
{
  return pkt->version == 4 ? EMBER_IPV4_ADDR_LEN : EMBER_IPV6_ADDR_LEN;
}

static void
get_addr (const EmberIpPacket *pkt, gboolean source, EmberAddr *out)
{
  guint16 port = 0;

  memset (out, 0, sizeof *out);
  if (pkt->version != 4 && pkt->version != 6)
    return;
  out->family = pkt->version == 4 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6;
  memcpy (out->addr, ember_ip_packet_data (pkt) + addr_offset (pkt, source), addr_len (pkt));
  if (source)
    (void) ember_ip_packet_get_source_port (pkt, &port);
  else
    (void) ember_ip_packet_get_destination_port (pkt, &port);
  out->port = port;
}

void
ember_ip_packet_get_source (const EmberIpPacket *pkt, EmberAddr *out)
{
  get_addr (pkt, TRUE, out);
}

void
ember_ip_packet_get_destination (const EmberIpPacket *pkt, EmberAddr *out)
{
  get_addr (pkt, FALSE, out);
}

static EmberPacketResult
set_addr (EmberIpPacket *pkt, gboolean source, const EmberAddr *addr)
{
  guint8 *d = ember_ip_packet_data (pkt);
  guint8 *field;
  gsize n = addr_len (pkt);

  if ((pkt->version == 4 && addr->family != EMBER_ADDR_IPV4) ||
      (pkt->version == 6 && addr->family != EMBER_ADDR_IPV6))
    return EMBER_PACKET_ERR_ADDRESS;

  field = d + addr_offset (pkt, source);
  if (pkt->version == 4)
    {
      guint16 c = ember_rd16 (d + EMBER_IPV4_OFF_CHECKSUM);

      ember_wr16 (d + EMBER_IPV4_OFF_CHECKSUM, ember_checksum_replace (c, field, addr->addr, n));
    }
  /* The pseudo-header holds the addresses: a first fragment carries the
   * checksum of the whole datagram, which the same delta keeps right. */
  if (pkt->has_l4 && ember_l4_has_pseudo_header (pkt->version, pkt->proto))
    ember_ip_packet_l4_replace (pkt, field, addr->addr, n);
  memcpy (field, addr->addr, n);
  return EMBER_PACKET_OK;
}

EmberPacketResult
ember_ip_packet_set_source (EmberIpPacket *pkt, const EmberAddr *addr)
{
  return set_addr (pkt, TRUE, addr);
}

EmberPacketResult
ember_ip_packet_set_destination (EmberIpPacket *pkt, const EmberAddr *addr)
{
  return set_addr (pkt, FALSE, addr);
}

guint8
ember_ip_packet_get_ttl (const EmberIpPacket *pkt)
{
  const guint8 *d = ember_ip_packet_data (pkt);

  return pkt->version == 4 ? d[EMBER_IPV4_OFF_TTL] : d[EMBER_IPV6_OFF_HOP_LIMIT];
}

void
ember_ip_packet_set_ttl (EmberIpPacket *pkt, guint8 ttl)
{
  guint8 *d = ember_ip_packet_data (pkt);

  if (pkt->version == 4)
    {
      /* TTL shares a 16-bit word with the protocol. */
      guint8 word[2] = { ttl, d[EMBER_IPV4_OFF_PROTO] };
      guint16 c = ember_rd16 (d + EMBER_IPV4_OFF_CHECKSUM);

      ember_wr16 (d + EMBER_IPV4_OFF_CHECKSUM,
                  ember_checksum_replace (c, d + EMBER_IPV4_OFF_TTL, word, 2));
      d[EMBER_IPV4_OFF_TTL] = ttl;
    }
  else
    d[EMBER_IPV6_OFF_HOP_LIMIT] = ttl;
}

/* ---- checksums ---- */

guint32
ember_ip_pseudo_sum (const guint8 *ip, guint version, guint proto, gsize l4_len)
{
  guint32 sum;

  if (version == 4)
    sum = ember_checksum_add (0, ip + EMBER_IPV4_OFF_SRC, 2 * EMBER_IPV4_ADDR_LEN);
  else
    sum = ember_checksum_add (0, ip + EMBER_IPV6_OFF_SRC, 2 * EMBER_IPV6_ADDR_LEN);
  /* The IPv6 32-bit length and the IPv4 16-bit one sum the same for
   * lengths below 64 KiB, as do the zero-padded protocol fields. */
  sum += proto;
  sum += (guint32) (l4_len & 0xffffu) + (guint32) (l4_len >> 16);
  return sum;
}

guint16
ember_l4_checksum_compute (const guint8 *ip, guint version, guint proto, guint8 *l4,
                           gsize l4_len)
{
  int co = ember_l4_checksum_offset (version, proto);
  guint32 sum = 0;
  guint16 c;

  if (ember_l4_has_pseudo_header (version, proto))
    sum = ember_ip_pseudo_sum (ip, version, proto, l4_len);
  /* Sum around the checksum field rather than zeroing it, so this works
   * on a const view too. */
  sum = ember_checksum_add (sum, l4, (gsize) co);
  sum = ember_checksum_add (sum, l4 + co + 2, l4_len - (gsize) co - 2);
  c = ember_checksum_finish (sum);
  if (proto == EMBER_IPPROTO_UDP && c == 0)
    c = 0xffff;  /* RFC 768: a computed zero is sent as all ones */
  return c;
}

void
ember_ip_packet_l4_replace (EmberIpPacket *pkt, const guint8 *old_bytes,
                            const guint8 *new_bytes, gsize len)
{
  guint8 *l4 = ember_ip_packet_data (pkt) + pkt->l4_off;
  int co = ember_l4_checksum_offset (pkt->version, pkt->proto);
  guint16 c, n;

  if (co < 0 || !pkt->has_l4)
    return;
  c = ember_rd16 (l4 + co);
  /* RFC 768: in IPv4 a zero UDP checksum means "not computed". */
  if (pkt->proto == EMBER_IPPROTO_UDP && pkt->version == 4 && c == 0)
    return;
  n = ember_checksum_replace (c, old_bytes, new_bytes, len);
  if (pkt->proto == EMBER_IPPROTO_UDP && n == 0)
    n = 0xffff;
  ember_wr16 (l4 + co, n);
}

void
ember_icmp4_zero_fixup (guint8 *l4, gsize len)
{
  if (l4[EMBER_ICMP_OFF_CHECKSUM] != 0 || l4[EMBER_ICMP_OFF_CHECKSUM + 1] != 0)
    return;
  for (gsize i = 0; i < len; i++)
    if (l4[i] != 0)
      return;
  ember_wr16 (l4 + EMBER_ICMP_OFF_CHECKSUM, 0xffff);
}

EmberPacketResult
ember_ip_packet_verify_checksums (const EmberIpPacket *pkt)
{
  const guint8 *d = ember_ip_packet_data (pkt);
  const guint8 *l4;
  gsize l4_len;
  int co;
  guint32 sum = 0;

  if (pkt->version == 4 &&
      ember_checksum_fold (ember_checksum_add (0, d, pkt->l4_off)) != 0xffff)
    return EMBER_PACKET_ERR_CHECKSUM;
  co = ember_l4_checksum_offset (pkt->version, pkt->proto);
  if (pkt->frag != EMBER_IP_FRAG_NONE || !pkt->has_l4 || co < 0)
    return EMBER_PACKET_OK;

  l4 = d + pkt->l4_off;
  l4_len = pkt->len - pkt->l4_off;
  if (pkt->proto == EMBER_IPPROTO_UDP && ember_rd16 (l4 + co) == 0)
    /* RFC 768 lets IPv4 skip it; RFC 8200 §8.1 forbids that in IPv6. */
    return pkt->version == 4 ? EMBER_PACKET_OK : EMBER_PACKET_ERR_CHECKSUM;
  if (ember_l4_has_pseudo_header (pkt->version, pkt->proto))
    sum = ember_ip_pseudo_sum (d, pkt->version, pkt->proto, l4_len);
  sum = ember_checksum_add (sum, l4, l4_len);
  return ember_checksum_fold (sum) == 0xffff ? EMBER_PACKET_OK : EMBER_PACKET_ERR_CHECKSUM;
}

void
ember_ip_packet_update_checksums (EmberIpPacket *pkt)
{
  guint8 *d = ember_ip_packet_data (pkt);
  guint8 *l4;
  int co;

  if (pkt->version == 4)
    {
      ember_wr16 (d + EMBER_IPV4_OFF_CHECKSUM, 0);
      ember_wr16 (d + EMBER_IPV4_OFF_CHECKSUM,
                  ember_checksum_finish (ember_checksum_add (0, d, pkt->l4_off)));
    }
  co = ember_l4_checksum_offset (pkt->version, pkt->proto);
  if (pkt->frag != EMBER_IP_FRAG_NONE || !pkt->has_l4 || co < 0)
    return;
  l4 = d + pkt->l4_off;
  if (pkt->proto == EMBER_IPPROTO_UDP && pkt->version == 4 && ember_rd16 (l4 + co) == 0)
    return;
  ember_wr16 (l4 + co, ember_l4_checksum_compute (d, pkt->version, pkt->proto, l4,
                                                   pkt->len - pkt->l4_off));
}
