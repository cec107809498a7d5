/* engine.c — the WireGuard engine: peers, handshake dispatch, the data
 * path and the output queues (see engine.h and ember-plugin-wg.h).
 *
 * The flow of every input follows the kernel's receive.c / send.c so the
 * timer events and key rotation happen at the same points; the
 * difference is that output is queued for poll_transmit() instead of
 * being sent, and time is the caller's `now`.
 */
#include "engine-private.h"

#include <string.h>

#include "secret.h"
#include "x25519.h"

/* ---- Engine and peers ----------------------------------------------- */

static guint
key_hash (gconstpointer k)
{
  return ember_wg_get_le32 (k);
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, EMBER_WG_KEY) == 0;
}

EmberWgEngine *
ember_wg_engine_new (const guint8 private_key[EMBER_WG_KEY_SIZE],
                     EmberWgRngFunc rng, gpointer rng_data, gint64 now,
                     gint64 wall_us, GError **error)
{
  EmberWgEngine *e;
  guint8 zero[EMBER_WG_AEAD_KEY] = { 0 };

  g_return_val_if_fail (private_key != NULL && rng != NULL, NULL);

  e = g_new0 (EmberWgEngine, 1);
  memcpy (e->id.private_key, private_key, EMBER_WG_KEY);
  ember_wg_x25519_clamp (e->id.private_key);
  ember_wg_x25519_public (e->id.public_key, e->id.private_key);
  e->rng.func = rng;
  e->rng.data = rng_data;
  e->wall_offset = wall_us - now;
  e->rekey_after_time = EMBER_WG_REKEY_AFTER_TIME;
  ember_wg_cookie_checker_init (&e->checker, e->id.public_key);
  e->scratch = ember_wg_aead_new (zero);
  if (e->scratch == NULL)
    {
      g_set_error_literal (error, EMBER_PLUGIN_ERROR,
                           EMBER_PLUGIN_ERROR_UNSUPPORTED,
                           "the AEAD backend has no ChaCha20-Poly1305");
      ember_wg_wipe (e, sizeof *e);
      g_free (e);
      return NULL;
    }
  e->peers = g_ptr_array_new ();
  e->by_key = g_hash_table_new (key_hash, key_equal);
  e->by_index = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_queue_init (&e->staged_peers);
  return e;
}

static void
peer_free (EmberWgPeer *peer)
{
  EmberWgEngine *e = peer->engine;

  ember_wg_peer_clear_staged (peer);
  ember_wg_peer_clear_keypairs (peer);
  ember_wg_index_unregister (e, &peer->hs_entry);
  g_free (peer->staged);
  ember_wg_wipe (peer, sizeof *peer);
  g_free (peer);
}

void
ember_wg_engine_free (EmberWgEngine *e)
{
  if (e == NULL)
    return;
  for (guint i = 0; i < e->peers->len; i++)
    peer_free (g_ptr_array_index (e->peers, i));
  g_ptr_array_unref (e->peers);
  g_hash_table_unref (e->by_key);
  g_hash_table_unref (e->by_index);
  ember_wg_aead_free (e->scratch);
  ember_wg_wipe (e, sizeof *e);
  g_free (e);
}

void
ember_wg_engine_set_clock (EmberWgEngine *e, gint64 now, gint64 wall_us)
{
  e->wall_offset = wall_us - now;
}

void
ember_wg_engine_set_under_load (EmberWgEngine *e, gboolean under_load)
{
  e->under_load = under_load;
}

void
ember_wg_engine_set_test_rekey_after (EmberWgEngine *e, gint64 rekey_after_us)
{
  e->rekey_after_time = rekey_after_us > 0 ? rekey_after_us : EMBER_WG_REKEY_AFTER_TIME;
}

void
ember_wg_engine_get_public_key (EmberWgEngine *e, guint8 out[EMBER_WG_KEY_SIZE])
{
  memcpy (out, e->id.public_key, EMBER_WG_KEY);
}

