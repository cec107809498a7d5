/* tunnel-fx — test support for the tunnel state machines: the WireGuard
 * engine's functions as an EmberWgVtable (what the `wg` plugin exports),
 * a seeded RNG and fixed keys. Single-threaded test code. */
#pragma once

#include <glib.h>
#include <string.h>

#include "engine.h"
#include "ice/candidate.h"

static const EmberWgVtable tunnel_fx_wg = {
  .engine_new = ember_wg_engine_new,
  .engine_free = ember_wg_engine_free,
  .set_clock = ember_wg_engine_set_clock,
  .set_under_load = ember_wg_engine_set_under_load,
  .get_public_key = ember_wg_engine_get_public_key,
  .add_peer = ember_wg_engine_add_peer,
  .remove_peer = ember_wg_engine_remove_peer,
  .lookup_peer = ember_wg_engine_lookup_peer,
  .set_endpoint = ember_wg_peer_set_endpoint,
  .get_peer_stats = ember_wg_peer_get_stats,
  .initiate = ember_wg_engine_initiate,
  .encapsulate = ember_wg_engine_encapsulate,
  .decapsulate = ember_wg_engine_decapsulate,
  .update_timers = ember_wg_engine_update_timers,
  .poll_transmit = ember_wg_engine_poll_transmit,
  .poll_timeout = ember_wg_engine_poll_timeout,
  .poll_event = ember_wg_engine_poll_event,
  .set_test_rekey_after = ember_wg_engine_set_test_rekey_after,
};

/* splitmix64: enough for tests. */
static inline guint64
tunnel_fx_rng_next (gpointer user_data)
{
  guint64 *s = user_data;
  guint64 z = (*s += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* The same as an EmberWgRngFunc. */
static inline void
tunnel_fx_bytes (gpointer user_data, guint8 *buf, gsize len)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) tunnel_fx_rng_next (user_data);
}

static inline void
tunnel_fx_key (guint8 key[32], guint8 seed)
{
  for (guint i = 0; i < 32; i++)
    key[i] = (guint8) (seed * 31 + i * 7 + 1);
}

static inline EmberAddr
tunnel_fx_addr (const char *ip, guint16 port)
{
  EmberAddr a;
  g_assert_true (ember_ice_addr_parse_ip (ip, port, &a));
  return a;
}
