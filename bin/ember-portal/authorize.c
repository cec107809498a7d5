/* ember-portal/authorize.c — the authorization flow between a client and
 * a gateway, and the ICE candidates they exchange through the portal.
 *
 *   client  request_authorization {resource_id, connected_gateway_ids}
 *   portal  checks the policy, picks a connected gateway of the
 *           resource's site (one the client already uses first, else a
 *           random one), makes a preshared key and both sides' ICE
 *           credentials, and sends the gateway authorize_flow with a
 *           signed ref
 *   gateway authorization_created {ref}
 *   portal  authorization_created to the client
 *
 * A failure is authorization_creation_failed {resource_id, reason}:
 * not_found, forbidden, offline (also when the chosen gateway leaves or
 * does not answer in time). Candidates travel only between a client and
 * a gateway that share a pending or active authorization.
 *
 * Active authorizations are kept in the store as well (store.h) and
 * loaded again at start, so a restarted portal re-hands them in the
 * gateway's init and a policy change after the restart still revokes
 * them: a portal restart never ends a flow by itself. Pending ones are
 * not kept (their ref is signed with a key of this run); the client asks
 * again. */
#include "serve-private.h"

#include <gnutls/crypto.h>
#include <string.h>

/* How long a gateway has to answer authorize_flow. */
#define PENDING_TIMEOUT_US (15 * G_USEC_PER_SEC)
/* An authorization lasts a day, or until the client's token expires. */
#define AUTHZ_LIFETIME_S (24 * 3600)

void
authz_free (Authz *a)
{
  if (a == NULL)
    return;
  g_free (a->nonce);
  g_free (a->client_id);
  g_free (a->gateway_id);
  g_free (a->resource_id);
  g_free (a->client_ref);
  g_free (a->client_name);
  g_free (a->token_id);
  g_clear_object (&a->source);
  gnutls_memset (&a->psk, 0, sizeof a->psk);
  gnutls_memset (&a->client_ice, 0, sizeof a->client_ice);
  gnutls_memset (&a->gateway_ice, 0, sizeof a->gateway_ice);
  g_free (a);
}

static char *
authz_key (const Authz *a)
{
  return g_strdup_printf ("%s|%s|%s", a->client_id, a->resource_id, a->gateway_id);
}

/* ---- the store's copy -------------------------------------------------------- */

/* A failed write is logged and the flow goes on: the authorization works
 * as before, only a restart before it expires would forget it. */
static void
authz_store (EmberPortalServer *srv, const Authz *a)
{
  char pk[EMBER_PORTAL_KEY_B64_LEN + 1], psk[EMBER_PORTAL_KEY_B64_LEN + 1];
  g_autofree char *source = a->source != NULL ? g_inet_address_to_string (a->source) : NULL;
  ember_portal_key_to_base64 (&a->client.public_key, pk);
  ember_portal_key_to_base64 (&a->psk, psk);
  EmberStoreAuthorization row = {
    .client_id = a->client_id, .resource_id = a->resource_id, .gateway_id = a->gateway_id,
    .client_public_key = pk, .preshared_key = psk,
    .client_ufrag = (char *) a->client_ice.ufrag, .client_pwd = (char *) a->client_ice.pwd,
    .gateway_ufrag = (char *) a->gateway_ice.ufrag, .gateway_pwd = (char *) a->gateway_ice.pwd,
    .source = source, .token_id = a->token_id, .expires_at = a->expires_at,
  };
  g_autoptr (GError) error = NULL;
  if (!ember_store_authorization_put (srv->store, &row, &error))
    g_warning ("authorization of client %s for resource %s: not stored: %s", a->client_name,
               a->resource_id, error->message);
  gnutls_memset (psk, 0, sizeof psk);
}

