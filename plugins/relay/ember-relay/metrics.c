/* ember-relay/metrics.c — see metrics.h. */
#include "metrics.h"

#include <gio/gio.h>

#include "metrics/metrics.h"

struct _EmberRelayMetrics {
  EmberMetricsServer *server;
  EmberRelayStatsFunc func;
  gpointer user_data;
};

void
ember_relay_metrics_format (GString *out, const EmberRelayServerStats *s,
                            const EmberRelayShellStats *sh)
{
  ember_metrics_value (out, "ember_relay_allocations", "gauge", "Active TURN allocations.",
                       s->allocations);
  ember_metrics_value (out, "ember_relay_allocations_created_total", "counter",
                       "Allocations created.", s->allocations_created);
  ember_metrics_value (out, "ember_relay_permissions", "gauge", "Active permissions.",
                       s->permissions);
  ember_metrics_value (out, "ember_relay_channels", "gauge", "Active channel bindings.",
                       s->channels);
  ember_metrics_value (out, "ember_relay_sockets", "gauge", "Open allocation sockets.",
                       sh->sockets);
  ember_metrics_value (out, "ember_relay_packets_to_peer_total", "counter",
                       "Datagrams relayed to peers.", s->packets_to_peer);
  ember_metrics_value (out, "ember_relay_bytes_to_peer_total", "counter",
                       "Payload bytes relayed to peers.", s->bytes_to_peer);
  ember_metrics_value (out, "ember_relay_packets_to_client_total", "counter",
                       "Datagrams sent to clients (relayed data and responses).",
                       s->packets_to_client);
  ember_metrics_value (out, "ember_relay_bytes_to_client_total", "counter",
                       "Payload bytes relayed to clients.", s->bytes_to_client);
  ember_metrics_value (out, "ember_relay_bindings_total", "counter",
                       "STUN Binding requests answered.", s->bindings);
  ember_metrics_value (out, "ember_relay_auth_failures_total", "counter",
                       "Requests with a bad MESSAGE-INTEGRITY, unknown user or expired username.",
                       s->auth_failures);
  ember_metrics_value (out, "ember_relay_stale_nonces_total", "counter",
                       "Requests answered 438 Stale Nonce.", s->stale_nonces);
  ember_metrics_value (out, "ember_relay_rate_limited_total", "counter",
                       "Unauthenticated requests dropped by the per-source rate limit.",
                       s->rate_limited);
  ember_metrics_value (out, "ember_relay_forbidden_peers_total", "counter",
                       "Peer addresses refused by the deny list (403).", s->forbidden_peers);
  ember_metrics_value (out, "ember_relay_drops_total", "counter",
                       "Datagrams dropped: malformed, no allocation, permission or channel.",
                       s->drops);
  ember_metrics_value (out, "ember_relay_send_buffered_total", "counter",
                       "Datagrams held because a socket was not writable (seed 003).",
                       sh->send_buffered);
  ember_metrics_value (out, "ember_relay_send_errors_total", "counter",
                       "Datagrams the kernel refused.", sh->send_errors);
  ember_metrics_value (out, "ember_relay_datagrams_sent_total", "counter",
                       "Datagrams the kernel took.", sh->datagrams_sent);
  ember_metrics_value (out, "ember_relay_send_syscalls_total", "counter",
                       "sendmmsg calls that sent at least one message.", sh->send_syscalls);
  ember_metrics_value (out, "ember_relay_gso_messages_total", "counter",
                       "Messages of several datagrams sent with UDP segmentation offload.",
                       sh->gso_trains);
  ember_metrics_value (out, "ember_relay_recv_syscalls_total", "counter",
                       "recvmmsg calls that received at least one datagram.", sh->recv_syscalls);
  ember_metrics_value (out, "ember_relay_gro_datagrams_total", "counter",
                       "Datagrams received in trains the kernel coalesced (UDP_GRO).",
                       sh->gro_datagrams);
  ember_metrics_value (out, "ember_relay_recv_truncated_total", "counter",
                       "Datagrams larger than a receive slot, dropped.", sh->recv_truncated);

  const EmberRelayXdpStats *x = &sh->xdp_stats;
  ember_metrics_value (out, "ember_relay_xdp_enabled", "gauge",
                       "1 when the XDP fast path for bound channels is attached.", sh->xdp ? 1 : 0);
  if (!sh->xdp)
    return;
  ember_metrics_value (out, "ember_relay_xdp_bindings", "gauge", "Channels in the XDP maps.",
                       x->bindings);
  ember_metrics_value (
      out, "ember_relay_xdp_packets_to_peer_total", "counter",
      "ChannelData relayed to peers in XDP (not in ember_relay_packets_to_peer_total).",
      x->packets_to_peer);
  ember_metrics_value (out, "ember_relay_xdp_bytes_to_peer_total", "counter",
                       "Payload bytes relayed to peers in XDP.", x->bytes_to_peer);
  ember_metrics_value (out, "ember_relay_xdp_packets_to_client_total", "counter",
                       "Datagrams relayed to clients as ChannelData in XDP.", x->packets_to_client);
  ember_metrics_value (out, "ember_relay_xdp_bytes_to_client_total", "counter",
                       "Payload bytes relayed to clients in XDP.", x->bytes_to_client);
  ember_metrics_value (out, "ember_relay_xdp_bind_failures_total", "counter",
                       "Channel bindings the XDP maps refused (relayed in user space).",
                       sh->xdp_bind_failures);
  g_string_append (out, "# HELP ember_relay_xdp_passed_total Datagrams for the relay the XDP "
                        "program handed to the kernel, by reason.\n"
                        "# TYPE ember_relay_xdp_passed_total counter\n");
  for (guint i = 0; i < G_N_ELEMENTS (x->passed); i++)
    g_string_append_printf (out,
                            "ember_relay_xdp_passed_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            ember_relay_xdp_pass_reason (i), x->passed[i]);
}

static void
format (GString *out, gpointer user_data)
{
  EmberRelayMetrics *m = user_data;
  EmberRelayServerStats s;
  EmberRelayShellStats sh;
  m->func (m->user_data, &s, &sh);
  ember_relay_metrics_format (out, &s, &sh);
}

EmberRelayMetrics *
ember_relay_metrics_start (const char *listen, EmberRelayStatsFunc func, gpointer user_data,
                           GError **error)
{
  g_autoptr (GSocketConnectable) conn = g_network_address_parse (listen, 9100, error);
  if (conn == NULL)
    return NULL;
  const char *host = g_network_address_get_hostname (G_NETWORK_ADDRESS (conn));
  guint16 port = g_network_address_get_port (G_NETWORK_ADDRESS (conn));
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (host);
  if (ia == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "--metrics-listen \"%s\": expected an IP address and port", listen);
      return NULL;
    }
  EmberRelayMetrics *m = g_new0 (EmberRelayMetrics, 1);
  m->func = func;
  m->user_data = user_data;
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (ia, port);
  m->server = ember_metrics_server_new (sa, "ember-relay", format, m, error);
  if (m->server == NULL)
    {
      g_free (m);
      return NULL;
    }
  return m;
}

void
ember_relay_metrics_stop (EmberRelayMetrics *m)
{
  if (m == NULL)
    return;
  ember_metrics_server_free (m->server);
  g_free (m);
}
