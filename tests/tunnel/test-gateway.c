/* The gateway's authorization table and packet check (gateway-policy.h):
 * the check order, spoofing, filters at their edges, expiry at the exact
 * microsecond, reject_access, resource_updated, reply matching and the
 * ICMP prohibited answers with their rate limit. Virtual time only. */
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>

#include "packet/packet.h"
#include "tunnel/gateway-policy.h"
#include "tunnel/gateway-portal.h"

#define SEC G_GINT64_CONSTANT (1000000)
#define T0 (1000 * SEC)

/* ---- addresses and packets ---------------------------------------------- */

/* "10.0.0.0/24", "fd00::1" (a bare address is a /32 or /128). */
static EmberCidr
cidr (const char *text)
{
  g_auto (GStrv) parts = g_strsplit (text, "/", 2);
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (parts[0]);
  EmberCidr c = { 0 };

  g_assert_nonnull (ia);
  c.family = g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV4 ? 4 : 6;
  memcpy (c.addr, g_inet_address_to_bytes (ia), g_inet_address_get_native_size (ia));
  c.prefix = (guint8) (parts[1] ? atoi (parts[1]) : c.family == 4 ? 32 : 128);
  return c;
}

static EmberAddr
a4 (const char *text, guint16 port)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = port };
  EmberCidr c = cidr (text);

  g_assert_cmpuint (c.family, ==, 4);
  memcpy (a.addr, c.addr, 4);
  return a;
}

static EmberAddr
a6 (const char *text, guint16 port)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV6, .port = port };
  EmberCidr c = cidr (text);

  g_assert_cmpuint (c.family, ==, 6);
  memcpy (a.addr, c.addr, 16);
  return a;
}

typedef struct {
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
} Pkt;

static void
wr16 (guint8 *p, guint v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

/* An IPv4/IPv6 packet of protocol `proto` from src to dst; TCP gets a SYN
 * header, UDP a header and 4 bytes, others 8 bytes of payload. `ext6`:
 * IPv6 hop-by-hop and destination options headers in front of it.
 * `frag_later`: a non-first fragment (no upper-layer header). */
static void
build_full (Pkt *p, const EmberAddr *src, const EmberAddr *dst, guint8 proto, gboolean ext6,
            gboolean frag_later)
{
  guint8 *b = p->buf;
  gsize hl, l4len, off;

  memset (p->buf, 0, sizeof p->buf);
  l4len = proto == EMBER_IPPROTO_TCP ? 20 : proto == EMBER_IPPROTO_UDP ? 12 : 8;
  if (src->family == EMBER_ADDR_IPV4)
    {
      hl = 20;
      b[0] = 0x45;
      wr16 (b + 2, (guint) (hl + l4len));
      wr16 (b + 6, frag_later ? 100u : 0x4000u);
      b[8] = 64;
      b[9] = proto;
      memcpy (b + 12, src->addr, 4);
      memcpy (b + 16, dst->addr, 4);
    }
  else
    {
      hl = 40 + (ext6 ? 16 : 0) + (frag_later ? 8 : 0);
      b[0] = 0x60;
      wr16 (b + 4, (guint) (hl - 40 + l4len));
      b[7] = 64;
      memcpy (b + 8, src->addr, 16);
      memcpy (b + 24, dst->addr, 16);
      off = 40;
      b[6] = ext6 ? EMBER_IPPROTO_HOPOPTS : frag_later ? EMBER_IPPROTO_FRAGMENT : proto;
      if (ext6)
        {
          /* hop-by-hop, then destination options: each 8 bytes, PadN. */
          b[off] = EMBER_IPPROTO_DSTOPTS;
          b[off + 2] = 1;
          b[off + 3] = 4;
          off += 8;
          b[off] = frag_later ? EMBER_IPPROTO_FRAGMENT : proto;
          b[off + 2] = 1;
          b[off + 3] = 4;
          off += 8;
        }
      if (frag_later)
        {
          b[off] = proto;
          wr16 (b + off + 2, 100u << 3);
          b[off + 7] = 1;
        }
    }
  if (!frag_later && proto == EMBER_IPPROTO_TCP)
    {
      wr16 (b + hl, src->port);
      wr16 (b + hl + 2, dst->port);
      b[hl + 12] = 5 << 4;
      b[hl + 13] = 0x02; /* SYN */
      wr16 (b + hl + 14, 65535);
    }
  else if (!frag_later && proto == EMBER_IPPROTO_UDP)
    {
      wr16 (b + hl, src->port);
      wr16 (b + hl + 2, dst->port);
      wr16 (b + hl + 4, (guint) l4len);
    }
  g_assert_cmpint (ember_ip_packet_parse (&p->pkt, p->buf, sizeof p->buf, 0, hl + l4len), ==,
                   EMBER_PACKET_OK);
  ember_ip_packet_update_checksums (&p->pkt);
}

static void
build (Pkt *p, const EmberAddr *src, const EmberAddr *dst, guint8 proto)
{
  build_full (p, src, dst, proto, FALSE, FALSE);
}

static void
build_echo (Pkt *p, const EmberAddr *src, const EmberAddr *dst, gboolean reply)
{
  static const guint8 data[8] = "pingping";

  g_assert_cmpint (ember_ip_packet_build_icmp_echo (&p->pkt, p->buf, sizeof p->buf, 0, src, dst,
                                                    reply, 7, 1, data, sizeof data),
                   ==, EMBER_PACKET_OK);
}

/* ---- the portal's side ---------------------------------------------------- */

static const EmberGatewayFilter tcp80_icmp[] = {
  { EMBER_GATEWAY_FILTER_TCP, 80, 80 },
  { EMBER_GATEWAY_FILTER_TCP, 8000, 8100 },
  { EMBER_GATEWAY_FILTER_ICMP, 0, 0 },
};

static void expect_event (EmberGatewayPolicy *policy, EmberGatewayEventType type,
                          const char *client, const char *resource, const char *reason);

/* authorize_flow; `answered`: the answer must be the next event. */
static void
authorize_full2 (EmberGatewayPolicy *policy, gint64 now, const char *client, const char *ip4,
                 const char *ip6, const char *resource_id, EmberGatewayResourceType type,
                 const char *address, const EmberGatewayFilter *filters, guint n_filters,
                 gint64 expires_at, gboolean answered)
{
  g_autoptr (GError) error = NULL;
  EmberCidr addr[2];
  guint n_addr = 0;
  EmberGatewayResource res = {
    .id = resource_id, .type = type, .addresses = addr,
    .filters = filters, .n_filters = n_filters,
  };
  g_autofree char *ref = g_strdup_printf ("ref-%s-%s", client, resource_id);
  EmberGatewayAuthorization auth = {
    .ref = ref, .client_id = client, .resource = &res, .expires_at = expires_at,
  };
  EmberGatewayEvent ev;

  if (address)
    {
      g_auto (GStrv) parts = g_strsplit (address, ",", 2);

      for (guint i = 0; parts[i]; i++)
        addr[n_addr++] = cidr (parts[i]);
    }
  res.n_addresses = n_addr;
  memset (auth.client_public_key, client[0], 32);
  memset (auth.preshared_key, 0x5a, 32);
  if (ip4)
    {
      EmberAddr x = a4 (ip4, 0);

      auth.has_ipv4 = TRUE;
      memcpy (auth.client_ipv4, x.addr, 4);
    }
  if (ip6)
    {
      EmberAddr x = a6 (ip6, 0);

      auth.has_ipv6 = TRUE;
      memcpy (auth.client_ipv6, x.addr, 16);
    }
  g_assert_true (ember_gateway_policy_authorize (policy, now, &auth, &error));
  g_assert_no_error (error);
  if (!answered)
    return;
  /* Answered at once with the portal's ref. */
  g_assert_true (ember_gateway_policy_poll_event (policy, &ev));
  g_assert_cmpint (ev.type, ==, EMBER_GATEWAY_EVENT_AUTHORIZATION_CREATED);
  g_assert_cmpstr (ev.ref, ==, ref);
  g_assert_cmpstr (ev.client_id, ==, client);
  g_assert_cmpstr (ev.resource_id, ==, resource_id);
  ember_gateway_event_clear (&ev);
}

static void
authorize_full (EmberGatewayPolicy *policy, gint64 now, const char *client, const char *ip4,
                const char *ip6, const char *resource_id, EmberGatewayResourceType type,
                const char *address, const EmberGatewayFilter *filters, guint n_filters,
                gint64 expires_at)
{
  authorize_full2 (policy, now, client, ip4, ip6, resource_id, type, address, filters,
                   n_filters, expires_at, TRUE);
}

static void
authorize (EmberGatewayPolicy *policy, const char *client, const char *ip4,
           const char *resource_id, const char *address, const EmberGatewayFilter *filters,
           guint n_filters, gint64 expires_at)
{
  authorize_full (policy, T0, client, ip4, NULL, resource_id, EMBER_GATEWAY_RESOURCE_CIDR,
                  address, filters, n_filters, expires_at);
}

/* The verdict for `p` from `client`; DROP reasons are checked too. */
static EmberGatewayDropReason
check (EmberGatewayPolicy *policy, gint64 now, const char *client, Pkt *p)
{
  EmberGatewayClient *c = ember_gateway_policy_find_client (policy, client);
  EmberGatewayDropReason reason = EMBER_GATEWAY_DROP_N_REASONS;
  EmberGatewayVerdict v;

  g_assert_nonnull (c);
  v = ember_gateway_policy_from_client (policy, now, c, &p->pkt, &reason);
  if (v == EMBER_GATEWAY_VERDICT_FORWARD)
    g_assert_cmpint (reason, ==, EMBER_GATEWAY_DROP_N_REASONS);
  else
    g_assert_cmpint (reason, <, EMBER_GATEWAY_DROP_N_REASONS);
  return reason;
}
#define PASS EMBER_GATEWAY_DROP_N_REASONS

static EmberGatewayDropReason
tcp_to (EmberGatewayPolicy *policy, gint64 now, const char *client, const char *from,
        const char *to, guint16 port)
{
  Pkt p;
  EmberAddr s = strchr (from, ':') ? a6 (from, 40000) : a4 (from, 40000);
  EmberAddr d = strchr (to, ':') ? a6 (to, port) : a4 (to, port);

  build (&p, &s, &d, EMBER_IPPROTO_TCP);
  return check (policy, now, client, &p);
}

static guint
drain_icmp (EmberGatewayPolicy *policy)
{
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberGatewayClient *c;
  guint n = 0;

  while (ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c) > 0)
    n++;
  return n;
}

