/* tunnel/gateway — the gateway tunnel (sans-IO).
 *
 * What a gateway lets through, and to whom it is connected. It owns:
 *   - the policy (gateway-policy.h): the authorizations the portal
 *     granted and the check every packet passes;
 *   - a node (tunnel/node.h): one connection per authorized client, ICE
 *     controlled, a WireGuard peer with the client's key and PSK.
 *
 * Inputs: portal messages (portal/messages.h, gateway channel) with
 * handle_portal(), datagrams with handle_datagram(), packets from the
 * resource network (the gateway's TUN) with handle_tun(), relay events
 * through the node, host addresses with set_host_addresses(), time with
 * handle_timeout(). Outputs, drained after every input: poll_portal()
 * (authorization_created, candidates), poll_transmit() (datagrams: ICE,
 * handshakes, ICMP prohibited answers to clients), poll_event() (clients
 * connected / disconnected), the node's relay commands, poll_timeout().
 *
 * The rules both tunnels follow are in docs/tunnel.md (a connected
 * connection is reused, a CHECKING or FAILED one restarts with the new
 * credentials; authorization_created goes out before the candidates of a
 * connection it started; the client restarts after a failure, the
 * gateway does not). The policy's rules are in docs/gateway.md.
 *
 * No clock (the wall clock at `now` comes in the config and
 * set_wall_clock, for the portal's expires_at), no I/O, no allocation
 * per packet; not thread-safe.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "ember-plugin-wg.h"
#include "dns/translate.h"
#include "portal/messages.h"
#include "tunnel/gateway-policy.h"
#include "tunnel/node.h"

G_BEGIN_DECLS

typedef struct _EmberGatewayTunnel EmberGatewayTunnel;

typedef struct {
  const EmberWgVtable *wg;   /* borrowed, outlives the tunnel */
  guint8 private_key[EMBER_WG_KEY_SIZE];
  EmberIceRng rng;           /* user_data outlives the tunnel */
  gint64 wall_us;            /* wall clock (Unix µs) at `now` */
} EmberGatewayTunnelConfig;

typedef enum {
  EMBER_GATEWAY_TO_NETWORK = 0, /* handle_datagram: write buf[*off, *off+*len) to the TUN */
  EMBER_GATEWAY_DATAGRAM,       /* handle_tun: send buf[*off, *off+*len) as tx says */
  EMBER_GATEWAY_DONE,           /* handle_datagram: consumed (STUN, handshake, keepalive) */
  EMBER_GATEWAY_REFUSED,        /* the policy refused it: counted by reason, an
                                 * ICMP answer may be queued (poll_transmit) */
  EMBER_GATEWAY_NOT_READY,      /* handle_tun: the client's connection has no session */
  EMBER_GATEWAY_DROPPED,        /* malformed, unknown peer, unauthenticated */
} EmberGatewayResult;

typedef enum {
  /* A client's connection came up (a WireGuard session exists). */
  EMBER_GATEWAY_EVENT_CLIENT_UP = 1,
  /* A client lost its last authorization; its connection is closed.
   * `reason`: "expired", "rejected", "not listed", "address reassigned". */
  EMBER_GATEWAY_EVENT_CLIENT_GONE,
  /* The portal sent `disconnect`: stop (`disconnect` says why). */
  EMBER_GATEWAY_EVENT_DISCONNECTED,
} EmberGatewayTunnelEventType;

typedef struct {
  EmberGatewayTunnelEventType type;
  EmberPortalId client_id;
  const char *reason;                     /* static */
  EmberPortalDisconnectReason disconnect;
} EmberGatewayTunnelEvent;

typedef struct {
  guint64 to_network, to_clients;
  guint64 refused_from_clients, refused_from_network;
  guint64 not_ready, dropped;
  guint64 portal_errors;   /* messages the policy or node refused */
} EmberGatewayTunnelStats;

EmberGatewayTunnel *ember_gateway_tunnel_new (const EmberGatewayTunnelConfig *config, gint64 now,
                                              GError **error);
void ember_gateway_tunnel_free (EmberGatewayTunnel *tunnel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberGatewayTunnel, ember_gateway_tunnel_free)

