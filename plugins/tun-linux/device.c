/* device — TUN queue set-up. See device.h. */
#include "device.h"
#include "offload.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int
open_queue (const char *name, short flags, char *actual, int *err)
{
  int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    {
      *err = errno;
      return -1;
    }
  struct ifreq ifr;
  memset (&ifr, 0, sizeof ifr);
  g_strlcpy (ifr.ifr_name, name, sizeof ifr.ifr_name);
  ifr.ifr_flags = flags;
  if (ioctl (fd, TUNSETIFF, &ifr) != 0)
    {
      *err = errno;
      close (fd);
      return -1;
    }
  if (actual != NULL)
    g_strlcpy (actual, ifr.ifr_name, IFNAMSIZ);
  return fd;
}

static gboolean
fail (GError **error, int err, const char *fmt, const char *name)
{
  g_autofree char *what = g_strdup_printf (fmt, name);
  g_set_error (error, EMBER_PLUGIN_ERROR,
               err == EPERM || err == EACCES ? EMBER_PLUGIN_ERROR_PERMISSION
               : err == EINVAL || err == ENODEV || err == ENOENT ? EMBER_PLUGIN_ERROR_UNSUPPORTED
                                                                 : EMBER_PLUGIN_ERROR_IO,
               "%s: %s", what, g_strerror (err));
  return FALSE;
}

/* Asks for checksum and TCP segmentation offload, and UDP segmentation
 * where the kernel has it. Returns FALSE when the kernel refuses even
 * the TCP set. */
static gboolean
set_offloads (int fd, gboolean *uso)
{
  int hdr_size = (int) TUN_VNET_HDR_LEN;
  if (ioctl (fd, TUNSETVNETHDRSZ, &hdr_size) != 0)
    return FALSE;
  unsigned long base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (ioctl (fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0)
    {
      *uso = TRUE;
      return TRUE;
    }
  *uso = FALSE;
  return ioctl (fd, TUNSETOFFLOAD, base) == 0;
}

gboolean
tun_device_open (TunDevice *dev, const char *name, guint queues, gboolean offload,
                 const char *log_domain, GError **error)
{
  memset (dev, 0, sizeof *dev);
  for (guint i = 0; i < TUN_MAX_QUEUES; i++)
    dev->fds[i] = -1;
  dev->ifindex = -1;
  queues = CLAMP (queues, 1, TUN_MAX_QUEUES);

  /* Attaching to someone else's interface would hand them our traffic
   * (or us theirs): only a device we create ourselves is used. */
  if (if_nametoindex (name) != 0)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "interface %s already exists; refusing to attach to a device "
                   "Ember did not create", name);
      return FALSE;
    }

  gboolean vnet = offload;
  for (;;)
    {
      short flags = (short) (IFF_TUN | IFF_NO_PI | (queues > 1 ? IFF_MULTI_QUEUE : 0) |
                             (vnet ? IFF_VNET_HDR : 0));
      int err = 0;
      int fd = open_queue (name, flags, dev->name, &err);
      if (fd < 0)
        return fail (error, err, "cannot create TUN device %s", name);
      dev->fds[0] = fd;
      dev->n_queues = 1;

      /* Not persistent: the interface goes with our last fd. Owned by us:
       * tun_not_capable() then refuses TUNSETIFF from other users. */
      ioctl (fd, TUNSETPERSIST, 0);
      if (ioctl (fd, TUNSETOWNER, (unsigned long) geteuid ()) != 0 ||
          ioctl (fd, TUNSETGROUP, (unsigned long) getegid ()) != 0)
        {
          err = errno;
          tun_device_close (dev);
          return fail (error, err, "cannot set the owner of %s", name);
        }

      if (vnet && !set_offloads (fd, &dev->uso))
        {
          g_log (log_domain, G_LOG_LEVEL_WARNING,
                 "kernel refused TUN offloads on %s (%s); using plain packets", dev->name,
                 g_strerror (errno));
          tun_device_close (dev);
          vnet = FALSE;
          continue;
        }
      dev->vnet_hdr = vnet;
      for (guint q = 1; q < queues; q++)
        {
          fd = open_queue (dev->name, flags, NULL, &err);
          if (fd < 0)
            {
              tun_device_close (dev);
              return fail (error, err, "cannot open a further queue of %s", name);
            }
          dev->fds[q] = fd;
          dev->n_queues = q + 1;
        }
      break;
    }

  dev->ifindex = (int) if_nametoindex (dev->name);
  if (dev->ifindex <= 0)
    {
      int err = errno;
      tun_device_close (dev);
      return fail (error, err, "TUN device %s vanished", name);
    }
  g_log (log_domain, G_LOG_LEVEL_INFO, "opened %s: %u queue(s), offloads %s%s", dev->name,
         dev->n_queues, dev->vnet_hdr ? "on" : "off",
         dev->vnet_hdr ? (dev->uso ? " (TCP+UDP)" : " (TCP)") : "");
  return TRUE;
}

void
tun_device_close (TunDevice *dev)
{
  for (guint i = 0; i < TUN_MAX_QUEUES; i++)
    if (dev->fds[i] >= 0)
      {
        close (dev->fds[i]);
        dev->fds[i] = -1;
      }
  dev->n_queues = 0;
}
