/* admin-api — HTTP handlers over admin-ops. */
#define G_LOG_DOMAIN "ember-portal-admin"

#include "admin-api.h"

#include <string.h>

#include "admin-ops.h"
#include "policy-file.h"
#include "store-json.h"

#define PREFIX "/v1"
/* JSON bodies other than a policy file are a few members. */
#define SMALL_BODY_MAX (64 * 1024)

struct _EmberPortalAdmin {
  SoupServer *server;
  EmberStore *store;
  EmberPortalAdminChanged changed;
  gpointer user_data;
};

static void
respond (SoupServerMessage *msg, guint status, JsonNode *node)
{
  char *text = ember_store_json_text (node, FALSE);

  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text,
                                    strlen (text));
}

static void
respond_error (SoupServerMessage *msg, guint status, const char *code, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  json_builder_end_object (b);
  respond (msg, status, json_builder_get_root (b));
}

static void
respond_gerror (SoupServerMessage *msg, GError *error)
{
  guint status = SOUP_STATUS_INTERNAL_SERVER_ERROR;
  const char *code = "internal";

  static const struct {
    int code;
    guint status;
    const char *name;
  } store_errors[] = {
    { EMBER_STORE_ERROR_NOT_FOUND, SOUP_STATUS_NOT_FOUND, "not_found" },
    { EMBER_STORE_ERROR_INVALID, SOUP_STATUS_BAD_REQUEST, "invalid" },
    { EMBER_STORE_ERROR_EXISTS, SOUP_STATUS_CONFLICT, "exists" },
  };

  if (error->domain == EMBER_POLICY_FILE_ERROR)
    {
      status = SOUP_STATUS_BAD_REQUEST;
      code = "bad_policy";
    }
  for (guint i = 0; i < G_N_ELEMENTS (store_errors); i++)
    if (g_error_matches (error, EMBER_STORE_ERROR, store_errors[i].code))
      {
        status = store_errors[i].status;
        code = store_errors[i].name;
      }
  if (status == SOUP_STATUS_INTERNAL_SERVER_ERROR)
    g_warning ("admin API: %s", error->message);
  respond_error (msg, status, code, error->message);
  g_error_free (error);
}

/* The request's JSON object, or NULL after answering 400. */
static JsonObject *
body_object (SoupServerMessage *msg, JsonParser *parser)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  if (body->length > SMALL_BODY_MAX)
    {
      respond_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large", "the body is too large");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, body->data ? body->data : "", body->length, &error))
    {
      g_autofree char *m = g_strdup_printf ("body: expected a JSON object: %s", error->message);
      respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request", m);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request", "body: expected a JSON object");
      return NULL;
    }
  return json_node_get_object (root);
}

/* A member that must be a string (or absent when optional). */
static gboolean
member_string (SoupServerMessage *msg, JsonObject *obj, const char *name, gboolean required,
               const char **out)
{
  JsonNode *node = json_object_get_member (obj, name);
  g_autofree char *m = NULL;

  *out = NULL;
  if (node == NULL && !required)
    return TRUE;
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_STRING &&
      g_utf8_validate (json_node_get_string (node), -1, NULL))
    {
      *out = json_node_get_string (node);
      return TRUE;
    }
  m = g_strdup_printf ("$.%s: %s", name, node == NULL ? "missing (expected a string)"
                                                      : "expected a UTF-8 string");
  respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request", m);
  return FALSE;
}

/* "expires_in": seconds (> 0) -> an absolute time, 0 when absent. */
static gboolean
member_expiry (SoupServerMessage *msg, JsonObject *obj, gint64 *expires_at)
{
  JsonNode *node = json_object_get_member (obj, "expires_in");

  *expires_at = 0;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
      json_node_get_int (node) <= 0 || json_node_get_int (node) > G_MAXINT32 * G_GINT64_CONSTANT (100))
    {
      respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                     "$.expires_in: expected a positive number of seconds");
      return FALSE;
    }
  *expires_at = g_get_real_time () / G_USEC_PER_SEC + json_node_get_int (node);
  return TRUE;
}

static gboolean
check_members (SoupServerMessage *msg, JsonObject *obj, const char *const *allowed)
{
  g_autoptr (GList) members = json_object_get_members (obj);

  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      {
        g_autofree char *m = g_strdup_printf ("$.%s: unknown member", (const char *) l->data);
        respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request", m);
        return FALSE;
      }
  return TRUE;
}

