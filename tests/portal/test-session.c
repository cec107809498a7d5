/* tests/portal/test-session — the device side's portal session
 * (core/portal/session.h) against the real `ember-portal serve` running
 * in this process on a real SQLite file, and against servers in this
 * test that misbehave (not HTTP, not a WebSocket, bad frames, closing
 * mid-frame, no heartbeat replies, 429/503 with Retry-After). Loopback
 * only, ports chosen by the kernel, every wait bounded. */
#include "portal-fx.h"
#include "session-fakes.h"
#include "portal-test-util.h"
#include "portal/session.h"
#include "portal/upgrade.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

/* A key with '+', '/' and '=': all three must be URL-encoded in the query. */
#define PUBLIC_KEY "+++++++++++++++++++++++++++++++++++++++++/A="

/* ---- scratch directories, removed also when a test aborts -------------------- */

static GPtrArray *scratch_dirs;   /* char *, guarded by scratch_lock */
static GMutex scratch_lock;

static void
on_abort (int sig)
{
  /* Not async-signal-safe, but the process is dying anyway; a stale
   * directory per failed run is what this prevents. */
  if (scratch_dirs != NULL)
    for (guint i = 0; i < scratch_dirs->len; i++)
      portal_test_rmtree (g_ptr_array_index (scratch_dirs, i));
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
track_dir (const char *dir)
{
  g_mutex_lock (&scratch_lock);
  if (scratch_dirs == NULL)
    {
      scratch_dirs = g_ptr_array_new_with_free_func (g_free);
      signal (SIGABRT, on_abort);
      signal (SIGTRAP, on_abort);
    }
  g_ptr_array_add (scratch_dirs, g_strdup (dir));
  g_mutex_unlock (&scratch_lock);
}

static void
untrack_dir (const char *dir)
{
  g_mutex_lock (&scratch_lock);
  for (guint i = 0; scratch_dirs != NULL && i < scratch_dirs->len; i++)
    if (strcmp (g_ptr_array_index (scratch_dirs, i), dir) == 0)
      {
        g_ptr_array_remove_index (scratch_dirs, i);
        break;
      }
  g_mutex_unlock (&scratch_lock);
}

static void
setup_fx (PortalFx *fx, const char *extra)
{
  portal_fx_setup (fx, extra);
  track_dir (fx->dir);
}

static void
teardown_fx (PortalFx *fx)
{
  g_autofree char *dir = g_strdup (fx->dir);
  portal_fx_teardown (fx);
  untrack_dir (dir);
}

/* ---- a recorder of what the session reports --------------------------------- */

typedef struct {
  EmberPortalSessionState state;
  GQuark domain;
  gint code;
  char *message;   /* NULL without error */
  gint64 at;       /* monotonic */
  gint64 retry_delay;
} Change;

typedef struct {
  EmberPortalEvent event;
  guint n_resources;          /* client init */
  EmberPortalId resource_id;  /* authorization_creation_failed */
  EmberPortalAuthzFailure failure;
  EmberPortalDisconnectReason disconnect;
} Seen;

typedef struct {
  GArray *changes;   /* Change */
  GArray *seen;      /* Seen */
  EmberPortalSession *session;
  gboolean free_on_rejected;
  guint reconnect_on_joined;   /* reconnect() from the JOINED callback this often */
  gboolean free_on_init;       /* free() from the message callback for init */
} Recorder;

static void
on_message (EmberPortalSession *s, const EmberPortalMessage *msg, gpointer user_data)
{
  (void) s;
  Recorder *r = user_data;
  Seen seen = { .event = msg->event };
  if (msg->event == EMBER_PORTAL_EVENT_CLIENT_INIT)
    seen.n_resources = msg->u.client_init.n_resources;
  if (msg->event == EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED)
    {
      seen.resource_id = msg->u.authorization_failed.resource_id;
      seen.failure = msg->u.authorization_failed.reason;
    }
  if (msg->event == EMBER_PORTAL_EVENT_DISCONNECT)
    seen.disconnect = msg->u.disconnect.reason;
  g_array_append_val (r->seen, seen);
  if (r->free_on_init && msg->event == EMBER_PORTAL_EVENT_CLIENT_INIT)
    g_clear_pointer (&r->session, ember_portal_session_free);
}

static void
on_state (EmberPortalSession *s, EmberPortalSessionState state, const GError *error,
          gpointer user_data)
{
  Recorder *r = user_data;
  g_assert_true (state == ember_portal_session_get_state (s));
  Change c = { .state = state, .at = g_get_monotonic_time (),
                .retry_delay = ember_portal_session_get_retry_delay (s) };
  if (error != NULL)
    {
      c.domain = error->domain;
      c.code = error->code;
      c.message = g_strdup (error->message);
    }
  if (g_test_verbose ())
    g_printerr ("  state %s%s%s\n", ember_portal_session_state_to_string (state),
                error ? ": " : "", error ? error->message : "");
  g_array_append_val (r->changes, c);
  /* The header allows it: free from inside the callback. */
  if (state == EMBER_PORTAL_SESSION_REJECTED && r->free_on_rejected)
    g_clear_pointer (&r->session, ember_portal_session_free);
  if (state == EMBER_PORTAL_SESSION_JOINED && r->reconnect_on_joined > 0)
    {
      r->reconnect_on_joined--;
      ember_portal_session_reconnect (s);
    }
}

static void
change_clear (gpointer p)
{
  g_free (((Change *) p)->message);
}

static void
recorder_init (Recorder *r)
{
  memset (r, 0, sizeof *r);
  r->changes = g_array_new (FALSE, TRUE, sizeof (Change));
  g_array_set_clear_func (r->changes, change_clear);
  r->seen = g_array_new (FALSE, TRUE, sizeof (Seen));
}

static void
recorder_clear (Recorder *r)
{
  g_clear_pointer (&r->session, ember_portal_session_free);
  g_array_unref (r->changes);
  g_array_unref (r->seen);
  /* let the closed WebSockets go */
  portal_fx_run (20);
}

static const EmberPortalSessionCallbacks callbacks = { on_message, on_state };

static guint
count_state (Recorder *r, EmberPortalSessionState state)
{
  guint n = 0;
  for (guint i = 0; i < r->changes->len; i++)
    n += g_array_index (r->changes, Change, i).state == state;
  return n;
}

static guint
count_event (Recorder *r, EmberPortalEvent event)
{
  guint n = 0;
  for (guint i = 0; i < r->seen->len; i++)
    n += g_array_index (r->seen, Seen, i).event == event;
  return n;
}

/* The last change into `state`, or NULL. */
static const Change *
last_change (Recorder *r, EmberPortalSessionState state)
{
  for (guint i = r->changes->len; i > 0; i--)
    if (g_array_index (r->changes, Change, i - 1).state == state)
      return &g_array_index (r->changes, Change, i - 1);
  return NULL;
}

/* Runs the main loop until `state` was entered `n` times (or `event`
 * seen `n` times); bounded. */
static gboolean
wait_state (Recorder *r, EmberPortalSessionState state, guint n, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (count_state (r, state) < n && g_get_monotonic_time () < deadline)
    portal_fx_run (5);
  return count_state (r, state) >= n;
}

static gboolean
wait_event (Recorder *r, EmberPortalEvent event, guint n, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  while (count_event (r, event) < n && g_get_monotonic_time () < deadline)
    portal_fx_run (5);
  return count_event (r, event) >= n;
}

static EmberPortalSession *
session_new (Recorder *r, const char *url, EmberPortalChannel channel, const char *token,
             const char *external_id, gint64 heartbeat_us)
{
  EmberPortalSessionConfig cfg = {
    .url = url,
    .token = token,
    .channel = channel,
    .public_key = PUBLIC_KEY,
    .external_id = external_id,
    .heartbeat_interval_us = heartbeat_us,
    .backoff_base_us = 50 * G_TIME_SPAN_MILLISECOND,
    .backoff_max_us = 400 * G_TIME_SPAN_MILLISECOND,
  };
  g_autoptr (GError) error = NULL;
  r->session = ember_portal_session_new (NULL, &cfg, &callbacks, r, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r->session);
  return r->session;
}

static char *
portal_url (PortalFx *fx)
{
  return g_strdup_printf ("ws://127.0.0.1:%u", fx->port);
}

static void
request_authorization (EmberPortalSession *s, const char *resource_id)
{
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION,
                             EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  g_assert_true (ember_portal_id_parse (resource_id, &m.u.request_authorization.resource_id, "r",
                                        NULL));
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_portal_session_send (s, &m, &error));
  g_assert_no_error (error);
}

