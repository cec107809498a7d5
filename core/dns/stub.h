/* dns/stub — the client's stub resolver (sans-IO).
 *
 * The system resolver is pointed at sentinel addresses on the TUN, one
 * per upstream (docs/dns.md): upstream i (0-based) sits behind
 * 100.100.111.(i+1) and fd00:2021:1111:8000:100:100:111:(i+1), port 53.
 * The stub owns:
 *   - the names of `dns` resources (patterns, dns/pattern.h precedence)
 *     and, per (name, resource), a stable pair of proxy addresses from
 *     100.96.0.0/11 and fd00:2021:1111:8000::/107 handed out with TTL 1
 *     and never given to another name (save/load keep them across
 *     restarts);
 *   - the queries it forwarded: each keyed by an opaque token, sent with
 *     a fresh id chosen per upstream, and matched back by (upstream, that
 *     id, question) — never by the asker's id alone (seed 004).
 *
 * Inputs: queries from applications with handle_query() (UDP datagrams
 * or TCP messages without their length prefix; the shell does TCP),
 * upstream answers with handle_upstream(), transport failures with
 * handle_upstream_error(), time with handle_timeout(), control calls
 * set_upstreams() / set_resources() / load(). handle_packet() and
 * poll_packet() do the UDP/IP framing for a shell that reads the TUN.
 * Outputs, drained after every input, events first (so a proxy address
 * is routed before the application learns it): poll_event() (proxy
 * addresses to route / unroute), poll_answer() (to an asker),
 * poll_transmit() (to an upstream, over UDP or TCP), poll_timeout().
 *
 * No clock, no I/O, no randomness but the injected RNG; not thread-safe.
 */
#pragma once

#include <glib.h>

#include "dns/codec.h"
#include "ember-plugin.h"
#include "ice/candidate.h"
#include "packet/packet.h"
#include "portal/messages.h"

G_BEGIN_DECLS

#define EMBER_DNS_STUB_ERROR (ember_dns_stub_error_quark ())
GQuark ember_dns_stub_error_quark (void);

/* A forwarded query not answered in this time gets SERVFAIL (a TCP retry
 * starts the clock again). Applications give up after about 5 s. */
#define EMBER_DNS_STUB_TIMEOUT_US (5 * G_TIME_SPAN_SECOND)
/* Queries in flight at once; more get SERVFAIL at once (counted). */
#define EMBER_DNS_STUB_PENDING_MAX 1024
/* Answers waiting for poll_answer; beyond it the oldest is dropped. */
#define EMBER_DNS_STUB_ANSWERS_MAX 1024
/* Upstreams (and so sentinel pairs) at most. */
#define EMBER_DNS_STUB_UPSTREAMS_MAX 16
/* TTL of every local answer: a proxy address must be asked for again so
 * a changed resource is seen at once. */
#define EMBER_DNS_STUB_TTL 1
/* Proxy address pairs: index n is 100.96.0.0 + n and
 * fd00:2021:1111:8000:: + n; 0 and the last are never used, nor the
 * indices that would fall on the IPv4 sentinels' 100.100.111.0/24. */
#define EMBER_DNS_STUB_PROXY_COUNT (1u << 21)
/* The DNS port of the sentinels. */
#define EMBER_DNS_PORT 53

typedef enum {
  EMBER_DNS_TRANSPORT_UDP = 0,
  EMBER_DNS_TRANSPORT_TCP,
} EmberDnsTransport;

/* Who asked: the application's socket (client: address and port), the
 * sentinel it asked (address; the port is ignored) and, over TCP, the
 * shell's id of the connection so the answer goes back on it. */
typedef struct {
  EmberDnsTransport transport;
  EmberAddr client;
  EmberAddr sentinel;
  guint64 stream;
} EmberDnsAsker;

/* Which address families a resource has behind the gateway: the portal
 * resource's optional `ip_stack` (revision 2; absent: DUAL). A for an
 * IPv6-only and AAAA for an IPv4-only resource get an empty NOERROR, so
 * applications go straight to the family that works, and the proxy
 * address of the missing family is neither answered nor routed. */
