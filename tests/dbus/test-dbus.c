/* emberd's D-Bus API and emberctl, against the real programs: a private
 * system bus (dbus-daemon with the project's bus policy file), polkit
 * played by python-dbusmock's polkitd template (which grants exactly the
 * actions the test sets), a real `ember-portal serve`, a gateway and a
 * client emberd in network namespaces:
 *
 *        dbus-P-pub: br0 192.0.2.1/24, ember-portal serve
 *          |                         |
 *   dbus-P-cl 192.0.2.2      dbus-P-gw 192.0.2.3, 10.20.0.1/24
 *   emberd client, no token  emberd gateway
 *   serves org.ember.Ember1  serves it on a second bus
 *                                    |
 *                            dbus-P-lan 10.20.0.10/24
 *
 * The bus is a unix socket in the test's directory, which the namespaces
 * share (a path socket is not in a network namespace). The client starts
 * signed out; the checks sign it in, watch PropertiesChanged as its
 * tunnel comes up, as a resource is added with `ember-portal apply` and
 * as traffic connects it, then drive every method allowed and denied,
 * through GDBus and through emberctl (--json parsed back, the table, the
 * exit codes); the client's Dns follows its TUN, and the gateway's
 * Resources and Clients show what it serves to whom. The parent process builds and removes everything; the
 * checks run in a subprocess so a failure still cleans up. Needs root,
 * iproute2, ping, dbus-daemon and python3-dbusmock; every wait is
 * bounded.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ember-dbus-generated.h"

#define PORTAL "192.0.2.1"
#define PORTAL_PORT "8080"
#define LAN_HOST "10.20.0.10"
#define NAME "org.ember.Ember1"
#define OPATH "/org/ember/Ember1"
#define IFACE "org.ember.Ember1"
#define TUN "dbus-tc"

typedef struct {
  char *prefix;  /* dbus-<pid> */
  char *dir;
  char *build;
  char *source;
  char *address; /* the private system bus */
  GPid bus, gwbus, mock, portal, gateway, client;
} Net;

static Net net;

/* ---- Processes and files (the shape of tests/emberd/test-emberd-netns.c) ---------- */

static char *
ns (const char *name)
{
  return g_strdup_printf ("%s-%s", net.prefix, name);
}

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

/* `cmd` through sh (in namespace `node` unless NULL), output to DIR/<log>.log. */
static GPid
spawn (const char *node, const char *log, const char *cmd)
{
  g_autofree char *n = node != NULL ? ns (node) : NULL;
  g_autofree char *logf = g_strdup_printf ("%s/%s.log", net.dir, log);
  g_autofree char *line = node != NULL
                              ? g_strdup_printf ("exec ip netns exec %s %s >%s 2>&1 </dev/null", n,
                                                 cmd, logf)
                              : g_strdup_printf ("exec %s >%s 2>&1 </dev/null", cmd, logf);
  const char *argv[] = { "/bin/sh", "-c", line, NULL };
  GPid pid = 0;

  g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                NULL, &pid, NULL));
  return pid;
}

/* SIGTERM, up to 15 s (ASan's exit is slow), then SIGKILL; the exit
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

static char *
program (const char *dir, const char *name)
{
  return g_build_filename (net.build, "bin", dir, name, NULL);
}

static void
write_file (const char *name, const char *text, int mode)
{
  g_autofree char *p = path (name);
  g_assert_true (g_file_set_contents (p, text, -1, NULL));
  g_assert_cmpint (g_chmod (p, mode), ==, 0);
}

static char *
read_file (const char *name)
{
  g_autofree char *p = path (name);
  char *text = NULL;
  if (!g_file_get_contents (p, &text, NULL, NULL))
    return NULL;
  return text;
}

/* The client namespace's resolv.conf (see setup) and what it held. */
#define RESOLV_ORIGINAL "# written by the test\nnameserver 192.0.2.53\n"

static char *
resolv_path (void)
{
  return g_strdup_printf ("/etc/netns/%s-cl/resolv.conf", net.prefix);
}

/* Up to `seconds` for the client's resolv.conf to hold `text` (exactly,
 * or as a part when !exact). */
static gboolean
resolv_holds (const char *text, gboolean exact, int seconds)
{
  g_autofree char *p = resolv_path ();
  for (int i = 0; i < seconds * 10; i++)
    {
      g_autofree char *now = NULL;
      if (g_file_get_contents (p, &now, NULL, NULL)
          && (exact ? strcmp (now, text) == 0 : strstr (now, text) != NULL))
        return TRUE;
      g_usleep (100 * 1000);
    }
  return FALSE;
}

static const char policy1[]
    = "{\"sites\": [{\"name\": \"home\"}],\n"
      " \"resources\": [{\"name\": \"lan\", \"type\": \"cidr\", \"address\": \"10.20.0.0/24\", "
      "\"site\": \"home\"}],\n"
      " \"groups\": [{\"name\": \"staff\", \"clients\": [\"laptop\"]}],\n"
      " \"policies\": [{\"group\": \"staff\", \"resource\": \"lan\"}]}\n";
static const char policy2[]
    = "{\"sites\": [{\"name\": \"home\"}],\n"
      " \"resources\": [{\"name\": \"lan\", \"type\": \"cidr\", \"address\": \"10.20.0.0/24\", "
      "\"site\": \"home\"},\n"
      "   {\"name\": \"printers\", \"type\": \"cidr\", \"address\": \"10.30.0.0/24\", "
      "\"site\": \"home\"}],\n"
      " \"groups\": [{\"name\": \"staff\", \"clients\": [\"laptop\"]}],\n"
      " \"policies\": [{\"group\": \"staff\", \"resource\": \"lan\"},\n"
      "   {\"group\": \"staff\", \"resource\": \"printers\"}]}\n";

static gboolean
bus_has (GDBusConnection *bus, const char *name)
{
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
      bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      "NameHasOwner", g_variant_new ("(s)", name), G_VARIANT_TYPE ("(b)"),
      G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  gboolean has = FALSE;
  if (r != NULL)
    g_variant_get (r, "(b)", &has);
  return has;
}

static GDBusConnection *
bus_connect_to (const char *address)
{
  return g_dbus_connection_new_for_address_sync (
      address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, NULL);
}

static char *
gw_address (void)
{
  return g_strdup_printf ("unix:path=%s/gw-bus.sock", net.dir);
}

static GDBusConnection *
bus_connect (void)
{
  return g_dbus_connection_new_for_address_sync (
      net.address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, NULL);
}

/* Waits up to `secs` for `name` on the bus at `address`. */
static gboolean
wait_name_on (const char *address, const char *name, int secs)
{
  g_autoptr (GDBusConnection) bus = NULL;
  gint64 end = g_get_monotonic_time () + secs * G_USEC_PER_SEC;

  /* Bounded in time, not in tries: a connection attempt can block. */
  while (g_get_monotonic_time () < end)
    {
      if (bus == NULL)
        bus = bus_connect_to (address);
      if (bus != NULL && bus_has (bus, name))
        return TRUE;
      g_usleep (50 * 1000);
    }
  return FALSE;
}

static gboolean
wait_name (const char *name, int secs)
{
  return wait_name_on (net.address, name, secs);
}

