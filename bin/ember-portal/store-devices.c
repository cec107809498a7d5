/* store-devices — clients, gateways, their tunnel addresses and tokens,
 * and the admin API keys. */
#define G_LOG_DOMAIN "ember-portal-store"

#include "store-json.h"
#include "store-private.h"

/* 100.64.0.0/11 and fd00:2021:1111::/107 both hold 2^21 addresses; index
 * 0 and the last one are left out (the IPv4 network and broadcast). */
#define TUNNEL_INDEX_MAX ((1 << 21) - 2)
#define TUNNEL_V4_BASE 0x64400000u

const char *
ember_store_device_kind_name (EmberStoreDeviceKind kind)
{
  return kind == EMBER_STORE_DEVICE_GATEWAY ? "gateway" : "client";
}

const char *
ember_store_token_status_name (EmberStoreTokenStatus status)
{
  switch (status)
    {
    case EMBER_STORE_TOKEN_VALID:
      return "valid";
    case EMBER_STORE_TOKEN_EXPIRED:
      return "expired";
    case EMBER_STORE_TOKEN_REVOKED:
      return "revoked";
    case EMBER_STORE_TOKEN_UNKNOWN:
    default:
      return "unknown";
    }
}

static void
tunnel_addresses (gint64 index, char **ipv4, char **ipv6)
{
  guint32 v4 = TUNNEL_V4_BASE + (guint32) index;
  guint8 b4[4] = { (guint8) (v4 >> 24), (guint8) (v4 >> 16), (guint8) (v4 >> 8), (guint8) v4 };
  guint8 b6[16] = { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11 };
  g_autoptr (GInetAddress) a4 = NULL, a6 = NULL;

  b6[13] = (guint8) (index >> 16);
  b6[14] = (guint8) (index >> 8);
  b6[15] = (guint8) index;
  a4 = g_inet_address_new_from_bytes (b4, G_SOCKET_FAMILY_IPV4);
  a6 = g_inet_address_new_from_bytes (b6, G_SOCKET_FAMILY_IPV6);
  *ipv4 = g_inet_address_to_string (a4);
  *ipv6 = g_inet_address_to_string (a6);
}

/* The lowest free index above the highest, else the first gap. */
static gboolean
allocate_index (EmberStore *s, const char *device_id, gint64 *index, GError **error)
{
  gint64 idx = 0;
  gboolean found = FALSE;

  if (!store_query_int (s, "SELECT COALESCE(MAX(idx), 0) + 1 FROM tunnel_indexes", NULL, 0, &idx,
                        NULL, error))
    return FALSE;
  if (idx > TUNNEL_INDEX_MAX)
    {
      if (!store_query_int (s,
                            "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM tunnel_indexes WHERE idx = 1)"
                            " UNION ALL SELECT t.idx + 1 FROM tunnel_indexes t WHERE NOT EXISTS"
                            " (SELECT 1 FROM tunnel_indexes u WHERE u.idx = t.idx + 1)"
                            " AND t.idx < ? ORDER BY 1 LIMIT 1",
                            STORE_PARAMS (EMBER_STORE_INT (TUNNEL_INDEX_MAX)), &idx, &found,
                            error))
        return FALSE;
      if (!found)
        {
          g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                       "every tunnel address of 100.64.0.0/11 is in use");
          return FALSE;
        }
    }
  *index = idx;
  return store_query (s, "INSERT INTO tunnel_indexes (idx, device_id) VALUES (?, ?)",
                      STORE_PARAMS (EMBER_STORE_INT (idx), EMBER_STORE_TEXT (device_id)), NULL,
                      NULL, NULL, error);
}

/* ---- clients and gateways ---- */

void
ember_store_client_free (EmberStoreClient *c)
{
  if (c == NULL)
    return;
  g_free (c->id);
  g_free (c->name);
  g_free (c->public_key);
  g_free (c->external_id);
  g_free (c->ipv4);
  g_free (c->ipv6);
  g_free (c);
}

