/* netlink — rtnetlink requests for the TUN interface. See netlink.h. */
#include "netlink.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <string.h>

#include "net/rtnl.h"

#define NL_DOMAIN "ember-netlink"

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
  EmberRtnlRequest req;
  ember_rtnl_init (&req, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  ember_rtnl_attr_u32 (&req, IFLA_MTU, mtu);
  if (txqueuelen >= 0)
    ember_rtnl_attr_u32 (&req, IFLA_TXQLEN, (guint32) txqueuelen);
  g_log (NL_DOMAIN, G_LOG_LEVEL_DEBUG, "link %d: mtu %u, txqueuelen %d%s", ifindex, mtu,
         txqueuelen, up ? ", up" : "");
  int err = ember_rtnl_transact (&req);
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
  EmberRtnlRequest req;
  ember_rtnl_init (&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &ifa, sizeof ifa);
  gsize alen = cidr->family == 4 ? 4 : 16;
  ember_rtnl_attr (&req, IFA_LOCAL, cidr->addr, alen);
  ember_rtnl_attr (&req, IFA_ADDRESS, cidr->addr, alen);
  if (cidr->family == 6)
    {
      /* A point-to-point TUN has no neighbours to collide with: skip
       * duplicate address detection so the address is usable at once. */
      ember_rtnl_attr_u32 (&req, IFA_FLAGS, IFA_F_NODAD);
    }
  char buf[EMBER_CIDR_STRLEN];
  g_log (NL_DOMAIN, G_LOG_LEVEL_DEBUG, "link %d: add address %s", ifindex,
         ember_cidr_format (cidr, buf));
  int err = ember_rtnl_transact (&req);
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
  /* Never NLM_F_REPLACE: a route to the same prefix that is someone
   * else's must not be taken over (and lost when the TUN goes). */
  EmberRtnlRequest req;
  ember_rtnl_init (&req, add ? RTM_NEWROUTE : RTM_DELROUTE, add ? (NLM_F_CREATE | NLM_F_EXCL) : 0,
                   &rtm, sizeof rtm);
  ember_rtnl_attr (&req, RTA_DST, cidr->addr, cidr->family == 4 ? 4 : 16);
  ember_rtnl_attr_u32 (&req, RTA_OIF, (guint32) ifindex);
  char buf[EMBER_CIDR_STRLEN];
  g_log (NL_DOMAIN, G_LOG_LEVEL_DEBUG, "link %d: %s route %s", ifindex, add ? "add" : "remove",
         ember_cidr_format (cidr, buf));
  int err = ember_rtnl_transact (&req);
  if (err == 0 || (!add && err == ESRCH))
    return TRUE;
  if (add && err == EEXIST)
    {
      /* Through this device already (the address's own prefix route, or
       * added before): fine. Through another one: not ours to change. */
      gboolean found = FALSE;
      guint32 oif = 0;
      if (ember_rtnl_route_find (cidr->family, RT_TABLE_MAIN, cidr->addr, cidr->prefix,
                                 (guint32) ifindex, &found, &oif) != 0
          || !found || oif == (guint32) ifindex)
        return TRUE;
      char name[IF_NAMESIZE] = "?";
      if_indextoname (oif, name);
      g_autofree char *what = g_strdup_printf (
          "cannot add route %s: a route to it through %s exists and is not Ember's (left alone)",
          buf, name);
      return nl_fail (error, err, what);
    }
  g_autofree char *what = g_strdup_printf ("cannot %s route %s", add ? "add" : "remove", buf);
  return nl_fail (error, err, what);
}

typedef struct {
  int ifindex;
  gint tentative;
} TentativeCount;

static void
count_one (const struct nlmsghdr *nh, gpointer user_data)
{
  TentativeCount *tc = user_data;
  struct ifaddrmsg a;
  if (nh->nlmsg_type != RTM_NEWADDR || nh->nlmsg_len < NLMSG_LENGTH (sizeof a))
    return;
  memcpy (&a, NLMSG_DATA (nh), sizeof a);
  if ((int) a.ifa_index != tc->ifindex)
    return;
  /* IFA_FLAGS, when present, carries all 32 bits. */
  guint32 flags = a.ifa_flags;
  const struct rtattr *tb[IFA_MAX + 1];
  ember_rtnl_parse_msg (nh, sizeof a, tb, IFA_MAX);
  ember_rtnl_attr_get_u32 (tb[IFA_FLAGS], &flags);
  tc->tentative += (flags & IFA_F_TENTATIVE) != 0;
}

/* How many of the link's IPv6 addresses are still tentative, or -1 with
 * errno-style *err when the dump failed. */
static gint
count_tentative (int ifindex, int *err)
{
  EmberRtnlRequest req;
  struct ifaddrmsg ifa = { .ifa_family = AF_INET6 };
  ember_rtnl_init (&req, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof ifa);
  TentativeCount tc = { .ifindex = ifindex };
  *err = ember_rtnl_dump (&req, count_one, &tc);
  return *err == 0 ? tc.tentative : -1;
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
