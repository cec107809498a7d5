/* net/cidr.c — address and prefix parsing, formatting, matching. */
#include "net/cidr.h"

#include <string.h>

#ifdef G_OS_WIN32
/* The Windows cross build (tun-wintun): the same calls live in Winsock. */
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#endif

G_DEFINE_QUARK (ember-net-error-quark, ember_net_error)

/* Longest text worth handing to inet_pton(): a full IPv6 address with a
 * dotted IPv4 tail is 45 characters. */
#define ADDR_TEXT_MAX 45

guint
ember_addr_family_bits (guint family)
{
  return family == EMBER_ADDR_IPV4 ? 32 : family == EMBER_ADDR_IPV6 ? 128 : 0;
}

/* The text as it goes into an error message: escaped (it may come from a
 * file or the network) and cut, so a megabyte of junk stays one line. */
static char *
quote (const char *text)
{
  g_autofree char *cut = g_strndup (text, 64);
  g_autofree char *esc = g_strescape (cut, NULL);
  return g_strdup_printf ("\"%s\"%s", esc, strlen (text) > 64 ? "..." : "");
}

static gboolean
fail (GError **error, EmberNetError code, const char *text, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, EmberNetError code, const char *text, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *q = quote (text);
  g_autofree char *what = NULL;

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_NET_ERROR, (gint) code, "%s: %s", q, what);
  return FALSE;
}

/* Parses the address part [start, start + len) of `text`. */
static gboolean
parse_addr (const char *text, const char *start, gsize len, guint8 *family, guint8 addr[16],
            GError **error)
{
  char buf[ADDR_TEXT_MAX + 1];

  if (len == 0)
    return fail (error, EMBER_NET_ERROR_ADDRESS, text, "expected an IPv4 or IPv6 address");
  for (gsize i = 0; i < len; i++)
    {
      if (g_ascii_isspace (start[i]))
        return fail (error, EMBER_NET_ERROR_ADDRESS, text,
                     "white space inside an address (expected an IPv4 or IPv6 address)");
      if (start[i] == '%')
        return fail (error, EMBER_NET_ERROR_ADDRESS, text,
                     "a zone index (%%...) is not allowed here (expected an IPv4 or IPv6 "
                     "address without one)");
    }
  memset (addr, 0, 16);
  if (len <= ADDR_TEXT_MAX)
    {
      memcpy (buf, start, len);
      buf[len] = '\0';
      /* glibc's inet_pton() refuses octets with leading zeros, in both
       * families; tests/net checks that the C library at hand does too. */
      if (memchr (buf, ':', len) == NULL)
        {
          if (inet_pton (AF_INET, buf, addr) == 1)
            {
              *family = EMBER_ADDR_IPV4;
              return TRUE;
            }
        }
      else if (inet_pton (AF_INET6, buf, addr) == 1)
        {
          *family = EMBER_ADDR_IPV6;
          return TRUE;
        }
    }
  memset (addr, 0, 16);
  return fail (error, EMBER_NET_ERROR_ADDRESS, text,
               "expected an IPv4 address (four decimal numbers 0-255 without leading zeros) "
               "or an IPv6 address");
}

