/* relay-io — ember-relay's data plane: the I/O shell around the sans-IO
 * server core in server/.
 *
 * It runs on one thread of its own around one epoll set that holds the
 * listening sockets and every allocation socket, so thousands of
 * allocations cost one wait. Each wake-up reads a batch per ready socket
 * with recvmmsg into receive slots shared by all sockets of that
 * wake-up (with UDP_GRO a slot may hold a train of datagrams the kernel
 * coalesced, which is split here), feeds the core, drains its commands
 * and writes them with
 * sendmmsg: datagrams for the same socket and destination go out as one
 * UDP_SEGMENT message (seed 002). A datagram that cannot be written now
 * is kept, reading stops and the thread waits for that socket to become
 * writable (seed 003) instead of dropping it. The core's "wake at T" is
 * the epoll timeout. Counters are published every 100 ms for the
 * metrics server on the main thread.
 */
#include "relay-io.h"
#include "io/udp.h"

#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define BATCH 64
/* A slot holds what one receive returns: with UDP_GRO, up to 64 KiB of
 * datagrams coalesced by the kernel (seed 002's receive side). Only the
 * first page of each is touched at start; the rest is used under GRO
 * load only. */
#define SLOT 65536
#define SLOT_TOUCHED 4096
/* Receive slots shared by all sockets read in one wake-up: the core's
 * commands point into them until the batch is written, so the replies
 * to several sockets' input leave in the same sendmmsg. */
#define RECV_SLOTS (2 * BATCH)
#define MAX_PENDING 65536

typedef struct {
  int fd;
  guint8 family;
  guint16 port;     /* allocation port, 0 for a listener */
  guint listener;   /* listener index when port == 0 */
  EmberAddr local;  /* a listener's bound address */
} Sock;

typedef struct {
  Sock *sock;
  struct sockaddr_storage to;
  socklen_t to_len;
  gsize len;
  guint8 data[];
} Pending;

/* Datagrams of one send batch for the same socket and destination, all
 * `seg` bytes but the last, which may be shorter and closes the train.
 * Handed to the kernel as one message with UDP_SEGMENT (seed 002): one
 * route lookup and one trip down the stack for up to 64 datagrams. */
#define TRAIN_MAX 64
#define TRAIN_MAX_BYTES (65535 - 40 - 8)
typedef struct {
  Sock *sock;
  struct sockaddr_storage to;
  socklen_t to_len;
  guint16 seg;
  gboolean closed;
  gboolean stun;     /* a STUN message to a client, not relayed data */
  gsize bytes;
  guint n;
  struct iovec iov[TRAIN_MAX];
  union {
    char buf[CMSG_SPACE (sizeof (guint16))];
    size_t align; /* struct cmsghdr alignment */
  } control;
} Train;

struct _EmberRelayIo {
  EmberRelayServer *server;
  int epfd;
  int stop_fd;          /* eventfd: the main thread asks the worker to end */
  Sock stop_sock;
  Sock *blocked;        /* reading suspended until this socket is writable */
  gint64 deadline;      /* the core's next wake, G_MAXINT64 for none */
  GThread *worker;
  /* Counters as last published by the worker, for the metrics server. */
  GMutex stats_lock;
  EmberRelayServerStats server_snapshot;
  EmberRelayShellStats shell_snapshot;
  gint64 published;
  gboolean dirty;
  Sock listeners[EMBER_RELAY_IO_MAX_LISTENERS];
  guint n_listeners;
  GHashTable *allocs;   /* family << 16 | port -> Sock* */
  GQueue pending;       /* Pending*, oldest first */
  EmberRelayShellStats stats;
  /* receive batch */
  guint8 (*bufs)[SLOT];
  struct mmsghdr rmsgs[RECV_SLOTS];
  struct iovec riov[RECV_SLOTS];
  struct sockaddr_storage raddr[RECV_SLOTS];
  union {
    char buf[CMSG_SPACE (sizeof (int))];
    size_t align; /* struct cmsghdr alignment */
  } rctl[RECV_SLOTS];
  guint n_used;         /* receive slots holding input not yet answered */
  int alloc_sndbuf;     /* SO_SNDBUF of allocation sockets */
  EmberAddr alloc_bind4, alloc_bind6; /* where allocation sockets bind (port 0) */
  EmberRelayXdp *xdp;   /* the fast path for bound channels, or NULL */
  /* send batch: trains of datagrams for one (socket, destination) */
  Train trains[BATCH];
  struct mmsghdr smsgs[BATCH];
  guint n_send;
  guint last_train;     /* where the previous datagram went */
  gboolean gso;         /* UDP_SEGMENT accepted so far */
};

