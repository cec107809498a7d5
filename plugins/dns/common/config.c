/* plugins/dns/common/config — the DNS plugins' configuration group, the
 * upstream syntax and the system's resolvers as the default. Plain
 * functions of their arguments: any thread. See shell.h.
 */
#include <net/if.h>
#include <string.h>

#include "net/cidr.h"
#include "net/keyfile.h"
#include "shell.h"

/* ---- Addresses ---------------------------------------------------------------- */

gboolean
dns_addr_eq (const EmberAddr *a, const EmberAddr *b)
{
  gsize len = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  return a->family == b->family && a->port == b->port && memcmp (a->addr, b->addr, len) == 0;
}

const char *
dns_addr_format (const EmberAddr *a, char *buf, gsize len)
{
  char text[EMBER_ADDR_PORT_STRLEN];
  char ip[EMBER_ADDR_STRLEN];
  if (a->family == EMBER_ADDR_IPV6)
    g_snprintf (text, sizeof text, "[%s]:%u", ember_addr_format (a, ip), a->port);
  else
    g_snprintf (text, sizeof text, "%s:%u", ember_addr_format (a, ip), a->port);
  g_strlcpy (buf, text, len);
  return buf;
}

GSocketAddress *
dns_addr_to_gsocket (const EmberAddr *a)
{
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_bytes (
    a->addr, a->family == EMBER_ADDR_IPV4 ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
  if (a->family == EMBER_ADDR_IPV6 && a->scope_id != 0)
    return g_object_new (G_TYPE_INET_SOCKET_ADDRESS, "address", ia, "port", (guint) a->port,
                         "scope-id", a->scope_id, NULL);
  return g_inet_socket_address_new (ia, a->port);
}

/* ---- Upstreams -------------------------------------------------------------------- */

/* RFC 1123 §2.1 host name: labels of letters, digits and '-', not
 * starting or ending with '-', at most 63 bytes each. */
static gboolean
valid_host_name (const char *name)
{
  gsize len = strlen (name), label = 0;
  if (len == 0 || len > DNS_NAME_MAX || name[0] == '.' || name[len - 1] == '.')
    return FALSE;
  for (gsize i = 0; i <= len; i++)
    {
      char c = name[i];
      if (c == '.' || c == '\0')
        {
          if (label == 0 || name[i - 1] == '-' || name[i - label] == '-')
            return FALSE;
          label = 0;
        }
      else if (g_ascii_isalnum (c) || c == '-')
        {
          if (++label > 63)
            return FALSE;
        }
      else
        return FALSE;
    }
  return TRUE;
}

gboolean
dns_upstream_parse (const char *text, guint16 default_port, gboolean allow_name, DnsUpstream *out,
                    GError **error)
{
  memset (out, 0, sizeof *out);
  g_autofree char *copy = g_strdup (text);
  char *hash = strchr (copy, '#');
  if (hash != NULL)
    {
      *hash++ = '\0';
      if (!allow_name)
        {
          g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                       "\"%s\": a server name (#NAME) is only used with TLS", text);
          return FALSE;
        }
      if (!valid_host_name (hash))
        {
          g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                       "\"%s\": \"%s\" is not a host name", text, hash);
          return FALSE;
        }
      out->name = g_ascii_strdown (hash, -1);
    }
  g_autoptr (GError) local = NULL;
  gboolean ok;
  /* One ':' is IPV4:PORT; a bare IPv6 address has several. */
  const char *colon = strchr (copy, ':');
  if (copy[0] == '[' || (colon != NULL && strchr (colon + 1, ':') == NULL))
    ok = ember_addr_parse_port (copy, &out->addr, &local);
  else
    {
      ok = ember_addr_parse (copy, &out->addr, &local);
      out->addr.port = default_port;
    }
  if (!ok)
    {
      g_clear_pointer (&out->name, g_free);
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
                   "%s (expected ADDRESS, IPV4:PORT or [IPV6]:PORT%s)", local->message,
                   allow_name ? ", then optionally #SERVER-NAME" : "");
      return FALSE;
    }
  return TRUE;
}

