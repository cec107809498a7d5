/* Tests for core/packet parsing, accessors, setters and checksums. */
#include "packet/checksum.h"
#include "packet/packet.h"

#include "captured.h"
#include "packet-test-util.h"

/* Exercises every read-only accessor; the point is that none reads out of
 * bounds (the sanitizer build checks) and all stay consistent. */
static void
touch_everything (const EmberIpPacket *pkt)
{
  EmberAddr a;
  guint16 port;
  guint8 type, code;
  gsize plen;
  const guint8 *payload;

  ember_ip_packet_get_source (pkt, &a);
  g_assert_cmpuint (a.family, ==, ember_ip_packet_version (pkt));
  ember_ip_packet_get_destination (pkt, &a);
  (void) ember_ip_packet_get_ttl (pkt);
  (void) ember_ip_packet_get_source_port (pkt, &port);
  (void) ember_ip_packet_get_destination_port (pkt, &port);
  payload = ember_ip_packet_payload (pkt, &plen);
  if (payload != NULL)
    {
      g_assert_true (payload >= ember_ip_packet_data (pkt));
      g_assert_true (payload + plen == ember_ip_packet_data (pkt) + ember_ip_packet_len (pkt));
    }
  if (ember_ip_packet_icmp_type (pkt, &type, &code) == EMBER_PACKET_OK &&
      ember_ip_packet_is_icmp_echo (pkt))
    {
      (void) ember_ip_packet_get_icmp_identifier (pkt);
      (void) ember_ip_packet_get_icmp_sequence (pkt);
    }
  (void) ember_ip_packet_is_icmp_error (pkt);
  (void) ember_ip_packet_verify_checksums (pkt);
}

static void
test_captured_parse (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (captured_packets); i++)
    {
      const CapturedPacket *c = &captured_packets[i];
      guint8 buf[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket pkt;

      g_test_message ("%s", c->name);
      assert_ok (load (&pkt, buf, sizeof buf, EMBER_PACKET_HEADROOM, c->bytes, c->len));
      g_assert_cmpuint (ember_ip_packet_len (&pkt), ==, c->len);
      touch_everything (&pkt);
      if (c->partial)
        {
          /* Linux loopback skipped the sum (CHECKSUM_PARTIAL): the field
           * holds the pseudo-header sum. Our pseudo-header must match the
           * kernel's, then a full recompute must verify. */
          const guint8 *d = ember_ip_packet_data (&pkt);
          gsize l4_len = c->len - pkt.l4_off;
          guint32 sum;
          int co = pkt.proto == EMBER_IPPROTO_UDP ? EMBER_UDP_OFF_CHECKSUM : EMBER_TCP_OFF_CHECKSUM;

          g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_ERR_CHECKSUM);
          sum = pkt.version == 4 ? ember_checksum_add (0, d + EMBER_IPV4_OFF_SRC, 8)
                                 : ember_checksum_add (0, d + EMBER_IPV6_OFF_SRC, 32);
          sum += pkt.proto + (guint32) l4_len;
          g_assert_cmphex (ember_checksum_fold (sum), ==,
                           (d[pkt.l4_off + co] << 8) | d[pkt.l4_off + co + 1]);
          ember_ip_packet_update_checksums (&pkt);
        }
      else
        {
          /* The kernel computed these checksums: a recompute must give
           * exactly its bytes. */
          assert_checksums_fresh (&pkt);
        }
      assert_ok (ember_ip_packet_verify_checksums (&pkt));
    }
}

