/* status — the status file of a client or gateway (status.h). */
#include "status.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

static char *
dup0 (const char *s)
{
  return g_strdup (s != NULL ? s : "");
}

static void
resource_free (gpointer data)
{
  EmberStatusResource *r = data;
  g_free (r->id);
  g_free (r->name);
  g_free (r->address);
  g_free (r->type);
  g_free (r->site);
  g_free (r->status);
  g_free (r->gateway_id);
  g_free (r->ip_stack);
  g_free (r);
}

static void
connection_free (gpointer data)
{
  EmberStatusConnection *c = data;
  g_free (c->peer_id);
  g_free (c->state);
  g_free (c->path);
  g_free (c->relay);
  g_free (c->local);
  g_free (c->remote);
  g_free (c);
}

static void
dns_server_free (gpointer data)
{
  EmberStatusDnsServer *v = data;
  g_free (v->ipv4);
  g_free (v->ipv6);
  g_free (v->upstream);
  g_free (v);
}

static void
client_free (gpointer data)
{
  EmberStatusClient *c = data;
  g_free (c->id);
  g_ptr_array_unref (c->resources);
  g_free (c);
}

EmberStatus *
ember_status_new (void)
{
  EmberStatus *s = g_new0 (EmberStatus, 1);
  s->resources = g_ptr_array_new_with_free_func (resource_free);
  s->connections = g_ptr_array_new_with_free_func (connection_free);
  s->device_id = dup0 (NULL);
  s->device_name = dup0 (NULL);
  s->dns.system = dup0 (NULL);
  s->dns.plugin = dup0 (NULL);
  s->dns.servers = g_ptr_array_new_with_free_func (dns_server_free);
  s->clients = g_ptr_array_new_with_free_func (client_free);
  return s;
}

void
ember_status_set (char **member, const char *value)
{
  g_free (*member);
  *member = dup0 (value);
}

void
ember_status_free (EmberStatus *s)
{
  if (s == NULL)
    return;
  g_free (s->mode);
  g_free (s->state);
  g_free (s->public_key);
  g_free (s->device_id);
  g_free (s->device_name);
  g_free (s->portal_url);
  g_free (s->portal_state);
  g_free (s->ifname);
  g_free (s->ipv4);
  g_free (s->ipv6);
  g_clear_pointer (&s->cidrs, g_ptr_array_unref);
  g_ptr_array_unref (s->resources);
  g_ptr_array_unref (s->connections);
  g_free (s->dns.system);
  g_free (s->dns.plugin);
  g_ptr_array_unref (s->dns.servers);
  g_ptr_array_unref (s->clients);
  g_free (s);
}

EmberStatusResource *
ember_status_add_resource (EmberStatus *s, const char *id, const char *name, const char *address,
                           const char *type, const char *state, const char *gateway_id)
{
  EmberStatusResource *r = g_new0 (EmberStatusResource, 1);
  r->id = dup0 (id);
  r->name = dup0 (name);
  r->address = dup0 (address);
  r->type = dup0 (type);
  r->site = dup0 (NULL);
  r->status = dup0 (state);
  r->gateway_id = dup0 (gateway_id);
  r->ip_stack = dup0 (NULL);
  g_ptr_array_add (s->resources, r);
  return r;
}

EmberStatusConnection *
ember_status_add_connection (EmberStatus *s, const char *peer_id, const char *state)
{
  EmberStatusConnection *c = g_new0 (EmberStatusConnection, 1);
  c->peer_id = dup0 (peer_id);
  c->state = dup0 (state);
  c->path = dup0 (NULL);
  c->relay = dup0 (NULL);
  c->local = dup0 (NULL);
  c->remote = dup0 (NULL);
  c->handshake_age_s = -1;
  g_ptr_array_add (s->connections, c);
  return c;
}

EmberStatusDnsServer *
ember_status_add_dns_server (EmberStatus *s, const char *ipv4, const char *ipv6,
                             const char *upstream)
{
  EmberStatusDnsServer *v = g_new0 (EmberStatusDnsServer, 1);
  v->ipv4 = dup0 (ipv4);
  v->ipv6 = dup0 (ipv6);
  v->upstream = dup0 (upstream);
  g_ptr_array_add (s->dns.servers, v);
  return v;
}