void
ember_store_gateway_free (EmberStoreGateway *g)
{
  if (g == NULL)
    return;
  g_free (g->id);
  g_free (g->name);
  g_free (g->site_id);
  g_free (g->site_name);
  g_free (g->public_key);
  g_free (g->external_id);
  g_free (g->ipv4);
  g_free (g->ipv6);
  g_free (g);
}

#define CLIENT_SELECT                                                                           \
  "SELECT id, name, public_key, external_id, tunnel_index, created_at, last_seen_at"            \
  " FROM clients"
#define GATEWAY_SELECT                                                                          \
  "SELECT g.id, g.name, g.public_key, g.external_id, g.tunnel_index, g.created_at,"             \
  " g.last_seen_at, g.site_id, s.name FROM gateways g JOIN sites s ON s.id = g.site_id"

static gpointer
client_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStoreClient *c = g_new0 (EmberStoreClient, 1);

  c->id = g_strdup (store_text (s, row, 0));
  c->name = g_strdup (store_text (s, row, 1));
  c->public_key = g_strdup (store_text (s, row, 2));
  c->external_id = g_strdup (store_text (s, row, 3));
  tunnel_addresses (store_int (s, row, 4), &c->ipv4, &c->ipv6);
  c->created_at = store_int (s, row, 5);
  c->last_seen_at = store_int (s, row, 6);
  return c;
}

static gpointer
gateway_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStoreGateway *g = g_new0 (EmberStoreGateway, 1);

  g->id = g_strdup (store_text (s, row, 0));
  g->name = g_strdup (store_text (s, row, 1));
  g->public_key = g_strdup (store_text (s, row, 2));
  g->external_id = g_strdup (store_text (s, row, 3));
  tunnel_addresses (store_int (s, row, 4), &g->ipv4, &g->ipv6);
  g->created_at = store_int (s, row, 5);
  g->last_seen_at = store_int (s, row, 6);
  g->site_id = g_strdup (store_text (s, row, 7));
  g->site_name = g_strdup (store_text (s, row, 8));
  return g;
}

static gpointer
first_or_not_found (GPtrArray *rows, const char *what, const char *key, GError **error)
{
  gpointer first = NULL;

  if (rows == NULL)
    return NULL;
  if (rows->len == 0)
    store_not_found (error, what, key);
  else
    first = g_ptr_array_steal_index (rows, 0);
  g_ptr_array_unref (rows);
  return first;
}

EmberStoreClient *
ember_store_client_get (EmberStore *store, const char *id, GError **error)
{
  return first_or_not_found (store_query_list (store, CLIENT_SELECT " WHERE id = ?",
                                               STORE_PARAMS (EMBER_STORE_TEXT (id)),
                                               client_from_row,
                                               (GDestroyNotify) ember_store_client_free, error),
                             "client with id", id, error);
}

EmberStoreClient *
ember_store_client_get_by_name (EmberStore *store, const char *name, GError **error)
{
  return first_or_not_found (store_query_list (store, CLIENT_SELECT " WHERE name = ?",
                                               STORE_PARAMS (EMBER_STORE_TEXT (name)),
                                               client_from_row,
                                               (GDestroyNotify) ember_store_client_free, error),
                             "client", name, error);
}

EmberStoreGateway *
ember_store_gateway_get (EmberStore *store, const char *id, GError **error)
{
  return first_or_not_found (store_query_list (store, GATEWAY_SELECT " WHERE g.id = ?",
                                               STORE_PARAMS (EMBER_STORE_TEXT (id)),
                                               gateway_from_row,
                                               (GDestroyNotify) ember_store_gateway_free, error),
                             "gateway with id", id, error);
}

GPtrArray *
ember_store_list_clients (EmberStore *store, GError **error)
{
  return store_query_list (store, CLIENT_SELECT " ORDER BY name", NULL, 0, client_from_row,
                           (GDestroyNotify) ember_store_client_free, error);
}

GPtrArray *
ember_store_list_gateways (EmberStore *store, const char *site_id, GError **error)
{
  if (site_id == NULL)
    return store_query_list (store, GATEWAY_SELECT " ORDER BY g.name", NULL, 0,
                             gateway_from_row, (GDestroyNotify) ember_store_gateway_free, error);
  return store_query_list (store, GATEWAY_SELECT " WHERE g.site_id = ? ORDER BY g.name",
                           STORE_PARAMS (EMBER_STORE_TEXT (site_id)), gateway_from_row,
                           (GDestroyNotify) ember_store_gateway_free, error);
}

