/* tests/portal/session-fakes — servers that misbehave, for the portal
 * session's tests: raw TCP ones (a thread each, blocking I/O) that answer
 * something other than an HTTP upgrade or break the WebSocket framing,
 * SoupServer ones that answer plain HTTP or misbehave after a proper
 * upgrade, and self-signed certificates for wss. Loopback, kernel-chosen
 * ports. */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

typedef enum {
  RAW_NOT_HTTP,          /* "SSH-2.0-…" */
  RAW_HTTP_NO_END,       /* a status line, then the connection closes */
  RAW_BAD_ACCEPT,        /* 101 with a wrong Sec-WebSocket-Accept */
  RAW_INVALID_FRAME,     /* 101, then a frame with reserved bits and opcode */
  RAW_CLOSE_MID_FRAME,   /* 101, then half a frame and a closed connection */
  RAW_SILENT,            /* accepts and says nothing */
} RawMode;

typedef struct {
  GSocketService *service;
  guint16 port;
  RawMode mode;
  gint connections;      /* atomic */
} RawServer;

void raw_start (RawServer *raw, RawMode mode);
/* Stops listening and waits for the connection threads. */
void raw_stop (RawServer *raw);

/* A SoupServer: plain HTTP answers, and WebSockets that misbehave after
 * the upgrade. */
typedef struct {
  SoupServer *server;
  guint16 port;
  guint status;          /* for /client/websocket as plain HTTP; 0: a WebSocket */
  const char *retry_after;
  const char *ws_mode;   /* "bad-json", "binary", "no-heartbeat-reply", "join-error",
                          * "close-4029", "ok" (joins, answers heartbeats),
                          * "flap" (closes right after init, except the
                          * `hold`-th WebSocket, which stays `hold_ms`) */
  guint hold;
  guint hold_ms;
  guint n_ws;
  GPtrArray *sockets;
  gint64 *attempt_times;
  guint n_attempts;
} FakePortal;

/* `status` 0: a WebSocket on /client/websocket behaving as `ws_mode`
 * says; else that HTTP status (with `retry_after` when not NULL). */
void fake_start (FakePortal *fp, guint status, const char *retry_after, const char *ws_mode);
/* The same on the loopback address of `family`; FALSE (nothing to stop)
 * when the machine has none for IPv6. */
gboolean fake_start_on (FakePortal *fp, GSocketFamily family, guint status,
                        const char *retry_after, const char *ws_mode);
void fake_stop (FakePortal *fp);

/* A self-signed certificate (its own trust anchor) for `dns_name` and,
 * when not NULL, the IPv4 address `ip`: dir/NAME.crt and dir/NAME.key. */
void write_certificate (const char *dir, const char *name, const char *dns_name, const char *ip);
