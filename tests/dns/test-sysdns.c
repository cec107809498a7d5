/* Tests of system DNS control (plugins/dns/sysdns) that need no root and
 * no bus: the `file` backend on a temporary resolv.conf (restored byte
 * for byte, after a simulated crash too, left alone when someone else
 * rewrote it, a symlink put back as a symlink), the `resolvconf` backend
 * against a stand-in program that records its arguments and input, and
 * `auto` without resolved. Suite 'unit'; test-sysdns-system.c has the
 * bind mount and resolved. */
#include "dns-servers.h"
#include "sysdns.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Not text a resolver would write: CRLF, no final newline, a NUL. */
static const char original[] = "# the host's own\r\nnameserver 10.0.0.1\nsearch home.arpa\n\0tail";
#define ORIGINAL_LEN (sizeof original - 1)

typedef struct {
  char *dir, *path, *state, *program, *log;
} Fx;

static void
setup (Fx *f, gconstpointer data)
{
  (void) data;
  f->dir = dns_servers_make_dir ();
  f->path = g_build_filename (f->dir, "resolv.conf", NULL);
  f->state = g_build_filename (f->dir, "state", NULL);
  f->program = g_build_filename (f->dir, "resolvconf", NULL);
  f->log = g_build_filename (f->dir, "resolvconf.log", NULL);
  g_assert_true (g_file_set_contents (f->path, original, ORIGINAL_LEN, NULL));
  g_assert_cmpint (chmod (f->path, 0640), ==, 0);
}

static void
teardown (Fx *f, gconstpointer data)
{
  (void) data;
  dns_servers_remove_dir (f->dir);
  g_free (f->dir);
  g_free (f->path);
  g_free (f->state);
  g_free (f->program);
  g_free (f->log);
}

static const EmberAddr servers[] = {
  { .family = EMBER_ADDR_IPV4, .port = 53, .addr = { 100, 100, 111, 1 } },
  { .family = EMBER_ADDR_IPV6, .port = 53,
    .addr = { 0xfd, 0, 0x20, 0x21, 0x11, 0x11, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x53 } },
};
static const char *const search[] = { "corp.example", NULL };

static const EmberSysdnsConfig config = {
  .servers = servers, .n_servers = 2, .search = search, .default_route = TRUE,
};

static EmberSysdns *
new_sysdns (Fx *f, EmberSysdnsMode mode)
{
  EmberSysdnsOptions o = {
    .mode = mode, .ifname = "ember-test0", .state_dir = f->state, .resolv_conf = f->path,
    .resolvconf_program = f->program,
  };
  g_autoptr (GError) error = NULL;
  EmberSysdns *s = ember_sysdns_new (&o, &error);
  g_assert_no_error (error);
  return s;
}

static void
assert_original (Fx *f)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (f->path, &data, &len, NULL));
  g_assert_cmpmem (data, (int) len, original, (int) ORIGINAL_LEN);
  struct stat st;
  g_assert_cmpint (lstat (f->path, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_assert_cmpuint (st.st_mode & 07777, ==, 0640);
}

static void
assert_ours (const char *path)
{
  g_autofree char *data = NULL;
  g_assert_true (g_file_get_contents (path, &data, NULL, NULL));
  g_assert_nonnull (strstr (data, "\nnameserver 100.100.111.1\nnameserver fd00:2021:1111:8000::53\n"));
  g_assert_nonnull (strstr (data, "\nsearch corp.example\n"));
}

static gboolean
state_empty (Fx *f)
{
  g_autoptr (GDir) d = g_dir_open (f->state, 0, NULL);
  return d == NULL || g_dir_read_name (d) == NULL;
}

static void
test_file_restores (Fx *f, gconstpointer data)
{
  (void) data;
  struct stat before, during;
  g_assert_cmpint (stat (f->path, &before), ==, 0);
  EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_FILE);
  g_assert_cmpint (ember_sysdns_get_mode (s), ==, EMBER_SYSDNS_FILE);
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_sysdns_apply (s, &config, &error));
  g_assert_no_error (error);
  assert_ours (f->path);
  /* A plain file is replaced by rename: readers never see half of it. */
  g_assert_cmpint (stat (f->path, &during), ==, 0);
  g_assert_cmpuint (during.st_ino, !=, before.st_ino);
  g_assert_cmpuint (during.st_mode & 07777, ==, 0640);
  /* Applied again (new servers): the saved original stays the first one. */
  g_assert_true (ember_sysdns_apply (s, &config, &error));
  g_assert_true (ember_sysdns_revert (s, &error));
  g_assert_no_error (error);
  assert_original (f);
  g_assert_true (state_empty (f));
  ember_sysdns_free (s);
  assert_original (f);
}

