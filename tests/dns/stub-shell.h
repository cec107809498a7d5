/* tests/dns/stub-shell — a loopback I/O shell around the stub resolver
 * for tests and benchmarks (see stub-shell.c). */
#pragma once

#include <glib.h>

#include "dns/stub.h"
#include "io/udp.h"

typedef struct {
  EmberDnsStub *stub;        /* borrowed */
  EmberUdpSocket *udp;       /* sentinel 0's queries and answers */
  EmberUdpSocket *up;        /* to and from upstream 0 */
  int tcp_fd;
  guint16 port;              /* sentinel 0's UDP and TCP port on 127.0.0.1 */
  guint16 upstream_port;     /* upstream 0 on 127.0.0.1 */
  EmberAddr upstream;
  gint stop;                 /* set (atomically) to end run() */
  GMutex lock;
  EmberDnsStubStats stats;   /* under `lock` */
} DnsShell;

/* A UDP and a TCP socket bound to one free loopback port. */
gboolean dns_shell_bind_pair (int *udp, int *tcp, guint16 *port);
gboolean dns_shell_open (DnsShell *sh, EmberDnsStub *stub, guint16 upstream_port);
void dns_shell_run (DnsShell *sh);
void dns_shell_close (DnsShell *sh);
void dns_shell_get_stats (DnsShell *sh, EmberDnsStubStats *stats);
