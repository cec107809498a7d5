/* tun-wintun — the Windows TUN backend plugin (kind tun), over WireGuard's
 * Wintun driver.
 *
 * open() loads wintun.dll and the IP Helper API at run time
 * (wintun-dll.c), creates the adapter, sets its MTU, addresses and routes
 * as differences from what is there (netconf.c), starts a session with
 * the configured ring size and hands it to io.c: a receive thread on the
 * session's read event feeding a bounded channel that poll_recv_many()
 * drains in batches (seed 004), and a send thread moving the send
 * channel onto the send ring, with backpressure when it is full.
 * close() stops both threads, ends the session and closes the adapter,
 * which removes it with its addresses and routes.
 *
 * Threads: vtable functions run on the core's main thread (ember-plugin.h).
 */
#include <string.h>

#include "ember-plugin.h"
#include "config.h"
#include "io.h"
#include "netconf.h"
#include "wintun-dll.h"

#define DEFAULT_LOG_DOMAIN "ember-tun"
#define WINTUN_LOG_DOMAIN "ember-wintun"
/* seed 004: channels of about 1000 packets each way. */
#define CHANNEL_CAPACITY 1024

struct _EmberBackend {
  WintunConfig config;
  char *log_domain;
  WintunDll wintun;
  IpHelperDll iphlp;
  WINTUN_ADAPTER_HANDLE adapter;
  WintunNetif netif;
  WintunSession session;
  WintunIo *io;
};

/* Wintun's own messages (driver install, adapter creation) go to the
 * log. The callback has no user data, so the domain is fixed. */
static void CALLBACK
wintun_logger (WINTUN_LOGGER_LEVEL level, DWORD64 timestamp, LPCWSTR message)
{
  (void) timestamp;
  g_autofree char *text = g_utf16_to_utf8 ((const gunichar2 *) message, -1, NULL, NULL, NULL);
  GLogLevelFlags l = level == WINTUN_LOG_ERR    ? G_LOG_LEVEL_WARNING
                     : level == WINTUN_LOG_WARN ? G_LOG_LEVEL_MESSAGE
                                                : G_LOG_LEVEL_INFO;
  g_log (WINTUN_LOG_DOMAIN, l, "%s", text != NULL ? text : "(message not in UTF-16)");
}

static gboolean
win32_error (GError **error, const char *what, const char *name, DWORD err)
{
  g_autofree char *text = g_win32_error_message ((gint) err);
  g_set_error (error, EMBER_PLUGIN_ERROR,
               err == ERROR_ACCESS_DENIED ? EMBER_PLUGIN_ERROR_PERMISSION
                                          : EMBER_PLUGIN_ERROR_FAILED,
               "%s \"%s\": %s (error %lu)", what, name, text, err);
  return FALSE;
}

static void tun_close (EmberBackend *be);

static EmberBackend *
tun_open (const EmberBackendArgs *args, GError **error)
{
  g_return_val_if_fail (args != NULL, NULL);

  g_autofree gunichar2 *name = NULL;
  g_autofree gunichar2 *type = NULL;
  EmberBackend *be = g_new0 (EmberBackend, 1);
  be->log_domain = g_strdup (args->log_domain != NULL ? args->log_domain : DEFAULT_LOG_DOMAIN);

  if (!wintun_config_parse (args->config, args->group, &be->config, error))
    goto fail;
  if (!wintun_dll_load (&be->wintun, be->config.dll, error))
    goto fail;
  if (!ip_helper_dll_load (&be->iphlp, error))
    goto fail;
  be->wintun.SetLogger (wintun_logger);

  name = g_utf8_to_utf16 (be->config.name, -1, NULL, NULL, NULL);
  type = g_utf8_to_utf16 (be->config.tunnel_type, -1, NULL, NULL, NULL);
  GUID guid = {
    .Data1 = be->config.guid.data1,
    .Data2 = be->config.guid.data2,
    .Data3 = be->config.guid.data3,
  };
  memcpy (guid.Data4, be->config.guid.data4, sizeof guid.Data4);
  be->adapter = be->wintun.CreateAdapter ((LPCWSTR) name, (LPCWSTR) type, &guid);
  if (be->adapter == NULL)
    {
      win32_error (error, "WintunCreateAdapter", be->config.name, GetLastError ());
      goto fail;
    }
  DWORD version = be->wintun.GetRunningDriverVersion ();
  char guid_text[WINTUN_GUID_STRLEN];
  g_log (be->log_domain, G_LOG_LEVEL_INFO, "Wintun adapter \"%s\" %s from %s, driver %lu.%lu",
         be->config.name, wintun_guid_format (&be->config.guid, guid_text), be->wintun.path,
         (version >> 16) & 0xffff, version & 0xffff);

  be->netif.dll = &be->iphlp;
  be->wintun.GetAdapterLUID (be->adapter, &be->netif.luid);
  if (!wintun_netconf_mtu (&wintun_net_ops, &be->netif, be->config.name, be->config.mtu, error) ||
      !wintun_netconf_addresses (&wintun_net_ops, &be->netif, be->config.name,
                                 be->config.addresses, be->config.n_addresses, error) ||
      !wintun_netconf_routes (&wintun_net_ops, &be->netif, be->config.name, be->config.routes,
                              be->config.n_routes, error))
    goto fail;

  be->session.dll = &be->wintun;
  be->session.stop_event = CreateEventW (NULL, TRUE, FALSE, NULL);
  if (be->session.stop_event == NULL)
    {
      win32_error (error, "CreateEvent for adapter", be->config.name, GetLastError ());
      goto fail;
    }
  be->session.session = be->wintun.StartSession (be->adapter, be->config.ring_size);
  if (be->session.session == NULL)
    {
      win32_error (error, "WintunStartSession on adapter", be->config.name, GetLastError ());
      goto fail;
    }
  be->session.read_event = be->wintun.GetReadWaitEvent (be->session.session);
  be->io = wintun_io_start (&wintun_session_ops, &be->session, be->config.name, be->config.mtu,
                            CHANNEL_CAPACITY, be->log_domain, error);
  if (be->io == NULL)
    goto fail;
  return be;

fail:
  tun_close (be);
  return NULL;
}

