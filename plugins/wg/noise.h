/* noise.h — the Noise_IKpsk2 handshake of WireGuard (whitepaper §5.4).
 *
 * Create/consume pairs for the two handshake messages, each step marked
 * with its Noise token, and the derivation of the transport keys. This
 * file fills the cryptographic fields of a message; mac1/mac2 are added
 * and checked by cookie.c, and indices are chosen by the engine.
 *
 * Owns an EmberWgHandshake per peer (its ephemeral key, chaining key,
 * hash, the peer's latest timestamp). Pure: no clock, randomness comes
 * in through the caller. One thread per engine.
 */
#pragma once

#include <glib.h>

#include "aead.h"
#include "wire.h"

typedef struct {
  guint8 private_key[EMBER_WG_KEY];
  guint8 public_key[EMBER_WG_KEY];
} EmberWgIdentity;

typedef enum {
  EMBER_WG_HS_ZEROED = 0,
  EMBER_WG_HS_CREATED_INITIATION,
  EMBER_WG_HS_CONSUMED_INITIATION,
  EMBER_WG_HS_CREATED_RESPONSE,
  EMBER_WG_HS_CONSUMED_RESPONSE,
} EmberWgHandshakeState;

typedef struct {
  EmberWgHandshakeState state;
  guint8 remote_static[EMBER_WG_KEY];
  guint8 precomputed_ss[EMBER_WG_KEY];  /* DH(S_priv, S_pub_remote) */
  guint8 psk[EMBER_WG_KEY];             /* zeros when none (§5.2) */
  guint8 ephemeral_private[EMBER_WG_KEY];
  guint8 remote_ephemeral[EMBER_WG_KEY];
  guint8 hash[EMBER_WG_KEY];
  guint8 chaining_key[EMBER_WG_KEY];
  guint8 latest_timestamp[EMBER_WG_TAI64N];
  guint32 local_index;
  guint32 remote_index;
  gboolean has_consumed_initiation;
  gint64 last_initiation_consumption;
} EmberWgHandshake;

/* Transport keys derived at the end of a handshake (§5.4.5). */
typedef struct {
  guint8 send_key[EMBER_WG_KEY];
  guint8 recv_key[EMBER_WG_KEY];
  gboolean initiator;
  guint32 local_index;
  guint32 remote_index;
} EmberWgSessionKeys;

typedef struct {
  EmberWgRngFunc func;
  gpointer data;
} EmberWgRng;

/* Finds the handshake of the peer with this static key, or NULL. */
typedef EmberWgHandshake *(*EmberWgLookupStatic) (
    gpointer user_data, const guint8 remote_static[EMBER_WG_KEY]);

/* Sets up the per-peer constants; FALSE if DH(s, S_remote) is zero (a
 * low-order public key). */
gboolean ember_wg_noise_handshake_init (EmberWgHandshake *hs,
                                        const EmberWgIdentity *id,
                                        const guint8 remote_static[EMBER_WG_KEY],
                                        const guint8 *psk);
/* Wipes the ephemeral state (keeps peer constants and the latest
 * timestamp, which must survive for replay protection). */
void ember_wg_noise_handshake_clear (EmberWgHandshake *hs);

/* TAI64N of a Unix time in µs, granularity reduced as the kernel does. */
void ember_wg_noise_tai64n (guint8 out[EMBER_WG_TAI64N], gint64 wall_us);

/* msg: EMBER_WG_INIT_LEN bytes; fields up to mac1 are written. */
gboolean ember_wg_noise_create_initiation (EmberWgHandshake *hs,
                                           const EmberWgIdentity *id,
                                           EmberWgAead *scratch,
                                           const EmberWgRng *rng,
                                           gint64 wall_us,
                                           guint32 local_index,
                                           guint8 *msg);
/* On success returns the matched peer's handshake, now in state
 * CONSUMED_INITIATION; otherwise NULL and *result says why. The message
 * length and macs were checked by the caller. */
EmberWgHandshake *ember_wg_noise_consume_initiation (
    const EmberWgIdentity *id, EmberWgAead *scratch, const guint8 *msg,
    EmberWgLookupStatic lookup, gpointer lookup_data, gint64 now,
    EmberWgResult *result);

gboolean ember_wg_noise_create_response (EmberWgHandshake *hs,
                                         EmberWgAead *scratch,
                                         const EmberWgRng *rng,
                                         guint32 local_index, guint8 *msg);
/* hs is the handshake whose local index the response names. */
EmberWgResult ember_wg_noise_consume_response (EmberWgHandshake *hs,
                                               const EmberWgIdentity *id,
                                               EmberWgAead *scratch,
                                               const guint8 *msg);

/* After create_response (responder) or consume_response (initiator):
 * derives the transport keys and zeroes the handshake. */
gboolean ember_wg_noise_begin_session (EmberWgHandshake *hs,
                                       EmberWgSessionKeys *keys);
