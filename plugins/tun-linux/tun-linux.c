/* tun-linux — the Linux TUN backend plugin (kind tun).
 *
 * Per device queue one reader and one writer thread (seed 004). Readers
 * feed one bounded receive channel that the core drains with
 * poll_recv_many() in batches; send() puts each packet on the write
 * channel of its flow's queue (flow.c), which that queue's writer thread
 * drains. A full write channel makes poll_send_ready() PENDING, and the
 * writer wakes the core when room frees: backpressure, no silent drop.
 * With offloads (offload.c) readers split super-packets and writers
 * coalesce each flow's packets into one GSO write.
 *
 * Threads: vtable functions run on the core's main thread; the workers
 * touch only their fd, their channel and atomics, and call
 * ember_waker_wake(). close() stops them through an eventfd that every
 * blocked poll() watches, then joins them.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ember-plugin.h"
#include "channel.h"
#include "config.h"
#include "device.h"
#include "flow.h"
#include "netlink.h"
#include "offload.h"

#define DEFAULT_LOG_DOMAIN "ember-tun"
/* seed 004: channels of about 1000 packets each way. */
#define CHANNEL_CAPACITY 1024
/* Packets a reader collects before one push, a writer takes per batch. */
#define READ_BATCH 64
#define WRITE_BATCH 128
#define SUPER_PACKET_MAX (65535 + TUN_VNET_HDR_LEN)

typedef struct {
  EmberBackend *be;
  guint index;
  int fd;
  GThread *reader;
  GThread *writer;
  TunChannel *out;
} TunQueue;

struct _EmberBackend {
  TunConfig config;
  TunDevice dev;
  char *log_domain;
  TunChannel *in;
  TunQueue queues[TUN_MAX_QUEUES];
  int stop_fd;          /* eventfd: readable once close() begins */
  gint stopping;
  gint failed;          /* a reader met a fatal error */
  guint64 rx_packets;   /* atomics (CNT_*), for logs */
  guint64 rx_errors;
  guint64 tx_packets;
  guint64 tx_drops;
  guint64 tx_gso_writes;  /* writes that carried a coalesced group */
  guint64 rx_gso_reads;   /* reads that were split into several packets */
};

#define CNT_ADD(field, v) __atomic_add_fetch (&(field), (guint64) (v), __ATOMIC_RELAXED)
#define CNT_GET(field) __atomic_load_n (&(field), __ATOMIC_RELAXED)

/* Pushes the collected packets; FALSE once the channel is closed. */
static gboolean
flush_reads (EmberBackend *be, const guint8 *const *ptrs, const gsize *lens, guint *n)
{
  guint pushed = tun_channel_push_wait (be->in, ptrs, lens, *n);
  gboolean all = pushed == *n;
  *n = 0;
  return all;
}

/* ---- Worker threads --------------------------------------------------- */

/* Waits for `events` on fd or for close(); FALSE when stopping. */
static gboolean
wait_fd (EmberBackend *be, int fd, short events)
{
  struct pollfd pfd[2] = {
    { .fd = fd, .events = events },
    { .fd = be->stop_fd, .events = POLLIN },
  };
  for (;;)
    {
      if (g_atomic_int_get (&be->stopping))
        return FALSE;
      int r = poll (pfd, 2, -1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 || (pfd[1].revents & POLLIN))
        return FALSE;
      if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
        return pfd[0].revents & events ? TRUE : FALSE;
      if (pfd[0].revents & events)
        return TRUE;
    }
}

