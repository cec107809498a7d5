/* tunnel/client — the client tunnel (sans-IO).
 *
 * Which packet from the TUN goes to which gateway, and when a connection
 * is asked for. It owns:
 *   - the resources the portal announced, in a longest-prefix-match
 *     table (core/net): CIDR resources, the internet resource (0.0.0.0/0
 *     and ::/0, only while switched on) and the per-name proxy addresses
 *     the DNS work adds for dns resources;
 *   - per resource: its authorization (which gateway, until when) and a
 *     bounded queue of packets held while there is none (32, the oldest
 *     dropped and counted);
 *   - a node (tunnel/node.h): one connection per gateway, shared by every
 *     resource that gateway serves.
 *
 * Inputs: portal messages (portal/messages.h) with handle_portal(), TUN
 * packets with handle_tun(), datagrams with handle_datagram(), relay
 * events through the node, "my addresses changed" with
 * set_host_addresses(), time with handle_timeout(). Outputs, drained
 * after every input: poll_portal() (messages to send), poll_transmit()
 * (datagrams), poll_tun() (ICMP errors for the TUN), poll_event() (routes
 * to add and remove), the node's relay commands, poll_timeout().
 *
 * The rules both tunnels follow are in docs/tunnel.md: every
 * authorization goes through ember_tunnel_node_connect(), which keeps a
 * live connection running on the same credentials and restarts anything
 * else; withdrawing every candidate ends an ICE session (the side that
 * failed or roamed says so that way).
 *
 * No clock, no I/O, no allocation per packet; not thread-safe.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "ember-plugin-wg.h"
#include "net/cidr.h"
#include "portal/messages.h"
#include "tunnel/node.h"

G_BEGIN_DECLS

/* Packets held per resource while it has no usable connection. */
#define EMBER_CLIENT_HOLD_MAX 32
/* Held packets older than this are dropped (counted): what waits longer
 * is stale for any transport above. */
#define EMBER_CLIENT_HOLD_TIMEOUT_US (30 * G_TIME_SPAN_SECOND)
/* A request_authorization the portal did not answer is sent again. */
#define EMBER_CLIENT_REQUEST_TIMEOUT_US (10 * G_TIME_SPAN_SECOND)
/* After authorization_creation_failed, packets get ICMP for this long
 * before the next one asks again. */
#define EMBER_CLIENT_DENIED_BACKOFF_US (5 * G_TIME_SPAN_SECOND)
/* A failed connection is asked for again after this pause. */
#define EMBER_CLIENT_RESTART_BACKOFF_US (500 * G_TIME_SPAN_MILLISECOND)
/* A connection no resource uses any more is closed after this. */
#define EMBER_CLIENT_IDLE_CLOSE_US (60 * G_TIME_SPAN_SECOND)
/* ICMP errors to the TUN: a token bucket, this many per second, burst
 * as many. */
#define EMBER_CLIENT_ICMP_RATE 10
#define EMBER_CLIENT_ICMP_QUEUE 16

typedef struct _EmberClientTunnel EmberClientTunnel;

typedef struct {
  const EmberWgVtable *wg;   /* borrowed, outlives the tunnel */
  guint8 private_key[EMBER_WG_KEY_SIZE];
  EmberIceRng rng;           /* user_data outlives the tunnel */
  gint64 wall_us;            /* wall clock at `now` (WireGuard TAI64N) */
} EmberClientTunnelConfig;

typedef enum {
  EMBER_CLIENT_DATAGRAM = 0,  /* handle_tun: send buf[*off, *off+*len) as tx says */
  EMBER_CLIENT_PACKET,        /* handle_datagram: write buf[*off, *off+*len) to the TUN */
  EMBER_CLIENT_HELD,          /* handle_tun: queued until the connection is up */
  EMBER_CLIENT_REFUSED,       /* handle_tun: no resource / denied: an ICMP
                               * error is queued for poll_tun (rate permitting) */
  EMBER_CLIENT_DONE,          /* handle_datagram: consumed (control) */
  EMBER_CLIENT_DROPPED,       /* malformed, spoofed or unknown: counted */
} EmberClientResult;

typedef enum {
  /* The TUN's own addresses (from init): `addr` ipv4 and `addr6`. */
  EMBER_CLIENT_EVENT_INTERFACE = 1,
  /* Route `cidr` into the TUN / remove that route. */
  EMBER_CLIENT_EVENT_ROUTE_ADD,
  EMBER_CLIENT_EVENT_ROUTE_REMOVE,
  /* The portal sent `disconnect`: stop (reason in `disconnect`). */
  EMBER_CLIENT_EVENT_DISCONNECTED,
} EmberClientEventType;

typedef struct {
  EmberClientEventType type;
  EmberCidr cidr;
  EmberAddr addr, addr6;
  EmberPortalDisconnectReason disconnect;
} EmberClientEvent;

typedef struct {
  guint64 tun_packets, tun_refused, tun_dropped;
  guint64 held, held_dropped, held_expired, flushed;
  guint64 net_packets, net_spoofed;
  guint64 icmp_sent, icmp_suppressed;
  guint64 requests;
} EmberClientStats;

