/* relay/server/auth.c — long-term credentials (RFC 8489 §9.2), stateless
 * nonces and the per-source rate limit on unauthenticated requests.
 *
 * Usernames are either static (configured name and password) or
 * time-limited, shared with the control plane without any call between
 * them (the "TURN REST API" scheme coturn also implements):
 *   username = "<unix expiry>:<id>", password = base64(HMAC-SHA1(secret, username)).
 *
 * Nonces carry their own issue time and an HMAC over it and the client's
 * address under a random key, so the server stores nothing per nonce and
 * a nonce cannot be replayed from another address (RFC 8489 §9.2.2 lets
 * the server choose the nonce's structure).
 */
#include "server-private.h"

#include <gio/gio.h>
#include <gnutls/crypto.h>

static void
nonce_mac (EmberRelayServer *s, guint64 issued, const EmberAddr *client, guint8 out[32])
{
  guint8 in[8 + 1 + 16 + 2];
  for (int i = 0; i < 8; i++)
    in[i] = (guint8) (issued >> (56 - 8 * i));
  in[8] = client->family;
  memcpy (in + 9, client->addr, 16);
  in[25] = (guint8) (client->port >> 8);
  in[26] = (guint8) client->port;
  if (gnutls_hmac_fast (GNUTLS_MAC_SHA256, s->nonce_key, sizeof s->nonce_key, in, sizeof in, out) < 0)
    memset (out, 0, 32);
}

static const char hexdigits[] = "0123456789abcdef";

void
relay_nonce_make (EmberRelayServer *s, gint64 now, const EmberAddr *client,
                  char out[RELAY_NONCE_LEN + 1])
{
  guint64 issued = (guint64) now;
  guint8 mac[32];
  nonce_mac (s, issued, client, mac);
  for (int i = 0; i < 8; i++)
    {
      guint8 b = (guint8) (issued >> (56 - 8 * i));
      out[2 * i] = hexdigits[b >> 4];
      out[2 * i + 1] = hexdigits[b & 15];
      out[16 + 2 * i] = hexdigits[mac[i] >> 4];
      out[16 + 2 * i + 1] = hexdigits[mac[i] & 15];
    }
  out[RELAY_NONCE_LEN] = '\0';
}

gboolean
relay_nonce_valid (EmberRelayServer *s, gint64 now, const EmberAddr *client, const guint8 *nonce,
                   gsize len)
{
  if (len != RELAY_NONCE_LEN)
    return FALSE;
  guint64 issued = 0;
  for (int i = 0; i < 16; i++)
    {
      int v = g_ascii_xdigit_value ((char) nonce[i]);
      if (v < 0)
        return FALSE;
      issued = issued << 4 | (guint64) v;
    }
  char expect[RELAY_NONCE_LEN + 1];
  relay_nonce_make (s, (gint64) issued, client, expect);
  if (!ember_stun_equal_ct ((const guint8 *) expect, nonce, RELAY_NONCE_LEN))
    return FALSE;
  /* Issued in the future (a forged or foreign clock) or too long ago: stale. */
  return (gint64) issued <= now && now - (gint64) issued < s->config.nonce_lifetime_us;
}

void
relay_user_free (gpointer p)
{
  RelayUser *u = p;
  gnutls_memset (u->password, 0, strlen (u->password));
  g_free (u->password);
  gnutls_memset (u->key, 0, sizeof u->key);
  g_free (u);
}

gboolean
ember_relay_server_add_user (EmberRelayServer *s, const char *name, const char *password,
                             GError **error)
{
  if (name[0] == '\0' || strlen (name) > EMBER_STUN_USERNAME_MAX || strchr (name, ':') != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "user \"%s\": a name is 1..%d bytes without ':'", name, EMBER_STUN_USERNAME_MAX);
      return FALSE;
    }
  RelayUser *u = g_new0 (RelayUser, 1);
  u->password = g_strdup (password);
  ember_stun_long_term_key_md5 ((const guint8 *) name, strlen (name), (const guint8 *) s->realm,
                                strlen (s->realm), (const guint8 *) password, strlen (password),
                                u->key);
  g_hash_table_replace (s->users, g_strdup (name), u);
  return TRUE;
}

