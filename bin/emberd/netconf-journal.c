/* netconf-journal — netconf's journal format. See netconf-journal.h. */
#include "netconf-journal.h"

#include <linux/rtnetlink.h>
#include <string.h>

#include "netconf.h"

/* Longest line accepted: far more than any object needs, so that a
 * garbage file is refused quickly instead of being split at length. */
#define MAX_LINE 512

/* The error domain of netconf as a whole; defined here, in the pure part,
 * so that the journal parser links on its own (fuzz target). */
G_DEFINE_QUARK (ember-netconf-error-quark, ember_netconf_error)

static gboolean
line_error (GError **error, guint lineno, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
line_error (GError **error, guint lineno, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, EMBER_NETCONF_ERROR, EMBER_NETCONF_ERROR_JOURNAL, "line %u: %s", lineno,
               msg);
  return FALSE;
}

/* Decimal u32 without sign, leading zero or trailing junk. */
static gboolean
parse_u32 (const char *text, guint32 *out)
{
  if (text[0] < '0' || text[0] > '9' || (text[0] == '0' && text[1] != '\0'))
    return FALSE;
  guint64 v = 0;
  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p < '0' || *p > '9')
        return FALSE;
      v = v * 10 + (guint64) (*p - '0');
      if (v > G_MAXUINT32)
        return FALSE;
    }
  *out = (guint32) v;
  return TRUE;
}

/* dev=INDEX:NAME; names as the kernel allows them (1-15 bytes, no '/',
 * ':' or white space). */
static gboolean
parse_dev (const char *text, EmberNetconfObj *obj)
{
  const char *colon = strchr (text, ':');
  if (colon == NULL)
    return FALSE;
  g_autofree char *index = g_strndup (text, (gsize) (colon - text));
  const char *name = colon + 1;
  gsize len = strlen (name);
  if (!parse_u32 (index, &obj->ifindex) || obj->ifindex == 0 || len == 0
      || len >= sizeof obj->ifname)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (*p == '/' || *p == ':' || g_ascii_isspace (*p) || !g_ascii_isprint (*p))
      return FALSE;
  memcpy (obj->ifname, name, len + 1);
  return TRUE;
}

/* A sysctl name under /proc/sys, dotted: letters, digits, '_', '-', '.'
 * and no empty component, so that it can never name a path outside. */
