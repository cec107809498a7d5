/* tests/dns/test-stub-interop: the stub resolver between real peers.
 *
 * dig asks a small loopback shell written here (UDP and TCP on one
 * 127.0.0.1 port standing for sentinel 0); the shell feeds the stub and
 * sends its transmits to a real unbound on another loopback port (over
 * UDP, or TCP when the stub asks). unbound serves local data only, so
 * nothing leaves the machine. Every socket is loopback with a port the
 * kernel picked; unbound is stopped at the end and, should an assertion
 * end the test first, by PR_SET_PDEATHSIG; its config directory is gone
 * once it has started. Skips when dig or unbound is missing. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "dns/stub.h"

typedef struct {
  EmberDnsStub *stub;
  int udp_fd, tcp_fd, up_fd;
  guint16 port, unbound_port;
  GPid unbound;
  char *dir;
  gint stop;
  GThread *thread;
  GMutex lock;
  EmberDnsStubStats stats;  /* copied under `lock` after every round */
} Shell;

static Shell shell;

static guint64
rng_counter (gpointer user_data)
{
  guint64 *state = user_data;

  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 17;
}

static guint64 rng_state = 7;

static void
set_timeout (int fd, int seconds)
{
  struct timeval tv = { .tv_sec = seconds };

  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static gboolean
read_all (int fd, guint8 *buf, gsize len)
{
  gsize got = 0;

  while (got < len)
    {
      ssize_t n = read (fd, buf + got, len - got);
      if (n <= 0)
        return FALSE;
      got += (gsize) n;
    }
  return TRUE;
}

static gboolean
write_framed (int fd, const guint8 *msg, gsize len)
{
  guint8 prefix[2] = { (guint8) (len >> 8), (guint8) len };

  return write (fd, prefix, 2) == 2 && write (fd, msg, len) == (ssize_t) len;
}

/* One framed message (RFC 7766 §8); its length or 0. */
static gsize
read_framed (int fd, guint8 *buf, gsize cap)
{
  guint8 prefix[2];
  gsize len;

  if (!read_all (fd, prefix, 2))
    return 0;
  len = (gsize) prefix[0] << 8 | prefix[1];
  if (len == 0 || len > cap || !read_all (fd, buf, len))
    return 0;
  return len;
}

static struct sockaddr_in
loopback (guint16 port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (port) };

  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  return sin;
}

/* The stub asked for TCP: one connection per query, as dig does. */
static void
upstream_tcp (const guint8 *query, gsize len, guint64 token)
{
  static guint8 answer[EMBER_DNS_TCP_MAX];
  struct sockaddr_in to = loopback (shell.unbound_port);
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gsize n = 0;

  set_timeout (fd, 5);
  if (connect (fd, (struct sockaddr *) &to, sizeof to) == 0 && write_framed (fd, query, len))
    n = read_framed (fd, answer, sizeof answer);
  close (fd);
  if (n > 0)
    ember_dns_stub_handle_upstream (shell.stub, g_get_monotonic_time (), 0,
                                    EMBER_DNS_TRANSPORT_TCP, answer, n);
  else
    ember_dns_stub_handle_upstream_error (shell.stub, g_get_monotonic_time (), token);
}

