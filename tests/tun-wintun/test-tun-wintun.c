/* Unit tests of tun-wintun's platform-neutral logic on Linux: the ring
 * steps, the receive and send threads over Wintun's rings (in memory,
 * fake-ring.c), and the address and route set-up as differences
 * (fake-netif.c). The Windows plugin itself is tested under Wine by
 * scripts/build-windows.sh (test-wintun-wine.c). */
#include <string.h>

#include "config.h"
#include "fake-netif.h"
#include "fake-ring.h"
#include "io.h"
#include "netconf.h"
#include "ring.h"
#include "test-util.h"

/* SHA-256 over "Ember Wintun adapter", its NUL and "Ember", first 16
 * bytes, version and variant bits set (checked with Python's hashlib). */
#define PINNED_EMBER_GUID "{DEE1FB88-4BC5-54B7-ADDB-FE94D9136917}"

/* ---- A session over a FakeRing, with a read event made of a GCond ----- */

typedef struct {
  FakeRing *ring;
  GMutex lock;
  GCond cond;
  gboolean signalled;
  gboolean stopped;
} Session;

static void
session_notify (void *data)
{
  Session *s = data;
  g_mutex_lock (&s->lock);
  s->signalled = TRUE;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
}

static Session *
session_new (guint32 capacity)
{
  Session *s = g_new0 (Session, 1);
  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->ring = fake_ring_new (capacity, session_notify, s);
  return s;
}

static void
session_free (Session *s)
{
  fake_ring_free (s->ring);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->cond);
  g_free (s);
}

static const guint8 *
op_receive (void *session, guint32 *size, guint32 *err)
{
  return fake_ring_receive (((Session *) session)->ring, size, err);
}

static void
op_release (void *session, const guint8 *packet)
{
  fake_ring_release (((Session *) session)->ring, packet);
}

static guint8 *
op_allocate (void *session, guint32 size, guint32 *err)
{
  return fake_ring_allocate (((Session *) session)->ring, size, err);
}

static void
op_send (void *session, const guint8 *packet)
{
  fake_ring_send (((Session *) session)->ring, packet);
}

static WintunWait
op_wait (void *session, guint timeout_ms)
{
  Session *s = session;
  WintunWait r = WINTUN_WAIT_READABLE;
  gint64 until = timeout_ms == G_MAXUINT ? G_MAXINT64
                                         : g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  g_mutex_lock (&s->lock);
  while (!s->signalled && !s->stopped)
    if (!g_cond_wait_until (&s->cond, &s->lock, until))
      break;
  if (s->stopped)
    r = WINTUN_WAIT_STOPPED;
  else if (!s->signalled)
    r = WINTUN_WAIT_TIMEOUT;
  s->signalled = FALSE; /* auto-reset, like the read event */
  g_mutex_unlock (&s->lock);
  return r;
}

static void
op_stop (void *session)
{
  Session *s = session;
  g_mutex_lock (&s->lock);
  s->stopped = TRUE;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
}

static const WintunSessionOps session_ops = {
  .receive_packet = op_receive,
  .release_receive_packet = op_release,
  .allocate_send_packet = op_allocate,
  .send_packet = op_send,
  .wait_readable = op_wait,
  .stop = op_stop,
};

/* ---- config ------------------------------------------------------------ */

static void
test_config_defaults (void)
{
  WintunConfig c;
  g_autoptr (GError) error = NULL;
  g_assert_true (wintun_config_parse (NULL, "tun-wintun", &c, &error));
  g_assert_cmpstr (c.name, ==, "Ember");
  g_assert_cmpuint (c.mtu, ==, 1280);
  g_assert_cmpuint (c.ring_size, ==, 0x400000);
  g_assert_null (c.dll);
  wintun_config_clear (&c);
}

static void
test_config_reads_every_key (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (kf,
    "[tun-wintun]\nname=Ember Tunnel\ntunnel-type=Ember\nmtu=1420\n"
    "address=100.64.0.2/32;fd00:2021:1111::2/128\nroute=10.0.0.0/8;fd00::/8\n"
    "ring-size=0x800000\n", -1, 0, NULL));
  WintunConfig c;
  g_autoptr (GError) error = NULL;
  g_assert_true (wintun_config_parse (kf, "tun-wintun", &c, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c.name, ==, "Ember Tunnel");
  g_assert_cmpuint (c.mtu, ==, 1420);
  g_assert_cmpuint (c.n_addresses, ==, 2);
  g_assert_cmpuint (c.addresses[1].family, ==, 6);
  g_assert_cmpuint (c.n_routes, ==, 2);
  g_assert_cmpuint (c.routes[0].prefix, ==, 8);
  g_assert_cmpuint (c.ring_size, ==, 0x800000);
  wintun_config_clear (&c);
}

