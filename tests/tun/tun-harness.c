/* tun-harness — the far end of the TUN for tests and benchmarks. */
#include "tun-harness.h"

#include "csum.h"
#include "ember-build-config.h"
#include "loader.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define SLOT 1500
#define BATCH EMBER_BATCH_MAX

typedef struct {
  EmberWaker base;
  int fd;
  gint count;
} EfdWaker;

struct _TunHarness {
  EmberBackend *be;
  EfdWaker rx_waker;
  EfdWaker tx_waker;
  TunHarnessStats stats;
  guint8 *mem;
  EmberPacket batch[BATCH];
};

static EmberPlugin *plugin;
/* Each open uses a fresh IPv6 prefix fd77:<generation>::/64: when a
 * device is deleted and one with the same address is created at once,
 * the kernel may still be removing the old local route for it. */
static guint generation;
static guint64 last_gso_reads, last_gso_writes;

/* Keeps the counters of the plugin's closing log line, then logs as
 * usual. */
static void
plugin_log (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  guint64 in, reads, out, writes;
  if (sscanf (message, "closing " TUN_HARNESS_IFNAME ": %" G_GUINT64_FORMAT
              " packets in (%" G_GUINT64_FORMAT " GSO reads split), %" G_GUINT64_FORMAT
              " out (%" G_GUINT64_FORMAT " GSO writes)", &in, &reads, &out, &writes) == 4)
    {
      last_gso_reads = reads;
      last_gso_writes = writes;
    }
  g_log_default_handler (domain, level, message, data);
}

void
tun_harness_last_gso (guint64 *reads, guint64 *writes)
{
  *reads = last_gso_reads;
  *writes = last_gso_writes;
}

static void
efd_wake (EmberWaker *w)
{
  EfdWaker *e = (EfdWaker *) w;
  guint64 one = 1;
  g_atomic_int_inc (&e->count);
  if (write (e->fd, &one, sizeof one) < 0)
    g_assert_not_reached ();
}

static gboolean
efd_wait (EfdWaker *e, int timeout_ms)
{
  struct pollfd pfd = { .fd = e->fd, .events = POLLIN };
  if (poll (&pfd, 1, timeout_ms) <= 0)
    return FALSE;
  guint64 v;
  if (read (e->fd, &v, sizeof v) < 0 && errno != EAGAIN)
    g_assert_not_reached ();
  return TRUE;
}

gboolean
tun_harness_init (const char **skip_reason)
{
  if (plugin != NULL)
    return TRUE;
  /* IPv6 delivers to local addresses through the loopback device, which
   * starts down in a fresh namespace. */
  const char *lo_up[] = { "ip", "link", "set", "lo", "up", NULL };
  gint status = 0;
  if (!g_spawn_sync (NULL, (char **) lo_up, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                     &status, NULL) ||
      !g_spawn_check_wait_status (status, NULL))
    {
      *skip_reason = "cannot bring up lo in the test namespace (is iproute2 installed?)";
      return FALSE;
    }
  const char *root = g_getenv ("EMBER_BUILD_ROOT");
  g_autofree char *path =
    g_build_filename (root != NULL ? root : EMBER_BUILD_ROOT, "plugins", "tun-linux",
                      "tun-linux.so", NULL);
  g_autoptr (GError) error = NULL;
  plugin = ember_plugin_load (path, EMBER_PLUGIN_DIR_BUILD, &error);
  if (plugin == NULL)
    {
      *skip_reason = g_intern_string (error->message);
      return FALSE;
    }
  g_assert_cmpint (plugin->kind, ==, EMBER_PLUGIN_KIND_TUN);
  g_log_set_handler ("ember-tun", G_LOG_LEVEL_INFO, plugin_log, NULL);
  return TRUE;
}

