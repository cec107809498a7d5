/* xdp.bpf.c — ember-relay's XDP fast path for bound channels (RFC 8656
 * §12), compiled with clang -target bpf; xdp.c loads it through the
 * skeleton bpftool generates from it.
 *
 * Client -> peer: ChannelData arriving at a listening port from a
 * (client, channel) the maps know becomes the UDP datagram from the
 * allocation's port to the peer. Peer -> client: a UDP datagram from a
 * peer to an allocation port with a channel bound becomes ChannelData to
 * the client. Addresses, ports and lengths are rewritten, the IPv4
 * header checksum recomputed, the UDP checksum adjusted incrementally
 * (RFC 1624), and the frame leaves with XDP_TX or XDP_REDIRECT as the
 * kernel's FIB says. Everything it is not sure of goes up (XDP_PASS) to
 * the relay's sockets, unchanged: STUN, Send/Data indications, padded or
 * short ChannelData, fragments, IP options, extension headers, unknown
 * bindings, bindings past their deadline, a missing neighbour entry, a
 * frame too big for the way out. The maps are filled by user space from
 * the server core's channel events; the core stays the one place that
 * decides what is bound.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp-maps.h"

#define AF_INET 2
#define AF_INET6 10
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define CHANNEL_HEADER 4

/* Entries are allocated as channels are bound (user space inserts them;
 * the program only looks up), not 2 x 65536 up front at every start. */
struct {
  __uint (type, BPF_MAP_TYPE_HASH);
  __uint (map_flags, BPF_F_NO_PREALLOC);
  __uint (max_entries, EMBER_XDP_MAX_BINDINGS);
  __type (key, struct ember_xdp_key);
  __type (value, struct ember_xdp_fwd);
} to_peer SEC (".maps");

struct {
  __uint (type, BPF_MAP_TYPE_HASH);
  __uint (map_flags, BPF_F_NO_PREALLOC);
  __uint (max_entries, EMBER_XDP_MAX_BINDINGS);
  __type (key, struct ember_xdp_key);
  __type (value, struct ember_xdp_fwd);
} to_client SEC (".maps");

/* Interfaces carrying this program, by ifindex: the only ones a frame is
 * redirected to (a veth or driver without XDP would drop it). */
struct {
  __uint (type, BPF_MAP_TYPE_DEVMAP_HASH);
  __uint (max_entries, EMBER_XDP_MAX_PORTS);
  __type (key, __u32);
  __type (value, __u32);
} ports SEC (".maps");

