/* shell — emberd's one I/O loop (see shell.h). */
#define G_LOG_DOMAIN "ember-shell"

#include "shell.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <gnutls/crypto.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

#include "loop.h"
#include "ice/candidate.h"
#include "net/cidr.h"
#include "tunnel/binding.h"

/* Packets the loop may hold for the TUN while its writer is behind. */
#define TUN_QUEUE 4096
/* UDP_GRO coalesces at most 64 datagrams into one slot (the kernel's
 * UDP_GRO_CNT_MAX); slots are 64 KiB for that (core/io/udp.h). */
#define UDP_SLOT 65535
#define GRO_MAX_SEGMENTS 64
#define SCRATCH (EMBER_WG_HEADROOM + 65535 + EMBER_WG_TAILROOM)
/* turn.so carries at most 4032 bytes of payload per relayed datagram. */
#define RELAY_SLOT 4096
#define RELAY_QUEUE 1024
/* Relayed addresses the shell tells apart from host addresses: two per
 * allocation (dual stack), one allocation per relay. */
#define MAX_RELAYED 64

/* The kernel's default UDP buffers (208 KiB) overflow under a bulk TCP
 * flow through the tunnel: while the loop encrypts or writes a TUN
 * batch, a GRO train or two fill the receive buffer and the rest is
 * dropped (UdpRcvbufErrors), which TCP reads as loss (bench:
 * ~100 k retransmits in 4 s). Ask for 7 MiB like wireguard-go; the
 * *FORCE variants pass net.core.rmem_max/wmem_max with CAP_NET_ADMIN,
 * otherwise the capped request still helps. */
#define SOCKET_BUFFER (7 << 20)

struct _EmberShell {
  EmberRegistry *registry;
  EmberShellCallbacks cb;
  gpointer user_data;
  char *ifname;
  guint ifindex;
  guint mtu;

  GMainLoop *main_loop;
  int exit_code;
  guint signal_ids[3];
  guint status_id;

  EmberLoop *loop;
  EmberTimer *timer;

  EmberPlugin *tun_plugin;
  EmberBackend *tun;
  EmberLoopBackend *tun_lb;

  EmberUdpSocket *udp;
  guint16 port;
  guint udp_in_watch;
  guint udp_out_watch;
  EmberPacket *udp_batch;
  guint8 *udp_buf;
  guint8 *scratch;

  EmberPlugin *tr_plugin;
  EmberBackend *tr;
  EmberLoopBackend *tr_lb;
  const EmberRelayControl *relay;
  gboolean tr_dirty;
  struct {
    EmberAddr relayed, relay;  /* an allocated address and the relay owning it */
  } relayed[MAX_RELAYED];
  guint n_relayed;

  /* The UDP socket's own server-reflexive address (shell.h). */
  EmberTunnelBinding *binding;
  EmberTimer *binding_timer;
  gboolean binding_dirty;
};

static void
drain (EmberShell *s, gint64 now)
{
  s->cb.drain (s, now, s->user_data);
  ember_shell_flush (s);
}

/* ---- UDP out --------------------------------------------------------------- */

static gboolean
udp_writable (gint fd, GIOCondition cond, gpointer data)
{
  EmberShell *s = data;
  (void) fd;
  (void) cond;
  s->udp_out_watch = 0;
  ember_shell_flush (s);
  return G_SOURCE_REMOVE;
}

void
ember_shell_flush (EmberShell *s)
{
  g_autoptr (GError) error = NULL;

  switch (ember_udp_socket_flush (s->udp, &error))
    {
    case EMBER_POLL_READY:
      break;
    case EMBER_POLL_PENDING:
      /* seed 003: keep the queue, wait until the socket is writable. */
      if (s->udp_out_watch == 0)
        s->udp_out_watch = g_unix_fd_add (ember_udp_socket_get_fd (s->udp), G_IO_OUT,
                                          udp_writable, s);
      break;
    case EMBER_POLL_ERROR:
      g_warning ("UDP send failed: %s", error->message);
      break;
    }
}

