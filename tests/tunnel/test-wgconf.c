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

/* Files as VPN providers and self-hosting guides hand them out, written
 * here with our own keys and documentation addresses. */

/* A commercial provider's full tunnel: a /32 and a /128 address, one
 * resolver inside the tunnel, both default routes (the second written
 * "::0/0"), no ListenPort. */
static const char provider_full_tunnel[] =
  "[Interface]\n"
  "# Device: Quiet Heron\n"
  "PrivateKey = " PRIV "\n"
  "Address = 10.66.21.7/32,fc00:bbbb:bbbb:bb01::3:1506/128\n"
  "DNS = 10.64.0.1\n"
  "\n"
  "[Peer]\n"
  "PublicKey = " PUB1 "\n"
  "AllowedIPs = 0.0.0.0/0,::0/0\n"
  "Endpoint = 198.51.100.66:51820\n";

static void
test_provider_full_tunnel (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberWgConf) c = ember_wgconf_parse (provider_full_tunnel, "se-sto.conf", &error);
  EmberWgConfPeer *p;
  char buf[EMBER_ADDR_STRLEN];
  g_autofree char *a6 = NULL;

  g_assert_no_error (error);
  g_assert_false (c->has_listen_port);
  g_assert_cmpuint (c->addresses->len, ==, 2);
  a6 = ember_cidr_to_string (&g_array_index (c->addresses, EmberCidr, 1));
  g_assert_cmpstr (a6, ==, "fc00:bbbb:bbbb:bb01::3:1506/128");
  g_assert_cmpuint (c->dns_servers->len, ==, 1);
  g_assert_cmpstr (ember_addr_format (&g_array_index (c->dns_servers, EmberAddr, 0), buf), ==,
                   "10.64.0.1");
  g_assert_cmpuint (c->dns_search->len, ==, 0);
  g_assert_cmpuint (c->dns_line, ==, 5);
  g_assert_cmpint (c->table, ==, EMBER_WGCONF_TABLE_AUTO);
  g_assert_cmpuint (c->table_line, ==, 0);
  g_assert_cmpuint (c->fwmark, ==, 0);
  for (guint i = 0; i < EMBER_WGCONF_N_HOOKS; i++)
    g_assert_cmpuint (c->hooks[i]->len, ==, 0);
  g_assert_cmpuint (c->peers->len, ==, 1);
  p = g_ptr_array_index (c->peers, 0);
  g_assert_cmpuint (p->allowed_ips->len, ==, 2);
  g_assert_cmpuint (g_array_index (p->allowed_ips, EmberCidr, 1).family, ==, 6);
  g_assert_cmpuint (g_array_index (p->allowed_ips, EmberCidr, 1).prefix, ==, 0);
  g_assert_true (ember_wgconf_has_default_route (c, 4));
  g_assert_true (ember_wgconf_has_default_route (c, 6));
  g_assert_cmpstr (p->endpoint_host, ==, "198.51.100.66");
}

/* Another provider's style: a commented header (with '#' inside the
 * comment text), two resolvers, IPv4 only, saved on Windows (a byte order
 * mark and CRLF line ends). */
static const char provider_windows[] =
  "\xef\xbb\xbf[Interface]\r\n"
  "# Key for laptop\r\n"
  "# NetShield = 1\r\n"
  "# VPN Accelerator = on\r\n"
  "PrivateKey = " PRIV "\r\n"
  "Address = 10.2.0.2/32\r\n"
  "DNS = 10.2.0.1, 10.2.0.3\r\n"
  "\r\n"
  "[Peer]\r\n"
  "# NL-FREE#12\r\n"
  "PublicKey = " PUB2 "\r\n"
  "AllowedIPs = 0.0.0.0/0\r\n"
  "Endpoint = 203.0.113.12:51820\r\n";

static void
test_provider_windows (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberWgConf) c = ember_wgconf_parse (provider_windows, "nl-free-12.conf", &error);
  EmberWgConfPeer *p;
  char buf[EMBER_ADDR_STRLEN];

  g_assert_no_error (error);
  g_assert_cmpuint (c->dns_servers->len, ==, 2);
  g_assert_cmpstr (ember_addr_format (&g_array_index (c->dns_servers, EmberAddr, 1), buf), ==,
                   "10.2.0.3");
  p = g_ptr_array_index (c->peers, 0);
  g_assert_cmpuint (p->line, ==, 9);
  g_assert_cmpstr (p->endpoint_host, ==, "203.0.113.12");
  g_assert_true (ember_wgconf_has_default_route (c, 4));
  g_assert_false (ember_wgconf_has_default_route (c, 6));
}

/* A self-hosted server as the usual guides write it: NAT in PostUp and
 * undone in PostDown with %i, SaveConfig, a table of its own by number,
 * an fwmark in hex, resolvers of both families and search domains. */
