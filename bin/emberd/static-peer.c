/* static-peer — emberd's WireGuard static-peer mode.
 *
 * The I/O shell around a WireGuard engine plugin: a TUN backend (plugin)
 * on the event loop, a UDP socket (core/io) with GRO in and a GSO queue
 * out, cryptokey routing by AllowedIPs (longest prefix), and the engine's
 * timers on a loop timer. Everything runs on the main thread.
 */
#define G_LOG_DOMAIN "ember-static"

#include "static-peer.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "ember-plugin-wg.h"
#include "io/udp.h"
#include "loader.h"
#include "loop.h"
#include "net/prefix-table.h"
#include "paths.h"
#include "tunnel/wgconf.h"

/* TUN slots hold one IP packet; offloads split super-packets in the
 * plugin, so the link MTU bounds them (a bigger decrypted packet could
 * not be written anyway and counts as a buffer drop). */
#define DEFAULT_MTU 1420
/* Packets the loop may hold for the TUN while its writer is behind. */
#define TUN_QUEUE 4096
/* UDP_GRO coalesces at most 64 datagrams into one slot (the kernel's
 * UDP_GRO_CNT_MAX); slots are 64 KiB for that (core/io/udp.h). */
#define UDP_SLOT (65535)
#define GRO_MAX_SEGMENTS 64
#define SCRATCH (EMBER_WG_HEADROOM + 65535 + EMBER_WG_TAILROOM)
#define STATUS_PERIOD_MS 1000

typedef struct {
  EmberWgPeer *wg;
  EmberWgConfPeer *conf;
  char *name; /* base64 public key */
} Peer;

typedef struct {
  GMainLoop *main_loop;
  EmberWgConf *conf;
  char *ifname;
  char *status_path;
  EmberRegistry *registry;
  const EmberWgVtable *wg;
  EmberWgEngine *engine;
  EmberPlugin *tun_plugin;
  EmberBackend *tun;
  EmberLoop *loop;
  EmberLoopBackend *tun_lb;
  EmberUdpSocket *udp;
  guint udp_in_watch;
  guint mtu;
  guint udp_out_watch;
  EmberTimer *timer;
  GPtrArray *peers;  /* Peer */
  EmberPrefixTable *routes; /* AllowedIPs -> Peer, cryptokey routing */
  EmberPacket *udp_batch;
  guint8 *udp_buf;
  guint8 *scratch;
  guint64 errors[16];
  int exit_code;
} Node;

/* ---- Routing ------------------------------------------------------------- */

static Peer *
route_lookup (Node *n, guint8 family, const guint8 *addr)
{
  return ember_prefix_table_lookup (n->routes, family, addr, NULL);
}

/* Destination (dst=TRUE) or source address of an IP packet, bounds
 * checked. */
static gboolean
ip_addr (const guint8 *p, gsize len, gboolean dst, guint8 *family, const guint8 **addr)
{
  if (len >= 20 && p[0] >> 4 == 4)
    {
      *family = 4;
      *addr = p + (dst ? 16 : 12);
      return TRUE;
    }
  if (len >= 40 && p[0] >> 4 == 6)
    {
      *family = 6;
      *addr = p + (dst ? 24 : 8);
      return TRUE;
    }
  return FALSE;
}

/* ---- Output -------------------------------------------------------------- */

static void count_error (Node *n, EmberWgResult r);

static gboolean udp_writable (gint fd, GIOCondition cond, gpointer data);

static void
flush_udp (Node *n)
{
  g_autoptr (GError) error = NULL;

  switch (ember_udp_socket_flush (n->udp, &error))
    {
    case EMBER_POLL_READY:
      break;
    case EMBER_POLL_PENDING:
      /* seed 003: keep the queue, wait until the socket is writable. */
      if (n->udp_out_watch == 0)
        n->udp_out_watch = g_unix_fd_add (ember_udp_socket_get_fd (n->udp), G_IO_OUT,
                                          udp_writable, n);
      break;
    case EMBER_POLL_ERROR:
      g_warning ("UDP send failed: %s", error->message);
      break;
    }
}

