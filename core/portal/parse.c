/* portal/parse — JSON text → frame → typed message, strictly. */
#include "portal/codec.h"

#include <string.h>
#include "portal/reader.h"
#include "portal/syntax.h"
#include "portal/values.h"

G_DEFINE_QUARK (ember-portal-error-quark, ember_portal_error)

EmberPortalReplyReason
ember_portal_error_to_reply_reason (EmberPortalError code)
{
  switch (code)
    {
    case EMBER_PORTAL_ERROR_TOO_LARGE:
    case EMBER_PORTAL_ERROR_INVALID_JSON:
    case EMBER_PORTAL_ERROR_INVALID_FRAME:
      return EMBER_PORTAL_REPLY_REASON_INVALID_FRAME;
    case EMBER_PORTAL_ERROR_UNKNOWN_TOPIC:
      return EMBER_PORTAL_REPLY_REASON_UNKNOWN_TOPIC;
    case EMBER_PORTAL_ERROR_UNKNOWN_EVENT:
      return EMBER_PORTAL_REPLY_REASON_UNKNOWN_EVENT;
    case EMBER_PORTAL_ERROR_WRONG_DIRECTION:
      return EMBER_PORTAL_REPLY_REASON_WRONG_DIRECTION;
    case EMBER_PORTAL_ERROR_INVALID_PAYLOAD:
      return EMBER_PORTAL_REPLY_REASON_INVALID_PAYLOAD;
    }
  return EMBER_PORTAL_REPLY_REASON_INVALID_FRAME;
}

/* ---- Frames ------------------------------------------------------------- */

static gboolean
frame_fail (GError **error, const char *member, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
frame_fail (GError **error, const char *member, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_FRAME, "%s: %s", member, msg);
  return FALSE;
}

static gboolean
frame_string (JsonObject *root, const char *member, gboolean nullable, gsize max, char **out,
              GError **error)
{
  JsonNode *node = json_object_get_member (root, member);
  if (node == NULL)
    return frame_fail (error, member, "missing");
  if (nullable && JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return frame_fail (error, member, "expected a string%s", nullable ? " or null" : "");
  const char *s = json_node_get_string (node);
  g_autoptr (GError) local = NULL;
  if (!ember_portal_text_check (s, max, member, &local))
    {
      g_set_error_literal (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_FRAME,
                           local->message);
      return FALSE;
    }
  *out = g_strdup (s);
  return TRUE;
}

/* Long enough for every event and topic name. */
#define FRAME_NAME_MAX 64

gboolean
ember_portal_frame_parse (const char *text, gsize len, EmberPortalFrame *frame, GError **error)
{
  g_return_val_if_fail (text != NULL || len == 0, FALSE);
  g_return_val_if_fail (frame != NULL, FALSE);
  memset (frame, 0, sizeof *frame);
  if (len > EMBER_PORTAL_FRAME_MAX)
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_TOO_LARGE,
                   "frame of %" G_GSIZE_FORMAT " bytes; at most %d are allowed", len,
                   EMBER_PORTAL_FRAME_MAX);
      return FALSE;
    }
  /* RFC 8259 §8.1: JSON text is UTF-8; a NUL byte can appear in none of
   * its tokens. Both checked before json-glib sees the text. */
  if (len == 0 || memchr (text, '\0', len) != NULL || !g_utf8_validate (text, (gssize) len, NULL))
    {
      g_set_error_literal (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_JSON,
                           "frame is not UTF-8 JSON text");
      return FALSE;
    }
  G_STATIC_ASSERT (EMBER_PORTAL_DEPTH_MAX <= EMBER_PORTAL_SYNTAX_DEPTH_MAX);
  const char *why;
  gsize at;
  if (!ember_portal_json_syntax_check (text, len, EMBER_PORTAL_DEPTH_MAX, &why, &at))
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_JSON,
                   "frame is not JSON: byte %" G_GSIZE_FORMAT ": %s", at, why);
      return FALSE;
    }
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local))
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_JSON,
                   "frame is not JSON: %s", local->message);
      return FALSE;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_FRAME,
                           "frame: expected a JSON object {\"topic\", \"event\", \"payload\", "
                           "\"ref\"}");
      return FALSE;
    }
  JsonObject *obj = json_node_get_object (root);
  /* The ref first, so that a frame with a bad member can still be
   * answered. */
  if (!frame_string (obj, "ref", TRUE, EMBER_PORTAL_REF_MAX, &frame->ref, error))
    return FALSE;
  JsonObjectIter it;
  const char *name;
  json_object_iter_init (&it, obj);
  while (json_object_iter_next (&it, &name, NULL))
    if (strcmp (name, "topic") != 0 && strcmp (name, "event") != 0
        && strcmp (name, "payload") != 0 && strcmp (name, "ref") != 0)
      {
        g_autofree char *esc = g_strescape (name, NULL);
        return frame_fail (error, "frame", "unknown member \"%.64s\"", esc);
      }
  if (!frame_string (obj, "topic", FALSE, FRAME_NAME_MAX, &frame->topic, error)
      || !frame_string (obj, "event", FALSE, FRAME_NAME_MAX, &frame->event, error))
    return FALSE;
  JsonNode *payload = json_object_get_member (obj, "payload");
  if (payload == NULL)
    return frame_fail (error, "payload", "missing");
  if (!JSON_NODE_HOLDS_OBJECT (payload))
    return frame_fail (error, "payload", "expected an object");
  frame->payload = json_node_copy (payload);
  return TRUE;
}

