/* The real DNS servers of the upstream plugin tests; see dns-servers.h. */
#include "dns-servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- Cleanup ------------------------------------------------------------------ */

#define MAX_CHILDREN 4
#define MAX_DIRS 4
/* Every file a server directory may hold, removed by name. */
static const char *const file_names[] = {
  "unbound.conf", "ca.key", "ca.pem", "ca.tmpl", "server.key", "server.pem", "server.tmpl",
  "dnsmasq.log", "unbound.log", "bus.conf", "bus", "resolv.conf", "target.conf", "other.conf",
  "resolvconf", "resolvconf.log", "state/resolv.conf.orig", "state/resolv.conf.state",
  "state/resolvconf.record", "state",
};
static volatile pid_t children[MAX_CHILDREN];
static char dirs[MAX_DIRS][256];

static void
cleanup_now (void)
{
  for (guint i = 0; i < MAX_CHILDREN; i++)
    {
      pid_t pid = children[i];
      if (pid > 0)
        {
          kill (pid, SIGKILL);
          waitpid (pid, NULL, 0);
          children[i] = 0;
        }
    }
  for (guint i = 0; i < MAX_DIRS; i++)
    if (dirs[i][0] != '\0')
      {
        char path[512];
        for (guint k = 0; k < G_N_ELEMENTS (file_names); k++)
          {
            /* No snprintf in a signal handler: build the path by hand. */
            gsize a = strlen (dirs[i]), b = strlen (file_names[k]);
            memcpy (path, dirs[i], a);
            path[a] = '/';
            memcpy (path + a + 1, file_names[k], b + 1);
            if (unlink (path) != 0 && errno == EISDIR)
              rmdir (path);
          }
        rmdir (dirs[i]);
        dirs[i][0] = '\0';
      }
}

static void
on_abort (int sig)
{
  cleanup_now ();
  signal (sig, SIG_DFL);
  raise (sig);
}

void
dns_servers_install_cleanup (void)
{
  atexit (cleanup_now);
  signal (SIGABRT, on_abort);
  signal (SIGTRAP, on_abort);
  signal (SIGTERM, on_abort);  /* meson test's timeout */
}

void
dns_servers_child_setup (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

void
dns_servers_adopt (GPid pid)
{
  for (guint i = 0; i < MAX_CHILDREN; i++)
    if (children[i] == 0)
      {
        children[i] = pid;
        return;
      }
  g_assert_not_reached ();
}

void
dns_servers_release (GPid pid)
{
  for (guint i = 0; i < MAX_CHILDREN; i++)
    if (children[i] == pid)
      children[i] = 0;
}

char *
dns_servers_make_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("ember-dnsup-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (dir), <, 200);
  for (guint i = 0; i < MAX_DIRS; i++)
    if (dirs[i][0] == '\0')
      {
        g_strlcpy (dirs[i], dir, sizeof dirs[i]);
        return dir;
      }
  g_assert_not_reached ();
}

void
dns_servers_remove_dir (const char *dir)
{
  for (guint k = 0; k < G_N_ELEMENTS (file_names); k++)
    {
      g_autofree char *path = g_build_filename (dir, file_names[k], NULL);
      if (unlink (path) != 0 && errno == EISDIR)
        rmdir (path);
    }
  rmdir (dir);
  for (guint i = 0; i < MAX_DIRS; i++)
    if (g_str_equal (dirs[i], dir))
      dirs[i][0] = '\0';
}

/* ---- Addresses and queries --------------------------------------------------------- */

EmberAddr
dns_loopback (guint16 port)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = port, .addr = { 127, 0, 0, 1 } };
  return a;
}

/* A port both a UDP and a TCP socket could bind just now. */
guint16
dns_free_port (void)
{
  for (guint attempt = 0; attempt < 50; attempt++)
    {
      int u = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
      socklen_t sl = sizeof sin;
      g_assert_cmpint (bind (u, (struct sockaddr *) &sin, sizeof sin), ==, 0);
      g_assert_cmpint (getsockname (u, (struct sockaddr *) &sin, &sl), ==, 0);
      int t = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      gboolean ok = bind (t, (struct sockaddr *) &sin, sizeof sin) == 0;
      close (t);
      close (u);
      if (ok)
        return ntohs (sin.sin_port);
    }
  g_assert_not_reached ();
}

