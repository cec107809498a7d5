/* ice/agent — the ICE agent of one connection (RFC 8445, UDP, one
 * component).
 *
 * Owns the connection's local and remote candidates, the check list, the
 * short-term credentials and the STUN transactions of connectivity and
 * consent checks. It does no I/O and reads no clock: the caller feeds
 * datagrams with handle_input(), time with handle_timeout(), candidates
 * and credentials from signalling with the control calls, and after each
 * call drains poll_transmit(), poll_event() and re-arms its timer at
 * poll_timeout(). "poll" here only hands out pending output.
 *
 * Sending: every transmit names the local *base* it must leave from — a
 * host address (the caller's socket bound there) or a relayed address
 * (the caller wraps it through the TURN client owning that allocation).
 * Receiving: `local` is the base the datagram arrived on, i.e. the
 * socket address, or the relayed address for data a relay delivered.
 *
 * Rules beyond RFC 8445 (seed 000): once a pair is nominated, new remote
 * candidates (signalled or peer-reflexive) and new local candidates are no
 * longer paired, so a side that already gave up cannot be kept "probing"
 * by its peer; invalidating the candidate of the selected pair fails the
 * connection unless another succeeded pair remains.
 *
 * Nomination (RFC 8445 §8.1.1, regular nomination by the controlling
 * agent), by class: a pair is *relayed* when either side is a TURN
 * allocation, else *direct*. A valid direct pair is nominated at once
 * (waiting for a better direct one is not worth the delay); a valid
 * relayed pair once no direct pair is left pending, or
 * EMBER_ICE_RELAY_NOMINATION_DELAY_US after it became valid. When a
 * direct pair succeeds after a relayed one was nominated, the
 * controlling agent nominates the direct one too and the data moves to
 * it (CONNECTED again): a departure from §8.1.1, which allows one
 * nomination per session, so that a slow direct path (its first checks
 * dropped by the NATs) never leaves the data on a relay. The controlled
 * agent already selects whatever USE-CANDIDATE names last.
 *
 * Not thread-safe: one agent is used from one thread at a time.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "ice/candidate.h"
#include "ice/wire.h"

G_BEGIN_DECLS

typedef struct _EmberIceAgent EmberIceAgent;

typedef enum {
  EMBER_ICE_ROLE_CONTROLLING = 0,
  EMBER_ICE_ROLE_CONTROLLED,
} EmberIceRole;

typedef enum {
  EMBER_ICE_STATE_CHECKING = 0, /* gathering/checking, nothing selected */
  EMBER_ICE_STATE_CONNECTED,    /* a nominated pair carries data */
  EMBER_ICE_STATE_FAILED,       /* final: restart ICE with a new agent */
} EmberIceState;

typedef enum {
  /* A local candidate to send to the peer through signalling. */
  EMBER_ICE_EVENT_LOCAL_CANDIDATE = 1,
  /* A local candidate the peer must drop (relay down or rebooted). */
  EMBER_ICE_EVENT_INVALIDATE_CANDIDATE,
  /* A pair was selected (or the selection changed): send data on it. */
  EMBER_ICE_EVENT_CONNECTED,
  /* The connection failed; `reason` says why. */
  EMBER_ICE_EVENT_FAILED,
} EmberIceEventType;

typedef struct {
  EmberIceEventType type;
  /* LOCAL_CANDIDATE, INVALIDATE_CANDIDATE. */
  EmberIceCandidate candidate;
  /* CONNECTED: the selected pair. `local` is the candidate the peer sees
   * us as (host, srflx, prflx or relay, from the check's mapped address);
   * send from `local.base` to `remote.addr`. */
  EmberIceCandidate local;
  EmberIceCandidate remote;
  /* FAILED: a static string. */
  const char *reason;
} EmberIceEvent;

typedef enum {
  EMBER_ICE_INPUT_HANDLED = 0,  /* a STUN message of this agent */
  EMBER_ICE_INPUT_NOT_STUN,     /* not STUN: data for the caller */
  EMBER_ICE_INPUT_NOT_FOR_US,   /* STUN, but another agent's or a server's */
  EMBER_ICE_INPUT_INVALID,      /* ours but malformed/unauthenticated: dropped */
} EmberIceInputResult;

/* Creates an agent; draws ufrag, pwd and the tie-breaker from `rng`
 * (copied; its user_data must outlive the agent). */
EmberIceAgent *ember_ice_agent_new (EmberIceRole role, const EmberIceRng *rng, gint64 now);
void ember_ice_agent_free (EmberIceAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberIceAgent, ember_ice_agent_free)

