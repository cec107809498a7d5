/* The client tunnel (core/tunnel/client): against a scripted portal and a
 * bare gateway-side node, joined by in-memory queues on a virtual clock.
 * The portal here answers the way docs/portal-protocol.md says; the
 * gateway side is the shared connection layer without policy (the
 * gateway tunnel has its own tests and the simulator runs both). */
#include <glib.h>
#include <string.h>

#include "packet/packet.h"
#include "portal/messages.h"
#include "tunnel/client.h"
#include "tunnel-fx.h"

#define MS G_TIME_SPAN_MILLISECOND
#define S G_TIME_SPAN_SECOND
#define WALL0 (G_GINT64_CONSTANT (1700000000) * S)

static const char *RES_WEB = "4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60";   /* 10.20.0.0/24 */
static const char *RES_DB = "5c2a7d4b-3f9e-4a81-b0d6-9e3f2c8a4b71";    /* 10.30.0.0/16 */
static const char *RES_V6 = "6d3b8e5c-4a0f-4b92-81e7-af4a3d9b5c82";    /* 2001:db8:5::/48 */
static const char *RES_NET = "7e4c9f6d-5b1a-4ca3-92f8-b05b4eac6d93";   /* internet */
static const char *RES_DNS = "8f5d0a7e-6c2b-4db4-a309-c16c5fbd7ea4";   /* *.corp.example */
static const char *SITE = "d2c4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f";
static const char *GW = "0c9d3e2f-7a6b-4d18-8e95-31b4c2d5e6f7";
/* The gateway's address on its LAN, which is resource RES_WEB. */
static const char *GW_LAN = "10.20.0.1";

typedef enum { ANSWER_AUTHORIZE, ANSWER_FORBIDDEN, ANSWER_OFFLINE, ANSWER_NONE } Answer;

typedef struct {
  guint64 seed[2];
  gint64 now;
  EmberClientTunnel *t;
  EmberTunnelNode *gw;           /* the gateway's connection layer */
  EmberAddr chost, ghost;
  Answer answer;
  guint n_authorizations;
  guint ufrag_counter;
  GPtrArray *requests;           /* EmberPortalMessage* the client sent */
  GArray *routes;                /* EmberClientEvent */
  GArray *gw_rx_seq;             /* ICMP echo sequences that reached the gateway */
  guint n_invalidations_to_gw;
  guint tx_to_gw_lan;            /* datagrams the client sent to GW_LAN */
  guint tun_icmp;
  guint8 last_icmp_type, last_icmp_code;
} Fx;

static void
set_id (EmberPortalId *id, const char *s)
{
  g_strlcpy (id->str, s, sizeof id->str);
}

static void
resource (EmberPortalResource *r, const char *id, EmberPortalResourceType type, const char *cidr)
{
  memset (r, 0, sizeof *r);
  set_id (&r->id, id);
  r->name = g_strdup ("r");
  r->type = type;
  set_id (&r->site.id, SITE);
  r->site.name = g_strdup ("home");
  if (cidr != NULL)
    {
      g_assert_true (ember_cidr_parse (cidr, EMBER_CIDR_PARSE_STRICT, &r->cidr, NULL));
    }
  if (type == EMBER_PORTAL_RESOURCE_DNS)
    r->dns_pattern = g_strdup ("*.corp.example");
}

static void
deliver (Fx *fx, EmberPortalMessage *msg)
{
  ember_client_tunnel_handle_portal (fx->t, fx->now, msg);
  ember_portal_message_clear (msg);
}

