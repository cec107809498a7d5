/* wgconf — the standard WireGuard configuration file, for emberd's
 * static-peer mode.
 *
 * The [Interface] / [Peer] format that `wg setconf` and wg-quick read:
 * PrivateKey, ListenPort, Address, MTU; PublicKey, PresharedKey,
 * AllowedIPs, Endpoint, PersistentKeepalive. Keys are case-insensitive;
 * Address and AllowedIPs accumulate over repeated lines. Every error
 * names the file and the line. wg-quick's shell hooks and DNS handling
 * are refused rather than silently ignored. Pure parsing, any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EMBER_WGCONF_ERROR (ember_wgconf_error_quark ())
GQuark ember_wgconf_error_quark (void);

typedef struct {
  guint8 family; /* 4 or 6 */
  guint8 prefix;
  guint8 addr[16];
} EmberCidr;

/* "10.0.0.1/24", "fd00::1/64", or an address alone (full prefix).
 * Returns FALSE on anything else. */
gboolean ember_cidr_parse (const char *text, EmberCidr *out);
/* Whether `addr` (4 or 16 bytes of `family`) lies in `cidr`. */
gboolean ember_cidr_contains (const EmberCidr *cidr, guint8 family, const guint8 *addr);
char *ember_cidr_to_string (const EmberCidr *cidr);

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
