/* libFuzzer target: the portal protocol codec. Arbitrary bytes go through
 * frame and message parsing for both channels and both directions; a
 * message that parses must build, and the built text must parse back to
 * an equal message (the only build failure allowed is a frame grown past
 * the size limit, e.g. by escapes). */
#include "portal/codec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

/* A g_return_if_fail reached from input is a bug too: make it fatal. */
int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

static void
roundtrip (const EmberPortalMessage *msg, EmberPortalChannel channel,
           EmberPortalDirection direction)
{
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  g_autofree char *text = ember_portal_message_build (msg, channel, &len, &error);
  if (text == NULL)
    {
      if (g_error_matches (error, EMBER_PORTAL_ERROR, EMBER_PORTAL_ERROR_TOO_LARGE))
        return;
      g_printerr ("parsed but does not build: %s\n", error->message);
      abort ();
    }
  g_auto (EmberPortalMessage) back = { 0 };
  if (!ember_portal_message_parse (text, len, channel, direction, &back, &error))
    {
      g_printerr ("built frame does not parse: %s\n%s\n", error->message, text);
      abort ();
    }
  if (!ember_portal_message_equal (msg, &back))
    {
      g_printerr ("round trip changed the message:\n%s\n", text);
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_auto (EmberPortalFrame) frame = { 0 };
  if (!ember_portal_frame_parse ((const char *) data, size, &frame, NULL))
    return 0;
  for (guint ch = 0; ch < 2; ch++)
    for (guint dir = 0; dir < 2; dir++)
      {
        g_auto (EmberPortalMessage) msg = { 0 };
        g_autoptr (GError) error = NULL;
        if (ember_portal_message_from_frame (&frame, ch, dir, &msg, &error))
          roundtrip (&msg, ch, dir);
        else if (error == NULL || error->domain != EMBER_PORTAL_ERROR)
          abort ();
      }
  return 0;
}
