#include "ember-client.h"

#include "ember-dbus.h"

/* polkit may show its dialog while a call waits: leave the user time to
 * type a password, but not forever when the daemon hangs. */
#define CALL_TIMEOUT_MS (120 * 1000)

struct _EmberClient
{
  GObject parent_instance;

  guint watch_id;
  GCancellable *appear_cancellable;  /* the proxy being built for one appearance */
  EmberDBusEmber1 *proxy;            /* NULL while the daemon is away */
  gboolean settled;                  /* the bus said once whether it is there */

  GListStore *resources;             /* EmberResource, without the internet one */
  GHashTable *by_id;                 /* id -> EmberResource, every known resource */
  EmberResource *internet;
};

G_DEFINE_FINAL_TYPE (EmberClient, ember_client, G_TYPE_OBJECT)

enum {
  SIGNAL_CHANGED,
  SIGNAL_DAEMON_ERROR,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const char *
nonnull (const char *s)
{
  return s != NULL ? s : "";
}

/* Resources: update the objects in place, and touch the model only when
 * the set or the order of ids changed, so that rows are kept. */
static void
sync_resources (EmberClient *self)
{
  GVariant *list = self->proxy != NULL ? ember_dbus_ember1_get_resources (self->proxy) : NULL;
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  EmberResource *internet = NULL;
  gboolean same;
  guint n_old;

  if (list != NULL && g_variant_is_of_type (list, G_VARIANT_TYPE ("aa{sv}")))
    {
      GVariantIter iter;
      GVariant *dict;

      g_variant_iter_init (&iter, list);
      while ((dict = g_variant_iter_next_value (&iter)) != NULL)
        {
          const char *id = NULL;
          EmberResource *res;

          /* A resource without an id cannot be followed across updates. */
          if (!g_variant_lookup (dict, "id", "&s", &id) || *id == '\0'
              || g_hash_table_contains (seen, id))
            {
              g_variant_unref (dict);
              continue;
            }
          res = g_hash_table_lookup (self->by_id, id);
          if (res == NULL)
            {
              res = ember_resource_new (id);
              g_hash_table_insert (self->by_id, (gpointer) ember_resource_get_id (res), res);
            }
          g_hash_table_add (seen, (gpointer) ember_resource_get_id (res));
          ember_resource_update (res, dict);
          g_variant_unref (dict);
          if (ember_resource_is_internet (res) && internet == NULL)
            internet = res;
          else if (!ember_resource_is_internet (res))
            g_ptr_array_add (items, g_object_ref (res));
        }
    }

  n_old = g_list_model_get_n_items (G_LIST_MODEL (self->resources));
  same = n_old == items->len;
  for (guint i = 0; same && i < n_old; i++)
    {
      g_autoptr(EmberResource) old = g_list_model_get_item (G_LIST_MODEL (self->resources), i);
      same = old == g_ptr_array_index (items, i);
    }
  if (!same)
    g_list_store_splice (self->resources, 0, n_old, items->pdata, items->len);

  g_set_object (&self->internet, internet);

  /* Forget the resources the policy no longer lists. */
  {
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init (&it, self->by_id);
    while (g_hash_table_iter_next (&it, &key, NULL))
      if (!g_hash_table_contains (seen, key))
        g_hash_table_iter_remove (&it);
  }
}

static void
refresh (EmberClient *self)
{
  sync_resources (self);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
on_properties_changed (GDBusProxy *proxy, GVariant *changed, const char *const *invalidated,
                       gpointer user_data)
{
  (void) proxy;
  (void) changed;
  (void) invalidated;
  refresh (EMBER_CLIENT (user_data));
}

static void
on_daemon_error (EmberDBusEmber1 *proxy, const char *name, const char *message, gpointer user_data)
{
  (void) proxy;
  g_signal_emit (user_data, signals[SIGNAL_DAEMON_ERROR], 0, name, message);
}

static void
on_proxy_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmberClient *self;
  g_autoptr(GError) error = NULL;
  EmberDBusEmber1 *proxy = ember_dbus_ember1_proxy_new_finish (result, &error);

  (void) source;
  if (proxy == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("emberd is on the bus but its proxy failed: %s", error->message);
      return;
    }
  self = EMBER_CLIENT (user_data);
  g_clear_object (&self->appear_cancellable);
  self->proxy = proxy;
  self->settled = TRUE;
  /* After the proxy's own handler: it drops its cached copies of the
   * changed properties (the strv of TunnelAddresses) only then. */
  g_signal_connect_object (proxy, "g-properties-changed", G_CALLBACK (on_properties_changed), self,
                           G_CONNECT_AFTER);
  g_signal_connect_object (proxy, "error", G_CALLBACK (on_daemon_error), self, 0);
  refresh (self);
}

static void
drop_proxy (EmberClient *self)
{
  g_cancellable_cancel (self->appear_cancellable);
  g_clear_object (&self->appear_cancellable);
  if (self->proxy != NULL)
    g_signal_handlers_disconnect_by_data (self->proxy, self);
  g_clear_object (&self->proxy);
}

static void
on_name_appeared (GDBusConnection *connection, const char *name, const char *owner,
                  gpointer user_data)
{
  EmberClient *self = EMBER_CLIENT (user_data);

  (void) owner;
  drop_proxy (self);
  self->appear_cancellable = g_cancellable_new ();
  /* The user_data is safe: drop_proxy cancels before self goes away. */
  ember_dbus_ember1_proxy_new (connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, name,
                               EMBER_CLIENT_OBJECT_PATH, self->appear_cancellable,
                               on_proxy_ready, self);
}

static void
on_name_vanished (GDBusConnection *connection, const char *name, gpointer user_data)
{
  EmberClient *self = EMBER_CLIENT (user_data);

  (void) connection;
  (void) name;
  drop_proxy (self);
  /* Also the first answer, "not there": the window leaves its start-up
   * page for the one that says so. */
  self->settled = TRUE;
  refresh (self);
}

static void
ember_client_dispose (GObject *object)
{
  EmberClient *self = EMBER_CLIENT (object);

  if (self->watch_id != 0)
    {
      g_bus_unwatch_name (self->watch_id);
      self->watch_id = 0;
    }
  drop_proxy (self);
  g_clear_object (&self->internet);
  G_OBJECT_CLASS (ember_client_parent_class)->dispose (object);
}

static void
ember_client_finalize (GObject *object)
{
  EmberClient *self = EMBER_CLIENT (object);

  g_clear_object (&self->resources);
  g_clear_pointer (&self->by_id, g_hash_table_unref);
  G_OBJECT_CLASS (ember_client_parent_class)->finalize (object);
}

static void
ember_client_class_init (EmberClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ember_client_dispose;
  object_class->finalize = ember_client_finalize;

  /* Something the UI shows changed: re-read the getters. */
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* The daemon's Error signal: (name, message). */
  signals[SIGNAL_DAEMON_ERROR] = g_signal_new ("daemon-error", G_TYPE_FROM_CLASS (klass),
                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                               G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void
ember_client_init (EmberClient *self)
{
  self->resources = g_list_store_new (EMBER_TYPE_RESOURCE);
  self->by_id = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
}

EmberClient *
ember_client_new (void)
{
  EmberClient *self = g_object_new (EMBER_TYPE_CLIENT, NULL);

  self->watch_id = g_bus_watch_name (G_BUS_TYPE_SYSTEM, EMBER_CLIENT_BUS_NAME,
                                     G_BUS_NAME_WATCHER_FLAGS_NONE,
                                     on_name_appeared, on_name_vanished, self, NULL);
  return self;
}

gboolean
ember_client_get_settled (EmberClient *self)
{
  return self->settled;
}

gboolean
ember_client_get_present (EmberClient *self)
{
  return self->proxy != NULL;
}

const char *
ember_client_get_state (EmberClient *self)
{
  return self->proxy != NULL ? nonnull (ember_dbus_ember1_get_state (self->proxy)) : "";
}

const char *
ember_client_get_mode (EmberClient *self)
{
  return self->proxy != NULL ? nonnull (ember_dbus_ember1_get_mode (self->proxy)) : "";
}

const char *
ember_client_get_version (EmberClient *self)
{
  return self->proxy != NULL ? nonnull (ember_dbus_ember1_get_version (self->proxy)) : "";
}

const char *
ember_client_get_portal_url (EmberClient *self)
{
  return self->proxy != NULL ? nonnull (ember_dbus_ember1_get_portal_url (self->proxy)) : "";
}

const char *
ember_client_get_identity (EmberClient *self, const char *key)
{
  GVariant *identity = self->proxy != NULL ? ember_dbus_ember1_get_identity (self->proxy) : NULL;
  const char *value = "";

  if (identity != NULL && g_variant_is_of_type (identity, G_VARIANT_TYPE_VARDICT))
    g_variant_lookup (identity, key, "&s", &value);
  return value;
}

const char *
ember_client_get_interface_name (EmberClient *self)
{
  return self->proxy != NULL ? nonnull (ember_dbus_ember1_get_interface_name (self->proxy)) : "";
}

const char *const *
ember_client_get_addresses (EmberClient *self)
{
  static const char *const none[] = { NULL };
  const char *const *addresses = self->proxy != NULL
                                 ? ember_dbus_ember1_get_tunnel_addresses (self->proxy) : NULL;

  return addresses != NULL ? addresses : none;
}

guint64
ember_client_get_counter (EmberClient *self, const char *key)
{
  GVariant *counters = self->proxy != NULL ? ember_dbus_ember1_get_counters (self->proxy) : NULL;
  guint64 value = 0;

  if (counters != NULL && g_variant_is_of_type (counters, G_VARIANT_TYPE ("a{st}")))
    g_variant_lookup (counters, key, "t", &value);
  return value;
}

GListModel *
ember_client_get_resources (EmberClient *self)
{
  return G_LIST_MODEL (self->resources);
}

EmberResource *
ember_client_get_internet_resource (EmberClient *self)
{
  return self->internet;
}

gboolean
ember_client_get_internet_enabled (EmberClient *self)
{
  return self->proxy != NULL && ember_dbus_ember1_get_internet_resource (self->proxy);
}

gboolean
ember_client_state_is_up (const char *state)
{
  return g_strcmp0 (state, "connected") == 0 || g_strcmp0 (state, "connecting") == 0
         || g_strcmp0 (state, "reconnecting") == 0;
}

const char *
ember_client_describe_state (const char *state)
{
  static const struct { const char *state; const char *words; } table[] = {
    { "signed-out", "Signed out" },
    { "disconnected", "Disconnected" },
    { "connecting", "Connecting…" },
    { "connected", "Connected" },
    { "reconnecting", "Reconnecting to the portal…" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    if (g_strcmp0 (state, table[i].state) == 0)
      return table[i].words;
  return nonnull (state);
}

/* The error of a method call in words. The daemon's own messages are
 * already sentences (the API's contract); what D-Bus itself says is not. */
static GError *
describe_call_error (const char *verb, GError *error)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  g_autofree char *message = NULL;

  g_dbus_error_strip_remote_error (error);
  message = g_strdup (error->message);

  if (g_strcmp0 (remote, "org.freedesktop.DBus.Error.AccessDenied") == 0
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED)
      || g_strcmp0 (remote, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") == 0)
    return g_error_new (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                        "Not allowed to %s: this computer's policy refused it (%s).", verb, message);
  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                        "Could not %s: Ember's service stopped answering (%s).", verb, message);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_TIMED_OUT))
    return g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "Could not %s: Ember's service did not answer in time.", verb);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_error_copy (error);
  return g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "Could not %s: %s", verb, message);
}

static void
on_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);

  if (reply == NULL)
    g_task_return_error (task, describe_call_error (g_task_get_task_data (task), error));
  else
    g_task_return_boolean (task, TRUE);
}

void
ember_client_call (EmberClient *self, const char *method, GVariant *parameters, const char *verb,
                   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_task_data (task, g_strdup (verb), g_free);
  if (self->proxy == NULL)
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                               "Ember's service is not running, so Ember cannot %s.", verb);
      return;
    }
  g_dbus_proxy_call (G_DBUS_PROXY (self->proxy), method, parameters,
                     G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, CALL_TIMEOUT_MS,
                     cancellable, on_call_done, g_steal_pointer (&task));
}

gboolean
ember_client_call_finish (EmberClient *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
