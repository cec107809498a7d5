/* tests/dns/test-codec: the DNS message codec (core/dns/codec.h) on
 * exchanges captured from dig, unbound and dnsmasq (captures.h, made by
 * tests/dns/captures/capture.sh), on hand-made malformed messages, and
 * on build / parse round trips. */
#include <string.h>

#include "captures.h"
#include "dns/codec.h"

/* g_assert_cmpmem takes int lengths */
#define assert_mem(a, al, b, bl) g_assert_cmpmem ((a), (int) (al), (b), (int) (bl))

typedef struct {
  const char *name;
  const guint8 *query;
  gsize query_len;
  const guint8 *response;
  gsize response_len;
} Exchange;

#define EXCHANGE(n) \
  { #n, capture_##n##_query, sizeof capture_##n##_query, capture_##n##_response, \
    sizeof capture_##n##_response }

static const Exchange exchanges[] = {
  EXCHANGE (unbound_a),        EXCHANGE (unbound_aaaa),    EXCHANGE (unbound_cname),
  EXCHANGE (unbound_nxdomain), EXCHANGE (unbound_https),   EXCHANGE (unbound_ptr),
  EXCHANGE (unbound_tc),       EXCHANGE (unbound_big),     EXCHANGE (dnsmasq_a),
  EXCHANGE (dnsmasq_aaaa),     EXCHANGE (dnsmasq_refused),
};

static EmberDnsMessage
parse_ok (const guint8 *buf, gsize len)
{
  EmberDnsMessage msg;

  g_assert_cmpstr (ember_dns_result_to_string (ember_dns_message_parse (&msg, buf, len)), ==,
                   "ok");
  return msg;
}

static guint
count_records (const EmberDnsMessage *msg, guint16 type, EmberDnsSection section)
{
  EmberDnsRecordIter iter;
  EmberDnsRecord rr;
  guint n = 0;

  ember_dns_record_iter_init (&iter, msg);
  while (ember_dns_record_iter_next (&iter, &rr))
    n += rr.type == type && rr.section == section;
  return n;
}

/* Every captured message parses, every record's name reads, and each
 * response answers its query's question. */
static void
test_parse_captures (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (exchanges); i++)
    {
      const Exchange *e = &exchanges[i];
      EmberDnsMessage q = parse_ok (e->query, e->query_len);
      EmberDnsMessage r = parse_ok (e->response, e->response_len);
      EmberDnsRecordIter iter;
      EmberDnsRecord rr;
      guint n = 0;

      g_test_message ("%s", e->name);
      g_assert_false (ember_dns_message_is_response (&q));
      g_assert_true (ember_dns_message_is_response (&r));
      g_assert_cmpuint (q.flags & EMBER_DNS_FLAG_RD, !=, 0);
      g_assert_cmpuint (q.id, ==, r.id);
      g_assert_true (ember_dns_message_same_question (&q, &r));
      g_assert_cmpuint (ember_dns_message_opcode (&q), ==, EMBER_DNS_OPCODE_QUERY);
      ember_dns_record_iter_init (&iter, &r);
      while (ember_dns_record_iter_next (&iter, &rr))
        {
          char text[EMBER_DNS_NAME_TEXT_MAX];
          g_assert_cmpint (ember_dns_name_read (r.buf, r.len, rr.name_off, NULL, text,
                                                sizeof text, NULL), ==, EMBER_DNS_OK);
          n++;
        }
      g_assert_cmpuint (n, ==, (guint) r.ancount + r.nscount + r.arcount);
      g_assert_cmpuint (r.records_end, ==, r.len);
    }
}

static void
test_parse_dig_query (void)
{
  EmberDnsMessage q = parse_ok (capture_unbound_a_query, sizeof capture_unbound_a_query);
  char text[EMBER_DNS_NAME_TEXT_MAX];

  g_assert_cmpint (ember_dns_message_qname (&q, text, sizeof text), ==, EMBER_DNS_OK);
  g_assert_cmpstr (text, ==, "app.corp.example");
  g_assert_cmpuint (q.qtype, ==, EMBER_DNS_TYPE_A);
  g_assert_cmpuint (q.qclass, ==, EMBER_DNS_CLASS_IN);
  /* dig 9.18 sends EDNS 0 with 1232 bytes and a COOKIE option */
  g_assert_true (q.has_edns);
  g_assert_cmpuint (q.edns_version, ==, 0);
  g_assert_cmpuint (q.edns_udp_size, ==, 1232);
  g_assert_cmpuint (q.opt_len, ==, EMBER_DNS_OPT_LEN + 12);
  g_assert_cmpuint (ember_dns_message_udp_limit (&q), ==, 1232);

  q = parse_ok (capture_unbound_tc_query, sizeof capture_unbound_tc_query);
  g_assert_false (q.has_edns);
  g_assert_cmpuint (ember_dns_message_udp_limit (&q), ==, EMBER_DNS_UDP_MIN);
}

