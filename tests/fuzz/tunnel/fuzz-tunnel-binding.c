/* libFuzzer target: the ICE socket's own Binding client
 * (core/tunnel/binding) with the fuzzer as the network. Each input is a
 * script of one-byte opcodes: answer the last request (a real answer
 * with input bytes XORed in, cut short, or from another address), hand
 * in raw input bytes as a datagram from a relay, advance time, change the
 * relay set, refresh. The client must never crash or read past what it
 * was given (ASan), and keep its promises: after handle_timeout(now) its
 * deadline lies after now, requests fit EMBER_BINDING_REQUEST_LEN, and a
 * reported mapping is of its relay's family, not port 0, and differs
 * from the `old` it names. */
#include "stun/message.h"
#include "tunnel/binding.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

typedef struct {
  const guint8 *p;
  gsize left;
} Script;

static guint8
next (Script *s)
{
  if (s->left == 0)
    return 0;
  s->left--;
  return *s->p++;
}

static guint64 rng_state;

static guint64
rng_next (gpointer user_data)
{
  (void) user_data;
  rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
  return rng_state;
}

static EmberAddr
relay (guint i)
{
  EmberAddr a = { .family = EMBER_ADDR_IPV4, .port = 3478 };
  a.addr[0] = 192, a.addr[2] = 2, a.addr[3] = (guint8) (20 + i);
  if (i == 3)
    {
      memset (&a, 0, sizeof a);
      a.family = EMBER_ADDR_IPV6;
      a.addr[0] = 0x20, a.addr[1] = 0x01, a.addr[2] = 0x0d, a.addr[3] = 0xb8, a.addr[15] = 1;
      a.port = 3478;
    }
  return a;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  Script s = { data, size };
  EmberTunnelBinding *b = ember_tunnel_binding_new (&(EmberIceRng){ rng_next, NULL });
  gint64 now = 1000 * G_TIME_SPAN_SECOND;
  EmberAddr servers[4] = { relay (0), relay (1), relay (2), relay (3) };
  guint8 last[EMBER_BINDING_REQUEST_LEN];
  gsize last_len = 0;
  EmberAddr last_to = { 0 };

  rng_state = 1;
  ember_tunnel_binding_set_servers (b, now, servers, 2);
  while (s.left > 0)
    {
      guint8 op = next (&s);
      guint8 buf[512];
      gsize n = 0;
      EmberAddr to;

      /* Drain: every request fits and goes to a relay of the set. */
      while ((n = ember_tunnel_binding_poll_transmit (b, buf, sizeof buf, &to)) > 0)
        {
          g_assert (n <= EMBER_BINDING_REQUEST_LEN);
          memcpy (last, buf, n);
          last_len = n;
          last_to = to;
        }
      switch (op % 6)
        {
        case 0: /* a real answer to the last request, damaged by input bytes */
        case 1: /* ... cut short, or from another address */
          {
            EmberStunMessage m;
            EmberStunBuilder sb;
            EmberAddr mapped = { .family = EMBER_ADDR_IPV4, .port = (guint16) (40000 + next (&s)) };
            EmberAddr from = last_to;
            if (last_len == 0 || ember_stun_message_parse (&m, last, last_len) != EMBER_STUN_OK)
              break;
            mapped.addr[0] = 198, mapped.addr[1] = 51, mapped.addr[2] = 100, mapped.addr[3] = next (&s);
            if (last_to.family == EMBER_ADDR_IPV6)
              mapped.family = EMBER_ADDR_IPV6;
            ember_stun_builder_init (&sb, buf, sizeof buf, EMBER_STUN_METHOD_BINDING,
                                     EMBER_STUN_CLASS_SUCCESS, m.transaction_id);
            ember_stun_builder_add_xor_address (&sb, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
            ember_stun_builder_add_fingerprint (&sb);
            n = ember_stun_builder_finish (&sb, NULL);
            if (op % 6 == 0)
              for (guint k = next (&s) % 4; k > 0 && n > 0; k--)
                buf[next (&s) % n] ^= next (&s);
            else
              {
                guint8 how = next (&s);
                if (how & 1)
                  n = n > 0 ? how % n : 0;
                if (how & 2)
                  from.port++;
              }
            guint8 *heap = g_memdup2 (buf, n);
            ember_tunnel_binding_handle_input (b, now, &from, heap, n);
            g_free (heap);
            break;
          }
        case 2: /* raw bytes from a relay */
          {
            gsize want = next (&s); /* not inside MIN: it would read twice */
            gsize len = MIN (want, s.left);
            guint8 *heap = g_memdup2 (s.p, len);
            EmberAddr from = servers[next (&s) % 4];
            ember_tunnel_binding_handle_input (b, now, &from, heap, len);
            g_free (heap);
            s.p += MIN (len, s.left);
            s.left -= MIN (len, s.left);
            break;
          }
        case 3: /* time passes */
          {
            gint64 t = ember_tunnel_binding_poll_timeout (b);
            guint8 step = next (&s);
            if (step < 128 && t != G_MAXINT64)
              now = MAX (now, t);
            else
              now += (gint64) step * 100 * G_TIME_SPAN_MILLISECOND;
            ember_tunnel_binding_handle_timeout (b, now);
            g_assert (ember_tunnel_binding_poll_timeout (b) > now);
            break;
          }
        case 4: /* the relay set changes */
          {
            guint8 mask = next (&s);
            EmberAddr set[4];
            guint k = 0;
            for (guint i = 0; i < 4; i++)
              if (mask & (1u << i))
                set[k++] = servers[i];
            ember_tunnel_binding_set_servers (b, now, set, k);
            break;
          }
        case 5:
          ember_tunnel_binding_refresh (b, now);
          break;
        }
      EmberTunnelBindingEvent ev;
      while (ember_tunnel_binding_poll_event (b, &ev))
        {
          g_assert (ev.addr.family == ev.server.family);
          g_assert (ev.addr.port != 0);
          g_assert (!ember_ice_addr_equal (&ev.addr, &ev.old));
        }
    }
  ember_tunnel_binding_free (b);
  return 0;
}
