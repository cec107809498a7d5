/* ember-portal/relays.c — see relays.h. */
#include "relays.h"

#include "stun/message.h"

#include <gnutls/crypto.h>
#include <string.h>

typedef struct {
  GSocketAddress **addrs;   /* parsed config->addresses */
  guint n_addrs;
  gboolean up;
  gint64 last_reply_us;     /* monotonic; 0: never */
  guint8 txid[EMBER_STUN_TRANSACTION_ID_LEN];  /* of the probe in flight */
} Relay;

struct _EmberPortalRelays {
  const EmberPortalServeConfig *config;
  Relay *relays;
  guint n;
  EmberPortalRelaysChangedFunc changed;
  gpointer user_data;
  GSocket *sock4, *sock6;
  GSource *src4, *src6;
  guint timer;
};

void
ember_portal_relay_credentials (GBytes *secret, gint64 expires_unix, const char *id,
                                char **username, char **password)
{
  char *user = g_strdup_printf ("%" G_GINT64_FORMAT ":%s", expires_unix, id);
  gsize len = 0;
  const guint8 *key = g_bytes_get_data (secret, &len);
  guint8 mac[20];
  if (gnutls_hmac_fast (GNUTLS_MAC_SHA1, key, len, user, strlen (user), mac) < 0)
    memset (mac, 0, sizeof mac); /* a credential the relay refuses, never a crash */
  *password = g_base64_encode (mac, sizeof mac);
  gnutls_memset (mac, 0, sizeof mac);
  *username = user;
}

guint
ember_portal_relays_count (const EmberPortalRelays *r)
{
  return r->n;
}

guint
ember_portal_relays_up_count (const EmberPortalRelays *r)
{
  guint n = 0;
  for (guint i = 0; i < r->n; i++)
    n += r->relays[i].up ? 1 : 0;
  return n;
}

gboolean
ember_portal_relays_is_up (const EmberPortalRelays *r, guint i)
{
  return i < r->n && r->relays[i].up;
}

const EmberPortalRelayConfig *
ember_portal_relays_get (const EmberPortalRelays *r, guint i)
{
  return i < r->n ? &r->config->relays[i] : NULL;
}

static void
report (EmberPortalRelays *r, gint down, gint up)
{
  gint d[2] = { down, -1 }, u[2] = { up, -1 };
  if (r->changed != NULL)
    r->changed (r->user_data, d, u);
}

static void
send_probes (EmberPortalRelays *r)
{
  for (guint i = 0; i < r->n; i++)
    {
      Relay *relay = &r->relays[i];
      /* The relay's index first, so an answer finds its relay without a
       * search; the rest random, so a stray datagram cannot pass. */
      relay->txid[0] = (guint8) (i >> 24);
      relay->txid[1] = (guint8) (i >> 16);
      relay->txid[2] = (guint8) (i >> 8);
      relay->txid[3] = (guint8) i;
      if (gnutls_rnd (GNUTLS_RND_NONCE, relay->txid + 4, sizeof relay->txid - 4) < 0)
        for (guint k = 4; k < sizeof relay->txid; k++)
          relay->txid[k] = (guint8) g_random_int ();
      guint8 buf[64];
      EmberStunBuilder b;
      ember_stun_builder_init (&b, buf, sizeof buf, EMBER_STUN_METHOD_BINDING,
                               EMBER_STUN_CLASS_REQUEST, relay->txid);
      ember_stun_builder_add_fingerprint (&b);
      gsize len = ember_stun_builder_finish (&b, NULL);
      for (guint a = 0; a < relay->n_addrs && len > 0; a++)
        {
          GSocket *s = g_socket_address_get_family (relay->addrs[a]) == G_SOCKET_FAMILY_IPV4
                         ? r->sock4 : r->sock6;
          if (s == NULL)
            continue;
          g_autoptr (GError) error = NULL;
          /* Unreachable or refused: the missing answer says it. */
          if (g_socket_send_to (s, relay->addrs[a], (const char *) buf, len, NULL, &error) < 0)
            g_debug ("relay %s: probe: %s", r->config->relays[i].name, error->message);
        }
    }
}

