/* portal/build — typed message → JSON text, under the parser's rules. */
#include "portal/codec.h"

#include <string.h>
#include "portal/reader.h"
#include "portal/values.h"

/* The text is written straight into a GString (json-glib's builder and
 * generator took ten times as long). Building reuses the reader's path
 * and error so a value that breaks a rule is named the way the parser on
 * the other side would name it. */
typedef struct {
  Reader r;
  GString *out;
  gboolean comma;   /* a value precedes at this level: the next needs ',' */
} Writer;

static void
w_sep (Writer *w)
{
  if (w->comma)
    g_string_append_c (w->out, ',');
}

/* RFC 8259 §7: '"', '\\' and control characters are escaped; UTF-8 is
 * written as it is (every text was validated before). */
static void
w_quoted (Writer *w, const char *s)
{
  g_string_append_c (w->out, '"');
  for (const char *p = s; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;
      if (c == '"' || c == '\\')
        {
          g_string_append_c (w->out, '\\');
          g_string_append_c (w->out, (char) c);
        }
      else if (c < 0x20)
        g_string_append_printf (w->out, "\\u%04x", c);
      else
        g_string_append_c (w->out, (char) c);
    }
  g_string_append_c (w->out, '"');
}

static void
w_key (Writer *w, const char *name)
{
  w_sep (w);
  w_quoted (w, name);
  g_string_append_c (w->out, ':');
  w->comma = FALSE;
}

static void
w_string (Writer *w, const char *value)
{
  w_sep (w);
  w_quoted (w, value);
  w->comma = TRUE;
}

static void
w_int (Writer *w, gint64 value)
{
  w_sep (w);
  g_string_append_printf (w->out, "%" G_GINT64_FORMAT, value);
  w->comma = TRUE;
}

static void
w_begin (Writer *w, char open)
{
  w_sep (w);
  g_string_append_c (w->out, open);
  w->comma = FALSE;
}

static void
w_end (Writer *w, char close)
{
  g_string_append_c (w->out, close);
  w->comma = TRUE;
}

static void
add_string (Writer *w, const char *name, const char *value)
{
  w_key (w, name);
  w_string (w, value);
}

static gboolean
put_text (Writer *w, const char *name, const char *value, gsize max)
{
  gsize mark = reader_push_member (&w->r, name);
  if (!ember_portal_text_check (value, max, w->r.path->str, w->r.error))
    return FALSE;
  reader_pop (&w->r, mark);
  add_string (w, name, value);
  return TRUE;
}

static gboolean
put_id (Writer *w, const char *name, const EmberPortalId *id)
{
  gsize mark = reader_push_member (&w->r, name);
  if (!ember_portal_id_check (id, w->r.path->str, w->r.error))
    return FALSE;
  reader_pop (&w->r, mark);
  add_string (w, name, id->str);
  return TRUE;
}

static void
put_key (Writer *w, const char *name, const EmberPortalKey *key)
{
  char text[EMBER_PORTAL_KEY_B64_LEN + 1];
  ember_portal_key_to_base64 (key, text);
  add_string (w, name, text);
  explicit_bzero (text, sizeof text);
}

static gboolean
put_ip (Writer *w, const char *name, const EmberAddr *addr,
        EmberAddrFamily family)
{
  gsize mark = reader_push_member (&w->r, name);
  if (!ember_portal_ip_check (addr, family, w->r.path->str, w->r.error))
    return FALSE;
  reader_pop (&w->r, mark);
  char text[EMBER_PORTAL_ADDR_STRLEN];
  add_string (w, name, ember_portal_ip_to_string (addr, text));
  return TRUE;
}

static gboolean
put_time (Writer *w, const char *name, gint64 t)
{
  if (t < 1 || t > (G_GINT64_CONSTANT (1) << 53))
    {
      gsize mark = reader_push_member (&w->r, name);
      reader_fail (&w->r, "%" G_GINT64_FORMAT " is out of range 1..2^53", t);
      reader_pop (&w->r, mark);
      return FALSE;
    }
  w_key (w, name);
  w_int (w, t);
  return TRUE;
}

