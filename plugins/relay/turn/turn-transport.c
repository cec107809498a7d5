/* turn-transport — the TURN transport plugin (kind transport, "turn").
 *
 * The I/O shell around the sans-IO TURN client (client/client.h): one
 * EmberTurnClient per relay, all of them sharing one non-blocking UDP
 * socket per address family; a datagram goes to the client whose server
 * sent it. Relayed data comes out of poll_recv_many() with `remote` the
 * peer and `local` the relayed address; send() picks the allocation by
 * `local` and holds a packet for a new peer (bounded, 5 s) until its
 * permission is installed. Control messages go out as soon as a client
 * has them. The relay set, allocations and peers are steered through
 * EmberRelayControl (ember-plugin-relay.h, turn-control.c), whose events
 * the core drains after every poll_recv_many().
 *
 * This file: the I/O vtable and plugin entry, the relays and their held
 * datagrams, sending and receiving. Configuration and credentials are in
 * turn-config.c, the readiness thread and deadlines in turn-wake.c, the
 * shared structures in turn-transport-private.h.
 *
 * Threads: every client, queue and socket write is touched on the core's
 * thread only, inside the vtable and control calls, which read the clock
 * and run the clients' timers. One readiness thread per backend, when
 * armed by a poll_recv_many() that found nothing or a poll_send_ready()
 * that must wait, poll()s the sockets and an eventfd (timeout: the
 * earliest client deadline), wakes the stored waker once and sleeps until
 * it is armed again. It shares only the fields under `lock`.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "turn-transport-private.h"

/* ---- Sending --------------------------------------------------------------- */

static int
socket_for (EmberBackend *be, const EmberAddr *to)
{
  return to->family == EMBER_ADDR_IPV4 ? be->fd4 : be->fd6;
}

/* One sendto; 0, or the errno. */
static int
send_now (EmberBackend *be, const EmberAddr *to, const guint8 *buf, gsize len)
{
  int fd = socket_for (be, to);
  if (fd < 0)
    return EAFNOSUPPORT;
  struct sockaddr_storage ss;
  socklen_t sl = turn_addr_to_sockaddr (to, &ss);
  while (sendto (fd, buf, len, MSG_DONTWAIT, (struct sockaddr *) &ss, sl) < 0)
    if (errno != EINTR)
      return errno;
  be->n.tx_packets++;
  return 0;
}

/* Sends the `len` bytes in be->train, datagrams of `seg` bytes but the
 * last, as one UDP_SEGMENT message (seed 002): one trip down the stack,
 * and a relay that asks for UDP_GRO takes them as one buffer. 0, or the
 * errno; nothing was sent unless 0. */
