/* relay/client — see client.h. RFC 8656 (TURN) over RFC 8489 (STUN). */
#define G_LOG_DOMAIN "ember-turn"

#include "relay/client/client.h"
#include "stun/message.h"

#include <string.h>

typedef enum {
  TX_BINDING = 0,
  TX_ALLOCATE,
  TX_REFRESH,
  TX_DEALLOCATE,
  TX_PERMISSION,
  TX_CHANNEL,
} TxKind;

typedef struct {
  gboolean used;
  TxKind kind;
  guint8 txid[EMBER_STUN_TRANSACTION_ID_LEN];
  EmberAddr peer;
  guint16 channel;
  guint8 msg[EMBER_TURN_MAX_MESSAGE];
  gsize len;
  guint sends;
  gint64 rto;
  gint64 next_send;
  guint auth_retries;
  /* A release signed with credentials since replaced: survives the
   * allocation's loss, ends without auth retries (release_done). */
  gboolean release_old;
} Tx;

typedef struct {
  gboolean used;
  EmberAddr addr;
  gboolean perm_ok, perm_pending;
  gint64 perm_refresh_at;
  guint16 channel;
  gboolean chan_ok, chan_pending;
  gint64 chan_refresh_at;
} Peer;

typedef enum { ALLOC_NONE = 0, ALLOC_PENDING, ALLOC_OK } AllocState;

typedef struct {
  EmberAddr to;
  gsize len;
  guint8 data[EMBER_TURN_MAX_MESSAGE];
} Transmit;

struct _EmberTurnClient {
  EmberAddr server;
  EmberTurnRng rng;
  char username[EMBER_TURN_CREDENTIAL_MAX + 1];
  char password[EMBER_TURN_CREDENTIAL_MAX + 1];
  char realm[EMBER_STUN_REALM_MAX + 1];
  char nonce[EMBER_STUN_NONCE_MAX + 1];
  gboolean have_key;
  guint8 key[EMBER_STUN_LONG_TERM_KEY_MD5_LEN];
  gboolean dual, dual_refused;

  gboolean want_alloc;
  AllocState alloc;
  EmberAddr relayed[2];
  guint n_relayed;
  gint64 refresh_at;
  gint64 alloc_retry_at;
  gboolean releasing;    /* a release_old transaction is in flight */
  /* The credentials it is signed with, wiped when it ends. */
  char old_username[EMBER_TURN_CREDENTIAL_MAX + 1];
  guint8 old_key[EMBER_STUN_LONG_TERM_KEY_MD5_LEN];
  EmberAddr mapped;
  gboolean down;
  gint64 next_keepalive;
  guint16 next_channel;

  Tx tx[EMBER_TURN_MAX_TRANSACTIONS];
  Peer peers[EMBER_TURN_MAX_PEERS];
  Transmit transmits[EMBER_TURN_MAX_TRANSMITS];
  guint tx_head, tx_len;
  EmberTurnEvent events[EMBER_TURN_MAX_EVENTS];
  guint ev_head, ev_len;
};

static gboolean
addr_equal (const EmberAddr *a, const EmberAddr *b)
{
  gsize n = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, n) == 0;
}

static void
push_event (EmberTurnClient *c, const EmberTurnEvent *ev)
{
  if (c->ev_len == EMBER_TURN_MAX_EVENTS)
    {
      g_warning ("TURN event queue full: the caller is not draining poll_event()");
      return;
    }
  c->events[(c->ev_head + c->ev_len) % EMBER_TURN_MAX_EVENTS] = *ev;
  c->ev_len++;
}

static void
queue_transmit (EmberTurnClient *c, const guint8 *buf, gsize len)
{
  if (c->tx_len == EMBER_TURN_MAX_TRANSMITS)
    {
      c->tx_head = (c->tx_head + 1) % EMBER_TURN_MAX_TRANSMITS;
      c->tx_len--;
    }
  Transmit *t = &c->transmits[(c->tx_head + c->tx_len) % EMBER_TURN_MAX_TRANSMITS];
  t->to = c->server;
  t->len = len;
  memcpy (t->data, buf, len);
  c->tx_len++;
}

static void
random_txid (EmberTurnClient *c, guint8 *txid)
{
  guint64 a = c->rng.next (c->rng.user_data), b = c->rng.next (c->rng.user_data);
  memcpy (txid, &a, 8);
  memcpy (txid + 8, &b, 4);
}

