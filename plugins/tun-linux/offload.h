/* offload — TUN segmentation offloads: split super-packets, coalesce
 * same-flow packets (IFF_VNET_HDR + TUNSETOFFLOAD).
 *
 * With offloads on, every read and write on the TUN fd starts with a
 * struct virtio_net_hdr. The kernel hands us TCP (TSO) and UDP (USO)
 * super-packets of up to 64 KiB with a partial checksum; split turns one
 * into MTU-sized packets with IP lengths, IDs, TCP sequence numbers and
 * flags fixed and checksums complete. On the way out, coalesce groups the
 * packets of a send batch by flow and describes each group as one GSO
 * write (the first packet's headers, rewritten, then the others'
 * payloads), so the kernel sees one super-packet per flow.
 *
 * Pure functions on caller buffers, bounds-checked: a malformed
 * super-packet is an error result, never a crash. Any thread.
 */
#pragma once

#include <glib.h>
#include <linux/virtio_net.h>

G_BEGIN_DECLS

#define TUN_VNET_HDR_LEN ((gsize) sizeof (struct virtio_net_hdr))
/* Linux 6.2 added UDP segmentation offload to TUN; older headers lack it. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

/* ---- Split (read path) ------------------------------------------------ */

typedef struct {
  guint8 *pkt;
  gsize len;
  guint family;       /* 4 or 6 */
  guint8 proto;       /* 6 TCP, 17 UDP; 0 for a plain packet */
  gsize l4off;
  gsize hdrlen;       /* IP + L4 headers copied into each segment */
  guint16 mss;
  gsize next;         /* offset of the next payload chunk */
  guint index;
  guint16 ip_id;
  guint32 seq;
  gboolean single;    /* one packet, already complete in place */
} TunSplit;

/* Checks the header and the packet. For a non-GSO packet, completes a
 * partial checksum in place and sets `single`. Returns FALSE for a
 * malformed packet (the caller counts and logs it). */
gboolean tun_split_init (TunSplit *split, const struct virtio_net_hdr *hdr, guint8 *pkt,
                         gsize len);
/* Writes the next segment into `out` (capacity `cap`) and returns its
 * length; 0 when done; -1 when a segment would not fit `cap`. */
gssize tun_split_next (TunSplit *split, guint8 *out, gsize cap);

/* ---- Coalesce (write path) -------------------------------------------- */

/* Most packets tun_coalesce() looks at in one call. */
#define TUN_COALESCE_MAX 128

typedef struct {
  struct virtio_net_hdr hdr;  /* zero for a packet written alone */
  guint first;                /* index of the packet whose headers lead */
  guint count;                /* packets in the group */
  gsize hdrlen;               /* bytes to skip in every packet but the first */
} TunGsoGroup;

/* Groups `n` packets (pkts[i], lens[i], modifiable: the leading packet's
 * headers are rewritten). Members of group g are listed in order through
 * next[]: groups[g].first, next[first], ... (-1 ends). Groups come out in
 * the order of their first packet, so each flow keeps its order. `tcp`
 * and `udp` say which GSO kinds the device accepts. Returns the number
 * of groups (<= n); n is capped at TUN_COALESCE_MAX. */
guint tun_coalesce (guint8 **pkts, gsize *lens, guint n, gboolean tcp, gboolean udp,
                    TunGsoGroup *groups, gint *next);

G_END_DECLS