static int
send_train (EmberBackend *be, const EmberAddr *to, gsize len, guint16 seg, guint n)
{
  int fd = socket_for (be, to);
  if (fd < 0)
    return EAFNOSUPPORT;
  struct sockaddr_storage ss;
  struct iovec iov = { be->train, len };
  union {
    char buf[CMSG_SPACE (sizeof seg)];
    struct cmsghdr align;
  } control;
  struct msghdr m = { .msg_name = &ss, .msg_namelen = turn_addr_to_sockaddr (to, &ss),
                      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                      .msg_controllen = sizeof control.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR (&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN (sizeof seg);
  memcpy (CMSG_DATA (c), &seg, sizeof seg);
  while (sendmsg (fd, &m, MSG_DONTWAIT) < 0)
    if (errno != EINTR)
      return errno;
  be->n.tx_packets += n;
  be->n.tx_trains++;
  return 0;
}

/* The socket the oldest blocked datagram waits for, or -1. */
int
turn_blocked_fd (EmberBackend *be)
{
  return be->blocked_len > 0 ? socket_for (be, &be->blocked[be->blocked_head].to) : -1;
}

/* Sends what waited for the socket to drain, in order, until it blocks. */
static void
flush_blocked (EmberBackend *be)
{
  while (be->blocked_len > 0)
    {
      Blocked *b = &be->blocked[be->blocked_head];
      int err = send_now (be, &b->to, b->data, b->len);
      if (err == EAGAIN || err == EWOULDBLOCK)
        return;
      if (err != 0)
        be->n.tx_errors++;
      be->blocked_head = (be->blocked_head + 1) % TURN_BLOCKED_MAX;
      be->blocked_len--;
    }
}

/* Keeps one datagram until the socket drains; ENOBUFS when the ring is
 * full (the datagram is lost and counted). */
static int
hold_wire (EmberBackend *be, const EmberAddr *to, const guint8 *buf, gsize len)
{
  if (be->blocked_len == TURN_BLOCKED_MAX)
    {
      be->n.blocked_drops++;
      return ENOBUFS;
    }
  Blocked *b = &be->blocked[(be->blocked_head + be->blocked_len) % TURN_BLOCKED_MAX];
  b->to = *to;
  b->len = len;
  memcpy (b->data, buf, len);
  be->blocked_len++;
  return 0;
}

/* Sends one datagram to a relay, or keeps it when the socket is full (or
 * earlier ones are still waiting: order is kept). 0, or the errno of a
 * datagram that is lost. */
static int
send_wire (EmberBackend *be, const EmberAddr *to, const guint8 *buf, gsize len)
{
  int err = EAGAIN;
  if (be->blocked_len == 0)
    err = send_now (be, to, buf, len);
  if (err != EAGAIN && err != EWOULDBLOCK)
    {
      if (err != 0)
        be->n.tx_errors++;
      return err;
    }
  return hold_wire (be, to, buf, len);
}

/* ---- Relays ---------------------------------------------------------------- */

static guint64
rng_next (gpointer user_data)
{
  (void) user_data;
  guint64 v = 0;
  /* STUN transaction ids must be unpredictable (RFC 8489 §6). */
  if (getrandom (&v, sizeof v, 0) != (ssize_t) sizeof v)
    v = ((guint64) g_random_int () << 32) | g_random_int ();
  return v;
}

Relay *
turn_relay_by_server (EmberBackend *be, const EmberAddr *server)
{
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      if (turn_addr_eq (&r->server, server))
        return r;
    }
  return NULL;
}

Relay *
turn_relay_by_relayed (EmberBackend *be, const EmberAddr *relayed)
{
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      if (ember_turn_client_owns_relayed (r->client, relayed))
        return r;
    }
  return NULL;
}

void
turn_push_event (EmberBackend *be, const EmberRelayEvent *ev)
{
  if (be->ev_len == TURN_EVENTS_MAX)
    {
      /* The core drains after every poll_recv_many(): only a core that
       * stopped polling gets here. Keep the newest. */
      be->ev_head = (be->ev_head + 1) % TURN_EVENTS_MAX;
      be->ev_len--;
      be->n.event_drops++;
    }
  be->events[(be->ev_head + be->ev_len) % TURN_EVENTS_MAX] = *ev;
  be->ev_len++;
  be->events_new = TRUE;
}

void
turn_held_drop_where (EmberBackend *be, Relay *r, const EmberAddr *peer)
{
  guint kept = 0;
  for (guint i = 0; i < r->n_held; i++)
    {
      Held *h = &r->held[r->held_order[i]];
      if (peer == NULL || turn_addr_eq (&h->peer, peer))
        {
          h->used = FALSE;
          be->n.held_drops++;
        }
      else
        r->held_order[kept++] = r->held_order[i];
    }
  r->n_held = kept;
}

static void
held_add (EmberBackend *be, Relay *r, gint64 now, const EmberAddr *peer, const guint8 *data,
          gsize len)
{
  if (r->held == NULL)
    r->held = g_new0 (Held, TURN_HOLD_MAX);
  if (r->n_held == TURN_HOLD_MAX)
    {
      be->n.held_drops++;
      return;
    }
  guint slot = 0;
  while (r->held[slot].used)
    slot++;
  be->n.held++;
  Held *h = &r->held[slot];
  h->used = TRUE;
  h->peer = *peer;
  h->since = now;
  h->len = len;
  memcpy (h->data, data, len);
  r->held_order[r->n_held++] = (guint8) slot;
}

