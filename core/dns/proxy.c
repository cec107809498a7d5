/* dns/proxy — the proxy address map and its saved form (proxy.h). */
#include "dns/proxy.h"

#include <stdlib.h>
#include <string.h>

#include "dns/codec.h"
#include "dns/stub.h"
#include "net/cidr.h"
#include "portal/values.h"

/* 100.96.0.0/11 and fd00:2021:1111:8000::/107: 2^21 addresses each. */
static const guint8 proxy_v4_base[4] = { 100, 96, 0, 0 };
static const guint8 proxy_v6_base[16] = { 0xfd, 0x00, 0x20, 0x21, 0x11, 0x11, 0x80, 0x00 };
/* The IPv4 sentinels' 100.100.111.0/24 lies inside the IPv4 range. */
#define SENTINEL_FIRST ((100u - 96u) * 65536u + 111u * 256u)
#define SENTINEL_LAST (SENTINEL_FIRST + 255u)
#define SAVE_GROUP "dns-proxy-addresses"
#define SAVE_VERSION 1

struct _EmberDnsProxyMap {
  GHashTable *by_key;    /* "resource\nname" -> EmberDnsProxy (owned) */
  GHashTable *by_index;  /* index -> EmberDnsProxy (borrowed) */
  guint32 next;          /* the next index to hand out */
};

static gboolean
index_usable (guint32 index)
{
  return index > 0 && index < EMBER_DNS_STUB_PROXY_COUNT - 1 &&
         (index < SENTINEL_FIRST || index > SENTINEL_LAST);
}

static char *
make_key (const char *name, const EmberPortalId *resource)
{
  return g_strconcat (resource->str, "\n", name, NULL);
}

static void
proxy_free (gpointer p)
{
  EmberDnsProxy *e = p;

  g_free (e->name);
  g_free (e);
}

EmberDnsProxyMap *
ember_dns_proxy_map_new (void)
{
  EmberDnsProxyMap *map = g_new0 (EmberDnsProxyMap, 1);

  map->by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, proxy_free);
  map->by_index = g_hash_table_new (g_direct_hash, g_direct_equal);
  map->next = 1;
  return map;
}

void
ember_dns_proxy_map_free (EmberDnsProxyMap *map)
{
  if (map == NULL)
    return;
  g_hash_table_destroy (map->by_index);
  g_hash_table_destroy (map->by_key);
  g_free (map);
}

EmberDnsProxy *
ember_dns_proxy_map_lookup (EmberDnsProxyMap *map, const char *name,
                            const EmberPortalId *resource)
{
  char key[sizeof resource->str + 1 + EMBER_DNS_NAME_TEXT_MAX];
  gsize id_len = strnlen (resource->str, sizeof resource->str), name_len = strlen (name);
  g_autofree char *long_key = NULL;

  /* the key of make_key() on the stack: no allocation per query */
  if (id_len + 1 + name_len >= sizeof key)
    {
      long_key = make_key (name, resource);
      return g_hash_table_lookup (map->by_key, long_key);
    }
  memcpy (key, resource->str, id_len);
  key[id_len] = '\n';
  memcpy (key + id_len + 1, name, name_len + 1);
  return g_hash_table_lookup (map->by_key, key);
}

static void
insert (EmberDnsProxyMap *map, guint32 index, const char *name, const EmberPortalId *resource)
{
  EmberDnsProxy *e = g_new0 (EmberDnsProxy, 1);

  e->index = index;
  e->name = g_strdup (name);
  e->resource = *resource;
  g_hash_table_insert (map->by_key, make_key (name, resource), e);
  g_hash_table_insert (map->by_index, GUINT_TO_POINTER (index), e);
}

EmberDnsProxy *
ember_dns_proxy_map_get (EmberDnsProxyMap *map, const char *name, const EmberPortalId *resource)
{
  EmberDnsProxy *e = ember_dns_proxy_map_lookup (map, name, resource);

  if (e != NULL)
    return e;
  while (map->next < EMBER_DNS_STUB_PROXY_COUNT && !index_usable (map->next))
    map->next++;
  if (map->next >= EMBER_DNS_STUB_PROXY_COUNT)
    return NULL;
  insert (map, map->next, name, resource);
  map->next++;
  return ember_dns_proxy_map_lookup (map, name, resource);
}

EmberDnsProxy *
ember_dns_proxy_map_by_index (EmberDnsProxyMap *map, guint32 index)
{
  return g_hash_table_lookup (map->by_index, GUINT_TO_POINTER (index));
}

