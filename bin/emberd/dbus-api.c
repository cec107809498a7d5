/* dbus-api — org.ember.Ember1 on the system bus (dbus-api.h). */
#define G_LOG_DOMAIN "ember-dbus"

#include "dbus-api.h"

#include <polkit/polkit.h>
#include <string.h>

#include "ember-dbus-generated.h"

/* Counters change with every packet: PropertiesChanged at most this often. */
#define COUNTERS_PERIOD_US G_USEC_PER_SEC

static const GDBusErrorEntry error_entries[] = {
  { EMBER_DBUS_ERROR_NOT_SIGNED_IN, "org.ember.Ember1.Error.NotSignedIn" },
  { EMBER_DBUS_ERROR_ALREADY_SIGNED_IN, "org.ember.Ember1.Error.AlreadySignedIn" },
  { EMBER_DBUS_ERROR_TOKEN_REJECTED, "org.ember.Ember1.Error.TokenRejected" },
  { EMBER_DBUS_ERROR_PORTAL_UNREACHABLE, "org.ember.Ember1.Error.PortalUnreachable" },
  { EMBER_DBUS_ERROR_NO_INTERNET_RESOURCE, "org.ember.Ember1.Error.NoInternetResource" },
  { EMBER_DBUS_ERROR_WRONG_MODE, "org.ember.Ember1.Error.WrongMode" },
  { EMBER_DBUS_ERROR_FAILED, "org.ember.Ember1.Error.Failed" },
};

GQuark
ember_dbus_error_quark (void)
{
  static gsize quark = 0;
  g_dbus_error_register_error_domain ("ember-dbus-error-quark", &quark, error_entries,
                                      G_N_ELEMENTS (error_entries));
  return (GQuark) quark;
}

const char *
ember_dbus_error_name (EmberDbusError code)
{
  for (guint i = 0; i < G_N_ELEMENTS (error_entries); i++)
    if (error_entries[i].error_code == (gint) code)
      return error_entries[i].dbus_error_name;
  return "org.ember.Ember1.Error.Failed";
}

struct _EmberDbusApi {
  EmberDBusEmber1 *skeleton;
  GDBusConnection *bus;
  GCancellable *cancel;          /* the bus, polkit checks in flight */
  PolkitAuthority *authority;    /* once fetched */
  guint owner_id;
  gboolean serving;
  EmberDbusApiMethods methods;
  gpointer user_data;
  gint64 counters_at;            /* monotonic µs of the last Counters set */
};

typedef enum {
  METHOD_SIGN_IN,
  METHOD_SIGN_OUT,
  METHOD_CONNECT,
  METHOD_DISCONNECT,
  METHOD_SET_INTERNET,
  METHOD_RESET,
} Method;

/* A method call on its way through polkit. */
typedef struct {
  EmberDbusApi *api;             /* not touched once api->cancel fired */
  GCancellable *cancel;          /* a ref of api->cancel */
  GDBusMethodInvocation *inv;
  Method method;
  const char *actions[2];
  guint n_actions, next;
  char *portal_url;
  char *token;                   /* wiped */
  gboolean enabled;
} Call;

static void
call_free (Call *c)
{
  g_object_unref (c->cancel);
  /* Still here: never answered (a bug); the skeleton's reference goes. */
  g_clear_object (&c->inv);
  g_free (c->portal_url);
  if (c->token != NULL)
    {
      explicit_bzero (c->token, strlen (c->token));
      g_free (c->token);
    }
  g_free (c);
}

