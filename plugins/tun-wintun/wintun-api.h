/* wintun-api — the Wintun 0.14 API (wintun.h) as function-pointer types,
 * for resolving wintun.dll at run time, and the IP Helper calls the
 * plugin resolves from iphlpapi.dll the same way. Windows only.
 *
 * Both the plugin (wintun-dll.c) and the test stand-in wintun.dll
 * (tests/tun-wintun/standin-wintun.c) use these types, so their
 * signatures cannot drift apart.
 */
#pragma once

#include <winsock2.h>
#include <windows.h>
#include <ws2ipdef.h>
#include <iphlpapi.h>
#include <netioapi.h>

typedef struct _WINTUN_ADAPTER *WINTUN_ADAPTER_HANDLE;
typedef struct _TUN_SESSION *WINTUN_SESSION_HANDLE;

typedef enum {
  WINTUN_LOG_INFO,
  WINTUN_LOG_WARN,
  WINTUN_LOG_ERR,
} WINTUN_LOGGER_LEVEL;

typedef void (CALLBACK *WINTUN_LOGGER_CALLBACK) (WINTUN_LOGGER_LEVEL level, DWORD64 timestamp,
                                                 LPCWSTR message);

typedef WINTUN_ADAPTER_HANDLE (WINAPI *WintunCreateAdapterFunc) (LPCWSTR name,
                                                                 LPCWSTR tunnel_type,
                                                                 const GUID *requested_guid);
typedef void (WINAPI *WintunCloseAdapterFunc) (WINTUN_ADAPTER_HANDLE adapter);
typedef void (WINAPI *WintunGetAdapterLUIDFunc) (WINTUN_ADAPTER_HANDLE adapter, NET_LUID *luid);
typedef DWORD (WINAPI *WintunGetRunningDriverVersionFunc) (void);
typedef void (WINAPI *WintunSetLoggerFunc) (WINTUN_LOGGER_CALLBACK logger);
typedef WINTUN_SESSION_HANDLE (WINAPI *WintunStartSessionFunc) (WINTUN_ADAPTER_HANDLE adapter,
                                                                DWORD capacity);
typedef void (WINAPI *WintunEndSessionFunc) (WINTUN_SESSION_HANDLE session);
typedef HANDLE (WINAPI *WintunGetReadWaitEventFunc) (WINTUN_SESSION_HANDLE session);
typedef BYTE *(WINAPI *WintunReceivePacketFunc) (WINTUN_SESSION_HANDLE session,
                                                 DWORD *packet_size);
typedef void (WINAPI *WintunReleaseReceivePacketFunc) (WINTUN_SESSION_HANDLE session,
                                                       const BYTE *packet);
typedef BYTE *(WINAPI *WintunAllocateSendPacketFunc) (WINTUN_SESSION_HANDLE session,
                                                      DWORD packet_size);
typedef void (WINAPI *WintunSendPacketFunc) (WINTUN_SESSION_HANDLE session, const BYTE *packet);

typedef NETIO_STATUS (WINAPI *GetUnicastIpAddressTableFunc) (ADDRESS_FAMILY family,
                                                             PMIB_UNICASTIPADDRESS_TABLE *table);
typedef void (WINAPI *InitializeUnicastIpAddressEntryFunc) (PMIB_UNICASTIPADDRESS_ROW row);
typedef NETIO_STATUS (WINAPI *CreateUnicastIpAddressEntryFunc) (const MIB_UNICASTIPADDRESS_ROW *row);
typedef NETIO_STATUS (WINAPI *DeleteUnicastIpAddressEntryFunc) (const MIB_UNICASTIPADDRESS_ROW *row);
typedef NETIO_STATUS (WINAPI *GetIpForwardTable2Func) (ADDRESS_FAMILY family,
                                                       PMIB_IPFORWARD_TABLE2 *table);
typedef void (WINAPI *InitializeIpForwardEntryFunc) (PMIB_IPFORWARD_ROW2 row);
typedef NETIO_STATUS (WINAPI *CreateIpForwardEntry2Func) (const MIB_IPFORWARD_ROW2 *row);
typedef NETIO_STATUS (WINAPI *DeleteIpForwardEntry2Func) (const MIB_IPFORWARD_ROW2 *row);
typedef void (WINAPI *InitializeIpInterfaceEntryFunc) (PMIB_IPINTERFACE_ROW row);
typedef NETIO_STATUS (WINAPI *GetIpInterfaceEntryFunc) (PMIB_IPINTERFACE_ROW row);
typedef NETIO_STATUS (WINAPI *SetIpInterfaceEntryFunc) (PMIB_IPINTERFACE_ROW row);
typedef void (WINAPI *FreeMibTableFunc) (PVOID memory);