/* ---- pure functions --------------------------------------------------------- */

static void
test_backoff_table (void)
{
  const gint64 base = EMBER_PORTAL_SESSION_BACKOFF_BASE_US;
  const gint64 max = EMBER_PORTAL_SESSION_BACKOFF_MAX_US;
  const gint64 s = G_USEC_PER_SEC;
  static const struct {
    gint64 prev;
    guint32 random;
    gint64 want;
  } table[] = {
    /* after a reset: [1 s, 3 s] */
    { 0, 0, 1 * G_USEC_PER_SEC },
    { 0, G_MAXUINT32, 3 * G_USEC_PER_SEC },
    { 0, 0x80000000u, 2 * G_USEC_PER_SEC },
    /* the upper end triples: 3, 9, 27, then the 60 s cap */
    { 3 * G_USEC_PER_SEC, G_MAXUINT32, 9 * G_USEC_PER_SEC },
    { 9 * G_USEC_PER_SEC, G_MAXUINT32, 27 * G_USEC_PER_SEC },
    { 27 * G_USEC_PER_SEC, G_MAXUINT32, 60 * G_USEC_PER_SEC },
    { 60 * G_USEC_PER_SEC, G_MAXUINT32, 60 * G_USEC_PER_SEC },
    /* the low end stays at the base: decorrelated, not monotonic */
    { 60 * G_USEC_PER_SEC, 0, 1 * G_USEC_PER_SEC },
    /* a previous delay out of range is clamped into it */
    { -5, G_MAXUINT32, 3 * G_USEC_PER_SEC },
    { G_MAXINT64, G_MAXUINT32, 60 * G_USEC_PER_SEC },
  };
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    g_assert_cmpint (ember_portal_session_backoff_next (table[i].prev, table[i].random, base, max),
                     ==, table[i].want);

  /* With the largest random value the sequence reaches the cap and stays. */
  gint64 d = 0;
  gint64 seq[6];
  for (guint i = 0; i < G_N_ELEMENTS (seq); i++)
    seq[i] = d = ember_portal_session_backoff_next (d, G_MAXUINT32, base, max);
  g_assert_cmpint (seq[0], ==, 3 * s);
  for (guint i = 1; i < G_N_ELEMENTS (seq); i++)
    g_assert_cmpint (seq[i], >=, seq[i - 1]);
  g_assert_cmpint (seq[G_N_ELEMENTS (seq) - 1], ==, max);

  /* Jitter: any random value stays within [base, min(max, 3 × prev)], and
   * the values spread over the range rather than clustering. */
  GRand *rand = g_rand_new_with_seed (13);
  gint64 prevs[] = { 0, base, 2 * s, 10 * s, 30 * s, max };
  for (guint p = 0; p < G_N_ELEMENTS (prevs); p++)
    {
      gint64 lo = G_MAXINT64, hi = 0;
      gint64 top = MIN (max, 3 * MAX (prevs[p], base));
      for (guint i = 0; i < 2000; i++)
        {
          gint64 v = ember_portal_session_backoff_next (prevs[p], g_rand_int (rand), base, max);
          g_assert_cmpint (v, >=, base);
          g_assert_cmpint (v, <=, top);
          lo = MIN (lo, v);
          hi = MAX (hi, v);
        }
      g_assert_cmpint (lo, <, base + (top - base) / 10 + 1);
      g_assert_cmpint (hi, >, top - (top - base) / 10 - 1);
    }
  g_rand_free (rand);
  /* a tuning where the cap is below the base is lifted to the base */
  g_assert_cmpint (ember_portal_session_backoff_next (0, G_MAXUINT32, 5 * s, s), ==, 5 * s);
}

static void
test_retry_after_parse (void)
{
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after (NULL, 0), ==, 0);
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after ("10", 0), ==, 10 * G_USEC_PER_SEC);
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after (" 7 ", 0), ==, 7 * G_USEC_PER_SEC);
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after ("0", 0), ==, 0);
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after ("-3", 0), ==, 0);
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after ("12abc", 0), ==, 0);
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after ("soon", 0), ==, 0);
  /* RFC 9110 §5.6.7 IMF-fixdate, 120 s after `now` */
  gint64 now = 1765011600; /* Sat, 06 Dec 2025 09:00:00 GMT */
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after ("Sat, 06 Dec 2025 09:02:00 GMT", now), ==,
                   120 * G_USEC_PER_SEC);
  /* a date in the past: no wait */
  g_assert_cmpint (ember_portal_upgrade_parse_retry_after ("Sat, 06 Dec 2025 08:00:00 GMT", now), ==,
                   0);
}

