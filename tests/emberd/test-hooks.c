/* wg-quick's hooks as emberd runs them (bin/emberd/hooks.h): real
 * /bin/sh commands writing into a scratch directory. */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "hooks.h"

#define PRIV "mJlL1vP1Y5LnfYnwN9F/Bu26+s5dMCQE14oA8GlNCFs="

typedef struct {
  char *dir;
  char *out;     /* dir/out: what the commands wrote */
  GString *log;  /* every message of the "ember-hooks" domain */
  guint handler;
} Fixture;

static void
collect_log (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  Fixture *fx = data;
  (void) domain;
  g_string_append_printf (fx->log, "%s|%s\n",
                          (level & G_LOG_LEVEL_WARNING) ? "warning" : "info", message);
}

static void
fixture_set_up (Fixture *fx, gconstpointer data)
{
  GError *error = NULL;
  (void) data;
  fx->dir = g_dir_make_tmp ("wgq-hooks-XXXXXX", &error);
  g_assert_no_error (error);
  fx->out = g_build_filename (fx->dir, "out", NULL);
  fx->log = g_string_new (NULL);
  fx->handler = g_log_set_handler ("ember-hooks", G_LOG_LEVEL_MASK, collect_log, fx);
}

static void
fixture_tear_down (Fixture *fx, gconstpointer data)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", fx->dir);
  (void) data;
  g_log_remove_handler ("ember-hooks", fx->handler);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (fx->dir);
  g_free (fx->out);
  g_string_free (fx->log, TRUE);
}

/* A config whose [Interface] holds `lines`, each "%s" in them replaced by
 * the output file. */
static EmberWgConf *
conf_with (Fixture *fx, const char *lines)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) parts = g_strsplit (lines, "%s", -1);
  g_autofree char *body = g_strjoinv (fx->out, parts);
  g_autofree char *text = g_strdup_printf ("[Interface]\nPrivateKey = " PRIV "\n%s", body);
  EmberWgConf *c = ember_wgconf_parse (text, "x.conf", &error);

  g_assert_no_error (error);
  return c;
}