/* Expects the next event to be `type` for `client` (and resource). */
static void
expect_event (EmberGatewayPolicy *policy, EmberGatewayEventType type, const char *client,
              const char *resource, const char *reason)
{
  EmberGatewayEvent ev;

  g_assert_true (ember_gateway_policy_poll_event (policy, &ev));
  g_assert_cmpint (ev.type, ==, type);
  g_assert_cmpstr (ev.client_id, ==, client);
  g_assert_cmpstr (ev.resource_id, ==, resource);
  g_assert_cmpstr (ev.reason, ==, reason);
  ember_gateway_event_clear (&ev);
}

static void
expect_no_event (EmberGatewayPolicy *policy)
{
  EmberGatewayEvent ev;

  g_assert_false (ember_gateway_policy_poll_event (policy, &ev));
}

/* ---- authorize ------------------------------------------------------------ */

static void
test_authorize_refuses_bad_fields (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberCidr addr = cidr ("10.0.0.0/24");
  EmberGatewayFilter reversed = { EMBER_GATEWAY_FILTER_TCP, 90, 80 };
  EmberGatewayResource res = { .id = "web", .addresses = &addr, .n_addresses = 1 };
  EmberGatewayAuthorization auth = {
    .ref = "r1", .client_id = "laptop", .has_ipv4 = TRUE,
    .client_ipv4 = { 100, 64, 0, 1 }, .resource = &res, .expires_at = T0 + SEC,
  };
  g_autoptr (GError) error = NULL;
  EmberGatewayEvent ev;

  auth.client_id = "";
  g_assert_false (ember_gateway_policy_authorize (policy, T0, &auth, &error));
  g_assert_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "client.id"));
  g_clear_error (&error);
  auth.client_id = "laptop";

  /* The portal signs refs: up to 1024 bytes pass, more do not. */
  {
    g_autofree char *ref = g_strnfill (EMBER_GATEWAY_REF_MAX + 1, 'r');

    auth.ref = ref;
    g_assert_false (ember_gateway_policy_authorize (policy, T0, &auth, &error));
    g_assert_nonnull (strstr (error->message, "ref"));
    g_clear_error (&error);
    ref[EMBER_GATEWAY_REF_MAX] = 0;
    g_assert_true (ember_gateway_policy_authorize (policy, T0, &auth, &error));
    g_assert_no_error (error);
    g_assert_true (ember_gateway_policy_poll_event (policy, &ev));
    g_assert_cmpuint (strlen (ev.ref), ==, EMBER_GATEWAY_REF_MAX);
    ember_gateway_event_clear (&ev);
    ember_gateway_policy_remove_client (policy, "laptop");
    auth.ref = "r1";
  }

  auth.has_ipv4 = FALSE;
  g_assert_false (ember_gateway_policy_authorize (policy, T0, &auth, &error));
  g_assert_nonnull (strstr (error->message, "ipv4/ipv6"));
  g_clear_error (&error);
  auth.has_ipv4 = TRUE;

  auth.expires_at = T0;
  g_assert_false (ember_gateway_policy_authorize (policy, T0, &auth, &error));
  g_assert_nonnull (strstr (error->message, "expires_at"));
  g_clear_error (&error);
  auth.expires_at = T0 + SEC;

  res.n_addresses = 0;
  g_assert_false (ember_gateway_policy_authorize (policy, T0, &auth, &error));
  g_assert_nonnull (strstr (error->message, "resource.address"));
  g_clear_error (&error);
  res.n_addresses = 1;

  res.filters = &reversed;
  res.n_filters = 1;
  g_assert_false (ember_gateway_policy_authorize (policy, T0, &auth, &error));
  g_assert_nonnull (strstr (error->message, "resource.filters[0].ports"));
  g_clear_error (&error);
  res.n_filters = EMBER_GATEWAY_MAX_FILTERS + 1;
  g_assert_false (ember_gateway_policy_authorize (policy, T0, &auth, &error));
  g_assert_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_LIMIT);
  g_clear_error (&error);

  /* Nothing of the refused messages stayed behind. */
  g_assert_false (ember_gateway_policy_poll_event (policy, &ev));
  g_assert_cmpuint (ember_gateway_policy_get_n_clients (policy), ==, 0);
  g_assert_cmpint (ember_gateway_policy_poll_timeout (policy), ==, G_MAXINT64);
}

static void
test_authorize_limits_a_client (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  g_autoptr (GError) error = NULL;
  EmberCidr net = { .family = 4, .prefix = 32, .addr = { 10 } };
  char rid[16];
  EmberGatewayResource res = { .id = rid, .addresses = &net, .n_addresses = 1 };
  EmberGatewayAuthorization auth = {
    .client_id = "laptop", .has_ipv4 = TRUE, .client_ipv4 = { 100, 64, 0, 1 },
    .resource = &res, .expires_at = T0 + SEC,
  };

  ember_gateway_policy_begin_sync (policy);
  for (guint i = 0; i < EMBER_GATEWAY_MAX_AUTHORIZATIONS; i++)
    {
      g_snprintf (rid, sizeof rid, "r%u", i);
      net.addr[2] = (guint8) (i >> 8);
      net.addr[3] = (guint8) i;
      g_assert_true (ember_gateway_policy_authorize (policy, T0, &auth, NULL));
    }
  ember_gateway_policy_end_sync (policy, T0);
  /* One more resource is refused, naming the limit; a refresh is not. */
  g_snprintf (rid, sizeof rid, "one-more");
  g_assert_false (ember_gateway_policy_authorize (policy, T0, &auth, &error));
  g_assert_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_LIMIT);
  g_assert_nonnull (strstr (error->message, "at most 4096"));
  g_snprintf (rid, sizeof rid, "r7");
  net.addr[2] = 0;
  net.addr[3] = 7;
  g_assert_true (ember_gateway_policy_authorize (policy, T0, &auth, NULL));
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.15.255", 80), ==, PASS);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.16.0", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
}

static void
test_authorize_keeps_client_keys (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberGatewayClient *c;
  guint8 key[32];

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  c = ember_gateway_policy_find_client (policy, "laptop");
  g_assert_nonnull (c);
  g_assert_cmpstr (ember_gateway_client_get_id (c), ==, "laptop");
  memset (key, 'l', 32);
  g_assert_cmpmem (ember_gateway_client_get_public_key (c), 32, key, 32);
  memset (key, 0x5a, 32);
  g_assert_cmpmem (ember_gateway_client_get_preshared_key (c), 32, key, 32);
  g_assert_true (ember_gateway_client_is_authorized (c, "web"));
  g_assert_false (ember_gateway_client_is_authorized (c, "db"));
  /* A repeat for the same resource refreshes, it does not add. */
  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + 2 * SEC);
  g_assert_cmpuint (ember_gateway_client_get_n_authorizations (c), ==, 1);
  g_assert_cmpint (ember_gateway_policy_poll_timeout (policy), ==, T0 + 2 * SEC);
  g_assert_null (ember_gateway_policy_find_client (policy, "phone"));
}

/* ---- the check order ------------------------------------------------------ */

static void
test_check_passes_authorized_packet (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberGatewayCounters n;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", tcp80_icmp, 3, T0 + SEC);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 80), ==, PASS);
  ember_gateway_policy_get_counters (policy, &n);
  g_assert_cmpuint (n.forwarded_to_network, ==, 1);
  g_assert_cmpuint (drain_icmp (policy), ==, 0);
}

static void
test_check_spoofing_comes_first (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", tcp80_icmp, 3, T0 + SEC);
  /* Spoofed, to a place it may not go, on a port it may not use: the
   * source check decides. */
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.2", "10.9.0.1", 22), ==,
                   EMBER_GATEWAY_DROP_SPOOFED);
  /* Spoofed to an allowed place: still spoofed. */
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "10.0.0.9", "10.0.0.7", 80), ==,
                   EMBER_GATEWAY_DROP_SPOOFED);
  /* A spoofed source gets no ICMP: it would go to an address that did
   * not send the packet. */
  g_assert_cmpuint (drain_icmp (policy), ==, 0);
}

static void
test_check_destination_before_filter (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", tcp80_icmp, 3, T0 + SEC);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.1.7", 22), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.1.7", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 22), ==,
                   EMBER_GATEWAY_DROP_FILTERED);
}

static void
test_check_other_client_address_is_spoofing (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  authorize (policy, "phone", "100.64.0.2", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.2", "10.0.0.7", 80), ==,
                   EMBER_GATEWAY_DROP_SPOOFED);
  g_assert_cmpint (tcp_to (policy, T0, "phone", "100.64.0.2", "10.0.0.7", 80), ==, PASS);
  /* An IPv6 packet from a client without an IPv6 tunnel address. */
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "fd00:2021:1111::1", "fd00::7", 80), ==,
                   EMBER_GATEWAY_DROP_SPOOFED);
}

static void
test_check_malformed (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  guint8 junk[] = { 0x45, 0, 0, 99, 0, 0, 0, 0, 64, 6 };
  EmberGatewayDropReason reason;
  EmberGatewayCounters n;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  g_assert_cmpint (ember_gateway_policy_from_client_bytes (
                     policy, T0, ember_gateway_policy_find_client (policy, "laptop"), junk,
                     sizeof junk, &reason), ==, EMBER_GATEWAY_VERDICT_DROP);
  g_assert_cmpint (reason, ==, EMBER_GATEWAY_DROP_MALFORMED);
  ember_gateway_policy_get_counters (policy, &n);
  g_assert_cmpuint (n.dropped[EMBER_GATEWAY_DROP_MALFORMED], ==, 1);
  g_assert_cmpstr (ember_gateway_drop_reason_to_string (EMBER_GATEWAY_DROP_MALFORMED), ==,
                   "malformed");
}

/* ---- filters ---------------------------------------------------------------- */

static void
test_filter_port_range_bounds (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  static const struct {
    guint16 port;
    gboolean pass;
  } cases[] = {
    { 79, FALSE }, { 80, TRUE }, { 81, FALSE }, { 7999, FALSE }, { 8000, TRUE },
    { 8050, TRUE }, { 8100, TRUE }, { 8101, FALSE }, { 0, FALSE }, { 65535, FALSE },
  };

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", tcp80_icmp, 3, T0 + SEC);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", cases[i].port), ==,
                     cases[i].pass ? PASS : EMBER_GATEWAY_DROP_FILTERED);
}

