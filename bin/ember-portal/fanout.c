/* ember-portal/fanout.c — changes written to the store by anyone (this
 * process's admin API, `ember-portal apply` in another process) reach
 * the connected sessions they affect.
 *
 * Every change_poll_interval the newest id of the `changes` table is
 * read (one indexed lookup: cheap when nothing changed). New rows are
 * read in order and sorted by what they touch:
 *   - a token revoked or deleted: its sessions get `disconnect` and close,
 *     and the authorizations granted under it end (reject_access);
 *   - a client or gateway deleted: likewise (device_removed);
 *   - sites, resources, groups, policies, clients created or deleted: the
 *     access snapshot is loaded once for the whole batch and every joined
 *     client is evaluated once against it, in memory. A client is sent
 *     only the difference to what it was told (resource_created_or_updated
 *     with the frame built once per resource and shared by every client,
 *     resource_deleted), and every active authorization a policy no longer
 *     allows ends with reject_access to its gateway and client.
 * Each minute the evaluation runs again for policies with time windows.
 */
#include "serve-private.h"

#include <string.h>
#include <time.h>

#define CHANGES_BATCH 1000
/* Clients per batch handed to the I/O threads during a fan-out, so they
 * write while the rest is still being evaluated. */
#define FANOUT_CHUNK 512

static gint64
thread_cpu_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void
cached_frame_free (gpointer p)
{
  CachedFrame *f = p;
  g_ref_string_release (f->text);
  g_ref_string_release (f->text_rev1);
  g_free (f);
}

static const CachedFrame *
frame_for (EmberPortalServer *srv, const EmberStoreResource *res)
{
  CachedFrame *f = g_hash_table_lookup (srv->frames, res->id);
  if (f != NULL)
    return f;
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED,
                             EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  char *text = NULL;
  if (!convert_resource (res, &m.u.resource, &error)
      || (text = ember_portal_message_build (&m, EMBER_PORTAL_CHANNEL_CLIENT, &len, &error)) == NULL)
    {
      /* A resource the protocol cannot carry is left out, said once per
       * snapshot. */
      g_warning ("resource %s: not sent to clients: %s", res->name, error->message);
      return NULL;
    }
  f = g_new (CachedFrame, 1);
  f->text = g_ref_string_new_len (text, (gssize) len);
  f->digest = convert_digest (text, len);
  g_clear_pointer (&text, g_free);
  /* A device that predates ip_stack would refuse the whole frame: it
   * gets the resource as dual-stack, as it took every one anyway. */
  if (m.u.resource.ip_stack != EMBER_PORTAL_IP_STACK_DUAL)
    {
      m.u.resource.ip_stack = EMBER_PORTAL_IP_STACK_DUAL;
      text = ember_portal_message_build (&m, EMBER_PORTAL_CHANNEL_CLIENT, &len, NULL);
    }
  f->text_rev1 = text != NULL ? g_ref_string_new_len (text, (gssize) len)
                              : g_ref_string_acquire (f->text);
  g_free (text);
  g_hash_table_insert (srv->frames, g_strdup (res->id), f);
  return f;
}

static gboolean
load_access (EmberPortalServer *srv, GError **error)
{
  EmberStoreAccess *access = ember_store_access_load (srv->store, error);
  if (access == NULL)
    return FALSE;
  g_clear_pointer (&srv->access, ember_store_access_free);
  srv->access = access;
  g_hash_table_remove_all (srv->frames);
  return TRUE;
}

gboolean
fanout_init (EmberPortalServer *srv, GError **error)
{
  srv->frames = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cached_frame_free);
  srv->last_minute = server_unix_now () / 60;
  return ember_store_latest_change (srv->store, &srv->last_change_id, error)
         && load_access (srv, error);
}

static gint
sent_cmp (gconstpointer a, gconstpointer b)
{
  return strcmp (((const SentResource *) a)->id.str, ((const SentResource *) b)->id.str);
}

/* The client's resources now, with their frames; sorted by id. */
static GArray *
evaluate (Session *c, GPtrArray **resources_out)
{
  EmberPortalServer *srv = c->server;
  g_autoptr (GPtrArray) res = ember_store_access_resources (srv->access, c->device_name,
                                                            server_unix_now (), c->source);
  GArray *now = g_array_sized_new (FALSE, FALSE, sizeof (SentResource), res ? res->len : 0);
  GPtrArray *kept = g_ptr_array_new ();
  for (guint i = 0; res != NULL && i < res->len; i++)
    {
      const EmberStoreResource *r = g_ptr_array_index (res, i);
      const CachedFrame *f = frame_for (srv, r);
      SentResource sr = { 0 };
      if (f == NULL || !ember_portal_id_parse (r->id, &sr.id, "resource id", NULL))
        continue;
      sr.digest = f->digest;
      g_array_append_val (now, sr);
      g_ptr_array_add (kept, (gpointer) r);
    }
  g_array_sort (now, sent_cmp);
  if (resources_out != NULL)
    *resources_out = kept;
  else
    g_ptr_array_unref (kept);
  return now;
}

