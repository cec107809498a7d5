/* store-authorizations — what `serve` handed out and must still know after
 * a restart: the flows it authorized and each device's relay credential
 * expiry (store.h). */
#define G_LOG_DOMAIN "ember-portal-store"

#include "store-private.h"

#include <string.h>

static void
wipe_free (char *secret)
{
  if (secret != NULL)
    explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

void
ember_store_authorization_free (EmberStoreAuthorization *a)
{
  if (a == NULL)
    return;
  g_free (a->client_id);
  g_free (a->resource_id);
  g_free (a->gateway_id);
  g_free (a->client_public_key);
  wipe_free (a->preshared_key);
  g_free (a->client_ufrag);
  wipe_free (a->client_pwd);
  g_free (a->gateway_ufrag);
  wipe_free (a->gateway_pwd);
  g_free (a->source);
  g_free (a->token_id);
  g_free (a);
}

static gboolean
check_member (const char *value, const char *what, GError **error)
{
  if (value != NULL && *value != '\0')
    return TRUE;
  g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
               "authorization: %s: expected a value", what);
  return FALSE;
}

gboolean
ember_store_authorization_put (EmberStore *store, const EmberStoreAuthorization *a,
                               GError **error)
{
  g_return_val_if_fail (store != NULL && a != NULL, FALSE);

  if (!check_member (a->client_id, "client_id", error)
      || !check_member (a->resource_id, "resource_id", error)
      || !check_member (a->gateway_id, "gateway_id", error)
      || !check_member (a->client_public_key, "client_public_key", error)
      || !check_member (a->preshared_key, "preshared_key", error)
      || !check_member (a->client_ufrag, "client_ufrag", error)
      || !check_member (a->client_pwd, "client_pwd", error)
      || !check_member (a->gateway_ufrag, "gateway_ufrag", error)
      || !check_member (a->gateway_pwd, "gateway_pwd", error))
    return FALSE;
  if (a->expires_at <= 0)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "authorization: expires_at: expected Unix seconds above 0, got %" G_GINT64_FORMAT,
                   a->expires_at);
      return FALSE;
    }
  /* A foreign key failure (the client, resource or gateway is gone)
   * reads as INVALID (store-sqlite.c). */
  return store_query (
    store,
    "INSERT INTO authorizations (client_id, resource_id, gateway_id, client_public_key,"
    " preshared_key, client_ufrag, client_pwd, gateway_ufrag, gateway_pwd, source, token_id,"
    " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (client_id, resource_id, gateway_id) DO UPDATE SET"
    " client_public_key = excluded.client_public_key, preshared_key = excluded.preshared_key,"
    " client_ufrag = excluded.client_ufrag, client_pwd = excluded.client_pwd,"
    " gateway_ufrag = excluded.gateway_ufrag, gateway_pwd = excluded.gateway_pwd,"
    " source = excluded.source, token_id = excluded.token_id, created_at = excluded.created_at,"
    " expires_at = excluded.expires_at",
    STORE_PARAMS (EMBER_STORE_TEXT (a->client_id), EMBER_STORE_TEXT (a->resource_id),
                  EMBER_STORE_TEXT (a->gateway_id), EMBER_STORE_TEXT (a->client_public_key),
                  EMBER_STORE_TEXT (a->preshared_key), EMBER_STORE_TEXT (a->client_ufrag),
                  EMBER_STORE_TEXT (a->client_pwd), EMBER_STORE_TEXT (a->gateway_ufrag),
                  EMBER_STORE_TEXT (a->gateway_pwd), EMBER_STORE_TEXT (a->source),
                  EMBER_STORE_TEXT (a->token_id), EMBER_STORE_INT (store_now ()),
                  EMBER_STORE_INT (a->expires_at)),
    NULL, NULL, NULL, error);
}