static gboolean
held_has_peer (const Relay *r, const EmberAddr *peer)
{
  for (guint i = 0; i < r->n_held; i++)
    if (turn_addr_eq (&r->held[r->held_order[i]].peer, peer))
      return TRUE;
  return FALSE;
}

/* Sends the held datagrams whose peer can now be reached, oldest first;
 * drops those held too long. The result of encode depends on the peer
 * only, so the order per peer is kept. */
static void
held_flush (EmberBackend *be, Relay *r, gint64 now)
{
  guint kept = 0;
  for (guint i = 0; i < r->n_held; i++)
    {
      Held *h = &r->held[r->held_order[i]];
      gsize n = ember_turn_client_encode (r->client, now, &h->peer, h->data, h->len, be->wire,
                                          sizeof be->wire);
      if (n > 0)
        {
          send_wire (be, &r->server, be->wire, n);
          h->used = FALSE;
        }
      else if (now - h->since >= TURN_HOLD_US)
        {
          h->used = FALSE;
          be->n.held_expired++;
        }
      else
        r->held_order[kept++] = r->held_order[i];
    }
  r->n_held = kept;
}

/* After anything a client was told: its control messages go out, its
 * events are queued for the core, and held datagrams move on. */
void
turn_relay_drain (EmberBackend *be, Relay *r, gint64 now)
{
  EmberTurnEvent tev;
  while (ember_turn_client_poll_event (r->client, &tev))
    {
      EmberRelayEvent ev = {
        .relay = r->server, .addr = tev.addr, .old = tev.old, .n_relayed = tev.n_relayed,
        .error_code = tev.error_code,
      };
      memcpy (ev.relayed, tev.relayed, sizeof ev.relayed);
      switch (tev.type)
        {
        case EMBER_TURN_EVENT_SRFLX:
          ev.type = EMBER_RELAY_EVENT_SRFLX;
          r->mapped = tev.addr;
          break;
        case EMBER_TURN_EVENT_ALLOCATED:
          ev.type = EMBER_RELAY_EVENT_ALLOCATED;
          break;
        case EMBER_TURN_EVENT_INVALIDATED:
          /* Held datagrams were for the dead relayed address. */
          ev.type = EMBER_RELAY_EVENT_INVALIDATED;
          turn_held_drop_where (be, r, NULL);
          break;
        case EMBER_TURN_EVENT_DOWN:
          ev.type = EMBER_RELAY_EVENT_DOWN;
          memset (&r->mapped, 0, sizeof r->mapped);
          break;
        case EMBER_TURN_EVENT_UP:
          ev.type = EMBER_RELAY_EVENT_UP;
          break;
        case EMBER_TURN_EVENT_ALLOCATION_FAILED:
          ev.type = EMBER_RELAY_EVENT_FAILED;
          if (tev.error_code == EMBER_STUN_ERROR_ALLOCATION_MISMATCH)
            {
              char a[64];
              g_log (be->log_domain, G_LOG_LEVEL_WARNING,
                     "relay %s: an allocation made under other credentials holds our address "
                     "and port (437: an earlier run on the same source port?) and cannot be "
                     "released; retrying every %d s until it expires",
                     turn_addr_format (&r->server, a, sizeof a),
                     (int) (EMBER_TURN_RETRY_US / G_TIME_SPAN_SECOND));
            }
          break;
        default:
          continue;
        }
      turn_push_event (be, &ev);
    }
  if (r->n_held > 0)
    held_flush (be, r, now);
  EmberAddr to;
  gsize n;
  while ((n = ember_turn_client_poll_transmit (r->client, be->wire, sizeof be->wire, &to)) > 0)
    send_wire (be, &to, be->wire, n);
}

