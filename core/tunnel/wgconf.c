/* wgconf — parse [Interface]/[Peer] files line by line. */
#include "wgconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (ember-wgconf-error-quark, ember_wgconf_error)

gboolean
ember_wgconf_decode_key (const char *text, guint8 key[32])
{
  guchar *raw;
  gsize len;

  /* 32 bytes are 44 base64 characters ending in one '='. */
  if (strlen (text) != 44 || text[43] != '=' || text[42] == '=')
    return FALSE;
  for (int i = 0; i < 43; i++)
    if (!g_ascii_isalnum (text[i]) && text[i] != '+' && text[i] != '/')
      return FALSE;
  raw = g_base64_decode (text, &len);
  if (len != 32)
    {
      g_free (raw);
      return FALSE;
    }
  memcpy (key, raw, 32);
  explicit_bzero (raw, len);
  g_free (raw);
  return TRUE;
}

const char *
ember_wgconf_hook_stage_name (EmberWgConfHookStage stage)
{
  static const char *const names[] = { "PreUp", "PostUp", "PreDown", "PostDown" };
  return (guint) stage < G_N_ELEMENTS (names) ? names[stage] : "?";
}

gboolean
ember_wgconf_has_default_route (const EmberWgConf *conf, guint family)
{
  for (guint i = 0; i < conf->peers->len; i++)
    {
      const EmberWgConfPeer *peer = g_ptr_array_index (conf->peers, i);
      for (guint j = 0; j < peer->allowed_ips->len; j++)
        {
          const EmberCidr *c = &g_array_index (peer->allowed_ips, EmberCidr, j);
          if (c->family == family && c->prefix == 0)
            return TRUE;
        }
    }
  return FALSE;
}

static void
hook_free (gpointer p)
{
  EmberWgConfHook *hook = p;
  g_free (hook->command);
  g_free (hook);
}

static void
peer_free (gpointer p)
{
  EmberWgConfPeer *peer = p;
  g_array_unref (peer->allowed_ips);
  g_free (peer->endpoint_host);
  explicit_bzero (peer->preshared_key, sizeof peer->preshared_key);
  g_free (peer);
}

void
ember_wgconf_free (EmberWgConf *conf)
{
  if (conf == NULL)
    return;
  explicit_bzero (conf->private_key, sizeof conf->private_key);
  g_free (conf->path);
  g_array_unref (conf->addresses);
  g_array_unref (conf->dns_servers);
  g_ptr_array_unref (conf->dns_search);
  g_free (conf->table_name);
  for (guint i = 0; i < EMBER_WGCONF_N_HOOKS; i++)
    g_ptr_array_unref (conf->hooks[i]);
  g_ptr_array_unref (conf->peers);
  g_free (conf);
}

typedef struct {
  EmberWgConf *conf;
  EmberWgConfPeer *peer; /* NULL while in [Interface] */
  gboolean in_interface;
  gboolean seen_interface;
  gboolean has_private_key;
  gboolean has_public_key;
  guint line;
} Parser;

#define FAIL(fmt, ...)                                                                          \
  do                                                                                            \
    {                                                                                           \
      g_set_error (error, EMBER_WGCONF_ERROR, 0, "%s:%u: " fmt, p->conf->path, p->line,          \
                   __VA_ARGS__);                                                                \
      return FALSE;                                                                             \
    }                                                                                           \
  while (0)

static gboolean
parse_u16 (const char *v, guint16 *out)
{
  char *end;
  guint64 n;

  if (*v == '\0' || !g_ascii_isdigit (*v))
    return FALSE;
  errno = 0;
  n = g_ascii_strtoull (v, &end, 10);
  if (errno != 0 || *end != '\0' || n > 65535)
    return FALSE;
  *out = (guint16) n;
  return TRUE;
}

/* Address keeps its host bits (10.0.0.1/24 is an address and its subnet);
 * AllowedIPs masks them, as `wg` does. Both take a bare address as /32 or
 * /128. */
