/* dns/message — parsing DNS messages and names (codec.h). */
#include "dns/codec.h"

#include <string.h>

const char *
ember_dns_result_to_string (EmberDnsResult result)
{
  switch (result)
    {
    case EMBER_DNS_OK: return "ok";
    case EMBER_DNS_ERR_SHORT_HEADER: return "shorter than the 12-byte header";
    case EMBER_DNS_ERR_TRUNCATED: return "a name, question or record runs past the end";
    case EMBER_DNS_ERR_QDCOUNT: return "not exactly one question";
    case EMBER_DNS_ERR_POINTER:
      return "compression pointer into the header, forward or looping";
    case EMBER_DNS_ERR_LABEL: return "label length byte of type 01/10 (over 63 octets)";
    case EMBER_DNS_ERR_NAME_TOO_LONG: return "name over 255 octets";
    case EMBER_DNS_ERR_OPT: return "OPT record misplaced, repeated or not owned by the root";
    case EMBER_DNS_ERR_TRAILING: return "bytes after the last record";
    case EMBER_DNS_ERR_NO_SPACE: return "buffer too small";
    case EMBER_DNS_ERR_NAME_TEXT: return "not a plain DNS name";
    default: return "unknown";
    }
}

/* Appends one octet of a label in presentation form (RFC 1035 §5.1). */
static gboolean
text_put_octet (char *text, gsize cap, gsize *t, guint8 c)
{
  if (c == '.' || c == '\\' || c < 0x21 || c > 0x7E)
    {
      if (*t + 4 >= cap)
        return FALSE;
      text[(*t)++] = '\\';
      text[(*t)++] = (char) ('0' + c / 100);
      text[(*t)++] = (char) ('0' + (c / 10) % 10);
      text[(*t)++] = (char) ('0' + c % 10);
      return TRUE;
    }
  if (*t + 1 >= cap)
    return FALSE;
  text[(*t)++] = (char) c;
  return TRUE;
}

EmberDnsResult
ember_dns_name_read (const guint8 *buf, gsize len, gsize off, gsize *end, char *text, gsize cap,
                     gsize *wire_len)
{
  gsize pos = off, segment = off, wire = 0, t = 0;
  /* Where the labels being read must end: the message, then, after a
   * jump, the pointer that led there. */
  gsize limit = len;
  gboolean jumped = FALSE;

  if (text != NULL && cap == 0)
    return EMBER_DNS_ERR_NO_SPACE;
  for (;;)
    {
      guint8 b;

      if (pos >= limit)
        return jumped ? EMBER_DNS_ERR_POINTER : EMBER_DNS_ERR_TRUNCATED;
      b = buf[pos];
      if ((b & EMBER_DNS_POINTER_MASK) == EMBER_DNS_POINTER_MASK)
        {
          gsize target;

          if (pos + 2 > limit)
            return jumped ? EMBER_DNS_ERR_POINTER : EMBER_DNS_ERR_TRUNCATED;
          target = ((gsize) (b & 0x3F) << 8) | buf[pos + 1];
          /* RFC 1035 §4.1.4 compressors only point at names written
           * earlier, so the target lies before this segment's start:
           * every jump moves strictly backwards and chains end. And the
           * name pointed at was written whole before the pointer: its
           * labels end before it, so a message cut after this name
           * (ember_dns_truncate) still holds all of it. */
          if (target < EMBER_DNS_HEADER_LEN || target >= segment)
            return EMBER_DNS_ERR_POINTER;
          if (!jumped && end != NULL)
            *end = pos + 2;
          jumped = TRUE;
          limit = pos;
          pos = segment = target;
          continue;
        }
      if ((b & EMBER_DNS_POINTER_MASK) != 0)
        return EMBER_DNS_ERR_LABEL;
      wire += (gsize) b + 1;
      if (wire > EMBER_DNS_NAME_WIRE_MAX)
        return EMBER_DNS_ERR_NAME_TOO_LONG;
      if (b == 0)
        {
          if (!jumped && end != NULL)
            *end = pos + 1;
          break;
        }
      if (pos + 1 + b > limit)
        return jumped ? EMBER_DNS_ERR_POINTER : EMBER_DNS_ERR_TRUNCATED;
      if (text != NULL)
        {
          if (t > 0)
            {
              if (t + 1 >= cap)
                return EMBER_DNS_ERR_NO_SPACE;
              text[t++] = '.';
            }
          for (guint i = 0; i < b; i++)
            if (!text_put_octet (text, cap, &t, buf[pos + 1 + i]))
              return EMBER_DNS_ERR_NO_SPACE;
        }
      pos += (gsize) b + 1;
    }
  if (text != NULL)
    {
      if (t == 0)
        {
          if (cap < 2)
            return EMBER_DNS_ERR_NO_SPACE;
          text[t++] = '.';
        }
      text[t] = '\0';
    }
  if (wire_len != NULL)
    *wire_len = wire;
  return EMBER_DNS_OK;
}

