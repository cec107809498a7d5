/* nat64 — stateless IP/ICMP translation (RFC 7915) with RFC 6052 address
 * mapping, in place on an EmberIpPacket.
 *
 * The fast path (UDP, TCP, ICMP echo) rewrites only the IP header: the new
 * header is written right in front of the upper-layer header, which stays
 * where it is, so IPv4->IPv6 eats 20 bytes of headroom and IPv6->IPv4
 * gives them back. Checksums are patched incrementally (RFC 1624) so a
 * corrupt checksum stays corrupt. ICMP errors, whose quoted packet grows
 * or shrinks too, are rebuilt through a stack scratch buffer. */
#include <gio/gio.h>  /* G_IO_ERROR only */

#include "net/cidr.h"
#include "packet/packet-private.h"

/* ---- RFC 6052 prefixes ---- */

void
ember_nat64_prefix_well_known (EmberNat64Prefix *prefix)
{
  static const guint8 wkp[12] = { 0x00, 0x64, 0xff, 0x9b };

  memcpy (prefix->bytes, wkp, sizeof prefix->bytes);
}

gboolean
ember_nat64_prefix_parse (const char *text, EmberNat64Prefix *prefix, GError **error)
{
  g_autoptr (GError) local = NULL;
  EmberCidr c;

  g_return_val_if_fail (text != NULL && prefix != NULL, FALSE);
  /* An address alone names the /96 it starts. */
  if (!ember_cidr_parse (text, EMBER_CIDR_PARSE_BARE | EMBER_CIDR_PARSE_KEEP_HOST_BITS, &c,
                         &local))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "NAT64 prefix %s",
                   local->message);
      return FALSE;
    }
  if (c.family != EMBER_ADDR_IPV6)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NAT64 prefix \"%s\": not an IPv6 address", text);
      return FALSE;
    }
  if (strchr (text, '/') != NULL && c.prefix != 96)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NAT64 prefix \"%s\": only /96 prefixes are supported", text);
      return FALSE;
    }
  /* RFC 6052 §2.2: bits 64..71 ("u") must be zero; the /96 suffix holds
   * the IPv4 address and must be zero in the prefix. */
  if (c.addr[8] != 0 || c.addr[12] != 0 || c.addr[13] != 0 || c.addr[14] != 0 || c.addr[15] != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "NAT64 prefix \"%s\": bits 64..71 and the last 32 bits must be zero", text);
      return FALSE;
    }
  memcpy (prefix->bytes, c.addr, sizeof prefix->bytes);
  return TRUE;
}

void
ember_nat64_embed (const EmberNat64Prefix *prefix, const guint8 v4[4], guint8 v6[16])
{
  memcpy (v6, prefix->bytes, 12);
  memcpy (v6 + 12, v4, 4);
}

gboolean
ember_nat64_extract (const EmberNat64Prefix *prefix, const guint8 v6[16], guint8 v4[4])
{
  if (memcmp (v6, prefix->bytes, 12) != 0)
    return FALSE;
  memcpy (v4, v6 + 12, 4);
  return TRUE;
}

/* ---- header rewriting ---- */

static guint16
addr_sum (const guint8 *ip, guint version)
{
  if (version == 4)
    return ember_checksum_fold (ember_checksum_add (0, ip + EMBER_IPV4_OFF_SRC, 8));
  return ember_checksum_fold (ember_checksum_add (0, ip + EMBER_IPV6_OFF_SRC, 32));
}

/* RFC 7915 §4.1. Flow label 0; traffic class = TOS. */
static void
v6_header_from_v4 (guint8 *out, const guint8 *v4, gsize payload_len, guint8 next_header,
                   const guint8 *src, const guint8 *dst)
{
  guint8 tos = v4[EMBER_IPV4_OFF_TOS];

  out[0] = (guint8) (0x60 | (tos >> 4));
  out[1] = (guint8) ((tos & 0x0f) << 4);
  out[2] = out[3] = 0;
  ember_wr16 (out + EMBER_IPV6_OFF_PAYLOAD_LEN, (guint16) payload_len);
  out[EMBER_IPV6_OFF_NEXT_HEADER] = next_header;
  out[EMBER_IPV6_OFF_HOP_LIMIT] = v4[EMBER_IPV4_OFF_TTL];
  memcpy (out + EMBER_IPV6_OFF_SRC, src, 16);
  memcpy (out + EMBER_IPV6_OFF_DST, dst, 16);
}

