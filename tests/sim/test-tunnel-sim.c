/* The client and gateway tunnels in the simulator (tsim.h): named
 * scenarios from issue 12, then random fault sequences with invariants.
 * Virtual time; each run replays from its seed. */
#include <stdlib.h>
#include <string.h>

#include "tsim.h"

#define MS G_TIME_SPAN_MILLISECOND
#define S G_TIME_SPAN_SECOND
/* Documented bounds (docs/tunnel.md), with margin over what was measured. */
#define FIRST_PACKET_BOUND (5 * S)      /* first packet -> answered, healthy network */
#define RECOVER_BOUND (35 * S)          /* last fault -> every allowed packet answered */
#define ANSWER_BOUND (7 * S)            /* any packet once recovered: a handshake retransmit (5 s) + trips */
#define DISAGREE_BOUND (35 * S)         /* one side up, the other not */

/* EMBER_SIM_TRACE=1: debug messages of the tunnel and ICE, stamped with
 * virtual time, for replaying one seed. */
static TSim *traced;

static void
trace_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  (void) level;
  (void) data;
  if (traced != NULL)
    g_printerr ("[%9.3f] %s: %s\n", (double) tsim_now (traced) / G_TIME_SPAN_SECOND, domain, message);
}

static void
drop_handler (const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
  (void) domain;
  (void) level;
  (void) message;
  (void) data;
}

static TSim *
sim_new (gboolean nat, gboolean block, guint sites, guint64 seed)
{
  TSimConfig cfg;
  tsim_config_init (&cfg);
  if (nat)
    {
      cfg.client_mapping = SIM_NAT_ENDPOINT_INDEPENDENT;
      cfg.client_filtering = SIM_NAT_ADDRESS_DEPENDENT;
      cfg.gateway_mapping = SIM_NAT_ADDRESS_PORT_DEPENDENT;
      cfg.gateway_filtering = SIM_NAT_ADDRESS_PORT_DEPENDENT;
    }
  cfg.block_direct = block;
  cfg.n_sites = sites;
  TSim *sim = tsim_new (&cfg, seed);
  tsim_run_until (sim, 1 * S);  /* init, relays */
  return sim;
}

/* Runs until packet `id` has an outcome or `bound` passed; returns the
 * time it took, or -1. */
static gint64
await (TSim *sim, guint id, gint64 bound)
{
  gint64 start = tsim_now (sim);
  gint64 at;
  while (tsim_outcome (sim, id, &at) == TSIM_PENDING && tsim_now (sim) < start + bound)
    tsim_run_until (sim, tsim_now (sim) + 10 * MS);
  if (tsim_outcome (sim, id, &at) == TSIM_PENDING)
    return -1;
  return at - start;
}

static void
assert_no_leaks (TSim *sim)
{
  const char *what;
  if (tsim_leaks (sim, &what) != 0)
    g_error ("leak: %s", what);
}

static void
test_direct_path (void)
{
  TSim *sim = sim_new (FALSE, FALSE, 1, 1);
  guint id = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
  gint64 t = await (sim, id, FIRST_PACKET_BOUND);
  g_test_message ("first packet answered after %.3f s", (double) t / S);
  g_assert_cmpint (t, >, 0);
  g_assert_cmpint (tsim_outcome (sim, id, NULL), ==, TSIM_ANSWERED);
  TSimConnStatus st;
  tsim_conn_status (sim, 0, &st);
  g_assert_true (st.client_up);
  g_assert_false (st.relayed);
  /* Then straight through: one round trip. */
  tsim_run_until (sim, tsim_now (sim) + S);
  id = tsim_send (sim, TSIM_UDP, "10.20.0.6", 53);
  t = await (sim, id, S);
  g_assert_cmpint (t, >, 0);
  g_assert_cmpint (t, <, 200 * MS);
  id = tsim_send (sim, TSIM_TCP, "10.20.0.7", 443);
  g_assert_cmpint (await (sim, id, S), >, 0);
  g_assert_cmpint (tsim_outcome (sim, id, NULL), ==, TSIM_ANSWERED);
  assert_no_leaks (sim);
  tsim_free (sim);
}

