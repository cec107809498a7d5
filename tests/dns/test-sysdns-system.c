/* Tests of system DNS control (plugins/dns/sysdns) that need root or a
 * bus of their own:
 *   - `file` where resolv.conf is a bind mount, as in containers and
 *     under `ip netns exec`: a forked child enters a private mount
 *     namespace (unshare), bind-mounts a file over another and points
 *     sysdns at the mount point, where a rename fails; also a crash
 *     there and the recovery in a new namespace;
 *   - `resolved` against a python-dbusmock stand-in of
 *     org.freedesktop.resolve1 (resolved-mock.py) on a private
 *     dbus-daemon started here: the exact calls, the settings sent again
 *     when the service restarts (a new owner of the name), RevertLink
 *     at the end, and `auto` choosing resolved.
 * Suite 'netns' (root). */
#include "dns-servers.h"
#include "sysdns.h"

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char original[] = "# container's own\nnameserver 10.0.0.1\r\noptions ndots:2";
#define ORIGINAL_LEN (sizeof original - 1)

static const EmberAddr servers[] = {
  { .family = EMBER_ADDR_IPV4, .port = 53, .addr = { 100, 100, 111, 1 } },
  { .family = EMBER_ADDR_IPV6, .port = 53,
    .addr = { 0xfd, 0, 0x20, 0x21, 0x11, 0x11, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x53 } },
};
static const char *const search[] = { "corp.example", NULL };
static const char *const routing[] = { "internal.example", NULL };
static const EmberSysdnsConfig config = {
  .servers = servers, .n_servers = 2, .search = search, .routing = routing,
  .default_route = TRUE,
};

static gboolean
skip_unless_root (void)
{
  if (geteuid () == 0)
    return FALSE;
  g_test_skip ("needs root (suite netns)");
  return TRUE;
}

/* ---- file on a bind mount ------------------------------------------------------- */

typedef enum { RUN_APPLY_REVERT, RUN_CRASH, RUN_RECOVER } BindRun;

static void
assert_contents (const char *path, const char *want, gsize want_len)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpmem (data, (int) len, want, (int) want_len);
}

/* In a forked child: its own mount namespace, `host` bind-mounted over
 * `mnt`, sysdns on `mnt`. Assertions abort the child; the parent checks
 * its exit. */
