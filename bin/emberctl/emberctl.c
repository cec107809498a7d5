/* emberctl — the command line over emberd's D-Bus API (org.ember.Ember1).
 *
 * Speaks only the API (the proxy gdbus-codegen made from the same XML as
 * emberd's skeleton): reads properties, calls methods with interactive
 * authorization allowed (a polkit agent may ask), prints a table or, with
 * --json, one JSON document on stdout. Exit codes (emberctl(1)):
 *   0 done, 1 emberd reported a failure, 2 usage or a bad argument,
 *   3 emberd is not reachable (no bus, not running), 4 not authorized
 *   (polkit), 5 not possible in emberd's state (signed out, already
 *   signed in, no internet resource, a gateway).
 */
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ember-build-config.h"
#include "ember-dbus-generated.h"

#define NAME "org.ember.Ember1"
#define PATH "/org/ember/Ember1"
#define CALL_TIMEOUT_MS (120 * 1000) /* a polkit dialog waits for a person */

enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_UNREACHABLE = 3,
  EXIT_DENIED = 4,
  EXIT_STATE = 5,
};

static gboolean opt_json;
static gboolean opt_version;
static char *opt_portal;
static char *opt_token_file;

static const GOptionEntry entries[] = {
  { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "Print JSON instead of a table", NULL },
  { "portal", 0, 0, G_OPTION_ARG_STRING, &opt_portal,
    "sign-in: the portal's URL (ws:// or wss://; default: the configured one)", "URL" },
  { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_token_file,
    "sign-in: read the token from FILE (default: standard input)", "FILE" },
  { "version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
  { NULL },
};

/* ---- Output --------------------------------------------------------------------- */

static void
print_json (JsonNode *root)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_pretty (gen, TRUE);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

/* A refusal: the message on stderr; with --json also as a document. */
static int
fail (int code, const char *error_name, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static int
fail (int code, const char *error_name, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_printerr ("emberctl: %s\n", msg);
  if (opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "ok");
      json_builder_add_boolean_value (b, FALSE);
      json_builder_set_member_name (b, "error");
      json_builder_add_string_value (b, error_name != NULL ? error_name : "");
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, msg);
      json_builder_set_member_name (b, "exit_code");
      json_builder_add_int_value (b, code);
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      print_json (root);
    }
  return code;
}