gsize
dns_build_query (guint8 *buf, guint16 id, const char *name, guint16 qtype)
{
  gsize n = 0;
  buf[n++] = (guint8) (id >> 8);
  buf[n++] = (guint8) id;
  buf[n++] = 0x01;  /* RD */
  buf[n++] = 0x00;
  const guint8 counts[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
  memcpy (buf + n, counts, 8);
  n += 8;
  g_auto (GStrv) labels = g_strsplit (name, ".", -1);
  for (guint i = 0; labels[i] != NULL; i++)
    {
      gsize l = strlen (labels[i]);
      if (l == 0)
        continue;
      buf[n++] = (guint8) l;
      memcpy (buf + n, labels[i], l);
      n += l;
    }
  buf[n++] = 0;
  buf[n++] = (guint8) (qtype >> 8);
  buf[n++] = (guint8) qtype;
  buf[n++] = 0;
  buf[n++] = 1;  /* IN */
  return n;
}

/* ---- Servers ------------------------------------------------------------------------- */

static gboolean
tcp_accepts (guint16 port, gboolean ipv6)
{
  int fd = socket (ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons (port),
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  gboolean ok = ipv6 ? connect (fd, (struct sockaddr *) &sin6, sizeof sin6) == 0
                     : connect (fd, (struct sockaddr *) &sin, sizeof sin) == 0;
  close (fd);
  return ok;
}

/* TRUE once every port accepts; FALSE when the server exited first
 * (most likely a port chosen free was taken by another test since). */
static gboolean
wait_ready (DnsServer *s, const char *what)
{
  gint64 end = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  guint16 ports[] = { s->port, s->tls_port, s->https_port };
  for (guint i = 0; i < G_N_ELEMENTS (ports); i++)
    {
      while (ports[i] != 0 && !tcp_accepts (ports[i], s->ipv6))
        {
          int status;
          if (waitpid (s->pid, &status, WNOHANG) == s->pid)
            {
              dns_servers_release (s->pid);
              g_spawn_close_pid (s->pid);
              s->pid = 0;
              g_test_message ("%s exited at start-up (status %d)", what, status);
              return FALSE;
            }
          g_assert_cmpint (g_get_monotonic_time (), <, end);
          g_usleep (20 * 1000);
        }
    }
  return TRUE;
}

/* Start-ups that may fail on a port race, before the test gives up. */
#define START_ATTEMPTS 5

static void
spawn (DnsServer *s, const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_spawn_async (s->dir, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, dns_servers_child_setup, NULL,
                 &s->pid, &error);
  g_assert_no_error (error);
  dns_servers_adopt (s->pid);
}

static void
run_tool (const char *dir, const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  gint status = 0;
  g_spawn_sync (dir, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                NULL, NULL, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s", argv[0], err);
}

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

/* A CA and a server certificate for DNS_SERVER_NAME and 127.0.0.1. */
static void
make_certificates (DnsServer *s)
{
  write_file (s->dir, "ca.tmpl", "cn = Ember DNS test CA\nca\ncert_signing_key\nexpiration_days = 2\n");
  write_file (s->dir, "server.tmpl",
              "cn = " DNS_SERVER_NAME "\ndns_name = " DNS_SERVER_NAME "\nip_address = 127.0.0.1\n"
              "tls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n");
  const char *ca_key[] = { "certtool", "--generate-privkey", "--key-type=ecdsa", "--no-text",
                           "--outfile", "ca.key", NULL };
  const char *ca[] = { "certtool", "--generate-self-signed", "--load-privkey", "ca.key",
                       "--template", "ca.tmpl", "--no-text", "--outfile", "ca.pem", NULL };
  const char *key[] = { "certtool", "--generate-privkey", "--key-type=ecdsa", "--no-text",
                        "--outfile", "server.key", NULL };
  const char *cert[] = { "certtool", "--generate-certificate", "--load-privkey", "server.key",
                         "--load-ca-certificate", "ca.pem", "--load-ca-privkey", "ca.key",
                         "--template", "server.tmpl", "--no-text", "--outfile", "server.pem",
                         NULL };
  run_tool (s->dir, ca_key);
  run_tool (s->dir, ca);
  run_tool (s->dir, key);
  run_tool (s->dir, cert);
  s->ca_file = g_build_filename (s->dir, "ca.pem", NULL);
}

/* ~2 KB of TXT: too big for 512 bytes of UDP without EDNS. */
static char *
big_txt (const char *fmt_line)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < 16; i++)
    {
      g_autofree char *chunk = g_strnfill (100, (char) ('a' + i));
      g_string_append_printf (s, fmt_line, chunk);
    }
  return g_string_free (s, FALSE);
}

gboolean
dns_server_start_unbound (DnsServer *s, gboolean tls)
{
  memset (s, 0, sizeof *s);
  g_autofree char *prog = g_find_program_in_path ("unbound");
  g_autofree char *certtool = g_find_program_in_path ("certtool");
  if (prog == NULL || (tls && certtool == NULL))
    {
      g_test_skip ("unbound or certtool is not installed (scripts/deps.sh)");
      return FALSE;
    }
  s->dir = dns_servers_make_dir ();
  if (tls)
    make_certificates (s);
  g_autofree char *txt = big_txt ("  local-data: 'big.test. 60 IN TXT \"%s\"'\n");
  g_autofree char *conf_path = g_build_filename (s->dir, "unbound.conf", NULL);
  for (guint attempt = 0; attempt < START_ATTEMPTS; attempt++)
    {
      s->port = dns_free_port ();
      GString *conf = g_string_new (NULL);
      g_string_append_printf (conf,
                              "server:\n"
                              "  interface: 127.0.0.1@%u\n"
                              "  port: %u\n"
                              "  do-daemonize: no\n  chroot: \"\"\n  username: \"\"\n"
                              "  directory: \"%s\"\n  pidfile: \"\"\n  use-syslog: no\n"
                              "  logfile: \"%s/unbound.log\"\n  verbosity: 1\n"
                              "  do-ip6: no\n  num-threads: 1\n  so-reuseport: no\n"
                              "  access-control: 127.0.0.0/8 allow\n"
                              "  module-config: \"iterator\"\n"
                              "  local-zone: \"test.\" static\n"
                              "  local-data: \"a.test. 60 IN A 192.0.2.1\"\n",
                              s->port, s->port, s->dir, s->dir);
      g_string_append (conf, txt);
      if (tls)
        {
          do
            s->tls_port = dns_free_port ();
          while (s->tls_port == s->port);
          do
            s->https_port = dns_free_port ();
          while (s->https_port == s->tls_port || s->https_port == s->port);
          g_string_append_printf (conf,
                                  "  interface: 127.0.0.1@%u\n  interface: 127.0.0.1@%u\n"
                                  "  tls-port: %u\n  https-port: %u\n"
                                  "  tls-service-key: \"%s/server.key\"\n"
                                  "  tls-service-pem: \"%s/server.pem\"\n"
                                  "  http-endpoint: \"/dns-query\"\n",
                                  s->tls_port, s->https_port, s->tls_port, s->https_port, s->dir,
                                  s->dir);
        }
      g_string_append (conf, "remote-control:\n  control-enable: no\n");
      write_file (s->dir, "unbound.conf", conf->str);
      g_string_free (conf, TRUE);
      const char *argv[] = { prog, "-d", "-c", conf_path, NULL };
      spawn (s, argv);
      if (wait_ready (s, "unbound"))
        return TRUE;
    }
  g_error ("unbound did not start in %d attempts", START_ATTEMPTS);
}

gboolean
dns_server_start_dnsmasq (DnsServer *s, gboolean ipv6)
{
  memset (s, 0, sizeof *s);
  s->ipv6 = ipv6;
  if (ipv6)
    {
      /* Containers may run without IPv6, even on loopback. */
      int fd = socket (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
      gboolean usable = fd >= 0 && bind (fd, (struct sockaddr *) &sin6, sizeof sin6) == 0;
      if (fd >= 0)
        close (fd);
      if (!usable)
        {
          g_test_skip ("no IPv6 on loopback here");
          return FALSE;
        }
    }
  g_autofree char *prog = g_find_program_in_path ("dnsmasq");
  if (prog == NULL)
    prog = g_strdup ("/usr/sbin/dnsmasq");
  if (!g_file_test (prog, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("dnsmasq is not installed (scripts/deps.sh)");
      return FALSE;
    }
  s->dir = dns_servers_make_dir ();
  g_autofree char *log = g_strdup_printf ("--log-facility=%s/dnsmasq.log", s->dir);
  for (guint attempt = 0; attempt < START_ATTEMPTS; attempt++)
    {
      s->port = dns_free_port ();
      g_autofree char *port = g_strdup_printf ("--port=%u", s->port);
      const char *argv[] = { prog, "--keep-in-foreground", "--no-resolv", "--no-hosts",
                             "--bind-interfaces", ipv6 ? "--listen-address=::1" : "--listen-address=127.0.0.1",
                             "--user=root",
                             "--pid-file", "--conf-file=/dev/null", port, log,
                             "--address=/a.test/192.0.2.2", NULL };
      spawn (s, argv);
      if (wait_ready (s, "dnsmasq"))
        return TRUE;
    }
  g_error ("dnsmasq did not start in %d attempts", START_ATTEMPTS);
}

void
dns_server_stop (DnsServer *s)
{
  if (s->pid > 0)
    {
      kill (s->pid, SIGTERM);
      gint64 end = g_get_monotonic_time () + 3 * G_TIME_SPAN_SECOND;
      while (waitpid (s->pid, NULL, WNOHANG) == 0)
        {
          if (g_get_monotonic_time () > end)
            {
              kill (s->pid, SIGKILL);
              waitpid (s->pid, NULL, 0);
              break;
            }
          g_usleep (10 * 1000);
        }
      dns_servers_release (s->pid);
      g_spawn_close_pid (s->pid);
      s->pid = 0;
    }
  if (s->dir != NULL)
    {
      dns_servers_remove_dir (s->dir);
      g_clear_pointer (&s->dir, g_free);
    }
  g_clear_pointer (&s->ca_file, g_free);
}
