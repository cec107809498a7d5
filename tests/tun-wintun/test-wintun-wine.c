/* The Windows tests of tun-wintun, run under Wine by
 * scripts/build-windows.sh: tun-wintun.dll loaded through Ember's loader
 * (with its ABI checks) and opened against the stand-in wintun.dll and
 * IP Helper DLL (standin.h), then driven through the plugin vtable as the
 * core drives it. Paths come from the environment the meson test sets. */
#include <windows.h>

#include <string.h>

#include "config.h"
#include "loader.h"
#include "standin.h"
#include "test-util.h"

#define MTU 1280

static struct {
  char *plugin_path;
  char *standin_path;
  EmberPlugin *plugin;
  StandinInjectFunc inject;
  StandinTakeSentFunc take_sent;
  StandinCountFunc sent_waiting;
  StandinCountFunc overflows;
  StandinSetFunc force_full;
  StandinVoidFunc end_adapter;
  StandinStringFunc history;
  StandinStringFunc net_calls;
  StandinStringFunc net_state;
  StandinVoidFunc net_reset;
} env;

/* A Windows path from the environment, with backslashes. */
static char *
env_path (const char *name)
{
  const char *v = g_getenv (name);
  if (v == NULL || *v == '\0')
    g_error ("%s is not set: run this test through meson test (scripts/build-windows.sh)", name);
  char *p = g_strdup (v);
  g_strdelimit (p, "/", '\\');
  return p;
}

static HMODULE
load_standin (const char *path)
{
  g_autofree gunichar2 *w = g_utf8_to_utf16 (path, -1, NULL, NULL, NULL);
  HMODULE m = LoadLibraryW ((LPCWSTR) w);
  if (m == NULL)
    g_error ("%s: cannot load (error %lu)", path, GetLastError ());
  return m;
}

#define LOOKUP(module, var, name)                                                     \
  G_STMT_START                                                                        \
  {                                                                                   \
    FARPROC p_ = GetProcAddress (module, name);                                      \
    if (p_ == NULL)                                                                   \
      g_error ("stand-in has no %s", name);                                           \
    memcpy (&env.var, &p_, sizeof p_);                                                \
  }                                                                                   \
  G_STMT_END

static EmberBackend *
open_backend (const char *extra, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *dll = g_strescape (env.standin_path, NULL);
  g_autofree char *text = g_strdup_printf ("[tun-wintun]\nname=Ember Test\ndll=%s\n%s\n", dll,
                                           extra != NULL ? extra : "");
  g_assert_true (g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, NULL));
  EmberBackendArgs args = { .config = kf, .group = "tun-wintun", .log_domain = "ember-tun" };
  return env.plugin->io.open (&args, error);
}

static void
close_backend (EmberBackend *be)
{
  env.plugin->io.close (be);
  env.net_reset ();
}

/* ---- Loader -------------------------------------------------------------- */

static void
test_loader_checks_the_abi (void)
{
  g_assert_cmpstr (env.plugin->name, ==, "tun-wintun");
  g_assert_cmpint (env.plugin->kind, ==, EMBER_PLUGIN_KIND_TUN);
  g_assert_cmpuint (env.plugin->abi_major, ==, EMBER_PLUGIN_ABI_MAJOR);
  g_assert_cmpuint (env.plugin->abi_minor, <=, EMBER_PLUGIN_ABI_MINOR);
  g_assert_nonnull (env.plugin->io.validate_config);
  g_assert_nonnull (env.plugin->io.add_route);
  g_assert_nonnull (env.plugin->io.remove_route);

  /* Another major is refused, naming the file and both versions. */
  g_autoptr (GError) error = NULL;
  g_autofree char *major2 = env_path ("EMBER_TESTPLUG_MAJOR2");
  g_assert_null (ember_plugin_load (major2, EMBER_PLUGIN_DIR_ENV, &error));
  g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_ABI);
  g_assert_nonnull (strstr (error->message, "testplug-major2.dll"));
  g_assert_nonnull (strstr (error->message, "ABI 2.0"));
  g_clear_error (&error);

  /* A PE image that is not a DLL (this program) is not a plugin. */
  wchar_t self[MAX_PATH];
  DWORD n = GetModuleFileNameW (NULL, self, MAX_PATH);
  g_autofree char *exe = g_utf16_to_utf8 ((const gunichar2 *) self, n, NULL, NULL, NULL);
  g_assert_null (ember_plugin_load (exe, EMBER_PLUGIN_DIR_ENV, &error));
  g_assert_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_NOT_SHARED_OBJECT);
  g_assert_nonnull (strstr (error->message, "not a DLL"));
  g_clear_error (&error);

  /* A scan of the plugin's folder finds it by name, as emberd would. */
  g_autoptr (EmberRegistry) reg = ember_registry_new ();
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  EmberPluginDir *d = g_new0 (EmberPluginDir, 1);
  d->path = g_path_get_dirname (env.plugin_path);
  d->origin = EMBER_PLUGIN_DIR_ENV;
  g_ptr_array_add (dirs, d);
  ember_registry_scan (reg, dirs);
  EmberPlugin *found = ember_registry_lookup (reg, "tun", "tun-wintun", EMBER_PLUGIN_KIND_TUN,
                                              &error);
  g_assert_no_error (error);
  g_assert_nonnull (found);
  g_free (d->path);
}

