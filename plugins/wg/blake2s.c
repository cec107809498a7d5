/* blake2s.c — BLAKE2s per RFC 7693 §3, plus HMAC and the WireGuard KDF. */
#include "blake2s.h"

#include <string.h>

#include "secret.h"

/* RFC 7693 §2.6: the SHA-256 initial values. */
static const guint32 blake2s_iv[8] = {
  0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
  0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u,
};

/* RFC 7693 §2.7: message word permutations; BLAKE2s uses 10 rounds. */
static const guint8 sigma[10][16] = {
  { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
  { 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
  { 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
  { 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
  { 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
  { 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
  { 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
  { 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
  { 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
  { 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static inline guint32
rotr32 (guint32 x, unsigned n)
{
  return (x >> n) | (x << (32 - n));
}

static inline guint32
load32_le (const guint8 *p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16)
         | ((guint32) p[3] << 24);
}

/* RFC 7693 §3.1: G with BLAKE2s rotation constants 16, 12, 8, 7. */
#define G(a, b, c, d, x, y)                 \
  do {                                      \
    v[a] = v[a] + v[b] + (x);               \
    v[d] = rotr32 (v[d] ^ v[a], 16);        \
    v[c] = v[c] + v[d];                     \
    v[b] = rotr32 (v[b] ^ v[c], 12);        \
    v[a] = v[a] + v[b] + (y);               \
    v[d] = rotr32 (v[d] ^ v[a], 8);         \
    v[c] = v[c] + v[d];                     \
    v[b] = rotr32 (v[b] ^ v[c], 7);         \
  } while (0)

/* RFC 7693 §3.2: compression function F. */
static void
compress (EmberWgBlake2s *s, const guint8 block[EMBER_WG_BLAKE2S_BLOCK],
          gboolean last)
{
  guint32 m[16], v[16];

  for (int i = 0; i < 16; i++)
    m[i] = load32_le (block + 4 * i);
  for (int i = 0; i < 8; i++)
    {
      v[i] = s->h[i];
      v[i + 8] = blake2s_iv[i];
    }
  v[12] ^= s->t[0];
  v[13] ^= s->t[1];
  if (last)
    v[14] = ~v[14];

  for (int r = 0; r < 10; r++)
    {
      const guint8 *sg = sigma[r];
      G (0, 4, 8, 12, m[sg[0]], m[sg[1]]);
      G (1, 5, 9, 13, m[sg[2]], m[sg[3]]);
      G (2, 6, 10, 14, m[sg[4]], m[sg[5]]);
      G (3, 7, 11, 15, m[sg[6]], m[sg[7]]);
      G (0, 5, 10, 15, m[sg[8]], m[sg[9]]);
      G (1, 6, 11, 12, m[sg[10]], m[sg[11]]);
      G (2, 7, 8, 13, m[sg[12]], m[sg[13]]);
      G (3, 4, 9, 14, m[sg[14]], m[sg[15]]);
    }
  for (int i = 0; i < 8; i++)
    s->h[i] ^= v[i] ^ v[i + 8];
  ember_wg_wipe (m, sizeof m);
  ember_wg_wipe (v, sizeof v);
}

static void
increment_counter (EmberWgBlake2s *s, guint32 inc)
{
  s->t[0] += inc;
  if (s->t[0] < inc)
    s->t[1]++;
}

void
ember_wg_blake2s_init (EmberWgBlake2s *s, gsize outlen, const guint8 *key,
                       gsize keylen)
{
  g_return_if_fail (outlen >= 1 && outlen <= EMBER_WG_BLAKE2S_HASH);
  g_return_if_fail (keylen <= EMBER_WG_BLAKE2S_KEY_MAX);

  memset (s, 0, sizeof *s);
  memcpy (s->h, blake2s_iv, sizeof s->h);
  /* RFC 7693 §2.5: parameter block, fanout = depth = 1. */
  s->h[0] ^= 0x01010000u ^ ((guint32) keylen << 8) ^ (guint32) outlen;
  s->outlen = outlen;
  if (keylen > 0)
    {
      /* §3.3: the key is padded to a full first block. */
      memcpy (s->buf, key, keylen);
      s->buflen = EMBER_WG_BLAKE2S_BLOCK;
    }
}

void
ember_wg_blake2s_update (EmberWgBlake2s *s, const guint8 *in, gsize len)
{
  while (len > 0)
    {
      /* The last block must be compressed with the final flag, so a
       * full buffer is only compressed once more input arrives. */
      if (s->buflen == EMBER_WG_BLAKE2S_BLOCK)
        {
          increment_counter (s, EMBER_WG_BLAKE2S_BLOCK);
          compress (s, s->buf, FALSE);
          s->buflen = 0;
        }
      gsize take = MIN (len, EMBER_WG_BLAKE2S_BLOCK - s->buflen);
      memcpy (s->buf + s->buflen, in, take);
      s->buflen += take;
      in += take;
      len -= take;
    }
}

void
ember_wg_blake2s_final (EmberWgBlake2s *s, guint8 *out)
{
  guint8 full[EMBER_WG_BLAKE2S_HASH];

  increment_counter (s, (guint32) s->buflen);
  memset (s->buf + s->buflen, 0, EMBER_WG_BLAKE2S_BLOCK - s->buflen);
  compress (s, s->buf, TRUE);
  for (int i = 0; i < 8; i++)
    {
      full[4 * i] = (guint8) s->h[i];
      full[4 * i + 1] = (guint8) (s->h[i] >> 8);
      full[4 * i + 2] = (guint8) (s->h[i] >> 16);
      full[4 * i + 3] = (guint8) (s->h[i] >> 24);
    }
  memcpy (out, full, s->outlen);
  ember_wg_wipe (full, sizeof full);
  ember_wg_wipe (s, sizeof *s);
}

void
ember_wg_blake2s (guint8 *out, gsize outlen, const guint8 *key, gsize keylen,
                  const guint8 *in, gsize inlen)
{
  EmberWgBlake2s s;

  ember_wg_blake2s_init (&s, outlen, key, keylen);
  ember_wg_blake2s_update (&s, in, inlen);
  ember_wg_blake2s_final (&s, out);
}

void
ember_wg_hmac_blake2s (guint8 out[EMBER_WG_BLAKE2S_HASH], const guint8 *key,
                       gsize keylen, const guint8 *in, gsize inlen)
{
  guint8 k[EMBER_WG_BLAKE2S_BLOCK] = { 0 };
  guint8 pad[EMBER_WG_BLAKE2S_BLOCK];
  guint8 inner[EMBER_WG_BLAKE2S_HASH];
  EmberWgBlake2s s;

  /* RFC 2104: keys longer than a block are hashed first. */
  if (keylen > EMBER_WG_BLAKE2S_BLOCK)
    ember_wg_blake2s (k, EMBER_WG_BLAKE2S_HASH, NULL, 0, key, keylen);
  else
    memcpy (k, key, keylen);

  for (int i = 0; i < EMBER_WG_BLAKE2S_BLOCK; i++)
    pad[i] = k[i] ^ 0x36;
  ember_wg_blake2s_init (&s, EMBER_WG_BLAKE2S_HASH, NULL, 0);
  ember_wg_blake2s_update (&s, pad, sizeof pad);
  ember_wg_blake2s_update (&s, in, inlen);
  ember_wg_blake2s_final (&s, inner);

  for (int i = 0; i < EMBER_WG_BLAKE2S_BLOCK; i++)
    pad[i] = k[i] ^ 0x5c;
  ember_wg_blake2s_init (&s, EMBER_WG_BLAKE2S_HASH, NULL, 0);
  ember_wg_blake2s_update (&s, pad, sizeof pad);
  ember_wg_blake2s_update (&s, inner, sizeof inner);
  ember_wg_blake2s_final (&s, out);

  ember_wg_wipe (k, sizeof k);
  ember_wg_wipe (pad, sizeof pad);
  ember_wg_wipe (inner, sizeof inner);
}

void
ember_wg_kdf (guint8 *t1, guint8 *t2, guint8 *t3,
              const guint8 key[EMBER_WG_BLAKE2S_HASH], const guint8 *in,
              gsize inlen)
{
  guint8 t0[EMBER_WG_BLAKE2S_HASH];
  guint8 prev[EMBER_WG_BLAKE2S_HASH + 1];
  guint8 out[EMBER_WG_BLAKE2S_HASH];

  ember_wg_hmac_blake2s (t0, key, EMBER_WG_BLAKE2S_HASH, in, inlen);

  prev[0] = 0x1;
  ember_wg_hmac_blake2s (out, t0, sizeof t0, prev, 1);
  if (t1 != NULL)
    memcpy (t1, out, sizeof out);

  if (t2 != NULL || t3 != NULL)
    {
      memcpy (prev, out, sizeof out);
      prev[EMBER_WG_BLAKE2S_HASH] = 0x2;
      ember_wg_hmac_blake2s (out, t0, sizeof t0, prev, sizeof prev);
      if (t2 != NULL)
        memcpy (t2, out, sizeof out);
    }
  if (t3 != NULL)
    {
      memcpy (prev, out, sizeof out);
      prev[EMBER_WG_BLAKE2S_HASH] = 0x3;
      ember_wg_hmac_blake2s (out, t0, sizeof t0, prev, sizeof prev);
      memcpy (t3, out, sizeof out);
    }
  ember_wg_wipe (t0, sizeof t0);
  ember_wg_wipe (prev, sizeof prev);
  ember_wg_wipe (out, sizeof out);
}