static void
test_relayed_path (void)
{
  TSim *sim = sim_new (TRUE, TRUE, 1, 2);
  guint id = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
  gint64 t = await (sim, id, FIRST_PACKET_BOUND);
  g_test_message ("first packet answered after %.3f s (relayed)", (double) t / S);
  g_assert_cmpint (t, >, 0);
  TSimConnStatus st;
  tsim_conn_status (sim, 0, &st);
  g_assert_true (st.relayed);
  for (guint i = 0; i < 20; i++)
    {
      id = tsim_send (sim, TSIM_UDP, "10.20.0.9", 1000);
      g_assert_cmpint (await (sim, id, S), >, 0);
    }
  assert_no_leaks (sim);
  tsim_free (sim);
}

static void
test_two_resources_one_connection (void)
{
  TSim *sim = sim_new (TRUE, FALSE, 1, 3);
  guint a = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
  g_assert_cmpint (await (sim, a, FIRST_PACKET_BOUND), >, 0);
  TSimConnStatus st;
  tsim_conn_status (sim, 0, &st);
  guint gen = st.generation;
  guint b = tsim_send (sim, TSIM_ICMP, "10.21.0.5", 0);
  gint64 t = await (sim, b, FIRST_PACKET_BOUND);
  g_test_message ("second resource answered after %.3f s", (double) t / S);
  g_assert_cmpint (t, >, 0);
  g_assert_cmpint (t, <, 500 * MS);  /* no new ICE, no handshake */
  tsim_conn_status (sim, 0, &st);
  g_assert_cmpuint (st.n_client_conns, ==, 1);
  g_assert_cmpuint (st.generation, ==, gen);
  g_assert_cmpuint (tsim_authorizations (sim), ==, 2);
  assert_no_leaks (sim);
  tsim_free (sim);
}

static void
test_two_sites (void)
{
  TSim *sim = sim_new (TRUE, FALSE, 2, 4);
  guint a = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
  guint b = tsim_send (sim, TSIM_ICMP, "10.40.0.5", 0);
  g_assert_cmpint (await (sim, a, FIRST_PACKET_BOUND), >, 0);
  g_assert_cmpint (await (sim, b, FIRST_PACKET_BOUND), >=, 0);
  g_assert_cmpint (tsim_outcome (sim, b, NULL), ==, TSIM_ANSWERED);
  TSimConnStatus s0, s1;
  tsim_conn_status (sim, 0, &s0);
  tsim_conn_status (sim, 1, &s1);
  g_assert_cmpuint (s0.n_client_conns, ==, 2);
  g_assert_true (s0.client_up && s0.gateway_up && s1.client_up && s1.gateway_up);
  assert_no_leaks (sim);
  tsim_free (sim);
}

static void
test_not_in_policy (void)
{
  TSim *sim = sim_new (FALSE, FALSE, 1, 5);
  guint id = tsim_send (sim, TSIM_ICMP, "10.22.0.5", 0);
  gint64 t = await (sim, id, FIRST_PACKET_BOUND);
  g_test_message ("resource outside the policy refused after %.3f s", (double) t / S);
  g_assert_cmpint (t, >=, 0);
  g_assert_cmpint (tsim_outcome (sim, id, NULL), ==, TSIM_PROHIBITED);
  g_assert_cmpint (tsim_reached (sim, id), ==, 0);
  /* Covered by no resource: no route, at once. */
  id = tsim_send (sim, TSIM_UDP, "172.16.0.1", 53);
  g_assert_cmpint (await (sim, id, S), ==, 0);
  g_assert_cmpint (tsim_outcome (sim, id, NULL), ==, TSIM_NO_ROUTE);
  /* And over IPv6 the same words in ICMPv6. */
  id = tsim_send (sim, TSIM_ICMP, "fd00:99::1", 0);
  g_assert_cmpint (await (sim, id, S), ==, 0);
  g_assert_cmpint (tsim_outcome (sim, id, NULL), ==, TSIM_NO_ROUTE);
  g_assert_cmpuint (tsim_site_packets (sim), ==, 0);
  assert_no_leaks (sim);
  tsim_free (sim);
}

