/* store-apikeys — the admin API's bearer keys, stored like tokens. */
#define G_LOG_DOMAIN "ember-portal-store"

#include "store-json.h"
#include "store-private.h"

void
ember_store_apikey_free (EmberStoreApiKey *k)
{
  if (k == NULL)
    return;
  g_free (k->id);
  g_free (k->name);
  g_free (k);
}

#define APIKEY_SELECT "SELECT id, name, created_at, expires_at, revoked_at, hash FROM api_keys"

static gpointer
apikey_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStoreApiKey *k = g_new0 (EmberStoreApiKey, 1);

  k->id = g_strdup (store_text (s, row, 0));
  k->name = g_strdup (store_text (s, row, 1));
  k->created_at = store_int (s, row, 2);
  k->expires_at = store_int (s, row, 3);
  k->revoked_at = store_int (s, row, 4);
  return k;
}

GPtrArray *
ember_store_list_apikeys (EmberStore *store, GError **error)
{
  return store_query_list (store, APIKEY_SELECT " ORDER BY name", NULL, 0, apikey_from_row,
                           (GDestroyNotify) ember_store_apikey_free, error);
}

static EmberStoreApiKey *
apikey_by_name (EmberStore *store, const char *name, GError **error)
{
  g_autoptr (GPtrArray) rows = store_query_list (store, APIKEY_SELECT " WHERE name = ?",
                                                 STORE_PARAMS (EMBER_STORE_TEXT (name)),
                                                 apikey_from_row,
                                                 (GDestroyNotify) ember_store_apikey_free, error);
  if (rows == NULL)
    return NULL;
  if (rows->len == 0)
    {
      store_not_found (error, "API key", name);
      return NULL;
    }
  return g_ptr_array_steal_index (rows, 0);
}

char *
ember_store_apikey_create (EmberStore *store, const char *name, gint64 expires_at,
                           const char *actor, EmberStoreApiKey **info, GError **error)
{
  g_autofree char *id = store_new_id (), *selector = NULL, *hash = NULL, *detail = NULL;
  g_autoptr (EmberStoreApiKey) key = NULL;
  char *secret = NULL;
  gboolean ok;

  if (!store_check_name ("name", name, error))
    return NULL;
  if (expires_at < 0)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "expires_at: expected a time after 1970 or 0 (never)");
      return NULL;
    }
  if (!store_tx_begin (store, error))
    return NULL;
  ok = (secret = store_secret_new (STORE_APIKEY_PREFIX, &selector, &hash, error)) != NULL &&
       store_query (store,
                    "INSERT INTO api_keys (id, name, selector, hash, created_at, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (name),
                                  EMBER_STORE_TEXT (selector), EMBER_STORE_TEXT (hash),
                                  EMBER_STORE_INT (store_now ()), EMBER_STORE_INT (expires_at)),
                    NULL, NULL, NULL, error) &&
       (key = apikey_by_name (store, name, error)) != NULL;
  if (ok)
    {
      detail = ember_store_json_text (ember_store_apikey_to_json (key), FALSE);
      ok = store_change (store, actor, "created", "apikey", id, name, detail, error);
    }
  if (!store_tx_end (store, ok, error))
    {
      ember_store_secret_free (secret);
      return NULL;
    }
  if (info != NULL)
    *info = g_steal_pointer (&key);
  return secret;
}

typedef struct {
  EmberStore *store;
  EmberStoreApiKey *key;
  char *hash;
} KeyRow;

static void
key_row (const EmberStoreRow *row, gpointer data)
{
  KeyRow *kr = data;

  if (kr->key != NULL)
    return;
  kr->key = apikey_from_row (kr->store, row);
  kr->hash = g_strdup (store_text (kr->store, row, 5));
}

gboolean
ember_store_apikey_verify (EmberStore *store, const char *bearer, gint64 now,
                           EmberStoreTokenStatus *status, EmberStoreApiKey **info,
                           GError **error)
{
  g_autofree char *selector = NULL, *hash = NULL;
  KeyRow kr = { store, NULL, NULL };
  gboolean ok;

  *status = EMBER_STORE_TOKEN_UNKNOWN;
  if (info != NULL)
    *info = NULL;
  if (!store_secret_parse (STORE_APIKEY_PREFIX, bearer, &selector, &hash))
    return TRUE;
  ok = store_query (store, APIKEY_SELECT " WHERE selector = ?",
                    STORE_PARAMS (EMBER_STORE_TEXT (selector)), key_row, &kr, NULL, error);
  if (ok && kr.key != NULL && store_hash_equal (kr.hash, hash))
    {
      if (kr.key->revoked_at != 0)
        *status = EMBER_STORE_TOKEN_REVOKED;
      else if (kr.key->expires_at != 0 && now >= kr.key->expires_at)
        *status = EMBER_STORE_TOKEN_EXPIRED;
      else
        *status = EMBER_STORE_TOKEN_VALID;
      if (info != NULL)
        *info = g_steal_pointer (&kr.key);
    }
  ember_store_apikey_free (kr.key);
  g_free (kr.hash);
  return ok;
}

gboolean
ember_store_apikey_revoke (EmberStore *store, const char *name, const char *actor,
                           GError **error)
{
  g_autoptr (EmberStoreApiKey) key = NULL;
  gboolean ok;

  if (!store_tx_begin (store, error))
    return FALSE;
  ok = (key = apikey_by_name (store, name, error)) != NULL;
  if (ok && key->revoked_at == 0)
    ok = store_query (store, "UPDATE api_keys SET revoked_at = ? WHERE id = ?",
                      STORE_PARAMS (EMBER_STORE_INT (store_now ()), EMBER_STORE_TEXT (key->id)),
                      NULL, NULL, NULL, error) &&
         store_change (store, actor, "revoked", "apikey", key->id, name, NULL, error);
  return store_tx_end (store, ok, error);
}