TunHarness *
tun_harness_open (const char *extra, GError **error)
{
  generation = (generation + 1) & 0xffff;
  g_autofree char *text = g_strdup_printf (
    "[tun-linux]\nname=" TUN_HARNESS_IFNAME "\nmtu=1280\n"
    "address=10.77.0.1/24;10.77.1.1/24;fd77:%x::1/64\n%s",
    generation, extra != NULL ? extra : "");
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_data (kf, text, (gsize) -1, G_KEY_FILE_NONE, error))
    return NULL;
  EmberBackendArgs args = { .config = kf, .group = "tun-linux", .log_domain = "ember-tun" };
  EmberBackend *be = plugin->io.open (&args, error);
  if (be == NULL)
    return NULL;

  TunHarness *h = g_new0 (TunHarness, 1);
  h->be = be;
  h->rx_waker = (EfdWaker) { .base.wake = efd_wake,
                             .fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK) };
  h->tx_waker = (EfdWaker) { .base.wake = efd_wake,
                             .fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK) };
  h->mem = g_malloc ((gsize) BATCH * SLOT);
  return h;
}

void
tun_harness_free (TunHarness *h)
{
  if (h == NULL)
    return;
  plugin->io.close (h->be);
  close (h->rx_waker.fd);
  close (h->tx_waker.fd);
  g_free (h->mem);
  g_free (h);
}

const EmberBackendVtable *
tun_harness_vtable (TunHarness *h)
{
  (void) h;
  return &plugin->io;
}

EmberBackend *
tun_harness_backend (TunHarness *h)
{
  return h->be;
}

void
tun_harness_v6_peer (TunHarness *h, guint8 addr[16])
{
  (void) h;
  memset (addr, 0, 16);
  addr[0] = 0xfd;
  addr[1] = 0x77;
  addr[2] = (guint8) (generation >> 8);
  addr[3] = (guint8) generation;
  addr[15] = 2;
}

const TunHarnessStats *
tun_harness_stats (TunHarness *h)
{
  return &h->stats;
}

static gboolean
in_reflect_range (const guint8 *a)
{
  return a[0] == 10 && a[1] == 77 && a[2] <= 1;
}

/* Turns a packet from the kernel into the answer the far end would send.
 * FALSE: nothing to send (router solicitations, MLD, ...). */
static gboolean
reflect (TunHarness *h, guint8 *p, gsize len)
{
  if (len >= 20 && p[0] >> 4 == 4)
    {
      gsize ihl = (gsize) (p[0] & 0x0f) * 4;
      if (ihl < 20 || ihl + 8 > len)
        return FALSE;
      guint8 a[4];
      if (p[9] == 1 && p[ihl] == 8)
        {
          memcpy (a, p + 12, 4);
          memmove (p + 12, p + 16, 4);
          memcpy (p + 16, a, 4);
          p[ihl] = 0;
          p[ihl + 2] = p[ihl + 3] = 0;
          tun_write16 (p + ihl + 2, (guint16) ~tun_csum_fold (tun_csum_add (0, p + ihl, len - ihl)));
          h->stats.echo_replies++;
          return TRUE;
        }
      if ((p[9] == 6 || p[9] == 17) && in_reflect_range (p + 12) && in_reflect_range (p + 16))
        {
          memcpy (a, p + 12, 4);
          memcpy (p + 12, p + 16, 4);
          memcpy (p + 16, a, 4);
          p[14] ^= 1;
          p[18] ^= 1;
          h->stats.reflected++;
          return TRUE;
        }
      return FALSE;
    }
  if (len >= 48 && p[0] >> 4 == 6 && p[6] == 58 && p[40] == 128)
    {
      guint8 a[16];
      memcpy (a, p + 8, 16);
      memmove (p + 8, p + 24, 16);
      memcpy (p + 24, a, 16);
      p[40] = 129;
      p[42] = p[43] = 0;
      guint64 sum = tun_csum_pseudo (6, p + 8, p + 24, 58, (guint32) (len - 40));
      tun_write16 (p + 42, (guint16) ~tun_csum_fold (tun_csum_add (sum, p + 40, len - 40)));
      h->stats.echo_replies++;
      return TRUE;
    }
  return FALSE;
}

