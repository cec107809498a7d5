/* tests/net: the ember-net library — the CIDR / address parser and the
 * longest-prefix-match table, the latter against a brute-force reference
 * on seeded random tables. */
#include <string.h>

#include "net/cidr.h"
#include "net/prefix-table.h"
#include "net/token-bucket.h"

/* ---- Parser --------------------------------------------------------- */

typedef struct {
  const char *text;
  EmberCidrParseFlags flags;
  guint8 family;
  guint8 prefix;
  const char *formatted;
} Good;

static void
test_parse_accepts (void)
{
  static const Good good[] = {
    { "10.0.0.0/8", 0, 4, 8, "10.0.0.0/8" },
    { "0.0.0.0/0", 0, 4, 0, "0.0.0.0/0" },
    { "255.255.255.255/32", 0, 4, 32, "255.255.255.255/32" },
    { "192.0.2.128/25", 0, 4, 25, "192.0.2.128/25" },
    { "100.64.0.0/10", 0, 4, 10, "100.64.0.0/10" },
    { "::/0", 0, 6, 0, "::/0" },
    { "fd00::/8", 0, 6, 8, "fd00::/8" },
    { "2001:DB8::/32", 0, 6, 32, "2001:db8::/32" },
    { "2001:0db8:0000:0000:0000:0000:0000:0000/32", 0, 6, 32, "2001:db8::/32" },
    { "::1/128", 0, 6, 128, "::1/128" },
    { "::ffff:192.0.2.0/120", 0, 6, 120, "::ffff:192.0.2.0/120" },
    { "64:ff9b::/96", 0, 6, 96, "64:ff9b::/96" },
    { "1:2:3:4:5:6:7::/128", 0, 6, 128, "1:2:3:4:5:6:7:0/128" },
    { "10.0.0.1", EMBER_CIDR_PARSE_BARE, 4, 32, "10.0.0.1/32" },
    { "fd00::1", EMBER_CIDR_PARSE_BARE, 6, 128, "fd00::1/128" },
    { "10.1.2.3/8", EMBER_CIDR_PARSE_MASK_HOST_BITS, 4, 8, "10.0.0.0/8" },
    { "fd00::1/64", EMBER_CIDR_PARSE_MASK_HOST_BITS, 6, 64, "fd00::/64" },
    { "192.0.2.255/31", EMBER_CIDR_PARSE_MASK_HOST_BITS, 4, 31, "192.0.2.254/31" },
    { "10.0.0.1/24", EMBER_CIDR_PARSE_KEEP_HOST_BITS, 4, 24, "10.0.0.1/24" },
    { "fd00::1/64", EMBER_CIDR_PARSE_KEEP_HOST_BITS | EMBER_CIDR_PARSE_BARE, 6, 64,
      "fd00::1/64" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *s = NULL;
      EmberCidr c;

      g_test_message ("%s", good[i].text);
      g_assert_true (ember_cidr_parse (good[i].text, good[i].flags, &c, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (c.family, ==, good[i].family);
      g_assert_cmpuint (c.prefix, ==, good[i].prefix);
      s = ember_cidr_to_string (&c);
      g_assert_cmpstr (s, ==, good[i].formatted);
      for (guint b = good[i].family == 4 ? 4 : 16; b < 16; b++)
        g_assert_cmpuint (c.addr[b], ==, 0);
    }
}

typedef struct {
  const char *text;
  EmberCidrParseFlags flags;
  EmberNetError code;
} Bad;

static void
test_parse_refuses (void)
{
  static const Bad bad[] = {
    { "", EMBER_CIDR_PARSE_BARE, EMBER_NET_ERROR_ADDRESS },
    { "/", 0, EMBER_NET_ERROR_ADDRESS },
    { "/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "10.0.0.0/", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0", 0, EMBER_NET_ERROR_PREFIX },          /* bare, not allowed */
    { "fd00::", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/33", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/128", 0, EMBER_NET_ERROR_PREFIX },
    { "fd00::/129", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/1000", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/4294967304", 0, EMBER_NET_ERROR_PREFIX }, /* 2^32 + 8 */
    { "10.0.0.0/-1", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/+8", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/08", 0, EMBER_NET_ERROR_PREFIX },        /* octal 8 to iproute2 */
    { "10.0.0.0/0x8", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/8/8", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/8 ", 0, EMBER_NET_ERROR_PREFIX },
    { "10.0.0.0/ 8", 0, EMBER_NET_ERROR_PREFIX },
    { " 10.0.0.0/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "10.0.0.0 /8", 0, EMBER_NET_ERROR_ADDRESS },
    { "10.0.0.1 ", EMBER_CIDR_PARSE_BARE, EMBER_NET_ERROR_ADDRESS },
    { "10.0.0.0\n/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "010.0.0.0/8", 0, EMBER_NET_ERROR_ADDRESS },       /* octal 8 to inet_aton */
    { "10.0.0.00/32", 0, EMBER_NET_ERROR_ADDRESS },
    { "10.0.0.01", EMBER_CIDR_PARSE_BARE, EMBER_NET_ERROR_ADDRESS },
    { "0x0a.0.0.0/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "10/8", 0, EMBER_NET_ERROR_ADDRESS },               /* inet_aton shorthand */
    { "10.1/16", 0, EMBER_NET_ERROR_ADDRESS },
    { "1.2.3/24", 0, EMBER_NET_ERROR_ADDRESS },
    { "1.2.3.4.5/32", 0, EMBER_NET_ERROR_ADDRESS },
    { "256.0.0.0/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "1.2.3.-4/32", 0, EMBER_NET_ERROR_ADDRESS },
    { "167772160/8", 0, EMBER_NET_ERROR_ADDRESS },        /* 10.0.0.0 as one number */
    { "fe80::1%eth0/64", 0, EMBER_NET_ERROR_ADDRESS },
    { "fe80::%1/64", 0, EMBER_NET_ERROR_ADDRESS },
    { "fe80::1%eth0", EMBER_CIDR_PARSE_BARE, EMBER_NET_ERROR_ADDRESS },
    { "::ffff:01.2.3.4/128", 0, EMBER_NET_ERROR_ADDRESS },
    { "::ffff:1.2.3/128", 0, EMBER_NET_ERROR_ADDRESS },
    { "1::2::3/64", 0, EMBER_NET_ERROR_ADDRESS },
    { "12345::/16", 0, EMBER_NET_ERROR_ADDRESS },
    { "1:2:3:4:5:6:7:8:9/128", 0, EMBER_NET_ERROR_ADDRESS },
    { ":1::/16", 0, EMBER_NET_ERROR_ADDRESS },
    { "[fd00::]/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "fd00::g/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "example.com/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "localhost", EMBER_CIDR_PARSE_BARE, EMBER_NET_ERROR_ADDRESS },
    { "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb/8", 0, EMBER_NET_ERROR_ADDRESS },
    { "10.0.0.1/8", 0, EMBER_NET_ERROR_HOST_BITS },
    { "10.0.0.1/8", EMBER_CIDR_PARSE_BARE, EMBER_NET_ERROR_HOST_BITS },
    { "0.0.0.1/0", 0, EMBER_NET_ERROR_HOST_BITS },
    { "fd00::1/64", 0, EMBER_NET_ERROR_HOST_BITS },
    { "192.0.2.1/31", 0, EMBER_NET_ERROR_HOST_BITS },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      EmberCidr c, zero = { 0 };

      g_test_message ("\"%s\"", bad[i].text);
      memset (&c, 0xaa, sizeof c);
      g_assert_false (ember_cidr_parse (bad[i].text, bad[i].flags, &c, &error));
      g_assert_error (error, EMBER_NET_ERROR, (gint) bad[i].code);
      g_assert_true (ember_cidr_equal (&c, &zero));
      /* The message quotes what it refused (white space shown escaped). */
      g_assert_true (g_str_has_prefix (error->message, "\""));
      if (strchr (bad[i].text, '\n') == NULL)
        g_assert_nonnull (strstr (error->message, bad[i].text));
    }
  /* NULL error pointer and NULL text are fine too. */
  {
    EmberCidr c;
    g_assert_false (ember_cidr_parse ("nope", 0, &c, NULL));
    g_assert_false (ember_cidr_parse (NULL, EMBER_CIDR_PARSE_BARE, &c, NULL));
  }
}

static void
test_parse_messages (void)
{
  g_autoptr (GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;
  g_autofree char *junk = g_strnfill (1000, 'x');
  EmberCidr c;

  g_assert_false (ember_cidr_parse ("10.1.2.3/8", 0, &c, &e1));
  g_assert_cmpstr (e1->message, ==,
                   "\"10.1.2.3/8\": has host bits set (expected the network address, 10.0.0.0/8)");
  g_assert_false (ember_cidr_parse ("fd00::/200", 0, &c, &e2));
  g_assert_cmpstr (e2->message, ==,
                   "\"fd00::/200\": prefix length 200 is too long for an IPv6 address "
                   "(expected 0 to 128)");
  g_assert_false (ember_cidr_parse ("fe80::1%eth0/64", 0, &c, &e3));
  g_assert_nonnull (strstr (e3->message, "zone index"));
  g_assert_false (ember_cidr_parse ("10.0.0.1", 0, &c, &e4));
  g_assert_cmpstr (e4->message, ==,
                   "\"10.0.0.1\": expected ADDRESS/LENGTH with a prefix length from 0 to 32");
  /* A long input is cut in the message: one readable line. */
  g_assert_false (ember_cidr_parse (junk, 0, &c, &e5));
  g_assert_cmpuint (strlen (e5->message), <, 300);
  g_assert_nonnull (strstr (e5->message, "xxx\"...: "));
}

static void
test_cidr_round_trips_through_text (void)
{
  GRand *rand = g_rand_new_with_seed (20261206);

  for (guint i = 0; i < 2000; i++)
    {
      EmberCidr c, back;
      char buf[EMBER_CIDR_STRLEN];
      guint family = (i & 1) ? 6 : 4;
      guint8 addr[16];

      for (guint b = 0; b < 16; b++)
        addr[b] = (guint8) g_rand_int_range (rand, 0, 256);
      /* Runs of zero words exercise "::" compression. */
      if (family == 6 && g_rand_boolean (rand))
        {
          gint at = g_rand_int_range (rand, 0, 7) * 2;
          memset (addr + at, 0, (gsize) g_rand_int_range (rand, 2, 16 - at + 1));
        }
      g_assert_true (ember_cidr_init (&c, family, addr,
                                      (guint) g_rand_int_range (rand, 0, (gint) ember_addr_family_bits (family) + 1)));
      ember_cidr_mask (&c);
      ember_cidr_format (&c, buf);
      g_assert_true (ember_cidr_parse (buf, 0, &back, NULL));
      g_assert_true (ember_cidr_equal (&c, &back));
    }
  g_rand_free (rand);
}

static void
test_cidr_contains (void)
{
  static const guint8 a[4] = { 10, 7, 1, 9 }, b[4] = { 10, 7, 0, 255 };
  static const guint8 v6[16] = { 0xfd, 0x07, [15] = 1 };
  EmberCidr c;
  EmberAddr addr;

  g_assert_true (ember_cidr_parse ("10.7.0.0/24", 0, &c, NULL));
  g_assert_false (ember_cidr_contains (&c, 4, a));
  g_assert_true (ember_cidr_contains (&c, 4, b));
  g_assert_false (ember_cidr_contains (&c, 6, v6));
  g_assert_true (ember_cidr_parse ("10.7.0.0/23", 0, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 4, a));
  g_assert_true (ember_cidr_parse ("10.7.1.9/32", 0, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 4, a));
  g_assert_false (ember_cidr_contains (&c, 4, b));
  g_assert_true (ember_cidr_parse ("0.0.0.0/0", 0, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 4, a));
  g_assert_false (ember_cidr_contains (&c, 6, v6));
  g_assert_true (ember_cidr_parse ("::/0", 0, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 6, v6));
  g_assert_false (ember_cidr_contains (&c, 4, a));
  /* Host bits kept in the cidr do not change what it contains. */
  g_assert_true (ember_cidr_parse ("10.7.0.200/24", EMBER_CIDR_PARSE_KEEP_HOST_BITS, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 4, b));
  g_assert_true (ember_cidr_parse ("fd07::/127", 0, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 6, v6));
  g_assert_true (ember_addr_parse ("fd07::2", &addr, NULL));
  g_assert_false (ember_cidr_contains_addr (&c, &addr));
  /* IPv4-mapped IPv6 is IPv6: an IPv4 prefix does not contain it. */
  g_assert_true (ember_cidr_parse ("10.0.0.0/8", 0, &c, NULL));
  g_assert_true (ember_addr_parse ("::ffff:10.0.0.1", &addr, NULL));
  g_assert_cmpuint (addr.family, ==, EMBER_ADDR_IPV6);
  g_assert_false (ember_cidr_contains_addr (&c, &addr));
}

static void
test_cidr_helpers (void)
{
  static const guint8 raw[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, [15] = 7 };
  EmberCidr a, b;
  char buf[EMBER_CIDR_STRLEN];

  g_assert_cmpuint (ember_addr_family_bits (EMBER_ADDR_IPV4), ==, 32);
  g_assert_cmpuint (ember_addr_family_bits (EMBER_ADDR_IPV6), ==, 128);
  g_assert_cmpuint (ember_addr_family_bits (EMBER_ADDR_NONE), ==, 0);
  g_assert_cmpuint (ember_addr_family_bits (5), ==, 0);

  g_assert_true (ember_cidr_init (&a, 6, raw, 40));
  g_assert_true (ember_cidr_has_host_bits (&a));
  g_assert_cmpstr (ember_cidr_format (&a, buf), ==, "2001:db8:ff00::7/40");
  b = a;
  ember_cidr_mask (&b);
  g_assert_false (ember_cidr_has_host_bits (&b));
  g_assert_false (ember_cidr_equal (&a, &b));
  g_assert_cmpstr (ember_cidr_format (&b, buf), ==, "2001:db8:ff00::/40");
  g_assert_true (ember_cidr_parse ("2001:db8:ff00::/40", 0, &a, NULL));
  g_assert_true (ember_cidr_equal (&a, &b));
  a.prefix = 41;
  g_assert_false (ember_cidr_equal (&a, &b));
  g_assert_true (ember_cidr_init (&a, 4, raw, 32));
  g_assert_cmpstr (ember_cidr_format (&a, buf), ==, "32.1.13.184/32");
  g_assert_false (ember_cidr_init (&a, 4, raw, 33));
  g_assert_false (ember_cidr_init (&a, 6, raw, 129));
  g_assert_false (ember_cidr_init (&a, 5, raw, 8));
  g_assert_cmpstr (ember_cidr_format (&a, buf), ==, "invalid");
  /* covers: a prefix and every longer one inside it, nothing else. */
  g_assert_true (ember_cidr_parse ("10.0.0.0/8", 0, &a, NULL));
  g_assert_true (ember_cidr_parse ("10.1.2.0/24", 0, &b, NULL));
  g_assert_true (ember_cidr_covers (&a, &b));
  g_assert_false (ember_cidr_covers (&b, &a));
  g_assert_true (ember_cidr_covers (&a, &a));
  g_assert_true (ember_cidr_parse ("11.1.2.0/24", 0, &b, NULL));
  g_assert_false (ember_cidr_covers (&a, &b));
  g_assert_true (ember_cidr_parse ("0.0.0.0/0", 0, &a, NULL));
  g_assert_true (ember_cidr_covers (&a, &b));
  g_assert_true (ember_cidr_parse ("::/0", 0, &a, NULL));
  g_assert_false (ember_cidr_covers (&a, &b));
  g_assert_true (ember_cidr_parse ("10.1.2.7/24", EMBER_CIDR_PARSE_KEEP_HOST_BITS, &a, NULL));
  g_assert_true (ember_cidr_parse ("10.1.2.128/25", 0, &b, NULL));
  g_assert_true (ember_cidr_covers (&a, &b));
  /* Same prefix in two families is not equal. */
  g_assert_true (ember_cidr_parse ("0.0.0.0/0", 0, &a, NULL));
  g_assert_true (ember_cidr_parse ("::/0", 0, &b, NULL));
  g_assert_false (ember_cidr_equal (&a, &b));
}

static void
test_addr_parse (void)
{
  static const char *const refused[] = {
    "", "10.0.0.1/32", "fe80::1%eth0", "010.0.0.1", " 10.0.0.1", "10.0.0.1 ", "::1/128",
    "1.2.3", "host.example", "[::1]", "::1:", NULL,
  };
  char buf[EMBER_ADDR_STRLEN];
  EmberAddr a;

  g_assert_true (ember_addr_parse ("192.0.2.1", &a, NULL));
  g_assert_cmpuint (a.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (a.port, ==, 0);
  g_assert_cmpuint (a.scope_id, ==, 0);
  g_assert_cmpstr (ember_addr_format (&a, buf), ==, "192.0.2.1");
  g_assert_true (ember_addr_parse ("2001:DB8:0:0::1", &a, NULL));
  g_assert_cmpuint (a.family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpstr (ember_addr_format (&a, buf), ==, "2001:db8::1");
  g_assert_true (ember_addr_parse ("::ffff:192.0.2.1", &a, NULL));
  g_assert_cmpstr (ember_addr_format (&a, buf), ==, "::ffff:192.0.2.1");

  for (guint i = 0; refused[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      g_test_message ("\"%s\"", refused[i]);
      g_assert_false (ember_addr_parse (refused[i], &a, &error));
      g_assert_error (error, EMBER_NET_ERROR, EMBER_NET_ERROR_ADDRESS);
      g_assert_cmpuint (a.family, ==, EMBER_ADDR_NONE);
    }
  a.family = 0;
  g_assert_cmpstr (ember_addr_format (&a, buf), ==, "invalid");
}

static void
test_addr_port (void)
{
  static const struct {
    const char *text;
    EmberNetError code;
  } refused[] = {
    { "", EMBER_NET_ERROR_ADDRESS },
    { "192.0.2.1", EMBER_NET_ERROR_ADDRESS },
    { "192.0.2.1:", EMBER_NET_ERROR_PORT },
    { "192.0.2.1:0", EMBER_NET_ERROR_PORT },
    { "192.0.2.1:65536", EMBER_NET_ERROR_PORT },
    { "192.0.2.1:123456", EMBER_NET_ERROR_PORT },
    { "192.0.2.1:03478", EMBER_NET_ERROR_PORT },
    { "192.0.2.1:+3478", EMBER_NET_ERROR_PORT },
    { "192.0.2.1:3478 ", EMBER_NET_ERROR_PORT },
    { "192.0.2.1:34a", EMBER_NET_ERROR_PORT },
    { " 192.0.2.1:3478", EMBER_NET_ERROR_ADDRESS },
    { "192.0.2.1:3478:1", EMBER_NET_ERROR_ADDRESS },
    { "2001:db8::1:3478", EMBER_NET_ERROR_ADDRESS },   /* IPv6 needs brackets */
    { "[2001:db8::1]", EMBER_NET_ERROR_ADDRESS },
    { "[2001:db8::1]3478", EMBER_NET_ERROR_ADDRESS },
    { "[192.0.2.1]:3478", EMBER_NET_ERROR_ADDRESS },   /* brackets only for IPv6 */
    { "[fe80::1%eth0]:3478", EMBER_NET_ERROR_ADDRESS },
    { "[2001:db8::1:3478", EMBER_NET_ERROR_ADDRESS },
    { "relay.example:3478", EMBER_NET_ERROR_ADDRESS },
    { "010.0.0.1:3478", EMBER_NET_ERROR_ADDRESS },
  };
  char buf[EMBER_ADDR_PORT_STRLEN];
  EmberAddr a;

  g_assert_true (ember_addr_parse_port ("192.0.2.1:3478", &a, NULL));
  g_assert_cmpuint (a.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (a.port, ==, 3478);
  g_assert_cmpstr (ember_addr_format_port (&a, buf), ==, "192.0.2.1:3478");
  g_assert_true (ember_addr_parse_port ("[2001:DB8::1]:65535", &a, NULL));
  g_assert_cmpuint (a.family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpuint (a.port, ==, 65535);
  g_assert_cmpstr (ember_addr_format_port (&a, buf), ==, "[2001:db8::1]:65535");
  g_assert_true (ember_addr_parse_port ("[::ffff:192.0.2.1]:1", &a, NULL));
  g_assert_cmpstr (ember_addr_format_port (&a, buf), ==, "[::ffff:192.0.2.1]:1");
  a.family = EMBER_ADDR_NONE;
  g_assert_cmpstr (ember_addr_format_port (&a, buf), ==, "invalid");

  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr (GError) error = NULL;
      g_test_message ("\"%s\"", refused[i].text);
      g_assert_false (ember_addr_parse_port (refused[i].text, &a, &error));
      g_assert_error (error, EMBER_NET_ERROR, (gint) refused[i].code);
      g_assert_cmpuint (a.family, ==, EMBER_ADDR_NONE);
      g_assert_cmpuint (a.port, ==, 0);
    }
}

/* ---- Prefix table --------------------------------------------------- */

static EmberCidr
cidr (const char *text)
{
  EmberCidr c;
  g_assert_true (ember_cidr_parse (text, EMBER_CIDR_PARSE_BARE | EMBER_CIDR_PARSE_KEEP_HOST_BITS, &c, NULL));
  return c;
}

static gpointer
lookup (const EmberPrefixTable *t, const char *text)
{
  EmberAddr a;
  g_assert_true (ember_addr_parse (text, &a, NULL));
  return ember_prefix_table_lookup_addr (t, &a, NULL);
}

#define V(n) GUINT_TO_POINTER (n)

static void
test_table_overlapping_prefixes (void)
{
  g_autoptr (EmberPrefixTable) t = ember_prefix_table_new ();
  EmberCidr c = cidr ("10.1.0.0/16"), m;
  EmberAddr a;

  g_assert_null (lookup (t, "10.1.2.3"));
  g_assert_null (ember_prefix_table_insert (t, &c, V (2)));
  c = cidr ("10.0.0.0/8");
  g_assert_null (ember_prefix_table_insert (t, &c, V (1)));
  c = cidr ("10.1.2.3");
  g_assert_null (ember_prefix_table_insert (t, &c, V (3)));
  c = cidr ("10.1.2.0/24");
  g_assert_null (ember_prefix_table_insert (t, &c, V (4)));
  g_assert_cmpuint (ember_prefix_table_size (t), ==, 4);

  g_assert_true (lookup (t, "10.9.9.9") == V (1));
  g_assert_true (lookup (t, "10.1.9.9") == V (2));
  g_assert_true (lookup (t, "10.1.2.3") == V (3));
  g_assert_true (lookup (t, "10.1.2.4") == V (4));
  g_assert_null (lookup (t, "11.0.0.1"));
  g_assert_null (lookup (t, "9.255.255.255"));

  /* The matched prefix comes back when asked for. */
  g_assert_true (ember_addr_parse ("10.1.2.200", &a, NULL));
  g_assert_true (ember_prefix_table_lookup_addr (t, &a, &m) == V (4));
  c = cidr ("10.1.2.0/24");
  g_assert_true (ember_cidr_equal (&m, &c));
  g_assert_true (ember_addr_parse ("11.0.0.1", &a, NULL));
  memset (&m, 0xaa, sizeof m);
  g_assert_null (ember_prefix_table_lookup_addr (t, &a, &m));
  g_assert_cmpuint (m.family, ==, 0);

  /* A default route under everything. */
  c = cidr ("0.0.0.0/0");
  g_assert_null (ember_prefix_table_insert (t, &c, V (5)));
  g_assert_true (lookup (t, "11.0.0.1") == V (5));
  g_assert_true (lookup (t, "10.1.2.3") == V (3));

  /* Equal prefix: replaced, old value returned, size unchanged. */
  c = cidr ("10.1.0.0/16");
  g_assert_true (ember_prefix_table_insert (t, &c, V (6)) == V (2));
  g_assert_true (lookup (t, "10.1.9.9") == V (6));
  g_assert_cmpuint (ember_prefix_table_size (t), ==, 5);

  /* Host bits of an inserted prefix are ignored. */
  c = cidr ("10.1.77.77/16");
  g_assert_true (ember_prefix_table_get (t, &c) == V (6));
  g_assert_true (ember_prefix_table_insert (t, &c, V (2)) == V (6));
  g_assert_cmpuint (ember_prefix_table_size (t), ==, 5);
}

static void
test_table_remove (void)
{
  g_autoptr (EmberPrefixTable) t = ember_prefix_table_new ();
  const char *const prefixes[] = { "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.3.0/24",
                                   "10.1.2.3/32", NULL };
  EmberCidr c;

  for (guint i = 0; prefixes[i] != NULL; i++)
    {
      c = cidr (prefixes[i]);
      ember_prefix_table_insert (t, &c, V (i + 1));
    }
  /* Removing a prefix uncovers the next shorter one. */
  c = cidr ("10.1.2.0/24");
  g_assert_true (ember_prefix_table_remove (t, &c) == V (3));
  g_assert_true (lookup (t, "10.1.2.4") == V (2));
  g_assert_true (lookup (t, "10.1.2.3") == V (5));
  g_assert_true (lookup (t, "10.1.3.3") == V (4));
  g_assert_null (ember_prefix_table_get (t, &c));
  g_assert_null (ember_prefix_table_remove (t, &c));
  /* Absent prefixes, longer or shorter than present ones. */
  c = cidr ("10.1.2.3/31");
  g_assert_null (ember_prefix_table_remove (t, &c));
  c = cidr ("10.0.0.0/7");
  g_assert_null (ember_prefix_table_remove (t, &c));
  c = cidr ("::/0");
  g_assert_null (ember_prefix_table_remove (t, &c));
  g_assert_cmpuint (ember_prefix_table_size (t), ==, 4);

  c = cidr ("10.1.0.0/16");
  g_assert_true (ember_prefix_table_remove (t, &c) == V (2));
  g_assert_true (lookup (t, "10.1.2.4") == V (1));
  g_assert_true (lookup (t, "10.1.2.3") == V (5));
  c = cidr ("10.0.0.0/8");
  g_assert_true (ember_prefix_table_remove (t, &c) == V (1));
  g_assert_null (lookup (t, "10.1.2.4"));
  g_assert_true (lookup (t, "10.1.3.4") == V (4));

  /* By value: every prefix of a peer going away. */
  c = cidr ("fd00::/8");
  ember_prefix_table_insert (t, &c, V (4));
  g_assert_cmpuint (ember_prefix_table_remove_value (t, V (4)), ==, 2);
  g_assert_null (lookup (t, "10.1.3.4"));
  g_assert_null (lookup (t, "fd00::1"));
  g_assert_cmpuint (ember_prefix_table_remove_value (t, V (4)), ==, 0);
  g_assert_cmpuint (ember_prefix_table_size (t), ==, 1);
  c = cidr ("10.1.2.3");
  g_assert_true (ember_prefix_table_remove (t, &c) == V (5));
  g_assert_cmpuint (ember_prefix_table_size (t), ==, 0);
  g_assert_null (lookup (t, "10.1.2.3"));
}

static void
test_table_families_apart (void)
{
  g_autoptr (EmberPrefixTable) t = ember_prefix_table_new ();
  static const guint8 zeros[16] = { 0 };
  EmberCidr c = cidr ("0.0.0.0/0");

  ember_prefix_table_insert (t, &c, V (4));
  g_assert_null (lookup (t, "::"));
  g_assert_null (lookup (t, "::ffff:10.0.0.1"));
  g_assert_true (lookup (t, "0.0.0.0") == V (4));
  c = cidr ("::/0");
  g_assert_null (ember_prefix_table_insert (t, &c, V (6)));
  g_assert_true (lookup (t, "::") == V (6));
  g_assert_true (lookup (t, "0.0.0.0") == V (4));
  c = cidr ("::ffff:10.0.0.0/104");
  ember_prefix_table_insert (t, &c, V (7));
  g_assert_true (lookup (t, "::ffff:10.0.0.1") == V (7));
  g_assert_true (lookup (t, "10.0.0.1") == V (4));
  /* Another family: nothing, and no reading past the address. */
  g_assert_null (ember_prefix_table_lookup (t, EMBER_ADDR_NONE, zeros, NULL));
  g_assert_null (ember_prefix_table_lookup (t, 5, zeros, NULL));
  c = cidr ("0.0.0.0/0");
  g_assert_true (ember_prefix_table_remove (t, &c) == V (4));
  g_assert_true (lookup (t, "::") == V (6));
  g_assert_null (lookup (t, "0.0.0.0"));
}

typedef struct {
  GString *out;
  guint stop_after;
} Walk;

static gboolean
walk_cb (const EmberCidr *c, gpointer value, gpointer user_data)
{
  Walk *w = user_data;
  char buf[EMBER_CIDR_STRLEN];
  g_string_append_printf (w->out, "%s=%u ", ember_cidr_format (c, buf), GPOINTER_TO_UINT (value));
  return --w->stop_after > 0;
}

static void
test_table_foreach_in_order (void)
{
  g_autoptr (EmberPrefixTable) t = ember_prefix_table_new ();
  const char *const prefixes[] = { "fd00::/8", "10.1.0.0/16", "0.0.0.0/0", "10.0.0.0/8",
                                   "192.168.0.0/16", "::/0", "10.1.0.0/24", "9.0.0.0/8", NULL };
  Walk w = { g_string_new (NULL), 100 };

  for (guint i = 0; prefixes[i] != NULL; i++)
    {
      EmberCidr c = cidr (prefixes[i]);
      ember_prefix_table_insert (t, &c, V (i + 1));
    }
  ember_prefix_table_foreach (t, walk_cb, &w);
  g_assert_cmpstr (w.out->str, ==,
                   "0.0.0.0/0=3 9.0.0.0/8=8 10.0.0.0/8=4 10.1.0.0/16=2 10.1.0.0/24=7 "
                   "192.168.0.0/16=5 ::/0=6 fd00::/8=1 ");
  g_string_truncate (w.out, 0);
  w.stop_after = 3;
  ember_prefix_table_foreach (t, walk_cb, &w);
  g_assert_cmpstr (w.out->str, ==, "0.0.0.0/0=3 9.0.0.0/8=8 10.0.0.0/8=4 ");
  g_string_free (w.out, TRUE);
}

/* Brute-force reference: a list of (masked prefix, value). */
typedef struct {
  EmberCidr cidr;
  gpointer value;
} Entry;

static gpointer
reference_lookup (GArray *ref, guint family, const guint8 *addr)
{
  gpointer best = NULL;
  gint best_len = -1;

  for (guint i = 0; i < ref->len; i++)
    {
      Entry *e = &g_array_index (ref, Entry, i);
      if (ember_cidr_contains (&e->cidr, family, addr) && (gint) e->cidr.prefix > best_len)
        {
          best = e->value;
          best_len = e->cidr.prefix;
        }
    }
  return best;
}

static gint
reference_find (GArray *ref, const EmberCidr *c)
{
  for (guint i = 0; i < ref->len; i++)
    if (ember_cidr_equal (&g_array_index (ref, Entry, i).cidr, c))
      return (gint) i;
  return -1;
}

/* Addresses clustered around a few bases so prefixes nest and overlap. */
static void
random_addr (GRand *r, guint family, guint8 addr[16])
{
  static const guint8 bases[4][16] = {
    { 10, 0, 0, 0 }, { 192, 168, 1, 0 }, { 0xfd, 0x00, 0xab, 0xcd }, { 0x20, 0x01, 0x0d, 0xb8 },
  };
  guint len = family == 4 ? 4 : 16;

  memcpy (addr, bases[g_rand_int_range (r, 0, 4)], 16);
  for (guint i = 0; i < len; i++)
    if (g_rand_int_range (r, 0, 4) == 0)
      addr[i] = (guint8) g_rand_int_range (r, 0, 256);
  if (len == 4)
    memset (addr + 4, 0, 12);
}

static void
check_against_reference (const EmberPrefixTable *t, GArray *ref, GRand *r, guint probes)
{
  for (guint i = 0; i < probes; i++)
    {
      guint family = g_rand_boolean (r) ? 4 : 6;
      guint8 addr[16];
      EmberCidr m;
      gpointer v;

      random_addr (r, family, addr);
      v = ember_prefix_table_lookup (t, family, addr, &m);
      g_assert_true (v == reference_lookup (ref, family, addr));
      if (v != NULL)
        {
          g_assert_true (ember_cidr_contains (&m, family, addr));
          g_assert_true (ember_prefix_table_get (t, &m) == v);
        }
    }
  g_assert_cmpuint (ember_prefix_table_size (t), ==, ref->len);
}

static void
test_table_matches_brute_force (void)
{
  for (guint32 seed = 1; seed <= 20; seed++)
    {
      g_autoptr (EmberPrefixTable) t = ember_prefix_table_new ();
      g_autoptr (GArray) ref = g_array_new (FALSE, FALSE, sizeof (Entry));
      GRand *r = g_rand_new_with_seed (seed);

      for (guint step = 0; step < 400; step++)
        {
          guint op = (guint) g_rand_int_range (r, 0, 100);
          guint family = g_rand_boolean (r) ? 4 : 6;
          guint8 addr[16];
          Entry e;
          gint at;

          random_addr (r, family, addr);
          /* Lengths cluster at the bounds, where off-by-ones hide. */
          guint bits = ember_addr_family_bits (family);
          guint len = g_rand_int_range (r, 0, 4) == 0
                        ? (g_rand_boolean (r) ? bits - (guint) g_rand_int_range (r, 0, 2)
                                              : (guint) g_rand_int_range (r, 0, 2))
                        : (guint) g_rand_int_range (r, 0, (gint) bits + 1);
          g_assert_true (ember_cidr_init (&e.cidr, family, addr, len));
          if (op < 65)
            {
              /* Host bits go in unmasked: the table must ignore them. */
              e.value = V (g_rand_int_range (r, 1, 9));
              gpointer old = ember_prefix_table_insert (t, &e.cidr, e.value);
              ember_cidr_mask (&e.cidr);
              at = reference_find (ref, &e.cidr);
              if (at >= 0)
                {
                  g_assert_true (old == g_array_index (ref, Entry, at).value);
                  g_array_index (ref, Entry, at).value = e.value;
                }
              else
                {
                  g_assert_null (old);
                  g_array_append_val (ref, e);
                }
            }
          else if (op < 90 && ref->len > 0)
            {
              at = g_rand_int_range (r, 0, (gint) ref->len);
              e = g_array_index (ref, Entry, at);
              g_assert_true (ember_prefix_table_remove (t, &e.cidr) == e.value);
              g_array_remove_index_fast (ref, (guint) at);
            }
          else if (op < 97)
            {
              /* Probably absent; if present it goes like any other. */
              ember_cidr_mask (&e.cidr);
              at = reference_find (ref, &e.cidr);
              gpointer v = ember_prefix_table_remove (t, &e.cidr);
              g_assert_true (v == (at >= 0 ? g_array_index (ref, Entry, at).value : NULL));
              if (at >= 0)
                g_array_remove_index_fast (ref, (guint) at);
            }
          else
            {
              gpointer v = V (g_rand_int_range (r, 1, 9));
              guint n = 0;
              for (guint i = ref->len; i-- > 0;)
                if (g_array_index (ref, Entry, i).value == v)
                  {
                    g_array_remove_index_fast (ref, i);
                    n++;
                  }
              g_assert_cmpuint (ember_prefix_table_remove_value (t, v), ==, n);
            }
          check_against_reference (t, ref, r, 20);
        }
      /* Every prefix still present is found exactly and in order. */
      for (guint i = 0; i < ref->len; i++)
        {
          Entry *e = &g_array_index (ref, Entry, i);
          g_assert_true (ember_prefix_table_get (t, &e->cidr) == e->value);
        }
      check_against_reference (t, ref, r, 2000);
      g_rand_free (r);
    }
}

/* ---- token bucket ------------------------------------------------------ */

static guint
spend_all (EmberTokenBucket *b, gint64 now)
{
  guint n = 0;
  while (ember_token_bucket_ready (b, now) && n < 1000)
    {
      ember_token_bucket_spend (b);
      n++;
    }
  return n;
}

static void
test_bucket_burst_then_rate (void)
{
  EmberTokenBucket b;
  const gint64 t0 = 1000 * G_TIME_SPAN_SECOND;

  ember_token_bucket_init (&b, 2, 5, t0);
  g_assert_cmpuint (spend_all (&b, t0), ==, 5);
  /* 2 per second: nothing after 0.4 s, one after 0.5 s, two more after 1.5 s. */
  g_assert_false (ember_token_bucket_ready (&b, t0 + 400 * G_TIME_SPAN_MILLISECOND));
  g_assert_cmpuint (spend_all (&b, t0 + 500 * G_TIME_SPAN_MILLISECOND), ==, 1);
  g_assert_cmpuint (spend_all (&b, t0 + 1500 * G_TIME_SPAN_MILLISECOND), ==, 2);
  /* A long pause refills up to the burst, not beyond. */
  g_assert_cmpuint (spend_all (&b, t0 + 3600 * G_TIME_SPAN_SECOND), ==, 5);
}

static void
test_bucket_clock_step_back (void)
{
  EmberTokenBucket b;
  const gint64 t0 = 1000 * G_TIME_SPAN_SECOND;

  ember_token_bucket_init (&b, 1, 1, t0);
  g_assert_cmpuint (spend_all (&b, t0), ==, 1);
  /* A clock that went back gives nothing, and the time it "lost" is not
   * credited when it comes forward again. */
  g_assert_false (ember_token_bucket_ready (&b, t0 - 10 * G_TIME_SPAN_SECOND));
  g_assert_false (ember_token_bucket_ready (&b, t0 + 900 * G_TIME_SPAN_MILLISECOND));
  g_assert_true (ember_token_bucket_ready (&b, t0 + G_TIME_SPAN_SECOND));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/net/cidr/parse/accepts-every-valid-form", test_parse_accepts);
  g_test_add_func ("/net/cidr/parse/refuses-every-odd-form", test_parse_refuses);
  g_test_add_func ("/net/cidr/parse/errors-name-the-text-and-what-was-expected",
                   test_parse_messages);
  g_test_add_func ("/net/cidr/format/round-trips-through-parse", test_cidr_round_trips_through_text);
  g_test_add_func ("/net/cidr/contains/matches-only-its-prefix-and-family", test_cidr_contains);
  g_test_add_func ("/net/cidr/helpers/mask-covers-equal-init-family", test_cidr_helpers);
  g_test_add_func ("/net/addr/parse/accepts-addresses-and-refuses-the-rest", test_addr_parse);
  g_test_add_func ("/net/addr/parse-port/accepts-transport-addresses-and-refuses-the-rest",
                   test_addr_port);
  g_test_add_func ("/net/prefix-table/lookup/longest-of-overlapping-prefixes",
                   test_table_overlapping_prefixes);
  g_test_add_func ("/net/prefix-table/remove/uncovers-the-next-shorter-prefix",
                   test_table_remove);
  g_test_add_func ("/net/prefix-table/lookup/keeps-ipv4-and-ipv6-apart", test_table_families_apart);
  g_test_add_func ("/net/prefix-table/foreach/walks-in-address-order", test_table_foreach_in_order);
  g_test_add_func ("/net/token-bucket/gives-the-burst-then-the-rate", test_bucket_burst_then_rate);
  g_test_add_func ("/net/token-bucket/a-clock-stepping-back-refills-nothing",
                   test_bucket_clock_step_back);
  g_test_add_func ("/net/prefix-table/lookup/matches-brute-force-on-random-tables",
                   test_table_matches_brute_force);
  return g_test_run ();
}