static void
fx_setup (Fx *fx, gconstpointer data)
{
  (void) data;
  memset (fx, 0, sizeof *fx);
  fx->now = 10 * S;
  fx->seed[0] = 7, fx->seed[1] = 8;
  EmberClientTunnelConfig cc = { .wg = &tunnel_fx_wg, .rng = { tunnel_fx_rng_next, &fx->seed[0] },
                                 .wall_us = WALL0 + fx->now };
  tunnel_fx_key (cc.private_key, 1);
  g_autoptr (GError) error = NULL;
  fx->t = ember_client_tunnel_new (&cc, fx->now, &error);
  g_assert_no_error (error);
  EmberTunnelNodeConfig gc = { .wg = &tunnel_fx_wg, .role = EMBER_ICE_ROLE_CONTROLLED,
                               .rng = { tunnel_fx_rng_next, &fx->seed[1] }, .wall_us = WALL0 };
  tunnel_fx_key (gc.private_key, 2);
  fx->gw = ember_tunnel_node_new (&gc, fx->now, &error);
  g_assert_no_error (error);
  fx->chost = tunnel_fx_addr ("192.0.2.1", 51820);
  fx->ghost = tunnel_fx_addr ("198.51.100.2", 51820);
  ember_tunnel_node_set_host_addresses (fx->gw, &fx->ghost, 1, NULL, 0);
  ember_client_tunnel_set_host_addresses (fx->t, fx->now, &fx->chost, 1);
  fx->requests = g_ptr_array_new ();
  fx->routes = g_array_new (FALSE, FALSE, sizeof (EmberClientEvent));
  fx->gw_rx_seq = g_array_new (FALSE, FALSE, sizeof (guint16));

  EmberPortalMessage init;
  ember_portal_message_init (&init, EMBER_PORTAL_EVENT_CLIENT_INIT, EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  EmberPortalClientInit *ci = &init.u.client_init;
  ci->iface.ipv4 = tunnel_fx_addr ("100.64.0.2", 0);
  ci->iface.ipv6 = tunnel_fx_addr ("fd00:2021:1111::2", 0);
  ci->n_resources = 5;
  ci->resources = g_new0 (EmberPortalResource, 5);
  resource (&ci->resources[0], RES_WEB, EMBER_PORTAL_RESOURCE_CIDR, "10.20.0.0/24");
  resource (&ci->resources[1], RES_DB, EMBER_PORTAL_RESOURCE_CIDR, "10.30.0.0/16");
  resource (&ci->resources[2], RES_V6, EMBER_PORTAL_RESOURCE_CIDR, "2001:db8:5::/48");
  resource (&ci->resources[3], RES_NET, EMBER_PORTAL_RESOURCE_INTERNET, NULL);
  resource (&ci->resources[4], RES_DNS, EMBER_PORTAL_RESOURCE_DNS, NULL);
  deliver (fx, &init);
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  ember_client_tunnel_free (fx->t);
  ember_tunnel_node_free (fx->gw);
  for (guint i = 0; i < fx->requests->len; i++)
    {
      ember_portal_message_clear (g_ptr_array_index (fx->requests, i));
      g_free (g_ptr_array_index (fx->requests, i));
    }
  g_ptr_array_free (fx->requests, TRUE);
  g_array_free (fx->routes, TRUE);
  g_array_free (fx->gw_rx_seq, TRUE);
}

/* The portal's answer to request_authorization, and the gateway's side
 * of rule 2 (docs/tunnel.md). */
static void
authorize (Fx *fx, const EmberPortalRequestAuthorization *req)
{
  EmberPortalMessage m;
  if (fx->answer == ANSWER_NONE)
    return;
  if (fx->answer != ANSWER_AUTHORIZE)
    {
      ember_portal_message_init (&m, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED,
                                 EMBER_PORTAL_CHANNEL_CLIENT, NULL);
      m.u.authorization_failed.resource_id = req->resource_id;
      m.u.authorization_failed.reason = fx->answer == ANSWER_FORBIDDEN ? EMBER_PORTAL_AUTHZ_FORBIDDEN
                                                                       : EMBER_PORTAL_AUTHZ_OFFLINE;
      deliver (fx, &m);
      return;
    }
  fx->n_authorizations++;
  /* The portal's side of rule 2: the same credentials again when the
   * client says it is connected to this gateway. */
  gboolean listed = FALSE;
  for (guint i = 0; i < req->n_connected_gateway_ids; i++)
    listed = listed || strcmp (req->connected_gateway_ids[i].str, GW) == 0;
  if (!listed || fx->ufrag_counter == 0)
    fx->ufrag_counter++;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED,
                             EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  EmberPortalAuthorizationCreated *a = &m.u.authorization_created;
  a->resource_id = req->resource_id;
  set_id (&a->gateway.id, GW);
  ember_tunnel_node_get_public_key (fx->gw, a->gateway.public_key.bytes);
  a->gateway.tunnel.ipv4 = tunnel_fx_addr ("100.64.0.1", 0);
  a->gateway.tunnel.ipv6 = tunnel_fx_addr ("fd00:2021:1111::1", 0);
  memset (a->preshared_key.bytes, 0x33, 32);
  g_snprintf (a->client_ice.ufrag, sizeof a->client_ice.ufrag, "cli%u", fx->ufrag_counter);
  g_snprintf (a->client_ice.pwd, sizeof a->client_ice.pwd, "clientpasswordclientpass%u", fx->ufrag_counter);
  g_snprintf (a->gateway_ice.ufrag, sizeof a->gateway_ice.ufrag, "gwy%u", fx->ufrag_counter);
  g_snprintf (a->gateway_ice.pwd, sizeof a->gateway_ice.pwd, "gatewaypasswordgatewayp%u", fx->ufrag_counter);
  a->expires_at = WALL0 / S + 3600;

  /* The gateway side: connect() decides (rule 2). */
    {
      EmberTunnelConnConfig cfg = { .has_preshared_key = TRUE };
      g_strlcpy (cfg.peer_id, "client", sizeof cfg.peer_id);
      ember_tunnel_node_get_public_key (ember_client_tunnel_get_node (fx->t), cfg.public_key);
      memcpy (cfg.preshared_key, a->preshared_key.bytes, 32);
      g_strlcpy (cfg.local_ufrag, a->gateway_ice.ufrag, sizeof cfg.local_ufrag);
      g_strlcpy (cfg.local_pwd, a->gateway_ice.pwd, sizeof cfg.local_pwd);
      g_strlcpy (cfg.remote_ufrag, a->client_ice.ufrag, sizeof cfg.remote_ufrag);
      g_strlcpy (cfg.remote_pwd, a->client_ice.pwd, sizeof cfg.remote_pwd);
      g_assert_nonnull (ember_tunnel_node_connect (fx->gw, fx->now, &cfg, NULL));
    }
  deliver (fx, &m);
}

static void
echo (guint8 *buf, gsize cap, gsize *len, const char *src, const char *dst, guint16 seq)
{
  EmberIpPacket pkt;
  EmberAddr s = tunnel_fx_addr (src, 0), d = tunnel_fx_addr (dst, 0);
  g_assert_cmpint (ember_ip_packet_build_icmp_echo (&pkt, buf, cap, EMBER_WG_HEADROOM, &s, &d, FALSE,
                                                    1, seq, (const guint8 *) "hello", 5),
                   ==, EMBER_PACKET_OK);
  *len = ember_ip_packet_len (&pkt);
}

static void
gw_receive (Fx *fx, const EmberTunnelTransmit *tx, guint8 *buf, gsize off, gsize len)
{
  if (!ember_ice_addr_equal (&tx->to, &fx->ghost))
    return;
  EmberTunnelConn *conn = NULL;
  if (ember_tunnel_node_handle_input (fx->gw, fx->now, &tx->to, &tx->from, buf, &off, &len, &conn)
      != EMBER_TUNNEL_PACKET)
    return;
  EmberIpPacket pkt;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, off + len, off, len), ==, EMBER_PACKET_OK);
  if (ember_ip_packet_is_icmp_echo (&pkt))
    {
      guint16 seq = ember_ip_packet_get_icmp_sequence (&pkt);
      g_array_append_val (fx->gw_rx_seq, seq);
    }
}

