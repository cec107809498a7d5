/* dns — emberd's DNS: the stub resolver (dns/stub.h) on the client's
 * TUN and the gateway's translation of proxy addresses (dns/translate.h),
 * each with the DNS upstream plugin of the config's `[dns] plugin`
 * (do53 by default) on a loop of its own.
 *
 * Client: queries to the sentinel addresses come from the TUN (UDP, and
 * TCP through dns/tcp.h) and are answered by the stub; names of dns resources get proxy addresses,
 * which go to the client tunnel (add_proxy_name: routed, and told to the
 * gateway); other queries go to the upstream behind the sentinel. The
 * upstreams are what the plugin has (its `upstreams` key, else the
 * system's resolv.conf as it was before Ember changed it). The system
 * DNS control (`[dns] system`, plugins/dns/sysdns) points the system at
 * the sentinels while emberd runs, and undoes it on exit (and, for the
 * file backend, at the next start after a crash). The proxy address map
 * is kept in the state directory.
 *
 * Gateway: the translator's lookups go to the same kind of plugin.
 *
 * Main thread only.
 */
#pragma once

#include <glib.h>

#include "daemon.h"
#include "dns/translate.h"
#include "tunnel/client.h"

G_BEGIN_DECLS

/* The keys of [dns]; `system` defaults to auto, `plugin` to do53. */
#define EMBER_DNS_DEFAULT_PLUGIN "do53"

typedef struct _EmberDnsShell EmberDnsShell;

/* Called when the plugin delivered answers: the mode drains its
 * machines (ember_dns_shell_drain among them) and flushes. */
typedef void (*EmberDnsShellKick) (gpointer user_data);

/* The [dns] values the daemon reads itself (system), checked as at
 * start, for --check-config. */
gboolean ember_dns_shell_check_config (const EmberConfig *config, GError **error);
/* Client: the plugin opened (after the system DNS control undid what a
 * crashed run left, so its default upstreams are the system's own), the
 * stub with the saved proxy addresses. */
EmberDnsShell *ember_dns_shell_new_client (EmberDaemon *d, EmberClientTunnel *tunnel,
                                           EmberDnsShellKick kick, gpointer user_data,
                                           GError **error);
/* Gateway: the plugin for the translator's lookups. */
EmberDnsShell *ember_dns_shell_new_gateway (EmberDaemon *d, EmberDnsTranslator *translator,
                                            EmberDnsShellKick kick, gpointer user_data,
                                            GError **error);
/* Reverts the system DNS, saves the map, closes the plugin. The calls
 * below accept NULL (a mode that stops before or after the DNS shell
 * exists) and do nothing then. */
void ember_dns_shell_free (EmberDnsShell *ds);

/* Client: the TUN is up: route the sentinels into it and point the
 * system's resolver at them. A failure is logged (names then resolve as
 * before, resource names do not). */
void ember_dns_shell_tun_up (EmberDnsShell *ds);
/* Client: the TUN went down (Disconnect, SignOut): the system's resolver
 * goes back to what it was, so names resolve while Ember is down;
 * tun_up points it at the sentinels again. */
void ember_dns_shell_tun_down (EmberDnsShell *ds);
/* Client: the daemon replaced its client tunnel (a new session): the
 * stub forgets the resources (their proxy addresses stay its own and are
 * announced to the new tunnel when asked for again). */
void ember_dns_shell_set_tunnel (EmberDnsShell *ds, EmberClientTunnel *tunnel);
/* Client: the portal's resource list changed (init, created, deleted). */
void ember_dns_shell_portal_message (EmberDnsShell *ds, const EmberPortalMessage *msg);
/* Client: a TUN packet; TRUE when it was the stub's (consumed): UDP to
 * any sentinel's port 53, TCP to a sentinel's port 53. */
gboolean ember_dns_shell_handle_tun (EmberDnsShell *ds, gint64 now, guint8 *buf, gsize cap,
                                     gsize off, gsize len);
void ember_dns_shell_handle_timeout (EmberDnsShell *ds, gint64 now);
/* The DNS facts of the status (status.h, "dns"): the system DNS control
 * in use and whether the resolver asks the sentinels now, the plugin,
 * per upstream the sentinels in front of it on the TUN (client), the
 * names with proxy addresses. */
void ember_dns_shell_status (EmberDnsShell *ds, EmberStatus *status);
/* Moves the stub's (or translator's) output: proxy addresses to the
 * tunnel, answers to the TUN, queries to the plugin. */
void ember_dns_shell_drain (EmberDnsShell *ds, gint64 now);
gint64 ember_dns_shell_poll_timeout (EmberDnsShell *ds);

G_END_DECLS
