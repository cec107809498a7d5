/* store-secret — bearer secrets: generated from the CSPRNG, stored hashed,
 * compared in constant time. */
#define G_LOG_DOMAIN "ember-portal-store"

#include "store-private.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/memops.h>
#include <string.h>

guint store_hash_equal_calls;

static char *
base64url (const guint8 *data, gsize len)
{
  char *s = g_base64_encode (data, len);
  char *w = s;

  for (char *r = s; *r; r++)
    {
      if (*r == '=')
        continue;
      *w++ = *r == '+' ? '-' : *r == '/' ? '_' : *r;
    }
  *w = '\0';
  return s;
}

static char *
sha256_hex (const char *text)
{
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
}

char *
store_secret_new (const char *prefix, char **selector, char **hash, GError **error)
{
  guint8 sel[STORE_SELECTOR_BYTES], secret[STORE_SECRET_BYTES];
  g_autofree char *sel_hex = NULL;
  char *encoded, *text;

  if (gnutls_rnd (GNUTLS_RND_RANDOM, sel, sizeof sel) != 0 ||
      gnutls_rnd (GNUTLS_RND_KEY, secret, sizeof secret) != 0)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_BACKEND,
                   "the random number generator failed");
      return NULL;
    }
  sel_hex = g_malloc (2 * sizeof sel + 1);
  for (gsize i = 0; i < sizeof sel; i++)
    g_snprintf (sel_hex + 2 * i, 3, "%02x", sel[i]);
  encoded = base64url (secret, sizeof secret);
  gnutls_memset (secret, 0, sizeof secret);
  text = g_strconcat (prefix, sel_hex, "_", encoded, NULL);
  gnutls_memset (encoded, 0, strlen (encoded));
  g_free (encoded);
  *hash = sha256_hex (text);
  *selector = g_steal_pointer (&sel_hex);
  return text;
}

gboolean
store_secret_parse (const char *prefix, const char *text, char **selector, char **hash)
{
  gsize plen = strlen (prefix), len;
  const char *p;

  if (text == NULL || !g_str_has_prefix (text, prefix))
    return FALSE;
  len = strlen (text);
  /* 43 = base64 of 32 bytes without padding */
  if (len != plen + 2 * STORE_SELECTOR_BYTES + 1 + 43)
    return FALSE;
  p = text + plen;
  for (guint i = 0; i < 2 * STORE_SELECTOR_BYTES; i++)
    if (!g_ascii_isxdigit (p[i]) || g_ascii_isupper (p[i]))
      return FALSE;
  if (p[2 * STORE_SELECTOR_BYTES] != '_')
    return FALSE;
  for (const char *q = p + 2 * STORE_SELECTOR_BYTES + 1; *q; q++)
    if (!g_ascii_isalnum (*q) && *q != '-' && *q != '_')
      return FALSE;
  *selector = g_strndup (p, 2 * STORE_SELECTOR_BYTES);
  *hash = sha256_hex (text);
  return TRUE;
}

gboolean
store_hash_equal (const char *a, const char *b)
{
  gsize la = a != NULL ? strlen (a) : 0, lb = b != NULL ? strlen (b) : 0;

  store_hash_equal_calls++;
  if (la != lb || la == 0)
    return FALSE;
  return memeql_sec (a, b, la) != 0;
}

void
ember_store_secret_free (char *secret)
{
  if (secret == NULL)
    return;
  gnutls_memset (secret, 0, strlen (secret));
  g_free (secret);
}