static gboolean
valid_public_key (const char *text)
{
  gsize len = 0;
  g_autofree guint8 *raw = NULL;

  if (text == NULL || strlen (text) != 44 || text[43] != '=')
    return FALSE;
  for (guint i = 0; i < 43; i++)
    if (!g_ascii_isalnum (text[i]) && text[i] != '+' && text[i] != '/')
      return FALSE;
  raw = g_base64_decode (text, &len);
  return len == 32;
}

gboolean
ember_store_device_connected (EmberStore *store, EmberStoreDeviceKind kind, const char *device_id,
                              const char *public_key, const char *external_id, GError **error)
{
  const char *table = kind == EMBER_STORE_DEVICE_GATEWAY ? "gateways" : "clients";
  g_autofree char *old_key = NULL, *old_ext = NULL, *name = NULL;
  gboolean ok;

  if (!valid_public_key (public_key))
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "public_key: expected a base64 WireGuard key (32 bytes)");
      return FALSE;
    }
  if (external_id == NULL || *external_id == '\0' || strlen (external_id) > 256)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "external_id: expected 1 to 256 characters");
      return FALSE;
    }
  if (!store_tx_begin (store, error))
    return FALSE;
  /* Two statements per kind keep every SQL text constant. */
  ok = kind == EMBER_STORE_DEVICE_GATEWAY
         ? store_query_text (store, "SELECT name FROM gateways WHERE id = ?",
                             STORE_PARAMS (EMBER_STORE_TEXT (device_id)), &name, error) &&
             store_query_text (store, "SELECT public_key FROM gateways WHERE id = ?",
                               STORE_PARAMS (EMBER_STORE_TEXT (device_id)), &old_key, error) &&
             store_query_text (store, "SELECT external_id FROM gateways WHERE id = ?",
                               STORE_PARAMS (EMBER_STORE_TEXT (device_id)), &old_ext, error)
         : store_query_text (store, "SELECT name FROM clients WHERE id = ?",
                             STORE_PARAMS (EMBER_STORE_TEXT (device_id)), &name, error) &&
             store_query_text (store, "SELECT public_key FROM clients WHERE id = ?",
                               STORE_PARAMS (EMBER_STORE_TEXT (device_id)), &old_key, error) &&
             store_query_text (store, "SELECT external_id FROM clients WHERE id = ?",
                               STORE_PARAMS (EMBER_STORE_TEXT (device_id)), &old_ext, error);
  if (ok && name == NULL)
    ok = store_not_found (error, kind == EMBER_STORE_DEVICE_GATEWAY ? "gateway with id"
                                                                    : "client with id",
                          device_id);
  if (ok)
    ok = store_query (store,
                      kind == EMBER_STORE_DEVICE_GATEWAY
                        ? "UPDATE gateways SET public_key = ?, external_id = ?, last_seen_at = ?"
                          " WHERE id = ?"
                        : "UPDATE clients SET public_key = ?, external_id = ?, last_seen_at = ?"
                          " WHERE id = ?",
                      STORE_PARAMS (EMBER_STORE_TEXT (public_key), EMBER_STORE_TEXT (external_id),
                                    EMBER_STORE_INT (store_now ()), EMBER_STORE_TEXT (device_id)),
                      NULL, NULL, NULL, error);
  if (ok && (g_strcmp0 (old_key, public_key) != 0 || g_strcmp0 (old_ext, external_id) != 0))
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autofree char *detail = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "public_key");
      json_builder_add_string_value (b, public_key);
      json_builder_set_member_name (b, "external_id");
      json_builder_add_string_value (b, external_id);
      json_builder_end_object (b);
      detail = ember_store_json_text (json_builder_get_root (b), FALSE);
      ok = store_change (store, "portal", "updated", table, device_id, name, detail, error);
    }
  return store_tx_end (store, ok, error);
}

/* ---- tokens ---- */

