/* gateway-rules — compiles a client's authorizations into the table the
 * packet path reads: one entry per distinct prefix of its resources,
 * holding the union of the filters of every resource that contains the
 * prefix. The prefixes containing one address are nested, so the longest
 * match's entry already holds everything any authorized resource allows
 * for that address: one lookup and one filter check per packet. Built on
 * the control path (authorize, reject, update, expiry), read per packet. */
#include <string.h>

#include "tunnel/gateway-policy-private.h"

/* `outer` contains all of `inner` (host bits of both ignored). */
static gboolean
cidr_covers (const EmberCidr *outer, const EmberCidr *inner)
{
  return outer->family == inner->family && outer->prefix <= inner->prefix &&
         ember_cidr_contains (outer, inner->family, inner->addr);
}

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

static void
rule_add_resource (Rule *rule, GArray *tcp, GArray *udp, const Resource *r)
{
  if (r->filters->len == 0)
    {
      rule->all = TRUE;
      return;
    }
  for (guint i = 0; i < r->filters->len; i++)
    {
      const EmberGatewayFilter *f = &g_array_index (r->filters, EmberGatewayFilter, i);
      PortRange pr = { f->port_min, f->port_max };

      if (f->protocol == EMBER_GATEWAY_FILTER_ICMP)
        rule->icmp = TRUE;
      else
        g_array_append_val (f->protocol == EMBER_GATEWAY_FILTER_TCP ? tcp : udp, pr);
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

static void
add_prefix (const EmberCidr *c, gpointer data)
{
  EmberPrefixTable *seen = data;

  ember_prefix_table_insert (seen, c, GINT_TO_POINTER (1));
}

typedef struct {
  const EmberCidr *inner;
  gboolean covered;
} CoverQuery;

static void
covers_query (const EmberCidr *c, gpointer data)
{
  CoverQuery *q = data;

  q->covered = q->covered || cidr_covers (c, q->inner);
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

static gboolean
collect_prefix (const EmberCidr *cidr, gpointer value, gpointer data)
{
  EmberCidr m = *cidr;

  (void) value;
  ember_cidr_mask (&m);
  g_array_append_val ((GArray *) data, m);
  return TRUE;
}

void
ember_gateway_rules_build (Rules *rules, GPtrArray *auths)
{
  g_autoptr (EmberPrefixTable) seen = ember_prefix_table_new ();
  g_autoptr (GArray) prefixes = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  g_autoptr (GArray) tcp = g_array_new (FALSE, FALSE, sizeof (PortRange));
  g_autoptr (GArray) udp = g_array_new (FALSE, FALSE, sizeof (PortRange));

  ember_gateway_rules_clear (rules);
  rules->entries = g_array_new (FALSE, TRUE, sizeof (RuleEntry));
  /* The distinct prefixes, each once (the table ignores host bits). */
  for (guint i = 0; i < auths->len; i++)
    each_address (((Auth *) g_ptr_array_index (auths, i))->resource, add_prefix, seen);
  ember_prefix_table_foreach (seen, collect_prefix, prefixes);

  for (guint p = 0; p < prefixes->len; p++)
    {
      RuleEntry e = { .prefix = g_array_index (prefixes, EmberCidr, p) };

      g_array_set_size (tcp, 0);
      g_array_set_size (udp, 0);
      for (guint i = 0; i < auths->len; i++)
        {
          const Resource *r = ((Auth *) g_ptr_array_index (auths, i))->resource;
          CoverQuery q = { &e.prefix, FALSE };

          each_address (r, covers_query, &q);
          if (q.covered)
            rule_add_resource (&e.rule, tcp, udp, r);
        }
      if (!e.rule.all)
        {
          e.rule.n_tcp = (guint16) merge_ranges ((PortRange *) (void *) tcp->data, tcp->len);
          e.rule.n_udp = (guint16) merge_ranges ((PortRange *) (void *) udp->data, udp->len);
          e.rule.ranges = g_new (PortRange, (gsize) e.rule.n_tcp + e.rule.n_udp + 1u);
          if (e.rule.n_tcp > 0)
            memcpy (e.rule.ranges, tcp->data, e.rule.n_tcp * sizeof (PortRange));
          if (e.rule.n_udp > 0)
            memcpy (e.rule.ranges + e.rule.n_tcp, udp->data, e.rule.n_udp * sizeof (PortRange));
        }
      g_array_append_val (rules->entries, e);
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
