/* tests/portal/test-store: the portal's storage on real SQLite files —
 * migrations, tokens, tunnel addresses, the changes log, and policy
 * evaluation with conditions. */
#include <sqlite3.h>
#include <string.h>

#include "portal-test-util.h"
#include "store-json.h"
#include "store-private.h"

typedef struct {
  char *dir;
  char *path;
  EmberStore *store;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  (void) data;
  f->dir = portal_test_tmpdir ();
  f->path = g_build_filename (f->dir, "portal.db", NULL);
  f->store = ember_store_open (f->dir, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  ember_store_free (f->store);
  portal_test_rmtree (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static void
reopen (Fixture *f)
{
  GError *error = NULL;

  ember_store_free (f->store);
  f->store = ember_store_open (f->dir, &error);
  g_assert_no_error (error);
}

static gint64
change_count (EmberStore *store)
{
  GError *error = NULL;
  gint64 id = -1;

  g_assert_true (ember_store_latest_change (store, &id, &error));
  g_assert_no_error (error);
  return id;
}

static char *
new_token (EmberStore *store, EmberStoreDeviceKind kind, const char *name, const char *site,
           gint64 expires_at, EmberStoreToken **info)
{
  GError *error = NULL;
  char *t = ember_store_token_create (store, kind, name, site, expires_at, "test", info, &error);

  g_assert_no_error (error);
  g_assert_nonnull (t);
  return t;
}

static void
put_site (EmberStore *store, const char *name)
{
  GError *error = NULL;

  g_assert_true (ember_store_site_put (store, name, "test", &error));
  g_assert_no_error (error);
}

/* ---- migrations ---- */

static void
test_migrations_from_empty_file (Fixture *f, gconstpointer data)
{
  (void) data;
  g_assert_cmpuint (ember_store_schema_version (f->store), ==,
                    ember_store_sqlite_backend ()->n_migrations);
  g_assert_cmpuint (ember_store_schema_version (f->store), >=, 2);
  /* Opening again migrates nothing and keeps the version. */
  reopen (f);
  g_assert_cmpuint (ember_store_schema_version (f->store), ==,
                    ember_store_sqlite_backend ()->n_migrations);
}

static void
test_migrations_from_each_older_version (Fixture *f, gconstpointer data)
{
  guint latest = ember_store_sqlite_backend ()->n_migrations;

  (void) data;
  for (guint v = 1; v < latest; v++)
    {
      g_autofree char *path = g_strdup_printf ("%s/v%u.db", f->dir, v);
      g_autofree char *token = NULL;
      g_autoptr (GPtrArray) sites = NULL;
      EmberStoreTokenStatus status;
      GError *error = NULL;
      EmberStore *old = ember_store_open_sqlite_at (path, v, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (ember_store_schema_version (old), ==, v);
      /* What an older release stored must survive the migration. */
      put_site (old, "home");
      token = new_token (old, EMBER_STORE_DEVICE_GATEWAY, "gw", "home", 0, NULL);
      ember_store_free (old);

      old = ember_store_open_sqlite (path, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (ember_store_schema_version (old), ==, latest);
      sites = ember_store_list_sites (old, &error);
      g_assert_cmpuint (sites->len, ==, 1);
      g_assert_true (ember_store_token_verify (old, token, 1, &status, NULL, &error));
      g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_VALID);
      /* ... and the newer tables work. */
      ember_store_secret_free (ember_store_apikey_create (old, "ops", 0, "test", NULL, &error));
      g_assert_no_error (error);
      ember_store_free (old);
      ember_store_secret_free (g_steal_pointer (&token));
    }
}

/* Version 6 gives resources an IP stack: a dns resource stored before
 * reads as dual afterwards, and the new column round-trips. */
static void
test_migration_adds_ip_stack (Fixture *f, gconstpointer data)
{
  g_autofree char *path = g_strdup_printf ("%s/v5.db", f->dir);
  GError *error = NULL;
  EmberStore *old = ember_store_open_sqlite_at (path, 5, &error);
  sqlite3 *db = NULL;

  (void) data;
  g_assert_no_error (error);
  put_site (old, "home");
  ember_store_free (old);
  /* As a version-5 portal wrote it: no ip_stack column. */
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db,
                                 "INSERT INTO resources (id, name, type, address, site_id)"
                                 " SELECT '9a3c5e7f-1b2d-4e6f-8a0c-2d4e6f8a0b1c', 'wiki', 'dns',"
                                 " 'wiki.corp', id FROM sites WHERE name = 'home'",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  old = ember_store_open_sqlite (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ember_store_schema_version (old), >=, 6);
  g_autoptr (EmberStoreResource) wiki = ember_store_resource_get (
    old, "9a3c5e7f-1b2d-4e6f-8a0c-2d4e6f8a0b1c", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (wiki->address, ==, "wiki.corp");
  g_assert_cmpint (wiki->ip_stack, ==, EMBER_STORE_IP_STACK_DUAL);

  /* Stored and read back, also after reopening. */
  wiki->ip_stack = EMBER_STORE_IP_STACK_IPV6;
  g_assert_true (ember_store_resource_put (old, wiki, "test", &error));
  g_assert_no_error (error);
  ember_store_free (old);
  old = ember_store_open_sqlite (path, &error);
  g_assert_no_error (error);
  g_autoptr (EmberStoreResource) again = ember_store_resource_get (old, wiki->id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (again->ip_stack, ==, EMBER_STORE_IP_STACK_IPV6);

  /* Only a dns resource has one; the store says so, naming the field. */
  EmberStoreResource web = { .name = (char *) "web", .type = EMBER_STORE_RESOURCE_CIDR,
                             .address = (char *) "10.0.0.0/8", .site_name = (char *) "home",
                             .ip_stack = EMBER_STORE_IP_STACK_IPV4 };
  g_assert_false (ember_store_resource_put (old, &web, "test", &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, "ip_stack: only a dns resource has an IP stack");
  g_clear_error (&error);
  ember_store_free (old);
}

static void
test_migrations_refuse_a_newer_schema (Fixture *f, gconstpointer data)
{
  sqlite3 *db = NULL;
  GError *error = NULL;
  EmberStore *store;

  (void) data;
  ember_store_free (g_steal_pointer (&f->store));
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
                   ==, SQLITE_OK);
  sqlite3_close (db);
  store = ember_store_open (f->dir, &error);
  g_assert_null (store);
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_SCHEMA);
  g_assert_nonnull (strstr (error->message, "99"));
  g_error_free (error);
}

static void
test_open_refuses_a_file_that_is_not_sqlite (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_build_filename (f->dir, "bad", NULL);
  g_autofree char *path = g_build_filename (dir, "portal.db", NULL);
  GError *error = NULL;

  (void) data;
  g_mkdir (dir, 0700);
  g_assert_true (g_file_set_contents (path, "this is not a database, not at all......", -1, NULL));
  g_assert_null (ember_store_open (dir, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "portal.db"));
  g_error_free (error);
}

/* ---- tokens ---- */

static void
test_tokens_are_stored_only_as_hashes (Fixture *f, gconstpointer data)
{
  g_autoptr (GByteArray) bytes = NULL;
  char *secrets[3];
  GError *error = NULL;

  (void) data;
  put_site (f->store, "home");
  secrets[0] = new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "laptop", NULL, 0, NULL);
  secrets[1] = new_token (f->store, EMBER_STORE_DEVICE_GATEWAY, "gw", "home", 0, NULL);
  secrets[2] = ember_store_apikey_create (f->store, "ops", 0, "test", NULL, &error);
  g_assert_no_error (error);
  ember_store_free (g_steal_pointer (&f->store));

  bytes = portal_test_db_bytes (f->dir);
  g_assert_cmpuint (bytes->len, >, 4096);
  for (guint i = 0; i < G_N_ELEMENTS (secrets); i++)
    {
      /* Neither the whole text nor its 256-bit secret part. */
      const char *secret_part = secrets[i] + strlen ("ember_tok_") + 2 * STORE_SELECTOR_BYTES + 1;
      g_assert_cmpuint (strlen (secret_part), ==, 43);
      g_assert_null (memmem (bytes->data, bytes->len, secrets[i], strlen (secrets[i])));
      g_assert_null (memmem (bytes->data, bytes->len, secret_part, strlen (secret_part)));
      ember_store_secret_free (secrets[i]);
    }
  reopen (f);
}

static void
test_tokens_verify_by_status (Fixture *f, gconstpointer data)
{
  g_autoptr (EmberStoreToken) created = NULL, info = NULL;
  g_autofree char *client = NULL, *gateway = NULL, *expiring = NULL, *wrong = NULL;
  EmberStoreTokenStatus status;
  GError *error = NULL;
  guint calls;

  (void) data;
  put_site (f->store, "home");
  client = new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "laptop", NULL, 0, &created);
  gateway = new_token (f->store, EMBER_STORE_DEVICE_GATEWAY, "gw", "home", 0, NULL);
  expiring = new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "phone", NULL, 1000, NULL);

  calls = store_hash_equal_calls;
  g_assert_true (ember_store_token_verify (f->store, client, 500, &status, &info, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_VALID);
  g_assert_cmpuint (store_hash_equal_calls, ==, calls + 1);
  g_assert_cmpint (info->kind, ==, EMBER_STORE_DEVICE_CLIENT);
  g_assert_cmpstr (info->device_name, ==, "laptop");
  g_assert_cmpstr (info->id, ==, created->id);
  g_assert_null (info->site_id);
  g_clear_pointer (&info, ember_store_token_free);

  g_assert_true (ember_store_token_verify (f->store, gateway, 500, &status, &info, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_VALID);
  g_assert_cmpint (info->kind, ==, EMBER_STORE_DEVICE_GATEWAY);
  g_assert_cmpstr (info->site_name, ==, "home");
  g_assert_nonnull (info->site_id);
  g_clear_pointer (&info, ember_store_token_free);

  g_assert_true (ember_store_token_verify (f->store, expiring, 999, &status, NULL, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_VALID);
  g_assert_true (ember_store_token_verify (f->store, expiring, 1000, &status, &info, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_EXPIRED);
  g_assert_cmpstr (info->device_name, ==, "phone");
  g_clear_pointer (&info, ember_store_token_free);

  /* Right selector, wrong secret: the hash comparison says no. */
  wrong = g_strdup (client);
  wrong[strlen (wrong) - 1] = wrong[strlen (wrong) - 1] == 'A' ? 'B' : 'A';
  g_assert_true (ember_store_token_verify (f->store, wrong, 500, &status, &info, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_UNKNOWN);
  g_assert_null (info);
  for (guint i = 0; i < 3; i++)
    {
      const char *bad[] = { "", "Bearer", "ember_tok_zz" };
      g_assert_true (ember_store_token_verify (f->store, bad[i], 500, &status, NULL, &error));
      g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_UNKNOWN);
    }

  g_assert_true (ember_store_token_revoke (f->store, created->id, "test", &error));
  g_assert_no_error (error);
  g_assert_true (ember_store_token_verify (f->store, client, 500, &status, &info, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_REVOKED);
  g_assert_cmpint (info->revoked_at, >, 0);
  g_clear_pointer (&info, ember_store_token_free);
  g_assert_cmpstr (ember_store_token_status_name (status), ==, "revoked");

  ember_store_secret_free (g_steal_pointer (&client));
  ember_store_secret_free (g_steal_pointer (&gateway));
  ember_store_secret_free (g_steal_pointer (&expiring));
}

static void
test_tokens_revoke_appends_one_change (Fixture *f, gconstpointer data)
{
  g_autoptr (EmberStoreToken) info = NULL;
  g_autoptr (GPtrArray) changes = NULL;
  GError *error = NULL;
  gint64 before;

  (void) data;
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "c", NULL, 0, &info));
  before = change_count (f->store);
  g_assert_true (ember_store_token_revoke (f->store, info->id, "cli", &error));
  g_assert_true (ember_store_token_revoke (f->store, info->id, "cli", &error));
  changes = ember_store_changes_after (f->store, before, 0, &error);
  g_assert_cmpuint (changes->len, ==, 1);
  {
    EmberStoreChange *c = g_ptr_array_index (changes, 0);
    g_assert_cmpstr (c->kind, ==, "token");
    g_assert_cmpstr (c->verb, ==, "revoked");
    g_assert_cmpstr (c->object_id, ==, info->id);
    g_assert_cmpstr (c->actor, ==, "cli");
  }
  g_assert_false (ember_store_token_revoke (f->store, "no-such-id", "cli", &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
}

static void
test_tokens_gateway_needs_its_site (Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  (void) data;
  g_assert_null (ember_store_token_create (f->store, EMBER_STORE_DEVICE_GATEWAY, "gw", "nowhere",
                                           0, "test", NULL, &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "nowhere"));
  g_clear_error (&error);
  put_site (f->store, "a");
  put_site (f->store, "b");
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_GATEWAY, "gw", "a", 0, NULL));
  g_assert_null (ember_store_token_create (f->store, EMBER_STORE_DEVICE_GATEWAY, "gw", "b", 0,
                                           "test", NULL, &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
  g_clear_error (&error);
  /* Nothing of the failed attempts is left behind. */
  {
    g_autoptr (GPtrArray) tokens = ember_store_list_tokens (f->store, 0, &error);
    g_assert_cmpuint (tokens->len, ==, 1);
  }
}

/* ---- tunnel addresses ---- */

static void
test_addresses_are_stable_and_unique_across_reopen (Fixture *f, gconstpointer data)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GPtrArray) clients = NULL, gateways = NULL, again = NULL;
  g_autoptr (GInetAddressMask) v4 = g_inet_address_mask_new_from_string ("100.64.0.0/11", NULL);
  g_autoptr (GInetAddressMask) v6 =
    g_inet_address_mask_new_from_string ("fd00:2021:1111::/107", NULL);
  GError *error = NULL;

  (void) data;
  put_site (f->store, "home");
  for (guint i = 0; i < 40; i++)
    {
      g_autofree char *name = g_strdup_printf ("client-%02u", i);
      ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_CLIENT, name, NULL, 0,
                                          NULL));
    }
  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *name = g_strdup_printf ("gw-%u", i);
      ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_GATEWAY, name, "home", 0,
                                          NULL));
    }
  /* A second token for a client keeps its addresses. */
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "client-00", NULL, 0,
                                      NULL));
  clients = ember_store_list_clients (f->store, &error);
  gateways = ember_store_list_gateways (f->store, NULL, &error);
  g_assert_cmpuint (clients->len, ==, 40);
  g_assert_cmpuint (gateways->len, ==, 4);
  for (guint i = 0; i < clients->len + gateways->len; i++)
    {
      gboolean is_client = i < clients->len;
      EmberStoreClient *c = is_client ? g_ptr_array_index (clients, i) : NULL;
      EmberStoreGateway *g = is_client ? NULL : g_ptr_array_index (gateways, i - clients->len);
      const char *ipv4 = is_client ? c->ipv4 : g->ipv4, *ipv6 = is_client ? c->ipv6 : g->ipv6;
      g_autoptr (GInetAddress) a4 = g_inet_address_new_from_string (ipv4);
      g_autoptr (GInetAddress) a6 = g_inet_address_new_from_string (ipv6);

      g_assert_true (g_inet_address_mask_matches (v4, a4));
      g_assert_true (g_inet_address_mask_matches (v6, a6));
      g_assert_cmpstr (ipv4, !=, "100.64.0.0");
      g_assert_false (g_hash_table_contains (seen, ipv4));
      g_assert_false (g_hash_table_contains (seen, ipv6));
      g_hash_table_insert (seen, g_strdup (ipv4), g_strdup (is_client ? c->name : g->name));
      g_hash_table_insert (seen, g_strdup (ipv6), g_strdup (is_client ? c->name : g->name));
    }

  reopen (f);
  again = ember_store_list_clients (f->store, &error);
  for (guint i = 0; i < again->len; i++)
    {
      EmberStoreClient *c = g_ptr_array_index (again, i);
      g_assert_cmpstr (g_hash_table_lookup (seen, c->ipv4), ==, c->name);
      g_assert_cmpstr (g_hash_table_lookup (seen, c->ipv6), ==, c->name);
    }

  /* A new device after a deletion never takes a living device's address. */
  g_assert_true (ember_store_device_delete (f->store, EMBER_STORE_DEVICE_CLIENT, "client-39",
                                            "test", &error));
  g_assert_no_error (error);
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "late", NULL, 0, NULL));
  {
    g_autoptr (EmberStoreClient) late = ember_store_client_get_by_name (f->store, "late", &error);
    const char *owner = g_hash_table_lookup (seen, late->ipv4);
    g_assert_true (owner == NULL || g_str_equal (owner, "client-39"));
  }
}

