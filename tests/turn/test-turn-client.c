/* Tests for the sans-IO TURN client (plugins/relay/client) against the
 * real ember-relay server core (plugins/relay/server) on a virtual clock.
 * Datagrams are handed from one state machine to the other in memory; a
 * few knobs make the "network" drop or rewrite messages so that relay
 * failures, refused families and truncated responses can be exercised.
 * Credentials are the time-limited REST scheme ember-relay shares with the
 * portal: username "<unix expiry>:<id>", password
 * base64(HMAC-SHA1(secret, username)). */
#include "relay/client/client.h"
#include "server.h"
#include "stun/message.h"

#include <gio/gio.h>
#include <string.h>

#define S(n) ((gint64) (n) * G_USEC_PER_SEC)
#define UNIX_EPOCH G_GINT64_CONSTANT (1700000000)
#define MAX_RELAYS 2

typedef struct {
  gint64 t;
  guint relay;
  guint16 method, klass;
  guint code;               /* error responses */
  gboolean integrity;
  gboolean additional_family;
} Rec;

typedef struct {
  gint64 t;
  guint relay;
  EmberTurnEvent ev;
} Ev;

typedef struct {
  guint relay;
  EmberAddr from, to;  /* peer inbox: from = relayed address */
  GBytes *data;
} Datagram;

typedef struct {
  EmberRelayServer *srv;
  EmberTurnClient *cli;
  EmberAddr server_addr;
  guint8 secret[16];
  gboolean silent;  /* drop everything the client sends to this relay */
} Relay;

typedef struct {
  gint64 now;
  guint32 srv_rng;
  guint64 cli_rng;
  guint n_relays;
  Relay relays[MAX_RELAYS];
  EmberAddr client_addr;
  EmberAddr peer;
  GArray *sent;      /* Rec: client → server requests */
  GArray *answers;   /* Rec: server → client responses */
  GArray *events;    /* Ev */
  GPtrArray *peer_inbox;    /* Datagram */
  GPtrArray *client_inbox;  /* Datagram: relayed data handed to the app */
  /* Knobs. */
  guint16 drop_method;        /* drop client requests of this method */
  gboolean refuse_dual_once;  /* answer 440 to an authenticated dual Allocate */
  gboolean feed_prefixes;     /* feed every prefix of every answer first */
  guint prefix_results[EMBER_TURN_INPUT_INVALID + 1];
  /* server config overrides */
  gint64 nonce_lifetime_us;
  gboolean with_ip6;
} Fx;

/* ---- helpers ------------------------------------------------------------ */

static EmberAddr
ip (const char *text, guint16 port)
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

static gboolean
addr_eq (const EmberAddr *a, const EmberAddr *b)
{
  gsize n = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, n) == 0;
}

static void
srv_rng (gpointer user_data, guint8 *buf, gsize len)
{
  Fx *fx = user_data;
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) ((fx->srv_rng = fx->srv_rng * 1103515245u + 12345u) >> 16);
}

