/* tests/portal/test-portal-server — ember-portal serve over real
 * WebSockets: libsoup clients and gateways against the server running in
 * this process, a real SQLite store in a temporary directory written
 * through a second connection (as `ember-portal apply` does from another
 * process), a real ember-relay for relay liveness. Loopback only, ports
 * chosen by the kernel. */
#include "portal-fx.h"
#include "ratelimit.h"
#include "relays.h"
#include "apply.h"
#include "policy-file.h"

#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

static EmberIceCandidate
candidate (const char *text)
{
  EmberIceCandidate c;
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_ice_candidate_from_string (text, &c, &error));
  return c;
}

static void
send_candidates (PortalPeer *from, EmberPortalEvent event, const char *peer_id, const char *text)
{
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, event, from->channel, NULL);
  EmberPortalIceBroadcast *b = &m.u.ice_broadcast;
  b->peer_ids = g_new0 (EmberPortalId, 1);
  g_assert_true (ember_portal_id_parse (peer_id, &b->peer_ids[0], "peer", NULL));
  b->n_peer_ids = 1;
  b->candidates = g_new0 (EmberIceCandidate, 1);
  b->candidates[0] = candidate (text);
  b->n_candidates = 1;
  portal_peer_send (from, &m);
}

static void
request (PortalPeer *client, const char *resource_id)
{
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION,
                             EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  g_assert_true (ember_portal_id_parse (resource_id, &m.u.request_authorization.resource_id, "r",
                                        NULL));
  portal_peer_send (client, &m);
}

static char *
addr_string (const EmberAddr *a)
{
  g_autoptr (GInetAddress) ia = g_inet_address_new_from_bytes (
    a->addr, a->family == EMBER_ADDR_IPV4 ? G_SOCKET_FAMILY_IPV4 : G_SOCKET_FAMILY_IPV6);
  return g_inet_address_to_string (ia);
}

/* Client and gateway joined, the client authorized for "web" through the
 * gateway; returns the client's authorization_created. */
