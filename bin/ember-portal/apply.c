/* apply — diff a policy file against the store and apply it. */
#define G_LOG_DOMAIN "ember-portal-apply"

#include "apply.h"

#include <stdarg.h>
#include <string.h>

#include "store-private.h"

typedef struct {
  EmberStore *store;
  gboolean dry_run;
  const char *actor;
  GPtrArray *diff;
  GError **error;
  gboolean ok;
} Apply;

static void G_GNUC_PRINTF (2, 3)
line (Apply *a, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  g_ptr_array_add (a->diff, g_strdup_vprintf (format, ap));
  va_end (ap);
}

static char *
describe_filters (const GArray *filters)
{
  GString *s = g_string_new (NULL);
  g_autofree char *text = store_filters_to_text (filters);
  g_autoptr (GArray) sorted = store_filters_from_text (text);

  for (guint i = 0; i < sorted->len; i++)
    {
      const EmberStoreFilter *f = &g_array_index (sorted, EmberStoreFilter, i);
      if (s->len > 0)
        g_string_append (s, ", ");
      g_string_append (s, ember_store_protocol_name (f->protocol));
      if (f->protocol == EMBER_STORE_PROTOCOL_ICMP)
        continue;
      if (f->port_start == 1 && f->port_end == 65535)
        g_string_append (s, " all ports");
      else if (f->port_start == f->port_end)
        g_string_append_printf (s, " %u", f->port_start);
      else
        g_string_append_printf (s, " %u-%u", f->port_start, f->port_end);
    }
  if (s->len == 0)
    g_string_append (s, "all traffic");
  return g_string_free (s, FALSE);
}

static char *
describe_window (const EmberStorePolicy *p)
{
  if (!p->has_time_window)
    return g_strdup ("any time");
  return g_strdup_printf ("%02u:%02u-%02u:%02u UTC", p->start_minute / 60, p->start_minute % 60,
                          p->end_minute / 60, p->end_minute % 60);
}

static char *
describe_sources (char **cidrs)
{
  if (cidrs == NULL || cidrs[0] == NULL)
    return g_strdup ("any source");
  return g_strjoinv (" ", cidrs);
}

static char *
describe_clients (char **clients)
{
  if (clients == NULL || clients[0] == NULL)
    return g_strdup ("(none)");
  return g_strjoinv (", ", clients);
}

static gpointer
find_named (GPtrArray *items, gsize name_offset, const char *name)
{
  for (guint i = 0; i < items->len; i++)
    {
      const char *n = G_STRUCT_MEMBER (const char *, items->pdata[i], name_offset);
      if (g_strcmp0 (n, name) == 0)
        return items->pdata[i];
    }
  return NULL;
}

static EmberStorePolicy *
find_policy (GPtrArray *policies, const char *group, const char *resource)
{
  for (guint i = 0; i < policies->len; i++)
    {
      EmberStorePolicy *p = policies->pdata[i];
      if (g_strcmp0 (p->group_name, group) == 0 && g_strcmp0 (p->resource_name, resource) == 0)
        return p;
    }
  return NULL;
}

static gboolean
has_string (GPtrArray *strings, const char *s)
{
  return g_ptr_array_find_with_equal_func (strings, s, g_str_equal, NULL);
}

/* Runs a mutation unless this is a dry run or an earlier one failed. */
#define DO(a, call)                                                                             \
  G_STMT_START                                                                                  \
  {                                                                                             \
    if ((a)->ok && !(a)->dry_run)                                                               \
      (a)->ok = (call);                                                                         \
  }                                                                                             \
  G_STMT_END

