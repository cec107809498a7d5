/* portal/syntax — RFC 8259 syntax check of a frame's text (private).
 *
 * json-glib builds the tree but is lenient: it accepts comments, single
 * quotes, leading zeros and a second value after the first, keeps the
 * last of two members of one name, and cuts strings at an escaped NUL. The codec promises one reading of a frame,
 * whoever else parses it, so the text passes this strict check first. It
 * also bounds the nesting, since json-glib's parser recurses per level.
 * No allocation; any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EMBER_PORTAL_SYNTAX_DEPTH_MAX 16

/* TRUE when `text` is one RFC 8259 JSON value (whitespace around it
 * allowed) nesting at most `max_depth` (≤ EMBER_PORTAL_SYNTAX_DEPTH_MAX)
 * arrays/objects, with no "\u0000" escape, and objects of at most 16
 * members with distinct, unescaped names. Otherwise FALSE and *why /
 * *offset say what and where. The text must be valid UTF-8 already. */
gboolean ember_portal_json_syntax_check (const char *text, gsize len, guint max_depth,
                                         const char **why, gsize *offset);

G_END_DECLS
