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
 * EmberRelayControl (ember-plugin-relay.h), whose events the core drains
 * after every poll_recv_many().
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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ember-plugin.h"
#include "ember-plugin-relay.h"
#include "relay/client/client.h"

#define TURN_DEFAULT_GROUP "turn"
#define TURN_DEFAULT_LOG_DOMAIN "ember-turn"
#define TURN_DEFAULT_USER_ID "ember"
#define TURN_MAX_RELAYS 16
/* Largest datagram to or from a relay; the framing bound covers a Data or
 * Send indication for an IPv6 peer (20 + 24 + 4 + 3 padding + 8 bytes). */
#define TURN_WIRE_MAX 4096
#define TURN_FRAMING_MAX 64
#define TURN_PAYLOAD_MAX (TURN_WIRE_MAX - TURN_FRAMING_MAX)
#define TURN_RECV_BATCH 64
/* Linux's UDP_MAX_SEGMENTS: no more segments in one packet. */
#define TURN_SEGMENTS_MAX 64
/* Datagrams held per relay for peers whose permission is on its way. */
#define TURN_HOLD_MAX 64
#define TURN_HOLD_US (5 * G_TIME_SPAN_SECOND)
/* Datagrams kept after EAGAIN: one packet's segments plus control. */
#define TURN_BLOCKED_MAX (2 * TURN_SEGMENTS_MAX)
#define TURN_EVENTS_MAX 256
#define TURN_SOCKET_BUFFER (1 << 20)
/* Time-limited credentials made from `secret` live 24 h and are renewed
 * an hour before they expire (a new allocation: the old one is bound to
 * the old username, RFC 8656 §6.2). */
#define TURN_REST_LIFETIME_S (24 * 3600)
#define TURN_REST_RENEW_BEFORE_S 3600
/* The readiness thread never waits less than this: a client deadline
 * that stays in the past (all its transactions busy) must not spin. */
#define TURN_TIMER_FLOOR_US (5 * G_TIME_SPAN_MILLISECOND)

typedef struct {
  EmberAddr *relays;
  guint n_relays;
  char *username, *password;  /* static long-term credentials */
  char *secret, *user_id;     /* or the time-limited scheme */
  gboolean dual_stack;
  gboolean allocate;
} TurnConfig;

typedef struct {
  gboolean used;
  EmberAddr peer;
  gint64 since;
  gsize len;
  guint8 data[TURN_PAYLOAD_MAX];
} Held;

typedef struct {
  EmberAddr server;
  EmberTurnClient *client;
  gboolean config_creds;  /* credentials of the config group, renewed with it */
  EmberAddr mapped;       /* last server-reflexive address it reported */
  Held *held;             /* TURN_HOLD_MAX slots, allocated on first use */
  guint8 held_order[TURN_HOLD_MAX];
  guint n_held;
} Relay;

typedef struct {
  EmberAddr to;
  gsize len;
  guint8 data[TURN_WIRE_MAX];
} Blocked;

typedef struct {
  guint64 rx_packets, rx_foreign, rx_invalid, rx_truncated, rx_errors;
  guint64 tx_packets, tx_errors, held, held_drops, held_expired, blocked_drops, event_drops;
} Counters;

struct _EmberBackend {
  char *log_domain;
  TurnConfig config;
  char *cred_user, *cred_pass;  /* for relays without their own */
  gint64 rest_renew_at;         /* monotonic; G_MAXINT64 without a secret */
  GPtrArray *relays;            /* Relay* */
  int fd4, fd6;
  Blocked *blocked;             /* ring of TURN_BLOCKED_MAX */
  guint blocked_head, blocked_len;
  EmberRelayEvent events[TURN_EVENTS_MAX];
  guint ev_head, ev_len;
  gboolean events_new;          /* queued since the core last drained */
  guint rx_first;               /* which socket poll_recv_many() reads first */
  guint8 (*rx_buf)[TURN_WIRE_MAX];
  guint8 wire[TURN_WIRE_MAX];
  Counters n;

