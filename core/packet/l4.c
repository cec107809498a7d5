/* l4 — UDP, TCP and ICMP accessors of EmberIpPacket: ports, payload,
 * ICMP type and echo identifier/sequence. Parse has already checked that
 * the header these read is inside the packet (has_l4). */
#include "packet/packet-private.h"

static gboolean
is_icmp (const EmberIpPacket *pkt)
{
  return pkt->has_l4 &&
         ((pkt->version == 4 && pkt->proto == EMBER_IPPROTO_ICMP) ||
          (pkt->version == 6 && pkt->proto == EMBER_IPPROTO_ICMPV6));
}

static EmberPacketResult
port_check (const EmberIpPacket *pkt)
{
  if (pkt->proto != EMBER_IPPROTO_UDP && pkt->proto != EMBER_IPPROTO_TCP)
    return EMBER_PACKET_ERR_PROTOCOL;
  if (!pkt->has_l4)
    return EMBER_PACKET_ERR_FRAGMENT;
  return EMBER_PACKET_OK;
}

static EmberPacketResult
get_port (const EmberIpPacket *pkt, gsize field, guint16 *port)
{
  EmberPacketResult r = port_check (pkt);

  *port = 0;
  if (r != EMBER_PACKET_OK)
    return r;
  /* UDP and TCP put the ports at the same offsets. */
  *port = ember_rd16 (ember_ip_packet_data (pkt) + pkt->l4_off + field);
  return EMBER_PACKET_OK;
}

static EmberPacketResult
set_port (EmberIpPacket *pkt, gsize field, guint16 port)
{
  EmberPacketResult r = port_check (pkt);
  guint8 *p;
  guint8 new_bytes[2];

  if (r != EMBER_PACKET_OK)
    return r;
  p = ember_ip_packet_data (pkt) + pkt->l4_off + field;
  ember_wr16 (new_bytes, port);
  ember_ip_packet_l4_replace (pkt, p, new_bytes, 2);
  memcpy (p, new_bytes, 2);
  return EMBER_PACKET_OK;
}

EmberPacketResult
ember_ip_packet_get_source_port (const EmberIpPacket *pkt, guint16 *port)
{
  return get_port (pkt, EMBER_UDP_OFF_SRC_PORT, port);
}

EmberPacketResult
ember_ip_packet_get_destination_port (const EmberIpPacket *pkt, guint16 *port)
{
  return get_port (pkt, EMBER_UDP_OFF_DST_PORT, port);
}

EmberPacketResult
ember_ip_packet_set_source_port (EmberIpPacket *pkt, guint16 port)
{
  return set_port (pkt, EMBER_UDP_OFF_SRC_PORT, port);
}

EmberPacketResult
ember_ip_packet_set_destination_port (EmberIpPacket *pkt, guint16 port)
{
  return set_port (pkt, EMBER_UDP_OFF_DST_PORT, port);
}

const guint8 *
ember_ip_packet_payload (const EmberIpPacket *pkt, gsize *len)
{
  const guint8 *l4 = ember_ip_packet_data (pkt) + pkt->l4_off;
  gsize l4_len = pkt->len - pkt->l4_off;
  gsize hl;

  *len = 0;
  if (!pkt->has_l4)
    return NULL;
  if (pkt->proto == EMBER_IPPROTO_UDP)
    hl = EMBER_UDP_HEADER_LEN;
  else if (pkt->proto == EMBER_IPPROTO_TCP)
    hl = (gsize) (l4[EMBER_TCP_OFF_DATA_OFF] >> 4) * 4;
  else
    hl = EMBER_ICMP_HEADER_LEN;
  /* Parse guaranteed hl <= l4_len. */
  *len = l4_len - hl;
  return l4 + hl;
}

