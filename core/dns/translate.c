/* dns/translate — the gateway's side of proxy addresses. See translate.h. */
#include <string.h>

#include "dns/codec.h"
#include "dns/pattern.h"
#include "dns/proxy.h"
#include "dns/translate.h"
#include "packet/checksum.h"

G_DEFINE_QUARK (ember-dns-translate-error-quark, ember_dns_translate_error)

/* ---- names and their lookups ------------------------------------------- */

typedef enum {
  LOOKUP_NONE = 0,   /* never asked, or its answer went stale */
  LOOKUP_PENDING,
  LOOKUP_DONE,       /* answered (maybe with no address) */
  LOOKUP_FAILED,     /* SERVFAIL, timeout, backend error */
} LookupState;

typedef struct {
  guint8 *data;
  gsize len;
  EmberPortalId client;
} Held;

typedef struct {
  char *name;                /* lower case; the table's key */
  LookupState state;
  gint64 until;              /* DONE / FAILED: valid until; PENDING: deadline */
  guint16 id[2];             /* wire ids of the A and AAAA queries */
  gboolean asked[2];         /* still waiting for the A / AAAA answer */
  gboolean failed;           /* one of the two failed */
  guint32 min_ttl;
  EmberAddr addr[2][EMBER_DNS_NAT_ADDRS_MAX];
  guint n_addr[2];
  guint next_addr[2];        /* round robin over the addresses, per new flow */
  GQueue held;               /* Held* */
  guint refs;                /* mappings naming it */
} Name;

/* (client, proxy index) -> name and resource. */
typedef struct {
  EmberPortalId client;
  guint32 index;
} MapKey;

typedef struct {
  MapKey key;
  EmberPortalId resource;
  Name *name;
} Mapping;

/* ---- flows -------------------------------------------------------------- */

typedef struct {
  guint8 family, proto;
  guint16 cport, rport;     /* client's port (ICMP: echo id), remote port */
  guint8 client[16];
  guint8 remote[16];
} FlowKey;

typedef struct {
  FlowKey fwd;              /* remote = the proxy address */
  FlowKey rev;              /* remote = the real address */
  EmberPortalId client;
  EmberPortalId resource;
  gint64 last;
  gint64 idle;
} Flow;

typedef struct {
  EmberDnsNatOutput out;
  guint8 *data;
  gsize len;
} Output;

struct _EmberDnsTranslator {
  EmberIceRng rng;
  GHashTable *names;        /* char* -> Name* */
  GHashTable *mappings;     /* MapKey* -> Mapping* */
  GHashTable *flows;        /* FlowKey* (fwd) -> Flow* (owned) */
  GHashTable *rflows;       /* FlowKey* (rev) -> Flow* */
  GHashTable *inflight;     /* GUINT_TO_POINTER(id) -> Name* */
  GQueue queries;           /* Name* whose queries are not yet handed out */
  GQueue outputs;           /* Output* */
  GQueue events;            /* EmberPortalId* */
  gint64 next_sweep;
  EmberDnsNatStats stats;
};

static guint
map_key_hash (gconstpointer p)
{
  const MapKey *k = p;

  return g_str_hash (k->client.str) ^ (k->index * 2654435761u);
}

static gboolean
map_key_equal (gconstpointer a, gconstpointer b)
{
  const MapKey *x = a, *y = b;

  return x->index == y->index && strcmp (x->client.str, y->client.str) == 0;
}

static guint
flow_key_hash (gconstpointer p)
{
  const FlowKey *k = p;
  guint h = 2166136261u;
  const guint8 *b = (const guint8 *) k;

  /* FNV-1a over the packed key (no padding: 2 + 2 + 2 + 16 + 16 bytes). */
  for (gsize i = 0; i < sizeof *k; i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

static gboolean
flow_key_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (FlowKey)) == 0;
}

static void
held_free (gpointer p)
{
  Held *h = p;

  g_free (h->data);
  g_free (h);
}

static void
name_free (gpointer p)
{
  Name *n = p;

  g_queue_clear_full (&n->held, held_free);
  g_free (n->name);
  g_free (n);
}

static void
output_free (gpointer p)
{
  Output *o = p;

  g_free (o->data);
  g_free (o);
}

static guint
fam_index (guint family)
{
  return family == EMBER_ADDR_IPV6 ? 1 : 0;
}

static gsize
fam_len (guint family)
{
  return family == EMBER_ADDR_IPV6 ? 16 : 4;
}

/* ---- lifetime ----------------------------------------------------------- */

EmberDnsTranslator *
ember_dns_translator_new (const EmberIceRng *rng)
{
  EmberDnsTranslator *t = g_new0 (EmberDnsTranslator, 1);

  g_return_val_if_fail (rng != NULL && rng->next != NULL, NULL);
  t->rng = *rng;
  t->names = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, name_free);
  t->mappings = g_hash_table_new_full (map_key_hash, map_key_equal, NULL, g_free);
  t->flows = g_hash_table_new_full (flow_key_hash, flow_key_equal, NULL, g_free);
  t->rflows = g_hash_table_new (flow_key_hash, flow_key_equal);
  t->inflight = g_hash_table_new (g_direct_hash, g_direct_equal);
  t->next_sweep = G_MAXINT64;
  return t;
}

