/* test-wg-engine.c — two engines in one process: handshake, data under
 * loss/reorder/duplication, key rotation on the whitepaper's schedule,
 * expiry, the cookie path under load, and bad input of every kind. */
#include <glib.h>
#include <string.h>

#include "wg-sim.h"
#include "wg-test-util.h"

typedef struct {
  guint8 *seen[2];      /* per receiving side: bitmap of seqs delivered */
  guint64 delivered[2];
} Tally;

static void
tally_packet (gpointer user, int side, const guint8 *p, gsize len)
{
  Tally *t = user;
  guint64 seq = 0;

  g_assert_true (sim_check_packet (p, len, &seq));
  g_assert_cmpuint (seq >> 3, <, 1u << 17);
  /* No duplicate may ever reach the TUN. */
  g_assert_false (t->seen[side][seq >> 3] & (1u << (seq & 7)));
  t->seen[side][seq >> 3] |= (guint8) (1u << (seq & 7));
  t->delivered[side]++;
}

static void
establish (Sim *s)
{
  g_assert_cmpint (sim_send (s, 0, 0, 60), ==, EMBER_WG_QUEUED);
  sim_settle (s);
  g_assert_cmpuint (s->handshakes[0], ==, 1);
  g_assert_cmpuint (s->handshakes[1], ==, 1);
}