gboolean
ember_cidr_parse (const char *text, EmberCidrParseFlags flags, EmberCidr *out, GError **error)
{
  const char *slash;
  guint max, prefix = 0;

  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (!((flags & EMBER_CIDR_PARSE_MASK_HOST_BITS) &&
                          (flags & EMBER_CIDR_PARSE_KEEP_HOST_BITS)), FALSE);
  memset (out, 0, sizeof *out);
  if (text == NULL)
    text = "";

  slash = strchr (text, '/');
  if (!parse_addr (text, text, slash != NULL ? (gsize) (slash - text) : strlen (text),
                   &out->family, out->addr, error))
    {
      memset (out, 0, sizeof *out);
      return FALSE;
    }
  max = ember_addr_family_bits (out->family);

  if (slash == NULL)
    {
      if (!(flags & EMBER_CIDR_PARSE_BARE))
        {
          memset (out, 0, sizeof *out);
          return fail (error, EMBER_NET_ERROR_PREFIX, text,
                       "expected ADDRESS/LENGTH with a prefix length from 0 to %u", max);
        }
      out->prefix = (guint8) max;
      return TRUE;
    }

  const char *p = slash + 1;
  gsize n = strlen (p);
  gboolean digits = n > 0 && n <= 3;
  for (gsize i = 0; digits && i < n; i++)
    digits = g_ascii_isdigit (p[i]);
  if (!digits || (n > 1 && p[0] == '0'))
    {
      memset (out, 0, sizeof *out);
      return fail (error, EMBER_NET_ERROR_PREFIX, text,
                   "expected a prefix length from 0 to %u after \"/\" (decimal, no sign, no "
                   "leading zero)", max);
    }
  for (gsize i = 0; i < n; i++)
    prefix = prefix * 10 + (guint) (p[i] - '0');
  if (prefix > max)
    {
      guint family = out->family;
      memset (out, 0, sizeof *out);
      return fail (error, EMBER_NET_ERROR_PREFIX, text,
                   "prefix length %u is too long for an IPv%u address (expected 0 to %u)",
                   prefix, family, max);
    }
  out->prefix = (guint8) prefix;

  if (flags & EMBER_CIDR_PARSE_MASK_HOST_BITS)
    ember_cidr_mask (out);
  else if (!(flags & EMBER_CIDR_PARSE_KEEP_HOST_BITS) && ember_cidr_has_host_bits (out))
    {
      char net[EMBER_CIDR_STRLEN];
      EmberCidr masked = *out;
      ember_cidr_mask (&masked);
      memset (out, 0, sizeof *out);
      return fail (error, EMBER_NET_ERROR_HOST_BITS, text,
                   "has host bits set (expected the network address, %s)",
                   ember_cidr_format (&masked, net));
    }
  return TRUE;
}

gboolean
ember_cidr_init (EmberCidr *out, guint family, const guint8 *addr, guint prefix)
{
  guint bits = ember_addr_family_bits (family);

  memset (out, 0, sizeof *out);
  if (bits == 0 || prefix > bits)
    return FALSE;
  out->family = (guint8) family;
  out->prefix = (guint8) prefix;
  memcpy (out->addr, addr, bits / 8);
  return TRUE;
}

const char *
ember_cidr_format (const EmberCidr *cidr, char buf[EMBER_CIDR_STRLEN])
{
  EmberAddr a = { .family = cidr->family };

  memcpy (a.addr, cidr->addr, sizeof a.addr);
  ember_addr_format (&a, buf);
  if (ember_addr_family_bits (cidr->family) != 0)
    g_snprintf (buf + strlen (buf), (gulong) (EMBER_CIDR_STRLEN - strlen (buf)), "/%u", cidr->prefix);
  return buf;
}

char *
ember_cidr_to_string (const EmberCidr *cidr)
{
  char buf[EMBER_CIDR_STRLEN];
  return g_strdup (ember_cidr_format (cidr, buf));
}

gboolean
ember_cidr_contains (const EmberCidr *cidr, guint family, const guint8 *addr)
{
  guint full = cidr->prefix / 8u, rest = cidr->prefix % 8u;

  if (cidr->family != family || cidr->prefix > ember_addr_family_bits (family))
    return FALSE;
  if (memcmp (cidr->addr, addr, full) != 0)
    return FALSE;
  if (rest == 0)
    return TRUE;
  return ((cidr->addr[full] ^ addr[full]) & (guint8) (0xff << (8 - rest))) == 0;
}

gboolean
ember_cidr_contains_addr (const EmberCidr *cidr, const EmberAddr *addr)
{
  return ember_cidr_contains (cidr, addr->family, addr->addr);
}

gboolean
ember_cidr_covers (const EmberCidr *outer, const EmberCidr *inner)
{
  return outer->family == inner->family && outer->prefix <= inner->prefix &&
         ember_cidr_contains (outer, inner->family, inner->addr);
}

gboolean
ember_cidr_equal (const EmberCidr *a, const EmberCidr *b)
{
  return a->family == b->family && a->prefix == b->prefix &&
         memcmp (a->addr, b->addr, sizeof a->addr) == 0;
}

gboolean
ember_cidr_has_host_bits (const EmberCidr *cidr)
{
  EmberCidr m = *cidr;
  ember_cidr_mask (&m);
  return memcmp (m.addr, cidr->addr, sizeof m.addr) != 0;
}

