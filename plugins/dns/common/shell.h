/* plugins/dns/common/shell — what the DNS upstream plugins (do53, dot,
 * doh) share: the configuration group, the upstream list and its
 * default from the system's resolvers, the in-flight query slots that
 * the core's thread and the plugin's worker thread hand to each other,
 * and the worker thread itself. Each plugin supplies only its transport
 * (DnsTransportOps); the I/O vtable is the shell's (dns_shell_*).
 *
 * Threads. The vtable functions run on the core's thread. Each backend
 * has one worker thread running its own GMainContext, where all network
 * I/O happens (GIO sockets, TLS, libsoup) and where every
 * DnsTransportOps member is called. The two share only DnsSlots, under
 * its lock: a slot belongs to the core while FREE or DONE, to the worker
 * while QUEUED (once popped) or INFLIGHT. Not installed.
 */
#pragma once

#include <gio/gio.h>

#include "ember-plugin.h"
#include "ember-plugin-dns.h"
#include "net/cidr.h"

G_BEGIN_DECLS

#define DNS_SLOTS EMBER_DNS_INFLIGHT_MIN
#define DNS_MAX_UPSTREAMS 16
#define DNS_NAME_MAX 253
#define DNS_DEFAULT_TIMEOUT_MS 5000
#define DNS_DEFAULT_IDLE_MS 10000
#define DNS_HEADER_LEN 12
/* RFC 1035 §4.1.1: TC is bit 1 of the third header byte. */
#define DNS_FLAG_TC 0x02

/* ---- Configuration -------------------------------------------------------- */

typedef struct {
  EmberAddr addr;
  char *name;   /* TLS server name (dot, doh), or NULL: check the address */
} DnsUpstream;

/* What differs between the plugins' groups. */
typedef struct {
  const char *plugin;          /* "do53" */
  guint16 default_port;        /* 53, 853, 443 */
  gboolean tls;                /* `ca-file`, `#name` and `idle-timeout` allowed */
  gboolean http;               /* `path` allowed */
} DnsConfigSpec;

typedef struct {
  DnsUpstream upstreams[DNS_MAX_UPSTREAMS];
  guint n_upstreams;
  gboolean from_system;        /* upstreams came from the system's resolvers */
  char *ca_file;               /* NULL: the system's trust store */
  guint timeout_ms;
  guint idle_ms;
  char *path;                  /* doh: "/dns-query" */
} DnsConfig;

/* Reads the group (absent: every default). FALSE with
 * EMBER_PLUGIN_ERROR_CONFIG "[group] key: ..." for an unknown key, a bad
 * value or, when `upstreams` is not set, a system without resolvers. */
gboolean dns_config_parse (GKeyFile *kf, const char *group, const DnsConfigSpec *spec,
                           DnsConfig *out, GError **error);
void dns_config_clear (DnsConfig *c);

/* "ADDR", "ADDR#NAME", "IPV4:PORT", "[IPV6]:PORT", with "#NAME" after
 * any of them when `allow_name`. */
gboolean dns_upstream_parse (const char *text, guint16 default_port, gboolean allow_name,
                             DnsUpstream *out, GError **error);

/* The `nameserver` lines of resolv.conf text, at most `max`, port
 * `port`; an IPv6 zone ("fe80::1%eth0") becomes the scope id. Returns
 * how many were found. Lines that do not parse are skipped. */
guint dns_resolv_conf_parse (const char *text, guint16 port, EmberAddr *out, guint max);

/* The system's resolvers: the nameservers of `path`; when those are only
 * systemd-resolved's stub (127.0.0.53, 127.0.0.54), the upstreams
 * resolved itself uses, from `resolved_path`. 0 when there are none. */
guint dns_system_resolvers (const char *path, const char *resolved_path, guint16 port,
                            EmberAddr *out, guint max);

/* "192.0.2.1:53" / "[2001:db8::1]:53". */
const char *dns_addr_format (const EmberAddr *a, char *buf, gsize len);
gboolean dns_addr_eq (const EmberAddr *a, const EmberAddr *b);
GSocketAddress *dns_addr_to_gsocket (const EmberAddr *a);

/* ---- Slots ------------------------------------------------------------------ */

typedef enum {
  DNS_SLOT_FREE = 0,
  DNS_SLOT_QUEUED,    /* filled by send(), waiting for the worker */
  DNS_SLOT_INFLIGHT,  /* the worker's */
  DNS_SLOT_DONE,      /* answer or error, waiting for poll_recv_many() */
} DnsSlotState;