static gboolean
put_enum (Writer *w, const char *name, guint value, const char *const *names,
          guint n)
{
  if (value >= n)
    {
      gsize mark = reader_push_member (&w->r, name);
      reader_fail (&w->r, "value %u is out of range", value);
      reader_pop (&w->r, mark);
      return FALSE;
    }
  add_string (w, name, names[value]);
  return TRUE;
}

static gboolean
put_tunnel (Writer *w, const char *name, const EmberPortalTunnelAddresses *t)
{
  gsize mark = reader_push_member (&w->r, name);
  w_key (w, name);
  w_begin (w, '{');
  if (!put_ip (w, "ipv4", &t->ipv4, EMBER_ADDR_IPV4)
      || !put_ip (w, "ipv6", &t->ipv6, EMBER_ADDR_IPV6))
    return FALSE;
  w_end (w, '}');
  reader_pop (&w->r, mark);
  return TRUE;
}

static gboolean
put_ice (Writer *w, const char *name, const EmberPortalIceCredentials *ice)
{
  gsize mark = reader_push_member (&w->r, name);
  gsize m = reader_push_member (&w->r, "ufrag");
  if (!ember_portal_ice_chars_check (ice->ufrag, 4, EMBER_ICE_UFRAG_MAX, w->r.path->str, w->r.error))
    return FALSE;
  reader_pop (&w->r, m);
  m = reader_push_member (&w->r, "pwd");
  if (!ember_portal_ice_chars_check (ice->pwd, 22, EMBER_ICE_PWD_MAX, w->r.path->str, w->r.error))
    return FALSE;
  reader_pop (&w->r, mark);
  w_key (w, name);
  w_begin (w, '{');
  add_string (w, "ufrag", ice->ufrag);
  add_string (w, "pwd", ice->pwd);
  w_end (w, '}');
  return TRUE;
}

static gboolean
put_peer (Writer *w, const char *name, const EmberPortalPeer *peer)
{
  gsize mark = reader_push_member (&w->r, name);
  w_key (w, name);
  w_begin (w, '{');
  if (!put_id (w, "id", &peer->id))
    return FALSE;
  put_key (w, "public_key", &peer->public_key);
  if (!put_ip (w, "ipv4", &peer->tunnel.ipv4, EMBER_ADDR_IPV4)
      || !put_ip (w, "ipv6", &peer->tunnel.ipv6, EMBER_ADDR_IPV6))
    return FALSE;
  w_end (w, '}');
  reader_pop (&w->r, mark);
  return TRUE;
}

static gboolean
check_count (Writer *w, const char *name, guint n, guint min, guint max, gconstpointer array)
{
  if (n >= min && n <= max && (n == 0 || array != NULL))
    return TRUE;
  gsize mark = reader_push_member (&w->r, name);
  if (n > 0 && array == NULL)
    reader_fail (&w->r, "%u elements but no array", n);
  else
    reader_fail (&w->r, "%u elements; expected %u..%u", n, min, max);
  reader_pop (&w->r, mark);
  return FALSE;
}

static gboolean
put_ids (Writer *w, const char *name, const EmberPortalId *ids, guint n,
         guint min, guint max)
{
  if (!check_count (w, name, n, min, max, ids))
    return FALSE;
  gsize mark = reader_push_member (&w->r, name);
  w_key (w, name);
  w_begin (w, '[');
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (&w->r, i);
      if (!ember_portal_id_check (&ids[i], w->r.path->str, w->r.error))
        return FALSE;
      reader_pop (&w->r, m);
      w_string (w, ids[i].str);
    }
  w_end (w, ']');
  reader_pop (&w->r, mark);
  return TRUE;
}

/* `dns_names` only when there are any: peers that predate it see the
 * message they know. */
