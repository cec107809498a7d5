/* store-model — sites, resources, groups and policies. */
#define G_LOG_DOMAIN "ember-portal-store"

#include "store-json.h"
#include "store-private.h"

#include <stdio.h>
#include <string.h>

#include "dns/pattern.h"
#include "net/cidr.h"

const char *
ember_store_resource_type_name (EmberStoreResourceType type)
{
  switch (type)
    {
    case EMBER_STORE_RESOURCE_DNS:
      return "dns";
    case EMBER_STORE_RESOURCE_INTERNET:
      return "internet";
    case EMBER_STORE_RESOURCE_CIDR:
    default:
      return "cidr";
    }
}

static const char *const ip_stack_names[] = { "dual", "ipv4", "ipv6" };

const char *
ember_store_ip_stack_name (EmberStoreIpStack stack)
{
  return (guint) stack < G_N_ELEMENTS (ip_stack_names) ? ip_stack_names[stack] : "dual";
}

gboolean
ember_store_ip_stack_from_name (const char *name, EmberStoreIpStack *out)
{
  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (ip_stack_names); i++)
    if (strcmp (name, ip_stack_names[i]) == 0)
      {
        *out = (EmberStoreIpStack) i;
        return TRUE;
      }
  return FALSE;
}

const char *
ember_store_protocol_name (EmberStoreProtocol protocol)
{
  switch (protocol)
    {
    case EMBER_STORE_PROTOCOL_UDP:
      return "udp";
    case EMBER_STORE_PROTOCOL_ICMP:
      return "icmp";
    case EMBER_STORE_PROTOCOL_TCP:
    default:
      return "tcp";
    }
}

static EmberStoreResourceType
resource_type_from_name (const char *name)
{
  if (g_strcmp0 (name, "dns") == 0)
    return EMBER_STORE_RESOURCE_DNS;
  if (g_strcmp0 (name, "internet") == 0)
    return EMBER_STORE_RESOURCE_INTERNET;
  return EMBER_STORE_RESOURCE_CIDR;
}

/* ---- filters as text ---- */

static int
filter_cmp (gconstpointer a, gconstpointer b)
{
  const EmberStoreFilter *x = a, *y = b;

  if (x->protocol != y->protocol)
    return (int) x->protocol - (int) y->protocol;
  if (x->port_start != y->port_start)
    return (int) x->port_start - (int) y->port_start;
  return (int) x->port_end - (int) y->port_end;
}

char *
store_filters_to_text (const GArray *filters)
{
  g_autoptr (GArray) sorted = g_array_new (FALSE, FALSE, sizeof (EmberStoreFilter));
  GString *s = g_string_new (NULL);

  if (filters != NULL)
    g_array_append_vals (sorted, filters->data, filters->len);
  g_array_sort (sorted, filter_cmp);
  for (guint i = 0; i < sorted->len; i++)
    {
      const EmberStoreFilter *f = &g_array_index (sorted, EmberStoreFilter, i);
      if (i > 0 && filter_cmp (f, f - 1) == 0)
        continue;
      if (s->len > 0)
        g_string_append_c (s, ',');
      if (f->protocol == EMBER_STORE_PROTOCOL_ICMP)
        g_string_append (s, "icmp");
      else
        g_string_append_printf (s, "%s:%u-%u", ember_store_protocol_name (f->protocol),
                                f->port_start, f->port_end);
    }
  return g_string_free (s, FALSE);
}

GArray *
store_filters_from_text (const char *text)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (EmberStoreFilter));
  g_auto (GStrv) items = store_strv_split (text);

  for (guint i = 0; items[i] != NULL; i++)
    {
      EmberStoreFilter f = { EMBER_STORE_PROTOCOL_ICMP, 0, 0 };
      guint start = 0, end = 0;
      char proto[8] = "";

      if (sscanf (items[i], "%3[a-z]:%u-%u", proto, &start, &end) == 3 && start <= 65535 &&
          end <= 65535)
        {
          f.protocol = g_str_equal (proto, "udp") ? EMBER_STORE_PROTOCOL_UDP
                                                  : EMBER_STORE_PROTOCOL_TCP;
          f.port_start = (guint16) start;
          f.port_end = (guint16) end;
        }
      g_array_append_val (out, f);
    }
  return out;
}

/* ---- sites ---- */

