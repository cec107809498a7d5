/* netconf-kernel — one journalled object in the kernel, for netconf.
 *
 * Building and sending the rtnetlink request for an address, route or
 * rule, writing a sysctl, and creating or deleting wg-quick's nftables
 * table of a full tunnel; plus the questions netconf asks the kernel
 * (is the interface still the one journalled, which priority would a
 * new rule get, where does an existing route go). No journal here: see
 * netconf.c. Blocking, main thread (as netconf).
 */
#pragma once

#include <glib.h>

#include "netconf-journal.h"

G_BEGIN_DECLS

/* Creates (add) or deletes the object: 0 or a positive errno; *detail
 * (g_free, may stay NULL) says more than the errno (nftables' text). An
 * nftables table that exists already answers EEXIST. */
int ember_netconf_obj_apply (const EmberNetconfObj *obj, gboolean add, char **detail);
/* Whether a delete's errno says the object is gone already. */
gboolean ember_netconf_obj_is_gone (const EmberNetconfObj *obj, int err);
/* Whether the object's interface index still carries its name. */
gboolean ember_netconf_obj_dev_still_there (const EmberNetconfObj *obj);
/* After EEXIST on a route: TRUE when the route there goes through the
 * same interface (or it cannot be told), else FALSE with its *oif. */
gboolean ember_netconf_route_same_dev (const EmberNetconfObj *obj, guint32 *oif);
/* The priority the kernel would give a new rule of `af`. */
gboolean ember_netconf_rule_priority (int af, guint32 *prio, GError **error);
gboolean ember_netconf_sysctl_read (const char *key, char *buf, gsize size, GError **error);

G_END_DECLS
