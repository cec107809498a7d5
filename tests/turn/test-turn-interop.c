/* Interop tests for the TURN client (plugins/relay/client) over real UDP
 * sockets on 127.0.0.1, against coturn's turnserver and against
 * ember-relay, each started here (turn-servers.c) with a temporary state
 * directory and killed at the end (fixture teardown, atexit, SIGABRT and
 * SIGTRAP handlers and PR_SET_PDEATHSIG, so that a failed assertion leaves
 * nothing running).
 *
 * For each server: allocate with long-term credentials (a static user and
 * the time-limited REST scheme), install a permission and bind a channel
 * to a peer socket, then send ChannelData client → peer and UDP peer →
 * relayed address → client, checking the bytes and addresses; once more
 * with ember-relay on 127.0.0.2, where the route to the peer (127.0.0.1)
 * prefers another source address than the relayed one. Every wait
 * is bounded with poll(). Suite 'interop': skipped when not root or when
 * the server binary is missing. */
#include "relay/client/client.h"
#include "turn-servers.h"

#include <string.h>
#include <unistd.h>

#define SECRET "interop-secret"

typedef struct {
  const char *name;
  gboolean coturn;
  gboolean rest;  /* time-limited credentials from a shared secret */
  /* ember-relay on 127.0.0.N, the peer on 127.0.0.1: relayed data must
   * still come from the relayed address, not from the address the
   * kernel's route to the peer prefers. 0: 127.0.0.1. */
  guint8 listen_host;
} Case;

typedef struct {
  TurnServer srv;
  int cli_fd, peer_fd;
  EmberAddr peer;
  EmberTurnClient *client;
  GString *events;
  /* Last relayed datagram the client received. */
  gboolean got_data;
  EmberAddr data_from;
  guint8 data[256];
  gsize data_len;
  /* Burst datagrams (first byte 'B') received in order so far; a gap,
   * a reordering or a damaged datagram sets burst_bad. */
  guint burst_next;
  gboolean burst_bad;
} Fx;

/* More than one batch and one UDP_SEGMENT train. */
#define BURST 100

static guint64
rng_next (gpointer user_data)
{
  (void) user_data;
  return ((guint64) g_random_int () << 32) | g_random_int ();
}

static void
rest_credentials (char *user, gsize user_len, char *pass, gsize pass_len)
{
  g_snprintf (user, user_len, "%" G_GINT64_FORMAT ":interop", g_get_real_time () / G_USEC_PER_SEC + 3600);
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  GHmac *h = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) SECRET, strlen (SECRET));
  g_hmac_update (h, (const guchar *) user, (gssize) strlen (user));
  g_hmac_get_digest (h, digest, &digest_len);
  g_hmac_unref (h);
  g_autofree char *b64 = g_base64_encode (digest, digest_len);
  g_strlcpy (pass, b64, pass_len);
}

static void
fx_setup (Fx *fx, gconstpointer data)
{
  (void) data;
  memset (fx, 0, sizeof *fx);
  fx->cli_fd = fx->peer_fd = -1;
  fx->events = g_string_new (NULL);
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  turn_server_stop (&fx->srv);
  if (g_test_failed ())
    g_test_message ("client events: %s", fx->events->str);
  ember_turn_client_free (fx->client);
  if (fx->cli_fd >= 0)
    close (fx->cli_fd);
  if (fx->peer_fd >= 0)
    close (fx->peer_fd);
  g_string_free (fx->events, TRUE);
}

typedef gboolean (*Cond) (Fx *fx);

/* Runs the client on the socket until `cond` holds or `timeout_s` pass. */
static gboolean
drive (Fx *fx, Cond cond, int timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  for (;;)
    {
      gint64 now = g_get_monotonic_time ();
      guint8 buf[1500];
      EmberAddr to;
      gsize n;
      while ((n = ember_turn_client_poll_transmit (fx->client, buf, sizeof buf, &to)) > 0)
        udp_send_to (fx->cli_fd, &to, buf, n);
      EmberTurnEvent ev;
      while (ember_turn_client_poll_event (fx->client, &ev))
        g_string_append_printf (fx->events, " %d(%u)", ev.type, ev.error_code);
      if (cond (fx))
        return TRUE;
      if (now >= deadline || !turn_server_alive (&fx->srv))
        return FALSE;
      gint64 wake = MIN (ember_turn_client_poll_timeout (fx->client), deadline);
      int ms = (int) CLAMP ((wake - now) / 1000, 0, 50);
      EmberAddr from;
      gssize r;
      while ((r = udp_recv_from (fx->cli_fd, ms, &from, buf, sizeof buf)) >= 0)
        {
          ms = 0;
          EmberAddr peer;
          const guint8 *data;
          gsize data_len;
          EmberTurnInputResult res = ember_turn_client_handle_input (
              fx->client, g_get_monotonic_time (), &from, buf, (gsize) r, &peer, &data, &data_len);
          if (res == EMBER_TURN_INPUT_DATA && data_len > 0 && data[0] == 'B')
            {
              if (!turn_burst_ok (data, data_len, fx->burst_next, BURST))
                fx->burst_bad = TRUE;
              fx->burst_next++;
            }
          else if (res == EMBER_TURN_INPUT_DATA && data_len <= sizeof fx->data)
            {
              fx->got_data = TRUE;
              fx->data_from = peer;
              memcpy (fx->data, data, data_len);
              fx->data_len = data_len;
            }
        }
      now = g_get_monotonic_time ();
      if (now >= ember_turn_client_poll_timeout (fx->client))
        ember_turn_client_handle_timeout (fx->client, now);
    }
}