static void
bind_child (const char *dir, BindRun run)
{
  g_autofree char *host = g_build_filename (dir, "resolv.conf", NULL);
  g_autofree char *mnt = g_build_filename (dir, "other.conf", NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_assert_cmpint (unshare (CLONE_NEWNS), ==, 0);
  g_assert_cmpint (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), ==, 0);
  g_assert_cmpint (mount (host, mnt, NULL, MS_BIND, NULL), ==, 0);

  EmberSysdnsOptions o = { .mode = EMBER_SYSDNS_FILE, .ifname = "ember-test0",
                           .state_dir = state, .resolv_conf = mnt };
  g_autoptr (GError) error = NULL;
  EmberSysdns *s = ember_sysdns_new (&o, &error);
  g_assert_no_error (error);
  if (run == RUN_RECOVER)
    {
      assert_contents (host, original, ORIGINAL_LEN);
      _exit (0);
    }
  struct stat before, after;
  g_assert_cmpint (stat (mnt, &before), ==, 0);
  g_assert_true (ember_sysdns_apply (s, &config, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stat (mnt, &after), ==, 0);
  /* Written in place: still the mounted inode, and the host file has it. */
  g_assert_cmpuint (after.st_ino, ==, before.st_ino);
  g_autofree char *data = NULL;
  g_assert_true (g_file_get_contents (host, &data, NULL, NULL));
  g_assert_nonnull (strstr (data, "\nnameserver 100.100.111.1\n"));
  /* The temporary file of the failed rename is gone. */
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    g_assert_false (g_str_has_prefix (name, ".other.conf.ember-"));
  if (run == RUN_CRASH)
    _exit (0);
  g_assert_true (ember_sysdns_revert (s, &error));
  g_assert_no_error (error);
  assert_contents (host, original, ORIGINAL_LEN);
  ember_sysdns_free (s);
  _exit (0);
}

static void
run_bind_child (const char *dir, BindRun run)
{
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    bind_child (dir, run);
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("the child in its mount namespace failed (status 0x%x)", status);
}

static void
test_bind_mount (void)
{
  if (skip_unless_root ())
    return;
  g_autofree char *dir = dns_servers_make_dir ();
  g_autofree char *host = g_build_filename (dir, "resolv.conf", NULL);
  g_autofree char *mnt = g_build_filename (dir, "other.conf", NULL);
  g_assert_true (g_file_set_contents (host, original, ORIGINAL_LEN, NULL));
  g_assert_true (g_file_set_contents (mnt, "", 0, NULL));

  run_bind_child (dir, RUN_APPLY_REVERT);
  assert_contents (host, original, ORIGINAL_LEN);

  /* A crash in the namespace leaves our text; the next start (a new
   * namespace, the same bind mount) restores it. */
  run_bind_child (dir, RUN_CRASH);
  g_autofree char *data = NULL;
  g_assert_true (g_file_get_contents (host, &data, NULL, NULL));
  g_assert_nonnull (strstr (data, "nameserver 100.100.111.1"));
  run_bind_child (dir, RUN_RECOVER);
  assert_contents (host, original, ORIGINAL_LEN);
  /* The mounts died with the namespaces. */
  assert_contents (mnt, "", 0);
  dns_servers_remove_dir (dir);
}

/* ---- resolved ---------------------------------------------------------------------- */

typedef struct {
  char *dir, *address;
  GPid bus_pid, mock_pid;
  GDBusConnection *bus;
} Bus;

static gboolean
bus_start (Bus *b)
{
  memset (b, 0, sizeof *b);
  g_autofree char *mock = g_build_filename (g_getenv ("EMBER_SOURCE_ROOT") != NULL
                                              ? g_getenv ("EMBER_SOURCE_ROOT") : ".",
                                            "tests", "dns", "resolved-mock.py", NULL);
  g_autofree char *daemon = g_find_program_in_path ("dbus-daemon");
  if (daemon == NULL || !g_file_test ("/usr/lib/python3/dist-packages/dbusmock",
                                      G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("dbus-daemon or python3-dbusmock is not installed (scripts/deps.sh)");
      return FALSE;
    }
  g_assert_true (g_file_test (mock, G_FILE_TEST_IS_REGULAR));
  b->dir = dns_servers_make_dir ();
  g_autofree char *conf = g_strdup_printf (
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig><type>session</type><listen>unix:path=%s/bus</listen>\n"
    "<auth>EXTERNAL</auth><policy context=\"default\">\n"
    "<allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/>\n"
    "<allow own=\"*\"/></policy></busconfig>\n", b->dir);
  g_autofree char *conf_path = g_build_filename (b->dir, "bus.conf", NULL);
  g_assert_true (g_file_set_contents (conf_path, conf, -1, NULL));
  g_autofree char *conf_arg = g_strdup_printf ("--config-file=%s", conf_path);
  const char *argv[] = { daemon, conf_arg, "--nofork", "--nopidfile", NULL };
  g_autoptr (GError) error = NULL;
  g_spawn_async (b->dir, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, dns_servers_child_setup,
                 NULL, &b->bus_pid, &error);
  g_assert_no_error (error);
  dns_servers_adopt (b->bus_pid);
  b->address = g_strdup_printf ("unix:path=%s/bus", b->dir);
  gint64 end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  while (b->bus == NULL)
    {
      g_clear_error (&error);
      b->bus = g_dbus_connection_new_for_address_sync (
        b->address,
        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, &error);
      if (b->bus == NULL)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, end);
          g_usleep (20 * 1000);
        }
    }
  return TRUE;
}

static gboolean
name_has_owner (Bus *b)
{
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
    b->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
    "NameHasOwner", g_variant_new ("(s)", "org.freedesktop.resolve1"), G_VARIANT_TYPE ("(b)"),
    G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  gboolean has = FALSE;
  g_assert_nonnull (r);
  g_variant_get (r, "(b)", &has);
  return has;
}

static void
mock_start (Bus *b)
{
  g_autofree char *mock = g_build_filename (g_getenv ("EMBER_SOURCE_ROOT") != NULL
                                              ? g_getenv ("EMBER_SOURCE_ROOT") : ".",
                                            "tests", "dns", "resolved-mock.py", NULL);
  const char *argv[] = { "/usr/bin/python3", "-m", "dbusmock", "--session", "-t", mock, NULL };
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (), "DBUS_SESSION_BUS_ADDRESS",
                                          b->address, TRUE);
  g_autoptr (GError) error = NULL;
  g_spawn_async (b->dir, (char **) argv, envp, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                 dns_servers_child_setup, NULL, &b->mock_pid, &error);
  g_assert_no_error (error);
  dns_servers_adopt (b->mock_pid);
  gint64 end = g_get_monotonic_time () + 15 * G_TIME_SPAN_SECOND;
  while (!name_has_owner (b))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      g_usleep (50 * 1000);
    }
}

static void
kill_wait (GPid *pid)
{
  if (*pid <= 0)
    return;
  kill (*pid, SIGTERM);
  waitpid (*pid, NULL, 0);
  dns_servers_release (*pid);
  g_spawn_close_pid (*pid);
  *pid = 0;
}

