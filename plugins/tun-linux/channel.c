/* channel — bounded packet ring between threads. See channel.h. */
#include "channel.h"

#include <errno.h>
#include <string.h>

struct _TunChannel {
  GMutex lock;
  GCond producer_cond;   /* room freed / closed */
  GCond consumer_cond;   /* packets queued / closed */
  guint8 *mem;
  gsize *lens;
  gsize slot_size;
  guint capacity;
  guint head;            /* oldest queued slot */
  gint count;            /* atomic reads allowed outside the lock */
  guint taken;           /* slots handed out by take(), not yet released */
  guint producers_waiting;
  gboolean consumer_waiting;
  gboolean closed;
  EmberWaker *recv_waker; /* armed by pop_many() when empty */
  EmberWaker *room_waker; /* armed by poll_room() when full */
};

TunChannel *
tun_channel_new (guint capacity, gsize slot_size)
{
  TunChannel *ch = g_new0 (TunChannel, 1);
  g_mutex_init (&ch->lock);
  g_cond_init (&ch->producer_cond);
  g_cond_init (&ch->consumer_cond);
  ch->capacity = capacity;
  ch->slot_size = slot_size;
  ch->mem = g_malloc ((gsize) capacity * slot_size);
  ch->lens = g_new0 (gsize, capacity);
  return ch;
}

void
tun_channel_free (TunChannel *ch)
{
  if (ch == NULL)
    return;
  g_mutex_clear (&ch->lock);
  g_cond_clear (&ch->producer_cond);
  g_cond_clear (&ch->consumer_cond);
  g_free (ch->mem);
  g_free (ch->lens);
  g_free (ch);
}

gsize
tun_channel_slot_size (const TunChannel *ch)
{
  return ch->slot_size;
}

void
tun_channel_close (TunChannel *ch)
{
  g_mutex_lock (&ch->lock);
  ch->closed = TRUE;
  ch->recv_waker = NULL;
  ch->room_waker = NULL;
  g_cond_broadcast (&ch->producer_cond);
  g_cond_broadcast (&ch->consumer_cond);
  g_mutex_unlock (&ch->lock);
}

static guint8 *
slot (TunChannel *ch, guint index)
{
  return ch->mem + (gsize) (index % ch->capacity) * ch->slot_size;
}

/* Called locked after adding packets; returns a waker to call unlocked. */
static EmberWaker *
after_push_locked (TunChannel *ch)
{
  EmberWaker *w = ch->recv_waker;
  ch->recv_waker = NULL;
  if (ch->consumer_waiting)
    g_cond_signal (&ch->consumer_cond);
  return w;
}

guint
tun_channel_push_wait (TunChannel *ch, const guint8 *const *pkts, const gsize *lens, guint n)
{
  guint pushed = 0;
  EmberWaker *wake = NULL;

  g_mutex_lock (&ch->lock);
  while (pushed < n)
    {
      while ((guint) ch->count == ch->capacity && !ch->closed)
        {
          /* Let the consumer drain what is there before we sleep. */
          EmberWaker *w = after_push_locked (ch);
          if (w != NULL)
            {
              g_mutex_unlock (&ch->lock);
              ember_waker_wake (w);
              g_mutex_lock (&ch->lock);
              continue;
            }
          ch->producers_waiting++;
          g_cond_wait (&ch->producer_cond, &ch->lock);
          ch->producers_waiting--;
        }
      if (ch->closed)
        break;
      while (pushed < n && (guint) ch->count < ch->capacity)
        {
          guint idx = (ch->head + (guint) ch->count) % ch->capacity;
          gsize len = MIN (lens[pushed], ch->slot_size);
          memcpy (slot (ch, idx), pkts[pushed], len);
          /* A packet longer than a slot keeps its true length so the
           * consumer reports EMSGSIZE instead of passing a torn packet. */
          ch->lens[idx] = lens[pushed];
          g_atomic_int_inc (&ch->count);
          pushed++;
        }
    }
  wake = after_push_locked (ch);
  g_mutex_unlock (&ch->lock);
  ember_waker_wake (wake);
  return pushed;
}

