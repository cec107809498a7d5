/* wg-sim.h — two WireGuard engines joined by an in-memory lossy network,
 * for the engine tests, driven by a virtual clock and a seeded RNG. */
#pragma once

#include <glib.h>
#include <string.h>

#include "engine.h"
#include "wire.h"

#define SIM_MAX_DGRAM 2048

typedef struct {
  int to;             /* 0 = A, 1 = B */
  gint64 at;          /* due time */
  EmberAddr from;
  gsize len;
  guint8 data[SIM_MAX_DGRAM];
} SimDgram;

typedef struct {
  GRand *rand;
  EmberWgEngine *eng[2];
  EmberWgPeer *peer[2];   /* peer[0]: A's view of B; peer[1]: B's view of A */
  EmberAddr addr[2];
  guint8 priv[2][32], pub[2][32];
  gint64 now;
  GArray *wire;           /* SimDgram in flight */
  double loss, dup;
  gint64 jitter;          /* latency 1 ms + up to this: reorders */
  /* Results. */
  guint handshakes[2];
  gint64 handshake_time[2][16];
  guint keys_expired[2];
  guint failed[2];
  void (*on_packet) (gpointer user, int side, const guint8 *p, gsize len);
  gpointer user;
  guint64 errors[2][16];  /* by -result */
} Sim;

static inline void
sim_rng (gpointer data, guint8 *buf, gsize len)
{
  GRand *r = data;
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) g_rand_int_range (r, 0, 256);
}

static inline void
sim_addr (EmberAddr *a, guint8 last)
{
  memset (a, 0, sizeof *a);
  a->family = EMBER_ADDR_IPV4;
  a->addr[0] = 10;
  a->addr[3] = last;
  a->port = 51820;
}

/* psk_b: B's idea of the psk (NULL = same as A's, which is psk_a). */
static inline void
sim_init_full (Sim *s, guint32 seed, const guint8 *psk_a, const guint8 *psk_b,
               guint16 keepalive_a)
{
  memset (s, 0, sizeof *s);
  s->rand = g_rand_new_with_seed (seed);
  s->wire = g_array_new (FALSE, FALSE, sizeof (SimDgram));
  s->now = 1000 * EMBER_WG_SECOND;
  for (int i = 0; i < 2; i++)
    {
      sim_rng (s->rand, s->priv[i], 32);
      s->eng[i] = ember_wg_engine_new (s->priv[i], sim_rng, s->rand, s->now,
                                       G_GINT64_CONSTANT (1700000000) * EMBER_WG_SECOND,
                                       NULL);
      g_assert_nonnull (s->eng[i]);
      ember_wg_engine_get_public_key (s->eng[i], s->pub[i]);
      sim_addr (&s->addr[i], (guint8) (i + 1));
    }
  for (int i = 0; i < 2; i++)
    {
      EmberWgPeerConfig c;
      const guint8 *psk = i == 0 ? psk_a : (psk_b ? psk_b : psk_a);
      memset (&c, 0, sizeof c);
      memcpy (c.public_key, s->pub[1 - i], 32);
      if (psk != NULL)
        {
          c.has_preshared_key = TRUE;
          memcpy (c.preshared_key, psk, 32);
        }
      /* Only A knows where B is; B learns A's endpoint from A. */
      if (i == 0)
        {
          c.endpoint = s->addr[1];
          c.persistent_keepalive_s = keepalive_a;
        }
      s->peer[i] = ember_wg_engine_add_peer (s->eng[i], &c, NULL);
      g_assert_nonnull (s->peer[i]);
    }
}

static inline void
sim_init (Sim *s, guint32 seed)
{
  sim_init_full (s, seed, NULL, NULL, 0);
}

static inline void
sim_clear (Sim *s)
{
  ember_wg_engine_free (s->eng[0]);
  ember_wg_engine_free (s->eng[1]);
  g_array_unref (s->wire);
  g_rand_free (s->rand);
}

static inline int
sim_side_of (Sim *s, const EmberAddr *to)
{
  for (int i = 0; i < 2; i++)
    if (to->family == s->addr[i].family && memcmp (to->addr, s->addr[i].addr, 4) == 0)
      return i;
  return -1;
}

static inline void
sim_put (Sim *s, int from_side, const EmberAddr *to, const guint8 *data,
         gsize len)
{
  SimDgram d;
  int side = sim_side_of (s, to);

  if (side < 0 || side == from_side)
    return;
  if (s->loss > 0 && g_rand_double (s->rand) < s->loss)
    return;
  d.to = side;
  d.at = s->now + 1000
         + (s->jitter > 0 ? g_rand_int_range (s->rand, 0, (gint32) s->jitter) : 0);
  d.from = s->addr[from_side];
  d.len = len;
  g_assert_cmpuint (len, <=, SIM_MAX_DGRAM);
  memcpy (d.data, data, len);
  g_array_append_val (s->wire, d);
  if (s->dup > 0 && g_rand_double (s->rand) < s->dup)
    g_array_append_val (s->wire, d);
}

