/* store-sqlite — the SQLite backend of the portal's store. */
#define G_LOG_DOMAIN "ember-portal-store"

#include <sqlite3.h>

#include "store-backend.h"
#include "store.h"

/* How long a writer waits for another process (the CLI next to `serve`)
 * before the statement fails with "database is locked". */
#define BUSY_TIMEOUT_MS 5000

typedef struct {
  sqlite3 *db;
  GHashTable *statements; /* SQL text -> sqlite3_stmt*, prepared once */
} SqliteDb;

struct _EmberStoreRow {
  sqlite3_stmt *stmt;
};

/* Version 1: the model. Version 2: admin API keys, and an index for the
 * server's "changes of this object" lookups. Version 3: the authorizations
 * `serve` granted, so a restart re-hands them to the gateways. Version 4:
 * when each device's relay credentials expire, so a device that signs in
 * again gets the same ones. Version 5: the token an authorization was
 * granted under, so revoking it ends them. Version 6: a dns resource's IP
 * stack (the families behind its gateway). Never edit a shipped entry;
 * append a new one. */
static const char *const migrations[] = {
  "CREATE TABLE sites ("
  "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL);"
  "CREATE TABLE tunnel_indexes ("
  "  idx INTEGER PRIMARY KEY, device_id TEXT NOT NULL UNIQUE);"
  "CREATE TABLE clients ("
  "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, public_key TEXT, external_id TEXT,"
  "  tunnel_index INTEGER NOT NULL UNIQUE REFERENCES tunnel_indexes (idx),"
  "  created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL DEFAULT 0);"
  "CREATE TABLE gateways ("
  "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
  "  site_id TEXT NOT NULL REFERENCES sites (id), public_key TEXT, external_id TEXT,"
  "  tunnel_index INTEGER NOT NULL UNIQUE REFERENCES tunnel_indexes (idx),"
  "  created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL DEFAULT 0);"
  "CREATE TABLE resources ("
  "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL, address TEXT,"
  "  site_id TEXT NOT NULL REFERENCES sites (id), filters TEXT NOT NULL DEFAULT '');"
  "CREATE TABLE client_groups ("
  "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
  "CREATE TABLE group_members ("
  "  group_id TEXT NOT NULL REFERENCES client_groups (id) ON DELETE CASCADE,"
  "  client_name TEXT NOT NULL, PRIMARY KEY (group_id, client_name));"
  "CREATE TABLE policies ("
  "  id TEXT PRIMARY KEY,"
  "  group_id TEXT NOT NULL REFERENCES client_groups (id) ON DELETE CASCADE,"
  "  resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,"
  "  time_start INTEGER, time_end INTEGER, source_cidrs TEXT NOT NULL DEFAULT '',"
  "  UNIQUE (group_id, resource_id));"
  "CREATE TABLE tokens ("
  "  id TEXT PRIMARY KEY, selector TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,"
  "  client_id TEXT REFERENCES clients (id) ON DELETE CASCADE,"
  "  gateway_id TEXT REFERENCES gateways (id) ON DELETE CASCADE,"
  "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL DEFAULT 0,"
  "  revoked_at BIGINT NOT NULL DEFAULT 0,"
  "  CHECK ((client_id IS NULL) <> (gateway_id IS NULL)));"
  "CREATE TABLE changes ("
  "  id INTEGER PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL, verb TEXT NOT NULL,"
  "  kind TEXT NOT NULL, object_id TEXT, object_name TEXT, detail TEXT);",

  "CREATE TABLE api_keys ("
  "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, selector TEXT NOT NULL UNIQUE,"
  "  hash TEXT NOT NULL,"
  "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL DEFAULT 0,"
  "  revoked_at BIGINT NOT NULL DEFAULT 0);"
  "CREATE INDEX changes_object ON changes (kind, object_id);",

  "CREATE TABLE authorizations ("
  "  client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,"
  "  resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,"
  "  gateway_id TEXT NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,"
  "  client_public_key TEXT NOT NULL, preshared_key TEXT NOT NULL,"
  "  client_ufrag TEXT NOT NULL, client_pwd TEXT NOT NULL,"
  "  gateway_ufrag TEXT NOT NULL, gateway_pwd TEXT NOT NULL,"
  "  source TEXT, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,"
  "  PRIMARY KEY (client_id, resource_id, gateway_id));"
  "CREATE INDEX authorizations_expiry ON authorizations (expires_at);",

  "CREATE TABLE relay_credentials ("
  "  device_id TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);",

  "ALTER TABLE authorizations ADD COLUMN token_id TEXT;",

  "ALTER TABLE resources ADD COLUMN ip_stack TEXT NOT NULL DEFAULT 'dual';",
};

