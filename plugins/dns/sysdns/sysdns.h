/* sysdns — points the system's resolver at Ember while it runs, and puts
 * it back afterwards.
 *
 * A small static library emberd links (wg-quick's DNS= key too), not a
 * plugin: changing the host's resolver set-up is the daemon's business
 * and needs no I/O vtable. Backends, chosen by name (`[dns] system=`):
 *
 *   resolved    systemd-resolved over D-Bus: SetLinkDNS, SetLinkDomains
 *               (search domains, "~name" routing-only ones, "~." for all
 *               names), SetLinkDefaultRoute on the TUN link; RevertLink
 *               when reverted. Re-applied when resolved restarts (its bus
 *               name gets a new owner).
 *   resolvconf  the resolvconf(8) program: `-a tun.IFACE` with the
 *               records on stdin, `-d tun.IFACE` to revert ("tun." puts
 *               the record first in Debian resolvconf's interface-order;
 *               openresolv gets `-m 0 -x` for the same, as wg-quick does).
 *   file        rewrites resolv.conf. The original is saved in the state
 *               directory first and restored byte for byte on revert, or
 *               at the next ember_sysdns_new() after a crash. Where the
 *               file is a mount point (a bind mount, as in containers and
 *               under `ip netns exec`) a rename over it fails: the new
 *               content is written in place instead.
 *   none        leaves everything alone.
 *   auto        resolved when org.freedesktop.resolve1 is on the bus,
 *               else resolvconf when the program is found, else file.
 *
 * Threads: one thread, the one whose thread-default main context is
 * current at ember_sysdns_new() (the resolved backend watches its bus
 * name there). Calls block for at most a few seconds (D-Bus timeout,
 * resolvconf run).
 */
#pragma once

#include <gio/gio.h>

#include "ember-plugin.h"

G_BEGIN_DECLS

#define EMBER_SYSDNS_ERROR (ember_sysdns_error_quark ())
GQuark ember_sysdns_error_quark (void);

typedef enum {
  EMBER_SYSDNS_ERROR_CONFIG,   /* a bad option or mode name */
  EMBER_SYSDNS_ERROR_FAILED,   /* the backend refused or failed */
} EmberSysdnsError;

typedef enum {
  EMBER_SYSDNS_AUTO,
  EMBER_SYSDNS_RESOLVED,
  EMBER_SYSDNS_RESOLVCONF,
  EMBER_SYSDNS_FILE,
  EMBER_SYSDNS_NONE,
} EmberSysdnsMode;

typedef struct {
  EmberSysdnsMode mode;
  const char *ifname;             /* the TUN device (resolved: its link) */
  int ifindex;                    /* resolved's link; 0: if_nametoindex(ifname) */
  const char *state_dir;          /* where file keeps the original (required) */
  const char *resolv_conf;        /* NULL: /etc/resolv.conf */
  const char *resolvconf_program; /* NULL: "resolvconf" from PATH */
  GDBusConnection *bus;           /* NULL: the system bus */
} EmberSysdnsOptions;

typedef struct {
  const EmberAddr *servers;       /* the resolvers (port: 53 or 0) */
  guint n_servers;
  const char *const *search;      /* search domains, NULL-terminated, or NULL */
  const char *const *routing;     /* routing-only domains (resolved only) */
  gboolean default_route;         /* every name goes to these servers */
} EmberSysdnsConfig;

typedef struct _EmberSysdns EmberSysdns;

const char *ember_sysdns_mode_name (EmberSysdnsMode mode);
gboolean ember_sysdns_mode_from_name (const char *name, EmberSysdnsMode *out, GError **error);

/* Resolves `auto`, and first undoes what a crashed run left (a saved
 * resolv.conf is restored, a resolvconf record deleted), whatever the
 * mode. */
EmberSysdns *ember_sysdns_new (const EmberSysdnsOptions *options, GError **error);
/* The mode in use (never AUTO). */
EmberSysdnsMode ember_sysdns_get_mode (EmberSysdns *sysdns);
/* Sets (or replaces) the resolver configuration. */
gboolean ember_sysdns_apply (EmberSysdns *sysdns, const EmberSysdnsConfig *config,
                             GError **error);
/* Undoes apply; nothing to undo is success. */
gboolean ember_sysdns_revert (EmberSysdns *sysdns, GError **error);
/* Reverts (a failure is logged) and frees. */
void ember_sysdns_free (EmberSysdns *sysdns);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberSysdns, ember_sysdns_free)

/* The resolv.conf text the file backend writes (and resolvconf gets). */
char *ember_sysdns_format_resolv_conf (const EmberSysdnsConfig *config, const char *ifname);

G_END_DECLS
