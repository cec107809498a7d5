/* paths — where Ember finds its plugins.
 *
 * Search order (first match of a name wins): directories from the
 * configuration, EMBER_PLUGIN_PATH (colon-separated), the build tree's
 * plugin directory when the running program is itself in the build tree
 * (so uninstalled runs need no environment variable), and the installed
 * directory $libdir/ember/plugins. Any thread may call these.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  EMBER_PLUGIN_DIR_CONFIG,
  EMBER_PLUGIN_DIR_ENV,
  EMBER_PLUGIN_DIR_BUILD,
  EMBER_PLUGIN_DIR_SYSTEM,
} EmberPluginDirOrigin;

typedef struct {
  char *path;
  EmberPluginDirOrigin origin;
} EmberPluginDir;

/* TRUE when the running executable lives inside the build tree. */
gboolean ember_paths_running_uninstalled (void);

/* The search path, in order. Free with g_ptr_array_unref(). */
GPtrArray *ember_paths_plugin_dirs (const char *const *config_dirs);

const char *ember_paths_origin_name (EmberPluginDirOrigin origin);

G_END_DECLS
