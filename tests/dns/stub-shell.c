/* tests/dns/stub-shell — a small loopback I/O shell around the stub
 * resolver, for the interop test and bench/dns.sh (not part of Ember).
 *
 * One UDP and one TCP socket on one 127.0.0.1 port stand for sentinel
 * 0; the stub's transmits go to an upstream on 127.0.0.1 (UDP, or a TCP
 * connection per query when the stub asks). UDP goes through Ember's
 * own socket (core/io/udp.h), as in emberd: one recvmmsg() per batch of
 * up to 64 datagrams, answers and transmits queued and sent with
 * sendmmsg() (and UDP GSO for same-sized ones to one client) once per
 * round. Single-threaded: run() loops until `stop` is set, and copies
 * the stub's counters under `lock` before any answer leaves.
 */
#include "stub-shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH EMBER_BATCH_MAX
/* A UDP message as large as one can be. */
#define SLOT_LEN 65536
/* How long a full send queue waits for the socket to drain. */
#define SEND_WAIT_MS 5000

static void
set_timeout (int fd, int seconds)
{
  struct timeval tv = { .tv_sec = seconds };

  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static gboolean
read_all (int fd, guint8 *buf, gsize len)
{
  gsize got = 0;

  while (got < len)
    {
      ssize_t n = read (fd, buf + got, len - got);
      if (n <= 0)
        return FALSE;
      got += (gsize) n;
    }
  return TRUE;
}

static gboolean
write_framed (int fd, const guint8 *msg, gsize len)
{
  guint8 prefix[2] = { (guint8) (len >> 8), (guint8) len };

  return write (fd, prefix, 2) == 2 && write (fd, msg, len) == (ssize_t) len;
}

/* One framed message (RFC 7766 §8); its length or 0. */
static gsize
read_framed (int fd, guint8 *buf, gsize cap)
{
  guint8 prefix[2];
  gsize len;

  if (!read_all (fd, prefix, 2))
    return 0;
  len = (gsize) prefix[0] << 8 | prefix[1];
  if (len == 0 || len > cap || !read_all (fd, buf, len))
    return 0;
  return len;
}

static struct sockaddr_in
loopback (guint16 port)
{
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons (port) };

  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  return sin;
}

/* The stub asked for TCP: one connection per query, as dig does. */
static void
upstream_tcp (DnsShell *sh, const guint8 *query, gsize len, guint64 token)
{
  static guint8 answer[EMBER_DNS_TCP_MAX];
  struct sockaddr_in to = loopback (sh->upstream_port);
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gsize n = 0;

  set_timeout (fd, 5);
  if (connect (fd, (struct sockaddr *) &to, sizeof to) == 0 && write_framed (fd, query, len))
    n = read_framed (fd, answer, sizeof answer);
  close (fd);
  if (n > 0)
    ember_dns_stub_handle_upstream (sh->stub, g_get_monotonic_time (), 0,
                                    EMBER_DNS_TRANSPORT_TCP, answer, n);
  else
    ember_dns_stub_handle_upstream_error (sh->stub, g_get_monotonic_time (), token);
}

/* Sends what `sock` has queued; waits (bounded) while it would block,
 * as a blocking sendto() would have. */
static void
flush (EmberUdpSocket *sock)
{
  gint64 end;

  if (ember_udp_socket_queued (sock) == 0 ||
      ember_udp_socket_flush (sock, NULL) != EMBER_POLL_PENDING)
    return;
  end = g_get_monotonic_time () + SEND_WAIT_MS * G_TIME_SPAN_MILLISECOND;
  do
    {
      struct pollfd pfd = { ember_udp_socket_get_fd (sock), POLLOUT, 0 };
      poll (&pfd, 1, 100);
    }
  while (ember_udp_socket_flush (sock, NULL) == EMBER_POLL_PENDING &&
         g_get_monotonic_time () < end);
}

static void
queue_datagram (EmberUdpSocket *sock, const EmberAddr *to, const guint8 *buf, gsize len)
{
  if (!ember_udp_socket_queue (sock, to, buf, len, NULL))
    {
      /* every batch buffer is taken: send them, then queue */
      flush (sock);
      ember_udp_socket_queue (sock, to, buf, len, NULL);
    }
}

