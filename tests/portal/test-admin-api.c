/* tests/portal/test-admin-api: the HTTP admin API over real HTTP on
 * loopback (port 0), driven by a libsoup client — authentication, every
 * operation, JSON errors, and the "changed" notification for fan-out. */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "admin-api.h"
#include "admin-ops.h"
#include "portal-test-util.h"
#include "store-json.h"
#include "store.h"

typedef struct {
  char *dir;
  EmberStore *store;
  SoupServer *server;
  EmberPortalAdmin *admin;
  SoupSession *session;
  char *base;
  char *key;
  guint changed;
  /* the last response */
  guint status;
  JsonNode *json;
  char *body;
} Fixture;

static void
on_changed (gpointer user_data)
{
  ((Fixture *) user_data)->changed++;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  GSList *uris;

  (void) data;
  f->dir = portal_test_tmpdir ();
  f->store = ember_store_open (f->dir, &error);
  g_assert_no_error (error);
  f->server = soup_server_new (NULL, NULL);
  f->admin = ember_portal_admin_attach (f->server, f->store, on_changed, f);
  g_assert_true (soup_server_listen_local (f->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (f->server);
  g_assert_nonnull (uris);
  f->base = g_uri_to_string (uris->data);
  if (g_str_has_suffix (f->base, "/"))
    f->base[strlen (f->base) - 1] = '\0';
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  f->session = soup_session_new ();
  f->key = ember_store_apikey_create (f->store, "ops", 0, "test", NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_pointer (&f->json, json_node_unref);
  g_free (f->body);
  g_object_unref (f->session);
  ember_portal_admin_free (f->admin);
  soup_server_disconnect (f->server);
  g_object_unref (f->server);
  ember_store_free (f->store);
  ember_store_secret_free (f->key);
  g_free (f->base);
  portal_test_rmtree (f->dir);
  g_free (f->dir);
}

typedef struct {
  GBytes *bytes;
  GError *error;
  gboolean done;
} Pending;

static void
sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *p = user_data;

  p->bytes = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &p->error);
  p->done = TRUE;
}

/* One request; `key` NULL sends no Authorization. Fills status/json. */
static guint
http (Fixture *f, const char *method, const char *path, const char *body, const char *key)
{
  g_autofree char *url = g_strconcat (f->base, path, NULL);
  g_autoptr (SoupMessage) msg = soup_message_new (method, url);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  Pending p = { NULL, NULL, FALSE };
  gsize len;

  g_assert_nonnull (msg);
  if (key != NULL)
    {
      g_autofree char *auth = g_strconcat ("Bearer ", key, NULL);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    auth);
    }
  if (body != NULL)
    {
      g_autoptr (GBytes) b = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", b);
    }
  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, sent, &p);
  while (!p.done && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (p.done);
  g_assert_no_error (p.error);
  g_clear_pointer (&f->json, json_node_unref);
  g_free (f->body);
  f->body = g_strndup (g_bytes_get_data (p.bytes, &len), g_bytes_get_size (p.bytes));
  g_bytes_unref (p.bytes);
  f->status = soup_message_get_status (msg);
  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (msg),
                                                          NULL),
                   ==, "application/json");
  f->json = json_from_string (f->body, NULL);
  g_assert_nonnull (f->json);
  return f->status;
}

static const char *
error_code (Fixture *f)
{
  JsonObject *e = json_object_get_object_member (json_node_get_object (f->json), "error");

  g_assert_nonnull (e);
  return json_object_get_string_member (e, "code");
}

static const char *
error_message (Fixture *f)
{
  return json_object_get_string_member (
    json_object_get_object_member (json_node_get_object (f->json), "error"), "message");
}

static const char policy[] =
  "{\"sites\": [{\"name\": \"home\"}],"
  " \"resources\": [{\"name\": \"web\", \"type\": \"cidr\", \"address\": \"10.20.0.0/24\","
  "  \"site\": \"home\", \"filters\": [{\"protocol\": \"tcp\", \"ports\": \"443\"}]}],"
  " \"groups\": [{\"name\": \"staff\", \"clients\": [\"laptop\"]}],"
  " \"policies\": [{\"group\": \"staff\", \"resource\": \"web\"}]}";