guint
fanout_client_resources (Session *c, EmberPortalResource **out)
{
  g_autoptr (GPtrArray) res = NULL;
  GArray *now = evaluate (c, &res);
  if (c->sent != NULL)
    g_array_unref (c->sent);
  c->sent = now;
  guint n = MIN (res->len, EMBER_PORTAL_MAX_RESOURCES);
  *out = g_new0 (EmberPortalResource, MAX (n, 1));
  guint k = 0;
  for (guint i = 0; i < n; i++)
    if (convert_resource (g_ptr_array_index (res, i), &(*out)[k], NULL))
      k++;
  return k;
}

static void
send_deleted (Session *c, const EmberPortalId *id)
{
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_RESOURCE_DELETED, EMBER_PORTAL_CHANNEL_CLIENT,
                             NULL);
  m.u.resource_deleted.id = *id;
  session_send (c, &m);
}

static void
update_client (Session *c)
{
  EmberPortalServer *srv = c->server;
  GArray *now = evaluate (c, NULL);
  GArray *old = c->sent;
  guint i = 0, k = 0;
  /* Both sorted by id: one merge walk finds the new, the changed and the
   * gone. */
  while (i < now->len || (old != NULL && k < old->len))
    {
      const SentResource *n = i < now->len ? &g_array_index (now, SentResource, i) : NULL;
      const SentResource *o = old != NULL && k < old->len ? &g_array_index (old, SentResource, k)
                                                          : NULL;
      int cmp = n == NULL ? 1 : o == NULL ? -1 : strcmp (n->id.str, o->id.str);
      if (cmp < 0 || (cmp == 0 && n->digest != o->digest))
        {
          const CachedFrame *f = g_hash_table_lookup (srv->frames, n->id.str);
          if (f != NULL)
            session_send_text (c, c->revision >= EMBER_PORTAL_REVISION_IP_STACK ? f->text
                                                                               : f->text_rev1);
        }
      else if (cmp > 0)
        send_deleted (c, &o->id);
      if (cmp <= 0)
        i++;
      if (cmp >= 0)
        k++;
    }
  if (old != NULL)
    g_array_unref (old);
  c->sent = now;
}

static void
update_gateways (EmberPortalServer *srv)
{
  /* A resource with active authorizations whose content changed: its
   * gateways learn the new filters (resource_updated). */
  g_autoptr (GHashTable) told = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, srv->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Authz *a = v;
      g_autoptr (EmberStoreResource) r = ember_store_resource_get (srv->store, a->resource_id, NULL);
      if (r == NULL)
        continue;
      const CachedFrame *f = frame_for (srv, r);
      guint64 *last = g_hash_table_lookup (srv->resource_digests, a->resource_id);
      if (f == NULL || last == NULL || *last == f->digest)
        {
          if (f != NULL && last == NULL)
            {
              guint64 *d = g_new (guint64, 1);
              *d = f->digest;
              g_hash_table_insert (srv->resource_digests, g_strdup (a->resource_id), d);
            }
          continue;
        }
      g_autofree char *key = g_strdup_printf ("%s|%s", a->gateway_id, a->resource_id);
      Session *gw = g_hash_table_lookup (srv->gateways, a->gateway_id);
      if (gw == NULL || g_hash_table_contains (told, key))
        continue;
      g_hash_table_add (told, g_steal_pointer (&key));
      g_auto (EmberPortalMessage) m;
      ember_portal_message_init (&m, EMBER_PORTAL_EVENT_RESOURCE_UPDATED,
                                 EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
      if (convert_resource (r, &m.u.resource, NULL))
        session_send (gw, &m);
    }
  /* Remember what was told, for the next change. */
  g_hash_table_iter_init (&it, srv->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Authz *a = v;
      const CachedFrame *f = g_hash_table_lookup (srv->frames, a->resource_id);
      guint64 *last = g_hash_table_lookup (srv->resource_digests, a->resource_id);
      if (f != NULL && last != NULL)
        *last = f->digest;
    }
}

