/* tests/dns/dns-servers — real DNS servers for the upstream plugin tests:
 * unbound (plain DNS; with a test certificate also DNS over TLS and DNS
 * over HTTPS) and dnsmasq, each started on 127.0.0.1 with a port chosen
 * free, a temporary directory and the same small zone "test.":
 *
 *   a.test     A    192.0.2.1 (unbound) / 192.0.2.2 (dnsmasq)
 *   big.test   TXT  records worth ~2 KB: truncated (TC) over UDP without EDNS
 *
 * Owns every process and file it makes: a failed assertion ends a test
 * without its teardown, so after dns_servers_install_cleanup() an atexit
 * handler and an async-signal-safe SIGABRT/SIGTRAP handler kill the
 * servers and remove the files, and each server dies with the test
 * (PR_SET_PDEATHSIG). One test thread. */
#pragma once

#include "ember-plugin.h"

typedef struct {
  GPid pid;
  guint16 port;        /* plain DNS, UDP and TCP */
  guint16 tls_port;    /* DoT (unbound with a certificate), else 0 */
  guint16 https_port;  /* DoH (unbound with a certificate), else 0 */
  char *dir;
  char *ca_file;       /* the CA that signed the server's certificate */
  gboolean ipv6;       /* listens on ::1 instead of 127.0.0.1 */
} DnsServer;

/* The name the test certificate is issued for. */
#define DNS_SERVER_NAME "dns.ember.test"

void dns_servers_install_cleanup (void);

/* What the handlers clean up besides the servers: a temporary directory
 * (holding only the file names listed in dns-servers.c) and processes
 * the test spawns itself (with dns_servers_child_setup as child setup).
 * remove_dir deletes those files and the directory. */
char *dns_servers_make_dir (void);
void dns_servers_remove_dir (const char *dir);
void dns_servers_adopt (GPid pid);
void dns_servers_release (GPid pid);
void dns_servers_child_setup (gpointer data);

/* FALSE, with the test skipped, when the program is missing. `tls`:
 * also serve DoT and DoH with a certificate for DNS_SERVER_NAME made by
 * certtool. Waits (10 s at most) until the server accepts TCP. */
gboolean dns_server_start_unbound (DnsServer *s, gboolean tls);
/* On ::1 with `ipv6` (the port chosen free on 127.0.0.1: retried if taken). */
gboolean dns_server_start_dnsmasq (DnsServer *s, gboolean ipv6);
void dns_server_stop (DnsServer *s);

/* A loopback port nothing listens on (UDP and TCP) right now. */
guint16 dns_free_port (void);
EmberAddr dns_loopback (guint16 port);

/* A query without EDNS for `name` (dotted) and `qtype`, id `id`; its length. */
gsize dns_build_query (guint8 *buf, guint16 id, const char *name, guint16 qtype);
