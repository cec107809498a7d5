/* ember-portal/session.c — one WebSocket session with Phoenix-channel
 * semantics: phx_join answered by phx_reply and then init, heartbeats on
 * topic "phoenix", every frame parsed by core/portal's codec and handed
 * to the authorization flow; bad input answered with an error reply or a
 * close with a reason, logged once per session. */
#include "serve-private.h"

#include <string.h>

/* Frames a session may send per second, and in a burst (the init
 * exchange and an ICE gathering burst fit easily). */
#define SESSION_MSG_RATE 50.0
#define SESSION_MSG_BURST 200.0
/* docs/portal-protocol.md: more than 10 errors in 10 s close the session. */
#define SESSION_BAD_FRAMES_MAX 10
#define SESSION_BAD_WINDOW_US (10 * G_USEC_PER_SEC)

void
session_send_text (Session *s, char *ref_text)
{
  if (s->closed || s->conn == NULL)
    return;
  ember_portal_io_send (s->conn, ref_text);
  s->server->stats.messages_sent_total++;
}

/* Resources as a device before revision 2 reads them: without ip_stack
 * (dual, left out), which it would refuse. `copy` is `in` or a shallow
 * copy the caller frees with g_free (the members stay borrowed). */
static gpointer
resources_rev1 (gconstpointer in, guint n, gsize size, gsize offset)
{
  gboolean any = FALSE;
  for (guint i = 0; i < n && !any; i++)
    any = ((const EmberPortalResource *) ((const guint8 *) in + i * size + offset))->ip_stack
          != EMBER_PORTAL_IP_STACK_DUAL;
  if (!any)
    return NULL;
  guint8 *copy = g_memdup2 (in, n * size);
  for (guint i = 0; i < n; i++)
    ((EmberPortalResource *) (copy + i * size + offset))->ip_stack = EMBER_PORTAL_IP_STACK_DUAL;
  return copy;
}

gboolean
session_send (Session *s, const EmberPortalMessage *msg)
{
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  /* The one place every message to a device passes: members of a later
   * revision than the device's are left out here. */
  EmberPortalMessage rev1;
  g_autofree gpointer borrowed = NULL;
  if (s->revision < EMBER_PORTAL_REVISION_IP_STACK)
    {
      rev1 = *msg;
      switch (msg->event)
        {
        case EMBER_PORTAL_EVENT_CLIENT_INIT:
          borrowed = resources_rev1 (msg->u.client_init.resources, msg->u.client_init.n_resources,
                                     sizeof (EmberPortalResource), 0);
          if (borrowed != NULL)
            rev1.u.client_init.resources = borrowed;
          break;
        case EMBER_PORTAL_EVENT_GATEWAY_INIT:
          borrowed = resources_rev1 (msg->u.gateway_init.authorizations,
                                     msg->u.gateway_init.n_authorizations,
                                     sizeof (EmberPortalAuthorization),
                                     G_STRUCT_OFFSET (EmberPortalAuthorization, resource));
          if (borrowed != NULL)
            rev1.u.gateway_init.authorizations = borrowed;
          break;
        case EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED:
        case EMBER_PORTAL_EVENT_RESOURCE_UPDATED:
          rev1.u.resource.ip_stack = EMBER_PORTAL_IP_STACK_DUAL;
          break;
        case EMBER_PORTAL_EVENT_AUTHORIZE_FLOW:
          rev1.u.authorize_flow.resource.ip_stack = EMBER_PORTAL_IP_STACK_DUAL;
          break;
        default:
          break;
        }
      msg = &rev1;
    }
  g_autofree char *text = ember_portal_message_build (msg, s->channel, &len, &error);
  if (text == NULL)
    {
      g_warning ("%s %s: %s not sent: %s", ember_portal_channel_to_string (s->channel),
                 s->device_name ? s->device_name : "?", ember_portal_event_to_string (msg->event),
                 error->message);
      return FALSE;
    }
  char *ref = g_ref_string_new_len (text, (gssize) len);
  session_send_text (s, ref);
  g_ref_string_release (ref);
  return TRUE;
}

static void
reply (Session *s, const char *ref, gboolean phoenix, EmberPortalReplyStatus status,
       EmberPortalReplyReason reason, const char *message)
{
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_PHX_REPLY, s->channel, ref);
  if (phoenix)
    m.topic = EMBER_PORTAL_TOPIC_PHOENIX;
  m.u.reply.status = status;
  m.u.reply.reason = reason;
  m.u.reply.message = message != NULL ? g_utf8_make_valid (message, MIN (strlen (message), EMBER_PORTAL_MESSAGE_MAX - 4)) : NULL;
  session_send (s, &m);
}

