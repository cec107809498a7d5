/* relay/server/server.c — life cycle, input demultiplexing, the command
 * queue and timers of the relay server core. See server.h. */
#include "server-private.h"

#include <gio/gio.h>
#include <gnutls/crypto.h>

guint relay_bucket_hash (gconstpointer p);
gboolean relay_bucket_equal (gconstpointer a, gconstpointer b);

static guint
client_hash (gconstpointer p)
{
  const RelayClientKey *k = p;
  guint h = k->listener * 131u + k->addr.family * 31u + k->addr.port;
  for (gsize i = 0; i < relay_addr_len (&k->addr); i++)
    h = h * 31 + k->addr.addr[i];
  return h;
}

static gboolean
client_equal (gconstpointer a, gconstpointer b)
{
  const RelayClientKey *x = a, *y = b;
  return x->listener == y->listener && relay_addr_equal (&x->addr, &y->addr);
}

void
ember_relay_server_config_init (EmberRelayServerConfig *c)
{
  memset (c, 0, sizeof *c);
  c->realm = "ember";
  c->port_min = 49152;
  c->port_max = 65535;
  c->max_allocations_per_user = 10;
  c->max_allocations = 100000;
  c->max_permissions = 64;
  c->max_channels = 64;
  c->unauth_rate = 50;
  c->unauth_burst = 100;
  c->nonce_lifetime_us = (gint64) 3600 * G_USEC_PER_SEC;
}

EmberRelayServer *
ember_relay_server_new (const EmberRelayServerConfig *config, GError **error)
{
  if (config->rng == NULL || config->realm == NULL || config->realm[0] == '\0' ||
      strlen (config->realm) > EMBER_STUN_REALM_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "relay server: a realm (1..%d bytes) and an RNG are required",
                   EMBER_STUN_REALM_MAX);
      return NULL;
    }
  if (config->port_min == 0 || config->port_min > config->port_max)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "relay server: port range %u-%u is empty", config->port_min, config->port_max);
      return NULL;
    }
  if (config->public_ip4.family != EMBER_ADDR_IPV4 && config->public_ip6.family != EMBER_ADDR_IPV6)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "relay server: at least one public IPv4 or IPv6 address is required");
      return NULL;
    }
  EmberRelayServer *s = g_new0 (EmberRelayServer, 1);
  s->config = *config;
  s->realm = g_strdup (config->realm);
  s->software = g_strdup (config->software);
  s->config.realm = s->realm;
  s->config.software = s->software;
  if (config->secret != NULL && config->secret_len > 0)
    {
      s->secret = g_memdup2 (config->secret, config->secret_len);
      s->secret_len = config->secret_len;
    }
  s->config.secret = s->secret;
  if (s->config.unauth_rate == 0)
    s->config.unauth_rate = 1;
  if (s->config.unauth_burst == 0)
    s->config.unauth_burst = 1;
  s->config.rng (s->config.rng_data, s->nonce_key, sizeof s->nonce_key);
  s->users = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, relay_user_free);
  s->allow = g_array_new (FALSE, TRUE, sizeof (EmberCidr));
  s->by_client = g_hash_table_new (client_hash, client_equal);
  s->by_port = g_hash_table_new (g_direct_hash, g_direct_equal);
  s->per_user = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  s->buckets = g_hash_table_new_full (relay_bucket_hash, relay_bucket_equal, g_free, NULL);
  s->commands = g_array_sized_new (FALSE, FALSE, sizeof (RelayCommand), 256);
  s->arena = g_byte_array_sized_new (64 * 1024);
  s->next_deadline = G_MAXINT64;
  s->announced_wake = G_MAXINT64;
  return s;
}

void
ember_relay_server_free (EmberRelayServer *s)
{
  if (s == NULL)
    return;
  relay_allocation_free_all (s);
  g_hash_table_unref (s->by_client);
  g_hash_table_unref (s->by_port);
  g_hash_table_unref (s->per_user);
  g_hash_table_unref (s->buckets);
  g_hash_table_unref (s->users);
  g_array_unref (s->allow);
  g_array_unref (s->commands);
  g_byte_array_unref (s->arena);
  if (s->secret != NULL)
    {
      gnutls_memset (s->secret, 0, s->secret_len);
      g_free (s->secret);
    }
  gnutls_memset (s->nonce_key, 0, sizeof s->nonce_key);
  g_free (s->realm);
  g_free (s->software);
  g_free (s);
}

void
ember_relay_server_set_unix_time (EmberRelayServer *s, gint64 unix_seconds)
{
  s->unix_time = unix_seconds;
}

void
ember_relay_server_get_stats (const EmberRelayServer *s, EmberRelayServerStats *stats)
{
  *stats = s->stats;
}

/* ---- output --------------------------------------------------------- */

/* Called at the start of every input: once the caller drained every
 * command, the arena and queue are reused from the start. */
