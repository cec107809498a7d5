/* Unit tests of the ICE agent: RFC 8445 formulas, pairing, check states,
 * nomination, seed 000's "no new candidates after nomination", candidate
 * invalidation and role conflicts. Two agents are joined by an in-memory
 * wire with a virtual clock; no sockets. */
#include <string.h>

#include "ice/agent.h"
#include "ice/candidate.h"
#include "stun/message.h"

/* splitmix64: a tiny seeded RNG for the injected randomness. */
static guint64
splitmix (gpointer user_data)
{
  guint64 *s = user_data;
  guint64 z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static EmberAddr
addr (const char *ip, guint16 port)
{
  EmberAddr a;
  g_assert_true (ember_ice_addr_parse_ip (ip, port, &a));
  return a;
}

static EmberIceCandidate
host (const char *ip, guint16 port)
{
  EmberIceCandidate c;
  EmberAddr a = addr (ip, port);
  ember_ice_candidate_init_local (&c, EMBER_ICE_CANDIDATE_HOST, &a, NULL, NULL);
  return c;
}

/* ---- formulas ---------------------------------------------------------- */

static void
test_candidate_priority (void)
{
  /* RFC 8445 §5.1.2.1: 2^24*type + 2^8*local + (256 - component). */
  g_assert_cmpuint (ember_ice_candidate_priority (EMBER_ICE_CANDIDATE_HOST, 65535, 1), ==,
                    (126u << 24) + (65535u << 8) + 255u);
  g_assert_cmpuint (ember_ice_candidate_priority (EMBER_ICE_CANDIDATE_SRFLX, 0, 1), ==,
                    (100u << 24) + 255u);
  g_assert_cmpuint (ember_ice_candidate_priority (EMBER_ICE_CANDIDATE_PRFLX, 1, 2), ==,
                    (110u << 24) + 256u + 254u);
  g_assert_cmpuint (ember_ice_candidate_priority (EMBER_ICE_CANDIDATE_RELAY, 65535, 1), ==,
                    (65535u << 8) + 255u);
  /* Type order: host > prflx > srflx > relay. */
  g_assert_cmpuint (ember_ice_type_preference (EMBER_ICE_CANDIDATE_HOST), ==, 126);
  g_assert_cmpuint (ember_ice_type_preference (EMBER_ICE_CANDIDATE_PRFLX), ==, 110);
  g_assert_cmpuint (ember_ice_type_preference (EMBER_ICE_CANDIDATE_SRFLX), ==, 100);
  g_assert_cmpuint (ember_ice_type_preference (EMBER_ICE_CANDIDATE_RELAY), ==, 0);
}

static void
test_pair_priority (void)
{
  static const struct { guint32 g, d; guint64 want; } cases[] = {
    /* 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0), RFC 8445 §6.1.2.3. */
    { 1, 1, (1ull << 32) + 2 },
    { 2, 1, (1ull << 32) + 4 + 1 },
    { 1, 2, (1ull << 32) + 4 },
    { 0, 0, 0 },
    { G_MAXUINT32, G_MAXUINT32, ((guint64) G_MAXUINT32 << 32) + 2ull * G_MAXUINT32 },
    { 2130706431u, 16777215u, (16777215ull << 32) + 2ull * 2130706431u + 1 },
    { 16777215u, 2130706431u, (16777215ull << 32) + 2ull * 2130706431u },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpuint (ember_ice_pair_priority (cases[i].g, cases[i].d), ==, cases[i].want);
}

static void
test_candidate_string (void)
{
  EmberIceCandidate c, back;
  EmberAddr a = addr ("203.0.113.7", 40000), b = addr ("192.168.1.2", 51820);
  ember_ice_candidate_init_local (&c, EMBER_ICE_CANDIDATE_SRFLX, &a, &b, NULL);
  g_autofree char *s = ember_ice_candidate_to_string (&c);
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_ice_candidate_from_string (s, &back, &error));
  g_assert_no_error (error);
  g_assert_cmpint (back.type, ==, EMBER_ICE_CANDIDATE_SRFLX);
  g_assert_true (ember_ice_addr_equal (&back.addr, &a));
  g_assert_true (ember_ice_addr_equal (&back.base, &b));
  g_assert_cmpuint (back.priority, ==, c.priority);
  g_assert_cmpstr (back.foundation, ==, c.foundation);

  EmberIceCandidate h6 = host ("2001:db8::1", 3478);
  g_autofree char *s6 = ember_ice_candidate_to_string (&h6);
  g_assert_true (ember_ice_candidate_from_string (s6, &back, NULL));
  g_assert_true (ember_ice_addr_equal (&back.addr, &h6.addr));

  /* Every truncated prefix and a few malformed forms are errors. */
  for (gsize n = 0; n < strlen (s); n++)
    {
      g_autofree char *prefix = g_strndup (s, n);
      if (!ember_ice_candidate_from_string (prefix, &back, NULL))
        continue;
      /* A prefix that still parses must have cut only inside rport. */
      g_assert_true (g_str_has_prefix (s, prefix));
    }
  static const char *bad[] = {
    "candidate:1 1 tcp 1 1.2.3.4 5 typ host",
    "candidate:1 2 udp 1 1.2.3.4 5 typ host",
    "candidate:1 1 udp 1 1.2.3.400 5 typ host",
    "candidate:1 1 udp 1 1.2.3.4 70000 typ host",
    "candidate:1 1 udp 99999999999 1.2.3.4 5 typ host",
    "candidate:1 1 udp 1 1.2.3.4 5 typ bogus",
    "candidate:1 1 udp 1 1.2.3.4 5 type host",
    "candidate:1 1 udp 1 1.2.3.4 5 typ srflx raddr x rport 1",
    "candidate:1 1 udp 1 1.2.3.4 5 typ srflx raddr",
    "candidate:f\"o 1 udp 1 1.2.3.4 5 typ host",
    "",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_assert_false (ember_ice_candidate_from_string (bad[i], &back, &e));
      g_assert_error (e, EMBER_ICE_ERROR, EMBER_ICE_ERROR_PARSE);
    }
}

static void
test_filter_host (void)
{
  EmberAddr in[] = {
    addr ("192.168.1.2", 0), addr ("127.0.0.1", 0),  addr ("0.0.0.0", 0),
    addr ("100.64.0.7", 0),  addr ("fe80::1", 0),    addr ("::1", 0),
    addr ("2001:db8::5", 0), addr ("224.0.0.1", 0),  addr ("192.168.1.2", 0),
    addr ("fd00:2021::7", 0),
  };
  /* The tunnel's own addresses must not become candidates. */
  EmberAddr tunnel[] = { addr ("100.64.0.7", 0), addr ("fd00:2021::7", 0) };
  EmberAddr out[8];
  guint n = ember_ice_filter_host_addresses (in, G_N_ELEMENTS (in), tunnel,
                                             G_N_ELEMENTS (tunnel), out, G_N_ELEMENTS (out));
  g_assert_cmpuint (n, ==, 2);
  g_assert_true (ember_ice_addr_equal (&out[0], &in[0]));
  g_assert_true (ember_ice_addr_equal (&out[1], &in[6]));
  /* The output bound is respected. */
  g_assert_cmpuint (ember_ice_filter_host_addresses (in, G_N_ELEMENTS (in), NULL, 0, out, 1),
                    ==, 1);
}

static void
test_sample_relay (void)
{
  guint64 seed = 42;
  EmberIceRng rng = { splitmix, &seed };
  guint hits[3] = { 0 };
  for (int i = 0; i < 3000; i++)
    {
      gint k = ember_ice_sample_relay (&rng, 3);
      g_assert_cmpint (k, >=, 0);
      g_assert_cmpint (k, <, 3);
      hits[k]++;
    }
  for (int k = 0; k < 3; k++)
    g_assert_cmpuint (hits[k], >, 800);  /* uniform-ish: each ~1000 */
  g_assert_cmpint (ember_ice_sample_relay (&rng, 0), ==, -1);
}

/* ---- two agents on an in-memory wire ----------------------------------- */

typedef struct {
  guint64 seed_a, seed_b;
  EmberIceAgent *a, *b;  /* a: controlling (the client), b: controlled */
  gint64 now;
  gboolean drop_all;           /* a black hole between them */
  gboolean drop_to_a, drop_to_b;
  guint n_connected_a, n_connected_b, n_failed_a, n_failed_b;
  EmberIceEvent last_connected_a, last_connected_b;
} Pair;

static void
pair_setup (Pair *p, gconstpointer data)
{
  (void) data;
  memset (p, 0, sizeof *p);
  p->seed_a = 1;
  p->seed_b = 2;
  EmberIceRng ra = { splitmix, &p->seed_a }, rb = { splitmix, &p->seed_b };
  p->now = 1000000;
  p->a = ember_ice_agent_new (EMBER_ICE_ROLE_CONTROLLING, &ra, p->now);
  p->b = ember_ice_agent_new (EMBER_ICE_ROLE_CONTROLLED, &rb, p->now);
  g_assert_true (ember_ice_agent_set_remote_credentials (
      p->a, ember_ice_agent_get_local_ufrag (p->b), ember_ice_agent_get_local_pwd (p->b), NULL));
  g_assert_true (ember_ice_agent_set_remote_credentials (
      p->b, ember_ice_agent_get_local_ufrag (p->a), ember_ice_agent_get_local_pwd (p->a), NULL));
}

static void
pair_teardown (Pair *p, gconstpointer data)
{
  (void) data;
  ember_ice_agent_free (p->a);
  ember_ice_agent_free (p->b);
}

static void
drain_events (Pair *p)
{
  EmberIceEvent ev;
  while (ember_ice_agent_poll_event (p->a, &ev))
    if (ev.type == EMBER_ICE_EVENT_CONNECTED)
      p->n_connected_a++, p->last_connected_a = ev;
    else if (ev.type == EMBER_ICE_EVENT_FAILED)
      p->n_failed_a++;
  while (ember_ice_agent_poll_event (p->b, &ev))
    if (ev.type == EMBER_ICE_EVENT_CONNECTED)
      p->n_connected_b++, p->last_connected_b = ev;
    else if (ev.type == EMBER_ICE_EVENT_FAILED)
      p->n_failed_b++;
}

/* Moves every queued datagram to the other agent (no latency), then
 * advances the clock to the next deadline, until `until`. */
static void
run (Pair *p, gint64 until)
{
  for (int guard = 0; guard < 100000; guard++)
    {
      gboolean moved = TRUE;
      while (moved)
        {
          moved = FALSE;
          guint8 buf[512];
          EmberAddr from, to;
          gsize n;
          while ((n = ember_ice_agent_poll_transmit (p->a, buf, sizeof buf, &from, &to)) > 0)
            {
              moved = TRUE;
              if (!p->drop_all && !p->drop_to_b)
                ember_ice_agent_handle_input (p->b, p->now, &to, &from, buf, n);
            }
          while ((n = ember_ice_agent_poll_transmit (p->b, buf, sizeof buf, &from, &to)) > 0)
            {
              moved = TRUE;
              if (!p->drop_all && !p->drop_to_a)
                ember_ice_agent_handle_input (p->a, p->now, &to, &from, buf, n);
            }
        }
      drain_events (p);
      gint64 t = MIN (ember_ice_agent_poll_timeout (p->a), ember_ice_agent_poll_timeout (p->b));
      if (t > until)
        {
          p->now = until;
          return;
        }
      p->now = MAX (p->now, t);
      ember_ice_agent_handle_timeout (p->a, p->now);
      ember_ice_agent_handle_timeout (p->b, p->now);
    }
  g_assert_not_reached ();
}

static void
exchange (Pair *p, const EmberIceCandidate *ca, guint na, const EmberIceCandidate *cb, guint nb)
{
  for (guint i = 0; i < na; i++)
    {
      g_assert_true (ember_ice_agent_add_local_candidate (p->a, &ca[i], NULL));
      g_assert_true (ember_ice_agent_add_remote_candidate (p->b, &ca[i], NULL));
    }
  for (guint i = 0; i < nb; i++)
    {
      g_assert_true (ember_ice_agent_add_local_candidate (p->b, &cb[i], NULL));
      g_assert_true (ember_ice_agent_add_remote_candidate (p->a, &cb[i], NULL));
    }
}

static void
test_pairing (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca[3], cb[2];
  ca[0] = host ("10.0.0.1", 1000);
  ca[1] = host ("2001:db8::1", 1000);
  EmberAddr m = addr ("198.51.100.1", 6000);
  ember_ice_candidate_init_local (&ca[2], EMBER_ICE_CANDIDATE_SRFLX, &m, &ca[0].addr, NULL);
  cb[0] = host ("10.0.0.2", 2000);
  cb[1] = host ("2001:db8::2", 2000);
  exchange (p, ca, 3, cb, 2);
  /* §6.1.2.2 same family only: v4 x v4 and v6 x v6; §6.1.2.4 the srflx
   * pairs with its base and the redundant pair is pruned: 2 pairs. */
  g_assert_cmpuint (ember_ice_agent_get_n_pairs (p->a), ==, 2);
  EmberIcePairInfo first, second;
  g_assert_true (ember_ice_agent_get_pair (p->a, 0, &first));
  g_assert_true (ember_ice_agent_get_pair (p->a, 1, &second));
  g_assert_cmpuint (first.priority, >=, second.priority);
  g_assert_cmpint (first.local.addr.family, ==, EMBER_ADDR_IPV6);  /* v6 preferred */
  g_assert_cmpint (second.local.type, ==, EMBER_ICE_CANDIDATE_HOST);
  g_assert_cmpuint (first.priority, ==,
                    ember_ice_pair_priority (ca[1].priority, cb[1].priority));
  /* The controlled side computes the same priorities with G and D swapped. */
  EmberIcePairInfo bfirst;
  g_assert_true (ember_ice_agent_get_pair (p->b, 0, &bfirst));
  g_assert_cmpuint (bfirst.priority, ==, first.priority);
  /* All start Waiting (distinct foundations). */
  g_assert_cmpint (first.state, ==, EMBER_ICE_PAIR_WAITING);
}

static void
test_connect_host (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca = host ("10.0.0.1", 1000), cb = host ("10.0.0.2", 2000);
  exchange (p, &ca, 1, &cb, 1);
  EmberIcePairInfo info;
  /* First check goes out at once: Waiting -> In-progress. */
  ember_ice_agent_handle_timeout (p->a, p->now);
  g_assert_true (ember_ice_agent_get_pair (p->a, 0, &info));
  g_assert_cmpint (info.state, ==, EMBER_ICE_PAIR_IN_PROGRESS);
  run (p, p->now + G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_true (ember_ice_agent_get_pair (p->a, 0, &info));
  g_assert_cmpint (info.state, ==, EMBER_ICE_PAIR_SUCCEEDED);
  g_assert_true (info.nominated);
  g_assert_cmpuint (p->n_connected_a, ==, 1);
  g_assert_cmpuint (p->n_connected_b, ==, 1);
  g_assert_cmpint (p->last_connected_a.local.type, ==, EMBER_ICE_CANDIDATE_HOST);
  g_assert_true (ember_ice_addr_equal (&p->last_connected_b.remote.addr, &ca.addr));
  /* Consent keeps it up for a long time. */
  run (p, p->now + 120 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_cmpuint (p->n_failed_a + p->n_failed_b, ==, 0);
}

/* Moves what `from` queued to `to`, or drops it. */
static void
deliver (Pair *p, EmberIceAgent *from, EmberIceAgent *to, gboolean drop)
{
  guint8 buf[512];
  EmberAddr src, dst;
  gsize n;
  while ((n = ember_ice_agent_poll_transmit (from, buf, sizeof buf, &src, &dst)) > 0)
    if (!drop)
      ember_ice_agent_handle_input (to, p->now, &dst, &src, buf, n);
}

/* Behind NATs that filter by address and port, our first check dies at
 * the peer's NAT; the peer's check then gets through the mapping ours
 * opened. RFC 8445 §7.3.1.4: that check triggers ours again at once
 * (the In-Progress one is cancelled), so the pair succeeds one round
 * trip later instead of after the 250 ms RTO. */
static void
test_check_from_peer_retriggers_at_once (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca = host ("10.0.0.1", 1000), cb = host ("10.0.0.2", 2000);
  exchange (p, &ca, 1, &cb, 1);
  gint64 start = p->now;
  ember_ice_agent_handle_timeout (p->a, p->now);
  deliver (p, p->a, p->b, TRUE);  /* A's check dies at B's NAT */
  EmberIcePairInfo info;
  g_assert_true (ember_ice_agent_get_pair (p->a, 0, &info));
  g_assert_cmpint (info.state, ==, EMBER_ICE_PAIR_IN_PROGRESS);
  g_assert_cmpint (ember_ice_agent_poll_timeout (p->a), ==, start + EMBER_ICE_CHECK_RTO_US);

  p->now += 10 * G_TIME_SPAN_MILLISECOND;
  ember_ice_agent_handle_timeout (p->b, p->now);
  deliver (p, p->b, p->a, FALSE);  /* B's check gets through */
  /* A answered and wants to check again now, not at the RTO. */
  g_assert_cmpint (ember_ice_agent_poll_timeout (p->a), <=, p->now);
  deliver (p, p->a, p->b, FALSE);
  ember_ice_agent_handle_timeout (p->a, p->now);
  deliver (p, p->a, p->b, FALSE);
  deliver (p, p->b, p->a, FALSE);
  g_assert_true (ember_ice_agent_get_pair (p->a, 0, &info));
  g_assert_cmpint (info.state, ==, EMBER_ICE_PAIR_SUCCEEDED);
  /* A direct pair is nominated at once: connected well before the RTO. */
  run (p, p->now + 20 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_cmpint (p->now - start, <, EMBER_ICE_CHECK_RTO_US);
  /* Both checks answered: no check is left retransmitting. */
  run (p, p->now + 2 * G_TIME_SPAN_SECOND);
  g_assert_cmpuint (p->n_connected_a, ==, 1);
  g_assert_cmpuint (p->n_connected_b, ==, 1);
}

static guint
n_checked (EmberIceAgent *agent)
{
  guint n = 0;
  EmberIcePairInfo info;
  for (guint i = 0; ember_ice_agent_get_pair (agent, i, &info); i++)
    n += info.state != EMBER_ICE_PAIR_WAITING && info.state != EMBER_ICE_PAIR_FROZEN;
  return n;
}

/* RFC 8445 §6.1.4.2: one new check per Ta, never two in one Ta. */
static void
test_checks_paced_by_ta (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca[3] = { host ("10.0.0.1", 1000), host ("10.0.1.1", 1000), host ("10.0.2.1", 1000) };
  EmberIceCandidate cb[3] = { host ("10.0.0.2", 2000), host ("10.0.1.2", 2000), host ("10.0.2.2", 2000) };
  exchange (p, ca, 3, cb, 3);
  p->drop_all = TRUE;
  gint64 t0 = p->now;
  ember_ice_agent_handle_timeout (p->a, t0);
  g_assert_cmpuint (n_checked (p->a), ==, 1);
  ember_ice_agent_handle_timeout (p->a, t0 + EMBER_ICE_TA_US - 1);
  g_assert_cmpuint (n_checked (p->a), ==, 1);
  g_assert_cmpint (ember_ice_agent_poll_timeout (p->a), <=, t0 + EMBER_ICE_TA_US);
  for (guint k = 1; k <= 4; k++)
    {
      ember_ice_agent_handle_timeout (p->a, t0 + k * EMBER_ICE_TA_US);
      g_assert_cmpuint (n_checked (p->a), ==, 1 + k);
    }
}

static void
test_check_fails_after_retransmits (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca = host ("10.0.0.1", 1000), cb = host ("10.0.0.2", 2000);
  exchange (p, &ca, 1, &cb, 1);
  p->drop_all = TRUE;
  gint64 start = p->now;
  run (p, start + 5500 * G_TIME_SPAN_MILLISECOND);
  EmberIcePairInfo info;
  g_assert_true (ember_ice_agent_get_pair (p->a, 0, &info));
  g_assert_cmpint (info.state, ==, EMBER_ICE_PAIR_IN_PROGRESS);
  run (p, start + 6 * G_TIME_SPAN_SECOND);
  g_assert_true (ember_ice_agent_get_pair (p->a, 0, &info));
  g_assert_cmpint (info.state, ==, EMBER_ICE_PAIR_FAILED);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CHECKING);
  /* The connect timeout ends it. */
  run (p, start + EMBER_ICE_CONNECT_TIMEOUT_US + 1);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_FAILED);
  g_assert_cmpuint (p->n_failed_a, ==, 1);
}

static void
test_no_candidates_after_nomination (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca = host ("10.0.0.1", 1000), cb = host ("10.0.0.2", 2000);
  exchange (p, &ca, 1, &cb, 1);
  run (p, p->now + G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CONNECTED);
  guint pairs = ember_ice_agent_get_n_pairs (p->a);
  /* Seed 000: a relay candidate that arrives now is refused ... */
  EmberIceCandidate late;
  EmberAddr r = addr ("192.0.2.9", 50000);
  ember_ice_candidate_init_local (&late, EMBER_ICE_CANDIDATE_RELAY, &r, NULL, &r);
  g_autoptr (GError) error = NULL;
  g_assert_false (ember_ice_agent_add_remote_candidate (p->a, &late, &error));
  g_assert_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_STATE);
  g_clear_error (&error);
  g_assert_false (ember_ice_agent_add_local_candidate (p->a, &late, &error));
  g_assert_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_STATE);
  g_assert_cmpuint (ember_ice_agent_get_n_pairs (p->a), ==, pairs);
  /* ... and so is a peer-reflexive one from a check from a new address. */
  guint8 buf[512];
  EmberAddr from, to;
  ember_ice_agent_handle_timeout (p->b, p->now + 10 * G_TIME_SPAN_SECOND);  /* keepalive */
  gsize n = ember_ice_agent_poll_transmit (p->b, buf, sizeof buf, &from, &to);
  g_assert_cmpuint (n, >, 0);
  EmberAddr other = addr ("10.0.0.99", 3000);
  g_assert_cmpint (ember_ice_agent_handle_input (p->a, p->now, &to, &other, buf, n), ==,
                   EMBER_ICE_INPUT_HANDLED);
  g_assert_cmpuint (ember_ice_agent_get_n_remote_candidates (p->a), ==, 1);
  g_assert_cmpuint (ember_ice_agent_get_n_pairs (p->a), ==, pairs);
  /* Before nomination the same candidate is welcome. */
  guint64 seed = 5;
  EmberIceRng rng = { splitmix, &seed };
  g_autoptr (EmberIceAgent) fresh = ember_ice_agent_new (EMBER_ICE_ROLE_CONTROLLING, &rng, 0);
  g_assert_true (ember_ice_agent_add_remote_candidate (fresh, &late, NULL));
  g_assert_cmpuint (ember_ice_agent_get_n_remote_candidates (fresh), ==, 1);
}

