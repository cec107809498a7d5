/* tunnel/gateway-policy — what a gateway lets through: the authorization
 * table and the per-packet check.
 *
 * Owns, per client the portal authorized: its tunnel addresses, its
 * WireGuard public key and PSK, its authorizations (one per resource,
 * each with an expiry) and a prefix table built from them; per resource:
 * its addresses (a `cidr` resource's own, the whole internet for
 * `internet`, the addresses the gateway resolved for a `dns` resource)
 * and its filters. The gateway tunnel (gateway.h) feeds it the portal's
 * authorize_flow / reject_access / resource_updated and every packet.
 *
 * A packet from a client is checked in this order, first failure wins:
 *   1. its source is one of that client's tunnel addresses (no spoofing);
 *   2. its destination lies in a resource the client is authorized for;
 *   3. its protocol and port pass that resource's filters (no filter:
 *      all traffic). Overlapping resources are OR-combined, as policies
 *      are: a packet passes when any authorized resource containing the
 *      destination allows it.
 * A packet from the resource network (a reply) goes to the client that
 * owns its destination address — one client per tunnel address, always —
 * and only when the reversed packet would pass that client's check, so a
 * host on the resource network reaches a client only through a resource
 * and port the client may use right now. Refused packets are counted per
 * reason; those a client sent to a place it may not go are answered with
 * ICMP / ICMPv6 "administratively prohibited" from the gateway's own
 * tunnel address (rate-limited per client).
 *
 * Time is the caller's monotonic clock in µs; an expiry is a deadline on
 * that clock (gateway.c converts the portal's wall-clock expires_at).
 * An authorization is valid while now < expires_at. Every input first
 * expires what is due, so a late timer never lets a packet through.
 *
 * Sans-IO: no clock, no I/O; the packet path allocates nothing. Events
 * (answers for the portal, disconnects) are queued and drained with
 * poll_event(); ICMP answers with poll_packet_to_client(). Not
 * thread-safe: one policy is used from one thread.
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h"
#include "packet/packet.h"
#include "net/cidr.h"

G_BEGIN_DECLS

#define EMBER_GATEWAY_POLICY_ERROR (ember_gateway_policy_error_quark ())
GQuark ember_gateway_policy_error_quark (void);

typedef enum {
  EMBER_GATEWAY_POLICY_ERROR_INVALID,    /* a field is missing or out of range */
  EMBER_GATEWAY_POLICY_ERROR_NOT_FOUND,  /* no such client / resource */
  EMBER_GATEWAY_POLICY_ERROR_LIMIT,      /* too many clients, resources, filters */
} EmberGatewayPolicyError;

/* Limits: a bad or hostile portal message must not grow the tables
 * without bound. */
#define EMBER_GATEWAY_MAX_CLIENTS 65536u
#define EMBER_GATEWAY_MAX_AUTHORIZATIONS 4096u /* per client: the portal's init limit */
#define EMBER_GATEWAY_MAX_RESOURCE_ADDRESSES 256u
#define EMBER_GATEWAY_MAX_FILTERS 1024u /* the portal's 32 filters x 32 ranges */
#define EMBER_GATEWAY_ID_MAX 128u
#define EMBER_GATEWAY_REF_MAX 1024u  /* authorize_flow's signed ref (the portal's limit) */

/* ICMP prohibited answers per client: a token bucket of this many
 * answers, refilled at this many per second. */
#define EMBER_GATEWAY_ICMP_BURST 10u
#define EMBER_GATEWAY_ICMP_PER_SECOND 10u
/* Queued ICMP answers not yet drained; more are counted and dropped. */
#define EMBER_GATEWAY_ICMP_QUEUE 32u

typedef enum {
  EMBER_GATEWAY_RESOURCE_CIDR = 0,
  EMBER_GATEWAY_RESOURCE_DNS,      /* addresses come from the gateway's resolver */
  EMBER_GATEWAY_RESOURCE_INTERNET, /* 0.0.0.0/0 and ::/0 */
} EmberGatewayResourceType;

typedef enum {
  EMBER_GATEWAY_FILTER_TCP = 0,
  EMBER_GATEWAY_FILTER_UDP,
  EMBER_GATEWAY_FILTER_ICMP,       /* ICMP in IPv4, ICMPv6 in IPv6; no ports */
} EmberGatewayFilterProtocol;

typedef struct {
  EmberGatewayFilterProtocol protocol;
  guint16 port_min;                /* tcp / udp: inclusive range */
  guint16 port_max;
} EmberGatewayFilter;

/* A resource as the portal describes it (authorize_flow, resource_updated).
 * The policy copies what it keeps. */
typedef struct {
  const char *id;
  EmberGatewayResourceType type;
  const EmberCidr *addresses;      /* cidr: one or more; others: ignored */
  guint n_addresses;
  const EmberGatewayFilter *filters;
  guint n_filters;                 /* 0: all traffic */
} EmberGatewayResource;

