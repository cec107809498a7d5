/* netns tests for the tun-linux plugin, loaded through the core loader
 * from the build tree.
 *
 * The whole test process first moves into a network namespace of its own
 * (unshare(CLONE_NEWNET)): every interface it creates lives there, and the
 * kernel removes the namespace with everything in it when the process
 * exits, also on a crash or a failed assertion. Traffic never leaves it.
 *
 * The test is the far end of the TUN: it reads packets through the plugin
 * and answers them — ICMP echo requests get replies, and TCP/UDP packets
 * to 10.77.0.0/23 are "reflected" so that a socket on 10.77.0.1 talking
 * to 10.77.1.2 reaches a socket on 10.77.1.1 (see reflect()).
 */
#include "loader.h"
#include "csum.h"
#include "tun-harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *skip_reason;

/* ---- Ping ---------------------------------------------------------------- */

static gsize
make_echo_request (guint8 *buf, guint16 id, guint16 seq)
{
  buf[0] = 8;
  buf[1] = 0;
  buf[2] = buf[3] = 0;
  tun_write16 (buf + 4, id);
  tun_write16 (buf + 6, seq);
  for (guint i = 8; i < 64; i++)
    buf[i] = (guint8) (i + seq);
  tun_write16 (buf + 2, (guint16) ~tun_csum_fold (tun_csum_add (0, buf, 64)));
  return 64;
}

typedef struct {
  gboolean seen4[200];
  gboolean seen6[200];
  guint got4;
  guint got6;
} PingSeen;