void
ember_store_site_free (EmberStoreSite *site)
{
  if (site == NULL)
    return;
  g_free (site->id);
  g_free (site->name);
  g_free (site);
}

static gpointer
site_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStoreSite *site = g_new0 (EmberStoreSite, 1);

  site->id = g_strdup (store_text (s, row, 0));
  site->name = g_strdup (store_text (s, row, 1));
  return site;
}

GPtrArray *
ember_store_list_sites (EmberStore *store, GError **error)
{
  return store_query_list (store, "SELECT id, name FROM sites ORDER BY name", NULL, 0,
                           site_from_row, (GDestroyNotify) ember_store_site_free, error);
}

static gboolean
lookup_id (EmberStore *s, const char *sql, const char *what, const char *name, char **id,
           GError **error)
{
  if (!store_query_text (s, sql, STORE_PARAMS (EMBER_STORE_TEXT (name)), id, error))
    return FALSE;
  return *id != NULL || store_not_found (error, what, name);
}

gboolean
ember_store_site_put (EmberStore *store, const char *name, const char *actor, GError **error)
{
  g_autofree char *id = NULL, *detail = NULL;
  gboolean ok;

  if (!store_check_name ("site name", name, error) || !store_tx_begin (store, error))
    return FALSE;
  ok = store_query_text (store, "SELECT id FROM sites WHERE name = ?",
                         STORE_PARAMS (EMBER_STORE_TEXT (name)), &id, error);
  if (ok && id == NULL)
    {
      EmberStoreSite site = { store_new_id (), (char *) name };
      detail = ember_store_json_text (ember_store_site_to_json (&site), FALSE);
      ok = store_query (store, "INSERT INTO sites (id, name, created_at) VALUES (?, ?, ?)",
                        STORE_PARAMS (EMBER_STORE_TEXT (site.id), EMBER_STORE_TEXT (name),
                                      EMBER_STORE_INT (store_now ())),
                        NULL, NULL, NULL, error) &&
           store_change (store, actor, "created", "site", site.id, name, detail, error);
      g_free (site.id);
    }
  return store_tx_end (store, ok, error);
}

gboolean
ember_store_site_delete (EmberStore *store, const char *name, const char *actor, GError **error)
{
  g_autofree char *id = NULL, *user = NULL;
  gboolean ok;

  if (!store_tx_begin (store, error))
    return FALSE;
  ok = lookup_id (store, "SELECT id FROM sites WHERE name = ?", "site", name, &id, error) &&
       store_query_text (store,
                         "SELECT 'gateway ' || name FROM gateways WHERE site_id = ?"
                         " UNION ALL SELECT 'resource ' || name FROM resources WHERE site_id = ?",
                         STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (id)), &user,
                         error);
  if (ok && user != NULL)
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "site \"%s\" is still used by %s", name, user);
      ok = FALSE;
    }
  if (ok)
    ok = store_query (store, "DELETE FROM sites WHERE id = ?",
                      STORE_PARAMS (EMBER_STORE_TEXT (id)), NULL, NULL, NULL, error) &&
         store_change (store, actor, "deleted", "site", id, name, NULL, error);
  return store_tx_end (store, ok, error);
}

/* ---- resources ---- */

void
ember_store_resource_free (EmberStoreResource *r)
{
  if (r == NULL)
    return;
  g_free (r->id);
  g_free (r->name);
  g_free (r->address);
  g_free (r->site_id);
  g_free (r->site_name);
  g_clear_pointer (&r->filters, g_array_unref);
  g_free (r);
}

#define RESOURCE_SELECT                                                                         \
  "SELECT r.id, r.name, r.type, r.address, r.site_id, s.name, r.filters, r.ip_stack"            \
  " FROM resources r JOIN sites s ON s.id = r.site_id"

static gpointer
resource_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStoreResource *r = g_new0 (EmberStoreResource, 1);

  r->id = g_strdup (store_text (s, row, 0));
  r->name = g_strdup (store_text (s, row, 1));
  r->type = resource_type_from_name (store_text (s, row, 2));
  r->address = g_strdup (store_text (s, row, 3));
  r->site_id = g_strdup (store_text (s, row, 4));
  r->site_name = g_strdup (store_text (s, row, 5));
  r->filters = store_filters_from_text (store_text (s, row, 6));
  /* A value this build does not know (a newer portal wrote it) reads
   * as dual, which every client handles. */
  if (!ember_store_ip_stack_from_name (store_text (s, row, 7), &r->ip_stack))
    r->ip_stack = EMBER_STORE_IP_STACK_DUAL;
  return r;
}

