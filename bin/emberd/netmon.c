/* netmon — rtnetlink monitor, debounced. See netmon.h. */
#include "netmon.h"

#include <errno.h>
#include <glib-unix.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/rtnl.h"

struct _EmberNetmon {
  GMainContext *ctx;
  EmberNetmonFunc func;
  gpointer user_data;
  int fd;
  GSource *watch;
  GSource *timer;
  gint64 first_change; /* monotonic µs of the burst's first change, 0: none */
  guint32 ignored_ifindex;
  guint8 *buf;
};

#define RECV_SIZE 65536

static gboolean fire (gpointer user_data);

/* (Re)arms the debounce timer: 200 ms after this change, but no later
 * than 1 s after the burst's first one. */
static void
note_change (EmberNetmon *mon)
{
  gint64 now = g_get_monotonic_time ();
  if (mon->first_change == 0)
    mon->first_change = now;
  gint64 due = MIN (now + EMBER_NETMON_DEBOUNCE_MS * 1000,
                    mon->first_change + EMBER_NETMON_MAX_DELAY_MS * 1000);
  if (mon->timer != NULL)
    {
      g_source_destroy (mon->timer);
      g_source_unref (mon->timer);
    }
  guint delay_ms = (guint) MAX (0, (due - now) / 1000);
  mon->timer = g_timeout_source_new (delay_ms);
  g_source_set_callback (mon->timer, fire, mon, NULL);
  g_source_set_static_name (mon->timer, "ember-netmon-debounce");
  g_source_attach (mon->timer, mon->ctx);
}

static gboolean
fire (gpointer user_data)
{
  EmberNetmon *mon = user_data;
  g_clear_pointer (&mon->timer, g_source_unref);
  mon->first_change = 0;
  mon->func (mon, mon->user_data);
  return G_SOURCE_REMOVE;
}

/* The interface a message is about, or 0 when it names none (a route
 * without an output interface, a multipath one). */
static guint32
message_ifindex (const struct nlmsghdr *nh)
{
  switch (nh->nlmsg_type)
    {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      {
        struct ifinfomsg ifi;
        if (nh->nlmsg_len < NLMSG_LENGTH (sizeof ifi))
          return 0;
        memcpy (&ifi, NLMSG_DATA (nh), sizeof ifi);
        return (guint32) ifi.ifi_index;
      }
    case RTM_NEWADDR:
    case RTM_DELADDR:
      {
        struct ifaddrmsg ifa;
        if (nh->nlmsg_len < NLMSG_LENGTH (sizeof ifa))
          return 0;
        memcpy (&ifa, NLMSG_DATA (nh), sizeof ifa);
        return ifa.ifa_index;
      }
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      {
        const struct rtattr *tb[RTA_MAX + 1];
        ember_rtnl_parse_msg (nh, sizeof (struct rtmsg), tb, RTA_MAX);
        guint32 oif = 0;
        ember_rtnl_attr_get_u32 (tb[RTA_OIF], &oif);
        return oif;
      }
    default:
      return 0;
    }
}

static gboolean
counts (EmberNetmon *mon, const struct nlmsghdr *nh)
{
  switch (nh->nlmsg_type)
    {
    case RTM_NEWLINK:
    case RTM_DELLINK:
    case RTM_NEWADDR:
    case RTM_DELADDR:
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      return mon->ignored_ifindex == 0 || message_ifindex (nh) != mon->ignored_ifindex;
    default:
      return FALSE;
    }
}

static gboolean
readable (gint fd, GIOCondition cond, gpointer user_data)
{
  EmberNetmon *mon = user_data;
  (void) cond;
  gboolean changed = FALSE;
  /* Drain everything queued: one wake-up per burst, not per message. */
  for (guint i = 0; i < 1024; i++)
    {
      ssize_t n = recv (fd, mon->buf, RECV_SIZE, MSG_DONTWAIT);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == ENOBUFS)
            {
              /* The kernel dropped events: something changed. */
              changed = TRUE;
              continue;
            }
          break;
        }
      int left = (int) n;
      for (const struct nlmsghdr *nh = (const struct nlmsghdr *) mon->buf; NLMSG_OK (nh, left);
           nh = NLMSG_NEXT (nh, left))
        if (counts (mon, nh))
          changed = TRUE;
    }
  if (changed)
    note_change (mon);
  return G_SOURCE_CONTINUE;
}