static void
bus_stop (Bus *b)
{
  /* GDBus frees an unwatched name's watcher from the main context. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  kill_wait (&b->mock_pid);
  g_clear_object (&b->bus);
  kill_wait (&b->bus_pid);
  if (b->dir != NULL)
    dns_servers_remove_dir (b->dir);
  g_clear_pointer (&b->dir, g_free);
  g_clear_pointer (&b->address, g_free);
}

/* The mock's call log as lines "Method(args)", args in GVariant text. */
static char *
calls (Bus *b)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
    b->bus, "org.freedesktop.resolve1", "/org/freedesktop/resolve1", "org.freedesktop.DBus.Mock",
    "GetCalls", NULL, G_VARIANT_TYPE ("(a(tsav))"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  g_assert_no_error (error);
  GString *s = g_string_new (NULL);
  g_autoptr (GVariantIter) it = NULL;
  g_variant_get (r, "(a(tsav))", &it);
  guint64 when;
  const char *method;
  GVariantIter *args;
  while (g_variant_iter_loop (it, "(t&sav)", &when, &method, &args))
    {
      g_string_append_printf (s, "%s(", method);
      GVariant *v;
      gboolean first = TRUE;
      while (g_variant_iter_loop (args, "v", &v))
        {
          g_autofree char *t = g_variant_print (v, FALSE);
          g_string_append_printf (s, "%s%s", first ? "" : ", ", t);
          first = FALSE;
        }
      g_string_append (s, ")\n");
    }
  return g_string_free (s, FALSE);
}

#define EXPECTED_APPLY                                                                   \
  "SetLinkDNS(1, [(2, [0x64, 0x64, 0x6f, 0x01]), (10, [0xfd, 0x00, 0x20, 0x21, 0x11, "  \
  "0x11, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53])])\n"               \
  "SetLinkDomains(1, [('corp.example', false), ('internal.example', true), ('.', true)])\n" \
  "SetLinkDefaultRoute(1, true)\n"

static void
test_resolved (void)
{
  Bus b;
  if (!bus_start (&b))
    return;
  mock_start (&b);
  g_autoptr (GError) error = NULL;
  g_autofree char *state = g_build_filename (b.dir, "state", NULL);
  EmberSysdnsOptions o = { .mode = EMBER_SYSDNS_AUTO, .ifname = "lo", .state_dir = state,
                           .resolvconf_program = "/nonexistent/resolvconf", .bus = b.bus };
  EmberSysdns *s = ember_sysdns_new (&o, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ember_sysdns_get_mode (s), ==, EMBER_SYSDNS_RESOLVED);
  g_assert_true (ember_sysdns_apply (s, &config, &error));
  g_assert_no_error (error);
  g_autofree char *log = calls (&b);
  g_assert_cmpstr (log, ==, EXPECTED_APPLY);

  /* resolved restarts: a new owner of the name gets everything again. */
  kill_wait (&b.mock_pid);
  gint64 end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  while (name_has_owner (&b))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      g_usleep (20 * 1000);
    }
  while (g_main_context_iteration (NULL, FALSE))
    ;
  mock_start (&b);
  end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  for (;;)
    {
      g_main_context_iteration (NULL, FALSE);
      g_autofree char *again = calls (&b);
      if (g_str_equal (again, EXPECTED_APPLY))
        break;
      g_assert_true (again[0] == '\0' || g_str_has_prefix (EXPECTED_APPLY, again));
      g_assert_cmpint (g_get_monotonic_time (), <, end);
      g_usleep (20 * 1000);
    }

  ember_sysdns_free (s);
  g_autofree char *last = calls (&b);
  g_assert_cmpstr (last, ==, EXPECTED_APPLY "RevertLink(1)\n");
  bus_stop (&b);
}

/* resolved refusing a call: the error names the method and the link. */
static void
test_resolved_error (void)
{
  Bus b;
  if (!bus_start (&b))
    return;
  /* No service at all on this bus. */
  g_autoptr (GError) error = NULL;
  g_autofree char *state = g_build_filename (b.dir, "state", NULL);
  EmberSysdnsOptions o = { .mode = EMBER_SYSDNS_RESOLVED, .ifname = "lo", .state_dir = state,
                           .bus = b.bus };
  EmberSysdns *s = ember_sysdns_new (&o, &error);
  g_assert_no_error (error);
  g_assert_false (ember_sysdns_apply (s, &config, &error));
  g_assert_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "SetLinkDNS on lo (link 1)"));
  ember_sysdns_free (s);
  bus_stop (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  dns_servers_install_cleanup ();
  g_test_add_func ("/sysdns/file/bind-mounted-resolv-conf-is-written-in-place-and-restored",
                   test_bind_mount);
  g_test_add_func ("/sysdns/resolved/sets-the-link-re-applies-after-a-restart-and-reverts",
                   test_resolved);
  g_test_add_func ("/sysdns/resolved/a-missing-service-is-an-error-naming-the-call",
                   test_resolved_error);
  return g_test_run ();
}
