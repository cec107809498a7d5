/* sim — a deterministic in-process network simulator for ICE/TURN.
 *
 * Virtual hosts with IPv4 addresses, NATs (endpoint-independent,
 * address-dependent and address-and-port-dependent mapping, each with its
 * own filtering), firewalls that drop direct UDP between the client and
 * the gateway, per-host latency, loss and partitions; relays running the
 * real ember-relay server core; a portal that passes signalling as
 * delayed messages and pushes the relay set. A client and a gateway node
 * each run the ICE agent and one TURN client per relay, with the
 * reconnect policy core/tunnel will use: on failure both restart ICE
 * (new ufrag/pwd, fresh candidates) through signalling.
 *
 * Time is virtual (µs); everything is drawn from one seeded PRNG, so a
 * seed replays exactly. Test-support code: single-threaded.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"

G_BEGIN_DECLS

/* ---- PRNG: xoshiro256** seeded by splitmix64 ------------------------- */
typedef struct {
  guint64 s[4];
} SimRng;

void sim_rng_seed (SimRng *rng, guint64 seed);
guint64 sim_rng_next (SimRng *rng);
/* Uniform in [0, n). */
guint64 sim_rng_below (SimRng *rng, guint64 n);
gboolean sim_rng_chance (SimRng *rng, double p);
/* Adapter with the shape EmberIceRng/EmberTurnRng expect. */
guint64 sim_rng_next_cb (gpointer rng);

/* ---- Network model --------------------------------------------------- */

typedef enum {
  SIM_NAT_NONE = 0,          /* a public host */
  SIM_NAT_ENDPOINT_INDEPENDENT,
  SIM_NAT_ADDRESS_DEPENDENT,
  SIM_NAT_ADDRESS_PORT_DEPENDENT,  /* "symmetric" when used for mapping */
} SimNatKind;

typedef struct _SimNet SimNet;
typedef struct _SimHost SimHost;

/* A datagram arrives at `host` on `local` (its own address) from `from`. */
typedef void (*SimDeliverFunc) (SimHost *host, gint64 now, const EmberAddr *local,
                                const EmberAddr *from, const guint8 *buf, gsize len,
                                gpointer user_data);

struct _SimHost {
  guint id;
  guint32 ip;          /* the host's own address (private behind a NAT) */
  SimNatKind mapping;  /* NONE: no NAT */
  SimNatKind filtering;
  guint32 nat_ip;      /* the NAT's public address */
  gint64 latency;      /* one-way, to the core of the network */
  gboolean down;       /* drops everything in and out */
  gboolean is_node;    /* client or gateway (for the direct-UDP firewall) */
  SimDeliverFunc deliver;
  gpointer user_data;
};

SimNet *sim_net_new (SimRng *rng);
void sim_net_free (SimNet *net);
/* Adds a host. For a NATed host, `nat_ip` is the NAT's public address. */
SimHost *sim_net_add_host (SimNet *net, guint32 ip, SimNatKind mapping, SimNatKind filtering,
                           guint32 nat_ip, gint64 latency, SimDeliverFunc deliver,
                           gpointer user_data);
void sim_net_send (SimNet *net, gint64 now, SimHost *from_host, const EmberAddr *from,
                   const EmberAddr *to, const guint8 *buf, gsize len);
/* Delivers every datagram due at or before `now`. */
void sim_net_run_until (SimNet *net, gint64 now);
gint64 sim_net_next_delivery (const SimNet *net);
void sim_net_set_loss (SimNet *net, double loss);
/* Drops UDP between two node hosts (client <-> gateway). */
void sim_net_set_block_direct (SimNet *net, gboolean block);
/* Cuts (or heals) all traffic between two hosts. */
void sim_net_set_partition (SimNet *net, guint host_a, guint host_b, gboolean cut);
/* NAT rebinding: forgets every mapping of the host's NAT; new mappings
 * get new external ports. */
void sim_net_nat_rebind (SimNet *net, SimHost *host);
guint64 sim_net_get_delivered (const SimNet *net);

