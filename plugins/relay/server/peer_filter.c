/* relay/server/peer_filter.c — which peers a relay may send to.
 *
 * An open relay is a way into the networks behind it: loopback services,
 * the cloud metadata endpoint (169.254.169.254), private and CGNAT ranges.
 * Every special-purpose range of the IANA registries (RFC 6890) that is
 * not globally reachable unicast is refused unless the operator lists it
 * with allow-peer. IPv6 forms that embed an IPv4 address and reach it
 * without a translator (IPv4-mapped, IPv4-compatible) are judged by their
 * IPv4 address; translator prefixes (NAT64, 6to4, Teredo) are refused
 * outright because the embedded IPv4 address cannot be checked reliably.
 */
#include "server-private.h"

#include <gio/gio.h>

#define V4(a, b, c, d, p) { EMBER_ADDR_IPV4, p, { a, b, c, d } }

static const EmberCidr deny[] = {
  V4 (0, 0, 0, 0, 8),         /* "this network", incl. 0.0.0.0 (RFC 791) */
  V4 (10, 0, 0, 0, 8),        /* private (RFC 1918) */
  V4 (100, 64, 0, 0, 10),     /* CGNAT shared space (RFC 6598) */
  V4 (127, 0, 0, 0, 8),       /* loopback */
  V4 (169, 254, 0, 0, 16),    /* link-local, incl. 169.254.169.254 metadata */
  V4 (172, 16, 0, 0, 12),     /* private */
  V4 (192, 0, 0, 0, 24),      /* IETF protocol assignments (RFC 6890) */
  V4 (192, 0, 2, 0, 24),      /* TEST-NET-1 (RFC 5737) */
  V4 (192, 88, 99, 0, 24),    /* 6to4 relay anycast (deprecated, RFC 7526) */
  V4 (192, 168, 0, 0, 16),    /* private */
  V4 (198, 18, 0, 0, 15),     /* benchmarking (RFC 2544) */
  V4 (198, 51, 100, 0, 24),   /* TEST-NET-2 */
  V4 (203, 0, 113, 0, 24),    /* TEST-NET-3 */
  V4 (224, 0, 0, 0, 4),       /* multicast */
  V4 (240, 0, 0, 0, 4),       /* reserved, incl. 255.255.255.255 broadcast */
  { EMBER_ADDR_IPV6, 128, { 0 } },                                  /* :: */
  { EMBER_ADDR_IPV6, 128, { [15] = 1 } },                           /* ::1 */
  { EMBER_ADDR_IPV6, 96, { 0, 0x64, 0xff, 0x9b } },                 /* NAT64 (RFC 6052) */
  { EMBER_ADDR_IPV6, 48, { 0, 0x64, 0xff, 0x9b, 0, 1 } },           /* local NAT64 (RFC 8215) */
  { EMBER_ADDR_IPV6, 64, { 0x01, 0x00 } },                          /* discard-only (RFC 6666) */
  { EMBER_ADDR_IPV6, 32, { 0x20, 0x01, 0x00, 0x00 } },              /* Teredo (RFC 4380) */
  { EMBER_ADDR_IPV6, 28, { 0x20, 0x01, 0x00, 0x10 } },              /* ORCHID (RFC 4843) */
  { EMBER_ADDR_IPV6, 32, { 0x20, 0x01, 0x0d, 0xb8 } },              /* documentation (RFC 3849) */
  { EMBER_ADDR_IPV6, 16, { 0x20, 0x02 } },                          /* 6to4 (RFC 3056) */
  { EMBER_ADDR_IPV6, 7, { 0xfc } },                                 /* unique local (RFC 4193) */
  { EMBER_ADDR_IPV6, 10, { 0xfe, 0x80 } },                          /* link-local */
  { EMBER_ADDR_IPV6, 10, { 0xfe, 0xc0 } },                          /* site-local (deprecated) */
  { EMBER_ADDR_IPV6, 8, { 0xff } },                                 /* multicast */
};

void
relay_addr_normalise (const EmberAddr *in, EmberAddr *out)
{
  static const guint8 zeros[12] = { 0 };
  static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  *out = *in;
  if (in->family != EMBER_ADDR_IPV6)
    return;
  gboolean is_mapped = memcmp (in->addr, mapped, 12) == 0;
  /* ::/96 "IPv4-compatible" (RFC 4291 §2.5.5.1, deprecated), except :: and
   * ::1 which keep their IPv6 meaning (and are denied as such). */
  gboolean is_compat = memcmp (in->addr, zeros, 12) == 0 &&
                       !(in->addr[12] == 0 && in->addr[13] == 0 && in->addr[14] == 0 &&
                         in->addr[15] <= 1);
  if (!is_mapped && !is_compat)
    return;
  out->family = EMBER_ADDR_IPV4;
  memcpy (out->addr, in->addr + 12, 4);
  memset (out->addr + 4, 0, 12);
}

gboolean
ember_relay_server_peer_allowed (const EmberRelayServer *s, const EmberAddr *peer)
{
  EmberAddr n;
  if (peer->family != EMBER_ADDR_IPV4 && peer->family != EMBER_ADDR_IPV6)
    return FALSE;
  relay_addr_normalise (peer, &n);
  /* The operator's allow list wins over the defaults. */
  for (guint i = 0; i < s->allow->len; i++)
    if (ember_cidr_contains_addr (&g_array_index (s->allow, EmberCidr, i), &n))
      return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (deny); i++)
    if (ember_cidr_contains_addr (&deny[i], &n))
      return FALSE;
  return TRUE;
}

gboolean
ember_relay_server_allow_peer (EmberRelayServer *s, const char *cidr, GError **error)
{
  g_autoptr (GError) local = NULL;
  EmberCidr c;

  /* An address alone is one peer; host bits are ignored ("10.0.0.1/8" is
   * 10.0.0.0/8), as they always were here. */
  if (!ember_cidr_parse (cidr, EMBER_CIDR_PARSE_BARE | EMBER_CIDR_PARSE_MASK_HOST_BITS, &c,
                         &local))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "allow-peer %s",
                   local->message);
      return FALSE;
    }
  g_array_append_val (s->allow, c);
  return TRUE;
}
