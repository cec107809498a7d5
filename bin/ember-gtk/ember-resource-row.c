#include "ember-resource-row.h"

struct _EmberResourceRow
{
  AdwActionRow parent_instance;
  EmberResource *resource;
  GtkLabel *status_label;
  GtkButton *copy_button;
};

G_DEFINE_FINAL_TYPE (EmberResourceRow, ember_resource_row, ADW_TYPE_ACTION_ROW)

/* CSS classes of the status label, one per state the colour tells apart. */
static const char *const status_classes[] = { "success", "warning", "error", "dim-label" };

static const char *
status_class (const char *status)
{
  if (g_str_has_prefix (status, "connected-"))
    return "success";
  if (g_strcmp0 (status, "connecting") == 0)
    return "warning";
  if (g_strcmp0 (status, "gateway-offline") == 0 || g_strcmp0 (status, "forbidden") == 0)
    return "error";
  return "dim-label";
}

static void
update (EmberResourceRow *self)
{
  EmberResource *res = self->resource;
  const char *address = ember_resource_get_address (res);
  const char *site = ember_resource_get_site (res);
  g_autofree char *status = ember_resource_describe_status (ember_resource_get_status (res));
  g_autofree char *subtitle = NULL;
  g_autofree char *copy_label = NULL;
  g_autofree char *description = NULL;

  const char *relay = ember_resource_get_relay (res);
  g_autoptr(GString) line = g_string_new (address);

  if (*site != '\0')
    g_string_append_printf (line, " · %s", site);
  if (g_strcmp0 (ember_resource_get_status (res), "connected-relayed") == 0 && *relay != '\0')
    g_string_append_printf (line, " · relay %s", relay);
  subtitle = g_string_free (g_steal_pointer (&line), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self), ember_resource_get_name (res));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self), subtitle);

  gtk_label_set_text (self->status_label, status);
  for (gsize i = 0; i < G_N_ELEMENTS (status_classes); i++)
    gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), status_classes[i]);
  gtk_widget_add_css_class (GTK_WIDGET (self->status_label),
                            status_class (ember_resource_get_status (res)));

  gtk_actionable_set_action_target (GTK_ACTIONABLE (self->copy_button), "s", address);
  copy_label = g_strdup_printf ("Copy the address of %s", ember_resource_get_name (res));
  /* The row's name is its title (AdwActionRow labels it so); screen
   * readers get the status and the address as its description. */
  description = g_strdup_printf ("%s; %s", status, subtitle);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->copy_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, copy_label, -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, description, -1);
}

static void
ember_resource_row_dispose (GObject *object)
{
  EmberResourceRow *self = EMBER_RESOURCE_ROW (object);

  if (self->resource != NULL)
    g_signal_handlers_disconnect_by_data (self->resource, self);
  g_clear_object (&self->resource);
  G_OBJECT_CLASS (ember_resource_row_parent_class)->dispose (object);
}

static void
ember_resource_row_class_init (EmberResourceRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ember_resource_row_dispose;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/ember/Client/ember-resource-row.ui");
  gtk_widget_class_bind_template_child (widget_class, EmberResourceRow, status_label);
  gtk_widget_class_bind_template_child (widget_class, EmberResourceRow, copy_button);
}

static void
ember_resource_row_init (EmberResourceRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
ember_resource_row_new (EmberResource *resource)
{
  EmberResourceRow *self = g_object_new (EMBER_TYPE_RESOURCE_ROW, NULL);

  self->resource = g_object_ref (resource);
  /* One handler for every field: a row has few, and notify comes in one
   * batch per update (ember_resource_update freezes notify). */
  g_signal_connect_swapped (resource, "notify", G_CALLBACK (update), self);
  update (self);
  return GTK_WIDGET (self);
}