  /* Shared with the readiness thread. */
  GMutex lock;
  GCond cond;
  GThread *thread;
  int kick_fd;
  gboolean stopping, polling;
  gboolean recv_armed, send_armed;
  int out_fd;                   /* the socket blocked datagrams wait for, or -1 */
  EmberWaker *recv_waker, *send_waker;
  gint64 deadline;
};

/* ---- Addresses ---------------------------------------------------------- */

static gboolean
addr_eq (const EmberAddr *a, const EmberAddr *b)
{
  gsize len = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, len) == 0;
}

static gboolean
addr_valid (const EmberAddr *a)
{
  return (a->family == EMBER_ADDR_IPV4 || a->family == EMBER_ADDR_IPV6) && a->port != 0;
}

static socklen_t
addr_to_sockaddr (const EmberAddr *a, struct sockaddr_storage *ss)
{
  memset (ss, 0, sizeof *ss);
  if (a->family == EMBER_ADDR_IPV4)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) ss;
      sin->sin_family = AF_INET;
      sin->sin_port = htons (a->port);
      memcpy (&sin->sin_addr, a->addr, 4);
      return sizeof *sin;
    }
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons (a->port);
  sin6->sin6_scope_id = a->scope_id;
  memcpy (&sin6->sin6_addr, a->addr, 16);
  return sizeof *sin6;
}

static void
addr_from_sockaddr (const struct sockaddr_storage *ss, EmberAddr *a)
{
  memset (a, 0, sizeof *a);
  if (ss->ss_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;
      a->family = EMBER_ADDR_IPV4;
      a->port = ntohs (sin->sin_port);
      memcpy (a->addr, &sin->sin_addr, 4);
    }
  else if (ss->ss_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;
      a->family = EMBER_ADDR_IPV6;
      a->port = ntohs (sin6->sin6_port);
      a->scope_id = sin6->sin6_scope_id;
      memcpy (a->addr, &sin6->sin6_addr, 16);
    }
}

static const char *
addr_format (const EmberAddr *a, char *buf, gsize len)
{
  char ip[INET6_ADDRSTRLEN] = "?";
  if (a->family == EMBER_ADDR_IPV4 || a->family == EMBER_ADDR_IPV6)
    inet_ntop (a->family == EMBER_ADDR_IPV4 ? AF_INET : AF_INET6, a->addr, ip, sizeof ip);
  g_snprintf (buf, len, a->family == EMBER_ADDR_IPV6 ? "[%s]:%u" : "%s:%u", ip, a->port);
  return buf;
}

/* "192.0.2.1:3478" or "[2001:db8::1]:3478": IP literals only. */
static gboolean
addr_parse (const char *text, EmberAddr *out)
{
  g_autofree char *copy = g_strstrip (g_strdup (text));
  char *host = copy, *port;
  memset (out, 0, sizeof *out);
  if (*host == '[')
    {
      char *close_br = strchr (host, ']');
      if (close_br == NULL || close_br[1] != ':')
        return FALSE;
      *close_br = '\0';
      host++;
      port = close_br + 2;
      if (inet_pton (AF_INET6, host, out->addr) != 1)
        return FALSE;
      out->family = EMBER_ADDR_IPV6;
    }
  else
    {
      port = strchr (host, ':');
      if (port == NULL || strchr (port + 1, ':') != NULL)
        return FALSE;
      *port++ = '\0';
      if (inet_pton (AF_INET, host, out->addr) != 1)
        return FALSE;
      out->family = EMBER_ADDR_IPV4;
    }
  guint64 p;
  if (!g_ascii_string_to_unsigned (port, 10, 1, 65535, &p, NULL))
    return FALSE;
  out->port = (guint16) p;
  return TRUE;
}

/* ---- Configuration ------------------------------------------------------- */

static const char *const known_keys[] = {
  "relays", "username", "password", "secret", "user-id", "dual-stack", "allocate", NULL,
};

static gboolean config_error (GError **error, const char *group, const char *key,
                              const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
config_error (GError **error, const char *group, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG, "[%s] %s: %s", group, key,
               what);
  return FALSE;
}

static void
wipe_string (char **s)
{
  if (*s != NULL)
    explicit_bzero (*s, strlen (*s));
  g_clear_pointer (s, g_free);
}