static void
test_requests_without_a_valid_key_get_401 (Fixture *f, gconstpointer data)
{
  g_autofree char *revoked = NULL;
  GError *error = NULL;

  (void) data;
  g_assert_cmpuint (http (f, "GET", "/v1/clients", NULL, NULL), ==, 401);
  g_assert_cmpstr (error_code (f), ==, "unauthorized");
  g_assert_cmpuint (http (f, "GET", "/v1/clients", NULL, "ember_key_nope"), ==, 401);
  g_assert_cmpstr (error_message (f), ==, "API key unknown");
  /* A device token is not an API key. */
  {
    g_autofree char *t = ember_store_token_create (f->store, EMBER_STORE_DEVICE_CLIENT, "c", NULL,
                                                   0, "test", NULL, &error);
    g_assert_cmpuint (http (f, "GET", "/v1/clients", NULL, t), ==, 401);
    ember_store_secret_free (g_steal_pointer (&t));
  }
  revoked = ember_store_apikey_create (f->store, "old", 0, "test", NULL, &error);
  g_assert_true (ember_store_apikey_revoke (f->store, "old", "test", &error));
  g_assert_cmpuint (http (f, "GET", "/v1/clients", NULL, revoked), ==, 401);
  g_assert_cmpstr (error_message (f), ==, "API key revoked");
  ember_store_secret_free (g_steal_pointer (&revoked));
  revoked = ember_store_apikey_create (f->store, "past", 1, "test", NULL, &error);
  g_assert_cmpuint (http (f, "GET", "/v1/clients", NULL, revoked), ==, 401);
  g_assert_cmpstr (error_message (f), ==, "API key expired");
  ember_store_secret_free (g_steal_pointer (&revoked));
  g_assert_cmpuint (f->changed, ==, 0);
}

static void
test_apply_over_http_like_the_cli (Fixture *f, gconstpointer data)
{
  JsonArray *changes;
  gint64 before;

  (void) data;
  g_assert_true (ember_store_latest_change (f->store, &before, NULL));
  g_assert_cmpuint (http (f, "POST", "/v1/apply?dry_run=true", policy, f->key), ==, 200);
  changes = json_object_get_array_member (json_node_get_object (f->json), "changes");
  g_assert_cmpuint (json_array_get_length (changes), ==, 4);
  g_assert_true (json_object_get_boolean_member (json_node_get_object (f->json), "dry_run"));
  g_assert_cmpuint (f->changed, ==, 0);
  g_assert_cmpuint (http (f, "GET", "/v1/resources", NULL, f->key), ==, 200);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (f->json)), ==, 0);

  g_assert_cmpuint (http (f, "POST", "/v1/apply", policy, f->key), ==, 200);
  changes = json_object_get_array_member (json_node_get_object (f->json), "changes");
  g_assert_cmpstr (json_array_get_string_element (changes, 1), ==,
                   "+ resource web: cidr 10.20.0.0/24 in home, tcp 443");
  g_assert_cmpuint (f->changed, ==, 1);
  g_assert_cmpuint (http (f, "POST", "/v1/apply", policy, f->key), ==, 200);
  changes = json_object_get_array_member (json_node_get_object (f->json), "changes");
  g_assert_cmpuint (json_array_get_length (changes), ==, 0);

  /* The listing is byte for byte what `list resources --json` prints. */
  g_assert_cmpuint (http (f, "GET", "/v1/resources", NULL, f->key), ==, 200);
  {
    g_autofree char *cli =
      ember_store_json_text (ember_portal_op_list (f->store, "resources", NULL), FALSE);
    g_autofree char *api = json_to_string (f->json, FALSE);
    g_assert_cmpstr (api, ==, cli);
  }

  /* The audit log names the key. */
  {
    g_autofree char *path = g_strdup_printf ("/v1/log?after=%" G_GINT64_FORMAT, before);
    JsonObject *first;
    g_assert_cmpuint (http (f, "GET", path, NULL, f->key), ==, 200);
    changes = json_object_get_array_member (json_node_get_object (f->json), "changes");
    g_assert_cmpuint (json_array_get_length (changes), ==, 4);
    first = json_array_get_object_element (changes, 0);
    g_assert_cmpstr (json_object_get_string_member (first, "actor"), ==, "api:ops");
    g_assert_cmpstr (json_object_get_string_member (first, "kind"), ==, "site");
  }
}