static void
authz_unstore (EmberPortalServer *srv, const Authz *a)
{
  g_autoptr (GError) error = NULL;
  if (!ember_store_authorization_delete (srv->store, a->client_id, a->resource_id, a->gateway_id,
                                         &error))
    g_warning ("authorization of client %s for resource %s: not removed from the store: %s",
               a->client_name, a->resource_id, error->message);
}

static gboolean
ice_from_store (const char *ufrag, const char *pwd, EmberPortalIceCredentials *out)
{
  return ufrag != NULL && pwd != NULL && g_strlcpy (out->ufrag, ufrag, sizeof out->ufrag) < sizeof out->ufrag
         && g_strlcpy (out->pwd, pwd, sizeof out->pwd) < sizeof out->pwd;
}

/* One stored row as an active authorization; NULL (with why) when it no
 * longer fits: the client is gone or a value does not parse. */
static Authz *
authz_from_store (EmberPortalServer *srv, const EmberStoreAuthorization *row, GError **error)
{
  g_autoptr (EmberStoreClient) client = ember_store_client_get (srv->store, row->client_id, error);
  if (client == NULL)
    return NULL;
  Authz *a = g_new0 (Authz, 1);
  a->active = TRUE;
  a->client_id = g_strdup (row->client_id);
  a->gateway_id = g_strdup (row->gateway_id);
  a->resource_id = g_strdup (row->resource_id);
  a->client_name = g_strdup (client->name);
  a->token_id = g_strdup (row->token_id);
  a->expires_at = row->expires_at;
  if (row->source != NULL)
    a->source = g_inet_address_new_from_string (row->source);
  if (!ember_portal_id_parse (row->client_id, &a->client.id, "client_id", error)
      || !ember_portal_key_parse (row->client_public_key, &a->client.public_key,
                                  "client_public_key", error)
      || !ember_portal_key_parse (row->preshared_key, &a->psk, "preshared_key", error)
      || !convert_tunnel (client->ipv4, client->ipv6, &a->client.tunnel, error))
    {
      authz_free (a);
      return NULL;
    }
  if (!ice_from_store (row->client_ufrag, row->client_pwd, &a->client_ice)
      || !ice_from_store (row->gateway_ufrag, row->gateway_pwd, &a->gateway_ice)
      || (row->source != NULL && a->source == NULL))
    {
      g_set_error (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                   "ICE credentials or source address do not parse");
      authz_free (a);
      return NULL;
    }
  return a;
}

gboolean
authorize_load (EmberPortalServer *srv, GError **error)
{
  gint64 now = server_unix_now ();
  gint64 expired = 0;
  if (!ember_store_authorizations_expire (srv->store, now, &expired, error))
    return FALSE;
  g_autoptr (GPtrArray) rows = ember_store_list_authorizations (srv->store, now, error);
  if (rows == NULL)
    return FALSE;
  guint kept = 0, dropped = 0;
  for (guint i = 0; i < rows->len; i++)
    {
      const EmberStoreAuthorization *row = g_ptr_array_index (rows, i);
      g_autoptr (GError) local = NULL;
      Authz *a = authz_from_store (srv, row, &local);
      if (a != NULL && srv->access != NULL
          && !ember_store_access_allows (srv->access, a->client_name, a->resource_id, now,
                                         a->source))
        g_set_error (&local, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                     "no policy allows it any more");
      if (a != NULL && local == NULL && a->token_id != NULL)
        {
          /* Revoked while the portal was down: the change row is older
           * than this run, fanout never sees it. */
          g_autoptr (EmberStoreToken) token = ember_store_token_get (srv->store, a->token_id, NULL);
          if (token == NULL || token->revoked_at != 0
              || (token->expires_at != 0 && token->expires_at <= now))
            g_set_error (&local, EMBER_STORE_ERROR, EMBER_STORE_ERROR_INVALID,
                         "the client's token is gone, revoked or expired");
        }
      if (local != NULL)
        {
          /* Changed while the portal was down: the gateway's init will
           * not list it, which ends it there. */
          g_info ("stored authorization of client %s for resource %s through gateway %s "
                  "dropped: %s",
                  row->client_id, row->resource_id, row->gateway_id, local->message);
          g_clear_pointer (&a, authz_free);
          ember_store_authorization_delete (srv->store, row->client_id, row->resource_id,
                                            row->gateway_id, NULL);
          dropped++;
          continue;
        }
      g_hash_table_replace (srv->authorizations, authz_key (a), a);
      kept++;
    }
  g_info ("authorizations: %u loaded from the store, %u dropped, %" G_GINT64_FORMAT " expired",
          kept, dropped, expired);
  return TRUE;
}

