/* Tests of the dot and doh upstream plugins (plugins/dns/dot, doh): the
 * real .so files through the core loader against unbound serving DNS
 * over TLS and DNS over HTTPS (HTTP/2 only) on 127.0.0.1 with a
 * certificate for dns.ember.test and 127.0.0.1 made here by certtool
 * (dns-servers.c). Connection reuse, HTTP/2 multiplexing and the idle
 * close are read off the kernel's TCP table. Suite 'interop'. */
#include "dns-plugin-fx.h"
#include "dns-servers.h"

#include <errno.h>
#include <string.h>

#define TYPE_A 1

typedef struct {
  DnsFx fx;
  DnsServer srv;
} Fx;

static void
setup (Fx *f, gconstpointer data)
{
  (void) data;
  memset (f, 0, sizeof *f);
  dns_fx_init (&f->fx);
}

static void
teardown (Fx *f, gconstpointer data)
{
  (void) data;
  dns_fx_clear (&f->fx);
  dns_server_stop (&f->srv);
}

/* Loads `plugin` and starts unbound with TLS; FALSE when skipped. */
static gboolean
start (Fx *f, const char *plugin)
{
  return dns_fx_load (&f->fx, plugin) && dns_server_start_unbound (&f->srv, TRUE);
}

static void
open_with (Fx *f, const char *plugin, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static void
open_with (Fx *f, const char *plugin, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *body = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autofree char *text = g_strdup_printf ("[%s]\n%s", plugin, body);
  g_autoptr (GError) error = NULL;
  dns_fx_open (&f->fx, plugin, text, &error);
  g_assert_no_error (error);
}

static const FxResult *
result (Fx *f, guint i)
{
  return &g_array_index (f->fx.results, FxResult, i);
}

static void
assert_a_answer (const FxResult *r, guint16 id)
{
  g_assert_cmpint (r->error, ==, 0);
  g_assert_cmpuint (r->len, >=, 16);
  g_assert_cmpuint (DNS_ID (r->data), ==, id);
  g_assert_true (DNS_QR (r->data));
  g_assert_cmpuint (DNS_RCODE (r->data), ==, 0);
  g_assert_cmpuint (DNS_ANCOUNT (r->data), ==, 1);
  const guint8 want[4] = { 192, 0, 2, 1 };
  g_assert_cmpmem (r->data + r->len - 4, 4, want, 4);
}

/* Socket inodes this process holds, from /proc/self/fd. */
static GHashTable *
own_socket_inodes (void)
{
  GHashTable *inodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  g_assert_nonnull (dir);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
      g_autofree char *target = g_file_read_link (path, NULL);
      if (target != NULL && g_str_has_prefix (target, "socket:[") && g_str_has_suffix (target, "]"))
        g_hash_table_add (inodes, g_strndup (target + 8, strlen (target) - 9));
    }
  return inodes;
}

/* Established IPv4 TCP connections to 127.0.0.1:port whose client end
 * this process holds (the plugin's). Other tests on the machine run
 * servers of their own, and unbound binds with SO_REUSEPORT, so a
 * connection of another process to the same port number must not
 * count. */
static guint
connections_to (guint16 port)
{
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents ("/proc/net/tcp", &text, NULL, NULL));
  g_autoptr (GHashTable) own = own_socket_inodes ();
  g_autofree char *want = g_strdup_printf ("0100007F:%04X", port);
  guint n = 0;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 1; lines[i] != NULL; i++)
    {
      /* sl local remote st queues timer retrnsmt uid timeout inode */
      g_auto (GStrv) w = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
      guint k = 0;
      const char *cols[10] = { NULL };
      for (guint j = 0; w[j] != NULL && k < G_N_ELEMENTS (cols); j++)
        if (w[j][0] != '\0')
          cols[k++] = w[j];
      if (k == G_N_ELEMENTS (cols) && g_str_equal (cols[2], want) && g_str_equal (cols[3], "01")
          && g_hash_table_contains (own, cols[9]))
        n++;
    }
  return n;
}

/* Waits (bounded) until connections_to(port) == want. */
static void
await_connections (guint16 port, guint want)
{
  gint64 end = g_get_monotonic_time () + 15 * G_TIME_SPAN_SECOND;
  while (connections_to (port) != want)
    {
      if (g_get_monotonic_time () > end)
        g_error ("%u connections to port %u, expected %u", connections_to (port), port, want);
      g_usleep (20 * 1000);
    }
}

