/* tsim/portal — a model of ember-portal's semantics, in memory.
 *
 * One client, one gateway per site, the resource catalogue of tsim.h,
 * a policy (which resources the client may use), authorizations with an
 * expiry and fresh ICE credentials each, candidate forwarding, relay
 * presence, revocation and resource changes — the protocol of
 * docs/portal-protocol.md on EmberPortalMessage values, without JSON or
 * sockets. Messages take `portal_latency` each way and keep their order.
 * While the client is cut off its messages (both ways) are lost, as on a
 * broken WebSocket; when it reconnects it gets a fresh `init`. A portal
 * restart loses every message in flight and sends `init` to everyone;
 * the stored state (policy, authorizations) survives, as in SQLite.
 *
 * Ground truth for the leak check is kept here: what each gateway was
 * told it may serve, updated when a message is *delivered*.
 */
#include "tsim-private.h"

#include <string.h>

static const char *res_ids[TSIM_N_RES] = {
  "4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60", "5c2a7d4b-3f9e-4a81-b0d6-9e3f2c8a4b71",
  "6d3b8e5c-4a0f-4b92-81e7-af4a3d9b5c82", "7e4c9f6d-5b1a-4ca3-92f8-b05b4eac6d93",
  "8f5d0a7e-6c2b-4db4-a309-c16c5fbd7ea4", "9a6e1b8f-7d3c-4ec5-b41a-d27d6acd8fb5",
};
static const char *res_names[TSIM_N_RES] = { "web", "db", "secret", "far", "v6", "internet" };
static const char *res_cidr[TSIM_N_RES] = { "10.20.0.0/24", "10.21.0.0/24", "10.22.0.0/24",
                                            "10.40.0.0/24", "fd00:20::/64", NULL };
static const guint res_site[TSIM_N_RES] = { 0, 0, 0, 1, 0, 0 };
static const char *site_ids[TSIM_MAX_GATEWAYS] = { "d2c4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f",
                                                   "e3d5f709-2b4c-4d6e-9f80-ab1c2d3e4f50" };
static const char *gateway_ids[TSIM_MAX_GATEWAYS] = { "0c9d3e2f-7a6b-4d18-8e95-31b4c2d5e6f7",
                                                      "1d0e4f30-8b7c-4e29-9fa6-42c5d3e6f708" };
static const char *client_id = "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11";

const char *
tsim_res_id (TSimResource res)
{
  return res_ids[res];
}

guint
tsim_res_site (TSimResource res)
{
  return res_site[res];
}

guint
tsim_res_site_of (TSimResource res)
{
  return res_site[res];
}

const char *
tsim_client_id (void)
{
  return client_id;
}

const char *
tsim_gateway_id (guint site)
{
  return gateway_ids[site];
}

guint
tsim_res_cidrs (TSimResource res, EmberCidr out[2])
{
  if (res == TSIM_RES_INTERNET)
    {
      static const guint8 zero[16] = { 0 };
      ember_cidr_init (&out[0], EMBER_ADDR_IPV4, zero, 0);
      ember_cidr_init (&out[1], EMBER_ADDR_IPV6, zero, 0);
      return 2;
    }
  g_assert_true (ember_cidr_parse (res_cidr[res], EMBER_CIDR_PARSE_STRICT, &out[0], NULL));
  return 1;
}

static void
set_id (EmberPortalId *id, const char *s)
{
  g_strlcpy (id->str, s, sizeof id->str);
}

/* "tcp:80;udp:53-54;icmp" -> filters. */
static guint
parse_filters (const char *text, EmberPortalFilter **out)
{
  g_auto (GStrv) items = g_strsplit (text, ";", -1);
  guint n = 0;
  *out = g_new0 (EmberPortalFilter, g_strv_length (items) + 1);
  for (guint i = 0; items[i] != NULL; i++)
    {
      if (items[i][0] == '\0')
        continue;
      EmberPortalFilter *f = &(*out)[n++];
      const char *colon = strchr (items[i], ':');
      if (g_str_has_prefix (items[i], "tcp"))
        f->protocol = EMBER_PORTAL_PROTOCOL_TCP;
      else if (g_str_has_prefix (items[i], "udp"))
        f->protocol = EMBER_PORTAL_PROTOCOL_UDP;
      else
        f->protocol = EMBER_PORTAL_PROTOCOL_ICMP;
      if (colon != NULL)
        {
          char *end;
          f->n_ports = 1;
          f->ports[0].first = (guint16) g_ascii_strtoull (colon + 1, &end, 10);
          f->ports[0].last = *end == '-' ? (guint16) g_ascii_strtoull (end + 1, NULL, 10)
                                         : f->ports[0].first;
        }
    }
  return n;
}

