/* udp — Ember's UDP socket: batched receive with GRO, GSO send queue.
 *
 * A thin I/O shell around gso_queue.c. Receive uses recvmmsg() with
 * UDP_GRO, so one slot may carry several datagrams of `segment_size`
 * bytes. Send goes through an EmberGsoQueue: ember_udp_socket_queue()
 * only copies; ember_udp_socket_flush() hands the batches to the kernel,
 * smallest segment size first (seed 002), each batch as one message with
 * UDP_SEGMENT, several batches per sendmmsg(). When the kernel refuses
 * GSO (EIO/EINVAL on a UDP_SEGMENT send) the socket falls back to plain
 * sendmmsg() for good, logged once. When the socket would block the
 * queue is kept and ember_udp_socket_wants_writable() turns TRUE; the
 * event loop watches the fd for G_IO_OUT and flushes again (seed 003).
 * Nothing is dropped except datagrams the kernel rejects for their
 * destination (unreachable, too big), which are counted and logged.
 *
 * Sockets are dual-stack where possible: binding to EMBER_ADDR_NONE or
 * the IPv6 any address opens one AF_INET6 socket with IPV6_V6ONLY off;
 * IPv4 peers then appear as plain IPv4 EmberAddr (v4-mapped addresses
 * are converted both ways).
 *
 * Owns the fd and the queue. Not thread-safe: one thread (the event
 * loop's) calls everything.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"

G_BEGIN_DECLS

typedef struct _EmberUdpSocket EmberUdpSocket;

typedef struct {
  guint64 datagrams_sent;
  guint64 send_syscalls;
  guint64 gso_batches;      /* messages sent with UDP_SEGMENT */
  guint64 datagrams_dropped;/* refused by the kernel for their destination */
  guint64 datagrams_received;
  guint64 recv_syscalls;
} EmberUdpStats;

/* Default number of pending GSO batch buffers (64 KiB each). */
#define EMBER_UDP_DEFAULT_QUEUE_BUFFERS 64

/* Opens a non-blocking socket bound to `bind_addr` (NULL or family NONE:
 * dual-stack any address, with port from bind_addr when given). */
EmberUdpSocket *ember_udp_socket_new (const EmberAddr *bind_addr, GError **error);
void ember_udp_socket_free (EmberUdpSocket *sock);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberUdpSocket, ember_udp_socket_free)

int ember_udp_socket_get_fd (const EmberUdpSocket *sock);
gboolean ember_udp_socket_get_local (const EmberUdpSocket *sock, EmberAddr *out,
                                     GError **error);

/* GSO on send; FALSE forces the plain sendmmsg() path (also what the
 * socket switches to by itself when the kernel refuses UDP_SEGMENT). */
void ember_udp_socket_set_gso (EmberUdpSocket *sock, gboolean enabled);
gboolean ember_udp_socket_get_gso (const EmberUdpSocket *sock);
/* GRO on receive. With GRO on, give recv slots of 65535 bytes: a smaller
 * slot that receives a coalesced train reports EMSGSIZE in its error. */
gboolean ember_udp_socket_set_gro (EmberUdpSocket *sock, gboolean enabled);

/* Receives up to `max` slots with one recvmmsg(). Returns how many were
 * filled (0: nothing ready), or -1 with error when the socket failed.
 * Each slot gets len, remote, local (when the kernel says) and
 * segment_size (non-zero when GRO coalesced several datagrams). */
gint ember_udp_socket_recv_many (EmberUdpSocket *sock, EmberPacket *batch, guint max,
                                 GError **error);

/* Copies one datagram into the send queue. Returns FALSE when the queue
 * is full (flush, and wait for writability if that returns PENDING) or
 * the datagram is empty or too large (error says which). */
gboolean ember_udp_socket_queue (EmberUdpSocket *sock, const EmberAddr *dst,
                                 const guint8 *data, gsize len, GError **error);

/* Sends what is queued. READY: the queue is empty. PENDING: the socket
 * would block; the rest stays queued and wants_writable() is TRUE.
 * ERROR: the socket failed as a whole. */
EmberPoll ember_udp_socket_flush (EmberUdpSocket *sock, GError **error);

gboolean ember_udp_socket_wants_writable (const EmberUdpSocket *sock);
guint ember_udp_socket_queued (const EmberUdpSocket *sock);
void ember_udp_socket_get_stats (const EmberUdpSocket *sock, EmberUdpStats *stats);

/* Conversions between EmberAddr and struct sockaddr_storage-compatible
 * memory (`sa` of `sa_len` bytes). to_sockaddr maps IPv4 to v4-mapped
 * IPv6 when `family` is AF_INET6. Return the length used, or 0. */
gsize ember_udp_addr_to_sockaddr (const EmberAddr *addr, int family, void *sa, gsize sa_len);
gboolean ember_udp_addr_from_sockaddr (const void *sa, gsize sa_len, EmberAddr *out);

G_END_DECLS