static void
config_clear (TurnConfig *c)
{
  g_clear_pointer (&c->relays, g_free);
  c->n_relays = 0;
  g_clear_pointer (&c->username, g_free);
  g_clear_pointer (&c->user_id, g_free);
  wipe_string (&c->password);
  wipe_string (&c->secret);
}

/* A non-empty string of at most `max` bytes, or NULL when the key is
 * absent; FALSE (error set) for a bad value. */
static gboolean
get_string (GKeyFile *kf, const char *group, const char *key, gsize max, char **out,
            GError **error)
{
  *out = NULL;
  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  char *v = g_key_file_get_string (kf, group, key, NULL);
  if (v == NULL || *v == '\0' || strlen (v) > max)
    {
      if (v != NULL)
        explicit_bzero (v, strlen (v));
      g_free (v);
      return config_error (error, group, key, "expected a non-empty string of at most %"
                           G_GSIZE_FORMAT " bytes", max);
    }
  *out = v;
  return TRUE;
}

static gboolean
get_bool (GKeyFile *kf, const char *group, const char *key, gboolean *out, GError **error)
{
  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  g_autoptr (GError) local = NULL;
  *out = g_key_file_get_boolean (kf, group, key, &local);
  if (local != NULL)
    return config_error (error, group, key, "expected true or false");
  return TRUE;
}

static gboolean
config_parse (GKeyFile *kf, const char *group, TurnConfig *out, GError **error)
{
  memset (out, 0, sizeof *out);
  if (kf == NULL || !g_key_file_has_group (kf, group))
    return TRUE;

  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known_keys, keys[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) known_keys);
        return config_error (error, group, keys[i], "unknown key (expected one of: %s)", list);
      }

  if (g_key_file_has_key (kf, group, "relays", NULL))
    {
      gsize n = 0;
      g_auto (GStrv) items = g_key_file_get_string_list (kf, group, "relays", &n, NULL);
      if (n > TURN_MAX_RELAYS)
        return config_error (error, group, "relays", "at most %d relays, got %" G_GSIZE_FORMAT,
                             TURN_MAX_RELAYS, n);
      out->relays = g_new0 (EmberAddr, MAX (n, 1));
      for (gsize i = 0; items != NULL && i < n; i++)
        {
          if (*g_strstrip (items[i]) == '\0')
            continue;
          EmberAddr *a = &out->relays[out->n_relays];
          if (!addr_parse (items[i], a))
            {
              config_error (error, group, "relays",
                            "expected IPv4:PORT or [IPv6]:PORT entries separated by ';', got \"%s\"",
                            items[i]);
              goto fail;
            }
          for (guint k = 0; k < out->n_relays; k++)
            if (addr_eq (&out->relays[k], a))
              {
                config_error (error, group, "relays", "\"%s\" is listed twice", items[i]);
                goto fail;
              }
          out->n_relays++;
        }
    }
  /* The time-limited username is "<10-digit expiry>:<user-id>". */
  if (!get_string (kf, group, "username", EMBER_TURN_CREDENTIAL_MAX, &out->username, error)
      || !get_string (kf, group, "password", EMBER_TURN_CREDENTIAL_MAX, &out->password, error)
      || !get_string (kf, group, "secret", EMBER_TURN_CREDENTIAL_MAX, &out->secret, error)
      || !get_string (kf, group, "user-id", EMBER_TURN_CREDENTIAL_MAX - 16, &out->user_id, error)
      || !get_bool (kf, group, "dual-stack", &out->dual_stack, error)
      || !get_bool (kf, group, "allocate", &out->allocate, error))
    goto fail;

  if (out->secret != NULL && out->password != NULL)
    {
      config_error (error, group, "secret", "set either password or secret, not both");
      goto fail;
    }
  if (out->secret != NULL && out->username != NULL)
    {
      config_error (error, group, "username",
                    "not used with secret (the username is made from user-id)");
      goto fail;
    }
  if (out->user_id != NULL && out->secret == NULL)
    {
      config_error (error, group, "user-id", "only used with secret");
      goto fail;
    }
  if (out->password != NULL && out->username == NULL)
    {
      config_error (error, group, "username", "missing (password needs a username)");
      goto fail;
    }
  if (out->username != NULL && out->password == NULL)
    {
      config_error (error, group, "password", "missing (username needs a password)");
      goto fail;
    }
  if (out->n_relays > 0 && out->password == NULL && out->secret == NULL)
    {
      config_error (error, group, "password",
                    "relays need credentials: username and password, or secret");
      goto fail;
    }
  return TRUE;

