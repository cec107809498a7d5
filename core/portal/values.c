/* portal/values — the protocol's scalar values, text ⇄ C. */
#include "portal/values.h"

#include "dns/pattern.h"

#include <stdarg.h>
#include <string.h>

gboolean
ember_portal_fail (GError **error, const char *what, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_INVALID_PAYLOAD, "%s: %s", what,
               msg);
  return FALSE;
}

/* Quotes network text for an error message: at most 64 bytes, anything
 * that is not printable ASCII escaped, so a log line stays one line. */
static char *
quote (const char *text)
{
  gsize n = strlen (text);
  g_autofree char *cut = g_strndup (text, MIN (n, 64));
  g_autofree char *esc = g_strescape (cut, NULL);
  return g_strdup_printf ("\"%s\"%s", esc, n > 64 ? "..." : "");
}

/* ---- Text -------------------------------------------------------------- */

gboolean
ember_portal_text_check (const char *text, gsize max, const char *what, GError **error)
{
  if (text == NULL)
    return ember_portal_fail (error, what, "missing");
  gsize n = strlen (text);
  if (n == 0)
    return ember_portal_fail (error, what, "expected a non-empty string");
  if (n > max)
    return ember_portal_fail (error, what, "%" G_GSIZE_FORMAT " bytes; at most %" G_GSIZE_FORMAT
                              " are allowed", n, max);
  if (!g_utf8_validate (text, (gssize) n, NULL))
    return ember_portal_fail (error, what, "not valid UTF-8");
  for (gsize i = 0; i < n; i++)
    {
      guchar c = (guchar) text[i];
      if (c < 0x20 || c == 0x7f)
        return ember_portal_fail (error, what, "control character 0x%02x at byte %" G_GSIZE_FORMAT,
                                  c, i);
    }
  return TRUE;
}

/* ---- Ids ----------------------------------------------------------------- */

gboolean
ember_portal_id_parse (const char *text, EmberPortalId *id, const char *what, GError **error)
{
  g_return_val_if_fail (text != NULL && id != NULL && what != NULL, FALSE);
  memset (id, 0, sizeof *id);
  gsize n = strlen (text);
  gboolean ok = n == EMBER_PORTAL_ID_LEN;
  for (gsize i = 0; ok && i < n; i++)
    {
      if (i == 8 || i == 13 || i == 18 || i == 23)
        ok = text[i] == '-';
      else
        ok = g_ascii_isxdigit (text[i]);
    }
  if (!ok)
    {
      g_autofree char *q = quote (text);
      return ember_portal_fail (error, what, "%s is not a UUID "
                                "(expected 8-4-4-4-12 hexadecimal digits)", q);
    }
  for (gsize i = 0; i < n; i++)
    id->str[i] = g_ascii_tolower (text[i]);
  return TRUE;
}

gboolean
ember_portal_id_check (const EmberPortalId *id, const char *what, GError **error)
{
  if (memchr (id->str, '\0', sizeof id->str) == NULL)
    return ember_portal_fail (error, what, "id is not NUL-terminated");
  EmberPortalId tmp;
  if (!ember_portal_id_parse (id->str, &tmp, what, error))
    return FALSE;
  if (strcmp (tmp.str, id->str) != 0)
    return ember_portal_fail (error, what, "ids are sent in lower case");
  return TRUE;
}

/* ---- Keys ---------------------------------------------------------------- */

static int
b64_value (char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

gboolean
ember_portal_key_parse (const char *text, EmberPortalKey *key, const char *what, GError **error)
{
  g_return_val_if_fail (text != NULL && key != NULL && what != NULL, FALSE);
  memset (key, 0, sizeof *key);
  /* RFC 4648 §4 canonical form of 32 bytes: 43 characters, one '=', and
   * the last character's two spare bits zero (§3.5), so one key has one
   * spelling. Decoded by hand: g_base64_decode skips invalid input. */
  gsize n = strlen (text);
  if (n != EMBER_PORTAL_KEY_B64_LEN || text[43] != '=')
    return ember_portal_fail (error, what, "expected base64 of 32 bytes "
                              "(44 characters ending in '='), got %" G_GSIZE_FORMAT
                              " characters", n);
  guint32 acc = 0;
  guint bits = 0, out = 0;
  for (gsize i = 0; i < 43; i++)
    {
      int v = b64_value (text[i]);
      if (v < 0)
        return ember_portal_fail (error, what, "character %" G_GSIZE_FORMAT
                                  " is not in the base64 alphabet", i);
      acc = (acc << 6) | (guint32) v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          if (out < EMBER_PORTAL_KEY_LEN)
            key->bytes[out++] = (guint8) (acc >> bits);
          acc &= (1u << bits) - 1;
        }
    }
  gboolean spare_clear = acc == 0;
  acc = 0;
  if (out != EMBER_PORTAL_KEY_LEN || !spare_clear)
    {
      explicit_bzero (key, sizeof *key);
      return ember_portal_fail (error, what, "not canonical base64 (padding bits set)");
    }
  return TRUE;
}

