/* relay/server private — the server core's state, shared by its files:
 * server.c (dispatch, commands), turn.c (TURN methods), auth.c
 * (credentials, nonces, rate limit), allocation.c (allocations,
 * permissions, channels, ports), peer_filter.c (deny/allow lists).
 * Same thread rules as server.h. */
#pragma once

#include "net/cidr.h"
#include "server.h"
#include "stun/message.h"

#include <string.h>

#define RELAY_KEY_LEN EMBER_STUN_LONG_TERM_KEY_MD5_LEN
/* Bound on rate-limiter entries; beyond it new sources are refused. */
#define RELAY_MAX_BUCKETS 65536
/* A datagram we build never exceeds this (UDP payload from a peer is at
 * most 65507 bytes; a Data indication adds 20 + 24 + 4 + 3). */
#define RELAY_MAX_OUT (65535 + 64)

typedef struct {
  EmberAddr peer; /* only the IP counts (RFC 8656 §9) */
  gint64 expires;
} RelayPermission;

typedef struct {
  guint16 number;
  EmberAddr peer;
  gint64 expires;  /* bound until then; the entry then guards the number
                    * and the peer for EMBER_TURN_CHANNEL_REUSE_GUARD */
  gboolean lapsed; /* expired and no longer counted as a channel */
  gboolean announced; /* CHANNEL_BOUND handed out, no UNBOUND since */
} RelayChannel;

typedef struct {
  guint listener;
  EmberAddr addr;
} RelayClientKey;

typedef struct {
  RelayClientKey client; /* first: the hash table key points here */
  char *username;
  guint8 key[RELAY_KEY_LEN];
  guint8 transaction_id[EMBER_STUN_TRANSACTION_ID_LEN];
  guint16 port4, port6;  /* 0: that family was not allocated */
  gint64 expires;
  GArray *permissions;   /* RelayPermission, NULL until the first */
  GArray *channels;      /* RelayChannel, NULL until the first */
} RelayAllocation;

typedef struct {
  EmberRelayCommandKind kind;
  guint listener;
  guint8 family;
  guint16 port;
  EmberAddr to;
  const guint8 *external; /* data in the caller's input buffer, or NULL */
  gsize offset;           /* else: data at arena + offset */
  gsize len;
  gint64 deadline;
  EmberAddr client;
  guint16 channel;
} RelayCommand;

typedef struct {
  guint8 family;
  guint8 addr[16];
  gint64 tokens_milli; /* thousandths of a token */
  gint64 last;
} RelayBucket;

struct _EmberRelayServer {
  EmberRelayServerConfig config;
  char *realm;
  char *software;
  guint8 *secret;
  gsize secret_len;
  guint8 nonce_key[32];
  gint64 unix_time;

  GHashTable *users;        /* name -> RelayUser */
  GArray *allow;            /* EmberCidr, host bits clear */

  GHashTable *by_client;    /* RelayClientKey* -> RelayAllocation* (owned) */
  GHashTable *by_port;      /* family << 16 | port -> RelayAllocation* */
  GHashTable *per_user;     /* username -> count */
  GHashTable *buckets;      /* RelayBucket* (key == value, owned) */

  GArray *commands;         /* RelayCommand */
  guint command_head;
  GByteArray *arena;

  gint64 next_deadline;     /* earliest expiry known, G_MAXINT64 if none */
  gint64 announced_wake;    /* last WAKE deadline handed out */

  EmberRelayServerStats stats;
};

typedef struct {
  char *password;
  guint8 key[RELAY_KEY_LEN];
} RelayUser;

/* ---- addr helpers --------------------------------------------------- */

static inline gsize
relay_addr_len (const EmberAddr *a)
{
  return a->family == EMBER_ADDR_IPV4 ? 4 : 16;
}

static inline gboolean
relay_addr_ip_equal (const EmberAddr *a, const EmberAddr *b)
{
  return a->family == b->family && memcmp (a->addr, b->addr, relay_addr_len (a)) == 0;
}

static inline gboolean
relay_addr_equal (const EmberAddr *a, const EmberAddr *b)
{
  return a->port == b->port && relay_addr_ip_equal (a, b);
}

/* ---- server.c: output ----------------------------------------------- */

/* Space for one outgoing datagram in the arena; commit with its length. */
guint8 *relay_out_begin (EmberRelayServer *s, gsize max);
void relay_out_to_client (EmberRelayServer *s, guint listener, const EmberAddr *to, gsize len);
void relay_out_to_peer (EmberRelayServer *s, guint8 family, guint16 port, const EmberAddr *to,
                        const guint8 *external, gsize len);
