/* Fuzz the CIDR and address parser: the first byte picks the flags, the
 * rest is the text. Whatever parses must format to text that parses back
 * to the same value (parse -> to_string -> parse), must contain its own
 * network address, and a table holding it must find it again; whatever
 * is refused must come with an EMBER_NET_ERROR and a zeroed result. The
 * address and address:port parsers get the same text and the same
 * round-trip check. */
#include <string.h>

#include "net/cidr.h"
#include "net/prefix-table.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  static const EmberCidrParseFlags host_modes[] = {
    EMBER_CIDR_PARSE_STRICT, EMBER_CIDR_PARSE_MASK_HOST_BITS, EMBER_CIDR_PARSE_KEEP_HOST_BITS,
    EMBER_CIDR_PARSE_STRICT,
  };
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  EmberCidrParseFlags flags;
  EmberCidr c, back, zero = { 0 };
  EmberAddr a;

  if (size < 1)
    return 0;
  flags = host_modes[data[0] & 3] | ((data[0] & 4) ? EMBER_CIDR_PARSE_BARE : 0);
  text = g_strndup ((const char *) data + 1, size - 1);

  if (!ember_cidr_parse (text, flags, &c, &error))
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == EMBER_NET_ERROR);
      g_assert_true (ember_cidr_equal (&c, &zero));
    }
  else
    {
      g_autofree char *s = ember_cidr_to_string (&c);
      g_autoptr (EmberPrefixTable) t = ember_prefix_table_new ();
      EmberCidr net = c;

      g_assert_no_error (error);
      g_assert_true (c.family == EMBER_ADDR_IPV4 || c.family == EMBER_ADDR_IPV6);
      g_assert_cmpuint (c.prefix, <=, ember_addr_family_bits (c.family));
      if (!(flags & EMBER_CIDR_PARSE_KEEP_HOST_BITS))
        g_assert_false (ember_cidr_has_host_bits (&c));
      g_assert_true (ember_cidr_parse (s, EMBER_CIDR_PARSE_KEEP_HOST_BITS, &back, NULL));
      g_assert_true (ember_cidr_equal (&c, &back));

      ember_cidr_mask (&net);
      g_assert_true (ember_cidr_contains (&c, c.family, net.addr));
      g_assert_true (ember_cidr_contains (&c, c.family, c.addr));
      g_assert_null (ember_prefix_table_insert (t, &c, GUINT_TO_POINTER (1)));
      g_assert_true (ember_prefix_table_lookup (t, c.family, c.addr, &back) == GUINT_TO_POINTER (1));
      g_assert_true (ember_cidr_equal (&back, &net));
    }

  /* The address parser agrees with the CIDR parser on bare addresses. */
  g_clear_error (&error);
  if (ember_addr_parse (text, &a, &error))
    {
      char buf[EMBER_ADDR_STRLEN];
      EmberAddr again;
      g_assert_true (ember_cidr_parse (text, EMBER_CIDR_PARSE_BARE, &c, NULL));
      g_assert_cmpmem (a.addr, 16, c.addr, 16);
      g_assert_true (ember_addr_parse (ember_addr_format (&a, buf), &again, NULL));
      g_assert_cmpmem (&a, sizeof a, &again, sizeof again);
    }
  else
    g_assert_true (error->domain == EMBER_NET_ERROR);

  /* And the transport-address parser round-trips too. */
  g_clear_error (&error);
  if (ember_addr_parse_port (text, &a, &error))
    {
      char buf[EMBER_ADDR_PORT_STRLEN];
      EmberAddr again;
      g_assert_cmpuint (a.port, >, 0);
      g_assert_true (ember_addr_parse_port (ember_addr_format_port (&a, buf), &again, NULL));
      g_assert_cmpmem (&a, sizeof a, &again, sizeof again);
    }
  else
    g_assert_true (error->domain == EMBER_NET_ERROR);
  return 0;
}
