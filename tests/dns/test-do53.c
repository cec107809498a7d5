/* Tests of the do53 upstream plugin (plugins/dns/do53): the real do53.so
 * through the core loader against unbound and dnsmasq on 127.0.0.1
 * (dns-servers.c), driven only through its vtable (dns-plugin-fx.c).
 * Also the configuration group and the system-resolver default, which
 * need no server. Suite 'interop'. */
#include "dns-plugin-fx.h"
#include "dns-servers.h"
#include "shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TYPE_A 1
#define TYPE_TXT 16

typedef struct {
  DnsFx fx;
  DnsServer a, b;
  int silent_fd;
} Fx;

static void
setup (Fx *f, gconstpointer data)
{
  (void) data;
  memset (f, 0, sizeof *f);
  f->silent_fd = -1;
  dns_fx_init (&f->fx);
}

static void
teardown (Fx *f, gconstpointer data)
{
  (void) data;
  dns_fx_clear (&f->fx);
  dns_server_stop (&f->a);
  dns_server_stop (&f->b);
  if (f->silent_fd >= 0)
    close (f->silent_fd);
}

static char *
addr_text (const EmberAddr *a)
{
  char ip[INET_ADDRSTRLEN];
  inet_ntop (AF_INET, a->addr, ip, sizeof ip);
  return g_strdup_printf ("%s:%u", ip, a->port);
}