static void
test_file_after_crash (Fx *f, gconstpointer data)
{
  (void) data;
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_FILE);
      if (!ember_sysdns_apply (s, &config, NULL))
        _exit (1);
      _exit (0);  /* the crash: no revert */
    }
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  assert_ours (f->path);
  g_assert_false (state_empty (f));
  /* The next start, whatever its mode, puts the original back. */
  EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_NONE);
  assert_original (f);
  g_assert_true (state_empty (f));
  ember_sysdns_free (s);
  assert_original (f);
}

static void
test_file_changed_by_other (Fx *f, gconstpointer data)
{
  (void) data;
  EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_FILE);
  g_assert_true (ember_sysdns_apply (s, &config, NULL));
  g_assert_true (g_file_set_contents (f->path, "nameserver 192.0.2.99\n", -1, NULL));
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_sysdns_revert (s, &error));
  g_assert_no_error (error);
  g_autofree char *now = NULL;
  g_assert_true (g_file_get_contents (f->path, &now, NULL, NULL));
  g_assert_cmpstr (now, ==, "nameserver 192.0.2.99\n");
  g_assert_true (state_empty (f));
  ember_sysdns_free (s);
}

static void
test_file_symlink (Fx *f, gconstpointer data)
{
  (void) data;
  g_autofree char *target = g_build_filename (f->dir, "target.conf", NULL);
  g_assert_cmpint (rename (f->path, target), ==, 0);
  g_assert_cmpint (symlink ("target.conf", f->path), ==, 0);
  EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_FILE);
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_sysdns_apply (s, &config, &error));
  g_assert_no_error (error);
  struct stat st;
  g_assert_cmpint (lstat (f->path, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  assert_ours (f->path);
  /* The link's target (resolved's own file, say) is never written. */
  g_autofree char *t = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (target, &t, &len, NULL));
  g_assert_cmpmem (t, (int) len, original, (int) ORIGINAL_LEN);
  ember_sysdns_free (s);
  g_autofree char *link = g_file_read_link (f->path, NULL);
  g_assert_cmpstr (link, ==, "target.conf");
  g_assert_true (state_empty (f));
}

/* ---- resolvconf ------------------------------------------------------------------ */

static void
write_program (Fx *f, gboolean openresolv)
{
  g_autofree char *text = g_strdup_printf (
    "#!/bin/sh\n"
    "if [ \"$1\" = --version ]; then %s; fi\n"
    "echo \"ARGS $*\" >> '%s'\n"
    "cat >> '%s'\n",
    openresolv ? "echo 'openresolv 3.12.0'; exit 0" : "exit 99", f->log, f->log);
  g_assert_true (g_file_set_contents (f->program, text, -1, NULL));
  g_assert_cmpint (chmod (f->program, 0700), ==, 0);
}

static char *
read_log (Fx *f)
{
  char *text = NULL;
  if (!g_file_get_contents (f->log, &text, NULL, NULL))
    return g_strdup ("");
  unlink (f->log);
  return text;
}

static void
test_resolvconf (Fx *f, gconstpointer data)
{
  gboolean openresolv = GPOINTER_TO_INT (data);
  write_program (f, openresolv);
  EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_RESOLVCONF);
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_sysdns_apply (s, &config, &error));
  g_assert_no_error (error);
  g_autofree char *log = read_log (f);
  g_assert_true (g_str_has_prefix (log, openresolv ? "ARGS -a tun.ember-test0 -m 0 -x\n"
                                                   : "ARGS -a tun.ember-test0\n"));
  g_assert_nonnull (strstr (log, "\nnameserver 100.100.111.1\nnameserver fd00:2021:1111:8000::53\n"
                                 "search corp.example\n"));
  ember_sysdns_free (s);
  g_autofree char *log2 = read_log (f);
  g_assert_cmpstr (log2, ==, "ARGS -d tun.ember-test0 -f\n");
  g_assert_true (state_empty (f));
  assert_original (f);
}

