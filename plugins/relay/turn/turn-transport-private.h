/* turn-transport-private — what the files of the TURN transport plugin
 * (turn.so) share: its limits, the backend and relay structures, and the
 * functions one file calls in another. turn-transport.c holds the I/O
 * vtable, the relays and the data path; turn-config.c addresses,
 * configuration and credentials; turn-wake.c the readiness thread, the
 * deadlines and the wakes; turn-control.c EmberRelayControl. Not
 * installed.
 *
 * Threads (see turn-transport.c): everything here is the core's thread's,
 * except the fields of EmberBackend under `lock`, which the readiness
 * thread shares.
 */
#pragma once

#include <sys/socket.h>

#include "ember-plugin.h"
#include "ember-plugin-relay.h"
#include "relay/client/client.h"

#define TURN_DEFAULT_GROUP "turn"
#define TURN_DEFAULT_LOG_DOMAIN "ember-turn"
#define TURN_DEFAULT_USER_ID "ember"
#define TURN_MAX_RELAYS 16
/* Largest datagram to or from a relay; the framing bound covers a Data or
 * Send indication for an IPv6 peer (20 + 24 + 4 + 3 padding + 8 bytes). */
#define TURN_WIRE_MAX 4096
#define TURN_FRAMING_MAX 64
#define TURN_PAYLOAD_MAX (TURN_WIRE_MAX - TURN_FRAMING_MAX)
#define TURN_RECV_BATCH 64
/* Linux's UDP_MAX_SEGMENTS: no more segments in one packet. */
#define TURN_SEGMENTS_MAX 64
/* Datagrams held per relay for peers whose permission is on its way. */
#define TURN_HOLD_MAX 64
#define TURN_HOLD_US (5 * G_TIME_SPAN_SECOND)
/* The most one UDP_SEGMENT message to a relay may carry (IPv4). */
#define TURN_TRAIN_MAX (65535 - 20 - 8)
/* Datagrams kept after EAGAIN: one packet's segments plus control. */
#define TURN_BLOCKED_MAX (2 * TURN_SEGMENTS_MAX)
#define TURN_EVENTS_MAX 256
#define TURN_SOCKET_BUFFER (1 << 20)
/* Time-limited credentials made from `secret` live 24 h and are renewed
 * an hour before they expire (a new allocation: the old one is bound to
 * the old username, RFC 8656 §6.2). */
#define TURN_REST_LIFETIME_S (24 * 3600)
#define TURN_REST_RENEW_BEFORE_S 3600

typedef struct {
  EmberAddr *relays;
  guint n_relays;
  char *username, *password;  /* static long-term credentials */
  char *secret, *user_id;     /* or the time-limited scheme */
  gboolean dual_stack;
  gboolean allocate;
  guint32 fwmark;             /* SO_MARK on the sockets; 0: none */
} TurnConfig;

typedef struct {
  gboolean used;
  EmberAddr peer;
  gint64 since;
  gsize len;
  guint8 data[TURN_PAYLOAD_MAX];
} Held;

typedef struct {
  EmberAddr server;
  EmberTurnClient *client;
  gboolean config_creds;  /* credentials of the config group, renewed with it */
  EmberAddr mapped;       /* last server-reflexive address it reported */
  Held *held;             /* TURN_HOLD_MAX slots, allocated on first use */
  guint8 held_order[TURN_HOLD_MAX];
  guint n_held;
} Relay;

typedef struct {
  EmberAddr to;
  gsize len;
  guint8 data[TURN_WIRE_MAX];
} Blocked;

typedef struct {
  guint64 rx_packets, rx_foreign, rx_invalid, rx_truncated, rx_errors;
  guint64 tx_packets, tx_trains, tx_errors, held, held_drops, held_expired, blocked_drops, event_drops;
} Counters;