EmberWgPeer *
ember_wg_engine_add_peer (EmberWgEngine *e, const EmberWgPeerConfig *config,
                          GError **error)
{
  EmberWgPeer *peer;

  if (g_hash_table_contains (e->by_key, config->public_key))
    {
      g_set_error_literal (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                           "wg: peer public key is configured twice");
      return NULL;
    }
  if (memcmp (config->public_key, e->id.public_key, EMBER_WG_KEY) == 0)
    {
      g_set_error_literal (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                           "wg: peer public key is the engine's own key");
      return NULL;
    }

  peer = g_new0 (EmberWgPeer, 1);
  peer->engine = e;
  memcpy (peer->public_key, config->public_key, EMBER_WG_KEY);
  if (!ember_wg_noise_handshake_init (&peer->hs, &e->id, config->public_key,
                                      config->has_preshared_key
                                          ? config->preshared_key : NULL))
    {
      g_set_error_literal (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                           "wg: peer public key is a low-order point "
                           "(X25519 with it gives zero)");
      ember_wg_wipe (peer, sizeof *peer);
      g_free (peer);
      return NULL;
    }
  peer->hs_entry.kind = EMBER_WG_INDEX_HANDSHAKE;
  peer->hs_entry.peer = peer;
  ember_wg_cookie_maker_init (&peer->cookie, config->public_key);
  peer->endpoint = config->endpoint;
  peer->persistent_keepalive_s = config->persistent_keepalive_s;
  peer->staged = g_new (EmberWgStaged, EMBER_WG_STAGED_MAX);
  peer->stats.last_handshake = G_MININT64;
  ember_wg_timers_init (peer);

  g_ptr_array_add (e->peers, peer);
  g_hash_table_insert (e->by_key, peer->public_key, peer);
  return peer;
}

void
ember_wg_engine_remove_peer (EmberWgEngine *e, EmberWgPeer *peer)
{
  g_return_if_fail (peer != NULL && peer->engine == e);

  /* Forget queued output that names the peer. */
  for (guint i = 0; i < e->control_count; i++)
    {
      EmberWgControl *c = &e->control[(e->control_head + i) % EMBER_WG_CONTROL_MAX];
      if (c->peer == peer)
        c->len = 0;
    }
  for (guint i = 0; i < e->event_count; i++)
    {
      EmberWgEvent *ev = &e->events[(e->event_head + i) % EMBER_WG_EVENT_MAX];
      if (ev->peer == peer)
        ev->peer = NULL;
    }
  g_hash_table_remove (e->by_key, peer->public_key);
  g_ptr_array_remove_fast (e->peers, peer);
  peer_free (peer);
}

EmberWgPeer *
ember_wg_engine_lookup_peer (EmberWgEngine *e,
                             const guint8 public_key[EMBER_WG_KEY_SIZE])
{
  return g_hash_table_lookup (e->by_key, public_key);
}

void
ember_wg_peer_set_endpoint (EmberWgPeer *peer, const EmberAddr *endpoint)
{
  peer->endpoint = *endpoint;
}

void
ember_wg_peer_get_stats (EmberWgPeer *peer, EmberWgPeerStats *stats)
{
  *stats = peer->stats;
  stats->handshake_attempts = peer->handshake_attempts;
  stats->endpoint = peer->endpoint;
  /* Age is checked on use; here "has a current keypair". */
  stats->has_session = peer->current != NULL;
}

/* ---- Sending -------------------------------------------------------- */

void
ember_wg_peer_send_initiation (EmberWgPeer *peer, gint64 now, gboolean is_retry)
{
  EmberWgEngine *e = peer->engine;
  guint8 msg[EMBER_WG_INIT_LEN];
  guint32 idx;

  if (!is_retry)
    peer->handshake_attempts = 0;
  /* §6.1 / kernel: at most one initiation per REKEY_TIMEOUT. */
  if (peer->last_sent_handshake != G_MININT64
      && now - peer->last_sent_handshake < EMBER_WG_REKEY_TIMEOUT)
    return;
  peer->last_sent_handshake = now;

  ember_wg_index_unregister (e, &peer->hs_entry);
  idx = ember_wg_index_register (e, &peer->hs_entry);
  peer->hs_registered = TRUE;
  if (!ember_wg_noise_create_initiation (&peer->hs, &e->id, e->scratch,
                                         &e->rng, now + e->wall_offset, idx,
                                         msg))
    {
      ember_wg_index_unregister (e, &peer->hs_entry);
      peer->hs_registered = FALSE;
      return;
    }
  ember_wg_cookie_add_macs (&peer->cookie, msg, sizeof msg, now);
  ember_wg_engine_push_control (e, peer, &peer->endpoint, msg, sizeof msg);
  ember_wg_wipe (msg, sizeof msg);
  peer->stats.tx_bytes += EMBER_WG_INIT_LEN;

  ember_wg_timers_any_authenticated_packet_traversal (peer, now);
  ember_wg_timers_any_authenticated_packet_sent (peer);
  ember_wg_timers_handshake_initiated (peer, now);
}

