/* relay/server/turn.c — STUN Binding and the TURN methods (RFC 8656 §7-§12)
 * on top of the allocation table.
 *
 * Amplification bound. A request without valid MESSAGE-INTEGRITY is
 * answered only while its source IP has tokens in its bucket, and then:
 *  - Binding success: 32 bytes (IPv4) or 44 bytes (IPv6) of fixed-size
 *    content, +8 when the request carried FINGERPRINT (so was >= 28);
 *  - 401 / 438 with REALM and NONCE: 92 bytes + the realm's padded length
 *    (the RFC's challenge, the one allowed exception);
 *  - any other error (400, 420): its reason phrase is left empty and the
 *    response is dropped instead if it would still be longer than the
 *    request.
 * Nothing attacker-chosen is reflected except UNKNOWN-ATTRIBUTES codes,
 * which are themselves bounded by the request's size.
 */
#include "server-private.h"

typedef struct {
  EmberRelayServer *s;
  gint64 now;
  guint listener;
  const EmberAddr *from;
  const EmberStunMessage *req;
  const guint8 *key; /* NULL: unauthenticated */
} Ctx;

#define RESPONSE_MAX 2048

static void
resp_begin (Ctx *x, EmberStunBuilder *b, guint16 klass)
{
  guint8 *out = relay_out_begin (x->s, RESPONSE_MAX);
  ember_stun_builder_init (b, out, RESPONSE_MAX, x->req->method, klass, x->req->transaction_id);
}

/* Finishes and queues a response. `limit`: drop it if longer (0: none). */
static void
resp_send (Ctx *x, EmberStunBuilder *b, gsize limit)
{
  if (x->key != NULL)
    {
      if (x->s->software != NULL)
        ember_stun_builder_add_string (b, EMBER_STUN_ATTR_SOFTWARE, x->s->software);
      ember_stun_builder_add_integrity (b, x->key, RELAY_KEY_LEN);
    }
  if (x->req->fingerprint >= 0)
    ember_stun_builder_add_fingerprint (b);
  gsize n = ember_stun_builder_finish (b, NULL);
  if (n == 0 || (limit > 0 && n > limit))
    {
      x->s->stats.drops++;
      return;
    }
  relay_out_to_client (x->s, x->listener, x->from, n);
}

static void
resp_error (Ctx *x, guint code)
{
  EmberStunBuilder b;
  if (x->key == NULL && !relay_rate_allow (x->s, x->now, x->from))
    return;
  resp_begin (x, &b, EMBER_STUN_CLASS_ERROR);
  /* Unauthenticated: no reason phrase, and never more than the request. */
  ember_stun_builder_add_error_code (&b, code, x->key == NULL ? "" : NULL);
  if (code == EMBER_STUN_ERROR_UNKNOWN_ATTRIBUTE)
    ember_stun_builder_add_unknown_attributes (&b, x->req->unknown, x->req->n_unknown);
  resp_send (x, &b, x->key == NULL ? x->req->len : 0);
}

/* 401 or 438 with REALM and a fresh NONCE (RFC 8489 §9.2.4). */
static void
challenge (Ctx *x, guint code)
{
  EmberStunBuilder b;
  char nonce[RELAY_NONCE_LEN + 1];
  if (!relay_rate_allow (x->s, x->now, x->from))
    return;
  relay_nonce_make (x->s, x->now, x->from, nonce);
  resp_begin (x, &b, EMBER_STUN_CLASS_ERROR);
  ember_stun_builder_add_error_code (&b, code, NULL);
  ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_REALM, x->s->realm);
  ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_NONCE, nonce);
  resp_send (x, &b, 0);
}

/* The key of the live allocation of this 5-tuple when the request is
 * one of its own (not an Allocate) under the username it was made with.
 * Time-limited usernames expire while their allocations are in use: the
 * expiry gates new allocations only, and an allocation is refreshed
 * (with its permissions and channels) for as long as its client signs
 * with the key it was made with, as a call outlives the credentials it
 * started with. What the client may reach does not grow with it: its
 * peers still have to accept it. */
