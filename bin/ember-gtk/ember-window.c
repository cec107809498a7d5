#include "ember-window.h"

#include <string.h>

#include "ember-banner.h"
#include "ember-resource-row.h"
#include "ember-sign-in-page.h"

/* From this many resources on, the search entry stays open. */
#define SEARCH_SHOWN_FROM 8

#define ERROR_TOKEN_REJECTED "org.ember.Ember1.Error.TokenRejected"
#define ERROR_PORTAL_UNREACHABLE "org.ember.Ember1.Error.PortalUnreachable"

struct _EmberWindow
{
  AdwApplicationWindow parent_instance;

  EmberClient *client;
  GCancellable *cancellable;
  GtkFilterListModel *filtered;
  GtkCustomFilter *filter;
  char *search_text;
  char *portal_error;        /* the last PortalUnreachable message of this outage */
  char **shown_addresses;    /* what addresses_list shows */
  gboolean syncing;          /* switches moved by us, not by the user */
  gboolean connect_pending;  /* a Connect/Disconnect call is on its way */
  gboolean internet_pending;
  gboolean search_auto_shown;

  AdwViewSwitcherTitle *switcher_title;
  AdwViewSwitcherBar *switcher_bar;
  GtkToggleButton *search_button;
  EmberBanner *status_banner;
  EmberBanner *error_banner;
  AdwToastOverlay *toast_overlay;
  GtkStack *main_stack;
  AdwStatusPage *wrong_mode_page;
  EmberSignInPage *sign_in_page;
  AdwViewStack *view_stack;
  AdwActionRow *connection_row;
  GtkImage *state_icon;
  GtkSwitch *connect_switch;
  AdwActionRow *device_row;
  AdwActionRow *portal_row;
  AdwActionRow *key_row;
  AdwActionRow *interface_row;
  AdwPreferencesGroup *addresses_group;
  GtkListBox *addresses_list;
  AdwPreferencesGroup *traffic_group;
  AdwActionRow *received_row;
  AdwActionRow *sent_row;
  GtkSearchBar *search_bar;
  GtkSearchEntry *search_entry;
  GtkStack *resources_stack;
  AdwPreferencesGroup *internet_group;
  AdwActionRow *internet_row;
  GtkSwitch *internet_switch;
  GtkListBox *resources_list;
  GtkWidget *placeholder;
};

G_DEFINE_FINAL_TYPE (EmberWindow, ember_window, ADW_TYPE_APPLICATION_WINDOW)

static void
show_error (EmberWindow *self, const char *message)
{
  ember_banner_show (self->error_banner, message, "Dismiss");
}

static void
set_row_value (AdwActionRow *row, const char *value)
{
  adw_action_row_set_subtitle (row, value != NULL && *value != '\0' ? value : "—");
}

static GtkWidget *
address_row_new (const char *address)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *copy = gtk_button_new_from_icon_name ("edit-copy-symbolic");
  g_autofree char *label = g_strdup_printf ("Copy %s", address);

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), address);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  gtk_widget_set_valign (copy, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (copy, "flat");
  gtk_widget_set_tooltip_text (copy, "Copy Address");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (copy), "win.copy");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (copy), "s", address);
  gtk_accessible_update_property (GTK_ACCESSIBLE (copy), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), copy);
  return row;
}

static void
sync_addresses (EmberWindow *self)
{
  const char *const *addresses = ember_client_get_addresses (self->client);
  GtkWidget *child;

  gtk_widget_set_visible (GTK_WIDGET (self->addresses_group), addresses[0] != NULL);
  if (self->shown_addresses != NULL
      && g_strv_equal ((const char *const *) self->shown_addresses, addresses))
    return;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->addresses_list))) != NULL)
    gtk_list_box_remove (self->addresses_list, child);
  for (gsize i = 0; addresses[i] != NULL; i++)
    gtk_list_box_append (self->addresses_list, address_row_new (addresses[i]));
  g_strfreev (self->shown_addresses);
  self->shown_addresses = g_strdupv ((char **) addresses);
}