static gpointer
reader_main (gpointer data)
{
  TunQueue *q = data;
  EmberBackend *be = q->be;
  gsize slot = tun_channel_slot_size (be->in);
  /* One byte more than a slot tells an oversized packet from a full one. */
  gsize stride = slot + 1;
  g_autofree guint8 *scratch = g_malloc (READ_BATCH * stride);
  g_autofree guint8 *super = be->dev.vnet_hdr ? g_malloc (SUPER_PACKET_MAX) : NULL;
  const guint8 *ptrs[READ_BATCH];
  gsize lens[READ_BATCH];
  guint n = 0;
  guint64 errors = 0;

  while (wait_fd (be, q->fd, POLLIN))
    {
      /* Read until the queue is empty, a bounded number of times so a
       * flood cannot keep us from checking for close(). */
      for (guint reads = 0; reads < READ_BATCH; reads++)
        {
          ssize_t r;
          if (super == NULL)
            r = read (q->fd, scratch + n * stride, stride);
          else
            r = read (q->fd, super, SUPER_PACKET_MAX);
          if (r < 0)
            {
              if (errno == EINTR)
                continue;
              if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
              if (errno == EBADF || errno == EBADFD || errno == EFAULT)
                {
                  g_log (be->log_domain, G_LOG_LEVEL_WARNING, "TUN queue %u read failed: %s",
                         q->index, g_strerror (errno));
                  g_atomic_int_set (&be->failed, 1);
                  goto out;
                }
              errors++;
              break;
            }

          if (super == NULL)
            {
              if ((gsize) r > slot)
                {
                  errors++;
                  continue;
                }
              ptrs[n] = scratch + n * stride;
              lens[n] = (gsize) r;
              if (++n == READ_BATCH && !flush_reads (be, ptrs, lens, &n))
                goto out;
              continue;
            }

          /* Offloads: one read may be a super-packet to cut up. */
          struct virtio_net_hdr hdr;
          TunSplit split;
          if ((gsize) r < TUN_VNET_HDR_LEN)
            {
              errors++;
              continue;
            }
          memcpy (&hdr, super, sizeof hdr);
          if (!tun_split_init (&split, &hdr, super + TUN_VNET_HDR_LEN,
                               (gsize) r - TUN_VNET_HDR_LEN))
            {
              errors++;
              continue;
            }
          if (!split.single)
            CNT_ADD (be->rx_gso_reads, 1);
          gssize m;
          while ((m = tun_split_next (&split, scratch + n * stride, slot)) > 0)
            {
              ptrs[n] = scratch + n * stride;
              lens[n] = (gsize) m;
              if (++n == READ_BATCH && !flush_reads (be, ptrs, lens, &n))
                goto out;
            }
          if (m < 0)
            errors++;
        }
      if (n > 0 && !flush_reads (be, ptrs, lens, &n))
        goto out;
      if (errors > 0)
        {
          /* Counted and logged once per read burst, never per packet. */
          CNT_ADD (be->rx_errors, errors);
          g_log (be->log_domain, G_LOG_LEVEL_WARNING,
                 "TUN queue %u: dropped %" G_GUINT64_FORMAT " malformed or oversized packets",
                 q->index, errors);
          errors = 0;
        }
    }
out:
  return NULL;
}

/* Writes one buffer (or GSO group); returns 0 or an errno. Waits for
 * POLLOUT on EAGAIN unless close() began. */
static int
write_iov (EmberBackend *be, TunQueue *q, struct iovec *iov, int iovcnt)
{
  for (;;)
    {
      ssize_t r = writev (q->fd, iov, iovcnt);
      if (r >= 0)
        return 0;
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        return errno;
      if (!wait_fd (be, q->fd, POLLOUT))
        return ECANCELED;
    }
}

static gpointer
writer_main (gpointer data)
{
  TunQueue *q = data;
  EmberBackend *be = q->be;
  guint8 *pkts[WRITE_BATCH];
  gsize lens[WRITE_BATCH];
  TunGsoGroup groups[WRITE_BATCH];
  gint next[WRITE_BATCH];
  struct iovec iov[WRITE_BATCH + 1];
  guint n;

  while ((n = tun_channel_take (q->out, pkts, lens, WRITE_BATCH)) > 0)
    {
      guint drops = 0;
      int last_err = 0;

      if (be->dev.vnet_hdr)
        {
          guint ng = tun_coalesce (pkts, lens, n, TRUE, be->dev.uso, groups, next);
          for (guint g = 0; g < ng; g++)
            {
              guint f = groups[g].first;
              iov[0].iov_base = &groups[g].hdr;
              iov[0].iov_len = TUN_VNET_HDR_LEN;
              iov[1].iov_base = pkts[f];
              iov[1].iov_len = lens[f];
              int cnt = 2;
              for (gint j = next[f]; j >= 0; j = next[j])
                {
                  iov[cnt].iov_base = pkts[j] + groups[g].hdrlen;
                  iov[cnt].iov_len = lens[j] - groups[g].hdrlen;
                  cnt++;
                }
              int err = write_iov (be, q, iov, cnt);
              if (err != 0)
                {
                  drops += groups[g].count;
                  last_err = err;
                }
              else if (groups[g].count > 1)
                CNT_ADD (be->tx_gso_writes, 1);
            }
        }
      else
        for (guint i = 0; i < n; i++)
          {
            iov[0].iov_base = pkts[i];
            iov[0].iov_len = lens[i];
            int err = write_iov (be, q, iov, 1);
            if (err != 0)
              {
                drops++;
                last_err = err;
              }
          }

      CNT_ADD (be->tx_packets, n - drops);
      tun_channel_release (q->out, n);
      if (drops > 0)
        {
          CNT_ADD (be->tx_drops, drops);
          g_log (be->log_domain, G_LOG_LEVEL_WARNING,
                 "TUN queue %u: the kernel refused %u of %u packets: %s", q->index, drops, n,
                 g_strerror (last_err));
        }
    }
  return NULL;
}

