/* libFuzzer target: the gateway's translation of proxy addresses
 * (core/dns/translate.h) driven by a script read from the input: names
 * added and removed for two clients, packets from clients (built to a
 * proxy address, or raw bytes), replies from the network, upstream
 * answers (raw, or built on the last query so the matching path is
 * reached, with as many A/AAAA records as the input says), backend
 * errors and time jumps. After every step all output is drained and
 * checked: queries parse as queries, packets as IP packets. */
#include "dns/codec.h"
#include "dns/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-script.h"

static const char *const clients[] = { "00000000-0000-4000-8000-0000000000a1",
                                       "00000000-0000-4000-8000-0000000000b2" };
static const char *const names[] = { "app.corp.example", "corp.example", "db.corp.example",
                                     "a.b.corp.example", "evil.example" };

static guint8 last_query[512];
static gsize last_len;

static void
drain (EmberDnsTranslator *t)
{
  static guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberDnsNatOutput out;
  EmberDnsNatEvent ev;
  EmberDnsMessage msg;
  EmberIpPacket pkt;
  gsize len;

  while ((len = ember_dns_translator_poll_query (t, buf, sizeof buf)) > 0)
    {
      check (ember_dns_message_parse (&msg, buf, len) == EMBER_DNS_OK);
      check (!ember_dns_message_is_response (&msg));
      if (len <= sizeof last_query)
        {
          memcpy (last_query, buf, len);
          last_len = len;
        }
    }
  while ((len = ember_dns_translator_poll_output (t, buf, sizeof buf, &out)) > 0)
    check (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len) == EMBER_PACKET_OK);
  while (ember_dns_translator_poll_event (t, &ev))
    {
      GArray *a = ember_dns_translator_resource_addresses (t, &ev.resource);

      check (a->len <= 2 * EMBER_DNS_NAT_ADDRS_MAX * G_N_ELEMENTS (names) * 2);
      g_array_unref (a);
    }
}

static void
client_id (EmberPortalId *id, guint i)
{
  memset (id, 0, sizeof *id);
  g_strlcpy (id->str, clients[i % 2], sizeof id->str);
}

static void
proxy_addr (EmberAddr *a, guint family, guint8 index)
{
  memset (a, 0, sizeof *a);
  a->family = (guint8) family;
  if (family == EMBER_ADDR_IPV4)
    {
      static const guint8 base[4] = { 100, 96, 0, 0 };
      memcpy (a->addr, base, 4);
      a->addr[3] = (guint8) (index % 8 + 1);
    }
  else
    {
      static const guint8 base[16] = { 0xfd, 0, 0x20, 0x21, 0x11, 0x11, 0x80, 0 };
      memcpy (a->addr, base, 16);
      a->addr[15] = (guint8) (index % 8 + 1);
    }
}

/* A packet between the client (10.x / fd.. tunnel address) and `other`. */
static void
packet (In *in, EmberDnsTranslator *t, gint64 now, gboolean from_client)
{
  static guint8 buf[EMBER_PACKET_BUF_SIZE];
  guint8 sel = byte (in);
  guint family = (sel & 1) ? EMBER_ADDR_IPV6 : EMBER_ADDR_IPV4;
  EmberAddr me = { .family = (guint8) family }, other;
  EmberIpPacket pkt;
  EmberPortalId id;
  static const guint8 payload[] = "x";
  EmberPacketResult r;

  client_id (&id, sel >> 1);
  if (family == EMBER_ADDR_IPV4)
    {
      me.addr[0] = 100, me.addr[1] = 64, me.addr[3] = (guint8) (2 + ((sel >> 1) & 1));
    }
  else
    {
      me.addr[0] = 0xfd, me.addr[15] = (guint8) (2 + ((sel >> 1) & 1));
    }
  if (from_client)
    proxy_addr (&other, family, byte (in));
  else
    {
      /* A real address the answers below hand out. */
      other = (EmberAddr) { .family = (guint8) family };
      other.addr[0] = 10;
      other.addr[family == EMBER_ADDR_IPV4 ? 3 : 15] = (guint8) (byte (in) % 4);
    }
  me.port = (guint16) (byte (in) % 4 + 1000);
  other.port = (guint16) (byte (in) % 2 ? 80 : 53);
  if (sel & 4)
    {
      guint8 id8 = byte (in);

      r = from_client ? ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 64, &me, &other,
                                                         FALSE, id8, 1, payload, 1)
                      : ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 64, &other, &me,
                                                         TRUE, id8, 1, payload, 1);
    }
  else if (sel & 8)
    {
      /* Raw bytes, whatever parses. */
      gsize want = byte (in), n = MIN (in->left, want);

      memcpy (buf + 64, in->p, n);
      in->p += n;
      in->left -= n;
      r = ember_ip_packet_parse (&pkt, buf, sizeof buf, 64, n);
    }
  else
    r = from_client ? ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 64, &me, &other, payload, 1)
                    : ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 64, &other, &me, payload, 1);
  if (r != EMBER_PACKET_OK)
    return;
  if (from_client)
    ember_dns_translator_from_client (t, now, &id, &pkt);
  else
    ember_dns_translator_to_client (t, now, &pkt);
  check (ember_ip_packet_parse (&pkt, buf, sizeof buf, pkt.off, pkt.len) == EMBER_PACKET_OK);
}

