/* relay/server/allocation.c — the allocation table (RFC 8656 §5): one
 * allocation per client 5-tuple, its relayed port(s), permissions (§9)
 * and channel bindings (§12), and their expiry. Ports are drawn from the
 * configured range starting at a random offset (RFC 8656 §7.2 asks for
 * unpredictable ports; RFC 6056). */
#include "server-private.h"

RelayAllocation *
relay_allocation_find (EmberRelayServer *s, guint listener, const EmberAddr *client)
{
  RelayClientKey key;
  memset (&key, 0, sizeof key);
  key.listener = listener;
  key.addr.family = client->family;
  key.addr.port = client->port;
  memcpy (key.addr.addr, client->addr, relay_addr_len (client));
  return g_hash_table_lookup (s->by_client, &key);
}

static inline guint
port_key (guint8 family, guint16 port)
{
  return (guint) family << 16 | port;
}

RelayAllocation *
relay_allocation_by_port (EmberRelayServer *s, guint8 family, guint16 port)
{
  return g_hash_table_lookup (s->by_port, GUINT_TO_POINTER (port_key (family, port)));
}

static guint16
pick_port (EmberRelayServer *s, guint8 family, gboolean even)
{
  guint lo = s->config.port_min, hi = s->config.port_max;
  guint span = hi - lo + 1;
  guint32 r = 0;
  s->config.rng (s->config.rng_data, (guint8 *) &r, sizeof r);
  for (guint i = 0; i < span; i++)
    {
      guint port = lo + (r + i) % span;
      if (even && (port & 1) != 0)
        continue;
      if (!g_hash_table_contains (s->by_port, GUINT_TO_POINTER (port_key (family, (guint16) port))))
        return (guint16) port;
    }
  return 0;
}

guint
relay_allocation_user_count (EmberRelayServer *s, const char *username)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (s->per_user, username));
}

RelayAllocation *
relay_allocation_create (EmberRelayServer *s, guint listener, const EmberAddr *client,
                         const char *username, const guint8 *key, gboolean want4,
                         gboolean want6, gboolean even_port)
{
  guint16 p4 = 0, p6 = 0;
  if (want4 && (p4 = pick_port (s, EMBER_ADDR_IPV4, even_port)) == 0)
    return NULL;
  if (want6 && (p6 = pick_port (s, EMBER_ADDR_IPV6, even_port)) == 0)
    return NULL;

  RelayAllocation *a = g_new0 (RelayAllocation, 1);
  a->client.listener = listener;
  a->client.addr.family = client->family;
  a->client.addr.port = client->port;
  memcpy (a->client.addr.addr, client->addr, relay_addr_len (client));
  a->username = g_strdup (username);
  memcpy (a->key, key, RELAY_KEY_LEN);
  a->port4 = p4;
  a->port6 = p6;
  g_hash_table_insert (s->by_client, &a->client, a);
  if (p4 != 0)
    {
      g_hash_table_insert (s->by_port, GUINT_TO_POINTER (port_key (EMBER_ADDR_IPV4, p4)), a);
      relay_out_control (s, EMBER_RELAY_CMD_CREATE_ALLOCATION, EMBER_ADDR_IPV4, p4);
    }
  if (p6 != 0)
    {
      g_hash_table_insert (s->by_port, GUINT_TO_POINTER (port_key (EMBER_ADDR_IPV6, p6)), a);
      relay_out_control (s, EMBER_RELAY_CMD_CREATE_ALLOCATION, EMBER_ADDR_IPV6, p6);
    }
  g_hash_table_insert (s->per_user, g_strdup (username),
                       GUINT_TO_POINTER (relay_allocation_user_count (s, username) + 1));
  s->stats.allocations++;
  s->stats.allocations_created++;
  return a;
}