guint
dns_resolv_conf_parse (const char *text, guint16 port, EmberAddr *out, guint max)
{
  guint n = 0;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL && n < max; i++)
    {
      g_auto (GStrv) words = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      guint w = 0;
      while (words[w] != NULL && words[w][0] == '\0')
        w++;
      if (words[w] == NULL || strcmp (words[w], "nameserver") != 0)
        continue;
      w++;
      while (words[w] != NULL && words[w][0] == '\0')
        w++;
      if (words[w] == NULL)
        continue;
      char *zone = strchr (words[w], '%');
      guint scope = 0;
      if (zone != NULL)
        {
          *zone++ = '\0';
          scope = if_nametoindex (zone);
          if (scope == 0 && !g_ascii_string_to_unsigned (zone, 10, 1, G_MAXUINT32, NULL, NULL))
            continue;
          if (scope == 0)
            scope = (guint) g_ascii_strtoull (zone, NULL, 10);
        }
      EmberAddr a;
      if (!ember_addr_parse (words[w], &a, NULL))
        continue;
      a.port = port;
      a.scope_id = a.family == EMBER_ADDR_IPV6 ? scope : 0;
      gboolean dup = FALSE;
      for (guint k = 0; k < n; k++)
        dup |= dns_addr_eq (&out[k], &a);
      if (!dup)
        out[n++] = a;
    }
  return n;
}

static gboolean
is_resolved_stub (const EmberAddr *a)
{
  static const guint8 stub53[4] = { 127, 0, 0, 53 }, stub54[4] = { 127, 0, 0, 54 };
  return a->family == EMBER_ADDR_IPV4
         && (memcmp (a->addr, stub53, 4) == 0 || memcmp (a->addr, stub54, 4) == 0);
}

guint
dns_system_resolvers (const char *path, const char *resolved_path, guint16 port, EmberAddr *out,
                      guint max)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  guint n = dns_resolv_conf_parse (text, port, out, max);
  gboolean only_stub = n > 0;
  for (guint i = 0; i < n; i++)
    only_stub &= is_resolved_stub (&out[i]);
  if (!only_stub || resolved_path == NULL)
    return n;
  /* resolved's stub would send our queries back through resolved, which
   * routes them to us once Ember is its DNS: ask its upstreams directly. */
  g_autofree char *upstream_text = NULL;
  if (!g_file_get_contents (resolved_path, &upstream_text, NULL, NULL))
    return n;
  EmberAddr real[DNS_MAX_UPSTREAMS];
  guint m = dns_resolv_conf_parse (upstream_text, port, real, MIN (max, DNS_MAX_UPSTREAMS));
  if (m == 0)
    return n;
  memcpy (out, real, m * sizeof *out);
  return m;
}

/* ---- The group ---------------------------------------------------------------------- */

#define RESOLV_CONF "/etc/resolv.conf"
#define RESOLVED_RESOLV_CONF "/run/systemd/resolve/resolv.conf"

void
dns_config_clear (DnsConfig *c)
{
  for (guint i = 0; i < c->n_upstreams; i++)
    g_clear_pointer (&c->upstreams[i].name, g_free);
  c->n_upstreams = 0;
  g_clear_pointer (&c->ca_file, g_free);
  g_clear_pointer (&c->path, g_free);
}

static gboolean
key_allowed (const DnsConfigSpec *spec, const char *key)
{
  if (g_str_equal (key, "upstreams") || g_str_equal (key, "timeout")
      || g_str_equal (key, "resolv-conf"))
    return TRUE;
  if (spec->tls && (g_str_equal (key, "ca-file") || g_str_equal (key, "idle-timeout")))
    return TRUE;
  if (spec->http && g_str_equal (key, "path"))
    return TRUE;
  return FALSE;
}

static char *
known_keys (const DnsConfigSpec *spec)
{
  GString *s = g_string_new ("upstreams, timeout, resolv-conf");
  if (spec->tls)
    g_string_append (s, ", ca-file, idle-timeout");
  if (spec->http)
    g_string_append (s, ", path");
  return g_string_free (s, FALSE);
}

