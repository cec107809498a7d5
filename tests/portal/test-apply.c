/* tests/portal/test-apply: the declarative policy file — strict parsing
 * with JSON paths in errors, the diff text, idempotence, dry runs, and a
 * bad or failing file changing nothing. */
#include <string.h>

#include "apply.h"
#include "portal-test-util.h"
#include "store-private.h"

typedef struct {
  char *dir;
  EmberStore *store;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  GError *error = NULL;

  (void) data;
  f->dir = portal_test_tmpdir ();
  f->store = ember_store_open (f->dir, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  ember_store_free (f->store);
  portal_test_rmtree (f->dir);
  g_free (f->dir);
}

static const char issue_example[] =
  "{\"sites\": [{\"name\": \"home\"}],\n"
  " \"resources\": [{\"name\": \"web\", \"type\": \"cidr\", \"address\": \"10.20.0.0/24\","
  " \"site\": \"home\",\n"
  "                \"filters\": [{\"protocol\": \"tcp\", \"ports\": \"80,8000-8100\"},"
  " {\"protocol\": \"icmp\"}]},\n"
  "               {\"name\": \"wiki\", \"type\": \"dns\", \"address\": \"*.corp.example\","
  " \"site\": \"home\"}],\n"
  " \"groups\": [{\"name\": \"staff\", \"clients\": [\"laptop\"]}],\n"
  " \"policies\": [{\"group\": \"staff\", \"resource\": \"web\"}]}\n";

static char *
apply_text (EmberStore *store, const char *json, gboolean dry_run, GError **error)
{
  g_autoptr (EmberPolicyFile) file = ember_policy_file_parse (json, strlen (json), "p.json",
                                                              error);
  g_autoptr (GPtrArray) diff = NULL;

  if (file == NULL || !ember_portal_apply (store, file, dry_run, "test", &diff, error))
    return NULL;
  g_ptr_array_add (diff, NULL);
  return g_strjoinv ("\n", (char **) diff->pdata);
}

static char *
apply_ok (EmberStore *store, const char *json, gboolean dry_run)
{
  GError *error = NULL;
  char *text = apply_text (store, json, dry_run, &error);

  g_assert_no_error (error);
  g_assert_nonnull (text);
  return text;
}

static gint64
latest (EmberStore *store)
{
  gint64 id;

  g_assert_true (ember_store_latest_change (store, &id, NULL));
  return id;
}

/* Everything apply manages, as one text: equal texts, equal states. */
static char *
state_of (EmberStore *store)
{
  g_autoptr (GPtrArray) r = ember_store_list_resources (store, NULL);
  g_autoptr (GPtrArray) g = ember_store_list_groups (store, NULL);
  g_autoptr (GPtrArray) p = ember_store_list_policies (store, NULL);
  g_autoptr (GPtrArray) s = ember_store_list_sites (store, NULL);
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < s->len; i++)
    g_string_append_printf (out, "site %s\n", ((EmberStoreSite *) s->pdata[i])->name);
  for (guint i = 0; i < r->len; i++)
    {
      EmberStoreResource *x = r->pdata[i];
      g_autofree char *fl = store_filters_to_text (x->filters);
      g_string_append_printf (out, "resource %s %d %s %s %s %s\n", x->name, x->type, x->address,
                              ember_store_ip_stack_name (x->ip_stack), x->site_name, fl);
    }
  for (guint i = 0; i < g->len; i++)
    {
      g_autofree char *c = g_strjoinv (",", ((EmberStoreGroup *) g->pdata[i])->clients);
      g_string_append_printf (out, "group %s %s\n", ((EmberStoreGroup *) g->pdata[i])->name, c);
    }
  for (guint i = 0; i < p->len; i++)
    {
      EmberStorePolicy *x = p->pdata[i];
      g_autofree char *c = g_strjoinv (",", x->source_cidrs);
      g_string_append_printf (out, "policy %s %s %d %u %u %s\n", x->group_name, x->resource_name,
                              x->has_time_window, x->start_minute, x->end_minute, c);
    }
  return g_string_free (out, FALSE);
}