static void
test_new_refuses_bad_configuration (void)
{
  static const struct {
    const char *url, *token, *public_key, *external_id, *ca_file;
    const char *needle;
  } bad[] = {
    { NULL, "t", PUBLIC_KEY, "laptop", NULL, "portal url: missing" },
    { "http://127.0.0.1:1", "t", PUBLIC_KEY, "laptop", NULL, "expected ws:// or wss://" },
    { "ws://", "t", PUBLIC_KEY, "laptop", NULL, "portal url" },
    { "ws://127.0.0.1:1/?x=1", "t", PUBLIC_KEY, "laptop", NULL, "no user, query or fragment" },
    { "ws://127.0.0.1:1", "", PUBLIC_KEY, "laptop", NULL, "portal token: empty" },
    { "ws://127.0.0.1:1", "a b", PUBLIC_KEY, "laptop", NULL, "portal token: contains" },
    { "ws://127.0.0.1:1", "a\r\nX: y", PUBLIC_KEY, "laptop", NULL, "portal token: contains" },
    { "ws://127.0.0.1:1", "t", "AAAA", "laptop", NULL, "portal public_key" },
    { "ws://127.0.0.1:1", "t", NULL, "laptop", NULL, "portal public_key" },
    { "ws://127.0.0.1:1", "t", PUBLIC_KEY, "", NULL, "portal external_id" },
    { "ws://127.0.0.1:1", "t", PUBLIC_KEY, "a/b", NULL, "portal external_id" },
    { "wss://127.0.0.1:1", "t", PUBLIC_KEY, "laptop", "/nonexistent/ca.pem", "portal ca_file" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      EmberPortalSessionConfig cfg = {
        .url = bad[i].url, .token = bad[i].token, .public_key = bad[i].public_key,
        .external_id = bad[i].external_id, .ca_file = bad[i].ca_file,
      };
      g_autoptr (GError) error = NULL;
      EmberPortalSession *s = ember_portal_session_new (NULL, &cfg, &callbacks, NULL, &error);
      g_assert_null (s);
      g_assert_error (error, EMBER_PORTAL_SESSION_ERROR, EMBER_PORTAL_SESSION_ERROR_INVALID);
      if (strstr (error->message, bad[i].needle) == NULL)
        g_error ("case %u: \"%s\" does not name \"%s\"", i, error->message, bad[i].needle);
    }
  /* and a good one, IPv6 literal and a base path included */
  EmberPortalSessionConfig cfg = {
    .url = "ws://[::1]:8080/portal/", .token = "t", .public_key = PUBLIC_KEY,
    .external_id = "laptop-1",
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberPortalSession) s = ember_portal_session_new (NULL, &cfg, &callbacks, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ember_portal_session_get_state (s), ==, EMBER_PORTAL_SESSION_DISCONNECTED);
  g_assert_false (ember_portal_session_set_token (s, "", &error));
  g_assert_error (error, EMBER_PORTAL_SESSION_ERROR, EMBER_PORTAL_SESSION_ERROR_INVALID);
}

/* ---- against the real portal ------------------------------------------------ */

static void
test_joins_and_gets_init (void)
{
  PortalFx fx;
  setup_fx (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200); /* the policy reaches the portal\'s snapshot */
  g_autofree char *url = portal_url (&fx);

  Recorder client, gw;
  recorder_init (&client);
  recorder_init (&gw);
  session_new (&client, url, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1", 0);
  session_new (&gw, url, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1", 0);
  ember_portal_session_start (client.session);
  ember_portal_session_start (gw.session);
  /* start() reports nothing from inside itself */
  g_assert_cmpuint (client.changes->len, ==, 0);
  g_assert_true (wait_event (&client, EMBER_PORTAL_EVENT_CLIENT_INIT, 1, 5000));
  g_assert_true (wait_event (&gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 1, 5000));

  /* CONNECTING, then JOINED, then init as the first message */
  g_assert_cmpuint (client.changes->len, ==, 2);
  g_assert_cmpint (g_array_index (client.changes, Change, 0).state, ==,
                   EMBER_PORTAL_SESSION_CONNECTING);
  g_assert_cmpint (g_array_index (client.changes, Change, 1).state, ==,
                   EMBER_PORTAL_SESSION_JOINED);
  g_assert_null (g_array_index (client.changes, Change, 1).message);
  g_assert_cmpint (g_array_index (client.seen, Seen, 0).event, ==, EMBER_PORTAL_EVENT_CLIENT_INIT);
  g_assert_cmpuint (g_array_index (client.seen, Seen, 0).n_resources, ==, 1);
  g_assert_cmpint (g_array_index (gw.seen, Seen, 0).event, ==, EMBER_PORTAL_EVENT_GATEWAY_INIT);
  g_assert_cmpuint (ember_portal_server_n_clients (fx.server), ==, 1);
  g_assert_cmpuint (ember_portal_server_n_gateways (fx.server), ==, 1);

  /* the portal stored the key and external id the query carried */
  g_autoptr (EmberStoreClient) laptop = ember_store_client_get_by_name (fx.store, "laptop", NULL);
  g_assert_nonnull (laptop);
  g_assert_cmpstr (laptop->public_key, ==, PUBLIC_KEY);
  g_assert_cmpstr (laptop->external_id, ==, "laptop-1");

  recorder_clear (&client);
  recorder_clear (&gw);
  teardown_fx (&fx);
}

static void
test_heartbeats_keep_the_session (void)
{
  /* The portal closes a session after three of its heartbeat intervals
   * without one (1.5 s here); a session that heartbeats every 0.15 s and
   * gets every reply stays joined over several of those periods. */
  PortalFx fx;
  setup_fx (&fx, "heartbeat-interval=0.5\n");
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200); /* the policy reaches the portal\'s snapshot */
  g_autofree char *url = portal_url (&fx);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1", 150 * G_TIME_SPAN_MILLISECOND);
  ember_portal_session_start (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_JOINED, 1, 5000));
  portal_fx_run (4000);
  g_assert_cmpint (ember_portal_session_get_state (r.session), ==, EMBER_PORTAL_SESSION_JOINED);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED), ==, 0);
  g_assert_cmpuint (count_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT), ==, 1);
  recorder_clear (&r);
  teardown_fx (&fx);
}