static guint64
cli_rng (gpointer user_data)
{
  /* splitmix64 */
  Fx *fx = user_data;
  guint64 z = (fx->cli_rng += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static void
credentials (const Relay *r, gint64 now, char *user, gsize user_len, char *pass, gsize pass_len)
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

static void
relay_boot (Fx *fx, guint i)
{
  Relay *r = &fx->relays[i];
  for (gsize k = 0; k < sizeof r->secret; k++)
    r->secret[k] = (guint8) cli_rng (fx);
  EmberRelayServerConfig c;
  ember_relay_server_config_init (&c);
  c.realm = "ember.test";
  c.secret = r->secret;
  c.secret_len = sizeof r->secret;
  c.public_ip4 = ip (i == 0 ? "192.0.2.1" : "192.0.2.2", 0);
  if (fx->with_ip6)
    c.public_ip6 = ip (i == 0 ? "2001:db8::1" : "2001:db8::2", 0);
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
  r->server_addr = ip (i == 0 ? "192.0.2.1" : "192.0.2.2", 3478);
}

static void
fx_init (Fx *fx, guint n_relays)
{
  fx->now = S (1000);
  fx->srv_rng = 7;
  fx->cli_rng = 42;
  fx->n_relays = n_relays;
  fx->client_addr = ip ("198.51.100.20", 40000);
  fx->peer = ip ("203.0.113.5", 5000);
  fx->sent = g_array_new (FALSE, TRUE, sizeof (Rec));
  fx->answers = g_array_new (FALSE, TRUE, sizeof (Rec));
  fx->events = g_array_new (FALSE, TRUE, sizeof (Ev));
  fx->peer_inbox = g_ptr_array_new_with_free_func (datagram_free);
  fx->client_inbox = g_ptr_array_new_with_free_func (datagram_free);
  for (guint i = 0; i < n_relays; i++)
    {
      relay_boot (fx, i);
      char user[128], pass[64];
      credentials (&fx->relays[i], fx->now, user, sizeof user, pass, sizeof pass);
      EmberTurnRng rng = { cli_rng, fx };
      fx->relays[i].cli = ember_turn_client_new (&fx->relays[i].server_addr, user, pass, &rng, fx->now);
      g_assert_nonnull (fx->relays[i].cli);
    }
}

static void
fx_setup (Fx *fx, gconstpointer data)
{
  (void) data;
  memset (fx, 0, sizeof *fx);
}

static void
fx_teardown (Fx *fx, gconstpointer data)
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

static void
drain_events (Fx *fx, guint i)
{
  Ev e = { .t = fx->now, .relay = i };
  while (ember_turn_client_poll_event (fx->relays[i].cli, &e.ev))
    g_array_append_val (fx->events, e);
}

/* One datagram from relay i's server to its client. */
static void
to_client (Fx *fx, guint i, const guint8 *buf, gsize len)
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
  drain_events (fx, i);
}

/* Executes the server's commands; responses go to the client at once. */
static void
drain_server (Fx *fx, guint i)
{
  Relay *r = &fx->relays[i];
  GPtrArray *to_cli = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  EmberRelayCommand cmd;
  while (ember_relay_server_poll_command (r->srv, &cmd))
    {
      if (cmd.kind == EMBER_RELAY_CMD_SEND_TO_CLIENT)
        {
          g_assert_true (addr_eq (&cmd.to, &fx->client_addr));
          g_ptr_array_add (to_cli, g_bytes_new (cmd.data, cmd.len));
        }
      else if (cmd.kind == EMBER_RELAY_CMD_SEND_TO_PEER)
        {
          Datagram *d = g_new0 (Datagram, 1);
          d->relay = i;
          d->from = r->server_addr;
          d->from.family = cmd.family;
          if (cmd.family == EMBER_ADDR_IPV6)
            d->from = ip (i == 0 ? "2001:db8::1" : "2001:db8::2", 0);
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
maybe_refuse_dual (Fx *fx, guint i, const guint8 *buf, gsize len)
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
static void
pump (Fx *fx)
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
          drain_events (fx, i);
          while ((n = ember_turn_client_poll_transmit (r->cli, buf, sizeof buf, &to)) > 0)
            {
              moved = TRUE;
              g_assert_true (addr_eq (&to, &r->server_addr));
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
step_timeouts (Fx *fx)
{
  for (guint i = 0; i < fx->n_relays; i++)
    {
      Relay *r = &fx->relays[i];
      ember_relay_server_set_unix_time (r->srv, UNIX_EPOCH + fx->now / G_USEC_PER_SEC);
      ember_relay_server_handle_timeout (r->srv, fx->now);
      drain_server (fx, i);
      ember_turn_client_handle_timeout (r->cli, fx->now);
      drain_events (fx, i);
    }
  pump (fx);
}

static gint64
next_deadline (Fx *fx)
{
  gint64 t = G_MAXINT64;
  for (guint i = 0; i < fx->n_relays; i++)
    {
      t = MIN (t, ember_turn_client_poll_timeout (fx->relays[i].cli));
      t = MIN (t, ember_relay_server_poll_timeout (fx->relays[i].srv));
    }
  return t;
}

typedef gboolean (*Check) (Fx *fx);

/* Runs the clocks to `until`, visiting every deadline on the way. */
static void
advance_checked (Fx *fx, gint64 until, Check check)
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

static void
advance (Fx *fx, gint64 until)
{
  advance_checked (fx, until, NULL);
}

static guint
count_events (Fx *fx, EmberTurnEventType type)
{
  guint n = 0;
  for (guint i = 0; i < fx->events->len; i++)
    n += g_array_index (fx->events, Ev, i).ev.type == type;
  return n;
}

static const Ev *
last_event (Fx *fx, EmberTurnEventType type)
{
  for (guint i = fx->events->len; i > 0; i--)
    if (g_array_index (fx->events, Ev, i - 1).ev.type == type)
      return &g_array_index (fx->events, Ev, i - 1);
  return NULL;
}

static guint
count_sent (Fx *fx, guint16 method, gboolean with_integrity)
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

static guint
count_answers (Fx *fx, guint16 method, guint code)
{
  guint n = 0;
  for (guint i = 0; i < fx->answers->len; i++)
    {
      const Rec *r = &g_array_index (fx->answers, Rec, i);
      n += r->method == method && r->code == code;
    }
  return n;
}

static void
allocate (Fx *fx, guint i)
{
  ember_turn_client_want_allocation (fx->relays[i].cli, fx->now);
  pump (fx);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[i].cli));
}

/* Peer → relayed address → server → client. */
static void
peer_send (Fx *fx, guint i, const EmberAddr *relayed, const char *text)
{
  Relay *r = &fx->relays[i];
  ember_relay_server_handle_peer_input (r->srv, fx->now, relayed->family, relayed->port, &fx->peer,
                                        (const guint8 *) text, strlen (text));
  drain_server (fx, i);
}

/* Client → server → peer, through encode(). Returns the wire length. */
static gsize
client_send (Fx *fx, guint i, const char *text, guint8 *first_byte)
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

static void
assert_peer_got (Fx *fx, const char *text)
{
  g_assert_cmpuint (fx->peer_inbox->len, >, 0);
  const Datagram *d = g_ptr_array_index (fx->peer_inbox, fx->peer_inbox->len - 1);
  g_assert_true (addr_eq (&d->to, &fx->peer));
  gsize n;
  const guint8 *b = g_bytes_get_data (d->data, &n);
  g_assert_cmpmem (b, (int) n, text, (int) strlen (text));
}

static void
assert_client_got (Fx *fx, const char *text)
{
  g_assert_cmpuint (fx->client_inbox->len, >, 0);
  const Datagram *d = g_ptr_array_index (fx->client_inbox, fx->client_inbox->len - 1);
  g_assert_true (addr_eq (&d->from, &fx->peer));
  gsize n;
  const guint8 *b = g_bytes_get_data (d->data, &n);
  g_assert_cmpmem (b, (int) n, text, (int) strlen (text));
}

static EmberAddr
relayed4 (Fx *fx, guint i)
{
  EmberAddr out[2];
  guint n = ember_turn_client_get_relayed (fx->relays[i].cli, out);
  for (guint k = 0; k < n; k++)
    if (out[k].family == EMBER_ADDR_IPV4)
      return out[k];
  g_assert_not_reached ();
}

/* Both directions over the channel; asserts the bytes. */
static void
exchange (Fx *fx, guint i, const char *up, const char *down)
{
  guint8 first = 0;
  g_assert_cmpuint (client_send (fx, i, up, &first), >, 0);
  g_assert_cmpuint (first >> 6, ==, 1);  /* ChannelData: 0b01 (RFC 8656 §12.4) */
  assert_peer_got (fx, up);
  EmberAddr relayed = relayed4 (fx, i);
  const Datagram *d = g_ptr_array_index (fx->peer_inbox, fx->peer_inbox->len - 1);
  g_assert_true (addr_eq (&d->from, &relayed));
  guint before = fx->client_inbox->len;
  peer_send (fx, i, &relayed, down);
  g_assert_cmpuint (fx->client_inbox->len, ==, before + 1);
  assert_client_got (fx, down);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_allocate_401 (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);
  pump (fx);
  /* The first binding tells us our server-reflexive address. */
  const Ev *e = last_event (fx, EMBER_TURN_EVENT_SRFLX);
  g_assert_nonnull (e);
  g_assert_true (addr_eq (&e->ev.addr, &fx->client_addr));

  allocate (fx, 0);
  /* RFC 8489 §9.2: first Allocate without credentials, 401, then one
   * with USERNAME/REALM/NONCE/MESSAGE-INTEGRITY that succeeds. */
  g_assert_cmpuint (count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE), ==, 2);
  g_assert_cmpuint (count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, TRUE), ==, 1);
  const Rec *first = NULL;
  for (guint i = 0; i < fx->sent->len && first == NULL; i++)
    if (g_array_index (fx->sent, Rec, i).method == EMBER_STUN_METHOD_ALLOCATE)
      first = &g_array_index (fx->sent, Rec, i);
  g_assert_false (first->integrity);
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_ALLOCATE, 401), ==, 1);
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_ALLOCATE, 0), ==, 1);

  e = last_event (fx, EMBER_TURN_EVENT_ALLOCATED);
  g_assert_nonnull (e);
  g_assert_cmpuint (e->ev.n_relayed, ==, 1);
  g_assert_cmpuint (e->ev.relayed[0].family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (e->ev.relayed[0].port, >=, 50000);
  g_assert_cmpuint (e->ev.relayed[0].port, <=, 50099);
  g_assert_true (ember_turn_client_owns_relayed (fx->relays[0].cli, &e->ev.relayed[0]));
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.allocations, ==, 1);

  /* Idempotent: asking again creates nothing new. */
  ember_turn_client_want_allocation (fx->relays[0].cli, fx->now);
  pump (fx);
  g_assert_cmpuint (count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE), ==, 2);
}