static void
assert_config_error (const char *text, const char *needle)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *data = g_strconcat ("[tun-wintun]\n", text, "\n", NULL);
  g_assert_true (g_key_file_load_from_data (kf, data, -1, 0, NULL));
  WintunConfig c;
  g_autoptr (GError) error = NULL;
  g_assert_false (wintun_config_parse (kf, "tun-wintun", &c, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
  if (strstr (error->message, needle) == NULL)
    g_error ("\"%s\" does not mention \"%s\"", error->message, needle);
  g_assert_null (c.name);
}

static void
test_config_rejects_bad_values_naming_the_key (void)
{
  assert_config_error ("queues=2", "[tun-wintun] queues: unknown key");
  assert_config_error ("mtu=100", "[tun-wintun] mtu: expected an integer from 576 to 9000");
  assert_config_error ("ring-size=300000", "[tun-wintun] ring-size: expected a power of two");
  assert_config_error ("ring-size=0x10000", "[tun-wintun] ring-size: expected an integer");
  assert_config_error ("address=10.0.0.300/24", "[tun-wintun] address: \"10.0.0.300/24\": expected an IPv4");
  assert_config_error ("route=10.0.0.1/8", "[tun-wintun] route: \"10.0.0.1/8\": has host bits set");
  assert_config_error ("mtu=1000\naddress=fd00::1/64", "[tun-wintun] mtu: IPv6 addresses need");
  assert_config_error ("dll=wintun.dll", "[tun-wintun] dll: expected the absolute path");
  assert_config_error ("name=", "[tun-wintun] name: expected 1 to 127 characters");
  assert_config_error ("guid=not-a-guid", "[tun-wintun] guid: expected a GUID like");
}

static void
test_config_guid_is_configured_or_derived_from_the_name (void)
{
  WintunGuid a, b, c;
  char text[WINTUN_GUID_STRLEN];

  /* Derived: stable (the same name always gives the same GUID, so
   * Windows keeps the adapter's network profile), an RFC 4122 version 5
   * layout, and different for another name. */
  wintun_guid_from_name ("Ember", &a);
  wintun_guid_from_name ("Ember", &b);
  wintun_guid_from_name ("Ember 2", &c);
  g_assert_true (memcmp (&a, &b, sizeof a) == 0);
  g_assert_false (memcmp (&a, &c, sizeof a) == 0);
  g_assert_cmpuint (a.data3 >> 12, ==, 5);
  g_assert_cmpuint (a.data4[0] & 0xc0, ==, 0x80);
  /* Pinned: a change here gives every user's adapter a new identity. */
  g_assert_cmpstr (wintun_guid_format (&a, text), ==, PINNED_EMBER_GUID);

  g_assert_true (wintun_guid_parse ("7b2a1c3d-0e4f-5a6b-8c7d-0123456789ab", &b));
  g_assert_cmpstr (wintun_guid_format (&b, text), ==, "{7B2A1C3D-0E4F-5A6B-8C7D-0123456789AB}");
  g_assert_true (wintun_guid_parse ("{7B2A1C3D-0E4F-5A6B-8C7D-0123456789AB}", &c));
  g_assert_true (memcmp (&b, &c, sizeof b) == 0);
  g_assert_false (wintun_guid_parse ("{7B2A1C3D-0E4F-5A6B-8C7D-0123456789AB", &c));
  g_assert_false (wintun_guid_parse ("7b2a1c3d0e4f-5a6b-8c7d-0123456789ab0", &c));
  g_assert_false (wintun_guid_parse ("7b2a1c3d-0e4f-5a6b-8c7d-0123456789ag", &c));

  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (
    kf, "[tun-wintun]\nname=Other\nguid={7B2A1C3D-0E4F-5A6B-8C7D-0123456789AB}\n", -1, 0, NULL));
  WintunConfig cfg;
  g_autoptr (GError) error = NULL;
  g_assert_true (wintun_config_parse (kf, "tun-wintun", &cfg, &error));
  g_assert_true (memcmp (&cfg.guid, &b, sizeof b) == 0);
  wintun_config_clear (&cfg);
  g_assert_true (g_key_file_load_from_data (kf, "[tun-wintun]\nname=Other\n", -1, 0, NULL));
  g_assert_true (wintun_config_parse (kf, "tun-wintun", &cfg, &error));
  wintun_guid_from_name ("Other", &c);
  g_assert_true (memcmp (&cfg.guid, &c, sizeof c) == 0);
  wintun_config_clear (&cfg);
}

