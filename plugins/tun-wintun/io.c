/* io — receive and send threads of a Wintun session. See io.h. */
#include "io.h"

#include <errno.h>
#include <string.h>

/* The bounded channel of tun-linux, shared rather than copied. */
#include "../tun-linux/channel.h"
#include "ring.h"

/* Packets the receive thread takes off the ring before one push, and the
 * send thread takes off its channel per run. */
#define READ_BATCH 64
#define WRITE_BATCH 128
/* Back-off while the send ring is full: the driver empties it on its
 * own, without an event to wait for. */
#define FULL_BACKOFF_MIN_US 200
#define FULL_BACKOFF_MAX_US (16 * 1000)

typedef enum {
  END_NONE = 0,
  END_EOF = 1,    /* ERROR_HANDLE_EOF: the adapter went away */
  END_BROKEN = 2, /* another error on a ring */
} EndState;

struct _WintunIo {
  const WintunSessionOps *ops;
  void *session;
  char *name;
  char *log_domain;
  guint mtu;
  TunChannel *in;
  TunChannel *out;
  GThread *reader;
  GThread *writer;
  gint stopping;

  /* The end of either ring, and the wakers to call when it comes: a
   * closed channel forgets its wakers without calling them. */
  GMutex lock;
  GCond stop_cond;
  EndState rx_end;
  EndState tx_end;
  guint32 rx_err;
  guint32 tx_err;
  EmberWaker *recv_waker;
  EmberWaker *send_waker;

  WintunIoStats stats;  /* atomics */
};

#define CNT_ADD(field, v) __atomic_add_fetch (&(field), (guint64) (v), __ATOMIC_RELAXED)
#define CNT_GET(field) __atomic_load_n (&(field), __ATOMIC_RELAXED)

static void
set_end (WintunIo *io, gboolean rx, EndState end, guint32 err)
{
  g_mutex_lock (&io->lock);
  if (rx)
    {
      io->rx_end = end;
      io->rx_err = err;
    }
  else
    {
      io->tx_end = end;
      io->tx_err = err;
    }
  EmberWaker *w = rx ? io->recv_waker : io->send_waker;
  if (rx)
    io->recv_waker = NULL;
  else
    io->send_waker = NULL;
  g_mutex_unlock (&io->lock);
  ember_waker_wake (w);
}

static gpointer
reader_main (gpointer data)
{
  WintunIo *io = data;
  g_autofree guint8 *buf = g_malloc ((gsize) READ_BATCH * io->mtu);
  const guint8 *ptrs[READ_BATCH];
  gsize lens[READ_BATCH];

  for (guint i = 0; i < READ_BATCH; i++)
    ptrs[i] = buf + (gsize) i * io->mtu;
  while (!g_atomic_int_get (&io->stopping))
    {
      WintunRingStatus st;
      guint32 err;
      guint64 oversized = 0;
      guint n = wintun_ring_receive (io->ops, io->session, buf, io->mtu, lens, READ_BATCH,
                                     &oversized, &st, &err);
      if (oversized > 0)
        {
          /* Counted and logged once per batch, never per packet. */
          CNT_ADD (io->stats.rx_oversized, oversized);
          g_log (io->log_domain, G_LOG_LEVEL_WARNING,
                 "%s: dropped %" G_GUINT64_FORMAT " received packets longer than the MTU (%u)",
                 io->name, oversized, io->mtu);
        }
      if (n > 0)
        {
          guint pushed = tun_channel_push_wait (io->in, ptrs, lens, n);
          CNT_ADD (io->stats.rx_packets, pushed);
          if (pushed < n)
            break; /* closed: stopping */
        }
      switch (st)
        {
        case WINTUN_RING_OK:
          continue;
        case WINTUN_RING_EMPTY:
          if (io->ops->wait_readable (io->session, G_MAXUINT) == WINTUN_WAIT_STOPPED)
            return NULL;
          continue;
        case WINTUN_RING_EOF:
          set_end (io, TRUE, END_EOF, err);
          return NULL;
        case WINTUN_RING_FULL:
        case WINTUN_RING_BROKEN:
        default:
          g_log (io->log_domain, G_LOG_LEVEL_WARNING,
                 "%s: WintunReceivePacket failed with error %u", io->name, err);
          set_end (io, TRUE, END_BROKEN, err);
          return NULL;
        }
    }
  return NULL;
}

