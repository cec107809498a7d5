/* relay/client/transactions — the TURN client's STUN transactions:
 * building requests (a fresh transaction id and the long-term
 * credentials), retransmitting them, and handling the answers (401/438
 * retries, success and error per method) and Data indications. The state they change is in
 * client-private.h, its machine in client.c.
 */
#define G_LOG_DOMAIN "ember-turn"

#include "relay/client/client-private.h"

#include <string.h>

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
  turn_client_random_txid (c, t->txid);
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
  if (t->kind != TX_BINDING && c->have_key)
    {
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_USERNAME, c->username);
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_REALM, c->realm);
      ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_NONCE, c->nonce);
      ember_stun_builder_add_integrity (&b, c->key, EMBER_STUN_LONG_TERM_KEY_MD5_LEN);
    }
  ember_stun_builder_add_fingerprint (&b);
  t->len = ember_stun_builder_finish (&b, NULL);
  return t->len > 0;
}

void
turn_client_tx_send (EmberTurnClient *c, gint64 now, Tx *t)
{
  queue_transmit (c, t->msg, t->len);
  t->sends++;
  t->next_send = now + t->rto;
  t->rto = MIN (t->rto * 2, EMBER_TURN_RTO_MAX_US);
}

Tx *
turn_client_tx_start (EmberTurnClient *c, gint64 now, TxKind kind, const EmberAddr *peer,
                      guint16 channel, guint auth_retries)
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
      turn_client_tx_send (c, now, t);
      return t;
    }
  return NULL;
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
        turn_client_learn_mapped (c, &mapped);
      break;
    case TX_ALLOCATE:
      {
        c->mismatches = 0;
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
          turn_client_learn_mapped (c, &mapped);
        EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_ALLOCATED, .addr = c->mapped,
                              .n_relayed = c->n_relayed };
        memcpy (ev.relayed, c->relayed, sizeof ev.relayed);
        turn_client_push_event (c, &ev);
        for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
          if (c->peers[i].used)
            turn_client_peer_sync (c, now, &c->peers[i]);
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
        Peer *p = turn_client_find_peer (c, &t->peer);
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
        Peer *p = turn_client_find_peer (c, &t->peer);
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
          if (turn_client_tx_start (c, now, kind, &peer, channel, retries + 1) != NULL)
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
          turn_client_start_allocate (c, now);
          return;
        }
      c->alloc = ALLOC_NONE;
      if (code == EMBER_STUN_ERROR_ALLOCATION_MISMATCH && c->mismatches++ == 0)
        {
          /* RFC 8656 §7.2: an allocation already exists for our 5-tuple
           * (an earlier answer was lost): delete it, then allocate. */
          turn_client_tx_start (c, now, TX_DEALLOCATE, NULL, 0, 0);
          c->alloc_retry_at = now + EMBER_TURN_RTO_US;
          break;
        }
      /* Refused, or a 437 that deleting did not clear: the allocation of
       * our 5-tuple was made under other credentials (an earlier run
       * that reached the relay from the same address and port), and a
       * release under ours gets 441 (RFC 8656 §5) until it expires, up
       * to an hour. Said once per streak; the caller moves to a fresh
       * source port (client.h). Retried every EMBER_TURN_RETRY_US. */
      if (code != EMBER_STUN_ERROR_ALLOCATION_MISMATCH || c->mismatches == 2)
        {
          EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_ALLOCATION_FAILED, .error_code = code };
          turn_client_push_event (c, &ev);
        }
      c->alloc_retry_at = now + EMBER_TURN_RETRY_US;
      break;
    case TX_REFRESH:
      /* RFC 8656 §8: 437 — the server has no such allocation: it
       * rebooted or expired it. 401 or 441 — it refuses the credentials
       * the allocation was made with (expired, on a relay that checks
       * every request): allocated anew, under renewed ones if any. */
      turn_client_lose_allocation (c);
      c->alloc_retry_at = now;
      if (c->want_alloc)
        turn_client_start_allocate (c, now);
      break;
    case TX_PERMISSION:
    case TX_CHANNEL:
      {
        Peer *p = turn_client_find_peer (c, &peer);
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
        if (code == EMBER_STUN_ERROR_ALLOCATION_MISMATCH
            || (c->have_next
                && (code == EMBER_STUN_ERROR_UNAUTHENTICATED
                    || code == EMBER_STUN_ERROR_WRONG_CREDENTIALS)))
          {
            turn_client_lose_allocation (c);
            c->alloc_retry_at = now;
          }
        break;
      }
    case TX_BINDING:
    case TX_DEALLOCATE:
      break;
    }
}

EmberTurnInputResult
turn_client_handle_stun (EmberTurnClient *c, gint64 now, const guint8 *buf, gsize len,
                         EmberAddr *peer, const guint8 **data, gsize *data_len)
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
  turn_client_mark_up (c, now);
  if (msg.klass == EMBER_STUN_CLASS_SUCCESS)
    {
      t->used = FALSE;
      on_success (c, now, t, &msg);
    }
  else
    on_error (c, now, t, &msg);
  return EMBER_TURN_INPUT_HANDLED;
}