static gboolean
put_dns_names (Writer *w, const EmberPortalDnsName *d, guint n)
{
  if (n == 0)
    return TRUE;
  if (!check_count (w, "dns_names", n, 0, EMBER_PORTAL_MAX_DNS_NAMES, d))
    return FALSE;
  gsize mark = reader_push_member (&w->r, "dns_names");
  w_key (w, "dns_names");
  w_begin (w, '[');
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (&w->r, i);
      w_begin (w, '{');
      if (!put_text (w, "name", d[i].name, EMBER_PORTAL_DNS_PATTERN_MAX))
        return FALSE;
      if (d[i].ipv4.family == EMBER_ADDR_NONE && d[i].ipv6.family == EMBER_ADDR_NONE)
        return reader_fail (&w->r, "a dns name needs \"ipv4\", \"ipv6\" or both");
      if (d[i].ipv4.family != EMBER_ADDR_NONE && !put_ip (w, "ipv4", &d[i].ipv4, EMBER_ADDR_IPV4))
        return FALSE;
      if (d[i].ipv6.family != EMBER_ADDR_NONE && !put_ip (w, "ipv6", &d[i].ipv6, EMBER_ADDR_IPV6))
        return FALSE;
      w_end (w, '}');
      reader_pop (&w->r, m);
    }
  w_end (w, ']');
  reader_pop (&w->r, mark);
  return TRUE;
}

/* `device` only when the portal knows it (name set). */
static gboolean
put_device (Writer *w, const EmberPortalDevice *dev)
{
  if (dev->name == NULL)
    return TRUE;
  gsize mark = reader_push_member (&w->r, "device");
  w_key (w, "device");
  w_begin (w, '{');
  if (!put_id (w, "id", &dev->id) || !put_text (w, "name", dev->name, EMBER_PORTAL_NAME_MAX))
    return FALSE;
  w_end (w, '}');
  reader_pop (&w->r, mark);
  return TRUE;
}

static gboolean
put_candidates (Writer *w, const char *name, const EmberIceCandidate *c,
                guint n)
{
  if (!check_count (w, name, n, 1, EMBER_PORTAL_MAX_CANDIDATES, c))
    return FALSE;
  gsize mark = reader_push_member (&w->r, name);
  w_key (w, name);
  w_begin (w, '[');
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (&w->r, i);
      g_autofree char *text = ember_portal_candidate_to_string (&c[i], w->r.path->str, w->r.error);
      if (text == NULL)
        return FALSE;
      reader_pop (&w->r, m);
      w_string (w, text);
    }
  w_end (w, ']');
  reader_pop (&w->r, mark);
  return TRUE;
}

static gboolean
put_resource_body (Writer *w, const EmberPortalResource *res)
{
  static const char *const types[] = { "cidr", "dns", "internet" };
  static const char *const protocols[] = { "tcp", "udp", "icmp" };
  w_begin (w, '{');
  if (!put_id (w, "id", &res->id) || !put_text (w, "name", res->name, EMBER_PORTAL_NAME_MAX)
      || !put_enum (w, "type", res->type, types, G_N_ELEMENTS (types)))
    return FALSE;
  gsize mark = reader_push_member (&w->r, "address");
  char text[EMBER_PORTAL_ADDR_STRLEN];
  switch (res->type)
    {
    case EMBER_PORTAL_RESOURCE_CIDR:
      if (!ember_portal_cidr_check (&res->cidr, w->r.path->str, w->r.error))
        return FALSE;
      add_string (w, "address", ember_portal_cidr_to_string (&res->cidr, text));
      break;
    case EMBER_PORTAL_RESOURCE_DNS:
      if (!ember_portal_dns_pattern_check (res->dns_pattern, w->r.path->str, w->r.error))
        return FALSE;
      add_string (w, "address", res->dns_pattern);
      break;
    case EMBER_PORTAL_RESOURCE_INTERNET:
      break;
    }
  reader_pop (&w->r, mark);

  /* Dual, the default, is left out: messages stay as a device that
   * predates the member reads them. */
  if (res->ip_stack != EMBER_PORTAL_IP_STACK_DUAL)
    {
      static const char *const stacks[] = { "dual", "ipv4", "ipv6" };
      if (res->type != EMBER_PORTAL_RESOURCE_DNS)
        {
          mark = reader_push_member (&w->r, "ip_stack");
          reader_fail (&w->r, "only a dns resource has an IP stack");
          reader_pop (&w->r, mark);
          return FALSE;
        }
      if (!put_enum (w, "ip_stack", res->ip_stack, stacks, G_N_ELEMENTS (stacks)))
        return FALSE;
    }

  mark = reader_push_member (&w->r, "site");
  w_key (w, "site");
  w_begin (w, '{');
  if (!put_id (w, "id", &res->site.id)
      || !put_text (w, "name", res->site.name, EMBER_PORTAL_NAME_MAX))
    return FALSE;
  w_end (w, '}');
  reader_pop (&w->r, mark);

  if (!check_count (w, "filters", res->n_filters, 0, EMBER_PORTAL_MAX_FILTERS, res->filters))
    return FALSE;
  if (res->n_filters > 0)
    {
      mark = reader_push_member (&w->r, "filters");
      w_key (w, "filters");
      w_begin (w, '[');
      for (guint i = 0; i < res->n_filters; i++)
        {
          const EmberPortalFilter *f = &res->filters[i];
          gsize m = reader_push_index (&w->r, i);
          if (!ember_portal_filter_check (f, w->r.path->str, w->r.error))
            return FALSE;
          w_begin (w, '{');
          put_enum (w, "protocol", f->protocol, protocols, G_N_ELEMENTS (protocols));
          if (f->n_ports > 0)
            {
              g_autofree char *ports = ember_portal_ports_to_string (f);
              add_string (w, "ports", ports);
            }
          w_end (w, '}');
          reader_pop (&w->r, m);
        }
      w_end (w, ']');
      reader_pop (&w->r, mark);
    }
  w_end (w, '}');
  return TRUE;
}

