/* config — load and validate the daemon's key file. */
#define G_LOG_DOMAIN "ember-config"

#include "config.h"

#include "log.h"

G_DEFINE_QUARK (ember-config-error-quark, ember_config_error)

static const char *const daemon_keys[] = { "mode",     "plugin-dirs", "log-filter", "log-dir",
                                            "state-dir", "runtime-dir", "bus",        NULL };
static const char *const portal_keys[] = { "url", "token-file", "ca-file", "outage-notice", NULL };
#define OUTAGE_NOTICE_DEFAULT_S 300
#define OUTAGE_NOTICE_MAX_S 86400
/* What a client or gateway uses when the config names no plugin. */
static const char *const role_defaults[EMBER_ROLE_COUNT] = {
  [EMBER_PLUGIN_KIND_TUN] = "tun-linux",
  [EMBER_PLUGIN_KIND_TRANSPORT] = "turn",
  [EMBER_PLUGIN_KIND_WG] = "wg",
};
static const char *const role_keys[] = { "plugin", NULL };
/* [dns]: the upstream plugin and the system DNS control (bin/emberd/dns.c). */
static const char *const dns_keys[] = { "plugin", "system", NULL };
static const char *const modes[] = { "client", "gateway", NULL };

const char *
ember_config_role_name (EmberPluginKind kind)
{
  return ember_plugin_kind_name (kind);
}

static gboolean
check_keys (EmberConfig *c, const char *group, const char *const *allowed, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (c->keyfile, group, NULL, NULL);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (allowed, keys[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) allowed);
        g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_UNKNOWN_KEY,
                     "%s: [%s] %s: unknown key (expected one of: %s)", c->path, group, keys[i],
                     list);
        return FALSE;
      }
  return TRUE;
}

static char *
get_string (EmberConfig *c, const char *group, const char *key, GError **error)
{
  g_autoptr (GError) local = NULL;
  char *value = g_key_file_get_string (c->keyfile, group, key, &local);

  if (value == NULL && !g_error_matches (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) &&
      !g_error_matches (local, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
    g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                 "%s: [%s] %s: %s", c->path, group, key, local->message);
  return value;
}

static gboolean
valid_plugin_name (const char *s)
{
  if (*s == '\0')
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

/* An optional whole number of seconds in [1, max]; *out unchanged when
 * the key is absent. */
static gboolean
get_seconds (EmberConfig *c, const char *group, const char *key, guint max, guint *out,
             GError **error)
{
  GError *local = NULL;
  g_autofree char *value = get_string (c, group, key, &local);
  guint64 n = 0;

  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (value == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (value, 10, 1, max, &n, NULL))
    {
      g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                   "%s: [%s] %s: expected whole seconds from 1 to %u, got \"%s\"", c->path, group,
                   key, max, value);
      return FALSE;
    }
  *out = (guint) n;
  return TRUE;
}

/* An optional absolute path; *out keeps `fallback` when the key is absent. */
static gboolean
get_absolute_path (EmberConfig *c, const char *group, const char *key, const char *fallback,
                   char **out, GError **error)
{
  GError *local = NULL;
  char *value = get_string (c, group, key, &local);

  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (value != NULL && !g_path_is_absolute (value))
    {
      g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                   "%s: [%s] %s: expected an absolute path, got \"%s\"", c->path, group, key,
                   value);
      g_free (value);
      return FALSE;
    }
  g_free (*out);
  *out = value != NULL ? value : g_strdup (fallback);
  return TRUE;
}

static gboolean
load_portal_group (EmberConfig *c, GError **error)
{
  GError *local = NULL;

  c->portal_outage_notice_s = OUTAGE_NOTICE_DEFAULT_S;
  if (!g_key_file_has_group (c->keyfile, "portal"))
    return TRUE;
  if (!check_keys (c, "portal", portal_keys, error))
    return FALSE;
  c->portal_url = get_string (c, "portal", "url", &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (c->portal_url != NULL && !g_str_has_prefix (c->portal_url, "ws://")
      && !g_str_has_prefix (c->portal_url, "wss://"))
    {
      g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                   "%s: [portal] url: expected ws://HOST[:PORT] or wss://HOST[:PORT], got \"%s\"",
                   c->path, c->portal_url);
      return FALSE;
    }
  return get_absolute_path (c, "portal", "token-file", NULL, &c->portal_token_file, error)
         && get_absolute_path (c, "portal", "ca-file", NULL, &c->portal_ca_file, error)
         && get_seconds (c, "portal", "outage-notice", OUTAGE_NOTICE_MAX_S,
                         &c->portal_outage_notice_s, error);
}