/* Reads the echo replies that arrived on the raw sockets. */
static void
drain_replies (int s4, int s6, guint16 count, PingSeen *ps)
{
  guint8 buf[256];
  ssize_t n;
  while ((n = recv (s4, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    {
      /* A raw IPv4 socket gets the IP header too. */
      gsize ihl = (gsize) (buf[0] & 0x0f) * 4;
      if ((gsize) n < ihl + 8 || buf[ihl] != 0 || tun_read16 (buf + ihl + 4) != 0x4242)
        continue;
      guint16 seq = tun_read16 (buf + ihl + 6);
      g_assert_cmpuint (tun_csum_fold (tun_csum_add (0, buf + ihl, (gsize) n - ihl)), ==, 0xffff);
      if (seq < count && !ps->seen4[seq])
        {
          ps->seen4[seq] = TRUE;
          ps->got4++;
        }
    }
  while ((n = recv (s6, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    {
      if (n < 8 || buf[0] != 129 || tun_read16 (buf + 4) != 0x4242)
        continue;
      guint16 seq = tun_read16 (buf + 6);
      if (seq < count && !ps->seen6[seq])
        {
          ps->seen6[seq] = TRUE;
          ps->got6++;
        }
    }
}

static void
run_ping (const char *config)
{
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (TunHarness) h = tun_harness_open (config, &error);
  g_assert_no_error (error);

  /* IPv4 and IPv6 echo requests from raw sockets to the far end of the
   * TUN; the harness answers them. */
  int s4 = socket (AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  int s6 = socket (AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  g_assert_cmpint (s4, >=, 0);
  g_assert_cmpint (s6, >=, 0);
  struct sockaddr_in to4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (0x0a4d0002) };
  struct sockaddr_in6 to6 = { .sin6_family = AF_INET6 };
  tun_harness_v6_peer (h, to6.sin6_addr.s6_addr);

  const guint16 count = 200;
  PingSeen ps = { .got4 = 0 };
  guint8 buf[256];
  /* Like ping, a request whose reply is missing after a round is sent
   * again (at most 3 rounds): right after set-up the kernel was seen,
   * about once in eight suite runs, to drop a few IPv6 replies as
   * address errors, outside the plugin. The likely cause, IPv6
   * addresses still tentative when open() returned, is fixed (open waits
   * for them), but it was never reproduced on demand, so the resend
   * stays; a round that needs it is logged. Every sequence number must
   * come back in the end, and the plugin must have carried every request
   * and reply. */
  for (guint round = 0; round < 3 && (ps.got4 < count || ps.got6 < count); round++)
    {
      guint sent_now = 0;
      for (guint16 seq = 0; seq < count; seq++)
        {
          gsize len = make_echo_request (buf, 0x4242, seq);
          if (!ps.seen4[seq])
            g_assert_cmpint (sendto (s4, buf, len, 0, (struct sockaddr *) &to4, sizeof to4), ==,
                             len);
          buf[0] = 128; /* ICMPv6 echo request; the kernel fills the checksum */
          buf[2] = buf[3] = 0;
          if (!ps.seen6[seq])
            g_assert_cmpint (sendto (s6, buf, len, 0, (struct sockaddr *) &to6, sizeof to6), ==,
                             len);
          if (++sent_now % 20 == 0)
            {
              tun_harness_pump (h, 20);
              drain_replies (s4, s6, count, &ps);
            }
        }
      gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
      while ((ps.got4 < count || ps.got6 < count) && g_get_monotonic_time () < deadline)
        {
          tun_harness_pump (h, 10);
          drain_replies (s4, s6, count, &ps);
        }
      if (ps.got4 < count || ps.got6 < count)
        g_test_message ("round %u: %u/%u IPv4 and %u/%u IPv6 replies", round, ps.got4, count,
                        ps.got6, count);
    }
  close (s4);
  close (s6);
  if (ps.got4 != count || ps.got6 != count)
    g_test_message ("harness: %" G_GUINT64_FORMAT " in, %" G_GUINT64_FORMAT " echo replies",
                    tun_harness_stats (h)->packets_in, tun_harness_stats (h)->echo_replies);

  g_assert_cmpuint (ps.got4, ==, count);
  g_assert_cmpuint (ps.got6, ==, count);
  g_assert_cmpuint (tun_harness_stats (h)->echo_replies, >=, 2 * count);
  g_assert_cmpuint (tun_harness_stats (h)->packets_out, ==,
                    tun_harness_stats (h)->echo_replies + tun_harness_stats (h)->reflected);
}

static void
test_ping_plain (void)
{
  run_ping ("queues=1\noffload=false\n");
}

static void
test_ping_mq2 (void)
{
  run_ping ("queues=2\noffload=false\n");
}

static void
test_ping_mq4 (void)
{
  run_ping ("queues=4\noffload=false\n");
}

static void
test_ping_offload (void)
{
  run_ping ("queues=2\noffload=true\n");
}

/* ---- TCP through the reflector -------------------------------------------- */

static void
run_tcp (const char *config, gboolean offload)
{
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (TunHarness) h = tun_harness_open (config, &error);
  g_assert_no_error (error);

  const gsize total = 8 * 1024 * 1024;
  TunStream st;
  g_assert_true (tun_stream_start (&st, total, &error));
  g_assert_no_error (error);
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (!tun_stream_done (&st) && g_get_monotonic_time () < deadline)
    tun_harness_pump (h, 10);
  gsize verified = tun_stream_finish (&st);
  g_assert_cmpuint (verified, ==, total);
  g_assert_cmpuint (tun_harness_stats (h)->reflected, >, 0);

  /* With offloads the kernel's TSO super-packets were split and the
   * reflected segments went back coalesced; without, neither. */
  g_clear_pointer (&h, tun_harness_free);
  guint64 reads, writes;
  tun_harness_last_gso (&reads, &writes);
  if (offload)
    {
      g_assert_cmpuint (reads, >, 0);
      g_assert_cmpuint (writes, >, 0);
    }
  else
    g_assert_cmpuint (reads + writes, ==, 0);
}

static void
test_tcp_plain (void)
{
  run_tcp ("queues=1\noffload=false\n", FALSE);
}

static void
test_tcp_mq4 (void)
{
  run_tcp ("queues=4\noffload=false\n", FALSE);
}

static void
test_tcp_offload (void)
{
  run_tcp ("queues=2\noffload=true\n", TRUE);
}

/* ---- UDP GSO through the reflector (USO split and coalesce) --------------- */

static void
test_udp_offload (void)
{
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (TunHarness) h = tun_harness_open ("queues=1\noffload=true\n", &error);
  g_assert_no_error (error);

  const guint count = 2000;
  guint got = tun_udp_echo_run (h, count, 1000, TRUE);
  g_assert_cmpuint (got, ==, count);
  g_clear_pointer (&h, tun_harness_free);
  guint64 reads, writes;
  tun_harness_last_gso (&reads, &writes);
  /* UDP super-packets exist only where the kernel has USO (Linux 6.2+). */
  if (reads > 0)
    g_assert_cmpuint (writes, >, 0);
}

/* ---- Backpressure ------------------------------------------------------ */

static void
test_backpressure (void)
{
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (TunHarness) h = tun_harness_open ("queues=1\noffload=false\n", &error);
  g_assert_no_error (error);

  TunFloodResult r;
  tun_harness_flood (h, 30000, 3 * G_USEC_PER_SEC, &r);
  /* The write channel filled, the plugin said PENDING, the writer woke us
   * when room freed, and every packet accepted arrived. */
  g_assert_cmpuint (r.sent, ==, 30000);
  g_assert_cmpuint (r.pending, >, 0);
  g_assert_cmpuint (r.wakes, >, 0);
  g_assert_cmpuint (r.refused, ==, 0);
  g_assert_cmpuint (r.received, ==, r.sent);
  g_assert_cmpuint (r.duplicates, ==, 0);
}

/* ---- Routes and configuration ------------------------------------------ */

static void
test_routes_and_config (void)
{
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (TunHarness) h =
    tun_harness_open ("queues=1\noffload=false\nroute=10.78.0.0/16;fd78::/48\n", &error);
  g_assert_no_error (error);
  g_assert_true (tun_harness_has_route (h, "10.78.0.0/16"));
  g_assert_true (tun_harness_has_route (h, "fd78::/48"));

  const EmberBackendVtable *vt = tun_harness_vtable (h);
  g_assert_nonnull (vt->add_route);
  g_assert_true (vt->add_route (tun_harness_backend (h), "10.79.1.0/24", &error));
  g_assert_no_error (error);
  g_assert_true (tun_harness_has_route (h, "10.79.1.0/24"));
  g_assert_true (vt->remove_route (tun_harness_backend (h), "10.79.1.0/24", &error));
  g_assert_false (tun_harness_has_route (h, "10.79.1.0/24"));
  /* Removing what is not there is fine; garbage is a config error. */
  g_assert_true (vt->remove_route (tun_harness_backend (h), "10.79.1.0/24", &error));
  g_assert_false (vt->add_route (tun_harness_backend (h), "10.79.1.1/24", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_clear_error (&error);

  /* Someone else's route to the same prefix is neither replaced nor
   * removed: the open fails and names it. */
  g_assert_true (g_spawn_command_line_sync (
      "sh -c 'ip link add lnetx0 type veth peer name lnetx1 && ip link set lnetx0 up && "
      "ip route add 10.81.0.0/16 dev lnetx0'", NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (vt->add_route (tun_harness_backend (h), "10.81.0.0/16", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "10.81.0.0/16"));
  g_assert_nonnull (strstr (error->message, "lnetx0"));
  g_clear_error (&error);
  g_autofree char *routes = NULL;
  g_assert_true (g_spawn_command_line_sync ("ip route show 10.81.0.0/16", &routes, NULL, NULL,
                                            &error));
  g_assert_nonnull (strstr (routes, "dev lnetx0"));
  g_assert_true (vt->remove_route (tun_harness_backend (h), "10.81.0.0/16", &error));
  g_free (routes);
  g_assert_true (g_spawn_command_line_sync ("ip route show 10.81.0.0/16", &routes, NULL, NULL,
                                            &error));
  g_assert_nonnull (strstr (routes, "dev lnetx0"));
  g_assert_true (g_spawn_command_line_sync ("ip link del lnetx0", NULL, NULL, NULL, &error));

  /* A second device of the same name is refused, not joined. */
  g_autoptr (TunHarness) again = tun_harness_open ("queues=1\n", &error);
  g_assert_null (again);
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
  g_clear_error (&error);

  /* Bad keys never open anything. */
  g_assert_null (tun_harness_open ("queues=1\nspeed=fast\n", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "speed"));
}

static void
test_interface_removed_on_close (void)
{
  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  g_autoptr (GError) error = NULL;
  TunHarness *h = tun_harness_open ("queues=4\noffload=true\n", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (if_nametoindex (TUN_HARNESS_IFNAME), >, 0);
  tun_harness_free (h);
  g_assert_cmpuint (if_nametoindex (TUN_HARNESS_IFNAME), ==, 0);
}

int
main (int argc, char **argv)
{
  /* Before any thread exists: unshare() moves this task only. */
  if (getuid () != 0)
    skip_reason = "needs root to create a network namespace and a TUN device";
  else if (unshare (CLONE_NEWNET) != 0)
    skip_reason = "unshare(CLONE_NEWNET) failed";
  else if (access ("/dev/net/tun", R_OK | W_OK) != 0)
    skip_reason = "/dev/net/tun is not available";

  g_test_init (&argc, &argv, NULL);
  if (skip_reason == NULL && !tun_harness_init (&skip_reason))
    g_assert_nonnull (skip_reason);

  g_test_add_func ("/tun/netns/ping/plain", test_ping_plain);
  g_test_add_func ("/tun/netns/ping/two-queues", test_ping_mq2);
  g_test_add_func ("/tun/netns/ping/four-queues", test_ping_mq4);
  g_test_add_func ("/tun/netns/ping/offloads", test_ping_offload);
  g_test_add_func ("/tun/netns/tcp/plain", test_tcp_plain);
  g_test_add_func ("/tun/netns/tcp/four-queues", test_tcp_mq4);
  g_test_add_func ("/tun/netns/tcp/offloads", test_tcp_offload);
  g_test_add_func ("/tun/netns/udp/gso-through-offloads", test_udp_offload);
  g_test_add_func ("/tun/netns/backpressure/blocks-instead-of-dropping", test_backpressure);
  g_test_add_func ("/tun/netns/routes/added-removed-at-run-time", test_routes_and_config);
  g_test_add_func ("/tun/netns/close/removes-interface", test_interface_removed_on_close);
  return g_test_run ();
}
