/* store — ember-portal's storage, in the model's terms.
 *
 * Owns everything the portal remembers: sites, gateways (one site each),
 * clients, resources (cidr / dns / internet, one site each, optional
 * filters), groups of clients, policies group -> resource (optional
 * conditions), the devices' bearer tokens and the admin API keys (both
 * only as SHA-256 hashes), every device's stable tunnel addresses, and
 * the changes log: each mutation appends its row in the same transaction
 * as the change itself; the log is both the audit trail and the source of
 * the server's fan-out.
 *
 * The calls speak of sites and policies, never of rows. Behind them sits
 * one backend (store-backend.h): SQLite today (store-sqlite.c), PostgreSQL
 * later; the model's SQL is portable and lives outside the backend.
 *
 * Objects are named by stable text ids (UUIDs) on the wire and by their
 * unique names in the CLI and the policy file. Times are Unix seconds
 * (UTC). Calls that judge validity take `now` from the caller, so tests
 * choose the clock; the times the store records itself (creation, change
 * rows, revocation, last seen) are the wall clock's. Mutations take
 * `actor` ("cli", "api:KEY-NAME", "portal") for the changes log.
 *
 * One EmberStore belongs to one thread. Several processes may open the
 * same file (the CLI next to `serve`): WAL mode and a busy timeout make
 * them wait for each other rather than fail.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EMBER_STORE_ERROR (ember_store_error_quark ())
GQuark ember_store_error_quark (void);

typedef enum {
  EMBER_STORE_ERROR_OPEN,      /* the database cannot be opened or migrated */
  EMBER_STORE_ERROR_SCHEMA,    /* its schema is newer than this program */
  EMBER_STORE_ERROR_NOT_FOUND, /* no object of that id or name */
  EMBER_STORE_ERROR_EXISTS,    /* the name is taken */
  EMBER_STORE_ERROR_INVALID,   /* a value the model refuses; the message names it */
  EMBER_STORE_ERROR_BACKEND,   /* the database failed (I/O, busy past the timeout) */
} EmberStoreError;

typedef struct _EmberStore EmberStore;

/* The database file in the state directory. */
#define EMBER_STORE_FILE_NAME "portal.db"

/* Opens (creating it if needed) `state_dir`/portal.db and brings its
 * schema up to date. */
EmberStore *ember_store_open (const char *state_dir, GError **error);
/* The same on an explicit SQLite file. */
EmberStore *ember_store_open_sqlite (const char *path, GError **error);
void ember_store_free (EmberStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStore, ember_store_free)

/* The schema version of the open database (the number of migrations). */
guint ember_store_schema_version (EmberStore *store);

/* Groups several mutations into one transaction (`apply`): nothing of
 * them is visible, and no change row exists, until commit. Without an
 * explicit transaction every mutation runs in its own. */
gboolean ember_store_begin (EmberStore *store, GError **error);
gboolean ember_store_commit (EmberStore *store, GError **error);
void ember_store_rollback (EmberStore *store);

/* ---- devices ---------------------------------------------------------- */

typedef enum {
  EMBER_STORE_DEVICE_CLIENT = 1,
  EMBER_STORE_DEVICE_GATEWAY = 2,
} EmberStoreDeviceKind;

const char *ember_store_device_kind_name (EmberStoreDeviceKind kind); /* "client" | "gateway" */

/* Tunnel addresses: 100.64.0.0/11 and fd00:2021:1111::/107. Each device
 * gets one index at creation; its IPv4 and IPv6 addresses are the pools'
 * base plus that index, so both are unique, never reused while the device
 * exists, and survive restarts. */
typedef struct {
  char *id;
  char *name;
  char *public_key;  /* base64 WireGuard key of the last connect, or NULL */
  char *external_id; /* the device's own stable id of the last connect, or NULL */
  char *ipv4;        /* "100.64.0.7" */
  char *ipv6;        /* "fd00:2021:1111::7" */
  gint64 created_at;
  gint64 last_seen_at; /* 0 = never connected */
} EmberStoreClient;

