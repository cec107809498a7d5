/* flow — 5-tuple hash for queue selection. See flow.h. */
#include "flow.h"

/* FNV-1a: cheap and good enough to spread flows over a few queues. */
static guint32
fnv (guint32 h, const guint8 *p, gsize n)
{
  for (gsize i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

guint32
tun_flow_hash (const guint8 *pkt, gsize len)
{
  guint32 h = 2166136261u;
  gsize l4 = 0;
  guint8 proto;
  gboolean ports = FALSE;

  if (len < 1)
    return 0;
  switch (pkt[0] >> 4)
    {
    case 4:
      if (len < 20)
        return 0;
      proto = pkt[9];
      l4 = (gsize) (pkt[0] & 0x0f) * 4;
      /* RFC 791: any fragment (MF set or offset non-zero) hashes on
       * addresses only, so all fragments of a datagram stay together. */
      ports = (pkt[6] & 0x3f) == 0 && pkt[7] == 0;
      h = fnv (h, &proto, 1);
      h = fnv (h, pkt + 12, 8);
      break;
    case 6:
      if (len < 40)
        return 0;
      proto = pkt[6];
      l4 = 40;
      ports = TRUE;
      h = fnv (h, &proto, 1);
      h = fnv (h, pkt + 8, 32);
      break;
    default:
      return 0;
    }
  if (ports && (proto == 6 || proto == 17) && l4 + 4 <= len)
    h = fnv (h, pkt + l4, 4);
  return h;
}
