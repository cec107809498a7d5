/* portal/reader — strict, path-tracking reads from a json-glib tree. */
#include "portal/reader.h"

#include <stdarg.h>
#include <string.h>
#include "portal/values.h"

void
reader_init (Reader *r, const char *root, GError **error)
{
  r->path = g_string_new (root);
  r->error = error;
}

void
reader_finish (Reader *r)
{
  g_string_free (r->path, TRUE);
  r->path = NULL;
}

gsize
reader_push_member (Reader *r, const char *name)
{
  gsize mark = r->path->len;
  if (r->path->len > 0)
    g_string_append_c (r->path, '.');
  g_string_append (r->path, name);
  return mark;
}

gsize
reader_push_index (Reader *r, guint index)
{
  gsize mark = r->path->len;
  g_string_append_printf (r->path, "[%u]", index);
  return mark;
}

void
reader_pop (Reader *r, gsize mark)
{
  g_string_truncate (r->path, mark);
}

gboolean
reader_fail (Reader *r, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (r->error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_PAYLOAD, "%s: %s",
               r->path->str, msg);
  return FALSE;
}

static const char *
node_kind (JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
      break;
    }
  GType t = json_node_get_value_type (node);
  if (t == G_TYPE_STRING)
    return "a string";
  if (t == G_TYPE_BOOLEAN)
    return "a boolean";
  if (t == G_TYPE_INT64)
    return "an integer";
  if (t == G_TYPE_DOUBLE)
    return "a number with a fraction or exponent";
  return "an unknown value";
}

static gboolean
is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

gboolean
reader_object (Reader *r, JsonNode *node, const char *const *allowed, JsonObject **out)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return reader_fail (r, "expected an object, got %s", node_kind (node));
  JsonObject *obj = json_node_get_object (node);
  JsonObjectIter it;
  const char *name;
  json_object_iter_init (&it, obj);
  while (json_object_iter_next (&it, &name, NULL))
    {
      gboolean known = FALSE;
      for (guint i = 0; allowed[i] != NULL && !known; i++)
        known = strcmp (allowed[i], name) == 0;
      if (!known)
        {
          g_autofree char *esc = g_strescape (name, NULL);
          return reader_fail (r, "unknown member \"%.64s\"", esc);
        }
    }
  *out = obj;
  return TRUE;
}

/* Fetches member `name`, pushing it on the path (the caller pops). */
static JsonNode *
member (Reader *r, JsonObject *obj, const char *name, gboolean required, gboolean *ok)
{
  JsonNode *node = json_object_get_member (obj, name);
  *ok = TRUE;
  if (node == NULL && required)
    *ok = reader_fail (r, "missing");
  return node;
}

gboolean
read_member_object (Reader *r, JsonObject *obj, const char *name, const char *const *allowed,
                    JsonObject **out)
{
  gsize mark = reader_push_member (r, name);
  gboolean ok;
  JsonNode *node = member (r, obj, name, TRUE, &ok);
  if (node != NULL)
    ok = reader_object (r, node, allowed, out);
  if (ok)
    reader_pop (r, mark);
  return ok;
}

gboolean
read_member_array (Reader *r, JsonObject *obj, const char *name, gboolean required, guint min,
                   guint max, JsonArray **out)
{
  gsize mark = reader_push_member (r, name);
  gboolean ok;
  JsonNode *node = member (r, obj, name, required, &ok);
  if (node != NULL)
    {
      if (!JSON_NODE_HOLDS_ARRAY (node))
        ok = reader_fail (r, "expected an array, got %s", node_kind (node));
      else
        {
          guint n = json_array_get_length (json_node_get_array (node));
          if (n < min || n > max)
            ok = reader_fail (r, "%u elements; expected %u..%u", n, min, max);
          else
            *out = json_node_get_array (node);
        }
    }
  if (ok)
    reader_pop (r, mark);
  return ok;
}

/* The string of `node` (on the path already), checked as protocol text. */
static const char *
node_text (Reader *r, JsonNode *node, gsize max)
{
  if (!is_string (node))
    {
      reader_fail (r, "expected a string, got %s", node_kind (node));
      return NULL;
    }
  const char *s = json_node_get_string (node);
  if (!ember_portal_text_check (s, max, r->path->str, r->error))
    return NULL;
  return s;
}

