/* tests/dns/test-stub: the client's stub resolver (core/dns/stub.h)
 * driven with plain values: resource names answered with proxy
 * addresses, the record-type rules, forwarding with ids rewritten and
 * matched by (upstream, id, question) (seed 004), TC → TCP, timeouts,
 * DNS over TCP, malformed queries, the saved address map, and the
 * UDP/IP framing for the TUN. */
#include <stdio.h>
#include <string.h>

#include "captures.h"
#include "dns/stub.h"
#include "ice/candidate.h"
#include "net/cidr.h"

#define assert_mem(a, al, b, bl) g_assert_cmpmem ((a), (int) (al), (b), (int) (bl))

#define ID_EXACT "00000000-0000-4000-8000-000000000001"
#define ID_QUESTION "00000000-0000-4000-8000-000000000002"
#define ID_STAR "00000000-0000-4000-8000-000000000003"
#define ID_DSTAR "00000000-0000-4000-8000-000000000004"
#define ID_V4 "00000000-0000-4000-8000-000000000005"
#define ID_V6 "00000000-0000-4000-8000-000000000006"
#define ID_OTHER "00000000-0000-4000-8000-000000000007"

static const EmberDnsStubResource resources[] = {
  { { ID_EXACT }, "app.corp.example", EMBER_DNS_STACK_DUAL },
  { { ID_QUESTION }, "host-?.corp.example", EMBER_DNS_STACK_DUAL },
  { { ID_STAR }, "*.corp.example", EMBER_DNS_STACK_DUAL },
  { { ID_DSTAR }, "**.corp.example", EMBER_DNS_STACK_DUAL },
  { { ID_V4 }, "v4.internal", EMBER_DNS_STACK_IPV4_ONLY },
  { { ID_V6 }, "v6.internal", EMBER_DNS_STACK_IPV6_ONLY },
};

#define T0 (1000 * G_TIME_SPAN_SECOND)

static guint64
rng_counter (gpointer user_data)
{
  guint64 *state = user_data;

  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 17;
}

static guint64
rng_constant (gpointer user_data)
{
  (void) user_data;
  return 0x4242;
}

static guint64 rng_state = 1;

static EmberDnsStub *
make_stub_with (EmberIceRng rng)
{
  EmberDnsStub *stub = ember_dns_stub_new (&rng);
  EmberAddr up[2];
  g_autoptr (GError) error = NULL;

  g_assert_true (ember_addr_parse_port ("192.0.2.53:53", &up[0], NULL));
  g_assert_true (ember_addr_parse_port ("[2001:db8::53]:53", &up[1], NULL));
  g_assert_true (ember_dns_stub_set_upstreams (stub, up, 2));
  g_assert_true (ember_dns_stub_set_resources (stub, resources, G_N_ELEMENTS (resources), &error));
  g_assert_no_error (error);
  return stub;
}

static EmberDnsStub *
make_stub (void)
{
  return make_stub_with ((EmberIceRng){ rng_counter, &rng_state });
}

static EmberDnsAsker
asker_udp (guint16 port, guint sentinel, guint family)
{
  EmberDnsAsker a = { .transport = EMBER_DNS_TRANSPORT_UDP };

  g_assert_true (ember_addr_parse (family == EMBER_ADDR_IPV4 ? "100.64.0.2" : "fd00:2021:1111::2",
                                   &a.client, NULL));
  a.client.port = port;
  ember_dns_stub_sentinel (sentinel, family, &a.sentinel);
  return a;
}

static EmberDnsStubResult
ask (EmberDnsStub *stub, gint64 now, const EmberDnsAsker *asker, guint16 id, const char *name,
     guint16 qtype, guint16 edns)
{
  guint8 q[300];
  gsize len = 0;

  g_assert_cmpint (ember_dns_build_query (id, name, qtype, edns, q, sizeof q, &len), ==,
                   EMBER_DNS_OK);
  return ember_dns_stub_handle_query (stub, now, asker, q, len);
}

/* The next answer, parsed; `buf` keeps its bytes. */
static EmberDnsMessage
next_answer (EmberDnsStub *stub, guint8 *buf, gsize cap, EmberDnsAsker *to)
{
  EmberDnsMessage msg;
  gsize len = ember_dns_stub_poll_answer (stub, buf, cap, to);

  g_assert_cmpuint (len, >, 0);
  g_assert_cmpint (ember_dns_message_parse (&msg, buf, len), ==, EMBER_DNS_OK);
  g_assert_true (ember_dns_message_is_response (&msg));
  return msg;
}

static guint
answers_of (const EmberDnsMessage *msg, guint16 type, EmberDnsRecord *first)
{
  EmberDnsRecordIter iter;
  EmberDnsRecord rr;
  guint n = 0;

  ember_dns_record_iter_init (&iter, msg);
  while (ember_dns_record_iter_next (&iter, &rr))
    if (rr.section == EMBER_DNS_SECTION_ANSWER && rr.type == type)
      {
        if (n++ == 0 && first != NULL)
          *first = rr;
      }
  return n;
}

static void
assert_no_output (EmberDnsStub *stub)
{
  guint8 buf[2048];
  EmberDnsAsker to;
  EmberDnsTransmit tx;

  g_assert_cmpuint (ember_dns_stub_poll_answer (stub, buf, sizeof buf, &to), ==, 0);
  g_assert_false (ember_dns_stub_poll_transmit (stub, buf, sizeof buf, &tx));
}

/* ---- resource names ------------------------------------------------------ */

typedef struct {
  const char *name;
  const char *resource;  /* NULL: forwarded */
} PrecedenceCase;

static const PrecedenceCase precedence[] = {
  { "app.corp.example", ID_EXACT },
  { "APP.Corp.Example.", ID_EXACT },
  { "host-1.corp.example", ID_QUESTION },
  { "host-12.corp.example", ID_STAR },
  { "wiki.corp.example", ID_STAR },
  { "corp.example", ID_STAR },          /* `*` matches the apex and beats `**` */
  { "a.wiki.corp.example", ID_DSTAR },
  { "x.host-1.corp.example", ID_DSTAR },
  { "v4.internal", ID_V4 },
  { "corp.example.org", NULL },
  { "example.org", NULL },
  { "internal", NULL },
};

static void
test_precedence_table (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);

  for (gsize i = 0; i < G_N_ELEMENTS (precedence); i++)
    {
      const PrecedenceCase *c = &precedence[i];
      EmberDnsStubResult r = ask (stub, T0, &asker, (guint16) i, c->name, EMBER_DNS_TYPE_A, 0);
      guint8 buf[2048];
      EmberDnsAsker to;
      EmberDnsTransmit tx;
      EmberDnsStubEvent ev;
      EmberPortalId id;
      EmberAddr a4, a6;

      g_test_message ("%s -> %s", c->name, c->resource ? c->resource : "upstream");
      if (c->resource == NULL)
        {
          g_assert_cmpint (r, ==, EMBER_DNS_STUB_FORWARDED);
          g_assert_true (ember_dns_stub_poll_transmit (stub, buf, sizeof buf, &tx));
          g_assert_false (ember_dns_stub_poll_event (stub, &ev));
          continue;
        }
      g_assert_cmpint (r, ==, EMBER_DNS_STUB_ANSWERED);
      g_strlcpy (id.str, c->resource, sizeof id.str);
      g_assert_true (ember_dns_stub_lookup_proxy (stub, c->name, &id, &a4, &a6));
      /* the route comes first: an event per new address (the second
       * spelling of app.corp.example has its address already) */
      if (i == 1)
        g_assert_false (ember_dns_stub_poll_event (stub, &ev));
      else
        {
          g_assert_true (ember_dns_stub_poll_event (stub, &ev));
          g_assert_cmpint (ev.type, ==, EMBER_DNS_STUB_EVENT_PROXY_ADDED);
          g_assert_cmpstr (ev.resource.str, ==, c->resource);
          assert_mem (ev.addr.addr, 4, a4.addr, 4);
          if (ev.addr6.family == EMBER_ADDR_IPV6)
            assert_mem (ev.addr6.addr, 16, a6.addr, 16);
          else
            g_assert_cmpstr (c->resource, ==, ID_V4);
        }
      {
        EmberDnsMessage m = next_answer (stub, buf, sizeof buf, &to);
        EmberDnsRecord rr;

        g_assert_cmpuint (m.id, ==, i);
        g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_NOERROR);
        g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_A, &rr), ==, 1);
        g_assert_cmpuint (rr.ttl, ==, 1);
        assert_mem (m.buf + rr.rdata_off, rr.rdlength, a4.addr, 4);
      }
      assert_no_output (stub);
    }
}

