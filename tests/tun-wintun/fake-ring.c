/* fake-ring — Wintun's rings in memory. See fake-ring.h. */
#include "fake-ring.h"

#include <string.h>

#include "ops.h"

#define HDR 4u
#define FLAG_DONE 0x80000000u /* receive: released; send: sent */
#define ALIGN4(x) (((x) + 3u) & ~3u)

typedef struct {
  guint8 *mem;       /* capacity + slack */
  guint32 head;      /* oldest packet still holding room */
  guint32 cursor;    /* receive: next packet to hand out */
  guint32 tail;      /* where the next packet goes */
  guint32 used;      /* bytes between head and tail */
  guint pending;     /* receive: packets not handed out yet */
} Ring;

struct _FakeRing {
  GMutex lock;
  guint32 capacity;
  Ring rx;
  Ring tx;
  gboolean full;
  gboolean ended;
  guint overflows;
  void (*notify) (void *data);
  void *data;
};

static guint32
read_u32 (const guint8 *p)
{
  guint32 v;
  memcpy (&v, p, sizeof v);
  return v;
}

static void
write_u32 (guint8 *p, guint32 v)
{
  memcpy (p, &v, sizeof v);
}

FakeRing *
fake_ring_new (guint32 capacity, void (*notify) (void *data), void *data)
{
  g_return_val_if_fail (capacity >= 4096 && (capacity & (capacity - 1)) == 0, NULL);
  FakeRing *r = g_new0 (FakeRing, 1);
  g_mutex_init (&r->lock);
  r->capacity = capacity;
  /* Slack: a packet that starts near the end runs past it (Wintun's
   * rings are laid out the same way). */
  r->rx.mem = g_malloc0 (capacity + HDR + 0x10000);
  r->tx.mem = g_malloc0 (capacity + HDR + 0x10000);
  r->notify = notify;
  r->data = data;
  return r;
}

void
fake_ring_free (FakeRing *r)
{
  if (r == NULL)
    return;
  g_mutex_clear (&r->lock);
  g_free (r->rx.mem);
  g_free (r->tx.mem);
  g_free (r);
}

/* Reserves room for a packet of `size` at the tail; NULL when full. */
static guint8 *
reserve (FakeRing *r, Ring *ring, guint32 size, guint32 flags)
{
  guint32 need = ALIGN4 (HDR + size);
  if (need > r->capacity - ring->used)
    return NULL;
  guint8 *p = ring->mem + ring->tail;
  write_u32 (p, size | flags);
  ring->tail = (ring->tail + need) & (r->capacity - 1);
  ring->used += need;
  return p;
}

/* Frees the room of every done packet at the head. */
static void
reclaim (FakeRing *r, Ring *ring)
{
  while (ring->used > 0)
    {
      guint32 h = read_u32 (ring->mem + ring->head);
      if (!(h & FLAG_DONE))
        break;
      guint32 need = ALIGN4 (HDR + (h & ~FLAG_DONE));
      ring->head = (ring->head + need) & (r->capacity - 1);
      ring->used -= need;
    }
}

const guint8 *
fake_ring_receive (FakeRing *r, guint32 *size, guint32 *err)
{
  const guint8 *pkt = NULL;
  g_mutex_lock (&r->lock);
  if (r->ended)
    *err = WINTUN_ERROR_HANDLE_EOF;
  else if (r->rx.pending == 0)
    *err = WINTUN_ERROR_NO_MORE_ITEMS;
  else
    {
      guint8 *p = r->rx.mem + r->rx.cursor;
      guint32 len = read_u32 (p) & ~FLAG_DONE;
      *size = len;
      pkt = p + HDR;
      r->rx.cursor = (r->rx.cursor + ALIGN4 (HDR + len)) & (r->capacity - 1);
      r->rx.pending--;
    }
  g_mutex_unlock (&r->lock);
  return pkt;
}

