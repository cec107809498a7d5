/* x25519.h — X25519 (RFC 7748) through nettle's curve25519_mul.
 *
 * Private keys are clamped by nettle (RFC 7748 §5 decodeScalar25519).
 * Pure functions, any thread.
 */
#pragma once

#include <glib.h>

#define EMBER_WG_KEY_LEN 32

/* public = X25519(private, 9). */
void ember_wg_x25519_public (guint8 pub[EMBER_WG_KEY_LEN],
                             const guint8 priv[EMBER_WG_KEY_LEN]);
/* shared = X25519(private, public). FALSE when the result is all zero
 * (a low-order public key; RFC 7748 §6.1 "check"), and shared is wiped. */
gboolean ember_wg_x25519 (guint8 shared[EMBER_WG_KEY_LEN],
                          const guint8 priv[EMBER_WG_KEY_LEN],
                          const guint8 pub[EMBER_WG_KEY_LEN]);
/* Clamps 32 random bytes into a private key (RFC 7748 §5). */
void ember_wg_x25519_clamp (guint8 priv[EMBER_WG_KEY_LEN]);