static gboolean
put_resource (Writer *w, const char *name, const EmberPortalResource *res)
{
  gsize mark = reader_push_member (&w->r, name);
  w_key (w, name);
  if (!put_resource_body (w, res))
    return FALSE;
  reader_pop (&w->r, mark);
  return TRUE;
}

static gboolean
put_relay (Writer *w, const EmberPortalRelay *relay)
{
  w_begin (w, '{');
  if (!put_id (w, "id", &relay->id))
    return FALSE;
  add_string (w, "type", "turn");
  if (relay->ipv4.family == EMBER_ADDR_NONE && relay->ipv6.family == EMBER_ADDR_NONE)
    return reader_fail (&w->r, "a relay needs \"ipv4\", \"ipv6\" or both");
  const struct {
    const char *name;
    const EmberAddr *addr;
    EmberAddrFamily family;
  } eps[] = { { "ipv4", &relay->ipv4, EMBER_ADDR_IPV4 }, { "ipv6", &relay->ipv6, EMBER_ADDR_IPV6 } };
  for (guint i = 0; i < G_N_ELEMENTS (eps); i++)
    {
      if (eps[i].addr->family == EMBER_ADDR_NONE)
        continue;
      gsize mark = reader_push_member (&w->r, eps[i].name);
      if (!ember_portal_endpoint_check (eps[i].addr, eps[i].family, w->r.path->str, w->r.error))
        return FALSE;
      reader_pop (&w->r, mark);
      char text[EMBER_PORTAL_ADDR_STRLEN];
      add_string (w, eps[i].name, ember_portal_endpoint_to_string (eps[i].addr, text));
    }
  if (!put_text (w, "username", relay->username, EMBER_PORTAL_CREDENTIAL_MAX)
      || !put_text (w, "password", relay->password, EMBER_PORTAL_CREDENTIAL_MAX)
      || !put_time (w, "expires_at", relay->expires_at))
    return FALSE;
  w_end (w, '}');
  return TRUE;
}

static gboolean
put_relays (Writer *w, const char *name, const EmberPortalRelay *relays, guint n)
{
  if (!check_count (w, name, n, 0, EMBER_PORTAL_MAX_RELAYS, relays))
    return FALSE;
  gsize mark = reader_push_member (&w->r, name);
  w_key (w, name);
  w_begin (w, '[');
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (&w->r, i);
      if (!put_relay (w, &relays[i]))
        return FALSE;
      reader_pop (&w->r, m);
    }
  w_end (w, ']');
  reader_pop (&w->r, mark);
  return TRUE;
}

static gboolean
put_resources (Writer *w, const EmberPortalResource *res, guint n)
{
  if (!check_count (w, "resources", n, 0, EMBER_PORTAL_MAX_RESOURCES, res))
    return FALSE;
  gsize mark = reader_push_member (&w->r, "resources");
  w_key (w, "resources");
  w_begin (w, '[');
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (&w->r, i);
      if (!put_resource_body (w, &res[i]))
        return FALSE;
      reader_pop (&w->r, m);
    }
  w_end (w, ']');
  reader_pop (&w->r, mark);
  return TRUE;
}