static EmberPortalMessage *
authorize (PortalFx *fx, PortalPeer *client, PortalPeer *gw, const char *resource_id)
{
  (void) fx;
  request (client, resource_id);
  g_autoptr (EmberPortalMessage) flow = portal_peer_expect (gw, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, 2000);
  g_assert_nonnull (flow);
  g_auto (EmberPortalMessage) ok;
  ember_portal_message_init (&ok, EMBER_PORTAL_EVENT_FLOW_AUTHORIZED, EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  ok.u.flow_authorized.ref = g_strdup (flow->u.authorize_flow.ref);
  portal_peer_send (gw, &ok);
  EmberPortalMessage *created = portal_peer_expect (client, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED, 2000);
  g_assert_nonnull (created);
  return created;
}

/* ---- join ------------------------------------------------------------------- */

static void
test_join (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200); /* the policy change reaches the snapshot */

  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  g_autoptr (EmberPortalMessage) init = portal_peer_expect (client, EMBER_PORTAL_EVENT_CLIENT_INIT, 10);
  g_autoptr (EmberStoreClient) stored = ember_store_client_get_by_name (fx.store, "laptop", NULL);
  g_autofree char *v4 = addr_string (&init->u.client_init.iface.ipv4);
  g_autofree char *v6 = addr_string (&init->u.client_init.iface.ipv6);
  g_assert_cmpstr (v4, ==, stored->ipv4);
  g_assert_cmpstr (v6, ==, stored->ipv6);
  g_assert_true (g_str_has_prefix (v4, "100."));
  g_assert_cmpuint (init->u.client_init.n_resources, ==, 1);
  EmberPortalResource *r = &init->u.client_init.resources[0];
  g_assert_cmpstr (r->name, ==, "web");
  g_assert_cmpint (r->type, ==, EMBER_PORTAL_RESOURCE_CIDR);
  g_assert_cmpuint (r->cidr.prefix, ==, 24);
  g_assert_cmpstr (r->site.name, ==, "home");
  g_assert_cmpuint (r->n_filters, ==, 2);
  /* The store remembers the key the client connected with. */
  g_assert_cmpstr (stored->public_key, ==, client->public_key);
  /* The client learns who it is: the id and the name of its token's
   * device. */
  g_assert_cmpstr (init->u.client_init.device.id.str, ==, stored->id);
  g_assert_cmpstr (init->u.client_init.device.name, ==, "laptop");

  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
  g_assert_cmpuint (ginit->u.gateway_init.n_authorizations, ==, 0);
  g_autoptr (GPtrArray) gateways = ember_store_list_gateways (fx.store, NULL, NULL);
  g_assert_cmpuint (gateways->len, ==, 1);
  EmberStoreGateway *stored_gw = gateways->pdata[0];
  g_assert_cmpstr (ginit->u.gateway_init.device.id.str, ==, stored_gw->id);
  g_assert_cmpstr (ginit->u.gateway_init.device.name, ==, "gw1");
  g_assert_cmpuint (ember_portal_server_n_clients (fx.server), ==, 1);
  g_assert_cmpuint (ember_portal_server_n_gateways (fx.server), ==, 1);

  /* heartbeat on topic phoenix is answered there */
  g_auto (EmberPortalMessage) hb;
  ember_portal_message_init (&hb, EMBER_PORTAL_EVENT_HEARTBEAT, EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  g_autofree char *ref = g_strdup (portal_peer_send (client, &hb));
  g_autoptr (EmberPortalMessage) hr = portal_peer_expect (client, EMBER_PORTAL_EVENT_PHX_REPLY, 2000);
  g_assert_nonnull (hr);
  g_assert_cmpint (hr->topic, ==, EMBER_PORTAL_TOPIC_PHOENIX);
  g_assert_cmpstr (hr->ref, ==, ref);

  /* a second join is refused, the session stays */
  g_auto (EmberPortalMessage) again;
  ember_portal_message_init (&again, EMBER_PORTAL_EVENT_PHX_JOIN, EMBER_PORTAL_CHANNEL_CLIENT, NULL);
  portal_peer_send (client, &again);
  g_autoptr (EmberPortalMessage) er = portal_peer_expect (client, EMBER_PORTAL_EVENT_PHX_REPLY, 2000);
  g_assert_cmpint (er->u.reply.status, ==, EMBER_PORTAL_REPLY_ERROR);
  g_assert_cmpint (er->u.reply.reason, ==, EMBER_PORTAL_REPLY_REASON_ALREADY_JOINED);

  portal_peer_free (client);
  portal_peer_free (gw);
  portal_fx_teardown (&fx);
}

/* ---- the authorization flow --------------------------------------------------- */

static void
test_authorization_flow (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200);
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  g_autofree char *client_id = portal_fx_client_id (&fx, "laptop");
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);

  request (client, web);
  g_autoptr (EmberPortalMessage) flow = portal_peer_expect (gw, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, 2000);
  g_assert_nonnull (flow);
  EmberPortalAuthorizeFlow *f = &flow->u.authorize_flow;
  g_assert_cmpstr (f->resource.id.str, ==, web);
  g_assert_cmpstr (f->client.id.str, ==, client_id);
  char pk[EMBER_PORTAL_KEY_B64_LEN + 1];
  ember_portal_key_to_base64 (&f->client.public_key, pk);
  g_assert_cmpstr (pk, ==, client->public_key);
  g_assert_cmpint (f->expires_at, >, g_get_real_time () / G_USEC_PER_SEC);

  /* A forged ref is refused; the real one completes the flow. */
  g_auto (EmberPortalMessage) forged;
  ember_portal_message_init (&forged, EMBER_PORTAL_EVENT_FLOW_AUTHORIZED,
                             EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  forged.u.flow_authorized.ref = g_strdup (f->ref);
  forged.u.flow_authorized.ref[strlen (f->ref) - 1] ^= 1;
  portal_peer_send (gw, &forged);
  g_autoptr (EmberPortalMessage) fr = portal_peer_expect (gw, EMBER_PORTAL_EVENT_PHX_REPLY, 2000);
  g_assert_cmpint (fr->u.reply.status, ==, EMBER_PORTAL_REPLY_ERROR);
  g_assert_null (portal_peer_expect (client, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED, 50));

  g_auto (EmberPortalMessage) ok;
  ember_portal_message_init (&ok, EMBER_PORTAL_EVENT_FLOW_AUTHORIZED, EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  ok.u.flow_authorized.ref = g_strdup (f->ref);
  portal_peer_send (gw, &ok);
  g_autoptr (EmberPortalMessage) created = portal_peer_expect (client, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED, 2000);
  g_assert_nonnull (created);
  EmberPortalAuthorizationCreated *c = &created->u.authorization_created;
  g_assert_cmpstr (c->resource_id.str, ==, web);
  ember_portal_key_to_base64 (&c->gateway.public_key, pk);
  g_assert_cmpstr (pk, ==, gw->public_key);
  /* Both sides hold the same preshared key and ICE credentials. */
  g_assert_cmpmem (c->preshared_key.bytes, 32, f->preshared_key.bytes, 32);
  g_assert_cmpstr (c->client_ice.ufrag, ==, f->client_ice.ufrag);
  g_assert_cmpstr (c->client_ice.pwd, ==, f->client_ice.pwd);
  g_assert_cmpstr (c->gateway_ice.ufrag, ==, f->gateway_ice.ufrag);
  g_assert_cmpstr (c->gateway_ice.pwd, ==, f->gateway_ice.pwd);
  g_assert_cmpstr (c->client_ice.ufrag, !=, c->gateway_ice.ufrag);

  /* ICE candidates, client -> gateway and back, and invalidations. */
  send_candidates (client, EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES, c->gateway.id.str,
                   "candidate:1 1 udp 2130706431 192.0.2.10 51820 typ host");
  g_autoptr (EmberPortalMessage) gc = portal_peer_expect (gw, EMBER_PORTAL_EVENT_ICE_CANDIDATES, 2000);
  g_assert_nonnull (gc);
  g_assert_cmpstr (gc->u.ice_candidates.peer_id.str, ==, client_id);
  g_assert_cmpuint (gc->u.ice_candidates.n_candidates, ==, 1);
  g_assert_cmpuint (gc->u.ice_candidates.candidates[0].addr.port, ==, 51820);

  send_candidates (gw, EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES, client_id,
                   "candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 10.0.0.2 rport 51820");
  g_autoptr (EmberPortalMessage) cc = portal_peer_expect (client, EMBER_PORTAL_EVENT_ICE_CANDIDATES, 2000);
  g_assert_nonnull (cc);
  g_assert_cmpstr (cc->u.ice_candidates.peer_id.str, ==, c->gateway.id.str);
  g_assert_cmpuint (cc->u.ice_candidates.candidates[0].addr.port, ==, 40000);

  send_candidates (client, EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES, c->gateway.id.str,
                   "candidate:1 1 udp 2130706431 192.0.2.10 51820 typ host");
  g_autoptr (EmberPortalMessage) gi = portal_peer_expect (gw, EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES, 2000);
  g_assert_nonnull (gi);
  send_candidates (gw, EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES, client_id,
                   "candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 10.0.0.2 rport 51820");
  g_autoptr (EmberPortalMessage) ci = portal_peer_expect (client, EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES, 2000);
  g_assert_nonnull (ci);

  /* A gateway that reconnects finds the authorization in its init. */
  portal_peer_free (gw);
  portal_fx_run (100);
  gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit2 = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
  g_assert_cmpuint (ginit2->u.gateway_init.n_authorizations, ==, 1);
  g_assert_cmpstr (ginit2->u.gateway_init.authorizations[0].client.id.str, ==, client_id);
  g_assert_cmpmem (ginit2->u.gateway_init.authorizations[0].preshared_key.bytes, 32,
                   f->preshared_key.bytes, 32);

  portal_peer_free (client);
  portal_peer_free (gw);
  portal_fx_teardown (&fx);
}

static void
test_authorization_failures (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  /* a resource without a policy for the client */
  EmberStoreResource db = { 0 };
  db.name = (char *) "db";
  db.type = EMBER_STORE_RESOURCE_DNS;
  db.address = (char *) "db.corp.example";
  db.site_name = (char *) "home";
  g_assert_true (ember_store_resource_put (fx.store, &db, "test", NULL));
  portal_fx_run (200);
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  g_autofree char *dbid = portal_fx_resource_id (&fx, "db");
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");

  const struct { const char *id; EmberPortalAuthzFailure reason; } cases[] = {
    { web, EMBER_PORTAL_AUTHZ_OFFLINE },  /* no gateway of "home" is connected */
    { dbid, EMBER_PORTAL_AUTHZ_FORBIDDEN },
    { "00000000-0000-4000-8000-000000000000", EMBER_PORTAL_AUTHZ_NOT_FOUND },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      request (client, cases[i].id);
      g_autoptr (EmberPortalMessage) failed = portal_peer_expect (client, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED, 2000);
      g_assert_nonnull (failed);
      g_assert_cmpstr (failed->u.authorization_failed.resource_id.str, ==, cases[i].id);
      g_assert_cmpint (failed->u.authorization_failed.reason, ==, cases[i].reason);
    }
  portal_peer_free (client);
  portal_fx_teardown (&fx);
}

/* ---- refused upgrades ------------------------------------------------------- */

static void
test_bad_token (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  guint status = 0;
  g_assert_null (portal_peer_connect (&fx, EMBER_PORTAL_CHANNEL_CLIENT, "not-a-token", "x", &status));
  g_assert_cmpuint (status, ==, 401);
  g_assert_null (portal_peer_connect (&fx, EMBER_PORTAL_CHANNEL_CLIENT, gt, "x", &status));
  g_assert_cmpuint (status, ==, 401);

  /* The JSON body names why. */
  g_autofree char *body = NULL;
  g_assert_cmpuint (portal_fx_get (&fx, fx.port, "/client/websocket?public_key=x&external_id=y",
                                   NULL, &body), ==, 401);
  g_assert_cmpstr (body, ==, "{\"error\":\"unauthorized\",\"reason\":\"missing_token\"}");
  g_free (body);
  g_assert_cmpuint (portal_fx_get (&fx, fx.port, "/client/websocket", "Bearer AAAA", &body), ==, 401);
  g_assert_cmpstr (body, ==, "{\"error\":\"unauthorized\",\"reason\":\"invalid_token\"}");
  g_free (body);

  g_autoptr (GPtrArray) tokens = ember_store_list_tokens (fx.store, EMBER_STORE_DEVICE_CLIENT, NULL);
  g_assert_cmpuint (tokens->len, ==, 1);
  g_assert_true (ember_store_token_revoke (fx.store, ((EmberStoreToken *) tokens->pdata[0])->id,
                                           "test", NULL));
  g_autofree char *auth = g_strdup_printf ("Bearer %s", ct);
  g_assert_cmpuint (portal_fx_get (&fx, fx.port, "/client/websocket", auth, &body), ==, 401);
  g_assert_cmpstr (body, ==, "{\"error\":\"unauthorized\",\"reason\":\"revoked_token\"}");
  g_free (body);

  /* A good token with a bad key is a 400. */
  g_autofree char *gauth = g_strdup_printf ("Bearer %s", gt);
  g_assert_cmpuint (portal_fx_get (&fx, fx.port, "/gateway/websocket?public_key=abc&external_id=g",
                                   gauth, &body), ==, 400);
  g_assert_cmpstr (body, ==, "{\"error\":\"bad_request\",\"reason\":\"invalid_public_key\"}");
  /* And a vsn= that is not a revision too. */
  const char *const bad_vsn[] = { "", "x", "0", "-1", "+2", "2.0", "1000000" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_vsn); i++)
    {
      g_autofree char *pk = g_uri_escape_string ("Y2xpZW50LXB1YmxpYy1rZXktMDEyMzQ1Njc4OWFiY2Q=",
                                                 NULL, FALSE);
      g_autofree char *url = g_strdup_printf ("/gateway/websocket?public_key=%s&external_id=g"
                                              "&vsn=%s", pk, bad_vsn[i]);
      g_free (body);
      g_assert_cmpuint (portal_fx_get (&fx, fx.port, url, gauth, &body), ==, 400);
      g_assert_cmpstr (body, ==, "{\"error\":\"bad_request\",\"reason\":\"invalid_vsn\"}");
    }

  g_assert_cmpuint (ember_portal_server_n_clients (fx.server), ==, 0);
  g_assert_cmpuint (ember_portal_server_n_gateways (fx.server), ==, 0);

  /* The failures show in /metrics. */
  g_autofree char *metrics = NULL;
  g_assert_cmpuint (portal_fx_get (&fx, ember_portal_server_metrics_port (fx.server), "/metrics",
                                   NULL, &metrics), ==, 200);
  g_assert_nonnull (strstr (metrics, "ember_portal_auth_failures_total{reason=\"invalid\"} 2\n"));
  g_assert_nonnull (strstr (metrics, "ember_portal_auth_failures_total{reason=\"revoked\"} 1\n"));
  g_assert_nonnull (strstr (metrics, "ember_portal_sessions{kind=\"client\"} 0\n"));
  portal_fx_teardown (&fx);
}

