/* metrics — see metrics.h. */
#include "metrics/metrics.h"

#include <libsoup/soup.h>

struct _EmberMetricsServer {
  SoupServer *server;
  EmberMetricsFormatFunc func;
  gpointer user_data;
};

void
ember_metrics_head (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
ember_metrics_value (GString *out, const char *name, const char *type, const char *help,
                     guint64 value)
{
  ember_metrics_head (out, name, type, help);
  g_string_append_printf (out, "%s %" G_GUINT64_FORMAT "\n", name, value);
}

static void
handle (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
        gpointer user_data)
{
  (void) soup;
  (void) query;
  EmberMetricsServer *m = user_data;
  if (g_strcmp0 (path, "/metrics") != 0)
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  GString *out = g_string_new (NULL);
  m->func (out, m->user_data);
  soup_server_message_set_status (msg, 200, NULL);
  gsize len = out->len;
  soup_server_message_set_response (msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
                                    g_string_free (out, FALSE), len);
}

EmberMetricsServer *
ember_metrics_server_new (GSocketAddress *address, const char *server_header,
                          EmberMetricsFormatFunc func, gpointer user_data, GError **error)
{
  EmberMetricsServer *m = g_new0 (EmberMetricsServer, 1);
  m->func = func;
  m->user_data = user_data;
  m->server = soup_server_new ("server-header", server_header, NULL);
  soup_server_add_handler (m->server, NULL, handle, m, NULL);
  if (!soup_server_listen (m->server, address, 0, error))
    {
      ember_metrics_server_free (m);
      return NULL;
    }
  return m;
}

guint16
ember_metrics_server_get_port (EmberMetricsServer *m)
{
  GSList *uris = soup_server_get_uris (m->server);
  guint16 port = uris != NULL ? (guint16) g_uri_get_port (uris->data) : 0;
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return port;
}

void
ember_metrics_server_free (EmberMetricsServer *m)
{
  if (m == NULL)
    return;
  soup_server_disconnect (m->server);
  g_object_unref (m->server);
  g_free (m);
}
