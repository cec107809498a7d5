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

/* Namespaces, interfaces and tables start with it; EMBER_E2E_PREFIX
 * (at most 8 characters) gives a run its own, so two runs on one machine
 * (say, two work trees) do not tear down each other's topology. */
static const char *
e2e_prefix (void)
{
  const char *p = g_getenv ("EMBER_E2E_PREFIX");
  return p != NULL && *p != '\0' ? p : "e2e-";
}
#define PREFIX e2e_prefix ()
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
  if (g_file_get_contents (bg->file, &text, NULL, NULL))
    return text;
  return g_strdup ("");
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

/* ---- emberd ----------------------------------------------------------------- */

#define LAN_HOST "10.20.0.10"
#define VAULT_HOST "10.30.0.10"
#define LAN_PAGE "ember e2e: the lan resource"
/* docs/tunnel.md: the simulator asserts recovery within 35 s of a fault
 * (a rebooted relay measured 14.6 s over 2,000 seeds). */
#define RELAY_RECOVERY_BOUND_S 35.0

static char *
emberd_path (void)
{
  return g_build_filename (build_root, "bin", "emberd", "emberd", NULL);
}

static JsonNode *
status_json (const char *role)
{
  g_autoptr (Run) r = topo ("status", role, NULL);
  if (r->status != 0)
    return NULL;
  return json_from_string (r->out, NULL);
}

/* The member at a dotted path ("connections.0.path"), borrowed, or NULL. */
static JsonNode *
json_at (JsonNode *node, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);
  for (guint i = 0; parts[i] != NULL && node != NULL; i++)
    {
      if (JSON_NODE_HOLDS_OBJECT (node))
        node = json_object_get_member (json_node_get_object (node), parts[i]);
      else if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *a = json_node_get_array (node);
          guint idx = (guint) g_ascii_strtoull (parts[i], NULL, 10);
          node = idx < json_array_get_length (a) ? json_array_get_element (a, idx) : NULL;
        }
      else
        node = NULL;
    }
  return node;
}

static char *
status_string (const char *role, const char *path)
{
  g_autoptr (JsonNode) root = status_json (role);
  JsonNode *n = root != NULL ? json_at (root, path) : NULL;
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
           ? g_strdup (json_node_get_string (n))
           : NULL;
}

static gint64
status_int (const char *role, const char *path)
{
  g_autoptr (JsonNode) root = status_json (role);
  JsonNode *n = root != NULL ? json_at (root, path) : NULL;
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_int (n) : -1;
}

/* Waits up to `secs` for the status string at `path` to read `want`. */
static gboolean
wait_status (const char *role, const char *path, const char *want, double secs)
{
  gint64 end = g_get_monotonic_time () + (gint64) (secs * G_USEC_PER_SEC);
  do
    {
      g_autofree char *v = status_string (role, path);
      if (g_strcmp0 (v, want) == 0)
        return TRUE;
      g_usleep (200 * 1000);
    }
  while (g_get_monotonic_time () < end);
  return FALSE;
}

static void
print_log_tail (const char *name)
{
  g_autofree char *file = g_strdup_printf ("%s/%s.log", topo_dir, name);
  g_autofree char *text = NULL;
  if (g_file_get_contents (file, &text, NULL, NULL))
    {
      gsize len = strlen (text);
      g_printerr ("# --- last of %s.log:\n%s\n", name, len > 3000 ? text + len - 3000 : text);
    }
}

static void
start_and_join (const char *role)
{
  g_autoptr (Run) start = topo ("emberd-start", role, NULL);
  g_assert_cmpint (start->status, ==, 0);
  g_autoptr (Run) join = topo ("wait-joined", role, "30", NULL);
  if (join->status != 0)
    print_log_tail (g_str_equal (role, "client") ? "emberd-client" : "emberd-gateway");
  g_assert_cmpint (join->status, ==, 0);
}

/* GET http://HOST[:PORT]/ from the client; returns curl's Run, whose out
 * is the body and then a line with time_connect. */
static Run *
fetch (const char *url, const char *max_time)
{
  return topo ("exec", "client", "curl", "-sS", "-m", max_time, "-w", "\n%{time_connect}\n", url,
               NULL);
}

