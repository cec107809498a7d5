/* tests/portal/portal-fx — what the portal server tests share: a state
 * directory with a real SQLite store, the server running in this
 * process on loopback ports the kernel picked, and WebSocket peers
 * (libsoup clients) that collect what the portal pushes, parsed by the
 * protocol codec. One thread; every wait is bounded. */
#pragma once

#include "serve.h"
#include "serve-config.h"
#include "store.h"
#include "portal/codec.h"

#include <libsoup/soup.h>

typedef struct {
  char *dir;                   /* temporary: state/, the config, secrets */
  char *state_dir;
  EmberStore *store;           /* the test's own connection to the database */
  EmberPortalServeConfig *config;
  EmberPortalServer *server;
  guint16 port;
  SoupSession *http;
  /* The vsn= query of the peers' upgrades: NULL, EMBER_PORTAL_REVISION;
   * "", none (a device that predates it). */
  const char *peer_vsn;
} PortalFx;

typedef struct {
  PortalFx *fx;
  EmberPortalChannel channel;
  SoupWebsocketConnection *ws;
  GQueue inbox;                /* EmberPortalMessage *, oldest first */
  gboolean closed;
  gushort close_code;
  char *close_reason;
  guint next_ref;
  char *public_key;            /* base64 */
} PortalPeer;

/* `extra`: more [portal] lines (e.g. "heartbeat-interval=0.3\n") and
 * whole [relay] groups; may be NULL. */
void portal_fx_setup (PortalFx *fx, const char *extra);
/* Stops and starts the server on the same state directory; or each half
 * alone (the store stays open for the test meanwhile). */
void portal_fx_restart (PortalFx *fx);
void portal_fx_stop (PortalFx *fx);
void portal_fx_start (PortalFx *fx);
void portal_fx_teardown (PortalFx *fx);
/* Runs the main loop until `*flag` is TRUE or `timeout_ms` passes;
 * returns the flag. */
gboolean portal_fx_wait (gboolean *flag, guint timeout_ms);
/* Runs the main loop for `ms`. */
void portal_fx_run (guint ms);
/* The test's file in fx->dir. */
char *portal_fx_path (PortalFx *fx, const char *name);

/* Model set-up through the store: site "home", a cidr resource "web"
 * 10.20.0.0/24 tcp 80 + icmp, group "staff" with client "laptop", a
 * policy staff -> web. Returns the tokens (caller frees). */
void portal_fx_model (PortalFx *fx, char **client_token, char **gateway_token);
char *portal_fx_resource_id (PortalFx *fx, const char *name);
char *portal_fx_client_id (PortalFx *fx, const char *name);

/* Connects and waits (2 s) for the upgrade; NULL when refused, with the
 * HTTP status in *status (may be NULL). */
PortalPeer *portal_peer_connect (PortalFx *fx, EmberPortalChannel channel, const char *token,
                                 const char *external_id, guint *status);
/* Connects, joins, checks the ok reply and returns with `init` first in
 * the inbox. */
PortalPeer *portal_peer_join (PortalFx *fx, EmberPortalChannel channel, const char *token,
                              const char *external_id);
void portal_peer_free (PortalPeer *peer);
/* Sends `msg` (its ref is set to a fresh one when it has none); returns
 * the ref used. */
const char *portal_peer_send (PortalPeer *peer, EmberPortalMessage *msg);
void portal_peer_send_text (PortalPeer *peer, const char *text);
/* Waits (timeout_ms) for the first message of `event` in the inbox,
 * removes and returns it (free with portal_message_free), skipping
 * nothing else: other messages stay queued. NULL on timeout. */
EmberPortalMessage *portal_peer_expect (PortalPeer *peer, EmberPortalEvent event,
                                        guint timeout_ms);
/* Waits for the connection to close; returns the close code (0: still open). */
gushort portal_peer_wait_closed (PortalPeer *peer, guint timeout_ms);
void portal_message_free (EmberPortalMessage *msg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPortalMessage, portal_message_free)

/* A plain HTTP GET of `path` with `authorization` (may be NULL): the
 * status and the body. */
guint portal_fx_get (PortalFx *fx, guint16 port, const char *path, const char *authorization,
                     char **body);
/* Any method, with a JSON body (may be NULL). */
guint portal_fx_request (PortalFx *fx, const char *method, guint16 port, const char *path,
                         const char *authorization, const char *body_in, char **body);