static void
send_one (TunHarness *h, const EmberPacket *p)
{
  GError *error = NULL;
  for (;;)
    {
      EmberPoll r = plugin->io.poll_send_ready (h->be, &h->tx_waker.base, &error);
      g_assert_no_error (error);
      if (r == EMBER_POLL_READY)
        break;
      h->stats.send_pending++;
      /* The writer thread wakes us when room frees; 2 s is "never". */
      g_assert_true (efd_wait (&h->tx_waker, 2000));
    }
  g_assert_true (plugin->io.send (h->be, p, &error));
  g_assert_no_error (error);
  h->stats.packets_out++;
}

static void
pump (TunHarness *h, int timeout_ms, gboolean answer)
{
  gboolean first = TRUE;
  for (;;)
    {
      for (guint i = 0; i < BATCH; i++)
        h->batch[i] = (EmberPacket) { .data = h->mem + (gsize) i * SLOT, .capacity = SLOT };
      GError *error = NULL;
      gint n = plugin->io.poll_recv_many (h->be, &h->rx_waker.base, h->batch, BATCH, &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        {
          if (!first || !efd_wait (&h->rx_waker, timeout_ms))
            return;
          first = FALSE;
          continue;
        }
      first = FALSE;
      for (gint i = 0; i < n; i++)
        {
          EmberPacket *p = &h->batch[i];
          g_assert_cmpint (p->error, ==, 0);
          h->stats.packets_in++;
          h->stats.bytes_in += p->len;
          if (answer && reflect (h, p->data, p->len))
            send_one (h, p);
        }
    }
}

void
tun_harness_pump (TunHarness *h, int timeout_ms)
{
  pump (h, timeout_ms, TRUE);
}

void
tun_harness_pump_sink (TunHarness *h, int timeout_ms)
{
  pump (h, timeout_ms, FALSE);
}

gboolean
tun_harness_has_route (TunHarness *h, const char *cidr)
{
  (void) h;
  const char *fam = strchr (cidr, ':') != NULL ? "-6" : "-4";
  const char *argv[] = { "ip", fam, "-o", "route", "show", "dev", TUN_HARNESS_IFNAME, NULL };
  g_autofree char *out = NULL;
  gint status = 0;
  g_autoptr (GError) error = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, &status, &error))
    g_error ("cannot run ip: %s", error->message);
  g_autofree char *needle = g_strdup_printf ("%s ", cidr);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], needle))
      return TRUE;
  return FALSE;
}

/* ---- Sockets ------------------------------------------------------------ */

static int
inet_socket (int type, guint32 addr, guint16 port)
{
  int fd = socket (AF_INET, type | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  int one = 1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (addr) };
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  struct timeval tv = { .tv_sec = 5 };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

#define A_CLIENT 0x0a4d0001u /* 10.77.0.1 */
#define A_SERVER 0x0a4d0101u /* 10.77.1.1 */
#define A_FAR_SERVER 0x0a4d0102u /* 10.77.1.2: reflected to A_SERVER */

static guint8
pattern (gsize i)
{
  return (guint8) (i * 31 + 7 + (i >> 12));
}

static gpointer
stream_client (gpointer data)
{
  TunStream *st = data;
  int fd = inet_socket (SOCK_STREAM, A_CLIENT, 0);
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons (5201),
                            .sin_addr.s_addr = htonl (A_FAR_SERVER) };
  if (connect (fd, (struct sockaddr *) &to, sizeof to) == 0)
    {
      guint8 buf[65536];
      gsize sent = 0;
      while (sent < st->total && !g_atomic_int_get (&st->stop))
        {
          gsize n = MIN (sizeof buf, st->total - sent);
          for (gsize i = 0; i < n; i++)
            buf[i] = pattern (sent + i);
          ssize_t w = send (fd, buf, n, MSG_NOSIGNAL);
          if (w <= 0)
            break;
          sent += (gsize) w;
          /* Regenerate from the new offset next time (short writes). */
        }
      shutdown (fd, SHUT_WR);
    }
  close (fd);
  return NULL;
}

