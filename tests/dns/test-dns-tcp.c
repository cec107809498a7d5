/* tests/dns/test-dns-tcp: DNS over TCP to the sentinels on the TUN
 * (core/dns/tcp.h) with plain packets: the handshake, a query split over
 * two segments cut into one message, a large answer in segments that
 * reassemble into prefix and message, out-of-order data, FIN both ways,
 * RST for a segment of no connection, idle connections forgotten. */
#include <string.h>

#include "dns/tcp.h"
#include "net/cidr.h"

#define T0 (1000 * G_TIME_SPAN_SECOND)

static guint64 rng_state = 3;

static guint64
rng (gpointer user_data)
{
  (void) user_data;
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return rng_state >> 11;
}

typedef struct {
  guint32 seq, ack;
  guint8 flags;
  guint16 sport, dport;
  gsize plen;
  guint8 payload[1500];
} Seg;

static EmberAddr
addr (const char *ip, guint16 port)
{
  EmberAddr a;

  g_assert_true (ember_addr_parse (ip, &a, NULL));
  a.port = port;
  return a;
}

/* A TCP segment from the client (v4 or v6 by the address) to the sentinel. */
static void
send_seg (EmberDnsTcp *t, gint64 now, const char *src, const char *dst, guint32 seq, guint32 ack,
          guint8 flags, const guint8 *data, gsize len)
{
  EmberAddr s = addr (src, 40000), d = addr (dst, 53);
  gsize ip = s.family == EMBER_ADDR_IPV4 ? 20 : 40, total = ip + 20 + len;
  guint8 buf[EMBER_PACKET_BUF_SIZE] = { 0 };
  guint8 *p = buf + EMBER_PACKET_HEADROOM, *tcp = p + ip;
  EmberIpPacket pkt;

  if (s.family == EMBER_ADDR_IPV4)
    {
      p[0] = 0x45, p[2] = (guint8) (total >> 8), p[3] = (guint8) total, p[8] = 64, p[9] = 6;
      memcpy (p + 12, s.addr, 4);
      memcpy (p + 16, d.addr, 4);
    }
  else
    {
      p[0] = 0x60, p[4] = (guint8) ((total - 40) >> 8), p[5] = (guint8) (total - 40), p[6] = 6,
      p[7] = 64;
      memcpy (p + 8, s.addr, 16);
      memcpy (p + 24, d.addr, 16);
    }
  tcp[0] = 40000 >> 8, tcp[1] = 40000 & 0xff, tcp[3] = 53;
  tcp[4] = (guint8) (seq >> 24), tcp[5] = (guint8) (seq >> 16), tcp[6] = (guint8) (seq >> 8),
  tcp[7] = (guint8) seq;
  tcp[8] = (guint8) (ack >> 24), tcp[9] = (guint8) (ack >> 16), tcp[10] = (guint8) (ack >> 8),
  tcp[11] = (guint8) ack;
  tcp[12] = 5 << 4, tcp[13] = flags, tcp[14] = 0xff, tcp[15] = 0xff;
  if (len)
    memcpy (tcp + 20, data, len);
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, EMBER_PACKET_HEADROOM, total),
                   ==, EMBER_PACKET_OK);
  ember_ip_packet_update_checksums (&pkt);
  ember_dns_tcp_handle_segment (t, now, &pkt);
}

/* The next segment the responder has for the TUN, checked and decoded. */
static gboolean
next_seg (EmberDnsTcp *t, Seg *out, const char *to)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  gsize n = ember_dns_tcp_poll_packet (t, buf, sizeof buf);
  EmberIpPacket pkt;
  EmberAddr dst, want = addr (to, 0);
  const guint8 *tcp, *payload;

  if (n == 0)
    return FALSE;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, n), ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
  g_assert_cmpuint (ember_ip_packet_protocol (&pkt), ==, EMBER_IPPROTO_TCP);
  ember_ip_packet_get_destination (&pkt, &dst);
  g_assert_true (ember_ice_addr_same_ip (&dst, &want));
  g_assert_cmpint (ember_ip_packet_get_source_port (&pkt, &out->sport), ==, EMBER_PACKET_OK);
  g_assert_cmpint (ember_ip_packet_get_destination_port (&pkt, &out->dport), ==, EMBER_PACKET_OK);
  tcp = buf + pkt.l4_off;
  out->seq = ((guint32) tcp[4] << 24) | ((guint32) tcp[5] << 16) | ((guint32) tcp[6] << 8) | tcp[7];
  out->ack = ((guint32) tcp[8] << 24) | ((guint32) tcp[9] << 16) | ((guint32) tcp[10] << 8) | tcp[11];
  out->flags = tcp[13];
  payload = ember_ip_packet_payload (&pkt, &out->plen);
  memcpy (out->payload, payload, out->plen);
  return TRUE;
}

static const char V4C[] = "100.64.0.2", V4S[] = "100.100.111.1";

/* Handshake: the SYN-ACK's sequence number. */
static guint32
handshake (EmberDnsTcp *t, guint32 iss)
{
  Seg s;

  send_seg (t, T0, V4C, V4S, iss, 0, 0x02, NULL, 0);
  g_assert_true (next_seg (t, &s, V4C));
  g_assert_cmpuint (s.flags, ==, 0x12);
  g_assert_cmpuint (s.ack, ==, iss + 1);
  g_assert_cmpuint (s.sport, ==, 53);
  g_assert_cmpuint (s.dport, ==, 40000);
  send_seg (t, T0, V4C, V4S, iss + 1, s.seq + 1, 0x10, NULL, 0);
  g_assert_false (next_seg (t, &s, V4C));
  return s.seq;
}