/* An active authorization of the same client and gateway: the pair's
 * credentials, handed out again (docs/tunnel.md, rule 2). */
static const Authz *
pair_authz (EmberPortalServer *srv, const char *client_id, const char *gateway_id,
            const EmberPortalKey *client_key, gint64 now)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, srv->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      const Authz *a = v;
      if (a->expires_at > now && strcmp (a->client_id, client_id) == 0
          && strcmp (a->gateway_id, gateway_id) == 0
          && memcmp (a->client.public_key.bytes, client_key->bytes, sizeof client_key->bytes) == 0)
        return a;
    }
  return NULL;
}

/* ---- refs ------------------------------------------------------------------ */

static void
ref_mac (EmberPortalServer *srv, const Authz *a, char out[65])
{
  g_autofree char *data = g_strdup_printf ("%s|%" G_GINT64_FORMAT "|%s|%s|%s", a->nonce,
                                           a->expires_at, a->gateway_id, a->client_id,
                                           a->resource_id);
  guint8 mac[32];
  if (gnutls_hmac_fast (GNUTLS_MAC_SHA256, srv->ref_key, sizeof srv->ref_key, data,
                        strlen (data), mac) < 0)
    server_random (mac, sizeof mac); /* a ref nobody can match */
  for (guint i = 0; i < 32; i++)
    g_snprintf (out + 2 * i, 3, "%02x", mac[i]);
}

static char *
ref_make (EmberPortalServer *srv, const Authz *a)
{
  char mac[65];
  ref_mac (srv, a, mac);
  return g_strdup_printf ("%s.%" G_GINT64_FORMAT ".%s", a->nonce, a->expires_at, mac);
}

/* The pending authorization a ref names, if its signature holds. */
static Authz *
ref_check (EmberPortalServer *srv, const char *ref)
{
  const char *dot = ref != NULL ? strchr (ref, '.') : NULL;
  if (dot == NULL)
    return NULL;
  g_autofree char *nonce = g_strndup (ref, (gsize) (dot - ref));
  Authz *a = g_hash_table_lookup (srv->pending, nonce);
  if (a == NULL)
    return NULL;
  g_autofree char *expect = ref_make (srv, a);
  gsize n = strlen (expect);
  if (strlen (ref) != n || gnutls_memcmp (expect, ref, n) != 0)
    return NULL;
  return a;
}

static void
random_ice_chars (char *out, guint n)
{
  /* RFC 8445 §5.3 / RFC 8839 ice-char: ALPHA / DIGIT / "+" / "/". */
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  guint8 r[64];
  g_assert (n <= sizeof r);
  server_random (r, n);
  for (guint i = 0; i < n; i++)
    out[i] = alphabet[r[i] & 63];
  out[n] = '\0';
}

static void
new_ice (EmberPortalIceCredentials *c)
{
  random_ice_chars (c->ufrag, 8);
  random_ice_chars (c->pwd, 24);
}

/* ---- messages -------------------------------------------------------------- */

