/* tests/turn/turn-fx — the in-memory harness of the TURN client tests:
 * one or more EmberTurnClients, each talking to its own ember-relay server
 * core, on one virtual clock. Datagrams move between the state machines
 * in memory; knobs in TurnFx drop or rewrite them. Owns the servers,
 * clients and the logs of what was sent and answered. One test thread.
 */
#pragma once

#include "relay/client/client.h"
#include "server.h"
#include "stun/message.h"

#define S(n) ((gint64) (n) * G_USEC_PER_SEC)
#define UNIX_EPOCH G_GINT64_CONSTANT (1700000000)
#define MAX_RELAYS 2

typedef struct {
  gint64 t;
  guint relay;
  guint16 method, klass;
  guint code;               /* error responses */
  gboolean integrity;
  gboolean additional_family;
} Rec;

typedef struct {
  gint64 t;
  guint relay;
  EmberTurnEvent ev;
} Ev;

typedef struct {
  guint relay;
  EmberAddr from, to;  /* peer inbox: from = relayed address */
  GBytes *data;
} Datagram;

typedef struct {
  EmberRelayServer *srv;
  EmberTurnClient *cli;
  EmberAddr server_addr;
  guint8 secret[16];
  gboolean silent;  /* drop everything the client sends to this relay */
} Relay;

typedef struct {
  gint64 now;
  guint32 srv_rng;
  guint64 cli_rng;
  guint n_relays;
  Relay relays[MAX_RELAYS];
  EmberAddr client_addr;
  EmberAddr peer;
  GArray *sent;      /* Rec: client → server requests */
  GArray *answers;   /* Rec: server → client responses */
  GArray *events;    /* Ev */
  GPtrArray *peer_inbox;    /* Datagram */
  GPtrArray *client_inbox;  /* Datagram: relayed data handed to the app */
  /* Knobs. */
  guint16 drop_method;        /* drop client requests of this method */
  gboolean refuse_dual_once;  /* answer 440 to an authenticated dual Allocate */
  gboolean feed_prefixes;     /* feed every prefix of every answer first */
  guint prefix_results[EMBER_TURN_INPUT_INVALID + 1];
  /* server config overrides */
  gint64 nonce_lifetime_us;
  gboolean with_ip6;
} TurnFx;

typedef gboolean (*TurnFxCheck) (TurnFx *fx);

EmberAddr turn_fx_ip (const char *text, guint16 port);
gboolean turn_fx_addr_eq (const EmberAddr *a, const EmberAddr *b);
guint64 turn_fx_rng (gpointer user_data);
void turn_fx_credentials (const Relay *r, gint64 now, char *user, gsize user_len, char *pass, gsize pass_len);
void turn_fx_relay_boot (TurnFx *fx, guint i);
void turn_fx_init (TurnFx *fx, guint n_relays);
void turn_fx_setup (TurnFx *fx, gconstpointer data);
void turn_fx_teardown (TurnFx *fx, gconstpointer data);
void turn_fx_drain_events (TurnFx *fx, guint i);
void turn_fx_pump (TurnFx *fx);
void turn_fx_advance_checked (TurnFx *fx, gint64 until, TurnFxCheck check);
void turn_fx_advance (TurnFx *fx, gint64 until);
guint turn_fx_count_events (TurnFx *fx, EmberTurnEventType type);
const Ev *turn_fx_last_event (TurnFx *fx, EmberTurnEventType type);
guint turn_fx_count_sent (TurnFx *fx, guint16 method, gboolean with_integrity);
guint turn_fx_count_answers (TurnFx *fx, guint16 method, guint code);
void turn_fx_allocate (TurnFx *fx, guint i);
void turn_fx_peer_send (TurnFx *fx, guint i, const EmberAddr *relayed, const char *text);
gsize turn_fx_client_send (TurnFx *fx, guint i, const char *text, guint8 *first_byte);
void turn_fx_assert_peer_got (TurnFx *fx, const char *text);
void turn_fx_assert_client_got (TurnFx *fx, const char *text);
EmberAddr turn_fx_relayed4 (TurnFx *fx, guint i);
void turn_fx_exchange (TurnFx *fx, guint i, const char *up, const char *down);
