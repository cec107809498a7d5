/* The ICE socket's own STUN Binding client (core/tunnel/binding), on a
 * virtual clock, answered by the real ember-relay server core and by
 * hand-built (spoofed, stale, broken) answers. */
#include <glib.h>
#include <gio/gio.h>
#include <string.h>

#include "server.h"
#include "stun/message.h"
#include "tunnel/binding.h"

#define MS G_TIME_SPAN_MILLISECOND
#define S G_TIME_SPAN_SECOND
#define T0 (1000 * S)

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

static guint64
xorshift (gpointer data)
{
  guint64 *s = data;
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

typedef struct {
  guint64 seed;
  EmberTunnelBinding *b;
  gint64 now;
  EmberAddr relay[2];
  EmberAddr mapped;            /* what the NAT makes of our socket */
  EmberRelayServer *srv[2];    /* the real relay core behind relay[i] */
  guint8 secret[32];
} Fx;

static void
srv_rng (gpointer data, guint8 *buf, gsize len)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) xorshift (data);
}

static void
fx_setup (Fx *fx, gconstpointer data)
{
  (void) data;
  memset (fx, 0, sizeof *fx);
  fx->seed = 0x9e3779b97f4a7c15u;
  fx->b = ember_tunnel_binding_new (&(EmberIceRng){ xorshift, &fx->seed });
  fx->now = T0;
  fx->relay[0] = ip ("192.0.2.20", 3478);
  fx->relay[1] = ip ("192.0.2.21", 3478);
  fx->mapped = ip ("198.51.100.2", 48192);
  for (guint i = 0; i < 2; i++)
    {
      EmberRelayServerConfig c;
      ember_relay_server_config_init (&c);
      c.realm = "ember.test";
      c.secret = fx->secret;
      c.secret_len = sizeof fx->secret;
      c.public_ip4 = fx->relay[i];
      c.public_ip4.port = 0;
      c.rng = srv_rng;
      c.rng_data = &fx->seed;
      g_autoptr (GError) error = NULL;
      fx->srv[i] = ember_relay_server_new (&c, &error);
      g_assert_no_error (error);
    }
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  ember_tunnel_binding_free (fx->b);
  for (guint i = 0; i < 2; i++)
    ember_relay_server_free (fx->srv[i]);
}

typedef struct {
  EmberAddr to;
  guint8 buf[EMBER_BINDING_REQUEST_LEN];
  gsize len;
} Sent;

/* Everything the machine sends now, at most `max`. */
static guint
drain (Fx *fx, Sent *out, guint max)
{
  guint n = 0;
  Sent scratch;
  for (;;)
    {
      Sent *s = n < max ? &out[n] : &scratch;
      s->len = ember_tunnel_binding_poll_transmit (fx->b, s->buf, sizeof s->buf, &s->to);
      if (s->len == 0)
        return n;
      n++;
    }
}

static guint
relay_index (Fx *fx, const EmberAddr *a)
{
  for (guint i = 0; i < 2; i++)
    if (ember_ice_addr_equal (&fx->relay[i], a))
      return i;
  g_assert_not_reached ();
}

/* The request reaches the real relay core from fx->mapped (through the
 * NAT); its answer goes back to the machine. Returns handle_input's
 * verdict on the answer. */
static gboolean
answer_from_relay (Fx *fx, const Sent *req)
{
  guint i = relay_index (fx, &req->to);
  EmberRelayCommand cmd;
  gboolean consumed = FALSE, answered = FALSE;

  ember_relay_server_handle_client_input (fx->srv[i], fx->now, 0, &fx->mapped, req->buf, req->len);
  while (ember_relay_server_poll_command (fx->srv[i], &cmd))
    if (cmd.kind == EMBER_RELAY_CMD_SEND_TO_CLIENT)
      {
        g_assert_true (ember_ice_addr_equal (&cmd.to, &fx->mapped));
        consumed = ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[i], cmd.data,
                                                      cmd.len);
        answered = TRUE;
      }
  g_assert_true (answered);
  return consumed;
}