static gboolean
on_tick (gpointer user_data)
{
  EmberPortalRelays *r = user_data;
  gint64 now = g_get_monotonic_time ();
  gint64 limit = r->config->relay_probe_us * 5 / 2;
  for (guint i = 0; i < r->n; i++)
    if (r->relays[i].up && now - r->relays[i].last_reply_us > limit)
      {
        r->relays[i].up = FALSE;
        g_warning ("relay %s: no answer to STUN Binding for %.1f s: down",
                   r->config->relays[i].name, (double) (now - r->relays[i].last_reply_us) / 1e6);
        report (r, (gint) i, -1);
      }
  send_probes (r);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_readable (GSocket *sock, GIOCondition cond, gpointer user_data)
{
  (void) cond;
  EmberPortalRelays *r = user_data;
  /* Bounded: a burst of datagrams is read in several turns of the loop. */
  for (int k = 0; k < 64; k++)
    {
      guint8 buf[1500];
      gssize n = g_socket_receive_from (sock, NULL, (char *) buf, sizeof buf, NULL, NULL);
      if (n < 0)
        break; /* would block, or an ICMP error reported as ECONNREFUSED */
      EmberStunMessage msg;
      if (ember_stun_message_parse (&msg, buf, (gsize) n) != EMBER_STUN_OK
          || msg.method != EMBER_STUN_METHOD_BINDING
          || (msg.klass != EMBER_STUN_CLASS_SUCCESS && msg.klass != EMBER_STUN_CLASS_ERROR))
        continue;
      guint i = (guint) msg.transaction_id[0] << 24 | (guint) msg.transaction_id[1] << 16
                | (guint) msg.transaction_id[2] << 8 | msg.transaction_id[3];
      if (i >= r->n || memcmp (msg.transaction_id, r->relays[i].txid, sizeof r->relays[i].txid) != 0)
        continue;
      Relay *relay = &r->relays[i];
      relay->last_reply_us = g_get_monotonic_time ();
      if (!relay->up)
        {
          relay->up = TRUE;
          g_info ("relay %s: answers STUN Binding: up", r->config->relays[i].name);
          report (r, -1, (gint) i);
        }
    }
  return G_SOURCE_CONTINUE;
}

static GSocket *
open_socket (EmberPortalRelays *r, GSocketFamily family, GSource **src, GError **error)
{
  g_autoptr (GSocket) s = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP,
                                        error);
  if (s == NULL)
    return NULL;
  g_socket_set_blocking (s, FALSE);
  g_autoptr (GInetAddress) any = g_inet_address_new_any (family);
  g_autoptr (GSocketAddress) sa = g_inet_socket_address_new (any, 0);
  if (!g_socket_bind (s, sa, FALSE, error))
    return NULL;
  *src = g_socket_create_source (s, G_IO_IN, NULL);
  g_source_set_callback (*src, G_SOURCE_FUNC (on_readable), r, NULL);
  g_source_attach (*src, NULL);
  return g_steal_pointer (&s);
}

EmberPortalRelays *
ember_portal_relays_new (const EmberPortalServeConfig *config,
                         EmberPortalRelaysChangedFunc changed, gpointer user_data, GError **error)
{
  g_autoptr (EmberPortalRelays) r = g_new0 (EmberPortalRelays, 1);
  r->config = config;
  r->changed = changed;
  r->user_data = user_data;
  r->n = config->n_relays;
  r->relays = g_new0 (Relay, MAX (r->n, 1));
  gboolean need4 = FALSE, need6 = FALSE;
  for (guint i = 0; i < r->n; i++)
    {
      const EmberPortalRelayConfig *rc = &config->relays[i];
      Relay *relay = &r->relays[i];
      relay->n_addrs = g_strv_length (rc->addresses);
      relay->addrs = g_new0 (GSocketAddress *, relay->n_addrs);
      for (guint a = 0; a < relay->n_addrs; a++)
        {
          g_autofree char *what = g_strdup_printf ("[relay %s] address", rc->name);
          GInetSocketAddress *sa = ember_portal_parse_listen (rc->addresses[a], what, error);
          if (sa == NULL)
            return NULL;
          relay->addrs[a] = G_SOCKET_ADDRESS (sa);
          if (g_socket_address_get_family (relay->addrs[a]) == G_SOCKET_FAMILY_IPV4)
            need4 = TRUE;
          else
            need6 = TRUE;
        }
    }
  if (need4 && (r->sock4 = open_socket (r, G_SOCKET_FAMILY_IPV4, &r->src4, error)) == NULL)
    return NULL;
  if (need6 && (r->sock6 = open_socket (r, G_SOCKET_FAMILY_IPV6, &r->src6, error)) == NULL)
    return NULL;
  if (r->n > 0)
    {
      send_probes (r);
      r->timer = g_timeout_add ((guint) MAX (1, r->config->relay_probe_us / 1000), on_tick, r);
    }
  return g_steal_pointer (&r);
}

void
ember_portal_relays_free (EmberPortalRelays *r)
{
  if (r == NULL)
    return;
  if (r->timer != 0)
    g_source_remove (r->timer);
  for (guint i = 0; i < r->n; i++)
    {
      for (guint a = 0; a < r->relays[i].n_addrs; a++)
        g_clear_object (&r->relays[i].addrs[a]);
      g_free (r->relays[i].addrs);
    }
  g_free (r->relays);
  if (r->src4 != NULL)
    g_source_destroy (r->src4);
  if (r->src6 != NULL)
    g_source_destroy (r->src6);
  g_clear_pointer (&r->src4, g_source_unref);
  g_clear_pointer (&r->src6, g_source_unref);
  g_clear_object (&r->sock4);
  g_clear_object (&r->sock6);
  g_free (r);
}
