/* dns/translate — the gateway's side of proxy addresses (sans-IO).
 *
 * A client's stub answers the names of a `dns` resource with proxy
 * addresses (dns/stub.h) and tells the portal which name a pair stands
 * for when it asks for the resource; the portal passes that on to the
 * gateway with the authorization (docs/portal-protocol.md, `dns_names`).
 * The translator owns, on the gateway:
 *   - per (client, proxy address): the name and its resource, accepted
 *     only when the name matches the resource's pattern;
 *   - per name: the real addresses the gateway's own upstream gave
 *     (A and AAAA asked together, kept for the answer's TTL within
 *     bounds), and the packets held while that lookup runs;
 *   - per flow (client address, protocol, client port, proxy address,
 *     port): the real address it was sent to. Both directions are
 *     rewritten in place with the checksums fixed up (core/packet).
 *     Flows end when idle: TCP after 2 h, UDP and ICMP after 2 min.
 *
 * Inputs: add_name() / remove_client() / remove_resource() (control, from
 * the portal's messages), from_client() with each decrypted packet before
 * the policy checks it, to_client() with each packet from the resource
 * network after it, handle_answer() / handle_error() with what the DNS
 * upstream backend returned, handle_timeout(). Outputs: poll_query()
 * (queries for the backend), poll_output() (held packets now translated,
 * for the network, and ICMP unreachable for clients), poll_event() (a
 * resource's resolved addresses changed: give them to the policy),
 * poll_timeout().
 *
 * No clock, no I/O, no randomness but the injected RNG; no allocation
 * per packet (a new flow allocates its entry); not thread-safe.
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h"
#include "ice/candidate.h"
#include "net/cidr.h"
#include "packet/packet.h"
#include "portal/messages.h"

G_BEGIN_DECLS

#define EMBER_DNS_TRANSLATE_ERROR (ember_dns_translate_error_quark ())
GQuark ember_dns_translate_error_quark (void);

/* Idle time after which a flow ends (RFC 5382 §5: at least 2 h 4 min
 * for established TCP; RFC 4787 REQ-5: at least 2 min for UDP). */
#define EMBER_DNS_NAT_TCP_IDLE_US (2 * 3600 * G_TIME_SPAN_SECOND)
#define EMBER_DNS_NAT_UDP_IDLE_US (120 * G_TIME_SPAN_SECOND)
/* A lookup not answered in this time fails (the held packets get ICMP). */
#define EMBER_DNS_NAT_RESOLVE_TIMEOUT_US (5 * G_TIME_SPAN_SECOND)
/* The answer's TTL is kept within these bounds: new flows use the real
 * addresses of the last lookup; flows already running keep theirs. */
#define EMBER_DNS_NAT_TTL_MIN_US (30 * G_TIME_SPAN_SECOND)
#define EMBER_DNS_NAT_TTL_MAX_US (3600 * G_TIME_SPAN_SECOND)
/* A failed lookup (SERVFAIL, timeout) is tried again after this. */
#define EMBER_DNS_NAT_FAILED_RETRY_US (5 * G_TIME_SPAN_SECOND)
/* Real addresses kept per name and family. */
#define EMBER_DNS_NAT_ADDRS_MAX 8
/* Packets held per name while it is looked up; the oldest goes first. */
#define EMBER_DNS_NAT_HOLD_MAX 16
/* Flows and (client, proxy address) names at most; beyond, new ones are
 * refused (counted). */
#define EMBER_DNS_NAT_FLOWS_MAX 65536
#define EMBER_DNS_NAT_NAMES_MAX 65536
/* Outputs waiting for poll_output; beyond, the oldest is dropped. */
#define EMBER_DNS_NAT_OUTPUT_MAX 256

typedef enum {
  EMBER_DNS_NAT_PASS = 0,     /* not a proxy address of this client / no flow: untouched */
  EMBER_DNS_NAT_TRANSLATED,   /* rewritten in place */
  EMBER_DNS_NAT_HELD,         /* copied and held while the name is looked up */
  EMBER_DNS_NAT_UNREACHABLE,  /* no real address of its family: an ICMP
                               * unreachable for the client is queued */
  EMBER_DNS_NAT_DROPPED,      /* no room for a new flow, or a flow clash: counted */
} EmberDnsNatResult;

const char *ember_dns_nat_result_to_string (EmberDnsNatResult result);

typedef enum {
  EMBER_DNS_NAT_OUT_NETWORK = 1,  /* a held packet, translated: check and send it to the network */
  EMBER_DNS_NAT_OUT_CLIENT,       /* an ICMP error: encrypt it to the client */
} EmberDnsNatOutputKind;