/* ---- addresses ------------------------------------------------------ */

/* IPv6 sockets are v6-only: a destination is in the family of its socket. */
static socklen_t
to_sockaddr (const EmberAddr *a, struct sockaddr_storage *ss)
{
  int family = a->family == EMBER_ADDR_IPV4 ? AF_INET : AF_INET6;
  return (socklen_t) ember_udp_addr_to_sockaddr (a, family, ss, sizeof *ss);
}

/* ---- sockets -------------------------------------------------------- */

int
ember_relay_io_open_udp (const EmberAddr *bind_addr, int rcvbuf, int sndbuf, GError **error)
{
  int domain = bind_addr->family == EMBER_ADDR_IPV4 ? AF_INET : AF_INET6;
  int fd = socket (domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "socket: %s",
                   g_strerror (errno));
      return -1;
    }
  int one = 1;
  if (domain == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  /* The sizes asked for when allowed (CAP_NET_ADMIN), else whatever
   * net.core.[rw]mem_max lets an ordinary process have. */
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (setsockopt (fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  /* Trains of datagrams from one source (a sender's UDP_SEGMENT, a
   * NIC's GRO) stay one buffer up to here; without it (old kernel) they
   * arrive one by one, as before. */
  setsockopt (fd, SOL_UDP, UDP_GRO, &one, sizeof one);
  struct sockaddr_storage ss;
  socklen_t len = to_sockaddr (bind_addr, &ss);
  if (bind (fd, (struct sockaddr *) &ss, len) < 0)
    {
      int e = errno;
      close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "bind port %u: %s",
                   bind_addr->port, g_strerror (e));
      return -1;
    }
  return fd;
}

static gboolean
epoll_add (EmberRelayIo *r, Sock *s)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
  return epoll_ctl (r->epfd, EPOLL_CTL_ADD, s->fd, &ev) == 0;
}

static void
create_allocation (EmberRelayIo *r, guint8 family, guint16 port)
{
  EmberAddr bind_addr = family == EMBER_ADDR_IPV4 ? r->alloc_bind4 : r->alloc_bind6;
  bind_addr.port = port;
  g_autoptr (GError) error = NULL;
  /* Peers burst too: a larger receive buffer absorbs a busy tick. */
  int fd = ember_relay_io_open_udp (&bind_addr, 1 << 20, r->alloc_sndbuf, &error);
  Sock *s = g_new0 (Sock, 1);
  s->fd = fd;
  s->family = family;
  s->port = port;
  if (fd < 0 || !epoll_add (r, s))
    {
      g_warning ("allocation socket %s port %u: %s", family == EMBER_ADDR_IPV4 ? "IPv4" : "IPv6",
                 port, error ? error->message : g_strerror (errno));
      if (fd >= 0)
        close (fd);
      g_free (s);
      ember_relay_server_allocation_failed (r->server, family, port);
      return;
    }
  g_hash_table_insert (r->allocs, GUINT_TO_POINTER ((guint) family << 16 | port), s);
  r->stats.sockets++;
}

static void
free_sock (gpointer p)
{
  Sock *s = p;
  close (s->fd);
  g_free (s);
}

