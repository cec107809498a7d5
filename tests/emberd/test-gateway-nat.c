/* netns tests for bin/emberd/gateway-nat: Ember's nftables table and the
 * forwarding sysctls, in a network namespace of the test's own (lnet.h),
 * checked with the nft command line. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway-nat.h"
#include "lnet.h"

static gboolean
has (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) != NULL)
    return TRUE;
  g_test_message ("\"%s\" not in:\n%s", needle, haystack);
  return FALSE;
}

static void
test_table_lives_with_the_gateway (void)
{
  if (lnet_run_in_ns ("nat"))
    return;
  /* Someone else's table with a drop policy, and a leftover of a killed
   * run under Ember's name. */
  g_free (lnet_sh ("nft add table inet lnetforeign && "
                   "nft add chain inet lnetforeign fwdchain "
                   "'{ type filter hook forward priority 0; "
                   "policy drop; }' && "
                   "nft add rule inet lnetforeign fwdchain tcp dport 22 accept && "
                   "nft add table inet ember_gw_lnettun0 && "
                   "nft add chain inet ember_gw_lnettun0 stale && "
                   "sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0"));
  g_autofree char *foreign_before = lnet_sh ("nft list table inet lnetforeign");

  g_autoptr (GError) error = NULL;
  EmberGatewayNat *nat = ember_gateway_nat_new ("lnettun0", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ember_gateway_nat_get_table (nat), ==, "ember_gw_lnettun0");

  g_autofree char *table = lnet_sh ("nft list table inet ember_gw_lnettun0");
  g_assert_true (has (table, "iifname \"lnettun0\" oifname != \"lnettun0\" masquerade"));
  g_assert_true (has (table, "hook postrouting"));
  g_assert_true (has (table, "hook forward"));
  g_assert_true (has (table, "iifname \"lnettun0\" accept"));
  g_assert_null (strstr (table, "stale"));
  g_autofree char *fwd4 = lnet_sysctl ("net/ipv4/ip_forward");
  g_autofree char *fwd_tun = lnet_sysctl ("net/ipv4/conf/all/forwarding");
  g_autofree char *fwd6 = lnet_sysctl ("net/ipv6/conf/all/forwarding");
  g_assert_cmpstr (fwd4, ==, "1");
  g_assert_cmpstr (fwd_tun, ==, "1");
  g_assert_cmpstr (fwd6, ==, "1");
  g_autofree char *foreign_during = lnet_sh ("nft list table inet lnetforeign");
  g_assert_cmpstr (foreign_during, ==, foreign_before);

  ember_gateway_nat_free (nat);
  g_autofree char *tables = lnet_sh ("nft list tables");
  g_assert_null (strstr (tables, "ember_gw_"));
  g_assert_true (has (tables, "table inet lnetforeign"));
  g_autofree char *foreign_after = lnet_sh ("nft list table inet lnetforeign");
  g_assert_cmpstr (foreign_after, ==, foreign_before);
  g_autofree char *fwd4_after = lnet_sysctl ("net/ipv4/ip_forward");
  g_autofree char *fwd6_after = lnet_sysctl ("net/ipv6/conf/all/forwarding");
  g_assert_cmpstr (fwd4_after, ==, "0");
  g_assert_cmpstr (fwd6_after, ==, "0");
}

/* A UDP socket bound to addr:0 in the namespace of ns_fd; back in
 * home_fd afterwards. */
static int
udp_socket_in (int ns_fd, int home_fd, const char *addr, struct sockaddr_in *bound)
{
  lnet_ns_enter (ns_fd);
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  struct sockaddr_in sin = { .sin_family = AF_INET };
  g_assert_cmpint (inet_pton (AF_INET, addr, &sin.sin_addr), ==, 1);
  if (bind (fd, (struct sockaddr *) &sin, sizeof sin) != 0)
    g_error ("bind %s: %s", addr, g_strerror (errno));
  socklen_t len = sizeof *bound;
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) bound, &len), ==, 0);
  lnet_ns_enter (home_fd);
  return fd;
}

/* Waits up to timeout_ms for a datagram; the sender's address into
 * *from. FALSE when none came. */
static gboolean
receive (int fd, int timeout_ms, struct sockaddr_in *from)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  if (poll (&pfd, 1, timeout_ms) != 1)
    return FALSE;
  char buf[64];
  socklen_t len = sizeof *from;
  return recvfrom (fd, buf, sizeof buf, 0, (struct sockaddr *) from, &len) > 0;
}

static int
udp6_socket_in (int ns_fd, int home_fd, const char *addr, struct sockaddr_in6 *bound)
{
  lnet_ns_enter (ns_fd);
  int fd = socket (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
  g_assert_cmpint (inet_pton (AF_INET6, addr, &sin6.sin6_addr), ==, 1);
  if (bind (fd, (struct sockaddr *) &sin6, sizeof sin6) != 0)
    g_error ("bind %s: %s", addr, g_strerror (errno));
  socklen_t len = sizeof *bound;
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) bound, &len), ==, 0);
  lnet_ns_enter (home_fd);
  return fd;
}