fail:
  config_clear (out);
  return FALSE;
}

/* The TURN REST scheme (docs/relay.md): username "<unix expiry>:<id>",
 * password base64(HMAC-SHA1(secret, username)). */
static void
rest_credentials (const char *secret, const char *user_id, char **user, char **pass)
{
  gint64 expiry = g_get_real_time () / G_USEC_PER_SEC + TURN_REST_LIFETIME_S;
  *user = g_strdup_printf ("%" G_GINT64_FORMAT ":%s", expiry, user_id);
  guint8 digest[20];
  gsize digest_len = sizeof digest;
  GHmac *h = g_hmac_new (G_CHECKSUM_SHA1, (const guchar *) secret, strlen (secret));
  g_hmac_update (h, (const guchar *) *user, (gssize) strlen (*user));
  g_hmac_get_digest (h, digest, &digest_len);
  g_hmac_unref (h);
  *pass = g_base64_encode (digest, digest_len);
  explicit_bzero (digest, sizeof digest);
}

/* ---- Readiness thread ---------------------------------------------------- */

/* With `lock` held: make the thread look at its state again. */
static void
kick_locked (EmberBackend *be)
{
  if (be->polling)
    {
      guint64 one = 1;
      while (write (be->kick_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    }
  else
    g_cond_signal (&be->cond);
}

static int
timeout_ms (gint64 deadline)
{
  if (deadline == G_MAXINT64)
    return -1;
  gint64 left = deadline - g_get_monotonic_time ();
  if (left <= 0)
    return 0;
  return (int) MIN ((left + 999) / 1000, G_MAXINT);
}

static gpointer
readiness_thread (gpointer data)
{
  EmberBackend *be = data;
  g_mutex_lock (&be->lock);
  while (!be->stopping)
    {
      /* POLLOUT only on the socket that blocked: the other one is
       * writable and would wake the core in a loop. */
      int out_fd = be->recv_armed || be->send_armed ? be->out_fd : -1;
      if (!be->recv_armed && out_fd < 0)
        {
          g_cond_wait (&be->cond, &be->lock);
          continue;
        }
      struct pollfd pfd[3] = { { .fd = be->kick_fd, .events = POLLIN } };
      nfds_t n = 1;
      int fds[2] = { be->fd4, be->fd6 };
      for (guint i = 0; i < 2; i++)
        if (fds[i] >= 0)
          pfd[n++] = (struct pollfd) {
            .fd = fds[i],
            .events = (short) ((be->recv_armed ? POLLIN : 0) | (fds[i] == out_fd ? POLLOUT : 0)),
          };
      int timeout = timeout_ms (be->recv_armed ? be->deadline : G_MAXINT64);
      be->polling = TRUE;
      g_mutex_unlock (&be->lock);

      int r = poll (pfd, n, timeout);
      if (r > 0 && (pfd[0].revents & POLLIN))
        {
          guint64 v;
          ssize_t drained = read (be->kick_fd, &v, sizeof v);  /* non-blocking */
          (void) drained;
        }

      g_mutex_lock (&be->lock);
      be->polling = FALSE;
      if (be->stopping)
        break;
      gboolean in = FALSE, out = FALSE;
      for (nfds_t i = 1; r > 0 && i < n; i++)
        {
          in |= (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
          out |= (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP)) != 0;
        }
      EmberWaker *wake_recv = NULL, *wake_send = NULL;
      if (be->recv_armed && (in || out || g_get_monotonic_time () >= be->deadline))
        {
          be->recv_armed = FALSE;
          wake_recv = be->recv_waker;
        }
      if (be->send_armed && out)
        {
          be->send_armed = FALSE;
          wake_send = be->send_waker;
        }
      if (wake_recv != NULL || wake_send != NULL)
        {
          g_mutex_unlock (&be->lock);
          ember_waker_wake (wake_recv);
          ember_waker_wake (wake_send);
          g_mutex_lock (&be->lock);
        }
    }
  g_mutex_unlock (&be->lock);
  return NULL;
}

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
  socklen_t sl = addr_to_sockaddr (to, &ss);
  while (sendto (fd, buf, len, MSG_DONTWAIT, (struct sockaddr *) &ss, sl) < 0)
    if (errno != EINTR)
      return errno;
  be->n.tx_packets++;
  return 0;
}

/* The socket the oldest blocked datagram waits for, or -1. */
static int
blocked_fd (EmberBackend *be)
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

static Relay *
relay_by_server (EmberBackend *be, const EmberAddr *server)
{
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      if (addr_eq (&r->server, server))
        return r;
    }
  return NULL;
}