/* RFC 7915 §5.1. */
static void
v4_header_from_v6 (guint8 *out, const guint8 *v6, gsize total_len, guint8 proto,
                   const guint8 *src, const guint8 *dst, guint16 ident)
{
  memset (out, 0, EMBER_IPV4_HEADER_MIN);
  out[EMBER_IPV4_OFF_VER_IHL] = 0x45;
  out[EMBER_IPV4_OFF_TOS] = (guint8) (((v6[0] & 0x0f) << 4) | (v6[1] >> 4));
  ember_wr16 (out + EMBER_IPV4_OFF_TOTAL_LEN, (guint16) total_len);
  /* RFC 7915 §5.1: DF clear (with a fresh identification) up to 1260
   * bytes so IPv4 routers may still fragment; DF set above that. */
  if (total_len <= EMBER_NAT64_DF_THRESHOLD)
    ember_wr16 (out + EMBER_IPV4_OFF_ID, ident);
  else
    ember_wr16 (out + EMBER_IPV4_OFF_FLAGS_FRAG, EMBER_IPV4_FLAG_DF);
  out[EMBER_IPV4_OFF_TTL] = v6[EMBER_IPV6_OFF_HOP_LIMIT];
  out[EMBER_IPV4_OFF_PROTO] = proto;
  memcpy (out + EMBER_IPV4_OFF_SRC, src, 4);
  memcpy (out + EMBER_IPV4_OFF_DST, dst, 4);
  ember_wr16 (out + EMBER_IPV4_OFF_CHECKSUM,
              ember_checksum_finish (ember_checksum_add (0, out, EMBER_IPV4_HEADER_MIN)));
}

static guint8
echo_type_4to6 (guint8 type)
{
  return type == EMBER_ICMPV4_ECHO_REQUEST ? EMBER_ICMPV6_ECHO_REQUEST : EMBER_ICMPV6_ECHO_REPLY;
}

static guint8
echo_type_6to4 (guint8 type)
{
  return type == EMBER_ICMPV6_ECHO_REQUEST ? EMBER_ICMPV4_ECHO_REQUEST : EMBER_ICMPV4_ECHO_REPLY;
}

/* Patches the upper-layer checksum at `l4` (of which `avail` bytes are
 * present) for the move from header `old_ip` to `new_ip`. `l4_len` is the
 * length the checksum covers (what the IP header claims). ICMP echo types
 * are translated here too. Returns FALSE when the IPv4 UDP checksum was
 * absent and needs a full computation. */
static gboolean
fix_l4 (guint8 *l4, gsize avail, guint proto, const guint8 *old_ip, guint old_version,
        const guint8 *new_ip, gsize l4_len)
{
  guint new_version = old_version == 4 ? 6 : 4;

  if (proto == EMBER_IPPROTO_UDP || proto == EMBER_IPPROTO_TCP)
    {
      gsize co = proto == EMBER_IPPROTO_UDP ? EMBER_UDP_OFF_CHECKSUM : EMBER_TCP_OFF_CHECKSUM;
      guint16 c;

      if (avail < co + 2)
        return TRUE;
      c = ember_rd16 (l4 + co);
      if (proto == EMBER_IPPROTO_UDP && old_version == 4 && c == 0)
        return FALSE;
      c = ember_checksum_adjust (c, addr_sum (old_ip, old_version), addr_sum (new_ip, new_version));
      if (proto == EMBER_IPPROTO_UDP && c == 0)
        c = 0xffff;
      ember_wr16 (l4 + co, c);
    }
  else if (proto == EMBER_IPPROTO_ICMP || proto == EMBER_IPPROTO_ICMPV6)
    {
      guint8 type_new;
      guint32 old_sum, new_sum;

      if (avail < EMBER_ICMP_OFF_CHECKSUM + 2)
        return TRUE;
      if (old_version == 4 && (l4[0] == EMBER_ICMPV4_ECHO_REQUEST || l4[0] == EMBER_ICMPV4_ECHO_REPLY))
        type_new = echo_type_4to6 (l4[0]);
      else if (old_version == 6 &&
               (l4[0] == EMBER_ICMPV6_ECHO_REQUEST || l4[0] == EMBER_ICMPV6_ECHO_REPLY))
        type_new = echo_type_6to4 (l4[0]);
      else
        return TRUE;  /* a quoted non-echo ICMP message: left as it is */

      /* The type shares a word with the code; ICMPv6 adds the
       * pseudo-header (RFC 4443 §2.3), ICMPv4 has none. */
      old_sum = ember_checksum_add (0, l4, 2);
      new_sum = (guint32) ((type_new << 8) | l4[1]);
      if (old_version == 6)
        old_sum += ember_ip_pseudo_sum (old_ip, 6, EMBER_IPPROTO_ICMPV6, l4_len);
      else
        new_sum += ember_ip_pseudo_sum (new_ip, 6, EMBER_IPPROTO_ICMPV6, l4_len);
      ember_wr16 (l4 + EMBER_ICMP_OFF_CHECKSUM,
                  ember_checksum_adjust (ember_rd16 (l4 + EMBER_ICMP_OFF_CHECKSUM),
                                         ember_checksum_fold (old_sum),
                                         ember_checksum_fold (new_sum)));
      l4[0] = type_new;
      if (old_version == 6 && avail >= l4_len)
        ember_icmp4_zero_fixup (l4, l4_len);
    }
  return TRUE;
}

