/* blake2s.h — BLAKE2s (RFC 7693) and the WireGuard constructions on it.
 *
 * Neither nettle 3.8 nor GnuTLS 3.7 (Debian bookworm) ships BLAKE2s, so
 * this is a small implementation checked against RFC 7693's vectors
 * (tests/wg/test-wg-crypto.c). On top of it: HMAC-BLAKE2s and the HKDF
 * chain KDF1/KDF2/KDF3 of the WireGuard whitepaper §5.4 and keyed
 * BLAKE2s-128, the MAC used for mac1/mac2 and cookies (§5.4.4, §5.4.7).
 *
 * Owns nothing but the caller's state structs; pure functions, any thread.
 */
#pragma once

#include <glib.h>

#define EMBER_WG_BLAKE2S_BLOCK 64
#define EMBER_WG_BLAKE2S_HASH 32
#define EMBER_WG_BLAKE2S_KEY_MAX 32

typedef struct {
  guint32 h[8];
  guint32 t[2];
  guint8 buf[EMBER_WG_BLAKE2S_BLOCK];
  gsize buflen;
  gsize outlen;
} EmberWgBlake2s;

/* outlen 1..32; key NULL/0 for unkeyed, else keylen 1..32. */
void ember_wg_blake2s_init (EmberWgBlake2s *s, gsize outlen,
                            const guint8 *key, gsize keylen);
void ember_wg_blake2s_update (EmberWgBlake2s *s, const guint8 *in, gsize len);
/* Writes outlen bytes and wipes the state. */
void ember_wg_blake2s_final (EmberWgBlake2s *s, guint8 *out);

/* One shot. */
void ember_wg_blake2s (guint8 *out, gsize outlen, const guint8 *key,
                       gsize keylen, const guint8 *in, gsize inlen);

/* HMAC-BLAKE2s (RFC 2104 with the 64-byte block), as the whitepaper's
 * HMAC(key, input). */
void ember_wg_hmac_blake2s (guint8 out[EMBER_WG_BLAKE2S_HASH],
                            const guint8 *key, gsize keylen,
                            const guint8 *in, gsize inlen);

/* Whitepaper §5.4 KDF_n(key, input): t0 = HMAC(key, input),
 * t1 = HMAC(t0, 0x1), t2 = HMAC(t0, t1 || 0x2), t3 = HMAC(t0, t2 || 0x3).
 * Outputs t1..t3 that are not NULL (t2 needs t1, t3 needs t2 computed but
 * the caller may pass NULL for any it does not want). */
void ember_wg_kdf (guint8 *t1, guint8 *t2, guint8 *t3,
                   const guint8 key[EMBER_WG_BLAKE2S_HASH],
                   const guint8 *in, gsize inlen);
