/* sysdns-file — the `file` backend: resolv.conf rewritten, the original
 * kept in the state directory and restored byte for byte.
 *
 * State, written before resolv.conf is touched (each file by rename, so
 * a crash leaves either the old or the new one whole):
 *   resolv.conf.orig   the original bytes (absent when it was a symlink)
 *   resolv.conf.state  key file: the path, the symlink target if it was
 *                      one, and a SHA-256 of what Ember wrote.
 * Restoring puts the original back only while the file still holds what
 * Ember wrote: when something else (a DHCP client, an administrator)
 * rewrote it since, theirs is newer and stays.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysdns-private.h"

#define ORIG_NAME "resolv.conf.orig"
#define STATE_NAME "resolv.conf.state"
#define GROUP "file"

static gboolean
fail (GError **error, const char *what, const char *path, int err)
{
  g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED,
               "system DNS control (file): %s %s: %s", what, path, g_strerror (err));
  return FALSE;
}

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Writes over the existing inode: the only way when `path` is a mount
 * point. O_NOFOLLOW: never through a symlink into another file. */
static gboolean
write_in_place (const char *path, const char *data, gsize len, GError **error)
{
  int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return fail (error, "cannot open", path, errno);
  gboolean ok = write_all (fd, data, len) && fsync (fd) == 0;
  int err = errno;
  close (fd);
  return ok ? TRUE : fail (error, "cannot write", path, err);
}

/* Replaces `path` by a new file (rename: readers see the old or the new
 * content, never half) with `mode`; where the rename cannot be done
 * (a bind-mounted file: EBUSY; a read-only directory around a writable
 * mount: EROFS; EXDEV, EPERM, EACCES) and `path` is not a symlink,
 * writes in place. */
static gboolean
replace_file (const char *path, const char *data, gsize len, mode_t mode, gboolean allow_in_place,
              GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.ember-XXXXXX", dir, base);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0600);
  int err = 0;
  if (fd >= 0)
    {
      gboolean ok = fchmod (fd, mode & 07777) == 0 && write_all (fd, data, len) && fsync (fd) == 0;
      err = errno;
      close (fd);
      if (ok && rename (tmp, path) == 0)
        return TRUE;
      if (ok)
        err = errno;
      unlink (tmp);
    }
  else
    err = errno;
  if (!allow_in_place)
    return fail (error, "cannot replace", path, err);
  return write_in_place (path, data, len, error);
}

static char *
state_path (EmberSysdns *s, const char *name)
{
  return g_build_filename (s->state_dir, name, NULL);
}

static void
remove_state (EmberSysdns *s)
{
  g_autofree char *orig = state_path (s, ORIG_NAME);
  g_autofree char *state = state_path (s, STATE_NAME);
  unlink (state);
  unlink (orig);
}

static char *
sha256_of_file (const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL))
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, len);
}

/* Puts the saved original back (if resolv.conf still holds our text) and
 * drops the state. Nothing saved: success. */
static gboolean
restore (EmberSysdns *s, GError **error)
{
  g_autofree char *state = state_path (s, STATE_NAME);
  g_autofree char *orig = state_path (s, ORIG_NAME);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_file (kf, state, G_KEY_FILE_NONE, NULL))
    {
      /* Crashed before the state was complete: resolv.conf untouched. */
      unlink (orig);
      return TRUE;
    }
  g_autofree char *path = g_key_file_get_string (kf, GROUP, "path", NULL);
  g_autofree char *link = g_key_file_get_string (kf, GROUP, "symlink", NULL);
  g_autofree char *written = g_key_file_get_string (kf, GROUP, "written-sha256", NULL);
  gint64 mode = g_key_file_get_int64 (kf, GROUP, "mode", NULL);
  if (path == NULL)
    {
      remove_state (s);
      return TRUE;
    }
  g_autofree char *now = sha256_of_file (path);
  if (written != NULL && now != NULL && !g_str_equal (written, now))
    {
      g_message ("system DNS control (file): %s was changed by someone else since Ember wrote "
                 "it; leaving it as it is", path);
      remove_state (s);
      return TRUE;
    }
  if (link != NULL)
    {
      /* A symlink (resolved's stub file, resolvconf's run file): make it
       * again next to the file and rename it over. */
      g_autofree char *tmp = g_strdup_printf ("%s.ember-link", path);
      unlink (tmp);
      if (symlink (link, tmp) != 0)
        return fail (error, "cannot restore the symlink", path, errno);
      if (rename (tmp, path) != 0)
        {
          int err = errno;
          unlink (tmp);
          return fail (error, "cannot restore the symlink", path, err);
        }
    }
  else
    {
      g_autofree char *data = NULL;
      gsize len = 0;
      g_autoptr (GError) local = NULL;
      if (!g_file_get_contents (orig, &data, &len, &local))
        {
          g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED,
                       "system DNS control (file): the saved original of %s is lost: %s", path,
                       local->message);
          return FALSE;
        }
      if (!replace_file (path, data, len, (mode_t) (mode > 0 ? mode : 0644), TRUE, error))
        return FALSE;
    }
  remove_state (s);
  return TRUE;
}

