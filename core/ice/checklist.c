/* ice/checklist — forming, pruning, ordering and thawing candidate pairs
 * (RFC 8445 §6.1.2). See agent-private.h. */
#define G_LOG_DOMAIN "ember-ice"

#include "ice/agent-private.h"

#include <stdlib.h>
#include <string.h>

static int
pair_cmp (const void *a, const void *b)
{
  const IcePair *pa = a, *pb = b;
  if (pa->priority != pb->priority)
    return pa->priority > pb->priority ? -1 : 1;
  return 0;
}

/* Keeps pairs sorted (highest priority first) and `selected` pointing at
 * the same pair after the array moved. */
static void
resort (EmberIceAgent *agent)
{
  EmberAddr sel_local = { 0 }, sel_remote = { 0 };
  gboolean had = agent->selected >= 0;
  if (had)
    {
      sel_local = agent->pairs[agent->selected].local.base;
      sel_remote = agent->pairs[agent->selected].remote.addr;
    }
  qsort (agent->pairs, agent->n_pairs, sizeof agent->pairs[0], pair_cmp);
  if (had)
    agent->selected = ice_pair_find (agent, &sel_local, &sel_remote);
}

static guint64
priority_for (const EmberIceAgent *agent, const EmberIceCandidate *local,
              const EmberIceCandidate *remote)
{
  if (agent->role == EMBER_ICE_ROLE_CONTROLLING)
    return ember_ice_pair_priority (local->priority, remote->priority);
  return ember_ice_pair_priority (remote->priority, local->priority);
}

gint
ice_pair_find (const EmberIceAgent *agent, const EmberAddr *local_base, const EmberAddr *remote)
{
  for (guint i = 0; i < agent->n_pairs; i++)
    if (ember_ice_addr_equal (&agent->pairs[i].local.base, local_base)
        && ember_ice_addr_equal (&agent->pairs[i].remote.addr, remote))
      return (gint) i;
  return -1;
}

gint
ice_pair_find_txid (const EmberIceAgent *agent, gint64 now, const guint8 *txid,
                    gboolean *cancelled)
{
  *cancelled = FALSE;
  for (guint i = 0; i < agent->n_pairs; i++)
    {
      const IcePair *p = &agent->pairs[i];
      if (p->state == EMBER_ICE_PAIR_IN_PROGRESS
          && memcmp (p->txid, txid, EMBER_STUN_TRANSACTION_ID_LEN) == 0)
        return (gint) i;
      if (p->state != EMBER_ICE_PAIR_SUCCEEDED && now < p->old_until
          && memcmp (p->old_txid, txid, EMBER_STUN_TRANSACTION_ID_LEN) == 0)
        {
          *cancelled = TRUE;
          return (gint) i;
        }
    }
  return -1;
}

/* RFC 8445 §6.1.2.4: a server-reflexive local candidate is replaced by
 * its base, since that is where checks are sent from. Returns the
 * candidate to pair: the host candidate with that base if there is one
 * (its priority is the one used), else the srflx itself, sending from its
 * base. */
static const EmberIceCandidate *
pairing_local (const EmberIceAgent *agent, const EmberIceCandidate *local)
{
  if (local->type != EMBER_ICE_CANDIDATE_SRFLX && local->type != EMBER_ICE_CANDIDATE_PRFLX)
    return local;
  for (guint i = 0; i < agent->n_local; i++)
    if (agent->local[i].type == EMBER_ICE_CANDIDATE_HOST
        && ember_ice_addr_equal (&agent->local[i].addr, &local->base))
      return &agent->local[i];
  return local;
}

static void
add_pair (EmberIceAgent *agent, const EmberIceCandidate *local_in,
          const EmberIceCandidate *remote)
{
  const EmberIceCandidate *local = pairing_local (agent, local_in);
  /* RFC 8445 §6.1.2.2: only same-family pairs. */
  if (local->base.family != remote->addr.family)
    return;
  guint64 prio = priority_for (agent, local, remote);
  gint existing = ice_pair_find (agent, &local->base, &remote->addr);
  if (existing >= 0)
    {
      /* §6.1.2.4: redundant pair; keep the higher priority. */
      IcePair *p = &agent->pairs[existing];
      if (prio > p->priority)
        {
          p->priority = prio;
          p->local = *local;
          resort (agent);
        }
      return;
    }
  if (agent->n_pairs == EMBER_ICE_MAX_PAIRS)
    {
      /* §6.1.2.5: at the limit, the lowest-priority pair goes. */
      IcePair *last = &agent->pairs[agent->n_pairs - 1];
      if (last->priority >= prio || agent->selected == (gint) agent->n_pairs - 1)
        return;
      agent->n_pairs--;
    }
  IcePair *p = &agent->pairs[agent->n_pairs++];
  memset (p, 0, sizeof *p);
  p->local = *local;
  p->remote = *remote;
  p->priority = prio;
  p->mapped_type = local->type;
  /* §6.1.2.6: a pair whose foundation already has a pair waits frozen
   * until that one succeeds; the first of a foundation is Waiting. */
  p->state = EMBER_ICE_PAIR_WAITING;
  for (guint i = 0; i + 1 < agent->n_pairs; i++)
    if (strcmp (agent->pairs[i].local.foundation, local->foundation) == 0
        && strcmp (agent->pairs[i].remote.foundation, remote->foundation) == 0)
      {
        p->state = EMBER_ICE_PAIR_FROZEN;
        break;
      }
  resort (agent);
}

