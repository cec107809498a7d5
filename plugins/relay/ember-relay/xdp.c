/* ember-relay/xdp.c — see xdp.h. */
#include "xdp.h"

#include <gio/gio.h>
#include <string.h>

gboolean
ember_relay_xdp_mode_parse (const char *text, EmberRelayXdpMode *out, GError **error)
{
  static const char *const names[] = { "off", "auto", "native", "generic" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_strcmp0 (text, names[i]) == 0)
      {
        *out = (EmberRelayXdpMode) i;
        return TRUE;
      }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "--xdp \"%s\": expected off, auto, native or generic", text);
  return FALSE;
}

static const char *const pass_reasons[] = {
  "stun", "malformed", "padded", "unbound", "expired", "ip", "no_neighbour", "no_route", "too_big",
  "forwarding_off",
};

const char *
ember_relay_xdp_pass_reason (guint i)
{
  return i < G_N_ELEMENTS (pass_reasons) ? pass_reasons[i] : NULL;
}

#ifdef EMBER_RELAY_HAVE_XDP

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xdp-maps.h"
#include "xdp.skel.h"

G_STATIC_ASSERT (G_N_ELEMENTS (pass_reasons) ==
                 EMBER_XDP_STAT_COUNT - EMBER_XDP_STAT_PASS_STUN);
G_STATIC_ASSERT (G_N_ELEMENTS (((EmberRelayXdpStats *) 0)->passed) == G_N_ELEMENTS (pass_reasons));

typedef struct {
  char name[IF_NAMESIZE];
  int ifindex;
  int link_fd;
} Port;

struct _EmberRelayXdp {
  struct ember_relay_xdp *skel;
  EmberRelayXdpMode mode;   /* NATIVE or GENERIC, as attached */
  GArray *ports;            /* Port */
  int to_peer_fd, to_client_fd, stats_fd;
  int n_cpus;
  guint64 *percpu;          /* n_cpus values of one counter */
  guint64 bindings;
};

/* libbpf's warnings (the verifier's log among them) at debug level, its
 * chatter not at all; the reason a load failed reaches the user through
 * errno and the GError. */
static int
libbpf_log (enum libbpf_print_level level, const char *format, va_list args)
{
  if (level == LIBBPF_DEBUG)
    return 0;
  g_autofree char *line = g_strdup_vprintf (format, args);
  g_strchomp (line);
  g_debug ("%s", line); /* libbpf starts its lines with "libbpf: " */
  return 0;
}

/* The program's route lookups are made as from lo (see route() in
 * xdp.bpf.c), and the kernel answers them only when forwarding is on for
 * that interface. On lo it routes nothing that came from outside, so the
 * relay turns it on there when it is off, and says so. */
static void
lo_forwarding (void)
{
  static const char *const paths[] = { "/proc/sys/net/ipv4/conf/lo/forwarding",
                                       "/proc/sys/net/ipv6/conf/lo/forwarding" };
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *value = NULL;
      if (!g_file_get_contents (paths[i], &value, NULL, NULL))
        continue; /* that family is off */
      if (g_strstrip (value)[0] == '1')
        continue;
      g_autoptr (GError) error = NULL;
      if (g_file_set_contents_full (paths[i], "1\n", -1, G_FILE_SET_CONTENTS_NONE, 0644, &error))
        g_info ("XDP: turned on %s (the fast path's route lookups need it; lo forwards "
                "nothing from outside)", paths[i] + strlen ("/proc/sys/"));
      else
        g_warning ("XDP: cannot turn on %s (%s): such datagrams go through user space",
                   paths[i] + strlen ("/proc/sys/"), error->message);
    }
}

/* Every interface that is up, but loopback. */
static GPtrArray *
default_interfaces (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  struct if_nameindex *list = if_nameindex ();
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  for (struct if_nameindex *i = list; list != NULL && fd >= 0 && i->if_index != 0; i++)
    {
      struct ifreq ifr;
      memset (&ifr, 0, sizeof ifr);
      g_strlcpy (ifr.ifr_name, i->if_name, sizeof ifr.ifr_name);
      if (ioctl (fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) &&
          !(ifr.ifr_flags & IFF_LOOPBACK))
        g_ptr_array_add (out, g_strdup (i->if_name));
    }
  if (fd >= 0)
    close (fd);
  if (list != NULL)
    if_freenameindex (list);
  return out;
}

/* The interfaces holding these addresses, or NULL when one is a wildcard
 * (then every interface is a candidate). */
