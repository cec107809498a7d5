/* tsim — the tunnel simulator: a client tunnel and gateway tunnels
 * (core/tunnel) on the simulated network of sim.h, with relays running
 * the real ember-relay core, a model portal that implements the portal
 * protocol's semantics in memory (docs/portal-protocol.md: resources,
 * policies, authorizations, candidates, relay presence, revocation), and
 * resource networks behind each gateway that answer real IP packets
 * (ICMP echo, UDP, TCP SYN).
 *
 * Everything the test observes is ground truth kept outside the state
 * machines: which (client, resource) each gateway was told it may serve
 * (as delivered, not as intended), every packet that reached a resource
 * network, and the outcome of every packet the test sent.
 *
 * Virtual time (µs); one seeded PRNG; single-threaded test support.
 */
#pragma once

#include <glib.h>
#include "sim.h"

G_BEGIN_DECLS

typedef struct _TSim TSim;

/* The resource catalogue every simulation starts from. */
typedef enum {
  TSIM_RES_WEB = 0,     /* 10.20.0.0/24, site 0 */
  TSIM_RES_DB,          /* 10.21.0.0/24, site 0 */
  TSIM_RES_SECRET,      /* 10.22.0.0/24, site 0, listed but its policy's
                         * condition fails: requests are forbidden */
  TSIM_RES_FAR,         /* 10.40.0.0/24, site 1 */
  TSIM_RES_V6,          /* fd00:20::/64, site 0 */
  TSIM_RES_INTERNET,    /* 0.0.0.0/0 + ::/0, site 0 */
  TSIM_N_RES
} TSimResource;

typedef struct {
  SimNatKind client_mapping, client_filtering;
  SimNatKind gateway_mapping, gateway_filtering;
  gboolean block_direct;      /* no direct UDP between client and gateways */
  double loss;
  guint n_relays;             /* at start, ≤ 8 */
  guint n_sites;              /* 1 or 2; one gateway per site */
  gint64 portal_latency;      /* one way */
  gint64 authz_ttl;           /* authorization lifetime */
} TSimConfig;

void tsim_config_init (TSimConfig *config);
/* The site a resource of the catalogue lives in. */
guint tsim_res_site_of (TSimResource res);
TSim *tsim_new (const TSimConfig *config, guint64 seed);
void tsim_free (TSim *sim);
void tsim_run_until (TSim *sim, gint64 until);
gint64 tsim_now (const TSim *sim);

/* ---- Traffic from the client's TUN ------------------------------------ */

typedef enum {
  TSIM_ICMP = 0,   /* echo request */
  TSIM_UDP,
  TSIM_TCP,        /* SYN */
} TSimProto;

typedef enum {
  TSIM_PENDING = 0,
  TSIM_ANSWERED,        /* the resource's reply reached the client's TUN */
  TSIM_PROHIBITED,      /* ICMP administratively prohibited came back */
  TSIM_NO_ROUTE,        /* ICMP no route / net unreachable came back */
  TSIM_OTHER_ICMP,
} TSimOutcome;

/* Sends one packet from the client's tunnel address (v4 or v6 by the
 * destination) to dst:port; returns its id. */
guint tsim_send (TSim *sim, TSimProto proto, const char *dst, guint16 port);
/* The same with another source address (a spoofing client). */
guint tsim_send_spoofed (TSim *sim, const char *src, const char *dst);
TSimOutcome tsim_outcome (const TSim *sim, guint id, gint64 *at);
/* When packet `id` reached a resource network, or 0. */
gint64 tsim_reached (const TSim *sim, guint id);
const char *tsim_outcome_to_string (TSimOutcome outcome);

/* ---- Portal-side actions --------------------------------------------- */

void tsim_policy_grant (TSim *sim, TSimResource res);
void tsim_policy_revoke (TSim *sim, TSimResource res);
/* Filters: "" for none (all traffic), else e.g. "tcp:80;icmp". */
void tsim_resource_set_filters (TSim *sim, TSimResource res, const char *filters);
void tsim_resource_remove (TSim *sim, TSimResource res);
void tsim_resource_add (TSim *sim, TSimResource res);
void tsim_portal_partition (TSim *sim, gboolean cut);
void tsim_portal_restart (TSim *sim);
/* Drops the next candidate message from the client (TRUE) or a gateway. */
void tsim_portal_lose_next_candidate (TSim *sim, gboolean from_client);

/* ---- Faults on the data path ---------------------------------------- */

guint tsim_relay_add (TSim *sim);
void tsim_relay_remove (TSim *sim, guint index);
void tsim_relay_reboot (TSim *sim, guint index);
guint tsim_n_relays (const TSim *sim);
gboolean tsim_relay_present (const TSim *sim, guint index);
void tsim_gateway_restart (TSim *sim, guint site);
void tsim_client_roam (TSim *sim);
void tsim_internet_enable (TSim *sim, gboolean enabled);
void tsim_partition_direct (TSim *sim, gboolean cut);
void tsim_nat_rebind (TSim *sim, gboolean client);
void tsim_set_loss (TSim *sim, double loss);

/* ---- Observations ------------------------------------------------------ */

typedef struct {
  gboolean client_up;          /* the client's connection to this gateway */
  gboolean gateway_up;         /* the gateway's connection to the client */
  guint generation;            /* the client side's */
  gboolean relayed;            /* the client's selected pair uses a relay */
  guint n_client_conns;        /* the client's connections, all gateways */
} TSimConnStatus;

void tsim_conn_status (const TSim *sim, guint site, TSimConnStatus *out);
/* Packets that reached a resource network while its gateway had not
 * been told (or no longer was told) that the client may reach them;
 * the first one's description in *what (static buffer, may be NULL). */
guint64 tsim_leaks (const TSim *sim, const char **what);
/* Longest stretch during which the client's and a gateway's connection
 * state disagreed (one up, the other not). */
gint64 tsim_max_disagreement (const TSim *sim);
/* Packets that reached site networks, and packets the gateways refused. */
guint64 tsim_site_packets (const TSim *sim);
guint64 tsim_gateway_refused (const TSim *sim, guint site);
/* Authorizations the portal created (answered to the client). */
guint tsim_authorizations (const TSim *sim);
/* For failure reports. */
void tsim_dump (const TSim *sim);

G_END_DECLS