/* Looks a required (or present optional) string member up; NULL with
 * *ok FALSE on error, NULL with *ok TRUE when absent and optional. The
 * path holds the member on return when *ok is FALSE. */
static const char *
member_text (Reader *r, JsonObject *obj, const char *name, gboolean required, gsize max,
             gsize *mark, gboolean *ok)
{
  *mark = reader_push_member (r, name);
  JsonNode *node = member (r, obj, name, required, ok);
  if (node == NULL)
    return NULL;
  const char *s = node_text (r, node, max);
  *ok = s != NULL;
  return s;
}

gboolean
read_string (Reader *r, JsonObject *obj, const char *name, gboolean required, gsize max,
             char **out)
{
  gsize mark;
  gboolean ok;
  const char *s = member_text (r, obj, name, required, max, &mark, &ok);
  if (!ok)
    return FALSE;
  if (s != NULL)
    {
      g_free (*out);
      *out = g_strdup (s);
    }
  reader_pop (r, mark);
  return TRUE;
}

/* A string member that a value parser checks; `max` only bounds what is
 * quoted back. */
#define VALUE_TEXT_MAX 4096

gboolean
read_id (Reader *r, JsonObject *obj, const char *name, EmberPortalId *out)
{
  gsize mark;
  gboolean ok;
  const char *s = member_text (r, obj, name, TRUE, VALUE_TEXT_MAX, &mark, &ok);
  if (!ok || !ember_portal_id_parse (s, out, r->path->str, r->error))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

gboolean
read_key (Reader *r, JsonObject *obj, const char *name, EmberPortalKey *out)
{
  gsize mark;
  gboolean ok;
  const char *s = member_text (r, obj, name, TRUE, VALUE_TEXT_MAX, &mark, &ok);
  if (!ok || !ember_portal_key_parse (s, out, r->path->str, r->error))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

gboolean
read_ip (Reader *r, JsonObject *obj, const char *name, EmberAddrFamily family, EmberAddr *out)
{
  gsize mark;
  gboolean ok;
  const char *s = member_text (r, obj, name, TRUE, VALUE_TEXT_MAX, &mark, &ok);
  if (!ok || !ember_portal_ip_parse (s, family, out, r->path->str, r->error))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

gboolean
read_endpoint (Reader *r, JsonObject *obj, const char *name, EmberAddrFamily family,
               EmberAddr *out, gboolean *present)
{
  gsize mark;
  gboolean ok;
  const char *s = member_text (r, obj, name, FALSE, VALUE_TEXT_MAX, &mark, &ok);
  if (!ok)
    return FALSE;
  *present = s != NULL;
  if (s != NULL && !ember_portal_endpoint_parse (s, family, out, r->path->str, r->error))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

/* Integers stay exact in a double up to 2^53, which is what JavaScript
 * peers and jq can carry. */
#define TIME_MAX (G_GINT64_CONSTANT (1) << 53)

gboolean
read_time (Reader *r, JsonObject *obj, const char *name, gint64 *out)
{
  gsize mark = reader_push_member (r, name);
  gboolean ok;
  JsonNode *node = member (r, obj, name, TRUE, &ok);
  if (!ok)
    return FALSE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return reader_fail (r, "expected an integer (Unix seconds), got %s", node_kind (node));
  gint64 v = json_node_get_int (node);
  if (v < 1 || v > TIME_MAX)
    return reader_fail (r, "%" G_GINT64_FORMAT " is out of range 1..2^53", v);
  *out = v;
  reader_pop (r, mark);
  return TRUE;
}

gboolean
read_enum (Reader *r, JsonObject *obj, const char *name, const char *const *names, guint n,
           guint *out)
{
  gsize mark;
  gboolean ok;
  const char *s = member_text (r, obj, name, TRUE, VALUE_TEXT_MAX, &mark, &ok);
  if (!ok)
    return FALSE;
  for (guint i = 0; i < n; i++)
    if (strcmp (s, names[i]) == 0)
      {
        *out = i;
        reader_pop (r, mark);
        return TRUE;
      }
  g_autofree char *esc = g_strescape (s, NULL);
  /* `names` has n entries and need not end with NULL: join by count. */
  g_autoptr (GString) all = g_string_new (NULL);
  for (guint i = 0; i < n; i++)
    g_string_append_printf (all, "%s\"%s\"", i > 0 ? ", " : "", names[i]);
  return reader_fail (r, "\"%.64s\" is none of %s", esc, all->str);
}

gboolean
read_tunnel (Reader *r, JsonObject *obj, const char *name, EmberPortalTunnelAddresses *out)
{
  static const char *const allowed[] = { "ipv4", "ipv6", NULL };
  gsize mark = reader_push_member (r, name);
  gboolean ok;
  JsonNode *node = member (r, obj, name, TRUE, &ok);
  JsonObject *o;
  if (!ok || !reader_object (r, node, allowed, &o)
      || !read_ip (r, o, "ipv4", EMBER_ADDR_IPV4, &out->ipv4)
      || !read_ip (r, o, "ipv6", EMBER_ADDR_IPV6, &out->ipv6))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

static gboolean
read_ice_chars (Reader *r, JsonObject *obj, const char *name, gsize min, gsize max, char *out)
{
  gsize mark;
  gboolean ok;
  const char *s = member_text (r, obj, name, TRUE, VALUE_TEXT_MAX, &mark, &ok);
  if (!ok || !ember_portal_ice_chars_check (s, min, max, r->path->str, r->error))
    return FALSE;
  memcpy (out, s, strlen (s) + 1);
  reader_pop (r, mark);
  return TRUE;
}

gboolean
read_ice_credentials (Reader *r, JsonObject *obj, const char *name,
                      EmberPortalIceCredentials *out)
{
  static const char *const allowed[] = { "ufrag", "pwd", NULL };
  JsonObject *o;
  gsize mark = r->path->len;
  /* RFC 8445 §5.3: ufrag ≥ 4 and pwd ≥ 22 characters. */
  if (!read_member_object (r, obj, name, allowed, &o))
    return FALSE;
  reader_push_member (r, name);
  if (!read_ice_chars (r, o, "ufrag", 4, EMBER_ICE_UFRAG_MAX, out->ufrag)
      || !read_ice_chars (r, o, "pwd", 22, EMBER_ICE_PWD_MAX, out->pwd))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

gboolean
read_id_array (Reader *r, JsonObject *obj, const char *name, guint min, guint max,
               EmberPortalId **out, guint *n_out)
{
  JsonArray *a;
  if (!read_member_array (r, obj, name, TRUE, min, max, &a))
    return FALSE;
  gsize mark = reader_push_member (r, name);
  guint n = json_array_get_length (a);
  *out = g_new0 (EmberPortalId, MAX (n, 1));
  *n_out = n;
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (r, i);
      const char *s = node_text (r, json_array_get_element (a, i), VALUE_TEXT_MAX);
      if (s == NULL || !ember_portal_id_parse (s, &(*out)[i], r->path->str, r->error))
        return FALSE;
      reader_pop (r, m);
    }
  reader_pop (r, mark);
  return TRUE;
}

gboolean
read_candidates (Reader *r, JsonObject *obj, const char *name, EmberIceCandidate **out,
                 guint *n_out)
{
  JsonArray *a;
  if (!read_member_array (r, obj, name, TRUE, 1, EMBER_PORTAL_MAX_CANDIDATES, &a))
    return FALSE;
  gsize mark = reader_push_member (r, name);
  guint n = json_array_get_length (a);
  *out = g_new0 (EmberIceCandidate, n);
  *n_out = n;
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (r, i);
      const char *s = node_text (r, json_array_get_element (a, i), VALUE_TEXT_MAX);
      if (s == NULL || !ember_portal_candidate_parse (s, &(*out)[i], r->path->str, r->error))
        return FALSE;
      reader_pop (r, m);
    }
  reader_pop (r, mark);
  return TRUE;
}