static void
test_filter_full_range_edges (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  static const EmberGatewayFilter edges[] = {
    { EMBER_GATEWAY_FILTER_UDP, 0, 0 },
    { EMBER_GATEWAY_FILTER_UDP, 65535, 65535 },
  };
  Pkt p;
  EmberAddr s = a4 ("100.64.0.1", 5353), d;

  authorize (policy, "laptop", "100.64.0.1", "dns", "10.0.0.53", edges, 2, T0 + SEC);
  for (guint port = 0; port <= 65535; port += 65535)
    {
      d = a4 ("10.0.0.53", (guint16) port);
      build (&p, &s, &d, EMBER_IPPROTO_UDP);
      g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
    }
  d = a4 ("10.0.0.53", 1);
  build (&p, &s, &d, EMBER_IPPROTO_UDP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  /* Only the /32 is the resource. */
  d = a4 ("10.0.0.54", 0);
  build (&p, &s, &d, EMBER_IPPROTO_UDP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
}

static void
test_filter_protocols_apart (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  static const EmberGatewayFilter icmp_only[] = { { EMBER_GATEWAY_FILTER_ICMP, 0, 0 } };
  static const EmberGatewayFilter tcp53[] = { { EMBER_GATEWAY_FILTER_TCP, 53, 53 } };
  EmberAddr me = a4 ("100.64.0.1", 53), pinged = a4 ("10.1.0.1", 53), dns = a4 ("10.2.0.1", 53);
  Pkt p;

  authorize (policy, "laptop", "100.64.0.1", "ping", "10.1.0.0/16", icmp_only, 1, T0 + SEC);
  authorize (policy, "laptop", "100.64.0.1", "dns", "10.2.0.0/16", tcp53, 1, T0 + SEC);
  build_echo (&p, &me, &pinged, FALSE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
  build (&p, &me, &pinged, EMBER_IPPROTO_TCP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  build_echo (&p, &me, &dns, FALSE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  build (&p, &me, &dns, EMBER_IPPROTO_TCP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
  /* tcp/53 is not udp/53. */
  build (&p, &me, &dns, EMBER_IPPROTO_UDP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  /* Another protocol (GRE) with filters present. */
  build (&p, &me, &dns, 47);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
}

static void
test_filter_none_allows_everything (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberAddr me = a4 ("100.64.0.1", 1), there = a4 ("10.0.0.1", 2);
  Pkt p;

  authorize (policy, "laptop", "100.64.0.1", "net", "10.0.0.0/8", NULL, 0, T0 + SEC);
  build (&p, &me, &there, 47);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
  build (&p, &me, &there, EMBER_IPPROTO_UDP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
  build_echo (&p, &me, &there, FALSE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
}

static void
test_filter_ipv6_extension_headers (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  static const EmberGatewayFilter tcp443[] = { { EMBER_GATEWAY_FILTER_TCP, 443, 443 } };
  EmberAddr me = a6 ("fd00:2021:1111::1", 40000);
  EmberAddr ok = a6 ("fd00:10::7", 443), no = a6 ("fd00:10::7", 22);
  Pkt p;

  authorize_full (policy, T0, "laptop", "100.64.0.1", "fd00:2021:1111::1", "v6",
                  EMBER_GATEWAY_RESOURCE_CIDR, "fd00:10::/64", tcp443, 1, T0 + SEC);
  /* The port sits behind hop-by-hop and destination options headers. */
  build_full (&p, &me, &ok, EMBER_IPPROTO_TCP, TRUE, FALSE);
  g_assert_cmpint (ember_ip_packet_protocol (&p.pkt), ==, EMBER_IPPROTO_TCP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
  build_full (&p, &me, &no, EMBER_IPPROTO_TCP, TRUE, FALSE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  /* ICMPv6 is not allowed by a tcp filter. */
  build_echo (&p, &me, &ok, FALSE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  /* Outside the /64. */
  ok = a6 ("fd00:11::7", 443);
  build_full (&p, &me, &ok, EMBER_IPPROTO_TCP, TRUE, FALSE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
}

static void
test_filter_later_fragments (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  static const EmberGatewayFilter some[] = {
    { EMBER_GATEWAY_FILTER_TCP, 80, 80 },
    { EMBER_GATEWAY_FILTER_UDP, 0, 30000 },
    { EMBER_GATEWAY_FILTER_UDP, 30001, 65535 },
  };
  EmberAddr me = a4 ("100.64.0.1", 1), there = a4 ("10.0.0.1", 80);
  EmberAddr me6 = a6 ("fd00:2021:1111::1", 1), there6 = a6 ("fd00:10::1", 80);
  Pkt p;

  authorize_full (policy, T0, "laptop", "100.64.0.1", "fd00:2021:1111::1", "net",
                  EMBER_GATEWAY_RESOURCE_CIDR, "10.0.0.0/8,fd00:10::/64", some, 3, T0 + SEC);
  /* No port to check: TCP (one port allowed) refused, UDP (every port,
   * from two ranges that merge) allowed. */
  build_full (&p, &me, &there, EMBER_IPPROTO_TCP, FALSE, TRUE);
  g_assert_cmpint (ember_ip_packet_fragment (&p.pkt), ==, EMBER_IP_FRAG_LATER);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  build_full (&p, &me, &there, EMBER_IPPROTO_UDP, FALSE, TRUE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
  build_full (&p, &me6, &there6, EMBER_IPPROTO_TCP, TRUE, TRUE);
  g_assert_cmpint (ember_ip_packet_fragment (&p.pkt), ==, EMBER_IP_FRAG_LATER);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  build_full (&p, &me6, &there6, EMBER_IPPROTO_UDP, TRUE, TRUE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, PASS);
}

static void
test_filter_overlapping_resources_combine (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  static const EmberGatewayFilter http[] = { { EMBER_GATEWAY_FILTER_TCP, 80, 80 } };
  static const EmberGatewayFilter ssh[] = { { EMBER_GATEWAY_FILTER_TCP, 22, 22 } };

  /* A wide resource allowing http and a narrow one inside it allowing
   * ssh: inside the narrow one both pass, outside only http. */
  authorize (policy, "laptop", "100.64.0.1", "wide", "10.0.0.0/8", http, 1, T0 + SEC);
  authorize (policy, "laptop", "100.64.0.1", "narrow", "10.1.2.0/24", ssh, 1, T0 + SEC);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.1.2.3", 22), ==, PASS);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.1.2.3", 80), ==, PASS);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.1.3.3", 80), ==, PASS);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.1.3.3", 22), ==,
                   EMBER_GATEWAY_DROP_FILTERED);
  /* Dropping the wide one leaves ssh to the narrow one only. */
  g_assert_true (ember_gateway_policy_reject (policy, T0, "laptop", "wide", NULL));
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.1.2.3", 80), ==,
                   EMBER_GATEWAY_DROP_FILTERED);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.1.3.3", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
}

static void
test_internet_resource (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();

  authorize_full (policy, T0, "laptop", "100.64.0.1", "fd00:2021:1111::1", "internet",
                  EMBER_GATEWAY_RESOURCE_INTERNET, NULL, NULL, 0, T0 + SEC);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "192.0.2.1", 443), ==, PASS);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "fd00:2021:1111::1", "2001:db8::1", 443), ==,
                   PASS);
}

static void
test_dns_resource_hook (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  g_autoptr (GError) error = NULL;
  static const EmberGatewayFilter https[] = { { EMBER_GATEWAY_FILTER_TCP, 443, 443 } };
  EmberCidr resolved[] = { cidr ("10.5.0.7"), cidr ("10.5.0.8") };

  authorize_full (policy, T0, "laptop", "100.64.0.1", NULL, "wiki",
                  EMBER_GATEWAY_RESOURCE_DNS, NULL, https, 1, T0 + SEC);
  /* Nothing resolved yet: nothing authorized. */
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.5.0.7", 443), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  g_assert_true (ember_gateway_policy_set_resolved_addresses (policy, T0, "wiki", resolved, 2,
                                                              &error));
  g_assert_no_error (error);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.5.0.8", 443), ==, PASS);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.5.0.8", 80), ==,
                   EMBER_GATEWAY_DROP_FILTERED);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.5.0.9", 443), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  /* Re-resolution replaces the set. */
  g_assert_true (ember_gateway_policy_set_resolved_addresses (policy, T0, "wiki", resolved + 1,
                                                              1, NULL));
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.5.0.7", 443), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  /* Only dns resources take resolved addresses; unknown ones are named. */
  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  g_assert_false (ember_gateway_policy_set_resolved_addresses (policy, T0, "web", resolved, 1,
                                                               &error));
  g_assert_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (ember_gateway_policy_set_resolved_addresses (policy, T0, "nope", resolved, 1,
                                                               &error));
  g_assert_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_NOT_FOUND);
}

static void
test_unused_resources_are_forgotten (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  g_autoptr (GError) error = NULL;
  EmberCidr one = cidr ("10.5.0.7");

  authorize_full (policy, T0, "laptop", "100.64.0.1", NULL, "wiki",
                  EMBER_GATEWAY_RESOURCE_DNS, NULL, NULL, 0, T0 + SEC);
  authorize_full (policy, T0, "phone", "100.64.0.2", NULL, "wiki",
                  EMBER_GATEWAY_RESOURCE_DNS, NULL, NULL, 0, T0 + SEC);
  g_assert_true (ember_gateway_policy_reject (policy, T0, "laptop", "wiki", NULL));
  ember_gateway_policy_handle_timeout (policy, T0);
  /* phone still holds it. */
  g_assert_true (ember_gateway_policy_set_resolved_addresses (policy, T0, "wiki", &one, 1, NULL));
  g_assert_true (ember_gateway_policy_reject (policy, T0, "phone", "wiki", NULL));
  ember_gateway_policy_handle_timeout (policy, T0);
  g_assert_false (ember_gateway_policy_set_resolved_addresses (policy, T0, "wiki", &one, 1,
                                                               &error));
  g_assert_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_NOT_FOUND);
}

/* ---- expiry, reject_access, resource_updated ------------------------------- */