gboolean
tsim_filters_allow (const char *filters, guint proto, guint16 port)
{
  g_autofree EmberPortalFilter *f = NULL;
  guint n = parse_filters (filters, &f);
  if (n == 0)
    return TRUE;
  for (guint i = 0; i < n; i++)
    {
      gboolean icmp = proto == EMBER_IPPROTO_ICMP || proto == EMBER_IPPROTO_ICMPV6;
      if (f[i].protocol == EMBER_PORTAL_PROTOCOL_ICMP && icmp)
        return TRUE;
      if ((f[i].protocol == EMBER_PORTAL_PROTOCOL_TCP && proto == EMBER_IPPROTO_TCP)
          || (f[i].protocol == EMBER_PORTAL_PROTOCOL_UDP && proto == EMBER_IPPROTO_UDP))
        {
          if (f[i].n_ports == 0)
            return TRUE;
          for (guint k = 0; k < f[i].n_ports; k++)
            if (port >= f[i].ports[k].first && port <= f[i].ports[k].last)
              return TRUE;
        }
    }
  return FALSE;
}

void
tsim_res_fill (const TSim *sim, TSimResource res, EmberPortalResource *out)
{
  memset (out, 0, sizeof *out);
  set_id (&out->id, res_ids[res]);
  out->name = g_strdup (res_names[res]);
  set_id (&out->site.id, site_ids[res_site[res]]);
  out->site.name = g_strdup (res_site[res] == 0 ? "home" : "far");
  if (res == TSIM_RES_INTERNET)
    out->type = EMBER_PORTAL_RESOURCE_INTERNET;
  else
    {
      EmberCidr c[2];
      tsim_res_cidrs (res, c);
      out->type = EMBER_PORTAL_RESOURCE_CIDR;
      out->cidr = c[0];
    }
  out->n_filters = parse_filters (sim->filters[res], &out->filters);
}

/* ---- the message queue ------------------------------------------------ */

static void
msg_free (gpointer data)
{
  PortalMsg *m = data;
  ember_portal_message_clear (&m->msg);
  g_free (m);
}

/* Queues `msg` (moved) from `from` to `to`. */
static void
post (TSim *sim, guint from, guint to, EmberPortalMessage *msg)
{
  if (sim->client_cut && (from == TSIM_TO_CLIENT || to == TSIM_TO_CLIENT))
    {
      ember_portal_message_clear (msg);
      return;  /* the WebSocket is broken: lost */
    }
  PortalMsg *m = g_new0 (PortalMsg, 1);
  m->at = sim->w->now + sim->cfg.portal_latency;
  m->from = from;
  m->to = to;
  m->msg = *msg;
  memset (msg, 0, sizeof *msg);
  g_queue_push_tail (&sim->queue, m);
}

static EmberPortalMessage
message (EmberPortalEvent event, gboolean to_client)
{
  EmberPortalMessage m;
  ember_portal_message_init (&m, event,
                             to_client ? EMBER_PORTAL_CHANNEL_CLIENT : EMBER_PORTAL_CHANNEL_GATEWAY,
                             NULL);
  return m;
}

static void
to_client (TSim *sim, EmberPortalMessage *m)
{
  post (sim, TSIM_TO_PORTAL, TSIM_TO_CLIENT, m);
}

static void
to_gateway (TSim *sim, guint site, EmberPortalMessage *m)
{
  post (sim, TSIM_TO_PORTAL, 1 + site, m);
}

void
tsim_portal_receive (TSim *sim, guint from, EmberPortalMessage *msg)
{
  post (sim, from, TSIM_TO_PORTAL, msg);
}

