/* Tests for the ember-relay server core (plugins/relay/server): every TURN
 * method against a virtual clock, expiry of each object, credentials,
 * nonces, quota, the peer deny list, the rate limit and the
 * amplification bound. No sockets: inputs are values, outputs commands. */
#include "server.h"
#include "stun/message.h"

#include <gio/gio.h>
#include <string.h>

#define S(n) ((gint64) (n) * G_USEC_PER_SEC)
#define assert_mem(a, la, b, lb) g_assert_cmpmem ((a), (int) (la), (b), (int) (lb))

typedef struct {
  EmberRelayCommand c;
  guint8 *data;
} Out;

typedef struct {
  EmberRelayServer *s;
  gint64 now;
  guint32 rng;
  GArray *out; /* Out */
  char nonce[128];
  gsize nonce_len;
  char user[128];
  guint8 key[16];
  EmberAddr client;
  guint32 tid_counter;
} Fx;

static void
fake_rng (gpointer user_data, guint8 *buf, gsize len)
{
  Fx *fx = user_data;
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (fx->rng = fx->rng * 1103515245u + 12345u) >> 3;
}

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

static void
out_clear (gpointer p)
{
  g_free (((Out *) p)->data);
}

static void
fx_setup_with (Fx *fx, guint quota)
{
  memset (fx, 0, sizeof *fx);
  EmberRelayServerConfig c;
  ember_relay_server_config_init (&c);
  c.realm = "ember.test";
  c.software = "ember-relay test";
  c.secret = (const guint8 *) "s3cret";
  c.secret_len = 6;
  c.public_ip4 = ip ("192.0.2.1", 0);
  c.public_ip6 = ip ("2001:db8::1", 0);
  c.port_min = 50000;
  c.port_max = 50009;
  c.max_allocations_per_user = quota;
  c.rng = fake_rng;
  c.rng_data = fx;
  g_autoptr (GError) error = NULL;
  fx->s = ember_relay_server_new (&c, &error);
  g_assert_no_error (error);
  g_assert_true (ember_relay_server_add_user (fx->s, "alice", "wonderland", &error));
  ember_relay_server_set_unix_time (fx->s, 1700000000);
  fx->out = g_array_new (FALSE, TRUE, sizeof (Out));
  g_array_set_clear_func (fx->out, out_clear);
  fx->now = S (1000);
  fx->client = ip ("198.51.100.20", 40000);
  g_strlcpy (fx->user, "alice", sizeof fx->user);
  ember_stun_long_term_key_md5 ((const guint8 *) "alice", 5, (const guint8 *) "ember.test", 10,
                                (const guint8 *) "wonderland", 10, fx->key);
}

static void
fx_setup (Fx *fx, gconstpointer data)
{
  (void) data;
  fx_setup_with (fx, 10);
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  ember_relay_server_free (fx->s);
  g_array_unref (fx->out);
}

static void
drain (Fx *fx)
{
  g_array_set_size (fx->out, 0);
  EmberRelayCommand c;
  while (ember_relay_server_poll_command (fx->s, &c))
    {
      Out o = { c, NULL };
      if (c.kind == EMBER_RELAY_CMD_SEND_TO_CLIENT || c.kind == EMBER_RELAY_CMD_SEND_TO_PEER)
        o.data = g_memdup2 (c.data, c.len ? c.len : 1);
      o.c.data = o.data;
      g_array_append_val (fx->out, o);
    }
}

static guint
count (Fx *fx, EmberRelayCommandKind kind)
{
  guint n = 0;
  for (guint i = 0; i < fx->out->len; i++)
    n += g_array_index (fx->out, Out, i).c.kind == kind;
  return n;
}

static const Out *
first (Fx *fx, EmberRelayCommandKind kind)
{
  for (guint i = 0; i < fx->out->len; i++)
    if (g_array_index (fx->out, Out, i).c.kind == kind)
      return &g_array_index (fx->out, Out, i);
  return NULL;
}

static void
client_input (Fx *fx, const EmberAddr *from, const guint8 *buf, gsize len)
{
  ember_relay_server_handle_client_input (fx->s, fx->now, 0, from, buf, len);
  drain (fx);
}

static void
req_begin (Fx *fx, EmberStunBuilder *b, guint8 *buf, gsize cap, guint16 method)
{
  guint8 tid[12] = { 0 };
  fx->tid_counter++;
  memcpy (tid, &fx->tid_counter, 4);
  ember_stun_builder_init (b, buf, cap, method, EMBER_STUN_CLASS_REQUEST, tid);
}

static gsize
req_finish_auth (Fx *fx, EmberStunBuilder *b)
{
  ember_stun_builder_add_string (b, EMBER_STUN_ATTR_USERNAME, fx->user);
  ember_stun_builder_add_string (b, EMBER_STUN_ATTR_REALM, "ember.test");
  ember_stun_builder_add (b, EMBER_STUN_ATTR_NONCE, fx->nonce, fx->nonce_len);
  ember_stun_builder_add_integrity (b, fx->key, sizeof fx->key);
  gsize n = ember_stun_builder_finish (b, NULL);
  g_assert_cmpuint (n, >, 0);
  return n;
}

