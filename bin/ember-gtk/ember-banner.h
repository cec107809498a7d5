/* EmberBanner: a bar under the header that states a condition in words
 * (the daemon is away, the portal unreachable, an action refused), with
 * an optional button. libadwaita 1.2 has no AdwBanner (that is 1.3), so
 * this is the same idea from a GtkRevealer. Screen readers get it as an
 * alert. Main thread only. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define EMBER_TYPE_BANNER (ember_banner_get_type ())
G_DECLARE_FINAL_TYPE (EmberBanner, ember_banner, EMBER, BANNER, AdwBin)

/* Shows @title (and a button labelled @button_label unless NULL). */
void ember_banner_show (EmberBanner *self, const char *title, const char *button_label);
void ember_banner_hide (EmberBanner *self);
gboolean ember_banner_get_revealed (EmberBanner *self);
const char *ember_banner_get_title (EmberBanner *self);

G_END_DECLS
