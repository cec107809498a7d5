/* sysdns-private — what sysdns.c (modes, dispatch) shares with its
 * backends: sysdns-file.c, sysdns-resolved.c, sysdns-resolvconf.c.
 */
#pragma once

#include "sysdns.h"

struct _EmberSysdns {
  EmberSysdnsMode mode;
  char *ifname;
  int ifindex;
  char *state_dir;
  char *resolv_conf;
  char *resolvconf_program;
  GDBusConnection *bus;
  gboolean applied;
  /* resolved: what to re-apply after a restart. */
  EmberSysdnsConfig config;
  EmberAddr *servers;
  GStrv search, routing;
  guint watch_id;
  char *owner;
};

/* sysdns-file.c */
gboolean sysdns_file_recover (EmberSysdns *s, GError **error);
gboolean sysdns_file_apply (EmberSysdns *s, const EmberSysdnsConfig *c, GError **error);
gboolean sysdns_file_revert (EmberSysdns *s, GError **error);

/* sysdns-resolved.c */
gboolean sysdns_resolved_present (GDBusConnection *bus);
gboolean sysdns_resolved_apply (EmberSysdns *s, GError **error);
gboolean sysdns_resolved_revert (EmberSysdns *s, GError **error);
void sysdns_resolved_watch (EmberSysdns *s);

/* sysdns-resolvconf.c */
gboolean sysdns_resolvconf_found (const char *program);
gboolean sysdns_resolvconf_recover (EmberSysdns *s, GError **error);
gboolean sysdns_resolvconf_apply (EmberSysdns *s, const EmberSysdnsConfig *c, GError **error);
gboolean sysdns_resolvconf_revert (EmberSysdns *s, GError **error);
