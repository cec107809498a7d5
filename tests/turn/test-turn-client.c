/* Tests for the sans-IO TURN client (plugins/relay/client) against the
 * real ember-relay server core (plugins/relay/server) on a virtual clock.
 * Datagrams are handed from one state machine to the other in memory; a
 * few knobs make the "network" drop or rewrite messages so that relay
 * failures, refused families and truncated responses can be exercised.
 * Credentials are the time-limited REST scheme ember-relay shares with the
 * portal: username "<unix expiry>:<id>", password
 * base64(HMAC-SHA1(secret, username)). */
#include "turn-fx.h"

#include <string.h>

/* ---- tests ------------------------------------------------------------- */

static void
test_allocate_401 (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_pump (fx);
  /* The first binding tells us our server-reflexive address. */
  const Ev *e = turn_fx_last_event (fx, EMBER_TURN_EVENT_SRFLX);
  g_assert_nonnull (e);
  g_assert_true (turn_fx_addr_eq (&e->ev.addr, &fx->client_addr));

  turn_fx_allocate (fx, 0);
  /* RFC 8489 §9.2: first Allocate without credentials, 401, then one
   * with USERNAME/REALM/NONCE/MESSAGE-INTEGRITY that succeeds. */
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE), ==, 2);
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, TRUE), ==, 1);
  const Rec *first = NULL;
  for (guint i = 0; i < fx->sent->len && first == NULL; i++)
    if (g_array_index (fx->sent, Rec, i).method == EMBER_STUN_METHOD_ALLOCATE)
      first = &g_array_index (fx->sent, Rec, i);
  g_assert_false (first->integrity);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_ALLOCATE, 401), ==, 1);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_ALLOCATE, 0), ==, 1);

  e = turn_fx_last_event (fx, EMBER_TURN_EVENT_ALLOCATED);
  g_assert_nonnull (e);
  g_assert_cmpuint (e->ev.n_relayed, ==, 1);
  g_assert_cmpuint (e->ev.relayed[0].family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (e->ev.relayed[0].port, >=, 50000);
  g_assert_cmpuint (e->ev.relayed[0].port, <=, 50099);
  g_assert_true (ember_turn_client_owns_relayed (fx->relays[0].cli, &e->ev.relayed[0]));
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.allocations, ==, 1);

  /* Idempotent: asking again creates nothing new. */
  ember_turn_client_want_allocation (fx->relays[0].cli, fx->now);
  turn_fx_pump (fx);
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE), ==, 2);
}

static void
test_wrong_password (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  char user[128], pass[64];
  turn_fx_credentials (&fx->relays[0], fx->now, user, sizeof user, pass, sizeof pass);
  pass[0] = pass[0] == 'A' ? 'B' : 'A';
  ember_turn_client_update_credentials (fx->relays[0].cli, fx->now, user, pass);
  ember_turn_client_want_allocation (fx->relays[0].cli, fx->now);
  turn_fx_pump (fx);
  /* The challenge, then a bounded number of retries, then a verdict. */
  g_assert_false (ember_turn_client_is_allocated (fx->relays[0].cli));
  const Ev *e = turn_fx_last_event (fx, EMBER_TURN_EVENT_ALLOCATION_FAILED);
  g_assert_nonnull (e);
  g_assert_cmpuint (e->ev.error_code, ==, 401);
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE), <=,
                    1 + EMBER_TURN_MAX_AUTH_RETRIES);
  /* It keeps trying, but slowly. */
  guint sent = turn_fx_count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE);
  turn_fx_advance (fx, fx->now + S (60));
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, FALSE), <=,
                    sent * (1 + 60 * G_USEC_PER_SEC / EMBER_TURN_RETRY_US));
  g_assert_false (ember_turn_client_is_allocated (fx->relays[0].cli));
}

static void
test_stale_nonce (TurnFx *fx, gconstpointer data)
{
  (void) data;
  fx->nonce_lifetime_us = S (100);
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  /* Past the nonce lifetime (but before the refresh at 480 s) the next
   * request is answered 438 and retried with the new nonce. */
  turn_fx_advance (fx, fx->now + S (150));
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, 438), ==, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, 438)
                        + turn_fx_count_answers (fx, EMBER_STUN_METHOD_CHANNEL_BIND, 438), >=, 1);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, 0), ==, 1);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_CHANNEL_BIND, 0), ==, 1);
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), >=,
                    EMBER_STUN_CHANNEL_MIN);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.stale_nonces, >=, 1);
  g_assert_cmpuint (st.channels, ==, 1);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  turn_fx_exchange (fx, 0, "after 438", "ok");
}