static void
test_parse_answers (void)
{
  EmberDnsMessage r;
  EmberDnsRecordIter iter;
  EmberDnsRecord rr;
  char text[EMBER_DNS_NAME_TEXT_MAX];
  static const guint8 v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };

  r = parse_ok (capture_unbound_a_response, sizeof capture_unbound_a_response);
  ember_dns_record_iter_init (&iter, &r);
  g_assert_true (ember_dns_record_iter_next (&iter, &rr));
  g_assert_cmpuint (rr.section, ==, EMBER_DNS_SECTION_ANSWER);
  g_assert_cmpuint (rr.type, ==, EMBER_DNS_TYPE_A);
  g_assert_cmpuint (rr.ttl, ==, 300);
  g_assert_cmpuint (rr.rdlength, ==, 4);
  assert_mem (r.buf + rr.rdata_off, 4, ((guint8[]){ 10, 0, 0, 7 }), 4);
  g_assert_cmpint (ember_dns_name_read (r.buf, r.len, rr.name_off, NULL, text, sizeof text,
                                        NULL), ==, EMBER_DNS_OK);
  g_assert_cmpstr (text, ==, "app.corp.example");
  g_assert_true (ember_dns_record_iter_next (&iter, &rr));
  g_assert_cmpuint (rr.type, ==, EMBER_DNS_TYPE_OPT);
  g_assert_false (ember_dns_record_iter_next (&iter, &rr));

  r = parse_ok (capture_unbound_aaaa_response, sizeof capture_unbound_aaaa_response);
  ember_dns_record_iter_init (&iter, &r);
  g_assert_true (ember_dns_record_iter_next (&iter, &rr));
  g_assert_cmpuint (rr.type, ==, EMBER_DNS_TYPE_AAAA);
  assert_mem (r.buf + rr.rdata_off, rr.rdlength, v6, 16);

  /* the CNAME target is "app" + a pointer into the question */
  r = parse_ok (capture_unbound_cname_response, sizeof capture_unbound_cname_response);
  ember_dns_record_iter_init (&iter, &r);
  g_assert_true (ember_dns_record_iter_next (&iter, &rr));
  g_assert_cmpuint (rr.type, ==, EMBER_DNS_TYPE_CNAME);
  g_assert_cmpint (ember_dns_name_read (r.buf, r.len, rr.rdata_off, NULL, text, sizeof text,
                                        NULL), ==, EMBER_DNS_OK);
  g_assert_cmpstr (text, ==, "app.corp.example");

  r = parse_ok (capture_unbound_ptr_response, sizeof capture_unbound_ptr_response);
  g_assert_cmpint (ember_dns_message_qname (&r, text, sizeof text), ==, EMBER_DNS_OK);
  g_assert_cmpstr (text, ==, "7.0.0.10.in-addr.arpa");
  ember_dns_record_iter_init (&iter, &r);
  g_assert_true (ember_dns_record_iter_next (&iter, &rr));
  g_assert_cmpuint (rr.type, ==, EMBER_DNS_TYPE_PTR);
  g_assert_cmpint (ember_dns_name_read (r.buf, r.len, rr.rdata_off, NULL, text, sizeof text,
                                        NULL), ==, EMBER_DNS_OK);
  g_assert_cmpstr (text, ==, "app.corp.example");

  r = parse_ok (capture_unbound_nxdomain_response, sizeof capture_unbound_nxdomain_response);
  g_assert_cmpuint (ember_dns_message_rcode (&r), ==, EMBER_DNS_RCODE_NXDOMAIN);
  g_assert_cmpuint (count_records (&r, EMBER_DNS_TYPE_SOA, EMBER_DNS_SECTION_AUTHORITY), ==, 1);

  r = parse_ok (capture_unbound_https_response, sizeof capture_unbound_https_response);
  g_assert_cmpuint (ember_dns_message_rcode (&r), ==, EMBER_DNS_RCODE_NOERROR);
  g_assert_cmpuint (r.ancount, ==, 0);

  r = parse_ok (capture_unbound_tc_response, sizeof capture_unbound_tc_response);
  g_assert_cmpuint (r.flags & EMBER_DNS_FLAG_TC, !=, 0);

  r = parse_ok (capture_unbound_big_response, sizeof capture_unbound_big_response);
  g_assert_cmpuint (count_records (&r, EMBER_DNS_TYPE_A, EMBER_DNS_SECTION_ANSWER), ==, 40);

  r = parse_ok (capture_dnsmasq_refused_response, sizeof capture_dnsmasq_refused_response);
  g_assert_cmpuint (ember_dns_message_rcode (&r), ==, EMBER_DNS_RCODE_REFUSED);
}

