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
  else if (g_ascii_strcasecmp (key, "DNS") == 0 || g_ascii_strcasecmp (key, "Table") == 0 ||
           g_ascii_strcasecmp (key, "PreUp") == 0 || g_ascii_strcasecmp (key, "PostUp") == 0 ||
           g_ascii_strcasecmp (key, "PreDown") == 0 || g_ascii_strcasecmp (key, "PostDown") == 0 ||
           g_ascii_strcasecmp (key, "SaveConfig") == 0 || g_ascii_strcasecmp (key, "FwMark") == 0)
    FAIL ("%s: not supported by emberd's static-peer mode", key);
  else
    FAIL ("[Interface] %s: unknown key (expected PrivateKey, ListenPort, Address or MTU)", key);
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

EmberWgConf *
ember_wgconf_parse (const char *text, const char *name, GError **error)
{
  g_autoptr (EmberWgConf) conf = g_new0 (EmberWgConf, 1);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  Parser parser = { 0 };
  Parser *p = &parser;

  conf->path = g_strdup (name);
  conf->addresses = g_array_new (FALSE, FALSE, sizeof (EmberCidr));
  conf->peers = g_ptr_array_new_with_free_func (peer_free);
  p->conf = conf;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = lines[i];
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
