/* netconf-kernel — one object in the kernel. See netconf-kernel.h. */
#include "netconf-kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/rtnl.h"
#include "netconf.h"

static int
af_of (guint family)
{
  return family == 4 ? AF_INET : AF_INET6;
}

/* ---- sysctls --------------------------------------------------------- */

static char *
sysctl_path (const char *key)
{
  g_autofree char *rel = g_strdup (key);
  g_strdelimit (rel, ".", '/');
  return g_build_filename ("/proc/sys", rel, NULL);
}

gboolean
ember_netconf_sysctl_read (const char *key, char *buf, gsize size, GError **error)
{
  g_autofree char *path = sysctl_path (key);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local))
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_KERNEL,
                   "sysctl %s: %s", key, local->message);
      return FALSE;
    }
  g_strstrip (text);
  g_strlcpy (buf, text, size);
  return TRUE;
}

static int
sysctl_write (const char *key, const char *value)
{
  g_autofree char *path = sysctl_path (key);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  /* One write: a sysctl takes its value from a single write call. */
  gsize len = strlen (value);
  int err = write (fd, value, len) == (ssize_t) len ? 0 : (errno != 0 ? errno : EIO);
  close (fd);
  return err;
}

/* ---- kernel objects -------------------------------------------------- */

/* Whether the object's interface still is the one it was made on: a TUN
 * closed by a killed run took its routes and addresses with it, and its
 * index may since have been reused. */
gboolean
ember_netconf_obj_dev_still_there (const EmberNetconfObj *obj)
{
  char name[IF_NAMESIZE];
  return if_indextoname (obj->ifindex, name) != NULL && strcmp (name, obj->ifname) == 0;
}

static void
build_address (EmberRtnlRequest *req, const EmberNetconfObj *obj, gboolean add)
{
  struct ifaddrmsg ifa = {
    .ifa_family = (guint8) af_of (obj->cidr.family),
    .ifa_prefixlen = obj->cidr.prefix,
    .ifa_scope = RT_SCOPE_UNIVERSE,
    .ifa_index = obj->ifindex,
  };
  ember_rtnl_init (req, add ? RTM_NEWADDR : RTM_DELADDR, add ? NLM_F_CREATE | NLM_F_EXCL : 0,
                   &ifa, sizeof ifa);
  gsize alen = obj->cidr.family == 4 ? 4 : 16;
  ember_rtnl_attr (req, IFA_LOCAL, obj->cidr.addr, alen);
  ember_rtnl_attr (req, IFA_ADDRESS, obj->cidr.addr, alen);
  if (add && obj->cidr.family == 6)
    ember_rtnl_attr_u32 (req, IFA_FLAGS, IFA_F_NODAD);
}

static void
build_route (EmberRtnlRequest *req, const EmberNetconfObj *obj, gboolean add)
{
  struct rtmsg rtm = {
    .rtm_family = (guint8) af_of (obj->cidr.family),
    .rtm_dst_len = obj->cidr.prefix,
    .rtm_table = obj->table < 256 ? (guint8) obj->table : RT_TABLE_UNSPEC,
    .rtm_protocol = RTPROT_STATIC,
    .rtm_scope = RT_SCOPE_LINK,
    .rtm_type = RTN_UNICAST,
  };
  ember_rtnl_init (req, add ? RTM_NEWROUTE : RTM_DELROUTE, add ? NLM_F_CREATE | NLM_F_EXCL : 0,
                   &rtm, sizeof rtm);
  ember_rtnl_attr_u32 (req, RTA_TABLE, obj->table);
  if (obj->cidr.prefix > 0)
    ember_rtnl_attr (req, RTA_DST, obj->cidr.addr, obj->cidr.family == 4 ? 4 : 16);
  ember_rtnl_attr_u32 (req, RTA_OIF, obj->ifindex);
}

static void
build_rule (EmberRtnlRequest *req, const EmberNetconfObj *obj, gboolean add)
{
  struct fib_rule_hdr frh = {
    .family = (guint8) af_of (obj->family),
    .table = obj->table < 256 ? (guint8) obj->table : RT_TABLE_UNSPEC,
    .action = FR_ACT_TO_TBL,
    .flags = obj->invert_fwmark ? FIB_RULE_INVERT : 0,
  };
  ember_rtnl_init (req, add ? RTM_NEWRULE : RTM_DELRULE, add ? NLM_F_CREATE | NLM_F_EXCL : 0,
                   &frh, sizeof frh);
  ember_rtnl_attr_u32 (req, FRA_TABLE, obj->table);
  ember_rtnl_attr_u32 (req, FRA_PRIORITY, obj->priority);
  if (obj->invert_fwmark)
    {
      ember_rtnl_attr_u32 (req, FRA_FWMARK, obj->fwmark);
      ember_rtnl_attr_u32 (req, FRA_FWMASK, G_MAXUINT32);
    }
  if (obj->suppress_prefixlen >= 0)
    ember_rtnl_attr_u32 (req, FRA_SUPPRESS_PREFIXLEN, (guint32) obj->suppress_prefixlen);
}

