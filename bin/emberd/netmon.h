/* netmon — watches the host's links, addresses and routes (rtnetlink).
 *
 * A NETLINK_ROUTE socket subscribed to RTMGRP_LINK, RTMGRP_IPV4_IFADDR,
 * RTMGRP_IPV6_IFADDR, RTMGRP_IPV4_ROUTE and RTMGRP_IPV6_ROUTE, read on
 * the GMainContext given. Changes come in bursts (a link going up brings
 * its addresses, then its routes), so the callback runs once, 200 ms
 * after the last change of a burst, and at the latest 1 s after its
 * first change. A socket overrun (ENOBUFS: events were lost) counts as a
 * change. emberd restarts ICE from the callback (roaming).
 *
 * All calls and the callback on the thread that runs `ctx`.
 */
#pragma once

#include <gio/gio.h>

#include "ember-plugin.h" /* EmberAddr */

G_BEGIN_DECLS

#define EMBER_NETMON_DEBOUNCE_MS 200
#define EMBER_NETMON_MAX_DELAY_MS 1000

typedef struct _EmberNetmon EmberNetmon;

/* Addresses or routes changed (debounced). */
typedef void (*EmberNetmonFunc) (EmberNetmon *mon, gpointer user_data);

/* ctx NULL: the thread-default context. */
EmberNetmon *ember_netmon_new (GMainContext *ctx, EmberNetmonFunc func, gpointer user_data,
                               GError **error);
/* Changes that concern only this interface (its link, its addresses,
 * routes through it) no longer count: emberd's own TUN, whose routes it
 * changes itself as resources come and go, must not restart ICE. 0
 * counts everything again. */
void ember_netmon_set_ignored_ifindex (EmberNetmon *mon, guint ifindex);
/* The host's usable addresses now: EmberAddr with port 0, of interfaces
 * that are up and not loopback; not tentative, not failed duplicate
 * address detection, no IPv6 link-local (fe80::/10, scope_id would be
 * needed). The caller drops the TUN's own. NULL with *error when the
 * kernel could not be asked. */
GArray *ember_netmon_list_addresses (EmberNetmon *mon, GError **error);
void ember_netmon_free (EmberNetmon *mon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberNetmon, ember_netmon_free)

G_END_DECLS
