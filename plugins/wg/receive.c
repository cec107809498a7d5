/* receive.c — decapsulate(): the four message types of a datagram.
 *
 * Order of checks per message, as in the kernel's receive.c: exact
 * length and type, then mac1 (cheap, stops random junk before any DH),
 * then under load mac2 or a cookie reply, then the Noise step or the
 * AEAD, and only after authentication any state change (replay window,
 * endpoint roaming, timers).
 */
#include "engine-private.h"

#include <string.h>

#include "secret.h"

static EmberWgResult
check_macs (EmberWgEngine *e, gint64 now, const EmberAddr *from,
            const guint8 *msg, gsize len, guint32 sender_index)
{
  EmberWgMacState st = ember_wg_cookie_validate (&e->checker, msg, len, from,
                                                 e->under_load, now, &e->rng);
  guint8 reply[EMBER_WG_COOKIE_LEN];

  if (st == EMBER_WG_MAC_INVALID)
    return EMBER_WG_ERR_MAC;
  if (!e->under_load || st == EMBER_WG_MAC_VALID_MAC2)
    return EMBER_WG_DONE;
  /* §5.3: under load, answer a valid mac1 without mac2 with a cookie
   * instead of doing the DH work. */
  if (ember_wg_cookie_create_reply (&e->checker, e->scratch, msg, len,
                                    sender_index, from, now, &e->rng, reply))
    ember_wg_engine_push_control (e, NULL, from, reply, sizeof reply);
  return EMBER_WG_ERR_BUSY;
}

static EmberWgHandshake *
lookup_static (gpointer data, const guint8 remote_static[EMBER_WG_KEY])
{
  EmberWgPeer *peer = g_hash_table_lookup (data, remote_static);

  return peer != NULL ? &peer->hs : NULL;
}

/* Turns the handshake's index into the new keypair's index. */
static EmberWgKeypair *
derive_keypair (EmberWgPeer *peer, gint64 now)
{
  EmberWgEngine *e = peer->engine;
  EmberWgSessionKeys keys;
  EmberWgKeypair *kp = NULL;
  guint32 idx = peer->hs_entry.index;

  if (ember_wg_noise_begin_session (&peer->hs, &keys))
    kp = ember_wg_keypair_new (peer, &keys, now);
  ember_wg_wipe (&keys, sizeof keys);
  ember_wg_index_unregister (e, &peer->hs_entry);
  peer->hs_registered = FALSE;
  if (kp == NULL)
    return NULL;
  kp->entry.index = idx;
  g_hash_table_insert (e->by_index, GUINT_TO_POINTER (idx), &kp->entry);
  ember_wg_peer_add_keypair (peer, kp);
  ember_wg_timers_session_derived (peer, now);
  return kp;
}

static EmberWgResult
handle_initiation (EmberWgEngine *e, gint64 now, const EmberAddr *from,
                   const guint8 *msg, EmberWgPeer **peer_out)
{
  EmberWgResult res;
  EmberWgHandshake *hs;
  EmberWgPeer *peer;
  guint8 resp[EMBER_WG_RESP_LEN];
  guint32 idx;

  res = check_macs (e, now, from, msg, EMBER_WG_INIT_LEN,
                    ember_wg_get_le32 (msg + EMBER_WG_INIT_SENDER));
  if (res != EMBER_WG_DONE)
    return res;

  hs = ember_wg_noise_consume_initiation (&e->id, e->scratch, msg,
                                          lookup_static, e->by_key, now, &res);
  if (hs == NULL)
    return res;
  peer = g_hash_table_lookup (e->by_key, hs->remote_static);
  *peer_out = peer;
  peer->endpoint = *from;
  peer->stats.rx_bytes += EMBER_WG_INIT_LEN;

  /* Answer at once; the response's index becomes the new keypair's. */
  ember_wg_index_unregister (e, &peer->hs_entry);
  idx = ember_wg_index_register (e, &peer->hs_entry);
  peer->hs_registered = TRUE;
  if (!ember_wg_noise_create_response (hs, e->scratch, &e->rng, idx, resp))
    {
      ember_wg_index_unregister (e, &peer->hs_entry);
      peer->hs_registered = FALSE;
      return EMBER_WG_ERR_HANDSHAKE;
    }
  ember_wg_cookie_add_macs (&peer->cookie, resp, sizeof resp, now);
  if (derive_keypair (peer, now) == NULL)
    return EMBER_WG_ERR_HANDSHAKE;
  ember_wg_engine_push_control (e, peer, from, resp, sizeof resp);
  peer->stats.tx_bytes += EMBER_WG_RESP_LEN;

  ember_wg_timers_any_authenticated_packet_traversal (peer, now);
  ember_wg_timers_any_authenticated_packet_sent (peer);
  ember_wg_timers_any_authenticated_packet_received (peer);
  return EMBER_WG_DONE;
}

