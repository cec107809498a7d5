/* fuzz-packet-nat: NAT46/NAT64 on arbitrary bytes. Whatever parses is
 * given fresh checksums and translated; a translated packet must verify,
 * and a packet already in the canonical form RFC 7915 produces (no IPv4
 * options, DF/ID as §5.1 sets them, flow label 0, no extension headers)
 * must come back byte for byte from the round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packet/packet.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check (gboolean ok, const char *what)
{
  if (!ok)
    {
      g_printerr ("invariant broken: %s\n", what);
      abort ();
    }
}

static guint16
rd16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

/* Protocols whose translation is exactly invertible. */
static gboolean
invertible (const EmberIpPacket *pkt)
{
  const guint8 *l4 = ember_ip_packet_data (pkt) + pkt->l4_off;

  if (ember_ip_packet_protocol (pkt) == EMBER_IPPROTO_TCP)
    return TRUE;
  if (ember_ip_packet_protocol (pkt) == EMBER_IPPROTO_UDP)
    return rd16 (l4 + 6) != 0;  /* a missing IPv4 checksum gets computed */
  return ember_ip_packet_is_icmp_echo (pkt);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsize cap = EMBER_PACKET_HEADROOM + size + 64;
  guint8 *buf, *orig;
  EmberIpPacket pkt;
  EmberNat64Prefix wkp;
  EmberPacketResult r;
  gboolean canonical;
  gsize len, off;

  if (size > 4 * EMBER_PACKET_MTU)
    return 0;
  buf = g_malloc0 (cap);
  memcpy (buf + EMBER_PACKET_HEADROOM, data, size);
  if (ember_ip_packet_parse (&pkt, buf, cap, EMBER_PACKET_HEADROOM, size) != EMBER_PACKET_OK)
    {
      g_free (buf);
      return 0;
    }
  ember_ip_packet_update_checksums (&pkt);
  len = ember_ip_packet_len (&pkt);
  off = pkt.off;
  orig = g_memdup2 (ember_ip_packet_data (&pkt), len);
  ember_nat64_prefix_well_known (&wkp);

  if (ember_ip_packet_version (&pkt) == 4)
    {
      const guint8 *d = orig;
      guint16 ident = rd16 (d + 4);
      guint16 ff = rd16 (d + 6);

      canonical = pkt.l4_off == 20 && invertible (&pkt) &&
                  (len <= EMBER_NAT64_DF_THRESHOLD ? ff == 0 : (ff == 0x4000 && ident == 0));
      r = ember_ip_packet_nat46 (&pkt, &wkp);
      if (r == EMBER_PACKET_OK)
        {
          check (ember_ip_packet_version (&pkt) == 6, "now IPv6");
          check (ember_ip_packet_verify_checksums (&pkt) == EMBER_PACKET_OK, "4to6 verifies");
          r = ember_ip_packet_nat64 (&pkt, &wkp, ident);
          check (r == EMBER_PACKET_OK || !canonical, "canonical 6to4 back");
          if (r == EMBER_PACKET_OK)
            check (ember_ip_packet_verify_checksums (&pkt) == EMBER_PACKET_OK, "6to4 verifies");
          if (canonical)
            check (pkt.off == off && ember_ip_packet_len (&pkt) == len &&
                   memcmp (ember_ip_packet_data (&pkt), orig, len) == 0, "4to6to4 identity");
        }
      else
        check (memcmp (buf + off, orig, len) == 0, "refused 4to6 leaves the buffer");
    }
  else
    {
      static const guint8 s4[4] = { 192, 0, 2, 1 }, d4[4] = { 198, 51, 100, 7 };
      guint8 s6[16], d6[16];

      memcpy (s6, orig + 8, 16);
      memcpy (d6, orig + 24, 16);
      canonical = pkt.l4_off == 40 && invertible (&pkt) && (orig[1] & 0x0f) == 0 &&
                  orig[2] == 0 && orig[3] == 0;
      r = ember_ip_packet_translate_6to4 (&pkt, s4, d4, 0x1234);
      if (r == EMBER_PACKET_OK)
        {
          check (ember_ip_packet_version (&pkt) == 4, "now IPv4");
          check (ember_ip_packet_verify_checksums (&pkt) == EMBER_PACKET_OK, "6to4 verifies");
          r = ember_ip_packet_translate_4to6 (&pkt, s6, d6);
          check (r == EMBER_PACKET_OK || !canonical, "canonical 4to6 back");
          if (r == EMBER_PACKET_OK)
            check (ember_ip_packet_verify_checksums (&pkt) == EMBER_PACKET_OK, "4to6 verifies");
          if (canonical)
            check (pkt.off == off && ember_ip_packet_len (&pkt) == len &&
                   memcmp (ember_ip_packet_data (&pkt), orig, len) == 0, "6to4to6 identity");
        }
      else
        check (memcmp (buf + off, orig, len) == 0, "refused 6to4 leaves the buffer");
    }
  g_free (orig);
  g_free (buf);
  return 0;
}
