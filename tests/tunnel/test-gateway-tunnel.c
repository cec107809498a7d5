/* The gateway tunnel (core/tunnel/gateway): a gateway tunnel and a
 * client's connection layer (a controlling node) joined by an in-memory
 * wire, with the portal's messages built by hand and carried in memory,
 * on a virtual clock. Real ICE, real WireGuard, real packets. */
#include <glib.h>
#include <string.h>

#include "packet/packet.h"
#include "tunnel/gateway.h"
#include "tunnel-fx.h"

#define MS G_TIME_SPAN_MILLISECOND
#define SEC G_TIME_SPAN_SECOND
#define WALL0 (1765000000 * G_TIME_SPAN_SECOND)

static const char client_id[] = "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11";
static const char gateway_id[] = "0c9d3e2f-7a6b-4d18-8e95-31b4c2d5e6f7";
static const char web_id[] = "4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60";

typedef struct {
  guint64 seed[2];
  EmberTunnelNode *client;        /* the client's connection layer */
  EmberTunnelConn *cconn;
  EmberGatewayTunnel *gw;
  EmberAddr host[2];              /* 0 client, 1 gateway */
  gint64 start, now;
  guint flows_answered;
  char last_ref[64];
  guint client_candidates;        /* candidates the gateway signalled */
  /* What reached the resource network and the client's TUN. */
  GPtrArray *to_network, *to_client;
  GPtrArray *gone;                /* reasons of CLIENT_GONE */
} Fx;

static void
fx_setup (Fx *fx, gconstpointer data)
{
  EmberTunnelNodeConfig cc = {
    .wg = &tunnel_fx_wg, .role = EMBER_ICE_ROLE_CONTROLLING,
    .rng = { tunnel_fx_rng_next, &fx->seed[0] }, .wall_us = WALL0,
  };
  EmberGatewayTunnelConfig gc = {
    .wg = &tunnel_fx_wg, .rng = { tunnel_fx_rng_next, &fx->seed[1] }, .wall_us = WALL0,
  };
  g_autoptr (GError) error = NULL;
  EmberPortalMessage init;

  (void) data;
  memset (fx, 0, sizeof *fx);
  fx->seed[0] = 11;
  fx->seed[1] = 22;
  fx->start = fx->now = 1000 * SEC;
  tunnel_fx_key (cc.private_key, 1);
  tunnel_fx_key (gc.private_key, 2);
  fx->client = ember_tunnel_node_new (&cc, fx->now, &error);
  g_assert_no_error (error);
  fx->gw = ember_gateway_tunnel_new (&gc, fx->now, &error);
  g_assert_no_error (error);
  fx->host[0] = tunnel_fx_addr ("192.0.2.1", 51820);
  fx->host[1] = tunnel_fx_addr ("198.51.100.2", 51820);
  g_assert_true (ember_tunnel_node_set_host_addresses (fx->client, &fx->host[0], 1, NULL, 0));
  ember_gateway_tunnel_set_host_addresses (fx->gw, fx->now, &fx->host[1], 1);
  fx->to_network = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  fx->to_client = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  fx->gone = g_ptr_array_new ();

  ember_portal_message_init (&init, EMBER_PORTAL_EVENT_GATEWAY_INIT,
                             EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  init.u.gateway_init.iface.ipv4 = tunnel_fx_addr ("100.64.0.100", 0);
  init.u.gateway_init.iface.ipv6 = tunnel_fx_addr ("fd00:2021:1111::100", 0);
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &init);
  ember_portal_message_clear (&init);
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  ember_gateway_tunnel_free (fx->gw);
  ember_tunnel_node_free (fx->client);
  g_ptr_array_unref (fx->to_network);
  g_ptr_array_unref (fx->to_client);
  g_ptr_array_unref (fx->gone);
}

static void
set_id (EmberPortalId *id, const char *s)
{
  g_strlcpy (id->str, s, sizeof id->str);
}

/* The portal's authorize_flow for the client and the /24 `resource` at
 * `cidr`, allowing the `n_ports` tcp ports (none: all traffic). */