void
ember_dns_translator_free (EmberDnsTranslator *t)
{
  if (!t)
    return;
  g_queue_clear (&t->queries);
  g_queue_clear_full (&t->outputs, output_free);
  g_queue_clear_full (&t->events, g_free);
  g_hash_table_destroy (t->inflight);
  g_hash_table_destroy (t->rflows);
  g_hash_table_destroy (t->flows);
  g_hash_table_destroy (t->mappings);
  g_hash_table_destroy (t->names);
  g_free (t);
}

/* ---- outputs ------------------------------------------------------------ */

static void
push_event (EmberDnsTranslator *t, const EmberPortalId *resource)
{
  for (GList *l = t->events.head; l; l = l->next)
    if (strcmp (((EmberPortalId *) l->data)->str, resource->str) == 0)
      return;
  g_queue_push_tail (&t->events, g_memdup2 (resource, sizeof *resource));
}

static void
push_output (EmberDnsTranslator *t, EmberDnsNatOutputKind kind, const EmberPortalId *client,
             const guint8 *data, gsize len)
{
  Output *o = g_new0 (Output, 1);

  if (t->outputs.length >= EMBER_DNS_NAT_OUTPUT_MAX)
    {
      output_free (g_queue_pop_head (&t->outputs));
      t->stats.outputs_dropped++;
    }
  o->out.kind = kind;
  o->out.client = *client;
  o->data = g_memdup2 (data, len);
  o->len = len;
  g_queue_push_tail (&t->outputs, o);
}

/* ---- control ------------------------------------------------------------ */

static void
unref_name (EmberDnsTranslator *t, Name *n)
{
  g_assert (n->refs > 0);
  if (--n->refs > 0)
    return;
  if (n->state == LOOKUP_PENDING)
    for (guint f = 0; f < 2; f++)
      if (n->asked[f])
        {
          g_hash_table_remove (t->inflight, GUINT_TO_POINTER (n->id[f]));
          g_queue_remove (&t->queries, GUINT_TO_POINTER ((guint) n->id[f] | 0x10000u));
        }
  g_hash_table_remove (t->names, n->name);
}

static gboolean
check_proxy (const EmberAddr *addr, guint family, guint32 *index, const char *field,
             GError **error)
{
  if (!addr || addr->family == EMBER_ADDR_NONE)
    return TRUE;
  if (addr->family != family || !ember_dns_proxy_index_of (family, addr->addr, index))
    {
      g_set_error (error, EMBER_DNS_TRANSLATE_ERROR, 0,
                   "%s: not a proxy address of the %s range", field,
                   family == EMBER_ADDR_IPV4 ? "100.96.0.0/11" : "fd00:2021:1111:8000::/107");
      return FALSE;
    }
  return TRUE;
}

static void
set_mapping (EmberDnsTranslator *t, const EmberPortalId *client, const EmberPortalId *resource,
             guint32 index, Name *n)
{
  MapKey key = { .client = *client, .index = index };
  Mapping *m = g_hash_table_lookup (t->mappings, &key);

  if (m)
    {
      if (m->name == n && strcmp (m->resource.str, resource->str) == 0)
        return;
      n->refs++;
      unref_name (t, m->name);
    }
  else
    {
      m = g_new0 (Mapping, 1);
      m->key = key;
      g_hash_table_insert (t->mappings, &m->key, m);
      n->refs++;
    }
  m->resource = *resource;
  m->name = n;
}

