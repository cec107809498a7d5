/* netconf — emberd's addresses, routes and policy rules (rtnetlink).
 *
 * Owns every address, route, rule and sysctl emberd adds to the host's
 * routing, and only those. Every object is written to a journal in the
 * state directory (netconf-journal.h), and the journal made durable,
 * before the object is created; it leaves the journal only after the
 * kernel deleted it. So a run killed by SIGKILL leaves a journal that
 * names exactly what it added, and the next ember_netconf_new() removes
 * exactly that.
 *
 * Nothing it did not add is ever changed or removed: an add that meets an
 * identical object already there (EEXIST) leaves that object alone, does
 * not record it as Ember's and succeeds; removing it later is a no-op.
 * Nothing is ever added with NLM_F_REPLACE.
 *
 * Full tunnel, the wg-quick way, per family: a default route through the
 * TUN in a table of Ember's own (`table`), the rule
 *   "not fwmark `fwmark` lookup `table`"
 * so that everything except Ember's own marked sockets uses that table,
 * and before it the rule
 *   "lookup main suppress_prefixlength 0"
 * so that the main table's more specific routes (the LAN, a resource's
 * own route) still win while its default route does not. Ember's sockets
 * carry SO_MARK `fwmark` (the caller sets it) and so leave by the main
 * table's default route, never into the tunnel. For IPv4 it also sets
 * net.ipv4.conf.all.src_valid_mark=1 (restored at removal when it was 0)
 * so that strict reverse-path filtering takes the mark into account, and
 * adds wg-quick's nftables table for the family, `ip|ip6 ember_ft_<tun>`:
 * the mark of Ember's UDP saved in conntrack and restored on the replies
 * (so reverse-path filtering sees them marked), and packets for the
 * TUN's addresses (those it has when the full tunnel is added) dropped
 * when they arrive by another interface from a non-local source.
 * Rule priorities are chosen as the kernel would (just above the first
 * non-zero one, normally 32765 and 32764) but written explicitly so that
 * exactly Ember's rules are deleted even when someone else's identical
 * rules exist.
 *
 * Errors: EMBER_NETCONF_ERROR; messages name the object ("route
 * 10.0.0.0/24 dev ember0 table main") and the kernel's errno text.
 * Main thread only (one instance per state directory); each call is a
 * blocking request to the kernel, answered at once.
 */
#pragma once

#include <glib.h>

#include "net/cidr.h"

G_BEGIN_DECLS

#define EMBER_NETCONF_ERROR (ember_netconf_error_quark ())
GQuark ember_netconf_error_quark (void);

typedef enum {
  EMBER_NETCONF_ERROR_KERNEL,      /* the kernel refused a request (errno text in message) */
  EMBER_NETCONF_ERROR_PERMISSION,  /* EPERM / EACCES: not root / no CAP_NET_ADMIN */
  EMBER_NETCONF_ERROR_JOURNAL,     /* journal unreadable, unwritable or corrupt */
  EMBER_NETCONF_ERROR_INVALID,     /* bad argument (family, CIDR, ifindex, table) */
} EmberNetconfError;

/* Ember's default routing table and fwmark for the full tunnel, as
 * wg-quick's (0xca6c). */
#define EMBER_NETCONF_DEFAULT_TABLE 51820u
#define EMBER_NETCONF_DEFAULT_FWMARK 51820u

typedef struct _EmberNetconf EmberNetconf;

/* Reads state_dir/netconf.journal: undoes what a killed previous run left
 * (objects whose interface no longer exists went with it and are
 * skipped), then starts a new, empty journal. state_dir must exist.
 * Call it before the TUN is opened, so that nothing this run makes can
 * be mistaken for the killed run's (deletes also match protocol
 * "static", which is what Ember's routes carry).
 * One instance per state directory (netconf.lock, flock'd: a second one
 * fails with an error saying so; a killed run's lock goes with it).
 * Fails when the journal cannot be read or parsed (the error names the
 * file and line: nothing is removed then, since a corrupt journal cannot
 * say what is Ember's) or an object it names cannot be removed. */
EmberNetconf *ember_netconf_new (const char *state_dir, GError **error);

/* An address with its prefix length ("100.64.0.2/32", "fd00::2/128"):
 * host bits are the address. IPv6 addresses get IFA_F_NODAD. */
gboolean ember_netconf_address_add (EmberNetconf *nc, guint ifindex, const EmberCidr *addr,
                                    GError **error);
/* Removes an address this instance added; one it did not add is left
 * alone and the call succeeds. */
gboolean ember_netconf_address_remove (EmberNetconf *nc, guint ifindex, const EmberCidr *addr,
                                       GError **error);
/* A route to dst (host bits must be clear) through the interface, scope
 * link, protocol static, in `table` (0: main). Adding what this instance
 * already added succeeds and does nothing. A route to the same prefix in
 * the same table through another interface is not Ember's to replace:
 * an error naming it. */
gboolean ember_netconf_route_add (EmberNetconf *nc, guint ifindex, const EmberCidr *dst,
                                  guint32 table, GError **error);
/* Removes a route this instance added; one it did not add (or no longer
 * has) is left alone and the call succeeds. */
gboolean ember_netconf_route_remove (EmberNetconf *nc, guint ifindex, const EmberCidr *dst,
                                     guint32 table, GError **error);

/* wg-quick's full tunnel for one family (4 or 6; AF_INET / AF_INET6 are
 * accepted too): see above. table must not be 0 or main/local/default;
 * fwmark not 0. Once per family: a second call fails until
 * ember_netconf_full_tunnel_remove(). On failure whatever part was added
 * is removed again. */
gboolean ember_netconf_full_tunnel_add (EmberNetconf *nc, guint ifindex, int family,
                                        guint32 fwmark, guint32 table, GError **error);
/* Removes that family's full tunnel; nothing to do is success. */
gboolean ember_netconf_full_tunnel_remove (EmberNetconf *nc, int family, GError **error);

/* Removes everything it added (rules, routes, addresses, sysctls; last
 * added first) and deletes the journal. What cannot be removed is logged
 * and stays in the journal for the next start. */
void ember_netconf_free (EmberNetconf *nc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberNetconf, ember_netconf_free)

G_END_DECLS
