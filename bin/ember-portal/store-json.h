/* store-json — the store's objects as JSON: one shape for the changes
 * log's details, `--json` listings and the admin API, so the CLI and the
 * API print the same thing. Times are Unix seconds; 0 means never/none. */
#pragma once

#include <json-glib/json-glib.h>

#include "store.h"

G_BEGIN_DECLS

JsonNode *ember_store_site_to_json (const EmberStoreSite *site);
JsonNode *ember_store_client_to_json (const EmberStoreClient *client);
JsonNode *ember_store_gateway_to_json (const EmberStoreGateway *gateway);
JsonNode *ember_store_token_to_json (const EmberStoreToken *token);
JsonNode *ember_store_resource_to_json (const EmberStoreResource *resource);
JsonNode *ember_store_group_to_json (const EmberStoreGroup *group);
JsonNode *ember_store_policy_to_json (const EmberStorePolicy *policy);
JsonNode *ember_store_change_to_json (const EmberStoreChange *change);
JsonNode *ember_store_apikey_to_json (const EmberStoreApiKey *key);

/* An array of `items` mapped through `to_json`. */
typedef JsonNode *(*EmberStoreToJson) (gconstpointer item);
JsonNode *ember_store_list_to_json (GPtrArray *items, EmberStoreToJson to_json);

/* Text of `node` (consumed), compact or indented. */
char *ember_store_json_text (JsonNode *node, gboolean pretty);

/* "80-80" style text of one filter's ports ("" for icmp). */
char *ember_store_filter_ports (const EmberStoreFilter *filter);

G_END_DECLS