static void
sync_switches (EmberWindow *self, const char *state)
{
  EmberResource *internet = ember_client_get_internet_resource (self->client);
  gboolean up = ember_client_state_is_up (state);

  self->syncing = TRUE;
  if (!self->connect_pending)
    {
      gtk_switch_set_active (self->connect_switch, up);
      gtk_switch_set_state (self->connect_switch, up);
    }
  gtk_widget_set_sensitive (GTK_WIDGET (self->connect_switch),
                            g_strcmp0 (state, "signed-out") != 0);
  gtk_widget_set_visible (GTK_WIDGET (self->internet_group), internet != NULL);
  if (internet != NULL && !self->internet_pending)
    {
      gboolean on = ember_client_get_internet_enabled (self->client);
      g_autofree char *status = ember_resource_describe_status (ember_resource_get_status (internet));
      g_autofree char *subtitle = NULL;

      gtk_switch_set_active (self->internet_switch, on);
      gtk_switch_set_state (self->internet_switch, on);
      subtitle = on ? g_strdup_printf ("All traffic goes through %s. %s",
                                       *ember_resource_get_site (internet) != '\0'
                                       ? ember_resource_get_site (internet) : "Ember", status)
                    : g_strdup ("Off: only the resources below go through Ember.");
      adw_action_row_set_subtitle (self->internet_row, subtitle);
    }
  self->syncing = FALSE;
}

static void
sync_portal_banner (EmberWindow *self, const char *state)
{
  const char *url = ember_client_get_portal_url (self->client);

  if (g_strcmp0 (state, "reconnecting") == 0
      || (g_strcmp0 (state, "connecting") == 0 && self->portal_error != NULL))
    {
      g_autofree char *text = NULL;

      if (self->portal_error != NULL)
        text = g_strdup_printf ("The portal is unreachable: %s", self->portal_error);
      else
        text = g_strdup_printf ("Cannot reach the portal%s%s. Ember keeps trying; connections "
                                "that are up keep running.", *url != '\0' ? " at " : "", url);
      ember_banner_show (self->status_banner, text, "Reconnect");
    }
  else
    {
      g_clear_pointer (&self->portal_error, g_free);
      ember_banner_hide (self->status_banner);
    }
}

static void
sync_status_page (EmberWindow *self, const char *state)
{
  const char *url = ember_client_get_portal_url (self->client);
  const char *name = ember_client_get_identity (self->client, "name");
  const char *words = ember_client_describe_state (state);
  g_autofree char *state_text = NULL;
  g_autofree char *rx = g_format_size (ember_client_get_counter (self->client, "rx-bytes"));
  g_autofree char *tx = g_format_size (ember_client_get_counter (self->client, "tx-bytes"));
  g_autoptr(GUri) uri = *url != '\0' ? g_uri_parse (url, G_URI_FLAGS_NONE, NULL) : NULL;

  if (uri != NULL && g_uri_get_host (uri) != NULL && g_strcmp0 (state, "connected") == 0)
    state_text = g_strdup_printf ("%s to %s", words, g_uri_get_host (uri));
  else
    state_text = g_strdup (words);
  adw_action_row_set_subtitle (self->connection_row, state_text);
  gtk_image_set_from_icon_name (self->state_icon,
                                g_strcmp0 (state, "connected") == 0
                                ? "network-vpn-symbolic"
                                : ember_client_state_is_up (state)
                                  ? "network-vpn-acquiring-symbolic"
                                  : "network-vpn-disconnected-symbolic");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->connect_switch),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, state_text, -1);
  adw_view_switcher_title_set_subtitle (self->switcher_title, state_text);

  set_row_value (self->device_row, *name != '\0' ? name : ember_client_get_identity (self->client, "id"));
  set_row_value (self->portal_row, url);
  set_row_value (self->key_row, ember_client_get_identity (self->client, "public-key"));
  set_row_value (self->interface_row, ember_client_get_interface_name (self->client));
  adw_action_row_set_subtitle (self->received_row, rx);
  adw_action_row_set_subtitle (self->sent_row, tx);
  sync_addresses (self);
}