/* ---- connect ---- */

static void
test_device_connected_records_key_once (Fixture *f, gconstpointer data)
{
  g_autoptr (EmberStoreToken) info = NULL;
  g_autoptr (EmberStoreClient) c = NULL;
  const char *key = "mFhc1eGbMyqtLnZf8Ndxk0KGQyGKUyHtIvNwyOxTKEg=";
  GError *error = NULL;
  gint64 before;

  (void) data;
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "c", NULL, 0, &info));
  before = change_count (f->store);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (ember_store_device_connected (f->store, EMBER_STORE_DEVICE_CLIENT,
                                                   info->device_id, key, "dev-1", &error));
      g_assert_no_error (error);
    }
  g_assert_cmpint (change_count (f->store), ==, before + 1);
  c = ember_store_client_get (f->store, info->device_id, &error);
  g_assert_cmpstr (c->public_key, ==, key);
  g_assert_cmpstr (c->external_id, ==, "dev-1");
  g_assert_cmpint (c->last_seen_at, >, 0);

  g_assert_false (ember_store_device_connected (f->store, EMBER_STORE_DEVICE_CLIENT,
                                                info->device_id, "short", "dev-1", &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "public_key"));
  g_clear_error (&error);
  g_assert_false (ember_store_device_connected (f->store, EMBER_STORE_DEVICE_GATEWAY,
                                                info->device_id, key, "dev-1", &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
}

/* ---- transactions and the changes log ---- */

static void
test_changes_roll_back_with_their_transaction (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) sites = NULL, changes = NULL;
  GError *error = NULL;
  gint64 before = change_count (f->store);

  (void) data;
  g_assert_true (ember_store_begin (f->store, &error));
  put_site (f->store, "a");
  put_site (f->store, "b");
  ember_store_rollback (f->store);
  sites = ember_store_list_sites (f->store, &error);
  g_assert_cmpuint (sites->len, ==, 0);
  g_assert_cmpint (change_count (f->store), ==, before);

  g_assert_true (ember_store_begin (f->store, &error));
  put_site (f->store, "a");
  put_site (f->store, "a"); /* unchanged: no second row */
  g_assert_true (ember_store_commit (f->store, &error));
  changes = ember_store_changes_after (f->store, before, 0, &error);
  g_assert_cmpuint (changes->len, ==, 1);
  g_assert_cmpstr (((EmberStoreChange *) changes->pdata[0])->verb, ==, "created");
  g_assert_cmpstr (((EmberStoreChange *) changes->pdata[0])->object_name, ==, "a");
}

