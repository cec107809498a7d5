/* shell — emberd's one I/O loop.
 *
 * Every mode of emberd (static peer, client, gateway) is a driver on this
 * shell: the shell owns the devices and the clock, the driver owns a
 * sans-IO state machine and answers the shell's callbacks. The shell has
 *   - the TUN backend (a plugin, usually tun-linux) on the core event
 *     loop (core/loop.h);
 *   - one UDP socket (core/io/udp.h): GRO batches in, a GSO queue out
 *     (seed 002: small segments first), 7 MiB socket buffers, an
 *     optional SO_MARK so a full tunnel never routes our own datagrams
 *     into itself; reading pauses while the TUN queue is full instead of
 *     decrypting into a drop (seed 003);
 *   - optionally a transport plugin with a relay control (turn.so,
 *     ember-plugin-relay.h): relayed datagrams in, sends through the
 *     allocation owning the source address, its events to the driver;
 *   - the UDP socket's own STUN Binding client (core/tunnel/binding.h)
 *     to every relay of the set (ember_shell_relay_set): its answers
 *     are taken out before the driver sees a datagram, and the socket's
 *     server-reflexive address goes to the driver (`srflx`);
 *   - one timer (the machine's poll_timeout), SIGINT/SIGTERM (stop),
 *     SIGHUP (the driver's hangup hook) and a periodic status hook.
 *
 * The order of a wake-up: inputs of one batch go to the driver one by
 * one (tun_packet, datagram, relay_event), then `drain` once, in which
 * the driver moves the machine's output into the shell (send,
 * write_tun, arm_timer); the shell flushes the UDP queue after every
 * drain. Errors on single packets are counted by the driver and logged
 * once per batch (seed 001).
 *
 * Main thread only; the plugins' threads talk to it through the loop's
 * wakers.
 */
#pragma once

#include <glib.h>

#include "ember-plugin-relay.h"
#include "ember-plugin-wg.h"
#include "ember-plugin.h"
#include "io/udp.h"
#include "loader.h"

G_BEGIN_DECLS

typedef struct _EmberShell EmberShell;


typedef struct {
  /* Borrowed; must outlive the shell. */
  EmberRegistry *registry;
  /* The TUN plugin (role "tun"), the key file and group its open() reads
   * (the group names the interface: `name`). `ifname` is the name the
   * driver asked for, for logs and the interface index. NULL plugin: no
   * TUN yet (ember_shell_open_tun() later). */
  const char *tun_plugin;
  GKeyFile *tun_config;
  const char *tun_group;
  const char *ifname;
  guint mtu;
  /* The UDP socket's address; NULL: dual-stack any, a port of the
   * kernel's choice. */
  const EmberAddr *bind;
  /* Non-zero: SO_MARK on the UDP socket (needs CAP_NET_ADMIN). */
  guint32 fwmark;
  /* The relay transport (role "transport", e.g. "turn"), or NULL for
   * none; its group in `transport_config`. */
  const char *transport_plugin;
  GKeyFile *transport_config;
  const char *transport_group;
  /* The status hook's period; 0: no periodic status. */
  guint status_period_ms;
} EmberShellConfig;

typedef struct {
  /* One IP packet from the TUN at buf[off, off + len), with
   * EMBER_WG_HEADROOM before and EMBER_WG_TAILROOM after (cap is the
   * whole buffer); the driver may encrypt in place. */
  void (*tun_packet) (EmberShell *shell, gint64 now, guint8 *buf, gsize cap, gsize off, gsize len,
                      gpointer user_data);
  /* One datagram (GRO trains are split): from the UDP socket (`local` =
   * our address it arrived on) or through a relay (`local` = the relayed
   * address). Writable in place. */
  void (*datagram) (EmberShell *shell, gint64 now, const EmberAddr *local,
                    const EmberAddr *remote, guint8 *buf, gsize len, gpointer user_data);
  /* An event of the relay transport (may be NULL). */
  void (*relay_event) (EmberShell *shell, gint64 now, const EmberRelayEvent *ev,
                       gpointer user_data);
  /* The timer armed with ember_shell_arm_timer() is due. */
  void (*timeout) (EmberShell *shell, gint64 now, gpointer user_data);
  /* After every batch of inputs and every timeout: move the machine's
   * output into the shell. */
  void (*drain) (EmberShell *shell, gint64 now, gpointer user_data);
  /* Every status_period_ms (may be NULL). */
  void (*status) (EmberShell *shell, gpointer user_data);
  /* SIGHUP (may be NULL: then SIGHUP is ignored, logged). */
  void (*hangup) (EmberShell *shell, gpointer user_data);
  /* The UDP socket's server-reflexive address as `ev->relay` sees it,
   * new or changed (`ev->old`): an EMBER_RELAY_EVENT_SRFLX learned by
   * the shell's own Binding, not by the transport (may be NULL). */
  void (*srflx) (EmberShell *shell, gint64 now, const EmberRelayEvent *ev, gpointer user_data);
} EmberShellCallbacks;

