/* Tests of ember-relay's XDP fast path (plugins/relay/ember-relay/
 * xdp.bpf.c), loaded and fed through xdp.c and run with
 * bpf_prog_test_run on crafted Ethernet frames: no interface carries it.
 * Each direction and family is compared byte for byte with the frame the
 * user-space encoders build (core/packet's UDP builder, the STUN codec's
 * ChannelData, every checksum computed in full), and every frame the
 * program must leave to the kernel comes back XDP_PASS, unchanged, with
 * the reason counted.
 *
 * The program asks the kernel's FIB for the way out, so the test runs in
 * a network namespace of its own (unshare: it goes with the process, also
 * when an assertion aborts) holding a veth pair with the relay's
 * addresses and permanent neighbour entries. Needs root (CAP_BPF,
 * CAP_NET_ADMIN, CAP_SYS_ADMIN); skipped with the reason otherwise.
 */
#include "xdp.h"
#include "packet/packet.h"
#include "stun/message.h"

#include <gio/gio.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#ifdef EMBER_RELAY_HAVE_XDP
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <net/if.h>

#define LISTEN_PORT 3478
#define CLIENT_PORT 40000
#define PEER_PORT 50000
#define ALLOC_PORT 49500
#define MTU 1280
#define ETH 14

static const guint8 relay_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const guint8 client_mac[6] = { 0x02, 0, 0, 0, 0, 0x0c };
static const guint8 peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x0e };

typedef struct {
  const char *name;
  const char *client, *client_local, *other_local;
  const char *peer, *peer_local;
  const char *peer_no_neigh, *peer_no_route, *peer_other_if, *peer_expired;
} Family;

static const Family families[] = {
  { "ipv4", "198.51.100.10", "198.51.100.1", "198.51.100.2", "203.0.113.20", "203.0.113.1",
    "203.0.113.30", "192.0.2.99", "100.64.0.5", "203.0.113.21" },
  { "ipv6", "2001:db8:c::10", "2001:db8:c::1", "2001:db8:c::2", "2001:db8:e::20", "2001:db8:e::1",
    "2001:db8:e::30", "2001:db8:99::1", "2001:db8:64::5", "2001:db8:e::21" },
};

enum { CH_MAIN = 0x4001, CH_NO_NEIGH, CH_NO_ROUTE, CH_OTHER_IF, CH_EXPIRED };

static EmberRelayXdp *xdp;
static int ifindex;

static EmberAddr
ip (const char *text, guint16 port)
{
  EmberAddr a = { 0 };
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (text);
  g_assert_nonnull (ia);
  gsize n = g_inet_address_get_native_size (ia);
  a.family = n == 4 ? EMBER_ADDR_IPV4 : EMBER_ADDR_IPV6;
  memcpy (a.addr, g_inet_address_to_bytes (ia), n);
  a.port = port;
  return a;
}

static void
sh (const char *cmd)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  gint status;
  g_assert_true (g_spawn_command_line_sync (cmd, NULL, &err, &status, &error));
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s: %s", cmd, err);
}

/* ---- frames ------------------------------------------------------------- */

/* An Ethernet frame carrying UDP from src to dst, built by core/packet
 * (every checksum computed in full); returns its length. */
static gsize
frame (guint8 *buf, gsize cap, const guint8 *dmac, const guint8 *smac, const EmberAddr *src,
       const EmberAddr *dst, const guint8 *payload, gsize len)
{
  EmberIpPacket pkt;
  g_assert_cmpint (ember_ip_packet_build_udp (&pkt, buf, cap, ETH, src, dst, payload, len), ==,
                   EMBER_PACKET_OK);
  memcpy (buf, dmac, 6);
  memcpy (buf + 6, smac, 6);
  buf[12] = src->family == EMBER_ADDR_IPV4 ? 0x08 : 0x86;
  buf[13] = src->family == EMBER_ADDR_IPV4 ? 0x00 : 0xdd;
  return ETH + ember_ip_packet_len (&pkt);
}

