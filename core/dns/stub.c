/* dns/stub — the client's stub resolver (stub.h). */
#include "dns/stub.h"

#include <string.h>

#include "dns/pattern.h"
#include "dns/proxy.h"

G_DEFINE_QUARK (ember-dns-stub-error-quark, ember_dns_stub_error)

/* Mozilla's canary domain: NXDOMAIN tells Firefox not to switch on its
 * own DoH, which would bypass the stub and so every dns resource. */
#define CANARY_NAME "use-application-dns.net"

/* A local answer never has more than a question, two addresses or one
 * PTR name, and an OPT record. */
#define LOCAL_ANSWER_MAX 1024
/* Answers and queries in flight up to these sizes (every UDP answer to
 * an application, nearly every query) take their memory from a free
 * list of at most POOL_MAX blocks each, so a steady load allocates
 * nothing per query; larger ones are allocated and freed. */
#define POOLED_ANSWER_LEN EMBER_DNS_EDNS_SIZE
#define POOLED_QUERY_LEN 512
#define POOL_MAX 256

static const guint8 sentinel_v4[3] = { 100, 100, 111 };
static const guint8 sentinel_v6[15] = { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11, 0x80, 0x00,
                                        0x01, 0x00, 0x01, 0x00, 0x01, 0x11, 0x00 };

/* A query in flight. Its token is a sequence number above its wire key
 * (upstream << 16 | wire id, below 2^32), so by_wire finds it by token
 * too and the sequence tells an old token from a new query's. */
typedef struct {
  GList deadline_link;          /* first: in stub->deadlines or the pool; data: this */
  guint64 token;
  EmberDnsAsker asker;
  guint16 asker_id, wire_id;
  guint upstream;
  EmberDnsTransport transport;  /* towards the upstream */
  gsize limit;                  /* the asker's size */
  gint64 deadline;
  GList transmit_link;          /* in stub->transmits while `transmitting` */
  gboolean transmitting;
  gsize len, cap;
  guint8 query[];               /* the query as sent, with wire_id */
} Pending;

typedef struct {
  GList link;                   /* first: in stub->answers or the pool; data: this */
  EmberDnsAsker to;
  gsize len, cap;
  guint8 data[];
} Answer;

typedef struct {
  EmberPortalId id;
  char *pattern;
  EmberDnsIpStack stack;
} Resource;

struct _EmberDnsStub {
  EmberIceRng rng;
  EmberAddr upstreams[EMBER_DNS_STUB_UPSTREAMS_MAX];
  guint n_upstreams;
  Resource *resources;
  const char **patterns;        /* resources[i].pattern, for pattern_best */
  guint n_resources;
  EmberDnsProxyMap *proxies;
  GHashTable *by_wire;          /* upstream << 16 | wire id -> Pending (owned) */
  GQueue deadlines;             /* Pending, earliest first */
  GQueue transmits;             /* Pending to send */
  GQueue answers;               /* Answer (owned) */
  GQueue answer_pool, pending_pool;  /* free blocks of the pooled sizes */
  GQueue events;                /* EmberDnsStubEvent (owned) */
  guint32 next_seq;
  EmberDnsStubStats stats;
  gboolean names_counted;       /* n_names is for these resources and map_size */
  guint n_names, map_size;
};

const char *
ember_dns_stub_result_to_string (EmberDnsStubResult result)
{
  switch (result)
    {
    case EMBER_DNS_STUB_ANSWERED: return "answered";
    case EMBER_DNS_STUB_FORWARDED: return "forwarded";
    case EMBER_DNS_STUB_FORMERR: return "formerr";
    case EMBER_DNS_STUB_DROPPED: return "dropped";
    case EMBER_DNS_STUB_NOT_SENTINEL: return "not-sentinel";
    case EMBER_DNS_STUB_MATCHED: return "matched";
    case EMBER_DNS_STUB_RETRY_TCP: return "retry-tcp";
    case EMBER_DNS_STUB_UNMATCHED: return "unmatched";
    case EMBER_DNS_STUB_MALFORMED: return "malformed";
    default: return "unknown";
    }
}

static gpointer
wire_key (guint upstream, guint16 id)
{
  return GUINT_TO_POINTER ((upstream << 16) | id);
}

static void
clear_resources (EmberDnsStub *stub)
{
  for (guint i = 0; i < stub->n_resources; i++)
    g_free (stub->resources[i].pattern);
  g_clear_pointer (&stub->resources, g_free);
  g_clear_pointer (&stub->patterns, g_free);
  stub->n_resources = 0;
}

EmberDnsStub *
ember_dns_stub_new (const EmberIceRng *rng)
{
  EmberDnsStub *stub;

  g_return_val_if_fail (rng != NULL && rng->next != NULL, NULL);
  stub = g_new0 (EmberDnsStub, 1);
  stub->rng = *rng;
  stub->proxies = ember_dns_proxy_map_new ();
  stub->by_wire = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_queue_init (&stub->deadlines);
  g_queue_init (&stub->transmits);
  g_queue_init (&stub->answers);
  g_queue_init (&stub->answer_pool);
  g_queue_init (&stub->pending_pool);
  g_queue_init (&stub->events);
  stub->next_seq = 1;
  return stub;
}