guint
ember_dns_proxy_map_size (const EmberDnsProxyMap *map)
{
  return g_hash_table_size (map->by_index);
}

static int
by_index_cmp (gconstpointer a, gconstpointer b)
{
  const EmberDnsProxy *x = *(EmberDnsProxy *const *) a, *y = *(EmberDnsProxy *const *) b;

  return x->index < y->index ? -1 : x->index > y->index;
}

GPtrArray *
ember_dns_proxy_map_entries (const EmberDnsProxyMap *map)
{
  GPtrArray *all = g_ptr_array_sized_new (g_hash_table_size (map->by_index));
  GHashTableIter it;
  gpointer value;

  g_hash_table_iter_init (&it, map->by_index);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (all, value);
  g_ptr_array_sort (all, by_index_cmp);
  return all;
}

void
ember_dns_proxy_addr (guint32 index, guint family, EmberAddr *out)
{
  memset (out, 0, sizeof *out);
  out->family = (guint8) family;
  if (family == EMBER_ADDR_IPV4)
    {
      guint32 v = ember_dns_rd32 (proxy_v4_base) + index;
      ember_dns_wr32 (out->addr, v);
    }
  else
    {
      memcpy (out->addr, proxy_v6_base, 16);
      ember_dns_wr32 (out->addr + 12, index);
    }
}

gboolean
ember_dns_proxy_index_of (guint family, const guint8 *addr, guint32 *index)
{
  guint32 n;

  if (family == EMBER_ADDR_IPV4)
    {
      guint32 v = ember_dns_rd32 (addr), base = ember_dns_rd32 (proxy_v4_base);
      if (v < base || v - base >= EMBER_DNS_STUB_PROXY_COUNT)
        return FALSE;
      n = v - base;
    }
  else if (family == EMBER_ADDR_IPV6)
    {
      if (memcmp (addr, proxy_v6_base, 12) != 0)
        return FALSE;
      n = ember_dns_rd32 (addr + 12);
      if (n >= EMBER_DNS_STUB_PROXY_COUNT)
        return FALSE;
    }
  else
    return FALSE;
  if (!index_usable (n))
    return FALSE;
  *index = n;
  return TRUE;
}

/* ---- saved form -------------------------------------------------------- */

char *
ember_dns_proxy_map_save (const EmberDnsProxyMap *map, gsize *len)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GPtrArray) all = ember_dns_proxy_map_entries (map);

  g_key_file_set_integer (kf, SAVE_GROUP, "version", SAVE_VERSION);
  g_key_file_set_uint64 (kf, SAVE_GROUP, "next", map->next);
  for (guint i = 0; i < all->len; i++)
    {
      const EmberDnsProxy *e = all->pdata[i];
      char group[32], text[EMBER_ADDR_STRLEN];
      EmberAddr a;

      g_snprintf (group, sizeof group, "proxy %u", e->index);
      g_key_file_set_string (kf, group, "name", e->name);
      g_key_file_set_string (kf, group, "resource", e->resource.str);
      ember_dns_proxy_addr (e->index, EMBER_ADDR_IPV4, &a);
      g_key_file_set_string (kf, group, "ipv4", ember_addr_format (&a, text));
      ember_dns_proxy_addr (e->index, EMBER_ADDR_IPV6, &a);
      g_key_file_set_string (kf, group, "ipv6", ember_addr_format (&a, text));
    }
  return g_key_file_to_data (kf, len, NULL);
}

static gboolean
fail (GError **error, const char *group, const char *key, const char *what)
{
  g_set_error (error, EMBER_DNS_STUB_ERROR, 0, "proxy address map: [%s] %s%s%s", group,
               key ? key : "", key ? ": " : "", what);
  return FALSE;
}

/* A decimal number with nothing around it, at most `max`. */
static gboolean
parse_uint (const char *text, guint64 max, guint64 *out)
{
  return text != NULL && *text != '\0' && g_ascii_string_to_unsigned (text, 10, 0, max, out, NULL);
}

/* A name as the stub stores it: plain, lower case, no trailing dot. */
static gboolean
name_valid (const char *name)
{
  guint8 wire[EMBER_DNS_NAME_WIRE_MAX];
  gsize n = strlen (name), len;

  if (n == 0 || name[n - 1] == '.' || ember_dns_name_write (name, wire, sizeof wire, &len))
    return FALSE;
  for (const char *c = name; *c; c++)
    if (!(g_ascii_islower (*c) || g_ascii_isdigit (*c) || *c == '-' || *c == '_' || *c == '.'))
      return FALSE;
  return TRUE;
}

