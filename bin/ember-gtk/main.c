/* ember-gtk: the GNOME desktop client of emberd (see ember-app.h). */
#include "ember-app.h"

int
main (int argc, char **argv)
{
  g_autoptr(EmberApp) app = ember_app_new ();

  return g_application_run (G_APPLICATION (app), argc, argv);
}