EmberStatusClient *
ember_status_add_client (EmberStatus *s, const char *id, guint64 authorizations)
{
  EmberStatusClient *c = g_new0 (EmberStatusClient, 1);
  c->id = dup0 (id);
  c->authorizations = authorizations;
  c->resources = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (s->clients, c);
  return c;
}

/* ---- JSON out ------------------------------------------------------------- */

static void
member_str (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value != NULL ? value : "");
}

static void
member_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

char *
ember_status_to_json (const EmberStatus *s)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  member_str (b, "mode", s->mode);
  member_int (b, "pid", s->pid);
  member_str (b, "state", s->state);
  json_builder_set_member_name (b, "portal");
  json_builder_begin_object (b);
  member_str (b, "url", s->portal_url);
  member_str (b, "state", s->portal_state);
  member_int (b, "since", s->portal_since);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "interface");
  json_builder_begin_object (b);
  member_str (b, "name", s->ifname);
  member_str (b, "ipv4", s->ipv4);
  member_str (b, "ipv6", s->ipv6);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "identity");
  json_builder_begin_object (b);
  member_str (b, "public_key", s->public_key);
  member_str (b, "id", s->device_id);
  member_str (b, "name", s->device_name);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "internet");
  json_builder_add_boolean_value (b, s->internet);
  json_builder_set_member_name (b, "counters");
  json_builder_begin_object (b);
  member_int (b, "rx_bytes", (gint64) s->counters.rx_bytes);
  member_int (b, "tx_bytes", (gint64) s->counters.tx_bytes);
  member_int (b, "rx_packets", (gint64) s->counters.rx_packets);
  member_int (b, "tx_packets", (gint64) s->counters.tx_packets);
  member_int (b, "dropped_packets", (gint64) s->counters.dropped_packets);
  member_int (b, "handshakes", (gint64) s->counters.handshakes);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "resources");
  json_builder_begin_array (b);
  for (guint i = 0; i < s->resources->len; i++)
    {
      EmberStatusResource *r = s->resources->pdata[i];
      json_builder_begin_object (b);
      member_str (b, "id", r->id);
      member_str (b, "name", r->name);
      member_str (b, "address", r->address);
      member_str (b, "type", r->type);
      member_str (b, "site", r->site);
      member_str (b, "status", r->status);
      member_str (b, "gateway_id", r->gateway_id);
      if (r->ip_stack != NULL && *r->ip_stack != '\0')
        member_str (b, "ip_stack", r->ip_stack);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "connections");
  json_builder_begin_array (b);
  for (guint i = 0; i < s->connections->len; i++)
    {
      EmberStatusConnection *c = s->connections->pdata[i];
      json_builder_begin_object (b);
      member_str (b, "peer_id", c->peer_id);
      member_str (b, "state", c->state);
      member_str (b, "path", c->path);
      member_str (b, "relay", c->relay);
      member_str (b, "local", c->local);
      member_str (b, "remote", c->remote);
      member_int (b, "handshake_age_s", c->handshake_age_s);
      member_int (b, "rx_bytes", (gint64) c->rx_bytes);
      member_int (b, "tx_bytes", (gint64) c->tx_bytes);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "dns");
  json_builder_begin_object (b);
  member_str (b, "system", s->dns.system);
  json_builder_set_member_name (b, "applied");
  json_builder_add_boolean_value (b, s->dns.applied);
  member_str (b, "plugin", s->dns.plugin);
  json_builder_set_member_name (b, "servers");
  json_builder_begin_array (b);
  for (guint i = 0; i < s->dns.servers->len; i++)
    {
      EmberStatusDnsServer *v = s->dns.servers->pdata[i];
      json_builder_begin_object (b);
      member_str (b, "ipv4", v->ipv4);
      member_str (b, "ipv6", v->ipv6);
      member_str (b, "upstream", v->upstream);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  member_int (b, "proxy_names", (gint64) s->dns.proxy_names);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "clients");
  json_builder_begin_array (b);
  for (guint i = 0; i < s->clients->len; i++)
    {
      EmberStatusClient *c = s->clients->pdata[i];
      json_builder_begin_object (b);
      member_str (b, "id", c->id);
      member_int (b, "authorizations", (gint64) c->authorizations);
      json_builder_set_member_name (b, "resources");
      json_builder_begin_array (b);
      for (guint k = 0; k < c->resources->len; k++)
        json_builder_add_string_value (b, c->resources->pdata[k]);
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

/* ---- JSON in -------------------------------------------------------------- */

typedef struct {
  GError **error;
  gboolean failed;
} Reader;

static JsonObject *
get_object (Reader *rd, JsonObject *o, const char *where, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;
  if (n != NULL && JSON_NODE_HOLDS_OBJECT (n))
    return json_node_get_object (n);
  if (!rd->failed)
    g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "status: %s%s: expected an object", where, name);
  rd->failed = TRUE;
  return NULL;
}

