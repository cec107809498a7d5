/* ember-plugin-relay.h — the control interface of a TURN transport.
 *
 * A transport plugin that reaches peers through TURN relays (RFC 8656)
 * moves datagrams with the ordinary vtable of ember-plugin.h and is
 * steered through this interface, which the core obtains with
 *
 *   const EmberRelayControl *c = vtable->get_control (EMBER_RELAY_CONTROL_NAME);
 *
 * (NULL: not a TURN transport). Check c->size before using a member
 * added after the first version; members are appended only.
 *
 * Addresses. A relayed datagram is an EmberPacket whose `remote` is the
 * peer behind the relay and whose `local` is the relayed address of the
 * allocation it went through (the ICE relayed candidate). send() picks
 * the allocation by `local` and the peer by `remote`; a packet for a peer
 * without a permission yet is held while the permission and channel are
 * set up, not dropped.
 *
 * Events (relay up/down, allocations, invalidated candidates) are queued
 * by the plugin; when one is queued it wakes the waker last given to
 * poll_recv_many(), and the core drains poll_event() after every
 * poll_recv_many() call.
 *
 * Threads: as for the I/O vtable, every member is called from the core's
 * main-loop thread only.
 */
#pragma once

#include "ember-plugin.h"

G_BEGIN_DECLS

#define EMBER_RELAY_CONTROL_NAME "ember-relay-control-1"

/* One relay as the control plane announces it. Strings are copied. */
typedef struct {
  EmberAddr server;        /* the relay's UDP address */
  const char *username;    /* time-limited long-term credentials */
  const char *password;
} EmberRelaySpec;

typedef enum {
  /* `addr`: our server-reflexive address as `relay` sees it (first
   * time, or changed: `old` is the previous one). */
  EMBER_RELAY_EVENT_SRFLX = 1,
  /* An allocation on `relay`: relayed[0..n_relayed) and the mapped
   * address `addr`. */
  EMBER_RELAY_EVENT_ALLOCATED,
  /* These relayed addresses on `relay` are gone (relay rebooted or
   * removed, allocation lost): drop those candidates, tell the peer. */
  EMBER_RELAY_EVENT_INVALIDATED,
  /* `relay` stopped answering and is declared down; preceded by
   * INVALIDATED when it had an allocation. */
  EMBER_RELAY_EVENT_DOWN,
  /* `relay`, down before, answers again. */
  EMBER_RELAY_EVENT_UP,
  /* `relay` refused the credentials or the allocation: `error_code` is
   * the STUN error code. */
  EMBER_RELAY_EVENT_FAILED,
} EmberRelayEventType;

typedef struct {
  EmberRelayEventType type;
  EmberAddr relay;
  EmberAddr addr;
  EmberAddr old;
  EmberAddr relayed[2];
  guint n_relayed;
  guint error_code;
} EmberRelayEvent;

typedef struct {
  gsize size;  /* sizeof the struct the plugin was built with */

  /* Replaces the relay set. Relays not in `relays` are released; new
   * ones are contacted (STUN binding: server-reflexive candidates from
   * every relay); a relay whose credentials changed has rebooted: its
   * allocation is invalidated and redone. Fails only for an invalid
   * entry (error names it), leaving the set unchanged. */
  gboolean (*set_relays) (EmberBackend *backend, const EmberRelaySpec *relays, guint n_relays,
                          GError **error);

  /* Asks for an allocation on `relay` (a connection sampled it), or
   * releases it. ALLOCATED follows. */
  gboolean (*allocate) (EmberBackend *backend, const EmberAddr *relay, GError **error);
  void (*release) (EmberBackend *backend, const EmberAddr *relay);

  /* Installs a permission and binds a channel for `peer` on the
   * allocation owning `relayed`, refreshed until remove_peer(). send()
   * does this by itself for a new peer; calling it early saves a round
   * trip. */
  gboolean (*add_peer) (EmberBackend *backend, const EmberAddr *relayed, const EmberAddr *peer,
                        GError **error);
  void (*remove_peer) (EmberBackend *backend, const EmberAddr *relayed, const EmberAddr *peer);

  /* Next queued event; FALSE when none. */
  gboolean (*poll_event) (EmberBackend *backend, EmberRelayEvent *event);
} EmberRelayControl;

G_END_DECLS
