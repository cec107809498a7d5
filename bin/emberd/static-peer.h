/* static-peer — emberd's WireGuard static-peer mode (see static-peer.c). */
#pragma once

#include <glib.h>

#include "ember-plugin-wg.h"

G_BEGIN_DECLS

/* Runs in the foreground until SIGINT/SIGTERM; returns the exit code. */
int ember_static_peer_run (const char *config_path, const char *ifname);
/* Prints the status file of a running instance; returns the exit code. */
int ember_static_status_print (const char *ifname);
/* Where a running instance keeps its status ($EMBER_RUN_DIR or /run/ember). */
char *ember_static_status_path (const char *ifname);

/* static-status.c: rewrites the status file at `path` (JSON, one object
 * per peer: key, endpoint, latest handshake in wall-clock seconds,
 * counters, whether a session exists). Main thread. */
void ember_static_status_write (const char *path, const char *ifname, const EmberWgVtable *wg,
                                EmberWgPeer *const *peers, const char *const *names,
                                guint n_peers, gint64 now, gint64 wall);

G_END_DECLS