/* Runs everything until quiet, then the clock to `until`. */
static void
fx_run (Fx *fx, gint64 until)
{
  for (;;)
    {
      gboolean moved = TRUE;
      while (moved)
        {
          moved = FALSE;
          EmberPortalMessage *msg = g_new0 (EmberPortalMessage, 1);
          while (ember_client_tunnel_poll_portal (fx->t, msg))
            {
              moved = TRUE;
              switch (msg->event)
                {
                case EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION:
                  g_ptr_array_add (fx->requests, msg);
                  authorize (fx, &msg->u.request_authorization);
                  msg = g_new0 (EmberPortalMessage, 1);
                  continue;
                case EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES:
                case EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES:
                  {
                    EmberTunnelConn *conn = ember_tunnel_node_lookup (fx->gw, "client");
                    EmberPortalIceBroadcast *b = &msg->u.ice_broadcast;
                    g_assert_cmpuint (b->n_peer_ids, ==, 1);
                    g_assert_cmpstr (b->peer_ids[0].str, ==, GW);
                    for (guint i = 0; conn != NULL && i < b->n_candidates; i++)
                      {
                        if (msg->event == EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES)
                          ember_tunnel_conn_add_remote_candidate (fx->gw, conn, fx->now,
                                                                  &b->candidates[i], NULL);
                        else
                          {
                            fx->n_invalidations_to_gw++;
                            ember_tunnel_conn_invalidate_remote_candidate (fx->gw, conn, fx->now,
                                                                           &b->candidates[i]);
                          }
                      }
                    break;
                  }
                default:
                  break;
                }
              ember_portal_message_clear (msg);
            }
          g_free (msg);
          EmberTunnelNodeEvent ev;
          while (ember_tunnel_node_poll_event (fx->gw, &ev))
            {
              moved = TRUE;
              if (ev.type == EMBER_TUNNEL_NODE_EVENT_STATE)
                continue;
              EmberPortalMessage m;
              ember_portal_message_init (&m, ev.type == EMBER_TUNNEL_NODE_EVENT_CANDIDATE
                                                 ? EMBER_PORTAL_EVENT_ICE_CANDIDATES
                                                 : EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES,
                                         EMBER_PORTAL_CHANNEL_CLIENT, NULL);
              set_id (&m.u.ice_candidates.peer_id, GW);
              m.u.ice_candidates.n_candidates = 1;
              m.u.ice_candidates.candidates = g_new (EmberIceCandidate, 1);
              m.u.ice_candidates.candidates[0] = ev.candidate;
              deliver (fx, &m);
            }
          guint8 buf[EMBER_WG_TRANSMIT_MAX];
          EmberTunnelTransmit tx;
          while (ember_client_tunnel_poll_transmit (fx->t, fx->now, buf, sizeof buf, &tx))
            {
              moved = TRUE;
              EmberAddr lan = tunnel_fx_addr (GW_LAN, 51820);
              if (ember_ice_addr_equal (&tx.to, &lan))
                fx->tx_to_gw_lan++;
              gw_receive (fx, &tx, buf, 0, tx.len);
            }
          while (ember_tunnel_node_poll_transmit (fx->gw, fx->now, buf, sizeof buf, &tx))
            {
              moved = TRUE;
              /* What the gateway sends from its LAN address would leave
               * through its NAT with another source. */
              if (!ember_ice_addr_equal (&tx.to, &fx->chost) || !ember_ice_addr_equal (&tx.from, &fx->ghost))
                continue;
              gsize off = 0, len = tx.len;
              ember_client_tunnel_handle_datagram (fx->t, fx->now, &tx.to, &tx.from, buf, &off, &len);
            }
          gsize n;
          while ((n = ember_client_tunnel_poll_tun (fx->t, buf, sizeof buf)) > 0)
            {
              moved = TRUE;
              EmberIpPacket pkt;
              g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, n, 0, n), ==, EMBER_PACKET_OK);
              g_assert_true (ember_ip_packet_is_icmp_error (&pkt));
              ember_ip_packet_icmp_type (&pkt, &fx->last_icmp_type, &fx->last_icmp_code);
              fx->tun_icmp++;
            }
          EmberClientEvent cev;
          while (ember_client_tunnel_poll_event (fx->t, &cev))
            {
              moved = TRUE;
              if (cev.type == EMBER_CLIENT_EVENT_ROUTE_ADD || cev.type == EMBER_CLIENT_EVENT_ROUTE_REMOVE)
                g_array_append_val (fx->routes, cev);
            }
        }
      gint64 t = MIN (ember_client_tunnel_poll_timeout (fx->t), ember_tunnel_node_poll_timeout (fx->gw));
      if (t > until)
        break;
      fx->now = MAX (fx->now, t);
      ember_client_tunnel_handle_timeout (fx->t, fx->now);
      ember_tunnel_node_handle_timeout (fx->gw, fx->now);
    }
  fx->now = MAX (fx->now, until);
}

