/* packet — views over IP packets in caller-owned buffers.
 *
 * One EmberIpPacket type (seed 004: no mutable/immutable pair) describes an
 * IPv4 or IPv6 packet that lives in a buffer the caller owns, usually on
 * the stack (EMBER_PACKET_BUF_SIZE bytes: MTU 1280 plus headroom). Parsing
 * validates every length once (version, header lengths, IPv6 extension
 * headers, total length vs buffer, UDP length, TCP data offset, ICMP
 * header) so the accessors afterwards never read past the buffer. Integers
 * are read with explicit byte order; the buffer is never cast to a struct.
 *
 * Setters patch the IPv4 header checksum and the UDP/TCP/ICMPv6 checksum
 * incrementally (RFC 1624). Builders make UDP, ICMP echo and ICMP error
 * packets; translate_* do stateless NAT46/NAT64 (RFC 7915, RFC 6052) in
 * place, using headroom in front of the packet when the header grows.
 *
 * Hot-path functions return a small EmberPacketResult and never allocate.
 * Bytes from the network never reach an assertion: every bad input gives a
 * result code. The module is sans-IO and holds no state: any thread may
 * call it on a packet that thread owns.
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h"
#include "packet/wire.h"

G_BEGIN_DECLS

typedef enum {
  EMBER_PACKET_OK = 0,
  EMBER_PACKET_ERR_TRUNCATED,      /* fewer bytes than a header needs */
  EMBER_PACKET_ERR_VERSION,        /* IP version neither 4 nor 6 */
  EMBER_PACKET_ERR_HEADER_LENGTH,  /* IPv4 IHL < 5 or past the packet */
  EMBER_PACKET_ERR_TOTAL_LENGTH,   /* total/payload length vs buffer */
  EMBER_PACKET_ERR_EXT_HEADER,     /* malformed IPv6 extension header chain */
  EMBER_PACKET_ERR_L4_LENGTH,      /* UDP length, TCP data offset, ICMP size */
  EMBER_PACKET_ERR_FRAGMENT,       /* the operation needs an unfragmented packet */
  EMBER_PACKET_ERR_PROTOCOL,       /* the operation does not apply to this protocol */
  EMBER_PACKET_ERR_CHECKSUM,       /* a checksum does not verify */
  EMBER_PACKET_ERR_NO_SPACE,       /* the buffer is too small for the result */
  EMBER_PACKET_ERR_ADDRESS,        /* wrong address family / not in the NAT64 prefix */
  EMBER_PACKET_ERR_UNTRANSLATABLE, /* RFC 7915 says drop (e.g. an ICMP type with no peer) */
} EmberPacketResult;

/* A static English name for `result`, for logs ("truncated", ...). */
const char *ember_packet_result_to_string (EmberPacketResult result);

typedef enum {
  EMBER_IP_FRAG_NONE = 0,  /* not a fragment */
  EMBER_IP_FRAG_FIRST,     /* offset 0, more fragments follow: L4 header present */
  EMBER_IP_FRAG_LATER,     /* offset > 0: no L4 header */
} EmberIpFragment;

/* The view. Fields are filled by parse and read through the functions
 * below; treat them as private. */
typedef struct {
  guint8 *buf;        /* caller's storage */
  gsize cap;          /* bytes available at buf */
  gsize off;          /* the IP header starts at buf + off */
  gsize len;          /* IP packet length (trailing bytes past it ignored) */
  guint16 l4_off;     /* upper-layer header, from the IP header; == len if none */
  guint8 version;     /* 4 or 6 */
  guint8 proto;       /* upper-layer protocol after extension headers */
  guint8 frag;        /* EmberIpFragment */
  guint8 has_l4;      /* the upper-layer header is present and validated */
} EmberIpPacket;

/* Parses the `len` bytes at `buf + off` (with `cap` >= off + len bytes of
 * storage at `buf`: the headroom before off and the room after are used by
 * translate_*). Returns EMBER_PACKET_OK and fills `pkt`, or an error and
 * leaves `pkt` unusable. */
EmberPacketResult ember_ip_packet_parse (EmberIpPacket *pkt, guint8 *buf, gsize cap,
                                         gsize off, gsize len);

static inline guint8 *
ember_ip_packet_data (const EmberIpPacket *pkt)
{
  return pkt->buf + pkt->off;
}
static inline gsize ember_ip_packet_len (const EmberIpPacket *pkt) { return pkt->len; }
static inline guint ember_ip_packet_version (const EmberIpPacket *pkt) { return pkt->version; }
/* Upper-layer protocol (EMBER_IPPROTO_UDP, ...), after IPv6 extension headers. */
static inline guint ember_ip_packet_protocol (const EmberIpPacket *pkt) { return pkt->proto; }
static inline EmberIpFragment
ember_ip_packet_fragment (const EmberIpPacket *pkt)
{
  return (EmberIpFragment) pkt->frag;
}

