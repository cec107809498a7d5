/* stun/message.c — header and attribute framing: parse and build.
 * See message.h. */
#include "stun/message.h"

#include "stun/bytes.h"

#include <string.h>

const char *
ember_stun_result_to_string (EmberStunResult result)
{
  switch (result)
    {
    case EMBER_STUN_OK: return "ok";
    case EMBER_STUN_ERR_TRUNCATED: return "truncated";
    case EMBER_STUN_ERR_NOT_STUN: return "not a STUN message";
    case EMBER_STUN_ERR_BAD_ATTRIBUTE: return "malformed attribute";
    case EMBER_STUN_ERR_TOO_MANY_ATTRIBUTES: return "too many attributes";
    case EMBER_STUN_ERR_MISSING: return "attribute missing";
    case EMBER_STUN_ERR_NO_SPACE: return "buffer too small";
    case EMBER_STUN_ERR_BAD_ARGUMENT: return "value out of range";
    case EMBER_STUN_ERR_BAD_FINGERPRINT: return "bad fingerprint";
    case EMBER_STUN_ERR_BAD_INTEGRITY: return "bad message integrity";
    case EMBER_STUN_ERR_CRYPTO: return "crypto failure";
    }
  return "unknown error";
}

EmberStunKind
ember_stun_classify (const guint8 *buf, gsize len)
{
  if (len == 0)
    return EMBER_STUN_KIND_OTHER;
  /* RFC 7983 §7: 0..3 STUN, 64..79 TURN ChannelData. */
  if (buf[0] <= EMBER_STUN_FIRST_BYTE_STUN_MAX)
    return EMBER_STUN_KIND_STUN;
  if (buf[0] >= EMBER_STUN_FIRST_BYTE_CHANNEL_MIN && buf[0] <= EMBER_STUN_FIRST_BYTE_CHANNEL_MAX)
    return EMBER_STUN_KIND_CHANNEL_DATA;
  return EMBER_STUN_KIND_OTHER;
}