/* Recomputes the checksums after a test changed header bytes. */
static void
fix_checksums (guint8 *buf, gsize len)
{
  EmberIpPacket pkt;
  g_assert_cmpint (ember_ip_packet_parse (&pkt, buf, len, ETH, len - ETH), ==, EMBER_PACKET_OK);
  ember_ip_packet_update_checksums (&pkt);
}

/* The relay sets the DSCP/ECN byte of what it relays to that of the
 * datagram it came in (RFC 8656 §14.2, the preferred behaviour). */
static void
set_tos (guint8 *buf, gsize len, gboolean v4, guint8 tos)
{
  if (v4)
    buf[ETH + 1] = tos;
  else
    {
      buf[ETH] = (guint8) (0x60 | tos >> 4);
      buf[ETH + 1] = (guint8) ((buf[ETH + 1] & 0x0f) | (tos & 0x0f) << 4);
    }
  fix_checksums (buf, len);
}

static guint32
run (const guint8 *in, gsize len, guint8 *out, gsize *out_len)
{
  struct xdp_md ctx = { .data_end = (__u32) len, .ingress_ifindex = (__u32) ifindex };
  LIBBPF_OPTS (bpf_test_run_opts, o, .data_in = in, .data_size_in = (__u32) len, .data_out = out,
               .data_size_out = 4096, .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = 1);
  int rc = bpf_prog_test_run_opts (ember_relay_xdp_program_fd (xdp), &o);
  g_assert_cmpint (rc, ==, 0);
  *out_len = o.data_size_out;
  return o.retval;
}

static EmberRelayXdpBinding
binding (const Family *f, const char *peer, guint16 channel, gint64 deadline)
{
  EmberRelayXdpBinding b = { 0 };
  b.client = ip (f->client, CLIENT_PORT);
  b.client_local = ip (f->client_local, 0);
  b.listen_port = LISTEN_PORT;
  b.channel = channel;
  b.peer = ip (peer, PEER_PORT);
  b.peer_local = ip (f->peer_local, 0);
  b.alloc_port = ALLOC_PORT;
  b.deadline = deadline;
  return b;
}

static void
bind_all (const Family *f)
{
  gint64 later = g_get_monotonic_time () + 600 * G_USEC_PER_SEC;
  EmberRelayXdpBinding b[] = {
    binding (f, f->peer, CH_MAIN, later),
    binding (f, f->peer_no_neigh, CH_NO_NEIGH, later),
    binding (f, f->peer_no_route, CH_NO_ROUTE, later),
    binding (f, f->peer_other_if, CH_OTHER_IF, later),
    binding (f, f->peer_expired, CH_EXPIRED, g_get_monotonic_time () - 1),
  };
  for (guint i = 0; i < G_N_ELEMENTS (b); i++)
    g_assert_true (ember_relay_xdp_bind (xdp, &b[i]));
}

static void
unbind_all (const Family *f)
{
  const char *peers[] = { f->peer, f->peer_no_neigh, f->peer_no_route, f->peer_other_if,
                          f->peer_expired };
  for (guint i = 0; i < G_N_ELEMENTS (peers); i++)
    {
      EmberRelayXdpBinding b = binding (f, peers[i], (guint16) (CH_MAIN + (int) i), 0);
      ember_relay_xdp_unbind (xdp, &b, NULL, NULL);
    }
}

/* ChannelData from the client to the listener. */
static gsize
client_frame (guint8 *buf, const Family *f, guint16 channel, const guint8 *data, gsize len)
{
  guint8 cd[2048];
  gsize n = ember_stun_channel_data_build (cd, sizeof cd, channel, data, len);
  g_assert_cmpuint (n, >, 0);
  /* What a client sends over UDP need not be padded (RFC 8656 §12.5). */
  n = 4 + len;
  EmberAddr src = ip (f->client, CLIENT_PORT), dst = ip (f->client_local, LISTEN_PORT);
  return frame (buf, 4096, relay_mac, client_mac, &src, &dst, cd, n);
}