static gboolean
receive6 (int fd, int timeout_ms, struct sockaddr_in6 *from)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  if (poll (&pfd, 1, timeout_ms) != 1)
    return FALSE;
  char buf[64];
  socklen_t len = sizeof *from;
  return recvfrom (fd, buf, sizeof buf, 0, (struct sockaddr *) from, &len) > 0;
}

static void
test_masquerades_tun_traffic_to_the_lan (void)
{
  if (lnet_run_in_ns ("natfw"))
    return;
  /* client (100.64.0.2, fd00:64::2) -- lnettun0 [gateway] lnetlan0 --
   * server (10.20.0.7, fd00:20::7), which has no route back to the
   * client's networks: only a masqueraded packet can be answered. */
  int gw = lnet_ns_current (), cl, sv;
  g_autofree char *cl_name = lnet_ns_extra ("c", &cl);
  g_autofree char *sv_name = lnet_ns_extra ("s", &sv);
  /* IPv6 forwarding on already: the IPv4 path is what this checks, and
   * the router-advertisement warning belongs to another test. */
  g_free (lnet_sh ("sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=1 "
                   "net.ipv6.conf.default.accept_dad=0 && "
                   "ip netns exec %s sysctl -qw net.ipv6.conf.default.accept_dad=0 && "
                   "ip netns exec %s sysctl -qw net.ipv6.conf.default.accept_dad=0",
                   cl_name, sv_name));
  g_free (lnet_sh ("ip link add lnettun0 type veth peer name lnetc0 netns %s && "
                   "ip link add lnetlan0 type veth peer name lnets0 netns %s && "
                   "ip addr add 100.64.0.1/24 dev lnettun0 && ip link set lnettun0 up && "
                   "ip addr add 10.20.0.1/24 dev lnetlan0 && ip link set lnetlan0 up && "
                   "ip -n %s addr add 100.64.0.2/24 dev lnetc0 && ip -n %s link set lnetc0 up && "
                   "ip -n %s route add default via 100.64.0.1 && "
                   "ip -n %s addr add 10.20.0.7/24 dev lnets0 && ip -n %s link set lnets0 up",
                   cl_name, sv_name, cl_name, cl_name, cl_name, sv_name, sv_name));
  g_free (lnet_sh ("ip addr add fd00:64::1/64 dev lnettun0 && "
                   "ip addr add fd00:20::1/64 dev lnetlan0 && "
                   "ip -n %s addr add fd00:64::2/64 dev lnetc0 && "
                   "ip -n %s route add default via fd00:64::1 && "
                   "ip -n %s addr add fd00:20::7/64 dev lnets0",
                   cl_name, cl_name, sv_name));
  struct sockaddr_in srv, cli, from;
  int sfd = udp_socket_in (sv, gw, "10.20.0.7", &srv);
  int cfd = udp_socket_in (cl, gw, "100.64.0.2", &cli);

  g_autoptr (GError) error = NULL;
  EmberGatewayNat *nat = ember_gateway_nat_new ("lnettun0", &error);
  g_assert_no_error (error);
  /* Client -> server arrives from the gateway's LAN address... */
  g_assert_cmpint (sendto (cfd, "ping", 4, 0, (struct sockaddr *) &srv, sizeof srv), ==, 4);
  g_assert_true (receive (sfd, 5000, &from));
  char text[INET_ADDRSTRLEN];
  g_assert_cmpstr (inet_ntop (AF_INET, &from.sin_addr, text, sizeof text), ==, "10.20.0.1");
  /* ...and the answer finds its way back to the client. */
  g_assert_cmpint (sendto (sfd, "pong", 4, 0, (struct sockaddr *) &from, sizeof from), ==, 4);
  g_assert_true (receive (cfd, 5000, &from));
  g_assert_cmpstr (inet_ntop (AF_INET, &from.sin_addr, text, sizeof text), ==, "10.20.0.7");

  /* The same over IPv6 (the table is inet). The addresses can need a
   * moment until the veths report their carrier: the first datagrams
   * are retried. */
  struct sockaddr_in6 srv6, cli6, from6;
  int sfd6 = udp6_socket_in (sv, gw, "fd00:20::7", &srv6);
  int cfd6 = udp6_socket_in (cl, gw, "fd00:64::2", &cli6);
  gboolean got = FALSE;
  for (int i = 0; i < 50 && !got; i++)
    {
      g_assert_cmpint (sendto (cfd6, "ping", 4, 0, (struct sockaddr *) &srv6, sizeof srv6), ==, 4);
      got = receive6 (sfd6, 200, &from6);
    }
  g_assert_true (got);
  char text6[INET6_ADDRSTRLEN];
  g_assert_cmpstr (inet_ntop (AF_INET6, &from6.sin6_addr, text6, sizeof text6), ==, "fd00:20::1");
  g_assert_cmpint (sendto (sfd6, "pong", 4, 0, (struct sockaddr *) &from6, sizeof from6), ==, 4);
  g_assert_true (receive6 (cfd6, 5000, &from6));
  g_assert_cmpstr (inet_ntop (AF_INET6, &from6.sin6_addr, text6, sizeof text6), ==, "fd00:20::7");
  close (sfd6);
  close (cfd6);

  /* Gateway gone: forwarding off again, nothing passes. */
  ember_gateway_nat_free (nat);
  g_assert_cmpint (sendto (cfd, "ping", 4, 0, (struct sockaddr *) &srv, sizeof srv), ==, 4);
  g_assert_false (receive (sfd, 1000, &from));
  close (sfd);
  close (cfd);
  close (sv);
  close (cl);
  close (gw);
}

