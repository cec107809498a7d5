/* netns tests for bin/emberd/netconf: routes, addresses, wg-quick's full
 * tunnel, and the journal that lets the next start undo a killed run.
 * Each test runs in a network namespace of its own (lnet.h) with two
 * veth pairs (both ends in the namespace): lnetup0, the "physical"
 * uplink (192.0.2.1/24, 2001:db8:1::1/64, default routes through it in
 * main), and lnettun0, standing in for the TUN (100.64.0.2/32,
 * fd00:2021::2/128). */
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lnet.h"
#include "netconf.h"

#define TABLE 51820
#define MARK 51820

typedef struct {
  char *state_dir;
  guint tun;
  guint up;
} Env;

static void
env_setup (Env *env)
{
  g_free (lnet_sh ("ip link add lnetup0 type veth peer name lnetup1 && "
                   "ip link set lnetup1 up && ip link set lnetup0 up && "
                   "ip addr add 192.0.2.1/24 dev lnetup0 && "
                   "ip addr add 2001:db8:1::1/64 dev lnetup0 nodad && "
                   "ip route add default via 192.0.2.254 dev lnetup0 && "
                   "ip -6 route add default via 2001:db8:1::fe dev lnetup0 && "
                   "ip link add lnettun0 type veth peer name lnettun1 && "
                   "ip link set lnettun1 up && "
                   "ip link set lnettun0 up"));
  env->tun = if_nametoindex ("lnettun0");
  env->up = if_nametoindex ("lnetup0");
  g_assert_cmpuint (env->tun, >, 0);
  g_autoptr (GError) error = NULL;
  env->state_dir = g_dir_make_tmp ("lnet-state-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
env_teardown (Env *env)
{
  g_autofree char *journal = g_build_filename (env->state_dir, "netconf.journal", NULL);
  g_unlink (journal);
  g_autofree char *lock = g_build_filename (env->state_dir, "netconf.lock", NULL);
  g_unlink (lock);
  g_assert_cmpint (g_rmdir (env->state_dir), ==, 0);
  g_free (env->state_dir);
}

static EmberCidr
cidr (const char *text)
{
  EmberCidr c;
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_cidr_parse (text, EMBER_CIDR_PARSE_KEEP_HOST_BITS, &c, &error));
  return c;
}

static char *
journal_text (const Env *env)
{
  g_autofree char *path = g_build_filename (env->state_dir, "netconf.journal", NULL);
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return text;
}

static gboolean
has (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) != NULL)
    return TRUE;
  g_test_message ("\"%s\" not in:\n%s", needle, haystack);
  return FALSE;
}