static gsize
peer_frame (guint8 *buf, const Family *f, const char *peer, const guint8 *data, gsize len)
{
  EmberAddr src = ip (peer, PEER_PORT), dst = ip (f->peer_local, ALLOC_PORT);
  return frame (buf, 4096, relay_mac, peer_mac, &src, &dst, data, len);
}

static void
fill (guint8 *data, gsize len, guint32 seed)
{
  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) ((seed + i * 131u) ^ (seed >> 8));
}

/* ---- byte-exact rewriting ------------------------------------------------- */

static void
test_client_to_peer (gconstpointer d)
{
  const Family *f = d;
  gboolean v4 = strcmp (f->name, "ipv4") == 0;
  bind_all (f);
  EmberRelayXdpStats before, after;
  ember_relay_xdp_read_stats (xdp, &before);
  guint sent = 0, bytes = 0;
  /* Every length 0..67 (odd ones, every padding), then random ones,
   * random contents and DSCP/ECN values. */
  for (guint i = 0; i < 160; i++)
    {
      gsize len = i < 68 ? i : (gsize) g_test_rand_int_range (0, 1100);
      guint8 data[2048], in[4096], out[4096], want[4096];
      fill (data, len, g_test_rand_int ());
      guint8 tos = (guint8) g_test_rand_int_range (0, 256);
      gsize n = client_frame (in, f, CH_MAIN, data, len);
      set_tos (in, n, v4, tos);
      gsize out_len;
      g_assert_cmpuint (run (in, n, out, &out_len), ==, XDP_TX);
      EmberAddr src = ip (f->peer_local, ALLOC_PORT), dst = ip (f->peer, PEER_PORT);
      gsize wn = frame (want, sizeof want, peer_mac, relay_mac, &src, &dst, data, len);
      set_tos (want, wn, v4, tos);
      g_assert_cmpmem (out, (int) out_len, want, (int) wn);
      sent++;
      bytes += (guint) len;
    }
  ember_relay_xdp_read_stats (xdp, &after);
  g_assert_cmpuint (after.packets_to_peer - before.packets_to_peer, ==, sent);
  g_assert_cmpuint (after.bytes_to_peer - before.bytes_to_peer, ==, bytes);
  /* The binding counted them too, handed back when it goes. */
  guint64 packets = 0, octets = 0;
  EmberRelayXdpBinding b = binding (f, f->peer, CH_MAIN, 0);
  ember_relay_xdp_unbind (xdp, &b, &packets, &octets);
  g_assert_cmpuint (packets, ==, sent);
  g_assert_cmpuint (octets, ==, bytes);
  unbind_all (f);
}

static void
test_peer_to_client (gconstpointer d)
{
  const Family *f = d;
  gboolean v4 = strcmp (f->name, "ipv4") == 0;
  bind_all (f);
  EmberRelayXdpStats before, after;
  ember_relay_xdp_read_stats (xdp, &before);
  guint sent = 0, bytes = 0;
  for (guint i = 0; i < 160; i++)
    {
      gsize len = i < 68 ? i : (gsize) g_test_rand_int_range (0, 1100);
      guint8 data[2048], in[4096], out[4096], want[4096], cd[2048];
      fill (data, len, g_test_rand_int ());
      guint8 tos = (guint8) g_test_rand_int_range (0, 256);
      gsize n = peer_frame (in, f, f->peer, data, len);
      set_tos (in, n, v4, tos);
      gsize out_len;
      g_assert_cmpuint (run (in, n, out, &out_len), ==, XDP_TX);
      /* What the server core sends: ChannelData padded to 4 bytes. */
      gsize cn = ember_stun_channel_data_build (cd, sizeof cd, CH_MAIN, data, len);
      EmberAddr src = ip (f->client_local, LISTEN_PORT), dst = ip (f->client, CLIENT_PORT);
      gsize wn = frame (want, sizeof want, client_mac, relay_mac, &src, &dst, cd, cn);
      set_tos (want, wn, v4, tos);
      g_assert_cmpmem (out, (int) out_len, want, (int) wn);
      sent++;
      bytes += (guint) len;
    }
  ember_relay_xdp_read_stats (xdp, &after);
  g_assert_cmpuint (after.packets_to_client - before.packets_to_client, ==, sent);
  g_assert_cmpuint (after.bytes_to_client - before.bytes_to_client, ==, bytes);
  unbind_all (f);
}

