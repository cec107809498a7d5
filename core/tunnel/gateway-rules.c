/* gateway-rules — compiles a client's authorizations into the table the
 * packet path reads: one entry per distinct prefix of its resources,
 * holding the union of the filters of every resource that contains the
 * prefix. The prefixes containing one address are nested, so the longest
 * match's entry already holds everything any authorized resource allows
 * for that address: one lookup and one filter check per packet. Built on
 * the control path (authorize, reject, update, expiry), read per packet. */
#include <string.h>

#include "tunnel/gateway-policy-private.h"

static gint
range_cmp (gconstpointer a, gconstpointer b)
{
  const PortRange *x = a, *y = b;

  return (gint) x->lo - (gint) y->lo;
}

/* Sorts and merges overlapping or adjacent ranges in place; returns the
 * new count. */
static guint
merge_ranges (PortRange *r, guint n)
{
  guint out = 0;

  if (n == 0)
    return 0;
  qsort (r, n, sizeof *r, range_cmp);
  for (guint i = 1; i < n; i++)
    {
      if ((guint) r[i].lo <= (guint) r[out].hi + 1u)
        r[out].hi = MAX (r[out].hi, r[i].hi);
      else
        r[++out] = r[i];
    }
  return out + 1;
}

/* The resources whose address is exactly one prefix: their filters,
 * gathered before the union with the enclosing prefixes. */
typedef struct {
  gboolean all, icmp;
  GArray *tcp, *udp;   /* PortRange */
} Group;

static void
group_free (gpointer p)
{
  Group *g = p;

  g_array_unref (g->tcp);
  g_array_unref (g->udp);
  g_free (g);
}

typedef struct {
  EmberPrefixTable *seen;  /* prefix -> GUINT_TO_POINTER (index + 1) in groups */
  GPtrArray *groups;       /* Group */
  const Resource *resource;
} Gather;

static void
gather_address (const EmberCidr *c, gpointer data)
{
  Gather *g = data;
  guint idx = GPOINTER_TO_UINT (ember_prefix_table_get (g->seen, c));
  const Resource *r = g->resource;
  Group *grp;

  if (idx == 0)
    {
      grp = g_new0 (Group, 1);
      grp->tcp = g_array_new (FALSE, FALSE, sizeof (PortRange));
      grp->udp = g_array_new (FALSE, FALSE, sizeof (PortRange));
      g_ptr_array_add (g->groups, grp);
      idx = g->groups->len;
      ember_prefix_table_insert (g->seen, c, GUINT_TO_POINTER (idx));
    }
  grp = g_ptr_array_index (g->groups, idx - 1);
  if (r->filters->len == 0)
    grp->all = TRUE;
  for (guint i = 0; i < r->filters->len; i++)
    {
      const EmberGatewayFilter *f = &g_array_index (r->filters, EmberGatewayFilter, i);
      PortRange pr = { f->port_min, f->port_max };

      if (f->protocol == EMBER_GATEWAY_FILTER_ICMP)
        grp->icmp = TRUE;
      else
        g_array_append_val (f->protocol == EMBER_GATEWAY_FILTER_TCP ? grp->tcp : grp->udp, pr);
    }
}

static void
each_address (const Resource *r, void (*fn) (const EmberCidr *c, gpointer data), gpointer data)
{
  for (guint i = 0; i < r->addresses->len; i++)
    fn (&g_array_index (r->addresses, EmberCidr, i), data);
  if (r->type == EMBER_GATEWAY_RESOURCE_DNS)
    for (guint i = 0; i < r->resolved->len; i++)
      fn (&g_array_index (r->resolved, EmberCidr, i), data);
}

typedef struct {
  EmberCidr prefix;
  guint group;         /* index in groups */
} Ordered;

static gboolean
collect_prefix (const EmberCidr *cidr, gpointer value, gpointer data)
{
  Ordered o = { *cidr, GPOINTER_TO_UINT (value) - 1 };

  ember_cidr_mask (&o.prefix);
  g_array_append_val ((GArray *) data, o);
  return TRUE;
}

/* rule = group ∪ parent (the rule of the closest enclosing prefix). */
static void
rule_union (Rule *rule, const Group *g, const Rule *parent, GArray *tcp, GArray *udp)
{
  rule->all = g->all || (parent && parent->all);
  rule->icmp = g->icmp || (parent && parent->icmp);
  if (rule->all)
    return;
  g_array_set_size (tcp, 0);
  g_array_set_size (udp, 0);
  g_array_append_vals (tcp, g->tcp->data, g->tcp->len);
  g_array_append_vals (udp, g->udp->data, g->udp->len);
  if (parent)
    {
      g_array_append_vals (tcp, parent->ranges, parent->n_tcp);
      g_array_append_vals (udp, parent->ranges + parent->n_tcp, parent->n_udp);
    }
  rule->n_tcp = (guint16) merge_ranges ((PortRange *) (void *) tcp->data, tcp->len);
  rule->n_udp = (guint16) merge_ranges ((PortRange *) (void *) udp->data, udp->len);
  rule->ranges = g_new (PortRange, (gsize) rule->n_tcp + rule->n_udp + 1u);
  if (rule->n_tcp > 0)
    memcpy (rule->ranges, tcp->data, rule->n_tcp * sizeof (PortRange));
  if (rule->n_udp > 0)
    memcpy (rule->ranges + rule->n_tcp, udp->data, rule->n_udp * sizeof (PortRange));
}

