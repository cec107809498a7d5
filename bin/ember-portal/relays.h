/* ember-portal/relays — the relays named in the configuration: their
 * time-limited credentials and whether each one is up.
 *
 * Credentials follow the "TURN REST API" scheme ember-relay --secret
 * verifies (plugins/relay/server/auth.c): username "<unix expiry>:<id>",
 * password base64(HMAC-SHA1(secret, username)); the portal and the relay
 * share only the secret file, never call each other.
 *
 * Liveness: every probe interval each address of each relay gets a STUN
 * Binding request (core/stun's codec) from one UDP socket per address
 * family. A relay is up while one of its addresses answered within the
 * last 2.5 intervals (so two lost probes in a row are tolerated, the
 * third is not) and comes back at the first answer; each transition is
 * reported through the callback, from the main loop. Main thread only.
 */
#pragma once

#include "serve-config.h"

G_BEGIN_DECLS

typedef struct _EmberPortalRelays EmberPortalRelays;

/* `down`, `up`: indices of the relays that changed, each ended by -1. */
typedef void (*EmberPortalRelaysChangedFunc) (gpointer user_data, const gint *down,
                                              const gint *up);

/* The relays of `config` (it must outlive the returned object). Starts
 * probing at once when there is at least one. */
EmberPortalRelays *ember_portal_relays_new (const EmberPortalServeConfig *config,
                                            EmberPortalRelaysChangedFunc changed,
                                            gpointer user_data, GError **error);
void ember_portal_relays_free (EmberPortalRelays *relays);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPortalRelays, ember_portal_relays_free)

guint ember_portal_relays_count (const EmberPortalRelays *relays);
guint ember_portal_relays_up_count (const EmberPortalRelays *relays);
gboolean ember_portal_relays_is_up (const EmberPortalRelays *relays, guint i);
const EmberPortalRelayConfig *ember_portal_relays_get (const EmberPortalRelays *relays, guint i);

/* Credentials for device `id` valid until `expires_unix` (seconds). */
void ember_portal_relay_credentials (GBytes *secret, gint64 expires_unix, const char *id,
                                     char **username, char **password);

G_END_DECLS
