/* test-wg-crypto.c — published vectors for the engine's primitives:
 * RFC 7693 (BLAKE2s), RFC 7748 (X25519), RFC 8439 (ChaCha20-Poly1305),
 * draft-irtf-cfrg-xchacha (HChaCha20, XChaCha20-Poly1305).
 *
 * Built once per AEAD backend (test-wg-crypto-openssl, -gnutls); the
 * build passes the backend's name in EMBER_WG_TEST_AEAD. */
#include <glib.h>
#include <string.h>

#include "aead.h"
#include "blake2s.h"
#include "x25519.h"
#include "wg-test-util.h"

/* RFC 7693 Appendix B. */
static void
test_blake2s_abc (void)
{
  guint8 out[32];

  ember_wg_blake2s (out, 32, NULL, 0, (const guint8 *) "abc", 3);
  wg_assert_hex (out, 32,
                 "508c5e8c327c14e2e1a72ba34eeb452f"
                 "37458b209ed63a294d999b4c86675982");
}

/* RFC 7693 Appendix E: deterministic input generator. */
static void
selftest_seq (guint8 *out, gsize len, guint32 seed)
{
  guint32 a = 0xDEAD4BADu * seed, b = 1, t;

  for (gsize i = 0; i < len; i++)
    {
      t = a + b;
      a = b;
      b = t;
      out[i] = (guint8) (t >> 24);
    }
}

/* RFC 7693 Appendix E: the grand hash over every output and input size. */
static void
test_blake2s_selftest (void)
{
  static const gsize md_len[] = { 16, 20, 28, 32 };
  static const gsize in_len[] = { 0, 3, 64, 65, 255, 1024 };
  guint8 in[1024], md[32], key[32];
  EmberWgBlake2s ctx;

  ember_wg_blake2s_init (&ctx, 32, NULL, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (md_len); i++)
    for (gsize j = 0; j < G_N_ELEMENTS (in_len); j++)
      {
        gsize outlen = md_len[i], inlen = in_len[j];
        selftest_seq (in, inlen, (guint32) inlen);
        ember_wg_blake2s (md, outlen, NULL, 0, in, inlen);
        ember_wg_blake2s_update (&ctx, md, outlen);
        selftest_seq (key, outlen, (guint32) outlen);
        ember_wg_blake2s (md, outlen, key, outlen, in, inlen);
        ember_wg_blake2s_update (&ctx, md, outlen);
      }
  ember_wg_blake2s_final (&ctx, md);
  wg_assert_hex (md, 32,
                 "6a411f08ce25adcdfb02aba641451cec"
                 "53c598b24f4fc787fbdc88797f4c1dfe");
}

/* Streaming in odd pieces equals one shot (block-boundary handling). */
static void
test_blake2s_incremental (void)
{
  guint8 in[300], a[32], b[32];
  EmberWgBlake2s s;

  selftest_seq (in, sizeof in, 7);
  ember_wg_blake2s (a, 32, NULL, 0, in, sizeof in);
  ember_wg_blake2s_init (&s, 32, NULL, 0);
  for (gsize off = 0, step = 1; off < sizeof in; off += step, step = step * 2 + 1)
    ember_wg_blake2s_update (&s, in + off, MIN (step, sizeof in - off));
  ember_wg_blake2s_final (&s, b);
  wg_assert_mem (a, 32, b, 32);
}

