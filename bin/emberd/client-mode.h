/* client-mode, gateway-mode — emberd's two portal modes (client-mode.c,
 * gateway-mode.c), drivers on the shell through daemon.h. */
#pragma once

#include "config.h"

G_BEGIN_DECLS

/* Run in the foreground until SIGINT/SIGTERM (0), a rejected token (3),
 * a runtime failure (1); a configuration or token problem found before
 * anything was touched is 2. Messages go to stderr and the log. */
int ember_client_mode_run (EmberConfig *config);
int ember_gateway_mode_run (EmberConfig *config);

G_END_DECLS