gint64
tsim_portal_next (const TSim *sim)
{
  const PortalMsg *m = g_queue_peek_head ((GQueue *) &sim->queue);
  return m != NULL ? m->at : G_MAXINT64;
}

/* ---- relays ---------------------------------------------------------- */

static void
relay_id (guint index, EmberPortalId *id)
{
  g_snprintf (id->str, sizeof id->str, "3a5c7e9b-2d4f-4a6c-8b0d-1e3f5a7c9b%02x", index);
}

static void
fill_relays (TSim *sim, guint device, EmberPortalRelay **out, guint *n)
{
  *out = g_new0 (EmberPortalRelay, SIM_MAX_RELAYS);
  *n = 0;
  for (guint i = 0; i < sim->w->n_relays; i++)
    {
      SimRelay *r = &sim->w->relays[i];
      if (!r->present)
        continue;
      EmberPortalRelay *p = &(*out)[(*n)++];
      relay_id (i, &p->id);
      p->ipv4 = sim_addr (r->ip, SIM_RELAY_PORT);
      char user[64], pass[64];
      /* Credentials stay the same for one boot of the relay (a new
       * secret means a reboot, seed 000). */
      sim_relay_credentials (r, 0, device, user, sizeof user, pass, sizeof pass);
      p->username = g_strdup (user);
      p->password = g_strdup (pass);
      p->expires_at = SIM_UNIX_EPOCH + 86400;
    }
}

static void
relays_presence (TSim *sim, guint device, EmberPortalMessage *m)
{
  EmberPortalRelaysPresence *rp = &m->u.relays_presence;
  fill_relays (sim, device, &rp->connected, &rp->n_connected);
  rp->disconnected_ids = g_new0 (EmberPortalId, SIM_MAX_RELAYS);
  for (guint i = 0; i < sim->w->n_relays; i++)
    if (!sim->w->relays[i].present)
      relay_id (i, &rp->disconnected_ids[rp->n_disconnected_ids++]);
}

void
tsim_portal_push_relays (TSim *sim)
{
  EmberPortalMessage m = message (EMBER_PORTAL_EVENT_RELAYS_PRESENCE, TRUE);
  relays_presence (sim, 0, &m);
  to_client (sim, &m);
  for (guint g = 0; g < sim->cfg.n_sites; g++)
    {
      m = message (EMBER_PORTAL_EVENT_RELAYS_PRESENCE, FALSE);
      relays_presence (sim, 1 + g, &m);
      to_gateway (sim, g, &m);
    }
}

/* ---- inits ------------------------------------------------------------ */

static gboolean
visible (const TSim *sim, TSimResource res)
{
  return sim->present[res] && (sim->allowed[res] || sim->conditional[res])
         && res_site[res] < sim->cfg.n_sites;
}

void
tsim_portal_client_init (TSim *sim)
{
  EmberPortalMessage m = message (EMBER_PORTAL_EVENT_CLIENT_INIT, TRUE);
  EmberPortalClientInit *ci = &m.u.client_init;
  ci->iface.ipv4 = sim->tun4;
  ci->iface.ipv6 = sim->tun6;
  ci->resources = g_new0 (EmberPortalResource, TSIM_N_RES);
  for (guint r = 0; r < TSIM_N_RES; r++)
    if (visible (sim, r))
      tsim_res_fill (sim, r, &ci->resources[ci->n_resources++]);
  fill_relays (sim, 0, &ci->relays, &ci->n_relays);
  to_client (sim, &m);
}

static void
fill_peer_client (TSim *sim, EmberPortalPeer *p)
{
  set_id (&p->id, client_id);
  tsim_client_public_key (sim, p->public_key.bytes);
  p->tunnel.ipv4 = sim->tun4;
  p->tunnel.ipv6 = sim->tun6;
}

