/* emberd status: the JSON file round-trips, and a broken one is refused
 * with the member named. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "status.h"

static EmberStatus *
sample (void)
{
  EmberStatus *s = ember_status_new ();
  EmberStatusConnection *c;
  EmberStatusResource *r;

  s->mode = g_strdup ("client");
  s->pid = 4242;
  s->portal_url = g_strdup ("ws://192.0.2.10:8080");
  s->portal_state = g_strdup ("joined");
  s->portal_since = 1700000000;
  s->state = g_strdup ("reconnecting");
  s->public_key = g_strdup ("DkRSpXBV9U5/14yzyXhvJqjQqqND0wZFwimhiJsNZS0=");
  ember_status_set (&s->device_id, "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11");
  ember_status_set (&s->device_name, "laptop");
  s->internet = TRUE;
  s->counters.rx_bytes = G_GUINT64_CONSTANT (6000000000);
  s->counters.tx_packets = 12;
  s->counters.handshakes = 2;
  s->ifname = g_strdup ("ember0");
  s->ipv4 = g_strdup ("100.64.0.2");
  s->ipv6 = g_strdup ("fd00:2021:1111::2");
  r = ember_status_add_resource (s, "r-1", "web \"intranet\"", "10.20.0.0/24", "cidr",
                                 "connected", "g-1");
  g_free (r->site);
  r->site = g_strdup ("home");
  ember_status_add_resource (s, "r-2", "everything", NULL, "internet", "not_connected", NULL);
  c = ember_status_add_connection (s, "g-1", "up");
  g_free (c->path);
  c->path = g_strdup ("relayed");
  g_free (c->relay);
  c->relay = g_strdup ("192.0.2.20:3478");
  g_free (c->local);
  c->local = g_strdup ("192.0.2.20:50000");
  g_free (c->remote);
  c->remote = g_strdup ("[2001:db8::1]:51820");
  c->handshake_age_s = 3;
  c->rx_bytes = G_GUINT64_CONSTANT (5000000000);
  c->tx_bytes = 7;
  ember_status_add_connection (s, "g-2", "checking");
  ember_status_set (&s->dns.system, "file");
  s->dns.applied = TRUE;
  ember_status_set (&s->dns.plugin, "dot");
  ember_status_add_dns_server (s, "100.100.111.1", "fd00:2021:1111:8000:100:100:111:1",
                               "192.0.2.53:853");
  ember_status_add_dns_server (s, "100.100.111.2", NULL, "[2001:db8::53]:853");
  s->dns.proxy_names = 3;
  return s;
}

/* A gateway serving two resources to two clients. */
static EmberStatus *
gateway_sample (void)
{
  EmberStatus *s = ember_status_new ();
  EmberStatusClient *c;
  EmberStatusResource *r;

  s->mode = g_strdup ("gateway");
  s->pid = 7;
  s->state = g_strdup ("connected");
  s->portal_url = g_strdup ("ws://192.0.2.10:8080");
  s->portal_state = g_strdup ("joined");
  s->ifname = g_strdup ("ember0");
  s->ipv4 = g_strdup ("100.64.0.3");
  s->ipv6 = g_strdup ("");
  r = ember_status_add_resource (s, "r-1", "lan", "10.20.0.0/24", "cidr", "serving", NULL);
  ember_status_set (&r->site, "home");
  r = ember_status_add_resource (s, "r-2", "wiki", "*.corp.example", "dns", "serving", NULL);
  ember_status_set (&r->site, "home");
  c = ember_status_add_client (s, "c-laptop", 2);
  g_ptr_array_add (c->resources, g_strdup ("r-1"));
  g_ptr_array_add (c->resources, g_strdup ("r-2"));
  c = ember_status_add_client (s, "c-phone", 1);
  g_ptr_array_add (c->resources, g_strdup ("r-2"));
  ember_status_set (&s->dns.plugin, "do53");
  ember_status_add_dns_server (s, NULL, NULL, "10.20.0.53:53");
  return s;
}

/* The sample with a dns resource whose stack the portal said. */
static EmberStatus *
sample_with_ip_stack (void)
{
  EmberStatus *s = sample ();
  EmberStatusResource *r =
    ember_status_add_resource (s, "r-3", "legacy", "legacy.corp.example", "dns", "connecting", NULL);
  ember_status_set (&r->ip_stack, "ipv4");
  return s;
}

