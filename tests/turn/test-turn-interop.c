/* Interop tests for the TURN client (plugins/relay/client) over real UDP
 * sockets on 127.0.0.1, against coturn's turnserver and against
 * ember-relay, each started here with a temporary state directory and
 * killed at the end (fixture teardown, atexit, SIGABRT handler and
 * PR_SET_PDEATHSIG, so that a failed assertion leaves nothing running).
 *
 * For each server: allocate with long-term credentials (a static user and
 * the time-limited REST scheme), install a permission and bind a channel
 * to a peer socket, then send ChannelData client → peer and UDP peer →
 * relayed address → client, checking the bytes and addresses. Every wait
 * is bounded with poll(). Suite 'interop': skipped when not root or when
 * the server binary is missing. */
#include "relay/client/client.h"
#include "stun/message.h"

#include <glib/gstdio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define REALM "ember.test"
#define SECRET "interop-secret"

typedef struct {
  const char *name;
  gboolean coturn;
  gboolean rest;  /* time-limited credentials from a shared secret */
} Case;

typedef struct {
  char *tmpdir;
  char *log_path;
  GPid pid;
  guint16 port;
  int cli_fd, peer_fd;
  EmberAddr server, peer;
  EmberTurnClient *client;
  GString *events;
  /* Last relayed datagram the client received. */
  gboolean got_data;
  EmberAddr data_from;
  guint8 data[256];
  gsize data_len;
  /* Burst datagrams (first byte 'B') received in order so far; a gap,
   * a reordering or a damaged datagram sets burst_bad. */
  guint burst_next;
  gboolean burst_bad;
} Fx;

#define BURST 100        /* more than one batch and one UDP_SEGMENT train */
#define BURST_LEN 1000

/* Burst datagram i: 'B', i, then a pattern from i; the last is shorter
 * so that a train ends on a short segment. */
static gsize
burst_datagram (guint i, guint8 *buf)
{
  gsize len = i == BURST - 1 ? BURST_LEN / 2 + 1 : BURST_LEN;
  buf[0] = 'B';
  buf[1] = (guint8) i;
  for (gsize k = 2; k < len; k++)
    buf[k] = (guint8) (i * 7 + k);
  return len;
}

static gboolean
burst_ok (const guint8 *data, gsize len, guint i)
{
  guint8 want[BURST_LEN];
  gsize want_len = burst_datagram (i, want);
  return len == want_len && memcmp (data, want, len) == 0;
}

/* The one server process alive at a time, for atexit and SIGABRT. */
static volatile pid_t child_pid = 0;

static void
kill_child_now (void)
{
  pid_t pid = child_pid;
  if (pid > 0)
    {
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      child_pid = 0;
    }
}

static void
on_abort (int sig)
{
  if (child_pid > 0)
    kill (child_pid, SIGKILL);  /* async-signal-safe */
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
child_setup (gpointer user_data)
{
  (void) user_data;
  /* Dies with the test even if the test is SIGKILLed. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static EmberAddr
loopback (guint16 port)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = port };
  a.addr[0] = 127;
  a.addr[3] = 1;
  return a;
}

static struct sockaddr_in
to_sockaddr (const EmberAddr *a)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (a->port) };
  memcpy (&sin.sin_addr, a->addr, 4);
  return sin;
}

static EmberAddr
from_sockaddr (const struct sockaddr_in *sin)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = ntohs (sin->sin_port) };
  memcpy (a.addr, &sin->sin_addr, 4);
  return a;
}

static gboolean
addr_eq (const EmberAddr *a, const EmberAddr *b)
{
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, 4) == 0;
}

static int
udp_socket (EmberAddr *bound)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  /* Room for a whole burst (the tests run as root). */
  int size = 4 << 20;
  setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  EmberAddr any = loopback (0);
  struct sockaddr_in sin = to_sockaddr (&any);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  socklen_t len = sizeof sin;
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sin, &len), ==, 0);
  *bound = from_sockaddr (&sin);
  return fd;
}

static guint16
free_port (void)
{
  EmberAddr a;
  int fd = udp_socket (&a);
  close (fd);
  return a.port;
}