/* ---- ring -------------------------------------------------------------- */

static void
test_ring_receive_drains_in_batches (void)
{
  FakeRing *ring = fake_ring_new (1 << 20, NULL, NULL);
  Session s = { .ring = ring };
  guint8 pkt[1500];
  for (guint i = 0; i < 250; i++)
    g_assert_true (fake_ring_inject (ring, pkt, make_packet (i, pkt, packet_len (i))));

  g_autofree guint8 *buf = g_malloc ((gsize) EMBER_BATCH_MAX * 1280);
  gsize lens[EMBER_BATCH_MAX];
  guint64 oversized = 0;
  WintunRingStatus st;
  guint32 err;
  guint seen = 0;
  const guint want[] = { 100, 100, 50 };
  const WintunRingStatus want_st[] = { WINTUN_RING_OK, WINTUN_RING_OK, WINTUN_RING_EMPTY };
  for (guint round = 0; round < 3; round++)
    {
      guint n = wintun_ring_receive (&session_ops, &s, buf, 1280, lens, EMBER_BATCH_MAX,
                                     &oversized, &st, &err);
      g_assert_cmpuint (n, ==, want[round]);
      g_assert_cmpint (st, ==, want_st[round]);
      for (guint i = 0; i < n; i++)
        assert_packet (seen++, buf + (gsize) i * 1280, lens[i]);
    }
  g_assert_cmpuint (err, ==, WINTUN_ERROR_NO_MORE_ITEMS);
  g_assert_cmpuint (oversized, ==, 0);
  fake_ring_free (ring);
}

static void
test_ring_receive_counts_oversized_and_goes_on (void)
{
  FakeRing *ring = fake_ring_new (1 << 16, NULL, NULL);
  Session s = { .ring = ring };
  guint8 pkt[1500];
  g_assert_true (fake_ring_inject (ring, pkt, make_packet (0, pkt, 100)));
  g_assert_true (fake_ring_inject (ring, pkt, make_packet (1, pkt, 1400)));
  g_assert_true (fake_ring_inject (ring, pkt, make_packet (2, pkt, 200)));

  guint8 buf[4 * 1280];
  gsize lens[4];
  guint64 oversized = 0;
  WintunRingStatus st;
  guint32 err;
  guint n = wintun_ring_receive (&session_ops, &s, buf, 1280, lens, 4, &oversized, &st, &err);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpuint (oversized, ==, 1);
  g_assert_cmpuint (lens[0], ==, 100);
  g_assert_cmpuint (lens[1], ==, 200);
  g_assert_cmpuint (buf[1280 + 4], ==, 2);
  /* The oversized one was released too: the ring can take a full load. */
  g_assert_cmpint (st, ==, WINTUN_RING_EMPTY);
  fake_ring_free (ring);
}

static void
test_ring_send_stops_at_a_full_ring_and_keeps_the_rest (void)
{
  FakeRing *ring = fake_ring_new (4096, NULL, NULL);
  Session s = { .ring = ring };
  guint8 store[10][1000];
  guint8 *pkts[10];
  gsize lens[10];
  for (guint i = 0; i < 10; i++)
    {
      pkts[i] = store[i];
      lens[i] = make_packet (i, store[i], 1000);
    }
  WintunRingStatus st;
  guint32 err;
  /* 4096 bytes hold four 1000-byte packets with their headers. */
  guint sent = wintun_ring_send (&session_ops, &s, pkts, lens, 10, &st, &err);
  g_assert_cmpuint (sent, ==, 4);
  g_assert_cmpint (st, ==, WINTUN_RING_FULL);
  g_assert_cmpuint (err, ==, WINTUN_ERROR_BUFFER_OVERFLOW);

  guint8 out[1500];
  g_assert_cmpuint (fake_ring_take_sent (ring, out, sizeof out), ==, 1000);
  g_assert_cmpuint (out[4], ==, 0);
  /* Room for one more: the next one in order goes, then full again. */
  sent = wintun_ring_send (&session_ops, &s, pkts + 4, lens + 4, 6, &st, &err);
  g_assert_cmpuint (sent, ==, 1);
  g_assert_cmpint (st, ==, WINTUN_RING_FULL);
  for (guint i = 1; i < 5; i++)
    {
      g_assert_cmpuint (fake_ring_take_sent (ring, out, sizeof out), ==, 1000);
      g_assert_cmpuint (out[4], ==, i);
    }
  g_assert_cmpuint (fake_ring_take_sent (ring, out, sizeof out), ==, 0);
  fake_ring_free (ring);
}