/* An IPv4 datagram without a UDP checksum (0, RFC 768) leaves without. */
static void
test_zero_checksum (void)
{
  const Family *f = &families[0];
  bind_all (f);
  guint8 data[37], in[4096], out[4096], want[4096];
  fill (data, sizeof data, 7);
  gsize n = client_frame (in, f, CH_MAIN, data, sizeof data);
  in[ETH + 20 + 6] = in[ETH + 20 + 7] = 0;
  gsize out_len;
  g_assert_cmpuint (run (in, n, out, &out_len), ==, XDP_TX);
  EmberAddr src = ip (f->peer_local, ALLOC_PORT), dst = ip (f->peer, PEER_PORT);
  gsize wn = frame (want, sizeof want, peer_mac, relay_mac, &src, &dst, data, sizeof data);
  want[ETH + 20 + 6] = want[ETH + 20 + 7] = 0;
  g_assert_cmpmem (out, (int) out_len, want, (int) wn);
  unbind_all (f);
}

/* ---- what goes up ------------------------------------------------------------ */

/* The frame comes back XDP_PASS, unchanged, counted under `reason`
 * (-1: not counted at all, it is not the relay's). */
static void
assert_pass (const guint8 *in, gsize n, int reason)
{
  EmberRelayXdpStats before, after;
  ember_relay_xdp_read_stats (xdp, &before);
  guint8 out[4096];
  gsize out_len;
  g_assert_cmpuint (run (in, n, out, &out_len), ==, XDP_PASS);
  g_assert_cmpmem (out, (int) out_len, in, (int) n);
  ember_relay_xdp_read_stats (xdp, &after);
  for (guint i = 0; i < G_N_ELEMENTS (after.passed); i++)
    if (after.passed[i] - before.passed[i] != ((int) i == reason ? 1u : 0u))
      g_test_message ("counted under %s, expected %s", ember_relay_xdp_pass_reason (i),
                      reason >= 0 ? ember_relay_xdp_pass_reason ((guint) reason) : "none");
  for (guint i = 0; i < G_N_ELEMENTS (after.passed); i++)
    g_assert_cmpuint (after.passed[i] - before.passed[i], ==, ((int) i == reason ? 1u : 0u));
  g_assert_cmpuint (after.packets_to_peer, ==, before.packets_to_peer);
  g_assert_cmpuint (after.packets_to_client, ==, before.packets_to_client);
}

static int
reason (const char *name)
{
  for (guint i = 0; ember_relay_xdp_pass_reason (i) != NULL; i++)
    if (strcmp (ember_relay_xdp_pass_reason (i), name) == 0)
      return (int) i;
  g_assert_not_reached ();
}

static gsize
stun_frame (guint8 *buf, const Family *f, guint16 method, guint16 klass)
{
  guint8 msg[256], tid[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
  EmberStunBuilder b;
  ember_stun_builder_init (&b, msg, sizeof msg, method, klass, tid);
  if (method == EMBER_STUN_METHOD_SEND)
    {
      EmberAddr peer = ip (f->peer, PEER_PORT);
      ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, &peer);
      ember_stun_builder_add (&b, EMBER_STUN_ATTR_DATA, (const guint8 *) "data", 4);
    }
  gsize n = ember_stun_builder_finish (&b, NULL);
  g_assert_cmpuint (n, >, 0);
  EmberAddr src = ip (f->client, CLIENT_PORT), dst = ip (f->client_local, LISTEN_PORT);
  return frame (buf, 4096, relay_mac, client_mac, &src, &dst, msg, n);
}