static void
test_routes_added_and_removed (void)
{
  if (lnet_run_in_ns ("routes"))
    return;
  Env env;
  env_setup (&env);
  g_autoptr (GError) error = NULL;
  EmberNetconf *nc = ember_netconf_new (env.state_dir, &error);
  g_assert_no_error (error);

  /* One instance per state directory. */
  g_assert_null (ember_netconf_new (env.state_dir, &error));
  g_assert_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL);
  g_assert_true (has (error->message, "another emberd uses this state directory"));
  g_clear_error (&error);

  EmberCidr a4 = cidr ("100.64.0.2/32"), a6 = cidr ("fd00:2021::2/128");
  g_assert_true (ember_netconf_address_add (nc, env.tun, &a4, &error));
  g_assert_true (ember_netconf_address_add (nc, env.tun, &a6, &error));
  EmberCidr r4 = cidr ("10.20.0.0/24"), r6 = cidr ("fd00:20::/64"), r7 = cidr ("10.30.0.0/16");
  g_assert_true (ember_netconf_route_add (nc, env.tun, &r4, 0, &error));
  g_assert_true (ember_netconf_route_add (nc, env.tun, &r6, 0, &error));
  g_assert_true (ember_netconf_route_add (nc, env.tun, &r7, 1234, &error));
  g_assert_no_error (error);
  /* Twice is once. */
  g_assert_true (ember_netconf_route_add (nc, env.tun, &r4, 0, &error));
  g_assert_no_error (error);

  g_autofree char *addrs = lnet_sh ("ip addr show dev lnettun0");
  g_assert_true (has (addrs, "inet 100.64.0.2/32"));
  g_assert_true (has (addrs, "inet6 fd00:2021::2/128"));
  g_autofree char *routes = lnet_sh ("ip route show dev lnettun0");
  g_assert_true (has (routes, "10.20.0.0/24"));
  g_autofree char *routes6 = lnet_sh ("ip -6 route show dev lnettun0");
  g_assert_true (has (routes6, "fd00:20::/64"));
  g_autofree char *routes_t = lnet_sh ("ip route show table 1234");
  g_assert_true (has (routes_t, "10.30.0.0/16 dev lnettun0"));
  g_autofree char *get = lnet_sh ("ip route get 10.20.0.9");
  g_assert_true (has (get, "dev lnettun0"));

  /* Everything is in the journal while it exists. */
  g_autofree char *journal = journal_text (&env);
  g_assert_nonnull (journal);
  g_assert_true (has (journal, "route dev="));
  g_assert_true (has (journal, "dst=10.20.0.0/24"));
  g_assert_true (has (journal, "local=fd00:2021::2/128"));

  /* Removed at run time: gone from the kernel and the journal. */
  g_assert_true (ember_netconf_route_remove (nc, env.tun, &r4, 0, &error));
  g_assert_no_error (error);
  g_autofree char *routes2 = lnet_sh ("ip route show dev lnettun0");
  g_assert_null (strstr (routes2, "10.20.0.0/24"));
  g_autofree char *journal2 = journal_text (&env);
  g_assert_null (strstr (journal2, "dst=10.20.0.0/24"));
  /* Removing again (not Ember's any more) is a no-op. */
  g_assert_true (ember_netconf_route_remove (nc, env.tun, &r4, 0, &error));
  g_assert_true (ember_netconf_address_remove (nc, env.tun, &a6, &error));
  g_assert_no_error (error);
  g_autofree char *addrs2 = lnet_sh ("ip addr show dev lnettun0");
  g_assert_null (strstr (addrs2, "fd00:2021::2"));
  g_assert_true (has (addrs2, "inet 100.64.0.2/32"));

  /* Bad input: a clear error, nothing added. */
  EmberCidr bad = cidr ("10.40.0.1/24");
  g_assert_false (ember_netconf_route_add (nc, env.tun, &bad, 0, &error));
  g_assert_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID);
  g_assert_true (has (error->message, "10.40.0.1/24"));
  g_clear_error (&error);
  g_assert_false (ember_netconf_route_add (nc, 99999, &r4, 0, &error));
  g_assert_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID);
  g_clear_error (&error);

  ember_netconf_free (nc);
  g_autofree char *after = lnet_sh ("ip route show table all dev lnettun0; "
                                    "ip addr show dev lnettun0");
  g_assert_null (strstr (after, "10.30.0.0"));
  g_assert_null (strstr (after, "fd00:20::"));
  g_assert_null (strstr (after, "100.64.0.2"));
  g_assert_null (strstr (after, "fd00:2021::2"));
  /* The journal is gone with them. */
  g_assert_null (journal_text (&env));
  env_teardown (&env);
}

static void
test_existing_identical_route_survives (void)
{
  if (lnet_run_in_ns ("exist"))
    return;
  Env env;
  env_setup (&env);
  /* The administrator's route, identical to the one Ember adds, and an
   * address Ember also wants. */
  g_free (lnet_sh ("ip route add 10.20.0.0/24 dev lnettun0 && "
                   "ip addr add 100.64.0.2/32 dev lnettun0 && "
                   "ip route add 10.50.0.0/24 dev lnetup0"));
  g_autoptr (GError) error = NULL;
  EmberNetconf *nc = ember_netconf_new (env.state_dir, &error);
  g_assert_no_error (error);
  EmberCidr r = cidr ("10.20.0.0/24"), a = cidr ("100.64.0.2/32");
  g_assert_true (ember_netconf_route_add (nc, env.tun, &r, 0, &error));
  g_assert_true (ember_netconf_address_add (nc, env.tun, &a, &error));
  g_assert_no_error (error);
  g_autofree char *journal = journal_text (&env);
  g_assert_null (strstr (journal, "10.20.0.0/24"));
  g_assert_null (strstr (journal, "100.64.0.2"));

  /* A route to the same prefix through another interface is not
   * replaced: an error naming both. */
  EmberCidr other = cidr ("10.50.0.0/24");
  g_assert_false (ember_netconf_route_add (nc, env.tun, &other, 0, &error));
  g_assert_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_KERNEL);
  g_assert_true (has (error->message, "10.50.0.0/24"));
  g_assert_true (has (error->message, "lnetup0"));
  g_clear_error (&error);

  /* Removing what Ember did not add does nothing. */
  g_assert_true (ember_netconf_route_remove (nc, env.tun, &r, 0, &error));
  g_assert_true (ember_netconf_address_remove (nc, env.tun, &a, &error));
  g_assert_no_error (error);
  ember_netconf_free (nc);
  g_autofree char *routes = lnet_sh ("ip route show");
  g_assert_true (has (routes, "10.20.0.0/24 dev lnettun0"));
  g_assert_true (has (routes, "10.50.0.0/24 dev lnetup0"));
  g_autofree char *addrs = lnet_sh ("ip addr show dev lnettun0");
  g_assert_true (has (addrs, "100.64.0.2/32"));
  env_teardown (&env);
}

