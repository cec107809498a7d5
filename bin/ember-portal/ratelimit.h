/* ember-portal/ratelimit — token buckets per source address, for
 * WebSocket upgrades (a flood of joins) and failed logins (guessing).
 *
 * Each key (the peer's IP address as text) holds `burst` tokens that
 * refill at `rate` per second. The table is bounded: when it is full,
 * buckets that have refilled completely are dropped (they carry no
 * information), and if that frees nothing a new key is refused, so a
 * flood from many addresses costs bounded memory and fails closed.
 * Time is passed in; no clock, no I/O. One thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EmberPortalRateLimit EmberPortalRateLimit;

EmberPortalRateLimit *ember_portal_rate_limit_new (double rate_per_s, double burst,
                                                   guint max_keys);
void ember_portal_rate_limit_free (EmberPortalRateLimit *rl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPortalRateLimit, ember_portal_rate_limit_free)

/* Takes one token from `key`'s bucket: FALSE when none is left. */
gboolean ember_portal_rate_limit_take (EmberPortalRateLimit *rl, const char *key, gint64 now_us);
/* Whether a token is left, without taking it. */
gboolean ember_portal_rate_limit_check (EmberPortalRateLimit *rl, const char *key, gint64 now_us);
guint ember_portal_rate_limit_size (const EmberPortalRateLimit *rl);

G_END_DECLS
