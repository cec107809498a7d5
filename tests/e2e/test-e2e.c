/* tests/e2e/test-e2e.c — Ember end to end in network namespaces.
 *
 * scripts/lib/topology.sh builds the topology (a portal and two relays in
 * a public network, a client and a gateway behind two NAT routers, a LAN
 * behind the gateway); this program drives it through that script and
 * asserts what a user would see: pages, pings, paths, failures.
 *
 * Every test but bringing the topology up and taking it down runs in a
 * subprocess (g_test_trap_subprocess), so a failing assertion ends that
 * test only and the topology is still taken down at the end; SIGTERM,
 * SIGINT, SIGHUP and SIGABRT of this process take it down too. The tests
 * share one topology and run in order. Needs root; everything carries
 * the prefix "e2e-".
 *
 * The same binary, called with --e2e-stun-probe or --e2e-fake-portal,
 * is the helper the tests run inside a namespace (e2e-tools.c). */
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"

#define PREFIX "e2e-"
#define PORTAL "192.0.2.10"
#define RELAY1 "192.0.2.20:3478"
#define RELAY2 "192.0.2.21:3478"
#define NATC_WAN "198.51.100.2"
#define NATG_WAN "198.51.100.6"

static char *self_exe;
static char *topology_sh;
static char *build_root;
static char *topo_dir; /* E2E_DIR: the topology's directory */
static gboolean topology_up;

/* ---- running commands ------------------------------------------------------- */

typedef struct {
  int status; /* exit code, 128 + signal, or -1 when it did not start */
  char *out;
  char *err;
} Run;

static void
run_free (Run *r)
{
  g_free (r->out);
  g_free (r->err);
  g_free (r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Run, run_free)

static Run *
run_argv (GPtrArray *argv)
{
  Run *r = g_new0 (Run, 1);
  g_autoptr (GError) error = NULL;
  int wait_status = 0;
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &r->out,
                     &r->err, &wait_status, &error))
    {
      r->status = -1;
      r->out = g_strdup ("");
      r->err = g_strdup (error->message);
      return r;
    }
  r->status = WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : 128 + WTERMSIG (wait_status);
  return r;
}

/* topology.sh --dir DIR ARG... (NULL-terminated); its stderr is echoed. */
static Run *
topo (const char *first, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) "bash");
  g_ptr_array_add (argv, topology_sh);
  g_ptr_array_add (argv, (char *) "--dir");
  g_ptr_array_add (argv, topo_dir);
  va_list ap;
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (char *) a);
  va_end (ap);
  Run *r = run_argv (argv);
  if (r->err[0] != '\0')
    g_printerr ("%s", r->err);
  return r;
}

/* ---- processes in the background ------------------------------------------ */

typedef struct {
  GPid pid;
  char *file; /* its stdout and stderr */
  int status; /* once reaped */
  gboolean reaped;
} Bg;

/* Runs ARG... (NULL-terminated) inside NODE's namespace, output to FILE. */
static Bg *
bg_start (const char *node, const char *file, const char *first, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup ("bash"));
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strdup ("f=$1; shift; exec \"$@\" >\"$f\" 2>&1 </dev/null"));
  g_ptr_array_add (argv, g_strdup ("bg"));
  g_ptr_array_add (argv, g_strdup (file));
  g_ptr_array_add (argv, g_strdup ("ip"));
  g_ptr_array_add (argv, g_strdup ("netns"));
  g_ptr_array_add (argv, g_strdup ("exec"));
  g_ptr_array_add (argv, g_strconcat (PREFIX, node, NULL));
  va_list ap;
  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, g_strdup (a));
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  Bg *bg = g_new0 (Bg, 1);
  bg->file = g_strdup (file);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_async (NULL, (char **) argv->pdata, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                &bg->pid, &error));
  return bg;
}

static gboolean
bg_running (Bg *bg)
{
  if (bg->reaped)
    return FALSE;
  int st;
  if (waitpid (bg->pid, &st, WNOHANG) == bg->pid)
    {
      bg->reaped = TRUE;
      bg->status = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
      return FALSE;
    }
  return TRUE;
}

/* Waits up to `secs` for it to end; returns its status or -1. */
static int
bg_wait (Bg *bg, double secs)
{
  gint64 end = g_get_monotonic_time () + (gint64) (secs * G_USEC_PER_SEC);
  while (bg_running (bg) && g_get_monotonic_time () < end)
    g_usleep (50 * 1000);
  return bg->reaped ? bg->status : -1;
}

/* Sends `sig`, waits 10 s, then SIGKILL; returns its status. */
static int
bg_stop (Bg *bg, int sig)
{
  if (bg_running (bg))
    kill (bg->pid, sig);
  if (bg_wait (bg, 10) < 0)
    {
      kill (bg->pid, SIGKILL);
      bg_wait (bg, 5);
    }
  return bg->status;
}