static void
test_failed_logins_rate_limited (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, "auth-failure-burst=3\nauth-failure-rate=0.01\n");
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  for (int i = 0; i < 3; i++)
    g_assert_cmpuint (portal_fx_get (&fx, fx.port, "/client/websocket", "Bearer guess", NULL), ==, 401);
  /* Out of failures: even the right token waits. */
  g_autofree char *body = NULL;
  g_autofree char *auth = g_strdup_printf ("Bearer %s", ct);
  g_assert_cmpuint (portal_fx_get (&fx, fx.port, "/client/websocket", auth, &body), ==, 429);
  g_assert_cmpstr (body, ==, "{\"error\":\"rate_limited\",\"reason\":\"too_many_attempts\"}");
  portal_fx_teardown (&fx);
}

static void
test_join_flood_rate_limited (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, "join-burst=2\njoin-rate=0.01\n");
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  PortalPeer *a = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *b = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-2");
  /* the third upgrade from this address within the burst: 429, no session */
  guint status = 0;
  g_assert_null (portal_peer_connect (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-3", &status));
  g_assert_cmpuint (status, ==, 429);
  /* the second session replaced the first (one per device) */
  g_assert_cmpuint (portal_peer_wait_closed (a, 2000), ==, EMBER_PORTAL_CLOSE_DISCONNECTED);
  g_assert_false (b->closed);
  portal_peer_free (a);
  portal_peer_free (b);
  portal_fx_teardown (&fx);
}

/* ---- sessions end ------------------------------------------------------------ */

static void
test_heartbeat_timeout (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, "heartbeat-interval=0.2\n");
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  PortalPeer *silent = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *alive = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  gint64 start = g_get_monotonic_time ();
  while (!silent->closed && g_get_monotonic_time () - start < 3 * G_USEC_PER_SEC)
    {
      g_auto (EmberPortalMessage) hb;
      ember_portal_message_init (&hb, EMBER_PORTAL_EVENT_HEARTBEAT, EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
      portal_peer_send (alive, &hb);
      portal_fx_run (100);
    }
  gint64 took = g_get_monotonic_time () - start;
  g_assert_cmpuint (silent->close_code, ==, EMBER_PORTAL_CLOSE_HEARTBEAT_TIMEOUT);
  g_assert_cmpstr (silent->close_reason, ==, "heartbeat_timeout");
  /* three intervals (0.6 s), not much later */
  g_assert_cmpint (took, >=, 500 * 1000);
  g_assert_cmpint (took, <, 2 * G_USEC_PER_SEC);
  g_assert_false (alive->closed);
  g_assert_cmpuint (ember_portal_server_n_gateways (fx.server), ==, 1);
  g_assert_cmpuint (ember_portal_server_n_clients (fx.server), ==, 0);
  portal_peer_free (silent);
  portal_peer_free (alive);
  portal_fx_teardown (&fx);
}

static void
test_revoked_token_closes_session (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  g_autoptr (GPtrArray) tokens = ember_store_list_tokens (fx.store, EMBER_STORE_DEVICE_CLIENT, NULL);
  gint64 start = g_get_monotonic_time ();
  g_assert_true (ember_store_token_revoke (fx.store, ((EmberStoreToken *) tokens->pdata[0])->id,
                                           "test", NULL));
  g_autoptr (EmberPortalMessage) d = portal_peer_expect (client, EMBER_PORTAL_EVENT_DISCONNECT, 1000);
  g_assert_nonnull (d);
  g_assert_cmpint (d->u.disconnect.reason, ==, EMBER_PORTAL_DISCONNECT_TOKEN_REVOKED);
  g_assert_cmpuint (portal_peer_wait_closed (client, 1000), ==, EMBER_PORTAL_CLOSE_DISCONNECTED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_cmpuint (ember_portal_server_n_clients (fx.server), ==, 0);
  portal_peer_free (client);
  portal_fx_teardown (&fx);
}

/* ---- live changes -------------------------------------------------------------- */

static void
test_policy_change (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200);
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  g_autofree char *client_id = portal_fx_client_id (&fx, "laptop");
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) created = authorize (&fx, client, gw, web);

  /* A new resource and its policy: the client learns it. */
  EmberStoreResource wiki = { 0 };
  wiki.name = (char *) "wiki";
  wiki.type = EMBER_STORE_RESOURCE_DNS;
  wiki.address = (char *) "*.corp.example";
  wiki.site_name = (char *) "home";
  EmberStorePolicy p = { 0 };
  p.group_name = (char *) "staff";
  p.resource_name = (char *) "wiki";
  gint64 start = g_get_monotonic_time ();
  g_assert_true (ember_store_begin (fx.store, NULL));
  g_assert_true (ember_store_resource_put (fx.store, &wiki, "test", NULL));
  g_assert_true (ember_store_policy_put (fx.store, &p, "test", NULL));
  g_assert_true (ember_store_commit (fx.store, NULL));
  g_autoptr (EmberPortalMessage) added = portal_peer_expect (client, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, 1000);
  g_assert_nonnull (added);
  g_assert_cmpstr (added->u.resource.name, ==, "wiki");
  g_assert_cmpstr (added->u.resource.dns_pattern, ==, "*.corp.example");
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  /* only the difference: web was not sent again */
  g_assert_null (portal_peer_expect (client, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, 100));

  /* web's filters change: the client gets the new resource, the gateway
   * with a flow for it gets resource_updated. */
  EmberStoreResource web2 = { 0 };
  web2.name = (char *) "web";
  web2.type = EMBER_STORE_RESOURCE_CIDR;
  web2.address = (char *) "10.20.0.0/24";
  web2.site_name = (char *) "home";
  web2.filters = g_array_new (FALSE, TRUE, sizeof (EmberStoreFilter));
  EmberStoreFilter udp = { EMBER_STORE_PROTOCOL_UDP, 53, 53 };
  g_array_append_val (web2.filters, udp);
  start = g_get_monotonic_time ();
  g_assert_true (ember_store_resource_put (fx.store, &web2, "test", NULL));
  g_array_unref (web2.filters);
  g_autoptr (EmberPortalMessage) upd = portal_peer_expect (gw, EMBER_PORTAL_EVENT_RESOURCE_UPDATED, 1000);
  g_assert_nonnull (upd);
  g_assert_cmpuint (upd->u.resource.n_filters, ==, 1);
  g_assert_cmpint (upd->u.resource.filters[0].protocol, ==, EMBER_PORTAL_PROTOCOL_UDP);
  g_autoptr (EmberPortalMessage) cupd = portal_peer_expect (client, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, 1000);
  g_assert_nonnull (cupd);
  g_assert_cmpstr (cupd->u.resource.name, ==, "web");
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);

  /* The policy for web goes: the client loses it, the gateway stops. */
  start = g_get_monotonic_time ();
  g_assert_true (ember_store_policy_delete (fx.store, "staff", "web", "test", NULL));
  g_autoptr (EmberPortalMessage) rej = portal_peer_expect (gw, EMBER_PORTAL_EVENT_REJECT_ACCESS, 1000);
  g_assert_nonnull (rej);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_cmpstr (rej->u.reject_access.resource_id.str, ==, web);
  g_assert_cmpstr (rej->u.reject_access.client_id.str, ==, client_id);
  g_autoptr (EmberPortalMessage) crej = portal_peer_expect (client, EMBER_PORTAL_EVENT_REJECT_ACCESS, 1000);
  g_assert_nonnull (crej);
  g_autoptr (EmberPortalMessage) del = portal_peer_expect (client, EMBER_PORTAL_EVENT_RESOURCE_DELETED, 1000);
  g_assert_nonnull (del);
  g_assert_cmpstr (del->u.resource_deleted.id.str, ==, web);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);

  /* Asking again is now forbidden. */
  request (client, web);
  g_autoptr (EmberPortalMessage) failed = portal_peer_expect (client, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED, 1000);
  g_assert_cmpint (failed->u.authorization_failed.reason, ==, EMBER_PORTAL_AUTHZ_FORBIDDEN);

  portal_peer_free (client);
  portal_peer_free (gw);
  portal_fx_teardown (&fx);
}

