/* sysdns — modes, auto detection, crash recovery and dispatch to the
 * backends. See sysdns.h.
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>

#include "net/cidr.h"
#include "sysdns-private.h"

G_DEFINE_QUARK (ember-sysdns-error-quark, ember_sysdns_error)

static const char *const mode_names[] = {
  [EMBER_SYSDNS_AUTO] = "auto", [EMBER_SYSDNS_RESOLVED] = "resolved",
  [EMBER_SYSDNS_RESOLVCONF] = "resolvconf", [EMBER_SYSDNS_FILE] = "file",
  [EMBER_SYSDNS_NONE] = "none",
};

const char *
ember_sysdns_mode_name (EmberSysdnsMode mode)
{
  return (guint) mode < G_N_ELEMENTS (mode_names) ? mode_names[mode] : "invalid";
}

gboolean
ember_sysdns_mode_from_name (const char *name, EmberSysdnsMode *out, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (mode_names); i++)
    if (name != NULL && g_str_equal (name, mode_names[i]))
      {
        *out = (EmberSysdnsMode) i;
        return TRUE;
      }
  g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_CONFIG,
               "system DNS control \"%s\": expected auto, resolved, resolvconf, file or none",
               name != NULL ? name : "");
  return FALSE;
}

char *
ember_sysdns_format_resolv_conf (const EmberSysdnsConfig *c, const char *ifname)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "# Written by Ember for %s; the previous file comes back when it "
                          "stops.\n", ifname != NULL ? ifname : "its tunnel");
  for (guint i = 0; i < c->n_servers; i++)
    {
      char buf[EMBER_ADDR_STRLEN];
      g_string_append_printf (s, "nameserver %s\n", ember_addr_format (&c->servers[i], buf));
    }
  if (c->search != NULL && c->search[0] != NULL)
    {
      g_string_append (s, "search");
      for (guint i = 0; c->search[i] != NULL; i++)
        g_string_append_printf (s, " %s", c->search[i]);
      g_string_append_c (s, '\n');
    }
  return g_string_free (s, FALSE);
}

EmberSysdns *
ember_sysdns_new (const EmberSysdnsOptions *o, GError **error)
{
  if (o->state_dir == NULL || !g_path_is_absolute (o->state_dir))
    {
      g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_CONFIG,
                   "system DNS control: the state directory must be an absolute path");
      return NULL;
    }
  g_autoptr (EmberSysdns) s = g_new0 (EmberSysdns, 1);
  s->mode = EMBER_SYSDNS_NONE;  /* nothing to revert if we fail below */
  s->ifname = g_strdup (o->ifname);
  s->ifindex = o->ifindex;
  if (s->ifindex == 0 && o->ifname != NULL)
    s->ifindex = (int) if_nametoindex (o->ifname);
  s->state_dir = g_strdup (o->state_dir);
  s->resolv_conf = g_strdup (o->resolv_conf != NULL ? o->resolv_conf : "/etc/resolv.conf");
  s->resolvconf_program = g_strdup (o->resolvconf_program != NULL ? o->resolvconf_program
                                                                  : "resolvconf");
  if (g_mkdir_with_parents (s->state_dir, 0700) != 0)
    {
      g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_FAILED,
                   "system DNS control: cannot create the state directory %s: %s", s->state_dir,
                   g_strerror (errno));
      return NULL;
    }

  /* A crashed run's changes, whichever mode it used. */
  if (!sysdns_file_recover (s, error) || !sysdns_resolvconf_recover (s, error))
    return NULL;

  EmberSysdnsMode mode = o->mode;
  if (mode == EMBER_SYSDNS_RESOLVED || mode == EMBER_SYSDNS_AUTO)
    {
      if (o->bus != NULL)
        s->bus = g_object_ref (o->bus);
      else
        s->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, mode == EMBER_SYSDNS_AUTO ? NULL : error);
      if (s->bus == NULL && mode == EMBER_SYSDNS_RESOLVED)
        return NULL;
    }
  if (mode == EMBER_SYSDNS_AUTO)
    {
      if (s->bus != NULL && sysdns_resolved_present (s->bus))
        mode = EMBER_SYSDNS_RESOLVED;
      else if (sysdns_resolvconf_found (s->resolvconf_program))
        mode = EMBER_SYSDNS_RESOLVCONF;
      else
        mode = EMBER_SYSDNS_FILE;
    }
  if ((mode == EMBER_SYSDNS_RESOLVED || mode == EMBER_SYSDNS_RESOLVCONF) && s->ifname == NULL)
    {
      g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_CONFIG,
                   "system DNS control (%s): needs the interface name", ember_sysdns_mode_name (mode));
      return NULL;
    }
  if (mode == EMBER_SYSDNS_RESOLVED && s->ifindex <= 0)
    {
      g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_CONFIG,
                   "system DNS control (resolved): no interface called %s", s->ifname);
      return NULL;
    }
  s->mode = mode;
  if (mode == EMBER_SYSDNS_RESOLVED)
    sysdns_resolved_watch (s);
  return g_steal_pointer (&s);
}