/* A message cut anywhere is refused: the counts promise more. */
static void
test_parse_every_prefix_fails (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (exchanges); i++)
    for (int side = 0; side < 2; side++)
      {
        const guint8 *full = side ? exchanges[i].response : exchanges[i].query;
        gsize len = side ? exchanges[i].response_len : exchanges[i].query_len;

        for (gsize cut = 0; cut < len; cut++)
          {
            g_autofree guint8 *copy = g_memdup2 (full, cut ? cut : 1);
            EmberDnsMessage msg;
            EmberDnsResult r = ember_dns_message_parse (&msg, copy, cut);

            g_assert_cmpint (r, !=, EMBER_DNS_OK);
            if (cut < EMBER_DNS_HEADER_LEN)
              g_assert_cmpint (r, ==, EMBER_DNS_ERR_SHORT_HEADER);
            else
              g_assert_cmpuint (msg.id, ==, ember_dns_rd16 (full));
          }
      }
}

/* A hand-made message: header with the given counts, then `body`. */
static gsize
make (guint8 *out, guint16 qd, guint16 an, guint16 ns, guint16 ar, const guint8 *body,
      gsize body_len)
{
  static const guint8 header[4] = { 0xbe, 0xef, 0x01, 0x00 };

  memcpy (out, header, 4);
  ember_dns_wr16 (out + 4, qd);
  ember_dns_wr16 (out + 6, an);
  ember_dns_wr16 (out + 8, ns);
  ember_dns_wr16 (out + 10, ar);
  memcpy (out + 12, body, body_len);
  return 12 + body_len;
}

typedef struct {
  const char *what;
  guint16 qd, an, ns, ar;
  guint8 body[400];
  gsize body_len;
  EmberDnsResult expect;
} Malformed;

#define Q_APP 3, 'a', 'p', 'p', 0  /* "app." at offset 12, 5 bytes */
#define A_IN 0, 1, 0, 1
#define RR_A_TAIL 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1

static const Malformed malformed[] = {
  { "qdcount 0", 0, 0, 0, 0, { 0 }, 0, EMBER_DNS_ERR_QDCOUNT },
  { "qdcount 2", 2, 0, 0, 0, { Q_APP, A_IN, Q_APP, A_IN }, 18, EMBER_DNS_ERR_QDCOUNT },
  { "a question name pointing at itself", 1, 0, 0, 0, { 0xc0, 12, A_IN }, 6,
    EMBER_DNS_ERR_POINTER },
  { "a label then a pointer back to the name's own start", 1, 0, 0, 0,
    { 1, 'x', 0xc0, 12, A_IN }, 8, EMBER_DNS_ERR_POINTER },
  { "a pointer into the header", 1, 0, 0, 0, { 0xc0, 4, A_IN }, 6, EMBER_DNS_ERR_POINTER },
  { "a pointer past the end", 1, 0, 0, 0, { 0xc0, 0xff, A_IN }, 6, EMBER_DNS_ERR_POINTER },
  { "two answers pointing at each other", 1, 2, 0, 0,
    { Q_APP, A_IN, 0xc0, 37, RR_A_TAIL, 0xc0, 21, RR_A_TAIL }, 41, EMBER_DNS_ERR_POINTER },
  { "a forward pointer to a later record", 1, 2, 0, 0,
    { Q_APP, A_IN, 0xc0, 37, RR_A_TAIL, 1, 'b', 0, RR_A_TAIL }, 42, EMBER_DNS_ERR_POINTER },
  /* Answer 2's name points back into answer 1's rdata, where a 20-byte
   * label starts that runs on past the pointer itself: a name no
   * compressor writes, and one a cut after answer 1 would leave dangling
   * (found by fuzz-dns-codec through ember_dns_truncate). */
  { "a pointer to a name that runs past the pointer", 1, 2, 0, 0,
    { Q_APP, A_IN, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 20, 0, 0, 1, 0xc0, 33, 0, 16, 0, 1,
      0, 0, 0, 60, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0 },
    45, EMBER_DNS_ERR_POINTER },
  { "a pointer cut after its first byte", 1, 0, 0, 0, { 0xc0 }, 1, EMBER_DNS_ERR_TRUNCATED },
  { "a label running past the end", 1, 0, 0, 0, { 9, 'a', 'b' }, 3, EMBER_DNS_ERR_TRUNCATED },
  { "a name without its root label", 1, 0, 0, 0, { 3, 'a', 'p', 'p' }, 4,
    EMBER_DNS_ERR_TRUNCATED },
  { "a question without type and class", 1, 0, 0, 0, { Q_APP, 0, 1 }, 7,
    EMBER_DNS_ERR_TRUNCATED },
  { "a label length byte 64 (type 01)", 1, 0, 0, 0, { 0x40, A_IN }, 5, EMBER_DNS_ERR_LABEL },
  { "a label length byte 128 (type 10)", 1, 0, 0, 0, { 0x80, A_IN }, 5, EMBER_DNS_ERR_LABEL },
  { "an rdlength past the end", 1, 1, 0, 0,
    { Q_APP, A_IN, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 9, 10, 0, 0, 1 }, 25,
    EMBER_DNS_ERR_TRUNCATED },
  { "an answer count with no answer", 1, 1, 0, 0, { Q_APP, A_IN }, 9, EMBER_DNS_ERR_TRUNCATED },
  { "bytes after the last record", 1, 0, 0, 0, { Q_APP, A_IN, 0 }, 10,
    EMBER_DNS_ERR_TRAILING },
  { "an OPT in the answer section", 1, 1, 0, 0,
    { Q_APP, A_IN, 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0 }, 20, EMBER_DNS_ERR_OPT },
  { "two OPT records", 1, 0, 0, 2,
    { Q_APP, A_IN, 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0 }, 31,
    EMBER_DNS_ERR_OPT },
  { "an OPT not owned by the root", 1, 0, 0, 1,
    { Q_APP, A_IN, 0xc0, 12, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0 }, 21, EMBER_DNS_ERR_OPT },
};

