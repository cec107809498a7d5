/* policy-file — the declarative file `ember-portal apply` reads.
 *
 *   {"sites":     [{"name": "home"}],
 *    "resources": [{"name": "web", "type": "cidr", "address": "10.20.0.0/24",
 *                   "site": "home",
 *                   "filters": [{"protocol": "tcp", "ports": "80,8000-8100"},
 *                               {"protocol": "icmp"}]}],
 *    "groups":    [{"name": "staff", "clients": ["laptop"]}],
 *    "policies":  [{"group": "staff", "resource": "web",
 *                   "conditions": {"utc_time": "08:00-18:00",
 *                                  "source_cidrs": ["192.0.2.0/24"]}}]}
 *
 * The file is the whole desired state of sites, resources, groups and
 * policies (clients and gateways come from tokens). Parsing is strict: an
 * unknown member, a wrong type, a bad value, a duplicate name or a
 * reference to something the file does not define is an error naming the
 * file, the JSON path ($.resources[0].filters[1].ports) and what was
 * expected. Values come out canonical (networks with host bits cleared,
 * names lower-cased, lists sorted) so comparing with the store is exact.
 * Pure: no I/O besides what the caller hands in; any thread.
 */
#pragma once

#include "store.h"

G_BEGIN_DECLS

#define EMBER_POLICY_FILE_ERROR (ember_policy_file_error_quark ())
GQuark ember_policy_file_error_quark (void);

/* Larger files are refused before parsing. */
#define EMBER_POLICY_FILE_MAX_BYTES (4 * 1024 * 1024)

typedef struct {
  GPtrArray *sites;     /* char*, sorted */
  GPtrArray *resources; /* EmberStoreResource* (site_name set), sorted by name */
  GPtrArray *groups;    /* EmberStoreGroup*, sorted by name */
  GPtrArray *policies;  /* EmberStorePolicy* (group_name, resource_name set), sorted */
} EmberPolicyFile;

EmberPolicyFile *ember_policy_file_parse (const char *data, gsize len, const char *name,
                                          GError **error);
void ember_policy_file_free (EmberPolicyFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPolicyFile, ember_policy_file_free)

/* "80,8000-8100" -> EmberStoreFilter entries of `protocol` appended to
 * `out`; FALSE on anything else. */
gboolean ember_policy_file_parse_ports (const char *text, EmberStoreProtocol protocol,
                                        GArray *out);

G_END_DECLS