static JsonArray *
get_array (Reader *rd, JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;
  if (n != NULL && JSON_NODE_HOLDS_ARRAY (n))
    return json_node_get_array (n);
  if (!rd->failed)
    g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "status: %s: expected an array",
                 name);
  rd->failed = TRUE;
  return NULL;
}

/* A JSON string node holding UTF-8. json-glib's scanner also takes
 * escapes JSON has not (an octal "\641" gives the byte 0xa1), whose
 * result its writer puts out as it is: a file that would not read back. */
static gboolean
is_utf8_string (JsonNode *n)
{
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
         && g_utf8_validate (json_node_get_string (n), -1, NULL);
}

static char *
get_str (Reader *rd, JsonObject *o, const char *where, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;
  if (is_utf8_string (n))
    return g_strdup (json_node_get_string (n));
  if (!rd->failed && o != NULL)
    g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "status: %s%s: expected a UTF-8 string", where, name);
  rd->failed = TRUE;
  return g_strdup ("");
}

static gint64
get_int (Reader *rd, JsonObject *o, const char *where, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;
  if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64)
    return json_node_get_int (n);
  if (!rd->failed && o != NULL)
    g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "status: %s%s: expected an integer", where, name);
  rd->failed = TRUE;
  return 0;
}

/* Members added after the first version: empty when missing, an error
 * only when present with the wrong type. */
static char *
opt_str (Reader *rd, JsonObject *o, const char *where, const char *name)
{
  if (o == NULL || !json_object_has_member (o, name))
    return g_strdup ("");
  return get_str (rd, o, where, name);
}

static guint64
opt_uint (Reader *rd, JsonObject *o, const char *where, const char *name)
{
  if (o == NULL || !json_object_has_member (o, name))
    return 0;
  return (guint64) get_int (rd, o, where, name);
}

static JsonObject *
opt_object (Reader *rd, JsonObject *o, const char *name)
{
  if (!json_object_has_member (o, name))
    return NULL;
  return get_object (rd, o, "", name);
}

static gboolean
opt_bool (Reader *rd, JsonObject *o, const char *where, const char *name)
{
  JsonNode *n;

  if (o == NULL || !json_object_has_member (o, name))
    return FALSE;
  n = json_object_get_member (o, name);
  if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN)
    return json_node_get_boolean (n);
  if (!rd->failed)
    g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "status: %s%s: expected a boolean", where, name);
  rd->failed = TRUE;
  return FALSE;
}

static JsonArray *
opt_array (Reader *rd, JsonObject *o, const char *where, const char *name)
{
  JsonNode *n;

  if (o == NULL || !json_object_has_member (o, name))
    return NULL;
  n = json_object_get_member (o, name);
  if (JSON_NODE_HOLDS_ARRAY (n))
    return json_node_get_array (n);
  if (!rd->failed)
    g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "status: %s%s: expected an array", where, name);
  rd->failed = TRUE;
  return NULL;
}

/* The element `i` of `a` as an object, or an error naming it. */
static JsonObject *
element_object (Reader *rd, JsonArray *a, const char *where, guint i)
{
  JsonNode *n = json_array_get_element (a, i);

  if (JSON_NODE_HOLDS_OBJECT (n))
    return json_node_get_object (n);
  if (!rd->failed)
    g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "status: %s[%u]: expected an object", where, i);
  rd->failed = TRUE;
  return NULL;
}

