/* Simulator scenarios: the ICE agent, the TURN client and the real
 * ember-relay core under NATs, firewalls, relay churn and partitions.
 * Virtual time; each scenario replays from its seed. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define S G_TIME_SPAN_SECOND
/* Documented bounds (docs/ice.md), with margin over what was measured. */
#define CONNECT_BOUND (15 * S)    /* first connection */
#define RECOVER_BOUND (45 * S)    /* after the last fault heals */
#define MISMATCH_BOUND (20 * S)   /* one side connected, the other not */

static SimWorld *
world (SimNatKind cm, SimNatKind cf, SimNatKind gm, SimNatKind gf, gboolean block, guint relays,
       guint64 seed)
{
  SimWorldConfig cfg;
  sim_world_config_init (&cfg);
  cfg.client_mapping = cm;
  cfg.client_filtering = cf;
  cfg.gateway_mapping = gm;
  cfg.gateway_filtering = gf;
  cfg.block_direct = block;
  cfg.n_relays = relays;
  return sim_world_new (&cfg, seed);
}

static void
connect_and_check (SimWorld *w, SimNodeStatus *c, SimNodeStatus *g)
{
  sim_world_connect (w);
  sim_world_run_until (w, CONNECT_BOUND);
  sim_world_status (w, TRUE, c);
  sim_world_status (w, FALSE, g);
  g_test_message ("connected after %.2f s: client %s -> %s, gateway %s -> %s",
                  (double) sim_world_first_healthy (w) / S, sim_pair_kind_to_string (c->local_kind),
                  sim_pair_kind_to_string (c->remote_kind), sim_pair_kind_to_string (g->local_kind),
                  sim_pair_kind_to_string (g->remote_kind));
  g_assert_true (sim_world_healthy (w));
  g_assert_cmpint (sim_world_first_healthy (w), >, 0);
  g_assert_cmpuint (c->generation, ==, g->generation);
}

static void
test_open_internet (void)
{
  SimWorld *w = world (SIM_NAT_NONE, SIM_NAT_NONE, SIM_NAT_NONE, SIM_NAT_NONE, FALSE, 2, 1);
  SimNodeStatus c, g;
  connect_and_check (w, &c, &g);
  g_assert_cmpint (c.local_kind, ==, SIM_PAIR_HOST);
  g_assert_cmpint (c.remote_kind, ==, SIM_PAIR_HOST);
  g_assert_cmpuint (c.restarts, ==, 1);
  sim_world_free (w);
}

static void
test_both_eim_nat (void)
{
  SimWorld *w = world (SIM_NAT_ENDPOINT_INDEPENDENT, SIM_NAT_ADDRESS_PORT_DEPENDENT,
                       SIM_NAT_ENDPOINT_INDEPENDENT, SIM_NAT_ADDRESS_PORT_DEPENDENT, FALSE, 2, 2);
  SimNodeStatus c, g;
  connect_and_check (w, &c, &g);
  g_assert_cmpint (c.local_kind, ==, SIM_PAIR_SRFLX);
  g_assert_cmpint (g.local_kind, ==, SIM_PAIR_SRFLX);
  sim_world_free (w);
}

static void
test_both_symmetric_nat (void)
{
  SimWorld *w = world (SIM_NAT_ADDRESS_PORT_DEPENDENT, SIM_NAT_ADDRESS_PORT_DEPENDENT,
                       SIM_NAT_ADDRESS_PORT_DEPENDENT, SIM_NAT_ADDRESS_PORT_DEPENDENT, FALSE, 2, 3);
  SimNodeStatus c, g;
  connect_and_check (w, &c, &g);
  g_assert_true (c.local_kind == SIM_PAIR_RELAY || c.remote_kind == SIM_PAIR_RELAY);
  g_assert_true (g.local_kind == SIM_PAIR_RELAY || g.remote_kind == SIM_PAIR_RELAY);
  sim_world_free (w);
}