static void
send_failed (Session *client, const EmberPortalId *resource_id, EmberPortalAuthzFailure reason)
{
  EmberPortalServer *srv = client->server;
  srv->stats.authorization_failures_total[reason]++;
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED,
                             EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  m.u.authorization_failed.resource_id = *resource_id;
  m.u.authorization_failed.reason = reason;
  session_send (client, &m);
  g_info ("client %s: authorization for resource %s failed: %s", client->device_name,
          resource_id->str, ember_portal_authz_failure_to_string (reason));
}

static gboolean
peer_of_gateway (Session *gw, EmberPortalPeer *out)
{
  if (!ember_portal_id_parse (gw->device_id, &out->id, "gateway id", NULL))
    return FALSE;
  out->public_key = gw->public_key;
  out->tunnel = gw->tunnel;
  return TRUE;
}

static gboolean
resource_of (EmberPortalServer *srv, const char *id, EmberPortalResource *out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStoreResource) r = ember_store_resource_get (srv->store, id, &error);
  if (r == NULL || !convert_resource (r, out, &error))
    {
      g_debug ("resource %s: %s", id, error ? error->message : "?");
      return FALSE;
    }
  return TRUE;
}

void
authorize_request (Session *client, EmberPortalMessage *msg)
{
  EmberPortalServer *srv = client->server;
  const EmberPortalRequestAuthorization *req = &msg->u.request_authorization;
  srv->stats.authorizations_requested_total++;
  gint64 now = server_unix_now ();

  g_autoptr (GError) error = NULL;
  g_autoptr (EmberStoreResource) res = ember_store_resource_get (srv->store, req->resource_id.str,
                                                                 &error);
  if (res == NULL)
    {
      if (!g_error_matches (error, EMBER_STORE_ERROR, EMBER_STORE_ERROR_NOT_FOUND))
        g_warning ("resource %s: %s", req->resource_id.str, error->message);
      send_failed (client, &req->resource_id, EMBER_PORTAL_AUTHZ_NOT_FOUND);
      return;
    }
  if (srv->access == NULL
      || !ember_store_access_allows (srv->access, client->device_name, res->id, now,
                                     client->source))
    {
      send_failed (client, &req->resource_id, EMBER_PORTAL_AUTHZ_FORBIDDEN);
      return;
    }

  /* A gateway the client already has a connection to avoids a second
   * handshake; otherwise spread the load at random. */
  GPtrArray *gws = server_site_gateways (srv, res->site_id);
  Session *gw = NULL;
  gboolean connected = FALSE;
  for (guint i = 0; gws != NULL && i < req->n_connected_gateway_ids && gw == NULL; i++)
    for (guint k = 0; k < gws->len && gw == NULL; k++)
      {
        Session *cand = g_ptr_array_index (gws, k);
        if (strcmp (cand->device_id, req->connected_gateway_ids[i].str) == 0)
          gw = cand;
      }
  connected = gw != NULL;
  if (gw == NULL && gws != NULL && gws->len > 0)
    gw = g_ptr_array_index (gws, (guint) g_random_int_range (0, (gint32) gws->len));
  if (gw == NULL)
    {
      send_failed (client, &req->resource_id, EMBER_PORTAL_AUTHZ_OFFLINE);
      return;
    }

  Authz *a = g_new0 (Authz, 1);
  guint8 nonce[16];
  server_random (nonce, sizeof nonce);
  a->nonce = g_malloc (2 * sizeof nonce + 1);
  for (guint i = 0; i < sizeof nonce; i++)
    g_snprintf (a->nonce + 2 * i, 3, "%02x", nonce[i]);
  a->client_id = g_strdup (client->device_id);
  a->gateway_id = g_strdup (gw->device_id);
  a->resource_id = g_strdup (res->id);
  a->client_ref = g_strdup (msg->ref);
  a->client_name = g_strdup (client->device_name);
  a->token_id = g_strdup (client->token_id);
  a->source = client->source != NULL ? g_object_ref (client->source) : NULL;
  if (!ember_portal_id_parse (client->device_id, &a->client.id, "client id", NULL))
    {
      authz_free (a);
      send_failed (client, &req->resource_id, EMBER_PORTAL_AUTHZ_NOT_FOUND);
      return;
    }
  a->client.public_key = client->public_key;
  a->client.tunnel = client->tunnel;
  /* The client still has a connection to this gateway: the same
   * credentials keep it as it is (no ICE restart, no new handshake). */
  const Authz *pair = connected ? pair_authz (srv, a->client_id, a->gateway_id,
                                              &a->client.public_key, now)
                                : NULL;
  if (pair != NULL)
    {
      a->psk = pair->psk;
      a->client_ice = pair->client_ice;
      a->gateway_ice = pair->gateway_ice;
    }
  else
    {
      server_random (a->psk.bytes, sizeof a->psk.bytes);
      new_ice (&a->client_ice);
      new_ice (&a->gateway_ice);
    }
  a->expires_at = now + AUTHZ_LIFETIME_S;
  if (client->token_expires_at != 0)
    a->expires_at = MIN (a->expires_at, client->token_expires_at);
  a->pending_until_us = g_get_monotonic_time () + PENDING_TIMEOUT_US;

  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  EmberPortalAuthorizeFlow *f = &m.u.authorize_flow;
  if (!convert_resource (res, &f->resource, &error))
    {
      g_warning ("resource %s: %s", res->name, error->message);
      authz_free (a);
      send_failed (client, &req->resource_id, EMBER_PORTAL_AUTHZ_NOT_FOUND);
      return;
    }
  f->ref = ref_make (srv, a);
  f->client = a->client;
  f->preshared_key = a->psk;
  f->client_ice = a->client_ice;
  f->gateway_ice = a->gateway_ice;
  f->expires_at = a->expires_at;
  /* The names the client gave proxy addresses: the gateway checks them
   * against the resource's pattern (docs/portal-protocol.md). */
  f->dns_names = ember_portal_dns_names_copy (req->dns_names, req->n_dns_names);
  f->n_dns_names = f->dns_names != NULL ? req->n_dns_names : 0;
  g_hash_table_insert (srv->pending, a->nonce, a);
  if (!session_send (gw, &m))
    {
      g_hash_table_remove (srv->pending, a->nonce);
      send_failed (client, &req->resource_id, EMBER_PORTAL_AUTHZ_OFFLINE);
      return;
    }
  g_info ("client %s -> resource %s: authorize_flow to gateway %s", client->device_name,
          res->name, gw->device_name);
}

