/* fake-netif — IP Helper over an in-memory interface. See fake-netif.h. */
#include "fake-netif.h"

#include "config.h"

FakeNetif *
fake_netif_new (void)
{
  FakeNetif *n = g_new0 (FakeNetif, 1);
  n->addresses = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  n->routes = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  n->calls = g_ptr_array_new_with_free_func (g_free);
  return n;
}

void
fake_netif_free (FakeNetif *n)
{
  if (n == NULL)
    return;
  g_array_unref (n->addresses);
  g_array_unref (n->routes);
  g_ptr_array_unref (n->calls);
  g_free (n->fail_call);
  g_free (n);
}

char *
fake_netif_take_calls (FakeNetif *n)
{
  g_ptr_array_add (n->calls, NULL);
  char *s = g_strjoinv ("\n", (char **) n->calls->pdata);
  g_ptr_array_set_size (n->calls, 0);
  return s;
}

static guint32
record (FakeNetif *n, const char *call, const EmberCidr *c)
{
  char text[EMBER_CIDR_STRLEN];
  if (c != NULL)
    g_ptr_array_add (n->calls, g_strdup_printf ("%s %s", call,
                                                ember_cidr_format (c, text)));
  else
    g_ptr_array_add (n->calls, g_strdup (call));
  if (n->fail_call != NULL && g_str_equal (n->fail_call, call))
    return n->fail_code;
  return WINTUN_OK;
}

static gint
find (GArray *set, const EmberCidr *c)
{
  for (guint i = 0; i < set->len; i++)
    {
      if (ember_cidr_equal (&g_array_index (set, EmberCidr, i), c))
        return (gint) i;
    }
  return -1;
}

static guint32
list (FakeNetif *n, const char *call, GArray *set, EmberCidr **out, guint *count)
{
  guint32 err = record (n, call, NULL);
  if (err != WINTUN_OK)
    return err;
  *out = g_memdup2 (set->data, MAX (set->len, 1) * sizeof (EmberCidr));
  *count = set->len;
  return WINTUN_OK;
}

static guint32
create (FakeNetif *n, const char *call, GArray *set, const EmberCidr *c)
{
  guint32 err = record (n, call, c);
  if (err != WINTUN_OK)
    return err;
  if (find (set, c) >= 0)
    return WINTUN_ERROR_OBJECT_ALREADY_EXISTS;
  g_array_append_val (set, *c);
  return WINTUN_OK;
}

static guint32
delete (FakeNetif *n, const char *call, GArray *set, const EmberCidr *c)
{
  guint32 err = record (n, call, c);
  if (err != WINTUN_OK)
    return err;
  gint i = find (set, c);
  if (i < 0)
    return WINTUN_ERROR_NOT_FOUND;
  g_array_remove_index (set, (guint) i);
  return WINTUN_OK;
}

static guint32
get_addresses (void *netif, EmberCidr **out, guint *count)
{
  FakeNetif *n = netif;
  return list (n, "GetUnicastIpAddressTable", n->addresses, out, count);
}

static guint32
create_address (void *netif, const EmberCidr *c)
{
  FakeNetif *n = netif;
  return create (n, "CreateUnicastIpAddressEntry", n->addresses, c);
}

static guint32
delete_address (void *netif, const EmberCidr *c)
{
  FakeNetif *n = netif;
  return delete (n, "DeleteUnicastIpAddressEntry", n->addresses, c);
}

static guint32
get_routes (void *netif, EmberCidr **out, guint *count)
{
  FakeNetif *n = netif;
  return list (n, "GetIpForwardTable2", n->routes, out, count);
}

static guint32
create_route (void *netif, const EmberCidr *c)
{
  FakeNetif *n = netif;
  return create (n, "CreateIpForwardEntry2", n->routes, c);
}

static guint32
delete_route (void *netif, const EmberCidr *c)
{
  FakeNetif *n = netif;
  return delete (n, "DeleteIpForwardEntry2", n->routes, c);
}

static guint32
set_mtu (void *netif, guint8 family, guint mtu)
{
  FakeNetif *n = netif;
  g_autofree char *call = g_strdup_printf ("SetIpInterfaceEntry IPv%u %u", family, mtu);
  guint32 err = record (n, "SetIpInterfaceEntry", NULL);
  g_free (g_ptr_array_steal_index (n->calls, n->calls->len - 1));
  g_ptr_array_add (n->calls, g_steal_pointer (&call));
  if (err != WINTUN_OK)
    return err;
  if (family == 4)
    n->mtu4 = mtu;
  else
    n->mtu6 = mtu;
  return WINTUN_OK;
}

const WintunNetOps fake_netif_ops = {
  .get_addresses = get_addresses,
  .create_address = create_address,
  .delete_address = delete_address,
  .get_routes = get_routes,
  .create_route = create_route,
  .delete_route = delete_route,
  .set_mtu = set_mtu,
};