static gboolean
udp_writable (gint fd, GIOCondition cond, gpointer data)
{
  Node *n = data;
  (void) fd;
  (void) cond;
  n->udp_out_watch = 0;
  flush_udp (n);
  return G_SOURCE_REMOVE;
}

static void
queue_udp (Node *n, const EmberAddr *to, const guint8 *data, gsize len)
{
  g_autoptr (GError) error = NULL;

  if (to->family == EMBER_ADDR_NONE)
    return; /* a peer without an endpoint yet: nothing to send to */
  if (ember_udp_socket_queue (n->udp, to, data, len, &error))
    return;
  /* Full: push what is queued out now, then try once more. */
  g_clear_error (&error);
  flush_udp (n);
  if (!ember_udp_socket_queue (n->udp, to, data, len, &error))
    count_error (n, EMBER_WG_ERR_BUFFER);
}

/* Re-arms the loop timer at the engine's next deadline, but only when
 * that moves earlier (or nothing is armed). Every data packet pushes the
 * keepalive/new-handshake deadlines a little later, and re-arming a
 * GSource locks its main context and writes its wake-up eventfd: per
 * packet that cost ~3 % of the CPU in bench/wg-throughput.sh. A deadline
 * that moved later only makes the timer fire early once; on_timer then
 * re-arms at the true deadline. */
static void
arm_timer (Node *n)
{
  gint64 next = n->wg->poll_timeout (n->engine);
  gint64 armed = ember_timer_get_deadline (n->timer);

  if (next == G_MAXINT64)
    {
      if (armed != -1)
        ember_timer_set_deadline (n->timer, -1);
      return;
    }
  if (armed == -1 || next < armed)
    ember_timer_set_deadline (n->timer, next);
}

static void
drain_engine (Node *n, gint64 now)
{
  EmberWgTransmit t;
  EmberWgEvent ev;

  while (n->wg->poll_transmit (n->engine, now, n->scratch, SCRATCH, &t))
    queue_udp (n, &t.to, n->scratch, t.len);
  while (n->wg->poll_event (n->engine, &ev))
    {
      Peer *p = NULL;
      for (guint i = 0; i < n->peers->len && p == NULL; i++)
        if (((Peer *) n->peers->pdata[i])->wg == ev.peer)
          p = n->peers->pdata[i];
      switch (ev.type)
        {
        case EMBER_WG_EVENT_HANDSHAKE_COMPLETE:
          g_info ("peer %s: handshake complete", p != NULL ? p->name : "?");
          break;
        case EMBER_WG_EVENT_HANDSHAKE_FAILED:
          g_warning ("peer %s: handshake did not complete, giving up for now",
                     p != NULL ? p->name : "?");
          break;
        case EMBER_WG_EVENT_KEYS_EXPIRED:
          g_info ("peer %s: session keys expired", p != NULL ? p->name : "?");
          break;
        }
    }
  arm_timer (n);
}

static void
count_error (Node *n, EmberWgResult r)
{
  guint i = (guint) -r;
  if (i < G_N_ELEMENTS (n->errors))
    n->errors[i]++;
}

static const char *
result_name (guint i)
{
  static const char *const names[] = {
    "ok", "malformed", "bad mac", "unknown peer", "handshake", "replay", "decrypt",
    "expired", "busy", "rate limited", "buffer", "no route", "not allowed",
  };
  return i < G_N_ELEMENTS (names) ? names[i] : "other";
}

#define ERR_NO_ROUTE 11
#define ERR_NOT_ALLOWED 12

/* Errors of one batch, logged once (seed 001). */
static void
log_batch_errors (Node *n, const char *what)
{
  g_autoptr (GString) s = NULL;

  for (guint i = 1; i < G_N_ELEMENTS (n->errors); i++)
    if (n->errors[i] != 0)
      {
        if (s == NULL)
          s = g_string_new (NULL);
        g_string_append_printf (s, "%s%s: %" G_GUINT64_FORMAT, s->len ? ", " : "",
                                result_name (i), n->errors[i]);
        n->errors[i] = 0;
      }
  if (s != NULL)
    g_debug ("%s: dropped packets (%s)", what, s->str);
}

