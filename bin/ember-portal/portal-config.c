/* portal-config — load and check ember-portal's key file. */
#include "portal-config.h"

#include <stdarg.h>
#include <string.h>

G_DEFINE_QUARK (ember-portal-config-error-quark, ember_portal_config_error)

/* Every key any verb reads; `serve` owns all but state-dir (the tuning
 * keys from heartbeat-interval on: docs/portal-serve.md). */
static const char *const portal_keys[] = {
  "state-dir", "listen", "tls-certificate", "tls-key", "admin-listen", "metrics-listen",
  "insecure", "heartbeat-interval", "join-rate", "join-burst", "auth-failure-rate",
  "auth-failure-burst", "max-frame-size", "change-poll-interval", "relay-probe-interval",
  "relay-credential-lifetime", NULL,
};
static const char *const relay_keys[] = { "address", "secret-file", NULL };

#define RELAY_GROUP_PREFIX "relay "

static gboolean
check_keys (EmberPortalConfig *c, const char *group, const char *const *allowed,
            GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (c->keyfile, group, NULL, NULL);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (allowed, keys[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) allowed);
        g_set_error (error, EMBER_PORTAL_CONFIG_ERROR, EMBER_PORTAL_CONFIG_ERROR_UNKNOWN_KEY,
                     "%s: [%s] %s: unknown key (expected one of: %s)", c->path, group, keys[i],
                     list);
        return FALSE;
      }
  return TRUE;
}

void
ember_portal_config_set_bad_value (EmberPortalConfig *c, GError **error, const char *group,
                                   const char *key, const char *format, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, EMBER_PORTAL_CONFIG_ERROR, EMBER_PORTAL_CONFIG_ERROR_BAD_VALUE,
               "%s: [%s] %s: %s", c->path, group, key, msg);
}

static gboolean
validate (EmberPortalConfig *c, const char *base_dir, GError **error)
{
  g_auto (GStrv) groups = g_key_file_get_groups (c->keyfile, NULL);
  g_autofree char *state_dir = NULL;

  for (guint i = 0; groups[i] != NULL; i++)
    {
      const char *g = groups[i];
      if (g_str_equal (g, "portal"))
        {
          if (!check_keys (c, g, portal_keys, error))
            return FALSE;
        }
      else if (g_str_has_prefix (g, RELAY_GROUP_PREFIX) && g[strlen (RELAY_GROUP_PREFIX)] != '\0')
        {
          if (!check_keys (c, g, relay_keys, error))
            return FALSE;
        }
      else
        {
          g_set_error (error, EMBER_PORTAL_CONFIG_ERROR, EMBER_PORTAL_CONFIG_ERROR_UNKNOWN_GROUP,
                       "%s: [%s]: unknown group (expected [portal] or [relay NAME])", c->path,
                       g);
          return FALSE;
        }
    }
  state_dir = g_key_file_get_string (c->keyfile, "portal", "state-dir", NULL);
  if (state_dir == NULL)
    {
      g_set_error (error, EMBER_PORTAL_CONFIG_ERROR, EMBER_PORTAL_CONFIG_ERROR_MISSING,
                   "%s: [portal] state-dir: missing (expected the directory of the database)",
                   c->path);
      return FALSE;
    }
  g_strstrip (state_dir);
  if (*state_dir == '\0')
    {
      ember_portal_config_set_bad_value (c, error, "portal", "state-dir",
                                         "expected a directory, got an empty value");
      return FALSE;
    }
  c->state_dir = g_path_is_absolute (state_dir)
                   ? g_steal_pointer (&state_dir)
                   : g_build_filename (base_dir, state_dir, NULL);
  return TRUE;
}

static EmberPortalConfig *
load (GKeyFile *kf, const char *name, const char *base_dir, GError **error)
{
  g_autoptr (EmberPortalConfig) c = g_new0 (EmberPortalConfig, 1);

  c->path = g_strdup (name);
  c->keyfile = kf;
  if (!validate (c, base_dir, error))
    return NULL;
  return g_steal_pointer (&c);
}

static EmberPortalConfig *
parse_failed (const char *name, GError *local, GError **error)
{
  g_set_error (error, EMBER_PORTAL_CONFIG_ERROR, EMBER_PORTAL_CONFIG_ERROR_PARSE, "%s: %s", name,
               local->message);
  g_error_free (local);
  return NULL;
}

EmberPortalConfig *
ember_portal_config_load (const char *path, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *dir = NULL, *cwd = NULL, *abs = NULL;
  GError *local = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    return parse_failed (path, local, error);
  cwd = g_get_current_dir ();
  abs = g_path_is_absolute (path) ? g_strdup (path) : g_build_filename (cwd, path, NULL);
  dir = g_path_get_dirname (abs);
  return load (g_steal_pointer (&kf), path, dir, error);
}

EmberPortalConfig *
ember_portal_config_load_data (const char *data, const char *name, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *cwd = g_get_current_dir ();
  GError *local = NULL;

  if (!g_key_file_load_from_data (kf, data, (gsize) -1, G_KEY_FILE_NONE, &local))
    return parse_failed (name, local, error);
  return load (g_steal_pointer (&kf), name, cwd, error);
}

void
ember_portal_config_free (EmberPortalConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->path);
  g_clear_pointer (&config->keyfile, g_key_file_unref);
  g_free (config->state_dir);
  g_free (config);
}