static gboolean
parse_group (GKeyFile *kf, const char *group, const DnsConfigSpec *spec, DnsConfig *out,
             char **resolv_conf, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!key_allowed (spec, keys[i]))
      {
        g_autofree char *list = known_keys (spec);
        return ember_key_file_error (error, group, keys[i], "unknown key (expected one of: %s)",
                                     list);
      }

  if (g_key_file_has_key (kf, group, "upstreams", NULL))
    {
      gsize n = 0;
      g_auto (GStrv) items = g_key_file_get_string_list (kf, group, "upstreams", &n, NULL);
      for (gsize i = 0; items != NULL && i < n; i++)
        {
          if (*g_strstrip (items[i]) == '\0')
            continue;
          if (out->n_upstreams == DNS_MAX_UPSTREAMS)
            return ember_key_file_error (error, group, "upstreams", "at most %d upstreams",
                                         DNS_MAX_UPSTREAMS);
          DnsUpstream *u = &out->upstreams[out->n_upstreams];
          g_autoptr (GError) local = NULL;
          if (!dns_upstream_parse (items[i], spec->default_port, spec->tls, u, &local))
            return ember_key_file_error (error, group, "upstreams", "%s (entries separated by ';')",
                                         local->message);
          out->n_upstreams++;
          for (guint k = 0; k + 1 < out->n_upstreams; k++)
            if (dns_addr_eq (&out->upstreams[k].addr, &u->addr))
              return ember_key_file_error (error, group, "upstreams", "\"%s\" is listed twice",
                                           items[i]);
        }
      if (out->n_upstreams == 0)
        return ember_key_file_error (error, group, "upstreams",
                                     "empty (leave the key out to use the system's resolvers)");
    }

  guint64 v;
  if (g_key_file_has_key (kf, group, "timeout", NULL))
    {
      if (!ember_key_file_get_uint (kf, group, "timeout", 100, 60000, FALSE, &v, error))
        return FALSE;
      out->timeout_ms = (guint) v;
    }
  if (g_key_file_has_key (kf, group, "idle-timeout", NULL))
    {
      if (!ember_key_file_get_uint (kf, group, "idle-timeout", 0, 3600000, FALSE, &v, error))
        return FALSE;
      out->idle_ms = (guint) v;
    }
  if (g_key_file_has_key (kf, group, "ca-file", NULL))
    {
      g_autofree char *ca = g_key_file_get_string (kf, group, "ca-file", NULL);
      if (ca == NULL || *g_strstrip (ca) == '\0' || !g_path_is_absolute (ca))
        return ember_key_file_error (error, group, "ca-file", "expected an absolute file name");
      if (!g_file_test (ca, G_FILE_TEST_IS_REGULAR))
        return ember_key_file_error (error, group, "ca-file", "%s: no such file", ca);
      out->ca_file = g_steal_pointer (&ca);
    }
  if (g_key_file_has_key (kf, group, "path", NULL))
    {
      g_autofree char *p = g_key_file_get_string (kf, group, "path", NULL);
      if (p == NULL || p[0] != '/' || strpbrk (p, " \t?#") != NULL)
        return ember_key_file_error (error, group, "path",
                                     "expected an absolute URI path such as /dns-query");
      out->path = g_steal_pointer (&p);
    }
  if (g_key_file_has_key (kf, group, "resolv-conf", NULL))
    {
      g_autofree char *p = g_key_file_get_string (kf, group, "resolv-conf", NULL);
      if (p == NULL || !g_path_is_absolute (g_strstrip (p)))
        return ember_key_file_error (error, group, "resolv-conf", "expected an absolute file name");
      *resolv_conf = g_steal_pointer (&p);
    }
  return TRUE;
}

gboolean
dns_config_parse (GKeyFile *kf, const char *group, const DnsConfigSpec *spec, DnsConfig *out,
                  GError **error)
{
  memset (out, 0, sizeof *out);
  out->timeout_ms = DNS_DEFAULT_TIMEOUT_MS;
  out->idle_ms = DNS_DEFAULT_IDLE_MS;
  g_autofree char *resolv_conf = NULL;
  if (kf != NULL && g_key_file_has_group (kf, group)
      && !parse_group (kf, group, spec, out, &resolv_conf, error))
    {
      dns_config_clear (out);
      return FALSE;
    }
  if (out->path == NULL && spec->http)
    out->path = g_strdup ("/dns-query");
  if (out->n_upstreams > 0)
    return TRUE;

  EmberAddr sys[DNS_MAX_UPSTREAMS];
  const char *path = resolv_conf != NULL ? resolv_conf : RESOLV_CONF;
  guint n = dns_system_resolvers (path, resolv_conf != NULL ? NULL : RESOLVED_RESOLV_CONF,
                                  spec->default_port, sys, DNS_MAX_UPSTREAMS);
  if (n == 0)
    {
      dns_config_clear (out);
      return ember_key_file_error (error, group, "upstreams",
                                   "not set, and %s names no nameserver to use instead", path);
    }
  for (guint i = 0; i < n; i++)
    out->upstreams[i].addr = sys[i];
  out->n_upstreams = n;
  out->from_system = TRUE;
  return TRUE;
}
