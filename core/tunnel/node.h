/* tunnel/node — the connection layer the client and the gateway tunnels
 * share (sans-IO).
 *
 * A node is one side's data plane below policy: one WireGuard engine
 * (reached only through the `wg` plugin's EmberWgVtable), the set of
 * relays the portal announced and what is known about each (our
 * server-reflexive address as it sees us, the allocation, up or down),
 * the host addresses the shell listed, and one connection per peer.
 *
 * A connection (EmberTunnelConn) is one peer — a gateway for the client,
 * a client for the gateway — with its ICE agent (controlling on the
 * client, controlled on the gateway), its WireGuard peer in the engine,
 * the relay it sampled for its relayed candidates (seed 000: one per
 * connection) and the candidates it signalled. Its state:
 *
 *   CHECKING   ICE runs, nothing selected
 *   HANDSHAKE  a pair is nominated; the WireGuard handshake runs on it
 *   UP         a WireGuard session exists: data flows
 *   FAILED     ICE failed or the handshake gave up; the owner restarts
 *              it (ember_tunnel_node_connect again) or closes it
 *
 * Relays, sans-IO: the node never holds a TURN client. It says what it
 * needs through relay commands (poll_relay_command: the relay set,
 * "allocate on this relay", "install this peer") and learns what
 * happened through relay events (handle_relay_event, the
 * EmberRelayEvent of ember-plugin-relay.h). In emberd both map one to
 * one onto turn.so's EmberRelayControl; in the simulator onto sans-IO
 * TURN clients (plugins/relay/client). Datagrams through a relay cross
 * the node's boundary with the relayed address as the local side:
 * poll_transmit's `from` is the relayed address to send through, and a
 * datagram a relay delivered is fed with `local` = that relayed
 * address (exactly what turn.so's poll_recv_many reports).
 *
 * Packets: nothing is allocated per packet. encapsulate() encrypts in
 * the caller's buffer (EMBER_WG_HEADROOM before, EMBER_WG_TAILROOM after
 * the IP packet) and says where to send it; handle_input() decrypts in
 * place and says whose packet it is. Everything else (ICE checks,
 * handshakes, keepalives) is drained with poll_transmit() — control
 * before data (seed 002).
 *
 * Node events (connection state, candidates to signal) are for the
 * machine that owns the node (client.c, gateway.c), which drains them
 * after each call; relay commands are for the I/O shell.
 *
 * No clock, no sockets, no GLib main loop; randomness comes from the
 * injected RNG. Not thread-safe: one thread at a time per node.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "ember-plugin-relay.h"
#include "ember-plugin-wg.h"
#include "ice/agent.h"
#include "ice/candidate.h"

G_BEGIN_DECLS

/* Portal identifiers (UUIDs in practice) of gateways, clients, relays,
 * resources: at most this many bytes, NUL included. */
#define EMBER_TUNNEL_ID_MAX 64
#define EMBER_TUNNEL_MAX_RELAYS 16
#define EMBER_TUNNEL_MAX_HOST_ADDRS 8
#define EMBER_TUNNEL_CREDENTIAL_MAX 256
#define EMBER_TUNNEL_MAX_EVENTS 256
#define EMBER_TUNNEL_MAX_RELAY_COMMANDS 128
/* A WireGuard session completed this recently is the peer's too: a new
 * ICE session on the client starts no new handshake then (WireGuard's
 * REKEY_TIMEOUT, whitepaper §6.1, which also rate-limits initiations). */
#define EMBER_TUNNEL_FRESH_SESSION_US (5 * G_TIME_SPAN_SECOND)

typedef struct _EmberTunnelNode EmberTunnelNode;
typedef struct _EmberTunnelConn EmberTunnelConn;

typedef struct {
  /* The WireGuard engine's ABI: the in-tree `wg` plugin's vtable (from
   * the loader), or a table of the engine's functions (tests). Borrowed:
   * it must outlive the node. */
  const EmberWgVtable *wg;
  guint8 private_key[EMBER_WG_KEY_SIZE];
  /* Controlling for the client, controlled for the gateway. */
  EmberIceRole role;
  /* Every random draw (ICE credentials, relay sampling, WireGuard
   * ephemerals) comes from here; user_data must outlive the node. */
  EmberIceRng rng;
  /* The wall clock (Unix µs) at `now`, for WireGuard's TAI64N. */
  gint64 wall_us;
} EmberTunnelNodeConfig;

