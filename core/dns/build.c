/* dns/build — writing DNS responses and queries, truncation (codec.h). */
#include "dns/codec.h"

#include <string.h>

static void
write_header (guint8 *out, guint16 id, guint16 flags, guint16 qd, guint16 an, guint16 ns,
              guint16 ar)
{
  ember_dns_wr16 (out, id);
  ember_dns_wr16 (out + 2, flags);
  ember_dns_wr16 (out + 4, qd);
  ember_dns_wr16 (out + 6, an);
  ember_dns_wr16 (out + 8, ns);
  ember_dns_wr16 (out + 10, ar);
}

/* An OPT record without options (RFC 6891 §6.1.2). */
static void
write_opt (guint8 *out, guint16 udp_size, guint8 ext_rcode, guint16 edns_flags)
{
  out[0] = 0;  /* root owner */
  ember_dns_wr16 (out + 1, EMBER_DNS_TYPE_OPT);
  ember_dns_wr16 (out + 3, udp_size);
  ember_dns_wr32 (out + 5, ((guint32) ext_rcode << 24) | edns_flags);  /* version 0 */
  ember_dns_wr16 (out + 9, 0);
}

static guint16
response_flags (guint16 query_flags, guint16 extra, guint rcode)
{
  return (guint16) (EMBER_DNS_FLAG_QR | (query_flags & EMBER_DNS_OPCODE_MASK) |
                    (query_flags & (EMBER_DNS_FLAG_RD | EMBER_DNS_FLAG_CD)) |
                    EMBER_DNS_FLAG_RA | (extra & EMBER_DNS_FLAG_AA) |
                    (rcode & EMBER_DNS_RCODE_MASK));
}

EmberDnsResult
ember_dns_build_header_error (guint16 id, guint16 query_flags, guint rcode, guint8 *out,
                              gsize cap, gsize *out_len)
{
  if (cap < EMBER_DNS_HEADER_LEN)
    return EMBER_DNS_ERR_NO_SPACE;
  write_header (out, id, response_flags (query_flags, 0, rcode), 0, 0, 0, 0);
  *out_len = EMBER_DNS_HEADER_LEN;
  return EMBER_DNS_OK;
}

/* One answer's rdata into rdata[0, EMBER_DNS_NAME_WIRE_MAX). */
static EmberDnsResult
answer_rdata (const EmberDnsAnswer *a, guint8 *rdata, gsize *len)
{
  switch (a->type)
    {
    case EMBER_DNS_TYPE_A:
      memcpy (rdata, a->addr, 4);
      *len = 4;
      return EMBER_DNS_OK;
    case EMBER_DNS_TYPE_AAAA:
      memcpy (rdata, a->addr, 16);
      *len = 16;
      return EMBER_DNS_OK;
    case EMBER_DNS_TYPE_PTR:
      if (a->target == NULL)
        return EMBER_DNS_ERR_NAME_TEXT;
      return ember_dns_name_write (a->target, rdata, EMBER_DNS_NAME_WIRE_MAX, len);
    default:
      return EMBER_DNS_ERR_NAME_TEXT;
    }
}

EmberDnsResult
ember_dns_build_response (const EmberDnsMessage *query, guint rcode, guint16 flags,
                          const EmberDnsAnswer *answers, guint n_answers, gsize limit,
                          guint8 *out, gsize cap, gsize *out_len)
{
  gsize qlen = query->question_end - EMBER_DNS_HEADER_LEN;
  gsize room = MIN (limit, cap), reserve = query->has_edns ? EMBER_DNS_OPT_LEN : 0, o;
  guint8 ext_rcode = 0;
  guint16 hflags, an = 0;
  gboolean tc = FALSE;

  if (EMBER_DNS_HEADER_LEN + qlen + reserve > room)
    return EMBER_DNS_ERR_NO_SPACE;
  if (query->has_edns && query->edns_version != 0)
    {
      /* RFC 6891 §6.1.3: answer a version we do not speak with BADVERS,
       * nothing else. */
      rcode = EMBER_DNS_RCODE_BADVERS;
      n_answers = 0;
    }
  ext_rcode = (guint8) (rcode >> 4);
  o = EMBER_DNS_HEADER_LEN;
  memcpy (out + o, query->buf + EMBER_DNS_HEADER_LEN, qlen);
  o += qlen;

  for (guint i = 0; i < n_answers; i++)
    {
      /* owner: a pointer to the question name at offset 12 */
      gsize need = 2 + EMBER_DNS_RR_FIXED_LEN, rdlen = 0;
      guint8 rdata[EMBER_DNS_NAME_WIRE_MAX];
      EmberDnsResult r = answer_rdata (&answers[i], rdata, &rdlen);

      if (r != EMBER_DNS_OK)
        return r;
      if (o + need + rdlen + reserve > room)
        {
          tc = TRUE;
          break;
        }
      out[o] = EMBER_DNS_POINTER_MASK;
      out[o + 1] = EMBER_DNS_HEADER_LEN;
      ember_dns_wr16 (out + o + 2, answers[i].type);
      ember_dns_wr16 (out + o + 4, EMBER_DNS_CLASS_IN);
      ember_dns_wr32 (out + o + 6, answers[i].ttl);
      ember_dns_wr16 (out + o + 10, (guint16) rdlen);
      memcpy (out + o + need, rdata, rdlen);
      o += need + rdlen;
      an++;
    }
  if (query->has_edns)
    {
      write_opt (out + o, EMBER_DNS_EDNS_SIZE, ext_rcode, 0);
      o += EMBER_DNS_OPT_LEN;
    }
  hflags = response_flags (query->flags, flags, rcode);
  if (tc)
    hflags |= EMBER_DNS_FLAG_TC;
  write_header (out, query->id, hflags, 1, an, 0, query->has_edns ? 1 : 0);
  *out_len = o;
  return EMBER_DNS_OK;
}

