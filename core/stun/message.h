/* stun/message — STUN/TURN message codec (RFC 8489, RFC 8656, RFC 8445).
 *
 * Pure functions over caller-owned buffers. Parsing produces an
 * EmberStunMessage view that points into the caller's bytes (it owns
 * nothing and must not outlive them); the typed getters decode one
 * attribute each. Building appends attributes to a caller buffer through
 * an EmberStunBuilder whose error is sticky, so a sequence of add calls
 * is checked once at finish. Neither side allocates or reads a clock;
 * every function may be called from any thread on distinct data.
 *
 * Integrity (integrity.c) and ChannelData framing (channel_data.c) are
 * declared here too so a user includes one header.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "stun/wire.h"

G_BEGIN_DECLS

typedef enum {
  EMBER_STUN_OK = 0,
  EMBER_STUN_ERR_TRUNCATED,         /* fewer bytes than a length claims */
  EMBER_STUN_ERR_NOT_STUN,          /* top bits, cookie or length%4 wrong */
  EMBER_STUN_ERR_BAD_ATTRIBUTE,     /* an attribute's value is malformed */
  EMBER_STUN_ERR_TOO_MANY_ATTRIBUTES,
  EMBER_STUN_ERR_MISSING,           /* the requested attribute is absent */
  EMBER_STUN_ERR_NO_SPACE,          /* builder: buffer too small */
  EMBER_STUN_ERR_BAD_ARGUMENT,      /* builder: value out of range */
  EMBER_STUN_ERR_BAD_FINGERPRINT,
  EMBER_STUN_ERR_BAD_INTEGRITY,
  EMBER_STUN_ERR_CRYPTO,            /* the crypto library failed */
} EmberStunResult;

const char *ember_stun_result_to_string (EmberStunResult result);

/* Attributes kept per parsed message. A real message carries well under
 * 20; a message with more is refused rather than partially understood. */
#define EMBER_STUN_MAX_ATTRIBUTES 48
/* Unknown comprehension-required types remembered for a 420 response. */
#define EMBER_STUN_MAX_UNKNOWN 8

typedef struct {
  guint16 type;
  guint16 len;     /* value length without padding */
  guint16 offset;  /* offset of the value from the message start */
} EmberStunAttribute;

typedef struct {
  const guint8 *data;   /* the message: header + attributes */
  gsize len;            /* 20 + header length field */
  guint16 method;       /* EMBER_STUN_METHOD_* */
  guint16 klass;        /* EMBER_STUN_CLASS_* */
  guint8 transaction_id[EMBER_STUN_TRANSACTION_ID_LEN];
  guint n_attributes;
  EmberStunAttribute attributes[EMBER_STUN_MAX_ATTRIBUTES];
  /* Comprehension-required attribute types (0x0000-0x7FFF) this codec
   * does not know, in order of appearance (RFC 8489 §6.3.1). */
  guint n_unknown;
  guint16 unknown[EMBER_STUN_MAX_UNKNOWN];
  /* Indices into attributes[], or -1. */
  gint integrity;
  gint integrity_sha256;
  gint fingerprint;
} EmberStunMessage;

/* What a datagram on a shared port is (RFC 7983 §7, RFC 8656 §12). */
typedef enum {
  EMBER_STUN_KIND_OTHER = 0,
  EMBER_STUN_KIND_STUN,
  EMBER_STUN_KIND_CHANNEL_DATA,
} EmberStunKind;

EmberStunKind ember_stun_classify (const guint8 *buf, gsize len);

/* Compose / split the 14-bit type field (RFC 8489 §5). */
guint16 ember_stun_message_type (guint16 method, guint16 klass);
guint16 ember_stun_type_method (guint16 type);
guint16 ember_stun_type_class (guint16 type);

/* Parses one message occupying buf[0..len). Trailing bytes after the
 * length the header claims are refused (EMBER_STUN_ERR_NOT_STUN) since a
 * UDP datagram carries exactly one message. Attributes after
 * MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT,
 * and after FINGERPRINT, are ignored as RFC 8489 §14.5/§14.7 require.
 * Does not verify integrity or fingerprint: see below. */
EmberStunResult ember_stun_message_parse (EmberStunMessage *msg, const guint8 *buf, gsize len);

/* First attribute of `type`, or NULL. */
const EmberStunAttribute *ember_stun_message_find (const EmberStunMessage *msg, guint16 type);
gboolean ember_stun_message_has (const EmberStunMessage *msg, guint16 type);
const guint8 *ember_stun_attribute_value (const EmberStunMessage *msg,
                                          const EmberStunAttribute *attr);
/* Whether `type` is one this codec knows (else it is "unknown"). */
gboolean ember_stun_attribute_is_known (guint16 type);