void
ember_dns_stub_free (EmberDnsStub *stub)
{
  if (stub == NULL)
    return;
  GList *l;

  /* the links are inside the blocks: unlink each before freeing it */
  while ((l = g_queue_pop_head_link (&stub->deadlines)) != NULL)
    g_free (l->data);
  while ((l = g_queue_pop_head_link (&stub->pending_pool)) != NULL)
    g_free (l->data);
  while ((l = g_queue_pop_head_link (&stub->answers)) != NULL)
    g_free (l->data);
  while ((l = g_queue_pop_head_link (&stub->answer_pool)) != NULL)
    g_free (l->data);
  g_queue_clear_full (&stub->events, g_free);
  g_hash_table_destroy (stub->by_wire);
  ember_dns_proxy_map_free (stub->proxies);
  clear_resources (stub);
  g_free (stub);
}

/* ---- sentinels ----------------------------------------------------------- */

guint
ember_dns_stub_n_sentinels (const EmberDnsStub *stub)
{
  return MAX (stub->n_upstreams, 1u);
}

void
ember_dns_stub_sentinel (guint index, guint family, EmberAddr *out)
{
  memset (out, 0, sizeof *out);
  out->family = (guint8) family;
  out->port = EMBER_DNS_PORT;
  if (family == EMBER_ADDR_IPV4)
    {
      memcpy (out->addr, sentinel_v4, 3);
      out->addr[3] = (guint8) (index + 1);
    }
  else
    {
      memcpy (out->addr, sentinel_v6, 15);
      out->addr[15] = (guint8) (index + 1);
    }
}

/* The sentinel index of `addr`, or -1. */
static int
sentinel_index (const EmberDnsStub *stub, const EmberAddr *addr)
{
  guint n;

  if (addr->family == EMBER_ADDR_IPV4 && memcmp (addr->addr, sentinel_v4, 3) == 0)
    n = addr->addr[3];
  else if (addr->family == EMBER_ADDR_IPV6 && memcmp (addr->addr, sentinel_v6, 15) == 0)
    n = addr->addr[15];
  else
    return -1;
  if (n == 0 || n > ember_dns_stub_n_sentinels (stub))
    return -1;
  return (int) n - 1;
}

/* ---- outputs ------------------------------------------------------------- */

/* Pooled blocks start with the GList that holds them in their queue. */
G_STATIC_ASSERT (G_STRUCT_OFFSET (Answer, link) == 0);
G_STATIC_ASSERT (G_STRUCT_OFFSET (Pending, deadline_link) == 0);

/* A block of `header` bytes and room for `len` (at least `pooled`):
 * from `pool` when `len` fits `pooled`, else allocated. */
static gpointer
block_new (GQueue *pool, gsize header, gsize pooled, gsize len)
{
  GList *l;

  if (len <= pooled && (l = g_queue_pop_head_link (pool)) != NULL)
    return l->data;
  l = g_malloc (header + MAX (len, pooled));
  l->data = l;
  l->next = l->prev = NULL;
  return l;
}

/* Back to `pool` if it is of the pooled size and the pool has room. */
static void
block_free (GQueue *pool, gpointer block, gsize cap, gsize pooled, GList *link)
{
  if (cap == pooled && pool->length < POOL_MAX)
    g_queue_push_head_link (pool, link);
  else
    g_free (block);
}

static Answer *
answer_new (EmberDnsStub *stub, const EmberDnsAsker *to, gsize len)
{
  Answer *a = block_new (&stub->answer_pool, sizeof (Answer), POOLED_ANSWER_LEN, len);

  a->cap = MAX (len, (gsize) POOLED_ANSWER_LEN);
  a->to = *to;
  a->len = len;
  return a;
}

static void
answer_free (EmberDnsStub *stub, Answer *a)
{
  block_free (&stub->answer_pool, a, a->cap, POOLED_ANSWER_LEN, &a->link);
}

/* Queues `a` (filled) for poll_answer. */
static void
push_answer (EmberDnsStub *stub, Answer *a)
{
  g_queue_push_tail_link (&stub->answers, &a->link);
  if (stub->answers.length > EMBER_DNS_STUB_ANSWERS_MAX)
    {
      answer_free (stub, g_queue_pop_head_link (&stub->answers)->data);
      stub->stats.answers_dropped++;
    }
}

static void
queue_answer (EmberDnsStub *stub, const EmberDnsAsker *to, const guint8 *data, gsize len)
{
  Answer *a = answer_new (stub, to, len);

  memcpy (a->data, data, len);
  push_answer (stub, a);
}

static void
queue_event (EmberDnsStub *stub, EmberDnsStubEventType type, const EmberDnsProxy *proxy,
             EmberDnsIpStack stack)
{
  EmberDnsStubEvent *ev = g_new0 (EmberDnsStubEvent, 1);

  ev->type = type;
  ev->resource = proxy->resource;
  g_strlcpy (ev->name, proxy->name, sizeof ev->name);
  if (stack != EMBER_DNS_STACK_IPV6_ONLY)
    ember_dns_proxy_addr (proxy->index, EMBER_ADDR_IPV4, &ev->addr);
  if (stack != EMBER_DNS_STACK_IPV4_ONLY)
    ember_dns_proxy_addr (proxy->index, EMBER_ADDR_IPV6, &ev->addr6);
  g_queue_push_tail (&stub->events, ev);
}