static void
test_admin_api_change (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, "admin-listen=127.0.0.1:0\n");
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  g_autoptr (GError) error = NULL;
  char *key = ember_store_apikey_create (fx.store, "test", 0, "test", NULL, &error);
  g_assert_no_error (error);
  g_autofree char *auth = g_strdup_printf ("Bearer %s", key);
  ember_store_secret_free (key);
  portal_fx_run (200);
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");

  /* The same model plus "wiki", applied through the admin API. */
  const char *policy =
    "{\"sites\": [{\"name\": \"home\"}],"
    " \"resources\": [{\"name\": \"web\", \"type\": \"cidr\", \"address\": \"10.20.0.0/24\","
    "   \"site\": \"home\", \"filters\": [{\"protocol\": \"tcp\", \"ports\": \"80\"},"
    "   {\"protocol\": \"icmp\"}]},"
    "  {\"name\": \"wiki\", \"type\": \"dns\", \"address\": \"*.corp.example\", \"site\": \"home\"}],"
    " \"groups\": [{\"name\": \"staff\", \"clients\": [\"laptop\"]}],"
    " \"policies\": [{\"group\": \"staff\", \"resource\": \"web\"},"
    "  {\"group\": \"staff\", \"resource\": \"wiki\"}]}";
  gint64 start = g_get_monotonic_time ();
  g_autofree char *body = NULL;
  guint status = portal_fx_request (&fx, "POST", ember_portal_server_admin_port (fx.server),
                                    "/v1/apply", auth, policy, &body);
  if (status != 200)
    g_error ("POST /v1/apply: %u %s", status, body);
  g_autoptr (EmberPortalMessage) added = portal_peer_expect (client, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, 1000);
  g_assert_nonnull (added);
  g_assert_cmpstr (added->u.resource.name, ==, "wiki");
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  /* web did not change: not sent again */
  g_assert_null (portal_peer_expect (client, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, 100));
  /* without a key: 401 */
  g_assert_cmpuint (portal_fx_get (&fx, ember_portal_server_admin_port (fx.server), "/v1/sites",
                                   NULL, NULL), ==, 401);
  portal_peer_free (client);
  portal_fx_teardown (&fx);
}

static void
test_restart_keeps_state (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  portal_fx_run (200);
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  g_autoptr (EmberPortalMessage) init = portal_peer_expect (client, EMBER_PORTAL_EVENT_CLIENT_INIT, 10);

  portal_fx_restart (&fx);
  /* The old session ended with the old server. */
  g_assert_cmpuint (portal_peer_wait_closed (client, 2000), !=, 0);
  portal_peer_free (client);

  client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  g_autoptr (EmberPortalMessage) init2 = portal_peer_expect (client, EMBER_PORTAL_EVENT_CLIENT_INIT, 10);
  g_assert_cmpmem (&init2->u.client_init.iface, sizeof (EmberPortalTunnelAddresses),
                   &init->u.client_init.iface, sizeof (EmberPortalTunnelAddresses));
  g_assert_cmpuint (init2->u.client_init.n_resources, ==, 1);
  g_assert_cmpstr (init2->u.client_init.resources[0].id.str, ==,
                   init->u.client_init.resources[0].id.str);
  portal_peer_free (client);
  portal_fx_teardown (&fx);
}

/* ---- authorizations across a restart ------------------------------------------- */

static guint
stored_authorizations (PortalFx *fx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) rows = ember_store_list_authorizations (fx->store, 0, &error);
  g_assert_no_error (error);
  return rows->len;
}

/* The gateway's init after a restart lists the authorization it had,
 * with the same client, key, preshared key and expiry. */
static void
test_restart_re_hands_authorizations (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200);
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  g_autofree char *client_id = portal_fx_client_id (&fx, "laptop");
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) created = authorize (&fx, client, gw, web);
  EmberPortalAuthorizationCreated *c = &created->u.authorization_created;
  g_assert_cmpuint (stored_authorizations (&fx), ==, 1);
  g_autofree char *client_key = g_strdup (client->public_key);

  portal_fx_restart (&fx);
  g_assert_cmpuint (portal_peer_wait_closed (gw, 2000), !=, 0);
  g_assert_cmpuint (portal_peer_wait_closed (client, 2000), !=, 0);
  portal_peer_free (gw);
  portal_peer_free (client);

  /* The gateway comes back first, as it may: nothing of the client yet. */
  gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
  g_assert_nonnull (ginit);
  EmberPortalGatewayInit *init = &ginit->u.gateway_init;
  g_assert_cmpuint (init->n_authorizations, ==, 1);
  EmberPortalAuthorization *a = &init->authorizations[0];
  g_assert_cmpstr (a->client.id.str, ==, client_id);
  g_assert_cmpstr (a->resource.id.str, ==, web);
  g_assert_cmpuint (a->resource.n_filters, ==, 2);
  char pk[EMBER_PORTAL_KEY_B64_LEN + 1];
  ember_portal_key_to_base64 (&a->client.public_key, pk);
  g_assert_cmpstr (pk, ==, client_key);
  g_assert_cmpmem (a->preshared_key.bytes, 32, c->preshared_key.bytes, 32);
  g_assert_cmpint (a->expires_at, ==, c->expires_at);
  g_autoptr (EmberStoreClient) stored = ember_store_client_get (fx.store, client_id, NULL);
  g_autofree char *v4 = addr_string (&a->client.tunnel.ipv4);
  g_assert_cmpstr (v4, ==, stored->ipv4);

  /* And again after a second restart: nothing was used up. */
  portal_peer_free (gw);
  portal_fx_restart (&fx);
  gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit2 = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
  g_assert_cmpuint (ginit2->u.gateway_init.n_authorizations, ==, 1);
  portal_peer_free (gw);
  portal_fx_teardown (&fx);
}