static void
free_allocation (EmberRelayIo *r, guint8 family, guint16 port)
{
  gpointer key = GUINT_TO_POINTER ((guint) family << 16 | port);
  Sock *s = g_hash_table_lookup (r->allocs, key);
  if (s == NULL)
    return;
  /* Pending datagrams from this socket go nowhere now. */
  for (GList *l = r->pending.head; l != NULL;)
    {
      GList *next = l->next;
      if (((Pending *) l->data)->sock == s)
        {
          g_free (l->data);
          g_queue_delete_link (&r->pending, l);
        }
      l = next;
    }
  epoll_ctl (r->epfd, EPOLL_CTL_DEL, s->fd, NULL);
  g_hash_table_remove (r->allocs, key);
  r->stats.sockets--;
}

/* ---- sending -------------------------------------------------------- */

static void suspend_reading (EmberRelayIo *r, Sock *blocked);

static void
hold (EmberRelayIo *r, Sock *s, const struct sockaddr_storage *to, socklen_t to_len, const guint8 *data,
      gsize len)
{
  if (r->pending.length >= MAX_PENDING)
    {
      r->stats.send_errors++;
      return;
    }
  Pending *p = g_malloc (sizeof *p + len);
  p->sock = s;
  p->to = *to;
  p->to_len = to_len;
  p->len = len;
  memcpy (p->data, data, len);
  g_queue_push_tail (&r->pending, p);
  r->stats.send_buffered++;
}

static void
hold_train (EmberRelayIo *r, const Train *t, guint from)
{
  for (guint k = from; k < t->n; k++)
    hold (r, t->sock, &t->to, t->to_len, t->iov[k].iov_base, t->iov[k].iov_len);
}

/* The kernel refused UDP_SEGMENT (EIO: no checksum offload on the way
 * out; EINVAL: an old kernel). Sends this train one datagram at a time
 * and never builds trains again. Returns FALSE when the socket blocked. */
static gboolean
send_train_plain (EmberRelayIo *r, Train *t)
{
  if (r->gso)
    g_warning ("UDP segmentation offload refused (%s): sending datagrams one by one",
               g_strerror (errno));
  r->gso = FALSE;
  for (guint k = 0; k < t->n; k++)
    {
      ssize_t n = sendto (t->sock->fd, t->iov[k].iov_base, t->iov[k].iov_len, MSG_DONTWAIT,
                          (struct sockaddr *) &t->to, t->to_len);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
        {
          hold_train (r, t, k);
          return FALSE;
        }
      if (n < 0)
        r->stats.send_errors++;
    }
  return TRUE;
}

static gboolean
train_before (const Train *a, guint ia, const Train *b, guint ib)
{
  if (a->sock != b->sock)
    return a->sock < b->sock;
  if (a->stun != b->stun)
    return a->stun;
  return ia < ib;
}

/* Writes the send batch: the trains of one socket together, one sendmmsg
 * for them, STUN/TURN answers ahead of relayed data, so they get in when
 * the socket is about to fill (seed 002); relayed data keeps its order.
 * What the kernel cannot take now is held in order (seed 003). */