static void
test_invalidate_fails (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca = host ("10.0.0.1", 1000), cb = host ("10.0.0.2", 2000);
  exchange (p, &ca, 1, &cb, 1);
  run (p, p->now + G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_CONNECTED);
  EmberAddr unknown = addr ("10.9.9.9", 9);
  g_assert_false (ember_ice_agent_invalidate_remote_candidate (p->b, p->now, &unknown));
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_CONNECTED);
  /* The only pair goes with the candidate: failed at once. */
  g_assert_true (ember_ice_agent_invalidate_remote_candidate (p->b, p->now, &ca.addr));
  drain_events (p);
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_FAILED);
  g_assert_cmpuint (p->n_failed_b, ==, 1);
  /* The other side notices by consent within the idle timeout. */
  run (p, p->now + EMBER_ICE_IDLE_TIMEOUT_US + EMBER_ICE_KEEPALIVE_US * 2);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_FAILED);
}

static void
test_invalidate_local_falls_back (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca[2] = { host ("10.0.0.1", 1000), host ("2001:db8::1", 1000) };
  EmberIceCandidate cb[2] = { host ("10.0.0.2", 2000), host ("2001:db8::2", 2000) };
  exchange (p, ca, 2, cb, 2);
  /* Let both pairs finish their checks before the nomination. */
  run (p, p->now + 2 * G_TIME_SPAN_SECOND);
  EmberIceCandidate sel;
  g_assert_true (ember_ice_agent_get_selected (p->a, &sel, NULL));
  g_assert_cmpint (sel.addr.family, ==, EMBER_ADDR_IPV6);
  /* The v6 address goes away (e.g. its relay rebooted): the peer is told
   * and the connection moves to the other succeeded pair. */
  g_assert_true (ember_ice_agent_invalidate_local_candidate (p->a, p->now, &ca[1].addr));
  EmberIceEvent ev;
  gboolean told = FALSE;
  while (ember_ice_agent_poll_event (p->a, &ev))
    if (ev.type == EMBER_ICE_EVENT_INVALIDATE_CANDIDATE)
      told = ember_ice_addr_equal (&ev.candidate.addr, &ca[1].addr);
  g_assert_true (told);
  g_assert_true (ember_ice_agent_invalidate_remote_candidate (p->b, p->now, &ca[1].addr));
  run (p, p->now + 30 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_true (ember_ice_agent_get_selected (p->a, &sel, NULL));
  g_assert_cmpint (sel.addr.family, ==, EMBER_ADDR_IPV4);
  g_assert_true (ember_ice_agent_get_selected (p->b, &sel, NULL));
  g_assert_cmpint (sel.addr.family, ==, EMBER_ADDR_IPV4);
}

static void
test_role_conflict (Pair *p, gconstpointer data)
{
  (void) data;
  /* Both think they control; the larger tie-breaker keeps the role
   * (RFC 8445 §7.3.1.1), the other gets 487 or switches. */
  guint64 seed = 7;
  EmberIceRng r = { splitmix, &seed };
  ember_ice_agent_free (p->b);
  ember_ice_agent_free (p->a);
  guint64 seed2 = 8;
  EmberIceRng r2 = { splitmix, &seed2 };
  p->b = ember_ice_agent_new (EMBER_ICE_ROLE_CONTROLLING, &r, p->now);
  p->a = ember_ice_agent_new (EMBER_ICE_ROLE_CONTROLLING, &r2, p->now);
  g_assert_true (ember_ice_agent_set_remote_credentials (
      p->b, ember_ice_agent_get_local_ufrag (p->a), ember_ice_agent_get_local_pwd (p->a), NULL));
  g_assert_true (ember_ice_agent_set_remote_credentials (
      p->a, ember_ice_agent_get_local_ufrag (p->b), ember_ice_agent_get_local_pwd (p->b), NULL));
  ember_ice_agent_set_tie_breaker (p->a, 1000);
  ember_ice_agent_set_tie_breaker (p->b, 10);
  EmberIceCandidate ca = host ("10.0.0.1", 1000), cb = host ("10.0.0.2", 2000);
  exchange (p, &ca, 1, &cb, 1);

  /* a's request reaches b: b (smaller) switches to controlled and answers. */
  guint8 buf[512];
  EmberAddr from, to;
  ember_ice_agent_handle_timeout (p->a, p->now);
  gsize n = ember_ice_agent_poll_transmit (p->a, buf, sizeof buf, &from, &to);
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpint (ember_ice_agent_handle_input (p->b, p->now, &to, &from, buf, n), ==,
                   EMBER_ICE_INPUT_HANDLED);
  g_assert_cmpint (ember_ice_agent_get_role (p->b), ==, EMBER_ICE_ROLE_CONTROLLED);

  /* The reverse: a request from a controlling peer with a smaller
   * tie-breaker gets 487 from a controlling agent. */
  ember_ice_agent_set_tie_breaker (p->b, 5);
  EmberStunMessage msg;
  guint8 req[512];
  EmberAddr rf, rt;
  /* Make b controlling again by a role-conflict response path: build a
   * request by hand. */
  EmberStunBuilder bld;
  guint8 txid[12] = { 1, 2, 3 };
  char user[160];
  g_snprintf (user, sizeof user, "%s:%s", ember_ice_agent_get_local_ufrag (p->a),
              ember_ice_agent_get_local_ufrag (p->b));
  ember_stun_builder_init (&bld, req, sizeof req, EMBER_STUN_METHOD_BINDING,
                           EMBER_STUN_CLASS_REQUEST, txid);
  ember_stun_builder_add_string (&bld, EMBER_STUN_ATTR_USERNAME, user);
  ember_stun_builder_add_u32 (&bld, EMBER_STUN_ATTR_PRIORITY, 1);
  ember_stun_builder_add_u64 (&bld, EMBER_STUN_ATTR_ICE_CONTROLLING, 5);
  const char *pwd = ember_ice_agent_get_local_pwd (p->a);
  ember_stun_builder_add_integrity (&bld, (const guint8 *) pwd, strlen (pwd));
  ember_stun_builder_add_fingerprint (&bld);
  gsize rn = ember_stun_builder_finish (&bld, NULL);
  g_assert_cmpuint (rn, >, 0);
  while (ember_ice_agent_poll_transmit (p->a, buf, sizeof buf, &rf, &rt) > 0)
    ;
  g_assert_cmpint (ember_ice_agent_handle_input (p->a, p->now, &ca.addr, &cb.addr, req, rn), ==,
                   EMBER_ICE_INPUT_HANDLED);
  n = ember_ice_agent_poll_transmit (p->a, buf, sizeof buf, &rf, &rt);
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpint (ember_stun_message_parse (&msg, buf, n), ==, EMBER_STUN_OK);
  g_assert_cmpint (msg.klass, ==, EMBER_STUN_CLASS_ERROR);
  guint code = 0;
  const guint8 *reason;
  gsize reason_len;
  g_assert_cmpint (ember_stun_message_get_error_code (&msg, &code, &reason, &reason_len), ==,
                   EMBER_STUN_OK);
  g_assert_cmpuint (code, ==, 487);
  g_assert_cmpint (ember_ice_agent_get_role (p->a), ==, EMBER_ICE_ROLE_CONTROLLING);

  /* And they still connect. */
  run (p, p->now + 2 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CONNECTED);
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_CONNECTED);
}

