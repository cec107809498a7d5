/* timers.c — the per-peer timers of whitepaper §6, as deadlines.
 *
 * The kernel arms five timer_lists per peer; here each is an absolute
 * deadline on the caller's `now` clock (EMBER_WG_NEVER when disarmed),
 * run by update_timers() and reported by poll_timeout(). The event
 * functions keep the kernel's names (timers.c there) so the rules can be
 * compared one by one.
 */
#include "engine-private.h"

static gint64
jitter (EmberWgPeer *peer)
{
  guint32 r;

  /* §6.1: REKEY_TIMEOUT plus 0-333 ms, so peers do not synchronise. */
  peer->engine->rng.func (peer->engine->rng.data, (guint8 *) &r, sizeof r);
  return (gint64) (r % (EMBER_WG_REKEY_TIMEOUT_JITTER_MAX + 1));
}

void
ember_wg_timers_init (EmberWgPeer *peer)
{
  peer->t_retransmit = EMBER_WG_NEVER;
  peer->t_send_keepalive = EMBER_WG_NEVER;
  peer->t_new_handshake = EMBER_WG_NEVER;
  peer->t_zero_keys = EMBER_WG_NEVER;
  peer->t_persistent = EMBER_WG_NEVER;
  peer->last_sent_handshake = G_MININT64;
}

/* Sent a data packet (not a keepalive): expect an answer within
 * KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, or start a new handshake. */
void
ember_wg_timers_data_sent (EmberWgPeer *peer, gint64 now)
{
  if (peer->t_new_handshake == EMBER_WG_NEVER)
    peer->t_new_handshake = now + EMBER_WG_KEEPALIVE_TIMEOUT
                            + EMBER_WG_REKEY_TIMEOUT + jitter (peer);
}

/* Received data: answer with a keepalive if we send nothing else. */
void
ember_wg_timers_data_received (EmberWgPeer *peer, gint64 now)
{
  if (peer->t_send_keepalive == EMBER_WG_NEVER)
    peer->t_send_keepalive = now + EMBER_WG_KEEPALIVE_TIMEOUT;
  else
    peer->need_another_keepalive = TRUE;
}

/* Anything authenticated we send doubles as a keepalive. */
void
ember_wg_timers_any_authenticated_packet_sent (EmberWgPeer *peer)
{
  peer->t_send_keepalive = EMBER_WG_NEVER;
}

/* Anything authenticated received shows the session is alive. */
void
ember_wg_timers_any_authenticated_packet_received (EmberWgPeer *peer)
{
  peer->t_new_handshake = EMBER_WG_NEVER;
}

void
ember_wg_timers_any_authenticated_packet_traversal (EmberWgPeer *peer,
                                                    gint64 now)
{
  if (peer->persistent_keepalive_s > 0)
    peer->t_persistent = now + (gint64) peer->persistent_keepalive_s
                                   * EMBER_WG_SECOND;
}

void
ember_wg_timers_handshake_initiated (EmberWgPeer *peer, gint64 now)
{
  peer->t_retransmit = now + EMBER_WG_REKEY_TIMEOUT + jitter (peer);
}

void
ember_wg_timers_handshake_complete (EmberWgPeer *peer, gint64 now)
{
  peer->t_retransmit = EMBER_WG_NEVER;
  peer->handshake_attempts = 0;
  peer->sent_lastminute_handshake = FALSE;
  peer->stats.last_handshake = now;
}

/* Keys die 3 × REJECT_AFTER_TIME after the last session was derived. */
void
ember_wg_timers_session_derived (EmberWgPeer *peer, gint64 now)
{
  peer->t_zero_keys = now + EMBER_WG_ZERO_KEYS_AFTER;
}

static void
expired_retransmit (EmberWgPeer *peer, gint64 now)
{
  peer->t_retransmit = EMBER_WG_NEVER;
  if (peer->handshake_attempts > EMBER_WG_MAX_HANDSHAKE_ATTEMPTS)
    {
      /* §6.4: after REKEY_ATTEMPT_TIME stop trying; drop what waited. */
      g_debug ("peer handshake did not complete after %u attempts, giving up",
               peer->handshake_attempts + 2);
      peer->t_send_keepalive = EMBER_WG_NEVER;
      ember_wg_peer_clear_staged (peer);
      if (peer->t_zero_keys == EMBER_WG_NEVER)
        peer->t_zero_keys = now + EMBER_WG_ZERO_KEYS_AFTER;
      ember_wg_engine_push_event (peer->engine,
                                  EMBER_WG_EVENT_HANDSHAKE_FAILED, peer);
      return;
    }
  peer->handshake_attempts++;
  ember_wg_peer_send_initiation (peer, now, TRUE);
}

static void
expired_send_keepalive (EmberWgPeer *peer, gint64 now)
{
  peer->t_send_keepalive = EMBER_WG_NEVER;
  ember_wg_peer_send_keepalive (peer);
  if (peer->need_another_keepalive)
    {
      peer->need_another_keepalive = FALSE;
      peer->t_send_keepalive = now + EMBER_WG_KEEPALIVE_TIMEOUT;
    }
}

static void
expired_new_handshake (EmberWgPeer *peer, gint64 now)
{
  peer->t_new_handshake = EMBER_WG_NEVER;
  /* We sent data and heard nothing back for 15 s: re-handshake. */
  ember_wg_peer_send_initiation (peer, now, FALSE);
}

static void
expired_zero_keys (EmberWgPeer *peer)
{
  peer->t_zero_keys = EMBER_WG_NEVER;
  ember_wg_peer_clear_keypairs (peer);
  ember_wg_index_unregister (peer->engine, &peer->hs_entry);
  peer->hs_registered = FALSE;
  ember_wg_noise_handshake_clear (&peer->hs);
  ember_wg_engine_push_event (peer->engine, EMBER_WG_EVENT_KEYS_EXPIRED, peer);
}

static void
expired_persistent (EmberWgPeer *peer)
{
  peer->t_persistent = EMBER_WG_NEVER;
  ember_wg_peer_send_keepalive (peer);
}

void
ember_wg_timers_run (EmberWgPeer *peer, gint64 now)
{
  if (peer->t_zero_keys <= now)
    expired_zero_keys (peer);
  if (peer->t_retransmit <= now)
    expired_retransmit (peer, now);
  if (peer->t_new_handshake <= now)
    expired_new_handshake (peer, now);
  if (peer->t_send_keepalive <= now)
    expired_send_keepalive (peer, now);
  if (peer->t_persistent <= now)
    expired_persistent (peer);
}

gint64
ember_wg_timers_next (const EmberWgPeer *peer)
{
  gint64 t = peer->t_retransmit;

  t = MIN (t, peer->t_send_keepalive);
  t = MIN (t, peer->t_new_handshake);
  t = MIN (t, peer->t_zero_keys);
  t = MIN (t, peer->t_persistent);
  return t;
}