static void
flush_batch (EmberRelayIo *r)
{
  guint order[BATCH];
  for (guint k = 0; k < r->n_send; k++)
    {
      guint m = k;
      while (m > 0 && train_before (&r->trains[k], k, &r->trains[order[m - 1]], order[m - 1]))
        {
          order[m] = order[m - 1];
          m--;
        }
      order[m] = k;
    }
  struct mmsghdr msgs[BATCH];
  for (guint k = 0; k < r->n_send; k++)
    msgs[k] = r->smsgs[order[k]];

  guint i = 0;
  while (i < r->n_send)
    {
      Sock *s = r->trains[order[i]].sock;
      guint j = i;
      while (j < r->n_send && r->trains[order[j]].sock == s)
        j++;
      guint done = 0;
      gboolean blocked = r->pending.length > 0;
      while (!blocked && i + done < j)
        {
          int n = sendmmsg (s->fd, msgs + i + done, j - i - done, MSG_DONTWAIT);
          if (n > 0)
            {
              for (guint k = i + done; k < i + done + (guint) n; k++)
                {
                  r->stats.datagrams_sent += r->trains[order[k]].n;
                  r->stats.gso_trains += r->trains[order[k]].n > 1;
                }
              r->stats.send_syscalls++;
              done += (guint) n;
              continue;
            }
          Train *t = &r->trains[order[i + done]];
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            blocked = TRUE;
          else if ((errno == EIO || errno == EINVAL) && t->n > 1)
            {
              blocked = !send_train_plain (r, t);
              done++;
            }
          else
            {
              /* A permanent error for this destination (e.g. unreachable):
               * count it and go on with the rest of the batch. */
              r->stats.send_errors += t->n;
              done++;
            }
        }
      for (guint k = i + done; k < j; k++)
        hold_train (r, &r->trains[order[k]], 0);
      if (blocked)
        suspend_reading (r, s);
      i = j;
    }
  r->n_send = 0;
  r->last_train = 0;
}

static gboolean
train_takes (const Train *t, Sock *s, const struct sockaddr_storage *to, socklen_t to_len,
             gsize len)
{
  return t->sock == s && !t->closed && t->n < TRAIN_MAX && len <= t->seg &&
         t->bytes + len <= TRAIN_MAX_BYTES && t->to_len == to_len && memcmp (&t->to, to, to_len) == 0;
}

/* Queues one datagram; `data` must stay valid until the batch is flushed. */
static void
queue_send (EmberRelayIo *r, Sock *s, const EmberAddr *to, const guint8 *data, gsize len)
{
  struct sockaddr_storage ss;
  socklen_t ss_len = to_sockaddr (to, &ss);
  Train *t = NULL;
  if (r->gso && r->n_send > 0)
    {
      /* Usually the previous datagram's train; else any open one. */
      if (train_takes (&r->trains[r->last_train], s, &ss, ss_len, len))
        t = &r->trains[r->last_train];
      for (guint k = 0; t == NULL && k < r->n_send; k++)
        if (train_takes (&r->trains[k], s, &ss, ss_len, len))
          {
            t = &r->trains[k];
            r->last_train = k;
          }
    }
  if (t == NULL)
    {
      if (r->n_send == BATCH)
        flush_batch (r);
      r->last_train = r->n_send++;
      t = &r->trains[r->last_train];
      t->sock = s;
      t->to = ss;
      t->to_len = ss_len;
      t->seg = (guint16) len;
      t->closed = FALSE;
      /* To a client: ChannelData starts 0b01; a STUN message 0b00, and
       * of those only the Data indication (0x0117) carries relayed data. */
      t->stun = s->port == 0 && len >= 2 && data[0] < 0x40
                   && !(data[0] == 0x01 && data[1] == 0x17);
      t->bytes = 0;
      t->n = 0;
    }
  t->iov[t->n].iov_base = (void *) data;
  t->iov[t->n].iov_len = len;
  t->n++;
  t->bytes += len;
  t->closed = len < t->seg;

  struct msghdr *m = &r->smsgs[t - r->trains].msg_hdr;
  memset (m, 0, sizeof *m);
  m->msg_name = &t->to;
  m->msg_namelen = t->to_len;
  m->msg_iov = t->iov;
  m->msg_iovlen = t->n;
  if (t->n > 1)
    {
      m->msg_control = t->control.buf;
      m->msg_controllen = sizeof t->control.buf;
      struct cmsghdr *cm = CMSG_FIRSTHDR (m);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN (sizeof (guint16));
      memcpy (CMSG_DATA (cm), &t->seg, sizeof t->seg);
    }
}

/* ---- the XDP fast path ---------------------------------------------- */

/* The local address the kernel sends from towards `to` (its route's
 * preferred source): where that side's datagrams are addressed to. */