static char *
bg_output (Bg *bg)
{
  char *text = NULL;
  if (!g_file_get_contents (bg->file, &text, NULL, NULL))
    text = g_strdup ("");
  return text;
}

static void
bg_free (Bg *bg)
{
  if (bg_running (bg))
    bg_stop (bg, SIGKILL);
  g_free (bg->file);
  g_free (bg);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Bg, bg_free)

/* ---- the tests -------------------------------------------------------------- */

/* "A:P" -> A and P. */
static void
split_hostport (const char *text, char **host, guint *port)
{
  const char *colon = strrchr (text, ':');
  g_assert_nonnull (colon);
  *host = g_strndup (text, (gsize) (colon - text));
  *port = (guint) g_ascii_strtoull (colon + 1, NULL, 10);
}

static void
assert_mapping (const char *node, const char *wan)
{
  g_autoptr (Run) r = topo ("exec", node, self_exe, "--e2e-stun-probe", RELAY1, RELAY2, NULL);
  g_printerr ("# stun probe from %s:\n%s", node, r->out);
  g_assert_cmpint (r->status, ==, 0);
  g_auto (GStrv) lines = g_strsplit (g_strstrip (r->out), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 3);
  g_assert_true (g_str_has_prefix (lines[0], "local "));
  guint local_port = (guint) g_ascii_strtoull (lines[0] + 6, NULL, 10);
  char *mapped[2];
  for (guint i = 0; i < 2; i++)
    {
      g_auto (GStrv) f = g_strsplit (lines[i + 1], " ", 2);
      g_assert_cmpstr (f[0], ==, i == 0 ? RELAY1 : RELAY2);
      mapped[i] = g_strdup (f[1]);
    }
  /* One inside socket, two destinations, one mapping: endpoint-independent. */
  g_assert_cmpstr (mapped[0], ==, mapped[1]);
  g_autofree char *host = NULL;
  guint port = 0;
  split_hostport (mapped[0], &host, &port);
  g_assert_cmpstr (host, ==, wan);
  g_assert_cmpuint (port, ==, local_port);
  g_free (mapped[0]);
  g_free (mapped[1]);
}

static void
test_nats_map_endpoint_independently (void)
{
  assert_mapping ("client", NATC_WAN);
  assert_mapping ("gateway", NATG_WAN);
}

/* Unsolicited UDP from outside reaches nobody behind a router; once the
 * inside has sent to a peer, that peer's datagrams come in, and only
 * from the port it was sent to. */
static void
test_nats_filter_unsolicited_udp (void)
{
  g_autofree char *log = g_build_filename (topo_dir, "udp-listener.log", NULL);
  /* The client listens on udp/40000 and echoes what arrives. */
  g_autoptr (Bg) listener =
    bg_start ("client", log, "timeout", "20", "/usr/bin/python3", "-c",
              "import socket,sys\n"
              "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
              "s.bind(('0.0.0.0',40000))\n"
              "s.sendto(b'hole',('" PORTAL "',40001))\n"
              "while True:\n"
              "  d,a=s.recvfrom(100)\n"
              "  print(d.decode(),a[0],flush=True)\n",
              NULL);
  g_usleep (500 * 1000);
  /* From the public network: a port nobody opened, then the hole. */
  g_autoptr (Run) r = topo ("exec", "public", "/usr/bin/python3", "-c",
                            "import socket,time\n"
                            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                            "s.bind(('" PORTAL "',40001))\n"
                            "o=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                            "o.bind(('" PORTAL "',40003))\n"
                            "for i in range(5):\n"
                            "  s.sendto(b'unsolicited',('" NATC_WAN "',40002))\n"
                            "  o.sendto(b'otherport',('" NATC_WAN "',40000))\n"
                            "  s.sendto(b'solicited',('" NATC_WAN "',40000))\n"
                            "  time.sleep(0.1)\n",
                            NULL);
  g_assert_cmpint (r->status, ==, 0);
  g_usleep (500 * 1000);
  bg_stop (listener, SIGTERM);
  g_autofree char *out = bg_output (listener);
  g_printerr ("# client heard:\n%s", out);
  g_assert_nonnull (strstr (out, "solicited " PORTAL));
  g_assert_null (strstr (out, "unsolicited"));
  /* Address-and-port-dependent filtering: another port of the same
   * peer does not get through the hole. */
  g_assert_null (strstr (out, "otherport"));
}

/* ---- the frame: set-up, teardown, signals ---------------------------------- */

static char *down_argv[8];

