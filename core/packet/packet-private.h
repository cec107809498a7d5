/* packet-private — helpers shared by the core/packet files: explicit
 * big-endian loads and stores, the header walk used for both outer and
 * quoted (ICMP error) packets, and checksum plumbing. Not installed. */
#pragma once

#include <string.h>

#include "packet/checksum.h"
#include "packet/packet.h"

static inline guint16
ember_rd16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
ember_rd32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static inline void
ember_wr16 (guint8 *p, guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static inline void
ember_wr32 (guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

/* What a walk over an IP header (and IPv6 extension headers) found. */
typedef struct {
  guint8 version;
  guint8 proto;     /* upper-layer protocol */
  guint8 frag;      /* EmberIpFragment */
  guint8 has_frag_header;
  guint16 hlen;     /* bytes up to the upper-layer header */
  gsize len;        /* packet length the header claims */
} EmberIpHeaderInfo;

/* Walks the IP header at `d`. With `quoted` (the packet inside an ICMP
 * error) the claimed length may exceed `avail`, but the headers must fit. */
EmberPacketResult ember_ip_header_walk (const guint8 *d, gsize avail, gboolean quoted,
                                        EmberIpHeaderInfo *out);

/* Offset of the checksum inside the upper-layer header, or -1 for a
 * protocol this module does not checksum. */
static inline int
ember_l4_checksum_offset (guint version, guint proto)
{
  if (proto == EMBER_IPPROTO_UDP)
    return EMBER_UDP_OFF_CHECKSUM;
  if (proto == EMBER_IPPROTO_TCP)
    return EMBER_TCP_OFF_CHECKSUM;
  if ((version == 4 && proto == EMBER_IPPROTO_ICMP) ||
      (version == 6 && proto == EMBER_IPPROTO_ICMPV6))
    return EMBER_ICMP_OFF_CHECKSUM;
  return -1;
}

/* Whether the upper-layer checksum covers a pseudo-header with the
 * addresses (UDP, TCP; ICMPv6 per RFC 4443 §2.3; not ICMPv4). */
static inline gboolean
ember_l4_has_pseudo_header (guint version, guint proto)
{
  return proto == EMBER_IPPROTO_UDP || proto == EMBER_IPPROTO_TCP ||
         (version == 6 && proto == EMBER_IPPROTO_ICMPV6);
}

/* Sum of the pseudo-header (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1) for
 * an upper-layer message of `l4_len` bytes. */
guint32 ember_ip_pseudo_sum (const guint8 *ip, guint version, guint proto, gsize l4_len);

/* Patches the upper-layer checksum of `pkt` for a change of `len` bytes
 * (even, 16-bit aligned within the checksummed region) from old to new.
 * Keeps the IPv4 "UDP checksum 0 = none" rule and writes 0xffff for a
 * computed UDP zero (RFC 768). */
void ember_ip_packet_l4_replace (EmberIpPacket *pkt, const guint8 *old_bytes,
                                 const guint8 *new_bytes, gsize len);

/* RFC 1624 §3 leaves one case eqn. 3 cannot see: an ICMPv4 message with
 * no pseudo-header whose words are all zero sums to +0, so its only valid
 * checksum is 0xffff, yet the update yields 0x0000. Call after patching an
 * ICMPv4 checksum incrementally over a complete message. */
void ember_icmp4_zero_fixup (guint8 *l4, gsize len);

/* Computes a fresh upper-layer checksum over `l4_len` bytes at `l4`. */
guint16 ember_l4_checksum_compute (const guint8 *ip, guint version, guint proto,
                                   guint8 *l4, gsize l4_len);