static void
run_method (Call *c)
{
  EmberDbusApi *api = c->api;
  const EmberDbusApiMethods *m = &api->methods;
  g_autoptr (GError) error = NULL;
  gboolean ok = FALSE, have = FALSE;

  switch (c->method)
    {
    case METHOD_SIGN_IN:
      if ((have = m->sign_in != NULL))
        ok = m->sign_in (api->user_data, c->portal_url, c->token, &error);
      break;
    case METHOD_SIGN_OUT:
      if ((have = m->sign_out != NULL))
        ok = m->sign_out (api->user_data, &error);
      break;
    case METHOD_CONNECT:
      if ((have = m->connect != NULL))
        ok = m->connect (api->user_data, &error);
      break;
    case METHOD_DISCONNECT:
      if ((have = m->disconnect != NULL))
        ok = m->disconnect (api->user_data, &error);
      break;
    case METHOD_SET_INTERNET:
      if ((have = m->set_internet != NULL))
        ok = m->set_internet (api->user_data, c->enabled, &error);
      break;
    case METHOD_RESET:
      if ((have = m->reset != NULL))
        ok = m->reset (api->user_data, &error);
      break;
    }
  if (!have)
    g_set_error (&error, EMBER_DBUS_ERROR, EMBER_DBUS_ERROR_WRONG_MODE,
                 "emberd runs as %s here: the method has no meaning",
                 ember_dbus_ember1_get_mode (api->skeleton));
  if (!ok || error != NULL)
    {
      if (error == NULL)
        g_set_error_literal (&error, EMBER_DBUS_ERROR, EMBER_DBUS_ERROR_FAILED, "failed");
      /* return_* takes the invocation's reference. */
      g_dbus_method_invocation_return_gerror (g_steal_pointer (&c->inv), error);
      return;
    }
  g_dbus_method_invocation_return_value (g_steal_pointer (&c->inv), NULL);
}

static void check_next (Call *c);

static void
deny (Call *c, const char *action, const char *why)
{
  g_info ("%s refused to %s: %s", g_dbus_method_invocation_get_method_name (c->inv),
          g_dbus_method_invocation_get_sender (c->inv), why);
  g_dbus_method_invocation_return_error (g_steal_pointer (&c->inv), G_DBUS_ERROR,
                                         G_DBUS_ERROR_ACCESS_DENIED,
                                         "not authorized for %s: %s", action, why);
}

static void
on_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *c = user_data;
  const char *action = c->actions[c->next];
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthorizationResult) result
      = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), res, &error);

  if (g_cancellable_is_cancelled (c->cancel))
    {
      g_dbus_method_invocation_return_error (g_steal_pointer (&c->inv), G_DBUS_ERROR,
                                             G_DBUS_ERROR_FAILED, "emberd is stopping");
      call_free (c);
      return;
    }
  if (result == NULL)
    {
      g_autofree char *why = g_strdup_printf ("polkit could not check it (%s)", error->message);
      deny (c, action, why);
      call_free (c);
      return;
    }
  if (!polkit_authorization_result_get_is_authorized (result))
    {
      deny (c, action,
            polkit_authorization_result_get_is_challenge (result)
                ? "authentication is required (call with interactive authorization allowed)"
                : "polkit said no");
      call_free (c);
      return;
    }
  c->next++;
  check_next (c);
}