static Relay *
relay_by_relayed (EmberBackend *be, const EmberAddr *relayed)
{
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      if (ember_turn_client_owns_relayed (r->client, relayed))
        return r;
    }
  return NULL;
}

static void
push_event (EmberBackend *be, const EmberRelayEvent *ev)
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

static void
held_drop_where (EmberBackend *be, Relay *r, const EmberAddr *peer)
{
  guint kept = 0;
  for (guint i = 0; i < r->n_held; i++)
    {
      Held *h = &r->held[r->held_order[i]];
      if (peer == NULL || addr_eq (&h->peer, peer))
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
    if (addr_eq (&r->held[r->held_order[i]].peer, peer))
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
static void
relay_drain (EmberBackend *be, Relay *r, gint64 now)
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
          held_drop_where (be, r, NULL);
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
          break;
        default:
          continue;
        }
      push_event (be, &ev);
    }
  if (r->n_held > 0)
    held_flush (be, r, now);
  EmberAddr to;
  gsize n;
  while ((n = ember_turn_client_poll_transmit (r->client, be->wire, sizeof be->wire, &to)) > 0)
    send_wire (be, &to, be->wire, n);
}

static Relay *
relay_new (EmberBackend *be, const EmberAddr *server, const char *user, const char *pass,
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
static void
relay_free (EmberBackend *be, Relay *r, gint64 now)
{
  ember_turn_client_deallocate (r->client, now);
  relay_drain (be, r, now);
  be->n.held_drops += r->n_held;
  ember_turn_client_free (r->client);
  g_free (r->held);
  g_free (r);
}

static int
open_socket (int family, GError **error)
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
static gboolean
ensure_socket (EmberBackend *be, guint8 family, GError **error)
{
  if (family == EMBER_ADDR_IPV4 || be->fd6 >= 0)
    return TRUE;
  int fd = open_socket (AF_INET6, error);
  if (fd < 0)
    return FALSE;
  g_mutex_lock (&be->lock);
  be->fd6 = fd;
  kick_locked (be);
  g_mutex_unlock (&be->lock);
  return TRUE;
}

/* ---- Timers and wakes ------------------------------------------------------ */

static gint64
next_deadline (EmberBackend *be, gint64 now)
{
  gint64 t = be->rest_renew_at;
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      t = MIN (t, ember_turn_client_poll_timeout (r->client));
      if (r->n_held > 0)
        t = MIN (t, r->held[r->held_order[0]].since + TURN_HOLD_US);
    }
  return MAX (t, now + TURN_TIMER_FLOOR_US);
}

static void
renew_rest_credentials (EmberBackend *be, gint64 now)
{
  wipe_string (&be->cred_user);
  wipe_string (&be->cred_pass);
  rest_credentials (be->config.secret, be->config.user_id, &be->cred_user, &be->cred_pass);
  be->rest_renew_at = now + (gint64) (TURN_REST_LIFETIME_S - TURN_REST_RENEW_BEFORE_S)
                              * G_TIME_SPAN_SECOND;
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      if (r->config_creds)
        ember_turn_client_update_credentials (r->client, now, be->cred_user, be->cred_pass);
    }
}

static void
run_timers (EmberBackend *be, gint64 now)
{
  if (now >= be->rest_renew_at)
    renew_rest_credentials (be, now);
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      if (now >= ember_turn_client_poll_timeout (r->client))
        ember_turn_client_handle_timeout (r->client, now);
      relay_drain (be, r, now);
    }
}