/* Parses the single response sent to `fx->client`. */
static void
response (Fx *fx, EmberStunMessage *m)
{
  const Out *o = first (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT);
  g_assert_nonnull (o);
  g_assert_cmpint (ember_stun_message_parse (m, o->data, o->c.len), ==, EMBER_STUN_OK);
}

static guint
error_code (const EmberStunMessage *m)
{
  guint code = 0;
  if (m->klass != EMBER_STUN_CLASS_ERROR)
    return 0;
  g_assert_cmpint (ember_stun_message_get_error_code (m, &code, NULL, NULL), ==, EMBER_STUN_OK);
  return code;
}

/* Sends an unauthenticated Allocate to learn the nonce (401). */
static void
get_nonce (Fx *fx)
{
  guint8 buf[256];
  EmberStunBuilder b;
  req_begin (fx, &b, buf, sizeof buf, EMBER_STUN_METHOD_ALLOCATE);
  ember_stun_builder_add_requested_transport (&b, EMBER_STUN_TRANSPORT_UDP);
  client_input (fx, &fx->client, buf, ember_stun_builder_finish (&b, NULL));
  EmberStunMessage m;
  response (fx, &m);
  g_assert_cmpuint (error_code (&m), ==, 401);
  const guint8 *v;
  gsize len;
  g_assert_cmpint (ember_stun_message_get_bytes (&m, EMBER_STUN_ATTR_REALM, &v, &len), ==, 0);
  assert_mem (v, len, "ember.test", 10);
  g_assert_cmpint (ember_stun_message_get_bytes (&m, EMBER_STUN_ATTR_NONCE, &v, &len), ==, 0);
  memcpy (fx->nonce, v, len);
  fx->nonce_len = len;
  g_assert_false (ember_stun_message_has (&m, EMBER_STUN_ATTR_MESSAGE_INTEGRITY));
}

/* Authenticated Allocate; returns the error code (0 on success) and the
 * relayed addresses. */
static guint
allocate (Fx *fx, guint8 add_family, guint8 req_family, EmberAddr *relayed, guint *n_relayed)
{
  guint8 buf[512];
  EmberStunBuilder b;
  req_begin (fx, &b, buf, sizeof buf, EMBER_STUN_METHOD_ALLOCATE);
  ember_stun_builder_add_requested_transport (&b, EMBER_STUN_TRANSPORT_UDP);
  if (add_family)
    ember_stun_builder_add_address_family (&b, EMBER_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, add_family);
  if (req_family)
    ember_stun_builder_add_address_family (&b, EMBER_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, req_family);
  client_input (fx, &fx->client, buf, req_finish_auth (fx, &b));
  EmberStunMessage m;
  response (fx, &m);
  guint code = error_code (&m);
  if (code == 401 || code == 438)
    return code; /* challenges carry no MESSAGE-INTEGRITY */
  g_assert_cmpint (ember_stun_message_verify_integrity (&m, fx->key, 16), ==, EMBER_STUN_OK);
  if (code != 0)
    return code;
  g_assert_cmpuint (m.klass, ==, EMBER_STUN_CLASS_SUCCESS);
  EmberAddr mapped;
  g_assert_cmpint (ember_stun_message_get_xor_address (&m, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped),
                   ==, 0);
  g_assert_true (mapped.port == fx->client.port);
  guint32 life;
  g_assert_cmpint (ember_stun_message_get_u32 (&m, EMBER_STUN_ATTR_LIFETIME, &life), ==, 0);
  g_assert_cmpuint (life, ==, EMBER_TURN_ALLOCATION_LIFETIME_DEFAULT);
  EmberAddr tmp[2];
  gint n = ember_stun_message_get_xor_addresses (&m, EMBER_STUN_ATTR_XOR_RELAYED_ADDRESS, tmp, 2);
  g_assert_cmpint (n, >=, 1);
  if (relayed != NULL)
    memcpy (relayed, tmp, sizeof (EmberAddr) * (gsize) n);
  if (n_relayed != NULL)
    *n_relayed = (guint) n;
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CREATE_ALLOCATION), ==, (guint) n);
  return 0;
}

static guint
simple_request (Fx *fx, guint16 method, const EmberAddr *peer, guint16 channel, gint64 lifetime)
{
  guint8 buf[512];
  EmberStunBuilder b;
  req_begin (fx, &b, buf, sizeof buf, method);
  if (peer != NULL)
    ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, peer);
  if (channel != 0)
    ember_stun_builder_add_channel_number (&b, channel);
  if (lifetime >= 0)
    ember_stun_builder_add_u32 (&b, EMBER_STUN_ATTR_LIFETIME, (guint32) lifetime);
  client_input (fx, &fx->client, buf, req_finish_auth (fx, &b));
  EmberStunMessage m;
  response (fx, &m);
  g_assert_cmpuint (m.method, ==, method);
  /* Answers to an authenticated request carry its integrity; a 401
   * challenge cannot (RFC 8489 §9.2.4). */
  if (error_code (&m) == 401)
    g_assert_cmpint (m.integrity, <, 0);
  else
    g_assert_cmpint (ember_stun_message_verify_integrity (&m, fx->key, 16), ==, EMBER_STUN_OK);
  return error_code (&m);
}