EmberDnsResult
ember_dns_build_query (guint16 id, const char *name, guint16 qtype, guint16 edns_size,
                       guint8 *out, gsize cap, gsize *out_len)
{
  EmberDnsResult r;
  gsize n = 0, o = EMBER_DNS_HEADER_LEN;

  if (cap < EMBER_DNS_HEADER_LEN)
    return EMBER_DNS_ERR_NO_SPACE;
  r = ember_dns_name_write (name, out + o, cap - o, &n);
  if (r != EMBER_DNS_OK)
    return r;
  o += n;
  if (o + EMBER_DNS_QUESTION_FIXED_LEN + (edns_size ? EMBER_DNS_OPT_LEN : 0) > cap)
    return EMBER_DNS_ERR_NO_SPACE;
  ember_dns_wr16 (out + o, qtype);
  ember_dns_wr16 (out + o + 2, EMBER_DNS_CLASS_IN);
  o += EMBER_DNS_QUESTION_FIXED_LEN;
  if (edns_size != 0)
    {
      write_opt (out + o, edns_size, 0, 0);
      o += EMBER_DNS_OPT_LEN;
    }
  write_header (out, id, EMBER_DNS_FLAG_RD, 1, 0, 0, edns_size ? 1 : 0);
  *out_len = o;
  return EMBER_DNS_OK;
}

EmberDnsResult
ember_dns_truncate (const EmberDnsMessage *msg, guint8 *buf, gsize limit, gsize *out_len)
{
  EmberDnsRecordIter iter;
  EmberDnsRecord rr;
  gsize keep = msg->question_end, reserve = 0;
  guint16 counts[3] = { 0, 0, 0 }, flags;
  gboolean tc = FALSE, whole_opt = FALSE;

  if (msg->len <= limit)
    {
      *out_len = msg->len;
      return EMBER_DNS_OK;
    }
  if (msg->question_end > limit)
    return EMBER_DNS_ERR_NO_SPACE;
  /* RFC 6891 §7: keep the OPT record in a truncated message; with its
   * options when they fit, else bare. */
  if (msg->has_edns)
    {
      whole_opt = msg->question_end + msg->opt_len <= limit;
      reserve = whole_opt ? msg->opt_len : EMBER_DNS_OPT_LEN;
      if (msg->question_end + reserve > limit)
        reserve = 0;
    }
  ember_dns_record_iter_init (&iter, msg);
  while (ember_dns_record_iter_next (&iter, &rr))
    {
      /* Records after the OPT would move when it does and their
       * compression pointers with them: the kept part ends there. */
      if (rr.type == EMBER_DNS_TYPE_OPT)
        break;
      if (rr.end + reserve > limit)
        {
          tc = rr.section != EMBER_DNS_SECTION_ADDITIONAL;
          break;
        }
      counts[rr.section]++;
      keep = rr.end;
    }
  if (msg->has_edns && reserve > 0)
    {
      /* keep <= opt_off: the move goes backwards within the buffer */
      if (whole_opt)
        memmove (buf + keep, msg->buf + msg->opt_off, msg->opt_len);
      else
        {
          memmove (buf + keep, msg->buf + msg->opt_off, EMBER_DNS_OPT_LEN - 2);
          ember_dns_wr16 (buf + keep + EMBER_DNS_OPT_LEN - 2, 0);  /* no options */
        }
      keep += reserve;
      counts[EMBER_DNS_SECTION_ADDITIONAL]++;
    }
  flags = msg->flags;
  if (tc)
    flags |= EMBER_DNS_FLAG_TC;
  write_header (buf, msg->id, flags, 1, counts[0], counts[1], counts[2]);
  *out_len = keep;
  return EMBER_DNS_OK;
}