static void
test_wrong_token_is_rejected (void)
{
  PortalFx fx;
  setup_fx (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200); /* the policy reaches the portal\'s snapshot */
  g_autofree char *url = portal_url (&fx);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, "not-a-token", "laptop-1", 0);
  ember_portal_session_start (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_REJECTED, 1, 5000));
  const Change *c = last_change (&r, EMBER_PORTAL_SESSION_REJECTED);
  g_assert_cmpuint (c->domain, ==, EMBER_PORTAL_SESSION_ERROR);
  g_assert_cmpint (c->code, ==, EMBER_PORTAL_SESSION_ERROR_UNAUTHORIZED);
  g_assert_cmpstr (c->message, ==, "the portal rejected the token (invalid_token)");
  /* no retry: many backoff periods (50..400 ms) later, still one attempt */
  portal_fx_run (1500);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_CONNECTING), ==, 1);
  g_assert_cmpint (ember_portal_session_get_state (r.session), ==, EMBER_PORTAL_SESSION_REJECTED);

  /* A client token on the gateway endpoint is invalid as well; and
   * reconnect() after a new token is set tries again and joins. */
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_portal_session_set_token (r.session, ct, &error));
  ember_portal_session_reconnect (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_JOINED, 1, 5000));
  recorder_clear (&r);

  /* the session may be freed from inside its REJECTED callback */
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_GATEWAY, ct, "laptop-2", 0);
  r.free_on_rejected = TRUE;
  ember_portal_session_start (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_REJECTED, 1, 5000));
  g_assert_null (r.session);
  g_assert_cmpstr (last_change (&r, EMBER_PORTAL_SESSION_REJECTED)->message, ==,
                   "the portal rejected the token (invalid_token)");
  recorder_clear (&r);
  teardown_fx (&fx);
}

static void
test_revoked_token_while_joined (void)
{
  PortalFx fx;
  setup_fx (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200); /* the policy reaches the portal\'s snapshot */
  g_autofree char *url = portal_url (&fx);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1", 0);
  ember_portal_session_start (r.session);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 1, 5000));

  g_autoptr (GPtrArray) tokens = ember_store_list_tokens (fx.store, EMBER_STORE_DEVICE_CLIENT, NULL);
  g_assert_true (ember_store_token_revoke (fx.store, ((EmberStoreToken *) tokens->pdata[0])->id,
                                           "test", NULL));
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_REJECTED, 1, 5000));
  const Change *c = last_change (&r, EMBER_PORTAL_SESSION_REJECTED);
  g_assert_cmpint (c->code, ==, EMBER_PORTAL_SESSION_ERROR_UNAUTHORIZED);
  g_assert_cmpstr (c->message, ==, "the portal rejected the token (token_revoked)");
  /* the disconnect itself was delivered first */
  g_assert_cmpuint (count_event (&r, EMBER_PORTAL_EVENT_DISCONNECT), ==, 1);
  portal_fx_run (1000);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_CONNECTING), ==, 1);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED), ==, 0);

  /* reconnect() with the revoked token: a 401 naming revoked_token */
  ember_portal_session_reconnect (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_REJECTED, 2, 5000));
  g_assert_cmpstr (last_change (&r, EMBER_PORTAL_SESSION_REJECTED)->message, ==,
                   "the portal rejected the token (revoked_token)");
  recorder_clear (&r);
  teardown_fx (&fx);
}

static void
test_expired_token_while_joined (void)
{
  PortalFx fx;
  setup_fx (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200); /* the policy reaches the portal's snapshot */
  /* a second token of the laptop that expires in about two seconds */
  g_autoptr (GError) error = NULL;
  gint64 expires = g_get_real_time () / G_USEC_PER_SEC + 2;
  g_autofree char *short_lived = ember_store_token_create (fx.store, EMBER_STORE_DEVICE_CLIENT,
                                                           "laptop", NULL, expires, "test", NULL,
                                                           &error);
  g_assert_no_error (error);
  g_autofree char *url = portal_url (&fx);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, short_lived, "laptop-1", 0);
  ember_portal_session_start (r.session);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 1, 5000));
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_REJECTED, 1, 8000));
  const Change *c = last_change (&r, EMBER_PORTAL_SESSION_REJECTED);
  g_assert_cmpint (c->code, ==, EMBER_PORTAL_SESSION_ERROR_UNAUTHORIZED);
  g_assert_cmpstr (c->message, ==, "the portal rejected the token (token_expired)");
  g_assert_cmpuint (count_event (&r, EMBER_PORTAL_EVENT_DISCONNECT), ==, 1);
  portal_fx_run (500);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_CONNECTING), ==, 1);
  recorder_clear (&r);
  teardown_fx (&fx);
}

static void
test_replaced_ends_in_rejected (void)
{
  PortalFx fx;
  setup_fx (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200); /* the policy reaches the portal\'s snapshot */
  g_autofree char *url = portal_url (&fx);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1", 0);
  ember_portal_session_start (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_JOINED, 1, 5000));
  /* the same token and external_id sign in again elsewhere */
  PortalPeer *other = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_REJECTED, 1, 5000));
  const Change *c = last_change (&r, EMBER_PORTAL_SESSION_REJECTED);
  g_assert_cmpint (c->code, ==, EMBER_PORTAL_SESSION_ERROR_REPLACED);
  g_assert_nonnull (strstr (c->message, "(replaced)"));
  /* and it does not come back to evict the other one */
  portal_fx_run (800);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_CONNECTING), ==, 1);
  g_assert_cmpuint (portal_peer_wait_closed (other, 50), ==, 0);
  portal_peer_free (other);
  recorder_clear (&r);
  teardown_fx (&fx);
}

static void
test_reconnects_after_portal_restart (void)
{
  PortalFx fx;
  setup_fx (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200); /* the policy reaches the portal\'s snapshot */
  /* the restarted portal listens on the port the kernel gave the first */
  g_free (fx.config->listen[0]);
  fx.config->listen[0] = g_strdup_printf ("127.0.0.1:%u", fx.port);
  g_autofree char *url = portal_url (&fx);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1", 0);
  ember_portal_session_start (r.session);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 1, 5000));

  /* stopped: the session notices and keeps trying (refused connections) */
  g_clear_pointer (&fx.server, ember_portal_server_free);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED, 1, 5000));
  const Change *c = last_change (&r, EMBER_PORTAL_SESSION_DISCONNECTED);
  g_assert_cmpuint (c->domain, ==, EMBER_PORTAL_SESSION_ERROR);
  g_assert_true (c->code == EMBER_PORTAL_SESSION_ERROR_CLOSED
                 || c->code == EMBER_PORTAL_SESSION_ERROR_NETWORK);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED, 3, 5000));
  c = last_change (&r, EMBER_PORTAL_SESSION_DISCONNECTED);
  g_assert_cmpint (c->code, ==, EMBER_PORTAL_SESSION_ERROR_NETWORK);
  g_assert_nonnull (strstr (c->message, "cannot connect to 127.0.0.1"));

  /* started again: joined and a fresh init, by itself */
  portal_fx_restart (&fx);
  g_assert_cmpuint (fx.port, ==, (guint16) atoi (strrchr (url, ':') + 1));
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 2, 5000));
  g_assert_cmpint (ember_portal_session_get_state (r.session), ==, EMBER_PORTAL_SESSION_JOINED);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_JOINED), ==, 2);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_REJECTED), ==, 0);

  /* reconnect() (SIGHUP): a new connection at once, and init again */
  ember_portal_session_reconnect (r.session);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 3, 5000));
  recorder_clear (&r);
  teardown_fx (&fx);
}