static void
test_round_trip (void)
{
  g_autoptr (EmberStatus) a = sample_with_ip_stack ();
  g_autofree char *json = ember_status_to_json (a);
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStatus) b = ember_status_from_json (json, &error);
  g_autofree char *again = NULL;
  EmberStatusConnection *c;
  EmberStatusResource *r;
  EmberStatusDnsServer *v;

  g_assert_no_error (error);
  g_assert_cmpstr (b->mode, ==, "client");
  g_assert_cmpint (b->pid, ==, 4242);
  g_assert_cmpstr (b->portal_state, ==, "joined");
  g_assert_cmpint (b->portal_since, ==, 1700000000);
  g_assert_cmpstr (b->ipv6, ==, "fd00:2021:1111::2");
  g_assert_cmpuint (b->resources->len, ==, 3);
  r = b->resources->pdata[2];
  g_assert_cmpstr (r->ip_stack, ==, "ipv4");
  /* Only where said: a cidr resource has none, in the file either. */
  g_assert_cmpuint (strstr (json, "\"ip_stack\"") - json, >, strstr (json, "\"r-3\"") - json);
  r = b->resources->pdata[0];
  g_assert_cmpstr (r->ip_stack, ==, "");
  g_assert_cmpstr (r->name, ==, "web \"intranet\"");
  g_assert_cmpstr (r->gateway_id, ==, "g-1");
  g_assert_cmpstr (r->site, ==, "home");
  g_assert_cmpstr (b->state, ==, "reconnecting");
  g_assert_cmpstr (b->public_key, ==, "DkRSpXBV9U5/14yzyXhvJqjQqqND0wZFwimhiJsNZS0=");
  g_assert_cmpstr (b->device_id, ==, "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11");
  g_assert_cmpstr (b->device_name, ==, "laptop");
  g_assert_true (b->internet);
  g_assert_cmpuint (b->counters.rx_bytes, ==, G_GUINT64_CONSTANT (6000000000));
  g_assert_cmpuint (b->counters.tx_packets, ==, 12);
  g_assert_cmpuint (b->counters.handshakes, ==, 2);
  g_assert_cmpuint (b->counters.rx_packets, ==, 0);
  r = b->resources->pdata[1];
  g_assert_cmpstr (r->address, ==, "");
  g_assert_cmpuint (b->connections->len, ==, 2);
  c = b->connections->pdata[0];
  g_assert_cmpstr (c->path, ==, "relayed");
  g_assert_cmpstr (c->relay, ==, "192.0.2.20:3478");
  g_assert_cmpstr (c->remote, ==, "[2001:db8::1]:51820");
  g_assert_cmpint (c->handshake_age_s, ==, 3);
  g_assert_cmpuint (c->rx_bytes, ==, G_GUINT64_CONSTANT (5000000000));
  c = b->connections->pdata[1];
  g_assert_cmpstr (c->path, ==, "");
  g_assert_cmpint (c->handshake_age_s, ==, -1);
  g_assert_cmpstr (b->dns.system, ==, "file");
  g_assert_true (b->dns.applied);
  g_assert_cmpstr (b->dns.plugin, ==, "dot");
  g_assert_cmpuint (b->dns.proxy_names, ==, 3);
  g_assert_cmpuint (b->dns.servers->len, ==, 2);
  v = b->dns.servers->pdata[0];
  g_assert_cmpstr (v->ipv4, ==, "100.100.111.1");
  g_assert_cmpstr (v->ipv6, ==, "fd00:2021:1111:8000:100:100:111:1");
  g_assert_cmpstr (v->upstream, ==, "192.0.2.53:853");
  v = b->dns.servers->pdata[1];
  g_assert_cmpstr (v->ipv6, ==, "");
  g_assert_cmpstr (v->upstream, ==, "[2001:db8::53]:853");
  g_assert_cmpuint (b->clients->len, ==, 0);
  /* And the same text again. */
  again = ember_status_to_json (b);
  g_assert_cmpstr (again, ==, json);
}

