/* ice/candidate — ICE candidates and their arithmetic.
 *
 * What a candidate is (RFC 8445 §5.1), its priority and foundation, the
 * pair priority formula (§6.1.2.3), the text form exchanged through
 * signalling (the SDP "candidate:" attribute of RFC 8839 §5.1, without the
 * "a=" prefix), the host-address filter and the per-connection relay
 * sampling (seed 000). Pure functions over caller-owned values; any
 * thread.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "ice/wire.h"

G_BEGIN_DECLS

/* Randomness is injected (no g_random in sans-IO code): `next` returns 64
 * uniformly random bits. Tests and the simulator seed it. */
typedef struct {
  guint64 (*next) (gpointer user_data);
  gpointer user_data;
} EmberIceRng;

guint64 ember_ice_rng_next (const EmberIceRng *rng);
/* Uniform in [0, n), n > 0 (rejection sampling, no modulo bias). */
guint32 ember_ice_rng_below (const EmberIceRng *rng, guint32 n);

typedef enum {
  EMBER_ICE_CANDIDATE_HOST = 0,
  EMBER_ICE_CANDIDATE_PRFLX,
  EMBER_ICE_CANDIDATE_SRFLX,
  EMBER_ICE_CANDIDATE_RELAY,
} EmberIceCandidateType;

#define EMBER_ICE_FOUNDATION_MAX 33

typedef struct {
  EmberIceCandidateType type;
  /* The transport address the peer sends to. */
  EmberAddr addr;
  /* Local candidates: where packets are sent from (RFC 8445 §5.1.1.3):
   * host: addr itself; srflx/prflx: the host address behind the NAT;
   * relay: the relayed address itself (the caller sends through its TURN
   * client). Remote candidates: the related address (raddr), or NONE. */
  EmberAddr base;
  guint32 priority;
  char foundation[EMBER_ICE_FOUNDATION_MAX];
} EmberIceCandidate;

const char *ember_ice_candidate_type_to_string (EmberIceCandidateType type);
guint32 ember_ice_type_preference (EmberIceCandidateType type);

/* RFC 8445 §5.1.2.1:
 * priority = 2^24*type_pref + 2^8*local_pref + (256 - component_id). */
guint32 ember_ice_candidate_priority (EmberIceCandidateType type, guint16 local_pref,
                                      guint16 component);
/* RFC 8445 §6.1.2.3: 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0), G being the
 * controlling agent's candidate priority and D the controlled one's. */
guint64 ember_ice_pair_priority (guint32 controlling, guint32 controlled);

/* Fills a local candidate: priority from type and address family,
 * foundation from type, base IP and `server` (the STUN/TURN server it was
 * learned from, or NULL), as RFC 8445 §5.1.1.3 groups them. */
void ember_ice_candidate_init_local (EmberIceCandidate *cand, EmberIceCandidateType type,
                                     const EmberAddr *addr, const EmberAddr *base,
                                     const EmberAddr *server);

/* "candidate:<foundation> 1 udp <prio> <ip> <port> typ <type>
 *  [raddr <ip> rport <port>]". Returns a newly allocated string. */
char *ember_ice_candidate_to_string (const EmberIceCandidate *cand);
/* Parses the form above (a leading "a=" and "candidate:" are optional).
 * Network input: every error is a FALSE return with `error` set. */
gboolean ember_ice_candidate_from_string (const char *text, EmberIceCandidate *cand,
                                          GError **error);

#define EMBER_ICE_ERROR (ember_ice_error_quark ())
GQuark ember_ice_error_quark (void);
typedef enum {
  EMBER_ICE_ERROR_PARSE,
  EMBER_ICE_ERROR_LIMIT,
  EMBER_ICE_ERROR_STATE,
} EmberIceError;

/* ---- Addresses ------------------------------------------------------ */

gboolean ember_ice_addr_equal (const EmberAddr *a, const EmberAddr *b);
/* Same family and IP, port ignored. */
gboolean ember_ice_addr_same_ip (const EmberAddr *a, const EmberAddr *b);
gboolean ember_ice_addr_is_set (const EmberAddr *a);
/* "1.2.3.4:5" / "[::1]:5" into buf; returns buf. */
#define EMBER_ICE_ADDR_STRLEN 64
const char *ember_ice_addr_to_string (const EmberAddr *a, char buf[EMBER_ICE_ADDR_STRLEN]);
/* Parses an IP literal (no port) into addr with `port`. */
gboolean ember_ice_addr_parse_ip (const char *ip, guint16 port, EmberAddr *addr);

/* Host candidates come from the machine's interface addresses, which the
 * I/O shell lists. Keeps the addresses fit to be host candidates and
 * returns how many were written to `out` (≤ max): drops unspecified,
 * loopback, multicast and IPv6 link-local addresses (they need a scope
 * the peer cannot know), duplicates, and any address in `exclude` (the
 * tunnel's own addresses: offering them would route ICE through the
 * tunnel it is building). Ports are copied as given. */
guint ember_ice_filter_host_addresses (const EmberAddr *in, guint n_in,
                                       const EmberAddr *exclude, guint n_exclude,
                                       EmberAddr *out, guint max);

/* Seed 000: a connection allocates on ONE relay, sampled uniformly from
 * the `n_relays` known ones with the injected RNG (server-reflexive
 * candidates still come from every relay). Returns the index, or -1 when
 * n_relays is 0. */
gint ember_ice_sample_relay (const EmberIceRng *rng, guint n_relays);

G_END_DECLS