static void
test_queued_sends_after_join (void)
{
  PortalFx fx;
  setup_fx (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200); /* the policy reaches the portal\'s snapshot */
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  g_autofree char *url = portal_url (&fx);
  Recorder r;
  recorder_init (&r);
  EmberPortalSession *s = session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1", 0);

  /* before start: queued, in order; the portal answers each one with
   * authorization_creation_failed (unknown: not_found; web: offline,
   * no gateway is joined) */
  const char *unknown_a = "00000000-0000-4000-8000-00000000000a";
  const char *unknown_b = "00000000-0000-4000-8000-00000000000b";
  request_authorization (s, unknown_a);
  request_authorization (s, web);
  request_authorization (s, unknown_b);
  g_assert_cmpuint (ember_portal_session_queued (s), ==, 3);

  /* a message the client does not send is refused, not queued */
  g_auto (EmberPortalMessage) wrong;
  ember_portal_message_init (&wrong, EMBER_PORTAL_EVENT_HEARTBEAT, EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_false (ember_portal_session_send (s, &wrong, &error));
  g_assert_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_WRONG_DIRECTION);
  g_clear_error (&error);
  g_auto (EmberPortalMessage) flow;
  ember_portal_message_init (&flow, EMBER_PORTAL_EVENT_FLOW_AUTHORIZED, EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  flow.u.flow_authorized.ref = g_strdup ("x");
  g_assert_false (ember_portal_session_send (s, &flow, &error));
  g_assert_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_WRONG_DIRECTION);
  g_clear_error (&error);
  g_assert_cmpuint (ember_portal_session_queued (s), ==, 3);

  ember_portal_session_start (s);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED, 3, 5000));
  g_assert_cmpuint (ember_portal_session_queued (s), ==, 0);
  guint k = 0;
  const char *want[] = { unknown_a, web, unknown_b };
  EmberPortalAuthzFailure why[] = { EMBER_PORTAL_AUTHZ_NOT_FOUND, EMBER_PORTAL_AUTHZ_OFFLINE,
                                    EMBER_PORTAL_AUTHZ_NOT_FOUND };
  g_assert_cmpint (g_array_index (r.seen, Seen, 0).event, ==, EMBER_PORTAL_EVENT_CLIENT_INIT);
  for (guint i = 0; i < r.seen->len; i++)
    {
      Seen *seen = &g_array_index (r.seen, Seen, i);
      if (seen->event != EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED)
        continue;
      g_assert_cmpstr (seen->resource_id.str, ==, want[k]);
      g_assert_cmpint (seen->failure, ==, why[k]);
      k++;
    }
  g_assert_cmpuint (k, ==, 3);

  /* joined: sent at once */
  request_authorization (s, unknown_b);
  g_assert_cmpuint (ember_portal_session_queued (s), ==, 0);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED, 4, 5000));

  /* portal away: the queue fills up to its bound, then refuses; nothing
   * of it is lost when the portal is back */
  g_free (fx.config->listen[0]);
  fx.config->listen[0] = g_strdup_printf ("127.0.0.1:%u", fx.port);
  g_clear_pointer (&fx.server, ember_portal_server_free);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED, 1, 5000));
  for (guint i = 0; i < EMBER_PORTAL_SESSION_QUEUE_MAX; i++)
    request_authorization (s, unknown_a);
  g_auto (EmberPortalMessage) one_more;
  ember_portal_message_init (&one_more, EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION,
                             EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  g_assert_true (ember_portal_id_parse (unknown_b, &one_more.u.request_authorization.resource_id,
                                        "r", NULL));
  g_assert_false (ember_portal_session_send (s, &one_more, &error));
  g_assert_error (error, EMBER_PORTAL_SESSION_ERROR, EMBER_PORTAL_SESSION_ERROR_QUEUE_FULL);
  g_assert_cmpuint (ember_portal_session_queued (s), ==, EMBER_PORTAL_SESSION_QUEUE_MAX);
  portal_fx_restart (&fx);
  /* every one of them is answered, and the flush stays within the
   * portal's flood limit (no 4029, joined once more) */
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED,
                             4 + EMBER_PORTAL_SESSION_QUEUE_MAX, 10000));
  g_assert_cmpuint (ember_portal_session_queued (s), ==, 0);
  portal_fx_run (300);
  g_assert_cmpuint (count_event (&r, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED), ==,
                    4 + EMBER_PORTAL_SESSION_QUEUE_MAX);
  g_assert_cmpint (ember_portal_session_get_state (s), ==, EMBER_PORTAL_SESSION_JOINED);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_JOINED), ==, 2);
  recorder_clear (&r);
  teardown_fx (&fx);
}

/* ---- misbehaving servers ------------------------------------------------------ */

/* Starts a session at `port`, waits for `attempts` failed attempts and
 * checks that each ended in DISCONNECTED with `code` and `needle` in the
 * message: no REJECTED, no crash, and it retried by itself. */
static void
expect_retries (guint16 port, gint64 heartbeat_us, guint attempts, gint code, const char *needle)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", port);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, "some-token", "laptop-1", heartbeat_us);
  ember_portal_session_start (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED, attempts, 10000));
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_REJECTED), ==, 0);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_JOINED), ==, 0);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_CONNECTING), >=, attempts);
  for (guint i = 0; i < r.changes->len; i++)
    {
      const Change *c = &g_array_index (r.changes, Change, i);
      if (c->state != EMBER_PORTAL_SESSION_DISCONNECTED)
        continue;
      g_assert_cmpuint (c->domain, ==, EMBER_PORTAL_SESSION_ERROR);
      if (c->code != code || strstr (c->message, needle) == NULL)
        g_error ("expected code %d and \"%s\", got %d: %s", code, needle, c->code, c->message);
      /* the message names the portal */
      g_assert_nonnull (strstr (c->message, url));
    }
  recorder_clear (&r);
}

static void
test_not_http (void)
{
  RawServer raw;
  raw_start (&raw, RAW_NOT_HTTP);
  expect_retries (raw.port, 0, 3, EMBER_PORTAL_SESSION_ERROR_PROTOCOL,
                  "not HTTP: it starts with \"SSH-");
  raw_stop (&raw);
  raw_start (&raw, RAW_HTTP_NO_END);
  expect_retries (raw.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_PROTOCOL,
                  "closed the connection in the middle of its answer");
  raw_stop (&raw);
}

static void
test_bad_upgrade (void)
{
  RawServer raw;
  raw_start (&raw, RAW_BAD_ACCEPT);
  expect_retries (raw.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, "wrong Sec-WebSocket-Accept");
  raw_stop (&raw);
}

