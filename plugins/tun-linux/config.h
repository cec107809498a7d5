/* config — the tun-linux plugin's configuration group.
 *
 * Parses and validates the keys of the plugin's own GKeyFile group
 * (name, mtu, address, route, txqueuelen, queues, offload); an unknown key
 * or a bad value is an EMBER_PLUGIN_ERROR_CONFIG naming the group, the
 * key and what was expected. Also parses one CIDR for run-time routes.
 * Pure functions; any thread.
 */
#pragma once

#include <glib.h>
#include <net/if.h>

#include "ember-plugin.h"

G_BEGIN_DECLS

#define TUN_DEFAULT_NAME "ember0"
#define TUN_DEFAULT_MTU 1280      /* seed 004: no IP fragmentation inside the tunnel */
#define TUN_MIN_MTU 576
#define TUN_MAX_MTU 9000
#define TUN_MIN_MTU_IPV6 1280     /* RFC 8200 §5 */
#define TUN_MAX_QUEUES 16
#define TUN_MAX_ADDRESSES 64
#define TUN_MAX_ROUTES 1024

typedef struct {
  guint8 family;    /* 4 or 6 */
  guint8 prefix;
  guint8 addr[16];
} TunCidr;

typedef struct {
  char name[IFNAMSIZ];
  guint mtu;
  TunCidr *addresses;
  guint n_addresses;
  TunCidr *routes;
  guint n_routes;
  gint txqueuelen;  /* -1: leave the kernel default */
  guint queues;
  gboolean offload;
} TunConfig;

/* Fills `out` with defaults, then the keys found in `group` (a missing
 * group or NULL config means all defaults). */
gboolean tun_config_parse (GKeyFile *config, const char *group, TunConfig *out,
                           GError **error);
void tun_config_clear (TunConfig *config);

/* "a.b.c.d/n" or "x::y/n"; with `host_bits_ok` FALSE, an address with bits
 * set past the prefix is refused (a route must name a network). Without
 * "/n" the prefix is the full length. */
gboolean tun_cidr_parse (const char *text, gboolean host_bits_ok, TunCidr *out);
/* Formats "addr/prefix" into buf (INET6_ADDRSTRLEN + 4 bytes). */
const char *tun_cidr_format (const TunCidr *cidr, char *buf, gsize len);

G_END_DECLS