static void
test_handshake_delivers_staged (void)
{
  Sim s;
  Tally t = { { g_malloc0 (1 << 17), g_malloc0 (1 << 17) }, { 0, 0 } };
  EmberWgPeerStats st;

  sim_init (&s, 1);
  s.on_packet = tally_packet;
  s.user = &t;
  /* Three packets wait for the handshake and arrive in order. */
  for (guint64 i = 0; i < 3; i++)
    g_assert_cmpint (sim_send (&s, 0, i, 100), ==, EMBER_WG_QUEUED);
  sim_settle (&s);
  g_assert_cmpuint (t.delivered[1], ==, 3);
  g_assert_cmpuint (s.handshakes[0], ==, 1);
  g_assert_cmpuint (s.handshakes[1], ==, 1);
  /* Now both directions go straight out. */
  g_assert_cmpint (sim_send (&s, 0, 10, 1280), ==, EMBER_WG_DATAGRAM);
  g_assert_cmpint (sim_send (&s, 1, 11, 40), ==, EMBER_WG_DATAGRAM);
  sim_settle (&s);
  g_assert_cmpuint (t.delivered[1], ==, 4);
  g_assert_cmpuint (t.delivered[0], ==, 1);
  ember_wg_peer_get_stats (s.peer[1], &st);
  g_assert_true (st.has_session);
  g_assert_cmpint (st.endpoint.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (st.endpoint.addr[3], ==, 1);  /* learnt A's address */
  g_free (t.seen[0]);
  g_free (t.seen[1]);
  sim_clear (&s);
}

/* 10^5 packets each way through 3% loss, 3% duplication and reordering by
 * latency jitter, over 250 s of virtual time: every delivered packet is intact,
 * none twice, and the initiator rekeys at REKEY_AFTER_TIME. */
static void
test_lossy_bulk_and_rekey (void)
{
  Sim s;
  Tally t = { { g_malloc0 (1 << 17), g_malloc0 (1 << 17) }, { 0, 0 } };
  const guint64 N = 100000;
  const gint64 step = 2500;  /* µs per pair of packets: 250 s in all */

  sim_init (&s, 2);
  s.on_packet = tally_packet;
  s.user = &t;
  s.loss = 0.03;
  s.dup = 0.03;
  s.jitter = 4000;  /* > the send interval: packets overtake each other */

  for (guint64 i = 0; i < N; i++)
    {
      gsize len = 28 + (gsize) g_rand_int_range (s.rand, 0, 200);
      sim_send (&s, 0, i, len);
      sim_send (&s, 1, i, len);
      s.now += step;
      while (sim_deliver (&s, TRUE))
        ;
      sim_run_timers (&s);
    }
  sim_settle (&s);

  g_test_message ("delivered %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT
                  ", handshakes A %u B %u",
                  t.delivered[1], t.delivered[0], s.handshakes[0], s.handshakes[1]);
  for (int e = 0; e < 16; e++)
    if (s.errors[0][e] || s.errors[1][e])
      g_test_message ("error -%d: A %" G_GUINT64_FORMAT " B %" G_GUINT64_FORMAT,
                      e, s.errors[0][e], s.errors[1][e]);
  for (guint h = 0; h < MIN (s.handshakes[0], 16u); h++)
    g_test_message ("A handshake %u at %" G_GINT64_FORMAT " ms", h,
                    (s.handshake_time[0][h] - 1000 * EMBER_WG_SECOND) / 1000);
  for (guint h = 0; h < MIN (s.handshakes[1], 16u); h++)
    g_test_message ("B handshake %u at %" G_GINT64_FORMAT " ms", h,
                    (s.handshake_time[1][h] - 1000 * EMBER_WG_SECOND) / 1000);
  /* Loss is 3%; packets queued while a handshake is pending are kept. */
  g_assert_cmpuint (t.delivered[1], >, N * 90 / 100);
  g_assert_cmpuint (t.delivered[0], >, N * 90 / 100);
  /* 250 s: the first session, a rekey near 120 s, another near 240 s. */
  g_assert_cmpuint (s.handshakes[0], >=, 3);
  gint64 gap = s.handshake_time[0][1] - s.handshake_time[0][0];
  g_test_message ("rekey after %" G_GINT64_FORMAT " ms", gap / 1000);
  g_assert_cmpint (gap, >=, EMBER_WG_REKEY_AFTER_TIME);
  g_assert_cmpint (gap, <, EMBER_WG_REKEY_AFTER_TIME + 3 * EMBER_WG_REKEY_TIMEOUT);
  /* Duplicates were refused by the replay window, not delivered. */
  g_assert_cmpuint (s.errors[0][-EMBER_WG_ERR_REPLAY] + s.errors[1][-EMBER_WG_ERR_REPLAY], >, 0);
  g_free (t.seen[0]);
  g_free (t.seen[1]);
  sim_clear (&s);
}

/* Captures the next datagram engine `side` wants to send. */
static gsize
capture (Sim *s, int side, guint8 *buf)
{
  EmberWgTransmit tx;

  /* sim_send() already moved its output onto the wire. */
  for (guint i = 0; i < s->wire->len; i++)
    {
      SimDgram *d = &g_array_index (s->wire, SimDgram, i);
      if (d->to != side)
        {
          gsize len = d->len;
          memcpy (buf, d->data, len);
          g_array_remove_index (s->wire, i);
          return len;
        }
    }
  if (!ember_wg_engine_poll_transmit (s->eng[side], s->now, buf,
                                      EMBER_WG_TRANSMIT_MAX, &tx))
    return 0;
  return tx.len;
}

static EmberWgResult
feed (Sim *s, int side, guint8 *data, gsize len)
{
  gsize off = 0, n = len;
  EmberWgPeer *peer;
  return ember_wg_engine_decapsulate (s->eng[side], s->now, &s->addr[1 - side],
                                      data, &off, &n, &peer);
}

static void
test_rekey_after_time_and_reject (void)
{
  Sim s;
  guint8 buf[EMBER_WG_TRANSMIT_MAX + 64], old[EMBER_WG_TRANSMIT_MAX];
  gsize off, n, old_len;
  EmberWgResult r;

  sim_init (&s, 3);
  establish (&s);

  /* Before REKEY_AFTER_TIME: data only. */
  s.now += EMBER_WG_REKEY_AFTER_TIME - EMBER_WG_SECOND;
  off = EMBER_WG_HEADROOM;
  n = 60;
  sim_make_packet (buf + off, n, 1);
  r = ember_wg_engine_encapsulate (s.eng[0], s.peer[0], s.now, buf, sizeof buf, &off, &n, NULL);
  g_assert_cmpint (r, ==, EMBER_WG_DATAGRAM);
  memcpy (old, buf + off, n);  /* kept undelivered for later */
  old_len = n;
  g_assert_cmpuint (capture (&s, 0, buf), ==, 0);

  /* After it: the initiator's next send also starts a handshake. */
  s.now += 2 * EMBER_WG_SECOND;
  off = EMBER_WG_HEADROOM;
  n = 60;
  sim_make_packet (buf + off, n, 2);
  r = ember_wg_engine_encapsulate (s.eng[0], s.peer[0], s.now, buf, sizeof buf, &off, &n, NULL);
  g_assert_cmpint (r, ==, EMBER_WG_DATAGRAM);
  g_assert_cmpuint (capture (&s, 0, buf), ==, EMBER_WG_INIT_LEN);
  g_assert_cmpuint (buf[0], ==, EMBER_WG_MSG_INITIATION);

  /* Lose every handshake; after REJECT_AFTER_TIME the old session is
   * dead both ways. */
  while (s.now < 1000 * EMBER_WG_SECOND + EMBER_WG_REJECT_AFTER_TIME + EMBER_WG_SECOND)
    {
      s.now += EMBER_WG_SECOND;
      for (int i = 0; i < 2; i++)
        {
          ember_wg_engine_update_timers (s.eng[i], s.now);
          while (capture (&s, i, buf) > 0)
            ;
        }
    }
  g_assert_cmpint (feed (&s, 1, old, old_len), ==, EMBER_WG_ERR_EXPIRED);
  off = EMBER_WG_HEADROOM;
  n = 60;
  sim_make_packet (buf + off, n, 3);
  r = ember_wg_engine_encapsulate (s.eng[0], s.peer[0], s.now, buf, sizeof buf, &off, &n, NULL);
  g_assert_cmpint (r, ==, EMBER_WG_QUEUED);
  sim_clear (&s);
}

/* The test-only rekey setter (interop tests use it through the vtable):
 * with 6 s the initiator rekeys on its first send 6 s after the
 * handshake, not before; traffic keeps flowing across each rekey; 0
 * restores REKEY_AFTER_TIME. (Below REKEY_TIMEOUT, 5 s, the initiation
 * rate limit would stretch the period to 5 s.) */
static void
test_rekey_after_test_setter (void)
{
  Sim s;
  guint64 seq = 0;

  sim_init (&s, 4);
  ember_wg_engine_set_test_rekey_after (s.eng[0], 6 * EMBER_WG_SECOND);
  establish (&s);
  g_assert_cmpuint (s.handshakes[0], ==, 1);
  /* 20 s of a packet each way every 100 ms. */
  for (int i = 0; i < 200; i++)
    {
      sim_send (&s, 0, seq, 60);
      sim_send (&s, 1, seq++, 60);
      s.now += 100 * 1000;
      while (sim_deliver (&s, TRUE))
        ;
      sim_run_timers (&s);
    }
  sim_settle (&s);
  /* Handshakes at ~0, 6, 12, 18 s. */
  g_assert_cmpuint (s.handshakes[0], >=, 4);
  for (guint h = 1; h < s.handshakes[0] && h < 16; h++)
    {
      gint64 gap = s.handshake_time[0][h] - s.handshake_time[0][h - 1];
      g_assert_cmpint (gap, >=, 6 * EMBER_WG_SECOND);
      g_assert_cmpint (gap, <, 7 * EMBER_WG_SECOND);
    }
  g_assert_cmpuint (s.errors[0][-EMBER_WG_ERR_DECRYPT] + s.errors[1][-EMBER_WG_ERR_DECRYPT], ==, 0);

  /* Back to the default: no rekey in the next 100 s. */
  ember_wg_engine_set_test_rekey_after (s.eng[0], 0);
  guint before = s.handshakes[0];
  for (int i = 0; i < 100; i++)
    {
      sim_send (&s, 0, seq, 60);
      sim_send (&s, 1, seq++, 60);
      s.now += EMBER_WG_SECOND;
      while (sim_deliver (&s, TRUE))
        ;
      sim_run_timers (&s);
    }
  g_assert_cmpuint (s.handshakes[0], ==, before);
  sim_clear (&s);
}

/* Without any answer the initiator gives up after REKEY_ATTEMPT_TIME,
 * and keys are wiped 3 × REJECT_AFTER_TIME after the last session. */
static void
test_give_up_and_zero_keys (void)
{
  Sim s;
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  guint inits = 0;
  gint64 start, deadline;

  sim_init (&s, 4);
  establish (&s);
  start = s.now;
  /* Cut the wire and keep sending so A tries to rekey. */
  s.now += EMBER_WG_REKEY_AFTER_TIME;
  sim_send (&s, 0, 1, 60);
  s.wire->len = 0;
  deadline = start + 4 * EMBER_WG_REJECT_AFTER_TIME;
  while (s.now < deadline)
    {
      gint64 t = ember_wg_engine_poll_timeout (s.eng[0]);
      if (t > deadline)
        break;
      s.now = MAX (t, s.now);
      ember_wg_engine_update_timers (s.eng[0], s.now);
      gsize len;
      while ((len = capture (&s, 0, buf)) > 0)
        inits += buf[0] == EMBER_WG_MSG_INITIATION;
      EmberWgEvent ev;
      while (ember_wg_engine_poll_event (s.eng[0], &ev))
        {
          if (ev.type == EMBER_WG_EVENT_HANDSHAKE_FAILED)
            s.failed[0]++;
          if (ev.type == EMBER_WG_EVENT_KEYS_EXPIRED)
            s.keys_expired[0]++;
        }
    }
  g_test_message ("%u initiations before giving up", inits);
  /* The first initiation (cleared off the wire above, uncounted) plus
   * MAX_HANDSHAKE_ATTEMPTS + 1 = 19 retries: 20 in all, as the kernel. */
  g_assert_cmpuint (inits, ==, EMBER_WG_MAX_HANDSHAKE_ATTEMPTS + 1);
  g_assert_cmpuint (s.failed[0], ==, 1);
  g_assert_cmpuint (s.keys_expired[0], ==, 1);
  g_assert_cmpint (ember_wg_engine_poll_timeout (s.eng[0]), ==, G_MAXINT64);
  sim_clear (&s);
}

static void
test_cookie_under_load (void)
{
  Sim s;
  guint8 init1[EMBER_WG_TRANSMIT_MAX], buf[EMBER_WG_TRANSMIT_MAX];
  EmberWgTransmit tx;
  gsize len;

  sim_init (&s, 5);
  ember_wg_engine_set_under_load (s.eng[1], TRUE);
  sim_send (&s, 0, 0, 60);
  len = capture (&s, 0, init1);
  g_assert_cmpuint (len, ==, EMBER_WG_INIT_LEN);

  /* No mac2 yet: B answers with a cookie reply instead of a response. */
  memcpy (buf, init1, len);
  g_assert_cmpint (feed (&s, 1, buf, len), ==, EMBER_WG_ERR_BUSY);
  g_assert_true (ember_wg_engine_poll_transmit (s.eng[1], s.now, buf, sizeof buf, &tx));
  g_assert_cmpuint (tx.len, ==, EMBER_WG_COOKIE_LEN);
  g_assert_null (tx.peer);
  g_assert_cmpuint (tx.to.addr[3], ==, 1);
  g_assert_false (ember_wg_engine_poll_transmit (s.eng[1], s.now, init1, sizeof init1, &tx));

  guint8 cookie[EMBER_WG_COOKIE_LEN];
  memcpy (cookie, buf, sizeof cookie);
  g_assert_cmpint (feed (&s, 0, buf, EMBER_WG_COOKIE_LEN), ==, EMBER_WG_DONE);
  /* The same reply again is refused (one per mac1 sent). */
  memcpy (buf, cookie, sizeof cookie);
  g_assert_cmpint (feed (&s, 0, buf, EMBER_WG_COOKIE_LEN), <, 0);

  /* The retransmit carries mac2 and gets through. */
  s.now = ember_wg_engine_poll_timeout (s.eng[0]);
  ember_wg_engine_update_timers (s.eng[0], s.now);
  sim_drain (&s, 0);
  g_assert_cmpuint (s.wire->len, ==, 1);
  {
    static const guint8 zero[EMBER_WG_MAC] = { 0 };
    g_assert_true (memcmp (g_array_index (s.wire, SimDgram, 0).data + EMBER_WG_INIT_MAC2,
                           zero, EMBER_WG_MAC) != 0);
  }
  sim_settle (&s);
  g_assert_cmpuint (s.handshakes[0], ==, 1);
  g_assert_cmpuint (s.handshakes[1], ==, 1);
  sim_clear (&s);
}

static void
test_replayed_initiation (void)
{
  Sim s;
  guint8 init[EMBER_WG_TRANSMIT_MAX], buf[EMBER_WG_TRANSMIT_MAX];
  gsize len;

  sim_init (&s, 6);
  sim_send (&s, 0, 0, 60);
  len = capture (&s, 0, init);
  memcpy (buf, init, len);
  g_assert_cmpint (feed (&s, 1, buf, len), ==, EMBER_WG_DONE);
  /* Equal timestamp: replay, even much later. */
  s.now += 10 * EMBER_WG_SECOND;
  memcpy (buf, init, len);
  g_assert_cmpint (feed (&s, 1, buf, len), ==, EMBER_WG_ERR_REPLAY);
  sim_clear (&s);
}

static void
test_replayed_data (void)
{
  Sim s;
  guint8 buf[EMBER_WG_TRANSMIT_MAX], copy[EMBER_WG_TRANSMIT_MAX];
  gsize off = EMBER_WG_HEADROOM, n = 100;

  sim_init (&s, 7);
  establish (&s);
  sim_make_packet (buf + off, n, 5);
  g_assert_cmpint (ember_wg_engine_encapsulate (s.eng[0], s.peer[0], s.now, buf, sizeof buf,
                                                &off, &n, NULL), ==, EMBER_WG_DATAGRAM);
  memcpy (copy, buf + off, n);
  g_assert_cmpint (feed (&s, 1, buf + off, n), ==, EMBER_WG_PACKET);
  g_assert_cmpint (feed (&s, 1, copy, n), ==, EMBER_WG_ERR_REPLAY);
  sim_clear (&s);
}

/* Every prefix and every single-byte corruption of every message type
 * is an error, never a crash and never a state change that matters. */
static void
test_malformed_every_prefix (void)
{
  Sim s;
  guint8 msgs[4][EMBER_WG_TRANSMIT_MAX], buf[EMBER_WG_TRANSMIT_MAX];
  gsize lens[4];
  EmberWgTransmit tx;
  int to[4];

  sim_init (&s, 8);
  ember_wg_engine_set_under_load (s.eng[1], TRUE);
  sim_send (&s, 0, 0, 60);
  lens[0] = capture (&s, 0, msgs[0]);
  memcpy (buf, msgs[0], lens[0]);
  g_assert_cmpint (feed (&s, 1, buf, lens[0]), ==, EMBER_WG_ERR_BUSY);
  g_assert_true (ember_wg_engine_poll_transmit (s.eng[1], s.now, msgs[2], EMBER_WG_TRANSMIT_MAX, &tx));
  lens[2] = tx.len;
  ember_wg_engine_set_under_load (s.eng[1], FALSE);
  memcpy (buf, msgs[0], lens[0]);
  g_assert_cmpint (feed (&s, 1, buf, lens[0]), ==, EMBER_WG_DONE);
  lens[1] = capture (&s, 1, msgs[1]);
  g_assert_cmpuint (lens[1], ==, EMBER_WG_RESP_LEN);
  /* A response from B and data from A, after the handshake. */
  memcpy (buf, msgs[1], lens[1]);
  g_assert_cmpint (feed (&s, 0, buf, lens[1]), ==, EMBER_WG_DONE);
  lens[3] = capture (&s, 0, msgs[3]);
  g_assert_cmpuint (msgs[3][0], ==, EMBER_WG_MSG_DATA);
  to[0] = 1; to[1] = 0; to[2] = 0; to[3] = 1;
  /* Make the cookie reply replayable for A: it is for the first mac1,
   * and A has sent no new one; consume nothing. The init is now stale at
   * B (timestamp), the response stale at A (state); data is fresh. */

  for (int m = 0; m < 4; m++)
    {
      for (gsize l = 0; l < lens[m]; l++)
        {
          memcpy (buf, msgs[m], l);
          g_assert_cmpint (feed (&s, to[m], buf, l), <, 0);
        }
      for (gsize i = 0; i < lens[m]; i++)
        for (int bit = 0; bit < 8; bit += 3)
          {
            memcpy (buf, msgs[m], lens[m]);
            buf[i] ^= (guint8) (1u << bit);
            g_assert_cmpint (feed (&s, to[m], buf, lens[m]), <, 0);
          }
    }
  /* Untouched, the data packet still decrypts: nothing above moved the
   * replay window or broke the session. */
  memcpy (buf, msgs[3], lens[3]);
  g_assert_cmpint (feed (&s, 1, buf, lens[3]), ==, EMBER_WG_PACKET);  /* the staged one */
  for (gsize l = 0; l < 64; l++)
    {
      guint8 junk[64];
      for (gsize i = 0; i < l; i++)
        junk[i] = (guint8) g_rand_int (s.rand);
      if (l > 0)
        junk[0] = (guint8) g_rand_int_range (s.rand, 0, 6);
      g_assert_cmpint (feed (&s, 1, junk, l), <, 0);
    }
  sim_clear (&s);
}

static void
test_wrong_keys (void)
{
  Sim s, t;
  guint8 init[EMBER_WG_TRANSMIT_MAX], buf[EMBER_WG_TRANSMIT_MAX];
  guint8 psk_a[32], psk_b[32];
  gsize len;

  /* An initiation for someone else's key fails mac1. */
  sim_init (&s, 9);
  sim_init (&t, 10);
  sim_send (&s, 0, 0, 60);
  len = capture (&s, 0, init);
  memcpy (buf, init, len);
  g_assert_cmpint (feed (&t, 1, buf, len), ==, EMBER_WG_ERR_MAC);

  /* Right responder, but it does not know the initiator's key. */
  ember_wg_engine_remove_peer (s.eng[1], s.peer[1]);
  s.peer[1] = NULL;
  memcpy (buf, init, len);
  g_assert_cmpint (feed (&s, 1, buf, len), ==, EMBER_WG_ERR_UNKNOWN);
  sim_clear (&s);
  sim_clear (&t);

  /* Preshared keys that differ: the response does not authenticate. */
  memset (psk_a, 1, 32);
  memset (psk_b, 2, 32);
  sim_init_full (&s, 11, psk_a, psk_b, 0);
  sim_send (&s, 0, 0, 60);
  len = capture (&s, 0, buf);
  g_assert_cmpint (feed (&s, 1, buf, len), ==, EMBER_WG_DONE);
  len = capture (&s, 1, buf);
  g_assert_cmpint (feed (&s, 0, buf, len), ==, EMBER_WG_ERR_HANDSHAKE);
  sim_clear (&s);

  /* Same psk: it works. */
  sim_init_full (&s, 12, psk_a, NULL, 0);
  establish (&s);
  sim_clear (&s);
}

/* Runs both engines' timers up to `until`, counting what they send
 * (sent[side][type]) and delivering it to the other side if `deliver`. */
static void
run_until (Sim *s, gint64 until, guint sent[2][5], gboolean deliver)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  gsize len;

  for (;;)
    {
      gint64 t = MIN (ember_wg_engine_poll_timeout (s->eng[0]),
                      ember_wg_engine_poll_timeout (s->eng[1]));
      if (t > until)
        break;
      s->now = MAX (s->now, t);
      for (int i = 0; i < 2; i++)
        {
          ember_wg_engine_update_timers (s->eng[i], s->now);
          while ((len = capture (s, i, buf)) > 0)
            {
              sent[i][MIN (buf[0], 4)]++;
              if (deliver)
                feed (s, 1 - i, buf, len);
            }
        }
    }
  s->now = until;
}

