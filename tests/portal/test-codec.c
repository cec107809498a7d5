/* Unit tests of the portal protocol codec (core/portal): every event
 * through build → parse, the JSON examples of docs/portal-protocol.md,
 * and malformed frames, each refused with the code and JSON path the
 * server and the tunnels rely on. */
#include "samples.h"

/* ---- helpers ------------------------------------------------------------ */

static EmberPortalDirection
receiver_direction (EmberPortalEvent event, EmberPortalChannel channel)
{
  return ember_portal_event_allowed (event, channel, EMBER_PORTAL_TO_PORTAL)
           ? EMBER_PORTAL_TO_PORTAL : EMBER_PORTAL_FROM_PORTAL;
}

/* Parses `json`, expecting failure with `code` and `needle` in the
 * message. */
static void
assert_refused (EmberPortalChannel channel, EmberPortalDirection direction, const char *json,
                EmberPortalError code, const char *needle)
{
  g_auto (EmberPortalMessage) msg = { 0 };
  g_autoptr (GError) error = NULL;
  gboolean ok = ember_portal_message_parse (json, strlen (json), channel, direction, &msg, &error);
  if (ok)
    g_error ("accepted: %s", json);
  g_assert_error (error, EMBER_PORTAL_ERROR, (gint) code);
  if (strstr (error->message, needle) == NULL)
    g_error ("error \"%s\" does not contain \"%s\" (input %s)", error->message, needle, json);
}

/* A client-bound frame with `payload` (a JSON object text). */
static char *
frame (const char *topic, const char *event, const char *payload, const char *ref)
{
  return g_strdup_printf ("{\"topic\":\"%s\",\"event\":\"%s\",\"payload\":%s,\"ref\":%s}", topic,
                          event, payload, ref);
}

#define ID_A "4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a60"
#define ID_B "0c9d3e2f-7a6b-4d18-8e95-31b4c2d5e6f7"
#define KEY_A "Y2xpZW50LXB1YmxpYy1rZXktMDEyMzQ1Njc4OWFiY2Q="
#define SITE "{\"id\":\"d2c4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f\",\"name\":\"home\"}"

/* ---- round trips ---------------------------------------------------------- */

static void
roundtrip (EmberPortalEvent event, EmberPortalChannel channel)
{
  g_auto (EmberPortalMessage) msg = { 0 };
  sample_message (&msg, event, channel);
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  g_autofree char *text = ember_portal_message_build (&msg, channel, &len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (text);
  g_assert_cmpuint (len, ==, strlen (text));

  g_auto (EmberPortalMessage) back = { 0 };
  EmberPortalDirection dir = receiver_direction (event, channel);
  if (!ember_portal_message_parse (text, len, channel, dir, &back, &error))
    g_error ("%s on %s: %s\n%s", ember_portal_event_to_string (event),
             ember_portal_channel_to_string (channel), error->message, text);
  g_assert_true (ember_portal_message_equal (&msg, &back));

  /* The other side's direction refuses it. */
  g_auto (EmberPortalMessage) wrong = { 0 };
  g_clear_error (&error);
  g_assert_false (ember_portal_message_parse (text, len, channel, !dir, &wrong, &error));
  g_assert_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_WRONG_DIRECTION);
  g_assert_cmpstr (wrong.ref, ==, "42");
}

static void
test_roundtrip_every_event (void)
{
  guint covered = 0;
  for (guint e = 0; e < EMBER_PORTAL_EVENT_COUNT_; e++)
    {
      gboolean any = FALSE;
      for (guint ch = 0; ch < 2; ch++)
        if (ember_portal_event_allowed (e, ch, EMBER_PORTAL_TO_PORTAL)
            || ember_portal_event_allowed (e, ch, EMBER_PORTAL_FROM_PORTAL))
          {
            roundtrip (e, ch);
            any = TRUE;
          }
      covered += any;
    }
  g_assert_cmpuint (covered, ==, EMBER_PORTAL_EVENT_COUNT_);
}

static void
test_roundtrip_changes_are_seen (void)
{
  /* equal() is not trivially true: a changed port range, key byte or
   * candidate makes the messages differ. */
  g_auto (EmberPortalMessage) a = { 0 };
  g_auto (EmberPortalMessage) b = { 0 };
  sample_message (&a, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, EMBER_PORTAL_CHANNEL_GATEWAY);
  sample_message (&b, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, EMBER_PORTAL_CHANNEL_GATEWAY);
  g_assert_true (ember_portal_message_equal (&a, &b));
  b.u.authorize_flow.resource.filters[0].ports[1].last = 8101;
  g_assert_false (ember_portal_message_equal (&a, &b));
  b.u.authorize_flow.resource.filters[0].ports[1].last = 8100;
  b.u.authorize_flow.preshared_key.bytes[31] ^= 1;
  g_assert_false (ember_portal_message_equal (&a, &b));
}

static void
test_build_heartbeat_reply_on_phoenix (void)
{
  g_auto (EmberPortalMessage) msg = { 0 };
  ember_portal_message_init (&msg, EMBER_PORTAL_EVENT_PHX_REPLY, EMBER_PORTAL_CHANNEL_CLIENT, "7");
  msg.topic = EMBER_PORTAL_TOPIC_PHOENIX;
  g_autofree char *text = ember_portal_message_build (&msg, EMBER_PORTAL_CHANNEL_CLIENT, NULL,
                                                      NULL);
  g_assert_cmpstr (text, ==, "{\"topic\":\"phoenix\",\"event\":\"phx_reply\",\"payload\":"
                             "{\"status\":\"ok\",\"response\":{}},\"ref\":\"7\"}");
}

static void
test_build_escapes_strings (void)
{
  /* Quotes and backslashes in a name are escaped (RFC 8259 §7), UTF-8
   * goes through as it is, and the name comes back unchanged. */
  g_auto (EmberPortalMessage) msg = { 0 };
  sample_message (&msg, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, EMBER_PORTAL_CHANNEL_CLIENT);
  g_free (msg.u.resource.name);
  msg.u.resource.name = g_strdup ("say \"hi\" \\ to/ü");
  gsize len;
  g_autofree char *text = ember_portal_message_build (&msg, EMBER_PORTAL_CHANNEL_CLIENT, &len, NULL);
  g_assert_nonnull (strstr (text, "\"name\":\"say \\\"hi\\\" \\\\ to/ü\""));
  g_auto (EmberPortalMessage) back = { 0 };
  g_assert_true (ember_portal_message_parse (text, len, EMBER_PORTAL_CHANNEL_CLIENT,
                                             EMBER_PORTAL_FROM_PORTAL, &back, NULL));
  g_assert_cmpstr (back.u.resource.name, ==, msg.u.resource.name);
}

/* ---- the document's examples ------------------------------------------------ */

/* Every ```json block of the protocol document that is a frame parses in
 * exactly one direction; the Resource and Relay examples parse inside a
 * frame. */