/* "dns" and "clients" (later members: empty when missing). */
static void
read_dns_and_clients (Reader *rd, JsonObject *root, EmberStatus *s)
{
  JsonObject *dns = opt_object (rd, root, "dns");
  JsonArray *servers, *clients;

  g_free (s->dns.system);
  s->dns.system = opt_str (rd, dns, "dns.", "system");
  s->dns.applied = opt_bool (rd, dns, "dns.", "applied");
  g_free (s->dns.plugin);
  s->dns.plugin = opt_str (rd, dns, "dns.", "plugin");
  s->dns.proxy_names = opt_uint (rd, dns, "dns.", "proxy_names");
  servers = opt_array (rd, dns, "dns.", "servers");
  for (guint i = 0; servers != NULL && !rd->failed && i < json_array_get_length (servers); i++)
    {
      JsonObject *o = element_object (rd, servers, "dns.servers", i);
      g_autofree char *ipv4 = NULL, *ipv6 = NULL, *upstream = NULL;

      if (o == NULL)
        return;
      ipv4 = opt_str (rd, o, "dns.servers[].", "ipv4");
      ipv6 = opt_str (rd, o, "dns.servers[].", "ipv6");
      upstream = opt_str (rd, o, "dns.servers[].", "upstream");
      ember_status_add_dns_server (s, ipv4, ipv6, upstream);
    }
  clients = opt_array (rd, root, "", "clients");
  for (guint i = 0; clients != NULL && !rd->failed && i < json_array_get_length (clients); i++)
    {
      JsonObject *o = element_object (rd, clients, "clients", i);
      g_autofree char *id = NULL;
      EmberStatusClient *c;
      JsonArray *ids;

      if (o == NULL)
        return;
      id = get_str (rd, o, "clients[].", "id");
      c = ember_status_add_client (s, id, opt_uint (rd, o, "clients[].", "authorizations"));
      ids = opt_array (rd, o, "clients[].", "resources");
      for (guint k = 0; ids != NULL && !rd->failed && k < json_array_get_length (ids); k++)
        {
          JsonNode *n = json_array_get_element (ids, k);

          if (!is_utf8_string (n))
            {
              g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "status: clients[%u].resources[%u]: expected a UTF-8 string", i, k);
              rd->failed = TRUE;
              return;
            }
          g_ptr_array_add (c->resources, g_strdup (json_node_get_string (n)));
        }
    }
}

EmberStatus *
ember_status_from_json (const char *text, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (EmberStatus) s = ember_status_new ();
  Reader rd = { error, FALSE };
  JsonObject *root, *portal, *iface, *ident, *counters;
  JsonArray *res, *conns;

  if (!json_parser_load_from_data (parser, text, -1, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "status: expected an object");
      return NULL;
    }
  root = json_node_get_object (json_parser_get_root (parser));
  s->mode = get_str (&rd, root, "", "mode");
  s->pid = get_int (&rd, root, "", "pid");
  s->state = opt_str (&rd, root, "", "state");
  ident = opt_object (&rd, root, "identity");
  s->public_key = opt_str (&rd, ident, "identity.", "public_key");
  g_free (s->device_id);
  s->device_id = opt_str (&rd, ident, "identity.", "id");
  g_free (s->device_name);
  s->device_name = opt_str (&rd, ident, "identity.", "name");
  if (json_object_has_member (root, "internet"))
    {
      JsonNode *n = json_object_get_member (root, "internet");
      if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN)
        s->internet = json_node_get_boolean (n);
      else if (!rd.failed)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "status: internet: expected a boolean");
          rd.failed = TRUE;
        }
    }
  counters = opt_object (&rd, root, "counters");
  s->counters.rx_bytes = opt_uint (&rd, counters, "counters.", "rx_bytes");
  s->counters.tx_bytes = opt_uint (&rd, counters, "counters.", "tx_bytes");
  s->counters.rx_packets = opt_uint (&rd, counters, "counters.", "rx_packets");
  s->counters.tx_packets = opt_uint (&rd, counters, "counters.", "tx_packets");
  s->counters.dropped_packets = opt_uint (&rd, counters, "counters.", "dropped_packets");
  s->counters.handshakes = opt_uint (&rd, counters, "counters.", "handshakes");
  portal = get_object (&rd, root, "", "portal");
  s->portal_url = get_str (&rd, portal, "portal.", "url");
  s->portal_state = get_str (&rd, portal, "portal.", "state");
  s->portal_since = get_int (&rd, portal, "portal.", "since");
  iface = get_object (&rd, root, "", "interface");
  s->ifname = get_str (&rd, iface, "interface.", "name");
  s->ipv4 = get_str (&rd, iface, "interface.", "ipv4");
  s->ipv6 = get_str (&rd, iface, "interface.", "ipv6");
  res = get_array (&rd, root, "resources");
  for (guint i = 0; res != NULL && !rd.failed && i < json_array_get_length (res); i++)
    {
      JsonNode *n = json_array_get_element (res, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      EmberStatusResource *r = g_new0 (EmberStatusResource, 1);
      g_ptr_array_add (s->resources, r);
      if (o == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "status: resources[%u]: expected an object", i);
          return NULL;
        }
      r->id = get_str (&rd, o, "resources[].", "id");
      r->name = get_str (&rd, o, "resources[].", "name");
      r->address = get_str (&rd, o, "resources[].", "address");
      r->type = get_str (&rd, o, "resources[].", "type");
      r->site = opt_str (&rd, o, "resources[].", "site");
      r->status = get_str (&rd, o, "resources[].", "status");
      r->gateway_id = get_str (&rd, o, "resources[].", "gateway_id");
      r->ip_stack = opt_str (&rd, o, "resources[].", "ip_stack");
    }
  conns = get_array (&rd, root, "connections");
  for (guint i = 0; conns != NULL && !rd.failed && i < json_array_get_length (conns); i++)
    {
      JsonNode *n = json_array_get_element (conns, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      EmberStatusConnection *c = g_new0 (EmberStatusConnection, 1);
      g_ptr_array_add (s->connections, c);
      if (o == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "status: connections[%u]: expected an object", i);
          return NULL;
        }
      c->peer_id = get_str (&rd, o, "connections[].", "peer_id");
      c->state = get_str (&rd, o, "connections[].", "state");
      c->path = get_str (&rd, o, "connections[].", "path");
      c->relay = get_str (&rd, o, "connections[].", "relay");
      c->local = get_str (&rd, o, "connections[].", "local");
      c->remote = get_str (&rd, o, "connections[].", "remote");
      c->handshake_age_s = get_int (&rd, o, "connections[].", "handshake_age_s");
      c->rx_bytes = (guint64) get_int (&rd, o, "connections[].", "rx_bytes");
      c->tx_bytes = (guint64) get_int (&rd, o, "connections[].", "tx_bytes");
    }
  if (!rd.failed)
    read_dns_and_clients (&rd, root, s);
  if (rd.failed)
    return NULL;
  return g_steal_pointer (&s);
}

