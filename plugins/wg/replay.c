/* replay.c — sliding replay window (see replay.h). */
#include "replay.h"

#include <string.h>

void
ember_wg_replay_init (EmberWgReplay *r)
{
  memset (r, 0, sizeof *r);
}

gboolean
ember_wg_replay_check (EmberWgReplay *r, guint64 counter)
{
  guint64 pos, word, cur_word, bit;

  /* Whitepaper §5.4.6 / §6.2: a session never carries more than
   * REJECT_AFTER_MESSAGES messages. */
  if (r->next >= EMBER_WG_REJECT_AFTER_MESSAGES + 1
      || counter >= EMBER_WG_REJECT_AFTER_MESSAGES)
    return FALSE;

  /* Shift by one so that "next" == 0 means nothing seen yet and counter
   * 0 is still acceptable. */
  pos = counter + 1;
  if (pos + EMBER_WG_REPLAY_WINDOW < r->next)
    return FALSE;  /* too old */

  word = pos >> 6;
  if (pos > r->next)
    {
      /* Moving forward: clear the words between the old head and the new
       * one (at most the whole ring). */
      cur_word = r->next >> 6;
      guint64 span = MIN (word - cur_word, (guint64) EMBER_WG_REPLAY_WORDS);
      for (guint64 i = 1; i <= span; i++)
        r->bitmap[(cur_word + i) & (EMBER_WG_REPLAY_WORDS - 1)] = 0;
      r->next = pos;
    }

  word &= EMBER_WG_REPLAY_WORDS - 1;
  bit = G_GUINT64_CONSTANT (1) << (pos & 63);
  if (r->bitmap[word] & bit)
    return FALSE;  /* duplicate */
  r->bitmap[word] |= bit;
  return TRUE;
}
