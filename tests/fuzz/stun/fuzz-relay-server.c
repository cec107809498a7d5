/* libFuzzer target: the relay server core fed arbitrary client and peer
 * datagrams, time jumps, and requests the harness signs with valid
 * long-term credentials so the fuzzer reaches every TURN method. */
#include "server.h"
#include "stun/message.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static guint32 rng_state;

static void
rng (gpointer user_data, guint8 *buf, gsize len)
{
  (void) user_data;
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) ((rng_state = rng_state * 1103515245u + 12345u) >> 16);
}

static void
drain (EmberRelayServer *s, guint16 *last_port)
{
  EmberRelayCommand c;
  volatile guint8 sink = 0;
  while (ember_relay_server_poll_command (s, &c))
    {
      if (c.kind == EMBER_RELAY_CMD_CREATE_ALLOCATION)
        *last_port = c.port;
      for (gsize i = 0; i < c.len; i++) /* every byte must be initialised */
        sink ^= c.data[i];
    }
  (void) sink;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  rng_state = 1;
  EmberRelayServerConfig cfg;
  ember_relay_server_config_init (&cfg);
  cfg.realm = "r";
  cfg.rng = rng;
  cfg.secret = (const guint8 *) "s";
  cfg.secret_len = 1;
  cfg.public_ip4.family = EMBER_ADDR_IPV4;
  cfg.public_ip6.family = EMBER_ADDR_IPV6;
  cfg.port_min = 50000;
  cfg.port_max = 50003;
  cfg.rfc5766_channels = size > 0 && (data[0] & 0x80);
  EmberRelayServer *s = ember_relay_server_new (&cfg, NULL);
  ember_relay_server_add_user (s, "u", "p", NULL);
  ember_relay_server_allow_peer (s, "127.0.0.0/8", NULL);
  ember_relay_server_set_unix_time (s, 1000);
  guint8 key[16];
  ember_stun_long_term_key_md5 ((const guint8 *) "u", 1, (const guint8 *) "r", 1,
                                (const guint8 *) "p", 1, key);
  EmberAddr client = { .family = EMBER_ADDR_IPV4, .port = 1, .addr = { 192, 0, 2, 1 } };
  gint64 now = 1000000;
  guint16 port = 50000;
  char nonce[64] = "";
  guint32 tid = 0;

  /* Learn a nonce the way a client does. */
  {
    guint8 req[20];
    guint8 t[12] = { 0 };
    EmberStunBuilder b;
    ember_stun_builder_init (&b, req, sizeof req, EMBER_STUN_METHOD_ALLOCATE,
                             EMBER_STUN_CLASS_REQUEST, t);
    ember_relay_server_handle_client_input (s, now, 0, &client, req, 20);
    EmberRelayCommand c;
    while (ember_relay_server_poll_command (s, &c))
      {
        EmberStunMessage m;
        const guint8 *v;
        gsize len;
        if (c.kind == EMBER_RELAY_CMD_SEND_TO_CLIENT &&
            ember_stun_message_parse (&m, c.data, c.len) == EMBER_STUN_OK &&
            ember_stun_message_get_bytes (&m, EMBER_STUN_ATTR_NONCE, &v, &len) == EMBER_STUN_OK &&
            len < sizeof nonce)
          {
            memcpy (nonce, v, len);
            nonce[len] = '\0';
          }
      }
  }

  /* Records: op, len, bytes. */
  gsize off = 1;
  while (off + 2 <= size)
    {
      guint8 op = data[off];
      gsize len = MIN ((gsize) data[off + 1] * 4, size - off - 2);
      const guint8 *p = data + off + 2;
      off += 2 + len;
      EmberAddr peer = { .family = EMBER_ADDR_IPV4, .port = (guint16) (op | 0x100), .addr = { 127, 0, 0, 1 } };
      switch (op & 3)
        {
        case 0:
          ember_relay_server_handle_client_input (s, now, 0, &client, p, len);
          break;
        case 1:
          ember_relay_server_handle_peer_input (s, now, (op & 4) ? EMBER_ADDR_IPV6 : EMBER_ADDR_IPV4,
                                                port, &peer, p, len);
          break;
        case 2:
          now += (gint64) (op >> 2) * 10 * G_USEC_PER_SEC;
          ember_relay_server_handle_timeout (s, now);
          break;
        default:
          {
            /* A signed request: method from op, attributes as (type, len, value). */
            static const guint16 methods[] = { EMBER_STUN_METHOD_ALLOCATE, EMBER_STUN_METHOD_REFRESH,
                                               EMBER_STUN_METHOD_CREATE_PERMISSION,
                                               EMBER_STUN_METHOD_CHANNEL_BIND };
            guint8 buf[1024];
            guint8 t[12] = { 0 };
            tid++;
            memcpy (t, &tid, sizeof tid);
            EmberStunBuilder b;
            ember_stun_builder_init (&b, buf, sizeof buf, methods[(op >> 2) & 3],
                                     EMBER_STUN_CLASS_REQUEST, t);
            gsize q = 0;
            while (q + 3 <= len)
              {
                guint16 type = (guint16) (p[q] << 8 | p[q + 1]);
                gsize alen = MIN ((gsize) p[q + 2], len - q - 3);
                ember_stun_builder_add (&b, type, p + q + 3, alen);
                q += 3 + alen;
              }
            ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_USERNAME, "u");
            ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_REALM, "r");
            ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_NONCE, nonce);
            ember_stun_builder_add_integrity (&b, key, sizeof key);
            gsize n = ember_stun_builder_finish (&b, NULL);
            if (n > 0)
              ember_relay_server_handle_client_input (s, now, 0, &client, buf, n);
            break;
          }
        }
      drain (s, &port);
    }
  ember_relay_server_free (s);
  return 0;
}
