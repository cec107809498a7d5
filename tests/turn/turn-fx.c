/* tests/turn/turn-fx — see turn-fx.h. */
#include "turn-fx.h"

#include <gio/gio.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

EmberAddr
turn_fx_ip (const char *text, guint16 port)
{
  EmberAddr a = { 0 };
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (text);
  g_assert_nonnull (ia);
  gsize n = g_inet_address_get_native_size (ia);
  a.family = n == 4 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6;
  memcpy (a.addr, g_inet_address_to_bytes (ia), n);
  a.port = port;
  return a;
}

gboolean
turn_fx_addr_eq (const EmberAddr *a, const EmberAddr *b)
{
  gsize n = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, n) == 0;
}

static void
srv_rng (gpointer user_data, guint8 *buf, gsize len)
{
  TurnFx *fx = user_data;
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) ((fx->srv_rng = fx->srv_rng * 1103515245u + 12345u) >> 16);
}

guint64
turn_fx_rng (gpointer user_data)
{
  /* splitmix64 */
  TurnFx *fx = user_data;
  guint64 z = (fx->cli_rng += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

void
turn_fx_credentials (const Relay *r, gint64 now, char *user, gsize user_len, char *pass, gsize pass_len)
{
  g_snprintf (user, user_len, "%" G_GINT64_FORMAT ":node1", UNIX_EPOCH + now / G_USEC_PER_SEC + 86400);
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  GHmac *h = g_hmac_new (G_CHECKSUM_SHA1, r->secret, sizeof r->secret);
  g_hmac_update (h, (const guchar *) user, (gssize) strlen (user));
  g_hmac_get_digest (h, digest, &digest_len);
  g_hmac_unref (h);
  g_autofree char *b64 = g_base64_encode (digest, digest_len);
  g_strlcpy (pass, b64, pass_len);
}

static void
datagram_free (gpointer p)
{
  Datagram *d = p;
  g_bytes_unref (d->data);
  g_free (d);
}

void
turn_fx_relay_boot (TurnFx *fx, guint i)
{
  Relay *r = &fx->relays[i];
  for (gsize k = 0; k < sizeof r->secret; k++)
    r->secret[k] = (guint8) turn_fx_rng (fx);
  EmberRelayServerConfig c;
  ember_relay_server_config_init (&c);
  c.realm = "ember.test";
  c.secret = r->secret;
  c.secret_len = sizeof r->secret;
  c.public_ip4 = turn_fx_ip (i == 0 ? "192.0.2.1" : "192.0.2.2", 0);
  if (fx->with_ip6)
    c.public_ip6 = turn_fx_ip (i == 0 ? "2001:db8::1" : "2001:db8::2", 0);
  c.port_min = 50000;
  c.port_max = 50099;
  if (fx->nonce_lifetime_us > 0)
    c.nonce_lifetime_us = fx->nonce_lifetime_us;
  c.rng = srv_rng;
  c.rng_data = fx;
  g_autoptr (GError) error = NULL;
  r->srv = ember_relay_server_new (&c, &error);
  g_assert_no_error (error);
  g_assert_true (ember_relay_server_allow_peer (r->srv, "203.0.113.0/24", &error));
  g_assert_no_error (error);
  r->server_addr = turn_fx_ip (i == 0 ? "192.0.2.1" : "192.0.2.2", 3478);
}

void
turn_fx_init (TurnFx *fx, guint n_relays)
{
  fx->now = S (1000);
  fx->srv_rng = 7;
  fx->cli_rng = 42;
  fx->n_relays = n_relays;
  fx->client_addr = turn_fx_ip ("198.51.100.20", 40000);
  fx->peer = turn_fx_ip ("203.0.113.5", 5000);
  fx->sent = g_array_new (FALSE, TRUE, sizeof (Rec));
  fx->answers = g_array_new (FALSE, TRUE, sizeof (Rec));
  fx->events = g_array_new (FALSE, TRUE, sizeof (Ev));
  fx->peer_inbox = g_ptr_array_new_with_free_func (datagram_free);
  fx->client_inbox = g_ptr_array_new_with_free_func (datagram_free);
  for (guint i = 0; i < n_relays; i++)
    {
      turn_fx_relay_boot (fx, i);
      char user[128], pass[64];
      turn_fx_credentials (&fx->relays[i], fx->now, user, sizeof user, pass, sizeof pass);
      EmberTurnRng rng = { turn_fx_rng, fx };
      fx->relays[i].cli = ember_turn_client_new (&fx->relays[i].server_addr, user, pass, &rng, fx->now);
      g_assert_nonnull (fx->relays[i].cli);
    }
}

void
turn_fx_setup (TurnFx *fx, gconstpointer data)
{
  (void) data;
  memset (fx, 0, sizeof *fx);
}

void
turn_fx_teardown (TurnFx *fx, gconstpointer data)
{
  (void) data;
  for (guint i = 0; i < fx->n_relays; i++)
    {
      ember_turn_client_free (fx->relays[i].cli);
      ember_relay_server_free (fx->relays[i].srv);
    }
  g_clear_pointer (&fx->sent, g_array_unref);
  g_clear_pointer (&fx->answers, g_array_unref);
  g_clear_pointer (&fx->events, g_array_unref);
  g_clear_pointer (&fx->peer_inbox, g_ptr_array_unref);
  g_clear_pointer (&fx->client_inbox, g_ptr_array_unref);
}

static void
record (GArray *log, gint64 now, guint relay, const guint8 *buf, gsize len)
{
  EmberStunMessage m;
  if (ember_stun_classify (buf, len) != EMBER_STUN_KIND_STUN
      || ember_stun_message_parse (&m, buf, len) != EMBER_STUN_OK)
    return;
  Rec r = { .t = now, .relay = relay, .method = m.method, .klass = m.klass,
            .integrity = m.integrity >= 0,
            .additional_family = ember_stun_message_has (&m, EMBER_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY) };
  if (m.klass == EMBER_STUN_CLASS_ERROR)
    ember_stun_message_get_error_code (&m, &r.code, NULL, NULL);
  g_array_append_val (log, r);
}

void
turn_fx_drain_events (TurnFx *fx, guint i)
{
  Ev e = { .t = fx->now, .relay = i };
  while (ember_turn_client_poll_event (fx->relays[i].cli, &e.ev))
    g_array_append_val (fx->events, e);
}

/* One datagram from relay i's server to its client. */
static void
to_client (TurnFx *fx, guint i, const guint8 *buf, gsize len)
{
  Relay *r = &fx->relays[i];
  EmberAddr peer;
  const guint8 *data;
  gsize data_len;
  record (fx->answers, fx->now, i, buf, len);
  if (fx->feed_prefixes)
    {
      /* Truncated copies on the heap so ASan sees any overread. */
      for (gsize n = 0; n < len; n++)
        {
          guint8 *copy = g_memdup2 (buf, n ? n : 1);
          EmberTurnInputResult res = ember_turn_client_handle_input (r->cli, fx->now, &r->server_addr,
                                                                     copy, n, &peer, &data,
                                                                     &data_len);
          g_assert_cmpint (res, >=, 0);
          g_assert_cmpint (res, <=, EMBER_TURN_INPUT_INVALID);
          fx->prefix_results[res]++;
          /* A truncated STUN message never passes as a response. */
          if (ember_stun_classify (buf, len) == EMBER_STUN_KIND_STUN)
            g_assert_cmpint (res, !=, EMBER_TURN_INPUT_HANDLED);
          g_free (copy);
        }
    }
  EmberTurnInputResult res = ember_turn_client_handle_input (r->cli, fx->now, &r->server_addr, buf,
                                                             len, &peer, &data, &data_len);
  g_assert_cmpint (res, !=, EMBER_TURN_INPUT_NOT_FOR_US);
  if (res == EMBER_TURN_INPUT_DATA)
    {
      Datagram *d = g_new0 (Datagram, 1);
      d->relay = i;
      d->from = peer;
      d->data = g_bytes_new (data, data_len);
      g_ptr_array_add (fx->client_inbox, d);
    }
  turn_fx_drain_events (fx, i);
}

/* Executes the server's commands; responses go to the client at once. */
static void
drain_server (TurnFx *fx, guint i)
{
  Relay *r = &fx->relays[i];
  GPtrArray *to_cli = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  EmberRelayCommand cmd;
  while (ember_relay_server_poll_command (r->srv, &cmd))
    {
      if (cmd.kind == EMBER_RELAY_CMD_SEND_TO_CLIENT)
        {
          g_assert_true (turn_fx_addr_eq (&cmd.to, &fx->client_addr));
          g_ptr_array_add (to_cli, g_bytes_new (cmd.data, cmd.len));
        }
      else if (cmd.kind == EMBER_RELAY_CMD_SEND_TO_PEER)
        {
          Datagram *d = g_new0 (Datagram, 1);
          d->relay = i;
          d->from = r->server_addr;
          d->from.family = cmd.family;
          if (cmd.family == EMBER_ADDR_IPV6)
            d->from = turn_fx_ip (i == 0 ? "2001:db8::1" : "2001:db8::2", 0);
          d->from.port = cmd.port;
          d->to = cmd.to;
          d->data = g_bytes_new (cmd.data, cmd.len);
          g_ptr_array_add (fx->peer_inbox, d);
        }
    }
  for (guint k = 0; k < to_cli->len; k++)
    {
      gsize n;
      const guint8 *b = g_bytes_get_data (to_cli->pdata[k], &n);
      to_client (fx, i, b, n);
    }
  g_ptr_array_unref (to_cli);
}

/* A hand-built 440 answer to an authenticated dual-stack Allocate: what a
 * server that refuses ADDITIONAL-ADDRESS-FAMILY outright sends. */
static gboolean
maybe_refuse_dual (TurnFx *fx, guint i, const guint8 *buf, gsize len)
{
  EmberStunMessage m;
  if (!fx->refuse_dual_once || ember_stun_message_parse (&m, buf, len) != EMBER_STUN_OK
      || m.method != EMBER_STUN_METHOD_ALLOCATE || m.integrity < 0
      || !ember_stun_message_has (&m, EMBER_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY))
    return FALSE;
  fx->refuse_dual_once = FALSE;
  guint8 out[128];
  EmberStunBuilder b;
  ember_stun_builder_init (&b, out, sizeof out, EMBER_STUN_METHOD_ALLOCATE, EMBER_STUN_CLASS_ERROR,
                           m.transaction_id);
  ember_stun_builder_add_error_code (&b, EMBER_STUN_ERROR_ADDRESS_FAMILY_NOT_SUPPORTED,
                                     "Address Family not Supported");
  ember_stun_builder_add_fingerprint (&b);
  gsize n = ember_stun_builder_finish (&b, NULL);
  g_assert_cmpuint (n, >, 0);
  to_client (fx, i, out, n);
  return TRUE;
}

/* Moves datagrams until both sides are quiet. */
void
turn_fx_pump (TurnFx *fx)
{
  for (guint round = 0;; round++)
    {
      g_assert_cmpuint (round, <, 1000);
      gboolean moved = FALSE;
      for (guint i = 0; i < fx->n_relays; i++)
        {
          Relay *r = &fx->relays[i];
          guint8 buf[EMBER_TURN_MAX_MESSAGE];
          EmberAddr to;
          gsize n;
          turn_fx_drain_events (fx, i);
          while ((n = ember_turn_client_poll_transmit (r->cli, buf, sizeof buf, &to)) > 0)
            {
              moved = TRUE;
              g_assert_true (turn_fx_addr_eq (&to, &r->server_addr));
              record (fx->sent, fx->now, i, buf, n);
              EmberStunMessage m;
              if (r->silent
                  || (fx->drop_method != 0 && ember_stun_message_parse (&m, buf, n) == EMBER_STUN_OK
                      && m.method == fx->drop_method))
                continue;
              if (maybe_refuse_dual (fx, i, buf, n))
                continue;
              ember_relay_server_set_unix_time (r->srv, UNIX_EPOCH + fx->now / G_USEC_PER_SEC);
              ember_relay_server_handle_client_input (r->srv, fx->now, 0, &fx->client_addr, buf, n);
              drain_server (fx, i);
            }
        }
      if (!moved)
        return;
    }
}

static void
step_timeouts (TurnFx *fx)
{
  for (guint i = 0; i < fx->n_relays; i++)
    {
      Relay *r = &fx->relays[i];
      ember_relay_server_set_unix_time (r->srv, UNIX_EPOCH + fx->now / G_USEC_PER_SEC);
      ember_relay_server_handle_timeout (r->srv, fx->now);
      drain_server (fx, i);
      ember_turn_client_handle_timeout (r->cli, fx->now);
      turn_fx_drain_events (fx, i);
    }
  turn_fx_pump (fx);
}

static gint64
next_deadline (TurnFx *fx)
{
  gint64 t = G_MAXINT64;
  for (guint i = 0; i < fx->n_relays; i++)
    {
      t = MIN (t, ember_turn_client_poll_timeout (fx->relays[i].cli));
      t = MIN (t, ember_relay_server_poll_timeout (fx->relays[i].srv));
    }
  return t;
}


/* Runs the clocks to `until`, visiting every deadline on the way. */
void
turn_fx_advance_checked (TurnFx *fx, gint64 until, TurnFxCheck check)
{
  for (guint i = 0;; i++)
    {
      g_assert_cmpuint (i, <, 200000);
      gint64 next = next_deadline (fx);
      if (next > until)
        break;
      fx->now = MAX (fx->now, next);
      step_timeouts (fx);
      if (check != NULL)
        g_assert_true (check (fx));
    }
  fx->now = until;
  step_timeouts (fx);
}

void
turn_fx_advance (TurnFx *fx, gint64 until)
{
  turn_fx_advance_checked (fx, until, NULL);
}

guint
turn_fx_count_events (TurnFx *fx, EmberTurnEventType type)
{
  guint n = 0;
  for (guint i = 0; i < fx->events->len; i++)
    n += g_array_index (fx->events, Ev, i).ev.type == type;
  return n;
}

const Ev *
turn_fx_last_event (TurnFx *fx, EmberTurnEventType type)
{
  for (guint i = fx->events->len; i > 0; i--)
    if (g_array_index (fx->events, Ev, i - 1).ev.type == type)
      return &g_array_index (fx->events, Ev, i - 1);
  return NULL;
}

guint
turn_fx_count_sent (TurnFx *fx, guint16 method, gboolean with_integrity)
{
  guint n = 0;
  for (guint i = 0; i < fx->sent->len; i++)
    {
      const Rec *r = &g_array_index (fx->sent, Rec, i);
      n += r->method == method && r->klass == EMBER_STUN_CLASS_REQUEST
           && (!with_integrity || r->integrity);
    }
  return n;
}

guint
turn_fx_count_answers (TurnFx *fx, guint16 method, guint code)
{
  guint n = 0;
  for (guint i = 0; i < fx->answers->len; i++)
    {
      const Rec *r = &g_array_index (fx->answers, Rec, i);
      n += r->method == method && r->code == code;
    }
  return n;
}

void
turn_fx_allocate (TurnFx *fx, guint i)
{
  ember_turn_client_want_allocation (fx->relays[i].cli, fx->now);
  turn_fx_pump (fx);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[i].cli));
}

