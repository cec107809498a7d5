/* static-peer — emberd's WireGuard static-peer mode (see static-peer.c). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs in the foreground until SIGINT/SIGTERM; returns the exit code. */
int ember_static_peer_run (const char *config_path, const char *ifname);
/* Prints the status file of a running instance; returns the exit code. */
int ember_static_status_print (const char *ifname);
/* Where a running instance keeps its status ($EMBER_RUN_DIR or /run/ember). */
char *ember_static_status_path (const char *ifname);

G_END_DECLS