/* End of a call from outside poll_recv_many(): the core learns about new
 * events through the recv waker, and the readiness thread about an
 * earlier deadline or datagrams waiting for POLLOUT. */
static void
after_control (EmberBackend *be)
{
  gint64 dl = next_deadline (be, g_get_monotonic_time ());
  EmberWaker *wake = NULL;
  g_mutex_lock (&be->lock);
  int out_fd = blocked_fd (be);
  if (be->events_new)
    {
      wake = be->recv_waker;
      be->recv_armed = FALSE;
    }
  else if (be->recv_armed && (dl < be->deadline || out_fd != be->out_fd))
    {
      be->deadline = MIN (be->deadline, dl);
      be->out_fd = out_fd;
      kick_locked (be);
    }
  g_mutex_unlock (&be->lock);
  be->events_new = FALSE;
  ember_waker_wake (wake);
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
          addr_from_sockaddr (&from[i], &src);
          Relay *r = relay_by_server (be, &src);
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
  if (!config_parse (args->config, group, &config, error))
    return NULL;

  EmberBackend *be = g_new0 (EmberBackend, 1);
  be->config = config;
  be->log_domain = g_strdup (args->log_domain != NULL ? args->log_domain
                                                      : TURN_DEFAULT_LOG_DOMAIN);
  be->fd4 = be->fd6 = be->out_fd = -1;
  be->relays = g_ptr_array_new ();
  be->blocked = g_new (Blocked, TURN_BLOCKED_MAX);
  be->rx_buf = g_malloc (sizeof (guint8[TURN_WIRE_MAX]) * TURN_RECV_BATCH);
  be->rest_renew_at = G_MAXINT64;
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
  be->fd4 = open_socket (AF_INET, error);
  if (be->fd4 < 0)
    {
      turn_close (be);
      return NULL;
    }
  for (guint i = 0; i < config.n_relays; i++)
    if (!ensure_socket (be, config.relays[i].family, error))
      {
        turn_close (be);
        return NULL;
      }

  gint64 now = g_get_monotonic_time ();
  if (config.secret != NULL)
    {
      if (be->config.user_id == NULL)
        be->config.user_id = g_strdup (TURN_DEFAULT_USER_ID);
      renew_rest_credentials (be, now);
    }
  else if (config.password != NULL)
    {
      be->cred_user = g_strdup (config.username);
      be->cred_pass = g_strdup (config.password);
    }
  for (guint i = 0; i < config.n_relays; i++)
    {
      Relay *r = relay_new (be, &config.relays[i], be->cred_user, be->cred_pass, TRUE, now);
      if (config.allocate)
        ember_turn_client_want_allocation (r->client, now);
      g_ptr_array_add (be->relays, r);
      relay_drain (be, r, now);
    }

  be->thread = g_thread_try_new ("ember-turn", readiness_thread, be, error);
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
  run_timers (be, now);
  /* The core drains poll_event() right after this call. */
  be->events_new = FALSE;

  gint64 dl = n == 0 ? next_deadline (be, g_get_monotonic_time ()) : G_MAXINT64;
  g_mutex_lock (&be->lock);
  be->recv_waker = waker;
  be->recv_armed = n == 0;
  be->deadline = dl;
  be->out_fd = blocked_fd (be);
  if (n == 0)
    kick_locked (be);
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
  be->out_fd = blocked_fd (be);
  kick_locked (be);
  g_mutex_unlock (&be->lock);
  return EMBER_POLL_PENDING;
}