typedef enum {
  EMBER_DNS_STACK_DUAL = 0,
  EMBER_DNS_STACK_IPV4_ONLY,
  EMBER_DNS_STACK_IPV6_ONLY,
} EmberDnsIpStack;

typedef struct {
  EmberPortalId id;
  const char *pattern;   /* normalized (ember_dns_pattern_normalize) */
  EmberDnsIpStack stack;
} EmberDnsStubResource;

typedef enum {
  EMBER_DNS_STUB_ANSWERED = 0,  /* a local answer is queued for poll_answer */
  EMBER_DNS_STUB_FORWARDED,     /* a transmit is queued for poll_transmit */
  EMBER_DNS_STUB_FORMERR,       /* malformed: a FORMERR answer is queued */
  EMBER_DNS_STUB_DROPPED,       /* not a query (too short, a response): nothing */
  EMBER_DNS_STUB_NOT_SENTINEL,  /* the asker's sentinel is not one of ours */
  EMBER_DNS_STUB_MATCHED,       /* handle_upstream: the answer is queued for its asker */
  EMBER_DNS_STUB_RETRY_TCP,     /* handle_upstream: TC, a TCP transmit is queued */
  EMBER_DNS_STUB_UNMATCHED,     /* handle_upstream: no query in flight fits it */
  EMBER_DNS_STUB_MALFORMED,     /* handle_upstream: not a valid DNS response */
} EmberDnsStubResult;

const char *ember_dns_stub_result_to_string (EmberDnsStubResult result);

typedef enum {
  /* `addr` (IPv4) and/or `addr6` (family NONE when the resource's stack
   * lacks it) now stand for `name` of `resource`: route them into the
   * tunnel (ember_client_tunnel_add_proxy_address). */
  EMBER_DNS_STUB_EVENT_PROXY_ADDED = 1,
  /* The resource is gone: unroute them. */
  EMBER_DNS_STUB_EVENT_PROXY_REMOVED,
} EmberDnsStubEventType;

typedef struct {
  EmberDnsStubEventType type;
  EmberPortalId resource;
  EmberAddr addr, addr6;
  char name[256];
} EmberDnsStubEvent;

/* One query for an upstream: send buf[0, len) to upstream number
 * `upstream` (address `to`, as set) over `transport`. `token` names the
 * query in flight: give it to handle_upstream_error when the transport
 * fails for it. */
typedef struct {
  guint upstream;
  EmberAddr to;
  EmberDnsTransport transport;
  guint64 token;
  gsize len;
} EmberDnsTransmit;

typedef struct {
  guint64 queries, answered_locally, forwarded, formerr, dropped, not_sentinel;
  guint64 upstream_answers, unmatched, malformed, retried_tcp, timeouts, upstream_errors;
  guint64 pending_full, answers_dropped, proxies_exhausted;
} EmberDnsStubStats;

typedef struct _EmberDnsStub EmberDnsStub;

/* `rng` is copied; its user_data must outlive the stub. */
EmberDnsStub *ember_dns_stub_new (const EmberIceRng *rng);
void ember_dns_stub_free (EmberDnsStub *stub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberDnsStub, ember_dns_stub_free)

/* ---- Control ----------------------------------------------------------- */

/* The upstreams, in order (at most EMBER_DNS_STUB_UPSTREAMS_MAX; FALSE
 * otherwise). With none, sentinel 0 still answers resource names and
 * every other query gets SERVFAIL. Queries in flight to an upstream that
 * changed get SERVFAIL. */
gboolean ember_dns_stub_set_upstreams (EmberDnsStub *stub, const EmberAddr *upstreams, guint n);
guint ember_dns_stub_n_sentinels (const EmberDnsStub *stub);
/* Sentinel `index`'s address of `family` (EMBER_ADDR_IPV4/6), port 53. */
void ember_dns_stub_sentinel (guint index, guint family, EmberAddr *out);

/* The dns resources (copied). Proxy addresses of resources that are gone
 * are announced as removed; their mapping stays (never reused). Those of
 * a resource whose stack changed are announced as removed too, and added
 * again with the new stack at the next query for them. FALSE when a
 * pattern is not normalized. */
gboolean ember_dns_stub_set_resources (EmberDnsStub *stub, const EmberDnsStubResource *res,
                                       guint n, GError **error);

