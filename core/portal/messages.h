/* portal/messages — the portal protocol's messages as C values.
 *
 * Every event of docs/portal-protocol.md as a typed struct, the tagged
 * union EmberPortalMessage that holds any of them, and every limit of the
 * protocol. The codec (codec.h) turns JSON text into these values and
 * back; the portal server and the client/gateway tunnels work on these
 * values only. Plain data: any thread; a message is owned by whoever
 * holds it and released with ember_portal_message_clear().
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "ice/candidate.h"
#include "ice/wire.h"
#include "net/cidr.h"

G_BEGIN_DECLS

/* ---- Limits (docs/portal-protocol.md, "Limits") ---------------------- */

/* A frame is one WebSocket text message. 1 MiB holds a client `init`
 * with a few thousand resources; anything bigger is refused before JSON
 * parsing (the server closes with 1009). */
#define EMBER_PORTAL_FRAME_MAX (1024 * 1024)
/* Nesting of JSON arrays/objects; our deepest message needs 6. Checked
 * before json-glib sees the text (its parser recurses). */
#define EMBER_PORTAL_DEPTH_MAX 16
#define EMBER_PORTAL_REF_MAX 64           /* frame "ref", bytes */
#define EMBER_PORTAL_NAME_MAX 255         /* resource and site names, bytes of UTF-8 */
#define EMBER_PORTAL_DNS_PATTERN_MAX 253  /* RFC 1035 name length */
#define EMBER_PORTAL_FLOW_REF_MAX 1024    /* authorize_flow's signed "ref" */
#define EMBER_PORTAL_CREDENTIAL_MAX 256   /* relay username and password */
#define EMBER_PORTAL_MESSAGE_MAX 1024     /* phx_reply error "message" */
#define EMBER_PORTAL_MAX_RESOURCES 4096   /* per init */
#define EMBER_PORTAL_MAX_AUTHORIZATIONS 4096 /* per gateway init */
#define EMBER_PORTAL_MAX_RELAYS 64        /* per init / relays_presence list */
#define EMBER_PORTAL_MAX_FILTERS 32       /* per resource */
#define EMBER_PORTAL_MAX_PORT_RANGES 32   /* per filter */
#define EMBER_PORTAL_MAX_CANDIDATES 64    /* per candidates message */
#define EMBER_PORTAL_MAX_PEER_IDS 256     /* gateway_ids / client_ids lists */
#define EMBER_PORTAL_MAX_DNS_NAMES 64     /* dns_names of one request / flow */
/* The protocol revision a device reads, sent as the `vsn=` query
 * parameter of its upgrade: absent or 1, the first; 2 adds init's
 * "device" and a dns resource's "ip_stack" (both before 2 was released).
 * The portal writes a session nothing its revision lacks, so a device
 * that predates a member never gets it. */
#define EMBER_PORTAL_REVISION 2
#define EMBER_PORTAL_REVISION_DEVICE 2    /* init's "device" */
#define EMBER_PORTAL_REVISION_IP_STACK 2  /* a resource's "ip_stack" */
/* Heartbeats (topic "phoenix"): every 10 s; 3 missed close the session. */
#define EMBER_PORTAL_HEARTBEAT_INTERVAL_US (10 * G_TIME_SPAN_SECOND)
#define EMBER_PORTAL_HEARTBEAT_TIMEOUT_US (3 * EMBER_PORTAL_HEARTBEAT_INTERVAL_US)

/* WebSocket close codes the portal uses (RFC 6455 §7.4; 4000-4999 are
 * private). The close reason text is the matching token of the doc. */