/* ---- Open ---------------------------------------------------------------- */

static void
test_open_names_a_missing_wintun_dll (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (
    kf, "[tun-wintun]\ndll=Z:\\\\nowhere\\\\wintun.dll\n", -1, G_KEY_FILE_NONE, NULL));
  EmberBackendArgs args = { .config = kf, .group = "tun-wintun", .log_domain = "ember-tun" };
  g_autoptr (GError) error = NULL;
  g_assert_null (env.plugin->io.open (&args, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "Z:\\nowhere\\wintun.dll"));
  g_assert_nonnull (strstr (error->message, "no such file"));
}

static void
test_open_validates_the_group_like_tun_linux (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (g_key_file_load_from_data (kf, "[tun-wintun]\nring-size=1000000\n", -1,
                                            G_KEY_FILE_NONE, NULL));
  g_assert_false (env.plugin->io.validate_config (kf, "tun-wintun", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "[tun-wintun] ring-size"));
  g_clear_error (&error);
  /* open() refuses the same before touching Wintun. */
  g_assert_null (open_backend ("offload=true", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "[tun-wintun] offload: unknown key"));
  g_autofree char *history = env.history ();
  g_assert_cmpstr (history, ==, "");
}

static void
test_open_sets_mtu_addresses_and_routes (void)
{
  g_autoptr (GError) error = NULL;
  EmberBackend *be = open_backend ("mtu=1400\nring-size=0x20000\n"
                                   "guid=7b2a1c3d-0e4f-5a6b-8c7d-0123456789ab\n"
                                   "address=100.64.0.2/32;fd00:2021:1111::2/128\n"
                                   "route=10.0.0.0/8;fd00::/8",
                                   &error);
  g_assert_no_error (error);
  g_assert_nonnull (be);

  g_autofree char *history = env.history ();
  g_assert_cmpstr (history, ==,
                   "created Ember Test/Ember {7B2A1C3D-0E4F-5A6B-8C7D-0123456789AB}\n"
                   "session 131072\n");
  /* Everything on the adapter's LUID; the link-local address Windows
   * made, the route it derived and the other interface's rows stay. */
  g_autofree char *calls = env.net_calls ();
  g_assert_cmpstr (calls, ==,
                   "SetIpInterfaceEntry IPv4 1400\n"
                   "SetIpInterfaceEntry IPv6 1400\n"
                   "GetUnicastIpAddressTable\n"
                   "CreateUnicastIpAddressEntry 100.64.0.2/32\n"
                   "CreateUnicastIpAddressEntry fd00:2021:1111::2/128\n"
                   "GetIpForwardTable2\n"
                   "CreateIpForwardEntry2 10.0.0.0/8\n"
                   "CreateIpForwardEntry2 fd00::/8");
  g_autofree char *state = env.net_state ();
  g_assert_cmpstr (state, ==,
                   "address 100.64.0.2/32\n"
                   "address fd00:2021:1111::2/128\n"
                   "address fe80::5efe:1234/64\n"
                   "route 10.0.0.0/8\n"
                   "route fd00::/8\n"
                   "mtu 1400/1400");

  /* Routes at run time; each twice, which changes nothing the second time. */
  for (guint i = 0; i < 2; i++)
    {
      g_assert_true (env.plugin->io.add_route (be, "192.168.50.0/24", &error));
      g_assert_true (env.plugin->io.remove_route (be, "10.0.0.0/8", &error));
      g_assert_no_error (error);
    }
  g_assert_false (env.plugin->io.add_route (be, "192.168.50.1/24", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_clear_pointer (&state, g_free);
  state = env.net_state ();
  g_assert_nonnull (strstr (state, "route 192.168.50.0/24\nroute fd00::/8\n"));
  g_assert_null (strstr (state, "route 10.0.0.0/8"));
  g_clear_pointer (&calls, g_free);
  calls = env.net_calls ();
  g_assert_null (strstr (calls, "LUID"));
  g_assert_null (strstr (calls, "on-link"));

  close_backend (be);
  g_clear_pointer (&history, g_free);
  history = env.history ();
  g_assert_cmpstr (history, ==, "session ended\nclosed\n");
}

typedef struct _Fixture Fixture;
static guint receive_all (Fixture *f, guint first, guint total);
static guint send_all (Fixture *f, guint first, guint n);
static void read_back (guint first, guint n);

static void
test_open_failure_cleans_up_and_spares_the_open_adapter (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  guint8 pkt[1500];

  /* The stand-in has room for one adapter: a second open fails in
   * WintunCreateAdapter, names it and the error, and unwinds. */
  g_assert_null (open_backend ("name=Second", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "WintunCreateAdapter \"Second\""));
  g_assert_nonnull (strstr (error->message, "(error 183)"));
  g_autofree char *history = env.history ();
  g_assert_cmpstr (history, ==, "");

  /* The first one never noticed. */
  g_assert_true (env.inject (pkt, (unsigned long) make_packet (0, pkt, packet_len (0))));
  receive_all (f, 0, 1);
  send_all (f, 0, 1);
  read_back (0, 1);
}

/* ---- Packets ------------------------------------------------------------- */

struct _Fixture {
  EmberBackend *be;
  TestWaker rx;
  TestWaker tx;
  guint8 *mem;
  EmberPacket batch[EMBER_BATCH_MAX];
};

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr (GError) error = NULL;
  test_waker_init (&f->rx);
  test_waker_init (&f->tx);
  f->be = open_backend (NULL, &error);
  g_assert_no_error (error);
  /* Without guid=, the GUID comes from the name: the same every time, so
   * Windows keeps one network profile for the adapter. */
  WintunGuid guid;
  char text[WINTUN_GUID_STRLEN];
  wintun_guid_from_name ("Ember Test", &guid);
  g_autofree char *want = g_strdup_printf ("created Ember Test/Ember %s\nsession %u\n",
                                           wintun_guid_format (&guid, text),
                                           WINTUN_DEFAULT_RING_SIZE);
  g_autofree char *history = env.history ();
  g_assert_cmpstr (history, ==, want);
  g_free (env.net_calls ());
  f->mem = g_malloc ((gsize) EMBER_BATCH_MAX * MTU);
  for (guint i = 0; i < EMBER_BATCH_MAX; i++)
    f->batch[i] = (EmberPacket) { .data = f->mem + (gsize) i * MTU, .capacity = MTU };
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  if (f->be != NULL)
    close_backend (f->be);
  g_autofree char *history = env.history ();
  g_assert_cmpstr (history, ==, "session ended\nclosed\n");
  test_waker_clear (&f->rx);
  test_waker_clear (&f->tx);
  g_free (f->mem);
}

/* poll_recv_many until `total` packets from `first` came, in order;
 * returns the largest batch. */
static guint
receive_all (Fixture *f, guint first, guint total)
{
  guint got = 0, largest = 0;
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  while (got < total)
    {
      g_autoptr (GError) error = NULL;
      guint seen = test_waker_count (&f->rx);
      gint n = env.plugin->io.poll_recv_many (f->be, &f->rx.base, f->batch, EMBER_BATCH_MAX,
                                              &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          test_waker_wait (&f->rx, seen);
          continue;
        }
      largest = MAX (largest, (guint) n);
      for (gint i = 0; i < n; i++)
        assert_packet (first + got++, f->batch[i].data, f->batch[i].len);
    }
  return largest;
}

static void
test_receives_injected_ipv4_and_ipv6_in_batches (Fixture *f, gconstpointer data)
{
  (void) data;
  guint8 pkt[1500];
  for (guint i = 0; i < 300; i++)
    g_assert_true (env.inject (pkt, (unsigned long) make_packet (i, pkt, packet_len (i))));
  guint largest = receive_all (f, 0, 300);
  g_assert_cmpuint (largest, <=, EMBER_BATCH_MAX);
  g_assert_cmpuint (largest, >, 1);
  /* One at a time: the read event wakes the receive thread each time. */
  for (guint i = 300; i < 310; i++)
    {
      g_assert_true (env.inject (pkt, (unsigned long) make_packet (i, pkt, packet_len (i))));
      receive_all (f, i, 1);
    }
}

/* Sends packets [first, first + n) honouring poll_send_ready; returns how
 * often it was told to wait. */
static guint
send_all (Fixture *f, guint first, guint n)
{
  guint8 pkt[1500];
  guint pending = 0;
  for (guint i = first; i < first + n;)
    {
      g_autoptr (GError) error = NULL;
      guint seen = test_waker_count (&f->tx);
      EmberPoll p = env.plugin->io.poll_send_ready (f->be, &f->tx.base, &error);
      g_assert_no_error (error);
      if (p == EMBER_POLL_PENDING)
        {
          pending++;
          g_assert_cmpuint (test_waker_wait (&f->tx, seen), >, seen);
          continue;
        }
      EmberPacket packet = { .data = pkt, .len = make_packet (i, pkt, packet_len (i)) };
      g_assert_true (env.plugin->io.send (f->be, &packet, &error));
      g_assert_no_error (error);
      i++;
    }
  return pending;
}

static void
read_back (guint first, guint n)
{
  guint8 out[1500];
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  for (guint i = first; i < first + n;)
    {
      unsigned long len = env.take_sent (out, sizeof out);
      if (len == 0)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          g_usleep (1000);
          continue;
        }
      assert_packet (i++, out, len);
    }
}

