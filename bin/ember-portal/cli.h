/* cli — ember-portal's administrative verbs.
 *
 * Each verb is `int verb (int argc, char **argv)` with argv[0] the verb's
 * name, parses its own options (--help included) and returns one of the
 * exit codes below, which scripts may rely on. Main thread only.
 */
#pragma once

#include <glib.h>

#include "portal-config.h"
#include "store.h"

G_BEGIN_DECLS

enum {
  EMBER_PORTAL_EXIT_OK = 0,
  EMBER_PORTAL_EXIT_FAILED = 1, /* the operation failed: not found, refused, database */
  EMBER_PORTAL_EXIT_USAGE = 2,  /* unknown verb or option, missing argument */
  EMBER_PORTAL_EXIT_INPUT = 3,  /* bad config file or policy file; nothing changed */
};

typedef struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} EmberPortalVerb;

int ember_portal_cli_apply (int argc, char **argv);
int ember_portal_cli_token (int argc, char **argv);
int ember_portal_cli_list (int argc, char **argv);
int ember_portal_cli_log (int argc, char **argv);
int ember_portal_cli_apikey (int argc, char **argv);
int ember_portal_cli_delete (int argc, char **argv);

/* For every verb, `serve` included: loads --config (exit code INPUT and
 * a message on stderr when it fails) and, when `store` is not NULL,
 * opens the store of its state directory (FAILED). */
int ember_portal_cli_open (const char *config_path, EmberPortalConfig **config,
                           EmberStore **store);

/* The exit code for an error of the store, the policy file or the
 * config loader. */
int ember_portal_cli_exit_code (const GError *error);

G_END_DECLS