static void
test_gateway_and_client_join (void)
{
  start_and_join ("gateway");
  start_and_join ("client");
  /* The portal's init names each end after its token (`token create
   * client laptop`, `gateway gw1`): emberd --status shows it. */
  g_assert_true (wait_status ("gateway", "identity.name", "gw1", 10));
  g_assert_true (wait_status ("client", "identity.name", "laptop", 10));
  g_autofree char *id = status_string ("client", "identity.id");
  g_assert_cmpuint (strlen (id), ==, 36);
}

static void
test_resource_reachable (void)
{
  g_autoptr (Run) page = fetch ("http://" LAN_HOST "/", "30");
  if (page->status != 0)
    {
      print_log_tail ("emberd-client");
      print_log_tail ("emberd-gateway");
    }
  g_assert_cmpint (page->status, ==, 0);
  g_assert_nonnull (strstr (page->out, LAN_PAGE));
  g_auto (GStrv) lines = g_strsplit (g_strstrip (page->out), "\n", -1);
  g_printerr ("# set-up time of the first request (SYN to SYN-ACK): %.0f ms\n",
              g_ascii_strtod (lines[g_strv_length (lines) - 1], NULL) * 1000);
  g_autoptr (Run) ping =
    topo ("exec", "client", "ping", "-c", "3", "-i", "0.2", "-W", "2", LAN_HOST, NULL);
  g_printerr ("%s", ping->out);
  g_assert_cmpint (ping->status, ==, 0);
  g_assert_nonnull (strstr (ping->out, "3 received"));
}

static void
test_path_direct (void)
{
  g_assert_true (wait_status ("client", "connections.0.state", "up", 10));
  wait_status ("client", "connections.0.path", "direct", 10);
  wait_status ("gateway", "connections.0.path", "direct", 10);
  g_autofree char *c = status_string ("client", "connections.0.path");
  g_autofree char *g = status_string ("gateway", "connections.0.path");
  g_assert_cmpstr (c, ==, "direct");
  g_assert_cmpstr (g, ==, "direct");
}

/* NATC gives every UDP socket another port than its own (natc-ports
 * shift: a carrier-grade NAT, one mapping per socket). A server-reflexive
 * candidate built from the inside port would name a port nobody maps,
 * and both routers drop what they did not ask for, so the direct path
 * exists only if the client's ICE socket learned its mapped port itself
 * (its own Binding to the relays). The client restarts to get sockets
 * the new rule maps; the next test restarts both ends again. */
static void
test_path_direct_through_port_changing_nat (void)
{
  g_autoptr (Run) shift = topo ("natc-ports", "shift", NULL);
  g_assert_cmpint (shift->status, ==, 0);
  g_autoptr (Run) stop = topo ("emberd-stop", "client", NULL);
  start_and_join ("client");
  /* The client's log names its ICE socket's port and the mapping its
   * Binding learned; the first request waits for it, so the candidate
   * is there before ICE starts (a loaded machine may be slow). */
  g_autofree char *log_file = g_build_filename (topo_dir, "emberd-client.log", NULL);
  g_autofree char *log = NULL;
  const char *line = NULL;
  gint64 end = g_get_monotonic_time () + 15 * G_USEC_PER_SEC;
  do
    {
      g_clear_pointer (&log, g_free);
      if (g_file_get_contents (log_file, &log, NULL, NULL))
        line = strstr (log, "server-reflexive address of port ");
      if (line == NULL)
        g_usleep (100 * 1000);
    }
  while (line == NULL && g_get_monotonic_time () < end);
  if (line == NULL)
    print_log_tail ("emberd-client");
  g_assert_nonnull (line);
  g_autoptr (Run) page = fetch ("http://" LAN_HOST "/", "30");
  g_assert_cmpint (page->status, ==, 0);
  g_assert_nonnull (strstr (page->out, LAN_PAGE));
  gboolean direct = wait_status ("client", "connections.0.path", "direct", 15);
  guint inside = (guint) g_ascii_strtoull (line + strlen ("server-reflexive address of port "),
                                           NULL, 10);
  g_assert_cmpuint (inside, !=, 0);
  g_autofree char *want = g_strdup_printf ("%s:%u", NATC_WAN, inside ^ 0x2000u);
  g_autofree char *said = g_strdup_printf ("port %u: %s ", inside, want);
  g_assert_nonnull (strstr (line, said));
  /* The selected pair runs from that candidate, and the gateway reaches
   * the client at the port NATC chose. */
  gboolean remote_ok = wait_status ("gateway", "connections.0.remote", want, 15);
  g_autofree char *local = status_string ("client", "connections.0.local");
  g_autofree char *remote = status_string ("gateway", "connections.0.remote");
  g_autofree char *gpath = status_string ("gateway", "connections.0.path");
  g_printerr ("# client's ICE socket on port %u, NATC maps it to %s; pair %s (client) to %s "
              "(gateway)\n",
              inside, want, local != NULL ? local : "?", remote != NULL ? remote : "?");
  if (!direct || !remote_ok)
    {
      print_log_tail ("emberd-client");
      print_log_tail ("emberd-gateway");
    }
  g_assert_true (direct);
  g_assert_cmpstr (gpath, ==, "direct");
  g_assert_cmpstr (local, ==, want);
  g_assert_cmpstr (remote, ==, want);
  g_autoptr (Run) keep = topo ("natc-ports", "keep", NULL);
  g_assert_cmpint (keep->status, ==, 0);
}

