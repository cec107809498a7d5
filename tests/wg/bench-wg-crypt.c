/* bench-wg-crypt.c — throughput of the WireGuard engine's data path.
 *
 * Not a test: prints encrypt and decrypt rates of 1280-byte IP packets
 * (the TUN MTU, seed 004) through ember_wg_engine_encapsulate /
 * _decapsulate on one core, and the raw AEAD beside them, so the cost of
 * the engine around the cipher is visible. Built once per AEAD backend:
 *
 *   bench-wg-crypt-openssl [seconds-per-phase]
 *   bench-wg-crypt-gnutls [seconds-per-phase]
 */
#include <glib.h>
#include <string.h>

#include "aead.h"
#include "engine.h"
#include "wire.h"

#define PKT 1280
#define BATCH 512
#define SLOT (EMBER_WG_HEADROOM + PKT + EMBER_WG_TAILROOM)

static void
rng (gpointer data, guint8 *buf, gsize len)
{
  GRand *r = data;
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) g_rand_int (r);
}

static void
deliver (EmberWgEngine *from, EmberWgEngine *to, const EmberAddr *from_addr,
         gint64 now)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  EmberWgTransmit tx;

  while (ember_wg_engine_poll_transmit (from, now, buf, sizeof buf, &tx))
    {
      gsize off = 0, len = tx.len;
      EmberWgPeer *peer;
      ember_wg_engine_decapsulate (to, now, from_addr, buf, &off, &len, &peer);
    }
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 2.0;
  GRand *r = g_rand_new_with_seed (1);
  EmberWgEngine *eng[2];
  EmberWgPeer *peer[2];
  EmberAddr addr[2];
  guint8 priv[32], pub[2][32];
  guint8 *slots = g_malloc (BATCH * SLOT);
  gsize lens[BATCH];
  gint64 now = 1000000, t0, enc_us = 0, dec_us = 0;
  guint64 packets = 0;

  for (int i = 0; i < 2; i++)
    {
      rng (r, priv, 32);
      eng[i] = ember_wg_engine_new (priv, rng, r, now, 0, NULL);
      ember_wg_engine_get_public_key (eng[i], pub[i]);
      memset (&addr[i], 0, sizeof addr[i]);
      addr[i].family = EMBER_ADDR_IPV4;
      addr[i].addr[3] = (guint8) (i + 1);
    }
  for (int i = 0; i < 2; i++)
    {
      EmberWgPeerConfig c;
      memset (&c, 0, sizeof c);
      memcpy (c.public_key, pub[1 - i], 32);
      c.endpoint = addr[1 - i];
      peer[i] = ember_wg_engine_add_peer (eng[i], &c, NULL);
    }
  ember_wg_engine_initiate (eng[0], peer[0], now);
  for (int k = 0; k < 4; k++)
    {
      deliver (eng[0], eng[1], &addr[0], now);
      deliver (eng[1], eng[0], &addr[1], now);
    }

  while ((enc_us + dec_us) < (gint64) (seconds * 2e6))
    {
      for (int i = 0; i < BATCH; i++)
        {
          guint8 *p = slots + (gsize) i * SLOT + EMBER_WG_HEADROOM;
          memset (p, 0, 20);
          p[0] = 0x45;
          p[2] = PKT >> 8;
          p[3] = PKT & 0xff;
        }
      t0 = g_get_monotonic_time ();
      for (int i = 0; i < BATCH; i++)
        {
          gsize off = EMBER_WG_HEADROOM, len = PKT;
          if (ember_wg_engine_encapsulate (eng[0], peer[0], now, slots + (gsize) i * SLOT,
                                           SLOT, &off, &len, NULL) != EMBER_WG_DATAGRAM)
            g_error ("encapsulate failed");
          lens[i] = len;
        }
      enc_us += g_get_monotonic_time () - t0;
      t0 = g_get_monotonic_time ();
      for (int i = 0; i < BATCH; i++)
        {
          gsize off = 0, len = lens[i];
          EmberWgPeer *from;
          if (ember_wg_engine_decapsulate (eng[1], now, &addr[0], slots + (gsize) i * SLOT,
                                           &off, &len, &from) != EMBER_WG_PACKET)
            g_error ("decapsulate failed");
        }
      dec_us += g_get_monotonic_time () - t0;
      packets += BATCH;
    }
  g_print ("aead backend: %s\n", ember_wg_aead_backend ());
  g_print ("engine encapsulate: %.3f GB/s  %.0f kpps  (%d-byte packets)\n",
           (double) packets * PKT / (double) enc_us / 1e3,
           (double) packets / (double) enc_us * 1e3, PKT);
  g_print ("engine decapsulate: %.3f GB/s  %.0f kpps\n",
           (double) packets * PKT / (double) dec_us / 1e3,
           (double) packets / (double) dec_us * 1e3);

  /* The AEAD alone, same sizes, for comparison. */
  {
    guint8 key[32] = { 1 };
    EmberWgAead *a = ember_wg_aead_new (key);
    guint64 n = 0;
    gint64 us;
    t0 = g_get_monotonic_time ();
    do
      {
        for (int i = 0; i < BATCH; i++)
          ember_wg_aead_seal (a, n + (guint64) i, NULL, 0, slots + EMBER_WG_HEADROOM, PKT);
        n += BATCH;
        us = g_get_monotonic_time () - t0;
      }
    while (us < (gint64) (seconds * 1e6));
    g_print ("aead seal alone:    %.3f GB/s\n", (double) n * PKT / (double) us / 1e3);
    ember_wg_aead_free (a);
  }

  ember_wg_engine_free (eng[0]);
  ember_wg_engine_free (eng[1]);
  g_free (slots);
  g_rand_free (r);
  return 0;
}
