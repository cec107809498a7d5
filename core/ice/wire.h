/* ice/wire — every ICE constant in one place.
 *
 * Type preferences, priority formula inputs, pacing and every timer the
 * agent uses (RFC 8445, RFC 7675 consent freshness). Header only; no
 * code, no state; any thread. Times are in microseconds like the `now`
 * the agent is given.
 */
#pragma once

#include <glib.h>

/* RFC 8445 §5.1.2.2: recommended type preferences. */
#define EMBER_ICE_TYPE_PREF_HOST 126
#define EMBER_ICE_TYPE_PREF_PRFLX 110
#define EMBER_ICE_TYPE_PREF_SRFLX 100
#define EMBER_ICE_TYPE_PREF_RELAY 0
/* RFC 8445 §5.1.2.1: the local preference when there are several host
 * addresses; IPv6 is preferred over IPv4 (RFC 8421 spirit), one step per
 * family so both families stay well inside 0..65535. */
#define EMBER_ICE_LOCAL_PREF_IPV6 65535
#define EMBER_ICE_LOCAL_PREF_IPV4 65534
/* We run one data component (RFC 8445 §5.1.1.1): component id 1. */
#define EMBER_ICE_COMPONENT 1

/* RFC 8445 §5.3: ufrag >= 24 bits and pwd >= 128 bits of randomness; we
 * draw 8 and 24 characters from a 64-letter alphabet (48 and 144 bits). */
#define EMBER_ICE_UFRAG_LEN 8
#define EMBER_ICE_PWD_LEN 24
#define EMBER_ICE_UFRAG_MAX 64
#define EMBER_ICE_PWD_MAX 128

/* Limits that keep an agent bounded whatever the peer signals. */
#define EMBER_ICE_MAX_LOCAL_CANDIDATES 16
#define EMBER_ICE_MAX_REMOTE_CANDIDATES 32
/* RFC 8445 §6.1.2.5: the check list is limited (default 100). */
#define EMBER_ICE_MAX_PAIRS 100
#define EMBER_ICE_MAX_TRIGGERED 16
#define EMBER_ICE_MAX_EVENTS 64
#define EMBER_ICE_MAX_TRANSMITS 32
/* A STUN check is < 200 bytes; this bounds the queued copies. */
#define EMBER_ICE_MAX_MESSAGE 256

/* RFC 8445 §14.2: Ta, the pacing of new checks. The RFC's default is
 * 50 ms; it allows a value suited to the data, but not below 5 ms. A
 * connection has a dozen pairs or so, the ones that never answer
 * (host addresses behind the other side's NAT) ranking before the
 * server-reflexive pair that works, so every millisecond of Ta is paid
 * several times in the set-up time: at 5 ms, bench/e2e.sh measured a
 * direct set-up of 41 ms instead of 101 ms at 20 ms, and relayed 135 ms
 * instead of 184 ms, for a burst of at most 40 kB/s of checks. */
#define EMBER_ICE_TA_US (5 * G_TIME_SPAN_MILLISECOND)
G_STATIC_ASSERT (EMBER_ICE_TA_US >= 5 * G_TIME_SPAN_MILLISECOND); /* RFC 8445 §14.2 */
/* RFC 8445 §14.3 / RFC 8489 §6.2.1: a check is retransmitted with a
 * doubling RTO. We start at 250 ms (RFC 8445 allows a lower RTO than
 * 500 ms when the number of pairs is small) and cap it at 1 s, and give up
 * after EMBER_ICE_CHECK_MAX_TRANSMITS sends plus one RTO:
 * 250+500+1000*5 ms = 5.75 s until a silent pair is declared failed. */
#define EMBER_ICE_CHECK_RTO_US (250 * G_TIME_SPAN_MILLISECOND)
#define EMBER_ICE_CHECK_RTO_MAX_US (1000 * G_TIME_SPAN_MILLISECOND)
#define EMBER_ICE_CHECK_MAX_TRANSMITS 7

/* Regular nomination (RFC 8445 §8.1.1, agent.h "Nomination"): a valid
 * direct pair is nominated at once; a valid relayed one after this wait,
 * unless no direct pair is left pending. A direct pair that succeeds
 * later replaces it, so the wait only saves a switch of path. */
#define EMBER_ICE_RELAY_NOMINATION_DELAY_US (100 * G_TIME_SPAN_MILLISECOND)

/* Without a nominated pair this long after checks could first start, the
 * agent gives up (connection failed). Covers gathering a relay allocation
 * plus a full round of failing checks. */
#define EMBER_ICE_CONNECT_TIMEOUT_US (12 * G_TIME_SPAN_SECOND)

/* RFC 7675 / RFC 8445 §11: consent checks (STUN binding requests) on the
 * selected pair every ~5 s, randomised ±20 % so peers do not lock step.
 * They double as NAT keepalives (well under the 30 s UDP NAT timeout). */
#define EMBER_ICE_KEEPALIVE_US (5 * G_TIME_SPAN_SECOND)
/* Consent lost: no authenticated STUN response on the selected pair for
 * this long fails the connection. RFC 7675 uses 30 s; a VPN tunnel
 * reconnects sooner, so 15 s (three missed keepalive rounds). */
#define EMBER_ICE_IDLE_TIMEOUT_US (15 * G_TIME_SPAN_SECOND)
