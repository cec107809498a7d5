/* net/rtnl.c — rtnetlink requests. See rtnl.h. */
#include "rtnl.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Big enough for any dump message the kernel builds (it sizes them to the
 * reader's buffer up to 32 KiB); heap, since two of them would not fit a
 * thread's stack comfortably. */
#define RECV_SIZE 65536

static guint32
next_seq (void)
{
  static gint seq;
  return (guint32) g_atomic_int_add (&seq, 1) + 1;
}

void
ember_rtnl_init (EmberRtnlRequest *req, guint16 type, guint16 flags, const void *body,
                 gsize body_len)
{
  g_assert (NLMSG_LENGTH (body_len) <= sizeof req->u.bytes);
  memset (req, 0, sizeof *req);
  req->u.nh.nlmsg_type = type;
  flags |= NLM_F_REQUEST;
  if ((flags & NLM_F_DUMP) != NLM_F_DUMP)
    flags |= NLM_F_ACK;
  req->u.nh.nlmsg_flags = flags;
  req->u.nh.nlmsg_seq = next_seq ();
  req->u.nh.nlmsg_len = (guint32) NLMSG_LENGTH (body_len);
  memcpy (req->u.bytes + NLMSG_HDRLEN, body, body_len);
}

void
ember_rtnl_attr (EmberRtnlRequest *req, guint16 type, const void *data, gsize len)
{
  struct nlmsghdr *nh = &req->u.nh;
  gsize off = NLMSG_ALIGN (nh->nlmsg_len);
  struct rtattr rta = { .rta_len = (unsigned short) RTA_LENGTH (len), .rta_type = type };
  g_assert (off + RTA_ALIGN (rta.rta_len) <= sizeof req->u.bytes);
  memcpy (req->u.bytes + off, &rta, sizeof rta);
  if (len > 0)
    memcpy (req->u.bytes + off + RTA_LENGTH (0), data, len);
  nh->nlmsg_len = (guint32) (off + RTA_ALIGN (rta.rta_len));
}

void
ember_rtnl_attr_u32 (EmberRtnlRequest *req, guint16 type, guint32 value)
{
  ember_rtnl_attr (req, type, &value, sizeof value);
}

static int
open_and_send (const EmberRtnlRequest *req, int *fd_out)
{
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0)
    return errno;
  /* Bounded: the kernel answers a request at once or never. */
  struct timeval tv = { .tv_sec = 2 };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  if (sendto (fd, req->u.bytes, req->u.nh.nlmsg_len, 0, (struct sockaddr *) &kernel,
              sizeof kernel) < 0)
    {
      int err = errno;
      close (fd);
      return err;
    }
  *fd_out = fd;
  return 0;
}

/* Reads the answers to `seq` and hands each to `func` until the ACK
 * (NLMSG_ERROR) or, for a dump, NLMSG_DONE: 0 or a positive errno. */
static int
read_answers (int fd, guint32 seq, EmberRtnlDumpFunc func, gpointer user_data)
{
  g_autofree guint8 *buf = g_malloc (RECV_SIZE);
  for (;;)
    {
      ssize_t n = recv (fd, buf, RECV_SIZE, 0);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return errno;
        }
      if (n == 0)
        return EPROTO;
      int left = (int) n;
      for (const struct nlmsghdr *nh = (const struct nlmsghdr *) buf; NLMSG_OK (nh, left);
           nh = NLMSG_NEXT (nh, left))
        {
          if (nh->nlmsg_seq != seq)
            continue;
          if (nh->nlmsg_type == NLMSG_DONE)
            return 0;
          if (nh->nlmsg_type == NLMSG_ERROR)
            {
              if (nh->nlmsg_len < NLMSG_LENGTH (sizeof (struct nlmsgerr)))
                return EPROTO;
              struct nlmsgerr e;
              memcpy (&e, NLMSG_DATA (nh), sizeof e);
              return -e.error;
            }
          if (func != NULL)
            func (nh, user_data);
        }
    }
}

int
ember_rtnl_transact (const EmberRtnlRequest *req)
{
  int fd;
  int err = open_and_send (req, &fd);
  if (err != 0)
    return err;
  err = read_answers (fd, req->u.nh.nlmsg_seq, NULL, NULL);
  close (fd);
  return err;
}

