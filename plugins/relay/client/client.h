/* relay/client — the sans-IO TURN client of one relay (RFC 8656).
 *
 * One EmberTurnClient talks to one TURN server over UDP: STUN binding
 * (our server-reflexive address, and a keepalive that detects a relay
 * that stopped answering), an allocation with long-term credentials
 * (401/438 retry with realm and nonce, refresh at 80 % of the lifetime,
 * IPv4 and, when asked, IPv6 relayed addresses), a permission and a
 * channel per peer (refreshed before the 300 s / 600 s expiries) and the
 * data path (ChannelData, or Send/Data indications before the channel is
 * bound). A node holds one client per relay the portal announced; the
 * relay set changes by creating and freeing clients.
 *
 * It owns its credentials (wiped on free), its transactions and the
 * permission/channel table. No I/O, no clock: the caller feeds the
 * datagrams that came from the server's address, time, and drains
 * poll_transmit() (always to the server), poll_event(), poll_timeout().
 *
 * Relay reboot detection: new credentials for the same relay, or a
 * refresh answered "allocation mismatch" (437), mean the old allocation is
 * gone: INVALIDATED names the relayed addresses that died, and a new
 * allocation follows.
 *
 * Not thread-safe: one thread at a time per client.
 */
#pragma once

#include <glib.h>
#include "ember-plugin.h"
#include "relay/client/wire.h"

G_BEGIN_DECLS

typedef struct _EmberTurnClient EmberTurnClient;

typedef struct {
  guint64 (*next) (gpointer user_data);  /* 64 random bits */
  gpointer user_data;
} EmberTurnRng;

typedef enum {
  /* `addr`: our server-reflexive address as this relay sees it (first
   * time or changed; `old` is the previous one or unset). */
  EMBER_TURN_EVENT_SRFLX = 1,
  /* An allocation exists: `relayed[0..n_relayed)`, `addr` the mapped. */
  EMBER_TURN_EVENT_ALLOCATED,
  /* These relayed addresses are dead (relay rebooted, allocation lost,
   * relay down): drop the candidates and tell the peers. */
  EMBER_TURN_EVENT_INVALIDATED,
  /* The relay did not answer for EMBER_TURN_DOWN_AFTER_US: declared down.
   * Preceded by INVALIDATED when there was an allocation. */
  EMBER_TURN_EVENT_DOWN,
  /* A relay that was down answers again. */
  EMBER_TURN_EVENT_UP,
  /* The server refused the credentials or the allocation for good.
   * error_code 437: our 5-tuple holds an allocation made under other
   * credentials (an earlier run on the same source port), which we can
   * neither use nor release; it lasts until it expires. The caller
   * should move to a fresh source port (the client allocates again on
   * its own, every EMBER_TURN_RETRY_US). Said once per streak. */
  EMBER_TURN_EVENT_ALLOCATION_FAILED,
} EmberTurnEventType;

typedef struct {
  EmberTurnEventType type;
  EmberAddr addr;
  EmberAddr old;
  EmberAddr relayed[2];
  guint n_relayed;
  guint error_code;  /* ALLOCATION_FAILED */
} EmberTurnEvent;

typedef enum {
  EMBER_TURN_INPUT_HANDLED = 0,  /* a response/indication for us, consumed */
  EMBER_TURN_INPUT_DATA,         /* relayed data: peer, data and data_len set */
  EMBER_TURN_INPUT_NOT_FOR_US,   /* not from the server, or not ours */
  EMBER_TURN_INPUT_INVALID,      /* ours but malformed or unauthenticated */
} EmberTurnInputResult;

/* `server`: the relay's address. `username`/`password`: the portal's
 * time-limited long-term credentials (RFC 8489 §9.2). `rng` is copied;
 * its user_data must outlive the client. Sends a binding at once. */
EmberTurnClient *ember_turn_client_new (const EmberAddr *server, const char *username,
                                        const char *password, const EmberTurnRng *rng,
                                        gint64 now);
void ember_turn_client_free (EmberTurnClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EmberTurnClient, ember_turn_client_free)