EmberDnsResult
ember_dns_name_write (const char *text, guint8 *out, gsize cap, gsize *len)
{
  gsize n = strlen (text), o = 0, i = 0;

  if (n > 0 && text[n - 1] == '.')
    n--;
  if (n > 0 && text[n - 1] == '.')
    return EMBER_DNS_ERR_NAME_TEXT;  /* "a.." ends in an empty label */
  while (i < n)
    {
      gsize start = i, l;

      while (i < n && text[i] != '.')
        {
          if (text[i] == '\\')
            return EMBER_DNS_ERR_NAME_TEXT;
          i++;
        }
      l = i - start;
      if (l == 0 || l > EMBER_DNS_LABEL_MAX)
        return EMBER_DNS_ERR_NAME_TEXT;
      if (o + 1 + l + 1 > EMBER_DNS_NAME_WIRE_MAX)
        return EMBER_DNS_ERR_NAME_TEXT;
      if (o + 1 + l > cap)
        return EMBER_DNS_ERR_NO_SPACE;
      out[o++] = (guint8) l;
      memcpy (out + o, text + start, l);
      o += l;
      if (i < n)
        i++;  /* the dot */
    }
  if (o + 1 > cap)
    return EMBER_DNS_ERR_NO_SPACE;
  out[o++] = 0;
  *len = o;
  return EMBER_DNS_OK;
}

/* One record at `off`: name, fixed part, rdata within the message. */
static EmberDnsResult
read_record (const guint8 *buf, gsize len, gsize off, EmberDnsRecord *rr)
{
  EmberDnsResult r;
  gsize p;

  r = ember_dns_name_read (buf, len, off, &p, NULL, 0, NULL);
  if (r != EMBER_DNS_OK)
    return r;
  if (p + EMBER_DNS_RR_FIXED_LEN > len)
    return EMBER_DNS_ERR_TRUNCATED;
  rr->name_off = off;
  rr->type = ember_dns_rd16 (buf + p);
  rr->rclass = ember_dns_rd16 (buf + p + 2);
  rr->ttl = ember_dns_rd32 (buf + p + 4);
  rr->rdlength = ember_dns_rd16 (buf + p + 8);
  rr->rdata_off = p + EMBER_DNS_RR_FIXED_LEN;
  if (rr->rdata_off + rr->rdlength > len)
    return EMBER_DNS_ERR_TRUNCATED;
  rr->end = rr->rdata_off + rr->rdlength;
  return EMBER_DNS_OK;
}

static EmberDnsSection
section_of (const EmberDnsMessage *msg, guint index)
{
  if (index < msg->ancount)
    return EMBER_DNS_SECTION_ANSWER;
  if (index < (guint) msg->ancount + msg->nscount)
    return EMBER_DNS_SECTION_AUTHORITY;
  return EMBER_DNS_SECTION_ADDITIONAL;
}

