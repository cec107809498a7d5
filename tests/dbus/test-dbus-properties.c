/* emberd's D-Bus object alone (bin/emberd/dbus-api.c) on a private bus
 * (GTestDBus, pointed to as the system bus): each fact of a status
 * snapshot becomes the property the XML describes — every resource
 * status, the relay of a relayed one, the internet switch, addresses
 * with their prefix, the DNS facts, no identity while signed out, a
 * gateway's served resources and clients — a daemon without
 * method handlers (a gateway) answers WrongMode without asking polkit,
 * and the Error signal carries its D-Bus error name. */
#include <gio/gio.h>
#include <string.h>

#include "dbus-api.h"
#include "ember-dbus-generated.h"

typedef struct {
  GTestDBus *bus;
  GDBusConnection *conn;
  EmberDbusApi *api;
  EmberDBusEmber1 *proxy;
} Fixture;

static void
spin_until_serving (EmberDbusApi *api)
{
  for (int i = 0; i < 200 && !ember_dbus_api_is_serving (api); i++)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (!ember_dbus_api_is_serving (api))
        g_usleep (25 * 1000);
    }
  g_assert_true (ember_dbus_api_is_serving (api));
}

static void
spin (int ms)
{
  for (int i = 0; i < ms / 10; i++)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (10 * 1000);
    }
}

static void
on_proxy (GObject *source, GAsyncResult *res, gpointer data)
{
  Fixture *fx = data;
  (void) source;
  fx->proxy = ember_dbus_ember1_proxy_new_finish (res, NULL);
}

static void
setup (Fixture *fx, gconstpointer data)
{
  static const EmberDbusApiMethods none = { 0 };
  (void) data;

  fx->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fx->bus);
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (fx->bus), TRUE);
  fx->api = ember_dbus_api_new ("system", "gateway", "9.9.9", &none, NULL);
  spin_until_serving (fx->api);
  fx->conn = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (fx->bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, NULL);
  g_assert_nonnull (fx->conn);
  /* Async: the object answers GetAll from this thread's main context. */
  ember_dbus_ember1_proxy_new (fx->conn, G_DBUS_PROXY_FLAGS_NONE, EMBER_DBUS_NAME,
                               EMBER_DBUS_PATH, NULL, on_proxy, fx);
  for (int i = 0; i < 500 && fx->proxy == NULL; i++)
    spin (10);
  g_assert_nonnull (fx->proxy);
}

static void
teardown (Fixture *fx, gconstpointer data)
{
  (void) data;
  g_clear_object (&fx->proxy);
  g_clear_pointer (&fx->api, ember_dbus_api_free);
  g_dbus_connection_close_sync (fx->conn, NULL, NULL);
  g_clear_object (&fx->conn);
  spin (50);
  g_test_dbus_down (fx->bus);
  g_clear_object (&fx->bus);
}

static EmberStatus *
snapshot (const char *state)
{
  EmberStatus *st = ember_status_new ();
  EmberStatusConnection *c;
  EmberStatusResource *r;

  st->mode = g_strdup ("client");
  st->state = g_strdup (state);
  st->public_key = g_strdup ("DkRSpXBV9U5/14yzyXhvJqjQqqND0wZFwimhiJsNZS0=");
  ember_status_set (&st->device_id, "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11");
  ember_status_set (&st->device_name, "laptop");
  st->portal_url = g_strdup ("wss://portal.example");
  st->portal_state = g_strdup ("joined");
  st->ifname = g_strdup ("ember0");
  st->ipv4 = g_strdup ("100.64.0.2");
  st->ipv6 = g_strdup ("fd00:2021:1111::2");
  st->internet = TRUE;
  st->counters.rx_bytes = 1234;
  st->counters.handshakes = 1;
  r = ember_status_add_resource (st, "r1", "lan", "10.20.0.0/24", "cidr", "connected", "g1");
  g_free (r->site);
  r->site = g_strdup ("home");
  r = ember_status_add_resource (st, "r2", "wiki", "*.corp.example", "dns", "connected", "g2");
  ember_status_set (&r->ip_stack, "ipv4");
  ember_status_add_resource (st, "r3", "hr", "10.9.0.0/16", "cidr", "denied", NULL);
  ember_status_add_resource (st, "r4", "lab", "10.8.0.0/16", "cidr", "gateway_offline", NULL);
  ember_status_add_resource (st, "r5", "db", "10.7.0.0/16", "cidr", "connecting", NULL);
  ember_status_add_resource (st, "r6", "everything", NULL, "internet", "not_connected", NULL);
  c = ember_status_add_connection (st, "g1", "up");
  g_free (c->path);
  c->path = g_strdup ("relayed");
  g_free (c->relay);
  c->relay = g_strdup ("192.0.2.20:3478");
  c = ember_status_add_connection (st, "g2", "up");
  g_free (c->path);
  c->path = g_strdup ("direct");
  ember_status_set (&st->dns.system, "resolved");
  st->dns.applied = TRUE;
  ember_status_set (&st->dns.plugin, "doh");
  ember_status_add_dns_server (st, "100.100.111.1", "fd00:2021:1111:8000:100:100:111:1",
                               "192.0.2.53:443");
  st->dns.proxy_names = 4;
  return st;
}