static void
drain (void)
{
  static guint8 buf[EMBER_DNS_TCP_MAX];
  gboolean more = TRUE;

  while (more)
    {
      EmberDnsStubEvent ev;
      EmberDnsAsker to;
      EmberDnsTransmit tx;
      gsize len;

      more = FALSE;
      /* the counters are copied before any answer leaves, so a test that
       * got its answer sees them */
      g_mutex_lock (&shell.lock);
      ember_dns_stub_get_stats (shell.stub, &shell.stats);
      g_mutex_unlock (&shell.lock);
      while (ember_dns_stub_poll_event (shell.stub, &ev))
        ;
      while ((len = ember_dns_stub_poll_answer (shell.stub, buf, sizeof buf, &to)) > 0)
        {
          if (to.transport == EMBER_DNS_TRANSPORT_TCP)
            {
              write_framed ((int) to.stream, buf, len);
              close ((int) to.stream);
            }
          else
            {
              struct sockaddr_in sin = loopback (to.client.port);
              memcpy (&sin.sin_addr, to.client.addr, 4);
              sendto (shell.udp_fd, buf, len, 0, (struct sockaddr *) &sin, sizeof sin);
            }
        }
      while (ember_dns_stub_poll_transmit (shell.stub, buf, sizeof buf, &tx))
        {
          g_assert_cmpuint (tx.upstream, ==, 0);
          if (tx.transport == EMBER_DNS_TRANSPORT_TCP)
            upstream_tcp (buf, tx.len, tx.token);
          else
            send (shell.up_fd, buf, tx.len, 0);
          more = TRUE;
        }
    }
}

static EmberDnsAsker
asker_from (const struct sockaddr_in *sin, EmberDnsTransport transport, guint64 stream)
{
  EmberDnsAsker a = { .transport = transport, .stream = stream };

  a.client.family = EMBER_ADDR_IPV4;
  memcpy (a.client.addr, &sin->sin_addr, 4);
  a.client.port = ntohs (sin->sin_port);
  ember_dns_stub_sentinel (0, EMBER_ADDR_IPV4, &a.sentinel);
  return a;
}

static gpointer
shell_run (gpointer data)
{
  static guint8 buf[EMBER_DNS_TCP_MAX];

  (void) data;
  while (!g_atomic_int_get (&shell.stop))
    {
      struct pollfd fds[3] = { { shell.udp_fd, POLLIN, 0 }, { shell.tcp_fd, POLLIN, 0 },
                               { shell.up_fd, POLLIN, 0 } };
      gint64 now = g_get_monotonic_time (), deadline = ember_dns_stub_poll_timeout (shell.stub);
      int wait_ms = (int) CLAMP ((deadline - now) / 1000, 0, 50);

      if (poll (fds, 3, wait_ms) < 0 && errno != EINTR)
        break;
      now = g_get_monotonic_time ();
      if (fds[0].revents & POLLIN)
        {
          struct sockaddr_in from;
          socklen_t flen = sizeof from;
          ssize_t n = recvfrom (shell.udp_fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &flen);
          if (n > 0)
            {
              EmberDnsAsker a = asker_from (&from, EMBER_DNS_TRANSPORT_UDP, 0);
              ember_dns_stub_handle_query (shell.stub, now, &a, buf, (gsize) n);
            }
        }
      if (fds[1].revents & POLLIN)
        {
          struct sockaddr_in from;
          socklen_t flen = sizeof from;
          int fd = accept (shell.tcp_fd, (struct sockaddr *) &from, &flen);
          gsize n;

          if (fd >= 0)
            {
              EmberDnsAsker a = asker_from (&from, EMBER_DNS_TRANSPORT_TCP, (guint64) fd);
              set_timeout (fd, 5);
              n = read_framed (fd, buf, sizeof buf);
              if (n == 0)
                close (fd);
              else
                switch (ember_dns_stub_handle_query (shell.stub, now, &a, buf, n))
                  {
                  case EMBER_DNS_STUB_DROPPED:
                  case EMBER_DNS_STUB_NOT_SENTINEL:
                    close (fd);
                    break;
                  default:
                    break;  /* the answer closes it */
                  }
            }
        }
      if (fds[2].revents & POLLIN)
        {
          ssize_t n = recv (shell.up_fd, buf, sizeof buf, 0);
          if (n > 0)
            ember_dns_stub_handle_upstream (shell.stub, now, 0, EMBER_DNS_TRANSPORT_UDP, buf,
                                            (gsize) n);
        }
      ember_dns_stub_handle_timeout (shell.stub, g_get_monotonic_time ());
      drain ();
    }
  return NULL;
}