static void
test_captured_fields (void)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  EmberAddr a;
  guint16 port;
  guint8 type, code;
  gsize plen;
  const guint8 *payload;

  assert_ok (load (&pkt, buf, sizeof buf, 0, cap_icmp4_echo_rr_option, sizeof cap_icmp4_echo_rr_option));
  g_assert_cmpuint (pkt.l4_off, ==, 60);  /* IHL 15: record route */
  g_assert_true (ember_ip_packet_is_icmp_echo (&pkt));
  g_assert_cmphex (ember_ip_packet_get_icmp_identifier (&pkt), ==, 0x1d6a);
  g_assert_cmpuint (ember_ip_packet_get_icmp_sequence (&pkt), ==, 1);

  assert_ok (load (&pkt, buf, sizeof buf, 0, cap_udp4, sizeof cap_udp4));
  ember_ip_packet_get_destination (&pkt, &a);
  g_assert_cmpuint (a.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (a.port, ==, 5353);
  g_assert_cmpuint (a.addr[0], ==, 127);
  payload = ember_ip_packet_payload (&pkt, &plen);
  assert_mem (payload, plen, "ember-udp4", 10);

  assert_ok (load (&pkt, buf, sizeof buf, 0, cap_udp6_hbh_dstopts, sizeof cap_udp6_hbh_dstopts));
  g_assert_cmpuint (pkt.l4_off, ==, 56);  /* 40 + HBH 8 + DSTOPTS 8 */
  assert_ok (ember_ip_packet_get_destination_port (&pkt, &port));
  g_assert_cmpuint (port, ==, 5354);
  payload = ember_ip_packet_payload (&pkt, &plen);
  assert_mem (payload, plen, "ember-exthdr", 12);

  assert_ok (load (&pkt, buf, sizeof buf, 0, cap_udp6_hbh_dst_frag_first, sizeof cap_udp6_hbh_dst_frag_first));
  g_assert_cmpuint (pkt.l4_off, ==, 64);
  g_assert_cmpint (ember_ip_packet_fragment (&pkt), ==, EMBER_IP_FRAG_FIRST);
  assert_ok (ember_ip_packet_get_destination_port (&pkt, &port));
  g_assert_cmpuint (port, ==, 5356);

  assert_ok (load (&pkt, buf, sizeof buf, 0, cap_udp6_hbh_dst_frag_last, sizeof cap_udp6_hbh_dst_frag_last));
  g_assert_cmpint (ember_ip_packet_fragment (&pkt), ==, EMBER_IP_FRAG_LATER);
  g_assert_cmpuint (ember_ip_packet_protocol (&pkt), ==, EMBER_IPPROTO_UDP);
  g_assert_cmpint (ember_ip_packet_get_destination_port (&pkt, &port), ==, EMBER_PACKET_ERR_FRAGMENT);
  g_assert_null (ember_ip_packet_payload (&pkt, &plen));

  assert_ok (load (&pkt, buf, sizeof buf, 0, cap_tcp6_syn, sizeof cap_tcp6_syn));
  assert_ok (ember_ip_packet_get_destination_port (&pkt, &port));
  g_assert_cmpuint (port, ==, 9);
  payload = ember_ip_packet_payload (&pkt, &plen);
  g_assert_cmpuint (plen, ==, 0);

  assert_ok (load (&pkt, buf, sizeof buf, 0, cap_icmp6_unreach_1280, sizeof cap_icmp6_unreach_1280));
  g_assert_cmpuint (ember_ip_packet_len (&pkt), ==, 1280);
  assert_ok (ember_ip_packet_icmp_type (&pkt, &type, &code));
  g_assert_cmpuint (type, ==, EMBER_ICMPV6_DEST_UNREACH);
  g_assert_cmpuint (code, ==, EMBER_ICMPV6_UNREACH_PORT);
  g_assert_true (ember_ip_packet_is_icmp_error (&pkt));
  g_assert_false (ember_ip_packet_is_icmp_echo (&pkt));
}

/* Every proper prefix of every valid packet is refused; parsing reads only
 * the prefix (a heap copy of exactly that size lets ASan see overreads). */
static void
test_truncated_prefixes (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (captured_packets); i++)
    {
      const CapturedPacket *c = &captured_packets[i];

      for (gsize n = 0; n < c->len; n++)
        {
          g_autofree guint8 *copy = g_memdup2 (c->bytes, MAX (n, 1));
          EmberIpPacket pkt;
          EmberPacketResult r = ember_ip_packet_parse (&pkt, copy, n, 0, n);

          if (r == EMBER_PACKET_OK)
            g_error ("%s: prefix of %" G_GSIZE_FORMAT " bytes accepted", c->name, n);
        }
      /* Trailing bytes past the IP length are ignored, not parsed. */
      {
        g_autofree guint8 *longer = g_malloc0 (c->len + 7);
        EmberIpPacket pkt;

        memcpy (longer, c->bytes, c->len);
        assert_ok (ember_ip_packet_parse (&pkt, longer, c->len + 7, 0, c->len + 7));
        g_assert_cmpuint (ember_ip_packet_len (&pkt), ==, c->len);
      }
    }
}

