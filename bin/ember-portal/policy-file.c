/* policy-file — parse and check the declarative policy file. */
#include "policy-file.h"

#include "store-private.h"

#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <string.h>

#include "dns/pattern.h"
#include "net/cidr.h"

G_DEFINE_QUARK (ember-policy-file-error-quark, ember_policy_file_error)

typedef struct {
  const char *name;
  GError **error;
  EmberPolicyFile *file;
  GHashTable *sites;     /* name set */
  GHashTable *resources; /* name set */
  GHashTable *groups;    /* name set */
  GHashTable *policies;  /* "group\nresource" set */
} Parser;

static gboolean G_GNUC_PRINTF (3, 4)
fail (Parser *p, const char *path, const char *format, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (p->error, EMBER_POLICY_FILE_ERROR, 0, "%s: %s: %s", p->name, path, msg);
  return FALSE;
}

static const char *
node_kind (JsonNode *node)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    return "an object";
  if (JSON_NODE_HOLDS_ARRAY (node))
    return "an array";
  if (JSON_NODE_HOLDS_NULL (node))
    return "null";
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return "a string";
  if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    return "a boolean";
  return "a number";
}

/* Members outside `allowed` are errors. */
static gboolean
check_members (Parser *p, const char *path, JsonObject *obj, const char *const *allowed)
{
  g_autoptr (GList) members = json_object_get_members (obj);

  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (allowed, l->data))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) allowed);
        return fail (p, path, "unknown member \"%s\" (expected %s)", (const char *) l->data,
                     list);
      }
  return TRUE;
}

static JsonObject *
get_object (Parser *p, const char *path, JsonNode *node)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      fail (p, path, "expected an object, got %s", node_kind (node));
      return NULL;
    }
  return json_node_get_object (node);
}

/* An optional array member; `*out` NULL when absent. */
static gboolean
get_array (Parser *p, const char *path, JsonObject *obj, const char *member, JsonArray **out)
{
  JsonNode *node = json_object_get_member (obj, member);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return fail (p, path, "expected an array, got %s", node_kind (node));
  *out = json_node_get_array (node);
  return TRUE;
}

/* A string member; absent is an error when `required`, else NULL. */
static gboolean
get_string (Parser *p, const char *path, JsonObject *obj, const char *member, gboolean required,
            const char **out)
{
  JsonNode *node = json_object_get_member (obj, member);

  *out = NULL;
  if (node == NULL)
    return !required || fail (p, path, "missing (expected a string)");
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return fail (p, path, "expected a string, got %s", node_kind (node));
  /* The text is UTF-8, but json-glib also takes octal escapes ("\641"
   * is the byte 0xa1), which would reach the store and the protocol. */
  if (!g_utf8_validate (json_node_get_string (node), -1, NULL))
    return fail (p, path, "expected a UTF-8 string (an escape made another byte)");
  *out = json_node_get_string (node);
  return TRUE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static gboolean
check_name (Parser *p, const char *path, const char *what, const char *name)
{
  GError *local = NULL;

  /* The store's own rule, with the path in front. */
  if (store_check_name (what, name, &local))
    return TRUE;
  fail (p, path, "%s", local->message);
  g_error_free (local);
  return FALSE;
}

static gboolean
parse_sites (Parser *p, JsonArray *array)
{
  static const char *const keys[] = { "name", NULL };

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *path = g_strdup_printf ("$.sites[%u]", i);
      g_autofree char *name_path = g_strconcat (path, ".name", NULL);
      JsonObject *obj = get_object (p, path, json_array_get_element (array, i));
      const char *name;

      if (obj == NULL || !check_members (p, path, obj, keys) ||
          !get_string (p, name_path, obj, "name", TRUE, &name) ||
          !check_name (p, name_path, "site name", name))
        return FALSE;
      if (g_hash_table_contains (p->sites, name))
        return fail (p, name_path, "duplicate site \"%s\"", name);
      g_hash_table_add (p->sites, g_strdup (name));
      g_ptr_array_add (p->file->sites, g_strdup (name));
    }
  return TRUE;
}