static Peer *
find_peer (EmberTurnClient *c, const EmberAddr *addr)
{
  for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
    if (c->peers[i].used && addr_equal (&c->peers[i].addr, addr))
      return &c->peers[i];
  return NULL;
}

/* Whether a transaction can start now: one of the
 * EMBER_TURN_MAX_TRANSACTIONS slots is free. */
static gboolean
tx_slot_free (const EmberTurnClient *c)
{
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    if (!c->tx[i].used)
      return TRUE;
  return FALSE;
}

static gboolean
tx_pending (const EmberTurnClient *c, TxKind kind)
{
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    if (c->tx[i].used && c->tx[i].kind == kind)
      return TRUE;
  return FALSE;
}

/* Builds the request of `t` (a fresh transaction id each time, RFC 8489
 * §6.3.4: a retry after 401/438 is a new transaction). */
static gboolean
build_request (EmberTurnClient *c, Tx *t)
{
  static const guint16 methods[] = {
    [TX_BINDING] = EMBER_STUN_METHOD_BINDING,
    [TX_ALLOCATE] = EMBER_STUN_METHOD_ALLOCATE,
    [TX_REFRESH] = EMBER_STUN_METHOD_REFRESH,
    [TX_DEALLOCATE] = EMBER_STUN_METHOD_REFRESH,
    [TX_PERMISSION] = EMBER_STUN_METHOD_CREATE_PERMISSION,
    [TX_CHANNEL] = EMBER_STUN_METHOD_CHANNEL_BIND,
  };
  random_txid (c, t->txid);
  EmberStunBuilder b;
  ember_stun_builder_init (&b, t->msg, sizeof t->msg, methods[t->kind], EMBER_STUN_CLASS_REQUEST,
                           t->txid);
  switch (t->kind)
    {
    case TX_BINDING:
      break;
    case TX_ALLOCATE:
      ember_stun_builder_add_requested_transport (&b, EMBER_STUN_TRANSPORT_UDP);
      /* RFC 8656 §7.1: one IPv4 and one IPv6 relayed address at once. */
      if (c->dual && !c->dual_refused)
        ember_stun_builder_add_address_family (&b, EMBER_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY,
                                               EMBER_STUN_FAMILY_IPV6);
      break;
    case TX_REFRESH:
      break;
    case TX_DEALLOCATE:
      ember_stun_builder_add_u32 (&b, EMBER_STUN_ATTR_LIFETIME, 0);
      break;
    case TX_PERMISSION:
      ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, &t->peer);
      break;
    case TX_CHANNEL:
      ember_stun_builder_add_channel_number (&b, t->channel);
      ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, &t->peer);
      break;
    }
  /* RFC 8489 §9.2.4: after the first 401, every request carries USERNAME,
   * REALM, NONCE and MESSAGE-INTEGRITY with the long-term key. A binding
   * needs no credentials. */
  if (t->release_old)
    {
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_USERNAME, c->old_username);
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_REALM, c->realm);
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_NONCE, c->nonce);
      ember_stun_builder_add_integrity (&b, c->old_key, sizeof c->old_key);
    }
  else if (t->kind != TX_BINDING && c->have_key)
    {
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_USERNAME, c->username);
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_REALM, c->realm);
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_NONCE, c->nonce);
      ember_stun_builder_add_integrity (&b, c->key, sizeof c->key);
    }
  ember_stun_builder_add_fingerprint (&b);
  t->len = ember_stun_builder_finish (&b, NULL);
  return t->len > 0;
}

static void
tx_send (EmberTurnClient *c, gint64 now, Tx *t)
{
  queue_transmit (c, t->msg, t->len);
  t->sends++;
  t->next_send = now + t->rto;
  t->rto = MIN (t->rto * 2, EMBER_TURN_RTO_MAX_US);
}

static Tx *
tx_start (EmberTurnClient *c, gint64 now, TxKind kind, const EmberAddr *peer, guint16 channel,
          guint auth_retries)
{
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    {
      Tx *t = &c->tx[i];
      if (t->used)
        continue;
      memset (t, 0, sizeof *t);
      t->used = TRUE;
      t->kind = kind;
      if (peer != NULL)
        t->peer = *peer;
      t->channel = channel;
      t->auth_retries = auth_retries;
      t->rto = EMBER_TURN_RTO_US;
      if (!build_request (c, t))
        {
          t->used = FALSE;
          return NULL;
        }
      tx_send (c, now, t);
      return t;
    }
  return NULL;
}

/* The release of update_credentials(): a Refresh with LIFETIME 0 signed
 * with old_username/old_key. */
