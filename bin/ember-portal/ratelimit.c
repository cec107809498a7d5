/* ember-portal/ratelimit.c — see ratelimit.h. */
#include "ratelimit.h"

typedef struct {
  double tokens;
  gint64 last_us;
} Bucket;

struct _EmberPortalRateLimit {
  double rate, burst;
  guint max_keys;
  GHashTable *buckets; /* char * -> Bucket */
};

EmberPortalRateLimit *
ember_portal_rate_limit_new (double rate_per_s, double burst, guint max_keys)
{
  g_return_val_if_fail (rate_per_s > 0 && burst >= 1 && max_keys > 0, NULL);
  EmberPortalRateLimit *rl = g_new0 (EmberPortalRateLimit, 1);
  rl->rate = rate_per_s;
  rl->burst = burst;
  rl->max_keys = max_keys;
  rl->buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return rl;
}

void
ember_portal_rate_limit_free (EmberPortalRateLimit *rl)
{
  if (rl == NULL)
    return;
  g_hash_table_unref (rl->buckets);
  g_free (rl);
}

guint
ember_portal_rate_limit_size (const EmberPortalRateLimit *rl)
{
  return g_hash_table_size (rl->buckets);
}

static void
refill (const EmberPortalRateLimit *rl, Bucket *b, gint64 now_us)
{
  /* A clock that went back refills nothing rather than going negative. */
  gint64 elapsed = MAX (0, now_us - b->last_us);
  b->tokens = MIN (rl->burst, b->tokens + (double) elapsed * rl->rate / G_USEC_PER_SEC);
  b->last_us = MAX (b->last_us, now_us);
}

static gboolean
is_full (gpointer key, gpointer value, gpointer user_data)
{
  (void) key;
  const gint64 *now = ((gpointer *) user_data)[1];
  EmberPortalRateLimit *rl = ((gpointer *) user_data)[0];
  Bucket *b = value;
  refill (rl, b, *now);
  return b->tokens >= rl->burst;
}

static Bucket *
lookup (EmberPortalRateLimit *rl, const char *key, gint64 now_us, gboolean create)
{
  Bucket *b = g_hash_table_lookup (rl->buckets, key);
  if (b != NULL)
    {
      refill (rl, b, now_us);
      return b;
    }
  if (!create)
    return NULL;
  if (g_hash_table_size (rl->buckets) >= rl->max_keys)
    {
      gpointer data[2] = { rl, &now_us };
      g_hash_table_foreach_remove (rl->buckets, is_full, data);
      if (g_hash_table_size (rl->buckets) >= rl->max_keys)
        return NULL;
    }
  b = g_new (Bucket, 1);
  b->tokens = rl->burst;
  b->last_us = now_us;
  g_hash_table_insert (rl->buckets, g_strdup (key), b);
  return b;
}

gboolean
ember_portal_rate_limit_take (EmberPortalRateLimit *rl, const char *key, gint64 now_us)
{
  Bucket *b = lookup (rl, key, now_us, TRUE);
  if (b == NULL || b->tokens < 1)
    return FALSE;
  b->tokens -= 1;
  return TRUE;
}

gboolean
ember_portal_rate_limit_check (EmberPortalRateLimit *rl, const char *key, gint64 now_us)
{
  Bucket *b = lookup (rl, key, now_us, FALSE);
  if (b != NULL)
    return b->tokens >= 1;
  return g_hash_table_size (rl->buckets) < rl->max_keys || lookup (rl, key, now_us, TRUE) != NULL;
}