static void
set_db_error (GError **error, sqlite3 *db, const char *what)
{
  int code = sqlite3_extended_errcode (db);
  int kind = EMBER_STORE_ERROR_BACKEND;

  if ((code & 0xff) == SQLITE_CONSTRAINT)
    kind = code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY
             ? EMBER_STORE_ERROR_EXISTS
             : EMBER_STORE_ERROR_INVALID;
  g_set_error (error, EMBER_STORE_ERROR, kind, "sqlite: %s: %s", what, sqlite3_errmsg (db));
}

static void
sqlite_close (gpointer data)
{
  SqliteDb *s = data;

  if (s == NULL)
    return;
  g_clear_pointer (&s->statements, g_hash_table_destroy);
  sqlite3_close_v2 (s->db);
  g_free (s);
}

static gboolean
sqlite_exec (gpointer data, const char *sql, GError **error)
{
  SqliteDb *s = data;

  if (sqlite3_exec (s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    {
      set_db_error (error, s->db, "exec");
      return FALSE;
    }
  return TRUE;
}

static sqlite3_stmt *
prepare (SqliteDb *s, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (s->statements, sql);

  if (stmt != NULL)
    return stmt;
  if (sqlite3_prepare_v3 (s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
    {
      set_db_error (error, s->db, "prepare");
      return NULL;
    }
  g_hash_table_insert (s->statements, g_strdup (sql), stmt);
  return stmt;
}

static gboolean
sqlite_query (gpointer data, const char *sql, const EmberStoreParam *params, guint n_params,
              EmberStoreRowFunc row, gpointer user_data, gint64 *affected, GError **error)
{
  SqliteDb *s = data;
  sqlite3_stmt *stmt = prepare (s, sql, error);
  EmberStoreRow r;
  gboolean ok = TRUE;
  int rc;

  if (stmt == NULL)
    return FALSE;
  for (guint i = 0; i < n_params; i++)
    {
      int col = (int) i + 1;
      switch (params[i].type)
        {
        case EMBER_STORE_PARAM_NULL:
          rc = sqlite3_bind_null (stmt, col);
          break;
        case EMBER_STORE_PARAM_TEXT:
          rc = sqlite3_bind_text (stmt, col, params[i].text, -1, SQLITE_TRANSIENT);
          break;
        case EMBER_STORE_PARAM_INT:
        default:
          rc = sqlite3_bind_int64 (stmt, col, params[i].i);
          break;
        }
      if (rc != SQLITE_OK)
        {
          set_db_error (error, s->db, "bind");
          ok = FALSE;
          goto out;
        }
    }
  r.stmt = stmt;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    if (row != NULL)
      row (&r, user_data);
  if (rc != SQLITE_DONE)
    {
      set_db_error (error, s->db, "step");
      ok = FALSE;
    }
  else if (affected != NULL)
    *affected = sqlite3_changes64 (s->db);

out:
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  return ok;
}

static const char *
sqlite_row_text (const EmberStoreRow *row, guint column)
{
  return (const char *) sqlite3_column_text (row->stmt, (int) column);
}

static gint64
sqlite_row_int (const EmberStoreRow *row, guint column)
{
  return sqlite3_column_int64 (row->stmt, (int) column);
}

const EmberStoreBackend *
ember_store_sqlite_backend (void)
{
  static const EmberStoreBackend backend = {
    .name = "sqlite",
    .migrations = migrations,
    .n_migrations = G_N_ELEMENTS (migrations),
    .begin_write = "BEGIN IMMEDIATE",
    .begin_read = "BEGIN",
    .close = sqlite_close,
    .exec = sqlite_exec,
    .query = sqlite_query,
    .row_text = sqlite_row_text,
    .row_int = sqlite_row_int,
  };
  return &backend;
}

static void
finalize_statement (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

gpointer
ember_store_sqlite_open (const char *path, GError **error)
{
  SqliteDb *s = g_new0 (SqliteDb, 1);
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

  s->statements = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, finalize_statement);
  if (sqlite3_open_v2 (path, &s->db, flags, NULL) != SQLITE_OK)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_OPEN, "%s: %s", path,
                   s->db != NULL ? sqlite3_errmsg (s->db) : "out of memory");
      sqlite_close (s);
      return NULL;
    }
  sqlite3_extended_result_codes (s->db, 1);
  sqlite3_busy_timeout (s->db, BUSY_TIMEOUT_MS);
  /* WAL: `serve` keeps reading while the CLI writes; foreign keys are off
   * by default in SQLite and the schema relies on them. */
  if (sqlite3_exec (s->db,
                    "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
                    "PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;",
                    NULL, NULL, NULL) != SQLITE_OK)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_OPEN, "%s: %s", path,
                   sqlite3_errmsg (s->db));
      sqlite_close (s);
      return NULL;
    }
  return s;
}