void
session_reply_ok (Session *s, const char *ref)
{
  reply (s, ref, FALSE, EMBER_PORTAL_REPLY_OK, EMBER_PORTAL_REPLY_REASON_NONE, NULL);
}

void
session_reply_error (Session *s, const char *ref, EmberPortalReplyReason reason,
                     const char *message)
{
  reply (s, ref, FALSE, EMBER_PORTAL_REPLY_ERROR, reason, message);
}

void
session_close (Session *s, gushort code, const char *reason)
{
  if (!s->closed && s->conn != NULL)
    ember_portal_io_close (s->conn, code, reason);
}

void
session_disconnect (Session *s, EmberPortalDisconnectReason reason)
{
  const char *why = ember_portal_disconnect_reason_to_string (reason);
  if (s->joined)
    {
      g_auto (EmberPortalMessage) m;
      ember_portal_message_init (&m, EMBER_PORTAL_EVENT_DISCONNECT, s->channel, NULL);
      m.u.disconnect.reason = reason;
      session_send (s, &m);
    }
  g_info ("%s %s: disconnected: %s", ember_portal_channel_to_string (s->channel),
          s->device_name, why);
  session_close (s, EMBER_PORTAL_CLOSE_DISCONNECTED, why);
}

/* The expiry of the device's relay credentials: the one it was last
 * handed while more than the refresh margin is left (a reconnect or a
 * portal restart keeps its relay allocations), else a new one. */
static gint64
relay_expiry (Session *s, gint64 now)
{
  EmberPortalServer *srv = s->server;
  gint64 lifetime = srv->config->relay_credential_lifetime_us / G_USEC_PER_SEC;
  gint64 expires = 0;
  g_autoptr (GError) error = NULL;
  if (!ember_store_relay_expiry_get (srv->store, s->device_id, &expires, &error))
    {
      g_warning ("relay credentials of %s: %s", s->device_name, error->message);
      g_clear_error (&error);
    }
  /* The same margin as the refresh in serve.c: a quarter of the lifetime;
   * never beyond a lifetime from now (the configuration may have
   * shortened it). */
  if (expires - now >= lifetime / 4 && expires <= now + lifetime)
    return expires;
  expires = now + lifetime;
  if (!ember_store_relay_expiry_set (srv->store, s->device_id, expires, now, &error))
    g_warning ("relay credentials of %s: not stored: %s", s->device_name, error->message);
  return expires;
}

guint
session_relays (Session *s, EmberPortalRelay *out, gint64 now)
{
  EmberPortalServer *srv = s->server;
  gint64 expires = relay_expiry (s, now);
  guint n = 0;
  for (guint i = 0; i < ember_portal_relays_count (srv->relays) && n < EMBER_PORTAL_MAX_RELAYS; i++)
    {
      if (!ember_portal_relays_is_up (srv->relays, i))
        continue;
      const EmberPortalRelayConfig *rc = ember_portal_relays_get (srv->relays, i);
      EmberPortalRelay *r = &out[n];
      memset (r, 0, sizeof *r);
      r->id = srv->relay_ids[i];
      if (!convert_relay_addresses (rc, &r->ipv4, &r->ipv6))
        continue;
      ember_portal_relay_credentials (rc->secret, expires, s->device_id, &r->username,
                                      &r->password);
      r->expires_at = expires;
      n++;
    }
  s->relay_expires_at = expires;
  return n;
}

/* ---- join ---------------------------------------------------------------- */

/* Who the device is here: the id and the name its token was made for,
 * so that its user sees the name the administrator gave it. Not to a
 * device that predates the member: it would refuse the whole init. */
static void
init_device (Session *s, EmberPortalDevice *dev)
{
  g_autoptr (GError) error = NULL;
  if (s->revision < EMBER_PORTAL_REVISION_DEVICE)
    return;
  if (!ember_portal_id_parse (s->device_id, &dev->id, "device.id", &error))
    {
      g_warning ("%s %s: not telling the device its id: %s",
                 ember_portal_channel_to_string (s->channel), s->device_name, error->message);
      return;
    }
  dev->name = g_strdup (s->device_name);
}

static void
send_client_init (Session *s)
{
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_CLIENT_INIT, s->channel, NULL);
  EmberPortalClientInit *init = &m.u.client_init;
  init->iface = s->tunnel;
  init->n_resources = fanout_client_resources (s, &init->resources);
  init->relays = g_new0 (EmberPortalRelay, EMBER_PORTAL_MAX_RELAYS);
  init->n_relays = session_relays (s, init->relays, server_unix_now ());
  init_device (s, &init->device);
  session_send (s, &m);
}

