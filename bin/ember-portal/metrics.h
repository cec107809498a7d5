/* ember-portal/metrics — the serve loop's counters and their Prometheus
 * text exposition on `metrics-listen` (GET /metrics).
 *
 * The counters live in one struct the server updates in place on the
 * main thread; the HTTP handler formats them on the same thread, so no
 * locking is needed. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Why a WebSocket upgrade was refused with 401 (or 429). */
typedef enum {
  EMBER_PORTAL_AUTH_MISSING = 0,  /* no Authorization: Bearer */
  EMBER_PORTAL_AUTH_INVALID,      /* unknown token, or malformed */
  EMBER_PORTAL_AUTH_EXPIRED,
  EMBER_PORTAL_AUTH_REVOKED,
  EMBER_PORTAL_AUTH_WRONG_KIND,   /* a gateway's token on /client or back */
  EMBER_PORTAL_AUTH_BAD_QUERY,    /* public_key / external_id missing or bad */
  EMBER_PORTAL_AUTH_N,
} EmberPortalAuthFailure;

const char *ember_portal_auth_failure_name (EmberPortalAuthFailure f);

typedef enum {
  EMBER_PORTAL_DENY_NOT_FOUND = 0,
  EMBER_PORTAL_DENY_FORBIDDEN,
  EMBER_PORTAL_DENY_OFFLINE,
  EMBER_PORTAL_DENY_N,
} EmberPortalDeny;

typedef struct {
  guint64 client_sessions, gateway_sessions;     /* gauges: joined sessions */
  guint64 websockets;                            /* gauge: open connections */
  guint64 joins_total;
  guint64 auth_failures_total[EMBER_PORTAL_AUTH_N];
  guint64 rate_limited_total;                    /* upgrades answered 429 */
  guint64 messages_received_total, messages_sent_total;
  guint64 bad_messages_total;                    /* error replies and closes */
  guint64 heartbeat_timeouts_total;
  guint64 authorizations_requested_total;
  guint64 authorizations_created_total;          /* delivered to the client */
  guint64 authorization_failures_total[EMBER_PORTAL_DENY_N];
  guint64 reject_access_total;
  guint64 changes_total;                         /* rows of `changes` fanned out */
  guint64 sessions_closed_revoked_total;
  guint64 relays, relays_up;                     /* gauges */
} EmberPortalStats;

void ember_portal_metrics_format (GString *out, const EmberPortalStats *s);

typedef struct _EmberPortalMetrics EmberPortalMetrics;

/* Serves `stats` (read at each request) on `listen` ("ADDR:PORT"). */
EmberPortalMetrics *ember_portal_metrics_start (const char *listen, const EmberPortalStats *stats,
                                                GError **error);
/* The bound port (listen with port 0 picks one). */
guint16 ember_portal_metrics_port (EmberPortalMetrics *m);
void ember_portal_metrics_stop (EmberPortalMetrics *m);

G_END_DECLS
