/* net/keyfile — reading a plugin's configuration group. See keyfile.h. */
#include "net/keyfile.h"

#include "ember-plugin.h"

gboolean
ember_key_file_error (GError **error, const char *group, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG, "[%s] %s: %s", group, key,
               what);
  return FALSE;
}

gboolean
ember_key_file_get_uint (GKeyFile *kf, const char *group, const char *key, guint64 min,
                         guint64 max, gboolean allow_hex, guint64 *out, GError **error)
{
  g_autofree char *v = g_key_file_get_value (kf, group, key, NULL);
  const char *digits = v != NULL ? g_strstrip (v) : NULL;
  guint base = 10;
  if (allow_hex && digits != NULL
      && (g_str_has_prefix (digits, "0x") || g_str_has_prefix (digits, "0X")))
    {
      digits += 2;
      base = 16;
    }
  if (digits == NULL || !g_ascii_string_to_unsigned (digits, base, min, max, out, NULL))
    return ember_key_file_error (error, group, key,
                                 "expected an integer from %" G_GUINT64_FORMAT
                                 " to %" G_GUINT64_FORMAT ", got \"%s\"",
                                 min, max, v != NULL ? v : "");
  return TRUE;
}

gboolean
ember_key_file_get_cidrs (GKeyFile *kf, const char *group, const char *key,
                          EmberCidrParseFlags flags, guint limit, EmberCidr **out, guint *n_out,
                          GError **error)
{
  gsize n = 0;
  g_auto (GStrv) items = g_key_file_get_string_list (kf, group, key, &n, NULL);
  if (items == NULL)
    return ember_key_file_error (error, group, key, "expected a ';'-separated list of CIDRs");
  if (n > limit)
    return ember_key_file_error (error, group, key, "at most %u entries, got %" G_GSIZE_FORMAT,
                                 limit, n);

  g_autofree EmberCidr *cidrs = g_new0 (EmberCidr, MAX (n, 1));
  guint used = 0;
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GError) local = NULL;
      if (*g_strstrip (items[i]) == '\0')
        continue;
      if (!ember_cidr_parse (items[i], EMBER_CIDR_PARSE_BARE | flags, &cidrs[used], &local))
        return ember_key_file_error (error, group, key, "%s", local->message);
      used++;
    }
  *out = g_steal_pointer (&cidrs);
  *n_out = used;
  return TRUE;
}
