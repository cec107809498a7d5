/* Tests for the core/packet builders: UDP, ICMP echo, ICMP errors. */
#include "packet/packet.h"

#include "captured.h"
#include "packet-test-util.h"

static void
test_build_udp (void)
{
  static const guint8 payload[] = "hello, ember";
  EmberAddr pairs[2][2] = {
    { addr4 (100, 64, 0, 1, 51820), addr4 (203, 0, 113, 9, 53) },
    { addr6 (0xfd00, 1, 51820), addr6 (0x2001, 0x53, 53) },
  };

  for (guint i = 0; i < 2; i++)
    {
      guint8 buf[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket pkt;
      EmberAddr got;
      const guint8 *p;
      gsize plen;

      assert_ok (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, EMBER_PACKET_HEADROOM,
                                            &pairs[i][0], &pairs[i][1], payload, sizeof payload));
      g_assert_cmpuint (ember_ip_packet_version (&pkt), ==, i == 0 ? 4 : 6);
      g_assert_cmpuint (ember_ip_packet_protocol (&pkt), ==, EMBER_IPPROTO_UDP);
      g_assert_cmpuint (ember_ip_packet_len (&pkt), ==, (i == 0 ? 28 : 48) + sizeof payload);
      assert_checksums_fresh (&pkt);
      ember_ip_packet_get_source (&pkt, &got);
      assert_mem (&got, sizeof got, &pairs[i][0], sizeof got);
      ember_ip_packet_get_destination (&pkt, &got);
      assert_mem (&got, sizeof got, &pairs[i][1], sizeof got);
      p = ember_ip_packet_payload (&pkt, &plen);
      assert_mem (p, plen, payload, sizeof payload);

      /* Too big for the MTU, too small a buffer, mixed families. */
      {
        g_autofree guint8 *big = g_malloc0 (EMBER_PACKET_MTU);

        g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &pairs[i][0],
                                                    &pairs[i][1], big, EMBER_PACKET_MTU - 27),
                         ==, EMBER_PACKET_ERR_NO_SPACE);
      }
      g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, 40, 0, &pairs[i][0], &pairs[i][1],
                                                  payload, sizeof payload),
                       ==, EMBER_PACKET_ERR_NO_SPACE);
      g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, 0, &pairs[i][0],
                                                  &pairs[1 - i][1], payload, sizeof payload),
                       ==, EMBER_PACKET_ERR_ADDRESS);
    }
}

static void
test_build_icmp_echo (void)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  EmberAddr s = addr4 (10, 1, 1, 1, 0), d = addr4 (10, 1, 1, 2, 0);
  EmberAddr s6 = addr6 (0xfd00, 1, 0), d6 = addr6 (0xfd00, 2, 0);
  guint8 type, code;

  assert_ok (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &s, &d, FALSE, 0x1234, 7,
                                              (const guint8 *) "ping", 4));
  assert_checksums_fresh (&pkt);
  assert_ok (ember_ip_packet_icmp_type (&pkt, &type, &code));
  g_assert_cmpuint (type, ==, EMBER_ICMPV4_ECHO_REQUEST);
  g_assert_cmphex (ember_ip_packet_get_icmp_identifier (&pkt), ==, 0x1234);
  g_assert_cmpuint (ember_ip_packet_get_icmp_sequence (&pkt), ==, 7);

  assert_ok (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, 0, &s6, &d6, TRUE, 1, 2, NULL, 0));
  assert_checksums_fresh (&pkt);
  assert_ok (ember_ip_packet_icmp_type (&pkt, &type, &code));
  g_assert_cmpuint (type, ==, EMBER_ICMPV6_ECHO_REPLY);
}

/* Unreachable and too-big for every captured packet: the quote is a
 * prefix of the offending packet, as long as RFC 1812 / RFC 4443 allow. */