static gboolean
parse_cidr_list (Parser *p, const char *key, const char *value, EmberCidrParseFlags flags,
                 GArray *out, GError **error)
{
  g_auto (GStrv) items = g_strsplit (value, ",", -1);

  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autoptr (GError) local = NULL;
      EmberCidr c;
      g_strstrip (items[i]);
      if (*items[i] == '\0')
        continue;
      if (!ember_cidr_parse (items[i], EMBER_CIDR_PARSE_BARE | flags, &c, &local))
        FAIL ("%s: %s", key, local->message);
      g_array_append_val (out, c);
    }
  return TRUE;
}

static gboolean
parse_endpoint (Parser *p, const char *value, GError **error)
{
  const char *colon;
  g_autofree char *host = NULL;
  guint16 port;

  if (value[0] == '[')
    {
      const char *close = strchr (value, ']');
      if (close == NULL || close[1] != ':')
        FAIL ("Endpoint: \"%s\": expected [IPv6]:port", value);
      host = g_strndup (value + 1, (gsize) (close - value - 1));
      colon = close + 1;
    }
  else
    {
      colon = strrchr (value, ':');
      if (colon == NULL || strchr (value, ':') != colon)
        FAIL ("Endpoint: \"%s\": expected host:port (IPv6 in brackets)", value);
      host = g_strndup (value, (gsize) (colon - value));
    }
  if (*host == '\0' || !parse_u16 (colon + 1, &port) || port == 0)
    FAIL ("Endpoint: \"%s\": expected host:port with a port from 1 to 65535", value);
  g_free (p->peer->endpoint_host);
  p->peer->endpoint_host = g_steal_pointer (&host);
  p->peer->endpoint_port = port;
  return TRUE;
}

/* `wg`'s FwMark: "off", or a number from 0 to 2^32-1, decimal or with
 * "0x" in hex. 0 and off both mean no mark. */
static gboolean
parse_u32 (const char *v, guint32 *out)
{
  guint base = 10;
  guint64 n;
  char *end;

  if (!g_ascii_isdigit (*v))
    return FALSE;
  if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X') && v[2] != '\0')
    {
      base = 16;
      v += 2;
      if (!g_ascii_isxdigit (*v))
        return FALSE;
    }
  errno = 0;
  n = g_ascii_strtoull (v, &end, base);
  if (errno != 0 || *end != '\0' || n > G_MAXUINT32)
    return FALSE;
  *out = (guint32) n;
  return TRUE;
}

/* A search domain as resolv.conf takes it: dot-separated labels of
 * letters, digits, '-' and '_', 1 to 63 characters each, 253 in all, an
 * optional final dot. */
static gboolean
is_domain_name (const char *v)
{
  gsize len = strlen (v), label = 0;

  if (len == 0 || len > 254 || (len == 254 && v[253] != '.') || v[0] == '.')
    return FALSE;
  for (const char *c = v; *c != '\0'; c++)
    {
      if (*c == '.')
        {
          if (label == 0)
            return FALSE;
          label = 0;
        }
      else if (g_ascii_isalnum (*c) || *c == '-' || *c == '_')
        {
          if (++label > 63)
            return FALSE;
        }
      else
        return FALSE;
    }
  return TRUE;
}

/* wg-quick splits DNS on commas and blanks; an entry that looks like an
 * address (digits and dots only, or any ':') is a name server, any other
 * a search domain. */
static gboolean
parse_dns (Parser *p, const char *value, GError **error)
{
  EmberWgConf *c = p->conf;
  g_auto (GStrv) items = g_strsplit_set (value, ", \t", -1);

  if (c->dns_line == 0)
    c->dns_line = p->line;
  for (guint i = 0; items[i] != NULL; i++)
    {
      const char *item = items[i];
      EmberAddr addr;
      g_autoptr (GError) local = NULL;

      if (*item == '\0')
        continue;
      if (strchr (item, ':') != NULL || strspn (item, "0123456789.") == strlen (item))
        {
          if (!ember_addr_parse (item, &addr, &local))
            FAIL ("DNS: %s", local->message);
          g_array_append_val (c->dns_servers, addr);
        }
      else if (is_domain_name (item))
        g_ptr_array_add (c->dns_search, g_strdup (item));
      else
        FAIL ("DNS: \"%s\" is neither an IP address nor a domain name", item);
    }
  return TRUE;
}