/* The source address the kernel picks for a UDP socket to `dst`, with
 * SO_MARK `mark` (0: none): which route the socket's traffic takes. */
static char *
source_for (int family, const char *dst, guint32 mark)
{
  int fd = socket (family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  if (mark != 0)
    g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark), ==, 0);
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new_from_string (dst, 9);
  struct sockaddr_storage ss;
  g_assert_true (g_socket_address_to_native (sa, &ss, sizeof ss, NULL));
  if (connect (fd, (struct sockaddr *) &ss, (socklen_t) g_socket_address_get_native_size (sa))
      != 0)
    g_error ("connect %s: %s", dst, g_strerror (errno));
  socklen_t len = sizeof ss;
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &ss, &len), ==, 0);
  close (fd);
  g_autoptr (GSocketAddress) local = g_socket_address_new_from_native (&ss, len);
  return g_inet_address_to_string (
      g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)));
}

static void
test_full_tunnel_the_wg_quick_way (void)
{
  if (lnet_run_in_ns ("full"))
    return;
  Env env;
  env_setup (&env);
  g_autoptr (GError) error = NULL;
  EmberNetconf *nc = ember_netconf_new (env.state_dir, &error);
  g_assert_no_error (error);
  EmberCidr a4 = cidr ("100.64.0.2/32"), a6 = cidr ("fd00:2021::2/128");
  g_assert_true (ember_netconf_address_add (nc, env.tun, &a4, &error));
  g_assert_true (ember_netconf_address_add (nc, env.tun, &a6, &error));
  g_free (lnet_sh ("sysctl -qw net.ipv4.conf.all.src_valid_mark=0"));
  g_assert_true (ember_netconf_full_tunnel_add (nc, env.tun, 4, MARK, TABLE, &error));
  g_assert_no_error (error);
  g_assert_true (ember_netconf_full_tunnel_add (nc, env.tun, AF_INET6, MARK, TABLE, &error));
  g_assert_no_error (error);

  /* The rules as `ip rule` shows wg-quick's. */
  g_autofree char *rules = lnet_sh ("ip rule show");
  g_assert_true (has (rules, "32764:\tfrom all lookup main suppress_prefixlength 0"));
  g_assert_true (has (rules, "32765:\tnot from all fwmark 0xca6c lookup 51820"));
  g_autofree char *rules6 = lnet_sh ("ip -6 rule show");
  g_assert_true (has (rules6, "32764:\tfrom all lookup main suppress_prefixlength 0"));
  g_assert_true (has (rules6, "32765:\tnot from all fwmark 0xca6c lookup 51820"));
  g_autofree char *table = lnet_sh ("ip route show table 51820; ip -6 route show table 51820");
  g_assert_true (has (table, "default dev lnettun0"));
  g_autofree char *svm = lnet_sysctl ("net/ipv4/conf/all/src_valid_mark");
  g_assert_cmpstr (svm, ==, "1");
  /* wg-quick's nftables part: marks restored on replies, the tunnel's
   * addresses not reachable from other interfaces. */
  g_autofree char *nft4 = lnet_sh ("nft list table ip ember_ft_lnettun0");
  g_assert_true (has (nft4, "meta l4proto udp meta mark set ct mark"));
  g_assert_true (has (nft4, "meta l4proto udp meta mark 0x0000ca6c ct mark set meta mark"));
  g_assert_true (has (nft4, "iifname != \"lnettun0\" ip daddr 100.64.0.2 "
                            "fib saddr type != local drop"));
  g_autofree char *nft6 = lnet_sh ("nft list table ip6 ember_ft_lnettun0");
  g_assert_true (has (nft6, "iifname != \"lnettun0\" ip6 daddr fd00:2021::2 "
                            "fib saddr type != local drop"));

  /* Unmarked traffic goes into the tunnel; marked (Ember's own socket)
   * takes the main table's default; the LAN stays on the LAN. */
  g_autofree char *get = lnet_sh ("ip route get 198.51.100.1");
  g_assert_true (has (get, "dev lnettun0 table 51820"));
  g_autofree char *get_m = lnet_sh ("ip route get 198.51.100.1 mark %u", MARK);
  g_assert_true (has (get_m, "via 192.0.2.254 dev lnetup0"));
  g_autofree char *get_lan = lnet_sh ("ip route get 192.0.2.7");
  g_assert_true (has (get_lan, "dev lnetup0"));
  g_autofree char *get6 = lnet_sh ("ip -6 route get 2001:db8:99::1");
  g_assert_true (has (get6, "dev lnettun0 table 51820"));
  g_autofree char *get6_m = lnet_sh ("ip -6 route get 2001:db8:99::1 mark %u", MARK);
  g_assert_true (has (get6_m, "via 2001:db8:1::fe dev lnetup0"));

  g_autofree char *src = source_for (AF_INET, "198.51.100.1", 0);
  g_assert_cmpstr (src, ==, "100.64.0.2");
  g_autofree char *src_m = source_for (AF_INET, "198.51.100.1", MARK);
  g_assert_cmpstr (src_m, ==, "192.0.2.1");
  g_autofree char *src6 = source_for (AF_INET6, "2001:db8:99::1", 0);
  g_assert_cmpstr (src6, ==, "fd00:2021::2");
  g_autofree char *src6_m = source_for (AF_INET6, "2001:db8:99::1", MARK);
  g_assert_cmpstr (src6_m, ==, "2001:db8:1::1");

  /* Once per family. */
  g_assert_false (ember_netconf_full_tunnel_add (nc, env.tun, 4, MARK, TABLE, &error));
  g_assert_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID);
  g_clear_error (&error);

  /* Removing IPv4's leaves IPv6's. */
  g_assert_true (ember_netconf_full_tunnel_remove (nc, 4, &error));
  g_assert_no_error (error);
  g_autofree char *rules_after = lnet_sh ("ip rule show");
  g_assert_null (strstr (rules_after, "suppress_prefixlength"));
  g_assert_null (strstr (rules_after, "0xca6c"));
  g_autofree char *table_after = lnet_sh ("ip route show table 51820");
  g_assert_cmpstr (table_after, ==, "");
  g_autofree char *svm_after = lnet_sysctl ("net/ipv4/conf/all/src_valid_mark");
  g_assert_cmpstr (svm_after, ==, "0");
  g_autofree char *rules6_still = lnet_sh ("ip -6 rule show");
  g_assert_true (has (rules6_still, "0xca6c"));
  g_autofree char *tables_after4 = lnet_sh ("nft list tables");
  g_assert_null (strstr (tables_after4, "table ip ember_ft_lnettun0"));
  g_assert_true (has (tables_after4, "table ip6 ember_ft_lnettun0"));

  ember_netconf_free (nc);
  g_autofree char *rules6_after = lnet_sh ("ip -6 rule show");
  g_assert_null (strstr (rules6_after, "0xca6c"));
  g_assert_null (strstr (rules6_after, "suppress_prefixlength"));
  g_autofree char *tables_after = lnet_sh ("nft list tables");
  g_assert_null (strstr (tables_after, "ember_ft_"));
  /* The main table's default route was never touched. */
  g_autofree char *main_table = lnet_sh ("ip route show default; ip -6 route show default");
  g_assert_true (has (main_table, "default via 192.0.2.254 dev lnetup0"));
  g_assert_true (has (main_table, "default via 2001:db8:1::fe dev lnetup0"));
  env_teardown (&env);
}

