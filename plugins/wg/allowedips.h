/* allowedips.h — longest-prefix-match table from IP prefixes to peers.
 *
 * WireGuard's cryptokey routing (whitepaper §2): outgoing packets pick
 * their peer by destination, incoming ones must have a source inside the
 * sending peer's allowed IPs. The engine leaves routing to its caller;
 * this is the table emberd's static-peer mode uses for it.
 *
 * The WireGuard face of ember-net's longest-prefix-match table
 * (net/prefix-table.h, a path-compressed trie): inserts allocate (control
 * path), lookups never do (packet path). Values are opaque pointers the
 * table does not own. One writer at a time; lookups may run in parallel
 * when nobody writes.
 */
#pragma once

#include <glib.h>

typedef struct _EmberWgAllowedIps EmberWgAllowedIps;

EmberWgAllowedIps *ember_wg_allowedips_new (void);
void ember_wg_allowedips_free (EmberWgAllowedIps *t);

/* family 4 or 6; addr 4 or 16 bytes, network order; bits past the
 * prefix are ignored. Replaces the value of an equal prefix. FALSE on a
 * bad family/prefix length or a NULL value. */
gboolean ember_wg_allowedips_insert (EmberWgAllowedIps *t, int family,
                                     const guint8 *addr, guint prefix_len,
                                     gpointer value);
/* Removes every prefix that maps to value (a peer going away). */
void ember_wg_allowedips_remove_value (EmberWgAllowedIps *t, gpointer value);
/* The value of the longest prefix containing addr, or NULL. */
gpointer ember_wg_allowedips_lookup (const EmberWgAllowedIps *t, int family,
                                     const guint8 *addr);

/* Helpers on a raw IP packet: by destination (sending) or source
 * (checking what a peer sent). NULL for a packet too short to tell. */
gpointer ember_wg_allowedips_lookup_dst (const EmberWgAllowedIps *t,
                                         const guint8 *packet, gsize len);
gpointer ember_wg_allowedips_lookup_src (const EmberWgAllowedIps *t,
                                         const guint8 *packet, gsize len);