static void
on_fatal_signal (int sig)
{
  static volatile sig_atomic_t once;
  if (!once)
    {
      once = 1;
      pid_t p = fork ();
      if (p == 0)
        {
          execv (down_argv[0], down_argv);
          _exit (127);
        }
      if (p > 0)
        waitpid (p, NULL, 0);
    }
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
test_topology_comes_up (void)
{
  g_autoptr (Run) r = topo ("up", "--prefix", PREFIX, "--build", build_root, NULL);
  g_assert_cmpint (r->status, ==, 0);
  topology_up = r->status == 0;
}

static void
test_topology_down_leaves_nothing (void)
{
  g_autoptr (Run) down = topo ("--prefix", PREFIX, "down", NULL);
  g_assert_cmpint (down->status, ==, 0);
  g_autoptr (Run) left = topo ("--prefix", PREFIX, "leftovers", NULL);
  g_assert_cmpint (left->status, ==, 0);
  g_assert_cmpstr (left->out, ==, "");
  /* Idempotent. */
  g_autoptr (Run) again = topo ("--prefix", PREFIX, "down", NULL);
  g_assert_cmpint (again->status, ==, 0);
}

typedef struct {
  const char *path;
  void (*body) (void);
  guint timeout_s;
} Case;

static void
run_case (gconstpointer data)
{
  const Case *c = data;
  if (g_test_subprocess ())
    {
      c->body ();
      return;
    }
  if (!topology_up)
    {
      g_test_skip ("the topology did not come up");
      return;
    }
  g_test_trap_subprocess (NULL, (guint64) c->timeout_s * G_USEC_PER_SEC,
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static const Case cases[] = {
  { "/e2e/topology/nats-map-endpoint-independently", test_nats_map_endpoint_independently, 30 },
  { "/e2e/topology/nats-drop-unsolicited-udp", test_nats_filter_unsolicited_udp, 30 },
};

static void
skip_all (gconstpointer reason)
{
  g_test_skip (reason);
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && g_str_equal (argv[1], "--e2e-stun-probe"))
    return e2e_stun_probe (argc - 2, argv + 2);
  if (argc == 5 && g_str_equal (argv[1], "--e2e-fake-portal"))
    return e2e_fake_portal (argv[2], argv[3], argv[4]);

  g_test_init (&argc, &argv, NULL);

  const char *src = g_getenv ("EMBER_SOURCE_ROOT");
  const char *build = g_getenv ("EMBER_BUILD_ROOT");
  const char *why = NULL;
  if (getuid () != 0)
    why = "needs root (network namespaces)";
  else if (src == NULL || build == NULL)
    why = "EMBER_SOURCE_ROOT and EMBER_BUILD_ROOT unset: run through meson test";
  else
    for (const char *const *t = (const char *const[]) { "ip", "nft", "ss", "jq", "iperf3", "curl",
                                                        "ping", NULL };
         *t != NULL; t++)
      {
        g_autofree char *found = g_find_program_in_path (*t);
        if (found == NULL)
          why = "a tool is missing (scripts/deps.sh installs them)";
      }
  if (why != NULL)
    {
      g_test_add_data_func ("/e2e/skipped", why, skip_all);
      return g_test_run ();
    }

  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  topology_sh = g_build_filename (src, "scripts", "lib", "topology.sh", NULL);
  build_root = g_strdup (build);
  if (!g_test_subprocess ())
    {
      /* topology.sh down removes it. */
      topo_dir = g_dir_make_tmp ("ember-e2e-XXXXXX", NULL);
      g_assert_nonnull (topo_dir);
      g_setenv ("E2E_DIR", topo_dir, TRUE);
      down_argv[0] = (char *) "/bin/bash";
      down_argv[1] = topology_sh;
      down_argv[2] = (char *) "--dir";
      down_argv[3] = topo_dir;
      down_argv[4] = (char *) "--prefix";
      down_argv[5] = (char *) PREFIX;
      down_argv[6] = (char *) "down";
      down_argv[7] = NULL;
      struct sigaction sa = { .sa_handler = on_fatal_signal };
      sigemptyset (&sa.sa_mask);
      for (const int *s = (const int[]) { SIGTERM, SIGINT, SIGHUP, SIGABRT, 0 }; *s != 0; s++)
        sigaction (*s, &sa, NULL);
      /* A failed check in one test must not stop the teardown. */
      g_test_set_nonfatal_assertions ();
    }
  else
    topo_dir = g_strdup (g_getenv ("E2E_DIR"));

  g_test_add_func ("/e2e/setup/topology-comes-up", test_topology_comes_up);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_test_add_data_func (cases[i].path, &cases[i], run_case);
  g_test_add_func ("/e2e/teardown/leaves-no-namespace-interface-table-process-or-file", test_topology_down_leaves_nothing);

  return g_test_run ();
}
