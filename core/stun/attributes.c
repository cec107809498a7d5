/* stun/attributes.c — typed attribute values: decode and encode.
 * Every layout cited from RFC 8489 §14, RFC 8656 §18, RFC 8445 §16.1.
 * See message.h. */
#include "stun/message.h"
#include "stun/bytes.h"

#include <string.h>

static EmberStunResult
find_value (const EmberStunMessage *msg, guint16 type, const guint8 **v, gsize *len)
{
  const EmberStunAttribute *a = ember_stun_message_find (msg, type);
  if (a == NULL)
    return EMBER_STUN_ERR_MISSING;
  *v = msg->data + a->offset;
  *len = a->len;
  return EMBER_STUN_OK;
}

/* RFC 8489 §14.1/§14.2: 0, family, port, 4 or 16 address bytes. */
static EmberStunResult
decode_address (const guint8 *v, gsize len, const guint8 *xor_tid, EmberAddr *out)
{
  memset (out, 0, sizeof *out);
  if (len < 4)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  guint8 family = v[1];
  guint16 port = rd16 (v + 2);
  gsize alen;
  if (family == EMBER_STUN_FAMILY_IPV4)
    alen = 4;
  else if (family == EMBER_STUN_FAMILY_IPV6)
    alen = 16;
  else
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  if (len != 4 + alen)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  memcpy (out->addr, v + 4, alen);
  if (xor_tid != NULL)
    {
      /* §14.2: port ^ top half of the cookie; address ^ cookie (v4) or
       * ^ cookie || transaction id (v6). */
      guint8 mask[16] = { 0x21, 0x12, 0xA4, 0x42 };
      memcpy (mask + 4, xor_tid, sizeof mask - 4);
      port ^= (guint16) (EMBER_STUN_MAGIC_COOKIE >> 16);
      for (gsize i = 0; i < alen; i++)
        out->addr[i] ^= mask[i];
    }
  out->family = family == EMBER_STUN_FAMILY_IPV4 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6;
  out->port = port;
  return EMBER_STUN_OK;
}

EmberStunResult
ember_stun_message_get_address (const EmberStunMessage *msg, guint16 type, EmberAddr *out)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, type, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  return decode_address (v, len, NULL, out);
}

EmberStunResult
ember_stun_message_get_xor_address (const EmberStunMessage *msg, guint16 type, EmberAddr *out)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, type, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  return decode_address (v, len, msg->transaction_id, out);
}

gint
ember_stun_message_get_xor_addresses (const EmberStunMessage *msg, guint16 type, EmberAddr *out,
                                      guint max)
{
  guint n = 0;
  for (guint i = 0; i < msg->n_attributes && n < max; i++)
    {
      const EmberStunAttribute *a = &msg->attributes[i];
      if (a->type != type)
        continue;
      if (decode_address (msg->data + a->offset, a->len, msg->transaction_id, &out[n]) !=
          EMBER_STUN_OK)
        return -1;
      n++;
    }
  return (gint) n;
}

static gsize
string_limit (guint16 type)
{
  switch (type)
    {
    case EMBER_STUN_ATTR_USERNAME: return EMBER_STUN_USERNAME_MAX;
    case EMBER_STUN_ATTR_REALM: return EMBER_STUN_REALM_MAX;
    case EMBER_STUN_ATTR_NONCE: return EMBER_STUN_NONCE_MAX;
    case EMBER_STUN_ATTR_SOFTWARE: return EMBER_STUN_SOFTWARE_MAX;
    default: return 0xFFFF;
    }
}

EmberStunResult
ember_stun_message_get_bytes (const EmberStunMessage *msg, guint16 type, const guint8 **value,
                              gsize *len)
{
  EmberStunResult r = find_value (msg, type, value, len);
  if (r != EMBER_STUN_OK)
    return r;
  if (*len > string_limit (type))
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  if (type == EMBER_STUN_ATTR_USERHASH && *len != EMBER_STUN_USERHASH_LEN)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  return EMBER_STUN_OK;
}

EmberStunResult
ember_stun_message_get_u32 (const EmberStunMessage *msg, guint16 type, guint32 *out)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, type, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  if (len != 4)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  *out = rd32 (v);
  return EMBER_STUN_OK;
}

EmberStunResult
ember_stun_message_get_u64 (const EmberStunMessage *msg, guint16 type, guint64 *out)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, type, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  if (len != 8)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  *out = ((guint64) rd32 (v) << 32) | rd32 (v + 4);
  return EMBER_STUN_OK;
}