gboolean
ember_store_authorization_delete (EmberStore *store, const char *client_id,
                                  const char *resource_id, const char *gateway_id,
                                  GError **error)
{
  g_return_val_if_fail (store != NULL && client_id != NULL && resource_id != NULL
                          && gateway_id != NULL,
                        FALSE);
  return store_query (store,
                      "DELETE FROM authorizations"
                      " WHERE client_id = ? AND resource_id = ? AND gateway_id = ?",
                      STORE_PARAMS (EMBER_STORE_TEXT (client_id), EMBER_STORE_TEXT (resource_id),
                                    EMBER_STORE_TEXT (gateway_id)),
                      NULL, NULL, NULL, error);
}

gboolean
ember_store_authorizations_expire (EmberStore *store, gint64 now, gint64 *n_deleted,
                                   GError **error)
{
  gint64 n = 0;

  g_return_val_if_fail (store != NULL, FALSE);
  if (!store_query (store, "DELETE FROM authorizations WHERE expires_at <= ?",
                    STORE_PARAMS (EMBER_STORE_INT (now)), NULL, NULL, &n, error))
    return FALSE;
  if (n_deleted != NULL)
    *n_deleted = n;
  return TRUE;
}

static gpointer
authorization_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStoreAuthorization *a = g_new0 (EmberStoreAuthorization, 1);

  a->client_id = g_strdup (store_text (s, row, 0));
  a->resource_id = g_strdup (store_text (s, row, 1));
  a->gateway_id = g_strdup (store_text (s, row, 2));
  a->client_public_key = g_strdup (store_text (s, row, 3));
  a->preshared_key = g_strdup (store_text (s, row, 4));
  a->client_ufrag = g_strdup (store_text (s, row, 5));
  a->client_pwd = g_strdup (store_text (s, row, 6));
  a->gateway_ufrag = g_strdup (store_text (s, row, 7));
  a->gateway_pwd = g_strdup (store_text (s, row, 8));
  a->source = g_strdup (store_text (s, row, 9));
  a->created_at = store_int (s, row, 10);
  a->expires_at = store_int (s, row, 11);
  a->token_id = g_strdup (store_text (s, row, 12));
  return a;
}

GPtrArray *
ember_store_list_authorizations (EmberStore *store, gint64 now, GError **error)
{
  g_return_val_if_fail (store != NULL, NULL);
  return store_query_list (store,
                           "SELECT client_id, resource_id, gateway_id, client_public_key,"
                           " preshared_key, client_ufrag, client_pwd, gateway_ufrag, gateway_pwd,"
                           " source, created_at, expires_at, token_id FROM authorizations"
                           " WHERE expires_at > ? ORDER BY created_at, client_id, resource_id",
                           STORE_PARAMS (EMBER_STORE_INT (now)), authorization_from_row,
                           (GDestroyNotify) ember_store_authorization_free, error);
}

/* ---- relay credentials ---- */

gboolean
ember_store_relay_expiry_get (EmberStore *store, const char *device_id, gint64 *expires_at,
                              GError **error)
{
  gboolean found = FALSE;

  g_return_val_if_fail (store != NULL && device_id != NULL && expires_at != NULL, FALSE);
  if (!store_query_int (store, "SELECT expires_at FROM relay_credentials WHERE device_id = ?",
                        STORE_PARAMS (EMBER_STORE_TEXT (device_id)), expires_at, &found, error))
    return FALSE;
  if (!found)
    *expires_at = 0;
  return TRUE;
}

gboolean
ember_store_relay_expiry_set (EmberStore *store, const char *device_id, gint64 expires_at,
                              gint64 now, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (store != NULL && device_id != NULL, FALSE);
  if (!store_tx_begin (store, error))
    return FALSE;
  ok = store_query (store, "DELETE FROM relay_credentials WHERE expires_at <= ?",
                    STORE_PARAMS (EMBER_STORE_INT (now)), NULL, NULL, NULL, error)
       && store_query (store,
                       "INSERT INTO relay_credentials (device_id, expires_at) VALUES (?, ?)"
                       " ON CONFLICT (device_id) DO UPDATE SET expires_at = excluded.expires_at",
                       STORE_PARAMS (EMBER_STORE_TEXT (device_id), EMBER_STORE_INT (expires_at)),
                       NULL, NULL, NULL, error);
  return store_tx_end (store, ok, error);
}
