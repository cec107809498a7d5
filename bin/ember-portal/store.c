/* store — opening, migrations, transactions and the changes log. */
#define G_LOG_DOMAIN "ember-portal-store"

#include "store-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <glib/gstdio.h>
#include <unistd.h>

G_DEFINE_QUARK (ember-store-error-quark, ember_store_error)

/* ---- row helpers ---- */

gboolean
store_query (EmberStore *s, const char *sql, const EmberStoreParam *params, guint n,
             EmberStoreRowFunc row, gpointer user_data, gint64 *affected, GError **error)
{
  return s->backend->query (s->db, sql, params, n, row, user_data, affected, error);
}

const char *
store_text (EmberStore *s, const EmberStoreRow *row, guint column)
{
  return s->backend->row_text (row, column);
}

gint64
store_int (EmberStore *s, const EmberStoreRow *row, guint column)
{
  return s->backend->row_int (row, column);
}

typedef struct {
  EmberStore *store;
  gboolean found;
  char *text;
  gint64 value;
} FirstRow;

static void
first_row (const EmberStoreRow *row, gpointer data)
{
  FirstRow *f = data;

  if (f->found)
    return;
  f->found = TRUE;
  f->text = g_strdup (store_text (f->store, row, 0));
  f->value = store_int (f->store, row, 0);
}

gboolean
store_query_text (EmberStore *s, const char *sql, const EmberStoreParam *params, guint n,
                  char **out, GError **error)
{
  FirstRow f = { s, FALSE, NULL, 0 };

  if (!store_query (s, sql, params, n, first_row, &f, NULL, error))
    return FALSE;
  *out = f.text;
  return TRUE;
}

gboolean
store_query_int (EmberStore *s, const char *sql, const EmberStoreParam *params, guint n,
                 gint64 *out, gboolean *found, GError **error)
{
  FirstRow f = { s, FALSE, NULL, 0 };

  if (!store_query (s, sql, params, n, first_row, &f, NULL, error))
    return FALSE;
  g_free (f.text);
  *out = f.value;
  if (found != NULL)
    *found = f.found;
  return TRUE;
}

typedef struct {
  EmberStore *store;
  StoreRowConvert convert;
  GPtrArray *out;
} ListRows;

static void
list_row (const EmberStoreRow *row, gpointer data)
{
  ListRows *l = data;

  g_ptr_array_add (l->out, l->convert (l->store, row));
}

GPtrArray *
store_query_list (EmberStore *s, const char *sql, const EmberStoreParam *params, guint n,
                  StoreRowConvert convert, GDestroyNotify free_func, GError **error)
{
  ListRows l = { s, convert, g_ptr_array_new_with_free_func (free_func) };

  if (!store_query (s, sql, params, n, list_row, &l, NULL, error))
    {
      g_ptr_array_unref (l.out);
      return NULL;
    }
  return l.out;
}

/* ---- transactions ---- */

gboolean
store_tx_begin (EmberStore *s, GError **error)
{
  if (!s->backend->exec (s->db, s->depth == 0 ? s->backend->begin_write : "SAVEPOINT ember",
                         error))
    return FALSE;
  s->depth++;
  return TRUE;
}

gboolean
store_tx_begin_read (EmberStore *s, GError **error)
{
  if (!s->backend->exec (s->db, s->depth == 0 ? s->backend->begin_read : "SAVEPOINT ember",
                         error))
    return FALSE;
  s->depth++;
  return TRUE;
}

gboolean
store_tx_end (EmberStore *s, gboolean ok, GError **error)
{
  g_return_val_if_fail (s->depth > 0, FALSE);

  s->depth--;
  if (ok)
    {
      if (s->backend->exec (s->db, s->depth == 0 ? "COMMIT" : "RELEASE ember", error))
        return TRUE;
      ok = FALSE;
      error = NULL; /* already set; roll back below without a second error */
    }
  if (s->depth == 0)
    s->backend->exec (s->db, "ROLLBACK", NULL);
  else
    s->backend->exec (s->db, "ROLLBACK TO ember; RELEASE ember", NULL);
  return ok;
}

gboolean
ember_store_begin (EmberStore *store, GError **error)
{
  return store_tx_begin (store, error);
}

gboolean
ember_store_commit (EmberStore *store, GError **error)
{
  return store_tx_end (store, TRUE, error);
}

void
ember_store_rollback (EmberStore *store)
{
  store_tx_end (store, FALSE, NULL);
}

/* ---- small shared helpers ---- */

char *
store_new_id (void)
{
  return g_uuid_string_random ();
}

gint64
store_now (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

gboolean
store_not_found (GError **error, const char *what, const char *name)
{
  g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_NOT_FOUND, "no %s named \"%s\"", what,
               name);
  return FALSE;
}

gboolean
store_check_name (const char *what, const char *name, GError **error)
{
  gsize len = name != NULL ? strlen (name) : 0;
  gboolean ok = len > 0 && len <= 64;

  for (gsize i = 0; ok && i < len; i++)
    ok = g_ascii_isalnum (name[i]) || strchr ("-_.@", name[i]) != NULL;
  if (!ok)
    g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                 "%s: expected 1 to 64 letters, digits, '-', '_', '.' or '@', got \"%s\"", what,
                 name != NULL ? name : "");
  return ok;
}

char *
store_strv_join (char **strv)
{
  return g_strjoinv (",", strv != NULL ? strv : (char *[]) { NULL });
}

char **
store_strv_split (const char *text)
{
  if (text == NULL || *text == '\0')
    return g_new0 (char *, 1);
  return g_strsplit (text, ",", -1);
}

/* ---- changes ---- */