static void
test_expiry_exactly_at_expires_at (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  gint64 exp = T0 + 60 * SEC;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, exp);
  authorize (policy, "laptop", "100.64.0.1", "db", "10.9.0.0/24", NULL, 0, exp + SEC);
  g_assert_cmpint (ember_gateway_policy_poll_timeout (policy), ==, exp);
  ember_gateway_policy_handle_timeout (policy, exp - 1);
  expect_no_event (policy);
  g_assert_cmpint (tcp_to (policy, exp - 1, "laptop", "100.64.0.1", "10.0.0.7", 80), ==, PASS);
  ember_gateway_policy_handle_timeout (policy, exp);
  expect_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED, "laptop", "web", "expired");
  expect_no_event (policy);
  g_assert_cmpint (tcp_to (policy, exp, "laptop", "100.64.0.1", "10.0.0.7", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  g_assert_cmpint (tcp_to (policy, exp, "laptop", "100.64.0.1", "10.9.0.7", 80), ==, PASS);
  g_assert_cmpint (ember_gateway_policy_poll_timeout (policy), ==, exp + SEC);
  /* The last one: the client is disconnected. */
  ember_gateway_policy_handle_timeout (policy, exp + SEC);
  expect_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED, "laptop", "db", "expired");
  expect_event (policy, EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED, "laptop", NULL, "expired");
  g_assert_cmpint (ember_gateway_policy_poll_timeout (policy), ==, G_MAXINT64);
  ember_gateway_policy_remove_client (policy, "laptop");
  g_assert_cmpuint (ember_gateway_policy_get_n_clients (policy), ==, 0);
}

static void
test_expiry_without_timer (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  gint64 exp = T0 + 60 * SEC;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, exp);
  /* The shell's timer fired late: the packet at expires_at still fails. */
  g_assert_cmpint (tcp_to (policy, exp, "laptop", "100.64.0.1", "10.0.0.7", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  expect_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED, "laptop", "web", "expired");
  expect_event (policy, EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED, "laptop", NULL, "expired");
}

static void
test_expiry_refreshed_by_new_authorization (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + 10 * SEC);
  ember_gateway_policy_handle_timeout (policy, T0 + SEC);
  expect_no_event (policy);
  g_assert_cmpint (tcp_to (policy, T0 + 5 * SEC, "laptop", "100.64.0.1", "10.0.0.7", 80), ==,
                   PASS);
}

static void
list_client (EmberGatewayClient *client, gpointer data)
{
  GString *out = data;

  g_string_append_printf (out, "%s:", ember_gateway_client_get_id (client));
  for (guint i = 0; i < ember_gateway_client_get_n_authorizations (client); i++)
    g_string_append_printf (out, "%s%s", i ? "," : "",
                            ember_gateway_client_get_authorization (client, i));
  g_string_append (out, ";");
}

/* What emberd's status lists: each client with its live authorizations. */
static char *
listed (EmberGatewayPolicy *policy)
{
  GString *out = g_string_new (NULL);

  ember_gateway_policy_foreach_client (policy, list_client, out);
  return g_string_free (out, FALSE);
}

static void
test_reject_removes_at_once (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL, *after = NULL, *none = NULL;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + 60 * SEC);
  authorize (policy, "laptop", "100.64.0.1", "db", "10.9.0.0/24", NULL, 0, T0 + 60 * SEC);
  before = listed (policy);
  g_assert_cmpstr (before, ==, "laptop:web,db;");
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 80), ==, PASS);
  g_assert_true (ember_gateway_policy_reject (policy, T0 + 1, "laptop", "web", &error));
  g_assert_no_error (error);
  expect_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED, "laptop", "web", "rejected");
  expect_no_event (policy);
  after = listed (policy);
  g_assert_cmpstr (after, ==, "laptop:db;");
  g_assert_cmpint (tcp_to (policy, T0 + 1, "laptop", "100.64.0.1", "10.0.0.7", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  g_assert_cmpint (tcp_to (policy, T0 + 1, "laptop", "100.64.0.1", "10.9.0.7", 80), ==, PASS);
  /* Rejecting what is not there is an error naming both ids. */
  g_assert_false (ember_gateway_policy_reject (policy, T0 + 1, "laptop", "web", &error));
  g_assert_error (error, EMBER_GATEWAY_POLICY_ERROR, EMBER_GATEWAY_POLICY_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "laptop"));
  g_clear_error (&error);
  g_assert_true (ember_gateway_policy_reject (policy, T0 + 2, "laptop", "db", NULL));
  expect_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED, "laptop", "db", "rejected");
  expect_event (policy, EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED, "laptop", NULL, "rejected");
  g_assert_cmpint (ember_gateway_policy_poll_timeout (policy), ==, G_MAXINT64);
  /* Listed with nothing until the shell forgets it. */
  none = listed (policy);
  g_assert_cmpstr (none, ==, "laptop:;");
  /* Authorized again before the shell forgot it: back in business. */
  authorize (policy, "laptop", "100.64.0.1", "db", "10.9.0.0/24", NULL, 0, T0 + 60 * SEC);
  g_assert_cmpint (tcp_to (policy, T0 + 3, "laptop", "100.64.0.1", "10.9.0.7", 80), ==, PASS);
}

static void
test_update_narrows_filters (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  g_autoptr (GError) error = NULL;
  static const EmberGatewayFilter http[] = { { EMBER_GATEWAY_FILTER_TCP, 80, 80 } };
  EmberCidr addr = cidr ("10.0.0.0/24");
  EmberGatewayResource res = {
    .id = "web", .type = EMBER_GATEWAY_RESOURCE_CIDR, .addresses = &addr, .n_addresses = 1,
    .filters = http, .n_filters = 1,
  };

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + 60 * SEC);
  authorize (policy, "phone", "100.64.0.2", "web", "10.0.0.0/24", NULL, 0, T0 + 60 * SEC);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 22), ==, PASS);
  g_assert_true (ember_gateway_policy_update_resource (policy, T0, &res, &error));
  g_assert_no_error (error);
  /* Every client authorized for it sees the narrower filter. */
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 22), ==,
                   EMBER_GATEWAY_DROP_FILTERED);
  g_assert_cmpint (tcp_to (policy, T0, "phone", "100.64.0.2", "10.0.0.7", 22), ==,
                   EMBER_GATEWAY_DROP_FILTERED);
  g_assert_cmpint (tcp_to (policy, T0, "phone", "100.64.0.2", "10.0.0.7", 80), ==, PASS);
  /* A moved address: the old one is gone at once. */
  addr = cidr ("10.0.1.0/24");
  g_assert_true (ember_gateway_policy_update_resource (policy, T0, &res, NULL));
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.1.7", 80), ==, PASS);
  /* An update for a resource nobody here uses changes nothing. */
  res.id = "other";
  g_assert_true (ember_gateway_policy_update_resource (policy, T0, &res, NULL));
  expect_no_event (policy);
  /* A bad update is refused and leaves the old filters. */
  res.id = "web";
  res.n_addresses = 0;
  g_assert_false (ember_gateway_policy_update_resource (policy, T0, &res, &error));
  g_assert_nonnull (strstr (error->message, "resource.address"));
  g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.1.7", 80), ==, PASS);
}

/* ---- replies ---------------------------------------------------------------- */

static EmberGatewayDropReason
reply (EmberGatewayPolicy *policy, gint64 now, Pkt *p, const char **to)
{
  EmberGatewayClient *c = (EmberGatewayClient *) 0x1;
  EmberGatewayDropReason reason = PASS;

  if (ember_gateway_policy_from_network (policy, now, &p->pkt, &c, &reason) ==
      EMBER_GATEWAY_VERDICT_FORWARD)
    {
      g_assert_nonnull (c);
      *to = ember_gateway_client_get_id (c);
      return PASS;
    }
  g_assert_null (c);
  *to = NULL;
  return reason;
}

static void
test_reply_goes_to_owner (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberAddr web = a4 ("10.0.0.7", 80), web22 = a4 ("10.0.0.7", 22), other = a4 ("10.3.0.1", 80);
  EmberAddr laptop = a4 ("100.64.0.1", 40000), phone = a4 ("100.64.0.2", 40000);
  EmberAddr nobody = a4 ("100.64.0.3", 40000);
  const char *to;
  Pkt p;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", tcp80_icmp, 3, T0 + SEC);
  authorize (policy, "phone", "100.64.0.2", "web", "10.0.0.0/24", tcp80_icmp, 3, T0 + SEC);
  build (&p, &web, &laptop, EMBER_IPPROTO_TCP);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, PASS);
  g_assert_cmpstr (to, ==, "laptop");
  build (&p, &web, &phone, EMBER_IPPROTO_TCP);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, PASS);
  g_assert_cmpstr (to, ==, "phone");
  build (&p, &web, &nobody, EMBER_IPPROTO_TCP);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, EMBER_GATEWAY_DROP_REPLY_NO_CLIENT);
  /* From a port the client may not use, or from outside its resources:
   * not a reply to anything it was allowed to send. */
  build (&p, &web22, &laptop, EMBER_IPPROTO_TCP);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED);
  build (&p, &other, &laptop, EMBER_IPPROTO_TCP);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED);
  build_echo (&p, &web, &laptop, TRUE);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, PASS);
}