Relay *
turn_relay_new (EmberBackend *be, const EmberAddr *server, const char *user, const char *pass,
                gboolean config_creds, gint64 now)
{
  EmberTurnRng rng = { rng_next, NULL };
  Relay *r = g_new0 (Relay, 1);
  r->server = *server;
  r->config_creds = config_creds;
  r->client = ember_turn_client_new (server, user, pass, &rng, now);
  ember_turn_client_set_dual_stack (r->client, be->config.dual_stack);
  return r;
}

/* Released: the Refresh with lifetime 0 goes out, INVALIDATED is queued. */
void
turn_relay_free (EmberBackend *be, Relay *r, gint64 now)
{
  ember_turn_client_deallocate (r->client, now);
  turn_relay_drain (be, r, now);
  be->n.held_drops += r->n_held;
  ember_turn_client_free (r->client);
  g_free (r->held);
  g_free (r);
}

static int
open_socket (int family, guint32 fwmark, GError **error)
{
  int fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int err = errno;
      g_set_error (error, EMBER_PLUGIN_ERROR,
                   err == EAFNOSUPPORT ? EMBER_PLUGIN_ERROR_UNSUPPORTED : EMBER_PLUGIN_ERROR_IO,
                   "UDP socket (%s): %s", family == AF_INET ? "IPv4" : "IPv6", g_strerror (err));
      return -1;
    }
  int size = TURN_SOCKET_BUFFER, one = 1;
  /* Best effort: the kernel caps them at rmem_max / wmem_max. */
  (void) setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  (void) setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  /* A full tunnel routes everything but marked sockets into itself
   * (wg-quick's pattern): the relay traffic must carry the mark. */
  int mark = (int) fwmark;
  if (fwmark != 0 && setsockopt (fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0)
    {
      int err = errno;
      g_set_error (error, EMBER_PLUGIN_ERROR,
                   err == EPERM ? EMBER_PLUGIN_ERROR_PERMISSION : EMBER_PLUGIN_ERROR_IO,
                   "UDP socket (%s): SO_MARK 0x%x: %s", family == AF_INET ? "IPv4" : "IPv6",
                   fwmark, g_strerror (err));
      close (fd);
      return -1;
    }
  struct sockaddr_storage ss = { .ss_family = (sa_family_t) family };
  socklen_t sl = sizeof (struct sockaddr_in);
  if (family == AF_INET6)
    {
      (void) setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      sl = sizeof (struct sockaddr_in6);
    }
  if (bind (fd, (struct sockaddr *) &ss, sl) < 0)
    {
      int err = errno;
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_IO, "bind UDP socket (%s): %s",
                   family == AF_INET ? "IPv4" : "IPv6", g_strerror (err));
      close (fd);
      return -1;
    }
  return fd;
}

/* The IPv6 socket is opened when the first IPv6 relay appears. */
gboolean
turn_ensure_socket (EmberBackend *be, guint8 family, GError **error)
{
  if (family == EMBER_ADDR_IPV4 || be->fd6 >= 0)
    return TRUE;
  int fd = open_socket (AF_INET6, be->config.fwmark, error);
  if (fd < 0)
    return FALSE;
  g_mutex_lock (&be->lock);
  be->fd6 = fd;
  turn_kick_locked (be);
  g_mutex_unlock (&be->lock);
  return TRUE;
}

/* ---- Receiving --------------------------------------------------------------- */

static EmberAddr
relayed_for (const Relay *r, guint8 family)
{
  EmberAddr relayed[2];
  guint n = ember_turn_client_get_relayed (r->client, relayed);
  for (guint i = 0; i < n; i++)
    if (relayed[i].family == family)
      return relayed[i];
  return relayed[0];
}

