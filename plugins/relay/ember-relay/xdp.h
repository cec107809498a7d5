/* ember-relay/xdp — loads the XDP fast path (xdp.bpf.c) onto the
 * relay's interfaces and keeps its maps equal to the server core's bound
 * channels (the core's CHANNEL_BOUND / CHANNEL_UNBOUND commands, which
 * relay-io.c hands over). Built only when libbpf, clang and bpftool are
 * there (EMBER_RELAY_HAVE_XDP); otherwise ember_relay_xdp_new() says so
 * and the relay runs without.
 *
 * Threads: new/free on the main thread while the data plane is stopped;
 * bind/unbind/read_stats on the data-plane thread only.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"

G_BEGIN_DECLS

typedef enum {
  EMBER_RELAY_XDP_OFF,
  EMBER_RELAY_XDP_AUTO,     /* native where the driver has it, else off */
  EMBER_RELAY_XDP_NATIVE,   /* in the driver (XDP_FLAGS_DRV_MODE) */
  EMBER_RELAY_XDP_GENERIC,  /* after the driver built an skb (XDP_FLAGS_SKB_MODE) */
} EmberRelayXdpMode;

/* "off", "auto", "native", "generic"; an error names the flag. */
gboolean ember_relay_xdp_mode_parse (const char *text, EmberRelayXdpMode *out, GError **error);

typedef struct _EmberRelayXdp EmberRelayXdp;

typedef struct {
  /* NULL: those holding `listen_addrs` (every interface that is up, but
   * loopback, when one of them is a wildcard address). */
  const char *const *interfaces;
  const EmberAddr *listen_addrs;
  guint n_listen_addrs;
  const guint16 *listen_ports;   /* the listeners' ports (ChannelData arrives there) */
  guint n_listen_ports;
  guint16 port_min, port_max;    /* allocation ports */
  /* Load only, attach nowhere: the program then runs through
   * bpf_prog_test_run (tests) on ember_relay_xdp_program_fd(). */
  gboolean detached;
} EmberRelayXdpConfig;

/* Loads the program and attaches it in `mode` (not OFF). NULL with
 * `error` when it cannot (no privilege, no BPF, old kernel, no interface
 * takes it, built without XDP): the caller logs it once and goes on
 * without. The attachments are BPF links, so they go with the process. */
EmberRelayXdp *ember_relay_xdp_new (EmberRelayXdpMode mode, const EmberRelayXdpConfig *config,
                                    GError **error);
/* Detaches from every interface and frees the maps. */
void ember_relay_xdp_free (EmberRelayXdp *xdp);
/* "native" or "generic", and how many interfaces carry it. */
const char *ember_relay_xdp_mode_name (const EmberRelayXdp *xdp);
guint ember_relay_xdp_n_interfaces (const EmberRelayXdp *xdp);
int ember_relay_xdp_program_fd (const EmberRelayXdp *xdp);

/* A bound channel, both directions: the client side (client address,
 * the local address it sends to, the listener's port, the channel) and
 * the peer side (peer address, the local address the peer sends to, the
 * allocation's port). The families must match. `deadline` is monotonic
 * microseconds (g_get_monotonic_time's clock, which is the BPF program's
 * CLOCK_MONOTONIC): from then on the program passes the channel's
 * datagrams up. */
typedef struct {
  EmberAddr client;
  EmberAddr client_local;
  guint16 listen_port;
  guint16 channel;
  EmberAddr peer;
  EmberAddr peer_local;
  guint16 alloc_port;
  gint64 deadline;
} EmberRelayXdpBinding;

/* Inserts or updates both entries; FALSE when the map refused (full). */
gboolean ember_relay_xdp_bind (EmberRelayXdp *xdp, const EmberRelayXdpBinding *binding);
/* Removes both entries; what they counted is added to *packets and
 * *bytes (both directions; may be NULL). */
void ember_relay_xdp_unbind (EmberRelayXdp *xdp, const EmberRelayXdpBinding *binding,
                             guint64 *packets, guint64 *bytes);

typedef struct {
  guint64 packets_to_peer, bytes_to_peer;
  guint64 packets_to_client, bytes_to_client;
  guint64 passed[10];   /* by reason, in the order of ember_relay_xdp_pass_reason() */
  guint64 bindings;    /* channels in the maps now */
} EmberRelayXdpStats;

/* The reasons of EmberRelayXdpStats.passed, as metric labels. */
const char *ember_relay_xdp_pass_reason (guint i);
void ember_relay_xdp_read_stats (EmberRelayXdp *xdp, EmberRelayXdpStats *stats);

G_END_DECLS