static void
allocation_release (EmberRelayServer *s, RelayAllocation *a, gboolean emit)
{
  if (emit && a->channels != NULL)
    for (guint i = 0; i < a->channels->len; i++)
      relay_channel_unannounce (s, a, &g_array_index (a->channels, RelayChannel, i));
  if (a->port4 != 0)
    {
      g_hash_table_remove (s->by_port, GUINT_TO_POINTER (port_key (EMBER_ADDR_IPV4, a->port4)));
      if (emit)
        relay_out_control (s, EMBER_RELAY_CMD_FREE_ALLOCATION, EMBER_ADDR_IPV4, a->port4);
    }
  if (a->port6 != 0)
    {
      g_hash_table_remove (s->by_port, GUINT_TO_POINTER (port_key (EMBER_ADDR_IPV6, a->port6)));
      if (emit)
        relay_out_control (s, EMBER_RELAY_CMD_FREE_ALLOCATION, EMBER_ADDR_IPV6, a->port6);
    }
  guint n = relay_allocation_user_count (s, a->username);
  if (n <= 1)
    g_hash_table_remove (s->per_user, a->username);
  else
    g_hash_table_insert (s->per_user, g_strdup (a->username), GUINT_TO_POINTER (n - 1));
  s->stats.permissions -= a->permissions ? a->permissions->len : 0;
  if (a->channels != NULL)
    for (guint i = 0; i < a->channels->len; i++)
      if (!g_array_index (a->channels, RelayChannel, i).lapsed)
        s->stats.channels--;
  s->stats.allocations--;
}

static void
allocation_free (RelayAllocation *a)
{
  g_free (a->username);
  if (a->permissions)
    g_array_unref (a->permissions);
  if (a->channels)
    g_array_unref (a->channels);
  memset (a->key, 0, sizeof a->key);
  g_free (a);
}

void
relay_allocation_destroy (EmberRelayServer *s, RelayAllocation *a)
{
  allocation_release (s, a, TRUE);
  g_hash_table_steal (s->by_client, &a->client);
  allocation_free (a);
}

void
relay_allocation_free_all (EmberRelayServer *s)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, s->by_client);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      allocation_release (s, v, FALSE);
      g_hash_table_iter_steal (&it);
      allocation_free (v);
    }
}

void
ember_relay_server_allocation_failed (EmberRelayServer *s, guint8 family, guint16 port)
{
  RelayAllocation *a = relay_allocation_by_port (s, family, port);
  if (a != NULL)
    relay_allocation_destroy (s, a);
}

/* ---- permissions ---------------------------------------------------- */

gboolean
relay_permission_active (const RelayAllocation *a, gint64 now, const EmberAddr *peer)
{
  if (a->permissions == NULL)
    return FALSE;
  for (guint i = 0; i < a->permissions->len; i++)
    {
      const RelayPermission *p = &g_array_index (a->permissions, RelayPermission, i);
      if (p->expires > now && relay_addr_ip_equal (&p->peer, peer))
        return TRUE;
    }
  return FALSE;
}

gint64
relay_permission_expiry (const RelayAllocation *a, gint64 now, const EmberAddr *peer)
{
  if (a->permissions == NULL)
    return 0;
  for (guint i = 0; i < a->permissions->len; i++)
    {
      const RelayPermission *p = &g_array_index (a->permissions, RelayPermission, i);
      if (p->expires > now && relay_addr_ip_equal (&p->peer, peer))
        return p->expires;
    }
  return 0;
}

gboolean
relay_permission_install (EmberRelayServer *s, RelayAllocation *a, gint64 now,
                          const EmberAddr *peer)
{
  gint64 expires = now + (gint64) EMBER_TURN_PERMISSION_LIFETIME * G_USEC_PER_SEC;
  if (a->permissions == NULL)
    a->permissions = g_array_sized_new (FALSE, TRUE, sizeof (RelayPermission), 2);
  for (guint i = 0; i < a->permissions->len; i++)
    {
      RelayPermission *p = &g_array_index (a->permissions, RelayPermission, i);
      if (relay_addr_ip_equal (&p->peer, peer))
        {
          p->expires = expires;
          return TRUE;
        }
    }
  if (a->permissions->len >= s->config.max_permissions)
    return FALSE;
  RelayPermission p = { 0 };
  p.peer.family = peer->family;
  memcpy (p.peer.addr, peer->addr, relay_addr_len (peer));
  p.expires = expires;
  g_array_append_val (a->permissions, p);
  s->stats.permissions++;
  relay_note_deadline (s, expires);
  return TRUE;
}