/* Authenticates; returns the actor ("api:NAME") or NULL after 401. */
static char *
authenticate (EmberPortalAdmin *admin, SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *auth = soup_message_headers_get_one (h, "Authorization");
  g_autoptr (EmberStoreApiKey) key = NULL;
  EmberStoreTokenStatus status = EMBER_STORE_TOKEN_UNKNOWN;
  GError *error = NULL;

  if (auth == NULL || g_ascii_strncasecmp (auth, "Bearer ", 7) != 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "WWW-Authenticate", "Bearer realm=\"ember-portal\"");
      respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                     "expected Authorization: Bearer API-KEY");
      return NULL;
    }
  if (!ember_store_apikey_verify (admin->store, auth + 7, g_get_real_time () / G_USEC_PER_SEC,
                                  &status, &key, &error))
    {
      respond_gerror (msg, error);
      return NULL;
    }
  if (status != EMBER_STORE_TOKEN_VALID)
    {
      g_autofree char *m =
        g_strdup_printf ("API key %s", ember_store_token_status_name (status));
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "WWW-Authenticate",
                                    "Bearer realm=\"ember-portal\", error=\"invalid_token\"");
      respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized", m);
      return NULL;
    }
  return g_strdup_printf ("api:%s", key->name);
}

static void
changed (EmberPortalAdmin *admin)
{
  if (admin->changed != NULL)
    admin->changed (admin->user_data);
}

static void
handle_tokens (EmberPortalAdmin *admin, SoupServerMessage *msg, const char *method,
               const char *rest, const char *actor)
{
  static const char *const members[] = { "kind", "name", "site", "expires_in", NULL };
  g_autoptr (JsonParser) parser = json_parser_new ();
  GError *error = NULL;
  JsonNode *result;

  if (g_str_equal (method, "DELETE") && *rest != '\0')
    {
      result = ember_portal_op_token_revoke (admin->store, rest, actor, &error);
      if (result == NULL)
        {
          respond_gerror (msg, error);
          return;
        }
      respond (msg, SOUP_STATUS_OK, result);
      changed (admin);
      return;
    }
  if (g_str_equal (method, "POST") && *rest == '\0')
    {
      JsonObject *obj = body_object (msg, parser);
      const char *kind, *name, *site;
      gint64 expires_at;

      if (obj == NULL || !check_members (msg, obj, members) ||
          !member_string (msg, obj, "kind", TRUE, &kind) ||
          !member_string (msg, obj, "name", TRUE, &name) ||
          !member_string (msg, obj, "site", FALSE, &site) || !member_expiry (msg, obj, &expires_at))
        return;
      if (!g_str_equal (kind, "client") && !g_str_equal (kind, "gateway"))
        {
          respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                                "$.kind: expected \"client\" or \"gateway\"");
          return;
        }
      if (g_str_equal (kind, "gateway") != (site != NULL))
        {
          respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                                "$.site: a gateway needs its site, a client has none");
          return;
        }
      result = ember_portal_op_token_create (admin->store,
                                             g_str_equal (kind, "gateway")
                                               ? EMBER_STORE_DEVICE_GATEWAY
                                               : EMBER_STORE_DEVICE_CLIENT,
                                             name, site, expires_at, actor, &error);
      if (result == NULL)
        {
          respond_gerror (msg, error);
          return;
        }
      {
        g_autofree char *text = json_to_string (result, FALSE);
        ember_portal_op_wipe_secret (result);
        json_node_unref (result);
        soup_server_message_set_status (msg, SOUP_STATUS_CREATED, NULL);
        soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text,
                                          strlen (text));
        memset (text, 0, strlen (text));
      }
      changed (admin);
      return;
    }
  respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                 "expected POST /v1/tokens or DELETE /v1/tokens/ID");
}

static void
handle_apikeys (EmberPortalAdmin *admin, SoupServerMessage *msg, const char *method,
                const char *rest, const char *actor)
{
  static const char *const members[] = { "name", "expires_in", NULL };
  g_autoptr (JsonParser) parser = json_parser_new ();
  GError *error = NULL;
  JsonNode *result;

  if (g_str_equal (method, "DELETE") && *rest != '\0')
    {
      result = ember_portal_op_apikey_revoke (admin->store, rest, actor, &error);
      if (result == NULL)
        {
          respond_gerror (msg, error);
          return;
        }
      respond (msg, SOUP_STATUS_OK, result);
      changed (admin);
      return;
    }
  if (g_str_equal (method, "POST") && *rest == '\0')
    {
      JsonObject *obj = body_object (msg, parser);
      const char *name;
      gint64 expires_at;

      if (obj == NULL || !check_members (msg, obj, members) ||
          !member_string (msg, obj, "name", TRUE, &name) || !member_expiry (msg, obj, &expires_at))
        return;
      result = ember_portal_op_apikey_create (admin->store, name, expires_at, actor, &error);
      if (result == NULL)
        {
          respond_gerror (msg, error);
          return;
        }
      {
        g_autofree char *text = json_to_string (result, FALSE);
        ember_portal_op_wipe_secret (result);
        json_node_unref (result);
        soup_server_message_set_status (msg, SOUP_STATUS_CREATED, NULL);
        soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text,
                                          strlen (text));
        memset (text, 0, strlen (text));
      }
      changed (admin);
      return;
    }
  respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                 "expected POST /v1/apikeys or DELETE /v1/apikeys/NAME");
}

static gboolean
query_int (GHashTable *query, const char *name, gint64 *out)
{
  const char *v = query != NULL ? g_hash_table_lookup (query, name) : NULL;
  guint64 n;

  *out = 0;
  if (v == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (v, 10, 0, G_MAXINT64, &n, NULL))
    return FALSE;
  *out = (gint64) n;
  return TRUE;
}