static void
test_invalid_frame (void)
{
  RawServer raw;
  raw_start (&raw, RAW_INVALID_FRAME);
  expect_retries (raw.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_PROTOCOL,
                  "the WebSocket to the portal failed");
  raw_stop (&raw);
}

static void
test_closes_mid_frame (void)
{
  RawServer raw;
  raw_start (&raw, RAW_CLOSE_MID_FRAME);
  expect_retries (raw.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_NETWORK, "");
  raw_stop (&raw);
}

static void
test_silent_server (void)
{
  /* accepts, never answers the upgrade: the connect deadline (two
   * heartbeat intervals, 0.4 s here) ends the attempt */
  RawServer raw;
  raw_start (&raw, RAW_SILENT);
  expect_retries (raw.port, 200 * G_TIME_SPAN_MILLISECOND, 2, EMBER_PORTAL_SESSION_ERROR_NETWORK,
                  "no WebSocket upgrade within");
  raw_stop (&raw);
}

static void
test_http_not_websocket (void)
{
  FakePortal fp;
  fake_start (&fp, 200, NULL, NULL);
  expect_retries (fp.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_HTTP,
                  "answered 200 OK instead of a WebSocket upgrade (<html>hello</html>)");
  fake_stop (&fp);
  fake_start (&fp, 404, NULL, NULL);
  expect_retries (fp.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_HTTP, "answered 404 Not Found");
  fake_stop (&fp);
}

static void
test_retry_after_is_honoured (void)
{
  static const struct {
    guint status;
    gint code;
    const char *needle;
  } cases[] = {
    { 503, EMBER_PORTAL_SESSION_ERROR_HTTP, "503 Service Unavailable instead of a WebSocket upgrade (unavailable: storage)" },
    { 429, EMBER_PORTAL_SESSION_ERROR_RATE_LIMITED, "refused the connection: 429" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      FakePortal fp;
      fake_start (&fp, cases[i].status, "1", NULL);
      expect_retries (fp.port, 0, 2, cases[i].code, cases[i].needle);
      /* backoff alone is 50..400 ms here: Retry-After: 1 spaces them */
      g_assert_cmpuint (fp.n_attempts, >=, 2);
      g_assert_cmpint (fp.attempt_times[1] - fp.attempt_times[0], >=, 950 * G_TIME_SPAN_MILLISECOND);
      fake_stop (&fp);
    }
}

static void
test_websocket_misbehaves (void)
{
  FakePortal fp;
  fake_start (&fp, 0, NULL, "bad-json");
  expect_retries (fp.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_PROTOCOL,
                  "the portal sent a message the protocol does not allow");
  fake_stop (&fp);
  fake_start (&fp, 0, NULL, "binary");
  expect_retries (fp.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_PROTOCOL, "binary message");
  fake_stop (&fp);
  fake_start (&fp, 0, NULL, "join-error");
  expect_retries (fp.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_PROTOCOL,
                  "the portal refused the join: internal: storage failed");
  fake_stop (&fp);
  fake_start (&fp, 0, NULL, "close-4029");
  expect_retries (fp.port, 0, 2, EMBER_PORTAL_SESSION_ERROR_RATE_LIMITED,
                  "the portal closed the connection (4029 rate_limited)");
  fake_stop (&fp);
}

static void
test_backoff_resets_after_a_join_that_held (void)
{
  /* A portal that drops every session right after init: the join did not
   * hold, so the delays follow the backoff from one to the next. The
   * fifth session is kept for 1.5 s, past three heartbeat intervals
   * (0.2 s), heartbeats answered: the delay after it starts from the
   * base again. The jitter's
   * seed is fixed, so the test draws the same random numbers. */
  FakePortal fp;
  fake_start (&fp, 0, NULL, "flap");
  fp.hold = 5;
  fp.hold_ms = 1500;
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", fp.port);
  const gint64 base = 20 * G_TIME_SPAN_MILLISECOND, max = 2 * G_USEC_PER_SEC;
  EmberPortalSessionConfig cfg = {
    .url = url, .token = "t", .channel = EMBER_PORTAL_CHANNEL_CLIENT,
    .public_key = PUBLIC_KEY, .external_id = "laptop-1",
    .heartbeat_interval_us = 200 * G_TIME_SPAN_MILLISECOND,
    .backoff_base_us = base, .backoff_max_us = max, .random_seed = 4242,
  };
  Recorder r;
  recorder_init (&r);
  g_autoptr (GError) error = NULL;
  r.session = ember_portal_session_new (NULL, &cfg, &callbacks, &r, &error);
  g_assert_no_error (error);
  ember_portal_session_start (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED, 7, 15000));

  GRand *model = g_rand_new_with_seed (4242);
  gint64 prev = 0;
  guint k = 0;
  for (guint i = 0; i < r.changes->len && k < 7; i++)
    {
      const Change *c = &g_array_index (r.changes, Change, i);
      if (c->state != EMBER_PORTAL_SESSION_DISCONNECTED)
        continue;
      k++;
      guint32 random = g_rand_int (model);
      if (k == 5)
        {
          /* the fifth join held; without the reset it would differ */
          g_assert_cmpint (ember_portal_session_backoff_next (prev, random, base, max), !=,
                           ember_portal_session_backoff_next (0, random, base, max));
          prev = 0;
        }
      gint64 want = ember_portal_session_backoff_next (prev, random, base, max);
      g_assert_cmpint (c->retry_delay, ==, want);
      prev = want;
    }
  g_assert_cmpuint (k, ==, 7);
  g_rand_free (model);
  /* not scheduled while connected */
  g_assert_cmpint (g_array_index (r.changes, Change, 1).state, ==, EMBER_PORTAL_SESSION_JOINED);
  g_assert_cmpint (g_array_index (r.changes, Change, 1).retry_delay, ==, 0);
  recorder_clear (&r);
  fake_stop (&fp);
}

static void
test_callbacks_may_reconnect_or_free (void)
{
  PortalFx fx;
  setup_fx (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200);
  g_autofree char *url = portal_url (&fx);

  /* reconnect() from inside the JOINED callback, twice: the join that
   * was just answered is dropped (its init never delivered), the third
   * one stays */
  Recorder r;
  recorder_init (&r);
  r.reconnect_on_joined = 2;
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1", 0);
  ember_portal_session_start (r.session);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 1, 5000));
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_JOINED), ==, 3);
  g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_CONNECTING), ==, 3);
  portal_fx_run (300);
  g_assert_cmpuint (count_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT), ==, 1);
  g_assert_cmpint (ember_portal_session_get_state (r.session), ==, EMBER_PORTAL_SESSION_JOINED);
  recorder_clear (&r);

  /* free() from inside the message callback */
  recorder_init (&r);
  r.free_on_init = TRUE;
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1", 0);
  ember_portal_session_start (r.session);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 1, 5000));
  g_assert_null (r.session);
  portal_fx_run (300);
  g_assert_cmpuint (r.seen->len, ==, 1);
  g_assert_cmpuint (ember_portal_server_n_clients (fx.server), ==, 0);
  recorder_clear (&r);
  teardown_fx (&fx);
}

