/* relay/server — the sans-IO core of ember-relay, a STUN/TURN server
 * (RFC 8489 Binding, RFC 8656 Allocate/Refresh/CreatePermission/
 * ChannelBind, Send/Data indications and ChannelData, UDP relaying over
 * IPv4, IPv6 and dual allocations).
 *
 * It owns every allocation, permission and channel, the static users, the
 * shared REST secret, the nonce key and the per-source rate limiter. It
 * does no I/O and reads no clock (seed 003's relay design): the I/O shell
 * feeds it datagrams with a monotonic `now` in microseconds, tells it the
 * wall-clock unix time (for time-limited usernames), and after every
 * batch drains commands with ember_relay_server_poll_command(): send to a
 * client, send from an allocation port to a peer, open or close an
 * allocation socket, wake at T. Randomness comes from the injected RNG.
 *
 * Not thread-safe: one thread (the shell's loop) calls everything.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"

G_BEGIN_DECLS

typedef struct _EmberRelayServer EmberRelayServer;

/* Fills `buf` with `len` random bytes (the shell passes a CSPRNG). */
typedef void (*EmberRelayRngFunc) (gpointer user_data, guint8 *buf, gsize len);

typedef struct {
  const char *realm;            /* REALM for long-term credentials */
  const char *software;         /* SOFTWARE in authenticated responses, or NULL */
  /* Shared secret of the time-limited username scheme:
   * username = "<unix expiry>:<id>", password = base64(HMAC-SHA1(secret,
   * username)). NULL/0: only static users. */
  const guint8 *secret;
  gsize secret_len;
  /* Relayed addresses announced to clients; family EMBER_ADDR_NONE when
   * that family is not offered. The port is ignored. */
  EmberAddr public_ip4;
  EmberAddr public_ip6;
  guint16 port_min, port_max;   /* allocation port range, inclusive */
  guint max_allocations_per_user;
  guint max_allocations;        /* server-wide cap (508 beyond it) */
  guint max_permissions;        /* per allocation */
  guint max_channels;           /* per allocation */
  /* Token bucket per source IP for requests answered without valid
   * MESSAGE-INTEGRITY: `unauth_rate` per second, bursts of `unauth_burst`. */
  guint unauth_rate;
  guint unauth_burst;
  gint64 nonce_lifetime_us;
  /* Accept channel numbers 0x5000-0x7FFF of RFC 5766 (older clients such
   * as coturn's tools use them); RFC 8656 allows 0x4000-0x4FFF only. */
  gboolean rfc5766_channels;
  /* Channel binding lifetime in seconds; 0: RFC 8656's 600. Shorter only
   * so tests can watch a binding expire. */
  guint channel_lifetime;
  EmberRelayRngFunc rng;
  gpointer rng_data;
} EmberRelayServerConfig;

/* Fills in the defaults (lifetimes from core/stun/wire.h, 49152-65535,
 * 10 allocations per user, 50 unauthenticated requests/s burst 100, one
 * hour nonces). realm/rng remain to be set by the caller. */
void ember_relay_server_config_init (EmberRelayServerConfig *config);

EmberRelayServer *ember_relay_server_new (const EmberRelayServerConfig *config, GError **error);
void ember_relay_server_free (EmberRelayServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberRelayServer, ember_relay_server_free)

/* A static long-term user. */
gboolean ember_relay_server_add_user (EmberRelayServer *server, const char *name,
                                      const char *password, GError **error);
/* Exempts a CIDR ("127.0.0.1/32", "::1/128", "10.0.0.0/8") from the peer
 * deny list. */
gboolean ember_relay_server_allow_peer (EmberRelayServer *server, const char *cidr,
                                        GError **error);
/* Whether relaying to `peer` is allowed (deny list after normalising
 * IPv4-mapped/-compatible IPv6 forms, then the allow list). */
gboolean ember_relay_server_peer_allowed (const EmberRelayServer *server, const EmberAddr *peer);

/* Wall-clock unix seconds, used only to check the expiry in time-limited
 * usernames. The shell sets it before each batch. */
