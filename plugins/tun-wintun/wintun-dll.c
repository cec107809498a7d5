/* wintun-dll — run-time binding of wintun.dll and iphlpapi.dll. See
 * wintun-dll.h. */
#include "wintun-dll.h"

#include <string.h>

#include "ember-plugin.h"

/* ops.h keeps the Win32 codes it reacts to as plain numbers so the logic
 * builds on Linux; here they meet the system's header. */
G_STATIC_ASSERT (WINTUN_ERROR_INVALID_DATA == ERROR_INVALID_DATA);
G_STATIC_ASSERT (WINTUN_ERROR_HANDLE_EOF == ERROR_HANDLE_EOF);
G_STATIC_ASSERT (WINTUN_ERROR_BUFFER_OVERFLOW == ERROR_BUFFER_OVERFLOW);
G_STATIC_ASSERT (WINTUN_ERROR_NO_MORE_ITEMS == ERROR_NO_MORE_ITEMS);
G_STATIC_ASSERT (WINTUN_ERROR_NOT_FOUND == ERROR_NOT_FOUND);
G_STATIC_ASSERT (WINTUN_ERROR_OBJECT_ALREADY_EXISTS == ERROR_OBJECT_ALREADY_EXISTS);

/* The search flags: the folder of the file itself (for what it imports)
 * and System32; never the current directory or PATH. */
#define SAFE_SEARCH (LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_SYSTEM32)

static HMODULE
load_file (const char *path, DWORD flags, DWORD *err)
{
  /* LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR wants a full path with backslashes. */
  g_autofree char *native = g_strdelimit (g_strdup (path), "/", '\\');
  g_autofree gunichar2 *wpath = g_utf8_to_utf16 (native, -1, NULL, NULL, NULL);
  HMODULE m = wpath != NULL ? LoadLibraryExW (wpath, NULL, flags) : NULL;
  *err = m != NULL ? 0 : (wpath != NULL ? GetLastError () : ERROR_INVALID_NAME);
  return m;
}

/* Any address inside this DLL names it to GetModuleHandleEx. */
static const char module_anchor;

/* The folder this plugin was loaded from. */
static char *
plugin_dir (void)
{
  HMODULE self = NULL;
  wchar_t buf[MAX_PATH];
  if (!GetModuleHandleExW (GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                             GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                           (LPCWSTR) &module_anchor, &self))
    return NULL;
  DWORD n = GetModuleFileNameW (self, buf, G_N_ELEMENTS (buf));
  if (n == 0 || n >= G_N_ELEMENTS (buf))
    return NULL;
  g_autofree char *file = g_utf16_to_utf8 ((const gunichar2 *) buf, n, NULL, NULL, NULL);
  return file != NULL ? g_path_get_dirname (file) : NULL;
}

#define RESOLVE(dll, prefix, name)                                                           \
  G_STMT_START                                                                              \
  {                                                                                         \
    FARPROC p_ = GetProcAddress ((dll)->module, prefix #name);                             \
    if (p_ == NULL)                                                                         \
      {                                                                                     \
        g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_UNSUPPORTED,             \
                     "%s: has no function %s (error %lu)", (dll)->path, prefix #name,       \
                     GetLastError ());                                                      \
        goto fail;                                                                          \
      }                                                                                     \
    /* FARPROC to the real type: the way GetProcAddress is meant to be used. */            \
    memcpy (&(dll)->name, &p_, sizeof p_);                                                  \
  }                                                                                         \
  G_STMT_END

