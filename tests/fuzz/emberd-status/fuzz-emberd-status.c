/* libFuzzer target: emberd's status file reader (bin/emberd/status.c),
 * what `emberd --status` parses. Any bytes either read or give an error;
 * what reads writes back as JSON that reads to the same text again. */
#include <string.h>

#include "status.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  char *text = g_strndup ((const char *) data, size);
  GError *error = NULL;
  EmberStatus *st = ember_status_from_json (text, &error);

  g_free (text);
  if (st == NULL)
    {
      g_assert (error != NULL);
      g_error_free (error);
      return 0;
    }
  char *json = ember_status_to_json (st);
  EmberStatus *again = ember_status_from_json (json, NULL);
  g_assert (again != NULL);
  char *json2 = ember_status_to_json (again);
  g_assert (strcmp (json, json2) == 0);
  g_free (json);
  g_free (json2);
  ember_status_free (again);
  ember_status_free (st);
  return 0;
}
