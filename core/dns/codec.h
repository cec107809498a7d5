/* dns/codec — DNS messages as views over the caller's buffer.
 *
 * Parsing validates a whole message once: the header, exactly one
 * question, every record of the answer, authority and additional
 * sections (names with compression, fixed part, rdata length) and the
 * EDNS OPT record. Afterwards the accessors and the record iterator
 * never read past the buffer. Names are checked as RFC 1035 §4.1.4 and
 * knot's parser do: a compression pointer must point before the start
 * of the name segment that holds it (so chains always move backwards and
 * cannot loop), never into the header, and the name it spells stays
 * within 255 octets; length bytes 64..191 (the 01 and 10 label types,
 * labels over 63 octets) are refused.
 *
 * Building writes responses into caller buffers without allocating: a
 * header-only error (FORMERR), a response to a parsed query with A,
 * AAAA or PTR answers or none (NOERROR / NXDOMAIN / SERVFAIL), a query,
 * and truncation of any message to a size limit with the TC bit set
 * (512 bytes for a client without EDNS, RFC 1035 §4.2.1; its EDNS size
 * otherwise, RFC 6891 §6.2.5).
 *
 * Hot-path functions return an EmberDnsResult and never allocate. Bytes
 * from the network never reach an assertion. Stateless: any thread may
 * call it on a buffer that thread owns.
 */
#pragma once

#include <glib.h>

#include "dns/wire.h"

G_BEGIN_DECLS

typedef enum {
  EMBER_DNS_OK = 0,
  EMBER_DNS_ERR_SHORT_HEADER,  /* fewer than 12 bytes: not a DNS message */
  EMBER_DNS_ERR_TRUNCATED,     /* a name, question or record runs past the end */
  EMBER_DNS_ERR_QDCOUNT,       /* not exactly one question */
  EMBER_DNS_ERR_POINTER,       /* a compression pointer into the header, to itself
                                * or forward (loops and pointers past the end) */
  EMBER_DNS_ERR_LABEL,         /* a length byte of label type 01 or 10 (> 63) */
  EMBER_DNS_ERR_NAME_TOO_LONG, /* a name over 255 octets on the wire */
  EMBER_DNS_ERR_OPT,           /* OPT outside the additional section, twice,
                                * or not owned by the root */
  EMBER_DNS_ERR_TRAILING,      /* bytes after the last record */
  EMBER_DNS_ERR_NO_SPACE,      /* build: the buffer is too small */
  EMBER_DNS_ERR_NAME_TEXT,     /* build: a name that is not a plain DNS name */
} EmberDnsResult;

/* A static English name for `result`, for logs ("compression pointer ..."). */
const char *ember_dns_result_to_string (EmberDnsResult result);

typedef enum {
  EMBER_DNS_SECTION_ANSWER = 0,
  EMBER_DNS_SECTION_AUTHORITY,
  EMBER_DNS_SECTION_ADDITIONAL,
} EmberDnsSection;

/* The view. Filled by parse; read the fields, never write them. Offsets
 * are from `buf`. */
typedef struct {
  const guint8 *buf;
  gsize len;
  guint16 id;
  guint16 flags;                  /* second header word: QR, opcode, ..., rcode */
  guint16 qdcount, ancount, nscount, arcount;
  gsize qname_off;                /* the question's name (always 12) */
  gsize qname_wire_len;           /* its length on the wire, uncompressed */
  guint16 qtype, qclass;
  gsize question_end;             /* first byte after the question */
  gsize records_end;              /* first byte after the last record */
  gboolean has_edns;
  guint8 edns_version;
  guint8 edns_ext_rcode;          /* upper 8 bits of a 12-bit response code */
  guint16 edns_flags;             /* DO bit and the rest of the OPT TTL */
  guint16 edns_udp_size;          /* as sent (may be below 512) */
  gsize opt_off;                  /* the OPT record's first byte, if has_edns */
  gsize opt_len;                  /* its whole length */
} EmberDnsMessage;

/* Parses and validates the `len` bytes at `buf` (which must stay alive
 * and unchanged while `msg` is used). EMBER_DNS_OK fills `msg`; on an
 * error `msg` is unusable except msg->id and msg->flags, which are set
 * whenever the header was there (so a FORMERR can be answered). */
EmberDnsResult ember_dns_message_parse (EmberDnsMessage *msg, const guint8 *buf, gsize len);

static inline gboolean
ember_dns_message_is_response (const EmberDnsMessage *msg)
{
  return (msg->flags & EMBER_DNS_FLAG_QR) != 0;
}
static inline guint
ember_dns_message_opcode (const EmberDnsMessage *msg)
{
  return (msg->flags & EMBER_DNS_OPCODE_MASK) >> EMBER_DNS_OPCODE_SHIFT;
}
/* The response code, extended by the OPT record when there is one. */
static inline guint
ember_dns_message_rcode (const EmberDnsMessage *msg)
{
  return (guint) (msg->flags & EMBER_DNS_RCODE_MASK) | ((guint) msg->edns_ext_rcode << 4);
}
/* The largest response this asker takes over UDP: 512 without EDNS,
 * max(512, its EDNS size) with it (RFC 6891 §6.2.5). */
gsize ember_dns_message_udp_limit (const EmberDnsMessage *msg);

