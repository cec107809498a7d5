/* emberd end to end on one network, without NAT: a real `ember-portal
 * serve` (SQLite file, `token create`, `apply`), a gateway emberd and a
 * client emberd in namespaces on one bridge, a LAN namespace behind the
 * gateway. The client's address changes once (roaming).
 *
 *        shell-P-pub: br0 192.0.2.1/24, ember-portal serve :8080
 *          |                         |
 *   shell-P-cl 192.0.2.2     shell-P-gw 192.0.2.3, 10.20.0.1/24
 *   emberd mode=client       emberd mode=gateway
 *                                    |
 *                            shell-P-lan 10.20.0.10/24
 *
 * The parent process builds the namespaces and starts the programs; the
 * checks run in a subprocess (g_test_trap_subprocess), so whatever they
 * do (a failed assertion, an ASan abort) the parent still stops every
 * process and deletes every namespace and file it made. emberd must
 * exit 0 on SIGTERM (under ASan: no leak) and remove its status file.
 * Needs root, iproute2, ping; every wait is bounded.
 */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PORTAL "192.0.2.1"
#define PORTAL_PORT "8080"
#define LAN_HOST "10.20.0.10"

typedef struct {
  GSocket *notify;  /* the client's NOTIFY_SOCKET (sd_notify) */
  char *prefix;  /* shell-<pid> */
  char *dir;
  char *build;
  GPid portal, gateway, client;
} Net;

static Net net;

static char *
ns (const char *name)
{
  return g_strdup_printf ("%s-%s", net.prefix, name);
}

/* Runs `sh -c line`; returns its exit status (or -1). */
static int
sh (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static int
sh (const char *fmt, ...)
{
  va_list ap;
  g_autofree char *line = NULL;
  const char *argv[] = { "/bin/sh", "-c", NULL, NULL };
  int status = -1;

  va_start (ap, fmt);
  line = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  argv[2] = line;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status,
                     NULL))
    return -1;
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static char *
path (const char *name)
{
  return g_build_filename (net.dir, name, NULL);
}

/* Starts `cmd` in namespace `node`, output to DIR/<log>.log. */
static GPid
spawn_in (const char *node, const char *log, const char *cmd)
{
  g_autofree char *n = ns (node);
  g_autofree char *logf = g_strdup_printf ("%s/%s.log", net.dir, log);
  g_autofree char *line = g_strdup_printf ("exec ip netns exec %s %s >%s 2>&1 </dev/null", n,
                                           cmd, logf);
  const char *argv[] = { "/bin/sh", "-c", line, NULL };
  GPid pid = 0;

  g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                NULL, &pid, NULL));
  return pid;
}

/* SIGTERM, then up to 15 s (ASan's exit is slow), then SIGKILL; the exit
 * status, or -1 when it had to be killed. */
static int
stop (GPid *pid)
{
  int status = 0;

  if (*pid == 0)
    return 0;
  kill (*pid, SIGTERM);
  for (int i = 0; i < 150; i++)
    {
      if (waitpid (*pid, &status, WNOHANG) == *pid)
        {
          *pid = 0;
          return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
        }
      g_usleep (100 * 1000);
    }
  kill (*pid, SIGKILL);
  waitpid (*pid, &status, 0);
  *pid = 0;
  return -1;
}

static const char *
emberd (void)
{
  static char *p;
  if (p == NULL)
    p = g_build_filename (net.build, "bin", "emberd", "emberd", NULL);
  return p;
}

static void
write_file (const char *name, const char *text, int mode)
{
  g_autofree char *p = path (name);
  g_assert_true (g_file_set_contents (p, text, -1, NULL));
  g_assert_cmpint (g_chmod (p, mode), ==, 0);
}

static void
write_emberd_conf (const char *role, const char *tun, const char *token_file)
{
  g_autofree char *name = g_strdup_printf ("%s.conf", role);
  g_autofree char *text = g_strdup_printf ("[daemon]\nmode=%s\nstate-dir=%s/%s-state\n"
                                           "runtime-dir=%s/%s-run\n"
                                           "[portal]\nurl=ws://" PORTAL ":" PORTAL_PORT "\n"
                                           "token-file=%s/%s\n[tun-linux]\nname=%s\n"
                                           /* The host's resolver stays alone. */
                                           "[dns]\nsystem=none\n",
                                           g_str_equal (role, "bad") ? "client" : role, net.dir,
                                           role, net.dir, role, net.dir, token_file, tun);
  write_file (name, text, 0644);
}

