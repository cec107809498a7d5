/* status — what a running client or gateway reports about itself.
 *
 * The running instance rewrites <runtime-dir>/status.json (once a second
 * and on every change; g_file_set_contents: a temporary file renamed over
 * the old one, so a reader never sees half a file), and
 * `emberd --status [--json] --config FILE` reads it. The shape
 * (CONTRACT-13, read by the e2e tests and the demo):
 *
 *   {"mode": "client", "pid": 123, "state": "connected",
 *    "portal": {"url": "...", "state": "joined", "since": 1700000000},
 *    "identity": {"public_key": "...", "id": "...", "name": "laptop"}, "internet": true,
 *    "counters": {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets",
 *                 "dropped_packets", "handshakes"},
 *    "interface": {"name": "ember0", "ipv4": "100.64.0.2", "ipv6": "fd00:2021:1111::2"},
 *    "resources": [{"id", "name", "address", "type", "site", "status", "gateway_id",
 *                   "ip_stack" (dns only: "dual", "ipv4", "ipv6")}],
 *    "connections": [{"peer_id", "state", "path": "direct|relayed", "relay",
 *                     "local", "remote", "handshake_age_s", "rx_bytes", "tx_bytes"}],
 *    "dns": {"system": "file", "applied": true, "plugin": "do53",
 *            "servers": [{"ipv4": "100.100.111.1", "ipv6": "fd00:2021:1111:8000:100:100:111:1",
 *                         "upstream": "192.0.2.53:53"}],
 *            "proxy_names": 2},
 *    "clients": [{"id", "authorizations": 1, "resources": ["<resource id>"]}]}
 *
 * "since" is Unix seconds; "handshake_age_s" is -1 before the first
 * handshake; "relay" is "" on a direct path. The identity's "id" and
 * "name" are the portal's id of the device and the name the
 * administrator gave it, as the portal's init said (docs/portal-protocol.md,
 * Device); "" until then, with a portal that does not say, and in
 * static-peer mode.
 *
 * On a gateway "resources" are the resources it serves (those some
 * client holds an authorization for), each with status "serving" and no
 * gateway_id, and "clients" the clients with live flows: how many
 * resources each may reach now and which. A client's "clients" is [].
 *
 * "dns": the system DNS control in use ([dns] system: resolved,
 * resolvconf, file or none; "" on a gateway, which leaves the host's
 * resolver alone) and whether the system resolver asks the sentinels
 * now; the upstream plugin; per upstream the sentinel addresses in front
 * of it on the TUN (only the TUN's families, "" while it is down) and
 * the upstream itself ("" for the sentinel that answers resource names
 * when there is no upstream); how many names of the current dns
 * resources have proxy addresses. A gateway lists its plugin's
 * upstreams (its lookups for dns resources) without sentinels.
 *
 * "state", "identity", "internet", "counters", a resource's "site",
 * "dns" and "clients" (and each member inside them) came later: a
 * reader takes them as empty when missing. The daemon builds one snapshot of
 * this shape (ember_daemon_snapshot) for both the file and the D-Bus
 * API (dbus-api.h), so the two always tell the same facts.
 * Main thread only.
 */
#pragma once

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

#define EMBER_STATUS_FILE "status.json"

typedef struct {
  char *id;
  char *name;
  char *address;     /* CIDR, DNS pattern, or "" (internet) */
  char *type;        /* cidr | dns | internet */
  char *site;        /* the site's name, "" when unknown */
  char *status;      /* not_connected | connecting | connected | denied | gateway_offline */
  char *gateway_id;  /* "" when none */
  char *ip_stack;    /* dns: "dual" | "ipv4" | "ipv6" (the portal's); "" otherwise */
} EmberStatusResource;

typedef struct {
  char *peer_id;
  char *state;       /* checking | handshake | up | failed */
  char *path;        /* direct | relayed | "" (no pair selected) */
  char *relay;       /* the relay's address when relayed, else "" */
  char *local;       /* the selected pair, "" when none */
  char *remote;
  gint64 handshake_age_s;
  guint64 rx_bytes;
  guint64 tx_bytes;
} EmberStatusConnection;