static void
test_gateway_round_trip (void)
{
  g_autoptr (EmberStatus) a = gateway_sample ();
  g_autofree char *json = ember_status_to_json (a);
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStatus) b = ember_status_from_json (json, &error);
  g_autofree char *again = NULL;
  EmberStatusClient *c;
  EmberStatusResource *r;

  g_assert_no_error (error);
  g_assert_cmpuint (b->resources->len, ==, 2);
  r = b->resources->pdata[1];
  g_assert_cmpstr (r->status, ==, "serving");
  g_assert_cmpstr (r->address, ==, "*.corp.example");
  g_assert_cmpstr (r->gateway_id, ==, "");
  g_assert_cmpuint (b->clients->len, ==, 2);
  c = b->clients->pdata[0];
  g_assert_cmpstr (c->id, ==, "c-laptop");
  g_assert_cmpuint (c->authorizations, ==, 2);
  g_assert_cmpuint (c->resources->len, ==, 2);
  g_assert_cmpstr (c->resources->pdata[1], ==, "r-2");
  c = b->clients->pdata[1];
  g_assert_cmpuint (c->authorizations, ==, 1);
  g_assert_cmpstr (b->dns.system, ==, "");
  g_assert_false (b->dns.applied);
  g_assert_cmpstr (b->dns.plugin, ==, "do53");
  g_assert_cmpstr (((EmberStatusDnsServer *) b->dns.servers->pdata[0])->upstream, ==,
                   "10.20.0.53:53");
  again = ember_status_to_json (b);
  g_assert_cmpstr (again, ==, json);
}

static char *
printed (const EmberStatus *s)
{
  g_autofree char *dir = g_dir_make_tmp ("ember-status-XXXXXX", NULL);
  g_autofree char *p = g_build_filename (dir, "out", NULL);
  FILE *f = fopen (p, "w");
  char *text = NULL;

  g_assert_nonnull (f);
  ember_status_print (s, f);
  fclose (f);
  g_assert_true (g_file_get_contents (p, &text, NULL, NULL));
  g_unlink (p);
  g_rmdir (dir);
  return text;
}

static void
assert_line (const char *text, const char *pattern)
{
  if (!g_regex_match_simple (pattern, text, G_REGEX_MULTILINE, 0))
    g_error ("no line matches /%s/ in:\n%s", pattern, text);
}

/* The table tells the facts of the JSON: DNS on a client, what a gateway
 * serves and to whom. */
static void
test_print_dns_and_served (void)
{
  g_autoptr (EmberStatus) client = sample ();
  g_autoptr (EmberStatus) gw = gateway_sample ();
  g_autoptr (EmberStatus) first = ember_status_new ();
  g_autofree char *ct = printed (client);
  g_autofree char *gt = printed (gw);
  g_autofree char *ft = NULL;

  assert_line (ct, "^device: +laptop \\(6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11\\)$");
  g_assert_null (strstr (gt, "device:"));
  assert_line (ct, "^dns: +system resolver by file, asking the sentinels; upstreams through dot; "
                   "3 name\\(s\\) with proxy addresses$");
  assert_line (ct, "^ +100\\.100\\.111\\.1  fd00:2021:1111:8000:100:100:111:1 -> "
                   "192\\.0\\.2\\.53:853$");
  assert_line (ct, "^ +100\\.100\\.111\\.2 -> \\[2001:db8::53\\]:853$");
  g_assert_null (strstr (ct, "CLIENT"));
  assert_line (gt, "^dns: +upstreams through do53$");
  assert_line (gt, "^ +-> 10\\.20\\.0\\.53:53$");
  assert_line (gt, "^lan +10\\.20\\.0\\.0/24 +cidr +home +1$");
  assert_line (gt, "^wiki +\\*\\.corp\\.example +dns +home +2$");
  assert_line (gt, "^c-laptop +2 +lan, wiki$");
  assert_line (gt, "^c-phone +1 +wiki$");
  /* Nothing known about DNS: no line at all. */
  first->mode = g_strdup ("client");
  first->portal_url = g_strdup ("");
  first->portal_state = g_strdup ("");
  first->ifname = g_strdup ("");
  first->ipv4 = g_strdup ("");
  first->ipv6 = g_strdup ("");
  first->state = g_strdup ("");
  ft = printed (first);
  g_assert_null (strstr (ft, "dns:"));
}