static void
test_wrong_password (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);
  char user[128], pass[64];
  credentials (&fx->relays[0], fx->now, user, sizeof user, pass, sizeof pass);
  pass[0] = pass[0] == 'A' ? 'B' : 'A';
  ember_turn_client_update_credentials (fx->relays[0].cli, fx->now, user, pass);
  ember_turn_client_want_allocation (fx->relays[0].cli, fx->now);
  pump (fx);
  /* The challenge, then a bounded number of retries, then a verdict. */
  g_assert_false (ember_turn_client_is_allocated (fx->relays[0].cli));
  const Ev *e = last_event (fx, EMBER_TURN_EVENT_ALLOCATION_FAILED);
  g_assert_nonnull (e);
  g_assert_cmpuint (e->ev.error_code, ==, 401);
  g_assert_cmpuint (count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE), <=,
                    1 + EMBER_TURN_MAX_AUTH_RETRIES);
  /* It keeps trying, but slowly. */
  guint sent = count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE);
  advance (fx, fx->now + S (60));
  g_assert_cmpuint (count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE), <=,
                    sent * (1 + 60 * G_USEC_PER_SEC / EMBER_TURN_RETRY_US));
  g_assert_false (ember_turn_client_is_allocated (fx->relays[0].cli));
}

static void
test_stale_nonce (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->nonce_lifetime_us = S (100);
  fx_init (fx, 1);
  allocate (fx, 0);
  /* Past the nonce lifetime (but before the refresh at 480 s) the next
   * request is answered 438 and retried with the new nonce. */
  advance (fx, fx->now + S (150));
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, 438), ==, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  pump (fx);
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, 438)
                        + count_answers (fx, EMBER_STUN_METHOD_CHANNEL_BIND, 438), >=, 1);
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, 0), ==, 1);
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_CHANNEL_BIND, 0), ==, 1);
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), >=,
                    EMBER_STUN_CHANNEL_MIN);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.stale_nonces, >=, 1);
  g_assert_cmpuint (st.channels, ==, 1);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  exchange (fx, 0, "after 438", "ok");
}