gboolean
ember_policy_file_parse_ports (const char *text, EmberStoreProtocol protocol, GArray *out)
{
  g_auto (GStrv) items = NULL;

  if (text == NULL || *text == '\0')
    return FALSE;
  items = g_strsplit (text, ",", -1);
  for (guint i = 0; items[i] != NULL; i++)
    {
      char *item = g_strstrip (items[i]);
      char *dash = strchr (item, '-');
      guint64 start, end;
      char *e1 = NULL, *e2 = NULL;
      EmberStoreFilter f = { protocol, 0, 0 };

      if (!g_ascii_isdigit (*item))
        return FALSE;
      start = g_ascii_strtoull (item, &e1, 10);
      if (dash != NULL)
        {
          if (e1 != dash || !g_ascii_isdigit (dash[1]))
            return FALSE;
          end = g_ascii_strtoull (dash + 1, &e2, 10);
          if (*e2 != '\0')
            return FALSE;
        }
      else
        {
          if (*e1 != '\0')
            return FALSE;
          end = start;
        }
      if (start < 1 || end > 65535 || start > end)
        return FALSE;
      f.port_start = (guint16) start;
      f.port_end = (guint16) end;
      g_array_append_val (out, f);
    }
  return TRUE;
}

static gboolean
parse_filters (Parser *p, const char *path, JsonArray *array, GArray *out)
{
  static const char *const keys[] = { "protocol", "ports", NULL };

  for (guint j = 0; array != NULL && j < json_array_get_length (array); j++)
    {
      g_autofree char *fpath = g_strdup_printf ("%s.filters[%u]", path, j);
      g_autofree char *ppath = g_strconcat (fpath, ".protocol", NULL);
      g_autofree char *portpath = g_strconcat (fpath, ".ports", NULL);
      JsonObject *obj = get_object (p, fpath, json_array_get_element (array, j));
      const char *protocol, *ports;
      EmberStoreProtocol proto;

      if (obj == NULL || !check_members (p, fpath, obj, keys) ||
          !get_string (p, ppath, obj, "protocol", TRUE, &protocol) ||
          !get_string (p, portpath, obj, "ports", FALSE, &ports))
        return FALSE;
      if (g_str_equal (protocol, "tcp"))
        proto = EMBER_STORE_PROTOCOL_TCP;
      else if (g_str_equal (protocol, "udp"))
        proto = EMBER_STORE_PROTOCOL_UDP;
      else if (g_str_equal (protocol, "icmp"))
        proto = EMBER_STORE_PROTOCOL_ICMP;
      else
        return fail (p, ppath, "expected \"tcp\", \"udp\" or \"icmp\", got \"%s\"", protocol);
      if (proto == EMBER_STORE_PROTOCOL_ICMP)
        {
          EmberStoreFilter f = { proto, 0, 0 };
          if (ports != NULL)
            return fail (p, portpath, "icmp has no ports");
          g_array_append_val (out, f);
        }
      else if (ports == NULL)
        {
          EmberStoreFilter f = { proto, 1, 65535 };
          g_array_append_val (out, f);
        }
      else if (!ember_policy_file_parse_ports (ports, proto, out))
        return fail (p, portpath,
                     "expected ports and ranges within 1-65535 like \"80,8000-8100\", got \"%s\"",
                     ports);
    }
  return TRUE;
}

/* A CIDR as the file must write it: host bits clear; `bare` also takes a
 * lone address. The canonical text, or NULL with `why` set. */
static char *
canonical_cidr (const char *text, gboolean bare, char **why)
{
  g_autoptr (GError) local = NULL;
  EmberCidr c;

  if (!ember_cidr_parse (text, bare ? EMBER_CIDR_PARSE_BARE : EMBER_CIDR_PARSE_STRICT, &c,
                         &local))
    {
      *why = g_strdup (local->message);
      return NULL;
    }
  return ember_cidr_to_string (&c);
}

