/* Tests of the TURN transport plugin (plugins/relay/turn/turn-transport.c),
 * the real turn.so loaded through the core loader and driven only through
 * its vtable and EmberRelayControl, the way the core drives it: the test
 * calls poll_recv_many() only when the plugin woke the test's waker (an
 * eventfd the test poll()s with a bounded timeout) or the previous call
 * returned packets, so every timer and every datagram the plugin acts on
 * proves that its readiness thread wakes the core.
 *
 * Against ember-relay and coturn's turnserver on 127.0.0.1, each started
 * here (turn-servers.c) with a temporary directory and killed at the end
 * (teardown, atexit, SIGABRT and SIGTRAP handlers and PR_SET_PDEATHSIG):
 * events, the hold-until-permission path, data both ways with the right
 * addresses, bursts in order, static and time-limited credentials, the
 * relay set replaced at run time, and a relay that stops answering.
 * Suite 'interop': the server tests skip when not root or when the server
 * binary is missing. */
#include "loader.h"
#include "ember-plugin-relay.h"
#include "relay/client/wire.h"
#include "turn-servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define SECRET "plugin-secret"
#define HELD 3  /* datagrams sent before the peer has a permission */
#define BURST 50
#define SLOT_LEN 2048

typedef struct {
  const char *name;
  gboolean coturn;
  gboolean rest;      /* time-limited credentials from a shared secret */
  gboolean allocate;  /* allocate=true in the config, else control->allocate() */
} Case;

typedef struct {
  EmberWaker base;
  int efd;
  gint wakes;
} TestWaker;

typedef struct {
  EmberRelayEvent ev;
  gint64 at;
} EventRec;

typedef struct {
  EmberAddr remote, local;
  gsize len;
  guint8 data[TURN_BURST_LEN];
} Datagram;

typedef struct {
  const Case *c;
  TurnServer srv;
  EmberBackend *be;
  TestWaker rw, sw;
  int peer_fd;
  EmberAddr peer;
  EmberPacket batch[EMBER_BATCH_MAX];
  guint8 *batch_buf;
  GArray *events;   /* EventRec */
  GArray *rx;       /* Datagram: what poll_recv_many returned */
  GArray *peer_rx;  /* Datagram: what the peer socket got (remote = source) */
  /* The waker fired or the last poll_recv_many() returned packets: the
   * core polls again (core/loop.c), also across run_until() calls. */
  gboolean recv_again;
  /* The condition run_until() waits for. */
  EmberRelayEventType want_type;
  guint want_from;  /* events index to search from */
  guint want_count;
} Fx;

static EmberPlugin *plugin;
static const EmberRelayControl *control;

/* ---- Addresses and servers --------------------------------------------- */

static const char *
addr_str (const EmberAddr *a)
{
  static char buf[4][64];
  static guint i;
  char ip[INET6_ADDRSTRLEN] = "?";
  char *out = buf[i++ % 4];
  if (a->family == EMBER_ADDR_IPV4 || a->family == EMBER_ADDR_IPV6)
    inet_ntop (a->family == EMBER_ADDR_IPV4 ? AF_INET : AF_INET6, a->addr, ip, sizeof ip);
  g_snprintf (out, 64, "%s:%u", ip, a->port);
  return out;
}

/* The test's own records, for a failure. */
static void
dump_events (Fx *fx)
{
  for (guint i = 0; fx->events != NULL && i < fx->events->len; i++)
    {
      const EventRec *e = &g_array_index (fx->events, EventRec, i);
      g_test_message ("event %u: type %d relay %s addr %s relayed %s (%u) code %u", i, e->ev.type,
                      addr_str (&e->ev.relay), addr_str (&e->ev.addr),
                      addr_str (&e->ev.relayed[0]), e->ev.n_relayed, e->ev.error_code);
    }
}

/* Starts the case's server; FALSE (test skipped) when its binary is
 * missing. */
static gboolean
start_server (Fx *fx)
{
  TurnServerConfig cfg = {
    .coturn = fx->c->coturn, .secret = fx->c->rest ? SECRET : NULL,
    /* Away from test-turn-interop's allocation ports (20000-29999). */
    .port_base = 30000, .tmp_template = "ember-turn-plugin-XXXXXX",
  };
  return turn_server_start (&fx->srv, &cfg);
}

/* ---- The core's side ------------------------------------------------------ */