/* ping's -D lines: "[1733486229.123456] 64 bytes from ...". */
static GArray *
reply_times (const char *text)
{
  GArray *t = g_array_new (FALSE, FALSE, sizeof (double));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] == '[' && strstr (lines[i], "bytes from") != NULL)
      {
        double v = g_ascii_strtod (lines[i] + 1, NULL);
        g_array_append_val (t, v);
      }
  return t;
}

static double
now_s (void)
{
  return (double) g_get_real_time () / G_USEC_PER_SEC;
}

/* A ping through the tunnel answers within `secs`. */
static gboolean
tunnel_answers (double secs)
{
  gint64 end = g_get_monotonic_time () + (gint64) (secs * G_USEC_PER_SEC);
  do
    {
      g_autoptr (Run) p = topo ("exec", "client", "ping", "-c", "1", "-W", "1", LAN_HOST, NULL);
      if (p->status == 0)
        return TRUE;
    }
  while (g_get_monotonic_time () < end);
  return FALSE;
}

static void
test_portal_away (void)
{
  /* A working tunnel to begin with, on whichever path the checks before
   * left (relayed when direct UDP is still blocked); if that one does not
   * come up, the direct path. */
  if (!tunnel_answers (20))
    {
      g_printerr ("# no answer on the path left by the checks before: direct UDP allowed again\n");
      g_autoptr (Run) unblock = topo ("block-direct", "off", NULL);
      g_assert_cmpint (unblock->status, ==, 0);
      g_assert_true (tunnel_answers (60));
    }
  g_autofree char *path = status_string ("client", "connections.0.path");
  g_printerr ("# the portal goes away with the %s path in use\n", path != NULL ? path : "?");
  gint64 age0 = status_int ("client", "connections.0.handshake_age_s");
  double t0 = now_s ();
  g_assert_cmpint (age0, >=, 0);
  g_autofree char *file = g_build_filename (topo_dir, "ping-portal.log", NULL);
  /* 40 s of pings; the portal is away from 3 s to 33 s. */
  g_autoptr (Bg) ping = bg_start ("client", file, "ping", "-D", "-O", "-c", "200", "-i", "0.2",
                                  "-W", "2", LAN_HOST, NULL);
  g_usleep (3 * G_USEC_PER_SEC);
  double stopped = now_s ();
  g_autoptr (Run) stop = topo ("portal-stop", NULL);
  g_assert_cmpint (stop->status, ==, 0);
  g_usleep (30 * G_USEC_PER_SEC);
  g_autoptr (Run) start = topo ("portal-start", NULL);
  g_assert_cmpint (start->status, ==, 0);
  double restarted = now_s ();

  /* The client joins again by itself (backoff capped at 60 s). */
  gboolean rejoined = wait_status ("client", "portal.state", "joined", 65);
  double rejoin_s = now_s () - restarted;
  gboolean gateway_rejoined = wait_status ("gateway", "portal.state", "joined", 65);
  bg_wait (ping, 60);
  gint64 age1 = status_int ("client", "connections.0.handshake_age_s");
  double elapsed = now_s () - t0;

  g_autofree char *out = bg_output (ping);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], "no answer yet") != NULL && lines[i][0] == '[')
      {
        double at = g_ascii_strtod (lines[i] + 1, NULL);
        g_printerr ("# lost: %s (%.1f s after the stop, %.1f s after the restart)\n",
                    strstr (lines[i], "icmp_seq"), at - stopped, at - restarted);
      }
  const char *summary = strstr (out, "---");
  g_printerr ("# %s", summary != NULL ? summary : out);
  g_printerr ("# the client joined again %.1f s after the portal came back\n", rejoin_s);
  g_printerr ("# handshake age %" G_GINT64_FORMAT " s before, %" G_GINT64_FORMAT
              " s after %.0f s\n", age0, age1, elapsed);

  g_assert_true (rejoined);
  g_assert_true (gateway_rejoined);
  /* No new handshake: the age kept growing. (WireGuard renews a session
   * after 120 s whatever happens; the test starts with a young one.) */
  if ((double) age0 + elapsed < 118)
    g_assert_cmpfloat ((double) age1, >=, (double) age0 + elapsed - 3);
  g_assert_nonnull (strstr (out, "200 packets transmitted, 200 received"));
}