void
authorize_flow_authorized (Session *gw, EmberPortalMessage *msg)
{
  EmberPortalServer *srv = gw->server;
  Authz *a = ref_check (srv, msg->u.flow_authorized.ref);
  if (a == NULL || strcmp (a->gateway_id, gw->device_id) != 0)
    {
      srv->stats.bad_messages_total++;
      session_reply_error (gw, msg->ref, EMBER_PORTAL_REPLY_REASON_INVALID_PAYLOAD,
                           "ref: unknown, expired or not this gateway's");
      return;
    }
  g_hash_table_steal (srv->pending, a->nonce);
  if (msg->ref != NULL)
    session_reply_ok (gw, msg->ref);

  Session *client = g_hash_table_lookup (srv->clients, a->client_id);
  if (client == NULL)
    {
      /* The client left meanwhile: nothing to tell, nothing to keep. */
      authz_free (a);
      return;
    }
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED,
                             EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  EmberPortalAuthorizationCreated *c = &m.u.authorization_created;
  if (!ember_portal_id_parse (a->resource_id, &c->resource_id, "resource id", NULL)
      || !peer_of_gateway (gw, &c->gateway))
    {
      authz_free (a);
      return;
    }
  c->preshared_key = a->psk;
  c->client_ice = a->client_ice;
  c->gateway_ice = a->gateway_ice;
  c->expires_at = a->expires_at;
  a->active = TRUE;
  /* A renewed authorization replaces the older one of the same triple. */
  authz_store (srv, a);
  g_hash_table_replace (srv->authorizations, authz_key (a), a);
  srv->stats.authorizations_created_total++;
  session_send (client, &m);
  g_info ("client %s: authorized for resource %s through gateway %s", client->device_name,
          a->resource_id, gw->device_name);
}