static GVariant *
resource (EmberDBusEmber1 *proxy, const char *id)
{
  GVariant *all = ember_dbus_ember1_get_resources (proxy);
  for (gsize i = 0; all != NULL && i < g_variant_n_children (all); i++)
    {
      GVariant *r = g_variant_get_child_value (all, i);
      const char *rid = NULL;
      if (g_variant_lookup (r, "id", "&s", &rid) && g_str_equal (rid, id))
        return r;
      g_variant_unref (r);
    }
  g_error ("no resource %s", id);
}

static void
assert_str (GVariant *dict, const char *key, const char *want)
{
  const char *got = NULL;
  if (!g_variant_lookup (dict, key, "&s", &got))
    g_error ("no key %s in %s", key, g_variant_print (dict, FALSE));
  g_assert_cmpstr (got, ==, want);
}

static void
test_facts_become_properties (Fixture *fx, gconstpointer data)
{
  g_autoptr (EmberStatus) st = snapshot ("connected");
  g_autoptr (EmberStatus) out = snapshot ("signed-out");
  const char *const *addrs;
  g_autoptr (GVariant) r1 = NULL, r2 = NULL, r3 = NULL, r4 = NULL, r5 = NULL, r6 = NULL;
  guint64 rx = 0;
  gboolean enabled = FALSE;

  (void) data;
  ember_dbus_api_update (fx->api, st);
  for (int i = 0; i < 100 && g_strcmp0 (ember_dbus_ember1_get_state (fx->proxy), "connected");
       i++)
    spin (20);
  g_assert_cmpstr (ember_dbus_ember1_get_state (fx->proxy), ==, "connected");
  g_assert_cmpstr (ember_dbus_ember1_get_version (fx->proxy), ==, "9.9.9");
  g_assert_cmpstr (ember_dbus_ember1_get_mode (fx->proxy), ==, "gateway");
  g_assert_cmpstr (ember_dbus_ember1_get_portal_url (fx->proxy), ==, "wss://portal.example");
  g_assert_cmpstr (ember_dbus_ember1_get_interface_name (fx->proxy), ==, "ember0");
  addrs = ember_dbus_ember1_get_tunnel_addresses (fx->proxy);
  g_assert_cmpstr (addrs[0], ==, "100.64.0.2/32");
  g_assert_cmpstr (addrs[1], ==, "fd00:2021:1111::2/128");
  g_assert_null (addrs[2]);
  g_assert_true (ember_dbus_ember1_get_internet_resource (fx->proxy));
  assert_str (ember_dbus_ember1_get_identity (fx->proxy), "public-key",
              "DkRSpXBV9U5/14yzyXhvJqjQqqND0wZFwimhiJsNZS0=");
  assert_str (ember_dbus_ember1_get_identity (fx->proxy), "id",
              "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11");
  assert_str (ember_dbus_ember1_get_identity (fx->proxy), "name", "laptop");
  g_assert_true (g_variant_lookup (ember_dbus_ember1_get_counters (fx->proxy), "rx-bytes", "t",
                                   &rx));
  g_assert_cmpuint (rx, ==, 1234);

  r1 = resource (fx->proxy, "r1");
  assert_str (r1, "status", "connected-relayed");
  assert_str (r1, "relay", "192.0.2.20:3478");
  assert_str (r1, "site", "home");
  assert_str (r1, "address", "10.20.0.0/24");
  r2 = resource (fx->proxy, "r2");
  assert_str (r2, "status", "connected-direct");
  assert_str (r2, "type", "dns");
  assert_str (r2, "ip_stack", "ipv4");
  g_assert_false (g_variant_lookup (r2, "relay", "&s", NULL));
  /* Only dns resources have one. */
  g_assert_false (g_variant_lookup (r1, "ip_stack", "&s", NULL));
  r3 = resource (fx->proxy, "r3");
  assert_str (r3, "status", "forbidden");
  r4 = resource (fx->proxy, "r4");
  assert_str (r4, "status", "gateway-offline");
  r5 = resource (fx->proxy, "r5");
  assert_str (r5, "status", "connecting");
  r6 = resource (fx->proxy, "r6");
  assert_str (r6, "status", "not-connected");
  assert_str (r6, "address", "");
  g_assert_true (g_variant_lookup (r6, "enabled", "b", &enabled));
  g_assert_true (enabled);

  {
    GVariant *dns = ember_dbus_ember1_get_dns (fx->proxy);
    g_autoptr (GVariant) servers = NULL;
    g_autoptr (GVariant) first = NULL;
    gboolean applied = FALSE;
    guint64 names = 0;

    assert_str (dns, "system", "resolved");
    assert_str (dns, "plugin", "doh");
    g_assert_true (g_variant_lookup (dns, "applied", "b", &applied));
    g_assert_true (applied);
    g_assert_true (g_variant_lookup (dns, "proxy-names", "t", &names));
    g_assert_cmpuint (names, ==, 4);
    servers = g_variant_lookup_value (dns, "servers", G_VARIANT_TYPE ("aa{sv}"));
    g_assert_nonnull (servers);
    g_assert_cmpuint (g_variant_n_children (servers), ==, 1);
    first = g_variant_get_child_value (servers, 0);
    assert_str (first, "ipv4", "100.100.111.1");
    assert_str (first, "ipv6", "fd00:2021:1111:8000:100:100:111:1");
    assert_str (first, "upstream", "192.0.2.53:443");
    /* A client serves nobody. */
    g_assert_cmpuint (g_variant_n_children (ember_dbus_ember1_get_clients (fx->proxy)), ==, 0);
  }

  /* Signed out: no identity, though the key is still known. */
  ember_dbus_api_update (fx->api, out);
  for (int i = 0; i < 100 && g_strcmp0 (ember_dbus_ember1_get_state (fx->proxy), "signed-out");
       i++)
    spin (20);
  g_assert_cmpuint (g_variant_n_children (ember_dbus_ember1_get_identity (fx->proxy)), ==, 0);
}

