/* bench-gateway-policy.c — what the gateway's packet check costs next to
 * the crypto it follows.
 *
 * Not a test (bench/gateway-policy.sh runs it). In one process and one
 * run: 1280-byte packets decapsulated by the WireGuard engine alone, then
 * decapsulated and checked by the gateway policy (gateway-policy.h), and
 * the check alone for tables of growing size. Prints packets per second
 * and the ratio with/without the check (goal: >= 0.9, issue 12). Times
 * are this thread's CPU time, so other load on the machine cancels out.
 *
 *   bench-gateway-policy [seconds-per-phase]
 */
#include <glib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "net/prefix-table.h"
#include "packet/packet.h"
#include "tunnel/gateway-policy.h"
#include "wire.h"

#define PKT 1280
#define BATCH 256
#define SLOT (EMBER_WG_HEADROOM + PKT + EMBER_WG_TAILROOM)

/* This thread's CPU time in µs: the machine is shared, and time spent
 * descheduled would land on whichever phase happened to be running. */
static gint64
cpu_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
rng (gpointer data, guint8 *buf, gsize len)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) g_rand_int (data);
}

static void
deliver (EmberWgEngine *from, EmberWgEngine *to, const EmberAddr *from_addr, gint64 now)
{
  guint8 buf[EMBER_WG_TRANSMIT_MAX];
  EmberWgTransmit tx;

  while (ember_wg_engine_poll_transmit (from, now, buf, sizeof buf, &tx))
    {
      gsize off = 0, len = tx.len;
      EmberWgPeer *peer;

      ember_wg_engine_decapsulate (to, now, from_addr, buf, &off, &len, &peer);
    }
}

/* `clients` clients with `resources` resources each: /24s in 10.0.0.0/8
 * with tcp 80, 443, 8000-8100 and icmp, every fourth without filters;
 * client k is 100.64.k/16 + k. */
static EmberGatewayPolicy *
make_policy (guint clients, guint resources, gint64 now)
{
  EmberGatewayPolicy *policy = ember_gateway_policy_new ();
  static const EmberGatewayFilter filters[] = {
    { EMBER_GATEWAY_FILTER_TCP, 80, 80 },
    { EMBER_GATEWAY_FILTER_TCP, 443, 443 },
    { EMBER_GATEWAY_FILTER_TCP, 8000, 8100 },
    { EMBER_GATEWAY_FILTER_ICMP, 0, 0 },
  };

  /* As the gateway's init does: one rebuild per client at the end. */
  ember_gateway_policy_begin_sync (policy);
  for (guint k = 0; k < clients; k++)
    for (guint r = 0; r < resources; r++)
      {
        char id[32], rid[32];
        EmberCidr net = { .family = 4, .prefix = 24,
                          .addr = { 10, (guint8) (r >> 8), (guint8) r, 0 } };
        EmberGatewayResource res = {
          .id = rid, .type = EMBER_GATEWAY_RESOURCE_CIDR, .addresses = &net, .n_addresses = 1,
          .filters = filters, .n_filters = r % 4 == 3 ? 0 : G_N_ELEMENTS (filters),
        };
        EmberGatewayAuthorization auth = {
          .client_id = id, .has_ipv4 = TRUE,
          .client_ipv4 = { 100, 64, (guint8) (k >> 8), (guint8) k },
          .resource = &res, .expires_at = G_MAXINT64,
        };
        GError *error = NULL;

        g_snprintf (id, sizeof id, "client-%u", k);
        g_snprintf (rid, sizeof rid, "resource-%u", r);
        if (!ember_gateway_policy_authorize (policy, now, &auth, &error))
          g_error ("%s", error->message);
      }
  ember_gateway_policy_end_sync (policy, now);
  return policy;
}

/* A TCP packet of PKT bytes from client k to resource r, port 443. */
static void
write_packet (guint8 *p, guint k, guint r)
{
  EmberIpPacket pkt;

  memset (p, 0, PKT);
  p[0] = 0x45;
  p[2] = PKT >> 8;
  p[3] = PKT & 0xff;
  p[8] = 64;
  p[9] = EMBER_IPPROTO_TCP;
  p[12] = 100;
  p[13] = 64;
  p[14] = (guint8) (k >> 8);
  p[15] = (guint8) k;
  p[16] = 10;
  p[17] = (guint8) (r >> 8);
  p[18] = (guint8) r;
  p[19] = 7;
  p[20] = 0x9c;
  p[21] = 0x40;
  p[23] = 443 & 0xff;
  p[22] = 443 >> 8;
  p[32] = 5 << 4;
  if (ember_ip_packet_parse (&pkt, p, PKT, 0, PKT) != EMBER_PACKET_OK)
    g_error ("bench packet does not parse");
  ember_ip_packet_update_checksums (&pkt);
}

