/* Interop: ember-relay against coturn's turnutils_stunclient,
 * turnutils_uclient and turnutils_peer on loopback (suite 'interop').
 * Every process started is killed in teardown, also when an assertion
 * fails (GLib runs fixture teardown before reporting). */
#include <gio/gio.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_PORT 34781
#define PEER_PORT 34801
#define METRICS_PORT 34791

typedef struct {
  GSubprocess *relay;
  GSubprocess *peer;
} Fx;

static gboolean
tools_present (void)
{
  const char *tools[] = { "turnutils_uclient", "turnutils_peer", "turnutils_stunclient", "timeout" };
  for (gsize i = 0; i < G_N_ELEMENTS (tools); i++)
    {
      g_autofree char *p = g_find_program_in_path (tools[i]);
      if (p == NULL)
        {
          g_test_skip_printf ("%s is not installed (coturn)", tools[i]);
          return FALSE;
        }
    }
  return TRUE;
}

/* TRUE once something holds udp 127.0.0.1:port. */
static gboolean
udp_bound (guint16 port)
{
  int fd = socket (AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port) };
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  int r = bind (fd, (struct sockaddr *) &sa, sizeof sa);
  int e = errno;
  close (fd);
  return r < 0 && e == EADDRINUSE;
}

static void
wait_bound (guint16 port)
{
  for (int i = 0; i < 100 && !udp_bound (port); i++)
    g_usleep (50000);
  g_assert_true (udp_bound (port));
}

/* A failed assertion aborts the test before teardown runs: the kernel
 * then stops every child we started. */
static void
die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *
spawn (GError **error, const char *const *argv, gboolean capture)
{
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (
    capture ? G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE
            : G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (l, die_with_parent, NULL, NULL);
  return g_subprocess_launcher_spawnv (l, argv, error);
}

static void
fx_setup (Fx *fx, gconstpointer data)
{
  (void) data;
  memset (fx, 0, sizeof *fx);
  if (!tools_present ())
    return;
  const char *build = g_getenv ("EMBER_BUILD_ROOT");
  g_autofree char *relay = g_build_filename (build ? build : ".", "plugins", "relay", "ember-relay", "ember-relay", NULL);
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%d", RELAY_PORT);
  g_autoptr (GError) error = NULL;
  const char *relay_argv[] = { relay, "--listen", listen, "--port-range", "51000-51999",
                               "--realm", "ember.test", "--user", "alice:wonderland",
                               "--secret", "interop-secret", "--allow-peer", "127.0.0.1/32",
                               "--allow-peer", "::1/128", "--rfc5766-channels",
                               "--user-quota", "100", "--metrics-listen",
                               "127.0.0.1:" G_STRINGIFY (METRICS_PORT), NULL };
  g_assert_false (udp_bound (RELAY_PORT));
  fx->relay = spawn (&error, relay_argv, FALSE);
  g_assert_no_error (error);
  g_autofree char *pport = g_strdup_printf ("%d", PEER_PORT);
  /* Started directly, not under timeout(1): PR_SET_PDEATHSIG applies to
   * the direct child only, and a peer behind a killed timeout would
   * outlive an aborted test. */
  const char *peer_argv[] = { "turnutils_peer", "-L", "127.0.0.1", "-p", pport, NULL };
  fx->peer = spawn (&error, peer_argv, FALSE);
  g_assert_no_error (error);
  wait_bound (RELAY_PORT);
  wait_bound (PEER_PORT);
}

static void
kill_wait (GSubprocess **p)
{
  if (*p == NULL)
    return;
  g_subprocess_send_signal (*p, SIGTERM);
  g_subprocess_wait (*p, NULL, NULL);
  g_clear_object (p);
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  kill_wait (&fx->peer);
  kill_wait (&fx->relay);
}

static char *
run (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) p = spawn (&error, argv, TRUE);
  g_assert_no_error (error);
  char *out = NULL;
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  return out;
}

static void
test_stunclient (Fx *fx, gconstpointer data)
{
  (void) data;
  if (fx->relay == NULL)
    return;
  const char *argv[] = { "timeout", "10", "turnutils_stunclient", "-p", G_STRINGIFY (RELAY_PORT),
                         "127.0.0.1", NULL };
  g_autofree char *out = run (argv);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "UDP reflexive addr: 127.0.0.1:"));
}

