/* engine-private.h — the engine's structures, shared by engine.c
 * (dispatch, data path), session.c (keypairs, index table, staged ring)
 * and timers.c (whitepaper §6 timers). Not installed. */
#pragma once

#include "aead.h"
#include "cookie.h"
#include "engine.h"
#include "noise.h"
#include "replay.h"
#include "wire.h"

#define EMBER_WG_NEVER G_MAXINT64
#define EMBER_WG_CONTROL_MAX 32
#define EMBER_WG_EVENT_MAX 64

typedef enum {
  EMBER_WG_INDEX_HANDSHAKE = 1,
  EMBER_WG_INDEX_KEYPAIR = 2,
} EmberWgIndexKind;

typedef struct _EmberWgKeypair EmberWgKeypair;

/* What a receiver index names: a handshake in flight or a keypair. */
typedef struct {
  EmberWgIndexKind kind;
  EmberWgPeer *peer;
  EmberWgKeypair *keypair;   /* KEYPAIR only */
  guint32 index;
} EmberWgIndexEntry;

struct _EmberWgKeypair {
  EmberWgIndexEntry entry;   /* local index */
  guint32 remote_index;
  EmberWgAead *send;
  EmberWgAead *recv;
  guint64 send_counter;      /* next counter to use */
  EmberWgReplay replay;
  gint64 birth;
  gboolean initiator;
  gboolean recv_valid;
};

/* A staged IP packet waiting for a session (zero length: keepalive). */
typedef struct {
  guint16 len;
  guint8 data[EMBER_WG_STAGED_MTU];
} EmberWgStaged;

struct _EmberWgPeer {
  EmberWgEngine *engine;
  guint8 public_key[EMBER_WG_KEY];
  EmberWgHandshake hs;
  EmberWgIndexEntry hs_entry;      /* registered while a handshake flies */
  gboolean hs_registered;
  EmberWgCookieMaker cookie;
  EmberWgKeypair *previous, *current, *next;
  EmberAddr endpoint;
  guint16 persistent_keepalive_s;

  /* Staged ring and the engine's list of peers with staged packets. */
  EmberWgStaged *staged;
  guint staged_head, staged_count;
  GList staged_link;
  gboolean in_staged_list;

  /* Timers (absolute `now`, EMBER_WG_NEVER when not armed). */
  gint64 t_retransmit, t_send_keepalive, t_new_handshake, t_zero_keys,
      t_persistent;
  guint handshake_attempts;
  gboolean need_another_keepalive;
  gboolean sent_lastminute_handshake;
  gint64 last_sent_handshake;      /* G_MININT64: never */

  EmberWgPeerStats stats;
};

typedef struct {
  EmberWgPeer *peer;
  EmberAddr to;
  guint8 len;
  guint8 data[EMBER_WG_INIT_LEN];
} EmberWgControl;

struct _EmberWgEngine {
  EmberWgIdentity id;
  EmberWgRng rng;
  EmberWgCookieChecker checker;
  EmberWgAead *scratch;            /* handshake/cookie AEAD, re-keyed */
  gint64 wall_offset;              /* wall_us - now */
  gboolean under_load;
  gint64 rekey_after_time;         /* REKEY_AFTER_TIME unless a test set it */

  GPtrArray *peers;                /* EmberWgPeer*, owned */
  GHashTable *by_key;              /* public key (32 bytes) -> peer */
  GHashTable *by_index;            /* GUINT_TO_POINTER(index) -> entry */
  GQueue staged_peers;             /* peers with staged packets */

  EmberWgControl control[EMBER_WG_CONTROL_MAX];
  guint control_head, control_count;
  guint64 control_dropped;

  EmberWgEvent events[EMBER_WG_EVENT_MAX];
  guint event_head, event_count;
};

/* session.c */
guint32 ember_wg_index_register (EmberWgEngine *e, EmberWgIndexEntry *entry);
void ember_wg_index_unregister (EmberWgEngine *e, EmberWgIndexEntry *entry);
EmberWgIndexEntry *ember_wg_index_lookup (EmberWgEngine *e, guint32 index);
EmberWgKeypair *ember_wg_keypair_new (EmberWgPeer *peer,
                                      const EmberWgSessionKeys *keys,
                                      gint64 now);
void ember_wg_keypair_free (EmberWgEngine *e, EmberWgKeypair *kp);
void ember_wg_peer_add_keypair (EmberWgPeer *peer, EmberWgKeypair *kp);
gboolean ember_wg_peer_received_with (EmberWgPeer *peer, EmberWgKeypair *kp);
void ember_wg_peer_clear_keypairs (EmberWgPeer *peer);
gboolean ember_wg_keypair_can_send (const EmberWgKeypair *kp, gint64 now);
gboolean ember_wg_keypair_can_receive (const EmberWgKeypair *kp, gint64 now);
void ember_wg_peer_stage (EmberWgPeer *peer, const guint8 *data, gsize len);
void ember_wg_peer_clear_staged (EmberWgPeer *peer);
void ember_wg_engine_push_control (EmberWgEngine *e, EmberWgPeer *peer,
                                   const EmberAddr *to, const guint8 *data,
                                   gsize len);
void ember_wg_engine_push_event (EmberWgEngine *e, EmberWgEventType type,
                                 EmberWgPeer *peer);

/* engine.c (receive.c has decapsulate) */
void ember_wg_peer_send_initiation (EmberWgPeer *peer, gint64 now,
                                    gboolean is_retry);
void ember_wg_peer_send_keepalive (EmberWgPeer *peer);
void ember_wg_peer_queue_keepalive (EmberWgPeer *peer, gint64 now);
void ember_wg_peer_data_sent (EmberWgPeer *peer, gint64 now, gsize plain_len,
                              gsize wire_len);

/* timers.c: the kernel's timer events (timers.c there), by name. */
void ember_wg_timers_data_sent (EmberWgPeer *peer, gint64 now);
void ember_wg_timers_data_received (EmberWgPeer *peer, gint64 now);
void ember_wg_timers_any_authenticated_packet_sent (EmberWgPeer *peer);
void ember_wg_timers_any_authenticated_packet_received (EmberWgPeer *peer);
void ember_wg_timers_any_authenticated_packet_traversal (EmberWgPeer *peer,
                                                        gint64 now);
void ember_wg_timers_handshake_initiated (EmberWgPeer *peer, gint64 now);
void ember_wg_timers_handshake_complete (EmberWgPeer *peer, gint64 now);
void ember_wg_timers_session_derived (EmberWgPeer *peer, gint64 now);
void ember_wg_timers_init (EmberWgPeer *peer);
void ember_wg_timers_run (EmberWgPeer *peer, gint64 now);
gint64 ember_wg_timers_next (const EmberWgPeer *peer);
