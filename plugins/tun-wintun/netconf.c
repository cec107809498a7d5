/* netconf — addresses, routes and MTU as differences. See netconf.h. */
#include "netconf.h"

#include "config.h"

static gboolean
contains (const EmberCidr *set, guint n, const EmberCidr *c)
{
  for (guint i = 0; i < n; i++)
    if (ember_cidr_equal (&set[i], c))
      return TRUE;
  return FALSE;
}

static gboolean
is_link_local (const EmberCidr *c)
{
  if (c->family == 4)
    return c->addr[0] == 169 && c->addr[1] == 254;
  return c->addr[0] == 0xfe && (c->addr[1] & 0xc0) == 0x80;
}

void
wintun_cidr_diff (const EmberCidr *wanted, guint n_wanted, const EmberCidr *present,
                  guint n_present, gboolean keep_link_local, GArray *add, GArray *remove)
{
  for (guint i = 0; i < n_wanted; i++)
    if (!contains (present, n_present, &wanted[i]) &&
        !contains ((const EmberCidr *) (gconstpointer) add->data, add->len, &wanted[i]))
      g_array_append_val (add, wanted[i]);
  for (guint i = 0; i < n_present; i++)
    if (!contains (wanted, n_wanted, &present[i]) &&
        !(keep_link_local && is_link_local (&present[i])) &&
        !contains ((const EmberCidr *) (gconstpointer) remove->data, remove->len, &present[i]))
      g_array_append_val (remove, present[i]);
}

static gboolean
call_failed (GError **error, const char *name, const char *call, const EmberCidr *c,
             guint32 err)
{
  char text[EMBER_CIDR_STRLEN];
  g_set_error (error, EMBER_PLUGIN_ERROR,
               err == 5u /* ERROR_ACCESS_DENIED */ ? EMBER_PLUGIN_ERROR_PERMISSION
                                                   : EMBER_PLUGIN_ERROR_FAILED,
               "%s: %s(%s) failed with error %u", name, call,
               c != NULL ? ember_cidr_format (c, text) : "", err);
  return FALSE;
}

typedef guint32 (*ListFunc) (void *netif, EmberCidr **out, guint *n);
typedef guint32 (*EntryFunc) (void *netif, const EmberCidr *c);

static gboolean
converge (void *netif, const char *name, const EmberCidr *wanted, guint n, ListFunc list,
          const char *list_name, EntryFunc create, const char *create_name, EntryFunc delete,
          const char *delete_name, gboolean keep_link_local, GError **error)
{
  g_autofree EmberCidr *present = NULL;
  guint n_present = 0;
  guint32 err = list (netif, &present, &n_present);
  if (err != WINTUN_OK)
    return call_failed (error, name, list_name, NULL, err);

  g_autoptr (GArray) add = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  g_autoptr (GArray) remove = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  wintun_cidr_diff (wanted, n, present, n_present, keep_link_local, add, remove);

  /* Removals first: an address moving to another prefix length is one
   * removal and one creation of the same address. */
  for (guint i = 0; i < remove->len; i++)
    {
      const EmberCidr *c = &g_array_index (remove, EmberCidr, i);
      err = delete (netif, c);
      if (err != WINTUN_OK && err != WINTUN_ERROR_NOT_FOUND)
        return call_failed (error, name, delete_name, c, err);
    }
  for (guint i = 0; i < add->len; i++)
    {
      const EmberCidr *c = &g_array_index (add, EmberCidr, i);
      err = create (netif, c);
      if (err != WINTUN_OK && err != WINTUN_ERROR_OBJECT_ALREADY_EXISTS)
        return call_failed (error, name, create_name, c, err);
    }
  return TRUE;
}

gboolean
wintun_netconf_addresses (const WintunNetOps *ops, void *netif, const char *name,
                          const EmberCidr *wanted, guint n, GError **error)
{
  return converge (netif, name, wanted, n, ops->get_addresses, "GetUnicastIpAddressTable",
                   ops->create_address, "CreateUnicastIpAddressEntry", ops->delete_address,
                   "DeleteUnicastIpAddressEntry", TRUE, error);
}

gboolean
wintun_netconf_routes (const WintunNetOps *ops, void *netif, const char *name,
                       const EmberCidr *wanted, guint n, GError **error)
{
  return converge (netif, name, wanted, n, ops->get_routes, "GetIpForwardTable2",
                   ops->create_route, "CreateIpForwardEntry2", ops->delete_route,
                   "DeleteIpForwardEntry2", FALSE, error);
}

gboolean
wintun_netconf_mtu (const WintunNetOps *ops, void *netif, const char *name, guint mtu,
                    GError **error)
{
  static const guint8 families[] = { 4, 6 };
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      guint32 err = ops->set_mtu (netif, families[i], mtu);
      if (err != WINTUN_OK)
        {
          g_set_error (error, EMBER_PLUGIN_ERROR,
                       err == 5u ? EMBER_PLUGIN_ERROR_PERMISSION : EMBER_PLUGIN_ERROR_FAILED,
                       "%s: SetIpInterfaceEntry(IPv%u, NlMtu=%u) failed with error %u", name,
                       families[i], mtu, err);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
wintun_netconf_route (const WintunNetOps *ops, void *netif, const char *name,
                      const EmberCidr *route, gboolean add, GError **error)
{
  guint32 err = add ? ops->create_route (netif, route) : ops->delete_route (netif, route);
  if (err == WINTUN_OK || (add && err == WINTUN_ERROR_OBJECT_ALREADY_EXISTS) ||
      (!add && err == WINTUN_ERROR_NOT_FOUND))
    return TRUE;
  return call_failed (error, name, add ? "CreateIpForwardEntry2" : "DeleteIpForwardEntry2",
                      route, err);
}