/* wg-quick hands Table to `ip route ... table`: off, auto, a number, or a
 * name from rt_tables. 0 is refused: the kernel reads it as "unspecified"
 * and puts the routes into main, which is what auto already means. */
static gboolean
parse_table (Parser *p, const char *value, GError **error)
{
  EmberWgConf *c = p->conf;
  guint32 id;

  g_clear_pointer (&c->table_name, g_free);
  c->table_line = p->line;
  if (g_ascii_strcasecmp (value, "auto") == 0)
    c->table = EMBER_WGCONF_TABLE_AUTO;
  else if (g_ascii_strcasecmp (value, "off") == 0)
    c->table = EMBER_WGCONF_TABLE_OFF;
  else if (g_ascii_isdigit (*value))
    {
      if (!parse_u32 (value, &id) || id == 0)
        FAIL ("Table: expected off, auto, a table number from 1 to 4294967295 or a name, "
              "got \"%s\"",
              value);
      c->table = EMBER_WGCONF_TABLE_ID;
      c->table_id = id;
    }
  else
    {
      /* iproute2 reads names up to the first blank; keep it simple. */
      if (*value == '\0' || strlen (value) > 64 || strspn (value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                "0123456789_-.")
                                     != strlen (value))
        FAIL ("Table: expected off, auto, a table number or a name of letters, digits, '_', '-' "
              "and '.', got \"%s\"",
              value);
      c->table = EMBER_WGCONF_TABLE_NAME;
      c->table_name = g_strdup (value);
    }
  return TRUE;
}

static gboolean
parse_hook (Parser *p, EmberWgConfHookStage stage, const char *value, GError **error)
{
  EmberWgConfHook *hook;

  if (*value == '\0')
    FAIL ("%s: empty command", ember_wgconf_hook_stage_name (stage));
  hook = g_new0 (EmberWgConfHook, 1);
  hook->line = p->line;
  hook->command = g_strdup (value);
  g_ptr_array_add (p->conf->hooks[stage], hook);
  return TRUE;
}

static gboolean
interface_key (Parser *p, const char *key, const char *value, GError **error)
{
  EmberWgConf *c = p->conf;

  if (g_ascii_strcasecmp (key, "PrivateKey") == 0)
    {
      if (!ember_wgconf_decode_key (value, c->private_key))
        FAIL ("PrivateKey: expected a base64 key of 32 bytes (44 characters)%s", "");
      p->has_private_key = TRUE;
    }
  else if (g_ascii_strcasecmp (key, "ListenPort") == 0)
    {
      if (!parse_u16 (value, &c->listen_port))
        FAIL ("ListenPort: expected a port from 0 to 65535, got \"%s\"", value);
      c->has_listen_port = TRUE;
    }
  else if (g_ascii_strcasecmp (key, "Address") == 0)
    return parse_cidr_list (p, "Address", value, EMBER_CIDR_PARSE_KEEP_HOST_BITS, c->addresses,
                            error);
  else if (g_ascii_strcasecmp (key, "MTU") == 0)
    {
      guint16 mtu;
      /* IPv6 needs 1280 (RFC 8200 §5); WireGuard adds 80 bytes at most. */
      if (!parse_u16 (value, &mtu) || mtu < 1280 || mtu > 65535 - 80)
        FAIL ("MTU: expected a number from 1280 to 65455, got \"%s\"", value);
      c->mtu = mtu;
    }
  else if (g_ascii_strcasecmp (key, "FwMark") == 0)
    {
      if (g_ascii_strcasecmp (value, "off") == 0)
        c->fwmark = 0;
      else if (!parse_u32 (value, &c->fwmark))
        FAIL ("FwMark: expected off or a number from 0 to 0xffffffff, got \"%s\"", value);
      c->fwmark_line = p->line;
    }
  else if (g_ascii_strcasecmp (key, "DNS") == 0)
    return parse_dns (p, value, error);
  else if (g_ascii_strcasecmp (key, "Table") == 0)
    return parse_table (p, value, error);
  else if (g_ascii_strcasecmp (key, "SaveConfig") == 0)
    {
      if (g_ascii_strcasecmp (value, "true") == 0)
        c->save_config = TRUE;
      else if (g_ascii_strcasecmp (value, "false") == 0)
        c->save_config = FALSE;
      else
        FAIL ("SaveConfig: expected true or false, got \"%s\"", value);
      c->save_config_line = p->line;
    }
  else
    {
      for (guint i = 0; i < EMBER_WGCONF_N_HOOKS; i++)
        if (g_ascii_strcasecmp (key, ember_wgconf_hook_stage_name (i)) == 0)
          return parse_hook (p, i, value, error);
      FAIL ("[Interface] %s: unknown key (expected PrivateKey, ListenPort, FwMark, Address, MTU, "
            "DNS, Table, PreUp, PostUp, PreDown, PostDown or SaveConfig)",
            key);
    }
  return TRUE;
}

