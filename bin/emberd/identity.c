/* identity — the device key, its external id and the token (identity.h). */
#define G_LOG_DOMAIN "ember-identity"

#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
set_errno_error (GError **error, int e, const char *path, const char *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s: %s", path, what,
               g_strerror (e));
  return FALSE;
}

/* The directory exists with mode 0700 (created so, or tightened). */
static gboolean
ensure_state_dir (const char *dir, GError **error)
{
  struct stat st;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    return set_errno_error (error, errno, dir, "cannot create the state directory");
  if (stat (dir, &st) != 0)
    return set_errno_error (error, errno, dir, "cannot read the state directory");
  if ((st.st_mode & 077) != 0)
    {
      g_info ("%s: mode %04o, tightening to 0700 (it holds the private key)", dir,
              (unsigned) (st.st_mode & 07777));
      if (chmod (dir, 0700) != 0)
        return set_errno_error (error, errno, dir, "cannot set mode 0700");
    }
  return TRUE;
}

/* Writes `data` to path with mode 0600: a temporary file, fsync, rename. */
static gboolean
write_private_file (const char *path, const char *data, GError **error)
{
  g_autofree char *tmp = g_strdup_printf ("%s.tmp", path);
  gsize len = strlen (data), done = 0;
  int fd;

  g_unlink (tmp);
  fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return set_errno_error (error, errno, tmp, "cannot create");
  while (done < len)
    {
      ssize_t n = write (fd, data + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          close (fd);
          g_unlink (tmp);
          return set_errno_error (error, e, tmp, "cannot write");
        }
      done += (gsize) n;
    }
  if (fsync (fd) != 0 || close (fd) != 0)
    {
      int e = errno;
      g_unlink (tmp);
      return set_errno_error (error, e, tmp, "cannot write");
    }
  if (rename (tmp, path) != 0)
    {
      int e = errno;
      g_unlink (tmp);
      return set_errno_error (error, e, path, "cannot rename into place");
    }
  return TRUE;
}

/* Reads a file that only its owner may read; NULL when it does not
 * exist (no error), or with an error. Surrounding white space stripped. */
static char *
read_private_file (const char *path, gboolean *missing, GError **error)
{
  struct stat st;
  char *text = NULL;

  *missing = FALSE;
  if (stat (path, &st) != 0)
    {
      if (errno == ENOENT)
        {
          *missing = TRUE;
          return NULL;
        }
      set_errno_error (error, errno, path, "cannot read");
      return NULL;
    }
  if ((st.st_mode & 077) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "%s: mode %04o lets other users read it (expected 0600)", path,
                   (unsigned) (st.st_mode & 07777));
      return NULL;
    }
  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  g_strstrip (text);
  return text;
}

static void
wipe_string (char *s)
{
  if (s != NULL)
    {
      gnutls_memset (s, 0, strlen (s));
      g_free (s);
    }
}

static gboolean
load_key (EmberIdentity *id, const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, EMBER_IDENTITY_KEY_FILE, NULL);
  gboolean missing;
  char *text = read_private_file (path, &missing, error);
  guchar *raw;
  gsize len = 0;

  if (text == NULL && !missing)
    return FALSE;
  if (text == NULL)
    {
      char *b64;
      gboolean ok;

      if (gnutls_rnd (GNUTLS_RND_KEY, id->private_key, sizeof id->private_key) != 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "the system random number generator failed");
          return FALSE;
        }
      /* RFC 7748 §5 clamping, as `wg genkey` does. */
      id->private_key[0] &= 248;
      id->private_key[31] = (guint8) ((id->private_key[31] & 127) | 64);
      b64 = g_base64_encode (id->private_key, sizeof id->private_key);
      text = g_strconcat (b64, "\n", NULL);
      wipe_string (b64);
      ok = write_private_file (path, text, error);
      wipe_string (text);
      if (ok)
        g_info ("created a new device key in %s", path);
      id->created = ok;
      return ok;
    }
  raw = g_base64_decode (text, &len);
  wipe_string (text);
  if (len != sizeof id->private_key)
    {
      gnutls_memset (raw, 0, len);
      g_free (raw);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: expected a base64 WireGuard key (32 bytes), got %" G_GSIZE_FORMAT
                   " bytes",
                   path, len);
      return FALSE;
    }
  memcpy (id->private_key, raw, len);
  gnutls_memset (raw, 0, len);
  g_free (raw);
  return TRUE;
}

static gboolean
valid_external_id (const char *s)
{
  gsize n = strlen (s);
  if (n == 0 || n > 128)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._:-", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
load_external_id (EmberIdentity *id, const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, EMBER_IDENTITY_ID_FILE, NULL);
  gboolean missing;
  char *text = read_private_file (path, &missing, error);

  if (text == NULL && !missing)
    return FALSE;
  if (text == NULL)
    {
      guint8 raw[16];
      g_autoptr (GString) hex = g_string_new (NULL);

      if (gnutls_rnd (GNUTLS_RND_NONCE, raw, sizeof raw) != 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "the system random number generator failed");
          return FALSE;
        }
      for (guint i = 0; i < sizeof raw; i++)
        g_string_append_printf (hex, "%02x", raw[i]);
      g_string_append_c (hex, '\n');
      if (!write_private_file (path, hex->str, error))
        return FALSE;
      id->external_id = g_strndup (hex->str, hex->len - 1);
      return TRUE;
    }
  if (!valid_external_id (text))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: expected 1 to 128 of A-Z a-z 0-9 . _ : -", path);
      g_free (text);
      return FALSE;
    }
  id->external_id = text;
  return TRUE;
}

