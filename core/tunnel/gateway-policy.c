/* gateway-policy — the gateway's authorization table and packet check.
 * See gateway-policy.h for the rules; gateway-rules.c compiles a client's
 * authorizations into the table the packet path reads. */
#include <string.h>

#include "tunnel/gateway-policy-private.h"

G_DEFINE_QUARK (ember-gateway-policy-error-quark, ember_gateway_policy_error)

static const char *const drop_names[EMBER_GATEWAY_DROP_N_REASONS] = {
  [EMBER_GATEWAY_DROP_MALFORMED] = "malformed",
  [EMBER_GATEWAY_DROP_SPOOFED] = "spoofed source",
  [EMBER_GATEWAY_DROP_NOT_AUTHORIZED] = "not authorized",
  [EMBER_GATEWAY_DROP_FILTERED] = "filtered",
  [EMBER_GATEWAY_DROP_REPLY_NO_CLIENT] = "reply to no client",
  [EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED] = "reply not authorized",
};

const char *
ember_gateway_drop_reason_to_string (EmberGatewayDropReason reason)
{
  if ((guint) reason >= EMBER_GATEWAY_DROP_N_REASONS)
    return "unknown";
  return drop_names[reason];
}

void
ember_gateway_event_clear (EmberGatewayEvent *ev)
{
  g_clear_pointer (&ev->ref, g_free);
  g_clear_pointer (&ev->client_id, g_free);
  g_clear_pointer (&ev->resource_id, g_free);
  ev->reason = NULL;
}

/* ---- resources ---------------------------------------------------------- */

static void
resource_unref (Resource *r)
{
  if (--r->refs > 0)
    return;
  g_free (r->id);
  g_array_unref (r->addresses);
  g_array_unref (r->resolved);
  g_array_unref (r->filters);
  g_hash_table_unref (r->holders);
  g_free (r);
}

static gboolean
check_text (const char *id, gsize max, const char *what, GError **error)
{
  gsize len = id ? strnlen (id, max + 1) : 0;

  if (len == 0 || len > max || !g_utf8_validate (id, (gssize) len, NULL))
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                   "%s: expected non-empty UTF-8 of at most %" G_GSIZE_FORMAT " bytes", what,
                   max);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_id (const char *id, const char *what, GError **error)
{
  return check_text (id, EMBER_GATEWAY_ID_MAX, what, error);
}

static gboolean
check_cidrs (const EmberCidr *cidrs, guint n, const char *what, GError **error)
{
  if (n > EMBER_GATEWAY_MAX_RESOURCE_ADDRESSES || (n > 0 && !cidrs))
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_LIMIT,
                   "%s: %u addresses, at most %u", what, n,
                   EMBER_GATEWAY_MAX_RESOURCE_ADDRESSES);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    if (!((cidrs[i].family == 4 && cidrs[i].prefix <= 32) ||
          (cidrs[i].family == 6 && cidrs[i].prefix <= 128)))
      {
        g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                     "%s[%u]: expected an IPv4 or IPv6 prefix", what, i);
        return FALSE;
      }
  return TRUE;
}