static void
answer (In *in, EmberDnsTranslator *t, gint64 now)
{
  static guint8 out[EMBER_DNS_TCP_MAX];
  EmberDnsMessage q;
  EmberDnsAnswer ans[EMBER_DNS_NAT_ADDRS_MAX + 2];
  guint n = byte (in) % G_N_ELEMENTS (ans), rcode = byte (in) % 6;
  gsize len;

  if (last_len == 0 || ember_dns_message_parse (&q, last_query, last_len) != EMBER_DNS_OK)
    return;
  memset (ans, 0, sizeof ans);
  for (guint i = 0; i < n; i++)
    {
      ans[i].type = q.qtype;
      ans[i].ttl = (guint32) byte (in) << 8;
      ans[i].addr[0] = 10;
      ans[i].addr[q.qtype == EMBER_DNS_TYPE_A ? 3 : 15] = (guint8) (byte (in) % 4);
    }
  if (ember_dns_build_response (&q, rcode, 0, ans, n, sizeof out, out, sizeof out, &len) ==
      EMBER_DNS_OK)
    ember_dns_translator_handle_answer (t, now, out, len);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  EmberIceRng r = { rng, NULL };
  EmberDnsTranslator *t;
  In in = { data, size };
  gint64 now = 1000 * G_TIME_SPAN_SECOND;

  rng_state = 1;
  last_len = 0;
  t = ember_dns_translator_new (&r);
  for (guint steps = 0; in.left > 0 && steps < 256; steps++)
    {
      guint8 op = byte (&in);
      EmberPortalId id, res;

      memset (&res, 0, sizeof res);
      g_strlcpy (res.str, "00000000-0000-4000-8000-000000000003", sizeof res.str);
      switch (op % 8)
        {
        case 0:
          {
            EmberAddr a4, a6;
            guint8 sel = byte (&in), idx = byte (&in);

            client_id (&id, sel);
            proxy_addr (&a4, EMBER_ADDR_IPV4, idx);
            proxy_addr (&a6, EMBER_ADDR_IPV6, idx);
            if (sel & 2)
              a6.family = EMBER_ADDR_NONE;
            ember_dns_translator_add_name (t, now, &id, &res, (sel & 4) ? "**.corp.example"
                                                                         : "*.corp.example",
                                           names[(sel >> 3) % G_N_ELEMENTS (names)], &a4, &a6,
                                           NULL);
            break;
          }
        case 1:
          packet (&in, t, now, TRUE);
          break;
        case 2:
          packet (&in, t, now, FALSE);
          break;
        case 3:
          answer (&in, t, now);
          break;
        case 4:
          {
            gsize want = byte (&in), n = MIN (in.left, want);

            ember_dns_translator_handle_answer (t, now, in.p, n);
            in.p += n;
            in.left -= n;
            break;
          }
        case 5:
          if (last_len > 0)
            ember_dns_translator_handle_error (t, now, last_query, last_len);
          break;
        case 6:
          now += (gint64) byte (&in) * byte (&in) * G_TIME_SPAN_SECOND;
          ember_dns_translator_handle_timeout (t, now);
          check (ember_dns_translator_poll_timeout (t) > now ||
                 ember_dns_translator_poll_timeout (t) == G_MAXINT64);
          break;
        default:
          client_id (&id, byte (&in));
          if (op & 8)
            ember_dns_translator_remove_client (t, &id);
          else
            ember_dns_translator_remove_resource (t, &id, &res);
          break;
        }
      drain (t);
    }
  ember_dns_translator_free (t);
  return 0;
}