static void
test_udp_blocked (void)
{
  SimWorld *w = world (SIM_NAT_NONE, SIM_NAT_NONE, SIM_NAT_NONE, SIM_NAT_NONE, TRUE, 1, 4);
  SimNodeStatus c, g;
  connect_and_check (w, &c, &g);
  g_assert_true (c.local_kind == SIM_PAIR_RELAY || c.remote_kind == SIM_PAIR_RELAY);
  sim_world_free (w);
}

/* Seed 000, step by step: client samples relay A, gateway relay B, the
 * nominated pair is client-srflx <=> relay B; then the client is cut
 * from the portal, B disappears, C appears, A reboots, the client
 * reconnects. Both sides must converge on a working connection, and
 * never disagree about being connected for longer than the bound. */
static void
test_seed_000 (void)
{
  SimWorld *w = world (SIM_NAT_ENDPOINT_INDEPENDENT, SIM_NAT_ADDRESS_DEPENDENT,
                       SIM_NAT_ADDRESS_PORT_DEPENDENT, SIM_NAT_ADDRESS_PORT_DEPENDENT, TRUE, 2, 5);
  sim_world_force_relay (w, TRUE, 0);   /* A */
  sim_world_force_relay (w, FALSE, 1);  /* B */
  SimNodeStatus c, g;
  connect_and_check (w, &c, &g);
  g_assert_cmpint (c.local_kind, ==, SIM_PAIR_SRFLX);
  g_assert_cmpint (c.remote_kind, ==, SIM_PAIR_RELAY);
  g_assert_cmpint (c.remote_relay, ==, 1);
  guint gen = c.generation;

  gint64 t = sim_world_now (w);
  sim_world_force_relay (w, TRUE, -1);
  sim_world_force_relay (w, FALSE, -1);
  sim_world_partition_client_portal (w, TRUE);            /* 1 */
  sim_world_run_until (w, t + 1 * S);
  sim_world_remove_relay (w, 1);                          /* 2: B gone */
  sim_world_run_until (w, t + 2 * S);
  guint relay_c = sim_world_add_relay (w);                /* 3: C */
  g_assert_cmpuint (relay_c, ==, 2);
  sim_world_run_until (w, t + 3 * S);
  sim_world_reboot_relay (w, 0);                          /* 4: A reboots */
  sim_world_run_until (w, t + 5 * S);
  gint64 healed = sim_world_now (w);
  sim_world_partition_client_portal (w, FALSE);           /* 5: reconnect */

  gint64 recovered = 0;
  for (gint64 step = healed; step <= healed + RECOVER_BOUND; step += S / 4)
    {
      sim_world_run_until (w, step);
      sim_world_status (w, TRUE, &c);
      if (sim_world_healthy (w) && c.generation > gen)
        {
          recovered = step;
          break;
        }
    }
  sim_world_status (w, TRUE, &c);
  sim_world_status (w, FALSE, &g);
  g_test_message ("recovered %.2f s after the reconnect (gen %u -> %u), %s -> %s; "
                  "longest one-sided state %.2f s",
                  (double) (recovered - healed) / S, gen, c.generation,
                  sim_pair_kind_to_string (c.local_kind), sim_pair_kind_to_string (c.remote_kind),
                  (double) sim_world_max_mismatch (w) / S);
  g_assert_cmpint (recovered, >, 0);
  g_assert_cmpint (sim_world_max_mismatch (w), <=, MISMATCH_BOUND);
  /* It stays up. */
  sim_world_run_until (w, sim_world_now (w) + 60 * S);
  g_assert_true (sim_world_healthy (w));
  sim_world_free (w);
}