typedef enum {
  EMBER_PORTAL_CLOSE_NORMAL = 1000,
  EMBER_PORTAL_CLOSE_GOING_AWAY = 1001,       /* "shutdown" */
  EMBER_PORTAL_CLOSE_INVALID_JSON = 1007,     /* "invalid_json" */
  EMBER_PORTAL_CLOSE_POLICY = 1008,           /* "protocol_error" */
  EMBER_PORTAL_CLOSE_TOO_BIG = 1009,          /* "frame_too_large" */
  EMBER_PORTAL_CLOSE_HEARTBEAT_TIMEOUT = 4000,/* "heartbeat_timeout" */
  EMBER_PORTAL_CLOSE_DISCONNECTED = 4001,     /* after a "disconnect" event */
  EMBER_PORTAL_CLOSE_RATE_LIMITED = 4029,     /* "rate_limited" */
} EmberPortalCloseCode;

/* ---- Who talks ------------------------------------------------------- */

/* The WebSocket endpoint a session came in on: /client/websocket or
 * /gateway/websocket. */
typedef enum {
  EMBER_PORTAL_CHANNEL_CLIENT = 0,
  EMBER_PORTAL_CHANNEL_GATEWAY,
} EmberPortalChannel;

typedef enum {
  EMBER_PORTAL_TO_PORTAL = 0,   /* sent by the client or gateway */
  EMBER_PORTAL_FROM_PORTAL,     /* sent by the portal */
} EmberPortalDirection;

/* The frame's "topic": "client", "gateway" (the channel itself) or
 * "phoenix" (heartbeats and their replies). */
typedef enum {
  EMBER_PORTAL_TOPIC_CLIENT = 0,
  EMBER_PORTAL_TOPIC_GATEWAY,
  EMBER_PORTAL_TOPIC_PHOENIX,
} EmberPortalTopic;

/* One value per message kind. Two kinds may share a wire event name when
 * channel and direction tell them apart ("init", "authorization_created").
 * Comments: wire name; channel; direction. */
typedef enum {
  EMBER_PORTAL_EVENT_PHX_JOIN = 0,                  /* phx_join; both; to portal */
  EMBER_PORTAL_EVENT_PHX_REPLY,                     /* phx_reply; both; from portal */
  EMBER_PORTAL_EVENT_HEARTBEAT,                     /* heartbeat; both; to portal */
  EMBER_PORTAL_EVENT_RELAYS_PRESENCE,               /* relays_presence; both; from */
  EMBER_PORTAL_EVENT_DISCONNECT,                    /* disconnect; both; from */
  EMBER_PORTAL_EVENT_ICE_CANDIDATES,                /* ice_candidates; both; from */
  EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES,     /* invalidate_ice_candidates; both; from */
  EMBER_PORTAL_EVENT_REJECT_ACCESS,                 /* reject_access; both; from */
  EMBER_PORTAL_EVENT_CLIENT_INIT,                   /* init; client; from */
  EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED,   /* client; from */
  EMBER_PORTAL_EVENT_RESOURCE_DELETED,              /* client; from */
  EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED,         /* authorization_created; client; from */
  EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED, /* client; from */
  EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION,         /* client; to */
  EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES,    /* client; to */
  EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES, /* client; to */
  EMBER_PORTAL_EVENT_GATEWAY_INIT,                  /* init; gateway; from */
  EMBER_PORTAL_EVENT_AUTHORIZE_FLOW,                /* gateway; from */
  EMBER_PORTAL_EVENT_RESOURCE_UPDATED,              /* gateway; from */
  EMBER_PORTAL_EVENT_FLOW_AUTHORIZED,               /* authorization_created; gateway; to */
  EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES,      /* gateway; to */
  EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES, /* gateway; to */
  EMBER_PORTAL_EVENT_COUNT_
} EmberPortalEvent;

/* ---- Values ---------------------------------------------------------- */

/* Ids are UUID strings (RFC 9562), 36 characters, stored lower case. */
#define EMBER_PORTAL_ID_LEN 36
typedef struct {
  char str[EMBER_PORTAL_ID_LEN + 1];
} EmberPortalId;

/* WireGuard keys (public keys, preshared keys): 32 bytes, base64 on the
 * wire (44 characters, canonical padding). */