void
ember_portal_key_to_base64 (const EmberPortalKey *key, char out[EMBER_PORTAL_KEY_B64_LEN + 1])
{
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  guint o = 0;
  for (guint i = 0; i < EMBER_PORTAL_KEY_LEN; i += 3)
    {
      guint32 v = (guint32) key->bytes[i] << 16;
      guint take = MIN (3u, EMBER_PORTAL_KEY_LEN - i);
      if (take > 1)
        v |= (guint32) key->bytes[i + 1] << 8;
      if (take > 2)
        v |= key->bytes[i + 2];
      out[o++] = alphabet[(v >> 18) & 63];
      out[o++] = alphabet[(v >> 12) & 63];
      out[o++] = take > 1 ? alphabet[(v >> 6) & 63] : '=';
      out[o++] = take > 2 ? alphabet[v & 63] : '=';
    }
  out[o] = '\0';
}

/* ---- Ports ------------------------------------------------------------- */

static gboolean
parse_port (const char *s, gsize n, guint16 *port)
{
  if (n == 0 || n > 5 || (s[0] == '0'))
    return FALSE;
  guint v = 0;
  for (gsize i = 0; i < n; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      v = v * 10 + (guint) (s[i] - '0');
    }
  if (v < 1 || v > 65535)
    return FALSE;
  *port = (guint16) v;
  return TRUE;
}

gboolean
ember_portal_ports_parse (const char *text, EmberPortalFilter *filter, const char *what,
                          GError **error)
{
  g_return_val_if_fail (text != NULL && filter != NULL && what != NULL, FALSE);
  filter->n_ports = 0;
  if (*text == '\0')
    return ember_portal_fail (error, what, "empty port list (leave \"ports\" out for every port)");
  const char *p = text;
  for (;;)
    {
      const char *end = strchr (p, ',');
      gsize n = end != NULL ? (gsize) (end - p) : strlen (p);
      g_autofree char *item = g_strndup (p, n);
      g_autofree char *q = quote (item);
      if (filter->n_ports == EMBER_PORTAL_MAX_PORT_RANGES)
        return ember_portal_fail (error, what, "more than %d ports or ranges",
                                  EMBER_PORTAL_MAX_PORT_RANGES);
      if (n == 0)
        return ember_portal_fail (error, what, "empty item in the port list");
      const char *dash = memchr (p, '-', n);
      EmberPortalPortRange r;
      if (dash == NULL)
        {
          if (!parse_port (p, n, &r.first))
            return ember_portal_fail (error, what, "%s is not a port 1..65535", q);
          r.last = r.first;
        }
      else
        {
          gsize a = (gsize) (dash - p);
          if (!parse_port (p, a, &r.first) || !parse_port (dash + 1, n - a - 1, &r.last))
            return ember_portal_fail (error, what, "%s is not a range PORT-PORT of ports 1..65535",
                                      q);
          if (r.first > r.last)
            return ember_portal_fail (error, what, "%s: range start %u is above its end %u", q,
                                      r.first, r.last);
        }
      filter->ports[filter->n_ports++] = r;
      if (end == NULL)
        break;
      p = end + 1;
    }
  return TRUE;
}

char *
ember_portal_ports_to_string (const EmberPortalFilter *filter)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < filter->n_ports && i < EMBER_PORTAL_MAX_PORT_RANGES; i++)
    {
      const EmberPortalPortRange *r = &filter->ports[i];
      if (i > 0)
        g_string_append_c (s, ',');
      if (r->first == r->last)
        g_string_append_printf (s, "%u", r->first);
      else
        g_string_append_printf (s, "%u-%u", r->first, r->last);
    }
  return g_string_free (s, FALSE);
}