static gboolean
valid_sysctl_key (const char *key)
{
  gsize len = strlen (key);
  if (len == 0 || len >= sizeof ((EmberNetconfObj *) NULL)->sysctl_key || key[0] == '.'
      || key[len - 1] == '.' || strstr (key, "..") != NULL)
    return FALSE;
  for (const char *p = key; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      return FALSE;
  return TRUE;
}

static gboolean
valid_sysctl_value (const char *v)
{
  gsize len = strlen (v);
  if (len == 0 || len >= sizeof ((EmberNetconfObj *) NULL)->sysctl_was)
    return FALSE;
  for (const char *p = v; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-')
      return FALSE;
  return TRUE;
}

typedef enum {
  K_DEV = 1 << 0,
  K_LOCAL = 1 << 1,
  K_DST = 1 << 2,
  K_TABLE = 1 << 3,
  K_FAMILY = 1 << 4,
  K_PRIORITY = 1 << 5,
  K_NOT_FWMARK = 1 << 6,
  K_SUPPRESS = 1 << 7,
  K_KEY = 1 << 8,
  K_WAS = 1 << 9,
  K_SET = 1 << 10,
  K_NAME = 1 << 11,
} KeyBit;

static const struct {
  const char *name;
  KeyBit bit;
} keys[] = {
  { "dev", K_DEV },           { "local", K_LOCAL },       { "dst", K_DST },
  { "table", K_TABLE },       { "family", K_FAMILY },     { "priority", K_PRIORITY },
  { "not-fwmark", K_NOT_FWMARK }, { "suppress-prefixlength", K_SUPPRESS },
  { "key", K_KEY },           { "was", K_WAS },           { "set", K_SET },
  { "name", K_NAME },
};

static gboolean
parse_value (EmberNetconfObj *obj, KeyBit bit, const char *key, const char *value,
             guint lineno, GError **error)
{
  g_autoptr (GError) local = NULL;
  guint32 v = 0;
  switch (bit)
    {
    case K_DEV:
      if (!parse_dev (value, obj))
        return line_error (error, lineno, "dev: expected INDEX:IFNAME, got \"%.32s\"", value);
      return TRUE;
    case K_LOCAL:
    case K_DST:
      if (!ember_cidr_parse (value,
                             bit == K_LOCAL ? EMBER_CIDR_PARSE_KEEP_HOST_BITS
                                            : EMBER_CIDR_PARSE_STRICT,
                             &obj->cidr, &local))
        return line_error (error, lineno, "%s: %s", key, local->message);
      return TRUE;
    case K_KEY:
      if (!valid_sysctl_key (value))
        return line_error (error, lineno, "key: not a sysctl name: \"%.32s\"", value);
      g_strlcpy (obj->sysctl_key, value, sizeof obj->sysctl_key);
      return TRUE;
    case K_NAME:
      {
        gsize len = strlen (value);
        gboolean ok = len > 0 && len < sizeof obj->nft_table;
        for (const char *p = value; ok && *p != '\0'; p++)
          ok = g_ascii_isalnum (*p) || *p == '_';
        if (!ok)
          return line_error (error, lineno, "name: not an nftables table name of Ember's: "
                             "\"%.32s\"", value);
        g_strlcpy (obj->nft_table, value, sizeof obj->nft_table);
        return TRUE;
      }
    case K_WAS:
    case K_SET:
      if (!valid_sysctl_value (value))
        return line_error (error, lineno, "%s: not a sysctl value: \"%.32s\"", key, value);
      g_strlcpy (bit == K_WAS ? obj->sysctl_was : obj->sysctl_set, value,
                 sizeof obj->sysctl_was);
      return TRUE;
    default:
      break;
    }
  if (!parse_u32 (value, &v))
    return line_error (error, lineno, "%s: expected a decimal number, got \"%.32s\"", key, value);
  switch (bit)
    {
    case K_TABLE:
      if (v == 0)
        return line_error (error, lineno, "table: 0 is not a table");
      obj->table = v;
      break;
    case K_FAMILY:
      if (v != 4 && v != 6)
        return line_error (error, lineno, "family: expected 4 or 6, got %u", v);
      obj->family = (guint8) v;
      break;
    case K_PRIORITY:
      obj->priority = v;
      break;
    case K_NOT_FWMARK:
      if (v == 0)
        return line_error (error, lineno, "not-fwmark: 0 is not a mark");
      obj->fwmark = v;
      obj->invert_fwmark = TRUE;
      break;
    case K_SUPPRESS:
      if (v > 128)
        return line_error (error, lineno, "suppress-prefixlength: %u is longer than 128", v);
      obj->suppress_prefixlen = (gint32) v;
      break;
    default:
      g_assert_not_reached ();
    }
  return TRUE;
}

static const struct {
  const char *name;
  EmberNetconfObjKind kind;
  guint required;
  guint allowed;
} kinds[] = {
  { "address", EMBER_NETCONF_OBJ_ADDRESS, K_DEV | K_LOCAL, K_DEV | K_LOCAL },
  { "route", EMBER_NETCONF_OBJ_ROUTE, K_DEV | K_TABLE | K_DST, K_DEV | K_TABLE | K_DST },
  { "rule", EMBER_NETCONF_OBJ_RULE, K_FAMILY | K_PRIORITY | K_TABLE,
    K_FAMILY | K_PRIORITY | K_TABLE | K_NOT_FWMARK | K_SUPPRESS },
  { "sysctl", EMBER_NETCONF_OBJ_SYSCTL, K_KEY | K_WAS | K_SET, K_KEY | K_WAS | K_SET },
  { "nft-table", EMBER_NETCONF_OBJ_NFT_TABLE, K_FAMILY | K_NAME, K_FAMILY | K_NAME },
};

static const char *
key_name (KeyBit bit)
{
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    if (keys[i].bit == bit)
      return keys[i].name;
  return "?";
}

static gboolean
parse_line (const char *line, guint lineno, EmberNetconfObj *obj, GError **error)
{
  memset (obj, 0, sizeof *obj);
  obj->suppress_prefixlen = -1;
  if (line[0] == '\0')
    return line_error (error, lineno, "empty line");
  g_auto (GStrv) words = g_strsplit (line, " ", -1);
  gsize k;
  for (k = 0; k < G_N_ELEMENTS (kinds); k++)
    if (strcmp (words[0], kinds[k].name) == 0)
      break;
  if (k == G_N_ELEMENTS (kinds))
    return line_error (error, lineno, "unknown object \"%.32s\" (expected address, route, rule, "
                       "sysctl or nft-table)", words[0]);
  obj->kind = kinds[k].kind;

  guint seen = 0;
  for (guint i = 1; words[i] != NULL; i++)
    {
      const char *eq = strchr (words[i], '=');
      if (words[i][0] == '\0')
        return line_error (error, lineno, "empty field (two spaces in a row)");
      if (eq == NULL)
        return line_error (error, lineno, "field \"%.32s\" is not KEY=VALUE", words[i]);
      g_autofree char *key = g_strndup (words[i], (gsize) (eq - words[i]));
      KeyBit bit = 0;
      for (gsize j = 0; j < G_N_ELEMENTS (keys); j++)
        if (strcmp (key, keys[j].name) == 0)
          bit = keys[j].bit;
      if (bit == 0 || (kinds[k].allowed & bit) == 0)
        return line_error (error, lineno, "%s: unknown key \"%.32s\"", kinds[k].name, key);
      if (seen & bit)
        return line_error (error, lineno, "%s: key \"%s\" given twice", kinds[k].name, key);
      seen |= bit;
      if (!parse_value (obj, bit, key, eq + 1, lineno, error))
        return FALSE;
    }
  guint missing = kinds[k].required & ~seen;
  if (missing != 0)
    return line_error (error, lineno, "%s: missing key \"%s\"", kinds[k].name,
                       key_name ((KeyBit) (1u << g_bit_nth_lsf (missing, -1))));
  if (obj->kind == EMBER_NETCONF_OBJ_RULE)
    {
      /* The only rules netconf makes: wg-quick's pair. */
      gboolean mark = (seen & K_NOT_FWMARK) != 0;
      gboolean suppress = (seen & K_SUPPRESS) != 0;
      if (mark == suppress)
        return line_error (error, lineno, "rule: expected exactly one of not-fwmark and "
                           "suppress-prefixlength");
      if (suppress && obj->suppress_prefixlen > (obj->family == 4 ? 32 : 128))
        return line_error (error, lineno, "rule: suppress-prefixlength %d is too long for "
                           "IPv%u", obj->suppress_prefixlen, obj->family);
    }
  return TRUE;
}

gboolean
ember_netconf_journal_parse (const char *text, gsize len, GArray **objs, GError **error)
{
  g_return_val_if_fail (objs != NULL, FALSE);
  g_autoptr (GArray) out = g_array_new (FALSE, TRUE, sizeof (EmberNetconfObj));
  gsize pos = 0;
  guint lineno = 0;
  while (pos < len)
    {
      const char *start = text + pos;
      const char *nl = memchr (start, '\n', len - pos);
      lineno++;
      if (nl == NULL)
        break; /* a write that never completed: the object was never made */
      gsize line_len = (gsize) (nl - start);
      pos += line_len + 1;
      if (line_len > MAX_LINE)
        return line_error (error, lineno, "longer than %d bytes", MAX_LINE);
      if (memchr (start, '\0', line_len) != NULL)
        return line_error (error, lineno, "contains a NUL byte");
      g_autofree char *line = g_strndup (start, line_len);
      if (!g_utf8_validate (line, -1, NULL))
        return line_error (error, lineno, "not UTF-8");
      if (lineno == 1)
        {
          if (strcmp (line, EMBER_NETCONF_JOURNAL_VERSION_LINE) != 0)
            return line_error (error, lineno, "expected \"%s\" (another version or not a "
                               "journal)", EMBER_NETCONF_JOURNAL_VERSION_LINE);
          continue;
        }
      EmberNetconfObj obj;
      if (!parse_line (line, lineno, &obj, error))
        return FALSE;
      g_array_append_val (out, obj);
    }
  *objs = g_steal_pointer (&out);
  return TRUE;
}

static const char *
table_text (guint32 table, char buf[16])
{
  g_snprintf (buf, 16, "%u", table);
  return buf;
}

void
ember_netconf_journal_format_obj (const EmberNetconfObj *obj, GString *out)
{
  char cidr[EMBER_CIDR_STRLEN];
  switch (obj->kind)
    {
    case EMBER_NETCONF_OBJ_ADDRESS:
      g_string_append_printf (out, "address dev=%u:%s local=%s\n", obj->ifindex, obj->ifname,
                              ember_cidr_format (&obj->cidr, cidr));
      break;
    case EMBER_NETCONF_OBJ_ROUTE:
      g_string_append_printf (out, "route dev=%u:%s table=%u dst=%s\n", obj->ifindex,
                              obj->ifname, obj->table, ember_cidr_format (&obj->cidr, cidr));
      break;
    case EMBER_NETCONF_OBJ_RULE:
      g_string_append_printf (out, "rule family=%u priority=%u table=%u", obj->family,
                              obj->priority, obj->table);
      if (obj->invert_fwmark)
        g_string_append_printf (out, " not-fwmark=%u", obj->fwmark);
      if (obj->suppress_prefixlen >= 0)
        g_string_append_printf (out, " suppress-prefixlength=%d", obj->suppress_prefixlen);
      g_string_append_c (out, '\n');
      break;
    case EMBER_NETCONF_OBJ_SYSCTL:
      g_string_append_printf (out, "sysctl key=%s was=%s set=%s\n", obj->sysctl_key,
                              obj->sysctl_was, obj->sysctl_set);
      break;
    case EMBER_NETCONF_OBJ_NFT_TABLE:
      g_string_append_printf (out, "nft-table family=%u name=%s\n", obj->family, obj->nft_table);
      break;
    default:
      g_assert_not_reached ();
    }
}

char *
ember_netconf_journal_format (const GArray *objs)
{
  GString *out = g_string_new (EMBER_NETCONF_JOURNAL_VERSION_LINE "\n");
  for (guint i = 0; i < objs->len; i++)
    ember_netconf_journal_format_obj (&g_array_index (objs, EmberNetconfObj, i), out);
  return g_string_free (out, FALSE);
}

char *
ember_netconf_obj_describe (const EmberNetconfObj *obj)
{
  char cidr[EMBER_CIDR_STRLEN];
  char t[16];
  const char *table = obj->table == RT_TABLE_MAIN ? "main" : table_text (obj->table, t);
  switch (obj->kind)
    {
    case EMBER_NETCONF_OBJ_ADDRESS:
      return g_strdup_printf ("address %s dev %s", ember_cidr_format (&obj->cidr, cidr),
                              obj->ifname);
    case EMBER_NETCONF_OBJ_ROUTE:
      return g_strdup_printf ("route %s dev %s table %s", ember_cidr_format (&obj->cidr, cidr),
                              obj->ifname, table);
    case EMBER_NETCONF_OBJ_RULE:
      if (obj->invert_fwmark)
        return g_strdup_printf ("IPv%u rule %u: not fwmark %u lookup %s", obj->family,
                                obj->priority, obj->fwmark, table);
      return g_strdup_printf ("IPv%u rule %u: lookup %s suppress_prefixlength %d", obj->family,
                              obj->priority, table, obj->suppress_prefixlen);
    case EMBER_NETCONF_OBJ_SYSCTL:
      return g_strdup_printf ("sysctl %s=%s (was %s)", obj->sysctl_key, obj->sysctl_set,
                              obj->sysctl_was);
    case EMBER_NETCONF_OBJ_NFT_TABLE:
      return g_strdup_printf ("nftables table %s %s", obj->family == 4 ? "ip" : "ip6",
                              obj->nft_table);
    default:
      return g_strdup ("invalid object");
    }
}

gboolean
ember_netconf_obj_equal (const EmberNetconfObj *a, const EmberNetconfObj *b)
{
  if (a->kind != b->kind)
    return FALSE;
  switch (a->kind)
    {
    case EMBER_NETCONF_OBJ_ADDRESS:
      return a->ifindex == b->ifindex && ember_cidr_equal (&a->cidr, &b->cidr);
    case EMBER_NETCONF_OBJ_ROUTE:
      return a->ifindex == b->ifindex && a->table == b->table
             && ember_cidr_equal (&a->cidr, &b->cidr);
    case EMBER_NETCONF_OBJ_RULE:
      return a->family == b->family && a->priority == b->priority && a->table == b->table
             && a->invert_fwmark == b->invert_fwmark && a->fwmark == b->fwmark
             && a->suppress_prefixlen == b->suppress_prefixlen;
    case EMBER_NETCONF_OBJ_SYSCTL:
      return strcmp (a->sysctl_key, b->sysctl_key) == 0;
    case EMBER_NETCONF_OBJ_NFT_TABLE:
      return a->family == b->family && strcmp (a->nft_table, b->nft_table) == 0;
    default:
      return FALSE;
    }
}