static Tx *
tx_start_release (EmberTurnClient *c, gint64 now)
{
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    {
      Tx *t = &c->tx[i];
      if (t->used)
        continue;
      memset (t, 0, sizeof *t);
      t->used = TRUE;
      t->kind = TX_DEALLOCATE;
      t->release_old = TRUE;
      t->rto = EMBER_TURN_RTO_US;
      if (!build_request (c, t))
        {
          t->used = FALSE;
          return NULL;
        }
      tx_send (c, now, t);
      return t;
    }
  return NULL;
}

static void
start_allocate (EmberTurnClient *c, gint64 now)
{
  if (c->down || c->releasing || c->alloc != ALLOC_NONE || tx_pending (c, TX_ALLOCATE))
    return;
  if (tx_start (c, now, TX_ALLOCATE, NULL, 0, 0) != NULL)
    c->alloc = ALLOC_PENDING;
  else if (tx_slot_free (c))
    {
      /* The request does not fit EMBER_TURN_MAX_MESSAGE (the server's
       * realm and nonce are that long), nor will it right away: retry
       * later rather than at every timeout. With every slot busy it just
       * waits for one (see poll_timeout). */
      c->alloc_retry_at = now + EMBER_TURN_RETRY_US;
    }
}

static void
peer_sync (EmberTurnClient *c, gint64 now, Peer *p)
{
  if (c->alloc != ALLOC_OK)
    return;
  /* RFC 8656 §9: the permission first (it is what lets the peer's
   * packets in), then the channel (§12) for the compact data path. */
  if (!p->perm_pending && (!p->perm_ok || now >= p->perm_refresh_at))
    {
      if (tx_start (c, now, TX_PERMISSION, &p->addr, 0, 0) != NULL)
        p->perm_pending = TRUE;
      else if (tx_slot_free (c))
        p->perm_refresh_at = now + EMBER_TURN_RETRY_US;  /* too long to build, as above */
    }
  if (!p->chan_pending && (!p->chan_ok || now >= p->chan_refresh_at))
    {
      if (tx_start (c, now, TX_CHANNEL, &p->addr, p->channel, 0) != NULL)
        p->chan_pending = TRUE;
      else if (tx_slot_free (c))
        p->chan_refresh_at = now + EMBER_TURN_RETRY_US;
    }
}

/* The allocation died (reboot, mismatch, relay down). */
static void
lose_allocation (EmberTurnClient *c)
{
  if (c->alloc == ALLOC_OK && c->n_relayed > 0)
    {
      EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_INVALIDATED, .n_relayed = c->n_relayed };
      memcpy (ev.relayed, c->relayed, sizeof ev.relayed);
      push_event (c, &ev);
    }
  c->alloc = ALLOC_NONE;
  c->n_relayed = 0;
  memset (c->relayed, 0, sizeof c->relayed);
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    if (c->tx[i].used && c->tx[i].kind != TX_BINDING && !c->tx[i].release_old)
      c->tx[i].used = FALSE;
  for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
    {
      Peer *p = &c->peers[i];
      p->perm_ok = p->perm_pending = p->chan_ok = p->chan_pending = FALSE;
    }
}

EmberTurnClient *
ember_turn_client_new (const EmberAddr *server, const char *username, const char *password,
                       const EmberTurnRng *rng, gint64 now)
{
  g_return_val_if_fail (server != NULL && username != NULL && password != NULL, NULL);
  g_return_val_if_fail (rng != NULL && rng->next != NULL, NULL);
  EmberTurnClient *c = g_new0 (EmberTurnClient, 1);
  c->server = *server;
  c->rng = *rng;
  g_strlcpy (c->username, username, sizeof c->username);
  g_strlcpy (c->password, password, sizeof c->password);
  c->next_channel = EMBER_STUN_CHANNEL_MIN;
  tx_start (c, now, TX_BINDING, NULL, 0, 0);
  c->next_keepalive = now + EMBER_TURN_KEEPALIVE_US;
  return c;
}

void
ember_turn_client_free (EmberTurnClient *c)
{
  if (c == NULL)
    return;
  explicit_bzero (c, sizeof *c);  /* password and key */
  g_free (c);
}

const EmberAddr *
ember_turn_client_get_server (const EmberTurnClient *c)
{
  return &c->server;
}

void
ember_turn_client_set_dual_stack (EmberTurnClient *c, gboolean dual)
{
  c->dual = dual;
}

void
ember_turn_client_want_allocation (EmberTurnClient *c, gint64 now)
{
  c->want_alloc = TRUE;
  start_allocate (c, now);
}