static void
authorize (Fx *fx, const char *resource_id, const char *cidr, const guint16 *tcp_ports,
           guint n_ports, gint64 expires_in, const char *ufrag)
{
  EmberPortalMessage m;
  EmberPortalAuthorizeFlow *f = &m.u.authorize_flow;
  EmberAddr net = tunnel_fx_addr (cidr, 0);

  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW,
                             EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  f->ref = g_strdup_printf ("ref-%s-%s", resource_id, ufrag);
  set_id (&f->resource.id, resource_id);
  f->resource.name = g_strdup ("web");
  f->resource.type = EMBER_PORTAL_RESOURCE_CIDR;
  g_assert_true (ember_cidr_init (&f->resource.cidr, net.family, net.addr, 24));
  set_id (&f->resource.site.id, gateway_id);
  f->resource.site.name = g_strdup ("home");
  if (n_ports > 0)
    {
      f->resource.n_filters = 1;
      f->resource.filters = g_new0 (EmberPortalFilter, 1);
      f->resource.filters[0].protocol = EMBER_PORTAL_PROTOCOL_TCP;
      f->resource.filters[0].n_ports = n_ports;
      for (guint i = 0; i < n_ports; i++)
        f->resource.filters[0].ports[i] = (EmberPortalPortRange) { tcp_ports[i], tcp_ports[i] };
    }
  set_id (&f->client.id, client_id);
  ember_tunnel_node_get_public_key (fx->client, f->client.public_key.bytes);
  f->client.tunnel.ipv4 = tunnel_fx_addr ("100.64.0.2", 0);
  f->client.tunnel.ipv6 = tunnel_fx_addr ("fd00:2021:1111::2", 0);
  memset (f->preshared_key.bytes, 0x42, 32);
  g_snprintf (f->client_ice.ufrag, sizeof f->client_ice.ufrag, "c%s", ufrag);
  g_snprintf (f->client_ice.pwd, sizeof f->client_ice.pwd, "clientpassword%sxxxxxxxxx", ufrag);
  g_snprintf (f->gateway_ice.ufrag, sizeof f->gateway_ice.ufrag, "g%s", ufrag);
  g_snprintf (f->gateway_ice.pwd, sizeof f->gateway_ice.pwd, "gatewaypassword%sxxxxxxxx", ufrag);
  f->expires_at = (WALL0 + (fx->now - fx->start) + expires_in) / SEC;
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &m);

  /* The client side of the same authorization (what authorization_created
   * tells the client): its connection on the same credentials. */
  {
    EmberTunnelConnConfig cfg = { .has_preshared_key = TRUE };
    g_autoptr (GError) error = NULL;

    g_strlcpy (cfg.peer_id, gateway_id, sizeof cfg.peer_id);
    ember_tunnel_node_get_public_key (ember_gateway_tunnel_get_node (fx->gw), cfg.public_key);
    memset (cfg.preshared_key, 0x42, 32);
    g_strlcpy (cfg.local_ufrag, f->client_ice.ufrag, sizeof cfg.local_ufrag);
    g_strlcpy (cfg.local_pwd, f->client_ice.pwd, sizeof cfg.local_pwd);
    g_strlcpy (cfg.remote_ufrag, f->gateway_ice.ufrag, sizeof cfg.remote_ufrag);
    g_strlcpy (cfg.remote_pwd, f->gateway_ice.pwd, sizeof cfg.remote_pwd);
    /* Both sides connect() for every authorization (docs/tunnel.md,
     * rule 2): the same credentials keep the session. */
    fx->cconn = ember_tunnel_node_connect (fx->client, fx->now, &cfg, &error);
    g_assert_no_error (error);
  }
  ember_portal_message_clear (&m);
}

static void
portal_to_gateway_candidate (Fx *fx, const EmberIceCandidate *c, gboolean invalidate)
{
  EmberPortalMessage m;

  ember_portal_message_init (&m, invalidate ? EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES
                                            : EMBER_PORTAL_EVENT_ICE_CANDIDATES,
                             EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  set_id (&m.u.ice_candidates.peer_id, client_id);
  m.u.ice_candidates.n_candidates = 1;
  m.u.ice_candidates.candidates = g_new (EmberIceCandidate, 1);
  m.u.ice_candidates.candidates[0] = *c;
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &m);
  ember_portal_message_clear (&m);
}

/* A datagram from side `from` (0 client, 1 gateway) arrives at the other. */
static void
deliver (Fx *fx, guint from, guint8 *buf, gsize len)
{
  gsize off = 0;

  if (from == 1)
    {
      EmberTunnelConn *conn = NULL;

      if (ember_tunnel_node_handle_input (fx->client, fx->now, &fx->host[0], &fx->host[1], buf,
                                          &off, &len, &conn) == EMBER_TUNNEL_PACKET)
        g_ptr_array_add (fx->to_client, g_bytes_new (buf + off, len));
    }
  else if (ember_gateway_tunnel_handle_datagram (fx->gw, fx->now, &fx->host[1], &fx->host[0], buf,
                                                 &off, &len) == EMBER_GATEWAY_TO_NETWORK)
    g_ptr_array_add (fx->to_network, g_bytes_new (buf + off, len));
}

/* Moves signalling and datagrams until nothing is pending, jumping the
 * clock to the next deadline, up to `until`. */
