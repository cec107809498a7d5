/* dbus-api — emberd's org.ember.Ember1 on the system bus.
 *
 * The interface is data/dbus/org.ember.Ember1.xml, bound with
 * gdbus-codegen (ember-dbus-generated.h). This module owns the bus name
 * and the exported object:
 *   - properties: set from the daemon's status snapshot (status.h), the
 *     same value the status file gets, so the two tell the same facts;
 *     the generated skeleton emits PropertiesChanged for a value that
 *     changed (Counters at most once a second); Dns, and on a gateway the
 *     served Resources and Clients, come from the same snapshot;
 *   - methods: each checks its polkit action first, per call, with the
 *     caller's system-bus-name subject (user interaction when the call
 *     allows interactive authorization); a refusal is
 *     org.freedesktop.DBus.Error.AccessDenied naming the action. Then the
 *     daemon's handler (EmberDbusApiMethods) does the work; a NULL handler
 *     answers org.ember.Ember1.Error.WrongMode;
 *   - the Error signal.
 * The bus: [daemon] bus= "system" (GIO's system bus, which
 * $DBUS_SYSTEM_BUS_ADDRESS can point elsewhere) or "none". Without a
 * reachable bus (or when the name is refused) emberd keeps running and
 * says so once. Main thread only.
 */
#pragma once

#include <gio/gio.h>

#include "status.h"

G_BEGIN_DECLS

#define EMBER_DBUS_NAME "org.ember.Ember1"
#define EMBER_DBUS_PATH "/org/ember/Ember1"

#define EMBER_DBUS_ACTION_CONNECT "org.ember.Ember1.connect"
#define EMBER_DBUS_ACTION_DISCONNECT "org.ember.Ember1.disconnect"
#define EMBER_DBUS_ACTION_INTERNET "org.ember.Ember1.internet-resource"
#define EMBER_DBUS_ACTION_SIGN_IN "org.ember.Ember1.sign-in"
#define EMBER_DBUS_ACTION_SIGN_OUT "org.ember.Ember1.sign-out"
#define EMBER_DBUS_ACTION_SETTINGS "org.ember.Ember1.change-settings"

/* org.ember.Ember1.Error.* (registered with GDBus: a handler's GError in
 * this domain goes over the bus under its D-Bus name). */
#define EMBER_DBUS_ERROR (ember_dbus_error_quark ())
GQuark ember_dbus_error_quark (void);

typedef enum {
  EMBER_DBUS_ERROR_NOT_SIGNED_IN,
  EMBER_DBUS_ERROR_ALREADY_SIGNED_IN,
  EMBER_DBUS_ERROR_TOKEN_REJECTED,
  EMBER_DBUS_ERROR_PORTAL_UNREACHABLE,
  EMBER_DBUS_ERROR_NO_INTERNET_RESOURCE,
  EMBER_DBUS_ERROR_WRONG_MODE,
  EMBER_DBUS_ERROR_FAILED,
} EmberDbusError;

/* The D-Bus name of a code ("org.ember.Ember1.Error.TokenRejected"). */
const char *ember_dbus_error_name (EmberDbusError code);

/* The daemon's side. Each returns FALSE with an EMBER_DBUS_ERROR (or
 * G_DBUS_ERROR_INVALID_ARGS naming the argument) when it refuses.
 * `portal_url` of sign_in is already resolved ("" replaced by the
 * configured one) and checked to be ws:// or wss://. */
typedef struct {
  gboolean (*sign_in) (gpointer user_data, const char *portal_url, const char *token,
                       GError **error);
  gboolean (*sign_out) (gpointer user_data, GError **error);
  gboolean (*connect) (gpointer user_data, GError **error);
  gboolean (*disconnect) (gpointer user_data, GError **error);
  gboolean (*set_internet) (gpointer user_data, gboolean enabled, GError **error);
  gboolean (*reset) (gpointer user_data, GError **error);
} EmberDbusApiMethods;

typedef struct _EmberDbusApi EmberDbusApi;

/* Starts connecting to `bus` ("system" or "none"; NULL is "system") and
 * owning the name; `mode` and `version` are the const properties.
 * `methods` is copied; NULL members answer WrongMode. */
EmberDbusApi *ember_dbus_api_new (const char *bus, const char *mode, const char *version,
                                  const EmberDbusApiMethods *methods, gpointer user_data);
/* The snapshot's facts onto the properties (PropertiesChanged for what
 * changed). */
void ember_dbus_api_update (EmberDbusApi *api, const EmberStatus *status);
/* The Error signal (logged too). */
void ember_dbus_api_emit_error (EmberDbusApi *api, EmberDbusError code, const char *message);
/* Whether the name is owned now (a client can call us). */
gboolean ember_dbus_api_is_serving (const EmberDbusApi *api);
/* Releases the name and unexports; no handler is called after this. */
void ember_dbus_api_free (EmberDbusApi *api);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberDbusApi, ember_dbus_api_free)

G_END_DECLS