gboolean
ember_dns_translator_add_name (EmberDnsTranslator *t, gint64 now, const EmberPortalId *client,
                               const EmberPortalId *resource, const char *pattern,
                               const char *name, const EmberAddr *proxy4,
                               const EmberAddr *proxy6, GError **error)
{
  g_autofree char *norm = NULL;
  g_autofree char *lower = NULL;
  guint8 wire[EMBER_DNS_NAME_WIRE_MAX];
  gsize wire_len;
  guint32 i4 = 0, i6 = 0;
  gboolean has4 = proxy4 && proxy4->family != EMBER_ADDR_NONE;
  gboolean has6 = proxy6 && proxy6->family != EMBER_ADDR_NONE;
  Name *n;

  (void) now;
  g_return_val_if_fail (t && client && resource, FALSE);
  if (!name || ember_dns_name_write (name, wire, sizeof wire, &wire_len) != EMBER_DNS_OK ||
      wire_len <= 1)
    {
      g_set_error (error, EMBER_DNS_TRANSLATE_ERROR, 0, "name: not a DNS name");
      t->stats.names_refused++;
      return FALSE;
    }
  norm = ember_dns_pattern_normalize (pattern ? pattern : "", NULL);
  if (!norm || !ember_dns_pattern_match (norm, name))
    {
      g_set_error (error, EMBER_DNS_TRANSLATE_ERROR, 0,
                   "name: %s is not covered by the resource's pattern %s", name,
                   pattern ? pattern : "(none)");
      t->stats.names_refused++;
      return FALSE;
    }
  if ((!has4 && !has6) || !check_proxy (proxy4, EMBER_ADDR_IPV4, &i4, "proxy_ips", error) ||
      !check_proxy (proxy6, EMBER_ADDR_IPV6, &i6, "proxy_ips", error))
    {
      if (!has4 && !has6)
        g_set_error (error, EMBER_DNS_TRANSLATE_ERROR, 0, "proxy_ips: none given");
      t->stats.names_refused++;
      return FALSE;
    }
  if (g_hash_table_size (t->mappings) + 2 > EMBER_DNS_NAT_NAMES_MAX)
    {
      g_set_error (error, EMBER_DNS_TRANSLATE_ERROR, 0, "proxy_ips: too many names (%u)",
                   EMBER_DNS_NAT_NAMES_MAX);
      t->stats.names_refused++;
      return FALSE;
    }
  lower = g_ascii_strdown (name, -1);
  if (lower[0] && lower[strlen (lower) - 1] == '.')
    lower[strlen (lower) - 1] = '\0';
  n = g_hash_table_lookup (t->names, lower);
  if (!n)
    {
      n = g_new0 (Name, 1);
      n->name = g_steal_pointer (&lower);
      g_queue_init (&n->held);
      g_hash_table_insert (t->names, n->name, n);
    }
  /* Hold a reference across the two set_mapping calls. */
  n->refs++;
  if (has4)
    set_mapping (t, client, resource, i4, n);
  if (has6)
    set_mapping (t, client, resource, i6, n);
  unref_name (t, n);
  t->stats.names_added++;
  return TRUE;
}

static void
remove_flow (EmberDnsTranslator *t, Flow *f)
{
  g_hash_table_remove (t->rflows, &f->rev);
  g_hash_table_remove (t->flows, &f->fwd);
}

/* Forgets the client's mappings (of one resource, or all) and flows. */
static void
forget (EmberDnsTranslator *t, const EmberPortalId *client, const EmberPortalId *resource)
{
  GHashTableIter it;
  gpointer v;
  g_autoptr (GPtrArray) gone = g_ptr_array_new ();

  g_hash_table_iter_init (&it, t->flows);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Flow *f = v;

      if (strcmp (f->client.str, client->str) == 0 &&
          (!resource || strcmp (f->resource.str, resource->str) == 0))
        g_ptr_array_add (gone, f);
    }
  for (guint i = 0; i < gone->len; i++)
    remove_flow (t, gone->pdata[i]);
  g_ptr_array_set_size (gone, 0);

  g_hash_table_iter_init (&it, t->mappings);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Mapping *m = v;

      if (strcmp (m->key.client.str, client->str) == 0 &&
          (!resource || strcmp (m->resource.str, resource->str) == 0))
        g_ptr_array_add (gone, m);
    }
  for (guint i = 0; i < gone->len; i++)
    {
      Mapping *m = gone->pdata[i];
      Name *n = m->name;
      EmberPortalId res = m->resource;

      /* Its held packets go too. */
      for (GList *l = n->held.head; l;)
        {
          GList *next = l->next;
          Held *h = l->data;

          if (strcmp (h->client.str, client->str) == 0)
            {
              held_free (h);
              g_queue_delete_link (&n->held, l);
            }
          l = next;
        }
      g_hash_table_remove (t->mappings, &m->key);
      unref_name (t, n);
      push_event (t, &res);
    }
}

void
ember_dns_translator_remove_client (EmberDnsTranslator *t, const EmberPortalId *client)
{
  g_return_if_fail (t && client);
  forget (t, client, NULL);
}

void
ember_dns_translator_remove_resource (EmberDnsTranslator *t, const EmberPortalId *client,
                                      const EmberPortalId *resource)
{
  g_return_if_fail (t && client && resource);
  forget (t, client, resource);
}

GArray *
ember_dns_translator_resource_addresses (EmberDnsTranslator *t, const EmberPortalId *resource)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  g_autoptr (GHashTable) seen = g_hash_table_new (g_direct_hash, g_direct_equal);
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, t->mappings);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Mapping *m = v;
      Name *n = m->name;

      if (strcmp (m->resource.str, resource->str) != 0 || g_hash_table_contains (seen, n))
        continue;
      g_hash_table_add (seen, n);
      for (guint f = 0; f < 2; f++)
        for (guint i = 0; i < n->n_addr[f]; i++)
          {
            EmberCidr c = { 0 };
            gboolean dup = FALSE;

            c.family = n->addr[f][i].family;
            c.prefix = (guint8) (fam_len (c.family) * 8);
            memcpy (c.addr, n->addr[f][i].addr, fam_len (c.family));
            for (guint j = 0; j < out->len && !dup; j++)
              dup = memcmp (&g_array_index (out, EmberCidr, j), &c, sizeof c) == 0;
            if (!dup)
              g_array_append_val (out, c);
          }
    }
  return out;
}

