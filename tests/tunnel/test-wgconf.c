/* The WireGuard configuration parser: the wg-quick format, and an error
 * naming the line for every kind of mistake. */
#include <string.h>

#include "tunnel/wgconf.h"

#define PRIV "mJlL1vP1Y5LnfYnwN9F/Bu26+s5dMCQE14oA8GlNCFs="
#define PUB1 "wArv92F7EUfKxbglM/2rjDm1+6WL9szoeFO2qbKTsnU="
#define PUB2 "Xn7TVTi2IlW2WCOhcP5hQR4nIPGnGM1vq+7QOZ0YiCI="
#define PSK "k8eX6qOxafV2HGKr11/akpkQoOyJEnB8C9hnAqf8tGs="

static const char good[] =
  "# an example\n"
  "[Interface]\n"
  "PrivateKey = " PRIV "\n"
  "ListenPort = 51820\n"
  "Address = 10.7.0.1/24, fd07::1/64\n"
  "Address = 10.8.0.1\n"
  "MTU = 1420\n"
  "\n"
  "[Peer]\n"
  "PublicKey = " PUB1 "\n"
  "PresharedKey = " PSK "\n"
  "AllowedIPs = 10.7.0.2/32, fd07::2/128\n"
  "Endpoint = 192.0.2.7:51820\n"
  "PersistentKeepalive = 25\n"
  "[peer]\n"
  "publickey = " PUB2 "   # trailing comment\n"
  "AllowedIPs = 0.0.0.0/0\n"
  "Endpoint = [2001:db8::7]:4500\n";

static void
test_good (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberWgConf) c = ember_wgconf_parse (good, "wg0.conf", &error);
  EmberWgConfPeer *p;
  guint8 expect[32];
  g_autofree char *cidr = NULL;

  g_assert_no_error (error);
  g_assert_true (ember_wgconf_decode_key (PRIV, expect));
  g_assert_cmpmem (c->private_key, 32, expect, 32);
  g_assert_true (c->has_listen_port);
  g_assert_cmpuint (c->listen_port, ==, 51820);
  g_assert_cmpuint (c->addresses->len, ==, 3);
  cidr = ember_cidr_to_string (&g_array_index (c->addresses, EmberCidr, 1));
  g_assert_cmpstr (cidr, ==, "fd07::1/64");
  g_assert_cmpuint (c->mtu, ==, 1420);
  g_assert_cmpuint (c->peers->len, ==, 2);

  p = g_ptr_array_index (c->peers, 0);
  g_assert_true (ember_wgconf_decode_key (PUB1, expect));
  g_assert_cmpmem (p->public_key, 32, expect, 32);
  g_assert_true (p->has_preshared_key);
  g_assert_cmpuint (p->allowed_ips->len, ==, 2);
  g_assert_cmpstr (p->endpoint_host, ==, "192.0.2.7");
  g_assert_cmpuint (p->endpoint_port, ==, 51820);
  g_assert_cmpuint (p->persistent_keepalive, ==, 25);

  p = g_ptr_array_index (c->peers, 1);
  g_assert_false (p->has_preshared_key);
  g_assert_cmpstr (p->endpoint_host, ==, "2001:db8::7");
  g_assert_cmpuint (p->endpoint_port, ==, 4500);
  g_assert_cmpuint (p->line, ==, 15);
}

static void
test_cidr (void)
{
  EmberCidr c;
  const guint8 in[4] = { 10, 7, 0, 200 };
  const guint8 out[4] = { 10, 7, 1, 200 };
  const guint8 v6[16] = { 0xfd, 0x07, [15] = 9 };

  g_assert_true (ember_cidr_parse ("10.7.0.0/24", EMBER_CIDR_PARSE_BARE, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 4, in));
  g_assert_false (ember_cidr_contains (&c, 4, out));
  g_assert_false (ember_cidr_contains (&c, 6, v6));
  g_assert_true (ember_cidr_parse ("10.7.0.0/23", EMBER_CIDR_PARSE_BARE, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 4, out));
  g_assert_true (ember_cidr_parse ("fd07::/16", EMBER_CIDR_PARSE_BARE, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 6, v6));
  g_assert_true (ember_cidr_parse ("0.0.0.0/0", EMBER_CIDR_PARSE_BARE, &c, NULL));
  g_assert_true (ember_cidr_contains (&c, 4, out));
  g_assert_false (ember_cidr_parse ("10.7.0.0/33", EMBER_CIDR_PARSE_BARE, &c, NULL));
  g_assert_false (ember_cidr_parse ("10.7.0.0/", EMBER_CIDR_PARSE_BARE, &c, NULL));
  g_assert_false (ember_cidr_parse ("10.7.0.0/-1", EMBER_CIDR_PARSE_BARE, &c, NULL));
  g_assert_false (ember_cidr_parse ("fd07::/129", EMBER_CIDR_PARSE_BARE, &c, NULL));
  g_assert_false (ember_cidr_parse ("example.com/8", EMBER_CIDR_PARSE_BARE, &c, NULL));
}

