/* Unit tests for the pure parts of plugins/tun-linux: super-packet split,
 * GSO coalescing (and the round trip between them), the flow hash, the
 * configuration group and the bounded channel's backpressure. */
#include "channel.h"
#include "config.h"
#include "csum.h"
#include "flow.h"
#include "offload.h"

#include <string.h>

#define TCP_HDR_LEN 32 /* with a 12-byte timestamp option */

static const guint8 src4[4] = { 10, 77, 0, 1 }, dst4[4] = { 10, 77, 1, 2 };
static const guint8 src6[16] = { 0xfd, 0x77, [15] = 1 }, dst6[16] = { 0xfd, 0x77, [15] = 2 };

/* Builds the headers of a TCP or UDP packet with `plen` payload bytes of
 * a pattern starting at `offset`; checksums complete unless `partial`,
 * where the L4 checksum holds the folded pseudo-header sum. */
static gsize
build_packet (guint8 *p, guint family, guint8 proto, gsize plen, guint32 seq, guint8 flags,
              guint16 id, gsize offset, gboolean partial)
{
  gsize l4 = family == 4 ? 20 : 40;
  gsize hl = l4 + (proto == 6 ? TCP_HDR_LEN : 8);
  gsize len = hl + plen;
  memset (p, 0, hl);
  if (family == 4)
    {
      p[0] = 0x45;
      tun_write16 (p + 2, (guint16) len);
      tun_write16 (p + 4, id);
      p[6] = 0x40; /* DF */
      p[8] = 64;
      p[9] = proto;
      memcpy (p + 12, src4, 4);
      memcpy (p + 16, dst4, 4);
      tun_write16 (p + 10, (guint16) ~tun_csum_fold (tun_csum_add (0, p, 20)));
    }
  else
    {
      p[0] = 0x60;
      tun_write16 (p + 4, (guint16) (len - 40));
      p[6] = proto;
      p[7] = 64;
      memcpy (p + 8, src6, 16);
      memcpy (p + 24, dst6, 16);
    }
  guint8 *t = p + l4;
  tun_write16 (t, 40000);
  tun_write16 (t + 2, 5201);
  if (proto == 6)
    {
      tun_write32 (t + 4, seq);
      tun_write32 (t + 8, 777);
      t[12] = (TCP_HDR_LEN / 4) << 4;
      t[13] = flags;
      tun_write16 (t + 14, 512);
      t[20] = 1;
      t[21] = 1;
      t[22] = 8; /* timestamps */
      t[23] = 10;
      tun_write32 (t + 24, 0x01020304);
    }
  else
    tun_write16 (t + 4, (guint16) (len - l4));
  for (gsize i = 0; i < plen; i++)
    p[hl + i] = (guint8) ((offset + i) * 13 + 5);

  guint8 *cs = t + (proto == 6 ? 16 : 6);
  guint64 pseudo = tun_csum_pseudo (family, p + (family == 4 ? 12 : 8),
                                    p + (family == 4 ? 16 : 24), proto, (guint32) (len - l4));
  if (partial)
    tun_write16 (cs, tun_csum_fold (pseudo));
  else
    tun_write16 (cs, (guint16) ~tun_csum_fold (tun_csum_add (pseudo, t, len - l4)));
  return len;
}

static void
assert_checksums (const guint8 *p, gsize len)
{
  guint family = p[0] >> 4;
  gsize l4 = family == 4 ? 20 : 40;
  guint8 proto = family == 4 ? p[9] : p[6];
  if (family == 4)
    g_assert_cmpuint (tun_csum_fold (tun_csum_add (0, p, 20)), ==, 0xffff);
  guint64 pseudo = tun_csum_pseudo (family, p + (family == 4 ? 12 : 8),
                                    p + (family == 4 ? 16 : 24), proto, (guint32) (len - l4));
  g_assert_cmpuint (tun_csum_fold (tun_csum_add (pseudo, p + l4, len - l4)), ==, 0xffff);
}

