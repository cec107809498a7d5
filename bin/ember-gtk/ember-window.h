/* EmberWindow: the main window — the status page (connection switch,
 * identity, portal, tunnel addresses, traffic), the resources page
 * (list with search, the internet resource's switch), the sign-in page
 * while signed out, and banners for a missing daemon, an unreachable
 * portal and refused actions. It follows EmberClient's "changed" signal
 * and never polls. Main thread only. */
#pragma once

#include <adwaita.h>

#include "ember-client.h"

G_BEGIN_DECLS

#define EMBER_TYPE_WINDOW (ember_window_get_type ())
G_DECLARE_FINAL_TYPE (EmberWindow, ember_window, EMBER, WINDOW, AdwApplicationWindow)

EmberWindow *ember_window_new (AdwApplication *app, EmberClient *client);

/* The sign-in page's view of the daemon's Error signal (token rejected). */
void ember_window_show_daemon_error (EmberWindow *self, const char *name, const char *message);

G_END_DECLS