/* A response with `rcode` and `answers` to the parsed query. */
static EmberDnsStubResult
answer (EmberDnsStub *stub, const EmberDnsAsker *asker, const EmberDnsMessage *q, gsize limit,
        guint rcode, const EmberDnsAnswer *answers, guint n)
{
  guint8 out[LOCAL_ANSWER_MAX];
  gsize len = 0;

  if (ember_dns_build_response (q, rcode, 0, answers, n, limit, out, sizeof out, &len) !=
      EMBER_DNS_OK)
    {
      /* only a question that fills the buffer gets here: say FORMERR */
      if (ember_dns_build_header_error (q->id, q->flags, EMBER_DNS_RCODE_FORMERR, out,
                                        sizeof out, &len) != EMBER_DNS_OK)
        return EMBER_DNS_STUB_DROPPED;
    }
  queue_answer (stub, asker, out, len);
  return EMBER_DNS_STUB_ANSWERED;
}

/* ---- pending queries ------------------------------------------------------- */

static void
pending_free (EmberDnsStub *stub, Pending *p)
{
  g_queue_unlink (&stub->deadlines, &p->deadline_link);
  if (p->transmitting)
    g_queue_unlink (&stub->transmits, &p->transmit_link);
  g_hash_table_remove (stub->by_wire, wire_key (p->upstream, p->wire_id));
  block_free (&stub->pending_pool, p, p->cap, POOLED_QUERY_LEN, &p->deadline_link);
}

static Pending *
pending_new (EmberDnsStub *stub, gsize len)
{
  Pending *p = block_new (&stub->pending_pool, sizeof (Pending), POOLED_QUERY_LEN, len);

  p->cap = MAX (len, (gsize) POOLED_QUERY_LEN);
  p->transmit_link = (GList){ .data = p };
  p->transmitting = FALSE;
  return p;
}

static void
queue_transmit (EmberDnsStub *stub, Pending *p)
{
  if (p->transmitting)
    return;
  g_queue_push_tail_link (&stub->transmits, &p->transmit_link);
  p->transmitting = TRUE;
}

/* SERVFAIL to the asker of `p`, which then ends. */
static void
pending_servfail (EmberDnsStub *stub, Pending *p)
{
  EmberDnsMessage q;
  guint8 out[LOCAL_ANSWER_MAX];
  gsize len = 0;

  if (ember_dns_message_parse (&q, p->query, p->len) == EMBER_DNS_OK &&
      ember_dns_build_response (&q, EMBER_DNS_RCODE_SERVFAIL, 0, NULL, 0, p->limit, out,
                                sizeof out, &len) == EMBER_DNS_OK)
    {
      ember_dns_set_id (out, p->asker_id);
      queue_answer (stub, &p->asker, out, len);
    }
  pending_free (stub, p);
}

/* A wire id no query in flight to `upstream` uses, drawn from the RNG so
 * an off-path attacker cannot guess it. */
static guint16
pick_wire_id (EmberDnsStub *stub, guint upstream)
{
  guint16 id = (guint16) stub->rng.next (stub->rng.user_data);

  for (guint i = 0; i < 32; i++)
    {
      if (!g_hash_table_contains (stub->by_wire, wire_key (upstream, id)))
        return id;
      id = (guint16) stub->rng.next (stub->rng.user_data);
    }
  /* fewer than PENDING_MAX ids are taken: a scan finds one */
  while (g_hash_table_contains (stub->by_wire, wire_key (upstream, id)))
    id++;
  return id;
}

static EmberDnsStubResult
forward (EmberDnsStub *stub, gint64 now, const EmberDnsAsker *asker, guint upstream,
         const EmberDnsMessage *q, gsize limit)
{
  Pending *p;

  if (upstream >= stub->n_upstreams)
    return answer (stub, asker, q, limit, EMBER_DNS_RCODE_SERVFAIL, NULL, 0);
  if (g_hash_table_size (stub->by_wire) >= EMBER_DNS_STUB_PENDING_MAX)
    {
      stub->stats.pending_full++;
      return answer (stub, asker, q, limit, EMBER_DNS_RCODE_SERVFAIL, NULL, 0);
    }
  p = pending_new (stub, q->len);
  p->asker = *asker;
  p->asker_id = q->id;
  p->upstream = upstream;
  p->transport = EMBER_DNS_TRANSPORT_UDP;
  p->limit = limit;
  p->len = q->len;
  memcpy (p->query, q->buf, q->len);
  p->wire_id = pick_wire_id (stub, upstream);
  p->token = (guint64) stub->next_seq++ << 32 | GPOINTER_TO_UINT (wire_key (upstream, p->wire_id));
  if (stub->next_seq == 0)
    stub->next_seq = 1;
  ember_dns_set_id (p->query, p->wire_id);
  p->deadline = now + EMBER_DNS_STUB_TIMEOUT_US;
  g_hash_table_insert (stub->by_wire, wire_key (upstream, p->wire_id), p);
  g_queue_push_tail_link (&stub->deadlines, &p->deadline_link);
  queue_transmit (stub, p);
  stub->stats.forwarded++;
  return EMBER_DNS_STUB_FORWARDED;
}