static void
test_passes (gconstpointer d)
{
  const Family *f = d;
  gboolean v4 = strcmp (f->name, "ipv4") == 0;
  bind_all (f);
  guint8 data[100], in[4096];
  fill (data, sizeof data, 3);
  gsize n;

  /* STUN to the listener: a request, a Send indication. */
  assert_pass (in, stun_frame (in, f, EMBER_STUN_METHOD_BINDING, EMBER_STUN_CLASS_REQUEST),
               reason ("stun"));
  assert_pass (in, stun_frame (in, f, EMBER_STUN_METHOD_SEND, EMBER_STUN_CLASS_INDICATION),
               reason ("stun"));

  /* Padded ChannelData (its length field shorter than the datagram). */
  guint8 cd[256];
  gsize cn = ember_stun_channel_data_build (cd, sizeof cd, CH_MAIN, data, 13);
  EmberAddr client = ip (f->client, CLIENT_PORT), listener = ip (f->client_local, LISTEN_PORT);
  n = frame (in, sizeof in, relay_mac, client_mac, &client, &listener, cd, cn);
  assert_pass (in, n, reason ("padded"));
  /* Short: the length field claims more than the datagram holds, or
   * not even the header is there. */
  n = frame (in, sizeof in, relay_mac, client_mac, &client, &listener, cd, 4 + 10);
  assert_pass (in, n, reason ("malformed"));
  n = frame (in, sizeof in, relay_mac, client_mac, &client, &listener, cd, 3);
  assert_pass (in, n, reason ("malformed"));

  /* Unknown channel, unknown client port, another local address. */
  assert_pass (in, client_frame (in, f, 0x4abc, data, 20), reason ("unbound"));
  EmberAddr other_client = ip (f->client, CLIENT_PORT + 1);
  cn = 4 + 20;
  ember_stun_channel_data_build (cd, sizeof cd, CH_MAIN, data, 20);
  n = frame (in, sizeof in, relay_mac, client_mac, &other_client, &listener, cd, cn);
  assert_pass (in, n, reason ("unbound"));
  EmberAddr other_local = ip (f->other_local, LISTEN_PORT);
  n = frame (in, sizeof in, relay_mac, client_mac, &client, &other_local, cd, cn);
  assert_pass (in, n, reason ("unbound"));
  /* A peer (address and port) without a channel: its datagrams become
   * Data indications in user space. */
  EmberAddr other_peer = ip (f->peer, PEER_PORT + 1), alloc = ip (f->peer_local, ALLOC_PORT);
  n = frame (in, sizeof in, relay_mac, peer_mac, &other_peer, &alloc, data, 20);
  assert_pass (in, n, reason ("unbound"));

  /* Past the deadline, not yet removed. */
  assert_pass (in, client_frame (in, f, CH_EXPIRED, data, 20), reason ("expired"));
  /* The route is known, the neighbour not (yet); no route at all; the
   * way out is an interface without the program. */
  assert_pass (in, client_frame (in, f, CH_NO_NEIGH, data, 20), reason ("no_neighbour"));
  assert_pass (in, client_frame (in, f, CH_NO_ROUTE, data, 20), reason ("no_route"));
  assert_pass (in, client_frame (in, f, CH_OTHER_IF, data, 20), reason ("no_route"));

  /* From the peer, a datagram as large as the MTU: with the ChannelData
   * header it would not fit. */
  guint8 big[MTU];
  gsize big_len = MTU - (v4 ? 20 : 40) - 8;
  fill (big, big_len, 9);
  assert_pass (in, peer_frame (in, f, f->peer, big, big_len), reason ("too_big"));
  /* Four bytes less still fits. */
  {
    guint8 out[4096];
    gsize out_len;
    n = peer_frame (in, f, f->peer, big, big_len - 4);
    g_assert_cmpuint (run (in, n, out, &out_len), ==, XDP_TX);
  }

  /* Not for the relay's ports: untouched and not counted. */
  EmberAddr dns = ip (f->client_local, 53);
  n = frame (in, sizeof in, relay_mac, client_mac, &client, &dns, data, 20);
  assert_pass (in, n, -1);

  if (v4)
    {
      /* IP options: four NOPs make a 24-byte header. */
      n = client_frame (in, f, CH_MAIN, data, 20);
      memmove (in + ETH + 24, in + ETH + 20, n - ETH - 20);
      memset (in + ETH + 20, 1, 4);
      in[ETH] = 0x46;
      in[ETH + 3] = (guint8) (in[ETH + 3] + 4);
      n += 4;
      fix_checksums (in, n);
      assert_pass (in, n, reason ("ip"));
      /* A first fragment (more fragments follow). */
      n = client_frame (in, f, CH_MAIN, data, 20);
      in[ETH + 6] = 0x20;
      fix_checksums (in, n);
      assert_pass (in, n, reason ("ip"));
      /* Ethernet padding after a short packet is cut, not relayed. */
      guint8 out[4096], want[4096];
      gsize out_len;
      n = client_frame (in, f, CH_MAIN, data, 2);
      memset (in + n, 0, 60 - n);
      g_assert_cmpuint (run (in, 60, out, &out_len), ==, XDP_TX);
      EmberAddr src = ip (f->peer_local, ALLOC_PORT), dst = ip (f->peer, PEER_PORT);
      gsize wn = frame (want, sizeof want, peer_mac, relay_mac, &src, &dst, data, 2);
      g_assert_cmpmem (out, (int) out_len, want, (int) wn);
    }
  else
    {
      /* An extension header (hop-by-hop, PadN) before UDP: left to the
       * kernel without looking further. */
      n = client_frame (in, f, CH_MAIN, data, 20);
      memmove (in + ETH + 48, in + ETH + 40, n - ETH - 40);
      static const guint8 hbh[8] = { 17, 0, 1, 4, 0, 0, 0, 0 };
      memcpy (in + ETH + 40, hbh, sizeof hbh);
      in[ETH + 6] = 0;
      in[ETH + 5] = (guint8) (in[ETH + 5] + 8);
      n += 8;
      assert_pass (in, n, -1);
    }
  unbind_all (f);
}