static void
test_ring_reports_the_adapter_end (void)
{
  FakeRing *ring = fake_ring_new (4096, NULL, NULL);
  Session s = { .ring = ring };
  guint8 pkt[100];
  g_assert_true (fake_ring_inject (ring, pkt, make_packet (0, pkt, sizeof pkt)));
  fake_ring_end (ring);

  guint8 buf[1280];
  gsize lens[1];
  guint64 oversized = 0;
  WintunRingStatus st;
  guint32 err;
  g_assert_cmpuint (wintun_ring_receive (&session_ops, &s, buf, sizeof buf, lens, 1, &oversized,
                                         &st, &err), ==, 0);
  g_assert_cmpint (st, ==, WINTUN_RING_EOF);
  guint8 *pkts[1] = { pkt };
  gsize plens[1] = { sizeof pkt };
  g_assert_cmpuint (wintun_ring_send (&session_ops, &s, pkts, plens, 1, &st, &err), ==, 0);
  g_assert_cmpint (st, ==, WINTUN_RING_EOF);
  g_assert_cmpuint (err, ==, WINTUN_ERROR_HANDLE_EOF);
  fake_ring_free (ring);
}

/* ---- io ---------------------------------------------------------------- */

typedef struct {
  Session *s;
  WintunIo *io;
  TestWaker rx;
  TestWaker tx;
} IoFixture;

static void
io_setup (IoFixture *f, gconstpointer data)
{
  guint capacity = GPOINTER_TO_UINT (data);
  g_autoptr (GError) error = NULL;
  f->s = session_new (1 << 20);
  test_waker_init (&f->rx);
  test_waker_init (&f->tx);
  f->io = wintun_io_start (&session_ops, f->s, "Ember", 1280, capacity ? capacity : 1024,
                           "ember-tun-test", &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->io);
}

static void
io_teardown (IoFixture *f, gconstpointer data)
{
  (void) data;
  wintun_io_stop (f->io);
  session_free (f->s);
  test_waker_clear (&f->rx);
  test_waker_clear (&f->tx);
}

/* Receives until `total` packets came, checking order; returns the
 * number of poll_recv_many calls that returned packets. */
static guint
receive_all (IoFixture *f, guint first, guint total, guint *largest)
{
  g_autofree guint8 *mem = g_malloc ((gsize) EMBER_BATCH_MAX * 1280);
  EmberPacket batch[EMBER_BATCH_MAX];
  guint got = 0, batches = 0;
  gint64 deadline = g_get_monotonic_time () + WAIT_US;

  for (guint i = 0; i < EMBER_BATCH_MAX; i++)
    batch[i] = (EmberPacket) { .data = mem + (gsize) i * 1280, .capacity = 1280 };
  *largest = 0;
  while (got < total)
    {
      g_autoptr (GError) error = NULL;
      guint seen = test_waker_count (&f->rx);
      gint n = wintun_io_recv_many (f->io, &f->rx.base, batch, EMBER_BATCH_MAX, &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          test_waker_wait (&f->rx, seen);
          continue;
        }
      batches++;
      *largest = MAX (*largest, (guint) n);
      for (gint i = 0; i < n; i++)
        {
          g_assert_cmpint (batch[i].error, ==, 0);
          assert_packet (first + got++, batch[i].data, batch[i].len);
        }
    }
  return batches;
}

/* Waits (bounded) until the receive thread has counted `n` packets. */
static void
wait_rx_count (IoFixture *f, guint64 n)
{
  WintunIoStats st;
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  for (wintun_io_stats (f->io, &st); st.rx_packets < n; wintun_io_stats (f->io, &st))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
  g_assert_cmpuint (st.rx_packets, ==, n);
}

