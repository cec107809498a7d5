/* tests/dns/stub-shell — a small loopback I/O shell around the stub
 * resolver, for the interop test and bench/dns.sh (not part of Ember).
 *
 * One UDP and one TCP socket on one 127.0.0.1 port stand for sentinel
 * 0; the stub's transmits go to an upstream on 127.0.0.1 (UDP, or a TCP
 * connection per query when the stub asks). Single-threaded: run() loops
 * until `stop` is set, and copies the stub's counters under `lock`
 * before any answer leaves.
 */
#include "stub-shell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64

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
            {
              struct sockaddr_in sin = loopback (to.client.port);
              memcpy (&sin.sin_addr, to.client.addr, 4);
              sendto (sh->udp_fd, buf, len, 0, (struct sockaddr *) &sin, sizeof sin);
            }
        }
      while (ember_dns_stub_poll_transmit (sh->stub, buf, sizeof buf, &tx))
        {
          g_assert_cmpuint (tx.upstream, ==, 0);
          if (tx.transport == EMBER_DNS_TRANSPORT_TCP)
            upstream_tcp (sh, buf, tx.len, tx.token);
          else
            send (sh->up_fd, buf, tx.len, 0);
          more = TRUE;
        }
    }
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

void
dns_shell_run (DnsShell *sh)
{
  static guint8 buf[EMBER_DNS_TCP_MAX];

  while (!g_atomic_int_get (&sh->stop))
    {
      struct pollfd fds[3] = { { sh->udp_fd, POLLIN, 0 }, { sh->tcp_fd, POLLIN, 0 },
                               { sh->up_fd, POLLIN, 0 } };
      gint64 now = g_get_monotonic_time (), deadline = ember_dns_stub_poll_timeout (sh->stub);
      int wait_ms = (int) CLAMP ((deadline - now) / 1000, 0, 50);

      if (poll (fds, 3, wait_ms) < 0 && errno != EINTR)
        break;
      now = g_get_monotonic_time ();
      /* a batch from each socket per round (seed 001), never blocking */
      for (int i = 0; i < BATCH && (fds[0].revents & POLLIN); i++)
        {
          struct sockaddr_in from;
          socklen_t flen = sizeof from;
          ssize_t n = recvfrom (sh->udp_fd, buf, sizeof buf, MSG_DONTWAIT,
                                (struct sockaddr *) &from, &flen);
          EmberDnsAsker a;

          if (n <= 0)
            break;
          a = asker_from (&from, EMBER_DNS_TRANSPORT_UDP, 0);
          ember_dns_stub_handle_query (sh->stub, now, &a, buf, (gsize) n);
        }
      if (fds[1].revents & POLLIN)
        {
          struct sockaddr_in from;
          socklen_t flen = sizeof from;
          int fd = accept (sh->tcp_fd, (struct sockaddr *) &from, &flen);
          gsize n;

          if (fd >= 0)
            {
              EmberDnsAsker a = asker_from (&from, EMBER_DNS_TRANSPORT_TCP, (guint64) fd);
              set_timeout (fd, 5);
              n = read_framed (fd, buf, sizeof buf);
              if (n == 0)
                close (fd);
              else
                switch (ember_dns_stub_handle_query (sh->stub, now, &a, buf, n))
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
      for (int i = 0; i < BATCH && (fds[2].revents & POLLIN); i++)
        {
          ssize_t n = recv (sh->up_fd, buf, sizeof buf, MSG_DONTWAIT);

          if (n <= 0)
            break;
          ember_dns_stub_handle_upstream (sh->stub, now, 0, EMBER_DNS_TRANSPORT_UDP, buf,
                                          (gsize) n);
        }
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

gboolean
dns_shell_open (DnsShell *sh, EmberDnsStub *stub, guint16 upstream_port)
{
  struct sockaddr_in to = loopback (upstream_port);

  memset (sh, 0, sizeof *sh);
  sh->stub = stub;
  sh->upstream_port = upstream_port;
  g_mutex_init (&sh->lock);
  if (!dns_shell_bind_pair (&sh->udp_fd, &sh->tcp_fd, &sh->port))
    return FALSE;
  sh->up_fd = socket (AF_INET, SOCK_DGRAM, 0);
  return connect (sh->up_fd, (struct sockaddr *) &to, sizeof to) == 0;
}

void
dns_shell_close (DnsShell *sh)
{
  if (sh->udp_fd > 0)
    close (sh->udp_fd);
  if (sh->tcp_fd > 0)
    close (sh->tcp_fd);
  if (sh->up_fd > 0)
    close (sh->up_fd);
  g_mutex_clear (&sh->lock);
}

void
dns_shell_get_stats (DnsShell *sh, EmberDnsStubStats *stats)
{
  g_mutex_lock (&sh->lock);
  *stats = sh->stats;
  g_mutex_unlock (&sh->lock);
}