static void
test_doc_examples_parse (void)
{
  const char *root = g_getenv ("EMBER_SOURCE_ROOT");
  if (root == NULL)
    {
      g_test_skip ("EMBER_SOURCE_ROOT is not set");
      return;
    }
  g_autofree char *path = g_build_filename (root, "docs", "portal-protocol.md", NULL);
  g_autofree char *doc = NULL;
  g_assert_true (g_file_get_contents (path, &doc, NULL, NULL));
  guint frames = 0;
  const char *p = doc;
  while ((p = strstr (p, "```json\n")) != NULL)
    {
      p += strlen ("```json\n");
      const char *end = strstr (p, "```");
      g_assert_nonnull (end);
      g_autofree char *block = g_strndup (p, (gsize) (end - p));
      p = end + 3;
      g_auto (GStrv) parts = NULL;
      if (g_str_has_prefix (block, "{\"topic\""))
        parts = g_strsplit (block, "\n{\"topic\"", -1);
      else if (strstr (block, "\"type\": \"turn\"") != NULL)
        {
          parts = g_new0 (char *, 2);
          parts[0] = g_strdup_printf ("{\"topic\":\"client\",\"event\":\"relays_presence\","
                                      "\"ref\":null,\"payload\":{\"disconnected_ids\":[],"
                                      "\"connected\":[%s]}}", block);
        }
      else if (strstr (block, "\"filters\"") != NULL)
        {
          parts = g_new0 (char *, 2);
          parts[0] = frame ("client", "resource_created_or_updated", block, "null");
        }
      else
        continue; /* the policy file of `apply`, not a frame */
      for (guint i = 0; parts[i] != NULL; i++)
        {
          g_autofree char *text = i == 0 ? g_strdup (parts[i])
                                         : g_strconcat ("{\"topic\"", parts[i], NULL);
          /* Heartbeats (topic phoenix) belong to both channels. */
          gboolean parsed[2] = { FALSE, FALSE };
          for (guint ch = 0; ch < 2; ch++)
            for (guint dir = 0; dir < 2; dir++)
              {
                g_auto (EmberPortalMessage) msg = { 0 };
                parsed[dir] |= ember_portal_message_parse (text, strlen (text), ch, dir, &msg,
                                                           NULL);
              }
          if (parsed[0] == parsed[1])
            g_error ("doc example parses in %s direction:\n%s", parsed[0] ? "each" : "no",
                     text);
          frames++;
        }
    }
  g_assert_cmpuint (frames, >=, 16);
}

static const char authorize_flow_example[] =
  "{\"topic\":\"gateway\",\"event\":\"authorize_flow\",\"ref\":null,\"payload\":{"
  "\"ref\":\"AAEC.8d2e1b7f3a60\","
  "\"resource\":{\"id\":\"" ID_A "\",\"name\":\"web\",\"type\":\"cidr\","
  "\"address\":\"10.20.0.0/24\",\"site\":" SITE ","
  "\"filters\":[{\"protocol\":\"tcp\",\"ports\":\"80,8000-8100\"}]},"
  "\"client\":{\"id\":\"6F2C1A8E-0B3D-4C55-9A41-2D7E8F901A11\",\"public_key\":\"" KEY_A "\","
  "\"ipv4\":\"100.64.0.2\",\"ipv6\":\"fd00:2021:1111::2\"},"
  "\"preshared_key\":\"cHJlc2hhcmVkLWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2g=\","
  "\"client_ice\":{\"ufrag\":\"c1ufrag8\",\"pwd\":\"clientpasswordclientpass\"},"
  "\"gateway_ice\":{\"ufrag\":\"g1ufrag8\",\"pwd\":\"gatewaypasswordgatewayp1\"},"
  "\"expires_at\":1765011600}}";

static void
test_doc_authorize_flow_values (void)
{
  g_auto (EmberPortalMessage) msg = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_portal_message_parse (authorize_flow_example,
                                             strlen (authorize_flow_example),
                                             EMBER_PORTAL_CHANNEL_GATEWAY,
                                             EMBER_PORTAL_FROM_PORTAL, &msg, &error));
  g_assert_no_error (error);
  const EmberPortalAuthorizeFlow *af = &msg.u.authorize_flow;
  g_assert_cmpint (msg.event, ==, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW);
  g_assert_null (msg.ref);
  g_assert_cmpstr (af->ref, ==, "AAEC.8d2e1b7f3a60");
  g_assert_cmpint (af->resource.type, ==, EMBER_PORTAL_RESOURCE_CIDR);
  g_assert_cmpuint (af->resource.cidr.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpuint (af->resource.cidr.prefix, ==, 24);
  g_assert_cmpmem (af->resource.cidr.addr, 4, "\x0a\x14\x00\x00", 4);
  g_assert_cmpstr (af->resource.site.name, ==, "home");
  g_assert_cmpuint (af->resource.n_filters, ==, 1);
  g_assert_cmpint (af->resource.filters[0].protocol, ==, EMBER_PORTAL_PROTOCOL_TCP);
  g_assert_cmpuint (af->resource.filters[0].n_ports, ==, 2);
  g_assert_cmpuint (af->resource.filters[0].ports[0].first, ==, 80);
  g_assert_cmpuint (af->resource.filters[0].ports[0].last, ==, 80);
  g_assert_cmpuint (af->resource.filters[0].ports[1].first, ==, 8000);
  g_assert_cmpuint (af->resource.filters[0].ports[1].last, ==, 8100);
  /* Ids are stored lower case whatever case they came in. */
  g_assert_cmpstr (af->client.id.str, ==, "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11");
  g_assert_cmpmem (af->client.public_key.bytes, 32, "client-public-key-0123456789abcd", 32);
  g_assert_cmpmem (af->preshared_key.bytes, 32, "preshared-key-0123456789abcdefgh", 32);
  g_assert_cmpuint (af->client.tunnel.ipv4.family, ==, EMBER_ADDR_IPV4);
  g_assert_cmpmem (af->client.tunnel.ipv4.addr, 4, "\x64\x40\x00\x02", 4);
  g_assert_cmpuint (af->client.tunnel.ipv6.family, ==, EMBER_ADDR_IPV6);
  g_assert_cmpstr (af->client_ice.ufrag, ==, "c1ufrag8");
  g_assert_cmpstr (af->gateway_ice.pwd, ==, "gatewaypasswordgatewayp1");
  g_assert_cmpint (af->expires_at, ==, 1765011600);
}

static void
test_doc_every_truncation_refused (void)
{
  /* Every proper prefix of a valid frame is refused, without a crash. */
  gsize n = strlen (authorize_flow_example);
  for (gsize len = 0; len < n; len++)
    {
      g_auto (EmberPortalMessage) msg = { 0 };
      g_assert_false (ember_portal_message_parse (authorize_flow_example, len,
                                                  EMBER_PORTAL_CHANNEL_GATEWAY,
                                                  EMBER_PORTAL_FROM_PORTAL, &msg, NULL));
    }
}

static void
test_candidates_parse_with_ice (void)
{
  g_autofree char *text = frame ("client", "ice_candidates",
    "{\"gateway_id\":\"" ID_B "\",\"candidates\":["
    "\"candidate:1 1 udp 2130706431 192.0.2.10 51820 typ host\","
    "\"candidate:2 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 192.0.2.10 rport 51820\"]}",
    "null");
  g_auto (EmberPortalMessage) msg = { 0 };
  g_assert_true (ember_portal_message_parse (text, strlen (text), EMBER_PORTAL_CHANNEL_CLIENT,
                                             EMBER_PORTAL_FROM_PORTAL, &msg, NULL));
  const EmberPortalIceCandidates *c = &msg.u.ice_candidates;
  g_assert_cmpuint (c->n_candidates, ==, 2);
  g_assert_cmpint (c->candidates[1].type, ==, EMBER_ICE_CANDIDATE_SRFLX);
  g_assert_cmpuint (c->candidates[1].addr.port, ==, 40000);
  g_assert_cmpuint (c->candidates[1].base.port, ==, 51820);
  g_assert_cmpuint (c->candidates[0].priority, ==, 2130706431u);
}

/* ---- values ----------------------------------------------------------------- */

static void
test_values_keys (void)
{
  EmberPortalKey key;
  char text[EMBER_PORTAL_KEY_B64_LEN + 1];
  g_assert_true (ember_portal_key_parse (KEY_A, &key, "k", NULL));
  ember_portal_key_to_base64 (&key, text);
  g_assert_cmpstr (text, ==, KEY_A);
  /* Agrees with GLib's encoder on every byte pattern of a sample. */
  EmberPortalKey s = sample_key (201);
  g_autofree char *glib = g_base64_encode (s.bytes, sizeof s.bytes);
  ember_portal_key_to_base64 (&s, text);
  g_assert_cmpstr (text, ==, glib);
}