void
ember_turn_client_update_credentials (EmberTurnClient *c, gint64 now, const char *username,
                                      const char *password)
{
  if (strcmp (username, c->username) == 0 && strcmp (password, c->password) == 0)
    return;
  g_debug ("relay credentials changed: allocation invalidated and redone");
  /* Either the relay rebooted (its allocation is gone) or time-limited
   * credentials were renewed, and then the allocation still exists, tied
   * to our 5-tuple and the old username: an Allocate would be answered
   * 437 and a release under the new username 441 (RFC 8656 §7.2, §9)
   * until it expired, up to 10 minutes. So release it first, under the
   * old credentials; the new allocation starts when that ends, whatever
   * the answer (after a reboot: 437 or 401, one round trip). */
  if (c->alloc == ALLOC_OK && c->have_key && !c->down)
    {
      g_strlcpy (c->old_username, c->username, sizeof c->old_username);
      memcpy (c->old_key, c->key, sizeof c->old_key);
      Tx *t = tx_start_release (c, now);
      c->releasing = t != NULL;
    }
  g_strlcpy (c->username, username, sizeof c->username);
  g_strlcpy (c->password, password, sizeof c->password);
  c->have_key = FALSE;
  lose_allocation (c);
  if (c->want_alloc)
    start_allocate (c, now);
}

gboolean
ember_turn_client_add_peer (EmberTurnClient *c, gint64 now, const EmberAddr *peer)
{
  Peer *p = find_peer (c, peer);
  if (p == NULL)
    {
      for (guint i = 0; i < EMBER_TURN_MAX_PEERS && p == NULL; i++)
        if (!c->peers[i].used)
          p = &c->peers[i];
      if (p == NULL)
        return FALSE;
      memset (p, 0, sizeof *p);
      p->used = TRUE;
      p->addr = *peer;
      p->channel = c->next_channel;
      c->next_channel = c->next_channel == EMBER_STUN_CHANNEL_MAX ? EMBER_STUN_CHANNEL_MIN
                                                                  : (guint16) (c->next_channel + 1);
    }
  peer_sync (c, now, p);
  return TRUE;
}

void
ember_turn_client_remove_peer (EmberTurnClient *c, const EmberAddr *peer)
{
  Peer *p = find_peer (c, peer);
  if (p != NULL)
    p->used = FALSE;  /* the server lets the binding expire */
}

void
ember_turn_client_deallocate (EmberTurnClient *c, gint64 now)
{
  c->want_alloc = FALSE;
  if (c->alloc == ALLOC_OK)
    tx_start (c, now, TX_DEALLOCATE, NULL, 0, 0);
  lose_allocation (c);
}

gboolean
ember_turn_client_is_allocated (const EmberTurnClient *c)
{
  return c->alloc == ALLOC_OK;
}

gboolean
ember_turn_client_is_down (const EmberTurnClient *c)
{
  return c->down;
}

gboolean
ember_turn_client_owns_relayed (const EmberTurnClient *c, const EmberAddr *addr)
{
  for (guint i = 0; i < c->n_relayed; i++)
    if (addr_equal (&c->relayed[i], addr))
      return TRUE;
  return FALSE;
}

guint
ember_turn_client_get_relayed (const EmberTurnClient *c, EmberAddr out[2])
{
  memcpy (out, c->relayed, sizeof c->relayed);
  return c->n_relayed;
}

guint16
ember_turn_client_get_channel (const EmberTurnClient *c, const EmberAddr *peer)
{
  for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
    if (c->peers[i].used && c->peers[i].chan_ok && addr_equal (&c->peers[i].addr, peer))
      return c->peers[i].channel;
  return 0;
}

static void
learn_mapped (EmberTurnClient *c, const EmberAddr *mapped)
{
  if (addr_equal (mapped, &c->mapped))
    return;
  EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_SRFLX, .addr = *mapped, .old = c->mapped };
  c->mapped = *mapped;
  push_event (c, &ev);
}

static void
mark_up (EmberTurnClient *c, gint64 now)
{
  if (!c->down)
    return;
  c->down = FALSE;
  EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_UP };
  push_event (c, &ev);
  if (c->want_alloc)
    start_allocate (c, now);
}

/* The release under the old credentials ended: answered (any class) or
 * given up. The new allocation may start. */
static void
release_done (EmberTurnClient *c, gint64 now)
{
  c->releasing = FALSE;
  explicit_bzero (c->old_username, sizeof c->old_username);
  explicit_bzero (c->old_key, sizeof c->old_key);
  if (c->want_alloc)
    start_allocate (c, now);
}

