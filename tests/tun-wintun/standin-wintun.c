/* standin-wintun — a wintun.dll for the Wine tests. See standin.h.
 *
 * One adapter and one session at a time, which is all the plugin uses.
 * Errors are reported as Wintun does, through SetLastError().
 */
#include <glib.h>

#include "fake-ring.h"
#include "ops.h"
#include "standin.h"
#include "wintun-api.h"

#define EXPORT __declspec(dllexport)

/* Wintun's API (wintun-api.h has it as pointer types). */
EXPORT WINTUN_ADAPTER_HANDLE WINAPI WintunCreateAdapter (LPCWSTR name, LPCWSTR tunnel_type,
                                                         const GUID *requested_guid);
EXPORT void WINAPI WintunCloseAdapter (WINTUN_ADAPTER_HANDLE a);
EXPORT void WINAPI WintunGetAdapterLUID (WINTUN_ADAPTER_HANDLE a, NET_LUID *luid);
EXPORT DWORD WINAPI WintunGetRunningDriverVersion (void);
EXPORT void WINAPI WintunSetLogger (WINTUN_LOGGER_CALLBACK new_logger);
EXPORT WINTUN_SESSION_HANDLE WINAPI WintunStartSession (WINTUN_ADAPTER_HANDLE a, DWORD capacity);
EXPORT void WINAPI WintunEndSession (WINTUN_SESSION_HANDLE s);
EXPORT HANDLE WINAPI WintunGetReadWaitEvent (WINTUN_SESSION_HANDLE s);
EXPORT BYTE *WINAPI WintunReceivePacket (WINTUN_SESSION_HANDLE s, DWORD *packet_size);
EXPORT void WINAPI WintunReleaseReceivePacket (WINTUN_SESSION_HANDLE s, const BYTE *packet);
EXPORT BYTE *WINAPI WintunAllocateSendPacket (WINTUN_SESSION_HANDLE s, DWORD packet_size);
EXPORT void WINAPI WintunSendPacket (WINTUN_SESSION_HANDLE s, const BYTE *packet);

/* The test-only exports (standin.h has their pointer types). */
EXPORT int __stdcall EmberStandinInject (const unsigned char *packet, unsigned long len);
EXPORT unsigned long __stdcall EmberStandinTakeSent (unsigned char *buf, unsigned long cap);
EXPORT unsigned long __stdcall EmberStandinSentWaiting (void);
EXPORT unsigned long __stdcall EmberStandinOverflows (void);
EXPORT void __stdcall EmberStandinForceFull (int on);
EXPORT void __stdcall EmberStandinEndAdapter (void);
EXPORT char *__stdcall EmberStandinHistory (void);

struct _WINTUN_ADAPTER {
  NET_LUID luid;
};
struct _TUN_SESSION {
  FakeRing *ring;
  HANDLE read_event;
};

static struct _WINTUN_ADAPTER adapter;
static struct _TUN_SESSION session;
static gboolean adapter_open;
static WINTUN_LOGGER_CALLBACK logger;
static GMutex history_lock;
static GString *history;

