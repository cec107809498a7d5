/* Logging: filter directives and the JSONL writer, parsed back. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "log.h"

static void
test_filter_levels (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberLogFilter) f = ember_log_filter_parse ("debug,ember-dns=trace,noisy=off",
                                                         &error);
  g_assert_no_error (error);
  g_assert_cmpint (ember_log_filter_level (f, "ember-wg"), ==, EMBER_LOG_DEBUG);
  g_assert_cmpint (ember_log_filter_level (f, "ember-dns"), ==, EMBER_LOG_TRACE);
  g_assert_cmpint (ember_log_filter_level (f, "noisy"), ==, EMBER_LOG_OFF);
  g_assert_true (ember_log_filter_enabled (f, "ember-dns", EMBER_LOG_LEVEL_TRACE));
  g_assert_false (ember_log_filter_enabled (f, "ember-wg", EMBER_LOG_LEVEL_TRACE));
  g_assert_false (ember_log_filter_enabled (f, "noisy", G_LOG_LEVEL_WARNING));
  /* Fatal errors are never filtered. */
  g_assert_true (ember_log_filter_enabled (f, "noisy", G_LOG_LEVEL_ERROR));
}

static void
test_filter_later_overrides (void)
{
  g_autoptr (EmberLogFilter) f = ember_log_filter_parse ("a=debug, a=warn ,info,trace", NULL);
  g_assert_cmpint (ember_log_filter_level (f, "a"), ==, EMBER_LOG_WARN);
  g_assert_cmpint (ember_log_filter_level (f, "b"), ==, EMBER_LOG_TRACE);
}

static void
test_filter_default_silences_noisy (void)
{
  g_autoptr (EmberLogFilter) plain = ember_log_filter_parse ("debug", NULL);
  g_autoptr (EmberLogFilter) back_on = ember_log_filter_parse ("debug,ember-netlink=debug", NULL);

  /* "debug" alone does not flood with the noisy domains (seed 004)... */
  g_assert_false (ember_log_filter_enabled (plain, "ember-netlink", G_LOG_LEVEL_DEBUG));
  g_assert_true (ember_log_filter_enabled (plain, "ember-wg", G_LOG_LEVEL_DEBUG));
  /* ...but naming one turns it back on. */
  g_assert_true (ember_log_filter_enabled (back_on, "ember-netlink", G_LOG_LEVEL_DEBUG));
}

static void
test_filter_invalid (void)
{
  static const char *const bad[] = { "verbose", "dns=loud", "=debug", "a b=info", "debug,x=" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (EmberLogFilter) f = ember_log_filter_parse (bad[i], &error);
      g_assert_null (f);
      g_assert_error (error, EMBER_LOG_ERROR_DOMAIN, 0);
      g_assert_true (strstr (error->message, bad[i]) != NULL);
    }
}

static JsonObject *
parse_line (JsonParser *parser, const char *line)
{
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  g_assert_true (json_parser_load_from_data (parser, line, -1, &error));
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_node_get_object (root);
}

static void
test_jsonl_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ember-log-XXXXXX", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GRegex) time_re = g_regex_new (
      "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$", 0, 0, NULL);
  g_autofree char *path = NULL;
  const char *tricky = "quote \" backslash \\ newline \n tab \t bell \a end";
  guint n = 0;

  g_assert_true (ember_log_init ("test-log", "debug,quiet=off", dir, &error));
  g_assert_no_error (error);
  path = g_strdup (ember_log_file_path ());
  g_assert_nonnull (path);

  /* GLib wants MESSAGE last: its format arguments end the list. */
  g_log_structured ("ember-test", G_LOG_LEVEL_INFO, "PEER", "gateway-1", "BYTES", "1280",
                    "MESSAGE", "hello %d", 42);
  g_log_structured ("ember-test", G_LOG_LEVEL_WARNING, "MESSAGE", "%s", tricky);
  g_log_structured ("quiet", G_LOG_LEVEL_WARNING, "MESSAGE", "must not appear");
  g_log_structured ("ember-test", EMBER_LOG_LEVEL_TRACE, "MESSAGE", "trace filtered");
  {
    /* Invalid UTF-8 must still give a valid JSON line. */
    const GLogField fields[] = {
      { "GLIB_DOMAIN", "ember-test", -1 },
      { "MESSAGE", "bad \xff\xfe bytes", -1 },
      { "RAW", "\x01\x02", 2 },
    };
    g_log_structured_array (G_LOG_LEVEL_DEBUG, fields, G_N_ELEMENTS (fields));
  }
  ember_log_shutdown ();

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      JsonObject *o;
      if (*lines[i] == '\0')
        continue;
      o = parse_line (parser, lines[i]);
      g_assert_true (g_regex_match (time_re, json_object_get_string_member (o, "time"), 0, NULL));
      g_assert_cmpstr (json_object_get_string_member (o, "target"), ==, "ember-test");
      switch (n++)
        {
        case 0:
          g_assert_cmpstr (json_object_get_string_member (o, "severity"), ==, "INFO");
          g_assert_cmpstr (json_object_get_string_member (o, "message"), ==, "hello 42");
          g_assert_cmpstr (json_object_get_string_member (o, "peer"), ==, "gateway-1");
          g_assert_cmpstr (json_object_get_string_member (o, "bytes"), ==, "1280");
          break;
        case 1:
          g_assert_cmpstr (json_object_get_string_member (o, "severity"), ==, "WARN");
          g_assert_cmpstr (json_object_get_string_member (o, "message"), ==, tricky);
          break;
        case 2:
          g_assert_cmpstr (json_object_get_string_member (o, "severity"), ==, "DEBUG");
          g_assert_cmpstr (json_object_get_string_member (o, "message"), ==,
                           "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
          g_assert_cmpstr (json_object_get_string_member (o, "raw"), ==, "0102");
          break;
        default:
          g_assert_not_reached ();
        }
    }
  g_assert_cmpuint (n, ==, 3);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_init_rejects_bad_filter (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (ember_log_init ("test-log", "debug,ember-dns=shout", NULL, &error));
  g_assert_error (error, EMBER_LOG_ERROR_DOMAIN, 0);
  g_assert_true (strstr (error->message, "shout") != NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The warnings written here are test data, not failures. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_test_add_func ("/log/filter/levels", test_filter_levels);
  g_test_add_func ("/log/filter/later-overrides-earlier", test_filter_later_overrides);
  g_test_add_func ("/log/filter/default-silences-noisy", test_filter_default_silences_noisy);
  g_test_add_func ("/log/filter/invalid-is-an-error", test_filter_invalid);
  g_test_add_func ("/log/init/rejects-bad-filter", test_init_rejects_bad_filter);
  g_test_add_func ("/log/jsonl/parses-back", test_jsonl_file);
  return g_test_run ();
}