#define EMBER_PORTAL_KEY_LEN 32
typedef struct {
  guint8 bytes[EMBER_PORTAL_KEY_LEN];
} EmberPortalKey;

/* Tunnel addresses: both families, port 0. JSON {"ipv4": "100.64.0.1",
 * "ipv6": "fd00:2021:1111::1"}. */
typedef struct {
  EmberAddr ipv4;
  EmberAddr ipv6;
} EmberPortalTunnelAddresses;

/* RFC 8445 §5.3: ufrag 4..64 and pwd 22..128 ice-chars (the ICE agent's
 * bounds, ice/wire.h). */
typedef struct {
  char ufrag[EMBER_ICE_UFRAG_MAX + 1];
  char pwd[EMBER_ICE_PWD_MAX + 1];
} EmberPortalIceCredentials;

typedef enum {
  EMBER_PORTAL_PROTOCOL_TCP = 0,
  EMBER_PORTAL_PROTOCOL_UDP,
  EMBER_PORTAL_PROTOCOL_ICMP,
} EmberPortalProtocol;

/* One range of "80,8000-8100": first ≤ last, 1..65535. */
typedef struct {
  guint16 first;
  guint16 last;
} EmberPortalPortRange;

/* A traffic filter. tcp/udp: n_ports 0 means every port, else the union
 * of the ranges (sorted as given, overlaps allowed). icmp: no ports. */
typedef struct {
  EmberPortalProtocol protocol;
  guint n_ports;
  EmberPortalPortRange ports[EMBER_PORTAL_MAX_PORT_RANGES];
} EmberPortalFilter;

typedef enum {
  EMBER_PORTAL_RESOURCE_CIDR = 0,
  EMBER_PORTAL_RESOURCE_DNS,
  EMBER_PORTAL_RESOURCE_INTERNET,
} EmberPortalResourceType;

/* Which address families a dns resource has behind its gateway (the
 * optional "ip_stack" member, revision EMBER_PORTAL_REVISION_IP_STACK):
 * "dual" (the default, never sent), "ipv4" or "ipv6". The client's stub
 * answers the family a resource lacks with an empty NOERROR. */
typedef enum {
  EMBER_PORTAL_IP_STACK_DUAL = 0,
  EMBER_PORTAL_IP_STACK_IPV4,
  EMBER_PORTAL_IP_STACK_IPV6,
} EmberPortalIpStack;

typedef struct {
  EmberPortalId id;
  char *name;
} EmberPortalSite;

/* JSON {id, name, type, address, ip_stack, site: {id, name}, filters: [...]}.
 * "address" is the CIDR (type cidr), the name pattern (type dns) or
 * absent (type internet: 0.0.0.0/0 and ::/0). "ip_stack" only on a dns
 * resource, absent when dual. No filters = all traffic. */
typedef struct {
  EmberPortalId id;
  char *name;
  EmberPortalResourceType type;
  EmberCidr cidr;         /* type cidr: a prefix with no host bits set (net/cidr.h) */
  char *dns_pattern;      /* type dns, normalized (dns/pattern.h): "app.corp.example",
                           * "*.corp.example", "**.corp", "db?.corp" */
  EmberPortalIpStack ip_stack;  /* type dns; DUAL for the others */
  EmberPortalSite site;
  EmberPortalFilter *filters;
  guint n_filters;
} EmberPortalResource;

/* A TURN relay and time-limited credentials for it (the REST scheme of
 * `ember-relay --secret`). JSON {id, type: "turn", ipv4: "ip:port",
 * ipv6: "[ip]:port", username, password, expires_at}; at least one of
 * ipv4/ipv6. An absent family has family EMBER_ADDR_NONE. */
typedef struct {
  EmberPortalId id;
  EmberAddr ipv4;
  EmberAddr ipv6;
  char *username;
  char *password;      /* wiped by clear */
  gint64 expires_at;   /* Unix seconds */
} EmberPortalRelay;

