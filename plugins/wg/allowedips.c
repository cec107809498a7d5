/* allowedips.c — cryptokey routing on an ember-net prefix table (see
 * allowedips.h). */
#include "allowedips.h"

#include "net/prefix-table.h"

struct _EmberWgAllowedIps {
  EmberPrefixTable *table;
};

EmberWgAllowedIps *
ember_wg_allowedips_new (void)
{
  EmberWgAllowedIps *t = g_new0 (EmberWgAllowedIps, 1);
  t->table = ember_prefix_table_new ();
  return t;
}

void
ember_wg_allowedips_free (EmberWgAllowedIps *t)
{
  if (t == NULL)
    return;
  ember_prefix_table_free (t->table);
  g_free (t);
}

gboolean
ember_wg_allowedips_insert (EmberWgAllowedIps *t, int family, const guint8 *addr,
                            guint prefix_len, gpointer value)
{
  EmberCidr cidr;

  if (value == NULL || family < 0 || !ember_cidr_init (&cidr, (guint) family, addr, prefix_len))
    return FALSE;
  ember_prefix_table_insert (t->table, &cidr, value);
  return TRUE;
}

void
ember_wg_allowedips_remove_value (EmberWgAllowedIps *t, gpointer value)
{
  ember_prefix_table_remove_value (t->table, value);
}

gpointer
ember_wg_allowedips_lookup (const EmberWgAllowedIps *t, int family, const guint8 *addr)
{
  if (family < 0)
    return NULL;
  return ember_prefix_table_lookup (t->table, (guint) family, addr, NULL);
}

static gpointer
lookup_packet (const EmberWgAllowedIps *t, const guint8 *p, gsize len, gboolean dst)
{
  if (len >= 20 && (p[0] >> 4) == 4)
    return ember_wg_allowedips_lookup (t, 4, p + (dst ? 16 : 12));
  if (len >= 40 && (p[0] >> 4) == 6)
    return ember_wg_allowedips_lookup (t, 6, p + (dst ? 24 : 8));
  return NULL;
}

gpointer
ember_wg_allowedips_lookup_dst (const EmberWgAllowedIps *t, const guint8 *packet, gsize len)
{
  return lookup_packet (t, packet, len, TRUE);
}

gpointer
ember_wg_allowedips_lookup_src (const EmberWgAllowedIps *t, const guint8 *packet, gsize len)
{
  return lookup_packet (t, packet, len, FALSE);
}
