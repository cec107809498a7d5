/* emberd identity: the key and id are created once with private modes,
 * read back unchanged, and the token comes from the first source set. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "identity.h"

typedef struct {
  char *dir;
  char *state;
} Fixture;

static void
fx_setup (Fixture *fx, gconstpointer data)
{
  (void) data;
  fx->dir = g_dir_make_tmp ("ember-identity-XXXXXX", NULL);
  g_assert_nonnull (fx->dir);
  fx->state = g_build_filename (fx->dir, "state", "ember", NULL);
  g_unsetenv ("EMBER_TOKEN");
  g_unsetenv ("CREDENTIALS_DIRECTORY");
}

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fx_teardown (Fixture *fx, gconstpointer data)
{
  (void) data;
  rm_rf (fx->dir);
  g_free (fx->dir);
  g_free (fx->state);
}

static guint
mode_of (const char *path)
{
  struct stat st;
  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static void
test_created_private (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberIdentity) a = ember_identity_load (fx->state, &error);
  g_autoptr (EmberIdentity) b = NULL;
  g_autofree char *key = g_build_filename (fx->state, EMBER_IDENTITY_KEY_FILE, NULL);
  g_autofree char *idf = g_build_filename (fx->state, EMBER_IDENTITY_ID_FILE, NULL);

  (void) data;
  g_assert_no_error (error);
  g_assert_true (a->created);
  g_assert_cmpuint (mode_of (fx->state), ==, 0700);
  g_assert_cmpuint (mode_of (key), ==, 0600);
  g_assert_cmpuint (mode_of (idf), ==, 0600);
  g_assert_cmpuint (strlen (a->external_id), ==, 32);
  /* Clamped like wg genkey. */
  g_assert_cmpuint (a->private_key[0] & 7, ==, 0);
  g_assert_cmpuint (a->private_key[31] & 0xc0, ==, 0x40);

  b = ember_identity_load (fx->state, &error);
  g_assert_no_error (error);
  g_assert_false (b->created);
  g_assert_cmpmem (a->private_key, 32, b->private_key, 32);
  g_assert_cmpstr (a->external_id, ==, b->external_id);
}

static void
test_readable_key_refused (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberIdentity) a = ember_identity_load (fx->state, &error);
  g_autoptr (EmberIdentity) b = NULL;
  g_autofree char *key = g_build_filename (fx->state, EMBER_IDENTITY_KEY_FILE, NULL);

  (void) data;
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (key, 0644), ==, 0);
  b = ember_identity_load (fx->state, &error);
  g_assert_null (b);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "0644"));
  g_assert_nonnull (strstr (error->message, EMBER_IDENTITY_KEY_FILE));
}

static void
test_open_dir_tightened (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberIdentity) a = NULL;

  (void) data;
  g_assert_cmpint (g_mkdir_with_parents (fx->state, 0755), ==, 0);
  g_assert_cmpint (g_chmod (fx->state, 0755), ==, 0);
  a = ember_identity_load (fx->state, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mode_of (fx->state), ==, 0700);
}

static void
test_bad_key_named (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberIdentity) a = NULL;
  g_autofree char *key = g_build_filename (fx->state, EMBER_IDENTITY_KEY_FILE, NULL);

  (void) data;
  g_assert_cmpint (g_mkdir_with_parents (fx->state, 0700), ==, 0);
  g_assert_true (g_file_set_contents (key, "c2hvcnQ=\n", -1, NULL));
  g_assert_cmpint (g_chmod (key, 0600), ==, 0);
  a = ember_identity_load (fx->state, &error);
  g_assert_null (a);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "32 bytes"));
}

static void
test_token_order (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *file = g_build_filename (fx->dir, "token", NULL);
  g_autofree char *creds = g_build_filename (fx->dir, "creds", NULL);
  g_autofree char *cred = g_build_filename (creds, "ember-token", NULL);
  g_autofree char *src = NULL;
  char *t;

  (void) data;
  g_assert_cmpint (g_mkdir (creds, 0700), ==, 0);
  g_assert_true (g_file_set_contents (file, "from-file\n", -1, NULL));
  g_assert_true (g_file_set_contents (cred, "from-credential\n", -1, NULL));
  g_setenv ("EMBER_TOKEN", "from-env", TRUE);
  g_setenv ("CREDENTIALS_DIRECTORY", creds, TRUE);

  t = ember_identity_load_token (file, &src, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t, ==, "from-file");
  g_assert_true (g_str_has_prefix (src, "token-file "));
  ember_identity_token_free (t);
  g_clear_pointer (&src, g_free);

  t = ember_identity_load_token (NULL, &src, &error);
  g_assert_cmpstr (t, ==, "from-env");
  g_assert_cmpstr (src, ==, "$EMBER_TOKEN");
  ember_identity_token_free (t);
  g_clear_pointer (&src, g_free);

  g_unsetenv ("EMBER_TOKEN");
  t = ember_identity_load_token (NULL, &src, &error);
  g_assert_cmpstr (t, ==, "from-credential");
  g_assert_cmpstr (src, ==, "$CREDENTIALS_DIRECTORY/ember-token");
  ember_identity_token_free (t);
  g_clear_pointer (&src, g_free);

  g_unsetenv ("CREDENTIALS_DIRECTORY");
  t = ember_identity_load_token (NULL, &src, &error);
  g_assert_null (t);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "EMBER_TOKEN"));
  g_clear_error (&error);

  /* A named file that is missing is an error, not a fall-through. */
  g_setenv ("EMBER_TOKEN", "from-env", TRUE);
  g_unlink (file);
  t = ember_identity_load_token (file, &src, &error);
  g_assert_null (t);
  g_assert_nonnull (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fx_setup, fn, fx_teardown)
  ADD ("/emberd/identity/created-once-with-private-modes", test_created_private);
  ADD ("/emberd/identity/refuses-a-key-others-can-read", test_readable_key_refused);
  ADD ("/emberd/identity/tightens-an-open-state-dir", test_open_dir_tightened);
  ADD ("/emberd/identity/names-a-bad-key-file", test_bad_key_named);
  ADD ("/emberd/identity/token-file-then-env-then-credential", test_token_order);
  return g_test_run ();
}