static void
test_filter_port (void)
{
  TSim *sim = sim_new (FALSE, FALSE, 1, 6);
  tsim_resource_set_filters (sim, TSIM_RES_WEB, "tcp:80;icmp");
  tsim_run_until (sim, tsim_now (sim) + S);
  guint ok = tsim_send (sim, TSIM_TCP, "10.20.0.5", 80);
  g_assert_cmpint (await (sim, ok, FIRST_PACKET_BOUND), >, 0);
  g_assert_cmpint (tsim_outcome (sim, ok, NULL), ==, TSIM_ANSWERED);
  guint ssh = tsim_send (sim, TSIM_TCP, "10.20.0.5", 22);
  g_assert_cmpint (await (sim, ssh, S), >, 0);
  g_assert_cmpint (tsim_outcome (sim, ssh, NULL), ==, TSIM_PROHIBITED);
  g_assert_cmpint (tsim_reached (sim, ssh), ==, 0);
  guint udp = tsim_send (sim, TSIM_UDP, "10.20.0.5", 80);
  g_assert_cmpint (await (sim, udp, S), >, 0);
  g_assert_cmpint (tsim_outcome (sim, udp, NULL), ==, TSIM_PROHIBITED);
  g_assert_cmpuint (tsim_gateway_refused (sim, 0), ==, 2);
  assert_no_leaks (sim);
  tsim_free (sim);
}

static void
test_revoked_mid_flow (void)
{
  TSim *sim = sim_new (TRUE, FALSE, 1, 7);
  guint first = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
  g_assert_cmpint (await (sim, first, FIRST_PACKET_BOUND), >, 0);
  /* 50 packets a second, the policy revoked after 30 of them; then one
   * every 200 ms (under the ICMP rate limit, 10/s) for 8 s. */
  guint ids[70];
  gint64 revoked = 0;
  for (guint i = 0; i < 70; i++)
    {
      if (i == 30)
        {
          tsim_policy_revoke (sim, TSIM_RES_WEB);
          revoked = tsim_now (sim);
        }
      ids[i] = tsim_send (sim, TSIM_UDP, "10.20.0.8", 9);
      tsim_run_until (sim, tsim_now (sim) + (i < 30 ? 20 : 200) * MS);
    }
  tsim_run_until (sim, tsim_now (sim) + 2 * S);
  /* The leak check (ground truth: what the gateway had been told at
   * that moment) found nothing; nothing sent after the revocation
   * reached the site once the gateway had been told (one portal
   * latency, 40 ms, plus the packet's own trip). */
  assert_no_leaks (sim);
  guint reached_late = 0, refused = 0;
  for (guint i = 30; i < 70; i++)
    {
      gint64 reached = tsim_reached (sim, ids[i]);
      if (reached > revoked + 100 * MS)
        reached_late++;
      TSimOutcome o = tsim_outcome (sim, ids[i], NULL);
      refused += o == TSIM_PROHIBITED || o == TSIM_NO_ROUTE;
      /* Otherwise it arrived before the gateway was told (its reply may
       * then have been refused on the way back). */
      if (o != TSIM_PROHIBITED && o != TSIM_NO_ROUTE)
        {
          g_assert_cmpint (reached, >, 0);
          g_assert_cmpint (reached, <=, revoked + 40 * MS);
        }
    }
  g_assert_cmpuint (reached_late, ==, 0);
  /* reject_access, then resource_deleted (no policy lists it any more):
   * the client answers with ICMP itself and nothing leaves. */
  g_test_message ("%u of 40 packets after the revocation answered with ICMP", refused);
  g_assert_cmpuint (refused, >=, 38);
  g_assert_cmpint (tsim_outcome (sim, ids[69], NULL), ==, TSIM_NO_ROUTE);
  tsim_free (sim);
}

static void
test_expiry (void)
{
  TSimConfig cfg;
  tsim_config_init (&cfg);
  cfg.authz_ttl = 30 * S;
  TSim *sim = tsim_new (&cfg, 8);
  traced = sim;
  tsim_run_until (sim, 1 * S);
  guint unanswered = 0;
  for (guint i = 0; i < 90; i++)
    {
      guint id = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
      if (await (sim, id, 5 * S) < 0 || tsim_outcome (sim, id, NULL) != TSIM_ANSWERED)
        unanswered++;
      tsim_run_until (sim, tsim_now (sim) + 500 * MS);
    }
  /* Three lifetimes: the client asked again each time. */
  g_test_message ("%u authorizations, %u of 90 packets not answered", tsim_authorizations (sim),
                  unanswered);
  g_assert_cmpuint (tsim_authorizations (sim), >=, 3);
  g_assert_cmpuint (unanswered, <=, 3);
  /* Unused, it expires on both sides (no renewal); the next packet asks
   * for a new one and is held meanwhile, not refused. */
  guint before = tsim_authorizations (sim);
  tsim_run_until (sim, tsim_now (sim) + 60 * S);
  guint id = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
  g_assert_cmpint (await (sim, id, 5 * S), >, 0);
  g_assert_cmpint (tsim_outcome (sim, id, NULL), ==, TSIM_ANSWERED);
  g_assert_cmpuint (tsim_authorizations (sim), ==, before + 1);
  assert_no_leaks (sim);
  traced = NULL;
  tsim_free (sim);
}

