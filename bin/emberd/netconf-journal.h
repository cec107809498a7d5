/* netconf-journal — the text format of netconf's journal (pure).
 *
 * One line per object that netconf added and has not yet deleted, in the
 * order they were added, after a version line:
 *
 *   ember-netconf-journal 1
 *   address dev=5:ember0 local=100.64.0.2/32
 *   route dev=5:ember0 table=254 dst=10.20.0.0/24
 *   rule family=4 priority=32765 table=51820 not-fwmark=51820
 *   rule family=4 priority=32764 table=254 suppress-prefixlength=0
 *   sysctl key=net.ipv4.conf.all.src_valid_mark was=0 set=1
 *   nft-table family=4 name=ember_ft_ember0
 *
 * `dev` is "ifindex:ifname": an object bound to an interface is undone
 * only if that index still carries that name (a TUN closed by the killed
 * run took its addresses and routes with it, and its index may since
 * name another interface). Keys of a line may come in any order, each
 * once; unknown kinds and keys are errors. The file is rewritten whole
 * (temporary file, fsync, rename, fsync of the directory) on every
 * change, so a reader sees either the old or the new list.
 *
 * Parsing never trusts the file: every error names the line and what was
 * expected. Pure functions, any thread.
 */
#pragma once

#include <glib.h>

#include "net/cidr.h"

G_BEGIN_DECLS

#define EMBER_NETCONF_JOURNAL_VERSION_LINE "ember-netconf-journal 1"

typedef enum {
  EMBER_NETCONF_OBJ_ADDRESS,
  EMBER_NETCONF_OBJ_ROUTE,
  EMBER_NETCONF_OBJ_RULE,
  EMBER_NETCONF_OBJ_SYSCTL,
  EMBER_NETCONF_OBJ_NFT_TABLE,
} EmberNetconfObjKind;

/* One journalled object. Fields not used by a kind are zero. */
typedef struct {
  EmberNetconfObjKind kind;
  guint32 ifindex;            /* address, route */
  char ifname[16];            /* address, route (IFNAMSIZ) */
  EmberCidr cidr;             /* address: local address/len; route: dst */
  guint32 table;              /* route, rule */
  guint8 family;              /* rule, nft-table: 4 or 6 (address, route: cidr.family) */
  guint32 priority;           /* rule */
  guint32 fwmark;             /* rule: not-fwmark (0: none) */
  gboolean invert_fwmark;     /* rule: "not fwmark" */
  gint32 suppress_prefixlen;  /* rule: -1 none */
  char sysctl_key[96];        /* sysctl: dotted name under /proc/sys */
  char sysctl_was[32];        /* sysctl: value before */
  char sysctl_set[32];        /* sysctl: value written */
  char nft_table[32];         /* nft-table: name (family ip or ip6 from `family`) */
} EmberNetconfObj;

/* Parses a whole journal. `text` need not be NUL-terminated. A last line
 * without its newline is a write that never completed (the object was
 * not created yet): ignored. Empty text (no version line) is an empty
 * journal. *objs: EmberNetconfObj in file order. */
gboolean ember_netconf_journal_parse (const char *text, gsize len, GArray **objs,
                                      GError **error);
/* Appends one object's line (with its newline) to `out`. */
void ember_netconf_journal_format_obj (const EmberNetconfObj *obj, GString *out);
/* The whole journal text for `objs` (version line first). */
char *ember_netconf_journal_format (const GArray *objs);
/* A short human name: "route 10.20.0.0/24 dev ember0 table 254". */
char *ember_netconf_obj_describe (const EmberNetconfObj *obj);
/* Whether two objects name the same kernel object. */
gboolean ember_netconf_obj_equal (const EmberNetconfObj *a, const EmberNetconfObj *b);

G_END_DECLS