/* Peer → relayed address → server → client. */
void
turn_fx_peer_send (TurnFx *fx, guint i, const EmberAddr *relayed, const char *text)
{
  Relay *r = &fx->relays[i];
  ember_relay_server_handle_peer_input (r->srv, fx->now, relayed->family, relayed->port, &fx->peer,
                                        (const guint8 *) text, strlen (text));
  drain_server (fx, i);
}

/* Client → server → peer, through encode(). Returns the wire length. */
gsize
turn_fx_client_send (TurnFx *fx, guint i, const char *text, guint8 *first_byte)
{
  Relay *r = &fx->relays[i];
  guint8 buf[1500];
  gsize n = ember_turn_client_encode (r->cli, fx->now, &fx->peer, (const guint8 *) text,
                                      strlen (text), buf, sizeof buf);
  if (n == 0)
    return 0;
  if (first_byte != NULL)
    *first_byte = buf[0];
  ember_relay_server_handle_client_input (r->srv, fx->now, 0, &fx->client_addr, buf, n);
  drain_server (fx, i);
  return n;
}

void
turn_fx_assert_peer_got (TurnFx *fx, const char *text)
{
  g_assert_cmpuint (fx->peer_inbox->len, >, 0);
  const Datagram *d = g_ptr_array_index (fx->peer_inbox, fx->peer_inbox->len - 1);
  g_assert_true (turn_fx_addr_eq (&d->to, &fx->peer));
  gsize n;
  const guint8 *b = g_bytes_get_data (d->data, &n);
  g_assert_cmpmem (b, (int) n, text, (int) strlen (text));
}