static void
send_to (int fd, const EmberAddr *to, const guint8 *buf, gsize len)
{
  struct sockaddr_in sin = to_sockaddr (to);
  ssize_t n = sendto (fd, buf, len, 0, (struct sockaddr *) &sin, sizeof sin);
  g_assert_cmpint (n, ==, (ssize_t) len);
}

/* Waits up to `timeout_ms` for one datagram on `fd`. */
static gssize
recv_from (int fd, int timeout_ms, EmberAddr *from, guint8 *buf, gsize cap)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  if (poll (&p, 1, timeout_ms) <= 0)
    return -1;
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  ssize_t n = recvfrom (fd, buf, cap, 0, (struct sockaddr *) &sin, &len);
  if (n >= 0)
    *from = from_sockaddr (&sin);
  return n;
}

static guint64
rng_next (gpointer user_data)
{
  (void) user_data;
  return ((guint64) g_random_int () << 32) | g_random_int ();
}

static void
rest_credentials (char *user, gsize user_len, char *pass, gsize pass_len)
{
  g_snprintf (user, user_len, "%" G_GINT64_FORMAT ":interop", g_get_real_time () / G_USEC_PER_SEC + 3600);
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  GHmac *h = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) SECRET, strlen (SECRET));
  g_hmac_update (h, (const guchar *) user, (gssize) strlen (user));
  g_hmac_get_digest (h, digest, &digest_len);
  g_hmac_unref (h);
  g_autofree char *b64 = g_base64_encode (digest, digest_len);
  g_strlcpy (pass, b64, pass_len);
}

static void
dump_log (Fx *fx)
{
  g_autofree char *text = NULL;
  if (fx->log_path != NULL && g_file_get_contents (fx->log_path, &text, NULL, NULL))
    g_test_message ("server log:\n%s", text);
  if (fx->events != NULL)
    g_test_message ("client events: %s", fx->events->str);
}

static gboolean
child_alive (Fx *fx)
{
  return fx->pid > 0 && waitpid (fx->pid, NULL, WNOHANG) == 0;
}