/* One random scenario: returns NULL on success, else what failed. */
static char *
run_random (guint64 seed, gint64 *connect_time, gint64 *recover_time, gint64 *mismatch)
{
  SimRng rng;
  sim_rng_seed (&rng, seed ^ 0x5eed5eed5eedull);
  static const SimNatKind kinds[] = { SIM_NAT_NONE, SIM_NAT_ENDPOINT_INDEPENDENT,
                                      SIM_NAT_ADDRESS_DEPENDENT, SIM_NAT_ADDRESS_PORT_DEPENDENT };
  SimWorldConfig cfg;
  sim_world_config_init (&cfg);
  cfg.client_mapping = kinds[sim_rng_below (&rng, 4)];
  SimNatKind cf = kinds[1 + sim_rng_below (&rng, 3)];
  SimNatKind gf = kinds[1 + sim_rng_below (&rng, 3)];
  /* Filtering at least as strict as mapping (RFC 4787 §5: a symmetric
   * mapping with open filtering is rare, and breeds a peer-reflexive
   * candidate per path; see docs/ice.md, known limits). */
  cfg.client_filtering = cfg.client_mapping == SIM_NAT_NONE
                             ? SIM_NAT_NONE
                             : MAX (cfg.client_mapping, cf);
  cfg.gateway_mapping = kinds[sim_rng_below (&rng, 4)];
  cfg.gateway_filtering = cfg.gateway_mapping == SIM_NAT_NONE
                              ? SIM_NAT_NONE
                              : MAX (cfg.gateway_mapping, gf);
  cfg.block_direct = sim_rng_chance (&rng, 0.3);
  cfg.loss = sim_rng_chance (&rng, 0.3) ? 0.01 : 0.0;
  cfg.n_relays = 1 + (guint) sim_rng_below (&rng, 3);
  SimWorld *w = sim_world_new (&cfg, seed);
  sim_world_connect (w);
  sim_world_run_until (w, CONNECT_BOUND);
  *connect_time = sim_world_first_healthy (w);
  if (!sim_world_healthy (w))
    {
      SimNodeStatus c, g;
      if (g_getenv ("EMBER_SIM_DUMP") != NULL)
        sim_world_dump (w);
      sim_world_status (w, TRUE, &c);
      sim_world_status (w, FALSE, &g);
      sim_world_free (w);
      return g_strdup_printf ("not connected within the connect bound (client nat %d/%d, "
                              "gateway nat %d/%d, block %d, loss %.2f, relays %u; client %s gen %u "
                              "restarts %u, gateway %s gen %u)",
                              cfg.client_mapping, cfg.client_filtering, cfg.gateway_mapping,
                              cfg.gateway_filtering, cfg.block_direct, cfg.loss, cfg.n_relays,
                              c.connected ? "connected" : "not connected", c.generation,
                              c.restarts, g.connected ? "connected" : "not connected",
                              g.generation);
    }

  /* Faults in the next 60 s; partitions heal within 15 s. */
  gboolean alive[8] = { FALSE };
  guint present = cfg.n_relays, total = cfg.n_relays;
  for (guint i = 0; i < total; i++)
    alive[i] = TRUE;
  gint64 t = sim_world_now (w);
  gint64 last_fault = t;
  guint n_faults = 1 + (guint) sim_rng_below (&rng, 5);
  GString *log = g_string_new (NULL);
  for (guint i = 0; i < n_faults; i++)
    {
      t += (gint64) sim_rng_below (&rng, 12 * S);
      sim_world_run_until (w, t);
      guint what = (guint) sim_rng_below (&rng, 8);
      guint relay = (guint) sim_rng_below (&rng, total);
      gint64 heal = t + (gint64) (1 + sim_rng_below (&rng, 15)) * S;
      switch (what)
        {
        case 0:
          if (total < 8)
            {
              alive[sim_world_add_relay (w)] = TRUE;
              present++, total++;
              g_string_append_printf (log, " %.1fs:add-relay", (double) t / S);
            }
          break;
        case 1:
          /* Never the last one: with every relay gone a blocked pair
           * cannot connect at all, which is not a bug. */
          if (present > 1 && alive[relay])
            {
              sim_world_remove_relay (w, relay);
              alive[relay] = FALSE;
              present--;
              g_string_append_printf (log, " %.1fs:remove-relay-%u", (double) t / S, relay);
            }
          break;
        case 2:
          sim_world_reboot_relay (w, relay);
          g_string_append_printf (log, " %.1fs:reboot-relay-%u", (double) t / S, relay);
          break;
        case 3:
          sim_world_partition_client_portal (w, TRUE);
          sim_world_run_until (w, heal);
          sim_world_partition_client_portal (w, FALSE);
          g_string_append_printf (log, " %.1fs:portal-cut", (double) t / S);
          break;
        case 4:
          sim_world_partition_direct (w, TRUE);
          sim_world_run_until (w, heal);
          sim_world_partition_direct (w, FALSE);
          g_string_append_printf (log, " %.1fs:direct-cut", (double) t / S);
          break;
        case 5:
          {
            gboolean client = sim_rng_chance (&rng, 0.5);
            sim_world_partition_node_relay (w, client, relay, TRUE);
            sim_world_run_until (w, heal);
            sim_world_partition_node_relay (w, client, relay, FALSE);
            g_string_append_printf (log, " %.1fs:relay-cut-%u", (double) t / S, relay);
            break;
          }
        case 6:
          sim_world_nat_rebind (w, sim_rng_chance (&rng, 0.5));
          g_string_append_printf (log, " %.1fs:nat-rebind", (double) t / S);
          break;
        case 7:
          sim_world_lose_next_candidate (w, sim_rng_chance (&rng, 0.5));
          sim_world_nat_rebind (w, sim_rng_chance (&rng, 0.5));
          g_string_append_printf (log, " %.1fs:candidate-loss", (double) t / S);
          break;
        }
      t = MAX (t, sim_world_now (w));
      last_fault = t;
    }

  *recover_time = -1;
  char *failure = NULL;
  for (gint64 step = last_fault; step <= last_fault + RECOVER_BOUND; step += S / 2)
    {
      sim_world_run_until (w, step);
      if (sim_world_healthy (w))
        {
          /* Healthy must also last: 30 s more. */
          sim_world_run_until (w, step + 30 * S);
          if (sim_world_healthy (w))
            *recover_time = step - last_fault;
          break;
        }
    }
  *mismatch = sim_world_max_mismatch (w);
  if (*recover_time < 0)
    failure = g_strdup_printf ("did not recover within %d s after the faults:%s",
                               (int) (RECOVER_BOUND / S), log->str);
  else if (*mismatch > MISMATCH_BOUND)
    failure = g_strdup_printf ("one side connected, the other not, for %.1f s:%s",
                               (double) *mismatch / S, log->str);
  g_string_free (log, TRUE);
  sim_world_free (w);
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
  gint64 worst_connect = 0, worst_recover = 0, worst_mismatch = 0;
  guint failures = 0;
  gint64 started = g_get_monotonic_time ();
  for (guint64 seed = base; seed < base + count; seed++)
    {
      gint64 ct = 0, rt = 0, mm = 0;
      g_autofree char *failure = run_random (seed, &ct, &rt, &mm);
      if (failure != NULL)
        {
          failures++;
          g_printerr ("sim: seed %" G_GUINT64_FORMAT " FAILED: %s\n"
                      "  replay: EMBER_SIM_SEED_BASE=%" G_GUINT64_FORMAT " EMBER_SIM_SEEDS=1\n",
                      seed, failure, seed);
          continue;
        }
      worst_connect = MAX (worst_connect, ct);
      worst_recover = MAX (worst_recover, rt);
      worst_mismatch = MAX (worst_mismatch, mm);
    }
  g_test_message ("%" G_GUINT64_FORMAT " seeds in %.1f s wall: worst connect %.2f s, "
                  "worst recovery after last fault %.2f s, worst one-sided %.2f s, %u failed",
                  count, (double) (g_get_monotonic_time () - started) / S,
                  (double) worst_connect / S, (double) worst_recover / S,
                  (double) worst_mismatch / S, failures);
  g_assert_cmpuint (failures, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sim/connect/open-internet-uses-host-pair", test_open_internet);
  g_test_add_func ("/sim/connect/endpoint-independent-nat-uses-srflx", test_both_eim_nat);
  g_test_add_func ("/sim/connect/symmetric-nat-uses-relay", test_both_symmetric_nat);
  g_test_add_func ("/sim/connect/blocked-udp-uses-relay", test_udp_blocked);
  g_test_add_func ("/sim/recover/seed-000-partition-relay-churn-reboot", test_seed_000);
  g_test_add_func ("/sim/random/scenarios-converge", test_random);
  return g_test_run ();
}
