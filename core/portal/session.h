/* portal/session — the device side of the portal protocol: one WebSocket
 * (libsoup 3) to ember-portal, for emberd in client or gateway mode.
 *
 * Owns the connection, the Phoenix join, the heartbeats, the reconnects
 * and a bounded queue of outgoing messages; it speaks only through the
 * codec (portal/codec.h), so every frame in either direction follows
 * docs/portal-protocol.md. It owns nothing else: when the portal is away
 * it reports DISCONNECTED and keeps trying, it never asks anyone to tear
 * a tunnel down.
 *
 * Threads: everything runs on the GMainContext given to
 * ember_portal_session_new(); call every function from the thread that
 * iterates it, and make it that thread's thread-default context
 * (g_main_context_push_thread_default(), unless it is the global default
 * and nothing else is pushed): libsoup attaches its WebSocket's sources
 * to the thread-default context whenever it restarts them, also from its
 * own callbacks. Callbacks are invoked from that context, never from inside
 * ember_portal_session_send() or _start(). A callback may call any
 * function of this module, including ember_portal_session_free().
 *
 * Lives in the static library `ember-portal-session` (dependency object
 * ember_portal_session_dep), since libember-core does not link libsoup.
 *
 * ## Connecting
 * GET <url>/client/websocket or <url>/gateway/websocket with the query
 * public_key=…&external_id=…&vsn=EMBER_PORTAL_REVISION (URL-encoded) and
 * `Authorization: Bearer TOKEN`. ws:// or wss://; for wss the server certificate and its host
 * name are checked against `ca_file` (PEM) or, without one, the system's
 * trust store. Then phx_join on the channel's topic; the ok reply makes
 * the session JOINED. No reply within two heartbeat intervals (20 s) of
 * starting to connect counts as a network fault.
 *
 * ## States (state_changed reports every change, with the reason)
 *   DISCONNECTED  not connected; a retry is scheduled (error: why the last
 *                 attempt or connection ended; NULL before start()).
 *   CONNECTING    HTTP upgrade and join in flight.
 *   JOINED        the join was answered ok; messages flow both ways.
 *   REJECTED      the portal refused this device for good; no retry until
 *                 ember_portal_session_reconnect(). Error codes:
 *                 UNAUTHORIZED — a 401 at the upgrade ("the portal rejected
 *                   the token (invalid_token)"; the reason is the body's
 *                   `reason`: missing_token, invalid_token, expired_token,
 *                   revoked_token), or a `disconnect` with token_revoked,
 *                   token_expired ("the portal rejected the token
 *                   (token_revoked)") or device_removed ("the portal
 *                   removed this device (device_removed)").
 *                 REPLACED — a `disconnect` with reason `replaced`: another
 *                   session signed in with this token and external_id.
 *                   Retrying would evict it, and it us, forever; two
 *                   daemons sharing one identity is a configuration error
 *                   that a person must fix.
 *
 * ## Reconnecting
 * Every other ending is a fault to retry after a backoff: a network error
 * (refused, reset, timeout, TLS), an HTTP status other than 101 and 401
 * (429 and 503 honour `Retry-After`, up to 300 s; a 400 or 404 is retried
 * too, since a proxy in front of the portal may answer that for a
 * while), a response that is not HTTP or not a WebSocket, an invalid
 * WebSocket frame, a text message the codec refuses (the session closes
 * with 1007/1008 and rejoins to get a fresh `init` rather than go on with
 * a view it knows is incomplete), a binary message, an error reply to the
 * join, no reply to two heartbeats in a row, the server closing (the
 * close code and reason are in the message) or a `disconnect` with
 * `shutdown` or `protocol_error`.
 * The delay is ember_portal_session_backoff_next(): decorrelated jitter,
 * from EMBER_PORTAL_SESSION_BACKOFF_BASE_US up to
 * EMBER_PORTAL_SESSION_BACKOFF_MAX_US. It is reset once a join held for
 * three heartbeat intervals (30 s), so a portal that accepts the join
 * and then drops every session at once does not get a reconnect storm.
 *
 * ## Messages
 * Incoming: every frame is parsed with the codec for the session's
 * channel; each one reaches `message` in order, `init` first after every
 * join (the caller should treat each `init` as the full state). Consumed
 * here and not delivered: the join's reply and heartbeat replies. A
 * `disconnect` is delivered, then the state changes as above.
 * Outgoing: ember_portal_session_send() builds the frame at once (so a
 * bad message is an error for the caller right there). While JOINED it
 * goes to the socket; otherwise it waits in a queue of at most
 * EMBER_PORTAL_SESSION_QUEUE_MAX frames that is sent, in order, right
 * after the next join's ok reply and before anything sent later. A full
 * queue is an error (QUEUE_FULL), never a silent drop. A frame already
 * handed to the socket is at-most-once: if the connection dies right
 * after, the portal may not have seen it (the portal re-sends its state
 * in the next `init`, and the caller should re-send what it still needs).
 * The queue survives reconnects and REJECTED; free() drops it.
 */
