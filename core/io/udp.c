/* udp — the socket shell around the GSO queue. See udp.h. */
#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "ember-io"

#include "io/udp.h"
#include "io/gso_queue.h"

#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Messages per sendmmsg(): GSO batches, or single datagrams when GSO is
 * off. 64 matches the kernel's segment limit, so one call covers about
 * the same number of datagrams either way. */
#define SEND_MSGS 64
#define CTRL_LEN 128

typedef union {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
  struct sockaddr_storage ss;
} SockAddr;

typedef union {
  char buf[CMSG_SPACE (sizeof (guint16))];
  size_t align; /* cmsghdr alignment */
} SegCtrl;

typedef union {
  char buf[CTRL_LEN];
  size_t align; /* cmsghdr alignment */
} RecvCtrl;

struct _EmberUdpSocket {
  int fd;
  int family;
  guint16 local_port;
  gboolean gso;
  gboolean gro;
  gboolean wants_writable;
  EmberGsoQueue *queue;
  EmberUdpStats stats;

  /* Scratch for flush and recv, allocated once with the socket. */
  EmberGsoBatch batches[SEND_MSGS];
  struct mmsghdr smsgs[SEND_MSGS];
  struct iovec siov[SEND_MSGS];
  SockAddr saddr[SEND_MSGS];
  SegCtrl sctrl[SEND_MSGS];

  struct mmsghdr rmsgs[EMBER_BATCH_MAX];
  struct iovec riov[EMBER_BATCH_MAX];
  SockAddr raddr[EMBER_BATCH_MAX];
  RecvCtrl rctrl[EMBER_BATCH_MAX];
};

gsize
ember_udp_addr_to_sockaddr (const EmberAddr *addr, int family, void *sa, gsize sa_len)
{
  if (family == AF_INET)
    {
      struct sockaddr_in in4 = { 0 };
      if (addr->family != EMBER_ADDR_IPV4 || sa_len < sizeof in4)
        return 0;
      in4.sin_family = AF_INET;
      in4.sin_port = g_htons (addr->port);
      memcpy (&in4.sin_addr, addr->addr, 4);
      memcpy (sa, &in4, sizeof in4);
      return sizeof in4;
    }
  if (family == AF_INET6)
    {
      struct sockaddr_in6 in6 = { 0 };
      if (sa_len < sizeof in6)
        return 0;
      in6.sin6_family = AF_INET6;
      in6.sin6_port = g_htons (addr->port);
      if (addr->family == EMBER_ADDR_IPV4)
        {
          /* RFC 4291 §2.5.5.2: ::ffff:a.b.c.d on a dual-stack socket. */
          in6.sin6_addr.s6_addr[10] = 0xff;
          in6.sin6_addr.s6_addr[11] = 0xff;
          memcpy (&in6.sin6_addr.s6_addr[12], addr->addr, 4);
        }
      else if (addr->family == EMBER_ADDR_IPV6)
        {
          memcpy (&in6.sin6_addr, addr->addr, 16);
          in6.sin6_scope_id = addr->scope_id;
        }
      else
        return 0;
      memcpy (sa, &in6, sizeof in6);
      return sizeof in6;
    }
  return 0;
}

static gboolean
is_v4_mapped (const guint8 *a)
{
  static const guint8 prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  return memcmp (a, prefix, 12) == 0;
}

gboolean
ember_udp_addr_from_sockaddr (const void *sa, gsize sa_len, EmberAddr *out)
{
  memset (out, 0, sizeof *out);
  if (sa_len < sizeof (sa_family_t))
    return FALSE;
  sa_family_t fam;
  memcpy (&fam, sa, sizeof fam);
  if (fam == AF_INET && sa_len >= sizeof (struct sockaddr_in))
    {
      struct sockaddr_in in4;
      memcpy (&in4, sa, sizeof in4);
      out->family = EMBER_ADDR_IPV4;
      out->port = g_ntohs (in4.sin_port);
      memcpy (out->addr, &in4.sin_addr, 4);
      return TRUE;
    }
  if (fam == AF_INET6 && sa_len >= sizeof (struct sockaddr_in6))
    {
      struct sockaddr_in6 in6;
      memcpy (&in6, sa, sizeof in6);
      out->port = g_ntohs (in6.sin6_port);
      if (is_v4_mapped (in6.sin6_addr.s6_addr))
        {
          out->family = EMBER_ADDR_IPV4;
          memcpy (out->addr, &in6.sin6_addr.s6_addr[12], 4);
        }
      else
        {
          out->family = EMBER_ADDR_IPV6;
          memcpy (out->addr, &in6.sin6_addr, 16);
          out->scope_id = in6.sin6_scope_id;
        }
      return TRUE;
    }
  return FALSE;
}

