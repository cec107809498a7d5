/* loader — finds, checks and loads plugins (GModule).
 *
 * A plugin file is refused, with a GError naming the file and the reason,
 * when it is not an ELF shared object (a PE DLL on Windows), lacks the
 * entry symbol, has another ABI major (or a newer minor) than this host,
 * returns a malformed descriptor, or (in the system directory) is not a
 * root-owned regular file that only root can write (on Windows: not a
 * regular file; its ACL is not checked yet). Loaded modules stay
 * resident: a plugin is never unloaded. Call from the main thread.
 */
#pragma once

#include <glib.h>
#include <gmodule.h>

#include "ember-plugin.h"
#include "paths.h"

G_BEGIN_DECLS

#define EMBER_LOADER_ERROR (ember_loader_error_quark ())
GQuark ember_loader_error_quark (void);

typedef enum {
  EMBER_LOADER_ERROR_NOT_FOUND,
  EMBER_LOADER_ERROR_NOT_SHARED_OBJECT,
  EMBER_LOADER_ERROR_NO_ENTRY,
  EMBER_LOADER_ERROR_ABI,
  EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
  EMBER_LOADER_ERROR_WRONG_KIND,
  EMBER_LOADER_ERROR_UNSAFE_FILE,
  EMBER_LOADER_ERROR_OPEN,
} EmberLoaderError;

typedef struct {
  char *path;
  char *name;
  char *description;
  EmberPluginKind kind;
  guint16 abi_major;
  guint16 abi_minor;
  EmberPluginDirOrigin origin;
  /* Kinds tun, transport, dns: the plugin's vtable copied into the host's
   * layout, members the plugin predates zero-filled (NULL). */
  EmberBackendVtable io;
  /* Other kinds: the descriptor's own vtable and its size. */
  const void *vtable;
  gsize vtable_size;
} EmberPlugin;

typedef struct {
  char *path;
  GError *error;
} EmberPluginRefusal;

typedef struct {
  char *name;
  char *used_path;
  char *ignored_path;
} EmberPluginShadow;

const char *ember_plugin_kind_name (EmberPluginKind kind);
gboolean ember_plugin_kind_from_name (const char *name, EmberPluginKind *kind);

/* Loads and checks one file. A file from EMBER_PLUGIN_DIR_SYSTEM also
 * gets the ownership checks. */
EmberPlugin *ember_plugin_load (const char *path, EmberPluginDirOrigin origin,
                                GError **error);
void ember_plugin_free (EmberPlugin *plugin);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPlugin, ember_plugin_free)

typedef struct _EmberRegistry EmberRegistry;

EmberRegistry *ember_registry_new (void);
void ember_registry_free (EmberRegistry *registry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberRegistry, ember_registry_free)

/* Scans the directories (an array of EmberPluginDir, see paths.h) in
 * order. Refused files and shadowed duplicates are recorded, not fatal. */
void ember_registry_scan (EmberRegistry *registry, GPtrArray *dirs);

/* Arrays of EmberPlugin*, EmberPluginRefusal*, EmberPluginShadow*. */
GPtrArray *ember_registry_plugins (EmberRegistry *registry);
GPtrArray *ember_registry_refusals (EmberRegistry *registry);
GPtrArray *ember_registry_shadows (EmberRegistry *registry);

/* The plugin called `name` for a role needing `kind`, or an error naming
 * the role, the plugin and what was expected. */
EmberPlugin *ember_registry_lookup (EmberRegistry *registry, const char *role,
                                    const char *name, EmberPluginKind kind,
                                    GError **error);

G_END_DECLS