gboolean
wintun_dll_load (WintunDll *dll, const char *configured, GError **error)
{
  DWORD err = 0;
  memset (dll, 0, sizeof *dll);

  if (configured != NULL)
    {
      dll->module = load_file (configured, SAFE_SEARCH, &err);
      dll->path = g_strdup (configured);
      if (dll->module == NULL)
        {
          g_set_error (error, EMBER_PLUGIN_ERROR,
                       err == ERROR_MOD_NOT_FOUND ? EMBER_PLUGIN_ERROR_UNSUPPORTED
                                                  : EMBER_PLUGIN_ERROR_FAILED,
                       "%s: cannot load Wintun (error %lu)%s", configured, err,
                       err == ERROR_MOD_NOT_FOUND ? ": no such file" : "");
          goto fail;
        }
    }
  else
    {
      g_autofree char *dir = plugin_dir ();
      g_autofree char *beside = dir != NULL ? g_build_filename (dir, "wintun.dll", NULL) : NULL;
      DWORD err_sys = 0;
      if (beside != NULL)
        dll->module = load_file (beside, SAFE_SEARCH, &err);
      if (dll->module != NULL)
        dll->path = g_steal_pointer (&beside);
      else
        {
          dll->module = load_file ("wintun.dll", LOAD_LIBRARY_SEARCH_SYSTEM32, &err_sys);
          dll->path = g_strdup ("wintun.dll (system directory)");
        }
      if (dll->module == NULL)
        {
          g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_UNSUPPORTED,
                       "wintun.dll not found: tried %s (error %lu) and the system directory "
                       "(error %lu); put Wintun's wintun.dll for this architecture beside "
                       "tun-wintun.dll, or name it with dll= in the plugin's group",
                       beside != NULL ? beside : "the plugin's folder", err, err_sys);
          goto fail;
        }
    }

  RESOLVE (dll, "Wintun", CreateAdapter);
  RESOLVE (dll, "Wintun", CloseAdapter);
  RESOLVE (dll, "Wintun", GetAdapterLUID);
  RESOLVE (dll, "Wintun", GetRunningDriverVersion);
  RESOLVE (dll, "Wintun", SetLogger);
  RESOLVE (dll, "Wintun", StartSession);
  RESOLVE (dll, "Wintun", EndSession);
  RESOLVE (dll, "Wintun", GetReadWaitEvent);
  RESOLVE (dll, "Wintun", ReceivePacket);
  RESOLVE (dll, "Wintun", ReleaseReceivePacket);
  RESOLVE (dll, "Wintun", AllocateSendPacket);
  RESOLVE (dll, "Wintun", SendPacket);
  return TRUE;

fail:
  wintun_dll_unload (dll);
  return FALSE;
}

void
wintun_dll_unload (WintunDll *dll)
{
  if (dll->module != NULL)
    FreeLibrary (dll->module);
  g_free (dll->path);
  memset (dll, 0, sizeof *dll);
}

gboolean
ip_helper_dll_load (IpHelperDll *dll, GError **error)
{
  DWORD err = 0;
  const char *standin = g_getenv ("EMBER_WINTUN_IPHLPAPI");
  memset (dll, 0, sizeof *dll);

  if (standin != NULL && *standin != '\0')
    {
      dll->path = g_strdup (standin);
      dll->module = load_file (standin, SAFE_SEARCH, &err);
    }
  else
    {
      dll->path = g_strdup ("iphlpapi.dll");
      dll->module = load_file ("iphlpapi.dll", LOAD_LIBRARY_SEARCH_SYSTEM32, &err);
    }
  if (dll->module == NULL)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_UNSUPPORTED,
                   "%s: cannot load the IP Helper API (error %lu)", dll->path, err);
      goto fail;
    }
  RESOLVE (dll, "", GetUnicastIpAddressTable);
  RESOLVE (dll, "", InitializeUnicastIpAddressEntry);
  RESOLVE (dll, "", CreateUnicastIpAddressEntry);
  RESOLVE (dll, "", DeleteUnicastIpAddressEntry);
  RESOLVE (dll, "", GetIpForwardTable2);
  RESOLVE (dll, "", InitializeIpForwardEntry);
  RESOLVE (dll, "", CreateIpForwardEntry2);
  RESOLVE (dll, "", DeleteIpForwardEntry2);
  RESOLVE (dll, "", InitializeIpInterfaceEntry);
  RESOLVE (dll, "", GetIpInterfaceEntry);
  RESOLVE (dll, "", SetIpInterfaceEntry);
  RESOLVE (dll, "", FreeMibTable);
  return TRUE;

fail:
  ip_helper_dll_unload (dll);
  return FALSE;
}

void
ip_helper_dll_unload (IpHelperDll *dll)
{
  if (dll->module != NULL)
    FreeLibrary (dll->module);
  g_free (dll->path);
  memset (dll, 0, sizeof *dll);
}

