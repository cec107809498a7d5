/* Benchmark helper for bench/net-lpm.sh (not a test): nanoseconds per
 * longest-prefix-match lookup in ember-net's prefix table, next to the two
 * lookups it replaced in the same run on the same prefixes and addresses:
 *   - "linear": the prefix list sorted longest first and scanned with
 *     ember_cidr_contains(), as emberd's static-peer mode routed packets;
 *   - "bit-trie": one node per bit (plugins/wg/allowedips.c before
 *     ember-net), kept here only as the yardstick.
 * Also one ChaCha20-Poly1305 seal of a 1280-byte packet, the per-packet
 * cost a lookup has to stay small next to (issue 12 item 4), with the
 * library the wg engine uses by default (OpenSSL's libcrypto) when it is
 * there, GnuTLS otherwise.
 *
 *   bench-net-lpm [PREFIXES...]   default: 16 256 4096 65536
 */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#ifdef HAVE_LIBCRYPTO
#include <openssl/evp.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/cidr.h"
#include "net/prefix-table.h"

#define LOOKUPS 4096

/* Thread CPU time, not wall time: the machine running this is often
 * shared, and time spent descheduled is not the lookup's. */
static gint64
cpu_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}
#define MIN_NS 200000000 /* measure each case for at least 0.2 s of CPU */

/* ---- the yardstick: one node per bit ---------------------------------- */

typedef struct BitNode BitNode;
struct BitNode {
  BitNode *child[2];
  gpointer value;
};

static void
bit_insert (BitNode **root, const EmberCidr *c, gpointer value)
{
  BitNode **slot = root;
  for (guint i = 0;; i++)
    {
      if (*slot == NULL)
        *slot = g_new0 (BitNode, 1);
      if (i == c->prefix)
        break;
      slot = &(*slot)->child[(c->addr[i >> 3] >> (7 - (i & 7))) & 1];
    }
  (*slot)->value = value;
}

static gpointer
bit_lookup (const BitNode *n, guint bits, const guint8 *addr)
{
  gpointer best = NULL;
  for (guint i = 0; n != NULL; i++)
    {
      if (n->value != NULL)
        best = n->value;
      if (i == bits)
        break;
      n = n->child[(addr[i >> 3] >> (7 - (i & 7))) & 1];
    }
  return best;
}

static void
bit_free (BitNode *n)
{
  if (n == NULL)
    return;
  bit_free (n->child[0]);
  bit_free (n->child[1]);
  g_free (n);
}

/* ---- the workload ---------------------------------------------------- */

typedef struct {
  EmberCidr cidr;
  gpointer value;
} Route;

static gint
longest_first (gconstpointer a, gconstpointer b)
{
  return (gint) ((const Route *) b)->cidr.prefix - (gint) ((const Route *) a)->cidr.prefix;
}

static gpointer
linear_lookup (const Route *r, guint n, guint family, const guint8 *addr)
{
  for (guint i = 0; i < n; i++)
    if (ember_cidr_contains (&r[i].cidr, family, addr))
      return r[i].value;
  return NULL;
}

/* Prefix lengths as routing tables have them: most IPv4 routes /16-/24,
 * IPv6 /32-/64, a few host routes. */
static guint
random_len (GRand *r, guint family)
{
  if (family == 4)
    return g_rand_int_range (r, 0, 10) == 0 ? 32 : (guint) g_rand_int_range (r, 8, 25);
  return g_rand_int_range (r, 0, 10) == 0 ? 128 : (guint) g_rand_int_range (r, 16, 65);
}

typedef struct {
  guint8 addr[16];
} Addr;

static volatile guintptr sink;

static double
ns_per_lookup (int which, const EmberPrefixTable *t, BitNode *root, const Route *routes, guint n,
               guint family, const Addr *addrs)
{
  guint bits = ember_addr_family_bits (family);
  gint64 start = cpu_ns (), elapsed;
  guint64 rounds = 0;
  guintptr acc = 0;

  do
    {
      for (guint i = 0; i < LOOKUPS; i++)
        {
          gpointer v = which == 0   ? ember_prefix_table_lookup (t, family, addrs[i].addr, NULL)
                       : which == 1 ? bit_lookup (root, bits, addrs[i].addr)
                                    : linear_lookup (routes, n, family, addrs[i].addr);
          acc += (guintptr) v;
        }
      rounds++;
      elapsed = cpu_ns () - start;
    }
  while (elapsed < MIN_NS);
  sink = acc;
  return (double) elapsed / ((double) rounds * LOOKUPS);
}

#ifdef HAVE_LIBCRYPTO
static const char seal_lib[] = "libcrypto";

static double
ns_per_seal (void)
{
  guint8 key[32] = { 1 }, nonce[12] = { 2 }, in[1280] = { 3 }, out[1280], tag[16];
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();
  gint64 start = cpu_ns (), elapsed;
  guint64 n = 0;
  int len;

  do
    {
      for (guint i = 0; i < 256; i++)
        {
          EVP_EncryptInit_ex (ctx, EVP_chacha20_poly1305 (), NULL, key, nonce);
          EVP_EncryptUpdate (ctx, out, &len, in, sizeof in);
          EVP_EncryptFinal_ex (ctx, out + len, &len);
          EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_GET_TAG, sizeof tag, tag);
        }
      n += 256;
      elapsed = cpu_ns () - start;
    }
  while (elapsed < MIN_NS);
  EVP_CIPHER_CTX_free (ctx);
  return (double) elapsed / (double) n;
}
#else
static const char seal_lib[] = "GnuTLS";

