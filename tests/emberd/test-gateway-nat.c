/* netns tests for bin/emberd/gateway-nat: Ember's nftables table and the
 * forwarding sysctls, in a network namespace of the test's own (lnet.h),
 * checked with the nft command line. */
#include <string.h>

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
                   "nft add chain inet lnetforeign fwdchain '{ type filter hook forward priority 0; "
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
  g_test_add_func ("/emberd/gateway-nat/forwarding-already-on-stays-on",
                   test_forwarding_already_on_stays_on);
  g_test_add_func ("/emberd/gateway-nat/refuses-a-bad-interface-name", test_bad_interface_name);
  return g_test_run ();
}
