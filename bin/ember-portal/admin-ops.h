/* admin-ops — the administrative operations, once, for both surfaces:
 * the CLI verbs and the HTTP admin API call these and print or send the
 * JSON they return, so `ember-portal list clients --json` and
 * `GET /v1/clients` answer the same thing (headscale's habit: CLI verbs
 * mirror the API one to one). Same thread as the store.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "store.h"

G_BEGIN_DECLS

/* What `list` knows: "sites", "clients", "gateways", "resources",
 * "groups", "policies", "tokens", "apikeys". */
extern const char *const ember_portal_list_kinds[];

/* A JSON array of `kind` objects (store-json.h shapes). */
JsonNode *ember_portal_op_list (EmberStore *store, const char *kind, GError **error);

/* {"changes": [...]} : the changes log after `after`, at most `limit`. */
JsonNode *ember_portal_op_log (EmberStore *store, gint64 after, guint limit, GError **error);

/* {"dry_run": bool, "changes": ["+ site home", ...]} for the policy file
 * text `data`; `name` stands for it in errors. */
JsonNode *ember_portal_op_apply (EmberStore *store, const char *data, gsize len,
                                 const char *name, gboolean dry_run, const char *actor,
                                 GError **error);

/* The token object plus "token": the secret, shown this once. */
JsonNode *ember_portal_op_token_create (EmberStore *store, EmberStoreDeviceKind kind,
                                        const char *name, const char *site, gint64 expires_at,
                                        const char *actor, GError **error);
/* The token object after revocation. */
JsonNode *ember_portal_op_token_revoke (EmberStore *store, const char *id, const char *actor,
                                        GError **error);
/* Deletes a client or gateway with its tokens (revoked first, so their
 * sessions close); {"deleted": NAME, "kind": ...}. */
JsonNode *ember_portal_op_device_delete (EmberStore *store, EmberStoreDeviceKind kind,
                                         const char *name, const char *actor, GError **error);
/* The key object plus "key": the secret, shown this once. */
JsonNode *ember_portal_op_apikey_create (EmberStore *store, const char *name, gint64 expires_at,
                                         const char *actor, GError **error);
JsonNode *ember_portal_op_apikey_revoke (EmberStore *store, const char *name, const char *actor,
                                         GError **error);

/* Wipes the secret member ("token" or "key") of an op's result before
 * it is freed. */
void ember_portal_op_wipe_secret (JsonNode *result);

/* "30d", "12h", "90m", "45s" (or a bare number of seconds) -> seconds;
 * FALSE on anything else or on zero. */
gboolean ember_portal_parse_duration (const char *text, gint64 *seconds);

G_END_DECLS
