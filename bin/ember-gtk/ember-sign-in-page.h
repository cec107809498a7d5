/* EmberSignInPage: what the window shows while emberd is signed out —
 * the portal URL, the device token (typed, pasted or read from a file)
 * and the daemon's answer in words. Calls SignIn through EmberClient.
 * Main thread only. */
#pragma once

#include <adwaita.h>

#include "ember-client.h"

G_BEGIN_DECLS

#define EMBER_TYPE_SIGN_IN_PAGE (ember_sign_in_page_get_type ())
G_DECLARE_FINAL_TYPE (EmberSignInPage, ember_sign_in_page, EMBER, SIGN_IN_PAGE, AdwBin)

void ember_sign_in_page_set_client (EmberSignInPage *self, EmberClient *client);
/* Shows @message under the form (NULL clears it): the last sign-in's
 * outcome, or the daemon's Error signal (token rejected). */
void ember_sign_in_page_set_error (EmberSignInPage *self, const char *message);
/* Offers the daemon's configured portal URL when the field is empty. */
void ember_sign_in_page_sync (EmberSignInPage *self);
/* Opens the file chooser for the token (the win.open-token shortcut). */
void ember_sign_in_page_choose_token_file (EmberSignInPage *self);

G_END_DECLS