static gboolean
is_allocated (Fx *fx)
{
  return ember_turn_client_is_allocated (fx->client);
}

static gboolean
has_channel (Fx *fx)
{
  return ember_turn_client_get_channel (fx->client, &fx->peer) != 0;
}

static gboolean
got_data (Fx *fx)
{
  return fx->got_data;
}

static gboolean
got_burst (Fx *fx)
{
  return fx->burst_next >= BURST;
}

/* Trains of at most this many datagrams (the kernel's UDP_SEGMENT limit
 * is 64) and 64 KiB. */
#define TRAIN 50

/* Client → ChannelData → relay → peer: BURST datagrams, one by one or in
 * UDP_SEGMENT trains; the peer must get each, whole and in order. */
static void
burst_up (Fx *fx, const EmberAddr *relayed, gboolean trains)
{
  guint8 train[TRAIN * (TURN_BURST_LEN + 4)];
  gsize fill = 0, seg = 0;
  for (guint i = 0; i < BURST; i++)
    {
      guint8 payload[TURN_BURST_LEN];
      gsize len = turn_burst_datagram (i, BURST, payload);
      guint8 *out = train + fill;
      gsize n = ember_turn_client_encode (fx->client, g_get_monotonic_time (), &fx->peer, payload,
                                          len, out, sizeof train - fill);
      g_assert_cmpuint (n, >, len);
      if (!trains)
        {
          udp_send_to (fx->cli_fd, &fx->srv.addr, out, n);
          continue;
        }
      /* Every message but the last is as long as the first. */
      if (fill == 0)
        seg = n;
      fill += n;
      if ((i + 1) % TRAIN == 0 || i + 1 == BURST)
        {
          udp_send_train (fx->cli_fd, &fx->srv.addr, train, fill, (guint16) seg);
          fill = 0;
        }
    }
  for (guint i = 0; i < BURST; i++)
    {
      guint8 buf[1500];
      EmberAddr from;
      gssize r = udp_recv_from (fx->peer_fd, 2000, &from, buf, sizeof buf);
      if (r <= 0)
        g_error ("client → peer burst: %u of %u arrived", i, BURST);
      g_assert_true (udp_addr_eq (&from, relayed));
      if (!turn_burst_ok (buf, (gsize) r, i, BURST))
        g_error ("client → peer burst: datagram %u of %u wrong (%zd bytes)", i, BURST, r);
    }
}

/* Peer → relayed address → relay → ChannelData → client, likewise. */
static void
burst_down (Fx *fx, const EmberAddr *relayed, gboolean trains)
{
  guint8 train[TRAIN * TURN_BURST_LEN];
  gsize fill = 0;
  for (guint i = 0; i < BURST; i++)
    {
      gsize len = turn_burst_datagram (i, BURST, train + fill);
      if (!trains)
        {
          udp_send_to (fx->peer_fd, relayed, train, len);
          continue;
        }
      fill += len;
      if ((i + 1) % TRAIN == 0 || i + 1 == BURST)
        {
          udp_send_train (fx->peer_fd, relayed, train, fill, TURN_BURST_LEN);
          fill = 0;
        }
    }
  fx->burst_next = 0;
  fx->burst_bad = FALSE;
  gboolean all = drive (fx, got_burst, 5);
  g_test_message ("peer → client burst%s: %u of %u in order", trains ? " in trains" : "",
                  fx->burst_next, BURST);
  g_assert_true (all);
  g_assert_false (fx->burst_bad);
  g_assert_cmpuint (fx->burst_next, ==, BURST);
}

