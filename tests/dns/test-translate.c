/* tests/dns/test-translate: the gateway's translation of proxy addresses
 * (core/dns/translate.h) driven with plain values: names checked against
 * the resource's pattern, the first packet held while the gateway's
 * upstream is asked, both directions rewritten with valid checksums, per
 * (client, protocol, port), idle expiry (TCP 2 h, UDP and ICMP 2 min),
 * ICMP unreachable for a family without an address, answers matched by
 * id and question (seed 004), failed and timed-out lookups. */
#include <string.h>

#include "dns/codec.h"
#include "dns/translate.h"
#include "net/cidr.h"
#include "packet/checksum.h"

#define CLIENT_A "00000000-0000-4000-8000-0000000000a1"
#define CLIENT_B "00000000-0000-4000-8000-0000000000b2"
#define RES_STAR "00000000-0000-4000-8000-000000000003"
#define RES_OTHER "00000000-0000-4000-8000-000000000007"
#define T0 (1000 * G_TIME_SPAN_SECOND)

static guint64 rng_state = 7;

static guint64
rng_counter (gpointer user_data)
{
  guint64 *state = user_data;

  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 17;
}

static EmberDnsTranslator *
make_translator (void)
{
  EmberIceRng rng = { rng_counter, &rng_state };

  return ember_dns_translator_new (&rng);
}

static EmberAddr
addr (const char *text)
{
  EmberAddr a;

  g_assert_true (ember_addr_parse (text, &a, NULL));
  return a;
}

static const EmberPortalId *
id (const char *s)
{
  static EmberPortalId ids[8];
  static guint next;
  EmberPortalId *out = &ids[next++ % G_N_ELEMENTS (ids)];

  memset (out, 0, sizeof *out);
  g_strlcpy (out->str, s, sizeof out->str);
  return out;
}

static void
add_name (EmberDnsTranslator *t, const char *client, const char *name, const char *p4,
          const char *p6)
{
  EmberAddr a4 = { 0 }, a6 = { 0 };
  g_autoptr (GError) error = NULL;

  if (p4)
    a4 = addr (p4);
  if (p6)
    a6 = addr (p6);
  g_assert_true (ember_dns_translator_add_name (t, T0, id (client), id (RES_STAR),
                                                "*.corp.example", name, &a4, &a6, &error));
  g_assert_no_error (error);
}

/* A TCP segment (SYN when syn) or, with proto UDP, a datagram, with valid
 * checksums, parsed into pkt over buf. */
static void
make_packet (EmberIpPacket *pkt, guint8 *buf, gsize cap, guint proto, const char *src,
             guint16 sport, const char *dst, guint16 dport)
{
  EmberAddr s = addr (src), d = addr (dst);
  static const guint8 payload[] = "GET / HTTP/1.0\r\n\r\n";

  s.port = sport;
  d.port = dport;
  g_assert_cmpint (ember_ip_packet_build_udp (pkt, buf, cap, EMBER_PACKET_HEADROOM, &s, &d,
                                              payload, sizeof payload - 1),
                   ==, EMBER_PACKET_OK);
  if (proto == EMBER_IPPROTO_TCP)
    {
      /* Turn the UDP datagram into a TCP SYN of the same addresses. */
      guint8 *ip = ember_ip_packet_data (pkt);
      gsize ihl = s.family == EMBER_ADDR_IPV4 ? 20 : 40;
      gsize len = ihl + 20;
      guint8 *tcp = ip + ihl;

      memset (tcp, 0, 20);
      tcp[0] = (guint8) (sport >> 8);
      tcp[1] = (guint8) sport;
      tcp[2] = (guint8) (dport >> 8);
      tcp[3] = (guint8) dport;
      tcp[7] = 1;       /* seq */
      tcp[12] = 5 << 4; /* data offset */
      tcp[13] = 0x02;   /* SYN */
      tcp[14] = 0xff;
      if (s.family == EMBER_ADDR_IPV4)
        {
          ip[2] = 0;
          ip[3] = (guint8) len;
          ip[9] = EMBER_IPPROTO_TCP;
        }
      else
        {
          ip[4] = 0;
          ip[5] = 20;
          ip[6] = EMBER_IPPROTO_TCP;
        }
      g_assert_cmpint (ember_ip_packet_parse (pkt, buf, cap, EMBER_PACKET_HEADROOM, len), ==,
                       EMBER_PACKET_OK);
      ember_ip_packet_update_checksums (pkt);
    }
  g_assert_cmpint (ember_ip_packet_verify_checksums (pkt), ==, EMBER_PACKET_OK);
}