static void
drain (DnsShell *sh)
{
  static guint8 buf[EMBER_DNS_TCP_MAX];
  gboolean more = TRUE;

  while (more)
    {
      EmberDnsStubEvent ev;
      EmberDnsAsker to;
      EmberDnsTransmit tx;
      gsize len;

      more = FALSE;
      /* the counters are copied before any answer leaves, so a test that
       * got its answer sees them */
      g_mutex_lock (&sh->lock);
      ember_dns_stub_get_stats (sh->stub, &sh->stats);
      g_mutex_unlock (&sh->lock);
      while (ember_dns_stub_poll_event (sh->stub, &ev))
        ;
      while ((len = ember_dns_stub_poll_answer (sh->stub, buf, sizeof buf, &to)) > 0)
        {
          if (to.transport == EMBER_DNS_TRANSPORT_TCP)
            {
              write_framed ((int) to.stream, buf, len);
              close ((int) to.stream);
            }
          else
            queue_datagram (sh->udp, &to.client, buf, len);
        }
      while (ember_dns_stub_poll_transmit (sh->stub, buf, sizeof buf, &tx))
        {
          g_assert_cmpuint (tx.upstream, ==, 0);
          if (tx.transport == EMBER_DNS_TRANSPORT_TCP)
            upstream_tcp (sh, buf, tx.len, tx.token);
          else
            queue_datagram (sh->up, &sh->upstream, buf, tx.len);
          more = TRUE;
        }
    }
  flush (sh->udp);
  flush (sh->up);
}

static EmberDnsAsker
asker_from (const struct sockaddr_in *sin, EmberDnsTransport transport, guint64 stream)
{
  EmberDnsAsker a = { .transport = transport, .stream = stream };

  a.client.family = EMBER_ADDR_IPV4;
  memcpy (a.client.addr, &sin->sin_addr, 4);
  a.client.port = ntohs (sin->sin_port);
  ember_dns_stub_sentinel (0, EMBER_ADDR_IPV4, &a.sentinel);
  return a;
}

/* The stub's asker for a datagram from `client` to sentinel 0. */
static EmberDnsAsker
udp_asker (const EmberAddr *client)
{
  EmberDnsAsker a = { .transport = EMBER_DNS_TRANSPORT_UDP, .client = *client };

  ember_dns_stub_sentinel (0, EMBER_ADDR_IPV4, &a.sentinel);
  return a;
}

static EmberPacket *
recv_batch (void)
{
  static EmberPacket batch[BATCH];
  static guint8 slots[BATCH][SLOT_LEN];

  for (guint i = 0; i < BATCH; i++)
    {
      batch[i].data = slots[i];
      batch[i].capacity = SLOT_LEN;
    }
  return batch;
}

void
dns_shell_run (DnsShell *sh)
{
  static guint8 buf[EMBER_DNS_TCP_MAX];
  EmberPacket *batch = recv_batch ();

  while (!g_atomic_int_get (&sh->stop))
    {
      struct pollfd fds[3] = { { ember_udp_socket_get_fd (sh->udp), POLLIN, 0 },
                               { sh->tcp_fd, POLLIN, 0 },
                               { ember_udp_socket_get_fd (sh->up), POLLIN, 0 } };
      gint64 now = g_get_monotonic_time (), deadline = ember_dns_stub_poll_timeout (sh->stub);
      int wait_ms = (int) CLAMP ((deadline - now) / 1000, 0, 50);
      gint n;

      if (poll (fds, 3, wait_ms) < 0 && errno != EINTR)
        break;
      now = g_get_monotonic_time ();
      /* a batch from each socket per round (seed 001), never blocking */
      if ((fds[0].revents & POLLIN) &&
          (n = ember_udp_socket_recv_many (sh->udp, batch, BATCH, NULL)) > 0)
        for (gint i = 0; i < n; i++)
          {
            EmberDnsAsker a;

            if (batch[i].error != 0)
              continue;
            a = udp_asker (&batch[i].remote);
            ember_dns_stub_handle_query (sh->stub, now, &a, batch[i].data, batch[i].len);
          }
      if (fds[1].revents & POLLIN)
        {
          struct sockaddr_in from;
          socklen_t flen = sizeof from;
          int fd = accept (sh->tcp_fd, (struct sockaddr *) &from, &flen);
          gsize len;

          if (fd >= 0)
            {
              EmberDnsAsker a = asker_from (&from, EMBER_DNS_TRANSPORT_TCP, (guint64) fd);
              set_timeout (fd, 5);
              len = read_framed (fd, buf, sizeof buf);
              if (len == 0)
                close (fd);
              else
                switch (ember_dns_stub_handle_query (sh->stub, now, &a, buf, len))
                  {
                  case EMBER_DNS_STUB_DROPPED:
                  case EMBER_DNS_STUB_NOT_SENTINEL:
                    close (fd);
                    break;
                  default:
                    break;  /* the answer closes it */
                  }
            }
        }
      if ((fds[2].revents & POLLIN) &&
          (n = ember_udp_socket_recv_many (sh->up, batch, BATCH, NULL)) > 0)
        for (gint i = 0; i < n; i++)
          /* the socket is not connected: only the upstream's datagrams count */
          if (batch[i].error == 0 && ember_ice_addr_equal (&batch[i].remote, &sh->upstream))
            ember_dns_stub_handle_upstream (sh->stub, now, 0, EMBER_DNS_TRANSPORT_UDP,
                                            batch[i].data, batch[i].len);
      ember_dns_stub_handle_timeout (sh->stub, g_get_monotonic_time ());
      drain (sh);
    }
}

