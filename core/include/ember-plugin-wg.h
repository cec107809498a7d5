/* ember-plugin-wg.h — the ABI of a WireGuard engine plugin (kind WG).
 *
 * A plugin of kind EMBER_PLUGIN_KIND_WG carries an EmberWgVtable in its
 * EmberPluginInfo. The engine it describes is a sans-IO state machine:
 * it never touches a socket, a clock or a random device. The caller
 *   - passes `now`, a monotonic time in microseconds, to every call, and
 *     the wall clock (Unix µs) through set_clock() (TAI64N timestamps of
 *     handshake initiations, whitepaper §5.1, come from it);
 *   - injects randomness through an EmberWgRngFunc;
 *   - after every input (encapsulate, decapsulate, update_timers) drains
 *     poll_transmit() until it returns FALSE and poll_event() likewise,
 *     then re-arms its timer at poll_timeout().
 * Naming: poll_* here only hands out pending output and does no I/O
 * (unlike poll_* on the I/O backends of ember-plugin.h).
 *
 * Buffers and packets. Nothing is allocated per packet: an IP packet is
 * encrypted in place in the caller's buffer, which must leave
 * EMBER_WG_HEADROOM bytes before it and EMBER_WG_TAILROOM bytes after it;
 * a datagram is decrypted in place. Offsets and lengths are in/out
 * parameters.
 *
 * Threads. One engine is used by one thread at a time; it has no locks.
 * Different engines are independent.
 *
 * Versioning follows ember-plugin.h: append-only vtable, every member
 * added in ABI 1.0 unless its comment says otherwise.
 */
#pragma once

#include "ember-plugin.h"

G_BEGIN_DECLS

#define EMBER_WG_KEY_SIZE 32
/* Bytes a caller leaves before and after an IP packet to encapsulate it
 * in place: the 16-byte data header; up to 15 bytes padding + the tag. */
#define EMBER_WG_HEADROOM 16
#define EMBER_WG_TAILROOM 31
/* A buffer of this size always holds what poll_transmit() produces. */
#define EMBER_WG_TRANSMIT_MAX 2048

typedef struct _EmberWgEngine EmberWgEngine;
typedef struct _EmberWgPeer EmberWgPeer;

/* Fills buf with len cryptographically secure random bytes. Must not
 * fail; an engine is given one at creation. */
typedef void (*EmberWgRngFunc) (gpointer user_data, guint8 *buf, gsize len);

/* Per-packet outcome: values >= 0 are success, < 0 errors (the packet is
 * dropped; the caller counts and logs once per batch). */
typedef enum {
  EMBER_WG_DONE = 0,         /* consumed; drain poll_transmit() */
  EMBER_WG_PACKET = 1,       /* decapsulate: an IP packet for the TUN */
  EMBER_WG_DATAGRAM = 2,     /* encapsulate: a datagram to send */
  EMBER_WG_QUEUED = 3,       /* encapsulate: staged until a session exists;
                              * a handshake initiation is pending */
  EMBER_WG_ERR_MALFORMED = -1,   /* bad length, type or inner IP header */
  EMBER_WG_ERR_MAC = -2,         /* mac1 wrong, or mac2 wrong when needed */
  EMBER_WG_ERR_UNKNOWN = -3,     /* no peer / receiver index */
  EMBER_WG_ERR_HANDSHAKE = -4,   /* handshake message did not authenticate
                                  * or came in the wrong state */
  EMBER_WG_ERR_REPLAY = -5,      /* old timestamp, duplicate/old counter */
  EMBER_WG_ERR_DECRYPT = -6,     /* data packet failed authentication */
  EMBER_WG_ERR_EXPIRED = -7,     /* keys too old or used up */
  EMBER_WG_ERR_BUSY = -8,        /* under load: a cookie reply is pending */
  EMBER_WG_ERR_RATE = -9,        /* initiation flood from one peer */
  EMBER_WG_ERR_BUFFER = -10,     /* head/tail room missing or too large */
} EmberWgResult;

typedef struct {
  guint8 public_key[EMBER_WG_KEY_SIZE];
  gboolean has_preshared_key;
  guint8 preshared_key[EMBER_WG_KEY_SIZE];
  guint16 persistent_keepalive_s;  /* 0: off */
  EmberAddr endpoint;              /* family NONE: learnt from the peer */
} EmberWgPeerConfig;

typedef struct {
  guint64 tx_bytes, rx_bytes;     /* datagram bytes sent/received */
  guint64 tx_packets, rx_packets; /* data packets incl. keepalives */
  guint64 staged_dropped;         /* staged packets dropped (full/failed) */
  gint64 last_handshake;          /* `now` of the last completed handshake,
                                   * G_MININT64 if none */
  guint32 handshake_attempts;     /* since the last completed one */
  gboolean has_session;           /* has a current keypair (its age is
                                   * checked on use, not here) */
  EmberAddr endpoint;             /* current endpoint (roams) */
} EmberWgPeerStats;

/* One datagram handed out by poll_transmit(): the bytes are in the
 * caller's buffer [0, len). `peer` is NULL for a cookie reply to a
 * sender the engine does not trust yet. `to` may be family NONE when a
 * peer has no endpoint yet; the caller then drops it. */