/* The exit code for an error of a method call. */
static int
call_failed (const char *method, GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  int code = EXIT_FAILED;

  g_dbus_error_strip_remote_error (error);
  if (name == NULL)
    {
      if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
          || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
        code = EXIT_UNREACHABLE;
    }
  else if (g_str_equal (name, "org.freedesktop.DBus.Error.AccessDenied")
           || g_str_equal (name, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"))
    code = EXIT_DENIED;
  else if (g_str_equal (name, "org.freedesktop.DBus.Error.InvalidArgs"))
    code = EXIT_USAGE;
  else if (g_str_equal (name, "org.freedesktop.DBus.Error.ServiceUnknown")
           || g_str_equal (name, "org.freedesktop.DBus.Error.NameHasNoOwner")
           || g_str_equal (name, "org.freedesktop.DBus.Error.NoReply"))
    code = EXIT_UNREACHABLE;
  else if (g_str_equal (name, "org.ember.Ember1.Error.NotSignedIn")
           || g_str_equal (name, "org.ember.Ember1.Error.AlreadySignedIn")
           || g_str_equal (name, "org.ember.Ember1.Error.NoInternetResource")
           || g_str_equal (name, "org.ember.Ember1.Error.WrongMode"))
    code = EXIT_STATE;
  return fail (code, name, "%s: %s", method, error->message);
}

/* ---- Reading ---------------------------------------------------------------------- */

static const char *
str_of (GVariant *dict, const char *key)
{
  const char *s = NULL;
  if (dict == NULL || !g_variant_lookup (dict, key, "&s", &s))
    return "";
  return s;
}

static guint64
u64_of (GVariant *dict, const char *key)
{
  guint64 v = 0;
  if (dict != NULL)
    g_variant_lookup (dict, key, "t", &v);
  return v;
}

static JsonNode *
variant_json (GVariant *v)
{
  if (v == NULL)
    return json_node_new (JSON_NODE_NULL);
  return json_gvariant_serialize (v);
}

static gboolean
bool_of (GVariant *dict, const char *key)
{
  gboolean v = FALSE;
  if (dict != NULL)
    g_variant_lookup (dict, key, "b", &v);
  return v;
}

/* The Dns property as lines under "DNS:" (nothing when it is empty). A
 * static peer has no stub: its DNS= servers only. */
static void
print_dns (GVariant *dns, gboolean static_peer)
{
  g_autoptr (GVariant) servers = NULL;
  const char *system = str_of (dns, "system");
  const char *plugin = str_of (dns, "plugin");

  if (dns == NULL || g_variant_n_children (dns) == 0)
    return;
  if (static_peer)
    printf ("DNS:         %s, %s\n", system, bool_of (dns, "applied") ? "applied" : "not applied");
  else if (*system)
    printf ("DNS:         %s, %s; upstreams through %s; %" G_GUINT64_FORMAT
            " name(s) with proxy addresses\n",
            system, bool_of (dns, "applied") ? "asking the sentinels" : "not applied",
            *plugin ? plugin : "no plugin", u64_of (dns, "proxy-names"));
  else
    printf ("DNS:         upstreams through %s\n", *plugin ? plugin : "no plugin");
  servers = g_variant_lookup_value (dns, "servers", G_VARIANT_TYPE ("aa{sv}"));
  for (gsize i = 0; servers != NULL && i < g_variant_n_children (servers); i++)
    {
      g_autoptr (GVariant) v = g_variant_get_child_value (servers, i);
      const char *v4 = str_of (v, "ipv4"), *v6 = str_of (v, "ipv6");
      const char *up = str_of (v, "upstream");

      if (*v4 || *v6)
        printf ("             %s%s%s -> %s\n", v4, *v4 && *v6 ? "  " : "", v6,
                *up ? up : "(no upstream: resource names only)");
      else
        printf ("             -> %s\n", *up ? up : "(none)");
    }
}

/* A gateway's Clients: one line each, with the names of its resources. */
static void
print_clients (GVariant *clients, GVariant *resources)
{
  printf ("Clients:     %" G_GSIZE_FORMAT "\n",
          clients != NULL ? g_variant_n_children (clients) : (gsize) 0);
  for (gsize i = 0; clients != NULL && i < g_variant_n_children (clients); i++)
    {
      g_autoptr (GVariant) c = g_variant_get_child_value (clients, i);
      g_autoptr (GVariant) ids = g_variant_lookup_value (c, "resources", G_VARIANT_TYPE ("as"));
      g_autoptr (GString) names = g_string_new (NULL);

      for (gsize k = 0; ids != NULL && k < g_variant_n_children (ids); k++)
        {
          const char *id = NULL;
          g_autofree char *name = NULL;

          g_variant_get_child (ids, k, "&s", &id);
          for (gsize j = 0; resources != NULL && j < g_variant_n_children (resources); j++)
            {
              g_autoptr (GVariant) r = g_variant_get_child_value (resources, j);
              if (name == NULL && g_str_equal (str_of (r, "id"), id) && *str_of (r, "name"))
                name = g_strdup (str_of (r, "name"));
            }
          g_string_append_printf (names, "%s%s", k ? ", " : "", name != NULL ? name : id);
        }
      printf ("             %s: %" G_GUINT64_FORMAT " authorization(s)%s%s\n", str_of (c, "id"),
              u64_of (c, "authorizations"), names->len ? ": " : "", names->str);
    }
}

static int
cmd_status (EmberDBusEmber1 *p)
{
  const char *const *addrs = ember_dbus_ember1_get_tunnel_addresses (p);
  GVariant *ident = ember_dbus_ember1_get_identity (p);
  GVariant *counters = ember_dbus_ember1_get_counters (p);
  GVariant *resources = ember_dbus_ember1_get_resources (p);
  GVariant *dns = ember_dbus_ember1_get_dns (p);
  GVariant *clients = ember_dbus_ember1_get_clients (p);

  if (opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "version");
      json_builder_add_string_value (b, ember_dbus_ember1_get_version (p));
      json_builder_set_member_name (b, "mode");
      json_builder_add_string_value (b, ember_dbus_ember1_get_mode (p));
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, ember_dbus_ember1_get_state (p));
      json_builder_set_member_name (b, "portal_url");
      json_builder_add_string_value (b, ember_dbus_ember1_get_portal_url (p));
      json_builder_set_member_name (b, "identity");
      json_builder_add_value (b, variant_json (ident));
      json_builder_set_member_name (b, "interface_name");
      json_builder_add_string_value (b, ember_dbus_ember1_get_interface_name (p));
      json_builder_set_member_name (b, "tunnel_addresses");
      json_builder_begin_array (b);
      for (guint i = 0; addrs != NULL && addrs[i] != NULL; i++)
        json_builder_add_string_value (b, addrs[i]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "internet_resource");
      json_builder_add_boolean_value (b, ember_dbus_ember1_get_internet_resource (p));
      json_builder_set_member_name (b, "counters");
      json_builder_add_value (b, variant_json (counters));
      json_builder_set_member_name (b, "resources");
      json_builder_add_value (b, variant_json (resources));
      json_builder_set_member_name (b, "dns");
      json_builder_add_value (b, variant_json (dns));
      json_builder_set_member_name (b, "clients");
      json_builder_add_value (b, variant_json (clients));
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      print_json (root);
      return EXIT_OK;
    }

  {
    g_autofree char *joined = addrs != NULL ? g_strjoinv (" ", (char **) addrs) : NULL;
    const char *ifname = ember_dbus_ember1_get_interface_name (p);
    const char *key = str_of (ident, "public-key");

    printf ("State:       %s\n", ember_dbus_ember1_get_state (p));
    printf ("Portal:      %s\n", *ember_dbus_ember1_get_portal_url (p)
                                     ? ember_dbus_ember1_get_portal_url (p)
                                     : "-");
    printf ("Device:      %s\n", *str_of (ident, "name") ? str_of (ident, "name") : "-");
    printf ("Device id:   %s\n", *str_of (ident, "id") ? str_of (ident, "id") : "-");
    printf ("Device key:  %s\n", *key ? key : "-");
    printf ("Interface:   %s%s%s\n", ifname != NULL && *ifname ? ifname : "-",
            joined != NULL && *joined ? "  " : "", joined != NULL ? joined : "");
    printf ("Internet:    %s\n", ember_dbus_ember1_get_internet_resource (p) ? "on" : "off");
    printf ("Resources:   %" G_GSIZE_FORMAT "\n",
            resources != NULL ? g_variant_n_children (resources) : (gsize) 0);
    if (g_strcmp0 (ember_dbus_ember1_get_mode (p), "gateway") == 0)
      print_clients (clients, resources);
    print_dns (dns, g_strcmp0 (ember_dbus_ember1_get_mode (p), "static-peer") == 0);
    printf ("Received:    %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " packets\n",
            u64_of (counters, "rx-bytes"), u64_of (counters, "rx-packets"));
    printf ("Sent:        %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " packets\n",
            u64_of (counters, "tx-bytes"), u64_of (counters, "tx-packets"));
    printf ("Handshakes:  %" G_GUINT64_FORMAT "\n", u64_of (counters, "handshakes"));
    printf ("emberd:      %s (%s)\n", ember_dbus_ember1_get_version (p),
            ember_dbus_ember1_get_mode (p));
  }
  return EXIT_OK;
}