static void
test_free_at_any_step (void)
{
  /* Freed while the TCP connection is made, while the upgrade waits for
   * an answer, while waiting for the next attempt: nothing is called
   * back afterwards and, under ASan, nothing leaks. */
  RawServer raw;
  raw_start (&raw, RAW_SILENT);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", raw.port);
  for (guint step = 0; step < 3; step++)
    {
      Recorder r;
      recorder_init (&r);
      session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, "t", "laptop-1",
                   step == 2 ? 20 * G_TIME_SPAN_MILLISECOND : 0);
      ember_portal_session_start (r.session);
      if (step == 0)
        g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_CONNECTING, 1, 5000));
      else if (step == 1)
        {
          g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_CONNECTING, 1, 5000));
          gint64 until = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
          while (g_atomic_int_get (&raw.connections) == 0 && g_get_monotonic_time () < until)
            portal_fx_run (5);
          g_assert_cmpint (g_atomic_int_get (&raw.connections), >=, 1);
        }
      else
        g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED, 1, 5000));
      guint changes = r.changes->len;
      g_clear_pointer (&r.session, ember_portal_session_free);
      portal_fx_run (200);
      g_assert_cmpuint (r.changes->len, ==, changes);
      recorder_clear (&r);
    }
  raw_stop (&raw);
}

static void
test_ipv6_literal (void)
{
  FakePortal fp;
  if (!fake_start_on (&fp, G_SOCKET_FAMILY_IPV6, 0, NULL, "ok"))
    {
      g_test_skip ("no IPv6 loopback on this machine");
      return;
    }
  g_autofree char *url = g_strdup_printf ("ws://[::1]:%u/", fp.port);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, "t", "laptop-1", 0);
  ember_portal_session_start (r.session);
  g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 1, 5000));
  g_assert_cmpint (ember_portal_session_get_state (r.session), ==, EMBER_PORTAL_SESSION_JOINED);
  recorder_clear (&r);
  fake_stop (&fp);
}

static void
test_unanswered_heartbeats (void)
{
  /* joins, gets init, but no heartbeat is ever answered: after two
   * unanswered ones (0.1 s apart here) the session drops and rejoins */
  FakePortal fp;
  fake_start (&fp, 0, NULL, "no-heartbeat-reply");
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", fp.port);
  Recorder r;
  recorder_init (&r);
  session_new (&r, url, EMBER_PORTAL_CHANNEL_CLIENT, "t", "laptop-1", 100 * G_TIME_SPAN_MILLISECOND);
  ember_portal_session_start (r.session);
  g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_JOINED, 2, 10000));
  g_assert_cmpuint (count_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT), >=, 1);
  const Change *c = last_change (&r, EMBER_PORTAL_SESSION_DISCONNECTED);
  g_assert_nonnull (c);
  g_assert_cmpint (c->code, ==, EMBER_PORTAL_SESSION_ERROR_NETWORK);
  g_assert_nonnull (strstr (c->message, "no reply to two heartbeats in a row"));
  recorder_clear (&r);
  fake_stop (&fp);
}

/* ---- wss --------------------------------------------------------------------- */

static void
test_wss (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("pcli-tls-XXXXXX", &error);
  g_assert_no_error (error);
  track_dir (dir);
  write_certificate (dir, "good", "localhost", "127.0.0.1");
  write_certificate (dir, "other", "portal.example", NULL);
  g_autofree char *good_crt = g_build_filename (dir, "good.crt", NULL);
  g_autofree char *other_crt = g_build_filename (dir, "other.crt", NULL);

  for (guint round = 0; round < 2; round++)
    {
      /* round 0: the portal's certificate names 127.0.0.1; round 1: it
       * names only portal.example, which the session must refuse even
       * though the certificate itself is trusted */
      const char *name = round == 0 ? "good" : "other";
      g_autofree char *extra = g_strdup_printf ("tls-certificate=%s/%s.crt\ntls-key=%s/%s.key\n",
                                                dir, name, dir, name);
      PortalFx fx;
      setup_fx (&fx, extra);
      g_autofree char *ct = NULL;
      portal_fx_model (&fx, &ct, NULL);
      g_autofree char *url = g_strdup_printf ("wss://127.0.0.1:%u", fx.port);
      EmberPortalSessionConfig cfg = {
        .url = url, .token = ct, .channel = EMBER_PORTAL_CHANNEL_CLIENT,
        .public_key = PUBLIC_KEY, .external_id = "laptop-1",
        .ca_file = round == 0 ? good_crt : other_crt,
        .backoff_base_us = 50 * G_TIME_SPAN_MILLISECOND,
        .backoff_max_us = 400 * G_TIME_SPAN_MILLISECOND,
      };
      Recorder r;
      recorder_init (&r);
      r.session = ember_portal_session_new (NULL, &cfg, &callbacks, &r, &error);
      g_assert_no_error (error);
      ember_portal_session_start (r.session);
      if (round == 0)
        {
          g_assert_true (wait_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT, 1, 5000));
          g_assert_cmpint (ember_portal_session_get_state (r.session), ==,
                           EMBER_PORTAL_SESSION_JOINED);
        }
      else
        {
          g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED, 2, 5000));
          const Change *c = last_change (&r, EMBER_PORTAL_SESSION_DISCONNECTED);
          g_assert_cmpint (c->code, ==, EMBER_PORTAL_SESSION_ERROR_TLS);
          g_assert_nonnull (strstr (c->message, "(the certificate does not name this host)"));
          g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_JOINED), ==, 0);
        }
      recorder_clear (&r);

      if (round == 0)
        {
          /* no ca_file: the system's trust store does not know this
           * certificate */
          cfg.ca_file = NULL;
          recorder_init (&r);
          r.session = ember_portal_session_new (NULL, &cfg, &callbacks, &r, &error);
          g_assert_no_error (error);
          ember_portal_session_start (r.session);
          g_assert_true (wait_state (&r, EMBER_PORTAL_SESSION_DISCONNECTED, 2, 5000));
          const Change *c = last_change (&r, EMBER_PORTAL_SESSION_DISCONNECTED);
          g_assert_cmpint (c->code, ==, EMBER_PORTAL_SESSION_ERROR_TLS);
          g_assert_nonnull (strstr (c->message, "is not issued by a trusted authority"));
          g_assert_cmpuint (count_state (&r, EMBER_PORTAL_SESSION_JOINED), ==, 0);
          recorder_clear (&r);
        }
      teardown_fx (&fx);
    }
  for (guint i = 0; i < 2; i++)
    {
      const char *name = i == 0 ? "good" : "other";
      g_autofree char *c = g_strdup_printf ("%s/%s.crt", dir, name);
      g_autofree char *k = g_strdup_printf ("%s/%s.key", dir, name);
      g_remove (c);
      g_remove (k);
    }
  g_rmdir (dir);
  untrack_dir (dir);
}