/* Addresses: family and addr filled; port filled from UDP/TCP, else 0. */
void ember_ip_packet_get_source (const EmberIpPacket *pkt, EmberAddr *out);
void ember_ip_packet_get_destination (const EmberIpPacket *pkt, EmberAddr *out);
/* Only the address of `addr` is used; it must have the packet's family. */
EmberPacketResult ember_ip_packet_set_source (EmberIpPacket *pkt, const EmberAddr *addr);
EmberPacketResult ember_ip_packet_set_destination (EmberIpPacket *pkt, const EmberAddr *addr);

/* TTL (IPv4) or hop limit (IPv6). */
guint8 ember_ip_packet_get_ttl (const EmberIpPacket *pkt);
void ember_ip_packet_set_ttl (EmberIpPacket *pkt, guint8 ttl);

/* UDP and TCP ports (host order). ERR_PROTOCOL for other protocols,
 * ERR_FRAGMENT for a non-first fragment. */
EmberPacketResult ember_ip_packet_get_source_port (const EmberIpPacket *pkt, guint16 *port);
EmberPacketResult ember_ip_packet_get_destination_port (const EmberIpPacket *pkt, guint16 *port);
EmberPacketResult ember_ip_packet_set_source_port (EmberIpPacket *pkt, guint16 port);
EmberPacketResult ember_ip_packet_set_destination_port (EmberIpPacket *pkt, guint16 port);

/* The bytes after the UDP/TCP/ICMP header (for ICMP: after the first 8). */
const guint8 *ember_ip_packet_payload (const EmberIpPacket *pkt, gsize *len);

/* ICMPv4 / ICMPv6 (matching the packet's version). */
EmberPacketResult ember_ip_packet_icmp_type (const EmberIpPacket *pkt, guint8 *type, guint8 *code);
gboolean ember_ip_packet_is_icmp_echo (const EmberIpPacket *pkt);
gboolean ember_ip_packet_is_icmp_error (const EmberIpPacket *pkt);
/* Echo identifier and sequence. seed 004: these write bytes 4..7 of any
 * ICMP message but assert (debug builds only) that it is an echo request
 * or reply: callers check ember_ip_packet_is_icmp_echo() first. On a
 * packet without an ICMP header they return 0 / do nothing. */
guint16 ember_ip_packet_get_icmp_identifier (const EmberIpPacket *pkt);
guint16 ember_ip_packet_get_icmp_sequence (const EmberIpPacket *pkt);
void ember_ip_packet_set_icmp_identifier (EmberIpPacket *pkt, guint16 id);
void ember_ip_packet_set_icmp_sequence (EmberIpPacket *pkt, guint16 seq);

/* Full checksum verification: the IPv4 header checksum and, for
 * unfragmented packets, the UDP/TCP/ICMP checksum (a zero UDP checksum in
 * IPv4 means "none" and passes; in IPv6 it fails, RFC 8200 §8.1). For
 * fragments only the IPv4 header is checked. */
EmberPacketResult ember_ip_packet_verify_checksums (const EmberIpPacket *pkt);
/* Recomputes every checksum the packet carries (L4 only when unfragmented;
 * an IPv4 UDP checksum of 0 stays 0, RFC 768). */
void ember_ip_packet_update_checksums (EmberIpPacket *pkt);

/* ---- builders (build.c). Each writes at buf + off and parses the result
 * into `pkt`; the packet never exceeds EMBER_PACKET_MTU. ---- */

/* UDP from src (addr, port) to dst; families must match. */
EmberPacketResult ember_ip_packet_build_udp (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off,
                                             const EmberAddr *src, const EmberAddr *dst,
                                             const guint8 *payload, gsize payload_len);

/* ICMP echo request (reply = FALSE) or reply. */
EmberPacketResult ember_ip_packet_build_icmp_echo (EmberIpPacket *pkt, guint8 *buf, gsize cap,
                                                   gsize off, const EmberAddr *src,
                                                   const EmberAddr *dst, gboolean reply,
                                                   guint16 id, guint16 seq,
                                                   const guint8 *payload, gsize payload_len);

