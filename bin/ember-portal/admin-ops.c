/* admin-ops — the administrative operations behind the CLI and the API. */
#include "admin-ops.h"

#include <gnutls/gnutls.h>
#include <string.h>

#include "apply.h"
#include "store-json.h"

const char *const ember_portal_list_kinds[] = {
  "sites", "clients", "gateways", "resources", "groups", "policies", "tokens", "apikeys", NULL,
};

/* Each listing as "rows, then each row to JSON". */
static GPtrArray *
list_gateways (EmberStore *store, GError **error)
{
  return ember_store_list_gateways (store, NULL, error);
}

static GPtrArray *
list_tokens (EmberStore *store, GError **error)
{
  return ember_store_list_tokens (store, 0, error);
}

/* Typed serializers behind the one pointer type a table can hold. */
#define ANY_TO_JSON(type, fn)                                                                   \
  static JsonNode *fn##_any (gconstpointer item)                                                \
  {                                                                                             \
    return fn ((const type *) item);                                                            \
  }
ANY_TO_JSON (EmberStoreSite, ember_store_site_to_json)
ANY_TO_JSON (EmberStoreClient, ember_store_client_to_json)
ANY_TO_JSON (EmberStoreGateway, ember_store_gateway_to_json)
ANY_TO_JSON (EmberStoreResource, ember_store_resource_to_json)
ANY_TO_JSON (EmberStoreGroup, ember_store_group_to_json)
ANY_TO_JSON (EmberStorePolicy, ember_store_policy_to_json)
ANY_TO_JSON (EmberStoreToken, ember_store_token_to_json)
ANY_TO_JSON (EmberStoreApiKey, ember_store_apikey_to_json)
ANY_TO_JSON (EmberStoreChange, ember_store_change_to_json)

static const struct {
  const char *kind;
  GPtrArray *(*list) (EmberStore *store, GError **error);
  EmberStoreToJson to_json;
} listings[] = {
  { "sites", ember_store_list_sites, ember_store_site_to_json_any },
  { "clients", ember_store_list_clients, ember_store_client_to_json_any },
  { "gateways", list_gateways, ember_store_gateway_to_json_any },
  { "resources", ember_store_list_resources, ember_store_resource_to_json_any },
  { "groups", ember_store_list_groups, ember_store_group_to_json_any },
  { "policies", ember_store_list_policies, ember_store_policy_to_json_any },
  { "tokens", list_tokens, ember_store_token_to_json_any },
  { "apikeys", ember_store_list_apikeys, ember_store_apikey_to_json_any },
};

JsonNode *
ember_portal_op_list (EmberStore *store, const char *kind, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (listings); i++)
    if (g_strcmp0 (kind, listings[i].kind) == 0)
      {
        g_autoptr (GPtrArray) items = listings[i].list (store, error);
        return items != NULL ? ember_store_list_to_json (items, listings[i].to_json) : NULL;
      }
  {
    g_autofree char *list = g_strjoinv (", ", (char **) ember_portal_list_kinds);
    g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_NOT_FOUND,
                 "nothing to list named \"%s\" (expected one of: %s)", kind ? kind : "", list);
    return NULL;
  }
}

JsonNode *
ember_portal_op_log (EmberStore *store, gint64 after, guint limit, GError **error)
{
  g_autoptr (GPtrArray) changes = ember_store_changes_after (store, after, limit, error);
  JsonObject *obj;
  JsonNode *node;

  if (changes == NULL)
    return NULL;
  obj = json_object_new ();
  json_object_set_member (obj, "changes",
                          ember_store_list_to_json (changes, ember_store_change_to_json_any));
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, obj);
  return node;
}

JsonNode *
ember_portal_op_apply (EmberStore *store, const char *data, gsize len, const char *name,
                       gboolean dry_run, const char *actor, GError **error)
{
  g_autoptr (EmberPolicyFile) file = ember_policy_file_parse (data, len, name, error);
  g_autoptr (GPtrArray) diff = NULL;
  JsonArray *lines;
  JsonObject *obj;
  JsonNode *node;

  if (file == NULL || !ember_portal_apply (store, file, dry_run, actor, &diff, error))
    return NULL;
  lines = json_array_sized_new (diff->len);
  for (guint i = 0; i < diff->len; i++)
    json_array_add_string_element (lines, diff->pdata[i]);
  obj = json_object_new ();
  json_object_set_boolean_member (obj, "dry_run", dry_run);
  json_object_set_array_member (obj, "changes", lines);
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, obj);
  return node;
}