GPtrArray *
ember_store_list_resources (EmberStore *store, GError **error)
{
  return store_query_list (store, RESOURCE_SELECT " ORDER BY r.name", NULL, 0, resource_from_row,
                           (GDestroyNotify) ember_store_resource_free, error);
}

static EmberStoreResource *
resource_by (EmberStore *store, const char *sql, const char *what, const char *key,
             GError **error)
{
  g_autoptr (GPtrArray) rows =
    store_query_list (store, sql, STORE_PARAMS (EMBER_STORE_TEXT (key)), resource_from_row,
                      (GDestroyNotify) ember_store_resource_free, error);
  if (rows == NULL)
    return NULL;
  if (rows->len == 0)
    {
      store_not_found (error, what, key);
      return NULL;
    }
  return g_ptr_array_steal_index (rows, 0);
}

EmberStoreResource *
ember_store_resource_get (EmberStore *store, const char *id, GError **error)
{
  return resource_by (store, RESOURCE_SELECT " WHERE r.id = ?", "resource with id", id, error);
}

/* The canonical address of a resource, or NULL with INVALID. */
static char *
canonical_address (const EmberStoreResource *r, GError **error)
{
  EmberCidr cidr;

  switch (r->type)
    {
    case EMBER_STORE_RESOURCE_CIDR:
      {
        g_autoptr (GError) local = NULL;
        if (r->address == NULL ||
            !ember_cidr_parse (r->address, EMBER_CIDR_PARSE_STRICT, &cidr, &local))
          {
            g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                         "address: expected an IPv4 or IPv6 CIDR like 10.0.0.0/24: %s",
                         local != NULL ? local->message : "none given");
            return NULL;
          }
        return ember_cidr_to_string (&cidr);
      }
    case EMBER_STORE_RESOURCE_DNS:
      {
        GError *local = NULL;
        char *canon = ember_dns_pattern_normalize (r->address, &local);
        if (canon == NULL)
          {
            g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID, "address: %s",
                         local->message);
            g_error_free (local);
          }
        return canon;
      }
    case EMBER_STORE_RESOURCE_INTERNET:
    default:
      if (r->address != NULL)
        {
          g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                       "address: an internet resource has none");
          return NULL;
        }
      return g_strdup ("");
    }
}

