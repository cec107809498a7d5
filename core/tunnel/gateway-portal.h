/* tunnel/gateway-portal — the portal's gateway-channel messages applied to
 * a gateway policy (gateway-policy.h).
 *
 * Turns the codec's values (portal/messages.h) into the policy's terms:
 * a resource's CIDR and filters ("80,8000-8100" → one range each, no
 * ports → every port), the client's id, key and tunnel addresses, and the
 * portal's wall-clock expires_at (Unix seconds) into a deadline on the
 * caller's monotonic clock. The caller passes both clocks' readings for
 * the same instant (`now`, `now_unix_us`): the policy reads neither.
 * Control path only; same thread rules as the policy.
 */
#pragma once

#include "portal/messages.h"
#include "tunnel/gateway-policy.h"

G_BEGIN_DECLS

/* The deadline on the `now` clock for the wall-clock second expires_at,
 * given that `now` is `now_unix_us` µs after the Unix epoch. Saturates at
 * G_MAXINT64; a time already past gives a deadline <= now. */
gint64 ember_gateway_deadline_from_unix (gint64 now, gint64 now_unix_us, gint64 expires_at);

/* authorize_flow: queues AUTHORIZATION_CREATED with the flow's ref (the
 * gateway answers authorization_created). The ICE credentials are the
 * connection's business (gateway.h), not the policy's. */
gboolean ember_gateway_policy_authorize_flow (EmberGatewayPolicy *policy, gint64 now,
                                              gint64 now_unix_us,
                                              const EmberPortalAuthorizeFlow *flow,
                                              GError **error);
/* init: the listed authorizations, and only those, stay. An entry the
 * policy refuses is skipped (its error is the first one returned, after
 * the rest were applied): one bad entry must not end every flow. */
gboolean ember_gateway_policy_apply_init (EmberGatewayPolicy *policy, gint64 now,
                                          gint64 now_unix_us,
                                          const EmberPortalGatewayInit *init, GError **error);
gboolean ember_gateway_policy_reject_access (EmberGatewayPolicy *policy, gint64 now,
                                             const EmberPortalRejectAccess *reject,
                                             GError **error);
gboolean ember_gateway_policy_resource_updated (EmberGatewayPolicy *policy, gint64 now,
                                                const EmberPortalResource *resource,
                                                GError **error);

G_END_DECLS
