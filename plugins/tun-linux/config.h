/* config — the tun-linux plugin's configuration group.
 *
 * Parses and validates the keys of the plugin's own GKeyFile group
 * (name, mtu, address, route, txqueuelen, queues, offload); an unknown key
 * or a bad value is an EMBER_PLUGIN_ERROR_CONFIG naming the group, the
 * key and what was expected. CIDRs are read by ember-net (net/cidr.h).
 * Pure functions; any thread.
 */
#pragma once

#include <glib.h>
#include <net/if.h>

#include "ember-plugin.h"
#include "net/cidr.h"

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
  char name[IFNAMSIZ];
  guint mtu;
  EmberCidr *addresses;  /* host bits kept: 10.0.0.1/24 */
  guint n_addresses;
  EmberCidr *routes;     /* networks: host bits refused */
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

G_END_DECLS
