/* store-policies — groups of clients and the policies that give a group a
 * resource. */
#define G_LOG_DOMAIN "ember-portal-store"

#include "store-json.h"
#include "store-private.h"

#include <string.h>

#include "net/cidr.h"

/* ---- groups ---- */

void
ember_store_group_free (EmberStoreGroup *g)
{
  if (g == NULL)
    return;
  g_free (g->id);
  g_free (g->name);
  g_strfreev (g->clients);
  g_free (g);
}

typedef struct {
  EmberStore *store;
  GPtrArray *groups;
  GPtrArray *members; /* of the last group */
} GroupRows;

static void
close_group (GroupRows *gr)
{
  EmberStoreGroup *g;

  if (gr->members == NULL)
    return;
  g = g_ptr_array_index (gr->groups, gr->groups->len - 1);
  g_ptr_array_add (gr->members, NULL);
  g->clients = (char **) g_ptr_array_free (gr->members, FALSE);
  gr->members = NULL;
}

static void
group_row (const EmberStoreRow *row, gpointer data)
{
  GroupRows *gr = data;
  const char *id = store_text (gr->store, row, 0);
  const char *member = store_text (gr->store, row, 2);

  if (gr->groups->len == 0 ||
      g_strcmp0 (((EmberStoreGroup *) g_ptr_array_index (gr->groups, gr->groups->len - 1))->id,
                 id) != 0)
    {
      EmberStoreGroup *g = g_new0 (EmberStoreGroup, 1);
      close_group (gr);
      g->id = g_strdup (id);
      g->name = g_strdup (store_text (gr->store, row, 1));
      g_ptr_array_add (gr->groups, g);
      gr->members = g_ptr_array_new ();
    }
  if (member != NULL)
    g_ptr_array_add (gr->members, g_strdup (member));
}

static GPtrArray *
query_groups (EmberStore *store, const char *name, GError **error)
{
  GroupRows gr = { store, g_ptr_array_new_with_free_func ((GDestroyNotify) ember_store_group_free),
                   NULL };
  gboolean ok;

  /* Two texts rather than "? IS NULL OR ...", which PostgreSQL cannot
   * type. */
  if (name == NULL)
    ok = store_query (store,
                      "SELECT g.id, g.name, m.client_name FROM client_groups g"
                      " LEFT JOIN group_members m ON m.group_id = g.id"
                      " ORDER BY g.name, m.client_name",
                      NULL, 0, group_row, &gr, NULL, error);
  else
    ok = store_query (store,
                      "SELECT g.id, g.name, m.client_name FROM client_groups g"
                      " LEFT JOIN group_members m ON m.group_id = g.id"
                      " WHERE g.name = ? ORDER BY g.name, m.client_name",
                      STORE_PARAMS (EMBER_STORE_TEXT (name)), group_row, &gr, NULL, error);
  close_group (&gr);
  if (!ok)
    g_clear_pointer (&gr.groups, g_ptr_array_unref);
  return gr.groups;
}

GPtrArray *
ember_store_list_groups (EmberStore *store, GError **error)
{
  return query_groups (store, NULL, error);
}

static int
strcmp_p (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

gboolean
ember_store_group_put (EmberStore *store, const char *name, const char *const *client_names,
                       const char *actor, GError **error)
{
  g_autoptr (GPtrArray) want = g_ptr_array_new ();
  g_autoptr (GPtrArray) old = NULL, now = NULL;
  g_autofree char *id = NULL, *detail = NULL, *want_text = NULL, *old_text = NULL;
  const char *verb = NULL;
  gboolean ok;

  if (!store_check_name ("group name", name, error))
    return FALSE;
  for (guint i = 0; client_names != NULL && client_names[i] != NULL; i++)
    {
      if (!store_check_name ("client name", client_names[i], error))
        return FALSE;
      g_ptr_array_add (want, (char *) client_names[i]);
    }
  g_ptr_array_sort (want, strcmp_p);
  for (guint i = 1; i < want->len; i++)
    if (strcmp (want->pdata[i], want->pdata[i - 1]) == 0)
      g_ptr_array_remove_index (want, i--);
  g_ptr_array_add (want, NULL);
  want_text = g_strjoinv ("\n", (char **) want->pdata);

  if (!store_tx_begin (store, error))
    return FALSE;
  ok = (old = query_groups (store, name, error)) != NULL;
  if (ok && old->len == 0)
    {
      verb = "created";
      id = store_new_id ();
      ok = store_query (store, "INSERT INTO client_groups (id, name) VALUES (?, ?)",
                        STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (name)), NULL, NULL,
                        NULL, error);
    }
  else if (ok)
    {
      EmberStoreGroup *g = g_ptr_array_index (old, 0);
      id = g_strdup (g->id);
      old_text = g_strjoinv ("\n", g->clients);
      if (g_strcmp0 (old_text, want_text) != 0)
        verb = "updated";
      ok = store_query (store, "DELETE FROM group_members WHERE group_id = ?",
                        STORE_PARAMS (EMBER_STORE_TEXT (id)), NULL, NULL, NULL, error);
    }
  for (guint i = 0; ok && want->pdata[i] != NULL; i++)
    ok = store_query (store, "INSERT INTO group_members (group_id, client_name) VALUES (?, ?)",
                      STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (want->pdata[i])),
                      NULL, NULL, NULL, error);
  if (ok && verb != NULL)
    {
      ok = (now = query_groups (store, name, error)) != NULL;
      if (ok)
        {
          detail = ember_store_json_text (ember_store_group_to_json (now->pdata[0]), FALSE);
          ok = store_change (store, actor, verb, "group", id, name, detail, error);
        }
    }
  return store_tx_end (store, ok, error);
}

