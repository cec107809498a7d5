/* netconf — addresses, routes and rules, journalled. See netconf.h. */
#include "netconf.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/rtnl.h"
#include "netconf-journal.h"
#include "netconf-kernel.h"

#define JOURNAL_NAME "netconf.journal"
#define LOCK_NAME "netconf.lock"
#define SRC_VALID_MARK "net.ipv4.conf.all.src_valid_mark"

/* What one family's full tunnel added (only objects that are Ember's). */
typedef struct {
  gboolean active;
  GArray *objs; /* EmberNetconfObj */
} FullTunnel;

struct _EmberNetconf {
  int lock_fd; /* flock'd for the instance's lifetime */
  char *state_dir;
  char *journal_path;
  GArray *objs; /* EmberNetconfObj: Ember's, in the order added */
  FullTunnel full[2]; /* [0] IPv4, [1] IPv6 */
};

typedef enum {
  ADD_OURS,    /* created by this call, journalled */
  ADD_PRESENT, /* an identical object was already there: not Ember's */
  ADD_FAILED,
} AddResult;

static int
af_of (guint family)
{
  return family == 4 ? AF_INET : AF_INET6;
}

static gboolean
set_kernel_error_detail (GError **error, int err, const char *what, const char *detail)
{
  g_set_error (error, EMBER_NETCONF_ERROR,
               err == EPERM || err == EACCES ? EMBER_NETCONF_ERROR_PERMISSION
                                             : EMBER_NETCONF_ERROR_KERNEL,
               "%s: %s", what, detail != NULL ? detail : g_strerror (err));
  return FALSE;
}

/* ---- the journal file ---------------------------------------------- */

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Replaces the journal with `objs`, durably: write a temporary file,
 * fsync it, rename it over the journal, fsync the directory. */
