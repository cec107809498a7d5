/* ops — the Wintun and IP Helper calls the tun-wintun plugin makes, as a
 * table of function pointers.
 *
 * Every member mirrors one documented call (wintun.h of Wintun 0.14, and
 * netioapi.h of the IP Helper API) closely enough that the Windows plugin
 * fills the table with thin wrappers over the functions it resolves from
 * wintun.dll and iphlpapi.dll at run time, while the platform-neutral
 * logic (ring.c, io.c, netconf.c) is built and unit-tested on Linux
 * against an in-memory table. Errors are Win32 error codes, returned
 * where the real call leaves them in GetLastError().
 *
 * The session members are called from the plugin's own threads (the
 * receive thread, the send thread) and from the main thread, as Wintun
 * allows: its ring functions are thread-safe. The net members run on the
 * main thread only.
 */
#pragma once

#include <glib.h>

#include "net/cidr.h"

G_BEGIN_DECLS

/* The Win32 error codes the logic reacts to (winerror.h values; the
 * Windows build checks them against the system header). */
#define WINTUN_OK 0u
#define WINTUN_ERROR_INVALID_DATA 13u      /* the receive ring is corrupt */
#define WINTUN_ERROR_HANDLE_EOF 38u        /* the adapter is going away */
#define WINTUN_ERROR_BUFFER_OVERFLOW 111u  /* the send ring is full */
#define WINTUN_ERROR_NO_MORE_ITEMS 259u    /* the receive ring is empty */
#define WINTUN_ERROR_NOT_FOUND 1168u
#define WINTUN_ERROR_OBJECT_ALREADY_EXISTS 5010u

/* Wintun's limits (wintun.h): the ring capacity is a power of two in
 * [WINTUN_MIN_RING_CAPACITY, WINTUN_MAX_RING_CAPACITY], a packet at most
 * WINTUN_MAX_IP_PACKET_SIZE bytes. */
#define WINTUN_MIN_RING_CAPACITY 0x20000u
#define WINTUN_MAX_RING_CAPACITY 0x4000000u
#define WINTUN_MAX_IP_PACKET_SIZE 0xFFFFu

typedef enum {
  WINTUN_WAIT_READABLE, /* the session's read event is signalled */
  WINTUN_WAIT_STOPPED,  /* stop() was called */
  WINTUN_WAIT_TIMEOUT,
} WintunWait;

/* One session of one adapter. `session` is the WINTUN_SESSION_HANDLE (or
 * the test's ring pair). */
typedef struct {
  /* WintunReceivePacket: the next packet of the receive ring and its size,
   * or NULL with *err = NO_MORE_ITEMS (empty), HANDLE_EOF (adapter ends)
   * or INVALID_DATA (ring corrupt). */
  const guint8 *(*receive_packet) (void *session, guint32 *size, guint32 *err);
  /* WintunReleaseReceivePacket. Packets are released in receive order. */
  void (*release_receive_packet) (void *session, const guint8 *packet);
  /* WintunAllocateSendPacket: room for `size` bytes on the send ring, or
   * NULL with *err = BUFFER_OVERFLOW (ring full) or HANDLE_EOF. */
  guint8 *(*allocate_send_packet) (void *session, guint32 size, guint32 *err);
  /* WintunSendPacket: hands an allocated packet to the driver. Packets
   * leave in allocation order. */
  void (*send_packet) (void *session, const guint8 *packet);
  /* WaitForMultipleObjects on WintunGetReadWaitEvent and the plugin's
   * own stop event, for at most timeout_ms (G_MAXUINT: no limit). */
  WintunWait (*wait_readable) (void *session, guint timeout_ms);
  /* SetEvent on the stop event: every wait_readable returns STOPPED from
   * now on. */
  void (*stop) (void *session);
} WintunSessionOps;

/* The IP Helper calls on the adapter's interface (its NET_LUID is in
 * `netif`). A list call returns a g_malloc'ed array the caller frees. */
typedef struct {
  /* GetUnicastIpAddressTable, the rows of this interface. */
  guint32 (*get_addresses) (void *netif, EmberCidr **out, guint *n);
  /* CreateUnicastIpAddressEntry / DeleteUnicastIpAddressEntry. */
  guint32 (*create_address) (void *netif, const EmberCidr *address);
  guint32 (*delete_address) (void *netif, const EmberCidr *address);
  /* GetIpForwardTable2, the static (MIB_IPPROTO_NETMGMT) routes of this
   * interface: the ones Windows derives from addresses are not ours. */
  guint32 (*get_routes) (void *netif, EmberCidr **out, guint *n);
  /* CreateIpForwardEntry2 / DeleteIpForwardEntry2, on-link (no next hop). */
  guint32 (*create_route) (void *netif, const EmberCidr *route);
  guint32 (*delete_route) (void *netif, const EmberCidr *route);
  /* GetIpInterfaceEntry + SetIpInterfaceEntry with NlMtu, family 4 or 6. */
  guint32 (*set_mtu) (void *netif, guint8 family, guint mtu);
} WintunNetOps;

G_END_DECLS