void
ember_gateway_rules_clear (Rules *rules)
{
  if (!rules->entries)
    return;
  for (guint i = 0; i < rules->entries->len; i++)
    g_free (g_array_index (rules->entries, RuleEntry, i).rule.ranges);
  g_clear_pointer (&rules->entries, g_array_unref);
  g_clear_pointer (&rules->table, ember_prefix_table_free);
}

/* O(P log P) in the distinct prefixes P: the prefix table hands them
 * out in order (by address, a shorter prefix before the longer ones it
 * contains), so the prefixes enclosing the current one are exactly a
 * stack, and each rule is its own resources' filters joined with the
 * rule of the closest enclosing prefix, which already holds the rest. */
void
ember_gateway_rules_build (Rules *rules, GPtrArray *auths)
{
  g_autoptr (EmberPrefixTable) seen = ember_prefix_table_new ();
  g_autoptr (GPtrArray) groups = g_ptr_array_new_with_free_func (group_free);
  g_autoptr (GArray) order = g_array_new (FALSE, FALSE, sizeof (Ordered));
  g_autoptr (GArray) stack = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) tcp = g_array_new (FALSE, FALSE, sizeof (PortRange));
  g_autoptr (GArray) udp = g_array_new (FALSE, FALSE, sizeof (PortRange));
  Gather gather = { seen, groups, NULL };

  ember_gateway_rules_clear (rules);
  rules->entries = g_array_new (FALSE, TRUE, sizeof (RuleEntry));
  for (guint i = 0; i < auths->len; i++)
    {
      gather.resource = ((Auth *) g_ptr_array_index (auths, i))->resource;
      each_address (gather.resource, gather_address, &gather);
    }
  ember_prefix_table_foreach (seen, collect_prefix, order);

  g_array_set_size (rules->entries, order->len);
  for (guint i = 0; i < order->len; i++)
    {
      const Ordered *o = &g_array_index (order, Ordered, i);
      RuleEntry *e = &g_array_index (rules->entries, RuleEntry, i);
      const Rule *parent = NULL;

      while (stack->len > 0)
        {
          guint top_index = g_array_index (stack, guint, stack->len - 1);
          const RuleEntry *top = &g_array_index (rules->entries, RuleEntry, top_index);

          if (ember_cidr_covers (&top->prefix, &o->prefix))
            {
              parent = &top->rule;
              break;
            }
          g_array_set_size (stack, stack->len - 1);
        }
      e->prefix = o->prefix;
      rule_union (&e->rule, g_ptr_array_index (groups, o->group), parent, tcp, udp);
      g_array_append_val (stack, i);
    }
  /* The entries array is complete: pointers into it stay valid. */
  rules->table = ember_prefix_table_new ();
  for (guint i = 0; i < rules->entries->len; i++)
    {
      RuleEntry *e = &g_array_index (rules->entries, RuleEntry, i);

      ember_prefix_table_insert (rules->table, &e->prefix, &e->rule);
    }
}

const Rule *
ember_gateway_rules_lookup (const Rules *rules, guint8 family, const guint8 *addr)
{
  if (G_UNLIKELY (!rules->table))
    return NULL;
  return ember_prefix_table_lookup (rules->table, family, addr, NULL);
}

static gboolean
port_in (const PortRange *r, guint n, guint16 port)
{
  guint lo = 0, hi = n;

  while (lo < hi)
    {
      guint mid = (lo + hi) / 2;

      if (port < r[mid].lo)
        hi = mid;
      else if (port > r[mid].hi)
        lo = mid + 1;
      else
        return TRUE;
    }
  return FALSE;
}

gboolean
ember_gateway_rule_allows (const Rule *rule, ProtoClass proto, gboolean has_port, guint16 port)
{
  const PortRange *r;
  guint n;

  if (rule->all)
    return TRUE;
  switch (proto)
    {
    case PROTO_ICMP:
      return rule->icmp;
    case PROTO_TCP:
      r = rule->ranges;
      n = rule->n_tcp;
      break;
    case PROTO_UDP:
      r = rule->ranges + rule->n_tcp;
      n = rule->n_udp;
      break;
    case PROTO_OTHER:
    default:
      return FALSE;
    }
  if (!has_port)
    /* A later fragment carries no port: it passes only where every port
     * does, which after merging is the single range 0-65535. */
    return n == 1 && r[0].lo == 0 && r[0].hi == G_MAXUINT16;
  return port_in (r, n, port);
}