void
tsim_portal_gateway_init (TSim *sim, guint site)
{
  EmberPortalMessage m = message (EMBER_PORTAL_EVENT_GATEWAY_INIT, FALSE);
  EmberPortalGatewayInit *gi = &m.u.gateway_init;
  tsim_gateway_addresses (site, &gi->iface.ipv4, &gi->iface.ipv6);
  fill_relays (sim, 1 + site, &gi->relays, &gi->n_relays);
  gi->authorizations = g_new0 (EmberPortalAuthorization, MAX (sim->auths->len, 1u));
  for (guint i = 0; i < sim->auths->len; i++)
    {
      PortalAuth *a = g_ptr_array_index (sim->auths, i);
      /* One about to expire would arrive expired. */
      if (a->site != site || !a->answered || a->expires <= sim->w->now + 2 * G_TIME_SPAN_SECOND)
        continue;
      EmberPortalAuthorization *e = &gi->authorizations[gi->n_authorizations++];
      fill_peer_client (sim, &e->client);
      tsim_res_fill (sim, a->res, &e->resource);
      memcpy (e->preshared_key.bytes, sim->psk[site], 32);
      e->expires_at = SIM_UNIX_EPOCH + a->expires / G_TIME_SPAN_SECOND;
    }
  to_gateway (sim, site, &m);
}

/* ---- policy ----------------------------------------------------------- */

static void
remove_auths_of (TSim *sim, TSimResource res, gboolean reject)
{
  for (guint i = sim->auths->len; i-- > 0;)
    {
      PortalAuth *a = g_ptr_array_index (sim->auths, i);
      if (a->res != res)
        continue;
      if (reject)
        {
          EmberPortalMessage m = message (EMBER_PORTAL_EVENT_REJECT_ACCESS, FALSE);
          set_id (&m.u.reject_access.resource_id, res_ids[res]);
          set_id (&m.u.reject_access.client_id, client_id);
          to_gateway (sim, a->site, &m);
          m = message (EMBER_PORTAL_EVENT_REJECT_ACCESS, TRUE);
          set_id (&m.u.reject_access.resource_id, res_ids[res]);
          to_client (sim, &m);
        }
      g_ptr_array_remove_index (sim->auths, i);
    }
}

static void
announce (TSim *sim, TSimResource res)
{
  EmberPortalMessage m;
  if (visible (sim, res))
    {
      m = message (EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, TRUE);
      tsim_res_fill (sim, res, &m.u.resource);
    }
  else
    {
      m = message (EMBER_PORTAL_EVENT_RESOURCE_DELETED, TRUE);
      set_id (&m.u.resource_deleted.id, res_ids[res]);
    }
  to_client (sim, &m);
}

void
tsim_policy_grant (TSim *sim, TSimResource res)
{
  sim->allowed[res] = TRUE;
  sim->conditional[res] = FALSE;
  announce (sim, res);
}

void
tsim_policy_revoke (TSim *sim, TSimResource res)
{
  sim->allowed[res] = FALSE;
  sim->conditional[res] = FALSE;
  remove_auths_of (sim, res, TRUE);
  announce (sim, res);
}

void
tsim_resource_set_filters (TSim *sim, TSimResource res, const char *filters)
{
  g_strlcpy (sim->filters[res], filters, sizeof sim->filters[res]);
  if (visible (sim, res))
    announce (sim, res);
  gboolean told[TSIM_MAX_GATEWAYS] = { FALSE };
  for (guint i = 0; i < sim->auths->len; i++)
    {
      PortalAuth *a = g_ptr_array_index (sim->auths, i);
      if (a->res != res || told[a->site])
        continue;
      told[a->site] = TRUE;
      EmberPortalMessage m = message (EMBER_PORTAL_EVENT_RESOURCE_UPDATED, FALSE);
      tsim_res_fill (sim, res, &m.u.resource);
      to_gateway (sim, a->site, &m);
    }
}

void
tsim_resource_remove (TSim *sim, TSimResource res)
{
  sim->present[res] = FALSE;
  remove_auths_of (sim, res, TRUE);
  announce (sim, res);
}

void
tsim_resource_add (TSim *sim, TSimResource res)
{
  sim->present[res] = TRUE;
  if (visible (sim, res))
    announce (sim, res);
}

void
tsim_portal_expire (TSim *sim)
{
  for (guint i = sim->auths->len; i-- > 0;)
    {
      PortalAuth *a = g_ptr_array_index (sim->auths, i);
      if (a->expires <= sim->w->now)
        g_ptr_array_remove_index (sim->auths, i);
    }
}