static void
query (Fx *f, guint16 id, guint n_expected)
{
  guint8 q[512];
  gsize len = dns_build_query (q, id, "a.test", TYPE_A);
  dns_fx_send (&f->fx, NULL, q, len, EMBER_DNS_VIA_ANY);
  g_assert_cmpuint (dns_fx_collect (&f->fx, n_expected, 10000), ==, n_expected);
}

/* ---- dot ------------------------------------------------------------------- */

static void
test_dot_reuse (Fx *f, gconstpointer data)
{
  (void) data;
  if (!start (f, "dot"))
    return;
  open_with (f, "dot", "upstreams=127.0.0.1:%u#" DNS_SERVER_NAME "\nca-file=%s\nidle-timeout=3000\n",
             f->srv.tls_port, f->srv.ca_file);
  for (guint16 i = 0; i < 5; i++)
    {
      query (f, (guint16) (100 + i), i + 1u);
      assert_a_answer (result (f, i), (guint16) (100 + i));
      g_assert_cmpuint (result (f, i)->remote.port, ==, f->srv.tls_port);
      /* Each query on the one connection made for the first. */
      g_assert_cmpuint (connections_to (f->srv.tls_port), ==, 1);
    }
  /* Pipelined: several in flight at once on it. */
  guint8 q[512];
  for (guint16 id = 200; id < 210; id++)
    {
      gsize len = dns_build_query (q, id, "a.test", TYPE_A);
      dns_fx_send (&f->fx, NULL, q, len, EMBER_DNS_VIA_ANY);
    }
  g_assert_cmpuint (dns_fx_collect (&f->fx, 15, 10000), ==, 15);
  for (guint i = 5; i < 15; i++)
    assert_a_answer (result (f, i), DNS_ID (result (f, i)->data));
  g_assert_cmpuint (connections_to (f->srv.tls_port), ==, 1);
  /* Idle: closed by the plugin after idle-timeout (3 s: long enough that
   * a loaded machine does not close it between the queries above),
   * reopened on demand. */
  await_connections (f->srv.tls_port, 0);
  query (f, 300, 16);
  assert_a_answer (result (f, 15), 300);
}

static void
test_dot_address_identity (Fx *f, gconstpointer data)
{
  (void) data;
  if (!start (f, "dot"))
    return;
  /* No name: the certificate must carry the address (it does). */
  open_with (f, "dot", "upstreams=127.0.0.1:%u\nca-file=%s\n", f->srv.tls_port, f->srv.ca_file);
  query (f, 7, 1);
  assert_a_answer (result (f, 0), 7);
}

static void
assert_refused (Fx *f, guint16 id)
{
  query (f, id, 1);
  const FxResult *r = result (f, 0);
  g_assert_cmpint (r->error, ==, EPROTO);
  g_assert_cmpuint (DNS_ID (r->data), ==, id);
  g_assert_false (DNS_QR (r->data));  /* the query itself came back */
}

static void
test_dot_wrong_name (Fx *f, gconstpointer data)
{
  (void) data;
  if (!start (f, "dot"))
    return;
  open_with (f, "dot", "upstreams=127.0.0.1:%u#wrong.ember.test\nca-file=%s\n", f->srv.tls_port,
             f->srv.ca_file);
  assert_refused (f, 8);
}

static void
test_dot_unknown_ca (Fx *f, gconstpointer data)
{
  (void) data;
  if (!start (f, "dot"))
    return;
  /* The system's trust store does not know the test CA. */
  open_with (f, "dot", "upstreams=127.0.0.1:%u#" DNS_SERVER_NAME "\n", f->srv.tls_port);
  assert_refused (f, 9);
}

