/* aead.c — the backend-independent half of aead.h: WireGuard's counter
 * nonce, HChaCha20 and XChaCha20-Poly1305 on top of whichever backend
 * (aead-gnutls.c, aead-openssl.c) provides seal_nonce/open_nonce.
 */
#include "aead.h"

#include <string.h>

#include "secret.h"

static void
counter_nonce (guint8 nonce[EMBER_WG_AEAD_NONCE], guint64 counter)
{
  /* Whitepaper §5.4.6: 32 zero bits then the counter, little endian. */
  memset (nonce, 0, 4);
  for (int i = 0; i < 8; i++)
    nonce[4 + i] = (guint8) (counter >> (8 * i));
}

gboolean
ember_wg_aead_seal (EmberWgAead *aead, guint64 counter, const guint8 *ad,
                    gsize ad_len, guint8 *buf, gsize len)
{
  guint8 nonce[EMBER_WG_AEAD_NONCE];

  counter_nonce (nonce, counter);
  return ember_wg_aead_seal_nonce (aead, nonce, ad, ad_len, buf, len);
}

gboolean
ember_wg_aead_open (EmberWgAead *aead, guint64 counter, const guint8 *ad,
                    gsize ad_len, guint8 *buf, gsize len)
{
  guint8 nonce[EMBER_WG_AEAD_NONCE];

  counter_nonce (nonce, counter);
  return ember_wg_aead_open_nonce (aead, nonce, ad, ad_len, buf, len);
}

/* ---- XChaCha20 ----------------------------------------------------- */

static inline guint32
rotl32 (guint32 x, unsigned n)
{
  return (x << n) | (x >> (32 - n));
}

static inline guint32
load32_le (const guint8 *p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16)
         | ((guint32) p[3] << 24);
}

#define QR(a, b, c, d)                                  \
  do {                                                  \
    x[a] += x[b]; x[d] = rotl32 (x[d] ^ x[a], 16);      \
    x[c] += x[d]; x[b] = rotl32 (x[b] ^ x[c], 12);      \
    x[a] += x[b]; x[d] = rotl32 (x[d] ^ x[a], 8);       \
    x[c] += x[d]; x[b] = rotl32 (x[b] ^ x[c], 7);       \
  } while (0)

void
ember_wg_hchacha20 (guint8 out[32], const guint8 key[32],
                    const guint8 nonce16[16])
{
  guint32 x[16];

  /* RFC 8439 §2.3 state: "expand 32-byte k", key, then (in HChaCha20)
   * the whole 128-bit nonce where the counter would be. */
  x[0] = 0x61707865u;
  x[1] = 0x3320646eu;
  x[2] = 0x79622d32u;
  x[3] = 0x6b206574u;
  for (int i = 0; i < 8; i++)
    x[4 + i] = load32_le (key + 4 * i);
  for (int i = 0; i < 4; i++)
    x[12 + i] = load32_le (nonce16 + 4 * i);

  for (int i = 0; i < 10; i++)
    {
      QR (0, 4, 8, 12);
      QR (1, 5, 9, 13);
      QR (2, 6, 10, 14);
      QR (3, 7, 11, 15);
      QR (0, 5, 10, 15);
      QR (1, 6, 11, 12);
      QR (2, 7, 8, 13);
      QR (3, 4, 9, 14);
    }

  /* draft-irtf-cfrg-xchacha §2.2: no feed-forward; words 0-3 and 12-15. */
  for (int i = 0; i < 4; i++)
    {
      guint32 a = x[i], b = x[12 + i];
      for (int j = 0; j < 4; j++)
        {
          out[4 * i + j] = (guint8) (a >> (8 * j));
          out[16 + 4 * i + j] = (guint8) (b >> (8 * j));
        }
    }
  ember_wg_wipe (x, sizeof x);
}

static gboolean
xaead (EmberWgAead *scratch, const guint8 key[EMBER_WG_AEAD_KEY],
       const guint8 nonce[EMBER_WG_XAEAD_NONCE], const guint8 *ad,
       gsize ad_len, guint8 *buf, gsize len, gboolean seal)
{
  guint8 subkey[32];
  guint8 n12[EMBER_WG_AEAD_NONCE] = { 0 };
  gboolean ok;

  /* §2.3: subkey from the first 16 nonce bytes; the remaining 8 become
   * the last 8 bytes of a ChaCha20-Poly1305 nonce. */
  ember_wg_hchacha20 (subkey, key, nonce);
  memcpy (n12 + 4, nonce + 16, 8);
  ok = ember_wg_aead_set_key (scratch, subkey);
  ember_wg_wipe (subkey, sizeof subkey);
  if (!ok)
    return FALSE;
  if (seal)
    return ember_wg_aead_seal_nonce (scratch, n12, ad, ad_len, buf, len);
  return ember_wg_aead_open_nonce (scratch, n12, ad, ad_len, buf, len);
}

gboolean
ember_wg_xaead_seal (EmberWgAead *scratch, const guint8 key[EMBER_WG_AEAD_KEY],
                     const guint8 nonce[EMBER_WG_XAEAD_NONCE],
                     const guint8 *ad, gsize ad_len, guint8 *buf, gsize len)
{
  return xaead (scratch, key, nonce, ad, ad_len, buf, len, TRUE);
}

gboolean
ember_wg_xaead_open (EmberWgAead *scratch, const guint8 key[EMBER_WG_AEAD_KEY],
                     const guint8 nonce[EMBER_WG_XAEAD_NONCE],
                     const guint8 *ad, gsize ad_len, guint8 *buf, gsize len)
{
  return xaead (scratch, key, nonce, ad, ad_len, buf, len, FALSE);
}