static void
note (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
note (const char *fmt, ...)
{
  va_list ap;
  g_mutex_lock (&history_lock);
  if (history == NULL)
    history = g_string_new (NULL);
  va_start (ap, fmt);
  g_string_append_vprintf (history, fmt, ap);
  va_end (ap);
  g_string_append_c (history, '\n');
  g_mutex_unlock (&history_lock);
}

static void
read_event_set (void *data)
{
  SetEvent ((HANDLE) data);
}

EXPORT WINTUN_ADAPTER_HANDLE WINAPI
WintunCreateAdapter (LPCWSTR name, LPCWSTR tunnel_type, const GUID *requested_guid)
{
  if (adapter_open)
    {
      SetLastError (ERROR_ALREADY_EXISTS);
      return NULL;
    }
  g_autofree char *n = g_utf16_to_utf8 ((const gunichar2 *) name, -1, NULL, NULL, NULL);
  g_autofree char *t = g_utf16_to_utf8 ((const gunichar2 *) tunnel_type, -1, NULL, NULL, NULL);
  if (n == NULL || t == NULL || *n == '\0')
    {
      SetLastError (ERROR_INVALID_PARAMETER);
      return NULL;
    }
  adapter.luid.Value = STANDIN_LUID;
  adapter_open = TRUE;
  if (requested_guid != NULL)
    note ("created %s/%s {%08lX-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}", n, t,
          requested_guid->Data1, requested_guid->Data2, requested_guid->Data3,
          requested_guid->Data4[0], requested_guid->Data4[1], requested_guid->Data4[2],
          requested_guid->Data4[3], requested_guid->Data4[4], requested_guid->Data4[5],
          requested_guid->Data4[6], requested_guid->Data4[7]);
  else
    note ("created %s/%s (random GUID)", n, t);
  if (logger != NULL)
    logger (WINTUN_LOG_INFO, 0, L"Created adapter");
  return &adapter;
}

EXPORT void WINAPI
WintunCloseAdapter (WINTUN_ADAPTER_HANDLE a)
{
  if (a == &adapter && adapter_open)
    {
      adapter_open = FALSE;
      note ("closed");
    }
}

EXPORT void WINAPI
WintunGetAdapterLUID (WINTUN_ADAPTER_HANDLE a, NET_LUID *luid)
{
  *luid = a->luid;
}

EXPORT DWORD WINAPI
WintunGetRunningDriverVersion (void)
{
  return 0x000E0000; /* 0.14 */
}

EXPORT void WINAPI
WintunSetLogger (WINTUN_LOGGER_CALLBACK new_logger)
{
  logger = new_logger;
}

EXPORT WINTUN_SESSION_HANDLE WINAPI
WintunStartSession (WINTUN_ADAPTER_HANDLE a, DWORD capacity)
{
  if (a != &adapter || !adapter_open || session.ring != NULL ||
      capacity < WINTUN_MIN_RING_CAPACITY || capacity > WINTUN_MAX_RING_CAPACITY ||
      (capacity & (capacity - 1)) != 0)
    {
      SetLastError (ERROR_INVALID_PARAMETER);
      return NULL;
    }
  session.read_event = CreateEventW (NULL, FALSE, FALSE, NULL);
  session.ring = fake_ring_new (capacity, read_event_set, session.read_event);
  note ("session %lu", capacity);
  return &session;
}

EXPORT void WINAPI
WintunEndSession (WINTUN_SESSION_HANDLE s)
{
  if (s != &session || s->ring == NULL)
    return;
  fake_ring_free (s->ring);
  CloseHandle (s->read_event);
  s->ring = NULL;
  s->read_event = NULL;
  note ("session ended");
}

EXPORT HANDLE WINAPI
WintunGetReadWaitEvent (WINTUN_SESSION_HANDLE s)
{
  return s->read_event;
}

EXPORT BYTE *WINAPI
WintunReceivePacket (WINTUN_SESSION_HANDLE s, DWORD *packet_size)
{
  guint32 size = 0, err = 0;
  const guint8 *p = fake_ring_receive (s->ring, &size, &err);
  if (p == NULL)
    SetLastError (err);
  else
    *packet_size = size;
  return (BYTE *) p;
}

EXPORT void WINAPI
WintunReleaseReceivePacket (WINTUN_SESSION_HANDLE s, const BYTE *packet)
{
  fake_ring_release (s->ring, packet);
}

EXPORT BYTE *WINAPI
WintunAllocateSendPacket (WINTUN_SESSION_HANDLE s, DWORD packet_size)
{
  guint32 err = 0;
  guint8 *p = fake_ring_allocate (s->ring, packet_size, &err);
  if (p == NULL)
    SetLastError (err);
  return p;
}

EXPORT void WINAPI
WintunSendPacket (WINTUN_SESSION_HANDLE s, const BYTE *packet)
{
  fake_ring_send (s->ring, packet);
}

/* ---- Test-only exports -------------------------------------------------- */

EXPORT int __stdcall
EmberStandinInject (const unsigned char *packet, unsigned long len)
{
  return session.ring != NULL && fake_ring_inject (session.ring, packet, len);
}

EXPORT unsigned long __stdcall
EmberStandinTakeSent (unsigned char *buf, unsigned long cap)
{
  return session.ring != NULL ? (unsigned long) fake_ring_take_sent (session.ring, buf, cap) : 0;
}

EXPORT unsigned long __stdcall
EmberStandinSentWaiting (void)
{
  return session.ring != NULL ? fake_ring_sent_waiting (session.ring) : 0;
}

EXPORT unsigned long __stdcall
EmberStandinOverflows (void)
{
  return session.ring != NULL ? fake_ring_overflows (session.ring) : 0;
}

EXPORT void __stdcall
EmberStandinForceFull (int on)
{
  if (session.ring != NULL)
    fake_ring_force_full (session.ring, on != 0);
}

EXPORT void __stdcall
EmberStandinEndAdapter (void)
{
  if (session.ring != NULL)
    fake_ring_end (session.ring);
  note ("adapter ended");
}

EXPORT char *__stdcall
EmberStandinHistory (void)
{
  g_mutex_lock (&history_lock);
  char *s = history != NULL ? g_string_free (history, FALSE) : g_strdup ("");
  history = NULL;
  g_mutex_unlock (&history_lock);
  return s;
}