static void
test_outside_policy (void)
{
  g_autoptr (Run) ping =
    topo ("exec", "client", "ping", "-c", "2", "-i", "0.5", "-W", "1", VAULT_HOST, NULL);
  g_printerr ("%s", ping->out);
  g_assert_cmpint (ping->status, !=, 0);
  g_assert_null (strstr (ping->out, "bytes from"));
  g_autoptr (Run) page = fetch ("http://" VAULT_HOST "/", "3");
  g_assert_cmpint (page->status, !=, 0);
  /* The portal never offered it to the client, nothing reached it. */
  g_autoptr (JsonNode) st = status_json ("client");
  g_assert_nonnull (st);
  JsonNode *res = json_at (st, "resources");
  g_assert_nonnull (res);
  g_autofree char *res_text = json_to_string (res, FALSE);
  g_assert_null (strstr (res_text, "10.30.0.0/24"));
  g_assert_nonnull (strstr (res_text, "10.20.0.0/24"));

  /* Routed into the tunnel by hand it goes nowhere either: no resource
   * covers it, so the client tunnel itself answers "no route". */
  g_autofree char *tun = g_strconcat (PREFIX, "tun", NULL);
  g_autoptr (Run) add = topo ("exec", "client", "ip", "route", "add", "10.30.0.0/24", "dev",
                              tun, NULL);
  g_assert_cmpint (add->status, ==, 0);
  g_autoptr (Run) routed =
    topo ("exec", "client", "ping", "-c", "2", "-i", "0.5", "-W", "1", VAULT_HOST, NULL);
  g_autoptr (Run) del = topo ("exec", "client", "ip", "route", "del", "10.30.0.0/24", "dev",
                              tun, NULL);
  g_printerr ("%s", routed->out);
  g_assert_cmpint (routed->status, !=, 0);
  g_assert_null (strstr (routed->out, "bytes from"));
  g_assert_nonnull (strstr (routed->out, "Destination Net Unreachable"));

  g_autoptr (Run) counter = topo ("counter", "vault", NULL);
  g_assert_cmpstr (g_strstrip (counter->out), ==, "0");
}

static void
test_filter_refuses_tcp_22 (void)
{
  g_autoptr (Run) allowed = fetch ("http://" LAN_HOST "/", "10");
  g_assert_cmpint (allowed->status, ==, 0);
  g_autoptr (Run) prohibited0 = topo ("counter", "prohibited", NULL);
  /* bash's /dev/tcp says which error connect() got: ICMP administratively
   * prohibited from the gateway is EHOSTUNREACH, at once, not a timeout. */
  gint64 t = g_get_monotonic_time ();
  g_autoptr (Run) refused = topo ("exec", "client", "timeout", "10", "bash", "-c",
                                  "exec 3<>/dev/tcp/" LAN_HOST "/22", NULL);
  double took = (double) (g_get_monotonic_time () - t) / G_USEC_PER_SEC;
  g_printerr ("# tcp/22 after %.2f s: %s", took, refused->err);
  g_assert_cmpint (refused->status, ==, 1);
  g_assert_nonnull (strstr (refused->err, "No route to host"));
  g_assert_cmpfloat (took, <, 5);
  g_autoptr (Run) prohibited1 = topo ("counter", "prohibited", NULL);
  g_assert_cmpint (g_ascii_strtoll (prohibited1->out, NULL, 10), >,
                   g_ascii_strtoll (prohibited0->out, NULL, 10));
  /* It never reached the LAN, where tcp/22 listens. */
  g_autoptr (Run) counter = topo ("counter", "ssh", NULL);
  g_assert_cmpstr (g_strstrip (counter->out), ==, "0");
}

