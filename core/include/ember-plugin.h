/* ember-plugin.h — the Ember plugin ABI.
 *
 * This is the one header a backend author needs. A plugin is a shared
 * object that exports exactly one symbol, ember_plugin_info(), returning a
 * const descriptor: ABI version, name, kind, description and a vtable.
 * Build one outside the Ember tree with
 *
 *   cc -shared -fPIC $(pkg-config --cflags ember-plugin) my.c -o my.so
 *
 * The header is self-contained: it depends on GLib's headers only and a
 * plugin links against nothing from Ember. Everything the core gives a
 * plugin (the waker, the configuration) reaches it through arguments.
 *
 * Versioning. The host refuses a plugin whose ABI major differs from its
 * own and accepts any minor up to its own. It copies
 * MIN(vtable_size, sizeof host vtable) bytes of the vtable and zero-fills
 * the rest, so members a plugin predates read as NULL. Vtables are
 * append-only; each member says which ABI minor added it.
 *
 * Threads. The core calls every vtable function from its main-loop thread
 * only, never concurrently for one backend. A plugin may run threads of
 * its own; from them it may call only ember_waker_wake().
 *
 * Name clash: poll_* on a plugin is non-blocking I/O that may touch the
 * device; poll_* on one of Ember's sans-IO state machines only hands out
 * pending output and performs no I/O.
 */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

#define EMBER_PLUGIN_ABI_MAJOR 1
#define EMBER_PLUGIN_ABI_MINOR 1

/* The name of the entry symbol, as looked up by the loader. */
#define EMBER_PLUGIN_ENTRY_SYMBOL "ember_plugin_info"

/* Largest batch the core asks for in one poll_recv_many() call (seed 004). */
#define EMBER_BATCH_MAX 100

#if defined(_WIN32)
#define EMBER_PLUGIN_EXPORT __declspec(dllexport)
#else
#define EMBER_PLUGIN_EXPORT __attribute__((visibility ("default")))
#endif

typedef enum {
  EMBER_PLUGIN_KIND_TUN = 1,       /* IP packets to and from the OS */
  EMBER_PLUGIN_KIND_TRANSPORT = 2, /* datagrams to and from remote peers */
  EMBER_PLUGIN_KIND_DNS = 3,       /* DNS queries/answers to and from upstreams */
  EMBER_PLUGIN_KIND_WG = 4,        /* a WireGuard engine (no I/O of its own) */
} EmberPluginKind;

/* ---- Errors --------------------------------------------------------- */

/* Plugins report errors through GError. They may use any domain; the
 * codes below in EMBER_PLUGIN_ERROR are understood by the core and are the
 * ones to prefer. The domain is a GQuark made from the string
 * "ember-plugin-error-quark" so the plugin and the core agree on it
 * without linking. */
#define EMBER_PLUGIN_ERROR (g_quark_from_static_string ("ember-plugin-error-quark"))

typedef enum {
  EMBER_PLUGIN_ERROR_FAILED,      /* anything else */
  EMBER_PLUGIN_ERROR_CONFIG,      /* a bad or missing configuration value */
  EMBER_PLUGIN_ERROR_PERMISSION,  /* the OS refused (EPERM, EACCES) */
  EMBER_PLUGIN_ERROR_UNSUPPORTED, /* the OS or device lacks a feature */
  EMBER_PLUGIN_ERROR_IO,          /* a read or write failed */
  EMBER_PLUGIN_ERROR_CLOSED,      /* the device or peer went away */
} EmberPluginErrorCode;

/* ---- Waker ---------------------------------------------------------- */

/* A waker is how a backend that returned "pending" tells the core to poll
 * it again. The core implements it on the GLib main loop (an eventfd
 * watched by a GSource), so it may be called from any thread, any number
 * of times; calls coalesce. The core owns the waker and keeps it alive
 * until close(): a plugin stores the pointer it was last given and calls
 * ember_waker_wake() when the condition it waited for changes. */
typedef struct _EmberWaker EmberWaker;
struct _EmberWaker {
  void (*wake) (EmberWaker *waker);
};

static inline void
ember_waker_wake (EmberWaker *waker)
{
  if (waker != NULL && waker->wake != NULL)
    waker->wake (waker);
}

/* ---- Packets -------------------------------------------------------- */

/* A socket address without system headers, so the ABI is the same on
 * every platform. family is EMBER_ADDR_NONE, _IPV4 or _IPV6; addr holds
 * 4 or 16 bytes in network order; port is in host order. */
typedef enum {
  EMBER_ADDR_NONE = 0,
  EMBER_ADDR_IPV4 = 4,
  EMBER_ADDR_IPV6 = 6,
} EmberAddrFamily;

typedef struct {
  guint8 family;
  guint8 reserved_[3];
  guint16 port;
  guint16 reserved2_;
  guint32 scope_id;
  guint8 addr[16];
} EmberAddr;

/* One packet in a batch. The buffer is owned by whoever made the batch:
 * for poll_recv_many() the core, which hands the plugin `capacity` bytes
 * at `data` to fill; for send() the core, and the plugin must copy what it
 * keeps before returning. Nothing is allocated per packet.
 *
 * For a TUN backend a packet is one IP packet. For a transport backend it
 * is one or more UDP payloads to or from `remote`: when `segment_size` is
 * non-zero, `len` bytes are consecutive segments of `segment_size` bytes
 * (the last may be shorter), as with UDP GSO/GRO. */