/* ---- requests from devices ---------------------------------------------- */

static void
fresh_credentials (TSim *sim, EmberPortalIceCredentials *c, const char *side)
{
  sim->creds_counter++;
  g_snprintf (c->ufrag, sizeof c->ufrag, "%s%04x%u", side, (guint) sim_rng_below (&sim->rng, 65536),
              sim->creds_counter);
  g_snprintf (c->pwd, sizeof c->pwd, "%sPassword%016" G_GINT64_MODIFIER "x%u", side,
              sim_rng_next (&sim->rng), sim->creds_counter);
}

static void
request_authorization (TSim *sim, const EmberPortalRequestAuthorization *req)
{
  gint res = -1;
  for (guint r = 0; r < TSIM_N_RES; r++)
    if (strcmp (req->resource_id.str, res_ids[r]) == 0)
      res = (gint) r;
  EmberPortalAuthzFailure why;
  if (res < 0 || !sim->present[res] || res_site[res] >= sim->cfg.n_sites)
    why = EMBER_PORTAL_AUTHZ_NOT_FOUND;
  else if (!sim->allowed[res])
    why = EMBER_PORTAL_AUTHZ_FORBIDDEN;
  else if (sim->gw[res_site[res]] == NULL)
    why = EMBER_PORTAL_AUTHZ_OFFLINE;
  else
    {
      guint site = res_site[res];
      /* One authorization per resource: a new one replaces it. */
      for (guint i = sim->auths->len; i-- > 0;)
        if (((PortalAuth *) g_ptr_array_index (sim->auths, i))->res == (TSimResource) res)
          g_ptr_array_remove_index (sim->auths, i);
      PortalAuth *a = g_new0 (PortalAuth, 1);
      a->res = (TSimResource) res;
      a->site = site;
      /* The protocol carries whole seconds: expire on one. */
      a->expires = (sim->w->now + sim->cfg.authz_ttl) / G_TIME_SPAN_SECOND * G_TIME_SPAN_SECOND;
      g_snprintf (a->ref, sizeof a->ref, "flow-%u", sim->creds_counter);
      /* docs/tunnel.md rule 2: the running session's credentials when the
       * client says it is connected to this gateway, else fresh ones. */
      gboolean listed = FALSE;
      for (guint i = 0; i < req->n_connected_gateway_ids; i++)
        listed = listed || strcmp (req->connected_gateway_ids[i].str, gateway_ids[site]) == 0;
      if (!listed || !sim->pair_has[site])
        {
          fresh_credentials (sim, &sim->pair_client[site], "c");
          fresh_credentials (sim, &sim->pair_gateway[site], "g");
          sim->pair_has[site] = TRUE;
        }
      a->client_ice = sim->pair_client[site];
      a->gateway_ice = sim->pair_gateway[site];
      g_ptr_array_add (sim->auths, a);

      EmberPortalMessage m = message (EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, FALSE);
      EmberPortalAuthorizeFlow *f = &m.u.authorize_flow;
      f->ref = g_strdup (a->ref);
      tsim_res_fill (sim, a->res, &f->resource);
      fill_peer_client (sim, &f->client);
      memcpy (f->preshared_key.bytes, sim->psk[site], 32);
      f->client_ice = a->client_ice;
      f->gateway_ice = a->gateway_ice;
      f->expires_at = SIM_UNIX_EPOCH + a->expires / G_TIME_SPAN_SECOND;
      to_gateway (sim, site, &m);
      return;
    }
  EmberPortalMessage m = message (EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED, TRUE);
  m.u.authorization_failed.resource_id = req->resource_id;
  m.u.authorization_failed.reason = why;
  to_client (sim, &m);
}