/* Places a new IP header of `new_hl` bytes in front of the upper-layer
 * header of `pkt` (which stays put when the headroom allows) and re-parses. */
static EmberPacketResult
place_header (EmberIpPacket *pkt, const guint8 *hdr, gsize new_hl)
{
  gsize l4_pos = pkt->off + pkt->l4_off;
  gsize l4_len = pkt->len - pkt->l4_off;
  gsize start;

  if (l4_pos >= new_hl)
    start = l4_pos - new_hl;
  else
    {
      /* No headroom: shift the payload back. */
      if (new_hl + l4_len > pkt->cap)
        return EMBER_PACKET_ERR_NO_SPACE;
      memmove (pkt->buf + new_hl, pkt->buf + l4_pos, l4_len);
      start = 0;
    }
  memcpy (pkt->buf + start, hdr, new_hl);
  return ember_ip_packet_parse (pkt, pkt->buf, pkt->cap, start, new_hl + l4_len);
}

/* ---- ICMP errors (RFC 7915 §4.2 / §5.2), via scratch ---- */

static EmberPacketResult map_error_4to6 (const guint8 *icmp, guint8 *out);
static EmberPacketResult map_error_6to4 (const guint8 *icmp, guint8 *out);

/* Rebuilds an ICMP error with its quoted packet translated. `src`/`dst`
 * are the new outer addresses (4 or 16 bytes); the quoted packet gets
 * them swapped, as it travelled the other way. */