/* ---- WintunSessionOps over wintun.dll ---------------------------------- */

static const guint8 *
s_receive (void *ctx, guint32 *size, guint32 *err)
{
  WintunSession *s = ctx;
  DWORD n = 0;
  BYTE *p = s->dll->ReceivePacket (s->session, &n);
  *err = p != NULL ? 0 : GetLastError ();
  *size = n;
  return p;
}

static void
s_release (void *ctx, const guint8 *packet)
{
  WintunSession *s = ctx;
  s->dll->ReleaseReceivePacket (s->session, packet);
}

static guint8 *
s_allocate (void *ctx, guint32 size, guint32 *err)
{
  WintunSession *s = ctx;
  BYTE *p = s->dll->AllocateSendPacket (s->session, size);
  *err = p != NULL ? 0 : GetLastError ();
  return p;
}

static void
s_send (void *ctx, const guint8 *packet)
{
  WintunSession *s = ctx;
  s->dll->SendPacket (s->session, packet);
}

static WintunWait
s_wait (void *ctx, guint timeout_ms)
{
  WintunSession *s = ctx;
  HANDLE events[2] = { s->read_event, s->stop_event };
  DWORD r = WaitForMultipleObjects (2, events, FALSE,
                                    timeout_ms == G_MAXUINT ? INFINITE : (DWORD) timeout_ms);
  if (r == WAIT_OBJECT_0)
    return WINTUN_WAIT_READABLE;
  if (r == WAIT_TIMEOUT)
    return WINTUN_WAIT_TIMEOUT;
  /* The stop event, or a wait that failed (a handle closed under us):
   * either way the receive thread must not spin. */
  return WINTUN_WAIT_STOPPED;
}

static void
s_stop (void *ctx)
{
  WintunSession *s = ctx;
  SetEvent (s->stop_event);
}

const WintunSessionOps wintun_session_ops = {
  .receive_packet = s_receive,
  .release_receive_packet = s_release,
  .allocate_send_packet = s_allocate,
  .send_packet = s_send,
  .wait_readable = s_wait,
  .stop = s_stop,
};

/* ---- WintunNetOps over iphlpapi.dll ------------------------------------ */

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
from_sockaddr (const SOCKADDR_INET *sa, guint8 prefix, EmberCidr *c)
{
  memset (c, 0, sizeof *c);
  c->prefix = prefix;
  if (sa->si_family == AF_INET)
    {
      c->family = 4;
      memcpy (c->addr, &sa->Ipv4.sin_addr, 4);
      return prefix <= 32;
    }
  if (sa->si_family == AF_INET6)
    {
      c->family = 6;
      memcpy (c->addr, &sa->Ipv6.sin6_addr, 16);
      return prefix <= 128;
    }
  return FALSE;
}

static guint32
n_get_addresses (void *ctx, EmberCidr **out, guint *n)
{
  WintunNetif *ni = ctx;
  PMIB_UNICASTIPADDRESS_TABLE table = NULL;
  NETIO_STATUS st = ni->dll->GetUnicastIpAddressTable (AF_UNSPEC, &table);
  if (st != NO_ERROR)
    return st;
  GArray *a = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  for (ULONG i = 0; i < table->NumEntries; i++)
    {
      const MIB_UNICASTIPADDRESS_ROW *row = &table->Table[i];
      EmberCidr c;
      if (row->InterfaceLuid.Value == ni->luid.Value &&
          from_sockaddr (&row->Address, row->OnLinkPrefixLength, &c))
        g_array_append_val (a, c);
    }
  ni->dll->FreeMibTable (table);
  *n = a->len;
  *out = (EmberCidr *) (gpointer) g_array_free (a, FALSE);
  return NO_ERROR;
}

static void
address_row (WintunNetif *ni, const EmberCidr *c, MIB_UNICASTIPADDRESS_ROW *row)
{
  ni->dll->InitializeUnicastIpAddressEntry (row);
  row->InterfaceLuid = ni->luid;
  to_sockaddr (c, &row->Address);
  row->OnLinkPrefixLength = c->prefix;
  /* A point-to-point tunnel has no one to run duplicate detection with. */
  row->DadState = IpDadStatePreferred;
}