/* ---- channels ------------------------------------------------------- */

RelayChannel *
relay_channel_by_number (const RelayAllocation *a, guint16 number)
{
  if (a->channels == NULL)
    return NULL;
  for (guint i = 0; i < a->channels->len; i++)
    {
      RelayChannel *c = &g_array_index (a->channels, RelayChannel, i);
      if (c->number == number)
        return c;
    }
  return NULL;
}

RelayChannel *
relay_channel_by_peer (const RelayAllocation *a, const EmberAddr *peer)
{
  if (a->channels == NULL)
    return NULL;
  for (guint i = 0; i < a->channels->len; i++)
    {
      RelayChannel *c = &g_array_index (a->channels, RelayChannel, i);
      if (relay_addr_equal (&c->peer, peer))
        return c;
    }
  return NULL;
}

RelayChannel *
relay_channel_add (EmberRelayServer *s, RelayAllocation *a, guint16 number, const EmberAddr *peer)
{
  if (a->channels == NULL)
    a->channels = g_array_sized_new (FALSE, TRUE, sizeof (RelayChannel), 2);
  if (a->channels->len >= s->config.max_channels)
    return NULL;
  RelayChannel c = { 0 };
  c.number = number;
  c.peer.family = peer->family;
  c.peer.port = peer->port;
  memcpy (c.peer.addr, peer->addr, relay_addr_len (peer));
  g_array_append_val (a->channels, c);
  s->stats.channels++;
  return &g_array_index (a->channels, RelayChannel, a->channels->len - 1);
}

/* ---- expiry --------------------------------------------------------- */

static gint64
expire_one (EmberRelayServer *s, RelayAllocation *a, gint64 now)
{
  gint64 next = a->expires;
  if (a->permissions != NULL)
    for (guint i = a->permissions->len; i-- > 0;)
      {
        RelayPermission *p = &g_array_index (a->permissions, RelayPermission, i);
        if (p->expires <= now)
          {
            /* Its channels may not relay any more (RFC 8656 §12). */
            if (a->channels != NULL)
              for (guint k = 0; k < a->channels->len; k++)
                {
                  RelayChannel *c = &g_array_index (a->channels, RelayChannel, k);
                  if (relay_addr_ip_equal (&c->peer, &p->peer))
                    relay_channel_unannounce (s, a, c);
                }
            g_array_remove_index_fast (a->permissions, i);
            s->stats.permissions--;
          }
        else
          next = MIN (next, p->expires);
      }
  if (a->channels != NULL)
    for (guint i = a->channels->len; i-- > 0;)
      {
        RelayChannel *c = &g_array_index (a->channels, RelayChannel, i);
        if (!c->lapsed && c->expires <= now)
          {
            /* The binding is gone, but its number and peer stay reserved
             * for the reuse guard (RFC 8656 §12). */
            c->lapsed = TRUE;
            s->stats.channels--;
            relay_channel_unannounce (s, a, c);
          }
        gint64 until = c->lapsed ? c->expires + (gint64) EMBER_TURN_CHANNEL_REUSE_GUARD * G_USEC_PER_SEC
                                 : c->expires;
        if (c->lapsed && until <= now)
          g_array_remove_index_fast (a->channels, i);
        else
          next = MIN (next, until);
      }
  return next;
}

void
relay_allocations_expire (EmberRelayServer *s, gint64 now)
{
  gint64 next = G_MAXINT64;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, s->by_client);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      RelayAllocation *a = v;
      if (a->expires <= now)
        {
          allocation_release (s, a, TRUE);
          g_hash_table_iter_steal (&it);
          allocation_free (a);
          continue;
        }
      next = MIN (next, expire_one (s, a, now));
    }
  s->next_deadline = next;
}
