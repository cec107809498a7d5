/* plugins/dns/common/stream — DNS over a stream (RFC 7766 TCP, RFC 7858
 * TLS): one connection per upstream at a time, reused for every query
 * (pipelined: queries are written as they come, answers matched by id in
 * any order), opened on demand and closed after `idle_ms` without a
 * query in flight. A connection that dies with queries written on it
 * re-sends them once on a new connection (the server may close an idle
 * connection just as a query goes out, RFC 7766 §6.2.3); a connection
 * that cannot be made fails its queries with the reason.
 *
 * Worker thread only (shell.h): uses the thread-default main context.
 */
#pragma once

#include "shell.h"

typedef struct _DnsStream DnsStream;

/* `tls`: RFC 7858, the certificate checked against the upstream's name
 * (or its address without one) with `database` (NULL: the system's). */
DnsStream *dns_stream_new (DnsShell *sh, guint upstream, gboolean tls, GTlsDatabase *database);
/* Sends INFLIGHT slot `i` (its owner becomes the stream's). */
void dns_stream_submit (DnsStream *st, guint i);
/* The shell is about to complete slot `i`, which is this stream's. */
void dns_stream_forget (DnsStream *st, guint i);
/* Whether slot `i` belongs to this stream. */
gboolean dns_stream_owns (DnsStream *st, guint i);
/* Closes the connection; slots it still owns stay INFLIGHT (the shell's
 * close frees them). */
void dns_stream_free (DnsStream *st);
