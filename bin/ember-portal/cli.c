/* cli — apply, token, list, log, apikey. */
#define G_LOG_DOMAIN "ember-portal"

#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "admin-ops.h"
#include "policy-file.h"
#include "store-json.h"

#define ACTOR "cli"

int
ember_portal_cli_exit_code (const GError *error)
{
  if (error == NULL)
    return EMBER_PORTAL_EXIT_OK;
  if (error->domain == EMBER_POLICY_FILE_ERROR || error->domain == EMBER_PORTAL_CONFIG_ERROR)
    return EMBER_PORTAL_EXIT_INPUT;
  return EMBER_PORTAL_EXIT_FAILED;
}

static int
report (GError *error)
{
  int code = ember_portal_cli_exit_code (error);

  g_printerr ("ember-portal: %s\n", error->message);
  g_error_free (error);
  return code;
}

int
ember_portal_cli_open (const char *config_path, EmberPortalConfig **config, EmberStore **store)
{
  GError *error = NULL;

  if (config_path == NULL)
    {
      g_printerr ("ember-portal: --config FILE is required\n");
      return EMBER_PORTAL_EXIT_USAGE;
    }
  *config = ember_portal_config_load (config_path, &error);
  if (*config == NULL)
    return report (error);
  if (store == NULL)
    return EMBER_PORTAL_EXIT_OK;
  *store = ember_store_open ((*config)->state_dir, &error);
  if (*store == NULL)
    {
      g_clear_pointer (config, ember_portal_config_free);
      return report (error);
    }
  return EMBER_PORTAL_EXIT_OK;
}

/* Parses options; on failure prints why and sets `code`. */
static gboolean
parse_options (GOptionContext *ctx, int *argc, char ***argv, int *code)
{
  GError *error = NULL;

  if (g_option_context_parse (ctx, argc, argv, &error))
    return TRUE;
  g_printerr ("ember-portal: %s (see --help)\n", error->message);
  g_error_free (error);
  *code = EMBER_PORTAL_EXIT_USAGE;
  return FALSE;
}

static int
usage (GOptionContext *ctx, const char *message)
{
  g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);

  g_printerr ("ember-portal: %s\n\n%s", message, help);
  return EMBER_PORTAL_EXIT_USAGE;
}

static void
print_json (JsonNode *node)
{
  g_autofree char *text = ember_store_json_text (node, TRUE);

  g_print ("%s\n", text);
}

/* ---- text tables ---- */

static char *
format_time (gint64 t)
{
  g_autoptr (GDateTime) dt = NULL;

  if (t == 0)
    return g_strdup ("-");
  dt = g_date_time_new_from_unix_utc (t);
  return dt != NULL ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%SZ") : g_strdup ("?");
}

static char *
cell (JsonObject *obj, const char *member)
{
  JsonNode *node = json_object_get_member (obj, member);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("-");
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  if (JSON_NODE_HOLDS_VALUE (node) && g_str_has_suffix (member, "_at"))
    return format_time (json_node_get_int (node));
  if (JSON_NODE_HOLDS_VALUE (node))
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *a = json_node_get_array (node);
      GString *s = g_string_new (NULL);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *el = json_array_get_element (a, i);
          if (s->len > 0)
            g_string_append (s, ", ");
          if (JSON_NODE_HOLDS_OBJECT (el))
            {
              JsonObject *f = json_node_get_object (el);
              g_string_append (s, json_object_get_string_member_with_default (f, "protocol", "?"));
              if (json_object_has_member (f, "port_range_start"))
                {
                  gint64 lo = json_object_get_int_member (f, "port_range_start");
                  gint64 hi = json_object_get_int_member (f, "port_range_end");
                  if (lo == hi)
                    g_string_append_printf (s, " %" G_GINT64_FORMAT, lo);
                  else
                    g_string_append_printf (s, " %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT, lo, hi);
                }
            }
          else
            g_string_append (s, json_node_get_string (el));
        }
      if (s->len == 0)
        g_string_append (s, g_str_equal (member, "filters") ? "all traffic" : "-");
      return g_string_free (s, FALSE);
    }
  /* conditions */
  {
    JsonObject *c = json_node_get_object (node);
    g_autoptr (GList) members = json_object_get_members (c);
    GString *s = g_string_new (NULL);
    for (GList *l = members; l != NULL; l = l->next)
      {
        g_autofree char *v = cell (c, l->data);
        g_string_append_printf (s, "%s%s=%s", s->len ? "; " : "", (char *) l->data, v);
      }
    if (s->len == 0)
      g_string_append (s, "-");
    return g_string_free (s, FALSE);
  }
}