/* Validates a portal resource description. */
static gboolean
check_resource (const EmberGatewayResource *res, GError **error)
{
  if (!res)
    {
      g_set_error_literal (error, EMBER_GATEWAY_POLICY_ERROR,
                           EMBER_GATEWAY_POLICY_ERROR_INVALID, "resource: missing");
      return FALSE;
    }
  if (!check_id (res->id, "resource.id", error))
    return FALSE;
  if (res->type > EMBER_GATEWAY_RESOURCE_INTERNET)
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                   "resource.type: expected cidr, dns or internet (resource %s)", res->id);
      return FALSE;
    }
  if (res->type == EMBER_GATEWAY_RESOURCE_CIDR)
    {
      if (res->n_addresses == 0)
        {
          g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                       "resource.address: a cidr resource needs one (resource %s)", res->id);
          return FALSE;
        }
      if (!check_cidrs (res->addresses, res->n_addresses, "resource.address", error))
        return FALSE;
    }
  if (res->n_filters > EMBER_GATEWAY_MAX_FILTERS || (res->n_filters > 0 && !res->filters))
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_LIMIT,
                   "resource.filters: %u filters, at most %u (resource %s)", res->n_filters,
                   EMBER_GATEWAY_MAX_FILTERS, res->id);
      return FALSE;
    }
  for (guint i = 0; i < res->n_filters; i++)
    {
      const EmberGatewayFilter *f = &res->filters[i];

      if (f->protocol > EMBER_GATEWAY_FILTER_ICMP)
        {
          g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                       "resource.filters[%u].protocol: expected tcp, udp or icmp "
                       "(resource %s)", i, res->id);
          return FALSE;
        }
      if (f->protocol != EMBER_GATEWAY_FILTER_ICMP && f->port_min > f->port_max)
        {
          g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                       "resource.filters[%u].ports: range %u-%u is reversed (resource %s)",
                       i, f->port_min, f->port_max, res->id);
          return FALSE;
        }
    }
  return TRUE;
}

static void
resource_set (Resource *r, const EmberGatewayResource *res)
{
  EmberCidr all[2] = { { .family = 4 }, { .family = 6 } };

  r->type = res->type;
  g_array_set_size (r->addresses, 0);
  if (res->type == EMBER_GATEWAY_RESOURCE_CIDR)
    g_array_append_vals (r->addresses, res->addresses, res->n_addresses);
  else if (res->type == EMBER_GATEWAY_RESOURCE_INTERNET)
    g_array_append_vals (r->addresses, all, 2);
  g_array_set_size (r->filters, 0);
  g_array_append_vals (r->filters, res->filters, res->n_filters);
}

static Resource *
resource_get (EmberGatewayPolicy *policy, const EmberGatewayResource *res)
{
  Resource *r = g_hash_table_lookup (policy->resources, res->id);

  if (!r)
    {
      r = g_new0 (Resource, 1);
      r->id = g_strdup (res->id);
      r->addresses = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
      r->resolved = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
      r->filters = g_array_new (FALSE, FALSE, sizeof (EmberGatewayFilter));
      r->holders = g_hash_table_new (g_direct_hash, g_direct_equal);
      r->refs = 1; /* the table's */
      g_hash_table_insert (policy->resources, r->id, r);
    }
  resource_set (r, res);
  return r;
}

/* ---- events ----------------------------------------------------------- */

static void
push_event (EmberGatewayPolicy *policy, EmberGatewayEventType type, const char *ref,
            const char *client_id, const char *resource_id, const char *reason)
{
  EmberGatewayEvent *ev = g_new0 (EmberGatewayEvent, 1);

  ev->type = type;
  ev->ref = g_strdup (ref);
  ev->client_id = g_strdup (client_id);
  ev->resource_id = g_strdup (resource_id);
  ev->reason = reason;
  g_queue_push_tail (&policy->events, ev);
}

gboolean
ember_gateway_policy_poll_event (EmberGatewayPolicy *policy, EmberGatewayEvent *ev)
{
  EmberGatewayEvent *head;

  g_return_val_if_fail (policy && ev, FALSE);
  head = g_queue_pop_head (&policy->events);
  if (!head)
    return FALSE;
  *ev = *head;
  g_free (head);
  return TRUE;
}

static void
event_free (gpointer p)
{
  ember_gateway_event_clear (p);
  g_free (p);
}

/* ---- clients ------------------------------------------------------------ */

static guint
v6_hash (gconstpointer key)
{
  const guint8 *a = key;
  guint h = 2166136261u;

  for (guint i = 0; i < 16; i++)
    h = (h ^ a[i]) * 16777619u;
  return h;
}

static gboolean
v6_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, 16) == 0;
}

