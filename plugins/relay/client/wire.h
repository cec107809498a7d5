/* relay/client/wire — the TURN client's limits and timers in one place.
 * Lifetimes of RFC 8656 come from core/stun/wire.h. Header only; any
 * thread. Times in microseconds.
 */
#pragma once

#include <glib.h>
#include "stun/wire.h"

/* Largest control message we build or keep for retransmission. */
#define EMBER_TURN_MAX_MESSAGE 600
#define EMBER_TURN_MAX_TRANSACTIONS 24
#define EMBER_TURN_MAX_TRANSMITS 32
#define EMBER_TURN_MAX_EVENTS 32
#define EMBER_TURN_MAX_PEERS 64
#define EMBER_TURN_CREDENTIAL_MAX 256

/* RFC 8489 §6.2.1: retransmit with a doubling RTO. We start at 250 ms,
 * cap at 1 s and stop after 8 sends (+1 RTO): 0.25+0.5+6*1 = 6.75 s
 * until a request is given up. */
#define EMBER_TURN_RTO_US (250 * G_TIME_SPAN_MILLISECOND)
#define EMBER_TURN_RTO_MAX_US (1000 * G_TIME_SPAN_MILLISECOND)
#define EMBER_TURN_MAX_SENDS 8
#define EMBER_TURN_TRANSACTION_TIMEOUT_US (6750 * G_TIME_SPAN_MILLISECOND)

/* A binding every 5 s keeps the NAT mapping and tells whether the relay
 * answers. A relay is declared down when a request times out: at most
 * EMBER_TURN_KEEPALIVE_US + EMBER_TURN_TRANSACTION_TIMEOUT_US = 11.75 s
 * after it went silent. */
#define EMBER_TURN_KEEPALIVE_US (5 * G_TIME_SPAN_SECOND)
#define EMBER_TURN_DOWN_AFTER_US (EMBER_TURN_KEEPALIVE_US + EMBER_TURN_TRANSACTION_TIMEOUT_US)
/* While down, and after a refused allocation, retry this often. */
#define EMBER_TURN_RETRY_US (5 * G_TIME_SPAN_SECOND)

/* RFC 8656 §8: refresh the allocation at 80 % of its lifetime. */
#define EMBER_TURN_REFRESH_PERCENT 80
/* RFC 8656 §9, §12: permissions last 300 s and channels 600 s; refresh
 * them 60 s early (permissions at 240 s, channels at 540 s). */
#define EMBER_TURN_PERMISSION_REFRESH_US ((EMBER_TURN_PERMISSION_LIFETIME - 60) * G_TIME_SPAN_SECOND)
#define EMBER_TURN_CHANNEL_REFRESH_US ((EMBER_TURN_CHANNEL_LIFETIME - 60) * G_TIME_SPAN_SECOND)
/* Stale-nonce and 401 retries per request before giving up. */
#define EMBER_TURN_MAX_AUTH_RETRIES 3
