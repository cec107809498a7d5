/* relay-io — ember-relay's data plane (see relay-io.c): sockets, batched
 * I/O and the thread that runs the server core. The program (relay.c)
 * parses options, builds the core, opens the listeners and hands them
 * over. */
#pragma once

#include <glib.h>
#include "server.h"
#include "metrics.h"

G_BEGIN_DECLS

#define EMBER_RELAY_IO_MAX_LISTENERS 8

typedef struct _EmberRelayIo EmberRelayIo;

/* A non-blocking UDP socket bound to `bind_addr` (IPv6: v6-only) with
 * the given receive and send buffer sizes, or -1 and error. */
int ember_relay_io_open_udp (const EmberAddr *bind_addr, int rcvbuf, int sndbuf, GError **error);

/* `server` stays the caller's and must outlive the shell. Allocation
 * sockets get `alloc_sndbuf` bytes of send buffer; `gso` FALSE never
 * builds UDP_SEGMENT trains. */
EmberRelayIo *ember_relay_io_new (EmberRelayServer *server, int alloc_sndbuf, gboolean gso);
/* Takes `fd`; its index (0, 1, ...) is the listener number the core
 * sees. */
gboolean ember_relay_io_add_listener (EmberRelayIo *io, int fd, guint8 family, GError **error);
/* Allocation sockets of `addr`'s family bind to its IP (the port is
 * ignored) instead of the wildcard address (before start). The program
 * passes the announced relayed address when it is one of this host's:
 * bound to the wildcard, a socket sends from whatever address the route
 * to the peer prefers, which on a host with several addresses is not the
 * XOR-RELAYED-ADDRESS the peer was told, and the peer's permission, its
 * NAT and ICE's symmetric-response check (RFC 8445 §7.2.5.2.1) all refuse
 * datagrams from elsewhere. */
void ember_relay_io_set_relayed_address (EmberRelayIo *io, const EmberAddr *addr);
/* Hands the bound channels to the XDP fast path from now on (before
 * start; `xdp` stays the caller's and must outlive the thread). */
void ember_relay_io_set_xdp (EmberRelayIo *io, EmberRelayXdp *xdp);
/* Starts and stops the data-plane thread. While it runs, only
 * get_stats() may be called from other threads. */
void ember_relay_io_start (EmberRelayIo *io);
void ember_relay_io_stop (EmberRelayIo *io);
/* The counters as last published (at most 100 ms old). */
void ember_relay_io_get_stats (EmberRelayIo *io, EmberRelayServerStats *server,
                               EmberRelayShellStats *shell);
/* Stops the thread if running, closes every socket. */
void ember_relay_io_free (EmberRelayIo *io);

G_END_DECLS