gboolean
ember_portal_filter_check (const EmberPortalFilter *filter, const char *what, GError **error)
{
  if (filter->protocol != EMBER_PORTAL_PROTOCOL_TCP && filter->protocol != EMBER_PORTAL_PROTOCOL_UDP
      && filter->protocol != EMBER_PORTAL_PROTOCOL_ICMP)
    return ember_portal_fail (error, what, "protocol %d is none of tcp, udp, icmp",
                              (int) filter->protocol);
  if (filter->protocol == EMBER_PORTAL_PROTOCOL_ICMP && filter->n_ports > 0)
    return ember_portal_fail (error, what, "icmp takes no ports");
  if (filter->n_ports > EMBER_PORTAL_MAX_PORT_RANGES)
    return ember_portal_fail (error, what, "more than %d ports or ranges",
                              EMBER_PORTAL_MAX_PORT_RANGES);
  for (guint i = 0; i < filter->n_ports; i++)
    {
      const EmberPortalPortRange *r = &filter->ports[i];
      if (r->first == 0 || r->first > r->last)
        return ember_portal_fail (error, what, "range %u-%u: expected 1 ≤ start ≤ end",
                                  r->first, r->last);
    }
  return TRUE;
}

/* ---- DNS patterns ------------------------------------------------------ */

char *
ember_portal_dns_pattern_parse (const char *text, const char *what, GError **error)
{
  g_autoptr (GError) local = NULL;
  char *pattern = ember_dns_pattern_normalize (text, &local);
  if (pattern == NULL)
    ember_portal_fail (error, what, "%s", local->message);
  return pattern;
}

gboolean
ember_portal_dns_pattern_check (const char *pattern, const char *what, GError **error)
{
  if (pattern == NULL)
    return ember_portal_fail (error, what, "missing (a dns resource needs a name pattern)");
  g_autofree char *normal = ember_portal_dns_pattern_parse (pattern, what, error);
  if (normal == NULL)
    return FALSE;
  if (strcmp (normal, pattern) != 0)
    {
      g_autofree char *q = quote (normal);
      return ember_portal_fail (error, what, "patterns are sent normalized: %s", q);
    }
  return TRUE;
}

/* ---- Addresses ---------------------------------------------------------- */

gboolean
ember_portal_ip_parse (const char *text, EmberAddrFamily family, EmberAddr *addr,
                       const char *what, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (!ember_addr_parse (text, addr, &local))
    return ember_portal_fail (error, what, "%s", local->message);
  if (addr->family != family)
    {
      g_autofree char *q = quote (text);
      memset (addr, 0, sizeof *addr);
      return ember_portal_fail (error, what, "%s is not an %s address", q,
                                family == EMBER_ADDR_IPV4 ? "IPv4" : "IPv6");
    }
  return TRUE;
}

const char *
ember_portal_ip_to_string (const EmberAddr *addr, char buf[EMBER_PORTAL_ADDR_STRLEN])
{
  return ember_addr_format (addr, buf);
}

gboolean
ember_portal_ip_check (const EmberAddr *addr, EmberAddrFamily family, const char *what,
                       GError **error)
{
  if (addr->family != family)
    return ember_portal_fail (error, what, "expected an %s address",
                              family == EMBER_ADDR_IPV4 ? "IPv4" : "IPv6");
  if (addr->port != 0)
    return ember_portal_fail (error, what, "an address here has no port");
  return TRUE;
}

gboolean
ember_portal_endpoint_parse (const char *text, EmberAddrFamily family, EmberAddr *addr,
                             const char *what, GError **error)
{
  memset (addr, 0, sizeof *addr);
  g_autofree char *q = quote (text);
  const char *colon = strrchr (text, ':');
  g_autofree char *ip = NULL;
  if (colon != NULL && family == EMBER_ADDR_IPV6 && text[0] == '[' && colon > text
      && colon[-1] == ']')
    ip = g_strndup (text + 1, (gsize) (colon - text) - 2);
  else if (colon != NULL && family == EMBER_ADDR_IPV4)
    ip = g_strndup (text, (gsize) (colon - text));
  guint16 port = 0;
  if (ip == NULL || !parse_port (colon + 1, strlen (colon + 1), &port))
    return ember_portal_fail (error, what, "%s is not %s", q,
                              family == EMBER_ADDR_IPV4 ? "IPV4:PORT" : "[IPV6]:PORT");
  if (!ember_portal_ip_parse (ip, family, addr, what, error))
    return FALSE;
  addr->port = port;
  return TRUE;
}

