/* libFuzzer target: DNS over TCP on the TUN (core/dns/tcp.h) driven by a
 * script read from the input: segments (a TCP header with the input's
 * flags, sequence and acknowledgement numbers and payload, or raw bytes
 * that parse as an IP packet), answers for streams, time jumps. After
 * every step all output is drained and checked: packets parse with valid
 * checksums, messages are at most a TCP message long. */
#include "dns/tcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-script.h"

static void
drain (EmberDnsTcp *t)
{
  static guint8 buf[EMBER_DNS_TCP_MAX];
  EmberDnsAsker asker;
  EmberIpPacket pkt;
  gsize n;

  while ((n = ember_dns_tcp_poll_message (t, buf, sizeof buf, &asker)) > 0)
    check (asker.transport == EMBER_DNS_TRANSPORT_TCP && n <= EMBER_DNS_TCP_MAX);
  while ((n = ember_dns_tcp_poll_packet (t, buf, sizeof buf)) > 0)
    {
      check (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, n) == EMBER_PACKET_OK);
      check (ember_ip_packet_verify_checksums (&pkt) == EMBER_PACKET_OK);
    }
}

static void
segment (In *in, EmberDnsTcp *t, gint64 now)
{
  static guint8 buf[EMBER_PACKET_BUF_SIZE];
  guint8 sel = byte (in), *p = buf + 64, *tcp;
  gsize want, plen, ip = (sel & 1) ? 40 : 20, total;
  EmberIpPacket pkt;

  memset (buf, 0, sizeof buf);
  if (sel & 2)
    {
      want = byte (in);
      plen = MIN (in->left, want);
      memcpy (p, in->p, plen);
      in->p += plen;
      in->left -= plen;
      if (ember_ip_packet_parse (&pkt, buf, sizeof buf, 64, plen) == EMBER_PACKET_OK &&
          ember_ip_packet_protocol (&pkt) == EMBER_IPPROTO_TCP)
        ember_dns_tcp_handle_segment (t, now, &pkt);
      return;
    }
  guint8 hdr[9];

  for (guint i = 0; i < sizeof hdr; i++)
    hdr[i] = byte (in);
  want = byte (in);
  plen = MIN (in->left, want);
  total = ip + 20 + plen;
  if (ip == 20)
    {
      p[0] = 0x45, p[2] = (guint8) (total >> 8), p[3] = (guint8) total, p[8] = 64, p[9] = 6;
      p[12] = 100, p[13] = 64, p[15] = (guint8) (2 + (sel >> 2) % 2);
      p[16] = 100, p[17] = 100, p[18] = 111, p[19] = 1;
    }
  else
    {
      p[0] = 0x60, p[4] = (guint8) ((total - 40) >> 8), p[5] = (guint8) (total - 40), p[6] = 6;
      p[8] = 0xfd, p[23] = (guint8) (2 + (sel >> 2) % 2);
      p[24] = 0xfd, p[39] = 1;
    }
  tcp = p + ip;
  tcp[0] = 0x9c, tcp[1] = (guint8) (sel >> 3), tcp[3] = 53;
  memcpy (tcp + 4, hdr, 8);
  tcp[12] = 5 << 4;
  tcp[13] = hdr[8];
  tcp[14] = 0xff;
  memcpy (tcp + 20, in->p, plen);
  in->p += plen;
  in->left -= plen;
  if (ember_ip_packet_parse (&pkt, buf, sizeof buf, 64, total) != EMBER_PACKET_OK)
    return;
  ember_ip_packet_update_checksums (&pkt);
  ember_dns_tcp_handle_segment (t, now, &pkt);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  static guint8 answer[EMBER_DNS_TCP_MAX];
  EmberIceRng r = { rng, NULL };
  EmberDnsTcp *t;
  In in = { data, size };
  gint64 now = 1000 * G_TIME_SPAN_SECOND;

  rng_state = 1;
  t = ember_dns_tcp_new (&r);
  for (guint steps = 0; in.left > 0 && steps < 256; steps++)
    {
      guint8 op = byte (&in);

      switch (op % 4)
        {
        case 0:
        case 1:
          segment (&in, t, now);
          break;
        case 2:
          {
            gsize len = ((gsize) byte (&in) << 8 | byte (&in)) % (sizeof answer + 1);

            memset (answer, op, len);
            ember_dns_tcp_send (t, now, byte (&in) % 8, answer, len);
            break;
          }
        default:
          now += (gint64) byte (&in) * G_TIME_SPAN_SECOND;
          ember_dns_tcp_handle_timeout (t, now);
          check (ember_dns_tcp_poll_timeout (t) > now);
          break;
        }
      drain (t);
      check (ember_dns_tcp_n_conns (t) <= EMBER_DNS_TCP_CONNS_MAX);
    }
  ember_dns_tcp_free (t);

  return 0;
}