/* §14.8: 21 reserved bits, class (3 bits, 3..6), number (0..99). */
static EmberStunResult
decode_code (const guint8 *v, guint *code)
{
  guint klass = v[2] & 0x07;
  guint number = v[3];
  if (klass < 3 || klass > 6 || number > 99)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  *code = klass * 100 + number;
  return EMBER_STUN_OK;
}

EmberStunResult
ember_stun_message_get_error_code (const EmberStunMessage *msg, guint *code,
                                   const guint8 **reason, gsize *reason_len)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, EMBER_STUN_ATTR_ERROR_CODE, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  if (len < 4 || len - 4 > EMBER_STUN_REASON_MAX || decode_code (v, code) != EMBER_STUN_OK)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  if (reason != NULL)
    *reason = v + 4;
  if (reason_len != NULL)
    *reason_len = len - 4;
  return EMBER_STUN_OK;
}

EmberStunResult
ember_stun_message_get_unknown_attributes (const EmberStunMessage *msg, guint16 *types,
                                           guint max, guint *n_out)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, EMBER_STUN_ATTR_UNKNOWN_ATTRIBUTES, &v, &len);
  *n_out = 0;
  if (r != EMBER_STUN_OK)
    return r;
  if ((len & 1) != 0)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  for (gsize i = 0; i < len / 2 && *n_out < max; i++)
    types[(*n_out)++] = rd16 (v + 2 * i);
  return EMBER_STUN_OK;
}

/* A 4-byte value whose first byte is meaningful and the rest reserved:
 * REQUESTED-TRANSPORT (RFC 8656 §18.7), REQUESTED-/ADDITIONAL-ADDRESS-
 * FAMILY (§18.6, §18.11). */
static EmberStunResult
get_first_byte (const EmberStunMessage *msg, guint16 type, guint8 *out)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, type, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  if (len != 4)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  *out = v[0];
  return EMBER_STUN_OK;
}

EmberStunResult
ember_stun_message_get_requested_transport (const EmberStunMessage *msg, guint8 *protocol)
{
  return get_first_byte (msg, EMBER_STUN_ATTR_REQUESTED_TRANSPORT, protocol);
}

EmberStunResult
ember_stun_message_get_address_family (const EmberStunMessage *msg, guint16 type,
                                       guint8 *family)
{
  EmberStunResult r = get_first_byte (msg, type, family);
  if (r == EMBER_STUN_OK && *family != EMBER_STUN_FAMILY_IPV4 &&
      *family != EMBER_STUN_FAMILY_IPV6)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  return r;
}

/* RFC 8656 §18.12: family (8), reserved (13), class (3), number (8). */
EmberStunResult
ember_stun_message_get_address_error_code (const EmberStunMessage *msg, guint8 *family,
                                           guint *code, const guint8 **reason,
                                           gsize *reason_len)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, EMBER_STUN_ATTR_ADDRESS_ERROR_CODE, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  if (len < 4 || len - 4 > EMBER_STUN_REASON_MAX || decode_code (v, code) != EMBER_STUN_OK)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  *family = v[0];
  if (reason != NULL)
    *reason = v + 4;
  if (reason_len != NULL)
    *reason_len = len - 4;
  return EMBER_STUN_OK;
}

/* RFC 8656 §18.1: channel number (16), RFFU (16). */
EmberStunResult
ember_stun_message_get_channel_number (const EmberStunMessage *msg, guint16 *channel)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, EMBER_STUN_ATTR_CHANNEL_NUMBER, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  if (len != 4)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  *channel = rd16 (v);
  return EMBER_STUN_OK;
}

/* RFC 8656 §18.8: one byte, R in the top bit. */
EmberStunResult
ember_stun_message_get_even_port (const EmberStunMessage *msg, gboolean *reserve)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, EMBER_STUN_ATTR_EVEN_PORT, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  if (len != 1)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  *reserve = (v[0] & 0x80) != 0;
  return EMBER_STUN_OK;
}

/* RFC 8489 §14.11/§14.12: algorithm (16), params length (16), params
 * padded to 4. Decodes the entry at v[*off] within len. */
static EmberStunResult
decode_algorithm (const guint8 *v, gsize len, gsize *off, guint16 *algorithm,
                  const guint8 **params, gsize *params_len)
{
  if (len - *off < 4)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  gsize plen = rd16 (v + *off + 2);
  gsize padded = (plen + 3) & ~(gsize) 3;
  if (len - *off - 4 < plen)
    return EMBER_STUN_ERR_BAD_ATTRIBUTE;
  *algorithm = rd16 (v + *off);
  if (params != NULL)
    *params = v + *off + 4;
  if (params_len != NULL)
    *params_len = plen;
  *off = MIN (len, *off + 4 + padded);
  return EMBER_STUN_OK;
}