static void
assert_dst (const EmberIpPacket *pkt, const char *expected)
{
  EmberAddr d, e = addr (expected);

  ember_ip_packet_get_destination (pkt, &d);
  g_assert_cmpint (d.family, ==, e.family);
  g_assert_cmpmem (d.addr, 16, e.addr, 16);
}

static void
assert_src (const EmberIpPacket *pkt, const char *expected)
{
  EmberAddr d, e = addr (expected);

  ember_ip_packet_get_source (pkt, &d);
  g_assert_cmpint (d.family, ==, e.family);
  g_assert_cmpmem (d.addr, 16, e.addr, 16);
}

/* Answers every query the translator has out: A with `v4` (NULL: no
 * record), AAAA with `v6`, rcode as given. Returns how many. */
static guint
answer_queries (EmberDnsTranslator *t, gint64 now, const char *v4, const char *v6, guint rcode)
{
  guint8 q[512], a[512];
  gsize qlen, alen;
  guint n = 0;

  while ((qlen = ember_dns_translator_poll_query (t, q, sizeof q)) > 0)
    {
      EmberDnsMessage msg;
      EmberDnsAnswer ans = { 0 };
      const char *text;

      g_assert_cmpint (ember_dns_message_parse (&msg, q, qlen), ==, EMBER_DNS_OK);
      g_assert_false (ember_dns_message_is_response (&msg));
      g_assert_true (msg.qtype == EMBER_DNS_TYPE_A || msg.qtype == EMBER_DNS_TYPE_AAAA);
      text = msg.qtype == EMBER_DNS_TYPE_A ? v4 : v6;
      ans.type = msg.qtype;
      ans.ttl = 300;
      if (text)
        {
          EmberAddr ra = addr (text);

          memcpy (ans.addr, ra.addr, 16);
        }
      g_assert_cmpint (ember_dns_build_response (&msg, rcode, 0, &ans, text ? 1 : 0, sizeof a, a,
                                                 sizeof a, &alen),
                       ==, EMBER_DNS_OK);
      g_assert_true (ember_dns_translator_handle_answer (t, now, a, alen));
      n++;
    }
  return n;
}

