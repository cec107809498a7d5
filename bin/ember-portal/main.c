/* ember-portal — the embedded control plane: one program, one verb per
 * task. The admin verbs live in cli.c; `serve` (the signalling server)
 * joins the table below. */
#define G_LOG_DOMAIN "ember-portal"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "serve.h"
#include "ember-build-config.h"

static const EmberPortalVerb verbs[] = {
  { "apply", "Make the sites, resources, groups and policies those of a policy file",
    ember_portal_cli_apply },
  { "token", "Create or revoke a client's or a gateway's token", ember_portal_cli_token },
  { "list", "List sites, clients, gateways, resources, groups, policies, tokens, API keys",
    ember_portal_cli_list },
  { "log", "Print the audit log of changes", ember_portal_cli_log },
  { "apikey", "Create or revoke a key of the HTTP admin API", ember_portal_cli_apikey },
  { "delete", "Delete a client or a gateway (revokes its tokens)", ember_portal_cli_delete },
  { "serve", "Serve clients and gateways: the signalling channel, admin API, metrics",
    ember_portal_serve_main },
};

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: ember-portal VERB --config FILE [OPTION…] [ARGUMENT…]\n\n"
                "The Ember control plane. Verbs:\n");
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    fprintf (out, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
  fprintf (out, "\n`ember-portal VERB --help` describes each verb.\n"
                "Exit status: 0 done, 1 the operation failed, 2 usage error, 3 bad config or "
                "policy file (nothing changed).\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2)
    {
      print_usage (stderr);
      return EMBER_PORTAL_EXIT_USAGE;
    }
  if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h") ||
      g_str_equal (argv[1], "help"))
    {
      print_usage (stdout);
      return EMBER_PORTAL_EXIT_OK;
    }
  if (g_str_equal (argv[1], "--version") || g_str_equal (argv[1], "-V"))
    {
      printf ("ember-portal %s\n", EMBER_VERSION);
      return EMBER_PORTAL_EXIT_OK;
    }
  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    if (g_str_equal (argv[1], verbs[i].name))
      {
        /* The verb sees itself as argv[0], so --help names it. */
        g_autofree char *prgname = g_strdup_printf ("ember-portal %s", verbs[i].name);
        g_set_prgname (prgname);
        return verbs[i].run (argc - 1, argv + 1);
      }
  fprintf (stderr, "ember-portal: unknown verb \"%s\"\n\n", argv[1]);
  print_usage (stderr);
  return EMBER_PORTAL_EXIT_USAGE;
}