/* Waits `us` microseconds or until stop; FALSE when stopping. */
static gboolean
backoff (WintunIo *io, gint64 us)
{
  gint64 until = g_get_monotonic_time () + us;
  g_mutex_lock (&io->lock);
  while (!g_atomic_int_get (&io->stopping))
    if (!g_cond_wait_until (&io->stop_cond, &io->lock, until))
      break;
  g_mutex_unlock (&io->lock);
  return !g_atomic_int_get (&io->stopping);
}

static gpointer
writer_main (gpointer data)
{
  WintunIo *io = data;
  guint8 *pkts[WRITE_BATCH];
  gsize lens[WRITE_BATCH];
  guint n;

  while ((n = tun_channel_take (io->out, pkts, lens, WRITE_BATCH)) > 0)
    {
      guint done = 0;
      gint64 wait_us = FULL_BACKOFF_MIN_US;
      gboolean was_full = FALSE;

      while (done < n)
        {
          WintunRingStatus st;
          guint32 err;
          guint sent = wintun_ring_send (io->ops, io->session, pkts + done, lens + done,
                                         n - done, &st, &err);
          if (sent > 0)
            {
              /* Free the slots now: this is what wakes a core that met a
               * full channel. */
              done += sent;
              CNT_ADD (io->stats.tx_packets, sent);
              tun_channel_release (io->out, sent);
              wait_us = FULL_BACKOFF_MIN_US;
            }
          if (st == WINTUN_RING_OK)
            break;
          if (st == WINTUN_RING_FULL)
            {
              if (!was_full)
                CNT_ADD (io->stats.tx_ring_full, 1);
              was_full = TRUE;
              if (!backoff (io, wait_us))
                return NULL;
              wait_us = MIN (wait_us * 2, FULL_BACKOFF_MAX_US);
              continue;
            }
          /* The adapter ended (or the ring broke): what is still queued
           * cannot reach it. Count it, say so once, and stop. */
          guint lost = n - done;
          tun_channel_release (io->out, lost);
          lost += tun_channel_count (io->out);
          CNT_ADD (io->stats.tx_lost, lost);
          if (st == WINTUN_RING_EOF)
            g_log (io->log_domain, G_LOG_LEVEL_INFO,
                   "%s: the adapter ended with %u packets still to send", io->name, lost);
          else
            g_log (io->log_domain, G_LOG_LEVEL_WARNING,
                   "%s: WintunAllocateSendPacket failed with error %u; %u packets not sent",
                   io->name, err, lost);
          set_end (io, FALSE, st == WINTUN_RING_EOF ? END_EOF : END_BROKEN, err);
          return NULL;
        }
    }
  return NULL;
}

WintunIo *
wintun_io_start (const WintunSessionOps *ops, void *session, const char *name, guint mtu,
                 guint channel_capacity, const char *log_domain, GError **error)
{
  g_return_val_if_fail (ops != NULL && mtu > 0 && channel_capacity > 0, NULL);

  WintunIo *io = g_new0 (WintunIo, 1);
  io->ops = ops;
  io->session = session;
  io->name = g_strdup (name);
  io->log_domain = g_strdup (log_domain);
  io->mtu = mtu;
  g_mutex_init (&io->lock);
  g_cond_init (&io->stop_cond);
  io->in = tun_channel_new (channel_capacity, mtu);
  io->out = tun_channel_new (channel_capacity, mtu);
  io->reader = g_thread_try_new ("wintun-rx", reader_main, io, error);
  if (io->reader != NULL)
    io->writer = g_thread_try_new ("wintun-tx", writer_main, io, error);
  if (io->writer == NULL)
    {
      wintun_io_stop (io);
      return NULL;
    }
  return io;
}

static gboolean
end_error (WintunIo *io, EndState end, guint32 err, const char *ring, GError **error)
{
  if (end == END_EOF)
    g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CLOSED,
                 "Wintun adapter %s ended", io->name);
  else
    g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_IO,
                 "Wintun adapter %s: the %s ring failed with error %u", io->name, ring, err);
  return FALSE;
}