/* RFC 8489 §5: M11..M7 C1 M6..M4 C0 M3..M0. */
guint16
ember_stun_message_type (guint16 method, guint16 klass)
{
  method &= 0x0FFF;
  return (guint16) ((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
                    (klass & 0x0110));
}

guint16
ember_stun_type_method (guint16 type)
{
  return (guint16) ((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}

guint16
ember_stun_type_class (guint16 type)
{
  return (guint16) (type & 0x0110);
}

gboolean
ember_stun_attribute_is_known (guint16 type)
{
  switch (type)
    {
    case EMBER_STUN_ATTR_MAPPED_ADDRESS:
    case EMBER_STUN_ATTR_USERNAME:
    case EMBER_STUN_ATTR_MESSAGE_INTEGRITY:
    case EMBER_STUN_ATTR_ERROR_CODE:
    case EMBER_STUN_ATTR_UNKNOWN_ATTRIBUTES:
    case EMBER_STUN_ATTR_CHANNEL_NUMBER:
    case EMBER_STUN_ATTR_LIFETIME:
    case EMBER_STUN_ATTR_XOR_PEER_ADDRESS:
    case EMBER_STUN_ATTR_DATA:
    case EMBER_STUN_ATTR_REALM:
    case EMBER_STUN_ATTR_NONCE:
    case EMBER_STUN_ATTR_XOR_RELAYED_ADDRESS:
    case EMBER_STUN_ATTR_REQUESTED_ADDRESS_FAMILY:
    case EMBER_STUN_ATTR_EVEN_PORT:
    case EMBER_STUN_ATTR_REQUESTED_TRANSPORT:
    case EMBER_STUN_ATTR_DONT_FRAGMENT:
    case EMBER_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
    case EMBER_STUN_ATTR_PASSWORD_ALGORITHM:
    case EMBER_STUN_ATTR_USERHASH:
    case EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS:
    case EMBER_STUN_ATTR_RESERVATION_TOKEN:
    case EMBER_STUN_ATTR_PRIORITY:
    case EMBER_STUN_ATTR_USE_CANDIDATE:
    case EMBER_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY:
    case EMBER_STUN_ATTR_ADDRESS_ERROR_CODE:
    case EMBER_STUN_ATTR_PASSWORD_ALGORITHMS:
    case EMBER_STUN_ATTR_ALTERNATE_DOMAIN:
    case EMBER_STUN_ATTR_ICMP:
    case EMBER_STUN_ATTR_SOFTWARE:
    case EMBER_STUN_ATTR_ALTERNATE_SERVER:
    case EMBER_STUN_ATTR_FINGERPRINT:
    case EMBER_STUN_ATTR_ICE_CONTROLLED:
    case EMBER_STUN_ATTR_ICE_CONTROLLING:
      return TRUE;
    default:
      return FALSE;
    }
}

EmberStunResult
ember_stun_message_parse (EmberStunMessage *msg, const guint8 *buf, gsize len)
{
  msg->data = buf;
  msg->len = 0;
  msg->n_attributes = 0;
  msg->n_unknown = 0;
  msg->integrity = -1;
  msg->integrity_sha256 = -1;
  msg->fingerprint = -1;

  if (len < EMBER_STUN_HEADER_LEN)
    return EMBER_STUN_ERR_TRUNCATED;
  guint16 type = rd16 (buf);
  guint16 body = rd16 (buf + 2);
  /* RFC 8489 §5: the two top bits are zero, the length a multiple of 4,
   * and the cookie fixed. */
  if ((type & 0xC000) != 0 || (body & 3) != 0 || rd32 (buf + 4) != EMBER_STUN_MAGIC_COOKIE)
    return EMBER_STUN_ERR_NOT_STUN;
  if (len < EMBER_STUN_HEADER_LEN + (gsize) body)
    return EMBER_STUN_ERR_TRUNCATED;
  if (len > EMBER_STUN_HEADER_LEN + (gsize) body)
    return EMBER_STUN_ERR_NOT_STUN;

  msg->len = EMBER_STUN_HEADER_LEN + (gsize) body;
  msg->method = ember_stun_type_method (type);
  msg->klass = ember_stun_type_class (type);
  memcpy (msg->transaction_id, buf + 8, EMBER_STUN_TRANSACTION_ID_LEN);

  gsize off = EMBER_STUN_HEADER_LEN;
  while (off < msg->len)
    {
      if (msg->len - off < EMBER_STUN_ATTR_HEADER_LEN)
        return EMBER_STUN_ERR_TRUNCATED;
      guint16 at = rd16 (buf + off);
      guint16 alen = rd16 (buf + off + 2);
      gsize value = off + EMBER_STUN_ATTR_HEADER_LEN;
      gsize padded = ((gsize) alen + 3) & ~(gsize) 3;
      if (msg->len - value < padded)
        return EMBER_STUN_ERR_TRUNCATED;
      off = value + padded;

      /* RFC 8489 §14.7: nothing may follow FINGERPRINT. */
      if (msg->fingerprint >= 0)
        return EMBER_STUN_ERR_BAD_ATTRIBUTE;
      /* RFC 8489 §14.5/§14.6: after MESSAGE-INTEGRITY only
       * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count; after
       * MESSAGE-INTEGRITY-SHA256 only FINGERPRINT. Others are ignored. */
      if (msg->integrity_sha256 >= 0 && at != EMBER_STUN_ATTR_FINGERPRINT)
        continue;
      if (msg->integrity >= 0 && at != EMBER_STUN_ATTR_FINGERPRINT &&
          at != EMBER_STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
        continue;

      if (msg->n_attributes >= EMBER_STUN_MAX_ATTRIBUTES)
        return EMBER_STUN_ERR_TOO_MANY_ATTRIBUTES;
      gint idx = (gint) msg->n_attributes;
      EmberStunAttribute *a = &msg->attributes[msg->n_attributes++];
      a->type = at;
      a->len = alen;
      a->offset = (guint16) value;

      switch (at)
        {
        case EMBER_STUN_ATTR_MESSAGE_INTEGRITY:
          if (alen != EMBER_STUN_INTEGRITY_LEN)
            return EMBER_STUN_ERR_BAD_ATTRIBUTE;
          msg->integrity = idx;
          break;
        case EMBER_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
          /* §14.6: 16..32 bytes, a multiple of 4. */
          if (alen < EMBER_STUN_INTEGRITY_SHA256_MIN_LEN || alen > EMBER_STUN_INTEGRITY_SHA256_LEN ||
              (alen & 3) != 0)
            return EMBER_STUN_ERR_BAD_ATTRIBUTE;
          msg->integrity_sha256 = idx;
          break;
        case EMBER_STUN_ATTR_FINGERPRINT:
          if (alen != EMBER_STUN_FINGERPRINT_LEN)
            return EMBER_STUN_ERR_BAD_ATTRIBUTE;
          msg->fingerprint = idx;
          break;
        default:
          if (EMBER_STUN_ATTR_IS_COMPREHENSION_REQUIRED (at) && !ember_stun_attribute_is_known (at) &&
              msg->n_unknown < EMBER_STUN_MAX_UNKNOWN)
            msg->unknown[msg->n_unknown++] = at;
          break;
        }
    }
  return EMBER_STUN_OK;
}

const EmberStunAttribute *
ember_stun_message_find (const EmberStunMessage *msg, guint16 type)
{
  for (guint i = 0; i < msg->n_attributes; i++)
    if (msg->attributes[i].type == type)
      return &msg->attributes[i];
  return NULL;
}

gboolean
ember_stun_message_has (const EmberStunMessage *msg, guint16 type)
{
  return ember_stun_message_find (msg, type) != NULL;
}

const guint8 *
ember_stun_attribute_value (const EmberStunMessage *msg, const EmberStunAttribute *attr)
{
  return msg->data + attr->offset;
}

/* ---- Building ------------------------------------------------------- */

static void
set_body_len (EmberStunBuilder *b, gsize total)
{
  wr16 (b->buf + 2, (guint16) (total - EMBER_STUN_HEADER_LEN));
}

void
ember_stun_builder_init (EmberStunBuilder *b, guint8 *buf, gsize cap, guint16 method,
                         guint16 klass, const guint8 *transaction_id)
{
  b->buf = buf;
  b->cap = cap;
  b->len = 0;
  b->error = EMBER_STUN_OK;
  if (cap < EMBER_STUN_HEADER_LEN)
    {
      b->error = EMBER_STUN_ERR_NO_SPACE;
      return;
    }
  wr16 (buf, ember_stun_message_type (method, klass));
  wr16 (buf + 2, 0);
  buf[4] = 0x21;
  buf[5] = 0x12;
  buf[6] = 0xA4;
  buf[7] = 0x42;
  memcpy (buf + 8, transaction_id, EMBER_STUN_TRANSACTION_ID_LEN);
  b->len = EMBER_STUN_HEADER_LEN;
}

/* Padding is zeroed here so no uninitialised byte ever leaves the
 * buffer (RFC 8489 §14 leaves its value open). The header length is kept
 * current so integrity can be computed at any point. */
guint8 *
ember_stun_builder_reserve (EmberStunBuilder *b, guint16 type, gsize len)
{
  if (b->error != EMBER_STUN_OK)
    return NULL;
  if (len > 0xFFFF)
    {
      b->error = EMBER_STUN_ERR_BAD_ARGUMENT;
      return NULL;
    }
  gsize padded = (len + 3) & ~(gsize) 3;
  gsize need = EMBER_STUN_ATTR_HEADER_LEN + padded;
  if (b->cap - b->len < need || b->len + need - EMBER_STUN_HEADER_LEN > 0xFFFF)
    {
      b->error = EMBER_STUN_ERR_NO_SPACE;
      return NULL;
    }
  guint8 *p = b->buf + b->len;
  wr16 (p, type);
  wr16 (p + 2, (guint16) len);
  memset (p + 4 + len, 0, padded - len);
  b->len += need;
  set_body_len (b, b->len);
  return p + 4;
}

void
ember_stun_builder_add (EmberStunBuilder *b, guint16 type, const void *value, gsize len)
{
  guint8 *p = ember_stun_builder_reserve (b, type, len);
  if (p != NULL && len > 0)
    memcpy (p, value, len);
}

void
ember_stun_builder_add_flag (EmberStunBuilder *b, guint16 type)
{
  ember_stun_builder_add (b, type, NULL, 0);
}

gsize
ember_stun_builder_finish (EmberStunBuilder *b, EmberStunResult *error)
{
  if (error != NULL)
    *error = b->error;
  return b->error == EMBER_STUN_OK ? b->len : 0;
}