static void
test_addresses_stable_and_distinct (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV6);
  static const char *names[] = { "a.corp.example", "b.corp.example", "a.corp.example",
                                 "A.CORP.EXAMPLE" };
  guint8 seen[4][16];
  EmberCidr v4, v6;
  EmberDnsStubEvent ev;
  guint events = 0;

  g_assert_true (ember_cidr_parse ("100.96.0.0/11", 0, &v4, NULL));
  g_assert_true (ember_cidr_parse ("fd00:2021:1111:8000::/107", 0, &v6, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      guint8 buf[2048];
      EmberDnsAsker to;
      EmberDnsRecord rr;
      EmberDnsMessage m;

      g_assert_cmpint (ask (stub, T0, &asker, 1, names[i], EMBER_DNS_TYPE_AAAA, 1232), ==,
                       EMBER_DNS_STUB_ANSWERED);
      while (ember_dns_stub_poll_event (stub, &ev))
        events++;
      m = next_answer (stub, buf, sizeof buf, &to);
      g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_AAAA, &rr), ==, 1);
      g_assert_cmpuint (rr.ttl, ==, 1);
      g_assert_true (ember_cidr_contains (&v6, EMBER_ADDR_IPV6, m.buf + rr.rdata_off));
      memcpy (seen[i], m.buf + rr.rdata_off, 16);

      g_assert_cmpint (ask (stub, T0, &asker, 2, names[i], EMBER_DNS_TYPE_A, 0), ==,
                       EMBER_DNS_STUB_ANSWERED);
      m = next_answer (stub, buf, sizeof buf, &to);
      g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_A, &rr), ==, 1);
      g_assert_true (ember_cidr_contains (&v4, EMBER_ADDR_IPV4, m.buf + rr.rdata_off));
      /* one index for both families: the low bytes agree */
      g_assert_cmpmem (m.buf + rr.rdata_off + 2, 2, seen[i] + 14, 2);
    }
  g_assert_cmpmem (seen[0], 16, seen[2], 16);
  g_assert_cmpmem (seen[0], 16, seen[3], 16);
  g_assert_true (memcmp (seen[0], seen[1], 16) != 0);
  /* one route per name, announced once */
  g_assert_cmpuint (events, ==, 2);
}

/* ---- record-type rules ----------------------------------------------------- */

typedef struct {
  const char *name;
  guint16 qtype;
  guint rcode;
  guint16 answer_type;   /* 0: no answer record */
} TypeCase;

static const TypeCase type_cases[] = {
  { "v4.internal", EMBER_DNS_TYPE_A, EMBER_DNS_RCODE_NOERROR, EMBER_DNS_TYPE_A },
  { "v4.internal", EMBER_DNS_TYPE_AAAA, EMBER_DNS_RCODE_NOERROR, 0 },
  { "v6.internal", EMBER_DNS_TYPE_AAAA, EMBER_DNS_RCODE_NOERROR, EMBER_DNS_TYPE_AAAA },
  { "v6.internal", EMBER_DNS_TYPE_A, EMBER_DNS_RCODE_NOERROR, 0 },
  { "app.corp.example", EMBER_DNS_TYPE_HTTPS, EMBER_DNS_RCODE_NOERROR, 0 },
  { "app.corp.example", EMBER_DNS_TYPE_SVCB, EMBER_DNS_RCODE_NOERROR, 0 },
  { "app.corp.example", EMBER_DNS_TYPE_MX, EMBER_DNS_RCODE_NOERROR, 0 },
  { "use-application-dns.net", EMBER_DNS_TYPE_A, EMBER_DNS_RCODE_NXDOMAIN, 0 },
  { "USE-Application-DNS.net.", EMBER_DNS_TYPE_AAAA, EMBER_DNS_RCODE_NXDOMAIN, 0 },
  { "use-application-dns.net", EMBER_DNS_TYPE_HTTPS, EMBER_DNS_RCODE_NXDOMAIN, 0 },
};

static void
test_record_type_rules (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 1, EMBER_ADDR_IPV4);

  for (gsize i = 0; i < G_N_ELEMENTS (type_cases); i++)
    {
      const TypeCase *c = &type_cases[i];
      guint8 buf[2048];
      EmberDnsAsker to;
      EmberDnsMessage m;
      EmberDnsStubEvent ev;

      g_test_message ("%s type %u", c->name, c->qtype);
      g_assert_cmpint (ask (stub, T0, &asker, 9, c->name, c->qtype, 1232), ==,
                       EMBER_DNS_STUB_ANSWERED);
      while (ember_dns_stub_poll_event (stub, &ev))
        {
          /* a single-stack resource routes only its family */
          if (g_str_equal (ev.resource.str, ID_V4))
            g_assert_cmpuint (ev.addr6.family, ==, EMBER_ADDR_NONE);
          if (g_str_equal (ev.resource.str, ID_V6))
            g_assert_cmpuint (ev.addr.family, ==, EMBER_ADDR_NONE);
        }
      m = next_answer (stub, buf, sizeof buf, &to);
      g_assert_cmpuint (ember_dns_message_rcode (&m), ==, c->rcode);
      g_assert_cmpuint (m.ancount, ==, c->answer_type ? 1 : 0);
      if (c->answer_type)
        g_assert_cmpuint (answers_of (&m, c->answer_type, NULL), ==, 1);
      assert_no_output (stub);
    }
}

static void
test_ptr_of_proxy_addresses (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  EmberPortalId id = { ID_STAR };
  EmberAddr a4, a6;
  guint8 buf[2048];
  EmberDnsAsker to;
  EmberDnsMessage m;
  EmberDnsRecord rr;
  GString *v6name = g_string_new (NULL);
  char v4name[64], text[EMBER_DNS_NAME_TEXT_MAX];

  g_assert_cmpint (ask (stub, T0, &asker, 1, "wiki.corp.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_ANSWERED);
  ember_dns_stub_poll_answer (stub, buf, sizeof buf, &to);
  g_assert_true (ember_dns_stub_lookup_proxy (stub, "wiki.corp.example", &id, &a4, &a6));

  g_snprintf (v4name, sizeof v4name, "%u.%u.%u.%u.in-addr.arpa", a4.addr[3], a4.addr[2],
              a4.addr[1], a4.addr[0]);
  for (int i = 15; i >= 0; i--)
    g_string_append_printf (v6name, "%x.%x.", a6.addr[i] & 0xf, a6.addr[i] >> 4);
  g_string_append (v6name, "ip6.arpa");
  for (int fam = 0; fam < 2; fam++)
    {
      g_assert_cmpint (ask (stub, T0, &asker, 2, fam ? v6name->str : v4name, EMBER_DNS_TYPE_PTR,
                            0), ==, EMBER_DNS_STUB_ANSWERED);
      m = next_answer (stub, buf, sizeof buf, &to);
      g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_PTR, &rr), ==, 1);
      g_assert_cmpint (ember_dns_name_read (m.buf, m.len, rr.rdata_off, NULL, text, sizeof text,
                                            NULL), ==, EMBER_DNS_OK);
      g_assert_cmpstr (text, ==, "wiki.corp.example");
    }

  /* a proxy address nobody has: NXDOMAIN, not the upstream */
  g_assert_cmpint (ask (stub, T0, &asker, 3, "200.0.96.100.in-addr.arpa", EMBER_DNS_TYPE_PTR, 0),
                   ==, EMBER_DNS_STUB_ANSWERED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_NXDOMAIN);
  /* any other address goes upstream */
  g_assert_cmpint (ask (stub, T0, &asker, 4, "1.2.0.192.in-addr.arpa", EMBER_DNS_TYPE_PTR, 0),
                   ==, EMBER_DNS_STUB_FORWARDED);
  /* once the resource is gone, its address has no name */
  g_assert_true (ember_dns_stub_set_resources (stub, resources, 2, NULL));
  g_assert_cmpint (ask (stub, T0, &asker, 5, v4name, EMBER_DNS_TYPE_PTR, 0), ==,
                   EMBER_DNS_STUB_ANSWERED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_NXDOMAIN);
  g_string_free (v6name, TRUE);
}