void
ember_portal_frame_clear (EmberPortalFrame *frame)
{
  if (frame == NULL)
    return;
  g_free (frame->topic);
  g_free (frame->event);
  g_free (frame->ref);
  g_clear_pointer (&frame->payload, json_node_unref);
  memset (frame, 0, sizeof *frame);
}

/* ---- Payloads -------------------------------------------------------- */

static const char *const empty_members[] = { NULL };

static gboolean
read_filter (Reader *r, JsonNode *node, EmberPortalFilter *f)
{
  static const char *const allowed[] = { "protocol", "ports", NULL };
  static const char *const protocols[] = { "tcp", "udp", "icmp" };
  JsonObject *o;
  guint protocol;
  g_autofree char *ports = NULL;
  if (!reader_object (r, node, allowed, &o)
      || !read_enum (r, o, "protocol", protocols, G_N_ELEMENTS (protocols), &protocol)
      || !read_string (r, o, "ports", FALSE, 4096, &ports))
    return FALSE;
  f->protocol = (EmberPortalProtocol) protocol;
  if (ports == NULL)
    return TRUE;
  gsize mark = reader_push_member (r, "ports");
  if (f->protocol == EMBER_PORTAL_PROTOCOL_ICMP)
    return reader_fail (r, "icmp takes no ports");
  if (!ember_portal_ports_parse (ports, f, r->path->str, r->error))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

static gboolean
read_resource (Reader *r, JsonNode *node, EmberPortalResource *res)
{
  static const char *const allowed[] = { "id",   "name",    "type", "address", "ip_stack",
                                         "site", "filters", NULL };
  static const char *const site_members[] = { "id", "name", NULL };
  static const char *const types[] = { "cidr", "dns", "internet" };
  static const char *const stacks[] = { "dual", "ipv4", "ipv6", NULL };
  JsonObject *o, *site;
  guint type;
  g_autofree char *address = NULL;
  if (!reader_object (r, node, allowed, &o) || !read_id (r, o, "id", &res->id)
      || !read_string (r, o, "name", TRUE, EMBER_PORTAL_NAME_MAX, &res->name)
      || !read_enum (r, o, "type", types, G_N_ELEMENTS (types), &type)
      || !read_string (r, o, "address", FALSE, 4096, &address)
      || !read_member_object (r, o, "site", site_members, &site))
    return FALSE;
  res->type = (EmberPortalResourceType) type;
  gsize mark = reader_push_member (r, "site");
  if (!read_id (r, site, "id", &res->site.id)
      || !read_string (r, site, "name", TRUE, EMBER_PORTAL_NAME_MAX, &res->site.name))
    return FALSE;
  reader_pop (r, mark);

  mark = reader_push_member (r, "address");
  switch (res->type)
    {
    case EMBER_PORTAL_RESOURCE_CIDR:
      if (address == NULL)
        return reader_fail (r, "missing (a cidr resource needs a network)");
      if (!ember_portal_cidr_parse (address, &res->cidr, r->path->str, r->error))
        return FALSE;
      break;
    case EMBER_PORTAL_RESOURCE_DNS:
      if (address == NULL)
        return reader_fail (r, "missing (a dns resource needs a name pattern)");
      res->dns_pattern = ember_portal_dns_pattern_parse (address, r->path->str, r->error);
      if (res->dns_pattern == NULL)
        return FALSE;
      break;
    case EMBER_PORTAL_RESOURCE_INTERNET:
      if (address != NULL)
        return reader_fail (r, "an internet resource has no address");
      break;
    }
  reader_pop (r, mark);

  /* Optional (revision 2); absent: dual. */
  if (json_object_has_member (o, "ip_stack"))
    {
      guint stack;
      if (res->type != EMBER_PORTAL_RESOURCE_DNS)
        {
          mark = reader_push_member (r, "ip_stack");
          return reader_fail (r, "only a dns resource has an IP stack");
        }
      if (!read_enum (r, o, "ip_stack", stacks, G_N_ELEMENTS (stacks) - 1, &stack))
        return FALSE;
      res->ip_stack = (EmberPortalIpStack) stack;
    }

  JsonArray *filters = NULL;
  if (!read_member_array (r, o, "filters", FALSE, 0, EMBER_PORTAL_MAX_FILTERS, &filters))
    return FALSE;
  if (filters == NULL)
    return TRUE;
  mark = reader_push_member (r, "filters");
  res->n_filters = json_array_get_length (filters);
  res->filters = g_new0 (EmberPortalFilter, MAX (res->n_filters, 1));
  for (guint i = 0; i < res->n_filters; i++)
    {
      gsize m = reader_push_index (r, i);
      if (!read_filter (r, json_array_get_element (filters, i), &res->filters[i]))
        return FALSE;
      reader_pop (r, m);
    }
  reader_pop (r, mark);
  return TRUE;
}

static gboolean
read_relay (Reader *r, JsonNode *node, EmberPortalRelay *relay)
{
  static const char *const allowed[] = { "id", "type", "ipv4", "ipv6", "username", "password",
                                         "expires_at", NULL };
  static const char *const types[] = { "turn" };
  JsonObject *o;
  guint type;
  gboolean has4, has6;
  if (!reader_object (r, node, allowed, &o) || !read_id (r, o, "id", &relay->id)
      || !read_enum (r, o, "type", types, G_N_ELEMENTS (types), &type)
      || !read_endpoint (r, o, "ipv4", EMBER_ADDR_IPV4, &relay->ipv4, &has4)
      || !read_endpoint (r, o, "ipv6", EMBER_ADDR_IPV6, &relay->ipv6, &has6)
      || !read_string (r, o, "username", TRUE, EMBER_PORTAL_CREDENTIAL_MAX, &relay->username)
      || !read_string (r, o, "password", TRUE, EMBER_PORTAL_CREDENTIAL_MAX, &relay->password)
      || !read_time (r, o, "expires_at", &relay->expires_at))
    return FALSE;
  if (!has4 && !has6)
    return reader_fail (r, "a relay needs \"ipv4\", \"ipv6\" or both");
  return TRUE;
}

static gboolean
read_peer (Reader *r, JsonObject *obj, const char *name, EmberPortalPeer *peer)
{
  static const char *const allowed[] = { "id", "public_key", "ipv4", "ipv6", NULL };
  JsonObject *o;
  if (!read_member_object (r, obj, name, allowed, &o))
    return FALSE;
  gsize mark = reader_push_member (r, name);
  if (!read_id (r, o, "id", &peer->id) || !read_key (r, o, "public_key", &peer->public_key)
      || !read_ip (r, o, "ipv4", EMBER_ADDR_IPV4, &peer->tunnel.ipv4)
      || !read_ip (r, o, "ipv6", EMBER_ADDR_IPV6, &peer->tunnel.ipv6))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

/* Reads the array member `name` (min..max elements) with `each`, into a
 * zeroed array of `size`-byte elements (set before reading, so a failure
 * half-way is cleared like a success). */
static gboolean
read_objects (Reader *r, JsonObject *obj, const char *name, guint max, gsize size,
              gboolean (*each) (Reader *, JsonNode *, gpointer), gpointer *out, guint *n_out)
{
  JsonArray *a;
  if (!read_member_array (r, obj, name, TRUE, 0, max, &a))
    return FALSE;
  gsize mark = reader_push_member (r, name);
  guint n = json_array_get_length (a);
  guint8 *v = g_malloc0 (MAX (n, 1) * size);
  *out = v;
  *n_out = n;
  for (guint i = 0; i < n; i++)
    {
      gsize m = reader_push_index (r, i);
      if (!each (r, json_array_get_element (a, i), v + i * size))
        return FALSE;
      reader_pop (r, m);
    }
  reader_pop (r, mark);
  return TRUE;
}

static gboolean
each_resource (Reader *r, JsonNode *node, gpointer out)
{
  return read_resource (r, node, out);
}

static gboolean
each_relay (Reader *r, JsonNode *node, gpointer out)
{
  return read_relay (r, node, out);
}

static gboolean
each_authorization (Reader *r, JsonNode *node, gpointer out)
{
  static const char *const allowed[] = { "client", "resource", "preshared_key", "expires_at",
                                         NULL };
  EmberPortalAuthorization *a = out;
  JsonObject *o;
  if (!reader_object (r, node, allowed, &o) || !read_peer (r, o, "client", &a->client))
    return FALSE;
  gsize mark = reader_push_member (r, "resource");
  JsonNode *res = json_object_get_member (o, "resource");
  if (res == NULL)
    return reader_fail (r, "missing");
  if (!read_resource (r, res, &a->resource))
    return FALSE;
  reader_pop (r, mark);
  return read_key (r, o, "preshared_key", &a->preshared_key)
         && read_time (r, o, "expires_at", &a->expires_at);
}

/* {name, ipv4?, ipv6?} with at least one address (docs/portal-protocol.md). */
static gboolean
each_dns_name (Reader *r, JsonNode *node, gpointer out)
{
  static const char *const allowed[] = { "name", "ipv4", "ipv6", NULL };
  EmberPortalDnsName *d = out;
  JsonObject *o;
  gboolean has4, has6;

  if (!reader_object (r, node, allowed, &o)
      || !read_string (r, o, "name", TRUE, EMBER_PORTAL_DNS_PATTERN_MAX, &d->name))
    return FALSE;
  has4 = json_object_has_member (o, "ipv4");
  has6 = json_object_has_member (o, "ipv6");
  if (!has4 && !has6)
    return reader_fail (r, "a dns name needs \"ipv4\", \"ipv6\" or both");
  return (!has4 || read_ip (r, o, "ipv4", EMBER_ADDR_IPV4, &d->ipv4))
         && (!has6 || read_ip (r, o, "ipv6", EMBER_ADDR_IPV6, &d->ipv6));
}

/* The optional member `dns_names` (absent: none). */
static gboolean
read_dns_names (Reader *r, JsonObject *o, EmberPortalDnsName **names, guint *n);

/* The optional member `device` of both inits: {id, name}. */
static gboolean
read_device (Reader *r, JsonObject *o, EmberPortalDevice *dev)
{
  static const char *const allowed[] = { "id", "name", NULL };
  JsonObject *d;
  if (!json_object_has_member (o, "device"))
    return TRUE;
  if (!read_member_object (r, o, "device", allowed, &d))
    return FALSE;
  gsize mark = reader_push_member (r, "device");
  if (!read_id (r, d, "id", &dev->id)
      || !read_string (r, d, "name", TRUE, EMBER_PORTAL_NAME_MAX, &dev->name))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

#define READ_OBJECTS(r, o, name, max, array, n, each)                                           \
  read_objects (r, o, name, max, sizeof *(array), each, (gpointer *) &(array), &(n))

static gboolean
read_resource_member (Reader *r, JsonObject *o, const char *name, EmberPortalResource *res)
{
  gsize mark = reader_push_member (r, name);
  JsonNode *node = json_object_get_member (o, name);
  if (node == NULL)
    return reader_fail (r, "missing");
  if (!read_resource (r, node, res))
    return FALSE;
  reader_pop (r, mark);
  return TRUE;
}

static gboolean
read_dns_names (Reader *r, JsonObject *o, EmberPortalDnsName **names, guint *n)
{
  if (!json_object_has_member (o, "dns_names"))
    return TRUE;
  return READ_OBJECTS (r, o, "dns_names", EMBER_PORTAL_MAX_DNS_NAMES, *names, *n, each_dns_name);
}

/* The payload object of `msg->event` (the reader's path is "payload"). */
static gboolean
read_payload (Reader *r, JsonNode *payload, EmberPortalChannel channel, EmberPortalMessage *msg)
{
  JsonObject *o;
  gboolean gw = channel == EMBER_PORTAL_CHANNEL_GATEWAY;
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_PHX_JOIN:
    case EMBER_PORTAL_EVENT_HEARTBEAT:
      return reader_object (r, payload, empty_members, &o);

    case EMBER_PORTAL_EVENT_PHX_REPLY:
      {
        static const char *const allowed[] = { "status", "response", NULL };
        static const char *const statuses[] = { "ok", "error" };
        static const char *const error_members[] = { "reason", "message", NULL };
        /* Every reason but NONE, in enum order. */
        static const char *const reasons[] = {
          "invalid_frame", "invalid_payload", "unknown_event", "wrong_direction",
          "unknown_topic", "not_joined", "already_joined", "rate_limited", "internal",
        };
        EmberPortalReply *reply = &msg->u.reply;
        JsonObject *resp;
        guint status, reason;
        if (!reader_object (r, payload, allowed, &o)
            || !read_enum (r, o, "status", statuses, G_N_ELEMENTS (statuses), &status))
          return FALSE;
        reply->status = (EmberPortalReplyStatus) status;
        if (reply->status == EMBER_PORTAL_REPLY_OK)
          return read_member_object (r, o, "response", empty_members, &resp);
        if (!read_member_object (r, o, "response", error_members, &resp))
          return FALSE;
        reader_push_member (r, "response");
        if (!read_enum (r, resp, "reason", reasons, G_N_ELEMENTS (reasons), &reason)
            || !read_string (r, resp, "message", FALSE, EMBER_PORTAL_MESSAGE_MAX,
                             &reply->message))
          return FALSE;
        reply->reason = (EmberPortalReplyReason) (reason + 1);
        return TRUE;
      }

    case EMBER_PORTAL_EVENT_RELAYS_PRESENCE:
      {
        static const char *const allowed[] = { "disconnected_ids", "connected", NULL };
        EmberPortalRelaysPresence *p = &msg->u.relays_presence;
        return reader_object (r, payload, allowed, &o)
               && read_id_array (r, o, "disconnected_ids", 0, EMBER_PORTAL_MAX_RELAYS,
                                 &p->disconnected_ids, &p->n_disconnected_ids)
               && READ_OBJECTS (r, o, "connected", EMBER_PORTAL_MAX_RELAYS, p->connected,
                                p->n_connected, each_relay);
      }

    case EMBER_PORTAL_EVENT_DISCONNECT:
      {
        static const char *const allowed[] = { "reason", NULL };
        static const char *const reasons[] = { "token_revoked", "token_expired", "device_removed",
                                               "replaced", "shutdown", "protocol_error" };
        guint reason;
        if (!reader_object (r, payload, allowed, &o)
            || !read_enum (r, o, "reason", reasons, G_N_ELEMENTS (reasons), &reason))
          return FALSE;
        msg->u.disconnect.reason = (EmberPortalDisconnectReason) reason;
        return TRUE;
      }

    case EMBER_PORTAL_EVENT_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_ICE_CANDIDATES:
      {
        const char *peer = gw ? "client_id" : "gateway_id";
        const char *const allowed[] = { peer, "candidates", NULL };
        EmberPortalIceCandidates *c = &msg->u.ice_candidates;
        return reader_object (r, payload, allowed, &o) && read_id (r, o, peer, &c->peer_id)
               && read_candidates (r, o, "candidates", &c->candidates, &c->n_candidates);
      }

    case EMBER_PORTAL_EVENT_REJECT_ACCESS:
      {
        static const char *const client_members[] = { "resource_id", NULL };
        static const char *const gateway_members[] = { "client_id", "resource_id", NULL };
        EmberPortalRejectAccess *ra = &msg->u.reject_access;
        if (!reader_object (r, payload, gw ? gateway_members : client_members, &o)
            || (gw && !read_id (r, o, "client_id", &ra->client_id)))
          return FALSE;
        return read_id (r, o, "resource_id", &ra->resource_id);
      }

    case EMBER_PORTAL_EVENT_CLIENT_INIT:
      {
        static const char *const allowed[] = { "interface", "resources", "relays", "device",
                                               NULL };
        EmberPortalClientInit *in = &msg->u.client_init;
        return reader_object (r, payload, allowed, &o) && read_tunnel (r, o, "interface", &in->iface)
               && READ_OBJECTS (r, o, "resources", EMBER_PORTAL_MAX_RESOURCES, in->resources,
                                in->n_resources, each_resource)
               && READ_OBJECTS (r, o, "relays", EMBER_PORTAL_MAX_RELAYS, in->relays, in->n_relays,
                                each_relay)
               && read_device (r, o, &in->device);
      }

    case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
    case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
      return read_resource (r, payload, &msg->u.resource);

    case EMBER_PORTAL_EVENT_RESOURCE_DELETED:
      {
        static const char *const allowed[] = { "id", NULL };
        return reader_object (r, payload, allowed, &o)
               && read_id (r, o, "id", &msg->u.resource_deleted.id);
      }

    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATED:
      {
        static const char *const allowed[] = { "resource_id", "gateway", "preshared_key",
                                               "client_ice", "gateway_ice", "expires_at", NULL };
        EmberPortalAuthorizationCreated *ac = &msg->u.authorization_created;
        return reader_object (r, payload, allowed, &o)
               && read_id (r, o, "resource_id", &ac->resource_id)
               && read_peer (r, o, "gateway", &ac->gateway)
               && read_key (r, o, "preshared_key", &ac->preshared_key)
               && read_ice_credentials (r, o, "client_ice", &ac->client_ice)
               && read_ice_credentials (r, o, "gateway_ice", &ac->gateway_ice)
               && read_time (r, o, "expires_at", &ac->expires_at);
      }

    case EMBER_PORTAL_EVENT_AUTHORIZATION_CREATION_FAILED:
      {
        static const char *const allowed[] = { "resource_id", "reason", NULL };
        static const char *const reasons[] = { "not_found", "forbidden", "offline" };
        EmberPortalAuthorizationFailed *af = &msg->u.authorization_failed;
        guint reason;
        if (!reader_object (r, payload, allowed, &o)
            || !read_id (r, o, "resource_id", &af->resource_id)
            || !read_enum (r, o, "reason", reasons, G_N_ELEMENTS (reasons), &reason))
          return FALSE;
        af->reason = (EmberPortalAuthzFailure) reason;
        return TRUE;
      }

    case EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION:
      {
        static const char *const allowed[] = { "resource_id", "connected_gateway_ids",
                                               "dns_names", NULL };
        EmberPortalRequestAuthorization *ra = &msg->u.request_authorization;
        return reader_object (r, payload, allowed, &o)
               && read_id (r, o, "resource_id", &ra->resource_id)
               && read_id_array (r, o, "connected_gateway_ids", 0, EMBER_PORTAL_MAX_PEER_IDS,
                                 &ra->connected_gateway_ids, &ra->n_connected_gateway_ids)
               && read_dns_names (r, o, &ra->dns_names, &ra->n_dns_names);
      }

    case EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      {
        const char *peers = gw ? "client_ids" : "gateway_ids";
        const char *const allowed[] = { peers, "candidates", NULL };
        EmberPortalIceBroadcast *b = &msg->u.ice_broadcast;
        return reader_object (r, payload, allowed, &o)
               && read_id_array (r, o, peers, 1, EMBER_PORTAL_MAX_PEER_IDS, &b->peer_ids,
                                 &b->n_peer_ids)
               && read_candidates (r, o, "candidates", &b->candidates, &b->n_candidates);
      }

    case EMBER_PORTAL_EVENT_GATEWAY_INIT:
      {
        static const char *const allowed[] = { "interface", "relays", "authorizations", "device",
                                               NULL };
        EmberPortalGatewayInit *in = &msg->u.gateway_init;
        return reader_object (r, payload, allowed, &o) && read_tunnel (r, o, "interface", &in->iface)
               && READ_OBJECTS (r, o, "relays", EMBER_PORTAL_MAX_RELAYS, in->relays, in->n_relays,
                                each_relay)
               && READ_OBJECTS (r, o, "authorizations", EMBER_PORTAL_MAX_AUTHORIZATIONS,
                                in->authorizations, in->n_authorizations, each_authorization)
               && read_device (r, o, &in->device);
      }

    case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
      {
        static const char *const allowed[] = { "ref", "resource", "client", "preshared_key",
                                               "client_ice", "gateway_ice", "expires_at",
                                               "dns_names", NULL };
        EmberPortalAuthorizeFlow *af = &msg->u.authorize_flow;
        return reader_object (r, payload, allowed, &o)
               && read_string (r, o, "ref", TRUE, EMBER_PORTAL_FLOW_REF_MAX, &af->ref)
               && read_resource_member (r, o, "resource", &af->resource)
               && read_peer (r, o, "client", &af->client)
               && read_key (r, o, "preshared_key", &af->preshared_key)
               && read_ice_credentials (r, o, "client_ice", &af->client_ice)
               && read_ice_credentials (r, o, "gateway_ice", &af->gateway_ice)
               && read_time (r, o, "expires_at", &af->expires_at)
               && read_dns_names (r, o, &af->dns_names, &af->n_dns_names);
      }

    case EMBER_PORTAL_EVENT_FLOW_AUTHORIZED:
      {
        static const char *const allowed[] = { "ref", NULL };
        return reader_object (r, payload, allowed, &o)
               && read_string (r, o, "ref", TRUE, EMBER_PORTAL_FLOW_REF_MAX,
                               &msg->u.flow_authorized.ref);
      }

    case EMBER_PORTAL_EVENT_COUNT_:
      break;
    }
  return reader_fail (r, "no payload reader for this event");
}

/* ---- Frame → message ---------------------------------------------------- */

gboolean
ember_portal_message_from_frame (const EmberPortalFrame *frame, EmberPortalChannel channel,
                                 EmberPortalDirection direction, EmberPortalMessage *msg,
                                 GError **error)
{
  g_return_val_if_fail (frame != NULL && frame->topic != NULL && frame->event != NULL
                          && frame->payload != NULL, FALSE);
  g_return_val_if_fail (msg != NULL, FALSE);
  memset (msg, 0, sizeof *msg);
  msg->ref = g_strdup (frame->ref);
  const char *channel_name = ember_portal_channel_to_string (channel);

  gboolean phoenix = strcmp (frame->topic, "phoenix") == 0;
  if (!phoenix && strcmp (frame->topic, channel_name) != 0)
    {
      g_autofree char *esc = g_strescape (frame->topic, NULL);
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_UNKNOWN_TOPIC,
                   "topic: \"%s\" is neither \"%s\" nor \"phoenix\"", esc, channel_name);
      return FALSE;
    }
  msg->topic = phoenix ? EMBER_PORTAL_TOPIC_PHOENIX
               : channel == EMBER_PORTAL_CHANNEL_GATEWAY ? EMBER_PORTAL_TOPIC_GATEWAY
                                                         : EMBER_PORTAL_TOPIC_CLIENT;

  gboolean known = FALSE, found = FALSE;
  for (guint e = 0; e < EMBER_PORTAL_EVENT_COUNT_ && !found; e++)
    if (strcmp (frame->event, ember_portal_event_to_string ((EmberPortalEvent) e)) == 0)
      {
        known = TRUE;
        if (ember_portal_event_allowed ((EmberPortalEvent) e, channel, direction))
          {
            found = TRUE;
            msg->event = (EmberPortalEvent) e;
          }
      }
  if (!found)
    {
      g_autofree char *esc = g_strescape (frame->event, NULL);
      if (!known)
        g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_UNKNOWN_EVENT,
                     "event: \"%s\" is not an event of the portal protocol", esc);
      else
        g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_WRONG_DIRECTION,
                     "event: \"%s\" is not sent %s the portal on the %s channel", esc,
                     direction == EMBER_PORTAL_TO_PORTAL ? "to" : "by", channel_name);
      /* Nothing of a payload was read: the message clears as a join. */
      msg->event = EMBER_PORTAL_EVENT_PHX_JOIN;
      return FALSE;
    }

  /* Heartbeats live on "phoenix"; replies on the topic of what they
   * answer; everything else on the channel's topic. */
  if ((msg->event == EMBER_PORTAL_EVENT_HEARTBEAT) != phoenix
      && msg->event != EMBER_PORTAL_EVENT_PHX_REPLY)
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_FRAME,
                   "topic: \"%s\" goes on topic \"%s\"", frame->event,
                   msg->event == EMBER_PORTAL_EVENT_HEARTBEAT ? "phoenix" : channel_name);
      return FALSE;
    }
  if ((msg->event == EMBER_PORTAL_EVENT_PHX_JOIN || msg->event == EMBER_PORTAL_EVENT_HEARTBEAT
       || msg->event == EMBER_PORTAL_EVENT_PHX_REPLY)
      && msg->ref == NULL)
    {
      g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_FRAME,
                   "ref: \"%s\" needs a ref", frame->event);
      return FALSE;
    }

  Reader r;
  reader_init (&r, "payload", error);
  gboolean ok = read_payload (&r, frame->payload, channel, msg);
  reader_finish (&r);
  return ok;
}

gboolean
ember_portal_message_parse (const char *text, gsize len, EmberPortalChannel channel,
                            EmberPortalDirection direction, EmberPortalMessage *msg,
                            GError **error)
{
  g_return_val_if_fail (msg != NULL, FALSE);
  g_auto (EmberPortalFrame) frame = { 0 };
  if (!ember_portal_frame_parse (text, len, &frame, error))
    {
      memset (msg, 0, sizeof *msg);
      msg->ref = g_steal_pointer (&frame.ref);
      return FALSE;
    }
  return ember_portal_message_from_frame (&frame, channel, direction, msg, error);
}