static void
test_parse_malformed (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (malformed); i++)
    {
      const Malformed *m = &malformed[i];
      guint8 buf[512];
      gsize len = make (buf, m->qd, m->an, m->ns, m->ar, m->body, m->body_len);
      EmberDnsMessage msg;
      EmberDnsResult r = ember_dns_message_parse (&msg, buf, len);

      g_test_message ("%s: %s", m->what, ember_dns_result_to_string (r));
      g_assert_cmpstr (ember_dns_result_to_string (r), ==,
                       ember_dns_result_to_string (m->expect));
      /* the header is still there for a FORMERR */
      g_assert_cmpuint (msg.id, ==, 0xbeef);
    }
}

/* 255 octets on the wire is the most a name may have. */
static void
test_parse_name_length_limit (void)
{
  guint8 body[400], buf[512];
  gsize o = 0, len;
  EmberDnsMessage msg;
  char text[EMBER_DNS_NAME_TEXT_MAX];
  gsize wire = 0;

  /* 3 x (1 + 63) + (1 + 61) + 1 = 255 */
  for (int l = 0; l < 4; l++)
    {
      guint8 n = l < 3 ? 63 : 61;
      body[o++] = n;
      memset (body + o, 'a' + l, n);
      o += n;
    }
  body[o++] = 0;
  memcpy (body + o, (guint8[]){ A_IN }, 4);
  len = make (buf, 1, 0, 0, 0, body, o + 4);
  g_assert_cmpint (ember_dns_message_parse (&msg, buf, len), ==, EMBER_DNS_OK);
  g_assert_cmpuint (msg.qname_wire_len, ==, 255);
  g_assert_cmpint (ember_dns_name_read (buf, len, 12, NULL, text, sizeof text, &wire), ==,
                   EMBER_DNS_OK);
  g_assert_cmpuint (strlen (text), ==, 253);
  g_assert_cmpuint (wire, ==, 255);

  /* one more octet in the last label: 256 */
  body[3 * 64] = 62;
  memmove (body + 3 * 64 + 1 + 62, body + 3 * 64 + 1 + 61, 5);
  body[3 * 64 + 62] = 'd';
  len = make (buf, 1, 0, 0, 0, body, o + 5);
  g_assert_cmpint (ember_dns_message_parse (&msg, buf, len), ==, EMBER_DNS_ERR_NAME_TOO_LONG);

  /* a chain of five segments, each a 60-octet label and a pointer back
   * to the one before (every pointer valid): the name it spells is over
   * 255 octets. The segments are in no record: read the last directly. */
  memcpy (body, (guint8[]){ Q_APP, A_IN }, 9);
  o = 9;
  for (int i = 0; i < 5; i++)
    {
      gsize here = 12 + o;
      body[o++] = 60;
      memset (body + o, 'x', 60);
      o += 60;
      body[o++] = 0xc0;
      body[o++] = (guint8) (i == 0 ? 12 : here - 63);
    }
  len = make (buf, 1, 0, 0, 0, body, o);
  g_assert_cmpint (ember_dns_name_read (buf, len, 12 + o - 63, NULL, NULL, 0, NULL), ==,
                   EMBER_DNS_ERR_NAME_TOO_LONG);
  /* the segment before it spells 4 x 61 + 5 = 249 octets: fine */
  g_assert_cmpint (ember_dns_name_read (buf, len, 12 + o - 126, NULL, NULL, 0, &wire), ==,
                   EMBER_DNS_OK);
  g_assert_cmpuint (wire, ==, 249);
}

