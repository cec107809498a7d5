/* Loader: good plugins load, broken ones are refused with a reason that
 * names the file, duplicates resolve to the first in the search path. */
#include <glib/gstdio.h>
#include <string.h>

#include "loader.h"

static char *
module_path (const char *name)
{
  return g_strdup_printf ("%s/%s.so", TEST_PLUGIN_DIR, name);
}

static void
test_good (void)
{
  g_autofree char *path = module_path ("testplug-good");
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberPlugin) p = ember_plugin_load (path, EMBER_PLUGIN_DIR_ENV, &error);

  g_assert_no_error (error);
  g_assert_nonnull (p);
  g_assert_cmpstr (p->name, ==, "test-loopback");
  g_assert_cmpint (p->kind, ==, EMBER_PLUGIN_KIND_TRANSPORT);
  g_assert_cmpuint (p->abi_major, ==, EMBER_PLUGIN_ABI_MAJOR);
  g_assert_nonnull (p->io.open);
  g_assert_nonnull (p->io.validate_config);
  g_assert_cmpstr (p->path, ==, path);
}

static void
test_short_vtable (void)
{
  g_autofree char *path = module_path ("testplug-short");
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberPlugin) p = ember_plugin_load (path, EMBER_PLUGIN_DIR_ENV, &error);

  /* A plugin built before a member existed loads; the member reads NULL. */
  g_assert_no_error (error);
  g_assert_nonnull (p->io.close);
  g_assert_null (p->io.validate_config);
}

/* get_control (ABI 1.1): found by name on a current plugin; a plugin
 * built for 1.0 loads and the member reads NULL, although that plugin's
 * own static vtable has it (the host copied only vtable_size bytes). */
static void
test_get_control (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *good_path = module_path ("testplug-good");
  g_autoptr (EmberPlugin) good = ember_plugin_load (good_path, EMBER_PLUGIN_DIR_ENV, &error);
  g_assert_no_error (error);
  g_assert_nonnull (good->io.get_control);
  const struct { gsize size; guint magic; } *c = good->io.get_control ("test-control-1");
  g_assert_nonnull (c);
  g_assert_cmpuint (c->size, ==, sizeof *c);
  g_assert_cmpuint (c->magic, ==, 0x7e57);
  g_assert_null (good->io.get_control ("no-such-control"));

  g_autofree char *old_path = module_path ("testplug-abi10");
  g_autoptr (EmberPlugin) old = ember_plugin_load (old_path, EMBER_PLUGIN_DIR_ENV, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (old->abi_minor, ==, 0);
  g_assert_nonnull (old->io.validate_config);
  g_assert_null (old->io.get_control);
}

static void
test_refused (gconstpointer data)
{
  const char *name = data;
  g_autofree char *path = module_path (name);
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberPlugin) p = ember_plugin_load (path, EMBER_PLUGIN_DIR_ENV, &error);

  g_assert_null (p);
  g_assert_nonnull (error);
  g_assert_true (strstr (error->message, path) != NULL);
  if (g_str_equal (name, "testplug-major2"))
    {
      g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_ABI);
      g_assert_true (strstr (error->message, "ABI 2.0") != NULL);
      g_autofree char *host = g_strdup_printf ("host has ABI %d.%d", EMBER_PLUGIN_ABI_MAJOR,
                                               EMBER_PLUGIN_ABI_MINOR);
      g_assert_true (strstr (error->message, host) != NULL);
    }
  else if (g_str_equal (name, "testplug-newer-minor"))
    g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_ABI);
  else
    {
      g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NO_ENTRY);
      g_assert_true (strstr (error->message, EMBER_PLUGIN_ENTRY_SYMBOL) != NULL);
    }
}

static void
test_not_elf (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ember-loader-XXXXXX", NULL);
  g_autofree char *text = g_build_filename (dir, "text.so", NULL);
  g_autofree char *exe = g_build_filename (dir, "exe.so", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberPlugin) p = NULL;
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *exe_bytes = NULL;
  gsize exe_len;

  g_assert_true (g_file_set_contents (text, "#!/bin/sh\necho not a plugin\n", -1, NULL));
  p = ember_plugin_load (text, EMBER_PLUGIN_DIR_ENV, &error);
  g_assert_null (p);
  g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_SHARED_OBJECT);
  g_assert_true (strstr (error->message, text) != NULL);
  g_assert_true (strstr (error->message, "not a shared object") != NULL);
  g_clear_error (&error);

  /* An empty file and a truncated ELF header are not shared objects
   * either, and must not be read past their end. */
  g_assert_true (g_file_set_contents (text, "\177ELF", 4, NULL));
  p = ember_plugin_load (text, EMBER_PLUGIN_DIR_ENV, &error);
  g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_SHARED_OBJECT);
  g_clear_error (&error);

  /* A position-dependent executable has an ELF header but is not ET_DYN;
   * a PIE is ET_DYN and then fails for lack of the entry symbol. Either
   * way it is refused with a reason. */
  g_assert_true (g_file_get_contents (self, &exe_bytes, &exe_len, NULL));
  g_assert_true (g_file_set_contents (exe, exe_bytes, (gssize) exe_len, NULL));
  p = ember_plugin_load (exe, EMBER_PLUGIN_DIR_ENV, &error);
  g_assert_null (p);
  g_assert_nonnull (error);
  g_assert_true (strstr (error->message, exe) != NULL);

  g_unlink (text);
  g_unlink (exe);
  g_rmdir (dir);
}