static void
test_io_receives_ipv4_and_ipv6_in_batches (IoFixture *f, gconstpointer data)
{
  (void) data;
  guint8 pkt[1500];
  guint largest;

  /* A burst larger than a batch: it arrives in batches of at most 100. */
  for (guint i = 0; i < 450; i++)
    g_assert_true (fake_ring_inject (f->s->ring, pkt, make_packet (i, pkt, packet_len (i))));
  guint batches = receive_all (f, 0, 450, &largest);
  g_assert_cmpuint (largest, <=, EMBER_BATCH_MAX);
  g_assert_cmpuint (batches, >=, 5);

  /* Then a trickle: an empty ring parks the waker, the next packet wakes it. */
  for (guint i = 450; i < 460; i++)
    {
      g_assert_true (fake_ring_inject (f->s->ring, pkt, make_packet (i, pkt, packet_len (i))));
      receive_all (f, i, 1, &largest);
    }
  /* The receive thread counts a batch once it is in the channel, which
   * may be just after the core took it. */
  wait_rx_count (f, 460);
}

/* Sends `n` packets from `first`, honouring poll_send_ready; returns how
 * many times it met PENDING. */
static guint
send_all (IoFixture *f, guint first, guint n)
{
  guint8 pkt[1500];
  guint pending = 0;
  for (guint i = first; i < first + n;)
    {
      g_autoptr (GError) error = NULL;
      guint seen = test_waker_count (&f->tx);
      EmberPoll p = wintun_io_send_ready (f->io, &f->tx.base, &error);
      g_assert_no_error (error);
      if (p == EMBER_POLL_PENDING)
        {
          pending++;
          g_assert_cmpuint (test_waker_wait (&f->tx, seen), >, seen);
          continue;
        }
      g_assert_cmpint (p, ==, EMBER_POLL_READY);
      EmberPacket packet = { .data = pkt, .len = make_packet (i, pkt, packet_len (i)) };
      g_assert_true (wintun_io_send (f->io, &packet, &error));
      g_assert_no_error (error);
      i++;
    }
  return pending;
}

/* Reads `n` sent packets back from the ring, in order. */
static void
read_back (IoFixture *f, guint first, guint n)
{
  guint8 out[1500];
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  for (guint i = first; i < first + n;)
    {
      gsize len = fake_ring_take_sent (f->s->ring, out, sizeof out);
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
test_io_sends_in_order (IoFixture *f, gconstpointer data)
{
  (void) data;
  /* Read back as we go: the 1 MiB ring holds about 1600 of these. */
  for (guint round = 0; round < 4; round++)
    {
      send_all (f, round * 500, 500);
      read_back (f, round * 500, 500);
    }
  g_assert_cmpuint (fake_ring_take_sent (f->s->ring, (guint8[8]) { 0 }, 8), ==, 0);
}

static void
test_io_full_ring_is_backpressure_not_loss (IoFixture *f, gconstpointer data)
{
  (void) data;
  guint8 pkt[1500];
  g_autoptr (GError) error = NULL;

  /* The driver stops taking packets: the send thread holds them and the
   * channel (64 slots here) fills until poll_send_ready says PENDING. */
  fake_ring_force_full (f->s->ring, TRUE);
  guint accepted = 0;
  EmberPoll p;
  while ((p = wintun_io_send_ready (f->io, &f->tx.base, &error)) == EMBER_POLL_READY)
    {
      EmberPacket packet = { .data = pkt, .len = make_packet (accepted, pkt,
                                                              packet_len (accepted)) };
      g_assert_true (wintun_io_send (f->io, &packet, &error));
      accepted++;
      g_assert_cmpuint (accepted, <=, 64);
    }
  g_assert_cmpint (p, ==, EMBER_POLL_PENDING);
  g_assert_no_error (error);
  g_assert_cmpuint (accepted, ==, 64);
  /* A send without a READY is refused, and that refusal loses nothing queued. */
  EmberPacket extra = { .data = pkt, .len = make_packet (999, pkt, 100) };
  g_assert_false (wintun_io_send (f->io, &extra, &error));
  g_clear_error (&error);

  /* Still full after the send thread tried again: no wake, nothing sent. */
  guint seen = test_waker_count (&f->tx);
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  while (fake_ring_overflows (f->s->ring) < 3)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
  g_assert_cmpuint (test_waker_count (&f->tx), ==, seen);
  g_assert_cmpuint (fake_ring_sent_waiting (f->s->ring), ==, 0);

  /* Room again: the waker fires and every packet goes out in order. */
  fake_ring_force_full (f->s->ring, FALSE);
  g_assert_cmpuint (test_waker_wait (&f->tx, seen), >, seen);
  send_all (f, accepted, 300 - accepted);
  read_back (f, 0, 300);

  WintunIoStats st;
  wintun_io_stats (f->io, &st);
  g_assert_cmpuint (st.tx_packets, ==, 300);
  g_assert_cmpuint (st.tx_ring_full, >=, 1);
  g_assert_cmpuint (st.tx_lost, ==, 0);
}

static void
test_io_adapter_end_hands_out_queued_packets_then_closes (IoFixture *f, gconstpointer data)
{
  (void) data;
  guint8 pkt[1500];

  for (guint i = 0; i < 30; i++)
    g_assert_true (fake_ring_inject (f->s->ring, pkt, make_packet (i, pkt, packet_len (i))));
  /* Once the receive thread holds them all, the adapter ends: those it
   * took before the end still come out, then the end is reported. */
  wait_rx_count (f, 30);
  gint64 deadline = g_get_monotonic_time () + WAIT_US;
  guint seen = test_waker_count (&f->rx);
  fake_ring_end (f->s->ring);
  g_autofree guint8 *mem = g_malloc ((gsize) EMBER_BATCH_MAX * 1280);
  EmberPacket batch[EMBER_BATCH_MAX];
  for (guint i = 0; i < EMBER_BATCH_MAX; i++)
    batch[i] = (EmberPacket) { .data = mem + (gsize) i * 1280, .capacity = 1280 };
  guint got = 0;
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      gint n = wintun_io_recv_many (f->io, &f->rx.base, batch, EMBER_BATCH_MAX, &error);
      if (n < 0)
        {
          g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CLOSED);
          g_assert_nonnull (strstr (error->message, "Ember"));
          break;
        }
      for (gint i = 0; i < n; i++)
        assert_packet (got++, batch[i].data, batch[i].len);
      if (n == 0)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          seen = test_waker_wait (&f->rx, seen);
        }
    }
  g_assert_cmpuint (got, ==, 30);

  /* The send side learns it at its next packet. */
  g_autoptr (GError) error = NULL;
  EmberPacket packet = { .data = pkt, .len = make_packet (0, pkt, 100) };
  deadline = g_get_monotonic_time () + WAIT_US;
  while (wintun_io_send_ready (f->io, &f->tx.base, &error) == EMBER_POLL_READY)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (!wintun_io_send (f->io, &packet, &error))
        break;
      g_usleep (1000);
    }
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CLOSED);
}