static EmberStoreResource *
resource (const char *name, EmberStoreResourceType type, const char *address, const char *site)
{
  EmberStoreResource *r = g_new0 (EmberStoreResource, 1);

  r->name = g_strdup (name);
  r->type = type;
  r->address = g_strdup (address);
  r->site_name = g_strdup (site);
  r->filters = g_array_new (FALSE, TRUE, sizeof (EmberStoreFilter));
  return r;
}

static void
put_resource (EmberStore *store, EmberStoreResource *r)
{
  GError *error = NULL;

  g_assert_true (ember_store_resource_put (store, r, "test", &error));
  g_assert_no_error (error);
  ember_store_resource_free (r);
}

static void
put_policy (EmberStore *store, const char *group, const char *res, int start, int end,
            const char *sources)
{
  EmberStorePolicy p = { 0 };
  g_auto (GStrv) cidrs = sources != NULL ? g_strsplit (sources, " ", -1) : NULL;
  GError *error = NULL;

  p.group_name = (char *) group;
  p.resource_name = (char *) res;
  p.has_time_window = start >= 0;
  p.start_minute = (guint16) MAX (start, 0);
  p.end_minute = (guint16) MAX (end, 0);
  p.source_cidrs = cidrs;
  g_assert_true (ember_store_policy_put (store, &p, "test", &error));
  g_assert_no_error (error);
}