static EmberWgResult
handle_response (EmberWgEngine *e, gint64 now, const EmberAddr *from,
                 const guint8 *msg, EmberWgPeer **peer_out)
{
  EmberWgIndexEntry *entry;
  EmberWgPeer *peer;
  EmberWgResult res;

  res = check_macs (e, now, from, msg, EMBER_WG_RESP_LEN,
                    ember_wg_get_le32 (msg + EMBER_WG_RESP_SENDER));
  if (res != EMBER_WG_DONE)
    return res;

  entry = ember_wg_index_lookup (e, ember_wg_get_le32 (msg + EMBER_WG_RESP_RECEIVER));
  if (entry == NULL || entry->kind != EMBER_WG_INDEX_HANDSHAKE)
    return EMBER_WG_ERR_UNKNOWN;
  peer = entry->peer;
  res = ember_wg_noise_consume_response (&peer->hs, &e->id, e->scratch, msg);
  if (res != EMBER_WG_DONE)
    return res;
  *peer_out = peer;
  if (derive_keypair (peer, now) == NULL)
    return EMBER_WG_ERR_HANDSHAKE;
  peer->endpoint = *from;
  peer->stats.rx_bytes += EMBER_WG_RESP_LEN;

  ember_wg_timers_handshake_complete (peer, now);
  ember_wg_timers_any_authenticated_packet_received (peer);
  ember_wg_timers_any_authenticated_packet_traversal (peer, now);
  ember_wg_engine_push_event (e, EMBER_WG_EVENT_HANDSHAKE_COMPLETE, peer);
  /* Confirm the session to the responder at once (it holds the keys in
   * `next` until our first data packet); staged data does it as well. */
  ember_wg_peer_queue_keepalive (peer, now);
  return EMBER_WG_DONE;
}

static EmberWgResult
handle_cookie (EmberWgEngine *e, gint64 now, const guint8 *msg,
               EmberWgPeer **peer_out)
{
  EmberWgIndexEntry *entry;

  entry = ember_wg_index_lookup (e, ember_wg_get_le32 (msg + EMBER_WG_COOKIE_RECEIVER));
  if (entry == NULL)
    return EMBER_WG_ERR_UNKNOWN;
  if (!ember_wg_cookie_consume_reply (&entry->peer->cookie, e->scratch, msg, now))
    return EMBER_WG_ERR_MAC;
  *peer_out = entry->peer;
  /* §5.4.7: do not resend at once; the retransmit timer will, with mac2. */
  return EMBER_WG_DONE;
}

/* Length of the IP packet at p (at most plain bytes), or 0 if invalid. */
static gsize
ip_length (const guint8 *p, gsize plain)
{
  gsize tot;

  if (plain >= 20 && (p[0] >> 4) == 4)
    {
      tot = (gsize) p[2] << 8 | p[3];
      return tot >= 20 && tot <= plain ? tot : 0;
    }
  if (plain >= 40 && (p[0] >> 4) == 6)
    {
      tot = 40 + ((gsize) p[4] << 8 | p[5]);
      return tot <= plain ? tot : 0;
    }
  return 0;
}

static void
keep_key_fresh_receive (EmberWgPeer *peer, gint64 now)
{
  EmberWgKeypair *kp = peer->current;

  /* §6.2: the initiator rekeys before its keys are rejected, once, when
   * it hears from the peer that late. */
  if (kp != NULL && kp->initiator && !peer->sent_lastminute_handshake
      && now - kp->birth >= EMBER_WG_REJECT_AFTER_TIME
                                - EMBER_WG_KEEPALIVE_TIMEOUT
                                - EMBER_WG_REKEY_TIMEOUT)
    {
      peer->sent_lastminute_handshake = TRUE;
      ember_wg_peer_send_initiation (peer, now, FALSE);
    }
}