static void
test_io_refuses_what_is_not_an_ip_packet_of_mtu_size (IoFixture *f, gconstpointer data)
{
  (void) data;
  guint8 pkt[1500] = { 0 };
  g_autoptr (GError) error = NULL;

  EmberPacket too_big = { .data = pkt, .len = 1281 };
  pkt[0] = 0x45;
  g_assert_false (wintun_io_send (f->io, &too_big, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED);
  g_clear_error (&error);
  EmberPacket not_ip = { .data = pkt, .len = 60 };
  pkt[0] = 0x25;
  g_assert_false (wintun_io_send (f->io, &not_ip, &error));
  g_assert_nonnull (strstr (error->message, "version 2"));
  g_clear_error (&error);
  /* The backend stays usable. */
  send_all (f, 0, 3);
  read_back (f, 0, 3);
}

static void
test_io_oversized_received_packet_is_counted (IoFixture *f, gconstpointer data)
{
  (void) data;
  guint8 pkt[1500];
  guint largest;
  /* Logged by the receive thread, once per batch. */
  g_test_expect_message ("ember-tun-test", G_LOG_LEVEL_WARNING, "*longer than the MTU*");
  g_assert_true (fake_ring_inject (f->s->ring, pkt, make_packet (0, pkt, packet_len (0))));
  g_assert_true (fake_ring_inject (f->s->ring, pkt, make_packet (7, pkt, 1400)));
  g_assert_true (fake_ring_inject (f->s->ring, pkt, make_packet (1, pkt, packet_len (1))));
  receive_all (f, 0, 2, &largest);
  g_test_assert_expected_messages ();
  WintunIoStats st;
  wintun_io_stats (f->io, &st);
  g_assert_cmpuint (st.rx_oversized, ==, 1);
}

/* ---- netconf ----------------------------------------------------------- */

static EmberCidr
cidr (const char *text)
{
  EmberCidr c;
  g_assert_true (ember_cidr_parse (text, EMBER_CIDR_PARSE_KEEP_HOST_BITS, &c, NULL));
  return c;
}

static void
test_netconf_diff_adds_missing_and_removes_extra (void)
{
  EmberCidr wanted[] = { cidr ("10.0.0.2/32"), cidr ("fd00::2/128"), cidr ("10.0.0.2/32"),
                          cidr ("10.9.0.1/24") };
  EmberCidr present[] = { cidr ("10.0.0.2/32"), cidr ("10.9.0.1/16"), cidr ("fe80::1/64"),
                           cidr ("169.254.3.4/16"), cidr ("192.168.7.7/24") };
  g_autoptr (GArray) add = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  g_autoptr (GArray) remove = g_array_new (FALSE, FALSE, sizeof (EmberCidr));

  wintun_cidr_diff (wanted, G_N_ELEMENTS (wanted), present, G_N_ELEMENTS (present), TRUE, add,
                    remove);
  g_assert_cmpuint (add->len, ==, 2);
  g_assert_true (ember_cidr_equal (&g_array_index (add, EmberCidr, 0), &wanted[1]));
  g_assert_true (ember_cidr_equal (&g_array_index (add, EmberCidr, 1), &wanted[3]));
  /* Same address, other prefix length: a different entry. Link-local stays. */
  g_assert_cmpuint (remove->len, ==, 2);
  g_assert_true (ember_cidr_equal (&g_array_index (remove, EmberCidr, 0), &present[1]));
  g_assert_true (ember_cidr_equal (&g_array_index (remove, EmberCidr, 1), &present[4]));

  /* Without the link-local rule (routes), fe80::/64 goes too. */
  g_array_set_size (add, 0);
  g_array_set_size (remove, 0);
  wintun_cidr_diff (wanted, G_N_ELEMENTS (wanted), present, G_N_ELEMENTS (present), FALSE, add,
                    remove);
  g_assert_cmpuint (remove->len, ==, 4);

  /* Nothing wanted that is not there, nothing there that is not wanted. */
  g_array_set_size (add, 0);
  g_array_set_size (remove, 0);
  wintun_cidr_diff (present, 3, present, 3, TRUE, add, remove);
  g_assert_cmpuint (add->len + remove->len, ==, 0);
}

static void
test_netconf_converges_the_interface_with_minimal_calls (void)
{
  FakeNetif *n = fake_netif_new ();
  g_autoptr (GError) error = NULL;
  EmberCidr old_addr = cidr ("10.0.0.9/24"), link_local = cidr ("fe80::5/64");
  EmberCidr kept = cidr ("100.64.0.2/32"), old_route = cidr ("10.1.0.0/16");
  g_array_append_val (n->addresses, old_addr);
  g_array_append_val (n->addresses, link_local);
  g_array_append_val (n->addresses, kept);
  g_array_append_val (n->routes, old_route);

  EmberCidr addrs[] = { kept, cidr ("fd00:2021:1111::2/128") };
  EmberCidr routes[] = { cidr ("10.0.0.0/8"), cidr ("fd00::/8") };
  g_assert_true (wintun_netconf_mtu (&fake_netif_ops, n, "Ember", 1280, &error));
  g_assert_true (wintun_netconf_addresses (&fake_netif_ops, n, "Ember", addrs, 2, &error));
  g_assert_true (wintun_netconf_routes (&fake_netif_ops, n, "Ember", routes, 2, &error));
  g_assert_no_error (error);
  g_autofree char *calls = fake_netif_take_calls (n);
  g_assert_cmpstr (calls, ==,
                   "SetIpInterfaceEntry IPv4 1280\n"
                   "SetIpInterfaceEntry IPv6 1280\n"
                   "GetUnicastIpAddressTable\n"
                   "DeleteUnicastIpAddressEntry 10.0.0.9/24\n"
                   "CreateUnicastIpAddressEntry fd00:2021:1111::2/128\n"
                   "GetIpForwardTable2\n"
                   "DeleteIpForwardEntry2 10.1.0.0/16\n"
                   "CreateIpForwardEntry2 10.0.0.0/8\n"
                   "CreateIpForwardEntry2 fd00::/8");
  g_assert_cmpuint (n->addresses->len, ==, 3);
  g_assert_cmpuint (n->routes->len, ==, 2);

  /* A second run finds everything in place and changes nothing. */
  g_assert_true (wintun_netconf_addresses (&fake_netif_ops, n, "Ember", addrs, 2, &error));
  g_assert_true (wintun_netconf_routes (&fake_netif_ops, n, "Ember", routes, 2, &error));
  g_autofree char *again = fake_netif_take_calls (n);
  g_assert_cmpstr (again, ==, "GetUnicastIpAddressTable\nGetIpForwardTable2");
  fake_netif_free (n);
}

static void
test_netconf_error_names_the_call_entry_and_code (void)
{
  FakeNetif *n = fake_netif_new ();
  g_autoptr (GError) error = NULL;
  EmberCidr addrs[] = { cidr ("100.64.0.2/32") };
  n->fail_call = g_strdup ("CreateUnicastIpAddressEntry");
  n->fail_code = 5; /* ERROR_ACCESS_DENIED */
  g_assert_false (wintun_netconf_addresses (&fake_netif_ops, n, "Ember", addrs, 1, &error));
  g_assert_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_PERMISSION);
  g_assert_cmpstr (error->message, ==,
                   "Ember: CreateUnicastIpAddressEntry(100.64.0.2/32) failed with error 5");
  fake_netif_free (n);
}