static guint32
v4_key (const guint8 a[4])
{
  return (guint32) a[0] << 24 | (guint32) a[1] << 16 | (guint32) a[2] << 8 | a[3];
}

static void
client_release_addresses (EmberGatewayPolicy *policy, EmberGatewayClient *c)
{
  if (c->has_ipv4 &&
      g_hash_table_lookup (policy->by_ipv4, GUINT_TO_POINTER (v4_key (c->ipv4))) == c)
    g_hash_table_remove (policy->by_ipv4, GUINT_TO_POINTER (v4_key (c->ipv4)));
  if (c->has_ipv6 && g_hash_table_lookup (policy->by_ipv6, c->ipv6) == c)
    g_hash_table_remove (policy->by_ipv6, c->ipv6);
}

static gint
expiry_cmp (gconstpointer pa, gconstpointer pb, gpointer unused)
{
  const Auth *a = pa, *b = pb;

  (void) unused;
  if (a->expires_at != b->expires_at)
    return a->expires_at < b->expires_at ? -1 : 1;
  return (guintptr) a < (guintptr) b ? -1 : (guintptr) a > (guintptr) b ? 1 : 0;
}

static void
update_deadline (EmberGatewayPolicy *policy)
{
  GTreeNode *first = g_tree_node_first (policy->expiry);

  policy->next_expiry = first ? ((Auth *) g_tree_node_key (first))->expires_at : G_MAXINT64;
}

/* The free function of a client's auths array: detaches the authorization
 * from the expiry tree and its resource. */
static void
auth_free (gpointer p)
{
  Auth *a = p;

  if (!a->policy->freeing)
    {
      g_tree_remove (a->policy->expiry, a);
      g_hash_table_remove (a->resource->holders, a->client);
      if (a->resource->refs == 2)
        a->policy->prune_pending = TRUE; /* only the table will hold it */
    }
  resource_unref (a->resource);
  g_free (a);
}

static void
client_free (gpointer p)
{
  EmberGatewayClient *c = p;

  g_ptr_array_unref (c->auths);
  ember_gateway_rules_clear (&c->rules);
  explicit_bzero (c->preshared_key, sizeof c->preshared_key);
  g_free (c->id);
  g_free (c);
}

/* Ends authorization `a` (no rebuild; the caller does that). */
static void
auth_remove (EmberGatewayPolicy *policy, Auth *a, const char *reason)
{
  push_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED, NULL, a->client->id,
              a->resource->id, reason);
  g_ptr_array_remove_fast (a->client->auths, a);
}

static void
client_rebuild (EmberGatewayPolicy *policy, EmberGatewayClient *c)
{
  if (policy->syncing)
    c->dirty = TRUE;
  else
    ember_gateway_rules_build (&c->rules, c->auths);
}

/* After `c`'s authorizations changed: rebuild its rules; with none left
 * it releases its addresses (replies stop at once) and is disconnected. */
static void
client_changed (EmberGatewayPolicy *policy, EmberGatewayClient *c, const char *reason)
{
  client_rebuild (policy, c);
  if (c->auths->len == 0 && !c->disconnected)
    {
      c->disconnected = TRUE;
      client_release_addresses (policy, c);
      push_event (policy, EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED, NULL, c->id, NULL, reason);
    }
}

void
ember_gateway_policy_expire (EmberGatewayPolicy *policy, gint64 now)
{
  g_autoptr (GPtrArray) touched = g_ptr_array_new ();
  GTreeNode *first;

  while ((first = g_tree_node_first (policy->expiry)) &&
         ((Auth *) g_tree_node_key (first))->expires_at <= now)
    {
      Auth *a = g_tree_node_key (first);

      if (!g_ptr_array_find (touched, a->client, NULL))
        g_ptr_array_add (touched, a->client);
      auth_remove (policy, a, "expired");
    }
  for (guint i = 0; i < touched->len; i++)
    client_changed (policy, g_ptr_array_index (touched, i), "expired");
  update_deadline (policy);
}

