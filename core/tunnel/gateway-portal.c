/* gateway-portal — portal messages → gateway policy. See gateway-portal.h. */
#include <string.h>

#include "tunnel/gateway-portal.h"

gint64
ember_gateway_deadline_from_unix (gint64 now, gint64 now_unix_us, gint64 expires_at)
{
  gint64 left_s;

  /* In seconds first: expires_at may be up to 2^53, which overflows µs. */
  left_s = expires_at - now_unix_us / G_USEC_PER_SEC;
  if (left_s >= (G_MAXINT64 - MAX (now, 0)) / G_USEC_PER_SEC - 1)
    return G_MAXINT64;
  if (left_s <= -(G_MAXINT64 / 4) / G_USEC_PER_SEC)
    return G_MININT64 / 4;
  return now + left_s * G_USEC_PER_SEC - now_unix_us % G_USEC_PER_SEC;
}

/* A portal resource in the policy's terms; the arrays live as long as
 * the struct. */
typedef struct {
  EmberGatewayResource res;
  EmberCidr addr;
  EmberGatewayFilter filters[EMBER_PORTAL_MAX_FILTERS * EMBER_PORTAL_MAX_PORT_RANGES];
} Converted;

static void
convert_resource (const EmberPortalResource *in, Converted *out)
{
  guint n = 0;

  memset (&out->res, 0, sizeof out->res);
  out->res.id = in->id.str;
  switch (in->type)
    {
    case EMBER_PORTAL_RESOURCE_DNS:
      out->res.type = EMBER_GATEWAY_RESOURCE_DNS;
      break;
    case EMBER_PORTAL_RESOURCE_INTERNET:
      out->res.type = EMBER_GATEWAY_RESOURCE_INTERNET;
      break;
    case EMBER_PORTAL_RESOURCE_CIDR:
    default:
      out->res.type = EMBER_GATEWAY_RESOURCE_CIDR;
      out->addr = in->cidr;
      out->res.addresses = &out->addr;
      out->res.n_addresses = 1;
      break;
    }
  for (guint i = 0; i < MIN (in->n_filters, EMBER_PORTAL_MAX_FILTERS); i++)
    {
      const EmberPortalFilter *f = &in->filters[i];
      EmberGatewayFilterProtocol proto =
        f->protocol == EMBER_PORTAL_PROTOCOL_UDP    ? EMBER_GATEWAY_FILTER_UDP
        : f->protocol == EMBER_PORTAL_PROTOCOL_ICMP ? EMBER_GATEWAY_FILTER_ICMP
                                                    : EMBER_GATEWAY_FILTER_TCP;

      if (proto == EMBER_GATEWAY_FILTER_ICMP || f->n_ports == 0)
        out->filters[n++] = (EmberGatewayFilter) { proto, 0, G_MAXUINT16 };
      else
        for (guint k = 0; k < MIN (f->n_ports, EMBER_PORTAL_MAX_PORT_RANGES); k++)
          out->filters[n++] = (EmberGatewayFilter) { proto, f->ports[k].first, f->ports[k].last };
    }
  out->res.filters = out->filters;
  out->res.n_filters = n;
}

static void
fill_client (EmberGatewayAuthorization *auth, const EmberPortalPeer *client,
             const EmberPortalKey *psk)
{
  auth->client_id = client->id.str;
  memcpy (auth->client_public_key, client->public_key.bytes, 32);
  memcpy (auth->preshared_key, psk->bytes, 32);
  auth->has_ipv4 = client->tunnel.ipv4.family == EMBER_ADDR_IPV4;
  auth->has_ipv6 = client->tunnel.ipv6.family == EMBER_ADDR_IPV6;
  memcpy (auth->client_ipv4, client->tunnel.ipv4.addr, 4);
  memcpy (auth->client_ipv6, client->tunnel.ipv6.addr, 16);
}

gboolean
ember_gateway_policy_authorize_flow (EmberGatewayPolicy *policy, gint64 now, gint64 now_unix_us,
                                     const EmberPortalAuthorizeFlow *flow, GError **error)
{
  g_autofree Converted *conv = g_new (Converted, 1);
  EmberGatewayAuthorization auth = { 0 };
  gboolean ok;

  g_return_val_if_fail (policy && flow, FALSE);
  convert_resource (&flow->resource, conv);
  fill_client (&auth, &flow->client, &flow->preshared_key);
  auth.ref = flow->ref ? flow->ref : "";
  auth.resource = &conv->res;
  auth.expires_at = ember_gateway_deadline_from_unix (now, now_unix_us, flow->expires_at);
  ok = ember_gateway_policy_authorize (policy, now, &auth, error);
  explicit_bzero (auth.preshared_key, sizeof auth.preshared_key);
  return ok;
}

gboolean
ember_gateway_policy_apply_init (EmberGatewayPolicy *policy, gint64 now, gint64 now_unix_us,
                                 const EmberPortalGatewayInit *init, GError **error)
{
  g_autofree Converted *conv = g_new (Converted, 1);
  GError *first = NULL;

  g_return_val_if_fail (policy && init, FALSE);
  ember_gateway_policy_begin_sync (policy);
  for (guint i = 0; i < init->n_authorizations; i++)
    {
      const EmberPortalAuthorization *a = &init->authorizations[i];
      EmberGatewayAuthorization auth = { 0 };
      GError *local = NULL;

      convert_resource (&a->resource, conv);
      fill_client (&auth, &a->client, &a->preshared_key);
      auth.resource = &conv->res;
      auth.expires_at = ember_gateway_deadline_from_unix (now, now_unix_us, a->expires_at);
      if (!ember_gateway_policy_authorize (policy, now, &auth, &local))
        {
          if (!first)
            first = g_error_new (local->domain, local->code, "authorizations[%u]: %s", i,
                                 local->message);
          g_error_free (local);
        }
      explicit_bzero (auth.preshared_key, sizeof auth.preshared_key);
    }
  ember_gateway_policy_end_sync (policy, now);
  if (first)
    {
      g_propagate_error (error, first);
      return FALSE;
    }
  return TRUE;
}

gboolean
ember_gateway_policy_reject_access (EmberGatewayPolicy *policy, gint64 now,
                                    const EmberPortalRejectAccess *reject, GError **error)
{
  g_return_val_if_fail (policy && reject, FALSE);
  return ember_gateway_policy_reject (policy, now, reject->client_id.str,
                                      reject->resource_id.str, error);
}

gboolean
ember_gateway_policy_resource_updated (EmberGatewayPolicy *policy, gint64 now,
                                       const EmberPortalResource *resource, GError **error)
{
  g_autofree Converted *conv = g_new (Converted, 1);

  g_return_val_if_fail (policy && resource, FALSE);
  convert_resource (resource, conv);
  return ember_gateway_policy_update_resource (policy, now, &conv->res, error);
}