struct _EmberBackend {
  char *log_domain;
  TurnConfig config;
  char *cred_user, *cred_pass;  /* for relays without their own */
  gint64 rest_renew_at;         /* monotonic; G_MAXINT64 without a secret */
  gint64 rest_renew_unix;       /* the same in Unix seconds: monotonic time
                                 * stops during suspend, the expiry does not */
  GPtrArray *relays;            /* Relay* */
  int fd4, fd6;
  Blocked *blocked;             /* ring of TURN_BLOCKED_MAX */
  guint blocked_head, blocked_len;
  EmberRelayEvent events[TURN_EVENTS_MAX];
  guint ev_head, ev_len;
  gboolean events_new;          /* queued since the core last drained */
  guint rx_first;               /* which socket poll_recv_many() reads first */
  guint8 (*rx_buf)[TURN_WIRE_MAX];
  guint8 wire[TURN_WIRE_MAX];
  guint8 *train;                /* TURN_TRAIN_MAX: a segmented packet, framed */
  gboolean no_trains;           /* the kernel refused UDP_SEGMENT */
  Counters n;

  /* Shared with the readiness thread. */
  GMutex lock;
  GCond cond;
  GThread *thread;
  int kick_fd;
  gboolean stopping, polling;
  gboolean recv_armed, send_armed;
  int out_fd;                   /* the socket blocked datagrams wait for, or -1 */
  EmberWaker *recv_waker, *send_waker;
  gint64 deadline;
};

/* ---- turn-config.c: addresses, configuration, credentials --------------- */

gboolean turn_addr_eq (const EmberAddr *a, const EmberAddr *b);
gboolean turn_addr_valid (const EmberAddr *a);
socklen_t turn_addr_to_sockaddr (const EmberAddr *a, struct sockaddr_storage *ss);
void turn_addr_from_sockaddr (const struct sockaddr_storage *ss, EmberAddr *a);
/* "192.0.2.1:3478" or "[2001:db8::1]:3478" into `buf`; returns `buf`. */
const char *turn_addr_format (const EmberAddr *a, char *buf, gsize len);

/* The keys of `group` (none, or no `kf`: an empty configuration); FALSE
 * with EMBER_PLUGIN_ERROR_CONFIG "[group] key: ..." for a bad one. */
gboolean turn_config_parse (GKeyFile *kf, const char *group, TurnConfig *out, GError **error);
void turn_config_clear (TurnConfig *c);
/* Wipes and frees a secret string; NULL after. */
void turn_wipe_string (char **s);
/* New time-limited credentials from the secret, handed to every relay
 * that uses the configured ones; the next renewal is scheduled. */
void turn_renew_rest_credentials (EmberBackend *be, gint64 now);

/* ---- turn-wake.c: readiness thread, deadlines, wakes -------------------- */

void turn_kick_locked (EmberBackend *be);
gpointer turn_readiness_thread (gpointer data);
/* The earliest client, held-datagram or renewal deadline. */
gint64 turn_next_deadline (EmberBackend *be);
void turn_run_timers (EmberBackend *be, gint64 now);
void turn_after_control (EmberBackend *be);

/* ---- turn-transport.c: sending and relays ------------------------------- */

int turn_blocked_fd (EmberBackend *be);
Relay *turn_relay_by_server (EmberBackend *be, const EmberAddr *server);
Relay *turn_relay_by_relayed (EmberBackend *be, const EmberAddr *relayed);
void turn_push_event (EmberBackend *be, const EmberRelayEvent *ev);
/* Drops the held datagrams for `peer`, or all of them with NULL. */
void turn_held_drop_where (EmberBackend *be, Relay *r, const EmberAddr *peer);
void turn_relay_drain (EmberBackend *be, Relay *r, gint64 now);
Relay *turn_relay_new (EmberBackend *be, const EmberAddr *server, const char *user,
                       const char *pass, gboolean config_creds, gint64 now);
void turn_relay_free (EmberBackend *be, Relay *r, gint64 now);
gboolean turn_ensure_socket (EmberBackend *be, guint8 family, GError **error);

/* ---- turn-control.c: EmberRelayControl ---------------------------------- */

/* The vtable's get_control: EmberRelayControl for its name, else NULL. */
const void *turn_get_control (const char *name);
