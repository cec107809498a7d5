/* replay.h — the receive-side sliding replay window of one keypair.
 *
 * A bitmap of EMBER_WG_REPLAY_BITS bits arranged as a ring of 64-bit
 * words, like the kernel's noise_replay_counter: the window accepts any
 * counter not seen before that is no more than EMBER_WG_REPLAY_WINDOW
 * below the highest one seen (whitepaper §5.4.6, RFC 6479's idea).
 * Counters at or above REJECT_AFTER_MESSAGES are always refused.
 *
 * Owned by a keypair; call only after the packet authenticated
 * (otherwise a forged counter would advance the window). One thread.
 */
#pragma once

#include <glib.h>

#include "wire.h"

#define EMBER_WG_REPLAY_BITS 8192
#define EMBER_WG_REPLAY_WORDS (EMBER_WG_REPLAY_BITS / 64)
/* One word of the ring is always being recycled, so it does not count. */
#define EMBER_WG_REPLAY_WINDOW (EMBER_WG_REPLAY_BITS - 64)

typedef struct {
  guint64 next;  /* one past the highest counter accepted */
  guint64 bitmap[EMBER_WG_REPLAY_WORDS];
} EmberWgReplay;

void ember_wg_replay_init (EmberWgReplay *r);
/* TRUE and records the counter when it is new and inside the window;
 * FALSE for a duplicate, a counter too old, or one past the limit. */
gboolean ember_wg_replay_check (EmberWgReplay *r, guint64 counter);