static gint
find_relayed (const EmberShell *s, const EmberAddr *a)
{
  for (guint i = 0; i < s->n_relayed; i++)
    if (ember_ice_addr_equal (&s->relayed[i].relayed, a))
      return (gint) i;
  return -1;
}

gboolean
ember_shell_send (EmberShell *s, const EmberAddr *from, const EmberAddr *to, const guint8 *data,
                  gsize len)
{
  g_autoptr (GError) error = NULL;

  if (to->family == EMBER_ADDR_NONE)
    return FALSE; /* a peer without an endpoint yet: nothing to send to */
  if (from != NULL && s->tr_lb != NULL && find_relayed (s, from) >= 0)
    return ember_loop_send_from (s->tr_lb, data, len, from, to, 0);
  if (ember_udp_socket_queue (s->udp, to, data, len, &error))
    return TRUE;
  /* Full: push what is queued out now, then try once more. */
  g_clear_error (&error);
  ember_shell_flush (s);
  return ember_udp_socket_queue (s->udp, to, data, len, NULL);
}

gboolean
ember_shell_write_tun (EmberShell *s, const guint8 *data, gsize len)
{
  if (s->tun_lb == NULL)
    return FALSE;
  return ember_loop_send (s->tun_lb, data, len, NULL, 0);
}

void
ember_shell_arm_timer (EmberShell *s, gint64 next)
{
  gint64 armed = ember_timer_get_deadline (s->timer);

  if (next < 0 || next == G_MAXINT64)
    {
      if (armed != -1)
        ember_timer_set_deadline (s->timer, -1);
      return;
    }
  if (armed == -1 || next < armed)
    ember_timer_set_deadline (s->timer, next);
}

/* ---- TUN in ---------------------------------------------------------------- */

static void
on_tun_batch (EmberLoopBackend *from, EmberPacket *batch, guint count, EmberErrorList *errors,
              gpointer user_data)
{
  EmberShell *s = user_data;
  gint64 now = g_get_monotonic_time ();

  (void) from;
  (void) errors;
  for (guint i = 0; i < count; i++)
    {
      EmberPacket *pkt = &batch[i];

      if (pkt->error != 0 || pkt->len == 0 || pkt->len > SCRATCH - EMBER_WG_HEADROOM
                                                            - EMBER_WG_TAILROOM)
        continue;
      /* The engine encrypts in place behind its header: one copy into a
       * buffer with head- and tailroom. */
      memcpy (s->scratch + EMBER_WG_HEADROOM, pkt->data, pkt->len);
      s->cb.tun_packet (s, now, s->scratch, SCRATCH, EMBER_WG_HEADROOM, pkt->len, s->user_data);
    }
  /* Once per batch: staged packets and handshakes wait at most until the
   * end of this batch, which keeps their order behind the datagrams
   * already queued. */
  drain (s, now);
}

/* ---- UDP in ---------------------------------------------------------------- */

/* UDP slots whose packets surely fit the TUN queue. Reading more than
 * that would only drop decrypted packets there; left unread they wait in
 * the socket buffer (seed 003: backpressure suspends reading). */
static guint
udp_slots_that_fit (EmberShell *s)
{
  guint queued = s->tun_lb != NULL ? ember_loop_backend_queued (s->tun_lb) : 0;
  guint room = queued < TUN_QUEUE ? TUN_QUEUE - queued : 0;

  return MIN (room / GRO_MAX_SEGMENTS, EMBER_BATCH_MAX);
}

static gboolean udp_readable (gint fd, GIOCondition cond, gpointer data);

static void
watch_udp (EmberShell *s)
{
  s->udp_in_watch = g_unix_fd_add (ember_udp_socket_get_fd (s->udp), G_IO_IN, udp_readable, s);
}

/* The loop flushed enough of the TUN queue for one more UDP batch. */
static void
udp_resume (EmberLoopBackend *lb, gpointer data)
{
  (void) lb;
  watch_udp (data);
}