static void
test_name_text_escapes (void)
{
  guint8 buf[64];
  char text[EMBER_DNS_NAME_TEXT_MAX];
  static const guint8 body[] = { 4, 'a', '.', 'b', 0, 2, 'B', '\\', 0, A_IN };
  gsize len = make (buf, 1, 0, 0, 0, body, sizeof body);

  g_assert_cmpint (ember_dns_name_read (buf, len, 12, NULL, text, sizeof text, NULL), ==,
                   EMBER_DNS_OK);
  g_assert_cmpstr (text, ==, "a\\046b\\000.B\\092");
  /* too small a text buffer is an error, not an overflow */
  g_assert_cmpint (ember_dns_name_read (buf, len, 12, NULL, text, 8, NULL), ==,
                   EMBER_DNS_ERR_NO_SPACE);
  /* the root */
  buf[12] = 0;
  g_assert_cmpint (ember_dns_name_read (buf, len, 12, NULL, text, sizeof text, NULL), ==,
                   EMBER_DNS_OK);
  g_assert_cmpstr (text, ==, ".");
}

static void
test_name_write (void)
{
  guint8 out[300];
  gsize len = 0;
  g_autofree char *long_label = g_strnfill (64, 'a');
  g_autofree char *ok_label = g_strnfill (63, 'a');

  g_assert_cmpint (ember_dns_name_write ("App.Corp.Example.", out, sizeof out, &len), ==,
                   EMBER_DNS_OK);
  assert_mem (out, len, "\3App\4Corp\7Example", 18);
  g_assert_cmpint (ember_dns_name_write (".", out, sizeof out, &len), ==, EMBER_DNS_OK);
  g_assert_cmpuint (len, ==, 1);
  g_assert_cmpint (ember_dns_name_write (ok_label, out, sizeof out, &len), ==, EMBER_DNS_OK);
  g_assert_cmpint (ember_dns_name_write (long_label, out, sizeof out, &len), ==,
                   EMBER_DNS_ERR_NAME_TEXT);
  g_assert_cmpint (ember_dns_name_write ("a..b", out, sizeof out, &len), ==,
                   EMBER_DNS_ERR_NAME_TEXT);
  g_assert_cmpint (ember_dns_name_write ("a..", out, sizeof out, &len), ==,
                   EMBER_DNS_ERR_NAME_TEXT);
  g_assert_cmpint (ember_dns_name_write (".a", out, sizeof out, &len), ==,
                   EMBER_DNS_ERR_NAME_TEXT);
  g_assert_cmpint (ember_dns_name_write ("a\\.b", out, sizeof out, &len), ==,
                   EMBER_DNS_ERR_NAME_TEXT);
  g_assert_cmpint (ember_dns_name_write ("app.corp.example", out, 5, &len), ==,
                   EMBER_DNS_ERR_NO_SPACE);
}

/* Our answers to dig's captured queries are byte for byte what unbound
 * answered from the same local data. */