static GPtrArray *
listen_interfaces (const EmberAddr *addrs, guint n)
{
  static const guint8 zero[16];
  for (guint i = 0; i < n; i++)
    if (memcmp (addrs[i].addr, zero, addrs[i].family == EMBER_ADDR_IPV4 ? 4 : 16) == 0)
      return NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  struct ifaddrs *list = NULL;
  if (getifaddrs (&list) != 0)
    return out;
  for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next)
    {
      if (i->ifa_addr == NULL)
        continue;
      const guint8 *a = NULL;
      guint8 family = 0;
      if (i->ifa_addr->sa_family == AF_INET)
        {
          a = (const guint8 *) &((const struct sockaddr_in *) (const void *) i->ifa_addr)->sin_addr;
          family = EMBER_ADDR_IPV4;
        }
      else if (i->ifa_addr->sa_family == AF_INET6)
        {
          a = (const guint8 *) &((const struct sockaddr_in6 *) (const void *) i->ifa_addr)->sin6_addr;
          family = EMBER_ADDR_IPV6;
        }
      for (guint k = 0; a != NULL && k < n; k++)
        if (addrs[k].family == family &&
            memcmp (addrs[k].addr, a, family == EMBER_ADDR_IPV4 ? 4 : 16) == 0 &&
            !g_ptr_array_find_with_equal_func (out, i->ifa_name, g_str_equal, NULL))
          g_ptr_array_add (out, g_strdup (i->ifa_name));
    }
  freeifaddrs (list);
  return out;
}

static int
attach (EmberRelayXdp *x, const char *name, EmberRelayXdpMode mode, GError **error)
{
  int ifindex = (int) if_nametoindex (name);
  if (ifindex == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "interface %s: %s", name,
                   g_strerror (errno));
      return -1;
    }
  LIBBPF_OPTS (bpf_link_create_opts, opts,
               .flags = mode == EMBER_RELAY_XDP_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
  /* A relay that just exited may still hold the interface for a moment
   * (its link is released after the process is gone): EBUSY, retried
   * for up to a second. */
  int fd = -EBUSY;
  for (int tries = 0; fd == -EBUSY && tries < 10; tries++)
    {
      if (tries > 0)
        g_usleep (100 * G_TIME_SPAN_MILLISECOND);
      fd = bpf_link_create (bpf_program__fd (x->skel->progs.ember_relay_xdp), ifindex, BPF_XDP,
                            &opts);
    }
  if (fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-fd), "%s XDP on %s: %s",
                   mode == EMBER_RELAY_XDP_GENERIC ? "generic" : "native", name, g_strerror (-fd));
      return -1;
    }
  Port p = { .ifindex = ifindex, .link_fd = fd };
  g_strlcpy (p.name, name, sizeof p.name);
  __u32 key = (__u32) ifindex, value = (__u32) ifindex;
  if (bpf_map_update_elem (bpf_map__fd (x->skel->maps.ports), &key, &value, BPF_ANY) < 0)
    g_warning ("XDP: %s cannot be a redirect target: %s", name, g_strerror (errno));
  g_array_append_val (x->ports, p);
  return 0;
}

EmberRelayXdp *
ember_relay_xdp_new (EmberRelayXdpMode mode, const EmberRelayXdpConfig *config, GError **error)
{
  g_return_val_if_fail (mode != EMBER_RELAY_XDP_OFF, NULL);
  libbpf_set_print (libbpf_log);

  g_autoptr (GPtrArray) names = NULL;
  EmberRelayXdp *x = g_new0 (EmberRelayXdp, 1);
  x->ports = g_array_new (FALSE, TRUE, sizeof (Port));
  x->to_peer_fd = x->to_client_fd = x->stats_fd = -1;
  x->skel = ember_relay_xdp__open ();
  if (x->skel == NULL)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "cannot open the XDP program: %s", g_strerror (errno));
      goto fail;
    }
  for (guint i = 0; i < config->n_listen_ports && i < EMBER_XDP_MAX_LISTEN; i++)
    x->skel->rodata->listen_ports[i] = g_htons (config->listen_ports[i]);
  x->skel->rodata->port_min = config->port_min;
  x->skel->rodata->port_max = config->port_max;
  int rc = ember_relay_xdp__load (x->skel);
  if (rc != 0)
    {
      int e = errno != 0 ? errno : -rc;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                   "cannot load the XDP program: %s%s", g_strerror (e),
                   e == EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
      goto fail;
    }
  x->to_peer_fd = bpf_map__fd (x->skel->maps.to_peer);
  x->to_client_fd = bpf_map__fd (x->skel->maps.to_client);
  x->stats_fd = bpf_map__fd (x->skel->maps.stats);
  x->n_cpus = libbpf_num_possible_cpus ();
  if (x->n_cpus <= 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot count the CPUs");
      goto fail;
    }
  x->percpu = g_new0 (guint64, x->n_cpus);
  if (config->detached)
    {
      lo_forwarding ();
      return x;
    }

  if (config->interfaces == NULL)
    names = listen_interfaces (config->listen_addrs, config->n_listen_addrs);
  if (names == NULL && config->interfaces != NULL)
    {
      names = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; config->interfaces[i] != NULL; i++)
        g_ptr_array_add (names, g_strdup (config->interfaces[i]));
    }
  else if (names == NULL)
    names = default_interfaces ();

  /* auto: native where the driver has it, the other interfaces left
   * alone (logged); an explicit mode must take on every interface. */
  x->mode = mode == EMBER_RELAY_XDP_GENERIC ? EMBER_RELAY_XDP_GENERIC : EMBER_RELAY_XDP_NATIVE;
  for (guint i = 0; i < names->len; i++)
    {
      g_autoptr (GError) local = NULL;
      if (attach (x, names->pdata[i], x->mode, &local) == 0)
        continue;
      if (mode != EMBER_RELAY_XDP_AUTO)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          goto fail;
        }
      g_info ("XDP: %s stays without the fast path (%s)", (char *) names->pdata[i], local->message);
    }
  if (x->ports->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "no interface took the XDP program%s",
                   names->len == 0 ? " (none is up)" : "");
      goto fail;
    }
  lo_forwarding ();
  return x;