static void
test_refresh_80 (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  gint64 t0 = fx->now;
  turn_fx_advance (fx, t0 + S (1300));
  /* The server grants the default 600 s; RFC 8656 §8 and our policy:
   * refresh at 80 %, i.e. 480 s after the answer, then every 480 s. */
  guint k = 0;
  gint64 expect[] = { t0 + S (480), t0 + S (960) };
  for (guint i = 0; i < fx->sent->len; i++)
    {
      const Rec *r = &g_array_index (fx->sent, Rec, i);
      if (r->method != EMBER_STUN_METHOD_REFRESH)
        continue;
      g_assert_cmpuint (k, <, G_N_ELEMENTS (expect));
      g_assert_cmpint (r->t, ==, expect[k]);
      g_assert_true (r->integrity);
      k++;
    }
  g_assert_cmpuint (k, ==, 2);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_REFRESH, 0), ==, 2);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.allocations, ==, 1);
  g_assert_cmpuint (st.allocations_created, ==, 1);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_INVALIDATED), ==, 0);
}

static gboolean
perm_and_channel_alive (TurnFx *fx)
{
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  return st.allocations == 1 && st.permissions == 1 && st.channels == 1
         && ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer) != 0;
}

static void
test_peer_refresh_hour (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  g_assert_true (perm_and_channel_alive (fx));
  turn_fx_exchange (fx, 0, "hello", "world");
  /* An hour without data: the server would expire a permission after
   * 300 s and a channel after 600 s; the client refreshes both first. The
   * check runs at every deadline of either side. */
  turn_fx_advance_checked (fx, fx->now + S (3600), perm_and_channel_alive);
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_CHANNEL_BIND, TRUE), >=, 1 + 3600 / 540);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_CHANNEL_BIND, 0), >=, 1 + 3600 / 540);
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_CREATE_PERMISSION, TRUE), >=, 1 + 3600 / 540);
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_INVALIDATED), ==, 0);
  turn_fx_exchange (fx, 0, "still here", "me too");
}

static void
test_send_indication (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  /* Nothing installed yet: encode refuses (the caller holds the packet). */
  guint8 buf[256];
  g_assert_cmpuint (ember_turn_client_encode (fx->relays[0].cli, fx->now, &fx->peer,
                                              (const guint8 *) "x", 1, buf, sizeof buf), ==, 0);
  /* The permission goes through, the channel binding is lost. */
  fx->drop_method = EMBER_STUN_METHOD_CHANNEL_BIND;
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), ==, 0);
  guint8 first = 0;
  g_assert_cmpuint (turn_fx_client_send (fx, 0, "via send", &first), >, 0);
  g_assert_cmpuint (first, ==, 0x00);  /* a STUN indication, not ChannelData */
  turn_fx_assert_peer_got (fx, "via send");
  /* The peer's answer comes back as a Data indication (no channel). */
  EmberAddr relayed = turn_fx_relayed4 (fx, 0);
  turn_fx_peer_send (fx, 0, &relayed, "via data");
  turn_fx_assert_client_got (fx, "via data");
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_DATA, 0), ==, 1);
  /* The binding retransmits: once the network lets it through, data moves
   * to the channel. */
  fx->drop_method = 0;
  turn_fx_advance (fx, fx->now + S (2));
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), !=, 0);
  turn_fx_exchange (fx, 0, "via channel", "back via channel");
}

