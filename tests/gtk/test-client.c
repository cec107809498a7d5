/* EmberClient (bin/ember-gtk/ember-client.c), the desktop client's view
 * of emberd, against a real D-Bus service in the same process: a private
 * bus (GTestDBus) stands in for the system bus through
 * DBUS_SYSTEM_BUS_ADDRESS, and the API's generated skeleton owns
 * org.ember.Ember1 on a connection of its own, playing the daemon. The
 * GUI itself is tested under Xvfb (test-gtk-*.py); this is the part that
 * runs under ASan too. */
#include <gio/gio.h>
#include <string.h>

#include "ember-client.h"
#include "ember-dbus.h"

typedef struct {
  GDBusConnection *service;
  EmberDBusEmber1 *daemon;
  guint owner_id;
  gboolean owned;
  EmberClient *client;
  guint changes;
  char **seen_addresses;     /* TunnelAddresses as a "changed" handler read them */
  char *refuse;              /* a method that answers AccessDenied */
  char *error_name, *error_message;  /* the last daemon-error */
} Fixture;

static gboolean
wait_until (gboolean (*cond) (Fixture *), Fixture *f)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!cond (f))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_main_context_iteration (NULL, TRUE);
    }
  return TRUE;
}

static void
on_changed (EmberClient *client, Fixture *f)
{
  f->changes++;
  g_strfreev (f->seen_addresses);
  f->seen_addresses = g_strdupv ((char **) ember_client_get_addresses (client));
}

static void
on_daemon_error (EmberClient *client, const char *name, const char *message, Fixture *f)
{
  (void) client;
  g_free (f->error_name);
  g_free (f->error_message);
  f->error_name = g_strdup (name);
  f->error_message = g_strdup (message);
}

/* The daemon's methods: refuse the one in f->refuse the way polkit
 * refusals come back, else do what the API says to State. */
static gboolean
handle (EmberDBusEmber1 *daemon, GDBusMethodInvocation *invocation, Fixture *f)
{
  const char *method = g_dbus_method_invocation_get_method_name (invocation);

  if (g_strcmp0 (method, f->refuse) == 0)
    {
      g_dbus_method_invocation_return_dbus_error (invocation,
                                                  "org.freedesktop.DBus.Error.AccessDenied",
                                                  "not authorized for org.ember.Ember1.disconnect");
      return TRUE;
    }
  if (g_str_equal (method, "Connect")
      && g_str_equal (ember_dbus_ember1_get_state (daemon), "signed-out"))
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.ember.Ember1.Error.NotSignedIn",
                                                  "emberd is signed out: sign in first");
      return TRUE;
    }
  ember_dbus_ember1_set_state (daemon, g_str_equal (method, "Disconnect") ? "disconnected"
                                                                          : "connected");
  g_dbus_method_invocation_return_value (invocation, NULL);
  return TRUE;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  const char *address = g_getenv ("DBUS_SYSTEM_BUS_ADDRESS");

  (void) data;
  f->service = g_dbus_connection_new_for_address_sync (
      address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
               | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
  g_assert_no_error (error);
  f->daemon = ember_dbus_ember1_skeleton_new ();
  ember_dbus_ember1_set_version (f->daemon, "0.1.0");
  ember_dbus_ember1_set_mode (f->daemon, "client");
  ember_dbus_ember1_set_state (f->daemon, "signed-out");
  for (const char *const *m = (const char *const[]) { "handle-connect", "handle-disconnect", NULL };
       *m != NULL; m++)
    g_signal_connect (f->daemon, *m, G_CALLBACK (handle), f);
  g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (f->daemon), f->service,
                                    EMBER_CLIENT_OBJECT_PATH, &error);
  g_assert_no_error (error);

  f->client = ember_client_new ();
  g_signal_connect (f->client, "changed", G_CALLBACK (on_changed), f);
  g_signal_connect (f->client, "daemon-error", G_CALLBACK (on_daemon_error), f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  g_clear_object (&f->client);
  if (f->owner_id != 0)
    g_bus_unown_name (f->owner_id);
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (f->daemon));
  g_clear_object (&f->daemon);
  g_dbus_connection_close_sync (f->service, NULL, NULL);
  g_clear_object (&f->service);
  g_free (f->refuse);
  g_strfreev (f->seen_addresses);
  g_free (f->error_name);
  g_free (f->error_message);
  /* Let GDBus finish what the closed connections left queued. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
on_name_acquired (GDBusConnection *c, const char *name, gpointer data)
{
  (void) c;
  (void) name;
  ((Fixture *) data)->owned = TRUE;
}

static gboolean
settled (Fixture *f)
{
  return ember_client_get_settled (f->client);
}

static gboolean
present (Fixture *f)
{
  return ember_client_get_present (f->client);
}

static gboolean
absent (Fixture *f)
{
  return ember_client_get_settled (f->client) && !ember_client_get_present (f->client);
}

static void
daemon_up (Fixture *f)
{
  f->owner_id = g_bus_own_name_on_connection (f->service, EMBER_CLIENT_BUS_NAME,
                                              G_BUS_NAME_OWNER_FLAGS_NONE, on_name_acquired,
                                              NULL, f, NULL);
  g_assert_true (wait_until (present, f));
}

static GVariant *
resource (const char *id, const char *name, const char *type, const char *status)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (id != NULL)
    g_variant_builder_add (&b, "{sv}", "id", g_variant_new_string (id));
  g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (name));
  g_variant_builder_add (&b, "{sv}", "type", g_variant_new_string (type));
  g_variant_builder_add (&b, "{sv}", "address",
                         g_variant_new_string (g_str_equal (type, "internet") ? "" : "10.20.0.0/24"));
  g_variant_builder_add (&b, "{sv}", "site", g_variant_new_string ("home"));
  g_variant_builder_add (&b, "{sv}", "status", g_variant_new_string (status));
  g_variant_builder_add (&b, "{sv}", "future-key", g_variant_new_uint32 (7));
  return g_variant_builder_end (&b);
}

static void
count (guint *n)
{
  (*n)++;
}

static void
publish_resources (Fixture *f, GVariant *const *items, gsize n)
{
  guint before = f->changes;

  ember_dbus_ember1_set_resources (f->daemon, g_variant_new_array (G_VARIANT_TYPE_VARDICT,
                                                                   items, n));
  while (f->changes == before)
    g_main_context_iteration (NULL, TRUE);
}

static void
test_absent_then_present (Fixture *f, gconstpointer data)
{
  (void) data;
  g_assert_false (ember_client_get_settled (f->client));
  g_assert_true (wait_until (settled, f));
  g_assert_false (ember_client_get_present (f->client));
  g_assert_cmpstr (ember_client_get_state (f->client), ==, "");
  g_assert_cmpuint (f->changes, >=, 1);

  daemon_up (f);
  g_assert_cmpstr (ember_client_get_state (f->client), ==, "signed-out");
  g_assert_cmpstr (ember_client_get_mode (f->client), ==, "client");
  g_assert_cmpstr (ember_client_get_version (f->client), ==, "0.1.0");
}

/* What a "changed" handler read, as the window does: the state is
 * connected and the addresses came with it. */
