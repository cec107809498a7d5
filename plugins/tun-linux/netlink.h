/* netlink — interface set-up through rtnetlink (NETLINK_ROUTE).
 *
 * A small request/acknowledge client of our own: link MTU, txqueuelen and
 * up, IPv4/IPv6 addresses, and routes added or removed at run time. Each
 * call opens a socket, sends one request with NLM_F_ACK and reads the
 * kernel's answer, so calls are independent. Logs the chatty parts in the
 * "ember-netlink" domain (silenced by default, seed 004).
 * Control path only (main thread); never on the packet path.
 */
#pragma once

#include <glib.h>
#include "config.h"

G_BEGIN_DECLS

/* Sets MTU, txqueuelen (if >= 0) and, with `up`, brings the link up. */
gboolean tun_netlink_link_setup (int ifindex, guint mtu, gint txqueuelen, gboolean up,
                                 GError **error);
gboolean tun_netlink_address_add (int ifindex, const EmberCidr *cidr, GError **error);
/* Waits (bounded) until none of the link's IPv6 addresses is tentative:
 * until then the kernel has not installed their local routes and drops
 * packets to them as address errors, even with IFA_F_NODAD, because it
 * finishes an address's set-up in a work item after the link comes up.
 * FALSE when that did not happen in time or the addresses could not be
 * listed. */
gboolean tun_netlink_wait_ipv6_ready (int ifindex, gint64 timeout_us);
/* add=FALSE removes; removing an absent route succeeds. Adding never
 * replaces: a route to the same prefix through this device already is
 * success, one through another device an error naming it. */
gboolean tun_netlink_route (int ifindex, const EmberCidr *cidr, gboolean add, GError **error);

G_END_DECLS