/* ns per check of `resources`-resource clients (`clients` of them). */
static double
check_alone (guint clients, guint resources, double seconds, gint64 now)
{
  g_autoptr (EmberGatewayPolicy) policy = make_policy (clients, resources, now);
  EmberGatewayClient **who = g_new (EmberGatewayClient *, BATCH);
  EmberIpPacket *pkts = g_new (EmberIpPacket, BATCH);
  guint8 *bufs = g_malloc ((gsize) BATCH * PKT);
  guint64 n = 0, passed = 0;
  gint64 t0 = cpu_us (), us;

  for (guint i = 0; i < BATCH; i++)
    {
      guint k = g_random_int_range (0, (gint32) clients);
      guint r = g_random_int_range (0, (gint32) resources);
      char id[32];

      g_snprintf (id, sizeof id, "client-%u", k);
      who[i] = ember_gateway_policy_find_client (policy, id);
      write_packet (bufs + (gsize) i * PKT, k, r);
      ember_ip_packet_parse (&pkts[i], bufs + (gsize) i * PKT, PKT, 0, PKT);
    }
  do
    {
      for (guint i = 0; i < BATCH; i++)
        passed += ember_gateway_policy_from_client (policy, now, who[i], &pkts[i], NULL) ==
                  EMBER_GATEWAY_VERDICT_FORWARD;
      n += BATCH;
      us = cpu_us () - t0;
    }
  while (us < (gint64) (seconds * 1e6));
  if (passed != n)
    g_error ("the bench packets should all pass");
  g_free (who);
  g_free (pkts);
  g_free (bufs);
  return (double) us * 1e3 / (double) n;
}

/* The table layout, lookup alone: one prefix table per client (what the
 * policy does) against one table for the whole gateway keyed by (client,
 * address) — the client's index as the first 32 bits of an IPv6-sized
 * key, then the IPv4 address, so a prefix p becomes 32 + p. */
