/* gateway-policy-private — the structures behind gateway-policy.h, shared
 * by its files: gateway-policy.c (authorizations, expiry, events),
 * gateway-rules.c (the per-client table the packet path reads) and
 * gateway-check.c (the packet path, ICMP answers). */
#pragma once

#include "net/prefix-table.h"
#include "tunnel/gateway-policy.h"

/* A resource some authorization names; shared by every client authorized
 * for it, so resource_updated changes them all at once. */
typedef struct {
  char *id;
  EmberGatewayResourceType type;
  GArray *addresses;   /* EmberCidr: cidr's own, or 0/0 + ::/0 for internet */
  GArray *resolved;    /* EmberCidr: a dns resource's resolved addresses */
  GArray *filters;     /* EmberGatewayFilter; empty: all traffic */
  GHashTable *holders; /* set of EmberGatewayClient* authorized for it */
  guint refs;          /* the resource table's + one per authorization */
} Resource;

typedef struct {
  EmberGatewayPolicy *policy;
  EmberGatewayClient *client;
  Resource *resource;
  gint64 expires_at;   /* key in policy->expiry together with the pointer */
  gboolean stale;      /* between begin_sync and end_sync: not yet re-listed */
} Auth;

typedef struct {
  guint16 lo, hi;
} PortRange;

/* What one prefix of a client's table allows: the union of the filters
 * of every authorized resource containing the prefix. */
typedef struct {
  guint8 all;          /* a resource here has no filters: everything */
  guint8 icmp;
  guint16 n_tcp, n_udp;
  PortRange *ranges;   /* n_tcp TCP ranges, then n_udp UDP ranges; sorted,
                        * merged, so a port check is a binary search */
} Rule;

typedef struct {
  EmberCidr prefix;    /* host bits cleared */
  Rule rule;
} RuleEntry;

/* A client's compiled authorizations: what the packet path reads. */
typedef struct {
  GArray *entries;         /* RuleEntry */
  EmberPrefixTable *table; /* prefix -> &entries[i].rule, longest match */
} Rules;

void ember_gateway_rules_build (Rules *rules, GPtrArray *auths);
void ember_gateway_rules_clear (Rules *rules);
/* The rule of the longest prefix containing `addr`, or NULL. */
const Rule *ember_gateway_rules_lookup (const Rules *rules, guint8 family, const guint8 *addr);

/* Per-packet protocol classes a rule tells apart. */
typedef enum {
  PROTO_TCP,
  PROTO_UDP,
  PROTO_ICMP,   /* ICMP in v4, ICMPv6 in v6 */
  PROTO_OTHER,
} ProtoClass;

/* Whether `rule` lets `proto` through to `port` (has_port FALSE: a later
 * fragment, allowed only when every port of the protocol is). */
gboolean ember_gateway_rule_allows (const Rule *rule, ProtoClass proto, gboolean has_port,
                                    guint16 port);

/* Fixed-point ICMP tokens: one answer = this many. */
#define EMBER_GATEWAY_TOKEN 1000000

struct _EmberGatewayClient {
  char *id;
  guint8 public_key[32];
  guint8 preshared_key[32];
  gboolean has_ipv4, has_ipv6;
  guint8 ipv4[4];
  guint8 ipv6[16];
  GPtrArray *auths;    /* Auth */
  Rules rules;
  gboolean disconnected;
  gboolean dirty;      /* rules to rebuild at end_sync */
  gpointer user_data;
  gint64 icmp_tokens;  /* EMBER_GATEWAY_TOKEN per answer */
  gint64 icmp_refilled;
};

typedef struct {
  EmberGatewayClient *client;  /* NULL: its client was removed */
  gsize len;
  guint8 data[EMBER_PACKET_BUF_SIZE];
} IcmpSlot;

struct _EmberGatewayPolicy {
  GHashTable *clients;     /* id -> EmberGatewayClient (owned) */
  GHashTable *resources;   /* id -> Resource */
  GHashTable *by_ipv4;     /* guint32 address -> client: one owner each */
  GHashTable *by_ipv6;     /* 16 bytes (the client's own copy) -> client */
  GQueue events;           /* EmberGatewayEvent* */
  GTree *expiry;           /* Auth*, by expires_at: the next one is first */
  gint64 next_expiry;      /* the first's expires_at, or G_MAXINT64 */
  gboolean syncing;        /* between begin_sync and end_sync */
  gboolean prune_pending;  /* a resource lost its last authorization */
  gboolean freeing;
  EmberGatewayCounters counters;
  EmberAddr own[2];        /* ICMP source: [0] IPv4, [1] IPv6; family NONE: unset */
  IcmpSlot icmp[EMBER_GATEWAY_ICMP_QUEUE];
  guint icmp_head, icmp_len;
};

void ember_gateway_policy_rebuild_resource (EmberGatewayPolicy *policy, Resource *r);
/* Expires what is due at `now` (gateway-policy.c). */
void ember_gateway_policy_expire (EmberGatewayPolicy *policy, gint64 now);
