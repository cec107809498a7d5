/* dns/pattern — the name patterns of `dns` resources.
 *
 * A pattern is a DNS name whose labels may hold `?` (exactly one
 * character) and whose first label may be `*` (exactly one more label,
 * or the apex itself) or `**` (any number of labels, the apex included):
 *
 *   app.corp.example       only that name
 *   host-?.corp.example    host-a.corp.example, not host-ab.corp.example
 *   *.corp.example         corp.example and a.corp.example, not a.b.corp.example
 *   **.corp.example        corp.example and every name under it
 *
 * Names compare case-insensitively and a trailing dot is ignored. When
 * several patterns match one name the most precise wins: exact, then `?`,
 * then `*`, then `**` (seed: Firezone's resource precedence); among equals
 * the one with more labels, then fewer `?`, then the lexically smaller.
 * Pure functions, any thread; used by the portal and the client's DNS.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EMBER_DNS_PATTERN_ERROR (ember_dns_pattern_error_quark ())
GQuark ember_dns_pattern_error_quark (void);

typedef enum {
  EMBER_DNS_PATTERN_EXACT,
  EMBER_DNS_PATTERN_QUESTION,    /* `?` in a label, no wildcard label */
  EMBER_DNS_PATTERN_STAR,        /* leading `*.` */
  EMBER_DNS_PATTERN_DOUBLE_STAR, /* leading `**.` */
} EmberDnsPatternKind;

/* Validates `pattern` and returns it lower-cased without a trailing dot;
 * NULL and an error saying what is wrong otherwise. */
char *ember_dns_pattern_normalize (const char *pattern, GError **error);

/* The kind of a normalized pattern. */
EmberDnsPatternKind ember_dns_pattern_kind (const char *pattern);

/* Whether `name` (any case, optional trailing dot) matches the
 * normalized `pattern`. */
gboolean ember_dns_pattern_match (const char *pattern, const char *name);

/* Precedence between two patterns: negative when `a` wins over `b`. */
int ember_dns_pattern_compare (const char *a, const char *b);

/* The index of the winning pattern among those that match `name`, or -1
 * when none does. */
gssize ember_dns_pattern_best (const char *const *patterns, gsize n, const char *name);

G_END_DECLS