static void
sync_resources_page (EmberWindow *self)
{
  guint n = g_list_model_get_n_items (ember_client_get_resources (self->client));
  gboolean any = n > 0 || ember_client_get_internet_resource (self->client) != NULL;

  gtk_stack_set_visible_child_name (self->resources_stack, any ? "list" : "empty");
  gtk_widget_set_visible (GTK_WIDGET (self->resources_list), n > 0);
  /* A long list opens its search entry once; the user may close it. */
  if (n >= SEARCH_SHOWN_FROM && !self->search_auto_shown)
    {
      self->search_auto_shown = TRUE;
      gtk_search_bar_set_search_mode (self->search_bar, TRUE);
    }
}

/* GTK 4.8 hands the pages a stack does not show to screen readers as if
 * they were there (it sets no AT-SPI "showing" state on them): mark them
 * hidden, so that Orca reads the page the user sees, and only that. */
static void
expose_visible_page (GtkWidget *stack, GtkWidget *visible)
{
  for (GtkWidget *child = gtk_widget_get_first_child (stack); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    gtk_accessible_update_state (GTK_ACCESSIBLE (child), GTK_ACCESSIBLE_STATE_HIDDEN,
                                 child != visible, -1);
}

static void
sync_chrome (EmberWindow *self)
{
  gboolean on_resources = g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "main") == 0
                          && g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack),
                                        "resources") == 0;

  gboolean on_main = g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "main") == 0;

  gtk_widget_set_visible (GTK_WIDGET (self->search_button), on_resources);
  /* The switchers lead to Status and Resources, which only the main page
   * has; the bar at the bottom stands in for the title's when narrow. */
  adw_view_switcher_title_set_view_switcher_enabled (self->switcher_title, on_main);
  adw_view_switcher_bar_set_reveal (self->switcher_bar,
                                    on_main && adw_view_switcher_title_get_title_visible (self->switcher_title));
  expose_visible_page (GTK_WIDGET (self->main_stack), gtk_stack_get_visible_child (self->main_stack));
  expose_visible_page (GTK_WIDGET (self->view_stack), adw_view_stack_get_visible_child (self->view_stack));
  expose_visible_page (GTK_WIDGET (self->resources_stack),
                       gtk_stack_get_visible_child (self->resources_stack));
}

static void
refresh (EmberWindow *self)
{
  EmberClient *client = self->client;
  const char *state = ember_client_get_state (client);
  const char *mode = ember_client_get_mode (client);
  const char *page;

  if (!ember_client_get_settled (client))
    page = "loading";
  else if (!ember_client_get_present (client))
    page = "no-daemon";
  else if (*mode != '\0' && g_strcmp0 (mode, "client") != 0)
    page = "wrong-mode";
  else if (g_strcmp0 (state, "signed-out") == 0)
    page = "signed-out";
  else
    page = "main";
  gtk_stack_set_visible_child_name (self->main_stack, page);

  if (ember_client_get_settled (client) && !ember_client_get_present (client))
    {
      ember_banner_show (self->status_banner,
                         "Ember's service is not running: nothing is connected through Ember.", NULL);
      adw_view_switcher_title_set_subtitle (self->switcher_title, "Service not running");
      g_clear_pointer (&self->portal_error, g_free);
      /* What a refusal said was about a daemon that is gone. */
      ember_banner_hide (self->error_banner);
    }
  else
    sync_portal_banner (self, state);

  if (g_strcmp0 (page, "wrong-mode") == 0)
    {
      g_autofree char *text = g_strdup_printf ("emberd on this computer runs as a %s. This "
                                               "application controls Ember clients.", mode);
      adw_status_page_set_description (self->wrong_mode_page, text);
    }
  else if (g_strcmp0 (page, "signed-out") == 0)
    {
      ember_sign_in_page_sync (self->sign_in_page);
      adw_view_switcher_title_set_subtitle (self->switcher_title, ember_client_describe_state (state));
    }
  else if (g_strcmp0 (page, "main") == 0)
    sync_status_page (self, state);

  sync_switches (self, state);
  sync_resources_page (self);
  sync_chrome (self);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.sign-out",
                                 ember_client_get_present (client)
                                 && *state != '\0' && g_strcmp0 (state, "signed-out") != 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.reset",
                                 ember_client_get_present (client) && ember_client_state_is_up (state));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.toggle-connection",
                                 g_strcmp0 (page, "main") == 0);
}

