/* EmberApp: the application (org.ember.Client) — one EmberClient and one
 * window, the app-wide actions and their shortcuts, the About window, and
 * desktop notifications (GNotification) for connected, disconnected and
 * a rejected token. Main thread only. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define EMBER_TYPE_APP (ember_app_get_type ())
G_DECLARE_FINAL_TYPE (EmberApp, ember_app, EMBER, APP, AdwApplication)

EmberApp *ember_app_new (void);

G_END_DECLS
