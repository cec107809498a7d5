/* portal/syntax — RFC 8259 syntax check of a frame's text. */
#include "portal/syntax.h"

#include <string.h>

/* The member names of the objects being scanned, one row per level, to
 * refuse duplicates (json-glib keeps the last one silently). */
#define MEMBERS_MAX 16

typedef struct {
  const char *name;
  gsize len;
} Name;

typedef struct {
  const char *start, *p, *end;
  guint depth, max_depth;
  const char *why;
  Name names[EMBER_PORTAL_SYNTAX_DEPTH_MAX][MEMBERS_MAX];
  guint n_names[EMBER_PORTAL_SYNTAX_DEPTH_MAX];
} Scan;

static gboolean
fail (Scan *s, const char *why)
{
  s->why = why;
  return FALSE;
}

static void
skip_ws (Scan *s)
{
  /* RFC 8259 §2: space, tab, line feed, carriage return. */
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static gboolean
expect (Scan *s, char c, const char *why)
{
  if (s->p >= s->end || *s->p != c)
    return fail (s, why);
  s->p++;
  return TRUE;
}

/* RFC 8259 §7. */
static gboolean
string (Scan *s)
{
  if (!expect (s, '"', "expected a string"))
    return FALSE;
  while (s->p < s->end)
    {
      guchar c = (guchar) *s->p;
      if (c == '"')
        {
          s->p++;
          return TRUE;
        }
      if (c < 0x20)
        return fail (s, "control character inside a string");
      if (c != '\\')
        {
          s->p++;
          continue;
        }
      if (s->end - s->p < 2)
        break;
      char e = s->p[1];
      s->p += 2;
      if (strchr ("\"\\/bfnrt", e) != NULL && e != '\0')
        continue;
      if (e != 'u')
        return fail (s, "invalid escape inside a string");
      if (s->end - s->p < 4)
        break;
      for (guint i = 0; i < 4; i++)
        if (!g_ascii_isxdigit (s->p[i]))
          return fail (s, "invalid \\u escape");
      if (memcmp (s->p, "0000", 4) == 0)
        return fail (s, "escaped NUL (\\u0000) inside a string");
      s->p += 4;
    }
  return fail (s, "unterminated string");
}

static gboolean
digits (Scan *s)
{
  const char *from = s->p;
  while (s->p < s->end && g_ascii_isdigit (*s->p))
    s->p++;
  return s->p > from;
}

/* RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static gboolean
number (Scan *s)
{
  if (s->p < s->end && *s->p == '-')
    s->p++;
  if (s->p < s->end && *s->p == '0')
    {
      s->p++;
      if (s->p < s->end && g_ascii_isdigit (*s->p))
        return fail (s, "number with a leading zero");
    }
  else if (!digits (s))
    return fail (s, "expected a value");
  if (s->p < s->end && *s->p == '.')
    {
      s->p++;
      if (!digits (s))
        return fail (s, "expected digits after '.'");
    }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
    {
      s->p++;
      if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
        s->p++;
      if (!digits (s))
        return fail (s, "expected digits in the exponent");
    }
  return TRUE;
}

static gboolean
literal (Scan *s, const char *word)
{
  gsize n = strlen (word);
  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return fail (s, "expected a value");
  s->p += n;
  return TRUE;
}

/* An object member's name: plain (no escape, so two spellings cannot
 * name one member), new in its object, and at most MEMBERS_MAX of them. */
static gboolean
member_name (Scan *s)
{
  const char *from = s->p + 1;
  if (!string (s))
    return FALSE;
  gsize len = (gsize) (s->p - 1 - from);
  if (memchr (from, '\\', len) != NULL)
    return fail (s, "escape in a member name");
  guint level = s->depth - 1;
  for (guint i = 0; i < s->n_names[level]; i++)
    if (s->names[level][i].len == len && memcmp (s->names[level][i].name, from, len) == 0)
      return fail (s, "member given twice in one object");
  if (s->n_names[level] == MEMBERS_MAX)
    return fail (s, "object with more than " G_STRINGIFY (MEMBERS_MAX) " members");
  s->names[level][s->n_names[level]++] = (Name) { from, len };
  return TRUE;
}

static gboolean value (Scan *s);

/* Recursion is bounded by max_depth. */
static gboolean
container (Scan *s, char close)
{
  if (++s->depth > s->max_depth)
    return fail (s, "arrays and objects nest too deep");
  s->n_names[s->depth - 1] = 0;
  s->p++;
  skip_ws (s);
  if (s->p < s->end && *s->p == close)
    {
      s->p++;
      s->depth--;
      return TRUE;
    }
  for (;;)
    {
      if (close == '}')
        {
          if (!member_name (s))
            return FALSE;
          skip_ws (s);
          if (!expect (s, ':', "expected ':' after a member name"))
            return FALSE;
          skip_ws (s);
        }
      if (!value (s))
        return FALSE;
      skip_ws (s);
      if (s->p < s->end && *s->p == ',')
        {
          s->p++;
          skip_ws (s);
          continue;
        }
      if (!expect (s, close, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'"))
        return FALSE;
      s->depth--;
      return TRUE;
    }
}

static gboolean
value (Scan *s)
{
  if (s->p >= s->end)
    return fail (s, "expected a value");
  switch (*s->p)
    {
    case '{':
      return container (s, '}');
    case '[':
      return container (s, ']');
    case '"':
      return string (s);
    case 't':
      return literal (s, "true");
    case 'f':
      return literal (s, "false");
    case 'n':
      return literal (s, "null");
    default:
      return number (s);
    }
}

gboolean
ember_portal_json_syntax_check (const char *text, gsize len, guint max_depth, const char **why,
                                gsize *offset)
{
  g_return_val_if_fail (max_depth <= EMBER_PORTAL_SYNTAX_DEPTH_MAX, FALSE);
  /* The names table makes this about 4 KiB of stack. */
  Scan s;
  s.start = s.p = text;
  s.end = text + len;
  s.depth = 0;
  s.max_depth = max_depth;
  s.why = NULL;
  skip_ws (&s);
  gboolean ok = value (&s);
  if (ok)
    {
      skip_ws (&s);
      if (s.p != s.end)
        ok = fail (&s, "text after the JSON value");
    }
  if (!ok)
    {
      *why = s.why;
      *offset = (gsize) (s.p - s.start);
    }
  return ok;
}