static void
check_next (Call *c)
{
  EmberDbusApi *api = c->api;
  g_autoptr (PolkitSubject) subject = NULL;
  PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;

  if (c->next == c->n_actions)
    {
      run_method (c);
      call_free (c);
      return;
    }
  subject = polkit_system_bus_name_new (g_dbus_method_invocation_get_sender (c->inv));
  if (g_dbus_message_get_flags (g_dbus_method_invocation_get_message (c->inv))
      & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
    flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
  polkit_authority_check_authorization (api->authority, subject, c->actions[c->next], NULL, flags,
                                        c->cancel, on_checked, c);
}

static void
on_authority (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *c = user_data;
  g_autoptr (GError) error = NULL;
  PolkitAuthority *authority = polkit_authority_get_finish (res, &error);

  (void) source;
  if (g_cancellable_is_cancelled (c->cancel))
    {
      g_clear_object (&authority);
      g_dbus_method_invocation_return_error (g_steal_pointer (&c->inv), G_DBUS_ERROR,
                                             G_DBUS_ERROR_FAILED, "emberd is stopping");
      call_free (c);
      return;
    }
  if (authority == NULL)
    {
      g_autofree char *why = g_strdup_printf ("no polkit authority (%s)", error->message);
      deny (c, c->actions[0], why);
      call_free (c);
      return;
    }
  if (c->api->authority == NULL)
    c->api->authority = authority;
  else
    g_object_unref (authority);
  check_next (c);
}

static Call *
call_new (EmberDbusApi *api, GDBusMethodInvocation *inv, Method method, const char *action)
{
  Call *c = g_new0 (Call, 1);

  c->api = api;
  c->cancel = g_object_ref (api->cancel);
  /* The skeleton hands the handler its reference; answering consumes it. */
  c->inv = inv;
  c->method = method;
  c->actions[c->n_actions++] = action;
  return c;
}

static gboolean
has_handler (const EmberDbusApiMethods *m, Method method)
{
  switch (method)
    {
    case METHOD_SIGN_IN:
      return m->sign_in != NULL;
    case METHOD_SIGN_OUT:
      return m->sign_out != NULL;
    case METHOD_CONNECT:
      return m->connect != NULL;
    case METHOD_DISCONNECT:
      return m->disconnect != NULL;
    case METHOD_SET_INTERNET:
      return m->set_internet != NULL;
    case METHOD_RESET:
      return m->reset != NULL;
    }
  return FALSE;
}

static void
go (Call *c)
{
  /* A gateway says so at once: asking polkit (and maybe a person) first
   * would be for nothing, and Mode is public anyway. */
  if (!has_handler (&c->api->methods, c->method))
    {
      run_method (c);
      call_free (c);
      return;
    }
  if (c->api->authority == NULL)
    polkit_authority_get_async (c->cancel, on_authority, c);
  else
    check_next (c);
}

/* ---- Method handlers --------------------------------------------------------- */

static gboolean
token_ok (const char *token)
{
  if (*token == '\0')
    return FALSE;
  for (const char *p = token; *p; p++)
    if ((guchar) *p <= ' ' || *p == 0x7f)
      return FALSE;
  return TRUE;
}

static gboolean
on_sign_in (EmberDBusEmber1 *skel, GDBusMethodInvocation *inv, const char *portal_url,
            const char *token, gpointer user_data)
{
  EmberDbusApi *api = user_data;
  const char *configured = ember_dbus_ember1_get_portal_url (skel);
  const char *url = *portal_url ? portal_url : configured;
  Call *c;

  if (url == NULL || *url == '\0')
    {
      g_dbus_method_invocation_return_error (inv, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                             "portal_url: empty, and no portal is configured");
      return TRUE;
    }
  if (!g_str_has_prefix (url, "ws://") && !g_str_has_prefix (url, "wss://"))
    {
      g_dbus_method_invocation_return_error (inv, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                                             "portal_url: expected a ws:// or wss:// URL");
      return TRUE;
    }
  if (!token_ok (token))
    {
      /* Never the token itself in a message. */
      g_dbus_method_invocation_return_error (
          inv, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
          "token: expected a non-empty token without spaces or control characters");
      return TRUE;
    }
  c = call_new (api, inv, METHOD_SIGN_IN, EMBER_DBUS_ACTION_SIGN_IN);
  if (g_strcmp0 (url, configured) != 0)
    c->actions[c->n_actions++] = EMBER_DBUS_ACTION_SETTINGS;
  c->portal_url = g_strdup (url);
  c->token = g_strdup (token);
  go (c);
  return TRUE;
}

static gboolean
on_sign_out (EmberDBusEmber1 *skel, GDBusMethodInvocation *inv, gpointer user_data)
{
  (void) skel;
  go (call_new (user_data, inv, METHOD_SIGN_OUT, EMBER_DBUS_ACTION_SIGN_OUT));
  return TRUE;
}

static gboolean
on_connect (EmberDBusEmber1 *skel, GDBusMethodInvocation *inv, gpointer user_data)
{
  (void) skel;
  go (call_new (user_data, inv, METHOD_CONNECT, EMBER_DBUS_ACTION_CONNECT));
  return TRUE;
}

static gboolean
on_disconnect (EmberDBusEmber1 *skel, GDBusMethodInvocation *inv, gpointer user_data)
{
  (void) skel;
  go (call_new (user_data, inv, METHOD_DISCONNECT, EMBER_DBUS_ACTION_DISCONNECT));
  return TRUE;
}

static gboolean
on_set_internet (EmberDBusEmber1 *skel, GDBusMethodInvocation *inv, gboolean enabled,
                 gpointer user_data)
{
  Call *c = call_new (user_data, inv, METHOD_SET_INTERNET, EMBER_DBUS_ACTION_INTERNET);
  (void) skel;
  c->enabled = enabled;
  go (c);
  return TRUE;
}

static gboolean
on_reset (EmberDBusEmber1 *skel, GDBusMethodInvocation *inv, gpointer user_data)
{
  (void) skel;
  go (call_new (user_data, inv, METHOD_RESET, EMBER_DBUS_ACTION_CONNECT));
  return TRUE;
}

/* ---- The bus ------------------------------------------------------------------ */

static void
on_name_acquired (GDBusConnection *bus, const char *name, gpointer user_data)
{
  EmberDbusApi *api = user_data;
  (void) bus;
  api->serving = TRUE;
  g_info ("serving %s on the system bus", name);
}

static void
on_name_lost (GDBusConnection *bus, const char *name, gpointer user_data)
{
  EmberDbusApi *api = user_data;
  (void) bus;
  if (api->serving)
    g_warning ("lost the bus name %s: the D-Bus API is off", name);
  else
    g_warning ("the system bus did not give emberd the name %s (another emberd, or no policy "
               "file allowing it?): the D-Bus API is off; emberd --status still works",
               name);
  api->serving = FALSE;
}

/* user_data: a reference to api->cancel, whose "api" is NULL once the
 * API is freed. */
static void
on_bus (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GCancellable) cancel = user_data;
  g_autoptr (GError) error = NULL;
  GDBusConnection *bus = g_bus_get_finish (res, &error);
  EmberDbusApi *api = g_object_get_data (G_OBJECT (cancel), "api");

  (void) source;
  if (api == NULL)
    {
      g_clear_object (&bus);
      return;
    }
  if (bus == NULL)
    {
      /* Said once: nothing retries. */
      g_message ("no system bus (%s): the D-Bus API is off; emberd --status still works",
                 error->message);
      return;
    }
  /* dbus-daemon restarting is no reason for emberd to stop. */
  g_dbus_connection_set_exit_on_close (bus, FALSE);
  api->bus = bus;
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (api->skeleton), bus,
                                         EMBER_DBUS_PATH, &error))
    {
      g_warning ("cannot export %s: %s; the D-Bus API is off", EMBER_DBUS_PATH, error->message);
      return;
    }
  api->owner_id = g_bus_own_name_on_connection (bus, EMBER_DBUS_NAME,
                                                G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                                on_name_acquired, on_name_lost, api, NULL);
}