static void
test_tls_config (Fx *f, gconstpointer data)
{
  const char *plugin = data;
  if (!dns_fx_load (&f->fx, plugin))
    return;
  g_autofree char *missing = g_strdup_printf ("[%s]\nupstreams=192.0.2.1\nca-file=/nonexistent/ca.pem\n",
                                              plugin);
  g_autoptr (GError) error = NULL;
  g_assert_null (dns_fx_open (&f->fx, plugin, missing, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_autofree char *prefix = g_strdup_printf ("[%s] ca-file:", plugin);
  g_assert_true (g_str_has_prefix (error->message, prefix));
  g_clear_error (&error);
  g_autofree char *name = g_strdup_printf ("[%s]\nupstreams=192.0.2.1#-bad-\n", plugin);
  g_assert_null (dns_fx_open (&f->fx, plugin, name, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "is not a host name"));
  g_clear_error (&error);
  g_autofree char *path = g_strdup_printf ("[%s]\nupstreams=192.0.2.1\npath=dns-query\n", plugin);
  g_assert_null (dns_fx_open (&f->fx, plugin, path, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  /* dot has no `path`; doh needs it absolute. */
  g_assert_nonnull (strstr (error->message, g_str_equal (plugin, "dot") ? "unknown key"
                                                                        : "absolute URI path"));
}

/* ---- doh ------------------------------------------------------------------- */

static void
test_doh_multiplexed (Fx *f, gconstpointer data)
{
  (void) data;
  if (!start (f, "doh"))
    return;
  open_with (f, "doh", "upstreams=127.0.0.1:%u#" DNS_SERVER_NAME "\nca-file=%s\n",
             f->srv.https_port, f->srv.ca_file);
  query (f, 0xbeef, 1);
  /* Sent with id 0 (RFC 8484 §4.1), answered with the query's own. */
  assert_a_answer (result (f, 0), 0xbeef);
  g_assert_cmpuint (result (f, 0)->remote.port, ==, f->srv.https_port);
  /* unbound speaks DoH over HTTP/2 only: twenty at once are streams of
   * the connection(s) already open (libsoup keeps up to two per host). */
  guint8 q[512];
  for (guint16 id = 1; id <= 20; id++)
    {
      gsize len = dns_build_query (q, id, "a.test", TYPE_A);
      dns_fx_send (&f->fx, NULL, q, len, EMBER_DNS_VIA_ANY);
    }
  g_assert_cmpuint (dns_fx_collect (&f->fx, 21, 10000), ==, 21);
  guint32 seen = 0;
  for (guint i = 1; i < 21; i++)
    {
      assert_a_answer (result (f, i), DNS_ID (result (f, i)->data));
      seen |= 1u << DNS_ID (result (f, i)->data);
    }
  g_assert_cmpuint (seen, ==, 0x1ffffe);
  g_assert_cmpuint (connections_to (f->srv.https_port), >=, 1);
  g_assert_cmpuint (connections_to (f->srv.https_port), <=, 2);
}

static void
test_doh_wrong_name (Fx *f, gconstpointer data)
{
  (void) data;
  if (!start (f, "doh"))
    return;
  open_with (f, "doh", "upstreams=127.0.0.1:%u#wrong.ember.test\nca-file=%s\n",
             f->srv.https_port, f->srv.ca_file);
  assert_refused (f, 10);
}

static void
test_doh_bad_path (Fx *f, gconstpointer data)
{
  (void) data;
  if (!start (f, "doh"))
    return;
  open_with (f, "doh", "upstreams=127.0.0.1:%u#" DNS_SERVER_NAME "\nca-file=%s\npath=/nothing-here\n",
             f->srv.https_port, f->srv.ca_file);
  assert_refused (f, 11);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  dns_servers_install_cleanup ();
  g_test_add ("/dns/dot/unbound/one-connection-reused-pipelined-and-closed-when-idle", Fx, NULL,
              setup, test_dot_reuse, teardown);
  g_test_add ("/dns/dot/unbound/address-checked-without-a-name", Fx, NULL, setup,
              test_dot_address_identity, teardown);
  g_test_add ("/dns/dot/unbound/wrong-server-name-is-refused", Fx, NULL, setup,
              test_dot_wrong_name, teardown);
  g_test_add ("/dns/dot/unbound/unknown-ca-is-refused", Fx, NULL, setup, test_dot_unknown_ca,
              teardown);
  g_test_add ("/dns/dot/config/bad-values-name-the-key", Fx, "dot", setup, test_tls_config,
              teardown);
  g_test_add ("/dns/doh/unbound/http2-streams-share-the-open-connections", Fx, NULL, setup,
              test_doh_multiplexed, teardown);
  g_test_add ("/dns/doh/unbound/wrong-server-name-is-refused", Fx, NULL, setup,
              test_doh_wrong_name, teardown);
  g_test_add ("/dns/doh/unbound/http-error-fails-the-query", Fx, NULL, setup, test_doh_bad_path,
              teardown);
  g_test_add ("/dns/doh/config/bad-values-name-the-key", Fx, "doh", setup, test_tls_config,
              teardown);
  return g_test_run ();
}
