/* The TURN servers of the interop tests, loopback UDP and bursts; see
 * turn-servers.h. */
#include "turn-servers.h"

#include <arpa/inet.h>
#include <netinet/udp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Cleanup ------------------------------------------------------------- */

/* The one server process alive at a time, and its temporary files and
 * directory (last), for the handlers below: a failed assertion ends the
 * test without its teardown. Plain arrays, so that a signal handler can
 * use them. */
static volatile pid_t child_pid = 0;
static const char *const tmp_names[] = { "server.log", "turndb", "turnserver.pid", "" };
static char tmp_paths[G_N_ELEMENTS (tmp_names)][256];

static void
remove_tmp (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (tmp_paths); i++)
    if (tmp_paths[i][0] != '\0')
      {
        if (i + 1 < G_N_ELEMENTS (tmp_paths))
          unlink (tmp_paths[i]);  /* async-signal-safe, like rmdir */
        else
          rmdir (tmp_paths[i]);
        tmp_paths[i][0] = '\0';
      }
}

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
  remove_tmp ();
}

static void
on_abort (int sig)
{
  kill_child_now ();  /* kill, waitpid, unlink and rmdir are async-signal-safe */
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

void
turn_server_install_cleanup (void)
{
  atexit (kill_child_now);
  signal (SIGABRT, on_abort);
  signal (SIGTRAP, on_abort);  /* g_error () */
}

gboolean
turn_server_skip_unless_root (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("suite interop runs as root only");
      return TRUE;
    }
  return FALSE;
}

/* ---- Loopback UDP --------------------------------------------------------- */

EmberAddr
udp_loopback (guint16 port)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = port };
  a.addr[0] = 127;
  a.addr[3] = 1;
  return a;
}

struct sockaddr_in
udp_to_sockaddr (const EmberAddr *a)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (a->port) };
  memcpy (&sin.sin_addr, a->addr, 4);
  return sin;
}

EmberAddr
udp_from_sockaddr (const struct sockaddr_in *sin)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = ntohs (sin->sin_port) };
  memcpy (a.addr, &sin->sin_addr, 4);
  return a;
}

gboolean
udp_addr_eq (const EmberAddr *a, const EmberAddr *b)
{
  gsize n = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, n) == 0;
}

int
udp_socket (EmberAddr *bound)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  int size = 4 << 20;
  setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  EmberAddr any = udp_loopback (0);
  struct sockaddr_in sin = udp_to_sockaddr (&any);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  socklen_t len = sizeof sin;
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sin, &len), ==, 0);
  *bound = udp_from_sockaddr (&sin);
  return fd;
}

guint16
udp_free_port (void)
{
  EmberAddr a;
  int fd = udp_socket (&a);
  close (fd);
  return a.port;
}

void
udp_send_to (int fd, const EmberAddr *to, const guint8 *buf, gsize len)
{
  struct sockaddr_in sin = udp_to_sockaddr (to);
  ssize_t n = sendto (fd, buf, len, 0, (struct sockaddr *) &sin, sizeof sin);
  g_assert_cmpint (n, ==, (ssize_t) len);
}

void
udp_send_train (int fd, const EmberAddr *to, const guint8 *buf, gsize len, guint16 seg)
{
  struct sockaddr_in sin = udp_to_sockaddr (to);
  struct iovec iov = { (void *) buf, len };
  union {
    char buf[CMSG_SPACE (sizeof seg)];
    struct cmsghdr align;
  } control;
  struct msghdr m = { .msg_name = &sin, .msg_namelen = sizeof sin, .msg_iov = &iov,
                      .msg_iovlen = 1, .msg_control = control.buf,
                      .msg_controllen = sizeof control.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR (&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN (sizeof seg);
  memcpy (CMSG_DATA (c), &seg, sizeof seg);
  g_assert_cmpint (sendmsg (fd, &m, 0), ==, (ssize_t) len);
}

gssize
udp_recv_from (int fd, int timeout_ms, EmberAddr *from, guint8 *buf, gsize cap)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  if (poll (&p, 1, timeout_ms) <= 0)
    return -1;
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  ssize_t n = recvfrom (fd, buf, cap, 0, (struct sockaddr *) &sin, &len);
  if (n >= 0)
    *from = udp_from_sockaddr (&sin);
  return n;
}

/* ---- Servers ------------------------------------------------------------- */

/* A TCP port on 127.0.0.1 that was free a moment ago. */
static guint16
tcp_free_port (void)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  EmberAddr lo = udp_loopback (0);
  struct sockaddr_in sin = udp_to_sockaddr (&lo);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  socklen_t len = sizeof sin;
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sin, &len), ==, 0);
  close (fd);
  return ntohs (sin.sin_port);
}