typedef struct {
  DnsSlotState state;
  guint upstream;         /* index into the config's upstreams */
  guint16 id;
  gboolean via_tcp;       /* EMBER_DNS_VIA_TCP, or the worker moved it to TCP */
  gsize query_len;
  guint8 query[EMBER_DNS_QUERY_MAX];
  /* Worker's while INFLIGHT; `busy` is written by the worker only. */
  gboolean busy;
  gint64 deadline;        /* monotonic */
  gpointer owner;         /* the transport's: which socket or connection */
  guint tries;            /* connections it was written to */
  /* Result, set by dns_shell_complete(). */
  gint error;
  guint8 *answer;         /* grown to the largest answer, kept: pooled */
  gsize answer_len, answer_cap;
} DnsSlot;

typedef struct _DnsShell DnsShell;

/* The transport, all on the worker thread. */
typedef struct {
  /* Creates sockets etc.; FALSE with error fails open(). */
  gboolean (*setup) (DnsShell *sh, GError **error);
  /* Slot `i` is INFLIGHT: send it, or queue it for flush. Its deadline
   * is set. */
  void (*start) (DnsShell *sh, guint i);
  /* Optional: every slot the core handed over so far is started; send
   * what start() queued (in batches). */
  void (*flush) (DnsShell *sh);
  /* Slot `i` is about to be completed by the shell (timeout): forget it. */
  void (*forget) (DnsShell *sh, guint i);
  /* Frees everything setup made; in-flight slots are failed after. */
  void (*teardown) (DnsShell *sh);
} DnsTransportOps;

struct _DnsShell {
  const DnsConfigSpec *spec;
  const DnsTransportOps *ops;
  DnsConfig config;
  char *log_domain;
  gpointer transport;        /* the transport's own state (worker) */
  guint preferred;           /* upstream for remote = NONE (core thread) */

  /* Worker. */
  GThread *thread;
  GMainContext *context;
  gint stopping;             /* atomic: close() asks the worker to end */
  GSource *kick_source, *timer_source;
  gboolean setup_done;
  GError *setup_error;

  /* The worker's compact view of its slots, so that finding an answer's
   * slot or the next deadline reads a few cache lines and not every
   * slot's 4 KiB: busy_key[i] is dns_slot_key() while slot i is busy (0
   * otherwise) and busy_deadline[i] its deadline. */
  guint32 busy_key[DNS_SLOTS];
  gint64 busy_deadline[DNS_SLOTS];

  /* Shared, under lock. */
  GMutex lock;
  GCond cond;
  DnsSlot *slots;
  guint queued[DNS_SLOTS], q_head, q_len;
  guint done[DNS_SLOTS], d_head, d_len;
  guint n_free;
  guint free_slots[DNS_SLOTS];  /* the first n_free are FREE */
  guint32 sent_key[DNS_SLOTS];  /* dns_slot_key() while QUEUED or INFLIGHT, else 0 */
  EmberWaker *recv_waker, *send_waker;
  gboolean recv_armed, send_armed;
  gint failed_upstream[DNS_MAX_UPSTREAMS];  /* last error per upstream (for `preferred`) */
};

/* ---- The vtable, for each plugin's entry point -------------------------------- */

EmberBackend *dns_shell_open (const EmberBackendArgs *args, const DnsConfigSpec *spec,
                              const DnsTransportOps *ops, GError **error);
gint dns_shell_poll_recv_many (EmberBackend *backend, EmberWaker *waker, EmberPacket *batch,
                               guint max, GError **error);
EmberPoll dns_shell_poll_send_ready (EmberBackend *backend, EmberWaker *waker, GError **error);
gboolean dns_shell_send (EmberBackend *backend, const EmberPacket *packet, GError **error);
void dns_shell_close (EmberBackend *backend);
/* The vtable's get_control: EmberDnsControl for its name, else NULL. */
const void *dns_shell_get_control (const char *name);

/* ---- For the transports (worker thread) ---------------------------------------- */

/* The slot's answer is `data`; or with error != 0 it failed. The slot
 * goes to the core. */
void dns_shell_complete (DnsShell *sh, guint i, const guint8 *data, gsize len, gint error);
/* The INFLIGHT slot of `upstream` with message id `id` whose owner is
 * `owner`, or -1. */
gint dns_shell_find (DnsShell *sh, guint upstream, gpointer owner, guint16 id);
/* Re-arms the timeout sweep after deadlines changed. */
void dns_shell_update_timer (DnsShell *sh);
/* An errno value for a GError from GIO. */
gint dns_errno_from_gerror (const GError *error);

static inline guint16
dns_msg_id (const guint8 *msg)
{
  return (guint16) ((msg[0] << 8) | msg[1]);
}

/* (upstream, message id) as one non-zero word. */
static inline guint32
dns_slot_key (guint upstream, guint16 id)
{
  return 0x80000000u | (upstream << 16) | id;
}

G_END_DECLS