EmberAddr sim_addr (guint32 ip, guint16 port);
#define SIM_IP(a, b, c, d) (((guint32) (a) << 24) | ((guint32) (b) << 16) | ((guint32) (c) << 8) | (guint32) (d))

/* ---- The world: portal, relays, client and gateway ------------------- */

typedef struct _SimWorld SimWorld;

typedef struct {
  SimNatKind client_mapping, client_filtering;
  SimNatKind gateway_mapping, gateway_filtering;
  gboolean block_direct;
  double loss;
  guint n_relays;                /* relays present at start (≤ 8) */
  gint64 signalling_latency;     /* portal one-way */
  /* The nodes' server-reflexive candidates name another port than the
   * mapping of their ICE socket, as emberd's do today (turn.so reports
   * the mapping of its own socket): right for the relays' permissions,
   * useless as a path. A direct path is then found only through
   * peer-reflexive candidates learned from checks that came through a
   * relay, while the relayed pairs already work. */
  gboolean srflx_other_socket;
  /* Each node also offers this many host candidates on networks the
   * peer cannot reach (an emberd gateway offers its LAN addresses):
   * pairs that rank high, take their turn in the pacing and never
   * answer. */
  guint extra_hosts;
} SimWorldConfig;

void sim_world_config_init (SimWorldConfig *config);
SimWorld *sim_world_new (const SimWorldConfig *config, guint64 seed);
void sim_world_free (SimWorld *world);
/* Starts the client's first connection attempt. */
void sim_world_connect (SimWorld *world);
/* Runs the simulation until virtual time `until`. */
void sim_world_run_until (SimWorld *world, gint64 until);
gint64 sim_world_now (const SimWorld *world);

/* Faults. Relay indices are the order of creation (A=0, B=1, ...). */
guint sim_world_add_relay (SimWorld *world);  /* returns its index */
void sim_world_remove_relay (SimWorld *world, guint index);
void sim_world_reboot_relay (SimWorld *world, guint index);
void sim_world_partition_client_portal (SimWorld *world, gboolean cut);
void sim_world_partition_direct (SimWorld *world, gboolean cut);
void sim_world_partition_node_relay (SimWorld *world, gboolean client, guint relay, gboolean cut);
void sim_world_nat_rebind (SimWorld *world, gboolean client);
/* The next candidate message in flight from this side is lost. */
void sim_world_lose_next_candidate (SimWorld *world, gboolean from_client);
/* Forces the node's sampled relay for its next connection (-1: random). */
void sim_world_force_relay (SimWorld *world, gboolean client, gint relay);

/* Observations. */
typedef enum {
  SIM_PAIR_NONE = 0,
  SIM_PAIR_HOST,
  SIM_PAIR_SRFLX,
  SIM_PAIR_RELAY,
} SimPairKind;

typedef struct {
  gboolean connected;
  guint generation;
  SimPairKind local_kind, remote_kind;  /* of the selected pair */
  gint local_relay, remote_relay;       /* relay index when relayed, else -1 */
  gint64 last_data_rx;                  /* when data last arrived, or 0 */
  guint64 data_rx;
  guint restarts;
} SimNodeStatus;

void sim_world_status (const SimWorld *world, gboolean client, SimNodeStatus *out);
/* Both sides connected on the same generation and data arrived at both
 * within the last 5.5 s (five data packets, so 1 % loss cannot fake an outage). */
gboolean sim_world_healthy (const SimWorld *world);
/* Longest stretch (µs) during which exactly one side was connected (or
 * both on different generations), and the current stretch's start. */
gint64 sim_world_max_mismatch (const SimWorld *world);
/* When both first became healthy, or 0. */
gint64 sim_world_first_healthy (const SimWorld *world);
const char *sim_pair_kind_to_string (SimPairKind kind);
/* Whether the real relay server core drives the relays. */
gboolean sim_world_uses_real_relay (void);
/* Prints both agents' check lists to stderr (failure reports). */
void sim_world_dump (const SimWorld *world);

G_END_DECLS