typedef struct {
  char *id;
  char *name;
  char *site_id;
  char *site_name;
  char *public_key;
  char *external_id;
  char *ipv4;
  char *ipv6;
  gint64 created_at;
  gint64 last_seen_at;
} EmberStoreGateway;

void ember_store_client_free (EmberStoreClient *client);
void ember_store_gateway_free (EmberStoreGateway *gateway);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreClient, ember_store_client_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreGateway, ember_store_gateway_free)

/* NULL with EMBER_STORE_ERROR_NOT_FOUND when there is none. */
EmberStoreClient *ember_store_client_get (EmberStore *store, const char *id, GError **error);
EmberStoreClient *ember_store_client_get_by_name (EmberStore *store, const char *name,
                                                  GError **error);
EmberStoreGateway *ember_store_gateway_get (EmberStore *store, const char *id, GError **error);
/* EmberStoreClient*, by name. */
GPtrArray *ember_store_list_clients (EmberStore *store, GError **error);
/* EmberStoreGateway*, by name; `site_id` NULL lists every site's. */
GPtrArray *ember_store_list_gateways (EmberStore *store, const char *site_id, GError **error);

/* At connect: remembers the device's WireGuard public key (base64) and
 * external id and the time. A change row ("updated") is appended only
 * when the key or the external id differ from the stored ones. */
gboolean ember_store_device_connected (EmberStore *store, EmberStoreDeviceKind kind,
                                       const char *device_id, const char *public_key,
                                       const char *external_id, GError **error);

/* Deletes the device named `name` with its tokens: each still valid
 * token is revoked first (a "revoked" change row each, so the server
 * closes its sessions), then the device goes ("deleted") and its tunnel
 * index is freed. */
gboolean ember_store_device_delete (EmberStore *store, EmberStoreDeviceKind kind,
                                    const char *name, const char *actor, GError **error);

/* ---- tokens ----------------------------------------------------------- */

typedef enum {
  EMBER_STORE_TOKEN_VALID,
  EMBER_STORE_TOKEN_UNKNOWN, /* no such token (or not well formed) */
  EMBER_STORE_TOKEN_EXPIRED,
  EMBER_STORE_TOKEN_REVOKED,
} EmberStoreTokenStatus;

/* "valid", "unknown", "expired", "revoked": for a 401 body and the log. */
const char *ember_store_token_status_name (EmberStoreTokenStatus status);

typedef struct {
  char *id;
  EmberStoreDeviceKind kind;
  char *device_id;
  char *device_name;
  char *site_id;   /* gateways; NULL for clients */
  char *site_name; /* gateways; NULL for clients */
  gint64 created_at;
  gint64 expires_at; /* 0 = never */
  gint64 revoked_at; /* 0 = not revoked */
} EmberStoreToken;

void ember_store_token_free (EmberStoreToken *token);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreToken, ember_store_token_free)

/* Creates a token for the client `name` (created with its tunnel
 * addresses if new), or for the gateway `name` of site `site_name`
 * (created if new; an existing gateway must belong to that site).
 * `expires_at` 0 = never. Returns the token text (256 random bits,
 * shown once; wipe it with ember_store_secret_free): the database keeps
 * only its SHA-256. `info` (optional) receives what was created. */
char *ember_store_token_create (EmberStore *store, EmberStoreDeviceKind kind, const char *name,
                                const char *site_name, gint64 expires_at, const char *actor,
                                EmberStoreToken **info, GError **error);

/* Verifies a bearer token: hashes it and compares the stored hash in
 * constant time. Returns FALSE only when the database fails; otherwise
 * sets `status` and, unless it is UNKNOWN, `info` (which the caller
 * frees) so that an expired or revoked token still says whose it was. */
gboolean ember_store_token_verify (EmberStore *store, const char *bearer, gint64 now,
                                   EmberStoreTokenStatus *status, EmberStoreToken **info,
                                   GError **error);