static void
test_refresh_80 (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);
  allocate (fx, 0);
  gint64 t0 = fx->now;
  advance (fx, t0 + S (1300));
  /* The server grants the default 600 s; RFC 8656 §8 and our policy:
   * refresh at 80 %, i.e. 480 s after the answer, then every 480 s. */
  guint k = 0;
  gint64 expect[] = { t0 + S (480), t0 + S (960) };
  for (guint i = 0; i < fx->sent->len; i++)
    {
      const Rec *r = &g_array_index (fx->sent, Rec, i);
      if (r->method != EMBER_STUN_METHOD_REFRESH)
        continue;
      g_assert_cmpuint (k, <, G_N_ELEMENTS (expect));
      g_assert_cmpint (r->t, ==, expect[k]);
      g_assert_true (r->integrity);
      k++;
    }
  g_assert_cmpuint (k, ==, 2);
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_REFRESH, 0), ==, 2);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.allocations, ==, 1);
  g_assert_cmpuint (st.allocations_created, ==, 1);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  g_assert_cmpuint (count_events (fx, EMBER_TURN_EVENT_INVALIDATED), ==, 0);
}

static gboolean
perm_and_channel_alive (Fx *fx)
{
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  return st.allocations == 1 && st.permissions == 1 && st.channels == 1
         && ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer) != 0;
}