static guint32
n_create_address (void *ctx, const EmberCidr *c)
{
  WintunNetif *ni = ctx;
  MIB_UNICASTIPADDRESS_ROW row;
  address_row (ni, c, &row);
  return ni->dll->CreateUnicastIpAddressEntry (&row);
}

static guint32
n_delete_address (void *ctx, const EmberCidr *c)
{
  WintunNetif *ni = ctx;
  MIB_UNICASTIPADDRESS_ROW row;
  address_row (ni, c, &row);
  return ni->dll->DeleteUnicastIpAddressEntry (&row);
}

static guint32
n_get_routes (void *ctx, EmberCidr **out, guint *n)
{
  WintunNetif *ni = ctx;
  PMIB_IPFORWARD_TABLE2 table = NULL;
  NETIO_STATUS st = ni->dll->GetIpForwardTable2 (AF_UNSPEC, &table);
  if (st != NO_ERROR)
    return st;
  GArray *a = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  for (ULONG i = 0; i < table->NumEntries; i++)
    {
      const MIB_IPFORWARD_ROW2 *row = &table->Table[i];
      EmberCidr c;
      if (row->InterfaceLuid.Value == ni->luid.Value && row->Protocol == MIB_IPPROTO_NETMGMT &&
          from_sockaddr (&row->DestinationPrefix.Prefix, row->DestinationPrefix.PrefixLength, &c))
        g_array_append_val (a, c);
    }
  ni->dll->FreeMibTable (table);
  *n = a->len;
  *out = (EmberCidr *) (gpointer) g_array_free (a, FALSE);
  return NO_ERROR;
}

static void
route_row (WintunNetif *ni, const EmberCidr *c, MIB_IPFORWARD_ROW2 *row)
{
  ni->dll->InitializeIpForwardEntry (row);
  row->InterfaceLuid = ni->luid;
  to_sockaddr (c, &row->DestinationPrefix.Prefix);
  row->DestinationPrefix.PrefixLength = c->prefix;
  /* On-link: the next hop is the unspecified address of the family. */
  EmberCidr any = { .family = c->family };
  to_sockaddr (&any, &row->NextHop);
  row->Metric = 0;
  row->Protocol = MIB_IPPROTO_NETMGMT;
}

static guint32
n_create_route (void *ctx, const EmberCidr *c)
{
  WintunNetif *ni = ctx;
  MIB_IPFORWARD_ROW2 row;
  route_row (ni, c, &row);
  return ni->dll->CreateIpForwardEntry2 (&row);
}

static guint32
n_delete_route (void *ctx, const EmberCidr *c)
{
  WintunNetif *ni = ctx;
  MIB_IPFORWARD_ROW2 row;
  route_row (ni, c, &row);
  return ni->dll->DeleteIpForwardEntry2 (&row);
}

static guint32
n_set_mtu (void *ctx, guint8 family, guint mtu)
{
  WintunNetif *ni = ctx;
  MIB_IPINTERFACE_ROW row;
  ni->dll->InitializeIpInterfaceEntry (&row);
  row.Family = family == 4 ? AF_INET : AF_INET6;
  row.InterfaceLuid = ni->luid;
  NETIO_STATUS st = ni->dll->GetIpInterfaceEntry (&row);
  /* A system with IPv6 (or IPv4) switched off has no interface of that
   * family: nothing to set. */
  if (st == ERROR_NOT_FOUND)
    return NO_ERROR;
  if (st != NO_ERROR)
    return st;
  row.NlMtu = mtu;
  /* SetIpInterfaceEntry refuses an IPv4 row whose SitePrefixLength is not
   * 0, and GetIpInterfaceEntry may fill one in. */
  if (family == 4)
    row.SitePrefixLength = 0;
  return ni->dll->SetIpInterfaceEntry (&row);
}

const WintunNetOps wintun_net_ops = {
  .get_addresses = n_get_addresses,
  .create_address = n_create_address,
  .delete_address = n_delete_address,
  .get_routes = n_get_routes,
  .create_route = n_create_route,
  .delete_route = n_delete_route,
  .set_mtu = n_set_mtu,
};