/* Typed getters: EMBER_STUN_ERR_MISSING when absent,
 * EMBER_STUN_ERR_BAD_ATTRIBUTE when malformed. Byte strings point into
 * the message and are not NUL-terminated. */
EmberStunResult ember_stun_message_get_address (const EmberStunMessage *msg, guint16 type,
                                                EmberAddr *out);
EmberStunResult ember_stun_message_get_xor_address (const EmberStunMessage *msg, guint16 type,
                                                    EmberAddr *out);
/* Every occurrence of an XOR address attribute (CreatePermission may
 * carry several XOR-PEER-ADDRESS, RFC 8656 §9.1). Returns the count
 * stored (≤ max) or -1 if one is malformed. */
gint ember_stun_message_get_xor_addresses (const EmberStunMessage *msg, guint16 type,
                                           EmberAddr *out, guint max);
EmberStunResult ember_stun_message_get_bytes (const EmberStunMessage *msg, guint16 type,
                                              const guint8 **value, gsize *len);
EmberStunResult ember_stun_message_get_u32 (const EmberStunMessage *msg, guint16 type,
                                            guint32 *out);
EmberStunResult ember_stun_message_get_u64 (const EmberStunMessage *msg, guint16 type,
                                            guint64 *out);
EmberStunResult ember_stun_message_get_error_code (const EmberStunMessage *msg, guint *code,
                                                   const guint8 **reason, gsize *reason_len);
/* UNKNOWN-ATTRIBUTES list; *n_out is the number stored (≤ max). */
EmberStunResult ember_stun_message_get_unknown_attributes (const EmberStunMessage *msg,
                                                           guint16 *types, guint max,
                                                           guint *n_out);
EmberStunResult ember_stun_message_get_requested_transport (const EmberStunMessage *msg,
                                                            guint8 *protocol);
/* REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY: EMBER_STUN_FAMILY_*. */
EmberStunResult ember_stun_message_get_address_family (const EmberStunMessage *msg,
                                                       guint16 type, guint8 *family);
EmberStunResult ember_stun_message_get_address_error_code (const EmberStunMessage *msg,
                                                           guint8 *family, guint *code,
                                                           const guint8 **reason,
                                                           gsize *reason_len);
EmberStunResult ember_stun_message_get_channel_number (const EmberStunMessage *msg,
                                                       guint16 *channel);
EmberStunResult ember_stun_message_get_even_port (const EmberStunMessage *msg,
                                                  gboolean *reserve);
EmberStunResult ember_stun_message_get_password_algorithm (const EmberStunMessage *msg,
                                                           guint16 *algorithm,
                                                           const guint8 **params,
                                                           gsize *params_len);
/* PASSWORD-ALGORITHMS: iterate with *offset starting at 0. Returns
 * EMBER_STUN_ERR_MISSING after the last entry. */
EmberStunResult ember_stun_message_next_password_algorithm (const EmberStunMessage *msg,
                                                            gsize *offset,
                                                            guint16 *algorithm,
                                                            const guint8 **params,
                                                            gsize *params_len);

/* ---- Building ------------------------------------------------------- */

typedef struct {
  guint8 *buf;
  gsize cap;
  gsize len;
  EmberStunResult error;  /* sticky: the first failure */
} EmberStunBuilder;

/* Writes the header. `transaction_id` is 12 bytes chosen by the caller
 * (from its injected RNG) or copied from the request being answered. */
void ember_stun_builder_init (EmberStunBuilder *b, guint8 *buf, gsize cap,
                              guint16 method, guint16 klass, const guint8 *transaction_id);
/* Appends type, length, value and zeroed padding to a multiple of 4. */
void ember_stun_builder_add (EmberStunBuilder *b, guint16 type, const void *value, gsize len);
/* Reserves an attribute of `len` bytes (padding zeroed) and returns where
 * its value goes, or NULL with the error set; for writing a value in
 * place (e.g. DATA) without a copy. */
guint8 *ember_stun_builder_reserve (EmberStunBuilder *b, guint16 type, gsize len);
void ember_stun_builder_add_flag (EmberStunBuilder *b, guint16 type);
void ember_stun_builder_add_string (EmberStunBuilder *b, guint16 type, const char *s);
void ember_stun_builder_add_u32 (EmberStunBuilder *b, guint16 type, guint32 v);
void ember_stun_builder_add_u64 (EmberStunBuilder *b, guint16 type, guint64 v);
void ember_stun_builder_add_address (EmberStunBuilder *b, guint16 type, const EmberAddr *addr);
void ember_stun_builder_add_xor_address (EmberStunBuilder *b, guint16 type, const EmberAddr *addr);
/* Reason NULL: a standard phrase for the code. */
void ember_stun_builder_add_error_code (EmberStunBuilder *b, guint code, const char *reason);
void ember_stun_builder_add_unknown_attributes (EmberStunBuilder *b, const guint16 *types,
                                                guint n);
