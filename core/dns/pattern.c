/* dns/pattern — matching names against `dns` resource patterns. */
#include "dns/pattern.h"

#include <string.h>

G_DEFINE_QUARK (ember-dns-pattern-error-quark, ember_dns_pattern_error)

#define NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63
#define LABELS_MAX 127

static gboolean
fail (GError **error, const char *pattern, const char *why)
{
  g_set_error (error, EMBER_DNS_PATTERN_ERROR, 0,
               "expected a DNS name pattern (name, ?, *. or **.), got \"%s\": %s", pattern, why);
  return FALSE;
}

char *
ember_dns_pattern_normalize (const char *pattern, GError **error)
{
  g_autofree char *p = NULL;
  g_auto (GStrv) labels = NULL;
  gsize len;
  guint n;

  if (pattern == NULL || *pattern == '\0')
    {
      fail (error, "", "it is empty");
      return NULL;
    }
  p = g_ascii_strdown (pattern, -1);
  len = strlen (p);
  if (len > 1 && p[len - 1] == '.')
    p[--len] = '\0';
  if (len > NAME_MAX_LEN)
    {
      fail (error, pattern, "longer than 253 characters");
      return NULL;
    }
  labels = g_strsplit (p, ".", -1);
  n = g_strv_length (labels);
  for (guint i = 0; i < n; i++)
    {
      const char *l = labels[i];
      gsize ll = strlen (l);

      if (ll == 0)
        {
          fail (error, pattern, "an empty label");
          return NULL;
        }
      if (ll > LABEL_MAX_LEN)
        {
          fail (error, pattern, "a label longer than 63 characters");
          return NULL;
        }
      if (g_str_equal (l, "*") || g_str_equal (l, "**"))
        {
          if (i != 0)
            {
              fail (error, pattern, "a wildcard label is allowed only first");
              return NULL;
            }
          if (n < 2)
            {
              fail (error, pattern, "a wildcard needs a domain after it");
              return NULL;
            }
          continue;
        }
      for (const char *c = l; *c; c++)
        if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_' && *c != '?')
          {
            fail (error, pattern,
                  *c == '*' ? "'*' must be a whole first label (*. or **.)"
                            : "labels hold letters, digits, '-', '_' and '?'");
            return NULL;
          }
    }
  return g_steal_pointer (&p);
}

EmberDnsPatternKind
ember_dns_pattern_kind (const char *pattern)
{
  if (g_str_has_prefix (pattern, "**."))
    return EMBER_DNS_PATTERN_DOUBLE_STAR;
  if (g_str_has_prefix (pattern, "*."))
    return EMBER_DNS_PATTERN_STAR;
  if (strchr (pattern, '?') != NULL)
    return EMBER_DNS_PATTERN_QUESTION;
  return EMBER_DNS_PATTERN_EXACT;
}

static gboolean
label_matches (const char *pat, gsize pl, const char *name, gsize nl)
{
  if (pl != nl)
    return FALSE;
  for (gsize i = 0; i < pl; i++)
    if (pat[i] != '?' && pat[i] != g_ascii_tolower (name[i]))
      return FALSE;
  return TRUE;
}

/* Whether the last labels of `name` (up to `name_end`) equal the pattern
 * `pat` label by label, and how many labels of `name` are left before. */
static gboolean
suffix_matches (const char *pat, const char *name, gsize name_len, guint *left)
{
  gsize pi = strlen (pat), ni = name_len;

  for (;;)
    {
      gsize ps = pi, ns = ni;
      while (ps > 0 && pat[ps - 1] != '.')
        ps--;
      while (ns > 0 && name[ns - 1] != '.')
        ns--;
      if (!label_matches (pat + ps, pi - ps, name + ns, ni - ns))
        return FALSE;
      if (ps == 0)
        {
          guint count = 0;
          if (ns == 0)
            {
              *left = 0;
              return TRUE;
            }
          /* ns - 1 is the dot before the matched part; the rest must be
           * whole non-empty labels. */
          for (gsize i = 0, start = 0; i < ns; i++)
            if (name[i] == '.')
              {
                if (i == start)
                  return FALSE;
                count++;
                start = i + 1;
              }
          *left = count;
          return TRUE;
        }
      if (ns == 0)
        return FALSE;
      pi = ps - 1;
      ni = ns - 1;
    }
}

gboolean
ember_dns_pattern_match (const char *pattern, const char *name)
{
  gsize len;
  guint left = 0;

  if (pattern == NULL || name == NULL)
    return FALSE;
  len = strlen (name);
  if (len > 1 && name[len - 1] == '.')
    len--;
  if (len == 0 || len > NAME_MAX_LEN)
    return FALSE;
  switch (ember_dns_pattern_kind (pattern))
    {
    case EMBER_DNS_PATTERN_DOUBLE_STAR:
      return suffix_matches (pattern + 3, name, len, &left);
    case EMBER_DNS_PATTERN_STAR:
      return suffix_matches (pattern + 2, name, len, &left) && left <= 1;
    case EMBER_DNS_PATTERN_EXACT:
    case EMBER_DNS_PATTERN_QUESTION:
    default:
      return suffix_matches (pattern, name, len, &left) && left == 0;
    }
}

static guint
count_char (const char *s, char c)
{
  guint n = 0;

  for (; *s; s++)
    n += *s == c;
  return n;
}

int
ember_dns_pattern_compare (const char *a, const char *b)
{
  EmberDnsPatternKind ka = ember_dns_pattern_kind (a), kb = ember_dns_pattern_kind (b);
  guint la = count_char (a, '.'), lb = count_char (b, '.');
  guint qa = count_char (a, '?'), qb = count_char (b, '?');

  if (ka != kb)
    return (int) ka - (int) kb;
  if (la != lb)
    return la > lb ? -1 : 1;
  if (qa != qb)
    return qa < qb ? -1 : 1;
  return strcmp (a, b);
}

gssize
ember_dns_pattern_best (const char *const *patterns, gsize n, const char *name)
{
  gssize best = -1;

  for (gsize i = 0; i < n; i++)
    if (ember_dns_pattern_match (patterns[i], name) &&
        (best < 0 || ember_dns_pattern_compare (patterns[i], patterns[best]) < 0))
      best = (gssize) i;
  return best;
}