/* One sentinel pair on the TUN and the upstream behind it. */
typedef struct {
  char *ipv4;        /* "" when the TUN has no IPv4 (or is down) */
  char *ipv6;
  char *upstream;    /* "192.0.2.53:53", "[2001:db8::53]:853"; "" when none */
} EmberStatusDnsServer;

typedef struct {
  char *system;        /* resolved | resolvconf | file | none; "" when not controlled */
  gboolean applied;    /* the system resolver asks the sentinels now */
  char *plugin;        /* the upstream plugin: do53 | dot | doh; "" when none opened */
  GPtrArray *servers;  /* EmberStatusDnsServer, in upstream order */
  guint64 proxy_names; /* names of the current dns resources with proxy addresses */
} EmberStatusDns;

/* Gateway: a client with live flows. */
typedef struct {
  char *id;
  guint64 authorizations;  /* resources it may reach now */
  GPtrArray *resources;    /* char *: their ids */
} EmberStatusClient;

typedef struct {
  guint64 rx_bytes, tx_bytes;       /* WireGuard datagram bytes, every peer */
  guint64 rx_packets, tx_packets;
  guint64 dropped_packets;
  guint64 handshakes;               /* peers with a completed handshake */
} EmberStatusCounters;

typedef struct {
  char *mode;
  gint64 pid;
  /* The API's state: signed-out | disconnected | connecting | connected |
   * reconnecting (org.ember.Ember1.xml, State). */
  char *state;
  char *public_key;    /* base64, "" before it is known */
  char *device_id;     /* the portal's id of this device, "" until it said so */
  char *device_name;   /* its name at the portal, "" until it said so */
  gboolean internet;   /* the internet resource carries the default route */
  EmberStatusCounters counters;
  char *portal_url;
  char *portal_state;  /* joined | connecting | disconnected | rejected */
  gint64 portal_since;
  char *ifname;
  char *ipv4;
  char *ipv6;
  /* The tunnel addresses with their prefix ("10.0.0.2/24"), when they
   * are not the portal's host addresses (static-peer mode): NULL, or the
   * D-Bus API's TunnelAddresses instead of ipv4/32 and ipv6/128. Not in
   * the status file. */
  GPtrArray *cidrs;
  GPtrArray *resources;    /* EmberStatusResource */
  GPtrArray *connections;  /* EmberStatusConnection */
  EmberStatusDns dns;
  GPtrArray *clients;      /* EmberStatusClient (gateway) */
} EmberStatus;

EmberStatus *ember_status_new (void);
void ember_status_free (EmberStatus *status);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStatus, ember_status_free)

/* Appends an entry (strings copied; NULL stands for ""). */
EmberStatusResource *ember_status_add_resource (EmberStatus *status, const char *id,
                                                const char *name, const char *address,
                                                const char *type, const char *state,
                                                const char *gateway_id);
EmberStatusConnection *ember_status_add_connection (EmberStatus *status, const char *peer_id,
                                                    const char *state);
EmberStatusDnsServer *ember_status_add_dns_server (EmberStatus *status, const char *ipv4,
                                                   const char *ipv6, const char *upstream);
/* A client with no resources yet (append ids to ->resources). */
EmberStatusClient *ember_status_add_client (EmberStatus *status, const char *id,
                                            guint64 authorizations);
/* Sets a string member (NULL stands for ""), freeing the old value. */
void ember_status_set (char **member, const char *value);

char *ember_status_to_json (const EmberStatus *status);
/* NULL with an error naming the member that is missing or of the wrong
 * type. */
EmberStatus *ember_status_from_json (const char *text, GError **error);

/* The path in `runtime_dir`; writes atomically (0644), creating the
 * directory (0755). */
char *ember_status_path (const char *runtime_dir);
gboolean ember_status_write (const EmberStatus *status, const char *path, GError **error);

/* The table `emberd --status` prints without --json. */
void ember_status_print (const EmberStatus *status, FILE *out);

G_END_DECLS
