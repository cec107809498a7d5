/* config — the daemon's configuration file (GKeyFile, INI style).
 *
 * Loaded and validated up front: which plugin serves each role
 * ([tun] plugin=tun-linux, [transport], [dns], [wg]), the daemon's own
 * settings ([daemon]), the control plane it signs in to ([portal]), and
 * each plugin's own group, named after the plugin, which the plugin
 * itself validates. With [daemon] mode= (client or gateway) a [portal]
 * url is required and the roles default to tun-linux, turn and wg. Unknown groups and keys and
 * bad values are errors that name the file, the group, the key and what
 * was expected. Main thread only.
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h"
#include "loader.h"

G_BEGIN_DECLS

#define EMBER_CONFIG_ERROR (ember_config_error_quark ())
GQuark ember_config_error_quark (void);

typedef enum {
  EMBER_CONFIG_ERROR_PARSE,
  EMBER_CONFIG_ERROR_UNKNOWN_GROUP,
  EMBER_CONFIG_ERROR_UNKNOWN_KEY,
  EMBER_CONFIG_ERROR_BAD_VALUE,
  EMBER_CONFIG_ERROR_MISSING,
} EmberConfigError;

#define EMBER_ROLE_COUNT 5 /* indexed by EmberPluginKind */
#define EMBER_CONFIG_DEFAULT_STATE_DIR "/var/lib/ember"
#define EMBER_CONFIG_DEFAULT_RUNTIME_DIR "/run/ember"

typedef struct {
  char *path;
  GKeyFile *keyfile;
  char *mode;                        /* [daemon] mode: client | gateway */
  char *roles[EMBER_ROLE_COUNT];     /* plugin name per role, or NULL */
  char **plugin_dirs;                /* [daemon] plugin-dirs */
  char *log_filter;                  /* [daemon] log-filter */
  char *log_dir;                     /* [daemon] log-dir */
  char *bus;                         /* [daemon] bus: system (default) | none */
  char *state_dir;                   /* [daemon] state-dir: keys, id, journal */
  char *runtime_dir;                 /* [daemon] runtime-dir: status file */
  char *portal_url;                  /* [portal] url: ws:// or wss:// base URL */
  char *portal_token_file;           /* [portal] token-file, or NULL */
  char *portal_ca_file;              /* [portal] ca-file, or NULL (system trust) */
  guint portal_outage_notice_s;      /* [portal] outage-notice: seconds before the API says
                                      * the portal is unreachable (default 300) */
} EmberConfig;

EmberConfig *ember_config_load (const char *path, GError **error);
/* Same, from memory; `name` stands for the file in messages. */
EmberConfig *ember_config_load_data (const char *data, const char *name, GError **error);
void ember_config_free (EmberConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberConfig, ember_config_free)

/* The role group for a plugin kind: "tun", "transport", "dns", "wg". */
const char *ember_config_role_name (EmberPluginKind kind);

/* Resolves every configured role in the registry (right kind) and lets
 * each plugin validate its own group. */
gboolean ember_config_check_plugins (EmberConfig *config, EmberRegistry *registry,
                                     GError **error);

G_END_DECLS