/* Who the receiving device is at the portal, as init's optional
 * "device" member says: JSON {"id": id, "name": string 1..255 bytes}, the
 * name the administrator gave it with its token. `name` NULL: absent (a
 * portal that predates the member); then `id` is unset too. */
typedef struct {
  EmberPortalId id;
  char *name;
} EmberPortalDevice;

/* The other end of a connection: JSON {id, public_key, ipv4, ipv6}. */
typedef struct {
  EmberPortalId id;
  EmberPortalKey public_key;
  EmberPortalTunnelAddresses tunnel;
} EmberPortalPeer;

/* ---- Payloads -------------------------------------------------------- */

typedef enum {
  EMBER_PORTAL_REPLY_OK = 0,
  EMBER_PORTAL_REPLY_ERROR,
} EmberPortalReplyStatus;

/* Why a request was refused (phx_reply status "error"). */
typedef enum {
  EMBER_PORTAL_REPLY_REASON_NONE = 0,     /* status ok */
  EMBER_PORTAL_REPLY_REASON_INVALID_FRAME,
  EMBER_PORTAL_REPLY_REASON_INVALID_PAYLOAD,
  EMBER_PORTAL_REPLY_REASON_UNKNOWN_EVENT,
  EMBER_PORTAL_REPLY_REASON_WRONG_DIRECTION,
  EMBER_PORTAL_REPLY_REASON_UNKNOWN_TOPIC,
  EMBER_PORTAL_REPLY_REASON_NOT_JOINED,
  EMBER_PORTAL_REPLY_REASON_ALREADY_JOINED,
  EMBER_PORTAL_REPLY_REASON_RATE_LIMITED,
  EMBER_PORTAL_REPLY_REASON_INTERNAL,
} EmberPortalReplyReason;

/* phx_reply: {"status": "ok", "response": {}} or {"status": "error",
 * "response": {"reason": ..., "message": ...}}. */
typedef struct {
  EmberPortalReplyStatus status;
  EmberPortalReplyReason reason;  /* error only */
  char *message;                  /* error only, optional: a readable detail */
} EmberPortalReply;

typedef struct {
  EmberPortalTunnelAddresses iface;  /* JSON "interface" */
  EmberPortalResource *resources;
  guint n_resources;
  EmberPortalRelay *relays;
  guint n_relays;
  EmberPortalDevice device;          /* optional */
} EmberPortalClientInit;

typedef struct {
  EmberPortalId id;
} EmberPortalResourceDeleted;

typedef struct {
  EmberPortalId *disconnected_ids;
  guint n_disconnected_ids;
  EmberPortalRelay *connected;
  guint n_connected;
} EmberPortalRelaysPresence;

/* To a client: the portal chose `gateway` for `resource_id`. */
typedef struct {
  EmberPortalId resource_id;
  EmberPortalPeer gateway;
  EmberPortalKey preshared_key;   /* wiped by clear */
  EmberPortalIceCredentials client_ice;
  EmberPortalIceCredentials gateway_ice;
  gint64 expires_at;              /* Unix seconds */
} EmberPortalAuthorizationCreated;

typedef enum {
  EMBER_PORTAL_AUTHZ_NOT_FOUND = 0,  /* no such resource (or not visible) */
  EMBER_PORTAL_AUTHZ_FORBIDDEN,      /* no policy allows it now */
  EMBER_PORTAL_AUTHZ_OFFLINE,        /* no gateway of its site is connected */
} EmberPortalAuthzFailure;

typedef struct {
  EmberPortalId resource_id;
  EmberPortalAuthzFailure reason;
} EmberPortalAuthorizationFailed;

/* ice_candidates / invalidate_ice_candidates from the portal: `peer_id`
 * is "gateway_id" on the client channel, "client_id" on the gateway's. */
typedef struct {
  EmberPortalId peer_id;
  EmberIceCandidate *candidates;
  guint n_candidates;
} EmberPortalIceCandidates;