static void
fx_run (Fx *fx, gint64 until)
{
  for (;;)
    {
      gboolean moved = TRUE;
      gint64 t;

      while (moved)
        {
          EmberTunnelNodeEvent nev;
          EmberPortalMessage pm;
          EmberGatewayTunnelEvent gev;
          guint8 buf[EMBER_WG_TRANSMIT_MAX];
          EmberTunnelTransmit tx;

          moved = FALSE;
          while (ember_tunnel_node_poll_event (fx->client, &nev))
            {
              moved = TRUE;
              if (nev.type != EMBER_TUNNEL_NODE_EVENT_STATE)
                portal_to_gateway_candidate (fx, &nev.candidate,
                                             nev.type ==
                                               EMBER_TUNNEL_NODE_EVENT_INVALIDATE_CANDIDATE);
            }
          while (ember_gateway_tunnel_poll_portal (fx->gw, &pm))
            {
              moved = TRUE;
              if (pm.event == EMBER_PORTAL_EVENT_FLOW_AUTHORIZED)
                {
                  fx->flows_answered++;
                  g_strlcpy (fx->last_ref, pm.u.flow_authorized.ref, sizeof fx->last_ref);
                }
              else if (fx->cconn != NULL)
                {
                  EmberPortalIceBroadcast *b = &pm.u.ice_broadcast;

                  g_assert_cmpuint (b->n_peer_ids, ==, 1);
                  g_assert_cmpstr (b->peer_ids[0].str, ==, client_id);
                  for (guint i = 0; i < b->n_candidates; i++)
                    {
                      fx->client_candidates++;
                      if (pm.event == EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES)
                        ember_tunnel_conn_add_remote_candidate (fx->client, fx->cconn, fx->now,
                                                                &b->candidates[i], NULL);
                      else
                        ember_tunnel_conn_invalidate_remote_candidate (fx->client, fx->cconn,
                                                                       fx->now,
                                                                       &b->candidates[i]);
                    }
                }
              ember_portal_message_clear (&pm);
            }
          while (ember_gateway_tunnel_poll_event (fx->gw, &gev))
            if (gev.type == EMBER_GATEWAY_EVENT_CLIENT_GONE)
              g_ptr_array_add (fx->gone, (gpointer) gev.reason);
          while (ember_tunnel_node_poll_transmit (fx->client, fx->now, buf, sizeof buf, &tx))
            {
              moved = TRUE;
              deliver (fx, 0, buf, tx.len);
            }
          while (ember_gateway_tunnel_poll_transmit (fx->gw, fx->now, buf, sizeof buf, &tx))
            {
              moved = TRUE;
              g_assert_true (ember_ice_addr_equal (&tx.from, &fx->host[1]));
              deliver (fx, 1, buf, tx.len);
            }
        }
      t = MIN (ember_tunnel_node_poll_timeout (fx->client),
               ember_gateway_tunnel_poll_timeout (fx->gw));
      if (t > until)
        break;
      fx->now = MAX (fx->now, t);
      ember_tunnel_node_handle_timeout (fx->client, fx->now);
      ember_gateway_tunnel_handle_timeout (fx->gw, fx->now);
    }
  fx->now = MAX (fx->now, until);
}

/* A TCP SYN from `src` (the client's tunnel address, or a spoofed one) to
 * dst:port through the client's connection; FALSE when the client's
 * connection could not send it. */
static gboolean
client_try_send (Fx *fx, const char *src, const char *dst, guint16 port)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  gsize off = EMBER_WG_HEADROOM, len = 40;
  guint8 *p = buf + off;
  EmberAddr s = tunnel_fx_addr (src, 40000), d = tunnel_fx_addr (dst, port);
  EmberIpPacket pkt;
  EmberTunnelTransmit tx;

  memset (p, 0, len);
  p[0] = 0x45;
  p[3] = (guint8) len;
  p[8] = 64;
  p[9] = EMBER_IPPROTO_TCP;
  memcpy (p + 12, s.addr, 4);
  memcpy (p + 16, d.addr, 4);
  p[20] = 40000 >> 8;
  p[21] = 40000 & 0xff;
  p[22] = (guint8) (port >> 8);
  p[23] = (guint8) port;
  p[32] = 5 << 4;
  p[33] = 0x02;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, p, len, 0, len), ==, EMBER_PACKET_OK);
  ember_ip_packet_update_checksums (&pkt);
  if (ember_tunnel_node_encapsulate (fx->client, fx->cconn, fx->now, buf, sizeof buf, &off, &len,
                                     &tx) != EMBER_TUNNEL_DATAGRAM)
    return FALSE;
  deliver (fx, 0, buf + off, len);
  fx_run (fx, fx->now);
  return TRUE;
}