static EmberPacketResult
translate_error (EmberIpPacket *pkt, const guint8 *src, const guint8 *dst, guint16 ident)
{
  guint8 scratch[EMBER_ICMPV6_ERROR_MAX + EMBER_IPV6_HEADER_LEN];
  const guint8 *d = ember_ip_packet_data (pkt);
  const guint8 *icmp = d + pkt->l4_off;
  const guint8 *inner = icmp + EMBER_ICMP_HEADER_LEN;
  gsize inner_avail = pkt->len - pkt->l4_off - EMBER_ICMP_HEADER_LEN;
  gboolean to6 = pkt->version == 4;
  gsize out_hl = to6 ? EMBER_IPV6_HEADER_LEN : EMBER_IPV4_HEADER_MIN;
  gsize limit = to6 ? EMBER_ICMPV6_ERROR_MAX : sizeof scratch;
  EmberIpHeaderInfo ii;
  EmberPacketResult r;
  guint8 *o_icmp = scratch + out_hl;
  guint8 *o_inner = o_icmp + EMBER_ICMP_HEADER_LEN;
  gsize o_inner_hl = out_hl;
  gsize inner_l4_avail, inner_l4_len, copy, new_len, start;
  guint8 inner_proto;

  r = to6 ? map_error_4to6 (icmp, o_icmp) : map_error_6to4 (icmp, o_icmp);
  if (r != EMBER_PACKET_OK)
    return r;

  /* RFC 7915 §4.2: the quoted header is translated like an outer one; a
   * quote that is not a complete header of the same version is dropped. */
  if (ember_ip_header_walk (inner, inner_avail, TRUE, &ii) != EMBER_PACKET_OK ||
      ii.version != pkt->version)
    return EMBER_PACKET_ERR_UNTRANSLATABLE;
  if (ii.frag != EMBER_IP_FRAG_NONE)
    return EMBER_PACKET_ERR_FRAGMENT;
  if (ii.len < ii.hlen)
    return EMBER_PACKET_ERR_UNTRANSLATABLE;
  inner_l4_avail = inner_avail - ii.hlen;
  if (ii.len - ii.hlen < inner_l4_avail)
    inner_l4_avail = ii.len - ii.hlen;
  inner_l4_len = ii.len - ii.hlen;
  inner_proto = ii.proto;
  if (to6 && inner_proto == EMBER_IPPROTO_ICMP)
    inner_proto = EMBER_IPPROTO_ICMPV6;
  else if (!to6 && inner_proto == EMBER_IPPROTO_ICMPV6)
    inner_proto = EMBER_IPPROTO_ICMP;

  /* RFC 4443 §2.4(c): the ICMPv6 error stays within 1280 bytes. */
  if (out_hl + EMBER_ICMP_HEADER_LEN + o_inner_hl > limit)
    return EMBER_PACKET_ERR_NO_SPACE;
  copy = MIN (inner_l4_avail, limit - out_hl - EMBER_ICMP_HEADER_LEN - o_inner_hl);
  new_len = out_hl + EMBER_ICMP_HEADER_LEN + o_inner_hl + copy;

  if (to6)
    v6_header_from_v4 (o_inner, inner, inner_l4_len, inner_proto, dst, src);
  else
    {
      gsize total = EMBER_IPV4_HEADER_MIN + inner_l4_len;

      if (total > 0xffff)
        return EMBER_PACKET_ERR_UNTRANSLATABLE;
      v4_header_from_v6 (o_inner, inner, total, inner_proto, dst, src, ident);
    }
  memcpy (o_inner + o_inner_hl, inner + ii.hlen, copy);
  /* The quoted transport checksum moves with its pseudo-header; an absent
   * IPv4 UDP checksum stays absent (the datagram is incomplete). */
  (void) fix_l4 (o_inner + o_inner_hl, copy, ii.proto, inner, pkt->version, o_inner,
                 inner_l4_len);

  if (to6)
    v6_header_from_v4 (scratch, d, new_len - out_hl, EMBER_IPPROTO_ICMPV6, src, dst);
  else
    v4_header_from_v6 (scratch, d, new_len, EMBER_IPPROTO_ICMP, src, dst, ident);
  /* Truncation changed the message: recompute its checksum in full. */
  ember_wr16 (o_icmp + EMBER_ICMP_OFF_CHECKSUM, 0);
  ember_wr16 (o_icmp + EMBER_ICMP_OFF_CHECKSUM,
              ember_l4_checksum_compute (scratch, to6 ? 6 : 4,
                                         to6 ? EMBER_IPPROTO_ICMPV6 : EMBER_IPPROTO_ICMP,
                                         o_icmp, new_len - out_hl));

  /* Grow into the headroom, or give the difference back to it. */
  if (new_len > pkt->len)
    start = pkt->off >= new_len - pkt->len ? pkt->off - (new_len - pkt->len) : 0;
  else
    start = pkt->off + (pkt->len - new_len);
  if (start > pkt->cap || new_len > pkt->cap - start)
    return EMBER_PACKET_ERR_NO_SPACE;
  memcpy (pkt->buf + start, scratch, new_len);
  return ember_ip_packet_parse (pkt, pkt->buf, pkt->cap, start, new_len);
}

/* RFC 7915 §4.2 pointer map for an ICMPv4 parameter problem. */
static gint
pointer_4to6 (guint p)
{
  static const gint8 map[20] = { 0, 1, 4, 4, -1, -1, -1, -1, 7, 6,
                                 -1, -1, 8, 8, 8, 8, 24, 24, 24, 24 };

  return p < G_N_ELEMENTS (map) ? map[p] : -1;
}

/* RFC 7915 §5.2 pointer map for an ICMPv6 parameter problem. */
static gint
pointer_6to4 (guint32 p)
{
  if (p == 0 || p == 1)
    return (gint) p;
  if (p == 4 || p == 5)
    return 2;
  if (p == 6)
    return 9;
  if (p == 7)
    return 8;
  if (p >= 8 && p < 24)
    return 12;
  if (p >= 24 && p < 40)
    return 16;
  return -1;
}