static gboolean
parse_resources (Parser *p, JsonArray *array)
{
  static const char *const keys[] = { "name", "type", "address", "ip_stack", "site", "filters",
                                      NULL };

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *path = g_strdup_printf ("$.resources[%u]", i);
      g_autofree char *npath = g_strconcat (path, ".name", NULL);
      g_autofree char *tpath = g_strconcat (path, ".type", NULL);
      g_autofree char *apath = g_strconcat (path, ".address", NULL);
      g_autofree char *spath = g_strconcat (path, ".site", NULL);
      g_autofree char *fpath = g_strconcat (path, ".filters", NULL);
      g_autofree char *ipath = g_strconcat (path, ".ip_stack", NULL);
      g_autoptr (EmberStoreResource) r = g_new0 (EmberStoreResource, 1);
      JsonObject *obj = get_object (p, path, json_array_get_element (array, i));
      const char *name, *type, *address, *site, *ip_stack;
      JsonArray *filters;

      if (obj == NULL || !check_members (p, path, obj, keys) ||
          !get_string (p, npath, obj, "name", TRUE, &name) ||
          !check_name (p, npath, "resource name", name) ||
          !get_string (p, tpath, obj, "type", TRUE, &type) ||
          !get_string (p, apath, obj, "address", FALSE, &address) ||
          !get_string (p, ipath, obj, "ip_stack", FALSE, &ip_stack) ||
          !get_string (p, spath, obj, "site", TRUE, &site) ||
          !get_array (p, fpath, obj, "filters", &filters))
        return FALSE;
      if (g_hash_table_contains (p->resources, name))
        return fail (p, npath, "duplicate resource \"%s\"", name);
      if (!g_hash_table_contains (p->sites, site))
        return fail (p, spath, "expected a site of $.sites, got \"%s\"", site);
      r->name = g_strdup (name);
      r->site_name = g_strdup (site);
      r->filters = g_array_new (FALSE, TRUE, sizeof (EmberStoreFilter));
      if (g_str_equal (type, "cidr"))
        {
          r->type = EMBER_STORE_RESOURCE_CIDR;
          if (address == NULL)
            return fail (p, apath, "missing (expected a CIDR like 10.0.0.0/24)");
          g_autofree char *why = NULL;
          if ((r->address = canonical_cidr (address, FALSE, &why)) == NULL)
            return fail (p, apath, "expected an IPv4 or IPv6 CIDR like 10.0.0.0/24: %s", why);
        }
      else if (g_str_equal (type, "dns"))
        {
          GError *local = NULL;
          r->type = EMBER_STORE_RESOURCE_DNS;
          if (address == NULL)
            return fail (p, apath, "missing (expected a DNS name pattern)");
          if ((r->address = ember_dns_pattern_normalize (address, &local)) == NULL)
            {
              fail (p, apath, "%s", local->message);
              g_error_free (local);
              return FALSE;
            }
        }
      else if (g_str_equal (type, "internet"))
        {
          r->type = EMBER_STORE_RESOURCE_INTERNET;
          if (address != NULL)
            return fail (p, apath, "an internet resource has no address");
        }
      else
        return fail (p, tpath, "expected \"cidr\", \"dns\" or \"internet\", got \"%s\"", type);
      if (ip_stack != NULL && r->type != EMBER_STORE_RESOURCE_DNS)
        return fail (p, ipath, "only a dns resource has an IP stack");
      if (ip_stack != NULL && !ember_store_ip_stack_from_name (ip_stack, &r->ip_stack))
        return fail (p, ipath, "expected \"dual\", \"ipv4\" or \"ipv6\", got \"%s\"", ip_stack);
      if (!parse_filters (p, path, filters, r->filters))
        return FALSE;
      g_hash_table_add (p->resources, g_strdup (name));
      g_ptr_array_add (p->file->resources, g_steal_pointer (&r));
    }
  return TRUE;
}

