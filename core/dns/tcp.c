/* dns/tcp — DNS over TCP to the sentinels, on the TUN. See tcp.h. */
#include <string.h>

#include "dns/tcp.h"
#include "dns/wire.h"

/* TCP header flags (RFC 9293 §3.1). */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_HEADER 20
#define TCP_WINDOW 65535u

typedef struct {
  guint64 stream;
  EmberAddr client, sentinel;   /* with ports */
  guint32 snd_nxt, rcv_nxt;
  gboolean fin_sent;
  gint64 last;
  GByteArray *rx;               /* bytes received, not yet a whole message */
} Conn;

typedef struct {
  gsize len;
  guint8 data[];
} Segment;

typedef struct {
  EmberDnsAsker asker;
  gsize len;
  guint8 data[];
} Message;

struct _EmberDnsTcp {
  EmberIceRng rng;
  GHashTable *conns;            /* stream -> Conn* */
  guint64 next_stream;
  GQueue packets;               /* Segment* */
  GQueue messages;              /* Message* */
  EmberDnsTcpStats stats;
};

static void
conn_free (gpointer p)
{
  Conn *c = p;

  g_byte_array_unref (c->rx);
  g_free (c);
}

EmberDnsTcp *
ember_dns_tcp_new (const EmberIceRng *rng)
{
  EmberDnsTcp *t = g_new0 (EmberDnsTcp, 1);

  t->rng = *rng;
  t->conns = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, conn_free);
  t->next_stream = 1;
  return t;
}

void
ember_dns_tcp_free (EmberDnsTcp *t)
{
  if (!t)
    return;
  g_hash_table_destroy (t->conns);
  g_queue_clear_full (&t->packets, g_free);
  g_queue_clear_full (&t->messages, g_free);
  g_free (t);
}

static guint32
rd32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static void
wr32 (guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

/* One segment from `from` to `to` (addresses with ports) into the queue. */
static void
emit (EmberDnsTcp *t, const EmberAddr *from, const EmberAddr *to, guint32 seq, guint32 ack,
      guint8 flags, const guint8 *data, gsize len)
{
  gsize ip = from->family == EMBER_ADDR_IPV4 ? 20 : 40, total = ip + TCP_HEADER + len;
  Segment *s;
  guint8 *p, *tcp;
  EmberIpPacket pkt;

  if (t->packets.length >= EMBER_DNS_TCP_QUEUE_MAX || total > EMBER_PACKET_MTU)
    {
      t->stats.dropped++;
      return;
    }
  s = g_malloc0 (sizeof *s + total);
  s->len = total;
  p = s->data;
  if (from->family == EMBER_ADDR_IPV4)
    {
      p[0] = 0x45;
      p[2] = (guint8) (total >> 8);
      p[3] = (guint8) total;
      p[6] = 0x40; /* DF */
      p[8] = 64;
      p[9] = EMBER_IPPROTO_TCP;
      memcpy (p + 12, from->addr, 4);
      memcpy (p + 16, to->addr, 4);
    }
  else
    {
      p[0] = 0x60;
      p[4] = (guint8) ((total - 40) >> 8);
      p[5] = (guint8) (total - 40);
      p[6] = EMBER_IPPROTO_TCP;
      p[7] = 64;
      memcpy (p + 8, from->addr, 16);
      memcpy (p + 24, to->addr, 16);
    }
  tcp = p + ip;
  tcp[0] = (guint8) (from->port >> 8);
  tcp[1] = (guint8) from->port;
  tcp[2] = (guint8) (to->port >> 8);
  tcp[3] = (guint8) to->port;
  wr32 (tcp + 4, seq);
  wr32 (tcp + 8, ack);
  tcp[12] = (TCP_HEADER / 4) << 4;
  tcp[13] = flags;
  tcp[14] = (guint8) (TCP_WINDOW >> 8);
  tcp[15] = (guint8) TCP_WINDOW;
  if (len > 0)
    memcpy (tcp + TCP_HEADER, data, len);
  if (ember_ip_packet_parse (&pkt, s->data, total, 0, total) != EMBER_PACKET_OK)
    {
      g_free (s);
      t->stats.dropped++;
      return;
    }
  ember_ip_packet_update_checksums (&pkt);
  g_queue_push_tail (&t->packets, s);
}

static void
reset (EmberDnsTcp *t, const EmberAddr *from, const EmberAddr *to, guint32 seq, guint32 ack)
{
  t->stats.resets_sent++;
  emit (t, from, to, seq, ack, TCP_RST | TCP_ACK, NULL, 0);
}

static Conn *
find (EmberDnsTcp *t, const EmberAddr *client, const EmberAddr *sentinel)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, t->conns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Conn *c = v;

      if (ember_ice_addr_equal (&c->client, client) && ember_ice_addr_equal (&c->sentinel, sentinel))
        return c;
    }
  return NULL;
}

