/* checksum — RFC 1071 sums and RFC 1624 incremental updates. */
#include "packet/checksum.h"

guint32
ember_checksum_add (guint32 sum, const guint8 *data, gsize len)
{
  /* A 64-bit accumulator cannot overflow for any buffer this module sees
   * (2^48 words); fold it back to keep the guint32 interface. */
  guint64 acc = sum;
  gsize i = 0;

  for (; i + 1 < len; i += 2)
    acc += (guint32) ((data[i] << 8) | data[i + 1]);
  if (i < len)
    acc += (guint32) (data[i] << 8);

  while (acc >> 32)
    acc = (acc & 0xffffffffu) + (acc >> 32);
  /* Keep the result small enough that callers may keep adding. */
  while (acc >> 16)
    acc = (acc & 0xffffu) + (acc >> 16);
  return (guint32) acc;
}

guint16
ember_checksum_fold (guint32 sum)
{
  while (sum >> 16)
    sum = (sum & 0xffffu) + (sum >> 16);
  return (guint16) sum;
}

guint16
ember_checksum_finish (guint32 sum)
{
  return (guint16) ~ember_checksum_fold (sum);
}

guint16
ember_checksum_adjust (guint16 checksum, guint16 old_sum, guint16 new_sum)
{
  guint32 sum = (guint16) ~checksum;

  sum += (guint16) ~old_sum;
  sum += new_sum;
  return (guint16) ~ember_checksum_fold (sum);
}

guint16
ember_checksum_replace (guint16 checksum, const guint8 *old_bytes,
                        const guint8 *new_bytes, gsize len)
{
  return ember_checksum_adjust (checksum,
                                ember_checksum_fold (ember_checksum_add (0, old_bytes, len)),
                                ember_checksum_fold (ember_checksum_add (0, new_bytes, len)));
}
