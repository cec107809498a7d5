/* tunnel/binding — the ICE socket's own STUN Binding client. See binding.h. */
#define G_LOG_DOMAIN "ember-tunnel"

#include "tunnel/binding.h"
#include "stun/message.h"

#include <string.h>

typedef struct {
  EmberAddr server;
  EmberAddr mapped;          /* last reported, or unset */
  gboolean active;           /* a request is out */
  gboolean send_pending;     /* poll_transmit owes it a send */
  guint8 txid[EMBER_STUN_TRANSACTION_ID_LEN];
  guint sends;
  gint64 rto;
  gint64 deadline;           /* active: next retransmission or give-up; else next request */
} Server;

struct _EmberTunnelBinding {
  EmberIceRng rng;
  Server servers[EMBER_BINDING_MAX_SERVERS];
  guint n_servers;
  guint tx_cursor;
  EmberTunnelBindingEvent events[EMBER_BINDING_MAX_EVENTS];
  guint ev_head, ev_len;
  EmberTunnelBindingStats stats;
};

EmberTunnelBinding *
ember_tunnel_binding_new (const EmberIceRng *rng)
{
  g_return_val_if_fail (rng != NULL && rng->next != NULL, NULL);
  EmberTunnelBinding *b = g_new0 (EmberTunnelBinding, 1);
  b->rng = *rng;
  return b;
}

void
ember_tunnel_binding_free (EmberTunnelBinding *b)
{
  g_free (b);
}

static Server *
find (EmberTunnelBinding *b, const EmberAddr *server)
{
  for (guint i = 0; i < b->n_servers; i++)
    if (ember_ice_addr_equal (&b->servers[i].server, server))
      return &b->servers[i];
  return NULL;
}

static void
push_event (EmberTunnelBinding *b, const Server *s, const EmberAddr *old)
{
  if (b->ev_len == EMBER_BINDING_MAX_EVENTS)
    {
      /* The oldest goes: a newer event of the same server supersedes it. */
      b->ev_head = (b->ev_head + 1) % EMBER_BINDING_MAX_EVENTS;
      b->ev_len--;
      b->stats.events_dropped++;
    }
  EmberTunnelBindingEvent *ev = &b->events[(b->ev_head + b->ev_len) % EMBER_BINDING_MAX_EVENTS];
  ev->server = s->server;
  ev->addr = s->mapped;
  ev->old = *old;
  b->ev_len++;
}

static void
start_request (EmberTunnelBinding *b, Server *s, gint64 now)
{
  /* RFC 8489 §5: 96 random bits; retransmissions keep them (§6.2.1). */
  guint64 r0 = ember_ice_rng_next (&b->rng), r1 = ember_ice_rng_next (&b->rng);
  for (guint i = 0; i < 8; i++)
    s->txid[i] = (guint8) (r0 >> (8 * i));
  for (guint i = 0; i < 4; i++)
    s->txid[8 + i] = (guint8) (r1 >> (8 * i));
  s->active = TRUE;
  s->send_pending = TRUE;
  s->sends = 1;
  s->rto = EMBER_BINDING_RTO_US;
  s->deadline = now + s->rto;
  b->stats.requests++;
}

static void
end_request (Server *s, gint64 now, gint64 next)
{
  s->active = FALSE;
  s->send_pending = FALSE;
  s->deadline = now + next;
}

static void
advance (EmberTunnelBinding *b, gint64 now)
{
  for (guint i = 0; i < b->n_servers; i++)
    {
      Server *s = &b->servers[i];
      if (now < s->deadline)
        continue;
      if (!s->active)
        start_request (b, s, now);
      else if (s->sends < EMBER_BINDING_MAX_SENDS)
        {
          s->sends++;
          s->send_pending = TRUE;
          s->rto = MIN (s->rto * 2, EMBER_BINDING_RTO_MAX_US);
          s->deadline = now + s->rto;
          b->stats.requests++;
        }
      else
        {
          /* No answer: keep the last mapping (the NAT may still hold
           * it; ICE consent tells whether a path works) and ask again
           * soon. */
          b->stats.failures++;
          end_request (s, now, EMBER_BINDING_RETRY_US);
        }
    }
}

void
ember_tunnel_binding_set_servers (EmberTunnelBinding *b, gint64 now, const EmberAddr *servers,
                                  guint n)
{
  Server kept[EMBER_BINDING_MAX_SERVERS];
  guint n_kept = 0;

  g_return_if_fail (b != NULL && (servers != NULL || n == 0));
  for (guint i = 0; i < n && n_kept < EMBER_BINDING_MAX_SERVERS; i++)
    {
      if (!ember_ice_addr_is_set (&servers[i]) || servers[i].port == 0)
        continue;
      gboolean dup = FALSE;
      for (guint k = 0; k < n_kept && !dup; k++)
        dup = ember_ice_addr_equal (&kept[k].server, &servers[i]);
      if (dup)
        continue;
      Server *old = find (b, &servers[i]);
      if (old != NULL)
        kept[n_kept] = *old;
      else
        {
          memset (&kept[n_kept], 0, sizeof kept[n_kept]);
          kept[n_kept].server = servers[i];
          kept[n_kept].deadline = now; /* asked at once */
        }
      n_kept++;
    }
  memcpy (b->servers, kept, n_kept * sizeof kept[0]);
  b->n_servers = n_kept;
  b->tx_cursor = 0;
  advance (b, now);
}