static void
peer_input (Fx *fx, const EmberAddr *relayed, const EmberAddr *peer, const char *payload)
{
  ember_relay_server_handle_peer_input (fx->s, fx->now, relayed->family, relayed->port, peer,
                                        (const guint8 *) payload, strlen (payload));
  drain (fx);
}

/* ---- tests ---------------------------------------------------------- */

static void
test_binding (Fx *fx, gconstpointer d)
{
  (void) d;
  guint8 buf[64];
  EmberStunBuilder b;
  req_begin (fx, &b, buf, sizeof buf, EMBER_STUN_METHOD_BINDING);
  gsize n = ember_stun_builder_finish (&b, NULL);
  client_input (fx, &fx->client, buf, n);
  EmberStunMessage m;
  response (fx, &m);
  g_assert_cmpuint (m.klass, ==, EMBER_STUN_CLASS_SUCCESS);
  EmberAddr a;
  g_assert_cmpint (ember_stun_message_get_xor_address (&m, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, &a), ==, 0);
  g_assert_cmpuint (a.port, ==, 40000);
  assert_mem (a.addr, 4, fx->client.addr, 4);
  g_assert_cmpuint (first (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT)->c.len, ==, 32);
}

static void
test_full_data_path (Fx *fx, gconstpointer d)
{
  (void) d;
  get_nonce (fx);
  EmberAddr relayed;
  g_assert_cmpuint (allocate (fx, 0, 0, &relayed, NULL), ==, 0);
  g_assert_cmpuint (relayed.family, ==, EMBER_ADDR_IPV4);
  assert_mem (relayed.addr, 4, "\xc0\x00\x02\x01", 4);
  g_assert_cmpuint (relayed.port, >=, 50000);
  g_assert_cmpuint (relayed.port, <=, 50009);

  EmberAddr peer = ip ("8.8.8.8", 5000);
  /* No permission yet: peer data is dropped, Send is dropped. */
  peer_input (fx, &relayed, &peer, "early");
  g_assert_cmpuint (fx->out->len, ==, 0);

  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &peer, 0, -1), ==, 0);

  /* Send indication -> datagram from the relayed port to the peer. */
  guint8 buf[256];
  EmberStunBuilder b;
  guint8 tid[12] = { 9 };
  ember_stun_builder_init (&b, buf, sizeof buf, EMBER_STUN_METHOD_SEND, EMBER_STUN_CLASS_INDICATION, tid);
  ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, &peer);
  ember_stun_builder_add (&b, EMBER_STUN_ATTR_DATA, "ping", 4);
  client_input (fx, &fx->client, buf, ember_stun_builder_finish (&b, NULL));
  const Out *o = first (fx, EMBER_RELAY_CMD_SEND_TO_PEER);
  g_assert_nonnull (o);
  assert_mem (o->data, o->c.len, "ping", 4);
  g_assert_cmpuint (o->c.port, ==, relayed.port);
  g_assert_true (o->c.to.port == 5000);

  /* Peer -> client as a Data indication. */
  peer_input (fx, &relayed, &peer, "pong");
  EmberStunMessage m;
  response (fx, &m);
  g_assert_cmpuint (m.method, ==, EMBER_STUN_METHOD_DATA);
  g_assert_cmpuint (m.klass, ==, EMBER_STUN_CLASS_INDICATION);
  const guint8 *v;
  gsize len;
  g_assert_cmpint (ember_stun_message_get_bytes (&m, EMBER_STUN_ATTR_DATA, &v, &len), ==, 0);
  assert_mem (v, len, "pong", 4);
  EmberAddr from;
  g_assert_cmpint (ember_stun_message_get_xor_address (&m, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, &from), ==, 0);
  g_assert_cmpuint (from.port, ==, 5000);
  /* Another port of a permitted IP also passes (permissions are per IP). */
  EmberAddr peer2 = ip ("8.8.8.8", 5001);
  peer_input (fx, &relayed, &peer2, "x");
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT), ==, 1);
  /* An unpermitted IP does not. */
  EmberAddr stranger = ip ("9.9.9.9", 5000);
  peer_input (fx, &relayed, &stranger, "x");
  g_assert_cmpuint (fx->out->len, ==, 0);

  /* Channel: both directions in ChannelData. */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &peer, 0x4001, -1), ==, 0);
  guint8 cd[16];
  gsize cdn = ember_stun_channel_data_build (cd, sizeof cd, 0x4001, (const guint8 *) "hello", 5);
  client_input (fx, &fx->client, cd, cdn);
  o = first (fx, EMBER_RELAY_CMD_SEND_TO_PEER);
  g_assert_nonnull (o);
  assert_mem (o->data, o->c.len, "hello", 5);
  peer_input (fx, &relayed, &peer, "world!");
  o = first (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT);
  g_assert_nonnull (o);
  assert_mem (o->data, o->c.len, "\x40\x01\x00\x06world!\0\0", 12);
  /* Unbound channel number: dropped. */
  cdn = ember_stun_channel_data_build (cd, sizeof cd, 0x4002, (const guint8 *) "x", 1);
  client_input (fx, &fx->client, cd, cdn);
  g_assert_cmpuint (fx->out->len, ==, 0);
  /* Rebinding the peer to another number, or the number to another peer: 400. */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &peer, 0x4002, -1), ==, 400);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &peer2, 0x4001, -1), ==, 400);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &peer2, 0x3FFF, -1), ==, 400);
  /* RFC 5766's wider range only when configured. */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &peer2, 0x5e28, -1), ==, 400);

  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->s, &st);
  g_assert_cmpuint (st.allocations, ==, 1);
  g_assert_cmpuint (st.permissions, ==, 1);
  g_assert_cmpuint (st.channels, ==, 1);
  g_assert_cmpuint (st.packets_to_peer, ==, 2);
  g_assert_cmpuint (st.bytes_to_peer, ==, 9);
}