/* authorize_flow, in the policy's terms. */
typedef struct {
  const char *ref;                 /* echoed in AUTHORIZATION_CREATED; NULL
                                    * (an authorization listed in init): no
                                    * answer */
  const char *client_id;
  guint8 client_public_key[32];
  guint8 preshared_key[32];
  gboolean has_ipv4, has_ipv6;
  guint8 client_ipv4[4];
  guint8 client_ipv6[16];
  const EmberGatewayResource *resource;
  gint64 expires_at;               /* deadline on the `now` clock */
} EmberGatewayAuthorization;

typedef struct _EmberGatewayPolicy EmberGatewayPolicy;
typedef struct _EmberGatewayClient EmberGatewayClient;

/* Why a packet was refused; also the index of its counter. */
typedef enum {
  EMBER_GATEWAY_DROP_MALFORMED = 0,    /* not a parseable IP packet */
  EMBER_GATEWAY_DROP_SPOOFED,          /* source is not the client's tunnel address */
  EMBER_GATEWAY_DROP_NOT_AUTHORIZED,   /* destination in no authorized resource */
  EMBER_GATEWAY_DROP_FILTERED,         /* protocol / port refused by the filters */
  EMBER_GATEWAY_DROP_REPLY_NO_CLIENT,  /* reply to an address no client owns */
  EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED, /* reply the client may not receive */
  EMBER_GATEWAY_DROP_N_REASONS,
} EmberGatewayDropReason;

const char *ember_gateway_drop_reason_to_string (EmberGatewayDropReason reason);

typedef enum {
  EMBER_GATEWAY_VERDICT_FORWARD = 0,   /* hand the packet on unchanged */
  EMBER_GATEWAY_VERDICT_DROP,
} EmberGatewayVerdict;

typedef struct {
  guint64 forwarded_to_network;
  guint64 forwarded_to_client;
  guint64 dropped[EMBER_GATEWAY_DROP_N_REASONS];
  guint64 icmp_sent;               /* queued ICMP prohibited answers */
  guint64 icmp_rate_limited;       /* answers the bucket or the queue refused */
} EmberGatewayCounters;

typedef enum {
  /* Answer the portal: authorization_created with `ref`. */
  EMBER_GATEWAY_EVENT_AUTHORIZATION_CREATED = 1,
  /* One authorization ended (`reason`: "expired", "rejected",
   * "address reassigned", "not listed"). */
  EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED,
  /* The client has no authorization left: close its connection and call
   * ember_gateway_policy_remove_client(). */
  EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED,
} EmberGatewayEventType;

typedef struct {
  EmberGatewayEventType type;
  char *ref;                       /* AUTHORIZATION_CREATED */
  char *client_id;
  char *resource_id;               /* AUTHORIZATION_* */
  const char *reason;              /* static string, REMOVED / DISCONNECTED */
} EmberGatewayEvent;

void ember_gateway_event_clear (EmberGatewayEvent *ev);

EmberGatewayPolicy *ember_gateway_policy_new (void);
void ember_gateway_policy_free (EmberGatewayPolicy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberGatewayPolicy, ember_gateway_policy_free)

/* ---- Control (portal messages) -------------------------------------- */

/* authorize_flow: creates the client if new, adds or refreshes its
 * authorization for the resource (a repeat replaces filters, addresses
 * and expiry), queues AUTHORIZATION_CREATED. A tunnel address held by
 * another client moves to this one and the other is disconnected: the
 * portal's latest word wins and an address never has two owners. The
 * client's key, PSK and addresses are updated when they differ. An
 * authorization already expired at `now` is refused. */
gboolean ember_gateway_policy_authorize (EmberGatewayPolicy *policy, gint64 now,
                                         const EmberGatewayAuthorization *auth, GError **error);
/* The gateway's init lists every authorization still valid; one it had
 * that is not listed ends ("not listed"). Call begin_sync, authorize each
 * listed one, then end_sync. */
void ember_gateway_policy_begin_sync (EmberGatewayPolicy *policy);
void ember_gateway_policy_end_sync (EmberGatewayPolicy *policy, gint64 now);
/* reject_access: ends the client's authorization for the resource now. */
gboolean ember_gateway_policy_reject (EmberGatewayPolicy *policy, gint64 now,
                                      const char *client_id, const char *resource_id,
                                      GError **error);
/* resource_updated: new addresses / filters for every live authorization
 * of the resource. Unknown resources are ignored (TRUE): the gateway
 * only hears of resources someone is authorized for. */
gboolean ember_gateway_policy_update_resource (EmberGatewayPolicy *policy, gint64 now,
                                               const EmberGatewayResource *resource,
                                               GError **error);
/* The DNS hook: the addresses the gateway resolved for a `dns` resource
 * (replacing earlier ones; n = 0 clears them). Every client authorized
 * for it may then reach them, with its filters. The resolver (DNS issue)
 * calls this; until then a `dns` resource authorizes nothing. */