static gboolean
parse_groups (Parser *p, JsonArray *array)
{
  static const char *const keys[] = { "name", "clients", NULL };

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *path = g_strdup_printf ("$.groups[%u]", i);
      g_autofree char *npath = g_strconcat (path, ".name", NULL);
      g_autofree char *cpath = g_strconcat (path, ".clients", NULL);
      g_autoptr (GPtrArray) clients = g_ptr_array_new_with_free_func (g_free);
      JsonObject *obj = get_object (p, path, json_array_get_element (array, i));
      EmberStoreGroup *g;
      const char *name;
      JsonArray *members;

      if (obj == NULL || !check_members (p, path, obj, keys) ||
          !get_string (p, npath, obj, "name", TRUE, &name) ||
          !check_name (p, npath, "group name", name) ||
          !get_array (p, cpath, obj, "clients", &members))
        return FALSE;
      if (g_hash_table_contains (p->groups, name))
        return fail (p, npath, "duplicate group \"%s\"", name);
      for (guint j = 0; members != NULL && j < json_array_get_length (members); j++)
        {
          g_autofree char *mpath = g_strdup_printf ("%s[%u]", cpath, j);
          JsonNode *node = json_array_get_element (members, j);
          const char *client;

          if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
            return fail (p, mpath, "expected a client name, got %s", node_kind (node));
          client = json_node_get_string (node);
          if (!check_name (p, mpath, "client name", client))
            return FALSE;
          if (!g_ptr_array_find_with_equal_func (clients, client, g_str_equal, NULL))
            g_ptr_array_add (clients, g_strdup (client));
        }
      g_ptr_array_sort (clients, compare_strings);
      g = g_new0 (EmberStoreGroup, 1);
      g->name = g_strdup (name);
      g_ptr_array_add (clients, NULL);
      g->clients = (char **) g_ptr_array_steal (clients, NULL);
      g_hash_table_add (p->groups, g_strdup (name));
      g_ptr_array_add (p->file->groups, g);
    }
  return TRUE;
}

/* "HH:MM-HH:MM" -> minutes since midnight; exactly that shape. */
static gboolean
parse_window (const char *text, guint16 *start, guint16 *end)
{
  static const char shape[] = "00:00-00:00";
  guint v[4];

  if (strlen (text) != sizeof shape - 1)
    return FALSE;
  for (guint i = 0; i < sizeof shape - 1; i++)
    if (shape[i] == '0' ? !g_ascii_isdigit (text[i]) : text[i] != shape[i])
      return FALSE;
  for (guint i = 0; i < 4; i++)
    v[i] = (guint) (text[i * 3] - '0') * 10 + (guint) (text[i * 3 + 1] - '0');
  if (v[0] > 23 || v[2] > 23 || v[1] > 59 || v[3] > 59)
    return FALSE;
  *start = (guint16) (v[0] * 60 + v[1]);
  *end = (guint16) (v[2] * 60 + v[3]);
  return *start != *end;
}