/* The policy revoked (through the store, as `ember-portal apply` does)
 * after a restart: reject_access reaches both, the store forgets it, and
 * the next restart's init does not list it. */
static void
test_restart_then_revoke_still_rejects (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200);
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  g_autofree char *client_id = portal_fx_client_id (&fx, "laptop");
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) created = authorize (&fx, client, gw, web);
  portal_peer_free (gw);
  portal_peer_free (client);

  portal_fx_restart (&fx);
  client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
  g_assert_cmpuint (ginit->u.gateway_init.n_authorizations, ==, 1);

  const char *json =
    "{\"sites\": [{\"name\": \"home\"}],"
    " \"resources\": [{\"name\": \"web\", \"type\": \"cidr\", \"address\": \"10.20.0.0/24\","
    "   \"site\": \"home\", \"filters\": [{\"protocol\": \"tcp\", \"ports\": \"80\"},"
    "   {\"protocol\": \"icmp\"}]}],"
    " \"groups\": [{\"name\": \"staff\", \"clients\": [\"laptop\"]}],"
    " \"policies\": []}";
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberPolicyFile) file = ember_policy_file_parse (json, strlen (json), "p.json", &error);
  g_assert_no_error (error);
  g_autoptr (GPtrArray) diff = NULL;
  gint64 start = g_get_monotonic_time ();
  g_assert_true (ember_portal_apply (fx.store, file, FALSE, "test", &diff, &error));
  g_assert_no_error (error);
  g_autoptr (EmberPortalMessage) rej = portal_peer_expect (gw, EMBER_PORTAL_EVENT_REJECT_ACCESS, 1000);
  g_assert_nonnull (rej);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_cmpstr (rej->u.reject_access.client_id.str, ==, client_id);
  g_assert_cmpstr (rej->u.reject_access.resource_id.str, ==, web);
  g_autoptr (EmberPortalMessage) crej = portal_peer_expect (client, EMBER_PORTAL_EVENT_REJECT_ACCESS, 1000);
  g_assert_nonnull (crej);
  g_assert_cmpuint (stored_authorizations (&fx), ==, 0);

  portal_peer_free (gw);
  portal_peer_free (client);
  portal_fx_restart (&fx);
  gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit2 = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
  g_assert_cmpuint (ginit2->u.gateway_init.n_authorizations, ==, 0);
  portal_peer_free (gw);
  portal_fx_teardown (&fx);
}

/* A policy, or the client's token, revoked while the portal was down:
 * the restarted portal does not re-hand the authorization, and forgets
 * it. */
static void
test_revoked_while_down_is_not_re_handed (gconstpointer data)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200);
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) created = authorize (&fx, client, gw, web);
  portal_fx_stop (&fx);
  portal_peer_free (gw);
  portal_peer_free (client);

  g_autoptr (GError) error = NULL;
  if (g_str_equal (data, "policy"))
    g_assert_true (ember_store_policy_delete (fx.store, "staff", "web", "test", &error));
  else
    {
      g_autoptr (GPtrArray) tokens = ember_store_list_tokens (fx.store, EMBER_STORE_DEVICE_CLIENT,
                                                              &error);
      g_assert_true (ember_store_token_revoke (fx.store,
                                               ((EmberStoreToken *) tokens->pdata[0])->id,
                                               "test", &error));
    }
  g_assert_no_error (error);
  g_assert_cmpuint (stored_authorizations (&fx), ==, 1);
  portal_fx_start (&fx);
  g_assert_cmpuint (stored_authorizations (&fx), ==, 0);
  gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
  g_assert_cmpuint (ginit->u.gateway_init.n_authorizations, ==, 0);
  portal_peer_free (gw);
  portal_fx_teardown (&fx);
}

/* A second request through a gateway the client is connected to gets
 * the pair's credentials again (docs/tunnel.md, rule 2); one that does
 * not list the gateway gets fresh ones. */
static void
test_connected_pair_keeps_its_credentials (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200);
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) first = authorize (&fx, client, gw, web);
  EmberPortalAuthorizationCreated *c1 = &first->u.authorization_created;

  for (guint listed = 0; listed < 2; listed++)
    {
      g_auto (EmberPortalMessage) m;
      ember_portal_message_init (&m, EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION,
                                 EMBER_PORTAL_CHANNEL_CLIENT, NULL);
      g_assert_true (ember_portal_id_parse (web, &m.u.request_authorization.resource_id, "r", NULL));
      if (listed == 1)
        {
          m.u.request_authorization.connected_gateway_ids = g_new0 (EmberPortalId, 1);
          m.u.request_authorization.connected_gateway_ids[0] = c1->gateway.id;
          m.u.request_authorization.n_connected_gateway_ids = 1;
        }
      portal_peer_send (client, &m);
      g_autoptr (EmberPortalMessage) flow = portal_peer_expect (gw, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, 2000);
      g_assert_nonnull (flow);
      EmberPortalAuthorizeFlow *f = &flow->u.authorize_flow;
      gboolean same = memcmp (f->preshared_key.bytes, c1->preshared_key.bytes, 32) == 0
                      && g_str_equal (f->client_ice.pwd, c1->client_ice.pwd)
                      && g_str_equal (f->gateway_ice.ufrag, c1->gateway_ice.ufrag)
                      && g_str_equal (f->gateway_ice.pwd, c1->gateway_ice.pwd);
      g_assert_cmpint (same, ==, listed == 1);
      if (listed == 0)
        {
          /* Answered: it becomes the pair's authorization. */
          g_auto (EmberPortalMessage) ok;
          ember_portal_message_init (&ok, EMBER_PORTAL_EVENT_FLOW_AUTHORIZED,
                                     EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
          ok.u.flow_authorized.ref = g_strdup (f->ref);
          portal_peer_send (gw, &ok);
          g_autoptr (EmberPortalMessage) again = portal_peer_expect (client, EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED, 2000);
          g_assert_nonnull (again);
          *c1 = again->u.authorization_created;
        }
    }
  portal_peer_free (gw);
  portal_peer_free (client);
  portal_fx_teardown (&fx);
}

/* Revoking the client's token, also after a restart: the gateway stops
 * the flows granted under it at once (the WireGuard session would work
 * without the portal), the client's session ends, the store forgets. */
static void
test_revoked_token_ends_its_flows (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  portal_fx_run (200);
  g_autofree char *web = portal_fx_resource_id (&fx, "web");
  g_autofree char *client_id = portal_fx_client_id (&fx, "laptop");
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) created = authorize (&fx, client, gw, web);
  portal_peer_free (gw);
  portal_peer_free (client);

  portal_fx_restart (&fx);
  gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");
  g_autoptr (EmberPortalMessage) ginit = portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
  g_assert_cmpuint (ginit->u.gateway_init.n_authorizations, ==, 1);

  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) tokens = ember_store_list_tokens (fx.store, EMBER_STORE_DEVICE_CLIENT, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tokens->len, ==, 1);
  gint64 start = g_get_monotonic_time ();
  g_assert_true (ember_store_token_revoke (fx.store, ((EmberStoreToken *) tokens->pdata[0])->id,
                                           "test", &error));
  g_assert_no_error (error);
  g_autoptr (EmberPortalMessage) rej = portal_peer_expect (gw, EMBER_PORTAL_EVENT_REJECT_ACCESS, 1000);
  g_assert_nonnull (rej);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_cmpstr (rej->u.reject_access.client_id.str, ==, client_id);
  g_assert_cmpstr (rej->u.reject_access.resource_id.str, ==, web);
  g_assert_cmpuint (stored_authorizations (&fx), ==, 0);
  portal_peer_free (gw);
  portal_fx_teardown (&fx);
}