static void
test_file_atomic (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ember-status-XXXXXX", NULL);
  g_autofree char *run = g_build_filename (dir, "run", NULL);
  g_autofree char *p = ember_status_path (run);
  g_autoptr (EmberStatus) a = sample ();
  g_autoptr (EmberStatus) b = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GDir) d = NULL;
  guint n = 0;

  g_assert_true (ember_status_write (a, p, &error));
  g_assert_no_error (error);
  g_assert_true (ember_status_write (a, p, &error));
  g_assert_true (g_file_get_contents (p, &text, NULL, NULL));
  b = ember_status_from_json (text, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->ifname, ==, "ember0");
  /* No temporary file is left next to it. */
  d = g_dir_open (run, 0, NULL);
  while (g_dir_read_name (d) != NULL)
    n++;
  g_assert_cmpuint (n, ==, 1);
  g_unlink (p);
  g_rmdir (run);
  g_rmdir (dir);
}

/* A file of the first version (no state, identity, internet, counters,
 * site) still reads, those facts empty. */
static void
test_reads_first_version (void)
{
  static const char text[]
      = "{\"mode\":\"gateway\",\"pid\":7,\"portal\":{\"url\":\"ws://p\",\"state\":\"joined\","
        "\"since\":1},\"interface\":{\"name\":\"\",\"ipv4\":\"\",\"ipv6\":\"\"},"
        "\"resources\":[{\"id\":\"r\",\"name\":\"n\",\"address\":\"\",\"type\":\"internet\","
        "\"status\":\"connecting\",\"gateway_id\":\"\"}],\"connections\":[]}";
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStatus) s = ember_status_from_json (text, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (s->state, ==, "");
  g_assert_cmpstr (s->public_key, ==, "");
  g_assert_cmpstr (s->device_id, ==, "");
  g_assert_cmpstr (s->device_name, ==, "");
  g_assert_false (s->internet);
  g_assert_cmpuint (s->counters.rx_bytes, ==, 0);
  g_assert_cmpstr (((EmberStatusResource *) s->resources->pdata[0])->site, ==, "");
  g_assert_cmpstr (((EmberStatusResource *) s->resources->pdata[0])->ip_stack, ==, "");
  g_assert_cmpstr (s->dns.system, ==, "");
  g_assert_false (s->dns.applied);
  g_assert_cmpstr (s->dns.plugin, ==, "");
  g_assert_cmpuint (s->dns.servers->len, ==, 0);
  g_assert_cmpuint (s->dns.proxy_names, ==, 0);
  g_assert_cmpuint (s->clients->len, ==, 0);
}

/* Members inside "dns" and "clients" are optional too: a "dns" with only
 * its servers, a server with only its upstream, a client with only its
 * id. */
static void
test_reads_partial_dns_and_clients (void)
{
  static const char text[]
      = "{\"mode\":\"gateway\",\"pid\":7,\"portal\":{\"url\":\"ws://p\",\"state\":\"joined\","
        "\"since\":1},\"interface\":{\"name\":\"\",\"ipv4\":\"\",\"ipv6\":\"\"},"
        "\"resources\":[],\"connections\":[],"
        "\"dns\":{\"servers\":[{\"upstream\":\"192.0.2.1:53\"}]},"
        "\"clients\":[{\"id\":\"c\"}]}";
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStatus) s = ember_status_from_json (text, &error);
  EmberStatusDnsServer *v;
  EmberStatusClient *c;

  g_assert_no_error (error);
  g_assert_cmpstr (s->dns.system, ==, "");
  g_assert_cmpuint (s->dns.servers->len, ==, 1);
  v = s->dns.servers->pdata[0];
  g_assert_cmpstr (v->ipv4, ==, "");
  g_assert_cmpstr (v->upstream, ==, "192.0.2.1:53");
  g_assert_cmpuint (s->clients->len, ==, 1);
  c = s->clients->pdata[0];
  g_assert_cmpstr (c->id, ==, "c");
  g_assert_cmpuint (c->authorizations, ==, 0);
  g_assert_cmpuint (c->resources->len, ==, 0);
}

/* A file that is whole up to "connections": the later members follow. */
#define BASE                                                                                  \
  "{\"mode\":\"client\",\"pid\":1,\"portal\":{\"url\":\"u\",\"state\":\"joined\","              \
  "\"since\":1},\"interface\":{\"name\":\"\",\"ipv4\":\"\",\"ipv6\":\"\"},\"resources\":[],"   \
  "\"connections\":[]"