static gboolean
put_authorizations (Writer *w, const EmberPortalAuthorization *a, guint n)
{
  if (!check_count (w, "authorizations", n, 0, EMBER_PORTAL_MAX_AUTHORIZATIONS, a))
    return FALSE;
  gsize mark = reader_push_member (&w->r, "authorizations");
  w_key (w, "authorizations");
  w_begin (w, '[');
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (&w->r, i);
      w_begin (w, '{');
      if (!put_peer (w, "client", &a[i].client)
          || !put_resource (w, "resource", &a[i].resource))
        return FALSE;
      put_key (w, "preshared_key", &a[i].preshared_key);
      if (!put_time (w, "expires_at", a[i].expires_at))
        return FALSE;
      w_end (w, '}');
      reader_pop (&w->r, m);
    }
  w_end (w, ']');
  reader_pop (&w->r, mark);
  return TRUE;
}

/* The payload object of `msg` (the writer's path is "payload"). */
static gboolean
put_payload (Writer *w, const EmberPortalMessage *msg, gboolean gw)
{
  static const char *const reasons[] = {
    "none", "invalid_frame", "invalid_payload", "unknown_event", "wrong_direction",
    "unknown_topic", "not_joined", "already_joined", "rate_limited", "internal",
  };
  static const char *const authz[] = { "not_found", "forbidden", "offline" };
  static const char *const disconnects[] = { "token_revoked", "token_expired", "device_removed",
                                             "replaced", "shutdown", "protocol_error" };
  if (msg->event == EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED
      || msg->event == EMBER_PORTAL_EVENT_RESOURCE_UPDATED)
    return put_resource_body (w, &msg->u.resource);

  w_begin (w, '{');
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_PHX_JOIN:
    case EMBER_PORTAL_EVENT_HEARTBEAT:
      break;

    case EMBER_PORTAL_EVENT_PHX_REPLY:
      {
        const EmberPortalReply *r = &msg->u.reply;
        if (r->status != EMBER_PORTAL_REPLY_OK && r->status != EMBER_PORTAL_REPLY_ERROR)
          return reader_fail (&w->r, "status %d is neither ok nor error", (int) r->status);
        gboolean ok = r->status == EMBER_PORTAL_REPLY_OK;
        add_string (w, "status", ok ? "ok" : "error");
        gsize mark = reader_push_member (&w->r, "response");
        w_key (w, "response");
        w_begin (w, '{');
        if (ok && (r->reason != EMBER_PORTAL_REPLY_REASON_NONE || r->message != NULL))
          return reader_fail (&w->r, "an ok reply carries no reason or message");
        if (!ok)
          {
            if (r->reason == EMBER_PORTAL_REPLY_REASON_NONE)
              return reader_fail (&w->r, "an error reply needs a reason");
            if (!put_enum (w, "reason", r->reason, reasons, G_N_ELEMENTS (reasons))
                || (r->message != NULL
                    && !put_text (w, "message", r->message, EMBER_PORTAL_MESSAGE_MAX)))
              return FALSE;
          }
        w_end (w, '}');
        reader_pop (&w->r, mark);
        break;
      }

    case EMBER_PORTAL_EVENT_RELAYS_PRESENCE:
      {
        const EmberPortalRelaysPresence *p = &msg->u.relays_presence;
        if (!put_ids (w, "disconnected_ids", p->disconnected_ids, p->n_disconnected_ids, 0,
                      EMBER_PORTAL_MAX_RELAYS)
            || !put_relays (w, "connected", p->connected, p->n_connected))
          return FALSE;
        break;
      }

    case EMBER_PORTAL_EVENT_DISCONNECT:
      if (!put_enum (w, "reason", msg->u.disconnect.reason, disconnects,
                     G_N_ELEMENTS (disconnects)))
        return FALSE;
      break;

    case EMBER_PORTAL_EVENT_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES:
      {
        const EmberPortalIceCandidates *c = &msg->u.ice_candidates;
        if (!put_id (w, gw ? "client_id" : "gateway_id", &c->peer_id)
            || !put_candidates (w, "candidates", c->candidates, c->n_candidates))
          return FALSE;
        break;
      }

    case EMBER_PORTAL_EVENT_REJECT_ACCESS:
      if ((gw && !put_id (w, "client_id", &msg->u.reject_access.client_id))
          || !put_id (w, "resource_id", &msg->u.reject_access.resource_id))
        return FALSE;
      break;

    case EMBER_PORTAL_EVENT_CLIENT_INIT:
      {
        const EmberPortalClientInit *in = &msg->u.client_init;
        if (!put_tunnel (w, "interface", &in->iface)
            || !put_resources (w, in->resources, in->n_resources)
            || !put_relays (w, "relays", in->relays, in->n_relays)
            || !put_device (w, &in->device))
          return FALSE;
        break;
      }

    case EMBER_PORTAL_EVENT_RESOURCE_DELETED:
      if (!put_id (w, "id", &msg->u.resource_deleted.id))
        return FALSE;
      break;

    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED:
      {
        const EmberPortalAuthorizationCreated *ac = &msg->u.authorization_created;
        if (!put_id (w, "resource_id", &ac->resource_id)
            || !put_peer (w, "gateway", &ac->gateway))
          return FALSE;
        put_key (w, "preshared_key", &ac->preshared_key);
        if (!put_ice (w, "client_ice", &ac->client_ice)
            || !put_ice (w, "gateway_ice", &ac->gateway_ice)
            || !put_time (w, "expires_at", ac->expires_at))
          return FALSE;
        break;
      }

    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED:
      if (!put_id (w, "resource_id", &msg->u.authorization_failed.resource_id)
          || !put_enum (w, "reason", msg->u.authorization_failed.reason, authz,
                        G_N_ELEMENTS (authz)))
        return FALSE;
      break;

    case EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION:
      {
        const EmberPortalRequestAuthorization *ra = &msg->u.request_authorization;
        if (!put_id (w, "resource_id", &ra->resource_id)
            || !put_ids (w, "connected_gateway_ids", ra->connected_gateway_ids,
                         ra->n_connected_gateway_ids, 0, EMBER_PORTAL_MAX_PEER_IDS)
            || !put_dns_names (w, ra->dns_names, ra->n_dns_names))
          return FALSE;
        break;
      }

    case EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      {
        const EmberPortalIceBroadcast *ib = &msg->u.ice_broadcast;
        if (!put_ids (w, gw ? "client_ids" : "gateway_ids", ib->peer_ids, ib->n_peer_ids, 1,
                      EMBER_PORTAL_MAX_PEER_IDS)
            || !put_candidates (w, "candidates", ib->candidates, ib->n_candidates))
          return FALSE;
        break;
      }

    case EMBER_PORTAL_EVENT_GATEWAY_INIT:
      {
        const EmberPortalGatewayInit *in = &msg->u.gateway_init;
        if (!put_tunnel (w, "interface", &in->iface)
            || !put_relays (w, "relays", in->relays, in->n_relays)
            || !put_authorizations (w, in->authorizations, in->n_authorizations)
            || !put_device (w, &in->device))
          return FALSE;
        break;
      }

    case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
      {
        const EmberPortalAuthorizeFlow *af = &msg->u.authorize_flow;
        if (!put_text (w, "ref", af->ref, EMBER_PORTAL_FLOW_REF_MAX)
            || !put_resource (w, "resource", &af->resource)
            || !put_peer (w, "client", &af->client))
          return FALSE;
        put_key (w, "preshared_key", &af->preshared_key);
        if (!put_ice (w, "client_ice", &af->client_ice)
            || !put_ice (w, "gateway_ice", &af->gateway_ice)
            || !put_time (w, "expires_at", af->expires_at)
            || !put_dns_names (w, af->dns_names, af->n_dns_names))
          return FALSE;
        break;
      }

    case EMBER_PORTAL_EVENT_FLOW_AUTHORIZED:
      if (!put_text (w, "ref", msg->u.flow_authorized.ref, EMBER_PORTAL_FLOW_REF_MAX))
        return FALSE;
      break;

    case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
    case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
    case EMBER_PORTAL_EVENT_COUNT_:
      return reader_fail (&w->r, "no payload writer for this event");
    }
  w_end (w, '}');
  return TRUE;
}

