/* The connection layer (core/tunnel/node): two nodes joined by an
 * in-memory wire and an in-memory signalling channel, on a virtual
 * clock. */
#include <glib.h>
#include <string.h>

#include "packet/packet.h"
#include "tunnel/node.h"
#include "tunnel-fx.h"

#define MS G_TIME_SPAN_MILLISECOND

typedef struct {
  guint64 seed[2];
  EmberTunnelNode *n[2];       /* 0 controlling (client), 1 controlled (gateway) */
  EmberTunnelConn *c[2];
  EmberAddr host[2];
  gint64 now;
  guint up_events[2], failed_events[2];
  gboolean drop_signalling;
  guint64 delivered;
} Fx;

static const char *ids[2] = { "client-0000", "gateway-000" };

static void
fx_setup (Fx *fx, gconstpointer data)
{
  (void) data;
  memset (fx, 0, sizeof *fx);
  fx->now = 1000 * G_TIME_SPAN_SECOND;
  for (guint i = 0; i < 2; i++)
    {
      fx->seed[i] = 1234 + i;
      EmberTunnelNodeConfig cfg = {
        .wg = &tunnel_fx_wg,
        .role = i == 0 ? EMBER_ICE_ROLE_CONTROLLING : EMBER_ICE_ROLE_CONTROLLED,
        .rng = { tunnel_fx_rng_next, &fx->seed[i] },
        .wall_us = 1700000000 * G_TIME_SPAN_SECOND,
      };
      tunnel_fx_key (cfg.private_key, (guint8) (i + 1));
      g_autoptr (GError) error = NULL;
      fx->n[i] = ember_tunnel_node_new (&cfg, fx->now, &error);
      g_assert_no_error (error);
      fx->host[i] = tunnel_fx_addr (i == 0 ? "192.0.2.1" : "198.51.100.2", 51820);
      g_assert_true (ember_tunnel_node_set_host_addresses (fx->n[i], &fx->host[i], 1, NULL, 0));
    }
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  for (guint i = 0; i < 2; i++)
    ember_tunnel_node_free (fx->n[i]);
}

static void
fx_connect (Fx *fx, const char *c_ufrag, const char *g_ufrag)
{
  char pwd_c[48], pwd_g[48];
  g_snprintf (pwd_c, sizeof pwd_c, "clientpassword%sxxxxxxxx", c_ufrag);
  g_snprintf (pwd_g, sizeof pwd_g, "gatewaypassword%sxxxxxxx", g_ufrag);
  for (guint i = 0; i < 2; i++)
    {
      EmberTunnelConnConfig cfg = { .has_preshared_key = TRUE };
      g_strlcpy (cfg.peer_id, ids[1 - i], sizeof cfg.peer_id);
      ember_tunnel_node_get_public_key (fx->n[1 - i], cfg.public_key);
      memset (cfg.preshared_key, 0x42, 32);
      g_strlcpy (cfg.local_ufrag, i == 0 ? c_ufrag : g_ufrag, sizeof cfg.local_ufrag);
      g_strlcpy (cfg.local_pwd, i == 0 ? pwd_c : pwd_g, sizeof cfg.local_pwd);
      g_strlcpy (cfg.remote_ufrag, i == 0 ? g_ufrag : c_ufrag, sizeof cfg.remote_ufrag);
      g_strlcpy (cfg.remote_pwd, i == 0 ? pwd_g : pwd_c, sizeof cfg.remote_pwd);
      g_autoptr (GError) error = NULL;
      fx->c[i] = ember_tunnel_node_connect (fx->n[i], fx->now, &cfg, &error);
      g_assert_no_error (error);
      g_assert_nonnull (fx->c[i]);
    }
}

/* Moves signalling and datagrams until nothing is pending, then jumps
 * the clock to the next deadline; stops at `until`. */