static gboolean
journal_save (EmberNetconf *nc, GError **error)
{
  g_autofree char *text = ember_netconf_journal_format (nc->objs);
  g_autofree char *tmp = g_strconcat (nc->journal_path, ".new", NULL);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  int err = 0;
  if (fd < 0)
    err = errno;
  else
    {
      errno = 0;
      if (!write_all (fd, text, strlen (text)) || fsync (fd) != 0)
        err = errno != 0 ? errno : EIO;
      if (close (fd) != 0 && err == 0)
        err = errno;
      if (err == 0 && rename (tmp, nc->journal_path) != 0)
        err = errno;
    }
  if (err == 0)
    {
      int dfd = open (nc->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0 || fsync (dfd) != 0)
        err = errno;
      if (dfd >= 0)
        close (dfd);
    }
  if (err != 0)
    {
      unlink (tmp);
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL,
                   "cannot write %s: %s", nc->journal_path, g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

static gint
journal_find (EmberNetconf *nc, const EmberNetconfObj *obj)
{
  for (guint i = 0; i < nc->objs->len; i++)
    if (ember_netconf_obj_equal (&g_array_index (nc->objs, EmberNetconfObj, i), obj))
      return (gint) i;
  return -1;
}

/* Forgets an object (deleted, or found not to be Ember's) and saves. */
static gboolean
journal_forget (EmberNetconf *nc, const EmberNetconfObj *obj, GError **error)
{
  gint i = journal_find (nc, obj);
  if (i < 0)
    return TRUE;
  g_array_remove_index (nc->objs, (guint) i);
  return journal_save (nc, error);
}

/* Undoes one object in the kernel (not the journal): TRUE when it is gone
 * afterwards, whoever removed it. */
static gboolean
undo_object (const EmberNetconfObj *obj, GError **error)
{
  g_autofree char *what = ember_netconf_obj_describe (obj);
  if ((obj->kind == EMBER_NETCONF_OBJ_ADDRESS || obj->kind == EMBER_NETCONF_OBJ_ROUTE)
      && !ember_netconf_obj_dev_still_there (obj))
    {
      g_debug ("%s: the interface is gone, and the object with it", what);
      return TRUE;
    }
  if (obj->kind == EMBER_NETCONF_OBJ_SYSCTL)
    {
      char now[32];
      if (!ember_netconf_sysctl_read (obj->sysctl_key, now, sizeof now, error))
        return FALSE;
      if (strcmp (now, obj->sysctl_set) != 0)
        {
          /* Someone changed it after us: theirs now. */
          g_message ("%s: now %s, changed by someone else: left alone", what, now);
          return TRUE;
        }
    }
  g_autofree char *detail = NULL;
  int err = ember_netconf_obj_apply (obj, FALSE, &detail);
  if (err == 0 || ember_netconf_obj_is_gone (obj, err))
    {
      g_debug ("removed %s", what);
      return TRUE;
    }
  g_autofree char *msg = g_strdup_printf ("cannot remove %s", what);
  return set_kernel_error_detail (error, err, msg, detail);
}

/* Journals `obj`, then creates it. An identical object already there
 * (EEXIST) is not Ember's: forgotten again, left alone. */
static AddResult
object_add (EmberNetconf *nc, const EmberNetconfObj *obj, GError **error)
{
  g_autofree char *what = ember_netconf_obj_describe (obj);
  if (journal_find (nc, obj) >= 0)
    return ADD_PRESENT; /* added before by this instance: nothing to do */
  g_array_append_val (nc->objs, *obj);
  if (!journal_save (nc, error))
    {
      g_array_remove_index (nc->objs, nc->objs->len - 1);
      return ADD_FAILED;
    }
  g_autofree char *detail = NULL;
  int err = ember_netconf_obj_apply (obj, TRUE, &detail);
  if (err == 0)
    {
      g_debug ("added %s", what);
      return ADD_OURS;
    }
  g_autoptr (GError) save_error = NULL;
  if (!journal_forget (nc, obj, &save_error))
    g_warning ("%s", save_error->message);
  if (err == EEXIST)
    {
      guint32 oif = 0;
      if (obj->kind == EMBER_NETCONF_OBJ_ROUTE && !ember_netconf_route_same_dev (obj, &oif))
        {
          char name[IF_NAMESIZE] = "?";
          if_indextoname (oif, name);
          g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_KERNEL,
                       "cannot add %s: a route to the same prefix through %s exists and is "
                       "not Ember's: left alone", what, name);
          return ADD_FAILED;
        }
      g_message ("%s is already there and not Ember's: left alone", what);
      return ADD_PRESENT;
    }
  g_autofree char *msg = g_strdup_printf ("cannot add %s", what);
  set_kernel_error_detail (error, err, msg, detail);
  return ADD_FAILED;
}

/* Deletes an object of Ember's and forgets it; one that is not Ember's
 * is left alone. */
static gboolean
object_remove (EmberNetconf *nc, const EmberNetconfObj *obj, GError **error)
{
  gint i = journal_find (nc, obj);
  if (i < 0)
    return TRUE;
  /* The journal's copy: it knows the ifname and the sysctl's old value. */
  EmberNetconfObj ours = g_array_index (nc->objs, EmberNetconfObj, i);
  if (!undo_object (&ours, error))
    return FALSE;
  return journal_forget (nc, &ours, error);
}

static gboolean
fill_dev (EmberNetconfObj *obj, guint ifindex, GError **error)
{
  obj->ifindex = ifindex;
  if (ifindex == 0 || if_indextoname (ifindex, obj->ifname) == NULL)
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID,
                   "no interface with index %u", ifindex);
      return FALSE;
    }
  return TRUE;
}

/* ---- start: undo a previous run ------------------------------------ */

static gboolean
undo_previous_run (EmberNetconf *nc, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (nc->journal_path, &text, &len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL, "%s",
                   local->message);
      return FALSE;
    }
  GArray *objs = NULL;
  if (!ember_netconf_journal_parse (text, len, &objs, &local))
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL,
                   "%s: %s; nothing was removed: check the routes, rules and addresses it "
                   "names by hand, then delete it", nc->journal_path, local->message);
      return FALSE;
    }
  g_array_unref (nc->objs);
  nc->objs = objs;
  if (objs->len > 0)
    g_message ("%s: removing %u objects a previous run left", nc->journal_path, objs->len);
  /* Last added first, as at a normal exit. */
  while (nc->objs->len > 0)
    {
      EmberNetconfObj obj = g_array_index (nc->objs, EmberNetconfObj, nc->objs->len - 1);
      if (!undo_object (&obj, error))
        return FALSE;
      g_array_remove_index (nc->objs, nc->objs->len - 1);
      if (!journal_save (nc, error))
        return FALSE;
    }
  return TRUE;
}