/* RFC 7748 §5.2, first two vectors and the 1 and 1000 iteration ones. */
static void
test_x25519_rfc7748_5_2 (void)
{
  g_autofree guint8 *k1 = wg_test_unhex (
      "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", NULL);
  g_autofree guint8 *u1 = wg_test_unhex (
      "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", NULL);
  g_autofree guint8 *k2 = wg_test_unhex (
      "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d", NULL);
  g_autofree guint8 *u2 = wg_test_unhex (
      "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493", NULL);
  guint8 out[32], k[32], u[32], t[32];

  g_assert_true (ember_wg_x25519 (out, k1, u1));
  wg_assert_hex (out, 32,
                 "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
  g_assert_true (ember_wg_x25519 (out, k2, u2));
  wg_assert_hex (out, 32,
                 "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");

  memset (k, 0, 32);
  k[0] = 9;
  memcpy (u, k, 32);
  for (int i = 1; i <= 1000; i++)
    {
      g_assert_true (ember_wg_x25519 (t, k, u));
      memcpy (u, k, 32);
      memcpy (k, t, 32);
      if (i == 1)
        wg_assert_hex (k, 32,
                       "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
  wg_assert_hex (k, 32,
                 "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

/* RFC 7748 §6.1: Diffie-Hellman between Alice and Bob. */
static void
test_x25519_rfc7748_6_1 (void)
{
  g_autofree guint8 *a = wg_test_unhex (
      "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", NULL);
  g_autofree guint8 *b = wg_test_unhex (
      "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", NULL);
  guint8 apub[32], bpub[32], s1[32], s2[32];

  ember_wg_x25519_public (apub, a);
  wg_assert_hex (apub, 32,
                 "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  ember_wg_x25519_public (bpub, b);
  wg_assert_hex (bpub, 32,
                 "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  g_assert_true (ember_wg_x25519 (s1, a, bpub));
  g_assert_true (ember_wg_x25519 (s2, b, apub));
  wg_assert_hex (s1, 32,
                 "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  wg_assert_mem (s1, 32, s2, 32);
}

/* A low-order point gives an all-zero secret, which must be refused. */
static void
test_x25519_rejects_low_order (void)
{
  g_autofree guint8 *a = wg_test_unhex (
      "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", NULL);
  guint8 zero[32] = { 0 }, out[32];

  g_assert_false (ember_wg_x25519 (out, a, zero));
}

static const char sunscreen[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only "
    "one tip for the future, sunscreen would be it.";

/* RFC 8439 §2.8.2. */
static void
test_aead_rfc8439 (void)
{
  g_autofree guint8 *key = wg_test_unhex (
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", NULL);
  g_autofree guint8 *nonce = wg_test_unhex ("070000004041424344454647", NULL);
  g_autofree guint8 *ad = wg_test_unhex ("50515253c0c1c2c3c4c5c6c7", NULL);
  gsize len = strlen (sunscreen);
  guint8 buf[256];
  EmberWgAead *aead = ember_wg_aead_new (key);

  g_assert_nonnull (aead);
  g_assert_cmpuint (len, ==, 114);
  memcpy (buf, sunscreen, len);
  g_assert_true (ember_wg_aead_seal_nonce (aead, nonce, ad, 12, buf, len));
  wg_assert_hex (buf, len + 16,
                 "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                 "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                 "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                 "3ff4def08e4b7a9de576d26586cec64b6116"
                 "1ae10b594f09e26a7e902ecbd0600691");
  g_assert_true (ember_wg_aead_open_nonce (aead, nonce, ad, 12, buf, len + 16));
  wg_assert_mem (buf, len, sunscreen, len);

  /* Any flipped bit in ciphertext, tag or AD fails. */
  g_assert_true (ember_wg_aead_seal_nonce (aead, nonce, ad, 12, buf, len));
  buf[len + 3] ^= 1;
  g_assert_false (ember_wg_aead_open_nonce (aead, nonce, ad, 12, buf, len + 16));
  buf[len + 3] ^= 1;
  ad[0] ^= 1;
  g_assert_false (ember_wg_aead_open_nonce (aead, nonce, ad, 12, buf, len + 16));
  g_assert_false (ember_wg_aead_open_nonce (aead, nonce, ad, 12, buf, 15));
  ember_wg_aead_free (aead);
}

/* WireGuard's counter nonce, an empty plaintext and no AD (keepalives). */
static void
test_aead_counter_roundtrip (void)
{
  guint8 key[32], buf[64 + 16];
  EmberWgAead *aead;

  memset (key, 0x42, sizeof key);
  aead = ember_wg_aead_new (key);
  g_assert_true (ember_wg_aead_seal (aead, 7, NULL, 0, buf, 0));
  g_assert_true (ember_wg_aead_open (aead, 7, NULL, 0, buf, 16));
  g_assert_false (ember_wg_aead_open (aead, 8, NULL, 0, buf, 16));
  for (int i = 0; i < 64; i++)
    buf[i] = (guint8) i;
  g_assert_true (ember_wg_aead_seal (aead, G_GUINT64_CONSTANT (1) << 40, NULL, 0, buf, 64));
  g_assert_true (ember_wg_aead_open (aead, G_GUINT64_CONSTANT (1) << 40, NULL, 0, buf, 80));
  for (int i = 0; i < 64; i++)
    g_assert_cmpuint (buf[i], ==, i);
  ember_wg_aead_free (aead);
}

/* draft-irtf-cfrg-xchacha-03 §2.2.1. */
static void
test_hchacha20 (void)
{
  g_autofree guint8 *key = wg_test_unhex (
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL);
  g_autofree guint8 *nonce = wg_test_unhex ("000000090000004a0000000031415927", NULL);
  guint8 out[32];

  ember_wg_hchacha20 (out, key, nonce);
  wg_assert_hex (out, 32,
                 "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
}

/* draft-irtf-cfrg-xchacha-03 Appendix A.3.1 (tag only: it authenticates
 * the whole ciphertext), plus a round trip. */
static void
test_xaead_draft (void)
{
  g_autofree guint8 *key = wg_test_unhex (
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", NULL);
  g_autofree guint8 *nonce = wg_test_unhex (
      "404142434445464748494a4b4c4d4e4f5051525354555657", NULL);
  g_autofree guint8 *ad = wg_test_unhex ("50515253c0c1c2c3c4c5c6c7", NULL);
  gsize len = strlen (sunscreen);
  guint8 buf[256];
  guint8 scratch_key[32] = { 0 };
  EmberWgAead *scratch = ember_wg_aead_new (scratch_key);

  memcpy (buf, sunscreen, len);
  g_assert_true (ember_wg_xaead_seal (scratch, key, nonce, ad, 12, buf, len));
  wg_assert_hex (buf, 16, "bd6d179d3e83d43b9576579493c0e939");
  wg_assert_hex (buf + len, 16, "c0875924c1c7987947deafd8780acf49");
  g_assert_true (ember_wg_xaead_open (scratch, key, nonce, ad, 12, buf, len + 16));
  wg_assert_mem (buf, len, sunscreen, len);
  ember_wg_aead_free (scratch);
}

/* The binary links the backend its name says, not the other one. */
static void
test_aead_backend (void)
{
  g_assert_cmpstr (ember_wg_aead_backend (), ==, EMBER_WG_TEST_AEAD);
}

/* One handle that seals, opens, is re-keyed, and does it again: the
 * handshake's scratch handle is used like this, and a backend that keeps
 * per-direction or per-key state must not mix them up. Checked against
 * the RFC 8439 §2.8.2 output, so both backends agree byte for byte. */
static void
test_aead_rekey_and_direction (void)
{
  g_autofree guint8 *key = wg_test_unhex (
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", NULL);
  g_autofree guint8 *nonce = wg_test_unhex ("070000004041424344454647", NULL);
  g_autofree guint8 *ad = wg_test_unhex ("50515253c0c1c2c3c4c5c6c7", NULL);
  guint8 other[32], buf[256], first[256];
  gsize len = strlen (sunscreen);
  EmberWgAead *aead;

  memset (other, 0x11, sizeof other);
  aead = ember_wg_aead_new (other);
  g_assert_nonnull (aead);
  for (int round = 0; round < 3; round++)
    {
      memcpy (buf, sunscreen, len);
      g_assert_true (ember_wg_aead_set_key (aead, other));
      g_assert_true (ember_wg_aead_seal_nonce (aead, nonce, ad, 12, buf, len));
      if (round == 0)
        memcpy (first, buf, len + 16);
      else
        wg_assert_mem (buf, len + 16, first, len + 16);
      g_assert_true (ember_wg_aead_set_key (aead, key));
      g_assert_false (ember_wg_aead_open_nonce (aead, nonce, ad, 12, buf, len + 16));
      memcpy (buf, sunscreen, len);
      g_assert_true (ember_wg_aead_seal_nonce (aead, nonce, ad, 12, buf, len));
      wg_assert_hex (buf + len, 16, "1ae10b594f09e26a7e902ecbd0600691");
      g_assert_true (ember_wg_aead_open_nonce (aead, nonce, ad, 12, buf, len + 16));
      wg_assert_mem (buf, len, sunscreen, len);
    }
  ember_wg_aead_free (aead);
}

/* Sizes around the backends' block and SIMD strides (64, 256, 512
 * bytes) round-trip, and a different counter or a flipped tag fails. */
static void
test_aead_lengths (void)
{
  guint8 key[32], buf[2048 + 16], ref[2048];
  static const gsize lens[] = { 1, 15, 16, 17, 63, 64, 65, 255, 256, 257,
                                511, 512, 513, 1280, 1420, 2048 };
  EmberWgAead *aead;

  for (gsize i = 0; i < sizeof key; i++)
    key[i] = (guint8) (i * 7);
  for (gsize i = 0; i < sizeof ref; i++)
    ref[i] = (guint8) (i * 13 + 1);
  aead = ember_wg_aead_new (key);
  for (gsize i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      gsize len = lens[i];
      memcpy (buf, ref, len);
      g_assert_true (ember_wg_aead_seal (aead, len, NULL, 0, buf, len));
      g_assert_true (memcmp (buf, ref, len) != 0);
      g_assert_false (ember_wg_aead_open (aead, len + 1, NULL, 0, buf, len + 16));
      memcpy (buf, ref, len);
      g_assert_true (ember_wg_aead_seal (aead, len, NULL, 0, buf, len));
      buf[len + 15] ^= 0x80;
      g_assert_false (ember_wg_aead_open (aead, len, NULL, 0, buf, len + 16));
      memcpy (buf, ref, len);
      g_assert_true (ember_wg_aead_seal (aead, len, NULL, 0, buf, len));
      g_assert_true (ember_wg_aead_open (aead, len, NULL, 0, buf, len + 16));
      wg_assert_mem (buf, len, ref, len);
    }
  ember_wg_aead_free (aead);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wg/crypto/aead/backend-is-" EMBER_WG_TEST_AEAD, test_aead_backend);
  g_test_add_func ("/wg/crypto/aead/rekey-and-direction", test_aead_rekey_and_direction);
  g_test_add_func ("/wg/crypto/aead/lengths-roundtrip", test_aead_lengths);
  g_test_add_func ("/wg/crypto/blake2s/rfc7693-abc", test_blake2s_abc);
  g_test_add_func ("/wg/crypto/blake2s/rfc7693-selftest-grand-hash", test_blake2s_selftest);
  g_test_add_func ("/wg/crypto/blake2s/incremental-equals-one-shot", test_blake2s_incremental);
  g_test_add_func ("/wg/crypto/x25519/rfc7748-5.2", test_x25519_rfc7748_5_2);
  g_test_add_func ("/wg/crypto/x25519/rfc7748-6.1", test_x25519_rfc7748_6_1);
  g_test_add_func ("/wg/crypto/x25519/rejects-low-order-point", test_x25519_rejects_low_order);
  g_test_add_func ("/wg/crypto/aead/rfc8439-2.8.2", test_aead_rfc8439);
  g_test_add_func ("/wg/crypto/aead/counter-nonce-roundtrip", test_aead_counter_roundtrip);
  g_test_add_func ("/wg/crypto/xchacha/hchacha20", test_hchacha20);
  g_test_add_func ("/wg/crypto/xchacha/aead-draft-a.3.1", test_xaead_draft);
  return g_test_run ();
}
