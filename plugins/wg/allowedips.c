/* allowedips.c — binary trie for allowed IPs (see allowedips.h). */
#include "allowedips.h"

typedef struct _Node Node;
struct _Node {
  Node *child[2];
  gpointer value;
};

struct _EmberWgAllowedIps {
  Node *root4;
  Node *root6;
};

EmberWgAllowedIps *
ember_wg_allowedips_new (void)
{
  return g_new0 (EmberWgAllowedIps, 1);
}

static void
node_free (Node *n)
{
  if (n == NULL)
    return;
  node_free (n->child[0]);
  node_free (n->child[1]);
  g_free (n);
}

void
ember_wg_allowedips_free (EmberWgAllowedIps *t)
{
  if (t == NULL)
    return;
  node_free (t->root4);
  node_free (t->root6);
  g_free (t);
}

static inline guint
bit_at (const guint8 *addr, guint i)
{
  return (addr[i >> 3] >> (7 - (i & 7))) & 1;
}

static Node **
root_of (EmberWgAllowedIps *t, int family, guint *bits)
{
  if (family == 4)
    {
      *bits = 32;
      return &t->root4;
    }
  if (family == 6)
    {
      *bits = 128;
      return &t->root6;
    }
  return NULL;
}

gboolean
ember_wg_allowedips_insert (EmberWgAllowedIps *t, int family,
                            const guint8 *addr, guint prefix_len,
                            gpointer value)
{
  guint bits;
  Node **slot = root_of (t, family, &bits);

  if (slot == NULL || prefix_len > bits || value == NULL)
    return FALSE;
  for (guint i = 0;; i++)
    {
      if (*slot == NULL)
        *slot = g_new0 (Node, 1);
      if (i == prefix_len)
        break;
      slot = &(*slot)->child[bit_at (addr, i)];
    }
  (*slot)->value = value;
  return TRUE;
}

/* Clears value below n and frees nodes left empty; returns n or NULL. */
static Node *
prune (Node *n, gpointer value)
{
  if (n == NULL)
    return NULL;
  n->child[0] = prune (n->child[0], value);
  n->child[1] = prune (n->child[1], value);
  if (n->value == value)
    n->value = NULL;
  if (n->value == NULL && n->child[0] == NULL && n->child[1] == NULL)
    {
      g_free (n);
      return NULL;
    }
  return n;
}

void
ember_wg_allowedips_remove_value (EmberWgAllowedIps *t, gpointer value)
{
  t->root4 = prune (t->root4, value);
  t->root6 = prune (t->root6, value);
}

gpointer
ember_wg_allowedips_lookup (const EmberWgAllowedIps *t, int family,
                            const guint8 *addr)
{
  const Node *n = family == 4 ? t->root4 : family == 6 ? t->root6 : NULL;
  guint bits = family == 4 ? 32 : 128;
  gpointer best = NULL;

  for (guint i = 0; n != NULL; i++)
    {
      if (n->value != NULL)
        best = n->value;
      if (i == bits)
        break;
      n = n->child[bit_at (addr, i)];
    }
  return best;
}

static gpointer
lookup_packet (const EmberWgAllowedIps *t, const guint8 *p, gsize len,
               gboolean dst)
{
  if (len >= 20 && (p[0] >> 4) == 4)
    return ember_wg_allowedips_lookup (t, 4, p + (dst ? 16 : 12));
  if (len >= 40 && (p[0] >> 4) == 6)
    return ember_wg_allowedips_lookup (t, 6, p + (dst ? 24 : 8));
  return NULL;
}

gpointer
ember_wg_allowedips_lookup_dst (const EmberWgAllowedIps *t,
                                const guint8 *packet, gsize len)
{
  return lookup_packet (t, packet, len, TRUE);
}

gpointer
ember_wg_allowedips_lookup_src (const EmberWgAllowedIps *t,
                                const guint8 *packet, gsize len)
{
  return lookup_packet (t, packet, len, FALSE);
}
