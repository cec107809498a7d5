/* portal/values — the protocol's scalar values, text ⇄ C (private).
 *
 * Addresses, CIDRs, endpoints, ICE credentials and candidates; the public
 * ones (ids, keys, port lists, dns patterns) are declared in codec.h.
 * Every parse takes `what`, the JSON path of the value, and fails with
 * EMBER_PORTAL_ERROR_INVALID_PAYLOAD "what: reason". Any thread.
 */
#pragma once

#include <glib.h>
#include "portal/codec.h"

G_BEGIN_DECLS

/* Addresses go through core/net's parser (net/cidr.h), the one every
 * part of Ember uses. An IP literal of `family`, no port, no prefix. */
gboolean ember_portal_ip_parse (const char *text, EmberAddrFamily family, EmberAddr *addr,
                                const char *what, GError **error);
/* "203.0.113.5:3478" (family IPv4) or "[2001:db8::5]:3478" (IPv6). */
gboolean ember_portal_endpoint_parse (const char *text, EmberAddrFamily family, EmberAddr *addr,
                                      const char *what, GError **error);
/* "10.20.0.0/24" or "2001:db8::/48", host bits clear. */
gboolean ember_portal_cidr_parse (const char *text, EmberCidr *cidr, const char *what,
                                  GError **error);

/* Formats into `buf`; returns it. */
#define EMBER_PORTAL_ADDR_STRLEN 64
const char *ember_portal_ip_to_string (const EmberAddr *addr, char buf[EMBER_PORTAL_ADDR_STRLEN]);
const char *ember_portal_endpoint_to_string (const EmberAddr *addr,
                                             char buf[EMBER_PORTAL_ADDR_STRLEN]);
const char *ember_portal_cidr_to_string (const EmberCidr *cidr,
                                         char buf[EMBER_PORTAL_ADDR_STRLEN]);

/* Checks of values already in C form (what build verifies). */
gboolean ember_portal_ip_check (const EmberAddr *addr, EmberAddrFamily family, const char *what,
                                GError **error);
gboolean ember_portal_endpoint_check (const EmberAddr *addr, EmberAddrFamily family,
                                      const char *what, GError **error);
gboolean ember_portal_cidr_check (const EmberCidr *cidr, const char *what, GError **error);
gboolean ember_portal_id_check (const EmberPortalId *id, const char *what, GError **error);
gboolean ember_portal_filter_check (const EmberPortalFilter *filter, const char *what,
                                    GError **error);
/* RFC 8445 §5.3 ice-chars; ufrag 4..64, pwd 22..128. `min`/`max` bytes. */
gboolean ember_portal_ice_chars_check (const char *text, gsize min, gsize max, const char *what,
                                       GError **error);
/* UTF-8, 1..max bytes, no control characters. */
gboolean ember_portal_text_check (const char *text, gsize max, const char *what, GError **error);

/* A dns resource address through core/dns's rules (dns/pattern.h): a
 * newly allocated normalized copy (lower case, no trailing dot). */
char *ember_portal_dns_pattern_parse (const char *text, const char *what, GError **error);
/* The pattern as build sends it: valid and already normalized. */
gboolean ember_portal_dns_pattern_check (const char *pattern, const char *what, GError **error);

/* A "candidate:" attribute (RFC 8839 §5.1) through core/ice's parser. */
gboolean ember_portal_candidate_parse (const char *text, EmberIceCandidate *cand,
                                       const char *what, GError **error);
/* The text form; NULL with an error when the candidate would not parse
 * back (unset address, port 0, bad foundation ...). */
char *ember_portal_candidate_to_string (const EmberIceCandidate *cand, const char *what,
                                        GError **error);

/* g_set_error (EMBER_PORTAL_ERROR_INVALID_PAYLOAD) with "what: ...". */
gboolean ember_portal_fail (GError **error, const char *what, const char *fmt, ...)
  G_GNUC_PRINTF (3, 4);

G_END_DECLS