/* Random bytes, biased to look like IP so the walk gets deep. */
static void
test_random_garbage (void)
{
  GRand *rand = g_rand_new_with_seed (0x656d6265);

  for (guint iter = 0; iter < 200000; iter++)
    {
      gsize n = (gsize) g_rand_int_range (rand, 0, 128);
      g_autofree guint8 *bytes = g_malloc (MAX (n, 1));
      EmberIpPacket pkt;

      for (gsize i = 0; i < n; i++)
        bytes[i] = (guint8) g_rand_int (rand);
      if (n > 0 && (iter & 1))
        bytes[0] = (iter & 2) ? 0x45 : 0x60;
      if (n >= 4 && (iter & 4))
        {
          /* Make the length field agree with the buffer. */
          if (bytes[0] >> 4 == 4)
            bytes[2] = 0, bytes[3] = (guint8) n;
          else if (n >= 6)
            bytes[4] = 0, bytes[5] = (guint8) (n >= 40 ? n - 40 : 0);
        }
      if (ember_ip_packet_parse (&pkt, bytes, n, 0, n) == EMBER_PACKET_OK)
        touch_everything (&pkt);
    }
  g_rand_free (rand);
}

static void
test_malformed (void)
{
  /* A valid UDP/IPv4 packet to break one field at a time. */
  guint8 base[EMBER_PACKET_BUF_SIZE], buf[EMBER_PACKET_BUF_SIZE];
  EmberAddr s = addr4 (10, 0, 0, 1, 1000), d = addr4 (10, 0, 0, 2, 2000);
  EmberAddr s6 = addr6 (0xfd00, 1, 1000), d6 = addr6 (0xfd00, 2, 2000);
  EmberIpPacket pkt;
  gsize len;

  assert_ok (ember_ip_packet_build_udp (&pkt, base, sizeof base, 0, &s, &d, (const guint8 *) "abcd", 4));
  len = ember_ip_packet_len (&pkt);
  memcpy (buf, base, len);
  buf[0] = 0x55;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len), ==, EMBER_PACKET_ERR_VERSION);
  buf[0] = 0x44;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len), ==, EMBER_PACKET_ERR_HEADER_LENGTH);
  buf[0] = 0x4f;  /* 60-byte header in a 32-byte packet */
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len), ==, EMBER_PACKET_ERR_TRUNCATED);
  memcpy (buf, base, len);
  buf[3] = (guint8) (len + 1);
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len), ==, EMBER_PACKET_ERR_TOTAL_LENGTH);
  buf[3] = 19;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len), ==, EMBER_PACKET_ERR_TOTAL_LENGTH);
  memcpy (buf, base, len);
  buf[20 + 5] = 13;  /* UDP length one more than the payload */
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len), ==, EMBER_PACKET_ERR_L4_LENGTH);
  buf[20 + 5] = 7;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len), ==, EMBER_PACKET_ERR_L4_LENGTH);

  /* IPv6: a hop-by-hop header that is not first; an extension header
   * running past the payload; an AH header that is too short. */
  assert_ok (ember_ip_packet_build_udp (&pkt, base, sizeof base, 0, &s6, &d6, NULL, 0));
  len = ember_ip_packet_len (&pkt);
  memcpy (buf, base, 40);
  buf[5] = 24;
  buf[6] = EMBER_IPPROTO_DSTOPTS;
  memset (buf + 40, 0, 24);
  buf[40] = EMBER_IPPROTO_HOPOPTS;
  buf[48] = EMBER_IPPROTO_UDP;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 64), ==, EMBER_PACKET_ERR_EXT_HEADER);
  buf[40] = EMBER_IPPROTO_NONE;
  assert_ok (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 64));
  g_assert_cmpuint (ember_ip_packet_protocol (&pkt), ==, EMBER_IPPROTO_NONE);
  buf[41] = 3;  /* 32 bytes of options in a 24-byte payload */
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 64), ==, EMBER_PACKET_ERR_TRUNCATED);
  buf[6] = EMBER_IPPROTO_AH;
  buf[41] = 0;  /* (0 + 2) * 4 = 8 < 12 */
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 64), ==, EMBER_PACKET_ERR_EXT_HEADER);
  buf[41] = 1;  /* 12-byte AH, then UDP at 52 with length 12 */
  buf[40] = EMBER_IPPROTO_UDP;
  memset (buf + 52, 0, 12);
  buf[57] = 12;
  assert_ok (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 64));
  g_assert_cmpuint (pkt.l4_off, ==, 52);

  /* TCP data offset below 5 and past the packet. */
  memcpy (buf, base, 40);
  buf[5] = 20;
  buf[6] = EMBER_IPPROTO_TCP;
  memset (buf + 40, 0, 20);
  buf[52] = 0x40;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 60), ==, EMBER_PACKET_ERR_L4_LENGTH);
  buf[52] = 0x60;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 60), ==, EMBER_PACKET_ERR_L4_LENGTH);
  buf[52] = 0x50;
  assert_ok (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 60));

  for (int r = EMBER_PACKET_OK; r <= EMBER_PACKET_ERR_UNTRANSLATABLE; r++)
    g_assert_cmpstr (ember_packet_result_to_string ((EmberPacketResult) r), !=, "unknown packet error");
}