/* ---- local answers --------------------------------------------------------- */

static const Resource *
resource_by_id (const EmberDnsStub *stub, const EmberPortalId *id)
{
  for (guint i = 0; i < stub->n_resources; i++)
    if (strcmp (stub->resources[i].id.str, id->str) == 0)
      return &stub->resources[i];
  return NULL;
}

static EmberDnsStubResult
answer_resource (EmberDnsStub *stub, const EmberDnsAsker *asker, const EmberDnsMessage *q,
                 gsize limit, const Resource *res, const char *name)
{
  EmberDnsAnswer answers[2];
  gboolean v4 = FALSE, v6 = FALSE;
  EmberDnsProxy *proxy;
  EmberAddr a;
  guint n = 0;

  switch (q->qtype)
    {
    case EMBER_DNS_TYPE_A:
      v4 = res->stack != EMBER_DNS_STACK_IPV6_ONLY;
      break;
    case EMBER_DNS_TYPE_AAAA:
      v6 = res->stack != EMBER_DNS_STACK_IPV4_ONLY;
      break;
    case EMBER_DNS_TYPE_ANY:
      v4 = res->stack != EMBER_DNS_STACK_IPV6_ONLY;
      v6 = res->stack != EMBER_DNS_STACK_IPV4_ONLY;
      break;
    default:
      /* HTTPS/SVCB (RFC 9460) get an empty answer so the application falls
       * back to A/AAAA; other types too: a protected name is not sent
       * to a public upstream. */
      break;
    }
  if (!v4 && !v6)
    return answer (stub, asker, q, limit, EMBER_DNS_RCODE_NOERROR, NULL, 0);

  proxy = ember_dns_proxy_map_get (stub->proxies, name, &res->id);
  if (proxy == NULL)
    {
      stub->stats.proxies_exhausted++;
      return answer (stub, asker, q, limit, EMBER_DNS_RCODE_SERVFAIL, NULL, 0);
    }
  if (!proxy->announced)
    {
      queue_event (stub, EMBER_DNS_STUB_EVENT_PROXY_ADDED, proxy, res->stack);
      proxy->announced = TRUE;
    }
  if (v4)
    {
      ember_dns_proxy_addr (proxy->index, EMBER_ADDR_IPV4, &a);
      answers[n] = (EmberDnsAnswer){ .type = EMBER_DNS_TYPE_A, .ttl = EMBER_DNS_STUB_TTL };
      memcpy (answers[n++].addr, a.addr, 4);
    }
  if (v6)
    {
      ember_dns_proxy_addr (proxy->index, EMBER_ADDR_IPV6, &a);
      answers[n] = (EmberDnsAnswer){ .type = EMBER_DNS_TYPE_AAAA, .ttl = EMBER_DNS_STUB_TTL };
      memcpy (answers[n++].addr, a.addr, 16);
    }
  stub->stats.answered_locally++;
  return answer (stub, asker, q, limit, EMBER_DNS_RCODE_NOERROR, answers, n);
}

/* One decimal label 0..255 without leading zeros, or one hex nibble. */
static gboolean
parse_octet (const char *s, gsize len, guint8 *out)
{
  guint v = 0;

  if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      v = v * 10 + (guint) (s[i] - '0');
    }
  if (v > 255)
    return FALSE;
  *out = (guint8) v;
  return TRUE;
}

/* The address a reverse name stands for (RFC 1035 §3.5, RFC 3596 §2.5). */
static gboolean
reverse_name_addr (const char *name, guint *family, guint8 addr[16])
{
  g_auto (GStrv) labels = NULL;
  guint n;

  if (g_str_has_suffix (name, ".in-addr.arpa"))
    {
      labels = g_strsplit (name, ".", -1);
      n = g_strv_length (labels);
      if (n != 6)
        return FALSE;
      for (guint i = 0; i < 4; i++)
        if (!parse_octet (labels[i], strlen (labels[i]), &addr[3 - i]))
          return FALSE;
      *family = EMBER_ADDR_IPV4;
      return TRUE;
    }
  if (g_str_has_suffix (name, ".ip6.arpa"))
    {
      labels = g_strsplit (name, ".", -1);
      n = g_strv_length (labels);
      if (n != 34)
        return FALSE;
      memset (addr, 0, 16);
      for (guint i = 0; i < 32; i++)
        {
          int v = strlen (labels[i]) == 1 ? g_ascii_xdigit_value (labels[i][0]) : -1;
          guint nibble = 31 - i;
          if (v < 0)
            return FALSE;
          addr[nibble / 2] |= (guint8) (nibble % 2 ? v : v << 4);
        }
      *family = EMBER_ADDR_IPV6;
      return TRUE;
    }
  return FALSE;
}

/* PTR for a proxy address: its name while its resource exists and has
 * the address's family, NXDOMAIN otherwise. FALSE when the name is no proxy address. */
