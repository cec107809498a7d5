/* csum — RFC 1071 Internet checksum. See csum.h. */
#include "csum.h"

guint64
tun_csum_add (guint64 sum, const guint8 *data, gsize len)
{
  gsize i = 0;
  /* 32 bits at a time into a 64-bit accumulator: no carry is lost for
   * any packet shorter than 2^32 words (RFC 1071 §2(B), deferred carries). */
  for (; i + 4 <= len; i += 4)
    sum += tun_read32 (data + i);
  for (; i + 2 <= len; i += 2)
    sum += tun_read16 (data + i);
  if (i < len)
    sum += (guint64) data[i] << 8;
  return sum;
}

guint16
tun_csum_fold (guint64 sum)
{
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (guint16) sum;
}

guint64
tun_csum_pseudo (guint family, const guint8 *src, const guint8 *dst, guint8 proto,
                 guint32 l4_len)
{
  gsize alen = family == 4 ? 4 : 16;
  guint64 sum = tun_csum_add (0, src, alen);
  sum = tun_csum_add (sum, dst, alen);
  return sum + proto + l4_len;
}
