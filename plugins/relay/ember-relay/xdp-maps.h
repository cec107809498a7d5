/* ember-relay/xdp-maps — the layout shared by the XDP fast path
 * (xdp.bpf.c, compiled for the BPF target) and the program that fills
 * its maps (xdp.c). Only fixed-width kernel types, so both compilers see
 * the same bytes; addresses and ports in network byte order, IPv4
 * addresses in the first 4 bytes of a zeroed 16-byte field. */
#pragma once

#include <linux/types.h>

/* Entries per direction; a binding needs one in each. */
#define EMBER_XDP_MAX_BINDINGS 65536
/* Interfaces the program may send a frame out of (XDP_REDIRECT). */
#define EMBER_XDP_MAX_PORTS 64
/* Listening ports the program recognises ChannelData on. */
#define EMBER_XDP_MAX_LISTEN 8
/* The relay originates the datagram (it is an endpoint, not a router):
 * a fresh TTL / hop limit, as its sockets would use, DF with ID 0 in
 * IPv4 (RFC 6864 §4.1). */
#define EMBER_XDP_TTL 64

/* Key of both maps. to_peer: ChannelData from a client (remote = the
 * client, local_port = the listener's port, channel = the number).
 * to_client: a datagram from a peer (remote = the peer, local_port =
 * the allocation's port, channel = 0). */
struct ember_xdp_key {
  __u8 family;          /* 4 or 6 */
  __u8 pad;
  __be16 channel;
  __be16 remote_port;
  __be16 local_port;
  __u8 remote[16];
};

/* What a matching datagram becomes. */
struct ember_xdp_fwd {
  __u8 local[16];       /* the datagram must be addressed to this local address */
  __u8 src[16];         /* rewritten source: the relay's address on the other side */
  __u8 dst[16];         /* rewritten destination: the peer or the client */
  __be16 sport;         /* the allocation's port or the listener's */
  __be16 dport;
  __be16 channel;       /* to_client: the number of the ChannelData header */
  __u16 pad;
  __u64 deadline_ns;    /* CLOCK_MONOTONIC; from then on user space decides */
  __u64 packets;        /* relayed here, updated atomically */
  __u64 bytes;          /* payload bytes (without the ChannelData header) */
};

/* Per-CPU counters (an array indexed by these). */
enum ember_xdp_stat {
  EMBER_XDP_STAT_TO_PEER_PACKETS,
  EMBER_XDP_STAT_TO_PEER_BYTES,
  EMBER_XDP_STAT_TO_CLIENT_PACKETS,
  EMBER_XDP_STAT_TO_CLIENT_BYTES,
  /* Datagrams for the relay handed to the kernel (XDP_PASS), by reason. */
  EMBER_XDP_STAT_PASS_STUN,       /* STUN: requests, Send/Data indications, other */
  EMBER_XDP_STAT_PASS_MALFORMED,  /* ChannelData shorter than its length field */
  EMBER_XDP_STAT_PASS_PADDED,     /* ChannelData longer than its length field */
  EMBER_XDP_STAT_PASS_UNBOUND,    /* no binding for this client/channel or peer */
  EMBER_XDP_STAT_PASS_EXPIRED,    /* binding past its deadline, not yet removed */
  EMBER_XDP_STAT_PASS_IP,         /* fragments, IPv4 options, IPv6 extension headers */
  EMBER_XDP_STAT_PASS_NO_NEIGH,   /* route known, no neighbour entry yet */
  EMBER_XDP_STAT_PASS_NO_ROUTE,   /* no route, or out of an interface without the program */
  EMBER_XDP_STAT_PASS_TOO_BIG,    /* larger than the outgoing MTU */
  EMBER_XDP_STAT_PASS_NO_FORWARDING, /* the FIB does not answer: forwarding off on lo */
  EMBER_XDP_STAT_COUNT
};