EmberSysdnsMode
ember_sysdns_get_mode (EmberSysdns *s)
{
  return s->mode;
}

static void
forget_config (EmberSysdns *s)
{
  g_clear_pointer (&s->servers, g_free);
  g_clear_pointer (&s->search, g_strfreev);
  g_clear_pointer (&s->routing, g_strfreev);
  memset (&s->config, 0, sizeof s->config);
}

/* A copy of `c` that lives as long as `s` (resolved re-applies it). */
static void
keep_config (EmberSysdns *s, const EmberSysdnsConfig *c)
{
  forget_config (s);
  s->servers = g_memdup2 (c->servers, sizeof *c->servers * MAX (c->n_servers, 1));
  s->search = g_strdupv ((char **) c->search);
  s->routing = g_strdupv ((char **) c->routing);
  s->config = (EmberSysdnsConfig) {
    .servers = s->servers, .n_servers = c->n_servers,
    .search = (const char *const *) s->search, .routing = (const char *const *) s->routing,
    .default_route = c->default_route,
  };
}

gboolean
ember_sysdns_apply (EmberSysdns *s, const EmberSysdnsConfig *c, GError **error)
{
  for (guint i = 0; i < c->n_servers; i++)
    if (c->servers[i].family != EMBER_ADDR_IPV4 && c->servers[i].family != EMBER_ADDR_IPV6)
      {
        g_set_error (error, EMBER_SYSDNS_ERROR, EMBER_SYSDNS_ERROR_CONFIG,
                     "system DNS control: server %u is not an IPv4 or IPv6 address", i);
        return FALSE;
      }
  gboolean ok = TRUE;
  switch (s->mode)
    {
    case EMBER_SYSDNS_RESOLVED:
      keep_config (s, c);
      ok = sysdns_resolved_apply (s, error);
      break;
    case EMBER_SYSDNS_RESOLVCONF:
      ok = sysdns_resolvconf_apply (s, c, error);
      break;
    case EMBER_SYSDNS_FILE:
      ok = sysdns_file_apply (s, c, error);
      break;
    default:
      break;
    }
  s->applied |= ok;
  return ok;
}

gboolean
ember_sysdns_revert (EmberSysdns *s, GError **error)
{
  if (!s->applied)
    return TRUE;
  gboolean ok = TRUE;
  switch (s->mode)
    {
    case EMBER_SYSDNS_RESOLVED:
      ok = sysdns_resolved_revert (s, error);
      forget_config (s);
      break;
    case EMBER_SYSDNS_RESOLVCONF:
      ok = sysdns_resolvconf_revert (s, error);
      break;
    case EMBER_SYSDNS_FILE:
      ok = sysdns_file_revert (s, error);
      break;
    default:
      break;
    }
  s->applied = FALSE;
  return ok;
}

void
ember_sysdns_free (EmberSysdns *s)
{
  if (s == NULL)
    return;
  g_autoptr (GError) error = NULL;
  if (!ember_sysdns_revert (s, &error))
    g_warning ("system DNS control (%s): %s", ember_sysdns_mode_name (s->mode), error->message);
  if (s->watch_id != 0)
    g_bus_unwatch_name (s->watch_id);
  forget_config (s);
  g_free (s->owner);
  g_clear_object (&s->bus);
  g_free (s->ifname);
  g_free (s->state_dir);
  g_free (s->resolv_conf);
  g_free (s->resolvconf_program);
  g_free (s);
}