static gboolean
load_daemon_group (EmberConfig *c, GError **error)
{
  GError *local = NULL;

  c->state_dir = g_strdup (EMBER_CONFIG_DEFAULT_STATE_DIR);
  c->bus = g_strdup ("system");
  c->runtime_dir = g_strdup (EMBER_CONFIG_DEFAULT_RUNTIME_DIR);
  if (!g_key_file_has_group (c->keyfile, "daemon"))
    return TRUE;
  if (!check_keys (c, "daemon", daemon_keys, error))
    return FALSE;
  if (!get_absolute_path (c, "daemon", "state-dir", EMBER_CONFIG_DEFAULT_STATE_DIR,
                          &c->state_dir, error)
      || !get_absolute_path (c, "daemon", "runtime-dir", EMBER_CONFIG_DEFAULT_RUNTIME_DIR,
                             &c->runtime_dir, error))
    return FALSE;

  c->mode = get_string (c, "daemon", "mode", &local);
  if (local != NULL)
    goto fail;
  if (c->mode != NULL && !g_strv_contains (modes, c->mode))
    {
      g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                   "%s: [daemon] mode: expected client or gateway, got \"%s\"", c->path,
                   c->mode);
      return FALSE;
    }

  c->log_filter = get_string (c, "daemon", "log-filter", &local);
  if (local != NULL)
    goto fail;
  if (c->log_filter != NULL)
    {
      g_autoptr (EmberLogFilter) f = ember_log_filter_parse (c->log_filter, &local);
      if (f == NULL)
        {
          g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                       "%s: [daemon] log-filter: %s", c->path, local->message);
          g_clear_error (&local);
          return FALSE;
        }
    }
  c->log_dir = get_string (c, "daemon", "log-dir", &local);
  if (local != NULL)
    goto fail;
  g_free (c->bus);
  c->bus = get_string (c, "daemon", "bus", &local);
  if (local != NULL)
    goto fail;
  if (c->bus == NULL)
    c->bus = g_strdup ("system");
  if (!g_str_equal (c->bus, "system") && !g_str_equal (c->bus, "none"))
    {
      g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                   "%s: [daemon] bus: expected system or none, got \"%s\"", c->path, c->bus);
      return FALSE;
    }

  if (g_key_file_has_key (c->keyfile, "daemon", "plugin-dirs", NULL))
    {
      c->plugin_dirs = g_key_file_get_string_list (c->keyfile, "daemon", "plugin-dirs", NULL,
                                                   &local);
      if (local != NULL)
        goto fail;
      for (guint i = 0; c->plugin_dirs[i] != NULL; i++)
        if (!g_path_is_absolute (c->plugin_dirs[i]))
          {
            g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                         "%s: [daemon] plugin-dirs: expected absolute directories, got \"%s\"",
                         c->path, c->plugin_dirs[i]);
            return FALSE;
          }
    }
  return TRUE;

fail:
  g_propagate_error (error, local);
  return FALSE;
}