static void
check_split (guint family, guint8 proto)
{
  const gsize plen = 5000, mss = 1200;
  g_autofree guint8 *super = g_malloc (65536);
  gsize len = build_packet (super, family, proto, plen, 1000, 0x18 /* ACK|PSH */, 100, 0, TRUE);
  gsize l4 = family == 4 ? 20 : 40;
  gsize hl = l4 + (proto == 6 ? TCP_HDR_LEN : 8);
  struct virtio_net_hdr h = {
    .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
    .gso_type = proto == 17 ? VIRTIO_NET_HDR_GSO_UDP_L4
                : family == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
    .hdr_len = (guint16) hl,
    .gso_size = (guint16) mss,
    .csum_start = (guint16) l4,
    .csum_offset = proto == 6 ? 16 : 6,
  };

  TunSplit s;
  g_assert_true (tun_split_init (&s, &h, super, len));
  guint8 seg[1400];
  guint8 *segs[8];
  gsize lens[8];
  guint n = 0;
  gssize m;
  gsize off = 0;
  while ((m = tun_split_next (&s, seg, sizeof seg)) > 0)
    {
      g_assert_cmpuint (n, <, 8);
      gsize chunk = MIN (mss, plen - off);
      g_assert_cmpuint ((gsize) m, ==, hl + chunk);
      assert_checksums (seg, (gsize) m);
      if (family == 4)
        {
          g_assert_cmpuint (tun_read16 (seg + 2), ==, m);
          g_assert_cmpuint (tun_read16 (seg + 4), ==, 100 + n);
        }
      else
        g_assert_cmpuint (tun_read16 (seg + 4), ==, m - 40);
      if (proto == 6)
        {
          g_assert_cmpuint (tun_read32 (seg + l4 + 4), ==, 1000 + off);
          gboolean last = off + chunk == plen;
          g_assert_cmpuint (seg[l4 + 13], ==, last ? 0x18 : 0x10);
        }
      else
        g_assert_cmpuint (tun_read16 (seg + l4 + 4), ==, m - l4);
      for (gsize i = 0; i < chunk; i++)
        g_assert_cmpuint (seg[hl + i], ==, (guint8) ((off + i) * 13 + 5));
      segs[n] = g_memdup2 (seg, (gsize) m);
      lens[n] = (gsize) m;
      n++;
      off += chunk;
    }
  g_assert_cmpint (m, ==, 0);
  g_assert_cmpuint (n, ==, 5);

  /* Coalesce the segments back: one group, and splitting what it
   * describes gives the same segments again. */
  g_autofree guint8 *copy[8] = { NULL };
  guint8 *ptrs[8];
  for (guint i = 0; i < n; i++)
    ptrs[i] = copy[i] = g_memdup2 (segs[i], lens[i]);
  TunGsoGroup groups[8];
  gint next[8];
  guint ng = tun_coalesce (ptrs, lens, n, TRUE, TRUE, groups, next);
  g_assert_cmpuint (ng, ==, 1);
  g_assert_cmpuint (groups[0].count, ==, 5);
  g_assert_cmpuint (groups[0].hdr.gso_type, ==, h.gso_type);
  g_assert_cmpuint (groups[0].hdr.gso_size, ==, mss);
  g_assert_cmpuint (groups[0].hdr.csum_start, ==, l4);
  g_assert_cmpuint (groups[0].hdr.flags, ==, VIRTIO_NET_HDR_F_NEEDS_CSUM);

  g_autofree guint8 *rebuilt = g_malloc (65536);
  gsize rlen = 0;
  for (gint j = (gint) groups[0].first; j >= 0; j = next[j])
    {
      gsize skip = j == (gint) groups[0].first ? 0 : groups[0].hdrlen;
      memcpy (rebuilt + rlen, ptrs[j] + skip, lens[j] - skip);
      rlen += lens[j] - skip;
    }
  g_assert_cmpuint (rlen, ==, len);
  g_assert_true (tun_split_init (&s, &groups[0].hdr, rebuilt, rlen));
  for (guint i = 0; i < n; i++)
    {
      m = tun_split_next (&s, seg, sizeof seg);
      g_assert_cmpmem (seg, (int) m, segs[i], (int) lens[i]);
      g_free (segs[i]);
    }
  g_assert_cmpint (tun_split_next (&s, seg, sizeof seg), ==, 0);
  for (guint i = 0; i < n; i++)
    g_free (copy[i]);
  memset (copy, 0, sizeof copy);
}