/* A relay as the portal announces it (init, relays_presence). */
typedef struct {
  char id[EMBER_TUNNEL_ID_MAX];
  EmberAddr addr;  /* its UDP address */
  char username[EMBER_TUNNEL_CREDENTIAL_MAX];
  char password[EMBER_TUNNEL_CREDENTIAL_MAX];
} EmberTunnelRelay;

/* ---- Relay commands (node -> shell) ------------------------------------ */

typedef enum {
  /* The relay set changed: read it with ember_tunnel_node_get_relays()
   * and pass it on (turn.so: set_relays). Relays that left are gone;
   * one whose credentials changed has rebooted. */
  EMBER_TUNNEL_RELAY_SET = 1,
  /* A connection sampled `relay`: allocate on it (idempotent). */
  EMBER_TUNNEL_RELAY_ALLOCATE,
  /* Install a permission and channel for `peer` on the allocation of
   * `relayed` (sending does it too; this saves a round trip). */
  EMBER_TUNNEL_RELAY_ADD_PEER,
} EmberTunnelRelayCommandType;

typedef struct {
  EmberTunnelRelayCommandType type;
  EmberAddr relay;    /* ALLOCATE */
  EmberAddr relayed;  /* ADD_PEER */
  EmberAddr peer;     /* ADD_PEER */
} EmberTunnelRelayCommand;

/* ---- Node events (node -> the owning machine) -------------------------- */

typedef enum {
  EMBER_TUNNEL_CONN_CHECKING = 0,
  EMBER_TUNNEL_CONN_HANDSHAKE,
  EMBER_TUNNEL_CONN_UP,
  EMBER_TUNNEL_CONN_FAILED,
} EmberTunnelConnState;

typedef enum {
  /* Signal `candidate` to the peer through the portal. */
  EMBER_TUNNEL_NODE_EVENT_CANDIDATE = 1,
  /* Tell the peer (through the portal) to drop `candidate`. */
  EMBER_TUNNEL_NODE_EVENT_INVALIDATE_CANDIDATE,
  /* The connection's state changed to `state` (`reason` for FAILED). */
  EMBER_TUNNEL_NODE_EVENT_STATE,
} EmberTunnelNodeEventType;

typedef struct {
  EmberTunnelNodeEventType type;
  char peer_id[EMBER_TUNNEL_ID_MAX];
  /* Which connect() of that peer this belongs to: events of a
   * connection restarted since are stale and can be told apart. */
  guint generation;
  EmberIceCandidate candidate;
  EmberTunnelConnState state;
  const char *reason;  /* static */
} EmberTunnelNodeEvent;

/* ---- Connections --------------------------------------------------------- */

typedef struct {
  char peer_id[EMBER_TUNNEL_ID_MAX];
  guint8 public_key[EMBER_WG_KEY_SIZE];
  gboolean has_preshared_key;
  guint8 preshared_key[EMBER_WG_KEY_SIZE];
  /* ICE credentials from the portal. Local ones may be empty: the agent
   * draws its own (then signal them). Remote ones are required. */
  char local_ufrag[EMBER_ICE_UFRAG_MAX + 1];
  char local_pwd[EMBER_ICE_PWD_MAX + 1];
  char remote_ufrag[EMBER_ICE_UFRAG_MAX + 1];
  char remote_pwd[EMBER_ICE_PWD_MAX + 1];
} EmberTunnelConnConfig;

/* What a datagram or packet turned out to be. */
typedef enum {
  EMBER_TUNNEL_DONE = 0,       /* consumed (STUN, handshake, keepalive);
                                * drain poll_transmit() */
  EMBER_TUNNEL_PACKET = 1,     /* handle_input: an IP packet decrypted in
                                * place, from *conn_out */
  EMBER_TUNNEL_DATAGRAM = 2,   /* encapsulate: send buf[off, off+len)
                                * from tx->from to tx->to */
  EMBER_TUNNEL_NOT_READY = 3,  /* encapsulate: no path or no session yet */
  EMBER_TUNNEL_DROPPED = -1,   /* bad, unknown or unauthenticated input */
} EmberTunnelResult;

/* One datagram to send: from a host address (the socket bound there) or
 * from a relayed address (through the relay owning it), to `to`. */
typedef struct {
  EmberAddr from;
  EmberAddr to;
  gsize len;
} EmberTunnelTransmit;

typedef struct {
  guint64 stun_in, wg_in, dropped_in;
  guint64 packets_in, packets_out;
  guint64 not_ready;
} EmberTunnelNodeStats;

