/* tun-harness — drives the tun-linux plugin from a test or benchmark.
 *
 * Loads the plugin from the build tree through the core loader, opens it
 * on interface TUN_HARNESS_IFNAME with 10.77.0.1/24, 10.77.1.1/24 and
 * fd77:<n>::1/64 (a fresh n per open), and plays the far end of the TUN: ICMP/ICMPv6 echo requests
 * get replies, and TCP/UDP between 10.77.0.0/24 and 10.77.1.0/24 is
 * reflected — (src, dst) becomes (F(dst), F(src)) with F flipping the
 * third octet — so a socket on 10.77.0.1 talking to 10.77.1.2 reaches a
 * socket on 10.77.1.1, which sees the peer 10.77.0.2. The flip keeps the
 * one's-complement sum of the addresses, so no checksum changes.
 *
 * Must run inside a network namespace the caller owns. Main thread only
 * (the stream helpers run their own socket threads).
 */
#pragma once

#include <glib.h>
#include <net/if.h>

#include "ember-plugin.h"

G_BEGIN_DECLS

#define TUN_HARNESS_IFNAME "embt0"

typedef struct _TunHarness TunHarness;

typedef struct {
  guint64 packets_in;
  guint64 packets_out;
  guint64 bytes_in;
  guint64 echo_replies;
  guint64 reflected;
  guint64 send_pending;   /* poll_send_ready() said PENDING */
} TunHarnessStats;

/* Loads the plugin once. FALSE with *skip_reason set when it cannot. */
gboolean tun_harness_init (const char **skip_reason);

/* `extra`: key=value lines appended to the [tun-linux] group. */
TunHarness *tun_harness_open (const char *extra, GError **error);
void tun_harness_free (TunHarness *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TunHarness, tun_harness_free)

const EmberBackendVtable *tun_harness_vtable (TunHarness *h);
EmberBackend *tun_harness_backend (TunHarness *h);
const TunHarnessStats *tun_harness_stats (TunHarness *h);
/* The far end's IPv6 address, fd77:<n>::2, of the device opened last. */
void tun_harness_v6_peer (TunHarness *h, guint8 addr[16]);

/* Reads every batch ready (waiting up to timeout_ms for the first),
 * answers/reflects, and sends the answers back through the plugin. With
 * `reflect` FALSE (tun_harness_pump_sink) packets are only counted. */
void tun_harness_pump (TunHarness *h, int timeout_ms);
void tun_harness_pump_sink (TunHarness *h, int timeout_ms);

gboolean tun_harness_has_route (TunHarness *h, const char *cidr);

/* The plugin's counters from the last device closed: reads split into
 * several packets, and coalesced GSO writes. */
void tun_harness_last_gso (guint64 *reads, guint64 *writes);

/* A TCP stream 10.77.0.1 -> 10.77.1.2:5201 (reaching 10.77.1.1:5201):
 * `total` bytes of a pattern the receiver checks. */
typedef struct {
  int listen_fd;
  GThread *client;
  GThread *server;
  gsize total;
  gint done;
  gsize verified;   /* set by the server thread */
  gint stop;
} TunStream;

gboolean tun_stream_start (TunStream *st, gsize total, GError **error);
gboolean tun_stream_done (TunStream *st);
/* Joins the threads (unblocking them if needed); returns bytes verified. */
gsize tun_stream_finish (TunStream *st);

/* Sends `count` UDP datagrams of `size` bytes 10.77.0.1 -> 10.77.1.2,
 * with UDP_SEGMENT batches of 32 when `gso`, pumping the reflector, and
 * returns how many distinct ones arrived at 10.77.1.1 within 5 s. */
guint tun_udp_echo_run (TunHarness *h, guint count, gsize size, gboolean gso);

/* Writes `count` crafted UDP packets 10.77.0.2 -> 10.77.0.1 through the
 * plugin as fast as poll_send_ready() allows, waiting on its waker when
 * PENDING, and counts what a socket on 10.77.0.1 receives. */
typedef struct {
  guint64 sent;
  guint64 refused;
  guint64 pending;
  guint64 wakes;
  guint64 received;
  guint64 duplicates;
  gint64 elapsed_us;  /* until the last packet was received */
} TunFloodResult;

void tun_harness_flood (TunHarness *h, guint count, gint64 budget_us, TunFloodResult *r);

G_END_DECLS