static guint
read_socket (EmberBackend *be, int fd, gint64 now, EmberPacket *batch, guint max)
{
  guint filled = 0;
  struct mmsghdr msgs[TURN_RECV_BATCH];
  struct iovec iov[TURN_RECV_BATCH];
  struct sockaddr_storage from[TURN_RECV_BATCH];
  while (filled < max)
    {
      /* Each datagram makes at most one packet: never read more than
       * there are slots, so nothing read is left over. */
      guint want = MIN (TURN_RECV_BATCH, max - filled);
      for (guint i = 0; i < want; i++)
        {
          iov[i] = (struct iovec) { .iov_base = be->rx_buf[i], .iov_len = TURN_WIRE_MAX };
          msgs[i] = (struct mmsghdr) { .msg_hdr = { .msg_name = &from[i],
                                                    .msg_namelen = sizeof from[i],
                                                    .msg_iov = &iov[i], .msg_iovlen = 1 } };
        }
      int got = recvmmsg (fd, msgs, want, MSG_DONTWAIT, NULL);
      if (got < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            be->n.rx_errors++;
          break;
        }
      for (int i = 0; i < got; i++)
        {
          if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
            {
              be->n.rx_truncated++;
              continue;
            }
          EmberAddr src, peer;
          turn_addr_from_sockaddr (&from[i], &src);
          Relay *r = turn_relay_by_server (be, &src);
          if (r == NULL)
            {
              be->n.rx_foreign++;
              continue;
            }
          const guint8 *data = NULL;
          gsize len = 0;
          switch (ember_turn_client_handle_input (r->client, now, &src, be->rx_buf[i],
                                                  msgs[i].msg_len, &peer, &data, &len))
            {
            case EMBER_TURN_INPUT_DATA:
              {
                EmberPacket *p = &batch[filled++];
                p->remote = peer;
                p->local = relayed_for (r, peer.family);
                p->segment_size = 0;
                p->queue = 0;
                if (len > p->capacity)
                  {
                    p->len = 0;
                    p->error = EMSGSIZE;
                  }
                else
                  {
                    memcpy (p->data, data, len);
                    p->len = len;
                    p->error = 0;
                  }
                be->n.rx_packets++;
                break;
              }
            case EMBER_TURN_INPUT_HANDLED:
              break;
            case EMBER_TURN_INPUT_INVALID:
              be->n.rx_invalid++;
              break;
            case EMBER_TURN_INPUT_NOT_FOR_US:
            default:
              be->n.rx_foreign++;
              break;
            }
        }
      if ((guint) got < want)
        break;
    }
  return filled;
}

/* ---- The I/O vtable ---------------------------------------------------------- */

static void turn_close (EmberBackend *be);

static EmberBackend *
turn_open (const EmberBackendArgs *args, GError **error)
{
  const char *group = args->group != NULL ? args->group : TURN_DEFAULT_GROUP;
  TurnConfig config;
  if (!turn_config_parse (args->config, group, &config, error))
    return NULL;

  EmberBackend *be = g_new0 (EmberBackend, 1);
  be->train = g_malloc (TURN_TRAIN_MAX);
  be->config = config;
  be->log_domain = g_strdup (args->log_domain != NULL ? args->log_domain
                                                      : TURN_DEFAULT_LOG_DOMAIN);
  be->fd4 = be->fd6 = be->out_fd = -1;
  be->relays = g_ptr_array_new ();
  be->blocked = g_new (Blocked, TURN_BLOCKED_MAX);
  be->rx_buf = g_malloc (sizeof (guint8[TURN_WIRE_MAX]) * TURN_RECV_BATCH);
  be->rest_renew_at = G_MAXINT64;
  be->rest_renew_unix = G_MAXINT64;
  be->deadline = G_MAXINT64;
  g_mutex_init (&be->lock);
  g_cond_init (&be->cond);
  be->kick_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (be->kick_fd < 0)
    {
      int err = errno;
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_IO, "eventfd: %s",
                   g_strerror (err));
      turn_close (be);
      return NULL;
    }
  be->fd4 = open_socket (AF_INET, be->config.fwmark, error);
  if (be->fd4 < 0)
    {
      turn_close (be);
      return NULL;
    }
  for (guint i = 0; i < config.n_relays; i++)
    if (!turn_ensure_socket (be, config.relays[i].family, error))
      {
        turn_close (be);
        return NULL;
      }

  gint64 now = g_get_monotonic_time ();
  if (config.secret != NULL)
    {
      if (be->config.user_id == NULL)
        be->config.user_id = g_strdup (TURN_DEFAULT_USER_ID);
      turn_renew_rest_credentials (be, now);
    }
  else if (config.password != NULL)
    {
      be->cred_user = g_strdup (config.username);
      be->cred_pass = g_strdup (config.password);
    }
  for (guint i = 0; i < config.n_relays; i++)
    {
      Relay *r = turn_relay_new (be, &config.relays[i], be->cred_user, be->cred_pass, TRUE, now);
      if (config.allocate)
        ember_turn_client_want_allocation (r->client, now);
      g_ptr_array_add (be->relays, r);
      turn_relay_drain (be, r, now);
    }

  be->thread = g_thread_try_new ("ember-turn", turn_readiness_thread, be, error);
  if (be->thread == NULL)
    {
      turn_close (be);
      return NULL;
    }
  g_log (be->log_domain, G_LOG_LEVEL_INFO, "TURN transport: %u relay(s)%s%s", config.n_relays,
         config.allocate ? ", allocating" : "", config.dual_stack ? ", dual-stack" : "");
  return be;
}