/* ---- lookups ------------------------------------------------------------ */

static void
start_lookup (EmberDnsTranslator *t, gint64 now, Name *n)
{
  for (guint f = 0; f < 2; f++)
    {
      guint16 id;

      /* An id no other lookup in flight uses (the backend matches by
       * upstream and id, seed 004). */
      do
        id = (guint16) ember_ice_rng_below (&t->rng, 65536);
      while (g_hash_table_contains (t->inflight, GUINT_TO_POINTER (id)) ||
             (f == 1 && id == n->id[0]));
      n->id[f] = id;
      n->asked[f] = TRUE;
      g_hash_table_insert (t->inflight, GUINT_TO_POINTER (id), n);
      /* Queued as id | 0x10000 so that id 0 is not a NULL pointer. */
      g_queue_push_tail (&t->queries, GUINT_TO_POINTER ((guint) id | 0x10000u));
    }
  n->state = LOOKUP_PENDING;
  n->failed = FALSE;
  n->min_ttl = G_MAXUINT32;
  n->n_addr[0] = n->n_addr[1] = 0;
  n->until = now + EMBER_DNS_NAT_RESOLVE_TIMEOUT_US;
  if (n->until < t->next_sweep)
    t->next_sweep = n->until;
}

gsize
ember_dns_translator_poll_query (EmberDnsTranslator *t, guint8 *buf, gsize cap)
{
  gpointer p;

  while ((p = g_queue_pop_head (&t->queries)))
    {
      guint16 id = (guint16) (GPOINTER_TO_UINT (p) & 0xFFFFu);
      Name *n = g_hash_table_lookup (t->inflight, GUINT_TO_POINTER (id));
      guint f;
      gsize len = 0;

      if (!n)
        continue;
      f = n->asked[0] && n->id[0] == id ? 0 : 1;
      if (ember_dns_build_query (id, n->name, f ? EMBER_DNS_TYPE_AAAA : EMBER_DNS_TYPE_A,
                                 EMBER_DNS_EDNS_SIZE, buf, cap, &len) != EMBER_DNS_OK)
        continue;
      t->stats.queries++;
      return len;
    }
  return 0;
}

static void release_held (EmberDnsTranslator *t, gint64 now, Name *n);

static void
finish_lookup (EmberDnsTranslator *t, gint64 now, Name *n)
{
  GHashTableIter it;
  gpointer v;

  if (n->failed && n->n_addr[0] + n->n_addr[1] == 0)
    {
      n->state = LOOKUP_FAILED;
      n->until = now + EMBER_DNS_NAT_FAILED_RETRY_US;
      t->stats.lookup_failures++;
    }
  else
    {
      gint64 ttl = n->min_ttl == G_MAXUINT32 ? EMBER_DNS_NAT_TTL_MIN_US
                                             : (gint64) n->min_ttl * G_TIME_SPAN_SECOND;

      n->state = LOOKUP_DONE;
      /* Half an answer (one family failed): ask again soon. */
      if (n->failed)
        ttl = EMBER_DNS_NAT_FAILED_RETRY_US;
      else
        ttl = CLAMP (ttl, EMBER_DNS_NAT_TTL_MIN_US, EMBER_DNS_NAT_TTL_MAX_US);
      n->until = now + ttl;
    }
  g_hash_table_iter_init (&it, t->mappings);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Mapping *) v)->name == n)
      push_event (t, &((Mapping *) v)->resource);
  release_held (t, now, n);
}

static void
lookup_part_done (EmberDnsTranslator *t, gint64 now, Name *n, guint f, gboolean failed)
{
  g_hash_table_remove (t->inflight, GUINT_TO_POINTER (n->id[f]));
  n->asked[f] = FALSE;
  if (failed)
    n->failed = TRUE;
  if (!n->asked[0] && !n->asked[1])
    finish_lookup (t, now, n);
}