/* ---- Files and the table ------------------------------------------------------ */

char *
ember_status_path (const char *runtime_dir)
{
  return g_build_filename (runtime_dir, EMBER_STATUS_FILE, NULL);
}

gboolean
ember_status_write (const EmberStatus *s, const char *path, GError **error)
{
  g_autofree char *json = ember_status_to_json (s);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *text = g_strconcat (json, "\n", NULL);

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", dir, g_strerror (e));
      return FALSE;
    }
  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error);
}

static void
print_dns (const EmberStatus *s, FILE *out)
{
  const EmberStatusDns *dns = &s->dns;

  if (!*dns->system && !*dns->plugin && dns->servers->len == 0)
    return;
  if (*dns->system)
    fprintf (out, "dns:        system resolver by %s, %s; upstreams through %s; %" G_GUINT64_FORMAT
             " name(s) with proxy addresses\n",
             dns->system,
             dns->applied ? "asking the sentinels" : "not pointed at the sentinels",
             *dns->plugin ? dns->plugin : "no plugin", dns->proxy_names);
  else
    fprintf (out, "dns:        upstreams through %s\n", *dns->plugin ? dns->plugin : "no plugin");
  for (guint i = 0; i < dns->servers->len; i++)
    {
      const EmberStatusDnsServer *v = dns->servers->pdata[i];
      g_autofree char *sentinels = g_strjoin ("  ", *v->ipv4 ? v->ipv4 : "",
                                              *v->ipv6 ? v->ipv6 : "", NULL);

      g_strstrip (sentinels);
      if (*sentinels)
        fprintf (out, "            %s -> %s\n", sentinels,
                 *v->upstream ? v->upstream : "(no upstream: resource names only)");
      else
        fprintf (out, "            -> %s\n", *v->upstream ? v->upstream : "(none)");
    }
}

