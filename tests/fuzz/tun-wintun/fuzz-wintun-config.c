/* Fuzz the tun-wintun configuration: the input is the body of its group.
 * A group that parses must hold values in range (MTU, a power-of-two
 * ring size in Wintun's limits, at most the maximum of addresses and
 * routes, a GUID that formats and parses back to itself); a refused one
 * must come with an EMBER_PLUGIN_ERROR_CONFIG naming the group. The raw
 * input is also tried as a GUID, which must round-trip when it parses. */
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autofree char *body = g_strndup ((const char *) data, size);
  g_autofree char *text = g_strconcat ("[tun-wintun]\n", body, "\n", NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  char buf[WINTUN_GUID_STRLEN];
  WintunGuid g, back;
  WintunConfig c;

  if (wintun_guid_parse (body, &g))
    {
      g_assert_true (wintun_guid_parse (wintun_guid_format (&g, buf), &back));
      g_assert_true (memcmp (&g, &back, sizeof g) == 0);
    }

  if (!g_key_file_load_from_data (kf, text, (gsize) -1, G_KEY_FILE_NONE, NULL))
    return 0;
  if (!wintun_config_parse (kf, "tun-wintun", &c, &error))
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == EMBER_PLUGIN_ERROR);
      g_assert_cmpint (error->code, ==, EMBER_PLUGIN_ERROR_CONFIG);
      g_assert_true (g_str_has_prefix (error->message, "[tun-wintun] "));
      g_assert_null (c.name);
      return 0;
    }
  g_assert_cmpuint (c.mtu, >=, WINTUN_MIN_MTU);
  g_assert_cmpuint (c.mtu, <=, WINTUN_MAX_MTU);
  g_assert_cmpuint (c.ring_size, >=, WINTUN_MIN_RING_CAPACITY);
  g_assert_cmpuint (c.ring_size, <=, WINTUN_MAX_RING_CAPACITY);
  g_assert_cmpuint (c.ring_size & (c.ring_size - 1), ==, 0);
  g_assert_cmpuint (c.n_addresses, <=, WINTUN_MAX_ADDRESSES);
  g_assert_cmpuint (c.n_routes, <=, WINTUN_MAX_ROUTES);
  g_assert_true (g_utf8_validate (c.name, -1, NULL));
  g_assert_cmpuint (g_utf8_strlen (c.name, -1), <=, WINTUN_NAME_MAX);
  for (guint i = 0; i < c.n_routes; i++)
    g_assert_false (ember_cidr_has_host_bits (&c.routes[i]));
  g_assert_true (wintun_guid_parse (wintun_guid_format (&c.guid, buf), &back));
  g_assert_true (memcmp (&c.guid, &back, sizeof back) == 0);
  if (c.dll != NULL)
    g_assert_true (g_path_is_absolute (c.dll));
  wintun_config_clear (&c);
  return 0;
}