void
ember_tunnel_binding_refresh (EmberTunnelBinding *b, gint64 now)
{
  g_return_if_fail (b != NULL);
  for (guint i = 0; i < b->n_servers; i++)
    if (!b->servers[i].active)
      b->servers[i].deadline = now;
  advance (b, now);
}

gboolean
ember_tunnel_binding_handle_input (EmberTunnelBinding *b, gint64 now, const EmberAddr *from,
                                   const guint8 *buf, gsize len)
{
  EmberStunMessage msg;
  EmberAddr mapped;

  g_return_val_if_fail (b != NULL && from != NULL, FALSE);
  /* Cheap refusals first: this runs for every datagram on the socket. */
  if (buf == NULL || len < EMBER_STUN_HEADER_LEN || ember_stun_classify (buf, len) != EMBER_STUN_KIND_STUN)
    return FALSE;
  Server *s = find (b, from);
  if (s == NULL)
    return FALSE; /* not a server we asked: ICE's business, or nobody's */
  if (ember_stun_message_parse (&msg, buf, len) != EMBER_STUN_OK
      || msg.method != EMBER_STUN_METHOD_BINDING
      || (msg.klass != EMBER_STUN_CLASS_SUCCESS && msg.klass != EMBER_STUN_CLASS_ERROR))
    return FALSE;
  if (!s->active || memcmp (msg.transaction_id, s->txid, sizeof s->txid) != 0)
    {
      /* A late copy of an answered request, or a guess: ours to drop,
       * nobody else's to read. */
      b->stats.ignored++;
      return TRUE;
    }
  if (msg.fingerprint >= 0 && ember_stun_message_verify_fingerprint (&msg) != EMBER_STUN_OK)
    {
      b->stats.ignored++;
      return TRUE;
    }
  if (msg.klass == EMBER_STUN_CLASS_ERROR)
    {
      b->stats.failures++;
      end_request (s, now, EMBER_BINDING_RETRY_US);
      return TRUE;
    }
  /* RFC 8489 §14.2: XOR-MAPPED-ADDRESS; MAPPED-ADDRESS only from a
   * server that predates it. */
  if (ember_stun_message_get_xor_address (&msg, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped)
          != EMBER_STUN_OK
      && ember_stun_message_get_address (&msg, EMBER_STUN_ATTR_MAPPED_ADDRESS, &mapped)
             != EMBER_STUN_OK)
    {
      b->stats.ignored++;
      return TRUE; /* the request stays out: a good answer may follow */
    }
  /* A mapping of another family or port 0 is no address to offer. */
  if (mapped.family != s->server.family || mapped.port == 0)
    {
      b->stats.ignored++;
      return TRUE;
    }
  b->stats.answers++;
  end_request (s, now, EMBER_BINDING_REFRESH_US);
  if (!ember_ice_addr_equal (&mapped, &s->mapped))
    {
      EmberAddr old = s->mapped;
      s->mapped = mapped;
      push_event (b, s, &old);
    }
  return TRUE;
}

void
ember_tunnel_binding_handle_timeout (EmberTunnelBinding *b, gint64 now)
{
  g_return_if_fail (b != NULL);
  advance (b, now);
}

gsize
ember_tunnel_binding_poll_transmit (EmberTunnelBinding *b, guint8 *buf, gsize cap, EmberAddr *to)
{
  g_return_val_if_fail (b != NULL && buf != NULL && to != NULL, 0);
  for (guint k = 0; k < b->n_servers; k++)
    {
      guint i = (b->tx_cursor + k) % b->n_servers;
      Server *s = &b->servers[i];
      EmberStunBuilder sb;
      if (!s->send_pending)
        continue;
      ember_stun_builder_init (&sb, buf, cap, EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_REQUEST,
                               s->txid);
      ember_stun_builder_add_fingerprint (&sb);
      gsize len = ember_stun_builder_finish (&sb, NULL);
      if (len == 0)
        return 0; /* buffer too small: a caller bug, the send stays owed */
      s->send_pending = FALSE;
      b->tx_cursor = (i + 1) % b->n_servers;
      *to = s->server;
      return len;
    }
  return 0;
}

gint64
ember_tunnel_binding_poll_timeout (const EmberTunnelBinding *b)
{
  gint64 next = G_MAXINT64;
  g_return_val_if_fail (b != NULL, G_MAXINT64);
  for (guint i = 0; i < b->n_servers; i++)
    next = MIN (next, b->servers[i].deadline);
  return next;
}

gboolean
ember_tunnel_binding_poll_event (EmberTunnelBinding *b, EmberTunnelBindingEvent *ev)
{
  g_return_val_if_fail (b != NULL && ev != NULL, FALSE);
  if (b->ev_len == 0)
    return FALSE;
  *ev = b->events[b->ev_head];
  b->ev_head = (b->ev_head + 1) % EMBER_BINDING_MAX_EVENTS;
  b->ev_len--;
  return TRUE;
}

gboolean
ember_tunnel_binding_get_mapping (const EmberTunnelBinding *b, const EmberAddr *server,
                                  EmberAddr *mapped)
{
  g_return_val_if_fail (b != NULL && server != NULL && mapped != NULL, FALSE);
  for (guint i = 0; i < b->n_servers; i++)
    if (ember_ice_addr_equal (&b->servers[i].server, server)
        && ember_ice_addr_is_set (&b->servers[i].mapped))
      {
        *mapped = b->servers[i].mapped;
        return TRUE;
      }
  return FALSE;
}

void
ember_tunnel_binding_get_stats (const EmberTunnelBinding *b, EmberTunnelBindingStats *stats)
{
  g_return_if_fail (b != NULL && stats != NULL);
  *stats = b->stats;
}