struct {
  __uint (type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint (max_entries, EMBER_XDP_STAT_COUNT);
  __type (key, __u32);
  __type (value, __u64);
} stats SEC (".maps");

/* Set by the loader before the program is verified. */
const volatile __be16 listen_ports[EMBER_XDP_MAX_LISTEN];
const volatile __u16 port_min;
const volatile __u16 port_max;

/* Copies of the headers on the stack: 2-byte aligned like the fields in
 * the frame, so their size is exactly the headers' (42 and 62 bytes). */
struct hdr4 {
  struct ethhdr eth;
  struct iphdr ip;
  struct udphdr udp;
} __attribute__ ((packed, aligned (2)));

struct hdr6 {
  struct ethhdr eth;
  struct ipv6hdr ip;
  struct udphdr udp;
} __attribute__ ((packed, aligned (2)));

_Static_assert (sizeof (struct hdr4) == 42, "Ethernet + IPv4 + UDP");
_Static_assert (sizeof (struct hdr6) == 62, "Ethernet + IPv6 + UDP");

enum dir { NOT_OURS, FROM_CLIENT, FROM_PEER };

static __always_inline void
count (__u32 what, __u64 n)
{
  __u64 *v = bpf_map_lookup_elem (&stats, &what);
  if (v)
    *v += n;
}

static __always_inline int
pass (__u32 why)
{
  count (why, 1);
  return XDP_PASS;
}

static __always_inline enum dir
direction (__be16 dport)
{
#pragma unroll
  for (int i = 0; i < EMBER_XDP_MAX_LISTEN; i++)
    if (listen_ports[i] != 0 && listen_ports[i] == dport)
      return FROM_CLIENT;
  __u16 p = bpf_ntohs (dport);
  if (p >= port_min && p <= port_max && port_min != 0)
    return FROM_PEER;
  return NOT_OURS;
}

/* ---- checksums (one's complement over raw 16-bit words) ---------------- */

static __always_inline __u32
fold (__u32 sum)
{
  sum = (sum & 0xffff) + (sum >> 16);
  return (sum & 0xffff) + (sum >> 16);
}

/* `n` 16-bit words (n even for addresses) added, or subtracted when `sub`. */
static __always_inline __u32
sum_words (__u32 sum, const void *p, int n, int sub)
{
  const __u16 *w = p;
#pragma unroll
  for (int i = 0; i < 8; i++)
    if (i < n)
      sum += sub ? (__u16) ~w[i] : w[i];
  return sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), zero sent as 0xffff (RFC 768). */
static __always_inline __u16
csum_finish (__u32 sum)
{
  __u16 c = (__u16) ~fold (sum);
  return c == 0 ? 0xffff : c;
}

/* Over all 20 bytes: the checksum to write when the checksum field is
 * zero, and 0 for a header whose checksum is right. */
static __always_inline __u16
ipv4_header_csum (const void *ip)
{
  __u32 sum = sum_words (0, ip, 8, 0);
  sum = sum_words (sum, (const __u16 *) ip + 8, 2, 0);
  return (__u16) ~fold (sum);
}

/* ---- routing ------------------------------------------------------------ */

/* Every namespace's loopback device. */
#define LOOPBACK_IFINDEX 1

/* The way out for the rewritten datagram: the egress ifindex in
 * *ifindex, or the reason to pass it up unchanged (< 0). The lookup is
 * made as if from lo, which makes it the route lookup of a datagram the
 * relay sends itself (what its sockets would get), not of one it
 * forwards; the kernel answers only when forwarding is on for that
 * interface, which xdp.c sees to for lo (it forwards nothing from
 * outside there). */
static __always_inline int
route (struct xdp_md *ctx, struct bpf_fib_lookup *fib, __u32 *ifindex, __u32 *why)
{
  fib->ifindex = LOOPBACK_IFINDEX;
  long rc = bpf_fib_lookup (ctx, fib, sizeof *fib, 0);
  if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
    {
      *why = EMBER_XDP_STAT_PASS_NO_NEIGH;
      return -1;
    }
  if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
    {
      *why = EMBER_XDP_STAT_PASS_TOO_BIG;
      return -1;
    }
  if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED)
    {
      *why = EMBER_XDP_STAT_PASS_NO_FORWARDING;
      return -1;
    }
  if (rc != BPF_FIB_LKUP_RET_SUCCESS)
    {
      *why = EMBER_XDP_STAT_PASS_NO_ROUTE;
      return -1;
    }
  *ifindex = fib->ifindex;
  if (fib->ifindex != ctx->ingress_ifindex && !bpf_map_lookup_elem (&ports, ifindex))
    {
      *why = EMBER_XDP_STAT_PASS_NO_ROUTE;
      return -1;
    }
  return 0;
}

static __always_inline int
send (struct xdp_md *ctx, __u32 ifindex)
{
  if (ifindex == ctx->ingress_ifindex)
    return XDP_TX;
  return bpf_redirect_map (&ports, ifindex, 0);
}

/* Makes the frame `want` bytes long before anything is written: cuts
 * what follows the IP packet (Ethernet padding of short frames) or grows
 * it by the ChannelData padding. */
static __always_inline int
fit (struct xdp_md *ctx, __u32 want)
{
  int have = (int) (ctx->data_end - ctx->data);
  if (have == (int) want)
    return 0;
  return bpf_xdp_adjust_tail (ctx, (int) want - have);
}

/* Zeroes the ChannelData padding (RFC 8656 §12.5) at data + off. */
static __always_inline void
zero_pad (struct xdp_md *ctx, __u32 off, __u32 pad)
{
  void *data = (void *) (long) ctx->data;
  void *end = (void *) (long) ctx->data_end;
  /* A frame without multi-buffer fits in a page; the mask gives the
   * verifier the bound it needs to accept the checks below. */
  off &= 0x3fff;
#pragma unroll
  for (__u32 i = 0; i < 3; i++)
    {
      __u8 *b = data + off + i;
      if (i < pad && (void *) (b + 1) <= end)
        *b = 0;
    }
}

