/* wintun-dll — wintun.dll and iphlpapi.dll, resolved at run time, and the
 * two ops tables (ops.h) over them. Windows only.
 *
 * wintun.dll is not part of Windows: it ships with the application. The
 * plugin loads it from the path in its configuration, or else from its
 * own folder and then the system directory, never from the current
 * directory or PATH (DLL planting). A missing file or function is a
 * GError naming the file. The IP Helper functions come from the system's
 * iphlpapi.dll; the test suite points EMBER_WINTUN_IPHLPAPI at a
 * stand-in that records the calls instead (the one test seam).
 * Loading: main thread. The ops: as ops.h says.
 */
#pragma once

#include <glib.h>

#include "ops.h"
#include "wintun-api.h"

G_BEGIN_DECLS

typedef struct {
  HMODULE module;
  char *path;
  WintunCreateAdapterFunc CreateAdapter;
  WintunCloseAdapterFunc CloseAdapter;
  WintunGetAdapterLUIDFunc GetAdapterLUID;
  WintunGetRunningDriverVersionFunc GetRunningDriverVersion;
  WintunSetLoggerFunc SetLogger;
  WintunStartSessionFunc StartSession;
  WintunEndSessionFunc EndSession;
  WintunGetReadWaitEventFunc GetReadWaitEvent;
  WintunReceivePacketFunc ReceivePacket;
  WintunReleaseReceivePacketFunc ReleaseReceivePacket;
  WintunAllocateSendPacketFunc AllocateSendPacket;
  WintunSendPacketFunc SendPacket;
} WintunDll;

typedef struct {
  HMODULE module;
  char *path;
  GetUnicastIpAddressTableFunc GetUnicastIpAddressTable;
  InitializeUnicastIpAddressEntryFunc InitializeUnicastIpAddressEntry;
  CreateUnicastIpAddressEntryFunc CreateUnicastIpAddressEntry;
  DeleteUnicastIpAddressEntryFunc DeleteUnicastIpAddressEntry;
  GetIpForwardTable2Func GetIpForwardTable2;
  InitializeIpForwardEntryFunc InitializeIpForwardEntry;
  CreateIpForwardEntry2Func CreateIpForwardEntry2;
  DeleteIpForwardEntry2Func DeleteIpForwardEntry2;
  InitializeIpInterfaceEntryFunc InitializeIpInterfaceEntry;
  GetIpInterfaceEntryFunc GetIpInterfaceEntry;
  SetIpInterfaceEntryFunc SetIpInterfaceEntry;
  FreeMibTableFunc FreeMibTable;
} IpHelperDll;

/* `configured`: the [group] dll= path, or NULL. */
gboolean wintun_dll_load (WintunDll *dll, const char *configured, GError **error);
void wintun_dll_unload (WintunDll *dll);
gboolean ip_helper_dll_load (IpHelperDll *dll, GError **error);
void ip_helper_dll_unload (IpHelperDll *dll);

/* The context of wintun_session_ops. */
typedef struct {
  const WintunDll *dll;
  WINTUN_SESSION_HANDLE session;
  HANDLE read_event;  /* Wintun's; not ours to close */
  HANDLE stop_event;  /* manual-reset, ours */
} WintunSession;

/* The context of wintun_net_ops. */
typedef struct {
  const IpHelperDll *dll;
  NET_LUID luid;
} WintunNetif;

extern const WintunSessionOps wintun_session_ops;
extern const WintunNetOps wintun_net_ops;

G_END_DECLS