static EmberPacketResult
map_error_4to6 (const guint8 *icmp, guint8 *out)
{
  guint8 type = icmp[0], code = icmp[1];

  memset (out, 0, EMBER_ICMP_HEADER_LEN);
  if (type == EMBER_ICMPV4_DEST_UNREACH)
    {
      out[0] = EMBER_ICMPV6_DEST_UNREACH;
      switch (code)
        {
        case 0: case 1: case 5: case 6: case 7: case 8: case 11: case 12:
          out[1] = EMBER_ICMPV6_UNREACH_NO_ROUTE;
          break;
        case 9: case 10: case 13: case 15:
          out[1] = EMBER_ICMPV6_UNREACH_PROHIBITED;
          break;
        case EMBER_ICMPV4_UNREACH_PORT:
          out[1] = EMBER_ICMPV6_UNREACH_PORT;
          break;
        case EMBER_ICMPV4_UNREACH_PROTOCOL:
          /* Parameter problem, unrecognised next header, pointing at it. */
          out[0] = EMBER_ICMPV6_PARAM_PROBLEM;
          out[1] = EMBER_ICMPV6_PARAM_NEXT_HEADER;
          ember_wr32 (out + 4, EMBER_IPV6_OFF_NEXT_HEADER);
          break;
        case EMBER_ICMPV4_UNREACH_FRAG_NEEDED:
          {
            /* The IPv6 header is 20 bytes longer than the IPv4 one. A
             * router predating RFC 1191 sends 0: assume the IPv6 minimum. */
            guint32 mtu = ember_rd16 (icmp + EMBER_ICMP_OFF_MTU_V4);

            out[0] = EMBER_ICMPV6_PACKET_TOO_BIG;
            out[1] = 0;
            ember_wr32 (out + EMBER_ICMP_OFF_MTU_V6, mtu == 0 ? EMBER_PACKET_MTU : mtu + 20);
          }
          break;
        default:
          return EMBER_PACKET_ERR_UNTRANSLATABLE;
        }
      return EMBER_PACKET_OK;
    }
  if (type == EMBER_ICMPV4_TIME_EXCEEDED)
    {
      out[0] = EMBER_ICMPV6_TIME_EXCEEDED;
      out[1] = code;
      return EMBER_PACKET_OK;
    }
  if (type == EMBER_ICMPV4_PARAM_PROBLEM && (code == 0 || code == 2))
    {
      gint p = pointer_4to6 (icmp[4]);

      if (p < 0)
        return EMBER_PACKET_ERR_UNTRANSLATABLE;
      out[0] = EMBER_ICMPV6_PARAM_PROBLEM;
      out[1] = 0;
      ember_wr32 (out + 4, (guint32) p);
      return EMBER_PACKET_OK;
    }
  return EMBER_PACKET_ERR_UNTRANSLATABLE;
}

