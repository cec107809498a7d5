/* fuzz-wg-decapsulate.c — arbitrary datagrams into a WireGuard engine.
 *
 * For every input two engines with fixed keys and a deterministic RNG
 * complete a handshake, so the responder has a live session, a staged
 * packet delivered and a replay window; then the input is fed to both
 * engines (normal and under load) and their output drained. Because the
 * RNG is deterministic, session indices are the same in every run, and
 * the seed corpus (tests/fuzz/corpus/wg-decapsulate/) holds real
 * initiation, response, cookie and data messages for this set-up.
 *
 * Built with -DWG_FUZZ_GEN_CORPUS and a normal compiler it instead
 * writes that corpus into the directory given as argv[1].
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "wire.h"

typedef struct {
  guint64 s;
} Xorshift;

static void
det_rng (gpointer data, guint8 *buf, gsize len)
{
  Xorshift *x = data;
  for (gsize i = 0; i < len; i++)
    {
      x->s ^= x->s << 13;
      x->s ^= x->s >> 7;
      x->s ^= x->s << 17;
      buf[i] = (guint8) (x->s >> 32);
    }
}

typedef struct {
  Xorshift rng[2];
  EmberWgEngine *eng[2];
  EmberWgPeer *peer[2];
  EmberAddr addr[2];
  gint64 now;
} Pair;

typedef void (*Tap) (const guint8 *data, gsize len, gpointer user);

static void
deliver_all (Pair *p, Tap tap, gpointer user)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  EmberWgTransmit tx;
  EmberWgEvent ev;

  for (int round = 0; round < 8; round++)
    for (int i = 0; i < 2; i++)
      {
        while (ember_wg_engine_poll_event (p->eng[i], &ev))
          ;
        while (ember_wg_engine_poll_transmit (p->eng[i], p->now, buf, sizeof buf, &tx))
          {
            gsize off = 0, len = tx.len;
            EmberWgPeer *peer;
            if (tap)
              tap (buf, len, user);
            ember_wg_engine_decapsulate (p->eng[1 - i], p->now, &p->addr[i], buf,
                                         &off, &len, &peer);
          }
      }
}

static void
pair_setup (Pair *p, Tap tap, gpointer user)
{
  guint8 priv[32], pub[2][32];
  guint8 pkt[EMBER_WG_HEADROOM + 64 + EMBER_WG_TAILROOM] = { 0 };
  gsize off = EMBER_WG_HEADROOM, len = 40;

  memset (p, 0, sizeof *p);
  p->now = 1000000;
  for (int i = 0; i < 2; i++)
    {
      p->rng[i].s = 0x9E3779B97F4A7C15ull + (guint64) i;
      memset (priv, 0x11 * (i + 1), sizeof priv);
      p->eng[i] = ember_wg_engine_new (priv, det_rng, &p->rng[i], p->now,
                                       G_GINT64_CONSTANT (1700000000000000), NULL);
      ember_wg_engine_get_public_key (p->eng[i], pub[i]);
      p->addr[i].family = EMBER_ADDR_IPV4;
      p->addr[i].addr[0] = 10;
      p->addr[i].addr[3] = (guint8) (i + 1);
      p->addr[i].port = 51820;
    }
  for (int i = 0; i < 2; i++)
    {
      EmberWgPeerConfig c;
      memset (&c, 0, sizeof c);
      memcpy (c.public_key, pub[1 - i], 32);
      c.endpoint = p->addr[1 - i];
      c.persistent_keepalive_s = 25;
      p->peer[i] = ember_wg_engine_add_peer (p->eng[i], &c, NULL);
    }
  /* An IPv4 packet from A to B: handshake, then data. */
  pkt[off] = 0x45;
  pkt[off + 3] = (guint8) len;
  ember_wg_engine_encapsulate (p->eng[0], p->peer[0], p->now, pkt, sizeof pkt,
                               &off, &len, NULL);
  deliver_all (p, tap, user);
}

static void
pair_free (Pair *p)
{
  ember_wg_engine_free (p->eng[0]);
  ember_wg_engine_free (p->eng[1]);
}

#ifndef WG_FUZZ_GEN_CORPUS

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  static guint8 buf[65536];
  Pair p;

  if (size > sizeof buf)
    return 0;
  pair_setup (&p, NULL, NULL);
  for (int load = 0; load < 2; load++)
    for (int i = 0; i < 2; i++)
      {
        gsize off = 0, len = size;
        EmberWgPeer *peer;
        ember_wg_engine_set_under_load (p.eng[i], load);
        memcpy (buf, data, size);
        ember_wg_engine_decapsulate (p.eng[i], p.now, &p.addr[1 - i], buf,
                                     &off, &len, &peer);
      }
  /* Whatever state the input left, timers and output must cope. */
  p.now += 200 * 1000000;
  for (int i = 0; i < 2; i++)
    ember_wg_engine_update_timers (p.eng[i], p.now);
  deliver_all (&p, NULL, NULL);
  pair_free (&p);
  return 0;
}

#else

static void
save (const guint8 *data, gsize len, gpointer user)
{
  const char *dir = user;
  static int n;
  g_autofree char *name = g_strdup_printf ("%s/type%u-%02d", dir, data[0], n++);
  g_assert_true (g_file_set_contents (name, (const char *) data, (gssize) len, NULL));
}

int
main (int argc, char **argv)
{
  Pair p;
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  EmberWgTransmit tx;

  g_assert_cmpint (argc, ==, 2);
  pair_setup (&p, save, argv[1]);
  pair_free (&p);
  /* A cookie reply: the responder under load answers the initiation. */
  pair_setup (&p, NULL, NULL);
  ember_wg_engine_set_under_load (p.eng[1], TRUE);
  p.now += 6 * 1000000;
  ember_wg_engine_initiate (p.eng[0], p.peer[0], p.now);
  if (ember_wg_engine_poll_transmit (p.eng[0], p.now, buf, sizeof buf, &tx))
    {
      gsize off = 0, len = tx.len;
      EmberWgPeer *peer;
      ember_wg_engine_decapsulate (p.eng[1], p.now, &p.addr[0], buf, &off, &len, &peer);
      while (ember_wg_engine_poll_transmit (p.eng[1], p.now, buf, sizeof buf, &tx))
        save (buf, tx.len, argv[1]);
    }
  pair_free (&p);
  return 0;
}

#endif
