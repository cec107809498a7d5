/* bench-tunnel.c — packets per second through the client and gateway
 * tunnels in one process, next to the bare WireGuard engine.
 *
 * Not a test (bench/tunnel.sh runs it). Both phases move the same
 * 1280-byte UDP packets (the TUN MTU, seed 004) from a client to a
 * resource behind a gateway, crypto included, no I/O:
 *   tunnel: client handle_tun (resource lookup, connection, encrypt)
 *           -> gateway handle_datagram (decrypt, source / resource /
 *           filter check);
 *   engine: ember_wg_engine_encapsulate -> ember_wg_engine_decapsulate.
 * Phases alternate for several rounds; each rate is the best round's,
 * in CPU time of this thread, so other load on the machine does not
 * skew the ratio. Prints both rates and tunnel/engine (issue 12's goal:
 * >= 0.9).
 *
 *   bench-tunnel [seconds-per-phase] [rounds]
 */
#include <glib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "packet/packet.h"
#include "portal/messages.h"
#include "tunnel/client.h"
#include "tunnel/gateway.h"
#include "tunnel-fx.h"

#define PKT 1280
#define SLOT (EMBER_WG_HEADROOM + PKT + EMBER_WG_TAILROOM + 64)
#define S G_TIME_SPAN_SECOND
#define WALL0 (G_GINT64_CONSTANT (1700000000) * S)

static const char *RES = "4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60";
static const char *SITE = "d2c4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f";
static const char *GW = "0c9d3e2f-7a6b-4d18-8e95-31b4c2d5e6f7";
static const char *CLIENT = "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11";

static gint64
thread_cpu_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_TIME_SPAN_SECOND + ts.tv_nsec / 1000;
}

static void
set_id (EmberPortalId *id, const char *s)
{
  g_strlcpy (id->str, s, sizeof id->str);
}

static void
fill_resource (EmberPortalResource *r)
{
  memset (r, 0, sizeof *r);
  set_id (&r->id, RES);
  r->name = g_strdup ("web");
  r->type = EMBER_PORTAL_RESOURCE_CIDR;
  g_assert_true (ember_cidr_parse ("10.20.0.0/24", EMBER_CIDR_PARSE_STRICT, &r->cidr, NULL));
  set_id (&r->site.id, SITE);
  r->site.name = g_strdup ("home");
  /* A filter, so the gateway's check does its whole work. */
  r->n_filters = 1;
  r->filters = g_new0 (EmberPortalFilter, 1);
  r->filters[0].protocol = EMBER_PORTAL_PROTOCOL_UDP;
  r->filters[0].n_ports = 1;
  r->filters[0].ports[0].first = 4000;
  r->filters[0].ports[0].last = 4999;
}

typedef struct {
  EmberClientTunnel *ct;
  EmberGatewayTunnel *gt;
  EmberAddr csock, gsock;
  gint64 now;
} Pair;