static gboolean
connected_with_addresses (Fixture *f)
{
  return g_str_equal (ember_client_get_state (f->client), "connected")
         && f->seen_addresses != NULL && f->seen_addresses[0] != NULL;
}

static const char *const *fewer_addresses;

static gboolean
seen_fewer (Fixture *f)
{
  return f->seen_addresses != NULL
         && g_strv_equal ((const char *const *) f->seen_addresses, fewer_addresses);
}

/* The strv of TunnelAddresses is cached by the generated proxy: "changed"
 * must come after the proxy dropped the old copy, or the window reads
 * the addresses before the change. */
static void
test_follows_property_changes (Fixture *f, gconstpointer data)
{
  const char *const addresses[] = { "100.64.0.2/32", "fd00:2021:1111::2/128", NULL };
  const char *const fewer[] = { "100.64.0.9/32", NULL };
  GVariantBuilder identity, counters;

  (void) data;
  daemon_up (f);
  g_assert_null (ember_client_get_addresses (f->client)[0]);

  g_variant_builder_init (&identity, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&identity, "{sv}", "name", g_variant_new_string ("alice-laptop"));
  g_variant_builder_add (&identity, "{sv}", "public-key", g_variant_new_string ("key="));
  g_variant_builder_init (&counters, G_VARIANT_TYPE ("a{st}"));
  g_variant_builder_add (&counters, "{st}", "rx-bytes", (guint64) 1 << 40);
  ember_dbus_ember1_set_state (f->daemon, "connected");
  ember_dbus_ember1_set_tunnel_addresses (f->daemon, addresses);
  ember_dbus_ember1_set_identity (f->daemon, g_variant_builder_end (&identity));
  ember_dbus_ember1_set_counters (f->daemon, g_variant_builder_end (&counters));
  ember_dbus_ember1_set_portal_url (f->daemon, "wss://portal.example.net");
  g_assert_true (wait_until (connected_with_addresses, f));

  g_assert_true (g_strv_equal ((const char *const *) f->seen_addresses, addresses));
  g_assert_cmpstr (ember_client_get_identity (f->client, "name"), ==, "alice-laptop");
  g_assert_cmpstr (ember_client_get_identity (f->client, "id"), ==, "");
  g_assert_cmpuint (ember_client_get_counter (f->client, "rx-bytes"), ==, (guint64) 1 << 40);
  g_assert_cmpuint (ember_client_get_counter (f->client, "tx-bytes"), ==, 0);
  g_assert_cmpstr (ember_client_get_portal_url (f->client), ==, "wss://portal.example.net");
  g_assert_true (ember_client_state_is_up (ember_client_get_state (f->client)));

  fewer_addresses = fewer;
  ember_dbus_ember1_set_tunnel_addresses (f->daemon, fewer);
  g_assert_true (wait_until (seen_fewer, f));
}