void
ice_pairs_form_for_local (EmberIceAgent *agent, const EmberIceCandidate *local)
{
  for (guint i = 0; i < agent->n_remote; i++)
    add_pair (agent, local, &agent->remote[i]);
}

void
ice_pairs_form_for_remote (EmberIceAgent *agent, const EmberIceCandidate *remote)
{
  for (guint i = 0; i < agent->n_local; i++)
    add_pair (agent, &agent->local[i], remote);
}

void
ice_pairs_recompute_priorities (EmberIceAgent *agent)
{
  for (guint i = 0; i < agent->n_pairs; i++)
    agent->pairs[i].priority = priority_for (agent, &agent->pairs[i].local,
                                             &agent->pairs[i].remote);
  resort (agent);
}

gboolean
ice_pairs_remove (EmberIceAgent *agent, const EmberAddr *local_base, const EmberAddr *remote)
{
  gboolean hit_selected = FALSE;
  guint out = 0;
  for (guint i = 0; i < agent->n_pairs; i++)
    {
      const IcePair *p = &agent->pairs[i];
      gboolean drop = (local_base != NULL && ember_ice_addr_equal (&p->local.base, local_base))
                      || (remote != NULL && ember_ice_addr_equal (&p->remote.addr, remote));
      if (drop)
        {
          if ((gint) i == agent->selected)
            hit_selected = TRUE;
          continue;
        }
      if ((gint) i == agent->selected)
        agent->selected = (gint) out;
      agent->pairs[out++] = *p;
    }
  agent->n_pairs = out;
  if (hit_selected)
    agent->selected = -1;
  /* Triggered entries of removed pairs are skipped when popped. */
  return hit_selected;
}

void
ice_triggered_push (EmberIceAgent *agent, gint index)
{
  const IcePair *p = &agent->pairs[index];
  for (guint i = 0; i < agent->n_triggered; i++)
    if (ember_ice_addr_equal (&agent->triggered[i].local, &p->local.base)
        && ember_ice_addr_equal (&agent->triggered[i].remote, &p->remote.addr))
      return;
  if (agent->n_triggered == EMBER_ICE_MAX_TRIGGERED)
    return;
  agent->triggered[agent->n_triggered].local = p->local.base;
  agent->triggered[agent->n_triggered].remote = p->remote.addr;
  agent->n_triggered++;
}

gint
ice_pairs_next_check (EmberIceAgent *agent)
{
  while (agent->n_triggered > 0)
    {
      gint idx = ice_pair_find (agent, &agent->triggered[0].local, &agent->triggered[0].remote);
      agent->n_triggered--;
      memmove (&agent->triggered[0], &agent->triggered[1],
               agent->n_triggered * sizeof agent->triggered[0]);
      /* A pair that succeeded meanwhile (the answer to the check a
       * triggered one cancelled came first) needs no new check; one
       * being nominated is Waiting again. */
      if (idx >= 0 && agent->pairs[idx].state != EMBER_ICE_PAIR_IN_PROGRESS
          && agent->pairs[idx].state != EMBER_ICE_PAIR_SUCCEEDED)
        return idx;
    }
  /* Unlike RFC 8445 §8.1.2 we keep checking the pairs formed before
   * nomination (no new ones are formed, seed 000): each is checked once,
   * and those that succeed are the fail-over when the selected pair's
   * candidate is invalidated. */
  for (guint i = 0; i < agent->n_pairs; i++)
    if (agent->pairs[i].state == EMBER_ICE_PAIR_WAITING)
      return (gint) i;
  /* §6.1.4.2: no Waiting pair: thaw the best Frozen one. */
  for (guint i = 0; i < agent->n_pairs; i++)
    if (agent->pairs[i].state == EMBER_ICE_PAIR_FROZEN)
      return (gint) i;
  return -1;
}

void
ice_pairs_thaw_foundation (EmberIceAgent *agent, const IcePair *succeeded)
{
  /* §7.2.5.3.3: pairs sharing the foundation of a success unfreeze. */
  for (guint i = 0; i < agent->n_pairs; i++)
    {
      IcePair *p = &agent->pairs[i];
      if (p->state == EMBER_ICE_PAIR_FROZEN
          && strcmp (p->local.foundation, succeeded->local.foundation) == 0
          && strcmp (p->remote.foundation, succeeded->remote.foundation) == 0)
        p->state = EMBER_ICE_PAIR_WAITING;
    }
}

gboolean
ice_pair_is_relayed (const IcePair *p)
{
  return p->local.type == EMBER_ICE_CANDIDATE_RELAY || p->remote.type == EMBER_ICE_CANDIDATE_RELAY;
}

gboolean
ice_pairs_direct_pending (const EmberIceAgent *agent)
{
  for (guint i = 0; i < agent->n_pairs; i++)
    if (!ice_pair_is_relayed (&agent->pairs[i])
        && agent->pairs[i].state != EMBER_ICE_PAIR_FAILED
        && agent->pairs[i].state != EMBER_ICE_PAIR_SUCCEEDED)
      return TRUE;
  return FALSE;
}

gint
ice_pairs_best_valid (const EmberIceAgent *agent, gint except)
{
  for (guint i = 0; i < agent->n_pairs; i++)
    if ((gint) i != except && agent->pairs[i].state == EMBER_ICE_PAIR_SUCCEEDED)
      return (gint) i;
  return -1;
}