/* A 438 (the old nonce expired meanwhile) is retried with the new nonce
 * under the old credentials; any other answer ends the release. */
static void
on_release_answer (EmberTurnClient *c, gint64 now, Tx *t, const EmberStunMessage *msg)
{
  guint code = 0;
  const guint8 *reason, *nonce;
  gsize reason_len, nonce_len;
  if (msg->klass == EMBER_STUN_CLASS_ERROR
      && ember_stun_message_get_error_code (msg, &code, &reason, &reason_len) == EMBER_STUN_OK
      && code == EMBER_STUN_ERROR_STALE_NONCE && t->auth_retries < EMBER_TURN_MAX_AUTH_RETRIES
      && ember_stun_message_get_bytes (msg, EMBER_STUN_ATTR_NONCE, &nonce, &nonce_len)
             == EMBER_STUN_OK
      && nonce_len <= EMBER_STUN_NONCE_MAX)
    {
      memcpy (c->nonce, nonce, nonce_len);
      c->nonce[nonce_len] = '\0';
      t->auth_retries++;
      t->sends = 0;
      t->rto = EMBER_TURN_RTO_US;
      if (build_request (c, t))
        {
          tx_send (c, now, t);
          return;
        }
    }
  t->used = FALSE;
  release_done (c, now);
}

static void
mark_down (EmberTurnClient *c)
{
  if (c->down)
    return;
  g_debug ("relay did not answer for %d s: down",
           (int) (EMBER_TURN_TRANSACTION_TIMEOUT_US / G_TIME_SPAN_SECOND));
  lose_allocation (c);
  c->down = TRUE;
  memset (&c->mapped, 0, sizeof c->mapped);
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    c->tx[i].used = FALSE;
  c->releasing = FALSE;
  explicit_bzero (c->old_username, sizeof c->old_username);
  explicit_bzero (c->old_key, sizeof c->old_key);
  EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_DOWN };
  push_event (c, &ev);
}

static void
on_success (EmberTurnClient *c, gint64 now, Tx *t, const EmberStunMessage *msg)
{
  EmberAddr mapped;
  guint32 lifetime = EMBER_TURN_ALLOCATION_LIFETIME_DEFAULT;
  switch (t->kind)
    {
    case TX_BINDING:
      if (ember_stun_message_get_xor_address (msg, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped)
          == EMBER_STUN_OK)
        learn_mapped (c, &mapped);
      break;
    case TX_ALLOCATE:
      {
        EmberAddr relayed[2];
        gint n = ember_stun_message_get_xor_addresses (msg, EMBER_STUN_ATTR_XOR_RELAYED_ADDRESS,
                                                       relayed, 2);
        if (n <= 0)
          {
            c->alloc = ALLOC_NONE;
            c->alloc_retry_at = now + EMBER_TURN_RETRY_US;
            return;
          }
        ember_stun_message_get_u32 (msg, EMBER_STUN_ATTR_LIFETIME, &lifetime);
        c->alloc = ALLOC_OK;
        c->n_relayed = (guint) n;
        memcpy (c->relayed, relayed, sizeof relayed);
        c->refresh_at = now + (gint64) lifetime * G_TIME_SPAN_SECOND * EMBER_TURN_REFRESH_PERCENT / 100;
        if (ember_stun_message_get_xor_address (msg, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped)
            == EMBER_STUN_OK)
          learn_mapped (c, &mapped);
        EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_ALLOCATED, .addr = c->mapped,
                              .n_relayed = c->n_relayed };
        memcpy (ev.relayed, c->relayed, sizeof ev.relayed);
        push_event (c, &ev);
        for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
          if (c->peers[i].used)
            peer_sync (c, now, &c->peers[i]);
        break;
      }
    case TX_REFRESH:
      ember_stun_message_get_u32 (msg, EMBER_STUN_ATTR_LIFETIME, &lifetime);
      c->refresh_at = now + (gint64) lifetime * G_TIME_SPAN_SECOND * EMBER_TURN_REFRESH_PERCENT / 100;
      break;
    case TX_DEALLOCATE:
      break;
    case TX_PERMISSION:
      {
        Peer *p = find_peer (c, &t->peer);
        if (p != NULL)
          {
            p->perm_pending = FALSE;
            p->perm_ok = TRUE;
            p->perm_refresh_at = now + EMBER_TURN_PERMISSION_REFRESH_US;
          }
        break;
      }
    case TX_CHANNEL:
      {
        Peer *p = find_peer (c, &t->peer);
        if (p != NULL)
          {
            p->chan_pending = FALSE;
            p->chan_ok = TRUE;
            p->chan_refresh_at = now + EMBER_TURN_CHANNEL_REFRESH_US;
            /* RFC 8656 §12.2: a channel binding refreshes the permission. */
            p->perm_refresh_at = MAX (p->perm_refresh_at, now + EMBER_TURN_PERMISSION_REFRESH_US);
          }
        break;
      }
    }
}