/* ---- TUN -> UDP ---------------------------------------------------------- */

static void
on_tun_batch (EmberLoopBackend *from, EmberPacket *batch, guint count, EmberErrorList *errors,
              gpointer user_data)
{
  Node *n = user_data;
  gint64 now = g_get_monotonic_time ();

  (void) from;
  (void) errors;
  for (guint i = 0; i < count; i++)
    {
      EmberPacket *pkt = &batch[i];
      guint8 family;
      const guint8 *dst;
      Peer *peer;
      gsize offset = EMBER_WG_HEADROOM, len = pkt->len;
      EmberAddr to;
      EmberWgResult r;

      if (pkt->error != 0 || pkt->len == 0)
        continue;
      if (!ip_addr (pkt->data, pkt->len, TRUE, &family, &dst))
        {
          count_error (n, EMBER_WG_ERR_MALFORMED);
          continue;
        }
      peer = route_lookup (n, family, dst);
      if (peer == NULL)
        {
          n->errors[ERR_NO_ROUTE]++;
          continue;
        }
      /* The engine encrypts in place behind its header: one copy into a
       * buffer with head- and tailroom. */
      memcpy (n->scratch + offset, pkt->data, len);
      r = n->wg->encapsulate (n->engine, peer->wg, now, n->scratch, SCRATCH, &offset, &len, &to);
      if (r == EMBER_WG_DATAGRAM)
        queue_udp (n, &to, n->scratch + offset, len);
      else if (r < 0)
        count_error (n, r);
    }
  /* Once per batch: staged packets (QUEUED) and handshakes wait at most
   * until the end of this batch, which keeps their order behind the
   * datagrams already queued. */
  drain_engine (n, now);
  flush_udp (n);
  log_batch_errors (n, "tun");
}

/* ---- UDP -> TUN ---------------------------------------------------------- */

static void
handle_datagram (Node *n, gint64 now, const EmberAddr *from, guint8 *data, gsize len)
{
  gsize offset = 0, plen = len;
  EmberWgPeer *wgpeer = NULL;
  EmberWgResult r = n->wg->decapsulate (n->engine, now, from, data, &offset, &plen, &wgpeer);

  if (r == EMBER_WG_PACKET && plen > 0)
    {
      guint8 family;
      const guint8 *src;
      Peer *owner;

      /* Cryptokey routing: the inner source must be one of the sending
       * peer's AllowedIPs. */
      if (!ip_addr (data + offset, plen, FALSE, &family, &src) ||
          (owner = route_lookup (n, family, src)) == NULL || owner->wg != wgpeer)
        n->errors[ERR_NOT_ALLOWED]++;
      else if (!ember_loop_send (n->tun_lb, data + offset, plen, NULL, 0))
        count_error (n, EMBER_WG_ERR_BUFFER);
    }
  else if (r < 0)
    count_error (n, r);
}

/* UDP slots whose packets surely fit the TUN queue. Reading more than
 * that would only drop decrypted packets there; left unread they wait in
 * the socket buffer (seed 003: backpressure suspends reading). */
static guint
udp_slots_that_fit (Node *n)
{
  guint queued = ember_loop_backend_queued (n->tun_lb);
  guint room = queued < TUN_QUEUE ? TUN_QUEUE - queued : 0;

  return MIN (room / GRO_MAX_SEGMENTS, EMBER_BATCH_MAX);
}

static gboolean udp_readable (gint fd, GIOCondition cond, gpointer data);

static void
watch_udp (Node *n)
{
  n->udp_in_watch = g_unix_fd_add (ember_udp_socket_get_fd (n->udp), G_IO_IN, udp_readable, n);
}

