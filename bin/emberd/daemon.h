/* daemon — what emberd's client and gateway modes share.
 *
 * Both modes are drivers on the shell (shell.h) around a tunnel state
 * machine whose connection layer is a node (tunnel/node.h). This module
 * holds the parts that do not depend on which machine it is:
 *   - start-up: the identity and token (identity.h), the plugins of the
 *     config's roles, the shell with the relay transport, the portal
 *     session (portal/session.h), the host-address monitor (netmon.h);
 *   - the node's relay commands onto turn.so's control and turn.so's
 *     events back into the node; the server-reflexive address of the
 *     ICE socket from the shell's own Binding (turn.so's, of its own
 *     socket, only until that answered);
 *   - the host addresses (netmon's list with the socket's port, minus the
 *     TUN's own) for the machine's set_host_addresses;
 *   - the portal's state: sd_notify READY/STATUS (and WATCHDOG=1 every
 *     second when systemd asks for it), a rejected token ends
 *     the daemon with exit code 3, nothing else tears a tunnel down;
 *   - the status snapshot (status.h): the node's connections, path,
 *     relay, WireGuard counters; written to the status file and set on
 *     the D-Bus API's properties (dbus-api.h) from the same value;
 *   - the D-Bus API's methods for a client: SignIn stores the token and
 *     connects, SignOut and Disconnect close the portal session and take
 *     the tunnel down (TUN, routes, the machine's connections), Connect
 *     and Reset build them again. A client may start without a token
 *     ("signed-out") and wait for SignIn. While the API is served, a
 *     rejected token signs the client out with the Error signal instead
 *     of ending the daemon.
 * Main thread only.
 */
#pragma once

#include <glib.h>

#include "config.h"
#include "dbus-api.h"
#include "identity.h"
#include "loader.h"
#include "netconf.h"
#include "netmon.h"
#include "notify.h"
#include "portal/session.h"
#include "shell.h"
#include "status.h"
#include "tunnel/node.h"

G_BEGIN_DECLS

/* Exit codes (CONTRACT-13). */
#define EMBER_EXIT_OK 0
#define EMBER_EXIT_FAILURE 1
#define EMBER_EXIT_CONFIG 2
#define EMBER_EXIT_REJECTED 3

#define EMBER_DAEMON_DEFAULT_IFNAME "ember0"
/* seed 004: the TUN MTU is 1280 unless the [tun-linux] group says. */
#define EMBER_DAEMON_DEFAULT_MTU 1280
#define EMBER_DAEMON_STATUS_PERIOD_MS 1000

typedef struct _EmberDaemon EmberDaemon;

/* The mode's side: the daemon calls these. */
typedef struct {
  void (*portal_message) (EmberDaemon *d, gint64 now, const EmberPortalMessage *msg);
  /* The host addresses changed (roaming) or are first known. */
  void (*host_addresses) (EmberDaemon *d, gint64 now, const EmberAddr *addrs, guint n);
  /* The daemon changed the node (SIGHUP failed every connection): drain
   * the machine's outputs. */
  void (*drain) (EmberDaemon *d, gint64 now);
  /* Fills the mode's part of the status (resources). */
  void (*status) (EmberDaemon *d, EmberStatus *status);
  /* Client only (NULL: the D-Bus methods answer WrongMode). A fresh
   * machine in place of the old one (its connections and routes gone;
   * the TUN is already closed); d->node is updated. */
  void (*new_tunnel) (EmberDaemon *d, gint64 now);
  /* The internet resource on or off (kept by the daemon). */
  gboolean (*set_internet) (EmberDaemon *d, gint64 now, gboolean enabled, GError **error);
} EmberDaemonMode;