typedef struct {
  guint8 *data;
  gsize capacity;
  gsize len;
  EmberAddr remote;      /* transport: peer address; others: unset */
  EmberAddr local;       /* transport: local address, if known */
  guint16 segment_size;  /* 0: one datagram */
  guint16 queue;         /* the device queue it came from / should go to */
  gint32 error;          /* recv: non-zero errno-style code for a slot
                          * that failed; the core logs it and goes on */
} EmberPacket;

/* ---- I/O backends: kinds tun, transport, dns ------------------------- */

/* Opaque to the core: each plugin defines struct _EmberBackend itself. */
typedef struct _EmberBackend EmberBackend;

typedef enum {
  EMBER_POLL_READY = 0,   /* the operation can proceed now */
  EMBER_POLL_PENDING = 1, /* not now: the waker is registered */
  EMBER_POLL_ERROR = -1,  /* failed: *error is set */
} EmberPoll;

/* What open() gets. The strings and the key file are the core's and stay
 * valid until open() returns; copy what is needed later. */
typedef struct {
  /* The configuration file, and the group that belongs to this backend
   * (e.g. "tun-linux"). A plugin validates its own keys and reports an
   * unknown key or bad value with EMBER_PLUGIN_ERROR_CONFIG, naming the
   * group, the key and what was expected. */
  GKeyFile *config;
  const char *group;
  /* The log domain the plugin should use for g_log_structured(). */
  const char *log_domain;
} EmberBackendArgs;

/* The vtable of kinds tun, transport and dns. All members: ABI 1.0. */
typedef struct {
  /* Creates a backend. Called once per instance from the main thread.
   * Returns NULL and sets error on failure. The plugin may start threads
   * here. */
  EmberBackend *(*open) (const EmberBackendArgs *args, GError **error);

  /* Non-blocking receive. Fills up to `max` entries of `batch` (each with
   * a core-owned buffer of `capacity` bytes) and returns how many it
   * filled, with `len` set on each. When nothing is ready it stores
   * `waker`, returns 0 and wakes it when packets arrive. Returns -1 and
   * sets error only when the backend as a whole has failed; a single bad
   * packet is reported in that slot's `error` instead. */
  gint (*poll_recv_many) (EmberBackend *backend, EmberWaker *waker,
                          EmberPacket *batch, guint max, GError **error);

  /* Whether send() may be called now. Returns EMBER_POLL_PENDING and
   * stores `waker` when the backend's send queue is full; the plugin
   * wakes it once there is room. This is the backpressure that lets the
   * core hold packets instead of dropping them. */
  EmberPoll (*poll_send_ready) (EmberBackend *backend, EmberWaker *waker,
                                GError **error);

  /* Queues one packet. Only valid right after poll_send_ready() returned
   * EMBER_POLL_READY. The plugin copies the bytes before returning.
   * Returns FALSE and sets error if the packet is refused (e.g. too
   * large); the backend stays usable. */
  gboolean (*send) (EmberBackend *backend, const EmberPacket *packet,
                    GError **error);

  /* Stops threads, flushes what can be flushed without blocking, frees
   * the backend. After it returns the plugin never touches the waker. */
  void (*close) (EmberBackend *backend);

  /* Optional (may be NULL). Checks the plugin's configuration group
   * without opening anything, for `emberd --check-config`: every key known
   * and every value valid, errors naming the group and the key. ABI 1.0. */
  gboolean (*validate_config) (GKeyFile *config, const char *group, GError **error);

  /* Optional, kind tun (may be NULL). Add or remove a route through the
   * device at run time; `cidr` is "10.0.0.0/8" or "fd00::/8". Removing
   * a route that is not there succeeds. ABI 1.0. */
  gboolean (*add_route) (EmberBackend *backend, const char *cidr, GError **error);
  gboolean (*remove_route) (EmberBackend *backend, const char *cidr, GError **error);

  /* Optional (may be NULL). ABI 1.1. A control interface beyond packet
   * I/O, looked up by name: e.g. EMBER_RELAY_CONTROL_NAME of
   * ember-plugin-relay.h, which a TURN transport implements. Returns
   * static const data whose first member is a gsize holding its own
   * size (so it can grow append-only like this vtable), or NULL when the
   * plugin has no interface of that name. */
  const void *(*get_control) (const char *name);
} EmberBackendVtable;

/* ---- The descriptor ------------------------------------------------- */

typedef struct {
  guint16 abi_major;
  guint16 abi_minor;
  const char *name;        /* unique, e.g. "tun-linux" */
  EmberPluginKind kind;
  const char *description; /* one line */
  gsize vtable_size;       /* sizeof the vtable the plugin was built with */
  const void *vtable;      /* an EmberBackendVtable for tun/transport/dns */
} EmberPluginInfo;

/* The one exported symbol. It must only return a pointer to static const
 * data: no allocation, no global state, no GType registration (a module
 * that registered types could never be unloaded). */
typedef const EmberPluginInfo *(*EmberPluginInfoFunc) (void);

EMBER_PLUGIN_EXPORT const EmberPluginInfo *ember_plugin_info (void);

G_END_DECLS