static void
begin_input (EmberRelayServer *s)
{
  if (s->command_head >= s->commands->len)
    {
      g_array_set_size (s->commands, 0);
      s->command_head = 0;
      g_byte_array_set_size (s->arena, 0);
    }
}

guint8 *
relay_out_begin (EmberRelayServer *s, gsize max)
{
  gsize at = s->arena->len;
  g_byte_array_set_size (s->arena, (guint) (at + max));
  s->arena->len = (guint) at; /* capacity kept; length set on commit */
  return s->arena->data + at;
}

static void
push (EmberRelayServer *s, const RelayCommand *c)
{
  g_array_append_vals (s->commands, c, 1);
}

void
relay_out_to_client (EmberRelayServer *s, guint listener, const EmberAddr *to, gsize len)
{
  RelayCommand c = { 0 };
  c.kind = EMBER_RELAY_CMD_SEND_TO_CLIENT;
  c.listener = listener;
  c.to = *to;
  c.offset = s->arena->len;
  c.len = len;
  s->arena->len += (guint) len;
  s->stats.packets_to_client++;
  push (s, &c);
}

void
relay_out_to_peer (EmberRelayServer *s, guint8 family, guint16 port, const EmberAddr *to,
                   const guint8 *external, gsize len)
{
  RelayCommand c = { 0 };
  c.kind = EMBER_RELAY_CMD_SEND_TO_PEER;
  c.family = family;
  c.port = port;
  c.to = *to;
  c.external = external;
  c.len = len;
  s->stats.packets_to_peer++;
  s->stats.bytes_to_peer += len;
  push (s, &c);
}

void
relay_out_control (EmberRelayServer *s, EmberRelayCommandKind kind, guint8 family, guint16 port)
{
  RelayCommand c = { 0 };
  c.kind = kind;
  c.family = family;
  c.port = port;
  push (s, &c);
}

static void
channel_command (EmberRelayServer *s, EmberRelayCommandKind kind, const RelayAllocation *a,
                 const RelayChannel *c, gint64 deadline)
{
  RelayCommand cmd = { 0 };
  cmd.kind = kind;
  cmd.listener = a->client.listener;
  cmd.client = a->client.addr;
  cmd.family = c->peer.family;
  cmd.port = c->peer.family == EMBER_ADDR_IPV4 ? a->port4 : a->port6;
  cmd.to = c->peer;
  cmd.channel = c->number;
  cmd.deadline = deadline;
  push (s, &cmd);
}

void
relay_channels_announce (EmberRelayServer *s, RelayAllocation *a, gint64 now,
                         const EmberAddr *peer)
{
  if (a->channels == NULL)
    return;
  for (guint i = 0; i < a->channels->len; i++)
    {
      RelayChannel *c = &g_array_index (a->channels, RelayChannel, i);
      if (peer != NULL && !relay_addr_ip_equal (&c->peer, peer))
        continue;
      /* The same conditions as the data path (turn.c): a live binding,
       * a permission for the peer's IP, a live allocation. */
      gint64 perm = relay_permission_expiry (a, now, &c->peer);
      if (c->lapsed || c->expires <= now || perm == 0 || a->expires <= now)
        {
          relay_channel_unannounce (s, a, c);
          continue;
        }
      channel_command (s, EMBER_RELAY_CMD_CHANNEL_BOUND, a, c,
                       MIN (MIN (c->expires, perm), a->expires));
      c->announced = TRUE;
    }
}

void
relay_channel_unannounce (EmberRelayServer *s, RelayAllocation *a, RelayChannel *c)
{
  if (!c->announced)
    return;
  channel_command (s, EMBER_RELAY_CMD_CHANNEL_UNBOUND, a, c, 0);
  c->announced = FALSE;
}

void
relay_note_deadline (EmberRelayServer *s, gint64 deadline)
{
  s->next_deadline = MIN (s->next_deadline, deadline);
}

/* After each input: tell the shell when to wake if that moved earlier. */
static void
end_input (EmberRelayServer *s)
{
  if (s->next_deadline < s->announced_wake)
    {
      RelayCommand c = { 0 };
      c.kind = EMBER_RELAY_CMD_WAKE;
      c.deadline = s->next_deadline;
      s->announced_wake = s->next_deadline;
      push (s, &c);
    }
}

gboolean
ember_relay_server_poll_command (EmberRelayServer *s, EmberRelayCommand *out)
{
  if (s->command_head >= s->commands->len)
    return FALSE;
  const RelayCommand *c = &g_array_index (s->commands, RelayCommand, s->command_head++);
  out->kind = c->kind;
  out->listener = c->listener;
  out->family = c->family;
  out->port = c->port;
  out->to = c->to;
  out->data = c->external != NULL ? c->external : s->arena->data + c->offset;
  out->len = c->len;
  out->deadline = c->deadline;
  out->client = c->client;
  out->channel = c->channel;
  return TRUE;
}