/* §6.5: a peer that received data and has nothing to send answers with
 * a keepalive after KEEPALIVE_TIMEOUT; a sender that hears nothing back
 * re-handshakes after KEEPALIVE_TIMEOUT + REKEY_TIMEOUT. */
static void
test_keepalive_and_new_handshake (void)
{
  Sim s;
  guint sent[2][5] = { { 0 } };
  gint64 t0;

  sim_init (&s, 14);
  establish (&s);   /* B received A's staged packet */
  t0 = s.now;
  run_until (&s, t0 + EMBER_WG_KEEPALIVE_TIMEOUT - 1000, sent, TRUE);
  g_assert_cmpuint (sent[1][4], ==, 0);
  run_until (&s, t0 + EMBER_WG_KEEPALIVE_TIMEOUT + 1000, sent, TRUE);
  g_assert_cmpuint (sent[1][4], ==, 1);  /* B's keepalive */
  g_assert_cmpuint (sent[0][1], ==, 0);

  /* A sends and the answer never comes: a new initiation at 15 s. */
  sim_send (&s, 0, 1, 60);
  s.wire->len = 0;
  t0 = s.now;
  run_until (&s, t0 + EMBER_WG_KEEPALIVE_TIMEOUT + EMBER_WG_REKEY_TIMEOUT - 1000, sent, FALSE);
  g_assert_cmpuint (sent[0][1], ==, 0);
  run_until (&s, t0 + EMBER_WG_KEEPALIVE_TIMEOUT + EMBER_WG_REKEY_TIMEOUT
                      + EMBER_WG_REKEY_TIMEOUT_JITTER_MAX + 1000, sent, FALSE);
  g_assert_cmpuint (sent[0][1], ==, 1);
  sim_clear (&s);
}