static void
client_sends (Fx *fx, const char *src, const char *dst, guint16 port)
{
  g_assert_true (client_try_send (fx, src, dst, port));
}

static void
connect_up (Fx *fx)
{
  static const guint16 http[] = { 80 };

  authorize (fx, web_id, "10.20.0.0", http, 1, 60 * SEC, "aaaa");
  fx_run (fx, fx->now + 5 * SEC);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->cconn), ==, EMBER_TUNNEL_CONN_UP);
  g_assert_true (ember_gateway_tunnel_client_up (fx->gw, client_id));
}

static void
test_authorize_answers_then_connects (Fx *fx, gconstpointer data)
{
  (void) data;
  connect_up (fx);
  g_assert_cmpuint (fx->flows_answered, ==, 1);
  g_assert_cmpstr (fx->last_ref, ==, "ref-4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60-aaaa");
  g_assert_cmpuint (fx->client_candidates, >, 0);
}

static void
test_unusable_key_goes_unanswered (Fx *fx, gconstpointer data)
{
  EmberPortalMessage m;
  EmberPortalAuthorizeFlow *f = &m.u.authorize_flow;
  EmberGatewayTunnelStats st;

  (void) data;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW,
                             EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  f->ref = g_strdup ("ref-zero-key");
  set_id (&f->resource.id, web_id);
  f->resource.name = g_strdup ("web");
  f->resource.type = EMBER_PORTAL_RESOURCE_CIDR;
  g_assert_true (ember_cidr_parse ("10.20.0.0/24", EMBER_CIDR_PARSE_STRICT,
                                   &f->resource.cidr, NULL));
  f->resource.site.name = g_strdup ("home");
  set_id (&f->client.id, client_id);
  /* All zero: a low-order point the WireGuard engine refuses. */
  memset (f->client.public_key.bytes, 0, 32);
  f->client.tunnel.ipv4 = tunnel_fx_addr ("100.64.0.2", 0);
  f->client.tunnel.ipv6 = tunnel_fx_addr ("fd00:2021:1111::2", 0);
  g_strlcpy (f->client_ice.ufrag, "cufrag", sizeof f->client_ice.ufrag);
  g_strlcpy (f->client_ice.pwd, "clientpasswordclientpass", sizeof f->client_ice.pwd);
  g_strlcpy (f->gateway_ice.ufrag, "gufrag", sizeof f->gateway_ice.ufrag);
  g_strlcpy (f->gateway_ice.pwd, "gatewaypasswordgatewayp", sizeof f->gateway_ice.pwd);
  f->expires_at = WALL0 / SEC + 60;
  g_test_expect_message (NULL, G_LOG_LEVEL_WARNING, "*authorize_flow (connection) refused*");
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &m);
  g_test_assert_expected_messages ();
  ember_portal_message_clear (&m);
  fx_run (fx, fx->now + SEC);
  g_assert_cmpuint (fx->flows_answered, ==, 0);
  g_assert_cmpuint (ember_tunnel_node_get_n_conns (ember_gateway_tunnel_get_node (fx->gw)), ==, 0);
  ember_gateway_tunnel_get_stats (fx->gw, &st);
  g_assert_cmpuint (st.portal_errors, ==, 1);
  g_assert_null (ember_gateway_policy_find_client (ember_gateway_tunnel_get_policy (fx->gw),
                                                   client_id));
}