static gboolean
set_int_opt (int fd, int level, int name, int value)
{
  return setsockopt (fd, level, name, &value, sizeof value) == 0;
}

EmberUdpSocket *
ember_udp_socket_new (const EmberAddr *bind_addr, GError **error)
{
  EmberAddr any = { .family = EMBER_ADDR_NONE };
  if (bind_addr == NULL)
    bind_addr = &any;

  int family = bind_addr->family == EMBER_ADDR_IPV4 ? AF_INET : AF_INET6;
  int fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                   "cannot open UDP socket: %s", g_strerror (e));
      return NULL;
    }

  if (family == AF_INET6)
    {
      /* Dual stack: IPv4 peers arrive as v4-mapped addresses. */
      set_int_opt (fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
      set_int_opt (fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
    }
  set_int_opt (fd, IPPROTO_IP, IP_PKTINFO, 1);

  SockAddr sa = { 0 };
  gsize sa_len;
  if (bind_addr->family == EMBER_ADDR_NONE)
    {
      sa.in6.sin6_family = AF_INET6;
      sa.in6.sin6_port = g_htons (bind_addr->port);
      sa_len = sizeof sa.in6;
    }
  else
    sa_len = ember_udp_addr_to_sockaddr (bind_addr, family, &sa, sizeof sa);

  if (sa_len == 0 || bind (fd, &sa.sa, (socklen_t) sa_len) != 0)
    {
      int e = sa_len == 0 ? EINVAL : errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                   "cannot bind UDP socket (port %u): %s", bind_addr->port, g_strerror (e));
      close (fd);
      return NULL;
    }

  EmberUdpSocket *sock = g_new0 (EmberUdpSocket, 1);
  sock->fd = fd;
  sock->family = family;
  sock->queue = ember_gso_queue_new (EMBER_UDP_DEFAULT_QUEUE_BUFFERS);

  SockAddr local = { 0 };
  socklen_t local_len = sizeof local;
  if (getsockname (fd, &local.sa, &local_len) == 0)
    sock->local_port = g_ntohs (family == AF_INET ? local.in4.sin_port : local.in6.sin6_port);

  /* The kernel knows UDP_SEGMENT (Linux 4.18+) if it can report it. */
  int seg = 0;
  socklen_t seg_len = sizeof seg;
  sock->gso = getsockopt (fd, SOL_UDP, UDP_SEGMENT, &seg, &seg_len) == 0;
  if (!sock->gso)
    g_info ("UDP GSO not available (%s); sending datagrams one by one", g_strerror (errno));
  ember_udp_socket_set_gro (sock, TRUE);
  return sock;
}

void
ember_udp_socket_free (EmberUdpSocket *sock)
{
  if (sock == NULL)
    return;
  if (sock->fd >= 0)
    close (sock->fd);
  ember_gso_queue_free (sock->queue);
  g_free (sock);
}

int
ember_udp_socket_get_fd (const EmberUdpSocket *sock)
{
  return sock->fd;
}

gboolean
ember_udp_socket_get_local (const EmberUdpSocket *sock, EmberAddr *out, GError **error)
{
  SockAddr sa = { 0 };
  socklen_t len = sizeof sa;
  if (getsockname (sock->fd, &sa.sa, &len) != 0 || !ember_udp_addr_from_sockaddr (&sa, len, out))
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                   "cannot read the local address: %s", g_strerror (e));
      return FALSE;
    }
  return TRUE;
}

void
ember_udp_socket_set_gso (EmberUdpSocket *sock, gboolean enabled)
{
  sock->gso = enabled;
}

gboolean
ember_udp_socket_get_gso (const EmberUdpSocket *sock)
{
  return sock->gso;
}

gboolean
ember_udp_socket_set_gro (EmberUdpSocket *sock, gboolean enabled)
{
  if (set_int_opt (sock->fd, SOL_UDP, UDP_GRO, enabled ? 1 : 0))
    sock->gro = enabled;
  else
    {
      g_info ("UDP GRO not available: %s", g_strerror (errno));
      sock->gro = FALSE;
    }
  return sock->gro;
}