static void
fx_run (Fx *fx, gint64 until)
{
  while (fx->now <= until)
    {
      gboolean moved = TRUE;
      while (moved)
        {
          moved = FALSE;
          for (guint i = 0; i < 2; i++)
            {
              EmberTunnelNodeEvent ev;
              while (ember_tunnel_node_poll_event (fx->n[i], &ev))
                {
                  moved = TRUE;
                  EmberTunnelConn *peer = ember_tunnel_node_lookup (fx->n[1 - i], ids[i]);
                  switch (ev.type)
                    {
                    case EMBER_TUNNEL_NODE_EVENT_CANDIDATE:
                      if (!fx->drop_signalling && peer != NULL)
                        ember_tunnel_conn_add_remote_candidate (fx->n[1 - i], peer, fx->now,
                                                                &ev.candidate, NULL);
                      break;
                    case EMBER_TUNNEL_NODE_EVENT_INVALIDATE_CANDIDATE:
                      if (!fx->drop_signalling && peer != NULL)
                        ember_tunnel_conn_invalidate_remote_candidate (fx->n[1 - i], peer, fx->now,
                                                                       &ev.candidate);
                      break;
                    case EMBER_TUNNEL_NODE_EVENT_STATE:
                      if (ev.state == EMBER_TUNNEL_CONN_UP)
                        fx->up_events[i]++;
                      if (ev.state == EMBER_TUNNEL_CONN_FAILED)
                        fx->failed_events[i]++;
                      break;
                    }
                }
              guint8 buf[EMBER_WG_TRANSMIT_MAX];
              EmberTunnelTransmit tx;
              while (ember_tunnel_node_poll_transmit (fx->n[i], fx->now, buf, sizeof buf, &tx))
                {
                  moved = TRUE;
                  g_assert_true (ember_ice_addr_equal (&tx.from, &fx->host[i]));
                  if (!ember_ice_addr_equal (&tx.to, &fx->host[1 - i]))
                    continue;
                  gsize off = 0, len = tx.len;
                  EmberTunnelConn *conn = NULL;
                  if (ember_tunnel_node_handle_input (fx->n[1 - i], fx->now, &tx.to, &tx.from, buf,
                                                      &off, &len, &conn)
                      == EMBER_TUNNEL_PACKET)
                    fx->delivered++;
                }
            }
        }
      gint64 t = MIN (ember_tunnel_node_poll_timeout (fx->n[0]),
                      ember_tunnel_node_poll_timeout (fx->n[1]));
      if (t > until)
        break;
      fx->now = MAX (fx->now, t);
      for (guint i = 0; i < 2; i++)
        ember_tunnel_node_handle_timeout (fx->n[i], fx->now);
    }
  fx->now = MAX (fx->now, until);
}

static gboolean
send_packet (Fx *fx, guint from, guint16 seq)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE + 64];
  EmberIpPacket pkt;
  EmberAddr src = tunnel_fx_addr (from == 0 ? "100.64.0.2" : "10.20.0.5", 0);
  EmberAddr dst = tunnel_fx_addr (from == 0 ? "10.20.0.5" : "100.64.0.2", 0);
  g_assert_cmpint (ember_ip_packet_build_icmp_echo (&pkt, buf, sizeof buf, EMBER_WG_HEADROOM, &src,
                                                    &dst, from != 0, 7, seq, (const guint8 *) "ping", 4),
                   ==, EMBER_PACKET_OK);
  gsize off = EMBER_WG_HEADROOM, len = ember_ip_packet_len (&pkt);
  EmberTunnelTransmit tx;
  EmberTunnelResult r = ember_tunnel_node_encapsulate (fx->n[from], fx->c[from], fx->now, buf,
                                                       sizeof buf, &off, &len, &tx);
  if (r != EMBER_TUNNEL_DATAGRAM)
    return FALSE;
  g_assert_true (ember_ice_addr_equal (&tx.to, &fx->host[1 - from]));
  EmberTunnelConn *conn = NULL;
  EmberTunnelResult in = ember_tunnel_node_handle_input (fx->n[1 - from], fx->now, &tx.to, &tx.from,
                                                         buf, &off, &len, &conn);
  g_assert_cmpint (in, ==, EMBER_TUNNEL_PACKET);
  g_assert_true (conn == fx->c[1 - from]);
  EmberIpPacket got;
  g_assert_cmpint (ember_ip_packet_parse (&got, buf, sizeof buf, off, len), ==, EMBER_PACKET_OK);
  g_assert_cmpuint (ember_ip_packet_get_icmp_sequence (&got), ==, seq);
  return TRUE;
}

