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

EmberStatus *
ember_status_new (void)
{
  EmberStatus *s = g_new0 (EmberStatus, 1);
  s->resources = g_ptr_array_new_with_free_func (resource_free);
  s->connections = g_ptr_array_new_with_free_func (connection_free);
  return s;
}

void
ember_status_free (EmberStatus *s)
{
  if (s == NULL)
    return;
  g_free (s->mode);
  g_free (s->state);
  g_free (s->public_key);
  g_free (s->portal_url);
  g_free (s->portal_state);
  g_free (s->ifname);
  g_free (s->ipv4);
  g_free (s->ipv6);
  g_clear_pointer (&s->cidrs, g_ptr_array_unref);
  g_ptr_array_unref (s->resources);
  g_ptr_array_unref (s->connections);
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

static char *
get_str (Reader *rd, JsonObject *o, const char *where, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;
  if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (n));
  if (!rd->failed && o != NULL)
    g_set_error (rd->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "status: %s%s: expected a string", where, name);
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

void
ember_status_print (const EmberStatus *s, FILE *out)
{
  g_autoptr (GDateTime) since = g_date_time_new_from_unix_local (s->portal_since);
  g_autofree char *since_text = since != NULL ? g_date_time_format (since, "%F %T") : NULL;

  fprintf (out, "mode:       %s (pid %" G_GINT64_FORMAT ")\n", s->mode, s->pid);
  fprintf (out, "portal:     %s, %s since %s\n", s->portal_url, s->portal_state,
           since_text != NULL ? since_text : "?");
  fprintf (out, "interface:  %s  %s  %s\n", *s->ifname ? s->ifname : "(not up)", s->ipv4,
           s->ipv6);
  if (*s->state)
    fprintf (out, "state:      %s%s\n", s->state,
             g_str_equal (s->mode, "client") ? (s->internet ? ", internet resource on"
                                                            : ", internet resource off")
                                             : "");
  if (s->resources->len > 0)
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