EmberNetmon *
ember_netmon_new (GMainContext *ctx, EmberNetmonFunc func, gpointer user_data, GError **error)
{
  g_return_val_if_fail (func != NULL, NULL);
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "netlink monitor: cannot open a NETLINK_ROUTE socket: %s", g_strerror (err));
      return NULL;
    }
  struct sockaddr_nl local = {
    .nl_family = AF_NETLINK,
    .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE
                 | RTMGRP_IPV6_ROUTE,
  };
  /* A burst (a link with many routes) can exceed the default buffer;
   * an overrun is handled, but rarer is better. */
  int rcvbuf = 1 << 20;
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (bind (fd, (struct sockaddr *) &local, sizeof local) != 0)
    {
      int err = errno;
      close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "netlink monitor: cannot subscribe to link, address and route changes: %s",
                   g_strerror (err));
      return NULL;
    }
  EmberNetmon *mon = g_new0 (EmberNetmon, 1);
  mon->ctx = ctx != NULL ? g_main_context_ref (ctx) : g_main_context_ref_thread_default ();
  mon->func = func;
  mon->user_data = user_data;
  mon->fd = fd;
  mon->buf = g_malloc (RECV_SIZE);
  mon->watch = g_unix_fd_source_new (fd, G_IO_IN);
  g_source_set_callback (mon->watch, G_SOURCE_FUNC (readable), mon, NULL);
  g_source_set_static_name (mon->watch, "ember-netmon");
  g_source_attach (mon->watch, mon->ctx);
  return mon;
}

void
ember_netmon_set_ignored_ifindex (EmberNetmon *mon, guint ifindex)
{
  g_return_if_fail (mon != NULL);
  mon->ignored_ifindex = ifindex;
}

/* ---- the address list ------------------------------------------------ */

typedef struct {
  GHashTable *usable_links; /* ifindex -> TRUE: up, not loopback */
  GArray *addrs;
} ListState;

static void
link_one (const struct nlmsghdr *nh, gpointer user_data)
{
  ListState *ls = user_data;
  struct ifinfomsg ifi;
  if (nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_len < NLMSG_LENGTH (sizeof ifi))
    return;
  memcpy (&ifi, NLMSG_DATA (nh), sizeof ifi);
  if ((ifi.ifi_flags & IFF_UP) && !(ifi.ifi_flags & IFF_LOOPBACK))
    g_hash_table_add (ls->usable_links, GINT_TO_POINTER (ifi.ifi_index));
}

static void
addr_one (const struct nlmsghdr *nh, gpointer user_data)
{
  ListState *ls = user_data;
  struct ifaddrmsg ifa;
  if (nh->nlmsg_type != RTM_NEWADDR || nh->nlmsg_len < NLMSG_LENGTH (sizeof ifa))
    return;
  memcpy (&ifa, NLMSG_DATA (nh), sizeof ifa);
  if (!g_hash_table_contains (ls->usable_links, GINT_TO_POINTER ((int) ifa.ifa_index)))
    return;
  const struct rtattr *tb[IFA_MAX + 1];
  ember_rtnl_parse_msg (nh, sizeof ifa, tb, IFA_MAX);
  guint32 flags = ifa.ifa_flags;
  ember_rtnl_attr_get_u32 (tb[IFA_FLAGS], &flags);
  if (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))
    return;
  /* IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on a
   * point-to-point link and the address otherwise. */
  const struct rtattr *a = tb[IFA_LOCAL] != NULL ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  EmberAddr addr = { 0 };
  if (ifa.ifa_family == AF_INET && a != NULL && RTA_PAYLOAD (a) == 4)
    addr.family = EMBER_ADDR_IPV4;
  else if (ifa.ifa_family == AF_INET6 && a != NULL && RTA_PAYLOAD (a) == 16)
    addr.family = EMBER_ADDR_IPV6;
  else
    return;
  memcpy (addr.addr, RTA_DATA (a), RTA_PAYLOAD (a));
  if (addr.family == EMBER_ADDR_IPV4 && addr.addr[0] == 127)
    return;
  if (addr.family == EMBER_ADDR_IPV6
      && ((addr.addr[0] == 0xfe && (addr.addr[1] & 0xc0) == 0x80)
          || ifa.ifa_scope == RT_SCOPE_HOST))
    return;
  g_array_append_val (ls->addrs, addr);
}

GArray *
ember_netmon_list_addresses (EmberNetmon *mon, GError **error)
{
  g_return_val_if_fail (mon != NULL, NULL);
  ListState ls = {
    .usable_links = g_hash_table_new (NULL, NULL),
    .addrs = g_array_new (FALSE, TRUE, sizeof (EmberAddr)),
  };
  EmberRtnlRequest req;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  ember_rtnl_init (&req, RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof ifi);
  int err = ember_rtnl_dump (&req, link_one, &ls);
  if (err == 0)
    {
      struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC };
      ember_rtnl_init (&req, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof ifa);
      err = ember_rtnl_dump (&req, addr_one, &ls);
    }
  g_hash_table_unref (ls.usable_links);
  if (err != 0)
    {
      g_array_unref (ls.addrs);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot list the host's addresses: %s", g_strerror (err));
      return NULL;
    }
  return ls.addrs;
}

void
ember_netmon_free (EmberNetmon *mon)
{
  if (mon == NULL)
    return;
  if (mon->timer != NULL)
    {
      g_source_destroy (mon->timer);
      g_source_unref (mon->timer);
    }
  g_source_destroy (mon->watch);
  g_source_unref (mon->watch);
  close (mon->fd);
  g_main_context_unref (mon->ctx);
  g_free (mon->buf);
  g_free (mon);
}
