/* x25519.c — X25519 on nettle (hogweed). */
#include "x25519.h"

#include <nettle/curve25519.h>

#include "secret.h"

void
ember_wg_x25519_public (guint8 pub[EMBER_WG_KEY_LEN],
                        const guint8 priv[EMBER_WG_KEY_LEN])
{
  curve25519_mul_g (pub, priv);
}

gboolean
ember_wg_x25519 (guint8 shared[EMBER_WG_KEY_LEN],
                 const guint8 priv[EMBER_WG_KEY_LEN],
                 const guint8 pub[EMBER_WG_KEY_LEN])
{
  curve25519_mul (shared, priv, pub);
  if (ember_wg_ct_is_zero (shared, EMBER_WG_KEY_LEN))
    {
      ember_wg_wipe (shared, EMBER_WG_KEY_LEN);
      return FALSE;
    }
  return TRUE;
}

void
ember_wg_x25519_clamp (guint8 priv[EMBER_WG_KEY_LEN])
{
  priv[0] &= 248;
  priv[31] = (guint8) ((priv[31] & 127) | 64);
}