/* Opens the TUN, the socket and the transport. NULL with an error naming
 * the plugin or the socket option that failed. */
EmberShell *ember_shell_new (const EmberShellConfig *config, const EmberShellCallbacks *callbacks,
                             gpointer user_data, GError **error);
/* Closes the transport (its allocations are released), the TUN (the
 * plugin removes the interface it made) and the socket. */
void ember_shell_free (EmberShell *shell);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberShell, ember_shell_free)

/* Opens the TUN later (a client learns its addresses from the portal's
 * first init); same fields as in EmberShellConfig. Once only. */
gboolean ember_shell_open_tun (EmberShell *shell, const char *plugin, GKeyFile *config,
                               const char *group, const char *ifname, guint mtu, GError **error);
gboolean ember_shell_has_tun (const EmberShell *shell);
/* Closes the TUN (the interface and its routes go); open_tun may follow. */
void ember_shell_close_tun (EmberShell *shell);

/* Runs the GLib main loop until SIGINT/SIGTERM or ember_shell_quit();
 * returns the exit code (0 for a signal). */
int ember_shell_run (EmberShell *shell);
void ember_shell_quit (EmberShell *shell, int exit_code);

/* ---- Output (from the driver's callbacks or its own control path) ---- */

/* One datagram from `from` to `to`: through the relay transport when
 * `from` is a relayed address it reported (ALLOCATED, not INVALIDATED
 * since), else out of the UDP socket. FALSE when it was dropped (queue
 * full, no transport, refused): the caller counts it. */
gboolean ember_shell_send (EmberShell *shell, const EmberAddr *from, const EmberAddr *to,
                           const guint8 *data, gsize len);
/* One IP packet for the TUN (copied). FALSE when its queue is full or
 * there is no TUN yet. */
gboolean ember_shell_write_tun (EmberShell *shell, const guint8 *data, gsize len);
/* Wakes the driver's timeout at `deadline` (monotonic µs; G_MAXINT64 or
 * -1: never). Only moves an armed deadline earlier: a deadline that
 * moved later fires early once, and the driver re-arms then (re-arming a
 * GSource per packet costs ~3 % CPU in bench/wg-throughput.sh). */
void ember_shell_arm_timer (EmberShell *shell, gint64 deadline);
/* Sends what the UDP queue holds now (the shell does it after each drain). */
void ember_shell_flush (EmberShell *shell);

/* ---- Relay control (turn.so); FALSE and a logged reason without one - */

gboolean ember_shell_has_relays (const EmberShell *shell);
gboolean ember_shell_relay_set (EmberShell *shell, const EmberRelaySpec *relays, guint n);
gboolean ember_shell_relay_allocate (EmberShell *shell, const EmberAddr *relay);
gboolean ember_shell_relay_add_peer (EmberShell *shell, const EmberAddr *relayed,
                                     const EmberAddr *peer);
/* The UDP socket's mapping as `relay` last saw it (the shell's own
 * Binding); FALSE when it has not answered yet. */
gboolean ember_shell_srflx_of (const EmberShell *shell, const EmberAddr *relay, EmberAddr *mapped);
/* Asks every relay for the mapping again now (the host roamed). */
void ember_shell_srflx_refresh (EmberShell *shell);
/* The relay that allocated `relayed` (ALLOCATED, not INVALIDATED since);
 * FALSE for any other address. */
gboolean ember_shell_relay_of (const EmberShell *shell, const EmberAddr *relayed,
                               EmberAddr *relay);

/* ---- Facts ------------------------------------------------------------ */

/* NULL / 0 before the TUN is open; 0 also for a device without a kernel
 * index. */
const char *ember_shell_get_ifname (const EmberShell *shell);
guint ember_shell_get_ifindex (const EmberShell *shell);
guint16 ember_shell_get_port (const EmberShell *shell);
void ember_shell_get_udp_stats (const EmberShell *shell, EmberUdpStats *stats);

G_END_DECLS