/* Rows follow one object per resource id: a status change updates the
 * object in place and leaves the model alone; a new id is inserted, a
 * gone one removed; the internet resource stays out of the list. */
static void
test_keeps_resources_by_id (Fixture *f, gconstpointer data)
{
  GListModel *model = ember_client_get_resources (f->client);
  g_autoptr(EmberResource) lan = NULL;
  g_autoptr(EmberResource) lan_again = NULL;
  guint items_changed = 0;
  guint status_notified = 0;

  (void) data;
  daemon_up (f);
  publish_resources (f, (GVariant *[]) {
      resource ("id-lan", "lan", "cidr", "not-connected"),
      resource ("id-wiki", "wiki", "dns", "connecting"),
      resource ("id-net", "Internet", "internet", "not-connected") }, 3);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 2);
  g_assert_nonnull (ember_client_get_internet_resource (f->client));
  g_assert_true (ember_resource_is_internet (ember_client_get_internet_resource (f->client)));
  lan = g_list_model_get_item (model, 0);
  g_assert_cmpstr (ember_resource_get_name (lan), ==, "lan");
  g_assert_cmpstr (ember_resource_get_site (lan), ==, "home");
  g_assert_cmpstr (ember_resource_get_address (lan), ==, "10.20.0.0/24");

  {
    gulong h1 = g_signal_connect_swapped (model, "items-changed",
                                          G_CALLBACK (count), &items_changed);
    gulong h2 = g_signal_connect_swapped (lan, "notify::status",
                                          G_CALLBACK (count), &status_notified);

    publish_resources (f, (GVariant *[]) {
        resource ("id-lan", "lan", "cidr", "connected-relayed"),
        resource ("id-wiki", "wiki", "dns", "connecting"),
        resource ("id-net", "Internet", "internet", "not-connected") }, 3);
    g_assert_cmpuint (items_changed, ==, 0);
    g_assert_cmpuint (status_notified, ==, 1);
    g_assert_cmpstr (ember_resource_get_status (lan), ==, "connected-relayed");

    publish_resources (f, (GVariant *[]) {
        resource ("id-lan", "lan", "cidr", "connected-relayed"),
        resource ("id-printers", "printers", "cidr", "not-connected"),
        resource ("id-wiki", "wiki", "dns", "connecting") }, 3);
    g_assert_cmpuint (items_changed, ==, 1);
    g_assert_cmpuint (g_list_model_get_n_items (model), ==, 3);
    g_assert_null (ember_client_get_internet_resource (f->client));
    lan_again = g_list_model_get_item (model, 0);
    g_assert_true (lan_again == lan);
    g_signal_handler_disconnect (model, h1);
    g_signal_handler_disconnect (lan, h2);
  }

  /* No id, or an id twice: skipped, not shown as a half resource. */
  publish_resources (f, (GVariant *[]) {
      resource (NULL, "anonymous", "cidr", "not-connected"),
      resource ("id-wiki", "wiki", "dns", "connecting"),
      resource ("id-wiki", "wiki again", "dns", "connecting") }, 3);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 1);
}

static void
on_call_done (GObject *source, GAsyncResult *result, gpointer data)
{
  (void) source;
  *(GAsyncResult **) data = g_object_ref (result);
}

