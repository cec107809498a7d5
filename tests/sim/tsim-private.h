/* tsim-private — state of the tunnel simulator shared by tsim-world.c
 * (run loop, faults, observations), tsim-portal.c (the model portal),
 * tsim-shell.c (relay shells, the client and gateway shells) and
 * tsim-site.c (resource networks, packets). Test support. */
#pragma once

#include "tsim.h"
#include "sim-private.h"
#include "net/cidr.h"
#include "portal/messages.h"
#include "tunnel/client.h"
#include "tunnel/node.h"
#include "packet/packet.h"

#define TSIM_MAX_GATEWAYS 2
#define TSIM_PORT 51820
#define TSIM_MAX_PACKETS 65536
#define TSIM_TO_CLIENT 0u     /* portal queue destinations; gateways are 1 + site */
#define TSIM_TO_PORTAL 99u

/* The TURN clients of one tunnel node: what turn.so is for emberd. */
typedef struct {
  EmberTurnClient *tc;
  EmberAddr server;
  char user[EMBER_TUNNEL_CREDENTIAL_MAX];
  char pass[EMBER_TUNNEL_CREDENTIAL_MAX];
} ShellRelay;

typedef struct {
  TSim *sim;
  SimHost *host;
  EmberAddr sock;
  SimRng rng;
  EmberTunnelNode *node;
  ShellRelay r[EMBER_TUNNEL_MAX_RELAYS];
  /* The TURN clients' earliest deadline, recomputed only after the
   * shell touched them (reading it is not free). */
  gint64 deadline;
  gboolean dirty;
} RelayShell;

typedef struct _TSimGateway TSimGateway;

/* Ground truth of one gateway: what the portal told it (on delivery). */
typedef struct {
  gboolean active;
  gint64 expires;
  char filters[128];
} TruthAuth;

typedef struct {
  gint64 sent;
  gint64 reached;       /* reached a resource network */
  gint64 outcome_at;
  TSimOutcome outcome;
  TSimProto proto;
} PacketRecord;

/* The model portal's view of an authorization. */
typedef struct {
  TSimResource res;
  guint site;
  gint64 expires;
  char ref[32];
  EmberPortalIceCredentials client_ice, gateway_ice;
  gboolean answered;    /* flow_authorized came back, the client was told */
} PortalAuth;

typedef struct {
  gint64 at;
  guint to;
  guint from;
  EmberPortalMessage msg;
} PortalMsg;

struct _TSim {
  TSimConfig cfg;
  SimWorld *w;                 /* net, relays, clock, rng (sim.h's world) */
  SimRng rng;
  /* portal */
  gboolean allowed[TSIM_N_RES];
  /* Listed to the client, but every request is refused (a policy whose
   * condition fails now: time window, source address). */
  gboolean conditional[TSIM_N_RES];
  gboolean present[TSIM_N_RES];
  char filters[TSIM_N_RES][128];
  GPtrArray *auths;            /* PortalAuth* */
  guint creds_counter;
  guint8 psk[TSIM_MAX_GATEWAYS][32];
  /* The last credentials of the client-gateway pair (rule 2). */
  gboolean pair_has[TSIM_MAX_GATEWAYS];
  EmberPortalIceCredentials pair_client[TSIM_MAX_GATEWAYS], pair_gateway[TSIM_MAX_GATEWAYS];
  GQueue queue;                /* PortalMsg*, by `at` */
  GQueue held;                 /* to/from the client while it is cut off */
  gboolean client_cut;
  gboolean lose_candidate[1 + TSIM_MAX_GATEWAYS];
  guint n_authorizations;
  /* client */
  RelayShell client;
  EmberClientTunnel *ct;
  guint64 client_seed;
  EmberAddr tun4, tun6;
  guint roams;
  guint gateway_boots;         /* a restarted gateway binds port TSIM_PORT + this */
  /* gateways (one per site) */
  TSimGateway *gw[TSIM_MAX_GATEWAYS];
  TruthAuth truth[TSIM_MAX_GATEWAYS][TSIM_N_RES];
  /* traffic */
  PacketRecord *packets;
  guint n_packets;
  guint64 site_packets;
  guint64 leaks;
  char leak_what[256];
  /* agreement */
  gint64 disagree_since[TSIM_MAX_GATEWAYS];
  gint64 max_disagree;
};