static gboolean
answer_ptr (EmberDnsStub *stub, const EmberDnsAsker *asker, const EmberDnsMessage *q,
            gsize limit, const char *name, EmberDnsStubResult *result)
{
  guint8 addr[16];
  guint family;
  guint32 index;
  EmberDnsProxy *proxy;
  EmberDnsAnswer ptr = { .type = EMBER_DNS_TYPE_PTR, .ttl = EMBER_DNS_STUB_TTL };

  if (!reverse_name_addr (name, &family, addr) ||
      !ember_dns_proxy_index_of (family, addr, &index))
    return FALSE;
  proxy = ember_dns_proxy_map_by_index (stub->proxies, index);
  const Resource *res = proxy != NULL ? resource_by_id (stub, &proxy->resource) : NULL;
  /* The address of a family the resource lacks is never handed out. */
  if (res == NULL || (family == EMBER_ADDR_IPV4 && res->stack == EMBER_DNS_STACK_IPV6_ONLY)
      || (family == EMBER_ADDR_IPV6 && res->stack == EMBER_DNS_STACK_IPV4_ONLY))
    {
      *result = answer (stub, asker, q, limit, EMBER_DNS_RCODE_NXDOMAIN, NULL, 0);
      return TRUE;
    }
  ptr.target = proxy->name;
  stub->stats.answered_locally++;
  *result = answer (stub, asker, q, limit, EMBER_DNS_RCODE_NOERROR, &ptr, 1);
  return TRUE;
}

/* Lower-cases `name` and says whether it can be a resource name at all:
 * patterns hold letters, digits, '-' and '_' only, so a name with other
 * octets (escaped or not) goes upstream and never gets an address. */
static gboolean
host_name_lower (char *name)
{
  for (char *c = name; *c != '\0'; c++)
    {
      *c = g_ascii_tolower (*c);
      if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_' && *c != '.')
        return FALSE;
    }
  return TRUE;
}

/* ---- inputs ----------------------------------------------------------------- */

EmberDnsStubResult
ember_dns_stub_handle_query (EmberDnsStub *stub, gint64 now, const EmberDnsAsker *asker,
                             const guint8 *buf, gsize len)
{
  EmberDnsMessage q;
  EmberDnsResult r;
  char name[EMBER_DNS_NAME_TEXT_MAX];
  EmberDnsStubResult result;
  gsize limit;
  int sentinel;

  stub->stats.queries++;
  sentinel = sentinel_index (stub, &asker->sentinel);
  if (sentinel < 0)
    {
      stub->stats.not_sentinel++;
      return EMBER_DNS_STUB_NOT_SENTINEL;
    }
  r = ember_dns_message_parse (&q, buf, len);
  if (r == EMBER_DNS_ERR_SHORT_HEADER || ember_dns_message_is_response (&q))
    {
      stub->stats.dropped++;
      return EMBER_DNS_STUB_DROPPED;
    }
  if (r != EMBER_DNS_OK)
    {
      guint8 out[EMBER_DNS_HEADER_LEN];
      gsize out_len = 0;

      /* RFC 1035 §4.1.1: FORMERR, the header only since the question
       * could not be read. */
      ember_dns_build_header_error (q.id, q.flags, EMBER_DNS_RCODE_FORMERR, out, sizeof out,
                                    &out_len);
      queue_answer (stub, asker, out, out_len);
      stub->stats.formerr++;
      return EMBER_DNS_STUB_FORMERR;
    }
  /* A UDP answer must fit the TUN's MTU behind the IP and UDP headers. */
  limit = asker->transport == EMBER_DNS_TRANSPORT_TCP
              ? EMBER_DNS_TCP_MAX
              : MIN (ember_dns_message_udp_limit (&q), (gsize) EMBER_DNS_EDNS_SIZE);
  if (ember_dns_message_opcode (&q) != EMBER_DNS_OPCODE_QUERY)
    return answer (stub, asker, &q, limit, EMBER_DNS_RCODE_NOTIMP, NULL, 0);

  ember_dns_message_qname (&q, name, sizeof name);
  if (q.qclass == EMBER_DNS_CLASS_IN && host_name_lower (name))
    {
      gssize best;

      if (strcmp (name, CANARY_NAME) == 0)
        return answer (stub, asker, &q, limit, EMBER_DNS_RCODE_NXDOMAIN, NULL, 0);
      best = ember_dns_pattern_best (stub->patterns, stub->n_resources, name);
      if (best >= 0)
        return answer_resource (stub, asker, &q, limit, &stub->resources[best], name);
      if (q.qtype == EMBER_DNS_TYPE_PTR && answer_ptr (stub, asker, &q, limit, name, &result))
        return result;
    }
  return forward (stub, now, asker, (guint) sentinel, &q, limit);
}

EmberDnsStubResult
ember_dns_stub_handle_packet (EmberDnsStub *stub, gint64 now, const EmberIpPacket *pkt)
{
  EmberDnsAsker asker = { .transport = EMBER_DNS_TRANSPORT_UDP };
  const guint8 *payload;
  gsize len = 0;

  if (ember_ip_packet_protocol (pkt) != EMBER_IPPROTO_UDP ||
      ember_ip_packet_fragment (pkt) != EMBER_IP_FRAG_NONE)
    return EMBER_DNS_STUB_NOT_SENTINEL;
  ember_ip_packet_get_destination (pkt, &asker.sentinel);
  if (asker.sentinel.port != EMBER_DNS_PORT || sentinel_index (stub, &asker.sentinel) < 0)
    return EMBER_DNS_STUB_NOT_SENTINEL;
  ember_ip_packet_get_source (pkt, &asker.client);
  payload = ember_ip_packet_payload (pkt, &len);
  return ember_dns_stub_handle_query (stub, now, &asker, payload, len);
}