static inline void
expire_if_due (EmberGatewayPolicy *policy, gint64 now)
{
  if (G_UNLIKELY (now >= policy->next_expiry))
    ember_gateway_policy_expire (policy, now);
}

EmberGatewayPolicy *
ember_gateway_policy_new (void)
{
  EmberGatewayPolicy *policy = g_new0 (EmberGatewayPolicy, 1);

  policy->clients = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, client_free);
  policy->resources = g_hash_table_new (g_str_hash, g_str_equal);
  policy->by_ipv4 = g_hash_table_new (g_direct_hash, g_direct_equal);
  policy->by_ipv6 = g_hash_table_new (v6_hash, v6_equal);
  g_queue_init (&policy->events);
  policy->expiry = g_tree_new_full (expiry_cmp, NULL, NULL, NULL);
  policy->next_expiry = G_MAXINT64;
  return policy;
}

void
ember_gateway_policy_free (EmberGatewayPolicy *policy)
{
  GHashTableIter it;
  gpointer v;

  if (!policy)
    return;
  policy->freeing = TRUE;
  g_tree_destroy (policy->expiry);
  g_hash_table_unref (policy->by_ipv4);
  g_hash_table_unref (policy->by_ipv6);
  g_hash_table_unref (policy->clients);
  g_hash_table_iter_init (&it, policy->resources);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      g_hash_table_iter_steal (&it);
      resource_unref (v);
    }
  g_hash_table_unref (policy->resources);
  g_queue_clear_full (&policy->events, event_free);
  g_free (policy);
}

/* Gives `c` its addresses, taking them from any other owner (who is then
 * disconnected: the portal's latest authorization wins). */
static void
client_claim_addresses (EmberGatewayPolicy *policy, gint64 now, EmberGatewayClient *c)
{
  EmberGatewayClient *others[2] = { NULL, NULL };

  if (c->has_ipv4)
    others[0] = g_hash_table_lookup (policy->by_ipv4, GUINT_TO_POINTER (v4_key (c->ipv4)));
  if (c->has_ipv6)
    others[1] = g_hash_table_lookup (policy->by_ipv6, c->ipv6);
  for (guint k = 0; k < 2; k++)
    {
      EmberGatewayClient *o = others[k];

      if (!o || o == c || (k == 1 && o == others[0]))
        continue;
      client_release_addresses (policy, o);
      while (o->auths->len > 0)
        auth_remove (policy, g_ptr_array_index (o->auths, o->auths->len - 1),
                     "address reassigned");
      client_changed (policy, o, "address reassigned");
    }
  if (c->has_ipv4)
    g_hash_table_insert (policy->by_ipv4, GUINT_TO_POINTER (v4_key (c->ipv4)), c);
  if (c->has_ipv6)
    g_hash_table_insert (policy->by_ipv6, c->ipv6, c);
  (void) now;
}