static void
test_reply_icmp_error_from_router (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  static const EmberGatewayFilter http[] = { { EMBER_GATEWAY_FILTER_TCP, 80, 80 } };
  EmberAddr router = a4 ("192.0.2.1", 0), laptop = a4 ("100.64.0.1", 40000);
  EmberAddr web = a4 ("10.0.0.7", 80), web22 = a4 ("10.0.0.7", 22);
  const char *to;
  Pkt sent, err;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", http, 1, T0 + SEC);
  /* A router outside the resource says the client's allowed packet was
   * too big (path MTU discovery must work). */
  build (&sent, &laptop, &web, EMBER_IPPROTO_TCP);
  g_assert_cmpint (ember_ip_packet_build_packet_too_big (&err.pkt, err.buf, sizeof err.buf, 0,
                                                         &sent.pkt, &router, 1200),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (reply (policy, T0, &err, &to), ==, PASS);
  g_assert_cmpstr (to, ==, "laptop");
  /* About a packet the client could not have sent: dropped. */
  build (&sent, &laptop, &web22, EMBER_IPPROTO_TCP);
  g_assert_cmpint (ember_ip_packet_build_packet_too_big (&err.pkt, err.buf, sizeof err.buf, 0,
                                                         &sent.pkt, &router, 1200),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (reply (policy, T0, &err, &to), ==, EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED);
}

static void
test_reply_address_has_one_owner (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberAddr web = a4 ("10.0.0.7", 80), addr = a4 ("100.64.0.1", 40000);
  const char *to;
  Pkt p;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  /* The portal gives the address to another client: the first one loses
   * it and everything with it. */
  authorize_full2 (policy, T0, "phone", "100.64.0.1", NULL, "db", EMBER_GATEWAY_RESOURCE_CIDR,
                   "10.9.0.0/24", NULL, 0, T0 + SEC, FALSE);
  expect_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED, "laptop", "web",
                "address reassigned");
  expect_event (policy, EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED, "laptop", NULL,
                "address reassigned");
  expect_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_CREATED, "phone", "db", NULL);
  build (&p, &web, &addr, EMBER_IPPROTO_TCP);
  /* phone may not hear from web; laptop owns nothing any more. */
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED);
  web = a4 ("10.9.0.7", 80);
  build (&p, &web, &addr, EMBER_IPPROTO_TCP);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, PASS);
  g_assert_cmpstr (to, ==, "phone");
  /* Removing the old client does not take the address from the new one. */
  ember_gateway_policy_remove_client (policy, "laptop");
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, PASS);
  g_assert_cmpstr (to, ==, "phone");
}

static void
test_reply_after_revocation_dropped (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberAddr web = a4 ("10.0.0.7", 80), laptop = a4 ("100.64.0.1", 40000);
  const char *to;
  Pkt p;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  build (&p, &web, &laptop, EMBER_IPPROTO_TCP);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, PASS);
  g_assert_true (ember_gateway_policy_reject (policy, T0, "laptop", "web", NULL));
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, EMBER_GATEWAY_DROP_REPLY_NO_CLIENT);
}

static void
test_reply_ipv6 (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberAddr web = a6 ("fd00:10::7", 443), me = a6 ("fd00:2021:1111::1", 40000);
  EmberAddr other = a6 ("fd00:2021:1111::2", 40000);
  const char *to;
  Pkt p;

  authorize_full (policy, T0, "laptop", "100.64.0.1", "fd00:2021:1111::1", "v6",
                  EMBER_GATEWAY_RESOURCE_CIDR, "fd00:10::/64", NULL, 0, T0 + SEC);
  build_full (&p, &web, &me, EMBER_IPPROTO_UDP, TRUE, FALSE);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, PASS);
  g_assert_cmpstr (to, ==, "laptop");
  build (&p, &web, &other, EMBER_IPPROTO_UDP);
  g_assert_cmpint (reply (policy, T0, &p, &to), ==, EMBER_GATEWAY_DROP_REPLY_NO_CLIENT);
}

/* ---- ICMP answers ------------------------------------------------------------- */

static void
assert_prohibited (const guint8 *buf, gsize len, guint version, const EmberAddr *from,
                   const EmberAddr *to)
{
  guint8 copy[EMBER_PACKET_BUF_SIZE];
  EmberIpPacket pkt;
  EmberAddr s, d;
  guint8 type, code;

  memcpy (copy, buf, len);
  g_assert_cmpint (ember_ip_packet_parse (&pkt, copy, sizeof copy, 0, len), ==,
                   EMBER_PACKET_OK);
  g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt), ==, EMBER_PACKET_OK);
  g_assert_cmpuint (ember_ip_packet_version (&pkt), ==, version);
  g_assert_true (ember_ip_packet_is_icmp_error (&pkt));
  g_assert_cmpint (ember_ip_packet_icmp_type (&pkt, &type, &code), ==, EMBER_PACKET_OK);
  if (version == 4)
    {
      g_assert_cmpuint (type, ==, 3);  /* destination unreachable */
      g_assert_cmpuint (code, ==, 13); /* communication administratively prohibited */
    }
  else
    {
      g_assert_cmpuint (type, ==, 1);  /* destination unreachable */
      g_assert_cmpuint (code, ==, 1);  /* administratively prohibited */
    }
  ember_ip_packet_get_source (&pkt, &s);
  ember_ip_packet_get_destination (&pkt, &d);
  g_assert_cmpmem (s.addr, version == 4 ? 4 : 16, from->addr, version == 4 ? 4 : 16);
  g_assert_cmpmem (d.addr, version == 4 ? 4 : 16, to->addr, version == 4 ? 4 : 16);
}

static void
test_icmp_prohibited_parseable (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberGatewayClient *c;
  EmberAddr me = a4 ("100.64.0.1", 40000), web22 = a4 ("10.0.0.7", 22);
  EmberAddr elsewhere = a4 ("10.7.0.1", 80);
  EmberAddr me6 = a6 ("fd00:2021:1111::1", 40000), v6 = a6 ("fd00:99::1", 443);
  gsize len;
  Pkt p;

  authorize_full (policy, T0, "laptop", "100.64.0.1", "fd00:2021:1111::1", "web",
                  EMBER_GATEWAY_RESOURCE_CIDR, "10.0.0.0/24", tcp80_icmp, 3, T0 + SEC);
  build (&p, &me, &web22, EMBER_IPPROTO_TCP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_FILTERED);
  build (&p, &me, &elsewhere, EMBER_IPPROTO_TCP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  build_full (&p, &me6, &v6, EMBER_IPPROTO_TCP, TRUE, FALSE);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_NOT_AUTHORIZED);

  /* Each answer comes from the address the client tried, to the client. */
  len = ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c);
  g_assert_cmpuint (len, >, 0);
  g_assert_cmpstr (ember_gateway_client_get_id (c), ==, "laptop");
  assert_prohibited (buf, len, 4, &web22, &me);
  len = ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c);
  assert_prohibited (buf, len, 4, &elsewhere, &me);
  len = ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c);
  assert_prohibited (buf, len, 6, &v6, &me6);
  g_assert_cmpuint (ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c), ==,
                    0);
  g_assert_null (c);
}

static void
test_icmp_from_the_gateway_address (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberGatewayClient *c;
  EmberAddr gw4 = a4 ("100.64.0.100", 0), gw6 = a6 ("fd00:2021:1111::100", 0);
  EmberAddr me = a4 ("100.64.0.1", 40000), far = a4 ("10.7.0.1", 80);
  EmberAddr me6 = a6 ("fd00:2021:1111::1", 40000), far6 = a6 ("fd00:99::1", 443);
  gsize len;
  Pkt p;

  authorize_full (policy, T0, "laptop", "100.64.0.1", "fd00:2021:1111::1", "web",
                  EMBER_GATEWAY_RESOURCE_CIDR, "10.0.0.0/24", NULL, 0, T0 + SEC);
  ember_gateway_policy_set_own_addresses (policy, &gw4, &gw6);
  build (&p, &me, &far, EMBER_IPPROTO_TCP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  build (&p, &me6, &far6, EMBER_IPPROTO_TCP);
  g_assert_cmpint (check (policy, T0, "laptop", &p), ==, EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  len = ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c);
  assert_prohibited (buf, len, 4, &gw4, &me);
  len = ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c);
  assert_prohibited (buf, len, 6, &gw6, &me6);
  /* Only an IPv4 address known: IPv6 answers come from the address tried. */
  ember_gateway_policy_set_own_addresses (policy, &gw4, NULL);
  build (&p, &me6, &far6, EMBER_IPPROTO_TCP);
  check (policy, T0 + SEC / 2, "laptop", &p);
  len = ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c);
  assert_prohibited (buf, len, 6, &far6, &me6);
}

