/* log — JSONL and human-readable writers, and the filter directive. */
#define G_LOG_DOMAIN "ember-log"

#include "log.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

G_DEFINE_QUARK (ember-log-error-quark, ember_log_error)

typedef struct {
  char *domain; /* NULL: the global level */
  EmberLogLevel level;
} Directive;

struct _EmberLogFilter {
  EmberLogLevel global;
  GHashTable *domains; /* char* -> GINT_TO_POINTER(level) */
};

static const struct {
  const char *name;
  EmberLogLevel level;
} level_names[] = {
  { "off", EMBER_LOG_OFF },     { "error", EMBER_LOG_ERROR }, { "warn", EMBER_LOG_WARN },
  { "warning", EMBER_LOG_WARN }, { "info", EMBER_LOG_INFO },  { "debug", EMBER_LOG_DEBUG },
  { "trace", EMBER_LOG_TRACE },
};

static gboolean
parse_level (const char *s, EmberLogLevel *out)
{
  for (gsize i = 0; i < G_N_ELEMENTS (level_names); i++)
    if (g_ascii_strcasecmp (s, level_names[i].name) == 0)
      {
        *out = level_names[i].level;
        return TRUE;
      }
  return FALSE;
}

static gboolean
valid_domain (const char *s)
{
  if (*s == '\0')
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.' && *p != ':')
      return FALSE;
  return TRUE;
}

static gboolean
apply_directives (EmberLogFilter *filter, const char *directives, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (directives, ",", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_autofree char *item = g_strstrip (g_strdup (parts[i]));
      EmberLogLevel level;
      char *eq;

      if (*item == '\0')
        continue;
      eq = strchr (item, '=');
      if (eq == NULL)
        {
          if (!parse_level (item, &level))
            {
              g_set_error (error, EMBER_LOG_ERROR_DOMAIN, 0,
                           "log filter \"%s\": \"%s\" is not a level "
                           "(expected off, error, warn, info, debug or trace)",
                           directives, item);
              return FALSE;
            }
          filter->global = level;
          continue;
        }
      *eq = '\0';
      g_strstrip (item);
      if (!valid_domain (item))
        {
          g_set_error (error, EMBER_LOG_ERROR_DOMAIN, 0,
                       "log filter \"%s\": \"%s\" is not a log domain "
                       "(expected letters, digits, '-', '_', '.' or ':')",
                       directives, item);
          return FALSE;
        }
      if (!parse_level (g_strstrip (eq + 1), &level))
        {
          g_set_error (error, EMBER_LOG_ERROR_DOMAIN, 0,
                       "log filter \"%s\": level \"%s\" for domain \"%s\" is not a level "
                       "(expected off, error, warn, info, debug or trace)",
                       directives, eq + 1, item);
          return FALSE;
        }
      g_hash_table_insert (filter->domains, g_strdup (item), GINT_TO_POINTER (level));
    }
  return TRUE;
}

EmberLogFilter *
ember_log_filter_parse (const char *directives, GError **error)
{
  g_autoptr (EmberLogFilter) filter = g_new0 (EmberLogFilter, 1);

  filter->global = EMBER_LOG_INFO;
  filter->domains = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  /* The default comes first so that any later directive for the same
   * domain turns a silenced domain back on (seed 004). */
  if (!apply_directives (filter, EMBER_LOG_DEFAULT_DIRECTIVES, error))
    return NULL;
  if (directives != NULL && !apply_directives (filter, directives, error))
    return NULL;
  return g_steal_pointer (&filter);
}

void
ember_log_filter_free (EmberLogFilter *filter)
{
  if (filter == NULL)
    return;
  g_clear_pointer (&filter->domains, g_hash_table_unref);
  g_free (filter);
}

EmberLogLevel
ember_log_filter_level (const EmberLogFilter *filter, const char *domain)
{
  gpointer value;

  if (domain != NULL && g_hash_table_lookup_extended (filter->domains, domain, NULL, &value))
    return (EmberLogLevel) GPOINTER_TO_INT (value);
  return filter->global;
}