static gboolean
validate (EmberConfig *c, GError **error)
{
  g_auto (GStrv) groups = g_key_file_get_groups (c->keyfile, NULL);
  GError *local = NULL;

  if (!load_daemon_group (c, error) || !load_portal_group (c, error))
    return FALSE;

  for (int kind = EMBER_PLUGIN_KIND_TUN; kind <= EMBER_PLUGIN_KIND_WG; kind++)
    {
      const char *role = ember_config_role_name ((EmberPluginKind) kind);
      char *name;

      if (!g_key_file_has_group (c->keyfile, role))
        continue;
      if (!check_keys (c, role, kind == EMBER_PLUGIN_KIND_DNS ? dns_keys : role_keys, error))
        return FALSE;
      name = get_string (c, role, "plugin", &local);
      if (local != NULL)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
      /* [dns] may only choose the system DNS control. */
      if (name == NULL && kind == EMBER_PLUGIN_KIND_DNS)
        continue;
      if (name == NULL)
        {
          g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_MISSING,
                       "%s: [%s] plugin: missing (expected the name of a %s plugin)", c->path,
                       role, role);
          return FALSE;
        }
      c->roles[kind] = name;
      if (!valid_plugin_name (name))
        {
          g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE,
                       "%s: [%s] plugin: expected a plugin name (letters, digits, '-', '_'), "
                       "got \"%s\"",
                       c->path, role, name);
          return FALSE;
        }
    }

  /* A client or gateway needs a portal and runs on the default plugins
   * unless the file names others: a minimal file names the mode and the
   * portal only. */
  if (c->mode != NULL)
    {
      if (c->portal_url == NULL)
        {
          g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_MISSING,
                       "%s: [portal] url: missing (mode=%s signs in to a portal: expected "
                       "ws://HOST[:PORT] or wss://HOST[:PORT])",
                       c->path, c->mode);
          return FALSE;
        }
      for (int kind = 0; kind < EMBER_ROLE_COUNT; kind++)
        if (c->roles[kind] == NULL && role_defaults[kind] != NULL)
          c->roles[kind] = g_strdup (role_defaults[kind]);
    }

  /* Every other group must belong to a configured plugin. */
  for (guint i = 0; groups[i] != NULL; i++)
    {
      gboolean known = g_str_equal (groups[i], "daemon") || g_str_equal (groups[i], "portal");
      for (int kind = EMBER_PLUGIN_KIND_TUN; kind <= EMBER_PLUGIN_KIND_WG && !known; kind++)
        known = g_str_equal (groups[i], ember_config_role_name ((EmberPluginKind) kind)) ||
                g_strcmp0 (groups[i], c->roles[kind]) == 0;
      if (!known)
        {
          g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_UNKNOWN_GROUP,
                       "%s: [%s]: unknown group (expected [daemon], [portal], a role [tun], "
                       "[transport], [dns], [wg], or the group of a configured plugin)",
                       c->path, groups[i]);
          return FALSE;
        }
    }
  return TRUE;
}

static EmberConfig *
load (GKeyFile *kf, const char *name, GError **error)
{
  g_autoptr (EmberConfig) c = g_new0 (EmberConfig, 1);

  c->path = g_strdup (name);
  c->keyfile = kf;
  if (!validate (c, error))
    return NULL;
  return g_steal_pointer (&c);
}

EmberConfig *
ember_config_load (const char *path, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  GError *local = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_PARSE, "%s: %s", path,
                   local->message);
      g_error_free (local);
      return NULL;
    }
  return load (g_steal_pointer (&kf), path, error);
}

EmberConfig *
ember_config_load_data (const char *data, const char *name, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  GError *local = NULL;

  if (!g_key_file_load_from_data (kf, data, (gsize) -1, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_PARSE, "%s: %s", name,
                   local->message);
      g_error_free (local);
      return NULL;
    }
  return load (g_steal_pointer (&kf), name, error);
}

void
ember_config_free (EmberConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->path);
  g_clear_pointer (&config->keyfile, g_key_file_unref);
  g_free (config->mode);
  for (int i = 0; i < EMBER_ROLE_COUNT; i++)
    g_free (config->roles[i]);
  g_strfreev (config->plugin_dirs);
  g_free (config->log_filter);
  g_free (config->log_dir);
  g_free (config->bus);
  g_free (config->state_dir);
  g_free (config->runtime_dir);
  g_free (config->portal_url);
  g_free (config->portal_token_file);
  g_free (config->portal_ca_file);
  g_free (config);
}

gboolean
ember_config_check_plugins (EmberConfig *config, EmberRegistry *registry, GError **error)
{
  for (int kind = EMBER_PLUGIN_KIND_TUN; kind <= EMBER_PLUGIN_KIND_WG; kind++)
    {
      const char *role = ember_config_role_name ((EmberPluginKind) kind);
      EmberPlugin *plugin;
      GError *local = NULL;

      if (config->roles[kind] == NULL)
        continue;
      plugin = ember_registry_lookup (registry, role, config->roles[kind], (EmberPluginKind) kind,
                                      &local);
      if (plugin == NULL)
        {
          g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE, "%s: %s",
                       config->path, local->message);
          g_error_free (local);
          return FALSE;
        }
      if (plugin->kind != EMBER_PLUGIN_KIND_WG && plugin->io.validate_config != NULL &&
          !plugin->io.validate_config (config->keyfile, plugin->name, &local))
        {
          g_set_error (error, EMBER_CONFIG_ERROR, EMBER_CONFIG_ERROR_BAD_VALUE, "%s: %s",
                       config->path, local->message);
          g_error_free (local);
          return FALSE;
        }
    }
  return TRUE;
}