static gboolean
turn_send (EmberBackend *be, const EmberPacket *packet, GError **error)
{
  char a[64], b[64];
  Relay *r = relay_by_relayed (be, &packet->local);
  if (r == NULL)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "no allocation has the relayed address %s",
                   addr_format (&packet->local, a, sizeof a));
      return FALSE;
    }
  if (!addr_valid (&packet->remote) || packet->remote.family != packet->local.family)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "peer %s cannot be reached from the relayed address %s",
                   addr_format (&packet->remote, a, sizeof a),
                   addr_format (&packet->local, b, sizeof b));
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
  for (gsize off = 0; off < packet->len || (off == 0 && packet->len == 0); off += seg)
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
                           addr_format (&r->server, a, sizeof a), EMBER_TURN_MAX_PEERS);
              return FALSE;
            }
          held_add (be, r, now, peer, data, len);
        }
      if (packet->len == 0)
        break;
    }
  if (control)
    relay_drain (be, r, now);
  if (control || be->blocked_len > 0)
    after_control (be);
  if (err != 0)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_IO, "send to relay %s: %s",
                   addr_format (&r->server, a, sizeof a), g_strerror (err));
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
    relay_free (be, g_ptr_array_steal_index (be->relays, be->relays->len - 1), now);
  flush_blocked (be);

  if (be->thread != NULL)
    {
      g_mutex_lock (&be->lock);
      be->stopping = TRUE;
      kick_locked (be);
      g_cond_signal (&be->cond);
      g_mutex_unlock (&be->lock);
      g_thread_join (be->thread);
    }
  if (be->thread != NULL)
    g_log (be->log_domain, G_LOG_LEVEL_INFO,
           "closing TURN transport: %" G_GUINT64_FORMAT " packets in, %" G_GUINT64_FORMAT
           " datagrams out, %" G_GUINT64_FORMAT " held for a permission; dropped: %"
           G_GUINT64_FORMAT " foreign, %" G_GUINT64_FORMAT
           " invalid, %" G_GUINT64_FORMAT " truncated in, %" G_GUINT64_FORMAT
           " held, %" G_GUINT64_FORMAT " expired, %" G_GUINT64_FORMAT " blocked, %"
           G_GUINT64_FORMAT " send errors, %" G_GUINT64_FORMAT " events",
           be->n.rx_packets, be->n.tx_packets, be->n.held, be->n.rx_foreign, be->n.rx_invalid,
           be->n.rx_truncated, be->n.held_drops, be->n.held_expired,
           be->n.blocked_drops + be->blocked_len, be->n.tx_errors, be->n.event_drops);
  g_ptr_array_unref (be->relays);
  config_clear (&be->config);
  wipe_string (&be->cred_user);
  wipe_string (&be->cred_pass);
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
  if (!config_parse (config, group != NULL ? group : TURN_DEFAULT_GROUP, &c, error))
    return FALSE;
  config_clear (&c);
  return TRUE;
}

/* ---- EmberRelayControl ----------------------------------------------------- */

static gboolean
relay_set_relays (EmberBackend *be, const EmberRelaySpec *relays, guint n_relays, GError **error)
{
  char a[64];
  if (n_relays > TURN_MAX_RELAYS)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "%u relays: at most %d", n_relays, TURN_MAX_RELAYS);
      return FALSE;
    }
  /* Check every entry before changing anything. */
  for (guint i = 0; i < n_relays; i++)
    {
      const EmberRelaySpec *s = &relays[i];
      const char *why = NULL;
      if (!addr_valid (&s->server))
        why = "not an IPv4 or IPv6 address with a port";
      else if ((s->username == NULL) != (s->password == NULL))
        why = "username and password go together";
      else if (s->username == NULL && be->cred_user == NULL)
        why = "no credentials (and none in the configuration)";
      else if (s->username != NULL
               && (*s->username == '\0' || strlen (s->username) > EMBER_TURN_CREDENTIAL_MAX
                   || strlen (s->password) > EMBER_TURN_CREDENTIAL_MAX))
        why = "username or password empty or too long";
      for (guint k = 0; why == NULL && k < i; k++)
        if (addr_eq (&relays[k].server, &s->server))
          why = "listed twice";
      if (why != NULL)
        {
          g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED, "relay %u (%s): %s",
                       i, addr_format (&s->server, a, sizeof a), why);
          return FALSE;
        }
    }
  for (guint i = 0; i < n_relays; i++)
    if (!ensure_socket (be, relays[i].server.family, error))
      return FALSE;

  gint64 now = g_get_monotonic_time ();
  GPtrArray *next = g_ptr_array_new ();
  for (guint i = 0; i < n_relays; i++)
    {
      const EmberRelaySpec *s = &relays[i];
      gboolean own = s->username != NULL;
      const char *user = own ? s->username : be->cred_user;
      const char *pass = own ? s->password : be->cred_pass;
      Relay *r = relay_by_server (be, &s->server);
      if (r != NULL)
        {
          g_ptr_array_remove_fast (be->relays, r);
          /* Other credentials: the relay rebooted (client.h). */
          ember_turn_client_update_credentials (r->client, now, user, pass);
          r->config_creds = !own;
        }
      else
        r = relay_new (be, &s->server, user, pass, !own, now);
      g_ptr_array_add (next, r);
    }
  while (be->relays->len > 0)
    relay_free (be, g_ptr_array_steal_index (be->relays, be->relays->len - 1), now);
  g_ptr_array_unref (be->relays);
  be->relays = next;
  for (guint i = 0; i < be->relays->len; i++)
    relay_drain (be, g_ptr_array_index (be->relays, i), now);
  after_control (be);
  return TRUE;
}

