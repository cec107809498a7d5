/* sim-private — world, relay and node state shared by world.c, node.c
 * and relay.c. Test support; single-threaded. */
#pragma once

#include "sim.h"
#include "ice/agent.h"
#include "relay/client/client.h"

#define SIM_MAX_RELAYS 8
#define SIM_RELAY_PORT 3478
#define SIM_NODE_PORT 51820
#define SIM_UNIX_EPOCH G_GINT64_CONSTANT (1700000000)
#define SIM_DATA_INTERVAL (1 * G_TIME_SPAN_SECOND)
#define SIM_DATA_FRESH (5500 * G_TIME_SPAN_MILLISECOND)  /* 5 packets: tolerates loss */
/* Client reconnect policy: re-offer when unanswered, and back off a
 * little between restarts so a storm of failures cannot spin. */
#define SIM_OFFER_TIMEOUT (10 * G_TIME_SPAN_SECOND)
#define SIM_RESTART_BACKOFF (500 * G_TIME_SPAN_MILLISECOND)

typedef struct _SimRelayServer SimRelayServer;

typedef struct {
  SimWorld *w;
  guint index;
  gboolean present;     /* in the portal's relay set */
  SimHost *host;
  guint32 ip;
  SimRelayServer *server;
  guint boot;           /* reboots change the secret, hence credentials */
  guint8 secret[16];
  gint64 wake;
} SimRelay;

typedef struct {
  gint relay;           /* world index, -1 unused */
  EmberTurnClient *tc;
  char user[64], pass[64];
  guint boot;
  EmberAddr mapped;
} NodeRelay;

typedef struct {
  SimWorld *w;
  guint idx;            /* 0 client, 1 gateway */
  gboolean client;
  SimHost *host;
  EmberAddr sock;
  SimRng rng;
  NodeRelay r[SIM_MAX_RELAYS];
  EmberIceAgent *agent;
  guint gen;
  gint sampled;         /* world relay index of this connection's allocation */
  gint force_relay;
  EmberAddr remotes[32];
  guint n_remotes;
  gint64 offer_at;
  gboolean answered;
  gint64 restart_at;    /* client: pending restart, or G_MAXINT64 */
  gint64 next_data;
  guint64 data_seq, data_rx;
  gint64 last_data_rx;
  guint restarts;
  gboolean lose_next_candidate;
  SimPairKind local_kind, remote_kind;
  gint local_relay, remote_relay;
} SimNode;

typedef enum {
  SIG_OFFER = 1,
  SIG_ANSWER,
  SIG_CANDIDATE,
  SIG_INVALIDATE,
  SIG_FAILED,
  SIG_RELAYS,
} SigType;

typedef struct {
  gint64 at;
  SigType type;
  guint to;
  guint gen;
  char ufrag[EMBER_ICE_UFRAG_MAX + 1];
  char pwd[EMBER_ICE_PWD_MAX + 1];
  char cand[256];
} SimSignal;

struct _SimWorld {
  SimWorldConfig cfg;
  SimRng rng;
  SimNet *net;
  gint64 now;
  SimRelay relays[SIM_MAX_RELAYS];
  guint n_relays;
  SimNode nodes[2];
  GQueue signals;       /* SimSignal*, in delivery order */
  GQueue held;          /* to/from the client while it is cut from the portal */
  gboolean client_cut;
  gint64 mismatch_since;
  gint64 max_mismatch;
  gint64 first_healthy;
};

/* relay.c: the real ember-relay core on a simulated host. */
void sim_relay_boot (SimWorld *w, SimRelay *relay);
void sim_relay_halt (SimRelay *relay);
void sim_relay_timeout (SimWorld *w, SimRelay *relay);
void sim_relay_credentials (const SimRelay *relay, gint64 now, guint node, char *user,
                            gsize user_len, char *pass, gsize pass_len);

/* node.c */
void sim_node_init (SimWorld *w, SimNode *node, guint idx);
void sim_node_clear (SimNode *node);
void sim_node_attach (SimNode *node, SimHost *host, const EmberAddr *sock);
void sim_node_restart (SimNode *node);
void sim_node_signal (SimNode *node, const SimSignal *sig);
void sim_node_sync_relays (SimNode *node);
void sim_node_timeout (SimNode *node);
gint64 sim_node_poll_timeout (const SimNode *node);
gboolean sim_node_connected (const SimNode *node);

/* world.c */
void sim_world_signal (SimWorld *w, guint from, const SimSignal *sig);