gboolean
ember_dns_translator_handle_answer (EmberDnsTranslator *t, gint64 now, const guint8 *buf,
                                    gsize len)
{
  EmberDnsMessage msg;
  char qname[EMBER_DNS_NAME_TEXT_MAX];
  EmberDnsRecordIter iter;
  EmberDnsRecord rr;
  Name *n;
  guint f;
  guint16 type;
  guint rcode;

  if (ember_dns_message_parse (&msg, buf, len) != EMBER_DNS_OK ||
      !ember_dns_message_is_response (&msg) ||
      !(n = g_hash_table_lookup (t->inflight, GUINT_TO_POINTER (msg.id))))
    {
      t->stats.answers_unmatched++;
      return FALSE;
    }
  f = n->asked[0] && n->id[0] == msg.id ? 0 : 1;
  type = f ? EMBER_DNS_TYPE_AAAA : EMBER_DNS_TYPE_A;
  /* seed 004: an id alone never matches; the question must be ours. */
  if (msg.qtype != type || msg.qclass != EMBER_DNS_CLASS_IN ||
      ember_dns_message_qname (&msg, qname, sizeof qname) != EMBER_DNS_OK ||
      g_ascii_strcasecmp (qname, n->name) != 0)
    {
      t->stats.answers_unmatched++;
      return FALSE;
    }
  t->stats.answers++;
  rcode = ember_dns_message_rcode (&msg);
  if (rcode == EMBER_DNS_RCODE_NOERROR)
    {
      /* Every address record of the answer section: after a CNAME chain
       * they are owned by its last name, which the upstream resolved for
       * our question. */
      ember_dns_record_iter_init (&iter, &msg);
      while (ember_dns_record_iter_next (&iter, &rr))
        {
          EmberAddr *a;

          if (rr.section != EMBER_DNS_SECTION_ANSWER || rr.type != type ||
              rr.rclass != EMBER_DNS_CLASS_IN || rr.rdlength != (f ? 16 : 4) ||
              n->n_addr[f] >= EMBER_DNS_NAT_ADDRS_MAX)
            continue;
          a = &n->addr[f][n->n_addr[f]++];
          memset (a, 0, sizeof *a);
          a->family = f ? EMBER_ADDR_IPV6 : EMBER_ADDR_IPV4;
          memcpy (a->addr, buf + rr.rdata_off, rr.rdlength);
          n->min_ttl = MIN (n->min_ttl, rr.ttl);
        }
      n->next_addr[f] = 0;
    }
  lookup_part_done (t, now, n, f,
                    rcode != EMBER_DNS_RCODE_NOERROR && rcode != EMBER_DNS_RCODE_NXDOMAIN);
  return TRUE;
}

gboolean
ember_dns_translator_handle_error (EmberDnsTranslator *t, gint64 now, const guint8 *buf,
                                   gsize len)
{
  Name *n;
  guint16 id;

  if (len < 2)
    return FALSE;
  id = (guint16) ((buf[0] << 8) | buf[1]);
  if (!(n = g_hash_table_lookup (t->inflight, GUINT_TO_POINTER (id))))
    return FALSE;
  lookup_part_done (t, now, n, n->asked[0] && n->id[0] == id ? 0 : 1, TRUE);
  return TRUE;
}

/* ---- packets ------------------------------------------------------------ */

/* The flow key of a packet: `from_client` says which end is the client. */
static void
flow_key (const EmberIpPacket *pkt, gboolean from_client, FlowKey *k)
{
  EmberAddr src, dst;
  guint16 sport = 0, dport = 0;

  memset (k, 0, sizeof *k);
  ember_ip_packet_get_source (pkt, &src);
  ember_ip_packet_get_destination (pkt, &dst);
  k->family = src.family;
  k->proto = (guint8) ember_ip_packet_protocol (pkt);
  if (ember_ip_packet_is_icmp_echo (pkt))
    {
      /* The echo id plays the client's port; requests and replies share it. */
      if (from_client)
        sport = ember_ip_packet_get_icmp_identifier (pkt);
      else
        dport = ember_ip_packet_get_icmp_identifier (pkt);
    }
  else if (ember_ip_packet_get_source_port (pkt, &sport) != EMBER_PACKET_OK ||
           ember_ip_packet_get_destination_port (pkt, &dport) != EMBER_PACKET_OK)
    sport = dport = 0;
  if (from_client)
    {
      memcpy (k->client, src.addr, fam_len (src.family));
      memcpy (k->remote, dst.addr, fam_len (dst.family));
      k->cport = sport;
      k->rport = dport;
    }
  else
    {
      memcpy (k->client, dst.addr, fam_len (dst.family));
      memcpy (k->remote, src.addr, fam_len (src.family));
      k->cport = dport;
      k->rport = sport;
    }
}

static gboolean
flow_expired (const Flow *f, gint64 now)
{
  return now - f->last >= f->idle;
}

static void
queue_unreachable (EmberDnsTranslator *t, const EmberPortalId *client, const EmberIpPacket *pkt,
                   const EmberAddr *proxy)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket icmp;

  t->stats.unreachable++;
  /* From the proxy address the client tried: it routes that address to
   * this gateway, so it takes the error as coming from there. */
  if (ember_ip_packet_build_icmp_unreachable (&icmp, buf, sizeof buf, 0, pkt, proxy,
                                              EMBER_ICMP_UNREACH_HOST) == EMBER_PACKET_OK)
    push_output (t, EMBER_DNS_NAT_OUT_CLIENT, client, ember_ip_packet_data (&icmp),
                 ember_ip_packet_len (&icmp));
}