/* The question's name as text (see ember_dns_name_read). */
EmberDnsResult ember_dns_message_qname (const EmberDnsMessage *msg, char *text, gsize cap);

/* Whether the questions of two parsed messages are the same: name
 * compared case-insensitively (RFC 4343; resolvers may echo the 0x20 case
 * of the query), type and class equal. */
gboolean ember_dns_message_same_question (const EmberDnsMessage *a, const EmberDnsMessage *b);

/* One resource record of a parsed message. */
typedef struct {
  EmberDnsSection section;
  gsize name_off;                 /* owner name (may be compressed) */
  guint16 type, rclass;
  guint32 ttl;
  gsize rdata_off;
  guint16 rdlength;
  gsize end;                      /* first byte after the record */
} EmberDnsRecord;

/* Walks the records after the question, answer section first: init,
 * then each next fills `rr` and returns TRUE until the end. The message
 * was validated by parse, so the walk cannot fail. */
typedef struct {
  const EmberDnsMessage *msg;
  gsize off;
  guint index;
} EmberDnsRecordIter;

void ember_dns_record_iter_init (EmberDnsRecordIter *iter, const EmberDnsMessage *msg);
gboolean ember_dns_record_iter_next (EmberDnsRecordIter *iter, EmberDnsRecord *rr);

/* ---- names ------------------------------------------------------------ */

/* Reads the name at `off` of the message in buf[0, len), following
 * compression pointers under the rules above. *end receives the offset
 * after the name where it sits (after its first pointer, if any). The
 * text (may be NULL to only validate) is the presentation form without a
 * trailing dot ("." for the root): letters keep their case, '.' and '\'
 * inside a label and octets outside 0x21..0x7E are written \DDD
 * (RFC 1035 §5.1); `cap` must be at least EMBER_DNS_NAME_TEXT_MAX or the
 * result may be NO_SPACE. *wire_len (may be NULL) gets the uncompressed
 * wire length. */
EmberDnsResult ember_dns_name_read (const guint8 *buf, gsize len, gsize off, gsize *end,
                                    char *text, gsize cap, gsize *wire_len);

/* Writes the plain name `text` ("app.corp.example", trailing dot
 * optional, "." or "" for the root) uncompressed into out[0, cap).
 * NAME_TEXT for an empty label, a label over 63 octets, a backslash or a
 * name over 255 octets. */
EmberDnsResult ember_dns_name_write (const char *text, guint8 *out, gsize cap, gsize *len);

/* ---- building ---------------------------------------------------------- */

/* One answer record for ember_dns_build_response. The owner is the
 * question's name. */
typedef struct {
  guint16 type;          /* A, AAAA or PTR */
  guint32 ttl;
  guint8 addr[16];       /* A: 4 bytes, AAAA: 16 */
  const char *target;    /* PTR: a plain name */
} EmberDnsAnswer;

/* A response to the parsed `query` in out[0, cap), at most `limit` bytes
 * (the asker's size: ember_dns_message_udp_limit, or EMBER_DNS_TCP_MAX
 * over TCP). The question is copied with its case; id, opcode, RD and CD
 * come from the query; RA is set; `flags` may add AA. When the query
 * carried EDNS the response carries an OPT record advertising
 * EMBER_DNS_EDNS_SIZE (RFC 6891 §7); when its version is not 0 the
 * response is BADVERS with no answers (RFC 6891 §6.1.3). Answers that do
 * not fit `limit` are left out and TC is set (RFC 2181 §9). */
EmberDnsResult ember_dns_build_response (const EmberDnsMessage *query, guint rcode,
                                         guint16 flags, const EmberDnsAnswer *answers,
                                         guint n_answers, gsize limit, guint8 *out, gsize cap,
                                         gsize *out_len);

/* A header-only response with `rcode` to a message whose question could
 * not be read (FORMERR to qdcount 0 or 2, a compression loop): 12 bytes,
 * id and RD from the query's header, all counts 0. */
EmberDnsResult ember_dns_build_header_error (guint16 id, guint16 query_flags, guint rcode,
                                             guint8 *out, gsize cap, gsize *out_len);

/* A query for `name` (plain text) with RD set; `edns_size` 0 for none,
 * else an OPT record advertising it. */
EmberDnsResult ember_dns_build_query (guint16 id, const char *name, guint16 qtype,
                                      guint16 edns_size, guint8 *out, gsize cap,
                                      gsize *out_len);

/* Cuts the parsed message `msg` (whose buffer is `buf`, writable) down to
 * at most `limit` bytes in place: whole records are kept in order while
 * they fit, the OPT record is kept (moved after them) when the message
 * had one, the counts are rewritten, and TC is set when an answer or
 * authority record was left out. Additional records are dropped without
 * TC (RFC 2181 §9). *out_len receives the new length (the old one when
 * it already fits). NO_SPACE when not even the question fits. */
EmberDnsResult ember_dns_truncate (const EmberDnsMessage *msg, guint8 *buf, gsize limit,
                                   gsize *out_len);

/* Writes `id` into the header of the message at buf (len >= 12). */
static inline void
ember_dns_set_id (guint8 *buf, guint16 id)
{
  ember_dns_wr16 (buf, id);
}

G_END_DECLS
