/* cookie.h — mac1/mac2 and cookie replies (whitepaper §5.3, §5.4.4,
 * §5.4.7): the DoS-mitigation layer around handshake messages.
 *
 * EmberWgCookieChecker (one per engine, responder side) checks mac1 with
 * the key HASH(LABEL_MAC1 || our public key) and, under load, mac2 with
 * a cookie MAC(Rm, source address) whose secret Rm is replaced every
 * COOKIE_SECRET_MAX_AGE; it also seals cookie replies.
 * EmberWgCookieMaker (one per peer, initiator side) adds mac1/mac2 to
 * what we send and stores the cookie a peer gives us.
 * Pure: `now` and randomness come in. One thread per engine.
 */
#pragma once

#include <glib.h>

#include "aead.h"
#include "noise.h"
#include "wire.h"

typedef struct {
  guint8 mac1_key[EMBER_WG_KEY];    /* HASH(LABEL_MAC1 || S_pub) */
  guint8 cookie_key[EMBER_WG_KEY];  /* HASH(LABEL_COOKIE || S_pub) */
  guint8 secret[EMBER_WG_KEY];      /* Rm */
  gint64 secret_birth;
  gboolean has_secret;
} EmberWgCookieChecker;

typedef struct {
  guint8 mac1_key[EMBER_WG_KEY];    /* of the peer's public key */
  guint8 cookie_key[EMBER_WG_KEY];
  guint8 cookie[EMBER_WG_MAC];
  gint64 cookie_birth;
  gboolean has_cookie;
  guint8 last_mac1[EMBER_WG_MAC];   /* AD of the cookie reply we expect */
  gboolean has_sent_mac1;
} EmberWgCookieMaker;

typedef enum {
  EMBER_WG_MAC_INVALID = 0,
  EMBER_WG_MAC_VALID_MAC1,          /* mac1 good, mac2 missing or wrong */
  EMBER_WG_MAC_VALID_MAC2,          /* both good */
} EmberWgMacState;

void ember_wg_cookie_checker_init (EmberWgCookieChecker *c,
                                   const guint8 public_key[EMBER_WG_KEY]);
void ember_wg_cookie_maker_init (EmberWgCookieMaker *m,
                                 const guint8 peer_public_key[EMBER_WG_KEY]);

/* msg is a whole initiation or response of len bytes. Writes mac1, and
 * mac2 if we hold a cookie young enough, else zeros. */
void ember_wg_cookie_add_macs (EmberWgCookieMaker *m, guint8 *msg, gsize len,
                               gint64 now);

/* Checks mac1 always and mac2 only when check_mac2. */
EmberWgMacState ember_wg_cookie_validate (EmberWgCookieChecker *c,
                                          const guint8 *msg, gsize len,
                                          const EmberAddr *from,
                                          gboolean check_mac2, gint64 now,
                                          const EmberWgRng *rng);

/* Seals a cookie reply (64 bytes into out) to the sender of msg. */
gboolean ember_wg_cookie_create_reply (EmberWgCookieChecker *c,
                                       EmberWgAead *scratch,
                                       const guint8 *msg, gsize len,
                                       guint32 receiver_index,
                                       const EmberAddr *from, gint64 now,
                                       const EmberWgRng *rng, guint8 *out);

/* Opens a cookie reply meant for us and stores its cookie. */
gboolean ember_wg_cookie_consume_reply (EmberWgCookieMaker *m,
                                        EmberWgAead *scratch,
                                        const guint8 *reply, gint64 now);
