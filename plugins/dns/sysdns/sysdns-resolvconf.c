/* sysdns-resolvconf — the `resolvconf` backend: resolvconf(8), Debian's
 * or openresolv. The record is named "tun.IFACE" (Debian's
 * interface-order puts tun* before the physical interfaces; openresolv
 * gets `-m 0 -x` instead, as wg-quick does). A marker in the state
 * directory names the record while it exists, so a crashed run's record
 * is deleted at the next start.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sysdns-private.h"

#define MARKER_NAME "resolvconf.record"

gboolean
sysdns_resolvconf_found (const char *program)
{
  g_autofree char *path = g_find_program_in_path (program);
  return path != NULL;
}

static gboolean
is_openresolv (const char *program)
{
  const char *argv[] = { program, "--version", NULL };
  g_autofree char *out = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, NULL, NULL))
    return FALSE;
  return out != NULL && g_str_has_prefix (out, "openresolv");
}

/* Runs `program args...` with `input` on stdin and waits for it. Plain
 * spawn and waitpid rather than GSubprocess: no GLib worker thread is
 * involved, so it also works in a process forked from a threaded one. */
static gboolean
run (const char *program, const char *const *args, const char *input, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (gpointer) program);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_autoptr (GError) local = NULL;
  GPid pid;
  int in_fd = -1, err_fd = -1;
  if (!g_spawn_async_with_pipes (NULL, (char **) argv->pdata, NULL,
                                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD
                                 | G_SPAWN_STDOUT_TO_DEV_NULL,
                                 NULL, NULL, &pid, &in_fd, NULL, &err_fd, &local))
    {
      g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED,
                   "system DNS control (resolvconf): %s: %s", program, local->message);
      return FALSE;
    }
  /* resolv.conf text is far below a pipe's buffer: no deadlock with the
   * stderr read below. A program that exits without reading its input
   * makes the write fail with EPIPE: the SIGPIPE that comes with it is
   * blocked here and consumed, not allowed to kill the daemon. */
  sigset_t pipe_set, old_set;
  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
  gboolean broken = FALSE;
  gsize len = input != NULL ? strlen (input) : 0, off = 0;
  while (off < len)
    {
      ssize_t n = write (in_fd, input + off, len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          broken = n < 0 && errno == EPIPE;
          break;
        }
      off += (gsize) n;
    }
  close (in_fd);
  if (broken && !sigismember (&old_set, SIGPIPE))
    {
      struct timespec zero = { 0, 0 };
      while (sigtimedwait (&pipe_set, NULL, &zero) < 0 && errno == EINTR)
        ;
    }
  pthread_sigmask (SIG_SETMASK, &old_set, NULL);
  GString *err_text = g_string_new (NULL);
  char buf[512];
  for (;;)
    {
      ssize_t n = read (err_fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      if (err_text->len < 4096)
        g_string_append_len (err_text, buf, n);
    }
  close (err_fd);
  int status = 0;
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (pid);
  g_autofree char *what = g_string_free (err_text, FALSE);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED,
                   "system DNS control (resolvconf): %s %s failed (exit %d): %s", program, args[0],
                   WIFEXITED (status) ? WEXITSTATUS (status) : -1, g_strstrip (what));
      return FALSE;
    }
  return TRUE;
}

static char *
marker_path (EmberSysdns *s)
{
  return g_build_filename (s->state_dir, MARKER_NAME, NULL);
}

static gboolean
delete_record (EmberSysdns *s, const char *record, GError **error)
{
  const char *args[] = { "-d", record, "-f", NULL };
  if (!run (s->resolvconf_program, args, NULL, error))
    return FALSE;
  g_autofree char *marker = marker_path (s);
  unlink (marker);
  return TRUE;
}

gboolean
sysdns_resolvconf_recover (EmberSysdns *s, GError **error)
{
  g_autofree char *marker = marker_path (s);
  g_autofree char *record = NULL;
  if (!g_file_get_contents (marker, &record, NULL, NULL))
    return TRUE;
  g_strstrip (record);
  if (*record == '\0' || !sysdns_resolvconf_found (s->resolvconf_program))
    {
      unlink (marker);
      return TRUE;
    }
  g_message ("system DNS control: deleting the resolvconf record %s a previous run left", record);
  return delete_record (s, record, error);
}

gboolean
sysdns_resolvconf_apply (EmberSysdns *s, const EmberSysdnsConfig *c, GError **error)
{
  g_autofree char *record = g_strdup_printf ("tun.%s", s->ifname);
  g_autofree char *marker = marker_path (s);
  g_autoptr (GError) local = NULL;
  /* The marker first: a crash after resolvconf ran must find it. */
  if (!g_file_set_contents_full (marker, record, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local))
    {
      g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED,
                   "system DNS control (resolvconf): %s", local->message);
      return FALSE;
    }
  g_autofree char *text = ember_sysdns_format_resolv_conf (c, s->ifname);
  const char *plain[] = { "-a", record, NULL };
  const char *open_rc[] = { "-a", record, "-m", "0", "-x", NULL };
  if (!run (s->resolvconf_program, is_openresolv (s->resolvconf_program) ? open_rc : plain, text,
            error))
    {
      unlink (marker);
      return FALSE;
    }
  return TRUE;
}

gboolean
sysdns_resolvconf_revert (EmberSysdns *s, GError **error)
{
  g_autofree char *record = g_strdup_printf ("tun.%s", s->ifname);
  return delete_record (s, record, error);
}
