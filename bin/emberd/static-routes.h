/* static-routes — what routing a wg-quick file asks for, decided the way
 * wg-quick decides it, before anything is touched.
 *
 *   Table = off            no routes at all (the addresses only).
 *   Table = N / a name     a route through the interface for every
 *                          AllowedIPs entry, the default routes included,
 *                          into table N (names looked up in rt_tables).
 *   Table = auto (default) per address family: when some peer's
 *                          AllowedIPs hold that family's default route
 *                          (0.0.0.0/0, ::/0), the full tunnel — a table of
 *                          Ember's own holding the default route through
 *                          the interface, the rule "not fwmark M lookup T"
 *                          and the rule "lookup main suppress_prefixlength
 *                          0" (bin/emberd/netconf.h) — and the other
 *                          entries of that family into main; otherwise
 *                          every entry of that family into main.
 *
 * The fwmark Ember's UDP socket carries: FwMark when given; else, with a
 * full tunnel, 51820 like wg-quick's default, so the encrypted datagrams
 * are the one traffic the rule lets through to the main table. The full
 * tunnel's table is the fwmark, as in wg-quick.
 *
 * Table names: "main", "local", "default" as iproute2 knows them, then
 * the rt_tables files (see ember_static_routes_table_files()); a name no
 * file knows is an error naming the file's line and the files read.
 * Main thread; the plan reads files and changes nothing, apply changes
 * the routing through netconf.
 */
#pragma once

#include <glib.h>

#include "netconf.h"
#include "tunnel/wgconf.h"

G_BEGIN_DECLS

/* Routes into the main table are table 0 for netconf. */
#define EMBER_STATIC_ROUTES_MAIN 0u

typedef struct {
  gboolean routes;      /* FALSE: Table = off */
  guint32 table;        /* where the AllowedIPs routes go (EMBER_STATIC_ROUTES_MAIN: main) */
  gboolean full_tunnel[2]; /* [0] IPv4, [1] IPv6: Table = auto with a default route */
  guint32 full_table;   /* the full tunnel's table */
  guint32 fwmark;       /* SO_MARK for Ember's UDP socket; 0: none */
} EmberStaticRoutes;

/* The rt_tables files iproute2 reads, in order, for `ip route ... table
 * NAME`: /etc/iproute2/rt_tables and /etc/iproute2/rt_tables.d/(*).conf,
 * then the same under /usr/share/iproute2 (newer iproute2 ships its
 * defaults there). Only the ones that exist. */
GPtrArray *ember_static_routes_table_files (void);

/* Looks `name` up in `files` ("NUMBER NAME" lines, '#' comments, the
 * number decimal or 0x hex); main/local/default are known without them.
 * FALSE with an error naming the name and the files otherwise. */
gboolean ember_static_routes_table_lookup (GPtrArray *files, const char *name, guint32 *id,
                                           GError **error);

/* Decides the routing for `conf`; `files` for a Table name (NULL: the
 * system's). FALSE with an error naming the file and line of Table. */
gboolean ember_static_routes_plan (const EmberWgConf *conf, GPtrArray *files,
                                   EmberStaticRoutes *out, GError **error);

/* Whether the route to `cidr` is in the plan's routes (not the full
 * tunnel's default, not Table = off). */
gboolean ember_static_routes_wants (const EmberStaticRoutes *plan, const EmberCidr *cidr);

/* Adds the plan through netconf (journalled, undone by
 * ember_netconf_free or at the next start after a crash): the full
 * tunnel of each family that has one, then a route for every AllowedIPs
 * entry the plan wants, into plan->table. Every route goes through
 * netconf, none through the TUN plugin: netconf never replaces a route
 * it did not add (a conflicting one is an error naming it), the plugin
 * would. On failure what was added stays in `nc` for ember_netconf_free
 * to remove. */
gboolean ember_static_routes_apply (const EmberStaticRoutes *plan, const EmberWgConf *conf,
                                    EmberNetconf *nc, guint ifindex, GError **error);
/* Whether the plan adds anything at all (some AllowedIPs and not Table =
 * off). */
gboolean ember_static_routes_need_netconf (const EmberStaticRoutes *plan,
                                          const EmberWgConf *conf);

G_END_DECLS