static void
send_gateway_init (Session *s)
{
  g_auto (EmberPortalMessage) m;
  ember_portal_message_init (&m, EMBER_PORTAL_EVENT_GATEWAY_INIT, s->channel, NULL);
  EmberPortalGatewayInit *init = &m.u.gateway_init;
  init->iface = s->tunnel;
  init->relays = g_new0 (EmberPortalRelay, EMBER_PORTAL_MAX_RELAYS);
  init->n_relays = session_relays (s, init->relays, server_unix_now ());
  authorize_gateway_init (s, init);
  init_device (s, &init->device);
  session_send (s, &m);
}

static void
join (Session *s, const char *ref)
{
  if (s->joined)
    {
      session_reply_error (s, ref, EMBER_PORTAL_REPLY_REASON_ALREADY_JOINED, NULL);
      return;
    }
  s->joined = TRUE;
  s->last_heartbeat_us = g_get_monotonic_time ();
  server_register_joined (s->server, s);
  s->server->stats.joins_total++;
  session_reply_ok (s, ref);
  if (s->channel == EMBER_PORTAL_CHANNEL_CLIENT)
    send_client_init (s);
  else
    send_gateway_init (s);
  g_info ("%s %s (%s) joined from %s", ember_portal_channel_to_string (s->channel),
          s->device_name, s->external_id, s->remote_host);
}

/* ---- frames in ------------------------------------------------------------ */

static void
bad_frame (Session *s, const char *ref, EmberPortalReplyReason reason, const char *detail)
{
  EmberPortalServer *srv = s->server;
  srv->stats.bad_messages_total++;
  gint64 now = g_get_monotonic_time ();
  if (now - s->bad_window_us > SESSION_BAD_WINDOW_US)
    {
      s->bad_window_us = now;
      s->bad_frames_window = 0;
    }
  s->bad_frames++;
  s->bad_frames_window++;
  /* Once per session at warning level: a broken or hostile peer cannot
   * flood the log, and other sessions' first offences still show. */
  if (s->bad_frames == 1)
    g_warning ("%s %s from %s: %s: %s", ember_portal_channel_to_string (s->channel),
               s->device_name, s->remote_host, ember_portal_reply_reason_to_string (reason),
               detail);
  else
    g_debug ("%s %s: %s: %s", ember_portal_channel_to_string (s->channel), s->device_name,
             ember_portal_reply_reason_to_string (reason), detail);
  if (s->bad_frames_window > SESSION_BAD_FRAMES_MAX)
    {
      session_close (s, EMBER_PORTAL_CLOSE_POLICY, "protocol_error");
      return;
    }
  /* Only a request (a frame with a ref) gets an answer. */
  if (ref != NULL)
    session_reply_error (s, ref, reason, detail);
}

static gboolean
rate_ok (Session *s)
{
  gint64 now = g_get_monotonic_time ();
  s->msg_tokens = MIN (SESSION_MSG_BURST,
                       s->msg_tokens + (double) (now - s->msg_last_us) * SESSION_MSG_RATE / 1e6);
  s->msg_last_us = now;
  if (s->msg_tokens < 1)
    return FALSE;
  s->msg_tokens -= 1;
  return TRUE;
}

static void
dispatch (Session *s, EmberPortalMessage *msg)
{
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_HEARTBEAT:
      s->last_heartbeat_us = g_get_monotonic_time ();
      reply (s, msg->ref, TRUE, EMBER_PORTAL_REPLY_OK, EMBER_PORTAL_REPLY_REASON_NONE, NULL);
      return;
    case EMBER_PORTAL_EVENT_PHX_JOIN:
      join (s, msg->ref);
      return;
    default:
      break;
    }
  if (!s->joined)
    {
      bad_frame (s, msg->ref, EMBER_PORTAL_REPLY_REASON_NOT_JOINED,
                 ember_portal_event_to_string (msg->event));
      return;
    }
  switch (msg->event)
    {
    case EMBER_PORTAL_EVENT_REQUEST_AUTHORIZATION:
      authorize_request (s, msg);
      break;
    case EMBER_PORTAL_EVENT_NEW_GATEWAY_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_INVALIDATE_GATEWAY_ICE_CANDIDATES:
      authorize_ice_from_client (s, msg);
      break;
    case EMBER_PORTAL_EVENT_FLOW_AUTHORIZED:
      authorize_flow_authorized (s, msg);
      break;
    case EMBER_PORTAL_EVENT_BROADCAST_ICE_CANDIDATES:
    case EMBER_PORTAL_EVENT_BROADCAST_INVALIDATED_ICE_CANDIDATES:
      authorize_ice_from_gateway (s, msg);
      break;
    default:
      /* The codec refuses events of the other direction; anything else
       * that reaches here is a portal event this server does not take. */
      bad_frame (s, msg->ref, EMBER_PORTAL_REPLY_REASON_WRONG_DIRECTION,
                 ember_portal_event_to_string (msg->event));
      break;
    }
}