/* The loop flushed enough of the TUN queue for one more UDP batch. */
static void
udp_resume (EmberLoopBackend *lb, gpointer data)
{
  (void) lb;
  watch_udp (data);
}

static gboolean
udp_readable (gint fd, GIOCondition cond, gpointer data)
{
  Node *n = data;
  gint64 now = g_get_monotonic_time ();
  gboolean paused = FALSE;

  (void) fd;
  (void) cond;
  /* A few batches per wake-up, so the TUN side gets its turn (seed 001). */
  for (int round = 0; round < 4; round++)
    {
      g_autoptr (GError) error = NULL;
      guint max = udp_slots_that_fit (n);
      gint got;

      if (max == 0)
        {
          /* The TUN writer is behind: stop watching the socket until the
           * loop has flushed enough (it flushes on its own ticks). */
          paused = TRUE;
          break;
        }
      got = ember_udp_socket_recv_many (n->udp, n->udp_batch, max, &error);

      if (got < 0)
        {
          g_warning ("UDP receive failed: %s", error->message);
          break;
        }
      if (got == 0)
        break;
      for (gint i = 0; i < got; i++)
        {
          EmberPacket *p = &n->udp_batch[i];
          gsize seg = p->segment_size ? p->segment_size : p->len;
          if (p->error != 0)
            continue;
          /* GRO: one slot may carry a train of equal-size datagrams. */
          for (gsize off = 0; off < p->len; off += seg)
            handle_datagram (n, now, &p->remote, p->data + off, MIN (seg, p->len - off));
        }
      drain_engine (n, now);
      if ((guint) got < max)
        break;
    }
  flush_udp (n);
  log_batch_errors (n, "udp");
  if (!paused)
    return G_SOURCE_CONTINUE;
  /* Resume as soon as a flush leaves room for one slot's GRO train,
   * i.e. when udp_slots_that_fit() turns non-zero. */
  if (!ember_loop_backend_notify_room (n->tun_lb, GRO_MAX_SEGMENTS, udp_resume, n))
    return G_SOURCE_CONTINUE;
  n->udp_in_watch = 0;
  return G_SOURCE_REMOVE;
}

static void
reset_udp_slots (Node *n)
{
  for (guint i = 0; i < EMBER_BATCH_MAX; i++)
    {
      n->udp_batch[i].data = n->udp_buf + (gsize) i * UDP_SLOT;
      n->udp_batch[i].capacity = UDP_SLOT;
    }
}

/* ---- Timers and status --------------------------------------------------- */

static void
on_timer (EmberTimer *timer, gint64 now, gpointer user_data)
{
  Node *n = user_data;
  (void) timer;
  n->wg->update_timers (n->engine, now);
  drain_engine (n, now);
  flush_udp (n);
}

static void
write_status (Node *n)
{
  g_autofree EmberWgPeer **wgs = g_new (EmberWgPeer *, n->peers->len + 1);
  g_autofree const char **names = g_new (const char *, n->peers->len + 1);

  for (guint i = 0; i < n->peers->len; i++)
    {
      Peer *p = n->peers->pdata[i];
      wgs[i] = p->wg;
      names[i] = p->name;
    }
  ember_static_status_write (n->status_path, n->ifname, n->wg, wgs, names, n->peers->len,
                             g_get_monotonic_time (), g_get_real_time ());
}

static gboolean
status_tick (gpointer data)
{
  write_status (data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_signal (gpointer data)
{
  Node *n = data;
  g_info ("signal received, shutting down");
  g_main_loop_quit (n->main_loop);
  return G_SOURCE_CONTINUE;
}

/* ---- Set-up -------------------------------------------------------------- */

static void
engine_rng (gpointer user_data, guint8 *buf, gsize len)
{
  (void) user_data;
  if (gnutls_rnd (GNUTLS_RND_KEY, buf, len) != 0)
    g_error ("the system random number generator failed");
}

static gboolean
resolve_endpoint (const EmberWgConfPeer *cp, EmberAddr *out, GError **error)
{
  struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV };
  struct addrinfo *res = NULL;
  char port[8];
  int rc;

  g_snprintf (port, sizeof port, "%u", cp->endpoint_port);
  rc = getaddrinfo (cp->endpoint_host, port, &hints, &res);
  if (rc != 0 || res == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "peer on line %u: Endpoint %s: %s",
                   cp->line, cp->endpoint_host, gai_strerror (rc));
      return FALSE;
    }
  ember_udp_addr_from_sockaddr (res->ai_addr, res->ai_addrlen, out);
  freeaddrinfo (res);
  return TRUE;
}