/* After every setter the checksums equal a full recompute. */
static void
test_setters_keep_checksums (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (captured_packets); i++)
    {
      const CapturedPacket *c = &captured_packets[i];
      guint8 buf[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket pkt;
      EmberAddr a;

      g_test_message ("%s", c->name);
      load_fresh (&pkt, buf, sizeof buf, c->bytes, c->len, c->partial);
      for (guint round = 0; round < 50; round++)
        {
          ember_ip_packet_get_source (&pkt, &a);
          a.addr[round % (a.family == 4 ? 4 : 16)] ^= (guint8) (0x5a + round);
          assert_ok (ember_ip_packet_set_source (&pkt, &a));
          assert_checksums_fresh (&pkt);
          ember_ip_packet_get_destination (&pkt, &a);
          a.addr[(round * 7) % (a.family == 4 ? 4 : 16)] += (guint8) (round * 31 + 1);
          assert_ok (ember_ip_packet_set_destination (&pkt, &a));
          assert_checksums_fresh (&pkt);
          ember_ip_packet_set_ttl (&pkt, (guint8) (round * 5));
          assert_checksums_fresh (&pkt);
          if (ember_ip_packet_set_source_port (&pkt, (guint16) (round * 1237)) == EMBER_PACKET_OK)
            {
              assert_ok (ember_ip_packet_set_destination_port (&pkt, (guint16) ~(round * 4099)));
              assert_checksums_fresh (&pkt);
            }
          if (ember_ip_packet_is_icmp_echo (&pkt))
            {
              ember_ip_packet_set_icmp_identifier (&pkt, (guint16) (round * 977));
              ember_ip_packet_set_icmp_sequence (&pkt, (guint16) (0xffff - round));
              assert_checksums_fresh (&pkt);
              g_assert_cmpuint (ember_ip_packet_get_icmp_identifier (&pkt), ==, (guint16) (round * 977));
              g_assert_cmpuint (ember_ip_packet_get_icmp_sequence (&pkt), ==, 0xffff - round);
            }
        }
      /* Wrong family is refused and changes nothing. */
      a = pkt.version == 4 ? addr6 (1, 1, 0) : addr4 (1, 1, 1, 1, 0);
      g_assert_cmpint (ember_ip_packet_set_source (&pkt, &a), ==, EMBER_PACKET_ERR_ADDRESS);
    }
}

