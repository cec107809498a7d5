/* offload — split TSO/USO super-packets, coalesce send batches. See
 * offload.h. */
#include "offload.h"
#include "csum.h"

#include <string.h>

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
#define PROTO_TCP 6
#define PROTO_UDP 17
/* Cap segments per GSO write at the kernel's UDP_MAX_SEGMENTS of old. */
#define MAX_GROUP_SEGMENTS 64
#define MAX_GSO_BYTES 65535

static const guint8 *
src_addr (const guint8 *p, guint family)
{
  return p + (family == 4 ? 12 : 8);
}

static const guint8 *
dst_addr (const guint8 *p, guint family)
{
  return p + (family == 4 ? 16 : 24);
}

static void
ipv4_fix_checksum (guint8 *p, gsize ihl)
{
  p[10] = p[11] = 0;
  tun_write16 (p + 10, (guint16) ~tun_csum_fold (tun_csum_add (0, p, ihl)));
}

/* ---- Split ------------------------------------------------------------ */

/* One packet: complete a partial checksum in place. The checksum field
 * holds the pseudo-header sum; summing from csum_start to the end and
 * complementing completes it. */
static gboolean
complete_single (TunSplit *s, const struct virtio_net_hdr *hdr, gboolean partial)
{
  if (partial)
    {
      gsize cs = hdr->csum_start, co = hdr->csum_offset;
      if (cs >= s->len || co + 2 > s->len - cs)
        return FALSE;
      guint16 c = (guint16) ~tun_csum_fold (tun_csum_add (0, s->pkt + cs, s->len - cs));
      /* RFC 768: a computed 0 is sent as all ones (TCP accepts either). */
      tun_write16 (s->pkt + cs + co, c == 0 ? 0xffff : c);
    }
  s->single = TRUE;
  return TRUE;
}