static EmberClientResult
send_echo (Fx *fx, const char *dst, guint16 seq)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE + 64];
  gsize off = EMBER_WG_HEADROOM, len;
  const char *src = strchr (dst, ':') != NULL ? "fd00:2021:1111::2" : "100.64.0.2";
  echo (buf, sizeof buf, &len, src, dst, seq);
  EmberTunnelTransmit tx;
  EmberClientResult r = ember_client_tunnel_handle_tun (fx->t, fx->now, buf, sizeof buf, &off, &len, &tx);
  if (r == EMBER_CLIENT_DATAGRAM)
    gw_receive (fx, &tx, buf, off, len);
  return r;
}

static guint
count_routes (Fx *fx, EmberClientEventType type, const char *cidr)
{
  guint n = 0;
  for (guint i = 0; i < fx->routes->len; i++)
    {
      EmberClientEvent *e = &g_array_index (fx->routes, EmberClientEvent, i);
      char buf[EMBER_CIDR_STRLEN];
      if (e->type == type && strcmp (ember_cidr_format (&e->cidr, buf), cidr) == 0)
        n++;
    }
  return n;
}

static void
test_init_routes (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_run (fx, fx->now);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "10.20.0.0/24"), ==, 1);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "10.30.0.0/16"), ==, 1);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "2001:db8:5::/48"), ==, 1);
  /* The internet resource is off until switched on. */
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "0.0.0.0/0"), ==, 0);
  g_assert_cmpint (send_echo (fx, "192.0.2.99", 1), ==, EMBER_CLIENT_REFUSED);
  ember_client_tunnel_set_internet_enabled (fx->t, fx->now, TRUE);
  fx_run (fx, fx->now);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "0.0.0.0/0"), ==, 1);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "::/0"), ==, 1);
  g_assert_cmpint (send_echo (fx, "192.0.2.99", 2), ==, EMBER_CLIENT_HELD);
  ember_client_tunnel_set_internet_enabled (fx->t, fx->now, FALSE);
  fx_run (fx, fx->now);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_REMOVE, "0.0.0.0/0"), ==, 1);
  /* A longer prefix wins over the internet resource. */
  EmberPortalId id;
  set_id (&id, RES_DNS);
  EmberAddr proxy = tunnel_fx_addr ("100.96.0.7", 0);
  g_assert_true (ember_client_tunnel_add_proxy_address (fx->t, &id, &proxy));
  set_id (&id, RES_WEB);
  g_assert_false (ember_client_tunnel_add_proxy_address (fx->t, &id, &proxy));
  fx_run (fx, fx->now);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "100.96.0.7/32"), ==, 1);
  g_assert_cmpint (send_echo (fx, "100.96.0.7", 3), ==, EMBER_CLIENT_HELD);
  EmberClientAuthzState st;
  set_id (&id, RES_DNS);
  g_assert_true (ember_client_tunnel_get_resource (fx->t, &id, &st, NULL, NULL));
  g_assert_cmpint (st, ==, EMBER_CLIENT_AUTHZ_REQUESTED);
}