static void
test_persistent_keepalive (void)
{
  Sim s;
  guint sent[2][5] = { { 0 } };
  gint64 t0;

  sim_init_full (&s, 15, NULL, NULL, 25);
  establish (&s);
  sim_settle (&s);
  t0 = s.now;
  /* B answers A's data with a keepalive at +10 s; receiving it re-arms
   * A's persistent timer (any authenticated traversal), so A's
   * keepalives go at +35, +60, +85 s. */
  run_until (&s, t0 + 100 * EMBER_WG_SECOND + 1000, sent, TRUE);
  g_assert_cmpuint (sent[1][4], ==, 1);
  g_assert_cmpuint (sent[0][4], ==, 3);
  g_assert_cmpuint (sent[0][1], ==, 0);
  sim_clear (&s);
}

static void
test_buffer_room (void)
{
  Sim s;
  guint8 buf[100];
  gsize off = 8, n = 40;

  sim_init (&s, 13);
  g_assert_cmpint (ember_wg_engine_encapsulate (s.eng[0], s.peer[0], s.now, buf, sizeof buf,
                                                &off, &n, NULL), ==, EMBER_WG_ERR_BUFFER);
  off = 16;
  n = 70;  /* 16 + 80 + 16 > 100 */
  g_assert_cmpint (ember_wg_engine_encapsulate (s.eng[0], s.peer[0], s.now, buf, sizeof buf,
                                                &off, &n, NULL), ==, EMBER_WG_ERR_BUFFER);
  sim_clear (&s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wg/engine/handshake/delivers-staged-packets", test_handshake_delivers_staged);
  g_test_add_func ("/wg/engine/data/lossy-reordered-duplicated-bulk", test_lossy_bulk_and_rekey);
  g_test_add_func ("/wg/engine/rekey/after-time-then-old-keys-rejected", test_rekey_after_time_and_reject);
  g_test_add_func ("/wg/engine/rekey/test-only-short-rekey-time", test_rekey_after_test_setter);
  g_test_add_func ("/wg/engine/timers/gives-up-then-zeroes-keys", test_give_up_and_zero_keys);
  g_test_add_func ("/wg/engine/cookie/mac2-under-load", test_cookie_under_load);
  g_test_add_func ("/wg/engine/timers/keepalive-then-new-handshake", test_keepalive_and_new_handshake);
  g_test_add_func ("/wg/engine/timers/persistent-keepalive", test_persistent_keepalive);
  g_test_add_func ("/wg/engine/handshake/rejects-replayed-initiation", test_replayed_initiation);
  g_test_add_func ("/wg/engine/data/rejects-replayed-packet", test_replayed_data);
  g_test_add_func ("/wg/engine/input/malformed-every-prefix-and-bit", test_malformed_every_prefix);
  g_test_add_func ("/wg/engine/handshake/wrong-keys", test_wrong_keys);
  g_test_add_func ("/wg/engine/encapsulate/needs-head-and-tail-room", test_buffer_room);
  return g_test_run ();
}
