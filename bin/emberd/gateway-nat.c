/* gateway-nat — masquerade and forwarding for the gateway. See gateway-nat.h. */
#include "gateway-nat.h"

#include <errno.h>
#include <fcntl.h>
#include <nftables/libnftables.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK (ember-gateway-nat-error-quark, ember_gateway_nat_error)

#define TABLE_PREFIX "ember_gw_"
/* The table's comment: the forwarding sysctls' values before Ember. */
#define COMMENT_TAG "ember-gateway-nat was"

typedef struct {
  const char *key;  /* under /proc/sys, slash-separated */
  char was[32];
  gboolean changed;
} Sysctl;

struct _EmberGatewayNat {
  char *ifname;
  char *table;
  struct nft_ctx *nft;
  gboolean table_made;
  Sysctl sysctls[2];
};

static gboolean
valid_ifname (const char *name)
{
  gsize len = strlen (name);
  if (len == 0 || len > 15 || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

/* Runs nft commands; on failure *error carries libnftables' own text. */
static gboolean
nft_run (EmberGatewayNat *nat, const char *cmds, const char *what, GError **error)
{
  int rc = nft_run_cmd_from_buffer (nat->nft, cmds);
  const char *err_text = nft_ctx_get_error_buffer (nat->nft);
  if (rc != 0)
    {
      g_autofree char *text = g_strstrip (g_strdup (err_text != NULL ? err_text : ""));
      g_set_error (error, EMBER_GATEWAY_NAT_ERROR, EMBER_GATEWAY_NAT_ERROR_NFTABLES,
                   "nftables: %s table inet %s: %s", what, nat->table,
                   text[0] != '\0' ? text : "failed");
      return FALSE;
    }
  return TRUE;
}

static char *
sysctl_path (const char *key)
{
  return g_build_filename ("/proc/sys", key, NULL);
}

static gboolean
sysctl_get (const char *key, char *buf, gsize size, GError **error)
{
  g_autofree char *path = sysctl_path (key);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local))
    {
      g_set_error (error, EMBER_GATEWAY_NAT_ERROR, EMBER_GATEWAY_NAT_ERROR_SYSCTL,
                   "sysctl %s: %s", key, local->message);
      return FALSE;
    }
  g_strlcpy (buf, g_strstrip (text), size);
  return TRUE;
}