static gboolean
peer_key (Parser *p, const char *key, const char *value, GError **error)
{
  EmberWgConfPeer *peer = p->peer;

  if (g_ascii_strcasecmp (key, "PublicKey") == 0)
    {
      if (!ember_wgconf_decode_key (value, peer->public_key))
        FAIL ("PublicKey: expected a base64 key of 32 bytes (44 characters)%s", "");
      p->has_public_key = TRUE;
    }
  else if (g_ascii_strcasecmp (key, "PresharedKey") == 0)
    {
      if (!ember_wgconf_decode_key (value, peer->preshared_key))
        FAIL ("PresharedKey: expected a base64 key of 32 bytes (44 characters)%s", "");
      peer->has_preshared_key = TRUE;
    }
  else if (g_ascii_strcasecmp (key, "AllowedIPs") == 0)
    return parse_cidr_list (p, "AllowedIPs", value, EMBER_CIDR_PARSE_MASK_HOST_BITS,
                            peer->allowed_ips, error);
  else if (g_ascii_strcasecmp (key, "Endpoint") == 0)
    return parse_endpoint (p, value, error);
  else if (g_ascii_strcasecmp (key, "PersistentKeepalive") == 0)
    {
      if (g_ascii_strcasecmp (value, "off") == 0)
        peer->persistent_keepalive = 0;
      else if (!parse_u16 (value, &peer->persistent_keepalive))
        FAIL ("PersistentKeepalive: expected seconds from 0 to 65535 or off, got \"%s\"", value);
    }
  else
    FAIL ("[Peer] %s: unknown key (expected PublicKey, PresharedKey, AllowedIPs, Endpoint or "
          "PersistentKeepalive)",
          key);
  return TRUE;
}

static gboolean
end_section (Parser *p, GError **error)
{
  if (p->peer != NULL && !p->has_public_key)
    {
      g_set_error (error, EMBER_WGCONF_ERROR, 0, "%s:%u: [Peer] has no PublicKey", p->conf->path,
                   p->peer->line);
      return FALSE;
    }
  for (guint i = 0; p->peer != NULL && i + 1 < p->conf->peers->len; i++)
    {
      EmberWgConfPeer *other = g_ptr_array_index (p->conf->peers, i);
      if (memcmp (other->public_key, p->peer->public_key, 32) == 0)
        {
          g_set_error (error, EMBER_WGCONF_ERROR, 0,
                       "%s:%u: [Peer] has the same PublicKey as the peer on line %u",
                       p->conf->path, p->peer->line, other->line);
          return FALSE;
        }
    }
  return TRUE;
}

