/* dns — emberd's DNS: the client's stub on the TUN, the gateway's
 * lookups, the upstream plugin and the system DNS control. See dns.h
 * and docs/dns.md ("In emberd"). */
#define G_LOG_DOMAIN "ember-dns"

#include "dns.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "dns/stub.h"
#include "dns/tcp.h"
#include "ember-plugin-dns.h"
#include "loop.h"
#include "net/cidr.h"
#include "sysdns.h"

#define MAP_FILE "dns-proxy-addresses"
/* systemd-resolved's list of its upstream servers (not its own stub). */
#define RESOLVED_UPLINK "/run/systemd/resolve/resolv.conf"
/* Answers the plugin may hand out; queries the loop holds while it
 * applies backpressure. */
#define SLOT_LEN EMBER_DNS_ANSWER_MAX
#define SEND_QUEUE 1024

struct _EmberDnsShell {
  EmberDaemon *d;
  EmberClientTunnel *tunnel;     /* client */
  EmberDnsStub *stub;            /* client */
  EmberDnsTcp *tcp;              /* client: DNS over TCP to the sentinels */
  EmberDnsTranslator *nat;       /* gateway (borrowed) */
  EmberSysdns *sysdns;           /* client, once the TUN is up */
  EmberSysdnsMode sysdns_mode;
  gboolean applied;              /* the system resolver asks the sentinels */
  EmberDnsShellKick kick;
  gpointer kick_data;
  EmberPlugin *plugin;           /* owned by the registry */
  EmberBackend *backend;
  EmberLoop *loop;
  EmberLoopBackend *lb;
  EmberAddr upstreams[EMBER_DNS_STUB_UPSTREAMS_MAX];
  guint n_upstreams;
  GHashTable *dns_resources;     /* id -> DnsResource */
  char *map_path;
  guint64 sent, answers, errors, send_drops;
  guint8 buf[EMBER_DNS_TCP_MAX];
};

/* A dns resource of the portal's list, as the stub needs it. */
typedef struct {
  char *pattern;                 /* normalized */
  EmberPortalIpStack ip_stack;   /* the families behind the gateway */
} DnsResource;

static void
dns_resource_free (gpointer p)
{
  DnsResource *r = p;
  g_free (r->pattern);
  g_free (r);
}

/* ---- the upstream plugin ------------------------------------------------ */

static guint
upstream_index (EmberDnsShell *ds, const EmberAddr *remote)
{
  for (guint i = 0; i < ds->n_upstreams; i++)
    if (ember_ice_addr_equal (&ds->upstreams[i], remote))
      return i;
  return 0;
}

static void
on_batch (EmberLoopBackend *lb, EmberPacket *batch, guint n, EmberErrorList *errors,
          gpointer user_data)
{
  EmberDnsShell *ds = user_data;
  gint64 now = g_get_monotonic_time ();

  (void) lb;
  for (guint i = 0; i < n; i++)
    {
      EmberPacket *p = &batch[i];
      guint16 id;

      if (p->len < 2)
        continue;
      id = (guint16) ((p->data[0] << 8) | p->data[1]);
      if (ds->nat != NULL)
        {
          if (p->error != 0)
            ember_dns_translator_handle_error (ds->nat, now, p->data, p->len);
          else
            ember_dns_translator_handle_answer (ds->nat, now, p->data, p->len);
          continue;
        }
      guint up = upstream_index (ds, &p->remote);
      if (p->error != 0)
        {
          ds->errors++;
          ember_error_list_add (errors, "DNS upstream: %s", g_strerror (p->error));
          ember_dns_stub_handle_upstream_error_wire (ds->stub, now, up, id);
        }
      else
        {
          ds->answers++;
          /* The plugin fetched a truncated answer over TCP itself: what
           * it hands out is whole. */
          ember_dns_stub_handle_upstream (ds->stub, now, up, EMBER_DNS_TRANSPORT_TCP, p->data,
                                          p->len);
        }
    }
  ds->kick (ds->kick_data);
}