fail:
  ember_relay_xdp_free (x);
  return NULL;
}

void
ember_relay_xdp_free (EmberRelayXdp *x)
{
  if (x == NULL)
    return;
  for (guint i = 0; i < x->ports->len; i++)
    close (g_array_index (x->ports, Port, i).link_fd);
  g_array_unref (x->ports);
  ember_relay_xdp__destroy (x->skel);
  g_free (x->percpu);
  g_free (x);
}

const char *
ember_relay_xdp_mode_name (const EmberRelayXdp *x)
{
  return x->mode == EMBER_RELAY_XDP_GENERIC ? "generic" : "native";
}

guint
ember_relay_xdp_n_interfaces (const EmberRelayXdp *x)
{
  return x->ports->len;
}

int
ember_relay_xdp_program_fd (const EmberRelayXdp *x)
{
  return bpf_program__fd (x->skel->progs.ember_relay_xdp);
}

/* ---- maps --------------------------------------------------------------- */

static void
addr_bytes (const EmberAddr *a, __u8 out[16])
{
  memset (out, 0, 16);
  memcpy (out, a->addr, a->family == EMBER_ADDR_IPV4 ? 4 : 16);
}

static void
keys (const EmberRelayXdpBinding *b, struct ember_xdp_key *kp, struct ember_xdp_key *kc)
{
  __u8 family = b->client.family == EMBER_ADDR_IPV4 ? 4 : 6;
  memset (kp, 0, sizeof *kp);
  kp->family = family;
  kp->channel = g_htons (b->channel);
  kp->remote_port = g_htons (b->client.port);
  kp->local_port = g_htons (b->listen_port);
  addr_bytes (&b->client, kp->remote);
  memset (kc, 0, sizeof *kc);
  kc->family = family;
  kc->remote_port = g_htons (b->peer.port);
  kc->local_port = g_htons (b->alloc_port);
  addr_bytes (&b->peer, kc->remote);
}

/* Inserts or replaces, keeping what the entry counted so far (the few
 * datagrams relayed between the read and the write are not). */
static gboolean
upsert (int fd, const struct ember_xdp_key *k, struct ember_xdp_fwd *v, gboolean *existed)
{
  struct ember_xdp_fwd old;
  *existed = bpf_map_lookup_elem (fd, k, &old) == 0;
  if (*existed)
    {
      v->packets = old.packets;
      v->bytes = old.bytes;
    }
  return bpf_map_update_elem (fd, k, v, BPF_ANY) == 0;
}

