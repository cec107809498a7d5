/* ember-portal/serve — `ember-portal serve`: the signalling server.
 *
 * Owns the WebSocket listeners (/client/websocket, /gateway/websocket;
 * ws on loopback, wss with the configured certificate), the bearer-token
 * check before any upgrade, the Phoenix-channel sessions, the
 * authorization flow between clients and gateways, the fan-out of
 * changes other processes write to the store, the relays' credentials
 * and liveness, /metrics and the admin API. Everything runs on the
 * thread that calls ember_portal_server_new(), in its GMainContext's
 * default (the thread-default context is not used). */
#pragma once

#include "serve-config.h"

G_BEGIN_DECLS

typedef struct _EmberPortalServer EmberPortalServer;

/* Opens the store in config->state_dir, binds every listener and starts
 * probing relays. `config` must outlive the server. */
EmberPortalServer *ember_portal_server_new (const EmberPortalServeConfig *config, GError **error);
/* Closes every session (reason "shutdown") and every listener. */
void ember_portal_server_free (EmberPortalServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPortalServer, ember_portal_server_free)

/* The port a listener got (tests bind port 0): index `i` of
 * config->listen; and the admin and metrics ports (0 when off). */
guint16 ember_portal_server_port (EmberPortalServer *server, guint i);
guint16 ember_portal_server_admin_port (EmberPortalServer *server);
guint16 ember_portal_server_metrics_port (EmberPortalServer *server);

/* Joined sessions: clients, gateways. */
guint ember_portal_server_n_clients (EmberPortalServer *server);
guint ember_portal_server_n_gateways (EmberPortalServer *server);

/* The `serve` verb: argv[0] is "serve". Runs until SIGINT or SIGTERM. */
int ember_portal_serve_main (int argc, char **argv);

G_END_DECLS