/* ---- wg-quick's nftables table for a full tunnel --------------------- */

/* Runs nft commands in one transaction: 0, or EPROTO with libnftables'
 * own text in *detail. */
static int
nft_exec (const char *cmds, char **detail)
{
  struct nft_ctx *nft = nft_ctx_new (NFT_CTX_DEFAULT);
  if (nft == NULL)
    {
      *detail = g_strdup ("cannot create a libnftables context");
      return ENOMEM;
    }
  nft_ctx_buffer_output (nft);
  nft_ctx_buffer_error (nft);
  int rc = nft_run_cmd_from_buffer (nft, cmds);
  if (rc != 0)
    {
      const char *text = nft_ctx_get_error_buffer (nft);
      *detail = g_strstrip (g_strdup (text != NULL && text[0] != '\0' ? text : "nft failed"));
    }
  nft_ctx_free (nft);
  return rc == 0 ? 0 : EPROTO;
}

typedef struct {
  guint32 ifindex;
  int af;
  const char *ifname;
  GString *rules;
} TunnelAddrs;

static void
tunnel_addr_one (const struct nlmsghdr *nh, gpointer user_data)
{
  TunnelAddrs *ta = user_data;
  struct ifaddrmsg ifa;
  if (nh->nlmsg_type != RTM_NEWADDR || nh->nlmsg_len < NLMSG_LENGTH (sizeof ifa))
    return;
  memcpy (&ifa, NLMSG_DATA (nh), sizeof ifa);
  if (ifa.ifa_index != ta->ifindex || ifa.ifa_family != ta->af)
    return;
  const struct rtattr *tb[IFA_MAX + 1];
  ember_rtnl_parse_msg (nh, sizeof ifa, tb, IFA_MAX);
  const struct rtattr *a = tb[IFA_LOCAL] != NULL ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  gsize alen = ta->af == AF_INET ? 4 : 16;
  EmberCidr c;
  if (a == NULL || RTA_PAYLOAD (a) != alen
      || !ember_cidr_init (&c, ta->af == AF_INET ? 4 : 6, RTA_DATA (a), (guint) alen * 8))
    return;
  if (c.family == 6 && c.addr[0] == 0xfe && (c.addr[1] & 0xc0) == 0x80)
    return; /* link-local: not reachable from elsewhere anyway */
  char buf[EMBER_CIDR_STRLEN];
  ember_cidr_format (&c, buf);
  *strchr (buf, '/') = '\0';
  g_string_append_printf (ta->rules,
                          "    iifname != \"%s\" %s daddr %s fib saddr type != local drop\n",
                          ta->ifname, c.family == 4 ? "ip" : "ip6", buf);
}

/* Creates (or deletes) the table: as wg-quick does for a full tunnel,
 *  - preraw: packets for the tunnel's own addresses that arrive by any
 *    other interface from a non-local source are dropped (the tunnel's
 *    address must not be reachable from the LAN);
 *  - premangle / postmangle: the fwmark of Ember's UDP is saved in
 *    conntrack and restored on the replies, so that reverse-path
 *    filtering (src_valid_mark=1) sees them as marked and lets them in. */
static int
nft_table_apply (const EmberNetconfObj *obj, gboolean add, char **detail)
{
  const char *fam = obj->family == 4 ? "ip" : "ip6";
  if (!add)
    {
      /* Journalled, so Ember's: "add" first makes the delete valid when
       * someone removed it already. */
      g_autofree char *cmds = g_strdup_printf ("add table %s %s\ndelete table %s %s\n", fam,
                                               obj->nft_table, fam, obj->nft_table);
      return nft_exec (cmds, detail);
    }
  g_autofree char *list = g_strdup_printf ("list table %s %s\n", fam, obj->nft_table);
  g_autofree char *ignored = NULL;
  if (nft_exec (list, &ignored) == 0)
    return EEXIST;

  TunnelAddrs ta = { .ifindex = obj->ifindex, .af = af_of (obj->family),
                     .ifname = obj->ifname, .rules = g_string_new (NULL) };
  struct ifaddrmsg ifa = { .ifa_family = (guint8) ta.af };
  EmberRtnlRequest req;
  ember_rtnl_init (&req, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof ifa);
  int err = ember_rtnl_dump (&req, tunnel_addr_one, &ta);
  if (err != 0)
    {
      g_string_free (ta.rules, TRUE);
      *detail = g_strdup_printf ("cannot list the tunnel's addresses: %s", g_strerror (err));
      return err;
    }
  g_autofree char *preraw = g_string_free (ta.rules, FALSE);
  g_autofree char *cmds = g_strdup_printf (
      "create table %s %s\n"
      "table %s %s {\n"
      "  chain preraw {\n"
      "    type filter hook prerouting priority raw; policy accept;\n"
      "%s"
      "  }\n"
      "  chain premangle {\n"
      "    type filter hook prerouting priority mangle; policy accept;\n"
      "    meta l4proto udp meta mark set ct mark\n"
      "  }\n"
      "  chain postmangle {\n"
      "    type filter hook postrouting priority mangle; policy accept;\n"
      "    meta l4proto udp meta mark %u ct mark set meta mark\n"
      "  }\n"
      "}\n",
      fam, obj->nft_table, fam, obj->nft_table, preraw, obj->fwmark);
  return nft_exec (cmds, detail);
}

