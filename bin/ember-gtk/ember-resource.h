/* EmberResource: one entry of emberd's Resources property (a{sv}) as a
 * GObject, so that list rows bind to it and follow its status live. The
 * client (ember-client.c) owns the objects and updates them in place
 * from each PropertiesChanged; main thread only. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EMBER_TYPE_RESOURCE (ember_resource_get_type ())
G_DECLARE_FINAL_TYPE (EmberResource, ember_resource, EMBER, RESOURCE, GObject)

EmberResource *ember_resource_new (const char *id);

/* Takes the fields from one a{sv} of the Resources property; unknown keys
 * are ignored, missing ones read as empty. Emits notify only for the
 * properties whose value changed. */
void ember_resource_update (EmberResource *self, GVariant *dict);

const char *ember_resource_get_id (EmberResource *self);
const char *ember_resource_get_name (EmberResource *self);
const char *ember_resource_get_kind (EmberResource *self);
const char *ember_resource_get_address (EmberResource *self);
const char *ember_resource_get_site (EmberResource *self);
const char *ember_resource_get_status (EmberResource *self);
const char *ember_resource_get_relay (EmberResource *self);
gboolean ember_resource_is_internet (EmberResource *self);

/* The status in words ("Connected, relayed"), for the row and for screen
 * readers; an unknown status string is shown as it is. */
char *ember_resource_describe_status (const char *status);

G_END_DECLS