static void
test_resources_are_canonical_and_validated (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) list = NULL;
  EmberStoreResource *r;
  GError *error = NULL;

  (void) data;
  put_site (f->store, "home");
  put_resource (f->store, resource ("net", EMBER_STORE_RESOURCE_CIDR, "10.20.0.0/24", "home"));
  put_resource (f->store, resource ("wiki", EMBER_STORE_RESOURCE_DNS, "*.Corp.Example.", "home"));
  for (guint i = 0; i < 2; i++)
    {
      /* A set host bit is refused, not silently masked: likely a typo. */
      r = resource ("bad", EMBER_STORE_RESOURCE_CIDR, i == 0 ? "10.0.0.0/33" : "10.20.0.9/24",
                    "home");
      g_assert_false (ember_store_resource_put (f->store, r, "test", &error));
      g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, "address"));
      g_clear_error (&error);
      ember_store_resource_free (r);
    }
  r = resource ("bad", EMBER_STORE_RESOURCE_DNS, "a.*.example", "home");
  g_assert_false (ember_store_resource_put (f->store, r, "test", &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
  g_clear_error (&error);
  ember_store_resource_free (r);

  list = ember_store_list_resources (f->store, &error);
  g_assert_cmpuint (list->len, ==, 2);
  g_assert_cmpstr (((EmberStoreResource *) list->pdata[0])->address, ==, "10.20.0.0/24");
  g_assert_cmpstr (((EmberStoreResource *) list->pdata[1])->address, ==, "*.corp.example");
  g_assert_cmpstr (((EmberStoreResource *) list->pdata[1])->site_name, ==, "home");
}

static void
test_deleting_a_resource_logs_its_policies (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) changes = NULL, policies = NULL;
  const char *const members[] = { "laptop", NULL };
  GError *error = NULL;
  gint64 before;

  (void) data;
  put_site (f->store, "home");
  put_resource (f->store, resource ("web", EMBER_STORE_RESOURCE_CIDR, "10.0.0.0/24", "home"));
  g_assert_true (ember_store_group_put (f->store, "staff", members, "test", &error));
  put_policy (f->store, "staff", "web", -1, -1, NULL);
  g_assert_false (ember_store_site_delete (f->store, "home", "test", &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "resource web"));
  g_clear_error (&error);

  before = change_count (f->store);
  g_assert_true (ember_store_resource_delete (f->store, "web", "test", &error));
  changes = ember_store_changes_after (f->store, before, 0, &error);
  g_assert_cmpuint (changes->len, ==, 2);
  g_assert_cmpstr (((EmberStoreChange *) changes->pdata[0])->kind, ==, "policy");
  g_assert_cmpstr (((EmberStoreChange *) changes->pdata[0])->object_name, ==, "staff -> web");
  g_assert_nonnull (strstr (((EmberStoreChange *) changes->pdata[0])->detail, "\"group\":\"staff\""));
  g_assert_cmpstr (((EmberStoreChange *) changes->pdata[1])->kind, ==, "resource");
  /* The last state, for the gateways of its site. */
  g_assert_nonnull (strstr (((EmberStoreChange *) changes->pdata[1])->detail, "\"site\":\"home\""));
  policies = ember_store_list_policies (f->store, &error);
  g_assert_cmpuint (policies->len, ==, 0);
  g_assert_true (ember_store_site_delete (f->store, "home", "test", &error));
}

