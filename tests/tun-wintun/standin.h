/* standin — what the Wine tests share with the stand-in wintun.dll and
 * the stand-in IP Helper DLL: the adapter's LUID and the test-only
 * exports, looked up by name with GetProcAddress. Windows only.
 *
 * The stand-in wintun.dll implements Wintun's documented API (the
 * functions of wintun.h the plugin resolves) over two in-memory rings
 * (fake-ring.c) and a real auto-reset Windows event as the read event;
 * Wintun's driver cannot run under Wine. The stand-in IP Helper DLL
 * implements the IP Helper calls the plugin makes over an in-memory
 * interface (fake-netif.c) that also holds entries of another interface
 * and a route Windows would have made itself, which the plugin must
 * leave alone.
 */
#pragma once

/* The LUID the stand-in adapter reports. */
#define STANDIN_LUID 0x0006000000123000ull
/* Another interface's, for rows the plugin must not touch. */
#define STANDIN_OTHER_LUID 0x0006000000777000ull

/* wintun.dll test exports. */
typedef int (__stdcall *StandinInjectFunc) (const unsigned char *packet, unsigned long len);
typedef unsigned long (__stdcall *StandinTakeSentFunc) (unsigned char *buf, unsigned long cap);
typedef unsigned long (__stdcall *StandinCountFunc) (void);
typedef void (__stdcall *StandinSetFunc) (int on);
typedef void (__stdcall *StandinVoidFunc) (void);
/* A description of the adapter's life: "created Name/Type", "session
 * 4194304", "session ended", "closed", one line each (g_free). */
typedef char *(__stdcall *StandinStringFunc) (void);

#define STANDIN_INJECT "EmberStandinInject"
#define STANDIN_TAKE_SENT "EmberStandinTakeSent"
#define STANDIN_SENT_WAITING "EmberStandinSentWaiting"
#define STANDIN_OVERFLOWS "EmberStandinOverflows"
#define STANDIN_FORCE_FULL "EmberStandinForceFull"
#define STANDIN_END_ADAPTER "EmberStandinEndAdapter"
#define STANDIN_HISTORY "EmberStandinHistory"

/* IP Helper stand-in test exports. */
#define STANDIN_NET_CALLS "EmberStandinNetCalls"        /* StandinStringFunc */
#define STANDIN_NET_STATE "EmberStandinNetState"        /* StandinStringFunc */
#define STANDIN_NET_RESET "EmberStandinNetReset"        /* StandinVoidFunc: the adapter went away */
