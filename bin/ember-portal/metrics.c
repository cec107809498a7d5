/* ember-portal/metrics.c — see metrics.h. */
#include "metrics.h"
#include "serve-config.h"

#include "metrics/metrics.h"

struct _EmberPortalMetrics {
  EmberMetricsServer *server;
  const EmberPortalStats *stats;
};

static const char *const auth_names[EMBER_PORTAL_AUTH_N] = {
  "missing", "invalid", "expired", "revoked", "wrong_kind", "bad_query",
};
static const char *const deny_names[EMBER_PORTAL_DENY_N] = { "not_found", "forbidden", "offline" };

const char *
ember_portal_auth_failure_name (EmberPortalAuthFailure f)
{
  return f < EMBER_PORTAL_AUTH_N ? auth_names[f] : "unknown";
}

void
ember_portal_metrics_format (GString *out, const EmberPortalStats *s)
{
  ember_metrics_head (out, "ember_portal_sessions", "gauge", "Joined sessions by kind.");
  g_string_append_printf (out, "ember_portal_sessions{kind=\"client\"} %" G_GUINT64_FORMAT "\n",
                          s->client_sessions);
  g_string_append_printf (out, "ember_portal_sessions{kind=\"gateway\"} %" G_GUINT64_FORMAT "\n",
                          s->gateway_sessions);
  ember_metrics_value (out, "ember_portal_websockets", "gauge", "Open WebSocket connections.",
                       s->websockets);
  ember_metrics_value (out, "ember_portal_joins_total", "counter", "Accepted phx_join.",
                       s->joins_total);
  ember_metrics_head (out, "ember_portal_auth_failures_total", "counter",
                      "WebSocket upgrades refused with 401, by reason.");
  for (guint i = 0; i < EMBER_PORTAL_AUTH_N; i++)
    g_string_append_printf (
        out, "ember_portal_auth_failures_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
        auth_names[i], s->auth_failures_total[i]);
  ember_metrics_value (
      out, "ember_portal_rate_limited_total", "counter",
      "WebSocket upgrades refused with 429 (joins or failed logins from one address).",
      s->rate_limited_total);
  ember_metrics_value (out, "ember_portal_messages_received_total", "counter", "Frames received.",
                       s->messages_received_total);
  ember_metrics_value (out, "ember_portal_messages_sent_total", "counter", "Frames sent.",
                       s->messages_sent_total);
  ember_metrics_value (out, "ember_portal_bad_messages_total", "counter",
                       "Malformed, oversized, unknown or misdirected frames.",
                       s->bad_messages_total);
  ember_metrics_value (out, "ember_portal_heartbeat_timeouts_total", "counter",
                       "Sessions closed after three missed heartbeats.",
                       s->heartbeat_timeouts_total);
  ember_metrics_value (out, "ember_portal_authorizations_requested_total", "counter",
                       "request_authorization received.", s->authorizations_requested_total);
  ember_metrics_value (out, "ember_portal_authorizations_total", "counter",
                       "Authorizations a gateway confirmed and the client received.",
                       s->authorizations_created_total);
  ember_metrics_head (out, "ember_portal_authorization_failures_total", "counter",
                      "authorization_creation_failed sent, by reason.");
  for (guint i = 0; i < EMBER_PORTAL_DENY_N; i++)
    g_string_append_printf (
        out, "ember_portal_authorization_failures_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
        deny_names[i], s->authorization_failures_total[i]);
  ember_metrics_value (out, "ember_portal_reject_access_total", "counter",
                       "reject_access sent after a policy stopped allowing an authorization.",
                       s->reject_access_total);
  ember_metrics_value (out, "ember_portal_changes_total", "counter",
                       "Rows of the changes table fanned out.", s->changes_total);
  ember_metrics_value (out, "ember_portal_sessions_revoked_total", "counter",
                       "Sessions closed because their token was revoked or expired.",
                       s->sessions_closed_revoked_total);
  ember_metrics_value (out, "ember_portal_relays", "gauge", "Relays configured.", s->relays);
  ember_metrics_value (out, "ember_portal_relays_up", "gauge", "Relays answering STUN Binding.",
                       s->relays_up);
}

static void
format (GString *out, gpointer user_data)
{
  EmberPortalMetrics *m = user_data;
  ember_portal_metrics_format (out, m->stats);
}

EmberPortalMetrics *
ember_portal_metrics_start (const char *listen, const EmberPortalStats *stats, GError **error)
{
  g_autoptr (GInetSocketAddress) sa = ember_portal_parse_listen (listen, "metrics-listen", error);
  if (sa == NULL)
    return NULL;
  EmberPortalMetrics *m = g_new0 (EmberPortalMetrics, 1);
  m->stats = stats;
  m->server = ember_metrics_server_new (G_SOCKET_ADDRESS (sa), "ember-portal", format, m, error);
  if (m->server == NULL)
    {
      g_prefix_error (error, "metrics-listen %s: ", listen);
      g_free (m);
      return NULL;
    }
  return m;
}

guint16
ember_portal_metrics_port (EmberPortalMetrics *m)
{
  return ember_metrics_server_get_port (m->server);
}

void
ember_portal_metrics_stop (EmberPortalMetrics *m)
{
  if (m == NULL)
    return;
  ember_metrics_server_free (m->server);
  g_free (m);
}
