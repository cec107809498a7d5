/* Loopback tests for core/io/udp.c: a mixed batch sent through the GSO
 * queue arrives whole, smallest size first; the forced plain path and GRO
 * off deliver the same; dual-stack maps IPv4 peers back to IPv4. */
#include "io/udp.h"

#include <errno.h>
#include <gio/gio.h>
#include <sys/socket.h>
#include <poll.h>
#include <string.h>

#define SLOT 65536
#define SLOTS 16

typedef struct {
  guint16 size;
  guint16 seq;
} Sent;

static EmberAddr
loopback4 (guint16 port)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = port };
  a.addr[0] = 127;
  a.addr[3] = 1;
  return a;
}

/* Datagram content: size, seq, then a pattern, so the receiver can check
 * every byte and the order. */
static void
make_datagram (guint8 *buf, guint16 size, guint16 seq)
{
  for (guint i = 0; i < size; i++)
    buf[i] = (guint8) (seq * 7 + i);
  buf[0] = (guint8) (size >> 8);
  buf[1] = (guint8) size;
  buf[2] = (guint8) (seq >> 8);
  buf[3] = (guint8) seq;
}

/* Receives until `expected` datagrams arrived or 2 s passed; returns them
 * as (size, seq) in arrival order and checks every byte. */
static GArray *
receive_all (EmberUdpSocket *rx, guint expected, gboolean *saw_gro, EmberAddr *last_remote)
{
  GArray *got = g_array_new (FALSE, FALSE, sizeof (Sent));
  g_autofree guint8 *mem = g_malloc (SLOT * SLOTS);
  EmberPacket batch[SLOTS];
  gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  guint8 want[SLOT];

  *saw_gro = FALSE;
  while (got->len < expected && g_get_monotonic_time () < deadline)
    {
      struct pollfd pfd = { .fd = ember_udp_socket_get_fd (rx), .events = POLLIN };
      if (poll (&pfd, 1, 100) <= 0)
        continue;
      for (guint i = 0; i < SLOTS; i++)
        batch[i] = (EmberPacket) { .data = mem + i * SLOT, .capacity = SLOT };
      g_autoptr (GError) error = NULL;
      gint n = ember_udp_socket_recv_many (rx, batch, SLOTS, &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, >=, 0);
      for (gint i = 0; i < n; i++)
        {
          g_assert_cmpint (batch[i].error, ==, 0);
          *last_remote = batch[i].remote;
          gsize seg = batch[i].segment_size ? batch[i].segment_size : batch[i].len;
          if (batch[i].segment_size)
            *saw_gro = TRUE;
          for (gsize off = 0; off < batch[i].len; off += seg)
            {
              const guint8 *d = batch[i].data + off;
              gsize len = MIN (seg, batch[i].len - off);
              g_assert_cmpuint (len, >=, 4);
              Sent s = { (guint16) (d[0] << 8 | d[1]), (guint16) (d[2] << 8 | d[3]) };
              g_assert_cmpuint (s.size, ==, len);
              make_datagram (want, s.size, s.seq);
              g_assert_cmpmem (d, (int) (len), want, (int) (len));
              g_array_append_val (got, s);
            }
        }
    }
  return got;
}

static const guint16 sizes[] = { 1200, 60, 1200, 300, 60, 1200 };