#pragma once

#include <glib.h>
#include "portal/messages.h"

G_BEGIN_DECLS

typedef struct _EmberPortalSession EmberPortalSession;

typedef enum {
  EMBER_PORTAL_SESSION_DISCONNECTED = 0,
  EMBER_PORTAL_SESSION_CONNECTING,
  EMBER_PORTAL_SESSION_JOINED,
  EMBER_PORTAL_SESSION_REJECTED,
} EmberPortalSessionState;

#define EMBER_PORTAL_SESSION_ERROR (ember_portal_session_error_quark ())
GQuark ember_portal_session_error_quark (void);

typedef enum {
  EMBER_PORTAL_SESSION_ERROR_UNAUTHORIZED,  /* token refused (401, or disconnect token_*):
                                             * fatal, REJECTED */
  EMBER_PORTAL_SESSION_ERROR_REPLACED,      /* disconnect `replaced`: fatal, REJECTED */
  EMBER_PORTAL_SESSION_ERROR_RATE_LIMITED,  /* 429 at the upgrade, or closed with 4029 */
  EMBER_PORTAL_SESSION_ERROR_HTTP,          /* another HTTP status instead of 101 */
  EMBER_PORTAL_SESSION_ERROR_PROTOCOL,      /* not HTTP, not a WebSocket, a bad frame or
                                             * message, an error reply to the join */
  EMBER_PORTAL_SESSION_ERROR_CLOSED,        /* the server closed (code and reason in the
                                             * message), or sent `disconnect` */
  EMBER_PORTAL_SESSION_ERROR_NETWORK,       /* connect, reset, timeout, heartbeats lost */
  EMBER_PORTAL_SESSION_ERROR_TLS,           /* certificate not trusted or not for the host */
  EMBER_PORTAL_SESSION_ERROR_QUEUE_FULL,    /* send(): EMBER_PORTAL_SESSION_QUEUE_MAX waiting */
  EMBER_PORTAL_SESSION_ERROR_INVALID,       /* new(): a bad configuration value */
} EmberPortalSessionError;

/* Defaults (docs/portal-protocol.md, "Timing"). */
/* Below the portal's per-session burst (200 frames, docs/portal-serve.md)
 * so that flushing a full queue after a join never trips its flood
 * limit (4029). */
#define EMBER_PORTAL_SESSION_QUEUE_MAX 128
#define EMBER_PORTAL_SESSION_BACKOFF_BASE_US (1 * G_TIME_SPAN_SECOND)
#define EMBER_PORTAL_SESSION_BACKOFF_MAX_US (60 * G_TIME_SPAN_SECOND)
#define EMBER_PORTAL_SESSION_RETRY_AFTER_MAX_US (300 * G_TIME_SPAN_SECOND)