static void
on_changed (GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer data)
{
  GPtrArray *names = data;
  GVariantIter it;
  const char *name;

  (void) proxy;
  (void) invalidated;
  g_variant_iter_init (&it, changed);
  while (g_variant_iter_next (&it, "{&sv}", &name, NULL))
    g_ptr_array_add (names, g_strdup (name));
}

static gboolean
changed_has (GPtrArray *names, const char *name)
{
  for (guint i = 0; i < names->len; i++)
    if (g_str_equal (names->pdata[i], name))
      return TRUE;
  return FALSE;
}

/* A gateway's snapshot: the resources it serves ("serving") and the
 * clients with live flows; a change of the DNS facts alone is a
 * PropertiesChanged of Dns alone. */
static void
test_gateway_facts (Fixture *fx, gconstpointer data)
{
  g_autoptr (EmberStatus) st = ember_status_new ();
  g_autoptr (GPtrArray) changed = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GVariant) lan = NULL, c0 = NULL, c1 = NULL, ids = NULL;
  GVariant *clients;
  EmberStatusClient *c;
  EmberStatusResource *r;
  guint64 n = 0;
  gboolean applied = TRUE;
  const char *id = NULL;

  (void) data;
  st->mode = g_strdup ("gateway");
  st->state = g_strdup ("connected");
  st->portal_url = g_strdup ("wss://portal.example");
  st->portal_state = g_strdup ("joined");
  st->ifname = g_strdup ("ember0");
  st->ipv4 = g_strdup ("100.64.0.3");
  st->ipv6 = g_strdup ("");
  st->public_key = g_strdup ("");
  r = ember_status_add_resource (st, "r1", "lan", "10.20.0.0/24", "cidr", "serving", NULL);
  ember_status_set (&r->site, "home");
  c = ember_status_add_client (st, "c1", 1);
  g_ptr_array_add (c->resources, g_strdup ("r1"));
  c = ember_status_add_client (st, "c2", 1);
  g_ptr_array_add (c->resources, g_strdup ("r1"));
  ember_status_set (&st->dns.plugin, "do53");
  ember_status_add_dns_server (st, NULL, NULL, "10.20.0.53:53");
  ember_dbus_api_update (fx->api, st);
  for (int i = 0; i < 100 && g_strcmp0 (ember_dbus_ember1_get_state (fx->proxy), "connected");
       i++)
    spin (20);
  lan = resource (fx->proxy, "r1");
  assert_str (lan, "status", "serving");
  assert_str (lan, "site", "home");
  clients = ember_dbus_ember1_get_clients (fx->proxy);
  g_assert_cmpuint (g_variant_n_children (clients), ==, 2);
  c0 = g_variant_get_child_value (clients, 0);
  c1 = g_variant_get_child_value (clients, 1);
  assert_str (c0, "id", "c1");
  assert_str (c1, "id", "c2");
  g_assert_true (g_variant_lookup (c1, "authorizations", "t", &n));
  g_assert_cmpuint (n, ==, 1);
  ids = g_variant_lookup_value (c1, "resources", G_VARIANT_TYPE ("as"));
  g_assert_nonnull (ids);
  g_variant_get_child (ids, 0, "&s", &id);
  g_assert_cmpstr (id, ==, "r1");
  assert_str (ember_dbus_ember1_get_dns (fx->proxy), "system", "");
  g_assert_true (g_variant_lookup (ember_dbus_ember1_get_dns (fx->proxy), "applied", "b",
                                   &applied));
  g_assert_false (applied);

  /* Only the DNS facts change. */
  g_signal_connect (fx->proxy, "g-properties-changed", G_CALLBACK (on_changed), changed);
  ember_status_set (&((EmberStatusDnsServer *) st->dns.servers->pdata[0])->upstream,
                    "10.20.0.54:53");
  ember_dbus_api_update (fx->api, st);
  for (int i = 0; i < 100 && !changed_has (changed, "Dns"); i++)
    spin (20);
  g_assert_true (changed_has (changed, "Dns"));
  g_assert_false (changed_has (changed, "Clients"));
  g_assert_false (changed_has (changed, "Resources"));
}