EmberDbusApi *
ember_dbus_api_new (const char *bus, const char *mode, const char *version,
                    const EmberDbusApiMethods *methods, gpointer user_data)
{
  EmberDbusApi *api = g_new0 (EmberDbusApi, 1);

  /* Register the error names before the first reply needs them. */
  (void) EMBER_DBUS_ERROR;
  api->methods = *methods;
  api->user_data = user_data;
  api->cancel = g_cancellable_new ();
  api->skeleton = ember_dbus_ember1_skeleton_new ();
  ember_dbus_ember1_set_version (api->skeleton, version);
  ember_dbus_ember1_set_mode (api->skeleton, mode);
  ember_dbus_ember1_set_state (api->skeleton, "connecting");
  ember_dbus_ember1_set_portal_url (api->skeleton, "");
  ember_dbus_ember1_set_identity (api->skeleton, g_variant_new ("a{sv}", NULL));
  ember_dbus_ember1_set_interface_name (api->skeleton, "");
  ember_dbus_ember1_set_tunnel_addresses (api->skeleton, NULL);
  ember_dbus_ember1_set_resources (api->skeleton, g_variant_new ("aa{sv}", NULL));
  ember_dbus_ember1_set_counters (api->skeleton, g_variant_new ("a{st}", NULL));
  ember_dbus_ember1_set_dns (api->skeleton, g_variant_new ("a{sv}", NULL));
  ember_dbus_ember1_set_clients (api->skeleton, g_variant_new ("aa{sv}", NULL));
  g_signal_connect (api->skeleton, "handle-sign-in", G_CALLBACK (on_sign_in), api);
  g_signal_connect (api->skeleton, "handle-sign-out", G_CALLBACK (on_sign_out), api);
  g_signal_connect (api->skeleton, "handle-connect", G_CALLBACK (on_connect), api);
  g_signal_connect (api->skeleton, "handle-disconnect", G_CALLBACK (on_disconnect), api);
  g_signal_connect (api->skeleton, "handle-set-internet-resource", G_CALLBACK (on_set_internet),
                    api);
  g_signal_connect (api->skeleton, "handle-reset", G_CALLBACK (on_reset), api);

  if (bus != NULL && g_str_equal (bus, "none"))
    g_info ("[daemon] bus=none: no D-Bus API");
  else
    {
      g_object_set_data (G_OBJECT (api->cancel), "api", api);
      g_bus_get (G_BUS_TYPE_SYSTEM, api->cancel, on_bus, g_object_ref (api->cancel));
    }
  return api;
}

/* ---- Properties ------------------------------------------------------------------ */

