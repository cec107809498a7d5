/* net/token-bucket — one token bucket: `burst` tokens that refill at
 * `rate` per second, for rate-limiting answers and log lines.
 *
 * Time is passed in (µs on any monotonic clock); a clock that steps back
 * refills nothing. No allocation; one thread at a time.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double tokens;
  double rate;   /* tokens per second */
  double burst;  /* at most this many */
  gint64 refilled;
} EmberTokenBucket;

/* Starts full at `now`. */
void ember_token_bucket_init (EmberTokenBucket *bucket, double rate, double burst, gint64 now);
/* Refills for the time since the last call; TRUE when a whole token is
 * there (ember_token_bucket_spend() then takes it). */
gboolean ember_token_bucket_ready (EmberTokenBucket *bucket, gint64 now);
void ember_token_bucket_spend (EmberTokenBucket *bucket);

G_END_DECLS