static gboolean
route_source (const EmberAddr *to, EmberAddr *out)
{
  struct sockaddr_storage ss;
  socklen_t len = to_sockaddr (to, &ss);
  int fd = socket (ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return FALSE;
  gboolean ok = connect (fd, (struct sockaddr *) &ss, len) == 0;
  len = sizeof ss;
  ok = ok && getsockname (fd, (struct sockaddr *) &ss, &len) == 0;
  close (fd);
  return ok && ember_udp_addr_from_sockaddr (&ss, len, out);
}

static gboolean
xdp_binding (EmberRelayIo *r, const EmberRelayCommand *c, EmberRelayXdpBinding *b)
{
  if (c->listener >= r->n_listeners || c->client.family != c->to.family)
    return FALSE; /* another family on each side: user space converts */
  const Sock *l = &r->listeners[c->listener];
  memset (b, 0, sizeof *b);
  b->client = c->client;
  b->listen_port = l->local.port;
  b->channel = c->channel;
  b->peer = c->to;
  b->alloc_port = c->port;
  b->deadline = c->deadline;
  return TRUE;
}

static void
xdp_command (EmberRelayIo *r, const EmberRelayCommand *c)
{
  EmberRelayXdpBinding b;
  if (r->xdp == NULL || !xdp_binding (r, c, &b))
    return;
  if (c->kind == EMBER_RELAY_CMD_CHANNEL_UNBOUND)
    {
      guint64 packets = 0, bytes = 0;
      ember_relay_xdp_unbind (r->xdp, &b, &packets, &bytes);
      g_debug ("XDP: channel 0x%04x unbound after %" G_GUINT64_FORMAT " datagrams, %"
               G_GUINT64_FORMAT " bytes on the fast path", c->channel, packets, bytes);
      return;
    }
  /* A listener on a wildcard address and the (wildcard) allocation
   * sockets take what the route gives; the program checks that the
   * datagrams really arrive there and passes them up otherwise. */
  static const guint8 zero[16];
  const Sock *l = &r->listeners[c->listener];
  if (memcmp (l->local.addr, zero, sizeof zero) != 0)
    b.client_local = l->local;
  else if (!route_source (&b.client, &b.client_local))
    return;
  const EmberAddr *bound = c->to.family == EMBER_ADDR_IPV4 ? &r->alloc_bind4 : &r->alloc_bind6;
  if (memcmp (bound->addr, zero, sizeof zero) != 0)
    b.peer_local = *bound;
  else if (!route_source (&b.peer, &b.peer_local))
    return;
  if (!ember_relay_xdp_bind (r->xdp, &b))
    {
      if (r->stats.xdp_bind_failures++ == 0)
        g_warning ("XDP: a channel binding did not fit in the maps (%s); such channels "
                   "are relayed in user space", g_strerror (errno));
    }
}

/* Carries out everything the core asked for. Input buffers are still
 * valid here; the batch is flushed before they are reused. */
static void
drain (EmberRelayIo *r)
{
  EmberRelayCommand c;
  while (ember_relay_server_poll_command (r->server, &c))
    switch (c.kind)
      {
      case EMBER_RELAY_CMD_SEND_TO_CLIENT:
        if (c.listener < r->n_listeners)
          queue_send (r, &r->listeners[c.listener], &c.to, c.data, c.len);
        break;
      case EMBER_RELAY_CMD_SEND_TO_PEER:
        {
          Sock *s = g_hash_table_lookup (r->allocs, GUINT_TO_POINTER ((guint) c.family << 16 | c.port));
          if (s != NULL)
            queue_send (r, s, &c.to, c.data, c.len);
          break;
        }
      case EMBER_RELAY_CMD_CREATE_ALLOCATION:
        flush_batch (r); /* a failure may grow the core's arena */
        create_allocation (r, c.family, c.port);
        break;
      case EMBER_RELAY_CMD_FREE_ALLOCATION:
        flush_batch (r); /* sends queued for this socket go first */
        free_allocation (r, c.family, c.port);
        break;
      case EMBER_RELAY_CMD_WAKE:
        r->deadline = MIN (r->deadline, c.deadline);
        break;
      case EMBER_RELAY_CMD_CHANNEL_BOUND:
      case EMBER_RELAY_CMD_CHANNEL_UNBOUND:
        xdp_command (r, &c);
        break;
      }
  flush_batch (r);
  r->n_used = 0;
}

/* ---- reading -------------------------------------------------------- */

static void
setup_receive (EmberRelayIo *r)
{
  r->bufs = g_malloc (sizeof (*r->bufs) * RECV_SLOTS);
  for (guint i = 0; i < RECV_SLOTS; i++)
    {
      /* Touched now, so resident memory does not grow with the first
       * burst of ordinary datagrams. */
      memset (r->bufs[i], 0, SLOT_TOUCHED);
      r->riov[i].iov_base = r->bufs[i];
      r->riov[i].iov_len = SLOT;
      r->rmsgs[i].msg_hdr.msg_name = &r->raddr[i];
      r->rmsgs[i].msg_hdr.msg_iov = &r->riov[i];
      r->rmsgs[i].msg_hdr.msg_iovlen = 1;
    }
}

/* The segment size of a coalesced receive (UDP_GRO), 0 for one datagram. */
static gsize
gro_segment (struct msghdr *m, gsize len)
{
  for (struct cmsghdr *c = CMSG_FIRSTHDR (m); c != NULL; c = CMSG_NXTHDR (m, c))
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
      {
        int seg;
        memcpy (&seg, CMSG_DATA (c), sizeof seg);
        return seg > 0 && (gsize) seg < len ? (gsize) seg : 0;
      }
  return 0;
}

static void
feed (EmberRelayIo *r, Sock *s, gint64 now, const EmberAddr *from, const guint8 *data, gsize len)
{
  if (s->port == 0)
    ember_relay_server_handle_client_input (r->server, now, s->listener, from, data, len);
  else
    ember_relay_server_handle_peer_input (r->server, now, s->family, s->port, from, data, len);
}

/* Reads up to 4 batches from `s` into free receive slots and feeds them
 * to the core, a coalesced train datagram by datagram; the caller
 * drains. When the slots run out, what the core answered so far is
 * written first. */
static void
read_socket (EmberRelayIo *r, Sock *s, gint64 now)
{
  for (int round = 0; round < 4 && r->blocked == NULL; round++)
    {
      if (r->n_used + BATCH > RECV_SLOTS)
        drain (r);
      guint base = r->n_used;
      for (guint i = base; i < base + BATCH; i++)
        {
          r->rmsgs[i].msg_hdr.msg_namelen = sizeof r->raddr[i];
          r->rmsgs[i].msg_hdr.msg_control = r->rctl[i].buf;
          r->rmsgs[i].msg_hdr.msg_controllen = sizeof r->rctl[i].buf;
        }
      int n = recvmmsg (s->fd, r->rmsgs + base, BATCH, MSG_DONTWAIT, NULL);
      if (n <= 0)
        return;
      r->stats.recv_syscalls++;
      r->n_used += (guint) n;
      for (guint i = base; i < base + (guint) n; i++)
        {
          if (r->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC)
            {
              r->stats.recv_truncated++;
              continue;
            }
          EmberAddr from;
          ember_udp_addr_from_sockaddr (&r->raddr[i], r->rmsgs[i].msg_hdr.msg_namelen, &from);
          gsize len = r->rmsgs[i].msg_len;
          gsize seg = gro_segment (&r->rmsgs[i].msg_hdr, len);
          if (seg == 0)
            {
              feed (r, s, now, &from, r->bufs[i], len);
              continue;
            }
          /* All `seg` bytes but the last, from one source. */
          for (gsize at = 0; at < len; at += seg)
            {
              feed (r, s, now, &from, r->bufs[i] + at, MIN (seg, len - at));
              r->stats.gro_datagrams++;
            }
        }
      if (n < BATCH)
        return;
    }
}

/* Writes held datagrams in order; TRUE when none is left, else
 * r->blocked names the socket to wait for. */
static gboolean
flush_pending (EmberRelayIo *r)
{
  Pending *p;
  while ((p = g_queue_peek_head (&r->pending)) != NULL)
    {
      ssize_t n = sendto (p->sock->fd, p->data, p->len, MSG_DONTWAIT, (struct sockaddr *) &p->to,
                          p->to_len);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
        {
          r->blocked = p->sock;
          return FALSE;
        }
      if (n < 0 && errno != EINTR)
        r->stats.send_errors++;
      else if (n >= 0)
        r->stats.datagrams_sent++;
      g_queue_pop_head (&r->pending);
      g_free (p);
    }
  r->blocked = NULL;
  return TRUE;
}

static void
suspend_reading (EmberRelayIo *r, Sock *blocked)
{
  if (r->blocked == NULL)
    r->blocked = blocked;
}

/* Milliseconds until the core's deadline, rounded up; -1 for none. */
static int
wait_ms (const EmberRelayIo *r, gint64 now)
{
  gint64 d = r->deadline;
  /* With the fast path, the kernel relays without waking us: its
   * counters are read on the same 100 ms beat. */
  if (r->dirty || r->xdp != NULL)
    d = MIN (d, r->published + 100 * G_TIME_SPAN_MILLISECOND);
  if (d == G_MAXINT64)
    return -1;
  if (d <= now)
    return 0;
  return (int) MIN ((d - now + 999) / 1000, G_MAXINT);
}

static void
publish_stats (EmberRelayIo *r, gint64 now)
{
  if (r->xdp != NULL)
    {
      r->stats.xdp = TRUE;
      ember_relay_xdp_read_stats (r->xdp, &r->stats.xdp_stats);
    }
  g_mutex_lock (&r->stats_lock);
  ember_relay_server_get_stats (r->server, &r->server_snapshot);
  r->shell_snapshot = r->stats;
  g_mutex_unlock (&r->stats_lock);
  r->published = now;
  r->dirty = FALSE;
}

/* The data plane: one thread, one epoll set, no GLib main loop in the
 * way, so a wake-up costs epoll_wait and the reads and writes it leads
 * to. While a socket is blocked, only that socket (for writability),
 * the stop eventfd and the core's deadline are waited for. */
static gpointer
worker (gpointer user_data)
{
  EmberRelayIo *r = user_data;
  struct epoll_event evs[64];
  gint64 now = g_get_monotonic_time ();
  for (;;)
    {
      int n;
      if (r->blocked != NULL)
        {
          struct pollfd pfd[2] = { { .fd = r->blocked->fd, .events = POLLOUT },
                                   { .fd = r->stop_fd, .events = POLLIN } };
          n = poll (pfd, 2, wait_ms (r, now));
          if (n > 0 && (pfd[1].revents & POLLIN))
            break;
          n = 0;
        }
      else
        n = epoll_wait (r->epfd, evs, G_N_ELEMENTS (evs), wait_ms (r, now));
      now = g_get_monotonic_time ();
      ember_relay_server_set_unix_time (r->server, g_get_real_time () / G_USEC_PER_SEC);
      if (r->blocked != NULL)
        flush_pending (r);
      for (int i = 0; i < n && r->blocked == NULL; i++)
        {
          if (evs[i].data.ptr == &r->stop_sock)
            goto out;
          read_socket (r, evs[i].data.ptr, now);
          r->dirty = TRUE;
        }
      drain (r);
      if (now >= r->deadline)
        {
          r->deadline = G_MAXINT64;
          ember_relay_server_handle_timeout (r->server, now);
          drain (r);
          r->dirty = TRUE;
        }
      if ((r->dirty || r->xdp != NULL) && now - r->published >= 100 * G_TIME_SPAN_MILLISECOND)
        publish_stats (r, now);
    }
out:
  publish_stats (r, now);
  return NULL;
}


EmberRelayIo *
ember_relay_io_new (EmberRelayServer *server, int alloc_sndbuf, gboolean gso)
{
  EmberRelayIo *r = g_new0 (EmberRelayIo, 1);
  r->server = server;
  r->alloc_sndbuf = alloc_sndbuf;
  r->alloc_bind4.family = EMBER_ADDR_IPV4;
  r->alloc_bind6.family = EMBER_ADDR_IPV6;
  r->gso = gso;
  setup_receive (r);
  r->allocs = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, free_sock);
  r->epfd = epoll_create1 (EPOLL_CLOEXEC);
  r->stop_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (r->epfd < 0 || r->stop_fd < 0)
    g_error ("epoll/eventfd: %s", g_strerror (errno)); /* out of descriptors at start-up */
  r->stop_sock.fd = r->stop_fd;
  epoll_add (r, &r->stop_sock);
  r->deadline = G_MAXINT64;
  g_mutex_init (&r->stats_lock);
  return r;
}