static gint
turn_poll_recv_many (EmberBackend *be, EmberWaker *waker, EmberPacket *batch, guint max,
                     GError **error)
{
  (void) error;
  gint64 now = g_get_monotonic_time ();
  if (be->blocked_len > 0)
    flush_blocked (be);
  guint n = 0;
  /* Alternate the first socket so a busy one cannot starve the other. */
  int fds[2] = { be->fd4, be->fd6 };
  be->rx_first ^= 1;
  for (guint i = 0; i < 2; i++)
    {
      int fd = fds[(be->rx_first + i) % 2];
      if (fd >= 0 && n < max)
        n += read_socket (be, fd, now, batch + n, max - n);
    }
  turn_run_timers (be, now);
  /* The core drains poll_event() right after this call. */
  be->events_new = FALSE;

  gint64 dl = n == 0 ? turn_next_deadline (be) : G_MAXINT64;
  g_mutex_lock (&be->lock);
  be->recv_waker = waker;
  be->recv_armed = n == 0;
  be->deadline = dl;
  be->out_fd = turn_blocked_fd (be);
  if (n == 0)
    turn_kick_locked (be);
  g_mutex_unlock (&be->lock);
  return (gint) n;
}

static EmberPoll
turn_poll_send_ready (EmberBackend *be, EmberWaker *waker, GError **error)
{
  (void) error;
  if (be->blocked_len > 0)
    flush_blocked (be);
  if (be->blocked_len == 0)
    return EMBER_POLL_READY;
  /* POLLOUT is level-triggered: room made since the flush wakes at once. */
  g_mutex_lock (&be->lock);
  be->send_waker = waker;
  be->send_armed = TRUE;
  be->out_fd = turn_blocked_fd (be);
  turn_kick_locked (be);
  g_mutex_unlock (&be->lock);
  return EMBER_POLL_PENDING;
}

/* A segmented packet for a peer that has its permission goes to the
 * relay framed as a train of the same shape. TRUE when it was handled:
 * sent, kept (one by one, as send_wire() does) because the socket is
 * full, or lost with *err set. FALSE when nothing was sent and the packet
 * takes the path of single datagrams (no permission yet, datagrams
 * already waiting, too large, segmentation refused). */