/* The namespaces, the portal's database, policy and tokens, the configs. */
static gboolean
setup (void)
{
  g_autofree char *pub = ns ("pub"), *cl = ns ("cl"), *gw = ns ("gw"), *lan = ns ("lan");
  g_autofree char *portal_conf = path ("portal.conf");
  g_autofree char *portal_bin = g_build_filename (net.build, "bin", "ember-portal",
                                                  "ember-portal", NULL);

  if (sh ("set -e; for n in %s %s %s %s; do ip netns add $n; ip -n $n link set lo up; done\n"
          "ip -n %s link add br0 type bridge; ip -n %s link set br0 up\n"
          "ip -n %s addr add " PORTAL "/24 dev br0\n"
          "ip link add shell-c0 netns %s type veth peer name shell-c1 netns %s\n"
          "ip link add shell-g0 netns %s type veth peer name shell-g1 netns %s\n"
          "ip -n %s link set shell-c1 master br0 up; ip -n %s link set shell-g1 master br0 up\n"
          "ip -n %s addr add 192.0.2.2/24 dev shell-c0; ip -n %s link set shell-c0 up\n"
          "ip -n %s addr add 192.0.2.3/24 dev shell-g0; ip -n %s link set shell-g0 up\n"
          "ip link add shell-l0 netns %s type veth peer name shell-l1 netns %s\n"
          "ip -n %s addr add 10.20.0.1/24 dev shell-l0; ip -n %s link set shell-l0 up\n"
          "ip -n %s addr add " LAN_HOST "/24 dev shell-l1; ip -n %s link set shell-l1 up\n"
          "ip -n %s route add default via 10.20.0.1\n",
          pub, cl, gw, lan, pub, pub, pub, cl, pub, gw, pub, pub, pub, cl, cl, gw, gw, gw, lan,
          gw, gw, lan, lan, lan)
      != 0)
    return FALSE;

  write_file ("portal.conf",
              "[portal]\nlisten=" PORTAL ":" PORTAL_PORT "\nstate-dir=portal-state\n"
              "insecure=true\nadmin-listen=\n",
              0600);
  write_file ("policy.json",
              "{\"sites\": [{\"name\": \"home\"}],\n"
              " \"resources\": [{\"name\": \"lan\", \"type\": \"cidr\", \"address\": "
              "\"10.20.0.0/24\", \"site\": \"home\",\n"
              "   \"filters\": [{\"protocol\": \"icmp\"}, {\"protocol\": \"tcp\", \"ports\": "
              "\"80\"}]}],\n"
              " \"groups\": [{\"name\": \"staff\", \"clients\": [\"laptop\"]}],\n"
              " \"policies\": [{\"group\": \"staff\", \"resource\": \"lan\"}]}\n",
              0644);
  if (sh ("set -e; cd %s; P=%s\n"
          "$P apply --config portal.conf policy.json >apply.log 2>&1\n"
          "$P token create --config portal.conf client laptop | tail -n 1 >client.token\n"
          "$P token create --config portal.conf gateway gw1 --site home | tail -n 1 "
          ">gateway.token\n"
          "echo not-a-token >bad.token\n"
          "chmod 600 client.token gateway.token bad.token\n",
          net.dir, portal_bin)
      != 0)
    return FALSE;
  write_emberd_conf ("client", "shell-tc", "client.token");
  write_emberd_conf ("gateway", "shell-tg", "gateway.token");
  write_emberd_conf ("bad", "shell-tb", "bad.token");

  {
    g_autofree char *cmd = g_strdup_printf ("%s serve --config %s", portal_bin, portal_conf);
    g_autofree char *gconf = path ("gateway.conf");
    g_autofree char *cconf = path ("client.conf");
    g_autofree char *gcmd = g_strdup_printf ("%s --config %s", emberd (), gconf);
    g_autofree char *ccmd = g_strdup_printf ("%s --config %s", emberd (), cconf);

    /* The portal reads the config's relative state-dir from its cwd. */
    g_assert_cmpint (g_chdir (net.dir), ==, 0);
    net.portal = spawn_in ("pub", "portal", cmd);
    /* Up to 30 s for the portal to listen. */
    if (sh ("for i in $(seq 300); do ip netns exec %s ss -ltn | grep -q '" PORTAL ":" PORTAL_PORT
            "' && exit 0; sleep 0.1; done; exit 1",
            pub)
        != 0)
      return FALSE;
    net.gateway = spawn_in ("gw", "gateway", gcmd);
    /* The client reports to a socket of ours as it would to systemd,
     * which asks for a watchdog ping every 3 s. */
    {
      g_autofree char *sock = path ("notify.sock");
      g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (sock);
      net.notify = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                                 G_SOCKET_PROTOCOL_DEFAULT, NULL);
      g_assert_nonnull (net.notify);
      g_assert_true (g_socket_bind (net.notify, addr, TRUE, NULL));
      g_socket_set_blocking (net.notify, FALSE);
      g_setenv ("NOTIFY_SOCKET", sock, TRUE);
      g_setenv ("WATCHDOG_USEC", "3000000", TRUE);
      net.client = spawn_in ("cl", "client", ccmd);
      g_unsetenv ("NOTIFY_SOCKET");
      g_unsetenv ("WATCHDOG_USEC");
    }
  }
  return TRUE;
}

