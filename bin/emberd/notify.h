/* notify — sd_notify for emberd without waiting on the main thread.
 *
 * sd_notify() writes a datagram to $NOTIFY_SOCKET with a blocking
 * sendmsg(): a service manager (or test) that does not read for a while
 * fills the socket's queue (net.unix.max_dgram_qlen, 10 by default) and
 * the next call waits — on the thread that moves every packet. Here the
 * main thread only records what is due (READY, the latest STATUS line,
 * a watchdog ping) and a thread of its own sends it. While that thread
 * waits, newer requests replace older ones: a stalled reader costs one
 * pending message, never a stalled data plane.
 *
 * The watchdog ping is still requested by the main loop, so it still
 * proves that loop turns. Calls from the main thread only.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EmberNotifier EmberNotifier;

/* NULL when emberd was not started with $NOTIFY_SOCKET (nothing to tell);
 * the calls below accept NULL and do nothing then. */
EmberNotifier *ember_notifier_new (void);
/* Stops the sending thread; what it has not sent yet is dropped. Never
 * waits for the reader. */
void ember_notifier_free (EmberNotifier *notifier);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberNotifier, ember_notifier_free)

void ember_notifier_ready (EmberNotifier *notifier);
/* `status`: the STATUS= text (without "STATUS="). */
void ember_notifier_status (EmberNotifier *notifier, const char *status);
void ember_notifier_watchdog (EmberNotifier *notifier);

G_END_DECLS