static void
on_reply (GObject *source, GAsyncResult *res, gpointer data)
{
  (void) source;
  *(GAsyncResult **) data = g_object_ref (res);
}

static void
test_no_handler_is_wrong_mode (Fixture *fx, gconstpointer data)
{
  const char *methods[] = { "Connect", "Disconnect", "SignOut", "Reset" };
  (void) data;

  /* No polkit on this bus: an answer other than WrongMode would be
   * AccessDenied (polkit unreachable). */
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GAsyncResult) res = NULL;
      g_autoptr (GVariant) r = NULL;
      g_autofree char *name = NULL;

      /* Async: the object answers from this thread's main context. */
      g_dbus_connection_call (fx->conn, EMBER_DBUS_NAME, EMBER_DBUS_PATH, "org.ember.Ember1",
                              methods[i], NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
                              on_reply, &res);
      for (int k = 0; k < 500 && res == NULL; k++)
        spin (10);
      g_assert_nonnull (res);
      r = g_dbus_connection_call_finish (fx->conn, res, &error);
      g_assert_null (r);
      name = g_dbus_error_get_remote_error (error);
      g_assert_cmpstr (name, ==, "org.ember.Ember1.Error.WrongMode");
      g_assert_nonnull (strstr (error->message, "gateway"));
    }
}

static void
on_error (EmberDBusEmber1 *proxy, const char *name, const char *message, gpointer data)
{
  (void) proxy;
  *(char **) data = g_strdup_printf ("%s|%s", name, message);
}

static void
test_error_signal (Fixture *fx, gconstpointer data)
{
  g_autofree char *got = NULL;
  (void) data;

  g_signal_connect (fx->proxy, "error", G_CALLBACK (on_error), &got);
  g_test_expect_message ("ember-dbus", G_LOG_LEVEL_WARNING, "the portal rejected the token*");
  ember_dbus_api_emit_error (fx->api, EMBER_DBUS_ERROR_TOKEN_REJECTED,
                             "the portal rejected the token (invalid_token)");
  g_test_assert_expected_messages ();
  for (int i = 0; i < 100 && got == NULL; i++)
    spin (20);
  g_assert_cmpstr (got, ==,
                   "org.ember.Ember1.Error.TokenRejected|the portal rejected the token "
                   "(invalid_token)");
  g_assert_cmpstr (ember_dbus_error_name (EMBER_DBUS_ERROR_PORTAL_UNREACHABLE), ==,
                   "org.ember.Ember1.Error.PortalUnreachable");
}

static void
test_skip (void)
{
  g_test_skip ("dbus-daemon is not installed (scripts/deps.sh)");
}

int
main (int argc, char **argv)
{
  g_autofree char *daemon = g_find_program_in_path ("dbus-daemon");

  g_test_init (&argc, &argv, NULL);
  if (daemon == NULL)
    {
      g_test_add_func ("/dbus/properties/needs-dbus-daemon", test_skip);
      return g_test_run ();
    }
  g_test_add ("/dbus/properties/status-facts-become-the-properties", Fixture, NULL, setup,
              test_facts_become_properties, teardown);
  g_test_add ("/dbus/properties/a-gateway-publishes-what-it-serves-and-to-whom", Fixture, NULL,
              setup, test_gateway_facts, teardown);
  g_test_add ("/dbus/properties/a-daemon-without-handlers-answers-wrong-mode", Fixture, NULL,
              setup, test_no_handler_is_wrong_mode, teardown);
  g_test_add ("/dbus/properties/the-error-signal-names-the-error", Fixture, NULL, setup,
              test_error_signal, teardown);
  return g_test_run ();
}