static void
test_add_name_checks (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  EmberAddr p4 = addr ("100.96.0.1"), bad = addr ("10.0.0.1"), none = { 0 };
  EmberDnsNatStats stats;

  struct {
    const char *name, *pattern;
    const EmberAddr *a4;
    const char *field;
  } cases[] = {
    { "app.evil.example", "*.corp.example", &p4, "name" },
    { "a.b.corp.example", "*.corp.example", &p4, "name" },
    { "bad..name", "*.corp.example", &p4, "name" },
    { "app.corp.example", "*.corp.example", &bad, "proxy_ips" },
    { "app.corp.example", "*.corp.example", &none, "proxy_ips" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_false (ember_dns_translator_add_name (t, T0, id (CLIENT_A), id (RES_STAR),
                                                     cases[i].pattern, cases[i].name,
                                                     cases[i].a4, &none, &error));
      g_assert_error (error, EMBER_DNS_TRANSLATE_ERROR, 0);
      g_assert_true (g_str_has_prefix (error->message, cases[i].field));
    }
  /* The apex matches `*.` and the case does not matter. */
  add_name (t, CLIENT_A, "Corp.Example.", "100.96.0.1", NULL);
  ember_dns_translator_get_stats (t, &stats);
  g_assert_cmpuint (stats.names_refused, ==, G_N_ELEMENTS (cases));
  g_assert_cmpuint (stats.names_added, ==, 1);
}

static void
test_tcp_held_resolved_translated_both_ways (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE], out[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  EmberDnsNatOutput o;
  EmberDnsNatEvent ev;
  g_autoptr (GArray) cidrs = NULL;
  gsize len;

  add_name (t, CLIENT_A, "app.corp.example", "100.96.0.1", "fd00:2021:1111:8000::1");
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "100.64.0.2", 40000, "100.96.0.1", 80);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_HELD);
  /* Nothing out before the answer. */
  g_assert_cmpuint (ember_dns_translator_poll_output (t, out, sizeof out, &o), ==, 0);
  g_assert_cmpint (ember_dns_translator_poll_timeout (t), ==,
                   T0 + EMBER_DNS_NAT_RESOLVE_TIMEOUT_US);
  g_assert_cmpuint (answer_queries (t, T0 + 1000, "10.0.0.80", "2001:db8::80",
                                    EMBER_DNS_RCODE_NOERROR),
                    ==, 2);
  /* The policy learns the resource's real addresses. */
  g_assert_true (ember_dns_translator_poll_event (t, &ev));
  g_assert_cmpstr (ev.resource.str, ==, RES_STAR);
  g_assert_false (ember_dns_translator_poll_event (t, &ev));
  cidrs = ember_dns_translator_resource_addresses (t, id (RES_STAR));
  g_assert_cmpuint (cidrs->len, ==, 2);
  /* The held SYN comes out to the real address, checksums right. */
  len = ember_dns_translator_poll_output (t, out + EMBER_PACKET_HEADROOM,
                                          sizeof out - EMBER_PACKET_HEADROOM, &o);
  g_assert_cmpuint (len, >, 0);
  g_assert_cmpint (o.kind, ==, EMBER_DNS_NAT_OUT_NETWORK);
  g_assert_cmpstr (o.client.str, ==, CLIENT_A);
  g_assert_cmpint (ember_ip_packet_parse (&pkt, out, sizeof out, EMBER_PACKET_HEADROOM, len), ==,
                   EMBER_PACKET_OK);
  assert_dst (&pkt, "10.0.0.80");
  assert_src (&pkt, "100.64.0.2");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
  g_assert_cmpuint (ember_dns_translator_n_flows (t), ==, 1);

  /* The next segment of the flow is translated at once. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "100.64.0.2", 40000, "100.96.0.1", 80);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0 + 2000, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  assert_dst (&pkt, "10.0.0.80");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);

  /* The SYN-ACK comes back from the proxy address. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "10.0.0.80", 80, "100.64.0.2", 40000);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0 + 3000, &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  assert_src (&pkt, "100.96.0.1");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
  /* Another port of the real host is no flow of ours. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "10.0.0.80", 81, "100.64.0.2", 40000);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0 + 3000, &pkt), ==, EMBER_DNS_NAT_PASS);
  assert_src (&pkt, "10.0.0.80");

  /* IPv6: the same name's v6 proxy address goes to the AAAA. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "fd00:2021:1111::2", 5353,
               "fd00:2021:1111:8000::1", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0 + 4000, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  assert_dst (&pkt, "2001:db8::80");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "2001:db8::80", 53,
               "fd00:2021:1111::2", 5353);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0 + 5000, &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  assert_src (&pkt, "fd00:2021:1111:8000::1");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
}

static void
test_not_a_proxy_or_unknown_passes (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;

  add_name (t, CLIENT_A, "app.corp.example", "100.96.0.1", NULL);
  /* A CIDR resource's address is left alone. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 1000, "10.0.0.5", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_PASS);
  assert_dst (&pkt, "10.0.0.5");
  /* A proxy address this client named nothing for (the policy refuses it). */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 1000, "100.96.0.2", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_PASS);
  /* Another client's names are not this one's. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.3", 1000, "100.96.0.1", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_B), &pkt), ==,
                   EMBER_DNS_NAT_PASS);
  g_assert_cmpuint (ember_dns_translator_poll_query (t, buf, sizeof buf), ==, 0);
}

static void
test_same_proxy_index_two_clients_two_names (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE], q[512], a[512];
  EmberIpPacket pkt;
  gsize qlen, alen;

  /* Each client's stub numbers its own names: 100.96.0.1 is app for A and
   * db for B. */
  add_name (t, CLIENT_A, "app.corp.example", "100.96.0.1", NULL);
  add_name (t, CLIENT_B, "db.corp.example", "100.96.0.1", NULL);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 1000, "100.96.0.1", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_HELD);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.3", 1000, "100.96.0.1", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_B), &pkt), ==,
                   EMBER_DNS_NAT_HELD);
  while ((qlen = ember_dns_translator_poll_query (t, q, sizeof q)) > 0)
    {
      EmberDnsMessage msg;
      EmberDnsAnswer ans = { .type = EMBER_DNS_TYPE_A, .ttl = 60 };
      char name[EMBER_DNS_NAME_TEXT_MAX];

      g_assert_cmpint (ember_dns_message_parse (&msg, q, qlen), ==, EMBER_DNS_OK);
      g_assert_cmpint (ember_dns_message_qname (&msg, name, sizeof name), ==, EMBER_DNS_OK);
      ans.addr[0] = 10;
      ans.addr[3] = g_str_equal (name, "app.corp.example") ? 1 : 2;
      g_assert_cmpint (ember_dns_build_response (&msg, 0, 0, &ans,
                                                 msg.qtype == EMBER_DNS_TYPE_A ? 1 : 0, 512, a,
                                                 sizeof a, &alen),
                       ==, EMBER_DNS_OK);
      g_assert_true (ember_dns_translator_handle_answer (t, T0 + 10, a, alen));
    }
  for (guint i = 0; i < 2; i++)
    {
      guint8 out[EMBER_PACKET_BUF_SIZE];
      EmberDnsNatOutput o;
      gsize len = ember_dns_translator_poll_output (t, out, sizeof out, &o);

      g_assert_cmpuint (len, >, 0);
      g_assert_cmpint (ember_ip_packet_parse (&pkt, out, sizeof out, 0, len), ==,
                       EMBER_PACKET_OK);
      assert_dst (&pkt, g_str_equal (o.client.str, CLIENT_A) ? "10.0.0.1" : "10.0.0.2");
    }
}

