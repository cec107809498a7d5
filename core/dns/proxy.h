/* dns/proxy — the map of proxy addresses the stub hands out (private to
 * core/dns).
 *
 * One entry per (name, resource): an index n that stands for the pair
 * 100.96.0.0 + n and fd00:2021:1111:8000:: + n. Indices only grow, so an
 * address is never given to another name, also across a save and load.
 * Not thread-safe; the stub owns it.
 */
#pragma once

#include <glib.h>

#include "ember-plugin.h"
#include "portal/messages.h"

G_BEGIN_DECLS

typedef struct {
  guint32 index;
  char *name;              /* lower case, no trailing dot */
  EmberPortalId resource;
  gboolean announced;      /* PROXY_ADDED given in this run */
} EmberDnsProxy;

typedef struct _EmberDnsProxyMap EmberDnsProxyMap;

EmberDnsProxyMap *ember_dns_proxy_map_new (void);
void ember_dns_proxy_map_free (EmberDnsProxyMap *map);

/* The entry of (name, resource), or NULL. `name` must be lower case. */
EmberDnsProxy *ember_dns_proxy_map_lookup (EmberDnsProxyMap *map, const char *name,
                                           const EmberPortalId *resource);
/* The same, made when missing; NULL when every index is taken. */
EmberDnsProxy *ember_dns_proxy_map_get (EmberDnsProxyMap *map, const char *name,
                                        const EmberPortalId *resource);
EmberDnsProxy *ember_dns_proxy_map_by_index (EmberDnsProxyMap *map, guint32 index);
guint ember_dns_proxy_map_size (const EmberDnsProxyMap *map);
/* Every entry, in index order. */
GPtrArray *ember_dns_proxy_map_entries (const EmberDnsProxyMap *map);

/* Index n's address of `family`. */
void ember_dns_proxy_addr (guint32 index, guint family, EmberAddr *out);
/* Whether `addr` (4 or 16 bytes of `family`) is a usable proxy address,
 * and its index. */
gboolean ember_dns_proxy_index_of (guint family, const guint8 *addr, guint32 *index);

char *ember_dns_proxy_map_save (const EmberDnsProxyMap *map, gsize *len);
EmberDnsProxyMap *ember_dns_proxy_map_load (const char *data, gsize len, GError **error);

G_END_DECLS