static void
test_connects_and_carries_packets (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_connect (fx, "cuf1", "guf1");
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[0]), ==, EMBER_TUNNEL_CONN_CHECKING);
  g_assert_false (send_packet (fx, 0, 1));  /* not ready: the caller keeps it */
  gint64 start = fx->now;
  fx_run (fx, start + 2 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[0]), ==, EMBER_TUNNEL_CONN_UP);
  /* The responder is up once the initiator's first message arrived. */
  g_assert_true (send_packet (fx, 0, 2));
  fx_run (fx, fx->now + 10 * MS);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[1]), ==, EMBER_TUNNEL_CONN_UP);
  g_assert_true (send_packet (fx, 1, 3));
  EmberIceCandidate l, r;
  g_assert_true (ember_tunnel_conn_get_selected (fx->c[0], &l, &r));
  g_assert_cmpint (l.type, ==, EMBER_ICE_CANDIDATE_HOST);
  g_assert_true (ember_ice_addr_equal (&r.addr, &fx->host[1]));
  g_assert_cmpstr (ember_tunnel_conn_get_local_ufrag (fx->c[0]), ==, "cuf1");
  g_assert_cmpint (ember_tunnel_conn_get_last_rx (fx->c[0]), >, 0);
  /* It stays up: consent and keepalives over a few minutes. */
  fx_run (fx, fx->now + 300 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[0]), ==, EMBER_TUNNEL_CONN_UP);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[1]), ==, EMBER_TUNNEL_CONN_UP);
  /* Keys older than REJECT_AFTER_TIME: the engine stages the packet and
   * handshakes again; it arrives through poll_transmit. */
  guint64 before = fx->delivered;
  g_assert_false (send_packet (fx, 0, 4));
  fx_run (fx, fx->now + G_TIME_SPAN_SECOND);
  g_assert_cmpuint (fx->delivered, ==, before + 1);
  g_assert_true (send_packet (fx, 0, 5));
}

static void
test_fail_withdraws_and_peer_follows (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_connect (fx, "cuf1", "guf1");
  fx_run (fx, fx->now + 2 * G_TIME_SPAN_SECOND);
  g_assert_true (send_packet (fx, 0, 1));
  fx_run (fx, fx->now + 10 * MS);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[1]), ==, EMBER_TUNNEL_CONN_UP);
  ember_tunnel_node_fail (fx->n[0], fx->c[0], fx->now, "test");
  fx_run (fx, fx->now + MS);
  /* The gateway learnt it from the withdrawn candidates, not from a
   * 15 s consent timeout. */
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[1]), ==, EMBER_TUNNEL_CONN_FAILED);
  g_assert_false (send_packet (fx, 1, 2));
}

static void
test_restart_keeps_wireguard_session (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_connect (fx, "cuf1", "guf1");
  fx_run (fx, fx->now + 2 * G_TIME_SPAN_SECOND);
  g_assert_true (send_packet (fx, 0, 1));
  EmberWgPeerStats before;
  guint8 key[32];
  g_assert_true (ember_tunnel_conn_get_public_key (fx->c[0], key));
  /* The same credentials again (a second resource): nothing restarts. */
  fx_connect (fx, "cuf1", "guf1");
  g_assert_cmpuint (ember_tunnel_conn_get_generation (fx->c[0]), ==, 1);
  g_assert_cmpuint (ember_tunnel_conn_get_generation (fx->c[1]), ==, 1);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[0]), ==, EMBER_TUNNEL_CONN_UP);
  /* A new authorization with new credentials on both sides. */
  EmberTunnelConn *old = fx->c[0];
  fx_connect (fx, "cuf2", "guf2");
  g_assert_true (fx->c[0] == old);
  g_assert_cmpuint (ember_tunnel_conn_get_generation (fx->c[0]), ==, 2);
  (void) before;
  fx_run (fx, fx->now + 2 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[0]), ==, EMBER_TUNNEL_CONN_UP);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[1]), ==, EMBER_TUNNEL_CONN_UP);
  g_assert_true (send_packet (fx, 0, 2));
  g_assert_true (send_packet (fx, 1, 3));
}