static void
test_flows_expire_when_idle (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  gint64 now = T0;

  add_name (t, CLIENT_A, "app.corp.example", "100.96.0.1", NULL);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 1000, "100.96.0.1", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, now, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_HELD);
  answer_queries (t, now, "10.0.0.80", NULL, 0);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "100.64.0.2", 2000, "100.96.0.1", 80);
  g_assert_cmpint (ember_dns_translator_from_client (t, now, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  g_assert_cmpuint (ember_dns_translator_n_flows (t), ==, 2);

  /* Jump to each deadline: UDP goes after 2 min idle, TCP stays. */
  while (ember_dns_translator_n_flows (t) == 2)
    {
      now = ember_dns_translator_poll_timeout (t);
      g_assert_cmpint (now, <, G_MAXINT64);
      ember_dns_translator_handle_timeout (t, now);
    }
  g_assert_cmpint (now, >=, T0 + EMBER_DNS_NAT_UDP_IDLE_US);
  g_assert_cmpint (now, <, T0 + EMBER_DNS_NAT_UDP_IDLE_US + 15 * G_TIME_SPAN_SECOND);
  /* The reply of the gone UDP flow is not translated any more. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "10.0.0.80", 53, "100.64.0.2", 1000);
  g_assert_cmpint (ember_dns_translator_to_client (t, now, &pkt), ==, EMBER_DNS_NAT_PASS);
  /* TCP traffic an hour later keeps its flow alive... */
  now = T0 + 3600 * G_TIME_SPAN_SECOND;
  ember_dns_translator_handle_timeout (t, now);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "10.0.0.80", 80, "100.64.0.2", 2000);
  g_assert_cmpint (ember_dns_translator_to_client (t, now, &pkt), ==, EMBER_DNS_NAT_TRANSLATED);
  /* ...which then ends 2 h after its last packet (idle flows are swept
   * at most once a second). */
  ember_dns_translator_handle_timeout (t, now + EMBER_DNS_NAT_TCP_IDLE_US - 1);
  g_assert_cmpuint (ember_dns_translator_n_flows (t), ==, 1);
  now = ember_dns_translator_poll_timeout (t);
  g_assert_cmpint (now, <=, T0 + 3600 * G_TIME_SPAN_SECOND + EMBER_DNS_NAT_TCP_IDLE_US +
                              G_TIME_SPAN_SECOND);
  ember_dns_translator_handle_timeout (t, now);
  g_assert_cmpuint (ember_dns_translator_n_flows (t), ==, 0);
}

static void
test_icmp_echo_translated (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  EmberAddr c = addr ("100.64.0.2"), p = addr ("100.96.0.1"), r = addr ("10.0.0.80");

  add_name (t, CLIENT_A, "app.corp.example", "100.96.0.1", NULL);
  g_assert_cmpint (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &c, &p, FALSE, 77, 1,
                                                    NULL, 0),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_HELD);
  answer_queries (t, T0, "10.0.0.80", NULL, 0);
  g_assert_cmpint (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &c, &p, FALSE, 77, 2,
                                                    NULL, 0),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  assert_dst (&pkt, "10.0.0.80");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &r, &c, TRUE, 77, 2,
                                                    NULL, 0),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0, &pkt), ==, EMBER_DNS_NAT_TRANSLATED);
  assert_src (&pkt, "100.96.0.1");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
  /* Another echo id is another flow: not ours. */
  g_assert_cmpint (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &r, &c, TRUE, 78, 2,
                                                    NULL, 0),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0, &pkt), ==, EMBER_DNS_NAT_PASS);
}