/* A UDP socket in the namespace of ns_fd (then back in home_fd), bound
 * to addr:0, with SO_MARK `mark` unless 0. */
static int
udp_socket_in (int ns_fd, int home_fd, const char *addr, guint32 mark,
               struct sockaddr_in *bound)
{
  lnet_ns_enter (ns_fd);
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  if (mark != 0)
    g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark), ==, 0);
  struct sockaddr_in sin = { .sin_family = AF_INET };
  g_assert_cmpint (inet_pton (AF_INET, addr, &sin.sin_addr), ==, 1);
  if (bind (fd, (struct sockaddr *) &sin, sizeof sin) != 0)
    g_error ("bind %s: %s", addr, g_strerror (errno));
  socklen_t len = sizeof *bound;
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) bound, &len), ==, 0);
  lnet_ns_enter (home_fd);
  return fd;
}

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

static void
test_full_tunnel_replies_pass_strict_rp_filter (void)
{
  if (lnet_run_in_ns ("rpf"))
    return;
  /* Ember's marked socket talks to 198.51.100.1 (an "internet" namespace
   * behind lnetup0) with strict reverse-path filtering: the reply's
   * reverse route is the tunnel unless its mark is restored from
   * conntrack, which is what the full tunnel's nftables table does. */
  int home = lnet_ns_current (), net;
  g_autofree char *net_name = lnet_ns_extra ("i", &net);
  g_free (lnet_sh ("ip link add lnetup0 type veth peer name lnetup1 netns %s && "
                   "ip addr add 192.0.2.1/24 dev lnetup0 && ip link set lnetup0 up && "
                   "ip route add default via 192.0.2.254 && "
                   "ip -n %s addr add 192.0.2.254/24 dev lnetup1 && "
                   "ip -n %s addr add 198.51.100.1/32 dev lo && ip -n %s link set lnetup1 up && "
                   "ip link add lnettun0 type veth peer name lnettun1 && "
                   "ip link set lnettun1 up && ip link set lnettun0 up && "
                   "sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.lnetup0.rp_filter=1 "
                   "net.ipv4.conf.all.src_valid_mark=0",
                   net_name, net_name, net_name, net_name));
  g_autoptr (GError) error = NULL;
  g_autofree char *state_dir = g_dir_make_tmp ("lnet-state-XXXXXX", &error);
  g_assert_no_error (error);
  EmberNetconf *nc = ember_netconf_new (state_dir, &error);
  g_assert_no_error (error);
  guint tun = if_nametoindex ("lnettun0");
  EmberCidr a4 = cidr ("100.64.0.2/32");
  g_assert_true (ember_netconf_address_add (nc, tun, &a4, &error));
  g_assert_true (ember_netconf_full_tunnel_add (nc, tun, 4, MARK, TABLE, &error));
  g_assert_no_error (error);

  struct sockaddr_in srv, cli, from;
  int sfd = udp_socket_in (net, home, "198.51.100.1", 0, &srv);
  int cfd = udp_socket_in (home, home, "0.0.0.0", MARK, &cli);
  g_assert_cmpint (sendto (cfd, "ping", 4, 0, (struct sockaddr *) &srv, sizeof srv), ==, 4);
  g_assert_true (receive (sfd, 5000, &from));
  char text[INET_ADDRSTRLEN];
  g_assert_cmpstr (inet_ntop (AF_INET, &from.sin_addr, text, sizeof text), ==, "192.0.2.1");
  g_assert_cmpint (sendto (sfd, "pong", 4, 0, (struct sockaddr *) &from, sizeof from), ==, 4);
  g_assert_true (receive (cfd, 5000, &from));

  /* The control: without the table, strict rp_filter drops the reply. */
  g_free (lnet_sh ("nft delete table ip ember_ft_lnettun0"));
  g_assert_cmpint (sendto (cfd, "ping", 4, 0, (struct sockaddr *) &srv, sizeof srv), ==, 4);
  g_assert_true (receive (sfd, 5000, &from));
  g_assert_cmpint (sendto (sfd, "pong", 4, 0, (struct sockaddr *) &from, sizeof from), ==, 4);
  g_assert_false (receive (cfd, 1000, &from));

  ember_netconf_free (nc);
  close (sfd);
  close (cfd);
  close (net);
  close (home);
  g_autofree char *lock = g_build_filename (state_dir, "netconf.lock", NULL);
  g_unlink (lock);
  g_assert_cmpint (g_rmdir (state_dir), ==, 0);
}

