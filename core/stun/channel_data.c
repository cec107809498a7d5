/* stun/channel_data.c — TURN ChannelData framing (RFC 8656 §12.4,
 * §12.5). See message.h. */
#include "stun/message.h"
#include "stun/bytes.h"

#include <string.h>

static EmberStunResult
parse (const guint8 *buf, gsize len, guint16 max, guint16 *channel, const guint8 **data,
       gsize *data_len)
{
  if (len < EMBER_STUN_CHANNEL_DATA_HEADER_LEN)
    return EMBER_STUN_ERR_TRUNCATED;
  guint16 ch = rd16 (buf);
  gsize dlen = rd16 (buf + 2);
  if (ch < EMBER_STUN_CHANNEL_MIN || ch > max)
    return EMBER_STUN_ERR_NOT_STUN;
  /* §12.5: a datagram shorter than 4 + length is discarded; longer is
   * fine (padding, or a client that pads to 4). */
  if (len - EMBER_STUN_CHANNEL_DATA_HEADER_LEN < dlen)
    return EMBER_STUN_ERR_TRUNCATED;
  *channel = ch;
  *data = buf + EMBER_STUN_CHANNEL_DATA_HEADER_LEN;
  *data_len = dlen;
  return EMBER_STUN_OK;
}

EmberStunResult
ember_stun_channel_data_parse (const guint8 *buf, gsize len, guint16 *channel,
                               const guint8 **data, gsize *data_len)
{
  return parse (buf, len, EMBER_STUN_CHANNEL_MAX, channel, data, data_len);
}

EmberStunResult
ember_stun_channel_data_parse_rfc5766 (const guint8 *buf, gsize len, guint16 *channel,
                                       const guint8 **data, gsize *data_len)
{
  return parse (buf, len, EMBER_STUN_CHANNEL_MAX_RFC5766, channel, data, data_len);
}

void
ember_stun_channel_data_write_header (guint8 *buf, guint16 channel, guint16 data_len)
{
  wr16 (buf, channel);
  wr16 (buf + 2, data_len);
}

gsize
ember_stun_channel_data_frame_len (gsize data_len)
{
  return EMBER_STUN_CHANNEL_DATA_HEADER_LEN + ((data_len + 3) & ~(gsize) 3);
}

gsize
ember_stun_channel_data_build (guint8 *buf, gsize cap, guint16 channel, const guint8 *data,
                               gsize data_len)
{
  if (channel < EMBER_STUN_CHANNEL_MIN || channel > EMBER_STUN_CHANNEL_MAX_RFC5766 ||
      data_len > 0xFFFF)
    return 0;
  gsize total = ember_stun_channel_data_frame_len (data_len);
  if (cap < total)
    return 0;
  if (data != buf + EMBER_STUN_CHANNEL_DATA_HEADER_LEN && data_len > 0)
    memmove (buf + EMBER_STUN_CHANNEL_DATA_HEADER_LEN, data, data_len);
  ember_stun_channel_data_write_header (buf, channel, (guint16) data_len);
  memset (buf + EMBER_STUN_CHANNEL_DATA_HEADER_LEN + data_len, 0,
          total - EMBER_STUN_CHANNEL_DATA_HEADER_LEN - data_len);
  return total;
}