static void
resources_put (Apply *a, const EmberPolicyFile *file, GPtrArray *current)
{
  for (guint i = 0; i < file->resources->len && a->ok; i++)
    {
      const EmberStoreResource *want = file->resources->pdata[i];
      const EmberStoreResource *have =
        find_named (current, G_STRUCT_OFFSET (EmberStoreResource, name), want->name);
      g_autofree char *wf = describe_filters (want->filters);
      const char *type = ember_store_resource_type_name (want->type);

      if (have == NULL)
        {
          line (a, "+ resource %s: %s%s%s%s%s in %s, %s", want->name, type,
                want->address != NULL ? " " : "", want->address != NULL ? want->address : "",
                want->ip_stack != EMBER_STORE_IP_STACK_DUAL ? " " : "",
                want->ip_stack != EMBER_STORE_IP_STACK_DUAL
                  ? ember_store_ip_stack_name (want->ip_stack) : "",
                want->site_name, wf);
          DO (a, ember_store_resource_put (a->store, want, a->actor, a->error));
          continue;
        }
      {
        g_autofree char *hf = describe_filters (have->filters);
        GString *changes = g_string_new (NULL);

        if (have->type != want->type)
          g_string_append_printf (changes, "; type %s -> %s",
                                  ember_store_resource_type_name (have->type), type);
        if (g_strcmp0 (have->address, want->address) != 0)
          g_string_append_printf (changes, "; address %s -> %s",
                                  have->address ? have->address : "(none)",
                                  want->address ? want->address : "(none)");
        if (have->ip_stack != want->ip_stack)
          g_string_append_printf (changes, "; ip_stack %s -> %s",
                                  ember_store_ip_stack_name (have->ip_stack),
                                  ember_store_ip_stack_name (want->ip_stack));
        if (g_strcmp0 (have->site_name, want->site_name) != 0)
          g_string_append_printf (changes, "; site %s -> %s", have->site_name, want->site_name);
        if (g_strcmp0 (hf, wf) != 0)
          g_string_append_printf (changes, "; filters %s -> %s", hf, wf);
        if (changes->len > 0)
          {
            line (a, "~ resource %s: %s", want->name, changes->str + 2);
            DO (a, ember_store_resource_put (a->store, want, a->actor, a->error));
          }
        g_string_free (changes, TRUE);
      }
    }
}

static void
groups_put (Apply *a, const EmberPolicyFile *file, GPtrArray *current)
{
  for (guint i = 0; i < file->groups->len && a->ok; i++)
    {
      const EmberStoreGroup *want = file->groups->pdata[i];
      const EmberStoreGroup *have =
        find_named (current, G_STRUCT_OFFSET (EmberStoreGroup, name), want->name);
      g_autofree char *wc = describe_clients (want->clients);
      g_autofree char *hc = have != NULL ? describe_clients (have->clients) : NULL;

      if (have == NULL)
        line (a, "+ group %s: clients %s", want->name, wc);
      else if (g_strcmp0 (hc, wc) != 0)
        line (a, "~ group %s: clients %s -> %s", want->name, hc, wc);
      else
        continue;
      DO (a, ember_store_group_put (a->store, want->name, (const char *const *) want->clients,
                                    a->actor, a->error));
    }
}

static void
policies_put (Apply *a, const EmberPolicyFile *file, GPtrArray *current)
{
  for (guint i = 0; i < file->policies->len && a->ok; i++)
    {
      const EmberStorePolicy *want = file->policies->pdata[i];
      const EmberStorePolicy *have = find_policy (current, want->group_name, want->resource_name);
      g_autofree char *ww = describe_window (want), *ws = describe_sources (want->source_cidrs);

      if (have == NULL)
        line (a, "+ policy %s -> %s: %s, %s", want->group_name, want->resource_name, ww, ws);
      else
        {
          g_autofree char *hw = describe_window (have), *hs = describe_sources (have->source_cidrs);
          GString *changes = g_string_new (NULL);
          gboolean same;

          if (g_strcmp0 (hw, ww) != 0)
            g_string_append_printf (changes, "; utc_time %s -> %s", hw, ww);
          if (g_strcmp0 (hs, ws) != 0)
            g_string_append_printf (changes, "; source_cidrs %s -> %s", hs, ws);
          same = changes->len == 0;
          if (!same)
            line (a, "~ policy %s -> %s: %s", want->group_name, want->resource_name,
                  changes->str + 2);
          g_string_free (changes, TRUE);
          if (same)
            continue;
        }
      DO (a, ember_store_policy_put (a->store, want, a->actor, a->error));
    }
}

