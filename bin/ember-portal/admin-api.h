/* admin-api — the HTTP JSON admin API, on the server `serve` listens with
 * on admin-listen.
 *
 * Every request carries `Authorization: Bearer KEY` (a key from
 * `ember-portal apikey create`, stored hashed like device tokens). The
 * operations are the CLI verbs' own (admin-ops.h), one to one:
 *
 *   GET    /v1/sites | clients | gateways | resources | groups | policies
 *          | tokens | apikeys                         list (a JSON array)
 *   GET    /v1/log?after=ID&limit=N                   log {"changes": [...]}
 *   POST   /v1/apply[?dry_run=true]   body: the policy file
 *                                     -> {"dry_run", "changes": [lines]}
 *   POST   /v1/tokens   {"kind": "client"|"gateway", "name", "site",
 *                        "expires_in": seconds}      -> 201, with "token"
 *   DELETE /v1/tokens/ID                             revoke
 *   POST   /v1/apikeys  {"name", "expires_in"}       -> 201, with "key"
 *   DELETE /v1/apikeys/NAME                          revoke
 *   DELETE /v1/clients/NAME, /v1/gateways/NAME       delete (tokens revoked)
 *
 * Errors are JSON {"error": {"code", "message"}} with 400 (bad request or
 * policy file: the message names the JSON path), 401 (key missing,
 * unknown, expired, revoked), 404, 405, 409, 413 and 500. Changes are
 * logged with the actor "api:KEY-NAME". Runs in the thread of the
 * server's main context, which must be the store's thread.
 */
#pragma once

#include <libsoup/soup.h>

#include "store.h"

G_BEGIN_DECLS

/* Called after a request changed the store (not after reads or dry
 * runs): the server fans the new changes out. */
typedef void (*EmberPortalAdminChanged) (gpointer user_data);

typedef struct _EmberPortalAdmin EmberPortalAdmin;

/* Adds the handlers of /v1 to `server`; `store` must outlive the
 * returned handle, which removes them when freed. */
EmberPortalAdmin *ember_portal_admin_attach (SoupServer *server, EmberStore *store,
                                             EmberPortalAdminChanged changed,
                                             gpointer user_data);
void ember_portal_admin_free (EmberPortalAdmin *admin);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPortalAdmin, ember_portal_admin_free)

G_END_DECLS
