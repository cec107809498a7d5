/* static-routes — wg-quick's routing decisions (see static-routes.h). */
#define G_LOG_DOMAIN "ember-static"

#include "static-routes.h"

#include <errno.h>
#include <string.h>

/* wg-quick's default fwmark and table for a full tunnel (0xca6c). */
#define DEFAULT_FWMARK 51820u

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  /* g_ptr_array_sort hands pointers to the elements. */
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
add_dir (GPtrArray *files, const char *dir)
{
  g_autofree char *main_file = g_build_filename (dir, "rt_tables", NULL);
  g_autofree char *d_path = g_build_filename (dir, "rt_tables.d", NULL);
  g_autoptr (GDir) d = g_dir_open (d_path, 0, NULL);
  g_autoptr (GPtrArray) confs = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (g_file_test (main_file, G_FILE_TEST_IS_REGULAR))
    g_ptr_array_add (files, g_steal_pointer (&main_file));
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".conf"))
      g_ptr_array_add (confs, g_build_filename (d_path, name, NULL));
  g_ptr_array_sort (confs, compare_paths);
  for (guint i = 0; i < confs->len; i++)
    g_ptr_array_add (files, g_strdup (g_ptr_array_index (confs, i)));
}

GPtrArray *
ember_static_routes_table_files (void)
{
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);

  add_dir (files, "/etc/iproute2");
  add_dir (files, "/usr/share/iproute2");
  return files;
}

static gboolean
parse_id (const char *text, guint32 *out)
{
  guint base = 10;
  guint64 n;
  char *end;

  if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    {
      base = 16;
      text += 2;
    }
  if (!g_ascii_isxdigit (*text))
    return FALSE;
  errno = 0;
  n = g_ascii_strtoull (text, &end, base);
  if (errno != 0 || *end != '\0' || n > G_MAXUINT32)
    return FALSE;
  *out = (guint32) n;
  return TRUE;
}

gboolean
ember_static_routes_table_lookup (GPtrArray *files, const char *name, guint32 *id,
                                  GError **error)
{
  static const struct {
    const char *name;
    guint32 id;
  } builtin[] = { { "default", 253 }, { "main", 254 }, { "local", 255 } };
  g_autoptr (GString) read = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (builtin); i++)
    if (strcmp (name, builtin[i].name) == 0)
      {
        *id = builtin[i].id;
        return TRUE;
      }
  for (guint f = 0; f < files->len; f++)
    {
      const char *path = g_ptr_array_index (files, f);
      g_autofree char *text = NULL;
      g_auto (GStrv) lines = NULL;

      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;
      g_string_append_printf (read, "%s%s", read->len ? ", " : "", path);
      lines = g_strsplit (text, "\n", -1);
      for (guint l = 0; lines[l] != NULL; l++)
        {
          char *hash = strchr (lines[l], '#');
          g_auto (GStrv) words = NULL;
          guint32 n;

          if (hash != NULL)
            *hash = '\0';
          words = g_strsplit_set (g_strstrip (lines[l]), " \t", -1);
          /* "NUMBER NAME", blanks between: the last word is the name. */
          if (words[0] == NULL || words[1] == NULL)
            continue;
          if (strcmp (words[g_strv_length (words) - 1], name) == 0 && parse_id (words[0], &n))
            {
              *id = n;
              return TRUE;
            }
        }
    }
  g_set_error (error, EMBER_WGCONF_ERROR, 0, "no routing table named \"%s\" (read: %s)", name,
               read->len ? read->str : "no rt_tables file found");
  return FALSE;
}

