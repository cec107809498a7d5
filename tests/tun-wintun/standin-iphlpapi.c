/* standin-iphlpapi — the IP Helper calls of tun-wintun for the Wine tests,
 * recorded over an in-memory interface (fake-netif.c). See standin.h.
 *
 * It behaves as Windows does where the plugin depends on it: tables hold
 * every interface's rows, a route Windows derived from an address has
 * protocol MIB_IPPROTO_LOCAL, an IPv4 interface row with a non-zero
 * SitePrefixLength is refused by SetIpInterfaceEntry, rows naming another
 * LUID find nothing. Rows the plugin builds wrongly (another LUID, a
 * next hop that is not on-link, a route protocol other than NETMGMT) are
 * recorded as such so the test sees them.
 */
#include <string.h>

#include "fake-netif.h"
#include "standin.h"
#include "wintun-api.h"

static FakeNetif *netif;
static EmberCidr other_address;     /* another interface's */
static EmberCidr derived_route;     /* ours, MIB_IPPROTO_LOCAL */

static FakeNetif *
state (void)
{
  if (netif == NULL)
    {
      netif = fake_netif_new ();
      /* Windows gives a new adapter a link-local address of its own. */
      EmberCidr link_local;
      ember_cidr_parse ("fe80::5efe:1234/64", EMBER_CIDR_PARSE_KEEP_HOST_BITS, &link_local,
                        NULL);
      g_array_append_val (netif->addresses, link_local);
      ember_cidr_parse ("192.168.1.10/24", EMBER_CIDR_PARSE_KEEP_HOST_BITS, &other_address,
                        NULL);
      ember_cidr_parse ("100.64.0.2/32", EMBER_CIDR_PARSE_STRICT, &derived_route, NULL);
      netif->mtu4 = netif->mtu6 = 1500;
    }
  return netif;
}