static const char *
resource_status (const EmberStatus *st, const EmberStatusResource *r, const char **relay)
{
  *relay = NULL;
  if (g_str_equal (r->status, "connected"))
    {
      for (guint i = 0; i < st->connections->len; i++)
        {
          const EmberStatusConnection *c = st->connections->pdata[i];
          if (!g_str_equal (c->peer_id, r->gateway_id))
            continue;
          if (g_str_equal (c->path, "relayed"))
            {
              *relay = *c->relay ? c->relay : NULL;
              return "connected-relayed";
            }
          return "connected-direct";
        }
      return "connected-direct";
    }
  if (g_str_equal (r->status, "connecting"))
    return "connecting";
  if (g_str_equal (r->status, "denied"))
    return "forbidden";
  if (g_str_equal (r->status, "gateway_offline"))
    return "gateway-offline";
  if (g_str_equal (r->status, "serving"))
    return "serving";
  return "not-connected";
}

static GVariant *
resources_variant (const EmberStatus *st)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < st->resources->len; i++)
    {
      const EmberStatusResource *r = st->resources->pdata[i];
      const char *relay = NULL;
      const char *status = resource_status (st, r, &relay);

      g_variant_builder_open (&b, G_VARIANT_TYPE ("a{sv}"));
      g_variant_builder_add (&b, "{sv}", "id", g_variant_new_string (r->id));
      g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (r->name));
      g_variant_builder_add (&b, "{sv}", "type", g_variant_new_string (r->type));
      g_variant_builder_add (&b, "{sv}", "address", g_variant_new_string (r->address));
      g_variant_builder_add (&b, "{sv}", "site", g_variant_new_string (r->site));
      g_variant_builder_add (&b, "{sv}", "status", g_variant_new_string (status));
      if (relay != NULL)
        g_variant_builder_add (&b, "{sv}", "relay", g_variant_new_string (relay));
      if (r->ip_stack != NULL && *r->ip_stack != '\0')
        g_variant_builder_add (&b, "{sv}", "ip_stack", g_variant_new_string (r->ip_stack));
      if (g_str_equal (r->type, "internet"))
        g_variant_builder_add (&b, "{sv}", "enabled", g_variant_new_boolean (st->internet));
      g_variant_builder_close (&b);
    }
  return g_variant_builder_end (&b);
}

static GVariant *
dns_variant (const EmberStatus *st)
{
  const EmberStatusDns *dns = &st->dns;
  GVariantBuilder b, servers;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  if (!*dns->system && !*dns->plugin && dns->servers->len == 0)
    return g_variant_builder_end (&b);
  g_variant_builder_init (&servers, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < dns->servers->len; i++)
    {
      const EmberStatusDnsServer *v = dns->servers->pdata[i];

      g_variant_builder_open (&servers, G_VARIANT_TYPE ("a{sv}"));
      g_variant_builder_add (&servers, "{sv}", "ipv4", g_variant_new_string (v->ipv4));
      g_variant_builder_add (&servers, "{sv}", "ipv6", g_variant_new_string (v->ipv6));
      g_variant_builder_add (&servers, "{sv}", "upstream", g_variant_new_string (v->upstream));
      g_variant_builder_close (&servers);
    }
  g_variant_builder_add (&b, "{sv}", "system", g_variant_new_string (dns->system));
  g_variant_builder_add (&b, "{sv}", "applied", g_variant_new_boolean (dns->applied));
  g_variant_builder_add (&b, "{sv}", "plugin", g_variant_new_string (dns->plugin));
  g_variant_builder_add (&b, "{sv}", "servers", g_variant_builder_end (&servers));
  g_variant_builder_add (&b, "{sv}", "proxy-names", g_variant_new_uint64 (dns->proxy_names));
  return g_variant_builder_end (&b);
}

static GVariant *
clients_variant (const EmberStatus *st)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < st->clients->len; i++)
    {
      const EmberStatusClient *c = st->clients->pdata[i];
      GVariantBuilder ids;

      g_variant_builder_init (&ids, G_VARIANT_TYPE ("as"));
      for (guint k = 0; k < c->resources->len; k++)
        g_variant_builder_add (&ids, "s", (const char *) c->resources->pdata[k]);
      g_variant_builder_open (&b, G_VARIANT_TYPE ("a{sv}"));
      g_variant_builder_add (&b, "{sv}", "id", g_variant_new_string (c->id));
      g_variant_builder_add (&b, "{sv}", "authorizations",
                             g_variant_new_uint64 (c->authorizations));
      g_variant_builder_add (&b, "{sv}", "resources", g_variant_builder_end (&ids));
      g_variant_builder_close (&b);
    }
  return g_variant_builder_end (&b);
}