static void
test_filter_allows_80_refuses_22 (Fx *fx, gconstpointer data)
{
  EmberGatewayTunnelStats st;
  EmberIpPacket pkt;
  guint8 type, code, copy[EMBER_PACKET_BUF_SIZE];
  GBytes *b;

  (void) data;
  connect_up (fx);
  client_sends (fx, "100.64.0.2", "10.20.0.7", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  client_sends (fx, "100.64.0.2", "10.20.0.7", 22);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  /* The refusal comes back through the tunnel as ICMP prohibited. */
  g_assert_cmpuint (fx->to_client->len, ==, 1);
  b = g_ptr_array_index (fx->to_client, 0);
  memcpy (copy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  g_assert_cmpint (ember_ip_packet_parse (&pkt, copy, sizeof copy, 0, g_bytes_get_size (b)), ==,
                   EMBER_PACKET_OK);
  g_assert_cmpint (ember_ip_packet_icmp_type (&pkt, &type, &code), ==, EMBER_PACKET_OK);
  g_assert_cmpuint (type, ==, 3);
  g_assert_cmpuint (code, ==, 13);
  /* From the gateway's tunnel address (its init), to the client's. */
  {
    EmberAddr from, to, gw4 = tunnel_fx_addr ("100.64.0.100", 0);

    ember_ip_packet_get_source (&pkt, &from);
    ember_ip_packet_get_destination (&pkt, &to);
    g_assert_cmpmem (from.addr, 4, gw4.addr, 4);
    g_assert_cmpmem (to.addr, 4, "\x64\x40\x00\x02", 4);
  }
  ember_gateway_tunnel_get_stats (fx->gw, &st);
  g_assert_cmpuint (st.to_network, ==, 1);
  g_assert_cmpuint (st.refused_from_clients, ==, 1);
}

static void
test_spoofed_source_dropped (Fx *fx, gconstpointer data)
{
  EmberGatewayCounters n;

  (void) data;
  connect_up (fx);
  client_sends (fx, "100.64.0.3", "10.20.0.7", 80);
  client_sends (fx, "10.20.0.9", "10.20.0.7", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 0);
  g_assert_cmpuint (fx->to_client->len, ==, 0);
  ember_gateway_policy_get_counters (ember_gateway_tunnel_get_policy (fx->gw), &n);
  g_assert_cmpuint (n.dropped[EMBER_GATEWAY_DROP_SPOOFED], ==, 2);
}

static void
test_reply_reaches_client (Fx *fx, gconstpointer data)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  gsize off = EMBER_WG_HEADROOM, len;
  EmberAddr web = tunnel_fx_addr ("10.20.0.7", 80), me = tunnel_fx_addr ("100.64.0.2", 40000);
  EmberIpPacket pkt;
  EmberTunnelTransmit tx;
  static const guint8 hello[] = "hello";

  (void) data;
  connect_up (fx);
  g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, off, &web, &me, hello,
                                              sizeof hello), ==, EMBER_PACKET_OK);
  len = ember_ip_packet_len (&pkt);
  /* UDP from port 80 is not what tcp/80 allows back. */
  g_assert_cmpint (ember_gateway_tunnel_handle_tun (fx->gw, fx->now, buf, sizeof buf, &off, &len,
                                                    &tx), ==, EMBER_GATEWAY_REFUSED);
  /* The same resource without filters: the reply goes out to the client. */
  authorize (fx, web_id, "10.20.0.0", NULL, 0, 60 * SEC, "aaaa");
  fx_run (fx, fx->now);
  off = EMBER_WG_HEADROOM;
  g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, off, &web, &me, hello,
                                              sizeof hello), ==, EMBER_PACKET_OK);
  len = ember_ip_packet_len (&pkt);
  g_assert_cmpint (ember_gateway_tunnel_handle_tun (fx->gw, fx->now, buf, sizeof buf, &off, &len,
                                                    &tx), ==, EMBER_GATEWAY_DATAGRAM);
  deliver (fx, 1, buf + off, len);
  g_assert_cmpuint (fx->to_client->len, ==, 1);
  g_assert_cmpuint (g_bytes_get_size (g_ptr_array_index (fx->to_client, 0)), ==,
                    ember_ip_packet_len (&pkt));
}

static void
test_revoked_mid_flow (Fx *fx, gconstpointer data)
{
  EmberPortalMessage m;

  (void) data;
  connect_up (fx);
  client_sends (fx, "100.64.0.2", "10.20.0.7", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_REJECT_ACCESS, EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  set_id (&m.u.reject_access.client_id, client_id);
  set_id (&m.u.reject_access.resource_id, web_id);
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &m);
  ember_portal_message_clear (&m);
  fx_run (fx, fx->now);
  /* The last authorization: the client is gone and its connection closed. */
  g_assert_cmpuint (fx->gone->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (fx->gone, 0), ==, "rejected");
  g_assert_false (ember_gateway_tunnel_client_up (fx->gw, client_id));
  g_assert_cmpuint (ember_tunnel_node_get_n_conns (ember_gateway_tunnel_get_node (fx->gw)), ==, 0);
  /* The gateway withdrew its candidates: the client's side failed too,
   * and whatever it still manages to send reaches nothing. */
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->cconn), ==, EMBER_TUNNEL_CONN_FAILED);
  client_try_send (fx, "100.64.0.2", "10.20.0.7", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
}