/* What the gateway's policy refused, it says in its log. */
static void
test_gateway_logs_refusal (void)
{
  g_autofree char *log_file = g_build_filename (topo_dir, "emberd-gateway.log", NULL);
  g_autofree char *before = NULL;
  g_assert_true (g_file_get_contents (log_file, &before, NULL, NULL));
  gsize from = strlen (before);
  g_autoptr (Run) refused = topo ("exec", "client", "timeout", "10", "bash", "-c",
                                  "exec 3<>/dev/tcp/" LAN_HOST "/22", NULL);
  g_assert_cmpint (refused->status, ==, 1);
  gboolean logged = FALSE;
  for (int i = 0; i < 30 && !logged; i++)
    {
      g_autofree char *log = NULL;
      g_assert_true (g_file_get_contents (log_file, &log, NULL, NULL));
      g_auto (GStrv) lines = g_strsplit (log + MIN (from, strlen (log)), "\n", -1);
      for (guint k = 0; lines[k] != NULL && !logged; k++)
        {
          g_autofree char *lower = g_ascii_strdown (lines[k], -1);
          logged = (strstr (lower, "refused") != NULL || strstr (lower, "denied") != NULL)
                   && strstr (lower, "connection refused") == NULL;
        }
      if (!logged)
        g_usleep (200 * 1000);
    }
  if (!logged)
    print_log_tail ("emberd-gateway");
  g_assert_true (logged);
}

static void
test_revoked_policy (void)
{
  g_autofree char *file = g_build_filename (topo_dir, "ping-revoke.log", NULL);
  g_autoptr (Bg) ping =
    bg_start ("client", file, "ping", "-D", "-c", "60", "-i", "0.1", "-W", "1", LAN_HOST, NULL);
  g_usleep (2 * G_USEC_PER_SEC);
  double t0 = now_s ();
  g_autoptr (Run) revoke = topo ("policy", "revoked", NULL);
  g_assert_cmpint (revoke->status, ==, 0);
  bg_wait (ping, 20);
  g_autofree char *out = bg_output (ping);
  g_autoptr (GArray) t = reply_times (out);
  g_assert_cmpuint (t->len, >, 5);
  g_assert_cmpfloat (g_array_index (t, double, 0), <, t0);
  double last = g_array_index (t, double, t->len - 1);
  g_printerr ("# last reply %.2f s after the revocation was applied\n", last - t0);
  g_assert_cmpfloat (last - t0, <=, 2.0);
  g_autoptr (Run) page = fetch ("http://" LAN_HOST "/", "3");
  g_assert_cmpint (page->status, !=, 0);

  /* Granted again: access comes back. */
  g_autoptr (Run) grant = topo ("policy", "granted", NULL);
  g_assert_cmpint (grant->status, ==, 0);
  gboolean back = FALSE;
  for (int i = 0; i < 15 && !back; i++)
    {
      g_autoptr (Run) p = fetch ("http://" LAN_HOST "/", "3");
      back = p->status == 0;
    }
  g_assert_true (back);
}

