/* static-peer mode's routing decisions (bin/emberd/static-routes.h):
 * wg-quick's Table and FwMark rules, and table names from rt_tables
 * files written here. */
#include <glib/gstdio.h>
#include <string.h>

#include "static-routes.h"

#define PRIV "mJlL1vP1Y5LnfYnwN9F/Bu26+s5dMCQE14oA8GlNCFs="
#define PUB1 "wArv92F7EUfKxbglM/2rjDm1+6WL9szoeFO2qbKTsnU="

static EmberWgConf *
conf_with (const char *interface_lines, const char *allowed)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = g_strdup_printf ("[Interface]\nPrivateKey = " PRIV "\n%s"
                                           "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = %s\n",
                                           interface_lines, allowed);
  EmberWgConf *c = ember_wgconf_parse (text, "t.conf", &error);
  g_assert_no_error (error);
  return c;
}

static EmberCidr
cidr (const char *text)
{
  EmberCidr c;
  g_assert_true (ember_cidr_parse (text, EMBER_CIDR_PARSE_STRICT, &c, NULL));
  return c;
}

static void
test_auto_split (void)
{
  g_autoptr (EmberWgConf) c = conf_with ("", "10.0.0.0/8, fd00::/8");
  g_autoptr (GError) error = NULL;
  EmberStaticRoutes r;
  EmberCidr ten = cidr ("10.0.0.0/8");

  g_assert_true (ember_static_routes_plan (c, NULL, &r, &error));
  g_assert_true (r.routes);
  g_assert_cmpuint (r.table, ==, EMBER_STATIC_ROUTES_MAIN);
  g_assert_false (r.full_tunnel[0]);
  g_assert_false (r.full_tunnel[1]);
  g_assert_cmpuint (r.fwmark, ==, 0);
  g_assert_true (ember_static_routes_wants (&r, &ten));
}

static void
test_auto_full_tunnel (void)
{
  g_autoptr (EmberWgConf) c = conf_with ("", "0.0.0.0/0, ::0/0, 10.9.0.0/16");
  g_autoptr (GError) error = NULL;
  EmberStaticRoutes r;
  EmberCidr d4 = cidr ("0.0.0.0/0"), d6 = cidr ("::/0"), net = cidr ("10.9.0.0/16");

  g_assert_true (ember_static_routes_plan (c, NULL, &r, &error));
  g_assert_true (r.full_tunnel[0]);
  g_assert_true (r.full_tunnel[1]);
  g_assert_cmpuint (r.fwmark, ==, 51820);
  g_assert_cmpuint (r.full_table, ==, 51820);
  /* The defaults go to the full tunnel's table, the rest into main. */
  g_assert_false (ember_static_routes_wants (&r, &d4));
  g_assert_false (ember_static_routes_wants (&r, &d6));
  g_assert_true (ember_static_routes_wants (&r, &net));
  g_assert_cmpuint (r.table, ==, EMBER_STATIC_ROUTES_MAIN);
}

static void
test_auto_ipv4_only_full (void)
{
  g_autoptr (EmberWgConf) c = conf_with ("FwMark = 0x1234\n", "0.0.0.0/0, fd00::/64");
  g_autoptr (GError) error = NULL;
  EmberStaticRoutes r;
  EmberCidr v6 = cidr ("fd00::/64");

  g_assert_true (ember_static_routes_plan (c, NULL, &r, &error));
  g_assert_true (r.full_tunnel[0]);
  g_assert_false (r.full_tunnel[1]);
  g_assert_cmpuint (r.fwmark, ==, 0x1234);
  g_assert_cmpuint (r.full_table, ==, 0x1234);
  g_assert_true (ember_static_routes_wants (&r, &v6));
}

static void
test_off (void)
{
  g_autoptr (EmberWgConf) c = conf_with ("Table = off\nFwMark = 7\n", "0.0.0.0/0, 10.0.0.0/8");
  g_autoptr (GError) error = NULL;
  EmberStaticRoutes r;
  EmberCidr d4 = cidr ("0.0.0.0/0"), ten = cidr ("10.0.0.0/8");

  g_assert_true (ember_static_routes_plan (c, NULL, &r, &error));
  g_assert_false (r.routes);
  g_assert_false (r.full_tunnel[0]);
  g_assert_cmpuint (r.fwmark, ==, 7);
  g_assert_false (ember_static_routes_wants (&r, &d4));
  g_assert_false (ember_static_routes_wants (&r, &ten));
}

