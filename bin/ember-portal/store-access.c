/* store-access — policy evaluation on an in-memory snapshot.
 *
 * Firezone's semantics: a client may use a resource when at least one
 * policy of one of its groups names the resource and all of that
 * policy's conditions hold; without such a policy, no access. */
#define G_LOG_DOMAIN "ember-portal-store"

#include "store-private.h"

#include <string.h>

#include "net/cidr.h"

/* Load time is linear in group members plus policies; evaluating one
 * client walks only the rules of its own groups. */
typedef struct {
  const EmberStorePolicy *policy;
  guint resource;  /* index into resources */
  GArray *sources; /* EmberCidr */
} Rule;

struct _EmberStoreAccess {
  GPtrArray *resources;      /* EmberStoreResource*, by name */
  GPtrArray *policies;       /* EmberStorePolicy* */
  GArray *rules;             /* Rule */
  GPtrArray *group_rules;    /* per group: GArray of rule indexes */
  GHashTable *by_client;     /* client name -> GArray of group indexes */
  GHashTable *resource_by_id; /* id -> GUINT_TO_POINTER (index + 1) */
};

void
ember_store_access_free (EmberStoreAccess *access)
{
  if (access == NULL)
    return;
  for (guint i = 0; access->rules != NULL && i < access->rules->len; i++)
    g_array_unref (g_array_index (access->rules, Rule, i).sources);
  g_clear_pointer (&access->rules, g_array_unref);
  g_clear_pointer (&access->group_rules, g_ptr_array_unref);
  g_clear_pointer (&access->by_client, g_hash_table_destroy);
  g_clear_pointer (&access->resource_by_id, g_hash_table_destroy);
  g_clear_pointer (&access->policies, g_ptr_array_unref);
  g_clear_pointer (&access->resources, g_ptr_array_unref);
  g_free (access);
}

EmberStoreAccess *
ember_store_access_load (EmberStore *store, GError **error)
{
  g_autoptr (EmberStoreAccess) a = g_new0 (EmberStoreAccess, 1);
  g_autoptr (GPtrArray) groups = NULL;
  g_autoptr (GHashTable) group_by_id = g_hash_table_new (g_str_hash, g_str_equal);

  a->rules = g_array_new (FALSE, TRUE, sizeof (Rule));
  a->group_rules = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  a->by_client = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_array_unref);
  a->resource_by_id = g_hash_table_new (g_str_hash, g_str_equal);
  /* One read transaction: the three listings see the same state. */
  if (!store_tx_begin_read (store, error))
    return NULL;
  a->resources = ember_store_list_resources (store, error);
  if (a->resources != NULL)
    a->policies = ember_store_list_policies (store, error);
  if (a->policies != NULL)
    groups = ember_store_list_groups (store, error);
  if (!store_tx_end (store, groups != NULL, error))
    return NULL;

  for (guint i = 0; i < a->resources->len; i++)
    g_hash_table_insert (a->resource_by_id,
                         ((EmberStoreResource *) a->resources->pdata[i])->id,
                         GUINT_TO_POINTER (i + 1));
  for (guint i = 0; i < groups->len; i++)
    {
      EmberStoreGroup *g = g_ptr_array_index (groups, i);
      g_hash_table_insert (group_by_id, g->id, GUINT_TO_POINTER (i + 1));
      g_ptr_array_add (a->group_rules, g_array_new (FALSE, FALSE, sizeof (guint)));
      for (guint j = 0; g->clients[j] != NULL; j++)
        {
          GArray *list = g_hash_table_lookup (a->by_client, g->clients[j]);
          if (list == NULL)
            {
              list = g_array_new (FALSE, FALSE, sizeof (guint));
              g_hash_table_insert (a->by_client, g_strdup (g->clients[j]), list);
            }
          g_array_append_val (list, i);
        }
    }
  for (guint i = 0; i < a->policies->len; i++)
    {
      const EmberStorePolicy *p = g_ptr_array_index (a->policies, i);
      guint group = GPOINTER_TO_UINT (g_hash_table_lookup (group_by_id, p->group_id));
      guint resource = GPOINTER_TO_UINT (g_hash_table_lookup (a->resource_by_id, p->resource_id));
      Rule rule = { p, resource - 1, NULL };
      guint index = a->rules->len;

      if (group == 0 || resource == 0)
        continue;
      rule.sources = g_array_new (FALSE, TRUE, sizeof (EmberCidr));
      for (guint j = 0; p->source_cidrs != NULL && p->source_cidrs[j] != NULL; j++)
        {
          EmberCidr c;
          if (ember_cidr_parse (p->source_cidrs[j], EMBER_CIDR_PARSE_BARE, &c, NULL))
            g_array_append_val (rule.sources, c);
        }
      g_array_append_val (a->rules, rule);
      g_array_append_val (g_ptr_array_index (a->group_rules, group - 1), index);
    }
  return g_steal_pointer (&a);
}