static char *
join_cidrs (GArray *a, GArray *b)
{
  g_autoptr (GString) s = g_string_new (NULL);
  GArray *lists[2] = { a, b };

  for (int l = 0; l < 2; l++)
    for (guint i = 0; lists[l] != NULL && i < lists[l]->len; i++)
      {
        g_autofree char *c = ember_cidr_to_string (&g_array_index (lists[l], EmberCidr, i));
        g_string_append_printf (s, "%s%s", s->len ? ";" : "", c);
      }
  return g_strdup (s->str);
}

static gboolean
collect_route (const EmberCidr *cidr, gpointer peer, gpointer routes)
{
  (void) peer;
  g_array_append_val ((GArray *) routes, *cidr);
  return TRUE;
}

static gboolean
open_tun (Node *n, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GArray) routes = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  g_autofree char *addresses = join_cidrs (n->conf->addresses, NULL);
  g_autofree char *route_list = NULL;
  EmberBackendArgs args = { kf, "tun-linux", "ember-tun" };

  /* Like wg-quick: a route into the tunnel for each AllowedIPs entry. */
  ember_prefix_table_foreach (n->routes, collect_route, routes);
  route_list = join_cidrs (routes, NULL);
  g_key_file_set_string (kf, "tun-linux", "name", n->ifname);
  g_key_file_set_integer (kf, "tun-linux", "mtu", (gint) n->mtu);
  if (*addresses)
    g_key_file_set_string (kf, "tun-linux", "address", addresses);
  if (*route_list)
    g_key_file_set_string (kf, "tun-linux", "route", route_list);
  n->tun = n->tun_plugin->io.open (&args, error);
  return n->tun != NULL;
}

/* The kernel's default UDP buffers (208 KiB) overflow under a bulk TCP
 * flow through the tunnel: while the loop encrypts or writes a TUN
 * batch, a GRO train or two fill the receive buffer and the rest is
 * dropped (UdpRcvbufErrors), which TCP reads as loss (bench:
 * ~100 k retransmits in 4 s). Ask for 7 MiB like wireguard-go; the
 * *FORCE variants pass net.core.rmem_max/wmem_max with CAP_NET_ADMIN,
 * otherwise the capped request still helps. */
#define SOCKET_BUFFER (7 << 20)

static void
grow_socket_buffers (int fd)
{
  static const int opts[2][2] = { { SO_RCVBUFFORCE, SO_RCVBUF }, { SO_SNDBUFFORCE, SO_SNDBUF } };
  int size = SOCKET_BUFFER;

  for (int i = 0; i < 2; i++)
    if (setsockopt (fd, SOL_SOCKET, opts[i][0], &size, sizeof size) != 0
        && setsockopt (fd, SOL_SOCKET, opts[i][1], &size, sizeof size) != 0)
      g_debug ("cannot grow the UDP socket buffer: %s", g_strerror (errno));
}

/* Test only: EMBER_WG_TEST_REKEY_AFTER_S=N makes the engine rekey its
 * sessions N seconds after each handshake instead of 120 s, so the
 * interop test can watch rekeys under traffic. Read here, in the shell,
 * never by the engine. */