static void
test_revoking_one_of_two_keeps_the_connection (Fx *fx, gconstpointer data)
{
  static const char db_id[] = "9b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a61";
  EmberPortalMessage m;

  (void) data;
  connect_up (fx);
  /* The portal hands out the pair's credentials again for a second
   * resource on a connected pair (docs/tunnel.md, rule 2). */
  authorize (fx, db_id, "10.21.0.0", NULL, 0, 60 * SEC, "aaaa");
  fx_run (fx, fx->now + SEC);
  client_sends (fx, "100.64.0.2", "10.20.0.7", 80);
  client_sends (fx, "100.64.0.2", "10.21.0.7", 5432);
  g_assert_cmpuint (fx->to_network->len, ==, 2);
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_REJECT_ACCESS, EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  set_id (&m.u.reject_access.client_id, client_id);
  set_id (&m.u.reject_access.resource_id, web_id);
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &m);
  ember_portal_message_clear (&m);
  fx_run (fx, fx->now + SEC);
  /* The connection serves db still; web is refused with ICMP from now on. */
  g_assert_cmpuint (fx->gone->len, ==, 0);
  g_assert_true (ember_gateway_tunnel_client_up (fx->gw, client_id));
  client_sends (fx, "100.64.0.2", "10.20.0.7", 80);
  client_sends (fx, "100.64.0.2", "10.21.0.7", 5432);
  g_assert_cmpuint (fx->to_network->len, ==, 3);
  g_assert_cmpuint (fx->to_client->len, ==, 1);
}

static void
test_authorization_expires (Fx *fx, gconstpointer data)
{
  gint64 t0;

  (void) data;
  t0 = fx->now;
  connect_up (fx);
  client_sends (fx, "100.64.0.2", "10.20.0.7", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  /* expires_at is whole wall-clock seconds: a minute after t0. */
  fx_run (fx, t0 + 59 * SEC);
  g_assert_cmpuint (fx->gone->len, ==, 0);
  client_sends (fx, "100.64.0.2", "10.20.0.7", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 2);
  fx_run (fx, t0 + 61 * SEC);
  g_assert_cmpuint (fx->gone->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (fx->gone, 0), ==, "expired");
  g_assert_false (ember_gateway_tunnel_client_up (fx->gw, client_id));
}

static void
test_init_without_the_client_closes_it (Fx *fx, gconstpointer data)
{
  EmberPortalMessage init;

  (void) data;
  connect_up (fx);
  /* The portal reconnected and lists no authorization any more. */
  ember_portal_message_init (&init, EMBER_PORTAL_EVENT_GATEWAY_INIT,
                             EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  init.u.gateway_init.iface.ipv4 = tunnel_fx_addr ("100.64.0.100", 0);
  init.u.gateway_init.iface.ipv6 = tunnel_fx_addr ("fd00:2021:1111::100", 0);
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &init);
  ember_portal_message_clear (&init);
  fx_run (fx, fx->now + SEC);
  g_assert_cmpuint (fx->gone->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (fx->gone, 0), ==, "not listed");
  g_assert_false (ember_gateway_tunnel_client_up (fx->gw, client_id));
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->cconn), ==, EMBER_TUNNEL_CONN_FAILED);
  g_assert_false (client_try_send (fx, "100.64.0.2", "10.20.0.7", 80));
  g_assert_cmpuint (fx->to_network->len, ==, 0);
}

static void
test_second_resource_reuses_connection (Fx *fx, gconstpointer data)
{
  static const guint16 ssh[] = { 22 };
  guint gen;

  (void) data;
  connect_up (fx);
  gen = ember_tunnel_conn_get_generation (
    ember_tunnel_node_lookup (ember_gateway_tunnel_get_node (fx->gw), client_id));
  /* Same pair, same credentials (docs/tunnel.md, rule 2). */
  authorize (fx, "9b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a61", "10.21.0.0", ssh, 1, 60 * SEC, "aaaa");
  fx_run (fx, fx->now + SEC);
  g_assert_cmpuint (fx->flows_answered, ==, 2);
  g_assert_cmpuint (ember_tunnel_conn_get_generation (
                      ember_tunnel_node_lookup (ember_gateway_tunnel_get_node (fx->gw), client_id)),
                    ==, gen);
  client_sends (fx, "100.64.0.2", "10.21.0.7", 22);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
}

static void
test_new_credentials_restart_both_sides (Fx *fx, gconstpointer data)
{
  EmberTunnelNode *gnode;
  guint gen;

  (void) data;
  connect_up (fx);
  gnode = ember_gateway_tunnel_get_node (fx->gw);
  gen = ember_tunnel_conn_get_generation (ember_tunnel_node_lookup (gnode, client_id));
  /* The portal handed out fresh credentials (say, the client did not list
   * this gateway as connected): both sides restart ICE on them. */
  authorize (fx, web_id, "10.20.0.0", NULL, 0, 60 * SEC, "cccc");
  g_assert_cmpuint (ember_tunnel_conn_get_generation (ember_tunnel_node_lookup (gnode, client_id)),
                    >, gen);
  fx_run (fx, fx->now + 5 * SEC);
  g_assert_true (ember_gateway_tunnel_client_up (fx->gw, client_id));
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->cconn), ==, EMBER_TUNNEL_CONN_UP);
  client_sends (fx, "100.64.0.2", "10.20.0.7", 22);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
}

