/* paths — plugin search path. */
#define G_LOG_DOMAIN "ember-core"

#include "paths.h"

#include "ember-build-config.h"

static void
plugin_dir_free (gpointer p)
{
  EmberPluginDir *d = p;
  g_free (d->path);
  g_free (d);
}

static void
add_dir (GPtrArray *dirs, const char *path, EmberPluginDirOrigin origin)
{
  EmberPluginDir *d;

  if (path == NULL || *path == '\0')
    return;
  d = g_new0 (EmberPluginDir, 1);
  d->path = g_strdup (path);
  d->origin = origin;
  g_ptr_array_add (dirs, d);
}

gboolean
ember_paths_running_uninstalled (void)
{
  static gsize once;
  static gboolean uninstalled;

  if (g_once_init_enter (&once))
    {
      g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
      g_autofree char *root = g_canonicalize_filename (EMBER_BUILD_ROOT, "/");
      g_autofree char *prefix = g_strconcat (root, G_DIR_SEPARATOR_S, NULL);

      uninstalled = exe != NULL && g_str_has_prefix (exe, prefix);
      g_once_init_leave (&once, 1);
    }
  return uninstalled;
}

GPtrArray *
ember_paths_plugin_dirs (const char *const *config_dirs)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (plugin_dir_free);
  const char *env = g_getenv ("EMBER_PLUGIN_PATH");

  for (guint i = 0; config_dirs != NULL && config_dirs[i] != NULL; i++)
    add_dir (dirs, config_dirs[i], EMBER_PLUGIN_DIR_CONFIG);
  if (env != NULL)
    {
      g_auto (GStrv) parts = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);
      for (guint i = 0; parts[i] != NULL; i++)
        add_dir (dirs, parts[i], EMBER_PLUGIN_DIR_ENV);
    }
  if (ember_paths_running_uninstalled ())
    add_dir (dirs, EMBER_BUILD_PLUGIN_DIR, EMBER_PLUGIN_DIR_BUILD);
  add_dir (dirs, EMBER_PLUGIN_DIR, EMBER_PLUGIN_DIR_SYSTEM);
  return dirs;
}

const char *
ember_paths_origin_name (EmberPluginDirOrigin origin)
{
  switch (origin)
    {
    case EMBER_PLUGIN_DIR_CONFIG: return "config";
    case EMBER_PLUGIN_DIR_ENV: return "EMBER_PLUGIN_PATH";
    case EMBER_PLUGIN_DIR_BUILD: return "build tree";
    case EMBER_PLUGIN_DIR_SYSTEM: return "system";
    }
  return "unknown";
}