void
ember_store_token_free (EmberStoreToken *t)
{
  if (t == NULL)
    return;
  g_free (t->id);
  g_free (t->device_id);
  g_free (t->device_name);
  g_free (t->site_id);
  g_free (t->site_name);
  g_free (t);
}

#define TOKEN_SELECT                                                                            \
  "SELECT t.id, t.client_id, c.name, t.gateway_id, g.name, g.site_id, s.name, t.created_at,"    \
  " t.expires_at, t.revoked_at, t.hash FROM tokens t"                                           \
  " LEFT JOIN clients c ON c.id = t.client_id LEFT JOIN gateways g ON g.id = t.gateway_id"      \
  " LEFT JOIN sites s ON s.id = g.site_id"

typedef struct {
  EmberStore *store;
  EmberStoreToken *token;
  char *hash;
} TokenRow;

static gpointer
token_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStoreToken *t = g_new0 (EmberStoreToken, 1);
  gboolean gateway = store_text (s, row, 3) != NULL;

  t->id = g_strdup (store_text (s, row, 0));
  t->kind = gateway ? EMBER_STORE_DEVICE_GATEWAY : EMBER_STORE_DEVICE_CLIENT;
  t->device_id = g_strdup (store_text (s, row, gateway ? 3 : 1));
  t->device_name = g_strdup (store_text (s, row, gateway ? 4 : 2));
  t->site_id = g_strdup (store_text (s, row, 5));
  t->site_name = g_strdup (store_text (s, row, 6));
  t->created_at = store_int (s, row, 7);
  t->expires_at = store_int (s, row, 8);
  t->revoked_at = store_int (s, row, 9);
  return t;
}

static void
hash_row (const EmberStoreRow *row, gpointer data)
{
  TokenRow *tr = data;

  if (tr->token != NULL)
    return;
  tr->token = token_from_row (tr->store, row);
  tr->hash = g_strdup (store_text (tr->store, row, 10));
}

EmberStoreToken *
ember_store_token_get (EmberStore *store, const char *id, GError **error)
{
  return first_or_not_found (store_query_list (store, TOKEN_SELECT " WHERE t.id = ?",
                                               STORE_PARAMS (EMBER_STORE_TEXT (id)),
                                               token_from_row,
                                               (GDestroyNotify) ember_store_token_free, error),
                             "token with id", id, error);
}

GPtrArray *
ember_store_list_tokens (EmberStore *store, EmberStoreDeviceKind kind, GError **error)
{
  return store_query_list (store,
                           TOKEN_SELECT " WHERE ? = 0 OR (? = 1 AND t.client_id IS NOT NULL)"
                                        " OR (? = 2 AND t.gateway_id IS NOT NULL)"
                                        " ORDER BY t.created_at DESC, t.id",
                           STORE_PARAMS (EMBER_STORE_INT (kind), EMBER_STORE_INT (kind),
                                         EMBER_STORE_INT (kind)),
                           token_from_row, (GDestroyNotify) ember_store_token_free, error);
}

static EmberStoreTokenStatus
status_of (gint64 now, gint64 expires_at, gint64 revoked_at)
{
  if (revoked_at != 0)
    return EMBER_STORE_TOKEN_REVOKED;
  if (expires_at != 0 && now >= expires_at)
    return EMBER_STORE_TOKEN_EXPIRED;
  return EMBER_STORE_TOKEN_VALID;
}

gboolean
ember_store_token_verify (EmberStore *store, const char *bearer, gint64 now,
                          EmberStoreTokenStatus *status, EmberStoreToken **info, GError **error)
{
  g_autofree char *selector = NULL, *hash = NULL;
  TokenRow tr = { store, NULL, NULL };
  gboolean ok;

  *status = EMBER_STORE_TOKEN_UNKNOWN;
  if (info != NULL)
    *info = NULL;
  if (!store_secret_parse (STORE_TOKEN_PREFIX, bearer, &selector, &hash))
    return TRUE;
  ok = store_query (store, TOKEN_SELECT " WHERE t.selector = ?",
                    STORE_PARAMS (EMBER_STORE_TEXT (selector)), hash_row, &tr, NULL, error);
  if (ok && tr.token != NULL && store_hash_equal (tr.hash, hash))
    {
      *status = status_of (now, tr.token->expires_at, tr.token->revoked_at);
      if (info != NULL)
        *info = g_steal_pointer (&tr.token);
    }
  ember_store_token_free (tr.token);
  g_free (tr.hash);
  return ok;
}