/* The same from the portal's resource list (client init, resource
 * created/updated, all of them each time): the `dns` ones with their
 * `ip_stack`; others are skipped. */
gboolean ember_dns_stub_set_portal_resources (EmberDnsStub *stub,
                                              const EmberPortalResource *resources, guint n,
                                              GError **error);

/* The proxy address map as a GKeyFile text (for the state directory). */
char *ember_dns_stub_save (const EmberDnsStub *stub, gsize *len);
/* Loads a map saved before; only into a stub that has handed out no
 * address yet. Every group and key is checked; on error nothing changes
 * and the message names the group and key. */
gboolean ember_dns_stub_load (EmberDnsStub *stub, const char *data, gsize len, GError **error);

/* ---- Inputs ------------------------------------------------------------ */

/* A query from an application (a UDP payload, or one TCP message without
 * its 2-byte length prefix). */
EmberDnsStubResult ember_dns_stub_handle_query (EmberDnsStub *stub, gint64 now,
                                                const EmberDnsAsker *asker, const guint8 *buf,
                                                gsize len);
/* An IP packet from the TUN: a UDP datagram to a sentinel's port 53 goes
 * to handle_query; anything else is NOT_SENTINEL (not the stub's). */
EmberDnsStubResult ember_dns_stub_handle_packet (EmberDnsStub *stub, gint64 now,
                                                 const EmberIpPacket *pkt);
/* An answer from upstream number `upstream` over `transport`. */
EmberDnsStubResult ember_dns_stub_handle_upstream (EmberDnsStub *stub, gint64 now,
                                                   guint upstream, EmberDnsTransport transport,
                                                   const guint8 *buf, gsize len);
/* Sending the transmit `token` failed for good (TCP refused, plugin
 * error): its asker gets SERVFAIL now. FALSE when no such query. */
gboolean ember_dns_stub_handle_upstream_error (EmberDnsStub *stub, gint64 now, guint64 token);
/* The same for the query in flight to upstream number `upstream` with
 * the wire id `wire_id` (the first two bytes of what it sent): for a
 * transport that hands back the failed datagram, not the token. */
gboolean ember_dns_stub_handle_upstream_error_wire (EmberDnsStub *stub, gint64 now,
                                                   guint upstream, guint16 wire_id);
void ember_dns_stub_handle_timeout (EmberDnsStub *stub, gint64 now);

/* ---- Outputs ----------------------------------------------------------- */

gboolean ember_dns_stub_poll_event (EmberDnsStub *stub, EmberDnsStubEvent *ev);
/* The next answer for an asker into buf (cap >= its length, at most
 * EMBER_DNS_TCP_MAX): returns its length and fills *to, or 0. An answer
 * larger than cap is dropped (counted), not cut. */
gsize ember_dns_stub_poll_answer (EmberDnsStub *stub, guint8 *buf, gsize cap, EmberDnsAsker *to);
/* The next answer to a UDP asker as an IP packet for the TUN (from the
 * sentinel's port 53), built at buf + off; 0 when none. Answers to TCP
 * askers are left for poll_answer. */
gsize ember_dns_stub_poll_packet (EmberDnsStub *stub, guint8 *buf, gsize cap, gsize off);
gboolean ember_dns_stub_poll_transmit (EmberDnsStub *stub, guint8 *buf, gsize cap,
                                       EmberDnsTransmit *tx);
/* The earliest deadline of a query in flight, or G_MAXINT64. */
gint64 ember_dns_stub_poll_timeout (const EmberDnsStub *stub);

void ember_dns_stub_get_stats (const EmberDnsStub *stub, EmberDnsStubStats *stats);

/* How many names of the current dns resources have proxy addresses
 * (handed out or loaded; those of resources that are gone are kept in
 * the map but not counted). Counted again only after the map or the
 * resources changed; for status. */
guint ember_dns_stub_n_proxy_names (EmberDnsStub *stub);

/* The proxy addresses of (name, resource) if the stub handed them out
 * (or loaded them); for status and tests. */
gboolean ember_dns_stub_lookup_proxy (const EmberDnsStub *stub, const char *name,
                                      const EmberPortalId *resource, EmberAddr *addr,
                                      EmberAddr *addr6);

G_END_DECLS