/* The connection layer (relay commands and events, public key). */
EmberTunnelNode *ember_gateway_tunnel_get_node (EmberGatewayTunnel *tunnel);
/* The policy (counters, the DNS hook set_resolved_addresses). */
EmberGatewayPolicy *ember_gateway_tunnel_get_policy (EmberGatewayTunnel *tunnel);
/* The wall clock (Unix µs) at `now` again (after a step or suspend). */
void ember_gateway_tunnel_set_wall_clock (EmberGatewayTunnel *tunnel, gint64 now, gint64 wall_us);

/* ---- Control --------------------------------------------------------- */

/* A message from the portal (gateway channel). Messages of the client
 * channel or the gateway's own direction are ignored; one the policy
 * refuses (a bad field) is counted and logged, the rest go on. */
void ember_gateway_tunnel_handle_portal (EmberGatewayTunnel *tunnel, gint64 now,
                                         const EmberPortalMessage *msg);
/* The next message for the portal, moved into *out (clear it with
 * ember_portal_message_clear). FALSE when none. */
gboolean ember_gateway_tunnel_poll_portal (EmberGatewayTunnel *tunnel, EmberPortalMessage *out);
/* The machine's addresses (the UDP socket's port) for host candidates. */
void ember_gateway_tunnel_set_host_addresses (EmberGatewayTunnel *tunnel, gint64 now,
                                              const EmberAddr *addrs, guint n);

/* ---- Packets --------------------------------------------------------- */

/* A datagram from the network (or a relay: `local` = relayed address).
 * TO_NETWORK: the decrypted packet passed the policy. */
EmberGatewayResult ember_gateway_tunnel_handle_datagram (EmberGatewayTunnel *tunnel, gint64 now,
                                                         const EmberAddr *local,
                                                         const EmberAddr *remote, guint8 *buf,
                                                         gsize *off, gsize *len);
/* A packet from the resource network at buf[*off, *off + *len), with
 * EMBER_WG_HEADROOM bytes before and EMBER_WG_TAILROOM after it. */
EmberGatewayResult ember_gateway_tunnel_handle_tun (EmberGatewayTunnel *tunnel, gint64 now,
                                                    guint8 *buf, gsize cap, gsize *off,
                                                    gsize *len, EmberTunnelTransmit *tx);
void ember_gateway_tunnel_handle_timeout (EmberGatewayTunnel *tunnel, gint64 now);

/* The DNS translator of proxy addresses (dns/translate.h): the shell
 * moves its queries to the DNS upstream plugin and the answers back
 * (poll_query, handle_answer, handle_error), then drains the tunnel. */
EmberDnsTranslator *ember_gateway_tunnel_get_translator (EmberGatewayTunnel *tunnel);
/* The next packet for the resource network that is not the answer to an
 * input: one the translator held while it looked its name up, now
 * translated and checked by the policy. Its length, or 0. */
gsize ember_gateway_tunnel_poll_network (EmberGatewayTunnel *tunnel, gint64 now, guint8 *buf,
                                         gsize cap);

/* Next datagram into buf (cap ≥ EMBER_WG_TRANSMIT_MAX): control first,
 * then ICMP answers to clients. It starts at buf[0], tx->len long. */
gboolean ember_gateway_tunnel_poll_transmit (EmberGatewayTunnel *tunnel, gint64 now, guint8 *buf,
                                             gsize cap, EmberTunnelTransmit *tx);
gboolean ember_gateway_tunnel_poll_event (EmberGatewayTunnel *tunnel,
                                          EmberGatewayTunnelEvent *ev);
gint64 ember_gateway_tunnel_poll_timeout (EmberGatewayTunnel *tunnel);

void ember_gateway_tunnel_get_stats (const EmberGatewayTunnel *tunnel,
                                     EmberGatewayTunnelStats *stats);
/* Whether the connection to `client_id` exists and is UP. */
gboolean ember_gateway_tunnel_client_up (EmberGatewayTunnel *tunnel, const char *client_id);
const char *ember_gateway_result_to_string (EmberGatewayResult result);

G_END_DECLS