static void
reset_udp_slots (EmberShell *s)
{
  for (guint i = 0; i < EMBER_BATCH_MAX; i++)
    {
      s->udp_batch[i].data = s->udp_buf + (gsize) i * UDP_SLOT;
      s->udp_batch[i].capacity = UDP_SLOT;
    }
}

/* own_socket: it came in on the UDP socket, where the answers to our
 * own Bindings arrive; they are taken out before ICE and WireGuard. */
static void
deliver (EmberShell *s, gint64 now, EmberPacket *p, gboolean own_socket)
{
  gsize seg = p->segment_size ? p->segment_size : p->len;

  if (p->error != 0 || seg == 0)
    return;
  /* GRO: one slot may carry a train of equal-size datagrams. */
  for (gsize off = 0; off < p->len; off += seg)
    {
      gsize len = MIN (seg, p->len - off);
      if (own_socket
          && ember_tunnel_binding_handle_input (s->binding, now, &p->remote, p->data + off, len))
        {
          s->binding_dirty = TRUE;
          continue;
        }
      s->cb.datagram (s, now, &p->local, &p->remote, p->data + off, len, s->user_data);
    }
}

/* ---- The socket's own Binding (core/tunnel/binding.h) ------------------ */

static guint64
binding_rng (gpointer user_data)
{
  guint64 v;
  (void) user_data;
  if (gnutls_rnd (GNUTLS_RND_NONCE, &v, sizeof v) != 0)
    g_error ("the system random number generator failed");
  return v;
}

/* Queues the requests the binding owes, gives its events to the driver
 * and re-arms its timer. TRUE when the driver was told something (its
 * machine may have output now: drain). */
static gboolean
binding_pump (EmberShell *s, gint64 now)
{
  guint8 buf[EMBER_BINDING_REQUEST_LEN];
  EmberTunnelBindingEvent bev;
  EmberAddr to;
  gsize len;
  gboolean told = FALSE;

  while ((len = ember_tunnel_binding_poll_transmit (s->binding, buf, sizeof buf, &to)) > 0)
    ember_shell_send (s, NULL, &to, buf, len);
  while (ember_tunnel_binding_poll_event (s->binding, &bev))
    {
      EmberRelayEvent ev = { .type = EMBER_RELAY_EVENT_SRFLX, .relay = bev.server,
                             .addr = bev.addr, .old = bev.old };
      char a[EMBER_ADDR_PORT_STRLEN], r[EMBER_ADDR_PORT_STRLEN];

      g_info ("server-reflexive address of port %u: %s (as relay %s sees it)", s->port,
              ember_addr_format_port (&bev.addr, a), ember_addr_format_port (&bev.server, r));
      if (s->cb.srflx != NULL)
        {
          s->cb.srflx (s, now, &ev, s->user_data);
          told = TRUE;
        }
    }
  gint64 next = ember_tunnel_binding_poll_timeout (s->binding);
  ember_timer_set_deadline (s->binding_timer, next == G_MAXINT64 ? -1 : next);
  return told;
}

static void
on_binding_timer (EmberTimer *timer, gint64 now, gpointer user_data)
{
  EmberShell *s = user_data;
  (void) timer;
  ember_tunnel_binding_handle_timeout (s->binding, now);
  if (binding_pump (s, now))
    drain (s, now);
  else
    ember_shell_flush (s);
}

gboolean
ember_shell_srflx_of (const EmberShell *s, const EmberAddr *relay, EmberAddr *mapped)
{
  return ember_tunnel_binding_get_mapping (s->binding, relay, mapped);
}

void
ember_shell_srflx_refresh (EmberShell *s)
{
  ember_tunnel_binding_refresh (s->binding, g_get_monotonic_time ());
  binding_pump (s, g_get_monotonic_time ());
  ember_shell_flush (s);
}