void
fake_ring_release (FakeRing *r, const guint8 *packet)
{
  g_mutex_lock (&r->lock);
  guint8 *p = (guint8 *) packet - HDR;
  write_u32 (p, read_u32 (p) | FLAG_DONE);
  reclaim (r, &r->rx);
  g_mutex_unlock (&r->lock);
}

guint8 *
fake_ring_allocate (FakeRing *r, guint32 size, guint32 *err)
{
  guint8 *p = NULL;
  g_mutex_lock (&r->lock);
  if (r->ended)
    *err = WINTUN_ERROR_HANDLE_EOF;
  else if (size == 0 || size > WINTUN_MAX_IP_PACKET_SIZE)
    *err = 87u; /* ERROR_INVALID_PARAMETER */
  else if (r->full || (p = reserve (r, &r->tx, size, 0)) == NULL)
    {
      r->overflows++;
      *err = WINTUN_ERROR_BUFFER_OVERFLOW;
    }
  g_mutex_unlock (&r->lock);
  return p != NULL ? p + HDR : NULL;
}

void
fake_ring_send (FakeRing *r, const guint8 *packet)
{
  g_mutex_lock (&r->lock);
  guint8 *p = (guint8 *) packet - HDR;
  write_u32 (p, read_u32 (p) | FLAG_DONE);
  g_mutex_unlock (&r->lock);
}

gboolean
fake_ring_inject (FakeRing *r, const guint8 *packet, gsize len)
{
  g_return_val_if_fail (len > 0 && len <= WINTUN_MAX_IP_PACKET_SIZE, FALSE);
  g_mutex_lock (&r->lock);
  guint8 *p = r->ended ? NULL : reserve (r, &r->rx, (guint32) len, 0);
  if (p != NULL)
    {
      memcpy (p + HDR, packet, len);
      r->rx.pending++;
    }
  g_mutex_unlock (&r->lock);
  if (p != NULL && r->notify != NULL)
    r->notify (r->data);
  return p != NULL;
}

gsize
fake_ring_take_sent (FakeRing *r, guint8 *buf, gsize cap)
{
  gsize len = 0;
  g_mutex_lock (&r->lock);
  if (r->tx.used > 0)
    {
      guint8 *p = r->tx.mem + r->tx.head;
      guint32 h = read_u32 (p);
      if (h & FLAG_DONE)
        {
          len = h & ~FLAG_DONE;
          memcpy (buf, p + HDR, MIN (len, cap));
          guint32 need = ALIGN4 (HDR + (guint32) len);
          r->tx.head = (r->tx.head + need) & (r->capacity - 1);
          r->tx.used -= need;
        }
    }
  g_mutex_unlock (&r->lock);
  return len;
}

guint
fake_ring_sent_waiting (FakeRing *r)
{
  guint n = 0;
  g_mutex_lock (&r->lock);
  guint32 off = r->tx.head, left = r->tx.used;
  while (left > 0)
    {
      guint32 h = read_u32 (r->tx.mem + off);
      if (!(h & FLAG_DONE))
        break;
      guint32 need = ALIGN4 (HDR + (h & ~FLAG_DONE));
      off = (off + need) & (r->capacity - 1);
      left -= need;
      n++;
    }
  g_mutex_unlock (&r->lock);
  return n;
}

void
fake_ring_force_full (FakeRing *r, gboolean full)
{
  g_mutex_lock (&r->lock);
  r->full = full;
  g_mutex_unlock (&r->lock);
}

guint
fake_ring_overflows (FakeRing *r)
{
  g_mutex_lock (&r->lock);
  guint n = r->overflows;
  g_mutex_unlock (&r->lock);
  return n;
}

void
fake_ring_end (FakeRing *r)
{
  g_mutex_lock (&r->lock);
  r->ended = TRUE;
  g_mutex_unlock (&r->lock);
  if (r->notify != NULL)
    r->notify (r->data);
}