static gint
tun_poll_recv_many (EmberBackend *be, EmberWaker *waker, EmberPacket *batch, guint max,
                    GError **error)
{
  return wintun_io_recv_many (be->io, waker, batch, max, error);
}

static EmberPoll
tun_poll_send_ready (EmberBackend *be, EmberWaker *waker, GError **error)
{
  return wintun_io_send_ready (be->io, waker, error);
}

static gboolean
tun_send (EmberBackend *be, const EmberPacket *packet, GError **error)
{
  return wintun_io_send (be->io, packet, error);
}

static void
tun_close (EmberBackend *be)
{
  if (be == NULL)
    return;
  /* Threads first: nothing may touch the session once it ends. */
  wintun_io_stop (be->io);
  if (be->session.session != NULL)
    be->wintun.EndSession (be->session.session);
  if (be->session.stop_event != NULL)
    CloseHandle (be->session.stop_event);
  /* Closing the adapter removes it, with its addresses and routes. */
  if (be->adapter != NULL)
    be->wintun.CloseAdapter (be->adapter);
  /* The logger stays: it is wintun.dll's one global, another adapter of
   * this plugin may still be open, and the plugin is never unloaded
   * (the loader makes it resident), so the callback stays valid. */
  ip_helper_dll_unload (&be->iphlp);
  wintun_dll_unload (&be->wintun);
  wintun_config_clear (&be->config);
  g_free (be->log_domain);
  g_free (be);
}

static gboolean
tun_validate_config (GKeyFile *config, const char *group, GError **error)
{
  WintunConfig c;
  if (!wintun_config_parse (config, group, &c, error))
    return FALSE;
  wintun_config_clear (&c);
  return TRUE;
}

static gboolean
route_change (EmberBackend *be, const char *cidr, gboolean add, GError **error)
{
  g_autoptr (GError) local = NULL;
  EmberCidr c;
  if (!ember_cidr_parse (cidr, EMBER_CIDR_PARSE_BARE, &c, &local))
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG, "route: %s",
                   local->message);
      return FALSE;
    }
  return wintun_netconf_route (&wintun_net_ops, &be->netif, be->config.name, &c, add, error);
}

static gboolean
tun_add_route (EmberBackend *be, const char *cidr, GError **error)
{
  return route_change (be, cidr, TRUE, error);
}

static gboolean
tun_remove_route (EmberBackend *be, const char *cidr, GError **error)
{
  return route_change (be, cidr, FALSE, error);
}

EMBER_PLUGIN_EXPORT const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberBackendVtable vtable = {
    .open = tun_open,
    .poll_recv_many = tun_poll_recv_many,
    .poll_send_ready = tun_poll_send_ready,
    .send = tun_send,
    .close = tun_close,
    .validate_config = tun_validate_config,
    .add_route = tun_add_route,
    .remove_route = tun_remove_route,
  };
  static const EmberPluginInfo info = {
    .abi_major = EMBER_PLUGIN_ABI_MAJOR,
    .abi_minor = EMBER_PLUGIN_ABI_MINOR,
    .name = "tun-wintun",
    .kind = EMBER_PLUGIN_KIND_TUN,
    .description = "Windows Wintun adapter: receive thread on the read event, IP Helper set-up",
    .vtable_size = sizeof vtable,
    .vtable = &vtable,
  };
  return &info;
}