static gboolean
open_plugin (EmberDnsShell *ds, GError **error)
{
  EmberDaemon *d = ds->d;
  const char *name = d->config->roles[EMBER_PLUGIN_KIND_DNS];
  EmberBackendArgs args = { .config = d->config->keyfile, .log_domain = "ember-dns" };
  const EmberDnsControl *control;
  g_autoptr (GKeyFile) uplink = NULL;

  if (name == NULL)
    name = EMBER_DNS_DEFAULT_PLUGIN;
  ds->plugin = ember_registry_lookup (d->registry, "dns", name, EMBER_PLUGIN_KIND_DNS, error);
  if (ds->plugin == NULL)
    return FALSE;
  args.group = name;
  /* Where systemd-resolved takes every name (system=resolved), its stub
   * 127.0.0.53 in /etc/resolv.conf would send forwarded names back to
   * us: the default upstreams are then resolved's uplink servers, which
   * it lists in a file of its own. Configured upstreams or resolv-conf
   * win. */
  if (ds->sysdns != NULL && ember_sysdns_get_mode (ds->sysdns) == EMBER_SYSDNS_RESOLVED &&
      !g_key_file_has_key (d->config->keyfile, name, "upstreams", NULL) &&
      !g_key_file_has_key (d->config->keyfile, name, "resolv-conf", NULL) &&
      g_file_test (RESOLVED_UPLINK, G_FILE_TEST_IS_REGULAR))
    {
      g_autofree char *text = g_key_file_to_data (d->config->keyfile, NULL, NULL);

      uplink = g_key_file_new ();
      if (g_key_file_load_from_data (uplink, text, (gsize) -1, G_KEY_FILE_NONE, NULL))
        {
          g_key_file_set_string (uplink, name, "resolv-conf", RESOLVED_UPLINK);
          args.config = uplink;
          g_info ("DNS: default upstreams from %s (systemd-resolved's uplink servers)",
                  RESOLVED_UPLINK);
        }
    }
  ds->backend = ds->plugin->io.open (&args, error);
  if (ds->backend == NULL)
    {
      g_prefix_error (error, "[dns] plugin %s: ", name);
      return FALSE;
    }
  control = ds->plugin->io.get_control != NULL
                ? ds->plugin->io.get_control (EMBER_DNS_CONTROL_NAME)
                : NULL;
  if (control != NULL && control->get_upstreams != NULL)
    ds->n_upstreams = MIN (control->get_upstreams (ds->backend, ds->upstreams,
                                                   EMBER_DNS_STUB_UPSTREAMS_MAX),
                           (guint) EMBER_DNS_STUB_UPSTREAMS_MAX);
  ds->loop = ember_loop_new (NULL);
  ds->lb = ember_loop_add_backend (ds->loop, name, &ds->plugin->io, ds->backend, SLOT_LEN,
                                   SEND_QUEUE, on_batch, ds);
  for (guint i = 0; i < ds->n_upstreams; i++)
    {
      char text[EMBER_ADDR_STRLEN];
      g_info ("DNS upstream %u: %s through %s", i, ember_addr_format (&ds->upstreams[i], text),
              name);
    }
  if (ds->n_upstreams == 0)
    g_warning ("DNS: the %s plugin has no upstream: only resource names resolve", name);
  return TRUE;
}

static EmberDnsShell *
shell_new (EmberDaemon *d, EmberDnsShellKick kick, gpointer user_data)
{
  EmberDnsShell *ds = g_new0 (EmberDnsShell, 1);

  ds->d = d;
  ds->kick = kick;
  ds->kick_data = user_data;
  ds->dns_resources = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, dns_resource_free);
  return ds;
}

/* ---- construction -------------------------------------------------------- */

static gboolean
system_mode (const EmberConfig *config, EmberSysdnsMode *mode, GError **error)
{
  g_autofree char *name = g_key_file_get_string (config->keyfile, "dns", "system", NULL);

  *mode = EMBER_SYSDNS_AUTO;
  if (name != NULL && !ember_sysdns_mode_from_name (name, mode, error))
    {
      g_prefix_error (error, "%s: [dns] system: ", config->path);
      return FALSE;
    }
  return TRUE;
}

gboolean
ember_dns_shell_check_config (const EmberConfig *config, GError **error)
{
  EmberSysdnsMode mode;

  return system_mode (config, &mode, error);
}

static void
load_map (EmberDnsShell *ds)
{
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr (GError) error = NULL;

  if (!g_file_get_contents (ds->map_path, &data, &len, NULL))
    return;
  if (!ember_dns_stub_load (ds->stub, data, len, &error))
    g_warning ("%s: %s; starting with new proxy addresses", ds->map_path, error->message);
}