static EmberDnsNatResult
new_flow (EmberDnsTranslator *t, gint64 now, const EmberPortalId *client, const Mapping *m,
          EmberIpPacket *pkt, const FlowKey *k, const EmberAddr *proxy)
{
  Name *n = m->name;
  guint fi = fam_index (proxy->family);
  const EmberAddr *real;
  FlowKey rev;
  Flow *f, *other;

  if (n->n_addr[fi] == 0)
    {
      queue_unreachable (t, client, pkt, proxy);
      return EMBER_DNS_NAT_UNREACHABLE;
    }
  real = &n->addr[fi][n->next_addr[fi]++ % n->n_addr[fi]];
  rev = *k;
  memcpy (rev.remote, real->addr, sizeof rev.remote);
  if ((other = g_hash_table_lookup (t->rflows, &rev)))
    {
      if (!flow_expired (other, now))
        {
          /* Two proxy addresses of one real address from the same client
           * port: the replies could not be told apart. */
          t->stats.flow_clashes++;
          return EMBER_DNS_NAT_DROPPED;
        }
      remove_flow (t, other);
      t->stats.flows_expired++;
    }
  if (g_hash_table_size (t->flows) >= EMBER_DNS_NAT_FLOWS_MAX)
    {
      t->stats.flows_full++;
      return EMBER_DNS_NAT_DROPPED;
    }
  f = g_new0 (Flow, 1);
  f->fwd = *k;
  f->rev = rev;
  f->client = *client;
  f->resource = m->resource;
  f->last = now;
  f->idle = k->proto == EMBER_IPPROTO_TCP ? EMBER_DNS_NAT_TCP_IDLE_US : EMBER_DNS_NAT_UDP_IDLE_US;
  g_hash_table_insert (t->flows, &f->fwd, f);
  g_hash_table_insert (t->rflows, &f->rev, f);
  t->stats.flows_created++;
  /* Sweep no more often than every 10 s for idle flows. */
  t->next_sweep = MIN (t->next_sweep, now + MAX (f->idle, 10 * G_TIME_SPAN_SECOND));
  if (ember_ip_packet_set_destination (pkt, real) != EMBER_PACKET_OK)
    return EMBER_DNS_NAT_DROPPED;
  t->stats.translated_out++;
  return EMBER_DNS_NAT_TRANSLATED;
}

static void
hold (EmberDnsTranslator *t, Name *n, const EmberPortalId *client, const EmberIpPacket *pkt)
{
  Held *h = g_new0 (Held, 1);

  if (n->held.length >= EMBER_DNS_NAT_HOLD_MAX)
    {
      held_free (g_queue_pop_head (&n->held));
      t->stats.held_dropped++;
    }
  h->data = g_memdup2 (ember_ip_packet_data (pkt), ember_ip_packet_len (pkt));
  h->len = ember_ip_packet_len (pkt);
  h->client = *client;
  g_queue_push_tail (&n->held, h);
  t->stats.held++;
}

EmberDnsNatResult
ember_dns_translator_from_client (EmberDnsTranslator *t, gint64 now, const EmberPortalId *client,
                                  EmberIpPacket *pkt)
{
  EmberAddr dst;
  MapKey mk;
  Mapping *m;
  FlowKey k;
  Flow *f;
  Name *n;

  ember_ip_packet_get_destination (pkt, &dst);
  if (!ember_dns_proxy_index_of (dst.family, dst.addr, &mk.index))
    {
      t->stats.passed++;
      return EMBER_DNS_NAT_PASS;
    }
  mk.client = *client;
  if (!(m = g_hash_table_lookup (t->mappings, &mk)))
    {
      /* Not a name this client told us about: the policy refuses it. */
      t->stats.passed++;
      return EMBER_DNS_NAT_PASS;
    }
  flow_key (pkt, TRUE, &k);
  if ((f = g_hash_table_lookup (t->flows, &k)))
    {
      EmberAddr real = { .family = dst.family };

      if (!flow_expired (f, now))
        {
          f->last = now;
          memcpy (real.addr, f->rev.remote, sizeof real.addr);
          if (ember_ip_packet_set_destination (pkt, &real) != EMBER_PACKET_OK)
            return EMBER_DNS_NAT_DROPPED;
          t->stats.translated_out++;
          return EMBER_DNS_NAT_TRANSLATED;
        }
      remove_flow (t, f);
      t->stats.flows_expired++;
    }
  n = m->name;
  if ((n->state == LOOKUP_DONE || n->state == LOOKUP_FAILED) && now >= n->until)
    n->state = LOOKUP_NONE;
  switch (n->state)
    {
    case LOOKUP_NONE:
      start_lookup (t, now, n);
      /* fall through */
    case LOOKUP_PENDING:
      hold (t, n, client, pkt);
      return EMBER_DNS_NAT_HELD;
    case LOOKUP_FAILED:
      queue_unreachable (t, client, pkt, &dst);
      return EMBER_DNS_NAT_UNREACHABLE;
    case LOOKUP_DONE:
    default:
      return new_flow (t, now, client, m, pkt, &k, &dst);
    }
}

