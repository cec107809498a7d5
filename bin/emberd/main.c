/* emberd — the Ember client/gateway daemon. */
#include <glib.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "client-mode.h"
#include "config.h"
#include "daemon.h"
#include "dns.h"
#include "ember-build-config.h"
#include "loader.h"
#include "log.h"
#include "paths.h"
#include "static-peer.h"
#include "status.h"

static gboolean opt_version;
static gboolean opt_list_plugins;
static char *opt_check_config;
static char *opt_log;
static char *opt_log_dir;
static char *opt_wg_config;
static char *opt_interface;
static gboolean opt_status;
static gboolean opt_json;
static char *opt_config;

static const GOptionEntry entries[] = {
  { "version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
  { "config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
    "Run as client or gateway ([daemon] mode=) from FILE until SIGINT/SIGTERM; with --status, "
    "read that instance's status",
    "FILE" },
  { "list-plugins", 0, 0, G_OPTION_ARG_NONE, &opt_list_plugins,
    "List every plugin in the search path with its kind, ABI and file; exit non-zero if a "
    "file was refused",
    NULL },
  { "check-config", 0, 0, G_OPTION_ARG_FILENAME, &opt_check_config,
    "Validate FILE (and the plugin groups it configures) and exit", "FILE" },
  { "log", 0, 0, G_OPTION_ARG_STRING, &opt_log,
    "Log filter, e.g. \"debug,ember-dns=trace,noisy=off\" (default: $EMBER_LOG, then info)",
    "FILTER" },
  { "log-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_log_dir,
    "Write JSONL logs to a file in DIR", "DIR" },
  { "wg-config", 0, 0, G_OPTION_ARG_FILENAME, &opt_wg_config,
    "Static-peer mode: bring up a WireGuard tunnel from a wg-quick style FILE and run until "
    "SIGINT/SIGTERM",
    "FILE" },
  { "interface", 'i', 0, G_OPTION_ARG_STRING, &opt_interface,
    "Interface name for --wg-config and --status (default ember0)", "NAME" },
  { "status", 0, 0, G_OPTION_ARG_NONE, &opt_status,
    "Print the state of the running instance of --config FILE (portal, interface, resources, "
    "connections), or of the static-peer instance on --interface",
    NULL },
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "With --status: print the JSON status file",
    NULL },
  { NULL },
};

static EmberRegistry *
scan_plugins (const char *const *config_dirs)
{
  EmberRegistry *registry = ember_registry_new ();
  g_autoptr (GPtrArray) dirs = ember_paths_plugin_dirs (config_dirs);

  ember_registry_scan (registry, dirs);
  return registry;
}

static int
list_plugins (void)
{
  g_autoptr (EmberRegistry) registry = scan_plugins (NULL);
  GPtrArray *plugins = ember_registry_plugins (registry);
  GPtrArray *refusals = ember_registry_refusals (registry);
  GPtrArray *shadows = ember_registry_shadows (registry);
  g_autoptr (GPtrArray) dirs = ember_paths_plugin_dirs (NULL);

  printf ("search path:\n");
  for (guint i = 0; i < dirs->len; i++)
    {
      EmberPluginDir *d = g_ptr_array_index (dirs, i);
      printf ("  %s (%s)\n", d->path, ember_paths_origin_name (d->origin));
    }
  printf ("%-16s %-10s %-5s %s\n", "NAME", "KIND", "ABI", "FILE");
  for (guint i = 0; i < plugins->len; i++)
    {
      EmberPlugin *p = g_ptr_array_index (plugins, i);
      g_autofree char *abi = g_strdup_printf ("%u.%u", p->abi_major, p->abi_minor);
      printf ("%-16s %-10s %-5s %s\n", p->name, ember_plugin_kind_name (p->kind), abi, p->path);
      printf ("%-16s %s\n", "", p->description);
    }
  for (guint i = 0; i < shadows->len; i++)
    {
      EmberPluginShadow *s = g_ptr_array_index (shadows, i);
      printf ("shadowed: %s at %s (using %s)\n", s->name, s->ignored_path, s->used_path);
    }
  for (guint i = 0; i < refusals->len; i++)
    {
      EmberPluginRefusal *r = g_ptr_array_index (refusals, i);
      printf ("refused: %s\n", r->error->message);
    }
  return refusals->len > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int
check_config (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberConfig) config = ember_config_load (path, &error);
  g_autoptr (EmberRegistry) registry = NULL;

  if (config == NULL)
    {
      g_printerr ("emberd: %s\n", error->message);
      return 2;
    }
  registry = scan_plugins ((const char *const *) config->plugin_dirs);
  if (!ember_config_check_plugins (config, registry, &error)
      || !ember_dns_shell_check_config (config, &error))
    {
      g_printerr ("emberd: %s\n", error->message);
      return 2;
    }
  printf ("%s: configuration is valid\n", path);
  return EXIT_SUCCESS;
}