static void
print_table (JsonNode *array_node, const char *const *columns)
{
  JsonArray *array = json_node_get_array (array_node);
  guint n_cols = g_strv_length ((char **) columns), n_rows = json_array_get_length (array);
  g_autofree gsize *widths = g_new0 (gsize, n_cols);
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);

  for (guint c = 0; c < n_cols; c++)
    widths[c] = strlen (columns[c]);
  for (guint r = 0; r < n_rows; r++)
    for (guint c = 0; c < n_cols; c++)
      {
        char *v = cell (json_array_get_object_element (array, r), columns[c]);
        widths[c] = MAX (widths[c], (gsize) g_utf8_strlen (v, -1));
        g_ptr_array_add (cells, v);
      }
  for (guint c = 0; c < n_cols; c++)
    {
      g_autofree char *up = g_ascii_strup (columns[c], -1);
      g_print ("%-*s%s", c + 1 < n_cols ? (int) widths[c] + 2 : 0, up, c + 1 < n_cols ? "" : "\n");
    }
  for (guint r = 0; r < n_rows; r++)
    for (guint c = 0; c < n_cols; c++)
      g_print ("%-*s%s", c + 1 < n_cols ? (int) widths[c] + 2 : 0,
               (char *) cells->pdata[r * n_cols + c], c + 1 < n_cols ? "" : "\n");
}

static const char *const *
columns_for (const char *kind)
{
  static const char *const sites[] = { "name", "id", NULL };
  static const char *const clients[] = { "name", "ipv4", "ipv6", "last_seen_at", "id", NULL };
  static const char *const gateways[] = { "name", "site", "ipv4", "ipv6", "last_seen_at", "id",
                                          NULL };
  static const char *const resources[] = { "name",  "type",    "address", "ip_stack",
                                           "site",  "filters", NULL };
  static const char *const groups[] = { "name", "clients", NULL };
  static const char *const policies[] = { "group", "resource", "conditions", NULL };
  static const char *const tokens[] = { "id", "kind", "device", "expires_at", "revoked_at", NULL };
  static const char *const apikeys[] = { "name", "id", "expires_at", "revoked_at", NULL };
  static const struct {
    const char *kind;
    const char *const *columns;
  } table[] = {
    { "sites", sites },   { "clients", clients },   { "gateways", gateways },
    { "resources", resources }, { "groups", groups }, { "policies", policies },
    { "tokens", tokens }, { "apikeys", apikeys },
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (g_str_equal (table[i].kind, kind))
      return table[i].columns;
  return sites;
}

/* ---- verbs ---- */

static char *opt_config;
static gboolean opt_json;
static gboolean opt_dry_run;
static char *opt_site;
static char *opt_expires_in;
static gint64 opt_after;
static int opt_limit;

static const GOptionEntry config_entry[] = {
  { "config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
    "The portal's configuration file (its [portal] state-dir holds the database)", "FILE" },
  { NULL },
};
static const GOptionEntry json_entry[] = {
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print JSON (the admin API's shape)", NULL },
  { NULL },
};

static GOptionContext *
verb_context (const char *parameters, const char *summary)
{
  GOptionContext *ctx = g_option_context_new (parameters);

  g_option_context_set_summary (ctx, summary);
  g_option_context_set_description (ctx,
                                    "Exit status: 0 done, 1 the operation failed, 2 usage "
                                    "error, 3 bad config or policy file (nothing changed).");
  g_option_context_add_main_entries (ctx, config_entry, NULL);
  return ctx;
}

/* Standard input, up to one byte more than a policy file may have (the
 * parser then names the limit). */
static gboolean
read_stdin (char **data, gsize *len, GError **error)
{
  GString *buf = g_string_new (NULL);
  char chunk[65536];
  size_t n;

  while (buf->len <= EMBER_POLICY_FILE_MAX_BYTES &&
         (n = fread (chunk, 1, sizeof chunk, stdin)) > 0)
    g_string_append_len (buf, chunk, (gssize) n);
  if (ferror (stdin))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "standard input: read failed");
      g_string_free (buf, TRUE);
      return FALSE;
    }
  *len = buf->len;
  *data = g_string_free (buf, FALSE);
  return TRUE;
}

