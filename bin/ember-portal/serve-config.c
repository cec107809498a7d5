/* ember-portal/serve-config.c — see serve-config.h. */
#include "serve-config.h"
#include "portal-config.h"

#include <gnutls/gnutls.h>
#include <math.h>
#include <string.h>

static void
relay_config_clear (EmberPortalRelayConfig *r)
{
  g_free (r->name);
  g_strfreev (r->addresses);
  g_clear_pointer (&r->secret, g_bytes_unref);
}

void
ember_portal_serve_config_free (EmberPortalServeConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->path);
  g_strfreev (c->listen);
  g_free (c->state_dir);
  g_free (c->tls_certificate);
  g_free (c->tls_key);
  g_free (c->admin_listen);
  g_free (c->metrics_listen);
  for (guint i = 0; i < c->n_relays; i++)
    relay_config_clear (&c->relays[i]);
  g_free (c->relays);
  g_free (c);
}

GInetSocketAddress *
ember_portal_parse_listen (const char *text, const char *what, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GSocketConnectable) c = g_network_address_parse (text, 0, &local);
  const char *host = c != NULL ? g_network_address_get_hostname (G_NETWORK_ADDRESS (c)) : NULL;
  g_autoptr (GInetAddress) ia = host != NULL ? g_inet_address_new_from_string (host) : NULL;
  if (ia == NULL || strrchr (text, ':') == NULL || text[strlen (text) - 1] == ']')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s \"%s\": expected an IP address and a port (ADDR:PORT, [IPv6]:PORT)", what,
                   text);
      return NULL;
    }
  return G_INET_SOCKET_ADDRESS (
    g_inet_socket_address_new (ia, g_network_address_get_port (G_NETWORK_ADDRESS (c))));
}

/* A positive number of seconds (fractions allowed, for tests) or `def`. */
static gboolean
get_seconds (GKeyFile *kf, const char *file, const char *key, double def, double max,
             gint64 *out, GError **error)
{
  *out = (gint64) (def * G_USEC_PER_SEC);
  if (!g_key_file_has_key (kf, "portal", key, NULL))
    return TRUE;
  g_autoptr (GError) local = NULL;
  double v = g_key_file_get_double (kf, "portal", key, &local);
  if (local != NULL || !isfinite (v) || v < 0.01 || v > max)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [portal] %s: expected a number of seconds from 0.01 to %g", file, key, max);
      return FALSE;
    }
  *out = (gint64) (v * G_USEC_PER_SEC);
  return TRUE;
}