/* A Binding answer built by hand for `req`'s transaction. */
static gsize
build_answer (const Sent *req, guint16 method, guint16 klass, const EmberAddr *mapped,
              gboolean fingerprint, guint8 *buf, gsize cap)
{
  EmberStunMessage m;
  EmberStunBuilder sb;
  g_assert_cmpint (ember_stun_message_parse (&m, req->buf, req->len), ==, EMBER_STUN_OK);
  ember_stun_builder_init (&sb, buf, cap, method, klass, m.transaction_id);
  if (mapped != NULL)
    ember_stun_builder_add_xor_address (&sb, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, mapped);
  if (klass == EMBER_STUN_CLASS_ERROR)
    ember_stun_builder_add_error_code (&sb, 400, NULL);
  if (fingerprint)
    ember_stun_builder_add_fingerprint (&sb);
  gsize n = ember_stun_builder_finish (&sb, NULL);
  g_assert_cmpuint (n, >, 0);
  return n;
}

static guint
events (Fx *fx, EmberTunnelBindingEvent *out, guint max)
{
  guint n = 0;
  EmberTunnelBindingEvent scratch;
  while (ember_tunnel_binding_poll_event (fx->b, n < max ? &out[n] : &scratch))
    n++;
  return n;
}

static void
jump (Fx *fx)
{
  gint64 t = ember_tunnel_binding_poll_timeout (fx->b);
  g_assert_cmpint (t, <, G_MAXINT64);
  g_assert_cmpint (t, >=, fx->now);
  fx->now = t;
  ember_tunnel_binding_handle_timeout (fx->b, fx->now);
}

static void
txid_of (const Sent *s, guint8 id[EMBER_STUN_TRANSACTION_ID_LEN])
{
  EmberStunMessage m;
  g_assert_cmpint (ember_stun_message_parse (&m, s->buf, s->len), ==, EMBER_STUN_OK);
  g_assert_cmpuint (m.method, ==, EMBER_STUN_METHOD_BINDING);
  g_assert_cmpuint (m.klass, ==, EMBER_STUN_CLASS_REQUEST);
  g_assert_cmpint (ember_stun_message_verify_fingerprint (&m), ==, EMBER_STUN_OK);
  memcpy (id, m.transaction_id, EMBER_STUN_TRANSACTION_ID_LEN);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_asks_every_relay_and_reports_the_mapping (Fx *fx, gconstpointer data)
{
  Sent sent[4];
  EmberTunnelBindingEvent ev[4];
  EmberAddr m;
  (void) data;

  g_assert_cmpint (ember_tunnel_binding_poll_timeout (fx->b), ==, G_MAXINT64);
  ember_tunnel_binding_set_servers (fx->b, fx->now, fx->relay, 2);
  g_assert_cmpuint (drain (fx, sent, 4), ==, 2);
  g_assert_true (relay_index (fx, &sent[0].to) != relay_index (fx, &sent[1].to));
  g_assert_false (ember_tunnel_binding_get_mapping (fx->b, &fx->relay[0], &m));

  fx->now += 20 * MS;
  for (guint i = 0; i < 2; i++)
    g_assert_true (answer_from_relay (fx, &sent[i]));
  g_assert_cmpuint (events (fx, ev, 4), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (ember_ice_addr_equal (&ev[i].addr, &fx->mapped));
      g_assert_false (ember_ice_addr_is_set (&ev[i].old));
      g_assert_true (ember_ice_addr_equal (&ev[i].server, &sent[i].to));
    }
  g_assert_true (ember_tunnel_binding_get_mapping (fx->b, &fx->relay[1], &m));
  g_assert_true (ember_ice_addr_equal (&m, &fx->mapped));
  /* Nothing more until the refresh, 25 s after the answer. */
  g_assert_cmpuint (drain (fx, sent, 4), ==, 0);
  g_assert_cmpint (ember_tunnel_binding_poll_timeout (fx->b), ==, fx->now + EMBER_BINDING_REFRESH_US);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->srv[0], &st);
  g_assert_cmpuint (st.bindings, ==, 1);
}

