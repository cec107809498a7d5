/* ember-portal/serve-private — what the files of `serve` share: the
 * server, its sessions and the authorizations between them.
 *
 *   serve.c      listeners, the token check before an upgrade, the
 *                registry of sessions, timers, the `serve` verb
 *   session.c    one WebSocket: Phoenix join, heartbeats, frames in and
 *                out, bad input, closing
 *   authorize.c  request_authorization -> authorize_flow ->
 *                authorization_created, ICE candidates both ways, the
 *                gateway's init
 *   fanout.c     the changes table -> the sessions a change affects
 *   convert.c    store values -> protocol values (resources, relays)
 *
 * Main thread only, like everything of the server.
 */
#pragma once

#include "serve.h"
#include "admin-api.h"
#include "store.h"
#include "metrics.h"
#include "ratelimit.h"
#include "relays.h"
#include "io.h"
#include "portal/codec.h"

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _Session Session;
typedef struct _Authz Authz;

/* A resource's resource_created_or_updated frame, built once per
 * snapshot and sent as is to every client that may use it. */
typedef struct {
  char *text;                 /* a GRefString, shared by every send */
  char *text_rev1;            /* the same without the members of revision 2
                               * (ip_stack), for older devices; often `text` */
  guint64 digest;             /* of `text` */
} CachedFrame;

/* What a client was last told about one resource. */
typedef struct {
  EmberPortalId id;
  guint64 digest;  /* of the resource's frame text: a change shows as a new digest */
} SentResource;

struct _Session {
  EmberPortalServer *server;
  EmberPortalIoConn *conn;    /* the WebSocket, on an I/O thread */
  GList link;                 /* in server->sessions */
  EmberPortalChannel channel;
  gboolean joined, closed;
  gboolean closing;           /* left the registry, waiting for its close */
  char *device_id;            /* store id of the client or gateway */
  char *device_name;
  char *token_id;
  char *site_id;              /* gateways */
  char *remote_host;          /* the peer's IP address, text */
  GInetAddress *source;       /* the same, for policy conditions */
  char *external_id;
  guint revision;             /* the protocol revision it reads (vsn=) */
  EmberPortalKey public_key;
  EmberPortalTunnelAddresses tunnel;
  gint64 token_expires_at;    /* Unix seconds, 0 = never */
  gint64 last_heartbeat_us;   /* monotonic */
  gint64 relay_expires_at;    /* Unix seconds of the credentials it holds */
  double msg_tokens;          /* per-session message rate limit */
  gint64 msg_last_us;
  guint bad_frames;           /* since the session began: logged once */
  guint bad_frames_window;    /* in the current 10 s window */
  gint64 bad_window_us;
  GArray *sent;               /* clients: SentResource, sorted by id */
};

/* An authorization of `client` to reach `resource` through `gateway`.
 * Pending from authorize_flow until the gateway answers
 * authorization_created; active afterwards until it expires or a policy
 * stops allowing it. */
struct _Authz {
  char *nonce;                /* the ref's random part: key of server->pending */
  gboolean active;
  char *client_id, *gateway_id, *resource_id;
  char *client_name;          /* policies name clients */
  char *token_id;             /* the client's token it was granted under */
  GInetAddress *source;       /* the client's address when it asked */
  char *client_ref;           /* the client's request ref, echoed in replies */
  EmberPortalPeer client;     /* the client's key and tunnel addresses */
  EmberPortalKey psk;
  EmberPortalIceCredentials client_ice, gateway_ice;
  gint64 expires_at;          /* Unix seconds */
  gint64 pending_until_us;    /* monotonic: the gateway must answer by then */
};

struct _EmberPortalServer {
  const EmberPortalServeConfig *config;
  EmberStore *store;
  EmberStoreAccess *access;   /* snapshot of resources, policies, groups */
  SoupServer *soup;           /* /client/websocket, /gateway/websocket */
  EmberPortalIo *io;          /* the sessions' connections */
  SoupServer *admin;
  EmberPortalAdmin *admin_api;
  EmberPortalMetrics *metrics;
  EmberPortalRelays *relays;
  EmberPortalId *relay_ids;   /* per configured relay, stable */
  EmberPortalRateLimit *join_limit, *failure_limit;
  EmberPortalStats stats;
  GQueue sessions;            /* every open WebSocket, joined or not */
  GHashTable *clients;        /* device id -> Session (joined) */
  GHashTable *gateways;       /* device id -> Session (joined) */
  GHashTable *site_gateways;  /* site id -> GPtrArray of Session */
  GHashTable *pending;        /* nonce -> Authz */
  GHashTable *authorizations; /* "client|resource|gateway" -> Authz (active), also
                               * in the store (authorize.c) */
  GHashTable *resource_digests; /* resource id -> guint64 a gateway was last told */
  GHashTable *frames;         /* resource id -> CachedFrame, for this snapshot */
  gint64 last_minute;         /* of the last evaluation (time-window conditions) */
  guint8 ref_key[32];         /* signs authorize_flow refs; new each start */
  gint64 last_change_id;
  guint sweep_timer, poll_timer;
  guint64 n_logged_bad;       /* bad frames logged at warning level */
};

