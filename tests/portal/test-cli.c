/* tests/portal/test-cli: the ember-portal program as a script sees it —
 * exit codes, the token as the last line of stdout, config errors that
 * name file, group and key, and --help for each verb. */
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

#include "portal-config.h"
#include "portal-test-util.h"
#include "store.h"

typedef struct {
  char *dir;
  char *config;
  char *out;
  char *err;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  f->dir = portal_test_tmpdir ();
  f->config = g_build_filename (f->dir, "portal.conf", NULL);
  /* Relative: resolved against the config file's folder. */
  g_assert_true (g_file_set_contents (f->config, "[portal]\nstate-dir=state\n", -1, NULL));
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  portal_test_rmtree (f->dir);
  g_free (f->dir);
  g_free (f->config);
  g_free (f->out);
  g_free (f->err);
}

/* Runs ember-portal with the NULL-terminated arguments; returns the exit
 * status, stdout and stderr in the fixture. */
static int
run (Fixture *f, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  GError *error = NULL;
  int status = -1;
  va_list ap;
  const char *a;

  g_ptr_array_add (args, (char *) EMBER_PORTAL_BIN);
  va_start (ap, f);
  while ((a = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, g_str_equal (a, "@config") ? f->config : (char *) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  g_clear_pointer (&f->out, g_free);
  g_clear_pointer (&f->err, g_free);
  g_assert_true (g_spawn_sync (f->dir, (char **) args->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &f->out, &f->err, &status, &error));
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

static char *
last_line (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = g_strv_length (lines);

  /* The text ends with a newline, so the last element is empty. */
  g_assert_cmpuint (n, >=, 2);
  g_assert_cmpstr (lines[n - 1], ==, "");
  return g_strdup (lines[n - 2]);
}

static void
test_token_create_prints_the_token_last (Fixture *f, gconstpointer data)
{
  g_autofree char *token = NULL, *state = g_build_filename (f->dir, "state", NULL);
  g_autoptr (EmberStore) store = NULL;
  g_autoptr (EmberStoreToken) info = NULL;
  EmberStoreTokenStatus status;
  GError *error = NULL;

  (void) data;
  g_assert_cmpint (run (f, "token", "create", "--config", "@config", "client", "laptop",
                        "--expires-in", "1h", NULL),
                   ==, 0);
  token = last_line (f->out);
  g_assert_true (g_str_has_prefix (token, "ember_tok_"));
  store = ember_store_open (state, &error);
  g_assert_no_error (error);
  g_assert_true (ember_store_token_verify (store, token, g_get_real_time () / G_USEC_PER_SEC,
                                           &status, &info, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_VALID);
  g_assert_cmpstr (info->device_name, ==, "laptop");
  g_assert_cmpint (info->expires_at, >, 0);
  ember_store_free (g_steal_pointer (&store));

  /* Revoking by the id the listing shows. */
  g_assert_cmpint (run (f, "token", "revoke", "-c", "@config", info->id, NULL), ==, 0);
  store = ember_store_open (state, &error);
  g_assert_true (ember_store_token_verify (store, token, 0, &status, NULL, &error));
  g_assert_cmpint (status, ==, EMBER_STORE_TOKEN_REVOKED);
}

static void
test_exit_codes_a_script_can_rely_on (Fixture *f, gconstpointer data)
{
  g_autofree char *bad = g_build_filename (f->dir, "bad.json", NULL);
  g_autofree char *good = g_build_filename (f->dir, "good.json", NULL);
  g_autofree char *empty = g_build_filename (f->dir, "empty.json", NULL);

  (void) data;
  g_assert_true (g_file_set_contents (good, "{\"sites\": [{\"name\": \"home\"}]}", -1, NULL));
  g_assert_true (g_file_set_contents (bad, "{\"sites\": [{\"name\": 1}]}", -1, NULL));
  g_assert_true (g_file_set_contents (empty, "{}", -1, NULL));

  g_assert_cmpint (run (f, "frobnicate", NULL), ==, 2);
  g_assert_cmpint (run (f, NULL), ==, 2);
  g_assert_cmpint (run (f, "list", "-c", "@config", "nothing", NULL), ==, 2);
  g_assert_cmpint (run (f, "list", "clients", NULL), ==, 2);
  g_assert_nonnull (strstr (f->err, "--config"));
  g_assert_cmpint (run (f, "token", "create", "-c", "@config", "gateway", "gw", NULL), ==, 2);
  g_assert_cmpint (run (f, "token", "create", "-c", "@config", "client", "c", "--expires-in",
                        "soon", NULL),
                   ==, 2);
  g_assert_cmpint (run (f, "token", "create", "-c", "@config", "gateway", "gw", "--site", "home",
                        NULL),
                   ==, 1);
  g_assert_nonnull (strstr (f->err, "no site named \"home\""));
  g_assert_cmpint (run (f, "token", "revoke", "-c", "@config", "no-such-token", NULL), ==, 1);

  /* A bad policy file: 3, with the JSON path, and nothing applied. */
  g_assert_cmpint (run (f, "apply", "-c", "@config", bad, NULL), ==, 3);
  g_assert_nonnull (strstr (f->err, "$.sites[0].name: expected a string"));
  g_assert_cmpint (run (f, "apply", "-c", "@config", "missing.json", NULL), ==, 3);
  g_assert_cmpint (run (f, "apply", "-c", "@config", "--dry-run", good, NULL), ==, 0);
  g_assert_cmpstr (f->out, ==, "+ site home\n");
  g_assert_cmpint (run (f, "list", "-c", "@config", "sites", "--json", NULL), ==, 0);
  g_assert_cmpstr (f->out, ==, "[]\n");
  g_assert_cmpint (run (f, "apply", "-c", "@config", good, NULL), ==, 0);
  g_assert_cmpint (run (f, "apply", "-c", "@config", good, NULL), ==, 0);
  g_assert_cmpstr (f->out, ==, "");
  g_assert_nonnull (strstr (f->err, "no changes"));
  g_assert_cmpint (run (f, "token", "create", "-c", "@config", "gateway", "gw", "--site", "home",
                        NULL),
                   ==, 0);
  /* A site with a gateway cannot go; the gateway can, then the site. */
  g_assert_cmpint (run (f, "apply", "-c", "@config", empty, NULL), ==, 1);
  g_assert_nonnull (strstr (f->err, "gateway gw"));
  g_assert_cmpint (run (f, "delete", "-c", "@config", "gateway", "gw", NULL), ==, 0);
  g_assert_cmpint (run (f, "delete", "-c", "@config", "gateway", "gw", NULL), ==, 1);
  g_assert_cmpint (run (f, "delete", "-c", "@config", "router", "gw", NULL), ==, 2);
  g_assert_cmpint (run (f, "apply", "-c", "@config", empty, NULL), ==, 0);
  g_assert_cmpstr (f->out, ==, "- site home\n");
}

static void
test_apply_reads_standard_input (Fixture *f, gconstpointer data)
{
  const char *argv[] = { EMBER_PORTAL_BIN, "apply", "-c", f->config, "-", NULL };
  g_autoptr (GSubprocess) p = NULL;
  g_autofree char *out = NULL, *err = NULL;
  GError *error = NULL;

  (void) data;
  p = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                 G_SUBPROCESS_FLAGS_STDERR_PIPE,
                         &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (p, "{\"sites\": [{\"name\": 7}]}", NULL, &out,
                                                &err, &error));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 3);
  g_assert_nonnull (strstr (err, "<stdin>: $.sites[0].name"));
  g_clear_object (&p);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  p = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                 G_SUBPROCESS_FLAGS_STDERR_PIPE,
                         &error);
  g_assert_true (g_subprocess_communicate_utf8 (p, "{\"sites\": [{\"name\": \"home\"}]}", NULL,
                                                &out, &err, &error));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 0);
  g_assert_cmpstr (out, ==, "+ site home\n");
}