static void
test_retransmits_on_the_rfc_8489_schedule (Fx *fx, gconstpointer data)
{
  Sent sent[2];
  guint8 first[EMBER_STUN_TRANSACTION_ID_LEN], id[EMBER_STUN_TRANSACTION_ID_LEN];
  /* RTO 500 ms doubling to 4 s: 0, 0.5, 1.5, 3.5, 7.5 s; given up at 11.5 s. */
  static const gint64 at[] = { 0, 500 * MS, 1500 * MS, 3500 * MS, 7500 * MS };
  (void) data;

  ember_tunnel_binding_set_servers (fx->b, fx->now, fx->relay, 1);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  txid_of (&sent[0], first);
  for (guint i = 1; i < G_N_ELEMENTS (at); i++)
    {
      jump (fx);
      g_assert_cmpint (fx->now - T0, ==, at[i]);
      g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
      txid_of (&sent[0], id);
      g_assert_cmpmem (id, sizeof id, first, sizeof first); /* §6.2.1: same transaction */
    }
  /* The last wait, then nothing is sent: the request is given up. */
  jump (fx);
  g_assert_cmpint (fx->now - T0, ==, 11500 * MS);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 0);
  EmberTunnelBindingStats st;
  ember_tunnel_binding_get_stats (fx->b, &st);
  g_assert_cmpuint (st.requests, ==, 5);
  g_assert_cmpuint (st.failures, ==, 1);
  /* A new request 5 s later, a new transaction. */
  jump (fx);
  g_assert_cmpint (fx->now - T0, ==, 11500 * MS + EMBER_BINDING_RETRY_US);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  txid_of (&sent[0], id);
  g_assert_true (memcmp (id, first, sizeof id) != 0);
  /* An answer to the retransmission stops it: no more sends until the
   * refresh. */
  g_assert_true (answer_from_relay (fx, &sent[0]));
  gint64 answered = fx->now;
  jump (fx);
  g_assert_cmpint (fx->now, ==, answered + EMBER_BINDING_REFRESH_US);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
}

