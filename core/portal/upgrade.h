/* portal/upgrade — the HTTP/1.1 WebSocket upgrade of a portal session
 * (RFC 6455 §4.1), private to session.c.
 *
 * Done here rather than by soup_session_websocket_connect_async() because
 * a refused upgrade carries what the device must act on in its body
 * ({"error": …, "reason": "expired_token"}), and libsoup 3 drops that
 * body. Connects (TCP, TLS for wss with the host name and the given
 * trust anchors checked), writes the request, reads the answer byte by
 * byte (nothing after the header is read, so the WebSocket frames that
 * follow stay in the stream for SoupWebsocketConnection), checks the 101
 * and its Sec-WebSocket-Accept, or reads a refusal's small JSON body.
 * Runs on the thread-default main context of the caller.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  char *host;            /* name or address literal (no brackets) */
  guint16 port;
  gboolean tls;
  GTlsDatabase *tls_database;  /* NULL: the system's */
  char *path;            /* path and query of the request */
  char *host_header;     /* "host", "host:port", "[v6]:port" */
  char *token;           /* bearer token, wiped on free */
} EmberPortalUpgradeRequest;

void ember_portal_upgrade_request_free (EmberPortalUpgradeRequest *req);

/* The answer reads at most this much: status line and headers, and a
 * refusal's body. */
#define EMBER_PORTAL_UPGRADE_HEAD_MAX 8192
#define EMBER_PORTAL_UPGRADE_BODY_MAX 4096

/* Starts the upgrade; `req` is copied. */
void ember_portal_upgrade_async (const EmberPortalUpgradeRequest *req, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
/* The upgraded stream, or NULL with an EMBER_PORTAL_SESSION_ERROR whose
 * code classifies the failure (UNAUTHORIZED, RATE_LIMITED, HTTP,
 * PROTOCOL, NETWORK, TLS) and whose message says what happened; then
 * *retry_after_us holds a Retry-After the server sent (0: none). */
GIOStream *ember_portal_upgrade_finish (GAsyncResult *result, gint64 *retry_after_us,
                                        GError **error);

/* Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP date, as a
 * delay from `now_unix`; 0 when absent or unreadable. Exposed for tests. */
gint64 ember_portal_upgrade_parse_retry_after (const char *value, gint64 now_unix);

G_END_DECLS
