/* aead-gnutls.c — aead.h on GnuTLS's AEAD API (bookworm: GnuTLS 3.7.9).
 *
 * gnutls_aead_cipher_encryptv2/decryptv2 (GnuTLS >= 3.6.10) work in
 * place on an iovec and take the tag separately, which is what the
 * WireGuard data path wants: no copy, no allocation per packet.
 * gnutls_aead_cipher_set_key (>= 3.7.5) re-keys a handle in place.
 */
#include "aead.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

const char *
ember_wg_aead_backend (void)
{
  return "gnutls";
}

struct _EmberWgAead {
  gnutls_aead_cipher_hd_t hd;
};

EmberWgAead *
ember_wg_aead_new (const guint8 key[EMBER_WG_AEAD_KEY])
{
  gnutls_datum_t k = { (unsigned char *) key, EMBER_WG_AEAD_KEY };
  EmberWgAead *aead = g_new0 (EmberWgAead, 1);

  if (gnutls_aead_cipher_init (&aead->hd, GNUTLS_CIPHER_CHACHA20_POLY1305,
                               &k) < 0)
    {
      g_free (aead);
      return NULL;
    }
  return aead;
}

gboolean
ember_wg_aead_set_key (EmberWgAead *aead, const guint8 key[EMBER_WG_AEAD_KEY])
{
  gnutls_datum_t k = { (unsigned char *) key, EMBER_WG_AEAD_KEY };

  return gnutls_aead_cipher_set_key (aead->hd, &k) >= 0;
}

void
ember_wg_aead_free (EmberWgAead *aead)
{
  if (aead == NULL)
    return;
  /* gnutls_aead_cipher_deinit zeroes the cipher context before freeing. */
  gnutls_aead_cipher_deinit (aead->hd);
  g_free (aead);
}

gboolean
ember_wg_aead_seal_nonce (EmberWgAead *aead,
                          const guint8 nonce[EMBER_WG_AEAD_NONCE],
                          const guint8 *ad, gsize ad_len, guint8 *buf,
                          gsize len)
{
  giovec_t auth = { (void *) ad, ad_len };
  giovec_t data = { buf, len };
  size_t tag_len = EMBER_WG_AEAD_TAG;

  return gnutls_aead_cipher_encryptv2 (aead->hd, nonce, EMBER_WG_AEAD_NONCE,
                                       &auth, ad_len > 0 ? 1 : 0,
                                       &data, len > 0 ? 1 : 0,
                                       buf + len, &tag_len) >= 0
         && tag_len == EMBER_WG_AEAD_TAG;
}

gboolean
ember_wg_aead_open_nonce (EmberWgAead *aead,
                          const guint8 nonce[EMBER_WG_AEAD_NONCE],
                          const guint8 *ad, gsize ad_len, guint8 *buf,
                          gsize len)
{
  if (len < EMBER_WG_AEAD_TAG)
    return FALSE;
  gsize plain = len - EMBER_WG_AEAD_TAG;
  giovec_t auth = { (void *) ad, ad_len };
  giovec_t data = { buf, plain };

  return gnutls_aead_cipher_decryptv2 (aead->hd, nonce, EMBER_WG_AEAD_NONCE,
                                       &auth, ad_len > 0 ? 1 : 0,
                                       &data, plain > 0 ? 1 : 0,
                                       buf + plain, EMBER_WG_AEAD_TAG) >= 0;
}