static void
test_ignores_spoofed_stale_and_broken_answers (Fx *fx, gconstpointer data)
{
  Sent sent[2];
  guint8 buf[256];
  gsize n;
  EmberTunnelBindingEvent ev[2];
  EmberAddr evil = ip ("203.0.113.66", 4444);
  (void) data;

  ember_tunnel_binding_set_servers (fx->b, fx->now, fx->relay, 1);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  n = build_answer (&sent[0], EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_SUCCESS, &evil, TRUE,
                    buf, sizeof buf);
  /* The right transaction id from anyone but the relay, or from the
   * relay's address on another port: not ours, left to ICE. */
  EmberAddr other_port = fx->relay[0];
  other_port.port = 3479;
  g_assert_false (ember_tunnel_binding_handle_input (fx->b, fx->now, &evil, buf, n));
  g_assert_false (ember_tunnel_binding_handle_input (fx->b, fx->now, &other_port, buf, n));
  g_assert_false (ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[1], buf, n));
  /* Every truncated prefix, on the heap so ASan sees an overread. */
  for (gsize k = 0; k < n; k++)
    {
      g_autofree guint8 *cut = g_memdup2 (buf, k);
      ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], cut, k);
    }
  /* From the relay with an unknown transaction id: taken out (nobody
   * else asked the relay) and not believed. */
  Sent other = sent[0];
  other.buf[8] ^= 0xff;
  other.buf[19] ^= 0x01;
  /* (re-fingerprint the forged request so build_answer can parse it) */
  {
    EmberStunMessage m;
    EmberStunBuilder sb;
    g_assert_cmpint (ember_stun_message_parse (&m, other.buf, other.len), ==, EMBER_STUN_OK);
    ember_stun_builder_init (&sb, other.buf, sizeof other.buf, EMBER_STUN_METHOD_BINDING,
                             EMBER_STUN_CLASS_REQUEST, m.transaction_id);
    ember_stun_builder_add_fingerprint (&sb);
    other.len = ember_stun_builder_finish (&sb, NULL);
  }
  n = build_answer (&other, EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_SUCCESS, &evil, TRUE, buf,
                    sizeof buf);
  g_assert_true (ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], buf, n));
  /* Our id, but another method, or a request: not an answer. */
  n = build_answer (&sent[0], EMBER_STUN_METHOD_ALLOCATE, EMBER_STUN_CLASS_SUCCESS, &evil, TRUE,
                    buf, sizeof buf);
  g_assert_false (ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], buf, n));
  n = build_answer (&sent[0], EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_REQUEST, &evil, TRUE,
                    buf, sizeof buf);
  g_assert_false (ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], buf, n));
  /* Our id with a broken fingerprint, or without any address. */
  n = build_answer (&sent[0], EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_SUCCESS, &evil, TRUE,
                    buf, sizeof buf);
  buf[n - 1] ^= 0x55;
  g_assert_true (ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], buf, n));
  n = build_answer (&sent[0], EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_SUCCESS, NULL, TRUE, buf,
                    sizeof buf);
  g_assert_true (ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], buf, n));
  /* A WireGuard-looking datagram and garbage. */
  for (guint k = 0; k < 500; k++)
    {
      gsize len = 1 + (gsize) (xorshift (&fx->seed) % 200);
      for (gsize j = 0; j < len; j++)
        buf[j] = (guint8) xorshift (&fx->seed);
      if (k % 2 == 0 && len >= 20)
        {
          buf[0] = 0x01; /* STUN-looking: a Binding success with our cookie */
          buf[1] = 0x01;
          buf[4] = 0x21, buf[5] = 0x12, buf[6] = 0xa4, buf[7] = 0x42;
        }
      ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], buf, len);
    }
  g_assert_cmpuint (events (fx, ev, 2), ==, 0);
  EmberAddr m;
  g_assert_false (ember_tunnel_binding_get_mapping (fx->b, &fx->relay[0], &m));
  /* The request is still out: the retransmission follows, and the real
   * answer is taken. */
  jump (fx);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  g_assert_true (answer_from_relay (fx, &sent[0]));
  g_assert_cmpuint (events (fx, ev, 2), ==, 1);
  g_assert_true (ember_ice_addr_equal (&ev[0].addr, &fx->mapped));
  /* A late copy of the same answer: taken out, nothing new. */
  n = build_answer (&sent[0], EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_SUCCESS, &evil, TRUE,
                    buf, sizeof buf);
  g_assert_true (ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], buf, n));
  g_assert_cmpuint (events (fx, ev, 2), ==, 0);
  g_assert_true (ember_tunnel_binding_get_mapping (fx->b, &fx->relay[0], &m));
  g_assert_true (ember_ice_addr_equal (&m, &fx->mapped));
}

static void
test_error_answer_retries_later (Fx *fx, gconstpointer data)
{
  Sent sent[2];
  guint8 buf[256];
  EmberTunnelBindingEvent ev[2];
  (void) data;

  ember_tunnel_binding_set_servers (fx->b, fx->now, fx->relay, 1);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  gsize n = build_answer (&sent[0], EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_ERROR, NULL, TRUE,
                          buf, sizeof buf);
  g_assert_true (ember_tunnel_binding_handle_input (fx->b, fx->now, &fx->relay[0], buf, n));
  g_assert_cmpuint (events (fx, ev, 2), ==, 0);
  g_assert_cmpint (ember_tunnel_binding_poll_timeout (fx->b), ==, fx->now + EMBER_BINDING_RETRY_US);
}

