/* libFuzzer target: the stub resolver (core/dns/stub.h) driven by a
 * script of operations read from the input: queries over UDP and TCP,
 * upstream answers (raw, or built on the last forwarded query so the
 * matching path is reached), transport errors, time jumps and saved
 * maps. After every step all output is drained and checked. */
#include "dns/stub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-script.h"

static const EmberDnsStubResource resources[] = {
  { { "00000000-0000-4000-8000-000000000001" }, "app.corp.example", EMBER_DNS_STACK_DUAL },
  { { "00000000-0000-4000-8000-000000000002" }, "*.corp.example", EMBER_DNS_STACK_IPV4_ONLY },
  { { "00000000-0000-4000-8000-000000000003" }, "**.internal", EMBER_DNS_STACK_IPV6_ONLY },
  { { "00000000-0000-4000-8000-000000000004" }, "h?st.corp.example", EMBER_DNS_STACK_DUAL },
};

static guint8 last_query[EMBER_DNS_TCP_MAX];
static gsize last_len;
static guint64 last_token;
static guint last_upstream;

static void
drain (EmberDnsStub *stub)
{
  static guint8 buf[EMBER_DNS_TCP_MAX + 64];
  EmberDnsStubEvent ev;
  EmberDnsAsker to;
  EmberDnsTransmit tx;
  gsize len;

  while (ember_dns_stub_poll_event (stub, &ev))
    check (ev.addr.family != EMBER_ADDR_NONE || ev.addr6.family != EMBER_ADDR_NONE);
  while ((len = ember_dns_stub_poll_packet (stub, buf, sizeof buf, 0)) > 0)
    check (len <= EMBER_PACKET_BUF_SIZE);
  while ((len = ember_dns_stub_poll_answer (stub, buf, sizeof buf, &to)) > 0)
    {
      /* every answer is a response header at least */
      check (len >= EMBER_DNS_HEADER_LEN && (buf[2] & 0x80) != 0);
      if (to.transport == EMBER_DNS_TRANSPORT_UDP)
        check (len <= EMBER_DNS_EDNS_SIZE);
    }
  while (ember_dns_stub_poll_transmit (stub, buf, sizeof buf, &tx))
    {
      EmberDnsMessage q;
      check (ember_dns_message_parse (&q, buf, tx.len) == EMBER_DNS_OK);
      memcpy (last_query, buf, tx.len);
      last_len = tx.len;
      last_token = tx.token;
      last_upstream = tx.upstream;
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  EmberIceRng r = { rng, NULL };
  g_autoptr (EmberDnsStub) stub = NULL;
  EmberAddr up[2] = { { .family = EMBER_ADDR_IPV4, .port = 53, .addr = { 192, 0, 2, 53 } },
                      { .family = EMBER_ADDR_IPV6, .port = 53, .addr = { 0x20, 0x01, 0xd, 0xb8,
                                                                         [15] = 0x53 } } };
  gint64 now = 1000000;
  gsize pos = 0;

  rng_state = 1;
  last_len = 0;
  stub = ember_dns_stub_new (&r);
  ember_dns_stub_set_upstreams (stub, up, 2);
  check (ember_dns_stub_set_resources (stub, resources, G_N_ELEMENTS (resources), NULL));

  /* steps: op (high nibble: what; low nibble: length bits 8..11), arg,
   * length bits 0..7, then that many bytes */
  while (pos + 3 <= size)
    {
      guint8 op = data[pos], arg = data[pos + 1];
      gsize len = MIN ((gsize) (op & 0x0f) << 8 | data[pos + 2], size - pos - 3);
      const guint8 *chunk = data + pos + 3;
      EmberDnsAsker asker = { 0 };

      pos += 3 + len;
      asker.client.family = EMBER_ADDR_IPV4;
      asker.client.port = (guint16) (40000 + (arg & 3));
      ember_dns_stub_sentinel (arg >> 6 & 1, arg & 0x20 ? EMBER_ADDR_IPV6 : EMBER_ADDR_IPV4,
                               &asker.sentinel);
      switch (op >> 4)
        {
        case 0:
        case 1:
          asker.transport = (op >> 4) ? EMBER_DNS_TRANSPORT_TCP : EMBER_DNS_TRANSPORT_UDP;
          ember_dns_stub_handle_query (stub, now, &asker, chunk, len);
          break;
        case 2:
          ember_dns_stub_handle_upstream (stub, now, arg & 3, arg & 4 ? EMBER_DNS_TRANSPORT_TCP
                                                                      : EMBER_DNS_TRANSPORT_UDP,
                                          chunk, len);
          break;
        case 3:
          /* an answer to the last forwarded query: its header and
           * question, then the fuzzer's bytes */
          if (last_len >= EMBER_DNS_HEADER_LEN)
            {
              static guint8 ans[2 * EMBER_DNS_TCP_MAX];
              EmberDnsMessage q;
              gsize n;

              if (ember_dns_message_parse (&q, last_query, last_len) != EMBER_DNS_OK)
                break;
              n = q.question_end;
              memcpy (ans, last_query, n);
              memcpy (ans + n, chunk, len);
              ans[2] |= 0x80;
              if (arg & 8)
                ans[2] |= 0x02;  /* TC */
              if (len >= 6)
                memcpy (ans + 6, chunk, 6);  /* counts */
              else
                memset (ans + 6, 0, 6);
              ember_dns_stub_handle_upstream (stub, now, last_upstream,
                                              arg & 4 ? EMBER_DNS_TRANSPORT_TCP
                                                      : EMBER_DNS_TRANSPORT_UDP,
                                              ans, n + len);
            }
          break;
        case 4:
          ember_dns_stub_handle_upstream_error (stub, now, last_token + (arg & 1));
          break;
        case 5:
          now += (gint64) arg * 100000;
          ember_dns_stub_handle_timeout (stub, now);
          check (ember_dns_stub_poll_timeout (stub) > now);
          break;
        case 6:
          {
            g_autoptr (GError) error = NULL;
            g_autofree char *text = g_strndup ((const char *) chunk, len);
            if (!ember_dns_stub_load (stub, text, strlen (text), &error))
              check (error != NULL);
          }
          break;
        case 7:
          ember_dns_stub_set_resources (stub, resources, arg % (G_N_ELEMENTS (resources) + 1),
                                        NULL);
          break;
        case 8:
          {
            gsize saved_len = 0;
            g_autofree char *saved = ember_dns_stub_save (stub, &saved_len);
            g_autoptr (EmberDnsStub) again = ember_dns_stub_new (&r);
            check (ember_dns_stub_load (again, saved, saved_len, NULL));
          }
          break;
        default:
          break;
        }
      drain (stub);
    }
  return 0;
}