static void
test_first_packet_held_then_flushed_in_order (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->answer = ANSWER_NONE;  /* the portal is slow */
  for (guint16 i = 0; i < 40; i++)
    g_assert_cmpint (send_echo (fx, "10.20.0.5", i), ==, EMBER_CLIENT_HELD);
  fx_run (fx, fx->now);
  g_assert_cmpuint (fx->requests->len, ==, 1);
  EmberPortalMessage *req = g_ptr_array_index (fx->requests, 0);
  g_assert_cmpstr (req->u.request_authorization.resource_id.str, ==, RES_WEB);
  g_assert_cmpuint (req->u.request_authorization.n_connected_gateway_ids, ==, 0);
  EmberClientStats st;
  ember_client_tunnel_get_stats (fx->t, &st);
  g_assert_cmpuint (st.held_dropped, ==, 8);  /* 40 into 32: the oldest 8 */

  /* The portal answers now (the client asked again after 10 s). */
  fx->answer = ANSWER_AUTHORIZE;
  gint64 t0 = fx->now;
  fx_run (fx, t0 + EMBER_CLIENT_REQUEST_TIMEOUT_US + 2 * S);
  g_assert_cmpuint (fx->requests->len, ==, 2);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 32);
  for (guint i = 0; i < 32; i++)
    g_assert_cmpuint (g_array_index (fx->gw_rx_seq, guint16, i), ==, 8 + i);
  /* Now straight through. */
  g_assert_cmpint (send_echo (fx, "10.20.0.5", 100), ==, EMBER_CLIENT_DATAGRAM);
  g_assert_cmpuint (g_array_index (fx->gw_rx_seq, guint16, 32), ==, 100);
}

/* Whether the request carries `name` with these proxy addresses. */
static gboolean
request_names (const EmberPortalMessage *req, const char *name, const char *v4, const char *v6)
{
  const EmberPortalRequestAuthorization *r = &req->u.request_authorization;
  EmberAddr a4 = tunnel_fx_addr (v4, 0), a6 = tunnel_fx_addr (v6, 0);
  for (guint i = 0; i < r->n_dns_names; i++)
    if (g_str_equal (r->dns_names[i].name, name))
      return ember_ice_addr_same_ip (&r->dns_names[i].ipv4, &a4) &&
             ember_ice_addr_same_ip (&r->dns_names[i].ipv6, &a6);
  return FALSE;
}

static void
test_dns_names_reach_the_gateway_before_their_packets (Fx *fx, gconstpointer data)
{
  EmberPortalId id;
  EmberAddr app4 = tunnel_fx_addr ("100.96.0.1", 0), app6 = tunnel_fx_addr ("fd00:2021:1111:8000::1", 0);
  EmberAddr db4 = tunnel_fx_addr ("100.96.0.2", 0), db6 = tunnel_fx_addr ("fd00:2021:1111:8000::2", 0);

  (void) data;
  set_id (&id, RES_WEB);
  g_assert_false (ember_client_tunnel_add_proxy_name (fx->t, fx->now, &id, "app.corp.example", &app4, &app6));
  set_id (&id, RES_DNS);
  g_assert_true (ember_client_tunnel_add_proxy_name (fx->t, fx->now, &id, "app.corp.example", &app4, &app6));
  fx_run (fx, fx->now);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "100.96.0.1/32"), ==, 1);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "fd00:2021:1111:8000::1/128"), ==, 1);
  /* Nothing asked before a packet. */
  g_assert_cmpuint (fx->requests->len, ==, 0);
  g_assert_cmpint (send_echo (fx, "100.96.0.1", 1), ==, EMBER_CLIENT_HELD);
  fx_run (fx, fx->now + 2 * S);
  g_assert_cmpuint (fx->requests->len, ==, 1);
  g_assert_true (request_names (g_ptr_array_index (fx->requests, 0), "app.corp.example",
                                "100.96.0.1", "fd00:2021:1111:8000::1"));
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 1);

  /* A new name of the authorized resource is told at once, and its
   * packets wait until that request is answered, the others behind them. */
  fx->answer = ANSWER_NONE;
  g_assert_true (ember_client_tunnel_add_proxy_name (fx->t, fx->now, &id, "db.corp.example", &db4, &db6));
  fx_run (fx, fx->now);
  g_assert_cmpuint (fx->requests->len, ==, 2);
  g_assert_true (request_names (g_ptr_array_index (fx->requests, 1), "db.corp.example",
                                "100.96.0.2", "fd00:2021:1111:8000::2"));
  g_assert_true (request_names (g_ptr_array_index (fx->requests, 1), "app.corp.example",
                                "100.96.0.1", "fd00:2021:1111:8000::1"));
  g_assert_cmpint (send_echo (fx, "100.96.0.2", 2), ==, EMBER_CLIENT_HELD);
  g_assert_cmpint (send_echo (fx, "100.96.0.1", 3), ==, EMBER_CLIENT_HELD);
  fx_run (fx, fx->now + 2 * S);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 1);
  /* The portal answers the request sent again: both go, in order. */
  fx->answer = ANSWER_AUTHORIZE;
  fx_run (fx, fx->now + EMBER_CLIENT_REQUEST_TIMEOUT_US);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 3);
  g_assert_cmpuint (g_array_index (fx->gw_rx_seq, guint16, 1), ==, 2);
  g_assert_cmpuint (g_array_index (fx->gw_rx_seq, guint16, 2), ==, 3);
  g_assert_cmpint (send_echo (fx, "100.96.0.2", 4), ==, EMBER_CLIENT_DATAGRAM);
}