/* 0 or a positive errno; *detail (g_free) may say more than the errno. */
int
ember_netconf_obj_apply (const EmberNetconfObj *obj, gboolean add, char **detail)
{
  EmberRtnlRequest req;
  switch (obj->kind)
    {
    case EMBER_NETCONF_OBJ_ADDRESS:
      build_address (&req, obj, add);
      return ember_rtnl_transact (&req);
    case EMBER_NETCONF_OBJ_ROUTE:
      build_route (&req, obj, add);
      return ember_rtnl_transact (&req);
    case EMBER_NETCONF_OBJ_RULE:
      build_rule (&req, obj, add);
      return ember_rtnl_transact (&req);
    case EMBER_NETCONF_OBJ_SYSCTL:
      return sysctl_write (obj->sysctl_key, add ? obj->sysctl_set : obj->sysctl_was);
    case EMBER_NETCONF_OBJ_NFT_TABLE:
      return nft_table_apply (obj, add, detail);
    default:
      return EINVAL;
    }
}

/* Whether a delete's errno says the object is already gone. */
gboolean
ember_netconf_obj_is_gone (const EmberNetconfObj *obj, int err)
{
  switch (obj->kind)
    {
    case EMBER_NETCONF_OBJ_ADDRESS:
      return err == EADDRNOTAVAIL || err == ENODEV || err == ENOENT;
    case EMBER_NETCONF_OBJ_ROUTE:
      return err == ESRCH || err == ENODEV || err == ENOENT;
    case EMBER_NETCONF_OBJ_RULE:
      return err == ENOENT;
    default:
      return FALSE;
    }
}

gboolean
ember_netconf_route_same_dev (const EmberNetconfObj *obj, guint32 *oif)
{
  gboolean found = FALSE;
  if (ember_rtnl_route_find (obj->cidr.family, obj->table, obj->cidr.addr, obj->cidr.prefix,
                             obj->ifindex, &found, oif) != 0 || !found)
    return TRUE;
  return *oif == obj->ifindex;
}

typedef struct {
  guint32 lowest; /* lowest non-zero priority seen, G_MAXUINT32 if none */
} RulePrio;

static void
rule_prio_one (const struct nlmsghdr *nh, gpointer user_data)
{
  RulePrio *rp = user_data;
  if (nh->nlmsg_type != RTM_NEWRULE)
    return;
  const struct rtattr *tb[FRA_MAX + 1];
  ember_rtnl_parse_msg (nh, sizeof (struct fib_rule_hdr), tb, FRA_MAX);
  guint32 prio = 0;
  ember_rtnl_attr_get_u32 (tb[FRA_PRIORITY], &prio);
  if (prio > 0 && prio < rp->lowest)
    rp->lowest = prio;
}

/* The priority the kernel would give a new rule of the family without
 * one: one less than the lowest non-zero priority (32765 on a host with
 * only the default rules). */
gboolean
ember_netconf_rule_priority (int af, guint32 *prio, GError **error)
{
  struct fib_rule_hdr frh = { .family = (guint8) af };
  EmberRtnlRequest req;
  ember_rtnl_init (&req, RTM_GETRULE, NLM_F_DUMP, &frh, sizeof frh);
  RulePrio rp = { .lowest = G_MAXUINT32 };
  int err = ember_rtnl_dump (&req, rule_prio_one, &rp);
  if (err != 0)
    {
      g_set_error (error, EMBER_NETCONF_ERROR,
                   err == EPERM || err == EACCES ? EMBER_NETCONF_ERROR_PERMISSION
                                                 : EMBER_NETCONF_ERROR_KERNEL,
                   "cannot list the policy routing rules: %s", g_strerror (err));
      return FALSE;
    }
  if (rp.lowest == G_MAXUINT32)
    rp.lowest = 32766; /* every default rule deleted: where main's would be */
  if (rp.lowest < 3)
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_KERNEL,
                   "no free rule priority below %u for IPv%c rules", rp.lowest,
                   af == AF_INET ? '4' : '6');
      return FALSE;
    }
  *prio = rp.lowest - 1;
  return TRUE;
}
