/* device — opening the TUN device's queues (/dev/net/tun).
 *
 * Creates a fresh interface with IFF_TUN | IFF_NO_PI, IFF_MULTI_QUEUE for
 * several queues (seed 004) and IFF_VNET_HDR with TUNSETOFFLOAD when
 * offloads are wanted. The interface is never made persistent and is
 * owned by our effective uid, so it vanishes when the last queue closes
 * and no unprivileged process can attach a queue meanwhile; an interface
 * of that name that already exists is refused rather than joined. When
 * the kernel refuses the offloads the device is reopened without them,
 * detected once and logged.
 * Control path (main thread).
 */
#pragma once

#include <glib.h>
#include <net/if.h>

#include "config.h"

G_BEGIN_DECLS

typedef struct {
  int fds[TUN_MAX_QUEUES];
  guint n_queues;
  int ifindex;
  char name[IFNAMSIZ];
  gboolean vnet_hdr;  /* offloads on: every read/write carries a virtio_net_hdr */
  gboolean uso;       /* the kernel also takes UDP segmentation (Linux 6.2+) */
} TunDevice;

gboolean tun_device_open (TunDevice *dev, const char *name, guint queues, gboolean offload,
                          const char *log_domain, GError **error);
void tun_device_close (TunDevice *dev);

G_END_DECLS