static void
test_next_start_after_a_kill_restores_forwarding (void)
{
  if (lnet_run_in_ns ("natkill"))
    return;
  g_free (lnet_sh ("sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0"));
  int ready[2];
  g_assert_cmpint (pipe (ready), ==, 0);
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* The gateway that is killed. */
      close (ready[0]);
      EmberGatewayNat *nat = ember_gateway_nat_new ("lnettun0", NULL);
      if (nat == NULL || write (ready[1], "k", 1) != 1)
        _exit (1);
      for (;;)
        pause ();
    }
  close (ready[1]);
  char c = 0;
  g_assert_cmpint (read (ready[0], &c, 1), ==, 1);
  close (ready[0]);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  int status;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_autofree char *left = lnet_sh ("nft list table inet ember_gw_lnettun0");
  g_assert_true (has (left, "masquerade"));
  g_autofree char *fwd_left = lnet_sysctl ("net/ipv4/ip_forward");
  g_assert_cmpstr (fwd_left, ==, "1");

  /* The next gateway replaces the table, knows forwarding was off before
   * the killed run, and turns it off at its exit. */
  g_autoptr (GError) error = NULL;
  EmberGatewayNat *nat = ember_gateway_nat_new ("lnettun0", &error);
  g_assert_no_error (error);
  g_autofree char *table = lnet_sh ("nft list table inet ember_gw_lnettun0");
  g_assert_true (has (table, "net/ipv4/ip_forward=0"));
  g_assert_true (has (table, "net/ipv6/conf/all/forwarding=0"));
  ember_gateway_nat_free (nat);
  g_autofree char *fwd4 = lnet_sysctl ("net/ipv4/ip_forward");
  g_autofree char *fwd6 = lnet_sysctl ("net/ipv6/conf/all/forwarding");
  g_assert_cmpstr (fwd4, ==, "0");
  g_assert_cmpstr (fwd6, ==, "0");
  g_autofree char *tables = lnet_sh ("nft list tables");
  g_assert_null (strstr (tables, "ember_gw_"));
}

static void
test_forwarding_already_on_stays_on (void)
{
  if (lnet_run_in_ns ("natfwd"))
    return;
  g_free (lnet_sh ("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"));
  g_autoptr (GError) error = NULL;
  EmberGatewayNat *nat = ember_gateway_nat_new ("ember0", &error);
  g_assert_no_error (error);
  ember_gateway_nat_free (nat);
  g_autofree char *fwd4 = lnet_sysctl ("net/ipv4/ip_forward");
  g_autofree char *fwd6 = lnet_sysctl ("net/ipv6/conf/all/forwarding");
  g_assert_cmpstr (fwd4, ==, "1");
  g_assert_cmpstr (fwd6, ==, "1");
}

static void
test_bad_interface_name (void)
{
  const char *bad[] = { "", "a\"b", "eth0; flush ruleset", "abcdefghijklmnop", "..", "a b" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_null (ember_gateway_nat_new (bad[i], &error));
      g_assert_error (error, EMBER_GATEWAY_NAT_ERROR, EMBER_GATEWAY_NAT_ERROR_INVALID);
      g_assert_true (has (error->message, "interface name"));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emberd/gateway-nat/table-lives-with-the-gateway",
                   test_table_lives_with_the_gateway);
  g_test_add_func ("/emberd/gateway-nat/masquerades-tun-traffic-to-the-lan",
                   test_masquerades_tun_traffic_to_the_lan);
  g_test_add_func ("/emberd/gateway-nat/next-start-after-a-kill-restores-forwarding",
                   test_next_start_after_a_kill_restores_forwarding);
  g_test_add_func ("/emberd/gateway-nat/forwarding-already-on-stays-on",
                   test_forwarding_already_on_stays_on);
  g_test_add_func ("/emberd/gateway-nat/refuses-a-bad-interface-name", test_bad_interface_name);
  return g_test_run ();
}
