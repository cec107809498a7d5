/* store-json — the store's objects as JSON. */
#include "store-json.h"

typedef JsonBuilder Builder;

static void
add_string (Builder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (Builder *b, const char *key, gint64 value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, value);
}

static void
add_strv (Builder *b, const char *key, char **strv)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (b, strv[i]);
  json_builder_end_array (b);
}

static JsonNode *
finish (Builder *b)
{
  JsonNode *node;

  json_builder_end_object (b);
  node = json_builder_get_root (b);
  g_object_unref (b);
  return node;
}

static Builder *
start (void)
{
  Builder *b = json_builder_new ();

  json_builder_begin_object (b);
  return b;
}

JsonNode *
ember_store_site_to_json (const EmberStoreSite *site)
{
  Builder *b = start ();

  add_string (b, "id", site->id);
  add_string (b, "name", site->name);
  return finish (b);
}

static void
add_device (Builder *b, const char *id, const char *name, const char *public_key,
            const char *external_id, const char *ipv4, const char *ipv6, gint64 created_at,
            gint64 last_seen_at)
{
  add_string (b, "id", id);
  add_string (b, "name", name);
  add_string (b, "public_key", public_key);
  add_string (b, "external_id", external_id);
  add_string (b, "ipv4", ipv4);
  add_string (b, "ipv6", ipv6);
  add_int (b, "created_at", created_at);
  add_int (b, "last_seen_at", last_seen_at);
}

JsonNode *
ember_store_client_to_json (const EmberStoreClient *c)
{
  Builder *b = start ();

  add_device (b, c->id, c->name, c->public_key, c->external_id, c->ipv4, c->ipv6, c->created_at,
              c->last_seen_at);
  return finish (b);
}

JsonNode *
ember_store_gateway_to_json (const EmberStoreGateway *g)
{
  Builder *b = start ();

  add_device (b, g->id, g->name, g->public_key, g->external_id, g->ipv4, g->ipv6, g->created_at,
              g->last_seen_at);
  add_string (b, "site_id", g->site_id);
  add_string (b, "site", g->site_name);
  return finish (b);
}

JsonNode *
ember_store_token_to_json (const EmberStoreToken *t)
{
  Builder *b = start ();

  add_string (b, "id", t->id);
  add_string (b, "kind", ember_store_device_kind_name (t->kind));
  add_string (b, "device_id", t->device_id);
  add_string (b, "device", t->device_name);
  if (t->kind == EMBER_STORE_DEVICE_GATEWAY)
    add_string (b, "site", t->site_name);
  add_int (b, "created_at", t->created_at);
  add_int (b, "expires_at", t->expires_at);
  add_int (b, "revoked_at", t->revoked_at);
  return finish (b);
}

char *
ember_store_filter_ports (const EmberStoreFilter *f)
{
  if (f->protocol == EMBER_STORE_PROTOCOL_ICMP)
    return g_strdup ("");
  if (f->port_start == f->port_end)
    return g_strdup_printf ("%u", f->port_start);
  return g_strdup_printf ("%u-%u", f->port_start, f->port_end);
}

JsonNode *
ember_store_resource_to_json (const EmberStoreResource *r)
{
  Builder *b = start ();

  add_string (b, "id", r->id);
  add_string (b, "name", r->name);
  add_string (b, "type", ember_store_resource_type_name (r->type));
  add_string (b, "address", r->address);
  if (r->type == EMBER_STORE_RESOURCE_DNS)
    add_string (b, "ip_stack", ember_store_ip_stack_name (r->ip_stack));
  add_string (b, "site_id", r->site_id);
  add_string (b, "site", r->site_name);
  json_builder_set_member_name (b, "filters");
  json_builder_begin_array (b);
  for (guint i = 0; r->filters != NULL && i < r->filters->len; i++)
    {
      const EmberStoreFilter *f = &g_array_index (r->filters, EmberStoreFilter, i);
      json_builder_begin_object (b);
      add_string (b, "protocol", ember_store_protocol_name (f->protocol));
      if (f->protocol != EMBER_STORE_PROTOCOL_ICMP)
        {
          add_int (b, "port_range_start", f->port_start);
          add_int (b, "port_range_end", f->port_end);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  return finish (b);
}

JsonNode *
ember_store_group_to_json (const EmberStoreGroup *g)
{
  Builder *b = start ();

  add_string (b, "id", g->id);
  add_string (b, "name", g->name);
  add_strv (b, "clients", g->clients);
  return finish (b);
}

JsonNode *
ember_store_policy_to_json (const EmberStorePolicy *p)
{
  Builder *b = start ();

  add_string (b, "id", p->id);
  add_string (b, "group_id", p->group_id);
  add_string (b, "group", p->group_name);
  add_string (b, "resource_id", p->resource_id);
  add_string (b, "resource", p->resource_name);
  json_builder_set_member_name (b, "conditions");
  json_builder_begin_object (b);
  if (p->has_time_window)
    {
      g_autofree char *w = g_strdup_printf ("%02u:%02u-%02u:%02u", p->start_minute / 60,
                                            p->start_minute % 60, p->end_minute / 60,
                                            p->end_minute % 60);
      add_string (b, "utc_time", w);
    }
  if (p->source_cidrs != NULL && p->source_cidrs[0] != NULL)
    add_strv (b, "source_cidrs", p->source_cidrs);
  json_builder_end_object (b);
  return finish (b);
}

JsonNode *
ember_store_change_to_json (const EmberStoreChange *c)
{
  Builder *b = start ();
  JsonNode *detail = NULL;

  add_int (b, "id", c->id);
  add_int (b, "at", c->at);
  add_string (b, "actor", c->actor);
  add_string (b, "verb", c->verb);
  add_string (b, "kind", c->kind);
  add_string (b, "object_id", c->object_id);
  add_string (b, "object", c->object_name);
  json_builder_set_member_name (b, "detail");
  if (c->detail != NULL)
    detail = json_from_string (c->detail, NULL);
  if (detail != NULL)
    json_builder_add_value (b, detail);
  else
    json_builder_add_null_value (b);
  return finish (b);
}

JsonNode *
ember_store_apikey_to_json (const EmberStoreApiKey *k)
{
  Builder *b = start ();

  add_string (b, "id", k->id);
  add_string (b, "name", k->name);
  add_int (b, "created_at", k->created_at);
  add_int (b, "expires_at", k->expires_at);
  add_int (b, "revoked_at", k->revoked_at);
  return finish (b);
}

JsonNode *
ember_store_list_to_json (GPtrArray *items, EmberStoreToJson to_json)
{
  JsonArray *array = json_array_sized_new (items->len);
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; i < items->len; i++)
    json_array_add_element (array, to_json (g_ptr_array_index (items, i)));
  json_node_take_array (node, array);
  return node;
}

char *
ember_store_json_text (JsonNode *node, gboolean pretty)
{
  char *text = json_to_string (node, pretty);

  json_node_unref (node);
  return text;
}
