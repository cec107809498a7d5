/* netconf — the adapter's addresses, routes and MTU through IP Helper.
 *
 * Set-up is a difference, not a replay: the entries present on the
 * interface are listed, the wanted ones that are missing are created and
 * the present ones that are not wanted are deleted, so opening an adapter
 * that kept state from an earlier run (Wintun reuses an adapter of the
 * same name and GUID) converges instead of failing on "already exists".
 * Link-local addresses that Windows assigns itself stay. Errors name the
 * call, the entry and the Win32 error code.
 * Platform-neutral (WintunNetOps); main thread only.
 */
#pragma once

#include <glib.h>

#include "ops.h"

G_BEGIN_DECLS

/* Appends to `add` (EmberCidr) the entries of `wanted` that `present`
 * lacks, once each, in wanted order, and to `remove` the entries of
 * `present` that `wanted` lacks, in present order. An entry is its
 * family, address and prefix length. With `keep_link_local`, present
 * fe80::/10 and 169.254.0.0/16 addresses are never removed. */
void wintun_cidr_diff (const EmberCidr *wanted, guint n_wanted, const EmberCidr *present,
                       guint n_present, gboolean keep_link_local, GArray *add, GArray *remove);

gboolean wintun_netconf_addresses (const WintunNetOps *ops, void *netif, const char *name,
                                   const EmberCidr *wanted, guint n, GError **error);
gboolean wintun_netconf_routes (const WintunNetOps *ops, void *netif, const char *name,
                                const EmberCidr *wanted, guint n, GError **error);
/* Sets the MTU of the IPv4 and the IPv6 interface. */
gboolean wintun_netconf_mtu (const WintunNetOps *ops, void *netif, const char *name, guint mtu,
                             GError **error);
/* One route at run time: adding one that exists and removing one that
 * does not both succeed. */
gboolean wintun_netconf_route (const WintunNetOps *ops, void *netif, const char *name,
                               const EmberCidr *route, gboolean add, GError **error);

G_END_DECLS