static int
bound_socket (int type, guint16 port, guint16 *bound)
{
  struct sockaddr_in sin = loopback (port);
  socklen_t len = sizeof sin;
  int fd = socket (AF_INET, type, 0), one = 1;

  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &sin, sizeof sin) != 0)
    {
      close (fd);
      return -1;
    }
  getsockname (fd, (struct sockaddr *) &sin, &len);
  if (bound != NULL)
    *bound = ntohs (sin.sin_port);
  if (type == SOCK_STREAM)
    listen (fd, 16);
  return fd;
}

/* A UDP and a TCP socket on one free port. */
static gboolean
bind_pair (int *udp, int *tcp, guint16 *port)
{
  for (int attempt = 0; attempt < 20; attempt++)
    {
      *udp = bound_socket (SOCK_DGRAM, 0, port);
      *tcp = bound_socket (SOCK_STREAM, *port, NULL);
      if (*tcp >= 0)
        return TRUE;
      close (*udp);
    }
  return FALSE;
}

/* unbound dies with the test, whatever ends it. */
static void
die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* unbound with local data on a free loopback port (UDP and TCP). */
static gboolean
start_unbound (GError **error)
{
  g_autoptr (GString) conf = g_string_new (NULL);
  g_autofree char *path = NULL;
  const char *argv[] = { "unbound", "-d", "-c", NULL, NULL };
  int udp, tcp;

  if (!bind_pair (&udp, &tcp, &shell.unbound_port))
    return FALSE;
  close (udp);
  close (tcp);
  g_string_append_printf (conf,
                          "server:\n  interface: 127.0.0.1@%u\n  do-daemonize: no\n"
                          "  username: \"\"\n  chroot: \"\"\n  directory: \"%s\"\n"
                          "  pidfile: \"\"\n  logfile: \"\"\n  use-syslog: no\n  do-ip6: no\n"
                          "  module-config: \"iterator\"\n  access-control: 127.0.0.0/8 allow\n"
                          "  local-zone: \"lab.test.\" static\n"
                          "  local-data: \"www.lab.test. 300 IN A 192.0.2.80\"\n",
                          shell.unbound_port, shell.dir);
  for (int i = 1; i <= 40; i++)
    g_string_append_printf (conf, "  local-data: \"multi.lab.test. 300 IN A 10.0.1.%d\"\n", i);
  path = g_build_filename (shell.dir, "unbound.conf", NULL);
  if (!g_file_set_contents (path, conf->str, -1, error))
    return FALSE;
  argv[3] = path;
  return g_spawn_async (NULL, (char **) argv, NULL,
                        G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                            G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                        die_with_parent, NULL, &shell.unbound, error);
}

/* dig's output for `args` against the shell, or against unbound. */
static char *
dig (gboolean direct, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  int status = 0;

  g_ptr_array_add (argv, g_strdup ("dig"));
  g_ptr_array_add (argv, g_strdup ("@127.0.0.1"));
  g_ptr_array_add (argv, g_strdup_printf ("-p%u", direct ? shell.unbound_port : shell.port));
  g_ptr_array_add (argv, g_strdup ("+tries=1"));
  g_ptr_array_add (argv, g_strdup ("+time=5"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL,
                               G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, &status, &error));
  g_assert_no_error (error);
  g_test_message ("dig %s:\n%s", args[0], out);
  return out;
}

static guint
count_lines (const char *text)
{
  guint n = 0;

  for (const char *c = text; *c; c++)
    n += *c == '\n';
  return n;
}