static gboolean
get_positive (GKeyFile *kf, const char *file, const char *key, double def, double max,
              double *out, GError **error)
{
  *out = def;
  if (!g_key_file_has_key (kf, "portal", key, NULL))
    return TRUE;
  g_autoptr (GError) local = NULL;
  double v = g_key_file_get_double (kf, "portal", key, &local);
  if (local != NULL || !isfinite (v) || v <= 0 || v > max)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [portal] %s: expected a number above 0 and at most %g", file, key, max);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

static char *
get_string (GKeyFile *kf, const char *group, const char *key)
{
  char *s = g_key_file_get_string (kf, group, key, NULL);
  if (s != NULL)
    g_strstrip (s);
  return s;
}

static gboolean
load_relay (GKeyFile *kf, const char *file, const char *group, EmberPortalRelayConfig *r,
            GError **error)
{
  const char *name = group + strlen ("relay ");
  if (name[0] == '\0' || strlen (name) > 64 || strspn (name, "abcdefghijklmnopqrstuvwxyz"
                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789-_.") != strlen (name))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [%s]: a relay name is 1..64 letters, digits, '-', '_' or '.'", file,
                   group);
      return FALSE;
    }
  r->name = g_strdup (name);
  r->addresses = g_key_file_get_string_list (kf, group, "address", NULL, NULL);
  if (r->addresses == NULL || r->addresses[0] == NULL)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "%s: [%s] address: missing (IP:PORT, several separated by ';')", file, group);
      return FALSE;
    }
  for (guint i = 0; r->addresses[i] != NULL; i++)
    {
      g_strstrip (r->addresses[i]);
      g_autofree char *what = g_strdup_printf ("%s: [%s] address", file, group);
      g_autoptr (GInetSocketAddress) sa = ember_portal_parse_listen (r->addresses[i], what, error);
      if (sa == NULL)
        return FALSE;
      if (g_inet_socket_address_get_port (sa) == 0)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s: [%s] address \"%s\": port 0 is not a relay's port", file, group,
                       r->addresses[i]);
          return FALSE;
        }
    }
  g_autofree char *secret_file = get_string (kf, group, "secret-file");
  if (secret_file == NULL || secret_file[0] == '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "%s: [%s] secret-file: missing (the file ember-relay --secret-file reads)",
                   file, group);
      return FALSE;
    }
  /* Relative to the configuration file, like every path in it. */
  g_autofree char *dir = g_path_get_dirname (file);
  g_autofree char *path = g_path_is_absolute (secret_file)
                            ? g_strdup (secret_file)
                            : g_build_filename (dir, secret_file, NULL);
  char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &data, &len, &local))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [%s] secret-file: %s", file, group, local->message);
      return FALSE;
    }
  /* ember-relay cuts one trailing newline the same way. */
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
    len--;
  if (len == 0)
    {
      gnutls_memset (data, 0, len);
      g_free (data);
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [%s] secret-file \"%s\": empty", file, group, path);
      return FALSE;
    }
  r->secret = g_bytes_new_take (data, len);
  return TRUE;
}

/* `pc` has been checked for its shape (groups, keys, state-dir) by
 * portal-config.c, which every verb shares; the values serve reads are
 * checked here. */