static void
save_map (EmberDnsShell *ds)
{
  gsize len;
  g_autofree char *data = ember_dns_stub_save (ds->stub, &len);
  g_autoptr (GError) error = NULL;

  if (data != NULL && !g_file_set_contents_full (ds->map_path, data, (gssize) len,
                                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    g_warning ("%s: %s", ds->map_path, error->message);
}

EmberDnsShell *
ember_dns_shell_new_client (EmberDaemon *d, EmberClientTunnel *tunnel, EmberDnsShellKick kick,
                            gpointer user_data, GError **error)
{
  EmberDnsShell *ds = shell_new (d, kick, user_data);
  EmberSysdnsOptions opts = { 0 };
  EmberIceRng rng = { ember_daemon_rng, NULL };
  g_autoptr (GError) local = NULL;

  ds->tunnel = tunnel;
  ds->map_path = g_build_filename (d->config->state_dir, MAP_FILE, NULL);
  if (!system_mode (d->config, &ds->sysdns_mode, error))
    goto fail;
  /* The system DNS control first: it puts back what a crashed run left,
   * so the plugin reads the system's own resolvers. */
  opts.mode = ds->sysdns_mode;
  opts.ifname = d->ifname;
  opts.state_dir = d->config->state_dir;
  ds->sysdns = ember_sysdns_new (&opts, error);
  if (ds->sysdns == NULL)
    {
      g_prefix_error (error, "[dns] system: ");
      goto fail;
    }
  if (!open_plugin (ds, &local))
    {
      /* The default plugin failing (no resolv.conf, say) leaves resource
       * names working; one the file names must work. */
      if (d->config->roles[EMBER_PLUGIN_KIND_DNS] != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          goto fail;
        }
      g_warning ("DNS: %s; only resource names resolve", local->message);
    }
  /* systemd-resolved's own stub as an upstream, while resolved sends
   * every name to our sentinels: each forwarded query would come back. */
  for (guint i = 0; i < ds->n_upstreams; i++)
    if (ember_sysdns_get_mode (ds->sysdns) == EMBER_SYSDNS_RESOLVED &&
        ds->upstreams[i].family == EMBER_ADDR_IPV4 && ds->upstreams[i].addr[0] == 127)
      g_warning ("DNS: upstream %u is a loopback resolver (systemd-resolved's stub?) while "
                 "resolved sends every name to Ember: name the real upstreams in [%s] "
                 "upstreams", i, d->config->roles[EMBER_PLUGIN_KIND_DNS] != NULL
                                   ? d->config->roles[EMBER_PLUGIN_KIND_DNS]
                                   : EMBER_DNS_DEFAULT_PLUGIN);
  ds->stub = ember_dns_stub_new (&rng);
  ds->tcp = ember_dns_tcp_new (&rng);
  if (!ember_dns_stub_set_upstreams (ds->stub, ds->upstreams, ds->n_upstreams))
    {
      g_set_error (error, EMBER_DNS_STUB_ERROR, 0, "[dns]: too many upstreams");
      goto fail;
    }
  load_map (ds);
  return ds;

fail:
  ember_dns_shell_free (ds);
  return NULL;
}

EmberDnsShell *
ember_dns_shell_new_gateway (EmberDaemon *d, EmberDnsTranslator *translator,
                             EmberDnsShellKick kick, gpointer user_data, GError **error)
{
  EmberDnsShell *ds = shell_new (d, kick, user_data);
  g_autoptr (GError) local = NULL;

  ds->nat = translator;
  if (!open_plugin (ds, &local))
    {
      if (d->config->roles[EMBER_PLUGIN_KIND_DNS] != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          ember_dns_shell_free (ds);
          return NULL;
        }
      g_warning ("DNS: %s; names of dns resources cannot be resolved", local->message);
    }
  return ds;
}

void
ember_dns_shell_free (EmberDnsShell *ds)
{
  if (ds == NULL)  /* before start or after free */
    return;
  /* The system resolver first, while the sentinels still answer. */
  g_clear_pointer (&ds->sysdns, ember_sysdns_free);
  if (ds->stub != NULL)
    {
      EmberDnsStubStats st;

      ember_dns_stub_get_stats (ds->stub, &st);
      g_info ("DNS: %" G_GUINT64_FORMAT " queries, %" G_GUINT64_FORMAT " answered locally, %"
              G_GUINT64_FORMAT " forwarded, %" G_GUINT64_FORMAT " timeouts",
              st.queries, st.answered_locally, st.forwarded, st.timeouts);
      save_map (ds);
    }
  if (ds->backend != NULL)
    ds->plugin->io.close (ds->backend);
  if (ds->lb != NULL)
    ember_loop_remove_backend (ds->loop, ds->lb);
  g_clear_pointer (&ds->loop, ember_loop_free);
  g_clear_pointer (&ds->stub, ember_dns_stub_free);
  g_clear_pointer (&ds->tcp, ember_dns_tcp_free);
  g_hash_table_unref (ds->dns_resources);
  g_free (ds->map_path);
  g_free (ds);
}

/* ---- client ------------------------------------------------------------- */

void
ember_dns_shell_tun_up (EmberDnsShell *ds)
{
  if (ds == NULL)  /* before start or after free */
    return;
  EmberDaemon *d = ds->d;
  guint ifindex = ember_shell_get_ifindex (d->shell);
  guint n = MAX (ember_dns_stub_n_sentinels (ds->stub), 1u);
  g_autofree EmberAddr *servers = g_new0 (EmberAddr, 2 * n);
  EmberSysdnsConfig cfg = { 0 };
  g_autoptr (GError) error = NULL;
  guint k = 0;

  for (guint i = 0; i < n; i++)
    for (guint f = 0; f < 2; f++)
      {
        EmberAddr a;
        EmberCidr c;

        /* Only the families the TUN has. */
        if ((f == 0 && d->iface4.family != EMBER_ADDR_IPV4) ||
            (f == 1 && d->iface6.family != EMBER_ADDR_IPV6))
          continue;
        ember_dns_stub_sentinel (i, f == 0 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6, &a);
        ember_cidr_init (&c, a.family, a.addr, ember_addr_family_bits (a.family));
        if (!ember_netconf_route_add (d->netconf, ifindex, &c, 0, &error))
          {
            g_warning ("DNS sentinel route: %s", error->message);
            g_clear_error (&error);
          }
        servers[k++] = a;
      }
  cfg.servers = servers;
  cfg.n_servers = k;
  cfg.default_route = TRUE;
  ember_daemon_status_changed (d);
  if (!ember_sysdns_apply (ds->sysdns, &cfg, &error))
    {
      g_warning ("DNS: cannot point the system resolver at %s: %s", d->ifname, error->message);
      ds->applied = FALSE;
      return;
    }
  /* system=none leaves the resolver alone: nothing asks the sentinels
   * unless the user points something at them. */
  ds->applied = ember_sysdns_get_mode (ds->sysdns) != EMBER_SYSDNS_NONE;
  g_info ("DNS: the system resolver asks %u sentinel(s) on %s (%s)", k, d->ifname,
          ember_sysdns_mode_name (ember_sysdns_get_mode (ds->sysdns)));
}

void
ember_dns_shell_tun_down (EmberDnsShell *ds)
{
  g_autoptr (GError) error = NULL;

  if (ds == NULL || ds->sysdns == NULL)
    return;
  ember_daemon_status_changed (ds->d);
  if (!ember_sysdns_revert (ds->sysdns, &error))
    {
      g_warning ("DNS: cannot give the system resolver back: %s", error->message);
      return;
    }
  ds->applied = FALSE;
}

void
ember_dns_shell_status (EmberDnsShell *ds, EmberStatus *st)
{
  EmberStatusDns *out = &st->dns;
  EmberDaemon *d;
  gboolean tun;
  guint n;

  if (ds == NULL)  /* before start or after free */
    return;
  d = ds->d;
  tun = ember_shell_has_tun (d->shell);
  if (ds->sysdns != NULL)
    ember_status_set (&out->system, ember_sysdns_mode_name (ember_sysdns_get_mode (ds->sysdns)));
  out->applied = ds->applied;
  ember_status_set (&out->plugin, ds->plugin != NULL && ds->backend != NULL ? ds->plugin->name
                                                                              : "");
  /* The client: one sentinel pair per upstream (sentinel 0 even with
   * none, for resource names); the gateway: its upstreams alone. */
  n = ds->stub != NULL ? MAX (ember_dns_stub_n_sentinels (ds->stub), 1u) : ds->n_upstreams;
  for (guint i = 0; i < n; i++)
    {
      char s4[EMBER_ADDR_STRLEN] = "", s6[EMBER_ADDR_STRLEN] = "", up[EMBER_ADDR_PORT_STRLEN] = "";
      EmberAddr a;

      if (ds->stub != NULL && tun && d->iface4.family == EMBER_ADDR_IPV4)
        {
          ember_dns_stub_sentinel (i, EMBER_ADDR_IPV4, &a);
          ember_addr_format (&a, s4);
        }
      if (ds->stub != NULL && tun && d->iface6.family == EMBER_ADDR_IPV6)
        {
          ember_dns_stub_sentinel (i, EMBER_ADDR_IPV6, &a);
          ember_addr_format (&a, s6);
        }
      if (i < ds->n_upstreams)
        ember_addr_format_port (&ds->upstreams[i], up);
      ember_status_add_dns_server (st, s4, s6, up);
    }
  out->proxy_names = ds->stub != NULL ? ember_dns_stub_n_proxy_names (ds->stub) : 0;
}

static void
set_resources (EmberDnsShell *ds)
{
  guint n = g_hash_table_size (ds->dns_resources);
  g_autofree EmberPortalResource *res = g_new0 (EmberPortalResource, MAX (n, 1u));
  g_autoptr (GError) error = NULL;
  GHashTableIter it;
  gpointer key, value;
  guint i = 0;

  g_hash_table_iter_init (&it, ds->dns_resources);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      g_strlcpy (res[i].id.str, key, sizeof res[i].id.str);
      const DnsResource *r = value;
      res[i].type = EMBER_PORTAL_RESOURCE_DNS;
      res[i].dns_pattern = r->pattern;
      res[i].ip_stack = r->ip_stack;
      i++;
    }
  if (!ember_dns_stub_set_portal_resources (ds->stub, res, n, &error))
    g_warning ("DNS resources: %s", error->message);
}

static void
track (EmberDnsShell *ds, const EmberPortalResource *r)
{
  if (r->type == EMBER_PORTAL_RESOURCE_DNS && r->dns_pattern != NULL)
    {
      DnsResource *d = g_new0 (DnsResource, 1);
      d->pattern = g_strdup (r->dns_pattern);
      d->ip_stack = r->ip_stack;
      g_hash_table_replace (ds->dns_resources, g_strdup (r->id.str), d);
    }
  else
    g_hash_table_remove (ds->dns_resources, r->id.str);
}

void
ember_dns_shell_set_tunnel (EmberDnsShell *ds, EmberClientTunnel *tunnel)
{
  if (ds == NULL)  /* before start or after free */
    return;
  EmberDnsStubEvent ev;

  ds->tunnel = tunnel;
  g_hash_table_remove_all (ds->dns_resources);
  set_resources (ds);
  /* Removals for the old tunnel, which is gone. */
  while (ember_dns_stub_poll_event (ds->stub, &ev))
    ;
}

void
ember_dns_shell_portal_message (EmberDnsShell *ds, const EmberPortalMessage *msg)
{
  if (ds == NULL)  /* before start or after free */
    return;
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_CLIENT_INIT:
      g_hash_table_remove_all (ds->dns_resources);
      for (guint i = 0; i < msg->u.client_init.n_resources; i++)
        track (ds, &msg->u.client_init.resources[i]);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
      track (ds, &msg->u.resource);
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_DELETED:
      g_hash_table_remove (ds->dns_resources, msg->u.resource_deleted.id.str);
      break;
    default:
      return;
    }
  set_resources (ds);
}

