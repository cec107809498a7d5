/* bench-tun — throughput of the tun-linux plugin in its modes, one run.
 *
 * Not a test: bench/tun-udp.sh runs it (as root) and prints ratios. In a
 * network namespace of its own, for each mode (plain, 2 and 4 queues,
 * offloads, offloads with 2 queues) it measures
 *   - tcp:   one TCP stream through the reflecting far end (every byte
 *            crosses the TUN twice: read and write), Gbit/s of payload;
 *   - write: crafted 92-byte UDP packets written through the plugin to a
 *            local socket, packets/s received;
 *   - read:  64-byte UDP datagrams a socket sends into the TUN, packets/s
 *            the plugin hands to us.
 * Output: one line per mode, "mode tcp_gbps write_pps read_pps".
 */
#include "tun-harness.h"

#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  gint stop;
  guint64 sent;
} Blaster;

static gpointer
blast (gpointer data)
{
  Blaster *b = data;
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons (9),
                            .sin_addr.s_addr = htonl (0x0a4d0002) };
  guint8 payload[64] = { 0 };
  struct mmsghdr msgs[64];
  struct iovec iov = { .iov_base = payload, .iov_len = sizeof payload };
  for (guint i = 0; i < 64; i++)
    msgs[i] = (struct mmsghdr) { .msg_hdr = { .msg_name = &to, .msg_namelen = sizeof to,
                                              .msg_iov = &iov, .msg_iovlen = 1 } };
  while (!g_atomic_int_get (&b->stop))
    {
      int r = sendmmsg (fd, msgs, 64, 0);
      if (r > 0)
        b->sent += (guint64) r;
      else
        g_usleep (100);
    }
  close (fd);
  return NULL;
}

static void
run_mode (const char *label, const char *config, double seconds)
{
  g_autoptr (GError) error = NULL;
  TunHarness *h = tun_harness_open (config, &error);
  if (h == NULL)
    {
      printf ("%-16s error: %s\n", label, error->message);
      return;
    }

  /* TCP through the reflector, bounded in bytes and time. */
  TunStream st;
  tun_stream_start (&st, (gsize) 4 << 30, NULL);
  gint64 start = g_get_monotonic_time ();
  gint64 end = start + (gint64) (seconds * G_USEC_PER_SEC);
  while (!tun_stream_done (&st) && g_get_monotonic_time () < end)
    tun_harness_pump (h, 5);
  gint64 tcp_us = g_get_monotonic_time () - start;
  gsize bytes = tun_stream_finish (&st);
  /* Let the stream's last packets drain before the next phase. */
  for (int i = 0; i < 20; i++)
    tun_harness_pump (h, 5);
  double gbps = (double) bytes * 8 / ((double) tcp_us * 1000.0);

  TunFloodResult fr;
  tun_harness_flood (h, 300000, (gint64) (seconds * G_USEC_PER_SEC), &fr);
  double write_pps = (double) fr.received / ((double) fr.elapsed_us / 1e6);
  fprintf (stderr, "%s flood: sent %" G_GUINT64_FORMAT " received %" G_GUINT64_FORMAT
           " pending %" G_GUINT64_FORMAT " wakes %" G_GUINT64_FORMAT " in %.3f s\n",
           label, fr.sent, fr.received, fr.pending, fr.wakes, (double) fr.elapsed_us / 1e6);

  Blaster b = { 0 };
  guint64 in0 = tun_harness_stats (h)->packets_in;
  GThread *t = g_thread_new ("blast", blast, &b);
  start = g_get_monotonic_time ();
  end = start + (gint64) (seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time () < end)
    tun_harness_pump_sink (h, 5);
  gint64 read_us = g_get_monotonic_time () - start;
  g_atomic_int_set (&b.stop, 1);
  g_thread_join (t);
  double read_pps = (double) (tun_harness_stats (h)->packets_in - in0) / ((double) read_us / 1e6);

  printf ("%-16s %8.3f %12.0f %12.0f\n", label, gbps, write_pps, read_pps);
  fflush (stdout);
  tun_harness_free (h);
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 3.0;
  if (seconds <= 0 || seconds > 60)
    seconds = 3.0;
  if (getuid () != 0 || unshare (CLONE_NEWNET) != 0)
    {
      fprintf (stderr, "bench-tun: needs root (a network namespace and a TUN device)\n");
      return 77;
    }
  const char *skip = NULL;
  if (!tun_harness_init (&skip))
    {
      fprintf (stderr, "bench-tun: %s\n", skip);
      return 77;
    }
  /* Quiet: the plugin's info lines would interleave with the table. */
  g_log_set_handler ("ember-tun", G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG, g_log_default_handler,
                     NULL);
  printf ("%-16s %8s %12s %12s\n", "mode", "tcp_gbps", "write_pps", "read_pps");
  run_mode ("plain", "queues=1\noffload=false\n", seconds);
  run_mode ("mq2", "queues=2\noffload=false\n", seconds);
  run_mode ("mq4", "queues=4\noffload=false\n", seconds);
  run_mode ("offload", "queues=1\noffload=true\n", seconds);
  run_mode ("offload+mq2", "queues=2\noffload=true\n", seconds);
  return 0;
}