void
ember_wg_engine_initiate (EmberWgEngine *e, EmberWgPeer *peer, gint64 now)
{
  g_return_if_fail (peer != NULL && peer->engine == e);
  ember_wg_peer_send_initiation (peer, now, FALSE);
}

void
ember_wg_peer_queue_keepalive (EmberWgPeer *peer, gint64 now)
{
  /* Kernel: a keepalive is an empty staged packet, so it waits behind
   * data and triggers a handshake when there is no session. */
  if (peer->staged_count == 0)
    ember_wg_peer_stage (peer, NULL, 0);
  if (!ember_wg_keypair_can_send (peer->current, now))
    ember_wg_peer_send_initiation (peer, now, FALSE);
}

/* Timers call this without `now`; their deadline is the time. */
void
ember_wg_peer_send_keepalive (EmberWgPeer *peer)
{
  if (peer->staged_count == 0)
    ember_wg_peer_stage (peer, NULL, 0);
}

static void
keep_key_fresh_send (EmberWgPeer *peer, gint64 now)
{
  EmberWgKeypair *kp = peer->current;

  /* §6.2: the initiator of a session rekeys after REKEY_AFTER_TIME;
   * anyone rekeys after REKEY_AFTER_MESSAGES. */
  if (kp != NULL
      && (kp->send_counter > EMBER_WG_REKEY_AFTER_MESSAGES
          || (kp->initiator && now - kp->birth >= peer->engine->rekey_after_time)))
    ember_wg_peer_send_initiation (peer, now, FALSE);
}

/* Builds the data message in place: header at p, plaintext at p + 16. */
static gsize
seal_data (EmberWgKeypair *kp, guint8 *p, gsize len)
{
  gsize padded = (len + EMBER_WG_PADDING - 1) & ~(gsize) (EMBER_WG_PADDING - 1);
  guint64 counter = kp->send_counter++;

  memset (p + EMBER_WG_DATA_HEADER + len, 0, padded - len);
  p[0] = EMBER_WG_MSG_DATA;
  p[1] = p[2] = p[3] = 0;
  ember_wg_put_le32 (p + EMBER_WG_DATA_RECEIVER, kp->remote_index);
  ember_wg_put_le64 (p + EMBER_WG_DATA_COUNTER, counter);
  if (!ember_wg_aead_seal (kp->send, counter, NULL, 0,
                           p + EMBER_WG_DATA_HEADER, padded))
    return 0;
  return EMBER_WG_DATA_HEADER + padded + EMBER_WG_TAG;
}

static void
data_sent (EmberWgPeer *peer, gint64 now, gsize plain_len, gsize wire_len)
{
  peer->stats.tx_bytes += wire_len;
  peer->stats.tx_packets++;
  ember_wg_timers_any_authenticated_packet_traversal (peer, now);
  ember_wg_timers_any_authenticated_packet_sent (peer);
  if (plain_len > 0)
    ember_wg_timers_data_sent (peer, now);
  keep_key_fresh_send (peer, now);
}