static void
test_apply_the_issue_example_prints_the_diff (Fixture *f, gconstpointer data)
{
  g_autofree char *diff = NULL;

  (void) data;
  diff = apply_ok (f->store, issue_example, FALSE);
  g_assert_cmpstr (diff, ==,
                   "+ site home\n"
                   "+ resource web: cidr 10.20.0.0/24 in home, tcp 80, tcp 8000-8100, icmp\n"
                   "+ resource wiki: dns *.corp.example in home, all traffic\n"
                   "+ group staff: clients laptop\n"
                   "+ policy staff -> web: any time, any source");
}

static void
test_apply_twice_gives_an_empty_diff (Fixture *f, gconstpointer data)
{
  g_autofree char *first = NULL, *second = NULL, *state = NULL, *again = NULL;
  gint64 after_first;

  (void) data;
  first = apply_ok (f->store, issue_example, FALSE);
  g_assert_cmpstr (first, !=, "");
  after_first = latest (f->store);
  state = state_of (f->store);
  second = apply_ok (f->store, issue_example, FALSE);
  g_assert_cmpstr (second, ==, "");
  g_assert_cmpint (latest (f->store), ==, after_first);
  again = state_of (f->store);
  g_assert_cmpstr (state, ==, again);
}

static void
test_apply_a_change_prints_what_changed (Fixture *f, gconstpointer data)
{
  g_autofree char *changed = NULL, *diff = NULL;
  const char *next =
    "{\"sites\": [{\"name\": \"home\"}, {\"name\": \"lab\"}],"
    " \"resources\": [{\"name\": \"web\", \"type\": \"cidr\", \"address\": \"10.21.0.0/16\","
    "  \"site\": \"lab\", \"filters\": [{\"protocol\": \"udp\"}]}],"
    " \"groups\": [{\"name\": \"staff\", \"clients\": [\"phone\", \"laptop\", \"phone\"]},"
    "  {\"name\": \"ops\"}],"
    " \"policies\": [{\"group\": \"staff\", \"resource\": \"web\","
    "  \"conditions\": {\"utc_time\": \"22:00-06:30\", \"source_cidrs\": [\"192.0.2.0/24\"]}}]}";

  (void) data;
  g_free (apply_ok (f->store, issue_example, FALSE));
  diff = apply_ok (f->store, next, FALSE);
  g_assert_cmpstr (diff, ==,
                   "- resource wiki\n"
                   "+ site lab\n"
                   "~ resource web: address 10.20.0.0/24 -> 10.21.0.0/16; site home -> lab; "
                   "filters tcp 80, tcp 8000-8100, icmp -> udp all ports\n"
                   "+ group ops: clients (none)\n"
                   "~ group staff: clients laptop -> laptop, phone\n"
                   "~ policy staff -> web: utc_time any time -> 22:00-06:30 UTC; "
                   "source_cidrs any source -> 192.0.2.0/24");
  /* ... and back: deletions come first, sites last. */
  changed = apply_ok (f->store, "{}", FALSE);
  g_assert_cmpstr (changed, ==,
                   "- policy staff -> web\n- resource web\n- group ops\n- group staff\n"
                   "- site home\n- site lab");
}

/* A dns resource's ip_stack: stored, shown in the diff both ways, and
 * "dual" written out is the same as none. */