static void
test_list_and_log_json_are_the_api_shapes (Fixture *f, gconstpointer data)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *changes;

  (void) data;
  g_assert_cmpint (run (f, "token", "create", "-c", "@config", "client", "laptop", NULL), ==, 0);
  g_assert_cmpint (run (f, "list", "-c", "@config", "clients", "--json", NULL), ==, 0);
  g_assert_true (json_parser_load_from_data (parser, f->out, -1, NULL));
  {
    JsonArray *a = json_node_get_array (json_parser_get_root (parser));
    JsonObject *c = json_array_get_object_element (a, 0);
    g_assert_cmpuint (json_array_get_length (a), ==, 1);
    g_assert_cmpstr (json_object_get_string_member (c, "name"), ==, "laptop");
    g_assert_cmpstr (json_object_get_string_member (c, "ipv4"), ==, "100.64.0.1");
  }
  g_assert_cmpint (run (f, "list", "-c", "@config", "clients", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (f->out, "NAME"));
  g_assert_nonnull (strstr (f->out, "laptop"));

  g_assert_cmpint (run (f, "log", "-c", "@config", "--json", NULL), ==, 0);
  g_assert_true (json_parser_load_from_data (parser, f->out, -1, NULL));
  changes = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                          "changes");
  g_assert_cmpuint (json_array_get_length (changes), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (changes, 0),
                                                  "actor"),
                   ==, "cli");
  g_assert_cmpint (run (f, "log", "-c", "@config", "--after", "1", NULL), ==, 0);
  g_assert_nonnull (strstr (f->out, "token"));
  g_assert_null (strstr (f->out, "client "));
}

