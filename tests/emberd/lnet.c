/* lnet — network namespaces for the emberd netns tests. See lnet.h. */
#include "lnet.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#define NS_ENV "LNET_TEST_NS"

const char *
lnet_skip_reason (void)
{
  if (getuid () != 0)
    return "needs root to create network namespaces";
  if (!g_file_test ("/usr/sbin/ip", G_FILE_TEST_IS_EXECUTABLE)
      && !g_file_test ("/sbin/ip", G_FILE_TEST_IS_EXECUTABLE)
      && !g_file_test ("/usr/bin/ip", G_FILE_TEST_IS_EXECUTABLE))
    return "iproute2's ip is not installed";
  return NULL;
}

static int
run_argv (const char *cmd, char **out, char **err_out)
{
  const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
  g_autoptr (GError) error = NULL;
  int status = 0;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err_out,
                     &status, &error))
    g_error ("cannot run %s: %s", cmd, error->message);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

char *
lnet_sh (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *cmd = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  char *out = NULL;
  g_autofree char *err_text = NULL;
  int rc = run_argv (cmd, &out, &err_text);
  if (rc != 0)
    g_error ("`%s` exited %d: %s", cmd, rc, err_text);
  return out;
}

int
lnet_sh_status (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *cmd = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autofree char *out = NULL;
  g_autofree char *err_text = NULL;
  return run_argv (cmd, &out, &err_text);
}

char *
lnet_sysctl (const char *key)
{
  g_autofree char *path = g_build_filename ("/proc/sys", key, NULL);
  char *text = NULL;
  g_autoptr (GError) error = NULL;
  if (!g_file_get_contents (path, &text, NULL, &error))
    g_error ("%s", error->message);
  return g_strstrip (text);
}

const char *
lnet_ns_name (void)
{
  return g_getenv (NS_ENV);
}

char *
lnet_ns_extra (const char *suffix, int *fd)
{
  char *name = g_strdup_printf ("%s-%s", lnet_ns_name (), suffix);
  g_free (lnet_sh ("ip netns add %s && ip -n %s link set lo up", name, name));
  g_autofree char *path = g_build_filename ("/run/netns", name, NULL);
  *fd = open (path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0)
    g_error ("cannot open %s: %s", path, g_strerror (errno));
  return name;
}

int
lnet_ns_current (void)
{
  int fd = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    g_error ("cannot open /proc/thread-self/ns/net: %s", g_strerror (errno));
  return fd;
}

void
lnet_ns_enter (int fd)
{
  if (setns (fd, CLONE_NEWNET) != 0)
    g_error ("setns: %s", g_strerror (errno));
}

/* Deletes the namespace and every extra one made after it. */
static int
delete_namespaces (const char *name)
{
  int rc = lnet_sh_status ("ip netns del %s", name);
  g_autofree char *prefix = g_strconcat (name, "-", NULL);
  g_autoptr (GDir) dir = g_dir_open ("/run/netns", 0, NULL);
  const char *entry;
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (entry, prefix) && lnet_sh_status ("ip netns del %s", entry) != 0)
      rc = 1;
  return rc;
}

gboolean
lnet_run_in_ns (const char *tag)
{
  if (g_test_subprocess ())
    {
      const char *name = lnet_ns_name ();
      g_assert_nonnull (name);
      g_autofree char *path = g_build_filename ("/run/netns", name, NULL);
      int fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        g_error ("cannot open %s: %s", path, g_strerror (errno));
      if (setns (fd, CLONE_NEWNET) != 0)
        g_error ("setns %s: %s", name, g_strerror (errno));
      close (fd);
      g_free (lnet_sh ("ip link set lo up"));
      return FALSE;
    }
  const char *why = lnet_skip_reason ();
  if (why != NULL)
    {
      g_test_skip (why);
      return TRUE;
    }
  g_autofree char *name = g_strdup_printf ("lnet-%s-%d", tag, (int) getpid ());
  /* A namespace of the same name can only be a leftover of a killed run
   * with the same pid: ours to replace. */
  delete_namespaces (name);
  g_free (lnet_sh ("ip netns add %s", name));
  g_setenv (NS_ENV, name, TRUE);
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv (NS_ENV);
  int rc = delete_namespaces (name);
  g_test_trap_assert_passed ();
  g_assert_cmpint (rc, ==, 0);
  return TRUE;
}
