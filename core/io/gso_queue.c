/* gso_queue — GSO batch building and ordering (seed 002). See gso_queue.h. */
#include "io/gso_queue.h"

#include <string.h>

typedef struct {
  guint8 *buf;     /* EMBER_GSO_MAX_BYTES, allocated on first use */
  gsize off;       /* bytes already consumed from the front */
  gsize len;       /* end of the data */
  guint n_segments;/* segments in [off, len) */
  gint next;       /* next batch of the same key, or free-list link */
} Batch;

/* One key: all its batches hold datagrams of exactly `segment_size`
 * bytes for `dst`, oldest first. */
typedef struct {
  guint16 segment_size;
  EmberAddr dst;
  gint head;
  gint tail;
} Entry;

struct _EmberGsoQueue {
  Batch *batches;
  guint n_buffers;
  gint free_head;
  /* Sorted by (segment_size, dst): the flush order. At most one entry
   * per used batch, so n_buffers bounds it. */
  Entry *entries;
  guint n_entries;
  guint n_batches;
  guint n_datagrams;
};

gint
ember_gso_addr_compare (const EmberAddr *a, const EmberAddr *b)
{
  if (a->family != b->family)
    return a->family < b->family ? -1 : 1;
  gsize alen = a->family == EMBER_ADDR_IPV4 ? 4 : 16;
  int c = memcmp (a->addr, b->addr, alen);
  if (c != 0)
    return c < 0 ? -1 : 1;
  if (a->port != b->port)
    return a->port < b->port ? -1 : 1;
  if (a->scope_id != b->scope_id)
    return a->scope_id < b->scope_id ? -1 : 1;
  return 0;
}

/* seed 002: the key starts with the segment size, so iteration order is
 * smallest datagrams first. */
static gint
key_compare (guint16 seg, const EmberAddr *dst, const Entry *e)
{
  if (seg != e->segment_size)
    return seg < e->segment_size ? -1 : 1;
  return ember_gso_addr_compare (dst, &e->dst);
}

EmberGsoQueue *
ember_gso_queue_new (guint n_buffers)
{
  g_return_val_if_fail (n_buffers > 0, NULL);

  EmberGsoQueue *q = g_new0 (EmberGsoQueue, 1);
  q->n_buffers = n_buffers;
  q->batches = g_new0 (Batch, n_buffers);
  q->entries = g_new0 (Entry, n_buffers);
  for (guint i = 0; i < n_buffers; i++)
    q->batches[i].next = i + 1 < n_buffers ? (gint) (i + 1) : -1;
  q->free_head = 0;
  return q;
}

void
ember_gso_queue_free (EmberGsoQueue *q)
{
  if (q == NULL)
    return;
  for (guint i = 0; i < q->n_buffers; i++)
    g_free (q->batches[i].buf);
  g_free (q->batches);
  g_free (q->entries);
  g_free (q);
}

/* Binary search; returns TRUE and the index when found, else FALSE and
 * the insertion point. */
static gboolean
find_entry (const EmberGsoQueue *q, guint16 seg, const EmberAddr *dst, guint *index)
{
  guint lo = 0, hi = q->n_entries;
  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      gint c = key_compare (seg, dst, &q->entries[mid]);
      if (c == 0)
        {
          *index = mid;
          return TRUE;
        }
      if (c < 0)
        hi = mid;
      else
        lo = mid + 1;
    }
  *index = lo;
  return FALSE;
}

static gint
batch_take (EmberGsoQueue *q)
{
  gint b = q->free_head;
  if (b < 0)
    return -1;
  Batch *batch = &q->batches[b];
  q->free_head = batch->next;
  if (batch->buf == NULL)
    batch->buf = g_malloc (EMBER_GSO_MAX_BYTES);
  batch->off = batch->len = 0;
  batch->n_segments = 0;
  batch->next = -1;
  q->n_batches++;
  return b;
}

static void
batch_release (EmberGsoQueue *q, gint b)
{
  q->batches[b].next = q->free_head;
  q->free_head = b;
  q->n_batches--;
}