/* Whether client and gateway share an authorization, pending or active. */
static gboolean
related (EmberPortalServer *srv, const char *client_id, const char *gateway_id)
{
  GHashTable *tables[] = { srv->pending, srv->authorizations };
  for (guint t = 0; t < G_N_ELEMENTS (tables); t++)
    {
      GHashTableIter it;
      gpointer v;
      g_hash_table_iter_init (&it, tables[t]);
      while (g_hash_table_iter_next (&it, NULL, &v))
        {
          Authz *a = v;
          if (strcmp (a->client_id, client_id) == 0 && strcmp (a->gateway_id, gateway_id) == 0)
            return TRUE;
        }
    }
  return FALSE;
}

static void
relay_candidates (Session *from, EmberPortalMessage *msg, GHashTable *peers,
                  EmberPortalChannel to_channel, EmberPortalEvent event)
{
  EmberPortalServer *srv = from->server;
  const EmberPortalIceBroadcast *b = &msg->u.ice_broadcast;
  gboolean from_client = from->channel == EMBER_PORTAL_CHANNEL_CLIENT;
  guint refused = 0;
  for (guint i = 0; i < b->n_peer_ids; i++)
    {
      const char *peer_id = b->peer_ids[i].str;
      Session *peer = g_hash_table_lookup (peers, peer_id);
      if (peer == NULL
          || !related (srv, from_client ? from->device_id : peer_id,
                       from_client ? peer_id : from->device_id))
        {
          refused++;
          continue;
        }
      g_auto (EmberPortalMessage) m;
      ember_portal_message_init (&m, event, to_channel, NULL);
      EmberPortalIceCandidates *c = &m.u.ice_candidates;
      if (!ember_portal_id_parse (from->device_id, &c->peer_id, "id", NULL))
        continue;
      /* Borrowed for the build; the message must not free them. */
      c->candidates = b->candidates;
      c->n_candidates = b->n_candidates;
      session_send (peer, &m);
      c->candidates = NULL;
      c->n_candidates = 0;
    }
  if (refused > 0)
    g_debug ("%s %s: candidates for %u peers it has no authorization with (or gone) dropped",
             ember_portal_channel_to_string (from->channel), from->device_name, refused);
  if (msg->ref != NULL)
    session_reply_ok (from, msg->ref);
}

void
authorize_ice_from_client (Session *client, EmberPortalMessage *msg)
{
  relay_candidates (client, msg, client->server->gateways, EMBER_PORTAL_CHANNEL_GATEWAY,
                    msg->event == EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES
                      ? EMBER_PORTAL_EVENT_ICE_CANDIDATES
                      : EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES);
}

void
authorize_ice_from_gateway (Session *gw, EmberPortalMessage *msg)
{
  relay_candidates (gw, msg, gw->server->clients, EMBER_PORTAL_CHANNEL_CLIENT,
                    msg->event == EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES
                      ? EMBER_PORTAL_EVENT_ICE_CANDIDATES
                      : EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES);
}

void
authorize_gateway_init (Session *gw, EmberPortalGatewayInit *init)
{
  EmberPortalServer *srv = gw->server;
  gint64 now = server_unix_now ();
  guint cap = MIN (g_hash_table_size (srv->authorizations), EMBER_PORTAL_MAX_AUTHORIZATIONS);
  init->authorizations = g_new0 (EmberPortalAuthorization, MAX (cap, 1));
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, srv->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v) && init->n_authorizations < cap)
    {
      Authz *a = v;
      if (strcmp (a->gateway_id, gw->device_id) != 0 || a->expires_at <= now)
        continue;
      EmberPortalAuthorization *out = &init->authorizations[init->n_authorizations];
      if (!resource_of (srv, a->resource_id, &out->resource))
        continue;
      out->client = a->client;
      out->preshared_key = a->psk;
      out->expires_at = a->expires_at;
      init->n_authorizations++;
    }
}