gboolean
ember_gateway_policy_authorize (EmberGatewayPolicy *policy, gint64 now,
                                const EmberGatewayAuthorization *auth, GError **error)
{
  EmberGatewayClient *c;
  Resource *r;
  Auth *a = NULL;
  gboolean addresses_changed;

  g_return_val_if_fail (policy && auth, FALSE);
  expire_if_due (policy, now);
  if (!check_id (auth->client_id, "client.id", error) ||
      (auth->ref && !check_text (auth->ref, EMBER_GATEWAY_REF_MAX, "ref", error)) ||
      !check_resource (auth->resource, error))
    return FALSE;
  if (!auth->has_ipv4 && !auth->has_ipv6)
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                   "client.ipv4/ipv6: client %s has no tunnel address", auth->client_id);
      return FALSE;
    }
  if (auth->expires_at <= now)
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                   "expires_at: the authorization of client %s for resource %s has "
                   "already expired", auth->client_id, auth->resource->id);
      return FALSE;
    }

  c = g_hash_table_lookup (policy->clients, auth->client_id);
  if (c && c->auths->len >= EMBER_GATEWAY_MAX_AUTHORIZATIONS &&
      !ember_gateway_client_is_authorized (c, auth->resource->id))
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_LIMIT,
                   "resource.id: client %s has %u authorizations already, at most %u",
                   auth->client_id, c->auths->len, EMBER_GATEWAY_MAX_AUTHORIZATIONS);
      return FALSE;
    }
  if (!c)
    {
      if (g_hash_table_size (policy->clients) >= EMBER_GATEWAY_MAX_CLIENTS)
        {
          g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_LIMIT,
                       "client.id: %u clients already, at most %u", EMBER_GATEWAY_MAX_CLIENTS,
                       EMBER_GATEWAY_MAX_CLIENTS);
          return FALSE;
        }
      c = g_new0 (EmberGatewayClient, 1);
      c->id = g_strdup (auth->client_id);
      c->auths = g_ptr_array_new_with_free_func (auth_free);
      c->icmp_tokens = EMBER_GATEWAY_ICMP_BURST * EMBER_GATEWAY_TOKEN;
      c->icmp_refilled = now;
      g_hash_table_insert (policy->clients, c->id, c);
    }

  addresses_changed = c->disconnected || c->has_ipv4 != auth->has_ipv4 ||
                      c->has_ipv6 != auth->has_ipv6 ||
                      (auth->has_ipv4 && memcmp (c->ipv4, auth->client_ipv4, 4) != 0) ||
                      (auth->has_ipv6 && memcmp (c->ipv6, auth->client_ipv6, 16) != 0);
  if (addresses_changed)
    {
      client_release_addresses (policy, c);
      c->has_ipv4 = auth->has_ipv4;
      c->has_ipv6 = auth->has_ipv6;
      memcpy (c->ipv4, auth->client_ipv4, 4);
      memcpy (c->ipv6, auth->client_ipv6, 16);
      client_claim_addresses (policy, now, c);
    }
  c->disconnected = FALSE;
  memcpy (c->public_key, auth->client_public_key, 32);
  memcpy (c->preshared_key, auth->preshared_key, 32);

  r = resource_get (policy, auth->resource);
  for (guint i = 0; i < c->auths->len && !a; i++)
    if (((Auth *) g_ptr_array_index (c->auths, i))->resource == r)
      a = g_ptr_array_index (c->auths, i);
  if (a)
    g_tree_remove (policy->expiry, a);
  else
    {
      a = g_new0 (Auth, 1);
      a->policy = policy;
      a->client = c;
      a->resource = r;
      r->refs++;
      g_hash_table_add (r->holders, c);
      g_ptr_array_add (c->auths, a);
    }
  a->expires_at = auth->expires_at;
  a->stale = FALSE;
  g_tree_insert (policy->expiry, a, a);
  update_deadline (policy);

  /* The resource may be shared: everyone authorized for it sees the
   * addresses and filters this message carries. */
  ember_gateway_policy_rebuild_resource (policy, r);
  if (auth->ref)
    push_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_CREATED, auth->ref, c->id, r->id,
                NULL);
  return TRUE;
}

void
ember_gateway_policy_begin_sync (EmberGatewayPolicy *policy)
{
  GHashTableIter it;
  gpointer v;

  g_return_if_fail (policy);
  policy->syncing = TRUE;
  g_hash_table_iter_init (&it, policy->clients);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      EmberGatewayClient *c = v;

      for (guint i = 0; i < c->auths->len; i++)
        ((Auth *) g_ptr_array_index (c->auths, i))->stale = TRUE;
    }
}