static gboolean
setup (void)
{
  g_autofree char *pub = ns ("pub"), *cl = ns ("cl"), *gw = ns ("gw"), *lan = ns ("lan");
  g_autofree char *portal_bin = program ("ember-portal", "ember-portal");
  g_autofree char *emberd = program ("emberd", "emberd");
  g_autofree char *policy_conf = g_build_filename (net.source, "data", "dbus", NAME ".conf", NULL);
  g_autofree char *bus_conf = NULL;

  /* The bus: the system bus's shape (method calls denied unless a
   * policy allows them), the project's policy file for Ember's name, and
   * room for the polkit stand-in. */
  bus_conf = g_strdup_printf (
      "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
      " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
      "<busconfig><type>system</type><listen>unix:path=%s/@SOCK@.sock</listen>\n"
      "<auth>EXTERNAL</auth>\n"
      "<policy context=\"default\"><allow user=\"*\"/><deny own=\"*\"/>\n"
      "<deny send_type=\"method_call\"/><allow send_type=\"signal\"/>\n"
      "<allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
      "<allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
      "<allow receive_type=\"method_call\"/><allow receive_type=\"method_return\"/>\n"
      "<allow receive_type=\"error\"/><allow receive_type=\"signal\"/>\n"
      "<allow send_destination=\"org.freedesktop.DBus\"/>\n"
      "<allow own=\"org.freedesktop.PolicyKit1\"/>\n"
      "<allow send_destination=\"org.freedesktop.PolicyKit1\"/></policy>\n"
      "<include>%s</include></busconfig>\n",
      net.dir, policy_conf);
  /* Two buses of that shape: the client's (with polkit), the gateway's
   * (without: a gateway must answer without asking it). */
  for (guint i = 0; i < 2; i++)
    {
      const char *name = i == 0 ? "bus" : "gw-bus";
      g_autoptr (GString) conf = g_string_new (bus_conf);
      g_autofree char *file = g_strdup_printf ("%s.conf", name);
      g_autofree char *cmd = g_strdup_printf ("dbus-daemon --config-file=%s/%s --nofork "
                                              "--nopidfile",
                                              net.dir, file);
      g_string_replace (conf, "@SOCK@", name, 0);
      write_file (file, conf->str, 0644);
      *(i == 0 ? &net.bus : &net.gwbus) = spawn (NULL, name, cmd);
    }
  net.address = g_strdup_printf ("unix:path=%s/bus.sock", net.dir);
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", net.address, TRUE);
  if (!wait_name ("org.freedesktop.DBus", 10))
    return FALSE;
  {
    g_autofree char *gw_bus = gw_address ();
    if (!wait_name_on (gw_bus, "org.freedesktop.DBus", 10))
      return FALSE;
  }
  net.mock = spawn (NULL, "polkit", "/usr/bin/python3 -m dbusmock --system --template polkitd");
  if (!wait_name ("org.freedesktop.PolicyKit1", 15))
    return FALSE;

  if (sh ("set -e; for n in %s %s %s %s; do ip netns add $n; ip -n $n link set lo up; done\n"
          "ip -n %s link add br0 type bridge; ip -n %s link set br0 up\n"
          "ip -n %s addr add " PORTAL "/24 dev br0\n"
          "ip link add dbus-c0 netns %s type veth peer name dbus-c1 netns %s\n"
          "ip link add dbus-g0 netns %s type veth peer name dbus-g1 netns %s\n"
          "ip -n %s link set dbus-c1 master br0 up; ip -n %s link set dbus-g1 master br0 up\n"
          "ip -n %s addr add 192.0.2.2/24 dev dbus-c0; ip -n %s link set dbus-c0 up\n"
          "ip -n %s addr add 192.0.2.3/24 dev dbus-g0; ip -n %s link set dbus-g0 up\n"
          "ip link add dbus-l0 netns %s type veth peer name dbus-l1 netns %s\n"
          "ip -n %s addr add 10.20.0.1/24 dev dbus-l0; ip -n %s link set dbus-l0 up\n"
          "ip -n %s addr add " LAN_HOST "/24 dev dbus-l1; ip -n %s link set dbus-l1 up\n"
          "ip -n %s route add default via 10.20.0.1\n",
          pub, cl, gw, lan, pub, pub, pub, cl, pub, gw, pub, pub, pub, cl, cl, gw, gw, gw, lan,
          gw, gw, lan, lan, lan)
      != 0)
    return FALSE;

  write_file ("portal.conf",
              "[portal]\nlisten=" PORTAL ":" PORTAL_PORT "\nstate-dir=portal-state\n"
              "insecure=true\nadmin-listen=\n",
              0600);
  write_file ("policy1.json", policy1, 0644);
  write_file ("policy2.json", policy2, 0644);
  if (sh ("set -e; cd %s; P=%s\n"
          "$P apply --config portal.conf policy1.json >apply.log 2>&1\n"
          "$P token create --config portal.conf client laptop | tail -n 1 >client.token\n"
          "$P token create --config portal.conf gateway gw1 --site home | tail -n 1 "
          ">gateway.token\n"
          "echo not-a-token >bad.token\n"
          "chmod 600 client.token gateway.token bad.token\n",
          net.dir, portal_bin)
      != 0)
    return FALSE;
  {
    /* The client has no token: it starts signed out and serves the API. */
    g_autofree char *c = g_strdup_printf (
        "[daemon]\nmode=client\nstate-dir=%s/client-state\nruntime-dir=%s/client-run\n"
        "[portal]\nurl=ws://" PORTAL ":" PORTAL_PORT "\noutage-notice=2\n"
        "[tun-linux]\nname=" TUN "\n[dns]\nsystem=file\n",
        net.dir, net.dir);
    g_autofree char *g = g_strdup_printf (
        "[daemon]\nmode=gateway\nstate-dir=%s/gateway-state\n"
        "runtime-dir=%s/gateway-run\n[portal]\nurl=ws://" PORTAL ":" PORTAL_PORT "\n"
        "token-file=%s/gateway.token\n[tun-linux]\nname=dbus-tg\n",
        net.dir, net.dir, net.dir);
    write_file ("client.conf", c, 0644);
    /* ip netns exec mounts /etc/netns/<ns>/resolv.conf over the client's
     * /etc/resolv.conf: the file backend rewrites that, not the host's. */
    g_autofree char *resolv = resolv_path ();
    if (sh ("mkdir -p /etc/netns/%s && printf '%%s' '" RESOLV_ORIGINAL "' >%s", cl, resolv) != 0)
      return FALSE;
    write_file ("gateway.conf", g, 0644);
  }
  {
    g_autofree char *cmd = g_strdup_printf ("%s serve --config %s/portal.conf", portal_bin,
                                            net.dir);
    g_autofree char *gcmd = g_strdup_printf ("env DBUS_SYSTEM_BUS_ADDRESS=unix:path=%s/gw-bus.sock "
                                             "%s --config %s/gateway.conf",
                                             net.dir, emberd, net.dir);
    g_autofree char *ccmd = g_strdup_printf ("%s --config %s/client.conf", emberd, net.dir);

    g_assert_cmpint (g_chdir (net.dir), ==, 0);
    net.portal = spawn ("pub", "portal", cmd);
    if (sh ("for i in $(seq 300); do ip netns exec %s ss -ltn | grep -q '" PORTAL ":" PORTAL_PORT
            "' && exit 0; sleep 0.1; done; exit 1",
            pub)
        != 0)
      return FALSE;
    net.gateway = spawn ("gw", "gateway", gcmd);
    net.client = spawn ("cl", "client", ccmd);
  }
  if (!wait_name (NAME, 30))
    return FALSE;
  {
    g_autofree char *gw_bus = gw_address ();
    return wait_name_on (gw_bus, NAME, 30);
  }
}

static void
teardown (void)
{
  g_autofree char *names = g_strdup_printf ("%s-pub %s-cl %s-gw %s-lan", net.prefix, net.prefix,
                                            net.prefix, net.prefix);
  stop (&net.client);
  stop (&net.gateway);
  stop (&net.portal);
  stop (&net.mock);
  stop (&net.bus);
  stop (&net.gwbus);
  sh ("for n in %s; do ip netns del $n 2>/dev/null; done; true", names);
  sh ("rm -rf '%s' /etc/netns/%s-cl", net.dir, net.prefix);
}

/* ---- What the bus shows (in the subprocess) ----------------------------------------- */

typedef struct {
  GDBusConnection *bus;
  EmberDBusEmber1 *proxy;
  GPtrArray *changes;  /* "Prop=value" per PropertiesChanged entry, "Error=name: message" */
} Watch;

static Watch w;

/* polkit's CheckAuthorization calls as the bus carries them, seen by a
 * monitor connection (BecomeMonitor): the body of each, in order. The
 * filter runs in GDBus's worker thread, hence the queue. */
static GAsyncQueue *polkit_calls;
static GDBusConnection *monitor;