static void
open_with (Fx *f, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
open_with (Fx *f, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_autoptr (GError) error = NULL;
  dns_fx_open (&f->fx, "do53", text, &error);
  g_assert_no_error (error);
}

static const FxResult *
result (Fx *f, guint i)
{
  return &g_array_index (f->fx.results, FxResult, i);
}

/* The last 4 bytes of an A answer with one record: its address. */
static void
assert_a_answer (const FxResult *r, guint16 id, guint8 last_octet)
{
  g_assert_cmpint (r->error, ==, 0);
  g_assert_cmpuint (r->len, >=, 16);
  g_assert_cmpuint (DNS_ID (r->data), ==, id);
  g_assert_true (DNS_QR (r->data));
  g_assert_cmpuint (DNS_RCODE (r->data), ==, 0);
  g_assert_cmpuint (DNS_ANCOUNT (r->data), ==, 1);
  const guint8 want[4] = { 192, 0, 2, last_octet };
  g_assert_cmpmem (r->data + r->len - 4, 4, want, 4);
}

static void
test_udp_answer (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53") || !dns_server_start_unbound (&f->a, FALSE))
    return;
  EmberAddr up = dns_loopback (f->a.port);
  g_autofree char *up_text = addr_text (&up);
  open_with (f, "[do53]\nupstreams=%s\n", up_text);
  guint8 q[512];
  gsize len = dns_build_query (q, 0x1234, "a.test", TYPE_A);
  dns_fx_send (&f->fx, &up, q, len, EMBER_DNS_VIA_ANY);
  g_assert_cmpuint (dns_fx_collect (&f->fx, 1, 5000), ==, 1);
  const FxResult *r = result (f, 0);
  assert_a_answer (r, 0x1234, 1);
  g_assert_cmpint (r->remote.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (r->remote.port, ==, f->a.port);
  g_assert_cmpuint (r->queue, ==, EMBER_DNS_VIA_ANY);
}

static void
test_truncated_over_tcp (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53") || !dns_server_start_unbound (&f->a, FALSE))
    return;
  EmberAddr up = dns_loopback (f->a.port);
  g_autofree char *up_text = addr_text (&up);
  open_with (f, "[do53]\nupstreams=%s\n", up_text);
  guint8 q[512];
  gsize len = dns_build_query (q, 0x0bad, "big.test", TYPE_TXT);
  /* No EDNS: the UDP answer is cut at 512 bytes with TC set. */
  dns_fx_send (&f->fx, NULL, q, len, EMBER_DNS_VIA_ANY);
  g_assert_cmpuint (dns_fx_collect (&f->fx, 1, 5000), ==, 1);
  const FxResult *r = result (f, 0);
  g_assert_cmpint (r->error, ==, 0);
  g_assert_cmpuint (DNS_ID (r->data), ==, 0x0bad);
  g_assert_false (DNS_TC (r->data));
  g_assert_cmpuint (DNS_ANCOUNT (r->data), ==, 16);
  g_assert_cmpuint (r->len, >, 1600);
  g_assert_cmpuint (r->queue, ==, EMBER_DNS_VIA_TCP);
  g_assert_cmpuint (r->remote.port, ==, f->a.port);
}

static void
test_marked_for_tcp (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53") || !dns_server_start_dnsmasq (&f->a, FALSE))
    return;
  EmberAddr up = dns_loopback (f->a.port);
  g_autofree char *up_text = addr_text (&up);
  open_with (f, "[do53]\nupstreams=%s\n", up_text);
  guint8 q[512];
  /* Several on one connection: pipelined, each answer to its query. */
  for (guint16 id = 1; id <= 5; id++)
    {
      gsize len = dns_build_query (q, id, "a.test", TYPE_A);
      dns_fx_send (&f->fx, &up, q, len, EMBER_DNS_VIA_TCP);
    }
  g_assert_cmpuint (dns_fx_collect (&f->fx, 5, 5000), ==, 5);
  guint seen = 0;
  for (guint i = 0; i < 5; i++)
    {
      const FxResult *r = result (f, i);
      assert_a_answer (r, DNS_ID (r->data), 2);
      g_assert_cmpuint (r->queue, ==, EMBER_DNS_VIA_TCP);
      seen |= 1u << DNS_ID (r->data);
    }
  g_assert_cmpuint (seen, ==, 0x3e);
}

/* An IPv6 upstream, over UDP and over TCP. */
static void
test_ipv6 (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53") || !dns_server_start_dnsmasq (&f->a, TRUE))
    return;
  EmberAddr up = { .family = EMBER_ADDR_IPV6, .port = f->a.port };
  up.addr[15] = 1;
  open_with (f, "[do53]\nupstreams=[::1]:%u\n", f->a.port);
  guint8 q[512];
  gsize len = dns_build_query (q, 61, "a.test", TYPE_A);
  dns_fx_send (&f->fx, &up, q, len, EMBER_DNS_VIA_ANY);
  len = dns_build_query (q, 62, "a.test", TYPE_A);
  dns_fx_send (&f->fx, &up, q, len, EMBER_DNS_VIA_TCP);
  g_assert_cmpuint (dns_fx_collect (&f->fx, 2, 5000), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      const FxResult *r = result (f, i);
      assert_a_answer (r, DNS_ID (r->data), 2);
      g_assert_true (dns_addr_eq (&r->remote, &up));
      g_assert_cmpuint (r->queue, ==, DNS_ID (r->data) == 62 ? EMBER_DNS_VIA_TCP : EMBER_DNS_VIA_ANY);
    }
}

/* Two bursts of as many queries as the plugin has slots, sent back to
 * back (one sendmmsg() round per batch, answers by recvmmsg()): every
 * query gets its own answer once, and the slots the first burst freed
 * carry the second. */
static void
test_bursts_fill_every_slot (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53") || !dns_server_start_unbound (&f->a, FALSE))
    return;
  EmberAddr up = dns_loopback (f->a.port);
  g_autofree char *up_text = addr_text (&up);
  open_with (f, "[do53]\nupstreams=%s\n", up_text);
  for (guint burst = 0; burst < 2; burst++)
    {
      g_autofree guint8 *seen = g_malloc0 (DNS_SLOTS);
      g_array_set_size (f->fx.results, 0);
      for (guint k = 0; k < DNS_SLOTS; k++)
        {
          guint8 q[512];
          gsize len = dns_build_query (q, (guint16) (burst * DNS_SLOTS + k), "a.test", TYPE_A);
          dns_fx_send (&f->fx, &up, q, len, EMBER_DNS_VIA_ANY);
        }
      g_assert_cmpuint (dns_fx_collect (&f->fx, DNS_SLOTS, 20000), ==, DNS_SLOTS);
      for (guint k = 0; k < DNS_SLOTS; k++)
        {
          const FxResult *r = result (f, k);
          guint id = DNS_ID (r->data) - burst * DNS_SLOTS;
          assert_a_answer (r, DNS_ID (r->data), 1);
          g_assert_cmpuint (r->queue, ==, EMBER_DNS_VIA_ANY);
          g_assert_cmpuint (id, <, DNS_SLOTS);
          g_assert_cmpuint (seen[id]++, ==, 0);
        }
    }
}

/* Seed 004: equal ids in flight to two servers; each answer comes back
 * with the upstream that sent it. */
static void
test_equal_ids_two_upstreams (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53") || !dns_server_start_unbound (&f->a, FALSE)
      || !dns_server_start_dnsmasq (&f->b, FALSE))
    return;
  EmberAddr ua = dns_loopback (f->a.port), ub = dns_loopback (f->b.port);
  g_autofree char *ta = addr_text (&ua);
  g_autofree char *tb = addr_text (&ub);
  open_with (f, "[do53]\nupstreams=%s;%s\n", ta, tb);
  guint8 q[512];
  gsize len = dns_build_query (q, 7, "a.test", TYPE_A);
  dns_fx_send (&f->fx, &ua, q, len, EMBER_DNS_VIA_ANY);
  dns_fx_send (&f->fx, &ub, q, len, EMBER_DNS_VIA_ANY);
  g_assert_cmpuint (dns_fx_collect (&f->fx, 2, 5000), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      const FxResult *r = result (f, i);
      gboolean from_unbound = r->remote.port == f->a.port;
      g_assert_true (from_unbound || r->remote.port == f->b.port);
      assert_a_answer (r, 7, from_unbound ? 1 : 2);
    }
  g_assert_cmpuint (result (f, 0)->remote.port, !=, result (f, 1)->remote.port);

  /* The same id again, once the first is answered, is fine. */
  dns_fx_send (&f->fx, &ua, q, len, EMBER_DNS_VIA_ANY);
  g_assert_cmpuint (dns_fx_collect (&f->fx, 3, 5000), ==, 3);
  assert_a_answer (result (f, 2), 7, 1);
}

static void
test_unreachable (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53") || !dns_server_start_unbound (&f->a, FALSE))
    return;
  EmberAddr dead = dns_loopback (dns_free_port ()), up = dns_loopback (f->a.port);
  g_autofree char *td = addr_text (&dead);
  g_autofree char *tu = addr_text (&up);
  open_with (f, "[do53]\nupstreams=%s;%s\ntimeout=3000\n", td, tu);
  guint8 q[512];
  gsize len = dns_build_query (q, 0x4444, "a.test", TYPE_A);
  dns_fx_send (&f->fx, &dead, q, len, EMBER_DNS_VIA_ANY);
  g_assert_cmpuint (dns_fx_collect (&f->fx, 1, 5000), ==, 1);
  const FxResult *r = result (f, 0);
  /* ICMP port unreachable: at once, not after the timeout. */
  g_assert_cmpint (r->error, ==, ECONNREFUSED);
  g_assert_cmpmem (r->data, (int) r->len, q, (int) len);
  g_assert_true (dns_addr_eq (&r->remote, &dead));

  /* Over TCP the same: refused. */
  dns_fx_send (&f->fx, &dead, q, len, EMBER_DNS_VIA_TCP);
  g_assert_cmpuint (dns_fx_collect (&f->fx, 2, 5000), ==, 2);
  g_assert_cmpint (result (f, 1)->error, ==, ECONNREFUSED);

  /* The backend goes on; with no upstream named it now avoids the dead
   * one. */
  dns_fx_send (&f->fx, NULL, q, len, EMBER_DNS_VIA_ANY);
  g_assert_cmpuint (dns_fx_collect (&f->fx, 3, 5000), ==, 3);
  assert_a_answer (result (f, 2), 0x4444, 1);
  g_assert_true (dns_addr_eq (&result (f, 2)->remote, &up));
}

/* An upstream that never answers: every query comes back ETIMEDOUT, and
 * while all slots are taken poll_send_ready() holds the sender back and
 * wakes it when a slot frees. */
/* A UDP socket that never answers, held by the fixture. */
static EmberAddr
silent_upstream (Fx *f)
{
  f->silent_fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t sl = sizeof sin;
  g_assert_cmpint (bind (f->silent_fd, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  g_assert_cmpint (getsockname (f->silent_fd, (struct sockaddr *) &sin, &sl), ==, 0);
  return dns_loopback (ntohs (sin.sin_port));
}

/* Seed 004: an id already in flight to an upstream is refused at send(),
 * not matched to the wrong asker later; the backend goes on. */
static void
test_duplicate_id (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53"))
    return;
  EmberAddr up = silent_upstream (f);
  g_autofree char *tu = addr_text (&up);
  open_with (f, "[do53]\nupstreams=%s\ntimeout=60000\n", tu);
  guint8 q[512];
  gsize len = dns_build_query (q, 7, "a.test", TYPE_A);
  dns_fx_send (&f->fx, &up, q, len, EMBER_DNS_VIA_ANY);
  EmberPacket p = { .data = q, .capacity = len, .len = len, .remote = up };
  g_autoptr (GError) error = NULL;
  g_assert_false (f->fx.plugin->io.send (f->fx.be, &p, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "query id 7 is already in flight"));
  len = dns_build_query (q, 8, "a.test", TYPE_A);
  dns_fx_send (&f->fx, &up, q, len, EMBER_DNS_VIA_ANY);
  /* Too short or too long: refused with an error, not queued. */
  g_clear_error (&error);
  p.len = 5;
  g_assert_false (f->fx.plugin->io.send (f->fx.be, &p, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
}

static void
test_silent_backpressure (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53"))
    return;
  EmberAddr up = silent_upstream (f);
  g_autofree char *tu = addr_text (&up);
  open_with (f, "[do53]\nupstreams=%s\ntimeout=300\n", tu);
  guint8 q[512];
  for (guint i = 0; i < EMBER_DNS_INFLIGHT_MIN; i++)
    {
      gsize len = dns_build_query (q, (guint16) i, "a.test", TYPE_A);
      dns_fx_send (&f->fx, &up, q, len, EMBER_DNS_VIA_ANY);
    }
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (f->fx.plugin->io.poll_send_ready (f->fx.be, &f->fx.sw.base, &error), ==,
                   EMBER_POLL_PENDING);
  g_assert_cmpuint (dns_fx_collect (&f->fx, EMBER_DNS_INFLIGHT_MIN, 5000), ==,
                    EMBER_DNS_INFLIGHT_MIN);
  guint seen[EMBER_DNS_INFLIGHT_MIN] = { 0 };
  for (guint i = 0; i < EMBER_DNS_INFLIGHT_MIN; i++)
    {
      const FxResult *r = result (f, i);
      g_assert_cmpint (r->error, ==, ETIMEDOUT);
      seen[DNS_ID (r->data)]++;
    }
  for (guint i = 0; i < EMBER_DNS_INFLIGHT_MIN; i++)
    g_assert_cmpuint (seen[i], ==, 1);
  g_assert_true (dns_fx_wait (&f->fx.sw, 1000));
  g_assert_cmpint (f->fx.plugin->io.poll_send_ready (f->fx.be, &f->fx.sw.base, &error), ==,
                   EMBER_POLL_READY);
}

/* ---- Configuration --------------------------------------------------------------- */

static void
assert_config_error (DnsFx *fx, const char *text, const char *needle)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (kf, text, (gsize) -1, G_KEY_FILE_NONE, NULL));
  g_autoptr (GError) error = NULL;
  g_assert_false (fx->plugin->io.validate_config (kf, "do53", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  if (strstr (error->message, needle) == NULL)
    g_error ("\"%s\" lacks \"%s\"", error->message, needle);
  g_clear_error (&error);
  g_assert_null (dns_fx_open (fx, "do53", text, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
}

static void
test_config (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53"))
    return;
  assert_config_error (&f->fx, "[do53]\nupstreams=192.0.2.300\n", "[do53] upstreams:");
  assert_config_error (&f->fx, "[do53]\nupstreams=192.0.2.1:0\n", "[do53] upstreams:");
  assert_config_error (&f->fx, "[do53]\nupstreams=192.0.2.1#dns.example\n", "only used with TLS");
  assert_config_error (&f->fx, "[do53]\nupstreams=192.0.2.1;192.0.2.1:53\n", "listed twice");
  assert_config_error (&f->fx, "[do53]\nupstreams=\n", "empty");
  assert_config_error (&f->fx, "[do53]\nca-file=/x\n", "[do53] ca-file: unknown key");
  assert_config_error (&f->fx, "[do53]\nupstreams=192.0.2.1\ntimeout=5\n", "[do53] timeout:");
  assert_config_error (&f->fx, "[do53]\nresolv-conf=/nonexistent/resolv.conf\n",
                       "names no nameserver");

  g_autoptr (GKeyFile) kf = g_key_file_new ();
  const char *good = "[do53]\nupstreams=192.0.2.1;[2001:db8::1]:5353;198.51.100.7:53\ntimeout=900\n";
  g_assert_true (g_key_file_load_from_data (kf, good, (gsize) -1, G_KEY_FILE_NONE, NULL));
  g_autoptr (GError) error = NULL;
  g_assert_true (f->fx.plugin->io.validate_config (kf, "do53", &error));
  g_assert_no_error (error);
}

/* Without `upstreams` the system's resolvers are the upstreams, and the
 * core learns them through EmberDnsControl (one stub sentinel each). */
static void
test_default_upstreams (Fx *f, gconstpointer data)
{
  (void) data;
  if (!dns_fx_load (&f->fx, "do53"))
    return;
  g_assert_nonnull (f->fx.plugin->io.get_control);
  g_assert_null (f->fx.plugin->io.get_control ("ember-relay-control-1"));
  const EmberDnsControl *control = f->fx.plugin->io.get_control (EMBER_DNS_CONTROL_NAME);
  g_assert_nonnull (control);
  g_assert_cmpuint (control->size, >=, sizeof *control);

  g_autofree char *dir = dns_servers_make_dir ();
  g_autofree char *path = g_build_filename (dir, "resolv.conf", NULL);
  g_assert_true (g_file_set_contents (path, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n", -1,
                                      NULL));
  open_with (f, "[do53]\nresolv-conf=%s\n", path);
  EmberAddr out[4];
  g_assert_cmpuint (control->get_upstreams (f->fx.be, out, G_N_ELEMENTS (out)), ==, 2);
  const guint8 v4[4] = { 192, 0, 2, 53 };
  g_assert_cmpint (out[0].family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpmem (out[0].addr, 4, v4, 4);
  g_assert_cmpuint (out[0].port, ==, 53);
  g_assert_cmpint (out[1].family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpuint (out[1].port, ==, 53);
  /* Only as many as asked for; the count is the whole list. */
  g_assert_cmpuint (control->get_upstreams (f->fx.be, out, 1), ==, 2);
  dns_servers_remove_dir (dir);
}

static void
test_upstream_syntax (void)
{
  DnsUpstream u;
  g_autoptr (GError) error = NULL;
  g_assert_true (dns_upstream_parse ("192.0.2.1", 853, TRUE, &u, &error));
  g_assert_cmpuint (u.addr.port, ==, 853);
  g_assert_null (u.name);
  g_assert_true (dns_upstream_parse ("2001:db8::1#Dns.Example", 853, TRUE, &u, &error));
  g_assert_cmpint (u.addr.family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpuint (u.addr.port, ==, 853);
  g_assert_cmpstr (u.name, ==, "dns.example");
  g_free (u.name);
  g_assert_true (dns_upstream_parse ("[2001:db8::1]:8853#dns.example", 853, TRUE, &u, &error));
  g_assert_cmpuint (u.addr.port, ==, 8853);
  g_free (u.name);
  g_assert_false (dns_upstream_parse ("192.0.2.1#bad_name", 853, TRUE, &u, &error));
  g_clear_error (&error);
  g_assert_false (dns_upstream_parse ("dns.example", 853, TRUE, &u, &error));
  g_clear_error (&error);
}

static void
test_system_resolvers (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("ember-dnsup-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *etc = g_build_filename (dir, "resolv.conf", NULL);
  g_autofree char *run = g_build_filename (dir, "resolved.conf", NULL);

  EmberAddr out[DNS_MAX_UPSTREAMS];
  g_assert_true (g_file_set_contents (etc,
                                      "# comment\nsearch example\nnameserver 192.0.2.1\n"
                                      "  nameserver\t2001:db8::53 \nnameserver bogus\n"
                                      "nameserver 192.0.2.1\noptions edns0\n", -1, NULL));
  guint n = dns_system_resolvers (etc, run, 53, out, DNS_MAX_UPSTREAMS);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpint (out[0].family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpint (out[1].family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpuint (out[1].port, ==, 53);

  /* resolved's stub alone: its own upstreams instead. */
  g_assert_true (g_file_set_contents (etc, "nameserver 127.0.0.53\noptions edns0 trust-ad\n", -1,
                                      NULL));
  g_assert_true (g_file_set_contents (run, "nameserver 198.51.100.1\nnameserver 198.51.100.2\n", -1,
                                      NULL));
  n = dns_system_resolvers (etc, run, 853, out, DNS_MAX_UPSTREAMS);
  g_assert_cmpuint (n, ==, 2);
  const guint8 want[4] = { 198, 51, 100, 1 };
  g_assert_cmpmem (out[0].addr, 4, want, 4);
  g_assert_cmpuint (out[0].port, ==, 853);

  unlink (etc);
  unlink (run);
  g_assert_cmpint (rmdir (dir), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  dns_servers_install_cleanup ();
  g_test_add ("/dns/do53/unbound/answers-over-udp", Fx, NULL, setup, test_udp_answer, teardown);
  g_test_add ("/dns/do53/unbound/truncated-answer-is-retried-over-tcp", Fx, NULL, setup,
              test_truncated_over_tcp, teardown);
  g_test_add ("/dns/do53/dnsmasq/queries-marked-for-tcp-share-one-connection", Fx, NULL, setup,
              test_marked_for_tcp, teardown);
  g_test_add ("/dns/do53/dnsmasq/ipv6-upstream-over-udp-and-tcp", Fx, NULL, setup, test_ipv6,
              teardown);
  g_test_add ("/dns/do53/unbound/bursts-of-every-slot-each-answered-once", Fx, NULL, setup,
              test_bursts_fill_every_slot, teardown);
  g_test_add ("/dns/do53/equal-ids-to-two-upstreams-each-answered-by-its-own", Fx, NULL, setup,
              test_equal_ids_two_upstreams, teardown);
  g_test_add ("/dns/do53/unreachable-upstream-fails-the-query-at-once", Fx, NULL, setup,
              test_unreachable, teardown);
  g_test_add ("/dns/do53/an-id-in-flight-to-the-upstream-is-refused", Fx, NULL, setup,
              test_duplicate_id, teardown);
  g_test_add ("/dns/do53/silent-upstream-times-out-with-backpressure", Fx, NULL, setup,
              test_silent_backpressure, teardown);
  g_test_add ("/dns/do53/config/bad-values-name-the-key", Fx, NULL, setup, test_config, teardown);
  g_test_add ("/dns/do53/system-resolvers-are-the-default-upstreams", Fx, NULL, setup,
              test_default_upstreams, teardown);
  g_test_add_func ("/dns/upstream/syntax", test_upstream_syntax);
  g_test_add_func ("/dns/upstream/system-resolvers-from-resolv-conf", test_system_resolvers);
  return g_test_run ();
}