static void
test_build_icmp_errors (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (captured_packets); i++)
    {
      const CapturedPacket *c = &captured_packets[i];
      guint8 obuf[EMBER_PACKET_BUF_SIZE], buf[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket off_pkt, pkt;
      EmberAddr router, src, dst;
      EmberPacketResult r;
      gboolean v4;
      gsize limit, hl;

      g_test_message ("%s", c->name);
      assert_ok (load (&off_pkt, obuf, sizeof obuf, 0, c->bytes, c->len));
      v4 = ember_ip_packet_version (&off_pkt) == 4;
      router = v4 ? addr4 (192, 0, 2, 254, 0) : addr6 (0x2001, 0xfe, 0);
      limit = v4 ? 576 : 1280;
      hl = v4 ? 20 : 40;

      r = ember_ip_packet_build_icmp_unreachable (&pkt, buf, sizeof buf, 0, &off_pkt, &router,
                                                  EMBER_ICMP_UNREACH_PORT);
      if (ember_ip_packet_is_icmp_error (&off_pkt))
        {
          g_assert_cmpint (r, ==, EMBER_PACKET_ERR_PROTOCOL);
          continue;
        }
      if (ember_ip_packet_fragment (&off_pkt) == EMBER_IP_FRAG_LATER)
        {
          g_assert_cmpint (r, ==, EMBER_PACKET_ERR_FRAGMENT);
          continue;
        }
      assert_ok (r);
      assert_checksums_fresh (&pkt);
      g_assert_true (ember_ip_packet_is_icmp_error (&pkt));
      g_assert_cmpuint (ember_ip_packet_len (&pkt), ==, MIN (limit, c->len + hl + 8));
      assert_mem (ember_ip_packet_data (&pkt) + hl + 8, ember_ip_packet_len (&pkt) - hl - 8,
                       c->bytes, ember_ip_packet_len (&pkt) - hl - 8);
      ember_ip_packet_get_source (&off_pkt, &src);
      ember_ip_packet_get_destination (&pkt, &dst);
      assert_mem (dst.addr, 16, src.addr, 16);

      assert_ok (ember_ip_packet_build_packet_too_big (&pkt, buf, sizeof buf, 0, &off_pkt, &router, 1280));
      assert_checksums_fresh (&pkt);
      {
        const guint8 *icmp = ember_ip_packet_data (&pkt) + hl;

        if (v4)
          {
            g_assert_cmpuint (icmp[0], ==, 3);
            g_assert_cmpuint (icmp[1], ==, 4);
            g_assert_cmpuint ((icmp[6] << 8) | icmp[7], ==, 1280);
          }
        else
          {
            g_assert_cmpuint (icmp[0], ==, 2);
            g_assert_cmpuint ((icmp[6] << 8) | icmp[7], ==, 1280);
          }
      }

      /* Building over the offending packet itself gives the same bytes. */
      {
        guint8 same[EMBER_PACKET_BUF_SIZE];
        EmberIpPacket in_place, same_pkt;

        assert_ok (ember_ip_packet_build_packet_too_big (&pkt, buf, sizeof buf, 0, &off_pkt, &router, 1280));
        memcpy (same, obuf, sizeof same);
        assert_ok (ember_ip_packet_parse (&same_pkt, same, sizeof same, 0, c->len));
        assert_ok (ember_ip_packet_build_packet_too_big (&in_place, same, sizeof same, 0, &same_pkt,
                                                         &router, 1280));
        assert_mem (ember_ip_packet_data (&in_place), ember_ip_packet_len (&in_place),
                         ember_ip_packet_data (&pkt), ember_ip_packet_len (&pkt));
      }

      /* Wrong family for the source; a buffer that cannot hold the
       * RFC 792 minimum quote. */
      router = v4 ? addr6 (1, 1, 0) : addr4 (1, 1, 1, 1, 0);
      g_assert_cmpint (ember_ip_packet_build_icmp_unreachable (&pkt, buf, sizeof buf, 0, &off_pkt, &router,
                                                               EMBER_ICMP_UNREACH_HOST),
                       ==, EMBER_PACKET_ERR_ADDRESS);
      router = v4 ? addr4 (192, 0, 2, 254, 0) : addr6 (0x2001, 0xfe, 0);
      g_assert_cmpint (ember_ip_packet_build_icmp_unreachable (&pkt, buf, hl + 8 + 20, 0, &off_pkt, &router,
                                                               EMBER_ICMP_UNREACH_HOST),
                       ==, EMBER_PACKET_ERR_NO_SPACE);
    }
}

void
packet_test_add_build (void)
{
  g_test_add_func ("/packet/build/udp-v4-v6-parse-and-verify", test_build_udp);
  g_test_add_func ("/packet/build/icmp-echo", test_build_icmp_echo);
  g_test_add_func ("/packet/build/icmp-errors-quote-within-rfc-limits", test_build_icmp_errors);
}
