/* relay/client — see client.h. RFC 8656 (TURN) over RFC 8489 (STUN).
 * This file: the client's state machine (allocation, peers' permissions
 * and channels, up/down, renewed credentials), the public
 * API, the timers, the event queue and poll_transmit(). The STUN
 * transactions (requests, retransmissions, answers) are in
 * transactions.c; the shared state in client-private.h.
 */
#define G_LOG_DOMAIN "ember-turn"

#include "relay/client/client-private.h"

#include <string.h>

static gboolean
addr_equal (const EmberAddr *a, const EmberAddr *b)
{
  gsize n = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, n) == 0;
}

void
turn_client_push_event (EmberTurnClient *c, const EmberTurnEvent *ev)
{
  if (c->ev_len == EMBER_TURN_MAX_EVENTS)
    {
      g_warning ("TURN event queue full: the caller is not draining poll_event()");
      return;
    }
  c->events[(c->ev_head + c->ev_len) % EMBER_TURN_MAX_EVENTS] = *ev;
  c->ev_len++;
}

void
turn_client_random_txid (EmberTurnClient *c, guint8 *txid)
{
  guint64 a = c->rng.next (c->rng.user_data), b = c->rng.next (c->rng.user_data);
  memcpy (txid, &a, 8);
  memcpy (txid + 8, &b, 4);
}

Peer *
turn_client_find_peer (EmberTurnClient *c, const EmberAddr *addr)
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

void
turn_client_start_allocate (EmberTurnClient *c, gint64 now)
{
  if (c->down || c->alloc != ALLOC_NONE || tx_pending (c, TX_ALLOCATE))
    return;
  if (c->have_next)
    {
      /* A new allocation: the newest credentials. */
      g_strlcpy (c->username, c->next_username, sizeof c->username);
      g_strlcpy (c->password, c->next_password, sizeof c->password);
      c->have_key = FALSE;
      c->have_next = FALSE;
      explicit_bzero (c->next_username, sizeof c->next_username);
      explicit_bzero (c->next_password, sizeof c->next_password);
    }
  if (turn_client_tx_start (c, now, TX_ALLOCATE, NULL, 0, 0) != NULL)
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

void
turn_client_peer_sync (EmberTurnClient *c, gint64 now, Peer *p)
{
  if (c->alloc != ALLOC_OK)
    return;
  /* RFC 8656 §9: the permission first (it is what lets the peer's
   * packets in), then the channel (§12) for the compact data path. */
  if (!p->perm_pending && (!p->perm_ok || now >= p->perm_refresh_at))
    {
      if (turn_client_tx_start (c, now, TX_PERMISSION, &p->addr, 0, 0) != NULL)
        p->perm_pending = TRUE;
      else if (tx_slot_free (c))
        p->perm_refresh_at = now + EMBER_TURN_RETRY_US;  /* too long to build, as above */
    }
  if (!p->chan_pending && (!p->chan_ok || now >= p->chan_refresh_at))
    {
      if (turn_client_tx_start (c, now, TX_CHANNEL, &p->addr, p->channel, 0) != NULL)
        p->chan_pending = TRUE;
      else if (tx_slot_free (c))
        p->chan_refresh_at = now + EMBER_TURN_RETRY_US;
    }
}

/* The allocation died (reboot, mismatch, relay down). */
void
turn_client_lose_allocation (EmberTurnClient *c)
{
  if (c->alloc == ALLOC_OK && c->n_relayed > 0)
    {
      EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_INVALIDATED, .n_relayed = c->n_relayed };
      memcpy (ev.relayed, c->relayed, sizeof ev.relayed);
      turn_client_push_event (c, &ev);
    }
  c->alloc = ALLOC_NONE;
  c->n_relayed = 0;
  memset (c->relayed, 0, sizeof c->relayed);
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    if (c->tx[i].used && c->tx[i].kind != TX_BINDING && c->tx[i].kind != TX_DEALLOCATE)
      c->tx[i].used = FALSE;  /* a release in flight outlives what it releases */
  for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
    {
      Peer *p = &c->peers[i];
      p->perm_ok = p->perm_pending = p->chan_ok = p->chan_pending = FALSE;
    }
}

void
turn_client_learn_mapped (EmberTurnClient *c, const EmberAddr *mapped)
{
  if (addr_equal (mapped, &c->mapped))
    return;
  EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_SRFLX, .addr = *mapped, .old = c->mapped };
  c->mapped = *mapped;
  turn_client_push_event (c, &ev);
}

void
turn_client_mark_up (EmberTurnClient *c, gint64 now)
{
  if (!c->down)
    return;
  c->down = FALSE;
  EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_UP };
  turn_client_push_event (c, &ev);
  if (c->want_alloc)
    turn_client_start_allocate (c, now);
}

