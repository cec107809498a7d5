/* netlink — rtnetlink requests for the TUN interface. See netlink.h. */
#include "netlink.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NL_DOMAIN "ember-netlink"
#define REQ_SIZE 512

typedef struct {
  union {
    struct nlmsghdr nh;
    guint8 bytes[REQ_SIZE];
  } u;
} NlRequest;

static void
nl_attr (NlRequest *req, guint16 type, const void *data, gsize len)
{
  struct nlmsghdr *nh = &req->u.nh;
  gsize off = NLMSG_ALIGN (nh->nlmsg_len);
  struct rtattr rta = { .rta_len = (unsigned short) RTA_LENGTH (len), .rta_type = type };
  g_assert (off + RTA_ALIGN (rta.rta_len) <= sizeof req->u.bytes);
  memcpy (req->u.bytes + off, &rta, sizeof rta);
  memcpy (req->u.bytes + off + RTA_LENGTH (0), data, len);
  nh->nlmsg_len = (guint32) (off + RTA_ALIGN (rta.rta_len));
}

static void
nl_init (NlRequest *req, guint16 type, guint16 flags, const void *body, gsize body_len)
{
  memset (req, 0, sizeof *req);
  req->u.nh.nlmsg_type = type;
  req->u.nh.nlmsg_flags = (guint16) (NLM_F_REQUEST | NLM_F_ACK | flags);
  req->u.nh.nlmsg_seq = 1;
  req->u.nh.nlmsg_len = (guint32) NLMSG_LENGTH (body_len);
  memcpy (req->u.bytes + NLMSG_HDRLEN, body, body_len);
}

/* Sends and waits for the ACK; returns 0 or a positive errno. */
static int
nl_transact (NlRequest *req)
{
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return errno;

  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  int err = 0;
  if (sendto (fd, req->u.bytes, req->u.nh.nlmsg_len, 0, (struct sockaddr *) &kernel,
              sizeof kernel) < 0)
    {
      err = errno;
      goto out;
    }

  /* The answer is an NLMSG_ERROR carrying 0 (the ACK) or -errno. A
   * bounded timeout: the kernel answers at once or never. */
  struct timeval tv = { .tv_sec = 2 };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (;;)
    {
      union {
        struct nlmsghdr nh;
        guint8 bytes[8192];
      } buf;
      ssize_t n = recv (fd, buf.bytes, sizeof buf.bytes, 0);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          err = errno;
          goto out;
        }
      for (struct nlmsghdr *nh = &buf.nh; NLMSG_OK (nh, (guint) n); nh = NLMSG_NEXT (nh, n))
        {
          if (nh->nlmsg_seq != req->u.nh.nlmsg_seq)
            continue;
          if (nh->nlmsg_type == NLMSG_ERROR)
            {
              if (nh->nlmsg_len < NLMSG_LENGTH (sizeof (struct nlmsgerr)))
                err = EPROTO;
              else
                {
                  struct nlmsgerr e;
                  memcpy (&e, NLMSG_DATA (nh), sizeof e);
                  err = -e.error;
                }
              goto out;
            }
        }
    }
out:
  close (fd);
  return err;
}

static gboolean
nl_fail (GError **error, int err, const char *what)
{
  g_set_error (error, EMBER_PLUGIN_ERROR,
               err == EPERM || err == EACCES ? EMBER_PLUGIN_ERROR_PERMISSION
                                             : EMBER_PLUGIN_ERROR_FAILED,
               "rtnetlink: %s: %s", what, g_strerror (err));
  return FALSE;
}

