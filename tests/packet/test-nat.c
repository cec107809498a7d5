/* Tests for NAT46/NAT64 translation (RFC 7915, RFC 6052). */
#include <gio/gio.h>

#include "packet/checksum.h"
#include "packet/packet.h"

#include "captured.h"
#include "packet-test-util.h"

static const guint8 v4_src[4] = { 192, 0, 2, 1 };
static const guint8 v4_dst[4] = { 198, 51, 100, 2 };

static void
test_prefix (void)
{
  EmberNat64Prefix wkp, p;
  g_autoptr (GError) error = NULL;
  guint8 v6[16], v4[4];
  static const guint8 expect[16] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 33 };
  static const guint8 v4in[4] = { 192, 0, 2, 33 };

  ember_nat64_prefix_well_known (&wkp);
  g_assert_true (ember_nat64_prefix_parse ("64:ff9b::/96", &p, &error));
  g_assert_no_error (error);
  assert_mem (p.bytes, 12, wkp.bytes, 12);
  /* RFC 6052 §2.4 example: 192.0.2.33 in 64:ff9b::/96. */
  ember_nat64_embed (&wkp, v4in, v6);
  assert_mem (v6, 16, expect, 16);
  g_assert_true (ember_nat64_extract (&wkp, v6, v4));
  assert_mem (v4, 4, v4in, 4);
  g_assert_true (ember_nat64_prefix_parse ("2001:db8:122:344::", &p, NULL));
  g_assert_false (ember_nat64_extract (&p, v6, v4));

  g_assert_false (ember_nat64_prefix_parse ("64:ff9b::/64", &p, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (ember_nat64_prefix_parse ("not-an-address", &p, &error));
  g_clear_error (&error);
  g_assert_false (ember_nat64_prefix_parse ("2001:db8:0:0:ff00::/96", &p, &error));  /* u bits */
  g_clear_error (&error);
  g_assert_false (ember_nat64_prefix_parse ("64:ff9b::1:2/96", &p, &error));
}

/* Linux sets flow labels; RFC 7915 §4.1 translates them to zero, so zero
 * them (outer, and in a quoted packet) before a round trip. */
static void
clear_flow_labels (EmberIpPacket *pkt)
{
  guint8 *d = ember_ip_packet_data (pkt);

  d[1] &= 0xf0;
  d[2] = d[3] = 0;
  if (ember_ip_packet_is_icmp_error (pkt) && ember_ip_packet_len (pkt) >= (gsize) pkt->l4_off + 8 + 40)
    {
      guint8 *q = d + pkt->l4_off + 8;

      q[1] &= 0xf0;
      q[2] = q[3] = 0;
    }
  ember_ip_packet_update_checksums (pkt);
}

/* RFC 7915 §5.1 emits DF clear with a fresh identification for packets up
 * to 1260 bytes: make an IPv4 header look like that, with ID `ident`. */
static void
v4_as_translated (guint8 *ip, guint16 ident)
{
  gsize ihl = (gsize) (ip[0] & 0x0f) * 4;

  ip[4] = (guint8) (ident >> 8);
  ip[5] = (guint8) ident;
  ip[6] = ip[7] = 0;
  ip[10] = ip[11] = 0;
  ip[10] = (guint8) (ember_checksum_finish (ember_checksum_add (0, ip, ihl)) >> 8);
  ip[11] = (guint8) ember_checksum_finish (ember_checksum_add (0, ip, ihl));
}

static void
test_roundtrip_6to4to6 (void)
{
  static const char *names[] = {
    "icmp6-echo-request", "icmp6-echo-reply", "udp6", "tcp6-syn", "tcp6-rst",
    /* not icmp6-unreach-quoting-exthdrs: RFC 7915 drops the quoted
     * extension headers, so that one cannot come back byte for byte. */
    "icmp6-port-unreach", "icmp6-unreach-1280",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (captured_packets); i++)
    {
      const CapturedPacket *c = &captured_packets[i];
      guint8 buf[EMBER_PACKET_BUF_SIZE], orig[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket pkt;
      guint8 src6[16], dst6[16];
      gsize len, off;

      gboolean wanted = FALSE;

      for (gsize k = 0; k < G_N_ELEMENTS (names); k++)
        wanted |= strcmp (names[k], c->name) == 0;
      if (!wanted)
        continue;
      g_test_message ("%s", c->name);
      load_fresh (&pkt, buf, sizeof buf, c->bytes, c->len, c->partial);
      clear_flow_labels (&pkt);
      len = ember_ip_packet_len (&pkt);
      off = pkt.off;
      memcpy (orig, ember_ip_packet_data (&pkt), len);
      memcpy (src6, orig + 8, 16);
      memcpy (dst6, orig + 24, 16);

      assert_ok (ember_ip_packet_translate_6to4 (&pkt, v4_src, v4_dst, 0x4242));
      g_assert_cmpuint (ember_ip_packet_version (&pkt), ==, 4);
      g_assert_cmpuint (ember_ip_packet_get_ttl (&pkt), ==, orig[7]);
      assert_checksums_fresh (&pkt);
      if (!ember_ip_packet_is_icmp_error (&pkt))
        {
          /* Only the header moved: the payload stayed in place. */
          g_assert_cmpuint (pkt.off, ==, off + 20);
          g_assert_cmpuint (ember_ip_packet_len (&pkt), ==, len - 20);
        }

      assert_ok (ember_ip_packet_translate_4to6 (&pkt, src6, dst6));
      g_assert_cmpuint (pkt.off, ==, off);
      assert_mem (ember_ip_packet_data (&pkt), ember_ip_packet_len (&pkt), orig, len);
    }
}

static void
roundtrip_4 (const guint8 *bytes, gsize len, gboolean partial, gboolean quoted)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE], orig[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  EmberNat64Prefix wkp;
  guint16 ident;
  gsize off;

  ember_nat64_prefix_well_known (&wkp);
  load_fresh (&pkt, buf, sizeof buf, bytes, len, partial);
  ident = (guint16) ((ember_ip_packet_data (&pkt)[4] << 8) | ember_ip_packet_data (&pkt)[5]);
  v4_as_translated (ember_ip_packet_data (&pkt), ident);
  if (quoted)
    {
      v4_as_translated (ember_ip_packet_data (&pkt) + 28, ident);
      ember_ip_packet_update_checksums (&pkt);
    }
  assert_ok (ember_ip_packet_verify_checksums (&pkt));
  off = pkt.off;
  memcpy (orig, ember_ip_packet_data (&pkt), len);

  assert_ok (ember_ip_packet_nat46 (&pkt, &wkp));
  g_assert_cmpuint (ember_ip_packet_version (&pkt), ==, 6);
  assert_mem (ember_ip_packet_data (&pkt) + 8, 12, wkp.bytes, 12);
  assert_mem (ember_ip_packet_data (&pkt) + 20, 4, orig + 12, 4);
  g_assert_cmpuint (ember_ip_packet_data (&pkt)[7], ==, orig[8]);  /* TTL */
  /* TOS -> traffic class. */
  g_assert_cmpuint (((ember_ip_packet_data (&pkt)[0] & 0xf) << 4) | (ember_ip_packet_data (&pkt)[1] >> 4),
                    ==, orig[1]);
  assert_checksums_fresh (&pkt);

  assert_ok (ember_ip_packet_nat64 (&pkt, &wkp, ident));
  g_assert_cmpuint (pkt.off, ==, off);
  assert_mem (ember_ip_packet_data (&pkt), ember_ip_packet_len (&pkt), orig, len);
}

static void
test_roundtrip_4to6to4 (void)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE], ebuf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt, err;
  EmberAddr s = addr4 (100, 64, 0, 7, 40000), d = addr4 (8, 8, 8, 8, 53);

  roundtrip_4 (cap_icmp4_echo_request, sizeof cap_icmp4_echo_request, FALSE, FALSE);
  roundtrip_4 (cap_udp4, sizeof cap_udp4, TRUE, FALSE);
  roundtrip_4 (cap_tcp4_syn, sizeof cap_tcp4_syn, TRUE, FALSE);
  roundtrip_4 (cap_tcp4_rst, sizeof cap_tcp4_rst, FALSE, FALSE);
  roundtrip_4 (cap_icmp4_port_unreach, sizeof cap_icmp4_port_unreach, FALSE, TRUE);

  /* Built packets: a TOS byte and an error from the destination host. */
  assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s, &d, (const guint8 *) "query", 5));
  ember_ip_packet_data (&pkt)[1] = 0xb8;  /* EF */
  ember_ip_packet_update_checksums (&pkt);
  roundtrip_4 (ember_ip_packet_data (&pkt), ember_ip_packet_len (&pkt), FALSE, FALSE);
  v4_as_translated (ember_ip_packet_data (&pkt), 77);
  assert_ok (ember_ip_packet_build_icmp_unreachable (&err, ebuf, sizeof ebuf, 0, &pkt, &d,
                                                     EMBER_ICMP_UNREACH_PORT));
  roundtrip_4 (ember_ip_packet_data (&err), ember_ip_packet_len (&err), FALSE, TRUE);
  assert_ok (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &s, &d, TRUE, 9, 10,
                                              (const guint8 *) "abc", 3));
  roundtrip_4 (ember_ip_packet_data (&pkt), ember_ip_packet_len (&pkt), FALSE, FALSE);
  /* All-zero echo reply: checksum 0xffff must survive (RFC 1624 §3). */
  assert_ok (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &s, &d, TRUE, 0, 0, NULL, 0));
  roundtrip_4 (ember_ip_packet_data (&pkt), ember_ip_packet_len (&pkt), FALSE, FALSE);
}

