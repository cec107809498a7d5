/* wgconf — the standard WireGuard configuration file, for emberd's
 * static-peer mode.
 *
 * Every key of the [Interface] / [Peer] format that `wg setconf` and
 * wg-quick read, so a provider's file works as it is:
 *   `wg setconf`: PrivateKey, ListenPort, FwMark; PublicKey, PresharedKey,
 *     AllowedIPs, Endpoint, PersistentKeepalive;
 *   wg-quick: Address, MTU, DNS, Table, PreUp, PostUp, PreDown, PostDown,
 *     SaveConfig.
 * Keys and section names are case-insensitive; a '#' starts a comment
 * anywhere on a line (in a hook command too, as in wg-quick). Address,
 * AllowedIPs and DNS accumulate over repeated lines; the hooks keep the
 * order of their lines; any other repeated key keeps its last value.
 * Addresses and prefixes are read by ember-net (net/cidr.h): an
 * AllowedIPs entry with host bits set is masked (10.0.0.1/24 is
 * 10.0.0.0/24) as `wg` does, an Address keeps them. Every error names the
 * file and the line.
 *
 * The parser only records what the file asks for; what emberd does with
 * it (routes, rules, the resolver, running hooks, SaveConfig) is the
 * static-peer driver's (bin/emberd/static-peer.c). A Table name is kept
 * as text: resolving it reads /etc/iproute2/rt_tables, which is I/O.
 * Pure parsing, any thread.
 */
#pragma once

#include <glib.h>

#include "net/cidr.h"

G_BEGIN_DECLS

#define EMBER_WGCONF_ERROR (ember_wgconf_error_quark ())
GQuark ember_wgconf_error_quark (void);

typedef struct {
  guint line;
  guint8 public_key[32];
  gboolean has_preshared_key;
  guint8 preshared_key[32];
  GArray *allowed_ips;     /* EmberCidr */
  char *endpoint_host;     /* NULL: none; literal address or name */
  guint16 endpoint_port;
  guint16 persistent_keepalive;
} EmberWgConfPeer;

/* wg-quick's Table =. */
typedef enum {
  EMBER_WGCONF_TABLE_AUTO, /* default: main table, or a table of its own for a default route */
  EMBER_WGCONF_TABLE_OFF,  /* no routes at all */
  EMBER_WGCONF_TABLE_ID,   /* every AllowedIPs route into table_id */
  EMBER_WGCONF_TABLE_NAME, /* the same, table_name looked up in rt_tables by the caller */
} EmberWgConfTable;

/* The four shell hooks, in the order wg-quick runs them. */
typedef enum {
  EMBER_WGCONF_PRE_UP,
  EMBER_WGCONF_POST_UP,
  EMBER_WGCONF_PRE_DOWN,
  EMBER_WGCONF_POST_DOWN,
  EMBER_WGCONF_N_HOOKS,
} EmberWgConfHookStage;

typedef struct {
  guint line;
  char *command;           /* as written, %i not yet replaced */
} EmberWgConfHook;

typedef struct {
  char *path;
  guint8 private_key[32];
  gboolean has_listen_port;
  guint16 listen_port;
  guint32 fwmark;          /* 0: none (FwMark absent, 0 or off) */
  guint fwmark_line;
  GArray *addresses;       /* EmberCidr */
  guint mtu;               /* 0: not given */
  GArray *dns_servers;     /* EmberAddr, port 0: the DNS entries that are addresses */
  GPtrArray *dns_search;   /* char *: the DNS entries that are domain names */
  guint dns_line;          /* first DNS line; 0: no DNS key */
  EmberWgConfTable table;
  guint32 table_id;        /* EMBER_WGCONF_TABLE_ID: 1 .. 2^32-1 */
  char *table_name;        /* EMBER_WGCONF_TABLE_NAME */
  guint table_line;        /* 0: Table not given */
  GPtrArray *hooks[EMBER_WGCONF_N_HOOKS]; /* EmberWgConfHook */
  gboolean save_config;
  guint save_config_line;  /* 0: SaveConfig not given */
  GPtrArray *peers;        /* EmberWgConfPeer */
} EmberWgConf;

EmberWgConf *ember_wgconf_parse (const char *text, const char *name, GError **error);
EmberWgConf *ember_wgconf_load (const char *path, GError **error);
void ember_wgconf_free (EmberWgConf *conf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberWgConf, ember_wgconf_free)

/* Decodes a base64 WireGuard key (44 characters, 32 bytes). */
gboolean ember_wgconf_decode_key (const char *text, guint8 key[32]);

/* "PreUp", "PostUp", "PreDown", "PostDown". */
const char *ember_wgconf_hook_stage_name (EmberWgConfHookStage stage);

/* Whether any peer's AllowedIPs holds the default route of `family`
 * (4: 0.0.0.0/0, 6: ::/0) — wg-quick's test for a full tunnel. */
gboolean ember_wgconf_has_default_route (const EmberWgConf *conf, guint family);

G_END_DECLS