/* Reads everything `fd` sends until it closes, each wait bounded. */
static GString *
read_all (int fd, int timeout_ms)
{
  GString *out = g_string_new (NULL);
  struct pollfd p = { .fd = fd, .events = POLLIN };
  char buf[4096];
  ssize_t n;
  while (poll (&p, 1, timeout_ms) > 0 && (n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (out, buf, n);
  return out;
}

static gint64
read_metric (const TurnServer *s, const char *name)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  EmberAddr lo = udp_loopback (s->metrics_port);
  struct sockaddr_in sin = udp_to_sockaddr (&lo);
  static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  gint64 value = -1;
  if (connect (fd, (struct sockaddr *) &sin, sizeof sin) == 0
      && write (fd, req, sizeof req - 1) == (ssize_t) (sizeof req - 1))
    {
      g_autoptr (GString) text = read_all (fd, 2000);
      g_autofree char *key = g_strdup_printf ("\n%s ", name);
      const char *at = strstr (text->str, key);
      if (at != NULL)
        value = g_ascii_strtoll (at + strlen (key), NULL, 10);
    }
  close (fd);
  return value;
}

gint64
turn_server_metric (const TurnServer *s, const char *name, gint64 want)
{
  if (s->metrics_port == 0)
    return -1;
  gint64 value = read_metric (s, name);
  for (int i = 0; i < 40 && value < want; i++)
    {
      g_usleep (50000);
      value = read_metric (s, name);
    }
  return value;
}

void
turn_server_dump_log (const TurnServer *s)
{
  g_autofree char *text = NULL;
  if (s->log_path != NULL && g_file_get_contents (s->log_path, &text, NULL, NULL))
    g_test_message ("server log:\n%s", text);
}

gboolean
turn_server_alive (TurnServer *s)
{
  return s->pid > 0 && waitpid (s->pid, NULL, WNOHANG) == 0;
}

/* TRUE when the server answers the STUN Binding request `req` sent from
 * `fd` within 100 ms (RFC 8489 §5: type 0x0001, magic cookie, 96-bit
 * transaction id; a success response is type 0x0101 with the same id).
 * The caller retransmits the same request, as RFC 8489 §6.2.1 does, so a
 * slow server's answer to an earlier copy still counts. */
static gboolean
binding_answered (int fd, const EmberAddr *server, const guint8 req[20])
{
  udp_send_to (fd, server, req, 20);
  guint8 buf[512];
  EmberAddr from;
  gssize n = udp_recv_from (fd, 100, &from, buf, sizeof buf);
  return n >= 20 && buf[0] == 0x01 && buf[1] == 0x01 && memcmp (buf + 8, req + 8, 12) == 0;
}

static GPtrArray *
server_argv (const char *prog, const TurnServer *s, const TurnServerConfig *cfg)
{
  /* A small allocation range chosen from the pid, away from the
   * ephemeral range the kernel hands to our own sockets. */
  guint base = cfg->port_base + (guint) (getpid () % 500) * 20;
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup (prog));
  if (cfg->coturn)
    {
      /* coturn 4.6: loopback only, no CLI/TLS, a private state dir. */
      const char *fixed[] = { "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
                              "--realm=" TURN_SERVER_REALM, "--allow-loopback-peers", "--no-cli",
                              "--no-tls", "--no-dtls", "--no-rfc5780", "--simple-log",
                              "--fingerprint" };
      for (guint i = 0; i < G_N_ELEMENTS (fixed); i++)
        g_ptr_array_add (argv, g_strdup (fixed[i]));
      g_ptr_array_add (argv, g_strdup_printf ("--listening-port=%u", s->port));
      g_ptr_array_add (argv, g_strdup_printf ("--min-port=%u", base));
      g_ptr_array_add (argv, g_strdup_printf ("--max-port=%u", base + 19));
      g_ptr_array_add (argv, g_strdup_printf ("--userdb=%s/turndb", s->tmpdir));
      g_ptr_array_add (argv, g_strdup_printf ("--pidfile=%s/turnserver.pid", s->tmpdir));
      g_ptr_array_add (argv, g_strdup_printf ("--log-file=%s", s->log_path));
      if (cfg->secret != NULL)
        {
          g_ptr_array_add (argv, g_strdup ("--use-auth-secret"));
          g_ptr_array_add (argv, g_strdup_printf ("--static-auth-secret=%s", cfg->secret));
        }
      else
        {
          g_ptr_array_add (argv, g_strdup ("--lt-cred-mech"));
          g_ptr_array_add (argv, g_strdup ("--user=" TURN_SERVER_USER ":" TURN_SERVER_PASSWORD));
        }
    }
  else
    {
      g_ptr_array_add (argv, g_strdup_printf ("--listen=127.0.0.%u:%u", s->addr.addr[3], s->port));
      g_ptr_array_add (argv, g_strdup_printf ("--public-ip4=127.0.0.%u", s->addr.addr[3]));
      g_ptr_array_add (argv, g_strdup_printf ("--port-range=%u-%u", base, base + 19));
      g_ptr_array_add (argv, g_strdup ("--realm=" TURN_SERVER_REALM));
      g_ptr_array_add (argv, g_strdup ("--allow-peer=127.0.0.1/32"));
      if (cfg->secret != NULL)
        g_ptr_array_add (argv, g_strdup_printf ("--secret=%s", cfg->secret));
      else
        g_ptr_array_add (argv, g_strdup ("--user=" TURN_SERVER_USER ":" TURN_SERVER_PASSWORD));
      g_ptr_array_add (argv, g_strdup_printf ("--metrics-listen=127.0.0.1:%u", s->metrics_port));
      g_ptr_array_add (argv, g_strdup ("--log=debug"));
    }
  g_ptr_array_add (argv, NULL);
  return argv;
}