static void
test_second_resource_reuses_connection (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->answer = ANSWER_AUTHORIZE;
  send_echo (fx, "10.20.0.5", 1);
  fx_run (fx, fx->now + 2 * S);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 1);
  EmberTunnelConn *conn = ember_tunnel_node_lookup (ember_client_tunnel_get_node (fx->t), GW);
  g_assert_cmpuint (ember_tunnel_conn_get_generation (conn), ==, 1);

  g_assert_cmpint (send_echo (fx, "10.30.1.1", 2), ==, EMBER_CLIENT_HELD);
  fx_run (fx, fx->now + 1 * S);
  g_assert_cmpuint (fx->requests->len, ==, 2);
  EmberPortalMessage *req = g_ptr_array_index (fx->requests, 1);
  g_assert_cmpuint (req->u.request_authorization.n_connected_gateway_ids, ==, 1);
  g_assert_cmpstr (req->u.request_authorization.connected_gateway_ids[0].str, ==, GW);
  /* Same connection, no ICE restart; the held packet went through it. */
  g_assert_cmpuint (ember_tunnel_node_get_n_conns (ember_client_tunnel_get_node (fx->t)), ==, 1);
  g_assert_cmpuint (ember_tunnel_conn_get_generation (conn), ==, 1);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 2);
  g_assert_cmpint (send_echo (fx, "10.30.1.1", 3), ==, EMBER_CLIENT_DATAGRAM);
  g_assert_cmpint (send_echo (fx, "2001:db8:5::9", 4), ==, EMBER_CLIENT_HELD);
  fx_run (fx, fx->now + 1 * S);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 4);
}

static void
test_denied_gets_icmp_rate_limited (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->answer = ANSWER_FORBIDDEN;
  send_echo (fx, "10.20.0.5", 1);
  send_echo (fx, "10.20.0.5", 2);
  fx_run (fx, fx->now);
  /* The two held packets are answered. */
  g_assert_cmpuint (fx->tun_icmp, ==, 2);
  g_assert_cmpuint (fx->last_icmp_type, ==, EMBER_ICMPV4_DEST_UNREACH);
  g_assert_cmpuint (fx->last_icmp_code, ==, EMBER_ICMPV4_UNREACH_ADMIN_PROHIBITED);
  for (guint16 i = 0; i < 100; i++)
    g_assert_cmpint (send_echo (fx, "10.20.0.5", 10 + i), ==, EMBER_CLIENT_REFUSED);
  fx_run (fx, fx->now);
  g_assert_cmpuint (fx->tun_icmp, <=, EMBER_CLIENT_ICMP_RATE);
  EmberClientStats st;
  ember_client_tunnel_get_stats (fx->t, &st);
  g_assert_cmpuint (st.icmp_suppressed, >=, 90);
  g_assert_cmpuint (fx->requests->len, ==, 1);  /* no request storm */
  /* After the backoff, the next packet asks again. */
  fx_run (fx, fx->now + EMBER_CLIENT_DENIED_BACKOFF_US);
  fx->answer = ANSWER_AUTHORIZE;
  g_assert_cmpint (send_echo (fx, "10.20.0.5", 200), ==, EMBER_CLIENT_HELD);
  fx_run (fx, fx->now + 2 * S);
  g_assert_cmpuint (fx->requests->len, ==, 2);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 1);
  /* Offline is "no route"; IPv6 gets ICMPv6. */
  fx->answer = ANSWER_OFFLINE;
  fx_run (fx, fx->now + S);
  guint before = fx->tun_icmp;
  send_echo (fx, "2001:db8:5::9", 1);
  fx_run (fx, fx->now);
  g_assert_cmpuint (fx->tun_icmp, ==, before + 1);
  g_assert_cmpuint (fx->last_icmp_type, ==, EMBER_ICMPV6_DEST_UNREACH);
  g_assert_cmpuint (fx->last_icmp_code, ==, EMBER_ICMPV6_UNREACH_NO_ROUTE);
  /* Never a silent black hole: an address no resource covers. */
  fx_run (fx, fx->now + S);
  before = fx->tun_icmp;
  g_assert_cmpint (send_echo (fx, "172.16.0.1", 1), ==, EMBER_CLIENT_REFUSED);
  fx_run (fx, fx->now);
  g_assert_cmpuint (fx->tun_icmp, ==, before + 1);
  g_assert_cmpuint (fx->last_icmp_code, ==, EMBER_ICMPV4_UNREACH_NET);
}