static void
test_spoofed_source (void)
{
  TSim *sim = sim_new (FALSE, FALSE, 1, 9);
  guint id = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
  g_assert_cmpint (await (sim, id, FIRST_PACKET_BOUND), >, 0);
  guint spoof = tsim_send_spoofed (sim, "100.64.0.99", "10.20.0.5");
  tsim_run_until (sim, tsim_now (sim) + S);
  g_assert_cmpint (tsim_reached (sim, spoof), ==, 0);
  g_assert_cmpuint (tsim_gateway_refused (sim, 0), ==, 1);
  assert_no_leaks (sim);
  tsim_free (sim);
}

/* Seed 000 at tunnel level: relayed connection; the client is cut from
 * the portal, a relay disappears, another appears, one reboots, the
 * client reconnects: traffic flows again and both sides agree. */
static void
test_seed_000 (void)
{
  TSim *sim = sim_new (TRUE, TRUE, 1, 10);
  guint id = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
  g_assert_cmpint (await (sim, id, FIRST_PACKET_BOUND), >, 0);
  gint64 t = tsim_now (sim);
  tsim_portal_partition (sim, TRUE);
  tsim_run_until (sim, t + 1 * S);
  tsim_relay_remove (sim, 1);
  tsim_run_until (sim, t + 2 * S);
  tsim_relay_add (sim);
  tsim_run_until (sim, t + 3 * S);
  tsim_relay_reboot (sim, 0);
  tsim_run_until (sim, t + 5 * S);
  tsim_portal_partition (sim, FALSE);
  gint64 healed = tsim_now (sim);
  gint64 recovered = -1;
  while (tsim_now (sim) < healed + RECOVER_BOUND && recovered < 0)
    {
      id = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
      if (await (sim, id, S) >= 0 && tsim_outcome (sim, id, NULL) == TSIM_ANSWERED)
        recovered = tsim_now (sim) - healed;
    }
  g_test_message ("traffic again %.2f s after the reconnect; longest disagreement %.2f s",
                  (double) recovered / S, (double) tsim_max_disagreement (sim) / S);
  g_assert_cmpint (recovered, >=, 0);
  tsim_run_until (sim, tsim_now (sim) + 60 * S);
  TSimConnStatus st;
  tsim_conn_status (sim, 0, &st);
  g_assert_true (st.client_up && st.gateway_up);
  g_assert_cmpint (tsim_max_disagreement (sim), <=, DISAGREE_BOUND);
  assert_no_leaks (sim);
  tsim_free (sim);
}

static const char *
tsim_proto_name (TSimProto p)
{
  return p == TSIM_ICMP ? "icmp" : p == TSIM_UDP ? "udp" : "tcp";
}

/* ---- random transitions -------------------------------------------------- */

typedef enum {
  F_RESOURCE_TOGGLE = 0, F_FILTERS, F_POLICY_TOGGLE, F_ROAM, F_PORTAL_CUT, F_PORTAL_RESTART,
  F_RELAY_REBOOT, F_RELAY_ADD, F_RELAY_REMOVE, F_GATEWAY_RESTART, F_INTERNET, F_DIRECT_CUT,
  F_NAT_REBIND, F_CANDIDATE_LOSS, N_FAULTS
} Fault;

static const char *fault_names[N_FAULTS] = {
  "resource-toggle", "filters", "policy-toggle", "roam", "portal-cut", "portal-restart",
  "relay-reboot", "relay-add", "relay-remove", "gateway-restart", "internet", "direct-cut",
  "nat-rebind", "candidate-loss",
};

/* What the test believes the portal's state is (it made every change). */
typedef struct {
  gboolean present[TSIM_N_RES];
  gboolean allowed[TSIM_N_RES];
  gboolean filtered;          /* web: "tcp:80;icmp" */
  gboolean internet;          /* switched on at the client */
  guint n_sites;
} Model;

typedef struct {
  const char *dst;
  TSimResource res;           /* TSIM_N_RES: covered by no resource */
  TSimProto proto;
  guint16 port;
} Target;