/* NULL with an error when the WireGuard engine refuses the key. */
EmberTunnelNode *ember_tunnel_node_new (const EmberTunnelNodeConfig *config, gint64 now,
                                        GError **error);
void ember_tunnel_node_free (EmberTunnelNode *node);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberTunnelNode, ember_tunnel_node_free)

void ember_tunnel_node_get_public_key (EmberTunnelNode *node, guint8 out[EMBER_WG_KEY_SIZE]);
/* Tells the engine the wall clock again (after a suspend, a step). */
void ember_tunnel_node_set_wall_clock (EmberTunnelNode *node, gint64 now, gint64 wall_us);

/* The machine's addresses (the shell lists its interfaces; ports are the
 * UDP socket's). Filtered as host candidates (ember_ice_filter_host_addresses),
 * `exclude` being the tunnel's own addresses. Returns TRUE when the
 * usable set changed: the owner then restarts its connections (roaming).
 * Connections created later gather from the new set. */
gboolean ember_tunnel_node_set_host_addresses (EmberTunnelNode *node, const EmberAddr *addrs,
                                               guint n, const EmberAddr *exclude,
                                               guint n_exclude);

/* ---- Relays ---------------------------------------------------------- */

/* The portal's relays_presence: relays named in `disconnected_ids` go
 * (their relayed candidates are invalidated on every connection), those
 * in `connected` are added or, known already, take the new address and
 * credentials (changed credentials = a rebooted relay). Emits
 * EMBER_TUNNEL_RELAY_SET when anything changed. `replace_all`: the list
 * is the whole set (init), relays not in it go too. */
void ember_tunnel_node_update_relays (EmberTunnelNode *node, gint64 now,
                                      const char *const *disconnected_ids, guint n_disconnected,
                                      const EmberTunnelRelay *connected, guint n_connected,
                                      gboolean replace_all);
/* The current set for the shell (strings point into the node, valid
 * until the next update_relays). Returns how many were written. */
guint ember_tunnel_node_get_relays (const EmberTunnelNode *node, EmberRelaySpec *out, guint max);
/* What a relay (through turn.so or a TURN client) reported. */
void ember_tunnel_node_handle_relay_event (EmberTunnelNode *node, gint64 now,
                                           const EmberRelayEvent *ev);
gboolean ember_tunnel_node_poll_relay_command (EmberTunnelNode *node,
                                               EmberTunnelRelayCommand *cmd);

/* ---- Connections ------------------------------------------------------ */

/* Creates the connection to cfg->peer_id, or, when it exists:
 *   - keeps it as it is when it is not FAILED and cfg names the same
 *     ICE credentials (all four), WireGuard key and PSK: the portal
 *     handed out the credentials of the session already running (the
 *     client listed this peer as connected) — rule 2 of docs/tunnel.md;
 *   - restarts it otherwise: a new ICE agent (these credentials, a new
 *     relay sample, fresh candidates) and, when the key and PSK did not
 *     change, the same WireGuard peer (its session survives: WireGuard
 *     roams).
 * Returns the connection, NULL with an error for bad credentials or a
 * key the engine refuses. Callers decide nothing themselves: both sides
 * calling connect() for every authorization keeps them in step. */
EmberTunnelConn *ember_tunnel_node_connect (EmberTunnelNode *node, gint64 now,
                                            const EmberTunnelConnConfig *cfg, GError **error);
EmberTunnelConn *ember_tunnel_node_lookup (EmberTunnelNode *node, const char *peer_id);
/* Ends the connection's ICE session at once (roaming, policy): FAILED,
 * its candidates withdrawn from the peer, the agent dropped; the
 * WireGuard peer stays for a restart by connect(). */
void ember_tunnel_node_fail (EmberTunnelNode *node, EmberTunnelConn *conn, gint64 now,
                             const char *reason);
/* Removes the connection, its WireGuard peer and its agent; its
 * candidates are withdrawn from the peer unless it had failed. */
void ember_tunnel_node_close (EmberTunnelNode *node, EmberTunnelConn *conn);
guint ember_tunnel_node_get_n_conns (const EmberTunnelNode *node);
/* Visits every connection (do not close inside). */
void ember_tunnel_node_foreach (EmberTunnelNode *node,
                                void (*func) (EmberTunnelConn *conn, gpointer user_data),
                                gpointer user_data);

/* A candidate the peer signalled. FALSE with an error when the agent
 * refuses it (after nomination: seed 000; duplicates; limits). */
