/* Fuzz the DNS upstream plugins' text parsers (plugins/dns/common/
 * config.c): the first byte picks the parser, the rest is the text.
 *   even: resolv.conf text. Every server found has a family, the port
 *         asked for, a scope only when IPv6, and no two are equal.
 *   odd:  one `upstreams` entry (the second bit: names allowed). What
 *         parses formats back to "[ADDR]:PORT#NAME" text that parses to
 *         the same upstream; what is refused carries a config error and
 *         leaves no name behind. */
#include <string.h>

#include "shell.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  if (size < 1)
    return 0;
  g_autofree char *text = g_strndup ((const char *) data + 1, size - 1);
  if ((data[0] & 1) == 0)
    {
      EmberAddr out[DNS_MAX_UPSTREAMS];
      guint16 port = (guint16) (data[0] << 4 | 53);
      guint n = dns_resolv_conf_parse (text, port, out, DNS_MAX_UPSTREAMS);
      g_assert_cmpuint (n, <=, DNS_MAX_UPSTREAMS);
      for (guint i = 0; i < n; i++)
        {
          g_assert_true (out[i].family == EMBER_ADDR_IPV4 || out[i].family == EMBER_ADDR_IPV6);
          g_assert_cmpuint (out[i].port, ==, port);
          g_assert_true (out[i].family == EMBER_ADDR_IPV6 || out[i].scope_id == 0);
          for (guint k = 0; k < i; k++)
            g_assert_false (dns_addr_eq (&out[i], &out[k]));
        }
      return 0;
    }

  gboolean allow_name = (data[0] & 2) != 0;
  DnsUpstream u, back;
  g_autoptr (GError) error = NULL;
  if (!dns_upstream_parse (text, 853, allow_name, &u, &error))
    {
      g_assert_true (g_error_matches (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG));
      g_assert_null (u.name);
      return 0;
    }
  g_assert_true (allow_name || u.name == NULL);
  g_assert_cmpuint (u.addr.port, !=, 0);
  char addr[EMBER_ADDR_PORT_STRLEN];
  g_autofree char *again = g_strdup_printf ("%s%s%s", dns_addr_format (&u.addr, addr, sizeof addr),
                                            u.name != NULL ? "#" : "",
                                            u.name != NULL ? u.name : "");
  g_assert_true (dns_upstream_parse (again, 1, allow_name, &back, NULL));
  g_assert_true (dns_addr_eq (&u.addr, &back.addr));
  g_assert_cmpstr (u.name, ==, back.name);
  g_free (u.name);
  g_free (back.name);
  return 0;
}