gboolean
sysdns_file_recover (EmberSysdns *s, GError **error)
{
  g_autofree char *state = state_path (s, STATE_NAME);
  g_autofree char *orig = state_path (s, ORIG_NAME);
  if (!g_file_test (state, G_FILE_TEST_EXISTS) && !g_file_test (orig, G_FILE_TEST_EXISTS))
    return TRUE;
  g_message ("system DNS control: restoring the resolv.conf a previous run left changed");
  return restore (s, error);
}

gboolean
sysdns_file_apply (EmberSysdns *s, const EmberSysdnsConfig *c, GError **error)
{
  g_autofree char *state = state_path (s, STATE_NAME);
  g_autofree char *orig = state_path (s, ORIG_NAME);
  g_autofree char *text = ember_sysdns_format_resolv_conf (c, s->ifname);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  struct stat st;
  gboolean first = !g_file_test (state, G_FILE_TEST_EXISTS);
  if (lstat (s->resolv_conf, &st) != 0)
    return fail (error, "cannot read", s->resolv_conf, errno);
  gboolean is_link = S_ISLNK (st.st_mode);

  if (first)
    {
      /* The original first, then the state naming it: a crash between
       * the two leaves no state, and resolv.conf is not yet touched. */
      g_key_file_set_string (kf, GROUP, "path", s->resolv_conf);
      if (is_link)
        {
          g_autofree char *target = g_file_read_link (s->resolv_conf, NULL);
          if (target == NULL)
            return fail (error, "cannot read the symlink", s->resolv_conf, errno);
          g_key_file_set_string (kf, GROUP, "symlink", target);
        }
      else
        {
          g_autofree char *data = NULL;
          gsize len = 0;
          if (!g_file_get_contents (s->resolv_conf, &data, &len, NULL))
            return fail (error, "cannot read", s->resolv_conf, errno);
          if (!replace_file (orig, data, len, 0600, FALSE, error))
            return FALSE;
          g_key_file_set_int64 (kf, GROUP, "mode", st.st_mode & 07777);
        }
    }
  else if (!g_key_file_load_from_file (kf, state, G_KEY_FILE_NONE, NULL))
    return fail (error, "cannot read", state, errno);

  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
  g_key_file_set_string (kf, GROUP, "written-sha256", sum);
  gsize klen = 0;
  g_autofree char *kdata = g_key_file_to_data (kf, &klen, NULL);
  if (!replace_file (state, kdata, klen, 0600, FALSE, error))
    return FALSE;

  mode_t mode = is_link ? 0644 : st.st_mode;
  /* Through a symlink in place would write into its target (resolved's
   * own file): a symlink is always replaced. */
  if (!replace_file (s->resolv_conf, text, strlen (text), mode, !is_link, error))
    {
      if (first)
        remove_state (s);
      return FALSE;
    }
  return TRUE;
}

gboolean
sysdns_file_revert (EmberSysdns *s, GError **error)
{
  return restore (s, error);
}