/* The datagram's destination is the binding's local address (16-bit
 * words: fields of the header copy are only that aligned). */
static __always_inline int
addr_eq (const void *a, const void *b, int words)
{
  const __u16 *x = a, *y = b;
  __u16 diff = 0;
#pragma unroll
  for (int i = 0; i < 8; i++)
    if (i < words)
      diff |= x[i] ^ y[i];
  return diff == 0;
}

static __always_inline struct ember_xdp_fwd *
lookup (void *map, __u8 family, __be16 channel, __be16 rport, __be16 lport, const void *remote,
        int alen)
{
  struct ember_xdp_key k = {};
  k.family = family;
  k.channel = channel;
  k.remote_port = rport;
  k.local_port = lport;
  __builtin_memcpy (k.remote, remote, 4);
  if (alen == 16)
    __builtin_memcpy (k.remote, remote, 16);
  return bpf_map_lookup_elem (map, &k);
}

/* ---- IPv4 --------------------------------------------------------------- */

static __always_inline int
handle4 (struct xdp_md *ctx)
{
  void *data = (void *) (long) ctx->data;
  void *end = (void *) (long) ctx->data_end;
  struct iphdr *ip = data + sizeof (struct ethhdr);
  if ((void *) (ip + 1) > end || ip->version != 4 || ip->protocol != IPPROTO_UDP)
    return XDP_PASS;
  __u32 ihl = ip->ihl * 4u;
  if (ihl < sizeof *ip || ihl > 60)
    return XDP_PASS;
  struct udphdr *udp = (void *) ip + ihl;
  if ((void *) (udp + 1) > end)
    return XDP_PASS;
  enum dir d = direction (udp->dest);
  if (d == NOT_OURS)
    return XDP_PASS;
  if (ihl != sizeof *ip || (ip->frag_off & bpf_htons (IP_MF | IP_OFFSET)) != 0)
    return pass (EMBER_XDP_STAT_PASS_IP);

  struct hdr4 h;
  if (data + sizeof h > end)
    return XDP_PASS;
  __builtin_memcpy (&h, data, sizeof h);
  __u32 ip_len = bpf_ntohs (h.ip.tot_len);
  __u32 udp_len = bpf_ntohs (h.udp.len);
  /* The lengths agree with each other and with the frame. */
  if (udp_len < sizeof h.udp || ip_len != sizeof h.ip + udp_len ||
      data + sizeof h.eth + ip_len > end)
    return pass (EMBER_XDP_STAT_PASS_MALFORMED);
  /* A header the stack would drop (bad checksum) is not made good here:
   * the header is written anew below, so check it first. */
  if (ipv4_header_csum ((const __u8 *) &h + sizeof h.eth) != 0)
    return pass (EMBER_XDP_STAT_PASS_MALFORMED);
  __u32 plen = udp_len - sizeof h.udp;

  /* dlen: the relayed data; out_plen: the UDP payload that leaves. */
  struct ember_xdp_fwd *f;
  __be16 chan_in[2] = { 0, 0 };
  __u32 dlen, out_plen, pad = 0;
  if (d == FROM_CLIENT)
    {
      __u8 *p = data + sizeof h;
      if ((void *) (p + CHANNEL_HEADER) > end || plen < CHANNEL_HEADER)
        return pass (EMBER_XDP_STAT_PASS_MALFORMED);
      /* RFC 8656 §12.4: 0b00 STUN, 0b01 ChannelData; the rest is not ours. */
      if (p[0] < 0x40 || p[0] > 0x7f)
        return pass (EMBER_XDP_STAT_PASS_STUN);
      __builtin_memcpy (chan_in, p, CHANNEL_HEADER);
      dlen = bpf_ntohs (chan_in[1]);
      if (dlen > plen - CHANNEL_HEADER)
        return pass (EMBER_XDP_STAT_PASS_MALFORMED);
      if (dlen < plen - CHANNEL_HEADER)
        return pass (EMBER_XDP_STAT_PASS_PADDED);
      out_plen = dlen;
      f = lookup (&to_peer, 4, chan_in[0], h.udp.source, h.udp.dest, &h.ip.saddr, 4);
    }
  else
    {
      /* Padded to a multiple of 4 like the relay's own ChannelData. */
      dlen = plen;
      pad = (4 - (dlen & 3)) & 3;
      out_plen = CHANNEL_HEADER + dlen + pad;
      if (out_plen > 0xffff - sizeof h.ip - sizeof h.udp)
        return pass (EMBER_XDP_STAT_PASS_TOO_BIG);
      f = lookup (&to_client, 4, 0, h.udp.source, h.udp.dest, &h.ip.saddr, 4);
    }
  if (!f || !addr_eq (f->local, &h.ip.daddr, 2))
    return pass (EMBER_XDP_STAT_PASS_UNBOUND);
  if (bpf_ktime_get_ns () >= f->deadline_ns)
    return pass (EMBER_XDP_STAT_PASS_EXPIRED);

  __u16 new_udp_len = (__u16) (out_plen + sizeof h.udp);
  __u16 new_ip_len = (__u16) (new_udp_len + sizeof h.ip);
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET;
  fib.tos = h.ip.tos;
  fib.l4_protocol = IPPROTO_UDP;
  fib.sport = f->sport;
  fib.dport = f->dport;
  fib.tot_len = new_ip_len;
  __builtin_memcpy (&fib.ipv4_src, f->src, 4);
  __builtin_memcpy (&fib.ipv4_dst, f->dst, 4);
  __u32 ifindex = 0, why = 0;
  if (route (ctx, &fib, &ifindex, &why) < 0)
    return pass (why);
  /* The frame's final size, before the head moves by the header. */
  __u32 want = sizeof h + (d == FROM_CLIENT ? CHANNEL_HEADER + dlen : dlen + pad);
  if (fit (ctx, want) != 0)
    return pass (EMBER_XDP_STAT_PASS_TOO_BIG);

  /* UDP checksum, incrementally: out go the old addresses, ports and
   * length (twice: pseudo-header and header) and, from a client, the
   * ChannelData header; in come the new ones and, to a client, the
   * ChannelData header (the zero padding adds nothing). A zero IPv4 UDP
   * checksum (none, RFC 768) stays zero. */
  __be16 new_len = bpf_htons (new_udp_len);
  __be16 chan_out[2] = { f->channel, bpf_htons ((__u16) dlen) };
  __u16 csum = h.udp.check;
  if (csum != 0)
    {
      __u32 sum = (__u16) ~csum;
      sum = sum_words (sum, &h.ip.saddr, 4, 1);
      sum = sum_words (sum, &h.udp, 3, 1);
      sum += (__u16) ~h.udp.len;
      if (d == FROM_CLIENT)
        sum = sum_words (sum, chan_in, 2, 1);
      else
        sum = sum_words (sum, chan_out, 2, 0);
      sum = sum_words (sum, f->src, 2, 0);
      sum = sum_words (sum, f->dst, 2, 0);
      sum += f->sport;
      sum += f->dport;
      sum += new_len;
      sum += new_len;
      csum = csum_finish (sum);
    }

  h.ip.tot_len = bpf_htons (new_ip_len);
  h.ip.id = 0;
  h.ip.frag_off = bpf_htons (IP_DF);
  h.ip.ttl = EMBER_XDP_TTL;
  __builtin_memcpy (&h.ip.saddr, f->src, 4);
  __builtin_memcpy (&h.ip.daddr, f->dst, 4);
  h.ip.check = 0;
  h.ip.check = ipv4_header_csum ((const __u8 *) &h + sizeof h.eth);
  h.udp.source = f->sport;
  h.udp.dest = f->dport;
  h.udp.len = new_len;
  h.udp.check = csum;
  __builtin_memcpy (h.eth.h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy (h.eth.h_source, fib.smac, ETH_ALEN);

  __sync_fetch_and_add (&f->packets, 1);
  __sync_fetch_and_add (&f->bytes, dlen);
  count (d == FROM_CLIENT ? EMBER_XDP_STAT_TO_PEER_PACKETS : EMBER_XDP_STAT_TO_CLIENT_PACKETS, 1);
  count (d == FROM_CLIENT ? EMBER_XDP_STAT_TO_PEER_BYTES : EMBER_XDP_STAT_TO_CLIENT_BYTES, dlen);
  if (bpf_xdp_adjust_head (ctx, d == FROM_CLIENT ? CHANNEL_HEADER : -CHANNEL_HEADER) != 0)
    return XDP_ABORTED;
  data = (void *) (long) ctx->data;
  end = (void *) (long) ctx->data_end;
  if (data + sizeof h > end)
    return XDP_ABORTED;
  __builtin_memcpy (data, &h, sizeof h);
  if (d == FROM_PEER)
    {
      if (data + sizeof h + CHANNEL_HEADER > end)
        return XDP_ABORTED;
      __builtin_memcpy (data + sizeof h, chan_out, CHANNEL_HEADER);
      zero_pad (ctx, sizeof h + CHANNEL_HEADER + dlen, pad);
    }
  return send (ctx, ifindex);
}

/* ---- IPv6 --------------------------------------------------------------- */

static __always_inline int
handle6 (struct xdp_md *ctx)
{
  void *data = (void *) (long) ctx->data;
  void *end = (void *) (long) ctx->data_end;
  struct ipv6hdr *ip = data + sizeof (struct ethhdr);
  if ((void *) (ip + 1) > end)
    return XDP_PASS;
  /* Extension headers (fragments among them) are left to the kernel;
   * they are not even looked through for the ports. */
  if (ip->version != 6 || ip->nexthdr != IPPROTO_UDP)
    return XDP_PASS;
  struct hdr6 h;
  if (data + sizeof h > end)
    return XDP_PASS;
  __builtin_memcpy (&h, data, sizeof h);
  enum dir d = direction (h.udp.dest);
  if (d == NOT_OURS)
    return XDP_PASS;
  __u32 udp_len = bpf_ntohs (h.udp.len);
  if (udp_len < sizeof h.udp || udp_len != bpf_ntohs (h.ip.payload_len) ||
      data + sizeof h.eth + sizeof h.ip + udp_len > end)
    return pass (EMBER_XDP_STAT_PASS_MALFORMED);
  /* RFC 8200 §8.1: a zero UDP checksum is invalid in IPv6. */
  if (h.udp.check == 0)
    return pass (EMBER_XDP_STAT_PASS_MALFORMED);
  __u32 plen = udp_len - sizeof h.udp;

  struct ember_xdp_fwd *f;
  __be16 chan_in[2] = { 0, 0 };
  __u32 dlen, out_plen, pad = 0;
  if (d == FROM_CLIENT)
    {
      __u8 *p = data + sizeof h;
      if ((void *) (p + CHANNEL_HEADER) > end || plen < CHANNEL_HEADER)
        return pass (EMBER_XDP_STAT_PASS_MALFORMED);
      if (p[0] < 0x40 || p[0] > 0x7f)
        return pass (EMBER_XDP_STAT_PASS_STUN);
      __builtin_memcpy (chan_in, p, CHANNEL_HEADER);
      dlen = bpf_ntohs (chan_in[1]);
      if (dlen > plen - CHANNEL_HEADER)
        return pass (EMBER_XDP_STAT_PASS_MALFORMED);
      if (dlen < plen - CHANNEL_HEADER)
        return pass (EMBER_XDP_STAT_PASS_PADDED);
      out_plen = dlen;
      f = lookup (&to_peer, 6, chan_in[0], h.udp.source, h.udp.dest, &h.ip.saddr, 16);
    }
  else
    {
      dlen = plen;
      pad = (4 - (dlen & 3)) & 3;
      out_plen = CHANNEL_HEADER + dlen + pad;
      if (out_plen > 0xffff - sizeof h.udp)
        return pass (EMBER_XDP_STAT_PASS_TOO_BIG);
      f = lookup (&to_client, 6, 0, h.udp.source, h.udp.dest, &h.ip.saddr, 16);
    }
  if (!f || !addr_eq (f->local, &h.ip.daddr, 8))
    return pass (EMBER_XDP_STAT_PASS_UNBOUND);
  if (bpf_ktime_get_ns () >= f->deadline_ns)
    return pass (EMBER_XDP_STAT_PASS_EXPIRED);

  __u16 new_udp_len = (__u16) (out_plen + sizeof h.udp);
  struct bpf_fib_lookup fib = {};
  fib.family = AF_INET6;
  fib.l4_protocol = IPPROTO_UDP;
  fib.sport = f->sport;
  fib.dport = f->dport;
  fib.tot_len = (__u16) (new_udp_len + sizeof h.ip);
  __builtin_memcpy (fib.ipv6_src, f->src, 16);
  __builtin_memcpy (fib.ipv6_dst, f->dst, 16);
  __u32 ifindex = 0, why = 0;
  if (route (ctx, &fib, &ifindex, &why) < 0)
    return pass (why);
  __u32 want = sizeof h + (d == FROM_CLIENT ? CHANNEL_HEADER + dlen : dlen + pad);
  if (fit (ctx, want) != 0)
    return pass (EMBER_XDP_STAT_PASS_TOO_BIG);

  __be16 new_len = bpf_htons (new_udp_len);
  __be16 chan_out[2] = { f->channel, bpf_htons ((__u16) dlen) };
  __u32 sum = (__u16) ~h.udp.check;
  sum = sum_words (sum, &h.ip.saddr, 8, 1);
  sum = sum_words (sum, &h.ip.daddr, 8, 1);
  sum = sum_words (sum, &h.udp, 3, 1);
  sum += (__u16) ~h.udp.len;
  if (d == FROM_CLIENT)
    sum = sum_words (sum, chan_in, 2, 1);
  else
    sum = sum_words (sum, chan_out, 2, 0);
  sum = sum_words (sum, f->src, 8, 0);
  sum = sum_words (sum, f->dst, 8, 0);
  sum += f->sport;
  sum += f->dport;
  sum += new_len;
  sum += new_len;

  /* Version and traffic class kept, flow label cleared. */
  h.ip.flow_lbl[0] &= 0xf0;
  h.ip.flow_lbl[1] = 0;
  h.ip.flow_lbl[2] = 0;
  h.ip.payload_len = new_len;
  h.ip.hop_limit = EMBER_XDP_TTL;
  __builtin_memcpy (&h.ip.saddr, f->src, 16);
  __builtin_memcpy (&h.ip.daddr, f->dst, 16);
  h.udp.source = f->sport;
  h.udp.dest = f->dport;
  h.udp.len = new_len;
  h.udp.check = csum_finish (sum);
  __builtin_memcpy (h.eth.h_dest, fib.dmac, ETH_ALEN);
  __builtin_memcpy (h.eth.h_source, fib.smac, ETH_ALEN);

  __sync_fetch_and_add (&f->packets, 1);
  __sync_fetch_and_add (&f->bytes, dlen);
  count (d == FROM_CLIENT ? EMBER_XDP_STAT_TO_PEER_PACKETS : EMBER_XDP_STAT_TO_CLIENT_PACKETS, 1);
  count (d == FROM_CLIENT ? EMBER_XDP_STAT_TO_PEER_BYTES : EMBER_XDP_STAT_TO_CLIENT_BYTES, dlen);
  if (bpf_xdp_adjust_head (ctx, d == FROM_CLIENT ? CHANNEL_HEADER : -CHANNEL_HEADER) != 0)
    return XDP_ABORTED;
  data = (void *) (long) ctx->data;
  end = (void *) (long) ctx->data_end;
  if (data + sizeof h > end)
    return XDP_ABORTED;
  __builtin_memcpy (data, &h, sizeof h);
  if (d == FROM_PEER)
    {
      if (data + sizeof h + CHANNEL_HEADER > end)
        return XDP_ABORTED;
      __builtin_memcpy (data + sizeof h, chan_out, CHANNEL_HEADER);
      zero_pad (ctx, sizeof h + CHANNEL_HEADER + dlen, pad);
    }
  return send (ctx, ifindex);
}

SEC ("xdp")
int
ember_relay_xdp (struct xdp_md *ctx)
{
  void *data = (void *) (long) ctx->data;
  void *end = (void *) (long) ctx->data_end;
  struct ethhdr *eth = data;
  if ((void *) (eth + 1) > end)
    return XDP_PASS;
  if (eth->h_proto == bpf_htons (ETH_P_IP))
    return handle4 (ctx);
  if (eth->h_proto == bpf_htons (ETH_P_IPV6))
    return handle6 (ctx);
  return XDP_PASS;
}

/* bpf_fib_lookup is a GPL-only helper; this file may be used under the
 * GPL as well as the project's MIT licence. */
char LICENSE[] SEC ("license") = "Dual MIT/GPL";