static void
flow_authorized (TSim *sim, guint site, const char *ref)
{
  for (guint i = 0; i < sim->auths->len; i++)
    {
      PortalAuth *a = g_ptr_array_index (sim->auths, i);
      if (a->site != site || strcmp (a->ref, ref) != 0 || a->answered)
        continue;
      a->answered = TRUE;
      sim->n_authorizations++;
      EmberPortalMessage m = message (EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED, TRUE);
      EmberPortalAuthorizationCreated *c = &m.u.authorization_created;
      set_id (&c->resource_id, res_ids[a->res]);
      set_id (&c->gateway.id, gateway_ids[site]);
      tsim_gateway_public_key (sim->gw[site], c->gateway.public_key.bytes);
      tsim_gateway_addresses (site, &c->gateway.tunnel.ipv4, &c->gateway.tunnel.ipv6);
      memcpy (c->preshared_key.bytes, sim->psk[site], 32);
      c->client_ice = a->client_ice;
      c->gateway_ice = a->gateway_ice;
      c->expires_at = SIM_UNIX_EPOCH + a->expires / G_TIME_SPAN_SECOND;
      to_client (sim, &m);
      return;
    }
}

static gboolean
client_uses_site (const TSim *sim, guint site)
{
  for (guint i = 0; i < sim->auths->len; i++)
    if (((PortalAuth *) g_ptr_array_index (sim->auths, i))->site == site)
      return TRUE;
  return FALSE;
}

static void
forward_candidates (TSim *sim, guint from, EmberPortalMessage *in)
{
  EmberPortalIceBroadcast *b = &in->u.ice_broadcast;
  if (sim->lose_candidate[from])
    {
      sim->lose_candidate[from] = FALSE;
      return;
    }
  gboolean invalidate = in->event == EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES
                        || in->event == EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES;
  EmberPortalEvent out = invalidate ? EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES
                                    : EMBER_PORTAL_EVENT_ICE_CANDIDATES;
  for (guint i = 0; i < b->n_peer_ids; i++)
    {
      EmberPortalMessage m = message (out, from != TSIM_TO_CLIENT);
      EmberPortalIceCandidates *c = &m.u.ice_candidates;
      c->n_candidates = b->n_candidates;
      c->candidates = g_memdup2 (b->candidates, sizeof b->candidates[0] * b->n_candidates);
      if (from == TSIM_TO_CLIENT)
        {
          /* To the gateway named, when the client has an authorization there. */
          for (guint g = 0; g < sim->cfg.n_sites; g++)
            if (strcmp (b->peer_ids[i].str, gateway_ids[g]) == 0 && client_uses_site (sim, g))
              {
                set_id (&c->peer_id, client_id);
                to_gateway (sim, g, &m);
              }
        }
      else if (strcmp (b->peer_ids[i].str, client_id) == 0)
        {
          set_id (&c->peer_id, gateway_ids[from - 1]);
          to_client (sim, &m);
        }
      ember_portal_message_clear (&m);
    }
}

static void
portal_handle (TSim *sim, guint from, EmberPortalMessage *msg)
{
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION:
      request_authorization (sim, &msg->u.request_authorization);
      break;
    case EMBER_PORTAL_EVENT_FLOW_AUTHORIZED:
      if (from != TSIM_TO_CLIENT && msg->u.flow_authorized.ref != NULL)
        flow_authorized (sim, from - 1, msg->u.flow_authorized.ref);
      break;
    case EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      forward_candidates (sim, from, msg);
      break;
    default:
      break;
    }
}

/* ---- delivery and ground truth ---------------------------------------------- */

static gint
res_by_id (const char *id)
{
  for (guint r = 0; r < TSIM_N_RES; r++)
    if (strcmp (id, res_ids[r]) == 0)
      return (gint) r;
  return -1;
}