EmberNetconf *
ember_netconf_new (const char *state_dir, GError **error)
{
  g_return_val_if_fail (state_dir != NULL, NULL);
  g_autoptr (EmberNetconf) nc = g_new0 (EmberNetconf, 1);
  nc->lock_fd = -1;
  nc->state_dir = g_strdup (state_dir);
  nc->journal_path = g_build_filename (state_dir, JOURNAL_NAME, NULL);
  nc->objs = g_array_new (FALSE, TRUE, sizeof (EmberNetconfObj));
  for (guint f = 0; f < 2; f++)
    nc->full[f].objs = g_array_new (FALSE, TRUE, sizeof (EmberNetconfObj));
  if (!g_file_test (state_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL,
                   "state directory %s does not exist", state_dir);
      /* Nothing to undo; free must not touch a journal. */
      g_clear_pointer (&nc->journal_path, g_free);
      return NULL;
    }
  /* One instance per state directory: two would undo each other's
   * objects at start. The kernel drops the lock of a killed run. */
  g_autofree char *lock_path = g_build_filename (state_dir, LOCK_NAME, NULL);
  nc->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (nc->lock_fd < 0 || flock (nc->lock_fd, LOCK_EX | LOCK_NB) != 0)
    {
      int err = errno;
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL, "%s: %s", lock_path,
                   err == EWOULDBLOCK ? "another emberd uses this state directory"
                                      : g_strerror (err));
      g_clear_pointer (&nc->journal_path, g_free);
      return NULL;
    }
  if (!undo_previous_run (nc, error) || !journal_save (nc, error))
    {
      /* Keep the journal as it is for the next try. */
      g_array_set_size (nc->objs, 0);
      g_clear_pointer (&nc->journal_path, g_free);
      return NULL;
    }
  return g_steal_pointer (&nc);
}

/* ---- public calls ---------------------------------------------------- */

static gboolean
check_cidr (const EmberCidr *cidr, GError **error)
{
  if (cidr == NULL || (cidr->family != 4 && cidr->family != 6)
      || cidr->prefix > ember_addr_family_bits (cidr->family))
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID,
                   "not an IPv4 or IPv6 prefix");
      return FALSE;
    }
  return TRUE;
}

gboolean
ember_netconf_address_add (EmberNetconf *nc, guint ifindex, const EmberCidr *addr,
                           GError **error)
{
  g_return_val_if_fail (nc != NULL, FALSE);
  if (!check_cidr (addr, error))
    return FALSE;
  EmberNetconfObj obj = { .kind = EMBER_NETCONF_OBJ_ADDRESS, .cidr = *addr,
                          .suppress_prefixlen = -1 };
  if (!fill_dev (&obj, ifindex, error))
    return FALSE;
  return object_add (nc, &obj, error) != ADD_FAILED;
}

gboolean
ember_netconf_address_remove (EmberNetconf *nc, guint ifindex, const EmberCidr *addr,
                              GError **error)
{
  g_return_val_if_fail (nc != NULL, FALSE);
  if (!check_cidr (addr, error))
    return FALSE;
  EmberNetconfObj obj = { .kind = EMBER_NETCONF_OBJ_ADDRESS, .cidr = *addr, .ifindex = ifindex,
                          .suppress_prefixlen = -1 };
  return object_remove (nc, &obj, error);
}