struct _EmberDaemon {
  EmberConfig *config;           /* borrowed */
  const EmberDaemonMode *mode;
  gpointer mode_data;
  EmberPortalChannel channel;
  EmberIdentity *identity;
  char *token;                   /* NULL: signed out (client) */
  char *public_key;              /* base64 */
  char *device_id, *device_name; /* who the portal's init said we are; NULL: not said */
  EmberRegistry *registry;
  const EmberWgVtable *wg;
  EmberShell *shell;
  EmberTunnelNode *node;         /* the machine's, set before start */
  EmberPortalSession *session;
  EmberPortalSessionState portal_state;
  gint64 portal_since;           /* Unix seconds */
  gboolean joined_once;
  gboolean joined_session;       /* this session joined (reconnecting, not connecting) */
  gint64 outage_since;           /* monotonic µs the portal went away, 0 when joined */
  gboolean outage_told;          /* the Error signal for this outage was sent */
  char *portal_error;            /* why the portal last went away */
  char *rejection;               /* the portal's refusal, until on_rejected */
  guint rejected_id;
  EmberDbusApi *api;
  EmberStatusCounters counters_base;  /* counted by machines replaced since start */
  gboolean ready_sent;
  gboolean watchdog;             /* WATCHDOG=1 with every status tick */
  EmberNetmon *netmon;
  EmberNetconf *netconf;
  char *ifname;
  guint mtu;
  EmberAddr iface4, iface6;      /* the TUN's addresses, once known */
  EmberAddr last_addrs[EMBER_TUNNEL_MAX_HOST_ADDRS];  /* host addresses last listed */
  guint n_last_addrs;
  gboolean addrs_known;
  /* The server-reflexive address last given to the node per relay
   * (the shell's own Binding, or turn.so's until that answers). */
  struct {
    EmberAddr relay, fed;
  } srflx[EMBER_TUNNEL_MAX_RELAYS];
  guint n_srflx;
  char *status_path;
  gboolean status_dirty;
  guint conn_fingerprint;
  char *last_notify;             /* the STATUS text last told */
  EmberNotifier *notifier;       /* NULL without $NOTIFY_SOCKET */
};

/* Identity, token, plugins. Fills *exit_code (2 for a configuration or
 * token problem, 1 otherwise) when it fails; the error says why. */
gboolean ember_daemon_init (EmberDaemon *d, EmberConfig *config, EmberPortalChannel channel,
                            const EmberDaemonMode *mode, gpointer mode_data, int *exit_code,
                            GError **error);
/* The shell (with the relay transport and fwmark as given), netmon, the
 * portal session (started). d->node must be set. */
gboolean ember_daemon_start (EmberDaemon *d, const EmberShellCallbacks *callbacks,
                             guint32 fwmark, GError **error);
/* Runs until a signal or a fatal portal answer; returns the exit code. */
int ember_daemon_run (EmberDaemon *d);
void ember_daemon_clear (EmberDaemon *d);

/* Opens the TUN with these addresses and routes (the plugin's own group
 * of the config, name and mtu defaulted). Once. */
gboolean ember_daemon_open_tun (EmberDaemon *d, const EmberAddr *ipv4, const EmberAddr *ipv6,
                                const char *routes, GError **error);

/* Moves the node's relay commands to the transport. */
void ember_daemon_pump_relays (EmberDaemon *d);
/* The transport's event: logged when a user should know, given to the node. */
void ember_daemon_relay_event (EmberDaemon *d, gint64 now, const EmberRelayEvent *ev);
/* Sends a message the machine produced to the portal and clears it. */
void ember_daemon_portal_send (EmberDaemon *d, EmberPortalMessage *msg);
/* Re-reads the host addresses and tells the mode. */
void ember_daemon_refresh_addresses (EmberDaemon *d);

/* What the status shows of a resource the portal named, on a client (its
 * resources) and on a gateway (those it serves): the policies keep only
 * what the packet path needs. */
typedef struct {
  char *name;
  char *address;         /* CIDR, DNS pattern, or "" (internet) */
  char *site;
  const char *type;      /* cidr | dns | internet */
  const char *ip_stack;  /* dns: dual | ipv4 | ipv6; NULL otherwise */
  gboolean offline;      /* client: the portal said no gateway of its site is online */
} EmberDaemonResource;

/* A table resource id -> EmberDaemonResource. */
GHashTable *ember_daemon_resource_table_new (void);
/* Puts `resource` into `table` under its id, replacing what was there. */
void ember_daemon_track_resource (GHashTable *table, const EmberPortalResource *resource);

/* The facts of the status file and of the D-Bus properties. */
EmberStatus *ember_daemon_snapshot (EmberDaemon *d);
/* Status: marks it changed (written at the end of the current drain). */
void ember_daemon_status_changed (EmberDaemon *d);
void ember_daemon_write_status (EmberDaemon *d);
/* Marks the status changed when a connection changed state (per drain). */
void ember_daemon_check_conns (EmberDaemon *d);
/* The seeds' RNG for the machines: the system's key-grade generator. */
guint64 ember_daemon_rng (gpointer user_data);

G_END_DECLS
