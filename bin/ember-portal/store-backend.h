/* store-backend — what a database backend gives the store.
 *
 * The model's SQL (store-*.c) is written once, in the subset SQLite and
 * PostgreSQL share: `?` placeholders (a backend that wants `$1` rewrites
 * them), bound parameters only, TEXT/BIGINT/INTEGER columns, ON CONFLICT,
 * RETURNING. What differs between engines lives here, behind a small
 * vtable: opening, the migrations' DDL, running one statement, and the
 * statement that starts a write transaction. A backend owns one
 * connection; the store calls it from one thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  EMBER_STORE_PARAM_NULL,
  EMBER_STORE_PARAM_TEXT,
  EMBER_STORE_PARAM_INT,
} EmberStoreParamType;

typedef struct {
  EmberStoreParamType type;
  const char *text;
  gint64 i;
} EmberStoreParam;

/* A NULL string binds SQL NULL. */
#define EMBER_STORE_TEXT(s)                                                                     \
  ((EmberStoreParam) { (s) != NULL ? EMBER_STORE_PARAM_TEXT : EMBER_STORE_PARAM_NULL, (s), 0 })
#define EMBER_STORE_INT(v) ((EmberStoreParam) { EMBER_STORE_PARAM_INT, NULL, (gint64) (v) })

/* One result row, valid only during the callback. */
typedef struct _EmberStoreRow EmberStoreRow;
typedef void (*EmberStoreRowFunc) (const EmberStoreRow *row, gpointer user_data);

typedef struct {
  const char *name;
  /* The migrations' DDL, oldest first; migration i brings the schema to
   * version i + 1. Each runs in one transaction with the version bump. */
  const char *const *migrations;
  guint n_migrations;
  /* Starts a transaction that will write ("BEGIN IMMEDIATE" for SQLite,
   * so two writers queue on the busy timeout instead of deadlocking). */
  const char *begin_write;
  /* Starts a transaction that only reads (one consistent snapshot). */
  const char *begin_read;

  void (*close) (gpointer db);
  /* Runs one or more statements without parameters or results (DDL,
   * transaction control). */
  gboolean (*exec) (gpointer db, const char *sql, GError **error);
  /* Runs one statement with bound parameters, calling `row` for each
   * result row; `affected` (optional) receives the number of rows a
   * write changed. */
  gboolean (*query) (gpointer db, const char *sql, const EmberStoreParam *params, guint n_params,
                     EmberStoreRowFunc row, gpointer user_data, gint64 *affected,
                     GError **error);
  /* Column accessors; a NULL column reads as NULL / 0. */
  const char *(*row_text) (const EmberStoreRow *row, guint column);
  gint64 (*row_int) (const EmberStoreRow *row, guint column);
} EmberStoreBackend;

/* SQLite: opens or creates `path` (WAL, foreign keys, busy timeout). */
const EmberStoreBackend *ember_store_sqlite_backend (void);
gpointer ember_store_sqlite_open (const char *path, GError **error);

G_END_DECLS
