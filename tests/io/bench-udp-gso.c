/* bench-udp-gso — send rate of core/io/udp.c with GSO and with the plain
 * sendmmsg() path, in one run, on loopback.
 *
 * Not a test: bench/tun-udp.sh runs it. For each mode a sender queues
 * 1200-byte datagrams (WireGuard-sized) to a receiver on 127.0.0.1 and
 * flushes in bursts of 64; a receiver thread drains with recv_many (GRO
 * on). Output: "mode sent_pps sent_gbps recv_pps syscalls_per_dgram".
 */
#include "io/udp.h"

#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#define SIZE 1200
#define BURST 64

typedef struct {
  EmberUdpSocket *rx;
  gint stop;
  guint64 received;
} Receiver;

static gpointer
receive (gpointer data)
{
  Receiver *r = data;
  g_autofree guint8 *mem = g_malloc ((gsize) 16 * 65536);
  EmberPacket batch[16];
  while (!g_atomic_int_get (&r->stop))
    {
      struct pollfd pfd = { .fd = ember_udp_socket_get_fd (r->rx), .events = POLLIN };
      if (poll (&pfd, 1, 50) <= 0)
        continue;
      for (guint i = 0; i < 16; i++)
        batch[i] = (EmberPacket) { .data = mem + (gsize) i * 65536, .capacity = 65536 };
      gint n = ember_udp_socket_recv_many (r->rx, batch, 16, NULL);
      for (gint i = 0; i < n; i++)
        r->received += batch[i].segment_size
                         ? (batch[i].len + batch[i].segment_size - 1) / batch[i].segment_size
                         : 1;
    }
  return NULL;
}

static void
run (const char *label, gboolean gso, double seconds)
{
  EmberAddr lo = { .family = EMBER_ADDR_IPV4, .addr = { 127, 0, 0, 1 } };
  g_autoptr (GError) error = NULL;
  EmberUdpSocket *rx = ember_udp_socket_new (&lo, &error);
  EmberUdpSocket *tx = ember_udp_socket_new (&lo, &error);
  if (rx == NULL || tx == NULL)
    {
      printf ("%-8s error: %s\n", label, error->message);
      return;
    }
  int big = 32 << 20;
  setsockopt (ember_udp_socket_get_fd (rx), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  setsockopt (ember_udp_socket_get_fd (rx), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  ember_udp_socket_set_gso (tx, gso);
  EmberAddr dst;
  ember_udp_socket_get_local (rx, &dst, NULL);

  Receiver r = { .rx = rx };
  GThread *t = g_thread_new ("rx", receive, &r);
  guint8 buf[SIZE];
  memset (buf, 0x5a, sizeof buf);
  gint64 start = g_get_monotonic_time ();
  gint64 end = start + (gint64) (seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time () < end)
    {
      for (guint i = 0; i < BURST; i++)
        if (!ember_udp_socket_queue (tx, &dst, buf, sizeof buf, NULL))
          break;
      if (ember_udp_socket_flush (tx, NULL) == EMBER_POLL_PENDING)
        {
          struct pollfd pfd = { .fd = ember_udp_socket_get_fd (tx), .events = POLLOUT };
          poll (&pfd, 1, 10);
        }
    }
  gint64 us = g_get_monotonic_time () - start;
  g_usleep (100000);
  g_atomic_int_set (&r.stop, 1);
  g_thread_join (t);

  EmberUdpStats st;
  ember_udp_socket_get_stats (tx, &st);
  double pps = (double) st.datagrams_sent / ((double) us / 1e6);
  printf ("%-8s %12.0f %10.3f %12.0f %10.4f\n", label, pps, pps * SIZE * 8 / 1e9,
          (double) r.received / ((double) us / 1e6),
          st.datagrams_sent ? (double) st.send_syscalls / (double) st.datagrams_sent : 0.0);
  fflush (stdout);
  ember_udp_socket_free (tx);
  ember_udp_socket_free (rx);
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 3.0;
  if (seconds <= 0 || seconds > 60)
    seconds = 3.0;
  printf ("%-8s %12s %10s %12s %10s\n", "mode", "sent_pps", "sent_gbps", "recv_pps",
          "sys/dgram");
  run ("gso", TRUE, seconds);
  run ("plain", FALSE, seconds);
  return 0;
}