typedef struct {
  EmberWgPeer *peer;
  EmberAddr to;
  gsize len;
} EmberWgTransmit;

typedef enum {
  EMBER_WG_EVENT_HANDSHAKE_COMPLETE = 1, /* a new session with peer */
  EMBER_WG_EVENT_HANDSHAKE_FAILED = 2,   /* gave up after REKEY_ATTEMPT_TIME */
  EMBER_WG_EVENT_KEYS_EXPIRED = 3,       /* all keys wiped (3 × REJECT) */
} EmberWgEventType;

typedef struct {
  EmberWgEventType type;
  EmberWgPeer *peer;
} EmberWgEvent;

/* The vtable of kind wg. All members: ABI 1.0. */
typedef struct {
  /* Creates an engine for one static private key (32 bytes, clamped by
   * the engine). `now`/`wall_us` seed the clock as set_clock() does. */
  EmberWgEngine *(*engine_new) (const guint8 private_key[EMBER_WG_KEY_SIZE],
                                EmberWgRngFunc rng, gpointer rng_data,
                                gint64 now, gint64 wall_us, GError **error);
  /* Wipes every key and frees the engine and its peers. */
  void (*engine_free) (EmberWgEngine *engine);
  /* Tells the engine the wall clock (µs since the Unix epoch) at `now`.
   * Call it whenever the wall clock may have stepped. */
  void (*set_clock) (EmberWgEngine *engine, gint64 now, gint64 wall_us);
  /* While TRUE, handshake messages need a valid mac2 (a cookie) and the
   * others get a cookie reply (whitepaper §5.3). */
  void (*set_under_load) (EmberWgEngine *engine, gboolean under_load);
  /* The engine's own static public key (what peers configure). */
  void (*get_public_key) (EmberWgEngine *engine,
                          guint8 out[EMBER_WG_KEY_SIZE]);

  /* Adds a peer. Fails (GError, EMBER_PLUGIN_ERROR_CONFIG) on a duplicate
   * or unusable public key. The peer lives until remove_peer/engine_free. */
  EmberWgPeer *(*add_peer) (EmberWgEngine *engine,
                            const EmberWgPeerConfig *config, GError **error);
  void (*remove_peer) (EmberWgEngine *engine, EmberWgPeer *peer);
  EmberWgPeer *(*lookup_peer) (EmberWgEngine *engine,
                               const guint8 public_key[EMBER_WG_KEY_SIZE]);
  void (*set_endpoint) (EmberWgPeer *peer, const EmberAddr *endpoint);
  void (*get_peer_stats) (EmberWgPeer *peer, EmberWgPeerStats *stats);
  /* Starts a handshake now (rate limited to one per REKEY_TIMEOUT). */
  void (*initiate) (EmberWgEngine *engine, EmberWgPeer *peer, gint64 now);

  /* Encrypts the IP packet at buf[*offset, *offset + *len) for peer.
   * DATAGRAM: the datagram is now at buf[*offset, *offset + *len) (offset
   * moved back by the header) and goes to *to. QUEUED: the packet was
   * copied to the peer's staged ring; drain poll_transmit(). */
  EmberWgResult (*encapsulate) (EmberWgEngine *engine, EmberWgPeer *peer,
                                gint64 now, guint8 *buf, gsize capacity,
                                gsize *offset, gsize *len, EmberAddr *to);
  /* Handles one received datagram at buf[*offset, *offset + *len) from
   * `from`. PACKET: an IP packet (padding removed) is at the updated
   * range; *peer_out tells whose, so the caller checks its allowed IPs.
   * DONE: consumed (handshake, cookie, keepalive). Either way drain
   * poll_transmit(). */
  EmberWgResult (*decapsulate) (EmberWgEngine *engine, gint64 now,
                                const EmberAddr *from, guint8 *buf,
                                gsize *offset, gsize *len,
                                EmberWgPeer **peer_out);
  /* Runs every timer due at `now` (retransmits, keepalives, rekeys,
   * expiry). */
  void (*update_timers) (EmberWgEngine *engine, gint64 now);
  /* Writes the next datagram to send into buf (capacity at least
   * EMBER_WG_TRANSMIT_MAX) and fills *out. FALSE when nothing is
   * pending. Handshake and cookie messages come before data. */
  gboolean (*poll_transmit) (EmberWgEngine *engine, gint64 now, guint8 *buf,
                             gsize capacity, EmberWgTransmit *out);
  /* The earliest absolute `now` at which update_timers() has work;
   * G_MAXINT64 if none. */
  gint64 (*poll_timeout) (EmberWgEngine *engine);
  gboolean (*poll_event) (EmberWgEngine *engine, EmberWgEvent *event);

  /* Test only (ABI 1.0, appended; NULL-check it): the initiator of a
   * session rekeys `rekey_after_us` after the handshake instead of
   * REKEY_AFTER_TIME (120 s, whitepaper §6.2), so interop tests can watch
   * rekeys under traffic. 0 restores the default. Never set in production. */
  void (*set_test_rekey_after) (EmberWgEngine *engine, gint64 rekey_after_us);
} EmberWgVtable;

G_END_DECLS