/* A gateway: what it serves and to whom. */
static void
print_served (const EmberStatus *s, FILE *out)
{
  if (s->resources->len > 0)
    {
      fprintf (out, "\n%-20s %-24s %-9s %-16s %s\n", "SERVED RESOURCE", "ADDRESS", "TYPE",
               "SITE", "CLIENTS");
      for (guint i = 0; i < s->resources->len; i++)
        {
          EmberStatusResource *r = s->resources->pdata[i];
          guint n = 0;

          for (guint k = 0; k < s->clients->len; k++)
            {
              EmberStatusClient *c = s->clients->pdata[k];
              for (guint j = 0; j < c->resources->len; j++)
                n += g_str_equal (c->resources->pdata[j], r->id);
            }
          fprintf (out, "%-20s %-24s %-9s %-16s %u\n", r->name, *r->address ? r->address : "-",
                   r->type, *r->site ? r->site : "-", n);
        }
    }
  if (s->clients->len > 0)
    {
      fprintf (out, "\n%-36s %-14s %s\n", "CLIENT", "AUTHORIZATIONS", "RESOURCES");
      for (guint i = 0; i < s->clients->len; i++)
        {
          EmberStatusClient *c = s->clients->pdata[i];
          g_autoptr (GString) names = g_string_new (NULL);

          for (guint k = 0; k < c->resources->len; k++)
            {
              const char *id = c->resources->pdata[k];
              const char *name = id;

              for (guint j = 0; j < s->resources->len; j++)
                {
                  EmberStatusResource *r = s->resources->pdata[j];
                  if (g_str_equal (r->id, id) && *r->name)
                    name = r->name;
                }
              g_string_append_printf (names, "%s%s", k ? ", " : "", name);
            }
          fprintf (out, "%-36s %-14" G_GUINT64_FORMAT " %s\n", c->id, c->authorizations,
                   names->len ? names->str : "-");
        }
    }
}

void
ember_status_print (const EmberStatus *s, FILE *out)
{
  g_autoptr (GDateTime) since = g_date_time_new_from_unix_local (s->portal_since);
  g_autofree char *since_text = since != NULL ? g_date_time_format (since, "%F %T") : NULL;

  fprintf (out, "mode:       %s (pid %" G_GINT64_FORMAT ")\n", s->mode, s->pid);
  if (*s->device_name)
    fprintf (out, "device:     %s (%s)\n", s->device_name, s->device_id);
  fprintf (out, "portal:     %s, %s since %s\n", s->portal_url, s->portal_state,
           since_text != NULL ? since_text : "?");
  fprintf (out, "interface:  %s  %s  %s\n", *s->ifname ? s->ifname : "(not up)", s->ipv4,
           s->ipv6);
  if (*s->state)
    fprintf (out, "state:      %s%s\n", s->state,
             g_str_equal (s->mode, "client") ? (s->internet ? ", internet resource on"
                                                            : ", internet resource off")
                                             : "");
  print_dns (s, out);
  if (g_str_equal (s->mode, "gateway"))
    print_served (s, out);
  else if (s->resources->len > 0)
    {
      fprintf (out, "\n%-20s %-24s %-9s %-14s %s\n", "RESOURCE", "ADDRESS", "TYPE", "STATUS",
               "GATEWAY");
      for (guint i = 0; i < s->resources->len; i++)
        {
          EmberStatusResource *r = s->resources->pdata[i];
          fprintf (out, "%-20s %-24s %-9s %-14s %s\n", r->name, *r->address ? r->address : "-",
                   r->type, r->status, *r->gateway_id ? r->gateway_id : "-");
        }
    }
  if (s->connections->len > 0)
    {
      fprintf (out, "\n%-36s %-9s %-7s %-22s %-9s %12s %12s\n", "PEER", "STATE", "PATH",
               "REMOTE", "HANDSHAKE", "RX", "TX");
      for (guint i = 0; i < s->connections->len; i++)
        {
          EmberStatusConnection *c = s->connections->pdata[i];
          g_autofree char *age = c->handshake_age_s < 0
                                     ? g_strdup ("never")
                                     : g_strdup_printf ("%" G_GINT64_FORMAT " s ago",
                                                        c->handshake_age_s);
          fprintf (out,
                   "%-36s %-9s %-7s %-22s %-9s %12" G_GUINT64_FORMAT " %12" G_GUINT64_FORMAT
                   "\n",
                   c->peer_id, c->state, *c->path ? c->path : "-",
                   *c->remote ? c->remote : "-", age, c->rx_bytes, c->tx_bytes);
          if (*c->relay)
            fprintf (out, "%-36s via relay %s (local %s)\n", "", c->relay, c->local);
        }
    }
}
