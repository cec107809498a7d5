/* net/token-bucket — see token-bucket.h. */
#include "net/token-bucket.h"

void
ember_token_bucket_init (EmberTokenBucket *b, double rate, double burst, gint64 now)
{
  b->tokens = burst;
  b->rate = rate;
  b->burst = burst;
  b->refilled = now;
}

gboolean
ember_token_bucket_ready (EmberTokenBucket *b, gint64 now)
{
  if (now > b->refilled)
    {
      b->tokens = MIN (b->burst,
                       b->tokens + (double) (now - b->refilled) * b->rate / G_TIME_SPAN_SECOND);
      b->refilled = now;
    }
  return b->tokens >= 1.0;
}

void
ember_token_bucket_spend (EmberTokenBucket *b)
{
  b->tokens -= 1.0;
}