void
ember_cidr_mask (EmberCidr *cidr)
{
  guint full = MIN (cidr->prefix, 128u) / 8u, rest = cidr->prefix % 8u;

  if (full < 16)
    {
      if (rest != 0)
        cidr->addr[full++] &= (guint8) (0xff << (8 - rest));
      memset (cidr->addr + full, 0, 16 - full);
    }
}

gboolean
ember_addr_parse (const char *text, EmberAddr *out, GError **error)
{
  g_return_val_if_fail (out != NULL, FALSE);
  memset (out, 0, sizeof *out);
  if (text == NULL)
    text = "";
  if (strchr (text, '/') != NULL)
    return fail (error, EMBER_NET_ERROR_ADDRESS, text,
                 "expected an IPv4 or IPv6 address without a /prefix");
  if (!parse_addr (text, text, strlen (text), &out->family, out->addr, error))
    {
      memset (out, 0, sizeof *out);
      return FALSE;
    }
  return TRUE;
}

gboolean
ember_addr_parse_port (const char *text, EmberAddr *out, GError **error)
{
  const char *host, *colon, *p;
  gsize host_len, n;
  guint port = 0;

  g_return_val_if_fail (out != NULL, FALSE);
  memset (out, 0, sizeof *out);
  if (text == NULL)
    text = "";
  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');
      if (close == NULL || close[1] != ':')
        return fail (error, EMBER_NET_ERROR_ADDRESS, text,
                     "expected [IPv6 address]:port or IPv4 address:port");
      host = text + 1;
      host_len = (gsize) (close - host);
      colon = close + 1;
    }
  else
    {
      colon = strchr (text, ':');
      if (colon == NULL || strchr (colon + 1, ':') != NULL)
        return fail (error, EMBER_NET_ERROR_ADDRESS, text,
                     "expected IPv4 address:port or [IPv6 address]:port");
      host = text;
      host_len = (gsize) (colon - text);
    }
  if (!parse_addr (text, host, host_len, &out->family, out->addr, error))
    {
      memset (out, 0, sizeof *out);
      return FALSE;
    }
  if ((text[0] == '[') != (out->family == EMBER_ADDR_IPV6))
    {
      memset (out, 0, sizeof *out);
      return fail (error, EMBER_NET_ERROR_ADDRESS, text,
                   "brackets go around an IPv6 address, and only there");
    }
  p = colon + 1;
  n = strlen (p);
  gboolean digits = n > 0 && n <= 5 && p[0] != '0';
  for (gsize i = 0; digits && i < n; i++)
    digits = g_ascii_isdigit (p[i]);
  for (gsize i = 0; digits && i < n; i++)
    port = port * 10 + (guint) (p[i] - '0');
  if (!digits || port > 65535)
    {
      memset (out, 0, sizeof *out);
      return fail (error, EMBER_NET_ERROR_PORT, text,
                   "expected a port from 1 to 65535 after the address");
    }
  out->port = (guint16) port;
  return TRUE;
}

const char *
ember_addr_format_port (const EmberAddr *addr, char buf[EMBER_ADDR_PORT_STRLEN])
{
  char ip[EMBER_ADDR_STRLEN];

  if (addr->family == EMBER_ADDR_IPV4)
    g_snprintf (buf, EMBER_ADDR_PORT_STRLEN, "%s:%u", ember_addr_format (addr, ip), addr->port);
  else if (addr->family == EMBER_ADDR_IPV6)
    g_snprintf (buf, EMBER_ADDR_PORT_STRLEN, "[%s]:%u", ember_addr_format (addr, ip), addr->port);
  else
    g_strlcpy (buf, "invalid", EMBER_ADDR_PORT_STRLEN);
  return buf;
}

const char *
ember_addr_format (const EmberAddr *addr, char buf[EMBER_ADDR_STRLEN])
{
  if (addr->family == EMBER_ADDR_IPV4)
    g_snprintf (buf, EMBER_ADDR_STRLEN, "%u.%u.%u.%u", addr->addr[0], addr->addr[1],
                addr->addr[2], addr->addr[3]);
  else if (addr->family != EMBER_ADDR_IPV6 ||
           inet_ntop (AF_INET6, addr->addr, buf, EMBER_ADDR_STRLEN) == NULL)
    g_strlcpy (buf, "invalid", EMBER_ADDR_STRLEN);
  return buf;
}
