/* ember-portal/metrics.c — see metrics.h. */
#include "metrics.h"
#include "serve-config.h"

#include <libsoup/soup.h>

struct _EmberPortalMetrics {
  SoupServer *server;
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

static void
head (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
metric (GString *out, const char *name, const char *type, const char *help, guint64 value)
{
  head (out, name, type, help);
  g_string_append_printf (out, "%s %" G_GUINT64_FORMAT "\n", name, value);
}

void
ember_portal_metrics_format (GString *out, const EmberPortalStats *s)
{
  head (out, "ember_portal_sessions", "gauge", "Joined sessions by kind.");
  g_string_append_printf (out, "ember_portal_sessions{kind=\"client\"} %" G_GUINT64_FORMAT "\n",
                          s->client_sessions);
  g_string_append_printf (out, "ember_portal_sessions{kind=\"gateway\"} %" G_GUINT64_FORMAT "\n",
                          s->gateway_sessions);
  metric (out, "ember_portal_websockets", "gauge", "Open WebSocket connections.", s->websockets);
  metric (out, "ember_portal_joins_total", "counter", "Accepted phx_join.", s->joins_total);
  head (out, "ember_portal_auth_failures_total", "counter",
        "WebSocket upgrades refused with 401, by reason.");
  for (guint i = 0; i < EMBER_PORTAL_AUTH_N; i++)
    g_string_append_printf (out, "ember_portal_auth_failures_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            auth_names[i], s->auth_failures_total[i]);
  metric (out, "ember_portal_rate_limited_total", "counter",
          "WebSocket upgrades refused with 429 (joins or failed logins from one address).",
          s->rate_limited_total);
  metric (out, "ember_portal_messages_received_total", "counter", "Frames received.",
          s->messages_received_total);
  metric (out, "ember_portal_messages_sent_total", "counter", "Frames sent.",
          s->messages_sent_total);
  metric (out, "ember_portal_bad_messages_total", "counter",
          "Malformed, oversized, unknown or misdirected frames.", s->bad_messages_total);
  metric (out, "ember_portal_heartbeat_timeouts_total", "counter",
          "Sessions closed after three missed heartbeats.", s->heartbeat_timeouts_total);
  metric (out, "ember_portal_authorizations_requested_total", "counter",
          "request_authorization received.", s->authorizations_requested_total);
  metric (out, "ember_portal_authorizations_total", "counter",
          "Authorizations a gateway confirmed and the client received.",
          s->authorizations_created_total);
  head (out, "ember_portal_authorization_failures_total", "counter",
        "authorization_creation_failed sent, by reason.");
  for (guint i = 0; i < EMBER_PORTAL_DENY_N; i++)
    g_string_append_printf (out,
                            "ember_portal_authorization_failures_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            deny_names[i], s->authorization_failures_total[i]);
  metric (out, "ember_portal_reject_access_total", "counter",
          "reject_access sent after a policy stopped allowing an authorization.",
          s->reject_access_total);
  metric (out, "ember_portal_changes_total", "counter", "Rows of the changes table fanned out.",
          s->changes_total);
  metric (out, "ember_portal_sessions_revoked_total", "counter",
          "Sessions closed because their token was revoked or expired.",
          s->sessions_closed_revoked_total);
  metric (out, "ember_portal_relays", "gauge", "Relays configured.", s->relays);
  metric (out, "ember_portal_relays_up", "gauge", "Relays answering STUN Binding.", s->relays_up);
}

static void
handle (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
        gpointer user_data)
{
  (void) server;
  (void) query;
  EmberPortalMetrics *m = user_data;
  if (g_strcmp0 (path, "/metrics") != 0)
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  GString *out = g_string_new (NULL);
  ember_portal_metrics_format (out, m->stats);
  soup_server_message_set_status (msg, 200, NULL);
  gsize len = out->len;
  soup_server_message_set_response (msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
                                    g_string_free (out, FALSE), len);
}

EmberPortalMetrics *
ember_portal_metrics_start (const char *listen, const EmberPortalStats *stats, GError **error)
{
  g_autoptr (GInetSocketAddress) sa = ember_portal_parse_listen (listen, "metrics-listen", error);
  if (sa == NULL)
    return NULL;
  EmberPortalMetrics *m = g_new0 (EmberPortalMetrics, 1);
  m->stats = stats;
  m->server = soup_server_new ("server-header", "ember-portal", NULL);
  soup_server_add_handler (m->server, NULL, handle, m, NULL);
  if (!soup_server_listen (m->server, G_SOCKET_ADDRESS (sa), 0, error))
    {
      g_prefix_error (error, "metrics-listen %s: ", listen);
      ember_portal_metrics_stop (m);
      return NULL;
    }
  return m;
}

guint16
ember_portal_metrics_port (EmberPortalMetrics *m)
{
  GSList *uris = soup_server_get_uris (m->server);
  guint16 port = uris != NULL ? (guint16) g_uri_get_port (uris->data) : 0;
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return port;
}

void
ember_portal_metrics_stop (EmberPortalMetrics *m)
{
  if (m == NULL)
    return;
  soup_server_disconnect (m->server);
  g_object_unref (m->server);
  g_free (m);
}