/* ---- policy evaluation ---- */

static guint
allowed (EmberStoreAccess *a, const char *client, gint64 now, const char *source,
         const char *expected)
{
  g_autoptr (GInetAddress) addr = source != NULL ? g_inet_address_new_from_string (source) : NULL;
  g_autoptr (GPtrArray) list = ember_store_access_resources (a, client, now, addr);
  g_autoptr (GString) names = g_string_new (NULL);

  for (guint i = 0; i < list->len; i++)
    g_string_append_printf (names, "%s%s", i ? " " : "",
                            ((EmberStoreResource *) list->pdata[i])->name);
  g_assert_cmpstr (names->str, ==, expected);
  return list->len;
}

static void
test_policy_evaluation_with_conditions (Fixture *f, gconstpointer data)
{
  g_autoptr (EmberStoreAccess) a = NULL;
  const char *const staff[] = { "laptop", "phone", NULL };
  const char *const ops[] = { "laptop", "future-client", NULL };
  const gint64 day = 20000 * 86400; /* a UTC midnight */
  GError *error = NULL;

  (void) data;
  put_site (f->store, "home");
  put_resource (f->store, resource ("web", EMBER_STORE_RESOURCE_CIDR, "10.0.0.0/24", "home"));
  put_resource (f->store, resource ("night", EMBER_STORE_RESOURCE_CIDR, "10.1.0.0/24", "home"));
  put_resource (f->store, resource ("office", EMBER_STORE_RESOURCE_DNS, "**.corp", "home"));
  put_resource (f->store, resource ("hidden", EMBER_STORE_RESOURCE_INTERNET, NULL, "home"));
  g_assert_true (ember_store_group_put (f->store, "staff", staff, "test", &error));
  g_assert_true (ember_store_group_put (f->store, "ops", ops, "test", &error));
  put_policy (f->store, "staff", "web", 8 * 60, 18 * 60, NULL);
  put_policy (f->store, "ops", "web", -1, -1, "192.0.2.0/24 2001:db8::/32");
  put_policy (f->store, "staff", "night", 22 * 60, 6 * 60, NULL); /* wraps midnight */
  put_policy (f->store, "ops", "office", -1, -1, NULL);
  a = ember_store_access_load (f->store, &error);
  g_assert_no_error (error);

  /* No policy, no access: nobody gets "hidden", strangers get nothing. */
  allowed (a, "stranger", day + 12 * 3600, "192.0.2.1", "");
  /* phone (staff only): the window decides. */
  allowed (a, "phone", day + 12 * 3600, NULL, "web");
  allowed (a, "phone", day + 8 * 3600, NULL, "web");
  allowed (a, "phone", day + 18 * 3600, NULL, "");
  allowed (a, "phone", day + 23 * 3600, NULL, "night");
  allowed (a, "phone", day + 3 * 3600, NULL, "night");
  allowed (a, "phone", day + 6 * 3600, NULL, "");
  /* laptop (staff and ops): policies OR-combine; ops's web needs a source. */
  allowed (a, "laptop", day + 20 * 3600, "198.51.100.7", "office");
  allowed (a, "laptop", day + 20 * 3600, "192.0.2.77", "office web");
  allowed (a, "laptop", day + 20 * 3600, "::ffff:192.0.2.77", "office web");
  allowed (a, "laptop", day + 20 * 3600, "2001:db8::5", "office web");
  allowed (a, "laptop", day + 20 * 3600, NULL, "office");
  allowed (a, "laptop", day + 12 * 3600, NULL, "office web");
  /* Granted twice (staff's window and ops's source): listed once. */
  allowed (a, "laptop", day + 12 * 3600, "192.0.2.77", "office web");
  /* A member named before its client exists. */
  allowed (a, "future-client", day, "192.0.2.1", "office web");

  {
    g_autoptr (EmberStoreResource) web = NULL;
    g_autoptr (GPtrArray) all = ember_store_list_resources (f->store, &error);
    const char *web_id = NULL;
    for (guint i = 0; i < all->len; i++)
      if (g_str_equal (((EmberStoreResource *) all->pdata[i])->name, "web"))
        web_id = ((EmberStoreResource *) all->pdata[i])->id;
    g_assert_true (ember_store_access_allows (a, "phone", web_id, day + 9 * 3600, NULL));
    g_assert_false (ember_store_access_allows (a, "phone", web_id, day + 19 * 3600, NULL));
    web = ember_store_resource_get (f->store, web_id, &error);
    g_assert_cmpstr (web->site_name, ==, "home");
  }
  {
    g_autoptr (EmberStoreToken) info = NULL;
    g_autoptr (GPtrArray) mine = NULL;
    ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "phone", NULL, 0,
                                        &info));
    mine = ember_store_client_resources (f->store, info->device_id, day + 23 * 3600, NULL,
                                         &error);
    g_assert_cmpuint (mine->len, ==, 1);
    g_assert_cmpstr (((EmberStoreResource *) mine->pdata[0])->name, ==, "night");
  }
}