gboolean
ember_static_routes_plan (const EmberWgConf *conf, GPtrArray *files, EmberStaticRoutes *out,
                          GError **error)
{
  memset (out, 0, sizeof *out);
  out->fwmark = conf->fwmark;
  switch (conf->table)
    {
    case EMBER_WGCONF_TABLE_OFF:
      return TRUE;
    case EMBER_WGCONF_TABLE_ID:
      out->routes = TRUE;
      out->table = conf->table_id;
      return TRUE;
    case EMBER_WGCONF_TABLE_NAME:
      {
        g_autoptr (GPtrArray) own = files == NULL ? ember_static_routes_table_files () : NULL;
        g_autoptr (GError) local = NULL;

        if (!ember_static_routes_table_lookup (files != NULL ? files : own, conf->table_name,
                                               &out->table, &local))
          {
            g_set_error (error, EMBER_WGCONF_ERROR, 0, "%s:%u: Table: %s", conf->path,
                         conf->table_line, local->message);
            return FALSE;
          }
        out->routes = TRUE;
        return TRUE;
      }
    case EMBER_WGCONF_TABLE_AUTO:
      break;
    }
  out->routes = TRUE;
  out->table = EMBER_STATIC_ROUTES_MAIN;
  out->full_tunnel[0] = ember_wgconf_has_default_route (conf, 4);
  out->full_tunnel[1] = ember_wgconf_has_default_route (conf, 6);
  if (out->full_tunnel[0] || out->full_tunnel[1])
    {
      if (out->fwmark == 0)
        out->fwmark = DEFAULT_FWMARK;
      /* wg-quick: the full tunnel's table is the fwmark. Tables 253-255
       * (default, main, local) and 0 cannot be Ember's own. */
      if (out->fwmark >= 253 && out->fwmark <= 255)
        {
          g_set_error (error, EMBER_WGCONF_ERROR, 0,
                       "%s:%u: FwMark: %u is also the full tunnel's routing table, and table %u "
                       "is one of the system's (default, main, local); choose another mark",
                       conf->path, conf->fwmark_line, out->fwmark, out->fwmark);
          return FALSE;
        }
      out->full_table = out->fwmark;
    }
  return TRUE;
}

gboolean
ember_static_routes_wants (const EmberStaticRoutes *plan, const EmberCidr *cidr)
{
  if (!plan->routes)
    return FALSE;
  if (cidr->prefix == 0 && plan->full_tunnel[cidr->family == 6 ? 1 : 0])
    return FALSE;
  return TRUE;
}

gboolean
ember_static_routes_need_netconf (const EmberStaticRoutes *plan, const EmberWgConf *conf)
{
  if (!plan->routes)
    return FALSE;
  for (guint i = 0; i < conf->peers->len; i++)
    if (((const EmberWgConfPeer *) g_ptr_array_index (conf->peers, i))->allowed_ips->len > 0)
      return TRUE;
  return FALSE;
}

gboolean
ember_static_routes_apply (const EmberStaticRoutes *plan, const EmberWgConf *conf,
                           EmberNetconf *nc, guint ifindex, GError **error)
{
  for (guint f = 0; f < 2; f++)
    if (plan->full_tunnel[f])
      {
        if (!ember_netconf_full_tunnel_add (nc, ifindex, f == 0 ? 4 : 6, plan->fwmark,
                                            plan->full_table, error))
          return FALSE;
        g_info ("full tunnel for IPv%u: default route in table %u, rules \"not fwmark 0x%x "
                "lookup %u\" and \"lookup main suppress_prefixlength 0\"",
                f == 0 ? 4 : 6, plan->full_table, plan->fwmark, plan->full_table);
      }
  for (guint i = 0; i < conf->peers->len; i++)
    {
      const EmberWgConfPeer *peer = g_ptr_array_index (conf->peers, i);
      for (guint j = 0; j < peer->allowed_ips->len; j++)
        {
          const EmberCidr *c = &g_array_index (peer->allowed_ips, EmberCidr, j);
          if (ember_static_routes_wants (plan, c)
              && !ember_netconf_route_add (nc, ifindex, c, plan->table, error))
            return FALSE;
        }
    }
  return TRUE;
}