gboolean
tun_netlink_link_setup (int ifindex, guint mtu, gint txqueuelen, gboolean up, GError **error)
{
  struct ifinfomsg ifi = {
    .ifi_family = AF_UNSPEC,
    .ifi_index = ifindex,
    .ifi_flags = up ? IFF_UP : 0,
    .ifi_change = up ? IFF_UP : 0,
  };
  NlRequest req;
  nl_init (&req, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  guint32 v = mtu;
  nl_attr (&req, IFLA_MTU, &v, sizeof v);
  if (txqueuelen >= 0)
    {
      v = (guint32) txqueuelen;
      nl_attr (&req, IFLA_TXQLEN, &v, sizeof v);
    }
  g_log (NL_DOMAIN, G_LOG_LEVEL_DEBUG, "link %d: mtu %u, txqueuelen %d%s", ifindex, mtu,
         txqueuelen, up ? ", up" : "");
  int err = nl_transact (&req);
  return err == 0 ? TRUE : nl_fail (error, err, "cannot set MTU/txqueuelen/up");
}

gboolean
tun_netlink_address_add (int ifindex, const EmberCidr *cidr, GError **error)
{
  struct ifaddrmsg ifa = {
    .ifa_family = cidr->family == 4 ? AF_INET : AF_INET6,
    .ifa_prefixlen = cidr->prefix,
    .ifa_scope = RT_SCOPE_UNIVERSE,
    .ifa_index = (guint32) ifindex,
  };
  NlRequest req;
  nl_init (&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &ifa, sizeof ifa);
  gsize alen = cidr->family == 4 ? 4 : 16;
  nl_attr (&req, IFA_LOCAL, cidr->addr, alen);
  nl_attr (&req, IFA_ADDRESS, cidr->addr, alen);
  if (cidr->family == 6)
    {
      /* A point-to-point TUN has no neighbours to collide with: skip
       * duplicate address detection so the address is usable at once. */
      guint32 flags = IFA_F_NODAD;
      nl_attr (&req, IFA_FLAGS, &flags, sizeof flags);
    }
  char buf[EMBER_CIDR_STRLEN];
  g_log (NL_DOMAIN, G_LOG_LEVEL_DEBUG, "link %d: add address %s", ifindex,
         ember_cidr_format (cidr, buf));
  int err = nl_transact (&req);
  if (err == 0)
    return TRUE;
  g_autofree char *what = g_strdup_printf ("cannot add address %s", buf);
  return nl_fail (error, err, what);
}

gboolean
tun_netlink_route (int ifindex, const EmberCidr *cidr, gboolean add, GError **error)
{
  struct rtmsg rtm = {
    .rtm_family = cidr->family == 4 ? AF_INET : AF_INET6,
    .rtm_dst_len = cidr->prefix,
    .rtm_table = RT_TABLE_MAIN,
    .rtm_protocol = RTPROT_STATIC,
    .rtm_scope = RT_SCOPE_LINK,
    .rtm_type = RTN_UNICAST,
  };
  NlRequest req;
  nl_init (&req, add ? RTM_NEWROUTE : RTM_DELROUTE, add ? (NLM_F_CREATE | NLM_F_REPLACE) : 0,
           &rtm, sizeof rtm);
  nl_attr (&req, RTA_DST, cidr->addr, cidr->family == 4 ? 4 : 16);
  guint32 oif = (guint32) ifindex;
  nl_attr (&req, RTA_OIF, &oif, sizeof oif);
  char buf[EMBER_CIDR_STRLEN];
  g_log (NL_DOMAIN, G_LOG_LEVEL_DEBUG, "link %d: %s route %s", ifindex, add ? "add" : "remove",
         ember_cidr_format (cidr, buf));
  int err = nl_transact (&req);
  if (err == 0 || (!add && err == ESRCH))
    return TRUE;
  g_autofree char *what = g_strdup_printf ("cannot %s route %s", add ? "add" : "remove", buf);
  return nl_fail (error, err, what);
}

/* How many of the link's IPv6 addresses are still tentative, or -1 with
 * errno-style *err when the dump failed. */
static gint
count_tentative (int ifindex, int *err)
{
  NlRequest req;
  struct ifaddrmsg ifa = { .ifa_family = AF_INET6 };
  nl_init (&req, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof ifa);
  req.u.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    {
      *err = errno;
      return -1;
    }
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  struct timeval tv = { .tv_sec = 2 };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  gint tentative = 0;
  *err = 0;
  if (sendto (fd, req.u.bytes, req.u.nh.nlmsg_len, 0, (struct sockaddr *) &kernel,
              sizeof kernel) < 0)
    *err = errno;
  while (*err == 0)
    {
      union {
        struct nlmsghdr nh;
        guint8 bytes[16384];
      } buf;
      ssize_t n = recv (fd, buf.bytes, sizeof buf.bytes, 0);
      if (n < 0)
        {
          if (errno != EINTR)
            *err = errno;
          continue;
        }
      for (struct nlmsghdr *nh = &buf.nh; NLMSG_OK (nh, (guint) n); nh = NLMSG_NEXT (nh, n))
        {
          if (nh->nlmsg_type == NLMSG_DONE)
            goto out;
          if (nh->nlmsg_type == NLMSG_ERROR)
            {
              *err = EPROTO;
              goto out;
            }
          if (nh->nlmsg_type != RTM_NEWADDR || nh->nlmsg_len < NLMSG_LENGTH (sizeof ifa))
            continue;
          struct ifaddrmsg a;
          memcpy (&a, NLMSG_DATA (nh), sizeof a);
          if ((int) a.ifa_index != ifindex)
            continue;
          guint32 flags = a.ifa_flags;
          /* IFA_FLAGS, when present, carries all 32 bits. */
          int alen = (int) IFA_PAYLOAD (nh);
          for (struct rtattr *rta = IFA_RTA (NLMSG_DATA (nh)); RTA_OK (rta, alen);
               rta = RTA_NEXT (rta, alen))
            if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD (rta) >= sizeof flags)
              memcpy (&flags, RTA_DATA (rta), sizeof flags);
          tentative += (flags & IFA_F_TENTATIVE) != 0;
        }
    }
out:
  close (fd);
  return *err == 0 ? tentative : -1;
}

gboolean
tun_netlink_wait_ipv6_ready (int ifindex, gint64 timeout_us)
{
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + timeout_us;
  for (;;)
    {
      int err;
      gint n = count_tentative (ifindex, &err);
      if (n == 0)
        {
          g_log (NL_DOMAIN, G_LOG_LEVEL_DEBUG, "link %d: IPv6 addresses ready after %.1f ms",
                 ifindex, (double) (g_get_monotonic_time () - start) / 1000);
          return TRUE;
        }
      if (n < 0)
        {
          g_log (NL_DOMAIN, G_LOG_LEVEL_DEBUG, "link %d: cannot list addresses: %s", ifindex,
                 g_strerror (err));
          return FALSE;
        }
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_usleep (2000);
    }
}