gboolean
tun_split_init (TunSplit *s, const struct virtio_net_hdr *hdr, guint8 *pkt, gsize len)
{
  memset (s, 0, sizeof *s);
  s->pkt = pkt;
  s->len = len;
  if (len < 20)
    return FALSE;

  gsize ihl = 40;
  switch (pkt[0] >> 4)
    {
    case 4:
      s->family = 4;
      ihl = (gsize) (pkt[0] & 0x0f) * 4;
      if (ihl < 20 || ihl > len)
        return FALSE;
      break;
    case 6:
      s->family = 6;
      if (len < 40)
        return FALSE;
      break;
    default:
      return FALSE;
    }

  guint gso = hdr->gso_type & (guint8) ~VIRTIO_NET_HDR_GSO_ECN;
  gboolean partial = (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;

  if (gso == VIRTIO_NET_HDR_GSO_NONE)
    return complete_single (s, hdr, partial);

  s->l4off = partial ? hdr->csum_start : ihl;
  if (s->l4off < ihl || s->l4off >= len || (s->family == 4 && s->l4off != ihl))
    return FALSE;
  guint8 proto = s->family == 4 ? pkt[9] : pkt[6];
  if (s->family == 6 && s->l4off != 40)
    proto = gso == VIRTIO_NET_HDR_GSO_UDP_L4 ? PROTO_UDP : PROTO_TCP; /* extension headers */

  switch (gso)
    {
    case VIRTIO_NET_HDR_GSO_TCPV4:
    case VIRTIO_NET_HDR_GSO_TCPV6:
      if (proto != PROTO_TCP || s->family != (gso == VIRTIO_NET_HDR_GSO_TCPV4 ? 4u : 6u))
        return FALSE;
      if (s->l4off + 20 > len)
        return FALSE;
      s->hdrlen = s->l4off + (gsize) (pkt[s->l4off + 12] >> 4) * 4;
      if (s->hdrlen < s->l4off + 20 || s->hdrlen > len)
        return FALSE;
      s->seq = tun_read32 (pkt + s->l4off + 4);
      break;
    case VIRTIO_NET_HDR_GSO_UDP_L4:
      if (proto != PROTO_UDP)
        return FALSE;
      s->hdrlen = s->l4off + 8;
      if (s->hdrlen > len)
        return FALSE;
      break;
    default:
      return FALSE;
    }
  s->proto = proto;
  s->mss = hdr->gso_size;
  if (s->mss == 0)
    return FALSE;
  if (s->family == 4)
    s->ip_id = tun_read16 (pkt + 4);
  s->next = s->hdrlen;
  /* Headers only: nothing to cut, just finish the checksum. */
  if (s->hdrlen == len)
    return complete_single (s, hdr, partial);
  return TRUE;
}

gssize
tun_split_next (TunSplit *s, guint8 *out, gsize cap)
{
  if (s->single)
    {
      if (s->index > 0)
        return 0;
      if (s->len > cap)
        return -1;
      memcpy (out, s->pkt, s->len);
      s->index++;
      return (gssize) s->len;
    }
  if (s->next >= s->len)
    return 0;

  gsize chunk = MIN ((gsize) s->mss, s->len - s->next);
  gsize seglen = s->hdrlen + chunk;
  if (seglen > cap || seglen > 65535)
    return -1;
  gboolean last = s->next + chunk >= s->len;

  memcpy (out, s->pkt, s->hdrlen);
  memcpy (out + s->hdrlen, s->pkt + s->next, chunk);

  if (s->family == 4)
    {
      tun_write16 (out + 2, (guint16) seglen);
      tun_write16 (out + 4, (guint16) (s->ip_id + s->index));
      ipv4_fix_checksum (out, s->l4off);
    }
  else
    tun_write16 (out + 4, (guint16) (seglen - 40));

  guint8 *l4 = out + s->l4off;
  guint32 l4len = (guint32) (seglen - s->l4off);
  guint64 sum = tun_csum_pseudo (s->family, src_addr (out, s->family), dst_addr (out, s->family),
                                 s->proto, l4len);
  if (s->proto == PROTO_TCP)
    {
      tun_write32 (l4 + 4, s->seq + (guint32) (s->index * s->mss));
      guint8 flags = l4[13];
      /* FIN and PSH belong to the last segment, CWR to the first, as the
       * kernel's own tcp_gso_segment() does. */
      if (!last)
        flags &= (guint8) ~(TCP_FIN | TCP_PSH);
      if (s->index > 0)
        flags &= (guint8) ~TCP_CWR;
      l4[13] = flags;
      l4[16] = l4[17] = 0;
      tun_write16 (l4 + 16, (guint16) ~tun_csum_fold (tun_csum_add (sum, l4, l4len)));
    }
  else
    {
      tun_write16 (l4 + 4, (guint16) l4len);
      l4[6] = l4[7] = 0;
      guint16 c = (guint16) ~tun_csum_fold (tun_csum_add (sum, l4, l4len));
      tun_write16 (l4 + 6, c == 0 ? 0xffff : c);
    }

  s->next += chunk;
  s->index++;
  return (gssize) seglen;
}

/* ---- Coalesce --------------------------------------------------------- */

typedef struct {
  guint family;
  guint8 proto;
  guint8 tcp_flags;
  gsize l4off;
  gsize hdrlen;
  gsize plen;
  guint32 seq;
  gboolean flow;    /* addresses and ports known */
  gboolean ok;      /* may lead or join a group */
} Info;

typedef struct {
  guint last;
  gsize total;      /* bytes of the super-packet: headers + all payloads */
  gsize mss;
  guint32 next_seq;
  guint16 next_id;
  gboolean closed;
  gboolean psh;
} GroupState;

static void
parse_info (const guint8 *p, gsize len, Info *in)
{
  memset (in, 0, sizeof *in);
  if (len < 20)
    return;
  switch (p[0] >> 4)
    {
    case 4:
      /* No options, not a fragment, lengths consistent. */
      if (p[0] != 0x45 || tun_read16 (p + 2) != len || (tun_read16 (p + 6) & 0x3fff) != 0)
        return;
      in->family = 4;
      in->proto = p[9];
      in->l4off = 20;
      break;
    case 6:
      if (len < 40 || tun_read16 (p + 4) + 40u != len)
        return;
      in->family = 6;
      in->proto = p[6];
      in->l4off = 40;
      break;
    default:
      return;
    }

  const guint8 *l4 = p + in->l4off;
  /* Even a packet that cannot be coalesced belongs to its flow: it must
   * end the flow's open group so nothing overtakes it. */
  in->flow = (in->proto == PROTO_TCP || in->proto == PROTO_UDP) && in->l4off + 4 <= len;
  if (in->proto == PROTO_TCP)
    {
      if (in->l4off + 20 > len)
        return;
      in->hdrlen = in->l4off + (gsize) (l4[12] >> 4) * 4;
      in->tcp_flags = l4[13];
      in->seq = tun_read32 (l4 + 4);
      /* Only plain data segments: SYN, FIN, RST, URG, ECE, CWR go alone. */
      if (in->hdrlen < in->l4off + 20 || in->hdrlen > len ||
          (in->tcp_flags & (guint8) ~TCP_PSH) != TCP_ACK)
        return;
    }
  else if (in->proto == PROTO_UDP)
    {
      in->hdrlen = in->l4off + 8;
      if (in->hdrlen > len || tun_read16 (l4 + 4) != len - in->l4off)
        return;
    }
  else
    return;
  in->plen = len - in->hdrlen;
  in->ok = in->plen > 0;
}

static gboolean
same_flow (const guint8 *a, const Info *ia, const guint8 *b, const Info *ib)
{
  if (ia->family != ib->family || ia->proto != ib->proto || !ia->flow || !ib->flow)
    return FALSE;
  gsize alen = ia->family == 4 ? 4 : 16;
  return memcmp (src_addr (a, ia->family), src_addr (b, ib->family), alen) == 0 &&
         memcmp (dst_addr (a, ia->family), dst_addr (b, ib->family), alen) == 0 &&
         memcmp (a + ia->l4off, b + ib->l4off, 4) == 0;
}

static gboolean
can_join (const GroupState *g, const guint8 *f, const Info *fi, guint count, const guint8 *p,
          const Info *pi)
{
  if (g->closed || count >= MAX_GROUP_SEGMENTS || pi->hdrlen != fi->hdrlen ||
      pi->plen > g->mss || g->total + pi->plen > MAX_GSO_BYTES)
    return FALSE;
  if (fi->family == 4)
    {
      /* Same TOS, DF, TTL; without DF the IDs must run on, since the
       * kernel numbers the segments it cuts from the first one's ID. */
      if (f[1] != p[1] || (f[6] & 0x40) != (p[6] & 0x40) || f[8] != p[8])
        return FALSE;
      if (!(f[6] & 0x40) && tun_read16 (p + 4) != g->next_id)
        return FALSE;
    }
  else if (memcmp (f, p, 4) != 0 || f[7] != p[7])
    return FALSE;

  if (fi->proto == PROTO_TCP)
    {
      const guint8 *a = f + fi->l4off, *b = p + pi->l4off;
      return pi->seq == g->next_seq && memcmp (a + 8, b + 8, 5) == 0 /* ack, offset */ &&
             memcmp (a + 14, b + 14, 2) == 0 /* window */ &&
             memcmp (a + 20, b + 20, fi->hdrlen - fi->l4off - 20) == 0 /* options */;
    }
  return TRUE;
}

static void
finish_group (guint8 *f, const Info *fi, const GroupState *g, TunGsoGroup *out)
{
  memset (&out->hdr, 0, sizeof out->hdr);
  out->hdrlen = fi->hdrlen;
  if (out->count < 2)
    return;

  gsize total = g->total;
  if (fi->family == 4)
    {
      tun_write16 (f + 2, (guint16) total);
      ipv4_fix_checksum (f, 20);
    }
  else
    tun_write16 (f + 4, (guint16) (total - 40));

  guint8 *l4 = f + fi->l4off;
  guint32 l4len = (guint32) (total - fi->l4off);
  /* A partial checksum: the folded pseudo-header sum over the whole
   * super-packet, not complemented; the kernel completes each segment. */
  guint16 pseudo = tun_csum_fold (tun_csum_pseudo (fi->family, src_addr (f, fi->family),
                                                   dst_addr (f, fi->family), fi->proto, l4len));
  if (fi->proto == PROTO_TCP)
    {
      if (g->psh)
        l4[13] |= TCP_PSH;
      tun_write16 (l4 + 16, pseudo);
      out->hdr.gso_type = fi->family == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
      out->hdr.csum_offset = 16;
    }
  else
    {
      tun_write16 (l4 + 4, (guint16) l4len);
      tun_write16 (l4 + 6, pseudo);
      out->hdr.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
      out->hdr.csum_offset = 6;
    }
  out->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  out->hdr.hdr_len = (guint16) fi->hdrlen;
  out->hdr.gso_size = (guint16) g->mss;
  out->hdr.csum_start = (guint16) fi->l4off;
}

guint
tun_coalesce (guint8 **pkts, gsize *lens, guint n, gboolean tcp, gboolean udp,
              TunGsoGroup *groups, gint *next)
{
  Info info[TUN_COALESCE_MAX];
  GroupState state[TUN_COALESCE_MAX];
  guint n_groups = 0;

  n = MIN (n, TUN_COALESCE_MAX);

  for (guint i = 0; i < n; i++)
    {
      next[i] = -1;
      parse_info (pkts[i], lens[i], &info[i]);
      if ((info[i].proto == PROTO_TCP && !tcp) || (info[i].proto == PROTO_UDP && !udp))
        info[i].ok = FALSE;

      /* The newest group of this flow is the only one it may join, so
       * the flow's order is kept. */
      gint found = -1;
      if (info[i].flow)
        for (gint g = (gint) n_groups - 1; g >= 0; g--)
          {
            guint f = groups[g].first;
            if (same_flow (pkts[f], &info[f], pkts[i], &info[i]))
              {
                found = g;
                break;
              }
          }
      if (found >= 0 && info[i].ok)
        {
          TunGsoGroup *grp = &groups[found];
          GroupState *st = &state[found];
          guint f = grp->first;
          if (can_join (st, pkts[f], &info[f], grp->count, pkts[i], &info[i]))
            {
              next[st->last] = (gint) i;
              st->last = i;
              grp->count++;
              st->total += info[i].plen;
              st->next_seq += (guint32) info[i].plen;
              st->next_id++;
              if (info[i].plen < st->mss)
                st->closed = TRUE;
              if (info[i].tcp_flags & TCP_PSH)
                st->closed = st->psh = TRUE;
              continue;
            }
        }

      TunGsoGroup *grp = &groups[n_groups];
      GroupState *st = &state[n_groups];
      n_groups++;
      grp->first = i;
      grp->count = 1;
      st->last = i;
      st->total = lens[i];
      st->mss = info[i].plen;
      st->next_seq = info[i].seq + (guint32) info[i].plen;
      st->next_id = info[i].family == 4 ? (guint16) (tun_read16 (pkts[i] + 4) + 1) : 0;
      st->closed = !info[i].ok || (info[i].tcp_flags & TCP_PSH) != 0;
      st->psh = FALSE;
    }

  for (guint g = 0; g < n_groups; g++)
    finish_group (pkts[groups[g].first], &info[groups[g].first], &state[g], &groups[g]);
  return n_groups;
}
