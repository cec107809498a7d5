/* What the script-driven DNS fuzz targets share: a check that aborts
 * (libFuzzer records the input), a deterministic RNG reset per input,
 * and a reader of the script that yields zeros once the input ends. */
#pragma once

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

#define check(cond) \
  do { \
      if (!(cond)) \
        { \
          fprintf (stderr, "check failed: %s\n", #cond); \
          abort (); \
        } \
  } while (0)

/* Set to a constant at the start of each input. */
static guint64 rng_state;

static inline guint64
rng (gpointer user_data)
{
  (void) user_data;
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return rng_state >> 17;
}

typedef struct {
  const guint8 *p;
  gsize left;
} In;

static inline guint8
byte (In *in)
{
  if (in->left == 0)
    return 0;
  in->left--;
  return *in->p++;
}