EmberDnsResult
ember_dns_message_parse (EmberDnsMessage *msg, const guint8 *buf, gsize len)
{
  EmberDnsResult r;
  guint total;
  gsize p;

  memset (msg, 0, sizeof *msg);
  if (len < EMBER_DNS_HEADER_LEN)
    return EMBER_DNS_ERR_SHORT_HEADER;
  msg->buf = buf;
  msg->len = len;
  msg->id = ember_dns_rd16 (buf);
  msg->flags = ember_dns_rd16 (buf + 2);
  msg->qdcount = ember_dns_rd16 (buf + 4);
  msg->ancount = ember_dns_rd16 (buf + 6);
  msg->nscount = ember_dns_rd16 (buf + 8);
  msg->arcount = ember_dns_rd16 (buf + 10);
  /* Every server in use answers one question per message (RFC 9619
   * makes it the rule): a stub cannot split an answer between two. */
  if (msg->qdcount != 1)
    return EMBER_DNS_ERR_QDCOUNT;

  msg->qname_off = EMBER_DNS_HEADER_LEN;
  r = ember_dns_name_read (buf, len, msg->qname_off, &p, NULL, 0, &msg->qname_wire_len);
  if (r != EMBER_DNS_OK)
    return r;
  if (p + EMBER_DNS_QUESTION_FIXED_LEN > len)
    return EMBER_DNS_ERR_TRUNCATED;
  msg->qtype = ember_dns_rd16 (buf + p);
  msg->qclass = ember_dns_rd16 (buf + p + 2);
  msg->question_end = p + EMBER_DNS_QUESTION_FIXED_LEN;

  p = msg->question_end;
  total = (guint) msg->ancount + msg->nscount + msg->arcount;
  for (guint i = 0; i < total; i++)
    {
      EmberDnsRecord rr;

      r = read_record (buf, len, p, &rr);
      if (r != EMBER_DNS_OK)
        return r;
      if (rr.type == EMBER_DNS_TYPE_OPT)
        {
          /* RFC 6891 §6.1.1: one OPT, in the additional section, owned
           * by the root. */
          if (section_of (msg, i) != EMBER_DNS_SECTION_ADDITIONAL || msg->has_edns ||
              buf[p] != 0)
            return EMBER_DNS_ERR_OPT;
          msg->has_edns = TRUE;
          msg->opt_off = p;
          msg->opt_len = rr.end - p;
          msg->edns_udp_size = rr.rclass;
          msg->edns_ext_rcode = (guint8) (rr.ttl >> 24);
          msg->edns_version = (guint8) (rr.ttl >> 16);
          msg->edns_flags = (guint16) rr.ttl;
        }
      p = rr.end;
    }
  if (p != len)
    return EMBER_DNS_ERR_TRAILING;
  msg->records_end = p;
  return EMBER_DNS_OK;
}

gsize
ember_dns_message_udp_limit (const EmberDnsMessage *msg)
{
  if (!msg->has_edns || msg->edns_udp_size < EMBER_DNS_UDP_MIN)
    return EMBER_DNS_UDP_MIN;
  return msg->edns_udp_size;
}

EmberDnsResult
ember_dns_message_qname (const EmberDnsMessage *msg, char *text, gsize cap)
{
  return ember_dns_name_read (msg->buf, msg->len, msg->qname_off, NULL, text, cap, NULL);
}

gboolean
ember_dns_message_same_question (const EmberDnsMessage *a, const EmberDnsMessage *b)
{
  gsize pa = a->qname_off, pb = b->qname_off;

  if (a->qtype != b->qtype || a->qclass != b->qclass ||
      a->qname_wire_len != b->qname_wire_len)
    return FALSE;
  /* The question name starts at offset 12 where no pointer can lead
   * (pointers must go backwards and not into the header): it is
   * uncompressed, so a byte walk over qname_wire_len octets suffices. */
  for (gsize i = 0; i < a->qname_wire_len; i++)
    if (g_ascii_tolower (a->buf[pa + i]) != g_ascii_tolower (b->buf[pb + i]))
      return FALSE;
  return TRUE;
}

void
ember_dns_record_iter_init (EmberDnsRecordIter *iter, const EmberDnsMessage *msg)
{
  iter->msg = msg;
  iter->off = msg->question_end;
  iter->index = 0;
}

gboolean
ember_dns_record_iter_next (EmberDnsRecordIter *iter, EmberDnsRecord *rr)
{
  const EmberDnsMessage *msg = iter->msg;
  guint total = (guint) msg->ancount + msg->nscount + msg->arcount;

  if (iter->index >= total)
    return FALSE;
  if (read_record (msg->buf, msg->len, iter->off, rr) != EMBER_DNS_OK)
    return FALSE;
  rr->section = section_of (msg, iter->index);
  iter->off = rr->end;
  iter->index++;
  return TRUE;
}