EmberStunResult
ember_stun_message_get_password_algorithm (const EmberStunMessage *msg, guint16 *algorithm,
                                           const guint8 **params, gsize *params_len)
{
  const guint8 *v;
  gsize len, off = 0;
  EmberStunResult r = find_value (msg, EMBER_STUN_ATTR_PASSWORD_ALGORITHM, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  return decode_algorithm (v, len, &off, algorithm, params, params_len);
}

EmberStunResult
ember_stun_message_next_password_algorithm (const EmberStunMessage *msg, gsize *offset,
                                            guint16 *algorithm, const guint8 **params,
                                            gsize *params_len)
{
  const guint8 *v;
  gsize len;
  EmberStunResult r = find_value (msg, EMBER_STUN_ATTR_PASSWORD_ALGORITHMS, &v, &len);
  if (r != EMBER_STUN_OK)
    return r;
  if (*offset >= len)
    return EMBER_STUN_ERR_MISSING;
  return decode_algorithm (v, len, offset, algorithm, params, params_len);
}

/* ---- Encoding ------------------------------------------------------- */

void
ember_stun_builder_add_string (EmberStunBuilder *b, guint16 type, const char *s)
{
  gsize len = strlen (s);
  if (len > string_limit (type))
    {
      if (b->error == EMBER_STUN_OK)
        b->error = EMBER_STUN_ERR_BAD_ARGUMENT;
      return;
    }
  ember_stun_builder_add (b, type, s, len);
}

void
ember_stun_builder_add_u32 (EmberStunBuilder *b, guint16 type, guint32 value)
{
  guint8 *p = ember_stun_builder_reserve (b, type, 4);
  if (p != NULL)
    wr32 (p, value);
}

void
ember_stun_builder_add_u64 (EmberStunBuilder *b, guint16 type, guint64 value)
{
  guint8 *p = ember_stun_builder_reserve (b, type, 8);
  if (p != NULL)
    {
      wr32 (p, (guint32) (value >> 32));
      wr32 (p + 4, (guint32) value);
    }
}

static void
encode_address (EmberStunBuilder *b, guint16 type, const EmberAddr *addr, gboolean xored)
{
  gsize alen;
  guint8 family;
  if (addr->family == EMBER_ADDR_IPV4)
    alen = 4, family = EMBER_STUN_FAMILY_IPV4;
  else if (addr->family == EMBER_ADDR_IPV6)
    alen = 16, family = EMBER_STUN_FAMILY_IPV6;
  else
    {
      if (b->error == EMBER_STUN_OK)
        b->error = EMBER_STUN_ERR_BAD_ARGUMENT;
      return;
    }
  guint8 *p = ember_stun_builder_reserve (b, type, 4 + alen);
  if (p == NULL)
    return;
  guint16 port = addr->port;
  p[0] = 0;
  p[1] = family;
  memcpy (p + 4, addr->addr, alen);
  if (xored)
    {
      /* The cookie and transaction id are bytes 4..19 of the header. */
      port ^= (guint16) (EMBER_STUN_MAGIC_COOKIE >> 16);
      for (gsize i = 0; i < alen; i++)
        p[4 + i] ^= b->buf[4 + i];
    }
  wr16 (p + 2, port);
}

void
ember_stun_builder_add_address (EmberStunBuilder *b, guint16 type, const EmberAddr *addr)
{
  encode_address (b, type, addr, FALSE);
}

void
ember_stun_builder_add_xor_address (EmberStunBuilder *b, guint16 type, const EmberAddr *addr)
{
  encode_address (b, type, addr, TRUE);
}

static const char *
default_reason (guint code)
{
  switch (code)
    {
    case EMBER_STUN_ERROR_TRY_ALTERNATE: return "Try Alternate";
    case EMBER_STUN_ERROR_BAD_REQUEST: return "Bad Request";
    case EMBER_STUN_ERROR_UNAUTHENTICATED: return "Unauthenticated";
    case EMBER_STUN_ERROR_FORBIDDEN: return "Forbidden";
    case EMBER_STUN_ERROR_MOBILITY_FORBIDDEN: return "Mobility Forbidden";
    case EMBER_STUN_ERROR_UNKNOWN_ATTRIBUTE: return "Unknown Attribute";
    case EMBER_STUN_ERROR_ALLOCATION_MISMATCH: return "Allocation Mismatch";
    case EMBER_STUN_ERROR_STALE_NONCE: return "Stale Nonce";
    case EMBER_STUN_ERROR_ADDRESS_FAMILY_NOT_SUPPORTED: return "Address Family not Supported";
    case EMBER_STUN_ERROR_WRONG_CREDENTIALS: return "Wrong Credentials";
    case EMBER_STUN_ERROR_UNSUPPORTED_TRANSPORT: return "Unsupported Transport Protocol";
    case EMBER_STUN_ERROR_PEER_ADDRESS_FAMILY_MISMATCH: return "Peer Address Family Mismatch";
    case EMBER_STUN_ERROR_ALLOCATION_QUOTA_REACHED: return "Allocation Quota Reached";
    case EMBER_STUN_ERROR_SERVER_ERROR: return "Server Error";
    case EMBER_STUN_ERROR_INSUFFICIENT_CAPACITY: return "Insufficient Capacity";
    default: return "Error";
    }
}

static void
encode_code (EmberStunBuilder *b, guint16 type, guint8 first, guint code, const char *reason)
{
  if (code < 300 || code > 699)
    {
      if (b->error == EMBER_STUN_OK)
        b->error = EMBER_STUN_ERR_BAD_ARGUMENT;
      return;
    }
  if (reason == NULL)
    reason = default_reason (code);
  gsize rlen = MIN (strlen (reason), (gsize) EMBER_STUN_REASON_MAX);
  guint8 *p = ember_stun_builder_reserve (b, type, 4 + rlen);
  if (p == NULL)
    return;
  p[0] = first;
  p[1] = 0;
  p[2] = (guint8) (code / 100);
  p[3] = (guint8) (code % 100);
  memcpy (p + 4, reason, rlen);
}

void
ember_stun_builder_add_error_code (EmberStunBuilder *b, guint code, const char *reason)
{
  encode_code (b, EMBER_STUN_ATTR_ERROR_CODE, 0, code, reason);
}

void
ember_stun_builder_add_address_error_code (EmberStunBuilder *b, guint8 family, guint code,
                                           const char *reason)
{
  encode_code (b, EMBER_STUN_ATTR_ADDRESS_ERROR_CODE, family, code, reason);
}

void
ember_stun_builder_add_unknown_attributes (EmberStunBuilder *b, const guint16 *types, guint n)
{
  guint8 *p = ember_stun_builder_reserve (b, EMBER_STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * (gsize) n);
  if (p != NULL)
    for (guint i = 0; i < n; i++)
      wr16 (p + 2 * i, types[i]);
}

static void
add_first_byte (EmberStunBuilder *b, guint16 type, guint8 value)
{
  guint8 *p = ember_stun_builder_reserve (b, type, 4);
  if (p != NULL)
    {
      p[0] = value;
      p[1] = p[2] = p[3] = 0;
    }
}

void
ember_stun_builder_add_requested_transport (EmberStunBuilder *b, guint8 protocol)
{
  add_first_byte (b, EMBER_STUN_ATTR_REQUESTED_TRANSPORT, protocol);
}

void
ember_stun_builder_add_address_family (EmberStunBuilder *b, guint16 type, guint8 family)
{
  add_first_byte (b, type, family);
}

void
ember_stun_builder_add_channel_number (EmberStunBuilder *b, guint16 channel)
{
  guint8 *p = ember_stun_builder_reserve (b, EMBER_STUN_ATTR_CHANNEL_NUMBER, 4);
  if (p != NULL)
    {
      wr16 (p, channel);
      wr16 (p + 2, 0);
    }
}

void
ember_stun_builder_add_even_port (EmberStunBuilder *b, gboolean reserve)
{
  guint8 *p = ember_stun_builder_reserve (b, EMBER_STUN_ATTR_EVEN_PORT, 1);
  if (p != NULL)
    p[0] = reserve ? 0x80 : 0;
}

void
ember_stun_builder_add_password_algorithm (EmberStunBuilder *b, guint16 algorithm)
{
  /* MD5 and SHA-256 take no parameters (RFC 8489 §18.5.1). */
  guint8 *p = ember_stun_builder_reserve (b, EMBER_STUN_ATTR_PASSWORD_ALGORITHM, 4);
  if (p != NULL)
    {
      wr16 (p, algorithm);
      wr16 (p + 2, 0);
    }
}

void
ember_stun_builder_add_password_algorithms (EmberStunBuilder *b, const guint16 *algorithms,
                                            guint n)
{
  guint8 *p = ember_stun_builder_reserve (b, EMBER_STUN_ATTR_PASSWORD_ALGORITHMS, 4 * (gsize) n);
  if (p != NULL)
    for (guint i = 0; i < n; i++)
      {
        wr16 (p + 4 * i, algorithms[i]);
        wr16 (p + 4 * i + 2, 0);
      }
}