/* Checks the next output is an ICMP unreachable for `client` from
 * `from`, of the right family's type and code. */
static void
assert_unreachable_out (EmberDnsTranslator *t, const char *client, const char *from)
{
  guint8 out[EMBER_PACKET_BUF_SIZE];
  EmberDnsNatOutput o;
  EmberIpPacket pkt;
  guint8 type, code;
  gsize len = ember_dns_translator_poll_output (t, out, sizeof out, &o);

  g_assert_cmpuint (len, >, 0);
  g_assert_cmpint (o.kind, ==, EMBER_DNS_NAT_OUT_CLIENT);
  g_assert_cmpstr (o.client.str, ==, client);
  g_assert_cmpint (ember_ip_packet_parse (&pkt, out, sizeof out, 0, len), ==, EMBER_PACKET_OK);
  assert_src (&pkt, from);
  g_assert_true (ember_ip_packet_is_icmp_error (&pkt));
  g_assert_cmpint (ember_ip_packet_icmp_type (&pkt, &type, &code), ==, EMBER_PACKET_OK);
  if (ember_ip_packet_version (&pkt) == 4)
    {
      g_assert_cmpuint (type, ==, 3); /* destination unreachable */
      g_assert_cmpuint (code, ==, 1); /* host */
    }
  else
    {
      g_assert_cmpuint (type, ==, 1); /* destination unreachable */
      g_assert_cmpuint (code, ==, 3); /* address */
    }
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
}