static GDBusMessage *
monitor_filter (GDBusConnection *c, GDBusMessage *m, gboolean incoming, gpointer data)
{
  GDBusMessageType type = g_dbus_message_get_message_type (m);

  (void) c, (void) data;
  if (!incoming || type == G_DBUS_MESSAGE_TYPE_METHOD_RETURN
      || type == G_DBUS_MESSAGE_TYPE_ERROR)
    return m;
  if (type == G_DBUS_MESSAGE_TYPE_METHOD_CALL
      && g_strcmp0 (g_dbus_message_get_member (m), "CheckAuthorization") == 0)
    g_async_queue_push (polkit_calls, g_variant_ref (g_dbus_message_get_body (m)));
  /* A monitor must never answer what it sees: nothing reaches GDBus. */
  g_object_unref (m);
  return NULL;
}

static void
monitor_start (void)
{
  g_autoptr (GVariant) r = NULL;
  const char *rules[] = { "type='method_call',interface='org.freedesktop.PolicyKit1.Authority'",
                          NULL };

  polkit_calls = g_async_queue_new_full ((GDestroyNotify) g_variant_unref);
  monitor = g_dbus_connection_new_for_address_sync (
      net.address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, NULL);
  g_assert_nonnull (monitor);
  g_dbus_connection_add_filter (monitor, monitor_filter, NULL, NULL);
  r = g_dbus_connection_call_sync (monitor, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus.Monitoring", "BecomeMonitor",
                                   g_variant_new ("(^asu)", (char **) rules, 0u), NULL,
                                   G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  g_assert_nonnull (r);
}

/* The next CheckAuthorization for `action` whose subject is not
 * `skip_name` (others dropped): its subject's kind and bus name, and its
 * flags. */
static void
next_check (const char *action, const char *skip_name, char **kind, char **name,
            guint32 *flags)
{
  for (;;)
    {
      g_autoptr (GVariant) body = g_async_queue_timeout_pop (polkit_calls, 10 * G_USEC_PER_SEC);
      g_autoptr (GVariant) details = NULL;
      g_autoptr (GVariant) subject_details = NULL;
      const char *k, *a, *cancel;

      g_assert_nonnull (body);
      g_variant_get (body, "((&s@a{sv})&s@a{ss}u&s)", &k, &subject_details, &a, &details, flags,
                     &cancel);
      if (!g_str_equal (a, action))
        continue;
      if (!g_variant_lookup (subject_details, "name", "s", name))
        *name = NULL;
      if (skip_name != NULL && g_strcmp0 (*name, skip_name) == 0)
        {
          g_clear_pointer (name, g_free);
          continue;
        }
      *kind = g_strdup (k);
      return;
    }
}

static void
on_signal (GDBusConnection *bus, const char *sender, const char *object_path,
           const char *interface, const char *signal, GVariant *params, gpointer data)
{
  (void) bus, (void) sender, (void) object_path, (void) data;
  if (g_str_equal (interface, "org.freedesktop.DBus.Properties")
      && g_str_equal (signal, "PropertiesChanged"))
    {
      g_autoptr (GVariant) changed = NULL;
      const char *iface = NULL;
      GVariantIter it;
      const char *key;
      GVariant *value;

      g_variant_get (params, "(&s@a{sv}as)", &iface, &changed, NULL);
      g_variant_iter_init (&it, changed);
      while (g_variant_iter_next (&it, "{&sv}", &key, &value))
        {
          g_autofree char *text = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
                                      ? g_variant_dup_string (value, NULL)
                                      : g_variant_print (value, FALSE);
          g_ptr_array_add (w.changes, g_strdup_printf ("%s=%s", key, text));
          g_variant_unref (value);
        }
    }
  else if (g_str_equal (interface, IFACE) && g_str_equal (signal, "Error"))
    {
      const char *name, *message;
      g_variant_get (params, "(&s&s)", &name, &message);
      g_ptr_array_add (w.changes, g_strdup_printf ("Error=%s: %s", name, message));
    }
}

static void
spin (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* The index of the first change from `from` on that starts with
 * `prefix` and holds `needle` (unless NULL), waiting up to `secs`; -1
 * when none came. */
static int
saw_with (guint from, const char *prefix, const char *needle, int secs)
{
  for (int i = 0; i <= secs * 20; i++)
    {
      spin ();
      for (guint k = from; k < w.changes->len; k++)
        if (g_str_has_prefix (w.changes->pdata[k], prefix)
            && (needle == NULL || strstr (w.changes->pdata[k], needle) != NULL))
          return (int) k;
      if (i < secs * 20)
        g_usleep (50 * 1000);
    }
  g_printerr ("# no \"%s\" (with \"%s\") among the %u change(s) since %u:\n", prefix,
              needle != NULL ? needle : "", w.changes->len - from, from);
  for (guint k = from; k < w.changes->len; k++)
    g_printerr ("#   %s\n", (char *) w.changes->pdata[k]);
  return -1;
}

static int
saw (guint from, const char *prefix, int secs)
{
  return saw_with (from, prefix, NULL, secs);
}

static void
allow (const char *const *actions)
{
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
      w.bus, "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
      "org.freedesktop.DBus.Mock", "SetAllowed", g_variant_new ("(^as)", (char **) actions), NULL,
      G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  g_assert_nonnull (r);
}

static const char *const all_actions[]
    = { "org.ember.Ember1.connect",   "org.ember.Ember1.disconnect",
        "org.ember.Ember1.sign-in",   "org.ember.Ember1.sign-out",
        "org.ember.Ember1.internet-resource", NULL };

/* Calls a method; NULL on success, else the D-Bus error name and
 * *message (both to free). */
static char *
call (const char *method, GVariant *args, char **message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (w.bus, NAME, OPATH, IFACE, method, args,
                                                        NULL, G_DBUS_CALL_FLAGS_NONE, 20000,
                                                        NULL, &error);
  char *name;

  if (r != NULL)
    return NULL;
  name = g_dbus_error_get_remote_error (error);
  g_dbus_error_strip_remote_error (error);
  if (message != NULL)
    *message = g_strdup (error->message);
  return name != NULL ? name : g_strdup ("(local)");
}

static void
assert_ok (const char *method, GVariant *args)
{
  g_autofree char *msg = NULL;
  g_autofree char *err = call (method, args, &msg);
  if (err != NULL)
    g_error ("%s: %s: %s", method, err, msg);
}

static void
assert_error (const char *method, GVariant *args, const char *name, const char *in_message)
{
  g_autofree char *msg = NULL;
  g_autofree char *err = call (method, args, &msg);

  g_assert_cmpstr (err, ==, name);
  if (in_message != NULL && strstr (msg, in_message) == NULL)
    g_error ("%s: \"%s\" does not say \"%s\"", method, msg, in_message);
}

/* The whole object as text (GetAll), to look for what must not be there. */
static char *
get_all (void)
{
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
      w.bus, NAME, OPATH, "org.freedesktop.DBus.Properties", "GetAll", g_variant_new ("(s)", IFACE),
      NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  g_assert_nonnull (r);
  return g_variant_print (r, FALSE);
}

/* Runs emberctl ARGS (a shell word list; stdin from `in` unless NULL);
 * its exit code, *out its standard output. */
static int
ctl (char **out, const char *in, const char *args)
{
  g_autofree char *bin = program ("emberctl", "emberctl");
  g_autofree char *line = in != NULL ? g_strdup_printf ("%s %s <%s", bin, args, in)
                                     : g_strdup_printf ("%s %s </dev/null", bin, args);
  const char *argv[] = { "/bin/sh", "-c", line, NULL };
  int status = -1;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               out, NULL, &status, NULL));
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static JsonObject *
parse_object (JsonParser *p, const char *text)
{
  g_autoptr (GError) error = NULL;
  if (!json_parser_load_from_data (p, text, -1, &error))
    g_error ("not JSON (%s): %s", error->message, text);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)));
  return json_node_get_object (json_parser_get_root (p));
}

static JsonObject *
resource_named (JsonArray *a, const char *name)
{
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonObject *o = json_array_get_object_element (a, i);
      if (g_strcmp0 (json_object_get_string_member (o, "name"), name) == 0)
        return o;
    }
  return NULL;
}

