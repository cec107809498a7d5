/* config — the tun-wintun configuration group. See config.h. */
#include "config.h"

#include <string.h>

static const char *const known_keys[] = {
  "name", "tunnel-type", "mtu", "address", "route", "ring-size", "dll", NULL,
};

static gboolean
config_error (GError **error, const char *group, const char *key, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static gboolean
config_error (GError **error, const char *group, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG,
               "[%s] %s: %s", group, key, what);
  return FALSE;
}

/* Wintun takes the name as UTF-16 and Windows shows it to people: any
 * printable text, no control characters. */
static gboolean
valid_name (const char *name)
{
  if (*name == '\0' || !g_utf8_validate (name, -1, NULL) ||
      g_utf8_strlen (name, -1) > WINTUN_NAME_MAX)
    return FALSE;
  for (const char *p = name; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

static gboolean
get_uint (GKeyFile *kf, const char *group, const char *key, guint64 min, guint64 max,
          guint64 *out, GError **error)
{
  g_autofree char *v = g_key_file_get_value (kf, group, key, NULL);
  const char *digits = v != NULL ? g_strstrip (v) : NULL;
  guint base = 10;
  /* Ring sizes read best in hex (0x400000), as in Wintun's header. */
  if (digits != NULL && (g_str_has_prefix (digits, "0x") || g_str_has_prefix (digits, "0X")))
    {
      digits += 2;
      base = 16;
    }
  if (v == NULL || !g_ascii_string_to_unsigned (digits, base, min, max, out, NULL))
    return config_error (error, group, key,
                         "expected an integer from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                         ", got \"%s\"", min, max, v ? v : "");
  return TRUE;
}

static gboolean
get_name (GKeyFile *kf, const char *group, const char *key, char **out, GError **error)
{
  g_autofree char *v = g_key_file_get_string (kf, group, key, NULL);
  if (v == NULL || !valid_name (g_strstrip (v)))
    return config_error (error, group, key,
                         "expected 1 to %d characters of UTF-8 text without control "
                         "characters", WINTUN_NAME_MAX);
  g_free (*out);
  *out = g_steal_pointer (&v);
  return TRUE;
}

/* A list of CIDRs; an address alone is a /32 or /128. */
static gboolean
get_cidrs (GKeyFile *kf, const char *group, const char *key, EmberCidrParseFlags flags,
           guint limit, EmberCidr **out, guint *n_out, GError **error)
{
  gsize n = 0;
  g_auto (GStrv) items = g_key_file_get_string_list (kf, group, key, &n, NULL);
  if (items == NULL)
    return config_error (error, group, key, "expected a ';'-separated list of CIDRs");
  if (n > limit)
    return config_error (error, group, key, "at most %u entries, got %" G_GSIZE_FORMAT, limit, n);

  g_autofree EmberCidr *cidrs = g_new0 (EmberCidr, MAX (n, 1));
  guint used = 0;
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GError) local = NULL;
      if (*g_strstrip (items[i]) == '\0')
        continue;
      if (!ember_cidr_parse (items[i], EMBER_CIDR_PARSE_BARE | flags, &cidrs[used], &local))
        return config_error (error, group, key, "%s", local->message);
      used++;
    }
  *out = g_steal_pointer (&cidrs);
  *n_out = used;
  return TRUE;
}

gboolean
wintun_config_parse (GKeyFile *kf, const char *group, WintunConfig *out, GError **error)
{
  memset (out, 0, sizeof *out);
  out->name = g_strdup (WINTUN_DEFAULT_NAME);
  out->tunnel_type = g_strdup (WINTUN_DEFAULT_TUNNEL_TYPE);
  out->mtu = WINTUN_DEFAULT_MTU;
  out->ring_size = WINTUN_DEFAULT_RING_SIZE;

  if (group == NULL)
    group = "tun-wintun";
  if (kf == NULL || !g_key_file_has_group (kf, group))
    return TRUE;

  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known_keys, keys[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) known_keys);
        config_error (error, group, keys[i], "unknown key (expected one of: %s)", list);
        goto fail;
      }

  guint64 v;
  if (g_key_file_has_key (kf, group, "name", NULL) &&
      !get_name (kf, group, "name", &out->name, error))
    goto fail;
  if (g_key_file_has_key (kf, group, "tunnel-type", NULL) &&
      !get_name (kf, group, "tunnel-type", &out->tunnel_type, error))
    goto fail;
  if (g_key_file_has_key (kf, group, "mtu", NULL))
    {
      if (!get_uint (kf, group, "mtu", WINTUN_MIN_MTU, WINTUN_MAX_MTU, &v, error))
        goto fail;
      out->mtu = (guint) v;
    }
  if (g_key_file_has_key (kf, group, "ring-size", NULL))
    {
      if (!get_uint (kf, group, "ring-size", WINTUN_MIN_RING_CAPACITY,
                     WINTUN_MAX_RING_CAPACITY, &v, error))
        goto fail;
      if ((v & (v - 1)) != 0)
        {
          config_error (error, group, "ring-size",
                        "expected a power of two (Wintun's ring capacity), got %" G_GUINT64_FORMAT,
                        v);
          goto fail;
        }
      out->ring_size = (guint32) v;
    }
  if (g_key_file_has_key (kf, group, "dll", NULL))
    {
      g_autofree char *dll = g_key_file_get_string (kf, group, "dll", NULL);
      if (dll == NULL || *g_strstrip (dll) == '\0' || !g_path_is_absolute (dll))
        {
          config_error (error, group, "dll", "expected the absolute path of wintun.dll");
          goto fail;
        }
      out->dll = g_steal_pointer (&dll);
    }
  if (g_key_file_has_key (kf, group, "address", NULL) &&
      !get_cidrs (kf, group, "address", EMBER_CIDR_PARSE_KEEP_HOST_BITS, WINTUN_MAX_ADDRESSES, &out->addresses,
                  &out->n_addresses, error))
    goto fail;
  if (g_key_file_has_key (kf, group, "route", NULL) &&
      !get_cidrs (kf, group, "route", EMBER_CIDR_PARSE_STRICT, WINTUN_MAX_ROUTES, &out->routes, &out->n_routes,
                  error))
    goto fail;

  /* IPv6 needs a link MTU of at least 1280 (RFC 8200 §5). */
  if (out->mtu < WINTUN_MIN_MTU_IPV6)
    for (guint i = 0; i < out->n_addresses; i++)
      if (out->addresses[i].family == 6)
        {
          config_error (error, group, "mtu", "IPv6 addresses need an MTU of at least %d",
                        WINTUN_MIN_MTU_IPV6);
          goto fail;
        }
  return TRUE;

fail:
  wintun_config_clear (out);
  return FALSE;
}

void
wintun_config_clear (WintunConfig *config)
{
  g_clear_pointer (&config->name, g_free);
  g_clear_pointer (&config->tunnel_type, g_free);
  g_clear_pointer (&config->dll, g_free);
  g_clear_pointer (&config->addresses, g_free);
  g_clear_pointer (&config->routes, g_free);
  config->n_addresses = config->n_routes = 0;
}