void
ember_window_show_daemon_error (EmberWindow *self, const char *name, const char *message)
{
  g_return_if_fail (EMBER_IS_WINDOW (self));

  if (g_strcmp0 (name, ERROR_TOKEN_REJECTED) == 0)
    ember_sign_in_page_set_error (self->sign_in_page, message);
  else if (g_strcmp0 (name, ERROR_PORTAL_UNREACHABLE) == 0)
    {
      g_free (self->portal_error);
      self->portal_error = g_strdup (message);
      refresh (self);
    }
  else
    show_error (self, message);
}

/* Switches: a flip by the user calls the daemon and leaves the switch's
 * state (its colour) as it was until State says otherwise; a refusal puts
 * the knob back and says why. */

typedef struct {
  EmberWindow *self;
  gboolean internet;
} CallData;

static void
on_switch_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree CallData *data = user_data;
  EmberWindow *self = data->self;
  g_autoptr(GError) error = NULL;

  if (!ember_client_call_finish (EMBER_CLIENT (source), result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (data->internet)
    self->internet_pending = FALSE;
  else
    self->connect_pending = FALSE;
  if (error != NULL)
    show_error (self, error->message);
  else
    ember_banner_hide (self->error_banner);
  refresh (self);
}

static void
call_for_switch (EmberWindow *self, gboolean internet, const char *method, GVariant *params,
                 const char *verb)
{
  CallData *data = g_new0 (CallData, 1);

  data->self = self;
  data->internet = internet;
  if (internet)
    self->internet_pending = TRUE;
  else
    self->connect_pending = TRUE;
  ember_client_call (self->client, method, params, verb, self->cancellable,
                     on_switch_call_done, data);
}

static gboolean
on_connect_state_set (EmberWindow *self, gboolean active)
{
  if (self->syncing)
    return FALSE;
  if (active)
    call_for_switch (self, FALSE, "Connect", NULL, "connect");
  else
    call_for_switch (self, FALSE, "Disconnect", NULL, "disconnect");
  return TRUE;
}

static gboolean
on_internet_state_set (EmberWindow *self, gboolean active)
{
  if (self->syncing)
    return FALSE;
  call_for_switch (self, TRUE, "SetInternetResource", g_variant_new ("(b)", active),
                   active ? "turn the internet resource on" : "turn the internet resource off");
  return TRUE;
}

static void
on_plain_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmberWindow *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!ember_client_call_finish (EMBER_CLIENT (source), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error->message);
    }
  else
    ember_banner_hide (self->error_banner);
}

static void
on_status_banner_button (EmberWindow *self)
{
  ember_client_call (self->client, "Reset", NULL, "reconnect", self->cancellable,
                     on_plain_call_done, self);
}

static void
on_search_changed (EmberWindow *self)
{
  g_free (self->search_text);
  self->search_text = g_utf8_casefold (gtk_editable_get_text (GTK_EDITABLE (self->search_entry)), -1);
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
}

static gboolean
contains_folded (const char *haystack, const char *needle)
{
  g_autofree char *folded = g_utf8_casefold (haystack, -1);

  return strstr (folded, needle) != NULL;
}