static int
bound_socket (int type, guint16 port, guint16 *bound)
{
  struct sockaddr_in sin = loopback (port);
  socklen_t len = sizeof sin;
  int fd = socket (AF_INET, type, 0), one = 1;

  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &sin, sizeof sin) != 0)
    {
      close (fd);
      return -1;
    }
  getsockname (fd, (struct sockaddr *) &sin, &len);
  if (bound != NULL)
    *bound = ntohs (sin.sin_port);
  if (type == SOCK_STREAM)
    listen (fd, 16);
  return fd;
}

/* A UDP and a TCP socket on one free port. */
gboolean
dns_shell_bind_pair (int *udp, int *tcp, guint16 *port)
{
  for (int attempt = 0; attempt < 20; attempt++)
    {
      *udp = bound_socket (SOCK_DGRAM, 0, port);
      *tcp = bound_socket (SOCK_STREAM, *port, NULL);
      if (*tcp >= 0)
        return TRUE;
      close (*udp);
    }
  return FALSE;
}

/* Ember's UDP socket on a free 127.0.0.1 port, GRO off (one datagram a
 * slot); NULL on failure. */
static EmberUdpSocket *
udp_socket (guint16 port, guint16 *bound)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .addr = { 127, 0, 0, 1 }, .port = port };
  EmberUdpSocket *sock = ember_udp_socket_new (&a, NULL);

  if (sock == NULL)
    return NULL;
  ember_udp_socket_set_gro (sock, FALSE);
  if (bound != NULL)
    {
      if (!ember_udp_socket_get_local (sock, &a, NULL))
        {
          ember_udp_socket_free (sock);
          return NULL;
        }
      *bound = a.port;
    }
  return sock;
}

gboolean
dns_shell_open (DnsShell *sh, EmberDnsStub *stub, guint16 upstream_port)
{
  memset (sh, 0, sizeof *sh);
  sh->stub = stub;
  sh->upstream_port = upstream_port;
  sh->upstream = (EmberAddr){ .family = EMBER_ADDR_IPV4, .addr = { 127, 0, 0, 1 },
                              .port = upstream_port };
  sh->tcp_fd = -1;
  g_mutex_init (&sh->lock);
  /* the sentinel's UDP and TCP socket share one free port */
  for (int attempt = 0; attempt < 20 && sh->tcp_fd < 0; attempt++)
    {
      g_clear_pointer (&sh->udp, ember_udp_socket_free);
      sh->udp = udp_socket (0, &sh->port);
      if (sh->udp != NULL)
        sh->tcp_fd = bound_socket (SOCK_STREAM, sh->port, NULL);
    }
  sh->up = udp_socket (0, NULL);
  return sh->tcp_fd >= 0 && sh->up != NULL;
}

void
dns_shell_close (DnsShell *sh)
{
  g_clear_pointer (&sh->udp, ember_udp_socket_free);
  g_clear_pointer (&sh->up, ember_udp_socket_free);
  if (sh->tcp_fd >= 0)
    close (sh->tcp_fd);
  g_mutex_clear (&sh->lock);
}

void
dns_shell_get_stats (DnsShell *sh, EmberDnsStubStats *stats)
{
  g_mutex_lock (&sh->lock);
  *stats = sh->stats;
  g_mutex_unlock (&sh->lock);
}