/* A copy of the file's text, which holds the private key: wiped before
 * it is freed, whichever way the parser returns. */
typedef struct {
  char *data;
  gsize len;
} Text;

static void
text_clear (Text *t)
{
  if (t->data == NULL)
    return;
  explicit_bzero (t->data, t->len);
  g_free (t->data);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Text, text_clear)

EmberWgConf *
ember_wgconf_parse (const char *text, const char *name, GError **error)
{
  g_autoptr (EmberWgConf) conf = g_new0 (EmberWgConf, 1);
  g_auto (Text) copy = { NULL, 0 };
  g_autoptr (GPtrArray) lines = g_ptr_array_new ();
  Parser parser = { 0 };
  Parser *p = &parser;

  /* Files saved by Windows editors may open with a UTF-8 byte order mark. */
  if (g_str_has_prefix (text, "\xef\xbb\xbf"))
    text += 3;
  /* Lines are cut in place in one copy (no per-line copies of the key). */
  copy.len = strlen (text);
  copy.data = g_strndup (text, copy.len);
  g_ptr_array_add (lines, copy.data);
  for (char *c = copy.data; *c != '\0'; c++)
    if (*c == '\n')
      {
        *c = '\0';
        g_ptr_array_add (lines, c + 1);
      }
  conf->path = g_strdup (name);
  conf->addresses = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  conf->dns_servers = g_array_new (FALSE, FALSE, sizeof (EmberAddr));
  conf->dns_search = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < EMBER_WGCONF_N_HOOKS; i++)
    conf->hooks[i] = g_ptr_array_new_with_free_func (hook_free);
  conf->peers = g_ptr_array_new_with_free_func (peer_free);
  p->conf = conf;

  for (guint i = 0; i < lines->len; i++)
    {
      char *line = g_ptr_array_index (lines, i);
      char *hash = strchr (line, '#');
      char *eq;

      p->line = i + 1;
      if (hash != NULL)
        *hash = '\0';
      g_strstrip (line);
      if (*line == '\0')
        continue;
      if (line[0] == '[')
        {
          if (!end_section (p, error))
            return NULL;
          if (g_ascii_strcasecmp (line, "[Interface]") == 0)
            {
              if (p->seen_interface)
                FAIL ("a second [Interface] section%s", "");
              p->seen_interface = TRUE;
              p->in_interface = TRUE;
              p->peer = NULL;
            }
          else if (g_ascii_strcasecmp (line, "[Peer]") == 0)
            {
              p->in_interface = FALSE;
              p->has_public_key = FALSE;
              p->peer = g_new0 (EmberWgConfPeer, 1);
              p->peer->line = p->line;
              p->peer->allowed_ips = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
              g_ptr_array_add (conf->peers, p->peer);
            }
          else
            FAIL ("%s: unknown section (expected [Interface] or [Peer])", line);
          continue;
        }
      eq = strchr (line, '=');
      if (eq == NULL)
        FAIL ("\"%s\": expected Key = Value", line);
      *eq = '\0';
      g_strstrip (line);
      g_strstrip (eq + 1);
      if (p->in_interface)
        {
          if (!interface_key (p, line, eq + 1, error))
            return NULL;
        }
      else if (p->peer != NULL)
        {
          if (!peer_key (p, line, eq + 1, error))
            return NULL;
        }
      else
        FAIL ("%s: key outside a section", line);
    }
  if (!end_section (p, error))
    return NULL;
  if (!p->has_private_key)
    {
      g_set_error (error, EMBER_WGCONF_ERROR, 0, "%s: [Interface] has no PrivateKey", conf->path);
      return NULL;
    }
  return g_steal_pointer (&conf);
}

EmberWgConf *
ember_wgconf_load (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  EmberWgConf *conf;
  gsize len;

  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  conf = ember_wgconf_parse (text, path, error);
  explicit_bzero (text, len);
  return conf;
}