EmberWgResult
ember_wg_engine_encapsulate (EmberWgEngine *e, EmberWgPeer *peer, gint64 now,
                             guint8 *buf, gsize capacity, gsize *offset,
                             gsize *len, EmberAddr *to)
{
  gsize plain = *len, padded, wire;
  guint8 *p;

  g_return_val_if_fail (peer != NULL && peer->engine == e,
                        EMBER_WG_ERR_UNKNOWN);

  padded = (plain + EMBER_WG_PADDING - 1) & ~(gsize) (EMBER_WG_PADDING - 1);
  if (*offset < EMBER_WG_HEADROOM || *offset > capacity
      || capacity - *offset < padded + EMBER_WG_TAG || plain > G_MAXUINT16)
    return EMBER_WG_ERR_BUFFER;

  /* Keep order: behind already staged packets, or wait for a session. */
  if (peer->staged_count > 0 || !ember_wg_keypair_can_send (peer->current, now))
    {
      if (plain > EMBER_WG_STAGED_MTU)
        return EMBER_WG_ERR_BUFFER;
      ember_wg_peer_stage (peer, buf + *offset, plain);
      if (!ember_wg_keypair_can_send (peer->current, now))
        ember_wg_peer_send_initiation (peer, now, FALSE);
      return EMBER_WG_QUEUED;
    }

  p = buf + *offset - EMBER_WG_DATA_HEADER;
  wire = seal_data (peer->current, p, plain);
  if (wire == 0)
    return EMBER_WG_ERR_BUFFER;
  *offset -= EMBER_WG_DATA_HEADER;
  *len = wire;
  if (to != NULL)
    *to = peer->endpoint;
  data_sent (peer, now, plain, wire);
  return EMBER_WG_DATAGRAM;
}

/* ---- Output --------------------------------------------------------- */

gboolean
ember_wg_engine_poll_transmit (EmberWgEngine *e, gint64 now, guint8 *buf,
                               gsize capacity, EmberWgTransmit *out)
{
  g_return_val_if_fail (capacity >= EMBER_WG_TRANSMIT_MAX, FALSE);

  /* Handshake and cookie messages first (DESIGN: control before bulk). */
  while (e->control_count > 0)
    {
      EmberWgControl *c = &e->control[e->control_head];
      gboolean live = c->len > 0;

      e->control_head = (e->control_head + 1) % EMBER_WG_CONTROL_MAX;
      e->control_count--;
      if (!live)
        continue;  /* its peer was removed */
      memcpy (buf, c->data, c->len);
      out->peer = c->peer;
      out->to = c->to;
      out->len = c->len;
      ember_wg_wipe (c->data, c->len);
      return TRUE;
    }

  /* Then staged packets of every peer that has a session now. */
  for (GList *l = e->staged_peers.head; l != NULL;)
    {
      EmberWgPeer *peer = l->data;
      GList *next = l->next;

      if (ember_wg_keypair_can_send (peer->current, now))
        {
          EmberWgStaged *slot = &peer->staged[peer->staged_head];
          gsize plain = slot->len, wire;

          memcpy (buf + EMBER_WG_DATA_HEADER, slot->data, plain);
          peer->staged_head = (peer->staged_head + 1) % EMBER_WG_STAGED_MAX;
          if (--peer->staged_count == 0)
            {
              g_queue_unlink (&e->staged_peers, &peer->staged_link);
              peer->in_staged_list = FALSE;
            }
          wire = seal_data (peer->current, buf, plain);
          if (wire == 0)
            {
              peer->stats.staged_dropped++;
              l = next;
              continue;
            }
          out->peer = peer;
          out->to = peer->endpoint;
          out->len = wire;
          data_sent (peer, now, plain, wire);
          return TRUE;
        }
      l = next;
    }
  return FALSE;
}

gboolean
ember_wg_engine_poll_event (EmberWgEngine *e, EmberWgEvent *event)
{
  while (e->event_count > 0)
    {
      EmberWgEvent *ev = &e->events[e->event_head];
      e->event_head = (e->event_head + 1) % EMBER_WG_EVENT_MAX;
      e->event_count--;
      if (ev->peer == NULL)
        continue;  /* its peer was removed */
      *event = *ev;
      return TRUE;
    }
  return FALSE;
}

gint64
ember_wg_engine_poll_timeout (EmberWgEngine *e)
{
  gint64 t = EMBER_WG_NEVER;

  for (guint i = 0; i < e->peers->len; i++)
    t = MIN (t, ember_wg_timers_next (g_ptr_array_index (e->peers, i)));
  return t;
}

void
ember_wg_engine_update_timers (EmberWgEngine *e, gint64 now)
{
  for (guint i = 0; i < e->peers->len; i++)
    {
      EmberWgPeer *peer = g_ptr_array_index (e->peers, i);
      gboolean had_staged = peer->staged_count > 0;

      ember_wg_timers_run (peer, now);
      /* A keepalive staged by a timer with no session needs a handshake. */
      if (!had_staged && peer->staged_count > 0)
        ember_wg_peer_queue_keepalive (peer, now);
    }
}