/* Drains what engine `side` wants to send onto the wire, and events. */
static inline void
sim_drain (Sim *s, int side)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  EmberWgTransmit tx;
  EmberWgEvent ev;

  while (ember_wg_engine_poll_transmit (s->eng[side], s->now, buf, sizeof buf, &tx))
    sim_put (s, side, &tx.to, buf, tx.len);
  while (ember_wg_engine_poll_event (s->eng[side], &ev))
    {
      g_assert_true (ev.peer == s->peer[side]);
      if (ev.type == EMBER_WG_EVENT_HANDSHAKE_COMPLETE)
        {
          if (s->handshakes[side] < 16)
            s->handshake_time[side][s->handshakes[side]] = s->now;
          s->handshakes[side]++;
        }
      else if (ev.type == EMBER_WG_EVENT_KEYS_EXPIRED)
        s->keys_expired[side]++;
      else if (ev.type == EMBER_WG_EVENT_HANDSHAKE_FAILED)
        s->failed[side]++;
    }
}

/* Delivers one datagram from the wire (the earliest due one, or any
 * when `due_only` is FALSE); FALSE if there is none. */
static inline gboolean
sim_deliver (Sim *s, gboolean due_only)
{
  SimDgram d;
  guint pick = 0;
  gsize off = 0, len;
  EmberWgPeer *peer = NULL;
  EmberWgResult r;

  if (s->wire->len == 0)
    return FALSE;
  for (guint i = 1; i < s->wire->len; i++)
    if (g_array_index (s->wire, SimDgram, i).at
        < g_array_index (s->wire, SimDgram, pick).at)
      pick = i;
  if (due_only && g_array_index (s->wire, SimDgram, pick).at > s->now)
    return FALSE;
  d = g_array_index (s->wire, SimDgram, pick);
  g_array_remove_index (s->wire, pick);
  len = d.len;
  r = ember_wg_engine_decapsulate (s->eng[d.to], s->now, &d.from, d.data, &off,
                                   &len, &peer);
  if (r == EMBER_WG_PACKET)
    {
      g_assert_true (peer == s->peer[d.to]);
      if (s->on_packet)
        s->on_packet (s->user, d.to, d.data + off, len);
    }
  else if (r < 0)
    s->errors[d.to][MIN (-r, 15)]++;
  sim_drain (s, d.to);
  return TRUE;
}

static inline void
sim_run_timers (Sim *s)
{
  for (int i = 0; i < 2; i++)
    if (ember_wg_engine_poll_timeout (s->eng[i]) <= s->now)
      {
        ember_wg_engine_update_timers (s->eng[i], s->now);
        sim_drain (s, i);
      }
}

/* Delivers everything (and what it causes), bounded. */
static inline void
sim_settle (Sim *s)
{
  for (int i = 0; i < 2; i++)
    sim_drain (s, i);
  for (int n = 0; n < 10000 && sim_deliver (s, FALSE); n++)
    ;
}

/* Builds an IPv4 packet of len bytes carrying seq; verifiable. */
static inline void
sim_make_packet (guint8 *p, gsize len, guint64 seq)
{
  memset (p, 0, 20);
  p[0] = 0x45;
  p[2] = (guint8) (len >> 8);
  p[3] = (guint8) len;
  for (int i = 0; i < 8; i++)
    p[20 + i] = (guint8) (seq >> (8 * i));
  for (gsize i = 28; i < len; i++)
    p[i] = (guint8) (seq * 31 + i);
}

static inline gboolean
sim_check_packet (const guint8 *p, gsize len, guint64 *seq)
{
  guint64 v = 0;

  if (len < 28 || p[0] != 0x45 || (((gsize) p[2] << 8) | p[3]) != len)
    return FALSE;
  for (int i = 0; i < 8; i++)
    v |= (guint64) p[20 + i] << (8 * i);
  for (gsize i = 28; i < len; i++)
    if (p[i] != (guint8) (v * 31 + i))
      return FALSE;
  *seq = v;
  return TRUE;
}

/* Encapsulates one packet from side and puts the datagram on the wire. */
static inline EmberWgResult
sim_send (Sim *s, int side, guint64 seq, gsize len)
{
  guint8 buf[EMBER_WG_HEADROOM + 1500 + EMBER_WG_TAILROOM];
  gsize off = EMBER_WG_HEADROOM, n = len;
  EmberAddr to;
  EmberWgResult r;

  sim_make_packet (buf + off, len, seq);
  r = ember_wg_engine_encapsulate (s->eng[side], s->peer[side], s->now, buf,
                                   sizeof buf, &off, &n, &to);
  if (r == EMBER_WG_DATAGRAM)
    sim_put (s, side, &to, buf + off, n);
  sim_drain (s, side);
  return r;
}