typedef struct {
  const char *url;           /* ws://host[:port][/prefix] or wss://…; the endpoint's
                              * path (/client/websocket, /gateway/websocket) is appended */
  const char *token;         /* the device's bearer token */
  EmberPortalChannel channel;
  const char *public_key;    /* base64 WireGuard public key (44 characters) */
  const char *external_id;   /* 1..128 of A-Z a-z 0-9 . _ : - */
  const char *ca_file;       /* PEM trust anchors for wss; NULL: system trust */
  /* Tuning, 0 for the defaults; tests shorten them. */
  gint64 heartbeat_interval_us;  /* EMBER_PORTAL_HEARTBEAT_INTERVAL_US (10 s) */
  gint64 backoff_base_us;        /* EMBER_PORTAL_SESSION_BACKOFF_BASE_US */
  gint64 backoff_max_us;         /* EMBER_PORTAL_SESSION_BACKOFF_MAX_US */
  guint32 random_seed;           /* of the backoff's jitter; 0: a random seed */
} EmberPortalSessionConfig;

typedef struct {
  /* A message from the portal; `msg` is valid during the call only. */
  void (*message) (EmberPortalSession *session, const EmberPortalMessage *msg,
                   gpointer user_data);
  /* `error`: why, for DISCONNECTED (NULL when not yet started) and REJECTED;
   * NULL for CONNECTING and JOINED. Valid during the call only. */
  void (*state_changed) (EmberPortalSession *session, EmberPortalSessionState state,
                         const GError *error, gpointer user_data);
} EmberPortalSessionCallbacks;

/* Checks and copies `cfg` (every string is copied): the URL must be
 * ws:// or wss:// with a host, public_key a valid key, external_id of the
 * allowed characters, the token non-empty, ca_file readable PEM. The
 * error (EMBER_PORTAL_SESSION_ERROR_INVALID) names the field. Does not
 * connect. `cb` is copied; either member may be NULL. */
EmberPortalSession *ember_portal_session_new (GMainContext *ctx,
                                              const EmberPortalSessionConfig *cfg,
                                              const EmberPortalSessionCallbacks *cb,
                                              gpointer user_data, GError **error);
/* Starts connecting (CONNECTING is reported from the main context, not
 * from inside this call). A no-op once started. */
void ember_portal_session_start (EmberPortalSession *session);
/* SIGHUP: drops the connection if any, resets the backoff and connects
 * now, also from REJECTED (e.g. after set_token()). */
void ember_portal_session_reconnect (EmberPortalSession *session);
/* Replaces the token used from the next connection on (a re-read token
 * file); the current connection is kept. FALSE (INVALID) for an empty
 * token or one with spaces or control characters. */
gboolean ember_portal_session_set_token (EmberPortalSession *session, const char *token,
                                         GError **error);
/* Sends `msg` (a message this channel sends to the portal). A NULL
 * msg->ref is replaced by a fresh numeric ref in the frame (msg itself is
 * not changed); set your own ref to match a reply. Queued while not
 * joined, see "Messages" above. FALSE with the codec's error
 * (EMBER_PORTAL_ERROR) for a message that breaks the protocol, or
 * EMBER_PORTAL_SESSION_ERROR_QUEUE_FULL. */
gboolean ember_portal_session_send (EmberPortalSession *session, const EmberPortalMessage *msg,
                                    GError **error);
EmberPortalSessionState ember_portal_session_get_state (EmberPortalSession *session);
/* The delay (µs) chosen for the scheduled next attempt, 0 when none is
 * scheduled; valid from the DISCONNECTED callback on (for a status line:
 * "next attempt in 12 s"). */
gint64 ember_portal_session_get_retry_delay (EmberPortalSession *session);
/* Frames waiting for the next join. */
guint ember_portal_session_queued (EmberPortalSession *session);
/* Closes the socket (1000), drops the queue; no callback after this. */
void ember_portal_session_free (EmberPortalSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPortalSession, ember_portal_session_free)

const char *ember_portal_session_state_to_string (EmberPortalSessionState state);

/* The reconnect delay: decorrelated jitter (the next delay is drawn
 * uniformly from [base, 3 × previous], capped at `max`). `prev_us` is the
 * previous delay, 0 after a reset (the first delay is then drawn from
 * [base, 3 × base]); `random` is a uniform 32-bit value (0 picks the low
 * end, G_MAXUINT32 the high end). Pure: no clock, no randomness of its
 * own. Always within [base, max]. */
gint64 ember_portal_session_backoff_next (gint64 prev_us, guint32 random, gint64 base_us,
                                          gint64 max_us);

G_END_DECLS