EmberStoreToken *ember_store_token_get (EmberStore *store, const char *id, GError **error);
/* Revokes one token by id; revoking a revoked token is not an error and
 * appends nothing. The change row (kind "token", verb "revoked",
 * object_id = the token id) tells the server to close its sessions. */
gboolean ember_store_token_revoke (EmberStore *store, const char *id, const char *actor,
                                   GError **error);
/* EmberStoreToken*, newest first; `kind` 0 = both kinds. */
GPtrArray *ember_store_list_tokens (EmberStore *store, EmberStoreDeviceKind kind, GError **error);

/* Wipes and frees a secret returned by this module. */
void ember_store_secret_free (char *secret);

/* ---- sites, resources, groups, policies ------------------------------- */

typedef struct {
  char *id;
  char *name;
} EmberStoreSite;

typedef enum {
  EMBER_STORE_RESOURCE_CIDR,
  EMBER_STORE_RESOURCE_DNS,
  EMBER_STORE_RESOURCE_INTERNET,
} EmberStoreResourceType;

/* The address families a dns resource has behind its gateway (the
 * protocol's "ip_stack"); the other types are always DUAL. */
typedef enum {
  EMBER_STORE_IP_STACK_DUAL,
  EMBER_STORE_IP_STACK_IPV4,
  EMBER_STORE_IP_STACK_IPV6,
} EmberStoreIpStack;

typedef enum {
  EMBER_STORE_PROTOCOL_TCP,
  EMBER_STORE_PROTOCOL_UDP,
  EMBER_STORE_PROTOCOL_ICMP,
} EmberStoreProtocol;

/* One filter admits one protocol, for tcp/udp within one port range
 * (inclusive). A resource without filters admits all traffic. */
typedef struct {
  EmberStoreProtocol protocol;
  guint16 port_start; /* 0 for icmp */
  guint16 port_end;
} EmberStoreFilter;

typedef struct {
  char *id;
  char *name;
  EmberStoreResourceType type;
  char *address; /* canonical CIDR, a DNS name pattern, or NULL (internet) */
  EmberStoreIpStack ip_stack; /* dns only; DUAL for the others */
  char *site_id;
  char *site_name;
  GArray *filters; /* EmberStoreFilter, sorted; empty = all traffic */
} EmberStoreResource;

typedef struct {
  char *id;
  char *name;
  char **clients; /* client names, sorted; a name may precede its client */
} EmberStoreGroup;

/* A policy lets the clients of a group use a resource; several policies
 * are OR-combined; no policy, no access. Conditions (all must hold):
 * a daily UTC window [start, end) in minutes since midnight (start > end
 * wraps past midnight), and the client's source address in one of the
 * CIDRs. One policy per (group, resource). */
typedef struct {
  char *id;
  char *group_id;
  char *group_name;
  char *resource_id;
  char *resource_name;
  gboolean has_time_window;
  guint16 start_minute;
  guint16 end_minute;
  char **source_cidrs; /* canonical CIDRs, sorted; NULL or empty = any source */
} EmberStorePolicy;

const char *ember_store_resource_type_name (EmberStoreResourceType type); /* "cidr" ... */
const char *ember_store_ip_stack_name (EmberStoreIpStack stack);           /* "dual" ... */
/* "dual", "ipv4" or "ipv6" exactly; FALSE for anything else. */
gboolean ember_store_ip_stack_from_name (const char *name, EmberStoreIpStack *out);
const char *ember_store_protocol_name (EmberStoreProtocol protocol);       /* "tcp" ... */

void ember_store_site_free (EmberStoreSite *site);
void ember_store_resource_free (EmberStoreResource *resource);
void ember_store_group_free (EmberStoreGroup *group);
void ember_store_policy_free (EmberStorePolicy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreSite, ember_store_site_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreResource, ember_store_resource_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreGroup, ember_store_group_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStorePolicy, ember_store_policy_free)

