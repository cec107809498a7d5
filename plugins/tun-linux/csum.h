/* csum — the Internet checksum (RFC 1071) for the tun-linux offloads.
 *
 * The plugin must not link libember-core, so it carries this small copy.
 * Pure functions; any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One's-complement sum of `len` bytes added to `sum` (not folded). */
guint64 tun_csum_add (guint64 sum, const guint8 *data, gsize len);
/* Folds a sum to 16 bits (not complemented). */
guint16 tun_csum_fold (guint64 sum);
/* Sum of the IPv4 (`family` 4) or IPv6 pseudo-header (RFC 793 §3.1,
 * RFC 8200 §8.1) for `l4_len` bytes of protocol `proto`. */
guint64 tun_csum_pseudo (guint family, const guint8 *src, const guint8 *dst, guint8 proto,
                         guint32 l4_len);

static inline guint16
tun_read16 (const guint8 *p)
{
  return (guint16) (p[0] << 8 | p[1]);
}

static inline guint32
tun_read32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static inline void
tun_write16 (guint8 *p, guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static inline void
tun_write32 (guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

G_END_DECLS