static void
test_ip_stack_is_applied_and_diffed (Fixture *f, gconstpointer data)
{
  const char *const files[] = {
    "{\"sites\": [{\"name\": \"home\"}], \"resources\": [{\"name\": \"wiki\", \"type\": \"dns\","
    " \"address\": \"wiki.corp\", \"ip_stack\": \"ipv4\", \"site\": \"home\"}]}",
    "{\"sites\": [{\"name\": \"home\"}], \"resources\": [{\"name\": \"wiki\", \"type\": \"dns\","
    " \"address\": \"wiki.corp\", \"ip_stack\": \"ipv6\", \"site\": \"home\"}]}",
    "{\"sites\": [{\"name\": \"home\"}], \"resources\": [{\"name\": \"wiki\", \"type\": \"dns\","
    " \"address\": \"wiki.corp\", \"site\": \"home\"}]}",
    "{\"sites\": [{\"name\": \"home\"}], \"resources\": [{\"name\": \"wiki\", \"type\": \"dns\","
    " \"address\": \"wiki.corp\", \"ip_stack\": \"dual\", \"site\": \"home\"}]}",
  };
  const char *const diffs[] = {
    "+ site home\n+ resource wiki: dns wiki.corp ipv4 in home, all traffic",
    "~ resource wiki: ip_stack ipv4 -> ipv6",
    "~ resource wiki: ip_stack ipv6 -> dual",
    "",
  };
  const EmberStoreIpStack stored[] = { EMBER_STORE_IP_STACK_IPV4, EMBER_STORE_IP_STACK_IPV6,
                                       EMBER_STORE_IP_STACK_DUAL, EMBER_STORE_IP_STACK_DUAL };

  (void) data;
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *diff = apply_ok (f->store, files[i], FALSE);
      g_autoptr (GPtrArray) list = ember_store_list_resources (f->store, NULL);
      g_assert_cmpstr (diff, ==, diffs[i]);
      g_assert_cmpuint (list->len, ==, 1);
      g_assert_cmpint (((EmberStoreResource *) list->pdata[0])->ip_stack, ==, stored[i]);
    }
}

static void
test_dry_run_changes_nothing (Fixture *f, gconstpointer data)
{
  g_autofree char *before = NULL, *diff = NULL, *after = NULL, *real = NULL;
  gint64 changes;

  (void) data;
  before = state_of (f->store);
  changes = latest (f->store);
  diff = apply_ok (f->store, issue_example, TRUE);
  after = state_of (f->store);
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpint (latest (f->store), ==, changes);
  /* The dry run printed exactly what the real run then does. */
  real = apply_ok (f->store, issue_example, FALSE);
  g_assert_cmpstr (diff, ==, real);
}

static void
test_a_failing_apply_changes_nothing (Fixture *f, gconstpointer data)
{
  g_autofree char *before = NULL, *after = NULL, *text = NULL;
  GError *error = NULL;
  gint64 changes;
  const char *drops_site = "{\"sites\": [], \"resources\": [], \"groups\": [], \"policies\": []}";

  (void) data;
  g_free (apply_ok (f->store, issue_example, FALSE));
  /* A gateway keeps site "home": the file's deletion of it fails late,
   * after the policy, resources and group are already gone in the
   * transaction, which must roll them back. */
  ember_store_secret_free (ember_store_token_create (f->store, EMBER_STORE_DEVICE_GATEWAY, "gw",
                                                     "home", 0, "test", NULL, &error));
  g_assert_no_error (error);
  before = state_of (f->store);
  changes = latest (f->store);
  text = apply_text (f->store, drops_site, FALSE, &error);
  g_assert_null (text);
  g_assert_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "gateway gw"));
  g_clear_error (&error);
  after = state_of (f->store);
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpint (latest (f->store), ==, changes);
}

typedef struct {
  const char *json;
  const char *message; /* a part of the error */
} BadCase;