void ember_relay_server_set_unix_time (EmberRelayServer *server, gint64 unix_seconds);

/* A datagram from a client to the listening socket `listener` (an index
 * the shell chose; it names the server side of the 5-tuple). `buf` must
 * stay valid until the commands are drained: relayed payloads are not
 * copied. */
void ember_relay_server_handle_client_input (EmberRelayServer *server, gint64 now,
                                             guint listener, const EmberAddr *from,
                                             const guint8 *buf, gsize len);
/* A datagram from a peer to allocation port `port` of `family`
 * (EMBER_ADDR_IPV4/6). */
void ember_relay_server_handle_peer_input (EmberRelayServer *server, gint64 now, guint8 family,
                                           guint16 port, const EmberAddr *from,
                                           const guint8 *buf, gsize len);
/* Expires allocations, permissions, channels and idle rate buckets. */
void ember_relay_server_handle_timeout (EmberRelayServer *server, gint64 now);
/* The shell could not open an allocation socket it was told to create:
 * the allocation using it is dropped (its client will see 437 later). */
void ember_relay_server_allocation_failed (EmberRelayServer *server, guint8 family, guint16 port);

typedef enum {
  EMBER_RELAY_CMD_SEND_TO_CLIENT = 1, /* listener, to, data/len */
  EMBER_RELAY_CMD_SEND_TO_PEER,       /* family, port (allocation socket), to, data/len */
  EMBER_RELAY_CMD_CREATE_ALLOCATION,  /* family, port: bind a UDP socket */
  EMBER_RELAY_CMD_FREE_ALLOCATION,    /* family, port: close it */
  EMBER_RELAY_CMD_WAKE,               /* deadline: call handle_timeout then */
  /* A channel may relay until `deadline` (the earliest of its binding's,
   * its permission's and its allocation's expiry) unless announced again
   * or unbound first: listener and client (the client side), family and
   * port (the allocation socket of the peer's family), to (the peer),
   * channel. Announced again whenever that deadline moves (ChannelBind,
   * CreatePermission, Refresh). For a shell that relays bound channels
   * itself (ember-relay's XDP fast path); others ignore it. */
  EMBER_RELAY_CMD_CHANNEL_BOUND,
  /* That channel may no longer relay (its binding, permission or
   * allocation ended): same fields, deadline unused. */
  EMBER_RELAY_CMD_CHANNEL_UNBOUND,
} EmberRelayCommandKind;

typedef struct {
  EmberRelayCommandKind kind;
  guint listener;
  guint8 family;
  guint16 port;
  EmberAddr to;
  const guint8 *data;  /* valid until the next handle_*() call */
  gsize len;
  gint64 deadline;
  EmberAddr client;    /* CHANNEL_*: the client's address */
  guint16 channel;     /* CHANNEL_*: the channel number */
} EmberRelayCommand;

/* Hands out the next pending command, in order; FALSE when none is left.
 * (poll_* on a state machine only hands out output, it does no I/O.) */
gboolean ember_relay_server_poll_command (EmberRelayServer *server, EmberRelayCommand *out);
/* The earliest deadline of any object, or G_MAXINT64. */
gint64 ember_relay_server_poll_timeout (const EmberRelayServer *server);

typedef struct {
  guint64 allocations;        /* gauge */
  guint64 permissions;        /* gauge */
  guint64 channels;           /* gauge */
  guint64 allocations_created;
  guint64 packets_to_peer;
  guint64 bytes_to_peer;
  guint64 packets_to_client;
  guint64 bytes_to_client;
  guint64 auth_failures;      /* bad integrity, unknown user, expired username */
  guint64 stale_nonces;
  guint64 rate_limited;       /* unauthenticated requests dropped by the bucket */
  guint64 forbidden_peers;    /* peers refused by the deny list */
  guint64 drops;              /* datagrams dropped: malformed, no allocation,
                               * no permission, no channel */
  guint64 bindings;
} EmberRelayServerStats;

void ember_relay_server_get_stats (const EmberRelayServer *server, EmberRelayServerStats *stats);

G_END_DECLS