static gboolean
sysctl_set (const char *key, const char *value, GError **error)
{
  g_autofree char *path = sysctl_path (key);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  int err = 0;
  if (fd < 0)
    err = errno;
  else
    {
      if (write (fd, value, strlen (value)) != (ssize_t) strlen (value))
        err = errno != 0 ? errno : EIO;
      close (fd);
    }
  if (err != 0)
    {
      g_set_error (error, EMBER_GATEWAY_NAT_ERROR, EMBER_GATEWAY_NAT_ERROR_SYSCTL,
                   "cannot set sysctl %s to %s: %s", key, value, g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

static void
warn_router_advertisements (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/sys/net/ipv6/conf", 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (strcmp (name, "all") == 0 || strcmp (name, "default") == 0 || strcmp (name, "lo") == 0)
        continue;
      g_autofree char *key = g_strdup_printf ("net/ipv6/conf/%s/accept_ra", name);
      char v[32];
      if (sysctl_get (key, v, sizeof v, NULL) && strcmp (v, "1") == 0)
        g_warning ("IPv6 forwarding is now on: %s ignores router advertisements from now on "
                   "(set accept_ra=2 on it to keep them)", name);
    }
}

/* Puts back what was changed, unless someone else changed it since. */
static void
restore_sysctls (EmberGatewayNat *nat)
{
  for (gsize i = G_N_ELEMENTS (nat->sysctls); i > 0; i--)
    {
      Sysctl *s = &nat->sysctls[i - 1];
      if (!s->changed)
        continue;
      char now[32];
      g_autoptr (GError) error = NULL;
      if (sysctl_get (s->key, now, sizeof now, &error) && strcmp (now, "1") != 0)
        g_message ("sysctl %s is %s, changed by someone else: left alone", s->key, now);
      else if (error != NULL || !sysctl_set (s->key, s->was, &error))
        g_warning ("%s", error->message);
      s->changed = FALSE;
    }
}

/* Reads the comment of a table of our name left by a killed run: the
 * sysctl values from before that run replace the ones read now. TRUE if
 * there was such a table. */
static gboolean
read_leftover (EmberGatewayNat *nat)
{
  g_autofree char *list = g_strdup_printf ("list table inet %s\n", nat->table);
  if (nft_run_cmd_from_buffer (nat->nft, list) != 0)
    return FALSE;
  const char *out = nft_ctx_get_output_buffer (nat->nft);
  const char *tag = out != NULL ? strstr (out, "comment \"" COMMENT_TAG " ") : NULL;
  if (tag == NULL)
    return TRUE;
  g_autofree char *comment = g_strndup (tag, strcspn (tag, "\n"));
  for (gsize i = 0; i < G_N_ELEMENTS (nat->sysctls); i++)
    {
      Sysctl *s = &nat->sysctls[i];
      g_autofree char *key = g_strconcat (" ", s->key, "=", NULL);
      const char *v = strstr (comment, key);
      if (v == NULL)
        continue;
      v += strlen (key);
      gsize n = strspn (v, "0123456789");
      if (n == 0 || n >= sizeof s->was)
        continue;
      memcpy (s->was, v, n);
      s->was[n] = '\0';
    }
  return TRUE;
}

EmberGatewayNat *
ember_gateway_nat_new (const char *tun_ifname, GError **error)
{
  g_return_val_if_fail (tun_ifname != NULL, NULL);
  if (!valid_ifname (tun_ifname))
    {
      g_set_error (error, EMBER_GATEWAY_NAT_ERROR, EMBER_GATEWAY_NAT_ERROR_INVALID,
                   "gateway NAT: \"%.32s\" is not an interface name (1-15 letters, digits, "
                   "'-', '_', '.')", tun_ifname);
      return NULL;
    }
  g_autoptr (EmberGatewayNat) nat = g_new0 (EmberGatewayNat, 1);
  nat->ifname = g_strdup (tun_ifname);
  nat->table = g_strconcat (TABLE_PREFIX, tun_ifname, NULL);
  for (char *p = nat->table; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '_')
      *p = '_';
  nat->sysctls[0].key = "net/ipv4/ip_forward";
  nat->sysctls[1].key = "net/ipv6/conf/all/forwarding";
  nat->nft = nft_ctx_new (NFT_CTX_DEFAULT);
  if (nat->nft == NULL)
    {
      g_set_error (error, EMBER_GATEWAY_NAT_ERROR, EMBER_GATEWAY_NAT_ERROR_NFTABLES,
                   "nftables: cannot create a libnftables context");
      return NULL;
    }
  nft_ctx_buffer_output (nat->nft);
  nft_ctx_buffer_error (nat->nft);

  /* The sysctls' values before Ember: now, or, when a killed run left
   * its table, what that run wrote into the table's comment before it
   * changed them (the table is the journal the next start reads). */
  for (gsize i = 0; i < G_N_ELEMENTS (nat->sysctls); i++)
    if (!sysctl_get (nat->sysctls[i].key, nat->sysctls[i].was, sizeof nat->sysctls[i].was,
                     error))
      return NULL;
  gboolean leftover = read_leftover (nat);

  /* One transaction: a leftover table of a killed run is replaced (the
   * "add" makes the "delete" valid when there is none), and nothing is
   * half made when a part is refused. */
  const char *t = nat->table, *dev = nat->ifname;
  g_autofree char *cmds = g_strdup_printf (
      "add table inet %s\n"
      "delete table inet %s\n"
      "table inet %s {\n"
      "  comment \"" COMMENT_TAG " %s=%s %s=%s\"\n"
      "  chain forward {\n"
      "    type filter hook forward priority filter; policy accept;\n"
      "    iifname \"%s\" accept\n"
      "    oifname \"%s\" ct state established,related accept\n"
      "  }\n"
      "  chain postrouting {\n"
      "    type nat hook postrouting priority srcnat; policy accept;\n"
      "    iifname \"%s\" oifname != \"%s\" masquerade\n"
      "  }\n"
      "}\n",
      t, t, t, nat->sysctls[0].key, nat->sysctls[0].was, nat->sysctls[1].key,
      nat->sysctls[1].was, dev, dev, dev, dev);
  if (!nft_run (nat, cmds, "cannot create", error))
    return NULL;
  nat->table_made = TRUE;
  if (leftover)
    g_message ("gateway: replaced table inet %s left by a previous run", nat->table);

  for (gsize i = 0; i < G_N_ELEMENTS (nat->sysctls); i++)
    {
      Sysctl *s = &nat->sysctls[i];
      if (strcmp (s->was, "1") == 0)
        continue;
      /* To be restored at exit, whether this run or the killed one set it. */
      s->changed = TRUE;
      char now[32];
      if (!sysctl_get (s->key, now, sizeof now, error))
        return NULL;
      if (strcmp (now, "1") == 0)
        continue;
      if (!sysctl_set (s->key, "1", error))
        return NULL;
      if (i == 1)
        warn_router_advertisements ();
    }
  g_message ("gateway: forwarding from %s with masquerade (nftables table inet %s)",
             nat->ifname, nat->table);
  return g_steal_pointer (&nat);
}

const char *
ember_gateway_nat_get_table (EmberGatewayNat *nat)
{
  g_return_val_if_fail (nat != NULL, NULL);
  return nat->table;
}

void
ember_gateway_nat_free (EmberGatewayNat *nat)
{
  if (nat == NULL)
    return;
  restore_sysctls (nat);
  if (nat->table_made)
    {
      g_autofree char *cmds = g_strdup_printf ("delete table inet %s\n", nat->table);
      g_autoptr (GError) error = NULL;
      if (!nft_run (nat, cmds, "cannot delete", &error))
        g_warning ("%s", error->message);
    }
  if (nat->nft != NULL)
    nft_ctx_free (nat->nft);
  g_free (nat->table);
  g_free (nat->ifname);
  g_free (nat);
}
