/* fuzz-packet-parse: parse arbitrary bytes as an IP packet, call every
 * getter, verify checksums, and check the invariants that hold for any
 * packet parse accepts: a full recompute verifies, setters keep the
 * checksums equal to a full recompute, ICMP errors built about it parse
 * and verify. Any violation aborts (a libFuzzer crash). */
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

/* Checksums verify and match a full recompute of a copy. */
static void
check_fresh (const EmberIpPacket *pkt)
{
  guint8 *copy = g_memdup2 (ember_ip_packet_data (pkt), ember_ip_packet_len (pkt));
  EmberIpPacket c;

  check (ember_ip_packet_verify_checksums (pkt) == EMBER_PACKET_OK, "verify after update");
  check (ember_ip_packet_parse (&c, copy, ember_ip_packet_len (pkt), 0,
                                ember_ip_packet_len (pkt)) == EMBER_PACKET_OK, "reparse");
  ember_ip_packet_update_checksums (&c);
  check (memcmp (copy, ember_ip_packet_data (pkt), ember_ip_packet_len (pkt)) == 0,
         "incremental == full recompute");
  g_free (copy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Exactly `size` bytes on the heap so ASan sees any overread. */
  guint8 *buf = g_memdup2 (data, MAX (size, 1));
  guint8 out[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt, err;
  EmberAddr a;
  guint16 port;
  guint8 type, code;
  gsize plen;

  if (ember_ip_packet_parse (&pkt, buf, size, 0, size) != EMBER_PACKET_OK)
    {
      g_free (buf);
      return 0;
    }
  check (ember_ip_packet_len (&pkt) <= size, "length within buffer");
  ember_ip_packet_get_source (&pkt, &a);
  ember_ip_packet_get_destination (&pkt, &a);
  (void) ember_ip_packet_get_ttl (&pkt);
  (void) ember_ip_packet_get_source_port (&pkt, &port);
  (void) ember_ip_packet_get_destination_port (&pkt, &port);
  (void) ember_ip_packet_payload (&pkt, &plen);
  (void) ember_ip_packet_icmp_type (&pkt, &type, &code);
  (void) ember_ip_packet_is_icmp_error (&pkt);
  (void) ember_ip_packet_verify_checksums (&pkt);

  ember_ip_packet_update_checksums (&pkt);
  check_fresh (&pkt);

  a.addr[0] ^= 0x80;
  check (ember_ip_packet_set_source (&pkt, &a) == EMBER_PACKET_OK, "set source");
  check_fresh (&pkt);
  ember_ip_packet_set_ttl (&pkt, 7);
  check_fresh (&pkt);
  if (ember_ip_packet_set_destination_port (&pkt, 0xfffe) == EMBER_PACKET_OK)
    check_fresh (&pkt);
  if (ember_ip_packet_is_icmp_echo (&pkt))
    {
      ember_ip_packet_set_icmp_identifier (&pkt, 0x0102);
      ember_ip_packet_set_icmp_sequence (&pkt, 0xfffe);
      check (ember_ip_packet_get_icmp_sequence (&pkt) == 0xfffe, "sequence");
      check_fresh (&pkt);
    }

  if (ember_ip_packet_build_icmp_unreachable (&err, out, sizeof out, 0, &pkt, &a,
                                              EMBER_ICMP_UNREACH_PORT) == EMBER_PACKET_OK)
    {
      check (ember_ip_packet_verify_checksums (&err) == EMBER_PACKET_OK, "error verifies");
      check (ember_ip_packet_len (&err) <= (ember_ip_packet_version (&err) == 4 ? 576u : 1280u),
             "error size limit");
    }
  g_free (buf);
  return 0;
}