static gboolean
find_or_create_device (EmberStore *s, EmberStoreDeviceKind kind, const char *name,
                       const char *site_name, const char *actor, char **device_id,
                       GError **error)
{
  g_autofree char *site_id = NULL, *device_site = NULL, *detail = NULL;
  gint64 index;
  char *id;

  if (!store_check_name ("name", name, error))
    return FALSE;
  if (kind == EMBER_STORE_DEVICE_CLIENT)
    {
      if (!store_query_text (s, "SELECT id FROM clients WHERE name = ?",
                             STORE_PARAMS (EMBER_STORE_TEXT (name)), device_id, error))
        return FALSE;
      if (*device_id != NULL)
        return TRUE;
    }
  else
    {
      if (site_name == NULL)
        {
          g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                       "a gateway needs a site");
          return FALSE;
        }
      if (!store_query_text (s, "SELECT id FROM sites WHERE name = ?",
                             STORE_PARAMS (EMBER_STORE_TEXT (site_name)), &site_id, error))
        return FALSE;
      if (site_id == NULL)
        return store_not_found (error, "site", site_name);
      if (!store_query_text (s, "SELECT id FROM gateways WHERE name = ?",
                             STORE_PARAMS (EMBER_STORE_TEXT (name)), device_id, error) ||
          !store_query_text (s, "SELECT site_id FROM gateways WHERE name = ?",
                             STORE_PARAMS (EMBER_STORE_TEXT (name)), &device_site, error))
        return FALSE;
      if (*device_id != NULL && g_strcmp0 (device_site, site_id) != 0)
        {
          g_clear_pointer (device_id, g_free);
          g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                       "gateway \"%s\" belongs to another site than \"%s\"", name, site_name);
          return FALSE;
        }
      if (*device_id != NULL)
        return TRUE;
    }

  id = store_new_id ();
  *device_id = id;
  if (!allocate_index (s, id, &index, error))
    return FALSE;
  if (kind == EMBER_STORE_DEVICE_CLIENT)
    {
      g_autoptr (EmberStoreClient) c = NULL;
      if (!store_query (s,
                        "INSERT INTO clients (id, name, tunnel_index, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (name),
                                      EMBER_STORE_INT (index), EMBER_STORE_INT (store_now ())),
                        NULL, NULL, NULL, error) ||
          (c = ember_store_client_get (s, id, error)) == NULL)
        return FALSE;
      detail = ember_store_json_text (ember_store_client_to_json (c), FALSE);
    }
  else
    {
      g_autoptr (EmberStoreGateway) g = NULL;
      if (!store_query (s,
                        "INSERT INTO gateways (id, name, site_id, tunnel_index, created_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (name),
                                      EMBER_STORE_TEXT (site_id), EMBER_STORE_INT (index),
                                      EMBER_STORE_INT (store_now ())),
                        NULL, NULL, NULL, error) ||
          (g = ember_store_gateway_get (s, id, error)) == NULL)
        return FALSE;
      detail = ember_store_json_text (ember_store_gateway_to_json (g), FALSE);
    }
  return store_change (s, actor, "created", ember_store_device_kind_name (kind), id, name, detail,
                       error);
}