EmberPacketResult
ember_ip_packet_icmp_type (const EmberIpPacket *pkt, guint8 *type, guint8 *code)
{
  const guint8 *l4;

  *type = *code = 0;
  if (!is_icmp (pkt))
    return pkt->frag == EMBER_IP_FRAG_LATER ? EMBER_PACKET_ERR_FRAGMENT
                                            : EMBER_PACKET_ERR_PROTOCOL;
  l4 = ember_ip_packet_data (pkt) + pkt->l4_off;
  *type = l4[EMBER_ICMP_OFF_TYPE];
  *code = l4[EMBER_ICMP_OFF_CODE];
  return EMBER_PACKET_OK;
}

gboolean
ember_ip_packet_is_icmp_echo (const EmberIpPacket *pkt)
{
  guint8 type, code;

  if (ember_ip_packet_icmp_type (pkt, &type, &code) != EMBER_PACKET_OK)
    return FALSE;
  if (pkt->version == 4)
    return type == EMBER_ICMPV4_ECHO_REQUEST || type == EMBER_ICMPV4_ECHO_REPLY;
  return type == EMBER_ICMPV6_ECHO_REQUEST || type == EMBER_ICMPV6_ECHO_REPLY;
}

gboolean
ember_ip_packet_is_icmp_error (const EmberIpPacket *pkt)
{
  guint8 type, code;

  if (ember_ip_packet_icmp_type (pkt, &type, &code) != EMBER_PACKET_OK)
    return FALSE;
  if (pkt->version == 4)
    /* RFC 1122 §3.2.2: the messages that quote an offending datagram. */
    return type == EMBER_ICMPV4_DEST_UNREACH || type == EMBER_ICMPV4_TIME_EXCEEDED ||
           type == EMBER_ICMPV4_PARAM_PROBLEM || type == 4 /* source quench */ ||
           type == 5 /* redirect */;
  /* RFC 4443 §2.1: types 0..127 are errors. */
  return type < 128;
}

/* seed 004: writing bytes 4..7 is only meaningful for echo; a debug build
 * catches the caller that forgot to check, a release build stays safe
 * because parse guaranteed those bytes exist. */
#ifndef G_DISABLE_ASSERT
#define ASSERT_ECHO(pkt) g_assert (ember_ip_packet_is_icmp_echo (pkt))
#else
#define ASSERT_ECHO(pkt) ((void) 0)
#endif

static guint16
get_echo_field (const EmberIpPacket *pkt, gsize field)
{
  ASSERT_ECHO (pkt);
  if (!is_icmp (pkt))
    return 0;
  return ember_rd16 (ember_ip_packet_data (pkt) + pkt->l4_off + field);
}

static void
set_echo_field (EmberIpPacket *pkt, gsize field, guint16 value)
{
  guint8 *p;
  guint8 new_bytes[2];

  ASSERT_ECHO (pkt);
  if (!is_icmp (pkt))
    return;
  p = ember_ip_packet_data (pkt) + pkt->l4_off + field;
  ember_wr16 (new_bytes, value);
  ember_ip_packet_l4_replace (pkt, p, new_bytes, 2);
  memcpy (p, new_bytes, 2);
  if (pkt->version == 4)
    ember_icmp4_zero_fixup (ember_ip_packet_data (pkt) + pkt->l4_off, pkt->len - pkt->l4_off);
}

guint16
ember_ip_packet_get_icmp_identifier (const EmberIpPacket *pkt)
{
  return get_echo_field (pkt, EMBER_ICMP_OFF_ID);
}

guint16
ember_ip_packet_get_icmp_sequence (const EmberIpPacket *pkt)
{
  return get_echo_field (pkt, EMBER_ICMP_OFF_SEQ);
}

void
ember_ip_packet_set_icmp_identifier (EmberIpPacket *pkt, guint16 id)
{
  set_echo_field (pkt, EMBER_ICMP_OFF_ID, id);
}

void
ember_ip_packet_set_icmp_sequence (EmberIpPacket *pkt, guint16 seq)
{
  set_echo_field (pkt, EMBER_ICMP_OFF_SEQ, seq);
}