static void
test_udp_checksum_zero_rules (void)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberAddr s = addr4 (192, 0, 2, 1, 53), d = addr4 (192, 0, 2, 2, 5353);
  EmberIpPacket pkt;
  guint8 *l4;
  guint8 payload[2];
  guint w;

  /* IPv4: zero means "no checksum" and stays zero through setters. */
  assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s, &d, (const guint8 *) "xyz", 3));
  l4 = ember_ip_packet_data (&pkt) + 20;
  l4[6] = l4[7] = 0;
  assert_ok (ember_ip_packet_verify_checksums (&pkt));
  d.addr[3] = 77;
  assert_ok (ember_ip_packet_set_destination (&pkt, &d));
  assert_ok (ember_ip_packet_set_source_port (&pkt, 4242));
  g_assert_cmpuint (l4[6] | l4[7], ==, 0);
  assert_checksums_fresh (&pkt);

  /* A payload whose checksum computes to zero is sent as 0xffff, by the
   * builder and by the incremental update alike. */
  for (w = 0; w <= 0xffff; w++)
    {
      payload[0] = (guint8) (w >> 8);
      payload[1] = (guint8) w;
      assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s, &d, payload, 2));
      l4 = ember_ip_packet_data (&pkt) + 20;
      if (l4[6] == 0xff && l4[7] == 0xff)
        break;
    }
  g_assert_cmpuint (w, <=, 0xffff);
  assert_ok (ember_ip_packet_verify_checksums (&pkt));
  assert_ok (ember_ip_packet_set_source_port (&pkt, 54));
  assert_ok (ember_ip_packet_set_source_port (&pkt, 53));
  g_assert_cmphex ((l4[6] << 8) | l4[7], ==, 0xffff);
  assert_checksums_fresh (&pkt);

  /* IPv6 forbids a zero UDP checksum (RFC 8200 §8.1). */
  {
    EmberAddr s6 = addr6 (0x2001, 1, 1), d6 = addr6 (0x2001, 2, 2);

    assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s6, &d6, NULL, 0));
    l4 = ember_ip_packet_data (&pkt) + 40;
    l4[6] = l4[7] = 0;
    g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_ERR_CHECKSUM);
  }
}

/* An all-zero ICMPv4 message sums to +0: its only valid checksum is
 * 0xffff, which RFC 1624 eqn. 3 alone would turn into 0x0000 (found by
 * fuzz-packet-nat). */
static void
test_icmp4_all_zero_checksum (void)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  EmberAddr s = addr4 (10, 0, 0, 1, 0), d = addr4 (10, 0, 0, 2, 0);
  const guint8 *icmp;

  assert_ok (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &s, &d, TRUE, 0, 0, NULL, 0));
  icmp = ember_ip_packet_data (&pkt) + 20;
  g_assert_cmphex ((icmp[2] << 8) | icmp[3], ==, 0xffff);
  ember_ip_packet_set_icmp_sequence (&pkt, 1);
  assert_checksums_fresh (&pkt);
  ember_ip_packet_set_icmp_sequence (&pkt, 0);
  g_assert_cmphex ((icmp[2] << 8) | icmp[3], ==, 0xffff);
  assert_checksums_fresh (&pkt);
}

static void
test_bad_checksums_detected (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (captured_packets); i++)
    {
      const CapturedPacket *c = &captured_packets[i];
      guint8 buf[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket pkt;

      load_fresh (&pkt, buf, sizeof buf, c->bytes, c->len, c->partial);
      if (ember_ip_packet_fragment (&pkt) != EMBER_IP_FRAG_NONE)
        continue;
      /* Flip a payload bit: the L4 checksum covers it. */
      ember_ip_packet_data (&pkt)[ember_ip_packet_len (&pkt) - 1] ^= 0x10;
      g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_ERR_CHECKSUM);
    }
}

static void
test_icmp_echo_assertion (void)
{
#ifndef G_DISABLE_ASSERT
  if (g_test_subprocess ())
    {
      guint8 buf[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket pkt;

      assert_ok (load (&pkt, buf, sizeof buf, 0, cap_icmp4_port_unreach, sizeof cap_icmp4_port_unreach));
      ember_ip_packet_set_icmp_identifier (&pkt, 1);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*is_icmp_echo*");
#else
  g_test_skip ("assertions are compiled out in this build");
#endif
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/packet/parse/captured-packets-verify", test_captured_parse);
  g_test_add_func ("/packet/parse/captured-fields", test_captured_fields);
  g_test_add_func ("/packet/parse/rejects-every-truncated-prefix", test_truncated_prefixes);
  g_test_add_func ("/packet/parse/survives-random-garbage", test_random_garbage);
  g_test_add_func ("/packet/parse/rejects-malformed-headers", test_malformed);
  g_test_add_func ("/packet/set/checksums-equal-full-recompute", test_setters_keep_checksums);
  g_test_add_func ("/packet/set/udp-zero-checksum-rules", test_udp_checksum_zero_rules);
  g_test_add_func ("/packet/set/icmp4-all-zero-checksum", test_icmp4_all_zero_checksum);
  g_test_add_func ("/packet/verify/detects-corruption", test_bad_checksums_detected);
  g_test_add_func ("/packet/icmp/echo-setter-asserts-on-non-echo", test_icmp_echo_assertion);
  packet_test_add_build ();
  packet_test_add_nat ();
  return g_test_run ();
}