static gpointer
stream_server (gpointer data)
{
  TunStream *st = data;
  struct pollfd pfd = { .fd = st->listen_fd, .events = POLLIN };
  if (poll (&pfd, 1, 10000) == 1)
    {
      int fd = accept4 (st->listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0)
        {
          struct timeval tv = { .tv_sec = 5 };
          setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
          guint8 buf[65536];
          gsize got = 0;
          gboolean good = TRUE;
          while (!g_atomic_int_get (&st->stop))
            {
              ssize_t r = recv (fd, buf, sizeof buf, 0);
              if (r <= 0)
                break;
              for (gsize i = 0; i < (gsize) r && good; i++)
                good = buf[i] == pattern (got + i);
              got += (gsize) r;
              if (good)
                st->verified = got;
            }
          close (fd);
        }
    }
  g_atomic_int_set (&st->done, 1);
  return NULL;
}

gboolean
tun_stream_start (TunStream *st, gsize total, GError **error)
{
  (void) error;
  memset (st, 0, sizeof *st);
  st->total = total;
  st->listen_fd = inet_socket (SOCK_STREAM, A_SERVER, 5201);
  g_assert_cmpint (listen (st->listen_fd, 4), ==, 0);
  st->server = g_thread_new ("stream-server", stream_server, st);
  st->client = g_thread_new ("stream-client", stream_client, st);
  return TRUE;
}

gboolean
tun_stream_done (TunStream *st)
{
  return g_atomic_int_get (&st->done) != 0;
}

gsize
tun_stream_finish (TunStream *st)
{
  g_atomic_int_set (&st->stop, 1);
  g_thread_join (st->client);
  g_thread_join (st->server);
  close (st->listen_fd);
  return st->verified;
}

guint
tun_udp_echo_run (TunHarness *h, guint count, gsize size, gboolean gso)
{
  int tx = inet_socket (SOCK_DGRAM, A_CLIENT, 0);
  int rx = inet_socket (SOCK_DGRAM, A_SERVER, 7777);
  int big = 32 << 20;
  setsockopt (rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons (7777),
                            .sin_addr.s_addr = htonl (A_FAR_SERVER) };
  g_autofree gboolean *seen = g_new0 (gboolean, count);
  g_autofree guint8 *buf = g_malloc (32 * size);
  guint got = 0;

  for (guint seq = 0; seq < count;)
    {
      guint burst = MIN (32u, count - seq);
      for (guint k = 0; k < burst; k++)
        {
          guint8 *d = buf + k * size;
          for (gsize i = 0; i < size; i++)
            d[i] = (guint8) (i + seq + k);
          tun_write32 (d, seq + k);
        }
      if (gso)
        {
          union {
            char b[CMSG_SPACE (sizeof (guint16))];
            size_t align;
          } ctrl;
          struct iovec iov = { .iov_base = buf, .iov_len = burst * size };
          struct msghdr m = { .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov,
                              .msg_iovlen = 1, .msg_control = ctrl.b,
                              .msg_controllen = sizeof ctrl.b };
          struct cmsghdr *c = CMSG_FIRSTHDR (&m);
          c->cmsg_level = SOL_UDP;
          c->cmsg_type = UDP_SEGMENT;
          c->cmsg_len = CMSG_LEN (sizeof (guint16));
          guint16 seg = (guint16) size;
          memcpy (CMSG_DATA (c), &seg, sizeof seg);
          g_assert_cmpint (sendmsg (tx, &m, 0), ==, (gssize) (burst * size));
        }
      else
        for (guint k = 0; k < burst; k++)
          g_assert_cmpint (sendto (tx, buf + k * size, size, 0, (struct sockaddr *) &to, sizeof to),
                           ==, (gssize) size);
      seq += burst;
      tun_harness_pump (h, 5);
    }

  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  guint8 in[65536];
  while (got < count && g_get_monotonic_time () < deadline)
    {
      tun_harness_pump (h, 5);
      ssize_t n;
      while ((n = recv (rx, in, sizeof in, MSG_DONTWAIT)) > 0)
        {
          if ((gsize) n != size)
            continue;
          guint32 seq = tun_read32 (in);
          gboolean ok = seq < count;
          for (gsize i = 4; ok && i < size; i++)
            ok = in[i] == (guint8) (i + seq);
          if (ok && !seen[seq])
            {
              seen[seq] = TRUE;
              got++;
            }
        }
    }
  close (tx);
  close (rx);
  return got;
}