static EmberPortalServeConfig *
load (EmberPortalConfig *pc, GError **error)
{
  GKeyFile *kf = pc->keyfile;
  const char *file = pc->path;
  g_autoptr (EmberPortalServeConfig) c = g_new0 (EmberPortalServeConfig, 1);
  c->path = g_strdup (file);
  c->state_dir = g_strdup (pc->state_dir);
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  guint n_relays = 0;
  for (guint i = 0; groups[i] != NULL; i++)
    if (g_str_has_prefix (groups[i], "relay "))
      n_relays++;

  if (g_key_file_has_key (kf, "portal", "insecure", NULL))
    {
      g_autoptr (GError) local = NULL;
      c->insecure = g_key_file_get_boolean (kf, "portal", "insecure", &local);
      if (local != NULL)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s: [portal] insecure: expected true or false", file);
          return NULL;
        }
    }

  c->tls_certificate = get_string (kf, "portal", "tls-certificate");
  c->tls_key = get_string (kf, "portal", "tls-key");
  if ((c->tls_certificate == NULL) != (c->tls_key == NULL))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "%s: [portal] %s: missing (tls-certificate and tls-key go together)", file,
                   c->tls_key == NULL ? "tls-key" : "tls-certificate");
      return NULL;
    }

  c->listen = g_key_file_get_string_list (kf, "portal", "listen", NULL, NULL);
  if (c->listen == NULL || c->listen[0] == NULL)
    {
      g_strfreev (c->listen);
      c->listen = g_strsplit (EMBER_PORTAL_DEFAULT_LISTEN, ";", -1);
    }
  for (guint i = 0; c->listen[i] != NULL; i++)
    {
      g_strstrip (c->listen[i]);
      g_autofree char *what = g_strdup_printf ("%s: [portal] listen", file);
      g_autoptr (GInetSocketAddress) sa = ember_portal_parse_listen (c->listen[i], what, error);
      if (sa == NULL)
        return NULL;
      GInetAddress *ia = g_inet_socket_address_get_address (sa);
      /* A bearer token in clear text may cross only the loopback. */
      if (c->tls_certificate == NULL && !c->insecure && !g_inet_address_get_is_loopback (ia))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s: [portal] listen \"%s\": plain ws (no tls-certificate) is allowed on "
                       "a loopback address only, unless insecure=true",
                       file, c->listen[i]);
          return NULL;
        }
    }

  const struct { const char *key; char **out; const char *def; } addrs[] = {
    { "admin-listen", &c->admin_listen, EMBER_PORTAL_DEFAULT_ADMIN_LISTEN },
    { "metrics-listen", &c->metrics_listen, NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (addrs); i++)
    {
      char *v = get_string (kf, "portal", addrs[i].key);
      if (v == NULL)
        v = g_strdup (addrs[i].def);
      else if (v[0] == '\0') /* present but empty: switched off */
        g_clear_pointer (&v, g_free);
      *addrs[i].out = v;
      if (v == NULL)
        continue;
      g_autofree char *what = g_strdup_printf ("%s: [portal] %s", file, addrs[i].key);
      g_autoptr (GInetSocketAddress) sa = ember_portal_parse_listen (v, what, error);
      if (sa == NULL)
        return NULL;
      if (!c->insecure && !g_inet_address_get_is_loopback (g_inet_socket_address_get_address (sa))
          && strcmp (addrs[i].key, "admin-listen") == 0)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "%s: [portal] admin-listen \"%s\": the admin API (plain HTTP) is served on "
                       "a loopback address only, unless insecure=true",
                       file, v);
          return NULL;
        }
    }

  double frame = 0;
  if (!get_seconds (kf, file, "heartbeat-interval", 10, 3600, &c->heartbeat_interval_us, error)
      || !get_seconds (kf, file, "change-poll-interval", 0.1, 10, &c->change_poll_us, error)
      || !get_seconds (kf, file, "relay-probe-interval", 5, 3600, &c->relay_probe_us, error)
      || !get_seconds (kf, file, "relay-credential-lifetime", 3600, 7 * 86400,
                       &c->relay_credential_lifetime_us, error)
      || !get_positive (kf, file, "join-rate", 20, 1e6, &c->join_rate, error)
      || !get_positive (kf, file, "join-burst", 100, 1e6, &c->join_burst, error)
      || !get_positive (kf, file, "auth-failure-rate", 0.2, 1e6, &c->auth_failure_rate, error)
      || !get_positive (kf, file, "auth-failure-burst", 10, 1e6, &c->auth_failure_burst, error)
      || !get_positive (kf, file, "max-frame-size", 65536, 16 << 20, &frame, error))
    return NULL;
  if (frame < 1024)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [portal] max-frame-size: expected at least 1024 bytes", file);
      return NULL;
    }
  c->max_frame_size = (guint) frame;
  if (c->relay_credential_lifetime_us < 60 * G_USEC_PER_SEC)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s: [portal] relay-credential-lifetime: expected at least 60 seconds", file);
      return NULL;
    }

  c->relays = g_new0 (EmberPortalRelayConfig, MAX (n_relays, 1));
  for (guint i = 0; groups[i] != NULL; i++)
    if (g_str_has_prefix (groups[i], "relay "))
      if (!load_relay (kf, file, groups[i], &c->relays[c->n_relays++], error))
        return NULL;
  return g_steal_pointer (&c);
}

EmberPortalServeConfig *
ember_portal_serve_config_load_data (const char *data, const char *name, GError **error)
{
  g_autoptr (EmberPortalConfig) pc = ember_portal_config_load_data (data, name, error);
  return pc != NULL ? load (pc, error) : NULL;
}

EmberPortalServeConfig *
ember_portal_serve_config_load (const char *path, GError **error)
{
  g_autoptr (EmberPortalConfig) pc = ember_portal_config_load (path, error);
  return pc != NULL ? load (pc, error) : NULL;
}