static void
test_relay_down (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 2);
  turn_fx_allocate (fx, 0);
  turn_fx_allocate (fx, 1);
  for (guint i = 0; i < 2; i++)
    g_assert_true (ember_turn_client_add_peer (fx->relays[i].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  turn_fx_advance (fx, fx->now + S (30));
  /* Relay 0 stops answering; relay 1 keeps going. */
  fx->relays[0].silent = TRUE;
  gint64 silent_at = fx->now;
  EmberAddr old = turn_fx_relayed4 (fx, 0);
  turn_fx_advance (fx, silent_at + EMBER_TURN_DOWN_AFTER_US + S (1));
  const Ev *down = turn_fx_last_event (fx, EMBER_TURN_EVENT_DOWN);
  g_assert_nonnull (down);
  g_assert_cmpuint (down->relay, ==, 0);
  g_test_message ("relay declared down %.2f s after it went silent (bound %.2f s)",
                  (double) (down->t - silent_at) / G_USEC_PER_SEC,
                  (double) EMBER_TURN_DOWN_AFTER_US / G_USEC_PER_SEC);
  g_assert_cmpint (down->t - silent_at, <=, EMBER_TURN_DOWN_AFTER_US);
  /* Not too eager either: a few lost packets are no outage. */
  g_assert_cmpint (down->t - silent_at, >=, EMBER_TURN_TRANSACTION_TIMEOUT_US);
  const Ev *inv = turn_fx_last_event (fx, EMBER_TURN_EVENT_INVALIDATED);
  g_assert_nonnull (inv);
  g_assert_cmpuint (inv->relay, ==, 0);
  g_assert_true (inv < down);
  g_assert_cmpuint (inv->ev.n_relayed, ==, 1);
  g_assert_true (turn_fx_addr_eq (&inv->ev.relayed[0], &old));
  g_assert_true (ember_turn_client_is_down (fx->relays[0].cli));
  g_assert_false (ember_turn_client_is_allocated (fx->relays[0].cli));
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_DOWN), ==, 1);
  /* The other relay is unaffected. */
  g_assert_false (ember_turn_client_is_down (fx->relays[1].cli));
  g_assert_true (ember_turn_client_is_allocated (fx->relays[1].cli));
  turn_fx_exchange (fx, 1, "relay 1 up", "yes");

  /* It comes back: UP, then a new allocation (the old one may still
   * exist on the server: 437, delete, allocate again). */
  fx->relays[0].silent = FALSE;
  guint allocated = turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATED);
  turn_fx_advance (fx, fx->now + EMBER_TURN_RETRY_US + S (2));
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_UP), ==, 1);
  g_assert_false (ember_turn_client_is_down (fx->relays[0].cli));
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATED), ==, allocated + 1);
  turn_fx_advance (fx, fx->now + S (1));
  turn_fx_exchange (fx, 0, "relay 0 back", "welcome");
}

static void
test_reboot (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  EmberAddr old = turn_fx_relayed4 (fx, 0);
  /* The relay reboots with a new secret; the portal hands out new
   * credentials, which is how the client learns of it. */
  ember_relay_server_free (fx->relays[0].srv);
  turn_fx_relay_boot (fx, 0);
  char user[128], pass[64];
  turn_fx_credentials (&fx->relays[0], fx->now, user, sizeof user, pass, sizeof pass);
  guint allocated = turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATED);
  ember_turn_client_update_credentials (fx->relays[0].cli, fx->now, user, pass);
  /* The Refresh that checks the allocation finds it gone (the relay
   * answers 401: it knows neither the nonce nor the old secret). */
  turn_fx_pump (fx);
  const Ev *inv = turn_fx_last_event (fx, EMBER_TURN_EVENT_INVALIDATED);
  g_assert_nonnull (inv);
  g_assert_true (turn_fx_addr_eq (&inv->ev.relayed[0], &old));
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATED), ==, allocated + 1);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  /* The peer is set up again on the new allocation. */
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), !=, 0);
  turn_fx_exchange (fx, 0, "after reboot", "fine");
  /* The same credentials again are no reboot. */
  guint invalidated = turn_fx_count_events (fx, EMBER_TURN_EVENT_INVALIDATED);
  ember_turn_client_update_credentials (fx->relays[0].cli, fx->now, user, pass);
  turn_fx_pump (fx);
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_INVALIDATED), ==, invalidated);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
}

/* A client vanished without releasing its allocation (killed), and a new
 * one reaches the relay from the same address and port, under new
 * time-limited credentials: the relay answers 437 (our 5-tuple has an
 * allocation) and the release under our username 441 (it is not ours,
 * RFC 8656 §5). The client says so once (ALLOCATION_FAILED 437) instead
 * of retrying silently every 250 ms for as long as the old allocation
 * lives; once its shell moved to a fresh source port, it allocates. */