static gboolean
udp_readable (gint fd, GIOCondition cond, gpointer data)
{
  EmberShell *s = data;
  gint64 now = g_get_monotonic_time ();
  gboolean paused = FALSE;

  (void) fd;
  (void) cond;
  /* A few batches per wake-up, so the TUN side gets its turn (seed 001). */
  for (int round = 0; round < 4; round++)
    {
      g_autoptr (GError) error = NULL;
      guint max = udp_slots_that_fit (s);
      gint got;

      if (max == 0)
        {
          /* The TUN writer is behind: stop watching the socket until the
           * loop has flushed enough (it flushes on its own ticks). */
          paused = TRUE;
          break;
        }
      reset_udp_slots (s);
      got = ember_udp_socket_recv_many (s->udp, s->udp_batch, max, &error);
      if (got < 0)
        {
          g_warning ("UDP receive failed: %s", error->message);
          break;
        }
      if (got == 0)
        break;
      for (gint i = 0; i < got; i++)
        deliver (s, now, &s->udp_batch[i], TRUE);
      if (s->binding_dirty)
        {
          s->binding_dirty = FALSE;
          binding_pump (s, now);
        }
      drain (s, now);
      if ((guint) got < max)
        break;
    }
  if (!paused)
    return G_SOURCE_CONTINUE;
  /* Resume as soon as a flush leaves room for one slot's GRO train,
   * i.e. when udp_slots_that_fit() turns non-zero. */
  if (!ember_loop_backend_notify_room (s->tun_lb, GRO_MAX_SEGMENTS, udp_resume, s))
    return G_SOURCE_CONTINUE;
  s->udp_in_watch = 0;
  return G_SOURCE_REMOVE;
}

/* ---- The relay transport ------------------------------------------------ */

static void
relayed_add (EmberShell *s, const EmberAddr *a, const EmberAddr *relay)
{
  gint i = find_relayed (s, a);

  if (a->family == EMBER_ADDR_NONE)
    return;
  if (i < 0)
    {
      if (s->n_relayed == MAX_RELAYED)
        return;
      i = (gint) s->n_relayed++;
    }
  s->relayed[i].relayed = *a;
  s->relayed[i].relay = *relay;
}

static void
relayed_remove (EmberShell *s, const EmberAddr *a)
{
  gint i = find_relayed (s, a);

  if (i >= 0)
    s->relayed[i] = s->relayed[--s->n_relayed];
}

static void
on_relay_batch (EmberLoopBackend *from, EmberPacket *batch, guint count, EmberErrorList *errors,
                gpointer user_data)
{
  EmberShell *s = user_data;
  gint64 now = g_get_monotonic_time ();

  (void) from;
  (void) errors;
  for (guint i = 0; i < count; i++)
    deliver (s, now, &batch[i], FALSE);
  s->tr_dirty = TRUE;
}

/* After every poll_recv_many() of the transport: its events
 * (ember-plugin-relay.h: the core drains them there). */
static void
on_relay_polled (EmberLoopBackend *lb, gpointer user_data)
{
  EmberShell *s = user_data;
  gint64 now = g_get_monotonic_time ();
  EmberRelayEvent ev;

  (void) lb;
  while (s->relay->poll_event (s->tr, &ev))
    {
      if (ev.type == EMBER_RELAY_EVENT_ALLOCATED)
        for (guint i = 0; i < MIN (ev.n_relayed, G_N_ELEMENTS (ev.relayed)); i++)
          relayed_add (s, &ev.relayed[i], &ev.relay);
      else if (ev.type == EMBER_RELAY_EVENT_INVALIDATED)
        for (guint i = 0; i < MIN (ev.n_relayed, G_N_ELEMENTS (ev.relayed)); i++)
          relayed_remove (s, &ev.relayed[i]);
      if (s->cb.relay_event != NULL)
        s->cb.relay_event (s, now, &ev, s->user_data);
      s->tr_dirty = TRUE;
    }
  if (!s->tr_dirty)
    return;
  s->tr_dirty = FALSE;
  drain (s, now);
}

gboolean
ember_shell_relay_of (const EmberShell *s, const EmberAddr *relayed, EmberAddr *relay)
{
  gint i = find_relayed (s, relayed);

  if (i < 0)
    return FALSE;
  *relay = s->relayed[i].relay;
  return TRUE;
}

gboolean
ember_shell_has_relays (const EmberShell *s)
{
  return s->relay != NULL;
}