static GError *
call (Fixture *f, const char *method, const char *verb)
{
  g_autoptr(GAsyncResult) result = NULL;
  GError *error = NULL;

  ember_client_call (f->client, method, NULL, verb, NULL, on_call_done, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  if (!ember_client_call_finish (f->client, result, &error))
    return error;
  return NULL;
}

static void
test_errors_in_words (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) absent_error = NULL;
  g_autoptr(GError) refused = NULL;
  g_autoptr(GError) not_signed_in = NULL;
  g_autoptr(GError) none = NULL;

  (void) data;
  g_assert_true (wait_until (absent, f));
  absent_error = call (f, "Connect", "connect");
  g_assert_error (absent_error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_assert_cmpstr (absent_error->message, ==, "Ember's service is not running, so Ember cannot connect.");

  daemon_up (f);
  not_signed_in = call (f, "Connect", "connect");
  g_assert_error (not_signed_in, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_cmpstr (not_signed_in->message, ==, "Could not connect: emberd is signed out: sign in first");

  f->refuse = g_strdup ("Disconnect");
  refused = call (f, "Disconnect", "disconnect");
  g_assert_error (refused, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_cmpstr (refused->message, ==, "Not allowed to disconnect: this computer's policy "
                   "refused it (not authorized for org.ember.Ember1.disconnect).");
  g_assert_cmpstr (ember_dbus_ember1_get_state (f->daemon), ==, "signed-out");

  g_clear_pointer (&f->refuse, g_free);
  none = call (f, "Disconnect", "disconnect");
  g_assert_no_error (none);
  g_assert_cmpstr (ember_dbus_ember1_get_state (f->daemon), ==, "disconnected");
}

static gboolean
got_error (Fixture *f)
{
  return f->error_name != NULL;
}

static void
test_daemon_error_and_departure (Fixture *f, gconstpointer data)
{
  (void) data;
  daemon_up (f);
  publish_resources (f, (GVariant *[]) { resource ("id-lan", "lan", "cidr", "connecting") }, 1);

  ember_dbus_ember1_emit_error (f->daemon, "org.ember.Ember1.Error.TokenRejected",
                                "the portal rejected the token (invalid_token)");
  g_assert_true (wait_until (got_error, f));
  g_assert_cmpstr (f->error_name, ==, "org.ember.Ember1.Error.TokenRejected");
  g_assert_cmpstr (f->error_message, ==, "the portal rejected the token (invalid_token)");

  /* The daemon leaves the bus: nothing of it stays on screen. */
  g_bus_unown_name (f->owner_id);
  f->owner_id = 0;
  g_assert_true (wait_until (absent, f));
  g_assert_cmpstr (ember_client_get_state (f->client), ==, "");
  g_assert_cmpuint (g_list_model_get_n_items (ember_client_get_resources (f->client)), ==, 0);
  g_assert_null (ember_client_get_addresses (f->client)[0]);
}

static void
test_words (void)
{
  g_autofree char *relayed = ember_resource_describe_status ("connected-relayed");
  g_autofree char *offline = ember_resource_describe_status ("gateway-offline");
  g_autofree char *future = ember_resource_describe_status ("warming-up");

  g_assert_cmpstr (relayed, ==, "Connected, relayed");
  g_assert_cmpstr (offline, ==, "Gateway offline");
  /* A state a newer daemon adds is shown as it is, not hidden. */
  g_assert_cmpstr (future, ==, "warming-up");
  g_assert_cmpstr (ember_client_describe_state ("reconnecting"), ==, "Reconnecting to the portal…");
  g_assert_cmpstr (ember_client_describe_state ("hibernating"), ==, "hibernating");
  g_assert_false (ember_client_state_is_up ("disconnected"));
  g_assert_true (ember_client_state_is_up ("reconnecting"));
}

int
main (int argc, char **argv)
{
  g_autoptr(GTestDBus) bus = NULL;
  g_autofree char *dbus_daemon = g_find_program_in_path ("dbus-daemon");
  int status;

  g_test_init (&argc, &argv, NULL);
  if (dbus_daemon == NULL)
    {
      /* GTestDBus runs it; scripts/deps.sh and the package's
       * Build-Depends install it. */
      g_test_skip ("needs dbus-daemon for a private bus");
      return g_test_run ();
    }
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  /* The client looks on the system bus: make the private one that. */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (bus), TRUE);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/gtk/client/says-absent-then-follows-the-daemon", test_absent_then_present);
  ADD ("/gtk/client/follows-property-changes", test_follows_property_changes);
  ADD ("/gtk/client/keeps-one-object-per-resource-id", test_keeps_resources_by_id);
  ADD ("/gtk/client/says-errors-in-words", test_errors_in_words);
  ADD ("/gtk/client/passes-daemon-errors-and-forgets-a-departed-daemon",
       test_daemon_error_and_departure);
#undef ADD
  g_test_add_func ("/gtk/client/words-for-states-and-statuses", test_words);
  status = g_test_run ();
  g_test_dbus_down (bus);
  return status;
}