static gboolean
allocation_key (Ctx *x, const guint8 *user, gsize ulen, guint8 key[RELAY_KEY_LEN])
{
  if (x->req->method == EMBER_STUN_METHOD_ALLOCATE)
    return FALSE;
  RelayAllocation *a = relay_allocation_find (x->s, x->listener, x->from);
  if (a == NULL || a->expires <= x->now || strlen (a->username) != ulen
      || memcmp (a->username, user, ulen) != 0)
    return FALSE;
  memcpy (key, a->key, RELAY_KEY_LEN);
  return TRUE;
}

/* RFC 8489 §9.2.4, in its order. On success fills key and username. */
static gboolean
authenticate (Ctx *x, guint8 key[RELAY_KEY_LEN], char username[EMBER_STUN_USERNAME_MAX + 1])
{
  EmberRelayServer *s = x->s;
  const EmberStunMessage *m = x->req;
  const guint8 *user, *realm, *nonce;
  gsize ulen, rlen, nlen;

  if (m->integrity < 0)
    {
      challenge (x, EMBER_STUN_ERROR_UNAUTHENTICATED);
      return FALSE;
    }
  if (ember_stun_message_get_bytes (m, EMBER_STUN_ATTR_USERNAME, &user, &ulen) != EMBER_STUN_OK ||
      ember_stun_message_get_bytes (m, EMBER_STUN_ATTR_REALM, &realm, &rlen) != EMBER_STUN_OK ||
      ember_stun_message_get_bytes (m, EMBER_STUN_ATTR_NONCE, &nonce, &nlen) != EMBER_STUN_OK)
    {
      resp_error (x, EMBER_STUN_ERROR_BAD_REQUEST);
      return FALSE;
    }
  if (!relay_nonce_valid (s, x->now, x->from, nonce, nlen))
    {
      s->stats.stale_nonces++;
      challenge (x, EMBER_STUN_ERROR_STALE_NONCE);
      return FALSE;
    }
  if (rlen != strlen (s->realm) || memcmp (realm, s->realm, rlen) != 0 ||
      !(allocation_key (x, user, ulen, key) || relay_credentials_key (s, user, ulen, key)) ||
      ember_stun_message_verify_integrity (m, key, RELAY_KEY_LEN) != EMBER_STUN_OK)
    {
      s->stats.auth_failures++;
      challenge (x, EMBER_STUN_ERROR_UNAUTHENTICATED);
      return FALSE;
    }
  memcpy (username, user, ulen);
  username[ulen] = '\0';
  return TRUE;
}

static void
handle_binding (Ctx *x)
{
  if (!relay_rate_allow (x->s, x->now, x->from))
    return;
  if (x->req->n_unknown > 0)
    {
      /* Token already taken above; resp_error takes none when keyed, so
       * build it here directly. */
      EmberStunBuilder b;
      resp_begin (x, &b, EMBER_STUN_CLASS_ERROR);
      ember_stun_builder_add_error_code (&b, EMBER_STUN_ERROR_UNKNOWN_ATTRIBUTE, "");
      ember_stun_builder_add_unknown_attributes (&b, x->req->unknown, x->req->n_unknown);
      resp_send (x, &b, x->req->len);
      return;
    }
  EmberStunBuilder b;
  resp_begin (x, &b, EMBER_STUN_CLASS_SUCCESS);
  ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, x->from);
  resp_send (x, &b, 0);
  x->s->stats.bindings++;
}

static EmberAddr
relayed (EmberRelayServer *s, guint8 family, guint16 port)
{
  EmberAddr a = family == EMBER_ADDR_IPV4 ? s->config.public_ip4 : s->config.public_ip6;
  a.port = port;
  return a;
}