static void
watch_start (void)
{
  w.bus = bus_connect ();
  g_assert_nonnull (w.bus);
  w.changes = g_ptr_array_new_with_free_func (g_free);
  g_dbus_connection_signal_subscribe (w.bus, NULL, NULL, NULL, OPATH, NULL,
                                      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, NULL, NULL);
  w.proxy = ember_dbus_ember1_proxy_new_sync (w.bus, G_DBUS_PROXY_FLAGS_NONE, NAME, OPATH, NULL,
                                              NULL);
  g_assert_nonnull (w.proxy);
}

/* ---- The checks ---------------------------------------------------------------------- */

/* Signed out at start; every method refused with AccessDenied naming its
 * action while polkit grants nothing; emberctl says so with exit 4. */
static void
check_signed_out_and_denied (void)
{
  g_autofree char *out = NULL;
  g_autoptr (JsonParser) p = json_parser_new ();
  JsonObject *o;

  g_assert_cmpstr (ember_dbus_ember1_get_state (w.proxy), ==, "signed-out");
  g_assert_cmpstr (ember_dbus_ember1_get_mode (w.proxy), ==, "client");
  g_assert_cmpuint (g_variant_n_children (ember_dbus_ember1_get_identity (w.proxy)), ==, 0);
  allow ((const char *const[]){ NULL });
  assert_error ("SignIn", g_variant_new ("(ss)", "", "whatever"),
                "org.freedesktop.DBus.Error.AccessDenied", "org.ember.Ember1.sign-in");
  /* polkit was asked about the caller (this connection), per call, with
   * no user interaction: the call did not allow it. */
  {
    g_autofree char *kind = NULL, *name = NULL;
    guint32 flags = 99;
    next_check ("org.ember.Ember1.sign-in", NULL, &kind, &name, &flags);
    g_assert_cmpstr (kind, ==, "system-bus-name");
    g_assert_cmpstr (name, ==, g_dbus_connection_get_unique_name (w.bus));
    g_assert_cmpuint (flags, ==, 0);
  }
  assert_error ("Connect", NULL, "org.freedesktop.DBus.Error.AccessDenied",
                "org.ember.Ember1.connect");
  assert_error ("Reset", NULL, "org.freedesktop.DBus.Error.AccessDenied",
                "org.ember.Ember1.connect");
  assert_error ("Disconnect", NULL, "org.freedesktop.DBus.Error.AccessDenied",
                "org.ember.Ember1.disconnect");
  assert_error ("SignOut", NULL, "org.freedesktop.DBus.Error.AccessDenied",
                "org.ember.Ember1.sign-out");
  assert_error ("SetInternetResource", g_variant_new ("(b)", TRUE),
                "org.freedesktop.DBus.Error.AccessDenied", "org.ember.Ember1.internet-resource");
  /* The bus policy: properties are read-only to everyone. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GVariant) r = g_dbus_connection_call_sync (
        w.bus, NAME, OPATH, "org.freedesktop.DBus.Properties", "Set",
        g_variant_new ("(ssv)", IFACE, "State", g_variant_new_string ("connected")), NULL,
        G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
    g_assert_null (r);
    g_assert_true (g_dbus_error_is_remote_error (error));
  }
  /* Bad arguments, before any action is checked. */
  assert_error ("SignIn", g_variant_new ("(ss)", "http://portal", "t"),
                "org.freedesktop.DBus.Error.InvalidArgs", "portal_url");
  assert_error ("SignIn", g_variant_new ("(ss)", "", "two words"),
                "org.freedesktop.DBus.Error.InvalidArgs", "token");

  g_assert_cmpint (ctl (&out, NULL, "--json connect"), ==, 4);
  o = parse_object (p, out);
  g_assert_false (json_object_get_boolean_member (o, "ok"));
  g_assert_cmpstr (json_object_get_string_member (o, "error"), ==,
                   "org.freedesktop.DBus.Error.AccessDenied");
  g_assert_cmpint (json_object_get_int_member (o, "exit_code"), ==, 4);
  /* emberctl allows interactive authorization (a polkit agent may ask):
   * emberd passes it on as ALLOW_USER_INTERACTION (1), for emberctl's
   * own bus name. */
  {
    g_autofree char *kind = NULL, *name = NULL;
    guint32 flags = 99;
    next_check ("org.ember.Ember1.connect", g_dbus_connection_get_unique_name (w.bus), &kind,
                &name, &flags);
    g_assert_cmpstr (kind, ==, "system-bus-name");
    g_assert_nonnull (name);
    g_assert_true (name[0] == ':');
    g_assert_cmpstr (name, !=, g_dbus_connection_get_unique_name (w.bus));
    g_assert_cmpuint (flags, ==, 1);
  }
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "status"), ==, 0);
  g_assert_nonnull (strstr (out, "State:       signed-out\n"));
}

/* SignIn to another portal needs change-settings too; then emberctl
 * signs in with the right one: the token is stored 0600 and appears in
 * no property and not in the status file. */
static const char *dict_str (GVariant *dict, const char *key);

