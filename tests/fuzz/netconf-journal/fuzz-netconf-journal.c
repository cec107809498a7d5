/* libFuzzer target: emberd's netconf journal parser. Any bytes either
 * parse or give an error naming a line; what parses formats back into a
 * journal that parses to the same objects. */
#include <string.h>

#include "netconf-journal.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  GArray *objs = NULL;
  GError *error = NULL;
  if (!ember_netconf_journal_parse ((const char *) data, size, &objs, &error))
    {
      g_assert (error != NULL && strncmp (error->message, "line ", 5) == 0);
      g_error_free (error);
      return 0;
    }
  char *text = ember_netconf_journal_format (objs);
  GArray *again = NULL;
  g_assert (ember_netconf_journal_parse (text, strlen (text), &again, NULL));
  g_assert (again->len == objs->len);
  for (guint i = 0; i < objs->len; i++)
    g_assert (ember_netconf_obj_equal (&g_array_index (objs, EmberNetconfObj, i),
                                       &g_array_index (again, EmberNetconfObj, i)));
  for (guint i = 0; i < objs->len; i++)
    g_free (ember_netconf_obj_describe (&g_array_index (objs, EmberNetconfObj, i)));
  g_free (text);
  g_array_unref (again);
  g_array_unref (objs);
  return 0;
}