static void
test_peer_refresh_hour (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);
  allocate (fx, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  pump (fx);
  g_assert_true (perm_and_channel_alive (fx));
  exchange (fx, 0, "hello", "world");
  /* An hour without data: the server would expire a permission after
   * 300 s and a channel after 600 s; the client refreshes both first. The
   * check runs at every deadline of either side. */
  advance_checked (fx, fx->now + S (3600), perm_and_channel_alive);
  g_assert_cmpuint (count_sent (fx, EMBER_STUN_METHOD_CHANNEL_BIND, TRUE), >=, 1 + 3600 / 540);
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_CHANNEL_BIND, 0), >=, 1 + 3600 / 540);
  g_assert_cmpuint (count_sent (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, TRUE), >=, 1 + 3600 / 540);
  g_assert_cmpuint (count_events (fx, EMBER_TURN_EVENT_INVALIDATED), ==, 0);
  exchange (fx, 0, "still here", "me too");
}

static void
test_send_indication (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);
  allocate (fx, 0);
  /* Nothing installed yet: encode refuses (the caller drops, ICE retries). */
  guint8 buf[256];
  g_assert_cmpuint (ember_turn_client_encode (fx->relays[0].cli, fx->now, &fx->peer,
                                              (const guint8 *) "x", 1, buf, sizeof buf), ==, 0);
  /* The permission goes through, the channel binding is lost. */
  fx->drop_method = EMBER_STUN_METHOD_CHANNEL_BIND;
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  pump (fx);
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), ==, 0);
  guint8 first = 0;
  g_assert_cmpuint (client_send (fx, 0, "via send", &first), >, 0);
  g_assert_cmpuint (first, ==, 0x00);  /* a STUN indication, not ChannelData */
  assert_peer_got (fx, "via send");
  /* The peer's answer comes back as a Data indication (no channel). */
  EmberAddr relayed = relayed4 (fx, 0);
  peer_send (fx, 0, &relayed, "via data");
  assert_client_got (fx, "via data");
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_DATA, 0), ==, 1);
  /* The binding retransmits: once the network lets it through, data moves
   * to the channel. */
  fx->drop_method = 0;
  advance (fx, fx->now + S (2));
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), !=, 0);
  exchange (fx, 0, "via channel", "back via channel");
}

static void
test_relay_down (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 2);
  allocate (fx, 0);
  allocate (fx, 1);
  for (guint i = 0; i < 2; i++)
    g_assert_true (ember_turn_client_add_peer (fx->relays[i].cli, fx->now, &fx->peer));
  pump (fx);
  advance (fx, fx->now + S (30));
  /* Relay 0 stops answering; relay 1 keeps going. */
  fx->relays[0].silent = TRUE;
  gint64 silent_at = fx->now;
  EmberAddr old = relayed4 (fx, 0);
  advance (fx, silent_at + EMBER_TURN_DOWN_AFTER_US + S (1));
  const Ev *down = last_event (fx, EMBER_TURN_EVENT_DOWN);
  g_assert_nonnull (down);
  g_assert_cmpuint (down->relay, ==, 0);
  g_test_message ("relay declared down %.2f s after it went silent (bound %.2f s)",
                  (double) (down->t - silent_at) / G_USEC_PER_SEC,
                  (double) EMBER_TURN_DOWN_AFTER_US / G_USEC_PER_SEC);
  g_assert_cmpint (down->t - silent_at, <=, EMBER_TURN_DOWN_AFTER_US);
  /* Not too eager either: a few lost packets are no outage. */
  g_assert_cmpint (down->t - silent_at, >=, EMBER_TURN_TRANSACTION_TIMEOUT_US);
  const Ev *inv = last_event (fx, EMBER_TURN_EVENT_INVALIDATED);
  g_assert_nonnull (inv);
  g_assert_cmpuint (inv->relay, ==, 0);
  g_assert_true (inv < down);
  g_assert_cmpuint (inv->ev.n_relayed, ==, 1);
  g_assert_true (addr_eq (&inv->ev.relayed[0], &old));
  g_assert_true (ember_turn_client_is_down (fx->relays[0].cli));
  g_assert_false (ember_turn_client_is_allocated (fx->relays[0].cli));
  g_assert_cmpuint (count_events (fx, EMBER_TURN_EVENT_DOWN), ==, 1);
  /* The other relay is unaffected. */
  g_assert_false (ember_turn_client_is_down (fx->relays[1].cli));
  g_assert_true (ember_turn_client_is_allocated (fx->relays[1].cli));
  exchange (fx, 1, "relay 1 up", "yes");

  /* It comes back: UP, then a new allocation (the old one may still
   * exist on the server: 437, delete, allocate again). */
  fx->relays[0].silent = FALSE;
  guint allocated = count_events (fx, EMBER_TURN_EVENT_ALLOCATED);
  advance (fx, fx->now + EMBER_TURN_RETRY_US + S (2));
  g_assert_cmpuint (count_events (fx, EMBER_TURN_EVENT_UP), ==, 1);
  g_assert_false (ember_turn_client_is_down (fx->relays[0].cli));
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  g_assert_cmpuint (count_events (fx, EMBER_TURN_EVENT_ALLOCATED), ==, allocated + 1);
  advance (fx, fx->now + S (1));
  exchange (fx, 0, "relay 0 back", "welcome");
}