static void
test_query_answer_and_close (void)
{
  EmberIceRng r = { rng, NULL };
  g_autoptr (EmberDnsTcp) t = ember_dns_tcp_new (&r);
  guint8 query[40], framed[42], big[3000], got[EMBER_DNS_TCP_MAX], seen[3100];
  guint32 iss = 0xfffffff0u, siss, next;
  EmberDnsAsker asker;
  gsize n, total = 0;
  Seg s;

  for (guint i = 0; i < sizeof query; i++)
    query[i] = (guint8) (i * 7);
  framed[0] = 0, framed[1] = sizeof query;
  memcpy (framed + 2, query, sizeof query);
  siss = handshake (t, iss);
  /* The query in two segments (the sequence number wraps meanwhile). */
  send_seg (t, T0, V4C, V4S, iss + 1, siss + 1, 0x18, framed, 10);
  g_assert_true (next_seg (t, &s, V4C));
  g_assert_cmpuint (s.ack, ==, iss + 11);
  g_assert_cmpuint (ember_dns_tcp_poll_message (t, got, sizeof got, &asker), ==, 0);
  /* Out of order: the expected sequence again, nothing taken. */
  send_seg (t, T0, V4C, V4S, iss + 20, siss + 1, 0x18, framed + 19, 5);
  g_assert_true (next_seg (t, &s, V4C));
  g_assert_cmpuint (s.ack, ==, iss + 11);
  send_seg (t, T0, V4C, V4S, iss + 11, siss + 1, 0x18, framed + 10, sizeof framed - 10);
  g_assert_true (next_seg (t, &s, V4C));
  g_assert_cmpuint (s.ack, ==, (guint32) (iss + 1 + sizeof framed));
  n = ember_dns_tcp_poll_message (t, got, sizeof got, &asker);
  g_assert_cmpmem (got, (int) n, query, (int) sizeof query);
  g_assert_cmpint (asker.transport, ==, EMBER_DNS_TRANSPORT_TCP);
  g_assert_cmpuint (asker.client.port, ==, 40000);

  /* A 3000-byte answer: prefix and message in segments of 1200 at most,
   * in sequence. */
  for (guint i = 0; i < sizeof big; i++)
    big[i] = (guint8) (i * 13);
  g_assert_true (ember_dns_tcp_send (t, T0, asker.stream, big, sizeof big));
  next = siss + 1;
  while (next_seg (t, &s, V4C))
    {
      g_assert_cmpuint (s.seq, ==, next);
      g_assert_cmpuint (s.plen, <=, EMBER_DNS_TCP_SEGMENT);
      memcpy (seen + total, s.payload, s.plen);
      total += s.plen;
      next += (guint32) s.plen;
    }
  g_assert_cmpuint (total, ==, 2 + sizeof big);
  g_assert_cmpuint ((seen[0] << 8) | seen[1], ==, sizeof big);
  g_assert_cmpmem (seen + 2, (int) sizeof big, big, (int) sizeof big);

  /* The client closes: FIN-ACK, then its last ACK ends the connection. */
  send_seg (t, T0, V4C, V4S, (guint32) (iss + 1 + sizeof framed), next, 0x11, NULL, 0);
  g_assert_true (next_seg (t, &s, V4C));
  g_assert_cmpuint (s.flags, ==, 0x11);
  g_assert_cmpuint (s.ack, ==, (guint32) (iss + 2 + sizeof framed));
  g_assert_cmpuint (ember_dns_tcp_n_conns (t), ==, 1);
  send_seg (t, T0, V4C, V4S, (guint32) (iss + 2 + sizeof framed), next + 1, 0x10, NULL, 0);
  g_assert_cmpuint (ember_dns_tcp_n_conns (t), ==, 0);
  /* An answer for the gone stream is refused. */
  g_assert_false (ember_dns_tcp_send (t, T0, asker.stream, big, 10));
}

static void
test_no_connection_gets_rst_and_idle_ones_go (void)
{
  EmberIceRng r = { rng, NULL };
  g_autoptr (EmberDnsTcp) t = ember_dns_tcp_new (&r);
  static const guint8 data[] = { 0, 1, 2 };
  Seg s;

  send_seg (t, T0, "fd00:2021:1111::2", "fd00:2021:1111:8000:100:100:111:1", 5, 77, 0x18, data,
            sizeof data);
  g_assert_true (next_seg (t, &s, "fd00:2021:1111::2"));
  g_assert_cmpuint (s.flags & 0x04, ==, 0x04);
  g_assert_cmpuint (s.seq, ==, 77);
  g_assert_cmpuint (ember_dns_tcp_n_conns (t), ==, 0);

  handshake (t, 1000);
  g_assert_cmpint (ember_dns_tcp_poll_timeout (t), ==, T0 + EMBER_DNS_TCP_IDLE_US);
  ember_dns_tcp_handle_timeout (t, T0 + EMBER_DNS_TCP_IDLE_US - 1);
  g_assert_cmpuint (ember_dns_tcp_n_conns (t), ==, 1);
  ember_dns_tcp_handle_timeout (t, T0 + EMBER_DNS_TCP_IDLE_US);
  g_assert_cmpuint (ember_dns_tcp_n_conns (t), ==, 0);
  g_assert_true (next_seg (t, &s, V4C));
  g_assert_cmpuint (s.flags & 0x04, ==, 0x04);
  g_assert_cmpint (ember_dns_tcp_poll_timeout (t), ==, G_MAXINT64);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dns/tcp/query-in-two-segments-answer-in-three-then-close",
                   test_query_answer_and_close);
  g_test_add_func ("/dns/tcp/no-connection-gets-rst-and-idle-ones-go",
                   test_no_connection_gets_rst_and_idle_ones_go);
  return g_test_run ();
}