char *
ember_store_token_create (EmberStore *store, EmberStoreDeviceKind kind, const char *name,
                          const char *site_name, gint64 expires_at, const char *actor,
                          EmberStoreToken **info, GError **error)
{
  g_autofree char *device_id = NULL, *selector = NULL, *hash = NULL, *detail = NULL;
  g_autofree char *id = store_new_id ();
  g_autoptr (EmberStoreToken) token = NULL;
  char *secret = NULL;
  gboolean ok;

  if (expires_at < 0)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "expires_at: expected a time after 1970 or 0 (never)");
      return NULL;
    }
  if (!store_tx_begin (store, error))
    return NULL;
  ok = find_or_create_device (store, kind, name, site_name, actor, &device_id, error) &&
       (secret = store_secret_new (STORE_TOKEN_PREFIX, &selector, &hash, error)) != NULL &&
       store_query (store,
                    kind == EMBER_STORE_DEVICE_GATEWAY
                      ? "INSERT INTO tokens (id, selector, hash, gateway_id, created_at,"
                        " expires_at) VALUES (?, ?, ?, ?, ?, ?)"
                      : "INSERT INTO tokens (id, selector, hash, client_id, created_at,"
                        " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (selector),
                                  EMBER_STORE_TEXT (hash), EMBER_STORE_TEXT (device_id),
                                  EMBER_STORE_INT (store_now ()), EMBER_STORE_INT (expires_at)),
                    NULL, NULL, NULL, error) &&
       (token = ember_store_token_get (store, id, error)) != NULL;
  if (ok)
    {
      detail = ember_store_json_text (ember_store_token_to_json (token), FALSE);
      ok = store_change (store, actor, "created", "token", id, name, detail, error);
    }
  if (!store_tx_end (store, ok, error))
    {
      ember_store_secret_free (secret);
      return NULL;
    }
  if (info != NULL)
    *info = g_steal_pointer (&token);
  return secret;
}

gboolean
ember_store_token_revoke (EmberStore *store, const char *id, const char *actor, GError **error)
{
  g_autoptr (EmberStoreToken) token = NULL;
  g_autofree char *detail = NULL;
  gboolean ok;

  if (!store_tx_begin (store, error))
    return FALSE;
  ok = (token = ember_store_token_get (store, id, error)) != NULL;
  if (ok && token->revoked_at == 0)
    {
      token->revoked_at = store_now ();
      detail = ember_store_json_text (ember_store_token_to_json (token), FALSE);
      ok = store_query (store, "UPDATE tokens SET revoked_at = ? WHERE id = ?",
                        STORE_PARAMS (EMBER_STORE_INT (token->revoked_at), EMBER_STORE_TEXT (id)),
                        NULL, NULL, NULL, error) &&
           store_change (store, actor, "revoked", "token", id, token->device_name, detail, error);
    }
  return store_tx_end (store, ok, error);
}

gboolean
ember_store_device_delete (EmberStore *store, EmberStoreDeviceKind kind, const char *name,
                           const char *actor, GError **error)
{
  g_autofree char *id = NULL;
  g_autoptr (GPtrArray) tokens = NULL;
  gboolean ok;

  if (!store_tx_begin (store, error))
    return FALSE;
  ok = store_query_text (store,
                         kind == EMBER_STORE_DEVICE_GATEWAY
                           ? "SELECT id FROM gateways WHERE name = ?"
                           : "SELECT id FROM clients WHERE name = ?",
                         STORE_PARAMS (EMBER_STORE_TEXT (name)), &id, error);
  if (ok && id == NULL)
    ok = store_not_found (error, ember_store_device_kind_name (kind), name);
  /* Revoking first leaves the server one kind of change to close
   * sessions on. */
  if (ok)
    ok = (tokens = ember_store_list_tokens (store, kind, error)) != NULL;
  for (guint i = 0; ok && i < tokens->len; i++)
    {
      EmberStoreToken *t = g_ptr_array_index (tokens, i);
      if (g_strcmp0 (t->device_id, id) == 0)
        ok = ember_store_token_revoke (store, t->id, actor, error);
    }
  if (ok)
    ok = store_query (store,
                      kind == EMBER_STORE_DEVICE_GATEWAY ? "DELETE FROM gateways WHERE id = ?"
                                                         : "DELETE FROM clients WHERE id = ?",
                      STORE_PARAMS (EMBER_STORE_TEXT (id)), NULL, NULL, NULL, error) &&
         store_query (store, "DELETE FROM tunnel_indexes WHERE device_id = ?",
                      STORE_PARAMS (EMBER_STORE_TEXT (id)), NULL, NULL, NULL, error) &&
         store_change (store, actor, "deleted", ember_store_device_kind_name (kind), id, name,
                       NULL, error);
  return store_tx_end (store, ok, error);
}