gboolean
turn_server_start (TurnServer *s, const TurnServerConfig *cfg)
{
  g_assert_cmpint (child_pid, ==, 0);
  g_autofree char *prog = NULL;
  if (cfg->coturn)
    prog = g_find_program_in_path ("turnserver");
  else
    {
      const char *root = g_getenv ("EMBER_BUILD_ROOT");
      if (root != NULL)
        prog = g_build_filename (root, "plugins", "relay", "ember-relay", "ember-relay", NULL);
      if (prog != NULL && !g_file_test (prog, G_FILE_TEST_IS_EXECUTABLE))
        g_clear_pointer (&prog, g_free);
    }
  if (prog == NULL)
    {
      g_test_skip (cfg->coturn ? "turnserver (coturn) is not installed"
                               : "ember-relay not found (EMBER_BUILD_ROOT unset or not built)");
      return FALSE;
    }
  g_autoptr (GError) error = NULL;
  s->tmpdir = g_dir_make_tmp (cfg->tmp_template, &error);
  g_assert_no_error (error);
  s->log_path = g_build_filename (s->tmpdir, "server.log", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (tmp_names); i++)
    {
      gint n = g_snprintf (tmp_paths[i], sizeof tmp_paths[i], "%s%s%s", s->tmpdir,
                           tmp_names[i][0] != '\0' ? "/" : "", tmp_names[i]);
      g_assert_cmpint (n, <, (gint) sizeof tmp_paths[i]);
    }
  s->port = udp_free_port ();
  s->addr = udp_loopback (s->port);
  if (!cfg->coturn && cfg->listen_host != 0)
    s->addr.addr[3] = cfg->listen_host;
  s->metrics_port = cfg->coturn ? 0 : tcp_free_port ();
  GPtrArray *argv = server_argv (prog, s, cfg);

  int log_fd = open (s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (log_fd, >=, 0);
  g_spawn_async_with_pipes_and_fds (s->tmpdir, (const char *const *) argv->pdata, NULL,
                                    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL,
                                    child_setup, NULL, -1, log_fd, log_fd, NULL, NULL, 0,
                                    &s->pid, NULL, NULL, NULL, &error);
  close (log_fd);
  g_ptr_array_unref (argv);
  g_assert_no_error (error);
  child_pid = s->pid;

  /* Up when the port answers a STUN Binding (bounded: 20 s). */
  EmberAddr local;
  int fd = udp_socket (&local);
  guint8 req[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
  for (guint i = 8; i < sizeof req; i++)
    req[i] = (guint8) g_random_int ();
  gboolean up = FALSE;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (!up && g_get_monotonic_time () < deadline && turn_server_alive (s))
    up = binding_answered (fd, &s->addr, req);
  close (fd);
  if (!up)
    turn_server_dump_log (s);
  g_assert_true (up);
  return TRUE;
}

void
turn_server_stop (TurnServer *s)
{
  if (s->pid > 0)
    {
      /* A test may have frozen it (SIGSTOP); then SIGTERM, 2 s to exit,
       * then SIGKILL. */
      kill (s->pid, SIGCONT);
      kill (s->pid, SIGTERM);
      gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
      while (waitpid (s->pid, NULL, WNOHANG) == 0)
        {
          if (g_get_monotonic_time () > deadline)
            {
              kill (s->pid, SIGKILL);
              waitpid (s->pid, NULL, 0);
              break;
            }
          g_usleep (20000);
        }
      g_spawn_close_pid (s->pid);
      s->pid = 0;
      child_pid = 0;
    }
  if (g_test_failed ())
    turn_server_dump_log (s);
  remove_tmp ();
  g_clear_pointer (&s->tmpdir, g_free);
  g_clear_pointer (&s->log_path, g_free);
}

/* ---- Bursts --------------------------------------------------------------- */

gsize
turn_burst_datagram (guint i, guint n, guint8 *buf)
{
  gsize len = i == n - 1 ? TURN_BURST_LEN / 2 + 1 : TURN_BURST_LEN;
  buf[0] = 'B';
  buf[1] = (guint8) i;
  for (gsize k = 2; k < len; k++)
    buf[k] = (guint8) (i * 7 + k);
  return len;
}

gboolean
turn_burst_ok (const guint8 *data, gsize len, guint i, guint n)
{
  guint8 want[TURN_BURST_LEN];
  gsize want_len = turn_burst_datagram (i, n, want);
  return len == want_len && memcmp (data, want, len) == 0;
}