static void
compare_layouts (guint clients, guint resources, double seconds)
{
  EmberPrefixTable **per = g_new0 (EmberPrefixTable *, clients);
  g_autoptr (EmberPrefixTable) one = ember_prefix_table_new ();
  guint8 (*keys)[16] = g_malloc0 (sizeof (guint8[16]) * BATCH);
  guint *who = g_new (guint, BATCH);
  double ns[2];

  for (guint k = 0; k < clients; k++)
    {
      per[k] = ember_prefix_table_new ();
      for (guint r = 0; r < resources; r++)
        {
          EmberCidr c = { .family = 4, .prefix = 24,
                          .addr = { 10, (guint8) (r >> 8), (guint8) r, 0 } };
          EmberCidr g = { .family = 6, .prefix = 32 + 24 };

          ember_prefix_table_insert (per[k], &c, GUINT_TO_POINTER (r + 1));
          g.addr[0] = (guint8) (k >> 24);
          g.addr[1] = (guint8) (k >> 16);
          g.addr[2] = (guint8) (k >> 8);
          g.addr[3] = (guint8) k;
          memcpy (g.addr + 4, c.addr, 4);
          ember_prefix_table_insert (one, &g, GUINT_TO_POINTER (r + 1));
        }
    }
  for (guint i = 0; i < BATCH; i++)
    {
      guint k = g_random_int_range (0, (gint32) clients);
      guint r = g_random_int_range (0, (gint32) resources);

      who[i] = k;
      keys[i][0] = (guint8) (k >> 24);
      keys[i][1] = (guint8) (k >> 16);
      keys[i][2] = (guint8) (k >> 8);
      keys[i][3] = (guint8) k;
      keys[i][4] = 10;
      keys[i][5] = (guint8) (r >> 8);
      keys[i][6] = (guint8) r;
      keys[i][7] = 7;
    }
  for (int layout = 0; layout < 2; layout++)
    {
      guint64 n = 0, found = 0;
      gint64 t0 = cpu_us (), us;

      do
        {
          for (guint i = 0; i < BATCH; i++)
            found += (layout == 0 ? ember_prefix_table_lookup (per[who[i]], 4, keys[i] + 4, NULL)
                                  : ember_prefix_table_lookup (one, 6, keys[i], NULL)) != NULL;
          n += BATCH;
          us = cpu_us () - t0;
        }
      while (us < (gint64) (seconds * 1e6));
      if (found != n)
        g_error ("layout %d missed", layout);
      ns[layout] = (double) us * 1e3 / (double) n;
    }
  g_print ("lookup alone, %4u clients x %4u resources: per-client tables %5.1f ns, "
           "one (client, address) table %5.1f ns\n", clients, resources, ns[0], ns[1]);
  for (guint k = 0; k < clients; k++)
    ember_prefix_table_free (per[k]);
  g_free (per);
  g_free (keys);
  g_free (who);
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 2.0;
  GRand *r = g_rand_new_with_seed (1);
  EmberWgEngine *eng[2];
  EmberWgPeer *peer[2];
  EmberAddr addr[2];
  guint8 priv[32], pub[2][32];
  guint8 *slots = g_malloc (BATCH * SLOT);
  gsize lens[BATCH];
  gint64 now = 1000000;
  g_autoptr (EmberGatewayPolicy) policy = make_policy (1000, 20, now);
  EmberGatewayClient *client = ember_gateway_policy_find_client (policy, "client-7");
  double pps[2];

  for (int i = 0; i < 2; i++)
    {
      rng (r, priv, 32);
      eng[i] = ember_wg_engine_new (priv, rng, r, now, 0, NULL);
      ember_wg_engine_get_public_key (eng[i], pub[i]);
      memset (&addr[i], 0, sizeof addr[i]);
      addr[i].family = EMBER_ADDR_IPV4;
      addr[i].addr[3] = (guint8) (i + 1);
    }
  for (int i = 0; i < 2; i++)
    {
      EmberWgPeerConfig c;

      memset (&c, 0, sizeof c);
      memcpy (c.public_key, pub[1 - i], 32);
      c.endpoint = addr[1 - i];
      peer[i] = ember_wg_engine_add_peer (eng[i], &c, NULL);
    }
  ember_wg_engine_initiate (eng[0], peer[0], now);
  for (int k = 0; k < 4; k++)
    {
      deliver (eng[0], eng[1], &addr[0], now);
      deliver (eng[1], eng[0], &addr[1], now);
    }

  /* Phase 0: decapsulate only; phase 1: decapsulate and check. The two
   * alternate in short rounds so frequency changes hit both alike. */
  {
    gint64 us[2] = { 0, 0 };
    guint64 packets[2] = { 0, 0 };

    while (us[0] + us[1] < (gint64) (seconds * 2e6))
      for (int phase = 0; phase < 2; phase++)
        {
          gint64 t0;

          for (int i = 0; i < BATCH; i++)
            {
              gsize off = EMBER_WG_HEADROOM, len = PKT;

              write_packet (slots + (gsize) i * SLOT + EMBER_WG_HEADROOM, 7, (guint) i % 20);
              if (ember_wg_engine_encapsulate (eng[0], peer[0], now, slots + (gsize) i * SLOT,
                                               SLOT, &off, &len, NULL) != EMBER_WG_DATAGRAM)
                g_error ("encapsulate failed");
              lens[i] = len;
            }
          t0 = cpu_us ();
          for (int i = 0; i < BATCH; i++)
            {
              gsize off = 0, len = lens[i];
              EmberWgPeer *from;
              EmberIpPacket pkt;
              guint8 *b = slots + (gsize) i * SLOT;

              if (ember_wg_engine_decapsulate (eng[1], now, &addr[0], b, &off, &len, &from) !=
                  EMBER_WG_PACKET)
                g_error ("decapsulate failed");
              if (phase == 1 &&
                  (ember_ip_packet_parse (&pkt, b, SLOT, off, len) != EMBER_PACKET_OK ||
                   ember_gateway_policy_from_client (policy, now, client, &pkt, NULL) !=
                     EMBER_GATEWAY_VERDICT_FORWARD))
                g_error ("check failed");
            }
          us[phase] += cpu_us () - t0;
          packets[phase] += BATCH;
        }
    for (int i = 0; i < 2; i++)
      pps[i] = (double) packets[i] / (double) us[i] * 1e6;
  }
  g_print ("decapsulate alone:           %8.0f pps (%d-byte packets)\n", pps[0], PKT);
  g_print ("decapsulate + gateway check: %8.0f pps (1000 clients x 20 resources)\n", pps[1]);
  g_print ("ratio with/without check:    %.3f (goal >= 0.9)\n", pps[1] / pps[0]);
  {
    static const guint sizes[][2] = { { 1, 1 }, { 1000, 20 }, { 100, 1000 } };

    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
      g_print ("check alone, %4u clients x %4u resources: %6.1f ns/packet\n", sizes[i][0],
               sizes[i][1], check_alone (sizes[i][0], sizes[i][1], seconds / 2, now));
    for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
      compare_layouts (sizes[i][0], sizes[i][1], seconds / 2);
  }

  ember_wg_engine_free (eng[0]);
  ember_wg_engine_free (eng[1]);
  g_free (slots);
  g_rand_free (r);
  return 0;
}