static const Target targets[] = {
  { "10.20.0.5", TSIM_RES_WEB, TSIM_ICMP, 0 },
  { "10.20.0.6", TSIM_RES_WEB, TSIM_TCP, 80 },
  { "10.20.0.7", TSIM_RES_WEB, TSIM_TCP, 22 },
  { "10.20.0.8", TSIM_RES_WEB, TSIM_UDP, 53 },
  { "10.21.0.5", TSIM_RES_DB, TSIM_TCP, 5432 },
  { "10.22.0.5", TSIM_RES_SECRET, TSIM_ICMP, 0 },
  { "10.40.0.5", TSIM_RES_FAR, TSIM_UDP, 9 },
  { "fd00:20::5", TSIM_RES_V6, TSIM_ICMP, 0 },
  { "fd00:20::6", TSIM_RES_V6, TSIM_TCP, 443 },
  { "198.18.0.1", TSIM_RES_INTERNET, TSIM_UDP, 443 },
  { "172.16.0.1", TSIM_N_RES, TSIM_ICMP, 0 },
};

/* Whether a packet to `tg` must be answered by the resource (the portal
 * allows it and nothing refuses it on the way). */
static gboolean
must_answer (const Model *m, const Target *tg)
{
  if (tg->res == TSIM_N_RES || tg->res == TSIM_RES_SECRET)
    return FALSE;
  if (tg->res == TSIM_RES_INTERNET)
    return m->internet && m->present[TSIM_RES_INTERNET] && m->allowed[TSIM_RES_INTERNET];
  if (tsim_res_site_of (tg->res) >= m->n_sites || !m->present[tg->res] || !m->allowed[tg->res])
    return FALSE;
  if (tg->res == TSIM_RES_WEB && m->filtered)
    return tg->proto == TSIM_ICMP || (tg->proto == TSIM_TCP && tg->port == 80);
  return TRUE;
}

typedef struct {
  gint64 connect;             /* first packet answered */
  gint64 worst_answer;        /* worst answer time of a packet sent once faults settled */
  gint64 recover[N_FAULTS];   /* worst: last fault of this kind -> traffic answered again */
  gint64 disagreement;
  guint packets;
} RandomResult;

#define SETTLE (50 * S)        /* traffic checked for this long after the last fault */

