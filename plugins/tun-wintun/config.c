/* config — the tun-wintun configuration group. See config.h. */
#include "config.h"

#include "net/keyfile.h"

#include <string.h>

static const char *const known_keys[] = {
  "name", "tunnel-type", "guid", "mtu", "address", "route", "ring-size", "dll", NULL,
};

void
wintun_guid_from_name (const char *name, WintunGuid *out)
{
  static const char label[] = "Ember Wintun adapter";
  guint8 digest[32];
  gsize len = sizeof digest;
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);

  g_checksum_update (sum, (const guint8 *) label, sizeof label); /* with its NUL */
  g_checksum_update (sum, (const guint8 *) name, (gssize) strlen (name));
  g_checksum_get_digest (sum, digest, &len);
  g_checksum_free (sum);
  digest[6] = (guint8) ((digest[6] & 0x0f) | 0x50); /* version 5 */
  digest[8] = (guint8) ((digest[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  out->data1 = (guint32) digest[0] << 24 | (guint32) digest[1] << 16 |
               (guint32) digest[2] << 8 | digest[3];
  out->data2 = (guint16) (digest[4] << 8 | digest[5]);
  out->data3 = (guint16) (digest[6] << 8 | digest[7]);
  memcpy (out->data4, digest + 8, 8);
}

gboolean
wintun_guid_parse (const char *text, WintunGuid *out)
{
  /* 8-4-4-4-12 hex digits, optionally in braces. */
  static const guint groups[] = { 8, 4, 4, 4, 12 };
  guint8 bytes[16];
  guint nbytes = 0;
  gsize n = strlen (text);
  const char *p = text;

  if (n == 38 && text[0] == '{' && text[37] == '}')
    p++;
  else if (n != 36)
    return FALSE;
  for (guint g = 0; g < G_N_ELEMENTS (groups); g++)
    {
      if (g > 0 && *p++ != '-')
        return FALSE;
      for (guint i = 0; i < groups[g]; i += 2, p += 2)
        {
          gint hi = g_ascii_xdigit_value (p[0]), lo = g_ascii_xdigit_value (p[1]);
          if (hi < 0 || lo < 0)
            return FALSE;
          bytes[nbytes++] = (guint8) (hi << 4 | lo);
        }
    }
  out->data1 = (guint32) bytes[0] << 24 | (guint32) bytes[1] << 16 | (guint32) bytes[2] << 8 |
               bytes[3];
  out->data2 = (guint16) (bytes[4] << 8 | bytes[5]);
  out->data3 = (guint16) (bytes[6] << 8 | bytes[7]);
  memcpy (out->data4, bytes + 8, 8);
  return TRUE;
}

const char *
wintun_guid_format (const WintunGuid *g, char buf[WINTUN_GUID_STRLEN])
{
  g_snprintf (buf, WINTUN_GUID_STRLEN, "{%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
              g->data1, g->data2, g->data3, g->data4[0], g->data4[1], g->data4[2], g->data4[3],
              g->data4[4], g->data4[5], g->data4[6], g->data4[7]);
  return buf;
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
get_name (GKeyFile *kf, const char *group, const char *key, char **out, GError **error)
{
  g_autofree char *v = g_key_file_get_string (kf, group, key, NULL);
  if (v == NULL || !valid_name (g_strstrip (v)))
    return ember_key_file_error (error, group, key,
                         "expected 1 to %d characters of UTF-8 text without control "
                         "characters", WINTUN_NAME_MAX);
  g_free (*out);
  *out = g_steal_pointer (&v);
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
    {
      wintun_guid_from_name (out->name, &out->guid);
      return TRUE;
    }

  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known_keys, keys[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) known_keys);
        ember_key_file_error (error, group, keys[i], "unknown key (expected one of: %s)", list);
        goto fail;
      }

  guint64 v;
  if (g_key_file_has_key (kf, group, "name", NULL) &&
      !get_name (kf, group, "name", &out->name, error))
    goto fail;
  if (g_key_file_has_key (kf, group, "tunnel-type", NULL) &&
      !get_name (kf, group, "tunnel-type", &out->tunnel_type, error))
    goto fail;
  if (g_key_file_has_key (kf, group, "guid", NULL))
    {
      g_autofree char *guid = g_key_file_get_string (kf, group, "guid", NULL);
      if (guid == NULL || !wintun_guid_parse (g_strstrip (guid), &out->guid))
        {
          ember_key_file_error (error, group, "guid",
                        "expected a GUID like {01234567-89AB-CDEF-0123-456789ABCDEF}, got \"%s\"",
                        guid != NULL ? guid : "");
          goto fail;
        }
      out->guid_configured = TRUE;
    }
  if (g_key_file_has_key (kf, group, "mtu", NULL))
    {
      if (!ember_key_file_get_uint (kf, group, "mtu", WINTUN_MIN_MTU, WINTUN_MAX_MTU, TRUE, &v,
                                    error))
        goto fail;
      out->mtu = (guint) v;
    }
  if (g_key_file_has_key (kf, group, "ring-size", NULL))
    {
      if (!ember_key_file_get_uint (kf, group, "ring-size", WINTUN_MIN_RING_CAPACITY,
                                    WINTUN_MAX_RING_CAPACITY, TRUE, &v, error))
        goto fail;
      if ((v & (v - 1)) != 0)
        {
          ember_key_file_error (error, group, "ring-size",
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
          ember_key_file_error (error, group, "dll", "expected the absolute path of wintun.dll");
          goto fail;
        }
      out->dll = g_steal_pointer (&dll);
    }
  if (g_key_file_has_key (kf, group, "address", NULL) &&
      !ember_key_file_get_cidrs (kf, group, "address", EMBER_CIDR_PARSE_KEEP_HOST_BITS,
                                 WINTUN_MAX_ADDRESSES, &out->addresses, &out->n_addresses, error))
    goto fail;
  if (g_key_file_has_key (kf, group, "route", NULL) &&
      !ember_key_file_get_cidrs (kf, group, "route", EMBER_CIDR_PARSE_STRICT,
                                 WINTUN_MAX_ROUTES, &out->routes, &out->n_routes, error))
    goto fail;

  if (!out->guid_configured)
    wintun_guid_from_name (out->name, &out->guid);

  /* IPv6 needs a link MTU of at least 1280 (RFC 8200 §5). */
  if (out->mtu < WINTUN_MIN_MTU_IPV6)
    for (guint i = 0; i < out->n_addresses; i++)
      if (out->addresses[i].family == 6)
        {
          ember_key_file_error (error, group, "mtu", "IPv6 addresses need an MTU of at least %d",
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