static const BadCase bad_cases[] = {
  { "", "p.json" },
  { "[]", "$: expected an object, got an array" },
  { "{\"site\": []}", "$: unknown member \"site\"" },
  { "{\"sites\": {}}", "$.sites: expected an array, got an object" },
  { "{\"sites\": [{}]}", "$.sites[0].name: missing" },
  { "{\"sites\": [{\"name\": 7}]}", "$.sites[0].name: expected a string, got a number" },
  { "{\"sites\": [{\"name\": \"home\\641\"}]}", "$.sites[0].name: expected a UTF-8 string" },
  { "{\"sites\": [{\"name\": \"a b\"}]}", "$.sites[0].name: site name: expected 1 to 64" },
  { "{\"sites\": [{\"name\": \"a\"}, {\"name\": \"a\"}]}", "$.sites[1].name: duplicate site" },
  { "{\"resources\": [{\"name\": \"r\", \"type\": \"cidr\", \"address\": \"10.0.0.0/8\","
    " \"site\": \"nowhere\"}]}",
    "$.resources[0].site: expected a site of $.sites, got \"nowhere\"" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"host\","
    " \"site\": \"s\"}]}",
    "$.resources[0].type: expected \"cidr\", \"dns\" or \"internet\", got \"host\"" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"cidr\","
    " \"address\": \"10.0.0.0/40\", \"site\": \"s\"}]}",
    "$.resources[0].address: expected an IPv4 or IPv6 CIDR" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"dns\","
    " \"address\": \"a.*.b\", \"site\": \"s\"}]}",
    "$.resources[0].address: expected a DNS name pattern" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"internet\","
    " \"address\": \"0.0.0.0/0\", \"site\": \"s\"}]}",
    "$.resources[0].address: an internet resource has no address" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"cidr\","
    " \"address\": \"10.0.0.0/8\", \"site\": \"s\", \"filters\": [{\"protocol\": \"icmp\","
    " \"ports\": \"1\"}]}]}",
    "$.resources[0].filters[0].ports: icmp has no ports" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"cidr\","
    " \"address\": \"10.0.0.0/8\", \"site\": \"s\", \"filters\": [{\"protocol\": \"tcp\","
    " \"ports\": \"90-80\"}]}]}",
    "$.resources[0].filters[0].ports: expected ports and ranges within 1-65535" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"cidr\","
    " \"address\": \"10.0.0.0/8\", \"site\": \"s\", \"filters\": [{\"protocol\": \"sctp\"}]}]}",
    "$.resources[0].filters[0].protocol: expected \"tcp\", \"udp\" or \"icmp\"" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"dns\","
    " \"address\": \"app.corp\", \"ip_stack\": \"ipv4_only\", \"site\": \"s\"}]}",
    "$.resources[0].ip_stack: expected \"dual\", \"ipv4\" or \"ipv6\", got \"ipv4_only\"" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"dns\","
    " \"address\": \"app.corp\", \"ip_stack\": \"IPv6\", \"site\": \"s\"}]}",
    "$.resources[0].ip_stack: expected \"dual\", \"ipv4\" or \"ipv6\", got \"IPv6\"" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"dns\","
    " \"address\": \"app.corp\", \"ip_stack\": 4, \"site\": \"s\"}]}",
    "$.resources[0].ip_stack: expected a string, got a number" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"cidr\","
    " \"address\": \"10.0.0.0/8\", \"ip_stack\": \"ipv4\", \"site\": \"s\"}]}",
    "$.resources[0].ip_stack: only a dns resource has an IP stack" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"internet\","
    " \"ip_stack\": \"dual\", \"site\": \"s\"}]}",
    "$.resources[0].ip_stack: only a dns resource has an IP stack" },
  { "{\"groups\": [{\"name\": \"g\", \"clients\": [\"ok\", 3]}]}",
    "$.groups[0].clients[1]: expected a client name, got a number" },
  { "{\"groups\": [{\"name\": \"g\"}], \"policies\": [{\"group\": \"g\", \"resource\": \"r\"}]}",
    "$.policies[0].resource: expected a resource of $.resources, got \"r\"" },
  { "{\"policies\": [{\"group\": \"g\", \"resource\": \"r\"}]}",
    "$.policies[0].group: expected a group of $.groups" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"internet\","
    " \"site\": \"s\"}], \"groups\": [{\"name\": \"g\"}], \"policies\": [{\"group\": \"g\","
    " \"resource\": \"r\", \"conditions\": {\"utc_time\": \"8:00-18:00\"}}]}",
    "$.policies[0].conditions.utc_time: expected a daily UTC window \"HH:MM-HH:MM\"" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"internet\","
    " \"site\": \"s\"}], \"groups\": [{\"name\": \"g\"}], \"policies\": [{\"group\": \"g\","
    " \"resource\": \"r\", \"conditions\": {\"utc_time\": \"08: 0-24:00\"}}]}",
    "$.policies[0].conditions.utc_time: expected a daily UTC window \"HH:MM-HH:MM\"" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"internet\","
    " \"site\": \"s\"}], \"groups\": [{\"name\": \"g\"}], \"policies\": [{\"group\": \"g\","
    " \"resource\": \"r\", \"conditions\": {\"utc_time\": \"08:00-08:00\"}}]}",
    "with two different times" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"internet\","
    " \"site\": \"s\"}], \"groups\": [{\"name\": \"g\"}], \"policies\": [{\"group\": \"g\","
    " \"resource\": \"r\", \"conditions\": {\"source_cidrs\": [\"x\"]}}]}",
    "$.policies[0].conditions.source_cidrs[0]: expected a CIDR" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"internet\","
    " \"site\": \"s\"}], \"groups\": [{\"name\": \"g\"}], \"policies\": [{\"group\": \"g\","
    " \"resource\": \"r\"}, {\"group\": \"g\", \"resource\": \"r\"}]}",
    "$.policies[1]: duplicate policy" },
  { "{\"sites\": [{\"name\": \"s\"}], \"resources\": [{\"name\": \"r\", \"type\": \"internet\","
    " \"site\": \"s\"}], \"groups\": [{\"name\": \"g\"}], \"policies\": [{\"group\": \"g\","
    " \"resource\": \"r\", \"conditions\": {\"days\": []}}]}",
    "$.policies[0].conditions: unknown member \"days\"" },
};