static void
test_split_tcp4 (void)
{
  check_split (4, 6);
}

static void
test_split_tcp6 (void)
{
  check_split (6, 6);
}

static void
test_split_udp4 (void)
{
  check_split (4, 17);
}

static void
test_split_udp6 (void)
{
  check_split (6, 17);
}

static void
test_partial_checksum_completed (void)
{
  guint8 p[200];
  gsize len = build_packet (p, 4, 17, 100, 0, 0, 1, 0, TRUE);
  struct virtio_net_hdr h = {
    .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 20, .csum_offset = 6,
  };
  TunSplit s;
  g_assert_true (tun_split_init (&s, &h, p, len));
  guint8 out[200];
  g_assert_cmpint (tun_split_next (&s, out, sizeof out), ==, (gssize) len);
  assert_checksums (out, len);
  g_assert_cmpint (tun_split_next (&s, out, sizeof out), ==, 0);

  /* A checksum offset pointing past the end is refused. */
  h.csum_offset = 200;
  g_assert_false (tun_split_init (&s, &h, p, len));
}

/* Every truncation and a field of garbage: errors, never a crash. */
static void
test_split_malformed (void)
{
  g_autofree guint8 *super = g_malloc (65536);
  g_autofree guint8 *work = g_malloc (65536);
  gsize len = build_packet (super, 4, 6, 3000, 1, 0x10, 1, 0, TRUE);
  struct virtio_net_hdr h = {
    .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
    .gso_size = 1000, .csum_start = 20, .csum_offset = 16,
  };
  guint8 seg[1500];
  for (gsize cut = 0; cut < len; cut++)
    {
      memcpy (work, super, cut);
      TunSplit s;
      if (tun_split_init (&s, &h, work, cut))
        while (tun_split_next (&s, seg, sizeof seg) > 0)
          ;
    }
  /* A wrong GSO type for the IP version, and a zero segment size. */
  h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
  TunSplit s;
  g_assert_false (tun_split_init (&s, &h, super, len));
  h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  h.gso_size = 0;
  g_assert_false (tun_split_init (&s, &h, super, len));
  /* A segment that does not fit the output buffer. */
  h.gso_size = 1400;
  g_assert_true (tun_split_init (&s, &h, super, len));
  g_assert_cmpint (tun_split_next (&s, seg, 100), ==, -1);

  GRand *rand = g_rand_new_with_seed (4);
  for (guint round = 0; round < 2000; round++)
    {
      gsize n = g_rand_int_range (rand, 0, 2000);
      for (gsize i = 0; i < n; i++)
        work[i] = (guint8) g_rand_int (rand);
      struct virtio_net_hdr r;
      guint8 *rh = (guint8 *) &r;
      for (gsize i = 0; i < sizeof r; i++)
        rh[i] = (guint8) g_rand_int (rand);
      if (tun_split_init (&s, &r, work, n))
        for (guint k = 0; k < 100 && tun_split_next (&s, seg, sizeof seg) > 0; k++)
          ;
      guint8 *ptrs[1] = { work };
      gsize lens[1] = { n };
      TunGsoGroup g[1];
      gint next[1];
      g_assert_cmpuint (tun_coalesce (ptrs, lens, 1, TRUE, TRUE, g, next), ==, 1);
    }
  g_rand_free (rand);
}