static void
mark_down (EmberTurnClient *c)
{
  if (c->down)
    return;
  g_debug ("relay did not answer for %d s: down",
           (int) (EMBER_TURN_TRANSACTION_TIMEOUT_US / G_TIME_SPAN_SECOND));
  turn_client_lose_allocation (c);
  c->down = TRUE;
  memset (&c->mapped, 0, sizeof c->mapped);
  for (guint i = 0; i < EMBER_TURN_MAX_TRANSACTIONS; i++)
    c->tx[i].used = FALSE;
  EmberTurnEvent ev = { .type = EMBER_TURN_EVENT_DOWN };
  turn_client_push_event (c, &ev);
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
  turn_client_tx_start (c, now, TX_BINDING, NULL, 0, 0);
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
  turn_client_start_allocate (c, now);
}

void
ember_turn_client_update_credentials (EmberTurnClient *c, gint64 now, const char *username,
                                      const char *password)
{
  if (strcmp (username, c->username) == 0 && strcmp (password, c->password) == 0)
    {
      c->have_next = FALSE;
      return;
    }
  if (c->alloc == ALLOC_OK)
    {
      /* Renewed time-limited credentials: the allocation stays bound to
       * the username it was made with (RFC 8656 §5), and the relay keeps
       * refreshing it after that username's expiry (ember-relay(8)), so
       * replacing it would break every relayed connection for nothing.
       * The new ones sign the next Allocate. A refresh now tells the
       * other case apart: the relay rebooted and the allocation is gone
       * (437), or a relay that checks the expiry on every request (401
       * once it passes); either loses the allocation and allocates
       * anew under these. */
      g_debug ("relay credentials renewed: kept for the next allocation");
      g_strlcpy (c->next_username, username, sizeof c->next_username);
      g_strlcpy (c->next_password, password, sizeof c->next_password);
      c->have_next = TRUE;
      if (!tx_pending (c, TX_REFRESH))
        turn_client_tx_start (c, now, TX_REFRESH, NULL, 0, 0);
      return;
    }
  /* No allocation, or one being made under the old credentials: restart
   * it under the new ones. */
  c->have_next = FALSE;
  g_strlcpy (c->username, username, sizeof c->username);
  g_strlcpy (c->password, password, sizeof c->password);
  c->have_key = FALSE;
  turn_client_lose_allocation (c);
  if (c->want_alloc)
    turn_client_start_allocate (c, now);
}

gboolean
ember_turn_client_add_peer (EmberTurnClient *c, gint64 now, const EmberAddr *peer)
{
  Peer *p = turn_client_find_peer (c, peer);
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
  turn_client_peer_sync (c, now, p);
  return TRUE;
}

void
ember_turn_client_remove_peer (EmberTurnClient *c, const EmberAddr *peer)
{
  Peer *p = turn_client_find_peer (c, peer);
  if (p != NULL)
    p->used = FALSE;  /* the server lets the binding expire */
}

void
ember_turn_client_deallocate (EmberTurnClient *c, gint64 now)
{
  c->want_alloc = FALSE;
  if (c->alloc == ALLOC_OK)
    turn_client_tx_start (c, now, TX_DEALLOCATE, NULL, 0, 0);
  turn_client_lose_allocation (c);
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
      return turn_client_handle_stun (c, now, buf, len, peer, data, data_len);
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
          if (t->kind != TX_DEALLOCATE)
            mark_down (c);
          continue;
        }
      turn_client_tx_send (c, now, t);
    }
  if (now >= c->next_keepalive)
    {
      if (!tx_pending (c, TX_BINDING))
        turn_client_tx_start (c, now, TX_BINDING, NULL, 0, 0);
      c->next_keepalive = now + (c->down ? EMBER_TURN_RETRY_US : EMBER_TURN_KEEPALIVE_US);
    }
  if (c->down)
    return;
  if (c->want_alloc && c->alloc == ALLOC_NONE && now >= c->alloc_retry_at)
    turn_client_start_allocate (c, now);
  if (c->alloc == ALLOC_OK && now >= c->refresh_at && !tx_pending (c, TX_REFRESH))
    {
      turn_client_tx_start (c, now, TX_REFRESH, NULL, 0, 0);
      c->refresh_at = now + EMBER_TURN_TRANSACTION_TIMEOUT_US;
    }
  if (c->alloc == ALLOC_OK)
    for (guint i = 0; i < EMBER_TURN_MAX_PEERS; i++)
      if (c->peers[i].used)
        turn_client_peer_sync (c, now, &c->peers[i]);
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
  /* handle_timeout() moves refresh_at on even when no slot is free; while
   * a Refresh is in flight its retransmissions above are what is due
   * (after a jump in time, e.g. a suspend, refresh_at may lie long past). */
  if (c->alloc == ALLOC_OK && !tx_pending (c, TX_REFRESH))
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
  if (c->want_alloc && c->alloc == ALLOC_NONE && !tx_pending (c, TX_ALLOCATE))
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
  Peer *p = turn_client_find_peer (c, peer);
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
  turn_client_random_txid (c, txid);
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