static void
parse_recv_cmsgs (const EmberUdpSocket *sock, struct msghdr *msg, EmberPacket *p)
{
  for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c != NULL; c = CMSG_NXTHDR (msg, c))
    {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
        {
          int seg;
          memcpy (&seg, CMSG_DATA (c), sizeof seg);
          if (seg > 0 && seg <= G_MAXUINT16 && (gsize) seg < p->len)
            p->segment_size = (guint16) seg;
        }
      else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
        {
          struct in_pktinfo pi;
          memcpy (&pi, CMSG_DATA (c), sizeof pi);
          p->local.family = EMBER_ADDR_IPV4;
          memcpy (p->local.addr, &pi.ipi_addr, 4);
          p->local.port = sock->local_port;
        }
      else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
        {
          struct in6_pktinfo pi;
          memcpy (&pi, CMSG_DATA (c), sizeof pi);
          if (is_v4_mapped (pi.ipi6_addr.s6_addr))
            {
              p->local.family = EMBER_ADDR_IPV4;
              memcpy (p->local.addr, &pi.ipi6_addr.s6_addr[12], 4);
            }
          else
            {
              p->local.family = EMBER_ADDR_IPV6;
              memcpy (p->local.addr, &pi.ipi6_addr, 16);
              p->local.scope_id = pi.ipi6_ifindex;
            }
          p->local.port = sock->local_port;
        }
    }
}

gint
ember_udp_socket_recv_many (EmberUdpSocket *sock, EmberPacket *batch, guint max, GError **error)
{
  g_return_val_if_fail (sock != NULL && batch != NULL, -1);

  guint n = MIN (max, EMBER_BATCH_MAX);
  if (n == 0)
    return 0;
  for (guint i = 0; i < n; i++)
    {
      sock->riov[i].iov_base = batch[i].data;
      sock->riov[i].iov_len = batch[i].capacity;
      struct msghdr *h = &sock->rmsgs[i].msg_hdr;
      memset (h, 0, sizeof *h);
      h->msg_name = &sock->raddr[i];
      h->msg_namelen = sizeof sock->raddr[i];
      h->msg_iov = &sock->riov[i];
      h->msg_iovlen = 1;
      h->msg_control = sock->rctrl[i].buf;
      h->msg_controllen = sizeof sock->rctrl[i].buf;
    }

  int r;
  do
    r = recvmmsg (sock->fd, sock->rmsgs, n, MSG_DONTWAIT, NULL);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK)
        return 0;
      /* Late ICMP errors for earlier sends are not the socket's death. */
      if (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH)
        return 0;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                   "UDP receive failed: %s", g_strerror (e));
      return -1;
    }

  sock->stats.recv_syscalls++;
  for (int i = 0; i < r; i++)
    {
      EmberPacket *p = &batch[i];
      struct msghdr *h = &sock->rmsgs[i].msg_hdr;
      p->len = sock->rmsgs[i].msg_len;
      p->segment_size = 0;
      p->queue = 0;
      p->error = 0;
      memset (&p->local, 0, sizeof p->local);
      if (!ember_udp_addr_from_sockaddr (&sock->raddr[i], h->msg_namelen, &p->remote))
        p->error = EAFNOSUPPORT;
      if (h->msg_flags & MSG_TRUNC)
        p->error = EMSGSIZE;
      parse_recv_cmsgs (sock, h, p);
      sock->stats.datagrams_received += p->segment_size ? (p->len + p->segment_size - 1) / p->segment_size : 1;
    }
  return r;
}

gboolean
ember_udp_socket_queue (EmberUdpSocket *sock, const EmberAddr *dst, const guint8 *data,
                        gsize len, GError **error)
{
  switch (ember_gso_queue_push (sock->queue, dst, data, len))
    {
    case EMBER_GSO_PUSH_QUEUED:
      return TRUE;
    case EMBER_GSO_PUSH_FULL:
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK,
                           "UDP send queue is full; flush and wait for writability");
      return FALSE;
    case EMBER_GSO_PUSH_INVALID:
    default:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "UDP datagram of %" G_GSIZE_FORMAT " bytes cannot be sent (1..%d)",
                   len, EMBER_GSO_MAX_BYTES);
      return FALSE;
    }
}

/* Errors that concern one destination or one datagram, not the socket. */
static gboolean
is_per_destination_error (int e)
{
  switch (e)
    {
    case EMSGSIZE: case ENETUNREACH: case EHOSTUNREACH: case EACCES: case EPERM:
    case EAFNOSUPPORT: case EADDRNOTAVAIL: case EDESTADDRREQ: case EINVAL:
    case ECONNREFUSED: case ENETDOWN: case EHOSTDOWN:
      return TRUE;
    default:
      return FALSE;
    }
}