/* Starts the server; FALSE (test skipped) when its binary is missing. */
static gboolean
start_server (Fx *fx, const Case *c)
{
  g_autofree char *prog = NULL;
  if (c->coturn)
    prog = g_find_program_in_path ("turnserver");
  else
    {
      const char *root = g_getenv ("EMBER_BUILD_ROOT");
      if (root != NULL)
        prog = g_build_filename (root, "plugins", "relay", "ember-relay", NULL);
      if (prog != NULL && !g_file_test (prog, G_FILE_TEST_IS_EXECUTABLE))
        g_clear_pointer (&prog, g_free);
    }
  if (prog == NULL)
    {
      g_test_skip (c->coturn ? "turnserver (coturn) is not installed"
                             : "ember-relay not found (EMBER_BUILD_ROOT unset or not built)");
      return FALSE;
    }
  g_autoptr (GError) error = NULL;
  fx->tmpdir = g_dir_make_tmp ("ember-turn-interop-XXXXXX", &error);
  g_assert_no_error (error);
  fx->log_path = g_build_filename (fx->tmpdir, "server.log", NULL);
  fx->port = free_port ();
  /* A small allocation range chosen from the pid, away from the
   * ephemeral range the kernel hands to our own sockets. */
  guint base = 20000 + (guint) (getpid () % 500) * 20;
  g_autofree char *port = g_strdup_printf ("%u", fx->port);
  g_autofree char *min_port = g_strdup_printf ("%u", base);
  g_autofree char *max_port = g_strdup_printf ("%u", base + 19);
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup (prog));
  if (c->coturn)
    {
      /* coturn 4.6: loopback only, no CLI/TLS, a private state dir. */
      const char *fixed[] = { "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
                              "--realm=" REALM, "--allow-loopback-peers", "--no-cli", "--no-tls",
                              "--no-dtls", "--no-rfc5780", "--simple-log", "--fingerprint" };
      for (guint i = 0; i < G_N_ELEMENTS (fixed); i++)
        g_ptr_array_add (argv, g_strdup (fixed[i]));
      g_ptr_array_add (argv, g_strdup_printf ("--listening-port=%s", port));
      g_ptr_array_add (argv, g_strdup_printf ("--min-port=%s", min_port));
      g_ptr_array_add (argv, g_strdup_printf ("--max-port=%s", max_port));
      g_ptr_array_add (argv, g_strdup_printf ("--userdb=%s/turndb", fx->tmpdir));
      g_ptr_array_add (argv, g_strdup_printf ("--pidfile=%s/turnserver.pid", fx->tmpdir));
      g_ptr_array_add (argv, g_strdup_printf ("--log-file=%s", fx->log_path));
      if (c->rest)
        {
          g_ptr_array_add (argv, g_strdup ("--use-auth-secret"));
          g_ptr_array_add (argv, g_strdup ("--static-auth-secret=" SECRET));
        }
      else
        {
          g_ptr_array_add (argv, g_strdup ("--lt-cred-mech"));
          g_ptr_array_add (argv, g_strdup ("--user=u:p"));
        }
    }
  else
    {
      g_ptr_array_add (argv, g_strdup_printf ("--listen=127.0.0.1:%s", port));
      g_ptr_array_add (argv, g_strdup ("--public-ip4=127.0.0.1"));
      g_ptr_array_add (argv, g_strdup_printf ("--port-range=%s-%s", min_port, max_port));
      g_ptr_array_add (argv, g_strdup ("--realm=" REALM));
      g_ptr_array_add (argv, g_strdup ("--allow-peer=127.0.0.1/32"));
      g_ptr_array_add (argv, g_strdup (c->rest ? "--secret=" SECRET : "--user=u:p"));
      g_ptr_array_add (argv, g_strdup ("--log=debug"));
    }
  g_ptr_array_add (argv, NULL);

  int log_fd = open (fx->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_spawn_async_with_pipes_and_fds (fx->tmpdir, (const char *const *) argv->pdata, NULL,
                                    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                                    child_setup, NULL, -1, log_fd, log_fd, NULL, NULL, 0,
                                    &fx->pid, NULL, NULL, NULL, &error);
  close (log_fd);
  g_ptr_array_unref (argv);
  g_assert_no_error (error);
  child_pid = fx->pid;

  /* Wait until the port answers a STUN Binding (bounded: 5 s). */
  fx->server = loopback (fx->port);
  EmberAddr local;
  int fd = udp_socket (&local);
  gboolean up = FALSE;
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (!up && g_get_monotonic_time () < deadline && child_alive (fx))
    {
      guint8 req[64], txid[EMBER_STUN_TRANSACTION_ID_LEN], buf[512];
      for (guint i = 0; i < sizeof txid; i++)
        txid[i] = (guint8) g_random_int ();
      EmberStunBuilder b;
      ember_stun_builder_init (&b, req, sizeof req, EMBER_STUN_METHOD_BINDING,
                               EMBER_STUN_CLASS_REQUEST, txid);
      send_to (fd, &fx->server, req, ember_stun_builder_finish (&b, NULL));
      EmberAddr from;
      gssize n = recv_from (fd, 100, &from, buf, sizeof buf);
      EmberStunMessage m;
      up = n > 0 && ember_stun_message_parse (&m, buf, (gsize) n) == EMBER_STUN_OK
           && m.klass == EMBER_STUN_CLASS_SUCCESS
           && memcmp (m.transaction_id, txid, sizeof txid) == 0;
    }
  close (fd);
  if (!up)
    dump_log (fx);
  g_assert_true (up);
  return TRUE;
}

static void
fx_setup (Fx *fx, gconstpointer data)
{
  (void) data;
  memset (fx, 0, sizeof *fx);
  fx->cli_fd = fx->peer_fd = -1;
  fx->events = g_string_new (NULL);
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  if (fx->pid > 0)
    {
      /* SIGTERM, 2 s to exit, then SIGKILL. */
      kill (fx->pid, SIGTERM);
      gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
      while (waitpid (fx->pid, NULL, WNOHANG) == 0)
        {
          if (g_get_monotonic_time () > deadline)
            {
              kill (fx->pid, SIGKILL);
              waitpid (fx->pid, NULL, 0);
              break;
            }
          g_usleep (20000);
        }
      g_spawn_close_pid (fx->pid);
      child_pid = 0;
    }
  if (g_test_failed ())
    dump_log (fx);
  ember_turn_client_free (fx->client);
  if (fx->cli_fd >= 0)
    close (fx->cli_fd);
  if (fx->peer_fd >= 0)
    close (fx->peer_fd);
  if (fx->tmpdir != NULL)
    {
      const char *names[] = { "server.log", "turndb", "turnserver.pid" };
      for (guint i = 0; i < G_N_ELEMENTS (names); i++)
        {
          g_autofree char *p = g_build_filename (fx->tmpdir, names[i], NULL);
          g_unlink (p);
        }
      g_rmdir (fx->tmpdir);
    }
  g_free (fx->tmpdir);
  g_free (fx->log_path);
  g_string_free (fx->events, TRUE);
}

