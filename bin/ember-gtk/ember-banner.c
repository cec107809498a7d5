#include "ember-banner.h"

struct _EmberBanner
{
  AdwBin parent_instance;
  GtkRevealer *revealer;
  GtkWidget *box;
  GtkLabel *label;
  GtkButton *button;
};

G_DEFINE_FINAL_TYPE (EmberBanner, ember_banner, ADW_TYPE_BIN)

enum {
  SIGNAL_BUTTON_CLICKED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
on_button_clicked (EmberBanner *self)
{
  g_signal_emit (self, signals[SIGNAL_BUTTON_CLICKED], 0);
}

static void
ember_banner_class_init (EmberBannerClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/ember/Client/ember-banner.ui");
  gtk_widget_class_bind_template_child (widget_class, EmberBanner, revealer);
  gtk_widget_class_bind_template_child (widget_class, EmberBanner, box);
  gtk_widget_class_bind_template_child (widget_class, EmberBanner, label);
  gtk_widget_class_bind_template_child (widget_class, EmberBanner, button);
  gtk_widget_class_bind_template_callback (widget_class, on_button_clicked);
  gtk_widget_class_set_css_name (widget_class, "emberbanner");

  signals[SIGNAL_BUTTON_CLICKED] = g_signal_new ("button-clicked", G_TYPE_FROM_CLASS (klass),
                                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                 G_TYPE_NONE, 0);
}

static void
ember_banner_init (EmberBanner *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_accessible_update_state (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
}

void
ember_banner_show (EmberBanner *self, const char *title, const char *button_label)
{
  g_return_if_fail (EMBER_IS_BANNER (self));

  gtk_label_set_text (self->label, title);
  /* The alert's name is what it says. */
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->box), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
  gtk_widget_set_visible (GTK_WIDGET (self->button), button_label != NULL);
  if (button_label != NULL)
    gtk_button_set_label (self->button, button_label);
  gtk_revealer_set_reveal_child (self->revealer, TRUE);
  gtk_accessible_update_state (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_STATE_HIDDEN, FALSE, -1);
}

void
ember_banner_hide (EmberBanner *self)
{
  g_return_if_fail (EMBER_IS_BANNER (self));
  gtk_revealer_set_reveal_child (self->revealer, FALSE);
  /* A folded banner says nothing, to screen readers either. */
  gtk_accessible_update_state (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
}

gboolean
ember_banner_get_revealed (EmberBanner *self)
{
  return gtk_revealer_get_reveal_child (self->revealer);
}

const char *
ember_banner_get_title (EmberBanner *self)
{
  return gtk_label_get_text (self->label);
}