static guint32
lifetime_seconds (const RelayAllocation *a, gint64 now)
{
  return (guint32) MAX (0, (a->expires - now + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
}

static void
allocate_success (Ctx *x, RelayAllocation *a, gboolean v6_failed)
{
  EmberStunBuilder b;
  resp_begin (x, &b, EMBER_STUN_CLASS_SUCCESS);
  if (a->port4 != 0)
    {
      EmberAddr r = relayed (x->s, EMBER_ADDR_IPV4, a->port4);
      ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_RELAYED_ADDRESS, &r);
    }
  if (a->port6 != 0)
    {
      EmberAddr r = relayed (x->s, EMBER_ADDR_IPV6, a->port6);
      ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_RELAYED_ADDRESS, &r);
    }
  if (v6_failed)
    ember_stun_builder_add_address_error_code (&b, EMBER_STUN_FAMILY_IPV6,
                                               EMBER_STUN_ERROR_ADDRESS_FAMILY_NOT_SUPPORTED, NULL);
  ember_stun_builder_add_u32 (&b, EMBER_STUN_ATTR_LIFETIME, lifetime_seconds (a, x->now));
  ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, x->from);
  resp_send (x, &b, 0);
}

static guint32
requested_lifetime (const EmberStunMessage *m, guint32 fallback)
{
  guint32 v;
  if (ember_stun_message_get_u32 (m, EMBER_STUN_ATTR_LIFETIME, &v) != EMBER_STUN_OK)
    return fallback;
  return MIN (v, (guint32) EMBER_TURN_ALLOCATION_LIFETIME_MAX);
}

static void
handle_allocate (Ctx *x, const char *username)
{
  EmberRelayServer *s = x->s;
  const EmberStunMessage *m = x->req;
  RelayAllocation *a = relay_allocation_find (s, x->listener, x->from);
  if (a != NULL)
    {
      /* RFC 8656 §7.2 step 2: a retransmission gets the same answer. */
      if (memcmp (a->transaction_id, m->transaction_id, sizeof a->transaction_id) == 0)
        allocate_success (x, a, FALSE);
      else
        resp_error (x, EMBER_STUN_ERROR_ALLOCATION_MISMATCH);
      return;
    }
  guint8 proto;
  EmberStunResult r = ember_stun_message_get_requested_transport (m, &proto);
  if (r != EMBER_STUN_OK)
    { resp_error (x, EMBER_STUN_ERROR_BAD_REQUEST); return; }
  if (proto != EMBER_STUN_TRANSPORT_UDP)
    { resp_error (x, EMBER_STUN_ERROR_UNSUPPORTED_TRANSPORT); return; }
  /* §7.2 step 4: without a way to set DF, DONT-FRAGMENT is "unknown". */
  if (ember_stun_message_has (m, EMBER_STUN_ATTR_DONT_FRAGMENT))
    {
      EmberStunBuilder b;
      guint16 df = EMBER_STUN_ATTR_DONT_FRAGMENT;
      resp_begin (x, &b, EMBER_STUN_CLASS_ERROR);
      ember_stun_builder_add_error_code (&b, EMBER_STUN_ERROR_UNKNOWN_ATTRIBUTE, NULL);
      ember_stun_builder_add_unknown_attributes (&b, &df, 1);
      { resp_send (x, &b, 0); return; }
    }
  gboolean has_token = ember_stun_message_has (m, EMBER_STUN_ATTR_RESERVATION_TOKEN);
  gboolean has_even = ember_stun_message_has (m, EMBER_STUN_ATTR_EVEN_PORT);
  gboolean has_req_family = ember_stun_message_has (m, EMBER_STUN_ATTR_REQUESTED_ADDRESS_FAMILY);
  gboolean has_add_family = ember_stun_message_has (m, EMBER_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY);
  if ((has_token && (has_even || has_req_family)) || (has_req_family && has_add_family))
    { resp_error (x, EMBER_STUN_ERROR_BAD_REQUEST); return; }
  /* We hold no reserved ports, so no token can be valid (§7.2 step 5). */
  if (has_token)
    { resp_error (x, EMBER_STUN_ERROR_INSUFFICIENT_CAPACITY); return; }
  gboolean even = FALSE, reserve;
  if (has_even && ember_stun_message_get_even_port (m, &reserve) != EMBER_STUN_OK)
    { resp_error (x, EMBER_STUN_ERROR_BAD_REQUEST); return; }
  even = has_even;

  gboolean have4 = s->config.public_ip4.family == EMBER_ADDR_IPV4;
  gboolean have6 = s->config.public_ip6.family == EMBER_ADDR_IPV6;
  gboolean want4 = TRUE, want6 = FALSE, v6_failed = FALSE;
  guint8 fam;
  if (has_req_family)
    {
      /* §7.2 step 6: an unknown or unoffered family is 440. */
      if (ember_stun_message_get_address_family (m, EMBER_STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
                                                 &fam) != EMBER_STUN_OK)
        { resp_error (x, EMBER_STUN_ERROR_ADDRESS_FAMILY_NOT_SUPPORTED); return; }
      want4 = fam == EMBER_STUN_FAMILY_IPV4;
      want6 = !want4;
    }
  else if (has_add_family)
    {
      /* RFC 8656 §7.2 step 7 / RFC 8656 §18.11: only IPv6 may be added. */
      if (ember_stun_message_get_address_family (m, EMBER_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY,
                                                 &fam) != EMBER_STUN_OK ||
          fam != EMBER_STUN_FAMILY_IPV6)
        { resp_error (x, EMBER_STUN_ERROR_BAD_REQUEST); return; }
      want6 = have6;
      v6_failed = !have6;
    }
  if ((want4 && !have4) || (want6 && !have6 && !has_add_family))
    { resp_error (x, EMBER_STUN_ERROR_ADDRESS_FAMILY_NOT_SUPPORTED); return; }

  if (relay_allocation_user_count (s, username) >= s->config.max_allocations_per_user)
    { resp_error (x, EMBER_STUN_ERROR_ALLOCATION_QUOTA_REACHED); return; }
  if (s->stats.allocations >= s->config.max_allocations)
    { resp_error (x, EMBER_STUN_ERROR_INSUFFICIENT_CAPACITY); return; }

  a = relay_allocation_create (s, x->listener, x->from, username, x->key, want4, want6, even);
  if (a == NULL)
    { resp_error (x, EMBER_STUN_ERROR_INSUFFICIENT_CAPACITY); return; }
  memcpy (a->transaction_id, m->transaction_id, sizeof a->transaction_id);
  /* §7.2: max(default, min(requested, maximum)). */
  guint32 life = MAX (requested_lifetime (m, EMBER_TURN_ALLOCATION_LIFETIME_DEFAULT),
                      (guint32) EMBER_TURN_ALLOCATION_LIFETIME_DEFAULT);
  a->expires = x->now + (gint64) life * G_USEC_PER_SEC;
  relay_note_deadline (s, a->expires);
  allocate_success (x, a, v6_failed);
}