static void
test_five_tuple_held (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  ember_turn_client_free (fx->relays[0].cli);
  fx->now += S (30);
  char user[128], pass[64];
  turn_fx_credentials (&fx->relays[0], fx->now, user, sizeof user, pass, sizeof pass);
  EmberTurnRng rng = { turn_fx_rng, fx };
  fx->relays[0].cli = ember_turn_client_new (&fx->relays[0].server_addr, user, pass, &rng, fx->now);
  ember_turn_client_want_allocation (fx->relays[0].cli, fx->now);
  turn_fx_advance (fx, fx->now + S (60));
  g_assert_false (ember_turn_client_is_allocated (fx->relays[0].cli));
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_ALLOCATE, 437), >=, 2);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_REFRESH, 441), ==, 1);
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATION_FAILED), ==, 1);
  const Ev *e = turn_fx_last_event (fx, EMBER_TURN_EVENT_ALLOCATION_FAILED);
  g_assert_cmpuint (e->ev.error_code, ==, 437);
  /* Retried every 5 s, not every 250 ms: 1 + 1 + 60 / 5 Allocates. */
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, TRUE), <=, 15);

  /* A fresh source port: a new 5-tuple, allocated at the next retry. */
  fx->client_addr.port++;
  turn_fx_advance (fx, fx->now + EMBER_TURN_RETRY_US + S (1));
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.allocations, ==, 2);  /* the vanished one's lives on */
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  turn_fx_exchange (fx, 0, "from a fresh port", "welcome");
}

/* Time-limited credentials renewed while the relay keeps running: the
 * allocation stays, with its relayed address, permissions and channels,
 * through the renewal and past the old credentials' expiry, because
 * replacing it would break every relayed connection each time. One
 * Refresh at the renewal checks that the relay still holds it. */
static void
test_renewal (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  EmberAddr old = turn_fx_relayed4 (fx, 0);
  guint16 channel = ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer);
  gint64 issued = fx->now;
  /* An hour later (the nonce has gone stale too), the next day's
   * credentials (another expiry, so another username) from the same
   * secret. */
  turn_fx_advance (fx, fx->now + S (3600));
  char user[128], pass[64];
  turn_fx_credentials (&fx->relays[0], fx->now, user, sizeof user, pass, sizeof pass);
  guint allocated = turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATED);
  guint refreshed = turn_fx_count_answers (fx, EMBER_STUN_METHOD_REFRESH, 0);
  ember_turn_client_update_credentials (fx->relays[0].cli, fx->now, user, pass);
  turn_fx_pump (fx);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_REFRESH, 0), ==, refreshed + 1);
  g_assert_null (turn_fx_last_event (fx, EMBER_TURN_EVENT_INVALIDATED));
  /* A day later the old username has expired (the new one expires an
   * hour after it): still the same allocation, refreshed all along, and
   * no request refused. */
  turn_fx_advance (fx, issued + S (86400 + 1800));
  g_assert_null (turn_fx_last_event (fx, EMBER_TURN_EVENT_INVALIDATED));
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATED), ==, allocated);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  EmberAddr now_relayed = turn_fx_relayed4 (fx, 0);
  g_assert_true (turn_fx_addr_eq (&now_relayed, &old));
  g_assert_cmpuint (ember_turn_client_get_channel (fx->relays[0].cli, &fx->peer), ==, channel);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_REFRESH, 0), >, refreshed + 100);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_REFRESH,
                                           EMBER_STUN_ERROR_WRONG_CREDENTIALS), ==, 0);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_CHANNEL_BIND,
                                           EMBER_STUN_ERROR_UNAUTHENTICATED), ==, 0);
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.allocations, ==, 1);
  turn_fx_exchange (fx, 0, "a day after the renewal", "fine");
  /* When it is lost, the next one is made under the renewed credentials
   * (after its own expiry the old username would be refused). */
  ember_turn_client_deallocate (fx->relays[0].cli, fx->now);
  turn_fx_pump (fx);
  ember_turn_client_want_allocation (fx->relays[0].cli, fx->now);
  turn_fx_pump (fx);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATED), ==, allocated + 1);
}

/* A jump in time (suspend) while a Refresh is in flight: refresh_at lies
 * far behind, but the deadline handed out must still be ahead of now,
 * else the caller spins. Found by fuzz-turn-client. */
static void
test_jump_during_refresh (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  EmberTurnClient *cli = fx->relays[0].cli;
  fx->drop_method = EMBER_STUN_METHOD_REFRESH;
  /* Up to the refresh at 80 % of 600 s: the Refresh goes out, unanswered. */
  turn_fx_advance (fx, fx->now + S (481));
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_REFRESH, TRUE), >, 0);
  fx->now += S (1000);
  ember_turn_client_handle_timeout (cli, fx->now);
  g_assert_cmpint (ember_turn_client_poll_timeout (cli), >, fx->now);
}