static void
test_connect_timeout_fails (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->drop_signalling = TRUE;
  fx_connect (fx, "cuf1", "guf1");
  fx_run (fx, fx->now + 20 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[0]), ==, EMBER_TUNNEL_CONN_FAILED);
  g_assert_cmpuint (fx->failed_events[0], ==, 1);
}

/* A mapping that changed (`old` set) withdraws the old server-reflexive
 * candidate once no relay sees us there any more, and offers the new. */
static void
test_changed_srflx_replaces_the_candidate (Fx *fx, gconstpointer data)
{
  (void) data;
  EmberTunnelNode *n = fx->n[0];
  EmberTunnelRelay relays[2] = { 0 };
  for (guint i = 0; i < 2; i++)
    {
      g_strlcpy (relays[i].id, i == 0 ? "relay-a" : "relay-b", sizeof relays[i].id);
      relays[i].addr = tunnel_fx_addr (i == 0 ? "203.0.113.1" : "203.0.113.2", 3478);
      g_strlcpy (relays[i].username, "u", sizeof relays[i].username);
      g_strlcpy (relays[i].password, "p", sizeof relays[i].password);
    }
  ember_tunnel_node_update_relays (n, fx->now, NULL, 0, relays, 2, TRUE);
  EmberAddr was = tunnel_fx_addr ("192.0.2.200", 40000);
  EmberAddr now_at = tunnel_fx_addr ("192.0.2.200", 48192);
  for (guint i = 0; i < 2; i++)
    {
      EmberRelayEvent ev = { .type = EMBER_RELAY_EVENT_SRFLX, .relay = relays[i].addr, .addr = was };
      ember_tunnel_node_handle_relay_event (n, fx->now, &ev);
    }
  fx_connect (fx, "cuf1", "guf1");
  EmberTunnelNodeEvent nev;
  guint srflx = 0;
  while (ember_tunnel_node_poll_event (n, &nev))
    srflx += nev.type == EMBER_TUNNEL_NODE_EVENT_CANDIDATE
             && nev.candidate.type == EMBER_ICE_CANDIDATE_SRFLX;
  g_assert_cmpuint (srflx, ==, 1);

  for (guint i = 0; i < 2; i++)
    {
      EmberRelayEvent ev = { .type = EMBER_RELAY_EVENT_SRFLX, .relay = relays[i].addr,
                             .addr = now_at, .old = was };
      guint added = 0, withdrawn = 0;
      ember_tunnel_node_handle_relay_event (n, fx->now, &ev);
      while (ember_tunnel_node_poll_event (n, &nev))
        if (nev.type == EMBER_TUNNEL_NODE_EVENT_CANDIDATE
            && nev.candidate.type == EMBER_ICE_CANDIDATE_SRFLX)
          {
            g_assert_true (ember_ice_addr_equal (&nev.candidate.addr, &now_at));
            added++;
          }
        else if (nev.type == EMBER_TUNNEL_NODE_EVENT_INVALIDATE_CANDIDATE)
          {
            g_assert_true (ember_ice_addr_equal (&nev.candidate.addr, &was));
            withdrawn++;
          }
      /* relay-b still sees the old mapping after relay-a's news. */
      g_assert_cmpuint (added, ==, i == 0 ? 1 : 0);
      g_assert_cmpuint (withdrawn, ==, i == 0 ? 0 : 1);
    }
}