static gboolean
is_sentinel (EmberDnsShell *ds, const EmberAddr *addr)
{
  guint n = MAX (ember_dns_stub_n_sentinels (ds->stub), 1u);

  for (guint i = 0; i < n; i++)
    {
      EmberAddr s;

      ember_dns_stub_sentinel (i, addr->family, &s);
      if (ember_ice_addr_same_ip (&s, addr))
        return TRUE;
    }
  return FALSE;
}

gboolean
ember_dns_shell_handle_tun (EmberDnsShell *ds, gint64 now, guint8 *buf, gsize cap, gsize off,
                            gsize len)
{
  if (ds == NULL)  /* before start or after free */
    return FALSE;
  EmberIpPacket pkt;
  EmberAddr dst;
  guint16 port;

  if (ember_ip_packet_parse (&pkt, buf, cap, off, len) != EMBER_PACKET_OK ||
      ember_ip_packet_get_destination_port (&pkt, &port) != EMBER_PACKET_OK ||
      port != EMBER_DNS_PORT)
    return FALSE;
  if (ember_ip_packet_protocol (&pkt) == EMBER_IPPROTO_UDP)
    return ember_dns_stub_handle_packet (ds->stub, now, &pkt) != EMBER_DNS_STUB_NOT_SENTINEL;
  ember_ip_packet_get_destination (&pkt, &dst);
  if (ember_ip_packet_protocol (&pkt) != EMBER_IPPROTO_TCP || !is_sentinel (ds, &dst))
    return FALSE;
  ember_dns_tcp_handle_segment (ds->tcp, now, &pkt);
  return TRUE;
}

