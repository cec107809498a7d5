/* Config: valid files load; each kind of mistake names file, group, key. */
#include <string.h>

#include "config.h"

static void
test_valid (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberConfig) c = ember_config_load_data ("[daemon]\n"
                                                      "mode=gateway\n"
                                                      "log-filter=debug,ember-dns=trace\n"
                                                      "plugin-dirs=/opt/a;/opt/b\n"
                                                      "[tun]\nplugin=tun-linux\n"
                                                      "[transport]\nplugin=test-loopback\n"
                                                      "[tun-linux]\nname=ember0\n"
                                                      "[test-loopback]\ncapacity=4\n",
                                                      "good.conf", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (c->mode, ==, "gateway");
  g_assert_cmpstr (c->roles[EMBER_PLUGIN_KIND_TUN], ==, "tun-linux");
  g_assert_cmpstr (c->roles[EMBER_PLUGIN_KIND_TRANSPORT], ==, "test-loopback");
  g_assert_null (c->roles[EMBER_PLUGIN_KIND_DNS]);
  g_assert_cmpstr (c->plugin_dirs[1], ==, "/opt/b");
}

typedef struct {
  const char *name;
  const char *text;
  EmberConfigError code;
  const char *must_contain[3];
} BadCase;

static const BadCase bad_cases[] = {
  { "unknown-key", "[daemon]\nmoed=client\n", EMBER_CONFIG_ERROR_UNKNOWN_KEY,
    { "[daemon] moed", "unknown key", "mode" } },
  { "bad-mode", "[daemon]\nmode=server\n", EMBER_CONFIG_ERROR_BAD_VALUE,
    { "[daemon] mode", "client or gateway", "server" } },
  { "bad-log-filter", "[daemon]\nlog-filter=debug,x=loud\n", EMBER_CONFIG_ERROR_BAD_VALUE,
    { "[daemon] log-filter", "loud", NULL } },
  { "relative-plugin-dir", "[daemon]\nplugin-dirs=plugins\n", EMBER_CONFIG_ERROR_BAD_VALUE,
    { "[daemon] plugin-dirs", "absolute", NULL } },
  { "missing-plugin", "[tun]\n", EMBER_CONFIG_ERROR_MISSING, { "[tun] plugin", "missing", NULL } },
  { "role-unknown-key", "[tun]\nplugin=tun-linux\nqueues=2\n", EMBER_CONFIG_ERROR_UNKNOWN_KEY,
    { "[tun] queues", NULL, NULL } },
  { "bad-plugin-name", "[dns]\nplugin=../evil\n", EMBER_CONFIG_ERROR_BAD_VALUE,
    { "[dns] plugin", "../evil", NULL } },
  { "unknown-group", "[tun]\nplugin=tun-linux\n[tun-bsd]\nx=1\n", EMBER_CONFIG_ERROR_UNKNOWN_GROUP,
    { "[tun-bsd]", "unknown group", NULL } },
  { "syntax", "[daemon\nmode=client\n", EMBER_CONFIG_ERROR_PARSE, { "bad.conf", NULL, NULL } },
};

static void
test_bad (gconstpointer data)
{
  const BadCase *bc = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberConfig) c = ember_config_load_data (bc->text, "bad.conf", &error);

  g_assert_null (c);
  g_assert_error (error, EMBER_CONFIG_ERROR, (gint) bc->code);
  g_assert_true (g_str_has_prefix (error->message, "bad.conf"));
  for (guint i = 0; i < G_N_ELEMENTS (bc->must_contain) && bc->must_contain[i] != NULL; i++)
    if (strstr (error->message, bc->must_contain[i]) == NULL)
      g_error ("\"%s\" lacks \"%s\"", error->message, bc->must_contain[i]);
}

static EmberRegistry *
registry_with_test_plugins (void)
{
  EmberRegistry *reg = ember_registry_new ();
  g_autoptr (GPtrArray) dirs = g_ptr_array_new ();
  EmberPluginDir d = { TEST_PLUGIN_DIR, EMBER_PLUGIN_DIR_ENV };

  g_ptr_array_add (dirs, &d);
  ember_registry_scan (reg, dirs);
  g_assert_cmpuint (ember_registry_refusals (reg)->len, ==, 3);
  return reg;
}

static void
test_plugin_groups (void)
{
  g_autoptr (EmberRegistry) reg = registry_with_test_plugins ();
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberConfig) good = ember_config_load_data (
      "[transport]\nplugin=test-loopback\n[test-loopback]\ncapacity=4\n", "p.conf", &error);
  g_autoptr (EmberConfig) bad_key = ember_config_load_data (
      "[transport]\nplugin=test-loopback\n[test-loopback]\ncapacty=4\n", "p.conf", NULL);
  g_autoptr (EmberConfig) bad_value = ember_config_load_data (
      "[transport]\nplugin=test-loopback\n[test-loopback]\ncapacity=lots\n", "p.conf", NULL);
  g_autoptr (EmberConfig) wrong_kind = ember_config_load_data (
      "[tun]\nplugin=test-loopback\n", "p.conf", NULL);

  g_assert_no_error (error);
  g_assert_true (ember_config_check_plugins (good, reg, &error));
  g_assert_no_error (error);

  g_assert_false (ember_config_check_plugins (bad_key, reg, &error));
  g_assert_true (strstr (error->message, "[test-loopback] capacty") != NULL);
  g_clear_error (&error);

  g_assert_false (ember_config_check_plugins (bad_value, reg, &error));
  g_assert_true (strstr (error->message, "[test-loopback] capacity") != NULL);
  g_assert_true (strstr (error->message, "expected an integer") != NULL);
  g_clear_error (&error);

  g_assert_false (ember_config_check_plugins (wrong_kind, reg, &error));
  g_assert_true (strstr (error->message, "needs a tun plugin") != NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Refused test plugins are logged as warnings: expected here. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_test_add_func ("/config/load/valid", test_valid);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/config/load/rejects/%s", bad_cases[i].name);
      g_test_add_data_func (path, &bad_cases[i], test_bad);
    }
  g_test_add_func ("/config/plugins/validated-by-plugin", test_plugin_groups);
  return g_test_run ();
}