int
ember_portal_cli_apply (int argc, char **argv)
{
  static const GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &opt_dry_run,
      "Print the difference and change nothing", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx =
    verb_context ("POLICY.json",
                  "Make the portal's sites, resources, groups and policies those of "
                  "POLICY.json (\"-\": standard input).\nPrints each difference (+ added, ~ changed, - removed); "
                  "applies all of them in one transaction, or none.");
  g_autoptr (EmberPortalConfig) config = NULL;
  g_autoptr (EmberStore) store = NULL;
  g_autofree char *data = NULL;
  g_autoptr (JsonNode) result = NULL;
  GError *error = NULL;
  JsonArray *changes;
  gsize len;
  int code = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_main_entries (ctx, json_entry, NULL);
  if (!parse_options (ctx, &argc, &argv, &code))
    return code;
  if (argc != 2)
    return usage (ctx, "apply: expected one POLICY.json");
  if ((code = ember_portal_cli_open (opt_config, &config, &store)) != 0)
    return code;
  if (g_str_equal (argv[1], "-") ? !read_stdin (&data, &len, &error)
                                 : !g_file_get_contents (argv[1], &data, &len, &error))
    {
      g_printerr ("ember-portal: %s\n", error->message);
      g_error_free (error);
      return EMBER_PORTAL_EXIT_INPUT;
    }
  result = ember_portal_op_apply (store, data, len,
                                  g_str_equal (argv[1], "-") ? "<stdin>" : argv[1], opt_dry_run,
                                  ACTOR, &error);
  if (result == NULL)
    return report (error);
  if (opt_json)
    {
      print_json (g_steal_pointer (&result));
      return EMBER_PORTAL_EXIT_OK;
    }
  changes = json_object_get_array_member (json_node_get_object (result), "changes");
  for (guint i = 0; i < json_array_get_length (changes); i++)
    g_print ("%s\n", json_array_get_string_element (changes, i));
  if (json_array_get_length (changes) == 0)
    g_printerr ("no changes\n");
  else if (opt_dry_run)
    g_printerr ("dry run: %u changes, nothing applied\n", json_array_get_length (changes));
  else
    g_printerr ("applied %u changes\n", json_array_get_length (changes));
  return EMBER_PORTAL_EXIT_OK;
}

static gboolean
expiry (gint64 *expires_at)
{
  gint64 seconds;

  *expires_at = 0;
  if (opt_expires_in == NULL)
    return TRUE;
  if (!ember_portal_parse_duration (opt_expires_in, &seconds))
    {
      g_printerr ("ember-portal: --expires-in: expected a duration like 90d, 12h, 30m or 45s, "
                  "got \"%s\"\n",
                  opt_expires_in);
      return FALSE;
    }
  *expires_at = g_get_real_time () / G_USEC_PER_SEC + seconds;
  return TRUE;
}