static void
test_bad_files_name_the_path_and_change_nothing (Fixture *f, gconstpointer data)
{
  g_autofree char *before = NULL;
  gint64 changes;

  (void) data;
  g_free (apply_ok (f->store, issue_example, FALSE));
  before = state_of (f->store);
  changes = latest (f->store);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      GError *error = NULL;
      g_autofree char *after = NULL;
      char *text = apply_text (f->store, bad_cases[i].json, FALSE, &error);

      g_assert_null (text);
      g_assert_nonnull (error);
      if (strstr (error->message, bad_cases[i].message) == NULL)
        g_error ("case %u: \"%s\" does not contain \"%s\"", i, error->message,
                 bad_cases[i].message);
      g_assert_true (g_str_has_prefix (error->message, "p.json"));
      g_error_free (error);
      after = state_of (f->store);
      g_assert_cmpstr (before, ==, after);
      g_assert_cmpint (latest (f->store), ==, changes);
    }
}

static void
test_deeply_nested_files_are_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *deep = g_strnfill (100000, '[');
  GError *error = NULL;

  (void) data;
  (void) f;
  g_assert_null (ember_policy_file_parse (deep, strlen (deep), "deep.json", &error));
  g_assert_nonnull (strstr (error->message, "nested deeper"));
  g_error_free (error);
}

static void
test_the_shipped_example_applies (Fixture *f, gconstpointer data)
{
  const char *root = g_getenv ("EMBER_SOURCE_ROOT");
  g_autofree char *path = NULL, *text = NULL, *first = NULL, *second = NULL;

  (void) data;
  if (root == NULL)
    {
      g_test_skip ("EMBER_SOURCE_ROOT is not set (run through meson test)");
      return;
    }
  path = g_build_filename (root, "data", "portal-policy.json", NULL);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  first = apply_ok (f->store, text, FALSE);
  g_assert_nonnull (strstr (first, "+ resource internet: internet in home, all traffic"));
  g_assert_nonnull (strstr (first, "+ resource lab: dns **.lab.corp.example ipv4 in office, tcp 22"));
  second = apply_ok (f->store, text, FALSE);
  g_assert_cmpstr (second, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/portal/apply/" path, Fixture, NULL, fixture_set_up, fn, \
                                  fixture_tear_down)
  ADD ("the-issue-example-prints-the-diff", test_apply_the_issue_example_prints_the_diff);
  ADD ("twice-gives-an-empty-diff", test_apply_twice_gives_an_empty_diff);
  ADD ("a-change-prints-what-changed", test_apply_a_change_prints_what_changed);
  ADD ("dry-run-changes-nothing", test_dry_run_changes_nothing);
  ADD ("ip-stack-is-stored-and-diffed", test_ip_stack_is_applied_and_diffed);
  ADD ("a-failing-apply-changes-nothing", test_a_failing_apply_changes_nothing);
  ADD ("bad-files-name-the-path-and-change-nothing",
       test_bad_files_name_the_path_and_change_nothing);
  ADD ("deeply-nested-files-are-refused", test_deeply_nested_files_are_refused);
  ADD ("the-shipped-example-applies", test_the_shipped_example_applies);
  return g_test_run ();
}