static void
test_reboot (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);
  allocate (fx, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  pump (fx);
  EmberAddr old = relayed4 (fx, 0);
  /* The relay reboots with a new secret; the portal hands out new
   * credentials, which is how the client learns of it. */
  ember_relay_server_free (fx->relays[0].srv);
  relay_boot (fx, 0);
  char user[128], pass[64];
  credentials (&fx->relays[0], fx->now, user, sizeof user, pass, sizeof pass);
  guint allocated = count_events (fx, EMBER_TURN_EVENT_ALLOCATED);
  ember_turn_client_update_credentials (fx->relays[0].cli, fx->now, user, pass);
  drain_events (fx, 0);
  const Ev *inv = last_event (fx, EMBER_TURN_EVENT_INVALIDATED);
  g_assert_nonnull (inv);
  g_assert_true (addr_eq (&inv->ev.relayed[0], &old));
  pump (fx);
  g_assert_cmpuint (count_events (fx, EMBER_TURN_EVENT_ALLOCATED), ==, allocated + 1);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  /* The peer is set up again on the new allocation. */
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), !=, 0);
  exchange (fx, 0, "after reboot", "fine");
  /* The same credentials again are no reboot. */
  guint invalidated = count_events (fx, EMBER_TURN_EVENT_INVALIDATED);
  ember_turn_client_update_credentials (fx->relays[0].cli, fx->now, user, pass);
  pump (fx);
  g_assert_cmpuint (count_events (fx, EMBER_TURN_EVENT_INVALIDATED), ==, invalidated);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
}

static void
test_dual_both (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->with_ip6 = TRUE;
  fx_init (fx, 1);
  ember_turn_client_set_dual_stack (fx->relays[0].cli, TRUE);
  allocate (fx, 0);
  EmberAddr out[2];
  g_assert_cmpuint (ember_turn_client_get_relayed (fx->relays[0].cli, out), ==, 2);
  g_assert_cmpuint (out[0].family + out[1].family, ==, EMBER_ADDR_IPV4 + EMBER_ADDR_IPV6);
  g_assert_cmpuint (count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, TRUE), ==, 1);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  pump (fx);
  exchange (fx, 0, "v4", "v4 back");
}

static void
test_dual_partial (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);  /* no IPv6 on this relay */
  ember_turn_client_set_dual_stack (fx->relays[0].cli, TRUE);
  allocate (fx, 0);
  /* RFC 8656 §7.2: IPv4 allocated, ADDRESS-ERROR-CODE 440 for IPv6. */
  EmberAddr out[2];
  g_assert_cmpuint (ember_turn_client_get_relayed (fx->relays[0].cli, out), ==, 1);
  g_assert_cmpuint (out[0].family, ==, EMBER_ADDR_IPV4);
}