static const char self_hosted[] =
  "[Interface]\n"
  "Address = 10.8.0.1/24, fd42:42:42::1/64\n"
  "ListenPort = 51820\n"
  "PrivateKey = " PRIV "\n"
  "SaveConfig = true\n"
  "Table = 1234\n"
  "FwMark = 0xca6c\n"
  "DNS = 192.0.2.53 2001:db8::53, corp.example.com,lab.example.\n"
  "PreUp = sysctl -w net.ipv4.ip_forward=1\n"
  "PostUp = iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE\n"
  "PostUp = ip6tables -A FORWARD -i %i -j ACCEPT # for IPv6\n"
  "PreDown = logger going down\n"
  "PostDown = iptables -D FORWARD -i %i -j ACCEPT; iptables -t nat -D POSTROUTING -o eth0 -j MASQUERADE\n"
  "postdown = ip6tables -D FORWARD -i %i -j ACCEPT\n"
  "\n"
  "[Peer]\n"
  "PublicKey = " PUB1 "\n"
  "AllowedIPs = 10.8.0.2/32, fd42:42:42::2/128\n";

static void
test_self_hosted (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberWgConf) c = ember_wgconf_parse (self_hosted, "wg0.conf", &error);
  EmberWgConfHook *h;
  char buf[EMBER_ADDR_STRLEN];

  g_assert_no_error (error);
  g_assert_true (c->save_config);
  g_assert_cmpuint (c->save_config_line, ==, 5);
  g_assert_cmpint (c->table, ==, EMBER_WGCONF_TABLE_ID);
  g_assert_cmpuint (c->table_id, ==, 1234);
  g_assert_cmpuint (c->table_line, ==, 6);
  g_assert_cmpuint (c->fwmark, ==, 0xca6c);
  g_assert_cmpuint (c->fwmark_line, ==, 7);
  g_assert_cmpuint (c->dns_servers->len, ==, 2);
  g_assert_cmpstr (ember_addr_format (&g_array_index (c->dns_servers, EmberAddr, 1), buf), ==,
                   "2001:db8::53");
  g_assert_cmpuint (c->dns_search->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (c->dns_search, 0), ==, "corp.example.com");
  g_assert_cmpstr (g_ptr_array_index (c->dns_search, 1), ==, "lab.example.");

  g_assert_cmpuint (c->hooks[EMBER_WGCONF_PRE_UP]->len, ==, 1);
  g_assert_cmpuint (c->hooks[EMBER_WGCONF_POST_UP]->len, ==, 2);
  g_assert_cmpuint (c->hooks[EMBER_WGCONF_PRE_DOWN]->len, ==, 1);
  g_assert_cmpuint (c->hooks[EMBER_WGCONF_POST_DOWN]->len, ==, 2);
  h = g_ptr_array_index (c->hooks[EMBER_WGCONF_PRE_UP], 0);
  /* The value runs to the end of the line: '=' inside it is kept. */
  g_assert_cmpstr (h->command, ==, "sysctl -w net.ipv4.ip_forward=1");
  h = g_ptr_array_index (c->hooks[EMBER_WGCONF_POST_UP], 0);
  g_assert_cmpuint (h->line, ==, 10);
  g_assert_cmpstr (h->command, ==, "iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A "
                                   "POSTROUTING -o eth0 -j MASQUERADE");
  h = g_ptr_array_index (c->hooks[EMBER_WGCONF_POST_UP], 1);
  /* wg-quick cuts comments in hook lines too. */
  g_assert_cmpstr (h->command, ==, "ip6tables -A FORWARD -i %i -j ACCEPT");
  h = g_ptr_array_index (c->hooks[EMBER_WGCONF_POST_DOWN], 1);
  g_assert_cmpuint (h->line, ==, 14);
  g_assert_cmpstr (h->command, ==, "ip6tables -D FORWARD -i %i -j ACCEPT");
  g_assert_false (ember_wgconf_has_default_route (c, 4));
  g_assert_false (ember_wgconf_has_default_route (c, 6));
}

typedef struct {
  const char *text;
  EmberWgConfTable table;
  guint32 id;
  const char *name;
} TableCase;

