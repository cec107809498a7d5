/* wire.h — WireGuard wire formats, lengths and every protocol constant.
 *
 * Like the kernel's messages.h: the one place for message types, field
 * offsets, sizes and timer values (whitepaper §5.4, §6). Integers on the
 * wire are little endian. Headers only; any thread.
 */
#pragma once

#include <glib.h>

#include "ember-plugin-wg.h"

/* Whitepaper §5.4: protocol name and identifier hashed into the chain. */
#define EMBER_WG_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define EMBER_WG_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define EMBER_WG_LABEL_MAC1 "mac1----"
#define EMBER_WG_LABEL_COOKIE "cookie--"

/* ---- Message types (first byte, then 3 reserved zero bytes) ---------- */
enum {
  EMBER_WG_MSG_INITIATION = 1,
  EMBER_WG_MSG_RESPONSE = 2,
  EMBER_WG_MSG_COOKIE = 3,
  EMBER_WG_MSG_DATA = 4,
};

#define EMBER_WG_KEY 32          /* X25519 keys, hashes, chaining keys */
#define EMBER_WG_TAG 16          /* Poly1305 */
#define EMBER_WG_MAC 16          /* keyed BLAKE2s-128 */
#define EMBER_WG_TAI64N 12
#define EMBER_WG_COOKIE_NONCE 24

/* Handshake initiation, §5.4.2: 148 bytes. */
#define EMBER_WG_INIT_SENDER 4
#define EMBER_WG_INIT_EPHEMERAL 8
#define EMBER_WG_INIT_STATIC 40          /* 32 + 16 tag */
#define EMBER_WG_INIT_TIMESTAMP 88       /* 12 + 16 tag */
#define EMBER_WG_INIT_MAC1 116
#define EMBER_WG_INIT_MAC2 132
#define EMBER_WG_INIT_LEN 148

/* Handshake response, §5.4.3: 92 bytes. */
#define EMBER_WG_RESP_SENDER 4
#define EMBER_WG_RESP_RECEIVER 8
#define EMBER_WG_RESP_EPHEMERAL 12
#define EMBER_WG_RESP_EMPTY 44           /* 0 + 16 tag */
#define EMBER_WG_RESP_MAC1 60
#define EMBER_WG_RESP_MAC2 76
#define EMBER_WG_RESP_LEN 92

/* Cookie reply, §5.4.7: 64 bytes. */
#define EMBER_WG_COOKIE_RECEIVER 4
#define EMBER_WG_COOKIE_NONCE_OFF 8
#define EMBER_WG_COOKIE_COOKIE 32        /* 16 + 16 tag */
#define EMBER_WG_COOKIE_LEN 64

/* Transport data, §5.4.6: header, then the padded packet and its tag. */
#define EMBER_WG_DATA_RECEIVER 4
#define EMBER_WG_DATA_COUNTER 8
#define EMBER_WG_DATA_HEADER 16
#define EMBER_WG_DATA_MIN (EMBER_WG_DATA_HEADER + EMBER_WG_TAG) /* keepalive */
#define EMBER_WG_PADDING 16

/* EMBER_WG_HEADROOM / EMBER_WG_TAILROOM (ember-plugin-wg.h) are what a
 * caller reserves around an IP packet to encapsulate it in place. */
G_STATIC_ASSERT (EMBER_WG_HEADROOM == EMBER_WG_DATA_HEADER);
G_STATIC_ASSERT (EMBER_WG_TAILROOM == EMBER_WG_PADDING - 1 + EMBER_WG_TAG);

/* ---- Limits, §6.1 --------------------------------------------------- */
#define EMBER_WG_REKEY_AFTER_MESSAGES (G_GUINT64_CONSTANT (1) << 60)
#define EMBER_WG_REJECT_AFTER_MESSAGES                                   \
  (G_MAXUINT64 - (G_GUINT64_CONSTANT (1) << 13))  /* 2^64 - 2^13 - 1 */

/* ---- Timers, §6.1 (microseconds, the unit of `now`) ------------------- */
#define EMBER_WG_SECOND G_GINT64_CONSTANT (1000000)
#define EMBER_WG_REKEY_AFTER_TIME (120 * EMBER_WG_SECOND)
#define EMBER_WG_REJECT_AFTER_TIME (180 * EMBER_WG_SECOND)
#define EMBER_WG_REKEY_ATTEMPT_TIME (90 * EMBER_WG_SECOND)
#define EMBER_WG_REKEY_TIMEOUT (5 * EMBER_WG_SECOND)
#define EMBER_WG_REKEY_TIMEOUT_JITTER_MAX (333 * 1000)  /* §6.1: 0-333 ms */
#define EMBER_WG_KEEPALIVE_TIMEOUT (10 * EMBER_WG_SECOND)
#define EMBER_WG_COOKIE_SECRET_MAX_AGE (120 * EMBER_WG_SECOND)
/* A cookie the initiator holds is used only while the responder's secret
 * it came from is surely still current (kernel: COOKIE_SECRET_LATENCY). */
#define EMBER_WG_COOKIE_SECRET_LATENCY (5 * EMBER_WG_SECOND)
/* REKEY_ATTEMPT_TIME / REKEY_TIMEOUT handshake attempts, then give up. */
#define EMBER_WG_MAX_HANDSHAKE_ATTEMPTS                                  \
  (EMBER_WG_REKEY_ATTEMPT_TIME / EMBER_WG_REKEY_TIMEOUT)
/* Per peer, initiations faster than this are dropped (kernel:
 * INITIATIONS_PER_SECOND = 50), so a replayed-but-newer flood is cheap. */
#define EMBER_WG_MIN_INITIATION_INTERVAL (EMBER_WG_SECOND / 50)
/* Keys are wiped this long after the last session was derived. */
#define EMBER_WG_ZERO_KEYS_AFTER (3 * EMBER_WG_REJECT_AFTER_TIME)
/* TAI64N: the kernel rounds nanoseconds down to 2^24 ns (~16.8 ms) so the
 * timestamp does not leak a precise clock. */
#define EMBER_WG_TAI64N_NSEC_MASK (~((guint32) (1u << 24) - 1u))
/* TAI64 label of the Unix epoch: 2^62 + 10 (TAI - UTC in 1970). */
#define EMBER_WG_TAI64_EPOCH (G_GUINT64_CONSTANT (0x400000000000000a))

/* Staged packets per peer waiting for a handshake (kernel: 128). Each
 * slot holds one IP packet of up to EMBER_WG_STAGED_MTU bytes. */
#define EMBER_WG_STAGED_MAX 32
#define EMBER_WG_STAGED_MTU 1536

/* ---- Little-endian helpers ------------------------------------------ */
static inline guint32
ember_wg_get_le32 (const guint8 *p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16)
         | ((guint32) p[3] << 24);
}

static inline void
ember_wg_put_le32 (guint8 *p, guint32 v)
{
  p[0] = (guint8) v;
  p[1] = (guint8) (v >> 8);
  p[2] = (guint8) (v >> 16);
  p[3] = (guint8) (v >> 24);
}

static inline guint64
ember_wg_get_le64 (const guint8 *p)
{
  return (guint64) ember_wg_get_le32 (p)
         | ((guint64) ember_wg_get_le32 (p + 4) << 32);
}

static inline void
ember_wg_put_le64 (guint8 *p, guint64 v)
{
  ember_wg_put_le32 (p, (guint32) v);
  ember_wg_put_le32 (p + 4, (guint32) (v >> 32));
}