void
turn_fx_assert_client_got (TurnFx *fx, const char *text)
{
  g_assert_cmpuint (fx->client_inbox->len, >, 0);
  const Datagram *d = g_ptr_array_index (fx->client_inbox, fx->client_inbox->len - 1);
  g_assert_true (turn_fx_addr_eq (&d->from, &fx->peer));
  gsize n;
  const guint8 *b = g_bytes_get_data (d->data, &n);
  g_assert_cmpmem (b, (int) n, text, (int) strlen (text));
}

EmberAddr
turn_fx_relayed4 (TurnFx *fx, guint i)
{
  EmberAddr out[2];
  guint n = ember_turn_client_get_relayed (fx->relays[i].cli, out);
  for (guint k = 0; k < n; k++)
    if (out[k].family == EMBER_ADDR_IPV4)
      return out[k];
  g_assert_not_reached ();
}

/* Both directions over the channel; asserts the bytes. */
void
turn_fx_exchange (TurnFx *fx, guint i, const char *up, const char *down)
{
  guint8 first = 0;
  g_assert_cmpuint (turn_fx_client_send (fx, i, up, &first), >, 0);
  g_assert_cmpuint (first >> 6, ==, 1);  /* ChannelData: 0b01 (RFC 8656 §12.4) */
  turn_fx_assert_peer_got (fx, up);
  EmberAddr relayed = turn_fx_relayed4 (fx, i);
  const Datagram *d = g_ptr_array_index (fx->peer_inbox, fx->peer_inbox->len - 1);
  g_assert_true (turn_fx_addr_eq (&d->from, &relayed));
  guint before = fx->client_inbox->len;
  turn_fx_peer_send (fx, i, &relayed, down);
  g_assert_cmpuint (fx->client_inbox->len, ==, before + 1);
  turn_fx_assert_client_got (fx, down);
}

