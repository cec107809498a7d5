/* ember-relay/metrics — Prometheus text exposition of ember-relay's counters
 * over HTTP (libsoup 3 server on --metrics-listen). Main thread only:
 * the soup server runs on the relay's GMainContext. */
#pragma once

#include <glib.h>
#include "server.h"
#include "xdp.h"

typedef struct {
  guint64 send_buffered;   /* datagrams held while a socket was not writable */
  guint64 send_errors;     /* datagrams the kernel refused (dropped) */
  guint64 recv_truncated;  /* datagrams larger than a receive slot */
  guint64 sockets;         /* open allocation sockets */
  guint64 datagrams_sent;  /* datagrams the kernel took */
  guint64 send_syscalls;   /* sendmmsg calls that took some */
  guint64 recv_syscalls;   /* recvmmsg calls that returned some */
  guint64 gso_trains;      /* messages sent with UDP_SEGMENT */
  guint64 gro_datagrams;   /* datagrams received in coalesced trains (UDP_GRO) */
  gboolean xdp;            /* the XDP fast path runs; then: */
  EmberRelayXdpStats xdp_stats;
  guint64 xdp_bind_failures; /* channels the maps refused (full): relayed in user space */
} EmberRelayShellStats;

typedef struct _EmberRelayMetrics EmberRelayMetrics;

typedef void (*EmberRelayStatsFunc) (gpointer user_data, EmberRelayServerStats *server,
                                     EmberRelayShellStats *shell);

/* Formats every metric into `out` (Prometheus text format 0.0.4). */
void ember_relay_metrics_format (GString *out, const EmberRelayServerStats *server,
                                 const EmberRelayShellStats *shell);

/* Serves GET /metrics on `listen` ("ADDR:PORT"). NULL with error when the
 * address is bad or cannot be bound, or libsoup is unavailable. */
EmberRelayMetrics *ember_relay_metrics_start (const char *listen, EmberRelayStatsFunc func,
                                              gpointer user_data, GError **error);
void ember_relay_metrics_stop (EmberRelayMetrics *metrics);
