/* tests/dns/test-gateway-dns: the gateway tunnel (core/tunnel/gateway.h)
 * with proxy addresses of a dns resource: a client's connection layer and
 * a gateway tunnel joined by an in-memory wire (real ICE, real WireGuard,
 * real packets, a virtual clock), the portal's authorize_flow carrying
 * dns_names built by hand, and the translator's lookups answered by the
 * test as the DNS upstream plugin would. */
#include <glib.h>
#include <string.h>

#include "dns/codec.h"
#include "packet/packet.h"
#include "tunnel/gateway.h"
#include "../tunnel/tunnel-fx.h"

#define SEC G_TIME_SPAN_SECOND
#define WALL0 (1765000000 * G_TIME_SPAN_SECOND)

static const char client_id[] = "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11";
static const char site_id[] = "0c9d3e2f-7a6b-4d18-8e95-31b4c2d5e6f7";
static const char corp_id[] = "8f5d0a7e-6c2b-4db4-a309-c16c5fbd7ea4";

typedef struct {
  guint64 seed[2];
  EmberTunnelNode *client;
  EmberTunnelConn *cconn;
  EmberGatewayTunnel *gw;
  EmberAddr host[2];              /* 0 client, 1 gateway */
  gint64 now;
  GPtrArray *to_network, *to_client;
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
  fx->now = 1000 * SEC;
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
}

static void
set_id (EmberPortalId *id, const char *s)
{
  g_strlcpy (id->str, s, sizeof id->str);
}

/* authorize_flow for the dns resource *.corp.example (tcp/80) with the
 * names the client gave proxy addresses: `name` at 100.96.0.N and
 * fd00:2021:1111:8000::N, N from 1. */
static void
authorize (Fx *fx, const char *const *names, guint n)
{
  EmberPortalMessage m;
  EmberPortalAuthorizeFlow *f = &m.u.authorize_flow;
  g_autoptr (GError) error = NULL;
  EmberTunnelConnConfig cfg = { .has_preshared_key = TRUE };

  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  f->ref = g_strdup ("ref-corp");
  set_id (&f->resource.id, corp_id);
  f->resource.name = g_strdup ("corp");
  f->resource.type = EMBER_PORTAL_RESOURCE_DNS;
  f->resource.dns_pattern = g_strdup ("*.corp.example");
  set_id (&f->resource.site.id, site_id);
  f->resource.site.name = g_strdup ("home");
  f->resource.n_filters = 1;
  f->resource.filters = g_new0 (EmberPortalFilter, 1);
  f->resource.filters[0].protocol = EMBER_PORTAL_PROTOCOL_TCP;
  f->resource.filters[0].n_ports = 1;
  f->resource.filters[0].ports[0] = (EmberPortalPortRange) { 80, 80 };
  set_id (&f->client.id, client_id);
  ember_tunnel_node_get_public_key (fx->client, f->client.public_key.bytes);
  f->client.tunnel.ipv4 = tunnel_fx_addr ("100.64.0.2", 0);
  f->client.tunnel.ipv6 = tunnel_fx_addr ("fd00:2021:1111::2", 0);
  memset (f->preshared_key.bytes, 0x42, 32);
  g_strlcpy (f->client_ice.ufrag, "caaaa", sizeof f->client_ice.ufrag);
  g_strlcpy (f->client_ice.pwd, "clientpasswordaaaaxxxxxxxxx", sizeof f->client_ice.pwd);
  g_strlcpy (f->gateway_ice.ufrag, "gaaaa", sizeof f->gateway_ice.ufrag);
  g_strlcpy (f->gateway_ice.pwd, "gatewaypasswordaaaaxxxxxxxx", sizeof f->gateway_ice.pwd);
  f->expires_at = (WALL0 + 3600 * SEC) / SEC;
  f->n_dns_names = n;
  f->dns_names = g_new0 (EmberPortalDnsName, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *v4 = g_strdup_printf ("100.96.0.%u", i + 1);
      g_autofree char *v6 = g_strdup_printf ("fd00:2021:1111:8000::%u", i + 1);

      f->dns_names[i].name = g_strdup (names[i]);
      f->dns_names[i].ipv4 = tunnel_fx_addr (v4, 0);
      f->dns_names[i].ipv6 = tunnel_fx_addr (v6, 0);
    }
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &m);

  g_strlcpy (cfg.peer_id, site_id, sizeof cfg.peer_id);
  ember_tunnel_node_get_public_key (ember_gateway_tunnel_get_node (fx->gw), cfg.public_key);
  memset (cfg.preshared_key, 0x42, 32);
  g_strlcpy (cfg.local_ufrag, f->client_ice.ufrag, sizeof cfg.local_ufrag);
  g_strlcpy (cfg.local_pwd, f->client_ice.pwd, sizeof cfg.local_pwd);
  g_strlcpy (cfg.remote_ufrag, f->gateway_ice.ufrag, sizeof cfg.remote_ufrag);
  g_strlcpy (cfg.remote_pwd, f->gateway_ice.pwd, sizeof cfg.remote_pwd);
  fx->cconn = ember_tunnel_node_connect (fx->client, fx->now, &cfg, &error);
  g_assert_no_error (error);
  ember_portal_message_clear (&m);
}

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