static void
test_relays_commands_and_candidates (Fx *fx, gconstpointer data)
{
  (void) data;
  EmberTunnelNode *n = fx->n[0];
  EmberTunnelRelay relays[2] = { 0 };
  g_strlcpy (relays[0].id, "relay-a", sizeof relays[0].id);
  relays[0].addr = tunnel_fx_addr ("203.0.113.1", 3478);
  g_strlcpy (relays[0].username, "u", sizeof relays[0].username);
  g_strlcpy (relays[0].password, "p", sizeof relays[0].password);
  relays[1] = relays[0];
  g_strlcpy (relays[1].id, "relay-b", sizeof relays[1].id);
  relays[1].addr = tunnel_fx_addr ("203.0.113.2", 3478);
  ember_tunnel_node_update_relays (n, fx->now, NULL, 0, relays, 2, TRUE);
  EmberTunnelRelayCommand cmd;
  g_assert_true (ember_tunnel_node_poll_relay_command (n, &cmd));
  g_assert_cmpint (cmd.type, ==, EMBER_TUNNEL_RELAY_SET);
  EmberRelaySpec specs[4];
  g_assert_cmpuint (ember_tunnel_node_get_relays (n, specs, 4), ==, 2);
  g_assert_false (ember_tunnel_node_poll_relay_command (n, &cmd));

  /* Server-reflexive from every relay. */
  EmberRelayEvent ev = { .type = EMBER_RELAY_EVENT_SRFLX, .relay = relays[1].addr,
                         .addr = tunnel_fx_addr ("192.0.2.200", 40000) };
  ember_tunnel_node_handle_relay_event (n, fx->now, &ev);

  fx_connect (fx, "cuf1", "guf1");
  /* One relay sampled for this connection: an allocation asked for. */
  g_assert_true (ember_tunnel_node_poll_relay_command (n, &cmd));
  g_assert_cmpint (cmd.type, ==, EMBER_TUNNEL_RELAY_ALLOCATE);
  gboolean is_a = ember_ice_addr_equal (&cmd.relay, &relays[0].addr);
  g_assert_true (is_a || ember_ice_addr_equal (&cmd.relay, &relays[1].addr));
  guint host = 0, srflx = 0, relay = 0;
  EmberTunnelNodeEvent nev;
  while (ember_tunnel_node_poll_event (n, &nev))
    if (nev.type == EMBER_TUNNEL_NODE_EVENT_CANDIDATE)
      {
        host += nev.candidate.type == EMBER_ICE_CANDIDATE_HOST;
        srflx += nev.candidate.type == EMBER_ICE_CANDIDATE_SRFLX;
      }
  g_assert_cmpuint (host, ==, 1);
  g_assert_cmpuint (srflx, ==, 1);

  EmberRelayEvent alloc = { .type = EMBER_RELAY_EVENT_ALLOCATED, .relay = cmd.relay, .n_relayed = 1,
                            .relayed = { tunnel_fx_addr (is_a ? "203.0.113.1" : "203.0.113.2", 50000) } };
  ember_tunnel_node_handle_relay_event (n, fx->now, &alloc);
  while (ember_tunnel_node_poll_event (n, &nev))
    if (nev.type == EMBER_TUNNEL_NODE_EVENT_CANDIDATE)
      {
        relay += nev.candidate.type == EMBER_ICE_CANDIDATE_RELAY;
        g_assert_true (ember_ice_addr_equal (&nev.candidate.addr, &alloc.relayed[0]));
      }
  g_assert_cmpuint (relay, ==, 1);

  /* A remote candidate: a permission on the allocation is asked for. */
  EmberIceCandidate rc;
  ember_ice_candidate_init_local (&rc, EMBER_ICE_CANDIDATE_HOST, &fx->host[1], NULL, NULL);
  g_assert_true (ember_tunnel_conn_add_remote_candidate (n, fx->c[0], fx->now, &rc, NULL));
  g_assert_true (ember_tunnel_node_poll_relay_command (n, &cmd));
  g_assert_cmpint (cmd.type, ==, EMBER_TUNNEL_RELAY_ADD_PEER);
  g_assert_true (ember_ice_addr_equal (&cmd.relayed, &alloc.relayed[0]));
  g_assert_true (ember_ice_addr_equal (&cmd.peer, &fx->host[1]));

  /* The relay goes away (portal): the relayed candidate is withdrawn. */
  const char *gone[1] = { is_a ? "relay-a" : "relay-b" };
  ember_tunnel_node_update_relays (n, fx->now, gone, 1, NULL, 0, FALSE);
  guint invalidated = 0;
  while (ember_tunnel_node_poll_event (n, &nev))
    if (nev.type == EMBER_TUNNEL_NODE_EVENT_INVALIDATE_CANDIDATE)
      {
        invalidated++;
        g_assert_true (ember_ice_addr_equal (&nev.candidate.addr, &alloc.relayed[0]));
      }
  g_assert_cmpuint (invalidated, ==, 1);
  g_assert_cmpuint (ember_tunnel_node_get_relays (n, specs, 4), ==, 1);
}

