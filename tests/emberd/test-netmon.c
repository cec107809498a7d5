/* netns tests for bin/emberd/netmon: the debounced change callback and
 * the host's usable addresses, in a network namespace of the test's own
 * (lnet.h). */
#include <net/if.h>
#include <string.h>

#include "lnet.h"
#include "net/cidr.h"
#include "netmon.h"

typedef struct {
  guint fired;
} Count;

static void
on_change (EmberNetmon *mon, gpointer user_data)
{
  (void) mon;
  ((Count *) user_data)->fired++;
}

/* Runs ctx until the count moves past `from` or 10 s pass. */
static gboolean
wait_fired (GMainContext *ctx, Count *count, guint from)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (count->fired == from && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ctx, TRUE);
  return count->fired > from;
}

static gboolean
tick_done (gpointer user_data)
{
  (void) user_data;
  return G_SOURCE_REMOVE;
}

/* Runs ctx for at most ms (one iteration, woken by a timer). */
static void
pump (GMainContext *ctx, guint ms)
{
  GSource *tick = g_timeout_source_new (ms);
  g_source_set_callback (tick, tick_done, NULL, NULL);
  g_source_attach (tick, ctx);
  g_main_context_iteration (ctx, TRUE);
  g_source_destroy (tick);
  g_source_unref (tick);
}

/* Thread: adds 16 addresses 20 ms apart (in this thread's namespace,
 * which it has from the test thread), then sets *done. */
static gpointer
add_burst (gpointer user_data)
{
  g_free (lnet_sh ("for i in $(seq 10 25); do ip addr add 198.51.100.$i/32 dev lnetmon0; "
                   "sleep 0.02; done"));
  g_atomic_int_set ((gint *) user_data, 1);
  return NULL;
}

static gboolean
listed (GArray *addrs, const char *text)
{
  EmberAddr want;
  g_assert_true (ember_addr_parse (text, &want, NULL));
  for (guint i = 0; i < addrs->len; i++)
    {
      const EmberAddr *a = &g_array_index (addrs, EmberAddr, i);
      if (a->family == want.family && memcmp (a->addr, want.addr, 16) == 0)
        {
          g_assert_cmpuint (a->port, ==, 0);
          return TRUE;
        }
    }
  return FALSE;
}