static void
test_resolvconf_after_crash (Fx *f, gconstpointer data)
{
  (void) data;
  write_program (f, FALSE);
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_RESOLVCONF);
      _exit (ember_sysdns_apply (s, &config, NULL) ? 0 : 1);
    }
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_free (read_log (f));
  EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_FILE);
  g_autofree char *log = read_log (f);
  g_assert_cmpstr (log, ==, "ARGS -d tun.ember-test0 -f\n");
  g_assert_true (state_empty (f));
  ember_sysdns_free (s);
}

static void
test_resolvconf_fails (Fx *f, gconstpointer data)
{
  (void) data;
  g_assert_true (g_file_set_contents (f->program, "#!/bin/sh\necho 'no way' >&2\nexit 3\n", -1,
                                      NULL));
  g_assert_cmpint (chmod (f->program, 0700), ==, 0);
  EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_RESOLVCONF);
  g_autoptr (GError) error = NULL;
  g_assert_false (ember_sysdns_apply (s, &config, &error));
  g_assert_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "no way"));
  g_assert_true (state_empty (f));
  ember_sysdns_free (s);
}

/* ---- Modes -------------------------------------------------------------------------- */

static void
test_auto_without_resolved (Fx *f, gconstpointer data)
{
  (void) data;
  /* A bus without org.freedesktop.resolve1 is what matters; the system
   * bus may or may not exist here, neither has resolved in a test. */
  if (g_file_test ("/run/systemd/resolve", G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("systemd-resolved runs on this machine");
      return;
    }
  EmberSysdns *s = new_sysdns (f, EMBER_SYSDNS_AUTO);
  g_assert_cmpint (ember_sysdns_get_mode (s), ==, EMBER_SYSDNS_FILE);
  ember_sysdns_free (s);
  write_program (f, FALSE);
  s = new_sysdns (f, EMBER_SYSDNS_AUTO);
  g_assert_cmpint (ember_sysdns_get_mode (s), ==, EMBER_SYSDNS_RESOLVCONF);
  ember_sysdns_free (s);
}

static void
test_mode_names (void)
{
  EmberSysdnsMode m;
  const char *names[] = { "auto", "resolved", "resolvconf", "file", "none" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_assert_true (ember_sysdns_mode_from_name (names[i], &m, NULL));
      g_assert_cmpstr (ember_sysdns_mode_name (m), ==, names[i]);
    }
  g_autoptr (GError) error = NULL;
  g_assert_false (ember_sysdns_mode_from_name ("systemd", &m, &error));
  g_assert_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "\"systemd\""));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  dns_servers_install_cleanup ();
  g_test_add ("/sysdns/file/restores-the-original-byte-for-byte", Fx, NULL, setup,
              test_file_restores, teardown);
  g_test_add ("/sysdns/file/restores-at-the-next-start-after-a-crash", Fx, NULL, setup,
              test_file_after_crash, teardown);
  g_test_add ("/sysdns/file/leaves-a-file-someone-else-rewrote", Fx, NULL, setup,
              test_file_changed_by_other, teardown);
  g_test_add ("/sysdns/file/puts-a-symlink-back-as-a-symlink", Fx, NULL, setup,
              test_file_symlink, teardown);
  g_test_add ("/sysdns/resolvconf/debian-adds-and-deletes-the-record", Fx, GINT_TO_POINTER (FALSE),
              setup, test_resolvconf, teardown);
  g_test_add ("/sysdns/resolvconf/openresolv-gets-metric-and-exclusive", Fx,
              GINT_TO_POINTER (TRUE), setup, test_resolvconf, teardown);
  g_test_add ("/sysdns/resolvconf/deletes-a-crashed-run's-record", Fx, NULL, setup,
              test_resolvconf_after_crash, teardown);
  g_test_add ("/sysdns/resolvconf/failure-is-reported-with-its-message", Fx, NULL, setup,
              test_resolvconf_fails, teardown);
  g_test_add ("/sysdns/auto/without-resolved-picks-resolvconf-then-file", Fx, NULL, setup,
              test_auto_without_resolved, teardown);
  g_test_add_func ("/sysdns/mode-names", test_mode_names);
  return g_test_run ();
}