static void
check_sign_in (const char *token)
{
  g_autofree char *tfile = path ("client-state/token");
  g_autofree char *out = NULL;
  g_autofree char *all = NULL;
  g_autofree char *status = NULL;
  g_autofree char *stored = NULL;
  g_autoptr (JsonParser) p = json_parser_new ();
  struct stat st;
  guint from = w.changes->len;

  allow ((const char *const[]){ "org.ember.Ember1.sign-in", NULL });
  assert_error ("SignIn", g_variant_new ("(ss)", "ws://192.0.2.99:8080", token),
                "org.freedesktop.DBus.Error.AccessDenied", "org.ember.Ember1.change-settings");
  g_assert_false (g_file_test (tfile, G_FILE_TEST_EXISTS));

  g_assert_cmpint (ctl (&out, NULL, "--json sign-in --token-file client.token"), ==, 0);
  g_assert_true (json_object_get_boolean_member (parse_object (p, out), "ok"));
  g_assert_cmpint (stat (tfile, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_get_contents (tfile, &stored, NULL, NULL));
  g_assert_cmpstr (g_strstrip (stored), ==, token);

  /* Connecting, then connected with the TUN up and its addresses. */
  g_assert_cmpint (saw (from, "State=connecting", 10), >=, 0);
  g_assert_cmpint (saw (from, "State=connected", 30), >, saw (from, "State=connecting", 0));
  g_assert_cmpint (saw (from, "InterfaceName=" TUN, 10), >=, 0);
  g_assert_cmpint (saw (from, "TunnelAddresses=['100.64.", 10), >=, 0);
  g_assert_cmpint (saw (from, "Identity={'public-key'", 10), >=, 0);
  g_assert_cmpint (saw (from, "Resources=[{'id'", 10), >=, 0);
  /* The portal's init named the device: the name its token was made
   * for (`token create client laptop`), with the portal's id of it. */
  g_assert_cmpint (saw_with (from, "Identity=", "'name': <'laptop'>", 10), >=, 0);
  g_assert_cmpstr (dict_str (ember_dbus_ember1_get_identity (w.proxy), "name"), ==, "laptop");
  g_assert_cmpuint (strlen (dict_str (ember_dbus_ember1_get_identity (w.proxy), "id")), ==, 36);

  /* Another SignIn while signed in. */
  allow (all_actions);
  assert_error ("SignIn", g_variant_new ("(ss)", "", token),
                "org.ember.Ember1.Error.AlreadySignedIn", "SignOut");

  all = get_all ();
  g_assert_null (strstr (all, token));
  for (guint k = 0; k < w.changes->len; k++)
    g_assert_null (strstr (w.changes->pdata[k], token));
  status = read_file ("client-run/status.json");
  g_assert_nonnull (status);
  g_assert_null (strstr (status, token));
  /* The file `emberd --status` reads tells the same identity. */
  {
    JsonObject *ident = json_object_get_object_member (parse_object (p, status), "identity");
    g_assert_cmpstr (json_object_get_string_member (ident, "name"), ==, "laptop");
    g_assert_cmpstr (json_object_get_string_member (ident, "id"), ==,
                     dict_str (ember_dbus_ember1_get_identity (w.proxy), "id"));
  }
}

static const char *
dict_str (GVariant *dict, const char *key)
{
  const char *v = NULL;
  if (dict == NULL || !g_variant_lookup (dict, key, "&s", &v))
    return "";
  return v;
}

/* The gateway, on its own bus, serves "lan" to this client: Resources
 * lists it as "serving", Clients the client with its one authorization;
 * emberctl shows them, in JSON and in its table. */
static void
check_gateway_serves (const char *lan_id)
{
  g_autofree char *address = gw_address ();
  g_autoptr (GDBusConnection) bus = bus_connect_to (address);
  g_autoptr (EmberDBusEmber1) gw = NULL;
  g_autoptr (GVariant) client = NULL, ids = NULL, served = NULL;
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autofree char *bin = program ("emberctl", "emberctl");
  g_autofree char *line = NULL, *out = NULL, *want = NULL;
  const char *argv[] = { "/bin/sh", "-c", NULL, NULL };
  const char *id = NULL;
  guint64 n = 0;
  int status = -1;
  JsonObject *o;

  g_assert_nonnull (bus);
  gw = ember_dbus_ember1_proxy_new_sync (bus, G_DBUS_PROXY_FLAGS_NONE, NAME, OPATH, NULL, NULL);
  g_assert_nonnull (gw);
  for (int i = 0; i < 200 && g_variant_n_children (ember_dbus_ember1_get_clients (gw)) == 0; i++)
    {
      spin ();
      g_usleep (50 * 1000);
    }
  g_assert_cmpuint (g_variant_n_children (ember_dbus_ember1_get_clients (gw)), ==, 1);
  client = g_variant_get_child_value (ember_dbus_ember1_get_clients (gw), 0);
  g_assert_cmpuint (strlen (dict_str (client, "id")), ==, 36);
  g_assert_true (g_variant_lookup (client, "authorizations", "t", &n));
  g_assert_cmpuint (n, ==, 1);
  ids = g_variant_lookup_value (client, "resources", G_VARIANT_TYPE ("as"));
  g_assert_nonnull (ids);
  g_assert_cmpuint (g_variant_n_children (ids), ==, 1);
  g_variant_get_child (ids, 0, "&s", &id);
  g_assert_cmpstr (id, ==, lan_id);
  g_assert_cmpuint (g_variant_n_children (ember_dbus_ember1_get_resources (gw)), ==, 1);
  served = g_variant_get_child_value (ember_dbus_ember1_get_resources (gw), 0);
  g_assert_cmpstr (dict_str (served, "id"), ==, lan_id);
  g_assert_cmpstr (dict_str (served, "name"), ==, "lan");
  g_assert_cmpstr (dict_str (served, "address"), ==, "10.20.0.0/24");
  g_assert_cmpstr (dict_str (served, "site"), ==, "home");
  g_assert_cmpstr (dict_str (served, "status"), ==, "serving");
  /* The client the gateway serves is the device the portal told the
   * client it is; the gateway was told its own name too. */
  g_assert_cmpstr (dict_str (client, "id"), ==,
                   dict_str (ember_dbus_ember1_get_identity (w.proxy), "id"));
  g_assert_cmpstr (dict_str (ember_dbus_ember1_get_identity (gw), "name"), ==, "gw1");
  /* A gateway leaves the host's resolver alone (its plugin, which
   * tests/e2e/test-e2e-dns.sh checks, has no route to an upstream here). */
  g_assert_cmpstr (dict_str (ember_dbus_ember1_get_dns (gw), "system"), ==, "");

  line = g_strdup_printf ("DBUS_SYSTEM_BUS_ADDRESS=%s %s --json status", address, bin);
  argv[2] = line;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, &status, NULL));
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  o = parse_object (p, out);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "clients")), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (
                       json_array_get_object_element (json_object_get_array_member (o, "clients"),
                                                      0),
                       "id"),
                   ==, dict_str (client, "id"));
  g_clear_pointer (&out, g_free);
  g_free (line);
  line = g_strdup_printf ("DBUS_SYSTEM_BUS_ADDRESS=%s %s status", address, bin);
  argv[2] = line;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, &status, NULL));
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  want = g_strdup_printf ("Clients:     1\n             %s: 1 authorization(s): lan\n",
                          dict_str (client, "id"));
  if (strstr (out, want) == NULL)
    g_error ("emberctl status on the gateway lacks \"%s\":\n%s", want, out);
}

/* The client's Dns: the file backend applied, sentinels on the TUN in
 * front of the upstream from the namespace's resolv.conf, no dns
 * resource so no name; emberctl tells the same. */
static void
check_client_dns (void)
{
  g_autoptr (GVariant) servers = NULL, first = NULL;
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autofree char *out = NULL;
  gboolean applied = FALSE;
  guint64 names = 1;
  GVariant *dns;
  JsonObject *o, *d;

  for (int i = 0; i < 200 && !applied; i++)
    {
      spin ();
      g_variant_lookup (ember_dbus_ember1_get_dns (w.proxy), "applied", "b", &applied);
      if (!applied)
        g_usleep (50 * 1000);
    }
  g_assert_true (applied);
  dns = ember_dbus_ember1_get_dns (w.proxy);
  g_assert_cmpstr (dict_str (dns, "system"), ==, "file");
  g_assert_cmpstr (dict_str (dns, "plugin"), ==, "do53");
  g_assert_true (g_variant_lookup (dns, "proxy-names", "t", &names));
  g_assert_cmpuint (names, ==, 0);
  servers = g_variant_lookup_value (dns, "servers", G_VARIANT_TYPE ("aa{sv}"));
  g_assert_nonnull (servers);
  g_assert_cmpuint (g_variant_n_children (servers), ==, 1);
  first = g_variant_get_child_value (servers, 0);
  g_assert_cmpstr (dict_str (first, "ipv4"), ==, "100.100.111.1");
  g_assert_cmpstr (dict_str (first, "ipv6"), ==, "fd00:2021:1111:8000:100:100:111:1");
  g_assert_cmpstr (dict_str (first, "upstream"), ==, "192.0.2.53:53");
  g_assert_cmpuint (g_variant_n_children (ember_dbus_ember1_get_clients (w.proxy)), ==, 0);

  g_assert_cmpint (ctl (&out, NULL, "--json status"), ==, 0);
  o = parse_object (p, out);
  d = json_object_get_object_member (o, "dns");
  g_assert_nonnull (d);
  g_assert_cmpstr (json_object_get_string_member (d, "system"), ==, "file");
  g_assert_true (json_object_get_boolean_member (d, "applied"));
  g_assert_cmpstr (json_object_get_string_member (
                       json_array_get_object_element (json_object_get_array_member (d, "servers"),
                                                      0),
                       "upstream"),
                   ==, "192.0.2.53:53");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "clients")), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "status"), ==, 0);
  g_assert_nonnull (strstr (out, "DNS:         file, asking the sentinels; upstreams through "
                                 "do53; 0 name(s) with proxy addresses\n"
                                 "             100.100.111.1  fd00:2021:1111:8000:100:100:111:1"
                                 " -> 192.0.2.53:53\n"));
  g_assert_null (strstr (out, "Clients:"));
}

/* Traffic connects the resource (connected-direct); `apply` adds one,
 * which appears in Resources; emberctl shows both, in JSON and in its
 * tables. */