static void
test_sends_and_reads_back_in_order (Fixture *f, gconstpointer data)
{
  (void) data;
  for (guint round = 0; round < 3; round++)
    {
      send_all (f, round * 1000, 1000);
      read_back (round * 1000, 1000);
    }
  guint8 out[8];
  g_assert_cmpuint (env.take_sent (out, sizeof out), ==, 0);
}

static void
test_full_ring_is_backpressure_then_resumes (Fixture *f, gconstpointer data)
{
  (void) data;
  guint8 pkt[1500];
  g_autoptr (GError) error = NULL;

  env.force_full (TRUE);
  guint accepted = 0;
  EmberPoll p;
  while ((p = env.plugin->io.poll_send_ready (f->be, &f->tx.base, &error)) == EMBER_POLL_READY)
    {
      EmberPacket packet = { .data = pkt, .len = make_packet (accepted, pkt,
                                                              packet_len (accepted)) };
      g_assert_true (env.plugin->io.send (f->be, &packet, &error));
      accepted++;
      g_assert_cmpuint (accepted, <=, 4096);
    }
  g_assert_no_error (error);
  g_assert_cmpint (p, ==, EMBER_POLL_PENDING);
  /* The plugin's send channel (about 1000 packets) held them all. */
  g_assert_cmpuint (accepted, >=, 1000);

  guint seen = test_waker_count (&f->tx);
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  while (env.overflows () < 3)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
  g_assert_cmpuint (test_waker_count (&f->tx), ==, seen);
  g_assert_cmpuint (env.sent_waiting (), ==, 0);

  env.force_full (FALSE);
  g_assert_cmpuint (test_waker_wait (&f->tx, seen), >, seen);
  /* 2000 more than fit at once: read back while sending. */
  guint total = accepted + 2000;
  for (guint next = accepted, done = 0; done < total;)
    {
      guint chunk = MIN (500u, total - next);
      if (chunk > 0)
        send_all (f, next, chunk);
      next += chunk;
      read_back (done, next - done);
      done = next;
    }
  guint8 out[8];
  g_assert_cmpuint (env.take_sent (out, sizeof out), ==, 0);
}