static void
test_build_matches_unbound (void)
{
  guint8 out[1024];
  gsize len = 0;
  EmberDnsMessage q;
  EmberDnsAnswer a = { .type = EMBER_DNS_TYPE_A, .ttl = 300, .addr = { 10, 0, 0, 7 } };
  EmberDnsAnswer aaaa = { .type = EMBER_DNS_TYPE_AAAA, .ttl = 300,
                          .addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 } };
  EmberDnsAnswer ptr = { .type = EMBER_DNS_TYPE_PTR, .ttl = 3600,
                         .target = "app.corp.example" };

  q = parse_ok (capture_unbound_a_query, sizeof capture_unbound_a_query);
  g_assert_cmpint (ember_dns_build_response (&q, EMBER_DNS_RCODE_NOERROR, EMBER_DNS_FLAG_AA, &a,
                                             1, ember_dns_message_udp_limit (&q), out,
                                             sizeof out, &len), ==, EMBER_DNS_OK);
  assert_mem (out, len, capture_unbound_a_response, sizeof capture_unbound_a_response);

  q = parse_ok (capture_unbound_aaaa_query, sizeof capture_unbound_aaaa_query);
  g_assert_cmpint (ember_dns_build_response (&q, EMBER_DNS_RCODE_NOERROR, EMBER_DNS_FLAG_AA,
                                             &aaaa, 1, ember_dns_message_udp_limit (&q), out,
                                             sizeof out, &len), ==, EMBER_DNS_OK);
  assert_mem (out, len, capture_unbound_aaaa_response, sizeof capture_unbound_aaaa_response);

  q = parse_ok (capture_unbound_ptr_query, sizeof capture_unbound_ptr_query);
  g_assert_cmpint (ember_dns_build_response (&q, EMBER_DNS_RCODE_NOERROR, EMBER_DNS_FLAG_AA,
                                             &ptr, 1, ember_dns_message_udp_limit (&q), out,
                                             sizeof out, &len), ==, EMBER_DNS_OK);
  assert_mem (out, len, capture_unbound_ptr_response, sizeof capture_unbound_ptr_response);

  /* dnsmasq answers a query without EDNS: no OPT back either */
  q = parse_ok (capture_dnsmasq_aaaa_query, sizeof capture_dnsmasq_aaaa_query);
  aaaa.addr[15] = 9;
  aaaa.ttl = 0;
  g_assert_cmpint (ember_dns_build_response (&q, EMBER_DNS_RCODE_NOERROR, EMBER_DNS_FLAG_AA,
                                             &aaaa, 1, ember_dns_message_udp_limit (&q), out,
                                             sizeof out, &len), ==, EMBER_DNS_OK);
  assert_mem (out, len, capture_dnsmasq_aaaa_response, sizeof capture_dnsmasq_aaaa_response);
}

static void
test_build_negative_answers (void)
{
  static const guint rcodes[] = { EMBER_DNS_RCODE_NOERROR, EMBER_DNS_RCODE_NXDOMAIN,
                                  EMBER_DNS_RCODE_SERVFAIL };
  EmberDnsMessage q = parse_ok (capture_unbound_a_query, sizeof capture_unbound_a_query);

  for (gsize i = 0; i < G_N_ELEMENTS (rcodes); i++)
    {
      guint8 out[512];
      gsize len = 0;
      EmberDnsMessage r;

      g_assert_cmpint (ember_dns_build_response (&q, rcodes[i], 0, NULL, 0, 512, out,
                                                 sizeof out, &len), ==, EMBER_DNS_OK);
      r = parse_ok (out, len);
      g_assert_true (ember_dns_message_is_response (&r));
      g_assert_cmpuint (r.id, ==, q.id);
      g_assert_cmpuint (ember_dns_message_rcode (&r), ==, rcodes[i]);
      g_assert_cmpuint (r.ancount, ==, 0);
      g_assert_cmpuint (r.flags & (EMBER_DNS_FLAG_RD | EMBER_DNS_FLAG_RA | EMBER_DNS_FLAG_AA),
                        ==, EMBER_DNS_FLAG_RD | EMBER_DNS_FLAG_RA);
      g_assert_true (ember_dns_message_same_question (&q, &r));
      g_assert_true (r.has_edns);
      g_assert_cmpuint (r.edns_udp_size, ==, EMBER_DNS_EDNS_SIZE);
    }
}

static void
test_build_badvers (void)
{
  guint8 query[64], out[512];
  gsize qlen = 0, len = 0;
  EmberDnsMessage q, r;
  EmberDnsAnswer a = { .type = EMBER_DNS_TYPE_A, .ttl = 1 };

  g_assert_cmpint (ember_dns_build_query (7, "app.corp.example", EMBER_DNS_TYPE_A, 1232, query,
                                          sizeof query, &qlen), ==, EMBER_DNS_OK);
  query[qlen - 5] = 1;  /* EDNS version 1 */
  q = parse_ok (query, qlen);
  g_assert_cmpuint (q.edns_version, ==, 1);
  g_assert_cmpint (ember_dns_build_response (&q, EMBER_DNS_RCODE_NOERROR, 0, &a, 1, 512, out,
                                             sizeof out, &len), ==, EMBER_DNS_OK);
  r = parse_ok (out, len);
  g_assert_cmpuint (ember_dns_message_rcode (&r), ==, EMBER_DNS_RCODE_BADVERS);
  g_assert_cmpuint (r.ancount, ==, 0);
  g_assert_cmpuint (r.edns_version, ==, 0);
}