char *
ember_portal_message_build (const EmberPortalMessage *msg, EmberPortalChannel channel,
                            gsize *len_out, GError **error)
{
  g_return_val_if_fail (msg != NULL, NULL);
  if ((guint) msg->event >= EMBER_PORTAL_EVENT_COUNT_)
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_FRAME,
                   "event: %d is not an event", (int) msg->event);
      return NULL;
    }
  if (msg->topic == EMBER_PORTAL_TOPIC_CLIENT)
    channel = EMBER_PORTAL_CHANNEL_CLIENT;
  else if (msg->topic == EMBER_PORTAL_TOPIC_GATEWAY)
    channel = EMBER_PORTAL_CHANNEL_GATEWAY;
  else if (msg->topic != EMBER_PORTAL_TOPIC_PHOENIX)
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_UNKNOWN_TOPIC,
                   "topic: %d is not a topic", (int) msg->topic);
      return NULL;
    }
  const char *event = ember_portal_event_to_string (msg->event);
  gboolean phoenix = msg->topic == EMBER_PORTAL_TOPIC_PHOENIX;
  gboolean allowed = ember_portal_event_allowed (msg->event, channel, EMBER_PORTAL_TO_PORTAL)
                     || ember_portal_event_allowed (msg->event, channel, EMBER_PORTAL_FROM_PORTAL);
  if (!allowed)
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_WRONG_DIRECTION,
                   "event: \"%s\" is not an event of the %s channel", event,
                   ember_portal_channel_to_string (channel));
      return NULL;
    }
  if ((msg->event == EMBER_PORTAL_EVENT_HEARTBEAT) != phoenix
      && msg->event != EMBER_PORTAL_EVENT_PHX_REPLY)
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_FRAME,
                   "topic: \"%s\" goes on topic \"%s\"", event,
                   msg->event == EMBER_PORTAL_EVENT_HEARTBEAT
                     ? "phoenix" : ember_portal_channel_to_string (channel));
      return NULL;
    }
  gboolean needs_ref = msg->event == EMBER_PORTAL_EVENT_PHX_JOIN
                       || msg->event == EMBER_PORTAL_EVENT_HEARTBEAT
                       || msg->event == EMBER_PORTAL_EVENT_PHX_REPLY;
  g_autoptr (GError) local = NULL;
  if ((needs_ref && msg->ref == NULL)
      || (msg->ref != NULL && !ember_portal_text_check (msg->ref, EMBER_PORTAL_REF_MAX, "ref", &local)))
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_FRAME, "%s",
                   local != NULL ? local->message : "ref: this event needs a ref");
      return NULL;
    }

  Writer w = { .out = g_string_sized_new (256) };
  reader_init (&w.r, "payload", error);
  w_begin (&w, '{');
  add_string (&w, "topic", ember_portal_topic_to_string (msg->topic));
  add_string (&w, "event", event);
  w_key (&w, "payload");
  gboolean ok = put_payload (&w, msg, channel == EMBER_PORTAL_CHANNEL_GATEWAY);
  reader_finish (&w.r);
  if (ok)
    {
      w_key (&w, "ref");
      if (msg->ref != NULL)
        w_string (&w, msg->ref);
      else
        {
          w_sep (&w);
          g_string_append (w.out, "null");
        }
      w_end (&w, '}');
      if (w.out->len > EMBER_PORTAL_FRAME_MAX)
        {
          g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_TOO_LARGE,
                       "frame of %" G_GSIZE_FORMAT " bytes; at most %d are allowed", w.out->len,
                       EMBER_PORTAL_FRAME_MAX);
          ok = FALSE;
        }
    }
  if (!ok)
    {
      /* A half-written frame may hold a preshared key. */
      explicit_bzero (w.out->str, w.out->allocated_len);
      g_string_free (w.out, TRUE);
      return NULL;
    }
  if (len_out != NULL)
    *len_out = w.out->len;
  return g_string_free (w.out, FALSE);
}