static void
fill_msg (EmberUdpSocket *sock, guint i, const EmberAddr *dst, const guint8 *data, gsize len,
          guint16 segment_size)
{
  struct msghdr *h = &sock->smsgs[i].msg_hdr;
  memset (h, 0, sizeof *h);
  sock->siov[i].iov_base = (void *) data;
  sock->siov[i].iov_len = len;
  h->msg_iov = &sock->siov[i];
  h->msg_iovlen = 1;
  gsize alen = ember_udp_addr_to_sockaddr (dst, sock->family, &sock->saddr[i], sizeof sock->saddr[i]);
  h->msg_name = alen ? &sock->saddr[i] : NULL;
  h->msg_namelen = (socklen_t) alen;
  if (segment_size > 0)
    {
      h->msg_control = sock->sctrl[i].buf;
      h->msg_controllen = sizeof sock->sctrl[i].buf;
      struct cmsghdr *c = CMSG_FIRSTHDR (h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN (sizeof (guint16));
      memcpy (CMSG_DATA (c), &segment_size, sizeof segment_size);
    }
}

/* Builds the messages for one sendmmsg(). Returns the message count and
 * in *segs[i] how many datagrams message i carries. */
static guint
build_msgs (EmberUdpSocket *sock, gboolean gso, gboolean head_only, guint *segs)
{
  guint nb = ember_gso_queue_peek (sock->queue, sock->batches, head_only ? 1 : SEND_MSGS);
  guint m = 0;
  for (guint b = 0; b < nb && m < SEND_MSGS; b++)
    {
      const EmberGsoBatch *batch = &sock->batches[b];
      if (gso)
        {
          fill_msg (sock, m, &batch->dst, batch->data, batch->len,
                    batch->n_segments > 1 ? batch->segment_size : 0);
          segs[m++] = batch->n_segments;
          continue;
        }
      for (guint s = 0; s < batch->n_segments && m < SEND_MSGS; s++)
        {
          fill_msg (sock, m, &batch->dst, batch->data + (gsize) s * batch->segment_size,
                    batch->segment_size, 0);
          segs[m++] = 1;
        }
    }
  return m;
}

EmberPoll
ember_udp_socket_flush (EmberUdpSocket *sock, GError **error)
{
  g_return_val_if_fail (sock != NULL, EMBER_POLL_ERROR);

  guint segs[SEND_MSGS];
  guint dropped = 0;
  int last_drop_errno = 0;
  gboolean probe_plain = FALSE;

  sock->wants_writable = FALSE;
  while (!ember_gso_queue_is_empty (sock->queue))
    {
      gboolean gso = sock->gso && !probe_plain;
      guint m = build_msgs (sock, gso, probe_plain, segs);
      int r = sendmmsg (sock->fd, sock->smsgs, m, MSG_DONTWAIT);
      if (r > 0)
        {
          guint sent = 0;
          for (int i = 0; i < r; i++)
            {
              sent += segs[i];
              if (gso && segs[i] > 1)
                sock->stats.gso_batches++;
            }
          sock->stats.send_syscalls++;
          sock->stats.datagrams_sent += sent;
          ember_gso_queue_consume (sock->queue, sent);
          if (probe_plain)
            {
              /* The same datagrams went out one by one: the kernel
               * refuses UDP_SEGMENT itself, not the destination. */
              g_warning ("kernel refused UDP GSO; falling back to plain sendmmsg");
              sock->gso = FALSE;
              probe_plain = FALSE;
            }
          continue;
        }

      int e = errno;
      if (e == EINTR)
        continue;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS)
        {
          /* seed 003: keep the queue, wait for writability. */
          sock->wants_writable = TRUE;
          break;
        }
      if (gso && segs[0] > 1 && (e == EIO || e == EINVAL))
        {
          /* Either GSO is refused (EIO: no checksum offload on the
           * route; EINVAL: old kernel) or the segment is too big for the
           * path: send the head batch plainly once to tell them apart. */
          probe_plain = TRUE;
          continue;
        }
      if (is_per_destination_error (e))
        {
          guint n = gso ? ember_gso_queue_drop_head (sock->queue) : 1;
          if (!gso)
            ember_gso_queue_consume (sock->queue, 1);
          dropped += n;
          last_drop_errno = e;
          probe_plain = FALSE;
          continue;
        }
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                   "UDP send failed: %s", g_strerror (e));
      return EMBER_POLL_ERROR;
    }

  if (dropped > 0)
    {
      /* Logged once per flush, not per datagram. */
      sock->stats.datagrams_dropped += dropped;
      g_warning ("dropped %u UDP datagrams the kernel refused: %s", dropped,
                 g_strerror (last_drop_errno));
    }
  return sock->wants_writable ? EMBER_POLL_PENDING : EMBER_POLL_READY;
}

gboolean
ember_udp_socket_wants_writable (const EmberUdpSocket *sock)
{
  return sock->wants_writable;
}

guint
ember_udp_socket_queued (const EmberUdpSocket *sock)
{
  return ember_gso_queue_n_datagrams (sock->queue);
}

void
ember_udp_socket_get_stats (const EmberUdpSocket *sock, EmberUdpStats *stats)
{
  *stats = sock->stats;
}
