/* portal/reader — strict, path-tracking reads from a json-glib tree
 * (private to the codec).
 *
 * A Reader carries the JSON path of the value being read ("payload",
 * "payload.resources[2].filters[0]") so every error names where it is.
 * Each read_* fetches one member of an object, checks its JSON type and
 * the protocol's rule for it, and converts it; on failure it sets the
 * error (EMBER_PORTAL_ERROR_INVALID_PAYLOAD, "path: what was expected")
 * and returns FALSE. Any thread.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include "portal/codec.h"

G_BEGIN_DECLS

typedef struct {
  GString *path;
  GError **error;
} Reader;

void reader_init (Reader *r, const char *root, GError **error);
void reader_finish (Reader *r);

/* Path bookkeeping: push returns a mark that pop restores. */
gsize reader_push_member (Reader *r, const char *name);
gsize reader_push_index (Reader *r, guint index);
void reader_pop (Reader *r, gsize mark);
gboolean reader_fail (Reader *r, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

/* `node` must be an object whose members all appear in `allowed`
 * (NULL-terminated). */
gboolean reader_object (Reader *r, JsonNode *node, const char *const *allowed, JsonObject **out);

/* Members. `required` FALSE: absence leaves the output untouched and
 * *present (when given) FALSE. */
gboolean read_member_object (Reader *r, JsonObject *obj, const char *name,
                             const char *const *allowed, JsonObject **out);
gboolean read_member_array (Reader *r, JsonObject *obj, const char *name, gboolean required,
                            guint min, guint max, JsonArray **out);
gboolean read_string (Reader *r, JsonObject *obj, const char *name, gboolean required, gsize max,
                      char **out);
gboolean read_id (Reader *r, JsonObject *obj, const char *name, EmberPortalId *out);
gboolean read_key (Reader *r, JsonObject *obj, const char *name, EmberPortalKey *out);
gboolean read_ip (Reader *r, JsonObject *obj, const char *name, EmberAddrFamily family,
                  EmberAddr *out);
gboolean read_endpoint (Reader *r, JsonObject *obj, const char *name, EmberAddrFamily family,
                        EmberAddr *out, gboolean *present);
/* Unix seconds, 1..2^53. */
gboolean read_time (Reader *r, JsonObject *obj, const char *name, gint64 *out);
/* One of `names` (n of them); *out is its index. */
gboolean read_enum (Reader *r, JsonObject *obj, const char *name, const char *const *names,
                    guint n, guint *out);
gboolean read_tunnel (Reader *r, JsonObject *obj, const char *name,
                      EmberPortalTunnelAddresses *out);
gboolean read_ice_credentials (Reader *r, JsonObject *obj, const char *name,
                               EmberPortalIceCredentials *out);
gboolean read_id_array (Reader *r, JsonObject *obj, const char *name, guint min, guint max,
                        EmberPortalId **out, guint *n_out);
gboolean read_candidates (Reader *r, JsonObject *obj, const char *name,
                          EmberIceCandidate **out, guint *n_out);

G_END_DECLS