static void
release_held (EmberDnsTranslator *t, gint64 now, Name *n)
{
  Held *h;

  while ((h = g_queue_pop_head (&n->held)))
    {
      guint8 buf[EMBER_PACKET_BUF_SIZE];
      EmberIpPacket pkt;

      if (h->len <= EMBER_PACKET_MTU &&
          (memcpy (buf + EMBER_PACKET_HEADROOM, h->data, h->len),
           ember_ip_packet_parse (&pkt, buf, sizeof buf, EMBER_PACKET_HEADROOM, h->len) ==
               EMBER_PACKET_OK) &&
          ember_dns_translator_from_client (t, now, &h->client, &pkt) == EMBER_DNS_NAT_TRANSLATED)
        push_output (t, EMBER_DNS_NAT_OUT_NETWORK, &h->client, ember_ip_packet_data (&pkt),
                     ember_ip_packet_len (&pkt));
      held_free (h);
    }
}

static guint16
rd16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

/* An ICMP error from the resource network quoting a packet of a
 * translated flow: the quoted destination (and the error's source, when
 * the real host itself sent it) become the proxy address again, or the
 * client's stack could not match it to its socket. RFC 5508 §4 / RFC 5382
 * §7 ask the same of NATs. */
static EmberDnsNatResult
icmp_error_to_client (EmberDnsTranslator *t, gint64 now, EmberIpPacket *pkt)
{
  gsize qlen = 0, ihl, alen;
  /* The quote lives in the caller's writable buffer (pkt->buf). */
  guint8 *q = (guint8 *) ember_ip_packet_payload (pkt, &qlen);
  guint8 proto;
  guint8 *src, *dst;
  FlowKey k;
  Flow *f;
  EmberAddr outer, real = { 0 }, proxy = { 0 };

  if (!q || qlen < 1 || (q[0] >> 4) != ember_ip_packet_version (pkt))
    return EMBER_DNS_NAT_PASS;
  if (ember_ip_packet_version (pkt) == 4)
    {
      ihl = (gsize) (q[0] & 15) * 4;
      if (ihl < 20 || qlen < ihl + 4)
        return EMBER_DNS_NAT_PASS;
      proto = q[9], src = q + 12, dst = q + 16, alen = 4;
    }
  else
    {
      /* A quoted packet with extension headers is left alone. */
      ihl = 40;
      if (qlen < ihl + 4)
        return EMBER_DNS_NAT_PASS;
      proto = q[6], src = q + 8, dst = q + 24, alen = 16;
    }
  memset (&k, 0, sizeof k);
  k.family = (guint8) (alen == 4 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6);
  k.proto = proto;
  memcpy (k.client, src, alen);
  memcpy (k.remote, dst, alen);
  if (proto == EMBER_IPPROTO_TCP || proto == EMBER_IPPROTO_UDP)
    {
      k.cport = rd16 (q + ihl);
      k.rport = rd16 (q + ihl + 2);
    }
  else if ((proto == EMBER_IPPROTO_ICMP && q[ihl] == 8) ||
           (proto == EMBER_IPPROTO_ICMPV6 && q[ihl] == 128))
    {
      if (qlen < ihl + 6)
        return EMBER_DNS_NAT_PASS;
      k.cport = rd16 (q + ihl + 4);
    }
  else
    return EMBER_DNS_NAT_PASS;
  if (!(f = g_hash_table_lookup (t->rflows, &k)) || flow_expired (f, now))
    return EMBER_DNS_NAT_PASS;
  real.family = proxy.family = k.family;
  memcpy (real.addr, dst, alen);
  memcpy (proxy.addr, f->fwd.remote, alen);
  /* The quoted transport checksum covers the destination through its
   * pseudo-header: adjusted when the quote holds it. */
  {
    gsize at = proto == EMBER_IPPROTO_UDP ? ihl + 6 : proto == EMBER_IPPROTO_TCP ? ihl + 16 : 0;

    if (at != 0 && qlen >= at + 2 && !(proto == EMBER_IPPROTO_UDP && rd16 (q + at) == 0))
      {
        guint16 c = ember_checksum_replace (rd16 (q + at), dst, proxy.addr, alen);

        q[at] = (guint8) (c >> 8);
        q[at + 1] = (guint8) c;
      }
  }
  memcpy (dst, proxy.addr, alen);
  if (alen == 4)
    {
      q[10] = q[11] = 0;
      {
        guint16 c = ember_checksum_finish (ember_checksum_add (0, q, ihl));

        q[10] = (guint8) (c >> 8);
        q[11] = (guint8) c;
      }
    }
  ember_ip_packet_get_source (pkt, &outer);
  if (ember_ice_addr_same_ip (&outer, &real) &&
      ember_ip_packet_set_source (pkt, &proxy) != EMBER_PACKET_OK)
    return EMBER_DNS_NAT_DROPPED;
  /* The ICMP checksum covers the quote we changed. */
  ember_ip_packet_update_checksums (pkt);
  f->last = now;
  t->stats.translated_in++;
  return EMBER_DNS_NAT_TRANSLATED;
}

