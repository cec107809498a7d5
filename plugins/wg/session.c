/* session.c — keypairs (previous/current/next), the receiver-index table,
 * the per-peer staged ring and the engine's output rings. */
#include "engine-private.h"

#include <string.h>

#include "secret.h"

/* ---- Index table ---------------------------------------------------- */

guint32
ember_wg_index_register (EmberWgEngine *e, EmberWgIndexEntry *entry)
{
  guint32 idx;

  /* §5.4.2: a random 32-bit sender index, unique within the engine. */
  do
    e->rng.func (e->rng.data, (guint8 *) &idx, sizeof idx);
  while (idx == 0 || g_hash_table_contains (e->by_index, GUINT_TO_POINTER (idx)));
  entry->index = idx;
  g_hash_table_insert (e->by_index, GUINT_TO_POINTER (idx), entry);
  return idx;
}

void
ember_wg_index_unregister (EmberWgEngine *e, EmberWgIndexEntry *entry)
{
  if (entry->index != 0
      && g_hash_table_lookup (e->by_index, GUINT_TO_POINTER (entry->index))
             == entry)
    g_hash_table_remove (e->by_index, GUINT_TO_POINTER (entry->index));
  entry->index = 0;
}

EmberWgIndexEntry *
ember_wg_index_lookup (EmberWgEngine *e, guint32 index)
{
  return g_hash_table_lookup (e->by_index, GUINT_TO_POINTER (index));
}

/* ---- Keypairs ------------------------------------------------------- */

EmberWgKeypair *
ember_wg_keypair_new (EmberWgPeer *peer, const EmberWgSessionKeys *keys,
                      gint64 now)
{
  EmberWgKeypair *kp = g_new0 (EmberWgKeypair, 1);

  kp->send = ember_wg_aead_new (keys->send_key);
  kp->recv = ember_wg_aead_new (keys->recv_key);
  if (kp->send == NULL || kp->recv == NULL)
    {
      ember_wg_aead_free (kp->send);
      ember_wg_aead_free (kp->recv);
      g_free (kp);
      return NULL;
    }
  kp->entry.kind = EMBER_WG_INDEX_KEYPAIR;
  kp->entry.peer = peer;
  kp->entry.keypair = kp;
  kp->remote_index = keys->remote_index;
  kp->initiator = keys->initiator;
  kp->birth = now;
  kp->recv_valid = TRUE;
  ember_wg_replay_init (&kp->replay);
  return kp;
}

void
ember_wg_keypair_free (EmberWgEngine *e, EmberWgKeypair *kp)
{
  if (kp == NULL)
    return;
  ember_wg_index_unregister (e, &kp->entry);
  ember_wg_aead_free (kp->send);
  ember_wg_aead_free (kp->recv);
  ember_wg_wipe (kp, sizeof *kp);
  g_free (kp);
}

/* §5.4.5 and the kernel's noise_keypairs: the initiator can send on a
 * new keypair at once, so it becomes current; the responder must wait
 * for the initiator's first data packet (key confirmation), so it parks
 * the new keypair in `next`. */
void
ember_wg_peer_add_keypair (EmberWgPeer *peer, EmberWgKeypair *kp)
{
  EmberWgEngine *e = peer->engine;

  if (kp->initiator)
    {
      if (peer->next != NULL)
        {
          /* An unconfirmed next keypair still may receive in-flight
           * packets; it becomes previous, the old current goes. */
          ember_wg_keypair_free (e, peer->previous);
          peer->previous = peer->next;
          peer->next = NULL;
          ember_wg_keypair_free (e, peer->current);
        }
      else
        {
          ember_wg_keypair_free (e, peer->previous);
          peer->previous = peer->current;
        }
      peer->current = kp;
    }
  else
    {
      ember_wg_keypair_free (e, peer->next);
      peer->next = kp;
      ember_wg_keypair_free (e, peer->previous);
      peer->previous = NULL;
    }
}

/* TRUE when kp was `next` and got promoted (the handshake is confirmed). */
gboolean
ember_wg_peer_received_with (EmberWgPeer *peer, EmberWgKeypair *kp)
{
  if (kp != peer->next)
    return FALSE;
  ember_wg_keypair_free (peer->engine, peer->previous);
  peer->previous = peer->current;
  peer->current = peer->next;
  peer->next = NULL;
  return TRUE;
}