/* A UDP packet from `src` to `dst` (IPv6) through the client's connection. */
static void
client_sends_udp6 (Fx *fx, const char *src, const char *dst, guint16 port)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  gsize off = EMBER_WG_HEADROOM, len;
  EmberAddr s = tunnel_fx_addr (src, 5353), d = tunnel_fx_addr (dst, port);
  EmberIpPacket pkt;
  EmberTunnelTransmit tx;
  static const guint8 q[] = "query";

  g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, off, &s, &d, q, sizeof q),
                   ==, EMBER_PACKET_OK);
  len = ember_ip_packet_len (&pkt);
  g_assert_cmpint (ember_tunnel_node_encapsulate (fx->client, fx->cconn, fx->now, buf, sizeof buf,
                                                  &off, &len, &tx),
                   ==, EMBER_TUNNEL_DATAGRAM);
  deliver (fx, 0, buf + off, len);
  fx_run (fx, fx->now);
}

static void
test_ipv6_both_ways (Fx *fx, gconstpointer data)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  gsize off = EMBER_WG_HEADROOM, len;
  EmberAddr dns = tunnel_fx_addr ("fd00:20::53", 53);
  EmberAddr me = tunnel_fx_addr ("fd00:2021:1111::2", 5353);
  EmberIpPacket pkt;
  EmberTunnelTransmit tx;
  static const guint8 a[] = "answer";

  (void) data;
  /* fd00::/24 without filters: the v6 resource. */
  authorize (fx, web_id, "fd00:20::", NULL, 0, 60 * SEC, "aaaa");
  fx_run (fx, fx->now + 5 * SEC);
  g_assert_true (ember_gateway_tunnel_client_up (fx->gw, client_id));
  client_sends_udp6 (fx, "fd00:2021:1111::2", "fd00:20::53", 53);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  /* Another client's v6 address from this client: spoofed, dropped. */
  client_sends_udp6 (fx, "fd00:2021:1111::3", "fd00:20::53", 53);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  /* Outside the resource: refused, answered with ICMPv6. */
  client_sends_udp6 (fx, "fd00:2021:1111::2", "2001:db8::53", 53);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  g_assert_cmpuint (fx->to_client->len, ==, 1);
  /* The answer goes back to the client. */
  g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, off, &dns, &me, a, sizeof a),
                   ==, EMBER_PACKET_OK);
  len = ember_ip_packet_len (&pkt);
  g_assert_cmpint (ember_gateway_tunnel_handle_tun (fx->gw, fx->now, buf, sizeof buf, &off, &len,
                                                    &tx), ==, EMBER_GATEWAY_DATAGRAM);
  deliver (fx, 1, buf + off, len);
  g_assert_cmpuint (fx->to_client->len, ==, 2);
}

/* The portal's init after the gateway re-joined, listing the client's
 * authorization for `resource_id` (a /24 at `cidr`, all traffic) only. */
static void
re_init_listing (Fx *fx, const char *resource_id, const char *cidr, gint64 expires_in)
{
  EmberPortalMessage init;
  EmberPortalAuthorization *a;
  EmberAddr net = tunnel_fx_addr (cidr, 0);

  ember_portal_message_init (&init, EMBER_PORTAL_EVENT_GATEWAY_INIT,
                             EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  init.u.gateway_init.iface.ipv4 = tunnel_fx_addr ("100.64.0.100", 0);
  init.u.gateway_init.iface.ipv6 = tunnel_fx_addr ("fd00:2021:1111::100", 0);
  init.u.gateway_init.authorizations = g_new0 (EmberPortalAuthorization, 1);
  init.u.gateway_init.n_authorizations = 1;
  a = &init.u.gateway_init.authorizations[0];
  set_id (&a->resource.id, resource_id);
  a->resource.name = g_strdup ("web");
  a->resource.type = EMBER_PORTAL_RESOURCE_CIDR;
  g_assert_true (ember_cidr_init (&a->resource.cidr, net.family, net.addr, 24));
  set_id (&a->resource.site.id, gateway_id);
  a->resource.site.name = g_strdup ("home");
  set_id (&a->client.id, client_id);
  ember_tunnel_node_get_public_key (fx->client, a->client.public_key.bytes);
  a->client.tunnel.ipv4 = tunnel_fx_addr ("100.64.0.2", 0);
  a->client.tunnel.ipv6 = tunnel_fx_addr ("fd00:2021:1111::2", 0);
  memset (a->preshared_key.bytes, 0x42, 32);
  a->expires_at = (WALL0 + (fx->now - fx->start) + expires_in) / SEC;
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &init);
  ember_portal_message_clear (&init);
}