static char *
read_out (Fixture *fx)
{
  char *text = NULL;
  if (!g_file_get_contents (fx->out, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

static void
test_expand (void)
{
  g_autofree char *a = ember_hooks_expand ("ip link set %i up; echo %i%i", "wgq0");
  g_autofree char *b = ember_hooks_expand ("printf '100%%' %", "wgq0");
  g_autofree char *c = ember_hooks_expand ("%I %", "wgq0");

  g_assert_cmpstr (a, ==, "ip link set wgq0 up; echo wgq0wgq0");
  g_assert_cmpstr (b, ==, "printf '100%%' %");
  g_assert_cmpstr (c, ==, "%I %");
}

static void
test_in_order (Fixture *fx, gconstpointer data)
{
  g_autoptr (EmberWgConf) c = conf_with (fx, "PostUp = echo one %i >> '%s'\n"
                                             "PreUp = echo pre >> '%s'\n"
                                             "PostUp = echo two \"$0\" >> '%s'\n"
                                             "PostUp = echo three >> '%s'\n");
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  (void) data;

  g_assert_true (ember_hooks_run (c, EMBER_WGCONF_POST_UP, "wgq7", &error));
  g_assert_no_error (error);
  out = read_out (fx);
  /* Only the stage asked for, in file order, %i replaced, through sh. */
  g_assert_cmpstr (out, ==, "one wgq7\ntwo /bin/sh\nthree\n");
}

static void
test_failure_stops (Fixture *fx, gconstpointer data)
{
  g_autoptr (EmberWgConf) c = conf_with (fx, "PostUp = echo a >> '%s'\n"
                                             "PostUp = echo about to fail; exit 3\n"
                                             "PostUp = echo c >> '%s'\n");
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  (void) data;

  g_assert_false (ember_hooks_run (c, EMBER_WGCONF_POST_UP, "wgq0", &error));
  g_assert_error (error, EMBER_HOOKS_ERROR, EMBER_HOOKS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "PostUp (x.conf:4)"));
  g_assert_nonnull (strstr (error->message, "exit"));
  g_assert_nonnull (strstr (error->message, "3"));
  out = read_out (fx);
  g_assert_cmpstr (out, ==, "a\n");
  g_assert_nonnull (strstr (fx->log->str, "info|PostUp (x.conf:4): about to fail\n"));
}

static void
test_signal (Fixture *fx, gconstpointer data)
{
  g_autoptr (EmberWgConf) c = conf_with (fx, "PreUp = kill -9 $$\n");
  g_autoptr (GError) error = NULL;
  (void) data;

  g_assert_false (ember_hooks_run (c, EMBER_WGCONF_PRE_UP, "wgq0", &error));
  g_assert_error (error, EMBER_HOOKS_ERROR, EMBER_HOOKS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "PreUp (x.conf:3)"));
  g_assert_nonnull (strstr (error->message, "signal"));
}

static void
test_run_all (Fixture *fx, gconstpointer data)
{
  g_autoptr (EmberWgConf) c = conf_with (fx, "PostDown = echo x >> '%s'; false\n"
                                             "PostDown = echo y >> '%s'\n"
                                             "PostDown = exit 1\n");
  g_autofree char *out = NULL;
  GLogLevelFlags fatal;
  (void) data;

  /* The failures are warnings by design; collect them, do not abort. */
  fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_assert_cmpuint (ember_hooks_run_all (c, EMBER_WGCONF_POST_DOWN, "wgq0"), ==, 2);
  g_log_set_always_fatal (fatal);
  out = read_out (fx);
  g_assert_cmpstr (out, ==, "x\ny\n");
  g_assert_nonnull (strstr (fx->log->str, "warning|PostDown (x.conf:3): "));
  g_assert_nonnull (strstr (fx->log->str, "warning|PostDown (x.conf:5): "));
  g_assert_null (strstr (fx->log->str, "warning|PostDown (x.conf:4)"));
}

static void
test_output_logged (Fixture *fx, gconstpointer data)
{
  g_autoptr (EmberWgConf) c = conf_with (fx, "PreUp = echo hello %i; echo oops >&2; "
                                             "printf 'no newline'\n");
  g_autoptr (GError) error = NULL;
  (void) data;

  g_assert_true (ember_hooks_run (c, EMBER_WGCONF_PRE_UP, "wgq3", &error));
  g_assert_nonnull (strstr (fx->log->str,
                            "info|PreUp (x.conf:3): running echo hello wgq3; echo oops >&2;"));
  g_assert_nonnull (strstr (fx->log->str, "info|PreUp (x.conf:3): hello wgq3\n"));
  g_assert_nonnull (strstr (fx->log->str, "info|PreUp (x.conf:3): oops\n"));
  g_assert_nonnull (strstr (fx->log->str, "info|PreUp (x.conf:3): no newline\n"));
}

/* A hook that starts a daemon in the background (which keeps the output
 * pipe open) returns when the shell exits, not when the daemon does. */
static void
test_background (Fixture *fx, gconstpointer data)
{
  g_autoptr (EmberWgConf) c = conf_with (fx, "PostUp = sleep 60 & echo $! > '%s'\n");
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  gint64 start = g_get_monotonic_time ();
  guint64 pid;
  (void) data;

  g_assert_true (ember_hooks_run (c, EMBER_WGCONF_POST_UP, "wgq0", &error));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 20 * G_USEC_PER_SEC);
  out = read_out (fx);
  g_strchomp (out);
  g_assert_true (g_ascii_string_to_unsigned (out, 10, 2, G_MAXINT, &pid, NULL));
  g_assert_cmpint (kill ((pid_t) pid, SIGTERM), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emberd/hooks/expand/replaces-every-percent-i", test_expand);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/emberd/hooks/run/one-stage-in-file-order-through-sh-with-the-interface", test_in_order);
  ADD ("/emberd/hooks/run/stops-at-the-first-failure-naming-file-and-line", test_failure_stops);
  ADD ("/emberd/hooks/run/a-command-killed-by-a-signal-fails", test_signal);
  ADD ("/emberd/hooks/run-all/logs-failures-and-runs-the-rest", test_run_all);
  ADD ("/emberd/hooks/run/stdout-and-stderr-go-to-the-log", test_output_logged);
  ADD ("/emberd/hooks/run/returns-when-the-shell-exits-not-its-background-jobs",
       test_background);
#undef ADD
  return g_test_run ();
}