void
ember_wg_peer_clear_keypairs (EmberWgPeer *peer)
{
  ember_wg_keypair_free (peer->engine, peer->previous);
  ember_wg_keypair_free (peer->engine, peer->current);
  ember_wg_keypair_free (peer->engine, peer->next);
  peer->previous = peer->current = peer->next = NULL;
}

gboolean
ember_wg_keypair_can_send (const EmberWgKeypair *kp, gint64 now)
{
  /* §6.1: never send with a key older than REJECT_AFTER_TIME or past
   * REJECT_AFTER_MESSAGES; the responder never sends on `next`. */
  return kp != NULL && now - kp->birth < EMBER_WG_REJECT_AFTER_TIME
         && kp->send_counter < EMBER_WG_REJECT_AFTER_MESSAGES;
}

gboolean
ember_wg_keypair_can_receive (const EmberWgKeypair *kp, gint64 now)
{
  return kp != NULL && kp->recv_valid
         && now - kp->birth < EMBER_WG_REJECT_AFTER_TIME;
}

/* ---- Staged ring ---------------------------------------------------- */

void
ember_wg_peer_stage (EmberWgPeer *peer, const guint8 *data, gsize len)
{
  EmberWgEngine *e = peer->engine;
  EmberWgStaged *slot;

  g_return_if_fail (len <= EMBER_WG_STAGED_MTU);
  if (peer->staged_count == EMBER_WG_STAGED_MAX)
    {
      /* Full: like the kernel, drop the oldest; newer packets matter more. */
      peer->staged_head = (peer->staged_head + 1) % EMBER_WG_STAGED_MAX;
      peer->staged_count--;
      peer->stats.staged_dropped++;
    }
  slot = &peer->staged[(peer->staged_head + peer->staged_count)
                       % EMBER_WG_STAGED_MAX];
  slot->len = (guint16) len;
  if (len > 0)
    memcpy (slot->data, data, len);
  peer->staged_count++;
  if (!peer->in_staged_list)
    {
      peer->staged_link.data = peer;
      g_queue_push_tail_link (&e->staged_peers, &peer->staged_link);
      peer->in_staged_list = TRUE;
    }
}

void
ember_wg_peer_clear_staged (EmberWgPeer *peer)
{
  peer->stats.staged_dropped += peer->staged_count;
  peer->staged_head = 0;
  peer->staged_count = 0;
  if (peer->in_staged_list)
    {
      g_queue_unlink (&peer->engine->staged_peers, &peer->staged_link);
      peer->in_staged_list = FALSE;
    }
}

/* ---- Output rings --------------------------------------------------- */

void
ember_wg_engine_push_control (EmberWgEngine *e, EmberWgPeer *peer,
                              const EmberAddr *to, const guint8 *data,
                              gsize len)
{
  EmberWgControl *c;

  g_return_if_fail (len <= EMBER_WG_INIT_LEN);
  if (e->control_count == EMBER_WG_CONTROL_MAX)
    {
      /* The caller drains after every input, so this only happens when
       * it does not; the newest message is the one to lose (a retransmit
       * timer will make another). */
      e->control_dropped++;
      return;
    }
  c = &e->control[(e->control_head + e->control_count) % EMBER_WG_CONTROL_MAX];
  c->peer = peer;
  if (to != NULL)
    c->to = *to;
  else
    memset (&c->to, 0, sizeof c->to);
  c->len = (guint8) len;
  memcpy (c->data, data, len);
  e->control_count++;
}

void
ember_wg_engine_push_event (EmberWgEngine *e, EmberWgEventType type,
                            EmberWgPeer *peer)
{
  EmberWgEvent *ev;

  if (e->event_count == EMBER_WG_EVENT_MAX)
    {
      e->event_head = (e->event_head + 1) % EMBER_WG_EVENT_MAX;
      e->event_count--;
    }
  ev = &e->events[(e->event_head + e->event_count) % EMBER_WG_EVENT_MAX];
  ev->type = type;
  ev->peer = peer;
  e->event_count++;
}