static void
on_error (EmberTurnClient *c, gint64 now, Tx *t, const EmberStunMessage *msg)
{
  guint code = 0;
  const guint8 *reason;
  gsize reason_len;
  ember_stun_message_get_error_code (msg, &code, &reason, &reason_len);
  TxKind kind = t->kind;
  EmberAddr peer = t->peer;
  guint16 channel = t->channel;
  guint retries = t->auth_retries;

  if ((code == EMBER_STUN_ERROR_UNAUTHENTICATED || code == EMBER_STUN_ERROR_STALE_NONCE)
      && retries < EMBER_TURN_MAX_AUTH_RETRIES)
    {
      const guint8 *realm = NULL, *nonce = NULL;
      gsize realm_len = 0, nonce_len = 0;
      if (ember_stun_message_get_bytes (msg, EMBER_STUN_ATTR_NONCE, &nonce, &nonce_len)
              == EMBER_STUN_OK
          && nonce_len <= EMBER_STUN_NONCE_MAX)
        {
          /* RFC 8489 §9.2.5: 401 gives realm and nonce; 438 a new nonce
           * (and the realm again). Retry as a new transaction. */
          if (ember_stun_message_get_bytes (msg, EMBER_STUN_ATTR_REALM, &realm, &realm_len)
                  == EMBER_STUN_OK
              && realm_len <= EMBER_STUN_REALM_MAX)
            {
              memcpy (c->realm, realm, realm_len);
              c->realm[realm_len] = '\0';
            }
          memcpy (c->nonce, nonce, nonce_len);
          c->nonce[nonce_len] = '\0';
          ember_stun_long_term_key_md5 ((const guint8 *) c->username, strlen (c->username),
                                        (const guint8 *) c->realm, strlen (c->realm),
                                        (const guint8 *) c->password, strlen (c->password),
                                        c->key);
          c->have_key = TRUE;
          t->used = FALSE;
          if (tx_start (c, now, kind, &peer, channel, retries + 1) != NULL)
            return;
          /* The slot was just freed, so the retry did not fit
           * EMBER_TURN_MAX_MESSAGE with this realm and nonce: the request
           * fails with this answer's code rather than stay pending with
           * no transaction behind it. */
        }
    }
  t->used = FALSE;
  switch (kind)
    {
    case TX_ALLOCATE:
      if ((code == EMBER_STUN_ERROR_ADDRESS_FAMILY_NOT_SUPPORTED
           || code == EMBER_STUN_ERROR_UNKNOWN_ATTRIBUTE)
          && c->dual && !c->dual_refused)
        {
          c->dual_refused = TRUE;
          c->alloc = ALLOC_NONE;
          start_allocate (c, now);
          return;
        }
      if (code == EMBER_STUN_ERROR_ALLOCATION_MISMATCH)
        {
          /* RFC 8656 §7.2: an allocation already exists for our 5-tuple
           * (an earlier answer was lost): delete it, then allocate. */
          tx_start (c, now, TX_DEALLOCATE, NULL, 0, 0);
        }
      else
        {
          EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_ALLOCATION_FAILED, .error_code = code };
          push_event (c, &ev);
        }
      c->alloc = ALLOC_NONE;
      c->alloc_retry_at = now + (code == EMBER_STUN_ERROR_ALLOCATION_MISMATCH
                                     ? EMBER_TURN_RTO_US : EMBER_TURN_RETRY_US);
      break;
    case TX_REFRESH:
      /* RFC 8656 §8: 437 — the server has no such allocation: it
       * rebooted or expired it. */
      lose_allocation (c);
      c->alloc_retry_at = now;
      break;
    case TX_PERMISSION:
    case TX_CHANNEL:
      {
        Peer *p = find_peer (c, &peer);
        if (p == NULL)
          break;
        if (kind == TX_PERMISSION)
          {
            p->perm_pending = FALSE;
            p->perm_refresh_at = now + EMBER_TURN_RETRY_US;
          }
        else
          {
            p->chan_pending = FALSE;
            p->chan_ok = FALSE;
            p->chan_refresh_at = now + EMBER_TURN_RETRY_US;
          }
        if (code == EMBER_STUN_ERROR_ALLOCATION_MISMATCH)
          {
            lose_allocation (c);
            c->alloc_retry_at = now;
          }
        break;
      }
    case TX_BINDING:
    case TX_DEALLOCATE:
      break;
    }
}