static void
on_frame (Session *s, EmberPortalIoEvent *ev)
{
  EmberPortalServer *srv = s->server;
  srv->stats.messages_received_total++;
  if (!rate_ok (s))
    {
      srv->stats.bad_messages_total++;
      g_warning ("%s %s from %s: more than %.0f frames/s: closed",
                 ember_portal_channel_to_string (s->channel), s->device_name, s->remote_host,
                 SESSION_MSG_RATE);
      session_close (s, EMBER_PORTAL_CLOSE_RATE_LIMITED, "rate_limited");
      return;
    }
  GError *error = ev->error;
  if (error == NULL)
    {
      dispatch (s, &ev->msg);
      return;
    }
  if (g_error_matches (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_TOO_LARGE)
      || g_error_matches (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_JSON))
    {
      gboolean big = error->code == EMBER_PORTAL_ERROR_TOO_LARGE;
      srv->stats.bad_messages_total++;
      g_warning ("%s %s from %s: %s", ember_portal_channel_to_string (s->channel),
                 s->device_name, s->remote_host, error->message);
      session_close (s, big ? EMBER_PORTAL_CLOSE_TOO_BIG : EMBER_PORTAL_CLOSE_INVALID_JSON,
                     big ? "frame_too_large" : "invalid_json");
      return;
    }
  EmberPortalReplyReason reason = error->domain == EMBER_PORTAL_ERROR
                                    ? ember_portal_error_to_reply_reason ((EmberPortalError) error->code)
                                    : EMBER_PORTAL_REPLY_REASON_INVALID_FRAME;
  bad_frame (s, ev->msg.ref, reason, error->message);
}

void
session_on_event (Session *s, EmberPortalIoEvent *ev)
{
  EmberPortalServer *srv = s->server;
  switch (ev->kind)
    {
    case EMBER_PORTAL_IO_MESSAGE:
      /* A session on its way out (replaced, revoked, timed out) is not
       * listened to any more. */
      if (!s->closed && !s->closing)
        on_frame (s, ev);
      break;
    case EMBER_PORTAL_IO_BINARY:
      srv->stats.bad_messages_total++;
      g_warning ("%s %s from %s: a binary message: closed",
                 ember_portal_channel_to_string (s->channel), s->device_name, s->remote_host);
      session_close (s, EMBER_PORTAL_CLOSE_POLICY, "protocol_error");
      break;
    case EMBER_PORTAL_IO_TOO_BIG:
      /* libsoup enforces max-incoming-payload-size itself and closes. */
      srv->stats.bad_messages_total++;
      g_warning ("%s %s from %s: a message over %u bytes: closed (1009)",
                 ember_portal_channel_to_string (s->channel), s->device_name, s->remote_host,
                 srv->config->max_frame_size);
      break;
    case EMBER_PORTAL_IO_CLOSED:
      s->closed = TRUE;
      g_debug ("%s %s: closed (%u %s)", ember_portal_channel_to_string (s->channel),
               s->device_name, ev->close_code, ev->close_reason ? ev->close_reason : "");
      server_forget (srv, s);
      session_free (s);
      break;
    }
}

void
session_free (Session *s)
{
  if (s->conn != NULL)
    ember_portal_io_conn_release (s->conn);
  g_free (s->device_id);
  g_free (s->device_name);
  g_free (s->token_id);
  g_free (s->site_id);
  g_free (s->remote_host);
  g_clear_object (&s->source);
  g_free (s->external_id);
  if (s->sent != NULL)
    g_array_unref (s->sent);
  g_free (s);
}

Session *
session_new (EmberPortalServer *srv, EmberPortalChannel channel)
{
  Session *s = g_new0 (Session, 1);
  s->server = srv;
  s->channel = channel;
  s->link.data = s;
  s->msg_tokens = SESSION_MSG_BURST;
  s->msg_last_us = g_get_monotonic_time ();
  s->last_heartbeat_us = s->msg_last_us;
  return s;
}