static void
test_changed_mapping_is_reported_with_the_old_one (Fx *fx, gconstpointer data)
{
  Sent sent[2];
  EmberTunnelBindingEvent ev[2];
  EmberAddr first = fx->mapped;
  (void) data;

  ember_tunnel_binding_set_servers (fx->b, fx->now, fx->relay, 1);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  g_assert_true (answer_from_relay (fx, &sent[0]));
  g_assert_cmpuint (events (fx, ev, 2), ==, 1);
  /* The same mapping at the refresh: nothing to say. */
  jump (fx);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  g_assert_true (answer_from_relay (fx, &sent[0]));
  g_assert_cmpuint (events (fx, ev, 2), ==, 0);
  /* The NAT rebinds: the next refresh reports the new one and the old. */
  fx->mapped = ip ("198.51.100.2", 61001);
  jump (fx);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  g_assert_true (answer_from_relay (fx, &sent[0]));
  g_assert_cmpuint (events (fx, ev, 2), ==, 1);
  g_assert_true (ember_ice_addr_equal (&ev[0].addr, &fx->mapped));
  g_assert_true (ember_ice_addr_equal (&ev[0].old, &first));
  /* Roaming: refresh() asks at once, before the 25 s are over. */
  fx->mapped = ip ("198.51.100.9", 40000);
  fx->now += 1 * S;
  ember_tunnel_binding_refresh (fx->b, fx->now);
  g_assert_cmpuint (drain (fx, sent, 2), ==, 1);
  g_assert_true (answer_from_relay (fx, &sent[0]));
  g_assert_cmpuint (events (fx, ev, 2), ==, 1);
  g_assert_true (ember_ice_addr_equal (&ev[0].addr, &fx->mapped));
}

static void
test_follows_the_relay_set (Fx *fx, gconstpointer data)
{
  Sent sent[4];
  EmberTunnelBindingEvent ev[4];
  EmberAddr m;
  (void) data;

  ember_tunnel_binding_set_servers (fx->b, fx->now, fx->relay, 1);
  g_assert_cmpuint (drain (fx, sent, 4), ==, 1);
  g_assert_true (answer_from_relay (fx, &sent[0]));
  g_assert_cmpuint (events (fx, ev, 4), ==, 1);
  gint64 refresh = ember_tunnel_binding_poll_timeout (fx->b);
  /* A relay joins (listed twice, and with an unset entry): only it is
   * asked; the first keeps its mapping and schedule. */
  fx->now += 2 * S;
  EmberAddr set[4] = { fx->relay[0], fx->relay[1], fx->relay[1], { 0 } };
  ember_tunnel_binding_set_servers (fx->b, fx->now, set, 4);
  g_assert_cmpuint (drain (fx, sent, 4), ==, 1);
  g_assert_true (ember_ice_addr_equal (&sent[0].to, &fx->relay[1]));
  g_assert_true (ember_tunnel_binding_get_mapping (fx->b, &fx->relay[0], &m));
  /* The second leaves before its answer arrives... */
  Sent pending = sent[0];
  jump (fx); /* the second's retransmission */
  g_assert_cmpuint (drain (fx, sent, 4), ==, 1);
  ember_tunnel_binding_set_servers (fx->b, fx->now, &fx->relay[0], 1);
  g_assert_cmpint (ember_tunnel_binding_poll_timeout (fx->b), ==, refresh);
  g_assert_false (ember_tunnel_binding_get_mapping (fx->b, &fx->relay[1], &m));
  /* ...which is then not ours any more (left to ICE). */
  g_assert_false (answer_from_relay (fx, &pending));
  g_assert_cmpuint (events (fx, ev, 4), ==, 0);
  /* No relays: no timer, nothing to send. */
  ember_tunnel_binding_set_servers (fx->b, fx->now, NULL, 0);
  g_assert_cmpint (ember_tunnel_binding_poll_timeout (fx->b), ==, G_MAXINT64);
  g_assert_cmpuint (drain (fx, sent, 4), ==, 0);
  g_assert_false (ember_tunnel_binding_get_mapping (fx->b, &fx->relay[0], &m));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/tunnel/binding/" path, Fx, NULL, fx_setup, fn, fx_teardown)
  ADD ("asks-every-relay-and-reports-the-mapping-the-relay-core-sees",
       test_asks_every_relay_and_reports_the_mapping);
  ADD ("retransmits-on-the-rfc-8489-schedule-then-gives-up-and-retries",
       test_retransmits_on_the_rfc_8489_schedule);
  ADD ("ignores-spoofed-stale-and-broken-answers", test_ignores_spoofed_stale_and_broken_answers);
  ADD ("error-answer-is-retried-later", test_error_answer_retries_later);
  ADD ("changed-mapping-is-reported-with-the-old-one",
       test_changed_mapping_is_reported_with_the_old_one);
  ADD ("follows-the-relay-set", test_follows_the_relay_set);
  return g_test_run ();
}