void
ember_relay_io_set_relayed_address (EmberRelayIo *r, const EmberAddr *addr)
{
  g_return_if_fail (r->worker == NULL);
  EmberAddr *bind_addr = addr->family == EMBER_ADDR_IPV4 ? &r->alloc_bind4 : &r->alloc_bind6;
  *bind_addr = *addr;
  bind_addr->port = 0;
}

gboolean
ember_relay_io_add_listener (EmberRelayIo *r, int fd, guint8 family, GError **error)
{
  if (r->n_listeners == EMBER_RELAY_IO_MAX_LISTENERS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "at most %d listeners",
                   EMBER_RELAY_IO_MAX_LISTENERS);
      return FALSE;
    }
  Sock *s = &r->listeners[r->n_listeners];
  s->fd = fd;
  s->family = family;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname (fd, (struct sockaddr *) &ss, &len) == 0)
    ember_udp_addr_from_sockaddr (&ss, len, &s->local);
  s->listener = r->n_listeners++;
  if (!epoll_add (r, s))
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "epoll: %s",
                   g_strerror (errno));
      r->n_listeners--;
      return FALSE;
    }
  return TRUE;
}

void
ember_relay_io_set_xdp (EmberRelayIo *r, EmberRelayXdp *xdp)
{
  g_return_if_fail (r->worker == NULL);
  r->xdp = xdp;
}

