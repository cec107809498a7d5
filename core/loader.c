/* loader — plugin files to EmberPlugin descriptors. */
#define G_LOG_DOMAIN "ember-loader"

#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef G_OS_WIN32
/* The Windows cross build: plugins are DLLs (PE), opened without
 * inheritance instead of close-on-exec. */
#define O_CLOEXEC O_NOINHERIT
#include <glib/gstdio.h>
#endif

G_DEFINE_QUARK (ember-loader-error-quark, ember_loader_error)

struct _EmberRegistry {
  GPtrArray *plugins;
  GPtrArray *refusals;
  GPtrArray *shadows;
};

static const char *const kind_names[] = {
  [EMBER_PLUGIN_KIND_TUN] = "tun",
  [EMBER_PLUGIN_KIND_TRANSPORT] = "transport",
  [EMBER_PLUGIN_KIND_DNS] = "dns",
  [EMBER_PLUGIN_KIND_WG] = "wg",
};

const char *
ember_plugin_kind_name (EmberPluginKind kind)
{
  if ((guint) kind < G_N_ELEMENTS (kind_names) && kind_names[kind] != NULL)
    return kind_names[kind];
  return "unknown";
}

gboolean
ember_plugin_kind_from_name (const char *name, EmberPluginKind *kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (kind_names); i++)
    if (kind_names[i] != NULL && g_strcmp0 (name, kind_names[i]) == 0)
      {
        *kind = (EmberPluginKind) i;
        return TRUE;
      }
  return FALSE;
}

static gboolean
is_io_kind (EmberPluginKind kind)
{
  return kind == EMBER_PLUGIN_KIND_TUN || kind == EMBER_PLUGIN_KIND_TRANSPORT ||
         kind == EMBER_PLUGIN_KIND_DNS;
}

#ifdef G_OS_WIN32
/* Reads the PE headers ourselves so that "not a DLL" gets a clear reason
 * instead of the loader's message: the "MZ" stub, at e_lfanew (offset
 * 0x3c) the "PE\0\0" signature, and in the COFF header after it the
 * Characteristics with IMAGE_FILE_DLL (0x2000). */
static gboolean
check_shared_object (const char *path, GError **error)
{
  guint8 hdr[512];
  ssize_t n;
  /* g_open: the path is UTF-8, which open() on Windows does not take. */
  int fd = g_open (path, O_RDONLY | O_BINARY | O_CLOEXEC, 0);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_OPEN, "%s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  n = read (fd, hdr, sizeof hdr);
  close (fd);
  if (n < 0x40 || hdr[0] != 'M' || hdr[1] != 'Z')
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_SHARED_OBJECT,
                   "%s: not a shared object (no PE header)", path);
      return FALSE;
    }
  guint32 pe = (guint32) hdr[0x3c] | (guint32) hdr[0x3d] << 8 | (guint32) hdr[0x3e] << 16 |
               (guint32) hdr[0x3f] << 24;
  if (pe > (guint32) n - 24 || memcmp (hdr + pe, "PE\0\0", 4) != 0)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_SHARED_OBJECT,
                   "%s: not a shared object (no PE signature)", path);
      return FALSE;
    }
  guint16 characteristics = (guint16) (hdr[pe + 22] | hdr[pe + 23] << 8);
  if (!(characteristics & 0x2000))
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_SHARED_OBJECT,
                   "%s: not a shared object (a PE image, but not a DLL)", path);
      return FALSE;
    }
  return TRUE;
}
#else
/* Reads the ELF header ourselves so that "not a shared object" gets a
 * clear reason instead of the dynamic linker's message. */
static gboolean
check_shared_object (const char *path, GError **error)
{
  guint8 hdr[18];
  ssize_t n;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  guint16 type;

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_OPEN, "%s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  n = read (fd, hdr, sizeof hdr);
  close (fd);
  if (n != (ssize_t) sizeof hdr || memcmp (hdr, "\177ELF", 4) != 0)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_SHARED_OBJECT,
                   "%s: not a shared object (no ELF header)", path);
      return FALSE;
    }
  /* e_type at offset 16, in the byte order EI_DATA (offset 5) names. */
  if (hdr[5] == 2)
    type = (guint16) (hdr[16] << 8 | hdr[17]);
  else
    type = (guint16) (hdr[17] << 8 | hdr[16]);
  if (type != 3 /* ET_DYN */)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_SHARED_OBJECT,
                   "%s: not a shared object (ELF type %u, expected ET_DYN)", path, type);
      return FALSE;
    }
  return TRUE;
}
#endif

#ifdef G_OS_WIN32
/* Windows has no root uid or mode bits: who may write a file is in its
 * ACL, which this check does not read yet. It refuses what is not a
 * regular file (a reparse point, a folder) and leaves the rest to the
 * ACL of the installation folder. */
static gboolean
check_owner (const char *path, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) || g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_UNSAFE_FILE,
                   "%s: refused: a plugin in the system directory must be a regular file",
                   path);
      return FALSE;
    }
  return TRUE;
}
#else
/* STYLE: a file in the system directory must be a regular file owned by
 * root that neither group nor others can write. */