static gboolean
lookup (EmberStore *s, const char *sql, const char *what, const char *name, char **id,
        GError **error)
{
  if (!store_query_text (s, sql, STORE_PARAMS (EMBER_STORE_TEXT (name)), id, error))
    return FALSE;
  return *id != NULL || store_not_found (error, what, name);
}

static gboolean
log_policies_of_group (EmberStore *store, const char *group_id, const char *actor,
                       GError **error)
{
  g_autoptr (GPtrArray) policies = ember_store_list_policies (store, error);

  if (policies == NULL)
    return FALSE;
  for (guint i = 0; i < policies->len; i++)
    {
      EmberStorePolicy *p = g_ptr_array_index (policies, i);
      g_autofree char *name = NULL, *detail = NULL;
      if (g_strcmp0 (p->group_id, group_id) != 0)
        continue;
      name = g_strdup_printf ("%s -> %s", p->group_name, p->resource_name);
      detail = ember_store_json_text (ember_store_policy_to_json (p), FALSE);
      if (!store_change (store, actor, "deleted", "policy", p->id, name, detail, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
ember_store_group_delete (EmberStore *store, const char *name, const char *actor,
                          GError **error)
{
  g_autofree char *id = NULL;
  gboolean ok;

  if (!store_tx_begin (store, error))
    return FALSE;
  ok = lookup (store, "SELECT id FROM client_groups WHERE name = ?", "group", name, &id, error) &&
       log_policies_of_group (store, id, actor, error) &&
       store_query (store, "DELETE FROM client_groups WHERE id = ?",
                    STORE_PARAMS (EMBER_STORE_TEXT (id)), NULL, NULL, NULL, error) &&
       store_change (store, actor, "deleted", "group", id, name, NULL, error);
  return store_tx_end (store, ok, error);
}

/* ---- policies ---- */

void
ember_store_policy_free (EmberStorePolicy *p)
{
  if (p == NULL)
    return;
  g_free (p->id);
  g_free (p->group_id);
  g_free (p->group_name);
  g_free (p->resource_id);
  g_free (p->resource_name);
  g_strfreev (p->source_cidrs);
  g_free (p);
}

#define POLICY_SELECT                                                                           \
  "SELECT p.id, p.group_id, g.name, p.resource_id, r.name, p.time_start, p.time_end,"           \
  " p.source_cidrs FROM policies p JOIN client_groups g ON g.id = p.group_id"                   \
  " JOIN resources r ON r.id = p.resource_id"

static gpointer
policy_from_row (EmberStore *s, const EmberStoreRow *row)
{
  EmberStorePolicy *p = g_new0 (EmberStorePolicy, 1);

  p->id = g_strdup (store_text (s, row, 0));
  p->group_id = g_strdup (store_text (s, row, 1));
  p->group_name = g_strdup (store_text (s, row, 2));
  p->resource_id = g_strdup (store_text (s, row, 3));
  p->resource_name = g_strdup (store_text (s, row, 4));
  p->has_time_window = store_text (s, row, 5) != NULL;
  p->start_minute = (guint16) store_int (s, row, 5);
  p->end_minute = (guint16) store_int (s, row, 6);
  p->source_cidrs = store_strv_split (store_text (s, row, 7));
  return p;
}

GPtrArray *
ember_store_list_policies (EmberStore *store, GError **error)
{
  return store_query_list (store, POLICY_SELECT " ORDER BY g.name, r.name", NULL, 0,
                           policy_from_row, (GDestroyNotify) ember_store_policy_free, error);
}

static EmberStorePolicy *
policy_of (EmberStore *store, const char *group_id, const char *resource_id, GError **error)
{
  g_autoptr (GPtrArray) rows =
    store_query_list (store, POLICY_SELECT " WHERE p.group_id = ? AND p.resource_id = ?",
                      STORE_PARAMS (EMBER_STORE_TEXT (group_id), EMBER_STORE_TEXT (resource_id)),
                      policy_from_row, (GDestroyNotify) ember_store_policy_free, error);
  if (rows == NULL || rows->len == 0)
    return NULL;
  return g_ptr_array_steal_index (rows, 0);
}

/* Canonical, sorted, de-duplicated source CIDRs as "a,b"; NULL + error on
 * a bad one. */
static char *
canonical_sources (char **cidrs, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; cidrs != NULL && cidrs[i] != NULL; i++)
    {
      g_autoptr (GError) local = NULL;
      EmberCidr c;
      if (!ember_cidr_parse (cidrs[i], EMBER_CIDR_PARSE_BARE, &c, &local))
        {
          g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                       "source_cidrs: expected CIDRs like 192.0.2.0/24: %s", local->message);
          return NULL;
        }
      g_ptr_array_add (out, ember_cidr_to_string (&c));
    }
  g_ptr_array_sort (out, strcmp_p);
  for (guint i = 1; i < out->len; i++)
    if (strcmp (out->pdata[i], out->pdata[i - 1]) == 0)
      g_ptr_array_remove_index (out, i--);
  g_ptr_array_add (out, NULL);
  return g_strjoinv (",", (char **) out->pdata);
}

gboolean
ember_store_policy_put (EmberStore *store, const EmberStorePolicy *policy, const char *actor,
                        GError **error)
{
  g_autofree char *group_id = NULL, *resource_id = NULL, *sources = NULL, *detail = NULL;
  g_autofree char *old_sources = NULL, *name = NULL;
  g_autoptr (EmberStorePolicy) old = NULL, now = NULL;
  EmberStoreParam start = { EMBER_STORE_PARAM_NULL, NULL, 0 }, end = start;
  const char *verb = NULL;
  gboolean ok;

  if (policy->has_time_window &&
      (policy->start_minute >= 24 * 60 || policy->end_minute >= 24 * 60 ||
       policy->start_minute == policy->end_minute))
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "utc_time: expected two different times of day");
      return FALSE;
    }
  if (policy->has_time_window)
    {
      start = EMBER_STORE_INT (policy->start_minute);
      end = EMBER_STORE_INT (policy->end_minute);
    }
  if ((sources = canonical_sources (policy->source_cidrs, error)) == NULL)
    return FALSE;
  name = g_strdup_printf ("%s -> %s", policy->group_name, policy->resource_name);
  if (!store_tx_begin (store, error))
    return FALSE;
  ok = lookup (store, "SELECT id FROM client_groups WHERE name = ?", "group",
               policy->group_name, &group_id, error) &&
       lookup (store, "SELECT id FROM resources WHERE name = ?", "resource",
               policy->resource_name, &resource_id, error);
  if (ok && (old = policy_of (store, group_id, resource_id, NULL)) == NULL)
    {
      g_autofree char *id = store_new_id ();
      verb = "created";
      ok = store_query (store,
                        "INSERT INTO policies (id, group_id, resource_id, time_start, time_end,"
                        " source_cidrs) VALUES (?, ?, ?, ?, ?, ?)",
                        STORE_PARAMS (EMBER_STORE_TEXT (id), EMBER_STORE_TEXT (group_id),
                                      EMBER_STORE_TEXT (resource_id), start, end,
                                      EMBER_STORE_TEXT (sources)),
                        NULL, NULL, NULL, error);
    }
  else if (ok)
    {
      old_sources = store_strv_join (old->source_cidrs);
      if (old->has_time_window != policy->has_time_window ||
          (policy->has_time_window && (old->start_minute != policy->start_minute ||
                                       old->end_minute != policy->end_minute)) ||
          g_strcmp0 (old_sources, sources) != 0)
        {
          verb = "updated";
          ok = store_query (store,
                            "UPDATE policies SET time_start = ?, time_end = ?, source_cidrs = ?"
                            " WHERE id = ?",
                            STORE_PARAMS (start, end, EMBER_STORE_TEXT (sources),
                                          EMBER_STORE_TEXT (old->id)),
                            NULL, NULL, NULL, error);
        }
    }
  if (ok && verb != NULL)
    {
      ok = (now = policy_of (store, group_id, resource_id, error)) != NULL;
      if (ok)
        {
          detail = ember_store_json_text (ember_store_policy_to_json (now), FALSE);
          ok = store_change (store, actor, verb, "policy", now->id, name, detail, error);
        }
    }
  return store_tx_end (store, ok, error);
}

gboolean
ember_store_policy_delete (EmberStore *store, const char *group_name, const char *resource_name,
                           const char *actor, GError **error)
{
  g_autofree char *group_id = NULL, *resource_id = NULL, *name = NULL;
  g_autoptr (EmberStorePolicy) old = NULL;
  gboolean ok;

  name = g_strdup_printf ("%s -> %s", group_name, resource_name);
  if (!store_tx_begin (store, error))
    return FALSE;
  ok = lookup (store, "SELECT id FROM client_groups WHERE name = ?", "group", group_name,
               &group_id, error) &&
       lookup (store, "SELECT id FROM resources WHERE name = ?", "resource", resource_name,
               &resource_id, error);
  if (ok && (old = policy_of (store, group_id, resource_id, error)) == NULL)
    ok = store_not_found (error, "policy", name);
  if (ok)
    {
      g_autofree char *detail = ember_store_json_text (ember_store_policy_to_json (old), FALSE);
      ok = store_query (store, "DELETE FROM policies WHERE id = ?",
                        STORE_PARAMS (EMBER_STORE_TEXT (old->id)), NULL, NULL, NULL, error) &&
           store_change (store, actor, "deleted", "policy", old->id, name, detail, error);
    }
  return store_tx_end (store, ok, error);
}
