/* aead-openssl.c — aead.h on OpenSSL 3 libcrypto (bookworm: 3.0).
 *
 * Why: ChaCha20-Poly1305 is what limits the data path, and libcrypto
 * has assembly for it (AVX2/AVX-512 ChaCha20, vectorised Poly1305),
 * about ten times the generic nettle code GnuTLS 3.7 uses on this
 * machine (docs/wg.md, "Throughput").
 *
 * One EVP_CIPHER_CTX per key, made once when the key is: per packet only
 * the nonce is replaced (EVP_CipherInit_ex with NULL cipher and key keeps
 * the key schedule), so nothing is allocated and no algorithm is fetched
 * on the packet path. The same context seals and opens: the `enc`
 * argument of EVP_CipherInit_ex switches direction per call, which the
 * handshake's scratch handle needs; the keypairs use one direction each.
 */
#include "aead.h"

#include <openssl/evp.h>

struct _EmberWgAead {
  EVP_CIPHER_CTX *ctx;
};

const char *
ember_wg_aead_backend (void)
{
  return "openssl";
}

EmberWgAead *
ember_wg_aead_new (const guint8 key[EMBER_WG_AEAD_KEY])
{
  EVP_CIPHER *cipher = EVP_CIPHER_fetch (NULL, "ChaCha20-Poly1305", NULL);
  EmberWgAead *aead;

  if (cipher == NULL)
    return NULL;
  aead = g_new0 (EmberWgAead, 1);
  aead->ctx = EVP_CIPHER_CTX_new ();
  /* The context keeps its own reference to the cipher. */
  if (aead->ctx == NULL
      || EVP_CipherInit_ex (aead->ctx, cipher, NULL, key, NULL, 1) != 1)
    {
      EVP_CIPHER_free (cipher);
      ember_wg_aead_free (aead);
      return NULL;
    }
  EVP_CIPHER_free (cipher);
  return aead;
}

gboolean
ember_wg_aead_set_key (EmberWgAead *aead, const guint8 key[EMBER_WG_AEAD_KEY])
{
  return EVP_CipherInit_ex (aead->ctx, NULL, NULL, key, NULL, -1) == 1;
}

void
ember_wg_aead_free (EmberWgAead *aead)
{
  if (aead == NULL)
    return;
  /* The provider's context free cleanses the key (OPENSSL_clear_free). */
  EVP_CIPHER_CTX_free (aead->ctx);
  g_free (aead);
}

/* One AEAD operation in place. For open, `len` excludes the tag, which
 * is at buf[len..len+16). */
static gboolean
aead_crypt (EmberWgAead *aead, const guint8 nonce[EMBER_WG_AEAD_NONCE],
       const guint8 *ad, gsize ad_len, guint8 *buf, gsize len, int enc)
{
  EVP_CIPHER_CTX *ctx = aead->ctx;
  int out = 0;

  if (len > G_MAXINT || ad_len > G_MAXINT)
    return FALSE;
  if (EVP_CipherInit_ex (ctx, NULL, NULL, NULL, nonce, enc) != 1)
    return FALSE;
  if (!enc && EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_SET_TAG,
                                   EMBER_WG_AEAD_TAG, buf + len) != 1)
    return FALSE;
  if (ad_len > 0
      && EVP_CipherUpdate (ctx, NULL, &out, ad, (int) ad_len) != 1)
    return FALSE;
  if (len > 0
      && (EVP_CipherUpdate (ctx, buf, &out, buf, (int) len) != 1
          || out != (int) len))
    return FALSE;
  /* Final verifies the tag when opening (the plaintext is already in buf;
   * callers drop it on FALSE); ChaCha20 buffers nothing. */
  if (EVP_CipherFinal_ex (ctx, buf + len, &out) != 1 || out != 0)
    return FALSE;
  if (enc)
    return EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_GET_TAG,
                                EMBER_WG_AEAD_TAG, buf + len) == 1;
  return TRUE;
}

gboolean
ember_wg_aead_seal_nonce (EmberWgAead *aead,
                          const guint8 nonce[EMBER_WG_AEAD_NONCE],
                          const guint8 *ad, gsize ad_len, guint8 *buf,
                          gsize len)
{
  return aead_crypt (aead, nonce, ad, ad_len, buf, len, 1);
}

gboolean
ember_wg_aead_open_nonce (EmberWgAead *aead,
                          const guint8 nonce[EMBER_WG_AEAD_NONCE],
                          const guint8 *ad, gsize ad_len, guint8 *buf,
                          gsize len)
{
  if (len < EMBER_WG_AEAD_TAG)
    return FALSE;
  return aead_crypt (aead, nonce, ad, ad_len, buf, len - EMBER_WG_AEAD_TAG, 0);
}