static JsonNode *
with_secret (JsonNode *node, const char *member, char *secret)
{
  json_object_set_string_member (json_node_get_object (node), member, secret);
  ember_store_secret_free (secret);
  return node;
}

JsonNode *
ember_portal_op_token_create (EmberStore *store, EmberStoreDeviceKind kind, const char *name,
                              const char *site, gint64 expires_at, const char *actor,
                              GError **error)
{
  g_autoptr (EmberStoreToken) info = NULL;
  char *secret = ember_store_token_create (store, kind, name, site, expires_at, actor, &info,
                                           error);

  if (secret == NULL)
    return NULL;
  return with_secret (ember_store_token_to_json (info), "token", secret);
}

JsonNode *
ember_portal_op_token_revoke (EmberStore *store, const char *id, const char *actor,
                              GError **error)
{
  g_autoptr (EmberStoreToken) info = NULL;

  if (!ember_store_token_revoke (store, id, actor, error) ||
      (info = ember_store_token_get (store, id, error)) == NULL)
    return NULL;
  return ember_store_token_to_json (info);
}

JsonNode *
ember_portal_op_device_delete (EmberStore *store, EmberStoreDeviceKind kind, const char *name,
                               const char *actor, GError **error)
{
  JsonObject *obj;
  JsonNode *node;

  if (!ember_store_device_delete (store, kind, name, actor, error))
    return NULL;
  obj = json_object_new ();
  json_object_set_string_member (obj, "kind", ember_store_device_kind_name (kind));
  json_object_set_string_member (obj, "deleted", name);
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, obj);
  return node;
}

JsonNode *
ember_portal_op_apikey_create (EmberStore *store, const char *name, gint64 expires_at,
                               const char *actor, GError **error)
{
  g_autoptr (EmberStoreApiKey) info = NULL;
  char *secret = ember_store_apikey_create (store, name, expires_at, actor, &info, error);

  if (secret == NULL)
    return NULL;
  return with_secret (ember_store_apikey_to_json (info), "key", secret);
}

JsonNode *
ember_portal_op_apikey_revoke (EmberStore *store, const char *name, const char *actor,
                               GError **error)
{
  g_autoptr (GPtrArray) keys = NULL;

  if (!ember_store_apikey_revoke (store, name, actor, error) ||
      (keys = ember_store_list_apikeys (store, error)) == NULL)
    return NULL;
  for (guint i = 0; i < keys->len; i++)
    if (g_strcmp0 (((EmberStoreApiKey *) keys->pdata[i])->name, name) == 0)
      return ember_store_apikey_to_json (keys->pdata[i]);
  g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_NOT_FOUND, "no API key named \"%s\"",
               name);
  return NULL;
}

void
ember_portal_op_wipe_secret (JsonNode *result)
{
  JsonObject *obj;

  if (result == NULL || !JSON_NODE_HOLDS_OBJECT (result))
    return;
  obj = json_node_get_object (result);
  for (guint i = 0; i < 2; i++)
    {
      const char *member = i == 0 ? "token" : "key";
      const char *s = json_object_has_member (obj, member)
                        ? json_object_get_string_member (obj, member)
                        : NULL;
      if (s != NULL)
        gnutls_memset ((char *) s, 0, strlen (s));
    }
}

gboolean
ember_portal_parse_duration (const char *text, gint64 *seconds)
{
  char *end = NULL;
  guint64 n;
  gint64 unit = 1;

  if (text == NULL || !g_ascii_isdigit (*text))
    return FALSE;
  n = g_ascii_strtoull (text, &end, 10);
  if (g_str_equal (end, "d"))
    unit = 86400;
  else if (g_str_equal (end, "h"))
    unit = 3600;
  else if (g_str_equal (end, "m"))
    unit = 60;
  else if (!g_str_equal (end, "s") && *end != '\0')
    return FALSE;
  if (n == 0 || n > (guint64) (G_MAXINT64 / 2) / (guint64) unit)
    return FALSE;
  *seconds = (gint64) n * unit;
  return TRUE;
}
