/* ice/candidate — see candidate.h. */
#define G_LOG_DOMAIN "ember-ice"

#include "ice/candidate.h"
#include "net/cidr.h"

#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (ember-ice-error-quark, ember_ice_error)

guint64
ember_ice_rng_next (const EmberIceRng *rng)
{
  g_return_val_if_fail (rng != NULL && rng->next != NULL, 0);
  return rng->next (rng->user_data);
}

guint32
ember_ice_rng_below (const EmberIceRng *rng, guint32 n)
{
  g_return_val_if_fail (n > 0, 0);
  /* Lemire-free simple rejection: discard the top partial bucket. */
  guint64 limit = G_MAXUINT64 - (G_MAXUINT64 % n);
  guint64 r;
  do
    r = ember_ice_rng_next (rng);
  while (r >= limit);
  return (guint32) (r % n);
}

const char *
ember_ice_candidate_type_to_string (EmberIceCandidateType type)
{
  switch (type)
    {
    case EMBER_ICE_CANDIDATE_HOST: return "host";
    case EMBER_ICE_CANDIDATE_PRFLX: return "prflx";
    case EMBER_ICE_CANDIDATE_SRFLX: return "srflx";
    case EMBER_ICE_CANDIDATE_RELAY: return "relay";
    default: return "unknown";
    }
}

guint32
ember_ice_type_preference (EmberIceCandidateType type)
{
  switch (type)
    {
    case EMBER_ICE_CANDIDATE_HOST: return EMBER_ICE_TYPE_PREF_HOST;
    case EMBER_ICE_CANDIDATE_PRFLX: return EMBER_ICE_TYPE_PREF_PRFLX;
    case EMBER_ICE_CANDIDATE_SRFLX: return EMBER_ICE_TYPE_PREF_SRFLX;
    case EMBER_ICE_CANDIDATE_RELAY: return EMBER_ICE_TYPE_PREF_RELAY;
    default: return 0;
    }
}

guint32
ember_ice_candidate_priority (EmberIceCandidateType type, guint16 local_pref, guint16 component)
{
  guint32 comp = MIN (MAX (component, 1), 256);
  return (ember_ice_type_preference (type) << 24) + ((guint32) local_pref << 8) + (256 - comp);
}

guint64
ember_ice_pair_priority (guint32 g, guint32 d)
{
  guint64 lo = MIN (g, d), hi = MAX (g, d);
  return (lo << 32) + 2 * hi + (g > d ? 1 : 0);
}

gboolean
ember_ice_addr_is_set (const EmberAddr *a)
{
  return a != NULL && (a->family == EMBER_ADDR_IPV4 || a->family == EMBER_ADDR_IPV6);
}

static gsize
addr_len (const EmberAddr *a)
{
  return a->family == EMBER_ADDR_IPV4 ? 4 : a->family == EMBER_ADDR_IPV6 ? 16 : 0;
}

gboolean
ember_ice_addr_same_ip (const EmberAddr *a, const EmberAddr *b)
{
  return a->family == b->family && memcmp (a->addr, b->addr, addr_len (a)) == 0;
}

gboolean
ember_ice_addr_equal (const EmberAddr *a, const EmberAddr *b)
{
  return ember_ice_addr_same_ip (a, b) && a->port == b->port;
}

const char *
ember_ice_addr_to_string (const EmberAddr *a, char buf[EMBER_ICE_ADDR_STRLEN])
{
  G_STATIC_ASSERT (EMBER_ICE_ADDR_STRLEN >= EMBER_ADDR_PORT_STRLEN);
  if (!ember_ice_addr_is_set (a))
    {
      g_strlcpy (buf, "none", EMBER_ICE_ADDR_STRLEN);
      return buf;
    }
  return ember_addr_format_port (a, buf);
}

gboolean
ember_ice_addr_parse_ip (const char *ip, guint16 port, EmberAddr *addr)
{
  if (!ember_addr_parse (ip, addr, NULL))
    return FALSE;
  addr->port = port;
  return TRUE;
}

