/* relay/client private — the TURN client's state, shared by its files:
 * client.c (the state machine: allocation, peers, up/down, the public
 * API, timers and queues) and transactions.c (STUN transactions: building
 * and retransmitting requests, handling their answers). Not installed;
 * same thread rules as client.h. What one file calls in the other is
 * named turn_client_*: the transport plugin's own files use turn_*.
 */
#pragma once

#include "relay/client/client.h"
#include "stun/message.h"

typedef enum {
  TX_BINDING = 0,
  TX_ALLOCATE,
  TX_REFRESH,
  TX_DEALLOCATE,
  TX_PERMISSION,
  TX_CHANNEL,
} TxKind;

typedef struct {
  gboolean used;
  TxKind kind;
  guint8 txid[EMBER_STUN_TRANSACTION_ID_LEN];
  EmberAddr peer;
  guint16 channel;
  guint8 msg[EMBER_TURN_MAX_MESSAGE];
  gsize len;
  guint sends;
  gint64 rto;
  gint64 next_send;
  guint auth_retries;
} Tx;

typedef struct {
  gboolean used;
  EmberAddr addr;
  gboolean perm_ok, perm_pending;
  gint64 perm_refresh_at;
  guint16 channel;
  gboolean chan_ok, chan_pending;
  gint64 chan_refresh_at;
} Peer;

typedef enum { ALLOC_NONE = 0, ALLOC_PENDING, ALLOC_OK } AllocState;

typedef struct {
  EmberAddr to;
  gsize len;
  guint8 data[EMBER_TURN_MAX_MESSAGE];
} Transmit;

struct _EmberTurnClient {
  EmberAddr server;
  EmberTurnRng rng;
  char username[EMBER_TURN_CREDENTIAL_MAX + 1];
  char password[EMBER_TURN_CREDENTIAL_MAX + 1];
  char realm[EMBER_STUN_REALM_MAX + 1];
  char nonce[EMBER_STUN_NONCE_MAX + 1];
  gboolean have_key;
  guint8 key[EMBER_STUN_LONG_TERM_KEY_MD5_LEN];
  gboolean dual, dual_refused;

  gboolean want_alloc;
  AllocState alloc;
  EmberAddr relayed[2];
  guint n_relayed;
  gint64 refresh_at;
  gint64 alloc_retry_at;
  guint mismatches;      /* Allocates answered 437 since the last success */
  /* Renewed credentials that arrived while an allocation existed: that
   * allocation keeps the ones it was made with (username, key), and
   * these sign the next Allocate (turn_client_start_allocate). */
  gboolean have_next;
  char next_username[EMBER_TURN_CREDENTIAL_MAX + 1];
  char next_password[EMBER_TURN_CREDENTIAL_MAX + 1];
  EmberAddr mapped;
  gboolean down;
  gint64 next_keepalive;
  guint16 next_channel;

  Tx tx[EMBER_TURN_MAX_TRANSACTIONS];
  Peer peers[EMBER_TURN_MAX_PEERS];
  Transmit transmits[EMBER_TURN_MAX_TRANSMITS];
  guint tx_head, tx_len;
  EmberTurnEvent events[EMBER_TURN_MAX_EVENTS];
  guint ev_head, ev_len;
};

/* ---- client.c: state ------------------------------------------------ */

void turn_client_push_event (EmberTurnClient *c, const EmberTurnEvent *ev);
/* A fresh transaction id (EMBER_STUN_TRANSACTION_ID_LEN bytes) from c->rng. */
void turn_client_random_txid (EmberTurnClient *c, guint8 *txid);
Peer *turn_client_find_peer (EmberTurnClient *c, const EmberAddr *addr);
void turn_client_start_allocate (EmberTurnClient *c, gint64 now);
/* Starts the permission and channel transactions `p` is due for. */
void turn_client_peer_sync (EmberTurnClient *c, gint64 now, Peer *p);
void turn_client_lose_allocation (EmberTurnClient *c);
void turn_client_learn_mapped (EmberTurnClient *c, const EmberAddr *mapped);
/* The server answered: a relay that was down is up again. */
void turn_client_mark_up (EmberTurnClient *c, gint64 now);

/* ---- transactions.c: requests and answers --------------------------- */

/* (Re)sends `t` and schedules its next retransmission. */
void turn_client_tx_send (EmberTurnClient *c, gint64 now, Tx *t);
/* Starts a transaction in a free slot and sends it; NULL when no slot is
 * free or the request does not fit EMBER_TURN_MAX_MESSAGE. */
Tx *turn_client_tx_start (EmberTurnClient *c, gint64 now, TxKind kind, const EmberAddr *peer,
                          guint16 channel, guint auth_retries);
/* A STUN message from the server: a Data indication, or the answer to
 * one of our transactions. */
EmberTurnInputResult turn_client_handle_stun (EmberTurnClient *c, gint64 now, const guint8 *buf,
                                              gsize len, EmberAddr *peer, const guint8 **data,
                                              gsize *data_len);