static EmberPacketResult
map_error_6to4 (const guint8 *icmp, guint8 *out)
{
  guint8 type = icmp[0], code = icmp[1];

  memset (out, 0, EMBER_ICMP_HEADER_LEN);
  if (type == EMBER_ICMPV6_DEST_UNREACH)
    {
      out[0] = EMBER_ICMPV4_DEST_UNREACH;
      switch (code)
        {
        case EMBER_ICMPV6_UNREACH_NO_ROUTE:
        case EMBER_ICMPV6_UNREACH_BEYOND_SCOPE:
        case EMBER_ICMPV6_UNREACH_ADDRESS:
          out[1] = EMBER_ICMPV4_UNREACH_HOST;
          break;
        case EMBER_ICMPV6_UNREACH_PROHIBITED:
          out[1] = EMBER_ICMPV4_UNREACH_HOST_PROHIBITED;
          break;
        case EMBER_ICMPV6_UNREACH_PORT:
          out[1] = EMBER_ICMPV4_UNREACH_PORT;
          break;
        default:
          return EMBER_PACKET_ERR_UNTRANSLATABLE;
        }
      return EMBER_PACKET_OK;
    }
  if (type == EMBER_ICMPV6_PACKET_TOO_BIG)
    {
      guint32 mtu = ember_rd32 (icmp + EMBER_ICMP_OFF_MTU_V6);

      out[0] = EMBER_ICMPV4_DEST_UNREACH;
      out[1] = EMBER_ICMPV4_UNREACH_FRAG_NEEDED;
      mtu = mtu > 20 ? mtu - 20 : 0;
      ember_wr16 (out + EMBER_ICMP_OFF_MTU_V4, (guint16) MIN (mtu, 0xffffu));
      return EMBER_PACKET_OK;
    }
  if (type == EMBER_ICMPV6_TIME_EXCEEDED)
    {
      out[0] = EMBER_ICMPV4_TIME_EXCEEDED;
      out[1] = code;
      return EMBER_PACKET_OK;
    }
  if (type == EMBER_ICMPV6_PARAM_PROBLEM)
    {
      gint p;

      if (code == EMBER_ICMPV6_PARAM_NEXT_HEADER)
        {
          out[0] = EMBER_ICMPV4_DEST_UNREACH;
          out[1] = EMBER_ICMPV4_UNREACH_PROTOCOL;
          return EMBER_PACKET_OK;
        }
      if (code != 0)
        return EMBER_PACKET_ERR_UNTRANSLATABLE;
      p = pointer_6to4 (ember_rd32 (icmp + 4));
      if (p < 0)
        return EMBER_PACKET_ERR_UNTRANSLATABLE;
      out[0] = EMBER_ICMPV4_PARAM_PROBLEM;
      out[4] = (guint8) p;
      return EMBER_PACKET_OK;
    }
  return EMBER_PACKET_ERR_UNTRANSLATABLE;
}

/* ---- the public entry points ---- */

EmberPacketResult
ember_ip_packet_translate_4to6 (EmberIpPacket *pkt, const guint8 src[16], const guint8 dst[16])
{
  guint8 hdr[EMBER_IPV6_HEADER_LEN];
  const guint8 *d = ember_ip_packet_data (pkt);
  guint8 *l4 = (guint8 *) d + pkt->l4_off;
  gsize l4_len = pkt->len - pkt->l4_off;
  guint8 nh = pkt->proto;

  if (pkt->version != 4)
    return EMBER_PACKET_ERR_VERSION;
  if (pkt->frag != EMBER_IP_FRAG_NONE)
    return EMBER_PACKET_ERR_FRAGMENT;
  /* RFC 7915 §4.1: ICMPv6 inside IPv4 is dropped. Protocol numbers that
   * IPv6 reads as extension headers would turn the payload into headers;
   * AH covers the addresses and cannot survive translation either. */
  switch (pkt->proto)
    {
    case EMBER_IPPROTO_ICMPV6:
    case EMBER_IPPROTO_HOPOPTS:
    case EMBER_IPPROTO_ROUTING:
    case EMBER_IPPROTO_FRAGMENT:
    case EMBER_IPPROTO_DSTOPTS:
    case EMBER_IPPROTO_AH:
      return EMBER_PACKET_ERR_UNTRANSLATABLE;
    default:
      break;
    }
  if (pkt->proto == EMBER_IPPROTO_ICMP)
    {
      if (!ember_ip_packet_is_icmp_echo (pkt))
        return ember_ip_packet_is_icmp_error (pkt) ? translate_error (pkt, src, dst, 0)
                                                    : EMBER_PACKET_ERR_UNTRANSLATABLE;
      nh = EMBER_IPPROTO_ICMPV6;
    }
  /* Check room before touching anything: on error the buffer is as it was. */
  if (pkt->off + pkt->l4_off < EMBER_IPV6_HEADER_LEN &&
      EMBER_IPV6_HEADER_LEN + l4_len > pkt->cap)
    return EMBER_PACKET_ERR_NO_SPACE;

  /* IPv4 options are not translated (RFC 7915 §4.1). */
  v6_header_from_v4 (hdr, d, l4_len, nh, src, dst);
  if (!fix_l4 (l4, l4_len, pkt->proto, d, 4, hdr, l4_len))
    /* RFC 7915 §4.5: a zero IPv4 UDP checksum must be computed, IPv6
     * requires one. */
    ember_wr16 (l4 + EMBER_UDP_OFF_CHECKSUM,
                ember_l4_checksum_compute (hdr, 6, EMBER_IPPROTO_UDP, l4, l4_len));
  return place_header (pkt, hdr, EMBER_IPV6_HEADER_LEN);
}

