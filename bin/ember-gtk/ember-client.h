/* EmberClient: emberd as the desktop client sees it, through the D-Bus
 * API (data/dbus/org.ember.Ember1.xml) on the system bus. It watches the
 * bus name, binds a generated proxy while the daemon is there, turns the
 * properties into plain getters and a list model of resources, and
 * emits "changed" after every PropertiesChanged — the UI never polls.
 * Method calls allow polkit's interactive authorization and fail with a
 * message in words. Main thread only. */
#pragma once

#include <gio/gio.h>

#include "ember-resource.h"

G_BEGIN_DECLS

#define EMBER_CLIENT_BUS_NAME "org.ember.Ember1"
#define EMBER_CLIENT_OBJECT_PATH "/org/ember/Ember1"

#define EMBER_TYPE_CLIENT (ember_client_get_type ())
G_DECLARE_FINAL_TYPE (EmberClient, ember_client, EMBER, CLIENT, GObject)

/* Starts watching org.ember.Ember1 on the system bus (GIO honours
 * DBUS_SYSTEM_BUS_ADDRESS, which the tests use for a private bus). */
EmberClient *ember_client_new (void);

/* FALSE until the bus first said whether the daemon is there. */
gboolean ember_client_get_settled (EmberClient *self);
/* TRUE while the daemon owns its name and its properties are loaded. */
gboolean ember_client_get_present (EmberClient *self);
/* The State property ("signed-out", "connected", ...); "" when absent. */
const char *ember_client_get_state (EmberClient *self);
const char *ember_client_get_mode (EmberClient *self);
const char *ember_client_get_version (EmberClient *self);
const char *ember_client_get_portal_url (EmberClient *self);
/* Identity keys "name", "id" and "public-key"; "" when unknown. */
const char *ember_client_get_identity (EmberClient *self, const char *key);
const char *ember_client_get_interface_name (EmberClient *self);
const char *const *ember_client_get_addresses (EmberClient *self);
/* A Counters value; 0 when the daemon does not publish it. */
guint64 ember_client_get_counter (EmberClient *self, const char *key);
/* The resources other than the internet resource, in the portal's
 * order; the same EmberResource object stays in the model while its id
 * does, so rows follow its status. */
GListModel *ember_client_get_resources (EmberClient *self);
/* The internet resource, or NULL when the policy gives none. */
EmberResource *ember_client_get_internet_resource (EmberClient *self);
gboolean ember_client_get_internet_enabled (EmberClient *self);

/* Connected, connecting or reconnecting: what the connect switch shows. */
gboolean ember_client_state_is_up (const char *state);
/* The state in words, for the status page and screen readers. */
const char *ember_client_describe_state (const char *state);

/* Calls @method (with @parameters, floating references are sunk) on the
 * daemon. @verb says what the user tried ("connect", "sign in") and goes
 * into the error message: an AccessDenied from polkit becomes "Not
 * allowed to connect: ...", a missing daemon "Ember's service is not
 * running, so Ember cannot connect.". */
void ember_client_call (EmberClient *self, const char *method, GVariant *parameters,
                        const char *verb, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data);
/* The error is G_IO_ERROR_PERMISSION_DENIED for a polkit refusal,
 * G_IO_ERROR_FAILED otherwise, with the message in words. */
gboolean ember_client_call_finish (EmberClient *self, GAsyncResult *result, GError **error);

G_END_DECLS