static void
test_a_bad_policy_is_400_and_changes_nothing (Fixture *f, gconstpointer data)
{
  gint64 before, after;

  (void) data;
  g_assert_true (ember_store_latest_change (f->store, &before, NULL));
  g_assert_cmpuint (http (f, "POST", "/v1/apply",
                          "{\"sites\": [{\"name\": \"a\"}], \"resources\": [{\"name\": \"r\"}]}",
                          f->key),
                    ==, 400);
  g_assert_cmpstr (error_code (f), ==, "bad_policy");
  g_assert_nonnull (strstr (error_message (f), "$.resources[0].type: missing"));
  g_assert_true (ember_store_latest_change (f->store, &after, NULL));
  g_assert_cmpint (before, ==, after);
  g_assert_cmpuint (http (f, "POST", "/v1/apply", "not json", f->key), ==, 400);
  g_assert_cmpuint (f->changed, ==, 0);
}

static void
test_tokens_are_created_and_revoked (Fixture *f, gconstpointer data)
{
  g_autofree char *id = NULL, *path = NULL, *token = NULL;
  g_autoptr (EmberStoreToken) info = NULL;
  EmberStoreTokenStatus status;
  JsonObject *o;

  (void) data;
  g_assert_cmpuint (http (f, "POST", "/v1/apply", policy, f->key), ==, 200);
  g_assert_cmpuint (http (f, "POST", "/v1/tokens",
                          "{\"kind\": \"gateway\", \"name\": \"gw\", \"site\": \"home\","
                          " \"expires_in\": 3600}",
                          f->key),
                    ==, 201);
  o = json_node_get_object (f->json);
  token = g_strdup (json_object_get_string_member (o, "token"));
  id = g_strdup (json_object_get_string_member (o, "id"));
  g_assert_cmpstr (json_object_get_string_member (o, "site"), ==, "home");
  g_assert_true (ember_store_token_verify (f->store, token, g_get_real_time () / G_USEC_PER_SEC,
                                           &status, &info, NULL));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_VALID);
  g_assert_cmpint (info->expires_at, >, 0);

  path = g_strconcat ("/v1/tokens/", id, NULL);
  g_assert_cmpuint (http (f, "DELETE", path, NULL, f->key), ==, 200);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (f->json), "revoked_at"), >,
                   0);
  g_assert_true (ember_store_token_verify (f->store, token, 0, &status, NULL, NULL));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_REVOKED);
  g_assert_cmpuint (f->changed, ==, 3);

  g_assert_cmpuint (http (f, "DELETE", "/v1/tokens/nope", NULL, f->key), ==, 404);
  g_assert_cmpstr (error_code (f), ==, "not_found");
  g_assert_cmpuint (http (f, "POST", "/v1/tokens", "{\"kind\": \"gateway\", \"name\": \"g2\"}",
                          f->key),
                    ==, 400);
  g_assert_nonnull (strstr (error_message (f), "$.site"));
  g_assert_cmpuint (http (f, "POST", "/v1/tokens",
                          "{\"kind\": \"gateway\", \"name\": \"g2\", \"site\": \"mars\"}", f->key),
                    ==, 404);
  g_assert_cmpuint (http (f, "POST", "/v1/tokens", "{\"kind\": \"client\", \"name\": 3}", f->key),
                    ==, 400);
  g_assert_cmpuint (http (f, "POST", "/v1/tokens",
                          "{\"kind\": \"client\", \"name\": \"c\", \"color\": \"red\"}", f->key),
                    ==, 400);
  g_assert_nonnull (strstr (error_message (f), "$.color"));
  ember_store_secret_free (g_steal_pointer (&token));
}