static void
test_path_relayed (void)
{
  g_autoptr (Run) block = topo ("block-direct", "on", NULL);
  g_assert_cmpint (block->status, ==, 0);
  g_autoptr (Run) sc = topo ("emberd-stop", "client", NULL);
  g_autoptr (Run) sg = topo ("emberd-stop", "gateway", NULL);
  g_strstrip (sc->out);
  g_strstrip (sg->out);
  if (!g_str_equal (sc->out, "0"))
    print_log_tail ("emberd-client");
  if (!g_str_equal (sg->out, "0"))
    print_log_tail ("emberd-gateway");
  start_and_join ("gateway");
  start_and_join ("client");
  g_autoptr (Run) page = fetch ("http://" LAN_HOST "/", "30");
  if (page->status != 0)
    {
      print_log_tail ("emberd-client");
      print_log_tail ("emberd-gateway");
    }
  g_assert_cmpint (page->status, ==, 0);
  g_assert_nonnull (strstr (page->out, LAN_PAGE));
  g_auto (GStrv) lines = g_strsplit (g_strstrip (page->out), "\n", -1);
  g_printerr ("# set-up time of the first request, relayed: %.0f ms\n",
              g_ascii_strtod (lines[g_strv_length (lines) - 1], NULL) * 1000);
  /* The status file is rewritten once a second. */
  wait_status ("client", "connections.0.path", "relayed", 10);
  wait_status ("gateway", "connections.0.path", "relayed", 10);
  g_autofree char *c = status_string ("client", "connections.0.path");
  g_autofree char *g = status_string ("gateway", "connections.0.path");
  g_assert_cmpstr (c, ==, "relayed");
  g_assert_cmpstr (g, ==, "relayed");
  g_autofree char *relay = status_string ("client", "connections.0.relay");
  g_assert_true (g_strcmp0 (relay, RELAY1) == 0 || g_strcmp0 (relay, RELAY2) == 0);
}

/* SIGTERM: a clean stop, exit status 0 (no sanitizer report either). */
static void
test_sigterm_stops_cleanly (void)
{
  g_autoptr (Run) sc = topo ("emberd-stop", "client", NULL);
  g_autoptr (Run) sg = topo ("emberd-stop", "gateway", NULL);
  g_strstrip (sc->out);
  g_strstrip (sg->out);
  if (!g_str_equal (sc->out, "0"))
    print_log_tail ("emberd-client");
  if (!g_str_equal (sg->out, "0"))
    print_log_tail ("emberd-gateway");
  g_assert_cmpstr (sc->out, ==, "0");
  g_assert_cmpstr (sg->out, ==, "0");
}

static void
test_relay_killed (void)
{
  g_autofree char *relay = status_string ("client", "connections.0.relay");
  g_assert_true (g_strcmp0 (relay, RELAY1) == 0 || g_strcmp0 (relay, RELAY2) == 0);
  const char *name = g_str_equal (relay, RELAY1) ? "r1" : "r2";
  g_autofree char *file = g_build_filename (topo_dir, "ping-relay.log", NULL);
  g_autoptr (Bg) ping = bg_start ("client", file, "ping", "-D", "-i", "0.2", "-W", "1", "-w",
                                  "60", LAN_HOST, NULL);
  g_usleep (3 * G_USEC_PER_SEC);
  double killed = now_s ();
  g_autoptr (Run) kill_relay = topo ("relay-kill", name, NULL);
  g_assert_cmpint (kill_relay->status, ==, 0);
  /* Until ten replies came after the outage, or the bound is over. */
  gboolean recovered = FALSE;
  while (!recovered && now_s () < killed + RELAY_RECOVERY_BOUND_S + 5 && bg_running (ping))
    {
      g_usleep (500 * 1000);
      g_autofree char *out = bg_output (ping);
      g_autoptr (GArray) t = reply_times (out);
      guint after = 0;
      for (guint i = 0; i < t->len; i++)
        if (g_array_index (t, double, i) > killed + 1)
          after++;
      recovered = after >= 10;
    }
  bg_stop (ping, SIGINT);
  g_autofree char *out = bg_output (ping);
  g_autoptr (GArray) t = reply_times (out);
  double gap = 0;
  for (guint i = 1; i < t->len; i++)
    gap = MAX (gap, g_array_index (t, double, i) - g_array_index (t, double, i - 1));
  g_autofree char *now_relay = status_string ("client", "connections.0.relay");
  g_printerr ("# relay %s killed; traffic back after %.1f s through %s\n", relay, gap,
              now_relay != NULL ? now_relay : "?");
  g_assert_true (recovered);
  g_assert_cmpfloat (gap, <=, RELAY_RECOVERY_BOUND_S);
  g_assert_cmpstr (now_relay, !=, relay);
  g_autoptr (Run) restart = topo ("relay-start", name, NULL);
  g_assert_cmpint (restart->status, ==, 0);
}

/* ---- bad input ---------------------------------------------------------------- */

/* A client configuration of its own (interface e2e-bad) under the
 * topology's directory; `extra` goes into [daemon]. */