/* An upstream that could not read our query may answer with its header
 * only (FORMERR, REFUSED, NOTIMP: RFC 1035 leaves the question out when
 * it cannot be parsed). There is no question to check, so it counts
 * only as an error for the query with that id in flight to that very
 * upstream, and the asker gets the same rcode with its own question
 * rather than waiting for the timeout. */
static gboolean
upstream_header_error (EmberDnsStub *stub, guint upstream, const EmberDnsMessage *r)
{
  guint rcode = r->flags & EMBER_DNS_RCODE_MASK;
  EmberDnsMessage q;
  Pending *p;
  guint8 out[LOCAL_ANSWER_MAX];
  gsize len = 0;

  if (r->qdcount != 0 || r->ancount != 0 || r->nscount != 0 ||
      !ember_dns_message_is_response (r) || rcode == EMBER_DNS_RCODE_NOERROR ||
      upstream >= stub->n_upstreams)
    return FALSE;
  p = g_hash_table_lookup (stub->by_wire, wire_key (upstream, r->id));
  if (p == NULL)
    return FALSE;
  if (ember_dns_message_parse (&q, p->query, p->len) == EMBER_DNS_OK &&
      ember_dns_build_response (&q, rcode, 0, NULL, 0, p->limit, out, sizeof out, &len) ==
          EMBER_DNS_OK)
    {
      ember_dns_set_id (out, p->asker_id);
      queue_answer (stub, &p->asker, out, len);
    }
  pending_free (stub, p);
  return TRUE;
}

EmberDnsStubResult
ember_dns_stub_handle_upstream (EmberDnsStub *stub, gint64 now, guint upstream,
                                EmberDnsTransport transport, const guint8 *buf, gsize len)
{
  EmberDnsMessage r, q;
  Pending *p;
  Answer *a;
  gsize out_len = 0;
  EmberDnsResult res;

  stub->stats.upstream_answers++;
  res = ember_dns_message_parse (&r, buf, len);
  if (res == EMBER_DNS_ERR_QDCOUNT && upstream_header_error (stub, upstream, &r))
    return EMBER_DNS_STUB_MATCHED;
  if (res != EMBER_DNS_OK || !ember_dns_message_is_response (&r))
    {
      stub->stats.malformed++;
      return EMBER_DNS_STUB_MALFORMED;
    }
  p = upstream < stub->n_upstreams ? g_hash_table_lookup (stub->by_wire, wire_key (upstream, r.id))
                                   : NULL;
  /* seed 004: the id alone says nothing; the question must be ours too */
  if (p == NULL || ember_dns_message_parse (&q, p->query, p->len) != EMBER_DNS_OK ||
      !ember_dns_message_same_question (&q, &r))
    {
      stub->stats.unmatched++;
      return EMBER_DNS_STUB_UNMATCHED;
    }
  if ((r.flags & EMBER_DNS_FLAG_TC) != 0 && transport == EMBER_DNS_TRANSPORT_UDP)
    {
      /* RFC 7766 §5: a truncated UDP answer is asked again over TCP; a
       * late UDP copy while that runs changes nothing */
      if (p->transport == EMBER_DNS_TRANSPORT_UDP)
        {
          p->transport = EMBER_DNS_TRANSPORT_TCP;
          p->deadline = now + EMBER_DNS_STUB_TIMEOUT_US;
          g_queue_unlink (&stub->deadlines, &p->deadline_link);
          g_queue_push_tail_link (&stub->deadlines, &p->deadline_link);
          queue_transmit (stub, p);
          stub->stats.retried_tcp++;
        }
      return EMBER_DNS_STUB_RETRY_TCP;
    }
  /* the answer goes to the asker with its id, cut to its size, in place */
  a = answer_new (stub, &p->asker, len);
  memcpy (a->data, buf, len);
  ember_dns_set_id (a->data, p->asker_id);
  if (ember_dns_message_parse (&r, a->data, len) == EMBER_DNS_OK &&
      ember_dns_truncate (&r, a->data, p->limit, &out_len) == EMBER_DNS_OK)
    {
      a->len = out_len;
      push_answer (stub, a);
    }
  else
    answer_free (stub, a);
  pending_free (stub, p);
  return EMBER_DNS_STUB_MATCHED;
}

gboolean
ember_dns_stub_handle_upstream_error (EmberDnsStub *stub, gint64 now, guint64 token)
{
  Pending *p = g_hash_table_lookup (stub->by_wire, GUINT_TO_POINTER ((guint32) token));

  (void) now;
  if (p == NULL || p->token != token)
    return FALSE;
  stub->stats.upstream_errors++;
  pending_servfail (stub, p);
  return TRUE;
}

gboolean
ember_dns_stub_handle_upstream_error_wire (EmberDnsStub *stub, gint64 now, guint upstream,
                                           guint16 wire_id)
{
  Pending *p = g_hash_table_lookup (stub->by_wire, wire_key (upstream, wire_id));

  return p != NULL && ember_dns_stub_handle_upstream_error (stub, now, p->token);
}