void
ember_dns_shell_handle_timeout (EmberDnsShell *ds, gint64 now)
{
  if (ds == NULL)  /* before start or after free */
    return;
  if (ds->stub != NULL)
    {
      ember_dns_stub_handle_timeout (ds->stub, now);
      ember_dns_tcp_handle_timeout (ds->tcp, now);
    }
  else
    ember_dns_translator_handle_timeout (ds->nat, now);
}

gint64
ember_dns_shell_poll_timeout (EmberDnsShell *ds)
{
  if (ds == NULL)  /* before start or after free */
    return G_MAXINT64;
  return ds->stub != NULL ? MIN (ember_dns_stub_poll_timeout (ds->stub),
                                ember_dns_tcp_poll_timeout (ds->tcp))
                          : ember_dns_translator_poll_timeout (ds->nat);
}

static void
send_query (EmberDnsShell *ds, const guint8 *q, gsize len, const EmberAddr *to)
{
  if (ds->lb == NULL || !ember_loop_send (ds->lb, q, len, to, 0))
    ds->send_drops++;
  else
    ds->sent++;
}

void
ember_dns_shell_drain (EmberDnsShell *ds, gint64 now)
{
  if (ds == NULL)  /* before start or after free */
    return;
  EmberDnsStubEvent ev;
  EmberDnsTransmit tx;
  EmberDnsAsker asker;
  gboolean added = FALSE;
  gsize n;

  if (ds->nat != NULL)
    {
      EmberAddr any = { 0 };

      while ((n = ember_dns_translator_poll_query (ds->nat, ds->buf, sizeof ds->buf)) > 0)
        send_query (ds, ds->buf, n, &any);
      return;
    }
  /* Queries that came over TCP, now whole. */
  while ((n = ember_dns_tcp_poll_message (ds->tcp, ds->buf, sizeof ds->buf, &asker)) > 0)
    ember_dns_stub_handle_query (ds->stub, now, &asker, ds->buf, n);
  /* Events first: the route exists before the application has the
   * address. */
  while (ember_dns_stub_poll_event (ds->stub, &ev))
    {
      char a[EMBER_ADDR_STRLEN], b[EMBER_ADDR_STRLEN];

      if (ev.type == EMBER_DNS_STUB_EVENT_PROXY_ADDED)
        {
          if (!ember_client_tunnel_add_proxy_name (ds->tunnel, now, &ev.resource, ev.name,
                                                   &ev.addr, &ev.addr6))
            g_warning ("DNS: %s: resource %s is not a dns resource of the tunnel", ev.name,
                       ev.resource.str);
          g_info ("DNS: %s -> %s %s (resource %s)", ev.name,
                  ev.addr.family ? ember_addr_format (&ev.addr, a) : "-",
                  ev.addr6.family ? ember_addr_format (&ev.addr6, b) : "-", ev.resource.str);
          added = TRUE;
        }
      else
        {
          if (ev.addr.family != EMBER_ADDR_NONE)
            ember_client_tunnel_remove_proxy_address (ds->tunnel, &ev.addr);
          if (ev.addr6.family != EMBER_ADDR_NONE)
            ember_client_tunnel_remove_proxy_address (ds->tunnel, &ev.addr6);
        }
    }
  if (added)
    {
      save_map (ds);
      ember_daemon_status_changed (ds->d);
    }
  while ((n = ember_dns_stub_poll_packet (ds->stub, ds->buf, sizeof ds->buf, 0)) > 0)
    ember_shell_write_tun (ds->d->shell, ds->buf, n);
  while ((n = ember_dns_stub_poll_answer (ds->stub, ds->buf, sizeof ds->buf, &asker)) > 0)
    if (asker.transport == EMBER_DNS_TRANSPORT_TCP)
      ember_dns_tcp_send (ds->tcp, now, asker.stream, ds->buf, n);
  while ((n = ember_dns_tcp_poll_packet (ds->tcp, ds->buf, sizeof ds->buf)) > 0)
    ember_shell_write_tun (ds->d->shell, ds->buf, n);
  while (ember_dns_stub_poll_transmit (ds->stub, ds->buf, sizeof ds->buf, &tx))
    send_query (ds, ds->buf, tx.len, &tx.to);
}
