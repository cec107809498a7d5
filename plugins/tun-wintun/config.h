/* config — the tun-wintun plugin's configuration group.
 *
 * Parses and validates the keys of the plugin's GKeyFile group (name,
 * tunnel-type, guid, mtu, address, route, ring-size, dll) the way tun-linux
 * does: an unknown key or a bad value is an EMBER_PLUGIN_ERROR_CONFIG
 * naming the group, the key and what was expected; CIDRs are read by
 * ember-net's parser. Pure functions; any thread; built on every platform.
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h"
#include "ops.h"

G_BEGIN_DECLS

#define WINTUN_DEFAULT_NAME "Ember"
#define WINTUN_DEFAULT_TUNNEL_TYPE "Ember"
/* Wintun: an adapter name or tunnel type is at most MAX_ADAPTER_NAME
 * (128) UTF-16 units with the terminator. */
#define WINTUN_NAME_MAX 127
#define WINTUN_DEFAULT_MTU 1280     /* seed 004: no IP fragmentation inside the tunnel */
#define WINTUN_MIN_MTU 576
#define WINTUN_MAX_MTU 9000
#define WINTUN_MIN_MTU_IPV6 1280    /* RFC 8200 §5 */
#define WINTUN_DEFAULT_RING_SIZE 0x400000u /* 4 MiB, what wireguard-windows uses */
#define WINTUN_MAX_ADDRESSES 64
#define WINTUN_MAX_ROUTES 1024

/* A Windows GUID in host order, as struct _GUID lays it out. */
typedef struct {
  guint32 data1;
  guint16 data2;
  guint16 data3;
  guint8 data4[8];
} WintunGuid;

/* "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" and the terminator. */
#define WINTUN_GUID_STRLEN 39

typedef struct {
  char *name;
  char *tunnel_type;
  /* The adapter's GUID: configured, or derived from the name so that
   * Windows keeps one network profile (NLA) for the adapter across
   * restarts instead of making a new one each time. */
  WintunGuid guid;
  gboolean guid_configured;
  guint mtu;
  EmberCidr *addresses;
  guint n_addresses;
  EmberCidr *routes;
  guint n_routes;
  guint32 ring_size;
  char *dll;         /* NULL: wintun.dll beside the plugin, then System32 */
} WintunConfig;

/* Fills `out` with defaults, then the keys found in `group` (a missing
 * group or NULL config means all defaults). */
gboolean wintun_config_parse (GKeyFile *config, const char *group, WintunConfig *out,
                              GError **error);
void wintun_config_clear (WintunConfig *config);

/* The GUID derived from an adapter name: the first 16 bytes of SHA-256
 * over a fixed label and the name, marked as an RFC 4122 name-based
 * (version 5 layout) GUID. */
void wintun_guid_from_name (const char *name, WintunGuid *out);
/* "{...}" with or without the braces, case-insensitive. */
gboolean wintun_guid_parse (const char *text, WintunGuid *out);
const char *wintun_guid_format (const WintunGuid *guid, char buf[WINTUN_GUID_STRLEN]);

G_END_DECLS