static gboolean
parse_conditions (Parser *p, const char *path, JsonNode *node, EmberStorePolicy *policy)
{
  static const char *const keys[] = { "utc_time", "source_cidrs", NULL };
  g_autofree char *cpath = g_strconcat (path, ".conditions", NULL);
  g_autofree char *tpath = g_strconcat (cpath, ".utc_time", NULL);
  g_autofree char *spath = g_strconcat (cpath, ".source_cidrs", NULL);
  g_autoptr (GPtrArray) cidrs = g_ptr_array_new_with_free_func (g_free);
  JsonObject *obj = get_object (p, cpath, node);
  const char *window;
  JsonArray *sources;

  if (obj == NULL || !check_members (p, cpath, obj, keys) ||
      !get_string (p, tpath, obj, "utc_time", FALSE, &window) ||
      !get_array (p, spath, obj, "source_cidrs", &sources))
    return FALSE;
  if (window != NULL)
    {
      if (!parse_window (window, &policy->start_minute, &policy->end_minute))
        return fail (p, tpath,
                     "expected a daily UTC window \"HH:MM-HH:MM\" with two different times, "
                     "got \"%s\"",
                     window);
      policy->has_time_window = TRUE;
    }
  for (guint j = 0; sources != NULL && j < json_array_get_length (sources); j++)
    {
      g_autofree char *jpath = g_strdup_printf ("%s[%u]", spath, j);
      JsonNode *el = json_array_get_element (sources, j);
      g_autofree char *why = NULL;
      char *canon;

      if (!JSON_NODE_HOLDS_VALUE (el) || json_node_get_value_type (el) != G_TYPE_STRING)
        return fail (p, jpath, "expected a CIDR string, got %s", node_kind (el));
      if ((canon = canonical_cidr (json_node_get_string (el), TRUE, &why)) == NULL)
        return fail (p, jpath, "expected a CIDR like 192.0.2.0/24 or an address: %s", why);
      if (g_ptr_array_find_with_equal_func (cidrs, canon, g_str_equal, NULL))
        g_free (canon);
      else
        g_ptr_array_add (cidrs, canon);
    }
  if (sources != NULL && json_array_get_length (sources) == 0)
    return fail (p, spath, "expected at least one CIDR (leave the member out for any source)");
  g_ptr_array_sort (cidrs, compare_strings);
  g_ptr_array_add (cidrs, NULL);
  policy->source_cidrs = (char **) g_ptr_array_steal (cidrs, NULL);
  return TRUE;
}

static gboolean
parse_policies (Parser *p, JsonArray *array)
{
  static const char *const keys[] = { "group", "resource", "conditions", NULL };

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      g_autofree char *path = g_strdup_printf ("$.policies[%u]", i);
      g_autofree char *gpath = g_strconcat (path, ".group", NULL);
      g_autofree char *rpath = g_strconcat (path, ".resource", NULL);
      g_autofree char *key = NULL;
      g_autoptr (EmberStorePolicy) policy = g_new0 (EmberStorePolicy, 1);
      JsonObject *obj = get_object (p, path, json_array_get_element (array, i));
      const char *group, *resource;
      JsonNode *conditions;

      if (obj == NULL || !check_members (p, path, obj, keys) ||
          !get_string (p, gpath, obj, "group", TRUE, &group) ||
          !get_string (p, rpath, obj, "resource", TRUE, &resource))
        return FALSE;
      if (!g_hash_table_contains (p->groups, group))
        return fail (p, gpath, "expected a group of $.groups, got \"%s\"", group);
      if (!g_hash_table_contains (p->resources, resource))
        return fail (p, rpath, "expected a resource of $.resources, got \"%s\"", resource);
      key = g_strconcat (group, "\n", resource, NULL);
      if (g_hash_table_contains (p->policies, key))
        return fail (p, path, "duplicate policy for group \"%s\" and resource \"%s\"", group,
                     resource);
      policy->group_name = g_strdup (group);
      policy->resource_name = g_strdup (resource);
      conditions = json_object_get_member (obj, "conditions");
      if (conditions != NULL && !parse_conditions (p, path, conditions, policy))
        return FALSE;
      if (policy->source_cidrs == NULL)
        policy->source_cidrs = g_new0 (char *, 1);
      g_hash_table_add (p->policies, g_steal_pointer (&key));
      g_ptr_array_add (p->file->policies, g_steal_pointer (&policy));
    }
  return TRUE;
}

static int
resource_cmp (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(EmberStoreResource *const *) a)->name, (*(EmberStoreResource *const *) b)->name);
}

static int
group_cmp (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(EmberStoreGroup *const *) a)->name, (*(EmberStoreGroup *const *) b)->name);
}

