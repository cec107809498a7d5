/* net/prefix-table.h — longest-prefix-match table, IPv4 and IPv6.
 *
 * Maps prefixes (EmberCidr) to opaque non-NULL values and answers "which
 * value belongs to the longest prefix containing this address" — the
 * question behind WireGuard's cryptokey routing (whitepaper §2), the
 * tunnel's resource lookup and every allow/deny list. Part of ember-net
 * (see net/cidr.h), so plugins use it too.
 *
 * A path-compressed binary trie per family, the shape of the kernel's
 * allowedips: a node holds a prefix and two children that extend it by
 * one more bit, chains without a branch or a value are collapsed, so a
 * lookup visits at most one node per distinct prefix length on its path
 * (at most 33 / 129, in practice a handful) and compares whole 64-bit
 * words. IPv4 and IPv6 live in separate tries: 10.0.0.0/8 never matches
 * ::ffff:10.0.0.1 (unmap first if that is what you mean).
 *
 * Costs: an insert takes at most two nodes from the table's own pool,
 * which grows 4 KiB at a time; a remove gives them back to it for the next
 * insert; the pool is released with the table (control path). Lookups
 * never allocate and take no lock (packet path): 15-50 ns with up to a
 * few hundred prefixes, bench/net-lpm.sh.
 *
 * Ownership: the table owns its nodes, never the values (they are the
 * caller's: peers, resources, GUINT_TO_POINTER (index + 1) ...). Host bits
 * of a cidr given to the table are ignored: 10.1.2.3/8 is 10.0.0.0/8.
 *
 * Threads: no locking inside. Any number of threads may look up in a
 * table that nobody modifies; insert/remove need the table to themselves
 * (build a new table and swap it, or hold a lock, as the caller prefers).
 */
#pragma once

#include "net/cidr.h"

G_BEGIN_DECLS

typedef struct _EmberPrefixTable EmberPrefixTable;

EmberPrefixTable *ember_prefix_table_new (void);
void ember_prefix_table_free (EmberPrefixTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberPrefixTable, ember_prefix_table_free)

/* Maps cidr to value (non-NULL). Returns the value an equal prefix had
 * before, which the new one replaces, or NULL. cidr must be valid (family
 * 4 or 6, prefix within it): a programmer error otherwise. */
gpointer ember_prefix_table_insert (EmberPrefixTable *table, const EmberCidr *cidr,
                                    gpointer value);

/* Removes the prefix equal to cidr; returns its value, or NULL if absent. */
gpointer ember_prefix_table_remove (EmberPrefixTable *table, const EmberCidr *cidr);

/* Removes every prefix mapped to value (a peer going away); returns how
 * many there were. Walks the whole table. */
guint ember_prefix_table_remove_value (EmberPrefixTable *table, gpointer value);

/* The value of exactly this prefix (no longest match), or NULL. */
gpointer ember_prefix_table_get (const EmberPrefixTable *table, const EmberCidr *cidr);

/* The value of the longest prefix containing addr (4 or 16 bytes of
 * family, network order), or NULL if none does or family is not 4/6. When
 * matched is not NULL it receives that prefix (zeroed when none). */
gpointer ember_prefix_table_lookup (const EmberPrefixTable *table, guint family,
                                    const guint8 *addr, EmberCidr *matched);
/* The same for an EmberAddr (port and scope ignored). */
gpointer ember_prefix_table_lookup_addr (const EmberPrefixTable *table, const EmberAddr *addr,
                                         EmberCidr *matched);

/* Number of prefixes in the table. */
guint ember_prefix_table_size (const EmberPrefixTable *table);

/* Calls func on every prefix in order: IPv4 before IPv6, then by address,
 * a shorter prefix before the longer ones it contains. func must not
 * modify the table; it returns FALSE to stop early. */
typedef gboolean (*EmberPrefixTableFunc) (const EmberCidr *cidr, gpointer value,
                                          gpointer user_data);
void ember_prefix_table_foreach (const EmberPrefixTable *table, EmberPrefixTableFunc func,
                                 gpointer user_data);

G_END_DECLS