typedef struct {
  const char *name;
  const char *text;
  const char *expect; /* substring of the message, including the line */
} Bad;

static const Bad bad[] = {
  { "no-private-key", "[Interface]\nListenPort = 1\n", "has no PrivateKey" },
  { "short-key", "[Interface]\nPrivateKey = AAAA\n", "x.conf:2: PrivateKey" },
  { "bad-port", "[Interface]\nPrivateKey = " PRIV "\nListenPort = 70000\n", "x.conf:3: ListenPort" },
  { "bad-address", "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.300/24\n", "x.conf:3: Address" },
  { "small-mtu", "[Interface]\nPrivateKey = " PRIV "\nMTU = 576\n", "x.conf:3: MTU" },
  { "wg-quick-hook", "[Interface]\nPrivateKey = " PRIV "\nPostUp = rm -rf /\n", "x.conf:3: PostUp: not supported" },
  { "unknown-key", "[Interface]\nPrivateKey = " PRIV "\nColour = red\n", "x.conf:3: [Interface] Colour" },
  { "unknown-section", "[Interface]\nPrivateKey = " PRIV "\n[Route]\n", "x.conf:3: [Route]" },
  { "no-equals", "[Interface]\nPrivateKey " PRIV "\n", "x.conf:2:" },
  { "outside", "PrivateKey = " PRIV "\n", "x.conf:1: PrivateKey: key outside" },
  { "peer-no-key", "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nAllowedIPs = 10.0.0.0/8\n", "x.conf:3: [Peer] has no PublicKey" },
  { "dup-peer", "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB1 "\n[Peer]\nPublicKey = " PUB1 "\n", "x.conf:5: [Peer] has the same PublicKey as the peer on line 3" },
  { "endpoint-no-port", "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB1 "\nEndpoint = 192.0.2.1\n", "x.conf:5: Endpoint" },
  { "endpoint-v6-no-brackets", "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB1 "\nEndpoint = 2001:db8::1:51820\n", "x.conf:5: Endpoint" },
  { "endpoint-port-zero", "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB1 "\nEndpoint = [::1]:0\n", "x.conf:5: Endpoint" },
  { "keepalive", "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB1 "\nPersistentKeepalive = often\n", "x.conf:5: PersistentKeepalive" },
  { "two-interfaces", "[Interface]\nPrivateKey = " PRIV "\n[Interface]\n", "x.conf:3: a second [Interface]" },
};

static void
test_bad (gconstpointer data)
{
  const Bad *b = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberWgConf) c = ember_wgconf_parse (b->text, "x.conf", &error);

  g_assert_null (c);
  g_assert_nonnull (error);
  if (strstr (error->message, b->expect) == NULL)
    g_error ("\"%s\" lacks \"%s\"", error->message, b->expect);
}

static void
test_truncations (void)
{
  /* Every prefix of a good file parses or fails cleanly. */
  gsize n = strlen (good);
  for (gsize i = 0; i <= n; i++)
    {
      g_autofree char *prefix = g_strndup (good, i);
      g_autoptr (GError) error = NULL;
      g_autoptr (EmberWgConf) c = ember_wgconf_parse (prefix, "x.conf", &error);
      g_assert_true ((c == NULL) != (error == NULL));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tunnel/wgconf/parse/good", test_good);
  g_test_add_func ("/tunnel/wgconf/cidr", test_cidr);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tunnel/wgconf/rejects/%s", bad[i].name);
      g_test_add_data_func (path, &bad[i], test_bad);
    }
  g_test_add_func ("/tunnel/wgconf/parse/every-prefix", test_truncations);
  return g_test_run ();
}