gboolean ember_tunnel_conn_add_remote_candidate (EmberTunnelNode *node, EmberTunnelConn *conn,
                                                 gint64 now, const EmberIceCandidate *candidate,
                                                 GError **error);
/* The peer withdrew the candidate at candidate->addr. When that was the
 * last one it had signalled, the session is over: FAILED (docs/tunnel.md). */
gboolean ember_tunnel_conn_invalidate_remote_candidate (EmberTunnelNode *node,
                                                        EmberTunnelConn *conn, gint64 now,
                                                        const EmberIceCandidate *candidate);

const char *ember_tunnel_conn_get_peer_id (const EmberTunnelConn *conn);
EmberTunnelConnState ember_tunnel_conn_get_state (const EmberTunnelConn *conn);
guint ember_tunnel_conn_get_generation (const EmberTunnelConn *conn);
/* The peer's WireGuard public key; FALSE if it has no peer. */
gboolean ember_tunnel_conn_get_public_key (const EmberTunnelConn *conn,
                                           guint8 out[EMBER_WG_KEY_SIZE]);
const char *ember_tunnel_conn_get_local_ufrag (const EmberTunnelConn *conn);
const char *ember_tunnel_conn_get_local_pwd (const EmberTunnelConn *conn);
/* The selected pair while HANDSHAKE or UP. */
gboolean ember_tunnel_conn_get_selected (const EmberTunnelConn *conn, EmberIceCandidate *local,
                                         EmberIceCandidate *remote);
/* The WireGuard peer's counters and last handshake (status); FALSE when
 * the connection has no WireGuard peer. */
gboolean ember_tunnel_conn_get_wg_stats (const EmberTunnelNode *node, const EmberTunnelConn *conn,
                                         EmberWgPeerStats *stats);
/* When data last arrived from / was sent to the peer (0: never). */
gint64 ember_tunnel_conn_get_last_rx (const EmberTunnelConn *conn);
gint64 ember_tunnel_conn_get_last_tx (const EmberTunnelConn *conn);
/* The owner's per-peer state (not freed by the node). */
void ember_tunnel_conn_set_user_data (EmberTunnelConn *conn, gpointer user_data);
gpointer ember_tunnel_conn_get_user_data (const EmberTunnelConn *conn);

/* ---- Packets ------------------------------------------------------------ */

/* Encrypts the IP packet at buf[*off, *off + *len) for `conn` in place
 * (EMBER_WG_HEADROOM bytes must precede it, EMBER_WG_TAILROOM follow).
 * DATAGRAM: send buf[*off, *off + *len) as tx says. NOT_READY: no pair
 * selected, or no session yet (the packet was not taken: keep it).
 * DROPPED: the engine refused it. */
EmberTunnelResult ember_tunnel_node_encapsulate (EmberTunnelNode *node, EmberTunnelConn *conn,
                                                 gint64 now, guint8 *buf, gsize cap, gsize *off,
                                                 gsize *len, EmberTunnelTransmit *tx);
/* A datagram that arrived on `local` (our socket address, or the relayed
 * address a relay delivered it through) from `remote`. STUN goes to the
 * agent it belongs to; WireGuard to the engine. PACKET: the decrypted IP
 * packet is at buf[*off, *off + *len) and *conn_out says whose. */
EmberTunnelResult ember_tunnel_node_handle_input (EmberTunnelNode *node, gint64 now,
                                                  const EmberAddr *local, const EmberAddr *remote,
                                                  guint8 *buf, gsize *off, gsize *len,
                                                  EmberTunnelConn **conn_out);
void ember_tunnel_node_handle_timeout (EmberTunnelNode *node, gint64 now);

/* Next control datagram (ICE check, handshake, keepalive, staged data)
 * into buf (cap ≥ EMBER_WG_TRANSMIT_MAX); FALSE when none. */
gboolean ember_tunnel_node_poll_transmit (EmberTunnelNode *node, gint64 now, guint8 *buf,
                                          gsize cap, EmberTunnelTransmit *tx);
gint64 ember_tunnel_node_poll_timeout (EmberTunnelNode *node);
gboolean ember_tunnel_node_poll_event (EmberTunnelNode *node, EmberTunnelNodeEvent *ev);

void ember_tunnel_node_get_stats (const EmberTunnelNode *node, EmberTunnelNodeStats *stats);
const char *ember_tunnel_conn_state_to_string (EmberTunnelConnState state);

G_END_DECLS
