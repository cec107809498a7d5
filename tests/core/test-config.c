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
                                                      "state-dir=/srv/ember\n"
                                                      "[portal]\nurl=wss://portal.example\n"
                                                      "token-file=/etc/ember/token\n"
                                                      "outage-notice=60\n"
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
  g_assert_cmpstr (c->state_dir, ==, "/srv/ember");
  g_assert_cmpstr (c->runtime_dir, ==, EMBER_CONFIG_DEFAULT_RUNTIME_DIR);
  g_assert_cmpstr (c->portal_url, ==, "wss://portal.example");
  g_assert_cmpstr (c->portal_token_file, ==, "/etc/ember/token");
  g_assert_null (c->portal_ca_file);
  g_assert_cmpuint (c->portal_outage_notice_s, ==, 60);
  /* Roles the file does not name take their defaults. */
  g_assert_cmpstr (c->roles[EMBER_PLUGIN_KIND_WG], ==, "wg");
}

/* A client needs only its mode and its portal. */
static void
test_minimal_client (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberConfig) c = ember_config_load_data (
      "[daemon]\nmode=client\n[portal]\nurl=ws://192.0.2.10:8080\n[tun-linux]\nname=ember7\n",
      "min.conf", &error);

  g_assert_no_error (error);
  g_assert_cmpstr (c->mode, ==, "client");
  g_assert_cmpstr (c->roles[EMBER_PLUGIN_KIND_TUN], ==, "tun-linux");
  g_assert_cmpstr (c->roles[EMBER_PLUGIN_KIND_WG], ==, "wg");
  g_assert_cmpstr (c->roles[EMBER_PLUGIN_KIND_TRANSPORT], ==, "turn");
  g_assert_null (c->roles[EMBER_PLUGIN_KIND_DNS]);
  g_assert_cmpstr (c->state_dir, ==, "/var/lib/ember");
  g_assert_cmpstr (c->runtime_dir, ==, "/run/ember");
  g_assert_cmpstr (c->portal_url, ==, "ws://192.0.2.10:8080");
  g_assert_null (c->portal_token_file);
  g_assert_cmpuint (c->portal_outage_notice_s, ==, 300);
}

/* Without a mode (the static-peer and plugin checks), no role is implied. */
static void
test_no_mode_no_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberConfig) c = ember_config_load_data ("[daemon]\nlog-filter=info\n", "x.conf",
                                                      &error);

  g_assert_no_error (error);
  for (int i = 0; i < EMBER_ROLE_COUNT; i++)
    g_assert_null (c->roles[i]);
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
  { "missing-portal-url", "[daemon]\nmode=client\n", EMBER_CONFIG_ERROR_MISSING,
    { "[portal] url", "missing", "ws://" } },
  { "portal-without-url", "[daemon]\nmode=gateway\n[portal]\ntoken-file=/t\n",
    EMBER_CONFIG_ERROR_MISSING, { "[portal] url", "missing", NULL } },
  { "portal-unknown-key", "[daemon]\nmode=client\n[portal]\nurl=ws://h\ntoken=abc\n",
    EMBER_CONFIG_ERROR_UNKNOWN_KEY, { "[portal] token", "unknown key", "token-file" } },
  { "portal-bad-url", "[daemon]\nmode=client\n[portal]\nurl=http://h:8080\n",
    EMBER_CONFIG_ERROR_BAD_VALUE, { "[portal] url", "ws://", "http://h:8080" } },
  { "relative-token-file", "[daemon]\nmode=client\n[portal]\nurl=ws://h\ntoken-file=tok\n",
    EMBER_CONFIG_ERROR_BAD_VALUE, { "[portal] token-file", "absolute", "tok" } },
  { "outage-notice-zero", "[daemon]\nmode=client\n[portal]\nurl=ws://h\noutage-notice=0\n",
    EMBER_CONFIG_ERROR_BAD_VALUE, { "[portal] outage-notice", "1 to 86400", "\"0\"" } },
  { "outage-notice-minutes", "[daemon]\nmode=client\n[portal]\nurl=ws://h\noutage-notice=5m\n",
    EMBER_CONFIG_ERROR_BAD_VALUE, { "[portal] outage-notice", "whole seconds", "\"5m\"" } },
  { "relative-state-dir", "[daemon]\nstate-dir=var/lib\n", EMBER_CONFIG_ERROR_BAD_VALUE,
    { "[daemon] state-dir", "absolute", NULL } },
  { "plugin-group-of-no-role", "[daemon]\nmode=client\n[portal]\nurl=ws://h\n[tun-bsd]\n",
    EMBER_CONFIG_ERROR_UNKNOWN_GROUP, { "[tun-bsd]", "unknown group", "[portal]" } },
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
  g_test_add_func ("/config/load/minimal-client-takes-default-plugins", test_minimal_client);
  g_test_add_func ("/config/load/no-mode-implies-no-plugins", test_no_mode_no_defaults);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/config/load/rejects/%s", bad_cases[i].name);
      g_test_add_data_func (path, &bad_cases[i], test_bad);
    }
  g_test_add_func ("/config/plugins/validated-by-plugin", test_plugin_groups);
  return g_test_run ();
}