static int
cmd_resources (EmberDBusEmber1 *p)
{
  GVariant *resources = ember_dbus_ember1_get_resources (p);
  GVariantIter it;
  GVariant *r;

  if (opt_json)
    {
      g_autoptr (JsonNode) root = variant_json (resources);
      print_json (root);
      return EXIT_OK;
    }
  printf ("%-24s %-28s %-9s %-16s %s\n", "NAME", "ADDRESS", "TYPE", "SITE", "STATUS");
  if (resources == NULL)
    return EXIT_OK;
  g_variant_iter_init (&it, resources);
  while ((r = g_variant_iter_next_value (&it)) != NULL)
    {
      const char *address = str_of (r, "address");
      const char *relay = str_of (r, "relay");
      gboolean enabled = FALSE;
      g_autofree char *status = NULL;

      if (g_variant_lookup (r, "enabled", "b", &enabled))
        status = g_strdup_printf ("%s (%s)", str_of (r, "status"), enabled ? "on" : "off");
      else if (*relay)
        status = g_strdup_printf ("%s via %s", str_of (r, "status"), relay);
      else
        status = g_strdup (str_of (r, "status"));
      printf ("%-24s %-28s %-9s %-16s %s\n", str_of (r, "name"), *address ? address : "-",
              str_of (r, "type"), *str_of (r, "site") ? str_of (r, "site") : "-", status);
      g_variant_unref (r);
    }
  return EXIT_OK;
}

