/* hooks — wg-quick's PreUp / PostUp / PreDown / PostDown shell commands.
 *
 * Each command runs as wg-quick runs it: `/bin/sh -c COMMAND` with every
 * "%i" replaced by the interface name, one after the other in file
 * order, with emberd's environment, stdin from /dev/null, and stdout and
 * stderr merged into emberd's log line by line (domain "ember-hooks",
 * each line prefixed with the stage and the file:line of the command).
 * Only the command's own exit counts: a command that leaves a process in
 * the background holding its output open does not hold emberd up (its
 * later output is not logged). There is no time limit, as in wg-quick;
 * the command is logged before it starts, so a hang shows.
 *
 * ember_hooks_run() stops at the first failing command and returns its
 * error (bring-up: PreUp, PostUp); ember_hooks_run_all() runs every
 * command and only logs failures (tear-down: PreDown, PostDown).
 *
 * Main thread; blocks until the commands are done.
 */
#pragma once

#include <glib.h>

#include "tunnel/wgconf.h"

G_BEGIN_DECLS

#define EMBER_HOOKS_ERROR (ember_hooks_error_quark ())
GQuark ember_hooks_error_quark (void);

typedef enum {
  EMBER_HOOKS_ERROR_SPAWN,  /* /bin/sh could not be started */
  EMBER_HOOKS_ERROR_FAILED, /* the command exited non-zero or died of a signal */
} EmberHooksError;

/* "%i" replaced by ifname ("%%" is not special, as in wg-quick). */
char *ember_hooks_expand (const char *command, const char *ifname);

/* Runs conf->hooks[stage] in order; stops at the first failure, whose
 * error names the file, the line, the stage and the exit status. */
gboolean ember_hooks_run (const EmberWgConf *conf, EmberWgConfHookStage stage,
                          const char *ifname, GError **error);
/* Runs every command of the stage; failures are logged as warnings.
 * Returns how many failed. */
guint ember_hooks_run_all (const EmberWgConf *conf, EmberWgConfHookStage stage,
                           const char *ifname);

G_END_DECLS