static EmberTurnInputResult
handle_stun (EmberTurnClient *c, gint64 now, const guint8 *buf, gsize len, EmberAddr *peer,
             const guint8 **data, gsize *data_len)
{
  EmberStunMessage msg;
  if (ember_stun_message_parse (&msg, buf, len) != EMBER_STUN_OK)
    return EMBER_TURN_INPUT_INVALID;
  if (msg.klass == EMBER_STUN_CLASS_INDICATION && msg.method == EMBER_STUN_METHOD_DATA)
    {
      /* RFC 8656 §11.6: Data indication. */
      if (ember_stun_message_get_xor_address (&msg, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, peer)
              != EMBER_STUN_OK
          || ember_stun_message_get_bytes (&msg, EMBER_STUN_ATTR_DATA, data, data_len)
                 != EMBER_STUN_OK)
        return EMBER_TURN_INPUT_INVALID;
      return EMBER_TURN_INPUT_DATA;
    }
  if (msg.klass != EMBER_STUN_CLASS_SUCCESS && msg.klass != EMBER_STUN_CLASS_ERROR)
    return EMBER_TURN_INPUT_NOT_FOR_US;
  Tx *t = NULL;
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS && t == NULL; i++)
    if (c->tx[i].used && memcmp (c->tx[i].txid, msg.transaction_id, sizeof msg.transaction_id) == 0)
      t = &c->tx[i];
  if (t == NULL)
    return EMBER_TURN_INPUT_NOT_FOR_US;
  /* Responses to authenticated requests must carry our integrity; a 401
   * challenge and 438 cannot (the server may not know our key). */
  if (t->kind != TX_BINDING && c->have_key && msg.integrity >= 0
      && ember_stun_message_verify_integrity (&msg, c->key, sizeof c->key) != EMBER_STUN_OK)
    return EMBER_TURN_INPUT_INVALID;
  if (t->kind != TX_BINDING && c->have_key && msg.klass == EMBER_STUN_CLASS_SUCCESS
      && msg.integrity < 0)
    return EMBER_TURN_INPUT_INVALID;
  mark_up (c, now);
  if (t->release_old)
    on_release_answer (c, now, t, &msg);
  else if (msg.klass == EMBER_STUN_CLASS_SUCCESS)
    {
      t->used = FALSE;
      on_success (c, now, t, &msg);
    }
  else
    on_error (c, now, t, &msg);
  return EMBER_TURN_INPUT_HANDLED;
}

EmberTurnInputResult
ember_turn_client_handle_input (EmberTurnClient *c, gint64 now, const EmberAddr *from,
                                const guint8 *buf, gsize len, EmberAddr *peer,
                                const guint8 **data, gsize *data_len)
{
  g_return_val_if_fail (c != NULL && from != NULL && peer != NULL && data != NULL
                            && data_len != NULL,
                        EMBER_TURN_INPUT_INVALID);
  if (buf == NULL || !addr_equal (from, &c->server))
    return EMBER_TURN_INPUT_NOT_FOR_US;
  switch (ember_stun_classify (buf, len))
    {
    case EMBER_STUN_KIND_CHANNEL_DATA:
      {
        guint16 channel;
        if (ember_stun_channel_data_parse (buf, len, &channel, data, data_len) != EMBER_STUN_OK)
          return EMBER_TURN_INPUT_INVALID;
        for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
          if (c->peers[i].used && c->peers[i].chan_ok && c->peers[i].channel == channel)
            {
              *peer = c->peers[i].addr;
              return EMBER_TURN_INPUT_DATA;
            }
        return EMBER_TURN_INPUT_INVALID;
      }
    case EMBER_STUN_KIND_STUN:
      return handle_stun (c, now, buf, len, peer, data, data_len);
    default:
      return EMBER_TURN_INPUT_NOT_FOR_US;
    }
}