int
ember_portal_cli_token (int argc, char **argv)
{
  static const GOptionEntry entries[] = {
    { "site", 's', 0, G_OPTION_ARG_STRING, &opt_site, "The gateway's site (create gateway)",
      "SITE" },
    { "expires-in", 'e', 0, G_OPTION_ARG_STRING, &opt_expires_in,
      "Expire after DURATION (90d, 12h, 30m, 45s); default never", "DURATION" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx =
    verb_context ("create client NAME | create gateway NAME --site SITE | revoke TOKEN-ID",
                  "Create a device's bearer token, or revoke one.\n"
                  "create prints the token as the last line of stdout, this once: the portal "
                  "keeps only its hash.\nA new client or gateway is created with its tunnel "
                  "addresses. revoke closes the token's sessions.");
  g_autoptr (EmberPortalConfig) config = NULL;
  g_autoptr (EmberStore) store = NULL;
  g_autoptr (JsonNode) result = NULL;
  GError *error = NULL;
  gint64 expires_at;
  int code = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!parse_options (ctx, &argc, &argv, &code))
    return code;
  if (argc == 3 && g_str_equal (argv[1], "revoke"))
    {
      if ((code = ember_portal_cli_open (opt_config, &config, &store)) != 0)
        return code;
      result = ember_portal_op_token_revoke (store, argv[2], ACTOR, &error);
      if (result == NULL)
        return report (error);
      g_print ("revoked token %s of %s %s\n", argv[2],
               json_object_get_string_member (json_node_get_object (result), "kind"),
               json_object_get_string_member (json_node_get_object (result), "device"));
      return EMBER_PORTAL_EXIT_OK;
    }
  if (argc != 4 || !g_str_equal (argv[1], "create") ||
      (!g_str_equal (argv[2], "client") && !g_str_equal (argv[2], "gateway")))
    return usage (ctx, "token: expected create client NAME, create gateway NAME --site SITE, "
                       "or revoke TOKEN-ID");
  if (g_str_equal (argv[2], "gateway") && opt_site == NULL)
    return usage (ctx, "token create gateway: --site SITE is required");
  if (g_str_equal (argv[2], "client") && opt_site != NULL)
    return usage (ctx, "token create client: a client has no site");
  if (!expiry (&expires_at))
    return EMBER_PORTAL_EXIT_USAGE;
  if ((code = ember_portal_cli_open (opt_config, &config, &store)) != 0)
    return code;
  result = ember_portal_op_token_create (store,
                                         g_str_equal (argv[2], "gateway")
                                           ? EMBER_STORE_DEVICE_GATEWAY
                                           : EMBER_STORE_DEVICE_CLIENT,
                                         argv[3], opt_site, expires_at, ACTOR, &error);
  if (result == NULL)
    return report (error);
  {
    JsonObject *o = json_node_get_object (result);
    g_autofree char *expires = format_time (json_object_get_int_member (o, "expires_at"));
    g_print ("token %s for %s %s%s%s, expires %s\n", json_object_get_string_member (o, "id"),
             argv[2], argv[3], opt_site ? " in site " : "", opt_site ? opt_site : "",
             g_str_equal (expires, "-") ? "never" : expires);
    g_print ("%s\n", json_object_get_string_member (o, "token"));
  }
  ember_portal_op_wipe_secret (result);
  return EMBER_PORTAL_EXIT_OK;
}

int
ember_portal_cli_list (int argc, char **argv)
{
  g_autofree char *kinds = g_strjoinv ("|", (char **) ember_portal_list_kinds);
  g_autofree char *param = g_strdup_printf ("%s", kinds);
  g_autoptr (GOptionContext) ctx =
    verb_context (param, "List the portal's objects, as a table or --json.");
  g_autoptr (EmberPortalConfig) config = NULL;
  g_autoptr (EmberStore) store = NULL;
  g_autoptr (JsonNode) result = NULL;
  GError *error = NULL;
  int code = 0;

  g_option_context_add_main_entries (ctx, json_entry, NULL);
  if (!parse_options (ctx, &argc, &argv, &code))
    return code;
  if (argc != 2 || !g_strv_contains (ember_portal_list_kinds, argv[1]))
    return usage (ctx, "list: expected what to list");
  if ((code = ember_portal_cli_open (opt_config, &config, &store)) != 0)
    return code;
  result = ember_portal_op_list (store, argv[1], &error);
  if (result == NULL)
    return report (error);
  if (opt_json)
    print_json (g_steal_pointer (&result));
  else
    print_table (result, columns_for (argv[1]));
  return EMBER_PORTAL_EXIT_OK;
}

int
ember_portal_cli_log (int argc, char **argv)
{
  static const GOptionEntry entries[] = {
    { "after", 'a', 0, G_OPTION_ARG_INT64, &opt_after, "Only changes after change ID", "ID" },
    { "limit", 'l', 0, G_OPTION_ARG_INT, &opt_limit, "At most N changes", "N" },
    { NULL },
  };
  static const char *const columns[] = { "id", "changed_at", "actor", "verb", "kind", "object",
                                         NULL };
  g_autoptr (GOptionContext) ctx =
    verb_context ("", "Print the audit log: every change, oldest first, with who made it.");
  g_autoptr (EmberPortalConfig) config = NULL;
  g_autoptr (EmberStore) store = NULL;
  g_autoptr (JsonNode) result = NULL;
  GError *error = NULL;
  int code = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_main_entries (ctx, json_entry, NULL);
  if (!parse_options (ctx, &argc, &argv, &code))
    return code;
  if (argc != 1 || opt_after < 0 || opt_limit < 0)
    return usage (ctx, "log: expected only options");
  if ((code = ember_portal_cli_open (opt_config, &config, &store)) != 0)
    return code;
  result = ember_portal_op_log (store, opt_after, (guint) opt_limit, &error);
  if (result == NULL)
    return report (error);
  if (opt_json)
    print_json (g_steal_pointer (&result));
  else
    {
      JsonNode *changes = json_object_get_member (json_node_get_object (result), "changes");
      /* "at" is a time: the table formats members ending in _at. */
      JsonArray *a = json_node_get_array (changes);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonObject *o = json_array_get_object_element (a, i);
          json_object_set_int_member (o, "changed_at", json_object_get_int_member (o, "at"));
        }
      print_table (changes, columns);
    }
  return EMBER_PORTAL_EXIT_OK;
}