/* ---- forwarding ------------------------------------------------------------ */

/* What an upstream would answer to the transmitted query: one A record. */
static gsize
upstream_answer (const guint8 *query, gsize len, guint8 last_octet, guint16 flags, guint8 *out,
                 gsize cap)
{
  EmberDnsMessage q;
  EmberDnsAnswer a = { .type = EMBER_DNS_TYPE_A, .ttl = 60, .addr = { 198, 51, 100, last_octet } };
  gsize out_len = 0;

  g_assert_cmpint (ember_dns_message_parse (&q, query, len), ==, EMBER_DNS_OK);
  g_assert_cmpint (ember_dns_build_response (&q, 0, 0, &a, 1, 4096, out, cap, &out_len), ==,
                   EMBER_DNS_OK);
  out[2] |= (guint8) (flags >> 8);
  return out_len;
}

static guint8
answer_last_octet (const EmberDnsMessage *m)
{
  EmberDnsRecord rr;

  g_assert_cmpuint (answers_of (m, EMBER_DNS_TYPE_A, &rr), ==, 1);
  return m->buf[rr.rdata_off + 3];
}

static void
test_equal_ids_from_two_sockets (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker a1 = asker_udp (40001, 0, EMBER_ADDR_IPV4);
  EmberDnsAsker a2 = asker_udp (40002, 0, EMBER_ADDR_IPV4);
  guint8 q1[512], q2[512], ans[512], buf[2048];
  EmberDnsTransmit t1, t2;
  EmberDnsAsker to;
  EmberDnsMessage m;
  gsize n;

  g_assert_cmpint (ask (stub, T0, &a1, 0x1234, "example.org", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_cmpint (ask (stub, T0, &a2, 0x1234, "example.org", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_dns_stub_poll_transmit (stub, q1, sizeof q1, &t1));
  g_assert_true (ember_dns_stub_poll_transmit (stub, q2, sizeof q2, &t2));
  g_assert_cmpuint (t1.upstream, ==, 0);
  g_assert_cmpuint (t1.transport, ==, EMBER_DNS_TRANSPORT_UDP);
  g_assert_cmpuint (t1.to.port, ==, 53);
  g_assert_cmpuint (t1.token, !=, t2.token);
  /* the same id never goes to one upstream twice at once */
  g_assert_cmpuint (ember_dns_rd16 (q1), !=, ember_dns_rd16 (q2));

  /* answers in the other order, each reaching its own asker */
  n = upstream_answer (q2, t2.len, 2, 0, ans, sizeof ans);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_MATCHED);
  n = upstream_answer (q1, t1.len, 1, 0, ans, sizeof ans);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_MATCHED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (to.client.port, ==, 40002);
  g_assert_cmpuint (m.id, ==, 0x1234);
  g_assert_cmpuint (answer_last_octet (&m), ==, 2);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (to.client.port, ==, 40001);
  g_assert_cmpuint (m.id, ==, 0x1234);
  g_assert_cmpuint (answer_last_octet (&m), ==, 1);
  /* a repeat of an answer finds nothing any more */
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_UNMATCHED);
  g_assert_cmpint (ember_dns_stub_poll_timeout (stub), ==, G_MAXINT64);
}

/* An RNG that always says the same: both upstreams get the same wire id,
 * so only the upstream tells the answers apart (seed 004). */
static void
test_equal_ids_to_two_upstreams (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub_with ((EmberIceRng){ rng_constant, NULL });
  EmberDnsAsker a0 = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  EmberDnsAsker a1 = asker_udp (40000, 1, EMBER_ADDR_IPV6);
  guint8 q0[512], q1[512], ans[512], buf[2048];
  EmberDnsTransmit t0, t1;
  EmberDnsAsker to;
  EmberDnsMessage m;
  gsize n;

  g_assert_cmpint (ask (stub, T0, &a0, 7, "example.org", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_cmpint (ask (stub, T0, &a1, 7, "example.net", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_dns_stub_poll_transmit (stub, q0, sizeof q0, &t0));
  g_assert_true (ember_dns_stub_poll_transmit (stub, q1, sizeof q1, &t1));
  g_assert_cmpuint (t0.upstream, ==, 0);
  g_assert_cmpuint (t1.upstream, ==, 1);
  g_assert_cmpuint (t1.to.family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpuint (ember_dns_rd16 (q0), ==, ember_dns_rd16 (q1));

  /* upstream 0 cannot answer upstream 1's question, even with its id */
  n = upstream_answer (q1, t1.len, 1, 0, ans, sizeof ans);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_UNMATCHED);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 1, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_MATCHED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (to.sentinel.family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpuint (m.id, ==, 7);
  g_assert_cmpuint (answer_last_octet (&m), ==, 1);

  n = upstream_answer (q0, t0.len, 0, 0, ans, sizeof ans);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_MATCHED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (to.sentinel.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (answer_last_octet (&m), ==, 0);
  /* an upstream index the stub does not have */
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 5, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_UNMATCHED);
}

/* unbound's real TC answer makes the stub ask again over TCP; the full
 * answer that comes back is cut to 512 for the UDP asker (who then
 * asks over TCP itself) and given whole to a TCP asker. */
static void
test_tc_retries_over_tcp (void)
{
  for (int tcp_asker = 0; tcp_asker < 2; tcp_asker++)
    {
      g_autoptr (EmberDnsStub) stub = make_stub ();
      EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
      guint8 q[512], ans[1024], buf[2048];
      EmberDnsTransmit tx, tx2;
      EmberDnsAsker to;
      EmberDnsMessage m;
      guint16 wire;

      /* the captures ask for multi.corp.example: no corp.example resources */
      g_assert_true (ember_dns_stub_set_resources (stub, resources + 4, 2, NULL));
      if (tcp_asker)
        {
          asker.transport = EMBER_DNS_TRANSPORT_TCP;
          asker.stream = 99;
        }
      g_assert_cmpint (ember_dns_stub_handle_query (stub, T0, &asker, capture_unbound_tc_query,
                                                    sizeof capture_unbound_tc_query),
                       ==, EMBER_DNS_STUB_FORWARDED);
      g_assert_true (ember_dns_stub_poll_transmit (stub, q, sizeof q, &tx));
      g_assert_cmpuint (tx.transport, ==, EMBER_DNS_TRANSPORT_UDP);
      wire = ember_dns_rd16 (q);

      memcpy (ans, capture_unbound_tc_response, sizeof capture_unbound_tc_response);
      ember_dns_set_id (ans, wire);
      g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0 + 10, 0, EMBER_DNS_TRANSPORT_UDP,
                                                       ans, sizeof capture_unbound_tc_response),
                       ==, EMBER_DNS_STUB_RETRY_TCP);
      g_assert_true (ember_dns_stub_poll_transmit (stub, q, sizeof q, &tx2));
      g_assert_cmpuint (tx2.transport, ==, EMBER_DNS_TRANSPORT_TCP);
      g_assert_cmpuint (tx2.token, ==, tx.token);
      g_assert_cmpuint (ember_dns_rd16 (q), ==, wire);
      g_assert_cmpint (ember_dns_stub_poll_timeout (stub), ==, T0 + 10 + EMBER_DNS_STUB_TIMEOUT_US);
      /* a second TC copy over UDP asks nothing more */
      g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0 + 10, 0, EMBER_DNS_TRANSPORT_UDP,
                                                       ans, sizeof capture_unbound_tc_response),
                       ==, EMBER_DNS_STUB_RETRY_TCP);
      assert_no_output (stub);

      memcpy (ans, capture_unbound_big_response, sizeof capture_unbound_big_response);
      ember_dns_set_id (ans, wire);
      ans[11] = 0;  /* the captured answer carried an OPT: drop it, the query had none */
      ans[10] = 0;
      g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0 + 20, 0, EMBER_DNS_TRANSPORT_TCP,
                                                       ans, sizeof capture_unbound_big_response -
                                                                EMBER_DNS_OPT_LEN),
                       ==, EMBER_DNS_STUB_MATCHED);
      m = next_answer (stub, buf, sizeof buf, &to);
      g_assert_cmpuint (m.id, ==, ember_dns_rd16 (capture_unbound_tc_query));
      g_assert_cmpuint (to.transport, ==, tcp_asker ? EMBER_DNS_TRANSPORT_TCP
                                                    : EMBER_DNS_TRANSPORT_UDP);
      if (tcp_asker)
        {
          g_assert_cmpuint (to.stream, ==, 99);
          g_assert_cmpuint (m.ancount, ==, 40);
          g_assert_cmpuint (m.flags & EMBER_DNS_FLAG_TC, ==, 0);
        }
      else
        {
          g_assert_cmpuint (m.len, <=, 512);
          g_assert_cmpuint (m.ancount, ==, 29);
          g_assert_cmpuint (m.flags & EMBER_DNS_FLAG_TC, !=, 0);
        }
    }
}