/* Once unbound (the core's CHANNEL_UNBOUND), both directions go up. */
static void
test_unbound_goes_up (gconstpointer d)
{
  const Family *f = d;
  bind_all (f);
  guint8 data[40], in[4096], out[4096];
  fill (data, sizeof data, 5);
  gsize out_len;
  gsize n = client_frame (in, f, CH_MAIN, data, sizeof data);
  g_assert_cmpuint (run (in, n, out, &out_len), ==, XDP_TX);
  EmberRelayXdpStats s;
  ember_relay_xdp_read_stats (xdp, &s);
  g_assert_cmpuint (s.bindings, ==, 5);
  unbind_all (f);
  ember_relay_xdp_read_stats (xdp, &s);
  g_assert_cmpuint (s.bindings, ==, 0);
  assert_pass (in, n, reason ("unbound"));
  assert_pass (in, peer_frame (in, f, f->peer, data, sizeof data), reason ("unbound"));
}

/* Damaged versions of good frames (bytes flipped, cut short, grown):
 * whatever the program makes of them is either handed up untouched or
 * a well-formed datagram whose checksums verify exactly when the
 * input's did. */
static void
test_damaged_frames (gconstpointer d)
{
  const Family *f = d;
  bind_all (f);
  guint relayed = 0;
  for (guint i = 0; i < 3000; i++)
    {
      guint8 data[300], in[4096], out[4096];
      gsize len = (gsize) g_test_rand_int_range (0, 300);
      fill (data, len, g_test_rand_int ());
      gsize n = (i & 1) ? client_frame (in, f, CH_MAIN, data, len)
                        : peer_frame (in, f, f->peer, data, len);
      guint damage = (guint) g_test_rand_int_range (0, 4);
      for (guint k = 0; k < damage; k++)
        in[g_test_rand_int_range (ETH, (gint32) n)] ^= (guint8) g_test_rand_int_range (1, 256);
      if (g_test_rand_int_range (0, 4) == 0)
        n = (gsize) g_test_rand_int_range (ETH, (gint32) n + 1);
      else if (g_test_rand_int_range (0, 8) == 0)
        {
          gsize grow = (gsize) g_test_rand_int_range (1, 8);
          memset (in + n, 0xa5, grow);
          n += grow;
        }
      /* What the input was worth, by core/packet's reading. */
      guint8 copy[4096];
      memcpy (copy, in, n);
      EmberIpPacket orig;
      gboolean parsed = ember_ip_packet_parse (&orig, copy, n, ETH, n - ETH) == EMBER_PACKET_OK;
      gboolean sound = parsed && ember_ip_packet_verify_checksums (&orig) == EMBER_PACKET_OK;
      gsize out_len;
      guint32 rv = run (in, n, out, &out_len);
      if (rv == XDP_PASS)
        {
          g_assert_cmpmem (out, (int) out_len, in, (int) n);
          continue;
        }
      g_assert_cmpuint (rv, ==, XDP_TX);
      relayed++;
      EmberIpPacket pkt;
      g_assert_cmpint (ember_ip_packet_parse (&pkt, out, out_len, ETH, out_len - ETH), ==,
                       EMBER_PACKET_OK);
      g_assert_cmpuint (ETH + ember_ip_packet_len (&pkt), ==, out_len);
      /* The checksum is adjusted, not recomputed: a datagram that came in
       * damaged leaves damaged (its receiver drops it), a sound one
       * leaves sound. */
      g_assert_true (parsed);
      g_assert_cmpint (ember_ip_packet_verify_checksums (&pkt) == EMBER_PACKET_OK, ==, sound);
    }
  /* Most damage lands in the payload and is relayed as it is. */
  g_assert_cmpuint (relayed, >, 0);
  unbind_all (f);
}