static void
note (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
note (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_ptr_array_add (state ()->calls, g_strdup_vprintf (fmt, ap));
  va_end (ap);
}

static void
to_sockaddr (const EmberCidr *c, SOCKADDR_INET *sa)
{
  memset (sa, 0, sizeof *sa);
  if (c->family == 4)
    {
      sa->Ipv4.sin_family = AF_INET;
      memcpy (&sa->Ipv4.sin_addr, c->addr, 4);
    }
  else
    {
      sa->Ipv6.sin6_family = AF_INET6;
      memcpy (&sa->Ipv6.sin6_addr, c->addr, 16);
    }
}

static gboolean
from_sockaddr (const SOCKADDR_INET *sa, guint prefix, EmberCidr *c)
{
  if (sa->si_family == AF_INET)
    return ember_cidr_init (c, 4, (const guint8 *) &sa->Ipv4.sin_addr, prefix);
  if (sa->si_family == AF_INET6)
    return ember_cidr_init (c, 6, (const guint8 *) &sa->Ipv6.sin6_addr, prefix);
  return FALSE;
}

static gboolean
ours (const NET_LUID *luid, const char *call)
{
  if (luid->Value == STANDIN_LUID)
    return TRUE;
  note ("%s: row for LUID %#llx, not the adapter's", call, (unsigned long long) luid->Value);
  return FALSE;
}

/* ---- Addresses ---------------------------------------------------------- */

NETIO_STATUS WINAPI standin_GetUnicastIpAddressTable (ADDRESS_FAMILY family,
                                                      PMIB_UNICASTIPADDRESS_TABLE *table);

NETIO_STATUS WINAPI
standin_GetUnicastIpAddressTable (ADDRESS_FAMILY family, PMIB_UNICASTIPADDRESS_TABLE *table)
{
  EmberCidr *cidrs = NULL;
  guint n = 0;
  guint32 err = fake_netif_ops.get_addresses (state (), &cidrs, &n);
  if (err != 0)
    return err;
  if (family != AF_UNSPEC)
    note ("GetUnicastIpAddressTable: family %u, expected AF_UNSPEC", family);
  gsize size = sizeof (MIB_UNICASTIPADDRESS_TABLE) + (n + 1) * sizeof (MIB_UNICASTIPADDRESS_ROW);
  PMIB_UNICASTIPADDRESS_TABLE t = g_malloc0 (size);
  for (guint i = 0; i <= n; i++)
    {
      MIB_UNICASTIPADDRESS_ROW *row = &t->Table[i];
      const EmberCidr *c = i < n ? &cidrs[i] : &other_address;
      to_sockaddr (c, &row->Address);
      row->OnLinkPrefixLength = c->prefix;
      row->InterfaceLuid.Value = i < n ? STANDIN_LUID : STANDIN_OTHER_LUID;
    }
  t->NumEntries = n + 1;
  g_free (cidrs);
  *table = t;
  return NO_ERROR;
}

void WINAPI standin_InitializeUnicastIpAddressEntry (PMIB_UNICASTIPADDRESS_ROW row);

void WINAPI
standin_InitializeUnicastIpAddressEntry (PMIB_UNICASTIPADDRESS_ROW row)
{
  memset (row, 0, sizeof *row);
  row->PrefixOrigin = IpPrefixOriginManual;
  row->SuffixOrigin = IpSuffixOriginManual;
  row->ValidLifetime = row->PreferredLifetime = 0xffffffff;
  row->DadState = IpDadStateInvalid;
}

static NETIO_STATUS
address_call (const MIB_UNICASTIPADDRESS_ROW *row, gboolean create)
{
  const char *call = create ? "CreateUnicastIpAddressEntry" : "DeleteUnicastIpAddressEntry";
  EmberCidr c;
  if (!ours (&row->InterfaceLuid, call))
    return ERROR_NOT_FOUND;
  if (!from_sockaddr (&row->Address, row->OnLinkPrefixLength, &c))
    {
      note ("%s: no address family in the row", call);
      return ERROR_INVALID_PARAMETER;
    }
  return create ? fake_netif_ops.create_address (state (), &c)
                : fake_netif_ops.delete_address (state (), &c);
}

NETIO_STATUS WINAPI standin_CreateUnicastIpAddressEntry (const MIB_UNICASTIPADDRESS_ROW *row);
NETIO_STATUS WINAPI standin_DeleteUnicastIpAddressEntry (const MIB_UNICASTIPADDRESS_ROW *row);

NETIO_STATUS WINAPI
standin_CreateUnicastIpAddressEntry (const MIB_UNICASTIPADDRESS_ROW *row)
{
  return address_call (row, TRUE);
}

NETIO_STATUS WINAPI
standin_DeleteUnicastIpAddressEntry (const MIB_UNICASTIPADDRESS_ROW *row)
{
  return address_call (row, FALSE);
}

/* ---- Routes ------------------------------------------------------------- */

NETIO_STATUS WINAPI standin_GetIpForwardTable2 (ADDRESS_FAMILY family,
                                                PMIB_IPFORWARD_TABLE2 *table);

NETIO_STATUS WINAPI
standin_GetIpForwardTable2 (ADDRESS_FAMILY family, PMIB_IPFORWARD_TABLE2 *table)
{
  EmberCidr *cidrs = NULL;
  guint n = 0;
  guint32 err = fake_netif_ops.get_routes (state (), &cidrs, &n);
  if (err != 0)
    return err;
  if (family != AF_UNSPEC)
    note ("GetIpForwardTable2: family %u, expected AF_UNSPEC", family);
  gsize size = sizeof (MIB_IPFORWARD_TABLE2) + (n + 2) * sizeof (MIB_IPFORWARD_ROW2);
  PMIB_IPFORWARD_TABLE2 t = g_malloc0 (size);
  for (guint i = 0; i < n + 2; i++)
    {
      MIB_IPFORWARD_ROW2 *row = &t->Table[i];
      EmberCidr any = { .family = 4 };
      const EmberCidr *c = i < n ? &cidrs[i] : i == n ? &derived_route : &any;
      to_sockaddr (c, &row->DestinationPrefix.Prefix);
      row->DestinationPrefix.PrefixLength = c->prefix;
      to_sockaddr (&(EmberCidr) { .family = c->family }, &row->NextHop);
      row->InterfaceLuid.Value = i <= n ? STANDIN_LUID : STANDIN_OTHER_LUID;
      row->Protocol = i == n ? MIB_IPPROTO_LOCAL : MIB_IPPROTO_NETMGMT;
    }
  t->NumEntries = n + 2;
  g_free (cidrs);
  *table = t;
  return NO_ERROR;
}

void WINAPI standin_InitializeIpForwardEntry (PMIB_IPFORWARD_ROW2 row);

void WINAPI
standin_InitializeIpForwardEntry (PMIB_IPFORWARD_ROW2 row)
{
  memset (row, 0, sizeof *row);
  row->ValidLifetime = row->PreferredLifetime = 0xffffffff;
  row->Metric = (ULONG) -1;
  row->Protocol = MIB_IPPROTO_NETMGMT;
  row->Origin = NlroManual;
}

static NETIO_STATUS
route_call (const MIB_IPFORWARD_ROW2 *row, gboolean create)
{
  const char *call = create ? "CreateIpForwardEntry2" : "DeleteIpForwardEntry2";
  EmberCidr c, hop;
  if (!ours (&row->InterfaceLuid, call))
    return ERROR_NOT_FOUND;
  if (!from_sockaddr (&row->DestinationPrefix.Prefix, row->DestinationPrefix.PrefixLength, &c) ||
      !from_sockaddr (&row->NextHop, 0, &hop) || hop.family != c.family)
    {
      note ("%s: prefix and next hop are not of one family", call);
      return ERROR_INVALID_PARAMETER;
    }
  static const guint8 zero[16];
  if (memcmp (hop.addr, zero, sizeof zero) != 0)
    note ("%s: next hop is not on-link", call);
  if (create && row->Protocol != MIB_IPPROTO_NETMGMT)
    note ("%s: protocol %d, expected MIB_IPPROTO_NETMGMT", call, (int) row->Protocol);
  return create ? fake_netif_ops.create_route (state (), &c)
                : fake_netif_ops.delete_route (state (), &c);
}

NETIO_STATUS WINAPI standin_CreateIpForwardEntry2 (const MIB_IPFORWARD_ROW2 *row);
NETIO_STATUS WINAPI standin_DeleteIpForwardEntry2 (const MIB_IPFORWARD_ROW2 *row);

NETIO_STATUS WINAPI
standin_CreateIpForwardEntry2 (const MIB_IPFORWARD_ROW2 *row)
{
  return route_call (row, TRUE);
}

NETIO_STATUS WINAPI
standin_DeleteIpForwardEntry2 (const MIB_IPFORWARD_ROW2 *row)
{
  return route_call (row, FALSE);
}

/* ---- Interface ---------------------------------------------------------- */

void WINAPI standin_InitializeIpInterfaceEntry (PMIB_IPINTERFACE_ROW row);
NETIO_STATUS WINAPI standin_GetIpInterfaceEntry (PMIB_IPINTERFACE_ROW row);
NETIO_STATUS WINAPI standin_SetIpInterfaceEntry (PMIB_IPINTERFACE_ROW row);

void WINAPI
standin_InitializeIpInterfaceEntry (PMIB_IPINTERFACE_ROW row)
{
  memset (row, 0, sizeof *row);
}

NETIO_STATUS WINAPI
standin_GetIpInterfaceEntry (PMIB_IPINTERFACE_ROW row)
{
  if (!ours (&row->InterfaceLuid, "GetIpInterfaceEntry") ||
      (row->Family != AF_INET && row->Family != AF_INET6))
    return ERROR_NOT_FOUND;
  row->NlMtu = row->Family == AF_INET ? state ()->mtu4 : state ()->mtu6;
  /* Windows reports a site prefix length that it then refuses for IPv4. */
  row->SitePrefixLength = 64;
  return NO_ERROR;
}

NETIO_STATUS WINAPI
standin_SetIpInterfaceEntry (PMIB_IPINTERFACE_ROW row)
{
  if (!ours (&row->InterfaceLuid, "SetIpInterfaceEntry"))
    return ERROR_NOT_FOUND;
  if (row->Family == AF_INET && row->SitePrefixLength != 0)
    {
      note ("SetIpInterfaceEntry: IPv4 row with SitePrefixLength %lu", row->SitePrefixLength);
      return ERROR_INVALID_PARAMETER;
    }
  return fake_netif_ops.set_mtu (state (), row->Family == AF_INET ? 4 : 6, row->NlMtu);
}

void WINAPI standin_FreeMibTable (PVOID memory);

void WINAPI
standin_FreeMibTable (PVOID memory)
{
  g_free (memory);
}

/* ---- Test-only exports -------------------------------------------------- */

char *__stdcall standin_net_calls (void);
char *__stdcall standin_net_state (void);
void __stdcall standin_net_reset (void);

/* Closing a Wintun adapter removes it with its addresses and routes. */
void __stdcall
standin_net_reset (void)
{
  g_clear_pointer (&netif, fake_netif_free);
}

char *__stdcall
standin_net_calls (void)
{
  return fake_netif_take_calls (state ());
}

static gint
compare_cidr (gconstpointer a, gconstpointer b)
{
  char x[EMBER_CIDR_STRLEN], y[EMBER_CIDR_STRLEN];
  return g_strcmp0 (ember_cidr_format (a, x), ember_cidr_format (b, y));
}

/* "address A" and "route R" lines, each kind sorted, then the MTUs. */
char *__stdcall
standin_net_state (void)
{
  FakeNetif *n = state ();
  GString *s = g_string_new (NULL);
  char text[EMBER_CIDR_STRLEN];
  g_array_sort (n->addresses, compare_cidr);
  g_array_sort (n->routes, compare_cidr);
  for (guint i = 0; i < n->addresses->len; i++)
    g_string_append_printf (s, "address %s\n",
                            ember_cidr_format (&g_array_index (n->addresses, EmberCidr, i), text));
  for (guint i = 0; i < n->routes->len; i++)
    g_string_append_printf (s, "route %s\n",
                            ember_cidr_format (&g_array_index (n->routes, EmberCidr, i), text));
  g_string_append_printf (s, "mtu %u/%u", n->mtu4, n->mtu6);
  return g_string_free (s, FALSE);
}