static void
test_delete_removes_route_and_idle_closes (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->answer = ANSWER_AUTHORIZE;
  send_echo (fx, "10.20.0.5", 1);
  fx_run (fx, fx->now + 2 * S);
  EmberPortalMessage m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_RESOURCE_DELETED, EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  set_id (&m.u.resource_deleted.id, RES_WEB);
  deliver (fx, &m);
  fx_run (fx, fx->now + 1 * S);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_REMOVE, "10.20.0.0/24"), ==, 1);
  g_assert_cmpint (send_echo (fx, "10.20.0.5", 2), ==, EMBER_CLIENT_REFUSED);
  EmberTunnelNode *node = ember_client_tunnel_get_node (fx->t);
  g_assert_cmpuint (ember_tunnel_node_get_n_conns (node), ==, 1);
  fx_run (fx, fx->now + EMBER_CLIENT_IDLE_CLOSE_US + S);
  g_assert_cmpuint (ember_tunnel_node_get_n_conns (node), ==, 0);
  /* The gateway learnt it (every candidate withdrawn). */
  g_assert_cmpint (ember_tunnel_conn_get_state (ember_tunnel_node_lookup (fx->gw, "client")), ==,
                   EMBER_TUNNEL_CONN_FAILED);
  /* A changed resource moves its route. */
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED,
                             EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  resource (&m.u.resource, RES_DB, EMBER_PORTAL_RESOURCE_CIDR, "10.31.0.0/16");
  deliver (fx, &m);
  fx_run (fx, fx->now);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_REMOVE, "10.30.0.0/16"), ==, 1);
  g_assert_cmpuint (count_routes (fx, EMBER_CLIENT_EVENT_ROUTE_ADD, "10.31.0.0/16"), ==, 1);
}

static void
test_roaming_restarts_and_keeps_packets (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->answer = ANSWER_AUTHORIZE;
  send_echo (fx, "10.20.0.5", 1);
  fx_run (fx, fx->now + 2 * S);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 1);
  EmberTunnelConn *conn = ember_tunnel_node_lookup (ember_client_tunnel_get_node (fx->t), GW);
  /* New address; packets sent meanwhile are held, not lost. */
  fx->answer = ANSWER_NONE;
  fx->chost = tunnel_fx_addr ("192.0.2.77", 51820);
  ember_client_tunnel_set_host_addresses (fx->t, fx->now, &fx->chost, 1);
  g_assert_cmpint (ember_tunnel_conn_get_state (conn), ==, EMBER_TUNNEL_CONN_FAILED);
  g_assert_cmpint (send_echo (fx, "10.20.0.5", 2), ==, EMBER_CLIENT_HELD);
  g_assert_cmpint (send_echo (fx, "10.20.0.5", 3), ==, EMBER_CLIENT_HELD);
  fx_run (fx, fx->now + 100 * MS);
  g_assert_cmpuint (fx->n_invalidations_to_gw, >, 0);
  g_assert_cmpuint (fx->requests->len, ==, 2);
  fx->answer = ANSWER_AUTHORIZE;
  fx_run (fx, fx->now + EMBER_CLIENT_REQUEST_TIMEOUT_US + 2 * S);
  g_assert_cmpuint (ember_tunnel_conn_get_generation (conn), ==, 2);
  g_assert_cmpint (ember_tunnel_conn_get_state (conn), ==, EMBER_TUNNEL_CONN_UP);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 3);
  g_assert_cmpuint (g_array_index (fx->gw_rx_seq, guint16, 2), ==, 3);
  EmberIceCandidate l;
  g_assert_true (ember_tunnel_conn_get_selected (conn, &l, NULL));
  g_assert_true (ember_ice_addr_equal (&l.base, &fx->chost));
}