static void
test_close_withdraws (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_connect (fx, "cuf1", "guf1");
  fx_run (fx, fx->now + 2 * G_TIME_SPAN_SECOND);
  ember_tunnel_node_close (fx->n[1], fx->c[1]);
  fx->c[1] = NULL;
  g_assert_cmpuint (ember_tunnel_node_get_n_conns (fx->n[1]), ==, 0);
  fx_run (fx, fx->now + MS);
  g_assert_cmpint (ember_tunnel_conn_get_state (fx->c[0]), ==, EMBER_TUNNEL_CONN_FAILED);
}

static void
test_garbage_input_is_dropped (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_connect (fx, "cuf1", "guf1");
  fx_run (fx, fx->now + 2 * G_TIME_SPAN_SECOND);
  guint64 s = 99;
  for (guint i = 0; i < 2000; i++)
    {
      guint8 *buf = g_malloc (256);
      gsize len = tunnel_fx_rng_next (&s) % 256;
      for (gsize k = 0; k < len; k++)
        buf[k] = (guint8) tunnel_fx_rng_next (&s);
      if (i % 3 == 0 && len >= 20)
        {
          buf[0] = 0;
          buf[4] = 0x21, buf[5] = 0x12, buf[6] = 0xa4, buf[7] = 0x42;  /* STUN-looking */
        }
      if (i % 3 == 1 && len >= 4)
        buf[0] = (guint8) (1 + i % 4), buf[1] = buf[2] = buf[3] = 0;  /* WireGuard-looking */
      gsize off = 0;
      EmberTunnelConn *conn = NULL;
      EmberTunnelResult r = ember_tunnel_node_handle_input (fx->n[1], fx->now, &fx->host[1],
                                                            &fx->host[0], buf, &off, &len, &conn);
      g_assert_cmpint (r, !=, EMBER_TUNNEL_PACKET);
      g_free (buf);
    }
  fx_run (fx, fx->now + G_TIME_SPAN_SECOND);
  g_assert_true (send_packet (fx, 0, 9));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fx, NULL, fx_setup, fn, fx_teardown)
  ADD ("/tunnel/node/connects-handshakes-and-carries-packets", test_connects_and_carries_packets);
  ADD ("/tunnel/node/fail-withdraws-candidates-and-the-peer-fails-too", test_fail_withdraws_and_peer_follows);
  ADD ("/tunnel/node/same-credentials-keep-new-ones-restart-with-the-wireguard-peer", test_restart_keeps_wireguard_session);
  ADD ("/tunnel/node/no-signalling-fails-after-the-connect-timeout", test_connect_timeout_fails);
  ADD ("/tunnel/node/relays-become-commands-and-candidates", test_relays_commands_and_candidates);
  ADD ("/tunnel/node/changed-srflx-replaces-the-candidate", test_changed_srflx_replaces_the_candidate);
  ADD ("/tunnel/node/close-withdraws-candidates", test_close_withdraws);
  ADD ("/tunnel/node/garbage-datagrams-are-dropped", test_garbage_input_is_dropped);
  return g_test_run ();
}