static void
test_build_header_error (void)
{
  guint8 out[12];
  gsize len = 0;
  EmberDnsMessage r;

  g_assert_cmpint (ember_dns_build_header_error (0xbeef, EMBER_DNS_FLAG_RD,
                                                 EMBER_DNS_RCODE_FORMERR, out, sizeof out, &len),
                   ==, EMBER_DNS_OK);
  g_assert_cmpuint (len, ==, 12);
  /* it has no question, so our own parser (one question) refuses it */
  g_assert_cmpint (ember_dns_message_parse (&r, out, len), ==, EMBER_DNS_ERR_QDCOUNT);
  g_assert_cmpuint (r.id, ==, 0xbeef);
  g_assert_cmpuint (r.flags, ==, EMBER_DNS_FLAG_QR | EMBER_DNS_FLAG_RD | EMBER_DNS_FLAG_RA |
                                     EMBER_DNS_RCODE_FORMERR);
  g_assert_cmpint (ember_dns_build_header_error (1, 0, 1, out, 11, &len), ==,
                   EMBER_DNS_ERR_NO_SPACE);
}

/* 40 answers to a client without EDNS: as many as fit 512 bytes, TC. */
static void
test_build_truncates_to_512 (void)
{
  EmberDnsMessage q = parse_ok (capture_unbound_tc_query, sizeof capture_unbound_tc_query), r;
  EmberDnsAnswer answers[40];
  guint8 out[2048];
  gsize len = 0;

  for (guint i = 0; i < 40; i++)
    answers[i] = (EmberDnsAnswer){ .type = EMBER_DNS_TYPE_A, .ttl = 1,
                                   .addr = { 10, 0, 1, (guint8) (i + 1) } };
  g_assert_cmpint (ember_dns_build_response (&q, 0, 0, answers, 40,
                                             ember_dns_message_udp_limit (&q), out, sizeof out,
                                             &len), ==, EMBER_DNS_OK);
  g_assert_cmpuint (len, <=, 512);
  r = parse_ok (out, len);
  g_assert_cmpuint (r.flags & EMBER_DNS_FLAG_TC, !=, 0);
  /* (512 - 12 - 24) / 16 */
  g_assert_cmpuint (r.ancount, ==, 29);
  g_assert_false (r.has_edns);

  /* the same over TCP: everything, no TC */
  g_assert_cmpint (ember_dns_build_response (&q, 0, 0, answers, 40, EMBER_DNS_TCP_MAX, out,
                                             sizeof out, &len), ==, EMBER_DNS_OK);
  r = parse_ok (out, len);
  g_assert_cmpuint (r.flags & EMBER_DNS_FLAG_TC, ==, 0);
  g_assert_cmpuint (r.ancount, ==, 40);

  /* a buffer too small for the question itself */
  g_assert_cmpint (ember_dns_build_response (&q, 0, 0, answers, 40, 512, out, 20, &len), ==,
                   EMBER_DNS_ERR_NO_SPACE);
}

/* unbound's 687-byte answer cut for a client that allows 512. */
static void
test_truncate_real_answer (void)
{
  guint8 buf[1024];
  gsize len = sizeof capture_unbound_big_response, out_len = 0;
  EmberDnsMessage msg, r;

  memcpy (buf, capture_unbound_big_response, len);
  msg = parse_ok (buf, len);
  g_assert_cmpint (ember_dns_truncate (&msg, buf, 512, &out_len), ==, EMBER_DNS_OK);
  g_assert_cmpuint (out_len, <=, 512);
  r = parse_ok (buf, out_len);
  g_assert_cmpuint (r.flags & EMBER_DNS_FLAG_TC, !=, 0);
  /* (512 - 12 - 24 - 11) / 16 = 29 answers and the OPT */
  g_assert_cmpuint (r.ancount, ==, 29);
  g_assert_true (r.has_edns);
  g_assert_cmpuint (r.edns_udp_size, ==, 1232);
  g_assert_cmpuint (count_records (&r, EMBER_DNS_TYPE_A, EMBER_DNS_SECTION_ANSWER), ==, 29);

  /* what fits stays as it is */
  memcpy (buf, capture_unbound_a_response, sizeof capture_unbound_a_response);
  msg = parse_ok (buf, sizeof capture_unbound_a_response);
  g_assert_cmpint (ember_dns_truncate (&msg, buf, 512, &out_len), ==, EMBER_DNS_OK);
  assert_mem (buf, out_len, capture_unbound_a_response, sizeof capture_unbound_a_response);

  /* not even the question fits */
  g_assert_cmpint (ember_dns_truncate (&msg, buf, 20, &out_len), ==, EMBER_DNS_ERR_NO_SPACE);
}