static void
test_icmp_never_answers_an_error (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberAddr me = a4 ("100.64.0.1", 40000), far = a4 ("10.7.0.1", 80);
  Pkt sent, err;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
  build (&sent, &far, &me, EMBER_IPPROTO_UDP);
  g_assert_cmpint (ember_ip_packet_build_icmp_unreachable (&err.pkt, err.buf, sizeof err.buf, 0,
                                                           &sent.pkt, &me,
                                                           EMBER_ICMP_UNREACH_PORT),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (check (policy, T0, "laptop", &err), ==, EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  g_assert_cmpuint (drain_icmp (policy), ==, 0);
}

static void
test_icmp_error_from_client_about_allowed_reply (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  static const EmberGatewayFilter http[] = { { EMBER_GATEWAY_FILTER_TCP, 80, 80 } };
  EmberAddr me = a4 ("100.64.0.1", 40000), web = a4 ("10.0.0.7", 80), web9 = a4 ("10.0.0.7", 9);
  Pkt got, err;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", http, 1, T0 + SEC);
  /* The client's kernel says "too big" about a reply from web:80. */
  build (&got, &web, &me, EMBER_IPPROTO_TCP);
  g_assert_cmpint (ember_ip_packet_build_packet_too_big (&err.pkt, err.buf, sizeof err.buf, 0,
                                                         &got.pkt, &me, 1200),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (check (policy, T0, "laptop", &err), ==, PASS);
  /* About traffic from a port it may not talk to: refused. */
  build (&got, &web9, &me, EMBER_IPPROTO_TCP);
  g_assert_cmpint (ember_ip_packet_build_packet_too_big (&err.pkt, err.buf, sizeof err.buf, 0,
                                                         &got.pkt, &me, 1200),
                   ==, EMBER_PACKET_OK);
  g_assert_cmpint (check (policy, T0, "laptop", &err), ==, EMBER_GATEWAY_DROP_FILTERED);
}

static void
test_icmp_rate_limited (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberGatewayCounters n;
  guint burst = EMBER_GATEWAY_ICMP_BURST;
  gint64 per = SEC / EMBER_GATEWAY_ICMP_PER_SECOND;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", NULL, 0, T0 + 60 * SEC);
  authorize (policy, "phone", "100.64.0.2", "web", "10.0.0.0/24", NULL, 0, T0 + 60 * SEC);
  for (guint i = 0; i < burst + 5; i++)
    g_assert_cmpint (tcp_to (policy, T0, "laptop", "100.64.0.1", "10.9.0.1", 80), ==,
                     EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  ember_gateway_policy_get_counters (policy, &n);
  g_assert_cmpuint (n.icmp_sent, ==, burst);
  g_assert_cmpuint (n.icmp_rate_limited, ==, 5);
  g_assert_cmpuint (n.dropped[EMBER_GATEWAY_DROP_NOT_AUTHORIZED], ==, burst + 5);
  /* Another client has its own bucket. */
  g_assert_cmpint (tcp_to (policy, T0, "phone", "100.64.0.2", "10.9.0.1", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  g_assert_cmpuint (drain_icmp (policy), ==, burst + 1);
  /* One token back after 1/rate seconds, not before. */
  tcp_to (policy, T0 + per - 1, "laptop", "100.64.0.1", "10.9.0.1", 80);
  g_assert_cmpuint (drain_icmp (policy), ==, 0);
  tcp_to (policy, T0 + per, "laptop", "100.64.0.1", "10.9.0.1", 80);
  g_assert_cmpuint (drain_icmp (policy), ==, 1);
  /* A long quiet time refills at most a burst. */
  for (guint i = 0; i < burst + 5; i++)
    tcp_to (policy, T0 + 30 * SEC, "laptop", "100.64.0.1", "10.9.0.1", 80);
  g_assert_cmpuint (drain_icmp (policy), ==, burst);
}

static void
test_icmp_queue_bounded_and_forgets_removed_client (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  guint8 buf[EMBER_PACKET_BUF_SIZE];
  EmberGatewayClient *c;
  EmberGatewayCounters n;
  char id[16], ip[16];

  /* More clients than queue slots, each sending one refused packet. */
  for (guint i = 0; i < EMBER_GATEWAY_ICMP_QUEUE + 4; i++)
    {
      g_snprintf (id, sizeof id, "c%u", i);
      g_snprintf (ip, sizeof ip, "100.64.1.%u", i);
      authorize (policy, id, ip, "web", "10.0.0.0/24", NULL, 0, T0 + SEC);
      g_assert_cmpint (tcp_to (policy, T0, id, ip, "10.9.0.1", 80), ==,
                       EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
    }
  ember_gateway_policy_get_counters (policy, &n);
  g_assert_cmpuint (n.icmp_sent, ==, EMBER_GATEWAY_ICMP_QUEUE);
  g_assert_cmpuint (n.icmp_rate_limited, ==, 4);
  /* A removed client's answers are not handed out. */
  ember_gateway_policy_remove_client (policy, "c0");
  g_assert_cmpuint (ember_gateway_policy_poll_packet_to_client (policy, buf, sizeof buf, &c), >,
                    0);
  g_assert_cmpstr (ember_gateway_client_get_id (c), ==, "c1");
  g_assert_cmpuint (drain_icmp (policy), ==, EMBER_GATEWAY_ICMP_QUEUE - 2);
}

static void
test_counters_per_reason (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberAddr web = a4 ("10.0.0.7", 80), laptop = a4 ("100.64.0.1", 40000);
  EmberGatewayCounters n;
  const char *to;
  Pkt p;

  authorize (policy, "laptop", "100.64.0.1", "web", "10.0.0.0/24", tcp80_icmp, 3, T0 + SEC);
  tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 80);
  tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 80);
  tcp_to (policy, T0, "laptop", "100.64.0.9", "10.0.0.7", 80);
  tcp_to (policy, T0, "laptop", "100.64.0.1", "10.1.0.7", 80);
  tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 22);
  tcp_to (policy, T0, "laptop", "100.64.0.1", "10.0.0.7", 23);
  build (&p, &web, &laptop, EMBER_IPPROTO_TCP);
  reply (policy, T0, &p, &to);
  ember_gateway_policy_get_counters (policy, &n);
  g_assert_cmpuint (n.forwarded_to_network, ==, 2);
  g_assert_cmpuint (n.forwarded_to_client, ==, 1);
  g_assert_cmpuint (n.dropped[EMBER_GATEWAY_DROP_SPOOFED], ==, 1);
  g_assert_cmpuint (n.dropped[EMBER_GATEWAY_DROP_NOT_AUTHORIZED], ==, 1);
  g_assert_cmpuint (n.dropped[EMBER_GATEWAY_DROP_FILTERED], ==, 2);
  g_assert_cmpuint (n.dropped[EMBER_GATEWAY_DROP_MALFORMED], ==, 0);
  g_assert_cmpuint (n.icmp_sent, ==, 3);
}

/* ---- portal messages ------------------------------------------------------ */

#define UNIX0 G_GINT64_CONSTANT (1765000000)   /* wall clock at T0, seconds */

static void
portal_flow (EmberPortalAuthorizeFlow *f, const char *client_id, const char *ip4,
             const char *resource_id, const char *net, gint64 expires_at)
{
  EmberCidr c = cidr (net);
  g_autofree char *ip6 = g_strdup_printf ("fd00:2021:1111::%s", strrchr (ip4, '.') + 1);

  memset (f, 0, sizeof *f);
  f->ref = g_strdup_printf ("signed.%s", resource_id);
  g_strlcpy (f->resource.id.str, resource_id, sizeof f->resource.id.str);
  f->resource.type = EMBER_PORTAL_RESOURCE_CIDR;
  f->resource.cidr = c;
  g_strlcpy (f->client.id.str, client_id, sizeof f->client.id.str);
  memset (f->client.public_key.bytes, 7, 32);
  f->client.tunnel.ipv4 = a4 (ip4, 0);
  f->client.tunnel.ipv6 = a6 (ip6, 0);
  memset (f->preshared_key.bytes, 9, 32);
  f->expires_at = expires_at;
}

static void
test_portal_deadline_conversion (void)
{
  gint64 now_unix = UNIX0 * SEC + 250000; /* a quarter second past UNIX0 */

  g_assert_cmpint (ember_gateway_deadline_from_unix (T0, now_unix, UNIX0 + 60), ==,
                   T0 + 60 * SEC - 250000);
  g_assert_cmpint (ember_gateway_deadline_from_unix (T0, now_unix, UNIX0), <=, T0);
  /* The protocol allows up to 2^53 seconds: no overflow, just "never". */
  g_assert_cmpint (ember_gateway_deadline_from_unix (T0, now_unix, G_GINT64_CONSTANT (1) << 53),
                   ==, G_MAXINT64);
  g_assert_cmpint (ember_gateway_deadline_from_unix (T0, now_unix, 1), <, T0);
}

static void
test_portal_authorize_flow_filters (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  g_autoptr (GError) error = NULL;
  EmberPortalAuthorizeFlow f;
  EmberPortalFilter filters[3] = { { 0 } };
  EmberGatewayEvent ev;
  EmberGatewayClient *c;
  guint8 key[32];

  portal_flow (&f, "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11", "100.64.0.2",
               "4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60", "10.20.0.0/24", UNIX0 + 60);
  /* tcp "80,8000-8100", udp without ports (every port), icmp. */
  filters[0].protocol = EMBER_PORTAL_PROTOCOL_TCP;
  filters[0].n_ports = 2;
  filters[0].ports[0] = (EmberPortalPortRange) { 80, 80 };
  filters[0].ports[1] = (EmberPortalPortRange) { 8000, 8100 };
  filters[1].protocol = EMBER_PORTAL_PROTOCOL_UDP;
  filters[2].protocol = EMBER_PORTAL_PROTOCOL_ICMP;
  f.resource.filters = filters;
  f.resource.n_filters = 3;
  g_assert_true (ember_gateway_policy_authorize_flow (policy, T0, UNIX0 * SEC, &f, &error));
  g_assert_no_error (error);
  g_assert_true (ember_gateway_policy_poll_event (policy, &ev));
  g_assert_cmpint (ev.type, ==, EMBER_GATEWAY_EVENT_AUTHORIZATION_CREATED);
  g_assert_cmpstr (ev.ref, ==, "signed.4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60");
  ember_gateway_event_clear (&ev);
  c = ember_gateway_policy_find_client (policy, "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11");
  g_assert_nonnull (c);
  memset (key, 9, 32);
  g_assert_cmpmem (ember_gateway_client_get_preshared_key (c), 32, key, 32);
  g_assert_cmpint (ember_gateway_policy_poll_timeout (policy), ==, T0 + 60 * SEC);
  {
    const char *id = "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11";
    EmberAddr me = a4 ("100.64.0.2", 5000), d53 = a4 ("10.20.0.1", 53);
    Pkt p;

    g_assert_cmpint (tcp_to (policy, T0, id, "100.64.0.2", "10.20.0.1", 8100), ==, PASS);
    g_assert_cmpint (tcp_to (policy, T0, id, "100.64.0.2", "10.20.0.1", 8101), ==,
                     EMBER_GATEWAY_DROP_FILTERED);
    build (&p, &me, &d53, EMBER_IPPROTO_UDP);
    g_assert_cmpint (check (policy, T0, id, &p), ==, PASS);
    build_echo (&p, &me, &d53, FALSE);
    g_assert_cmpint (check (policy, T0, id, &p), ==, PASS);
    /* Expiry at the wall-clock second the portal named. */
    g_assert_cmpint (tcp_to (policy, T0 + 60 * SEC - 1, id, "100.64.0.2", "10.20.0.1", 80), ==,
                     PASS);
    g_assert_cmpint (tcp_to (policy, T0 + 60 * SEC, id, "100.64.0.2", "10.20.0.1", 80), ==,
                     EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  }
  g_free (f.ref);
}

static void
test_portal_init_keeps_only_listed (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  g_autoptr (GError) error = NULL;
  EmberPortalAuthorizeFlow f1, f2;
  EmberPortalAuthorization listed = { 0 };
  EmberPortalGatewayInit init = { .authorizations = &listed, .n_authorizations = 1 };
  EmberPortalRejectAccess rej = { 0 };
  EmberGatewayEvent ev;

  portal_flow (&f1, "c1", "100.64.0.1", "web", "10.0.0.0/24", UNIX0 + 60);
  portal_flow (&f2, "c2", "100.64.0.2", "db", "10.9.0.0/24", UNIX0 + 60);
  g_assert_true (ember_gateway_policy_authorize_flow (policy, T0, UNIX0 * SEC, &f1, NULL));
  g_assert_true (ember_gateway_policy_authorize_flow (policy, T0, UNIX0 * SEC, &f2, NULL));
  while (ember_gateway_policy_poll_event (policy, &ev))
    ember_gateway_event_clear (&ev);
  /* After a reconnect the portal lists c1/web only (with a later expiry). */
  listed.client = f1.client;
  listed.resource = f1.resource;
  listed.preshared_key = f1.preshared_key;
  listed.expires_at = UNIX0 + 120;
  g_assert_true (ember_gateway_policy_apply_init (policy, T0 + SEC, UNIX0 * SEC + SEC, &init,
                                                  &error));
  g_assert_no_error (error);
  /* No answer for a listed one; c2 ends. */
  expect_event (policy, EMBER_GATEWAY_EVENT_AUTHORIZATION_REMOVED, "c2", "db", "not listed");
  expect_event (policy, EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED, "c2", NULL, "not listed");
  expect_no_event (policy);
  g_assert_cmpint (ember_gateway_policy_poll_timeout (policy), ==, T0 + 120 * SEC);
  g_assert_cmpint (tcp_to (policy, T0 + 100 * SEC, "c1", "100.64.0.1", "10.0.0.1", 80), ==,
                   PASS);
  /* reject_access through the portal's struct. */
  g_strlcpy (rej.client_id.str, "c1", sizeof rej.client_id.str);
  g_strlcpy (rej.resource_id.str, "web", sizeof rej.resource_id.str);
  g_assert_true (ember_gateway_policy_reject_access (policy, T0 + 100 * SEC, &rej, NULL));
  g_assert_cmpint (tcp_to (policy, T0 + 100 * SEC, "c1", "100.64.0.1", "10.0.0.1", 80), ==,
                   EMBER_GATEWAY_DROP_NOT_AUTHORIZED);
  /* A bad entry in init is named and skipped, the others apply. */
  listed.resource.cidr.prefix = 99;
  g_assert_false (ember_gateway_policy_apply_init (policy, T0 + 101 * SEC,
                                                   UNIX0 * SEC + 101 * SEC, &init, &error));
  g_assert_nonnull (strstr (error->message, "authorizations[0]"));
  g_free (f1.ref);
  g_free (f2.ref);
}

static void
test_portal_resource_updated (void)
{
  g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
  EmberPortalAuthorizeFlow f;
  EmberPortalFilter ssh = { .protocol = EMBER_PORTAL_PROTOCOL_TCP, .n_ports = 1,
                            .ports = { { 22, 22 } } };
  EmberGatewayEvent ev;

  portal_flow (&f, "c1", "100.64.0.1", "web", "10.0.0.0/24", UNIX0 + 60);
  g_assert_true (ember_gateway_policy_authorize_flow (policy, T0, UNIX0 * SEC, &f, NULL));
  g_assert_true (ember_gateway_policy_poll_event (policy, &ev));
  ember_gateway_event_clear (&ev);
  g_assert_cmpint (tcp_to (policy, T0, "c1", "100.64.0.1", "10.0.0.1", 80), ==, PASS);
  f.resource.filters = &ssh;
  f.resource.n_filters = 1;
  g_assert_true (ember_gateway_policy_resource_updated (policy, T0, &f.resource, NULL));
  g_assert_cmpint (tcp_to (policy, T0, "c1", "100.64.0.1", "10.0.0.1", 80), ==,
                   EMBER_GATEWAY_DROP_FILTERED);
  g_assert_cmpint (tcp_to (policy, T0, "c1", "100.64.0.1", "10.0.0.1", 22), ==, PASS);
  g_free (f.ref);
}

/* ---- property: random operations against a reference model ---------------- */

/* A brute-force model of the policy: per (client, resource) an expiry,
 * per resource a prefix and filters; a packet passes when some live
 * authorization of its client has a resource containing the destination
 * whose filters (or lack of them) allow it. No prefix table, no union of
 * filters: if the policy's compiled tables ever disagree, this says so. */
#define PM_CLIENTS 4
#define PM_RESOURCES 6
#define PM_MAX_FILTERS 3

typedef struct {
  EmberCidr cidr;
  EmberGatewayFilter filters[PM_MAX_FILTERS];
  guint n_filters;
} PmResource;

typedef struct {
  GRand *rand;
  gint64 now;
  PmResource res[PM_RESOURCES];
  gboolean known[PM_RESOURCES];        /* sent to the policy at least once */
  gint64 expires[PM_CLIENTS][PM_RESOURCES]; /* 0: none */
} Pm;

static const guint16 pm_ports[] = { 0, 1, 22, 79, 80, 81, 443, 1000, 65534, 65535 };

static guint16
pm_port (Pm *m)
{
  if (g_rand_int_range (m->rand, 0, 4) == 0)
    return (guint16) g_rand_int_range (m->rand, 0, 65536);
  return pm_ports[g_rand_int_range (m->rand, 0, G_N_ELEMENTS (pm_ports))];
}

static void
pm_client_addr (guint c, guint family, EmberAddr *out)
{
  *out = family == 4 ? a4 ("100.64.0.1", 0) : a6 ("fd00:2021:1111::1", 0);
  out->addr[family == 4 ? 3 : 15] = (guint8) (c + 1);
}

/* An address in the small space the resources live in, so that most
 * destinations hit some prefix and many hit several. */
static void
pm_addr (Pm *m, guint family, guint8 addr[16])
{
  memset (addr, 0, 16);
  if (family == 4)
    {
      addr[0] = 10;
      addr[2] = (guint8) g_rand_int_range (m->rand, 0, 3);
      addr[3] = (guint8) (g_rand_int_range (m->rand, 0, 4) * 16 + g_rand_int_range (m->rand, 0, 3));
    }
  else
    {
      addr[0] = 0xfd;
      addr[7] = (guint8) g_rand_int_range (m->rand, 0, 3);
      addr[15] = (guint8) (g_rand_int_range (m->rand, 0, 4) * 16 +
                           g_rand_int_range (m->rand, 0, 3));
    }
}

static void
pm_new_resource (Pm *m, guint r)
{
  static const guint8 len4[] = { 16, 24, 28, 32 }, len6[] = { 48, 56, 124, 128 };
  PmResource *res = &m->res[r];
  guint family = g_rand_boolean (m->rand) ? 4 : 6;

  memset (res, 0, sizeof *res);
  res->cidr.family = (guint8) family;
  pm_addr (m, family, res->cidr.addr);
  res->cidr.prefix = family == 4 ? len4[g_rand_int_range (m->rand, 0, 4)]
                                 : len6[g_rand_int_range (m->rand, 0, 4)];
  ember_cidr_mask (&res->cidr);
  res->n_filters = (guint) g_rand_int_range (m->rand, 0, PM_MAX_FILTERS + 1);
  for (guint i = 0; i < res->n_filters; i++)
    {
      EmberGatewayFilter *f = &res->filters[i];
      guint16 a = pm_port (m), b = pm_port (m);

      f->protocol = (EmberGatewayFilterProtocol) g_rand_int_range (m->rand, 0, 3);
      f->port_min = MIN (a, b);
      f->port_max = MAX (a, b);
    }
}

static gboolean
pm_filter_allows (const PmResource *res, guint proto, guint16 port)
{
  if (res->n_filters == 0)
    return TRUE;
  for (guint i = 0; i < res->n_filters; i++)
    {
      const EmberGatewayFilter *f = &res->filters[i];

      if (f->protocol == EMBER_GATEWAY_FILTER_ICMP
            ? proto == EMBER_IPPROTO_ICMP || proto == EMBER_IPPROTO_ICMPV6
            : (f->protocol == EMBER_GATEWAY_FILTER_TCP ? proto == EMBER_IPPROTO_TCP
                                                       : proto == EMBER_IPPROTO_UDP) &&
                f->port_min <= port && port <= f->port_max)
        return TRUE;
    }
  return FALSE;
}

static gboolean
pm_live (const Pm *m, guint c, guint r)
{
  return m->expires[c][r] > m->now;
}

static gboolean
pm_has_any (const Pm *m, guint c)
{
  for (guint r = 0; r < PM_RESOURCES; r++)
    if (pm_live (m, c, r))
      return TRUE;
  return FALSE;
}

/* The model's verdict for traffic between client c and resource-side
 * address `far` (proto, port on the far side). */
static EmberGatewayDropReason
pm_verdict (const Pm *m, guint c, guint family, const guint8 *far, guint proto, guint16 port,
            EmberGatewayDropReason not_in, EmberGatewayDropReason filtered)
{
  gboolean inside = FALSE;

  for (guint r = 0; r < PM_RESOURCES; r++)
    if (pm_live (m, c, r) && ember_cidr_contains (&m->res[r].cidr, family, far))
      {
        inside = TRUE;
        if (pm_filter_allows (&m->res[r], proto, port))
          return PASS;
      }
  return inside ? filtered : not_in;
}

static void
pm_authorize (Pm *m, EmberGatewayPolicy *policy, guint c, guint r)
{
  char id[8], rid[8];
  EmberAddr v4, v6;
  EmberGatewayResource res = {
    .id = rid, .type = EMBER_GATEWAY_RESOURCE_CIDR, .addresses = &m->res[r].cidr,
    .n_addresses = 1, .filters = m->res[r].filters, .n_filters = m->res[r].n_filters,
  };
  EmberGatewayAuthorization auth = {
    .ref = "r", .client_id = id, .has_ipv4 = TRUE, .has_ipv6 = TRUE, .resource = &res,
  };

  g_snprintf (id, sizeof id, "c%u", c);
  g_snprintf (rid, sizeof rid, "r%u", r);
  pm_client_addr (c, 4, &v4);
  pm_client_addr (c, 6, &v6);
  memcpy (auth.client_ipv4, v4.addr, 4);
  memcpy (auth.client_ipv6, v6.addr, 16);
  auth.expires_at = m->now + 1 + g_rand_int_range (m->rand, 0, 20) * SEC / 4;
  g_assert_true (ember_gateway_policy_authorize (policy, m->now, &auth, NULL));
  m->expires[c][r] = auth.expires_at;
  m->known[r] = TRUE;
}

static void
pm_step (Pm *m, EmberGatewayPolicy *policy)
{
  guint c = (guint) g_rand_int_range (m->rand, 0, PM_CLIENTS);
  guint r = (guint) g_rand_int_range (m->rand, 0, PM_RESOURCES);
  guint family = g_rand_boolean (m->rand) ? 4 : 6;
  EmberGatewayEvent ev;
  char id[8], rid[8];

  g_snprintf (id, sizeof id, "c%u", c);
  g_snprintf (rid, sizeof rid, "r%u", r);
  switch (g_rand_int_range (m->rand, 0, 10))
    {
    case 0:
      /* A new definition for the resource (the authorize_flow carries it). */
      pm_new_resource (m, r);
      pm_authorize (m, policy, c, r);
      break;
    case 1:
      if (!m->known[r])
        pm_new_resource (m, r);
      pm_authorize (m, policy, c, r);
      break;
    case 2:
      g_assert_cmpint (ember_gateway_policy_reject (policy, m->now, id, rid, NULL), ==,
                       pm_live (m, c, r));
      m->expires[c][r] = 0;
      break;
    case 3:
      if (m->known[r])
        {
          EmberGatewayResource res = {
            .id = rid, .type = EMBER_GATEWAY_RESOURCE_CIDR, .n_addresses = 1,
          };

          pm_new_resource (m, r);
          res.addresses = &m->res[r].cidr;
          res.filters = m->res[r].filters;
          res.n_filters = m->res[r].n_filters;
          g_assert_true (ember_gateway_policy_update_resource (policy, m->now, &res, NULL));
        }
      break;
    case 4:
      {
        /* Time goes on; now and then exactly to the next expiry. */
        gint64 next = ember_gateway_policy_poll_timeout (policy);

        if (next != G_MAXINT64 && g_rand_boolean (m->rand))
          m->now = MAX (m->now, next);
        else
          m->now += g_rand_int_range (m->rand, 0, 2 * SEC);
        if (g_rand_boolean (m->rand))
          ember_gateway_policy_handle_timeout (policy, m->now);
        break;
      }
    default:
      {
        /* A packet from client c (maybe spoofed), or a reply to it. */
        EmberAddr me, far = { .family = (guint8) family }, src;
        guint protos[] = { EMBER_IPPROTO_TCP, EMBER_IPPROTO_UDP, 0 };
        guint proto = protos[g_rand_int_range (m->rand, 0, 3)];
        EmberGatewayClient *gc = ember_gateway_policy_find_client (policy, id);
        EmberGatewayDropReason expect, got = PASS;
        Pkt p;

        pm_client_addr (c, family, &me);
        pm_addr (m, family, far.addr);
        far.port = pm_port (m);
        me.port = pm_port (m);
        if (proto == 0)
          proto = family == 4 ? EMBER_IPPROTO_ICMP : EMBER_IPPROTO_ICMPV6;
        if (g_rand_boolean (m->rand))
          {
            gboolean spoof = g_rand_int_range (m->rand, 0, 6) == 0;

            if (!gc)
              break;
            src = me;
            if (spoof)
              pm_client_addr ((c + 1) % PM_CLIENTS, family, &src);
            if (proto == EMBER_IPPROTO_ICMP || proto == EMBER_IPPROTO_ICMPV6)
              build_echo (&p, &src, &far, FALSE);
            else
              build (&p, &src, &far, (guint8) proto);
            expect = spoof ? EMBER_GATEWAY_DROP_SPOOFED
                           : pm_verdict (m, c, family, far.addr, proto, far.port,
                                         EMBER_GATEWAY_DROP_NOT_AUTHORIZED,
                                         EMBER_GATEWAY_DROP_FILTERED);
            if (ember_gateway_policy_from_client (policy, m->now, gc, &p.pkt, &got) ==
                EMBER_GATEWAY_VERDICT_FORWARD)
              got = PASS;
          }
        else
          {
            EmberGatewayClient *to = NULL;

            if (proto == EMBER_IPPROTO_ICMP || proto == EMBER_IPPROTO_ICMPV6)
              build_echo (&p, &far, &me, TRUE);
            else
              build (&p, &far, &me, (guint8) proto);
            expect = !pm_has_any (m, c) ? EMBER_GATEWAY_DROP_REPLY_NO_CLIENT
                     : pm_verdict (m, c, family, far.addr, proto, far.port,
                                   EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED,
                                   EMBER_GATEWAY_DROP_REPLY_NOT_AUTHORIZED);
            if (ember_gateway_policy_from_network (policy, m->now, &p.pkt, &to, &got) ==
                EMBER_GATEWAY_VERDICT_FORWARD)
              {
                got = PASS;
                g_assert_true (to == gc);
              }
          }
        if (got != expect)
          g_error ("client c%u, %s, proto %u, far port %u at %" G_GINT64_FORMAT
                   ": policy says %s, model says %s",
                   c, family == 4 ? "v4" : "v6", proto, far.port, m->now,
                   got == PASS ? "pass" : ember_gateway_drop_reason_to_string (got),
                   expect == PASS ? "pass" : ember_gateway_drop_reason_to_string (expect));
        break;
      }
    }
  while (ember_gateway_policy_poll_event (policy, &ev))
    {
      /* Now and then the shell forgets a disconnected client at once,
       * unless the same input authorized it again (as gateway.c does). */
      EmberGatewayClient *gone = ember_gateway_policy_find_client (policy, ev.client_id);

      if (ev.type == EMBER_GATEWAY_EVENT_CLIENT_DISCONNECTED && g_rand_boolean (m->rand) &&
          gone && ember_gateway_client_get_n_authorizations (gone) == 0)
        ember_gateway_policy_remove_client (policy, ev.client_id);
      ember_gateway_event_clear (&ev);
    }
  drain_icmp (policy);
}

static void
test_property_matches_model (void)
{
  guint seeds = 200, base = 1;
  const char *env = g_getenv ("EMBER_GATEWAY_SEEDS");
  const char *env_base = g_getenv ("EMBER_GATEWAY_SEED_BASE");

  /* Any range can be replayed: EMBER_GATEWAY_SEED_BASE=22 EMBER_GATEWAY_SEEDS=1 */
  if (env)
    seeds = (guint) g_ascii_strtoull (env, NULL, 10);
  if (env_base)
    base = (guint) g_ascii_strtoull (env_base, NULL, 10);
  for (guint s = base; s < base + seeds; s++)
    {
      g_autoptr (EmberGatewayPolicy) policy = ember_gateway_policy_new ();
      Pm m = { .rand = g_rand_new_with_seed (s), .now = T0 };

      g_test_message ("seed %u", s);
      for (guint step = 0; step < 300; step++)
        pm_step (&m, policy);
      g_rand_free (m.rand);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gateway/authorize/refuses-bad-fields", test_authorize_refuses_bad_fields);
  g_test_add_func ("/gateway/authorize/keeps-client-keys", test_authorize_keeps_client_keys);
  g_test_add_func ("/gateway/authorize/limits-a-client", test_authorize_limits_a_client);
  g_test_add_func ("/gateway/check/passes-authorized-packet", test_check_passes_authorized_packet);
  g_test_add_func ("/gateway/check/spoofing-comes-first", test_check_spoofing_comes_first);
  g_test_add_func ("/gateway/check/destination-before-filter",
                   test_check_destination_before_filter);
  g_test_add_func ("/gateway/check/other-client-address-is-spoofing",
                   test_check_other_client_address_is_spoofing);
  g_test_add_func ("/gateway/check/malformed", test_check_malformed);
  g_test_add_func ("/gateway/filter/port-range-bounds", test_filter_port_range_bounds);
  g_test_add_func ("/gateway/filter/full-range-edges", test_filter_full_range_edges);
  g_test_add_func ("/gateway/filter/protocols-apart", test_filter_protocols_apart);
  g_test_add_func ("/gateway/filter/none-allows-everything", test_filter_none_allows_everything);
  g_test_add_func ("/gateway/filter/ipv6-extension-headers", test_filter_ipv6_extension_headers);
  g_test_add_func ("/gateway/filter/later-fragments", test_filter_later_fragments);
  g_test_add_func ("/gateway/filter/overlapping-resources-combine",
                   test_filter_overlapping_resources_combine);
  g_test_add_func ("/gateway/resource/internet", test_internet_resource);
  g_test_add_func ("/gateway/resource/dns-hook", test_dns_resource_hook);
  g_test_add_func ("/gateway/resource/unused-ones-are-forgotten",
                   test_unused_resources_are_forgotten);
  g_test_add_func ("/gateway/expiry/exactly-at-expires-at", test_expiry_exactly_at_expires_at);
  g_test_add_func ("/gateway/expiry/without-timer", test_expiry_without_timer);
  g_test_add_func ("/gateway/expiry/refreshed-by-new-authorization",
                   test_expiry_refreshed_by_new_authorization);
  g_test_add_func ("/gateway/reject/removes-at-once", test_reject_removes_at_once);
  g_test_add_func ("/gateway/update/narrows-filters", test_update_narrows_filters);
  g_test_add_func ("/gateway/reply/goes-to-owner", test_reply_goes_to_owner);
  g_test_add_func ("/gateway/reply/icmp-error-from-router", test_reply_icmp_error_from_router);
  g_test_add_func ("/gateway/reply/address-has-one-owner", test_reply_address_has_one_owner);
  g_test_add_func ("/gateway/reply/after-revocation-dropped", test_reply_after_revocation_dropped);
  g_test_add_func ("/gateway/reply/ipv6", test_reply_ipv6);
  g_test_add_func ("/gateway/icmp/prohibited-parseable", test_icmp_prohibited_parseable);
  g_test_add_func ("/gateway/icmp/from-the-gateway-address", test_icmp_from_the_gateway_address);
  g_test_add_func ("/gateway/icmp/never-answers-an-error", test_icmp_never_answers_an_error);
  g_test_add_func ("/gateway/icmp/error-from-client-about-allowed-reply",
                   test_icmp_error_from_client_about_allowed_reply);
  g_test_add_func ("/gateway/icmp/rate-limited", test_icmp_rate_limited);
  g_test_add_func ("/gateway/icmp/queue-bounded-and-forgets-removed-client",
                   test_icmp_queue_bounded_and_forgets_removed_client);
  g_test_add_func ("/gateway/counters/per-reason", test_counters_per_reason);
  g_test_add_func ("/gateway/portal/deadline-conversion", test_portal_deadline_conversion);
  g_test_add_func ("/gateway/portal/authorize-flow-filters", test_portal_authorize_flow_filters);
  g_test_add_func ("/gateway/portal/init-keeps-only-listed", test_portal_init_keeps_only_listed);
  g_test_add_func ("/gateway/portal/resource-updated", test_portal_resource_updated);
  g_test_add_func ("/gateway/property/random-operations-match-a-reference-model",
                   test_property_matches_model);
  return g_test_run ();
}
