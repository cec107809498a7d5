/* plugin.c — the wg plugin: the engine behind EmberWgVtable.
 *
 * Exports ember_plugin_info only (plugin.map); everything else is the
 * engine library linked in statically.
 */
#include "engine.h"

EMBER_PLUGIN_EXPORT const EmberPluginInfo *
ember_plugin_info (void)
{
  static const EmberWgVtable vtable = {
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
  static const EmberPluginInfo info = {
    .abi_major = EMBER_PLUGIN_ABI_MAJOR,
    .abi_minor = EMBER_PLUGIN_ABI_MINOR,
    .name = "wg",
    .kind = EMBER_PLUGIN_KIND_WG,
    .description = "WireGuard engine: Noise IKpsk2, cookies, timers, replay "
                   "window (libcrypto or GnuTLS AEAD, nettle X25519)",
    .vtable_size = sizeof vtable,
    .vtable = &vtable,
  };
  return &info;
}