static void
test_timeout_gives_servfail (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  guint8 q[512], ans[512], buf[2048];
  EmberDnsTransmit tx;
  EmberDnsAsker to;
  EmberDnsMessage m;
  gsize n;

  g_assert_cmpint (ask (stub, T0, &asker, 77, "slow.example", EMBER_DNS_TYPE_A, 1232), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_dns_stub_poll_transmit (stub, q, sizeof q, &tx));
  g_assert_cmpint (ember_dns_stub_poll_timeout (stub), ==, T0 + EMBER_DNS_STUB_TIMEOUT_US);
  ember_dns_stub_handle_timeout (stub, T0 + EMBER_DNS_STUB_TIMEOUT_US - 1);
  assert_no_output (stub);
  ember_dns_stub_handle_timeout (stub, T0 + EMBER_DNS_STUB_TIMEOUT_US);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (m.id, ==, 77);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_SERVFAIL);
  g_assert_cmpint (ember_dns_stub_poll_timeout (stub), ==, G_MAXINT64);
  /* the answer that comes too late goes nowhere */
  n = upstream_answer (q, tx.len, 1, 0, ans, sizeof ans);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0 + EMBER_DNS_STUB_TIMEOUT_US + 1, 0,
                                                   EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_UNMATCHED);
  assert_no_output (stub);

  /* a transport failure reported by token ends the query at once */
  g_assert_cmpint (ask (stub, T0, &asker, 78, "down.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_dns_stub_poll_transmit (stub, q, sizeof q, &tx));
  g_assert_true (ember_dns_stub_handle_upstream_error (stub, T0, tx.token));
  g_assert_false (ember_dns_stub_handle_upstream_error (stub, T0, tx.token));
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (m.id, ==, 78);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_SERVFAIL);

  /* and so does one reported by upstream and wire id (the datagram the
   * transport hands back), for that query only */
  g_assert_cmpint (ask (stub, T0, &asker, 79, "down.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_dns_stub_poll_transmit (stub, q, sizeof q, &tx));
  guint16 wire_id = (guint16) (q[0] << 8 | q[1]);
  g_assert_false (ember_dns_stub_handle_upstream_error_wire (stub, T0, tx.upstream + 1, wire_id));
  g_assert_false (ember_dns_stub_handle_upstream_error_wire (stub, T0, tx.upstream,
                                                             (guint16) (wire_id + 1)));
  assert_no_output (stub);
  g_assert_true (ember_dns_stub_handle_upstream_error_wire (stub, T0, tx.upstream, wire_id));
  g_assert_false (ember_dns_stub_handle_upstream_error_wire (stub, T0, tx.upstream, wire_id));
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (m.id, ==, 79);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_SERVFAIL);
}

/* A query's token names that query only: once it ended, its token names
 * nothing, also while a new query uses the same upstream and wire id. */
static void
test_old_token_names_no_new_query (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub_with ((EmberIceRng){ rng_constant, NULL });
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  guint8 q1[512], q2[512], ans[512], buf[2048];
  EmberDnsTransmit t1, t2;
  EmberDnsAsker to;
  EmberDnsMessage m;
  gsize n;

  g_assert_cmpint (ask (stub, T0, &asker, 1, "one.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_dns_stub_poll_transmit (stub, q1, sizeof q1, &t1));
  n = upstream_answer (q1, t1.len, 1, 0, ans, sizeof ans);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_MATCHED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (m.id, ==, 1);

  g_assert_cmpint (ask (stub, T0, &asker, 2, "two.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_dns_stub_poll_transmit (stub, q2, sizeof q2, &t2));
  /* the constant RNG gives the free wire id again */
  g_assert_cmpmem (q1, 2, q2, 2);
  g_assert_cmpuint (t1.token, !=, t2.token);
  g_assert_false (ember_dns_stub_handle_upstream_error (stub, T0, t1.token));
  assert_no_output (stub);
  n = upstream_answer (q2, t2.len, 2, 0, ans, sizeof ans);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, ans, n),
                   ==, EMBER_DNS_STUB_MATCHED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (m.id, ==, 2);
  g_assert_cmpuint (answer_last_octet (&m), ==, 2);
  g_assert_false (ember_dns_stub_handle_upstream_error (stub, T0, t2.token));
}

/* A query of `name` with an EDNS padding option (RFC 7830) of `pad`
 * bytes: larger than the stub's pooled query blocks when pad is large. */
static gsize
padded_query (guint16 id, const char *name, gsize pad, guint8 *out, gsize cap)
{
  gsize len = 0;

  g_assert_cmpint (ember_dns_build_query (id, name, EMBER_DNS_TYPE_A, 1232, out, cap, &len), ==,
                   EMBER_DNS_OK);
  if (pad == 0)
    return len;
  g_assert_cmpuint (len + 4 + pad, <=, cap);
  /* the OPT record ends the query with RDLENGTH 0 */
  g_assert_cmpuint (out[len - 2] | out[len - 1], ==, 0);
  out[len - 2] = (guint8) ((4 + pad) >> 8);
  out[len - 1] = (guint8) (4 + pad);
  out[len++] = 0;
  out[len++] = 12;
  out[len++] = (guint8) (pad >> 8);
  out[len++] = (guint8) pad;
  memset (out + len, 0, pad);
  return len + pad;
}

/* Rounds of several hundred queries in flight, small and large ones
 * mixed (pooled and allocated blocks), over UDP and TCP, answered in
 * reverse order with small and large answers: every asker gets its own
 * id, stream and records, round after round as the blocks are reused. */
static void
test_many_rounds_keep_every_answer (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  enum { ROUNDS = 3, PER_ROUND = 300 };
  static EmberDnsAnswer many[120];
  static guint8 q[4096], ans[8192], buf[8192];

  for (guint k = 0; k < G_N_ELEMENTS (many); k++)
    many[k] = (EmberDnsAnswer){ .type = EMBER_DNS_TYPE_A, .ttl = 60,
                                .addr = { 198, 51, 100, (guint8) k } };
  for (guint round = 0; round < ROUNDS; round++)
    {
      guint got[PER_ROUND] = { 0 };

      for (guint i = 0; i < PER_ROUND; i++)
        {
          EmberDnsAsker asker = asker_udp ((guint16) (20000 + i), 0, EMBER_ADDR_IPV4);
          g_autofree char *name = g_strdup_printf ("q%u-r%u.example", i, round);
          gsize len = padded_query ((guint16) (round * PER_ROUND + i), name,
                                    i % 5 == 0 ? 700 : 0, q, sizeof q);

          if (i % 2 == 0)
            {
              asker.transport = EMBER_DNS_TRANSPORT_TCP;
              asker.stream = 1000 + i;
            }
          g_assert_cmpint (ember_dns_stub_handle_query (stub, T0, &asker, q, len), ==,
                           EMBER_DNS_STUB_FORWARDED);
        }
      /* every transmit, then the answers the other way round */
      static guint8 sent[PER_ROUND][4096];
      static gsize sent_len[PER_ROUND];
      for (guint i = 0; i < PER_ROUND; i++)
        {
          EmberDnsTransmit tx;

          g_assert_true (ember_dns_stub_poll_transmit (stub, sent[i], sizeof sent[i], &tx));
          sent_len[i] = tx.len;
        }
      assert_no_output (stub);
      for (guint j = PER_ROUND; j-- > 0;)
        {
          EmberDnsMessage m;
          char name[EMBER_DNS_NAME_TEXT_MAX];
          guint i, r;
          gsize n = 0;

          g_assert_cmpint (ember_dns_message_parse (&m, sent[j], sent_len[j]), ==, EMBER_DNS_OK);
          ember_dns_message_qname (&m, name, sizeof name);
          g_assert_cmpint (sscanf (name, "q%u-r%u.example", &i, &r), ==, 2);
          g_assert_cmpuint (r, ==, round);
          g_assert_cmpuint (sent_len[j], >, i % 5 == 0 ? 700u : 0u);
          g_assert_cmpint (ember_dns_build_response (&m, 0, 0, many, i % 7 == 0 ? 120 : 1, 65535,
                                                     ans, sizeof ans, &n), ==, EMBER_DNS_OK);
          g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP,
                                                           ans, n), ==, EMBER_DNS_STUB_MATCHED);
        }
      for (guint k = 0; k < PER_ROUND; k++)
        {
          EmberDnsAsker to;
          EmberDnsMessage m = next_answer (stub, buf, sizeof buf, &to);
          guint i = m.id - round * PER_ROUND;
          guint want;

          g_assert_cmpuint (i, <, PER_ROUND);
          got[i]++;
          g_assert_cmpuint (to.client.port, ==, 20000 + i);
          g_assert_cmpuint (to.transport, ==,
                            i % 2 == 0 ? EMBER_DNS_TRANSPORT_TCP : EMBER_DNS_TRANSPORT_UDP);
          if (i % 2 == 0)
            g_assert_cmpuint (to.stream, ==, 1000 + i);
          /* 120 records only fit a TCP asker; a UDP one gets what fits, TC */
          want = i % 7 != 0 ? 1 : i % 2 == 0 ? 120 : answers_of (&m, EMBER_DNS_TYPE_A, NULL);
          g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_A, NULL), ==, want);
          g_assert_cmpuint ((m.flags & EMBER_DNS_FLAG_TC) != 0, ==, i % 7 == 0 && i % 2 == 1);
        }
      for (guint i = 0; i < PER_ROUND; i++)
        g_assert_cmpuint (got[i], ==, 1);
      assert_no_output (stub);
    }
}