static void
advance (Fx *fx, gint64 to)
{
  /* Jump to each deadline in turn, as the shell would. */
  while (ember_relay_server_poll_timeout (fx->s) <= to)
    {
      fx->now = MAX (fx->now, ember_relay_server_poll_timeout (fx->s));
      ember_relay_server_handle_timeout (fx->s, fx->now);
      drain (fx);
    }
  fx->now = to;
}

static void
test_expiry (Fx *fx, gconstpointer d)
{
  (void) d;
  gint64 t0 = fx->now;
  get_nonce (fx);
  EmberAddr relayed;
  g_assert_cmpuint (allocate (fx, 0, 0, &relayed, NULL), ==, 0);
  EmberAddr p1 = ip ("8.8.8.8", 1), p2 = ip ("8.8.4.4", 2);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &p1, 0, -1), ==, 0);
  EmberRelayCommand c;
  /* A WAKE command announces the earliest deadline. */
  ember_relay_server_handle_timeout (fx->s, fx->now);
  g_assert_true (ember_relay_server_poll_command (fx->s, &c));
  g_assert_cmpint (c.kind, ==, EMBER_RELAY_CMD_WAKE);
  g_assert_cmpint (c.deadline, >, fx->now);
  g_assert_cmpint (c.deadline, <=, t0 + S (EMBER_TURN_PERMISSION_LIFETIME));
  drain (fx);

  /* Permission lapses after 300 s. */
  advance (fx, t0 + S (299));
  peer_input (fx, &relayed, &p1, "a");
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT), ==, 1);
  advance (fx, t0 + S (301));
  peer_input (fx, &relayed, &p1, "a");
  g_assert_cmpuint (fx->out->len, ==, 0);

  /* Channel bound at 301 s lapses at 901 s; keep the allocation alive. */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &p2, 0x4000, -1), ==, 0);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, 3600), ==, 0);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &p2, 0, -1), ==, 0);
  advance (fx, t0 + S (600));
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &p2, 0, -1), ==, 0);
  advance (fx, t0 + S (899));
  guint8 cd[16];
  gsize cdn = ember_stun_channel_data_build (cd, sizeof cd, 0x4000, (const guint8 *) "x", 1);
  client_input (fx, &fx->client, cd, cdn);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_SEND_TO_PEER), ==, 1);
  advance (fx, t0 + S (902));
  client_input (fx, &fx->client, cd, cdn);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_SEND_TO_PEER), ==, 0);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->s, &st);
  g_assert_cmpuint (st.channels, ==, 0);
  /* Within the reuse guard the number cannot go to another peer, but the
   * same peer may bind it again. */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &p1, 0x4000, -1), ==, 400);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &p2, 0x4000, -1), ==, 0);

  /* Allocation: refreshed to 3600 s at ~301 s; expires, socket freed. */
  advance (fx, t0 + S (3900));
  ember_relay_server_get_stats (fx->s, &st);
  g_assert_cmpuint (st.allocations, ==, 1);
  fx->now = t0 + S (3903);
  ember_relay_server_handle_timeout (fx->s, fx->now);
  drain (fx);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_FREE_ALLOCATION), ==, 1);
  g_assert_cmpuint (first (fx, EMBER_RELAY_CMD_FREE_ALLOCATION)->c.port, ==, relayed.port);
  ember_relay_server_get_stats (fx->s, &st);
  g_assert_cmpuint (st.allocations, ==, 0);
  g_assert_cmpuint (st.permissions, ==, 0);
  g_assert_cmpuint (st.channels, ==, 0);
  g_assert_cmpint (ember_relay_server_poll_timeout (fx->s), >, fx->now);
}