static void
test_values_ports (void)
{
  EmberPortalFilter f = { 0 };
  g_assert_true (ember_portal_ports_parse ("443,1-65535,53-53", &f, "ports", NULL));
  g_assert_cmpuint (f.n_ports, ==, 3);
  g_autofree char *s = ember_portal_ports_to_string (&f);
  g_assert_cmpstr (s, ==, "443,1-65535,53");
  GString *many = g_string_new ("1");
  for (guint i = 2; i <= EMBER_PORTAL_MAX_PORT_RANGES; i++)
    g_string_append_printf (many, ",%u", i);
  g_assert_true (ember_portal_ports_parse (many->str, &f, "ports", NULL));
  g_string_append (many, ",99");
  g_autoptr (GError) error = NULL;
  g_assert_false (ember_portal_ports_parse (many->str, &f, "ports", &error));
  g_assert_nonnull (strstr (error->message, "more than 32"));
  g_string_free (many, TRUE);
}

static char *resource_frame (const char *type, const char *address, const char *filters);

static void
test_values_dns_patterns (void)
{
  /* core/dns's rules (dns/pattern.h); the codec hands on the normalized
   * form: lower case, no trailing dot. */
  static const struct {
    const char *in, *out;
  } good[] = {
    { "app.corp.example", "app.corp.example" }, { "*.corp.example", "*.corp.example" },
    { "**.corp", "**.corp" }, { "db?.Corp.Example.", "db?.corp.example" }, { "a", "a" },
    { "_sip._udp.example", "_sip._udp.example" },
  };
  const char *bad[] = { "*", "**", "a.*.b", "a..b", ".a", "***.a", "a b.c", "a/b.c",
                        "\u00e9.example" };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *address = g_strdup_printf ("\"%s\"", good[i].in);
      g_autofree char *text = resource_frame ("\"dns\"", address, NULL);
      g_auto (EmberPortalMessage) msg = { 0 };
      g_autoptr (GError) error = NULL;
      if (!ember_portal_message_parse (text, strlen (text), EMBER_PORTAL_CHANNEL_CLIENT,
                                       EMBER_PORTAL_FROM_PORTAL, &msg, &error))
        g_error ("%s: %s", good[i].in, error->message);
      g_assert_cmpstr (msg.u.resource.dns_pattern, ==, good[i].out);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *address = g_strdup_printf ("\"%s\"", bad[i]);
      g_autofree char *text = resource_frame ("\"dns\"", address, NULL);
      assert_refused (EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_FROM_PORTAL, text,
                      EMBER_PORTAL_ERROR_INVALID_PAYLOAD, "payload.address: expected a DNS name pattern");
    }
  /* Build sends patterns normalized only. */
  g_auto (EmberPortalMessage) msg = { 0 };
  sample_message (&msg, EMBER_PORTAL_EVENT_RESOURCE_CREATED_OR_UPDATED, EMBER_PORTAL_CHANNEL_CLIENT);
  g_free (msg.u.resource.dns_pattern);
  msg.u.resource.dns_pattern = g_strdup ("Wiki.corp.");
  g_autoptr (GError) error = NULL;
  g_assert_null (ember_portal_message_build (&msg, EMBER_PORTAL_CHANNEL_CLIENT, NULL, &error));
  g_assert_nonnull (strstr (error->message, "payload.address: patterns are sent normalized: \"wiki.corp\""));
}

/* ---- malformed frames ---------------------------------------------------------- */

static void
test_malformed_envelope (void)
{
  const EmberPortalChannel C = EMBER_PORTAL_CHANNEL_CLIENT;
  const EmberPortalDirection UP = EMBER_PORTAL_TO_PORTAL, DOWN = EMBER_PORTAL_FROM_PORTAL;
  assert_refused (C, UP, "", EMBER_PORTAL_ERROR_INVALID_JSON, "not UTF-8 JSON");
  assert_refused (C, UP, "hello", EMBER_PORTAL_ERROR_INVALID_JSON, "not JSON");
  assert_refused (C, UP, "{\"topic\":", EMBER_PORTAL_ERROR_INVALID_JSON, "not JSON");
  assert_refused (C, UP, "\xff\xfe{}", EMBER_PORTAL_ERROR_INVALID_JSON, "UTF-8");
  /* What json-glib alone would let through. */
  static const struct {
    const char *text, *needle;
  } lenient[] = {
    { "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"} {}",
      "text after the JSON value" },
    { "/* hi */{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"}",
      "byte 0: expected a value" },
    { "{'topic':'client','event':'phx_join','payload':{},'ref':'1'}", "byte 1: expected a string" },
    { "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{\"a\":01},\"ref\":\"1\"}",
      "leading zero" },
    { "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\",}",
      "expected a string" },
    { "{\"topic\":\"cli\tent\"}", "control character inside a string" },
    { "{\"topic\":\"\\x41\"}", "invalid escape" },
    { "{\"topic\":\"\\u00g1\"}", "invalid \\u escape" },
    { "{\"topic\":tru}", "expected a value" },
    { "{\"a\":1.}", "digits after '.'" },
    { "{\"a\":1e}", "digits in the exponent" },
    { "{\"a\" 1}", "expected ':'" },
    { "[1 2]", "expected ',' or ']'" },
    { "{\"a\":\"x", "unterminated string" },
    /* json-glib keeps the last of two: one reading for every parser. */
    { "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\",\"ref\":\"2\"}",
      "byte 65: member given twice" },
    { "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"r\\u0065f\":\"1\"}",
      "escape in a member name" },
    { "{\"a\":{\"x\":1},\"b\":{\"x\":1}}", NULL },
    { "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,"
      "\"j\":1,\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"q\":1}",
      "more than 16 members" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (lenient); i++)
    if (lenient[i].needle != NULL)
      assert_refused (C, UP, lenient[i].text, EMBER_PORTAL_ERROR_INVALID_JSON, lenient[i].needle);
    else /* valid JSON: only the frame's shape is wrong */
      assert_refused (C, UP, lenient[i].text, EMBER_PORTAL_ERROR_INVALID_FRAME, "ref: missing");
  assert_refused (C, UP, "[]", EMBER_PORTAL_ERROR_INVALID_FRAME, "expected a JSON object");
  assert_refused (C, UP, "42", EMBER_PORTAL_ERROR_INVALID_FRAME, "expected a JSON object");
  assert_refused (C, UP, "{\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "topic: missing");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{}}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "ref: missing");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":[],\"ref\":\"1\"}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "payload: expected an object");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":1}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "ref: expected a string or null");
  assert_refused (C, UP, "{\"topic\":7,\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "topic: expected a string");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\","
                  "\"join_ref\":\"1\"}", EMBER_PORTAL_ERROR_INVALID_FRAME,
                  "unknown member \"join_ref\"");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\""
                  "01234567890123456789012345678901234567890123456789012345678901234\"}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "ref: 65 bytes");
  assert_refused (C, UP, "{\"topic\":\"room:lobby\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"}",
                  EMBER_PORTAL_ERROR_UNKNOWN_TOPIC, "topic: \"room:lobby\"");
  assert_refused (C, UP, "{\"topic\":\"gateway\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"}",
                  EMBER_PORTAL_ERROR_UNKNOWN_TOPIC, "neither \"client\"");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"shout\",\"payload\":{},\"ref\":\"1\"}",
                  EMBER_PORTAL_ERROR_UNKNOWN_EVENT, "\"shout\" is not an event");
  /* Events for the other side, or of the other channel. */
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"init\",\"payload\":{},\"ref\":null}",
                  EMBER_PORTAL_ERROR_WRONG_DIRECTION, "\"init\" is not sent to the portal");
  assert_refused (C, DOWN, "{\"topic\":\"client\",\"event\":\"authorize_flow\",\"payload\":{},"
                  "\"ref\":null}", EMBER_PORTAL_ERROR_WRONG_DIRECTION, "on the client channel");
  assert_refused (EMBER_PORTAL_CHANNEL_GATEWAY, UP, "{\"topic\":\"gateway\",\"event\":"
                  "\"request_authorization\",\"payload\":{},\"ref\":\"3\"}",
                  EMBER_PORTAL_ERROR_WRONG_DIRECTION, "gateway channel");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"heartbeat\",\"payload\":{},\"ref\":\"1\"}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "goes on topic \"phoenix\"");
  assert_refused (C, UP, "{\"topic\":\"phoenix\",\"event\":\"phx_join\",\"payload\":{},\"ref\":\"1\"}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "goes on topic \"client\"");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{},\"ref\":null}",
                  EMBER_PORTAL_ERROR_INVALID_FRAME, "needs a ref");
  assert_refused (C, UP, "{\"topic\":\"client\",\"event\":\"phx_join\",\"payload\":{\"x\":1},"
                  "\"ref\":\"1\"}", EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                  "payload: unknown member \"x\"");
}