static double
ns_per_seal (void)
{
  guint8 key[32] = { 1 }, nonce[12] = { 2 }, in[1280] = { 3 }, out[1280 + 16];
  gnutls_datum_t k = { key, sizeof key };
  gnutls_aead_cipher_hd_t h;
  gint64 start, elapsed;
  guint64 n = 0;

  if (gnutls_aead_cipher_init (&h, GNUTLS_CIPHER_CHACHA20_POLY1305, &k) < 0)
    return 0;
  start = cpu_ns ();
  do
    {
      for (guint i = 0; i < 256; i++)
        {
          gsize len = sizeof out;
          gnutls_aead_cipher_encrypt (h, nonce, sizeof nonce, NULL, 0, 16, in, sizeof in, out,
                                      &len);
        }
      n += 256;
      elapsed = cpu_ns () - start;
    }
  while (elapsed < MIN_NS);
  gnutls_aead_cipher_deinit (h);
  return (double) elapsed / (double) n;
}
#endif

static void
run (guint n, guint family, double seal)
{
  g_autoptr (EmberPrefixTable) t = ember_prefix_table_new ();
  g_autofree Route *routes = g_new0 (Route, n);
  g_autofree Addr *addrs = g_new0 (Addr, LOOKUPS);
  GRand *r = g_rand_new_with_seed (n * 7 + family);
  BitNode *root = NULL;
  guint bytes = family == 4 ? 4 : 16;
  double ember, trie, linear = 0;

  for (guint i = 0; i < n; i++)
    {
      guint8 a[16] = { 0 };
      for (guint b = 0; b < bytes; b++)
        a[b] = (guint8) g_rand_int_range (r, 0, 256);
      ember_cidr_init (&routes[i].cidr, family, a, random_len (r, family));
      ember_cidr_mask (&routes[i].cidr);
      routes[i].value = GUINT_TO_POINTER (i + 1);
      ember_prefix_table_insert (t, &routes[i].cidr, routes[i].value);
      bit_insert (&root, &routes[i].cidr, routes[i].value);
    }
  /* Three lookups in four hit a prefix of the table (a host in it),
   * the rest are random addresses. */
  for (guint i = 0; i < LOOKUPS; i++)
    {
      for (guint b = 0; b < bytes; b++)
        addrs[i].addr[b] = (guint8) g_rand_int_range (r, 0, 256);
      if (g_rand_int_range (r, 0, 4) != 0)
        {
          EmberCidr c = routes[g_rand_int_range (r, 0, (gint) n)].cidr;
          for (guint bit = 0; bit < c.prefix; bit++)
            {
              guint8 m = (guint8) (0x80 >> (bit % 8));
              addrs[i].addr[bit / 8] = (guint8) ((addrs[i].addr[bit / 8] & ~m) | (c.addr[bit / 8] & m));
            }
        }
      /* Same answers from all three, or the numbers mean nothing. */
      gpointer v = ember_prefix_table_lookup (t, family, addrs[i].addr, NULL);
      g_assert_true (v == bit_lookup (root, family == 4 ? 32 : 128, addrs[i].addr));
    }
  qsort (routes, n, sizeof *routes, longest_first);

  ember = ns_per_lookup (0, t, root, routes, n, family, addrs);
  trie = ns_per_lookup (1, t, root, routes, n, family, addrs);
  if (n <= 4096)
    linear = ns_per_lookup (2, t, root, routes, n, family, addrs);
  g_print ("IPv%u %6u prefixes: ember %6.1f ns  bit-trie %6.1f ns  linear ", family, n, ember,
           trie);
  if (linear > 0)
    g_print ("%9.1f ns", linear);
  else
    g_print ("%9s   ", "-");
  g_print ("  | bit-trie/ember %5.2fx", trie / ember);
  if (linear > 0)
    g_print ("  linear/ember %7.1fx", linear / ember);
  if (seal > 0)
    g_print ("  | lookup = %.1f%% of a 1280-byte seal", 100.0 * ember / seal);
  g_print ("\n");
  bit_free (root);
  g_rand_free (r);
}

int
main (int argc, char **argv)
{
  guint sizes[16] = { 16, 256, 4096, 65536 };
  guint n_sizes = 4;
  double seal;

  if (argc > 1)
    {
      n_sizes = 0;
      for (int i = 1; i < argc && n_sizes < G_N_ELEMENTS (sizes); i++)
        {
          guint64 v;
          if (!g_ascii_string_to_unsigned (argv[i], 10, 1, 1000000, &v, NULL))
            {
              g_printerr ("bench-net-lpm: \"%s\": expected a number of prefixes from 1 to "
                          "1000000\n", argv[i]);
              return 2;
            }
          sizes[n_sizes++] = (guint) v;
        }
    }
  seal = ns_per_seal ();
  g_print ("ChaCha20-Poly1305 seal of 1280 bytes (%s): %.1f ns\n", seal_lib, seal);
  for (guint f = 0; f < 2; f++)
    for (guint i = 0; i < n_sizes; i++)
      run (sizes[i], f == 0 ? 4 : 6, seal);
  return 0;
}