/* ---- serve.c ---------------------------------------------------------- */

/* Fills `buf` with random bytes (gnutls_rnd). */
void server_random (gpointer buf, gsize len);
gint64 server_unix_now (void);
/* The store's device row went away or its token stopped being valid. */
void server_register_joined (EmberPortalServer *server, Session *session);
void server_unregister (EmberPortalServer *server, Session *session);
/* Its connection is gone: out of srv->sessions as well (then free it). */
void server_forget (EmberPortalServer *server, Session *session);
/* Gateways of `site_id` that have joined (may be NULL). */
GPtrArray *server_site_gateways (EmberPortalServer *server, const char *site_id);

/* ---- session.c -------------------------------------------------------- */

Session *session_new (EmberPortalServer *server, EmberPortalChannel channel);
/* After it left the registry; releases its connection. */
void session_free (Session *session);
/* What the connection's I/O thread reported. */
void session_on_event (Session *session, EmberPortalIoEvent *event);
/* Sends one message; FALSE (logged) when it does not build. */
gboolean session_send (Session *session, const EmberPortalMessage *msg);
/* Sends prebuilt frame text (a GRefString). */
void session_send_text (Session *session, char *ref_text);
void session_reply_ok (Session *session, const char *ref);
void session_reply_error (Session *session, const char *ref, EmberPortalReplyReason reason,
                          const char *message);
/* Sends `disconnect` with `reason` (when joined), then closes. */
void session_disconnect (Session *session, EmberPortalDisconnectReason reason);
void session_close (Session *session, gushort code, const char *reason);
/* Fresh relay credentials for this session's device, every relay that is
 * up; returns the number filled in `out` (EMBER_PORTAL_MAX_RELAYS). */
guint session_relays (Session *session, EmberPortalRelay *out, gint64 now);

/* ---- authorize.c ------------------------------------------------------ */

void authz_free (Authz *authz);
/* At start: the store's active authorizations (after fanout_init, which
 * loads the policies they are checked against); expired ones and those
 * no policy allows any more are deleted. */
gboolean authorize_load (EmberPortalServer *server, GError **error);
void authorize_request (Session *client, EmberPortalMessage *msg);
void authorize_flow_authorized (Session *gateway, EmberPortalMessage *msg);
void authorize_ice_from_client (Session *client, EmberPortalMessage *msg);
void authorize_ice_from_gateway (Session *gateway, EmberPortalMessage *msg);
/* The gateway's init: active authorizations for it. */
void authorize_gateway_init (Session *gateway, EmberPortalGatewayInit *init);
/* Pending ones past their deadline fail (offline); expired active ones go. */
void authorize_sweep (EmberPortalServer *server, gint64 now_us, gint64 now_unix);
/* The client token `token_id` was revoked or deleted: every
 * authorization granted under it ends (reject_access to both sides), the
 * pending ones are dropped. */
void authorize_token_revoked (EmberPortalServer *server, const char *token_id);
/* A gateway left: its pending authorizations fail as offline. */
void authorize_gateway_gone (EmberPortalServer *server, const char *gateway_id);
/* Ends an active authorization: reject_access to both sides, and out of
 * the store (the caller removes it from server->authorizations). */
void authorize_reject (EmberPortalServer *server, Authz *authz);

/* ---- fanout.c --------------------------------------------------------- */

/* Loads the first snapshot; the changes table's newest id. */
gboolean fanout_init (EmberPortalServer *server, GError **error);
/* Looks for new change rows (cheap when there are none) and applies them. */
void fanout_poll (EmberPortalServer *server);
/* Re-evaluates every client and authorization against the snapshot (after
 * a change, and each minute for time-window conditions). */
void fanout_reevaluate (EmberPortalServer *server);
/* The client's resources now, as its init carries them; also records
 * them as sent. Returns the number in *out (caller clears each). */
guint fanout_client_resources (Session *client, EmberPortalResource **out);

/* ---- convert.c -------------------------------------------------------- */

gboolean convert_resource (const EmberStoreResource *in, EmberPortalResource *out,
                           GError **error);
gboolean convert_tunnel (const char *ipv4, const char *ipv6, EmberPortalTunnelAddresses *out,
                         GError **error);
/* A stable UUID for a relay named `name`. */
void convert_relay_id (const char *name, EmberPortalId *out);
gboolean convert_relay_addresses (const EmberPortalRelayConfig *relay, EmberAddr *ipv4,
                                  EmberAddr *ipv6);
void convert_addr_from_inet (GInetAddress *ia, guint16 port, EmberAddr *out);
guint64 convert_digest (const char *text, gsize len);

G_END_DECLS