EmberDnsNatResult
ember_dns_translator_to_client (EmberDnsTranslator *t, gint64 now, EmberIpPacket *pkt)
{
  FlowKey k;
  Flow *f;
  EmberAddr proxy = { 0 };

  if (g_hash_table_size (t->rflows) == 0)
    return EMBER_DNS_NAT_PASS;
  if (ember_ip_packet_is_icmp_error (pkt))
    return icmp_error_to_client (t, now, pkt);
  flow_key (pkt, FALSE, &k);
  if (!(f = g_hash_table_lookup (t->rflows, &k)))
    return EMBER_DNS_NAT_PASS;
  if (flow_expired (f, now))
    {
      remove_flow (t, f);
      t->stats.flows_expired++;
      return EMBER_DNS_NAT_PASS;
    }
  f->last = now;
  proxy.family = k.family == 6 ? EMBER_ADDR_IPV6 : EMBER_ADDR_IPV4;
  memcpy (proxy.addr, f->fwd.remote, sizeof proxy.addr);
  if (ember_ip_packet_set_source (pkt, &proxy) != EMBER_PACKET_OK)
    return EMBER_DNS_NAT_DROPPED;
  t->stats.translated_in++;
  return EMBER_DNS_NAT_TRANSLATED;
}

/* ---- time --------------------------------------------------------------- */

void
ember_dns_translator_handle_timeout (EmberDnsTranslator *t, gint64 now)
{
  GHashTableIter it;
  gpointer v;
  g_autoptr (GPtrArray) due = g_ptr_array_new ();
  gint64 next = G_MAXINT64;

  if (now < t->next_sweep)
    return;
  g_hash_table_iter_init (&it, t->names);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Name *n = v;

      if (n->state != LOOKUP_PENDING)
        continue;
      if (now >= n->until)
        g_ptr_array_add (due, n);
      else
        next = MIN (next, n->until);
    }
  for (guint i = 0; i < due->len; i++)
    {
      Name *n = due->pdata[i];

      /* A lookup nobody answered: both parts fail (the held packets get
       * ICMP unreachable). */
      for (guint f = 0; f < 2; f++)
        if (n->asked[f])
          {
            g_hash_table_remove (t->inflight, GUINT_TO_POINTER (n->id[f]));
            g_queue_remove (&t->queries, GUINT_TO_POINTER ((guint) n->id[f] | 0x10000u));
            n->asked[f] = FALSE;
          }
      n->failed = TRUE;
      finish_lookup (t, now, n);
    }
  g_ptr_array_set_size (due, 0);
  g_hash_table_iter_init (&it, t->flows);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Flow *f = v;

      if (flow_expired (f, now))
        g_ptr_array_add (due, f);
      else
        next = MIN (next, f->last + f->idle);
    }
  for (guint i = 0; i < due->len; i++)
    remove_flow (t, due->pdata[i]);
  t->stats.flows_expired += due->len;
  if (next != G_MAXINT64)
    next = MAX (next, now + G_TIME_SPAN_SECOND);
  t->next_sweep = next;
}

gint64
ember_dns_translator_poll_timeout (const EmberDnsTranslator *t)
{
  return t->next_sweep;
}

gsize
ember_dns_translator_poll_output (EmberDnsTranslator *t, guint8 *buf, gsize cap,
                                  EmberDnsNatOutput *out)
{
  Output *o;
  gsize len;

  while ((o = g_queue_pop_head (&t->outputs)))
    {
      if (o->len <= cap)
        {
          memcpy (buf, o->data, o->len);
          *out = o->out;
          len = o->len;
          output_free (o);
          return len;
        }
      t->stats.outputs_dropped++;
      output_free (o);
    }
  return 0;
}

gboolean
ember_dns_translator_poll_event (EmberDnsTranslator *t, EmberDnsNatEvent *ev)
{
  g_autofree EmberPortalId *id = g_queue_pop_head (&t->events);

  if (!id)
    return FALSE;
  ev->resource = *id;
  return TRUE;
}

void
ember_dns_translator_get_stats (const EmberDnsTranslator *t, EmberDnsNatStats *stats)
{
  *stats = t->stats;
}

guint
ember_dns_translator_n_flows (const EmberDnsTranslator *t)
{
  return g_hash_table_size (t->flows);
}

const char *
ember_dns_nat_result_to_string (EmberDnsNatResult result)
{
  switch (result)
    {
    case EMBER_DNS_NAT_PASS:
      return "pass";
    case EMBER_DNS_NAT_TRANSLATED:
      return "translated";
    case EMBER_DNS_NAT_HELD:
      return "held";
    case EMBER_DNS_NAT_UNREACHABLE:
      return "unreachable";
    case EMBER_DNS_NAT_DROPPED:
      return "dropped";
    default:
      return "unknown";
    }
}