/* Like advance(), counting the commands of `kind` handed out on the way. */
static guint
advance_counting (Fx *fx, gint64 to, EmberRelayCommandKind kind)
{
  guint n = 0;
  while (ember_relay_server_poll_timeout (fx->s) <= to)
    {
      fx->now = MAX (fx->now, ember_relay_server_poll_timeout (fx->s));
      ember_relay_server_handle_timeout (fx->s, fx->now);
      drain (fx);
      n += count (fx, kind);
    }
  fx->now = to;
  return n;
}

/* The channel events a fast path follows: CHANNEL_BOUND before the
 * ChannelBind success, with everything that names the binding and the
 * earliest of the channel's, permission's and allocation's expiry;
 * again whenever that moves; CHANNEL_UNBOUND when any of them ends. */
static void
test_channel_events (Fx *fx, gconstpointer d)
{
  (void) d;
  gint64 t0 = fx->now;
  get_nonce (fx);
  EmberAddr relayed;
  g_assert_cmpuint (allocate (fx, 0, 0, &relayed, NULL), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CHANNEL_BOUND), ==, 0);
  EmberAddr peer = ip ("8.8.8.8", 7000);

  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &peer, 0x4001, -1), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CHANNEL_BOUND), ==, 1);
  g_assert_cmpint (g_array_index (fx->out, Out, 0).c.kind, ==, EMBER_RELAY_CMD_CHANNEL_BOUND);
  const EmberRelayCommand *c = &first (fx, EMBER_RELAY_CMD_CHANNEL_BOUND)->c;
  g_assert_cmpuint (c->listener, ==, 0);
  g_assert_cmpuint (c->client.port, ==, fx->client.port);
  assert_mem (c->client.addr, 4, fx->client.addr, 4);
  g_assert_cmpuint (c->family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (c->port, ==, relayed.port);
  g_assert_cmpuint (c->to.port, ==, 7000);
  assert_mem (c->to.addr, 4, peer.addr, 4);
  g_assert_cmpuint (c->channel, ==, 0x4001);
  /* The permission (300 s) ends first. */
  g_assert_cmpint (c->deadline, ==, t0 + S (EMBER_TURN_PERMISSION_LIFETIME));

  /* A Refresh announces again (its expiry may have been the earliest). */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, 3600), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CHANNEL_BOUND), ==, 1);
  /* A new permission at 200 s moves the deadline to 500 s. */
  g_assert_cmpuint (advance_counting (fx, t0 + S (200), EMBER_RELAY_CMD_CHANNEL_UNBOUND), ==, 0);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &peer, 0, -1), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CHANNEL_BOUND), ==, 1);
  g_assert_cmpint (first (fx, EMBER_RELAY_CMD_CHANNEL_BOUND)->c.deadline, ==, t0 + S (500));
  /* Another peer's permission leaves the channel alone. */
  EmberAddr other = ip ("8.8.4.4", 7000);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &other, 0, -1), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CHANNEL_BOUND), ==, 0);

  /* The permission lapses: unbound, once. */
  g_assert_cmpuint (advance_counting (fx, t0 + S (550), EMBER_RELAY_CMD_CHANNEL_UNBOUND), ==, 1);
  /* A new permission makes the still bound channel usable until the
   * channel itself ends (600 s). */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &peer, 0, -1), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CHANNEL_BOUND), ==, 1);
  g_assert_cmpint (first (fx, EMBER_RELAY_CMD_CHANNEL_BOUND)->c.deadline, ==,
                   t0 + S (EMBER_TURN_CHANNEL_LIFETIME));
  /* The channel lapses: unbound; nothing more when the permission ends. */
  g_assert_cmpuint (advance_counting (fx, t0 + S (601), EMBER_RELAY_CMD_CHANNEL_UNBOUND), ==, 1);
  g_assert_cmpuint (advance_counting (fx, t0 + S (900), EMBER_RELAY_CMD_CHANNEL_UNBOUND), ==, 0);

  /* Bound again, then the allocation is deleted: unbound with it. */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &peer, 0x4001, -1), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CHANNEL_BOUND), ==, 1);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, 0), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CHANNEL_UNBOUND), ==, 1);
  c = &first (fx, EMBER_RELAY_CMD_CHANNEL_UNBOUND)->c;
  g_assert_cmpuint (c->channel, ==, 0x4001);
  g_assert_cmpuint (c->port, ==, relayed.port);
  g_assert_cmpuint (c->client.port, ==, fx->client.port);
}

static void
test_refresh_zero_deletes (Fx *fx, gconstpointer d)
{
  (void) d;
  get_nonce (fx);
  g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, 0);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, 0), ==, 0);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_FREE_ALLOCATION), ==, 1);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, 600), ==, 437);
  /* A second Allocate with a new transaction works again. */
  g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, 0);
  g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, 437);
}