gint
wintun_io_recv_many (WintunIo *io, EmberWaker *waker, EmberPacket *batch, guint max,
                     GError **error)
{
  guint n = tun_channel_pop_many (io->in, batch, max, waker, NULL);
  if (n > 0)
    return (gint) n;

  g_mutex_lock (&io->lock);
  EndState end = io->rx_end;
  guint32 err = io->rx_err;
  if (end == END_NONE)
    io->recv_waker = waker;
  g_mutex_unlock (&io->lock);
  if (end == END_NONE)
    return 0;
  /* The end was set after the last push: what was queued before it is
   * handed out first. */
  n = tun_channel_pop_many (io->in, batch, max, NULL, NULL);
  if (n > 0)
    return (gint) n;
  end_error (io, end, err, "receive", error);
  return -1;
}

EmberPoll
wintun_io_send_ready (WintunIo *io, EmberWaker *waker, GError **error)
{
  g_mutex_lock (&io->lock);
  EndState end = io->tx_end;
  guint32 err = io->tx_err;
  g_mutex_unlock (&io->lock);
  if (end != END_NONE)
    {
      end_error (io, end, err, "send", error);
      return EMBER_POLL_ERROR;
    }
  if (tun_channel_poll_room (io->out, waker))
    return EMBER_POLL_READY;

  g_mutex_lock (&io->lock);
  end = io->tx_end;
  if (end == END_NONE)
    io->send_waker = waker;
  g_mutex_unlock (&io->lock);
  /* The send thread may have ended between the two looks; the next poll
   * reports it. */
  if (end != END_NONE)
    ember_waker_wake (waker);
  return EMBER_POLL_PENDING;
}

gboolean
wintun_io_send (WintunIo *io, const EmberPacket *packet, GError **error)
{
  if (packet->len == 0 || packet->len > io->mtu)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "packet of %" G_GSIZE_FORMAT " bytes does not fit the MTU of %s (%u)",
                   packet->len, io->name, io->mtu);
      return FALSE;
    }
  guint v = packet->data[0] >> 4;
  if (v != 4 && v != 6)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "not an IP packet (version %u)", v);
      return FALSE;
    }
  g_mutex_lock (&io->lock);
  EndState end = io->tx_end;
  guint32 err = io->tx_err;
  g_mutex_unlock (&io->lock);
  if (end != END_NONE)
    return end_error (io, end, err, "send", error);
  if (!tun_channel_try_push (io->out, packet->data, packet->len))
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "the send queue of %s is full: poll_send_ready() first", io->name);
      return FALSE;
    }
  return TRUE;
}

void
wintun_io_stats (WintunIo *io, WintunIoStats *out)
{
  out->rx_packets = CNT_GET (io->stats.rx_packets);
  out->rx_oversized = CNT_GET (io->stats.rx_oversized);
  out->tx_packets = CNT_GET (io->stats.tx_packets);
  out->tx_ring_full = CNT_GET (io->stats.tx_ring_full);
  out->tx_lost = CNT_GET (io->stats.tx_lost);
}

void
wintun_io_stop (WintunIo *io)
{
  if (io == NULL)
    return;

  g_atomic_int_set (&io->stopping, 1);
  io->ops->stop (io->session);
  g_mutex_lock (&io->lock);
  g_cond_broadcast (&io->stop_cond);
  g_mutex_unlock (&io->lock);
  tun_channel_close (io->in);
  tun_channel_close (io->out);
  if (io->reader != NULL)
    g_thread_join (io->reader);
  if (io->writer != NULL)
    g_thread_join (io->writer);

  WintunIoStats s;
  wintun_io_stats (io, &s);
  g_log (io->log_domain, G_LOG_LEVEL_INFO,
         "closing %s: %" G_GUINT64_FORMAT " packets in (%" G_GUINT64_FORMAT
         " longer than the MTU dropped), %" G_GUINT64_FORMAT " out (send ring full %"
         G_GUINT64_FORMAT " times), %" G_GUINT64_FORMAT " lost at the adapter's end",
         io->name, s.rx_packets, s.rx_oversized, s.tx_packets, s.tx_ring_full, s.tx_lost);

  tun_channel_free (io->in);
  tun_channel_free (io->out);
  g_mutex_clear (&io->lock);
  g_cond_clear (&io->stop_cond);
  g_free (io->name);
  g_free (io->log_domain);
  g_free (io);
}