int
ember_portal_cli_apikey (int argc, char **argv)
{
  static const GOptionEntry entries[] = {
    { "expires-in", 'e', 0, G_OPTION_ARG_STRING, &opt_expires_in,
      "Expire after DURATION (90d, 12h, 30m, 45s); default never", "DURATION" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx =
    verb_context ("create NAME | revoke NAME",
                  "Create or revoke a key of the HTTP admin API (Authorization: Bearer KEY).\n"
                  "create prints the key as the last line of stdout, this once.");
  g_autoptr (EmberPortalConfig) config = NULL;
  g_autoptr (EmberStore) store = NULL;
  g_autoptr (JsonNode) result = NULL;
  GError *error = NULL;
  gint64 expires_at;
  int code = 0;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!parse_options (ctx, &argc, &argv, &code))
    return code;
  if (argc != 3 || (!g_str_equal (argv[1], "create") && !g_str_equal (argv[1], "revoke")))
    return usage (ctx, "apikey: expected create NAME or revoke NAME");
  if (!expiry (&expires_at))
    return EMBER_PORTAL_EXIT_USAGE;
  if ((code = ember_portal_cli_open (opt_config, &config, &store)) != 0)
    return code;
  if (g_str_equal (argv[1], "revoke"))
    {
      result = ember_portal_op_apikey_revoke (store, argv[2], ACTOR, &error);
      if (result == NULL)
        return report (error);
      g_print ("revoked API key %s\n", argv[2]);
      return EMBER_PORTAL_EXIT_OK;
    }
  result = ember_portal_op_apikey_create (store, argv[2], expires_at, ACTOR, &error);
  if (result == NULL)
    return report (error);
  g_print ("API key %s (%s)\n%s\n", argv[2],
           json_object_get_string_member (json_node_get_object (result), "id"),
           json_object_get_string_member (json_node_get_object (result), "key"));
  ember_portal_op_wipe_secret (result);
  return EMBER_PORTAL_EXIT_OK;
}

int
ember_portal_cli_delete (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx =
    verb_context ("client NAME | gateway NAME",
                  "Delete a client or a gateway: its tokens are revoked (its sessions close) "
                  "and its tunnel addresses are freed.");
  g_autoptr (EmberPortalConfig) config = NULL;
  g_autoptr (EmberStore) store = NULL;
  g_autoptr (JsonNode) result = NULL;
  GError *error = NULL;
  int code = 0;

  if (!parse_options (ctx, &argc, &argv, &code))
    return code;
  if (argc != 3 || (!g_str_equal (argv[1], "client") && !g_str_equal (argv[1], "gateway")))
    return usage (ctx, "delete: expected client NAME or gateway NAME");
  if ((code = ember_portal_cli_open (opt_config, &config, &store)) != 0)
    return code;
  result = ember_portal_op_device_delete (store,
                                          g_str_equal (argv[1], "gateway")
                                            ? EMBER_STORE_DEVICE_GATEWAY
                                            : EMBER_STORE_DEVICE_CLIENT,
                                          argv[2], ACTOR, &error);
  if (result == NULL)
    return report (error);
  g_print ("deleted %s %s\n", argv[1], argv[2]);
  return EMBER_PORTAL_EXIT_OK;
}
