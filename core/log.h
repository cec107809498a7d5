/* log — Ember's structured logging.
 *
 * Installs a GLib structured-log writer that emits one JSON object per line
 * (time, severity, target, message, structured fields) to a file in a log
 * directory, and a human-readable line on stderr. A filter directive in the
 * style `debug,ember-dns=trace,noisy=off` chooses what is emitted; a
 * built-in default silences noisy domains unless a later directive turns
 * them back on (seed 004).
 *
 * ember_log_init() is called once from the main thread before other
 * threads start; the writer itself is thread-safe.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* GLib has no trace level: Ember uses the first user-defined level bit. */
#define EMBER_LOG_LEVEL_TRACE (1 << G_LOG_LEVEL_USER_SHIFT)

#define ember_trace(...) \
  g_log_structured (G_LOG_DOMAIN, EMBER_LOG_LEVEL_TRACE, "MESSAGE", __VA_ARGS__)

/* Domains silenced unless a directive names them (seed 004). */
#define EMBER_LOG_DEFAULT_DIRECTIVES "info,ember-netlink=warn,GLib-GIO=warn,libsoup=warn"

typedef enum {
  EMBER_LOG_OFF = 0,
  EMBER_LOG_ERROR,
  EMBER_LOG_WARN,
  EMBER_LOG_INFO,
  EMBER_LOG_DEBUG,
  EMBER_LOG_TRACE,
} EmberLogLevel;

typedef struct _EmberLogFilter EmberLogFilter;

#define EMBER_LOG_ERROR_DOMAIN (ember_log_error_quark ())
GQuark ember_log_error_quark (void);

/* Parses `directives` (NULL or "" means none) on top of the built-in
 * default. Later directives override earlier ones for the same domain. */
EmberLogFilter *ember_log_filter_parse (const char *directives, GError **error);
void ember_log_filter_free (EmberLogFilter *filter);
EmberLogLevel ember_log_filter_level (const EmberLogFilter *filter, const char *domain);
gboolean ember_log_filter_enabled (const EmberLogFilter *filter, const char *domain,
                                   GLogLevelFlags level);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberLogFilter, ember_log_filter_free)

/* Sets up logging for a program. `directives`: the filter (EMBER_LOG is
 * read when NULL). `log_dir`: where the JSONL file goes (NULL: no file).
 * The file is named <program>-<UTC timestamp>-<pid>.jsonl. */
gboolean ember_log_init (const char *program, const char *directives,
                         const char *log_dir, GError **error);

/* Path of the JSONL file being written, or NULL. */
const char *ember_log_file_path (void);

/* Formats one record as a JSON line (no trailing newline) into `out`.
 * Exposed for tests. */
void ember_log_format_json (GString *out, gint64 real_time_ns, GLogLevelFlags level,
                            const GLogField *fields, gsize n_fields);

/* Flushes and closes the log file; restores the default writer. */
void ember_log_shutdown (void);

G_END_DECLS