const char *ember_ice_agent_get_local_ufrag (const EmberIceAgent *agent);
const char *ember_ice_agent_get_local_pwd (const EmberIceAgent *agent);
EmberIceRole ember_ice_agent_get_role (const EmberIceAgent *agent);
EmberIceState ember_ice_agent_get_state (const EmberIceAgent *agent);
/* Tests: fix the tie-breaker (RFC 8445 §7.3.1.1 role conflicts). */
void ember_ice_agent_set_tie_breaker (EmberIceAgent *agent, guint64 tie_breaker);

/* ---- Control (from signalling / the node) --------------------------- */

/* Replaces the drawn local credentials with ones the signalling chose
 * (the portal hands out both sides' ufrag/pwd). Same limits as below;
 * only before the first candidate is added. */
gboolean ember_ice_agent_set_local_credentials (EmberIceAgent *agent, const char *ufrag,
                                                const char *pwd, GError **error);
/* ufrag 4..64 and pwd 22..128 ice-chars (RFC 8445 §5.3). May be called
 * once; checks start only after it. */
gboolean ember_ice_agent_set_remote_credentials (EmberIceAgent *agent, const char *ufrag,
                                                 const char *pwd, GError **error);
/* Adds a gathered local candidate (host, srflx or relay; `base` set as
 * candidate.h says) and queues a LOCAL_CANDIDATE event for signalling.
 * FALSE with an error after nomination, at the limit, or a duplicate. */
gboolean ember_ice_agent_add_local_candidate (EmberIceAgent *agent,
                                              const EmberIceCandidate *cand, GError **error);
/* A candidate from the peer. FALSE with an error after nomination (seed
 * 000), at the limit, for a duplicate address, or a non-UDP family. */
gboolean ember_ice_agent_add_remote_candidate (EmberIceAgent *agent,
                                               const EmberIceCandidate *cand, GError **error);
/* The peer withdrew the candidate at `addr`: its pairs go. When the
 * selected pair used it and no other succeeded pair exists the agent
 * fails (event). Returns TRUE if a candidate was removed. */
gboolean ember_ice_agent_invalidate_remote_candidate (EmberIceAgent *agent, gint64 now,
                                                      const EmberAddr *addr);
/* The same for a local candidate (relay down, relay rebooted): also
 * queues INVALIDATE_CANDIDATE so the peer drops it. */
gboolean ember_ice_agent_invalidate_local_candidate (EmberIceAgent *agent, gint64 now,
                                                     const EmberAddr *addr);

/* ---- Inputs ---------------------------------------------------------- */

EmberIceInputResult ember_ice_agent_handle_input (EmberIceAgent *agent, gint64 now,
                                                  const EmberAddr *local,
                                                  const EmberAddr *remote,
                                                  const guint8 *buf, gsize len);
void ember_ice_agent_handle_timeout (EmberIceAgent *agent, gint64 now);

/* ---- Outputs --------------------------------------------------------- */

/* Copies the next queued datagram into buf (cap ≥ EMBER_ICE_MAX_MESSAGE)
 * and returns its length, or 0 when nothing is queued. */
gsize ember_ice_agent_poll_transmit (EmberIceAgent *agent, guint8 *buf, gsize cap,
                                     EmberAddr *from_local, EmberAddr *to);
/* Absolute deadline for handle_timeout(), or G_MAXINT64. */
gint64 ember_ice_agent_poll_timeout (const EmberIceAgent *agent);
gboolean ember_ice_agent_poll_event (EmberIceAgent *agent, EmberIceEvent *ev);

/* The selected pair while CONNECTED. */
gboolean ember_ice_agent_get_selected (const EmberIceAgent *agent, EmberIceCandidate *local,
                                       EmberIceCandidate *remote);

/* ---- Introspection for tests and status ------------------------------ */

typedef enum {
  EMBER_ICE_PAIR_FROZEN = 0,
  EMBER_ICE_PAIR_WAITING,
  EMBER_ICE_PAIR_IN_PROGRESS,
  EMBER_ICE_PAIR_SUCCEEDED,
  EMBER_ICE_PAIR_FAILED,
} EmberIcePairState;

typedef struct {
  EmberIceCandidate local;   /* the base the pair sends from */
  EmberIceCandidate remote;
  guint64 priority;
  EmberIcePairState state;
  gboolean nominated;
} EmberIcePairInfo;

guint ember_ice_agent_get_n_pairs (const EmberIceAgent *agent);
/* Pairs are kept sorted by priority, highest first. */
gboolean ember_ice_agent_get_pair (const EmberIceAgent *agent, guint index,
                                   EmberIcePairInfo *info);
guint ember_ice_agent_get_n_remote_candidates (const EmberIceAgent *agent);
const char *ember_ice_pair_state_to_string (EmberIcePairState state);

G_END_DECLS