gboolean ember_gateway_policy_set_resolved_addresses (EmberGatewayPolicy *policy, gint64 now,
                                                      const char *resource_id,
                                                      const EmberCidr *addresses, guint n,
                                                      GError **error);
/* The gateway's own tunnel addresses (its `init`): ICMP answers come from
 * the one of the packet's family, as from the router that refused it, so
 * the client accepts them even for a destination it no longer routes to
 * this gateway. Without one (NULL or EMBER_ADDR_NONE) an answer comes
 * from the address the client tried. */
void ember_gateway_policy_set_own_addresses (EmberGatewayPolicy *policy, const EmberAddr *ipv4,
                                             const EmberAddr *ipv6);
/* Forgets a client (after CLIENT_DISCONNECTED, or when its connection is
 * gone): its authorizations, addresses and queued ICMP answers. */
void ember_gateway_policy_remove_client (EmberGatewayPolicy *policy, const char *client_id);

/* ---- Lookup ---------------------------------------------------------- */

/* The client with this id, or NULL. The pointer stays valid until
 * ember_gateway_policy_remove_client() or the policy is freed. */
EmberGatewayClient *ember_gateway_policy_find_client (EmberGatewayPolicy *policy,
                                                      const char *client_id);
const char *ember_gateway_client_get_id (const EmberGatewayClient *client);
const guint8 *ember_gateway_client_get_public_key (const EmberGatewayClient *client);
const guint8 *ember_gateway_client_get_preshared_key (const EmberGatewayClient *client);
/* Authorizations not yet expired or rejected. */
guint ember_gateway_client_get_n_authorizations (const EmberGatewayClient *client);
gboolean ember_gateway_client_is_authorized (const EmberGatewayClient *client,
                                             const char *resource_id);
/* The resource id of live authorization `i` (0 <= i <
 * get_n_authorizations), in the order they were granted. */
const char *ember_gateway_client_get_authorization (const EmberGatewayClient *client, guint i);
/* Calls `func` for every client the policy holds (status), in no
 * particular order; `func` must not change the policy. */
typedef void (*EmberGatewayClientFunc) (EmberGatewayClient *client, gpointer user_data);
void ember_gateway_policy_foreach_client (EmberGatewayPolicy *policy, EmberGatewayClientFunc func,
                                          gpointer user_data);
/* The owner's per-client state (the gateway tunnel's connection). */
void ember_gateway_client_set_user_data (EmberGatewayClient *client, gpointer user_data);
gpointer ember_gateway_client_get_user_data (const EmberGatewayClient *client);

/* ---- Packets (hot path: no allocation, no GError) ------------------- */

/* A decrypted packet `client` sent: FORWARD means "to the network". On
 * DROP, `*reason` says why, the counter moved and an ICMP answer may be
 * queued. `pkt` must be parsed; `now` expires what is due first. */
EmberGatewayVerdict ember_gateway_policy_from_client (EmberGatewayPolicy *policy, gint64 now,
                                                      EmberGatewayClient *client,
                                                      const EmberIpPacket *pkt,
                                                      EmberGatewayDropReason *reason);
/* The same for raw bytes (parses them; MALFORMED when they do not). */
EmberGatewayVerdict ember_gateway_policy_from_client_bytes (EmberGatewayPolicy *policy,
                                                            gint64 now,
                                                            EmberGatewayClient *client,
                                                            guint8 *buf, gsize len,
                                                            EmberGatewayDropReason *reason);
/* A packet from the resource network: FORWARD with `*client` set means
 * "encrypt it to that client". */
EmberGatewayVerdict ember_gateway_policy_from_network (EmberGatewayPolicy *policy, gint64 now,
                                                       const EmberIpPacket *pkt,
                                                       EmberGatewayClient **client,
                                                       EmberGatewayDropReason *reason);

/* ---- Outputs ---------------------------------------------------------- */

gboolean ember_gateway_policy_poll_event (EmberGatewayPolicy *policy, EmberGatewayEvent *ev);
/* The next queued ICMP answer: copies it to `buf` and returns its length
 * and the client to encrypt it to, or 0 when none is queued. */
gsize ember_gateway_policy_poll_packet_to_client (EmberGatewayPolicy *policy, guint8 *buf,
                                                  gsize cap, EmberGatewayClient **client);
/* The next expiry (absolute), or G_MAXINT64. */
gint64 ember_gateway_policy_poll_timeout (const EmberGatewayPolicy *policy);
void ember_gateway_policy_handle_timeout (EmberGatewayPolicy *policy, gint64 now);

void ember_gateway_policy_get_counters (const EmberGatewayPolicy *policy,
                                        EmberGatewayCounters *out);
guint ember_gateway_policy_get_n_clients (const EmberGatewayPolicy *policy);

G_END_DECLS
