/* tests/turn/turn-servers — what the TURN interop tests (test-turn-interop,
 * test-turn-plugin) share: a real TURN server on 127.0.0.1, coturn's
 * turnserver or ember-relay, started with a temporary directory (log,
 * user database, pid file) and stopped again; the loopback UDP socket
 * helpers the tests and the start-up use; and the burst datagrams both
 * send through the relay.
 *
 * Owns the one server process alive at a time and its temporary files.
 * A failed assertion ends a test without its teardown, so after
 * turn_server_install_cleanup() an atexit handler and an async-signal-safe
 * SIGABRT/SIGTRAP handler kill the server and remove its files, and the
 * server dies with the test (PR_SET_PDEATHSIG) even when the test is
 * SIGKILLed. One test thread. */
#pragma once

#include "ember-plugin.h"

#include <netinet/in.h>

/* What every server is started with; the static user is u:p. */
#define TURN_SERVER_REALM "ember.test"
#define TURN_SERVER_USER "u"
#define TURN_SERVER_PASSWORD "p"

typedef struct {
  gboolean coturn;           /* coturn's turnserver, else ember-relay */
  const char *secret;        /* time-limited (REST) credentials from this
                              * shared secret; NULL: the static user */
  guint port_base;           /* 20 allocation ports from port_base +
                              * (pid % 500) * 20: tests that may run at the
                              * same time take bases 10000 apart */
  const char *tmp_template;  /* for g_dir_make_tmp (): "name-XXXXXX" */
  guint8 listen_host;        /* ember-relay only: listen and relay on
                              * 127.0.0.N; 0 means 1 */
} TurnServerConfig;

typedef struct {
  char *tmpdir, *log_path;
  GPid pid;                  /* 0: not running */
  guint16 port;
  EmberAddr addr;            /* 127.0.0.N:port (N = listen_host) */
  guint16 metrics_port;      /* ember-relay's --metrics-listen, 0 for coturn */
} TurnServer;

/* atexit, SIGABRT and SIGTRAP (g_error ()) handlers; once, from main (). */
void turn_server_install_cleanup (void);

/* TRUE, with the test skipped, when not root: suite 'interop' runs as
 * root only. */
gboolean turn_server_skip_unless_root (void);

/* Starts the server and waits (5 s at most) until it answers a STUN
 * Binding; asserts that it does. FALSE, with the test skipped, when the
 * binary is missing (turnserver not in PATH; ember-relay not built or
 * EMBER_BUILD_ROOT unset). */
gboolean turn_server_start (TurnServer *s, const TurnServerConfig *cfg);

/* TRUE while the process runs (a test may freeze it with SIGSTOP). */
gboolean turn_server_alive (TurnServer *s);

/* Ends the process (SIGCONT in case it is frozen, SIGTERM, 2 s, then
 * SIGKILL); when the test failed, shows its log, with what it wrote on
 * the way out; removes the temporary files. Does nothing on a server
 * never started. */
void turn_server_stop (TurnServer *s);

/* The server's log as a test message. */
void turn_server_dump_log (const TurnServer *s);

/* The value of an unlabelled metric ember-relay exports, read until it
 * is at least `want` or 2 s pass (the data plane publishes its counters
 * every 100 ms): the last value read, or -1 when it cannot be read
 * (coturn, no answer, no such metric). */
gint64 turn_server_metric (const TurnServer *s, const char *name, gint64 want);

/* ---- Loopback UDP (IPv4) ------------------------------------------------ */

EmberAddr udp_loopback (guint16 port);
struct sockaddr_in udp_to_sockaddr (const EmberAddr *a);
EmberAddr udp_from_sockaddr (const struct sockaddr_in *sin);
gboolean udp_addr_eq (const EmberAddr *a, const EmberAddr *b);

/* A non-blocking socket bound to 127.0.0.1 on a port the kernel picks,
 * with a 4 MiB receive buffer (room for a whole burst; needs root). */
int udp_socket (EmberAddr *bound);

/* A port that was free a moment ago. */
guint16 udp_free_port (void);

/* Sends one datagram; asserts that all of it went. */
void udp_send_to (int fd, const EmberAddr *to, const guint8 *buf, gsize len);

/* Sends `len` bytes as one UDP_SEGMENT message: datagrams of `seg`
 * bytes, the last one possibly shorter. Asserts that all of it went. */
void udp_send_train (int fd, const EmberAddr *to, const guint8 *buf, gsize len, guint16 seg);

/* Waits up to `timeout_ms` for one datagram on `fd`; -1 when none came. */
gssize udp_recv_from (int fd, int timeout_ms, EmberAddr *from, guint8 *buf, gsize cap);

/* ---- Bursts ------------------------------------------------------------- */

#define TURN_BURST_LEN 1000

/* Datagram i of a burst of n into `buf` (TURN_BURST_LEN bytes): 'B', i,
 * then a pattern from i; the last one is shorter, so that a train of
 * segments ends on a short one. Returns its length. */
gsize turn_burst_datagram (guint i, guint n, guint8 *buf);

/* TRUE when `data` is datagram i of a burst of n. */
gboolean turn_burst_ok (const guint8 *data, gsize len, guint i, guint n);