typedef gboolean (*Cond) (Fx *fx);

/* Runs the client on the socket until `cond` holds or `timeout_s` pass. */
static gboolean
drive (Fx *fx, Cond cond, int timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  for (;;)
    {
      gint64 now = g_get_monotonic_time ();
      guint8 buf[1500];
      EmberAddr to;
      gsize n;
      while ((n = ember_turn_client_poll_transmit (fx->client, buf, sizeof buf, &to)) > 0)
        send_to (fx->cli_fd, &to, buf, n);
      EmberTurnEvent ev;
      while (ember_turn_client_poll_event (fx->client, &ev))
        g_string_append_printf (fx->events, " %d(%u)", ev.type, ev.error_code);
      if (cond (fx))
        return TRUE;
      if (now >= deadline || !child_alive (fx))
        return FALSE;
      gint64 wake = MIN (ember_turn_client_poll_timeout (fx->client), deadline);
      int ms = (int) CLAMP ((wake - now) / 1000, 0, 50);
      EmberAddr from;
      gssize r;
      while ((r = recv_from (fx->cli_fd, ms, &from, buf, sizeof buf)) >= 0)
        {
          ms = 0;
          EmberAddr peer;
          const guint8 *data;
          gsize data_len;
          EmberTurnInputResult res = ember_turn_client_handle_input (
              fx->client, g_get_monotonic_time (), &from, buf, (gsize) r, &peer, &data, &data_len);
          if (res == EMBER_TURN_INPUT_DATA && data_len > 0 && data[0] == 'B')
            {
              if (!burst_ok (data, data_len, fx->burst_next))
                fx->burst_bad = TRUE;
              fx->burst_next++;
            }
          else if (res == EMBER_TURN_INPUT_DATA && data_len <= sizeof fx->data)
            {
              fx->got_data = TRUE;
              fx->data_from = peer;
              memcpy (fx->data, data, data_len);
              fx->data_len = data_len;
            }
        }
      now = g_get_monotonic_time ();
      if (now >= ember_turn_client_poll_timeout (fx->client))
        ember_turn_client_handle_timeout (fx->client, now);
    }
}

static gboolean
is_allocated (Fx *fx)
{
  return ember_turn_client_is_allocated (fx->client);
}

static gboolean
has_channel (Fx *fx)
{
  return ember_turn_client_get_channel (fx->client, &fx->peer) != 0;
}

static gboolean
got_data (Fx *fx)
{
  return fx->got_data;
}

static gboolean
got_burst (Fx *fx)
{
  return fx->burst_next >= BURST;
}