static void
test_deleting_a_device_revokes_its_tokens (Fixture *f, gconstpointer data)
{
  g_autofree char *token = NULL;
  EmberStoreTokenStatus status;
  GError *error = NULL;

  (void) data;
  token = ember_store_token_create (f->store, EMBER_STORE_DEVICE_CLIENT, "laptop", NULL, 0, "test",
                                    NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (http (f, "DELETE", "/v1/clients/laptop", NULL, f->key), ==, 200);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (f->json), "deleted"), ==,
                   "laptop");
  g_assert_cmpuint (f->changed, ==, 1);
  g_assert_true (ember_store_token_verify (f->store, token, 0, &status, NULL, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_UNKNOWN);
  g_assert_cmpuint (http (f, "GET", "/v1/clients", NULL, f->key), ==, 200);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (f->json)), ==, 0);
  g_assert_cmpuint (http (f, "DELETE", "/v1/clients/laptop", NULL, f->key), ==, 404);
  g_assert_cmpuint (http (f, "DELETE", "/v1/gateways/laptop", NULL, f->key), ==, 404);
  /* The audit log shows the revocation before the deletion. */
  g_assert_cmpuint (http (f, "GET", "/v1/log?after=3", NULL, f->key), ==, 200);
  {
    JsonArray *c = json_object_get_array_member (json_node_get_object (f->json), "changes");
    g_assert_cmpuint (json_array_get_length (c), ==, 2);
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (c, 0), "verb"),
                     ==, "revoked");
    g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (c, 1), "verb"),
                     ==, "deleted");
  }
  ember_store_secret_free (g_steal_pointer (&token));
}

static void
test_api_keys_manage_api_keys (Fixture *f, gconstpointer data)
{
  g_autofree char *second = NULL;

  (void) data;
  g_assert_cmpuint (http (f, "POST", "/v1/apikeys", "{\"name\": \"ci\"}", f->key), ==, 201);
  second = g_strdup (json_object_get_string_member (json_node_get_object (f->json), "key"));
  g_assert_cmpuint (http (f, "GET", "/v1/apikeys", NULL, second), ==, 200);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (f->json)), ==, 2);
  g_assert_null (strstr (f->body, "ember_key_"));
  g_assert_cmpuint (http (f, "POST", "/v1/apikeys", "{\"name\": \"ci\"}", f->key), ==, 409);
  g_assert_cmpuint (http (f, "DELETE", "/v1/apikeys/ci", NULL, f->key), ==, 200);
  g_assert_cmpuint (http (f, "GET", "/v1/apikeys", NULL, second), ==, 401);
  ember_store_secret_free (g_steal_pointer (&second));
}

static void
test_unknown_endpoints_and_methods_are_json_errors (Fixture *f, gconstpointer data)
{
  (void) data;
  g_assert_cmpuint (http (f, "GET", "/v1/nothing", NULL, f->key), ==, 404);
  g_assert_cmpstr (error_code (f), ==, "not_found");
  g_assert_cmpuint (http (f, "DELETE", "/v1/clients", NULL, f->key), ==, 405);
  g_assert_cmpuint (http (f, "GET", "/v1/apply", NULL, f->key), ==, 405);
  g_assert_cmpuint (http (f, "PUT", "/v1/tokens", "{}", f->key), ==, 405);
  g_assert_cmpuint (http (f, "GET", "/v1/log?after=x", NULL, f->key), ==, 400);
  g_assert_cmpuint (http (f, "GET", "/v1/clients/extra", NULL, f->key), ==, 404);
  g_assert_cmpuint (f->changed, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/portal/admin-api/" path, Fixture, NULL, fixture_set_up, fn, \
                                  fixture_tear_down)
  ADD ("requests-without-a-valid-key-get-401", test_requests_without_a_valid_key_get_401);
  ADD ("apply-over-http-like-the-cli", test_apply_over_http_like_the_cli);
  ADD ("a-bad-policy-is-400-and-changes-nothing", test_a_bad_policy_is_400_and_changes_nothing);
  ADD ("tokens-are-created-and-revoked", test_tokens_are_created_and_revoked);
  ADD ("api-keys-manage-api-keys", test_api_keys_manage_api_keys);
  ADD ("deleting-a-device-revokes-its-tokens", test_deleting_a_device_revokes_its_tokens);
  ADD ("unknown-endpoints-and-methods-are-json-errors",
       test_unknown_endpoints_and_methods_are_json_errors);
  return g_test_run ();
}