/* The allocation of this 5-tuple, owned by the authenticated user. */
static RelayAllocation *
own_allocation (Ctx *x, const char *username)
{
  RelayAllocation *a = relay_allocation_find (x->s, x->listener, x->from);
  if (a == NULL || a->expires <= x->now)
    {
      resp_error (x, EMBER_STUN_ERROR_ALLOCATION_MISMATCH);
      return NULL;
    }
  /* RFC 8656 §5: later requests must use the allocation's credentials. */
  if (strcmp (a->username, username) != 0)
    {
      resp_error (x, EMBER_STUN_ERROR_WRONG_CREDENTIALS);
      return NULL;
    }
  return a;
}

static void
handle_refresh (Ctx *x, const char *username)
{
  RelayAllocation *a = own_allocation (x, username);
  if (a == NULL)
    return;
  guint8 fam;
  if (ember_stun_message_get_address_family (x->req, EMBER_STUN_ATTR_REQUESTED_ADDRESS_FAMILY,
                                             &fam) == EMBER_STUN_OK &&
      ((fam == EMBER_STUN_FAMILY_IPV4 && a->port4 == 0) ||
       (fam == EMBER_STUN_FAMILY_IPV6 && a->port6 == 0)))
    { resp_error (x, EMBER_STUN_ERROR_PEER_ADDRESS_FAMILY_MISMATCH); return; }

  guint32 life = requested_lifetime (x->req, EMBER_TURN_ALLOCATION_LIFETIME_DEFAULT);
  EmberStunBuilder b;
  if (life == 0)
    {
      /* §7.5: lifetime 0 deletes the allocation at once. */
      relay_allocation_destroy (x->s, a);
    }
  else
    {
      a->expires = x->now + (gint64) life * G_USEC_PER_SEC;
      relay_note_deadline (x->s, a->expires);
      relay_channels_announce (x->s, a, x->now, NULL);
    }
  resp_begin (x, &b, EMBER_STUN_CLASS_SUCCESS);
  ember_stun_builder_add_u32 (&b, EMBER_STUN_ATTR_LIFETIME, life);
  resp_send (x, &b, 0);
}

