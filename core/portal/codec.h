/* portal/codec — JSON text ⇄ portal frames ⇄ typed messages.
 *
 * The one codec of docs/portal-protocol.md, shared by the portal server
 * (bin/ember-portal) and the client and gateway tunnels. Parsing is
 * strict: the text must be RFC 8259 JSON (checked before json-glib, which
 * alone accepts comments and trailing values), and the frame and every
 * payload member are checked for type, range
 * and size, unknown members are refused, and an error names the JSON
 * path ("payload.resources[2].filters[0].ports") and what was expected.
 * Building checks the same rules, so a frame that builds also parses on
 * the other side. No I/O, no clock; any thread, no shared state.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include "portal/messages.h"

G_BEGIN_DECLS

#define EMBER_PORTAL_ERROR (ember_portal_error_quark ())
GQuark ember_portal_error_quark (void);

/* What went wrong, so the server can pick its answer (doc, "Errors"). */
typedef enum {
  EMBER_PORTAL_ERROR_TOO_LARGE,        /* frame > EMBER_PORTAL_FRAME_MAX: close 1009 */
  EMBER_PORTAL_ERROR_INVALID_JSON,     /* not JSON, nested too deep: close 1007 */
  EMBER_PORTAL_ERROR_INVALID_FRAME,    /* not {"topic","event","payload","ref"} */
  EMBER_PORTAL_ERROR_UNKNOWN_TOPIC,    /* topic neither the channel's nor "phoenix" */
  EMBER_PORTAL_ERROR_UNKNOWN_EVENT,    /* an event name the protocol does not have */
  EMBER_PORTAL_ERROR_WRONG_DIRECTION,  /* an event of the other side or channel */
  EMBER_PORTAL_ERROR_INVALID_PAYLOAD,  /* a payload member missing, mistyped, out of range */
} EmberPortalError;

/* The reply reason a server sends for a parse error of `code`. */
EmberPortalReplyReason ember_portal_error_to_reply_reason (EmberPortalError code);

/* ---- Frames ----------------------------------------------------------- */

/* A frame whose envelope is valid; the payload is still raw JSON (an
 * object). ref is NULL when the frame's ref is null. */
typedef struct {
  char *topic;
  char *event;
  char *ref;
  JsonNode *payload;
} EmberPortalFrame;

/* Text of one WebSocket message → frame. Checks size, UTF-8, nesting,
 * JSON syntax, that the root is an object with exactly the members topic
 * (string), event (string), payload (object) and ref (string ≤ 64 bytes
 * or null). On failure frame->ref holds the ref when it was readable;
 * clear the frame either way. */
gboolean ember_portal_frame_parse (const char *text, gsize len, EmberPortalFrame *frame,
                                   GError **error);
void ember_portal_frame_clear (EmberPortalFrame *frame);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EmberPortalFrame, ember_portal_frame_clear)

/* Frame → typed message, for a session on `channel` receiving in
 * `direction`: the portal parses with EMBER_PORTAL_TO_PORTAL, a client or
 * gateway with EMBER_PORTAL_FROM_PORTAL. An event the protocol has but
 * not for this channel and direction is EMBER_PORTAL_ERROR_WRONG_DIRECTION.
 * On failure `msg` still holds the frame's ref (for an error reply) and
 * must be cleared like a parsed one. */
gboolean ember_portal_message_from_frame (const EmberPortalFrame *frame,
                                          EmberPortalChannel channel,
                                          EmberPortalDirection direction,
                                          EmberPortalMessage *msg, GError **error);

/* Both steps at once. On failure msg->ref is set when the envelope was
 * readable, NULL otherwise. */
gboolean ember_portal_message_parse (const char *text, gsize len, EmberPortalChannel channel,
                                     EmberPortalDirection direction, EmberPortalMessage *msg,
                                     GError **error);

/* Typed message → JSON text of one frame (NUL-terminated, compact; its
 * length in *len_out if not NULL). The channel is taken from msg->topic
 * (for phoenix-topic messages `channel` decides which one's rules apply).
 * NULL with EMBER_PORTAL_ERROR_INVALID_PAYLOAD (naming the path) when a
 * value breaks a rule of the protocol, or EMBER_PORTAL_ERROR_TOO_LARGE
 * when the frame would exceed EMBER_PORTAL_FRAME_MAX. */
char *ember_portal_message_build (const EmberPortalMessage *msg, EmberPortalChannel channel,
                                  gsize *len_out, GError **error);

/* ---- Values shared with the rest of the portal ------------------------ */

/* These are the checks the codec applies, for the portal's storage, its
 * policy file and the CLI, so one rule holds everywhere (networks and
 * addresses: net/cidr.h; dns patterns: dns/pattern.h). `what` names the
 * value in the error message. */
gboolean ember_portal_id_parse (const char *text, EmberPortalId *id, const char *what,
                                GError **error);
gboolean ember_portal_key_parse (const char *text, EmberPortalKey *key, const char *what,
                                 GError **error);
/* 44 characters + NUL. */
#define EMBER_PORTAL_KEY_B64_LEN 44
void ember_portal_key_to_base64 (const EmberPortalKey *key, char out[EMBER_PORTAL_KEY_B64_LEN + 1]);
/* "80,8000-8100" → ranges; empty text is refused (omit "ports" instead). */
gboolean ember_portal_ports_parse (const char *text, EmberPortalFilter *filter, const char *what,
                                   GError **error);
/* ranges → "80,8000-8100" (newly allocated). */
char *ember_portal_ports_to_string (const EmberPortalFilter *filter);

G_END_DECLS