static void
test_wake (EmberWaker *waker)
{
  TestWaker *w = (TestWaker *) waker;
  guint64 one = 1;
  g_atomic_int_inc (&w->wakes);
  while (write (w->efd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

static void
waker_init (TestWaker *w)
{
  w->base.wake = test_wake;
  w->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  g_assert_cmpint (w->efd, >=, 0);
}

static gboolean
load_plugin (void)
{
  if (plugin != NULL)
    return TRUE;
  const char *root = g_getenv ("EMBER_BUILD_ROOT");
  if (root == NULL)
    {
      g_test_skip ("EMBER_BUILD_ROOT is not set (run through meson test)");
      return FALSE;
    }
  g_autofree char *path = g_build_filename (root, "plugins", "relay", "turn", "turn.so", NULL);
  g_autoptr (GError) error = NULL;
  plugin = ember_plugin_load (path, EMBER_PLUGIN_DIR_BUILD, &error);
  g_assert_no_error (error);
  g_assert_nonnull (plugin->io.get_control);
  control = plugin->io.get_control (EMBER_RELAY_CONTROL_NAME);
  g_assert_nonnull (control);
  return TRUE;
}

static GKeyFile *
config_from (const char *text)
{
  GKeyFile *kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (g_key_file_load_from_data (kf, text, (gsize) -1, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  return kf;
}

static void
fx_setup (Fx *fx, gconstpointer data)
{
  memset (fx, 0, sizeof *fx);
  fx->c = data;
  fx->peer_fd = -1;
  waker_init (&fx->rw);
  waker_init (&fx->sw);
  fx->batch_buf = g_malloc ((gsize) SLOT_LEN * EMBER_BATCH_MAX);
  fx->events = g_array_new (FALSE, TRUE, sizeof (EventRec));
  fx->rx = g_array_new (FALSE, TRUE, sizeof (Datagram));
  fx->peer_rx = g_array_new (FALSE, TRUE, sizeof (Datagram));
}

static void
fx_teardown (Fx *fx, gconstpointer data)
{
  (void) data;
  if (g_test_failed ())
    dump_events (fx);
  if (fx->be != NULL)
    plugin->io.close (fx->be);
  turn_server_stop (&fx->srv);
  if (fx->peer_fd >= 0)
    close (fx->peer_fd);
  close (fx->rw.efd);
  close (fx->sw.efd);
  g_free (fx->batch_buf);
  g_array_unref (fx->events);
  g_array_unref (fx->rx);
  g_array_unref (fx->peer_rx);
}

/* One receive turn of the core: poll_recv_many(), then poll_event(). */
static gint
tick (Fx *fx)
{
  for (guint i = 0; i < EMBER_BATCH_MAX; i++)
    {
      memset (&fx->batch[i], 0, sizeof fx->batch[i]);
      fx->batch[i].data = fx->batch_buf + (gsize) i * SLOT_LEN;
      fx->batch[i].capacity = SLOT_LEN;
    }
  g_autoptr (GError) error = NULL;
  gint n = plugin->io.poll_recv_many (fx->be, &fx->rw.base, fx->batch, EMBER_BATCH_MAX, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, >=, 0);
  g_assert_cmpint (n, <=, EMBER_BATCH_MAX);
  for (gint i = 0; i < n; i++)
    {
      const EmberPacket *p = &fx->batch[i];
      g_assert_cmpint (p->error, ==, 0);
      g_assert_cmpuint (p->len, <=, TURN_BURST_LEN);
      Datagram d = { .remote = p->remote, .local = p->local, .len = p->len };
      memcpy (d.data, p->data, p->len);
      g_array_append_val (fx->rx, d);
    }
  EventRec e = { .at = g_get_monotonic_time () };
  while (control->poll_event (fx->be, &e.ev))
    g_array_append_val (fx->events, e);
  return n;
}

static void
read_peer (Fx *fx)
{
  for (;;)
    {
      Datagram d;
      struct sockaddr_in sin;
      socklen_t sl = sizeof sin;
      ssize_t n = recvfrom (fx->peer_fd, d.data, sizeof d.data, MSG_TRUNC, (struct sockaddr *) &sin,
                            &sl);
      if (n < 0)
        return;
      g_assert_cmpint (n, <=, (ssize_t) sizeof d.data);
      d.len = (gsize) n;
      d.remote = udp_from_sockaddr (&sin);
      g_array_append_val (fx->peer_rx, d);
    }
}

typedef gboolean (*Cond) (Fx *fx);

/* Plays the core until `cond` holds: a receive turn whenever the waker
 * fired or the last turn returned packets, else a bounded wait on the
 * waker's eventfd (and the peer socket, which the test reads). */
static gboolean
run_until (Fx *fx, Cond cond, gint64 timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;
  for (;;)
    {
      if (fx->recv_again)
        fx->recv_again = tick (fx) > 0;
      if (cond (fx))
        return TRUE;
      if (fx->recv_again)
        continue;
      gint64 left = deadline - g_get_monotonic_time ();
      if (left <= 0)
        return FALSE;
      struct pollfd p[2] = { { .fd = fx->rw.efd, .events = POLLIN },
                             { .fd = fx->peer_fd, .events = POLLIN } };
      if (poll (p, fx->peer_fd >= 0 ? 2 : 1, (int) MIN (left / 1000 + 1, 1000)) < 0)
        g_assert_cmpint (errno, ==, EINTR);
      if (p[0].revents & POLLIN)
        {
          guint64 v;
          g_assert_cmpint (read (fx->rw.efd, &v, sizeof v), ==, sizeof v);
          fx->recv_again = TRUE;
        }
      if (fx->peer_fd >= 0 && (p[1].revents & POLLIN))
        read_peer (fx);
    }
}

static const EventRec *
find_event (Fx *fx, EmberRelayEventType type, guint from)
{
  for (guint i = from; i < fx->events->len; i++)
    {
      const EventRec *e = &g_array_index (fx->events, EventRec, i);
      if (e->ev.type == type)
        return e;
    }
  return NULL;
}

static gboolean
has_wanted_event (Fx *fx)
{
  return find_event (fx, fx->want_type, fx->want_from) != NULL;
}

static gboolean
has_rx (Fx *fx)
{
  return fx->rx->len >= fx->want_count;
}

static gboolean
has_peer_rx (Fx *fx)
{
  return fx->peer_rx->len >= fx->want_count;
}

/* Waits for the next event of `type` queued after the ones seen so far. */
static const EventRec *
wait_event (Fx *fx, EmberRelayEventType type, gint64 timeout_us)
{
  fx->want_type = type;
  if (!run_until (fx, has_wanted_event, timeout_us))
    {
      turn_server_dump_log (&fx->srv);
      dump_events (fx);
      g_error ("no event of type %d within %" G_GINT64_FORMAT " ms", type, timeout_us / 1000);
    }
  return find_event (fx, type, fx->want_from);
}

/* send() as the core does it: only after poll_send_ready() said READY,
 * waiting for the send waker when it says PENDING. */
static gboolean
core_send (Fx *fx, const EmberAddr *local, const EmberAddr *remote, const guint8 *data,
           gsize len, guint16 segment_size, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  EmberPoll r;
  while ((r = plugin->io.poll_send_ready (fx->be, &fx->sw.base, error)) == EMBER_POLL_PENDING)
    {
      struct pollfd p = { .fd = fx->sw.efd, .events = POLLIN };
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (poll (&p, 1, 100) > 0)
        {
          guint64 v;
          g_assert_cmpint (read (fx->sw.efd, &v, sizeof v), ==, sizeof v);
        }
    }
  g_assert_cmpint (r, ==, EMBER_POLL_READY);
  EmberPacket p = {
    .data = (guint8 *) data, .capacity = len, .len = len, .remote = *remote, .local = *local,
    .segment_size = segment_size,
  };
  return plugin->io.send (fx->be, &p, error);
}

static void
check_burst (const Datagram *d, guint i)
{
  if (!turn_burst_ok (d->data, d->len, i, BURST))
    g_error ("burst datagram %u: got %" G_GSIZE_FORMAT " bytes starting 0x%02x 0x%02x", i,
             d->len, d->data[0], d->data[1]);
}

static char *
config_text (Fx *fx, const char *extra)
{
  return g_strdup_printf ("[turn]\nrelays=127.0.0.1:%u\n%s%s%s", fx->srv.port,
                          fx->c->rest ? "secret=" SECRET "\nuser-id=plugin-test\n"
                                      : "username=" TURN_SERVER_USER "\npassword="
                                        TURN_SERVER_PASSWORD "\n",
                          fx->c->allocate ? "allocate=true\n" : "", extra != NULL ? extra : "");
}

/* Opens the backend on the fixture's server and waits for SRFLX and
 * ALLOCATED; returns the relayed address. */
static EmberAddr
open_and_allocate (Fx *fx)
{
  g_autofree char *text = config_text (fx, NULL);
  g_autoptr (GKeyFile) kf = config_from (text);
  g_autoptr (GError) error = NULL;
  g_assert_true (plugin->io.validate_config (kf, "turn", &error));
  g_assert_no_error (error);
  EmberBackendArgs args = { .config = kf, .group = "turn", .log_domain = "ember-turn" };
  fx->be = plugin->io.open (&args, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->be);
  /* The core's first tick polls every backend once; then the wakers say. */
  fx->recv_again = TRUE;

  const EventRec *e = wait_event (fx, EMBER_RELAY_EVENT_SRFLX, 5 * G_USEC_PER_SEC);
  EmberAddr lo = udp_loopback (e->ev.addr.port);
  g_assert_true (udp_addr_eq (&e->ev.relay, &fx->srv.addr));
  g_assert_true (udp_addr_eq (&e->ev.addr, &lo));
  g_assert_cmpuint (e->ev.addr.port, !=, 0);
  if (!fx->c->allocate)
    {
      g_assert_null (find_event (fx, EMBER_RELAY_EVENT_ALLOCATED, 0));
      g_assert_true (control->allocate (fx->be, &fx->srv.addr, &error));
      g_assert_no_error (error);
    }
  e = wait_event (fx, EMBER_RELAY_EVENT_ALLOCATED, 5 * G_USEC_PER_SEC);
  g_assert_true (udp_addr_eq (&e->ev.relay, &fx->srv.addr));
  g_assert_cmpuint (e->ev.n_relayed, ==, 1);
  g_assert_cmpuint (e->ev.relayed[0].family, ==, EMBER_ADDR_IPV4);
  lo = udp_loopback (e->ev.relayed[0].port);
  g_assert_true (udp_addr_eq (&e->ev.relayed[0], &lo));
  g_assert_null (find_event (fx, EMBER_RELAY_EVENT_FAILED, 0));
  return e->ev.relayed[0];
}

/* ---- Tests ------------------------------------------------------------------ */

static void
test_info (void)
{
  if (!load_plugin ())
    return;
  g_assert_cmpint (plugin->kind, ==, EMBER_PLUGIN_KIND_TRANSPORT);
  g_assert_cmpstr (plugin->name, ==, "turn");
  g_assert_cmpuint (plugin->abi_major, ==, EMBER_PLUGIN_ABI_MAJOR);
  g_assert_cmpuint (plugin->abi_minor, >=, 1);
  const EmberRelayControl *c = plugin->io.get_control ("ember-relay-control-1");
  g_assert_nonnull (c);
  g_assert_true (c == control);
  g_assert_cmpuint (c->size, >=, sizeof (EmberRelayControl));
  g_assert_nonnull (c->set_relays);
  g_assert_nonnull (c->allocate);
  g_assert_nonnull (c->release);
  g_assert_nonnull (c->add_peer);
  g_assert_nonnull (c->remove_peer);
  g_assert_nonnull (c->poll_event);
  g_assert_null (plugin->io.get_control ("ember-relay-control-2"));
  g_assert_null (plugin->io.get_control ("ember-dns-control-1"));
  g_assert_null (plugin->io.get_control (""));
  g_assert_nonnull (plugin->io.validate_config);
  g_assert_null (plugin->io.add_route);
}

static void
test_validate_config (void)
{
  static const struct {
    const char *text;
    const char *key;  /* NULL: valid */
  } cases[] = {
    { "[turn]\nrelays=127.0.0.1:3478;[::1]:3478\nusername=u\npassword=p\ndual-stack=true\n"
      "allocate=false\n", NULL },
    { "[turn]\nrelays=192.0.2.1:3478\nsecret=s\nuser-id=dev-1\nallocate=true\n", NULL },
    { "[turn]\nrelays=192.0.2.1:3478\nsecret=s\n", NULL },
    { "[turn]\n", NULL },
    { "[turn]\nfwmark=0xca6c\n", NULL },
    { "[turn]\nfwmark=51820\n", NULL },
    { "[other]\nfoo=bar\n", NULL },
    { "[turn]\nfwmark=0\n", "fwmark" },
    { "[turn]\nfwmark=0x\n", "fwmark" },
    { "[turn]\nfwmark=mark\n", "fwmark" },
    { "[turn]\nfwmark=4294967296\n", "fwmark" },
    { "[turn]\nrelays=relay.example:3478\nusername=u\npassword=p\n", "relays" },
    { "[turn]\nrelays=127.0.0.1\nusername=u\npassword=p\n", "relays" },
    { "[turn]\nrelays=127.0.0.1:0\nusername=u\npassword=p\n", "relays" },
    { "[turn]\nrelays=127.0.0.1:65536\nusername=u\npassword=p\n", "relays" },
    { "[turn]\nrelays=::1:3478\nusername=u\npassword=p\n", "relays" },
    { "[turn]\nrelays=127.0.0.1:3478;127.0.0.1:3478\nusername=u\npassword=p\n", "relays" },
    { "[turn]\nrelays=127.0.0.1:3478\nusername=u\npassword=p\nsecret=s\n", "secret" },
    { "[turn]\nrelays=127.0.0.1:3478\n", "password" },
    { "[turn]\nrelays=127.0.0.1:3478\nusername=u\n", "password" },
    { "[turn]\nrelays=127.0.0.1:3478\npassword=p\n", "username" },
    { "[turn]\nrelays=127.0.0.1:3478\nsecret=s\nusername=u\n", "username" },
    { "[turn]\nrelays=127.0.0.1:3478\nusername=u\npassword=p\nuser-id=x\n", "user-id" },
    { "[turn]\nrelays=127.0.0.1:3478\nusername=u\npassword=\n", "password" },
    { "[turn]\nrelays=127.0.0.1:3478\nusername=u\npassword=p\ndual-stack=maybe\n", "dual-stack" },
    { "[turn]\nrelays=127.0.0.1:3478\nusername=u\npassword=p\nallocate=2\n", "allocate" },
    { "[turn]\nrelays=127.0.0.1:3478\nusername=u\npassword=p\nrelay-ports=1\n", "relay-ports" },
  };
  if (!load_plugin ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GKeyFile) kf = config_from (cases[i].text);
      g_autoptr (GError) error = NULL;
      gboolean ok = plugin->io.validate_config (kf, "turn", &error);
      if (cases[i].key == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          continue;
        }
      g_assert_false (ok);
      g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
      g_autofree char *want = g_strdup_printf ("[turn] %s:", cases[i].key);
      if (!g_str_has_prefix (error->message, want))
        g_error ("case %u: \"%s\" does not start with \"%s\"", i, error->message, want);
    }

  /* Another group name is the one named; open() refuses what validation
   * refuses, with the same error. */
  g_autoptr (GKeyFile) kf = config_from ("[turn-b]\nrelays=127.0.0.1:3478\nbogus=1\n");
  g_autoptr (GError) error = NULL;
  g_assert_false (plugin->io.validate_config (kf, "turn-b", &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, "[turn-b] bogus:"));
  g_clear_error (&error);
  EmberBackendArgs args = { .config = kf, .group = "turn-b", .log_domain = "ember-turn" };
  g_assert_null (plugin->io.open (&args, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, "[turn-b] bogus:"));
}

/* A backend without relays opens, stays quiet and closes; the relay set
 * refuses a bad entry and stays as it was. */
static void
test_no_relays (void)
{
  if (!load_plugin ())
    return;
  g_autoptr (GKeyFile) kf = config_from ("[turn]\n");
  g_autoptr (GError) error = NULL;
  EmberBackendArgs args = { .config = kf, .group = "turn", .log_domain = "ember-turn" };
  EmberBackend *be = plugin->io.open (&args, &error);
  g_assert_no_error (error);
  g_assert_nonnull (be);
  TestWaker w;
  waker_init (&w);
  EmberPacket batch[4];
  guint8 buf[4][64];
  for (guint i = 0; i < 4; i++)
    batch[i] = (EmberPacket) { .data = buf[i], .capacity = sizeof buf[i] };
  g_assert_cmpint (plugin->io.poll_recv_many (be, &w.base, batch, 4, &error), ==, 0);
  g_assert_no_error (error);
  EmberRelayEvent ev;
  g_assert_false (control->poll_event (be, &ev));
  g_assert_cmpint (plugin->io.poll_send_ready (be, &w.base, &error), ==, EMBER_POLL_READY);

  EmberAddr relay = udp_loopback (3478);
  EmberRelaySpec specs[2] = { { .server = relay }, { .server = relay } };
  /* No credentials in the entry and none in the configuration. */
  g_assert_false (control->set_relays (be, specs, 1, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "relay 0 (127.0.0.1:3478)"));
  g_clear_error (&error);
  specs[0].username = specs[1].username = "u";
  specs[0].password = specs[1].password = "p";
  g_assert_false (control->set_relays (be, specs, 2, &error));
  g_assert_nonnull (strstr (error->message, "relay 1 (127.0.0.1:3478): listed twice"));
  g_clear_error (&error);
  g_assert_false (control->allocate (be, &relay, &error));
  g_assert_nonnull (strstr (error->message, "not in the relay set"));
  g_clear_error (&error);
  EmberAddr peer = udp_loopback (9);
  g_assert_false (control->add_peer (be, &relay, &peer, &error));
  g_clear_error (&error);
  guint8 payload[4] = { 1, 2, 3, 4 };
  EmberPacket p = { .data = payload, .len = sizeof payload, .remote = peer, .local = relay };
  g_assert_false (plugin->io.send (be, &p, &error));
  g_assert_nonnull (strstr (error->message, "no allocation has the relayed address"));
  g_clear_error (&error);
  g_assert_false (control->poll_event (be, &ev));
  plugin->io.close (be);
  close (w.efd);
}

static void
test_data (Fx *fx, gconstpointer data)
{
  (void) data;
  if (turn_server_skip_unless_root () || !load_plugin () || !start_server (fx))
    return;
  EmberAddr relayed = open_and_allocate (fx);
  g_autoptr (GError) error = NULL;
  fx->peer_fd = udp_socket (&fx->peer);

  /* A local address no allocation has: refused, the backend goes on. */
  static const char hello[] = "ember says hello through the relay";
  EmberAddr wrong = relayed;
  wrong.port ^= 1;
  g_assert_false (core_send (fx, &wrong, &fx->peer, (const guint8 *) hello, sizeof hello - 1, 0,
                             &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
  g_clear_error (&error);

  /* The first packets to a new peer, sent at once: held until the
   * permission is there, then delivered in order. */
  for (guint i = 0; i < HELD; i++)
    {
      guint8 msg[sizeof hello + 1];
      memcpy (msg, hello, sizeof hello - 1);
      msg[sizeof hello - 1] = (guint8) ('0' + i);
      g_assert_true (core_send (fx, &relayed, &fx->peer, msg, sizeof msg - 1, 0, &error));
      g_assert_no_error (error);
    }
  fx->want_count = HELD;
  g_assert_true (run_until (fx, has_peer_rx, 5 * G_USEC_PER_SEC));
  const Datagram *d;
  for (guint i = 0; i < HELD; i++)
    {
      d = &g_array_index (fx->peer_rx, Datagram, i);
      g_assert_true (udp_addr_eq (&d->remote, &relayed));
      g_assert_cmpuint (d->len, ==, sizeof hello);
      g_assert_cmpmem (d->data, (int) d->len - 1, hello, (int) (sizeof hello - 1));
      g_assert_cmpuint (d->data[sizeof hello - 1], ==, '0' + i);
    }

  /* Peer → relayed address → plugin: remote = peer, local = relayed. */
  static const char down[] = "and the peer answers: 31 bytes";
  udp_send_to (fx->peer_fd, &relayed, (const guint8 *) down, sizeof down - 1);
  fx->want_count = 1;
  g_assert_true (run_until (fx, has_rx, 5 * G_USEC_PER_SEC));
  d = &g_array_index (fx->rx, Datagram, 0);
  g_assert_true (udp_addr_eq (&d->remote, &fx->peer));
  g_assert_true (udp_addr_eq (&d->local, &relayed));
  g_assert_cmpmem (d->data, (int) d->len, down, (int) (sizeof down - 1));

  /* 50 datagrams each way, back to back: the first 20 one per send(),
   * the rest as segmented packets of 10 (the last one shorter). */
  guint8 buf[10 * TURN_BURST_LEN];
  for (guint i = 0; i < 20; i++)
    {
      gsize len = turn_burst_datagram (i, BURST, buf);
      g_assert_true (core_send (fx, &relayed, &fx->peer, buf, len, 0, &error));
      g_assert_no_error (error);
    }
  for (guint i = 20; i < BURST; i += 10)
    {
      gsize len = 0;
      for (guint k = i; k < i + 10; k++)
        len += turn_burst_datagram (k, BURST, buf + len);
      g_assert_true (core_send (fx, &relayed, &fx->peer, buf, len, TURN_BURST_LEN, &error));
      g_assert_no_error (error);
    }
  fx->want_count = HELD + BURST;
  gboolean all = run_until (fx, has_peer_rx, 5 * G_USEC_PER_SEC);
  g_test_message ("%s: plugin → peer burst: %u of %u", fx->c->name, fx->peer_rx->len - HELD,
                  BURST);
  g_assert_true (all);
  for (guint i = 0; i < BURST; i++)
    {
      d = &g_array_index (fx->peer_rx, Datagram, i + HELD);
      g_assert_true (udp_addr_eq (&d->remote, &relayed));
      check_burst (d, i);
    }
  /* The segmented packets left as UDP_SEGMENT trains, and ember-relay
   * (which asks for UDP_GRO) took each as one buffer. */
  if (!fx->c->coturn)
    {
      g_assert_cmpint (turn_server_metric (&fx->srv, "ember_relay_gro_datagrams_total", BURST - 20),
                       ==, BURST - 20);
    }

  for (guint i = 0; i < BURST; i++)
    {
      gsize len = turn_burst_datagram (i, BURST, buf);
      udp_send_to (fx->peer_fd, &relayed, buf, len);
    }
  fx->want_count = 1 + BURST;
  all = run_until (fx, has_rx, 5 * G_USEC_PER_SEC);
  g_test_message ("%s: peer → plugin burst: %u of %u", fx->c->name, fx->rx->len - 1, BURST);
  g_assert_true (all);
  for (guint i = 0; i < BURST; i++)
    {
      d = &g_array_index (fx->rx, Datagram, i + 1);
      g_assert_true (udp_addr_eq (&d->remote, &fx->peer));
      g_assert_true (udp_addr_eq (&d->local, &relayed));
      check_burst (d, i);
    }
  g_assert_cmpint (g_atomic_int_get (&fx->rw.wakes), >, 0);
  g_assert_null (find_event (fx, EMBER_RELAY_EVENT_INVALIDATED, 0));
  g_assert_null (find_event (fx, EMBER_RELAY_EVENT_DOWN, 0));
}

static void
test_set_relays (Fx *fx, gconstpointer data)
{
  (void) data;
  if (turn_server_skip_unless_root () || !load_plugin () || !start_server (fx))
    return;
  EmberAddr relayed = open_and_allocate (fx);
  g_autoptr (GError) error = NULL;
  fx->peer_fd = udp_socket (&fx->peer);

  /* An invalid entry changes nothing. */
  EmberRelaySpec bad = { .server = udp_loopback (0), .username = "u", .password = "p" };
  g_assert_false (control->set_relays (fx->be, &bad, 1, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "relay 0 (127.0.0.1:0)"));
  g_clear_error (&error);
  static const char hello[] = "still relayed";
  g_assert_true (core_send (fx, &relayed, &fx->peer, (const guint8 *) hello, sizeof hello - 1, 0,
                            &error));
  fx->want_count = 1;
  g_assert_true (run_until (fx, has_peer_rx, 5 * G_USEC_PER_SEC));

  /* The same relay with the same credentials (an entry without any uses
   * those of the configuration): nothing happens. */
  fx->want_from = fx->events->len;
  EmberRelaySpec same = {
    .server = fx->srv.addr, .username = TURN_SERVER_USER, .password = TURN_SERVER_PASSWORD,
  };
  if (fx->c->rest)
    same.username = same.password = NULL;
  g_assert_true (control->set_relays (fx->be, &same, 1, &error));
  g_assert_no_error (error);
  fx->want_type = EMBER_RELAY_EVENT_INVALIDATED;
  g_assert_false (run_until (fx, has_wanted_event, 300 * G_TIME_SPAN_MILLISECOND));
  g_assert_cmpuint (fx->events->len, ==, fx->want_from);

  /* An empty set: the allocation is released, its address invalidated;
   * the event wakes the core by itself. */
  fx->want_from = fx->events->len;
  gint wakes = g_atomic_int_get (&fx->rw.wakes);
  g_assert_true (control->set_relays (fx->be, NULL, 0, &error));
  g_assert_no_error (error);
  const EventRec *e = wait_event (fx, EMBER_RELAY_EVENT_INVALIDATED, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (g_atomic_int_get (&fx->rw.wakes), >, wakes);
  g_assert_true (udp_addr_eq (&e->ev.relay, &fx->srv.addr));
  g_assert_cmpuint (e->ev.n_relayed, ==, 1);
  g_assert_true (udp_addr_eq (&e->ev.relayed[0], &relayed));
  g_assert_false (core_send (fx, &relayed, &fx->peer, (const guint8 *) hello, sizeof hello - 1,
                             0, &error));
  g_clear_error (&error);

  /* Back again: a new binding (SRFLX), an allocation when asked. */
  fx->want_from = fx->events->len;
  EmberRelaySpec spec = {
    .server = fx->srv.addr, .username = TURN_SERVER_USER, .password = TURN_SERVER_PASSWORD,
  };
  if (fx->c->rest)
    spec.username = spec.password = NULL;
  g_assert_true (control->set_relays (fx->be, &spec, 1, &error));
  g_assert_no_error (error);
  e = wait_event (fx, EMBER_RELAY_EVENT_SRFLX, 5 * G_USEC_PER_SEC);
  g_assert_true (udp_addr_eq (&e->ev.relay, &fx->srv.addr));
  g_assert_true (control->allocate (fx->be, &fx->srv.addr, &error));
  e = wait_event (fx, EMBER_RELAY_EVENT_ALLOCATED, 5 * G_USEC_PER_SEC);
  EmberAddr relayed2 = e->ev.relayed[0];
  g_assert_null (find_event (fx, EMBER_RELAY_EVENT_FAILED, 0));

  /* Asked again: ALLOCATED again, with the same address. */
  fx->want_from = fx->events->len;
  g_assert_true (control->allocate (fx->be, &fx->srv.addr, &error));
  e = wait_event (fx, EMBER_RELAY_EVENT_ALLOCATED, G_USEC_PER_SEC);
  g_assert_true (udp_addr_eq (&e->ev.relayed[0], &relayed2));

  /* add_peer ahead of the first packet, then data on the new allocation. */
  g_assert_true (control->add_peer (fx->be, &relayed2, &fx->peer, &error));
  g_assert_no_error (error);
  g_array_set_size (fx->peer_rx, 0);
  g_assert_true (core_send (fx, &relayed2, &fx->peer, (const guint8 *) hello, sizeof hello - 1, 0,
                            &error));
  fx->want_count = 1;
  g_assert_true (run_until (fx, has_peer_rx, 5 * G_USEC_PER_SEC));
  g_assert_true (udp_addr_eq (&g_array_index (fx->peer_rx, Datagram, 0).remote, &relayed2));

  /* release: the allocation goes, the relay stays (bindings go on). */
  fx->want_from = fx->events->len;
  control->release (fx->be, &fx->srv.addr);
  e = wait_event (fx, EMBER_RELAY_EVENT_INVALIDATED, 2 * G_USEC_PER_SEC);
  g_assert_true (udp_addr_eq (&e->ev.relayed[0], &relayed2));
}

static void
test_down (Fx *fx, gconstpointer data)
{
  (void) data;
  if (turn_server_skip_unless_root () || !load_plugin () || !start_server (fx))
    return;
  EmberAddr relayed = open_and_allocate (fx);

  /* The relay freezes: no answer to anything from now on. */
  fx->want_from = fx->events->len;
  g_assert_cmpint (kill (fx->srv.pid, SIGSTOP), ==, 0);
  gint64 t0 = g_get_monotonic_time ();
  const EventRec *down = wait_event (fx, EMBER_RELAY_EVENT_DOWN,
                                     EMBER_TURN_DOWN_AFTER_US + 3 * G_USEC_PER_SEC);
  gint64 took = down->at - t0;
  g_test_message ("DOWN after %.2f s (bound %.2f s)", (double) took / G_USEC_PER_SEC,
                  (double) EMBER_TURN_DOWN_AFTER_US / G_USEC_PER_SEC);
  g_assert_cmpint (took, <=, EMBER_TURN_DOWN_AFTER_US + G_USEC_PER_SEC);
  g_assert_true (udp_addr_eq (&down->ev.relay, &fx->srv.addr));
  const EventRec *inv = find_event (fx, EMBER_RELAY_EVENT_INVALIDATED, fx->want_from);
  g_assert_nonnull (inv);
  g_assert_true (inv < down);
  g_assert_true (udp_addr_eq (&inv->ev.relayed[0], &relayed));

  /* It answers again: UP, and the allocation comes back. */
  fx->want_from = fx->events->len;
  g_assert_cmpint (kill (fx->srv.pid, SIGCONT), ==, 0);
  wait_event (fx, EMBER_RELAY_EVENT_UP, EMBER_TURN_RETRY_US + 3 * G_USEC_PER_SEC);
  wait_event (fx, EMBER_RELAY_EVENT_ALLOCATED, 5 * G_USEC_PER_SEC);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  turn_server_install_cleanup ();
  g_test_add_func ("/turn/plugin/info", test_info);
  g_test_add_func ("/turn/plugin/validate-config", test_validate_config);
  g_test_add_func ("/turn/plugin/no-relays", test_no_relays);
  static const Case data_cases[] = {
    { "ember-relay-static-user", FALSE, FALSE, TRUE },
    { "ember-relay-rest-secret", FALSE, TRUE, FALSE },
    { "coturn-static-user", TRUE, FALSE, TRUE },
    { "coturn-rest-secret", TRUE, TRUE, FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (data_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/turn/plugin/data/%s", data_cases[i].name);
      g_test_add (path, Fx, &data_cases[i], fx_setup, test_data, fx_teardown);
    }
  static const Case relay_cases[] = {
    { "ember-relay-static-user", FALSE, FALSE, TRUE },
    { "ember-relay-rest-secret", FALSE, TRUE, TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (relay_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/turn/plugin/set-relays/%s", relay_cases[i].name);
      g_test_add (path, Fx, &relay_cases[i], fx_setup, test_set_relays, fx_teardown);
    }
  g_test_add ("/turn/plugin/relay-down/ember-relay", Fx, &relay_cases[0], fx_setup, test_down,
              fx_teardown);
  return g_test_run ();
}
