/* net/keyfile — reading a plugin's configuration group.
 *
 * The few GKeyFile readers every backend's config group needs, with the
 * project's error form: EMBER_PLUGIN_ERROR_CONFIG, "[group] key: what was
 * expected, got what". They live in ember-net because plugins cannot link
 * libember-core and each TUN backend had grown its own copy. Plain
 * functions of their arguments: any thread.
 */
#pragma once

#include <glib.h>
#include "net/cidr.h"

G_BEGIN_DECLS

/* Sets `error` to "[group] key: <fmt>" in EMBER_PLUGIN_ERROR_CONFIG and
 * returns FALSE, so a reader can `return ember_key_file_error (...)`. */
gboolean ember_key_file_error (GError **error, const char *group, const char *key,
                               const char *fmt, ...) G_GNUC_PRINTF (4, 5);

/* An integer in [min, max], decimal; with `allow_hex`, "0x" followed by
 * hexadecimal digits as well. Surrounding white space is ignored. */
gboolean ember_key_file_get_uint (GKeyFile *kf, const char *group, const char *key,
                                  guint64 min, guint64 max, gboolean allow_hex,
                                  guint64 *out, GError **error);

/* A ';'-separated list of at most `limit` CIDRs parsed with
 * EMBER_CIDR_PARSE_BARE | `flags` (an address alone is a /32 or /128);
 * empty items are skipped. On success *out is a new array of *n_out
 * entries (free with g_free); on error nothing is returned. */
gboolean ember_key_file_get_cidrs (GKeyFile *kf, const char *group, const char *key,
                                   EmberCidrParseFlags flags, guint limit, EmberCidr **out,
                                   guint *n_out, GError **error);

G_END_DECLS
