/* net/prefix-table.c — path-compressed binary trie (see prefix-table.h).
 *
 * Invariants, per family:
 *   - a node's key has every bit past node->bits clear;
 *   - child[b] and all below it extend the node's prefix, are longer, and
 *     have bit number node->bits equal to b;
 *   - a node without a value has two children (it exists only to branch),
 *     so the trie never has more than 2 * size - 1 nodes.
 * Addresses are held as two host-order 64-bit words (IPv4 in the top 32
 * bits of the first), so matching a node is two XOR-AND-compares.
 *
 * Nodes are exactly one cache line and come from 64-byte aligned blocks
 * of the table's own, so a lookup touches one line per node it visits
 * (malloc's 16-byte aligned chunks would split most nodes over two); a
 * removed node goes on a free list for the next insert, and the blocks
 * are released with the table.
 */
#include "net/prefix-table.h"

#include <string.h>

typedef struct {
  guint64 hi, lo;
} Key;

typedef struct _Node Node;
struct _Node {
  Node *child[2]; /* on the free list: child[0] is the next free node */
  Key key;        /* the prefix, bits past `bits` clear */
  Key mask;       /* `bits` leading ones */
  gpointer value; /* NULL: a branching node only */
  guint8 bits;
};

#define LINE 64
#define NODES_PER_BLOCK 64 /* 4 KiB */
G_STATIC_ASSERT (sizeof (Node) <= LINE);

typedef union {
  Node node;
  guint8 line[LINE];
} Slot;

struct _EmberPrefixTable {
  Node *root[2]; /* IPv4, IPv6 */
  guint size;
  Node *free_nodes;
  GPtrArray *blocks;  /* Slot[NODES_PER_BLOCK], LINE-aligned */
  guint last_used;    /* slots handed out from the last block */
};

static inline Key
key_from_bytes (guint family, const guint8 *addr)
{
  Key k = { 0, 0 };

  if (family == EMBER_ADDR_IPV4)
    {
      guint32 v;
      memcpy (&v, addr, 4);
      k.hi = (guint64) GUINT32_FROM_BE (v) << 32;
    }
  else
    {
      memcpy (&k.hi, addr, 8);
      memcpy (&k.lo, addr + 8, 8);
      k.hi = GUINT64_FROM_BE (k.hi);
      k.lo = GUINT64_FROM_BE (k.lo);
    }
  return k;
}

static inline Key
mask_of (guint bits)
{
  Key m;
  m.hi = bits == 0 ? 0 : bits >= 64 ? G_MAXUINT64 : G_MAXUINT64 << (64 - bits);
  m.lo = bits <= 64 ? 0 : bits >= 128 ? G_MAXUINT64 : G_MAXUINT64 << (128 - bits);
  return m;
}

static inline Key
key_and (Key k, Key m)
{
  return (Key) { k.hi & m.hi, k.lo & m.lo };
}

/* Bit i (0 = most significant) of k; i < 128. */
static inline guint
bit_at (Key k, guint i)
{
  return i < 64 ? (guint) (k.hi >> (63 - i)) & 1u : (guint) (k.lo >> (127 - i)) & 1u;
}

/* Number of leading bits a and b share, at most limit. */
static guint
common_bits (Key a, Key b, guint limit)
{
  guint64 x = a.hi ^ b.hi;
  guint n;

  if (x != 0)
    n = (guint) __builtin_clzll (x);
  else
    {
      x = a.lo ^ b.lo;
      n = x != 0 ? 64 + (guint) __builtin_clzll (x) : 128;
    }
  return MIN (n, limit);
}

static inline gboolean
node_matches (const Node *n, Key k)
{
  return ((k.hi ^ n->key.hi) & n->mask.hi) == 0 && ((k.lo ^ n->key.lo) & n->mask.lo) == 0;
}

static Node *
node_new (EmberPrefixTable *t, Key k, guint bits, gpointer value)
{
  Node *n = t->free_nodes;

  if (n != NULL)
    t->free_nodes = n->child[0];
  else
    {
      if (t->blocks->len == 0 || t->last_used == NODES_PER_BLOCK)
        {
          g_ptr_array_add (t->blocks, g_aligned_alloc (NODES_PER_BLOCK, sizeof (Slot), LINE));
          t->last_used = 0;
        }
      n = &((Slot *) g_ptr_array_index (t->blocks, t->blocks->len - 1))[t->last_used++].node;
    }
  memset (n, 0, sizeof *n);
  n->mask = mask_of (bits);
  n->key = key_and (k, n->mask);
  n->bits = (guint8) bits;
  n->value = value;
  return n;
}