/* A network namespace of this process only (it ends with the process):
 * the relay's addresses on xdpu0, client and peer behind it with
 * permanent neighbour entries; xdpu2 holds a subnet on an interface
 * without the program. */
static gboolean
setup_namespace (char **why)
{
  if (unshare (CLONE_NEWNET) != 0)
    {
      *why = g_strdup_printf ("unshare(CLONE_NEWNET): %s", g_strerror (errno));
      return FALSE;
    }
  g_autofree char *ip_cmd = g_find_program_in_path ("ip");
  if (ip_cmd == NULL)
    {
      *why = g_strdup ("ip (iproute2) is not installed");
      return FALSE;
    }
  const char *cmds[] = {
    "ip link set lo up",
    "ip link add xdpu0 mtu 1280 address 02:00:00:00:00:01 type veth peer name xdpu1",
    "ip link add xdpu2 type veth peer name xdpu3",
    "ip link set xdpu0 up", "ip link set xdpu1 up", "ip link set xdpu2 up", "ip link set xdpu3 up",
    "ip addr add 198.51.100.1/24 dev xdpu0", "ip addr add 203.0.113.1/24 dev xdpu0",
    "ip addr add 2001:db8:c::1/64 dev xdpu0 nodad", "ip addr add 2001:db8:e::1/64 dev xdpu0 nodad",
    "ip addr add 100.64.0.1/24 dev xdpu2", "ip addr add 2001:db8:64::1/64 dev xdpu2 nodad",
    "ip neigh add 198.51.100.10 lladdr 02:00:00:00:00:0c dev xdpu0 nud permanent",
    "ip neigh add 203.0.113.20 lladdr 02:00:00:00:00:0e dev xdpu0 nud permanent",
    "ip neigh add 203.0.113.21 lladdr 02:00:00:00:00:0e dev xdpu0 nud permanent",
    "ip neigh add 2001:db8:c::10 lladdr 02:00:00:00:00:0c dev xdpu0 nud permanent",
    "ip neigh add 2001:db8:e::20 lladdr 02:00:00:00:00:0e dev xdpu0 nud permanent",
    "ip neigh add 2001:db8:e::21 lladdr 02:00:00:00:00:0e dev xdpu0 nud permanent",
    "ip neigh add 100.64.0.5 lladdr 02:00:00:00:00:0e dev xdpu2 nud permanent",
    "ip neigh add 2001:db8:64::5 lladdr 02:00:00:00:00:0e dev xdpu2 nud permanent",
  };
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++)
    sh (cmds[i]);
  ifindex = (int) if_nametoindex ("xdpu0");
  g_assert_cmpint (ifindex, >, 0);
  return TRUE;
}