/* An upstream that answers with its header only (FORMERR, no question):
 * the asker gets that rcode with its question at once; a header-only
 * answer with another upstream's id, or NOERROR, does nothing. */
static void
test_upstream_header_only_error (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  guint8 q[512], err[12], buf[2048];
  EmberDnsTransmit tx;
  EmberDnsAsker to;
  EmberDnsMessage m;
  gsize n = 0;

  g_assert_cmpint (ask (stub, T0, &asker, 31, "odd.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_dns_stub_poll_transmit (stub, q, sizeof q, &tx));
  ember_dns_build_header_error (ember_dns_rd16 (q), EMBER_DNS_FLAG_RD, EMBER_DNS_RCODE_NOERROR,
                                err, sizeof err, &n);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, err, n),
                   ==, EMBER_DNS_STUB_MALFORMED);
  ember_dns_build_header_error (ember_dns_rd16 (q), EMBER_DNS_FLAG_RD, EMBER_DNS_RCODE_FORMERR,
                                err, sizeof err, &n);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 1, EMBER_DNS_TRANSPORT_UDP, err, n),
                   ==, EMBER_DNS_STUB_MALFORMED);
  assert_no_output (stub);
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP, err, n),
                   ==, EMBER_DNS_STUB_MATCHED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (m.id, ==, 31);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_FORMERR);
  g_assert_cmpint (ember_dns_stub_poll_timeout (stub), ==, G_MAXINT64);
}