/* Everything the client told its NOTIFY_SOCKET, one message a line. */
static char *
notify_messages (void)
{
  GString *all = g_string_new (NULL);
  char buf[4096];
  gssize n;

  while (net.notify != NULL
         && (n = g_socket_receive (net.notify, buf, sizeof buf - 1, NULL, NULL)) > 0)
    {
      buf[n] = '\0';
      g_string_append_printf (all, "%s\n", buf);
    }
  return g_string_free (all, FALSE);
}

static void
teardown (void)
{
  g_autofree char *names = g_strdup_printf ("%s-pub %s-cl %s-gw %s-lan", net.prefix, net.prefix,
                                            net.prefix, net.prefix);
  stop (&net.client);
  stop (&net.gateway);
  stop (&net.portal);
  g_clear_object (&net.notify);
  sh ("for n in %s; do ip netns del $n 2>/dev/null; done; true", names);
  sh ("rm -rf '%s'", net.dir);
}

/* ---- The checks (in the subprocess) ------------------------------------------ */

static char *
status_json (const char *role)
{
  g_autofree char *conf = g_strdup_printf ("%s/%s.conf", net.dir, role);
  const char *argv[] = { emberd (), "--status", "--json", "--config", conf, NULL };
  char *out = NULL;
  int st = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                     NULL, &st, NULL)
      || !WIFEXITED (st) || WEXITSTATUS (st) != 0)
    {
      g_free (out);
      return NULL;
    }
  return out;
}

static JsonObject *
parse (JsonParser *p, const char *text)
{
  g_assert_true (json_parser_load_from_data (p, text, -1, NULL));
  return json_node_get_object (json_parser_get_root (p));
}

/* Waits up to `secs` for the role's status to say joined with a TUN. */
static gboolean
wait_joined (const char *role, int secs)
{
  for (int i = 0; i < secs * 10; i++)
    {
      g_autofree char *j = status_json (role);
      if (j != NULL && strstr (j, "\"state\":\"joined\"") != NULL
          && strstr (j, "\"name\":\"shell-t") != NULL)
        return TRUE;
      g_usleep (100 * 1000);
    }
  return FALSE;
}

