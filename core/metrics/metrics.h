/* metrics — Prometheus text exposition (format 0.0.4) over HTTP.
 *
 * The writers for HELP/TYPE headers and single-value samples, and a small
 * libsoup server answering GET /metrics with whatever the caller's format
 * function writes at that moment (404 for any other path). Shared by
 * ember-relay and ember-portal, which each had their own copy. A static
 * library of its own because libember-core does not link libsoup. The
 * server runs on the thread-default main context of the thread that
 * created it; the format function is called there.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* "# HELP name help" and "# TYPE name type" lines. */
void ember_metrics_head (GString *out, const char *name, const char *type, const char *help);
/* The header lines and one unlabelled sample. */
void ember_metrics_value (GString *out, const char *name, const char *type, const char *help,
                          guint64 value);

/* Writes every metric into `out` (appending). */
typedef void (*EmberMetricsFormatFunc) (GString *out, gpointer user_data);

typedef struct _EmberMetricsServer EmberMetricsServer;

/* Listens on `address` (port 0 picks one) and serves GET /metrics from
 * `func`. NULL with `error` set when it cannot listen. */
EmberMetricsServer *ember_metrics_server_new (GSocketAddress *address, const char *server_header,
                                              EmberMetricsFormatFunc func, gpointer user_data,
                                              GError **error);
/* The port it listens on. */
guint16 ember_metrics_server_get_port (EmberMetricsServer *server);
void ember_metrics_server_free (EmberMetricsServer *server);

G_END_DECLS