/* ---- another main context ------------------------------------------------------ */

typedef struct {
  PortalFx fx;
  char *token;
  gboolean ready;     /* under lock */
  gint stop;          /* atomic */
  GMutex lock;
  GCond cond;
} PortalThread;

static gpointer
portal_thread (gpointer data)
{
  PortalThread *pt = data;
  portal_fx_setup (&pt->fx, NULL);
  portal_fx_model (&pt->fx, &pt->token, NULL);
  portal_fx_run (200);
  g_mutex_lock (&pt->lock);
  pt->ready = TRUE;
  g_cond_signal (&pt->cond);
  g_mutex_unlock (&pt->lock);
  while (!g_atomic_int_get (&pt->stop))
    g_main_context_iteration (NULL, TRUE);
  portal_fx_teardown (&pt->fx);
  return NULL;
}

static void
test_runs_on_the_given_context (void)
{
  /* The portal runs on the global default context, iterated by a thread
   * of its own; this thread iterates only the session's private context
   * (pushed as its thread-default, as the header asks): were anything of
   * the session attached to the default context, it would never run. */
  PortalThread pt = { 0 };
  g_mutex_init (&pt.lock);
  g_cond_init (&pt.cond);
  GThread *thread = g_thread_new ("portal", portal_thread, &pt);
  g_mutex_lock (&pt.lock);
  while (!pt.ready)
    g_cond_wait (&pt.cond, &pt.lock);
  g_mutex_unlock (&pt.lock);

  g_autofree char *url = portal_url (&pt.fx);
  GMainContext *ctx = g_main_context_new ();
  g_main_context_push_thread_default (ctx);
  EmberPortalSessionConfig cfg = {
    .url = url, .token = pt.token, .channel = EMBER_PORTAL_CHANNEL_CLIENT,
    .public_key = PUBLIC_KEY, .external_id = "laptop-1",
  };
  Recorder r;
  recorder_init (&r);
  g_autoptr (GError) error = NULL;
  r.session = ember_portal_session_new (ctx, &cfg, &callbacks, &r, &error);
  g_assert_no_error (error);
  ember_portal_session_start (r.session);
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (count_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT) == 0
         && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (ctx, FALSE))
      g_usleep (1000);
  g_assert_cmpuint (count_event (&r, EMBER_PORTAL_EVENT_CLIENT_INIT), ==, 1);
  g_assert_cmpint (ember_portal_session_get_state (r.session), ==, EMBER_PORTAL_SESSION_JOINED);
  g_clear_pointer (&r.session, ember_portal_session_free);
  while (g_main_context_iteration (ctx, FALSE))
    ;
  g_array_unref (r.changes);
  g_array_unref (r.seen);
  g_main_context_pop_thread_default (ctx);
  g_main_context_unref (ctx);

  g_atomic_int_set (&pt.stop, TRUE);
  g_main_context_wakeup (NULL);
  g_thread_join (thread);
  g_free (pt.token);
  g_mutex_clear (&pt.lock);
  g_cond_clear (&pt.cond);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/portal/session/backoff/grows-with-jitter-and-caps-at-60-s", test_backoff_table);
  g_test_add_func ("/portal/session/retry-after/reads-seconds-and-http-dates",
                   test_retry_after_parse);
  g_test_add_func ("/portal/session/new/refuses-a-bad-configuration-naming-the-field",
                   test_new_refuses_bad_configuration);
  g_test_add_func ("/portal/session/joins-the-real-portal-and-gets-init-first",
                   test_joins_and_gets_init);
  g_test_add_func ("/portal/session/heartbeats-keep-the-session-joined",
                   test_heartbeats_keep_the_session);
  g_test_add_func ("/portal/session/wrong-token-is-rejected-with-the-reason-and-not-retried",
                   test_wrong_token_is_rejected);
  g_test_add_func ("/portal/session/revoked-token-while-joined-ends-in-rejected",
                   test_revoked_token_while_joined);
  g_test_add_func ("/portal/session/token-expiring-while-joined-ends-in-rejected",
                   test_expired_token_while_joined);
  g_test_add_func ("/portal/session/replaced-by-another-sign-in-ends-in-rejected",
                   test_replaced_ends_in_rejected);
  g_test_add_func ("/portal/session/rejoins-by-itself-after-the-portal-restarts",
                   test_reconnects_after_portal_restart);
  g_test_add_func ("/portal/session/queued-sends-go-out-after-the-join-in-order",
                   test_queued_sends_after_join);
  g_test_add_func ("/portal/session/garbage/not-http-is-a-protocol-error-and-retried", test_not_http);
  g_test_add_func ("/portal/session/garbage/wrong-websocket-accept-is-retried", test_bad_upgrade);
  g_test_add_func ("/portal/session/garbage/invalid-websocket-frame-is-retried", test_invalid_frame);
  g_test_add_func ("/portal/session/garbage/close-mid-frame-is-retried", test_closes_mid_frame);
  g_test_add_func ("/portal/session/garbage/silent-server-times-out-and-is-retried",
                   test_silent_server);
  g_test_add_func ("/portal/session/garbage/http-instead-of-websocket-is-retried",
                   test_http_not_websocket);
  g_test_add_func ("/portal/session/garbage/429-and-503-honour-retry-after",
                   test_retry_after_is_honoured);
  g_test_add_func ("/portal/session/garbage/bad-messages-after-the-upgrade-are-retried",
                   test_websocket_misbehaves);
  g_test_add_func ("/portal/session/backoff/resets-after-a-join-that-held",
                   test_backoff_resets_after_a_join_that_held);
  g_test_add_func ("/portal/session/callbacks-may-reconnect-or-free-the-session",
                   test_callbacks_may_reconnect_or_free);
  g_test_add_func ("/portal/session/joins-over-an-ipv6-literal-url", test_ipv6_literal);
  g_test_add_func ("/portal/session/free-at-any-step-leaves-nothing-behind", test_free_at_any_step);
  g_test_add_func ("/portal/session/two-unanswered-heartbeats-reconnect",
                   test_unanswered_heartbeats);
  g_test_add_func ("/portal/session/wss/checks-the-certificate-and-the-host", test_wss);
  g_test_add_func ("/portal/session/runs-on-the-main-context-it-is-given",
                   test_runs_on_the_given_context);
  return g_test_run ();
}