/* Resource state for status and tests. */
typedef enum {
  EMBER_CLIENT_AUTHZ_NONE = 0,
  EMBER_CLIENT_AUTHZ_REQUESTED,
  EMBER_CLIENT_AUTHZ_AUTHORIZED,
  EMBER_CLIENT_AUTHZ_DENIED,
} EmberClientAuthzState;

EmberClientTunnel *ember_client_tunnel_new (const EmberClientTunnelConfig *config, gint64 now,
                                            GError **error);
void ember_client_tunnel_free (EmberClientTunnel *tunnel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberClientTunnel, ember_client_tunnel_free)

/* The connection layer, for the relay shell (relay commands and events). */
EmberTunnelNode *ember_client_tunnel_get_node (EmberClientTunnel *tunnel);

/* ---- Control --------------------------------------------------------- */

/* A message from the portal (client channel). Messages of the gateway
 * channel or the client's own direction are ignored. */
void ember_client_tunnel_handle_portal (EmberClientTunnel *tunnel, gint64 now,
                                        const EmberPortalMessage *msg);
/* The next message for the portal, moved into *out (clear it with
 * ember_portal_message_clear). FALSE when none. */
gboolean ember_client_tunnel_poll_portal (EmberClientTunnel *tunnel, EmberPortalMessage *out);

/* Roaming: the machine's addresses (the UDP socket's port). When the set
 * changed every connection is restarted: it withdraws its candidates and
 * asks the portal again; held packets stay. */
void ember_client_tunnel_set_host_addresses (EmberClientTunnel *tunnel, gint64 now,
                                             const EmberAddr *addrs, guint n);
/* The internet resource's routes come and go with this (off at start). */
void ember_client_tunnel_set_internet_enabled (EmberClientTunnel *tunnel, gint64 now,
                                               gboolean enabled);
/* DNS hook: traffic to `addr` (a proxy address the DNS stub handed out
 * for a name of a dns resource) belongs to `resource_id`. FALSE when the
 * resource is unknown or not of type dns. Adds a host route. */
gboolean ember_client_tunnel_add_proxy_address (EmberClientTunnel *tunnel,
                                                const EmberPortalId *resource_id,
                                                const EmberAddr *addr);
void ember_client_tunnel_remove_proxy_address (EmberClientTunnel *tunnel, const EmberAddr *addr);
/* The same for both proxy addresses of `name` (either may be family
 * NONE): routes them, and the name goes to the gateway with the
 * resource's next request_authorization (dns_names), sent at once when
 * the resource is authorized or requested. A packet to a proxy address
 * waits (held) until a request carrying its name was answered, so the
 * gateway can translate it. FALSE when the resource is unknown or not of
 * type dns. */
gboolean ember_client_tunnel_add_proxy_name (EmberClientTunnel *tunnel, gint64 now,
                                             const EmberPortalId *resource_id, const char *name,
                                             const EmberAddr *addr4, const EmberAddr *addr6);

/* ---- Packets --------------------------------------------------------- */

/* An IP packet from the TUN at buf[*off, *off + *len), with
 * EMBER_WG_HEADROOM bytes before and EMBER_WG_TAILROOM after it. */
EmberClientResult ember_client_tunnel_handle_tun (EmberClientTunnel *tunnel, gint64 now,
                                                  guint8 *buf, gsize cap, gsize *off, gsize *len,
                                                  EmberTunnelTransmit *tx);
/* A datagram from the network (or a relay: `local` = relayed address). */
EmberClientResult ember_client_tunnel_handle_datagram (EmberClientTunnel *tunnel, gint64 now,
                                                       const EmberAddr *local,
                                                       const EmberAddr *remote, guint8 *buf,
                                                       gsize *off, gsize *len);
void ember_client_tunnel_handle_timeout (EmberClientTunnel *tunnel, gint64 now);

/* Next datagram into buf (cap ≥ EMBER_WG_TRANSMIT_MAX): control first,
 * then held packets of connections that came up, in order. It starts at
 * buf[0] and is tx->len long. */
gboolean ember_client_tunnel_poll_transmit (EmberClientTunnel *tunnel, gint64 now, guint8 *buf,
                                            gsize cap, EmberTunnelTransmit *tx);
/* Next packet for the TUN (an ICMP error); returns its length or 0. */
gsize ember_client_tunnel_poll_tun (EmberClientTunnel *tunnel, guint8 *buf, gsize cap);
gboolean ember_client_tunnel_poll_event (EmberClientTunnel *tunnel, EmberClientEvent *ev);
gint64 ember_client_tunnel_poll_timeout (EmberClientTunnel *tunnel);

/* ---- Status ----------------------------------------------------------- */

void ember_client_tunnel_get_stats (const EmberClientTunnel *tunnel, EmberClientStats *stats);
/* State of a resource's authorization and, when authorized, its gateway
 * (may be NULL). FALSE when the resource is unknown. */
gboolean ember_client_tunnel_get_resource (EmberClientTunnel *tunnel, const EmberPortalId *id,
                                           EmberClientAuthzState *state,
                                           EmberPortalId *gateway_id, guint *n_held);
const char *ember_client_result_to_string (EmberClientResult result);

G_END_DECLS
