/* sim/net — PRNG, virtual datagram delivery, NATs, partitions. */
#include "sim.h"

#include <string.h>

/* ---- PRNG --------------------------------------------------------------- */

static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void
sim_rng_seed (SimRng *rng, guint64 seed)
{
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&seed);
}

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

guint64
sim_rng_next (SimRng *rng)
{
  guint64 *s = rng->s;
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

guint64
sim_rng_below (SimRng *rng, guint64 n)
{
  return n == 0 ? 0 : sim_rng_next (rng) % n;
}

gboolean
sim_rng_chance (SimRng *rng, double p)
{
  return (double) (sim_rng_next (rng) >> 11) * 0x1.0p-53 < p;
}

guint64
sim_rng_next_cb (gpointer rng)
{
  return sim_rng_next (rng);
}

EmberAddr
sim_addr (guint32 ip, guint16 port)
{
  EmberAddr a;
  memset (&a, 0, sizeof a);
  a.family = EMBER_ADDR_IPV4;
  a.port = port;
  a.addr[0] = (guint8) (ip >> 24);
  a.addr[1] = (guint8) (ip >> 16);
  a.addr[2] = (guint8) (ip >> 8);
  a.addr[3] = (guint8) ip;
  return a;
}

static guint32
addr_ip (const EmberAddr *a)
{
  return ((guint32) a->addr[0] << 24) | ((guint32) a->addr[1] << 16)
         | ((guint32) a->addr[2] << 8) | a->addr[3];
}

/* ---- NAT ---------------------------------------------------------------- */

#define SIM_NAT_TIMEOUT (60 * G_TIME_SPAN_SECOND)  /* idle UDP mapping */
/* A real NAT has ~64k ports; symmetric NATs on both sides of a few ICE
 * sessions (each one's checks open a mapping per destination) need more
 * than a few hundred. Looked up through hash tables, not scanned. */
#define SIM_MAX_MAPPINGS 8192
/* Destinations a mapping lets answers in from (address-dependent or
 * address-and-port-dependent filtering); when full, a random one is
 * forgotten. A real NAT keeps one conntrack entry per destination; 8
 * was too few once a gateway offers several LAN addresses and checks
 * are paced at 20 ms: the hole a direct check had just opened was
 * forgotten before the peer's answer came through. */
#define SIM_MAX_PERMITS 16
#define SIM_MAX_HOSTS 16

/* What an outbound packet looks a mapping up by: the destination only as
 * far as the host's mapping behaviour cares (RFC 4787 §4.1). */
typedef struct {
  guint host;
  guint16 internal_port;
  guint16 dest_port;
  guint32 dest_ip;
} MappingKey;

typedef struct {
  gboolean used;
  MappingKey key;
  SimHost *host;
  guint16 internal_port;
  guint32 dest_ip;       /* mapping key for address(-port)-dependent */
  guint16 dest_port;
  guint16 external_port;
  gint64 expires;
  /* Filtering: remote endpoints this mapping sent to. */
  guint32 permit_ip[SIM_MAX_PERMITS];
  guint16 permit_port[SIM_MAX_PERMITS];
  guint n_permits;
} Mapping;

typedef struct {
  gint64 at;
  guint64 seq;
  SimHost *src;      /* for partitions */
  EmberAddr from;    /* as seen on the wire (after NAT) */
  EmberAddr to;
  gsize len;
  guint8 data[];
} Packet;

struct _SimNet {
  SimRng *rng;
  SimHost *hosts[SIM_MAX_HOSTS];
  guint n_hosts;
  Mapping *mappings;         /* SIM_MAX_MAPPINGS */
  GHashTable *by_key;        /* MappingKey* -> Mapping* (outbound) */
  GHashTable *by_external;   /* (host id << 16 | external port) -> Mapping* (inbound) */
  guint *free_slots;         /* indices of unused mappings, a stack */
  guint n_free;
  guint16 next_port;
  GPtrArray *heap;  /* min-heap of Packet* by (at, seq) */
  guint64 seq;
  double loss;
  gboolean block_direct;
  guint8 partition[SIM_MAX_HOSTS][SIM_MAX_HOSTS];
  guint64 delivered;
};

static guint
key_hash (gconstpointer p)
{
  const MappingKey *k = p;
  return (k->host * 31u + k->internal_port) * 2654435761u ^ k->dest_ip * 40503u ^ k->dest_port;
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  const MappingKey *x = a, *y = b;
  return x->host == y->host && x->internal_port == y->internal_port && x->dest_ip == y->dest_ip
         && x->dest_port == y->dest_port;
}

static gpointer
external_key (guint host, guint16 port)
{
  return GUINT_TO_POINTER ((host << 16) | port);
}

SimNet *
sim_net_new (SimRng *rng)
{
  SimNet *net = g_new0 (SimNet, 1);
  net->rng = rng;
  net->heap = g_ptr_array_new_with_free_func (g_free);
  net->next_port = 20000;
  net->mappings = g_new0 (Mapping, SIM_MAX_MAPPINGS);
  net->free_slots = g_new (guint, SIM_MAX_MAPPINGS);
  /* Lowest index first, as the linear scan this replaced handed them out. */
  for (guint i = 0; i < SIM_MAX_MAPPINGS; i++)
    net->free_slots[i] = SIM_MAX_MAPPINGS - 1 - i;
  net->n_free = SIM_MAX_MAPPINGS;
  net->by_key = g_hash_table_new (key_hash, key_equal);
  net->by_external = g_hash_table_new (g_direct_hash, g_direct_equal);
  return net;
}

static void
mapping_free (SimNet *net, Mapping *m)
{
  g_hash_table_remove (net->by_key, &m->key);
  g_hash_table_remove (net->by_external, external_key (m->host->id, m->external_port));
  m->used = FALSE;
  net->free_slots[net->n_free++] = (guint) (m - net->mappings);
}

void
sim_net_free (SimNet *net)
{
  if (net == NULL)
    return;
  for (guint i = 0; i < net->n_hosts; i++)
    g_free (net->hosts[i]);
  g_ptr_array_free (net->heap, TRUE);
  g_hash_table_destroy (net->by_key);
  g_hash_table_destroy (net->by_external);
  g_free (net->mappings);
  g_free (net->free_slots);
  g_free (net);
}

SimHost *
sim_net_add_host (SimNet *net, guint32 ip, SimNatKind mapping, SimNatKind filtering,
                  guint32 nat_ip, gint64 latency, SimDeliverFunc deliver, gpointer user_data)
{
  g_assert (net->n_hosts < SIM_MAX_HOSTS);
  SimHost *h = g_new0 (SimHost, 1);
  h->id = net->n_hosts;
  h->ip = ip;
  h->mapping = mapping;
  h->filtering = filtering;
  h->nat_ip = nat_ip;
  h->latency = latency;
  h->deliver = deliver;
  h->user_data = user_data;
  net->hosts[net->n_hosts++] = h;
  return h;
}

void
sim_net_set_loss (SimNet *net, double loss)
{
  net->loss = loss;
}

void
sim_net_set_block_direct (SimNet *net, gboolean block)
{
  net->block_direct = block;
}

void
sim_net_set_partition (SimNet *net, guint a, guint b, gboolean cut)
{
  net->partition[a][b] = net->partition[b][a] = cut ? 1 : 0;
}

guint64
sim_net_get_delivered (const SimNet *net)
{
  return net->delivered;
}

void
sim_net_nat_rebind (SimNet *net, SimHost *host)
{
  for (guint i = 0; i < SIM_MAX_MAPPINGS; i++)
    if (net->mappings[i].used && net->mappings[i].host == host)
      mapping_free (net, &net->mappings[i]);
  net->next_port = (guint16) (net->next_port + 1000);
  if (net->next_port < 20000)
    net->next_port = 20000;
}

static Mapping *
nat_outbound (SimNet *net, gint64 now, SimHost *h, guint16 internal_port, const EmberAddr *to)
{
  guint32 dip = addr_ip (to);
  /* RFC 4787 §4.1: the mapping is reused for any destination (EI),
   * the same destination IP (AD) or the same IP and port (APD). */
  MappingKey key = { .host = h->id, .internal_port = internal_port };
  if (h->mapping == SIM_NAT_ADDRESS_DEPENDENT || h->mapping == SIM_NAT_ADDRESS_PORT_DEPENDENT)
    key.dest_ip = dip;
  if (h->mapping == SIM_NAT_ADDRESS_PORT_DEPENDENT)
    key.dest_port = to->port;
  Mapping *m = g_hash_table_lookup (net->by_key, &key);
  if (m != NULL && m->expires <= now)
    {
      mapping_free (net, m);
      m = NULL;
    }
  if (m != NULL)
    {
      m->expires = now + SIM_NAT_TIMEOUT;
      gboolean known = FALSE;
      for (guint j = 0; j < m->n_permits && !known; j++)
        known = m->permit_ip[j] == dip && m->permit_port[j] == to->port;
      if (!known)
        {
          guint k = m->n_permits < SIM_MAX_PERMITS ? m->n_permits++ : (guint) (sim_rng_below (net->rng, SIM_MAX_PERMITS));
          m->permit_ip[k] = dip;
          m->permit_port[k] = to->port;
        }
      return m;
    }
  if (net->n_free == 0)
    {
      /* Sweep what expired unnoticed. */
      for (guint i = 0; i < SIM_MAX_MAPPINGS; i++)
        if (net->mappings[i].used && net->mappings[i].expires <= now)
          mapping_free (net, &net->mappings[i]);
      if (net->n_free == 0)
        return NULL;
    }
  m = &net->mappings[net->free_slots[--net->n_free]];
  memset (m, 0, sizeof *m);
  m->used = TRUE;
  m->key = key;
  m->host = h;
  m->internal_port = internal_port;
  m->dest_ip = dip;
  m->dest_port = to->port;
  m->external_port = net->next_port++;
  if (net->next_port < 20000)
    net->next_port = 20000;
  /* A port still held by a live mapping of this NAT is skipped. */
  while (g_hash_table_contains (net->by_external, external_key (h->id, m->external_port)))
    m->external_port = net->next_port++;
  m->expires = now + SIM_NAT_TIMEOUT;
  m->permit_ip[0] = dip;
  m->permit_port[0] = to->port;
  m->n_permits = 1;
  g_hash_table_insert (net->by_key, &m->key, m);
  g_hash_table_insert (net->by_external, external_key (h->id, m->external_port), m);
  return m;
}

static gboolean
heap_less (const Packet *a, const Packet *b)
{
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
heap_push (SimNet *net, Packet *p)
{
  GPtrArray *h = net->heap;
  g_ptr_array_add (h, p);
  guint i = h->len - 1;
  while (i > 0)
    {
      guint parent = (i - 1) / 2;
      if (!heap_less (h->pdata[i], h->pdata[parent]))
        break;
      gpointer t = h->pdata[i];
      h->pdata[i] = h->pdata[parent];
      h->pdata[parent] = t;
      i = parent;
    }
}

static Packet *
heap_pop (SimNet *net)
{
  GPtrArray *h = net->heap;
  Packet *top = h->pdata[0];
  h->pdata[0] = h->pdata[h->len - 1];
  g_ptr_array_steal_index_fast (h, h->len - 1);
  guint i = 0, n = h->len;
  for (;;)
    {
      guint l = 2 * i + 1, r = l + 1, m = i;
      if (l < n && heap_less (h->pdata[l], h->pdata[m]))
        m = l;
      if (r < n && heap_less (h->pdata[r], h->pdata[m]))
        m = r;
      if (m == i)
        break;
      gpointer t = h->pdata[i];
      h->pdata[i] = h->pdata[m];
      h->pdata[m] = t;
      i = m;
    }
  return top;
}

/* One-way latency = sender's + receiver's (found by public address). */
static gint64
dest_latency (const SimNet *net, const EmberAddr *to)
{
  guint32 dip = addr_ip (to);
  for (guint i = 0; i < net->n_hosts; i++)
    {
      const SimHost *h = net->hosts[i];
      if ((h->mapping == SIM_NAT_NONE && h->ip == dip)
          || (h->mapping != SIM_NAT_NONE && h->nat_ip == dip))
        return h->latency;
    }
  return 0;
}

void
sim_net_send (SimNet *net, gint64 now, SimHost *h, const EmberAddr *from, const EmberAddr *to,
              const guint8 *buf, gsize len)
{
  if (h->down || len == 0 || len > 2048)
    return;
  EmberAddr wire_from = *from;
  if (h->mapping != SIM_NAT_NONE)
    {
      Mapping *m = nat_outbound (net, now, h, from->port, to);
      if (m == NULL)
        return;
      wire_from = sim_addr (h->nat_ip, m->external_port);
    }
  if (net->loss > 0 && sim_rng_chance (net->rng, net->loss))
    return;
  Packet *p = g_malloc (sizeof *p + len);
  p->at = now + h->latency + dest_latency (net, to);
  p->seq = net->seq++;
  p->src = h;
  p->from = wire_from;
  p->to = *to;
  p->len = len;
  memcpy (p->data, buf, len);
  heap_push (net, p);
}

gint64
sim_net_next_delivery (const SimNet *net)
{
  if (net->heap->len == 0)
    return G_MAXINT64;
  return ((const Packet *) net->heap->pdata[0])->at;
}

/* Finds the host a public address belongs to, translating through its
 * NAT (with filtering); NULL when dropped. */
static SimHost *
route (SimNet *net, gint64 now, const Packet *p, EmberAddr *local)
{
  guint32 dip = addr_ip (&p->to);
  guint32 sip = addr_ip (&p->from);
  for (guint i = 0; i < net->n_hosts; i++)
    {
      SimHost *h = net->hosts[i];
      if (h->mapping == SIM_NAT_NONE && h->ip == dip)
        {
          *local = p->to;
          return h;
        }
    }
  for (guint i = 0; i < net->n_hosts; i++)
    {
      SimHost *h = net->hosts[i];
      if (h->mapping == SIM_NAT_NONE || h->nat_ip != dip)
        continue;
      Mapping *m = g_hash_table_lookup (net->by_external, external_key (h->id, p->to.port));
      if (m == NULL)
        continue;
      if (m->expires <= now)
        return NULL;
      /* RFC 4787 §5: filtering of inbound packets. */
      gboolean ok = m->host->filtering == SIM_NAT_ENDPOINT_INDEPENDENT
                    || m->host->filtering == SIM_NAT_NONE;
      for (guint j = 0; j < m->n_permits && !ok; j++)
        ok = m->permit_ip[j] == sip
             && (m->host->filtering == SIM_NAT_ADDRESS_DEPENDENT || m->permit_port[j] == p->from.port);
      if (!ok)
        return NULL;
      *local = sim_addr (m->host->ip, m->internal_port);
      return m->host;
    }
  return NULL;
}

void
sim_net_run_until (SimNet *net, gint64 now)
{
  while (net->heap->len > 0 && sim_net_next_delivery (net) <= now)
    {
      Packet *p = heap_pop (net);
      EmberAddr local;
      SimHost *dst = route (net, p->at, p, &local);
      if (dst != NULL && !dst->down && !p->src->down && !net->partition[p->src->id][dst->id]
          && !(net->block_direct && p->src->is_node && dst->is_node))
        {
          net->delivered++;
          dst->deliver (dst, p->at, &local, &p->from, p->data, p->len, dst->user_data);
        }
      g_free (p);
    }
}