void
ember_gateway_policy_end_sync (EmberGatewayPolicy *policy, gint64 now)
{
  GHashTableIter it;
  gpointer v;

  g_return_if_fail (policy);
  g_hash_table_iter_init (&it, policy->clients);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      EmberGatewayClient *c = v;
      gboolean changed = FALSE;

      for (guint i = c->auths->len; i-- > 0;)
        if (((Auth *) g_ptr_array_index (c->auths, i))->stale)
          {
            auth_remove (policy, g_ptr_array_index (c->auths, i), "not listed");
            changed = TRUE;
          }
      if (changed)
        client_changed (policy, c, "not listed");
    }
  policy->syncing = FALSE;
  g_hash_table_iter_init (&it, policy->clients);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      EmberGatewayClient *c = v;

      if (c->dirty)
        ember_gateway_rules_build (&c->rules, c->auths);
      c->dirty = FALSE;
    }
  update_deadline (policy);
  ember_gateway_policy_handle_timeout (policy, now);
}

/* Rebuilds the rules of every client authorized for `r`. */
void
ember_gateway_policy_rebuild_resource (EmberGatewayPolicy *policy, Resource *r)
{
  GHashTableIter it;
  gpointer c;

  g_hash_table_iter_init (&it, r->holders);
  while (g_hash_table_iter_next (&it, &c, NULL))
    client_rebuild (policy, c);
}

gboolean
ember_gateway_policy_reject (EmberGatewayPolicy *policy, gint64 now, const char *client_id,
                             const char *resource_id, GError **error)
{
  EmberGatewayClient *c;

  g_return_val_if_fail (policy, FALSE);
  expire_if_due (policy, now);
  if (!check_id (client_id, "client_id", error) || !check_id (resource_id, "resource_id", error))
    return FALSE;
  c = g_hash_table_lookup (policy->clients, client_id);
  for (guint i = 0; c && i < c->auths->len; i++)
    if (strcmp (((Auth *) g_ptr_array_index (c->auths, i))->resource->id, resource_id) == 0)
      {
        auth_remove (policy, g_ptr_array_index (c->auths, i), "rejected");
        client_changed (policy, c, "rejected");
        update_deadline (policy);
        return TRUE;
      }
  g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_NOT_FOUND,
               "reject_access: client %s has no authorization for resource %s", client_id,
               resource_id);
  return FALSE;
}

gboolean
ember_gateway_policy_update_resource (EmberGatewayPolicy *policy, gint64 now,
                                      const EmberGatewayResource *resource, GError **error)
{
  Resource *r;

  g_return_val_if_fail (policy, FALSE);
  expire_if_due (policy, now);
  if (!check_resource (resource, error))
    return FALSE;
  r = g_hash_table_lookup (policy->resources, resource->id);
  if (!r)
    return TRUE;
  resource_set (r, resource);
  ember_gateway_policy_rebuild_resource (policy, r);
  return TRUE;
}

gboolean
ember_gateway_policy_set_resolved_addresses (EmberGatewayPolicy *policy, gint64 now,
                                             const char *resource_id,
                                             const EmberCidr *addresses, guint n,
                                             GError **error)
{
  Resource *r;

  g_return_val_if_fail (policy, FALSE);
  expire_if_due (policy, now);
  if (!check_id (resource_id, "resource_id", error) ||
      !check_cidrs (addresses, n, "resolved addresses", error))
    return FALSE;
  r = g_hash_table_lookup (policy->resources, resource_id);
  if (!r)
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_NOT_FOUND,
                   "resource_id: no authorization names resource %s", resource_id);
      return FALSE;
    }
  if (r->type != EMBER_GATEWAY_RESOURCE_DNS)
    {
      g_set_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID,
                   "resource_id: resource %s is not a dns resource", resource_id);
      return FALSE;
    }
  g_array_set_size (r->resolved, 0);
  g_array_append_vals (r->resolved, addresses, n);
  ember_gateway_policy_rebuild_resource (policy, r);
  return TRUE;
}

