/* checksum — the Internet checksum: RFC 1071 full sums and RFC 1624
 * incremental updates.
 *
 * Pure functions over caller-owned bytes; no state, any thread may call.
 * Sums are kept unfolded in a guint32 while accumulating and folded to 16
 * bits at the end; a "checksum" is the complement of a folded sum, as it
 * sits in a header.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Adds `len` bytes at `data` (big-endian 16-bit words; an odd final byte is
 * padded with zero, RFC 1071 §4.1) to `sum`. `len` must be even for every
 * call but the last one over a region. */
guint32 ember_checksum_add (guint32 sum, const guint8 *data, gsize len);

/* Folds a running sum to 16 bits with end-around carry. */
guint16 ember_checksum_fold (guint32 sum);

/* The checksum to store: ~fold(sum). */
guint16 ember_checksum_finish (guint32 sum);

/* RFC 1624 eqn. 3: the new checksum after data whose folded sum was
 * `old_sum` is replaced by data whose folded sum is `new_sum`:
 * HC' = ~(~HC + ~m + m'). Unlike eqn. 2 it never yields a stale -0. */
guint16 ember_checksum_adjust (guint16 checksum, guint16 old_sum, guint16 new_sum);

/* Convenience: adjust for one region of `len` (even) bytes changing from
 * `old_bytes` to `new_bytes`. */
guint16 ember_checksum_replace (guint16 checksum, const guint8 *old_bytes,
                                const guint8 *new_bytes, gsize len);

G_END_DECLS