EmberGsoPush
ember_gso_queue_push (EmberGsoQueue *q, const EmberAddr *dst, const guint8 *data, gsize len)
{
  g_return_val_if_fail (q != NULL && dst != NULL, EMBER_GSO_PUSH_INVALID);

  if (len == 0 || len > EMBER_GSO_MAX_BYTES)
    return EMBER_GSO_PUSH_INVALID;

  guint16 seg = (guint16) len;
  guint idx;
  Batch *batch = NULL;

  if (find_entry (q, seg, dst, &idx))
    {
      Entry *e = &q->entries[idx];
      Batch *tail = &q->batches[e->tail];
      if (tail->n_segments < EMBER_GSO_MAX_SEGMENTS && tail->len + len <= EMBER_GSO_MAX_BYTES)
        batch = tail;
      else
        {
          gint b = batch_take (q);
          if (b < 0)
            return EMBER_GSO_PUSH_FULL;
          q->batches[e->tail].next = b;
          e->tail = b;
          batch = &q->batches[b];
        }
    }
  else
    {
      gint b = batch_take (q);
      if (b < 0)
        return EMBER_GSO_PUSH_FULL;
      memmove (&q->entries[idx + 1], &q->entries[idx], (q->n_entries - idx) * sizeof (Entry));
      q->n_entries++;
      Entry *e = &q->entries[idx];
      e->segment_size = seg;
      e->dst = *dst;
      e->head = e->tail = b;
      batch = &q->batches[b];
    }

  memcpy (batch->buf + batch->len, data, len);
  batch->len += len;
  batch->n_segments++;
  q->n_datagrams++;
  return EMBER_GSO_PUSH_QUEUED;
}

guint
ember_gso_queue_peek (EmberGsoQueue *q, EmberGsoBatch *out, guint max)
{
  g_return_val_if_fail (q != NULL, 0);

  guint n = 0;
  for (guint i = 0; i < q->n_entries && n < max; i++)
    {
      const Entry *e = &q->entries[i];
      for (gint b = e->head; b >= 0 && n < max; b = q->batches[b].next)
        {
          const Batch *batch = &q->batches[b];
          out[n].dst = e->dst;
          out[n].segment_size = e->segment_size;
          out[n].n_segments = batch->n_segments;
          out[n].data = batch->buf + batch->off;
          out[n].len = batch->len - batch->off;
          n++;
        }
    }
  return n;
}

void
ember_gso_queue_consume (EmberGsoQueue *q, guint n_segments)
{
  g_return_if_fail (q != NULL);

  while (n_segments > 0 && q->n_entries > 0)
    {
      Entry *e = &q->entries[0];
      Batch *batch = &q->batches[e->head];
      if (n_segments < batch->n_segments)
        {
          batch->off += (gsize) n_segments * e->segment_size;
          batch->n_segments -= n_segments;
          q->n_datagrams -= n_segments;
          return;
        }
      n_segments -= batch->n_segments;
      q->n_datagrams -= batch->n_segments;
      gint next = batch->next;
      batch_release (q, e->head);
      if (next >= 0)
        e->head = next;
      else
        {
          q->n_entries--;
          memmove (&q->entries[0], &q->entries[1], q->n_entries * sizeof (Entry));
        }
    }
}

guint
ember_gso_queue_drop_head (EmberGsoQueue *q)
{
  g_return_val_if_fail (q != NULL, 0);
  if (q->n_entries == 0)
    return 0;
  guint n = q->batches[q->entries[0].head].n_segments;
  ember_gso_queue_consume (q, n);
  return n;
}

gboolean
ember_gso_queue_is_empty (const EmberGsoQueue *q)
{
  return q->n_entries == 0;
}

guint
ember_gso_queue_n_batches (const EmberGsoQueue *q)
{
  return q->n_batches;
}

guint
ember_gso_queue_n_datagrams (const EmberGsoQueue *q)
{
  return q->n_datagrams;
}