static void
test_adapter_end_is_reported_and_close_is_clean (Fixture *f, gconstpointer data)
{
  (void) data;
  guint8 pkt[1500];
  for (guint i = 0; i < 20; i++)
    g_assert_true (env.inject (pkt, (unsigned long) make_packet (i, pkt, packet_len (i))));
  receive_all (f, 0, 20);
  env.end_adapter ();

  g_autoptr (GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  for (;;)
    {
      guint seen = test_waker_count (&f->rx);
      gint n = env.plugin->io.poll_recv_many (f->be, &f->rx.base, f->batch, EMBER_BATCH_MAX,
                                              &error);
      if (n < 0)
        break;
      g_assert_cmpint (n, ==, 0);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      test_waker_wait (&f->rx, seen);
    }
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CLOSED);
  g_assert_nonnull (strstr (error->message, "Ember Test"));
  g_clear_error (&error);

  /* The send side finds out with its next packet. */
  EmberPacket packet = { .data = pkt, .len = make_packet (0, pkt, 100) };
  deadline = g_get_monotonic_time () + WAIT_US;
  while (env.plugin->io.poll_send_ready (f->be, &f->tx.base, &error) == EMBER_POLL_READY &&
         env.plugin->io.send (f->be, &packet, &error))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CLOSED);
  g_autofree char *history = env.history ();
  g_assert_cmpstr (history, ==, "adapter ended\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_autoptr (GError) error = NULL;
  env.plugin_path = env_path ("EMBER_WINTUN_PLUGIN");
  env.standin_path = env_path ("EMBER_WINTUN_STANDIN");
  g_autofree char *net_path = env_path ("EMBER_WINTUN_IPHLPAPI");
  env.plugin = ember_plugin_load (env.plugin_path, EMBER_PLUGIN_DIR_ENV, &error);
  g_assert_no_error (error);
  HMODULE wintun = load_standin (env.standin_path);
  HMODULE net = load_standin (net_path);
  LOOKUP (wintun, inject, STANDIN_INJECT);
  LOOKUP (wintun, take_sent, STANDIN_TAKE_SENT);
  LOOKUP (wintun, sent_waiting, STANDIN_SENT_WAITING);
  LOOKUP (wintun, overflows, STANDIN_OVERFLOWS);
  LOOKUP (wintun, force_full, STANDIN_FORCE_FULL);
  LOOKUP (wintun, end_adapter, STANDIN_END_ADAPTER);
  LOOKUP (wintun, history, STANDIN_HISTORY);
  LOOKUP (net, net_calls, STANDIN_NET_CALLS);
  LOOKUP (net, net_state, STANDIN_NET_STATE);
  LOOKUP (net, net_reset, STANDIN_NET_RESET);

  g_test_add_func ("/tun-wintun-wine/loader/loads-the-plugin-and-checks-the-abi",
                   test_loader_checks_the_abi);
  g_test_add_func ("/tun-wintun-wine/open/names-a-missing-wintun-dll",
                   test_open_names_a_missing_wintun_dll);
  g_test_add_func ("/tun-wintun-wine/open/validates-the-group-like-tun-linux",
                   test_open_validates_the_group_like_tun_linux);
  g_test_add_func ("/tun-wintun-wine/open/sets-mtu-addresses-and-routes",
                   test_open_sets_mtu_addresses_and_routes);
  g_test_add ("/tun-wintun-wine/open/failure-cleans-up-and-spares-the-open-adapter", Fixture,
              NULL, fixture_setup, test_open_failure_cleans_up_and_spares_the_open_adapter,
              fixture_teardown);
  g_test_add ("/tun-wintun-wine/io/receives-injected-ipv4-and-ipv6-in-batches", Fixture, NULL,
              fixture_setup, test_receives_injected_ipv4_and_ipv6_in_batches, fixture_teardown);
  g_test_add ("/tun-wintun-wine/io/sends-and-reads-back-in-order", Fixture, NULL, fixture_setup,
              test_sends_and_reads_back_in_order, fixture_teardown);
  g_test_add ("/tun-wintun-wine/io/full-ring-is-backpressure-then-resumes", Fixture, NULL,
              fixture_setup, test_full_ring_is_backpressure_then_resumes, fixture_teardown);
  g_test_add ("/tun-wintun-wine/io/adapter-end-is-reported-and-close-is-clean", Fixture, NULL,
              fixture_setup, test_adapter_end_is_reported_and_close_is_clean, fixture_teardown);
  int rc = g_test_run ();
  ember_plugin_free (env.plugin);
  g_free (env.plugin_path);
  g_free (env.standin_path);
  return rc;
}