static char *
bad_config (const char *name, const char *url, const char *token, const char *extra)
{
  g_autofree char *dir = g_build_filename (topo_dir, name, NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *run = g_build_filename (dir, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (state, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (run, 0700), ==, 0);
  g_autofree char *token_file = g_build_filename (dir, "token", NULL);
  g_assert_true (g_file_set_contents (token_file, token, -1, NULL));
  g_autofree char *text = g_strdup_printf ("[daemon]\nmode=client\nstate-dir=%s\nruntime-dir=%s\n%s"
                                           "\n[portal]\nurl=%s\ntoken-file=%s\n\n"
                                           "[tun-linux]\nname=%sbad\n"
                                           "[dns]\nsystem=none\n",
                                           state, run, extra, url, token_file, PREFIX);
  char *conf = g_build_filename (dir, "emberd.conf", NULL);
  g_assert_true (g_file_set_contents (conf, text, -1, NULL));
  return conf;
}

static void
test_unknown_key (void)
{
  g_autofree char *conf = bad_config ("bad-key", "ws://" PORTAL ":8080", "x", "colour=blue\n");
  g_autofree char *emberd = emberd_path ();
  g_autoptr (Run) r = topo ("exec", "client", "timeout", "20", emberd, "--config", conf, NULL);
  g_assert_cmpint (r->status, ==, 2);
  g_assert_nonnull (strstr (r->err, "colour"));
  g_assert_nonnull (strstr (r->err, "daemon"));
}

static void
test_wrong_token (void)
{
  g_autofree char *conf =
    bad_config ("bad-token", "ws://" PORTAL ":8080",
                "ember_tok_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "");
  g_autofree char *emberd = emberd_path ();
  g_autoptr (Run) r = topo ("exec", "client", "timeout", "30", emberd, "--config", conf, NULL);
  g_printerr ("# %s", r->err);
  g_assert_cmpint (r->status, ==, 3);
  g_assert_nonnull (strstr (r->err, "the portal rejected the token (invalid_token)"));
}

/* emberd against a broken portal: it says what is wrong, tries again
 * (three connections), does not crash, and stops cleanly. */
static void
broken_portal (const char *mode, const char *port)
{
  g_autofree char *listen = g_strdup_printf (PORTAL ":%s", port);
  g_autofree char *conns = g_strdup_printf ("%s/fake-%s.conns", topo_dir, mode);
  g_autofree char *fake_log = g_strdup_printf ("%s/fake-%s.log", topo_dir, mode);
  g_autoptr (Bg) fake =
    bg_start ("public", fake_log, self_exe, "--e2e-fake-portal", mode, listen, conns, NULL);
  g_autoptr (Run) up =
    topo ("exec", "public", "bash", "-c",
          "for i in $(seq 50); do [[ -n $(ss -Hltn \"sport = :$0\") ]] && exit 0; sleep 0.1; done;"
          " exit 1",
          port, NULL);
  g_assert_cmpint (up->status, ==, 0);
  g_autofree char *name = g_strdup_printf ("bad-%s", mode);
  g_autofree char *url = g_strdup_printf ("ws://%s", listen);
  g_autofree char *conf = bad_config (name, url, "ember_tok_0123456789abcdef_x\n", "");
  g_autofree char *emberd = emberd_path ();
  g_autofree char *log = g_strdup_printf ("%s/%s/emberd.log", topo_dir, name);
  g_autoptr (Bg) d = bg_start ("client", log, emberd, "--config", conf, NULL);
  guint seen = 0;
  for (int i = 0; i < 200 && seen < 3 && bg_running (d); i++)
    {
      g_usleep (100 * 1000);
      g_autofree char *text = NULL;
      seen = 0;
      if (g_file_get_contents (conns, &text, NULL, NULL))
        for (const char *p = text; (p = strchr (p, '\n')) != NULL; p++)
          seen++;
    }
  g_autofree char *out = bg_output (d);
  g_printerr ("# emberd against a portal that %s:\n%s", mode, out);
  g_assert_true (bg_running (d));
  g_assert_cmpuint (seen, >=, 3);
  /* How it stops is the business of sigterm-stops-... below. */
  g_printerr ("# stopped with exit status %d\n", bg_stop (d, SIGTERM));
  bg_stop (fake, SIGTERM);
  g_assert_nonnull (strstr (out, url));
  g_assert_nonnull (strstr (out, "retrying"));
}

static void
test_garbage_portal (void)
{
  broken_portal ("garbage", "8081");
}

static void
test_midframe_portal (void)
{
  broken_portal ("midframe", "8082");
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

typedef enum {
  STANDALONE,
  STARTS_TUNNEL, /* its failure skips what needs the tunnel */
  NEEDS_TUNNEL,
  STARTS_RELAYED, /* needs the tunnel; its failure skips what needs a relayed one */
  NEEDS_RELAYED,
} Needs;

typedef struct {
  const char *path;
  void (*body) (void);
  guint timeout_s;
  Needs needs;
} Case;

static gboolean tunnel_up, relayed_up;

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
  if (c->needs >= NEEDS_TUNNEL && !tunnel_up)
    {
      g_test_skip ("the client and the gateway did not join the portal");
      return;
    }
  if (c->needs == NEEDS_RELAYED && !relayed_up)
    {
      g_test_skip ("the relayed path did not come up");
      return;
    }
  g_test_trap_subprocess (NULL, (guint64) c->timeout_s * G_USEC_PER_SEC,
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  if (c->needs == STARTS_TUNNEL)
    tunnel_up = g_test_trap_has_passed ();
  if (c->needs == STARTS_RELAYED)
    relayed_up = g_test_trap_has_passed ();
  g_test_trap_assert_passed ();
}

static const Case cases[] = {
  { "/e2e/topology/nats-map-endpoint-independently",
    test_nats_map_endpoint_independently, 30, STANDALONE },
  { "/e2e/topology/nats-drop-unsolicited-udp",
    test_nats_filter_unsolicited_udp, 30, STANDALONE },
  { "/e2e/bad-input/unknown-config-key-exits-2-naming-it",
    test_unknown_key, 30, STANDALONE },
  { "/e2e/bad-input/wrong-token-exits-3-saying-so",
    test_wrong_token, 40, STANDALONE },
  { "/e2e/bad-input/portal-answering-garbage-is-retried",
    test_garbage_portal, 60, STANDALONE },
  { "/e2e/bad-input/portal-closing-mid-frame-is-retried",
    test_midframe_portal, 60, STANDALONE },
  { "/e2e/tunnel/gateway-and-client-join-the-portal",
    test_gateway_and_client_join, 90, STARTS_TUNNEL },
  { "/e2e/tunnel/resource-is-reachable",
    test_resource_reachable, 60, NEEDS_TUNNEL },
  { "/e2e/tunnel/path-is-direct-through-two-nats",
    test_path_direct, 30, NEEDS_TUNNEL },
  { "/e2e/tunnel/resource-outside-the-policy-is-not-reachable",
    test_outside_policy, 30, NEEDS_TUNNEL },
  { "/e2e/tunnel/filter-allowing-tcp-80-refuses-tcp-22",
    test_filter_refuses_tcp_22, 30, NEEDS_TUNNEL },
  { "/e2e/tunnel/gateway-logs-what-its-filter-refused",
    test_gateway_logs_refusal, 30, NEEDS_TUNNEL },
  { "/e2e/tunnel/revoked-policy-stops-access-within-2s",
    test_revoked_policy, 90, NEEDS_TUNNEL },
  { "/e2e/tunnel/path-is-direct-through-a-nat-that-changes-ports",
    test_path_direct_through_port_changing_nat, 90, NEEDS_TUNNEL },
  { "/e2e/tunnel/path-is-relayed-when-direct-udp-is-blocked",
    test_path_relayed, 120, STARTS_RELAYED },
  { "/e2e/tunnel/killed-relay-is-replaced-within-the-simulator-bound",
    test_relay_killed, 90, NEEDS_RELAYED },
  { "/e2e/tunnel/portal-away-30s-loses-no-ping-and-needs-no-handshake",
    test_portal_away, 150, NEEDS_TUNNEL },
  { "/e2e/tunnel/sigterm-stops-client-and-gateway-with-exit-0",
    test_sigterm_stops_cleanly, 60, NEEDS_TUNNEL },
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
  g_test_add_func ("/e2e/teardown/leaves-no-namespace-interface-table-process-or-file",
                   test_topology_down_leaves_nothing);

  return g_test_run ();
}
