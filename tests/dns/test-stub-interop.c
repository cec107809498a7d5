/* tests/dns/test-stub-interop: the stub resolver between real peers.
 *
 * dig asks a small loopback shell (stub-shell.c: UDP and TCP on one
 * 127.0.0.1 port standing for sentinel 0); the shell feeds the stub and
 * sends its transmits to a real unbound on another loopback port (over
 * UDP, or TCP when the stub asks). unbound serves local data only, so
 * nothing leaves the machine. Every socket is loopback with a port the
 * kernel picked; unbound is stopped at the end and, should an assertion
 * end the test first, by PR_SET_PDEATHSIG; its config directory is gone
 * once it has started. Skips when dig or unbound is missing. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "dns/stub.h"
#include "stub-shell.h"

typedef struct {
  EmberDnsStub *stub;
  DnsShell io;
  guint16 port, unbound_port;
  GPid unbound;
  char *dir;
  GThread *thread;
} Shell;

static Shell shell;

static gpointer
shell_thread (gpointer data)
{
  dns_shell_run (data);
  return NULL;
}

static guint64
rng_counter (gpointer user_data)
{
  guint64 *state = user_data;

  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 17;
}

static guint64 rng_state = 7;

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

  if (!dns_shell_bind_pair (&udp, &tcp, &shell.unbound_port))
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
  dns_shell_get_stats (&shell.io, &stats);
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
  g_assert_true (dns_shell_open (&shell.io, shell.stub, shell.unbound_port));
  shell.port = shell.io.port;

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
  shell.thread = g_thread_new ("dns-shell", shell_thread, &shell.io);
  return TRUE;
}

static void
stop (void)
{
  if (shell.thread != NULL)
    {
      g_atomic_int_set (&shell.io.stop, 1);
      g_thread_join (shell.thread);
    }
  if (shell.unbound > 0)
    {
      kill (shell.unbound, SIGTERM);
      waitpid (shell.unbound, NULL, 0);
      g_spawn_close_pid (shell.unbound);
    }
  dns_shell_close (&shell.io);
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