/* Listings, sorted by name (policies by group, then resource). */
GPtrArray *ember_store_list_sites (EmberStore *store, GError **error);
GPtrArray *ember_store_list_resources (EmberStore *store, GError **error);
GPtrArray *ember_store_list_groups (EmberStore *store, GError **error);
GPtrArray *ember_store_list_policies (EmberStore *store, GError **error);

/* One resource by id, with its site. */
EmberStoreResource *ember_store_resource_get (EmberStore *store, const char *id, GError **error);

/* Declarative mutators, keyed by name; each appends a change row only
 * when something changed ("created", "updated", "deleted"). Ids in the
 * arguments are ignored; the site, group and resource are named. */
gboolean ember_store_site_put (EmberStore *store, const char *name, const char *actor,
                               GError **error);
/* Refuses (INVALID) while gateways or resources use the site. */
gboolean ember_store_site_delete (EmberStore *store, const char *name, const char *actor,
                                  GError **error);
gboolean ember_store_resource_put (EmberStore *store, const EmberStoreResource *resource,
                                   const char *actor, GError **error);
/* Deletes its policies too. */
gboolean ember_store_resource_delete (EmberStore *store, const char *name, const char *actor,
                                      GError **error);
gboolean ember_store_group_put (EmberStore *store, const char *name,
                                const char *const *client_names, const char *actor,
                                GError **error);
gboolean ember_store_group_delete (EmberStore *store, const char *name, const char *actor,
                                   GError **error);
gboolean ember_store_policy_put (EmberStore *store, const EmberStorePolicy *policy,
                                 const char *actor, GError **error);
gboolean ember_store_policy_delete (EmberStore *store, const char *group_name,
                                    const char *resource_name, const char *actor,
                                    GError **error);

/* ---- access ----------------------------------------------------------- */

/* A snapshot of every resource, policy and group membership, evaluated in
 * memory: the server loads one after a change and asks it for each
 * connected client, instead of one query per session. Pure, any thread. */
typedef struct _EmberStoreAccess EmberStoreAccess;

EmberStoreAccess *ember_store_access_load (EmberStore *store, GError **error);
void ember_store_access_free (EmberStoreAccess *access);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreAccess, ember_store_access_free)

/* The resources (EmberStoreResource*, borrowed from the snapshot, sorted
 * by name) that client `client_name` may use at `now` from `source`
 * (NULL: no source condition can hold). */
GPtrArray *ember_store_access_resources (EmberStoreAccess *access, const char *client_name,
                                         gint64 now, GInetAddress *source);
gboolean ember_store_access_allows (EmberStoreAccess *access, const char *client_name,
                                    const char *resource_id, gint64 now, GInetAddress *source);

/* One-shot forms: the client by id; the result is owned by the caller
 * (EmberStoreResource*). */
GPtrArray *ember_store_client_resources (EmberStore *store, const char *client_id, gint64 now,
                                         GInetAddress *source, GError **error);

/* ---- changes (audit log, fan-out) ------------------------------------- */

typedef struct {
  gint64 id;     /* increasing */
  gint64 at;     /* Unix seconds */
  char *actor;   /* "cli", "api:NAME", "portal" */
  char *verb;    /* "created", "updated", "deleted", "revoked" */
  char *kind;    /* "site", "gateway", "client", "resource", "group", "policy",
                  * "token", "apikey" */
  char *object_id;
  char *object_name; /* a policy's is "GROUP -> RESOURCE" */
  char *detail;      /* JSON object (store-json.h shapes): the new state; for a
                      * deleted resource or policy the last one; else NULL */
} EmberStoreChange;

void ember_store_change_free (EmberStoreChange *change);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreChange, ember_store_change_free)

/* The id of the newest change, 0 when there is none. */
gboolean ember_store_latest_change (EmberStore *store, gint64 *id, GError **error);
/* EmberStoreChange* with id > `after`, oldest first, at most `limit`
 * (0 = all). */
GPtrArray *ember_store_changes_after (EmberStore *store, gint64 after, guint limit,
                                      GError **error);

/* ---- authorizations --------------------------------------------------- */