void
ember_dns_stub_handle_timeout (EmberDnsStub *stub, gint64 now)
{
  Pending *p;

  while ((p = g_queue_peek_head (&stub->deadlines)) != NULL && p->deadline <= now)
    {
      stub->stats.timeouts++;
      pending_servfail (stub, p);
    }
}

/* ---- control ------------------------------------------------------------------ */

gboolean
ember_dns_stub_set_upstreams (EmberDnsStub *stub, const EmberAddr *upstreams, guint n)
{
  GList *l, *next;

  if (n > EMBER_DNS_STUB_UPSTREAMS_MAX)
    return FALSE;
  for (l = stub->deadlines.head; l != NULL; l = next)
    {
      Pending *p = l->data;

      next = l->next;
      if (p->upstream >= n ||
          memcmp (&upstreams[p->upstream], &stub->upstreams[p->upstream], sizeof (EmberAddr)) != 0)
        pending_servfail (stub, p);
    }
  memset (stub->upstreams, 0, sizeof stub->upstreams);
  if (n > 0)
    memcpy (stub->upstreams, upstreams, n * sizeof (EmberAddr));
  stub->n_upstreams = n;
  return TRUE;
}

gboolean
ember_dns_stub_set_resources (EmberDnsStub *stub, const EmberDnsStubResource *res, guint n,
                              GError **error)
{
  g_autoptr (GPtrArray) all = NULL;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *norm = ember_dns_pattern_normalize (res[i].pattern, error);

      if (norm == NULL)
        return FALSE;
      if (strcmp (norm, res[i].pattern) != 0)
        {
          g_set_error (error, EMBER_DNS_STUB_ERROR, 0,
                       "resource %s: pattern \"%s\" is not normalized (expected \"%s\")",
                       res[i].id.str, res[i].pattern, norm);
          return FALSE;
        }
    }
  /* A resource whose families changed: its routed proxy addresses are
   * unrouted, and routed again as the new stack says at the next query. */
  all = ember_dns_proxy_map_entries (stub->proxies);
  for (guint i = 0; i < all->len; i++)
    {
      EmberDnsProxy *proxy = all->pdata[i];
      const Resource *before = proxy->announced ? resource_by_id (stub, &proxy->resource) : NULL;

      for (guint j = 0; before != NULL && j < n; j++)
        if (strcmp (res[j].id.str, proxy->resource.str) == 0 && res[j].stack != before->stack)
          {
            queue_event (stub, EMBER_DNS_STUB_EVENT_PROXY_REMOVED, proxy, before->stack);
            proxy->announced = FALSE;
          }
    }
  g_clear_pointer (&all, g_ptr_array_unref);

  clear_resources (stub);
  stub->resources = g_new0 (Resource, MAX (n, 1u));
  stub->patterns = g_new0 (const char *, MAX (n, 1u));
  for (guint i = 0; i < n; i++)
    {
      stub->resources[i].id = res[i].id;
      stub->resources[i].pattern = g_strdup (res[i].pattern);
      stub->resources[i].stack = res[i].stack;
      stub->patterns[i] = stub->resources[i].pattern;
    }
  stub->n_resources = n;
  stub->names_counted = FALSE;

  /* Addresses of resources that are gone stop being routed; the map
   * keeps them so they never go to another name. */
  all = ember_dns_proxy_map_entries (stub->proxies);
  for (guint i = 0; i < all->len; i++)
    {
      EmberDnsProxy *proxy = all->pdata[i];

      if (proxy->announced && resource_by_id (stub, &proxy->resource) == NULL)
        {
          queue_event (stub, EMBER_DNS_STUB_EVENT_PROXY_REMOVED, proxy, EMBER_DNS_STACK_DUAL);
          proxy->announced = FALSE;
        }
    }
  return TRUE;
}

gboolean
ember_dns_stub_set_portal_resources (EmberDnsStub *stub, const EmberPortalResource *resources,
                                     guint n, GError **error)
{
  g_autoptr (GArray) dns = g_array_new (FALSE, TRUE, sizeof (EmberDnsStubResource));

  for (guint i = 0; i < n; i++)
    if (resources[i].type == EMBER_PORTAL_RESOURCE_DNS && resources[i].dns_pattern != NULL)
      {
        static const EmberDnsIpStack stacks[] = {
          [EMBER_PORTAL_IP_STACK_DUAL] = EMBER_DNS_STACK_DUAL,
          [EMBER_PORTAL_IP_STACK_IPV4] = EMBER_DNS_STACK_IPV4_ONLY,
          [EMBER_PORTAL_IP_STACK_IPV6] = EMBER_DNS_STACK_IPV6_ONLY,
        };
        guint st = resources[i].ip_stack;
        EmberDnsStubResource r = { .id = resources[i].id, .pattern = resources[i].dns_pattern,
                                   .stack = st < G_N_ELEMENTS (stacks) ? stacks[st]
                                                                       : EMBER_DNS_STACK_DUAL };
        g_array_append_val (dns, r);
      }
  return ember_dns_stub_set_resources (stub, (const EmberDnsStubResource *) (void *) dns->data,
                                       dns->len, error);
}