static void
handle (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
        gpointer user_data)
{
  EmberPortalAdmin *admin = user_data;
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *actor = NULL, *head = NULL;
  const char *rest, *slash;
  GError *error = NULL;
  JsonNode *result;

  (void) server;
  if ((actor = authenticate (admin, msg)) == NULL)
    return;
  if (!g_str_has_prefix (path, PREFIX "/"))
    {
      respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such endpoint");
      return;
    }
  rest = path + strlen (PREFIX "/");
  slash = strchr (rest, '/');
  head = slash != NULL ? g_strndup (rest, (gsize) (slash - rest)) : g_strdup (rest);
  rest = slash != NULL ? slash + 1 : "";

  if (g_str_equal (head, "tokens") && !g_str_equal (method, "GET"))
    {
      handle_tokens (admin, msg, method, rest, actor);
      return;
    }
  if (g_str_equal (head, "apikeys") && !g_str_equal (method, "GET"))
    {
      handle_apikeys (admin, msg, method, rest, actor);
      return;
    }
  if ((g_str_equal (head, "clients") || g_str_equal (head, "gateways")) && *rest != '\0' &&
      g_str_equal (method, "DELETE"))
    {
      result = ember_portal_op_device_delete (admin->store,
                                              g_str_equal (head, "gateways")
                                                ? EMBER_STORE_DEVICE_GATEWAY
                                                : EMBER_STORE_DEVICE_CLIENT,
                                              rest, actor, &error);
      if (result == NULL)
        {
          respond_gerror (msg, error);
          return;
        }
      respond (msg, SOUP_STATUS_OK, result);
      changed (admin);
      return;
    }
  if (g_strv_contains (ember_portal_list_kinds, head) && *rest == '\0')
    {
      if (!g_str_equal (method, "GET"))
        {
          respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                                "expected GET");
          return;
        }
      if ((result = ember_portal_op_list (admin->store, head, &error)) == NULL)
        {
          respond_gerror (msg, error);
          return;
        }
      {
        respond (msg, SOUP_STATUS_OK, result);
        return;
      }
    }
  if (g_str_equal (head, "log") && *rest == '\0')
    {
      gint64 after, limit;
      if (!g_str_equal (method, "GET"))
        {
          respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                                "expected GET");
          return;
        }
      if (!query_int (query, "after", &after) || !query_int (query, "limit", &limit) ||
          limit > G_MAXUINT)
        {
          respond_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                                "after, limit: expected non-negative integers");
          return;
        }
      if ((result = ember_portal_op_log (admin->store, after, (guint) limit, &error)) == NULL)
        {
          respond_gerror (msg, error);
          return;
        }
      {
        respond (msg, SOUP_STATUS_OK, result);
        return;
      }
    }
  if (g_str_equal (head, "apply") && *rest == '\0')
    {
      SoupMessageBody *body = soup_server_message_get_request_body (msg);
      const char *dry = query != NULL ? g_hash_table_lookup (query, "dry_run") : NULL;
      gboolean dry_run = dry != NULL && (g_str_equal (dry, "true") || g_str_equal (dry, "1"));

      if (!g_str_equal (method, "POST"))
        {
          respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                                "expected POST with the policy file as the body");
          return;
        }
      result = ember_portal_op_apply (admin->store, body->data ? body->data : "",
                                      (gsize) body->length, "body", dry_run, actor, &error);
      if (result == NULL)
        {
          respond_gerror (msg, error);
          return;
        }
      respond (msg, SOUP_STATUS_OK, result);
      if (!dry_run)
        changed (admin);
      return;
    }
  respond_error (msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such endpoint");
}

/* Refuses an announced body larger than any request needs before
 * libsoup reads it. */
static void
early (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
       gpointer user_data)
{
  goffset len = soup_message_headers_get_content_length (
    soup_server_message_get_request_headers (msg));

  (void) server, (void) query, (void) user_data;
  if (len > (g_str_has_prefix (path, PREFIX "/apply") ? EMBER_POLICY_FILE_MAX_BYTES
                                                      : SMALL_BODY_MAX))
    respond_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large", "the body is too large");
}

EmberPortalAdmin *
ember_portal_admin_attach (SoupServer *server, EmberStore *store,
                           EmberPortalAdminChanged changed_cb, gpointer user_data)
{
  EmberPortalAdmin *admin = g_new0 (EmberPortalAdmin, 1);

  admin->server = g_object_ref (server);
  admin->store = store;
  admin->changed = changed_cb;
  admin->user_data = user_data;
  soup_server_add_early_handler (server, PREFIX, early, NULL, NULL);
  soup_server_add_handler (server, PREFIX, handle, admin, NULL);
  return admin;
}

void
ember_portal_admin_free (EmberPortalAdmin *admin)
{
  if (admin == NULL)
    return;
  soup_server_remove_handler (admin->server, PREFIX);
  g_object_unref (admin->server);
  g_free (admin);
}