/* ---- bad input ------------------------------------------------------------------- */

static void
test_bad_frames (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, "max-frame-size=4096\n");
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-1");

  const struct { const char *text; EmberPortalReplyReason reason; } cases[] = {
    { "{\"topic\":\"client\",\"event\":\"no_such_event\",\"payload\":{},\"ref\":\"a\"}",
      EMBER_PORTAL_REPLY_REASON_UNKNOWN_EVENT },
    { "{\"topic\":\"client\",\"event\":\"broadcast_ice_candidates\",\"payload\":{},\"ref\":\"b\"}",
      EMBER_PORTAL_REPLY_REASON_WRONG_DIRECTION },
    { "{\"topic\":\"client\",\"event\":\"request_authorization\",\"payload\":{\"resource_id\":7},\"ref\":\"c\"}",
      EMBER_PORTAL_REPLY_REASON_INVALID_PAYLOAD },
    { "{\"topic\":\"client\",\"event\":\"phx_join\",\"ref\":\"d\"}",
      EMBER_PORTAL_REPLY_REASON_INVALID_FRAME },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      portal_peer_send_text (client, cases[i].text);
      g_autoptr (EmberPortalMessage) r = portal_peer_expect (client, EMBER_PORTAL_EVENT_PHX_REPLY, 2000);
      g_assert_nonnull (r);
      g_assert_cmpint (r->u.reply.status, ==, EMBER_PORTAL_REPLY_ERROR);
      g_assert_cmpint (r->u.reply.reason, ==, cases[i].reason);
    }
  g_assert_false (client->closed);

  /* Not JSON: closed with 1007. */
  portal_peer_send_text (client, "{\"topic\":");
  g_assert_cmpuint (portal_peer_wait_closed (client, 2000), ==, EMBER_PORTAL_CLOSE_INVALID_JSON);
  portal_peer_free (client);

  /* Over max-frame-size: closed (1009; the server drops the unread rest,
   * so the client may see the reset before the close frame). */
  client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  g_autofree char *big = g_strnfill (8000, ' ');
  portal_peer_send_text (client, big);
  portal_peer_wait_closed (client, 2000);
  g_assert_true (client->closed);
  g_assert_true (client->close_code == EMBER_PORTAL_CLOSE_TOO_BIG || client->close_code == 0);
  portal_peer_free (client);
  g_autofree char *metrics = NULL;
  portal_fx_get (&fx, ember_portal_server_metrics_port (fx.server), "/metrics", NULL, &metrics);
  /* four error replies, the invalid JSON, the oversized message */
  g_assert_nonnull (strstr (metrics, "ember_portal_bad_messages_total 6\n"));

  /* The gateway did not notice any of it. */
  g_auto (EmberPortalMessage) hb;
  ember_portal_message_init (&hb, EMBER_PORTAL_EVENT_HEARTBEAT, EMBER_PORTAL_CHANNEL_GATEWAY, NULL);
  portal_peer_send (gw, &hb);
  g_autoptr (EmberPortalMessage) hr = portal_peer_expect (gw, EMBER_PORTAL_EVENT_PHX_REPLY, 2000);
  g_assert_nonnull (hr);
  g_assert_cmpint (hr->u.reply.status, ==, EMBER_PORTAL_REPLY_OK);
  g_assert_false (gw->closed);
  portal_peer_free (gw);
  portal_fx_teardown (&fx);
}

/* ---- relays ------------------------------------------------------------------------ */

static char *
relay_program (void)
{
  const char *root = g_getenv ("EMBER_BUILD_ROOT");
  if (root == NULL)
    return NULL;
  char *p = g_build_filename (root, "plugins", "relay", "ember-relay", "ember-relay", NULL);
  if (g_file_test (p, G_FILE_TEST_IS_EXECUTABLE))
    return p;
  g_free (p);
  p = g_build_filename (root, "plugins", "relay", "ember-relay", NULL);
  if (g_file_test (p, G_FILE_TEST_IS_EXECUTABLE) && !g_file_test (p, G_FILE_TEST_IS_DIR))
    return p;
  g_free (p);
  return NULL;
}