static void
test_dual_both (TurnFx *fx, gconstpointer data)
{
  (void) data;
  fx->with_ip6 = TRUE;
  turn_fx_init (fx, 1);
  ember_turn_client_set_dual_stack (fx->relays[0].cli, TRUE);
  turn_fx_allocate (fx, 0);
  EmberAddr out[2];
  g_assert_cmpuint (ember_turn_client_get_relayed (fx->relays[0].cli, out), ==, 2);
  g_assert_cmpuint (out[0].family + out[1].family, ==, EMBER_ADDR_IPV4 + EMBER_ADDR_IPV6);
  g_assert_cmpuint (turn_fx_count_sent (fx, EMBER_STUN_METHOD_ALLOCATE, TRUE), ==, 1);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  turn_fx_exchange (fx, 0, "v4", "v4 back");
}

static void
test_dual_partial (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);  /* no IPv6 on this relay */
  ember_turn_client_set_dual_stack (fx->relays[0].cli, TRUE);
  turn_fx_allocate (fx, 0);
  /* RFC 8656 §7.2: IPv4 allocated, ADDRESS-ERROR-CODE 440 for IPv6. */
  EmberAddr out[2];
  g_assert_cmpuint (ember_turn_client_get_relayed (fx->relays[0].cli, out), ==, 1);
  g_assert_cmpuint (out[0].family, ==, EMBER_ADDR_IPV4);
}