static void
test_table_values (void)
{
  static const TableCase cases[] = {
    { "auto", EMBER_WGCONF_TABLE_AUTO, 0, NULL },
    { "Off", EMBER_WGCONF_TABLE_OFF, 0, NULL },
    { "51820", EMBER_WGCONF_TABLE_ID, 51820, NULL },
    { "0x10", EMBER_WGCONF_TABLE_ID, 16, NULL },
    { "4294967295", EMBER_WGCONF_TABLE_ID, G_MAXUINT32, NULL },
    { "main", EMBER_WGCONF_TABLE_NAME, 0, "main" },
    { "vpn_out-2.a", EMBER_WGCONF_TABLE_NAME, 0, "vpn_out-2.a" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = g_strdup_printf ("[Interface]\nPrivateKey = " PRIV "\nTable = %s\n",
                                               cases[i].text);
      g_autoptr (GError) error = NULL;
      g_autoptr (EmberWgConf) c = ember_wgconf_parse (text, "t.conf", &error);

      g_assert_no_error (error);
      g_assert_cmpint (c->table, ==, cases[i].table);
      g_assert_cmpuint (c->table_id, ==, cases[i].id);
      g_assert_cmpstr (c->table_name, ==, cases[i].name);
    }
}

static void
test_fwmark_values (void)
{
  static const struct {
    const char *text;
    guint32 mark;
  } cases[] = { { "off", 0 }, { "OFF", 0 }, { "0", 0 }, { "51820", 51820 },
                { "0xca6c", 0xca6c }, { "0xFFFFFFFF", G_MAXUINT32 }, { "4294967295", G_MAXUINT32 } };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = g_strdup_printf ("[Interface]\nPrivateKey = " PRIV "\nFwMark = %s\n",
                                               cases[i].text);
      g_autoptr (GError) error = NULL;
      g_autoptr (EmberWgConf) c = ember_wgconf_parse (text, "t.conf", &error);

      g_assert_no_error (error);
      g_assert_cmpuint (c->fwmark, ==, cases[i].mark);
      g_assert_cmpuint (c->fwmark_line, ==, 3);
    }
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
  { "empty-hook", "[Interface]\nPrivateKey = " PRIV "\nPostUp =  # nothing\n", "x.conf:3: PostUp: empty command" },
  { "hook-in-peer", "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB1 "\nPostUp = true\n", "x.conf:5: [Peer] PostUp: unknown key" },
  { "dns-bad-address", "[Interface]\nPrivateKey = " PRIV "\nDNS = 10.0.0.300\n", "x.conf:3: DNS: " },
  { "dns-bad-v6", "[Interface]\nPrivateKey = " PRIV "\nDNS = 1.1.1.1, fd00::1::2\n", "x.conf:3: DNS: " },
  { "dns-bad-domain", "[Interface]\nPrivateKey = " PRIV "\nDNS = corp..example\n", "x.conf:3: DNS: \"corp..example\" is neither" },
  { "dns-domain-slash", "[Interface]\nPrivateKey = " PRIV "\nDNS = 10.0.0.1/24\n", "x.conf:3: DNS: \"10.0.0.1/24\" is neither" },
  { "table-zero", "[Interface]\nPrivateKey = " PRIV "\nTable = 0\n", "x.conf:3: Table: expected off, auto, a table number from 1" },
  { "table-too-big", "[Interface]\nPrivateKey = " PRIV "\nTable = 4294967296\n", "x.conf:3: Table" },
  { "table-number-junk", "[Interface]\nPrivateKey = " PRIV "\nTable = 12ab\n", "x.conf:3: Table" },
  { "table-empty", "[Interface]\nPrivateKey = " PRIV "\nTable =\n", "x.conf:3: Table" },
  { "table-bad-name", "[Interface]\nPrivateKey = " PRIV "\nTable = my table\n", "x.conf:3: Table" },
  { "fwmark-word", "[Interface]\nPrivateKey = " PRIV "\nFwMark = on\n", "x.conf:3: FwMark" },
  { "fwmark-too-big", "[Interface]\nPrivateKey = " PRIV "\nFwMark = 0x100000000\n", "x.conf:3: FwMark" },
  { "fwmark-bare-0x", "[Interface]\nPrivateKey = " PRIV "\nFwMark = 0x\n", "x.conf:3: FwMark" },
  { "fwmark-negative", "[Interface]\nPrivateKey = " PRIV "\nFwMark = -1\n", "x.conf:3: FwMark" },
  { "saveconfig-yes", "[Interface]\nPrivateKey = " PRIV "\nSaveConfig = yes\n", "x.conf:3: SaveConfig: expected true or false" },
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

static void
test_provider_truncations (void)
{
  const char *const files[] = { provider_full_tunnel, provider_windows, self_hosted };

  for (gsize f = 0; f < G_N_ELEMENTS (files); f++)
    for (gsize i = 0; i <= strlen (files[f]); i++)
      {
        g_autofree char *prefix = g_strndup (files[f], i);
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
  g_test_add_func ("/tunnel/wgconf/parse/provider-full-tunnel-with-dns-and-ipv6",
                   test_provider_full_tunnel);
  g_test_add_func ("/tunnel/wgconf/parse/provider-file-saved-on-windows", test_provider_windows);
  g_test_add_func ("/tunnel/wgconf/parse/self-hosted-server-with-hooks", test_self_hosted);
  g_test_add_func ("/tunnel/wgconf/parse/table-values", test_table_values);
  g_test_add_func ("/tunnel/wgconf/parse/fwmark-values", test_fwmark_values);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tunnel/wgconf/rejects/%s", bad[i].name);
      g_test_add_data_func (path, &bad[i], test_bad);
    }
  g_test_add_func ("/tunnel/wgconf/parse/every-prefix", test_truncations);
  g_test_add_func ("/tunnel/wgconf/parse/every-prefix-of-provider-files", test_provider_truncations);
  return g_test_run ();
}