static void
deletions (Apply *a, const EmberPolicyFile *file, GPtrArray *policies, GPtrArray *resources,
           GPtrArray *groups)
{
  for (guint i = 0; i < policies->len && a->ok; i++)
    {
      const EmberStorePolicy *p = policies->pdata[i];
      if (find_policy (file->policies, p->group_name, p->resource_name) != NULL)
        continue;
      line (a, "- policy %s -> %s", p->group_name, p->resource_name);
      DO (a, ember_store_policy_delete (a->store, p->group_name, p->resource_name, a->actor,
                                        a->error));
    }
  for (guint i = 0; i < resources->len && a->ok; i++)
    {
      const EmberStoreResource *r = resources->pdata[i];
      if (find_named (file->resources, G_STRUCT_OFFSET (EmberStoreResource, name), r->name))
        continue;
      line (a, "- resource %s", r->name);
      DO (a, ember_store_resource_delete (a->store, r->name, a->actor, a->error));
    }
  for (guint i = 0; i < groups->len && a->ok; i++)
    {
      const EmberStoreGroup *g = groups->pdata[i];
      if (find_named (file->groups, G_STRUCT_OFFSET (EmberStoreGroup, name), g->name))
        continue;
      line (a, "- group %s", g->name);
      DO (a, ember_store_group_delete (a->store, g->name, a->actor, a->error));
    }
}

gboolean
ember_portal_apply (EmberStore *store, const EmberPolicyFile *file, gboolean dry_run,
                    const char *actor, GPtrArray **diff, GError **error)
{
  g_autoptr (GPtrArray) sites = NULL, resources = NULL, groups = NULL, policies = NULL;
  g_autoptr (GPtrArray) site_names = g_ptr_array_new ();
  Apply a = { store, dry_run, actor, g_ptr_array_new_with_free_func (g_free), error, TRUE };

  /* One write transaction from the first read on: what was compared is
   * what gets changed, even with `serve` or another CLI next to us. */
  if (!ember_store_begin (store, error))
    {
      g_ptr_array_unref (a.diff);
      return FALSE;
    }
  a.ok = (sites = ember_store_list_sites (store, error)) != NULL &&
         (resources = ember_store_list_resources (store, error)) != NULL &&
         (groups = ember_store_list_groups (store, error)) != NULL &&
         (policies = ember_store_list_policies (store, error)) != NULL;
  if (a.ok)
    {
      for (guint i = 0; i < sites->len; i++)
        g_ptr_array_add (site_names, ((EmberStoreSite *) sites->pdata[i])->name);
      /* Policies and resources go first, so that what they name can go
       * after them; sites are created first and deleted last. */
      deletions (&a, file, policies, resources, groups);
      for (guint i = 0; i < file->sites->len && a.ok; i++)
        if (!has_string (site_names, file->sites->pdata[i]))
          {
            line (&a, "+ site %s", (const char *) file->sites->pdata[i]);
            DO (&a, ember_store_site_put (store, file->sites->pdata[i], actor, error));
          }
      resources_put (&a, file, resources);
      groups_put (&a, file, groups);
      policies_put (&a, file, policies);
      for (guint i = 0; i < site_names->len && a.ok; i++)
        if (!has_string (file->sites, site_names->pdata[i]))
          {
            line (&a, "- site %s", (const char *) site_names->pdata[i]);
            DO (&a, ember_store_site_delete (store, site_names->pdata[i], actor, error));
          }
    }
  if (!a.ok || dry_run)
    ember_store_rollback (store);
  else if (!ember_store_commit (store, error))
    a.ok = FALSE;
  if (!a.ok)
    {
      g_ptr_array_unref (a.diff);
      return FALSE;
    }
  *diff = a.diff;
  return TRUE;
}