gboolean
ember_store_resource_put (EmberStore *store, const EmberStoreResource *resource,
                          const char *actor, GError **error)
{
  g_autofree char *address = NULL, *filters = NULL, *site_id = NULL, *detail = NULL;
  g_autoptr (EmberStoreResource) old = NULL, now = NULL;
  g_autoptr (GError) local = NULL;
  const char *type = ember_store_resource_type_name (resource->type);
  const char *verb = NULL;
  gboolean ok;

  if (!store_check_name ("resource name", resource->name, error) ||
      (address = canonical_address (resource, error)) == NULL)
    return FALSE;
  if ((guint) resource->ip_stack >= 3
      || (resource->ip_stack != EMBER_STORE_IP_STACK_DUAL
          && resource->type != EMBER_STORE_RESOURCE_DNS))
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "ip_stack: %s", resource->type != EMBER_STORE_RESOURCE_DNS
                                     ? "only a dns resource has an IP stack"
                                     : "expected dual, ipv4 or ipv6");
      return FALSE;
    }
  const char *ip_stack = ember_store_ip_stack_name (resource->ip_stack);
  for (guint i = 0; resource->filters != NULL && i < resource->filters->len; i++)
    {
      const EmberStoreFilter *f = &g_array_index (resource->filters, EmberStoreFilter, i);
      if (f->protocol != EMBER_STORE_PROTOCOL_ICMP &&
          (f->port_start == 0 || f->port_start > f->port_end))
        {
          g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                       "filters: expected a port range within 1-65535, got %u-%u",
                       f->port_start, f->port_end);
          return FALSE;
        }
    }
  filters = store_filters_to_text (resource->filters);
  if (!store_tx_begin (store, error))
    return FALSE;
  ok = lookup_id (store, "SELECT id FROM sites WHERE name = ?", "site", resource->site_name,
                  &site_id, error);
  if (ok)
    {
      old = resource_by (store, RESOURCE_SELECT " WHERE r.name = ?", "resource",
                         resource->name, &local);
      ok = old != NULL || g_error_matches (local, EMBER_STORE_ERROR, EMBER_STORE_ERROR_NOT_FOUND);
      if (!ok)
        g_propagate_error (error, g_steal_pointer (&local));
    }
  if (ok && old == NULL)
    {
      g_autofree char *id = store_new_id ();
      verb = "created";
      ok = store_query (store,
                        "INSERT INTO resources (id, name, type, address, site_id, filters,"
                        " ip_stack) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (resource->name),
                                      EMBER_STORE_TEXT (type),
                                      EMBER_STORE_TEXT (*address ? address : NULL),
                                      EMBER_STORE_TEXT (site_id), EMBER_STORE_TEXT (filters),
                                      EMBER_STORE_TEXT (ip_stack)),
                        NULL, NULL, NULL, error);
    }
  else if (ok)
    {
      g_autofree char *old_filters = store_filters_to_text (old->filters);
      if (old->type != resource->type || g_strcmp0 (old->address ? old->address : "", address) ||
          g_strcmp0 (old->site_id, site_id) != 0 || g_strcmp0 (old_filters, filters) != 0 ||
          old->ip_stack != resource->ip_stack)
        {
          verb = "updated";
          ok = store_query (store,
                            "UPDATE resources SET type = ?, address = ?, site_id = ?, filters = ?,"
                            " ip_stack = ? WHERE id = ?",
                            STORE_PARAMS (EMBER_STORE_TEXT (type),
                                          EMBER_STORE_TEXT (*address ? address : NULL),
                                          EMBER_STORE_TEXT (site_id), EMBER_STORE_TEXT (filters),
                                          EMBER_STORE_TEXT (ip_stack),
                                          EMBER_STORE_TEXT (old->id)),
                            NULL, NULL, NULL, error);
        }
    }
  if (ok && verb != NULL)
    {
      ok = (now = resource_by (store, RESOURCE_SELECT " WHERE r.name = ?", "resource",
                               resource->name, error)) != NULL;
      if (ok)
        {
          detail = ember_store_json_text (ember_store_resource_to_json (now), FALSE);
          ok = store_change (store, actor, verb, "resource", now->id, now->name, detail, error);
        }
    }
  return store_tx_end (store, ok, error);
}

/* A "deleted" change for every policy a deletion is about to cascade to,
 * so fan-out and the audit log see them go. */
static gboolean
log_policy_deletions (EmberStore *store, const char *group_id, const char *resource_id,
                      const char *actor, GError **error)
{
  g_autoptr (GPtrArray) policies = ember_store_list_policies (store, error);

  if (policies == NULL)
    return FALSE;
  for (guint i = 0; i < policies->len; i++)
    {
      EmberStorePolicy *p = g_ptr_array_index (policies, i);
      g_autofree char *name = NULL, *detail = NULL;
      if (g_strcmp0 (p->group_id, group_id) != 0 && g_strcmp0 (p->resource_id, resource_id) != 0)
        continue;
      name = g_strdup_printf ("%s -> %s", p->group_name, p->resource_name);
      detail = ember_store_json_text (ember_store_policy_to_json (p), FALSE);
      if (!store_change (store, actor, "deleted", "policy", p->id, name, detail, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
ember_store_resource_delete (EmberStore *store, const char *name, const char *actor,
                             GError **error)
{
  g_autoptr (EmberStoreResource) old = NULL;
  g_autofree char *detail = NULL;
  gboolean ok;

  if (!store_tx_begin (store, error))
    return FALSE;
  /* The detail keeps the last state: the server tells the resource's
   * site's gateways and the clients that had it. */
  ok = (old = resource_by (store, RESOURCE_SELECT " WHERE r.name = ?", "resource", name,
                           error)) != NULL;
  if (ok)
    detail = ember_store_json_text (ember_store_resource_to_json (old), FALSE);
  ok = ok && log_policy_deletions (store, NULL, old->id, actor, error) &&
       store_query (store, "DELETE FROM resources WHERE id = ?",
                    STORE_PARAMS (EMBER_STORE_TEXT (old->id)), NULL, NULL, NULL, error) &&
       store_change (store, actor, "deleted", "resource", old->id, name, detail, error);
  return store_tx_end (store, ok, error);
}
