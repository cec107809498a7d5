/* wg-test-util.h — small helpers shared by the WireGuard tests. */
#pragma once

#include <glib.h>
#include <string.h>

static inline char *
wg_test_hex (const guint8 *p, gsize len)
{
  GString *s = g_string_new (NULL);
  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", p[i]);
  return g_string_free (s, FALSE);
}

/* Decodes hex (whitespace ignored) into a new buffer; aborts on bad test
 * data, which is the test's own. */
static inline guint8 *
wg_test_unhex (const char *hex, gsize *out_len)
{
  gsize n = 0, cap = strlen (hex) / 2 + 1;
  guint8 *out = g_malloc0 (cap);
  int hi = -1;

  for (const char *p = hex; *p; p++)
    {
      if (g_ascii_isspace (*p) || *p == ':')
        continue;
      int v = g_ascii_xdigit_value (*p);
      g_assert_cmpint (v, >=, 0);
      if (hi < 0)
        hi = v;
      else
        {
          out[n++] = (guint8) (hi << 4 | v);
          hi = -1;
        }
    }
  g_assert_cmpint (hi, ==, -1);
  if (out_len)
    *out_len = n;
  return out;
}

/* g_assert_cmpmem with gsize lengths (the GLib macro takes int). */
#define wg_assert_mem(a, alen, b, blen)                                  \
  G_STMT_START {                                                         \
    gsize al_ = (alen), bl_ = (blen);                                    \
    g_assert_cmpuint (al_, ==, bl_);                                     \
    if (memcmp ((a), (b), al_) != 0)                                     \
      {                                                                  \
        g_autofree char *ha_ = wg_test_hex ((const guint8 *) (a), al_);  \
        g_autofree char *hb_ = wg_test_hex ((const guint8 *) (b), bl_);  \
        g_error ("memory differs:\n got %s\nwant %s", ha_, hb_);         \
      }                                                                  \
  } G_STMT_END

#define wg_assert_hex(buf, len, hex)                         \
  G_STMT_START {                                             \
    gsize exp_len_;                                          \
    g_autofree guint8 *exp_ = wg_test_unhex ((hex), &exp_len_); \
    wg_assert_mem ((buf), (len), exp_, exp_len_);                \
  } G_STMT_END