static void
test_full_tunnel_leaves_foreign_identical_rules (void)
{
  if (lnet_run_in_ns ("foreign"))
    return;
  Env env;
  env_setup (&env);
  /* Someone else's wg-quick: the same two rules, before Ember starts. */
  g_free (lnet_sh ("ip rule add not fwmark %u table %u && "
                   "ip rule add table main suppress_prefixlength 0", MARK, TABLE));
  g_autoptr (GError) error = NULL;
  EmberNetconf *nc = ember_netconf_new (env.state_dir, &error);
  g_assert_no_error (error);
  g_assert_true (ember_netconf_full_tunnel_add (nc, env.tun, 4, MARK, TABLE, &error));
  g_assert_no_error (error);
  g_autofree char *rules = lnet_sh ("ip rule show");
  g_assert_true (has (rules, "32762:\tfrom all lookup main suppress_prefixlength 0"));
  g_assert_true (has (rules, "32763:\tnot from all fwmark 0xca6c lookup 51820"));
  ember_netconf_free (nc);
  g_autofree char *after = lnet_sh ("ip rule show");
  g_assert_null (strstr (after, "32762:"));
  g_assert_null (strstr (after, "32763:"));
  g_assert_true (has (after, "32764:\tfrom all lookup main suppress_prefixlength 0"));
  g_assert_true (has (after, "32765:\tnot from all fwmark 0xca6c lookup 51820"));
  env_teardown (&env);
}

