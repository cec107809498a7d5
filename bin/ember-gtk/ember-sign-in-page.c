#include "ember-sign-in-page.h"

#include <string.h>

/* A device token is a few hundred bytes; a file much larger than this is
 * the wrong file, not a token. */
#define TOKEN_FILE_MAX (64 * 1024)

struct _EmberSignInPage
{
  AdwBin parent_instance;
  EmberClient *client;
  GCancellable *cancellable;
  GtkFileChooserNative *chooser;

  AdwEntryRow *portal_row;
  AdwPasswordEntryRow *token_row;
  GtkLabel *error_label;
  GtkButton *sign_in_button;
  GtkSpinner *spinner;
};

G_DEFINE_FINAL_TYPE (EmberSignInPage, ember_sign_in_page, ADW_TYPE_BIN)

void
ember_sign_in_page_set_error (EmberSignInPage *self, const char *message)
{
  gtk_label_set_text (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL && *message != '\0');
}

static void
set_busy (EmberSignInPage *self, gboolean busy)
{
  gtk_widget_set_sensitive (GTK_WIDGET (self->sign_in_button), !busy);
  gtk_spinner_set_spinning (self->spinner, busy);
  gtk_widget_set_visible (GTK_WIDGET (self->spinner), busy);
}

static void
on_sign_in_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmberSignInPage *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!ember_client_call_finish (EMBER_CLIENT (source), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      ember_sign_in_page_set_error (self, error->message);
    }
  else
    {
      /* The token is with the daemon now; do not keep a copy around. */
      gtk_editable_set_text (GTK_EDITABLE (self->token_row), "");
    }
  set_busy (self, FALSE);
}

static void
on_sign_in (EmberSignInPage *self)
{
  g_autofree char *url = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->portal_row))));
  g_autofree char *token = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->token_row))));

  if (self->client == NULL)
    return;
  /* Checked here only to say it early and next to the field; the daemon
   * checks again (InvalidArgs naming the argument). */
  if (*token == '\0')
    {
      ember_sign_in_page_set_error (self, "Enter the token your administrator gave you, or open the file it is in.");
      gtk_widget_grab_focus (GTK_WIDGET (self->token_row));
      return;
    }
  if (*url != '\0' && !g_str_has_prefix (url, "wss://") && !g_str_has_prefix (url, "ws://"))
    {
      ember_sign_in_page_set_error (self, "The portal URL starts with wss:// (or ws:// on a test network).");
      gtk_widget_grab_focus (GTK_WIDGET (self->portal_row));
      return;
    }
  ember_sign_in_page_set_error (self, NULL);
  set_busy (self, TRUE);
  ember_client_call (self->client, "SignIn", g_variant_new ("(ss)", url, token), "sign in",
                     self->cancellable, on_sign_in_done, self);
}

static void
on_token_loaded (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EmberSignInPage *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (!g_file_load_contents_finish (G_FILE (source), result, &contents, &length, NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        ember_sign_in_page_set_error (self, error->message);
      return;
    }
  if (length > TOKEN_FILE_MAX || !g_utf8_validate (contents, (gssize) length, NULL)
      || memchr (contents, '\0', length) != NULL)
    {
      g_autofree char *name = g_file_get_basename (G_FILE (source));
      g_autofree char *message = g_strdup_printf ("%s does not hold a token: a token is one line of text.", name);

      ember_sign_in_page_set_error (self, message);
      return;
    }
  gtk_editable_set_text (GTK_EDITABLE (self->token_row), g_strstrip (contents));
  explicit_bzero (contents, length);
  ember_sign_in_page_set_error (self, NULL);
}

static void
on_chooser_response (GtkNativeDialog *dialog, int response, gpointer user_data)
{
  EmberSignInPage *self = user_data;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));

      g_file_load_contents_async (file, self->cancellable, on_token_loaded, self);
    }
  g_clear_object (&self->chooser);
}

void
ember_sign_in_page_choose_token_file (EmberSignInPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  if (self->chooser != NULL)
    return;
  self->chooser = gtk_file_chooser_native_new ("Open Token File",
                                               GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                               GTK_FILE_CHOOSER_ACTION_OPEN, "_Open", "_Cancel");
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  g_signal_connect (self->chooser, "response", G_CALLBACK (on_chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

void
ember_sign_in_page_sync (EmberSignInPage *self)
{
  const char *configured = self->client != NULL ? ember_client_get_portal_url (self->client) : "";

  if (*gtk_editable_get_text (GTK_EDITABLE (self->portal_row)) == '\0' && *configured != '\0')
    gtk_editable_set_text (GTK_EDITABLE (self->portal_row), configured);
}

void
ember_sign_in_page_set_client (EmberSignInPage *self, EmberClient *client)
{
  g_set_object (&self->client, client);
  ember_sign_in_page_sync (self);
}

static void
ember_sign_in_page_dispose (GObject *object)
{
  EmberSignInPage *self = EMBER_SIGN_IN_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
  g_clear_object (&self->chooser);
  g_clear_object (&self->client);
  G_OBJECT_CLASS (ember_sign_in_page_parent_class)->dispose (object);
}

static void
ember_sign_in_page_class_init (EmberSignInPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = ember_sign_in_page_dispose;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/ember/Client/ember-sign-in-page.ui");
  gtk_widget_class_bind_template_child (widget_class, EmberSignInPage, portal_row);
  gtk_widget_class_bind_template_child (widget_class, EmberSignInPage, token_row);
  gtk_widget_class_bind_template_child (widget_class, EmberSignInPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, EmberSignInPage, sign_in_button);
  gtk_widget_class_bind_template_child (widget_class, EmberSignInPage, spinner);
  gtk_widget_class_bind_template_callback (widget_class, on_sign_in);
  gtk_widget_class_bind_template_callback (widget_class, ember_sign_in_page_choose_token_file);
}

static void
ember_sign_in_page_init (EmberSignInPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
}
