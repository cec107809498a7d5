/* flow — which multi-queue a packet belongs to (seed 004).
 *
 * Packets of one TCP flow written through different queues get reordered
 * and TCP slows down, so every packet of a flow goes through one queue:
 * a hash over protocol, addresses and (for unfragmented TCP/UDP) ports.
 * Parses just enough of the IP header, with bounds checks; a packet too
 * short to parse hashes to queue 0. Pure; any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

guint32 tun_flow_hash (const guint8 *pkt, gsize len);

static inline guint
tun_flow_queue (const guint8 *pkt, gsize len, guint n_queues)
{
  return n_queues <= 1 ? 0 : tun_flow_hash (pkt, len) % n_queues;
}

G_END_DECLS