static void
test_stale_nonce (Fx *fx, gconstpointer d)
{
  (void) d;
  get_nonce (fx);
  fx->now += S (3601);
  guint8 buf[256];
  EmberStunBuilder b;
  req_begin (fx, &b, buf, sizeof buf, EMBER_STUN_METHOD_ALLOCATE);
  ember_stun_builder_add_requested_transport (&b, EMBER_STUN_TRANSPORT_UDP);
  client_input (fx, &fx->client, buf, req_finish_auth (fx, &b));
  EmberStunMessage m;
  response (fx, &m);
  g_assert_cmpuint (error_code (&m), ==, 438);
  const guint8 *v;
  gsize len;
  g_assert_cmpint (ember_stun_message_get_bytes (&m, EMBER_STUN_ATTR_NONCE, &v, &len), ==, 0);
  g_assert_false (len == fx->nonce_len && memcmp (v, fx->nonce, len) == 0);
  memcpy (fx->nonce, v, len);
  g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, 0);
}

static void
test_nonce_bound_to_address (Fx *fx, gconstpointer d)
{
  (void) d;
  get_nonce (fx);
  fx->client = ip ("198.51.100.99", 1234);
  guint8 buf[256];
  EmberStunBuilder b;
  req_begin (fx, &b, buf, sizeof buf, EMBER_STUN_METHOD_ALLOCATE);
  ember_stun_builder_add_requested_transport (&b, EMBER_STUN_TRANSPORT_UDP);
  client_input (fx, &fx->client, buf, req_finish_auth (fx, &b));
  EmberStunMessage m;
  response (fx, &m);
  g_assert_cmpuint (error_code (&m), ==, 438);
}

static void
test_quota (Fx *fx, gconstpointer d)
{
  (void) d;
  fx_teardown (fx, NULL);
  fx_setup_with (fx, 2);
  for (guint i = 0; i < 3; i++)
    {
      fx->client.port = (guint16) (40000 + i);
      get_nonce (fx);
      g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, i < 2 ? 0 : 486);
    }
}

static void
test_wrong_credentials (Fx *fx, gconstpointer d)
{
  (void) d;
  get_nonce (fx);
  ember_stun_long_term_key_md5 ((const guint8 *) "alice", 5, (const guint8 *) "ember.test", 10,
                                (const guint8 *) "guess", 5, fx->key);
  guint8 buf[256];
  EmberStunBuilder b;
  req_begin (fx, &b, buf, sizeof buf, EMBER_STUN_METHOD_ALLOCATE);
  ember_stun_builder_add_requested_transport (&b, EMBER_STUN_TRANSPORT_UDP);
  client_input (fx, &fx->client, buf, req_finish_auth (fx, &b));
  EmberStunMessage m;
  response (fx, &m);
  g_assert_cmpuint (error_code (&m), ==, 401);
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CREATE_ALLOCATION), ==, 0);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->s, &st);
  g_assert_cmpuint (st.auth_failures, ==, 1);
}

static void
rest_login (Fx *fx, const char *username)
{
  /* password = base64(HMAC-SHA1(secret, username)), via GLib's HMAC. */
  g_autoptr (GHmac) h = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) "s3cret", 6);
  g_hmac_update (h, (const guchar *) username, -1);
  guint8 digest[20];
  gsize dlen = sizeof digest;
  g_hmac_get_digest (h, digest, &dlen);
  g_autofree char *password = g_base64_encode (digest, dlen);
  g_strlcpy (fx->user, username, sizeof fx->user);
  ember_stun_long_term_key_md5 ((const guint8 *) username, strlen (username),
                                (const guint8 *) "ember.test", 10, (const guint8 *) password,
                                strlen (password), fx->key);
}

static void
test_rest_credentials (Fx *fx, gconstpointer d)
{
  (void) d;
  get_nonce (fx);
  rest_login (fx, "1700000100:device-7");
  g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, 0);
  guint16 first_port = fx->client.port;
  /* After the expiry the allocation made under it lives on: refreshed,
   * with its permissions and channels, under the same key. */
  ember_relay_server_set_unix_time (fx->s, 1700000100);
  EmberAddr peer = ip ("8.8.8.8", 53);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, -1), ==, 0);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &peer, 0, -1), ==, 0);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &peer, 0x4000, -1), ==, 0);
  /* A wrong key is still refused there. */
  guint8 good_key[sizeof fx->key];
  memcpy (good_key, fx->key, sizeof good_key);
  fx->key[0] ^= 1;
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, -1), ==, 401);
  memcpy (fx->key, good_key, sizeof good_key);
  /* But no new allocation under it, and no request from a 5-tuple
   * without one. */
  fx->client.port++;
  get_nonce (fx);
  g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, 401);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, -1), ==, 401);
  /* Renewed credentials allocate; on the old allocation they are
   * another user's (RFC 8656 §5). */
  rest_login (fx, "1700003700:device-7");
  g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, 0);
  fx->client.port = first_port;
  get_nonce (fx);  /* a nonce is bound to its client's address and port */
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, -1), ==, 441);
  /* Released under the old ones. */
  rest_login (fx, "1700000100:device-7");
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, 0), ==, 0);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_REFRESH, NULL, 0, -1), ==, 401);
  /* Garbage expiries. */
  fx->client.port += 2;
  get_nonce (fx);
  rest_login (fx, "17000x0100:device-7");
  g_assert_cmpuint (allocate (fx, 0, 0, NULL, NULL), ==, 401);
}

