/* hooks — run wg-quick's shell hooks (see hooks.h). */
#define G_LOG_DOMAIN "ember-hooks"

#include "hooks.h"

#include <errno.h>
#include <glib-unix.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

G_DEFINE_QUARK (ember-hooks-error-quark, ember_hooks_error)

/* How often the child's exit is checked while it is quiet. */
#define POLL_MS 100

char *
ember_hooks_expand (const char *command, const char *ifname)
{
  GString *s = g_string_new (NULL);

  for (const char *c = command; *c != '\0'; c++)
    if (c[0] == '%' && c[1] == 'i')
      {
        g_string_append (s, ifname);
        c++;
      }
    else
      g_string_append_c (s, *c);
  return g_string_free (s, FALSE);
}

typedef struct {
  const char *prefix; /* "PostUp (wg0.conf:7)" */
  GString *pending;   /* a line not yet ended */
} Output;

static void
log_lines (Output *out, const char *data, gsize len, gboolean final)
{
  const char *nl;

  g_string_append_len (out->pending, data, (gssize) len);
  while ((nl = memchr (out->pending->str, '\n', out->pending->len)) != NULL)
    {
      gsize n = (gsize) (nl - out->pending->str);
      g_info ("%s: %.*s", out->prefix, (int) n, out->pending->str);
      g_string_erase (out->pending, 0, (gssize) n + 1);
    }
  if (final && out->pending->len > 0)
    {
      g_info ("%s: %s", out->prefix, out->pending->str);
      g_string_truncate (out->pending, 0);
    }
}

/* Reads what is there without blocking; FALSE at end of file. */
static gboolean
drain (int fd, Output *out)
{
  char buf[4096];

  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n > 0)
        {
          log_lines (out, buf, (gsize) n, FALSE);
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

static gboolean
run_one (const EmberWgConf *conf, EmberWgConfHookStage stage, const EmberWgConfHook *hook,
         const char *ifname, GError **error)
{
  const char *stage_name = ember_wgconf_hook_stage_name (stage);
  g_autofree char *command = ember_hooks_expand (hook->command, ifname);
  g_autofree char *prefix = g_strdup_printf ("%s (%s:%u)", stage_name, conf->path, hook->line);
  const char *argv[] = { "/bin/sh", "-c", command, NULL };
  g_autoptr (GError) local = NULL;
  Output out = { prefix, g_string_new (NULL) };
  gboolean open = TRUE;
  int fds[2], status = 0;
  GPid pid;

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &local))
    {
      g_set_error (error, EMBER_HOOKS_ERROR, EMBER_HOOKS_ERROR_SPAWN, "%s: cannot make a pipe: %s",
                   prefix, local->message);
      g_string_free (out.pending, TRUE);
      return FALSE;
    }
  g_info ("%s: running %s", prefix, command);
  /* stdout and stderr both to the pipe's write end, which the child
   * gets as fds 1 and 2 (the CLOEXEC original is closed at exec). */
  if (!g_spawn_async_with_pipes_and_fds (NULL, argv, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                                         NULL, NULL, -1, fds[1], fds[1], NULL, NULL, 0, &pid,
                                         NULL, NULL, NULL, &local))
    {
      close (fds[0]);
      close (fds[1]);
      g_set_error (error, EMBER_HOOKS_ERROR, EMBER_HOOKS_ERROR_SPAWN, "%s: cannot run /bin/sh: %s",
                   prefix, local->message);
      g_string_free (out.pending, TRUE);
      return FALSE;
    }
  close (fds[1]);
  g_unix_set_fd_nonblocking (fds[0], TRUE, NULL);

  /* Log output as it comes until the shell exits; a background process
   * it left may keep the pipe open, so the exit, not EOF, ends the wait. */
  for (;;)
    {
      struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
      pid_t r;

      if (!open)
        {
          /* Every writer is gone, the shell too or about to be. */
          while ((r = waitpid (pid, &status, 0)) < 0 && errno == EINTR)
            ;
          break;
        }
      if (poll (&pfd, 1, POLL_MS) > 0)
        open = drain (fds[0], &out);
      r = waitpid (pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno != EINTR))
        break;
    }
  if (open)
    drain (fds[0], &out);
  log_lines (&out, "", 0, TRUE);
  close (fds[0]);
  g_string_free (out.pending, TRUE);
  g_spawn_close_pid (pid);

  if (!g_spawn_check_wait_status (status, &local))
    {
      g_set_error (error, EMBER_HOOKS_ERROR, EMBER_HOOKS_ERROR_FAILED, "%s: \"%s\" failed: %s",
                   prefix, command, local->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
ember_hooks_run (const EmberWgConf *conf, EmberWgConfHookStage stage, const char *ifname,
                 GError **error)
{
  GPtrArray *hooks = conf->hooks[stage];

  for (guint i = 0; i < hooks->len; i++)
    if (!run_one (conf, stage, g_ptr_array_index (hooks, i), ifname, error))
      return FALSE;
  return TRUE;
}

guint
ember_hooks_run_all (const EmberWgConf *conf, EmberWgConfHookStage stage, const char *ifname)
{
  GPtrArray *hooks = conf->hooks[stage];
  guint failed = 0;

  for (guint i = 0; i < hooks->len; i++)
    {
      g_autoptr (GError) error = NULL;
      if (!run_one (conf, stage, g_ptr_array_index (hooks, i), ifname, &error))
        {
          g_warning ("%s", error->message);
          failed++;
        }
    }
  return failed;
}
