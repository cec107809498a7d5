/* pcap.c — see pcap.h. */
#include "pcap.h"

#include <string.h>

struct _TestPcap {
  GPtrArray *records; /* GBytes of UDP payloads */
};

TestPcap *
test_pcap_new (void)
{
  TestPcap *p = g_new0 (TestPcap, 1);
  p->records = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  return p;
}

void
test_pcap_free (TestPcap *pcap)
{
  if (pcap == NULL)
    return;
  g_ptr_array_unref (pcap->records);
  g_free (pcap);
}

void
test_pcap_add (TestPcap *pcap, const guint8 *payload, gsize len)
{
  if (pcap != NULL && len <= 65000)
    g_ptr_array_add (pcap->records, g_bytes_new (payload, len));
}

guint
test_pcap_count (const TestPcap *pcap)
{
  return pcap->records->len;
}

static void
put16 (GByteArray *a, guint16 v)
{
  guint8 b[2] = { (guint8) (v >> 8), (guint8) v };
  g_byte_array_append (a, b, 2);
}

static void
put_native32 (GByteArray *a, guint32 v)
{
  g_byte_array_append (a, (const guint8 *) &v, 4);
}

static void
put_native16 (GByteArray *a, guint16 v)
{
  g_byte_array_append (a, (const guint8 *) &v, 2);
}

gboolean
test_pcap_write (const TestPcap *pcap, const char *path, GError **error)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  /* Global header, host byte order: the magic number tells readers which. */
  put_native32 (out, 0xa1b2c3d4u);
  put_native16 (out, 2);
  put_native16 (out, 4);
  put_native32 (out, 0);
  put_native32 (out, 0);
  put_native32 (out, 65535);
  put_native32 (out, 101); /* LINKTYPE_RAW: packets begin with the IP header */

  for (guint i = 0; i < pcap->records->len; i++)
    {
      gsize len;
      const guint8 *payload = g_bytes_get_data (pcap->records->pdata[i], &len);
      guint32 total = (guint32) (20 + 8 + len);
      put_native32 (out, 1700000000u + i);
      put_native32 (out, 0);
      put_native32 (out, total);
      put_native32 (out, total);

      /* IPv4 header with its checksum; client 192.0.2.1 -> server .2 for
       * requests, alternating is not needed: the dissector keys on 3478. */
      guint8 ip[20] = { 0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2 };
      ip[2] = (guint8) (total >> 8);
      ip[3] = (guint8) total;
      ip[4] = (guint8) (i >> 8);
      ip[5] = (guint8) i;
      guint32 sum = 0;
      for (int k = 0; k < 20; k += 2)
        sum += (guint32) (ip[k] << 8 | ip[k + 1]);
      while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
      ip[10] = (guint8) (~sum >> 8);
      ip[11] = (guint8) ~sum;
      g_byte_array_append (out, ip, 20);
      put16 (out, 40000);
      put16 (out, 3478);
      put16 (out, (guint16) (8 + len));
      put16 (out, 0); /* no UDP checksum: allowed over IPv4 */
      g_byte_array_append (out, payload, (guint) len);
    }
  return g_file_set_contents (path, (const char *) out->data, (gssize) out->len, error);
}

gboolean
test_pcap_tshark_clean (const char *path, guint expected_frames, gboolean *skipped, char **report)
{
  *skipped = FALSE;
  *report = NULL;
  g_autofree char *tshark = g_find_program_in_path ("tshark");
  if (tshark == NULL)
    {
      *skipped = TRUE;
      return FALSE;
    }
  /* One line per frame: its protocols and any expert messages. The STUN
   * dissector is bound to udp/3478, so every frame must decode as stun. */
  const char *argv[] = { "timeout", "60", tshark, "-n", "-r", path, "-T", "fields",
                         "-e", "frame.number", "-e", "frame.protocols", "-e", "_ws.expert.message",
                         "-e", "_ws.malformed", "-e", "_ws.expert",
                         NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  gint status = 0;
  g_autoptr (GError) error = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                     &status, &error))
    {
      *report = g_strdup_printf ("spawn tshark: %s", error->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, &error))
    {
      *report = g_strdup_printf ("tshark failed: %s\n%s", error->message, err);
      return FALSE;
    }
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  guint frames = 0;
  GString *bad = g_string_new (NULL);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] == '\0')
        continue;
      frames++;
      g_auto (GStrv) f = g_strsplit (lines[i], "\t", -1);
      guint nf = g_strv_length (f);
      gboolean is_stun = nf > 1 && strstr (f[1], "stun") != NULL;
      gboolean malformed = (nf > 3 && f[3][0] != '\0') || (nf > 4 && f[4][0] != '\0') ||
                           (nf > 2 && f[2][0] != '\0');
      if (!is_stun || malformed)
        g_string_append_printf (bad, "%s\n", lines[i]);
    }
  /* Second pass: the STUN dissector marks some problems only in the
   * detail tree ("bogus" lengths), not as expert items. */
  const char *argv_v[] = { "timeout", "60", tshark, "-n", "-r", path, "-V", NULL };
  g_autofree char *detail = NULL;
  if (g_spawn_sync (NULL, (char **) argv_v, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                    NULL, NULL, &detail, NULL, &status, NULL) &&
      detail != NULL)
    {
      g_auto (GStrv) dl = g_strsplit (detail, "\n", -1);
      for (guint i = 0; dl[i] != NULL; i++)
        if (strstr (dl[i], "bogus") != NULL || strstr (dl[i], "Malformed") != NULL ||
            strstr (dl[i], "Expert Info (Warn") != NULL || strstr (dl[i], "Expert Info (Error") != NULL)
          g_string_append_printf (bad, "detail: %s\n", dl[i]);
    }
  else
    g_string_append (bad, "tshark -V failed\n");
  if (frames != expected_frames)
    g_string_append_printf (bad, "tshark saw %u frames, expected %u\n", frames, expected_frames);
  if (bad->len > 0)
    {
      *report = g_string_free (bad, FALSE);
      return FALSE;
    }
  g_string_free (bad, TRUE);
  return TRUE;
}