static EmberWgResult
handle_data (EmberWgEngine *e, gint64 now, const EmberAddr *from,
             guint8 *p, gsize len, gsize *offset, gsize *out_len,
             EmberWgPeer **peer_out)
{
  EmberWgIndexEntry *entry;
  EmberWgKeypair *kp;
  EmberWgPeer *peer;
  guint64 counter;
  gsize plain, ip_len;

  entry = ember_wg_index_lookup (e, ember_wg_get_le32 (p + EMBER_WG_DATA_RECEIVER));
  if (entry == NULL || entry->kind != EMBER_WG_INDEX_KEYPAIR)
    return EMBER_WG_ERR_UNKNOWN;
  kp = entry->keypair;
  peer = entry->peer;
  if (!ember_wg_keypair_can_receive (kp, now))
    return EMBER_WG_ERR_EXPIRED;
  counter = ember_wg_get_le64 (p + EMBER_WG_DATA_COUNTER);
  if (counter >= EMBER_WG_REJECT_AFTER_MESSAGES)
    return EMBER_WG_ERR_REPLAY;
  if (!ember_wg_aead_open (kp->recv, counter, NULL, 0,
                           p + EMBER_WG_DATA_HEADER, len - EMBER_WG_DATA_HEADER))
    return EMBER_WG_ERR_DECRYPT;
  /* Only an authenticated counter may move the window. */
  if (!ember_wg_replay_check (&kp->replay, counter))
    return EMBER_WG_ERR_REPLAY;

  *peer_out = peer;
  if (ember_wg_peer_received_with (peer, kp))
    {
      ember_wg_timers_handshake_complete (peer, now);
      ember_wg_engine_push_event (e, EMBER_WG_EVENT_HANDSHAKE_COMPLETE, peer);
    }
  keep_key_fresh_receive (peer, now);
  ember_wg_timers_any_authenticated_packet_received (peer);
  ember_wg_timers_any_authenticated_packet_traversal (peer, now);
  peer->endpoint = *from;  /* §2.1 roaming: the latest authenticated source */
  peer->stats.rx_bytes += len;
  peer->stats.rx_packets++;

  plain = len - EMBER_WG_DATA_MIN;
  if (plain == 0)
    return EMBER_WG_DONE;  /* keepalive */
  ip_len = ip_length (p + EMBER_WG_DATA_HEADER, plain);
  if (ip_len == 0)
    return EMBER_WG_ERR_MALFORMED;
  ember_wg_timers_data_received (peer, now);
  *offset += EMBER_WG_DATA_HEADER;
  *out_len = ip_len;
  return EMBER_WG_PACKET;
}

EmberWgResult
ember_wg_engine_decapsulate (EmberWgEngine *e, gint64 now,
                             const EmberAddr *from, guint8 *buf,
                             gsize *offset, gsize *len,
                             EmberWgPeer **peer_out)
{
  guint8 *p = buf + *offset;
  gsize n = *len;
  EmberWgPeer *dummy = NULL;

  if (peer_out == NULL)
    peer_out = &dummy;
  *peer_out = NULL;

  /* The type is a little-endian 32-bit word: 3 reserved zero bytes. */
  if (n < 4 || p[1] != 0 || p[2] != 0 || p[3] != 0)
    return EMBER_WG_ERR_MALFORMED;
  switch (p[0])
    {
    case EMBER_WG_MSG_INITIATION:
      if (n != EMBER_WG_INIT_LEN)
        return EMBER_WG_ERR_MALFORMED;
      return handle_initiation (e, now, from, p, peer_out);
    case EMBER_WG_MSG_RESPONSE:
      if (n != EMBER_WG_RESP_LEN)
        return EMBER_WG_ERR_MALFORMED;
      return handle_response (e, now, from, p, peer_out);
    case EMBER_WG_MSG_COOKIE:
      if (n != EMBER_WG_COOKIE_LEN)
        return EMBER_WG_ERR_MALFORMED;
      return handle_cookie (e, now, p, peer_out);
    case EMBER_WG_MSG_DATA:
      /* Not a multiple of 16: senders cap padding at their MTU. */
      if (n < EMBER_WG_DATA_MIN)
        return EMBER_WG_ERR_MALFORMED;
      return handle_data (e, now, from, p, n, offset, len, peer_out);
    default:
      return EMBER_WG_ERR_MALFORMED;
    }
}