static guint16
free_udp_port (void)
{
  int fd = socket (AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  socklen_t len = sizeof sin;
  getsockname (fd, (struct sockaddr *) &sin, &len);
  close (fd);
  return ntohs (sin.sin_port);
}

static void
child_setup (gpointer user_data)
{
  (void) user_data;
  prctl (PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test (spawned
                                      * without an intermediate process) */
}

static void
stop_relay (GPid pid)
{
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  g_spawn_close_pid (pid);
}

static void
test_relay_down (void)
{
  g_autofree char *prog = relay_program ();
  if (prog == NULL)
    {
      g_test_skip ("ember-relay not built (EMBER_BUILD_ROOT unset)");
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("portal-relay-XXXXXX", &error);
  g_autofree char *secret_file = g_build_filename (dir, "secret", NULL);
  g_file_set_contents (secret_file, "relay-test-secret\n", -1, &error);
  g_assert_no_error (error);
  guint16 port = free_udp_port ();
  g_autofree char *listen = g_strdup_printf ("--listen=127.0.0.1:%u", port);
  g_autofree char *secret_arg = g_strdup_printf ("--secret-file=%s", secret_file);
  const char *argv[] = { prog, listen, secret_arg, "--realm=ember.test", NULL };
  GPid pid = 0;
  g_spawn_async (dir, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL, &pid, &error);
  g_assert_no_error (error);

  PortalFx fx;
  g_autofree char *extra = g_strdup_printf ("relay-probe-interval=0.1\n"
                                            "[relay r1]\naddress=127.0.0.1:%u\nsecret-file=%s\n",
                                            port, secret_file);
  portal_fx_setup (&fx, extra);
  g_autofree char *ct = NULL;
  portal_fx_model (&fx, &ct, NULL);
  /* The relay answers the first probes: up. */
  portal_fx_run (500);
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
  g_autoptr (EmberPortalMessage) init = portal_peer_expect (client, EMBER_PORTAL_EVENT_CLIENT_INIT, 10);
  g_assert_cmpuint (init->u.client_init.n_relays, ==, 1);
  EmberPortalRelay *r = &init->u.client_init.relays[0];
  g_assert_cmpuint (r->ipv4.port, ==, port);
  /* REST credentials ember-relay verifies: HMAC-SHA1 of the username. */
  g_autofree char *client_id = portal_fx_client_id (&fx, "laptop");
  g_autofree char *want_user = g_strdup_printf ("%" G_GINT64_FORMAT ":%s", r->expires_at, client_id);
  g_assert_cmpstr (r->username, ==, want_user);
  guint8 mac[20];
  g_assert_cmpint (gnutls_hmac_fast (GNUTLS_MAC_SHA1, "relay-test-secret", 17, r->username,
                                     strlen (r->username), mac), ==, 0);
  g_autofree char *want_pass = g_base64_encode (mac, sizeof mac);
  g_assert_cmpstr (r->password, ==, want_pass);
  g_assert_cmpint (r->expires_at, >, g_get_real_time () / G_USEC_PER_SEC + 600);

  /* Signing in again, after a reconnect and after a portal restart, gets
   * the same credentials: a TURN allocation is bound to its username. */
  for (guint round = 0; round < 2; round++)
    {
      portal_peer_free (client);
      if (round == 1)
        {
          portal_fx_restart (&fx);
          portal_fx_run (500);
        }
      else
        portal_fx_run (1100); /* the clock's second moves on */
      client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-1");
      g_autoptr (EmberPortalMessage) again = portal_peer_expect (client, EMBER_PORTAL_EVENT_CLIENT_INIT, 10);
      g_assert_cmpuint (again->u.client_init.n_relays, ==, 1);
      g_assert_cmpstr (again->u.client_init.relays[0].username, ==, r->username);
      g_assert_cmpstr (again->u.client_init.relays[0].password, ==, r->password);
      g_assert_cmpint (again->u.client_init.relays[0].expires_at, ==, r->expires_at);
    }

  /* Kill it: within three probe intervals the client hears. */
  stop_relay (pid);
  gint64 start = g_get_monotonic_time ();
  g_autoptr (EmberPortalMessage) gone = portal_peer_expect (client, EMBER_PORTAL_EVENT_RELAYS_PRESENCE, 2000);
  g_assert_nonnull (gone);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_cmpuint (gone->u.relays_presence.n_disconnected_ids, ==, 1);
  g_assert_cmpstr (gone->u.relays_presence.disconnected_ids[0].str, ==, r->id.str);
  g_assert_cmpuint (gone->u.relays_presence.n_connected, ==, 0);

  /* Back on the same port: announced in `connected` with credentials. */
  g_spawn_async (dir, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL, &pid, &error);
  g_assert_no_error (error);
  g_autoptr (EmberPortalMessage) back = portal_peer_expect (client, EMBER_PORTAL_EVENT_RELAYS_PRESENCE, 3000);
  stop_relay (pid);
  g_assert_nonnull (back);
  g_assert_cmpuint (back->u.relays_presence.n_connected, ==, 1);
  g_assert_cmpstr (back->u.relays_presence.connected[0].id.str, ==, r->id.str);

  portal_peer_free (client);
  portal_fx_teardown (&fx);
  g_remove (secret_file);
  g_rmdir (dir);
}

/* ---- rate limit ------------------------------------------------------------------ */

static void
test_rate_limit (void)
{
  g_autoptr (EmberPortalRateLimit) rl = ember_portal_rate_limit_new (2.0, 3, 2);
  gint64 t = 1000 * G_USEC_PER_SEC;
  /* a burst of 3, then nothing */
  for (int i = 0; i < 3; i++)
    g_assert_true (ember_portal_rate_limit_take (rl, "192.0.2.1", t));
  g_assert_false (ember_portal_rate_limit_take (rl, "192.0.2.1", t));
  g_assert_false (ember_portal_rate_limit_check (rl, "192.0.2.1", t));
  /* another address is not affected */
  for (int i = 0; i < 3; i++)
    g_assert_true (ember_portal_rate_limit_take (rl, "192.0.2.2", t));
  /* 2 per second: one token after half a second */
  g_assert_true (ember_portal_rate_limit_take (rl, "192.0.2.1", t + G_USEC_PER_SEC / 2));
  g_assert_false (ember_portal_rate_limit_take (rl, "192.0.2.1", t + G_USEC_PER_SEC / 2));
  /* the table holds two keys: a third is refused while both are in use */
  g_assert_false (ember_portal_rate_limit_take (rl, "192.0.2.3", t + G_USEC_PER_SEC / 2));
  g_assert_cmpuint (ember_portal_rate_limit_size (rl), ==, 2);
  /* once buckets have refilled they carry nothing and make room */
  g_assert_true (ember_portal_rate_limit_take (rl, "192.0.2.3", t + 10 * G_USEC_PER_SEC));
  g_assert_cmpuint (ember_portal_rate_limit_size (rl), <=, 2);
  /* a clock that goes back refills nothing: 2 left, then none */
  g_assert_true (ember_portal_rate_limit_take (rl, "192.0.2.3", t));
  g_assert_true (ember_portal_rate_limit_take (rl, "192.0.2.3", t));
  g_assert_false (ember_portal_rate_limit_take (rl, "192.0.2.3", t));
}

/* ---- config ----------------------------------------------------------------------- */

static void
test_config_errors (void)
{
  const struct { const char *text; const char *needle; } cases[] = {
    { "[portal]\nstate-dir=/x\nlisten=0.0.0.0:443\n", "loopback" },
    { "[portal]\nstate-dir=/x\nlisten=localhost\n", "listen" },
    { "[portal]\nlisten=127.0.0.1:1\n", "state-dir" },
    { "[portal]\nstate-dir=/x\ntls-certificate=/c\n", "tls-key" },
    { "[portal]\nstate-dir=/x\nheartbeat-interval=-1\n", "heartbeat-interval" },
    { "[portal]\nstate-dir=/x\nlisten-on=1\n", "unknown key" },
    { "[portal]\nstate-dir=/x\n[relay r]\naddress=127.0.0.1:3478\n", "secret-file" },
    { "[portal]\nstate-dir=/x\n[nope]\n", "unknown group" },
    { "[portal]\nstate-dir=/x\nadmin-listen=10.0.0.1:80\n", "admin-listen" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (EmberPortalServeConfig) c =
        ember_portal_serve_config_load_data (cases[i].text, "t.conf", &error);
      g_assert_null (c);
      g_assert_nonnull (error);
      if (strstr (error->message, cases[i].needle) == NULL)
        g_error ("case %u: \"%s\" does not name %s", i, error->message, cases[i].needle);
      g_assert_true (g_str_has_prefix (error->message, "t.conf: "));
    }
  /* non-loopback plain ws only with insecure=true */
  const char *ok = "[portal]\nstate-dir=/x\nlisten=0.0.0.0:8080;[::1]:8080\ninsecure=true\n";
  g_autoptr (GError) error = NULL;
  g_autoptr (EmberPortalServeConfig) c = ember_portal_serve_config_load_data (ok, "t", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (c->listen), ==, 2);
  g_assert_cmpint (c->heartbeat_interval_us, ==, 10 * G_USEC_PER_SEC);
  g_assert_cmpstr (c->admin_listen, ==, "127.0.0.1:8081");
}

/* init's "device" goes only to a device that said (vsn=2 or later) it
 * reads it: one that predates it would refuse the whole init. */
static void
test_device_only_to_devices_that_read_it (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  portal_fx_model (&fx, &ct, &gt);
  const struct {
    const char *vsn;
    gboolean told;
  } cases[] = { { "", FALSE }, { "1", FALSE }, { "2", TRUE }, { "17", TRUE } };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      fx.peer_vsn = cases[i].vsn;
      g_autofree char *ext = g_strdup_printf ("device-%u", i);
      PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, ext);
      PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, ext);
      g_autoptr (EmberPortalMessage) init =
        portal_peer_expect (client, EMBER_PORTAL_EVENT_CLIENT_INIT, 10);
      g_autoptr (EmberPortalMessage) ginit =
        portal_peer_expect (gw, EMBER_PORTAL_EVENT_GATEWAY_INIT, 10);
      g_assert_nonnull (init);
      g_assert_nonnull (ginit);
      g_assert_cmpstr (init->u.client_init.device.name, ==, cases[i].told ? "laptop" : NULL);
      g_assert_cmpstr (ginit->u.gateway_init.device.name, ==, cases[i].told ? "gw1" : NULL);
      portal_peer_free (client);
      portal_peer_free (gw);
    }
  portal_fx_teardown (&fx);
}

static const EmberPortalResource *
find_resource (const EmberPortalMessage *init, const char *name)
{
  for (guint i = 0; i < init->u.client_init.n_resources; i++)
    if (g_str_equal (init->u.client_init.resources[i].name, name))
      return &init->u.client_init.resources[i];
  g_error ("no resource %s in init", name);
}

static void
put_wiki (PortalFx *fx, EmberStoreIpStack stack)
{
  g_autoptr (GError) error = NULL;
  EmberStoreResource wiki = { .name = (char *) "wiki", .type = EMBER_STORE_RESOURCE_DNS,
                              .address = (char *) "wiki.corp.example",
                              .site_name = (char *) "home", .ip_stack = stack };
  g_assert_true (ember_store_resource_put (fx->store, &wiki, "test", &error));
  g_assert_no_error (error);
}

/* A dns resource's ip_stack goes only to devices that read it (vsn=2 or
 * later), in init, in updates and in authorize_flow, and never as
 * "dual": a device that predates it would refuse the whole message. */
static void
test_ip_stack_only_to_devices_that_read_it (void)
{
  PortalFx fx;
  portal_fx_setup (&fx, NULL);
  g_autofree char *ct = NULL, *gt = NULL;
  g_autoptr (GError) error = NULL;
  portal_fx_model (&fx, &ct, &gt);
  put_wiki (&fx, EMBER_STORE_IP_STACK_IPV4);
  EmberStorePolicy p = { .group_name = (char *) "staff", .resource_name = (char *) "wiki" };
  g_assert_true (ember_store_policy_put (fx.store, &p, "test", &error));
  g_assert_no_error (error);
  g_autofree char *wiki_id = portal_fx_resource_id (&fx, "wiki");
  portal_fx_run (200); /* the policy change reaches the snapshot */

  /* A gateway of revision 1 gets the flow's resource as dual-stack, even
   * for a client of revision 2. */
  fx.peer_vsn = "1";
  PortalPeer *gw = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_GATEWAY, gt, "gw-old");
  fx.peer_vsn = "2";
  PortalPeer *client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, "laptop-new");
  request (client, wiki_id);
  g_autoptr (EmberPortalMessage) flow =
    portal_peer_expect (gw, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, 5000);
  g_assert_nonnull (flow);
  g_assert_cmpstr (flow->u.authorize_flow.resource.name, ==, "wiki");
  g_assert_cmpint (flow->u.authorize_flow.resource.ip_stack, ==, EMBER_PORTAL_IP_STACK_DUAL);
  portal_peer_free (client);
  portal_peer_free (gw);

  /* One device at a time (a device has one session): init, then a
   * change of the stack alone, which every client hears of in the words
   * of its revision. */
  const struct {
    const char *vsn;
    gboolean told;
  } cases[] = { { "", FALSE }, { "1", FALSE }, { "2", TRUE }, { "17", TRUE } };
  const EmberStoreIpStack steps[] = { EMBER_STORE_IP_STACK_IPV6, EMBER_STORE_IP_STACK_DUAL,
                                      EMBER_STORE_IP_STACK_IPV4 };
  const EmberPortalIpStack seen[] = { EMBER_PORTAL_IP_STACK_IPV6, EMBER_PORTAL_IP_STACK_DUAL,
                                      EMBER_PORTAL_IP_STACK_IPV4 };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      fx.peer_vsn = cases[i].vsn;
      g_autofree char *ext = g_strdup_printf ("laptop-%u", i);
      client = portal_peer_join (&fx, EMBER_PORTAL_CHANNEL_CLIENT, ct, ext);
      g_autoptr (EmberPortalMessage) init =
        portal_peer_expect (client, EMBER_PORTAL_EVENT_CLIENT_INIT, 10);
      g_assert_nonnull (init);
      g_assert_cmpint (find_resource (init, "wiki")->ip_stack, ==,
                       cases[i].told ? EMBER_PORTAL_IP_STACK_IPV4 : EMBER_PORTAL_IP_STACK_DUAL);
      g_assert_cmpint (find_resource (init, "web")->ip_stack, ==, EMBER_PORTAL_IP_STACK_DUAL);
      for (guint k = 0; k < G_N_ELEMENTS (steps); k++)
        {
          put_wiki (&fx, steps[k]);
          g_autoptr (EmberPortalMessage) upd =
            portal_peer_expect (client, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, 5000);
          g_assert_nonnull (upd);
          g_assert_cmpstr (upd->u.resource.name, ==, "wiki");
          g_assert_cmpint (upd->u.resource.ip_stack, ==,
                           cases[i].told ? seen[k] : EMBER_PORTAL_IP_STACK_DUAL);
        }
      portal_peer_free (client);
    }
  portal_fx_teardown (&fx);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  /* Bad input is logged at warning level on purpose; it is not fatal. */
  g_log_set_fatal_mask ("ember-portal", G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
  g_test_add_func ("/portal/server/config/errors-name-the-key", test_config_errors);
  g_test_add_func ("/portal/server/rate-limit/refills-per-address-and-bounds-keys", test_rate_limit);
  g_test_add_func ("/portal/server/client-and-gateway-join", test_join);
  g_test_add_func ("/portal/server/authorization-flow-with-ice-both-ways", test_authorization_flow);
  g_test_add_func ("/portal/server/authorization-fails-offline-forbidden-not-found",
                   test_authorization_failures);
  g_test_add_func ("/portal/server/bad-token-gets-401-and-no-session", test_bad_token);
  g_test_add_func ("/portal/server/failed-logins-are-rate-limited", test_failed_logins_rate_limited);
  g_test_add_func ("/portal/server/join-flood-is-rate-limited", test_join_flood_rate_limited);
  g_test_add_func ("/portal/server/device-is-told-only-to-devices-that-read-it",
                   test_device_only_to_devices_that_read_it);
  g_test_add_func ("/portal/server/ip-stack-is-told-only-to-devices-that-read-it",
                   test_ip_stack_only_to_devices_that_read_it);
  g_test_add_func ("/portal/server/heartbeat-timeout-closes", test_heartbeat_timeout);
  g_test_add_func ("/portal/server/revoked-token-closes-its-session", test_revoked_token_closes_session);
  g_test_add_func ("/portal/server/policy-change-reaches-client-and-gateway-within-1s",
                   test_policy_change);
  g_test_add_func ("/portal/server/admin-api-change-reaches-client-within-1s",
                   test_admin_api_change);
  g_test_add_func ("/portal/server/restart-keeps-state-and-tunnel-addresses",
                   test_restart_keeps_state);
  g_test_add_func ("/portal/server/restart/re-hands-authorizations-to-the-gateway",
                   test_restart_re_hands_authorizations);
  g_test_add_func ("/portal/server/restart/then-revoke-through-apply-still-rejects",
                   test_restart_then_revoke_still_rejects);
  g_test_add_data_func ("/portal/server/restart/policy-revoked-while-down-is-not-re-handed",
                        "policy", test_revoked_while_down_is_not_re_handed);
  g_test_add_data_func ("/portal/server/restart/token-revoked-while-down-is-not-re-handed",
                        "token", test_revoked_while_down_is_not_re_handed);
  g_test_add_func ("/portal/server/restart/then-revoking-the-client-token-ends-its-flows",
                   test_revoked_token_ends_its_flows);
  g_test_add_func ("/portal/server/authorization/connected-pair-keeps-its-credentials",
                   test_connected_pair_keeps_its_credentials);
  g_test_add_func ("/portal/server/bad-frames-answered-others-unaffected", test_bad_frames);
  g_test_add_func ("/portal/server/relays/credentials-outlive-a-restart-and-down-is-announced",
                   test_relay_down);
  return g_test_run ();
}