/* ---- Flood -------------------------------------------------------------- */

static gsize
make_udp (guint8 *p, guint16 dport, guint32 seq)
{
  const gsize len = 20 + 8 + 64;
  memset (p, 0, 28);
  p[0] = 0x45;
  tun_write16 (p + 2, (guint16) len);
  p[6] = 0x40;
  p[8] = 64;
  p[9] = 17;
  tun_write32 (p + 12, 0x0a4d0002u);
  tun_write32 (p + 16, A_CLIENT);
  tun_write16 (p + 10, (guint16) ~tun_csum_fold (tun_csum_add (0, p, 20)));
  tun_write16 (p + 20, 9999);
  tun_write16 (p + 22, dport);
  tun_write16 (p + 24, (guint16) (len - 20));
  /* UDP checksum 0: none (RFC 768), fine over IPv4. */
  tun_write32 (p + 28, seq);
  for (gsize i = 32; i < len; i++)
    p[i] = (guint8) i;
  return len;
}

static void
drain (int rx, guint8 *seen, guint count, TunFloodResult *r)
{
  guint8 in[256];
  ssize_t n;
  while ((n = recv (rx, in, sizeof in, MSG_DONTWAIT)) >= 4)
    {
      guint32 seq = tun_read32 (in);
      if (seq >= count)
        continue;
      if (seen[seq])
        r->duplicates++;
      else
        {
          seen[seq] = 1;
          r->received++;
        }
    }
}

void
tun_harness_flood (TunHarness *h, guint count, gint64 budget_us, TunFloodResult *r)
{
  memset (r, 0, sizeof *r);
  int rx = inet_socket (SOCK_DGRAM, A_CLIENT, 7000);
  int big = 64 << 20;
  setsockopt (rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  g_autofree guint8 *seen = g_malloc0 (count);
  guint8 pkt[128];
  gint wakes0 = g_atomic_int_get (&h->tx_waker.count);
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + budget_us;

  while (r->sent < count && g_get_monotonic_time () < deadline)
    {
      GError *error = NULL;
      EmberPoll ready = plugin->io.poll_send_ready (h->be, &h->tx_waker.base, &error);
      g_assert_no_error (error);
      if (ready == EMBER_POLL_PENDING)
        {
          r->pending++;
          drain (rx, seen, count, r);
          efd_wait (&h->tx_waker, 1000);
          continue;
        }
      EmberPacket p = { .data = pkt, .capacity = sizeof pkt };
      p.len = make_udp (pkt, 7000, (guint32) r->sent);
      if (plugin->io.send (h->be, &p, &error))
        r->sent++;
      else
        {
          r->refused++;
          g_clear_error (&error);
        }
      if ((r->sent & 255) == 0)
        drain (rx, seen, count, r);
    }
  while (r->received < r->sent && g_get_monotonic_time () < deadline + 2 * G_USEC_PER_SEC)
    {
      struct pollfd pfd = { .fd = rx, .events = POLLIN };
      poll (&pfd, 1, 10);
      drain (rx, seen, count, r);
    }
  r->elapsed_us = g_get_monotonic_time () - start;
  r->wakes = (guint64) (g_atomic_int_get (&h->tx_waker.count) - wakes0);
  close (rx);
}