static void
checks (void)
{
  g_autofree char *cl = ns ("cl");
  g_autofree char *json = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root, *conn, *res;
  JsonArray *conns;
  int ok = -1;

  g_assert_true (wait_joined ("gateway", 30));
  g_assert_true (wait_joined ("client", 30));

  /* The first ping asks for the authorization and starts ICE; allow
   * 20 s for the path, then three in a row must pass. */
  for (int i = 0; i < 20 && ok != 0; i++)
    ok = sh ("ip netns exec %s ping -c 1 -W 1 -q " LAN_HOST " >/dev/null", cl);
  g_assert_cmpint (ok, ==, 0);
  g_assert_cmpint (sh ("ip netns exec %s ping -c 3 -i 0.2 -W 2 -q " LAN_HOST " >/dev/null", cl),
                   ==, 0);

  /* The status follows a change at once; allow a few seconds on a
   * loaded machine. */
  for (int i = 0; i < 50; i++)
    {
      g_clear_pointer (&json, g_free);
      json = status_json ("client");
      if (json != NULL && strstr (json, "\"status\":\"connected\"") != NULL)
        break;
      g_usleep (100 * 1000);
    }
  g_assert_nonnull (json);
  root = parse (parser, json);
  g_assert_cmpstr (json_object_get_string_member (root, "mode"), ==, "client");
  g_assert_cmpstr (
      json_object_get_string_member (json_object_get_object_member (root, "interface"), "ipv4"),
      ==, "100.64.0.1");
  res = json_array_get_object_element (json_object_get_array_member (root, "resources"), 0);
  g_assert_cmpstr (json_object_get_string_member (res, "address"), ==, "10.20.0.0/24");
  g_assert_cmpstr (json_object_get_string_member (res, "status"), ==, "connected");
  conns = json_object_get_array_member (root, "connections");
  g_assert_cmpuint (json_array_get_length (conns), ==, 1);
  conn = json_array_get_object_element (conns, 0);
  g_assert_cmpstr (json_object_get_string_member (conn, "state"), ==, "up");
  g_assert_cmpstr (json_object_get_string_member (conn, "path"), ==, "direct");
  g_assert_cmpstr (json_object_get_string_member (conn, "relay"), ==, "");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (conn, "remote"), "192.0.2.3:"));
  g_assert_cmpint (json_object_get_int_member (conn, "rx_bytes"), >, 0);
  g_assert_cmpint (json_object_get_int_member (conn, "handshake_age_s"), >=, 0);
  g_assert_cmpint (json_object_get_int_member (conn, "handshake_age_s"), <, 60);
}

/* The table without --json names the resource and the path. */
static void
checks_table (void)
{
  g_autofree char *conf = path ("client.conf");
  const char *argv[] = { emberd (), "--status", "--config", conf, NULL };
  g_autofree char *out = NULL;
  int st = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, &st, NULL));
  g_assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 0);
  g_assert_nonnull (strstr (out, "portal:     ws://" PORTAL ":" PORTAL_PORT ", joined"));
  g_assert_nonnull (strstr (out, "10.20.0.0/24"));
  g_assert_nonnull (strstr (out, " up        direct "));
}

/* Roaming: the client's address changes under it; netmon notices, ICE
 * restarts from the new address, and traffic flows again within 30 s
 * without a restart of emberd. */
static void
checks_roaming (void)
{
  g_autofree char *cl = ns ("cl");
  gboolean moved = FALSE;

  /* Deleted first: deleting a subnet's primary address takes its
   * secondaries with it. */
  g_assert_cmpint (sh ("ip -n %s addr del 192.0.2.2/24 dev shell-c0 && "
                       "ip -n %s addr add 192.0.2.4/24 dev shell-c0",
                       cl, cl),
                   ==, 0);
  for (int i = 0; i < 60 && !moved; i++)
    {
      g_autofree char *json = NULL;
      if (sh ("ip netns exec %s ping -c 1 -W 1 -q " LAN_HOST " >/dev/null", cl) == 0
          && (json = status_json ("client")) != NULL
          && strstr (json, "\"local\":\"192.0.2.4:") != NULL)
        moved = TRUE;
      else
        g_usleep (400 * 1000);
    }
  g_assert_true (moved);
}

/* SIGHUP: the client joins the portal anew and resets its connection,
 * which comes back by itself; emberd keeps running. */
static void
checks_hangup (void)
{
  g_autofree char *cl = ns ("cl");
  g_autofree char *log = path ("client.log");
  g_autofree char *json = status_json ("client");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *before = NULL;
  gboolean rejoined = FALSE, back = FALSE;
  gint64 pid;

  g_assert_nonnull (json);
  pid = json_object_get_int_member (parse (parser, json), "pid");
  g_assert_cmpint (pid, >, 1);
  g_assert_true (g_file_get_contents (log, &before, NULL, NULL));
  g_assert_cmpint (kill ((pid_t) pid, SIGHUP), ==, 0);
  for (int i = 0; i < 100 && !(rejoined && back); i++)
    {
      g_autofree char *now = NULL;
      g_assert_true (g_file_get_contents (log, &now, NULL, NULL));
      const char *tail = now + MIN (strlen (before), strlen (now));
      rejoined = strstr (tail, "resetting every connection") != NULL
                 && strstr (tail, "portal: joined") != NULL;
      back = rejoined && sh ("ip netns exec %s ping -c 1 -W 1 -q " LAN_HOST " >/dev/null", cl) == 0;
      if (!(rejoined && back))
        g_usleep (300 * 1000);
    }
  g_assert_true (rejoined);
  g_assert_true (back);
  g_assert_cmpint (kill ((pid_t) pid, 0), ==, 0);
}