static void
run_mixed_batch (gboolean gso, gboolean gro, gboolean dual_stack_rx)
{
  g_autoptr (GError) error = NULL;
  EmberAddr bind_rx = loopback4 (0);
  EmberAddr bind_tx = loopback4 (0);
  g_autoptr (EmberUdpSocket) rx = ember_udp_socket_new (dual_stack_rx ? NULL : &bind_rx, &error);
  g_assert_no_error (error);
  g_autoptr (EmberUdpSocket) tx = ember_udp_socket_new (&bind_tx, &error);
  g_assert_no_error (error);

  EmberAddr local;
  g_assert_true (ember_udp_socket_get_local (rx, &local, &error));
  g_assert_cmpuint (local.family, ==, dual_stack_rx ? EMBER_ADDR_IPV6 : EMBER_ADDR_IPV4);
  EmberAddr dst = loopback4 (local.port);
  if (!gro)
    g_assert_false (ember_udp_socket_set_gro (rx, FALSE));
  ember_udp_socket_set_gso (tx, gso);

  /* 6 kinds x 20 rounds, interleaved; per size a running seq. */
  guint16 seq[2000] = { 0 };
  guint8 buf[1200];
  guint total = 0;
  for (guint round = 0; round < 20; round++)
    for (guint k = 0; k < G_N_ELEMENTS (sizes); k++)
      {
        make_datagram (buf, sizes[k], seq[sizes[k]]++);
        g_assert_true (ember_udp_socket_queue (tx, &dst, buf, sizes[k], &error));
        g_assert_no_error (error);
        total++;
      }
  g_assert_cmpuint (ember_udp_socket_queued (tx), ==, total);
  g_assert_cmpint (ember_udp_socket_flush (tx, &error), ==, EMBER_POLL_READY);
  g_assert_no_error (error);
  g_assert_false (ember_udp_socket_wants_writable (tx));
  g_assert_cmpuint (ember_udp_socket_queued (tx), ==, 0);

  EmberUdpStats st;
  ember_udp_socket_get_stats (tx, &st);
  g_assert_cmpuint (st.datagrams_sent, ==, total);
  g_assert_cmpuint (st.datagrams_dropped, ==, 0);
  if (gso && ember_udp_socket_get_gso (tx))
    {
      /* 3 sizes to one destination; the 60 datagrams of 1200 bytes
       * exceed 64 KiB and take two batches: 4 GSO messages, 1 syscall. */
      g_assert_cmpuint (st.gso_batches, ==, 4);
      g_assert_cmpuint (st.send_syscalls, ==, 1);
    }
  else
    {
      g_assert_cmpuint (st.gso_batches, ==, 0);
      g_assert_cmpuint (st.send_syscalls, ==, (total + 63) / 64);
    }

  gboolean saw_gro = FALSE;
  EmberAddr remote = { 0 };
  g_autoptr (GArray) got = receive_all (rx, total, &saw_gro, &remote);
  g_assert_cmpuint (got->len, ==, total);
  /* Sizes ascending, and within a size the original order. */
  guint16 last_size = 0, next_seq = 0;
  for (guint i = 0; i < got->len; i++)
    {
      Sent s = g_array_index (got, Sent, i);
      if (s.size != last_size)
        {
          g_assert_cmpuint (s.size, >, last_size);
          last_size = s.size;
          next_seq = 0;
        }
      g_assert_cmpuint (s.seq, ==, next_seq);
      next_seq++;
    }
  g_assert_cmpuint (last_size, ==, 1200);
  if (!gro)
    g_assert_false (saw_gro);
  /* On a dual-stack receiver the IPv4 sender comes back as plain IPv4,
   * not as ::ffff:127.0.0.1. */
  g_assert_cmpuint (remote.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (remote.addr[0], ==, 127);
}

static void
test_mixed_batch_gso (void)
{
  run_mixed_batch (TRUE, TRUE, FALSE);
}

static void
test_mixed_batch_forced_plain (void)
{
  run_mixed_batch (FALSE, TRUE, FALSE);
}

static void
test_mixed_batch_no_gro (void)
{
  run_mixed_batch (TRUE, FALSE, FALSE);
}

static void
test_mixed_batch_dual_stack (void)
{
  run_mixed_batch (TRUE, TRUE, TRUE);
}

static void
test_bad_datagrams_refused (void)
{
  g_autoptr (GError) error = NULL;
  EmberAddr b = loopback4 (0);
  g_autoptr (EmberUdpSocket) tx = ember_udp_socket_new (&b, &error);
  g_assert_no_error (error);
  guint8 buf[16] = { 0 };
  EmberAddr dst = loopback4 (9);

  g_assert_false (ember_udp_socket_queue (tx, &dst, buf, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* An IPv6 destination on an IPv4-only socket is dropped and counted,
   * the rest of the queue still goes out. */
  EmberAddr v6 = { .family = EMBER_ADDR_IPV6, .port = 9 };
  v6.addr[15] = 1;
  g_assert_true (ember_udp_socket_queue (tx, &v6, buf, 8, &error));
  g_assert_true (ember_udp_socket_queue (tx, &dst, buf, 12, &error));
  g_test_expect_message ("ember-io", G_LOG_LEVEL_WARNING, "dropped 1 UDP datagrams*");
  g_assert_cmpint (ember_udp_socket_flush (tx, &error), ==, EMBER_POLL_READY);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  EmberUdpStats st;
  ember_udp_socket_get_stats (tx, &st);
  g_assert_cmpuint (st.datagrams_dropped, ==, 1);
  g_assert_cmpuint (st.datagrams_sent, ==, 1);
}

static void
test_addr_conversion (void)
{
  EmberAddr a = loopback4 (4242), back;
  guint8 sa[128];
  gsize len = ember_udp_addr_to_sockaddr (&a, AF_INET6, sa, sizeof sa);
  g_assert_cmpuint (len, >, 0);
  g_assert_true (ember_udp_addr_from_sockaddr (sa, len, &back));
  g_assert_cmpuint (back.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (back.port, ==, 4242);
  g_assert_cmpmem (back.addr, (int) (4), a.addr, (int) (4));
  g_assert_false (ember_udp_addr_from_sockaddr (sa, 1, &back));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/io/udp/loopback/mixed-batch-arrives-small-first-with-gso",
                   test_mixed_batch_gso);
  g_test_add_func ("/io/udp/loopback/mixed-batch-arrives-with-gso-forced-off",
                   test_mixed_batch_forced_plain);
  g_test_add_func ("/io/udp/loopback/mixed-batch-arrives-without-gro", test_mixed_batch_no_gro);
  g_test_add_func ("/io/udp/loopback/dual-stack-receiver-sees-ipv4-peer", test_mixed_batch_dual_stack);
  g_test_add_func ("/io/udp/queue/bad-datagrams-refused-or-counted", test_bad_datagrams_refused);
  g_test_add_func ("/io/udp/addr/v4-mapped-round-trip", test_addr_conversion);
  return g_test_run ();
}
