/* libFuzzer target: the DNS codec (core/dns/codec.h) on arbitrary
 * messages. Whatever parses must walk, read its names, answer, and
 * truncate to 512 bytes into something that parses again. */
#include "dns/codec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check (gboolean ok)
{
  if (!ok)
    abort ();
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  static guint8 copy[EMBER_DNS_TCP_MAX], out[EMBER_DNS_TCP_MAX];
  EmberDnsMessage msg, again;
  EmberDnsRecordIter iter;
  EmberDnsRecord rr;
  char text[EMBER_DNS_NAME_TEXT_MAX];
  EmberDnsAnswer answers[3] = {
    { .type = EMBER_DNS_TYPE_A, .ttl = 1, .addr = { 100, 96, 0, 1 } },
    { .type = EMBER_DNS_TYPE_AAAA, .ttl = 1, .addr = { 0xfd, 0, [15] = 1 } },
    { .type = EMBER_DNS_TYPE_PTR, .ttl = 1, .target = "app.corp.example" },
  };
  gsize len = 0;
  guint n = 0;

  if (size > sizeof copy)
    return 0;
  memcpy (copy, data, size);
  if (ember_dns_message_parse (&msg, copy, size) != EMBER_DNS_OK)
    return 0;

  check (ember_dns_message_qname (&msg, text, sizeof text) == EMBER_DNS_OK);
  check (ember_dns_message_same_question (&msg, &msg));
  ember_dns_record_iter_init (&iter, &msg);
  while (ember_dns_record_iter_next (&iter, &rr))
    {
      check (rr.end <= msg.len);
      check (ember_dns_name_read (msg.buf, msg.len, rr.name_off, NULL, text, sizeof text,
                                  NULL) == EMBER_DNS_OK);
      /* rdata names are not validated by parse: reading one is bounded */
      (void) ember_dns_name_read (msg.buf, msg.len, rr.rdata_off, NULL, text, sizeof text, NULL);
      n++;
    }
  check (n == (guint) msg.ancount + msg.nscount + msg.arcount);

  if (ember_dns_build_response (&msg, EMBER_DNS_RCODE_NOERROR, 0, answers, 3,
                                ember_dns_message_udp_limit (&msg), out, sizeof out, &len) ==
      EMBER_DNS_OK)
    {
      check (len <= ember_dns_message_udp_limit (&msg));
      check (ember_dns_message_parse (&again, out, len) == EMBER_DNS_OK);
      check (again.id == msg.id && ember_dns_message_same_question (&msg, &again));
    }

  if (ember_dns_truncate (&msg, copy, EMBER_DNS_UDP_MIN, &len) == EMBER_DNS_OK)
    {
      check (len <= MAX (size, (gsize) EMBER_DNS_UDP_MIN));
      check (ember_dns_message_parse (&again, copy, len) == EMBER_DNS_OK);
      check (again.id == msg.id);
    }
  return 0;
}