static gboolean
no_relays (const EmberShell *s, const char *what)
{
  if (s->relay != NULL)
    return FALSE;
  g_debug ("%s: no relay transport configured", what);
  return TRUE;
}

gboolean
ember_shell_relay_set (EmberShell *s, const EmberRelaySpec *relays, guint n)
{
  g_autoptr (GError) error = NULL;
  EmberAddr servers[EMBER_BINDING_MAX_SERVERS];
  guint n_servers = 0;
  gint64 now = g_get_monotonic_time ();

  /* The relays are STUN servers: the socket's own Binding asks each,
   * with or without a relay transport. */
  for (guint i = 0; i < n && n_servers < G_N_ELEMENTS (servers); i++)
    servers[n_servers++] = relays[i].server;
  ember_tunnel_binding_set_servers (s->binding, now, servers, n_servers);
  binding_pump (s, now);
  ember_shell_flush (s);
  if (no_relays (s, "set_relays"))
    return FALSE;
  if (s->relay->set_relays (s->tr, relays, n, &error))
    return TRUE;
  g_warning ("relays: %s", error != NULL ? error->message : "refused");
  return FALSE;
}

gboolean
ember_shell_relay_allocate (EmberShell *s, const EmberAddr *relay)
{
  g_autoptr (GError) error = NULL;
  char text[EMBER_ADDR_PORT_STRLEN];

  if (no_relays (s, "allocate"))
    return FALSE;
  if (s->relay->allocate (s->tr, relay, &error))
    return TRUE;
  g_warning ("relay %s: allocate: %s", ember_addr_format_port (relay, text),
             error != NULL ? error->message : "refused");
  return FALSE;
}

gboolean
ember_shell_relay_add_peer (EmberShell *s, const EmberAddr *relayed, const EmberAddr *peer)
{
  g_autoptr (GError) error = NULL;
  char text[EMBER_ADDR_PORT_STRLEN];

  if (no_relays (s, "add_peer"))
    return FALSE;
  if (s->relay->add_peer (s->tr, relayed, peer, &error))
    return TRUE;
  g_debug ("relay peer %s: %s", ember_addr_format_port (peer, text),
           error != NULL ? error->message : "refused");
  return FALSE;
}

/* ---- Timer, signals, status ---------------------------------------------- */

static void
on_timer (EmberTimer *timer, gint64 now, gpointer user_data)
{
  EmberShell *s = user_data;
  (void) timer;
  s->cb.timeout (s, now, s->user_data);
  drain (s, now);
}

static gboolean
on_stop_signal (gpointer data)
{
  EmberShell *s = data;
  g_info ("signal received, shutting down");
  ember_shell_quit (s, 0);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_hangup (gpointer data)
{
  EmberShell *s = data;
  if (s->cb.hangup == NULL)
    {
      g_info ("SIGHUP: nothing to reload in this mode");
      return G_SOURCE_CONTINUE;
    }
  g_info ("SIGHUP received");
  s->cb.hangup (s, s->user_data);
  drain (s, g_get_monotonic_time ());
  return G_SOURCE_CONTINUE;
}

static gboolean
status_tick (gpointer data)
{
  EmberShell *s = data;
  s->cb.status (s, s->user_data);
  return G_SOURCE_CONTINUE;
}

int
ember_shell_run (EmberShell *s)
{
  s->exit_code = 0;
  g_main_loop_run (s->main_loop);
  return s->exit_code;
}

void
ember_shell_quit (EmberShell *s, int exit_code)
{
  s->exit_code = exit_code;
  g_main_loop_quit (s->main_loop);
}

/* ---- Set-up --------------------------------------------------------------- */

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

static gboolean
open_udp (EmberShell *s, const EmberShellConfig *cfg, GError **error)
{
  EmberAddr local;

  s->udp = ember_udp_socket_new (cfg->bind, error);
  if (s->udp == NULL)
    return FALSE;
  ember_udp_socket_set_gro (s->udp, TRUE);
  grow_socket_buffers (ember_udp_socket_get_fd (s->udp));
  if (cfg->fwmark != 0)
    {
      int mark = (int) cfg->fwmark;
      if (setsockopt (ember_udp_socket_get_fd (s->udp), SOL_SOCKET, SO_MARK, &mark, sizeof mark)
          != 0)
        {
          int e = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                       "UDP socket: SO_MARK 0x%x: %s", cfg->fwmark, g_strerror (e));
          return FALSE;
        }
    }
  if (!ember_udp_socket_get_local (s->udp, &local, error))
    return FALSE;
  s->port = local.port;
  s->udp_buf = g_malloc ((gsize) UDP_SLOT * EMBER_BATCH_MAX);
  s->udp_batch = g_new0 (EmberPacket, EMBER_BATCH_MAX);
  reset_udp_slots (s);
  return TRUE;
}

