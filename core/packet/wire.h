/* wire — on-the-wire constants for IPv4, IPv6, UDP, TCP, ICMPv4 and ICMPv6.
 *
 * Every offset, length and type number that core/packet reads lives here,
 * as WireGuard's messages.h keeps its formats in one place. Offsets are in
 * bytes from the start of the header they belong to. Pure constants: any
 * thread may include it.
 */
#pragma once

/* seed 004: the TUN MTU is 1280 so a packet fits in a stack frame. */
#define EMBER_PACKET_MTU 1280u

/* Room in front of the packet so NAT46 can grow the header in place:
 * +20 for the IPv6 header, +20 for the quoted header of a translated ICMP
 * error, rounded up for alignment. */
#define EMBER_PACKET_HEADROOM 48u

/* A buffer that holds any packet this module produces, headroom included. */
#define EMBER_PACKET_BUF_SIZE (EMBER_PACKET_HEADROOM + EMBER_PACKET_MTU + 64u)

/* ---- IPv4 (RFC 791) ---- */
#define EMBER_IPV4_HEADER_MIN 20u
#define EMBER_IPV4_HEADER_MAX 60u
#define EMBER_IPV4_OFF_VER_IHL 0
#define EMBER_IPV4_OFF_TOS 1
#define EMBER_IPV4_OFF_TOTAL_LEN 2
#define EMBER_IPV4_OFF_ID 4
#define EMBER_IPV4_OFF_FLAGS_FRAG 6
#define EMBER_IPV4_OFF_TTL 8
#define EMBER_IPV4_OFF_PROTO 9
#define EMBER_IPV4_OFF_CHECKSUM 10
#define EMBER_IPV4_OFF_SRC 12
#define EMBER_IPV4_OFF_DST 16
#define EMBER_IPV4_FLAG_DF 0x4000u
#define EMBER_IPV4_FLAG_MF 0x2000u
#define EMBER_IPV4_FRAG_MASK 0x1fffu
#define EMBER_IPV4_ADDR_LEN 4u

/* ---- IPv6 (RFC 8200) ---- */
#define EMBER_IPV6_HEADER_LEN 40u
#define EMBER_IPV6_OFF_PAYLOAD_LEN 4
#define EMBER_IPV6_OFF_NEXT_HEADER 6
#define EMBER_IPV6_OFF_HOP_LIMIT 7
#define EMBER_IPV6_OFF_SRC 8
#define EMBER_IPV6_OFF_DST 24
#define EMBER_IPV6_ADDR_LEN 16u
#define EMBER_IPV6_FRAG_HEADER_LEN 8u

/* IPv6 extension headers that may be skipped (RFC 8200 §4, RFC 4302). */
#define EMBER_IPPROTO_HOPOPTS 0
#define EMBER_IPPROTO_ROUTING 43
#define EMBER_IPPROTO_FRAGMENT 44
#define EMBER_IPPROTO_ESP 50
#define EMBER_IPPROTO_AH 51
#define EMBER_IPPROTO_NONE 59
#define EMBER_IPPROTO_DSTOPTS 60

/* Upper-layer protocols. */
#define EMBER_IPPROTO_ICMP 1
#define EMBER_IPPROTO_TCP 6
#define EMBER_IPPROTO_UDP 17
#define EMBER_IPPROTO_ICMPV6 58

/* ---- UDP (RFC 768) ---- */
#define EMBER_UDP_HEADER_LEN 8u
#define EMBER_UDP_OFF_SRC_PORT 0
#define EMBER_UDP_OFF_DST_PORT 2
#define EMBER_UDP_OFF_LEN 4
#define EMBER_UDP_OFF_CHECKSUM 6

/* ---- TCP (RFC 9293) ---- */
#define EMBER_TCP_HEADER_MIN 20u
#define EMBER_TCP_OFF_SRC_PORT 0
#define EMBER_TCP_OFF_DST_PORT 2
#define EMBER_TCP_OFF_DATA_OFF 12
#define EMBER_TCP_OFF_CHECKSUM 16

/* ---- ICMP (RFC 792, RFC 4443): type, code, checksum, 4 bytes ---- */
#define EMBER_ICMP_HEADER_LEN 8u
#define EMBER_ICMP_OFF_TYPE 0
#define EMBER_ICMP_OFF_CODE 1
#define EMBER_ICMP_OFF_CHECKSUM 2
#define EMBER_ICMP_OFF_ID 4
#define EMBER_ICMP_OFF_SEQ 6
#define EMBER_ICMP_OFF_MTU_V4 6  /* RFC 1191: next-hop MTU, low half */
#define EMBER_ICMP_OFF_MTU_V6 4  /* RFC 4443 §3.2: 32-bit MTU */

#define EMBER_ICMPV4_ECHO_REPLY 0
#define EMBER_ICMPV4_DEST_UNREACH 3
#define EMBER_ICMPV4_ECHO_REQUEST 8
#define EMBER_ICMPV4_TIME_EXCEEDED 11
#define EMBER_ICMPV4_PARAM_PROBLEM 12
#define EMBER_ICMPV4_UNREACH_NET 0
#define EMBER_ICMPV4_UNREACH_HOST 1
#define EMBER_ICMPV4_UNREACH_PROTOCOL 2
#define EMBER_ICMPV4_UNREACH_PORT 3
#define EMBER_ICMPV4_UNREACH_FRAG_NEEDED 4
#define EMBER_ICMPV4_UNREACH_HOST_PROHIBITED 10
#define EMBER_ICMPV4_UNREACH_ADMIN_PROHIBITED 13

#define EMBER_ICMPV6_DEST_UNREACH 1
#define EMBER_ICMPV6_PACKET_TOO_BIG 2
#define EMBER_ICMPV6_TIME_EXCEEDED 3
#define EMBER_ICMPV6_PARAM_PROBLEM 4
#define EMBER_ICMPV6_ECHO_REQUEST 128
#define EMBER_ICMPV6_ECHO_REPLY 129
#define EMBER_ICMPV6_UNREACH_NO_ROUTE 0
#define EMBER_ICMPV6_UNREACH_PROHIBITED 1
#define EMBER_ICMPV6_UNREACH_BEYOND_SCOPE 2
#define EMBER_ICMPV6_UNREACH_ADDRESS 3
#define EMBER_ICMPV6_UNREACH_PORT 4
#define EMBER_ICMPV6_PARAM_NEXT_HEADER 1

/* RFC 792 quotes the IP header + 8 bytes; RFC 1812 §4.3.2.3 allows as much
 * as fits in 576 bytes. RFC 4443 §2.4(c): an ICMPv6 error never exceeds
 * the minimum IPv6 MTU, 1280 bytes. */
#define EMBER_ICMPV4_ERROR_MAX 576u
#define EMBER_ICMPV6_ERROR_MAX 1280u

/* RFC 7915 §5.1: IPv4 packets of up to 1260 bytes go out with DF clear. */
#define EMBER_NAT64_DF_THRESHOLD 1260u