static gboolean
apply_test_rekey (Node *n, const EmberPlugin *wgp, GError **error)
{
  const char *v = g_getenv ("EMBER_WG_TEST_REKEY_AFTER_S");
  guint64 secs;

  if (v == NULL || *v == '\0')
    return TRUE;
  if (!g_ascii_string_to_unsigned (v, 10, 1, 3600, &secs, error))
    {
      g_prefix_error (error, "EMBER_WG_TEST_REKEY_AFTER_S: ");
      return FALSE;
    }
  if (wgp->vtable_size < G_STRUCT_OFFSET (EmberWgVtable, set_test_rekey_after)
                             + sizeof (n->wg->set_test_rekey_after)
      || n->wg->set_test_rekey_after == NULL)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
                   "%s: EMBER_WG_TEST_REKEY_AFTER_S set but the plugin has no "
                   "set_test_rekey_after", wgp->path);
      return FALSE;
    }
  g_warning ("test only: sessions rekey %" G_GUINT64_FORMAT " s after each handshake", secs);
  n->wg->set_test_rekey_after (n->engine, (gint64) secs * G_USEC_PER_SEC);
  return TRUE;
}

static gboolean
node_start (Node *n, GError **error)
{
  g_autoptr (GPtrArray) dirs = ember_paths_plugin_dirs (NULL);
  EmberPlugin *wgp;
  EmberAddr bind = { 0 };
  gint64 now = g_get_monotonic_time ();

  n->registry = ember_registry_new ();
  ember_registry_scan (n->registry, dirs);
  wgp = ember_registry_lookup (n->registry, "wg", "wg", EMBER_PLUGIN_KIND_WG, error);
  if (wgp == NULL)
    return FALSE;
  /* Members after poll_event are optional (test only). */
  if (wgp->vtable_size < G_STRUCT_OFFSET (EmberWgVtable, set_test_rekey_after))
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
                   "%s: WireGuard vtable too short (%zu bytes)", wgp->path, wgp->vtable_size);
      return FALSE;
    }
  n->wg = wgp->vtable;
  n->tun_plugin = ember_registry_lookup (n->registry, "tun", "tun-linux", EMBER_PLUGIN_KIND_TUN,
                                         error);
  if (n->tun_plugin == NULL)
    return FALSE;

  n->engine = n->wg->engine_new (n->conf->private_key, engine_rng, NULL, now,
                                 g_get_real_time (), error);
  if (n->engine == NULL)
    return FALSE;
  if (!apply_test_rekey (n, wgp, error))
    return FALSE;

  for (guint i = 0; i < n->conf->peers->len; i++)
    {
      EmberWgConfPeer *cp = n->conf->peers->pdata[i];
      EmberWgPeerConfig pc = { 0 };
      Peer *p = g_new0 (Peer, 1);

      g_ptr_array_add (n->peers, p);
      memcpy (pc.public_key, cp->public_key, 32);
      pc.has_preshared_key = cp->has_preshared_key;
      memcpy (pc.preshared_key, cp->preshared_key, 32);
      pc.persistent_keepalive_s = cp->persistent_keepalive;
      if (cp->endpoint_host != NULL && !resolve_endpoint (cp, &pc.endpoint, error))
        return FALSE;
      p->conf = cp;
      p->name = g_base64_encode (cp->public_key, 32);
      p->wg = n->wg->add_peer (n->engine, &pc, error);
      gnutls_memset (pc.preshared_key, 0, sizeof pc.preshared_key);
      if (p->wg == NULL)
        return FALSE;
      /* As with `wg setconf`, a prefix listed by two peers belongs to
       * the later one. */
      for (guint j = 0; j < cp->allowed_ips->len; j++)
        ember_prefix_table_insert (n->routes, &g_array_index (cp->allowed_ips, EmberCidr, j), p);
    }

  if (n->conf->has_listen_port)
    {
      bind.family = EMBER_ADDR_NONE;
      bind.port = n->conf->listen_port;
    }
  n->udp = ember_udp_socket_new (&bind, error);
  if (n->udp == NULL)
    return FALSE;
  ember_udp_socket_set_gro (n->udp, TRUE);
  grow_socket_buffers (ember_udp_socket_get_fd (n->udp));
  n->udp_buf = g_malloc ((gsize) UDP_SLOT * EMBER_BATCH_MAX);
  n->udp_batch = g_new0 (EmberPacket, EMBER_BATCH_MAX);
  reset_udp_slots (n);
  n->scratch = g_malloc (SCRATCH);

  if (!open_tun (n, error))
    return FALSE;
  n->loop = ember_loop_new (NULL);
  n->tun_lb = ember_loop_add_backend (n->loop, n->ifname, &n->tun_plugin->io, n->tun, n->mtu,
                                      TUN_QUEUE, on_tun_batch, n);
  n->timer = ember_loop_timer_new (n->loop, on_timer, n);
  watch_udp (n);

  /* Peers with an endpoint get a handshake at once, as wg does when
   * persistent keepalive is set; the others wait for traffic. */
  for (guint i = 0; i < n->peers->len; i++)
    {
      Peer *p = n->peers->pdata[i];
      if (p->conf->endpoint_host != NULL && p->conf->persistent_keepalive != 0)
        n->wg->initiate (n->engine, p->wg, now);
    }
  drain_engine (n, now);
  flush_udp (n);
  return TRUE;
}

