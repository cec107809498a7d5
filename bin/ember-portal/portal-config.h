/* portal-config — ember-portal's configuration file (GKeyFile), shared by
 * every verb: `serve` and the admin verbs read the same file.
 *
 *   [portal]
 *   state-dir=/var/lib/ember-portal     (relative: to the file's folder)
 *   listen=, tls-certificate=, tls-key=, admin-listen=, metrics-listen=,
 *   insecure=                           (read by `serve`)
 *   [relay NAME]  address=, secret-file=  (read by `serve`)
 *
 * Loading checks the file's shape for everyone: unknown groups and keys
 * are errors naming the file, the group and the key; each verb then
 * reads the values it uses from `keyfile`. Main thread only. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EMBER_PORTAL_CONFIG_ERROR (ember_portal_config_error_quark ())
GQuark ember_portal_config_error_quark (void);

typedef enum {
  EMBER_PORTAL_CONFIG_ERROR_PARSE,
  EMBER_PORTAL_CONFIG_ERROR_UNKNOWN_GROUP,
  EMBER_PORTAL_CONFIG_ERROR_UNKNOWN_KEY,
  EMBER_PORTAL_CONFIG_ERROR_BAD_VALUE,
  EMBER_PORTAL_CONFIG_ERROR_MISSING,
} EmberPortalConfigError;

typedef struct {
  char *path;
  GKeyFile *keyfile;
  char *state_dir; /* absolute */
} EmberPortalConfig;

EmberPortalConfig *ember_portal_config_load (const char *path, GError **error);
/* From memory; `name` stands for the file in messages and relative
 * state-dir values resolve against the current directory. */
EmberPortalConfig *ember_portal_config_load_data (const char *data, const char *name,
                                                  GError **error);
void ember_portal_config_free (EmberPortalConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPortalConfig, ember_portal_config_free)

/* A GError "FILE: [GROUP] KEY: MESSAGE" (BAD_VALUE) for a value a verb
 * finds wrong, so every message has the same shape. */
void ember_portal_config_set_bad_value (EmberPortalConfig *config, GError **error,
                                        const char *group, const char *key, const char *format,
                                        ...) G_GNUC_PRINTF (5, 6);

G_END_DECLS
