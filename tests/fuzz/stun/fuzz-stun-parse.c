/* libFuzzer target: the STUN codec parser, every typed getter, integrity
 * and fingerprint checks, and ChannelData framing, on arbitrary bytes. */
#include "stun/message.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  EmberStunMessage m;
  guint16 ch;
  const guint8 *v;
  gsize len;
  ember_stun_classify (data, size);
  ember_stun_channel_data_parse (data, size, &ch, &v, &len);
  ember_stun_channel_data_parse_rfc5766 (data, size, &ch, &v, &len);
  if (ember_stun_message_parse (&m, data, size) != EMBER_STUN_OK)
    return 0;
  EmberAddr a[8];
  guint32 u32;
  guint64 u64;
  guint code, n;
  guint16 types[8], alg;
  gboolean b;
  guint8 fam;
  gsize off = 0;
  for (guint i = 0; i < m.n_attributes; i++)
    {
      guint16 t = m.attributes[i].type;
      ember_stun_message_get_address (&m, t, a);
      ember_stun_message_get_xor_address (&m, t, a);
      ember_stun_message_get_bytes (&m, t, &v, &len);
      ember_stun_message_get_u32 (&m, t, &u32);
      ember_stun_message_get_u64 (&m, t, &u64);
      ember_stun_message_get_address_family (&m, t, &fam);
    }
  ember_stun_message_get_xor_addresses (&m, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, a, 8);
  ember_stun_message_get_error_code (&m, &code, &v, &len);
  ember_stun_message_get_unknown_attributes (&m, types, 8, &n);
  ember_stun_message_get_requested_transport (&m, &fam);
  ember_stun_message_get_address_error_code (&m, &fam, &code, &v, &len);
  ember_stun_message_get_channel_number (&m, &ch);
  ember_stun_message_get_even_port (&m, &b);
  ember_stun_message_get_password_algorithm (&m, &alg, &v, &len);
  while (ember_stun_message_next_password_algorithm (&m, &off, &alg, &v, &len) == EMBER_STUN_OK)
    ;
  ember_stun_message_verify_integrity (&m, (const guint8 *) "key", 3);
  ember_stun_message_verify_integrity_sha256 (&m, (const guint8 *) "key", 3);
  ember_stun_message_verify_fingerprint (&m);
  return 0;
}
