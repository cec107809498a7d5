#include "ember-app.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "ember-build-config.h"
#include "ember-client.h"
#include "ember-window.h"

#define NOTIFICATION_ID "connection"

struct _EmberApp
{
  AdwApplication parent_instance;
  EmberClient *client;
  char *last_state;   /* NULL until the bus first answered; "" while the daemon is away */
  gboolean hidden_start;  /* --background: the first activation opens no window */
  gboolean held;          /* "Run in Background" holds the app without a window */
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

/* The user's autostart entry (XDG Autostart): its presence is the
 * "Run in Background" setting, so the desktop's own startup-applications
 * tools see and change the same thing. */
static char *
autostart_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "autostart", EMBER_GTK_APP_ID ".desktop", NULL);
}

static gboolean
autostart_enabled (void)
{
  g_autofree char *path = autostart_path ();
  g_autoptr(GKeyFile) kf = g_key_file_new ();

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL))
    return FALSE;
  return !g_key_file_get_boolean (kf, G_KEY_FILE_DESKTOP_GROUP, G_KEY_FILE_DESKTOP_KEY_HIDDEN, NULL)
         && g_key_file_get_boolean (kf, G_KEY_FILE_DESKTOP_GROUP, "X-GNOME-Autostart-enabled", NULL);
}

static gboolean
autostart_set (gboolean on, GError **error)
{
  g_autofree char *path = autostart_path ();
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GKeyFile) kf = NULL;
  g_autofree char *data = NULL;

  if (!on)
    {
      if (g_unlink (path) != 0 && errno != ENOENT)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  kf = g_key_file_new ();
  g_key_file_set_string (kf, G_KEY_FILE_DESKTOP_GROUP, G_KEY_FILE_DESKTOP_KEY_TYPE, "Application");
  g_key_file_set_string (kf, G_KEY_FILE_DESKTOP_GROUP, G_KEY_FILE_DESKTOP_KEY_NAME, "Ember");
  g_key_file_set_string (kf, G_KEY_FILE_DESKTOP_GROUP, G_KEY_FILE_DESKTOP_KEY_COMMENT,
                         "Tells you when Ember connects or disconnects");
  g_key_file_set_string (kf, G_KEY_FILE_DESKTOP_GROUP, G_KEY_FILE_DESKTOP_KEY_EXEC,
                         "ember-gtk --background");
  g_key_file_set_string (kf, G_KEY_FILE_DESKTOP_GROUP, G_KEY_FILE_DESKTOP_KEY_ICON, EMBER_GTK_APP_ID);
  g_key_file_set_boolean (kf, G_KEY_FILE_DESKTOP_GROUP, G_KEY_FILE_DESKTOP_KEY_TERMINAL, FALSE);
  g_key_file_set_boolean (kf, G_KEY_FILE_DESKTOP_GROUP, "X-GNOME-Autostart-enabled", TRUE);
  data = g_key_file_to_data (kf, NULL, NULL);
  return g_mkdir_with_parents (dir, 0700) == 0
             ? g_file_set_contents_full (path, data, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error)
             : (g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", dir,
                             g_strerror (errno)),
                FALSE);
}

/* While "Run in Background" is on, the app outlives its window. */
static void
set_held (EmberApp *self, gboolean hold)
{
  if (hold == self->held)
    return;
  self->held = hold;
  if (hold)
    g_application_hold (G_APPLICATION (self));
  else
    g_application_release (G_APPLICATION (self));
}

static void
background_changed (GSimpleAction *action, GVariant *state, gpointer user_data)
{
  EmberApp *self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean on = g_variant_get_boolean (state);

  if (!autostart_set (on, &error))
    {
      GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

      g_warning ("Run in Background: %s", error->message);
      if (EMBER_IS_WINDOW (window))
        ember_window_show_daemon_error (EMBER_WINDOW (window), NULL, error->message);
      return;
    }
  g_simple_action_set_state (action, state);
  set_held (self, on);
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

  if (self->hidden_start)
    {
      /* Started in the background: no window until the user asks. */
      self->hidden_start = FALSE;
      return;
    }
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
    { .name = "background", .state = "false", .change_state = background_changed },
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
  if (autostart_enabled ())
    {
      /* On from an earlier run: the entry stays as the user has it. */
      GAction *background = g_action_map_lookup_action (G_ACTION_MAP (app), "background");

      g_simple_action_set_state (G_SIMPLE_ACTION (background), g_variant_new_boolean (TRUE));
      set_held (self, TRUE);
    }
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

  self->held = FALSE;  /* the hold ends with the app */
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
  EmberApp *self = EMBER_APP (app);
  g_autoptr(GError) error = NULL;

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("ember-gtk %s\n", EMBER_VERSION);
      return 0;
    }
  if (g_variant_dict_contains (options, "background"))
    {
      if (!g_application_register (app, NULL, &error))
        {
          g_printerr ("ember-gtk: %s\n", error->message);
          return 1;
        }
      /* Already running: that instance keeps its window as it is. */
      if (g_application_get_is_remote (app))
        return 0;
      self->hidden_start = TRUE;
      /* Held even when "Run in Background" is off: started this way, the
       * app is there to notify; Quit ends it. */
      g_application_hold (app);
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
    { "background", 'b', 0, G_OPTION_ARG_NONE, NULL,
      "Start without a window and keep running to notify about the connection", NULL },
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