gboolean
store_change (EmberStore *s, const char *actor, const char *verb, const char *kind,
              const char *object_id, const char *object_name, const char *detail,
              GError **error)
{
  return store_query (s,
                      "INSERT INTO changes (at, actor, verb, kind, object_id, object_name, detail)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)",
                      STORE_PARAMS (EMBER_STORE_INT (store_now ()), EMBER_STORE_TEXT (actor),
                                    EMBER_STORE_TEXT (verb), EMBER_STORE_TEXT (kind),
                                    EMBER_STORE_TEXT (object_id), EMBER_STORE_TEXT (object_name),
                                    EMBER_STORE_TEXT (detail)),
                      NULL, NULL, NULL, error);
}

void
ember_store_change_free (EmberStoreChange *c)
{
  if (c == NULL)
    return;
  g_free (c->actor);
  g_free (c->verb);
  g_free (c->kind);
  g_free (c->object_id);
  g_free (c->object_name);
  g_free (c->detail);
  g_free (c);
}

static gpointer
change_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStoreChange *c = g_new0 (EmberStoreChange, 1);

  c->id = store_int (s, row, 0);
  c->at = store_int (s, row, 1);
  c->actor = g_strdup (store_text (s, row, 2));
  c->verb = g_strdup (store_text (s, row, 3));
  c->kind = g_strdup (store_text (s, row, 4));
  c->object_id = g_strdup (store_text (s, row, 5));
  c->object_name = g_strdup (store_text (s, row, 6));
  c->detail = g_strdup (store_text (s, row, 7));
  return c;
}

gboolean
ember_store_latest_change (EmberStore *store, gint64 *id, GError **error)
{
  return store_query_int (store, "SELECT COALESCE(MAX(id), 0) FROM changes", NULL, 0, id, NULL,
                          error);
}

GPtrArray *
ember_store_changes_after (EmberStore *store, gint64 after, guint limit, GError **error)
{
  return store_query_list (store,
                           "SELECT id, at, actor, verb, kind, object_id, object_name, detail"
                           " FROM changes WHERE id > ? ORDER BY id LIMIT ?",
                           STORE_PARAMS (EMBER_STORE_INT (after),
                                         EMBER_STORE_INT (limit == 0 ? G_MAXINT64 : limit)),
                           change_from_row, (GDestroyNotify) ember_store_change_free, error);
}

/* ---- opening and migrations ---- */

static gboolean
read_version (EmberStore *s, GError **error)
{
  gint64 v = 0;
  gboolean found = FALSE;

  if (!s->backend->exec (s->db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                         error))
    return FALSE;
  if (!store_query_int (s, "SELECT version FROM schema_version", NULL, 0, &v, &found, error))
    return FALSE;
  if (!found &&
      !store_query (s, "INSERT INTO schema_version (version) VALUES (0)", NULL, 0, NULL, NULL,
                    NULL, error))
    return FALSE;
  s->version = (guint) v;
  return TRUE;
}

static gboolean
migrate (EmberStore *s, const char *name, guint target, GError **error)
{
  if (!read_version (s, error))
    return FALSE;
  if (s->version > s->backend->n_migrations)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_SCHEMA,
                   "%s: schema version %u is newer than this program's %u; run a newer "
                   "ember-portal",
                   name, s->version, s->backend->n_migrations);
      return FALSE;
    }
  while (s->version < target)
    {
      GError *local = NULL;
      guint next = s->version + 1;
      gboolean ok;

      if (!store_tx_begin (s, error))
        return FALSE;
      ok = s->backend->exec (s->db, s->backend->migrations[s->version], &local) &&
           store_query (s, "UPDATE schema_version SET version = ?",
                        STORE_PARAMS (EMBER_STORE_INT (next)), NULL, NULL, NULL, &local);
      if (!store_tx_end (s, ok, &local))
        {
          g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_OPEN,
                       "%s: migration to schema version %u failed: %s", name, next,
                       local->message);
          g_error_free (local);
          return FALSE;
        }
      g_debug ("%s: migrated to schema version %u", name, next);
      s->version = next;
    }
  return TRUE;
}

EmberStore *
ember_store_open_sqlite_at (const char *path, guint version, GError **error)
{
  g_autoptr (EmberStore) s = g_new0 (EmberStore, 1);

  s->backend = ember_store_sqlite_backend ();
  s->db = ember_store_sqlite_open (path, error);
  if (s->db == NULL)
    return NULL;
  if (!migrate (s, path, MIN (version, s->backend->n_migrations), error))
    return NULL;
  return g_steal_pointer (&s);
}

EmberStore *
ember_store_open_sqlite (const char *path, GError **error)
{
  return ember_store_open_sqlite_at (path, G_MAXUINT, error);
}

EmberStore *
ember_store_open (const char *state_dir, GError **error)
{
  g_autofree char *path = g_build_filename (state_dir, EMBER_STORE_FILE_NAME, NULL);
  int fd;

  /* The database holds token hashes and the audit log: owner only. */
  if (g_mkdir_with_parents (state_dir, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_OPEN,
                   "state directory %s: %s", state_dir, g_strerror (e));
      return NULL;
    }
  /* Created owner-only before SQLite opens it; the -wal and -shm files
   * inherit the database file's mode. */
  fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_OPEN, "%s: %s", path,
                   g_strerror (e));
      return NULL;
    }
  close (fd);
  return ember_store_open_sqlite (path, error);
}

void
ember_store_free (EmberStore *store)
{
  if (store == NULL)
    return;
  if (store->depth > 0)
    store->backend->exec (store->db, "ROLLBACK", NULL);
  if (store->db != NULL)
    store->backend->close (store->db);
  g_free (store);
}

guint
ember_store_schema_version (EmberStore *store)
{
  return store->version;
}