static void
test_dual_allocation (Fx *fx, gconstpointer d)
{
  (void) d;
  get_nonce (fx);
  EmberAddr relayed[2];
  guint n = 0;
  g_assert_cmpuint (allocate (fx, EMBER_STUN_FAMILY_IPV6, 0, relayed, &n), ==, 0);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpuint (relayed[0].family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (relayed[1].family, ==, EMBER_ADDR_IPV6);
  /* A v6 peer can now be permitted; v6-only allocation for a second client. */
  EmberAddr p6 = ip ("2606:4700::1111", 53);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &p6, 0, -1), ==, 0);
  fx->client.port++;
  get_nonce (fx);
  g_assert_cmpuint (allocate (fx, 0, EMBER_STUN_FAMILY_IPV6, relayed, &n), ==, 0);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpuint (relayed[0].family, ==, EMBER_ADDR_IPV6);
  EmberAddr p4 = ip ("8.8.8.8", 53);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &p4, 0, -1), ==, 443);
}

static void
test_refused_peers (Fx *fx, gconstpointer d)
{
  (void) d;
  static const char *denied[] = {
    "127.0.0.1", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "100.64.0.1", "100.127.255.254", "169.254.169.254", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255", "192.0.2.10", "198.51.100.1", "203.0.113.5", "198.18.0.1",
    "198.19.255.1", "0.1.2.3", "::", "::1", "::ffff:127.0.0.1", "::127.0.0.1", "::ffff:10.0.0.1",
    "::ffff:169.254.169.254", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "2002:c000:0204::1",
    "2001:0:4136:e378::1", "64:ff9b::808:808", "64:ff9b:1::1", "2001:db8::5",
  };
  static const char *allowed[] = { "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1",
                                   "2606:4700::1111", "::ffff:8.8.8.8", "2a00:1450::1" };
  for (gsize i = 0; i < G_N_ELEMENTS (denied); i++)
    {
      EmberAddr a = ip (denied[i], 1);
      if (ember_relay_server_peer_allowed (fx->s, &a))
        g_error ("%s should be denied", denied[i]);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (allowed); i++)
    {
      EmberAddr a = ip (allowed[i], 1);
      if (!ember_relay_server_peer_allowed (fx->s, &a))
        g_error ("%s should be allowed", allowed[i]);
    }

  /* Through the protocol: 403, and nothing installed. */
  get_nonce (fx);
  g_assert_cmpuint (allocate (fx, EMBER_STUN_FAMILY_IPV6, 0, NULL, NULL), ==, 0);
  EmberAddr priv = ip ("10.0.0.1", 80);
  EmberAddr mapped = ip ("::ffff:127.0.0.1", 80);
  EmberAddr compat = ip ("::127.0.0.1", 80);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &priv, 0, -1), ==, 403);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &mapped, 0, -1), ==, 403);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &mapped, 0x4000, -1), ==, 403);
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CHANNEL_BIND, &compat, 0x4000, -1), ==, 403);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->s, &st);
  g_assert_cmpuint (st.permissions, ==, 0);
  g_assert_cmpuint (st.forbidden_peers, ==, 4);

  /* allow-peer opens exactly the listed range. */
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_relay_server_allow_peer (fx->s, "127.0.0.1/32", &error));
  g_assert_true (ember_relay_server_allow_peer (fx->s, "::1/128", &error));
  g_assert_false (ember_relay_server_allow_peer (fx->s, "10.0.0.0/33", &error));
  g_clear_error (&error);
  g_assert_false (ember_relay_server_allow_peer (fx->s, "not-an-ip", &error));
  EmberAddr lo = ip ("127.0.0.1", 80), lo2 = ip ("127.0.0.2", 80), lo6 = ip ("::1", 80);
  g_assert_true (ember_relay_server_peer_allowed (fx->s, &lo));
  g_assert_true (ember_relay_server_peer_allowed (fx->s, &lo6));
  g_assert_false (ember_relay_server_peer_allowed (fx->s, &lo2));
  g_assert_cmpuint (simple_request (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, &lo, 0, -1), ==, 0);
}