static gboolean
open_transport (EmberShell *s, const EmberShellConfig *cfg, GError **error)
{
  EmberBackendArgs args = { cfg->transport_config, cfg->transport_group, "ember-transport" };

  s->tr_plugin = ember_registry_lookup (cfg->registry, "transport", cfg->transport_plugin,
                                        EMBER_PLUGIN_KIND_TRANSPORT, error);
  if (s->tr_plugin == NULL)
    return FALSE;
  if (s->tr_plugin->io.get_control != NULL)
    s->relay = s->tr_plugin->io.get_control (EMBER_RELAY_CONTROL_NAME);
  if (s->relay == NULL
      || s->relay->size < G_STRUCT_OFFSET (EmberRelayControl, poll_event)
                              + sizeof s->relay->poll_event)
    {
      g_set_error (error, EMBER_LOADER_ERROR, EMBER_LOADER_ERROR_BAD_DESCRIPTOR,
                   "%s: transport %s has no relay control (%s)", s->tr_plugin->path,
                   cfg->transport_plugin, EMBER_RELAY_CONTROL_NAME);
      s->relay = NULL;
      return FALSE;
    }
  s->tr = s->tr_plugin->io.open (&args, error);
  if (s->tr == NULL)
    {
      s->relay = NULL;
      return FALSE;
    }
  s->tr_lb = ember_loop_add_backend (s->loop, cfg->transport_plugin, &s->tr_plugin->io, s->tr,
                                     RELAY_SLOT, RELAY_QUEUE, on_relay_batch, s);
  ember_loop_backend_set_polled (s->tr_lb, on_relay_polled, s);
  return TRUE;
}

gboolean
ember_shell_open_tun (EmberShell *s, const char *plugin, GKeyFile *config, const char *group,
                      const char *ifname, guint mtu, GError **error)
{
  EmberBackendArgs args = { config, group, "ember-tun" };

  g_return_val_if_fail (s->tun == NULL, FALSE);
  s->tun_plugin = ember_registry_lookup (s->registry, "tun", plugin, EMBER_PLUGIN_KIND_TUN, error);
  if (s->tun_plugin == NULL)
    return FALSE;
  s->tun = s->tun_plugin->io.open (&args, error);
  if (s->tun == NULL)
    return FALSE;
  s->ifname = g_strdup (ifname);
  s->mtu = mtu;
  s->ifindex = if_nametoindex (ifname);
  s->tun_lb = ember_loop_add_backend (s->loop, ifname, &s->tun_plugin->io, s->tun, mtu, TUN_QUEUE,
                                      on_tun_batch, s);
  return TRUE;
}

void
ember_shell_close_tun (EmberShell *s)
{
  if (s->tun == NULL)
    return;
  /* The plugin first: its threads may fire the backend's wakers until
   * close() returns (removes the interface, and every route on it). */
  s->tun_plugin->io.close (s->tun);
  s->tun = NULL;
  ember_loop_remove_backend (s->loop, s->tun_lb);
  s->tun_lb = NULL;
  g_clear_pointer (&s->ifname, g_free);
  s->ifindex = 0;
  /* Reading UDP waited for room in the TUN queue that is gone. */
  if (s->udp_in_watch == 0)
    watch_udp (s);
}

gboolean
ember_shell_has_tun (const EmberShell *s)
{
  return s->tun != NULL;
}