void ember_stun_builder_add_requested_transport (EmberStunBuilder *b, guint8 protocol);
void ember_stun_builder_add_address_family (EmberStunBuilder *b, guint16 type, guint8 family);
void ember_stun_builder_add_address_error_code (EmberStunBuilder *b, guint8 family, guint code,
                                                const char *reason);
void ember_stun_builder_add_channel_number (EmberStunBuilder *b, guint16 channel);
void ember_stun_builder_add_even_port (EmberStunBuilder *b, gboolean reserve);
void ember_stun_builder_add_password_algorithm (EmberStunBuilder *b, guint16 algorithm);
void ember_stun_builder_add_password_algorithms (EmberStunBuilder *b, const guint16 *algorithms,
                                                 guint n);
/* MESSAGE-INTEGRITY (HMAC-SHA1) / -SHA256 over everything so far, with
 * the header length covering the new attribute (RFC 8489 §14.5/§14.6).
 * `key`: the short-term password, or a long-term key from below. */
void ember_stun_builder_add_integrity (EmberStunBuilder *b, const guint8 *key, gsize key_len);
void ember_stun_builder_add_integrity_sha256 (EmberStunBuilder *b, const guint8 *key,
                                              gsize key_len);
/* FINGERPRINT: must be last (RFC 8489 §14.7). */
void ember_stun_builder_add_fingerprint (EmberStunBuilder *b);
/* The message length, or 0 with *error set (error may be NULL). */
gsize ember_stun_builder_finish (EmberStunBuilder *b, EmberStunResult *error);

/* ---- Integrity (integrity.c) ---------------------------------------- */

/* RFC 8489 §9.2.2: key = MD5(username ":" realm ":" password). The
 * strings must already be prepared (SASLprep / OpaqueString). */
void ember_stun_long_term_key_md5 (const guint8 *username, gsize username_len,
                                   const guint8 *realm, gsize realm_len,
                                   const guint8 *password, gsize password_len,
                                   guint8 key[EMBER_STUN_LONG_TERM_KEY_MD5_LEN]);
void ember_stun_long_term_key_sha256 (const guint8 *username, gsize username_len,
                                      const guint8 *realm, gsize realm_len,
                                      const guint8 *password, gsize password_len,
                                      guint8 key[EMBER_STUN_LONG_TERM_KEY_SHA256_LEN]);
/* EMBER_STUN_ERR_MISSING without the attribute; the HMAC is compared in
 * constant time. */
EmberStunResult ember_stun_message_verify_integrity (const EmberStunMessage *msg,
                                                     const guint8 *key, gsize key_len);
EmberStunResult ember_stun_message_verify_integrity_sha256 (const EmberStunMessage *msg,
                                                            const guint8 *key, gsize key_len);
EmberStunResult ember_stun_message_verify_fingerprint (const EmberStunMessage *msg);
/* CRC-32 (ISO 3309, as zlib's crc32) of buf. */
guint32 ember_stun_crc32 (const guint8 *buf, gsize len);
/* Constant-time comparison: TRUE when equal. */
gboolean ember_stun_equal_ct (const guint8 *a, const guint8 *b, gsize len);

/* ---- ChannelData (channel_data.c), RFC 8656 §12.4 ------------------- */

/* Parses a ChannelData message in a datagram: channel number in
 * 0x4000-0x4FFF and a length not beyond the datagram. Trailing padding is
 * allowed (§12.5). */
EmberStunResult ember_stun_channel_data_parse (const guint8 *buf, gsize len, guint16 *channel,
                                               const guint8 **data, gsize *data_len);
/* The same, accepting the RFC 5766 channel range 0x4000-0x7FFF. */
EmberStunResult ember_stun_channel_data_parse_rfc5766 (const guint8 *buf, gsize len,
                                                       guint16 *channel, const guint8 **data,
                                                       gsize *data_len);
/* Writes header + data + zeroed padding to buf (channel 0x4000-0x7FFF); returns the length or 0
 * when it does not fit or the channel/length is out of range. `data` may
 * already sit at buf + 4 (then it is not copied). */
gsize ember_stun_channel_data_build (guint8 *buf, gsize cap, guint16 channel,
                                     const guint8 *data, gsize data_len);
/* Writes only the 4-byte header; for callers that placed the payload. */
void ember_stun_channel_data_write_header (guint8 *buf, guint16 channel, guint16 data_len);
/* 4 + data_len rounded up to 4: the length of a frame on a stream. */
gsize ember_stun_channel_data_frame_len (gsize data_len);

G_END_DECLS
