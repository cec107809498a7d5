/* tests/dns/test-pattern: matching names against `dns` resource patterns
 * and the precedence exact > ? > * > ** among several that match. */
#include <string.h>

#include "dns/pattern.h"

typedef struct {
  const char *pattern;
  const char *name;
  gboolean match;
} MatchCase;

static const MatchCase match_cases[] = {
  { "app.corp.example", "app.corp.example", TRUE },
  { "app.corp.example", "APP.Corp.Example.", TRUE },
  { "app.corp.example", "x.app.corp.example", FALSE },
  { "app.corp.example", "corp.example", FALSE },
  { "app.corp.example", "app.corp.example.com", FALSE },
  { "app.corp.example", "pp.corp.example", FALSE },
  /* ? is exactly one character of one label */
  { "host-?.corp.example", "host-a.corp.example", TRUE },
  { "host-?.corp.example", "host-7.corp.example", TRUE },
  { "host-?.corp.example", "host-.corp.example", FALSE },
  { "host-?.corp.example", "host-ab.corp.example", FALSE },
  { "host-?.corp.example", "host-a.b.corp.example", FALSE },
  { "??.corp.example", "ab.corp.example", TRUE },
  { "??.corp.example", "a.corp.example", FALSE },
  { "app.c?rp.example", "app.corp.example", TRUE },
  /* *. is one label or the apex */
  { "*.corp.example", "corp.example", TRUE },
  { "*.corp.example", "wiki.corp.example", TRUE },
  { "*.corp.example", "WIKI.corp.example.", TRUE },
  { "*.corp.example", "a.wiki.corp.example", FALSE },
  { "*.corp.example", "xcorp.example", FALSE },
  { "*.corp.example", "example", FALSE },
  { "*.corp.example", "corp.example.org", FALSE },
  { "*.h?st.example", "a.host.example", TRUE },
  /* **. is any depth, the apex included */
  { "**.corp.example", "corp.example", TRUE },
  { "**.corp.example", "a.corp.example", TRUE },
  { "**.corp.example", "a.b.c.d.corp.example", TRUE },
  { "**.corp.example", "acorp.example", FALSE },
  { "**.corp.example", "corp.example.evil", FALSE },
  { "**.corp.example", "a..corp.example", FALSE },
  /* names that are not names */
  { "app.corp.example", "", FALSE },
  { "**.corp.example", ".corp.example", FALSE },
};

static void
test_match_table (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (match_cases); i++)
    {
      const MatchCase *c = &match_cases[i];
      if (ember_dns_pattern_match (c->pattern, c->name) != c->match)
        g_error ("%s ~ \"%s\": expected %s", c->pattern, c->name, c->match ? "match" : "no match");
    }
}

static void
test_normalize_accepts_and_canonicalizes (void)
{
  const char *in[] = { "App.Corp.Example.", "*.CORP.example", "**.corp.example", "h?st.x", "a_b.c" };
  const char *out[] = { "app.corp.example", "*.corp.example", "**.corp.example", "h?st.x", "a_b.c" };

  for (guint i = 0; i < G_N_ELEMENTS (in); i++)
    {
      GError *error = NULL;
      g_autofree char *n = ember_dns_pattern_normalize (in[i], &error);
      g_assert_no_error (error);
      g_assert_cmpstr (n, ==, out[i]);
    }
}

static void
test_normalize_refuses_bad_patterns (void)
{
  g_autofree char *long_label = g_strnfill (64, 'a');
  g_autofree char *long_label_name = g_strconcat (long_label, ".example", NULL);
  g_autofree char *long_name = NULL;
  const char *bad[] = {
    "", "*", "**", "a.*.example", "a*.example", "*a.example", "***.example", "a..example",
    ".example", "a b.example", "a/b.example", "*.", "..", NULL, NULL,
  };
  GString *s = g_string_new (NULL);

  while (s->len < 260)
    g_string_append (s, "abcdefgh.");
  g_string_append (s, "example");
  long_name = g_string_free (s, FALSE);
  bad[G_N_ELEMENTS (bad) - 2] = long_label_name;
  bad[G_N_ELEMENTS (bad) - 1] = long_name;
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GError *error = NULL;
      char *n = ember_dns_pattern_normalize (bad[i], &error);
      if (n != NULL)
        g_error ("\"%s\" was accepted as \"%s\"", bad[i], n);
      g_assert_error (error, EMBER_DNS_PATTERN_ERROR, 0);
      g_assert_nonnull (strstr (error->message, "expected a DNS name pattern"));
      g_error_free (error);
    }
}

