/* libFuzzer target: the TURN client (plugins/relay/client) talking to the
 * real ember-relay server core, with the fuzzer in the middle. Each input
 * is a script of one-byte opcodes: deliver the server's next answer as
 * it is, damaged (bytes from the input XORed in), cut short, or replaced
 * by raw input bytes; advance time; add or remove a peer; renew the
 * credentials; reboot or release. The client must never crash, never
 * read past what it was given (ASan), and keep its promises: after
 * handle_timeout(now) its next deadline lies after now, and what it
 * transmits or encodes fits the buffer it was given. */
#include "relay/client/client.h"
#include "server.h"
#include "stun/message.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

typedef struct {
  const guint8 *p;
  gsize left;
} Script;

static guint8
next (Script *s)
{
  if (s->left == 0)
    return 0;
  s->left--;
  return *s->p++;
}

static guint64 rng_state;

static guint64
rng_next (gpointer user_data)
{
  (void) user_data;
  rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
  return rng_state;
}

static void
srv_rng (gpointer user_data, guint8 *buf, gsize len)
{
  (void) user_data;
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (rng_next (NULL) >> 56);
}

static const guint8 secret[] = "fuzz-secret";

static void
credentials (gint64 now, guint gen, char *user, gsize user_len, char *pass, gsize pass_len)
{
  g_snprintf (user, user_len, "%" G_GINT64_FORMAT ":fuzz%u", 1700000000 + now / G_USEC_PER_SEC + 86400, gen);
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  GHmac *h = g_hmac_new (G_CHECKSUM_SHA1, secret, sizeof secret - 1);
  g_hmac_update (h, (const guchar *) user, (gssize) strlen (user));
  g_hmac_get_digest (h, digest, &digest_len);
  g_hmac_unref (h);
  g_autofree char *b64 = g_base64_encode (digest, digest_len);
  g_strlcpy (pass, b64, pass_len);
}

static EmberRelayServer *
server_new (void)
{
  EmberRelayServerConfig c;
  ember_relay_server_config_init (&c);
  c.realm = "ember.test";
  c.secret = secret;
  c.secret_len = sizeof secret - 1;
  c.public_ip4.family = EMBER_ADDR_IPV4;
  c.public_ip4.addr[0] = 192;
  c.public_ip4.addr[1] = 0;
  c.public_ip4.addr[2] = 2;
  c.public_ip4.addr[3] = 1;
  c.public_ip6.family = EMBER_ADDR_IPV6;
  c.public_ip6.addr[0] = 0x20;
  c.public_ip6.addr[1] = 0x01;
  c.public_ip6.addr[2] = 0x0d;
  c.public_ip6.addr[3] = 0xb8;
  c.port_min = 50000;
  c.port_max = 50003;
  c.rng = srv_rng;
  EmberRelayServer *s = ember_relay_server_new (&c, NULL);
  ember_relay_server_allow_peer (s, "203.0.113.0/24", NULL);
  ember_relay_server_set_unix_time (s, 1700000000);
  return s;
}

