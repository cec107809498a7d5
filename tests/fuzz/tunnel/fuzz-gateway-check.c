/* fuzz-gateway-check: arbitrary bytes through the gateway's packet check
 * (gateway-policy.h), as a packet a client sent (first byte even) or as
 * one from the resource network (odd). Invariants: nothing passes from
 * the client unless its source is the client's own address and its
 * destination lies in a resource; nothing passes from the network unless
 * it goes to the client's address; every ICMP answer queued parses and
 * its checksums verify. Any violation aborts (a libFuzzer crash). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packet/packet.h"
#include "tunnel/gateway-policy.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const guint8 me4[4] = { 100, 64, 0, 1 };
static const guint8 me6[16] = { 0xfd, 0, 0x20, 0x21, 0x11, 0x11, [15] = 1 };

static void
check (gboolean ok, const char *what)
{
  if (!ok)
    {
      g_printerr ("invariant broken: %s\n", what);
      abort ();
    }
}

static EmberGatewayPolicy *
policy_get (void)
{
  static EmberGatewayPolicy *policy;
  static const EmberGatewayFilter filters[] = {
    { EMBER_GATEWAY_FILTER_TCP, 80, 80 },
    { EMBER_GATEWAY_FILTER_UDP, 1000, 2000 },
    { EMBER_GATEWAY_FILTER_ICMP, 0, 0 },
  };
  EmberCidr nets[2] = {
    { .family = 4, .prefix = 24, .addr = { 10, 0, 0, 0 } },
    { .family = 6, .prefix = 64, .addr = { 0xfd, 0, 0, 0x10 } },
  };
  EmberGatewayResource res = {
    .id = "web", .type = EMBER_GATEWAY_RESOURCE_CIDR, .addresses = nets, .n_addresses = 2,
    .filters = filters, .n_filters = G_N_ELEMENTS (filters),
  };
  EmberGatewayAuthorization auth = {
    .ref = "r", .client_id = "c", .has_ipv4 = TRUE, .has_ipv6 = TRUE,
    .resource = &res, .expires_at = G_MAXINT64,
  };

  if (policy)
    return policy;
  policy = ember_gateway_policy_new ();
  memcpy (auth.client_ipv4, me4, 4);
  memcpy (auth.client_ipv6, me6, 16);
  if (!ember_gateway_policy_authorize (policy, 0, &auth, NULL))
    abort ();
  return policy;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gint64 now;
  EmberGatewayPolicy *policy = policy_get ();
  EmberGatewayClient *client = ember_gateway_policy_find_client (policy, "c"), *to;
  guint8 buf[EMBER_PACKET_BUF_SIZE], out[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt, answer;
  EmberAddr src, dst;
  gsize len;

  if (size < 1)
    return 0;
  now += 50000;
  len = MIN (size - 1, (gsize) EMBER_PACKET_MTU);
  memcpy (buf, data + 1, len);
  if (ember_ip_packet_parse (&pkt, buf, sizeof buf, 0, len) != EMBER_PACKET_OK)
    {
      check (ember_gateway_policy_from_client_bytes (policy, now, client, buf, len, NULL) ==
               EMBER_GATEWAY_VERDICT_DROP, "malformed dropped");
      return 0;
    }
  ember_ip_packet_get_source (&pkt, &src);
  ember_ip_packet_get_destination (&pkt, &dst);
  if (data[0] % 2 == 0)
    {
      if (ember_gateway_policy_from_client (policy, now, client, &pkt, NULL) ==
          EMBER_GATEWAY_VERDICT_FORWARD)
        {
          gboolean v4 = src.family == EMBER_ADDR_IPV4;

          check (memcmp (src.addr, v4 ? me4 : me6, v4 ? 4 : 16) == 0, "source is the client");
          check (v4 ? dst.addr[0] == 10 && dst.addr[1] == 0 && dst.addr[2] == 0
                    : memcmp (dst.addr, "\xfd\0\0\x10\0\0\0\0", 8) == 0,
                 "destination in the resource");
        }
    }
  else if (ember_gateway_policy_from_network (policy, now, &pkt, &to, NULL) ==
           EMBER_GATEWAY_VERDICT_FORWARD)
    {
      gboolean v4 = dst.family == EMBER_ADDR_IPV4;

      check (to == client, "reply to the client");
      check (memcmp (dst.addr, v4 ? me4 : me6, v4 ? 4 : 16) == 0, "reply to its address");
    }
  while ((len = ember_gateway_policy_poll_packet_to_client (policy, out, sizeof out, &to)) > 0)
    {
      check (to == client, "answer to the client");
      check (ember_ip_packet_parse (&answer, out, sizeof out, 0, len) == EMBER_PACKET_OK,
             "answer parses");
      check (ember_ip_packet_verify_checksums (&answer) == EMBER_PACKET_OK, "answer verifies");
      check (ember_ip_packet_is_icmp_error (&answer), "answer is an ICMP error");
    }
  return 0;
}