const char *
ember_portal_endpoint_to_string (const EmberAddr *addr, char buf[EMBER_PORTAL_ADDR_STRLEN])
{
  char ip[EMBER_PORTAL_ADDR_STRLEN];
  ember_portal_ip_to_string (addr, ip);
  g_snprintf (buf, EMBER_PORTAL_ADDR_STRLEN, addr->family == EMBER_ADDR_IPV6 ? "[%s]:%u" : "%s:%u",
              ip, addr->port);
  return buf;
}

gboolean
ember_portal_endpoint_check (const EmberAddr *addr, EmberAddrFamily family, const char *what,
                             GError **error)
{
  if (addr->family != family)
    return ember_portal_fail (error, what, "expected an %s endpoint",
                              family == EMBER_ADDR_IPV4 ? "IPv4" : "IPv6");
  if (addr->port == 0)
    return ember_portal_fail (error, what, "port 0");
  return TRUE;
}

gboolean
ember_portal_cidr_parse (const char *text, EmberCidr *cidr, const char *what, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (!ember_cidr_parse (text, EMBER_CIDR_PARSE_STRICT, cidr, &local))
    return ember_portal_fail (error, what, "%s", local->message);
  return TRUE;
}

const char *
ember_portal_cidr_to_string (const EmberCidr *cidr, char buf[EMBER_PORTAL_ADDR_STRLEN])
{
  return ember_cidr_format (cidr, buf);
}

gboolean
ember_portal_cidr_check (const EmberCidr *cidr, const char *what, GError **error)
{
  guint bits = ember_addr_family_bits (cidr->family);
  if (bits == 0)
    return ember_portal_fail (error, what, "expected an IPv4 or IPv6 network");
  if (cidr->prefix > bits)
    return ember_portal_fail (error, what, "prefix length %u is too long", cidr->prefix);
  if (ember_cidr_has_host_bits (cidr))
    return ember_portal_fail (error, what, "host bits set");
  return TRUE;
}

/* ---- ICE ----------------------------------------------------------------- */

gboolean
ember_portal_ice_chars_check (const char *text, gsize min, gsize max, const char *what,
                              GError **error)
{
  gsize n = strnlen (text, max + 1);
  if (n < min || n > max)
    return ember_portal_fail (error, what, "expected %" G_GSIZE_FORMAT "..%" G_GSIZE_FORMAT
                              " ice-chars, got %s%" G_GSIZE_FORMAT, min, max,
                              n > max ? "more than " : "", n > max ? max : n);
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isalnum (text[i]) && text[i] != '+' && text[i] != '/')
      return ember_portal_fail (error, what, "character %" G_GSIZE_FORMAT
                                " is not an ice-char (A-Z a-z 0-9 + /)", i);
  return TRUE;
}

gboolean
ember_portal_candidate_parse (const char *text, EmberIceCandidate *cand, const char *what,
                              GError **error)
{
  memset (cand, 0, sizeof *cand);
  if (!g_str_has_prefix (text, "candidate:"))
    {
      g_autofree char *q = quote (text);
      return ember_portal_fail (error, what, "%s does not start with \"candidate:\"", q);
    }
  g_autoptr (GError) local = NULL;
  if (!ember_ice_candidate_from_string (text, cand, &local))
    return ember_portal_fail (error, what, "%s", local->message);
  return TRUE;
}

char *
ember_portal_candidate_to_string (const EmberIceCandidate *cand, const char *what,
                                  GError **error)
{
  if (cand->addr.family != EMBER_ADDR_IPV4 && cand->addr.family != EMBER_ADDR_IPV6)
    {
      ember_portal_fail (error, what, "candidate without an address");
      return NULL;
    }
  if (memchr (cand->foundation, '\0', sizeof cand->foundation) == NULL)
    {
      ember_portal_fail (error, what, "foundation is not NUL-terminated");
      return NULL;
    }
  g_autofree char *text = ember_ice_candidate_to_string (cand);
  EmberIceCandidate back;
  if (!ember_portal_candidate_parse (text, &back, what, error))
    return NULL;
  return g_steal_pointer (&text);
}
