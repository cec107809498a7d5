/* ember-plugin-dns.h — how a DNS upstream backend (kind dns) uses the
 * I/O vtable of ember-plugin.h.
 *
 * A DNS backend carries whole DNS messages between the core's stub
 * resolver and real upstream servers (plain DNS, DNS over TLS, DNS over
 * HTTPS). It adds no vtable of its own; this header fixes what the fields
 * of an EmberPacket mean for it.
 *
 * send(): `data`/`len` is one whole DNS query as it goes on the wire
 * over UDP (no TCP length prefix), at most EMBER_DNS_QUERY_MAX bytes.
 * `remote` names the upstream (its address and port as configured); a
 * family of EMBER_ADDR_NONE lets the backend choose (its first upstream
 * that has not failed lately). `queue` = EMBER_DNS_VIA_TCP asks a
 * backend that has a choice (do53) for a stream transport from the
 * start, e.g. for a query an application sent over TCP. The 16-bit
 * message id must be unique among the queries in flight to one upstream:
 * the stub rewrites ids (seed 004), and the backend matches answers by
 * upstream and id; send() refuses a duplicate with an error.
 *
 * poll_recv_many(): each slot is either an answer — `data`/`len` the
 * whole DNS message, `remote` the upstream that sent it, `error` 0 — or
 * a query that failed — `error` an errno value (ETIMEDOUT: no answer in
 * the backend's timeout; ECONNREFUSED, EHOSTUNREACH, ENETUNREACH: the
 * upstream cannot be reached; EPROTO: TLS or HTTP failed, including a
 * certificate that does not match; EMSGSIZE: the answer is larger than
 * the slot), `data`/`len` the query as it was sent (its id intact, cut
 * to the slot) and `remote` the upstream. Every query sent gets exactly
 * one of the two, so the stub can answer SERVFAIL at once and nothing
 * is dropped silently. A backend retries a truncated (TC) UDP answer
 * over TCP itself; the stub sees only the full answer.
 *
 * poll_send_ready() is PENDING while every in-flight slot of the backend
 * is taken (EMBER_DNS_INFLIGHT_MIN at least); an answer or error handed
 * out frees one and wakes the send waker.
 *
 * get_control (EMBER_DNS_CONTROL_NAME) returns an EmberDnsControl: the
 * upstreams the backend uses, which the stub puts one sentinel address
 * in front of each. Without an `upstreams` key they come from the
 * system's resolvers, so only the backend knows them.
 */
#pragma once

#include "ember-plugin.h"

G_BEGIN_DECLS

/* `queue` of a query: leave the transport to the backend, or start
 * with a stream (TCP) transport. */
#define EMBER_DNS_VIA_ANY 0
#define EMBER_DNS_VIA_TCP 1

/* The largest query send() accepts. Larger ones are refused with
 * EMBER_PLUGIN_ERROR_FAILED (the backend stays usable). */
#define EMBER_DNS_QUERY_MAX 4096

/* The largest answer a backend hands out (the TCP length field's limit). */
#define EMBER_DNS_ANSWER_MAX 65535

/* Every dns backend holds at least this many queries in flight. */
#define EMBER_DNS_INFLIGHT_MIN 256

#define EMBER_DNS_CONTROL_NAME "ember-dns-control-1"

typedef struct {
  gsize size;  /* sizeof (EmberDnsControl) the plugin was built with */
  /* The backend's upstreams in order (as configured, or as found in the
   * system's resolv.conf), with their ports: copies at most `max` into
   * `out` and returns how many there are. Core's thread. */
  guint (*get_upstreams) (EmberBackend *backend, EmberAddr *out, guint max);
} EmberDnsControl;

G_END_DECLS