static int
cmp_lines (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The lines of `text` in sorted order (unbound may rotate an RRset). */
static char *
sorted_lines (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  qsort (lines, g_strv_length (lines), sizeof (char *), cmp_lines);
  return g_strjoinv ("\n", lines);
}

static void
test_resource_name_gets_proxy_addresses (void)
{
  g_autofree char *a = dig (FALSE, (const char *[]){ "+short", "app.corp.example", "A", NULL });
  g_autofree char *aaaa = dig (FALSE,
                               (const char *[]){ "+short", "APP.corp.example", "AAAA", NULL });
  g_autofree char *https = dig (FALSE, (const char *[]){ "app.corp.example", "HTTPS", NULL });

  g_assert_cmpstr (a, ==, "100.96.0.1\n");
  g_assert_cmpstr (aaaa, ==, "fd00:2021:1111:8000::1\n");
  g_assert_nonnull (strstr (https, "status: NOERROR"));
  g_assert_nonnull (strstr (https, "ANSWER: 0"));
}

static void
test_other_names_through_unbound (void)
{
  g_autofree char *app = dig (FALSE, (const char *[]){ "+short", "app.corp.example", NULL });
  g_autofree char *www = dig (FALSE, (const char *[]){ "+short", "www.lab.test", NULL });
  g_autofree char *canary = dig (FALSE, (const char *[]){ "use-application-dns.net", NULL });
  g_autofree char *ptr = dig (FALSE, (const char *[]){ "+short", "-x", "100.96.0.1", NULL });

  g_assert_cmpstr (app, ==, "100.96.0.1\n");
  g_assert_cmpstr (www, ==, "192.0.2.80\n");
  g_assert_nonnull (strstr (canary, "status: NXDOMAIN"));
  g_assert_cmpstr (ptr, ==, "app.corp.example.\n");
}

/* Without EDNS, unbound truncates the 40 records: the stub fetches them
 * over TCP, hands dig 512 bytes with TC, and dig comes back over TCP. */
static void
test_truncated_answers_go_tcp (void)
{
  g_autofree char *cut = dig (FALSE, (const char *[]){ "+noedns", "+ignore", "+noall",
                                                       "+comments", "+answer",
                                                       "multi.lab.test", NULL });
  g_autofree char *all = dig (FALSE, (const char *[]){ "+noedns", "+short", "multi.lab.test",
                                                       NULL });
  g_autofree char *direct = dig (TRUE, (const char *[]){ "+noedns", "+short", "multi.lab.test",
                                                         NULL });
  g_autofree char *all_sorted = NULL, *direct_sorted = NULL;
  EmberDnsStubStats stats;

  /* (512 - 12 - 20) / 16 records fit */
  g_assert_nonnull (strstr (cut, "tc rd ra;"));
  g_assert_nonnull (strstr (cut, "ANSWER: 30"));
  g_assert_cmpuint (count_lines (all), ==, 40);
  g_assert_cmpuint (count_lines (direct), ==, 40);
  /* the same records as unbound gives dig itself */
  all_sorted = sorted_lines (all);
  direct_sorted = sorted_lines (direct);
  g_assert_cmpstr (all_sorted, ==, direct_sorted);
  /* the stub went to unbound over TCP for each of dig's three queries:
   * the cut one, the UDP try and dig's own TCP retry */
  g_mutex_lock (&shell.lock);
  stats = shell.stats;
  g_mutex_unlock (&shell.lock);
  g_assert_cmpuint (stats.retried_tcp, ==, 3);
  g_assert_cmpuint (stats.timeouts + stats.upstream_errors + stats.unmatched, ==, 0);
}

static void
test_dig_over_tcp (void)
{
  g_autofree char *a = dig (FALSE, (const char *[]){ "+tcp", "+short", "app.corp.example", NULL });
  g_autofree char *www = dig (FALSE, (const char *[]){ "+tcp", "+short", "www.lab.test", NULL });

  g_assert_cmpstr (a, ==, "100.96.0.1\n");
  g_assert_cmpstr (www, ==, "192.0.2.80\n");
}

static gboolean
start (void)
{
  static const char *tools[] = { "dig", "unbound" };
  EmberIceRng rng = { rng_counter, &rng_state };
  EmberDnsStubResource res = { { "00000000-0000-4000-8000-0000000000c1" }, "*.corp.example",
                               EMBER_DNS_STACK_DUAL };
  EmberAddr up = { .family = EMBER_ADDR_IPV4, .addr = { 127, 0, 0, 1 } };
  g_autoptr (GError) error = NULL;
  struct sockaddr_in to;

  for (gsize i = 0; i < G_N_ELEMENTS (tools); i++)
    {
      g_autofree char *p = g_find_program_in_path (tools[i]);
      if (p == NULL)
        return FALSE;
    }
  shell.dir = g_dir_make_tmp ("ember-dnsstub-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_true (start_unbound (&error));
  g_assert_no_error (error);

  shell.stub = ember_dns_stub_new (&rng);
  up.port = shell.unbound_port;
  ember_dns_stub_set_upstreams (shell.stub, &up, 1);
  g_assert_true (ember_dns_stub_set_resources (shell.stub, &res, 1, &error));
  g_assert_true (bind_pair (&shell.udp_fd, &shell.tcp_fd, &shell.port));
  shell.up_fd = socket (AF_INET, SOCK_DGRAM, 0);
  to = loopback (shell.unbound_port);
  g_assert_cmpint (connect (shell.up_fd, (struct sockaddr *) &to, sizeof to), ==, 0);

  /* unbound is up when it answers (bounded: 10 s) */
  for (int i = 0; i < 100; i++)
    {
      g_autofree char *out = NULL;
      const char *argv[] = { "dig", "@127.0.0.1", NULL, "+short", "+tries=1", "+time=1",
                             "www.lab.test", NULL };
      g_autofree char *port = g_strdup_printf ("-p%u", shell.unbound_port);

      argv[2] = port;
      if (g_spawn_sync (NULL, (char **) argv, NULL,
                        G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                        NULL, NULL, NULL) &&
          g_str_equal (out, "192.0.2.80\n"))
        break;
      g_usleep (100 * 1000);
    }
  {
    g_autofree char *conf = g_build_filename (shell.dir, "unbound.conf", NULL);
    g_unlink (conf);
    g_rmdir (shell.dir);
  }
  shell.thread = g_thread_new ("dns-shell", shell_run, NULL);
  return TRUE;
}

static void
stop (void)
{
  if (shell.thread != NULL)
    {
      g_atomic_int_set (&shell.stop, 1);
      g_thread_join (shell.thread);
    }
  if (shell.unbound > 0)
    {
      kill (shell.unbound, SIGTERM);
      waitpid (shell.unbound, NULL, 0);
      g_spawn_close_pid (shell.unbound);
    }
  if (shell.udp_fd > 0)
    close (shell.udp_fd);
  if (shell.tcp_fd > 0)
    close (shell.tcp_fd);
  if (shell.up_fd > 0)
    close (shell.up_fd);
  ember_dns_stub_free (shell.stub);
  g_free (shell.dir);
}

static void
skip_missing_tools (void)
{
  g_test_skip ("dig or unbound is not installed (bind9-dnsutils, unbound)");
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  if (!start ())
    {
      g_test_add_func ("/dns/interop/needs-dig-and-unbound", skip_missing_tools);
      return g_test_run ();
    }
  g_test_add_func ("/dns/interop/dig-gets-proxy-addresses-for-a-resource",
                   test_resource_name_gets_proxy_addresses);
  g_test_add_func ("/dns/interop/dig-resolves-other-names-through-unbound",
                   test_other_names_through_unbound);
  g_test_add_func ("/dns/interop/truncated-answers-go-over-tcp-both-ways",
                   test_truncated_answers_go_tcp);
  g_test_add_func ("/dns/interop/dig-over-tcp-to-the-sentinel", test_dig_over_tcp);
  rc = g_test_run ();
  stop ();
  return rc;
}