/* Whole messages out of the receive buffer. */
static void
cut_messages (EmberDnsTcp *t, Conn *c)
{
  while (c->rx->len >= 2)
    {
      gsize mlen = ((gsize) c->rx->data[0] << 8) | c->rx->data[1];
      Message *m;

      if (c->rx->len < 2 + mlen)
        break;
      m = g_malloc (sizeof *m + mlen);
      m->asker.transport = EMBER_DNS_TRANSPORT_TCP;
      m->asker.client = c->client;
      m->asker.sentinel = c->sentinel;
      m->asker.stream = c->stream;
      m->len = mlen;
      memcpy (m->data, c->rx->data + 2, mlen);
      g_queue_push_tail (&t->messages, m);
      t->stats.messages++;
      g_byte_array_remove_range (c->rx, 0, (guint) (2 + mlen));
    }
}

void
ember_dns_tcp_handle_segment (EmberDnsTcp *t, gint64 now, const EmberIpPacket *pkt)
{
  EmberAddr client, sentinel;
  const guint8 *tcp, *payload;
  gsize plen;
  guint32 seq, ack;
  guint8 flags;
  Conn *c;

  t->stats.segments++;
  if (ember_ip_packet_protocol (pkt) != EMBER_IPPROTO_TCP || !pkt->has_l4 ||
      ember_ip_packet_fragment (pkt) != EMBER_IP_FRAG_NONE)
    {
      t->stats.dropped++;
      return;
    }
  ember_ip_packet_get_source (pkt, &client);
  ember_ip_packet_get_destination (pkt, &sentinel);
  tcp = ember_ip_packet_data (pkt) + pkt->l4_off;
  payload = ember_ip_packet_payload (pkt, &plen);
  seq = rd32 (tcp + 4);
  ack = rd32 (tcp + 8);
  flags = tcp[13];
  c = find (t, &client, &sentinel);

  if (flags & TCP_RST)
    {
      if (c)
        g_hash_table_remove (t->conns, &c->stream);
      return;
    }
  if (!c)
    {
      if ((flags & (TCP_SYN | TCP_ACK)) != TCP_SYN)
        {
          /* Nothing here (forgotten after idling, or never): RST, RFC 9293 §3.10.7.1. */
          if (flags & TCP_ACK)
            reset (t, &sentinel, &client, ack, 0);
          else
            reset (t, &sentinel, &client, 0, seq + (guint32) plen);
          return;
        }
      if (g_hash_table_size (t->conns) >= EMBER_DNS_TCP_CONNS_MAX)
        {
          reset (t, &sentinel, &client, 0, seq + 1);
          return;
        }
      c = g_new0 (Conn, 1);
      c->stream = t->next_stream++;
      c->client = client;
      c->sentinel = sentinel;
      c->rcv_nxt = seq + 1;
      c->snd_nxt = (guint32) ember_ice_rng_next (&t->rng);
      c->rx = g_byte_array_new ();
      g_hash_table_insert (t->conns, &c->stream, c);
      t->stats.conns++;
      c->last = now;
      emit (t, &sentinel, &client, c->snd_nxt, c->rcv_nxt, TCP_SYN | TCP_ACK, NULL, 0);
      c->snd_nxt++;
      return;
    }
  c->last = now;
  if (flags & TCP_SYN)
    {
      /* Our SYN-ACK was lost or is late: the same again. */
      if (seq + 1 == c->rcv_nxt)
        emit (t, &sentinel, &client, c->snd_nxt - 1, c->rcv_nxt, TCP_SYN | TCP_ACK, NULL, 0);
      return;
    }
  if (plen > 0)
    {
      if (seq != c->rcv_nxt || c->rx->len + plen > 2 + EMBER_DNS_TCP_MAX)
        {
          /* Out of order (or more than one message can be): say what we
           * expect; the client sends it again. */
          emit (t, &sentinel, &client, c->snd_nxt, c->rcv_nxt, TCP_ACK, NULL, 0);
          return;
        }
      g_byte_array_append (c->rx, payload, (guint) plen);
      c->rcv_nxt += (guint32) plen;
      cut_messages (t, c);
    }
  if ((flags & TCP_FIN) && seq + (guint32) plen == c->rcv_nxt)
    {
      c->rcv_nxt++;
      if (!c->fin_sent)
        {
          emit (t, &sentinel, &client, c->snd_nxt, c->rcv_nxt, TCP_FIN | TCP_ACK, NULL, 0);
          c->snd_nxt++;
          c->fin_sent = TRUE;
        }
      else
        emit (t, &sentinel, &client, c->snd_nxt, c->rcv_nxt, TCP_ACK, NULL, 0);
      return;
    }
  if (plen > 0)
    emit (t, &sentinel, &client, c->snd_nxt, c->rcv_nxt, TCP_ACK, NULL, 0);
  else if (c->fin_sent && ack == c->snd_nxt)
    /* The last ACK of our FIN: done. */
    g_hash_table_remove (t->conns, &c->stream);
}