static void
test_every_verb_has_help (Fixture *f, gconstpointer data)
{
  const char *verbs[] = { "apply", "token", "list", "log", "apikey", "delete" };

  (void) data;
  g_assert_cmpint (run (f, "--help", NULL), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      g_assert_nonnull (strstr (f->out, verbs[i]));
    }
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      g_assert_cmpint (run (f, verbs[i], "--help", NULL), ==, 0);
      g_assert_nonnull (strstr (f->out, "--config"));
      g_assert_nonnull (strstr (f->out, "Exit status"));
    }
}

typedef struct {
  const char *text;
  const char *message;
} ConfigCase;

static void
test_config_errors_name_file_group_and_key (Fixture *f, gconstpointer data)
{
  static const ConfigCase cases[] = {
    { "[portal]\nstate-dir=x\nstate_dir=y\n", "[portal] state_dir: unknown key" },
    { "[portal]\nstate-dir=x\n[relays]\n", "[relays]: unknown group" },
    { "[portal]\nstate-dir=x\n[relay a]\naddress=1\nsecret=2\n", "[relay a] secret: unknown key" },
    { "[portal]\nlisten=127.0.0.1:1\n", "[portal] state-dir: missing" },
    { "[portal]\nstate-dir=\n", "[portal] state-dir: expected a directory" },
    { "not a key file", "cli.conf" },
  };

  (void) data;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      GError *error = NULL;
      g_autoptr (EmberPortalConfig) c =
        ember_portal_config_load_data (cases[i].text, "cli.conf", &error);
      g_assert_null (c);
      g_assert_true (g_str_has_prefix (error->message, "cli.conf: "));
      if (strstr (error->message, cases[i].message) == NULL)
        g_error ("case %u: \"%s\" lacks \"%s\"", i, error->message, cases[i].message);
      g_error_free (error);
    }
  /* The server's keys and relay groups are accepted here. */
  {
    GError *error = NULL;
    g_autoptr (EmberPortalConfig) c = ember_portal_config_load_data (
      "[portal]\nstate-dir=/var/lib/x\nlisten=127.0.0.1:8443\nadmin-listen=127.0.0.1:8444\n"
      "metrics-listen=127.0.0.1:9100\ninsecure=false\ntls-certificate=a\ntls-key=b\n"
      "[relay one]\naddress=192.0.2.1:3478\nsecret-file=/etc/x\n",
      "ok.conf", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (c->state_dir, ==, "/var/lib/x");
  }
  /* From the program: exit 3, the message on stderr. */
  g_assert_true (g_file_set_contents (f->config, "[portal]\nstate-dir=s\nbogus=1\n", -1, NULL));
  g_assert_cmpint (run (f, "list", "-c", "@config", "sites", NULL), ==, 3);
  g_assert_nonnull (strstr (f->err, "portal.conf: [portal] bogus: unknown key"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/portal/cli/" path, Fixture, NULL, fixture_set_up, fn, \
                                  fixture_tear_down)
  ADD ("token-create-prints-the-token-last", test_token_create_prints_the_token_last);
  ADD ("exit-codes-a-script-can-rely-on", test_exit_codes_a_script_can_rely_on);
  ADD ("list-and-log-json-are-the-api-shapes", test_list_and_log_json_are_the_api_shapes);
  ADD ("apply-reads-standard-input", test_apply_reads_standard_input);
  ADD ("every-verb-has-help", test_every_verb_has_help);
  ADD ("config-errors-name-file-group-and-key", test_config_errors_name_file_group_and_key);
  return g_test_run ();
}