/* ---- Vtable ----------------------------------------------------------- */

static void tun_close (EmberBackend *be);

static gboolean
setup_interface (EmberBackend *be, GError **error)
{
  const TunConfig *c = &be->config;
  /* Addresses go on while the link is down, then the link comes up. The
   * kernel finishes IPv6 addresses asynchronously after that (they are
   * tentative, without a local route, and packets to them are dropped as
   * address errors), so open waits for them. */
  if (!tun_netlink_link_setup (be->dev.ifindex, c->mtu, c->txqueuelen, FALSE, error))
    return FALSE;
  for (guint i = 0; i < c->n_addresses; i++)
    if (!tun_netlink_address_add (be->dev.ifindex, &c->addresses[i], error))
      return FALSE;
  if (!tun_netlink_link_setup (be->dev.ifindex, c->mtu, -1, TRUE, error))
    return FALSE;
  gboolean ipv6 = FALSE;
  for (guint i = 0; i < c->n_addresses; i++)
    ipv6 |= c->addresses[i].family == 6;
  /* Open returns a device that answers on every address it was given. */
  if (ipv6 && !tun_netlink_wait_ipv6_ready (be->dev.ifindex, 2 * G_USEC_PER_SEC))
    g_warning ("%s: IPv6 addresses still tentative after 2 s; the first packets to them may "
               "be dropped", be->dev.name);
  for (guint i = 0; i < c->n_routes; i++)
    if (!tun_netlink_route (be->dev.ifindex, &c->routes[i], TRUE, error))
      return FALSE;
  return TRUE;
}

static EmberBackend *
tun_open (const EmberBackendArgs *args, GError **error)
{
  g_return_val_if_fail (args != NULL, NULL);

  EmberBackend *be = g_new0 (EmberBackend, 1);
  be->log_domain = g_strdup (args->log_domain != NULL ? args->log_domain : DEFAULT_LOG_DOMAIN);
  be->stop_fd = -1;
  for (guint i = 0; i < TUN_MAX_QUEUES; i++)
    be->dev.fds[i] = -1;

  if (!tun_config_parse (args->config, args->group, &be->config, error))
    goto fail;
  if (!tun_device_open (&be->dev, be->config.name, be->config.queues, be->config.offload,
                        be->log_domain, error))
    goto fail;
  if (!setup_interface (be, error))
    goto fail;

  be->stop_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (be->stop_fd < 0)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED, "eventfd: %s",
                   g_strerror (errno));
      goto fail;
    }

  be->in = tun_channel_new (CHANNEL_CAPACITY, be->config.mtu);
  for (guint i = 0; i < be->dev.n_queues; i++)
    {
      TunQueue *q = &be->queues[i];
      q->be = be;
      q->index = i;
      q->fd = be->dev.fds[i];
      q->out = tun_channel_new (CHANNEL_CAPACITY / be->dev.n_queues + 1, be->config.mtu);
    }
  for (guint i = 0; i < be->dev.n_queues; i++)
    {
      TunQueue *q = &be->queues[i];
      char name[16];
      g_snprintf (name, sizeof name, "tun-rd-%u", i);
      q->reader = g_thread_try_new (name, reader_main, q, error);
      if (q->reader == NULL)
        goto fail;
      g_snprintf (name, sizeof name, "tun-wr-%u", i);
      q->writer = g_thread_try_new (name, writer_main, q, error);
      if (q->writer == NULL)
        goto fail;
    }
  return be;

fail:
  tun_close (be);
  return NULL;
}

static gint
tun_poll_recv_many (EmberBackend *be, EmberWaker *waker, EmberPacket *batch, guint max,
                    GError **error)
{
  guint64 dropped = 0;
  guint n = tun_channel_pop_many (be->in, batch, max, waker, &dropped);
  if (n == 0 && g_atomic_int_get (&be->failed))
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CLOSED,
                   "TUN device %s failed", be->dev.name);
      return -1;
    }
  CNT_ADD (be->rx_packets, n - dropped);
  return (gint) n;
}

static EmberPoll
tun_poll_send_ready (EmberBackend *be, EmberWaker *waker, GError **error)
{
  (void) error;
  /* A send may land on any queue (its flow decides), so every queue must
   * have room; the first full one keeps the waker. */
  for (guint i = 0; i < be->dev.n_queues; i++)
    if (!tun_channel_poll_room (be->queues[i].out, waker))
      return EMBER_POLL_PENDING;
  return EMBER_POLL_READY;
}

