/* sim/relay — runs the real ember-relay server core (plugins/relay/server)
 * on a simulated public host: listener 0 is port 3478, allocation ports
 * are the host's other ports; commands become simulated datagrams. */
#include "sim-private.h"
#include "relay/server/server.h"

#include <string.h>

struct _SimRelayServer {
  EmberRelayServer *srv;
};

static void
relay_rng (gpointer user_data, guint8 *buf, gsize len)
{
  SimRng *rng = user_data;
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) sim_rng_next (rng);
}

static void
drain (SimWorld *w, SimRelay *relay)
{
  EmberRelayCommand cmd;
  relay->wake = G_MAXINT64;
  while (ember_relay_server_poll_command (relay->server->srv, &cmd))
    {
      EmberAddr from;
      switch (cmd.kind)
        {
        case EMBER_RELAY_CMD_SEND_TO_CLIENT:
          from = sim_addr (relay->ip, SIM_RELAY_PORT);
          sim_net_send (w->net, w->now, relay->host, &from, &cmd.to, cmd.data, cmd.len);
          break;
        case EMBER_RELAY_CMD_SEND_TO_PEER:
          from = sim_addr (relay->ip, cmd.port);
          sim_net_send (w->net, w->now, relay->host, &from, &cmd.to, cmd.data, cmd.len);
          break;
        case EMBER_RELAY_CMD_WAKE:
          relay->wake = MIN (relay->wake, cmd.deadline);
          break;
        case EMBER_RELAY_CMD_CREATE_ALLOCATION:
        case EMBER_RELAY_CMD_FREE_ALLOCATION:
          break;  /* every port of the simulated host is open */
        case EMBER_RELAY_CMD_CHANNEL_BOUND:
        case EMBER_RELAY_CMD_CHANNEL_UNBOUND:
          break;  /* no fast path in the simulation */
        }
    }
  relay->wake = MIN (relay->wake, ember_relay_server_poll_timeout (relay->server->srv));
}

static void
relay_deliver (SimHost *host, gint64 now, const EmberAddr *local, const EmberAddr *from,
               const guint8 *buf, gsize len, gpointer user_data)
{
  (void) host;
  SimRelay *relay = user_data;
  if (relay->server == NULL)
    return;
  EmberRelayServer *srv = relay->server->srv;
  ember_relay_server_set_unix_time (srv, SIM_UNIX_EPOCH + now / G_TIME_SPAN_SECOND);
  if (local->port == SIM_RELAY_PORT)
    ember_relay_server_handle_client_input (srv, now, 0, from, buf, len);
  else
    ember_relay_server_handle_peer_input (srv, now, EMBER_ADDR_IPV4, local->port, from, buf, len);
  /* Commands point into buf: drain before returning. */
  drain (relay->w, relay);
}

void
sim_relay_timeout (SimWorld *w, SimRelay *relay)
{
  if (relay->server == NULL)
    return;
  ember_relay_server_set_unix_time (relay->server->srv, SIM_UNIX_EPOCH + w->now / G_TIME_SPAN_SECOND);
  ember_relay_server_handle_timeout (relay->server->srv, w->now);
  drain (w, relay);
}

void
sim_relay_boot (SimWorld *w, SimRelay *relay)
{
  relay->w = w;
  if (relay->host == NULL)
    relay->host = sim_net_add_host (w->net, relay->ip, SIM_NAT_NONE, SIM_NAT_NONE, 0,
                                    (gint64) (5 + sim_rng_below (&w->rng, 30)) * G_TIME_SPAN_MILLISECOND,
                                    relay_deliver, relay);
  relay->host->down = FALSE;
  relay->boot++;
  /* A reboot comes with a new secret: the portal hands out new
   * credentials, which is how clients detect it (seed 000, #6666). */
  for (gsize i = 0; i < sizeof relay->secret; i++)
    relay->secret[i] = (guint8) sim_rng_next (&w->rng);

  EmberRelayServerConfig cfg;
  ember_relay_server_config_init (&cfg);
  cfg.realm = "sim.ember";
  cfg.secret = relay->secret;
  cfg.secret_len = sizeof relay->secret;
  cfg.public_ip4 = sim_addr (relay->ip, 0);
  cfg.rng = relay_rng;
  cfg.rng_data = &w->rng;
  /* The simulator's addresses are documentation ranges; a real relay
   * refuses private peers by default, the simulated internet is "public". */
  g_autoptr (GError) error = NULL;
  relay->server = g_new0 (SimRelayServer, 1);
  relay->server->srv = ember_relay_server_new (&cfg, &error);
  g_assert_no_error (error);
  g_assert_true (ember_relay_server_allow_peer (relay->server->srv, "0.0.0.0/0", &error));
  g_assert_no_error (error);
  relay->wake = ember_relay_server_poll_timeout (relay->server->srv);
}

void
sim_relay_halt (SimRelay *relay)
{
  if (relay->server != NULL)
    {
      ember_relay_server_free (relay->server->srv);
      g_free (relay->server);
      relay->server = NULL;
    }
  relay->wake = G_MAXINT64;
  if (relay->host != NULL)
    relay->host->down = TRUE;
}

void
sim_relay_credentials (const SimRelay *relay, gint64 now, guint node, char *user, gsize user_len,
                       char *pass, gsize pass_len)
{
  /* The REST scheme ember-relay shares with the portal:
   * username "<unix expiry>:<id>", password base64(HMAC-SHA1(secret, username)). */
  g_snprintf (user, user_len, "%" G_GINT64_FORMAT ":node%u",
              SIM_UNIX_EPOCH + now / G_TIME_SPAN_SECOND + 86400, node);
  gsize digest_len = 20;
  guint8 digest[20];
  GHmac *hmac = g_hmac_new (G_CHECKSUM_SHA1, relay->secret, sizeof relay->secret);
  g_hmac_update (hmac, (const guchar *) user, (gssize) strlen (user));
  g_hmac_get_digest (hmac, digest, &digest_len);
  g_hmac_unref (hmac);
  g_autofree char *b64 = g_base64_encode (digest, digest_len);
  g_strlcpy (pass, b64, pass_len);
}
