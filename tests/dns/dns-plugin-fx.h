/* tests/dns/dns-plugin-fx — the core's side of a DNS upstream plugin for
 * the tests: loads the real .so through the core loader, opens a backend
 * from config text, and drives it only through its vtable the way the
 * core does: poll_recv_many() again only after the plugin woke the
 * waker (an eventfd polled with a bounded timeout) or returned packets.
 */
#pragma once

#include "loader.h"
#include "ember-plugin-dns.h"

typedef struct {
  EmberWaker base;
  int efd;
} FxWaker;

typedef struct {
  EmberAddr remote;
  gint error;
  guint16 queue;
  gsize len;
  guint8 data[EMBER_DNS_ANSWER_MAX];
} FxResult;

typedef struct {
  EmberPlugin *plugin;
  EmberBackend *be;
  FxWaker rw, sw;
  EmberPacket batch[EMBER_BATCH_MAX];
  guint8 *buf;
  GArray *results;  /* FxResult */
} DnsFx;

/* Loads <build>/plugins/dns/<name>/<name>.so once; FALSE (skipped)
 * outside meson test. */
gboolean dns_fx_load (DnsFx *fx, const char *name);
void dns_fx_init (DnsFx *fx);
/* Opens a backend from `config` (group [name]); NULL and error on failure. */
EmberBackend *dns_fx_open (DnsFx *fx, const char *group, const char *config, GError **error);
/* Sends one query; asserts the backend was ready and took it. */
void dns_fx_send (DnsFx *fx, const EmberAddr *remote, const guint8 *q, gsize len, guint16 queue);
/* Collects results until `n` in all or `timeout_ms` passed; how many. */
guint dns_fx_collect (DnsFx *fx, guint n, guint timeout_ms);
/* Whether the waker fired within timeout_ms (and clears it). */
gboolean dns_fx_wait (FxWaker *w, guint timeout_ms);
void dns_fx_clear (DnsFx *fx);

/* Header fields of a DNS message, for the assertions. */
#define DNS_ID(m) ((guint16) (((m)[0] << 8) | (m)[1]))
#define DNS_TC(m) (((m)[2] & 0x02) != 0)
#define DNS_QR(m) (((m)[2] & 0x80) != 0)
#define DNS_RCODE(m) ((m)[3] & 0x0f)
#define DNS_ANCOUNT(m) ((guint16) (((m)[6] << 8) | (m)[7]))