static void
test_malformed_limits (void)
{
  /* Oversize: refused before any JSON parsing. */
  gsize big = EMBER_PORTAL_FRAME_MAX + 1;
  g_autofree char *huge = g_malloc (big + 1);
  memset (huge, ' ', big);
  huge[big] = '\0';
  assert_refused (EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_TO_PORTAL, huge,
                  EMBER_PORTAL_ERROR_TOO_LARGE, "at most 1048576");
  /* Deep nesting would make json-glib recurse; refused by the scan. */
  GString *deep = g_string_new ("{\"topic\":\"client\",\"event\":\"phx_join\",\"ref\":\"1\",\"payload\":");
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  assert_refused (EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_TO_PORTAL, deep->str,
                  EMBER_PORTAL_ERROR_INVALID_JSON, "nest too deep");
  g_string_free (deep, TRUE);
  /* json-glib would cut the id at the NUL and accept it. */
  assert_refused (EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_FROM_PORTAL,
                  "{\"topic\":\"client\",\"event\":\"resource_deleted\",\"ref\":null,"
                  "\"payload\":{\"id\":\"" ID_A "\\u0000\"}}",
                  EMBER_PORTAL_ERROR_INVALID_JSON, "escaped NUL");
  /* Brackets inside strings do not count. */
  g_autofree char *strings = frame ("client", "phx_reply",
    "{\"status\":\"error\",\"response\":{\"reason\":\"internal\",\"message\":"
    "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{{{{{\\\"[[[[\"}}", "\"2\"");
  g_auto (EmberPortalMessage) msg = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (ember_portal_message_parse (strings, strlen (strings), EMBER_PORTAL_CHANNEL_CLIENT,
                                             EMBER_PORTAL_FROM_PORTAL, &msg, &error));
  g_assert_no_error (error);
  g_assert_cmpint (msg.u.reply.reason, ==, EMBER_PORTAL_REPLY_REASON_INTERNAL);
  /* Too many candidates. */
  GString *c = g_string_new ("{\"gateway_ids\":[\"" ID_B "\"],\"candidates\":[");
  for (guint i = 0; i <= EMBER_PORTAL_MAX_CANDIDATES; i++)
    g_string_append_printf (c, "%s\"candidate:1 1 udp 1 192.0.2.1 %u typ host\"", i ? "," : "",
                            i + 1);
  g_string_append (c, "]}");
  g_autofree char *many = frame ("client", "new_gateway_ice_candidates", c->str, "\"5\"");
  g_string_free (c, TRUE);
  assert_refused (EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_TO_PORTAL, many,
                  EMBER_PORTAL_ERROR_INVALID_PAYLOAD, "payload.candidates: 65 elements; expected 1..64");
}

/* A client-bound resource_created_or_updated whose one resource has
 * `filters`, `type` and `address` given as JSON text. */
static char *
resource_frame (const char *type, const char *address, const char *filters)
{
  g_autofree char *payload = g_strdup_printf (
    "{\"id\":\"" ID_A "\",\"name\":\"web\",\"type\":%s%s%s,\"site\":" SITE "%s%s}", type,
    address ? ",\"address\":" : "", address ? address : "", filters ? ",\"filters\":" : "",
    filters ? filters : "");
  return frame ("client", "resource_created_or_updated", payload, "null");
}

static void
test_malformed_resources (void)
{
  static const struct {
    const char *type, *address, *filters, *needle;
  } cases[] = {
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"tcp\",\"ports\":\"90-80\"}]",
      "payload.filters[0].ports: \"90-80\": range start 90 is above its end 80" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"udp\"},{\"protocol\":\"tcp\",\"ports\":\"0\"}]",
      "payload.filters[1].ports: \"0\" is not a port" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"tcp\",\"ports\":\"65536\"}]",
      "payload.filters[0].ports: \"65536\"" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"tcp\",\"ports\":\"80,\"}]",
      "payload.filters[0].ports: empty item" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"tcp\",\"ports\":\"\"}]",
      "payload.filters[0].ports: expected a non-empty string" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"tcp\",\"ports\":\" 80\"}]",
      "payload.filters[0].ports: \" 80\" is not a port" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"tcp\",\"ports\":\"08\"}]",
      "payload.filters[0].ports: \"08\"" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"icmp\",\"ports\":\"80\"}]",
      "payload.filters[0].ports: icmp takes no ports" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"sctp\"}]",
      "payload.filters[0].protocol: \"sctp\" is none of" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "[{\"protocol\":\"tcp\",\"ports\":80}]",
      "payload.filters[0].ports: expected a string, got an integer" },
    { "\"cidr\"", "\"10.20.0.0/24\"", "{\"protocol\":\"tcp\"}",
      "payload.filters: expected an array, got an object" },
    { "\"cidr\"", "\"10.20.0.1/24\"", NULL, "payload.address: \"10.20.0.1/24\": has host bits set "
      "(expected the network address, 10.20.0.0/24)" },
    { "\"cidr\"", "\"2001:db8::1/48\"", NULL, "network address, 2001:db8::/48)" },
    { "\"cidr\"", "\"10.20.0.0/33\"", NULL, "payload.address: \"10.20.0.0/33\": prefix length 33 is too long" },
    { "\"cidr\"", "\"10.20.0.0\"", NULL, "payload.address: \"10.20.0.0\": expected ADDRESS/LENGTH" },
    { "\"cidr\"", "\"10.20.0/24\"", NULL, "payload.address: \"10.20.0/24\": expected an IPv4 address" },
    { "\"cidr\"", NULL, NULL, "payload.address: missing" },
    { "\"dns\"", "\"a.*.corp\"", NULL, "payload.address: expected a DNS name pattern (name, ?, *. "
      "or **.), got \"a.*.corp\": a wildcard label is allowed only first" },
    { "\"internet\"", "\"0.0.0.0/0\"", NULL, "payload.address: an internet resource has no address" },
    { "\"vpn\"", NULL, NULL, "payload.type: \"vpn\" is none of \"cidr\", \"dns\", \"internet\"" },
    { "null", NULL, NULL, "payload.type: expected a string, got null" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = resource_frame (cases[i].type, cases[i].address, cases[i].filters);
      assert_refused (EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_FROM_PORTAL, text,
                      EMBER_PORTAL_ERROR_INVALID_PAYLOAD, cases[i].needle);
    }
  /* The path goes through arrays: the third resource of an init. */
  g_autofree char *good = resource_frame ("\"internet\"", NULL, NULL);
  g_autofree char *bad = resource_frame ("\"cidr\"", "\"10.0.0.0/8\"",
                                         "[{\"protocol\":\"tcp\",\"ports\":\"90-80\"}]");
  const char *good_res = strstr (good, "\"payload\":") + 10;
  const char *bad_res = strstr (bad, "\"payload\":") + 10;
  g_autofree char *good_obj = g_strndup (good_res, strlen (good_res) - strlen (",\"ref\":null}"));
  g_autofree char *bad_obj = g_strndup (bad_res, strlen (bad_res) - strlen (",\"ref\":null}"));
  g_autofree char *init = g_strdup_printf (
    "{\"interface\":{\"ipv4\":\"100.64.0.2\",\"ipv6\":\"fd00:2021:1111::2\"},"
    "\"resources\":[%s,%s,%s],\"relays\":[]}", good_obj, good_obj, bad_obj);
  g_autofree char *text = frame ("client", "init", init, "null");
  assert_refused (EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_FROM_PORTAL, text,
                  EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                  "payload.resources[2].filters[0].ports: \"90-80\": range start 90");
}