/* The portal and the wire: candidates both ways, datagrams, released
 * packets to the network, until quiet; then the clock to `until`. */
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
          guint8 buf[EMBER_WG_TRANSMIT_MAX];
          EmberTunnelTransmit tx;
          gsize n;

          moved = FALSE;
          while (ember_tunnel_node_poll_event (fx->client, &nev))
            {
              EmberPortalMessage m;

              moved = TRUE;
              if (nev.type == EMBER_TUNNEL_NODE_EVENT_STATE)
                continue;
              ember_portal_message_init (&m, nev.type == EMBER_TUNNEL_NODE_EVENT_CANDIDATE
                                               ? EMBER_PORTAL_EVENT_ICE_CANDIDATES
                                               : EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES,
                                         EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
              set_id (&m.u.ice_candidates.peer_id, client_id);
              m.u.ice_candidates.n_candidates = 1;
              m.u.ice_candidates.candidates = g_new (EmberIceCandidate, 1);
              m.u.ice_candidates.candidates[0] = nev.candidate;
              ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &m);
              ember_portal_message_clear (&m);
            }
          while (ember_gateway_tunnel_poll_portal (fx->gw, &pm))
            {
              moved = TRUE;
              if (pm.event == EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES)
                for (guint i = 0; i < pm.u.ice_broadcast.n_candidates; i++)
                  ember_tunnel_conn_add_remote_candidate (fx->client, fx->cconn, fx->now,
                                                          &pm.u.ice_broadcast.candidates[i], NULL);
              ember_portal_message_clear (&pm);
            }
          while (ember_tunnel_node_poll_transmit (fx->client, fx->now, buf, sizeof buf, &tx))
            {
              moved = TRUE;
              deliver (fx, 0, buf, tx.len);
            }
          while (ember_gateway_tunnel_poll_transmit (fx->gw, fx->now, buf, sizeof buf, &tx))
            {
              moved = TRUE;
              deliver (fx, 1, buf, tx.len);
            }
          while ((n = ember_gateway_tunnel_poll_network (fx->gw, fx->now, buf, sizeof buf)) > 0)
            {
              moved = TRUE;
              g_ptr_array_add (fx->to_network, g_bytes_new (buf, n));
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

/* A packet from the client through its connection: UDP, or a TCP SYN
 * made from the same bytes (the packet module builds no TCP). */
static void
client_sends (Fx *fx, guint proto, const char *src, const char *dst, guint16 port)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  gsize off = EMBER_WG_HEADROOM, len;
  EmberAddr s = tunnel_fx_addr (src, 40000), d = tunnel_fx_addr (dst, port);
  EmberIpPacket pkt;
  EmberTunnelTransmit tx;
  static const guint8 pad[20];

  g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, off, &s, &d, pad, sizeof pad),
                   ==, EMBER_PACKET_OK);
  len = ember_ip_packet_len (&pkt);
  if (proto == EMBER_IPPROTO_TCP)
    {
      /* The same bytes as a TCP SYN: 20 bytes of TCP header in place of
       * 8 of UDP and 12 of payload. */
      guint8 *ip = buf + off, *tcp = ip + (s.family == EMBER_ADDR_IPV4 ? 20 : 40);

      memset (tcp + 4, 0, 16);
      tcp[12] = 5 << 4;
      tcp[13] = 0x02;
      tcp[14] = 0xff;
      ip[s.family == EMBER_ADDR_IPV4 ? 9 : 6] = EMBER_IPPROTO_TCP;
      g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, sizeof buf, off, len), ==,
                       EMBER_PACKET_OK);
      ember_ip_packet_update_checksums (&pkt);
    }
  g_assert_cmpint (ember_tunnel_node_encapsulate (fx->client, fx->cconn, fx->now, buf, sizeof buf,
                                                  &off, &len, &tx),
                   ==, EMBER_TUNNEL_DATAGRAM);
  deliver (fx, 0, buf + off, len);
  fx_run (fx, fx->now);
}