static void
truth_on_delivery (TSim *sim, guint site, const EmberPortalMessage *m)
{
  TruthAuth *t = sim->truth[site];
  switch (m->event)
    {
    case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
      {
        gint r = res_by_id (m->u.authorize_flow.resource.id.str);
        t[r].active = TRUE;
        t[r].expires = (m->u.authorize_flow.expires_at - SIM_UNIX_EPOCH) * G_TIME_SPAN_SECOND;
        g_strlcpy (t[r].filters, sim->filters[r], sizeof t[r].filters);
        break;
      }
    case EMBER_PORTAL_EVENT_GATEWAY_INIT:
      memset (t, 0, sizeof sim->truth[site]);
      for (guint i = 0; i < m->u.gateway_init.n_authorizations; i++)
        {
          const EmberPortalAuthorization *a = &m->u.gateway_init.authorizations[i];
          gint r = res_by_id (a->resource.id.str);
          t[r].active = TRUE;
          t[r].expires = (a->expires_at - SIM_UNIX_EPOCH) * G_TIME_SPAN_SECOND;
          g_strlcpy (t[r].filters, sim->filters[r], sizeof t[r].filters);
        }
      break;
    case EMBER_PORTAL_EVENT_REJECT_ACCESS:
      t[res_by_id (m->u.reject_access.resource_id.str)].active = FALSE;
      break;
    case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
      {
        gint r = res_by_id (m->u.resource.id.str);
        g_strlcpy (t[r].filters, sim->filters[r], sizeof t[r].filters);
        break;
      }
    default:
      break;
    }
}

void
tsim_portal_deliver_due (TSim *sim)
{
  PortalMsg *m;
  while ((m = g_queue_peek_head (&sim->queue)) != NULL && m->at <= sim->w->now)
    {
      g_queue_pop_head (&sim->queue);
      if (m->to == TSIM_TO_PORTAL)
        portal_handle (sim, m->from, &m->msg);
      else if (m->to == TSIM_TO_CLIENT)
        {
          if (sim->ct != NULL)
            tsim_client_portal (sim, &m->msg);
        }
      else if (sim->gw[m->to - 1] != NULL)
        {
          /* Truth first: a packet the gateway forwards while handling
           * this message is judged by what it now knows. */
          truth_on_delivery (sim, m->to - 1, &m->msg);
          tsim_gateway_portal (sim->gw[m->to - 1], &m->msg);
        }
      msg_free (m);
    }
}

/* ---- partitions and restarts ------------------------------------------------- */

void
tsim_portal_partition (TSim *sim, gboolean cut)
{
  if (sim->client_cut == cut)
    return;
  sim->client_cut = cut;
  if (cut)
    {
      /* What was in flight to or from the client is lost. */
      GQueue keep = G_QUEUE_INIT;
      PortalMsg *m;
      while ((m = g_queue_pop_head (&sim->queue)) != NULL)
        {
          if (m->to == TSIM_TO_CLIENT || m->from == TSIM_TO_CLIENT)
            msg_free (m);
          else
            g_queue_push_tail (&keep, m);
        }
      sim->queue = keep;
      return;
    }
  /* The client signs in again. */
  tsim_portal_client_init (sim);
}

void
tsim_portal_restart (TSim *sim)
{
  g_queue_clear_full (&sim->queue, msg_free);
  g_queue_init (&sim->queue);
  /* Flows the gateways had not answered are forgotten. */
  for (guint i = sim->auths->len; i-- > 0;)
    if (!((PortalAuth *) g_ptr_array_index (sim->auths, i))->answered)
      g_ptr_array_remove_index (sim->auths, i);
  if (!sim->client_cut)
    tsim_portal_client_init (sim);
  for (guint g = 0; g < sim->cfg.n_sites; g++)
    if (sim->gw[g] != NULL)
      tsim_portal_gateway_init (sim, g);
}

void
tsim_portal_lose_next_candidate (TSim *sim, gboolean from_client)
{
  sim->lose_candidate[from_client ? 0 : 1] = TRUE;
}

void
tsim_portal_init (TSim *sim)
{
  sim->auths = g_ptr_array_new_with_free_func (g_free);
  g_queue_init (&sim->queue);
  for (guint r = 0; r < TSIM_N_RES; r++)
    {
      sim->present[r] = TRUE;
      sim->allowed[r] = r != TSIM_RES_SECRET;
      sim->conditional[r] = r == TSIM_RES_SECRET;
    }
  for (guint g = 0; g < TSIM_MAX_GATEWAYS; g++)
    for (guint i = 0; i < 32; i++)
      sim->psk[g][i] = (guint8) sim_rng_next (&sim->rng);
}

void
tsim_portal_clear (TSim *sim)
{
  g_queue_clear_full (&sim->queue, msg_free);
  g_ptr_array_free (sim->auths, TRUE);
}