/* One answer of the server to the client, as the script says. */
static void
deliver (EmberTurnClient *cli, gint64 now, const EmberAddr *server, const guint8 *msg, gsize len,
         guint8 how, Script *sc)
{
  guint8 buf[2048];
  gsize n = MIN (len, sizeof buf);
  memcpy (buf, msg, n);
  switch (how % 4)
    {
    case 0:
      break;
    case 1: /* damaged: a few bytes XORed at positions the input picks */
      for (guint k = next (sc) % 8; k > 0 && n > 0; k--)
        {
          guint pos = next (sc);
          buf[pos % n] ^= next (sc);
        }
      break;
    case 2: /* cut short */
      if (n > 0)
        n = next (sc) % n;
      break;
    case 3: /* replaced by raw input bytes */
      n = next (sc);
      n = MIN (n, sc->left);
      memcpy (buf, sc->p, n);
      sc->p += n;
      sc->left -= n;
      break;
    }
  /* A heap copy of exactly n bytes, so ASan sees any overread. */
  guint8 *copy = g_memdup2 (buf, n ? n : 1);
  EmberAddr peer;
  const guint8 *d;
  gsize dlen;
  EmberTurnInputResult r = ember_turn_client_handle_input (cli, now, server, copy, n, &peer, &d, &dlen);
  if (r == EMBER_TURN_INPUT_DATA)
    {
      g_assert (d >= copy && d + dlen <= copy + n);
      (void) peer;
    }
  g_free (copy);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  Script sc = { data, size };
  rng_state = 1;
  gint64 now = G_USEC_PER_SEC;
  guint gen = 0;
  char user[128], pass[64];
  credentials (now, gen, user, sizeof user, pass, sizeof pass);
  EmberAddr server = { .family = EMBER_ADDR_IPV4, .port = 3478, .addr = { 192, 0, 2, 1 } };
  EmberAddr client = { .family = EMBER_ADDR_IPV4, .port = 40000, .addr = { 198, 51, 100, 7 } };
  EmberAddr peers[4];
  for (guint i = 0; i < G_N_ELEMENTS (peers); i++)
    peers[i] = (EmberAddr) { .family = EMBER_ADDR_IPV4, .port = (guint16) (5000 + i),
                             .addr = { 203, 0, 113, (guint8) (10 + i) } };
  EmberRelayServer *srv = server_new ();
  EmberTurnRng rng = { rng_next, NULL };
  EmberTurnClient *cli = ember_turn_client_new (&server, user, pass, &rng, now);
  ember_turn_client_set_dual_stack (cli, size > 0 && (data[0] & 1));
  ember_turn_client_want_allocation (cli, now);

  for (guint step = 0; step < 256 && sc.left > 0; step++)
    {
      /* Client → server: everything it wants to send. */
      guint8 out[EMBER_TURN_MAX_MESSAGE];
      EmberAddr to;
      gsize n;
      while ((n = ember_turn_client_poll_transmit (cli, out, sizeof out, &to)) > 0)
        {
          g_assert (n <= sizeof out);
          ember_relay_server_set_unix_time (srv, 1700000000 + now / G_USEC_PER_SEC);
          ember_relay_server_handle_client_input (srv, now, 0, &client, out, n);
        }
      EmberTurnEvent ev;
      while (ember_turn_client_poll_event (cli, &ev))
        g_assert (ev.n_relayed <= 2);

      guint8 op = next (&sc);
      switch (op % 8)
        {
        case 0:
        case 1:
        case 2:
          {
            /* Server → client: the answers, each as the script says. */
            EmberRelayCommand c;
            while (ember_relay_server_poll_command (srv, &c))
              if (c.kind == EMBER_RELAY_CMD_SEND_TO_CLIENT)
                deliver (cli, now, &server, c.data, c.len, next (&sc), &sc);
            break;
          }
        case 3:
          {
            now += (gint64) (next (&sc) + 1) * 50 * G_TIME_SPAN_MILLISECOND
                   * (op & 0x80 ? 100 : 1);
            ember_turn_client_handle_timeout (cli, now);
            g_assert (ember_turn_client_poll_timeout (cli) > now);
            ember_relay_server_handle_timeout (srv, now);
            break;
          }
        case 4:
          ember_turn_client_add_peer (cli, now, &peers[next (&sc) % G_N_ELEMENTS (peers)]);
          break;
        case 5:
          ember_turn_client_remove_peer (cli, &peers[next (&sc) % G_N_ELEMENTS (peers)]);
          break;
        case 6:
          {
            guint8 what = next (&sc);
            if (what % 3 == 0)
              {
                credentials (now, ++gen, user, sizeof user, pass, sizeof pass);
                ember_turn_client_update_credentials (cli, now, user, pass);
              }
            else if (what % 3 == 1)
              {
                ember_relay_server_free (srv);
                srv = server_new ();
              }
            else
              {
                ember_turn_client_deallocate (cli, now);
                ember_turn_client_want_allocation (cli, now);
              }
            break;
          }
        case 7:
          {
            /* Data both ways. */
            guint8 payload[64], wire[256];
            memset (payload, next (&sc), sizeof payload);
            const EmberAddr *p = &peers[next (&sc) % G_N_ELEMENTS (peers)];
            n = ember_turn_client_encode (cli, now, p, payload, sizeof payload, wire, sizeof wire);
            g_assert (n <= sizeof wire);
            if (n > 0)
              ember_relay_server_handle_client_input (srv, now, 0, &client, wire, n);
            EmberAddr relayed[2];
            if (ember_turn_client_get_relayed (cli, relayed) > 0)
              ember_relay_server_handle_peer_input (srv, now, relayed[0].family, relayed[0].port, p,
                                                    payload, sizeof payload);
            break;
          }
        }
    }
  ember_turn_client_free (cli);
  ember_relay_server_free (srv);
  return 0;
}