/* ---- authorizations ---- */

static EmberStoreAuthorization
authz_row (const char *client_id, const char *resource_id, const char *gateway_id,
           gint64 expires_at)
{
  return (EmberStoreAuthorization) {
    .client_id = (char *) client_id, .resource_id = (char *) resource_id,
    .gateway_id = (char *) gateway_id,
    .client_public_key = (char *) "Y2xpZW50LXB1YmxpYy1rZXktMDEyMzQ1Njc4OWFiY2Q=",
    .preshared_key = (char *) "cHJlc2hhcmVkLWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2g=",
    .client_ufrag = (char *) "c1ufrag8", .client_pwd = (char *) "clientpasswordclientpass",
    .gateway_ufrag = (char *) "g1ufrag8", .gateway_pwd = (char *) "gatewaypasswordgatewayp1",
    .source = (char *) "192.0.2.7", .expires_at = expires_at,
  };
}

static void
test_authorizations_survive_reopen_and_go (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStoreToken) client = NULL, gw = NULL;
  gint64 now = 1765000000, changes;

  (void) data;
  put_site (f->store, "home");
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "laptop", NULL, 0,
                                      &client));
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_GATEWAY, "gw1", "home", 0,
                                      &gw));
  EmberStoreResource web = { .name = (char *) "web", .type = EMBER_STORE_RESOURCE_CIDR,
                             .address = (char *) "10.20.0.0/24", .site_name = (char *) "home" };
  EmberStoreResource wiki = { .name = (char *) "wiki", .type = EMBER_STORE_RESOURCE_DNS,
                              .address = (char *) "*.corp.example", .site_name = (char *) "home" };
  g_assert_true (ember_store_resource_put (f->store, &web, "test", &error));
  g_assert_true (ember_store_resource_put (f->store, &wiki, "test", &error));
  g_autoptr (GPtrArray) all = ember_store_list_resources (f->store, &error);
  const char *web_id = ((EmberStoreResource *) all->pdata[0])->id;
  const char *wiki_id = ((EmberStoreResource *) all->pdata[1])->id;
  changes = change_count (f->store);

  EmberStoreAuthorization a = authz_row (client->device_id, web_id, gw->device_id, now + 100);
  EmberStoreAuthorization b = authz_row (client->device_id, wiki_id, gw->device_id, now + 10);
  g_assert_true (ember_store_authorization_put (f->store, &a, &error));
  g_assert_true (ember_store_authorization_put (f->store, &b, &error));
  g_assert_no_error (error);
  /* Runtime state, not a change of the model. */
  g_assert_cmpint (change_count (f->store), ==, changes);

  /* A renewal replaces its row; what was stored survives a reopen. */
  a.expires_at = now + 200;
  a.preshared_key = (char *) "Z2F0ZXdheS1wdWJsaWMta2V5LTAxMjM0NTY3ODlhYmM=";
  a.token_id = client->id;
  g_assert_true (ember_store_authorization_put (f->store, &a, &error));
  reopen (f);
  g_autoptr (GPtrArray) rows = ember_store_list_authorizations (f->store, now, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rows->len, ==, 2);
  EmberStoreAuthorization *got = NULL;
  for (guint i = 0; i < rows->len; i++)
    if (g_str_equal (((EmberStoreAuthorization *) rows->pdata[i])->resource_id, web_id))
      got = rows->pdata[i];
  g_assert_nonnull (got);
  g_assert_cmpstr (got->client_id, ==, client->device_id);
  g_assert_cmpstr (got->gateway_id, ==, gw->device_id);
  g_assert_cmpstr (got->preshared_key, ==, a.preshared_key);
  g_assert_cmpstr (got->client_public_key, ==, a.client_public_key);
  g_assert_cmpstr (got->client_pwd, ==, a.client_pwd);
  g_assert_cmpstr (got->gateway_ufrag, ==, a.gateway_ufrag);
  g_assert_cmpstr (got->source, ==, "192.0.2.7");
  g_assert_cmpstr (got->token_id, ==, client->id);
  g_assert_cmpint (got->expires_at, ==, now + 200);

  /* Listing leaves out what has expired; expire deletes it. */
  g_clear_pointer (&rows, g_ptr_array_unref);
  rows = ember_store_list_authorizations (f->store, now + 10, &error);
  g_assert_cmpuint (rows->len, ==, 1);
  gint64 n = -1;
  g_assert_true (ember_store_authorizations_expire (f->store, now + 10, &n, &error));
  g_assert_cmpint (n, ==, 1);
  g_clear_pointer (&rows, g_ptr_array_unref);
  rows = ember_store_list_authorizations (f->store, 0, &error);
  g_assert_cmpuint (rows->len, ==, 1);

  /* Deleting the resource deletes its authorizations with it. */
  g_assert_true (ember_store_authorization_put (f->store, &b, &error));
  g_assert_true (ember_store_resource_delete (f->store, "wiki", "test", &error));
  g_assert_no_error (error);
  g_clear_pointer (&rows, g_ptr_array_unref);
  rows = ember_store_list_authorizations (f->store, 0, &error);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpstr (((EmberStoreAuthorization *) rows->pdata[0])->resource_id, ==, web_id);

  /* One deleted by its triple; again is no error. */
  g_assert_true (ember_store_authorization_delete (f->store, client->device_id, web_id,
                                                   gw->device_id, &error));
  g_assert_true (ember_store_authorization_delete (f->store, client->device_id, web_id,
                                                   gw->device_id, &error));
  g_assert_no_error (error);
  g_clear_pointer (&rows, g_ptr_array_unref);
  rows = ember_store_list_authorizations (f->store, 0, &error);
  g_assert_cmpuint (rows->len, ==, 0);
}