static void
node_free (EmberPrefixTable *t, Node *n)
{
  n->child[0] = t->free_nodes;
  t->free_nodes = n;
}

/* After a value or a child went away: a node that neither holds a value
 * nor branches is replaced by its only child (or by nothing). */
static Node *
collapse (EmberPrefixTable *t, Node *n)
{
  Node *only;

  if (n->value != NULL || (n->child[0] != NULL && n->child[1] != NULL))
    return n;
  only = n->child[0] != NULL ? n->child[0] : n->child[1];
  node_free (t, n);
  return only;
}

static int
root_index (guint family)
{
  return family == EMBER_ADDR_IPV4 ? 0 : family == EMBER_ADDR_IPV6 ? 1 : -1;
}

/* The key of a valid cidr, host bits cleared; FALSE for an invalid one. */
static gboolean
cidr_key (const EmberCidr *cidr, int *root, Key *k)
{
  guint bits = ember_addr_family_bits (cidr->family);

  if (bits == 0 || cidr->prefix > bits)
    return FALSE;
  *root = root_index (cidr->family);
  *k = key_and (key_from_bytes (cidr->family, cidr->addr), mask_of (cidr->prefix));
  return TRUE;
}

static void
node_cidr (const Node *n, int root, EmberCidr *out)
{
  guint32 v4;
  guint64 w;

  memset (out, 0, sizeof *out);
  out->prefix = n->bits;
  if (root == 0)
    {
      out->family = EMBER_ADDR_IPV4;
      v4 = GUINT32_TO_BE ((guint32) (n->key.hi >> 32));
      memcpy (out->addr, &v4, 4);
    }
  else
    {
      out->family = EMBER_ADDR_IPV6;
      w = GUINT64_TO_BE (n->key.hi);
      memcpy (out->addr, &w, 8);
      w = GUINT64_TO_BE (n->key.lo);
      memcpy (out->addr + 8, &w, 8);
    }
}

EmberPrefixTable *
ember_prefix_table_new (void)
{
  EmberPrefixTable *t = g_new0 (EmberPrefixTable, 1);
  t->blocks = g_ptr_array_new_with_free_func (g_aligned_free);
  return t;
}

void
ember_prefix_table_free (EmberPrefixTable *table)
{
  if (table == NULL)
    return;
  g_ptr_array_unref (table->blocks);
  g_free (table);
}

gpointer
ember_prefix_table_insert (EmberPrefixTable *table, const EmberCidr *cidr, gpointer value)
{
  int root;
  Key k;
  Node **slot;
  guint plen;

  g_return_val_if_fail (table != NULL && cidr != NULL && value != NULL, NULL);
  g_return_val_if_fail (cidr_key (cidr, &root, &k), NULL);
  plen = cidr->prefix;

  for (slot = &table->root[root];;)
    {
      Node *n = *slot, *mid;
      guint c;

      if (n == NULL)
        {
          *slot = node_new (table, k, plen, value);
          table->size++;
          return NULL;
        }
      c = common_bits (k, n->key, MIN (plen, (guint) n->bits));
      if (c == n->bits)
        {
          if (plen == n->bits)
            {
              gpointer old = n->value;
              n->value = value;
              if (old == NULL)
                table->size++;
              return old;
            }
          slot = &n->child[bit_at (k, n->bits)];
          continue;
        }
      /* n's prefix is not a prefix of cidr: cidr goes above n, or both
       * hang below a new branching node at their first differing bit. */
      if (c == plen)
        {
          mid = node_new (table, k, plen, value);
          mid->child[bit_at (n->key, plen)] = n;
        }
      else
        {
          mid = node_new (table, k, c, NULL);
          mid->child[bit_at (k, c)] = node_new (table, k, plen, value);
          mid->child[bit_at (n->key, c)] = n;
        }
      *slot = mid;
      table->size++;
      return NULL;
    }
}

static Node *
remove_exact (EmberPrefixTable *t, Node *n, Key k, guint plen, gpointer *old)
{
  if (n == NULL || n->bits > plen || !node_matches (n, k))
    return n;
  if (n->bits == plen)
    {
      *old = n->value;
      n->value = NULL;
    }
  else
    {
      guint b = bit_at (k, n->bits);
      n->child[b] = remove_exact (t, n->child[b], k, plen, old);
    }
  return collapse (t, n);
}

