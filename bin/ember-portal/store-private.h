/* store-private — what the store's files share: the open database, the
 * transaction nesting, the changes log, and small row helpers. */
#pragma once

#include "store-backend.h"
#include "store.h"

G_BEGIN_DECLS

struct _EmberStore {
  const EmberStoreBackend *backend;
  gpointer db;
  guint version;
  guint depth; /* open transactions: 1 = BEGIN, more = savepoints */
};

/* Opens `path` and migrates it up to `version` (tests use an older one
 * to build the files a previous release left behind). */
EmberStore *ember_store_open_sqlite_at (const char *path, guint version, GError **error);

/* Runs one statement (see EmberStoreBackend.query). */
gboolean store_query (EmberStore *s, const char *sql, const EmberStoreParam *params, guint n,
                      EmberStoreRowFunc row, gpointer user_data, gint64 *affected,
                      GError **error);
#define STORE_PARAMS(...)                                                                       \
  ((const EmberStoreParam[]) { __VA_ARGS__ }),                                                  \
    (sizeof ((const EmberStoreParam[]) { __VA_ARGS__ }) / sizeof (EmberStoreParam))

const char *store_text (EmberStore *s, const EmberStoreRow *row, guint column);
gint64 store_int (EmberStore *s, const EmberStoreRow *row, guint column);

/* The first column of the first row as a new string (NULL when there is
 * no row), or as an integer (`found` FALSE when there is no row). */
gboolean store_query_text (EmberStore *s, const char *sql, const EmberStoreParam *params,
                           guint n, char **out, GError **error);
gboolean store_query_int (EmberStore *s, const char *sql, const EmberStoreParam *params,
                          guint n, gint64 *out, gboolean *found, GError **error);

/* Rows converted one by one into a GPtrArray with `free_func`. */
typedef gpointer (*StoreRowConvert) (EmberStore *s, const EmberStoreRow *row);
GPtrArray *store_query_list (EmberStore *s, const char *sql, const EmberStoreParam *params,
                             guint n, StoreRowConvert convert, GDestroyNotify free_func,
                             GError **error);

/* A write transaction, nested as a savepoint inside an open one. End it
 * with the outcome: commits (releases) on success, rolls back otherwise;
 * returns `ok` unless the commit itself fails. */
gboolean store_tx_begin (EmberStore *s, GError **error);
/* The same for reads only: several listings see one state. */
gboolean store_tx_begin_read (EmberStore *s, GError **error);
gboolean store_tx_end (EmberStore *s, gboolean ok, GError **error);

/* Appends one row to the changes log; `detail` is JSON text or NULL. */
gboolean store_change (EmberStore *s, const char *actor, const char *verb, const char *kind,
                       const char *object_id, const char *object_name, const char *detail,
                       GError **error);

char *store_new_id (void);
gint64 store_now (void);
gboolean store_not_found (GError **error, const char *what, const char *name);
/* Names of sites, devices, resources, groups, keys: 1 to 64 of letters,
 * digits, '-', '_', '.', '@'; INVALID naming `what` otherwise. */
gboolean store_check_name (const char *what, const char *name, GError **error);

/* Filters <-> their canonical text "tcp:80-80,tcp:8000-8100,icmp". */
char *store_filters_to_text (const GArray *filters);
GArray *store_filters_from_text (const char *text);
/* Source CIDRs <-> "a,b". */
char *store_strv_join (char **strv);
char **store_strv_split (const char *text);

G_END_DECLS

/* ---- secrets (store-secret.c): tokens and API keys ----
 *
 * A secret reads "PREFIX" + 16 hex digits (the selector, a random lookup
 * key that is not secret) + "_" + 43 base64url characters (256 random
 * bits). The database keeps the selector and the SHA-256 of the whole
 * text; verification looks the row up by selector, so the lookup's timing
 * depends on nothing secret, and compares the hashes in constant time. */
#define STORE_TOKEN_PREFIX "ember_tok_"
#define STORE_APIKEY_PREFIX "ember_key_"
#define STORE_SECRET_BYTES 32
#define STORE_SELECTOR_BYTES 8

/* A new secret; `selector` and `hash` (hex) receive what to store. */
char *store_secret_new (const char *prefix, char **selector, char **hash, GError **error);
/* Splits a presented secret; FALSE when it is not well formed. */
gboolean store_secret_parse (const char *prefix, const char *text, char **selector, char **hash);
/* Constant-time equality of two hex hashes (FALSE when lengths differ). */
gboolean store_hash_equal (const char *a, const char *b);
/* Counts store_hash_equal calls: lets a test see verification use it. */
extern guint store_hash_equal_calls;