static void
test_malformed_values (void)
{
  static const struct {
    EmberPortalChannel channel;
    EmberPortalDirection direction;
    const char *event, *payload, *needle;
  } cases[] = {
    { 0, 0, "request_authorization", "{\"resource_id\":42,\"connected_gateway_ids\":[]}",
      "payload.resource_id: expected a string, got an integer" },
    { 0, 0, "request_authorization", "{\"connected_gateway_ids\":[]}",
      "payload.resource_id: missing" },
    { 0, 0, "request_authorization", "{\"resource_id\":\"4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a6\","
      "\"connected_gateway_ids\":[]}", "payload.resource_id: \"4b1f6c3a-2e8d-4f70-a9c5-8d2e1b7f3a6\" "
      "is not a UUID" },
    { 0, 0, "request_authorization", "{\"resource_id\":\"" ID_A "\",\"connected_gateway_ids\":["
      "\"" ID_B "\",\"4b1f6c3a_2e8d-4f70-a9c5-8d2e1b7f3a60\"]}",
      "payload.connected_gateway_ids[1]: \"4b1f6c3a_2e8d" },
    { 0, 0, "request_authorization", "{\"resource_id\":\"" ID_A "\"}",
      "payload.connected_gateway_ids: missing" },
    { 0, 0, "request_authorization", "{\"resource_id\":\"" ID_A "\",\"connected_gateway_ids\":[],"
      "\"extra\":true}", "payload: unknown member \"extra\"" },
    { 0, 0, "request_authorization", "{\"resource_id\":\"" ID_A "\",\"connected_gateway_ids\":[],"
      "\"dns_names\":[{\"name\":\"app.corp.example\"}]}",
      "payload.dns_names[0]: a dns name needs \"ipv4\", \"ipv6\" or both" },
    { 0, 0, "request_authorization", "{\"resource_id\":\"" ID_A "\",\"connected_gateway_ids\":[],"
      "\"dns_names\":[{\"name\":\"app.corp.example\",\"ipv4\":\"fd00::1\"}]}",
      "payload.dns_names[0].ipv4: " },
    { 0, 0, "request_authorization", "{\"resource_id\":\"" ID_A "\",\"connected_gateway_ids\":[],"
      "\"dns_names\":[{\"ipv4\":\"100.96.0.1\"}]}", "payload.dns_names[0].name: missing" },
    { 0, 0, "new_gateway_ice_candidates", "{\"gateway_ids\":[],\"candidates\":[\"candidate:1 1 udp 1 "
      "192.0.2.1 1 typ host\"]}", "payload.gateway_ids: 0 elements; expected 1..256" },
    { 0, 0, "new_gateway_ice_candidates", "{\"gateway_ids\":[\"" ID_B "\"],\"candidates\":["
      "\"candidate:1 1 udp 1 192.0.2.1 1 typ host\",\"candidate:1 1 tcp 1 192.0.2.1 1 typ host\"]}",
      "payload.candidates[1]: " },
    { 0, 0, "new_gateway_ice_candidates", "{\"gateway_ids\":[\"" ID_B "\"],\"candidates\":["
      "\"1 1 udp 1 192.0.2.1 1 typ host\"]}", "payload.candidates[0]: \"1 1 udp" },
    { 0, 0, "new_gateway_ice_candidates", "{\"gateway_ids\":[\"" ID_B "\"],\"candidates\":["
      "\"candidate:1 1 udp 1 192.0.2.1 0 typ host\"]}", "payload.candidates[0]: " },
    { 0, 0, "new_gateway_ice_candidates", "{\"client_ids\":[\"" ID_B "\"],\"candidates\":[]}",
      "payload: unknown member \"client_ids\"" },
    { 1, 1, "ice_candidates", "{\"gateway_id\":\"" ID_B "\",\"candidates\":[]}",
      "payload: unknown member \"gateway_id\"" },
    { 1, 1, "reject_access", "{\"resource_id\":\"" ID_A "\"}", "payload.client_id: missing" },
    { 0, 1, "reject_access", "{\"resource_id\":\"" ID_A "\",\"client_id\":\"" ID_B "\"}",
      "payload: unknown member \"client_id\"" },
    { 0, 1, "authorization_creation_failed", "{\"resource_id\":\"" ID_A "\",\"reason\":\"nope\"}",
      "payload.reason: \"nope\" is none of \"not_found\", \"forbidden\", \"offline\"" },
    { 0, 1, "disconnect", "{\"reason\":\"bored\"}", "payload.reason: \"bored\" is none of" },
    { 0, 1, "phx_reply", "{\"status\":\"ok\",\"response\":{\"reason\":\"internal\"}}",
      "payload.response: unknown member \"reason\"" },
    { 0, 1, "phx_reply", "{\"status\":\"error\",\"response\":{\"reason\":\"sad\"}}",
      "payload.response.reason: \"sad\" is none of" },
    { 0, 1, "phx_reply", "{\"status\":\"maybe\",\"response\":{}}", "payload.status: \"maybe\"" },
    { 0, 1, "relays_presence", "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"" ID_A "\","
      "\"type\":\"turn\",\"username\":\"u\",\"password\":\"p\",\"expires_at\":1}]}",
      "payload.connected[0]: a relay needs \"ipv4\", \"ipv6\" or both" },
    { 0, 1, "relays_presence", "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"" ID_A "\","
      "\"type\":\"turn\",\"ipv4\":\"[2001:db8::5]:3478\",\"username\":\"u\",\"password\":\"p\","
      "\"expires_at\":1}]}", "payload.connected[0].ipv4: \"[2001:db8::5]\": expected an IPv4 address" },
    { 0, 1, "relays_presence", "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"" ID_A "\","
      "\"type\":\"turn\",\"ipv6\":\"[2001:db8::5]:0\",\"username\":\"u\",\"password\":\"p\","
      "\"expires_at\":1}]}", "payload.connected[0].ipv6: " },
    { 0, 1, "relays_presence", "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"" ID_A "\","
      "\"type\":\"stun\",\"ipv4\":\"1.2.3.4:3478\",\"username\":\"u\",\"password\":\"p\","
      "\"expires_at\":1}]}", "payload.connected[0].type: \"stun\" is none of \"turn\"" },
    { 0, 1, "relays_presence", "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"" ID_A "\","
      "\"type\":\"turn\",\"ipv4\":\"1.2.3.4:3478\",\"username\":\"u\",\"password\":\"p\","
      "\"expires_at\":1.5}]}", "payload.connected[0].expires_at: expected an integer" },
    { 0, 1, "relays_presence", "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"" ID_A "\","
      "\"type\":\"turn\",\"ipv4\":\"1.2.3.4:3478\",\"username\":\"u\",\"password\":\"p\","
      "\"expires_at\":-5}]}", "payload.connected[0].expires_at: -5 is out of range" },
    { 0, 1, "relays_presence", "{\"disconnected_ids\":[],\"connected\":[{\"id\":\"" ID_A "\","
      "\"type\":\"turn\",\"ipv4\":\"1.2.3.4:3478\",\"username\":\"u\\u0001\",\"password\":\"p\","
      "\"expires_at\":5}]}", "payload.connected[0].username: control character 0x01" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *topic = ember_portal_channel_to_string (cases[i].channel);
      g_autofree char *text = frame (topic, cases[i].event, cases[i].payload,
                                     cases[i].direction == EMBER_PORTAL_TO_PORTAL ? "\"9\"" : "\"9\"");
      assert_refused (cases[i].channel, cases[i].direction, text,
                      EMBER_PORTAL_ERROR_INVALID_PAYLOAD, cases[i].needle);
      /* The frame's ref survives a payload error, for the error reply. */
      g_auto (EmberPortalMessage) msg = { 0 };
      g_assert_false (ember_portal_message_parse (text, strlen (text), cases[i].channel,
                                                  cases[i].direction, &msg, NULL));
      g_assert_cmpstr (msg.ref, ==, "9");
    }
}

static void
test_malformed_keys_and_ice (void)
{
  static const struct {
    const char *key, *ufrag, *pwd, *needle;
  } cases[] = {
    { "Y2xpZW50LXB1YmxpYy1rZXktMDEyMzQ1Njc4OWFiY2Q", "c1ufrag8", "clientpasswordclientpass",
      "payload.client.public_key: expected base64 of 32 bytes (44 characters ending in '='), got 43" },
    { "Y2xpZW50LXB1YmxpYy1rZXktMDEyMzQ1Njc4OWFiY2R=", "c1ufrag8", "clientpasswordclientpass",
      "payload.client.public_key: not canonical base64" },
    { "Y2xpZW50LXB1YmxpYy1rZXktMDEyMzQ1Njc4OWFi*2Q=", "c1ufrag8", "clientpasswordclientpass",
      "payload.client.public_key: character 40 is not in the base64 alphabet" },
    { "Y2xpZW50LXB1YmxpYy1rZXktMDEyMzQ1Njc4OWFiY2Q==", "c1ufrag8", "clientpasswordclientpass",
      "payload.client.public_key: expected base64 of 32 bytes" },
    { KEY_A, "abc", "clientpasswordclientpass", "payload.client_ice.ufrag: expected 4..64 ice-chars, got 3" },
    { KEY_A, "c1ufrag8", "short", "payload.client_ice.pwd: expected 22..128 ice-chars, got 5" },
    { KEY_A, "c1u-rag8", "clientpasswordclientpass", "payload.client_ice.ufrag: character 3 is not an ice-char" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *payload = g_strdup_printf (
        "{\"ref\":\"r\",\"resource\":{\"id\":\"" ID_A "\",\"name\":\"web\",\"type\":\"internet\","
        "\"site\":" SITE "},\"client\":{\"id\":\"" ID_B "\",\"public_key\":\"%s\","
        "\"ipv4\":\"100.64.0.2\",\"ipv6\":\"fd00:2021:1111::2\"},\"preshared_key\":\"" KEY_A "\","
        "\"client_ice\":{\"ufrag\":\"%s\",\"pwd\":\"%s\"},"
        "\"gateway_ice\":{\"ufrag\":\"g1ufrag8\",\"pwd\":\"gatewaypasswordgatewayp1\"},"
        "\"expires_at\":1765011600}", cases[i].key, cases[i].ufrag, cases[i].pwd);
      g_autofree char *text = frame ("gateway", "authorize_flow", payload, "null");
      assert_refused (EMBER_PORTAL_CHANNEL_GATEWAY, EMBER_PORTAL_FROM_PORTAL, text,
                      EMBER_PORTAL_ERROR_INVALID_PAYLOAD, cases[i].needle);
    }
  /* Tunnel addresses of the wrong family. */
  g_autofree char *init = frame ("gateway", "init",
    "{\"interface\":{\"ipv4\":\"fd00::1\",\"ipv6\":\"fd00::2\"},\"relays\":[],\"authorizations\":[]}",
    "null");
  assert_refused (EMBER_PORTAL_CHANNEL_GATEWAY, EMBER_PORTAL_FROM_PORTAL, init,
                  EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                  "payload.interface.ipv4: \"fd00::1\" is not an IPv4 address");
}

/* ---- build refuses what the parser would refuse ------------------------------------- */

static void
assert_build_refused (EmberPortalMessage *msg, EmberPortalChannel channel, EmberPortalError code,
                      const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = ember_portal_message_build (msg, channel, NULL, &error);
  if (text != NULL)
    g_error ("built: %s", text);
  g_assert_error (error, EMBER_PORTAL_ERROR, (gint) code);
  if (strstr (error->message, needle) == NULL)
    g_error ("error \"%s\" does not contain \"%s\"", error->message, needle);
}

static void
test_build_refuses_invalid_values (void)
{
  const EmberPortalChannel C = EMBER_PORTAL_CHANNEL_CLIENT, G = EMBER_PORTAL_CHANNEL_GATEWAY;
  g_auto (EmberPortalMessage) msg = { 0 };
  sample_message (&msg, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, G);
  msg.u.authorize_flow.resource.filters[0].ports[1] = (EmberPortalPortRange){ 90, 80 };
  assert_build_refused (&msg, G, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        "payload.resource.filters[0]: range 90-80");
  msg.u.authorize_flow.resource.filters[0].ports[1] = (EmberPortalPortRange){ 80, 90 };
  msg.u.authorize_flow.client.id.str[0] = 'A';
  assert_build_refused (&msg, G, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        "payload.client.id: ids are sent in lower case");
  msg.u.authorize_flow.client.id.str[0] = '0';
  msg.u.authorize_flow.client.tunnel.ipv4 = msg.u.authorize_flow.client.tunnel.ipv6;
  assert_build_refused (&msg, G, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        "payload.client.ipv4: expected an IPv4 address");
  ember_portal_message_clear (&msg);

  sample_message (&msg, EMBER_PORTAL_EVENT_CLIENT_INIT, C);
  msg.u.client_init.resources[0].cidr.prefix = 16;
  msg.u.client_init.resources[0].cidr.addr[3] = 1;
  assert_build_refused (&msg, C, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        "payload.resources[0].address: host bits set");
  ember_portal_message_clear (&msg);

  sample_message (&msg, EMBER_PORTAL_EVENT_ICE_CANDIDATES, C);
  memset (&msg.u.ice_candidates.candidates[2].addr, 0, sizeof (EmberAddr));
  assert_build_refused (&msg, C, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        "payload.candidates[2]: candidate without an address");
  ember_portal_message_clear (&msg);

  /* Events of the other channel, and heartbeats off "phoenix". */
  sample_message (&msg, EMBER_PORTAL_EVENT_AUTHORIZE_FLOW, C);
  assert_build_refused (&msg, C, EMBER_PORTAL_ERROR_WRONG_DIRECTION, "client channel");
  ember_portal_message_clear (&msg);
  sample_message (&msg, EMBER_PORTAL_EVENT_HEARTBEAT, C);
  msg.topic = EMBER_PORTAL_TOPIC_CLIENT;
  assert_build_refused (&msg, C, EMBER_PORTAL_ERROR_INVALID_FRAME, "goes on topic \"phoenix\"");
  ember_portal_message_clear (&msg);

  /* A client init the frame limit cannot hold: 4096 resources with long
   * names are within the count limit but not within 1 MiB. */
  ember_portal_message_init (&msg, EMBER_PORTAL_EVENT_CLIENT_INIT, C, NULL);
  msg.u.client_init.iface = sample_tunnel (1);
  msg.u.client_init.n_resources = EMBER_PORTAL_MAX_RESOURCES;
  msg.u.client_init.resources = g_new0 (EmberPortalResource, EMBER_PORTAL_MAX_RESOURCES);
  for (guint i = 0; i < EMBER_PORTAL_MAX_RESOURCES; i++)
    {
      EmberPortalResource *r = &msg.u.client_init.resources[i];
      sample_resource (r, 3, i);
      g_free (r->name);
      r->name = g_strnfill (EMBER_PORTAL_NAME_MAX, 'n');
    }
  assert_build_refused (&msg, C, EMBER_PORTAL_ERROR_TOO_LARGE, "at most 1048576");
  msg.u.client_init.n_resources = EMBER_PORTAL_MAX_RESOURCES + 1;
  assert_build_refused (&msg, C, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        "payload.resources: 4097 elements; expected 0..4096");
  msg.u.client_init.n_resources = EMBER_PORTAL_MAX_RESOURCES;
}

/* ---- init's optional "device" ------------------------------------------------- */

#define CLIENT_IFACE "\"interface\":{\"ipv4\":\"100.64.0.2\",\"ipv6\":\"fd00:2021:1111::2\"}"
#define GATEWAY_IFACE "\"interface\":{\"ipv4\":\"100.64.0.1\",\"ipv6\":\"fd00:2021:1111::1\"}"

/* A client init and a gateway init with `device` (a JSON value text, or
 * NULL for none). */
static char *
init_frame (EmberPortalChannel channel, const char *device)
{
  g_autofree char *member = device != NULL ? g_strdup_printf (",\"device\":%s", device)
                                           : g_strdup ("");
  g_autofree char *payload =
    channel == EMBER_PORTAL_CHANNEL_CLIENT
      ? g_strdup_printf ("{" CLIENT_IFACE ",\"resources\":[],\"relays\":[]%s}", member)
      : g_strdup_printf ("{" GATEWAY_IFACE ",\"relays\":[],\"authorizations\":[]%s}", member);
  return frame (ember_portal_channel_to_string (channel), "init", payload, "null");
}

static const EmberPortalDevice *
init_device (const EmberPortalMessage *msg)
{
  return msg->event == EMBER_PORTAL_EVENT_CLIENT_INIT ? &msg->u.client_init.device
                                                      : &msg->u.gateway_init.device;
}

static void
test_device_roundtrip (void)
{
  for (guint ch = 0; ch < 2; ch++)
    {
      EmberPortalEvent event = ch == EMBER_PORTAL_CHANNEL_CLIENT ? EMBER_PORTAL_EVENT_CLIENT_INIT
                                                                 : EMBER_PORTAL_EVENT_GATEWAY_INIT;
      g_auto (EmberPortalMessage) msg = { 0 };
      g_autoptr (GError) error = NULL;
      sample_message (&msg, event, ch);
      g_autofree char *text = ember_portal_message_build (&msg, ch, NULL, &error);
      g_assert_no_error (error);
      g_autofree char *want = g_strdup_printf ("\"device\":{\"id\":\"%s\",\"name\":",
                                               init_device (&msg)->id.str);
      g_assert_nonnull (strstr (text, want));

      g_auto (EmberPortalMessage) back = { 0 };
      g_assert_true (ember_portal_message_parse (text, strlen (text), ch,
                                                 EMBER_PORTAL_FROM_PORTAL, &back, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (init_device (&back)->id.str, ==, init_device (&msg)->id.str);
      g_assert_cmpstr (init_device (&back)->name, ==, init_device (&msg)->name);
      g_assert_true (ember_portal_message_equal (&msg, &back));

      /* equal() sees the device: another name, then none at all. */
      EmberPortalDevice *dev = (EmberPortalDevice *) init_device (&back);
      g_free (dev->name);
      dev->name = g_strdup ("desktop");
      g_assert_false (ember_portal_message_equal (&msg, &back));
      g_clear_pointer (&dev->name, g_free);
      g_assert_false (ember_portal_message_equal (&msg, &back));
    }
  /* An id in upper case is stored lower case, like every id. */
  g_autofree char *text = init_frame (EMBER_PORTAL_CHANNEL_CLIENT,
                                      "{\"id\":\"6F2C1A8E-0B3D-4C55-9A41-2D7E8F901A11\","
                                      "\"name\":\"laptop\"}");
  g_auto (EmberPortalMessage) msg = { 0 };
  g_assert_true (ember_portal_message_parse (text, strlen (text), EMBER_PORTAL_CHANNEL_CLIENT,
                                             EMBER_PORTAL_FROM_PORTAL, &msg, NULL));
  g_assert_cmpstr (msg.u.client_init.device.id.str, ==, "6f2c1a8e-0b3d-4c55-9a41-2d7e8f901a11");
  g_assert_cmpstr (msg.u.client_init.device.name, ==, "laptop");
}

static void
test_device_absent (void)
{
  /* A portal that predates the member: the init parses, no device. */
  for (guint ch = 0; ch < 2; ch++)
    {
      g_autofree char *text = init_frame (ch, NULL);
      g_auto (EmberPortalMessage) msg = { 0 };
      g_autoptr (GError) error = NULL;
      g_assert_true (ember_portal_message_parse (text, strlen (text), ch,
                                                 EMBER_PORTAL_FROM_PORTAL, &msg, &error));
      g_assert_no_error (error);
      g_assert_null (init_device (&msg)->name);
      g_assert_cmpstr (init_device (&msg)->id.str, ==, "");

      /* And a portal that knows no device sends none: the init a peer
       * that predates the member reads as before. */
      g_autofree char *built = ember_portal_message_build (&msg, ch, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (built, ==, text);
    }
}

static void
test_device_malformed (void)
{
  g_autofree char *long_name = g_strnfill (EMBER_PORTAL_NAME_MAX + 1, 'n');
  g_autofree char *max_name = g_strnfill (EMBER_PORTAL_NAME_MAX, 'n');
  g_autofree char *too_long = g_strdup_printf ("{\"id\":\"" ID_A "\",\"name\":\"%s\"}", long_name);
  g_autofree char *longest = g_strdup_printf ("{\"id\":\"" ID_A "\",\"name\":\"%s\"}", max_name);
  const struct {
    const char *device, *needle;
  } cases[] = {
    { "null", "payload.device: expected an object, got null" },
    { "\"laptop\"", "payload.device: expected an object, got a string" },
    { "[]", "payload.device: expected an object, got an array" },
    { "{}", "payload.device.id: missing" },
    { "{\"id\":\"" ID_A "\"}", "payload.device.name: missing" },
    { "{\"name\":\"laptop\"}", "payload.device.id: missing" },
    { "{\"id\":7,\"name\":\"laptop\"}", "payload.device.id: expected a string, got an integer" },
    { "{\"id\":\"laptop\",\"name\":\"laptop\"}", "payload.device.id: \"laptop\" is not a UUID" },
    { "{\"id\":\"" ID_A "\",\"name\":42}", "payload.device.name: expected a string, got an integer" },
    { "{\"id\":\"" ID_A "\",\"name\":null}", "payload.device.name: expected a string, got null" },
    { "{\"id\":\"" ID_A "\",\"name\":\"\"}", "payload.device.name: " },
    { "{\"id\":\"" ID_A "\",\"name\":\"a\\u0007b\"}", "payload.device.name: control character 0x07" },
    { too_long, "payload.device.name: " },
    { "{\"id\":\"" ID_A "\",\"name\":\"laptop\",\"user\":\"alice\"}",
      "payload.device: unknown member \"user\"" },
  };
  for (guint ch = 0; ch < 2; ch++)
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autofree char *text = init_frame (ch, cases[i].device);
        assert_refused (ch, EMBER_PORTAL_FROM_PORTAL, text, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        cases[i].needle);
      }
  /* 255 bytes is the limit, not one less. */
  g_autofree char *text = init_frame (EMBER_PORTAL_CHANNEL_GATEWAY, longest);
  g_auto (EmberPortalMessage) msg = { 0 };
  g_assert_true (ember_portal_message_parse (text, strlen (text), EMBER_PORTAL_CHANNEL_GATEWAY,
                                             EMBER_PORTAL_FROM_PORTAL, &msg, NULL));
  g_assert_cmpuint (strlen (msg.u.gateway_init.device.name), ==, EMBER_PORTAL_NAME_MAX);
}

static void
test_device_build_refuses (void)
{
  for (guint ch = 0; ch < 2; ch++)
    {
      EmberPortalEvent event = ch == EMBER_PORTAL_CHANNEL_CLIENT ? EMBER_PORTAL_EVENT_CLIENT_INIT
                                                                 : EMBER_PORTAL_EVENT_GATEWAY_INIT;
      g_auto (EmberPortalMessage) msg = { 0 };
      sample_message (&msg, event, ch);
      EmberPortalDevice *dev = (EmberPortalDevice *) init_device (&msg);
      g_free (dev->name);
      dev->name = g_strnfill (EMBER_PORTAL_NAME_MAX + 1, 'n');
      assert_build_refused (&msg, ch, EMBER_PORTAL_ERROR_INVALID_PAYLOAD, "payload.device.name: ");
      g_free (dev->name);
      dev->name = g_strdup ("");
      assert_build_refused (&msg, ch, EMBER_PORTAL_ERROR_INVALID_PAYLOAD, "payload.device.name: ");
      g_free (dev->name);
      dev->name = g_strdup ("laptop");
      memset (&dev->id, 0, sizeof dev->id);
      assert_build_refused (&msg, ch, EMBER_PORTAL_ERROR_INVALID_PAYLOAD, "payload.device.id: ");
    }
}

/* A dns resource's optional "ip_stack" (revision 2). */
static void
test_ip_stack_round_trips (void)
{
  static const struct {
    const char *member;  /* JSON text after the address, or "" */
    EmberPortalIpStack stack;
  } cases[] = {
    { "", EMBER_PORTAL_IP_STACK_DUAL },
    { ",\"ip_stack\":\"ipv4\"", EMBER_PORTAL_IP_STACK_IPV4 },
    { ",\"ip_stack\":\"ipv6\"", EMBER_PORTAL_IP_STACK_IPV6 },
    { ",\"ip_stack\":\"dual\"", EMBER_PORTAL_IP_STACK_DUAL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *address = g_strdup_printf ("\"*.corp.example\"%s", cases[i].member);
      g_autofree char *text = resource_frame ("\"dns\"", address, NULL);
      g_auto (EmberPortalMessage) msg = { 0 };
      g_autoptr (GError) error = NULL;
      g_assert_true (ember_portal_message_parse (text, strlen (text), EMBER_PORTAL_CHANNEL_CLIENT,
                                                 EMBER_PORTAL_FROM_PORTAL, &msg, &error));
      g_assert_no_error (error);
      g_assert_cmpint (msg.u.resource.ip_stack, ==, cases[i].stack);

      /* Built back: ipv4/ipv6 as given, dual (absent or said) left out, so
       * the resource a device that predates the member reads is unchanged. */
      g_autofree char *built = ember_portal_message_build (&msg, EMBER_PORTAL_CHANNEL_CLIENT, NULL,
                                                           &error);
      g_assert_no_error (error);
      if (cases[i].stack == EMBER_PORTAL_IP_STACK_DUAL)
        {
          g_autofree char *plain = resource_frame ("\"dns\"", "\"*.corp.example\"", NULL);
          g_assert_cmpstr (built, ==, plain);
          g_assert_null (strstr (built, "ip_stack"));
        }
      else
        g_assert_cmpstr (built, ==, text);
      g_auto (EmberPortalMessage) back = { 0 };
      g_assert_true (ember_portal_message_parse (built, strlen (built), EMBER_PORTAL_CHANNEL_CLIENT,
                                                 EMBER_PORTAL_FROM_PORTAL, &back, &error));
      g_assert_true (ember_portal_message_equal (&msg, &back));
      back.u.resource.ip_stack = (EmberPortalIpStack) ((cases[i].stack + 1) % 3);
      g_assert_false (ember_portal_message_equal (&msg, &back));
    }
  g_assert_cmpstr (ember_portal_ip_stack_to_string (EMBER_PORTAL_IP_STACK_IPV6), ==, "ipv6");
}

static void
test_ip_stack_malformed (void)
{
  static const struct {
    const char *type, *address, *needle;
  } cases[] = {
    { "\"dns\"", "\"app.corp\",\"ip_stack\":\"ipv4_only\"",
      "payload.ip_stack: \"ipv4_only\" is none of \"dual\", \"ipv4\", \"ipv6\"" },
    { "\"dns\"", "\"app.corp\",\"ip_stack\":\"IPv6\"", "payload.ip_stack: \"IPv6\" is none of" },
    { "\"dns\"", "\"app.corp\",\"ip_stack\":\"\"", "payload.ip_stack: " },
    { "\"dns\"", "\"app.corp\",\"ip_stack\":4", "payload.ip_stack: expected a string, got an integer" },
    { "\"dns\"", "\"app.corp\",\"ip_stack\":null", "payload.ip_stack: expected a string, got null" },
    { "\"cidr\"", "\"10.0.0.0/8\",\"ip_stack\":\"ipv4\"",
      "payload.ip_stack: only a dns resource has an IP stack" },
    { "\"internet\",\"ip_stack\":\"ipv6\"", NULL,
      "payload.ip_stack: only a dns resource has an IP stack" },
    { "\"cidr\"", "\"10.0.0.0/8\",\"ip_stack\":\"dual\"",
      "payload.ip_stack: only a dns resource has an IP stack" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = resource_frame (cases[i].type, cases[i].address, NULL);
      assert_refused (EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_FROM_PORTAL, text,
                      EMBER_PORTAL_ERROR_INVALID_PAYLOAD, cases[i].needle);
    }

  /* Build refuses what parse would refuse. */
  g_autofree char *text = resource_frame ("\"cidr\"", "\"10.0.0.0/8\"", NULL);
  g_auto (EmberPortalMessage) msg = { 0 };
  g_assert_true (ember_portal_message_parse (text, strlen (text), EMBER_PORTAL_CHANNEL_CLIENT,
                                             EMBER_PORTAL_FROM_PORTAL, &msg, NULL));
  msg.u.resource.ip_stack = EMBER_PORTAL_IP_STACK_IPV4;
  assert_build_refused (&msg, EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        "payload.ip_stack: only a dns resource has an IP stack");
  msg.u.resource.type = EMBER_PORTAL_RESOURCE_DNS;
  msg.u.resource.dns_pattern = g_strdup ("app.corp");
  msg.u.resource.ip_stack = (EmberPortalIpStack) 7;
  assert_build_refused (&msg, EMBER_PORTAL_CHANNEL_CLIENT, EMBER_PORTAL_ERROR_INVALID_PAYLOAD,
                        "payload.ip_stack: value 7 is out of range");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/portal/codec/roundtrip/every-event-on-every-channel",
                   test_roundtrip_every_event);
  g_test_add_func ("/portal/codec/roundtrip/equal-sees-a-changed-value",
                   test_roundtrip_changes_are_seen);
  g_test_add_func ("/portal/codec/build/heartbeat-reply-goes-on-phoenix",
                   test_build_heartbeat_reply_on_phoenix);
  g_test_add_func ("/portal/codec/build/escapes-quotes-and-backslashes",
                   test_build_escapes_strings);
  g_test_add_func ("/portal/codec/doc/every-example-parses-in-one-direction",
                   test_doc_examples_parse);
  g_test_add_func ("/portal/codec/doc/authorize-flow-gives-these-values",
                   test_doc_authorize_flow_values);
  g_test_add_func ("/portal/codec/doc/every-truncation-is-refused",
                   test_doc_every_truncation_refused);
  g_test_add_func ("/portal/codec/candidates/parse-through-core-ice",
                   test_candidates_parse_with_ice);
  g_test_add_func ("/portal/codec/values/keys-are-canonical-base64", test_values_keys);
  g_test_add_func ("/portal/codec/values/port-lists", test_values_ports);
  g_test_add_func ("/portal/codec/values/dns-patterns", test_values_dns_patterns);
  g_test_add_func ("/portal/codec/malformed/envelope", test_malformed_envelope);
  g_test_add_func ("/portal/codec/malformed/limits", test_malformed_limits);
  g_test_add_func ("/portal/codec/malformed/resources-name-the-path", test_malformed_resources);
  g_test_add_func ("/portal/codec/malformed/values-name-the-path", test_malformed_values);
  g_test_add_func ("/portal/codec/malformed/keys-and-ice-credentials",
                   test_malformed_keys_and_ice);
  g_test_add_func ("/portal/codec/init/device/round-trips-on-both-channels",
                   test_device_roundtrip);
  g_test_add_func ("/portal/codec/init/device/absent-parses-and-is-not-built",
                   test_device_absent);
  g_test_add_func ("/portal/codec/init/device/malformed-is-refused-naming-the-field",
                   test_device_malformed);
  g_test_add_func ("/portal/codec/init/device/build-refuses-what-parse-would-refuse",
                   test_device_build_refuses);
  g_test_add_func ("/portal/codec/resource/ip-stack/round-trips-and-dual-is-left-out",
                   test_ip_stack_round_trips);
  g_test_add_func ("/portal/codec/resource/ip-stack/malformed-is-refused-naming-the-field",
                   test_ip_stack_malformed);
  g_test_add_func ("/portal/codec/build/refuses-what-parse-would-refuse",
                   test_build_refuses_invalid_values);
  return g_test_run ();
}