static gboolean
filter_resource (gpointer item, gpointer user_data)
{
  EmberWindow *self = user_data;
  EmberResource *res = item;

  if (self->search_text == NULL || *self->search_text == '\0')
    return TRUE;
  return contains_folded (ember_resource_get_name (res), self->search_text)
         || contains_folded (ember_resource_get_address (res), self->search_text)
         || contains_folded (ember_resource_get_site (res), self->search_text);
}

/* The list box keeps its placeholder as a child while rows are shown:
 * screen readers must not read "no resource matches" next to the rows. */
static void
sync_placeholder (EmberWindow *self)
{
  gtk_accessible_update_state (GTK_ACCESSIBLE (self->placeholder), GTK_ACCESSIBLE_STATE_HIDDEN,
                               g_list_model_get_n_items (G_LIST_MODEL (self->filtered)) > 0, -1);
}

static GtkWidget *
create_resource_row (gpointer item, gpointer user_data)
{
  (void) user_data;
  return ember_resource_row_new (EMBER_RESOURCE (item));
}

/* Actions */

static void
copy_activated (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  EmberWindow *self = EMBER_WINDOW (widget);
  const char *text = g_variant_get_string (parameter, NULL);
  g_autofree char *title = g_strdup_printf ("Copied “%s”", text);

  (void) action_name;
  gdk_clipboard_set_text (gtk_widget_get_clipboard (widget), text);
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (title));
}

static void
on_sign_out_response (AdwMessageDialog *dialog, const char *response, gpointer user_data)
{
  EmberWindow *self = user_data;

  (void) dialog;
  if (g_strcmp0 (response, "sign-out") == 0)
    ember_client_call (self->client, "SignOut", NULL, "sign out", self->cancellable,
                       on_plain_call_done, self);
}

static void
sign_out_activated (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  EmberWindow *self = EMBER_WINDOW (widget);
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), "Sign Out?",
                                              "This computer leaves the Ember network and forgets "
                                              "its token. Signing in again needs a token from "
                                              "your administrator.");

  (void) action_name;
  (void) parameter;
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", "_Cancel", "sign-out", "_Sign Out", NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "sign-out",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_sign_out_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
reset_activated (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  (void) action_name;
  (void) parameter;
  on_status_banner_button (EMBER_WINDOW (widget));
}

static void
toggle_connection_activated (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  EmberWindow *self = EMBER_WINDOW (widget);

  (void) action_name;
  (void) parameter;
  gtk_switch_set_active (self->connect_switch, !gtk_switch_get_active (self->connect_switch));
}

static void
search_activated (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  EmberWindow *self = EMBER_WINDOW (widget);

  (void) action_name;
  (void) parameter;
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "main") != 0)
    return;
  adw_view_stack_set_visible_child_name (self->view_stack, "resources");
  gtk_search_bar_set_search_mode (self->search_bar, TRUE);
  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

static void
show_page_activated (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  EmberWindow *self = EMBER_WINDOW (widget);

  (void) action_name;
  adw_view_stack_set_visible_child_name (self->view_stack, g_variant_get_string (parameter, NULL));
}

static void
open_token_activated (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  EmberWindow *self = EMBER_WINDOW (widget);

  (void) action_name;
  (void) parameter;
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "signed-out") == 0)
    ember_sign_in_page_choose_token_file (self->sign_in_page);
}

static void
ember_window_dispose (GObject *object)
{
  EmberWindow *self = EMBER_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->client != NULL)
    g_signal_handlers_disconnect_by_data (self->client, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), EMBER_TYPE_WINDOW);
  g_clear_object (&self->filtered);
  g_clear_object (&self->client);
  G_OBJECT_CLASS (ember_window_parent_class)->dispose (object);
}

static void
ember_window_finalize (GObject *object)
{
  EmberWindow *self = EMBER_WINDOW (object);

  g_free (self->search_text);
  g_free (self->portal_error);
  g_strfreev (self->shown_addresses);
  G_OBJECT_CLASS (ember_window_parent_class)->finalize (object);
}