void
ember_gateway_policy_remove_client (EmberGatewayPolicy *policy, const char *client_id)
{
  EmberGatewayClient *c;

  g_return_if_fail (policy && client_id);
  c = g_hash_table_lookup (policy->clients, client_id);
  if (!c)
    return;
  client_release_addresses (policy, c);
  /* Queued ICMP answers for it go too: the pointer dies now. */
  for (guint i = 0; i < policy->icmp_len; i++)
    if (policy->icmp[(policy->icmp_head + i) % EMBER_GATEWAY_ICMP_QUEUE].client == c)
      policy->icmp[(policy->icmp_head + i) % EMBER_GATEWAY_ICMP_QUEUE].client = NULL;
  g_hash_table_remove (policy->clients, client_id);
  update_deadline (policy);
}

void
ember_gateway_policy_set_own_addresses (EmberGatewayPolicy *policy, const EmberAddr *ipv4,
                                        const EmberAddr *ipv6)
{
  g_return_if_fail (policy);
  memset (policy->own, 0, sizeof policy->own);
  if (ipv4 && ipv4->family == EMBER_ADDR_IPV4)
    policy->own[0] = *ipv4;
  if (ipv6 && ipv6->family == EMBER_ADDR_IPV6)
    policy->own[1] = *ipv6;
}

/* Drops the resources no authorization uses any more (those only the
 * table holds), so the table does not keep every resource ever seen. */
static void
prune_resources (EmberGatewayPolicy *policy)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, policy->resources);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Resource *) v)->refs == 1)
      {
        g_hash_table_iter_steal (&it);
        resource_unref (v);
      }
}

EmberGatewayClient *
ember_gateway_policy_find_client (EmberGatewayPolicy *policy, const char *client_id)
{
  g_return_val_if_fail (policy && client_id, NULL);
  return g_hash_table_lookup (policy->clients, client_id);
}

const char *
ember_gateway_client_get_id (const EmberGatewayClient *client)
{
  return client->id;
}

const guint8 *
ember_gateway_client_get_public_key (const EmberGatewayClient *client)
{
  return client->public_key;
}

const guint8 *
ember_gateway_client_get_preshared_key (const EmberGatewayClient *client)
{
  return client->preshared_key;
}

guint
ember_gateway_client_get_n_authorizations (const EmberGatewayClient *client)
{
  return client->auths->len;
}

gboolean
ember_gateway_client_is_authorized (const EmberGatewayClient *client, const char *resource_id)
{
  for (guint i = 0; i < client->auths->len; i++)
    if (strcmp (((Auth *) g_ptr_array_index (client->auths, i))->resource->id, resource_id) == 0)
      return TRUE;
  return FALSE;
}

const char *
ember_gateway_client_get_authorization (const EmberGatewayClient *client, guint i)
{
  g_return_val_if_fail (i < client->auths->len, NULL);
  return ((Auth *) g_ptr_array_index (client->auths, i))->resource->id;
}

void
ember_gateway_policy_foreach_client (EmberGatewayPolicy *policy, EmberGatewayClientFunc func,
                                     gpointer user_data)
{
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, policy->clients);
  while (g_hash_table_iter_next (&it, NULL, &value))
    func (value, user_data);
}

void
ember_gateway_client_set_user_data (EmberGatewayClient *client, gpointer user_data)
{
  client->user_data = user_data;
}

gpointer
ember_gateway_client_get_user_data (const EmberGatewayClient *client)
{
  return client->user_data;
}

gint64
ember_gateway_policy_poll_timeout (const EmberGatewayPolicy *policy)
{
  return policy->next_expiry;
}

void
ember_gateway_policy_handle_timeout (EmberGatewayPolicy *policy, gint64 now)
{
  expire_if_due (policy, now);
  /* Timers fire often (the node's checks and keepalives): walk the
   * resources only when one lost its last authorization. */
  if (policy->prune_pending)
    prune_resources (policy);
  policy->prune_pending = FALSE;
}

void
ember_gateway_policy_get_counters (const EmberGatewayPolicy *policy, EmberGatewayCounters *out)
{
  *out = policy->counters;
}

guint
ember_gateway_policy_get_n_clients (const EmberGatewayPolicy *policy)
{
  return g_hash_table_size (policy->clients);
}