static void
test_authorizations_refuse_what_does_not_exist (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStoreToken) client = NULL, gw = NULL;

  (void) data;
  put_site (f->store, "home");
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_CLIENT, "laptop", NULL, 0,
                                      &client));
  ember_store_secret_free (new_token (f->store, EMBER_STORE_DEVICE_GATEWAY, "gw1", "home", 0,
                                      &gw));
  /* No such resource: the foreign key refuses it. */
  EmberStoreAuthorization a = authz_row (client->device_id,
                                         "4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60", gw->device_id,
                                         1765000000);
  g_assert_false (ember_store_authorization_put (f->store, &a, &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
  g_clear_error (&error);
  /* A missing member is named. */
  a.preshared_key = NULL;
  g_assert_false (ember_store_authorization_put (f->store, &a, &error));
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "preshared_key"));
}

static void
test_relay_expiry_is_kept_until_past (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  gint64 e = -1;

  (void) data;
  g_assert_true (ember_store_relay_expiry_get (f->store, "dev-a", &e, &error));
  g_assert_cmpint (e, ==, 0);
  g_assert_true (ember_store_relay_expiry_set (f->store, "dev-a", 2000, 1000, &error));
  g_assert_true (ember_store_relay_expiry_set (f->store, "dev-b", 5000, 1000, &error));
  g_assert_no_error (error);
  reopen (f);
  g_assert_true (ember_store_relay_expiry_get (f->store, "dev-a", &e, &error));
  g_assert_cmpint (e, ==, 2000);
  /* A newer one replaces it; one past `now` is forgotten on the next set. */
  g_assert_true (ember_store_relay_expiry_set (f->store, "dev-b", 6000, 2500, &error));
  g_assert_true (ember_store_relay_expiry_get (f->store, "dev-a", &e, &error));
  g_assert_cmpint (e, ==, 0);
  g_assert_true (ember_store_relay_expiry_get (f->store, "dev-b", &e, &error));
  g_assert_cmpint (e, ==, 6000);
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/portal/store/" path, Fixture, NULL, fixture_set_up, fn, \
                                  fixture_tear_down)
  ADD ("migrations/from-an-empty-file", test_migrations_from_empty_file);
  ADD ("migrations/from-each-older-version", test_migrations_from_each_older_version);
  ADD ("migrations/refuse-a-newer-schema", test_migrations_refuse_a_newer_schema);
  ADD ("migrations/v6-gives-resources-an-ip-stack", test_migration_adds_ip_stack);
  ADD ("open/refuses-a-file-that-is-not-sqlite", test_open_refuses_a_file_that_is_not_sqlite);
  ADD ("tokens/are-stored-only-as-hashes", test_tokens_are_stored_only_as_hashes);
  ADD ("tokens/verify-valid-expired-revoked-unknown", test_tokens_verify_by_status);
  ADD ("tokens/revoke-appends-one-change", test_tokens_revoke_appends_one_change);
  ADD ("tokens/a-gateway-needs-its-site", test_tokens_gateway_needs_its_site);
  ADD ("addresses/are-stable-and-unique-across-reopen",
       test_addresses_are_stable_and_unique_across_reopen);
  ADD ("devices/connect-records-the-key-once", test_device_connected_records_key_once);
  ADD ("changes/roll-back-with-their-transaction", test_changes_roll_back_with_their_transaction);
  ADD ("resources/are-canonical-and-validated", test_resources_are_canonical_and_validated);
  ADD ("resources/deleting-one-logs-its-policies", test_deleting_a_resource_logs_its_policies);
  ADD ("policies/evaluate-groups-or-combined-with-conditions",
       test_policy_evaluation_with_conditions);
  ADD ("authorizations/survive-reopen-renew-expire-and-cascade",
       test_authorizations_survive_reopen_and_go);
  ADD ("authorizations/refuse-a-resource-that-does-not-exist",
       test_authorizations_refuse_what_does_not_exist);
  ADD ("relays/credential-expiry-is-kept-until-past", test_relay_expiry_is_kept_until_past);
  return g_test_run ();
}