static void
test_family_without_address_is_unreachable (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;

  /* The name has an A record only: its IPv6 proxy address is unreachable. */
  add_name (t, CLIENT_A, "v4only.corp.example", "100.96.0.9", "fd00:2021:1111:8000::9");
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "fd00:2021:1111::2", 40000,
               "fd00:2021:1111:8000::9", 443);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_HELD);
  answer_queries (t, T0, "10.0.0.9", NULL, 0);
  assert_unreachable_out (t, CLIENT_A, "fd00:2021:1111:8000::9");
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "fd00:2021:1111::2", 40001,
               "fd00:2021:1111:8000::9", 443);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_UNREACHABLE);
  assert_unreachable_out (t, CLIENT_A, "fd00:2021:1111:8000::9");
  /* Its IPv4 one works. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_TCP, "100.64.0.2", 40000, "100.96.0.9", 443);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  assert_dst (&pkt, "10.0.0.9");
}

static void
test_answer_needs_id_and_question (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE], q[512], a[512];
  EmberIpPacket pkt;
  EmberDnsMessage msg;
  EmberDnsAnswer ans = { .type = EMBER_DNS_TYPE_A, .ttl = 60, .addr = { 192, 0, 2, 66 } };
  gsize qlen, alen, len;
  guint8 fake[512];
  gsize fake_len;
  EmberDnsNatStats stats;

  add_name (t, CLIENT_A, "app.corp.example", "100.96.0.1", NULL);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 1000, "100.96.0.1", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_HELD);
  qlen = ember_dns_translator_poll_query (t, q, sizeof q);
  g_assert_cmpuint (qlen, >, 0);
  g_assert_cmpint (ember_dns_message_parse (&msg, q, qlen), ==, EMBER_DNS_OK);
  /* seed 004: an answer with our id to another question is not ours. */
  g_assert_cmpint (ember_dns_build_query (msg.id, "evil.example", msg.qtype, 0, fake, sizeof fake,
                                          &fake_len),
                   ==, EMBER_DNS_OK);
  {
    EmberDnsMessage fq;

    g_assert_cmpint (ember_dns_message_parse (&fq, fake, fake_len), ==, EMBER_DNS_OK);
    g_assert_cmpint (ember_dns_build_response (&fq, 0, 0, &ans, 1, 512, a, sizeof a, &alen), ==,
                     EMBER_DNS_OK);
  }
  g_assert_false (ember_dns_translator_handle_answer (t, T0, a, alen));
  /* A query (not a response) and garbage are not answers either. */
  g_assert_false (ember_dns_translator_handle_answer (t, T0, q, qlen));
  g_assert_false (ember_dns_translator_handle_answer (t, T0, (const guint8 *) "xx", 2));
  ember_dns_translator_get_stats (t, &stats);
  g_assert_cmpuint (stats.answers_unmatched, ==, 3);
  /* Nothing was released. */
  g_assert_cmpuint (ember_dns_translator_poll_output (t, buf, sizeof buf, &(EmberDnsNatOutput){ 0 }),
                    ==, 0);
  /* The backend fails the A query, the AAAA one times out: the held
   * packet gets ICMP unreachable. */
  g_assert_true (ember_dns_translator_handle_error (t, T0, q, qlen));
  g_assert_false (ember_dns_translator_handle_error (t, T0, q, qlen));
  ember_dns_translator_handle_timeout (t, T0 + EMBER_DNS_NAT_RESOLVE_TIMEOUT_US - 1);
  len = ember_dns_translator_poll_output (t, buf, sizeof buf, &(EmberDnsNatOutput){ 0 });
  g_assert_cmpuint (len, ==, 0);
  ember_dns_translator_handle_timeout (t, T0 + EMBER_DNS_NAT_RESOLVE_TIMEOUT_US);
  assert_unreachable_out (t, CLIENT_A, "100.96.0.1");
  ember_dns_translator_get_stats (t, &stats);
  g_assert_cmpuint (stats.lookup_failures, ==, 1);
  /* Until the retry pause is over new packets get ICMP at once, then the
   * name is asked again. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 1001, "100.96.0.1", 53);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0 + EMBER_DNS_NAT_RESOLVE_TIMEOUT_US,
                                                     id (CLIENT_A), &pkt),
                   ==, EMBER_DNS_NAT_UNREACHABLE);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 1001, "100.96.0.1", 53);
  g_assert_cmpint (ember_dns_translator_from_client (
                       t, T0 + EMBER_DNS_NAT_RESOLVE_TIMEOUT_US + EMBER_DNS_NAT_FAILED_RETRY_US,
                       id (CLIENT_A), &pkt),
                   ==, EMBER_DNS_NAT_HELD);
  g_assert_cmpuint (answer_queries (t, T0 + 20 * G_TIME_SPAN_SECOND, "10.0.0.80", NULL, 0), ==, 2);
}

static void
test_icmp_error_quoting_a_flow_translated (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE], err[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt, icmp;
  EmberAddr real = addr ("10.0.0.80"), router = addr ("10.0.0.1"), quoted;
  gsize qlen;
  const guint8 *q;

  add_name (t, CLIENT_A, "app.corp.example", "100.96.0.1", "fd00:2021:1111:8000::1");
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 5000, "100.96.0.1", 9);
  ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt);
  answer_queries (t, T0, "10.0.0.80", "2001:db8::80", 0);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 5000, "100.96.0.1", 9);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  /* The real host says port unreachable, quoting what it got. */
  g_assert_cmpint (ember_ip_packet_build_icmp_unreachable (&icmp, err, sizeof err, 0, &pkt, &real,
                                                           EMBER_ICMP_UNREACH_PORT),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0, &icmp), ==, EMBER_DNS_NAT_TRANSLATED);
  assert_src (&icmp, "100.96.0.1");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&icmp), ==, EMBER_PACKET_OK);
  q = ember_ip_packet_payload (&icmp, &qlen);
  g_assert_cmpuint (qlen, >=, 28);
  quoted = addr ("100.96.0.1");
  g_assert_cmpmem (q + 16, 4, quoted.addr, 4);
  /* The quoted header's checksum is right again. */
  g_assert_cmpuint (ember_checksum_fold (ember_checksum_add (0, q, 20)), ==, 0xffff);

  /* A router on the way keeps its own address; the quote is translated
   * all the same. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 5000, "100.96.0.1", 9);
  ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt);
  g_assert_cmpint (ember_ip_packet_build_icmp_unreachable (&icmp, err, sizeof err, 0, &pkt, &router,
                                                           EMBER_ICMP_UNREACH_HOST),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0, &icmp), ==, EMBER_DNS_NAT_TRANSLATED);
  assert_src (&icmp, "10.0.0.1");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&icmp), ==, EMBER_PACKET_OK);

  /* IPv6: the ICMPv6 checksum covers the pseudo-header and the quote. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "fd00:2021:1111::2", 5000,
               "fd00:2021:1111:8000::1", 9);
  g_assert_cmpint (ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt), ==,
                   EMBER_DNS_NAT_TRANSLATED);
  real = addr ("2001:db8::80");
  g_assert_cmpint (ember_ip_packet_build_icmp_unreachable (&icmp, err, sizeof err, 0, &pkt, &real,
                                                           EMBER_ICMP_UNREACH_PORT),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0, &icmp), ==, EMBER_DNS_NAT_TRANSLATED);
  assert_src (&icmp, "fd00:2021:1111:8000::1");
  g_assert_cmpint (ember_ip_packet_verify_checksums (&icmp), ==, EMBER_PACKET_OK);

  /* An error about a flow never translated passes untouched. */
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 5001, "10.0.0.5", 9);
  real = addr ("10.0.0.5");
  g_assert_cmpint (ember_ip_packet_build_icmp_unreachable (&icmp, err, sizeof err, 0, &pkt, &real,
                                                           EMBER_ICMP_UNREACH_PORT),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0, &icmp), ==, EMBER_DNS_NAT_PASS);
}