/* Every captured packet either translates into one whose checksums verify
 * or is refused with the reason RFC 7915 gives. */
static void
test_translate_captured (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (captured_packets); i++)
    {
      const CapturedPacket *c = &captured_packets[i];
      guint8 buf[EMBER_PACKET_BUF_SIZE], before[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket pkt;
      EmberPacketResult r;
      guint8 src6[16] = { 0xfd, 0 }, dst6[16] = { 0xfd, 1 };

      g_test_message ("%s", c->name);
      load_fresh (&pkt, buf, sizeof buf, c->bytes, c->len, c->partial);
      memcpy (before, buf, sizeof buf);
      if (ember_ip_packet_version (&pkt) == 4)
        r = ember_ip_packet_translate_4to6 (&pkt, src6, dst6);
      else
        r = ember_ip_packet_translate_6to4 (&pkt, v4_src, v4_dst, 1);
      if (strstr (c->name, "fragment") != NULL || strstr (c->name, "frag-") != NULL)
        {
          g_assert_cmpint (r, ==, EMBER_PACKET_ERR_FRAGMENT);
          assert_mem (buf, sizeof buf, before, sizeof before);
          continue;
        }
      assert_ok (r);
      assert_checksums_fresh (&pkt);
      if (ember_ip_packet_version (&pkt) == 6)
        g_assert_cmpuint (ember_ip_packet_len (&pkt), <=, 1280);
    }
}