static void
test_next_start_undoes_a_killed_run (void)
{
  if (lnet_run_in_ns ("kill"))
    return;
  Env env;
  env_setup (&env);
  /* The administrator's route through the interface (and an address of
   * theirs: the kernel flushes an interface's IPv4 routes when its last
   * IPv4 address goes, Ember's included). */
  g_free (lnet_sh ("sysctl -qw net.ipv4.conf.all.src_valid_mark=0 && "
                   "ip addr add 100.64.99.1/32 dev lnettun0 && "
                   "ip route add 10.60.0.0/24 dev lnettun0"));
  int ready[2];
  g_assert_cmpint (pipe (ready), ==, 0);
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* The run that is killed: adds, says so, waits for its end. */
      close (ready[0]);
      GError *error = NULL;
      EmberNetconf *nc = ember_netconf_new (env.state_dir, &error);
      EmberCidr r = cidr ("10.20.0.0/24"), r6 = cidr ("fd00:20::/64"),
                mine_too = cidr ("10.60.0.0/24"), a = cidr ("100.64.0.2/32");
      gboolean ok = nc != NULL && ember_netconf_address_add (nc, env.tun, &a, &error)
                    && ember_netconf_route_add (nc, env.tun, &r, 0, &error)
                    && ember_netconf_route_add (nc, env.tun, &r6, 0, &error)
                    && ember_netconf_route_add (nc, env.tun, &mine_too, 0, &error)
                    && ember_netconf_full_tunnel_add (nc, env.tun, 4, MARK, TABLE, &error)
                    && ember_netconf_full_tunnel_add (nc, env.tun, 6, MARK, TABLE, &error);
      if (!ok)
        {
          g_printerr ("killed run: %s\n", error != NULL ? error->message : "?");
          _exit (1);
        }
      if (write (ready[1], "k", 1) != 1)
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
  g_assert_true (WIFSIGNALED (status));

  g_autofree char *before = lnet_sh ("ip rule show; ip -6 rule show; "
                                     "ip route show table all dev lnettun0; "
                                     "ip addr show dev lnettun0");
  g_assert_true (has (before, "suppress_prefixlength 0"));
  g_assert_true (has (before, "10.20.0.0/24"));
  g_assert_true (has (before, "100.64.0.2"));
  g_autofree char *svm = lnet_sysctl ("net/ipv4/conf/all/src_valid_mark");
  g_assert_cmpstr (svm, ==, "1");
  g_autofree char *tables_before = lnet_sh ("nft list tables");
  g_assert_true (has (tables_before, "table ip ember_ft_lnettun0"));

  g_autoptr (GError) error = NULL;
  EmberNetconf *nc = ember_netconf_new (env.state_dir, &error);
  g_assert_no_error (error);
  g_autofree char *after = lnet_sh ("ip rule show; ip -6 rule show; "
                                    "ip route show table all dev lnettun0; "
                                    "ip addr show dev lnettun0");
  g_assert_null (strstr (after, "suppress_prefixlength"));
  g_assert_null (strstr (after, "0xca6c"));
  g_assert_null (strstr (after, "10.20.0.0/24"));
  g_assert_null (strstr (after, "fd00:20::"));
  g_assert_null (strstr (after, "100.64.0.2"));
  g_assert_null (strstr (after, "table 51820"));
  /* The administrator's route, which the killed run met as EEXIST, is
   * still there. */
  g_assert_true (has (after, "10.60.0.0/24"));
  g_autofree char *svm_after = lnet_sysctl ("net/ipv4/conf/all/src_valid_mark");
  g_assert_cmpstr (svm_after, ==, "0");
  g_autofree char *tables_after = lnet_sh ("nft list tables");
  g_assert_null (strstr (tables_after, "ember_ft_"));
  /* The new run's journal is empty. */
  g_autofree char *journal = journal_text (&env);
  g_assert_cmpstr (journal, ==, "ember-netconf-journal 1\n");
  ember_netconf_free (nc);
  env_teardown (&env);
}