static GVariant *
counters_variant (const EmberStatus *st)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{st}"));
  g_variant_builder_add (&b, "{st}", "rx-bytes", st->counters.rx_bytes);
  g_variant_builder_add (&b, "{st}", "tx-bytes", st->counters.tx_bytes);
  g_variant_builder_add (&b, "{st}", "rx-packets", st->counters.rx_packets);
  g_variant_builder_add (&b, "{st}", "tx-packets", st->counters.tx_packets);
  g_variant_builder_add (&b, "{st}", "dropped-packets", st->counters.dropped_packets);
  g_variant_builder_add (&b, "{st}", "handshakes", st->counters.handshakes);
  return g_variant_builder_end (&b);
}

void
ember_dbus_api_update (EmberDbusApi *api, const EmberStatus *st)
{
  EmberDBusEmber1 *s = api->skeleton;
  GVariantBuilder ident;
  g_autoptr (GPtrArray) addrs = g_ptr_array_new_with_free_func (g_free);
  gint64 now = g_get_monotonic_time ();
  gboolean signed_out = g_str_equal (st->state, "signed-out");

  g_variant_builder_init (&ident, G_VARIANT_TYPE ("a{sv}"));
  if (!signed_out && *st->public_key)
    g_variant_builder_add (&ident, "{sv}", "public-key", g_variant_new_string (st->public_key));
  if (!signed_out && *st->device_name)
    {
      g_variant_builder_add (&ident, "{sv}", "id", g_variant_new_string (st->device_id));
      g_variant_builder_add (&ident, "{sv}", "name", g_variant_new_string (st->device_name));
    }
  if (st->cidrs != NULL)
    for (guint i = 0; i < st->cidrs->len; i++)
      g_ptr_array_add (addrs, g_strdup (st->cidrs->pdata[i]));
  else
    {
      if (*st->ipv4)
        g_ptr_array_add (addrs, g_strdup_printf ("%s/32", st->ipv4));
      if (*st->ipv6)
        g_ptr_array_add (addrs, g_strdup_printf ("%s/128", st->ipv6));
    }
  g_ptr_array_add (addrs, NULL);

  /* The skeleton compares each value with the one it has and queues
   * PropertiesChanged only for those that differ. */
  ember_dbus_ember1_set_state (s, st->state);
  ember_dbus_ember1_set_portal_url (s, st->portal_url);
  ember_dbus_ember1_set_identity (s, g_variant_builder_end (&ident));
  ember_dbus_ember1_set_interface_name (s, st->ifname);
  ember_dbus_ember1_set_tunnel_addresses (s, (const char *const *) addrs->pdata);
  ember_dbus_ember1_set_resources (s, resources_variant (st));
  ember_dbus_ember1_set_internet_resource (s, st->internet);
  ember_dbus_ember1_set_dns (s, dns_variant (st));
  ember_dbus_ember1_set_clients (s, clients_variant (st));
  if (api->counters_at == 0 || now - api->counters_at >= COUNTERS_PERIOD_US)
    {
      api->counters_at = now;
      ember_dbus_ember1_set_counters (s, counters_variant (st));
    }
}

void
ember_dbus_api_emit_error (EmberDbusApi *api, EmberDbusError code, const char *message)
{
  g_warning ("%s", message);
  ember_dbus_ember1_emit_error (api->skeleton, ember_dbus_error_name (code), message);
}

gboolean
ember_dbus_api_is_serving (const EmberDbusApi *api)
{
  return api->serving;
}

void
ember_dbus_api_free (EmberDbusApi *api)
{
  if (api == NULL)
    return;
  /* Pending polkit checks answer "stopping" and never reach the daemon. */
  g_cancellable_cancel (api->cancel);
  g_object_set_data (G_OBJECT (api->cancel), "api", NULL);
  g_signal_handlers_disconnect_by_data (api->skeleton, api);
  if (api->owner_id != 0)
    g_bus_unown_name (api->owner_id);
  if (api->bus != NULL)
    {
      g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (api->skeleton));
      g_dbus_connection_flush_sync (api->bus, NULL, NULL);
    }
  g_clear_object (&api->bus);
  g_clear_object (&api->skeleton);
  g_clear_object (&api->authority);
  g_clear_object (&api->cancel);
  g_free (api);
}