static void
test_interop (Fx *fx, gconstpointer data)
{
  const Case *c = data;
  TurnServerConfig cfg = {
    .coturn = c->coturn, .secret = c->rest ? SECRET : NULL,
    .port_base = 20000, .tmp_template = "ember-turn-interop-XXXXXX",
    .listen_host = c->listen_host,
  };
  if (turn_server_skip_unless_root () || !turn_server_start (&fx->srv, &cfg))
    return;

  char user[128] = TURN_SERVER_USER, pass[64] = TURN_SERVER_PASSWORD;
  if (c->rest)
    rest_credentials (user, sizeof user, pass, sizeof pass);
  EmberAddr local;
  fx->cli_fd = udp_socket (&local);
  fx->peer_fd = udp_socket (&fx->peer);
  EmberTurnRng rng = { rng_next, NULL };
  fx->client = ember_turn_client_new (&fx->srv.addr, user, pass, &rng, g_get_monotonic_time ());
  ember_turn_client_want_allocation (fx->client, g_get_monotonic_time ());
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (drive (fx, is_allocated, 5));
  g_test_message ("%s: allocated in %.1f ms", c->name,
                  (double) (g_get_monotonic_time () - t0) / 1000);
  EmberAddr relayed[2];
  g_assert_cmpuint (ember_turn_client_get_relayed (fx->client, relayed), ==, 1);
  g_assert_cmpuint (relayed[0].family, ==, EMBER_ADDR_IPV4);
  EmberAddr announced = fx->srv.addr;
  announced.port = relayed[0].port;
  g_assert_true (udp_addr_eq (&relayed[0], &announced));

  /* Permission + channel for the peer socket. */
  g_assert_true (ember_turn_client_add_peer (fx->client, g_get_monotonic_time (), &fx->peer));
  g_assert_true (drive (fx, has_channel, 5));

  /* Client → ChannelData → relay → peer, from the relayed address. */
  static const char up[] = "ember says hello through the relay";
  guint8 buf[1500];
  gsize n = ember_turn_client_encode (fx->client, g_get_monotonic_time (), &fx->peer,
                                      (const guint8 *) up, sizeof up - 1, buf, sizeof buf);
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpuint (buf[0] >> 6, ==, 1);  /* ChannelData */
  udp_send_to (fx->cli_fd, &fx->srv.addr, buf, n);
  EmberAddr from;
  gssize r = udp_recv_from (fx->peer_fd, 2000, &from, buf, sizeof buf);
  g_assert_cmpint (r, ==, (gssize) (sizeof up - 1));
  g_assert_cmpmem (buf, (int) r, up, (int) (sizeof up - 1));
  g_assert_true (udp_addr_eq (&from, &relayed[0]));

  /* Peer → relayed address → relay → client (ChannelData on the bound
   * channel), odd length so the server pads. */
  static const char down[] = "and the peer answers: 31 bytes";
  udp_send_to (fx->peer_fd, &relayed[0], (const guint8 *) down, sizeof down - 1);
  g_assert_true (drive (fx, got_data, 2));
  g_assert_true (udp_addr_eq (&fx->data_from, &fx->peer));
  g_assert_cmpmem (fx->data, (int) fx->data_len, down, (int) (sizeof down - 1));

  /* Bursts both ways, sent back to back: ember-relay batches them (one
   * recvmmsg, then one UDP_SEGMENT message per destination). Every
   * datagram must arrive, whole and in order. Not asked of coturn: its
   * relay sockets keep the default buffer and drop part of such a burst
   * (about 30 of 100 here). */
  if (!c->coturn)
    {
      burst_up (fx, &relayed[0], FALSE);
      burst_down (fx, &relayed[0], FALSE);
      /* The same bursts as UDP_SEGMENT trains: ember-relay's sockets
       * take them coalesced (UDP_GRO) and split them, so every datagram
       * must still come out whole, in order, and counted as coalesced. */
      burst_up (fx, &relayed[0], TRUE);
      burst_down (fx, &relayed[0], TRUE);
      gint64 gro = turn_server_metric (&fx->srv, "ember_relay_gro_datagrams_total", 2 * BURST);
      g_test_message ("datagrams received coalesced: %" G_GINT64_FORMAT, gro);
      g_assert_cmpint (gro, ==, 2 * BURST);
    }

  /* Release the allocation and let the request go out. */
  ember_turn_client_deallocate (fx->client, g_get_monotonic_time ());
  g_assert_false (ember_turn_client_is_allocated (fx->client));
  drive (fx, got_data, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  turn_server_install_cleanup ();
  static const Case cases[] = {
    { "coturn-static-user", TRUE, FALSE, 0 },
    { "coturn-rest-secret", TRUE, TRUE, 0 },
    { "ember-relay-static-user", FALSE, FALSE, 0 },
    { "ember-relay-rest-secret", FALSE, TRUE, 0 },
    { "ember-relay-on-a-second-address-relays-from-it", FALSE, FALSE, 2 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/turn/interop/%s", cases[i].name);
      g_test_add (path, Fx, &cases[i], fx_setup, test_interop, fx_teardown);
    }
  return g_test_run ();
}
