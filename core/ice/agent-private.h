/* ice/agent-private — the agent's state, shared by agent.c (control,
 * timers, events), checklist.c (pairs) and checks.c (STUN checks).
 * Not installed; same threading rules as agent.h.
 */
#pragma once

#include "ice/agent.h"
#include "stun/wire.h"

typedef struct {
  EmberIceCandidate local;  /* the base candidate the pair sends from */
  EmberIceCandidate remote;
  guint64 priority;
  EmberIcePairState state;
  gboolean nominated;       /* USE-CANDIDATE succeeded / was received */
  gboolean nominate_next;   /* the next check carries USE-CANDIDATE */
  EmberIceCandidateType mapped_type; /* what the peer sees us as */
  /* The outstanding check, if state == IN_PROGRESS. */
  guint8 txid[EMBER_STUN_TRANSACTION_ID_LEN];
  gboolean tx_use_candidate;
  guint transmits;
  gint64 rto;
  gint64 next_send;
  /* A check cancelled by a triggered one (RFC 8445 §7.3.1.4): it is not
   * retransmitted, but its answer still counts until this deadline. */
  guint8 old_txid[EMBER_STUN_TRANSACTION_ID_LEN];
  gboolean old_use_candidate;
  gint64 old_until;
  /* The next check replaces a cancelled one / the outstanding one did:
   * it is not cancelled in turn, so two agents whose checks cross
   * cannot keep cancelling each other's. */
  gboolean retrigger, tx_retriggered;
} IcePair;

typedef struct {
  EmberAddr from, to;
  gsize len;
  guint8 data[EMBER_ICE_MAX_MESSAGE];
} IceTransmit;

struct _EmberIceAgent {
  EmberIceRole role;
  EmberIceState state;
  EmberIceRng rng;
  guint64 tie_breaker;
  char local_ufrag[EMBER_ICE_UFRAG_MAX + 1];
  char local_pwd[EMBER_ICE_PWD_MAX + 1];
  char remote_ufrag[EMBER_ICE_UFRAG_MAX + 1];
  char remote_pwd[EMBER_ICE_PWD_MAX + 1];
  gboolean have_remote_credentials;

  EmberIceCandidate local[EMBER_ICE_MAX_LOCAL_CANDIDATES];
  guint n_local;
  EmberIceCandidate remote[EMBER_ICE_MAX_REMOTE_CANDIDATES];
  guint n_remote;

  IcePair pairs[EMBER_ICE_MAX_PAIRS];  /* sorted, highest priority first */
  guint n_pairs;
  /* Triggered check queue (RFC 8445 §6.1.4.1), by pair identity. */
  struct { EmberAddr local, remote; } triggered[EMBER_ICE_MAX_TRIGGERED];
  guint n_triggered;

  /* Seed 000: set when a pair is nominated; never cleared. */
  gboolean nominated;
  gint selected;            /* index into pairs, or -1 */

  gint64 created;
  gint64 next_check;        /* Ta pacing */
  gint64 first_valid;       /* first success, or 0 */
  gint64 next_keepalive;
  gint64 last_consent;
  /* Consent / keepalive transaction on the selected pair. */
  guint8 ka_txid[EMBER_STUN_TRANSACTION_ID_LEN];
  gboolean ka_in_flight;
  gint64 ka_next_send;
  gint64 ka_rto;

  IceTransmit transmits[EMBER_ICE_MAX_TRANSMITS];
  guint tx_head, tx_len;
  EmberIceEvent events[EMBER_ICE_MAX_EVENTS];
  guint ev_head, ev_len;
};

/* agent.c */
void ice_push_event (EmberIceAgent *agent, const EmberIceEvent *ev);
void ice_fail (EmberIceAgent *agent, const char *reason);
void ice_select_pair (EmberIceAgent *agent, gint64 now, gint index);
void ice_random_bytes (EmberIceAgent *agent, guint8 *out, gsize len);

/* checklist.c */
void ice_pairs_form_for_local (EmberIceAgent *agent, const EmberIceCandidate *local);
void ice_pairs_form_for_remote (EmberIceAgent *agent, const EmberIceCandidate *remote);
gint ice_pair_find (const EmberIceAgent *agent, const EmberAddr *local_base,
                    const EmberAddr *remote);
/* The pair whose outstanding check has this transaction id, or whose
 * check cancelled by a triggered one had it (*cancelled TRUE), -1. */
gint ice_pair_find_txid (const EmberIceAgent *agent, gint64 now, const guint8 *txid,
                         gboolean *cancelled);
/* Removes pairs matching a predicate on local base or remote address;
 * returns TRUE when the selected pair was among them (selected = -1). */
gboolean ice_pairs_remove (EmberIceAgent *agent, const EmberAddr *local_base,
                           const EmberAddr *remote);
void ice_pairs_recompute_priorities (EmberIceAgent *agent);
/* The pair to check next: a triggered one first, then the highest
 * priority Waiting one, thawing Frozen ones when none waits. -1: none. */
gint ice_pairs_next_check (EmberIceAgent *agent);
void ice_pairs_thaw_foundation (EmberIceAgent *agent, const IcePair *succeeded);
void ice_triggered_push (EmberIceAgent *agent, gint index);
/* Index of the best SUCCEEDED pair other than `except`, or -1. */
gint ice_pairs_best_valid (const EmberIceAgent *agent, gint except);
/* Relayed: either side of the pair is a TURN allocation. Every other
 * pair (host, server- or peer-reflexive on both sides) is direct. */
gboolean ice_pair_is_relayed (const IcePair *p);
/* A direct pair that has not failed nor succeeded yet: one that may
 * still turn out to work. */
gboolean ice_pairs_direct_pending (const EmberIceAgent *agent);

/* agent.c */
/* The controlling side asks for USE-CANDIDATE on `index` next. */
void ice_nominate (EmberIceAgent *agent, gint64 now, gint index);
/* Controlling and connected on a relayed pair: nominates the best
 * direct pair once one succeeded (agent.h, "Nomination"). */
void ice_upgrade_to_direct (EmberIceAgent *agent, gint64 now);

/* checks.c */
void ice_check_send (EmberIceAgent *agent, gint64 now, gint index);
void ice_keepalive_send (EmberIceAgent *agent, gint64 now, gboolean first);
EmberIceInputResult ice_checks_handle (EmberIceAgent *agent, gint64 now, const EmberAddr *local,
                                       const EmberAddr *remote, const guint8 *buf, gsize len);
void ice_queue_transmit (EmberIceAgent *agent, const EmberAddr *from, const EmberAddr *to,
                         const guint8 *buf, gsize len);