/* A response whose authority does not fit gets TC; one whose
 * additional records do not fit loses them quietly. */
static void
test_truncate_sections (void)
{
  guint8 buf[1024];
  gsize len = sizeof capture_unbound_nxdomain_response, out_len = 0;
  EmberDnsMessage msg, r;

  memcpy (buf, capture_unbound_nxdomain_response, len);
  msg = parse_ok (buf, len);
  /* room for the question and the OPT, not the SOA */
  g_assert_cmpint (ember_dns_truncate (&msg, buf, msg.question_end + EMBER_DNS_OPT_LEN,
                                       &out_len), ==, EMBER_DNS_OK);
  r = parse_ok (buf, out_len);
  g_assert_cmpuint (r.flags & EMBER_DNS_FLAG_TC, !=, 0);
  g_assert_cmpuint (r.nscount, ==, 0);
  g_assert_cmpuint (ember_dns_message_rcode (&r), ==, EMBER_DNS_RCODE_NXDOMAIN);
}

static void
test_query_round_trip (void)
{
  static const guint16 types[] = { EMBER_DNS_TYPE_A, EMBER_DNS_TYPE_AAAA, EMBER_DNS_TYPE_PTR,
                                   EMBER_DNS_TYPE_HTTPS };
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    for (guint16 edns = 0; edns <= 1232; edns += 1232)
      {
        guint8 out[128];
        gsize len = 0;
        char text[EMBER_DNS_NAME_TEXT_MAX];
        EmberDnsMessage q;

        g_assert_cmpint (ember_dns_build_query ((guint16) (i + 1), "Host-1.corp.example.",
                                                types[i], edns, out, sizeof out, &len),
                         ==, EMBER_DNS_OK);
        q = parse_ok (out, len);
        g_assert_cmpuint (q.id, ==, i + 1);
        g_assert_cmpuint (q.qtype, ==, types[i]);
        g_assert_cmpuint (q.has_edns, ==, edns != 0);
        g_assert_cmpint (ember_dns_message_qname (&q, text, sizeof text), ==, EMBER_DNS_OK);
        g_assert_cmpstr (text, ==, "Host-1.corp.example");
        /* the 0x20 case of a name does not make another question */
        out[13] = 'h';
        {
          EmberDnsMessage q2 = parse_ok (out, len);
          g_assert_true (ember_dns_message_same_question (&q, &q2));
        }
      }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dns/codec/parse/captured-exchanges-from-unbound-and-dnsmasq",
                   test_parse_captures);
  g_test_add_func ("/dns/codec/parse/dig-query-with-edns", test_parse_dig_query);
  g_test_add_func ("/dns/codec/parse/answers-of-every-record-type", test_parse_answers);
  g_test_add_func ("/dns/codec/parse/every-truncated-prefix-fails",
                   test_parse_every_prefix_fails);
  g_test_add_func ("/dns/codec/parse/malformed-messages-give-clear-errors",
                   test_parse_malformed);
  g_test_add_func ("/dns/codec/parse/names-stop-at-255-octets", test_parse_name_length_limit);
  g_test_add_func ("/dns/codec/name/text-escapes-dots-and-binary", test_name_text_escapes);
  g_test_add_func ("/dns/codec/name/write-refuses-bad-names", test_name_write);
  g_test_add_func ("/dns/codec/build/answers-match-unbound-byte-for-byte",
                   test_build_matches_unbound);
  g_test_add_func ("/dns/codec/build/noerror-nxdomain-servfail-without-answers",
                   test_build_negative_answers);
  g_test_add_func ("/dns/codec/build/edns-version-1-gets-badvers", test_build_badvers);
  g_test_add_func ("/dns/codec/build/formerr-is-header-only", test_build_header_error);
  g_test_add_func ("/dns/codec/build/truncates-to-512-without-edns",
                   test_build_truncates_to_512);
  g_test_add_func ("/dns/codec/truncate/real-answer-to-512-keeps-opt", test_truncate_real_answer);
  g_test_add_func ("/dns/codec/truncate/authority-cut-sets-tc", test_truncate_sections);
  g_test_add_func ("/dns/codec/build/query-round-trip", test_query_round_trip);
  return g_test_run ();
}