static gboolean
check_owner (const char *path, GError **error)
{
  struct stat st;

  if (lstat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_OPEN, "%s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_UNSAFE_FILE,
                   "%s: refused: a plugin in the system directory must be a regular file "
                   "owned by root and writable only by its owner",
                   path);
      return FALSE;
    }
  return TRUE;
}
#endif

EmberPlugin *
ember_plugin_load (const char *path, EmberPluginDirOrigin origin, GError **error)
{
  GModule *module;
  EmberPluginInfoFunc entry = NULL;
  const EmberPluginInfo *info;
  g_autoptr (EmberPlugin) plugin = NULL;

  if (origin == EMBER_PLUGIN_DIR_SYSTEM && !check_owner (path, error))
    return NULL;
  if (!check_shared_object (path, error))
    return NULL;

  module = g_module_open (path, G_MODULE_BIND_LOCAL | G_MODULE_BIND_LAZY);
  if (module == NULL)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_OPEN, "%s: cannot load: %s",
                   path, g_module_error ());
      return NULL;
    }
  if (!g_module_symbol (module, EMBER_PLUGIN_ENTRY_SYMBOL, (gpointer *) &entry) ||
      entry == NULL)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NO_ENTRY,
                   "%s: not an Ember plugin (no %s symbol)", path, EMBER_PLUGIN_ENTRY_SYMBOL);
      g_module_close (module);
      return NULL;
    }
  info = entry ();
  if (info == NULL || info->name == NULL || *info->name == '\0')
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
                   "%s: %s returned no descriptor or no name", path, EMBER_PLUGIN_ENTRY_SYMBOL);
      g_module_close (module);
      return NULL;
    }
  if (info->abi_major != EMBER_PLUGIN_ABI_MAJOR || info->abi_minor > EMBER_PLUGIN_ABI_MINOR)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_ABI,
                   "%s: plugin \"%s\" was built for plugin ABI %u.%u, this host has ABI %u.%u "
                   "(needs major %u, minor at most %u)",
                   path, info->name, info->abi_major, info->abi_minor, EMBER_PLUGIN_ABI_MAJOR,
                   EMBER_PLUGIN_ABI_MINOR, EMBER_PLUGIN_ABI_MAJOR, EMBER_PLUGIN_ABI_MINOR);
      g_module_close (module);
      return NULL;
    }
  if (strcmp (ember_plugin_kind_name (info->kind), "unknown") == 0 ||
      info->vtable == NULL || info->vtable_size == 0)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
                   "%s: plugin \"%s\" has an unknown kind (%d) or no vtable", path, info->name,
                   (int) info->kind);
      g_module_close (module);
      return NULL;
    }

  plugin = g_new0 (EmberPlugin, 1);
  plugin->path = g_strdup (path);
  plugin->name = g_strdup (info->name);
  plugin->description = g_strdup (info->description != NULL ? info->description : "");
  plugin->kind = info->kind;
  plugin->abi_major = info->abi_major;
  plugin->abi_minor = info->abi_minor;
  plugin->origin = origin;
  plugin->vtable = info->vtable;
  plugin->vtable_size = info->vtable_size;
  if (is_io_kind (info->kind))
    {
      /* Append-only vtables: members the plugin predates stay NULL. */
      memcpy (&plugin->io, info->vtable, MIN (info->vtable_size, sizeof plugin->io));
      if (plugin->io.open == NULL || plugin->io.poll_recv_many == NULL ||
          plugin->io.poll_send_ready == NULL || plugin->io.send == NULL ||
          plugin->io.close == NULL)
        {
          g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
                       "%s: plugin \"%s\" lacks one of open, poll_recv_many, poll_send_ready, "
                       "send, close",
                       path, info->name);
          g_module_close (module);
          return NULL;
        }
    }
  /* A plugin may have started nothing yet, but its code must outlive every
   * pointer we keep into it. */
  g_module_make_resident (module);
  return g_steal_pointer (&plugin);
}

void
ember_plugin_free (EmberPlugin *plugin)
{
  if (plugin == NULL)
    return;
  g_free (plugin->path);
  g_free (plugin->name);
  g_free (plugin->description);
  g_free (plugin);
}

static void
refusal_free (gpointer p)
{
  EmberPluginRefusal *r = p;
  g_free (r->path);
  g_clear_error (&r->error);
  g_free (r);
}

static void
shadow_free (gpointer p)
{
  EmberPluginShadow *s = p;
  g_free (s->name);
  g_free (s->used_path);
  g_free (s->ignored_path);
  g_free (s);
}

EmberRegistry *
ember_registry_new (void)
{
  EmberRegistry *r = g_new0 (EmberRegistry, 1);
  r->plugins = g_ptr_array_new_with_free_func ((GDestroyNotify) ember_plugin_free);
  r->refusals = g_ptr_array_new_with_free_func (refusal_free);
  r->shadows = g_ptr_array_new_with_free_func (shadow_free);
  return r;
}

