/* tunnel/binding — the server-reflexive address of the ICE socket
 * (sans-IO STUN Binding client, RFC 8489).
 *
 * ICE needs the public address of the socket its checks and WireGuard
 * use. The relays are STUN servers; this machine sends a Binding
 * request from that socket to each of them, retransmits it, reads the
 * XOR-MAPPED-ADDRESS of the answer and says when the mapping a server
 * sees is new or changed. The refresh every EMBER_BINDING_REFRESH_US
 * also keeps the NAT's mapping alive while no peer talks to us.
 * (turn.so learns a mapping too, but of its own socket: docs/tunnel.md.)
 *
 * The caller owns the socket: it feeds every STUN datagram that came in
 * on it (handle_input says whether it was one of our answers, which
 * then must not reach the ICE agent or WireGuard), drains
 * poll_transmit() and poll_event() after every call, and calls
 * handle_timeout() at poll_timeout(). Answers are taken only from a
 * server we asked, with the transaction id of its current request;
 * anything else is left to the caller.
 *
 * No clock, no socket, no allocation after new(); transaction ids come
 * from the injected RNG. One thread at a time per object.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "ice/candidate.h"
#include "stun/wire.h"

G_BEGIN_DECLS

/* Servers at once: the node's relay limit (core/tunnel/node.h). */
#define EMBER_BINDING_MAX_SERVERS 16
/* RFC 8489 §6.2.1: a doubling RTO from 500 ms. Five sends (0, 0.5, 1.5,
 * 3.5 and 7.5 s) and a last wait of one capped RTO: a request is given
 * up 11.5 s after it was first sent, well inside the refresh period, so
 * one server never has two requests out. */
#define EMBER_BINDING_RTO_US (500 * G_TIME_SPAN_MILLISECOND)
#define EMBER_BINDING_RTO_MAX_US (4 * G_TIME_SPAN_SECOND)
#define EMBER_BINDING_MAX_SENDS 5
/* A new Binding after an answer: 25 s keeps the UDP mapping of NATs
 * that forget after 30 s (RFC 4787 REQ-5 asks for at least 2 min; many
 * home routers use 30 s) and notices a changed mapping. */
#define EMBER_BINDING_REFRESH_US (25 * G_TIME_SPAN_SECOND)
/* After a request that got no usable answer. */
#define EMBER_BINDING_RETRY_US (5 * G_TIME_SPAN_SECOND)
/* Request size: header, SOFTWARE-free, FINGERPRINT (RFC 8489 §14.7). */
#define EMBER_BINDING_REQUEST_LEN (EMBER_STUN_HEADER_LEN + EMBER_STUN_ATTR_HEADER_LEN \
                                   + EMBER_STUN_FINGERPRINT_LEN)
#define EMBER_BINDING_MAX_EVENTS (2 * EMBER_BINDING_MAX_SERVERS)

typedef struct _EmberTunnelBinding EmberTunnelBinding;

/* The mapping `server` sees is `addr`; `old` is the one it reported
 * before (unset the first time). */
typedef struct {
  EmberAddr server;
  EmberAddr addr;
  EmberAddr old;
} EmberTunnelBindingEvent;

typedef struct {
  guint64 requests;        /* sends, retransmissions included */
  guint64 answers;         /* answers taken */
  guint64 ignored;         /* STUN from a server we asked, not an answer we take */
  guint64 failures;        /* requests given up or answered with an error */
  guint64 events_dropped;  /* events lost to a full queue */
} EmberTunnelBindingStats;

EmberTunnelBinding *ember_tunnel_binding_new (const EmberIceRng *rng);
void ember_tunnel_binding_free (EmberTunnelBinding *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberTunnelBinding, ember_tunnel_binding_free)

/* The STUN servers (UDP addresses; duplicates and unset ones skipped,
 * at most EMBER_BINDING_MAX_SERVERS). A server already in the set keeps
 * its mapping and schedule; a new one is asked at once; one no longer
 * listed is forgotten (its answers are then ignored). */
void ember_tunnel_binding_set_servers (EmberTunnelBinding *b, gint64 now,
                                       const EmberAddr *servers, guint n);
/* Asks every server again now (the host's addresses changed: the
 * mappings may have too). */
void ember_tunnel_binding_refresh (EmberTunnelBinding *b, gint64 now);

/* One datagram that arrived on the socket from `from`. TRUE when it is
 * a Binding answer to one of our requests from that server (consumed:
 * keep it from ICE and WireGuard); FALSE for anything else. */
gboolean ember_tunnel_binding_handle_input (EmberTunnelBinding *b, gint64 now,
                                            const EmberAddr *from, const guint8 *buf,
                                            gsize len);
void ember_tunnel_binding_handle_timeout (EmberTunnelBinding *b, gint64 now);

/* Next request to send: its length (0 when none) written to buf, and
 * its destination in *to. buf must hold EMBER_BINDING_REQUEST_LEN. */
gsize ember_tunnel_binding_poll_transmit (EmberTunnelBinding *b, guint8 *buf, gsize cap,
                                          EmberAddr *to);
/* Absolute deadline for handle_timeout(), G_MAXINT64 when none. */
gint64 ember_tunnel_binding_poll_timeout (const EmberTunnelBinding *b);
gboolean ember_tunnel_binding_poll_event (EmberTunnelBinding *b, EmberTunnelBindingEvent *ev);

/* The mapping `server` last reported; FALSE when none (yet). */
gboolean ember_tunnel_binding_get_mapping (const EmberTunnelBinding *b, const EmberAddr *server,
                                           EmberAddr *mapped);
void ember_tunnel_binding_get_stats (const EmberTunnelBinding *b, EmberTunnelBindingStats *stats);

G_END_DECLS