static void
test_system_dir_ownership (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ember-loader-XXXXXX", NULL);
  g_autofree char *src = module_path ("testplug-good");
  g_autofree char *dst = g_build_filename (dir, "good.so", NULL);
  g_autofree char *bytes = NULL;
  gsize len;
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberPlugin) p = NULL;

  g_assert_true (g_file_get_contents (src, &bytes, &len, NULL));
  g_assert_true (g_file_set_contents (dst, bytes, (gssize) len, NULL));
  /* World-writable: refused from the system directory whoever owns it. */
  g_assert_cmpint (g_chmod (dst, 0666), ==, 0);
  p = ember_plugin_load (dst, EMBER_PLUGIN_DIR_SYSTEM, &error);
  g_assert_null (p);
  g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_UNSAFE_FILE);
  g_clear_error (&error);
  /* The same file from EMBER_PLUGIN_PATH is the user's choice. */
  p = ember_plugin_load (dst, EMBER_PLUGIN_DIR_ENV, &error);
  g_assert_no_error (error);
  g_assert_nonnull (p);
  g_unlink (dst);
  g_rmdir (dir);
}

static void
copy_into (const char *name, const char *dir, const char *as)
{
  g_autofree char *src = module_path (name);
  g_autofree char *dst = g_build_filename (dir, as, NULL);
  g_autofree char *bytes = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (src, &bytes, &len, NULL));
  g_assert_true (g_file_set_contents (dst, bytes, (gssize) len, NULL));
}

static void
add_dir (GPtrArray *dirs, const char *path)
{
  EmberPluginDir *d = g_new0 (EmberPluginDir, 1);
  d->path = g_strdup (path);
  d->origin = EMBER_PLUGIN_DIR_ENV;
  g_ptr_array_add (dirs, d);
}

static void
free_dir (gpointer p)
{
  EmberPluginDir *d = p;
  g_free (d->path);
  g_free (d);
}

static void
remove_tree (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *e;
  while (d != NULL && (e = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, e, NULL);
      g_unlink (p);
    }
  g_rmdir (dir);
}

static void
test_registry (void)
{
  g_autofree char *a = g_dir_make_tmp ("ember-reg-a-XXXXXX", NULL);
  g_autofree char *b = g_dir_make_tmp ("ember-reg-b-XXXXXX", NULL);
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (free_dir);
  g_autoptr (EmberRegistry) reg = ember_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *expected_first = g_build_filename (a, "loopback.so", NULL);
  EmberPlugin *p;
  GPtrArray *shadows;

  copy_into ("testplug-good", a, "loopback.so");
  copy_into ("testplug-other", a, "other.so");
  copy_into ("testplug-good", b, "loopback-again.so");
  copy_into ("testplug-major2", b, "major2.so");
  add_dir (dirs, a);
  add_dir (dirs, b);

  ember_registry_scan (reg, dirs);

  g_assert_cmpuint (ember_registry_plugins (reg)->len, ==, 2);
  g_assert_cmpuint (ember_registry_refusals (reg)->len, ==, 1);
  g_assert_nonnull (strstr (((EmberPluginRefusal *) ember_registry_refusals (reg)->pdata[0])
                                ->error->message,
                            "major2.so"));
  shadows = ember_registry_shadows (reg);
  g_assert_cmpuint (shadows->len, ==, 1);
  g_assert_cmpstr (((EmberPluginShadow *) shadows->pdata[0])->used_path, ==, expected_first);

  /* First in search order wins. */
  p = ember_registry_lookup (reg, "transport", "test-loopback", EMBER_PLUGIN_KIND_TRANSPORT,
                             &error);
  g_assert_no_error (error);
  g_assert_cmpstr (p->path, ==, expected_first);

  /* A kind that does not fit the role. */
  p = ember_registry_lookup (reg, "tun", "test-loopback", EMBER_PLUGIN_KIND_TUN, &error);
  g_assert_null (p);
  g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_WRONG_KIND);
  g_assert_true (strstr (error->message, "transport plugin") != NULL);
  g_assert_true (strstr (error->message, "needs a tun plugin") != NULL);
  g_clear_error (&error);

  p = ember_registry_lookup (reg, "dns", "no-such", EMBER_PLUGIN_KIND_DNS, &error);
  g_assert_null (p);
  g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_FOUND);

  remove_tree (a);
  remove_tree (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Refusals are logged as warnings: expected here. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_test_add_func ("/loader/load/good", test_good);
  g_test_add_func ("/loader/load/short-vtable-zero-filled", test_short_vtable);
  g_test_add_func ("/loader/load/get-control-abi-1.1", test_get_control);
  g_test_add_data_func ("/loader/refuse/other-major", "testplug-major2", test_refused);
  g_test_add_data_func ("/loader/refuse/newer-minor", "testplug-newer-minor", test_refused);
  g_test_add_data_func ("/loader/refuse/missing-symbol", "testplug-noentry", test_refused);
  g_test_add_func ("/loader/refuse/not-elf", test_not_elf);
  g_test_add_func ("/loader/refuse/unsafe-system-file", test_system_dir_ownership);
  g_test_add_func ("/loader/registry/duplicates-and-kinds", test_registry);
  return g_test_run ();
}