static void
test_fires_on_address_added (void)
{
  if (lnet_run_in_ns ("mon"))
    return;
  g_autoptr (GMainContext) ctx = g_main_context_new ();
  Count count = { 0 };
  g_autoptr (GError) error = NULL;
  EmberNetmon *mon = ember_netmon_new (ctx, on_change, &count, &error);
  g_assert_no_error (error);

  /* No duplicate address detection: its late "address ready" events
   * would blur the burst count below. */
  g_free (lnet_sh ("sysctl -qw net.ipv6.conf.default.accept_dad=0 && "
                   "ip link add lnetmon0 type veth peer name lnetmon1 && "
                   "ip link set lnetmon1 up && ip link set lnetmon0 up"));
  g_assert_true (wait_fired (ctx, &count, 0));
  guint after_link = count.fired;

  g_free (lnet_sh ("ip addr add 198.51.100.7/24 dev lnetmon0 && "
                   "ip addr add 2001:db8:7::7/64 dev lnetmon0"));
  g_assert_true (wait_fired (ctx, &count, after_link));

  /* An IPv6 address stays tentative (not listed) until the link has
   * its carrier, which the kernel reports a moment after "up". */
  g_autoptr (GArray) addrs = NULL;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  do
    {
      g_clear_pointer (&addrs, g_array_unref);
      addrs = ember_netmon_list_addresses (mon, &error);
      g_assert_no_error (error);
      if (listed (addrs, "2001:db8:7::7"))
        break;
      g_usleep (20 * 1000);
    }
  while (g_get_monotonic_time () < deadline);
  g_assert_true (listed (addrs, "198.51.100.7"));
  g_assert_true (listed (addrs, "2001:db8:7::7"));
  g_assert_false (listed (addrs, "127.0.0.1"));
  g_assert_false (listed (addrs, "::1"));
  for (guint i = 0; i < addrs->len; i++)
    {
      const EmberAddr *a = &g_array_index (addrs, EmberAddr, i);
      g_assert_false (a->family == EMBER_ADDR_IPV6 && a->addr[0] == 0xfe
                      && (a->addr[1] & 0xc0) == 0x80);
    }

  /* A burst is debounced: 16 addresses 20 ms apart are 32 or more kernel
   * events (each address and its local route) spread over 300 ms or
   * more, added while the context runs; they come out as one call (a
   * few at most on a loaded machine), where each would be one without
   * the debounce. */
  while (g_main_context_iteration (ctx, FALSE))
    ;
  guint before_burst = count.fired;
  gint done = 0;
  GThread *adder = g_thread_new ("lnet-adder", add_burst, &done);
  while (!g_atomic_int_get (&done))
    pump (ctx, 50);
  g_thread_join (adder);
  g_assert_true (wait_fired (ctx, &count, before_burst));
  gint64 window_end = g_get_monotonic_time () + 1500 * 1000;
  while (g_get_monotonic_time () < window_end)
    pump (ctx, 50);
  g_assert_cmpuint (count.fired - before_burst, >=, 1);
  g_assert_cmpuint (count.fired - before_burst, <=, 4);

  /* Changes on the ignored interface (the TUN) do not count; the same
   * change on another one does. The peer stays down: no carrier, so no
   * late events from either end. */
  g_free (lnet_sh ("ip link add lnetmon2 type veth peer name lnetmon3 && "
                   "ip link set lnetmon2 up"));
  g_assert_true (wait_fired (ctx, &count, count.fired));
  gint64 settle = g_get_monotonic_time () + 1500 * 1000;
  while (g_get_monotonic_time () < settle)
    pump (ctx, 50);
  ember_netmon_set_ignored_ifindex (mon, if_nametoindex ("lnetmon2"));
  guint before_ignored = count.fired;
  g_free (lnet_sh ("ip addr add 192.0.2.77/32 dev lnetmon2 && "
                   "ip route add 10.99.0.0/16 dev lnetmon2 && "
                   "ip route add 10.98.0.0/16 dev lnetmon2 table 51820"));
  gint64 quiet = g_get_monotonic_time () + 1000 * 1000;
  while (g_get_monotonic_time () < quiet)
    pump (ctx, 50);
  g_assert_cmpuint (count.fired, ==, before_ignored);
  g_free (lnet_sh ("ip route add 10.97.0.0/16 dev lnetmon0"));
  g_assert_true (wait_fired (ctx, &count, before_ignored));
  ember_netmon_set_ignored_ifindex (mon, 0);

  /* A route change fires too; an interface going down drops its
   * addresses from the list. */
  guint before_route = count.fired;
  g_free (lnet_sh ("ip route add 203.0.113.0/24 dev lnetmon0"));
  g_assert_true (wait_fired (ctx, &count, before_route));
  guint after_route = count.fired;
  g_free (lnet_sh ("ip link set lnetmon0 down"));
  g_assert_true (wait_fired (ctx, &count, after_route));
  g_autoptr (GArray) addrs2 = ember_netmon_list_addresses (mon, &error);
  g_assert_no_error (error);
  g_assert_false (listed (addrs2, "198.51.100.7"));

  ember_netmon_free (mon);
  /* Nothing fires after free (the sources are gone from ctx). */
  g_free (lnet_sh ("ip link set lnetmon0 up"));
  while (g_main_context_iteration (ctx, FALSE))
    ;
  g_free (lnet_sh ("ip link del lnetmon0"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emberd/netmon/fires-on-address-added", test_fires_on_address_added);
  return g_test_run ();
}