/* Answers the translator's queries: A with `v4` (NULL: none), AAAA none. */
static guint
upstream_answers (Fx *fx, const char *v4)
{
  EmberDnsTranslator *t = ember_gateway_tunnel_get_translator (fx->gw);
  guint8 q[512], a[512];
  gsize qlen, alen;
  guint n = 0;

  while ((qlen = ember_dns_translator_poll_query (t, q, sizeof q)) > 0)
    {
      EmberDnsMessage msg;
      EmberDnsAnswer ans = { .type = EMBER_DNS_TYPE_A, .ttl = 60 };
      guint n_ans = 0;

      g_assert_cmpint (ember_dns_message_parse (&msg, q, qlen), ==, EMBER_DNS_OK);
      if (msg.qtype == EMBER_DNS_TYPE_A && v4)
        {
          EmberAddr r = tunnel_fx_addr (v4, 0);

          memcpy (ans.addr, r.addr, 4);
          n_ans = 1;
        }
      g_assert_cmpint (ember_dns_build_response (&msg, 0, 0, &ans, n_ans, 512, a, sizeof a, &alen),
                       ==, EMBER_DNS_OK);
      g_assert_true (ember_dns_translator_handle_answer (t, fx->now, a, alen));
      n++;
    }
  fx_run (fx, fx->now);
  return n;
}

