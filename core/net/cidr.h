/* net/cidr.h — IP addresses and CIDR prefixes: the one parser.
 *
 * Part of ember-net, the small static library that libember-core and the
 * plugins both link (plugins cannot link libember-core). Everything that
 * reads "10.0.0.0/8" or "fd00::1" from a config file, a command line or
 * the portal goes through ember_cidr_parse() / ember_addr_parse(), so the
 * same text means the same thing everywhere and every refusal reads the
 * same way.
 *
 * Syntax accepted (nothing else):
 *   - IPv4 as four decimal octets 0-255 without leading zeros
 *     ("010.0.0.1" is refused: inet_aton() would read it as octal);
 *   - IPv6 in any RFC 4291 §2.2 form, including a trailing dotted IPv4
 *     ("::ffff:192.0.2.1"); an IPv4-mapped address stays IPv6 (family 6),
 *     callers that want it as IPv4 unmap it themselves;
 *   - "/LEN" with LEN in decimal, no sign, no leading zero, at most 32
 *     or 128 (iproute2 reads "/010" as octal 8: refused);
 *   - no white space anywhere (callers strip their list items), no zone
 *     index ("fe80::1%eth0": a prefix is not tied to a link).
 *
 * Values are plain structs the caller owns; no function keeps a pointer
 * to its arguments. Every function is pure and may be called from any
 * thread.
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h" /* EmberAddr, EMBER_ADDR_IPV4/6 */

G_BEGIN_DECLS

#define EMBER_NET_ERROR (ember_net_error_quark ())
GQuark ember_net_error_quark (void);

typedef enum {
  EMBER_NET_ERROR_ADDRESS,   /* not an IPv4 or IPv6 address */
  EMBER_NET_ERROR_PREFIX,    /* prefix length missing, malformed or too long */
  EMBER_NET_ERROR_HOST_BITS, /* bits set past the prefix length */
  EMBER_NET_ERROR_PORT,      /* port missing or out of range */
} EmberNetError;

/* A prefix: `prefix` leading bits of `addr`. family is EMBER_ADDR_IPV4 (4)
 * or EMBER_ADDR_IPV6 (6); addr holds 4 or 16 bytes in network order and
 * the unused tail is zero. Whether bits past the prefix may be set depends
 * on how it was made (see EMBER_CIDR_PARSE_KEEP_HOST_BITS); the functions
 * below that match addresses ignore them. 18 bytes, copy it freely. */
typedef struct {
  guint8 family;
  guint8 prefix;
  guint8 addr[16];
} EmberCidr;

/* "ffff:...:ffff/128" and "255.255.255.255/32" fit with room to spare;
 * 46 is INET6_ADDRSTRLEN. */
#define EMBER_ADDR_STRLEN 46
#define EMBER_CIDR_STRLEN (EMBER_ADDR_STRLEN + 4)

typedef enum {
  /* "NET/LEN" only, with every bit past LEN clear. Routes, filters,
   * resources: a set host bit is almost always a typo. */
  EMBER_CIDR_PARSE_STRICT = 0,
  /* An address alone is accepted and means /32 or /128. */
  EMBER_CIDR_PARSE_BARE = 1 << 0,
  /* Bits past LEN are cleared instead of refused ("10.1.2.3/8" becomes
   * 10.0.0.0/8), as `wg` does for AllowedIPs. */
  EMBER_CIDR_PARSE_MASK_HOST_BITS = 1 << 1,
  /* Bits past LEN are kept: an interface address with the length of its
   * on-link network ("10.0.0.1/24"). Not with MASK_HOST_BITS. */
  EMBER_CIDR_PARSE_KEEP_HOST_BITS = 1 << 2,
} EmberCidrParseFlags;

/* Parses `text` into *out. On failure *out is zeroed and *error names the
 * text (quoted, escaped, cut at 64 characters) and what was expected;
 * callers prefix the field: "[tun-linux] route: \"10.0.0.1/8\" has host
 * bits set ...". */
gboolean ember_cidr_parse (const char *text, EmberCidrParseFlags flags, EmberCidr *out,
                           GError **error);

/* Builds a prefix from raw address bytes (4 or 16 of `family`), host bits
 * kept. FALSE if family is not 4/6 or prefix is longer than the address. */
gboolean ember_cidr_init (EmberCidr *out, guint family, const guint8 *addr, guint prefix);

/* "10.0.0.0/8", "fd00::/8" into buf (RFC 5952 text for IPv6); returns buf.
 * A struct of no valid family formats as "invalid". */
const char *ember_cidr_format (const EmberCidr *cidr, char buf[EMBER_CIDR_STRLEN]);
/* The same, newly allocated (g_free). */
char *ember_cidr_to_string (const EmberCidr *cidr);

/* Whether `addr` (4 or 16 bytes of `family`, network order) lies in cidr.
 * FALSE for another family. No allocation: fine per packet. */
gboolean ember_cidr_contains (const EmberCidr *cidr, guint family, const guint8 *addr);
/* The same for an EmberAddr (port and scope ignored). */
gboolean ember_cidr_contains_addr (const EmberCidr *cidr, const EmberAddr *addr);

/* Whether every address of inner lies in outer (same family, outer no
 * longer, and inner's first outer->prefix bits equal outer's). */
gboolean ember_cidr_covers (const EmberCidr *outer, const EmberCidr *inner);

/* Same family, prefix and all address bytes (host bits included). */
gboolean ember_cidr_equal (const EmberCidr *a, const EmberCidr *b);
/* Whether any bit past the prefix is set. */
gboolean ember_cidr_has_host_bits (const EmberCidr *cidr);
/* Clears the bits past the prefix. */
void ember_cidr_mask (EmberCidr *cidr);

/* Address length in bits of a family: 32, 128, or 0 for anything else. */
guint ember_addr_family_bits (guint family);

/* Parses an address alone ("192.0.2.1", "2001:db8::1") into *out with
 * port and scope 0; same syntax rules as above (no prefix, no zone). */
gboolean ember_addr_parse (const char *text, EmberAddr *out, GError **error);
/* The address of `addr` without port; "invalid" for another family. */
const char *ember_addr_format (const EmberAddr *addr, char buf[EMBER_ADDR_STRLEN]);

/* A transport address: "192.0.2.1:3478" or "[2001:db8::1]:3478", the
 * IPv6 address always in brackets (RFC 5952 §6), the port decimal from 1
 * to 65535 without sign or leading zero; no host names, no zone. */
#define EMBER_ADDR_PORT_STRLEN (EMBER_ADDR_STRLEN + 8)
gboolean ember_addr_parse_port (const char *text, EmberAddr *out, GError **error);
/* "192.0.2.1:3478", "[2001:db8::1]:3478"; "invalid" for another family. */
const char *ember_addr_format_port (const EmberAddr *addr, char buf[EMBER_ADDR_PORT_STRLEN]);

G_END_DECLS