gint64
ember_relay_server_poll_timeout (const EmberRelayServer *s)
{
  return s->next_deadline;
}

/* ---- input ---------------------------------------------------------- */

void
ember_relay_server_handle_client_input (EmberRelayServer *s, gint64 now, guint listener,
                                        const EmberAddr *from, const guint8 *buf, gsize len)
{
  begin_input (s);
  EmberStunKind kind = ember_stun_classify (buf, len);
  if (kind == EMBER_STUN_KIND_OTHER && s->config.rfc5766_channels && len > 0 && buf[0] >= 0x50 &&
      buf[0] <= 0x7F)
    kind = EMBER_STUN_KIND_CHANNEL_DATA;
  switch (kind)
    {
    case EMBER_STUN_KIND_CHANNEL_DATA:
      {
        RelayAllocation *a = relay_allocation_find (s, listener, from);
        if (a == NULL)
          s->stats.drops++;
        else
          relay_handle_channel_data (s, now, a, buf, len);
        break;
      }
    case EMBER_STUN_KIND_STUN:
      {
        EmberStunMessage msg;
        /* Malformed messages get no answer at all (RFC 8489 §6.3). */
        if (ember_stun_message_parse (&msg, buf, len) != EMBER_STUN_OK)
          {
            s->stats.drops++;
            break;
          }
        if (msg.klass == EMBER_STUN_CLASS_REQUEST)
          relay_handle_request (s, now, listener, from, &msg);
        else if (msg.klass == EMBER_STUN_CLASS_INDICATION && msg.method == EMBER_STUN_METHOD_SEND)
          {
            RelayAllocation *a = relay_allocation_find (s, listener, from);
            if (a == NULL)
              s->stats.drops++;
            else
              relay_handle_send_indication (s, now, a, &msg);
          }
        else
          s->stats.drops++;
        break;
      }
    case EMBER_STUN_KIND_OTHER:
    default:
      s->stats.drops++;
      break;
    }
  end_input (s);
}

void
ember_relay_server_handle_peer_input (EmberRelayServer *s, gint64 now, guint8 family,
                                      guint16 port, const EmberAddr *from, const guint8 *buf,
                                      gsize len)
{
  begin_input (s);
  RelayAllocation *a = relay_allocation_by_port (s, family, port);
  /* RFC 8656 §11.3: only peers with a permission reach the client. */
  if (a == NULL || a->expires <= now || len > 65535 || !relay_permission_active (a, now, from))
    {
      s->stats.drops++;
      end_input (s);
      return;
    }
  RelayChannel *c = relay_channel_by_peer (a, from);
  if (c != NULL && !c->lapsed && c->expires > now)
    {
      /* RFC 8656 §12.6: ChannelData when a channel is bound. */
      guint8 *out = relay_out_begin (s, len + 8);
      gsize n = ember_stun_channel_data_build (out, len + 8, c->number, buf, len);
      relay_out_to_client (s, a->client.listener, &a->client.addr, n);
      s->stats.bytes_to_client += len;
    }
  else
    {
      /* RFC 8656 §11.3: else a Data indication with a fresh id. */
      guint8 tid[EMBER_STUN_TRANSACTION_ID_LEN];
      s->config.rng (s->config.rng_data, tid, sizeof tid);
      gsize cap = EMBER_STUN_HEADER_LEN + 24 + 4 + len + 4;
      guint8 *out = relay_out_begin (s, cap);
      EmberStunBuilder b;
      ember_stun_builder_init (&b, out, cap, EMBER_STUN_METHOD_DATA, EMBER_STUN_CLASS_INDICATION,
                               tid);
      ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_PEER_ADDRESS, from);
      ember_stun_builder_add (&b, EMBER_STUN_ATTR_DATA, buf, len);
      gsize n = ember_stun_builder_finish (&b, NULL);
      if (n > 0)
        {
          relay_out_to_client (s, a->client.listener, &a->client.addr, n);
          s->stats.bytes_to_client += len;
        }
      else
        s->stats.drops++;
    }
  end_input (s);
}

void
ember_relay_server_handle_timeout (EmberRelayServer *s, gint64 now)
{
  begin_input (s);
  relay_allocations_expire (s, now);
  relay_rate_expire (s, now);
  if (g_hash_table_size (s->buckets) > 0)
    {
      /* Revisit buckets once a drained one could have refilled. */
      gint64 refill_us = (gint64) s->config.unauth_burst * G_USEC_PER_SEC / s->config.unauth_rate;
      relay_note_deadline (s, now + refill_us + G_USEC_PER_SEC);
    }
  /* Re-announce whatever the next deadline is now. */
  s->announced_wake = G_MAXINT64;
  end_input (s);
}