void
ember_turn_client_handle_timeout (EmberTurnClient *c, gint64 now)
{
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    {
      Tx *t = &c->tx[i];
      if (!t->used || t->next_send > now)
        continue;
      if (t->sends >= EMBER_TURN_MAX_SENDS)
        {
          t->used = FALSE;
          if (t->release_old)
            release_done (c, now);
          else if (t->kind != TX_DEALLOCATE)
            mark_down (c);
          continue;
        }
      tx_send (c, now, t);
    }
  if (now >= c->next_keepalive)
    {
      if (!tx_pending (c, TX_BINDING))
        tx_start (c, now, TX_BINDING, NULL, 0, 0);
      c->next_keepalive = now + (c->down ? EMBER_TURN_RETRY_US : EMBER_TURN_KEEPALIVE_US);
    }
  if (c->down)
    return;
  if (c->want_alloc && c->alloc == ALLOC_NONE && now >= c->alloc_retry_at)
    start_allocate (c, now);
  if (c->alloc == ALLOC_OK && now >= c->refresh_at && !tx_pending (c, TX_REFRESH))
    {
      tx_start (c, now, TX_REFRESH, NULL, 0, 0);
      c->refresh_at = now + EMBER_TURN_TRANSACTION_TIMEOUT_US;
    }
  if (c->alloc == ALLOC_OK)
    for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
      if (c->peers[i].used)
        peer_sync (c, now, &c->peers[i]);
}

gint64
ember_turn_client_poll_timeout (const EmberTurnClient *c)
{
  gint64 t = c->next_keepalive;
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    if (c->tx[i].used)
      t = MIN (t, c->tx[i].next_send);
  if (c->down)
    return t;
  /* handle_timeout() moves refresh_at on even when no slot is free. */
  if (c->alloc == ALLOC_OK)
    t = MIN (t, c->refresh_at);
  /* An allocation, permission or channel that is due needs a new
   * transaction. With every slot busy its time may be long past, and
   * handle_timeout() cannot move it: counted here, the caller would spin.
   * It waits for a free slot instead: without input, the earliest is a
   * transaction's next_send above (it retransmits or gives up); a
   * response frees one at once, and the caller reads poll_timeout()
   * after every input. */
  if (!tx_slot_free (c))
    return t;
  if (c->want_alloc && c->alloc == ALLOC_NONE && !c->releasing && !tx_pending (c, TX_ALLOCATE))
    t = MIN (t, c->alloc_retry_at);
  if (c->alloc == ALLOC_OK)
    {
      for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
        {
          const Peer *p = &c->peers[i];
          if (!p->used)
            continue;
          if (!p->perm_pending)
            t = MIN (t, p->perm_refresh_at);
          if (!p->chan_pending)
            t = MIN (t, p->chan_refresh_at);
        }
    }
  return t;
}

gsize
ember_turn_client_encode (EmberTurnClient *c, gint64 now, const EmberAddr *peer,
                          const guint8 *payload, gsize len, guint8 *buf, gsize cap)
{
  if (c->alloc != ALLOC_OK)
    return 0;
  Peer *p = find_peer (c, peer);
  if (p == NULL)
    {
      ember_turn_client_add_peer (c, now, peer);
      return 0;
    }
  if (p->chan_ok)
    return ember_stun_channel_data_build (buf, cap, p->channel, payload, len);
  if (!p->perm_ok)
    return 0;
  /* RFC 8656 §11.1: Send indication until the channel is bound. */
  guint8 txid[EMBER_STUN_TRANSACTION_ID_LEN];
  random_txid (c, txid);
  EmberStunBuilder b;
  ember_stun_builder_init (&b, buf, cap, EMBER_STUN_METHOD_SEND, EMBER_STUN_CLASS_INDICATION, txid);
  ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, peer);
  ember_stun_builder_add (&b, EMBER_STUN_ATTR_DATA, payload, len);
  return ember_stun_builder_finish (&b, NULL);
}

gsize
ember_turn_client_poll_transmit (EmberTurnClient *c, guint8 *buf, gsize cap, EmberAddr *to)
{
  if (c->tx_len == 0)
    return 0;
  Transmit *t = &c->transmits[c->tx_head];
  if (t->len > cap)
    return 0;
  memcpy (buf, t->data, t->len);
  *to = t->to;
  gsize n = t->len;
  c->tx_head = (c->tx_head + 1) % EMBER_TURN_MAX_TRANSMITS;
  c->tx_len--;
  return n;
}

gboolean
ember_turn_client_poll_event (EmberTurnClient *c, EmberTurnEvent *ev)
{
  if (c->ev_len == 0)
    return FALSE;
  *ev = c->events[c->ev_head];
  c->ev_head = (c->ev_head + 1) % EMBER_TURN_MAX_EVENTS;
  c->ev_len--;
  return TRUE;
}