void
ember_registry_free (EmberRegistry *registry)
{
  if (registry == NULL)
    return;
  g_ptr_array_unref (registry->plugins);
  g_ptr_array_unref (registry->refusals);
  g_ptr_array_unref (registry->shadows);
  g_free (registry);
}

static EmberPlugin *
find_by_name (EmberRegistry *registry, const char *name)
{
  for (guint i = 0; i < registry->plugins->len; i++)
    {
      EmberPlugin *p = g_ptr_array_index (registry->plugins, i);
      if (g_str_equal (p->name, name))
        return p;
    }
  return NULL;
}

static gboolean
already_scanned (EmberRegistry *registry, const char *path)
{
  for (guint i = 0; i < registry->plugins->len; i++)
    if (g_str_equal (((EmberPlugin *) g_ptr_array_index (registry->plugins, i))->path, path))
      return TRUE;
  for (guint i = 0; i < registry->refusals->len; i++)
    if (g_str_equal (((EmberPluginRefusal *) g_ptr_array_index (registry->refusals, i))->path,
                     path))
      return TRUE;
  return FALSE;
}

static void
scan_file (EmberRegistry *registry, const char *path, EmberPluginDirOrigin origin)
{
  GError *error = NULL;
  EmberPlugin *plugin, *first;

  if (already_scanned (registry, path))
    return;
  plugin = ember_plugin_load (path, origin, &error);
  if (plugin == NULL)
    {
      EmberPluginRefusal *r = g_new0 (EmberPluginRefusal, 1);
      r->path = g_strdup (path);
      r->error = error;
      g_warning ("plugin refused: %s", error->message);
      g_ptr_array_add (registry->refusals, r);
      return;
    }
  first = find_by_name (registry, plugin->name);
  if (first != NULL)
    {
      EmberPluginShadow *s = g_new0 (EmberPluginShadow, 1);
      s->name = g_strdup (plugin->name);
      s->used_path = g_strdup (first->path);
      s->ignored_path = g_strdup (path);
      g_info ("plugin \"%s\": using %s, ignoring %s (later in the search path)", s->name,
              s->used_path, s->ignored_path);
      g_ptr_array_add (registry->shadows, s);
      ember_plugin_free (plugin);
      return;
    }
  g_debug ("plugin \"%s\" (%s) loaded from %s", plugin->name,
           ember_plugin_kind_name (plugin->kind), path);
  g_ptr_array_add (registry->plugins, plugin);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Plugin files of one directory, sorted so the order does not depend on
 * the file system. The build tree keeps each plugin in its own folder,
 * some inside a subsystem's folder (plugins/relay/turn/), so there two
 * levels of sub-folders are searched too. */
static void
collect (const char *dir, guint depth, GPtrArray *out)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *entry;

  if (d == NULL)
    return;
  while ((entry = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, entry, NULL);
      if (g_str_has_suffix (entry, "." G_MODULE_SUFFIX) && !g_file_test (path, G_FILE_TEST_IS_DIR))
        g_ptr_array_add (out, g_steal_pointer (&path));
      else if (depth > 0 && g_file_test (path, G_FILE_TEST_IS_DIR))
        collect (path, depth - 1, out);
    }
}

void
ember_registry_scan (EmberRegistry *registry, GPtrArray *dirs)
{
  for (guint i = 0; i < dirs->len; i++)
    {
      EmberPluginDir *dir = g_ptr_array_index (dirs, i);
      g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);

      collect (dir->path, dir->origin == EMBER_PLUGIN_DIR_BUILD ? 2 : 0, files);
      g_ptr_array_sort (files, compare_strings);
      for (guint j = 0; j < files->len; j++)
        scan_file (registry, g_ptr_array_index (files, j), dir->origin);
    }
}

GPtrArray *
ember_registry_plugins (EmberRegistry *registry)
{
  return registry->plugins;
}

GPtrArray *
ember_registry_refusals (EmberRegistry *registry)
{
  return registry->refusals;
}

GPtrArray *
ember_registry_shadows (EmberRegistry *registry)
{
  return registry->shadows;
}

EmberPlugin *
ember_registry_lookup (EmberRegistry *registry, const char *role, const char *name,
                       EmberPluginKind kind, GError **error)
{
  EmberPlugin *plugin = find_by_name (registry, name);

  if (plugin == NULL)
    {
      for (guint i = 0; i < registry->refusals->len; i++)
        {
          EmberPluginRefusal *r = g_ptr_array_index (registry->refusals, i);
          g_autofree char *base = g_path_get_basename (r->path);
          if (g_str_has_prefix (base, name))
            {
              g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_FOUND,
                           "[%s] plugin=%s: no usable plugin of that name (%s)", role, name,
                           r->error->message);
              return NULL;
            }
        }
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_FOUND,
                   "[%s] plugin=%s: no plugin of that name in the search path", role, name);
      return NULL;
    }
  if (plugin->kind != kind)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_WRONG_KIND,
                   "[%s] plugin=%s: %s is a %s plugin, but role [%s] needs a %s plugin", role,
                   name, plugin->path, ember_plugin_kind_name (plugin->kind), role,
                   ember_plugin_kind_name (kind));
      return NULL;
    }
  return plugin;
}