char *
ember_dns_stub_save (const EmberDnsStub *stub, gsize *len)
{
  return ember_dns_proxy_map_save (stub->proxies, len);
}

gboolean
ember_dns_stub_load (EmberDnsStub *stub, const char *data, gsize len, GError **error)
{
  EmberDnsProxyMap *map;

  if (ember_dns_proxy_map_size (stub->proxies) > 0)
    {
      g_set_error (error, EMBER_DNS_STUB_ERROR, 0,
                   "proxy address map: load it before the stub hands out addresses");
      return FALSE;
    }
  map = ember_dns_proxy_map_load (data, len, error);
  if (map == NULL)
    return FALSE;
  ember_dns_proxy_map_free (stub->proxies);
  stub->proxies = map;
  stub->names_counted = FALSE;
  return TRUE;
}

/* ---- outputs ------------------------------------------------------------------- */

gboolean
ember_dns_stub_poll_event (EmberDnsStub *stub, EmberDnsStubEvent *ev)
{
  EmberDnsStubEvent *e = g_queue_pop_head (&stub->events);

  if (e == NULL)
    return FALSE;
  *ev = *e;
  g_free (e);
  return TRUE;
}

gsize
ember_dns_stub_poll_answer (EmberDnsStub *stub, guint8 *buf, gsize cap, EmberDnsAsker *to)
{
  GList *l;

  while ((l = g_queue_pop_head_link (&stub->answers)) != NULL)
    {
      Answer *a = l->data;
      gsize len = a->len;

      if (len <= cap)
        {
          memcpy (buf, a->data, len);
          *to = a->to;
          answer_free (stub, a);
          return len;
        }
      stub->stats.answers_dropped++;
      answer_free (stub, a);
    }
  return 0;
}

gsize
ember_dns_stub_poll_packet (EmberDnsStub *stub, guint8 *buf, gsize cap, gsize off)
{
  GList *l = stub->answers.head;

  while (l != NULL)
    {
      Answer *a = l->data;
      GList *next = l->next;
      EmberIpPacket pkt;
      EmberAddr src;

      if (a->to.transport != EMBER_DNS_TRANSPORT_UDP)
        {
          l = next;
          continue;
        }
      src = a->to.sentinel;
      src.port = EMBER_DNS_PORT;
      g_queue_unlink (&stub->answers, l);
      if (ember_ip_packet_build_udp (&pkt, buf, cap, off, &src, &a->to.client, a->data,
                                     a->len) == EMBER_PACKET_OK)
        {
          answer_free (stub, a);
          return ember_ip_packet_len (&pkt);
        }
      stub->stats.answers_dropped++;
      answer_free (stub, a);
      l = next;
    }
  return 0;
}

gboolean
ember_dns_stub_poll_transmit (EmberDnsStub *stub, guint8 *buf, gsize cap, EmberDnsTransmit *tx)
{
  GList *l;

  while ((l = g_queue_pop_head_link (&stub->transmits)) != NULL)
    {
      Pending *p = l->data;

      p->transmitting = FALSE;
      if (p->len > cap)
        {
          pending_servfail (stub, p);
          continue;
        }
      memcpy (buf, p->query, p->len);
      tx->upstream = p->upstream;
      tx->to = stub->upstreams[p->upstream];
      tx->transport = p->transport;
      tx->token = p->token;
      tx->len = p->len;
      return TRUE;
    }
  return FALSE;
}

gint64
ember_dns_stub_poll_timeout (const EmberDnsStub *stub)
{
  const Pending *p = g_queue_peek_head ((GQueue *) &stub->deadlines);

  return p != NULL ? p->deadline : G_MAXINT64;
}

void
ember_dns_stub_get_stats (const EmberDnsStub *stub, EmberDnsStubStats *stats)
{
  *stats = stub->stats;
}

guint
ember_dns_stub_n_proxy_names (EmberDnsStub *stub)
{
  guint size = ember_dns_proxy_map_size (stub->proxies);
  g_autoptr (GPtrArray) all = NULL;

  /* Entries are never removed: a new one changes the size. */
  if (stub->names_counted && size == stub->map_size)
    return stub->n_names;
  all = ember_dns_proxy_map_entries (stub->proxies);
  stub->n_names = 0;
  for (guint i = 0; i < all->len; i++)
    if (resource_by_id (stub, &((EmberDnsProxy *) all->pdata[i])->resource) != NULL)
      stub->n_names++;
  stub->map_size = size;
  stub->names_counted = TRUE;
  return stub->n_names;
}

gboolean
ember_dns_stub_lookup_proxy (const EmberDnsStub *stub, const char *name,
                             const EmberPortalId *resource, EmberAddr *addr, EmberAddr *addr6)
{
  g_autofree char *lower = g_ascii_strdown (name, -1);
  gsize n = strlen (lower);
  EmberDnsProxy *proxy;

  if (n > 1 && lower[n - 1] == '.')
    lower[n - 1] = '\0';
  proxy = ember_dns_proxy_map_lookup (stub->proxies, lower, resource);
  if (proxy == NULL)
    return FALSE;
  ember_dns_proxy_addr (proxy->index, EMBER_ADDR_IPV4, addr);
  ember_dns_proxy_addr (proxy->index, EMBER_ADDR_IPV6, addr6);
  return TRUE;
}