static void
ember_window_class_init (EmberWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ember_window_dispose;
  object_class->finalize = ember_window_finalize;

  g_type_ensure (EMBER_TYPE_BANNER);
  g_type_ensure (EMBER_TYPE_SIGN_IN_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/ember/Client/ember-window.ui");
#define CHILD(name) gtk_widget_class_bind_template_child (widget_class, EmberWindow, name)
  CHILD (switcher_title);
  CHILD (switcher_bar);
  CHILD (search_button);
  CHILD (status_banner);
  CHILD (error_banner);
  CHILD (toast_overlay);
  CHILD (main_stack);
  CHILD (wrong_mode_page);
  CHILD (sign_in_page);
  CHILD (view_stack);
  CHILD (connection_row);
  CHILD (state_icon);
  CHILD (connect_switch);
  CHILD (device_row);
  CHILD (portal_row);
  CHILD (key_row);
  CHILD (interface_row);
  CHILD (addresses_group);
  CHILD (addresses_list);
  CHILD (traffic_group);
  CHILD (received_row);
  CHILD (sent_row);
  CHILD (search_bar);
  CHILD (search_entry);
  CHILD (resources_stack);
  CHILD (internet_group);
  CHILD (internet_row);
  CHILD (internet_switch);
  CHILD (resources_list);
#undef CHILD
  gtk_widget_class_bind_template_callback (widget_class, on_connect_state_set);
  gtk_widget_class_bind_template_callback (widget_class, on_internet_state_set);
  gtk_widget_class_bind_template_callback (widget_class, on_status_banner_button);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, ember_banner_hide);

  gtk_widget_class_install_action (widget_class, "win.copy", "s", copy_activated);
  gtk_widget_class_install_action (widget_class, "win.sign-out", NULL, sign_out_activated);
  gtk_widget_class_install_action (widget_class, "win.reset", NULL, reset_activated);
  gtk_widget_class_install_action (widget_class, "win.toggle-connection", NULL,
                                   toggle_connection_activated);
  gtk_widget_class_install_action (widget_class, "win.search", NULL, search_activated);
  gtk_widget_class_install_action (widget_class, "win.show-page", "s", show_page_activated);
  gtk_widget_class_install_action (widget_class, "win.open-token", NULL, open_token_activated);
}

static void
ember_window_init (EmberWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
  gtk_search_bar_connect_entry (self->search_bar, GTK_EDITABLE (self->search_entry));
  g_signal_connect_object (self->view_stack, "notify::visible-child", G_CALLBACK (sync_chrome),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->switcher_title, "notify::title-visible",
                           G_CALLBACK (sync_chrome), self, G_CONNECT_SWAPPED);
}

EmberWindow *
ember_window_new (AdwApplication *app, EmberClient *client)
{
  EmberWindow *self = g_object_new (EMBER_TYPE_WINDOW, "application", app, NULL);

  self->client = g_object_ref (client);
  ember_sign_in_page_set_client (self->sign_in_page, client);
  self->filter = gtk_custom_filter_new (filter_resource, self, NULL);
  self->filtered = gtk_filter_list_model_new (g_object_ref (ember_client_get_resources (client)),
                                              GTK_FILTER (self->filter));
  gtk_list_box_bind_model (self->resources_list, G_LIST_MODEL (self->filtered),
                           create_resource_row, NULL, NULL);
  self->placeholder = gtk_label_new ("No resource matches the search.");
  gtk_widget_add_css_class (self->placeholder, "dim-label");
  gtk_widget_set_margin_top (self->placeholder, 12);
  gtk_widget_set_margin_bottom (self->placeholder, 12);
  gtk_list_box_set_placeholder (self->resources_list, self->placeholder);
  g_signal_connect_object (self->filtered, "items-changed", G_CALLBACK (sync_placeholder), self,
                           G_CONNECT_SWAPPED);
  sync_placeholder (self);
  g_signal_connect_object (client, "changed", G_CALLBACK (refresh), self, G_CONNECT_SWAPPED);
  refresh (self);
  return self;
}