gboolean
relay_credentials_key (EmberRelayServer *s, const guint8 *username, gsize len,
                       guint8 key[RELAY_KEY_LEN])
{
  char name[EMBER_STUN_USERNAME_MAX + 1];
  if (len == 0 || len > EMBER_STUN_USERNAME_MAX || memchr (username, '\0', len) != NULL)
    return FALSE;
  memcpy (name, username, len);
  name[len] = '\0';

  RelayUser *u = g_hash_table_lookup (s->users, name);
  if (u != NULL)
    {
      memcpy (key, u->key, RELAY_KEY_LEN);
      return TRUE;
    }
  if (s->secret == NULL)
    return FALSE;

  /* "<expiry>[:<id>]": the expiry is decimal unix seconds. */
  gint64 expiry = 0;
  gsize i = 0;
  for (; i < len && g_ascii_isdigit (name[i]); i++)
    {
      if (expiry > (G_MAXINT64 - 9) / 10)
        return FALSE;
      expiry = expiry * 10 + (name[i] - '0');
    }
  if (i == 0 || (i < len && name[i] != ':'))
    return FALSE;
  if (expiry <= s->unix_time)
    return FALSE;

  guint8 mac[20];
  if (gnutls_hmac_fast (GNUTLS_MAC_SHA1, s->secret, s->secret_len, name, len, mac) < 0)
    return FALSE;
  /* base64 of 20 bytes is 28 characters. */
  char password[32];
  gint state = 0, save = 0;
  gsize n = g_base64_encode_step (mac, sizeof mac, FALSE, password, &state, &save);
  n += g_base64_encode_close (FALSE, password + n, &state, &save);
  ember_stun_long_term_key_md5 ((const guint8 *) name, len, (const guint8 *) s->realm,
                                strlen (s->realm), (const guint8 *) password, n, key);
  gnutls_memset (mac, 0, sizeof mac);
  gnutls_memset (password, 0, sizeof password);
  return TRUE;
}

/* ---- rate limit ----------------------------------------------------- */

guint relay_bucket_hash (gconstpointer p);
gboolean relay_bucket_equal (gconstpointer a, gconstpointer b);

guint
relay_bucket_hash (gconstpointer p)
{
  const RelayBucket *b = p;
  guint h = b->family;
  for (int i = 0; i < 16; i++)
    h = h * 31 + b->addr[i];
  return h;
}

gboolean
relay_bucket_equal (gconstpointer a, gconstpointer b)
{
  const RelayBucket *x = a, *y = b;
  return x->family == y->family && memcmp (x->addr, y->addr, 16) == 0;
}

static gint64
refill (const EmberRelayServer *s, const RelayBucket *b, gint64 now)
{
  gint64 cap = (gint64) s->config.unauth_burst * 1000;
  gint64 elapsed = MAX (0, now - b->last);
  /* rate tokens per second = rate * 1000 milli-tokens per 1e6 us. */
  gint64 add = elapsed >= G_MAXINT64 / 1000 / MAX (1, (gint64) s->config.unauth_rate)
                 ? cap
                 : elapsed * (gint64) s->config.unauth_rate / 1000;
  return MIN (cap, b->tokens_milli + add);
}

gboolean
relay_rate_allow (EmberRelayServer *s, gint64 now, const EmberAddr *from)
{
  RelayBucket key = { 0 };
  key.family = from->family;
  memcpy (key.addr, from->addr, relay_addr_len (from));
  RelayBucket *b = g_hash_table_lookup (s->buckets, &key);
  if (b == NULL)
    {
      if (g_hash_table_size (s->buckets) >= RELAY_MAX_BUCKETS)
        {
          s->stats.rate_limited++;
          return FALSE;
        }
      b = g_new (RelayBucket, 1);
      *b = key;
      b->tokens_milli = (gint64) s->config.unauth_burst * 1000;
      b->last = now;
      g_hash_table_add (s->buckets, b);
      /* Come back to forget it once it could have refilled. */
      relay_note_deadline (s, now + (gint64) s->config.unauth_burst * G_USEC_PER_SEC /
                                      s->config.unauth_rate + G_USEC_PER_SEC);
    }
  b->tokens_milli = refill (s, b, now);
  b->last = now;
  if (b->tokens_milli < 1000)
    {
      s->stats.rate_limited++;
      return FALSE;
    }
  b->tokens_milli -= 1000;
  return TRUE;
}

void
relay_rate_expire (EmberRelayServer *s, gint64 now)
{
  /* A full bucket holds no information: forget it. */
  GHashTableIter it;
  gpointer k;
  gint64 cap = (gint64) s->config.unauth_burst * 1000;
  g_hash_table_iter_init (&it, s->buckets);
  while (g_hash_table_iter_next (&it, &k, NULL))
    if (refill (s, k, now) >= cap)
      g_hash_table_iter_remove (&it);
}