static gboolean
try_train (EmberBackend *be, Relay *r, gint64 now, const EmberPacket *packet, gsize seg,
           gsize n_seg, int *err)
{
  const EmberAddr *peer = &packet->remote;
  if (be->no_trains || be->blocked_len > 0 || (r->n_held > 0 && held_has_peer (r, peer))
      || n_seg * (seg + TURN_FRAMING_MAX) > TURN_TRAIN_MAX)
    return FALSE;
  gsize fill = 0, wire_seg = 0;
  for (gsize off = 0; off < packet->len; off += seg)
    {
      gsize len = MIN (seg, packet->len - off);
      gsize n = ember_turn_client_encode (r->client, now, peer, packet->data + off, len,
                                          be->train + fill, TURN_TRAIN_MAX - fill);
      if (off == 0)
        wire_seg = n;
      /* Equal payloads frame to equal lengths, the last one shorter or
       * equal; anything else (no permission: 0) is not a train. */
      if (n == 0 || n > wire_seg || (n < wire_seg && off + len < packet->len))
        return FALSE;
      fill += n;
    }
  *err = send_train (be, &r->server, fill, (guint16) wire_seg, (guint) n_seg);
  if (*err == 0)
    return TRUE;
  if (*err == EIO || *err == EINVAL)
    {
      /* No checksum offload on the way out, or an old kernel. */
      g_log (be->log_domain, G_LOG_LEVEL_INFO,
             "UDP segmentation refused (%s): datagrams go to relays one by one",
             g_strerror (*err));
      be->no_trains = TRUE;
      *err = 0;
      return FALSE;
    }
  if (*err != EAGAIN && *err != EWOULDBLOCK)
    {
      be->n.tx_errors += n_seg;
      return TRUE;
    }
  /* Socket full: the framed datagrams are kept, in order. */
  *err = 0;
  for (gsize at = 0; at < fill && *err == 0; at += wire_seg)
    *err = hold_wire (be, &r->server, be->train + at, MIN (wire_seg, fill - at));
  return TRUE;
}

static gboolean
turn_send (EmberBackend *be, const EmberPacket *packet, GError **error)
{
  char a[64], b[64];
  Relay *r = turn_relay_by_relayed (be, &packet->local);
  if (r == NULL)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "no allocation has the relayed address %s",
                   turn_addr_format (&packet->local, a, sizeof a));
      return FALSE;
    }
  if (!turn_addr_valid (&packet->remote) || packet->remote.family != packet->local.family)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "peer %s cannot be reached from the relayed address %s",
                   turn_addr_format (&packet->remote, a, sizeof a),
                   turn_addr_format (&packet->local, b, sizeof b));
      return FALSE;
    }
  gsize seg = packet->segment_size != 0 ? packet->segment_size : packet->len;
  gsize n_seg = packet->segment_size != 0 ? (packet->len + seg - 1) / seg : 1;
  if (seg > TURN_PAYLOAD_MAX || n_seg > TURN_SEGMENTS_MAX)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "%" G_GSIZE_FORMAT " datagram(s) of %" G_GSIZE_FORMAT
                   " bytes: at most %d of %d bytes through a relay",
                   n_seg, seg, TURN_SEGMENTS_MAX, TURN_PAYLOAD_MAX);
      return FALSE;
    }

  gint64 now = g_get_monotonic_time ();
  const EmberAddr *peer = &packet->remote;
  gboolean control = FALSE;
  int err = 0;
  gboolean sent = n_seg > 1 && try_train (be, r, now, packet, seg, n_seg, &err);
  for (gsize off = 0; !sent && (off < packet->len || (off == 0 && packet->len == 0)); off += seg)
    {
      const guint8 *data = packet->data + off;
      gsize len = MIN (seg, packet->len - off);
      gsize n = 0;
      /* Behind datagrams already held for this peer, to keep the order. */
      if (r->n_held == 0 || !held_has_peer (r, peer))
        n = ember_turn_client_encode (r->client, now, peer, data, len, be->wire, sizeof be->wire);
      if (n > 0)
        {
          int e = send_wire (be, &r->server, be->wire, n);
          err = err != 0 ? err : e;
        }
      else
        {
          /* No permission yet: ask for it (idempotent) and hold. */
          control = TRUE;
          if (!ember_turn_client_add_peer (r->client, now, peer))
            {
              g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                           "relay %s: no room for another peer (%d)",
                           turn_addr_format (&r->server, a, sizeof a), EMBER_TURN_MAX_PEERS);
              return FALSE;
            }
          held_add (be, r, now, peer, data, len);
        }
      if (packet->len == 0)
        break;
    }
  if (control)
    turn_relay_drain (be, r, now);
  if (control || be->blocked_len > 0)
    turn_after_control (be);
  if (err != 0)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_IO, "send to relay %s: %s",
                   turn_addr_format (&r->server, a, sizeof a), g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

