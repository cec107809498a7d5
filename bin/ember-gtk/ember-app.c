#include "ember-app.h"

#include "ember-build-config.h"
#include "ember-client.h"
#include "ember-window.h"

#define NOTIFICATION_ID "connection"

struct _EmberApp
{
  AdwApplication parent_instance;
  EmberClient *client;
  char *last_state;   /* NULL until the bus first answered; "" while the daemon is away */
};

G_DEFINE_FINAL_TYPE (EmberApp, ember_app, ADW_TYPE_APPLICATION)

static void
notify (EmberApp *self, const char *title, const char *body, GNotificationPriority priority)
{
  g_autoptr(GNotification) notification = g_notification_new (title);
  g_autoptr(GIcon) icon = g_themed_icon_new (EMBER_GTK_APP_ID);

  g_notification_set_body (notification, body);
  g_notification_set_icon (notification, icon);
  g_notification_set_priority (notification, priority);
  g_notification_set_default_action (notification, "app.activate");
  /* One id for all: a new state replaces the last one in the tray. */
  g_application_send_notification (G_APPLICATION (self), NOTIFICATION_ID, notification);
}

static gboolean
was_connected (const char *state)
{
  return g_strcmp0 (state, "connected") == 0 || g_strcmp0 (state, "reconnecting") == 0;
}

/* Notifies on transitions only: the state found at start-up is not news. */
static void
on_client_changed (EmberApp *self)
{
  const char *state = ember_client_get_present (self->client)
                      ? ember_client_get_state (self->client) : "";
  g_autofree char *previous = NULL;

  if (!ember_client_get_settled (self->client) || g_strcmp0 (state, self->last_state) == 0)
    return;
  previous = g_steal_pointer (&self->last_state);
  self->last_state = g_strdup (state);
  if (previous == NULL)
    return;

  if (g_strcmp0 (state, "connected") == 0 && g_strcmp0 (previous, "reconnecting") != 0)
    {
      g_autofree char *body = NULL;
      const char *url = ember_client_get_portal_url (self->client);
      g_autoptr(GUri) uri = *url != '\0' ? g_uri_parse (url, G_URI_FLAGS_NONE, NULL) : NULL;

      body = uri != NULL && g_uri_get_host (uri) != NULL
             ? g_strdup_printf ("This computer reaches the resources of %s.", g_uri_get_host (uri))
             : g_strdup ("This computer reaches its Ember resources.");
      notify (self, "Connected to Ember", body, G_NOTIFICATION_PRIORITY_NORMAL);
    }
  else if (was_connected (previous) && !ember_client_state_is_up (state))
    {
      const char *body = *state == '\0' ? "Ember's service stopped."
                         : g_strcmp0 (state, "signed-out") == 0 ? "This computer was signed out."
                         : "Resources are no longer reachable through Ember.";

      notify (self, "Disconnected from Ember", body, G_NOTIFICATION_PRIORITY_NORMAL);
    }
}

static void
on_daemon_error (EmberApp *self, const char *name, const char *message)
{
  /* Every window, focused or not (the daemon's news is for all). */
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l != NULL; l = l->next)
    if (EMBER_IS_WINDOW (l->data))
      ember_window_show_daemon_error (EMBER_WINDOW (l->data), name, message);
  if (g_strcmp0 (name, "org.ember.Ember1.Error.TokenRejected") == 0)
    notify (self, "Ember Token Rejected", message, G_NOTIFICATION_PRIORITY_HIGH);
}

static void
about_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  EmberApp *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  g_autofree char *debug = g_strdup_printf ("emberd: %s\nmode: %s\nstate: %s\nportal: %s\n",
                                            ember_client_get_present (self->client)
                                            ? ember_client_get_version (self->client) : "not running",
                                            ember_client_get_mode (self->client),
                                            ember_client_get_state (self->client),
                                            ember_client_get_portal_url (self->client));
  GtkWidget *about = adw_about_window_new ();

  (void) action;
  (void) parameter;
  g_object_set (about,
                "transient-for", parent,
                "application-name", "Ember",
                "application-icon", EMBER_GTK_APP_ID,
                "developer-name", "Ember developers",
                "version", EMBER_VERSION,
                "comments", "Zero-trust access to your organisation's resources over WireGuard.",
                "license-type", GTK_LICENSE_MIT_X11,
                "debug-info", debug,
                NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
quit_activated (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  (void) action;
  (void) parameter;
  g_application_quit (G_APPLICATION (user_data));
}

static void
ember_app_activate (GApplication *app)
{
  EmberApp *self = EMBER_APP (app);
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (app));
  GtkWindow *window = windows != NULL ? windows->data : NULL;

  if (window == NULL)
    window = GTK_WINDOW (ember_window_new (ADW_APPLICATION (app), self->client));
  gtk_window_present (window);
}

static void
ember_app_startup (GApplication *app)
{
  static const GActionEntry entries[] = {
    { .name = "about", .activate = about_activated },
    { .name = "quit", .activate = quit_activated },
  };
  static const struct { const char *action; const char *accels[3]; } accels[] = {
    { "app.quit", { "<Primary>q", NULL } },
    { "window.close", { "<Primary>w", NULL } },
    { "win.toggle-connection", { "<Primary>t", NULL } },
    { "win.reset", { "<Primary>r", NULL } },
    { "win.search", { "<Primary>f", NULL } },
    { "win.open-token", { "<Primary>o", NULL } },
    { "win.show-page::status", { "<Alt>1", NULL } },
    { "win.show-page::resources", { "<Alt>2", NULL } },
  };
  EmberApp *self = EMBER_APP (app);

  G_APPLICATION_CLASS (ember_app_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), entries, G_N_ELEMENTS (entries), self);
  for (gsize i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action, accels[i].accels);

  self->client = ember_client_new ();
  g_signal_connect_object (self->client, "changed", G_CALLBACK (on_client_changed), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client, "daemon-error", G_CALLBACK (on_daemon_error), self,
                           G_CONNECT_SWAPPED);
}

static void
ember_app_shutdown (GApplication *app)
{
  EmberApp *self = EMBER_APP (app);

  G_APPLICATION_CLASS (ember_app_parent_class)->shutdown (app);
  g_clear_object (&self->client);
}

static void
ember_app_finalize (GObject *object)
{
  EmberApp *self = EMBER_APP (object);

  g_free (self->last_state);
  G_OBJECT_CLASS (ember_app_parent_class)->finalize (object);
}

static int
ember_app_handle_local_options (GApplication *app, GVariantDict *options)
{
  (void) app;
  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("ember-gtk %s\n", EMBER_VERSION);
      return 0;
    }
  return -1;
}

static void
ember_app_class_init (EmberAppClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = ember_app_finalize;
  app_class->activate = ember_app_activate;
  app_class->startup = ember_app_startup;
  app_class->shutdown = ember_app_shutdown;
  app_class->handle_local_options = ember_app_handle_local_options;
}

static void
ember_app_init (EmberApp *self)
{
  static const GOptionEntry options[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, "Print the version and exit", NULL },
    { NULL },
  };

  g_application_add_main_option_entries (G_APPLICATION (self), options);
}

EmberApp *
ember_app_new (void)
{
  return g_object_new (EMBER_TYPE_APP,
                       "application-id", EMBER_GTK_APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/org/ember/Client",
                       NULL);
}