gpointer
ember_prefix_table_remove (EmberPrefixTable *table, const EmberCidr *cidr)
{
  gpointer old = NULL;
  int root;
  Key k;

  g_return_val_if_fail (table != NULL && cidr != NULL, NULL);
  if (!cidr_key (cidr, &root, &k))
    return NULL;
  table->root[root] = remove_exact (table, table->root[root], k, cidr->prefix, &old);
  if (old != NULL)
    table->size--;
  return old;
}

static Node *
remove_value (EmberPrefixTable *t, Node *n, gpointer value, guint *removed)
{
  if (n == NULL)
    return NULL;
  n->child[0] = remove_value (t, n->child[0], value, removed);
  n->child[1] = remove_value (t, n->child[1], value, removed);
  if (n->value == value)
    {
      n->value = NULL;
      (*removed)++;
    }
  return collapse (t, n);
}

guint
ember_prefix_table_remove_value (EmberPrefixTable *table, gpointer value)
{
  guint removed = 0;

  g_return_val_if_fail (table != NULL && value != NULL, 0);
  for (int i = 0; i < 2; i++)
    table->root[i] = remove_value (table, table->root[i], value, &removed);
  table->size -= removed;
  return removed;
}

gpointer
ember_prefix_table_get (const EmberPrefixTable *table, const EmberCidr *cidr)
{
  const Node *n;
  int root;
  Key k;

  g_return_val_if_fail (table != NULL && cidr != NULL, NULL);
  if (!cidr_key (cidr, &root, &k))
    return NULL;
  for (n = table->root[root]; n != NULL && n->bits <= cidr->prefix && node_matches (n, k);
       n = n->child[bit_at (k, n->bits)])
    if (n->bits == cidr->prefix)
      return n->value;
  return NULL;
}

gpointer
ember_prefix_table_lookup (const EmberPrefixTable *table, guint family, const guint8 *addr,
                           EmberCidr *matched)
{
  const Node *n, *best = NULL;
  int root = root_index (family);
  Key k;

  if (root < 0)
    {
      if (matched != NULL)
        memset (matched, 0, sizeof *matched);
      return NULL;
    }
  k = key_from_bytes (family, addr);
  if (root == 0)
    {
      /* IPv4: one word, and no node is longer than 32 bits, so the bit
       * after a node's prefix is always inside it. */
      for (n = table->root[0]; n != NULL && ((k.hi ^ n->key.hi) & n->mask.hi) == 0;
           n = n->child[(k.hi >> (63 - n->bits)) & 1])
        if (n->value != NULL)
          best = n;
    }
  else
    for (n = table->root[1]; n != NULL && node_matches (n, k);
         n = n->child[bit_at (k, n->bits)])
      {
        if (n->value != NULL)
          best = n;
        if (n->bits == 128)
          break;
      }
  if (matched != NULL)
    {
      if (best != NULL)
        node_cidr (best, root, matched);
      else
        memset (matched, 0, sizeof *matched);
    }
  return best != NULL ? best->value : NULL;
}

gpointer
ember_prefix_table_lookup_addr (const EmberPrefixTable *table, const EmberAddr *addr,
                                EmberCidr *matched)
{
  return ember_prefix_table_lookup (table, addr->family, addr->addr, matched);
}

guint
ember_prefix_table_size (const EmberPrefixTable *table)
{
  return table->size;
}

static gboolean
foreach_node (const Node *n, int root, EmberPrefixTableFunc func, gpointer user_data)
{
  if (n == NULL)
    return TRUE;
  if (n->value != NULL)
    {
      EmberCidr c;
      node_cidr (n, root, &c);
      if (!func (&c, n->value, user_data))
        return FALSE;
    }
  return foreach_node (n->child[0], root, func, user_data) &&
         foreach_node (n->child[1], root, func, user_data);
}

void
ember_prefix_table_foreach (const EmberPrefixTable *table, EmberPrefixTableFunc func,
                            gpointer user_data)
{
  g_return_if_fail (table != NULL && func != NULL);
  if (foreach_node (table->root[0], 0, func, user_data))
    foreach_node (table->root[1], 1, func, user_data);
}