/* Interleaved flows keep their own order; gaps, SYNs and short segments
 * end a group. */
static void
test_coalesce_flows (void)
{
  guint8 mem[8][1500];
  guint8 *ptrs[8];
  gsize lens[8];
  for (guint i = 0; i < 8; i++)
    ptrs[i] = mem[i];

  /* Flow A: seq 0, 1000, 2000 (full), flow B (UDP) interleaved. */
  lens[0] = build_packet (mem[0], 4, 6, 1000, 0, 0x10, 1, 0, FALSE);
  lens[1] = build_packet (mem[1], 4, 17, 500, 0, 0, 2, 0, FALSE);
  lens[2] = build_packet (mem[2], 4, 6, 1000, 1000, 0x10, 3, 1000, FALSE);
  lens[3] = build_packet (mem[3], 4, 17, 500, 0, 0, 4, 0, FALSE);
  lens[4] = build_packet (mem[4], 4, 6, 1000, 2000, 0x10, 5, 2000, FALSE);
  /* Gap in A: a new group. */
  lens[5] = build_packet (mem[5], 4, 6, 1000, 9000, 0x10, 6, 9000, FALSE);
  /* SYN: alone. */
  lens[6] = build_packet (mem[6], 4, 6, 0, 0, 0x02, 7, 0, FALSE);
  lens[7] = build_packet (mem[7], 4, 6, 1000, 10000, 0x10, 8, 10000, FALSE);

  TunGsoGroup groups[8];
  gint next[8];
  guint ng = tun_coalesce (ptrs, lens, 8, TRUE, TRUE, groups, next);
  g_assert_cmpuint (ng, ==, 5);
  g_assert_cmpuint (groups[0].first, ==, 0);
  g_assert_cmpuint (groups[0].count, ==, 3);
  g_assert_cmpint (next[0], ==, 2);
  g_assert_cmpint (next[2], ==, 4);
  g_assert_cmpint (next[4], ==, -1);
  g_assert_cmpuint (groups[1].first, ==, 1);
  g_assert_cmpuint (groups[1].count, ==, 2);
  g_assert_cmpuint (groups[1].hdr.gso_type, ==, VIRTIO_NET_HDR_GSO_UDP_L4);
  g_assert_cmpuint (groups[2].first, ==, 5);
  g_assert_cmpuint (groups[2].count, ==, 1);
  g_assert_cmpuint (groups[2].hdr.gso_type, ==, VIRTIO_NET_HDR_GSO_NONE);
  g_assert_cmpuint (groups[3].first, ==, 6);
  g_assert_cmpuint (groups[3].count, ==, 1);
  /* Packet 7 follows 5 in sequence but the SYN of the same flow came
   * between: it must not overtake the SYN by joining 5. */
  g_assert_cmpint (next[5], ==, -1);
  g_assert_cmpuint (groups[4].first, ==, 7);

  /* Without UDP offload, UDP packets go alone. */
  lens[1] = build_packet (mem[1], 4, 17, 500, 0, 0, 2, 0, FALSE);
  lens[3] = build_packet (mem[3], 4, 17, 500, 0, 0, 4, 0, FALSE);
  ng = tun_coalesce (ptrs + 1, lens + 1, 3, TRUE, FALSE, groups, next);
  g_assert_cmpuint (ng, ==, 3);
}

static void
test_flow_hash (void)
{
  guint8 a[1500], b[1500];
  gsize la = build_packet (a, 4, 6, 100, 0, 0x10, 1, 0, FALSE);
  gsize lb = build_packet (b, 4, 6, 900, 5000, 0x18, 2, 0, FALSE);
  /* Same 5-tuple, different contents: same queue. */
  g_assert_cmpuint (tun_flow_hash (a, la), ==, tun_flow_hash (b, lb));
  /* Another source port: (almost surely) another hash. */
  b[21] ^= 1;
  g_assert_cmpuint (tun_flow_hash (a, la), !=, tun_flow_hash (b, lb));
  /* A non-first fragment hashes on addresses only. */
  b[21] ^= 1;
  b[6] = 0x00;
  b[7] = 0x10;
  a[6] = 0x20;
  a[21] ^= 1;
  g_assert_cmpuint (tun_flow_hash (a, la), ==, tun_flow_hash (b, lb));
  g_assert_cmpuint (tun_flow_queue (a, 3, 4), ==, 0);
  g_assert_cmpuint (tun_flow_queue (a, la, 1), ==, 0);
}