static void
check_resources (void)
{
  g_autofree char *cl = ns ("cl");
  g_autofree char *out = NULL;
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (JsonParser) p2 = json_parser_new ();
  JsonObject *o, *r;
  JsonArray *a;
  guint from = w.changes->len;
  int ok = -1;

  for (int i = 0; i < 20 && ok != 0; i++)
    ok = sh ("ip netns exec %s ping -c 1 -W 1 -q " LAN_HOST " >/dev/null", cl);
  g_assert_cmpint (ok, ==, 0);
  g_assert_cmpint (saw (from, "Resources=", 10), >=, 0);
  g_assert_cmpint (saw_with (from, "Resources=", "'connected-direct'", 10), >=, 0);
  /* Counters follow at most once a second: wait for received bytes. */
  {
    guint64 rx = 0;
    for (int i = 0; i < 200 && rx == 0; i++)
      {
        spin ();
        g_variant_lookup (ember_dbus_ember1_get_counters (w.proxy), "rx-bytes", "t", &rx);
        if (rx == 0)
          g_usleep (50 * 1000);
      }
    g_assert_cmpuint (rx, >, 0);
  }
  {
    g_autoptr (GVariant) lan = NULL;
    GVariant *all = ember_dbus_ember1_get_resources (w.proxy);

    g_assert_cmpuint (g_variant_n_children (all), ==, 1);
    lan = g_variant_get_child_value (all, 0);
    check_gateway_serves (dict_str (lan, "id"));
  }
  check_client_dns ();

  from = w.changes->len;
  g_assert_cmpint (sh ("cd %s && %s/bin/ember-portal/ember-portal apply --config portal.conf "
                       "policy2.json >>apply.log 2>&1",
                       net.dir, net.build),
                   ==, 0);
  g_assert_cmpint (saw_with (from, "Resources=", "'printers'", 10), >=, 0);

  g_assert_cmpint (ctl (&out, NULL, "--json status"), ==, 0);
  o = parse_object (p, out);
  g_assert_cmpstr (json_object_get_string_member (o, "state"), ==, "connected");
  g_assert_cmpstr (json_object_get_string_member (o, "mode"), ==, "client");
  g_assert_cmpstr (json_object_get_string_member (o, "interface_name"), ==, TUN);
  g_assert_cmpstr (json_object_get_string_member (o, "portal_url"), ==,
                   "ws://" PORTAL ":" PORTAL_PORT);
  g_assert_cmpstr (json_array_get_string_element (
                       json_object_get_array_member (o, "tunnel_addresses"), 0),
                   ==, "100.64.0.1/32");
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (o, "counters"),
                                               "rx-bytes"),
                   >, 0);
  g_assert_cmpint (strlen (json_object_get_string_member (
                       json_object_get_object_member (o, "identity"), "public-key")),
                   ==, 44);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "identity"),
                                                  "name"),
                   ==, "laptop");
  a = json_object_get_array_member (o, "resources");
  r = resource_named (a, "lan");
  g_assert_nonnull (r);
  g_assert_cmpstr (json_object_get_string_member (r, "address"), ==, "10.20.0.0/24");
  g_assert_cmpstr (json_object_get_string_member (r, "site"), ==, "home");
  g_assert_cmpstr (json_object_get_string_member (r, "status"), ==, "connected-direct");
  r = resource_named (a, "printers");
  g_assert_nonnull (r);
  g_assert_cmpstr (json_object_get_string_member (r, "status"), ==, "not-connected");
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (ctl (&out, NULL, "-j resources"), ==, 0);
  json_parser_load_from_data (p2, out, -1, NULL);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (json_parser_get_root (p2)));
  g_assert_cmpuint (json_array_get_length (json_node_get_array (json_parser_get_root (p2))), ==,
                    2);
  g_clear_pointer (&out, g_free);

  /* The tables tell the same facts. */
  g_assert_cmpint (ctl (&out, NULL, "resources"), ==, 0);
  g_assert_true (g_regex_match_simple ("^lan +10\\.20\\.0\\.0/24 +cidr +home +connected-direct$",
                                       out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^printers +10\\.30\\.0\\.0/24 +cidr +home +not-connected$",
                                       out, G_REGEX_MULTILINE, 0));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "status"), ==, 0);
  g_assert_nonnull (strstr (out, "State:       connected\n"));
  g_assert_nonnull (strstr (out, "Interface:   " TUN "  100.64.0.1/32"));
  g_assert_nonnull (strstr (out, "Resources:   2\n"));
  g_assert_nonnull (strstr (out, "Device:      laptop\n"));
  g_assert_nonnull (strstr (out, "Portal:      ws://" PORTAL ":" PORTAL_PORT "\n"));
}

/* Disconnect takes the TUN and routes down and keeps the token; Connect
 * and Reset bring them back; the internet resource is not in this
 * policy; SignOut deletes the token. */
static void
check_methods (const char *token)
{
  g_autofree char *cl = ns ("cl");
  g_autofree char *tfile = path ("client-state/token");
  g_autofree char *out = NULL;
  guint from;

  assert_error ("SetInternetResource", g_variant_new ("(b)", FALSE),
                "org.ember.Ember1.Error.NoInternetResource", NULL);
  g_assert_cmpint (ctl (&out, NULL, "internet off"), ==, 5);
  g_clear_pointer (&out, g_free);

  /* Connected: the system resolver asks the sentinels. */
  g_assert_true (resolv_holds ("nameserver 100.100.111.1\n", FALSE, 10));

  from = w.changes->len;
  allow ((const char *const[]){ "org.ember.Ember1.connect", NULL });
  g_assert_cmpint (ctl (&out, NULL, "disconnect"), ==, 4);
  g_clear_pointer (&out, g_free);
  allow (all_actions);
  g_assert_cmpint (ctl (&out, NULL, "disconnect"), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (saw (from, "State=disconnected", 10), >=, 0);
  g_assert_cmpint (saw (from, "InterfaceName=", 10), >=, 0);
  spin ();
  g_assert_cmpstr (ember_dbus_ember1_get_interface_name (w.proxy), ==, "");
  g_assert_cmpint (sh ("ip -n %s link show " TUN " >/dev/null 2>&1", cl), !=, 0);
  g_assert_cmpint (sh ("ip -n %s route show 10.20.0.0/24 | grep -q .", cl), !=, 0);
  g_assert_true (g_file_test (tfile, G_FILE_TEST_EXISTS));
  /* Disconnected, names resolve as before Ember, byte for byte, and Dns
   * says so: not applied, no sentinel while the TUN is down. */
  g_assert_true (resolv_holds (RESOLV_ORIGINAL, TRUE, 10));
  g_assert_cmpint (saw_with (from, "Dns=", "'applied': <false>", 10), >=, 0);
  g_assert_cmpint (saw_with (from, "Dns=", "'ipv4': <''>", 10), >=, 0);
  /* Counters are totals since emberd started, not of the machine that
   * went: still there after the next once-a-second update (2 s). */
  {
    guint64 rx = 0;
    for (int i = 0; i < 40; i++)
      {
        spin ();
        g_usleep (50 * 1000);
      }
    g_assert_true (g_variant_lookup (ember_dbus_ember1_get_counters (w.proxy), "rx-bytes", "t",
                                     &rx));
    g_assert_cmpuint (rx, >, 0);
  }

  from = w.changes->len;
  assert_ok ("Connect", NULL);
  g_assert_cmpint (saw (from, "State=connected", 30), >=, 0);
  g_assert_cmpint (saw (from, "InterfaceName=" TUN, 10), >=, 0);
  g_assert_cmpint (sh ("ip -n %s link show " TUN " >/dev/null 2>&1", cl), ==, 0);
  g_assert_true (resolv_holds ("nameserver 100.100.111.1\n", FALSE, 10));
  g_assert_cmpint (saw_with (from, "Dns=", "'applied': <true>", 10), >=, 0);

  from = w.changes->len;
  g_assert_cmpint (ctl (&out, NULL, "--json reset"), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (saw (from, "State=connecting", 10), >=, 0);
  g_assert_cmpint (saw (from, "State=connected", 30), >=, 0);

  from = w.changes->len;
  assert_ok ("SignOut", NULL);
  g_assert_cmpint (saw (from, "State=signed-out", 10), >=, 0);
  g_assert_cmpint (saw (from, "Identity={}", 10), >=, 0);
  g_assert_false (g_file_test (tfile, G_FILE_TEST_EXISTS));
  g_assert_true (resolv_holds (RESOLV_ORIGINAL, TRUE, 10));
  g_assert_cmpint (ctl (&out, NULL, "connect"), ==, 5);
  g_clear_pointer (&out, g_free);

  /* A token the portal refuses: signed out again, with the Error signal. */
  from = w.changes->len;
  g_assert_cmpint (ctl (&out, "bad.token", "sign-in"), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (saw (from, "Error=org.ember.Ember1.Error.TokenRejected: ", 30), >=, 0);
  g_assert_cmpint (saw (from, "State=signed-out", 10), >=, 0);
  g_assert_false (g_file_test (tfile, G_FILE_TEST_EXISTS));
  (void) token;
}

/* The gateway publishes its properties on its bus and answers a method
 * with WrongMode — with no polkit on that bus, so without asking it;
 * emberctl says so with exit 5. */
static void
check_gateway (void)
{
  g_autofree char *address = gw_address ();
  g_autoptr (GDBusConnection) bus = bus_connect_to (address);
  g_autoptr (EmberDBusEmber1) gw = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = NULL;
  g_autofree char *name = NULL;
  g_autofree char *bin = program ("emberctl", "emberctl");
  g_autofree char *out = NULL;
  g_autofree char *line = NULL;
  g_autoptr (JsonParser) p = json_parser_new ();
  const char *argv[] = { "/bin/sh", "-c", NULL, NULL };
  int status = -1;
  JsonObject *o;

  g_assert_nonnull (bus);
  gw = ember_dbus_ember1_proxy_new_sync (bus, G_DBUS_PROXY_FLAGS_NONE, NAME, OPATH, NULL, NULL);
  g_assert_nonnull (gw);
  for (int i = 0; i < 200 && g_strcmp0 (ember_dbus_ember1_get_state (gw), "connected") != 0; i++)
    {
      spin ();
      g_usleep (50 * 1000);
    }
  g_assert_cmpstr (ember_dbus_ember1_get_mode (gw), ==, "gateway");
  g_assert_cmpstr (ember_dbus_ember1_get_state (gw), ==, "connected");
  g_assert_cmpstr (ember_dbus_ember1_get_interface_name (gw), ==, "dbus-tg");
  g_assert_cmpstr (ember_dbus_ember1_get_tunnel_addresses (gw)[0], ==, "100.64.0.2/32");
  r = g_dbus_connection_call_sync (bus, NAME, OPATH, IFACE, "Disconnect", NULL, NULL,
                                   G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
  g_assert_null (r);
  name = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (name, ==, "org.ember.Ember1.Error.WrongMode");

  line = g_strdup_printf ("DBUS_SYSTEM_BUS_ADDRESS=%s %s --json disconnect", address, bin);
  argv[2] = line;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, &status, NULL));
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 5);
  o = parse_object (p, out);
  g_assert_cmpstr (json_object_get_string_member (o, "error"), ==,
                   "org.ember.Ember1.Error.WrongMode");
}

/* emberctl's usage and reachability exit codes. */
static void
check_ctl_codes (void)
{
  g_autofree char *out = NULL;

  g_assert_cmpint (ctl (&out, NULL, "frobnicate"), ==, 2);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "internet sideways"), ==, 2);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (ctl (&out, NULL, "--portal ws://x status"), ==, 2);
  g_clear_pointer (&out, g_free);
  {
    g_autofree char *bin = program ("emberctl", "emberctl");
    g_assert_cmpint (sh ("DBUS_SYSTEM_BUS_ADDRESS=unix:path=%s/none.sock %s status "
                         ">/dev/null 2>&1",
                         net.dir, bin),
                     ==, 3);
  }
}