EmberIdentity *
ember_identity_load (const char *state_dir, GError **error)
{
  g_autoptr (EmberIdentity) id = g_new0 (EmberIdentity, 1);

  if (!ensure_state_dir (state_dir, error) || !load_key (id, state_dir, error)
      || !load_external_id (id, state_dir, error))
    return NULL;
  return g_steal_pointer (&id);
}

void
ember_identity_free (EmberIdentity *id)
{
  if (id == NULL)
    return;
  gnutls_memset (id->private_key, 0, sizeof id->private_key);
  g_free (id->external_id);
  g_free (id);
}

/* ---- Token ----------------------------------------------------------------- */

static char *
token_from_file (const char *path, GError **error)
{
  char *text = NULL;

  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  g_strstrip (text);
  if (*text == '\0')
    {
      g_free (text);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: the token file is empty",
                   path);
      return NULL;
    }
  return text;
}

char *
ember_identity_load_token (const char *token_file, char **source, GError **error)
{
  const char *env = g_getenv ("EMBER_TOKEN");
  const char *creds = g_getenv ("CREDENTIALS_DIRECTORY");
  char *token;

  if (token_file != NULL)
    {
      token = token_from_file (token_file, error);
      if (token != NULL)
        *source = g_strdup_printf ("token-file %s", token_file);
      return token;
    }
  if (env != NULL && *env != '\0')
    {
      token = g_strstrip (g_strdup (env));
      if (*token != '\0')
        {
          *source = g_strdup ("$EMBER_TOKEN");
          return token;
        }
      g_free (token);
    }
  if (creds != NULL && *creds != '\0')
    {
      g_autofree char *path = g_build_filename (creds, "ember-token", NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        {
          token = token_from_file (path, error);
          if (token != NULL)
            *source = g_strdup ("$CREDENTIALS_DIRECTORY/ember-token");
          return token;
        }
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
               "no portal token: set [portal] token-file, $EMBER_TOKEN, or a systemd "
               "credential named ember-token");
  return NULL;
}

/* ---- The token SignIn stored ------------------------------------------------------ */

char *
ember_identity_load_stored_token (const char *state_dir, char **portal_url, GError **error)
{
  g_autofree char *tpath = g_build_filename (state_dir, EMBER_IDENTITY_TOKEN_FILE, NULL);
  g_autofree char *upath = g_build_filename (state_dir, EMBER_IDENTITY_PORTAL_FILE, NULL);
  gboolean missing;
  char *token = read_private_file (tpath, &missing, error);
  char *url;

  *portal_url = NULL;
  if (token == NULL)
    return NULL;
  url = read_private_file (upath, &missing, error);
  if (url == NULL || *url == '\0')
    {
      /* A token without its portal would go to whichever portal the
       * configuration names: not sent anywhere. */
      if (url != NULL || missing)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "%s: missing or empty: the stored token has no portal", upath);
      g_free (url);
      wipe_string (token);
      return NULL;
    }
  *portal_url = url;
  return token;
}

gboolean
ember_identity_store_token (const char *state_dir, const char *portal_url, const char *token,
                            GError **error)
{
  g_autofree char *tpath = g_build_filename (state_dir, EMBER_IDENTITY_TOKEN_FILE, NULL);
  g_autofree char *upath = g_build_filename (state_dir, EMBER_IDENTITY_PORTAL_FILE, NULL);
  g_autofree char *url_line = g_strconcat (portal_url, "\n", NULL);
  g_autofree char *token_line = g_strconcat (token, "\n", NULL);
  gboolean ok;

  if (!ensure_state_dir (state_dir, error))
    return FALSE;
  /* The portal first: a token is only ever read with its own portal. */
  ok = write_private_file (upath, url_line, error)
       && write_private_file (tpath, token_line, error);
  gnutls_memset (token_line, 0, strlen (token_line));
  return ok;
}

gboolean
ember_identity_delete_token (const char *state_dir, GError **error)
{
  g_autofree char *tpath = g_build_filename (state_dir, EMBER_IDENTITY_TOKEN_FILE, NULL);
  g_autofree char *upath = g_build_filename (state_dir, EMBER_IDENTITY_PORTAL_FILE, NULL);

  if (g_unlink (tpath) != 0 && errno != ENOENT)
    return set_errno_error (error, errno, tpath, "cannot delete");
  if (g_unlink (upath) != 0 && errno != ENOENT)
    return set_errno_error (error, errno, upath, "cannot delete");
  return TRUE;
}

void
ember_identity_token_free (char *token)
{
  wipe_string (token);
}