EmberShell *
ember_shell_new (const EmberShellConfig *cfg, const EmberShellCallbacks *cb, gpointer user_data,
                 GError **error)
{
  g_autoptr (EmberShell) s = g_new0 (EmberShell, 1);

  g_return_val_if_fail (cb->tun_packet != NULL && cb->datagram != NULL && cb->drain != NULL
                            && cb->timeout != NULL,
                        NULL);
  s->registry = cfg->registry;
  s->cb = *cb;
  s->user_data = user_data;
  s->main_loop = g_main_loop_new (NULL, FALSE);
  s->loop = ember_loop_new (NULL);
  s->scratch = g_malloc (SCRATCH);

  if (!open_udp (s, cfg, error))
    return NULL;
  if (cfg->tun_plugin != NULL
      && !ember_shell_open_tun (s, cfg->tun_plugin, cfg->tun_config, cfg->tun_group, cfg->ifname,
                                cfg->mtu, error))
    return NULL;
  if (cfg->transport_plugin != NULL && !open_transport (s, cfg, error))
    return NULL;
  s->timer = ember_loop_timer_new (s->loop, on_timer, s);
  s->binding = ember_tunnel_binding_new (&(EmberIceRng){ binding_rng, NULL });
  s->binding_timer = ember_loop_timer_new (s->loop, on_binding_timer, s);
  watch_udp (s);

  s->signal_ids[0] = g_unix_signal_add (SIGINT, on_stop_signal, s);
  s->signal_ids[1] = g_unix_signal_add (SIGTERM, on_stop_signal, s);
  s->signal_ids[2] = g_unix_signal_add (SIGHUP, on_hangup, s);
  if (cfg->status_period_ms != 0 && cb->status != NULL)
    s->status_id = g_timeout_add (cfg->status_period_ms, status_tick, s);
  return g_steal_pointer (&s);
}

void
ember_shell_free (EmberShell *s)
{
  if (s == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (s->signal_ids); i++)
    g_clear_handle_id (&s->signal_ids[i], g_source_remove);
  g_clear_handle_id (&s->status_id, g_source_remove);
  g_clear_handle_id (&s->udp_in_watch, g_source_remove);
  g_clear_handle_id (&s->udp_out_watch, g_source_remove);
  g_clear_pointer (&s->timer, ember_timer_free);
  g_clear_pointer (&s->binding_timer, ember_timer_free);
  g_clear_pointer (&s->binding, ember_tunnel_binding_free);
  /* Each plugin is closed before its loop backend goes: until close()
   * has stopped the plugin's threads they may still fire the wakers the
   * backend owns. */
  if (s->tr != NULL)
    s->tr_plugin->io.close (s->tr); /* releases its allocations */
  if (s->tr_lb != NULL)
    ember_loop_remove_backend (s->loop, s->tr_lb);
  if (s->tun != NULL)
    s->tun_plugin->io.close (s->tun); /* removes the interface it made */
  if (s->tun_lb != NULL)
    ember_loop_remove_backend (s->loop, s->tun_lb);
  g_clear_pointer (&s->loop, ember_loop_free);
  if (s->udp != NULL)
    {
      /* Best effort: what the last drain queued (a final handshake or
       * keepalive) leaves before the socket closes. */
      ember_udp_socket_flush (s->udp, NULL);
      ember_udp_socket_free (s->udp);
    }
  g_free (s->udp_buf);
  g_free (s->udp_batch);
  g_free (s->scratch);
  g_clear_pointer (&s->main_loop, g_main_loop_unref);
  g_free (s->ifname);
  g_free (s);
}

const char *
ember_shell_get_ifname (const EmberShell *s)
{
  return s->ifname;
}

guint
ember_shell_get_ifindex (const EmberShell *s)
{
  return s->ifindex;
}

guint16
ember_shell_get_port (const EmberShell *s)
{
  return s->port;
}

void
ember_shell_get_udp_stats (const EmberShell *s, EmberUdpStats *stats)
{
  ember_udp_socket_get_stats (s->udp, stats);
}
