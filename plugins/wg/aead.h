/* aead.h — the one AEAD interface of the WireGuard engine.
 *
 * ChaCha20-Poly1305 (RFC 8439) with WireGuard's nonce layout (32 zero
 * bits, then the 64-bit counter little endian; whitepaper §5.4.6) and
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) for cookie replies.
 * Everything encrypts and decrypts in place: the tag follows the data.
 *
 * Two backends implement the key handle and the raw-nonce seal/open:
 * OpenSSL libcrypto (aead-openssl.c, the default: its assembly
 * ChaCha20-Poly1305 is about ten times nettle's generic code here) and
 * GnuTLS (aead-gnutls.c); the meson option wg-aead picks one. aead.c
 * holds the rest (counter nonce, HChaCha20, XChaCha20-Poly1305) for both.
 * An EmberWgAead holds one key; it is made on the control path
 * (allocates) and used on the packet path (does not).
 * Not thread-safe per handle; different handles may be used concurrently.
 */
#pragma once

#include <glib.h>

#define EMBER_WG_AEAD_KEY 32
#define EMBER_WG_AEAD_TAG 16
#define EMBER_WG_AEAD_NONCE 12
#define EMBER_WG_XAEAD_NONCE 24

typedef struct _EmberWgAead EmberWgAead;

/* "openssl" or "gnutls": which backend this build links. */
const char *ember_wg_aead_backend (void);

/* NULL if the backend refused (should not happen for a 32-byte key). */
EmberWgAead *ember_wg_aead_new (const guint8 key[EMBER_WG_AEAD_KEY]);
/* Replaces the key without allocating. */
gboolean ember_wg_aead_set_key (EmberWgAead *aead,
                                const guint8 key[EMBER_WG_AEAD_KEY]);
/* Wipes the key schedule and frees. NULL is fine. */
void ember_wg_aead_free (EmberWgAead *aead);

/* Encrypts buf[0..len) in place and writes the tag at buf[len..len+16). */
gboolean ember_wg_aead_seal (EmberWgAead *aead, guint64 counter,
                             const guint8 *ad, gsize ad_len,
                             guint8 *buf, gsize len);
/* buf[0..len) is ciphertext followed by its tag (len >= 16). On success
 * the plaintext, len - 16 bytes, is at buf. FALSE on a bad tag. */
gboolean ember_wg_aead_open (EmberWgAead *aead, guint64 counter,
                             const guint8 *ad, gsize ad_len,
                             guint8 *buf, gsize len);

/* The same with a raw 96-bit nonce (RFC 8439 vectors, XChaCha). These
 * and new/set_key/free are the backend's; the rest lives in aead.c. */
gboolean ember_wg_aead_seal_nonce (EmberWgAead *aead,
                                   const guint8 nonce[EMBER_WG_AEAD_NONCE],
                                   const guint8 *ad, gsize ad_len,
                                   guint8 *buf, gsize len);
gboolean ember_wg_aead_open_nonce (EmberWgAead *aead,
                                   const guint8 nonce[EMBER_WG_AEAD_NONCE],
                                   const guint8 *ad, gsize ad_len,
                                   guint8 *buf, gsize len);

/* HChaCha20 (draft-irtf-cfrg-xchacha §2.2): a 32-byte subkey from a key
 * and a 16-byte nonce. Written here because neither GnuTLS nor nettle
 * exports it. */
void ember_wg_hchacha20 (guint8 out[32], const guint8 key[32],
                         const guint8 nonce16[16]);

/* XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha §2.3), in place. `scratch`
 * is any EmberWgAead whose key may be replaced (avoids allocating). */
gboolean ember_wg_xaead_seal (EmberWgAead *scratch,
                              const guint8 key[EMBER_WG_AEAD_KEY],
                              const guint8 nonce[EMBER_WG_XAEAD_NONCE],
                              const guint8 *ad, gsize ad_len,
                              guint8 *buf, gsize len);
gboolean ember_wg_xaead_open (EmberWgAead *scratch,
                              const guint8 key[EMBER_WG_AEAD_KEY],
                              const guint8 nonce[EMBER_WG_XAEAD_NONCE],
                              const guint8 *ad, gsize ad_len,
                              guint8 *buf, gsize len);