static void
turn_close (EmberBackend *be)
{
  if (be == NULL)
    return;
  gint64 now = g_get_monotonic_time ();
  /* Best effort: release every allocation now rather than at expiry. */
  while (be->relays->len > 0)
    turn_relay_free (be, g_ptr_array_steal_index (be->relays, be->relays->len - 1), now);
  flush_blocked (be);

  if (be->thread != NULL)
    {
      g_mutex_lock (&be->lock);
      be->stopping = TRUE;
      turn_kick_locked (be);
      g_cond_signal (&be->cond);
      g_mutex_unlock (&be->lock);
      g_thread_join (be->thread);
    }
  if (be->thread != NULL)
    g_log (be->log_domain, G_LOG_LEVEL_INFO,
           "closing TURN transport: %" G_GUINT64_FORMAT " packets in, %" G_GUINT64_FORMAT
           " datagrams out (%" G_GUINT64_FORMAT " in trains), %" G_GUINT64_FORMAT
           " held for a permission; dropped: %"
           G_GUINT64_FORMAT " foreign, %" G_GUINT64_FORMAT
           " invalid, %" G_GUINT64_FORMAT " truncated in, %" G_GUINT64_FORMAT
           " held, %" G_GUINT64_FORMAT " expired, %" G_GUINT64_FORMAT " blocked, %"
           G_GUINT64_FORMAT " send errors, %" G_GUINT64_FORMAT " events",
           be->n.rx_packets, be->n.tx_packets, be->n.tx_trains, be->n.held, be->n.rx_foreign, be->n.rx_invalid,
           be->n.rx_truncated, be->n.held_drops, be->n.held_expired,
           be->n.blocked_drops + be->blocked_len, be->n.tx_errors, be->n.event_drops);
  g_ptr_array_unref (be->relays);
  g_free (be->train);
  turn_config_clear (&be->config);
  turn_wipe_string (&be->cred_user);
  turn_wipe_string (&be->cred_pass);
  if (be->fd4 >= 0)
    close (be->fd4);
  if (be->fd6 >= 0)
    close (be->fd6);
  if (be->kick_fd >= 0)
    close (be->kick_fd);
  g_mutex_clear (&be->lock);
  g_cond_clear (&be->cond);
  g_free (be->blocked);
  g_free (be->rx_buf);
  g_free (be->log_domain);
  g_free (be);
}

static gboolean
turn_validate_config (GKeyFile *config, const char *group, GError **error)
{
  TurnConfig c;
  if (!turn_config_parse (config, group != NULL ? group : TURN_DEFAULT_GROUP, &c, error))
    return FALSE;
  turn_config_clear (&c);
  return TRUE;
}

EMBER_PLUGIN_EXPORT const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberBackendVtable vtable = {
    .open = turn_open,
    .poll_recv_many = turn_poll_recv_many,
    .poll_send_ready = turn_poll_send_ready,
    .send = turn_send,
    .close = turn_close,
    .validate_config = turn_validate_config,
    .get_control = turn_get_control,
  };
  static const EmberPluginInfo info = {
    .abi_major = EMBER_PLUGIN_ABI_MAJOR,
    .abi_minor = EMBER_PLUGIN_ABI_MINOR,
    .name = "turn",
    .kind = EMBER_PLUGIN_KIND_TRANSPORT,
    .description = "TURN relays (RFC 8656) over UDP: allocations, permissions, channels",
    .vtable_size = sizeof vtable,
    .vtable = &vtable,
  };
  return &info;
}