void
ember_relay_io_start (EmberRelayIo *r)
{
  publish_stats (r, g_get_monotonic_time ());
  r->worker = g_thread_new ("relay-data", worker, r);
}

void
ember_relay_io_stop (EmberRelayIo *r)
{
  if (r->worker == NULL)
    return;
  guint64 one = 1;
  if (write (r->stop_fd, &one, sizeof one) != sizeof one)
    g_error ("cannot stop the data-plane thread: %s", g_strerror (errno));
  g_thread_join (r->worker);
  r->worker = NULL;
}

void
ember_relay_io_get_stats (EmberRelayIo *r, EmberRelayServerStats *server,
                          EmberRelayShellStats *shell)
{
  g_mutex_lock (&r->stats_lock);
  *server = r->server_snapshot;
  *shell = r->shell_snapshot;
  g_mutex_unlock (&r->stats_lock);
}

void
ember_relay_io_free (EmberRelayIo *r)
{
  if (r == NULL)
    return;
  ember_relay_io_stop (r);
  g_queue_clear_full (&r->pending, g_free);
  g_hash_table_unref (r->allocs);
  for (guint i = 0; i < r->n_listeners; i++)
    close (r->listeners[i].fd);
  close (r->stop_fd);
  close (r->epfd);
  g_mutex_clear (&r->stats_lock);
  g_free (r->bufs);
  g_free (r);
}