static void
test_kind_of_each_pattern (void)
{
  g_assert_cmpint (ember_dns_pattern_kind ("a.example"), ==, EMBER_DNS_PATTERN_EXACT);
  g_assert_cmpint (ember_dns_pattern_kind ("?.example"), ==, EMBER_DNS_PATTERN_QUESTION);
  g_assert_cmpint (ember_dns_pattern_kind ("*.example"), ==, EMBER_DNS_PATTERN_STAR);
  g_assert_cmpint (ember_dns_pattern_kind ("*.?.example"), ==, EMBER_DNS_PATTERN_STAR);
  g_assert_cmpint (ember_dns_pattern_kind ("**.example"), ==, EMBER_DNS_PATTERN_DOUBLE_STAR);
}

static const char *
best (const char *const *patterns, gsize n, const char *name)
{
  gssize i = ember_dns_pattern_best (patterns, n, name);

  return i < 0 ? NULL : patterns[i];
}

static void
test_precedence_exact_question_star_double_star (void)
{
  /* In every order, the most precise matching pattern wins. */
  const char *all[] = { "**.corp.example", "*.corp.example", "?pp.corp.example", "app.corp.example" };
  const char *order[4];

  for (guint rot = 0; rot < 4; rot++)
    {
      for (guint i = 0; i < 4; i++)
        order[i] = all[(i + rot) % 4];
      g_assert_cmpstr (best (order, 4, "app.corp.example"), ==, "app.corp.example");
      g_assert_cmpstr (best (order, 4, "bpp.corp.example"), ==, "?pp.corp.example");
      g_assert_cmpstr (best (order, 4, "wiki.corp.example"), ==, "*.corp.example");
      g_assert_cmpstr (best (order, 4, "corp.example"), ==, "*.corp.example");
      g_assert_cmpstr (best (order, 4, "a.b.corp.example"), ==, "**.corp.example");
      g_assert_null (best (order, 4, "corp.example.org"));
    }
}

static void
test_precedence_among_equals_prefers_the_longer (void)
{
  const char *stars[] = { "**.example", "**.corp.example" };
  const char *singles[] = { "*.corp.example", "*.a.corp.example" };
  const char *questions[] = { "a?.corp.example", "??.corp.example" };

  g_assert_cmpstr (best (stars, 2, "x.corp.example"), ==, "**.corp.example");
  g_assert_cmpstr (best (stars, 2, "x.other.example"), ==, "**.example");
  g_assert_cmpstr (best (singles, 2, "a.corp.example"), ==, "*.a.corp.example");
  g_assert_cmpstr (best (questions, 2, "ab.corp.example"), ==, "a?.corp.example");
  g_assert_cmpint (ember_dns_pattern_compare ("a.example", "a.example"), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dns/pattern/match/table", test_match_table);
  g_test_add_func ("/dns/pattern/normalize/accepts-and-canonicalizes",
                   test_normalize_accepts_and_canonicalizes);
  g_test_add_func ("/dns/pattern/normalize/refuses-bad-patterns",
                   test_normalize_refuses_bad_patterns);
  g_test_add_func ("/dns/pattern/kind/of-each-pattern", test_kind_of_each_pattern);
  g_test_add_func ("/dns/pattern/precedence/exact-question-star-double-star",
                   test_precedence_exact_question_star_double_star);
  g_test_add_func ("/dns/pattern/precedence/among-equals-prefers-the-longer",
                   test_precedence_among_equals_prefers_the_longer);
  return g_test_run ();
}