static void
test_consent_lost (Pair *p, gconstpointer data)
{
  (void) data;
  EmberIceCandidate ca = host ("10.0.0.1", 1000), cb = host ("10.0.0.2", 2000);
  exchange (p, &ca, 1, &cb, 1);
  run (p, p->now + G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CONNECTED);
  gint64 cut = p->now;
  p->drop_all = TRUE;
  run (p, cut + EMBER_ICE_IDLE_TIMEOUT_US - 2 * G_TIME_SPAN_SECOND);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CONNECTED);
  run (p, cut + EMBER_ICE_IDLE_TIMEOUT_US + EMBER_ICE_KEEPALIVE_US * 2);
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_FAILED);
  g_assert_cmpint (ember_ice_agent_get_state (p->b), ==, EMBER_ICE_STATE_FAILED);
}

static void
test_garbage_input (Pair *p, gconstpointer data)
{
  (void) data;
  EmberAddr l = addr ("10.0.0.1", 1000), r = addr ("10.0.0.2", 2000);
  guint8 buf[300];
  guint64 s = 99;
  for (int i = 0; i < 2000; i++)
    {
      gsize n = splitmix (&s) % sizeof buf;
      for (gsize j = 0; j < n; j++)
        buf[j] = (guint8) splitmix (&s);
      if (n >= 8 && (i & 1))
        {
          buf[0] = 0; buf[1] = 1;  /* binding request */
          buf[4] = 0x21; buf[5] = 0x12; buf[6] = 0xa4; buf[7] = 0x42;
        }
      ember_ice_agent_handle_input (p->a, p->now, &l, &r, buf, n);
    }
  g_assert_cmpint (ember_ice_agent_get_state (p->a), ==, EMBER_ICE_STATE_CHECKING);
  /* Bad credentials from signalling are an error, not a crash. */
  g_assert_false (ember_ice_agent_set_remote_credentials (p->a, "a b", "x", NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ice/priority/candidate-rfc8445-formula", test_candidate_priority);
  g_test_add_func ("/ice/priority/pair-rfc8445-formula", test_pair_priority);
  g_test_add_func ("/ice/candidate/string-roundtrip-and-errors", test_candidate_string);
  g_test_add_func ("/ice/candidate/filter-host-addresses", test_filter_host);
  g_test_add_func ("/ice/candidate/sample-relay-uniform", test_sample_relay);
#define ADD(path, fn) g_test_add (path, Pair, NULL, pair_setup, fn, pair_teardown)
  ADD ("/ice/pairing/same-family-pruned-sorted", test_pairing);
  ADD ("/ice/agent/new-checks-are-paced-by-ta", test_checks_paced_by_ta);
  ADD ("/ice/checks/host-pair-connects-and-stays", test_connect_host);
  ADD ("/ice/checks/check-from-peer-retriggers-in-progress-pair-at-once",
       test_check_from_peer_retriggers_at_once);
  ADD ("/ice/checks/silent-pair-fails-after-retransmits", test_check_fails_after_retransmits);
  ADD ("/ice/nomination/no-new-candidates-after-nomination", test_no_candidates_after_nomination);
  ADD ("/ice/invalidation/selected-pair-fails-connection", test_invalidate_fails);
  ADD ("/ice/invalidation/falls-back-to-other-valid-pair", test_invalidate_local_falls_back);
  ADD ("/ice/role-conflict/tie-breaker-decides", test_role_conflict);
  ADD ("/ice/consent/idle-timeout-fails-both", test_consent_lost);
  ADD ("/ice/input/garbage-is-dropped", test_garbage_input);
  return g_test_run ();
}