static gboolean
make_route (EmberNetconfObj *obj, guint ifindex, const EmberCidr *dst, guint32 table,
            GError **error)
{
  *obj = (EmberNetconfObj) { .kind = EMBER_NETCONF_OBJ_ROUTE,
                             .table = table == 0 ? RT_TABLE_MAIN : table,
                             .suppress_prefixlen = -1 };
  if (!check_cidr (dst, error))
    return FALSE;
  if (ember_cidr_has_host_bits (dst))
    {
      char buf[EMBER_CIDR_STRLEN];
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID,
                   "route %s: host bits set past the prefix", ember_cidr_format (dst, buf));
      return FALSE;
    }
  obj->cidr = *dst;
  obj->ifindex = ifindex;
  return TRUE;
}

gboolean
ember_netconf_route_add (EmberNetconf *nc, guint ifindex, const EmberCidr *dst, guint32 table,
                         GError **error)
{
  g_return_val_if_fail (nc != NULL, FALSE);
  EmberNetconfObj obj;
  if (!make_route (&obj, ifindex, dst, table, error) || !fill_dev (&obj, ifindex, error))
    return FALSE;
  return object_add (nc, &obj, error) != ADD_FAILED;
}

gboolean
ember_netconf_route_remove (EmberNetconf *nc, guint ifindex, const EmberCidr *dst,
                            guint32 table, GError **error)
{
  g_return_val_if_fail (nc != NULL, FALSE);
  EmberNetconfObj obj;
  if (!make_route (&obj, ifindex, dst, table, error))
    return FALSE;
  return object_remove (nc, &obj, error);
}

gboolean
ember_netconf_full_tunnel_add (EmberNetconf *nc, guint ifindex, int family, guint32 fwmark,
                               guint32 table, GError **error)
{
  g_return_val_if_fail (nc != NULL, FALSE);
  guint8 fam = family == 4 || family == AF_INET ? 4 : family == 6 || family == AF_INET6 ? 6 : 0;
  if (fam == 0)
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID,
                   "full tunnel: family %d is not IPv4 or IPv6", family);
      return FALSE;
    }
  if (table == 0 || table == RT_TABLE_MAIN || table == RT_TABLE_LOCAL
      || table == RT_TABLE_DEFAULT || fwmark == 0)
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID,
                   "full tunnel: table %u / fwmark %u: expected a table of Ember's own and a "
                   "non-zero mark", table, fwmark);
      return FALSE;
    }
  FullTunnel *ft = &nc->full[fam == 4 ? 0 : 1];
  if (ft->active)
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID,
                   "full tunnel for IPv%u: already added", fam);
      return FALSE;
    }

  EmberNetconfObj objs[5];
  guint n = 0;
  EmberCidr any = { .family = fam, .prefix = 0 };
  if (!make_route (&objs[n], ifindex, &any, table, error) || !fill_dev (&objs[n], ifindex, error))
    return FALSE;
  n++;
  guint32 prio;
  if (!ember_netconf_rule_priority (af_of (fam), &prio, error))
    return FALSE;
  /* wg-quick's order: "not fwmark" first; the kernel would put the next
   * rule, suppress_prefixlength, just before it, so it is evaluated
   * first. */
  objs[n++] = (EmberNetconfObj) { .kind = EMBER_NETCONF_OBJ_RULE, .family = fam,
                                  .priority = prio, .table = table, .fwmark = fwmark,
                                  .invert_fwmark = TRUE, .suppress_prefixlen = -1 };
  objs[n++] = (EmberNetconfObj) { .kind = EMBER_NETCONF_OBJ_RULE, .family = fam,
                                  .priority = prio - 1, .table = RT_TABLE_MAIN,
                                  .suppress_prefixlen = 0 };
  if (fam == 4)
    {
      /* Replies to Ember's marked sockets come in on the physical link;
       * with strict rp_filter the reverse lookup must see the mark too. */
      EmberNetconfObj s = { .kind = EMBER_NETCONF_OBJ_SYSCTL, .suppress_prefixlen = -1 };
      g_strlcpy (s.sysctl_key, SRC_VALID_MARK, sizeof s.sysctl_key);
      g_strlcpy (s.sysctl_set, "1", sizeof s.sysctl_set);
      if (!ember_netconf_sysctl_read (SRC_VALID_MARK, s.sysctl_was, sizeof s.sysctl_was, error))
        return FALSE;
      if (strcmp (s.sysctl_was, "1") != 0)
        objs[n++] = s;
    }
  /* nftables: names are quoted into the ruleset, so only plain ones. */
  EmberNetconfObj t = { .kind = EMBER_NETCONF_OBJ_NFT_TABLE, .family = fam, .fwmark = fwmark,
                        .ifindex = ifindex, .suppress_prefixlen = -1 };
  g_strlcpy (t.ifname, objs[0].ifname, sizeof t.ifname);
  g_snprintf (t.nft_table, sizeof t.nft_table, "ember_ft_%s", t.ifname);
  for (char *p = t.nft_table; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '_')
      *p = '_';
  for (const char *p = t.ifname; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      {
        g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID,
                     "full tunnel: interface name \"%s\" has characters nftables rules cannot "
                     "name safely", t.ifname);
        return FALSE;
      }
  objs[n++] = t;

  g_array_set_size (ft->objs, 0);
  for (guint i = 0; i < n; i++)
    {
      AddResult r = object_add (nc, &objs[i], error);
      if (r == ADD_FAILED)
        {
          /* Leave nothing half made. */
          for (guint j = ft->objs->len; j > 0; j--)
            {
              g_autoptr (GError) undo_error = NULL;
              if (!object_remove (nc, &g_array_index (ft->objs, EmberNetconfObj, j - 1),
                                  &undo_error))
                g_warning ("%s", undo_error->message);
            }
          g_array_set_size (ft->objs, 0);
          return FALSE;
        }
      if (r == ADD_OURS)
        g_array_append_val (ft->objs, objs[i]);
    }
  ft->active = TRUE;
  return TRUE;
}