static gboolean
family_allocated (const RelayAllocation *a, const EmberAddr *peer)
{
  return peer->family == EMBER_ADDR_IPV4 ? a->port4 != 0 : a->port6 != 0;
}

/* Shared checks of a peer address (RFC 8656 §9.1, §11.2). */
static gboolean
check_peer (Ctx *x, const RelayAllocation *a, const EmberAddr *peer)
{
  if (!family_allocated (a, peer))
    {
      resp_error (x, EMBER_STUN_ERROR_PEER_ADDRESS_FAMILY_MISMATCH);
      return FALSE;
    }
  if (!ember_relay_server_peer_allowed (x->s, peer))
    {
      x->s->stats.forbidden_peers++;
      resp_error (x, EMBER_STUN_ERROR_FORBIDDEN);
      return FALSE;
    }
  return TRUE;
}

static void
handle_create_permission (Ctx *x, const char *username)
{
  RelayAllocation *a = own_allocation (x, username);
  if (a == NULL)
    return;
  EmberAddr peers[16];
  gint n = ember_stun_message_get_xor_addresses (x->req, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, peers,
                                                 G_N_ELEMENTS (peers));
  if (n <= 0)
    { resp_error (x, EMBER_STUN_ERROR_BAD_REQUEST); return; }
  /* All or nothing (§9.2): check every address before installing any. */
  for (gint i = 0; i < n; i++)
    if (!check_peer (x, a, &peers[i]))
      return;
  for (gint i = 0; i < n; i++)
    if (!relay_permission_install (x->s, a, x->now, &peers[i]))
      { resp_error (x, EMBER_STUN_ERROR_INSUFFICIENT_CAPACITY); return; }
  for (gint i = 0; i < n; i++)
    relay_channels_announce (x->s, a, x->now, &peers[i]);
  EmberStunBuilder b;
  resp_begin (x, &b, EMBER_STUN_CLASS_SUCCESS);
  resp_send (x, &b, 0);
}

static void
handle_channel_bind (Ctx *x, const char *username)
{
  RelayAllocation *a = own_allocation (x, username);
  if (a == NULL)
    return;
  guint16 number;
  EmberAddr peer;
  if (ember_stun_message_get_channel_number (x->req, &number) != EMBER_STUN_OK ||
      number < EMBER_STUN_CHANNEL_MIN ||
      number > (x->s->config.rfc5766_channels ? EMBER_STUN_CHANNEL_MAX_RFC5766
                                              : EMBER_STUN_CHANNEL_MAX) ||
      ember_stun_message_get_xor_address (x->req, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, &peer) !=
        EMBER_STUN_OK)
    { resp_error (x, EMBER_STUN_ERROR_BAD_REQUEST); return; }
  if (!check_peer (x, a, &peer))
    return;
  /* §12.2: a number is bound to one peer, a peer to one number, also
   * during the reuse guard after expiry. */
  RelayChannel *c = relay_channel_by_number (a, number);
  RelayChannel *p = relay_channel_by_peer (a, &peer);
  if ((c != NULL && !relay_addr_equal (&c->peer, &peer)) || (p != NULL && p->number != number))
    { resp_error (x, EMBER_STUN_ERROR_BAD_REQUEST); return; }
  if (!relay_permission_install (x->s, a, x->now, &peer))
    { resp_error (x, EMBER_STUN_ERROR_INSUFFICIENT_CAPACITY); return; }
  if (c == NULL && (c = relay_channel_add (x->s, a, number, &peer)) == NULL)
    { resp_error (x, EMBER_STUN_ERROR_INSUFFICIENT_CAPACITY); return; }
  if (c->lapsed)
    {
      c->lapsed = FALSE;
      x->s->stats.channels++;
    }
  guint life = x->s->config.channel_lifetime ? x->s->config.channel_lifetime
                                             : EMBER_TURN_CHANNEL_LIFETIME;
  c->expires = x->now + (gint64) life * G_USEC_PER_SEC;
  relay_note_deadline (x->s, c->expires);
  relay_channels_announce (x->s, a, x->now, &peer);
  EmberStunBuilder b;
  resp_begin (x, &b, EMBER_STUN_CLASS_SUCCESS);
  resp_send (x, &b, 0);
}