static void
test_numbered (void)
{
  g_autoptr (EmberWgConf) c = conf_with ("Table = 1234\n", "0.0.0.0/0, ::/0");
  g_autoptr (GError) error = NULL;
  EmberStaticRoutes r;
  EmberCidr d4 = cidr ("0.0.0.0/0");

  g_assert_true (ember_static_routes_plan (c, NULL, &r, &error));
  /* A table given by number takes every route, the defaults too, and no
   * rules (wg-quick's behaviour). */
  g_assert_cmpuint (r.table, ==, 1234);
  g_assert_false (r.full_tunnel[0]);
  g_assert_false (r.full_tunnel[1]);
  g_assert_cmpuint (r.fwmark, ==, 0);
  g_assert_true (ember_static_routes_wants (&r, &d4));
}

static void
test_system_mark (void)
{
  g_autoptr (EmberWgConf) c = conf_with ("\nFwMark = 254\n", "0.0.0.0/0");
  g_autoptr (GError) error = NULL;
  EmberStaticRoutes r;

  g_assert_false (ember_static_routes_plan (c, NULL, &r, &error));
  g_assert_nonnull (strstr (error->message, "t.conf:4: FwMark: 254"));
}

static void
test_names (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("wgq-rt-XXXXXX", &error);
  g_autofree char *main_file = g_build_filename (dir, "rt_tables", NULL);
  g_autofree char *extra = g_build_filename (dir, "vpn.conf", NULL);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (EmberWgConf) named = conf_with ("Table = vpn\n", "0.0.0.0/0");
  g_autoptr (EmberWgConf) unknown = conf_with ("Table = nosuch\n", "0.0.0.0/0");
  EmberStaticRoutes r;
  guint32 id = 0;

  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (main_file,
                                      "#\n# reserved values\n#\n255\tlocal\n254\tmain\n"
                                      "253\tdefault\n0\tunspec\n", -1, NULL));
  g_assert_true (g_file_set_contents (extra, "# ours\n0x4d2   vpn  # a comment\n100 isp2\n",
                                      -1, NULL));
  g_ptr_array_add (files, g_strdup (main_file));
  g_ptr_array_add (files, g_strdup (extra));

  g_assert_true (ember_static_routes_table_lookup (files, "vpn", &id, NULL));
  g_assert_cmpuint (id, ==, 1234);
  g_assert_true (ember_static_routes_table_lookup (files, "isp2", &id, NULL));
  g_assert_cmpuint (id, ==, 100);
  /* Known without any file. */
  g_assert_true (ember_static_routes_table_lookup (files, "main", &id, NULL));
  g_assert_cmpuint (id, ==, 254);

  g_assert_true (ember_static_routes_plan (named, files, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (r.table, ==, 1234);
  g_assert_false (r.full_tunnel[0]);

  g_assert_false (ember_static_routes_plan (unknown, files, &r, &error));
  g_assert_nonnull (strstr (error->message, "t.conf:3: Table: no routing table named \"nosuch\""));
  g_assert_nonnull (strstr (error->message, "vpn.conf"));

  g_unlink (main_file);
  g_unlink (extra);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emberd/static-routes/auto/routes-into-main-without-a-default",
                   test_auto_split);
  g_test_add_func ("/emberd/static-routes/auto/full-tunnel-for-each-default-route",
                   test_auto_full_tunnel);
  g_test_add_func ("/emberd/static-routes/auto/full-tunnel-per-family-with-fwmark-as-table",
                   test_auto_ipv4_only_full);
  g_test_add_func ("/emberd/static-routes/off/no-routes-but-the-mark", test_off);
  g_test_add_func ("/emberd/static-routes/number/every-route-into-that-table", test_numbered);
  g_test_add_func ("/emberd/static-routes/refuses-a-mark-that-is-a-system-table",
                   test_system_mark);
  g_test_add_func ("/emberd/static-routes/names/from-rt-tables-files", test_names);
  return g_test_run ();
}