/* ---- Methods ------------------------------------------------------------------------- */

static int
call (EmberDBusEmber1 *p, const char *method, GVariant *args)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) ret = NULL;

  /* The generated call_*() cannot allow interactive authorization. */
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (p), method, args,
                                G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                CALL_TIMEOUT_MS, NULL, &error);
  if (ret == NULL)
    return call_failed (method, error);
  if (opt_json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "ok");
      json_builder_add_boolean_value (b, TRUE);
      json_builder_set_member_name (b, "method");
      json_builder_add_string_value (b, method);
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      print_json (root);
    }
  else
    printf ("%s: done\n", method);
  return EXIT_OK;
}

/* The token from --token-file, or standard input; wiped by the caller. */
static char *
read_token (GError **error)
{
  char *text = NULL;
  gsize len = 0;

  if (opt_token_file != NULL && !g_str_equal (opt_token_file, "-"))
    {
      if (!g_file_get_contents (opt_token_file, &text, &len, error))
        return NULL;
    }
  else
    {
      g_autoptr (GInputStream) in = g_unix_input_stream_new (STDIN_FILENO, FALSE);
      g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
      struct termios saved, quiet;
      gboolean tty = isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &saved) == 0;

      if (tty)
        {
          /* Typed at a terminal: one line, not echoed. */
          char line[4096];
          gboolean ok;

          quiet = saved;
          quiet.c_lflag &= ~(tcflag_t) ECHO;
          g_printerr ("token: ");
          tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet);
          ok = fgets (line, sizeof line, stdin) != NULL;
          tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);
          g_printerr ("\n");
          if (!ok)
            {
              g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no token typed");
              return NULL;
            }
          text = g_strdup (line);
          explicit_bzero (line, sizeof line);
          return g_strstrip (text);
        }
      if (g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) < 0)
        return NULL;
      g_output_stream_write (out, "", 1, NULL, NULL);
      text = g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (out));
    }
  return g_strstrip (text);
}

static int
cmd_sign_in (EmberDBusEmber1 *p)
{
  g_autoptr (GError) error = NULL;
  char *token = read_token (&error);
  int code;

  if (token == NULL)
    return fail (EXIT_USAGE, NULL, "sign-in: cannot read the token: %s", error->message);
  if (*token == '\0')
    {
      g_free (token);
      return fail (EXIT_USAGE, NULL, "sign-in: the token is empty");
    }
  code = call (p, "SignIn", g_variant_new ("(ss)", opt_portal != NULL ? opt_portal : "", token));
  explicit_bzero (token, strlen (token));
  g_free (token);
  return code;
}

/* ---- Main ------------------------------------------------------------------------------ */