static void
test_rate_limit_and_amplification (Fx *fx, gconstpointer d)
{
  (void) d;
  /* 300 unauthenticated Allocates from one IP in one instant: at most
   * the burst is answered. */
  guint answered = 0;
  for (guint i = 0; i < 300; i++)
    {
      guint8 buf[64];
      EmberStunBuilder b;
      req_begin (fx, &b, buf, sizeof buf, i % 2 ? EMBER_STUN_METHOD_BINDING : EMBER_STUN_METHOD_ALLOCATE);
      gsize n = ember_stun_builder_finish (&b, NULL);
      client_input (fx, &fx->client, buf, n);
      answered += count (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT);
      const Out *o = first (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT);
      if (o != NULL)
        /* 401 with realm "ember.test" and a 32-byte nonce. */
        g_assert_cmpuint (o->c.len, <=, 92 + 12);
    }
  g_assert_cmpuint (answered, ==, 100);
  /* A second later 50 more tokens. */
  fx->now += S (1);
  answered = 0;
  for (guint i = 0; i < 100; i++)
    {
      guint8 buf[64];
      EmberStunBuilder b;
      req_begin (fx, &b, buf, sizeof buf, EMBER_STUN_METHOD_BINDING);
      client_input (fx, &fx->client, buf, ember_stun_builder_finish (&b, NULL));
      answered += count (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT);
    }
  g_assert_cmpuint (answered, ==, 50);
  /* Other sources are unaffected. */
  EmberAddr other = ip ("198.51.100.77", 1);
  guint8 buf[64];
  EmberStunBuilder b;
  req_begin (fx, &b, buf, sizeof buf, EMBER_STUN_METHOD_BINDING);
  client_input (fx, &other, buf, ember_stun_builder_finish (&b, NULL));
  g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT), ==, 1);
  /* An unknown method (20 bytes) gets nothing bigger than itself. */
  req_begin (fx, &b, buf, sizeof buf, 0x0FF);
  gsize n = ember_stun_builder_finish (&b, NULL);
  client_input (fx, &other, buf, n);
  const Out *o = first (fx, EMBER_RELAY_CMD_SEND_TO_CLIENT);
  g_assert_true (o == NULL || o->c.len <= n);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->s, &st);
  g_assert_cmpuint (st.rate_limited, >=, 250);
}

static void
test_garbage (Fx *fx, gconstpointer d)
{
  (void) d;
  /* Random datagrams and mutations of a valid request: never a crash,
   * never an allocation, nothing sent to a peer. */
  guint8 valid[256];
  EmberStunBuilder b;
  get_nonce (fx);
  req_begin (fx, &b, valid, sizeof valid, EMBER_STUN_METHOD_ALLOCATE);
  ember_stun_builder_add_requested_transport (&b, EMBER_STUN_TRANSPORT_UDP);
  gsize vlen = req_finish_auth (fx, &b);
  GRand *r = g_rand_new_with_seed (42);
  for (guint i = 0; i < 20000; i++)
    {
      guint8 buf[256];
      gsize len;
      if (i % 2)
        {
          memcpy (buf, valid, vlen);
          len = vlen;
          buf[g_rand_int_range (r, 20, (gint32) vlen)] ^= (guint8) g_rand_int_range (r, 1, 256);
        }
      else
        {
          len = (gsize) g_rand_int_range (r, 0, sizeof buf);
          for (gsize k = 0; k < len; k++)
            buf[k] = (guint8) g_rand_int (r);
          if (len > 0 && i % 4 == 0)
            buf[0] = 0x40;
        }
      fx->now += 1000;
      EmberAddr from = fx->client;
      from.port = (guint16) (1000 + i);
      ember_relay_server_handle_client_input (fx->s, fx->now, 0, &from, buf, len);
      drain (fx);
      g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_CREATE_ALLOCATION), ==, 0);
      g_assert_cmpuint (count (fx, EMBER_RELAY_CMD_SEND_TO_PEER), ==, 0);
      ember_relay_server_handle_peer_input (fx->s, fx->now, EMBER_ADDR_IPV4, 50000, &from, buf, len);
      drain (fx);
      g_assert_cmpuint (fx->out->len, ==, 0);
    }
  g_rand_free (r);
}

static void
test_config_errors (void)
{
  EmberRelayServerConfig c;
  ember_relay_server_config_init (&c);
  g_autoptr (GError) error = NULL;
  g_assert_null (ember_relay_server_new (&c, &error)); /* no RNG, no public IP */
  g_assert_nonnull (error);
}

#define ADD(path, fn) g_test_add ("/relay/server/" path, Fx, NULL, fx_setup, fn, fx_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("binding/answers-mapped-address", test_binding);
  ADD ("allocate/permission/channel/data-both-ways", test_full_data_path);
  ADD ("expiry/permission-channel-allocation", test_expiry);
  ADD ("refresh/lifetime-zero-deletes", test_refresh_zero_deletes);
  ADD ("channel/events-follow-binding-permission-allocation", test_channel_events);
  ADD ("auth/stale-nonce-gets-438-and-new-nonce", test_stale_nonce);
  ADD ("auth/nonce-bound-to-client-address", test_nonce_bound_to_address);
  ADD ("auth/wrong-password-gets-401", test_wrong_credentials);
  ADD ("auth/time-limited-credentials-gate-new-allocations-only", test_rest_credentials);
  ADD ("allocate/quota-per-username", test_quota);
  ADD ("allocate/dual-stack-and-ipv6", test_dual_allocation);
  ADD ("security/refuses-private-and-mapped-peers", test_refused_peers);
  ADD ("security/rate-limit-and-amplification", test_rate_limit_and_amplification);
  ADD ("security/garbage-never-crashes", test_garbage);
  g_test_add_func ("/relay/server/config/rejects-incomplete", test_config_errors);
  return g_test_run ();
}
