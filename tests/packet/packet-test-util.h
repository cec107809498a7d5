/* Helpers shared by the core/packet test files. */
#pragma once

#include <string.h>

#include "packet/packet.h"

/* g_assert_cmpmem wants int lengths. */
#define assert_mem(m1, l1, m2, l2) g_assert_cmpmem (m1, (int) (l1), m2, (int) (l2))

/* Copies `len` bytes into `buf` at `off` and parses them. */
static inline EmberPacketResult
load (EmberIpPacket *pkt, guint8 *buf, gsize cap, gsize off, const guint8 *bytes, gsize len)
{
  g_assert_cmpuint (off + len, <=, cap);
  memcpy (buf + off, bytes, len);
  return ember_ip_packet_parse (pkt, buf, cap, off, len);
}

#define assert_ok(expr) \
  G_STMT_START { \
    EmberPacketResult r_ = (expr); \
    if (r_ != EMBER_PACKET_OK) \
      g_error ("%s: %s", #expr, ember_packet_result_to_string (r_)); \
  } G_STMT_END

/* The packet's checksums verify and are exactly what a full recompute
 * gives: the incremental updates left nothing stale. */
static inline void
assert_checksums_fresh (const EmberIpPacket *pkt)
{
  guint8 copy[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket c;

  g_assert_cmpuint (ember_ip_packet_len (pkt), <=, sizeof copy);
  assert_ok (ember_ip_packet_verify_checksums (pkt));
  assert_ok (load (&c, copy, sizeof copy, 0, ember_ip_packet_data (pkt), ember_ip_packet_len (pkt)));
  ember_ip_packet_update_checksums (&c);
  assert_mem (copy, ember_ip_packet_len (pkt), ember_ip_packet_data (pkt),
                   ember_ip_packet_len (pkt));
}

static inline EmberAddr
addr4 (guint8 a, guint8 b, guint8 c, guint8 d, guint16 port)
{
  EmberAddr x = { .family = EMBER_ADDR_IPV4, .port = port };

  x.addr[0] = a;
  x.addr[1] = b;
  x.addr[2] = c;
  x.addr[3] = d;
  return x;
}

static inline EmberAddr
addr6 (guint16 first, guint16 last, guint16 port)
{
  EmberAddr x = { .family = EMBER_ADDR_IPV6, .port = port };

  x.addr[0] = (guint8) (first >> 8);
  x.addr[1] = (guint8) first;
  x.addr[14] = (guint8) (last >> 8);
  x.addr[15] = (guint8) last;
  return x;
}

/* A captured packet (see captured.h) loaded behind the standard headroom,
 * with offload-partial checksums completed so every one verifies. */
static inline void
load_fresh (EmberIpPacket *pkt, guint8 *buf, gsize cap, const guint8 *bytes, gsize len,
            gboolean partial)
{
  assert_ok (load (pkt, buf, cap, EMBER_PACKET_HEADROOM, bytes, len));
  if (partial)
    ember_ip_packet_update_checksums (pkt);
  assert_ok (ember_ip_packet_verify_checksums (pkt));
}

void packet_test_add_nat (void);
void packet_test_add_build (void);