void
fanout_reevaluate (EmberPortalServer *srv)
{
  gint64 start_us = g_get_monotonic_time (), start_cpu = thread_cpu_us ();
  guint64 sent_before = srv->stats.messages_sent_total;
  ember_portal_io_hold (srv->io);
  gint64 now = server_unix_now ();
  srv->last_minute = now / 60;
  /* Authorizations first: a client told its resource is gone should not
   * still be able to reach it through a gateway. */
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, srv->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Authz *a = v;
      if (!ember_store_access_allows (srv->access, a->client_name, a->resource_id, now, a->source))
        {
          authorize_reject (srv, a);
          g_hash_table_iter_remove (&it);
        }
    }
  update_gateways (srv);
  GHashTableIter ci;
  guint n = 0;
  g_hash_table_iter_init (&ci, srv->clients);
  while (g_hash_table_iter_next (&ci, NULL, &v))
    {
      update_client (v);
      if (++n % FANOUT_CHUNK == 0)
        {
          ember_portal_io_flush (srv->io);
          ember_portal_io_hold (srv->io);
        }
    }
  ember_portal_io_flush (srv->io);
  g_info ("fan-out: %u clients evaluated, %" G_GUINT64_FORMAT " frames queued in %.1f ms "
          "(%.1f ms CPU)",
          n, srv->stats.messages_sent_total - sent_before,
          (double) (g_get_monotonic_time () - start_us) / 1000,
          (double) (thread_cpu_us () - start_cpu) / 1000);
}

static void
close_sessions (EmberPortalServer *srv, gboolean by_token, const char *id,
                EmberPortalDisconnectReason reason)
{
  GList *next = NULL;
  for (GList *l = srv->sessions.head; l != NULL; l = next)
    {
      next = l->next;
      Session *s = l->data;
      if (s->closing)
        continue;
      const char *have = by_token ? s->token_id : s->device_id;
      if (g_strcmp0 (have, id) != 0)
        continue;
      srv->stats.sessions_closed_revoked_total++;
      session_disconnect (s, reason);
      server_unregister (srv, s);
    }
}

void
fanout_poll (EmberPortalServer *srv)
{
  gint64 latest = 0;
  g_autoptr (GError) error = NULL;
  if (!ember_store_latest_change (srv->store, &latest, &error))
    {
      g_warning ("changes: %s", error->message);
      return;
    }
  gboolean model = FALSE;
  gint64 start = srv->last_change_id;
  while (latest > srv->last_change_id)
    {
      g_autoptr (GPtrArray) rows = ember_store_changes_after (srv->store, srv->last_change_id,
                                                              CHANGES_BATCH, &error);
      if (rows == NULL)
        {
          g_warning ("changes after %" G_GINT64_FORMAT ": %s", srv->last_change_id,
                     error->message);
          return;
        }
      if (rows->len == 0)
        break;
      for (guint i = 0; i < rows->len; i++)
        {
          const EmberStoreChange *c = g_ptr_array_index (rows, i);
          srv->last_change_id = c->id;
          srv->stats.changes_total++;
          gboolean gone = strcmp (c->verb, "deleted") == 0;
          if (strcmp (c->kind, "token") == 0 && (gone || strcmp (c->verb, "revoked") == 0))
            {
              /* The flows too: a revoked device must not keep its
               * access through a gateway until the authorization expires. */
              authorize_token_revoked (srv, c->object_id);
              close_sessions (srv, TRUE, c->object_id, EMBER_PORTAL_DISCONNECT_TOKEN_REVOKED);
            }
          else if ((strcmp (c->kind, "client") == 0 || strcmp (c->kind, "gateway") == 0) && gone)
            {
              close_sessions (srv, FALSE, c->object_id, EMBER_PORTAL_DISCONNECT_DEVICE_REMOVED);
              model = TRUE;
            }
          else if (strcmp (c->kind, "site") == 0 || strcmp (c->kind, "resource") == 0
                   || strcmp (c->kind, "group") == 0 || strcmp (c->kind, "policy") == 0
                   || (strcmp (c->kind, "client") == 0 && strcmp (c->verb, "created") == 0))
            model = TRUE;
        }
    }
  if (model)
    {
      if (!load_access (srv, &error))
        {
          /* Read the batch again next time: closing sessions twice is
           * harmless, a lost policy change is not. */
          g_warning ("access snapshot: %s", error->message);
          srv->last_change_id = start;
          return;
        }
      fanout_reevaluate (srv);
    }
  else if (server_unix_now () / 60 != srv->last_minute)
    fanout_reevaluate (srv);
}