int
ember_rtnl_dump (const EmberRtnlRequest *req, EmberRtnlDumpFunc func, gpointer user_data)
{
  g_return_val_if_fail ((req->u.nh.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP, EINVAL);
  int fd;
  int err = open_and_send (req, &fd);
  if (err != 0)
    return err;
  err = read_answers (fd, req->u.nh.nlmsg_seq, func, user_data);
  close (fd);
  return err;
}

void
ember_rtnl_parse_attrs (const struct rtattr *first, gsize len, const struct rtattr **tb,
                        guint max)
{
  memset (tb, 0, sizeof *tb * (max + 1));
  int left = (int) MIN (len, (gsize) G_MAXINT);
  for (const struct rtattr *rta = first; RTA_OK (rta, left); rta = RTA_NEXT (rta, left))
    if (rta->rta_type <= max)
      tb[rta->rta_type] = rta;
}

void
ember_rtnl_parse_msg (const struct nlmsghdr *nh, gsize body_len, const struct rtattr **tb,
                      guint max)
{
  gsize off = NLMSG_ALIGN (body_len);
  if (nh->nlmsg_len < NLMSG_LENGTH (off))
    {
      memset (tb, 0, sizeof *tb * (max + 1));
      return;
    }
  const guint8 *body = NLMSG_DATA (nh);
  ember_rtnl_parse_attrs ((const struct rtattr *) (body + off),
                          nh->nlmsg_len - NLMSG_LENGTH (off), tb, max);
}

gboolean
ember_rtnl_attr_get_u32 (const struct rtattr *rta, guint32 *out)
{
  if (rta == NULL || RTA_PAYLOAD (rta) < sizeof *out)
    return FALSE;
  memcpy (out, RTA_DATA (rta), sizeof *out);
  return TRUE;
}

typedef struct {
  guint32 table;
  const guint8 *dst;
  gsize alen;
  guint prefix;
  guint32 prefer_oif;
  gboolean found;
  guint32 oif;
} RouteFind;

static void
route_find_one (const struct nlmsghdr *nh, gpointer user_data)
{
  RouteFind *rf = user_data;
  struct rtmsg rtm;
  if (nh->nlmsg_type != RTM_NEWROUTE || nh->nlmsg_len < NLMSG_LENGTH (sizeof rtm))
    return;
  memcpy (&rtm, NLMSG_DATA (nh), sizeof rtm);
  const struct rtattr *tb[RTA_MAX + 1];
  ember_rtnl_parse_msg (nh, sizeof rtm, tb, RTA_MAX);
  guint32 table = rtm.rtm_table;
  ember_rtnl_attr_get_u32 (tb[RTA_TABLE], &table);
  if (table != rf->table || rtm.rtm_dst_len != rf->prefix)
    return;
  if (rf->prefix > 0
      && (tb[RTA_DST] == NULL || RTA_PAYLOAD (tb[RTA_DST]) != rf->alen
          || memcmp (RTA_DATA (tb[RTA_DST]), rf->dst, rf->alen) != 0))
    return;
  guint32 oif = 0;
  ember_rtnl_attr_get_u32 (tb[RTA_OIF], &oif);
  if (!rf->found || oif == rf->prefer_oif)
    rf->oif = oif;
  rf->found = TRUE;
}

int
ember_rtnl_route_find (guint family, guint32 table, const guint8 *dst, guint prefix,
                       guint32 prefer_oif, gboolean *found, guint32 *oif)
{
  g_return_val_if_fail (family == 4 || family == 6, EINVAL);
  struct rtmsg rtm = { .rtm_family = family == 4 ? AF_INET : AF_INET6 };
  EmberRtnlRequest req;
  ember_rtnl_init (&req, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof rtm);
  RouteFind rf = { .table = table, .dst = dst, .alen = family == 4 ? 4 : 16, .prefix = prefix,
                   .prefer_oif = prefer_oif };
  int err = ember_rtnl_dump (&req, route_find_one, &rf);
  *found = rf.found;
  *oif = rf.oif;
  return err;
}
