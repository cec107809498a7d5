/* wgconf — the standard WireGuard configuration file, for emberd's
 * static-peer mode.
 *
 * The [Interface] / [Peer] format that `wg setconf` and wg-quick read:
 * PrivateKey, ListenPort, Address, MTU; PublicKey, PresharedKey,
 * AllowedIPs, Endpoint, PersistentKeepalive. Keys are case-insensitive;
 * Address and AllowedIPs accumulate over repeated lines. Addresses and
 * prefixes are read by ember-net (net/cidr.h): an AllowedIPs entry with
 * host bits set is masked (10.0.0.1/24 is 10.0.0.0/24) as `wg` does, an
 * Address keeps them. Every error names the file and the line. wg-quick's
 * shell hooks and DNS handling are refused rather than silently ignored.
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

typedef struct {
  char *path;
  guint8 private_key[32];
  gboolean has_listen_port;
  guint16 listen_port;
  GArray *addresses;       /* EmberCidr */
  guint mtu;               /* 0: not given */
  GPtrArray *peers;        /* EmberWgConfPeer */
} EmberWgConf;

EmberWgConf *ember_wgconf_parse (const char *text, const char *name, GError **error);
EmberWgConf *ember_wgconf_load (const char *path, GError **error);
void ember_wgconf_free (EmberWgConf *conf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberWgConf, ember_wgconf_free)

/* Decodes a base64 WireGuard key (44 characters, 32 bytes). */
gboolean ember_wgconf_decode_key (const char *text, guint8 key[32]);

G_END_DECLS
