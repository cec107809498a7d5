/* ember-portal/convert.c — the store's values as protocol values: a
 * resource with its filters, tunnel addresses, relay ids and addresses. */
#include "serve-private.h"

#include <string.h>

void
convert_addr_from_inet (GInetAddress *ia, guint16 port, EmberAddr *out)
{
  memset (out, 0, sizeof *out);
  gsize n = g_inet_address_get_native_size (ia);
  out->family = n == 4 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6;
  memcpy (out->addr, g_inet_address_to_bytes (ia), n);
  out->port = port;
}

static gboolean
parse_ip (const char *text, GSocketFamily family, EmberAddr *out, const char *what, GError **error)
{
  g_autoptr (GInetAddress) ia = text != NULL ? g_inet_address_new_from_string (text) : NULL;
  if (ia == NULL || g_inet_address_get_family (ia) != family)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "%s \"%s\": expected an %s address", what, text ? text : "(none)",
                   family == G_SOCKET_FAMILY_IPV4 ? "IPv4" : "IPv6");
      return FALSE;
    }
  convert_addr_from_inet (ia, 0, out);
  return TRUE;
}

gboolean
convert_tunnel (const char *ipv4, const char *ipv6, EmberPortalTunnelAddresses *out,
                GError **error)
{
  return parse_ip (ipv4, G_SOCKET_FAMILY_IPV4, &out->ipv4, "tunnel ipv4", error)
         && parse_ip (ipv6, G_SOCKET_FAMILY_IPV6, &out->ipv6, "tunnel ipv6", error);
}

static EmberPortalProtocol
protocol_of (EmberStoreProtocol p)
{
  switch (p)
    {
    case EMBER_STORE_PROTOCOL_TCP:
      return EMBER_PORTAL_PROTOCOL_TCP;
    case EMBER_STORE_PROTOCOL_UDP:
      return EMBER_PORTAL_PROTOCOL_UDP;
    case EMBER_STORE_PROTOCOL_ICMP:
    default:
      return EMBER_PORTAL_PROTOCOL_ICMP;
    }
}

gboolean
convert_resource (const EmberStoreResource *in, EmberPortalResource *out, GError **error)
{
  memset (out, 0, sizeof *out);
  g_autofree char *what = g_strdup_printf ("resource %s", in->name);
  if (!ember_portal_id_parse (in->id, &out->id, what, error)
      || !ember_portal_id_parse (in->site_id, &out->site.id, "site", error))
    return FALSE;
  out->name = g_strdup (in->name);
  out->site.name = g_strdup (in->site_name);
  switch (in->type)
    {
    case EMBER_STORE_RESOURCE_CIDR:
      {
        out->type = EMBER_PORTAL_RESOURCE_CIDR;
        g_autoptr (GError) local = NULL;
        if (in->address == NULL
            || !ember_cidr_parse (in->address, EMBER_CIDR_PARSE_STRICT, &out->cidr, &local))
          {
            g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID, "%s: address: %s",
                         what, local != NULL ? local->message : "missing");
            ember_portal_resource_clear (out);
            return FALSE;
          }
        break;
      }
    case EMBER_STORE_RESOURCE_DNS:
      out->type = EMBER_PORTAL_RESOURCE_DNS;
      out->dns_pattern = g_strdup (in->address);
      out->ip_stack = in->ip_stack == EMBER_STORE_IP_STACK_IPV4   ? EMBER_PORTAL_IP_STACK_IPV4
                      : in->ip_stack == EMBER_STORE_IP_STACK_IPV6 ? EMBER_PORTAL_IP_STACK_IPV6
                                                                  : EMBER_PORTAL_IP_STACK_DUAL;
      break;
    case EMBER_STORE_RESOURCE_INTERNET:
    default:
      out->type = EMBER_PORTAL_RESOURCE_INTERNET;
      break;
    }
  /* The store keeps one row per (protocol, range), sorted; the protocol
   * carries one filter per protocol with its ranges. */
  guint n = in->filters != NULL ? in->filters->len : 0;
  out->filters = g_new0 (EmberPortalFilter, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      const EmberStoreFilter *f = &g_array_index (in->filters, EmberStoreFilter, i);
      EmberPortalProtocol p = protocol_of (f->protocol);
      EmberPortalFilter *pf = NULL;
      for (guint k = 0; k < out->n_filters; k++)
        if (out->filters[k].protocol == p)
          pf = &out->filters[k];
      if (pf == NULL)
        {
          pf = &out->filters[out->n_filters++];
          pf->protocol = p;
        }
      gboolean all_ports = f->port_start <= 1 && f->port_end == 65535;
      if (p == EMBER_PORTAL_PROTOCOL_ICMP || f->port_end == 0)
        continue;
      if (all_ports)
        {
          pf->n_ports = 0; /* every port: no list */
          continue;
        }
      if (pf->n_ports < EMBER_PORTAL_MAX_PORT_RANGES)
        {
          pf->ports[pf->n_ports].first = MAX (1, f->port_start);
          pf->ports[pf->n_ports].last = f->port_end;
          pf->n_ports++;
        }
    }
  return TRUE;
}

void
convert_relay_id (const char *name, EmberPortalId *out)
{
  /* A name-based UUID (RFC 9562 §5.8 layout, version 8): the same
   * relay keeps its id across restarts and portals. */
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) "ember-portal relay ", -1);
  g_checksum_update (sum, (const guchar *) name, -1);
  guint8 d[32];
  gsize len = sizeof d;
  g_checksum_get_digest (sum, d, &len);
  d[6] = (guint8) ((d[6] & 0x0f) | 0x80);
  d[8] = (guint8) ((d[8] & 0x3f) | 0x80);
  g_snprintf (out->str, sizeof out->str,
              "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
              d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
              d[15]);
}

gboolean
convert_relay_addresses (const EmberPortalRelayConfig *relay, EmberAddr *ipv4, EmberAddr *ipv6)
{
  memset (ipv4, 0, sizeof *ipv4);
  memset (ipv6, 0, sizeof *ipv6);
  for (guint i = 0; relay->addresses[i] != NULL; i++)
    {
      g_autoptr (GInetSocketAddress) sa = ember_portal_parse_listen (relay->addresses[i], "relay",
                                                                     NULL);
      if (sa == NULL)
        continue;
      GInetAddress *ia = g_inet_socket_address_get_address (sa);
      EmberAddr *slot = g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV4 ? ipv4 : ipv6;
      if (slot->family == EMBER_ADDR_NONE)
        convert_addr_from_inet (ia, g_inet_socket_address_get_port (sa), slot);
    }
  return ipv4->family != EMBER_ADDR_NONE || ipv6->family != EMBER_ADDR_NONE;
}

guint64
convert_digest (const char *text, gsize len)
{
  /* FNV-1a, 64 bits: tells "changed" from "same" for frames the portal
   * built itself; not a defence against anyone. */
  guint64 h = 0xcbf29ce484222325ull;
  for (gsize i = 0; i < len; i++)
    {
      h ^= (guint8) text[i];
      h *= 0x100000001b3ull;
    }
  return h;
}