static int
policy_cmp (gconstpointer a, gconstpointer b)
{
  const EmberStorePolicy *x = *(EmberStorePolicy *const *) a, *y = *(EmberStorePolicy *const *) b;
  int c = strcmp (x->group_name, y->group_name);

  return c != 0 ? c : strcmp (x->resource_name, y->resource_name);
}

/* json-glib's parser recurses once per level; a file of a million '['
 * would exhaust the stack, so depth is measured before parsing. */
#define MAX_NESTING 32

static guint
nesting_depth (const char *data, gsize len)
{
  guint depth = 0, max = 0;
  gboolean in_string = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];
      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
        }
      else if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        max = MAX (max, ++depth);
      else if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }
  return max;
}

void
ember_policy_file_free (EmberPolicyFile *file)
{
  if (file == NULL)
    return;
  g_ptr_array_unref (file->sites);
  g_ptr_array_unref (file->resources);
  g_ptr_array_unref (file->groups);
  g_ptr_array_unref (file->policies);
  g_free (file);
}

EmberPolicyFile *
ember_policy_file_parse (const char *data, gsize len, const char *name, GError **error)
{
  static const char *const keys[] = { "sites", "resources", "groups", "policies", NULL };
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (EmberPolicyFile) file = g_new0 (EmberPolicyFile, 1);
  g_autoptr (GError) local = NULL;
  Parser p = { name, error, file, NULL, NULL, NULL, NULL };
  JsonArray *sites, *resources, *groups, *policies;
  JsonObject *root;
  gboolean ok;

  file->sites = g_ptr_array_new_with_free_func (g_free);
  file->resources = g_ptr_array_new_with_free_func ((GDestroyNotify) ember_store_resource_free);
  file->groups = g_ptr_array_new_with_free_func ((GDestroyNotify) ember_store_group_free);
  file->policies = g_ptr_array_new_with_free_func ((GDestroyNotify) ember_store_policy_free);
  if (len > EMBER_POLICY_FILE_MAX_BYTES)
    {
      fail (&p, "$", "larger than %u bytes", EMBER_POLICY_FILE_MAX_BYTES);
      return NULL;
    }
  if (memchr (data, '\0', len) != NULL || !g_utf8_validate (data, (gssize) len, NULL))
    {
      fail (&p, "$", "expected UTF-8 JSON text");
      return NULL;
    }
  if (nesting_depth (data, len) > MAX_NESTING)
    {
      fail (&p, "$", "nested deeper than %u levels", MAX_NESTING);
      return NULL;
    }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, (gssize) len, &local))
    {
      g_set_error (error, EMBER_POLICY_FILE_ERROR, 0, "%s: %s", name, local->message);
      return NULL;
    }
  if (json_parser_get_root (parser) == NULL ||
      (root = get_object (&p, "$", json_parser_get_root (parser))) == NULL)
    {
      if (json_parser_get_root (parser) == NULL)
        fail (&p, "$", "expected an object, got nothing");
      return NULL;
    }
  p.sites = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  p.resources = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  p.groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  p.policies = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ok = check_members (&p, "$", root, keys) &&
       get_array (&p, "$.sites", root, "sites", &sites) &&
       get_array (&p, "$.resources", root, "resources", &resources) &&
       get_array (&p, "$.groups", root, "groups", &groups) &&
       get_array (&p, "$.policies", root, "policies", &policies) && parse_sites (&p, sites) &&
       parse_resources (&p, resources) && parse_groups (&p, groups) &&
       parse_policies (&p, policies);
  g_hash_table_destroy (p.sites);
  g_hash_table_destroy (p.resources);
  g_hash_table_destroy (p.groups);
  g_hash_table_destroy (p.policies);
  if (!ok)
    return NULL;
  g_ptr_array_sort (file->sites, compare_strings);
  g_ptr_array_sort (file->resources, resource_cmp);
  g_ptr_array_sort (file->groups, group_cmp);
  g_ptr_array_sort (file->policies, policy_cmp);
  return g_steal_pointer (&file);
}