gboolean
ember_netconf_full_tunnel_remove (EmberNetconf *nc, int family, GError **error)
{
  g_return_val_if_fail (nc != NULL, FALSE);
  guint8 fam = family == 4 || family == AF_INET ? 4 : family == 6 || family == AF_INET6 ? 6 : 0;
  if (fam == 0)
    {
      g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_INVALID,
                   "full tunnel: family %d is not IPv4 or IPv6", family);
      return FALSE;
    }
  FullTunnel *ft = &nc->full[fam == 4 ? 0 : 1];
  /* Rules first, so that no packet meets a rule pointing at a table
   * whose default route is already gone. */
  while (ft->objs->len > 0)
    {
      if (!object_remove (nc, &g_array_index (ft->objs, EmberNetconfObj, ft->objs->len - 1),
                          error))
        return FALSE;
      g_array_remove_index (ft->objs, ft->objs->len - 1);
    }
  ft->active = FALSE;
  return TRUE;
}

void
ember_netconf_free (EmberNetconf *nc)
{
  if (nc == NULL)
    return;
  if (nc->journal_path != NULL)
    {
      gboolean all_gone = TRUE;
      for (guint i = nc->objs->len; i > 0; i--)
        {
          EmberNetconfObj obj = g_array_index (nc->objs, EmberNetconfObj, i - 1);
          g_autoptr (GError) error = NULL;
          if (undo_object (&obj, &error))
            g_array_remove_index (nc->objs, i - 1);
          else
            {
              g_warning ("%s (kept in %s for the next start)", error->message,
                         nc->journal_path);
              all_gone = FALSE;
            }
        }
      g_autoptr (GError) error = NULL;
      if (all_gone)
        {
          if (unlink (nc->journal_path) != 0 && errno != ENOENT)
            g_warning ("cannot delete %s: %s", nc->journal_path, g_strerror (errno));
        }
      else if (!journal_save (nc, &error))
        g_warning ("%s", error->message);
    }
  if (nc->lock_fd >= 0)
    close (nc->lock_fd);
  for (guint f = 0; f < 2; f++)
    g_clear_pointer (&nc->full[f].objs, g_array_unref);
  g_clear_pointer (&nc->objs, g_array_unref);
  g_free (nc->journal_path);
  g_free (nc->state_dir);
  g_free (nc);
}