void
authorize_reject (EmberPortalServer *srv, Authz *a)
{
  srv->stats.reject_access_total++;
  authz_unstore (srv, a);
  Session *gw = g_hash_table_lookup (srv->gateways, a->gateway_id);
  if (gw != NULL)
    {
      g_auto (EmberPortalMessage) m;
      ember_portal_message_init (&m, EMBER_PORTAL_EVENT_REJECT_ACCESS,
                                 EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
      if (ember_portal_id_parse (a->resource_id, &m.u.reject_access.resource_id, "id", NULL))
        {
          m.u.reject_access.client_id = a->client.id;
          session_send (gw, &m);
        }
    }
  Session *client = g_hash_table_lookup (srv->clients, a->client_id);
  if (client != NULL)
    {
      g_auto (EmberPortalMessage) m;
      ember_portal_message_init (&m, EMBER_PORTAL_EVENT_REJECT_ACCESS,
                                 EMBER_PORTAL_CHANNEL_CLIENT, NULL);
      if (ember_portal_id_parse (a->resource_id, &m.u.reject_access.resource_id, "id", NULL))
        session_send (client, &m);
    }
  g_info ("authorization of client %s for resource %s through gateway %s ended",
          a->client_id, a->resource_id, a->gateway_id);
}

void
authorize_sweep (EmberPortalServer *srv, gint64 now_us, gint64 now_unix)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, srv->pending);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Authz *a = v;
      if (a->pending_until_us > now_us)
        continue;
      Session *client = g_hash_table_lookup (srv->clients, a->client_id);
      EmberPortalId rid;
      if (client != NULL && ember_portal_id_parse (a->resource_id, &rid, "id", NULL))
        send_failed (client, &rid, EMBER_PORTAL_AUTHZ_OFFLINE);
      g_hash_table_iter_remove (&it);
    }
  /* An expired authorization ends without reject_access: both sides hold
   * its expires_at and stop by themselves. */
  guint expired = 0;
  g_hash_table_iter_init (&it, srv->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Authz *) v)->expires_at <= now_unix)
      {
        g_hash_table_iter_remove (&it);
        expired++;
      }
  g_autoptr (GError) error = NULL;
  if (expired > 0 && !ember_store_authorizations_expire (srv->store, now_unix, NULL, &error))
    g_warning ("expired authorizations: not removed from the store: %s", error->message);
}

void
authorize_token_revoked (EmberPortalServer *srv, const char *token_id)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, srv->pending);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (g_strcmp0 (((Authz *) v)->token_id, token_id) == 0)
      g_hash_table_iter_remove (&it);
  /* The client holds a WireGuard session with the gateway that works
   * without the portal: only the gateway dropping the flow ends it. */
  g_hash_table_iter_init (&it, srv->authorizations);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (g_strcmp0 (((Authz *) v)->token_id, token_id) == 0)
      {
        authorize_reject (srv, v);
        g_hash_table_iter_remove (&it);
      }
}

void
authorize_gateway_gone (EmberPortalServer *srv, const char *gateway_id)
{
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, srv->pending);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Authz *a = v;
      if (strcmp (a->gateway_id, gateway_id) != 0)
        continue;
      Session *client = g_hash_table_lookup (srv->clients, a->client_id);
      EmberPortalId rid;
      if (client != NULL && ember_portal_id_parse (a->resource_id, &rid, "id", NULL))
        send_failed (client, &rid, EMBER_PORTAL_AUTHZ_OFFLINE);
      g_hash_table_iter_remove (&it);
    }
}