/* The same towards the portal, for one or more peers: "gateway_ids"
 * (new_gateway_ice_candidates, invalidate_gateway_ice_candidates) or
 * "client_ids" (broadcast_ice_candidates,
 * broadcast_invalidated_ice_candidates). */
typedef struct {
  EmberPortalId *peer_ids;
  guint n_peer_ids;
  EmberIceCandidate *candidates;
  guint n_candidates;
} EmberPortalIceBroadcast;

/* Access to a resource ended. Client channel: resource_id only.
 * Gateway channel: client_id and resource_id. */
typedef struct {
  EmberPortalId resource_id;
  EmberPortalId client_id;   /* gateway channel only */
} EmberPortalRejectAccess;

typedef enum {
  EMBER_PORTAL_DISCONNECT_TOKEN_REVOKED = 0,
  EMBER_PORTAL_DISCONNECT_TOKEN_EXPIRED,
  EMBER_PORTAL_DISCONNECT_DEVICE_REMOVED,
  EMBER_PORTAL_DISCONNECT_REPLACED,       /* the same external_id signed in again */
  EMBER_PORTAL_DISCONNECT_SHUTDOWN,
  EMBER_PORTAL_DISCONNECT_PROTOCOL_ERROR,
} EmberPortalDisconnectReason;

typedef struct {
  EmberPortalDisconnectReason reason;
} EmberPortalDisconnect;

/* A name of a `dns` resource and the proxy addresses the client's stub
 * gave it: JSON {name, ipv4?, ipv6?}, at least one address. A family
 * without an address has family EMBER_ADDR_NONE. */
typedef struct {
  char *name;
  EmberAddr ipv4;
  EmberAddr ipv6;
} EmberPortalDnsName;

/* `dns_names` (optional, 0..64): for a `dns` resource, the names the
 * client resolved to proxy addresses, which the portal passes on to the
 * gateway in authorize_flow so it can translate them. */
typedef struct {
  EmberPortalId resource_id;
  EmberPortalId *connected_gateway_ids;
  guint n_connected_gateway_ids;
  EmberPortalDnsName *dns_names;
  guint n_dns_names;
} EmberPortalRequestAuthorization;

/* An authorization that is still valid, as the gateway's init lists it
 * (no ICE credentials: a new connection comes with a new authorize_flow). */
typedef struct {
  EmberPortalPeer client;
  EmberPortalResource resource;
  EmberPortalKey preshared_key;   /* wiped by clear */
  gint64 expires_at;
} EmberPortalAuthorization;

typedef struct {
  EmberPortalTunnelAddresses iface;  /* JSON "interface" */
  EmberPortalRelay *relays;
  guint n_relays;
  EmberPortalAuthorization *authorizations;
  guint n_authorizations;
  EmberPortalDevice device;          /* optional */
} EmberPortalGatewayInit;

/* To a gateway: let `client` reach `resource` until expires_at. `ref` is
 * opaque (signed by the portal) and comes back in flow_authorized. */
typedef struct {
  char *ref;
  EmberPortalResource resource;
  EmberPortalPeer client;
  EmberPortalKey preshared_key;   /* wiped by clear */
  EmberPortalIceCredentials client_ice;
  EmberPortalIceCredentials gateway_ice;
  gint64 expires_at;
  EmberPortalDnsName *dns_names;    /* optional: the request's, passed on */
  guint n_dns_names;
} EmberPortalAuthorizeFlow;

/* From a gateway, wire event "authorization_created": {"ref": ...}. */
typedef struct {
  char *ref;
} EmberPortalFlowAuthorized;

/* ---- The message ----------------------------------------------------- */

