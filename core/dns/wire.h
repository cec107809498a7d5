/* dns/wire — every DNS wire constant and limit in one place.
 *
 * Header layout, flag bits, record types, classes, response codes and
 * the size limits of RFC 1035, RFC 6891 (EDNS) and RFC 7766 (TCP), plus
 * big-endian byte helpers for the codec's own files. Header only; no
 * state; any thread.
 */
#pragma once

#include <glib.h>

/* RFC 1035 §4.1.1: a 12-byte header: id, flags, four section counts. */
#define EMBER_DNS_HEADER_LEN 12
/* RFC 1035 §4.1.4: a compression pointer is two bytes, top bits 11. */
#define EMBER_DNS_POINTER_MASK 0xC0
/* RFC 1035 §2.3.4: labels up to 63 octets, names up to 255 octets on
 * the wire (length bytes and the root included). */
#define EMBER_DNS_LABEL_MAX 63
#define EMBER_DNS_NAME_WIRE_MAX 255
/* A name as text: every octet may need a \DDD escape (4 chars) plus its
 * dot, and the terminating NUL. */
#define EMBER_DNS_NAME_TEXT_MAX (EMBER_DNS_NAME_WIRE_MAX * 4 + 1)
/* RFC 1035 §4.1.3: type, class, ttl, rdlength after a record's name. */
#define EMBER_DNS_RR_FIXED_LEN 10
/* RFC 1035 §4.1.2: type and class after the question name. */
#define EMBER_DNS_QUESTION_FIXED_LEN 4
/* An OPT record with no options: root name, fixed part (RFC 6891 §6.1.2). */
#define EMBER_DNS_OPT_LEN 11

/* RFC 1035 §4.2.1: a UDP message without EDNS is at most 512 bytes;
 * RFC 6891 §6.2.5: a requestor's EDNS size below 512 counts as 512. */
#define EMBER_DNS_UDP_MIN 512
/* RFC 7766 §8: two-byte length prefix over TCP, so 65535 at most. */
#define EMBER_DNS_TCP_MAX 65535
/* The UDP size the stub advertises in its own OPT records: an answer of
 * this size fits the TUN's 1280-byte MTU behind IPv6 and UDP headers
 * (the DNS flag day 2020 figure). */
#define EMBER_DNS_EDNS_SIZE 1232

/* RFC 1035 §4.1.1 flag bits of the second 16-bit header word. */
#define EMBER_DNS_FLAG_QR 0x8000
#define EMBER_DNS_FLAG_AA 0x0400
#define EMBER_DNS_FLAG_TC 0x0200
#define EMBER_DNS_FLAG_RD 0x0100
#define EMBER_DNS_FLAG_RA 0x0080
#define EMBER_DNS_FLAG_AD 0x0020  /* RFC 4035 §3.2.3 */
#define EMBER_DNS_FLAG_CD 0x0010  /* RFC 4035 §3.2.2 */
#define EMBER_DNS_OPCODE_SHIFT 11
#define EMBER_DNS_OPCODE_MASK 0x7800
#define EMBER_DNS_RCODE_MASK 0x000F

/* RFC 1035 §4.1.1 opcodes. */
#define EMBER_DNS_OPCODE_QUERY 0

/* Response codes: RFC 1035 §4.1.1, BADVERS from RFC 6891 §9 (an
 * extended code: its upper 8 bits live in the OPT record's TTL). */
#define EMBER_DNS_RCODE_NOERROR 0
#define EMBER_DNS_RCODE_FORMERR 1
#define EMBER_DNS_RCODE_SERVFAIL 2
#define EMBER_DNS_RCODE_NXDOMAIN 3
#define EMBER_DNS_RCODE_NOTIMP 4
#define EMBER_DNS_RCODE_REFUSED 5
#define EMBER_DNS_RCODE_BADVERS 16

/* Record types: RFC 1035 §3.2.2, RFC 3596 (AAAA), RFC 6891 (OPT),
 * RFC 9460 (SVCB, HTTPS). */
#define EMBER_DNS_TYPE_A 1
#define EMBER_DNS_TYPE_NS 2
#define EMBER_DNS_TYPE_CNAME 5
#define EMBER_DNS_TYPE_SOA 6
#define EMBER_DNS_TYPE_PTR 12
#define EMBER_DNS_TYPE_MX 15
#define EMBER_DNS_TYPE_TXT 16
#define EMBER_DNS_TYPE_AAAA 28
#define EMBER_DNS_TYPE_OPT 41
#define EMBER_DNS_TYPE_SVCB 64
#define EMBER_DNS_TYPE_HTTPS 65
#define EMBER_DNS_TYPE_ANY 255

#define EMBER_DNS_CLASS_IN 1

/* RFC 6891 §6.1.4: the DO bit in the OPT record's TTL. */
#define EMBER_DNS_EDNS_FLAG_DO 0x8000

static inline guint16
ember_dns_rd16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
ember_dns_rd32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static inline void
ember_dns_wr16 (guint8 *p, guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static inline void
ember_dns_wr32 (guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}