static void
test_interop (Fx *fx, gconstpointer data)
{
  const Case *c = data;
  if (geteuid () != 0)
    {
      g_test_skip ("suite interop runs as root only");
      return;
    }
  if (!start_server (fx, c))
    return;

  char user[128] = "u", pass[64] = "p";
  if (c->rest)
    rest_credentials (user, sizeof user, pass, sizeof pass);
  EmberAddr local;
  fx->cli_fd = udp_socket (&local);
  fx->peer_fd = udp_socket (&fx->peer);
  EmberTurnRng rng = { rng_next, NULL };
  fx->client = ember_turn_client_new (&fx->server, user, pass, &rng, g_get_monotonic_time ());
  ember_turn_client_want_allocation (fx->client, g_get_monotonic_time ());
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (drive (fx, is_allocated, 5));
  g_test_message ("%s: allocated in %.1f ms", c->name,
                  (double) (g_get_monotonic_time () - t0) / 1000);
  EmberAddr relayed[2];
  g_assert_cmpuint (ember_turn_client_get_relayed (fx->client, relayed), ==, 1);
  g_assert_cmpuint (relayed[0].family, ==, EMBER_ADDR_IPV4);
  EmberAddr lo = loopback (relayed[0].port);
  g_assert_true (addr_eq (&relayed[0], &lo));

  /* Permission + channel for the peer socket. */
  g_assert_true (ember_turn_client_add_peer (fx->client, g_get_monotonic_time (), &fx->peer));
  g_assert_true (drive (fx, has_channel, 5));

  /* Client → ChannelData → relay → peer, from the relayed address. */
  static const char up[] = "ember says hello through the relay";
  guint8 buf[1500];
  gsize n = ember_turn_client_encode (fx->client, g_get_monotonic_time (), &fx->peer,
                                      (const guint8 *) up, sizeof up - 1, buf, sizeof buf);
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpuint (buf[0] >> 6, ==, 1);  /* ChannelData */
  send_to (fx->cli_fd, &fx->server, buf, n);
  EmberAddr from;
  gssize r = recv_from (fx->peer_fd, 2000, &from, buf, sizeof buf);
  g_assert_cmpint (r, ==, (gssize) (sizeof up - 1));
  g_assert_cmpmem (buf, (int) r, up, (int) (sizeof up - 1));
  g_assert_true (addr_eq (&from, &relayed[0]));

  /* Peer → relayed address → relay → client (ChannelData on the bound
   * channel), odd length so the server pads. */
  static const char down[] = "and the peer answers: 31 bytes";
  send_to (fx->peer_fd, &relayed[0], (const guint8 *) down, sizeof down - 1);
  g_assert_true (drive (fx, got_data, 2));
  g_assert_true (addr_eq (&fx->data_from, &fx->peer));
  g_assert_cmpmem (fx->data, (int) fx->data_len, down, (int) (sizeof down - 1));

  /* Bursts both ways, sent back to back: ember-relay batches them (one
   * recvmmsg, then one UDP_SEGMENT message per destination). Every
   * datagram must arrive, whole and in order. Not asked of coturn: its
   * relay sockets keep the default buffer and drop part of such a burst
   * (about 30 of 100 here). */
  for (guint i = 0; !c->coturn && i < BURST; i++)
    {
      guint8 payload[BURST_LEN];
      gsize len = burst_datagram (i, payload);
      n = ember_turn_client_encode (fx->client, g_get_monotonic_time (), &fx->peer, payload, len,
                                    buf, sizeof buf);
      g_assert_cmpuint (n, >, len);
      send_to (fx->cli_fd, &fx->server, buf, n);
    }
  for (guint i = 0; !c->coturn && i < BURST; i++)
    {
      r = recv_from (fx->peer_fd, 2000, &from, buf, sizeof buf);
      if (r <= 0)
        g_error ("client → peer burst: %u of %u arrived", i, BURST);
      g_assert_true (addr_eq (&from, &relayed[0]));
      if (!burst_ok (buf, (gsize) r, i))
        g_error ("client → peer burst: datagram %u of %u wrong (%zd bytes)", i, BURST, r);
    }
  if (!c->coturn)
    {
      for (guint i = 0; i < BURST; i++)
        {
          gsize len = burst_datagram (i, buf);
          send_to (fx->peer_fd, &relayed[0], buf, len);
        }
      gboolean all = drive (fx, got_burst, 5);
      g_test_message ("peer → client burst: %u of %u in order", fx->burst_next, BURST);
      g_assert_true (all);
      g_assert_false (fx->burst_bad);
      g_assert_cmpuint (fx->burst_next, ==, BURST);
    }

  /* Release the allocation and let the request go out. */
  ember_turn_client_deallocate (fx->client, g_get_monotonic_time ());
  g_assert_false (ember_turn_client_is_allocated (fx->client));
  drive (fx, got_data, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  atexit (kill_child_now);
  signal (SIGABRT, on_abort);
  static const Case cases[] = {
    { "coturn-static-user", TRUE, FALSE },
    { "coturn-rest-secret", TRUE, TRUE },
    { "ember-relay-static-user", FALSE, FALSE },
    { "ember-relay-rest-secret", FALSE, TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/turn/interop/%s", cases[i].name);
      g_test_add (path, Fx, &cases[i], fx_setup, test_interop, fx_teardown);
    }
  return g_test_run ();
}
