/* ring — one step on a Wintun session's rings. See ring.h. */
#include "ring.h"

#include <string.h>

static WintunRingStatus
status_of (guint32 err)
{
  switch (err)
    {
    case WINTUN_ERROR_NO_MORE_ITEMS: return WINTUN_RING_EMPTY;
    case WINTUN_ERROR_BUFFER_OVERFLOW: return WINTUN_RING_FULL;
    case WINTUN_ERROR_HANDLE_EOF: return WINTUN_RING_EOF;
    default: return WINTUN_RING_BROKEN;
    }
}

guint
wintun_ring_receive (const WintunSessionOps *ops, void *session, guint8 *buf, gsize slot_size,
                     gsize *lens, guint max, guint64 *oversized, WintunRingStatus *status,
                     guint32 *err)
{
  guint n = 0;

  *status = WINTUN_RING_OK;
  *err = WINTUN_OK;
  while (n < max)
    {
      guint32 size = 0, e = WINTUN_OK;
      const guint8 *pkt = ops->receive_packet (session, &size, &e);
      if (pkt == NULL)
        {
          /* A NULL packet with no error code would loop forever; treat it
           * as a broken ring rather than trusting it. */
          *err = e != WINTUN_OK ? e : WINTUN_ERROR_INVALID_DATA;
          *status = status_of (*err);
          break;
        }
      if (size > slot_size || size == 0)
        (*oversized)++;
      else
        {
          memcpy (buf + (gsize) n * slot_size, pkt, size);
          lens[n++] = size;
        }
      ops->release_receive_packet (session, pkt);
    }
  return n;
}

guint
wintun_ring_send (const WintunSessionOps *ops, void *session, guint8 *const *pkts,
                  const gsize *lens, guint n, WintunRingStatus *status, guint32 *err)
{
  *status = WINTUN_RING_OK;
  *err = WINTUN_OK;
  for (guint i = 0; i < n; i++)
    {
      guint32 e = WINTUN_OK;
      guint8 *room = ops->allocate_send_packet (session, (guint32) lens[i], &e);
      if (room == NULL)
        {
          *err = e != WINTUN_OK ? e : WINTUN_ERROR_INVALID_DATA;
          *status = status_of (*err);
          if (*status == WINTUN_RING_EMPTY)
            *status = WINTUN_RING_BROKEN;
          return i;
        }
      memcpy (room, pkts[i], lens[i]);
      ops->send_packet (session, room);
    }
  return n;
}