static EmberConfig *
load_config (const char *path)
{
  g_autoptr (GError) error = NULL;
  EmberConfig *config = ember_config_load (path, &error);

  if (config == NULL)
    g_printerr ("emberd: %s\n", error->message);
  return config;
}

static int
print_status (const char *path, gboolean json)
{
  g_autoptr (EmberConfig) config = load_config (path);
  g_autofree char *file = NULL;
  g_autofree char *text = NULL;
  g_autoptr (EmberStatus) st = NULL;
  g_autoptr (GError) error = NULL;

  if (config == NULL)
    return EMBER_EXIT_CONFIG;
  file = ember_status_path (config->runtime_dir);
  if (!g_file_get_contents (file, &text, NULL, &error))
    {
      g_printerr ("emberd: no running instance of %s: %s\n", path, error->message);
      return EMBER_EXIT_FAILURE;
    }
  st = ember_status_from_json (text, &error);
  if (st == NULL)
    {
      g_printerr ("emberd: %s: %s\n", file, error->message);
      return EMBER_EXIT_FAILURE;
    }
  if (json)
    fputs (text, stdout);
  else
    ember_status_print (st, stdout);
  return EMBER_EXIT_OK;
}

static int
run_config (const char *path)
{
  g_autoptr (EmberConfig) config = load_config (path);

  if (config == NULL)
    return EMBER_EXIT_CONFIG;
  /* The file's log settings, under --log / $EMBER_LOG and --log-dir. */
  if ((config->log_filter != NULL && opt_log == NULL && g_getenv ("EMBER_LOG") == NULL)
      || (config->log_dir != NULL && opt_log_dir == NULL))
    {
      g_autoptr (GError) error = NULL;
      const char *filter = opt_log != NULL ? opt_log
                           : g_getenv ("EMBER_LOG") != NULL ? g_getenv ("EMBER_LOG")
                                                            : config->log_filter;
      if (!ember_log_init ("emberd", filter, opt_log_dir != NULL ? opt_log_dir : config->log_dir,
                           &error))
        {
          g_printerr ("emberd: %s: %s\n", path, error->message);
          return EMBER_EXIT_CONFIG;
        }
    }
  if (config->mode == NULL)
    {
      g_printerr ("emberd: %s: [daemon] mode: missing (expected client or gateway)\n", path);
      return EMBER_EXIT_CONFIG;
    }
  if (g_str_equal (config->mode, "client"))
    return ember_client_mode_run (config);
  return ember_gateway_mode_run (config);
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;

  setlocale (LC_ALL, "");
  context = g_option_context_new ("- Ember zero-trust network access daemon");
  g_option_context_set_summary (context,
                                "Runs an Ember client or gateway: WireGuard tunnels found through "
                                "ICE,\nrelayed through TURN when no direct path exists.");
  g_option_context_set_description (context,
                                    "Plugins are searched in the configuration's plugin-dirs, "
                                    "then EMBER_PLUGIN_PATH,\nthen " EMBER_PLUGIN_DIR ".\n"
                                    "Logging: EMBER_LOG sets the filter when --log is not given.\n");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("emberd: %s\nTry emberd --help\n", error->message);
      return 2;
    }
  if (opt_version)
    {
      printf ("emberd %s (plugin ABI %d.%d)\n", EMBER_VERSION, EMBER_PLUGIN_ABI_MAJOR,
              EMBER_PLUGIN_ABI_MINOR);
      return EXIT_SUCCESS;
    }
  if (!ember_log_init ("emberd", opt_log, opt_log_dir, &error))
    {
      g_printerr ("emberd: %s\n", error->message);
      return 2;
    }
  if (opt_list_plugins)
    return list_plugins ();
  if (opt_check_config != NULL)
    return check_config (opt_check_config);
  if (opt_status && opt_config != NULL)
    return print_status (opt_config, opt_json);
  if (opt_status)
    return ember_static_status_print (opt_interface);
  if (opt_wg_config != NULL)
    return ember_static_peer_run (opt_wg_config, opt_interface);
  if (opt_config != NULL)
    return run_config (opt_config);

  g_printerr ("emberd: nothing to do; see emberd --help\n");
  return 2;
}
