/* turn-control — EmberRelayControl (ember-plugin-relay.h) of the TURN
 * transport: the relay set, allocations and peers as the core steers
 * them, and the event queue it drains after every poll_recv_many(). Each
 * call runs the clients it touches and ends in turn_after_control().
 * Core's thread only.
 */
#include <string.h>

#include "turn-transport-private.h"

/* ---- EmberRelayControl ----------------------------------------------------- */

static gboolean
relay_set_relays (EmberBackend *be, const EmberRelaySpec *relays, guint n_relays, GError **error)
{
  char a[64];
  if (n_relays > TURN_MAX_RELAYS)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "%u relays: at most %d", n_relays, TURN_MAX_RELAYS);
      return FALSE;
    }
  /* Check every entry before changing anything. */
  for (guint i = 0; i < n_relays; i++)
    {
      const EmberRelaySpec *s = &relays[i];
      const char *why = NULL;
      if (!turn_addr_valid (&s->server))
        why = "not an IPv4 or IPv6 address with a port";
      else if ((s->username == NULL) != (s->password == NULL))
        why = "username and password go together";
      else if (s->username == NULL && be->cred_user == NULL)
        why = "no credentials (and none in the configuration)";
      else if (s->username != NULL
               && (*s->username == '\0' || strlen (s->username) > EMBER_TURN_CREDENTIAL_MAX
                   || strlen (s->password) > EMBER_TURN_CREDENTIAL_MAX))
        why = "username or password empty or too long";
      for (guint k = 0; why == NULL && k < i; k++)
        if (turn_addr_eq (&relays[k].server, &s->server))
          why = "listed twice";
      if (why != NULL)
        {
          g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED, "relay %u (%s): %s",
                       i, turn_addr_format (&s->server, a, sizeof a), why);
          return FALSE;
        }
    }
  for (guint i = 0; i < n_relays; i++)
    if (!turn_ensure_socket (be, relays[i].server.family, error))
      return FALSE;

  gint64 now = g_get_monotonic_time ();
  GPtrArray *next = g_ptr_array_new ();
  for (guint i = 0; i < n_relays; i++)
    {
      const EmberRelaySpec *s = &relays[i];
      gboolean own = s->username != NULL;
      const char *user = own ? s->username : be->cred_user;
      const char *pass = own ? s->password : be->cred_pass;
      Relay *r = turn_relay_by_server (be, &s->server);
      if (r != NULL)
        {
          g_ptr_array_remove_fast (be->relays, r);
          /* Renewed credentials: kept for its next allocation (client.h). */
          ember_turn_client_update_credentials (r->client, now, user, pass);
          r->config_creds = !own;
        }
      else
        r = turn_relay_new (be, &s->server, user, pass, !own, now);
      g_ptr_array_add (next, r);
    }
  while (be->relays->len > 0)
    turn_relay_free (be, g_ptr_array_steal_index (be->relays, be->relays->len - 1), now);
  g_ptr_array_unref (be->relays);
  be->relays = next;
  for (guint i = 0; i < be->relays->len; i++)
    turn_relay_drain (be, g_ptr_array_index (be->relays, i), now);
  turn_after_control (be);
  return TRUE;
}

static gboolean
relay_allocate (EmberBackend *be, const EmberAddr *relay, GError **error)
{
  char a[64];
  Relay *r = turn_relay_by_server (be, relay);
  if (r == NULL)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "relay %s is not in the relay set", turn_addr_format (relay, a, sizeof a));
      return FALSE;
    }
  gint64 now = g_get_monotonic_time ();
  if (ember_turn_client_is_allocated (r->client))
    {
      /* Already there: say so again, as the caller waits for it. */
      EmberRelayEvent ev = { .type = EMBER_RELAY_EVENT_ALLOCATED, .relay = r->server,
                             .addr = r->mapped };
      ev.n_relayed = ember_turn_client_get_relayed (r->client, ev.relayed);
      turn_push_event (be, &ev);
    }
  ember_turn_client_want_allocation (r->client, now);
  turn_relay_drain (be, r, now);
  turn_after_control (be);
  return TRUE;
}

static void
relay_release (EmberBackend *be, const EmberAddr *relay)
{
  Relay *r = turn_relay_by_server (be, relay);
  if (r == NULL)
    return;
  gint64 now = g_get_monotonic_time ();
  ember_turn_client_deallocate (r->client, now);
  turn_relay_drain (be, r, now);
  turn_after_control (be);
}

static gboolean
relay_add_peer (EmberBackend *be, const EmberAddr *relayed, const EmberAddr *peer, GError **error)
{
  char a[64], b[64];
  Relay *r = turn_relay_by_relayed (be, relayed);
  if (r == NULL)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "no allocation has the relayed address %s",
                   turn_addr_format (relayed, a, sizeof a));
      return FALSE;
    }
  if (!turn_addr_valid (peer) || peer->family != relayed->family)
    {
      g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                   "peer %s cannot be reached from the relayed address %s",
                   turn_addr_format (peer, b, sizeof b), turn_addr_format (relayed, a, sizeof a));
      return FALSE;
    }
  gint64 now = g_get_monotonic_time ();
  gboolean ok = ember_turn_client_add_peer (r->client, now, peer);
  turn_relay_drain (be, r, now);
  turn_after_control (be);
  if (!ok)
    g_set_error (error, EMBER_PLUGIN_ERROR, EMBER_PLUGIN_ERROR_FAILED,
                 "relay %s: no room for another peer (%d)",
                 turn_addr_format (&r->server, a, sizeof a), EMBER_TURN_MAX_PEERS);
  return ok;
}

static void
relay_remove_peer (EmberBackend *be, const EmberAddr *relayed, const EmberAddr *peer)
{
  Relay *r = turn_relay_by_relayed (be, relayed);
  if (r == NULL)
    return;
  ember_turn_client_remove_peer (r->client, peer);
  if (r->n_held > 0)
    turn_held_drop_where (be, r, peer);
}

static gboolean
relay_poll_event (EmberBackend *be, EmberRelayEvent *event)
{
  if (be->ev_len == 0)
    return FALSE;
  *event = be->events[be->ev_head];
  be->ev_head = (be->ev_head + 1) % TURN_EVENTS_MAX;
  be->ev_len--;
  return TRUE;
}

const void *
turn_get_control (const char *name)
{
  static const EmberRelayControl control = {
    .size = sizeof control,
    .set_relays = relay_set_relays,
    .allocate = relay_allocate,
    .release = relay_release,
    .add_peer = relay_add_peer,
    .remove_peer = relay_remove_peer,
    .poll_event = relay_poll_event,
  };
  if (name != NULL && strcmp (name, EMBER_RELAY_CONTROL_NAME) == 0)
    return &control;
  return NULL;
}