gboolean
ember_relay_xdp_bind (EmberRelayXdp *x, const EmberRelayXdpBinding *b)
{
  g_return_val_if_fail (b->client.family == b->peer.family, FALSE);
  struct ember_xdp_key kp, kc;
  keys (b, &kp, &kc);
  guint64 deadline_ns = b->deadline > G_MAXINT64 / 1000 ? G_MAXUINT64 : (guint64) b->deadline * 1000;

  struct ember_xdp_fwd vp = { 0 }, vc = { 0 };
  addr_bytes (&b->client_local, vp.local);
  addr_bytes (&b->peer_local, vp.src);
  addr_bytes (&b->peer, vp.dst);
  vp.sport = g_htons (b->alloc_port);
  vp.dport = g_htons (b->peer.port);
  vp.deadline_ns = deadline_ns;

  addr_bytes (&b->peer_local, vc.local);
  addr_bytes (&b->client_local, vc.src);
  addr_bytes (&b->client, vc.dst);
  vc.sport = g_htons (b->listen_port);
  vc.dport = g_htons (b->client.port);
  vc.channel = g_htons (b->channel);
  vc.deadline_ns = deadline_ns;

  gboolean existed_p, existed_c;
  /* The peer's direction first: by the time a client's ChannelData is
   * relayed here, the answer can come back the same way. */
  if (!upsert (x->to_client_fd, &kc, &vc, &existed_c))
    return FALSE;
  if (!upsert (x->to_peer_fd, &kp, &vp, &existed_p))
    {
      if (!existed_c)
        bpf_map_delete_elem (x->to_client_fd, &kc);
      return FALSE;
    }
  if (!existed_p)
    x->bindings++;
  return TRUE;
}

void
ember_relay_xdp_unbind (EmberRelayXdp *x, const EmberRelayXdpBinding *b, guint64 *packets,
                        guint64 *bytes)
{
  struct ember_xdp_key kp, kc;
  keys (b, &kp, &kc);
  int fds[2] = { x->to_peer_fd, x->to_client_fd };
  struct ember_xdp_key *ks[2] = { &kp, &kc };
  for (guint i = 0; i < 2; i++)
    {
      struct ember_xdp_fwd v;
      if (bpf_map_lookup_elem (fds[i], ks[i], &v) != 0)
        continue;
      if (packets != NULL)
        *packets += v.packets;
      if (bytes != NULL)
        *bytes += v.bytes;
      if (bpf_map_delete_elem (fds[i], ks[i]) == 0 && i == 0 && x->bindings > 0)
        x->bindings--;
    }
}

static guint64
counter (EmberRelayXdp *x, guint32 index)
{
  if (bpf_map_lookup_elem (x->stats_fd, &index, x->percpu) != 0)
    return 0;
  guint64 sum = 0;
  for (int i = 0; i < x->n_cpus; i++)
    sum += x->percpu[i];
  return sum;
}

void
ember_relay_xdp_read_stats (EmberRelayXdp *x, EmberRelayXdpStats *s)
{
  memset (s, 0, sizeof *s);
  s->packets_to_peer = counter (x, EMBER_XDP_STAT_TO_PEER_PACKETS);
  s->bytes_to_peer = counter (x, EMBER_XDP_STAT_TO_PEER_BYTES);
  s->packets_to_client = counter (x, EMBER_XDP_STAT_TO_CLIENT_PACKETS);
  s->bytes_to_client = counter (x, EMBER_XDP_STAT_TO_CLIENT_BYTES);
  for (guint i = 0; i < G_N_ELEMENTS (s->passed); i++)
    s->passed[i] = counter (x, EMBER_XDP_STAT_PASS_STUN + i);
  s->bindings = x->bindings;
}

#else /* !EMBER_RELAY_HAVE_XDP */

struct _EmberRelayXdp {
  int unused;
};

EmberRelayXdp *
ember_relay_xdp_new (EmberRelayXdpMode mode, const EmberRelayXdpConfig *config, GError **error)
{
  (void) mode;
  (void) config;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
               "this ember-relay was built without XDP (libbpf, clang or bpftool missing)");
  return NULL;
}

void
ember_relay_xdp_free (EmberRelayXdp *x)
{
  g_free (x);
}

const char *
ember_relay_xdp_mode_name (const EmberRelayXdp *x)
{
  (void) x;
  return "off";
}

guint
ember_relay_xdp_n_interfaces (const EmberRelayXdp *x)
{
  (void) x;
  return 0;
}

int
ember_relay_xdp_program_fd (const EmberRelayXdp *x)
{
  (void) x;
  return -1;
}

gboolean
ember_relay_xdp_bind (EmberRelayXdp *x, const EmberRelayXdpBinding *b)
{
  (void) x;
  (void) b;
  return FALSE;
}

void
ember_relay_xdp_unbind (EmberRelayXdp *x, const EmberRelayXdpBinding *b, guint64 *packets,
                        guint64 *bytes)
{
  (void) x;
  (void) b;
  (void) packets;
  (void) bytes;
}

void
ember_relay_xdp_read_stats (EmberRelayXdp *x, EmberRelayXdpStats *s)
{
  (void) x;
  memset (s, 0, sizeof *s);
}

#endif