static guint32
fnv1a (guint32 h, const guint8 *p, gsize n)
{
  for (gsize i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

void
ember_ice_candidate_init_local (EmberIceCandidate *cand, EmberIceCandidateType type,
                                const EmberAddr *addr, const EmberAddr *base,
                                const EmberAddr *server)
{
  memset (cand, 0, sizeof *cand);
  cand->type = type;
  cand->addr = *addr;
  cand->base = base != NULL ? *base : *addr;
  guint16 local_pref = addr->family == EMBER_ADDR_IPV6 ? EMBER_ICE_LOCAL_PREF_IPV6
                                                       : EMBER_ICE_LOCAL_PREF_IPV4;
  cand->priority = ember_ice_candidate_priority (type, local_pref, EMBER_ICE_COMPONENT);
  /* RFC 8445 §5.1.1.3: same type, base IP and server IP share a
   * foundation, so frozen pairs of one foundation thaw together. */
  guint8 t = (guint8) type;
  guint32 h = fnv1a (2166136261u, &t, 1);
  h = fnv1a (h, &cand->base.family, 1);
  h = fnv1a (h, cand->base.addr, addr_len (&cand->base));
  if (server != NULL && ember_ice_addr_is_set (server))
    {
      h = fnv1a (h, &server->family, 1);
      h = fnv1a (h, server->addr, addr_len (server));
    }
  g_snprintf (cand->foundation, sizeof cand->foundation, "%u", h);
}

char *
ember_ice_candidate_to_string (const EmberIceCandidate *cand)
{
  char ip[EMBER_ADDR_STRLEN], rip[EMBER_ADDR_STRLEN];
  ember_addr_format (&cand->addr, ip);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "candidate:%s %d udp %u %s %u typ %s", cand->foundation,
                          EMBER_ICE_COMPONENT, cand->priority, ip, cand->addr.port,
                          ember_ice_candidate_type_to_string (cand->type));
  if (cand->type != EMBER_ICE_CANDIDATE_HOST && ember_ice_addr_is_set (&cand->base))
    {
      ember_addr_format (&cand->base, rip);
      g_string_append_printf (s, " raddr %s rport %u", rip, cand->base.port);
    }
  return g_string_free (s, FALSE);
}

static gboolean
parse_uint (const char *s, guint64 max, guint64 *out)
{
  if (s == NULL || *s == '\0' || !g_ascii_isdigit (*s))
    return FALSE;
  char *end = NULL;
  guint64 v = g_ascii_strtoull (s, &end, 10);
  if (end == NULL || *end != '\0' || v > max)
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean
fail (GError **error, const char *text, const char *why)
{
  g_set_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_PARSE, "candidate \"%.80s\": %s", text,
               why);
  return FALSE;
}

gboolean
ember_ice_candidate_from_string (const char *text, EmberIceCandidate *cand, GError **error)
{
  g_return_val_if_fail (text != NULL && cand != NULL, FALSE);
  memset (cand, 0, sizeof *cand);
  const char *p = text;
  if (g_str_has_prefix (p, "a="))
    p += 2;
  if (g_str_has_prefix (p, "candidate:"))
    p += strlen ("candidate:");
  if (strlen (p) > 512)
    return fail (error, text, "too long");

  g_auto (GStrv) tok = g_strsplit (p, " ", 32);
  guint n = g_strv_length (tok);
  if (n < 8)
    return fail (error, text, "expected at least 8 fields");
  gsize flen = strlen (tok[0]);
  if (flen == 0 || flen >= EMBER_ICE_FOUNDATION_MAX)
    return fail (error, text, "foundation must be 1..32 characters");
  for (gsize i = 0; i < flen; i++)
    if (!g_ascii_isalnum (tok[0][i]) && tok[0][i] != '+' && tok[0][i] != '/')
      return fail (error, text, "foundation must be ice-chars");
  memcpy (cand->foundation, tok[0], flen + 1);

  guint64 v;
  if (!parse_uint (tok[1], 256, &v) || v != EMBER_ICE_COMPONENT)
    return fail (error, text, "component must be 1");
  if (g_ascii_strcasecmp (tok[2], "udp") != 0)
    return fail (error, text, "transport must be udp");
  if (!parse_uint (tok[3], G_MAXUINT32, &v) || v == 0)
    return fail (error, text, "priority must be 1..2^32-1");
  cand->priority = (guint32) v;
  guint64 port;
  if (!parse_uint (tok[5], 65535, &port) || port == 0)
    return fail (error, text, "port must be 1..65535");
  if (!ember_ice_addr_parse_ip (tok[4], (guint16) port, &cand->addr))
    return fail (error, text, "connection address must be an IP literal");
  if (strcmp (tok[6], "typ") != 0)
    return fail (error, text, "expected \"typ\"");
  if (strcmp (tok[7], "host") == 0)
    cand->type = EMBER_ICE_CANDIDATE_HOST;
  else if (strcmp (tok[7], "srflx") == 0)
    cand->type = EMBER_ICE_CANDIDATE_SRFLX;
  else if (strcmp (tok[7], "prflx") == 0)
    cand->type = EMBER_ICE_CANDIDATE_PRFLX;
  else if (strcmp (tok[7], "relay") == 0)
    cand->type = EMBER_ICE_CANDIDATE_RELAY;
  else
    return fail (error, text, "unknown candidate type");

  /* RFC 8839 §5.1: extension attributes are name/value pairs; only
   * raddr/rport are understood, the rest are skipped. */
  const char *raddr = NULL;
  guint64 rport = 0;
  for (guint i = 8; i + 1 < n; i += 2)
    {
      if (strcmp (tok[i], "raddr") == 0)
        raddr = tok[i + 1];
      else if (strcmp (tok[i], "rport") == 0 && !parse_uint (tok[i + 1], 65535, &rport))
        return fail (error, text, "rport must be 0..65535");
    }
  if ((n - 8) % 2 != 0)
    return fail (error, text, "extension attribute without value");
  if (raddr != NULL && !ember_ice_addr_parse_ip (raddr, (guint16) rport, &cand->base))
    return fail (error, text, "raddr must be an IP literal");
  return TRUE;
}

static gboolean
host_address_usable (const EmberAddr *a)
{
  static const guint8 zero[16] = { 0 };
  if (a->family == EMBER_ADDR_IPV4)
    return memcmp (a->addr, zero, 4) != 0 && a->addr[0] != 127 && (a->addr[0] & 0xf0) != 0xe0
           && !(a->addr[0] == 255 && a->addr[1] == 255 && a->addr[2] == 255 && a->addr[3] == 255);
  if (a->family == EMBER_ADDR_IPV6)
    {
      static const guint8 loop6[16] = { [15] = 1 };
      if (memcmp (a->addr, zero, 16) == 0 || memcmp (a->addr, loop6, 16) == 0)
        return FALSE;
      if (a->addr[0] == 0xff)                                  /* multicast */
        return FALSE;
      if (a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80)   /* fe80::/10 */
        return FALSE;
      return TRUE;
    }
  return FALSE;
}

guint
ember_ice_filter_host_addresses (const EmberAddr *in, guint n_in, const EmberAddr *exclude,
                                 guint n_exclude, EmberAddr *out, guint max)
{
  guint n_out = 0;
  for (guint i = 0; i < n_in && n_out < max; i++)
    {
      if (!host_address_usable (&in[i]))
        continue;
      gboolean skip = FALSE;
      for (guint j = 0; j < n_exclude && !skip; j++)
        skip = ember_ice_addr_same_ip (&in[i], &exclude[j]);
      for (guint j = 0; j < n_out && !skip; j++)
        skip = ember_ice_addr_equal (&in[i], &out[j]);
      if (!skip)
        out[n_out++] = in[i];
    }
  return n_out;
}

gint
ember_ice_sample_relay (const EmberIceRng *rng, guint n_relays)
{
  if (n_relays == 0)
    return -1;
  return (gint) ember_ice_rng_below (rng, n_relays);
}