/* The portal was away and came back (a restart that kept its
 * authorizations): an init that still lists the flow leaves it exactly
 * as it was — same ICE session, no new WireGuard handshake, no answer
 * sent, traffic passing — and the one flow it no longer lists ends. */
static void
test_re_init_keeps_a_listed_flow (Fx *fx, gconstpointer data)
{
  static const char db_id[] = "9b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a61";
  EmberTunnelNode *gnode;
  EmberWgPeerStats before, after;
  guint gen, answered, candidates;

  (void) data;
  connect_up (fx);
  authorize (fx, db_id, "10.21.0.0", NULL, 0, 600 * SEC, "aaaa");
  fx_run (fx, fx->now + SEC);
  client_sends (fx, "100.64.0.2", "10.20.0.7", 80);
  client_sends (fx, "100.64.0.2", "10.21.0.7", 5432);
  g_assert_cmpuint (fx->to_network->len, ==, 2);
  gnode = ember_gateway_tunnel_get_node (fx->gw);
  gen = ember_tunnel_conn_get_generation (ember_tunnel_node_lookup (gnode, client_id));
  g_assert_true (ember_tunnel_conn_get_wg_stats (gnode, ember_tunnel_node_lookup (gnode, client_id),
                                                 &before));
  answered = fx->flows_answered;
  candidates = fx->client_candidates;

  /* Away for 30 s: the data plane goes on meanwhile. */
  fx_run (fx, fx->now + 30 * SEC);
  client_sends (fx, "100.64.0.2", "10.21.0.7", 5432);
  g_assert_cmpuint (fx->to_network->len, ==, 3);

  re_init_listing (fx, db_id, "10.21.0.0", 600 * SEC);
  fx_run (fx, fx->now + SEC);
  g_assert_cmpuint (fx->gone->len, ==, 0);
  g_assert_true (ember_gateway_tunnel_client_up (fx->gw, client_id));
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->cconn), ==, EMBER_TUNNEL_CONN_UP);
  g_assert_cmpuint (ember_tunnel_conn_get_generation (ember_tunnel_node_lookup (gnode, client_id)),
                    ==, gen);
  g_assert_true (ember_tunnel_conn_get_wg_stats (gnode, ember_tunnel_node_lookup (gnode, client_id),
                                                 &after));
  g_assert_cmpint (after.last_handshake, ==, before.last_handshake);
  /* Nothing to answer, no candidate withdrawn or sent again. */
  g_assert_cmpuint (fx->flows_answered, ==, answered);
  g_assert_cmpuint (fx->client_candidates, ==, candidates);
  client_sends (fx, "100.64.0.2", "10.21.0.7", 5432);
  g_assert_cmpuint (fx->to_network->len, ==, 4);
  /* web was not listed: revoked meanwhile, refused with ICMP. */
  client_sends (fx, "100.64.0.2", "10.20.0.7", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 4);
  g_assert_cmpuint (fx->to_client->len, ==, 1);

  /* The listed flow still ends at its expiry, as before the re-join. */
  fx_run (fx, fx->now + 600 * SEC);
  g_assert_cmpuint (fx->gone->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (fx->gone, 0), ==, "expired");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fx, NULL, fx_setup, fn, fx_teardown)
  ADD ("/gateway/tunnel/authorize-answers-then-connects", test_authorize_answers_then_connects);
  ADD ("/gateway/tunnel/unusable-key-goes-unanswered", test_unusable_key_goes_unanswered);
  ADD ("/gateway/tunnel/filter-allows-tcp-80-and-refuses-tcp-22",
       test_filter_allows_80_refuses_22);
  ADD ("/gateway/tunnel/spoofed-source-is-dropped", test_spoofed_source_dropped);
  ADD ("/gateway/tunnel/reply-reaches-the-client", test_reply_reaches_client);
  ADD ("/gateway/tunnel/revoked-mid-flow-reaches-nothing", test_revoked_mid_flow);
  ADD ("/gateway/tunnel/revoking-one-of-two-keeps-the-connection",
       test_revoking_one_of_two_keeps_the_connection);
  ADD ("/gateway/tunnel/authorization-expires", test_authorization_expires);
  ADD ("/gateway/tunnel/init-without-the-client-closes-it", test_init_without_the_client_closes_it);
  ADD ("/gateway/tunnel/re-init-keeps-a-listed-flow-and-ends-the-rest",
       test_re_init_keeps_a_listed_flow);
  ADD ("/gateway/tunnel/ipv6-both-ways", test_ipv6_both_ways);
  ADD ("/gateway/tunnel/new-credentials-restart-both-sides",
       test_new_credentials_restart_both_sides);
  ADD ("/gateway/tunnel/second-resource-reuses-the-connection",
       test_second_resource_reuses_connection);
  return g_test_run ();
}