/* tsim-world.c: the engine's functions as the `wg` plugin's vtable. */
extern const EmberWgVtable tsim_wg_vtable;

/* tsim-shell.c: relay shells */
void relay_shell_init (RelayShell *s, TSim *sim, SimHost *host, const EmberAddr *sock,
                       EmberTunnelNode *node, guint64 seed);
void relay_shell_clear (RelayShell *s);
/* Applies the node's relay commands and the TURN clients' events. */
void relay_shell_sync (RelayShell *s);
/* A datagram from a relay server: TRUE when it was the relay's (then
 * relayed data, if any, is in *data with *local the relayed address). */
gboolean relay_shell_input (RelayShell *s, const EmberAddr *from, const guint8 *buf, gsize len,
                            EmberAddr *local, EmberAddr *peer, const guint8 **data,
                            gsize *data_len);
void relay_shell_send (RelayShell *s, const EmberTunnelTransmit *tx, const guint8 *buf);
gint64 relay_shell_poll_timeout (RelayShell *s);
void relay_shell_timeout (RelayShell *s);

/* tsim-shell.c: the client */
void tsim_client_start (TSim *sim);
void tsim_client_stop (TSim *sim);
void tsim_client_flush (TSim *sim);
gint64 tsim_client_poll_timeout (TSim *sim);
void tsim_client_timeout (TSim *sim);
void tsim_client_portal (TSim *sim, const EmberPortalMessage *msg);
void tsim_client_tun_send (TSim *sim, guint8 *buf, gsize cap, gsize off, gsize len);

/* tsim-gateway.c: a gateway (one per site) */
TSimGateway *tsim_gateway_new (TSim *sim, guint site, guint boot, SimHost *host);
void tsim_gateway_free (TSimGateway *gw);
void tsim_gateway_flush (TSimGateway *gw);
gint64 tsim_gateway_poll_timeout (TSimGateway *gw);
void tsim_gateway_timeout (TSimGateway *gw);
void tsim_gateway_portal (TSimGateway *gw, const EmberPortalMessage *msg);
void tsim_gateway_public_key (TSimGateway *gw, guint8 out[32]);
void tsim_gateway_addresses (guint site, EmberAddr *tun4, EmberAddr *tun6);
SimHost *tsim_gateway_host (TSimGateway *gw);
gboolean tsim_gateway_conn_up (TSimGateway *gw);
guint64 tsim_gw_refused (TSimGateway *gw);
/* The gateway's site network hands a reply back. */
void tsim_gateway_from_network (TSimGateway *gw, guint8 *buf, gsize cap, gsize off, gsize len);

/* tsim-portal.c */
void tsim_portal_init (TSim *sim);
void tsim_portal_clear (TSim *sim);
/* A device sends to the portal: from TSIM_TO_CLIENT or 1 + site. Takes
 * ownership of *msg's contents. */
void tsim_portal_receive (TSim *sim, guint from, EmberPortalMessage *msg);
void tsim_portal_deliver_due (TSim *sim);
gint64 tsim_portal_next (const TSim *sim);
void tsim_portal_client_init (TSim *sim);
void tsim_portal_gateway_init (TSim *sim, guint site);
void tsim_portal_push_relays (TSim *sim);
void tsim_portal_expire (TSim *sim);
/* Resource catalogue */
const char *tsim_res_id (TSimResource res);
guint tsim_res_site (TSimResource res);
/* The CIDRs of a resource (1, or 2 for the internet). */
guint tsim_res_cidrs (TSimResource res, EmberCidr out[2]);
void tsim_res_fill (const TSim *sim, TSimResource res, EmberPortalResource *out);
gboolean tsim_filters_allow (const char *filters, guint proto, guint16 port);
const char *tsim_client_id (void);
const char *tsim_gateway_id (guint site);
void tsim_client_public_key (TSim *sim, guint8 out[32]);

/* tsim-site.c */
/* A packet a gateway forwarded to its site network. */
void tsim_site_receive (TSim *sim, guint site, const guint8 *pkt, gsize len);
/* A packet the client tunnel wrote to its TUN. */
void tsim_tun_receive (TSim *sim, const guint8 *pkt, gsize len);