static void
peer_free (gpointer data)
{
  Peer *p = data;
  g_free (p->name);
  g_free (p);
}

static void
node_stop (Node *n)
{
  g_clear_handle_id (&n->udp_in_watch, g_source_remove);
  g_clear_handle_id (&n->udp_out_watch, g_source_remove);
  g_clear_pointer (&n->timer, ember_timer_free);
  if (n->loop != NULL && n->tun_lb != NULL)
    ember_loop_remove_backend (n->loop, n->tun_lb);
  g_clear_pointer (&n->loop, ember_loop_free);
  if (n->tun != NULL)
    n->tun_plugin->io.close (n->tun); /* removes the interface it made */
  if (n->engine != NULL)
    n->wg->engine_free (n->engine); /* wipes the keys */
  g_clear_pointer (&n->udp, ember_udp_socket_free);
  g_free (n->udp_buf);
  g_free (n->udp_batch);
  g_free (n->scratch);
  g_ptr_array_unref (n->peers);
  ember_prefix_table_free (n->routes);
  g_clear_pointer (&n->registry, ember_registry_free);
  if (n->status_path != NULL)
    g_unlink (n->status_path);
  g_free (n->status_path);
}

int
ember_static_peer_run (const char *config_path, const char *ifname)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberWgConf) conf = ember_wgconf_load (config_path, &error);
  Node n = { 0 };
  g_autofree char *status_dir = NULL;
  guint sources[3];

  if (conf == NULL)
    {
      g_printerr ("emberd: %s\n", error->message);
      return 1;
    }
  n.conf = conf;
  n.mtu = conf->mtu != 0 ? conf->mtu : DEFAULT_MTU;
  n.ifname = (char *) (ifname != NULL ? ifname : "ember0");
  n.peers = g_ptr_array_new_with_free_func (peer_free);
  n.routes = ember_prefix_table_new ();
  n.status_path = ember_static_status_path (n.ifname);
  status_dir = g_path_get_dirname (n.status_path);
  g_mkdir_with_parents (status_dir, 0755);

  if (!node_start (&n, &error))
    {
      g_printerr ("emberd: %s\n", error->message);
      node_stop (&n);
      return 1;
    }
  g_info ("static-peer mode up on %s with %u peer(s)", n.ifname, n.peers->len);
  n.main_loop = g_main_loop_new (NULL, FALSE);
  sources[0] = g_unix_signal_add (SIGINT, on_signal, &n);
  sources[1] = g_unix_signal_add (SIGTERM, on_signal, &n);
  sources[2] = g_timeout_add (STATUS_PERIOD_MS, status_tick, &n);
  write_status (&n);
  g_main_loop_run (n.main_loop);
  g_main_loop_unref (n.main_loop);
  for (guint i = 0; i < G_N_ELEMENTS (sources); i++)
    g_source_remove (sources[i]);
  node_stop (&n);
  return 0;
}