static GKeyFile *
keyfile (const char *text)
{
  GKeyFile *kf = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (kf, text, (gsize) -1, G_KEY_FILE_NONE, NULL));
  return kf;
}

static void
test_config (void)
{
  TunConfig c;
  g_autoptr (GError) error = NULL;

  g_assert_true (tun_config_parse (NULL, "tun-linux", &c, &error));
  g_assert_cmpstr (c.name, ==, "ember0");
  g_assert_cmpuint (c.mtu, ==, 1280);
  tun_config_clear (&c);

  g_autoptr (GKeyFile) good = keyfile (
    "[tun]\nname=em1\nmtu=1400\naddress=10.0.0.1/32;fd00::1/128\n"
    "route=10.1.0.0/16;fd00:1::/64\ntxqueuelen=1000\nqueues=4\noffload=false\n");
  g_assert_true (tun_config_parse (good, "tun", &c, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (c.name, ==, "em1");
  g_assert_cmpuint (c.mtu, ==, 1400);
  g_assert_cmpuint (c.n_addresses, ==, 2);
  g_assert_cmpuint (c.addresses[1].family, ==, 6);
  g_assert_cmpuint (c.n_routes, ==, 2);
  g_assert_cmpuint (c.routes[0].prefix, ==, 16);
  g_assert_cmpint (c.txqueuelen, ==, 1000);
  g_assert_cmpuint (c.queues, ==, 4);
  g_assert_false (c.offload);
  tun_config_clear (&c);

  static const struct {
    const char *text;
    const char *key;
  } bad[] = {
    { "[tun]\nnmae=x\n", "nmae" },
    { "[tun]\nmtu=12\n", "mtu" },
    { "[tun]\nmtu=1280x\n", "mtu" },
    { "[tun]\nmtu=1000\naddress=fd00::1/64\n", "mtu" },
    { "[tun]\nqueues=0\n", "queues" },
    { "[tun]\nqueues=17\n", "queues" },
    { "[tun]\noffload=maybe\n", "offload" },
    { "[tun]\nname=a/b\n", "name" },
    { "[tun]\nname=abcdefghijklmnopq\n", "name" },
    { "[tun]\naddress=10.0.0.300/24\n", "address" },
    { "[tun]\nroute=10.0.0.1/8\n", "route" },
    { "[tun]\nroute=10.0.0.0/33\n", "route" },
    { "[tun]\ntxqueuelen=-1\n", "txqueuelen" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GKeyFile) kf = keyfile (bad[i].text);
      g_autoptr (GError) e = NULL;
      g_assert_false (tun_config_parse (kf, "tun", &c, &e));
      g_assert_error (e, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_CONFIG);
      g_autofree char *want = g_strdup_printf ("[tun] %s:", bad[i].key);
      if (!g_str_has_prefix (e->message, want))
        g_error ("case %u: \"%s\" does not start with \"%s\"", i, e->message, want);
      g_assert_null (c.addresses);
    }

  EmberCidr cidr;
  g_assert_true (ember_cidr_parse ("192.0.2.7", EMBER_CIDR_PARSE_BARE, &cidr, NULL));
  g_assert_cmpuint (cidr.prefix, ==, 32);
  g_assert_false (ember_cidr_parse ("192.0.2.7/24", EMBER_CIDR_PARSE_BARE, &cidr, NULL));
  g_assert_true (ember_cidr_parse ("192.0.2.7/24",
                                   EMBER_CIDR_PARSE_BARE | EMBER_CIDR_PARSE_KEEP_HOST_BITS, &cidr,
                                   NULL));
  char buf[64];
  g_assert_cmpstr (ember_cidr_format (&cidr, buf), ==, "192.0.2.7/24");
}

static void
count_wake (EmberWaker *w)
{
  (void) w;
}

typedef struct {
  EmberWaker base;
  gint woken;
} CountingWaker;

static void
counting_wake (EmberWaker *w)
{
  g_atomic_int_inc (&((CountingWaker *) w)->woken);
}

static gpointer
drain_one (gpointer data)
{
  TunChannel *ch = data;
  guint8 *p[4];
  gsize l[4];
  guint n = tun_channel_take (ch, p, l, 1);
  tun_channel_release (ch, n);
  return GUINT_TO_POINTER (n);
}

static void
test_channel_backpressure (void)
{
  TunChannel *ch = tun_channel_new (4, 100);
  CountingWaker w = { .base.wake = counting_wake };
  guint8 pkt[100] = { 0x45 };

  for (guint i = 0; i < 4; i++)
    {
      g_assert_true (tun_channel_poll_room (ch, &w.base));
      g_assert_true (tun_channel_try_push (ch, pkt, 10 + i));
    }
  g_assert_false (tun_channel_has_room (ch));
  g_assert_false (tun_channel_poll_room (ch, &w.base));
  g_assert_false (tun_channel_try_push (ch, pkt, 10));
  g_assert_false (tun_channel_try_push (ch, pkt, 101));
  g_assert_cmpint (g_atomic_int_get (&w.woken), ==, 0);

  GThread *t = g_thread_new ("drain", drain_one, ch);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_thread_join (t)), ==, 1);
  /* The writer freed a slot: the stored waker fired, once. */
  g_assert_cmpint (g_atomic_int_get (&w.woken), ==, 1);
  g_assert_true (tun_channel_poll_room (ch, &w.base));

  /* Copying consumer: order kept, too-small slots flagged. */
  guint8 mem[3][100];
  EmberPacket batch[3] = {
    { .data = mem[0], .capacity = 100 },
    { .data = mem[1], .capacity = 11 },
    { .data = mem[2], .capacity = 100 },
  };
  guint64 dropped = 0;
  EmberWaker dummy = { .wake = count_wake };
  g_assert_cmpuint (tun_channel_pop_many (ch, batch, 3, &dummy, &dropped), ==, 3);
  g_assert_cmpuint (batch[0].len, ==, 11);
  g_assert_cmpint (batch[1].error, !=, 0);
  g_assert_cmpuint (batch[2].len, ==, 13);
  g_assert_cmpuint (dropped, ==, 1);
  tun_channel_close (ch);
  g_assert_false (tun_channel_try_push (ch, pkt, 10));
  tun_channel_free (ch);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tun/offload/split/tcp4-super-packet-round-trips", test_split_tcp4);
  g_test_add_func ("/tun/offload/split/tcp6-super-packet-round-trips", test_split_tcp6);
  g_test_add_func ("/tun/offload/split/udp4-super-packet-round-trips", test_split_udp4);
  g_test_add_func ("/tun/offload/split/udp6-super-packet-round-trips", test_split_udp6);
  g_test_add_func ("/tun/offload/split/completes-partial-checksum", test_partial_checksum_completed);
  g_test_add_func ("/tun/offload/split/malformed-never-crashes", test_split_malformed);
  g_test_add_func ("/tun/offload/coalesce/keeps-flows-and-order", test_coalesce_flows);
  g_test_add_func ("/tun/flow/hash-keeps-flow-on-one-queue", test_flow_hash);
  g_test_add_func ("/tun/config/parses-and-rejects", test_config);
  g_test_add_func ("/tun/channel/backpressure-wakes-when-room-frees", test_channel_backpressure);
  return g_test_run ();
}
