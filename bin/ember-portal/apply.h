/* apply — bring the store to a policy file's state, declaratively.
 *
 * Compares the file with the store and returns the difference as lines a
 * person reads, in the order they are carried out:
 *
 *   + site home
 *   + resource web: cidr 10.20.0.0/24 in home, tcp 80, tcp 8000-8100, icmp
 *   ~ resource wiki: address *.corp.example -> **.corp.example
 *   ~ group staff: clients laptop -> laptop, phone
 *   - policy staff -> old
 *
 * Unless `dry_run`, the whole difference is applied in one transaction
 * (each object's change row included): a failure anywhere leaves the
 * store as it was. Applying the same file twice yields no lines the second
 * time. Sites and groups absent from the file are deleted, so are
 * resources (with their policies) and policies; clients, gateways and
 * tokens are not the file's business. Same thread as the store.
 */
#pragma once

#include "policy-file.h"
#include "store.h"

G_BEGIN_DECLS

gboolean ember_portal_apply (EmberStore *store, const EmberPolicyFile *file, gboolean dry_run,
                             const char *actor, GPtrArray **diff, GError **error);

G_END_DECLS