static gboolean
tun_send (EmberBackend *be, const EmberPacket *packet, GError **error)
{
  if (packet->len == 0 || packet->len > be->config.mtu)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "packet of %" G_GSIZE_FORMAT " bytes does not fit the MTU of %s (%u)",
                   packet->len, be->dev.name, be->config.mtu);
      return FALSE;
    }
  guint v = packet->data[0] >> 4;
  if (v != 4 && v != 6)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "not an IP packet (version %u)", v);
      return FALSE;
    }
  guint q = tun_flow_queue (packet->data, packet->len, be->dev.n_queues);
  if (!tun_channel_try_push (be->queues[q].out, packet->data, packet->len))
    {
      CNT_ADD (be->tx_drops, 1);
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "send queue %u of %s is full: poll_send_ready() first", q, be->dev.name);
      return FALSE;
    }
  return TRUE;
}

static void
tun_close (EmberBackend *be)
{
  if (be == NULL)
    return;

  g_atomic_int_set (&be->stopping, 1);
  if (be->stop_fd >= 0)
    {
      guint64 one = 1;
      if (write (be->stop_fd, &one, sizeof one) < 0)
        g_log (be->log_domain, G_LOG_LEVEL_WARNING, "cannot signal the TUN threads: %s",
               g_strerror (errno));
    }
  if (be->in != NULL)
    tun_channel_close (be->in);
  for (guint i = 0; i < TUN_MAX_QUEUES; i++)
    if (be->queues[i].out != NULL)
      tun_channel_close (be->queues[i].out);
  for (guint i = 0; i < TUN_MAX_QUEUES; i++)
    {
      TunQueue *q = &be->queues[i];
      if (q->reader != NULL)
        g_thread_join (q->reader);
      if (q->writer != NULL)
        g_thread_join (q->writer);
      tun_channel_free (q->out);
    }
  tun_channel_free (be->in);

  if (be->dev.n_queues > 0)
    g_log (be->log_domain, G_LOG_LEVEL_INFO,
           "closing %s: %" G_GUINT64_FORMAT " packets in (%" G_GUINT64_FORMAT
           " GSO reads split), %" G_GUINT64_FORMAT " out (%" G_GUINT64_FORMAT
           " GSO writes), %" G_GUINT64_FORMAT " malformed in, %" G_GUINT64_FORMAT " dropped out",
           be->dev.name, CNT_GET (be->rx_packets), CNT_GET (be->rx_gso_reads),
           CNT_GET (be->tx_packets), CNT_GET (be->tx_gso_writes), CNT_GET (be->rx_errors),
           CNT_GET (be->tx_drops));
  /* The interface was created non-persistent by us: closing the last
   * queue removes it, with its addresses and routes. */
  tun_device_close (&be->dev);
  if (be->stop_fd >= 0)
    close (be->stop_fd);
  tun_config_clear (&be->config);
  g_free (be->log_domain);
  g_free (be);
}

static gboolean
tun_validate_config (GKeyFile *config, const char *group, GError **error)
{
  TunConfig c;
  if (!tun_config_parse (config, group, &c, error))
    return FALSE;
  tun_config_clear (&c);
  return TRUE;
}

static gboolean
route_change (EmberBackend *be, const char *cidr, gboolean add, GError **error)
{
  g_autoptr (GError) local = NULL;
  EmberCidr c;
  if (!ember_cidr_parse (cidr, EMBER_CIDR_PARSE_BARE, &c, &local))
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG, "route: %s",
                   local->message);
      return FALSE;
    }
  return tun_netlink_route (be->dev.ifindex, &c, add, error);
}

static gboolean
tun_add_route (EmberBackend *be, const char *cidr, GError **error)
{
  return route_change (be, cidr, TRUE, error);
}

static gboolean
tun_remove_route (EmberBackend *be, const char *cidr, GError **error)
{
  return route_change (be, cidr, FALSE, error);
}

EMBER_PLUGIN_EXPORT const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberBackendVtable vtable = {
    .open = tun_open,
    .poll_recv_many = tun_poll_recv_many,
    .poll_send_ready = tun_poll_send_ready,
    .send = tun_send,
    .close = tun_close,
    .validate_config = tun_validate_config,
    .add_route = tun_add_route,
    .remove_route = tun_remove_route,
  };
  static const EmberPluginInfo info = {
    .abi_major = EMBER_PLUGIN_ABI_MAJOR,
    .abi_minor = EMBER_PLUGIN_ABI_MINOR,
    .name = "tun-linux",
    .kind = EMBER_PLUGIN_KIND_TUN,
    .description = "Linux /dev/net/tun: multi-queue threads, TSO/USO offloads, rtnetlink set-up",
    .vtable_size = sizeof vtable,
    .vtable = &vtable,
  };
  return &info;
}