/* RFC 7915 §5.1: a routing header with segments left is refused (the
 * translator would have to send a parameter problem). */
static gboolean
routing_pending (const EmberIpPacket *pkt)
{
  const guint8 *d = ember_ip_packet_data (pkt);
  guint nh = d[EMBER_IPV6_OFF_NEXT_HEADER];
  gsize pos = EMBER_IPV6_HEADER_LEN;

  /* Parse validated every header before l4_off. */
  while (pos < pkt->l4_off)
    {
      gsize hl;

      if (nh == EMBER_IPPROTO_ROUTING && d[pos + 3] != 0)
        return TRUE;
      if (nh == EMBER_IPPROTO_FRAGMENT)
        hl = EMBER_IPV6_FRAG_HEADER_LEN;
      else if (nh == EMBER_IPPROTO_AH)
        hl = ((gsize) d[pos + 1] + 2) * 4;
      else
        hl = ((gsize) d[pos + 1] + 1) * 8;
      nh = d[pos];
      pos += hl;
    }
  return FALSE;
}

EmberPacketResult
ember_ip_packet_translate_6to4 (EmberIpPacket *pkt, const guint8 src[4], const guint8 dst[4],
                                guint16 ident)
{
  guint8 hdr[EMBER_IPV4_HEADER_MIN];
  const guint8 *d = ember_ip_packet_data (pkt);
  guint8 *l4 = (guint8 *) d + pkt->l4_off;
  gsize l4_len = pkt->len - pkt->l4_off;
  guint8 proto = pkt->proto;

  if (pkt->version != 6)
    return EMBER_PACKET_ERR_VERSION;
  if (pkt->frag != EMBER_IP_FRAG_NONE)
    return EMBER_PACKET_ERR_FRAGMENT;
  if (routing_pending (pkt))
    return EMBER_PACKET_ERR_UNTRANSLATABLE;
  /* RFC 7915 §5.1: ICMPv4 inside IPv6 is dropped. */
  if (pkt->proto == EMBER_IPPROTO_ICMP)
    return EMBER_PACKET_ERR_UNTRANSLATABLE;
  if (pkt->proto == EMBER_IPPROTO_ICMPV6)
    {
      if (!ember_ip_packet_is_icmp_echo (pkt))
        return ember_ip_packet_is_icmp_error (pkt) ? translate_error (pkt, src, dst, ident)
                                                    : EMBER_PACKET_ERR_UNTRANSLATABLE;
      proto = EMBER_IPPROTO_ICMP;
    }
  if (EMBER_IPV4_HEADER_MIN + l4_len > 0xffff)
    return EMBER_PACKET_ERR_UNTRANSLATABLE;

  v4_header_from_v6 (hdr, d, EMBER_IPV4_HEADER_MIN + l4_len, proto, src, dst, ident);
  (void) fix_l4 (l4, l4_len, pkt->proto, d, 6, hdr, l4_len);
  return place_header (pkt, hdr, EMBER_IPV4_HEADER_MIN);
}

EmberPacketResult
ember_ip_packet_nat46 (EmberIpPacket *pkt, const EmberNat64Prefix *prefix)
{
  const guint8 *d = ember_ip_packet_data (pkt);
  guint8 src[16], dst[16];

  if (pkt->version != 4)
    return EMBER_PACKET_ERR_VERSION;
  ember_nat64_embed (prefix, d + EMBER_IPV4_OFF_SRC, src);
  ember_nat64_embed (prefix, d + EMBER_IPV4_OFF_DST, dst);
  return ember_ip_packet_translate_4to6 (pkt, src, dst);
}

EmberPacketResult
ember_ip_packet_nat64 (EmberIpPacket *pkt, const EmberNat64Prefix *prefix, guint16 ident)
{
  const guint8 *d = ember_ip_packet_data (pkt);
  guint8 src[4], dst[4];

  if (pkt->version != 6)
    return EMBER_PACKET_ERR_VERSION;
  if (!ember_nat64_extract (prefix, d + EMBER_IPV6_OFF_SRC, src) ||
      !ember_nat64_extract (prefix, d + EMBER_IPV6_OFF_DST, dst))
    return EMBER_PACKET_ERR_ADDRESS;
  return ember_ip_packet_translate_6to4 (pkt, src, dst, ident);
}