static char *
run_random (guint64 seed, RandomResult *res)
{
  SimRng rng;
  sim_rng_seed (&rng, seed ^ G_GUINT64_CONSTANT (0x7a11dead5eed));
  static const SimNatKind kinds[] = { SIM_NAT_NONE, SIM_NAT_ENDPOINT_INDEPENDENT,
                                      SIM_NAT_ADDRESS_DEPENDENT, SIM_NAT_ADDRESS_PORT_DEPENDENT };
  TSimConfig cfg;
  tsim_config_init (&cfg);
  /* Filtering at least as strict as mapping, as docs/ice.md's random
   * scenarios do (a symmetric mapping with open filtering breeds a
   * peer-reflexive candidate per path: a known limit). */
  cfg.client_mapping = kinds[sim_rng_below (&rng, 4)];
  SimNatKind cf = kinds[1 + sim_rng_below (&rng, 3)];
  cfg.gateway_mapping = kinds[sim_rng_below (&rng, 4)];
  SimNatKind gf = kinds[1 + sim_rng_below (&rng, 3)];
  cfg.client_filtering = cfg.client_mapping == SIM_NAT_NONE ? SIM_NAT_NONE : MAX (cfg.client_mapping, cf);
  cfg.gateway_filtering = cfg.gateway_mapping == SIM_NAT_NONE ? SIM_NAT_NONE : MAX (cfg.gateway_mapping, gf);
  cfg.block_direct = sim_rng_chance (&rng, 0.3);
  cfg.loss = sim_rng_chance (&rng, 0.3) ? 0.01 : 0.0;
  cfg.n_relays = 1 + (guint) sim_rng_below (&rng, 3);
  cfg.n_sites = 1 + (guint) sim_rng_below (&rng, 2);
  cfg.authz_ttl = sim_rng_chance (&rng, 0.2) ? 45 * S : 3600 * S;
  TSim *sim = tsim_new (&cfg, seed);
  traced = sim;
  Model m = { .n_sites = cfg.n_sites };
  for (guint r = 0; r < TSIM_N_RES; r++)
    {
      m.present[r] = TRUE;
      m.allowed[r] = r != TSIM_RES_SECRET;
    }
  memset (res, 0, sizeof *res);
  for (guint f = 0; f < N_FAULTS; f++)
    res->recover[f] = -1;
  res->connect = -1;

  GString *log = g_string_new (NULL);
  char *failure = NULL;
  tsim_run_until (sim, 1 * S);
  /* One packet a second until one is answered (1 % loss may eat one). */
  gint64 start = tsim_now (sim);
  guint first[15];
  for (guint i = 0; i < 15 && res->connect < 0; i++)
    {
      first[i] = tsim_send (sim, TSIM_ICMP, "10.20.0.5", 0);
      tsim_run_until (sim, tsim_now (sim) + S);
      for (guint k = 0; k <= i && res->connect < 0; k++)
        {
          gint64 at;
          if (tsim_outcome (sim, first[k], &at) == TSIM_ANSWERED)
            res->connect = at - start;
        }
    }
  if (res->connect < 0)
    {
      failure = g_strdup_printf ("no packet answered within 15 s (first: %s; client nat %d/%d, "
                                 "gateway nat %d/%d, block %d, loss %.2f, relays %u, sites %u)",
                                 tsim_outcome_to_string (tsim_outcome (sim, first[0], NULL)),
                                 cfg.client_mapping, cfg.client_filtering, cfg.gateway_mapping,
                                 cfg.gateway_filtering, cfg.block_direct, cfg.loss, cfg.n_relays,
                                 cfg.n_sites);
      goto out;
    }

  /* Faults, with traffic throughout; a cut heals after 1-15 s. */
  guint n_faults = 1 + (guint) sim_rng_below (&rng, 6);
  gint64 t = tsim_now (sim);
  gint64 last_fault = t;
  Fault last_kind = N_FAULTS;
  guint sent_ids[4096];
  gint64 sent_at[4096];
  gboolean sent_must[4096];
  const Target *sent_tg[4096];
  guint n_sent = 0;
  gint64 heal_at = 0;
  gint heal_kind = -1;
  gint64 next_fault = t + (gint64) sim_rng_below (&rng, 10 * S);
  guint faults_done = 0;
  gint64 end = G_MAXINT64;
  for (;;)
    {
      t += (gint64) (150 + sim_rng_below (&rng, 350)) * MS;
      if (faults_done == n_faults && heal_at == 0 && end == G_MAXINT64)
        {
          /* Loss is a fault too: the network is clean once faults settle. */
          end = last_fault + SETTLE;
          tsim_set_loss (sim, 0.0);
        }
      if (t > end)
        break;
      tsim_run_until (sim, t);
      const char *what;
      if (tsim_leaks (sim, &what) > 0)
        {
          failure = g_strdup_printf ("leak: %s;%s", what, log->str);
          goto out;
        }
      if (heal_at != 0 && t >= heal_at)
        {
          if (heal_kind == F_PORTAL_CUT)
            tsim_portal_partition (sim, FALSE);
          else
            tsim_partition_direct (sim, FALSE);
          heal_at = 0;
          last_fault = t;
        }
      if (faults_done < n_faults && heal_at == 0 && t >= next_fault)
        {
          Fault f = (Fault) sim_rng_below (&rng, N_FAULTS);
          TSimResource r = (TSimResource) sim_rng_below (&rng, TSIM_N_RES);
          guint relay = (guint) sim_rng_below (&rng, tsim_n_relays (sim));
          switch (f)
            {
            case F_RESOURCE_TOGGLE:
              if (r == TSIM_RES_SECRET)
                break;
              m.present[r] = !m.present[r];
              if (m.present[r])
                tsim_resource_add (sim, r);
              else
                tsim_resource_remove (sim, r);
              break;
            case F_FILTERS:
              m.filtered = !m.filtered;
              tsim_resource_set_filters (sim, TSIM_RES_WEB, m.filtered ? "tcp:80;icmp" : "");
              break;
            case F_POLICY_TOGGLE:
              if (r == TSIM_RES_SECRET)
                break;
              m.allowed[r] = !m.allowed[r];
              if (m.allowed[r])
                tsim_policy_grant (sim, r);
              else
                tsim_policy_revoke (sim, r);
              break;
            case F_ROAM:
              tsim_client_roam (sim);
              break;
            case F_PORTAL_CUT:
              tsim_portal_partition (sim, TRUE);
              heal_at = t + (gint64) (1 + sim_rng_below (&rng, 15)) * S;
              heal_kind = f;
              break;
            case F_PORTAL_RESTART:
              tsim_portal_restart (sim);
              break;
            case F_RELAY_REBOOT:
              tsim_relay_reboot (sim, relay);
              break;
            case F_RELAY_ADD:
              if (tsim_n_relays (sim) < 8)
                tsim_relay_add (sim);
              break;
            case F_RELAY_REMOVE:
              {
                guint present = 0;
                for (guint i = 0; i < tsim_n_relays (sim); i++)
                  present += tsim_relay_present (sim, i);
                /* Never the last one: a blocked path then cannot connect at all. */
                if (present > 1)
                  tsim_relay_remove (sim, relay);
                break;
              }
            case F_GATEWAY_RESTART:
              tsim_gateway_restart (sim, (guint) sim_rng_below (&rng, cfg.n_sites));
              break;
            case F_INTERNET:
              m.internet = !m.internet;
              tsim_internet_enable (sim, m.internet);
              break;
            case F_DIRECT_CUT:
              tsim_partition_direct (sim, TRUE);
              heal_at = t + (gint64) (1 + sim_rng_below (&rng, 15)) * S;
              heal_kind = f;
              break;
            case F_NAT_REBIND:
              tsim_nat_rebind (sim, sim_rng_chance (&rng, 0.5));
              break;
            case F_CANDIDATE_LOSS:
              tsim_portal_lose_next_candidate (sim, sim_rng_chance (&rng, 0.5));
              break;
            case N_FAULTS:
              break;
            }
          g_string_append_printf (log, " %.1fs:%s", (double) t / S, fault_names[f]);
          faults_done++;
          last_fault = t;
          last_kind = f;
          next_fault = t + (gint64) sim_rng_below (&rng, 12 * S);
        }
      /* Traffic: one packet to a random target. */
      const Target *tg = &targets[sim_rng_below (&rng, G_N_ELEMENTS (targets))];
      if (n_sent < G_N_ELEMENTS (sent_ids))
        {
          sent_ids[n_sent] = tsim_send (sim, tg->proto, tg->dst, tg->port);
          sent_at[n_sent] = t;
          sent_must[n_sent] = must_answer (&m, tg);
          sent_tg[n_sent] = tg;
          n_sent++;
        }
    }
  /* Let the last packets have their answers. */
  tsim_run_until (sim, tsim_now (sim) + ANSWER_BOUND + S);
  res->packets = n_sent;

  /* Once faults settled (the last one, or its heal): recovery is the time
   * after which every packet to an allowed resource was answered within
   * ANSWER_BOUND; it must stay under RECOVER_BOUND, and from then on
   * every packet gets its outcome (answer or ICMP) within ANSWER_BOUND. */
  gint64 recovered = 0;
  for (guint i = 0; i < n_sent; i++)
    {
      if (sent_at[i] < last_fault)
        continue;
      gint64 at;
      TSimOutcome o = tsim_outcome (sim, sent_ids[i], &at);
      gboolean late = o == TSIM_PENDING || at - sent_at[i] > ANSWER_BOUND
                      || (sent_must[i] && o != TSIM_ANSWERED);
      if (late)
        recovered = MAX (recovered, sent_at[i] - last_fault + 1);
      if (!late || sent_at[i] - last_fault < RECOVER_BOUND)
        {
          if (!late)
            res->worst_answer = MAX (res->worst_answer, at - sent_at[i]);
          continue;
        }
      failure = g_strdup_printf ("packet %u (%s %s:%u) sent %.1f s after the last fault: %s after "
                                 "%.1f s (allowed: %s);%s",
                                 sent_ids[i], tsim_proto_name (sent_tg[i]->proto), sent_tg[i]->dst,
                                 sent_tg[i]->port, (double) (sent_at[i] - last_fault) / S,
                                 tsim_outcome_to_string (o),
                                 o == TSIM_PENDING ? -1.0 : (double) (at - sent_at[i]) / S,
                                 sent_must[i] ? "yes" : "no", log->str);
      goto out;
    }
  if (last_kind != N_FAULTS)
    res->recover[last_kind] = recovered;
  res->disagreement = tsim_max_disagreement (sim);
  if (res->disagreement > DISAGREE_BOUND)
    failure = g_strdup_printf ("client and gateway disagreed for %.1f s;%s",
                               (double) res->disagreement / S, log->str);
out:
  if (failure != NULL && g_getenv ("EMBER_SIM_DUMP") != NULL)
    tsim_dump (sim);
  g_string_free (log, TRUE);
  traced = NULL;
  tsim_free (sim);
  return failure;
}