static void
test_remove_client_forgets_flows (void)
{
  g_autoptr (EmberDnsTranslator) t = make_translator ();
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  EmberDnsNatEvent ev;
  g_autoptr (GArray) cidrs = NULL;

  add_name (t, CLIENT_A, "app.corp.example", "100.96.0.1", NULL);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "100.64.0.2", 1000, "100.96.0.1", 53);
  ember_dns_translator_from_client (t, T0, id (CLIENT_A), &pkt);
  answer_queries (t, T0, "10.0.0.80", NULL, 0);
  while (ember_dns_translator_poll_event (t, &ev))
    ;
  g_assert_cmpuint (ember_dns_translator_n_flows (t), ==, 1);
  ember_dns_translator_remove_resource (t, id (CLIENT_A), id (RES_OTHER));
  g_assert_cmpuint (ember_dns_translator_n_flows (t), ==, 1);
  ember_dns_translator_remove_client (t, id (CLIENT_A));
  g_assert_cmpuint (ember_dns_translator_n_flows (t), ==, 0);
  /* The resource's addresses are gone from the policy's view too. */
  g_assert_true (ember_dns_translator_poll_event (t, &ev));
  g_assert_cmpstr (ev.resource.str, ==, RES_STAR);
  cidrs = ember_dns_translator_resource_addresses (t, id (RES_STAR));
  g_assert_cmpuint (cidrs->len, ==, 0);
  make_packet (&pkt, buf, sizeof buf, EMBER_IPPROTO_UDP, "10.0.0.80", 53, "100.64.0.2", 1000);
  g_assert_cmpint (ember_dns_translator_to_client (t, T0, &pkt), ==, EMBER_DNS_NAT_PASS);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dns/translate/add-name/refuses-names-outside-the-pattern-and-bad-addresses",
                   test_add_name_checks);
  g_test_add_func ("/dns/translate/tcp/held-resolved-and-translated-both-ways",
                   test_tcp_held_resolved_translated_both_ways);
  g_test_add_func ("/dns/translate/packet/other-addresses-and-clients-pass",
                   test_not_a_proxy_or_unknown_passes);
  g_test_add_func ("/dns/translate/proxy/same-address-two-clients-two-names",
                   test_same_proxy_index_two_clients_two_names);
  g_test_add_func ("/dns/translate/flow/expires-udp-2min-tcp-2h-idle",
                   test_flows_expire_when_idle);
  g_test_add_func ("/dns/translate/icmp/echo-translated-by-id", test_icmp_echo_translated);
  g_test_add_func ("/dns/translate/family/without-address-gets-icmp-unreachable",
                   test_family_without_address_is_unreachable);
  g_test_add_func ("/dns/translate/lookup/answer-needs-id-and-question-then-fails",
                   test_answer_needs_id_and_question);
  g_test_add_func ("/dns/translate/icmp/error-quoting-a-flow-gets-the-proxy-back",
                   test_icmp_error_quoting_a_flow_translated);
  g_test_add_func ("/dns/translate/client/removed-forgets-flows", test_remove_client_forgets_flows);
  return g_test_run ();
}
