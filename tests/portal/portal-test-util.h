/* Helpers shared by the portal tests: a scratch state directory that is
 * removed afterwards, also when a test fails half-way (a failed
 * assertion aborts before the fixture's tear-down, so SIGABRT removes
 * the directory of the running test first). */
#pragma once

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>

static char *portal_test_current_dir;

static inline void portal_test_rmtree (const char *path);

static inline void
portal_test_on_abort (int sig)
{
  /* Not async-signal-safe, but the process is dying anyway and a stale
   * directory per failure is what this prevents. */
  if (portal_test_current_dir != NULL)
    portal_test_rmtree (portal_test_current_dir);
  signal (sig, SIG_DFL);
  raise (sig);
}

static inline char *
portal_test_tmpdir (void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("ember-store-XXXXXX", &error);

  g_assert_no_error (error);
  g_free (portal_test_current_dir);
  portal_test_current_dir = g_strdup (dir);
  signal (SIGABRT, portal_test_on_abort);
  return dir;
}

static inline void
portal_test_rmtree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    {
      g_remove (path);
      return;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        portal_test_rmtree (child);
      else
        g_remove (child);
      g_free (child);
    }
  g_dir_close (dir);
  g_rmdir (path);
}

/* The bytes of every file of the database (main file, WAL, shared
 * memory), concatenated. */
static inline GByteArray *
portal_test_db_bytes (const char *dir)
{
  GByteArray *all = g_byte_array_new ();
  const char *suffixes[] = { "", "-wal", "-shm" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      char *path = g_strdup_printf ("%s/portal.db%s", dir, suffixes[i]);
      char *data = NULL;
      gsize len = 0;
      if (g_file_get_contents (path, &data, &len, NULL))
        g_byte_array_append (all, (const guint8 *) data, (guint) len);
      g_free (data);
      g_free (path);
    }
  return all;
}
