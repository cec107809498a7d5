/* dns/tcp — DNS over TCP to the sentinels, on the TUN (sans-IO).
 *
 * Applications retry a truncated answer over TCP (RFC 7766), and some ask
 * over TCP from the start. The sentinels live on the TUN, where packets
 * arrive as IP packets and no kernel TCP stack answers them, so this is
 * the smallest TCP that serves DNS (RFC 9293's server side, passive open
 * only): SYN answered with SYN-ACK, in-order data acknowledged and cut
 * into DNS messages by their 2-byte length (RFC 1035 §4.2.2), answers sent
 * back as segments of at most 1200 bytes, FIN answered with FIN, RST and
 * idle connections forgotten. Out-of-order data is acknowledged with the
 * expected sequence and dropped (the client sends it again); nothing is
 * retransmitted, because the TUN is a local device that queues rather
 * than loses. The stub (stub.h) sees each message as a query with
 * transport TCP and this connection's stream id.
 *
 * Inputs: handle_segment() (a parsed TCP packet to a sentinel's port 53),
 * send() (an answer for a stream), handle_timeout(). Outputs:
 * poll_message() (queries), poll_packet() (IP packets for the TUN),
 * poll_timeout().
 *
 * No clock, no I/O, randomness only from the injected RNG (initial
 * sequence numbers); not thread-safe.
 */
#pragma once

#include <glib.h>

#include "dns/stub.h"
#include "ice/candidate.h"
#include "packet/packet.h"

G_BEGIN_DECLS

/* Connections at once; a SYN beyond gets RST. */
#define EMBER_DNS_TCP_CONNS_MAX 64
/* A connection quiet this long is forgotten (RFC 7766 §6.2.3 suggests
 * closing idle ones after seconds). */
#define EMBER_DNS_TCP_IDLE_US (10 * G_TIME_SPAN_SECOND)
/* Payload bytes per segment: fits the 1280-byte TUN with IPv6 and TCP
 * headers. */
#define EMBER_DNS_TCP_SEGMENT 1200
/* Segments waiting for poll_packet; beyond, new ones are dropped. */
#define EMBER_DNS_TCP_QUEUE_MAX 1024

typedef struct _EmberDnsTcp EmberDnsTcp;

typedef struct {
  guint64 segments, conns, resets_sent, messages, answers, answers_lost, dropped;
} EmberDnsTcpStats;

/* `rng` is copied; its user_data must outlive the responder. */
EmberDnsTcp *ember_dns_tcp_new (const EmberIceRng *rng);
void ember_dns_tcp_free (EmberDnsTcp *tcp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberDnsTcp, ember_dns_tcp_free)

/* A TCP segment from an application to a sentinel (the caller checked
 * the destination). Malformed ones are dropped (counted). */
void ember_dns_tcp_handle_segment (EmberDnsTcp *tcp, gint64 now, const EmberIpPacket *pkt);
/* The next whole DNS message received (without its length prefix) into
 * buf: its length, and *asker (transport TCP, the connection's stream
 * id, the client and sentinel addresses); 0 when none. */
gsize ember_dns_tcp_poll_message (EmberDnsTcp *tcp, guint8 *buf, gsize cap,
                                  EmberDnsAsker *asker);
/* An answer for `stream`: queued as segments. FALSE when the connection
 * is gone (counted). */
gboolean ember_dns_tcp_send (EmberDnsTcp *tcp, gint64 now, guint64 stream, const guint8 *msg,
                             gsize len);
/* The next IP packet for the TUN into buf (cap ≥ EMBER_PACKET_MTU); its
 * length, or 0. */
gsize ember_dns_tcp_poll_packet (EmberDnsTcp *tcp, guint8 *buf, gsize cap);
void ember_dns_tcp_handle_timeout (EmberDnsTcp *tcp, gint64 now);
gint64 ember_dns_tcp_poll_timeout (const EmberDnsTcp *tcp);
void ember_dns_tcp_get_stats (const EmberDnsTcp *tcp, EmberDnsTcpStats *stats);
guint ember_dns_tcp_n_conns (const EmberDnsTcp *tcp);

G_END_DECLS