static EmberLogLevel
level_of (GLogLevelFlags flags)
{
  if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return EMBER_LOG_ERROR;
  if (flags & G_LOG_LEVEL_WARNING)
    return EMBER_LOG_WARN;
  if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return EMBER_LOG_INFO;
  if (flags & G_LOG_LEVEL_DEBUG)
    return EMBER_LOG_DEBUG;
  return EMBER_LOG_TRACE;
}

static const char *
severity_of (GLogLevelFlags flags)
{
  static const char *const names[] = { "OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };
  if (flags & G_LOG_LEVEL_CRITICAL)
    return "CRITICAL";
  return names[level_of (flags)];
}

gboolean
ember_log_filter_enabled (const EmberLogFilter *filter, const char *domain, GLogLevelFlags level)
{
  /* Fatal errors are never filtered: they end the program. */
  if (level & G_LOG_LEVEL_ERROR)
    return TRUE;
  return level_of (level) <= ember_log_filter_level (filter, domain);
}

/* ---- JSON --------------------------------------------------------------- */

static void
json_string (GString *out, const char *s, gssize len)
{
  const char *end = len < 0 ? s + strlen (s) : s + len;
  const char *p = s;

  g_string_append_c (out, '"');
  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          /* Not UTF-8: keep the line valid JSON and say so. */
          g_string_append (out, "\\ufffd");
          p++;
          continue;
        }
      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_len (out, p, g_utf8_next_char (p) - p);
        }
      p = g_utf8_next_char (p);
    }
  g_string_append_c (out, '"');
}

static void
rfc3339 (GString *out, gint64 real_time_ns)
{
  time_t secs = (time_t) (real_time_ns / 1000000000);
  long nsec = (long) (real_time_ns % 1000000000);
  struct tm tm;
  char buf[32];

  gmtime_r (&secs, &tm);
  strftime (buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  g_string_append_printf (out, "%s.%09ldZ", buf, nsec);
}

static gboolean
is_reserved_field (const char *key)
{
  return strcmp (key, "MESSAGE") == 0 || strcmp (key, "GLIB_DOMAIN") == 0 ||
         strcmp (key, "PRIORITY") == 0 || strcmp (key, "GLIB_OLD_LOG_API") == 0;
}

/* Field names become lower-case JSON keys: CODE_FILE -> code_file. */
static void
json_key (GString *out, const char *key)
{
  g_autofree char *lower = g_ascii_strdown (key, -1);
  json_string (out, lower, -1);
}

void
ember_log_format_json (GString *out, gint64 real_time_ns, GLogLevelFlags level,
                       const GLogField *fields, gsize n_fields)
{
  const char *domain = NULL;
  const char *message = NULL;
  gssize message_len = -1;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
      else if (strcmp (fields[i].key, "MESSAGE") == 0)
        {
          message = fields[i].value;
          message_len = fields[i].length;
        }
    }

  g_string_append (out, "{\"time\":\"");
  rfc3339 (out, real_time_ns);
  g_string_append (out, "\",\"severity\":");
  json_string (out, severity_of (level), -1);
  g_string_append (out, ",\"target\":");
  json_string (out, domain != NULL ? domain : "default", -1);
  g_string_append (out, ",\"message\":");
  json_string (out, message != NULL ? message : "", message_len);
  for (gsize i = 0; i < n_fields; i++)
    {
      if (is_reserved_field (fields[i].key))
        continue;
      g_string_append_c (out, ',');
      json_key (out, fields[i].key);
      g_string_append_c (out, ':');
      if (fields[i].length < 0)
        json_string (out, fields[i].value, -1);
      else
        {
          /* Binary field: hex, so the line stays text. */
          const guint8 *b = fields[i].value;
          g_string_append_c (out, '"');
          for (gssize j = 0; j < fields[i].length; j++)
            g_string_append_printf (out, "%02x", b[j]);
          g_string_append_c (out, '"');
        }
    }
  g_string_append_c (out, '}');
}

/* ---- Writer ------------------------------------------------------------- */

static struct {
  GMutex lock;
  EmberLogFilter *filter;
  FILE *file;
  char *file_path;
  gboolean stderr_color;
} state;

static gint64
real_time_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *
high_bytes (void)
{
  static char bytes[129];
  static gsize once;

  if (g_once_init_enter (&once))
    {
      for (int i = 0; i < 128; i++)
        bytes[i] = (char) (0x80 + i);
      g_once_init_leave (&once, 1);
    }
  return bytes;
}