static gboolean
load_entry (EmberDnsProxyMap *map, GKeyFile *kf, const char *group, guint64 next,
            GError **error)
{
  static const char *const keys[] = { "name", "resource", "ipv4", "ipv6" };
  g_auto (GStrv) present = g_key_file_get_keys (kf, group, NULL, NULL);
  g_autofree char *name = NULL, *resource = NULL, *ipv4 = NULL, *ipv6 = NULL;
  char text[EMBER_ADDR_STRLEN];
  EmberPortalId id;
  EmberAddr a;
  guint64 index;
  g_autoptr (GError) local = NULL;

  if (!g_str_has_prefix (group, "proxy ") || !parse_uint (group + 6, G_MAXUINT32, &index))
    return fail (error, group, NULL, "expected a group named \"proxy N\"");
  if (!index_usable ((guint32) index) || index >= next)
    return fail (error, group, NULL, "the index is not a proxy address below next");
  if (ember_dns_proxy_map_by_index (map, (guint32) index) != NULL)
    return fail (error, group, NULL, "the index appears twice");
  for (guint i = 0; present != NULL && present[i] != NULL; i++)
    if (!g_strv_contains (keys, present[i]))
      return fail (error, group, present[i], "unknown key");
  name = g_key_file_get_string (kf, group, "name", NULL);
  resource = g_key_file_get_string (kf, group, "resource", NULL);
  ipv4 = g_key_file_get_string (kf, group, "ipv4", NULL);
  ipv6 = g_key_file_get_string (kf, group, "ipv6", NULL);
  if (name == NULL || !name_valid (name))
    return fail (error, group, "name", "expected a lower-case DNS name without trailing dot");
  if (resource == NULL || strlen (resource) != EMBER_PORTAL_ID_LEN)
    return fail (error, group, "resource", "expected a resource id (UUID)");
  memcpy (id.str, resource, EMBER_PORTAL_ID_LEN + 1);
  if (!ember_portal_id_check (&id, "resource", &local))
    return fail (error, group, "resource", local->message);
  ember_dns_proxy_addr ((guint32) index, EMBER_ADDR_IPV4, &a);
  if (ipv4 == NULL || strcmp (ipv4, ember_addr_format (&a, text)) != 0)
    return fail (error, group, "ipv4", "expected the IPv4 proxy address of the index");
  ember_dns_proxy_addr ((guint32) index, EMBER_ADDR_IPV6, &a);
  if (ipv6 == NULL || strcmp (ipv6, ember_addr_format (&a, text)) != 0)
    return fail (error, group, "ipv6", "expected the IPv6 proxy address of the index");
  if (ember_dns_proxy_map_lookup (map, name, &id) != NULL)
    return fail (error, group, "name", "this name and resource already have an address");
  insert (map, (guint32) index, name, &id);
  return TRUE;
}

EmberDnsProxyMap *
ember_dns_proxy_map_load (const char *data, gsize len, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_auto (GStrv) groups = NULL, keys = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *version = NULL, *next_text = NULL;
  EmberDnsProxyMap *map;
  guint64 v, next;

  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, EMBER_DNS_STUB_ERROR, 0, "proxy address map: %s", local->message);
      return NULL;
    }
  version = g_key_file_get_value (kf, SAVE_GROUP, "version", NULL);
  next_text = g_key_file_get_value (kf, SAVE_GROUP, "next", NULL);
  if (!parse_uint (version, G_MAXUINT32, &v) || v != SAVE_VERSION)
    {
      fail (error, SAVE_GROUP, "version", "expected 1");
      return NULL;
    }
  if (!parse_uint (next_text, EMBER_DNS_STUB_PROXY_COUNT, &next) || next == 0)
    {
      fail (error, SAVE_GROUP, "next", "expected a number from 1 to 2097152");
      return NULL;
    }
  keys = g_key_file_get_keys (kf, SAVE_GROUP, NULL, NULL);
  for (guint i = 0; keys[i] != NULL; i++)
    if (!g_str_equal (keys[i], "version") && !g_str_equal (keys[i], "next"))
      {
        fail (error, SAVE_GROUP, keys[i], "unknown key");
        return NULL;
      }
  map = ember_dns_proxy_map_new ();
  map->next = (guint32) next;
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    if (!g_str_equal (groups[i], SAVE_GROUP) &&
        !load_entry (map, kf, groups[i], next, error))
      {
        ember_dns_proxy_map_free (map);
        return NULL;
      }
  return map;
}