static void
test_bad_member_named (void)
{
  static const struct {
    const char *text;
    const char *named;
  } cases[] = {
    { "[]", "expected an object" },
    { "{\"mode\":\"client\"}", "pid" },
    { "{\"mode\":\"client\",\"pid\":1,\"portal\":[]}", "portal" },
    { "{\"mode\":\"client\",\"pid\":1,\"portal\":{\"url\":\"u\",\"state\":\"joined\","
      "\"since\":\"x\"}}",
      "portal.since" },
    { "{\"mode\":\"client\",\"pid\":1,\"internet\":\"yes\"}", "internet" },
    { BASE ",\"identity\":{\"public_key\":\"k\",\"name\":7}}", "identity.name" },
    { BASE ",\"identity\":{\"id\":null}}", "identity.id" },
    { "{\"mode\":\"client\",\"pid\":1,\"counters\":{\"rx_bytes\":\"x\"}}", "counters.rx_bytes" },
    { BASE ",\"dns\":[]}", "dns: expected an object" },
    { BASE ",\"dns\":{\"applied\":\"yes\"}}", "dns.applied" },
    { BASE ",\"dns\":{\"system\":1}}", "dns.system" },
    { BASE ",\"dns\":{\"proxy_names\":true}}", "dns.proxy_names" },
    { BASE ",\"dns\":{\"servers\":{}}}", "dns.servers" },
    { BASE ",\"dns\":{\"servers\":[1]}}", "dns.servers[0]" },
    { BASE ",\"dns\":{\"servers\":[{\"upstream\":53}]}}", "dns.servers[].upstream" },
    { BASE ",\"clients\":{}}", "clients: expected an array" },
    { BASE ",\"clients\":[{}]}", "clients[].id" },
    { BASE ",\"clients\":[{\"id\":\"c\"},\"c\"]}", "clients[1]" },
    { BASE ",\"clients\":[{\"id\":\"c\",\"authorizations\":\"2\"}]}",
      "clients[].authorizations" },
    { BASE ",\"clients\":[{\"id\":\"c\",\"resources\":[\"r\",7]}]}",
      "clients[0].resources[1]" },
    /* json-glib reads the octal escape \641 as the byte 0xa1, not UTF-8:
     * refused, or the file written back would not read (fuzz-emberd-status). */
    { "{\"mode\":\"client\",\"pid\":1,\"portal\":{\"url\":\"u\",\"state\":\"joined\","
      "\"since\":1},\"interface\":{\"name\":\"e\",\"ipv4\":\"100\\641\",\"ipv6\":\"\"},"
      "\"resources\":[],\"connections\":[]}",
      "interface.ipv4: expected a UTF-8 string" },
    { BASE ",\"clients\":[{\"id\":\"c\",\"resources\":[\"\\641\"]}]}",
      "clients[0].resources[0]" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (EmberStatus) s = ember_status_from_json (cases[i].text, &error);
      g_assert_null (s);
      g_assert_nonnull (error);
      if (strstr (error->message, cases[i].named) == NULL)
        g_error ("case %u: \"%s\" does not name \"%s\"", i, error->message, cases[i].named);
    }
}

/* A file written before the device's id and name: its identity holds
 * only the key, and reads with them empty. */
static void
test_reads_identity_without_device (void)
{
  static const char text[] = BASE ",\"identity\":{\"public_key\":\"k\"}}";
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStatus) s = ember_status_from_json (text, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (s->public_key, ==, "k");
  g_assert_cmpstr (s->device_id, ==, "");
  g_assert_cmpstr (s->device_name, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emberd/status/json-round-trips", test_round_trip);
  g_test_add_func ("/emberd/status/file-is-replaced-whole", test_file_atomic);
  g_test_add_func ("/emberd/status/names-a-bad-member", test_bad_member_named);
  g_test_add_func ("/emberd/status/reads-a-file-of-the-first-version", test_reads_first_version);
  g_test_add_func ("/emberd/status/reads-an-identity-without-the-device",
                   test_reads_identity_without_device);
  g_test_add_func ("/emberd/status/gateway-resources-and-clients-round-trip",
                   test_gateway_round_trip);
  g_test_add_func ("/emberd/status/reads-dns-and-clients-with-members-missing",
                   test_reads_partial_dns_and_clients);
  g_test_add_func ("/emberd/status/table-shows-dns-and-what-a-gateway-serves",
                   test_print_dns_and_served);
  return g_test_run ();
}