static void
test_rfc7915_details (void)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE], ebuf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt, err;
  EmberAddr s6 = addr6 (0xfd00, 1, 1000), d6 = addr6 (0xfd00, 2, 2000);
  EmberAddr s4 = addr4 (10, 0, 0, 1, 1000), d4 = addr4 (10, 0, 0, 2, 2000);
  g_autofree guint8 *big = g_malloc0 (1200);
  const guint8 *d, *icmp;
  EmberNat64Prefix wkp;
  guint8 src6[16];

  /* §5.1: up to 1260 bytes DF is clear and the ID is ours; above, DF set. */
  assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, EMBER_PACKET_HEADROOM, &s6, &d6, big, 100));
  assert_ok (ember_ip_packet_translate_6to4 (&pkt, v4_src, v4_dst, 0xbeef));
  d = ember_ip_packet_data (&pkt);
  g_assert_cmphex ((d[4] << 8) | d[5], ==, 0xbeef);
  g_assert_cmphex ((d[6] << 8) | d[7], ==, 0);
  /* A 1288-byte IPv6 packet (bigger than the builder makes) becomes a
   * 1268-byte IPv4 one. */
  assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s6, &d6, big, 1200));
  memset (buf + 1248, 0, 40);
  buf[4] = (guint8) ((1248 - 40 + 40) >> 8);
  buf[5] = (guint8) (1248 - 40 + 40);
  buf[44] = buf[4];
  buf[45] = buf[5];
  assert_ok (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 1288));
  ember_ip_packet_update_checksums (&pkt);
  assert_ok (ember_ip_packet_translate_6to4 (&pkt, v4_src, v4_dst, 0xbeef));
  g_assert_cmpuint (ember_ip_packet_len (&pkt), ==, 1268);
  d = ember_ip_packet_data (&pkt);
  g_assert_cmphex ((d[4] << 8) | d[5], ==, 0);
  g_assert_cmphex ((d[6] << 8) | d[7], ==, 0x4000);
  assert_checksums_fresh (&pkt);

  /* ICMPv4 fragmentation needed (MTU 1400) -> packet too big (1420);
   * and back: 1420 -> 1400 (§4.2, §5.2). */
  assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s4, &d4, big, 40));
  assert_ok (ember_ip_packet_build_packet_too_big (&err, ebuf, sizeof ebuf, EMBER_PACKET_HEADROOM, &pkt, &d4, 1400));
  assert_ok (ember_ip_packet_translate_4to6 (&err, (guint8[16]) { 0xfd, [15] = 2 }, (guint8[16]) { 0xfd, [15] = 1 }));
  icmp = ember_ip_packet_data (&err) + 40;
  g_assert_cmpuint (icmp[0], ==, EMBER_ICMPV6_PACKET_TOO_BIG);
  g_assert_cmpuint ((icmp[6] << 8) | icmp[7], ==, 1420);
  g_assert_cmpuint (ember_ip_packet_data (&err)[48] >> 4, ==, 6);  /* the quote is IPv6 now */
  assert_checksums_fresh (&err);
  assert_ok (ember_ip_packet_translate_6to4 (&err, v4_src, v4_dst, 0));
  icmp = ember_ip_packet_data (&err) + 20;
  g_assert_cmpuint (icmp[0], ==, 3);
  g_assert_cmpuint (icmp[1], ==, 4);
  g_assert_cmpuint ((icmp[6] << 8) | icmp[7], ==, 1400);
  assert_checksums_fresh (&err);

  /* A large IPv4 error grows past 1280 in IPv6 and is cut to 1280
   * (RFC 4443 §2.4(c)). */
  assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s4, &d4, big, 1200));
  {
    guint8 *e = ebuf + EMBER_PACKET_HEADROOM;
    gsize qlen = ember_ip_packet_len (&pkt);

    assert_ok (ember_ip_packet_build_icmp_unreachable (&err, ebuf, sizeof ebuf, EMBER_PACKET_HEADROOM, &pkt, &d4,
                                                       EMBER_ICMP_UNREACH_HOST));
    /* Quote all of it by hand (the builder stops at 576). */
    memcpy (e + 28, ember_ip_packet_data (&pkt), qlen);
    e[2] = (guint8) ((28 + qlen) >> 8);
    e[3] = (guint8) (28 + qlen);
    assert_ok (ember_ip_packet_parse (&err, ebuf, sizeof ebuf, EMBER_PACKET_HEADROOM, 28 + qlen));
    ember_ip_packet_update_checksums (&err);
    assert_ok (ember_ip_packet_translate_4to6 (&err, (guint8[16]) { 0xfd, [15] = 2 }, (guint8[16]) { 0xfd, [15] = 1 }));
    g_assert_cmpuint (ember_ip_packet_len (&err), ==, 1280);
    assert_checksums_fresh (&err);
  }

  /* No headroom: the payload moves back and the result is the same. */
  {
    guint8 a[EMBER_PACKET_BUF_SIZE], b[EMBER_PACKET_BUF_SIZE];
    EmberIpPacket pa, pb;

    ember_nat64_prefix_well_known (&wkp);
    assert_ok (ember_ip_packet_build_udp (&pa, a, sizeof a, 0, &s4, &d4, big, 64));
    assert_ok (ember_ip_packet_build_udp (&pb, b, sizeof b, EMBER_PACKET_HEADROOM, &s4, &d4, big, 64));
    assert_ok (ember_ip_packet_nat46 (&pa, &wkp));
    assert_ok (ember_ip_packet_nat46 (&pb, &wkp));
    g_assert_cmpuint (pa.off, ==, 0);
    assert_mem (ember_ip_packet_data (&pa), ember_ip_packet_len (&pa),
                     ember_ip_packet_data (&pb), ember_ip_packet_len (&pb));
    /* Without room at all: refused, buffer untouched. */
    assert_ok (ember_ip_packet_build_udp (&pa, a, 28 + 64 + 10, 0, &s4, &d4, big, 64));
    memcpy (b, a, 28 + 64);
    g_assert_cmpint (ember_ip_packet_nat46 (&pa, &wkp), ==, EMBER_PACKET_ERR_NO_SPACE);
    assert_mem (a, 28 + 64, b, 28 + 64);
  }

  /* nat64 refuses addresses outside the prefix; wrong versions refused. */
  assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s6, &d6, NULL, 0));
  g_assert_cmpint (ember_ip_packet_nat64 (&pkt, &wkp, 0), ==, EMBER_PACKET_ERR_ADDRESS);
  g_assert_cmpint (ember_ip_packet_nat46 (&pkt, &wkp), ==, EMBER_PACKET_ERR_VERSION);
  memset (src6, 0, sizeof src6);
  assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s4, &d4, NULL, 0));
  g_assert_cmpint (ember_ip_packet_translate_6to4 (&pkt, v4_src, v4_dst, 0), ==, EMBER_PACKET_ERR_VERSION);

  /* ICMPv6 neighbour solicitation has no IPv4 peer (§5.2). */
  assert_ok (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &s6, &d6, FALSE, 1, 1, NULL, 0));
  ember_ip_packet_data (&pkt)[40] = 135;
  ember_ip_packet_update_checksums (&pkt);
  g_assert_cmpint (ember_ip_packet_translate_6to4 (&pkt, v4_src, v4_dst, 0), ==, EMBER_PACKET_ERR_UNTRANSLATABLE);

  /* A routing header with segments left cannot be translated (§5.1). */
  {
    guint8 *p = buf;

    assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &s6, &d6, NULL, 0));
    memmove (p + 64, p + 40, 8);
    memset (p + 40, 0, 24);
    p[6] = EMBER_IPPROTO_ROUTING;
    p[5] = 32;
    p[40] = EMBER_IPPROTO_UDP;
    p[41] = 2;
    p[43] = 1;  /* segments left */
    assert_ok (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 72));
    g_assert_cmpint (ember_ip_packet_translate_6to4 (&pkt, v4_src, v4_dst, 0), ==, EMBER_PACKET_ERR_UNTRANSLATABLE);
    p[43] = 0;
    assert_ok (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, 72));
    ember_ip_packet_update_checksums (&pkt);
    assert_ok (ember_ip_packet_translate_6to4 (&pkt, v4_src, v4_dst, 0));
    g_assert_cmpuint (ember_ip_packet_len (&pkt), ==, 28);
    assert_checksums_fresh (&pkt);
  }
}

void
packet_test_add_nat (void)
{
  g_test_add_func ("/packet/nat64/prefix-rfc6052", test_prefix);
  g_test_add_func ("/packet/nat64/roundtrip-6to4to6-byte-identical", test_roundtrip_6to4to6);
  g_test_add_func ("/packet/nat64/roundtrip-4to6to4-byte-identical", test_roundtrip_4to6to4);
  g_test_add_func ("/packet/nat64/translated-captured-packets-verify", test_translate_captured);
  g_test_add_func ("/packet/nat64/rfc7915-df-mtu-icmp-headroom", test_rfc7915_details);
}