/* Runs uclient and checks every message came back. */
static void
uclient (gboolean send_mode, gboolean rest)
{
  const char *argv[32];
  guint n = 0;
  argv[n++] = "timeout";
  argv[n++] = "60";
  argv[n++] = "turnutils_uclient";
  if (send_mode)
    argv[n++] = "-s";
  if (rest)
    {
      argv[n++] = "-W";
      argv[n++] = "interop-secret";
      argv[n++] = "-u";
      argv[n++] = "device-1";
    }
  else
    {
      argv[n++] = "-u";
      argv[n++] = "alice";
      argv[n++] = "-w";
      argv[n++] = "wonderland";
    }
  const char *rest_args[] = { "-e", "127.0.0.1", "-r", G_STRINGIFY (PEER_PORT), "-p",
                              G_STRINGIFY (RELAY_PORT), "-m", "4", "-n", "200", "-l", "400",
                              "-z", "5", "-c", "127.0.0.1", NULL };
  for (guint i = 0; rest_args[i] != NULL; i++)
    argv[n++] = rest_args[i];
  argv[n] = NULL;
  g_autofree char *out = run (argv);
  g_test_message ("%s", out);
  /* Progress lines repeat the counters; the last one is the total. */
  const char *tot = g_strrstr (out, "tot_send_msgs=");
  const char *lost = strstr (out, "Total lost packets ");
  g_assert_nonnull (tot);
  g_assert_nonnull (lost);
  guint64 sent = g_ascii_strtoull (tot + strlen ("tot_send_msgs="), NULL, 10);
  const char *recv = strstr (tot, "tot_recv_msgs=");
  g_assert_nonnull (recv);
  guint64 received = g_ascii_strtoull (recv + strlen ("tot_recv_msgs="), NULL, 10);
  guint64 lost_n = g_ascii_strtoull (lost + strlen ("Total lost packets "), NULL, 10);
  g_assert_cmpuint (sent, ==, 4 * 200);
  g_assert_cmpuint (received, ==, sent);
  g_assert_cmpuint (lost_n, ==, 0);
}

static void
test_uclient_channel_static (Fx *fx, gconstpointer d)
{
  (void) d;
  if (fx->relay != NULL)
    uclient (FALSE, FALSE);
}

static void
test_uclient_send_static (Fx *fx, gconstpointer d)
{
  (void) d;
  if (fx->relay != NULL)
    uclient (TRUE, FALSE);
}

static void
test_uclient_channel_rest (Fx *fx, gconstpointer d)
{
  (void) d;
  if (fx->relay != NULL)
    uclient (FALSE, TRUE);
}

static void
test_uclient_send_rest (Fx *fx, gconstpointer d)
{
  (void) d;
  if (fx->relay != NULL)
    uclient (TRUE, TRUE);
}

/* GET /metrics over plain HTTP/1.0; the body, or NULL. */
static char *
get_metrics (void)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_socket_client_set_timeout (client, 5);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) conn =
    g_socket_client_connect_to_host (client, "127.0.0.1:" G_STRINGIFY (METRICS_PORT), 0, NULL, &error);
  if (conn == NULL)
    return NULL;
  static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  if (!g_output_stream_write_all (out, req, sizeof req - 1, NULL, NULL, &error))
    return NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  g_autoptr (GString) body = g_string_new (NULL);
  char buf[4096];
  gssize n;
  while ((n = g_input_stream_read (in, buf, sizeof buf, NULL, &error)) > 0)
    g_string_append_len (body, buf, n);
  return g_string_free (g_steal_pointer (&body), FALSE);
}

/* The value of an unlabelled metric in an exposition, or -1. */
static gint64
metric (const char *text, const char *name)
{
  g_autofree char *key = g_strdup_printf ("\n%s ", name);
  const char *at = strstr (text, key);
  return at ? g_ascii_strtoll (at + strlen (key), NULL, 10) : -1;
}

/* The counters the data-plane thread publishes reach the metrics
 * server on the main thread: relayed traffic, allocations, syscalls. */
static void
test_metrics (Fx *fx, gconstpointer d)
{
  (void) d;
  if (fx->relay == NULL)
    return;
  uclient (FALSE, FALSE);
  g_autofree char *text = NULL;
  for (int i = 0; i < 40; i++)
    {
      g_free (text);
      text = get_metrics ();
      if (text != NULL && metric (text, "ember_relay_packets_to_peer_total") >= 4 * 200)
        break;
      g_usleep (50000);
    }
  g_assert_nonnull (text);
  g_test_message ("%s", text);
  g_assert_nonnull (strstr (text, "HTTP/1.0 200") ? text : strstr (text, "HTTP/1.1 200"));
  g_assert_cmpint (metric (text, "ember_relay_packets_to_peer_total"), ==, 4 * 200);
  g_assert_cmpint (metric (text, "ember_relay_packets_to_client_total"), >=, 4 * 200);
  g_assert_cmpint (metric (text, "ember_relay_allocations_created_total"), >=, 4);
  /* Gauges are exported (their value depends on whether uclient has
   * released its allocations yet). */
  g_assert_cmpint (metric (text, "ember_relay_channels"), >=, 0);
  g_assert_cmpint (metric (text, "ember_relay_allocations"), >=, 0);
  g_assert_cmpint (metric (text, "ember_relay_datagrams_sent_total"), >=, 2 * 4 * 200);
  g_assert_cmpint (metric (text, "ember_relay_recv_syscalls_total"), >, 0);
  g_assert_cmpint (metric (text, "ember_relay_send_errors_total"), ==, 0);
}

#define ADD(path, fn) g_test_add ("/relay/interop/" path, Fx, NULL, fx_setup, fn, fx_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  ADD ("stunclient-gets-mapped-address", test_stunclient);
  ADD ("uclient-channel-static-user", test_uclient_channel_static);
  ADD ("uclient-send-static-user", test_uclient_send_static);
  ADD ("uclient-channel-rest-secret", test_uclient_channel_rest);
  ADD ("uclient-send-rest-secret", test_uclient_send_rest);
  ADD ("metrics-count-relayed-traffic", test_metrics);
  return g_test_run ();
}