/* A client whose token the portal does not know: exit 3, and it says so. */
static void
checks_bad_token (void)
{
  g_autofree char *cl = ns ("cl");
  g_autofree char *conf = path ("bad.conf");
  g_autofree char *out = path ("bad.log");
  g_autofree char *text = NULL;
  int code = sh ("timeout 60 ip netns exec %s %s --config %s >%s 2>&1", cl, emberd (), conf, out);

  g_assert_cmpint (code, ==, 3);
  g_assert_true (g_file_get_contents (out, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "emberd: the portal rejected the token (invalid_token)"));
  g_assert_null (strstr (text, "not-a-token"));
}

static void
test_end_to_end (void)
{
  int client_exit, gateway_exit;
  gboolean status_left, tun_left, route_left;
  g_autofree char *notified = NULL;
  g_autofree char *status_file = NULL;

  if (g_test_subprocess ())
    {
      net.prefix = g_strdup (g_getenv ("SHELL_TEST_PREFIX"));
      net.dir = g_strdup (g_getenv ("SHELL_TEST_DIR"));
      net.build = g_strdup (g_getenv ("EMBER_BUILD_ROOT"));
      checks ();
      checks_table ();
      checks_hangup ();
      checks_roaming ();
      checks_bad_token ();
      return;
    }
  if (getuid () != 0 || sh ("command -v ip && command -v ping && command -v ss") != 0)
    {
      g_test_skip ("needs root, iproute2 and ping");
      return;
    }
  net.build = g_strdup (g_getenv ("EMBER_BUILD_ROOT"));
  g_assert_nonnull (net.build);
  net.prefix = g_strdup_printf ("shell-%d", (int) getpid ());
  net.dir = g_dir_make_tmp ("shell-e2e-XXXXXX", NULL);
  g_setenv ("SHELL_TEST_PREFIX", net.prefix, TRUE);
  g_setenv ("SHELL_TEST_DIR", net.dir, TRUE);
  status_file = g_build_filename (net.dir, "client-run", "status.json", NULL);

  if (!setup ())
    {
      teardown ();
      g_error ("could not build the test network (see the output above)");
    }
  g_test_trap_subprocess (NULL, 240 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  /* The watchdog pings come with the once-a-second status tick: up to
   * 5 s for the first. */
  {
    GString *all = g_string_new (NULL);
    for (int i = 0; i < 50 && strstr (all->str, "WATCHDOG=1\n") == NULL; i++)
      {
        g_autofree char *more = notify_messages ();
        g_string_append (all, more);
        if (strstr (all->str, "WATCHDOG=1\n") == NULL)
          g_usleep (100 * 1000);
      }
    notified = g_string_free (all, FALSE);
  }
  client_exit = stop (&net.client);
  gateway_exit = stop (&net.gateway);
  if (!g_test_trap_has_passed ())
    sh ("tail -n 40 %s/client.log %s/gateway.log %s/portal.log >&2", net.dir, net.dir, net.dir);
  status_left = g_file_test (status_file, G_FILE_TEST_EXISTS);
  /* What the client added went with it: its TUN and the resource's route. */
  tun_left = sh ("ip -n %s-cl link show shell-tc >/dev/null 2>&1", net.prefix) == 0;
  route_left = sh ("ip -n %s-cl route show 10.20.0.0/24 | grep -q .", net.prefix) == 0;
  teardown ();
  g_test_trap_assert_passed ();
  g_assert_false (status_left);
  g_assert_false (tun_left);
  g_assert_false (route_left);
  /* sd_notify: ready once up and joined, a status line, watchdog pings. */
  g_assert_nonnull (strstr (notified, "READY=1\n"));
  g_assert_nonnull (strstr (notified, "STATUS=portal joined, shell-tc up"));
  g_assert_nonnull (strstr (notified, "WATCHDOG=1\n"));
  g_assert_cmpint (client_exit, ==, 0);
  g_assert_cmpint (gateway_exit, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/emberd/netns/client-reaches-a-lan-through-a-gateway-direct",
                   test_end_to_end);
  return g_test_run ();
}
