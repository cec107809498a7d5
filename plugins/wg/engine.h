/* engine.h — the WireGuard engine: peers, sessions, timers (sans-IO).
 *
 * The functions behind EmberWgVtable (core/include/ember-plugin-wg.h,
 * which documents every call); tests, the fuzzer, the benchmark and
 * emberd's static-peer mode call them directly through wg_engine_dep.
 * An engine owns its peers, their handshakes and keypairs (previous,
 * current, next), each peer's staged-packet ring, a ring of pending
 * handshake/cookie datagrams and a ring of events. It does no I/O and
 * reads no clock; one thread at a time.
 */
#pragma once

#include "ember-plugin-wg.h"

G_BEGIN_DECLS

EmberWgEngine *ember_wg_engine_new (const guint8 private_key[EMBER_WG_KEY_SIZE],
                                    EmberWgRngFunc rng, gpointer rng_data,
                                    gint64 now, gint64 wall_us,
                                    GError **error);
void ember_wg_engine_free (EmberWgEngine *engine);
void ember_wg_engine_set_clock (EmberWgEngine *engine, gint64 now,
                                gint64 wall_us);
void ember_wg_engine_set_under_load (EmberWgEngine *engine,
                                     gboolean under_load);
/* Test only: see EmberWgVtable.set_test_rekey_after. */
void ember_wg_engine_set_test_rekey_after (EmberWgEngine *engine,
                                           gint64 rekey_after_us);
void ember_wg_engine_get_public_key (EmberWgEngine *engine,
                                     guint8 out[EMBER_WG_KEY_SIZE]);

EmberWgPeer *ember_wg_engine_add_peer (EmberWgEngine *engine,
                                       const EmberWgPeerConfig *config,
                                       GError **error);
void ember_wg_engine_remove_peer (EmberWgEngine *engine, EmberWgPeer *peer);
EmberWgPeer *ember_wg_engine_lookup_peer (EmberWgEngine *engine,
                                          const guint8 public_key[EMBER_WG_KEY_SIZE]);
void ember_wg_peer_set_endpoint (EmberWgPeer *peer, const EmberAddr *endpoint);
void ember_wg_peer_get_stats (EmberWgPeer *peer, EmberWgPeerStats *stats);
void ember_wg_engine_initiate (EmberWgEngine *engine, EmberWgPeer *peer,
                               gint64 now);

EmberWgResult ember_wg_engine_encapsulate (EmberWgEngine *engine,
                                           EmberWgPeer *peer, gint64 now,
                                           guint8 *buf, gsize capacity,
                                           gsize *offset, gsize *len,
                                           EmberAddr *to);
EmberWgResult ember_wg_engine_decapsulate (EmberWgEngine *engine, gint64 now,
                                           const EmberAddr *from, guint8 *buf,
                                           gsize *offset, gsize *len,
                                           EmberWgPeer **peer_out);
void ember_wg_engine_update_timers (EmberWgEngine *engine, gint64 now);
gboolean ember_wg_engine_poll_transmit (EmberWgEngine *engine, gint64 now,
                                        guint8 *buf, gsize capacity,
                                        EmberWgTransmit *out);
gint64 ember_wg_engine_poll_timeout (EmberWgEngine *engine);
gboolean ember_wg_engine_poll_event (EmberWgEngine *engine,
                                     EmberWgEvent *event);

G_END_DECLS
