/* secret.h — wiping and constant-time comparison of key material.
 *
 * Thin wrappers over GnuTLS so every file of the engine wipes and
 * compares secrets the same way (STYLE.md: "Secrets"). Any thread.
 */
#pragma once

#include <glib.h>
#include <gnutls/gnutls.h>

/* gnutls_memset is not optimised away, unlike a memset before free. */
static inline void
ember_wg_wipe (void *p, gsize len)
{
  gnutls_memset (p, 0, len);
}

/* TRUE when equal; the time taken depends on len only. */
static inline gboolean
ember_wg_ct_equal (const void *a, const void *b, gsize len)
{
  return gnutls_memcmp (a, b, len) == 0;
}

/* TRUE when all len bytes are zero, in constant time. */
static inline gboolean
ember_wg_ct_is_zero (const guint8 *p, gsize len)
{
  guint8 acc = 0;
  for (gsize i = 0; i < len; i++)
    acc |= p[i];
  return acc == 0;
}