/* What `serve` granted: client `client_id` may reach `resource_id`
 * through `gateway_id` until `expires_at`, with the WireGuard preshared
 * key and ICE credentials both sides were handed. Kept so that a
 * restarted portal still knows every live flow: it re-hands them to the
 * gateway's init, and a policy change after the restart still revokes
 * them. One row per (client, resource, gateway); a renewal replaces it.
 * Deleting the client, resource or gateway deletes its rows.
 *
 * Runtime state, not the model: no change rows. The key and passwords
 * are secrets (the database is the portal's own, mode 0600, and
 * `secure_delete` overwrites a removed row); the structure is wiped by
 * its free function. */
typedef struct {
  char *client_id;
  char *resource_id;
  char *gateway_id;
  char *client_public_key; /* base64: the key the authorization was granted to */
  char *preshared_key;     /* base64 of 32 bytes */
  char *client_ufrag, *client_pwd;
  char *gateway_ufrag, *gateway_pwd;
  char *source;            /* the client's address when it asked, or NULL */
  char *token_id;          /* the client's token it was granted under, or NULL */
  gint64 created_at;       /* set by put */
  gint64 expires_at;       /* Unix seconds */
} EmberStoreAuthorization;

void ember_store_authorization_free (EmberStoreAuthorization *authorization);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreAuthorization, ember_store_authorization_free)

/* Inserts or replaces the row of its (client, resource, gateway). INVALID
 * when a member is missing or the client, resource or gateway does not
 * exist. */
gboolean ember_store_authorization_put (EmberStore *store,
                                        const EmberStoreAuthorization *authorization,
                                        GError **error);
/* Deletes one; deleting what is not there is not an error. */
gboolean ember_store_authorization_delete (EmberStore *store, const char *client_id,
                                           const char *resource_id, const char *gateway_id,
                                           GError **error);
/* Deletes those whose expires_at <= now; *n_deleted (optional) says how many. */
gboolean ember_store_authorizations_expire (EmberStore *store, gint64 now, gint64 *n_deleted,
                                            GError **error);
/* EmberStoreAuthorization* with expires_at > now, oldest first. */
GPtrArray *ember_store_list_authorizations (EmberStore *store, gint64 now, GError **error);

/* ---- relay credentials ------------------------------------------------ */

/* When the relay credentials `serve` last handed to a device expire (the
 * credentials themselves derive from the relay secret, the device id and
 * this time). A device that signs in again, after a reconnect or a portal
 * restart, gets the same ones while enough of them is left: a TURN
 * allocation is bound to the username it was made with (RFC 8656 §9),
 * so new credentials would cost the device its relayed addresses and the
 * connections on them. *expires_at is 0 when none was recorded. */
gboolean ember_store_relay_expiry_get (EmberStore *store, const char *device_id,
                                       gint64 *expires_at, GError **error);
/* Records it; also forgets every device's that is past `now`. */
gboolean ember_store_relay_expiry_set (EmberStore *store, const char *device_id,
                                       gint64 expires_at, gint64 now, GError **error);

/* ---- admin API keys --------------------------------------------------- */

typedef struct {
  char *id;
  char *name;
  gint64 created_at;
  gint64 expires_at;
  gint64 revoked_at;
} EmberStoreApiKey;

void ember_store_apikey_free (EmberStoreApiKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberStoreApiKey, ember_store_apikey_free)

/* Returns the key text, shown once (wipe with ember_store_secret_free). */
char *ember_store_apikey_create (EmberStore *store, const char *name, gint64 expires_at,
                                 const char *actor, EmberStoreApiKey **info, GError **error);
/* Like token_verify. */
gboolean ember_store_apikey_verify (EmberStore *store, const char *bearer, gint64 now,
                                    EmberStoreTokenStatus *status, EmberStoreApiKey **info,
                                    GError **error);
gboolean ember_store_apikey_revoke (EmberStore *store, const char *name, const char *actor,
                                    GError **error);
GPtrArray *ember_store_list_apikeys (EmberStore *store, GError **error);

G_END_DECLS