static EmberIpPacket
parsed (GBytes *b, guint8 *copy, gsize cap)
{
  EmberIpPacket pkt;

  g_assert_cmpuint (g_bytes_get_size (b), <=, cap);
  memcpy (copy, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  g_assert_cmpint (ember_ip_packet_parse (&pkt, copy, cap, 0, g_bytes_get_size (b)), ==,
                   EMBER_PACKET_OK);
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
  return pkt;
}

static void
assert_addr (const EmberAddr *a, const char *ip)
{
  EmberAddr e = tunnel_fx_addr (ip, 0);

  g_assert_true (ember_ice_addr_same_ip (a, &e));
}

static void
test_proxy_held_resolved_translated_and_answered (Fx *fx, gconstpointer data)
{
  static const char *const names[] = { "app.corp.example" };
  guint8 copy[EMBER_PACKET_BUF_SIZE], buf[EMBER_WG_TRANSMIT_MAX];
  EmberIpPacket pkt;
  EmberAddr a;
  EmberTunnelTransmit tx;
  gsize off = EMBER_WG_HEADROOM, len;
  guint8 type, code;

  (void) data;
  authorize (fx, names, 1);
  fx_run (fx, fx->now + 5 * SEC);
  g_assert_true (ember_gateway_tunnel_client_up (fx->gw, client_id));

  /* The first SYN to the proxy address waits for the gateway's lookup. */
  client_sends (fx, EMBER_IPPROTO_TCP, "100.64.0.2", "100.96.0.1", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 0);
  g_assert_cmpuint (upstream_answers (fx, "10.20.0.80"), ==, 2);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  pkt = parsed (g_ptr_array_index (fx->to_network, 0), copy, sizeof copy);
  ember_ip_packet_get_destination (&pkt, &a);
  assert_addr (&a, "10.20.0.80");
  g_assert_cmpuint (a.port, ==, 80);

  /* The SYN-ACK goes back to the client from the proxy address. */
  {
    EmberAddr web = tunnel_fx_addr ("10.20.0.80", 80), me = tunnel_fx_addr ("100.64.0.2", 40000);
    static const guint8 pad[20];
    EmberIpPacket reply;

    g_assert_cmpint (ember_ip_packet_build_udp (&reply, buf, sizeof buf, off, &web, &me, pad,
                                                sizeof pad), ==, EMBER_PACKET_OK);
    buf[off + 9] = EMBER_IPPROTO_TCP;
    memset (buf + off + 24, 0, 16);
    buf[off + 32] = 5 << 4;
    buf[off + 33] = 0x12;
    len = ember_ip_packet_len (&reply);
    g_assert_cmpint (ember_ip_packet_parse (&reply, buf, sizeof buf, off, len), ==,
                     EMBER_PACKET_OK);
    ember_ip_packet_update_checksums (&reply);
    g_assert_cmpint (ember_gateway_tunnel_handle_tun (fx->gw, fx->now, buf, sizeof buf, &off, &len,
                                                      &tx), ==, EMBER_GATEWAY_DATAGRAM);
    deliver (fx, 1, buf + off, len);
  }
  g_assert_cmpuint (fx->to_client->len, ==, 1);
  pkt = parsed (g_ptr_array_index (fx->to_client, 0), copy, sizeof copy);
  ember_ip_packet_get_source (&pkt, &a);
  assert_addr (&a, "100.96.0.1");

  /* The next segment goes straight through. */
  client_sends (fx, EMBER_IPPROTO_TCP, "100.64.0.2", "100.96.0.1", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 2);

  /* The name has no AAAA: its IPv6 proxy address gets ICMPv6 address
   * unreachable through the tunnel, from that address. */
  client_sends (fx, EMBER_IPPROTO_TCP, "fd00:2021:1111::2", "fd00:2021:1111:8000::1", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 2);
  g_assert_cmpuint (fx->to_client->len, ==, 2);
  pkt = parsed (g_ptr_array_index (fx->to_client, 1), copy, sizeof copy);
  g_assert_cmpint (ember_ip_packet_icmp_type (&pkt, &type, &code), ==, EMBER_PACKET_OK);
  g_assert_cmpuint (type, ==, 1);
  g_assert_cmpuint (code, ==, 3);
  ember_ip_packet_get_source (&pkt, &a);
  assert_addr (&a, "fd00:2021:1111:8000::1");

  /* The filter still applies to the real destination. */
  client_sends (fx, EMBER_IPPROTO_TCP, "100.64.0.2", "100.96.0.1", 22);
  g_assert_cmpuint (fx->to_network->len, ==, 2);
}

/* The portal's init after a reconnect, listing the client's corp flow. */
static void
reinit (Fx *fx)
{
  EmberPortalMessage m;
  EmberPortalAuthorization *a;

  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_GATEWAY_INIT, EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  m.u.gateway_init.iface.ipv4 = tunnel_fx_addr ("100.64.0.100", 0);
  m.u.gateway_init.iface.ipv6 = tunnel_fx_addr ("fd00:2021:1111::100", 0);
  m.u.gateway_init.n_authorizations = 1;
  m.u.gateway_init.authorizations = a = g_new0 (EmberPortalAuthorization, 1);
  set_id (&a->client.id, client_id);
  ember_tunnel_node_get_public_key (fx->client, a->client.public_key.bytes);
  a->client.tunnel.ipv4 = tunnel_fx_addr ("100.64.0.2", 0);
  a->client.tunnel.ipv6 = tunnel_fx_addr ("fd00:2021:1111::2", 0);
  set_id (&a->resource.id, corp_id);
  a->resource.name = g_strdup ("corp");
  a->resource.type = EMBER_PORTAL_RESOURCE_DNS;
  a->resource.dns_pattern = g_strdup ("*.corp.example");
  set_id (&a->resource.site.id, site_id);
  a->resource.site.name = g_strdup ("home");
  a->resource.n_filters = 1;
  a->resource.filters = g_new0 (EmberPortalFilter, 1);
  a->resource.filters[0].protocol = EMBER_PORTAL_PROTOCOL_TCP;
  a->resource.filters[0].n_ports = 1;
  a->resource.filters[0].ports[0] = (EmberPortalPortRange) { 80, 80 };
  memset (a->preshared_key.bytes, 0x42, 32);
  a->expires_at = (WALL0 + 3600 * SEC) / SEC;
  ember_gateway_tunnel_handle_portal (fx->gw, fx->now, &m);
  ember_portal_message_clear (&m);
  fx_run (fx, fx->now);
}

static void
test_translation_survives_a_portal_reinit (Fx *fx, gconstpointer data)
{
  static const char *const names[] = { "app.corp.example" };

  (void) data;
  authorize (fx, names, 1);
  fx_run (fx, fx->now + 5 * SEC);
  client_sends (fx, EMBER_IPPROTO_TCP, "100.64.0.2", "100.96.0.1", 80);
  g_assert_cmpuint (upstream_answers (fx, "10.20.0.80"), ==, 2);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
  /* The portal came back and listed the flow: the names and the real
   * addresses the policy checks against are still there, no new lookup. */
  reinit (fx);
  client_sends (fx, EMBER_IPPROTO_TCP, "100.64.0.2", "100.96.0.1", 80);
  g_assert_cmpuint (upstream_answers (fx, "10.20.0.80"), ==, 0);
  g_assert_cmpuint (fx->to_network->len, ==, 2);
}

static void
test_name_outside_pattern_and_unnamed_proxy_refused (Fx *fx, gconstpointer data)
{
  static const char *const names[] = { "intranet.evil.example", "app.corp.example" };
  EmberGatewayTunnelStats st;

  (void) data;
  g_test_expect_message (NULL, G_LOG_LEVEL_WARNING,
                         "*dns_names[0]*not covered by the resource's pattern*");
  authorize (fx, names, 2);
  g_test_assert_expected_messages ();
  fx_run (fx, fx->now + 5 * SEC);
  ember_gateway_tunnel_get_stats (fx->gw, &st);
  g_assert_cmpuint (st.portal_errors, ==, 1);
  /* The refused name's proxy address and one never named: the policy
   * refuses them (ICMP prohibited), no lookup is made. */
  client_sends (fx, EMBER_IPPROTO_TCP, "100.64.0.2", "100.96.0.1", 80);
  client_sends (fx, EMBER_IPPROTO_TCP, "100.64.0.2", "100.96.0.7", 80);
  g_assert_cmpuint (fx->to_network->len, ==, 0);
  g_assert_cmpuint (fx->to_client->len, ==, 2);
  g_assert_cmpuint (upstream_answers (fx, "10.20.0.80"), ==, 0);
  /* The accepted one works. */
  client_sends (fx, EMBER_IPPROTO_TCP, "100.64.0.2", "100.96.0.2", 80);
  g_assert_cmpuint (upstream_answers (fx, "10.20.0.80"), ==, 2);
  g_assert_cmpuint (fx->to_network->len, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fx, NULL, fx_setup, fn, fx_teardown)
  ADD ("/dns/gateway/proxy-packet-held-resolved-translated-and-answered",
       test_proxy_held_resolved_translated_and_answered);
  ADD ("/dns/gateway/translation-survives-a-portal-reinit",
       test_translation_survives_a_portal_reinit);
  ADD ("/dns/gateway/name-outside-the-pattern-and-unnamed-proxy-refused",
       test_name_outside_pattern_and_unnamed_proxy_refused);
  return g_test_run ();
}