void
relay_handle_request (EmberRelayServer *s, gint64 now, guint listener, const EmberAddr *from,
                      const EmberStunMessage *msg)
{
  Ctx x = { s, now, listener, from, msg, NULL };
  guint8 key[RELAY_KEY_LEN];
  char username[EMBER_STUN_USERNAME_MAX + 1];

  switch (msg->method)
    {
    case EMBER_STUN_METHOD_BINDING:
      handle_binding (&x);
      return;
    case EMBER_STUN_METHOD_ALLOCATE:
    case EMBER_STUN_METHOD_REFRESH:
    case EMBER_STUN_METHOD_CREATE_PERMISSION:
    case EMBER_STUN_METHOD_CHANNEL_BIND:
      break;
    default:
      resp_error (&x, EMBER_STUN_ERROR_BAD_REQUEST);
      return;
    }
  if (!authenticate (&x, key, username))
    return;
  x.key = key;
  if (msg->n_unknown > 0)
    resp_error (&x, EMBER_STUN_ERROR_UNKNOWN_ATTRIBUTE);
  else if (msg->method == EMBER_STUN_METHOD_ALLOCATE)
    handle_allocate (&x, username);
  else if (msg->method == EMBER_STUN_METHOD_REFRESH)
    handle_refresh (&x, username);
  else if (msg->method == EMBER_STUN_METHOD_CREATE_PERMISSION)
    handle_create_permission (&x, username);
  else
    handle_channel_bind (&x, username);
  memset (key, 0, sizeof key);
}

/* ---- data path ------------------------------------------------------ */

static void
to_peer (EmberRelayServer *s, gint64 now, RelayAllocation *a, const EmberAddr *peer,
         const guint8 *data, gsize len)
{
  guint16 port = peer->family == EMBER_ADDR_IPV4 ? a->port4 : a->port6;
  if (a->expires <= now || port == 0 || !relay_permission_active (a, now, peer))
    {
      s->stats.drops++;
      return;
    }
  relay_out_to_peer (s, peer->family, port, peer, data, len);
}

void
relay_handle_send_indication (EmberRelayServer *s, gint64 now, RelayAllocation *a,
                              const EmberStunMessage *msg)
{
  /* RFC 8656 §10.2: no response to an indication; bad ones are dropped. */
  EmberAddr peer;
  const guint8 *data;
  gsize len;
  if (ember_stun_message_get_xor_address (msg, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, &peer) !=
        EMBER_STUN_OK ||
      ember_stun_message_get_bytes (msg, EMBER_STUN_ATTR_DATA, &data, &len) != EMBER_STUN_OK)
    {
      s->stats.drops++;
      return;
    }
  to_peer (s, now, a, &peer, data, len);
}

void
relay_handle_channel_data (EmberRelayServer *s, gint64 now, RelayAllocation *a,
                           const guint8 *buf, gsize len)
{
  guint16 number;
  const guint8 *data;
  gsize dlen;
  EmberStunResult r = s->config.rfc5766_channels
                        ? ember_stun_channel_data_parse_rfc5766 (buf, len, &number, &data, &dlen)
                        : ember_stun_channel_data_parse (buf, len, &number, &data, &dlen);
  if (r != EMBER_STUN_OK)
    {
      s->stats.drops++;
      return;
    }
  RelayChannel *c = relay_channel_by_number (a, number);
  if (c == NULL || c->lapsed || c->expires <= now)
    {
      s->stats.drops++;
      return;
    }
  to_peer (s, now, a, &c->peer, data, dlen);
}