/* The minute of the UTC day. */
static guint
minute_of_day (gint64 now)
{
  gint64 s = now % 86400;

  if (s < 0)
    s += 86400;
  return (guint) (s / 60);
}

static gboolean
source_matches (const Rule *rule, GInetAddress *source)
{
  guint8 family;
  const guint8 *bytes;
  gsize len;

  if (rule->sources->len == 0)
    return TRUE;
  if (source == NULL)
    return FALSE;
  bytes = g_inet_address_to_bytes (source);
  len = g_inet_address_get_native_size (source);
  family = len == 4 ? 4 : 6;
  /* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
  if (len == 16 && memcmp (bytes, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
    {
      bytes += 12;
      family = 4;
    }
  for (guint i = 0; i < rule->sources->len; i++)
    if (ember_cidr_contains (&g_array_index (rule->sources, EmberCidr, i), family, bytes))
      return TRUE;
  return FALSE;
}

static gboolean
rule_holds (const Rule *rule, gint64 now, GInetAddress *source)
{
  const EmberStorePolicy *p = rule->policy;

  if (p->has_time_window)
    {
      guint m = minute_of_day (now);
      gboolean inside = p->start_minute < p->end_minute
                          ? m >= p->start_minute && m < p->end_minute
                          : m >= p->start_minute || m < p->end_minute; /* wraps midnight */
      if (!inside)
        return FALSE;
    }
  return source_matches (rule, source);
}

static int
uint_cmp (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;

  return x < y ? -1 : x > y;
}

/* The rule indexes of each of the client's groups, or NULL. */
static GArray *
groups_of (EmberStoreAccess *access, const char *client_name)
{
  return g_hash_table_lookup (access->by_client, client_name);
}

static const Rule *
group_rule (EmberStoreAccess *access, guint group, guint i)
{
  GArray *rules = g_ptr_array_index (access->group_rules, group);

  return i < rules->len ? &g_array_index (access->rules, Rule, g_array_index (rules, guint, i))
                        : NULL;
}

GPtrArray *
ember_store_access_resources (EmberStoreAccess *access, const char *client_name, gint64 now,
                              GInetAddress *source)
{
  g_autofree guint8 *seen = g_new0 (guint8, access->resources->len + 1);
  g_autoptr (GArray) granted = g_array_new (FALSE, FALSE, sizeof (guint));
  GArray *groups = groups_of (access, client_name);
  const Rule *rule;
  GPtrArray *out;

  for (guint g = 0; groups != NULL && g < groups->len; g++)
    for (guint i = 0; (rule = group_rule (access, g_array_index (groups, guint, g), i)); i++)
      if (!seen[rule->resource] && rule_holds (rule, now, source))
        {
          seen[rule->resource] = 1;
          g_array_append_val (granted, rule->resource);
        }
  /* Resources are listed by name, so index order is name order. */
  g_array_sort (granted, uint_cmp);
  out = g_ptr_array_sized_new (granted->len);
  for (guint i = 0; i < granted->len; i++)
    g_ptr_array_add (out, access->resources->pdata[g_array_index (granted, guint, i)]);
  return out;
}

gboolean
ember_store_access_allows (EmberStoreAccess *access, const char *client_name,
                           const char *resource_id, gint64 now, GInetAddress *source)
{
  guint resource = GPOINTER_TO_UINT (g_hash_table_lookup (access->resource_by_id, resource_id));
  GArray *groups = groups_of (access, client_name);
  const Rule *rule;

  if (resource == 0)
    return FALSE;
  for (guint g = 0; groups != NULL && g < groups->len; g++)
    for (guint i = 0; (rule = group_rule (access, g_array_index (groups, guint, g), i)); i++)
      if (rule->resource == resource - 1 && rule_holds (rule, now, source))
        return TRUE;
  return FALSE;
}

static EmberStoreResource *
resource_copy (const EmberStoreResource *r)
{
  EmberStoreResource *c = g_new0 (EmberStoreResource, 1);

  c->id = g_strdup (r->id);
  c->name = g_strdup (r->name);
  c->type = r->type;
  c->address = g_strdup (r->address);
  c->ip_stack = r->ip_stack;
  c->site_id = g_strdup (r->site_id);
  c->site_name = g_strdup (r->site_name);
  c->filters = g_array_copy (r->filters);
  return c;
}

GPtrArray *
ember_store_client_resources (EmberStore *store, const char *client_id, gint64 now,
                              GInetAddress *source, GError **error)
{
  g_autoptr (EmberStoreClient) client = ember_store_client_get (store, client_id, error);
  g_autoptr (EmberStoreAccess) access = NULL;
  g_autoptr (GPtrArray) borrowed = NULL;
  GPtrArray *out;

  if (client == NULL || (access = ember_store_access_load (store, error)) == NULL)
    return NULL;
  borrowed = ember_store_access_resources (access, client->name, now, source);
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) ember_store_resource_free);
  for (guint i = 0; i < borrowed->len; i++)
    g_ptr_array_add (out, resource_copy (g_ptr_array_index (borrowed, i)));
  return out;
}