/* phx_join and heartbeat carry the empty payload {}. */
typedef struct {
  EmberPortalEvent event;
  EmberPortalTopic topic;
  char *ref;   /* NULL when the frame's ref is null (portal pushes) */
  union {
    EmberPortalReply reply;                            /* PHX_REPLY */
    EmberPortalRelaysPresence relays_presence;         /* RELAYS_PRESENCE */
    EmberPortalDisconnect disconnect;                  /* DISCONNECT */
    EmberPortalIceCandidates ice_candidates;           /* ICE_CANDIDATES, INVALIDATE_ICE_CANDIDATES */
    EmberPortalRejectAccess reject_access;             /* REJECT_ACCESS */
    EmberPortalClientInit client_init;                 /* CLIENT_INIT */
    EmberPortalResource resource;                      /* RESOURCE_CREATED_OR_UPDATED, RESOURCE_UPDATED */
    EmberPortalResourceDeleted resource_deleted;       /* RESOURCE_DELETED */
    EmberPortalAuthorizationCreated authorization_created; /* AUTHORIZATION_CREATED */
    EmberPortalAuthorizationFailed authorization_failed;   /* AUTHORIZATION_CREATION_FAILED */
    EmberPortalRequestAuthorization request_authorization; /* REQUEST_AUTHORIZATION */
    EmberPortalIceBroadcast ice_broadcast;             /* NEW_GATEWAY_ICE_CANDIDATES, INVALIDATE_GATEWAY_...,
                                                        * BROADCAST_ICE_CANDIDATES, BROADCAST_INVALIDATED_... */
    EmberPortalGatewayInit gateway_init;               /* GATEWAY_INIT */
    EmberPortalAuthorizeFlow authorize_flow;           /* AUTHORIZE_FLOW */
    EmberPortalFlowAuthorized flow_authorized;         /* FLOW_AUTHORIZED */
  } u;
} EmberPortalMessage;

/* Zeroes `msg` and sets event, the topic its channel implies (heartbeat:
 * phoenix) and a copy of `ref` (may be NULL). A phx_reply answers on the
 * topic of its request: for a heartbeat's, set topic to
 * EMBER_PORTAL_TOPIC_PHOENIX afterwards. */
void ember_portal_message_init (EmberPortalMessage *msg, EmberPortalEvent event,
                                EmberPortalChannel channel, const char *ref);
/* Frees everything `msg` owns, wipes keys and relay passwords, and zeroes
 * it. Safe on a zeroed or half-parsed message and idempotent. */
void ember_portal_message_clear (EmberPortalMessage *msg);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EmberPortalMessage, ember_portal_message_clear)

/* Deep equality (tests, the fuzzer's round trip). */
gboolean ember_portal_message_equal (const EmberPortalMessage *a, const EmberPortalMessage *b);

/* Clears one resource (a member of an array the caller builds). */
void ember_portal_resource_clear (EmberPortalResource *res);
void ember_portal_relay_clear (EmberPortalRelay *relay);
/* A deep copy of n dns names (NULL for 0), and freeing one. */
EmberPortalDnsName *ember_portal_dns_names_copy (const EmberPortalDnsName *names, guint n);
void ember_portal_dns_names_free (EmberPortalDnsName *names, guint n);

/* ---- Names ------------------------------------------------------------ */

/* The wire event name ("init", "authorization_created", ...). */
const char *ember_portal_event_to_string (EmberPortalEvent event);
/* Which channels may carry `event` and in which direction. */
gboolean ember_portal_event_allowed (EmberPortalEvent event, EmberPortalChannel channel,
                                     EmberPortalDirection direction);
const char *ember_portal_channel_to_string (EmberPortalChannel channel);
const char *ember_portal_topic_to_string (EmberPortalTopic topic);
const char *ember_portal_reply_reason_to_string (EmberPortalReplyReason reason);
const char *ember_portal_authz_failure_to_string (EmberPortalAuthzFailure reason);
const char *ember_portal_disconnect_reason_to_string (EmberPortalDisconnectReason reason);
const char *ember_portal_protocol_to_string (EmberPortalProtocol protocol);
const char *ember_portal_resource_type_to_string (EmberPortalResourceType type);
/* "dual", "ipv4", "ipv6". */
const char *ember_portal_ip_stack_to_string (EmberPortalIpStack stack);

G_END_DECLS
