/* Unit tests for netconf's journal format (bin/emberd/netconf-journal):
 * what is written reads back the same, and every bad line is a clear
 * error naming the line, never a crash. */
#include <string.h>

#include "netconf-journal.h"
#include "netconf.h"

static const char *valid =
    "ember-netconf-journal 1\n"
    "address dev=5:ember0 local=100.64.0.2/32\n"
    "address dev=5:ember0 local=fd00:2021:1111::2/128\n"
    "route dev=5:ember0 table=254 dst=10.20.0.0/24\n"
    "route dev=5:ember0 table=51820 dst=0.0.0.0/0\n"
    "rule family=4 priority=32765 table=51820 not-fwmark=51820\n"
    "rule family=6 priority=32764 table=254 suppress-prefixlength=0\n"
    "sysctl key=net.ipv4.conf.all.src_valid_mark was=0 set=1\n"
    "nft-table family=6 name=ember_ft_ember0\n";

static void
test_round_trip (void)
{
  g_autoptr (GError) error = NULL;
  GArray *objs = NULL;
  g_assert_true (ember_netconf_journal_parse (valid, strlen (valid), &objs, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (objs->len, ==, 8);
  const EmberNetconfObj *o = &g_array_index (objs, EmberNetconfObj, 0);
  g_assert_cmpint (o->kind, ==, EMBER_NETCONF_OBJ_ADDRESS);
  g_assert_cmpuint (o->ifindex, ==, 5);
  g_assert_cmpstr (o->ifname, ==, "ember0");
  g_assert_cmpuint (o->cidr.prefix, ==, 32);
  o = &g_array_index (objs, EmberNetconfObj, 3);
  g_assert_cmpint (o->kind, ==, EMBER_NETCONF_OBJ_ROUTE);
  g_assert_cmpuint (o->table, ==, 51820);
  g_assert_cmpuint (o->cidr.prefix, ==, 0);
  o = &g_array_index (objs, EmberNetconfObj, 4);
  g_assert_cmpint (o->kind, ==, EMBER_NETCONF_OBJ_RULE);
  g_assert_true (o->invert_fwmark);
  g_assert_cmpuint (o->fwmark, ==, 51820);
  g_assert_cmpint (o->suppress_prefixlen, ==, -1);
  o = &g_array_index (objs, EmberNetconfObj, 5);
  g_assert_cmpint (o->suppress_prefixlen, ==, 0);
  g_assert_false (o->invert_fwmark);
  g_assert_cmpuint (o->family, ==, 6);
  o = &g_array_index (objs, EmberNetconfObj, 6);
  g_assert_cmpstr (o->sysctl_key, ==, "net.ipv4.conf.all.src_valid_mark");
  g_assert_cmpstr (o->sysctl_was, ==, "0");
  o = &g_array_index (objs, EmberNetconfObj, 7);
  g_assert_cmpint (o->kind, ==, EMBER_NETCONF_OBJ_NFT_TABLE);
  g_assert_cmpstr (o->nft_table, ==, "ember_ft_ember0");
  g_assert_cmpuint (o->family, ==, 6);
  g_autofree char *text = ember_netconf_journal_format (objs);
  g_assert_cmpstr (text, ==, valid);
  g_autofree char *what = ember_netconf_obj_describe (&g_array_index (objs, EmberNetconfObj, 4));
  g_assert_cmpstr (what, ==, "IPv4 rule 32765: not fwmark 51820 lookup 51820");
  g_array_unref (objs);
}

static void
test_torn_last_line_ignored (void)
{
  /* A crash while writing leaves a last line without its newline: that
   * object was never created. */
  g_autofree char *text = g_strconcat (valid, "route dev=5:ember0 tab", NULL);
  GArray *objs = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_netconf_journal_parse (text, strlen (text), &objs, &error));
  g_assert_cmpuint (objs->len, ==, 8);
  g_array_unref (objs);
  g_assert_true (ember_netconf_journal_parse ("", 0, &objs, &error));
  g_assert_cmpuint (objs->len, ==, 0);
  g_array_unref (objs);
}

static void
test_bad_lines (void)
{
  static const struct {
    const char *text;
    const char *expect;
  } cases[] = {
    { "ember-netconf-journal 2\n", "line 1: expected \"ember-netconf-journal 1\"" },
    { "garbage\n", "line 1" },
    { "ember-netconf-journal 1\nfirewall x=1\n", "line 2: unknown object \"firewall\"" },
    { "ember-netconf-journal 1\nroute dev=5:e0 table=254\n", "line 2: route: missing key \"dst\"" },
    { "ember-netconf-journal 1\nroute dev=5:e0 table=254 dst=10.0.0.0/8 dst=10.0.0.0/8\n",
      "given twice" },
    { "ember-netconf-journal 1\nroute dev=5:e0 table=254 dst=10.0.0.1/8\n", "line 2: dst:" },
    { "ember-netconf-journal 1\nroute dev=e0 table=254 dst=10.0.0.0/8\n", "dev: expected INDEX:IFNAME" },
    { "ember-netconf-journal 1\nroute dev=0:e0 table=254 dst=10.0.0.0/8\n", "dev:" },
    { "ember-netconf-journal 1\nroute dev=5:abcdefghijklmnop table=254 dst=10.0.0.0/8\n", "dev:" },
    { "ember-netconf-journal 1\nroute dev=5:a/b table=254 dst=10.0.0.0/8\n", "dev:" },
    { "ember-netconf-journal 1\nroute dev=5:e0 table=0 dst=10.0.0.0/8\n", "table: 0" },
    { "ember-netconf-journal 1\nroute dev=5:e0 table=99999999999 dst=10.0.0.0/8\n", "table: expected a decimal" },
    { "ember-netconf-journal 1\nroute dev=5:e0 table=-1 dst=10.0.0.0/8\n", "table: expected a decimal" },
    { "ember-netconf-journal 1\nroute dev=5:e0 table=0254 dst=10.0.0.0/8\n", "table: expected a decimal" },
    { "ember-netconf-journal 1\nroute dev=5:e0 color=red table=254 dst=10.0.0.0/8\n", "unknown key \"color\"" },
    { "ember-netconf-journal 1\nroute dev=5:e0 local=10.0.0.1/8 table=254 dst=10.0.0.0/8\n", "unknown key \"local\"" },
    { "ember-netconf-journal 1\nroute dev=5:e0  table=254 dst=10.0.0.0/8\n", "empty field" },
    { "ember-netconf-journal 1\nroute dev=5:e0 table dst=10.0.0.0/8\n", "not KEY=VALUE" },
    { "ember-netconf-journal 1\nrule family=5 priority=1 table=2 not-fwmark=3\n", "family: expected 4 or 6" },
    { "ember-netconf-journal 1\nrule family=4 priority=1 table=2\n", "exactly one of" },
    { "ember-netconf-journal 1\nrule family=4 priority=1 table=2 not-fwmark=3 suppress-prefixlength=0\n", "exactly one of" },
    { "ember-netconf-journal 1\nrule family=4 priority=1 table=2 suppress-prefixlength=33\n", "too long for IPv4" },
    { "ember-netconf-journal 1\nrule family=4 priority=1 table=2 not-fwmark=0\n", "not-fwmark: 0" },
    { "ember-netconf-journal 1\nsysctl key=../../etc/passwd was=0 set=1\n", "key: not a sysctl name" },
    { "ember-netconf-journal 1\nsysctl key=net..x was=0 set=1\n", "key: not a sysctl name" },
    { "ember-netconf-journal 1\nsysctl key=net.x was=0 set=1/2\n", "set: not a sysctl value" },
    { "ember-netconf-journal 1\nsysctl key=net.x set=1\n", "missing key \"was\"" },
    { "ember-netconf-journal 1\n\n", "line 2: empty line" },
    { "ember-netconf-journal 1\nnft-table family=4 name=x\"y\n", "name: not an nftables table" },
    { "ember-netconf-journal 1\nnft-table family=4 name=abcdefghijklmnopqrstuvwxyz0123456\n", "name: not an nftables table" },
    { "ember-netconf-journal 1\nnft-table name=ember_ft_x\n", "missing key \"family\"" },
    { "ember-netconf-journal 1\n route dev=5:e0 table=254 dst=10.0.0.0/8\n", "line 2: unknown object \"\"" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      GArray *objs = NULL;
      g_autoptr (GError) error = NULL;
      g_assert_false (ember_netconf_journal_parse (cases[i].text, strlen (cases[i].text), &objs,
                                                   &error));
      g_assert_null (objs);
      g_assert_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL);
      if (strstr (error->message, cases[i].expect) == NULL)
        g_error ("case %" G_GSIZE_FORMAT ": \"%s\" does not say \"%s\"", i, error->message,
                 cases[i].expect);
    }

  /* NUL bytes, non-UTF-8, an endless line. */
  static const char nul[] = "ember-netconf-journal 1\nroute dev=5:e\0 table=254 dst=10.0.0.0/8\n";
  GArray *objs = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_false (ember_netconf_journal_parse (nul, sizeof nul - 1, &objs, &error));
  g_assert_true (strstr (error->message, "line 2: contains a NUL byte") != NULL);
  g_clear_error (&error);
  const char *latin1 = "ember-netconf-journal 1\nroute dev=5:\xe9 table=254 dst=10.0.0.0/8\n";
  g_assert_false (ember_netconf_journal_parse (latin1, strlen (latin1), &objs, &error));
  g_assert_true (strstr (error->message, "not UTF-8") != NULL);
  g_clear_error (&error);
  GString *big = g_string_new ("ember-netconf-journal 1\nroute ");
  for (int i = 0; i < 1000; i++)
    g_string_append_c (big, 'x');
  g_string_append_c (big, '\n');
  g_assert_false (ember_netconf_journal_parse (big->str, big->len, &objs, &error));
  g_assert_true (strstr (error->message, "line 2: longer than") != NULL);
  g_string_free (big, TRUE);
}

static void
test_every_prefix (void)
{
  /* Every truncation of a valid journal parses (a torn last line) and
   * yields as many objects as it has complete lines. */
  gsize len = strlen (valid);
  for (gsize n = 0; n <= len; n++)
    {
      GArray *objs = NULL;
      g_autoptr (GError) error = NULL;
      g_assert_true (ember_netconf_journal_parse (valid, n, &objs, &error));
      guint lines = 0;
      for (gsize i = 0; i < n; i++)
        lines += valid[i] == '\n';
      g_assert_cmpuint (objs->len, ==, lines > 0 ? lines - 1 : 0);
      g_array_unref (objs);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emberd/netconf-journal/parse/round-trips", test_round_trip);
  g_test_add_func ("/emberd/netconf-journal/parse/ignores-a-torn-last-line",
                   test_torn_last_line_ignored);
  g_test_add_func ("/emberd/netconf-journal/parse/bad-lines-are-clear-errors", test_bad_lines);
  g_test_add_func ("/emberd/netconf-journal/parse/every-prefix", test_every_prefix);
  return g_test_run ();
}