static guint64
env_u64 (const char *name, guint64 def)
{
  const char *v = g_getenv (name);
  return v != NULL && *v != '\0' ? g_ascii_strtoull (v, NULL, 10) : def;
}

static void
test_random (void)
{
  guint64 base = env_u64 ("EMBER_SIM_SEED_BASE", 0);
  guint64 count = env_u64 ("EMBER_SIM_SEEDS", 2000);
  RandomResult worst = { .connect = 0 };
  for (guint f = 0; f < N_FAULTS; f++)
    worst.recover[f] = -1;
  guint failures = 0;
  guint64 packets = 0;
  gint64 started = g_get_monotonic_time ();
  for (guint64 seed = base; seed < base + count; seed++)
    {
      RandomResult r;
      g_autofree char *failure = run_random (seed, &r);
      if (failure != NULL)
        {
          failures++;
          g_printerr ("tunnel-sim: seed %" G_GUINT64_FORMAT " FAILED: %s\n"
                      "  replay: EMBER_SIM_SEED_BASE=%" G_GUINT64_FORMAT " EMBER_SIM_SEEDS=1 "
                      "tests/sim/test-tunnel-sim -p /tunnel-sim/random\n",
                      seed, failure, seed);
          continue;
        }
      packets += r.packets;
      worst.connect = MAX (worst.connect, r.connect);
      worst.worst_answer = MAX (worst.worst_answer, r.worst_answer);
      worst.disagreement = MAX (worst.disagreement, r.disagreement);
      for (guint f = 0; f < N_FAULTS; f++)
        worst.recover[f] = MAX (worst.recover[f], r.recover[f]);
    }
  g_test_message ("%" G_GUINT64_FORMAT " seeds, %" G_GUINT64_FORMAT " packets in %.1f s wall: "
                  "worst first packet %.2f s, worst answer once settled %.2f s, worst "
                  "disagreement %.2f s, %u failed",
                  count, packets, (double) (g_get_monotonic_time () - started) / S,
                  (double) worst.connect / S, (double) worst.worst_answer / S,
                  (double) worst.disagreement / S, failures);
  for (guint f = 0; f < N_FAULTS; f++)
    if (worst.recover[f] >= 0)
      g_test_message ("  recovery after %s (last fault): %.2f s", fault_names[f],
                      (double) worst.recover[f] / S);
  g_assert_cmpuint (failures, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Debug messages of the machines: stamped with virtual time on
   * EMBER_SIM_TRACE, else dropped (thousands of seeds). */
  static const char *domains[] = { "ember-tunnel", "ember-ice", "ember-turn", "ember-wg", "ember-relay" };
  gboolean trace = g_getenv ("EMBER_SIM_TRACE") != NULL;
  for (guint i = 0; i < G_N_ELEMENTS (domains); i++)
    g_log_set_handler (domains[i], G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO,
                       trace ? trace_handler : drop_handler, NULL);
  g_test_add_func ("/tunnel-sim/direct-path", test_direct_path);
  g_test_add_func ("/tunnel-sim/relayed-path-when-udp-is-blocked", test_relayed_path);
  g_test_add_func ("/tunnel-sim/two-resources-on-one-gateway-share-one-connection",
                   test_two_resources_one_connection);
  g_test_add_func ("/tunnel-sim/two-sites-two-gateways", test_two_sites);
  g_test_add_func ("/tunnel-sim/resource-not-in-policy-gets-icmp-prohibited", test_not_in_policy);
  g_test_add_func ("/tunnel-sim/filter-allows-tcp-80-and-refuses-tcp-22", test_filter_port);
  g_test_add_func ("/tunnel-sim/policy-revoked-mid-flow-stops-at-delivery", test_revoked_mid_flow);
  g_test_add_func ("/tunnel-sim/authorization-expiry-asks-again", test_expiry);
  g_test_add_func ("/tunnel-sim/spoofed-source-is-dropped-at-the-gateway", test_spoofed_source);
  g_test_add_func ("/tunnel-sim/seed-000-partition-relay-churn-reboot", test_seed_000);
  g_test_add_func ("/tunnel-sim/random/transitions-keep-the-invariants", test_random);
  return g_test_run ();
}
