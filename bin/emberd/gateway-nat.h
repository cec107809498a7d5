/* gateway-nat — the gateway's forwarding and masquerade (libnftables).
 *
 * A table of Ember's own, `inet ember_gw_<tun>` (characters other than
 * letters, digits and '_' of the TUN name become '_'), holding:
 *   - chain postrouting (nat, srcnat): packets that came in from the TUN
 *     and leave by any other interface are masqueraded;
 *   - chain forward (filter, policy accept): packets from the TUN and
 *     replies to them (ct state established,related) towards the TUN are
 *     accepted.
 * A table of the same name left by a killed run is deleted and created
 * again in one transaction. No other table, chain or policy is read or
 * changed: a forward policy drop in someone else's table still drops
 * (nftables evaluates every base chain of a hook), which is the
 * administrator's to open.
 *
 * IP forwarding: net.ipv4.ip_forward (it sets every interface's IPv4
 * forwarding) and net.ipv6.conf.all.forwarding are set to 1 when they
 * are not already; at free each one written is put back to its previous
 * value unless someone changed it in between. The previous values are
 * written into the table's comment before anything changes, so that the
 * next start after a SIGKILL, replacing the leftover table, still knows
 * them and restores them at its exit. Note that IPv6 forwarding
 * makes interfaces with accept_ra=1 ignore router advertisements (a
 * warning says so when one does).
 *
 * Main thread only.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EMBER_GATEWAY_NAT_ERROR (ember_gateway_nat_error_quark ())
GQuark ember_gateway_nat_error_quark (void);

typedef enum {
  EMBER_GATEWAY_NAT_ERROR_INVALID,   /* the TUN name is not a valid interface name */
  EMBER_GATEWAY_NAT_ERROR_NFTABLES,  /* libnftables refused the ruleset (its text in message) */
  EMBER_GATEWAY_NAT_ERROR_SYSCTL,    /* a forwarding sysctl could not be read or written */
} EmberGatewayNatError;

typedef struct _EmberGatewayNat EmberGatewayNat;

/* tun_ifname: 1-15 characters of letters, digits, '-', '_', '.'; the
 * interface need not exist yet (rules match by name). */
EmberGatewayNat *ember_gateway_nat_new (const char *tun_ifname, GError **error);
/* "ember_gw_ember0" */
const char *ember_gateway_nat_get_table (EmberGatewayNat *nat);
/* Deletes the table, restores the forwarding sysctls it changed. */
void ember_gateway_nat_free (EmberGatewayNat *nat);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberGatewayNat, ember_gateway_nat_free)

G_END_DECLS