gsize
ember_dns_tcp_poll_message (EmberDnsTcp *t, guint8 *buf, gsize cap, EmberDnsAsker *asker)
{
  Message *m;
  gsize len;

  while ((m = g_queue_pop_head (&t->messages)))
    {
      if (m->len <= cap && m->len > 0)
        {
          memcpy (buf, m->data, m->len);
          *asker = m->asker;
          len = m->len;
          g_free (m);
          return len;
        }
      t->stats.dropped++;
      g_free (m);
    }
  return 0;
}

gboolean
ember_dns_tcp_send (EmberDnsTcp *t, gint64 now, guint64 stream, const guint8 *msg, gsize len)
{
  Conn *c = g_hash_table_lookup (t->conns, &stream);
  guint8 prefix[2];
  gsize off = 0;

  if (!c || c->fin_sent || len > EMBER_DNS_TCP_MAX)
    {
      t->stats.answers_lost++;
      return FALSE;
    }
  c->last = now;
  t->stats.answers++;
  prefix[0] = (guint8) (len >> 8);
  prefix[1] = (guint8) len;
  /* The length prefix rides with the first bytes of the message
   * (RFC 7766 §8: one write, so it does not go alone). */
  while (off < len + 2)
    {
      guint8 chunk[EMBER_DNS_TCP_SEGMENT];
      gsize n = MIN ((gsize) EMBER_DNS_TCP_SEGMENT, len + 2 - off), k = 0;

      for (; k < n; k++)
        {
          gsize i = off + k;

          chunk[k] = i < 2 ? prefix[i] : msg[i - 2];
        }
      emit (t, &c->sentinel, &c->client, c->snd_nxt, c->rcv_nxt, TCP_ACK | TCP_PSH, chunk, n);
      c->snd_nxt += (guint32) n;
      off += n;
    }
  return TRUE;
}

gsize
ember_dns_tcp_poll_packet (EmberDnsTcp *t, guint8 *buf, gsize cap)
{
  Segment *s;
  gsize len;

  while ((s = g_queue_pop_head (&t->packets)))
    {
      if (s->len <= cap)
        {
          memcpy (buf, s->data, s->len);
          len = s->len;
          g_free (s);
          return len;
        }
      t->stats.dropped++;
      g_free (s);
    }
  return 0;
}

void
ember_dns_tcp_handle_timeout (EmberDnsTcp *t, gint64 now)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, t->conns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Conn *c = v;

      if (now - c->last < EMBER_DNS_TCP_IDLE_US)
        continue;
      if (!c->fin_sent)
        reset (t, &c->sentinel, &c->client, c->snd_nxt, c->rcv_nxt);
      g_hash_table_iter_remove (&it);
    }
}

gint64
ember_dns_tcp_poll_timeout (const EmberDnsTcp *t)
{
  GHashTableIter it;
  gpointer v;
  gint64 next = G_MAXINT64;

  g_hash_table_iter_init (&it, t->conns);
  while (g_hash_table_iter_next (&it, NULL, &v))
    next = MIN (next, ((Conn *) v)->last + EMBER_DNS_TCP_IDLE_US);
  return next;
}

void
ember_dns_tcp_get_stats (const EmberDnsTcp *t, EmberDnsTcpStats *stats)
{
  *stats = t->stats;
}

guint
ember_dns_tcp_n_conns (const EmberDnsTcp *t)
{
  return g_hash_table_size (t->conns);
}
