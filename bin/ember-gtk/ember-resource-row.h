/* EmberResourceRow: one resource in the resources list — name, address
 * and site, its status in words, and a button that copies the address
 * (through the window's win.copy action). Follows its EmberResource
 * live. Main thread only. */
#pragma once

#include <adwaita.h>

#include "ember-resource.h"

G_BEGIN_DECLS

#define EMBER_TYPE_RESOURCE_ROW (ember_resource_row_get_type ())
G_DECLARE_FINAL_TYPE (EmberResourceRow, ember_resource_row, EMBER, RESOURCE_ROW, AdwActionRow)

GtkWidget *ember_resource_row_new (EmberResource *resource);

G_END_DECLS