static EmberDBusEmber1 *
connect_proxy (int *code)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *owner = NULL;
  EmberDBusEmber1 *p = ember_dbus_ember1_proxy_new_for_bus_sync (
      G_BUS_TYPE_SYSTEM, G_DBUS_PROXY_FLAGS_NONE, NAME, PATH, NULL, &error);

  if (p == NULL)
    {
      *code = fail (EXIT_UNREACHABLE, NULL, "no system bus: %s", error->message);
      return NULL;
    }
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (p), CALL_TIMEOUT_MS);
  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (p));
  if (owner == NULL)
    {
      *code = fail (EXIT_UNREACHABLE, "org.freedesktop.DBus.Error.ServiceUnknown",
                    "emberd is not running (nobody owns %s on the system bus)", NAME);
      g_object_unref (p);
      return NULL;
    }
  return p;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberDBusEmber1) proxy = NULL;
  const char *verb;
  int code = EXIT_OK;

  setlocale (LC_ALL, "");
  context = g_option_context_new ("COMMAND - control emberd over D-Bus");
  g_option_context_set_summary (context,
                                "Commands:\n"
                                "  status                 the daemon's state, portal, interface, "
                                "DNS,\n"
                                "                         counters (a gateway: its clients)\n"
                                "  resources              the resources and how each is reached\n"
                                "  connect                connect a signed-in daemon\n"
                                "  disconnect             take the tunnel down, keep the token\n"
                                "  sign-in                sign in with a token (--portal, "
                                "--token-file)\n"
                                "  sign-out               take the tunnel down, delete the token\n"
                                "  internet on|off        the internet resource on or off\n"
                                "  reset                  build every connection again");
  g_option_context_set_description (context,
                                    "Exit status: 0 done, 1 emberd reported a failure, 2 usage "
                                    "or a bad argument,\n3 emberd not reachable, 4 not "
                                    "authorized, 5 not possible in emberd's state.\n");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("emberctl: %s\nTry emberctl --help\n", error->message);
      return EXIT_USAGE;
    }
  if (opt_version)
    {
      printf ("emberctl %s\n", EMBER_VERSION);
      return EXIT_OK;
    }
  if (argc < 2)
    {
      g_printerr ("emberctl: no command; see emberctl --help\n");
      return EXIT_USAGE;
    }
  verb = argv[1];
  if ((opt_portal != NULL || opt_token_file != NULL) && !g_str_equal (verb, "sign-in"))
    return fail (EXIT_USAGE, NULL, "--portal and --token-file go with sign-in only");
  if (g_str_equal (verb, "internet"))
    {
      if (argc != 3 || (!g_str_equal (argv[2], "on") && !g_str_equal (argv[2], "off")))
        return fail (EXIT_USAGE, NULL, "usage: emberctl internet on|off");
    }
  else if (argc != 2)
    return fail (EXIT_USAGE, NULL, "%s: unexpected argument \"%s\"", verb, argv[2]);
  if (!g_strv_contains ((const char *const[]){ "status", "resources", "connect", "disconnect",
                                               "sign-in", "sign-out", "internet", "reset", NULL },
                        verb))
    return fail (EXIT_USAGE, NULL, "unknown command \"%s\"; see emberctl --help", verb);

  proxy = connect_proxy (&code);
  if (proxy == NULL)
    return code;
  if (g_str_equal (verb, "status"))
    return cmd_status (proxy);
  if (g_str_equal (verb, "resources"))
    return cmd_resources (proxy);
  if (g_str_equal (verb, "connect"))
    return call (proxy, "Connect", NULL);
  if (g_str_equal (verb, "disconnect"))
    return call (proxy, "Disconnect", NULL);
  if (g_str_equal (verb, "sign-out"))
    return call (proxy, "SignOut", NULL);
  if (g_str_equal (verb, "reset"))
    return call (proxy, "Reset", NULL);
  if (g_str_equal (verb, "internet"))
    return call (proxy, "SetInternetResource",
                 g_variant_new ("(b)", g_str_equal (argv[2], "on")));
  return cmd_sign_in (proxy);
}