typedef struct {
  EmberDnsNatOutputKind kind;
  EmberPortalId client;
} EmberDnsNatOutput;

typedef struct {
  EmberPortalId resource;   /* its resolved addresses changed */
} EmberDnsNatEvent;

typedef struct {
  guint64 translated_out, translated_in, passed;
  guint64 held, held_dropped, unreachable;
  guint64 flows_created, flows_expired, flows_full, flow_clashes;
  guint64 names_added, names_refused;
  guint64 queries, answers, answers_unmatched, lookup_failures;
  guint64 outputs_dropped;
} EmberDnsNatStats;

typedef struct _EmberDnsTranslator EmberDnsTranslator;

/* `rng` is copied; its user_data must outlive the translator. */
EmberDnsTranslator *ember_dns_translator_new (const EmberIceRng *rng);
void ember_dns_translator_free (EmberDnsTranslator *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberDnsTranslator, ember_dns_translator_free)

/* ---- Control ----------------------------------------------------------- */

/* Client `client` says `proxy4` / `proxy6` (either may be family NONE,
 * not both) stand for `name` of resource `resource`, whose pattern is
 * `pattern` (as the portal sent it). Refused with an error naming the
 * field when the name is not a DNS name, does not match the pattern, or
 * an address is not a proxy address. A later call for the same (client,
 * proxy address) replaces the name for new flows. */
gboolean ember_dns_translator_add_name (EmberDnsTranslator *t, gint64 now,
                                        const EmberPortalId *client,
                                        const EmberPortalId *resource, const char *pattern,
                                        const char *name, const EmberAddr *proxy4,
                                        const EmberAddr *proxy6, GError **error);
/* Forgets the client's names, flows and held packets. */
void ember_dns_translator_remove_client (EmberDnsTranslator *t, const EmberPortalId *client);
/* Forgets the client's names of one resource (its authorization ended)
 * and their flows. */
void ember_dns_translator_remove_resource (EmberDnsTranslator *t, const EmberPortalId *client,
                                           const EmberPortalId *resource);
/* The real addresses of every name of `resource` any client uses, as
 * host prefixes (for ember_gateway_policy_set_resolved_addresses). */
GArray *ember_dns_translator_resource_addresses (EmberDnsTranslator *t,
                                                 const EmberPortalId *resource);

/* ---- Packets (hot path) ------------------------------------------------ */

/* A decrypted packet from `client`, parsed, before the policy: a packet
 * to one of the client's proxy addresses gets its real destination. */
EmberDnsNatResult ember_dns_translator_from_client (EmberDnsTranslator *t, gint64 now,
                                                    const EmberPortalId *client,
                                                    EmberIpPacket *pkt);
/* A packet from the resource network to a client, parsed, after the
 * policy: the reply of a translated flow gets the proxy address back as
 * its source. */
EmberDnsNatResult ember_dns_translator_to_client (EmberDnsTranslator *t, gint64 now,
                                                  EmberIpPacket *pkt);

/* ---- The upstream ------------------------------------------------------ */

/* An answer from the DNS backend (any upstream). FALSE when it matches no
 * lookup in flight (or does not parse): ignore it. */
gboolean ember_dns_translator_handle_answer (EmberDnsTranslator *t, gint64 now,
                                             const guint8 *buf, gsize len);
/* The backend gave up on the query whose bytes are buf (its id intact). */
gboolean ember_dns_translator_handle_error (EmberDnsTranslator *t, gint64 now,
                                            const guint8 *buf, gsize len);
void ember_dns_translator_handle_timeout (EmberDnsTranslator *t, gint64 now);

/* ---- Outputs ----------------------------------------------------------- */

/* The next query for the DNS backend into buf; its length, or 0. */
gsize ember_dns_translator_poll_query (EmberDnsTranslator *t, guint8 *buf, gsize cap);
/* The next packet into buf (cap ≥ EMBER_PACKET_MTU); its length, or 0. */
gsize ember_dns_translator_poll_output (EmberDnsTranslator *t, guint8 *buf, gsize cap,
                                        EmberDnsNatOutput *out);
gboolean ember_dns_translator_poll_event (EmberDnsTranslator *t, EmberDnsNatEvent *ev);
gint64 ember_dns_translator_poll_timeout (const EmberDnsTranslator *t);

void ember_dns_translator_get_stats (const EmberDnsTranslator *t, EmberDnsNatStats *stats);
guint ember_dns_translator_n_flows (const EmberDnsTranslator *t);

G_END_DECLS