static void
test_dual_refused (TurnFx *fx, gconstpointer data)
{
  (void) data;
  fx->with_ip6 = TRUE;
  turn_fx_init (fx, 1);
  fx->refuse_dual_once = TRUE;
  ember_turn_client_set_dual_stack (fx->relays[0].cli, TRUE);
  turn_fx_allocate (fx, 0);
  g_assert_false (fx->refuse_dual_once);
  g_assert_cmpuint (turn_fx_count_answers (fx, EMBER_STUN_METHOD_ALLOCATE, 440), ==, 1);
  /* The retry leaves ADDITIONAL-ADDRESS-FAMILY out and gets IPv4 only. */
  const Rec *last = NULL;
  for (guint i = 0; i < fx->sent->len; i++)
    if (g_array_index (fx->sent, Rec, i).method == EMBER_STUN_METHOD_ALLOCATE)
      last = &g_array_index (fx->sent, Rec, i);
  g_assert_false (last->additional_family);
  EmberAddr out[2];
  g_assert_cmpuint (ember_turn_client_get_relayed (fx->relays[0].cli, out), ==, 1);
  g_assert_cmpuint (out[0].family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (turn_fx_count_events (fx, EMBER_TURN_EVENT_ALLOCATION_FAILED), ==, 0);
}

static void
test_truncated (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  /* Every answer the server gives in a full session (binding, 401,
   * allocate, permission, channel, refresh, Data indication, ChannelData)
   * is first fed in every truncated length; the session must still work. */
  fx->feed_prefixes = TRUE;
  turn_fx_allocate (fx, 0);
  g_assert_true (ember_turn_client_add_peer (fx->relays[0].cli, fx->now, &fx->peer));
  turn_fx_pump (fx);
  EmberAddr relayed = turn_fx_relayed4 (fx, 0);
  fx->drop_method = 0;
  turn_fx_exchange (fx, 0, "up", "a reply long enough to have padding!");
  turn_fx_advance (fx, fx->now + S (600));
  turn_fx_exchange (fx, 0, "later", "still");
  g_assert_cmpuint (fx->prefix_results[EMBER_TURN_INPUT_INVALID], >, 100);
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
  EmberAddr now_relayed = turn_fx_relayed4 (fx, 0);
  g_assert_true (turn_fx_addr_eq (&relayed, &now_relayed));

  /* Garbage and bit flips of a real answer never crash or count. */
  fx->feed_prefixes = FALSE;
  guint8 junk[64];
  for (guint k = 0; k < 2000; k++)
    {
      gsize n = 1 + turn_fx_rng (fx) % sizeof junk;
      for (gsize j = 0; j < n; j++)
        junk[j] = (guint8) turn_fx_rng (fx);
      if (k % 2)
        {
          junk[0] = (guint8) (k % 4 == 1 ? 0x01 : 0x40);  /* look like STUN/ChannelData */
          if (n >= 8)
            memcpy (junk + 4, "\x21\x12\xa4\x42", 4);
        }
      EmberAddr peer;
      const guint8 *d;
      gsize dl;
      ember_turn_client_handle_input (fx->relays[0].cli, fx->now, &fx->relays[0].server_addr,
                                      junk, n, &peer, &d, &dl);
      turn_fx_drain_events (fx, 0);
    }
  g_assert_true (ember_turn_client_is_allocated (fx->relays[0].cli));
}

static void
test_not_from_server (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  EmberAddr other = turn_fx_ip ("192.0.2.99", 3478), peer;
  const guint8 *d;
  gsize dl;
  const guint8 cd[] = { 0x40, 0x00, 0x00, 0x01, 'x', 0, 0, 0 };
  g_assert_cmpint (ember_turn_client_handle_input (fx->relays[0].cli, fx->now, &other, cd,
                                                   sizeof cd, &peer, &d, &dl),
                   ==, EMBER_TURN_INPUT_NOT_FOR_US);
}

/* ---- transaction slots and requests that cannot be built ---------------- */

#define MANY_PEERS 40

static EmberAddr
many_peer (guint k)
{
  char ip[32];
  g_snprintf (ip, sizeof ip, "203.0.113.%u", 10 + k);
  return turn_fx_ip (ip, (guint16) (6000 + k));
}

/* What relay 0's client queued is lost on the way. */
static guint
drop_transmits (TurnFx *fx, guint16 method)
{
  guint8 buf[EMBER_TURN_MAX_MESSAGE];
  EmberAddr to;
  gsize n;
  guint of_method = 0;
  while ((n = ember_turn_client_poll_transmit (fx->relays[0].cli, buf, sizeof buf, &to)) > 0)
    {
      EmberStunMessage m;
      of_method += ember_stun_message_parse (&m, buf, n) == EMBER_STUN_OK && m.method == method;
    }
  return of_method;
}

static void
test_slots_full (TurnFx *fx, gconstpointer data)
{
  (void) data;
  /* Each peer takes two transactions (permission, channel): more peers
   * at once than there are slots, so most of them wait for one. */
  G_STATIC_ASSERT (2 * MANY_PEERS > EMBER_TURN_MAX_TRANSACTIONS);
  G_STATIC_ASSERT (MANY_PEERS <= EMBER_TURN_MAX_PEERS);
  turn_fx_init (fx, 1);
  turn_fx_allocate (fx, 0);
  EmberTurnClient *cli = fx->relays[0].cli;
  for (guint k = 0; k < MANY_PEERS; k++)
    {
      EmberAddr p = many_peer (k);
      g_assert_true (ember_turn_client_add_peer (cli, fx->now, &p));
    }
  /* The work that waits is long due, but handle_timeout() cannot start
   * it: the deadline must lie ahead, or a caller sleeping until it spins.
   * It is the first retransmission, when a slot could free. */
  ember_turn_client_handle_timeout (cli, fx->now);
  gint64 next = ember_turn_client_poll_timeout (cli);
  g_assert_cmpint (next, >, fx->now);
  g_assert_cmpint (next, <=, fx->now + EMBER_TURN_RTO_US);

  /* Those requests are lost; the retransmissions leave it ahead again. */
  g_assert_cmpuint (drop_transmits (fx, EMBER_STUN_METHOD_CREATE_PERMISSION), ==,
                    EMBER_TURN_MAX_TRANSACTIONS / 2);
  fx->now = next;
  ember_turn_client_handle_timeout (cli, fx->now);
  g_assert_cmpint (ember_turn_client_poll_timeout (cli), >, fx->now);

  /* The retransmissions are answered: a freed slot makes the waiting
   * work due at once, and every peer is set up without time passing. */
  gint64 answered_at = fx->now;
  turn_fx_pump (fx);
  g_assert_cmpint (ember_turn_client_poll_timeout (cli), <=, fx->now);
  turn_fx_advance (fx, fx->now);
  g_assert_cmpint (fx->now, ==, answered_at);
  for (guint k = 0; k < MANY_PEERS; k++)
    {
      EmberAddr p = many_peer (k);
      g_assert_cmpuint (ember_turn_client_get_channel (cli, &p), !=, 0);
    }
  EmberRelayServerStats st;
  ember_relay_server_get_stats (fx->relays[0].srv, &st);
  g_assert_cmpuint (st.permissions, ==, MANY_PEERS);
  g_assert_cmpuint (st.channels, ==, MANY_PEERS);
  g_assert_cmpint (ember_turn_client_poll_timeout (cli), >, fx->now);
  g_assert_true (ember_turn_client_is_allocated (cli));
}

/* The client's next request to relay 0, which must be `method`; `m`
 * points into `buf`. */
static void
take_request (TurnFx *fx, guint16 method, guint8 *buf, EmberStunMessage *m)
{
  EmberAddr to;
  gsize n = ember_turn_client_poll_transmit (fx->relays[0].cli, buf, EMBER_TURN_MAX_MESSAGE, &to);
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpint (ember_stun_message_parse (m, buf, n), ==, EMBER_STUN_OK);
  g_assert_cmpuint (m->method, ==, method);
  g_assert_cmpuint (m->klass, ==, EMBER_STUN_CLASS_REQUEST);
}

static void
feed_answer (TurnFx *fx, EmberStunBuilder *b)
{
  gsize n = ember_stun_builder_finish (b, NULL);
  g_assert_cmpuint (n, >, 0);
  EmberAddr peer;
  const guint8 *d;
  gsize dl;
  g_assert_cmpint (ember_turn_client_handle_input (fx->relays[0].cli, fx->now,
                                                   &fx->relays[0].server_addr, b->buf, n, &peer,
                                                   &d, &dl),
                   ==, EMBER_TURN_INPUT_HANDLED);
  turn_fx_drain_events (fx, 0);
}

/* A 401 challenge with this nonce, as a server with long nonces sends. */
static void
answer_401 (TurnFx *fx, const EmberStunMessage *req, gsize nonce_len)
{
  g_autofree char *nonce = g_strnfill (nonce_len, 'n');
  guint8 out[1024];
  EmberStunBuilder b;
  ember_stun_builder_init (&b, out, sizeof out, req->method, EMBER_STUN_CLASS_ERROR,
                           req->transaction_id);
  ember_stun_builder_add_error_code (&b, EMBER_STUN_ERROR_UNAUTHENTICATED, NULL);
  ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_REALM, "ember.test");
  ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_NONCE, nonce);
  ember_stun_builder_add_fingerprint (&b);
  feed_answer (fx, &b);
}