/* Signed in again, then the portal goes away for good (the last check:
 * the parent reaps it): after [portal] outage-notice (2 s here) the
 * Error signal says so, once, while the tunnel stays up. */
static void
check_portal_outage (void)
{
  g_autofree char *cl = ns ("cl");
  g_autofree char *out = NULL;
  guint from = w.changes->len;
  int k;

  g_assert_cmpint (ctl (&out, NULL, "sign-in --token-file client.token"), ==, 0);
  g_assert_cmpint (saw (from, "State=connected", 30), >=, 0);
  from = w.changes->len;
  /* [s]: the pattern must not match the shell that runs pkill. */
  g_assert_cmpint (sh ("pkill -f '[s]erve --config %s/portal.conf'", net.dir), ==, 0);
  k = saw (from, "Error=org.ember.Ember1.Error.PortalUnreachable: ", 30);
  g_assert_cmpint (k, >=, 0);
  g_assert_nonnull (strstr (w.changes->pdata[k], "ws://" PORTAL ":" PORTAL_PORT));
  g_assert_nonnull (strstr (w.changes->pdata[k], " seconds ("));
  g_assert_cmpint (sh ("ip -n %s link show " TUN " >/dev/null 2>&1", cl), ==, 0);
  /* Once per outage. */
  g_assert_cmpint (saw (k + 1, "Error=org.ember.Ember1.Error.PortalUnreachable", 3), <, 0);
}