static void
test_changed_upstreams_fail_pending (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker a0 = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  EmberDnsAsker a1 = asker_udp (40000, 1, EMBER_ADDR_IPV4);
  guint8 buf[2048];
  EmberDnsAsker to;
  EmberDnsTransmit tx;
  EmberDnsMessage m;
  EmberAddr up;

  g_assert_cmpint (ask (stub, T0, &a0, 1, "a.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_cmpint (ask (stub, T0, &a1, 2, "b.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  g_assert_true (ember_addr_parse_port ("192.0.2.53:53", &up, NULL));
  g_assert_true (ember_dns_stub_set_upstreams (stub, &up, 1));
  /* upstream 1 is gone: its query fails, its transmit is withdrawn */
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (m.id, ==, 2);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_SERVFAIL);
  g_assert_true (ember_dns_stub_poll_transmit (stub, buf, sizeof buf, &tx));
  g_assert_cmpuint (tx.upstream, ==, 0);
  assert_no_output (stub);
  /* and its sentinel with it */
  g_assert_cmpint (ask (stub, T0, &a1, 3, "b.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_NOT_SENTINEL);
  /* no upstream at all: sentinel 0 still answers resources, SERVFAIL else */
  g_assert_true (ember_dns_stub_set_upstreams (stub, NULL, 0));
  ember_dns_stub_handle_timeout (stub, T0);
  while (ember_dns_stub_poll_answer (stub, buf, sizeof buf, &to) > 0)
    ;
  g_assert_cmpint (ask (stub, T0, &a0, 4, "b.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_ANSWERED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_SERVFAIL);
  g_assert_cmpint (ask (stub, T0, &a0, 5, "app.corp.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_ANSWERED);
}

/* ---- malformed input -------------------------------------------------------- */

typedef struct {
  const char *what;
  guint8 bytes[64];
  gsize len;
  EmberDnsStubResult expect;
} BadQuery;

static const BadQuery bad_queries[] = {
  { "a compression loop", { 0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 }, 18,
    EMBER_DNS_STUB_FORMERR },
  { "qdcount 0", { 0xab, 0xcd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 12, EMBER_DNS_STUB_FORMERR },
  { "qdcount 2",
    { 0xab, 0xcd, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1, 1, 'b', 0, 0, 1, 0, 1 },
    26, EMBER_DNS_STUB_FORMERR },
  { "a truncated name", { 0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 'a', 'b' }, 15,
    EMBER_DNS_STUB_FORMERR },
  { "a label over 63", { 0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64, 'a', 0, 0, 1, 0, 1 }, 19,
    EMBER_DNS_STUB_FORMERR },
  { "five bytes", { 0xab, 0xcd, 1, 0, 0 }, 5, EMBER_DNS_STUB_DROPPED },
  { "a response", { 0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1 }, 19,
    EMBER_DNS_STUB_DROPPED },
};

static void
test_malformed_queries (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  EmberDnsStubStats stats;

  for (gsize i = 0; i < G_N_ELEMENTS (bad_queries); i++)
    {
      const BadQuery *b = &bad_queries[i];
      guint8 buf[2048];
      EmberDnsAsker to;
      EmberDnsStubResult r = ember_dns_stub_handle_query (stub, T0, &asker, b->bytes, b->len);

      g_test_message ("%s: %s", b->what, ember_dns_stub_result_to_string (r));
      g_assert_cmpstr (ember_dns_stub_result_to_string (r), ==,
                       ember_dns_stub_result_to_string (b->expect));
      if (b->expect == EMBER_DNS_STUB_FORMERR)
        {
          gsize len = ember_dns_stub_poll_answer (stub, buf, sizeof buf, &to);
          g_assert_cmpuint (len, ==, 12);
          g_assert_cmpuint (ember_dns_rd16 (buf), ==, 0xabcd);
          g_assert_cmpuint (ember_dns_rd16 (buf + 2) & EMBER_DNS_RCODE_MASK, ==,
                            EMBER_DNS_RCODE_FORMERR);
          g_assert_cmpuint (ember_dns_rd16 (buf + 2) & EMBER_DNS_FLAG_QR, !=, 0);
        }
      assert_no_output (stub);
    }
  ember_dns_stub_get_stats (stub, &stats);
  g_assert_cmpuint (stats.formerr, ==, 5);
  g_assert_cmpuint (stats.dropped, ==, 2);

  /* not one of our sentinels */
  {
    EmberDnsAsker other = asker;
    g_assert_true (ember_addr_parse ("100.100.111.9", &other.sentinel, NULL));
    g_assert_cmpint (ask (stub, T0, &other, 1, "app.corp.example", EMBER_DNS_TYPE_A, 0), ==,
                     EMBER_DNS_STUB_NOT_SENTINEL);
  }
  /* garbage from an upstream */
  g_assert_cmpint (ember_dns_stub_handle_upstream (stub, T0, 0, EMBER_DNS_TRANSPORT_UDP,
                                                   bad_queries[0].bytes, bad_queries[0].len),
                   ==, EMBER_DNS_STUB_MALFORMED);
  /* opcode NOTIFY: NOTIMP with the question */
  {
    guint8 q[64], buf[512];
    gsize len = 0;
    EmberDnsAsker to;
    EmberDnsMessage m;

    ember_dns_build_query (5, "app.corp.example", EMBER_DNS_TYPE_A, 0, q, sizeof q, &len);
    q[2] |= 4 << 3;
    g_assert_cmpint (ember_dns_stub_handle_query (stub, T0, &asker, q, len), ==,
                     EMBER_DNS_STUB_ANSWERED);
    m = next_answer (stub, buf, sizeof buf, &to);
    g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_NOTIMP);
  }
}

/* ---- the saved map ------------------------------------------------------------ */

static void
get_a (EmberDnsStub *stub, const char *name, guint8 out[4])
{
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  guint8 buf[2048];
  EmberDnsAsker to;
  EmberDnsMessage m;
  EmberDnsRecord rr;
  EmberDnsStubEvent ev;

  g_assert_cmpint (ask (stub, T0, &asker, 1, name, EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_ANSWERED);
  while (ember_dns_stub_poll_event (stub, &ev))
    ;
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_A, &rr), ==, 1);
  memcpy (out, m.buf + rr.rdata_off, 4);
}

static void
test_saved_map_survives_restart (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  g_autoptr (EmberDnsStub) again = make_stub ();
  g_autoptr (GError) error = NULL;
  g_autofree char *saved = NULL, *resaved = NULL;
  guint8 a[4], b[4], a2[4], b2[4], c[4], a3[4];
  gsize len = 0, len2 = 0;
  EmberDnsStubResource moved = { { ID_OTHER }, "a.corp.example", EMBER_DNS_STACK_DUAL };
  EmberDnsStubEvent ev;

  g_assert_cmpuint (ember_dns_stub_n_proxy_names (stub), ==, 0);
  get_a (stub, "a.corp.example", a);
  get_a (stub, "b.corp.example", b);
  g_assert_cmpuint (ember_dns_stub_n_proxy_names (stub), ==, 2);
  saved = ember_dns_stub_save (stub, &len);
  g_test_message ("%s", saved);

  g_assert_true (ember_dns_stub_load (again, saved, len, &error));
  g_assert_no_error (error);
  /* loaded names count before they are asked for again */
  g_assert_cmpuint (ember_dns_stub_n_proxy_names (again), ==, 2);
  /* asked in the other order, the names keep their addresses */
  get_a (again, "b.corp.example", b2);
  get_a (again, "a.corp.example", a2);
  g_assert_cmpmem (a, 4, a2, 4);
  g_assert_cmpmem (b, 4, b2, 4);
  resaved = ember_dns_stub_save (again, &len2);
  g_assert_cmpstr (saved, ==, resaved);

  /* a new name gets an address no other name ever had */
  get_a (again, "c.corp.example", c);
  g_assert_true (memcmp (c, a, 4) != 0 && memcmp (c, b, 4) != 0);
  g_assert_cmpuint (ember_dns_stub_n_proxy_names (again), ==, 3);

  /* the name moves to another resource: a new address, the old one
   * stays with the old (name, resource) and is unrouted */
  g_assert_true (ember_dns_stub_set_resources (again, &moved, 1, &error));
  g_assert_true (ember_dns_stub_poll_event (again, &ev));
  g_assert_cmpint (ev.type, ==, EMBER_DNS_STUB_EVENT_PROXY_REMOVED);
  /* the names of a resource that is gone no longer count */
  g_assert_cmpuint (ember_dns_stub_n_proxy_names (again), ==, 0);
  get_a (again, "a.corp.example", a3);
  g_assert_cmpuint (ember_dns_stub_n_proxy_names (again), ==, 1);
  g_assert_true (memcmp (a3, a, 4) != 0 && memcmp (a3, b, 4) != 0 && memcmp (a3, c, 4) != 0);

  /* loading into a stub that already handed out addresses is refused */
  g_assert_false (ember_dns_stub_load (again, saved, len, &error));
  g_assert_error (error, EMBER_DNS_STUB_ERROR, 0);
}

typedef struct {
  const char *what;
  const char *from, *to;   /* a replacement in the saved text */
  const char *in_message;
} BadMap;

static const BadMap bad_maps[] = {
  { "another version", "version=1", "version=2", "version" },
  { "next zero", "next=3", "next=0", "next" },
  { "next below an index", "next=3", "next=2", "[proxy 2]" },
  { "a wrong IPv4 address", "ipv4=100.96.0.2", "ipv4=100.96.0.9", "ipv4" },
  { "a wrong IPv6 address", "ipv6=fd00:2021:1111:8000::1\n", "ipv6=fd00::1\n", "ipv6" },
  { "a resource that is no id", "resource=" ID_STAR "\n", "resource=web\n", "resource" },
  { "an upper-case name", "name=a.corp.example", "name=A.corp.example", "name" },
  { "a name with a trailing dot", "name=a.corp.example", "name=a.corp.example.", "name" },
  { "an empty label", "name=a.corp.example", "name=a..example", "name" },
  { "an unknown key", "name=a.corp.example", "name=a.corp.example\ncolour=red", "colour" },
  { "an unknown group", "[proxy 2]", "[elsewhere]", "elsewhere" },
  { "index zero", "[proxy 1]", "[proxy 0]", "proxy 0" },
  { "an index with a sign", "[proxy 1]", "[proxy +1]", "proxy +1" },
  { "a name twice", "name=b.corp.example", "name=a.corp.example", "already" },
  { "an index twice", "[proxy 2]", "[proxy 1]", "" },
  { "not a key file", "[dns-proxy-addresses]", "dns-proxy-addresses]", "" },
};

static void
test_load_refuses_bad_fields (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  g_autofree char *saved = NULL;
  guint8 a[4];
  gsize len = 0;

  get_a (stub, "a.corp.example", a);
  get_a (stub, "b.corp.example", a);
  saved = ember_dns_stub_save (stub, &len);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_maps); i++)
    {
      const BadMap *b = &bad_maps[i];
      g_autoptr (EmberDnsStub) fresh = make_stub ();
      g_autoptr (GError) error = NULL;
      g_autoptr (GString) text = g_string_new (saved);

      g_assert_nonnull (strstr (saved, b->from));
      g_string_replace (text, b->from, b->to, 1);
      g_test_message ("%s", b->what);
      g_assert_false (ember_dns_stub_load (fresh, text->str, text->len, &error));
      g_assert_nonnull (error);
      g_test_message ("  %s", error->message);
      g_assert_nonnull (strstr (error->message, b->in_message));
      /* nothing was taken over: a fresh name gets the first address */
      get_a (fresh, "z.corp.example", a);
      g_assert_cmpuint (a[3], ==, 1);
    }
}

/* Proxy indices skip the IPv4 sentinels' /24 and end before the last
 * address of the ranges; then new names get SERVFAIL. */
static void
test_proxy_range_edges (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  g_autoptr (EmberDnsStub) full = make_stub ();
  g_autoptr (GError) error = NULL;
  static const char near_sentinels[] = "[dns-proxy-addresses]\nversion=1\nnext=290559\n";
  static const char near_end[] = "[dns-proxy-addresses]\nversion=1\nnext=2097150\n";
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  guint8 a[4], buf[2048];
  EmberDnsAsker to;
  EmberDnsMessage m;
  EmberDnsStubStats stats;

  g_assert_true (ember_dns_stub_load (stub, near_sentinels, strlen (near_sentinels), &error));
  g_assert_no_error (error);
  get_a (stub, "a.corp.example", a);
  assert_mem (a, 4, ((guint8[]){ 100, 100, 110, 255 }), 4);
  get_a (stub, "b.corp.example", a);
  assert_mem (a, 4, ((guint8[]){ 100, 100, 112, 0 }), 4);

  g_assert_true (ember_dns_stub_load (full, near_end, strlen (near_end), &error));
  get_a (full, "a.corp.example", a);
  assert_mem (a, 4, ((guint8[]){ 100, 127, 255, 254 }), 4);
  g_assert_cmpint (ask (full, T0, &asker, 1, "b.corp.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_ANSWERED);
  m = next_answer (full, buf, sizeof buf, &to);
  g_assert_cmpuint (ember_dns_message_rcode (&m), ==, EMBER_DNS_RCODE_SERVFAIL);
  ember_dns_stub_get_stats (full, &stats);
  g_assert_cmpuint (stats.proxies_exhausted, ==, 1);
  /* the name that has an address keeps it */
  get_a (full, "a.corp.example", a);
  assert_mem (a, 4, ((guint8[]){ 100, 127, 255, 254 }), 4);
}

/* ---- TCP and the TUN framing ----------------------------------------------------- */

static void
test_asker_over_tcp (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV6);
  guint8 buf[2048];
  EmberDnsAsker to;
  EmberDnsMessage m;

  asker.transport = EMBER_DNS_TRANSPORT_TCP;
  asker.stream = 12;
  g_assert_cmpint (ask (stub, T0, &asker, 3, "app.corp.example", EMBER_DNS_TYPE_AAAA, 0), ==,
                   EMBER_DNS_STUB_ANSWERED);
  /* a TCP answer is not a TUN packet */
  g_assert_cmpuint (ember_dns_stub_poll_packet (stub, buf, sizeof buf, 0), ==, 0);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (to.transport, ==, EMBER_DNS_TRANSPORT_TCP);
  g_assert_cmpuint (to.stream, ==, 12);
  g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_AAAA, NULL), ==, 1);
}

static void
test_udp_packets_from_the_tun (void)
{
  for (int v6 = 0; v6 < 2; v6++)
    {
      g_autoptr (EmberDnsStub) stub = make_stub ();
      guint8 q[128], pkt_buf[2048], out[2048];
      gsize qlen = 0, len;
      EmberAddr client, sentinel, src, dst;
      EmberIpPacket pkt, answer;
      const guint8 *payload;
      EmberDnsMessage m;
      EmberDnsStubEvent ev;

      g_assert_true (ember_addr_parse (v6 ? "fd00:2021:1111::5" : "100.64.0.5", &client, NULL));
      client.port = 51000;
      ember_dns_stub_sentinel (1, v6 ? EMBER_ADDR_IPV6 : EMBER_ADDR_IPV4, &sentinel);
      ember_dns_build_query (0x5151, "app.corp.example", EMBER_DNS_TYPE_A, 1232, q, sizeof q,
                             &qlen);
      g_assert_cmpint (ember_ip_packet_build_udp (&pkt, pkt_buf, sizeof pkt_buf, 0, &client,
                                                  &sentinel, q, qlen), ==, EMBER_PACKET_OK);
      g_assert_cmpint (ember_dns_stub_handle_packet (stub, T0, &pkt), ==, EMBER_DNS_STUB_ANSWERED);
      g_assert_true (ember_dns_stub_poll_event (stub, &ev));

      len = ember_dns_stub_poll_packet (stub, out, sizeof out, 16);
      g_assert_cmpuint (len, >, 0);
      g_assert_cmpint (ember_ip_packet_parse (&answer, out, sizeof out, 16, len), ==,
                       EMBER_PACKET_OK);
      g_assert_cmpint (ember_ip_packet_verify_checksums (&answer), ==, EMBER_PACKET_OK);
      ember_ip_packet_get_source (&answer, &src);
      ember_ip_packet_get_destination (&answer, &dst);
      g_assert_cmpmem (src.addr, 16, sentinel.addr, 16);
      g_assert_cmpuint (src.port, ==, 53);
      g_assert_cmpmem (dst.addr, 16, client.addr, 16);
      g_assert_cmpuint (dst.port, ==, 51000);
      payload = ember_ip_packet_payload (&answer, &len);
      g_assert_cmpint (ember_dns_message_parse (&m, payload, len), ==, EMBER_DNS_OK);
      g_assert_cmpuint (m.id, ==, 0x5151);
      g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_A, NULL), ==, 1);
      g_assert_cmpuint (ember_dns_stub_poll_packet (stub, out, sizeof out, 16), ==, 0);

      /* a datagram to another port of the sentinel is not the stub's */
      sentinel.port = 54;
      g_assert_cmpint (ember_ip_packet_build_udp (&pkt, pkt_buf, sizeof pkt_buf, 0, &client,
                                                  &sentinel, q, qlen), ==, EMBER_PACKET_OK);
      g_assert_cmpint (ember_dns_stub_handle_packet (stub, T0, &pkt), ==,
                       EMBER_DNS_STUB_NOT_SENTINEL);
    }
}

/* The portal's list: only the dns resources count. */
static void
test_portal_resources (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  EmberPortalResource res[3] = {
    { .id = { ID_EXACT }, .type = EMBER_PORTAL_RESOURCE_CIDR },
    { .id = { ID_OTHER }, .type = EMBER_PORTAL_RESOURCE_DNS, .dns_pattern = "**.lab.example" },
    { .id = { ID_STAR }, .type = EMBER_PORTAL_RESOURCE_INTERNET },
  };
  EmberPortalId id = { ID_OTHER };
  g_autoptr (GError) error = NULL;
  EmberAddr a4, a6;
  guint8 buf[2048];
  EmberDnsAsker to;
  EmberDnsMessage m;

  g_assert_true (ember_dns_stub_set_portal_resources (stub, res, 3, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ask (stub, T0, &asker, 1, "a.b.lab.example", EMBER_DNS_TYPE_AAAA, 0), ==,
                   EMBER_DNS_STUB_ANSWERED);
  m = next_answer (stub, buf, sizeof buf, &to);
  g_assert_cmpuint (answers_of (&m, EMBER_DNS_TYPE_AAAA, NULL), ==, 1);
  g_assert_true (ember_dns_stub_lookup_proxy (stub, "a.b.lab.example", &id, &a4, &a6));
  /* the earlier corp.example resources are gone */
  g_assert_cmpint (ask (stub, T0, &asker, 2, "app.corp.example", EMBER_DNS_TYPE_A, 0), ==,
                   EMBER_DNS_STUB_FORWARDED);
  /* a pattern that is not normalized is refused with its resource */
  res[1].dns_pattern = "**.Lab.example";
  g_assert_false (ember_dns_stub_set_portal_resources (stub, res, 3, &error));
  g_assert_error (error, EMBER_DNS_STUB_ERROR, 0);
  g_assert_nonnull (strstr (error->message, ID_OTHER));
}

/* The rcode and number of answers of `qtype` for `name`. */
static guint
ask_count (EmberDnsStub *stub, guint16 id, const char *name, guint16 qtype, guint *rcode)
{
  EmberDnsAsker asker = asker_udp (40000, 0, EMBER_ADDR_IPV4);
  guint8 buf[2048];
  EmberDnsAsker to;

  g_assert_cmpint (ask (stub, T0, &asker, id, name, qtype, 0), ==, EMBER_DNS_STUB_ANSWERED);
  EmberDnsMessage m = next_answer (stub, buf, sizeof buf, &to);
  *rcode = ember_dns_message_rcode (&m);
  return answers_of (&m, qtype, NULL);
}

/* A portal resource's ip_stack reaches the answers and the routes; a
 * changed stack unroutes the old addresses and routes the new family. */
static void
test_portal_ip_stack (void)
{
  g_autoptr (EmberDnsStub) stub = make_stub ();
  EmberPortalResource res = { .id = { ID_OTHER }, .type = EMBER_PORTAL_RESOURCE_DNS,
                              .dns_pattern = "*.lab.example",
                              .ip_stack = EMBER_PORTAL_IP_STACK_IPV4 };
  g_autoptr (GError) error = NULL;
  EmberDnsStubEvent ev;
  guint rcode;
  EmberAddr a4, a6;
  EmberPortalId id = { ID_OTHER };
  char rev4[64];

  g_assert_true (ember_dns_stub_set_portal_resources (stub, &res, 1, &error));
  g_assert_no_error (error);
  /* IPv4 only: AAAA is an empty NOERROR, A an address; only IPv4 is routed */
  g_assert_cmpuint (ask_count (stub, 1, "db.lab.example", EMBER_DNS_TYPE_AAAA, &rcode), ==, 0);
  g_assert_cmpuint (rcode, ==, EMBER_DNS_RCODE_NOERROR);
  g_assert_false (ember_dns_stub_poll_event (stub, &ev));
  g_assert_cmpuint (ask_count (stub, 2, "db.lab.example", EMBER_DNS_TYPE_A, &rcode), ==, 1);
  g_assert_true (ember_dns_stub_poll_event (stub, &ev));
  g_assert_cmpint (ev.type, ==, EMBER_DNS_STUB_EVENT_PROXY_ADDED);
  g_assert_cmpuint (ev.addr.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (ev.addr6.family, ==, EMBER_ADDR_NONE);
  g_assert_false (ember_dns_stub_poll_event (stub, &ev));
  g_assert_true (ember_dns_stub_lookup_proxy (stub, "db.lab.example", &id, &a4, &a6));
  g_snprintf (rev4, sizeof rev4, "%u.%u.%u.%u.in-addr.arpa", a4.addr[3], a4.addr[2], a4.addr[1],
              a4.addr[0]);
  g_assert_cmpuint (ask_count (stub, 3, rev4, EMBER_DNS_TYPE_PTR, &rcode), ==, 1);

  /* Now IPv6 only: the IPv4 address is unrouted and no longer answered,
   * not even by PTR; the next AAAA routes the IPv6 one */
  res.ip_stack = EMBER_PORTAL_IP_STACK_IPV6;
  g_assert_true (ember_dns_stub_set_portal_resources (stub, &res, 1, &error));
  g_assert_true (ember_dns_stub_poll_event (stub, &ev));
  g_assert_cmpint (ev.type, ==, EMBER_DNS_STUB_EVENT_PROXY_REMOVED);
  g_assert_true (ember_ice_addr_equal (&ev.addr, &a4));
  g_assert_false (ember_dns_stub_poll_event (stub, &ev));
  g_assert_cmpuint (ask_count (stub, 4, "db.lab.example", EMBER_DNS_TYPE_A, &rcode), ==, 0);
  g_assert_cmpuint (rcode, ==, EMBER_DNS_RCODE_NOERROR);
  g_assert_cmpuint (ask_count (stub, 5, rev4, EMBER_DNS_TYPE_PTR, &rcode), ==, 0);
  g_assert_cmpuint (rcode, ==, EMBER_DNS_RCODE_NXDOMAIN);
  g_assert_cmpuint (ask_count (stub, 6, "db.lab.example", EMBER_DNS_TYPE_AAAA, &rcode), ==, 1);
  g_assert_true (ember_dns_stub_poll_event (stub, &ev));
  g_assert_cmpint (ev.type, ==, EMBER_DNS_STUB_EVENT_PROXY_ADDED);
  g_assert_cmpuint (ev.addr.family, ==, EMBER_ADDR_NONE);
  g_assert_true (ember_ice_addr_equal (&ev.addr6, &a6));

  /* An unchanged list changes no route */
  g_assert_true (ember_dns_stub_set_portal_resources (stub, &res, 1, &error));
  g_assert_false (ember_dns_stub_poll_event (stub, &ev));
}

static void
test_sentinel_addresses (void)
{
  EmberAddr a;
  char text[EMBER_ADDR_STRLEN];

  ember_dns_stub_sentinel (0, EMBER_ADDR_IPV4, &a);
  g_assert_cmpstr (ember_addr_format (&a, text), ==, "100.100.111.1");
  g_assert_cmpuint (a.port, ==, 53);
  ember_dns_stub_sentinel (1, EMBER_ADDR_IPV6, &a);
  g_assert_cmpstr (ember_addr_format (&a, text), ==, "fd00:2021:1111:8000:100:100:111:2");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dns/stub/sentinels/one-pair-per-upstream", test_sentinel_addresses);
  g_test_add_func ("/dns/stub/resources/from-the-portal-list", test_portal_resources);
  g_test_add_func ("/dns/stub/resources/portal-ip-stack-decides-answers-and-routes",
                   test_portal_ip_stack);
  g_test_add_func ("/dns/stub/resources/precedence-table-picks-the-resource",
                   test_precedence_table);
  g_test_add_func ("/dns/stub/resources/addresses-stable-per-name-ttl-1",
                   test_addresses_stable_and_distinct);
  g_test_add_func ("/dns/stub/records/type-rules", test_record_type_rules);
  g_test_add_func ("/dns/stub/records/ptr-of-proxy-addresses", test_ptr_of_proxy_addresses);
  g_test_add_func ("/dns/stub/forward/equal-ids-from-two-sockets-reach-their-askers",
                   test_equal_ids_from_two_sockets);
  g_test_add_func ("/dns/stub/forward/equal-ids-to-two-upstreams-never-mix",
                   test_equal_ids_to_two_upstreams);
  g_test_add_func ("/dns/stub/forward/tc-from-upstream-retries-over-tcp",
                   test_tc_retries_over_tcp);
  g_test_add_func ("/dns/stub/forward/timeout-and-transport-error-give-servfail",
                   test_timeout_gives_servfail);
  g_test_add_func ("/dns/stub/forward/an-old-token-names-no-new-query-with-its-wire-id",
                   test_old_token_names_no_new_query);
  g_test_add_func ("/dns/stub/forward/rounds-of-hundreds-in-flight-keep-every-answer",
                   test_many_rounds_keep_every_answer);
  g_test_add_func ("/dns/stub/forward/header-only-error-from-upstream-reaches-the-asker",
                   test_upstream_header_only_error);
  g_test_add_func ("/dns/stub/forward/changed-upstreams-fail-their-queries",
                   test_changed_upstreams_fail_pending);
  g_test_add_func ("/dns/stub/malformed/queries-get-formerr-or-are-dropped",
                   test_malformed_queries);
  g_test_add_func ("/dns/stub/proxy/saved-map-survives-restart-and-never-reuses",
                   test_saved_map_survives_restart);
  g_test_add_func ("/dns/stub/proxy/load-refuses-bad-fields", test_load_refuses_bad_fields);
  g_test_add_func ("/dns/stub/proxy/range-skips-sentinels-and-ends-with-servfail",
                   test_proxy_range_edges);
  g_test_add_func ("/dns/stub/tcp/asker-over-tcp-gets-its-stream", test_asker_over_tcp);
  g_test_add_func ("/dns/stub/packet/udp-queries-from-the-tun", test_udp_packets_from_the_tun);
  return g_test_run ();
}