void relay_out_control (EmberRelayServer *s, EmberRelayCommandKind kind, guint8 family,
                        guint16 port);
void relay_note_deadline (EmberRelayServer *s, gint64 deadline);
/* CHANNEL_BOUND for every channel of `a` that may relay now (again, with
 * its current deadline), or only for those to `peer`'s IP when peer is
 * not NULL; CHANNEL_UNBOUND for an announced one that may not. */
void relay_channels_announce (EmberRelayServer *s, RelayAllocation *a, gint64 now,
                              const EmberAddr *peer);
/* CHANNEL_UNBOUND for channel `c` of `a` if it was announced. */
void relay_channel_unannounce (EmberRelayServer *s, RelayAllocation *a, RelayChannel *c);

/* ---- turn.c: methods ------------------------------------------------- */

void relay_handle_request (EmberRelayServer *s, gint64 now, guint listener, const EmberAddr *from,
                           const EmberStunMessage *msg);
void relay_handle_send_indication (EmberRelayServer *s, gint64 now, RelayAllocation *a,
                                   const EmberStunMessage *msg);
void relay_handle_channel_data (EmberRelayServer *s, gint64 now, RelayAllocation *a,
                                const guint8 *buf, gsize len);

/* ---- auth.c ---------------------------------------------------------- */

/* Writes a fresh nonce for `client` into out (RELAY_NONCE_LEN chars). */
#define RELAY_NONCE_LEN 32
void relay_nonce_make (EmberRelayServer *s, gint64 now, const EmberAddr *client,
                       char out[RELAY_NONCE_LEN + 1]);
gboolean relay_nonce_valid (EmberRelayServer *s, gint64 now, const EmberAddr *client,
                            const guint8 *nonce, gsize len);
/* The long-term key of `username`, or FALSE if unknown or expired. */
gboolean relay_credentials_key (EmberRelayServer *s, const guint8 *username, gsize len,
                                guint8 key[RELAY_KEY_LEN]);
/* Takes one token from the source's bucket; FALSE: drop the request. */
gboolean relay_rate_allow (EmberRelayServer *s, gint64 now, const EmberAddr *from);
void relay_rate_expire (EmberRelayServer *s, gint64 now);
void relay_user_free (gpointer user);

/* ---- allocation.c ---------------------------------------------------- */

RelayAllocation *relay_allocation_find (EmberRelayServer *s, guint listener,
                                        const EmberAddr *client);
RelayAllocation *relay_allocation_by_port (EmberRelayServer *s, guint8 family, guint16 port);
/* Picks free ports (even if asked) and registers the allocation, emitting
 * CREATE commands. FALSE when no port is free. */
RelayAllocation *relay_allocation_create (EmberRelayServer *s, guint listener,
                                          const EmberAddr *client, const char *username,
                                          const guint8 *key, gboolean want4, gboolean want6,
                                          gboolean even_port);
void relay_allocation_destroy (EmberRelayServer *s, RelayAllocation *a);
guint relay_allocation_user_count (EmberRelayServer *s, const char *username);
void relay_allocation_free_all (EmberRelayServer *s);
/* Permission for the peer's IP, or NULL; `now` filters expired ones. */
gboolean relay_permission_active (const RelayAllocation *a, gint64 now, const EmberAddr *peer);
/* When the active permission for the peer's IP ends, or 0 for none. */
gint64 relay_permission_expiry (const RelayAllocation *a, gint64 now, const EmberAddr *peer);
/* FALSE when the per-allocation cap is reached. */
gboolean relay_permission_install (EmberRelayServer *s, RelayAllocation *a, gint64 now,
                                   const EmberAddr *peer);
RelayChannel *relay_channel_by_number (const RelayAllocation *a, guint16 number);
RelayChannel *relay_channel_by_peer (const RelayAllocation *a, const EmberAddr *peer);
RelayChannel *relay_channel_add (EmberRelayServer *s, RelayAllocation *a, guint16 number,
                                 const EmberAddr *peer);
/* Drops expired allocations/permissions/channels; recomputes the
 * earliest deadline. */
void relay_allocations_expire (EmberRelayServer *s, gint64 now);

/* ---- peer_filter.c --------------------------------------------------- */

/* IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms
 * become plain IPv4 so the IPv4 rules apply to them. */
void relay_addr_normalise (const EmberAddr *in, EmberAddr *out);