static void
test_api (void)
{
  g_autofree char *status_file = NULL;
  g_autofree char *resolv_before = NULL, *resolv_after = NULL;
  gboolean status_left;
  int client_exit, gateway_exit;

  if (g_test_subprocess ())
    {
      g_autofree char *token = NULL;

      net.prefix = g_strdup (g_getenv ("DBUS_TEST_PREFIX"));
      net.dir = g_strdup (g_getenv ("DBUS_TEST_DIR"));
      net.build = g_strdup (g_getenv ("EMBER_BUILD_ROOT"));
      net.address = g_strdup (g_getenv ("DBUS_SYSTEM_BUS_ADDRESS"));
      g_assert_cmpint (g_chdir (net.dir), ==, 0);
      token = read_file ("client.token");
      g_strstrip (token);
      monitor_start ();
      watch_start ();
      check_signed_out_and_denied ();
      check_sign_in (token);
      check_resources ();
      check_methods (token);
      check_gateway ();
      check_ctl_codes ();
      check_portal_outage ();
      return;
    }
  if (getuid () != 0 || sh ("command -v ip && command -v ping && command -v ss && "
                            "command -v dbus-daemon && /usr/bin/python3 -c 'import dbusmock'")
                            != 0)
    {
      g_test_skip ("needs root, iproute2, ping, dbus-daemon and python3-dbusmock");
      return;
    }
  net.build = g_strdup (g_getenv ("EMBER_BUILD_ROOT"));
  net.source = g_strdup (g_getenv ("EMBER_SOURCE_ROOT"));
  g_assert_nonnull (net.build);
  g_assert_nonnull (net.source);
  net.prefix = g_strdup_printf ("dbus-%d", (int) getpid ());
  net.dir = g_dir_make_tmp ("dbus-api-XXXXXX", NULL);
  g_setenv ("DBUS_TEST_PREFIX", net.prefix, TRUE);
  g_setenv ("DBUS_TEST_DIR", net.dir, TRUE);
  status_file = g_build_filename (net.dir, "client-run", "status.json", NULL);
  /* The namespaces share the host's files: the client's file backend
   * must rewrite only its namespace's own resolv.conf. */
  g_file_get_contents ("/etc/resolv.conf", &resolv_before, NULL, NULL);

  if (!setup ())
    {
      sh ("tail -n 20 %s/*.log >&2", net.dir);
      teardown ();
      g_error ("could not build the test network (see the output above)");
    }
  g_test_trap_subprocess (NULL, 150 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  client_exit = stop (&net.client);
  gateway_exit = stop (&net.gateway);
  if (!g_test_trap_has_passed ())
    sh ("tail -n 30 %s/client.log %s/gateway.log %s/portal.log %s/polkit.log >&2", net.dir,
        net.dir, net.dir, net.dir);
  status_left = g_file_test (status_file, G_FILE_TEST_EXISTS);
  teardown ();
  g_file_get_contents ("/etc/resolv.conf", &resolv_after, NULL, NULL);
  g_assert_cmpstr (resolv_after, ==, resolv_before);
  g_test_trap_assert_passed ();
  /* Under ASan: no leak, no error on the way out. */
  g_assert_cmpint (client_exit, ==, 0);
  g_assert_cmpint (gateway_exit, ==, 0);
  g_assert_false (status_left);
}

/* Static-peer mode publishes its tunnel on the bus too: Mode, State
 * "connected", the interface, the wg-quick file's addresses with their
 * prefixes, the key, its DNS= servers; its methods answer WrongMode.
 * One namespace, one bus without polkit, no portal. */
static void
test_static_peer (void)
{
  g_autofree char *emberd = NULL, *sp = NULL, *conf = NULL, *cmd = NULL, *address = NULL;
  g_autofree char *priv = NULL, *pub = NULL, *peer = NULL;
  g_autofree char *ctl_bin = NULL, *ctl_out = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (EmberDBusEmber1) proxy = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = NULL;
  g_autofree char *name = NULL;
  const char *const *addrs;
  const char *key = NULL;
  gboolean netns_ok;
  int code;

  if (getuid () != 0 || sh ("command -v ip && command -v wg && command -v dbus-daemon") != 0)
    {
      g_test_skip ("needs root, iproute2, wireguard-tools and dbus-daemon");
      return;
    }
  /* The previous test's directory (its cwd) is gone. */
  g_assert_cmpint (g_chdir ("/"), ==, 0);
  g_free (net.build);
  net.build = g_strdup (g_getenv ("EMBER_BUILD_ROOT"));
  g_free (net.source);
  net.source = g_strdup (g_getenv ("EMBER_SOURCE_ROOT"));
  g_free (net.prefix);
  net.prefix = g_strdup_printf ("dbus-%d", (int) getpid ());
  g_free (net.dir);
  net.dir = g_dir_make_tmp ("dbus-sp-XXXXXX", NULL);
  emberd = program ("emberd", "emberd");
  ctl_bin = program ("emberctl", "emberctl");
  sp = ns ("sp");
  address = g_strdup_printf ("unix:path=%s/sp-bus.sock", net.dir);
  g_assert_cmpint (sh ("cd %s && umask 077 && wg genkey >sp.key && wg pubkey <sp.key >sp.pub && "
                       "wg genkey | wg pubkey >peer.pub && chmod 600 sp.key",
                       net.dir),
                   ==, 0);
  priv = read_file ("sp.key");
  pub = read_file ("sp.pub");
  peer = read_file ("peer.pub");
  /* DNS= with EMBER_DNS_SYSTEM=none: reported, the host left alone. */
  conf = g_strdup_printf ("[Interface]\nPrivateKey = %s\nAddress = 10.77.0.2/24, "
                          "fd77::2/64\nListenPort = 0\nDNS = 192.0.2.53, corp.example\n\n"
                          "[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.0/24\n",
                          g_strstrip (priv), g_strstrip (peer));
  write_file ("sp.conf", conf, 0600);
  {
    g_autofree char *bus_conf = g_strdup_printf (
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
        " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
        "<busconfig><type>system</type><listen>%s</listen><auth>EXTERNAL</auth>\n"
        "<policy context=\"default\"><allow user=\"*\"/><deny own=\"*\"/>\n"
        "<allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
        "<allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
        "<allow receive_type=\"method_call\"/><allow receive_type=\"method_return\"/>\n"
        "<allow receive_type=\"error\"/><allow receive_type=\"signal\"/>\n"
        "<allow send_type=\"signal\"/>\n"
        "<allow send_destination=\"org.freedesktop.DBus\"/></policy>\n"
        "<include>%s/data/dbus/" NAME ".conf</include></busconfig>\n",
        address, net.source);
    g_autofree char *bcmd = g_strdup_printf ("dbus-daemon --config-file=%s/sp-bus.conf --nofork "
                                             "--nopidfile",
                                             net.dir);
    write_file ("sp-bus.conf", bus_conf, 0644);
    net.bus = spawn (NULL, "sp-bus", bcmd);
  }
  netns_ok = sh ("ip netns add %s && ip -n %s link set lo up", sp, sp) == 0;
  cmd = g_strdup_printf ("env DBUS_SYSTEM_BUS_ADDRESS=%s EMBER_RUN_DIR=%s/run "
                         "EMBER_STATE_DIR=%s/state EMBER_DNS_SYSTEM=none %s --wg-config %s/sp.conf "
                         "--interface dbus-sp",
                         address, net.dir, net.dir, emberd, net.dir);
  if (netns_ok)
    net.client = spawn ("sp", "sp", cmd);

  if (netns_ok && wait_name_on (address, NAME, 30))
    {
      bus = bus_connect_to (address);
      proxy = ember_dbus_ember1_proxy_new_sync (bus, G_DBUS_PROXY_FLAGS_NONE, NAME, OPATH, NULL,
                                                NULL);
    }
  if (proxy != NULL)
    {
      g_autofree char *line = g_strdup_printf ("DBUS_SYSTEM_BUS_ADDRESS=%s %s status", address,
                                               ctl_bin);
      const char *argv[] = { "/bin/sh", "-c", line, NULL };

      r = g_dbus_connection_call_sync (bus, NAME, OPATH, IFACE, "Connect", NULL, NULL,
                                       G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
      name = error != NULL ? g_dbus_error_get_remote_error (error) : NULL;
      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                    &ctl_out, NULL, NULL, NULL);
    }
  code = stop (&net.client);
  stop (&net.bus);
  if (proxy == NULL)
    sh ("cat %s/sp.log %s/sp-bus.log >&2", net.dir, net.dir);
  sh ("ip netns del %s 2>/dev/null; rm -rf '%s'", sp, net.dir);
  g_clear_pointer (&net.build, g_free);
  g_clear_pointer (&net.source, g_free);
  g_clear_pointer (&net.prefix, g_free);
  g_clear_pointer (&net.dir, g_free);

  g_assert_true (netns_ok);
  g_assert_nonnull (proxy);
  g_assert_cmpstr (ember_dbus_ember1_get_mode (proxy), ==, "static-peer");
  g_assert_cmpstr (ember_dbus_ember1_get_state (proxy), ==, "connected");
  g_assert_cmpstr (ember_dbus_ember1_get_interface_name (proxy), ==, "dbus-sp");
  addrs = ember_dbus_ember1_get_tunnel_addresses (proxy);
  g_assert_cmpstr (addrs[0], ==, "10.77.0.2/24");
  g_assert_cmpstr (addrs[1], ==, "fd77::2/64");
  g_assert_null (addrs[2]);
  g_assert_true (g_variant_lookup (ember_dbus_ember1_get_identity (proxy), "public-key", "&s",
                                   &key));
  g_assert_cmpstr (key, ==, g_strstrip (pub));
  {
    GVariant *dns = ember_dbus_ember1_get_dns (proxy);
    g_autoptr (GVariant) servers = NULL, first = NULL;
    gboolean applied = TRUE;

    g_assert_cmpstr (dict_str (dns, "system"), ==, "none");
    g_assert_cmpstr (dict_str (dns, "plugin"), ==, "");
    g_assert_true (g_variant_lookup (dns, "applied", "b", &applied));
    g_assert_false (applied);
    servers = g_variant_lookup_value (dns, "servers", G_VARIANT_TYPE ("aa{sv}"));
    g_assert_nonnull (servers);
    g_assert_cmpuint (g_variant_n_children (servers), ==, 1);
    first = g_variant_get_child_value (servers, 0);
    g_assert_cmpstr (dict_str (first, "upstream"), ==, "192.0.2.53:53");
    g_assert_cmpstr (dict_str (first, "ipv4"), ==, "");
  }
  g_assert_nonnull (ctl_out);
  if (strstr (ctl_out, "DNS:         none, not applied\n             -> 192.0.2.53:53\n") == NULL)
    g_error ("emberctl status on the static peer:\n%s", ctl_out);
  g_assert_null (r);
  g_assert_cmpstr (name, ==, "org.ember.Ember1.Error.WrongMode");
  g_assert_cmpint (code, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dbus/api/a-signed-out-client-is-driven-over-the-bus-under-polkit", test_api);
  g_test_add_func ("/dbus/api/a-static-peer-publishes-its-tunnel", test_static_peer);
  return g_test_run ();
}