static void
test_dual_refused (Fx *fx, gconstpointer data)
{
  (void) data;
  fx->with_ip6 = TRUE;
  fx_init (fx, 1);
  fx->refuse_dual_once = TRUE;
  ember_turn_client_set_dual_stack (fx->relays[0].cli, TRUE);
  allocate (fx, 0);
  g_assert_false (fx->refuse_dual_once);
  g_assert_cmpuint (count_answers (fx, EMBER_STUN_METHOD_ALLOCATE, 440), ==, 1);
  /* The retry leaves ADDITIONAL-ADDRESS-FAMILY out and gets IPv4 only. */
  const Rec *last = NULL;
  for (guint i = 0; i < fx->sent->len; i++)
    if (g_array_index (fx->sent, Rec, i).method == EMBER_STUN_METHOD_ALLOCATE)
      last = &g_array_index (fx->sent, Rec, i);
  g_assert_false (last->additional_family);
  EmberAddr out[2];
  g_assert_cmpuint (ember_turn_client_get_relayed (fx->relays[0].cli, out), ==, 1);
  g_assert_cmpuint (out[0].family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (count_events (fx, EMBER_TURN_EVENT_ALLOCATION_FAILED), ==, 0);
}

static void
test_truncated (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);
  /* Every answer the server gives in a full session (binding, 401,
   * allocate, permission, channel, refresh, Data indication, ChannelData)
   * is first fed in every truncated length; the session must still work. */
  fx->feed_prefixes = TRUE;
  allocate (fx, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  pump (fx);
  EmberAddr relayed = relayed4 (fx, 0);
  fx->drop_method = 0;
  exchange (fx, 0, "up", "a reply long enough to have padding!");
  advance (fx, fx->now + S (600));
  exchange (fx, 0, "later", "still");
  g_assert_cmpuint (fx->prefix_results[EMBER_TURN_INPUT_INVALID], >, 100);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  EmberAddr now_relayed = relayed4 (fx, 0);
  g_assert_true (addr_eq (&relayed, &now_relayed));

  /* Garbage and bit flips of a real answer never crash or count. */
  fx->feed_prefixes = FALSE;
  guint8 junk[64];
  for (guint k = 0; k < 2000; k++)
    {
      gsize n = 1 + cli_rng (fx) % sizeof junk;
      for (gsize j = 0; j < n; j++)
        junk[j] = (guint8) cli_rng (fx);
      if (k % 2)
        {
          junk[0] = (guint8) (k % 4 == 1 ? 0x01 : 0x40);  /* look like STUN/ChannelData */
          if (n >= 8)
            memcpy (junk + 4, "\x21\x12\xa4\x42", 4);
        }
      EmberAddr peer;
      const guint8 *d;
      gsize dl;
      ember_turn_client_handle_input (fx->relays[0].cli, fx->now, &fx->relays[0].server_addr,
                                      junk, n, &peer, &d, &dl);
      drain_events (fx, 0);
    }
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
}

static void
test_not_from_server (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_init (fx, 1);
  allocate (fx, 0);
  EmberAddr other = ip ("192.0.2.99", 3478), peer;
  const guint8 *d;
  gsize dl;
  const guint8 cd[] = { 0x40, 0x00, 0x00, 0x01, 'x', 0, 0, 0 };
  g_assert_cmpint (ember_turn_client_handle_input (fx->relays[0].cli, fx->now, &other, cd,
                                                   sizeof cd, &peer, &d, &dl),
                   ==, EMBER_TURN_INPUT_NOT_FOR_US);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fx, NULL, fx_setup, fn, fx_teardown)
  ADD ("/turn/client/allocate/401-then-success", test_allocate_401);
  ADD ("/turn/client/allocate/stale-nonce-438", test_stale_nonce);
  ADD ("/turn/client/allocate/refresh-at-80-percent", test_refresh_80);
  ADD ("/turn/client/peer/refresh-over-an-hour", test_peer_refresh_hour);
  ADD ("/turn/client/data/send-indication-before-channel", test_send_indication);
  ADD ("/turn/client/relay/down-and-up", test_relay_down);
  ADD ("/turn/client/relay/reboot-new-credentials", test_reboot);
  ADD ("/turn/client/dual-stack/both", test_dual_both);
  ADD ("/turn/client/dual-stack/ipv6-not-offered", test_dual_partial);
  ADD ("/turn/client/dual-stack/refused-440-fallback", test_dual_refused);
  ADD ("/turn/client/input/truncated-and-garbage", test_truncated);
  ADD ("/turn/client/input/not-from-server", test_not_from_server);
  ADD ("/turn/client/allocate/wrong-password", test_wrong_password);
#undef ADD
  return g_test_run ();
}