typedef enum {
  EMBER_ICMP_UNREACH_NO_ROUTE,    /* v4 net unreachable,  v6 no route */
  EMBER_ICMP_UNREACH_HOST,        /* v4 host unreachable, v6 address unreachable */
  EMBER_ICMP_UNREACH_PORT,        /* v4 port unreachable, v6 port unreachable */
  EMBER_ICMP_UNREACH_PROHIBITED,  /* v4 admin prohibited, v6 prohibited */
} EmberIcmpUnreachable;

/* An ICMP destination unreachable from `src` (an address of the
 * offending packet's family) back to the offending packet's source,
 * quoting as much of it as fits (RFC 1812 §4.3.2.3: 576 bytes for v4;
 * RFC 4443 §2.4(c): 1280 bytes for v6). Refuses (ERR_PROTOCOL) to answer
 * an ICMP error, RFC 1122 §3.2.2 / RFC 4443 §2.4(e). `buf` must not
 * overlap the offending packet. */
EmberPacketResult ember_ip_packet_build_icmp_unreachable (EmberIpPacket *pkt, guint8 *buf,
                                                          gsize cap, gsize off,
                                                          const EmberIpPacket *offending,
                                                          const EmberAddr *src,
                                                          EmberIcmpUnreachable why);

/* ICMPv6 packet too big (RFC 4443 §3.2) or ICMPv4 fragmentation needed
 * (RFC 1191 §4), carrying `mtu`. Same rules as above. */
EmberPacketResult ember_ip_packet_build_packet_too_big (EmberIpPacket *pkt, guint8 *buf,
                                                        gsize cap, gsize off,
                                                        const EmberIpPacket *offending,
                                                        const EmberAddr *src, guint32 mtu);

/* ---- NAT46 / NAT64 (nat64.c) ---- */

/* An RFC 6052 /96 prefix: the first 12 bytes of the IPv6 address. */
typedef struct {
  guint8 bytes[12];
} EmberNat64Prefix;

/* 64:ff9b::/96, RFC 6052 §2.1. */
void ember_nat64_prefix_well_known (EmberNat64Prefix *prefix);
/* Parses "64:ff9b::/96" or "2001:db8:1::" (a /96 is implied). Control path. */
gboolean ember_nat64_prefix_parse (const char *text, EmberNat64Prefix *prefix, GError **error);
void ember_nat64_embed (const EmberNat64Prefix *prefix, const guint8 v4[4], guint8 v6[16]);
/* FALSE when `v6` is not inside `prefix`. */
gboolean ember_nat64_extract (const EmberNat64Prefix *prefix, const guint8 v6[16], guint8 v4[4]);

/* Translates an IPv4 packet into IPv6 in place (RFC 7915 §4) with the given
 * addresses. The IPv6 header goes into the headroom in front of the packet
 * (or the payload moves back when there is none). UDP, TCP, ICMP echo and
 * ICMP errors (quoted packet translated too, RFC 7915 §4.2) are supported;
 * fragments are not (ERR_FRAGMENT); protocol numbers IPv6 would read as
 * extension headers, AH and ICMPv6-in-IPv4 are refused (ERR_UNTRANSLATABLE).
 * No IPv6 fragmentation: the result can be 20 bytes over the caller's MTU,
 * which then answers with ember_ip_packet_build_packet_too_big(). TTL, TOS are copied: the caller
 * decrements TTL if it routes. On success `pkt` views the IPv6 packet; on
 * error the buffer is untouched. For an ICMP error the quoted packet gets
 * `dst` as its source and `src` as its destination. */
EmberPacketResult ember_ip_packet_translate_4to6 (EmberIpPacket *pkt, const guint8 src[16],
                                                  const guint8 dst[16]);

/* Translates an IPv6 packet into IPv4 in place (RFC 7915 §5). Extension
 * headers are dropped (a routing header with segments left > 0 and
 * fragments are refused). `ident` becomes the IPv4 identification when the
 * result is at most 1260 bytes and so goes out with DF clear (RFC 7915
 * §5.1); the caller draws it from its injected RNG or a counter. */
EmberPacketResult ember_ip_packet_translate_6to4 (EmberIpPacket *pkt, const guint8 src[4],
                                                  const guint8 dst[4], guint16 ident);

/* The same with both addresses mapped through `prefix` (RFC 6052 §2.2):
 * 4to6 embeds them, 6to4 extracts them (ERR_ADDRESS when outside). */
EmberPacketResult ember_ip_packet_nat46 (EmberIpPacket *pkt, const EmberNat64Prefix *prefix);
EmberPacketResult ember_ip_packet_nat64 (EmberIpPacket *pkt, const EmberNat64Prefix *prefix,
                                         guint16 ident);

G_END_DECLS