static void
test_challenge_too_long (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_pump (fx);
  EmberTurnClient *cli = fx->relays[0].cli;
  ember_turn_client_want_allocation (cli, fx->now);
  guint8 req[EMBER_TURN_MAX_MESSAGE];
  EmberStunMessage m;
  take_request (fx, EMBER_STUN_METHOD_ALLOCATE, req, &m);
  /* RFC 8489 §14.10 allows a nonce of up to 763 bytes; with 700, no
   * authenticated request fits EMBER_TURN_MAX_MESSAGE. The allocation
   * fails with the 401 rather than stay pending with nothing sent. */
  answer_401 (fx, &m, 700);
  const Ev *e = turn_fx_last_event (fx, EMBER_TURN_EVENT_ALLOCATION_FAILED);
  g_assert_nonnull (e);
  g_assert_cmpuint (e->ev.error_code, ==, 401);
  g_assert_false (ember_turn_client_is_allocated (cli));
  g_assert_cmpuint (drop_transmits (fx, EMBER_STUN_METHOD_ALLOCATE), ==, 0);
  /* The retries cannot be built either: each one leaves the deadline
   * ahead instead of due again at once. */
  for (guint k = 0; k < 3; k++)
    {
      gint64 next = ember_turn_client_poll_timeout (cli);
      g_assert_cmpint (next, >, fx->now);
      fx->now = next;
      ember_turn_client_handle_timeout (cli, fx->now);
      g_assert_cmpint (ember_turn_client_poll_timeout (cli), >, fx->now);
      g_assert_cmpuint (drop_transmits (fx, EMBER_STUN_METHOD_ALLOCATE), ==, 0);
    }
  g_assert_cmpint (fx->now, >=, S (1000) + EMBER_TURN_RETRY_US);
}

#define PAD4(n) (((n) + 3) & ~(gsize) 3)

