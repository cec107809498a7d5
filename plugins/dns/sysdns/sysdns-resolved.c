/* sysdns-resolved — the `resolved` backend: systemd-resolved's D-Bus API
 * (org.freedesktop.resolve1.Manager, see org.freedesktop.resolve1(5)) on
 * the TUN link. resolved forgets a link's settings when it restarts, so
 * the bus name is watched and the settings are sent again to its new
 * owner.
 */
#include <sys/socket.h>

#include "sysdns-private.h"

#define RESOLVE1_NAME "org.freedesktop.resolve1"
#define RESOLVE1_PATH "/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER "org.freedesktop.resolve1.Manager"
#define CALL_TIMEOUT_MS 5000

gboolean
sysdns_resolved_present (GDBusConnection *bus)
{
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
    bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
    "NameHasOwner", g_variant_new ("(s)", RESOLVE1_NAME), G_VARIANT_TYPE ("(b)"),
    G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
  gboolean has = FALSE;
  if (r != NULL)
    g_variant_get (r, "(b)", &has);
  return has;
}

static gboolean
call (EmberSysdns *s, const char *method, GVariant *args, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
    s->bus, RESOLVE1_NAME, RESOLVE1_PATH, RESOLVE1_MANAGER, method, args, NULL,
    G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, &local);
  if (r == NULL)
    {
      g_dbus_error_strip_remote_error (local);
      g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED,
                   "system DNS control (resolved): %s on %s (link %d): %s", method, s->ifname,
                   s->ifindex, local->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
sysdns_resolved_apply (EmberSysdns *s, GError **error)
{
  const EmberSysdnsConfig *c = &s->config;
  GVariantBuilder dns;
  g_variant_builder_init (&dns, G_VARIANT_TYPE ("a(iay)"));
  for (guint i = 0; i < c->n_servers; i++)
    {
      gboolean v4 = c->servers[i].family == EMBER_ADDR_IPV4;
      g_variant_builder_add (&dns, "(i@ay)", v4 ? AF_INET : AF_INET6,
                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, c->servers[i].addr,
                                                        v4 ? 4 : 16, 1));
    }
  GVariantBuilder domains;
  g_variant_builder_init (&domains, G_VARIANT_TYPE ("a(sb)"));
  for (guint i = 0; c->search != NULL && c->search[i] != NULL; i++)
    g_variant_builder_add (&domains, "(sb)", c->search[i], FALSE);
  for (guint i = 0; c->routing != NULL && c->routing[i] != NULL; i++)
    g_variant_builder_add (&domains, "(sb)", c->routing[i], TRUE);
  /* "~.": the root as a routing-only domain, every name may come here. */
  if (c->default_route)
    g_variant_builder_add (&domains, "(sb)", ".", TRUE);

  /* Both built before any call: a failed first call must not leave the
   * second builder unconsumed. */
  g_autoptr (GVariant) dns_args
    = g_variant_ref_sink (g_variant_new ("(ia(iay))", s->ifindex, &dns));
  g_autoptr (GVariant) domain_args
    = g_variant_ref_sink (g_variant_new ("(ia(sb))", s->ifindex, &domains));
  return call (s, "SetLinkDNS", dns_args, error)
         && call (s, "SetLinkDomains", domain_args, error)
         && call (s, "SetLinkDefaultRoute", g_variant_new ("(ib)", s->ifindex, c->default_route),
                  error);
}

gboolean
sysdns_resolved_revert (EmberSysdns *s, GError **error)
{
  return call (s, "RevertLink", g_variant_new ("(i)", s->ifindex), error);
}

static void
appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  (void) bus;
  (void) name;
  EmberSysdns *s = data;
  gboolean restarted = s->owner != NULL && !g_str_equal (s->owner, owner);
  g_free (s->owner);
  s->owner = g_strdup (owner);
  if (!restarted || !s->applied)
    return;
  g_autoptr (GError) error = NULL;
  if (sysdns_resolved_apply (s, &error))
    g_message ("system DNS control: systemd-resolved restarted, DNS of %s set again", s->ifname);
  else
    g_warning ("system DNS control: systemd-resolved restarted: %s", error->message);
}

static void
vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  (void) bus;
  (void) name;
  EmberSysdns *s = data;
  /* Keep the old owner: a new one, whenever it comes, is a restart. */
  if (s->owner == NULL)
    s->owner = g_strdup ("");
}

void
sysdns_resolved_watch (EmberSysdns *s)
{
  s->watch_id = g_bus_watch_name_on_connection (s->bus, RESOLVE1_NAME,
                                                G_BUS_NAME_WATCHER_FLAGS_NONE, appeared,
                                                vanished, s, NULL);
}
