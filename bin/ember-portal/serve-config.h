/* ember-portal/serve-config — the `[portal]` and `[relay NAME]` groups of
 * the portal's configuration file, as `ember-portal serve` reads them.
 *
 * A GKeyFile (INI) file every verb shares: portal-config.c checks its
 * shape (unknown groups and keys, state-dir) for all of them; this module
 * checks the values `serve` reads. A bad one is a GError naming the file,
 * the group, the key and what was expected, before anything is bound or
 * opened. Main thread only.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  char *name;               /* the group's NAME: the relay id clients see */
  char **addresses;         /* "IP:PORT" each, at least one */
  GBytes *secret;           /* contents of secret-file, trailing newline cut */
} EmberPortalRelayConfig;

typedef struct {
  char *path;
  char **listen;            /* "ADDR:PORT" each (port 0: any free port) */
  char *state_dir;
  char *tls_certificate, *tls_key;  /* both or neither: wss */
  char *admin_listen;       /* NULL: no admin API */
  char *metrics_listen;     /* NULL: no metrics */
  gboolean insecure;        /* plain ws on a non-loopback address */
  /* Phoenix heartbeat: the interval a client is told to keep; a session
   * that sends nothing for three intervals is closed. */
  gint64 heartbeat_interval_us;
  /* Per source address: WebSocket upgrades, and failed logins. */
  double join_rate, join_burst;
  double auth_failure_rate, auth_failure_burst;
  guint max_frame_size;     /* bytes of one incoming WebSocket message */
  gint64 change_poll_us;    /* how often the changes table is looked at */
  gint64 relay_probe_us;    /* STUN Binding to each relay */
  gint64 relay_credential_lifetime_us;
  guint n_relays;
  EmberPortalRelayConfig *relays;
} EmberPortalServeConfig;

#define EMBER_PORTAL_DEFAULT_LISTEN "127.0.0.1:8080"
#define EMBER_PORTAL_DEFAULT_ADMIN_LISTEN "127.0.0.1:8081"

EmberPortalServeConfig *ember_portal_serve_config_load (const char *path, GError **error);
/* Same, from memory; `name` stands for the file in messages and relative
 * paths are taken from the working directory. */
EmberPortalServeConfig *ember_portal_serve_config_load_data (const char *data, const char *name,
                                                             GError **error);
void ember_portal_serve_config_free (EmberPortalServeConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPortalServeConfig, ember_portal_serve_config_free)

/* "ADDR:PORT" (IPv6 in brackets) into a socket address; the error names
 * `what` (e.g. "[portal] listen"). */
GInetSocketAddress *ember_portal_parse_listen (const char *text, const char *what,
                                               GError **error);

G_END_DECLS