static void
test_netconf_run_time_routes_are_idempotent (void)
{
  FakeNetif *n = fake_netif_new ();
  g_autoptr (GError) error = NULL;
  EmberCidr r = cidr ("10.8.0.0/16");
  g_assert_true (wintun_netconf_route (&fake_netif_ops, n, "Ember", &r, TRUE, &error));
  g_assert_true (wintun_netconf_route (&fake_netif_ops, n, "Ember", &r, TRUE, &error));
  g_assert_cmpuint (n->routes->len, ==, 1);
  g_assert_true (wintun_netconf_route (&fake_netif_ops, n, "Ember", &r, FALSE, &error));
  g_assert_true (wintun_netconf_route (&fake_netif_ops, n, "Ember", &r, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n->routes->len, ==, 0);
  fake_netif_free (n);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tun-wintun/config/defaults", test_config_defaults);
  g_test_add_func ("/tun-wintun/config/reads-every-key", test_config_reads_every_key);
  g_test_add_func ("/tun-wintun/config/rejects-bad-values-naming-the-key",
                   test_config_rejects_bad_values_naming_the_key);
  g_test_add_func ("/tun-wintun/config/guid-is-configured-or-derived-from-the-name",
                   test_config_guid_is_configured_or_derived_from_the_name);
  g_test_add_func ("/tun-wintun/ring/receive-drains-in-batches",
                   test_ring_receive_drains_in_batches);
  g_test_add_func ("/tun-wintun/ring/receive-counts-oversized-and-goes-on",
                   test_ring_receive_counts_oversized_and_goes_on);
  g_test_add_func ("/tun-wintun/ring/send-stops-at-a-full-ring-and-keeps-the-rest",
                   test_ring_send_stops_at_a_full_ring_and_keeps_the_rest);
  g_test_add_func ("/tun-wintun/ring/reports-the-adapter-end", test_ring_reports_the_adapter_end);
  g_test_add ("/tun-wintun/io/receives-ipv4-and-ipv6-in-batches", IoFixture, NULL, io_setup,
              test_io_receives_ipv4_and_ipv6_in_batches, io_teardown);
  g_test_add ("/tun-wintun/io/sends-in-order", IoFixture, NULL, io_setup,
              test_io_sends_in_order, io_teardown);
  g_test_add ("/tun-wintun/io/full-ring-is-backpressure-not-loss", IoFixture,
              GUINT_TO_POINTER (64), io_setup, test_io_full_ring_is_backpressure_not_loss,
              io_teardown);
  g_test_add ("/tun-wintun/io/adapter-end-hands-out-queued-packets-then-closes", IoFixture, NULL,
              io_setup, test_io_adapter_end_hands_out_queued_packets_then_closes, io_teardown);
  g_test_add ("/tun-wintun/io/refuses-what-is-not-an-ip-packet-of-mtu-size", IoFixture, NULL,
              io_setup, test_io_refuses_what_is_not_an_ip_packet_of_mtu_size, io_teardown);
  g_test_add ("/tun-wintun/io/oversized-received-packet-is-counted", IoFixture, NULL, io_setup,
              test_io_oversized_received_packet_is_counted, io_teardown);
  g_test_add_func ("/tun-wintun/netconf/diff-adds-missing-and-removes-extra",
                   test_netconf_diff_adds_missing_and_removes_extra);
  g_test_add_func ("/tun-wintun/netconf/converges-the-interface-with-minimal-calls",
                   test_netconf_converges_the_interface_with_minimal_calls);
  g_test_add_func ("/tun-wintun/netconf/error-names-the-call-entry-and-code",
                   test_netconf_error_names_the_call_entry_and_code);
  g_test_add_func ("/tun-wintun/netconf/run-time-routes-are-idempotent",
                   test_netconf_run_time_routes_are_idempotent);
  return g_test_run ();
}