static void
test_gateway_spoofing_is_dropped (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->answer = ANSWER_AUTHORIZE;
  send_echo (fx, "10.20.0.5", 1);
  fx_run (fx, fx->now + 2 * S);
  EmberTunnelConn *gconn = ember_tunnel_node_lookup (fx->gw, "client");
  const char *srcs[3] = { "10.20.0.5", "10.30.0.5", "100.64.0.1" };
  EmberClientResult want[3] = { EMBER_CLIENT_PACKET, EMBER_CLIENT_DROPPED, EMBER_CLIENT_PACKET };
  for (guint i = 0; i < 3; i++)
    {
      guint8 buf[EMBER_PACKET_BUF_SIZE + 64];
      gsize off = EMBER_WG_HEADROOM, len;
      echo (buf, sizeof buf, &len, srcs[i], "100.64.0.2", 1);
      EmberTunnelTransmit tx;
      g_assert_cmpint (ember_tunnel_node_encapsulate (fx->gw, gconn, fx->now, buf, sizeof buf, &off,
                                                      &len, &tx),
                       ==, EMBER_TUNNEL_DATAGRAM);
      /* 10.30/16 is a resource, but not one authorized through this gateway. */
      g_assert_cmpint (ember_client_tunnel_handle_datagram (fx->t, fx->now, &tx.to, &tx.from, buf,
                                                            &off, &len),
                       ==, want[i]);
    }
  EmberClientStats st;
  ember_client_tunnel_get_stats (fx->t, &st);
  g_assert_cmpuint (st.net_spoofed, ==, 1);
}

static void
test_reject_access (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->answer = ANSWER_AUTHORIZE;
  send_echo (fx, "10.20.0.5", 1);
  fx_run (fx, fx->now + 2 * S);
  EmberPortalMessage m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_REJECT_ACCESS, EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  set_id (&m.u.reject_access.resource_id, RES_WEB);
  deliver (fx, &m);
  guint before = fx->gw_rx_seq->len;
  g_assert_cmpint (send_echo (fx, "10.20.0.5", 2), ==, EMBER_CLIENT_REFUSED);
  fx_run (fx, fx->now);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, before);
  g_assert_cmpuint (fx->last_icmp_code, ==, EMBER_ICMPV4_UNREACH_ADMIN_PROHIBITED);
}

/* The gateway signals its LAN address as a host candidate; that LAN is a
 * resource the client routes into the TUN, so checks to it would enter
 * the tunnel they are to build. The client connects over the other
 * candidate and never sends to the LAN address. */
static void
test_candidate_inside_resource_is_ignored (Fx *fx, gconstpointer data)
{
  (void) data;
  EmberAddr hosts[2] = { tunnel_fx_addr (GW_LAN, 51820), fx->ghost };
  ember_tunnel_node_set_host_addresses (fx->gw, hosts, 2, NULL, 0);
  fx->answer = ANSWER_AUTHORIZE;
  g_assert_cmpint (send_echo (fx, "10.20.0.5", 1), ==, EMBER_CLIENT_HELD);
  fx_run (fx, fx->now + 5 * S);
  g_assert_cmpuint (fx->gw_rx_seq->len, ==, 1);
  g_assert_cmpuint (g_array_index (fx->gw_rx_seq, guint16, 0), ==, 1);
  g_assert_cmpuint (fx->tx_to_gw_lan, ==, 0);
  g_assert_cmpint (send_echo (fx, "10.20.0.5", 2), ==, EMBER_CLIENT_DATAGRAM);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fx, NULL, fx_setup, fn, fx_teardown)
  ADD ("/tunnel/client/init-routes-resources-internet-off-until-enabled", test_init_routes);
  ADD ("/tunnel/client/first-packet-requests-holds-32-and-flushes-in-order", test_first_packet_held_then_flushed_in_order);
  ADD ("/tunnel/client/second-resource-on-one-gateway-reuses-the-connection", test_second_resource_reuses_connection);
  ADD ("/tunnel/client/denied-and-uncovered-get-rate-limited-icmp", test_denied_gets_icmp_rate_limited);
  ADD ("/tunnel/client/deleted-resource-loses-route-and-idle-connection-closes", test_delete_removes_route_and_idle_closes);
  ADD ("/tunnel/client/roaming-restarts-ice-and-keeps-held-packets", test_roaming_restarts_and_keeps_packets);
  ADD ("/tunnel/client/gateway-may-only-send-from-its-resources", test_gateway_spoofing_is_dropped);
  ADD ("/tunnel/client/reject-access-refuses-at-once", test_reject_access);
  ADD ("/tunnel/client/gateway-candidate-inside-a-resource-is-ignored", test_candidate_inside_resource_is_ignored);
  ADD ("/tunnel/client/dns-names-reach-the-gateway-before-their-packets",
       test_dns_names_reach_the_gateway_before_their_packets);
  return g_test_run ();
}