const EmberAddr *ember_turn_client_get_server (const EmberTurnClient *client);
/* Also ask for an IPv6 relayed address (ADDITIONAL-ADDRESS-FAMILY,
 * RFC 8656 §7.1); falls back to IPv4 only when the server refuses. */
void ember_turn_client_set_dual_stack (EmberTurnClient *client, gboolean dual);
/* Start (or keep) an allocation: called when a connection sampled this
 * relay. Idempotent. */
void ember_turn_client_want_allocation (EmberTurnClient *client, gint64 now);
/* The credentials for this relay changed, most often renewed
 * time-limited ones. An existing allocation stays, bound to the username
 * it was made with (RFC 8656 §5), and is refreshed at once to learn
 * whether the relay still holds it; the new credentials sign the next
 * Allocate, when that one is lost (437: the relay rebooted) or refused
 * (401/441: a relay that checks the expiry of every request). Without an
 * allocation they apply at once. No-op when they are the same. */
void ember_turn_client_update_credentials (EmberTurnClient *client, gint64 now,
                                           const char *username, const char *password);
/* Installs a permission and binds a channel for `peer` (idempotent); both
 * are then refreshed until ember_turn_client_remove_peer(). */
gboolean ember_turn_client_add_peer (EmberTurnClient *client, gint64 now, const EmberAddr *peer);
void ember_turn_client_remove_peer (EmberTurnClient *client, const EmberAddr *peer);
/* Releases the allocation (Refresh with LIFETIME 0), best effort. */
void ember_turn_client_deallocate (EmberTurnClient *client, gint64 now);

gboolean ember_turn_client_is_allocated (const EmberTurnClient *client);
gboolean ember_turn_client_is_down (const EmberTurnClient *client);
/* Whether `addr` is one of this client's current relayed addresses. */
gboolean ember_turn_client_owns_relayed (const EmberTurnClient *client, const EmberAddr *addr);
guint ember_turn_client_get_relayed (const EmberTurnClient *client, EmberAddr out[2]);
/* The channel bound to `peer`, or 0. */
guint16 ember_turn_client_get_channel (const EmberTurnClient *client, const EmberAddr *peer);

/* A datagram that came from `from` (checked against the server). On
 * EMBER_TURN_INPUT_DATA, `*peer` is the sender behind the relay and
 * `*data` points into `buf`. */
EmberTurnInputResult ember_turn_client_handle_input (EmberTurnClient *client, gint64 now,
                                                     const EmberAddr *from, const guint8 *buf,
                                                     gsize len, EmberAddr *peer,
                                                     const guint8 **data, gsize *data_len);
void ember_turn_client_handle_timeout (EmberTurnClient *client, gint64 now);

/* Wraps `payload` for `peer` into `buf` to be sent to the server:
 * ChannelData when the channel is bound, else a Send indication when the
 * permission is installed. Returns the length, or 0 without an
 * allocation, when it does not fit, or when neither exists yet for
 * `peer`. In that last case they are being set up (a peer it did not
 * know is added as by add_peer()): the caller holds the packet and
 * encodes it again once they are (the transport plugin holds up to 64
 * datagrams per relay for 5 s); it need not drop it. */
gsize ember_turn_client_encode (EmberTurnClient *client, gint64 now, const EmberAddr *peer,
                                const guint8 *payload, gsize len, guint8 *buf, gsize cap);

/* Next control message for the server (cap ≥ EMBER_TURN_MAX_MESSAGE);
 * *to is the server. 0 when none. */
gsize ember_turn_client_poll_transmit (EmberTurnClient *client, guint8 *buf, gsize cap,
                                       EmberAddr *to);
/* When handle_timeout() next has work: absolute, in `now`'s clock. After
 * handle_timeout(now) it is always later than `now`, so a caller that
 * sleeps until it never spins. Work that waits for a free transaction
 * slot is due once a slot frees: at a retransmission or give-up time
 * without input, or at once after a response freed one; so read it again
 * after every handle_input(). */
gint64 ember_turn_client_poll_timeout (const EmberTurnClient *client);
gboolean ember_turn_client_poll_event (EmberTurnClient *client, EmberTurnEvent *ev);

G_END_DECLS