static void
format_human (GString *out, gint64 now_ns, GLogLevelFlags level, const GLogField *fields,
              gsize n_fields)
{
  const char *domain = "default";
  const char *message = "";

  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
      else if (strcmp (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
        message = fields[i].value;
    }
  /* One record, one line: control characters are escaped, UTF-8 kept. */
  g_autofree char *escaped = g_strescape (message, high_bytes ());
  rfc3339 (out, now_ns);
  g_string_append_printf (out, " %-5s %s: %s", severity_of (level), domain, escaped);
  for (gsize i = 0; i < n_fields; i++)
    {
      if (is_reserved_field (fields[i].key) || g_str_has_prefix (fields[i].key, "CODE_") ||
          fields[i].length >= 0)
        continue;
      g_autofree char *lower = g_ascii_strdown (fields[i].key, -1);
      g_string_append_printf (out, " %s=%s", lower, (const char *) fields[i].value);
    }
}

static GLogWriterOutput
ember_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                  gpointer user_data)
{
  const char *domain = NULL;
  gint64 now_ns;
  GString *line;

  (void) user_data;
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
      domain = fields[i].value;

  if (state.filter != NULL && !ember_log_filter_enabled (state.filter, domain, level))
    return G_LOG_WRITER_HANDLED;

  now_ns = real_time_ns ();
  line = g_string_sized_new (256);
  g_mutex_lock (&state.lock);
  if (state.file != NULL)
    {
      ember_log_format_json (line, now_ns, level, fields, n_fields);
      g_string_append_c (line, '\n');
      fwrite (line->str, 1, line->len, state.file);
      fflush (state.file);
      g_string_truncate (line, 0);
    }
  format_human (line, now_ns, level, fields, n_fields);
  g_string_append_c (line, '\n');
  fwrite (line->str, 1, line->len, stderr);
  g_mutex_unlock (&state.lock);
  g_string_free (line, TRUE);
  return G_LOG_WRITER_HANDLED;
}

static gsize writer_installed;

gboolean
ember_log_init (const char *program, const char *directives, const char *log_dir,
                GError **error)
{
  g_autoptr (EmberLogFilter) filter = NULL;

  if (directives == NULL)
    directives = g_getenv ("EMBER_LOG");
  filter = ember_log_filter_parse (directives, error);
  if (filter == NULL)
    return FALSE;

  ember_log_shutdown ();
  if (log_dir != NULL)
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
      g_autofree char *stamp = g_date_time_format (now, "%Y%m%dT%H%M%SZ");
      g_autofree char *name = g_strdup_printf ("%s-%s-%d.jsonl", program, stamp, (int) getpid ());
      g_autofree char *path = g_build_filename (log_dir, name, NULL);
      FILE *f;

      if (g_mkdir_with_parents (log_dir, 0750) != 0)
        {
          int saved = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                       "log directory %s: %s", log_dir, g_strerror (saved));
          return FALSE;
        }
      f = g_fopen (path, "ae");
      if (f == NULL)
        {
          int saved = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "log file %s: %s",
                       path, g_strerror (saved));
          return FALSE;
        }
      state.file = f;
      state.file_path = g_steal_pointer (&path);
    }
  /* Only tests call this twice, before any thread logs: the swap needs
   * no lock on the writer's side. */
  g_clear_pointer (&state.filter, ember_log_filter_free);
  state.filter = g_steal_pointer (&filter);
  if (g_once_init_enter (&writer_installed))
    {
      g_log_set_writer_func (ember_log_writer, NULL, NULL);
      g_once_init_leave (&writer_installed, 1);
    }
  return TRUE;
}

const char *
ember_log_file_path (void)
{
  return state.file_path;
}

void
ember_log_shutdown (void)
{
  g_mutex_lock (&state.lock);
  if (state.file != NULL)
    fclose (state.file);
  state.file = NULL;
  g_clear_pointer (&state.file_path, g_free);
  g_mutex_unlock (&state.lock);
  /* The filter stays: GLib allows setting the writer only once, so the
   * writer lives for the process and reads the newest filter. */
}