static gboolean
relay_allocate (EmberBackend *be, const EmberAddr *relay, GError **error)
{
  char a[64];
  Relay *r = relay_by_server (be, relay);
  if (r == NULL)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "relay %s is not in the relay set", addr_format (relay, a, sizeof a));
      return FALSE;
    }
  gint64 now = g_get_monotonic_time ();
  if (ember_turn_client_is_allocated (r->client))
    {
      /* Already there: say so again, as the caller waits for it. */
      EmberRelayEvent ev = { .type = EMBER_RELAY_EVENT_ALLOCATED, .relay = r->server,
                             .addr = r->mapped };
      ev.n_relayed = ember_turn_client_get_relayed (r->client, ev.relayed);
      push_event (be, &ev);
    }
  ember_turn_client_want_allocation (r->client, now);
  relay_drain (be, r, now);
  after_control (be);
  return TRUE;
}

static void
relay_release (EmberBackend *be, const EmberAddr *relay)
{
  Relay *r = relay_by_server (be, relay);
  if (r == NULL)
    return;
  gint64 now = g_get_monotonic_time ();
  ember_turn_client_deallocate (r->client, now);
  relay_drain (be, r, now);
  after_control (be);
}

static gboolean
relay_add_peer (EmberBackend *be, const EmberAddr *relayed, const EmberAddr *peer, GError **error)
{
  char a[64], b[64];
  Relay *r = relay_by_relayed (be, relayed);
  if (r == NULL)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "no allocation has the relayed address %s", addr_format (relayed, a, sizeof a));
      return FALSE;
    }
  if (!addr_valid (peer) || peer->family != relayed->family)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "peer %s cannot be reached from the relayed address %s",
                   addr_format (peer, b, sizeof b), addr_format (relayed, a, sizeof a));
      return FALSE;
    }
  gint64 now = g_get_monotonic_time ();
  gboolean ok = ember_turn_client_add_peer (r->client, now, peer);
  relay_drain (be, r, now);
  after_control (be);
  if (!ok)
    g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                 "relay %s: no room for another peer (%d)", addr_format (&r->server, a, sizeof a),
                 EMBER_TURN_MAX_PEERS);
  return ok;
}

static void
relay_remove_peer (EmberBackend *be, const EmberAddr *relayed, const EmberAddr *peer)
{
  Relay *r = relay_by_relayed (be, relayed);
  if (r == NULL)
    return;
  ember_turn_client_remove_peer (r->client, peer);
  if (r->n_held > 0)
    held_drop_where (be, r, peer);
}

static gboolean
relay_poll_event (EmberBackend *be, EmberRelayEvent *event)
{
  if (be->ev_len == 0)
    return FALSE;
  *event = be->events[be->ev_head];
  be->ev_head = (be->ev_head + 1) % TURN_EVENTS_MAX;
  be->ev_len--;
  return TRUE;
}

static const void *
turn_get_control (const char *name)
{
  static const EmberRelayControl control = {
    .size = sizeof control,
    .set_relays = relay_set_relays,
    .allocate = relay_allocate,
    .release = relay_release,
    .add_peer = relay_add_peer,
    .remove_peer = relay_remove_peer,
    .poll_event = relay_poll_event,
  };
  if (name != NULL && strcmp (name, EMBER_RELAY_CONTROL_NAME) == 0)
    return &control;
  return NULL;
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