gboolean
tun_channel_try_push (TunChannel *ch, const guint8 *pkt, gsize len)
{
  if (len > ch->slot_size)
    return FALSE;
  g_mutex_lock (&ch->lock);
  if (ch->closed || (guint) ch->count >= ch->capacity)
    {
      g_mutex_unlock (&ch->lock);
      return FALSE;
    }
  guint idx = (ch->head + (guint) ch->count) % ch->capacity;
  memcpy (slot (ch, idx), pkt, len);
  ch->lens[idx] = len;
  g_atomic_int_inc (&ch->count);
  EmberWaker *w = after_push_locked (ch);
  g_mutex_unlock (&ch->lock);
  ember_waker_wake (w);
  return TRUE;
}

gboolean
tun_channel_has_room (TunChannel *ch)
{
  return (guint) g_atomic_int_get (&ch->count) < ch->capacity;
}

gboolean
tun_channel_poll_room (TunChannel *ch, EmberWaker *waker)
{
  if (tun_channel_has_room (ch))
    return TRUE;
  g_mutex_lock (&ch->lock);
  gboolean room = (guint) ch->count < ch->capacity;
  if (!room)
    ch->room_waker = waker;
  g_mutex_unlock (&ch->lock);
  return room;
}

guint
tun_channel_pop_many (TunChannel *ch, EmberPacket *batch, guint max, EmberWaker *waker,
                      guint64 *dropped)
{
  g_mutex_lock (&ch->lock);
  guint n = MIN (max, (guint) ch->count);
  for (guint i = 0; i < n; i++)
    {
      guint idx = (ch->head + i) % ch->capacity;
      gsize len = ch->lens[idx];
      EmberPacket *p = &batch[i];
      p->segment_size = 0;
      p->queue = 0;
      if (len > p->capacity || len > ch->slot_size)
        {
          p->len = 0;
          p->error = EMSGSIZE;
          if (dropped != NULL)
            (*dropped)++;
          continue;
        }
      memcpy (p->data, slot (ch, idx), len);
      p->len = len;
      p->error = 0;
    }
  ch->head = (ch->head + n) % ch->capacity;
  g_atomic_int_add (&ch->count, -(gint) n);
  if (n == 0 && !ch->closed)
    ch->recv_waker = waker;
  if (n > 0 && ch->producers_waiting > 0)
    g_cond_broadcast (&ch->producer_cond);
  g_mutex_unlock (&ch->lock);
  return n;
}

guint
tun_channel_take (TunChannel *ch, guint8 **pkts, gsize *lens, guint max)
{
  g_mutex_lock (&ch->lock);
  while ((guint) ch->count == ch->taken && !ch->closed)
    {
      ch->consumer_waiting = TRUE;
      g_cond_wait (&ch->consumer_cond, &ch->lock);
      ch->consumer_waiting = FALSE;
    }
  guint avail = (guint) ch->count - ch->taken;
  guint n = MIN (max, avail);
  for (guint i = 0; i < n; i++)
    {
      guint idx = (ch->head + ch->taken + i) % ch->capacity;
      pkts[i] = slot (ch, idx);
      lens[i] = ch->lens[idx];
    }
  ch->taken += n;
  g_mutex_unlock (&ch->lock);
  return n;
}

void
tun_channel_release (TunChannel *ch, guint n)
{
  g_mutex_lock (&ch->lock);
  n = MIN (n, ch->taken);
  ch->taken -= n;
  ch->head = (ch->head + n) % ch->capacity;
  g_atomic_int_add (&ch->count, -(gint) n);
  EmberWaker *w = ch->room_waker;
  ch->room_waker = NULL;
  if (ch->producers_waiting > 0)
    g_cond_broadcast (&ch->producer_cond);
  g_mutex_unlock (&ch->lock);
  ember_waker_wake (w);
}

guint
tun_channel_count (TunChannel *ch)
{
  return (guint) g_atomic_int_get (&ch->count);
}