#endif /* EMBER_RELAY_HAVE_XDP */

static void
test_skip (gconstpointer why)
{
  g_test_skip (why);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  char *why = NULL;
#ifdef EMBER_RELAY_HAVE_XDP
  if (geteuid () != 0)
    why = g_strdup ("needs root (CAP_BPF, CAP_NET_ADMIN) for bpf_prog_test_run and a namespace");
  else if (setup_namespace (&why))
    {
      guint16 listen = LISTEN_PORT;
      EmberRelayXdpConfig config = {
        .listen_ports = &listen, .n_listen_ports = 1,
        .port_min = 49152, .port_max = 65535, .detached = TRUE,
      };
      g_autoptr (GError) error = NULL;
      xdp = ember_relay_xdp_new (EMBER_RELAY_XDP_NATIVE, &config, &error);
      g_assert_no_error (error);
      for (guint i = 0; i < G_N_ELEMENTS (families); i++)
        {
          const Family *f = &families[i];
          g_autofree char *p1 = g_strdup_printf ("/relay/xdp/%s/client-to-peer/byte-exact", f->name);
          g_autofree char *p2 = g_strdup_printf ("/relay/xdp/%s/peer-to-client/byte-exact", f->name);
          g_autofree char *p3 = g_strdup_printf ("/relay/xdp/%s/passes-up-what-it-is-not-sure-of", f->name);
          g_autofree char *p4 = g_strdup_printf ("/relay/xdp/%s/unbound-channel-goes-up", f->name);
          g_test_add_data_func (p1, f, test_client_to_peer);
          g_test_add_data_func (p2, f, test_peer_to_client);
          g_test_add_data_func (p3, f, test_passes);
          g_test_add_data_func (p4, f, test_unbound_goes_up);
          g_autofree char *p5 = g_strdup_printf ("/relay/xdp/%s/damaged-frames-pass-untouched-or-verify", f->name);
          g_test_add_data_func (p5, f, test_damaged_frames);
        }
      g_test_add_func ("/relay/xdp/ipv4/zero-udp-checksum-stays-zero", test_zero_checksum);
      int rc = g_test_run ();
      ember_relay_xdp_free (xdp);
      return rc;
    }
#else
  why = g_strdup ("ember-relay was built without XDP (libbpf, clang or bpftool missing)");
#endif
  g_test_add_data_func ("/relay/xdp/skipped", why, test_skip);
  int rc = g_test_run ();
  g_free (why);
  return rc;
}