static void
test_interface_gone_with_its_routes (void)
{
  if (lnet_run_in_ns ("gone"))
    return;
  Env env;
  env_setup (&env);
  /* A journal naming an interface index that is now another interface's
   * (the killed run's TUN disappeared, its index reused): that
   * interface's routes are not touched. */
  g_free (lnet_sh ("ip route add 10.70.0.0/24 dev lnetup0"));
  g_autofree char *journal_path = g_build_filename (env.state_dir, "netconf.journal", NULL);
  g_autofree char *text = g_strdup_printf ("ember-netconf-journal 1\n"
                                           "route dev=%u:ember9 table=254 dst=10.70.0.0/24\n",
                                           env.up);
  g_assert_true (g_file_set_contents (journal_path, text, -1, NULL));
  g_autoptr (GError) error = NULL;
  EmberNetconf *nc = ember_netconf_new (env.state_dir, &error);
  g_assert_no_error (error);
  g_autofree char *routes = lnet_sh ("ip route show");
  g_assert_true (has (routes, "10.70.0.0/24 dev lnetup0"));
  ember_netconf_free (nc);

  /* A corrupt journal: a clear error naming file and line, nothing
   * removed, the file kept. */
  g_assert_true (g_file_set_contents (journal_path,
                                      "ember-netconf-journal 1\nroute dev=1:x table=254\n", -1,
                                      NULL));
  g_assert_null (ember_netconf_new (env.state_dir, &error));
  g_assert_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL);
  g_assert_true (has (error->message, "netconf.journal"));
  g_assert_true (has (error->message, "line 2"));
  g_assert_true (has (error->message, "dst"));
  g_assert_true (g_file_test (journal_path, G_FILE_TEST_EXISTS));
  env_teardown (&env);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emberd/netconf/routes/added-and-removed", test_routes_added_and_removed);
  g_test_add_func ("/emberd/netconf/routes/existing-identical-route-survives",
                   test_existing_identical_route_survives);
  g_test_add_func ("/emberd/netconf/full-tunnel/marked-traffic-bypasses-the-tunnel",
                   test_full_tunnel_the_wg_quick_way);
  g_test_add_func ("/emberd/netconf/full-tunnel/replies-pass-strict-rp-filter",
                   test_full_tunnel_replies_pass_strict_rp_filter);
  g_test_add_func ("/emberd/netconf/full-tunnel/leaves-someone-elses-identical-rules",
                   test_full_tunnel_leaves_foreign_identical_rules);
  g_test_add_func ("/emberd/netconf/journal/next-start-undoes-a-killed-run",
                   test_next_start_undoes_a_killed_run);
  g_test_add_func ("/emberd/netconf/journal/skips-a-gone-interface-refuses-corruption",
                   test_interface_gone_with_its_routes);
  return g_test_run ();
}
