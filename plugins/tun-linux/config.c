/* config — the tun-linux configuration group. See config.h. */
#include "config.h"

#include "net/keyfile.h"

#include <string.h>

/* The defaults of the two speed-ups follow bench/tun-udp.sh: offloads
 * gave 2.3-5.6x the TCP throughput of plain packets, 2 queues on top of
 * them 3-7x; more queues alone did not help (docs/tun-io.md). */
#define TUN_DEFAULT_QUEUES 2
#define TUN_DEFAULT_OFFLOAD TRUE

static const char *const known_keys[] = {
  "name", "mtu", "address", "route", "txqueuelen", "queues", "offload", NULL,
};

static gboolean
valid_ifname (const char *name)
{
  gsize n = strlen (name);
  if (n == 0 || n >= IFNAMSIZ || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

gboolean
tun_config_parse (GKeyFile *kf, const char *group, TunConfig *out, GError **error)
{
  memset (out, 0, sizeof *out);
  g_strlcpy (out->name, TUN_DEFAULT_NAME, sizeof out->name);
  out->mtu = TUN_DEFAULT_MTU;
  out->txqueuelen = -1;
  out->queues = TUN_DEFAULT_QUEUES;
  out->offload = TUN_DEFAULT_OFFLOAD;

  if (group == NULL)
    group = "tun-linux";
  if (kf == NULL || !g_key_file_has_group (kf, group))
    return TRUE;

  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known_keys, keys[i]))
      {
        g_autofree char *list = g_strjoinv (", ", (char **) known_keys);
        ember_key_file_error (error, group, keys[i], "unknown key (expected one of: %s)", list);
        goto fail;
      }

  guint64 v;
  if (g_key_file_has_key (kf, group, "name", NULL))
    {
      g_autofree char *name = g_key_file_get_string (kf, group, "name", NULL);
      if (name == NULL || !valid_ifname (g_strstrip (name)))
        {
          ember_key_file_error (error, group, "name",
                        "expected an interface name of 1 to %d letters, digits, '-', '_' or '.'",
                        IFNAMSIZ - 1);
          goto fail;
        }
      g_strlcpy (out->name, name, sizeof out->name);
    }
  if (g_key_file_has_key (kf, group, "mtu", NULL))
    {
      if (!ember_key_file_get_uint (kf, group, "mtu", TUN_MIN_MTU, TUN_MAX_MTU, FALSE, &v, error))
        goto fail;
      out->mtu = (guint) v;
    }
  if (g_key_file_has_key (kf, group, "txqueuelen", NULL))
    {
      if (!ember_key_file_get_uint (kf, group, "txqueuelen", 1, 100000, FALSE, &v, error))
        goto fail;
      out->txqueuelen = (gint) v;
    }
  if (g_key_file_has_key (kf, group, "queues", NULL))
    {
      if (!ember_key_file_get_uint (kf, group, "queues", 1, TUN_MAX_QUEUES, FALSE, &v, error))
        goto fail;
      out->queues = (guint) v;
    }
  if (g_key_file_has_key (kf, group, "offload", NULL))
    {
      g_autoptr (GError) local = NULL;
      out->offload = g_key_file_get_boolean (kf, group, "offload", &local);
      if (local != NULL)
        {
          ember_key_file_error (error, group, "offload", "expected true or false");
          goto fail;
        }
    }
  if (g_key_file_has_key (kf, group, "address", NULL) &&
      !ember_key_file_get_cidrs (kf, group, "address", EMBER_CIDR_PARSE_KEEP_HOST_BITS,
                                 TUN_MAX_ADDRESSES, &out->addresses, &out->n_addresses, error))
    goto fail;
  if (g_key_file_has_key (kf, group, "route", NULL) &&
      !ember_key_file_get_cidrs (kf, group, "route", EMBER_CIDR_PARSE_STRICT,
                                 TUN_MAX_ROUTES, &out->routes, &out->n_routes, error))
    goto fail;

  /* IPv6 needs a link MTU of at least 1280 (RFC 8200 §5). */
  if (out->mtu < TUN_MIN_MTU_IPV6)
    {
      for (guint i = 0; i < out->n_addresses; i++)
        if (out->addresses[i].family == 6)
          {
            ember_key_file_error (error, group, "mtu", "IPv6 addresses need an MTU of at least %d",
                          TUN_MIN_MTU_IPV6);
            goto fail;
          }
    }
  return TRUE;

fail:
  tun_config_clear (out);
  return FALSE;
}

void
tun_config_clear (TunConfig *config)
{
  g_clear_pointer (&config->addresses, g_free);
  g_clear_pointer (&config->routes, g_free);
  config->n_addresses = config->n_routes = 0;
}