/* Moves portal messages and datagrams between the two until quiet. */
static void
settle (Pair *p)
{
  gboolean moved = TRUE;
  while (moved)
    {
      moved = FALSE;
      EmberPortalMessage m;
      while (ember_client_tunnel_poll_portal (p->ct, &m))
        {
          moved = TRUE;
          if (m.event == EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION)
            {
              /* The portal: authorize_flow to the gateway. */
              EmberPortalMessage f;
              ember_portal_message_init (&f, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW,
                                         EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
              EmberPortalAuthorizeFlow *af = &f.u.authorize_flow;
              af->ref = g_strdup ("flow-1");
              fill_resource (&af->resource);
              set_id (&af->client.id, CLIENT);
              ember_tunnel_node_get_public_key (ember_client_tunnel_get_node (p->ct),
                                                af->client.public_key.bytes);
              g_assert_true (ember_addr_parse ("100.64.0.2", &af->client.tunnel.ipv4, NULL));
              g_assert_true (ember_addr_parse ("fd00:2021:1111::2", &af->client.tunnel.ipv6, NULL));
              memset (af->preshared_key.bytes, 0x42, 32);
              g_strlcpy (af->client_ice.ufrag, "cliA", sizeof af->client_ice.ufrag);
              g_strlcpy (af->client_ice.pwd, "clientpasswordclientpass", sizeof af->client_ice.pwd);
              g_strlcpy (af->gateway_ice.ufrag, "gwyA", sizeof af->gateway_ice.ufrag);
              g_strlcpy (af->gateway_ice.pwd, "gatewaypasswordgatewayp1", sizeof af->gateway_ice.pwd);
              af->expires_at = WALL0 / S + 86400;
              ember_gateway_tunnel_handle_portal (p->gt, p->now, &f);
              /* ...and, once accepted, authorization_created to the client. */
              EmberPortalMessage c;
              ember_portal_message_init (&c, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED,
                                         EMBER_PORTAL_CHANNEL_CLIENT, NULL);
              EmberPortalAuthorizationCreated *ac = &c.u.authorization_created;
              set_id (&ac->resource_id, RES);
              set_id (&ac->gateway.id, GW);
              ember_tunnel_node_get_public_key (ember_gateway_tunnel_get_node (p->gt),
                                                ac->gateway.public_key.bytes);
              g_assert_true (ember_addr_parse ("100.64.0.1", &ac->gateway.tunnel.ipv4, NULL));
              g_assert_true (ember_addr_parse ("fd00:2021:1111::1", &ac->gateway.tunnel.ipv6, NULL));
              ac->preshared_key = af->preshared_key;
              ac->client_ice = af->client_ice;
              ac->gateway_ice = af->gateway_ice;
              ac->expires_at = af->expires_at;
              ember_client_tunnel_handle_portal (p->ct, p->now, &c);
              ember_portal_message_clear (&c);
              ember_portal_message_clear (&f);
            }
          else if (m.event == EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES)
            {
              EmberPortalMessage f;
              ember_portal_message_init (&f, EMBER_PORTAL_EVENT_ICE_CANDIDATES,
                                         EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
              set_id (&f.u.ice_candidates.peer_id, CLIENT);
              f.u.ice_candidates.n_candidates = m.u.ice_broadcast.n_candidates;
              f.u.ice_candidates.candidates = g_memdup2 (m.u.ice_broadcast.candidates,
                                                         sizeof (EmberIceCandidate) * m.u.ice_broadcast.n_candidates);
              ember_gateway_tunnel_handle_portal (p->gt, p->now, &f);
              ember_portal_message_clear (&f);
            }
          ember_portal_message_clear (&m);
        }
      while (ember_gateway_tunnel_poll_portal (p->gt, &m))
        {
          moved = TRUE;
          if (m.event == EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES)
            {
              EmberPortalMessage f;
              ember_portal_message_init (&f, EMBER_PORTAL_EVENT_ICE_CANDIDATES,
                                         EMBER_PORTAL_CHANNEL_CLIENT, NULL);
              set_id (&f.u.ice_candidates.peer_id, GW);
              f.u.ice_candidates.n_candidates = m.u.ice_broadcast.n_candidates;
              f.u.ice_candidates.candidates = g_memdup2 (m.u.ice_broadcast.candidates,
                                                         sizeof (EmberIceCandidate) * m.u.ice_broadcast.n_candidates);
              ember_client_tunnel_handle_portal (p->ct, p->now, &f);
              ember_portal_message_clear (&f);
            }
          ember_portal_message_clear (&m);
        }
      guint8 buf[EMBER_WG_TRANSMIT_MAX];
      EmberTunnelTransmit tx;
      while (ember_client_tunnel_poll_transmit (p->ct, p->now, buf, sizeof buf, &tx))
        {
          moved = TRUE;
          gsize off = 0, len = tx.len;
          ember_gateway_tunnel_handle_datagram (p->gt, p->now, &tx.to, &tx.from, buf, &off, &len);
        }
      while (ember_gateway_tunnel_poll_transmit (p->gt, p->now, buf, sizeof buf, &tx))
        {
          moved = TRUE;
          gsize off = 0, len = tx.len;
          ember_client_tunnel_handle_datagram (p->ct, p->now, &tx.to, &tx.from, buf, &off, &len);
        }
    }
}

static void
pair_up (Pair *p, guint64 *seeds)
{
  p->now = 10 * S;
  EmberClientTunnelConfig cc = { .wg = &tunnel_fx_wg, .rng = { tunnel_fx_rng_next, &seeds[0] },
                                 .wall_us = WALL0 + p->now };
  tunnel_fx_key (cc.private_key, 1);
  EmberGatewayTunnelConfig gc = { .wg = &tunnel_fx_wg, .rng = { tunnel_fx_rng_next, &seeds[1] },
                                  .wall_us = WALL0 + p->now };
  tunnel_fx_key (gc.private_key, 2);
  p->ct = ember_client_tunnel_new (&cc, p->now, NULL);
  p->gt = ember_gateway_tunnel_new (&gc, p->now, NULL);
  g_assert_nonnull (p->ct);
  g_assert_nonnull (p->gt);
  p->csock = tunnel_fx_addr ("192.0.2.1", 51820);
  p->gsock = tunnel_fx_addr ("198.51.100.2", 51820);
  ember_client_tunnel_set_host_addresses (p->ct, p->now, &p->csock, 1);
  ember_gateway_tunnel_set_host_addresses (p->gt, p->now, &p->gsock, 1);

  EmberPortalMessage init;
  ember_portal_message_init (&init, EMBER_PORTAL_EVENT_CLIENT_INIT, EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  g_assert_true (ember_addr_parse ("100.64.0.2", &init.u.client_init.iface.ipv4, NULL));
  g_assert_true (ember_addr_parse ("fd00:2021:1111::2", &init.u.client_init.iface.ipv6, NULL));
  init.u.client_init.n_resources = 1;
  init.u.client_init.resources = g_new0 (EmberPortalResource, 1);
  fill_resource (&init.u.client_init.resources[0]);
  ember_client_tunnel_handle_portal (p->ct, p->now, &init);
  ember_portal_message_clear (&init);

  /* The first packet asks for the connection; run until it is up. */
  guint8 buf[SLOT];
  gsize off = EMBER_WG_HEADROOM, len;
  EmberIpPacket pkt;
  EmberAddr src = tunnel_fx_addr ("100.64.0.2", 40000), dst = tunnel_fx_addr ("10.20.0.5", 4000);
  static guint8 payload[PKT];
  g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, sizeof buf, off, &src, &dst, payload,
                                              PKT - 28), ==, EMBER_PACKET_OK);
  len = ember_ip_packet_len (&pkt);
  EmberTunnelTransmit tx;
  ember_client_tunnel_handle_tun (p->ct, p->now, buf, sizeof buf, &off, &len, &tx);
  for (guint i = 0; i < 400 && !ember_gateway_tunnel_client_up (p->gt, CLIENT); i++)
    {
      settle (p);
      gint64 t = MIN (ember_client_tunnel_poll_timeout (p->ct), ember_gateway_tunnel_poll_timeout (p->gt));
      p->now = MAX (p->now + 1000, MIN (t, p->now + 50 * G_TIME_SPAN_MILLISECOND));
      ember_client_tunnel_handle_timeout (p->ct, p->now);
      ember_gateway_tunnel_handle_timeout (p->gt, p->now);
    }
  settle (p);
  g_assert_true (ember_gateway_tunnel_client_up (p->gt, CLIENT));
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 1.0;
  guint rounds = argc > 2 ? (guint) g_ascii_strtoull (argv[2], NULL, 10) : 5;
  guint64 seeds[4] = { 11, 12, 13, 14 };
  Pair p;
  pair_up (&p, seeds);

  /* The bare engines: the same keys, one session. */
  EmberWgEngine *e[2];
  EmberWgPeer *peer[2];
  EmberAddr addr[2] = { p.csock, p.gsock };
  for (guint i = 0; i < 2; i++)
    {
      guint8 key[32];
      tunnel_fx_key (key, (guint8) (i + 1));
      e[i] = ember_wg_engine_new (key, tunnel_fx_bytes, &seeds[2 + i], p.now, WALL0, NULL);
    }
  for (guint i = 0; i < 2; i++)
    {
      EmberWgPeerConfig pc = { .endpoint = addr[1 - i], .has_preshared_key = TRUE };
      ember_wg_engine_get_public_key (e[1 - i], pc.public_key);
      memset (pc.preshared_key, 0x42, 32);
      peer[i] = ember_wg_engine_add_peer (e[i], &pc, NULL);
    }
  ember_wg_engine_initiate (e[0], peer[0], p.now);
  for (guint k = 0; k < 4; k++)
    for (guint i = 0; i < 2; i++)
      {
        guint8 buf[EMBER_WG_TRANSMIT_MAX];
        EmberWgTransmit tx;
        while (ember_wg_engine_poll_transmit (e[i], p.now, buf, sizeof buf, &tx))
          {
            gsize off = 0, len = tx.len;
            EmberWgPeer *from;
            ember_wg_engine_decapsulate (e[1 - i], p.now, &addr[i], buf, &off, &len, &from);
          }
      }

  /* The packet both phases send: UDP 1280 bytes to the resource. */
  guint8 template[SLOT];
  EmberIpPacket pkt;
  EmberAddr src = tunnel_fx_addr ("100.64.0.2", 40000), dst = tunnel_fx_addr ("10.20.0.5", 4000);
  static guint8 payload[PKT];
  g_assert_cmpint (ember_ip_packet_build_udp (&pkt, template, sizeof template, EMBER_WG_HEADROOM,
                                              &src, &dst, payload, PKT - 28), ==, EMBER_PACKET_OK);
  gsize plen = ember_ip_packet_len (&pkt);
  guint8 *slot = g_malloc (SLOT);

  double best_tunnel = 0, best_engine = 0;
  for (guint r = 0; r < rounds; r++)
    {
      /* tunnel */
      guint64 n = 0, ok = 0;
      gint64 t0 = thread_cpu_us (), budget = (gint64) (seconds * S);
      while (thread_cpu_us () - t0 < budget)
        for (guint b = 0; b < 256; b++, n++)
          {
            memcpy (slot + EMBER_WG_HEADROOM, template + EMBER_WG_HEADROOM, plen);
            gsize off = EMBER_WG_HEADROOM, len = plen;
            EmberTunnelTransmit tx;
            if (ember_client_tunnel_handle_tun (p.ct, p.now, slot, SLOT, &off, &len, &tx)
                != EMBER_CLIENT_DATAGRAM)
              continue;
            ok += ember_gateway_tunnel_handle_datagram (p.gt, p.now, &tx.to, &tx.from, slot, &off, &len)
                  == EMBER_GATEWAY_TO_NETWORK;
          }
      gint64 dt = thread_cpu_us () - t0;
      g_assert_cmpuint (ok, ==, n);
      best_tunnel = MAX (best_tunnel, (double) n * S / (double) dt);

      /* bare engine */
      n = ok = 0;
      t0 = thread_cpu_us ();
      while (thread_cpu_us () - t0 < budget)
        for (guint b = 0; b < 256; b++, n++)
          {
            memcpy (slot + EMBER_WG_HEADROOM, template + EMBER_WG_HEADROOM, plen);
            gsize off = EMBER_WG_HEADROOM, len = plen;
            EmberAddr to;
            if (ember_wg_engine_encapsulate (e[0], peer[0], p.now, slot, SLOT, &off, &len, &to)
                != EMBER_WG_DATAGRAM)
              continue;
            EmberWgPeer *from;
            ok += ember_wg_engine_decapsulate (e[1], p.now, &addr[0], slot, &off, &len, &from)
                  == EMBER_WG_PACKET;
          }
      dt = thread_cpu_us () - t0;
      g_assert_cmpuint (ok, ==, n);
      best_engine = MAX (best_engine, (double) n * S / (double) dt);
    }
  g_print ("1280-byte packets, client -> gateway, encrypt + decrypt, one core (best of %u rounds):\n",
           rounds);
  g_print ("  bare wg engine:        %10.0f packets/s  %6.2f Gbit/s\n", best_engine,
           best_engine * PKT * 8 / 1e9);
  g_print ("  client+gateway tunnel: %10.0f packets/s  %6.2f Gbit/s\n", best_tunnel,
           best_tunnel * PKT * 8 / 1e9);
  g_print ("  ratio tunnel/engine:   %10.3f (goal >= 0.9)\n", best_tunnel / best_engine);

  g_free (slot);
  for (guint i = 0; i < 2; i++)
    ember_wg_engine_free (e[i]);
  ember_client_tunnel_free (p.ct);
  ember_gateway_tunnel_free (p.gt);
  return 0;
}