static void
test_peer_request_too_long (TurnFx *fx, gconstpointer data)
{
  (void) data;
  turn_fx_init (fx, 1);
  turn_fx_pump (fx);
  EmberTurnClient *cli = fx->relays[0].cli;
  char user[128], pass[64];
  turn_fx_credentials (&fx->relays[0], fx->now, user, sizeof user, pass, sizeof pass);
  ember_turn_client_want_allocation (cli, fx->now);
  guint8 req[EMBER_TURN_MAX_MESSAGE];
  EmberStunMessage m;
  take_request (fx, EMBER_STUN_METHOD_ALLOCATE, req, &m);
  /* A nonce that makes the authenticated Allocate exactly
   * EMBER_TURN_MAX_MESSAGE long: header, REQUESTED-TRANSPORT, USERNAME,
   * REALM, NONCE, MESSAGE-INTEGRITY, FINGERPRINT. CreatePermission
   * (XOR-PEER-ADDRESS, 4 bytes more) and ChannelBind do not fit. */
  gsize fixed = EMBER_STUN_HEADER_LEN + 8 + 4 + PAD4 (strlen (user)) + 4
                + PAD4 (strlen ("ember.test")) + 4 + 24 + 8;
  answer_401 (fx, &m, EMBER_TURN_MAX_MESSAGE - fixed);
  take_request (fx, EMBER_STUN_METHOD_ALLOCATE, req, &m);
  g_assert_cmpint (m.integrity, >=, 0);
  g_assert_cmpuint (m.len, ==, EMBER_TURN_MAX_MESSAGE);

  guint8 key[EMBER_STUN_LONG_TERM_KEY_MD5_LEN];
  ember_stun_long_term_key_md5 ((const guint8 *) user, strlen (user),
                                (const guint8 *) "ember.test", strlen ("ember.test"),
                                (const guint8 *) pass, strlen (pass), key);
  guint8 out[256];
  EmberStunBuilder b;
  ember_stun_builder_init (&b, out, sizeof out, EMBER_STUN_METHOD_ALLOCATE,
                           EMBER_STUN_CLASS_SUCCESS, m.transaction_id);
  EmberAddr relayed = turn_fx_ip ("192.0.2.1", 50000);
  ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
  ember_stun_builder_add_u32 (&b, EMBER_STUN_ATTR_LIFETIME, 600);
  ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, &fx->client_addr);
  ember_stun_builder_add_integrity (&b, key, sizeof key);
  ember_stun_builder_add_fingerprint (&b);
  feed_answer (fx, &b);
  g_assert_true (ember_turn_client_is_allocated (cli));

  /* The peer is taken, but neither request can be built: nothing is sent
   * and the deadline stays ahead of every handle_timeout(). */
  g_assert_true (ember_turn_client_add_peer (cli, fx->now, &fx->peer));
  g_assert_cmpuint (drop_transmits (fx, EMBER_STUN_METHOD_CREATE_PERMISSION), ==, 0);
  for (guint k = 0; k < 3; k++)
    {
      ember_turn_client_handle_timeout (cli, fx->now);
      gint64 next = ember_turn_client_poll_timeout (cli);
      g_assert_cmpint (next, >, fx->now);
      g_assert_cmpuint (drop_transmits (fx, EMBER_STUN_METHOD_CREATE_PERMISSION), ==, 0);
      fx->now = next;
    }
  g_assert_cmpuint (ember_turn_client_get_channel (cli, &fx->peer), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, TurnFx, NULL, turn_fx_setup, fn, turn_fx_teardown)
  ADD ("/turn/client/allocate/5-tuple-held-by-a-vanished-client-is-reported-once",
       test_five_tuple_held);
  ADD ("/turn/client/allocate/401-then-success", test_allocate_401);
  ADD ("/turn/client/allocate/stale-nonce-438", test_stale_nonce);
  ADD ("/turn/client/allocate/refresh-at-80-percent", test_refresh_80);
  ADD ("/turn/client/peer/refresh-over-an-hour", test_peer_refresh_hour);
  ADD ("/turn/client/data/send-indication-before-channel", test_send_indication);
  ADD ("/turn/client/relay/down-and-up", test_relay_down);
  ADD ("/turn/client/relay/reboot-new-credentials", test_reboot);
  ADD ("/turn/client/relay/credentials-renewed", test_renewal);
  ADD ("/turn/client/allocate/time-jump-during-refresh", test_jump_during_refresh);
  ADD ("/turn/client/dual-stack/both", test_dual_both);
  ADD ("/turn/client/dual-stack/ipv6-not-offered", test_dual_partial);
  ADD ("/turn/client/dual-stack/refused-440-fallback", test_dual_refused);
  ADD ("/turn/client/input/truncated-and-garbage", test_truncated);
  ADD ("/turn/client/input/not-from-server", test_not_from_server);
  ADD ("/turn/client/allocate/wrong-password", test_wrong_password);
  ADD ("/turn/client/allocate/challenge-too-long-to-answer", test_challenge_too_long);
  ADD ("/turn/client/peer/more-than-the-transaction-slots", test_slots_full);
  ADD ("/turn/client/peer/request-too-long-to-build", test_peer_request_too_long);
#undef ADD
  return g_test_run ();
}
