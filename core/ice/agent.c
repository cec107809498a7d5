/* ice/agent — control calls, timers, nomination and events of the ICE
 * agent. See agent.h; the wire side lives in checks.c, pairs in
 * checklist.c. */
#define G_LOG_DOMAIN "ember-ice"

#include "ice/agent-private.h"

#include <string.h>

/* RFC 8445 §5.3: ice-char = ALPHA / DIGIT / "+" / "/". */
static const char ice_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
ice_random_bytes (EmberIceAgent *agent, guint8 *out, gsize len)
{
  for (gsize i = 0; i < len; i += 8)
    {
      guint64 r = ember_ice_rng_next (&agent->rng);
      for (gsize j = 0; j < 8 && i + j < len; j++)
        out[i + j] = (guint8) (r >> (8 * j));
    }
}

static void
random_string (EmberIceAgent *agent, char *out, gsize len)
{
  for (gsize i = 0; i < len; i++)
    out[i] = ice_chars[ember_ice_rng_below (&agent->rng, 64)];
  out[len] = '\0';
}

EmberIceAgent *
ember_ice_agent_new (EmberIceRole role, const EmberIceRng *rng, gint64 now)
{
  g_return_val_if_fail (rng != NULL && rng->next != NULL, NULL);
  EmberIceAgent *agent = g_new0 (EmberIceAgent, 1);
  agent->role = role;
  agent->state = EMBER_ICE_STATE_CHECKING;
  agent->rng = *rng;
  agent->tie_breaker = ember_ice_rng_next (&agent->rng);
  random_string (agent, agent->local_ufrag, EMBER_ICE_UFRAG_LEN);
  random_string (agent, agent->local_pwd, EMBER_ICE_PWD_LEN);
  agent->selected = -1;
  agent->created = now;
  agent->next_check = now;
  return agent;
}

void
ember_ice_agent_free (EmberIceAgent *agent)
{
  if (agent == NULL)
    return;
  /* The passwords are secrets of the session. */
  explicit_bzero (agent, sizeof *agent);
  g_free (agent);
}

const char *
ember_ice_agent_get_local_ufrag (const EmberIceAgent *agent)
{
  return agent->local_ufrag;
}

const char *
ember_ice_agent_get_local_pwd (const EmberIceAgent *agent)
{
  return agent->local_pwd;
}

EmberIceRole
ember_ice_agent_get_role (const EmberIceAgent *agent)
{
  return agent->role;
}

EmberIceState
ember_ice_agent_get_state (const EmberIceAgent *agent)
{
  return agent->state;
}

void
ember_ice_agent_set_tie_breaker (EmberIceAgent *agent, guint64 tie_breaker)
{
  agent->tie_breaker = tie_breaker;
}

void
ice_push_event (EmberIceAgent *agent, const EmberIceEvent *ev)
{
  if (agent->ev_len == EMBER_ICE_MAX_EVENTS)
    {
      g_warning ("ICE event queue full: the caller is not draining poll_event()");
      return;
    }
  agent->events[(agent->ev_head + agent->ev_len) % EMBER_ICE_MAX_EVENTS] = *ev;
  agent->ev_len++;
}

void
ice_fail (EmberIceAgent *agent, const char *reason)
{
  if (agent->state == EMBER_ICE_STATE_FAILED)
    return;
  g_debug ("ICE failed: %s", reason);
  agent->state = EMBER_ICE_STATE_FAILED;
  agent->selected = -1;
  agent->n_triggered = 0;
  EmberIceEvent ev = { .type = EMBER_ICE_EVENT_FAILED, .reason = reason };
  ice_push_event (agent, &ev);
}

static gint64
keepalive_interval (EmberIceAgent *agent)
{
  /* RFC 7675 §5.1: randomised to 0.8..1.2 of the interval. */
  guint32 r = ember_ice_rng_below (&agent->rng, 401);
  return EMBER_ICE_KEEPALIVE_US * (gint64) (800 + r) / 1000;
}

void
ice_select_pair (EmberIceAgent *agent, gint64 now, gint index)
{
  if (agent->state == EMBER_ICE_STATE_FAILED)
    return;
  gboolean same = agent->selected == index && agent->state == EMBER_ICE_STATE_CONNECTED;
  agent->selected = index;
  agent->nominated = TRUE;
  agent->state = EMBER_ICE_STATE_CONNECTED;
  agent->last_consent = now;
  if (same)
    return;
  agent->ka_in_flight = FALSE;
  agent->next_keepalive = now + keepalive_interval (agent);
  const IcePair *p = &agent->pairs[index];
  EmberIceEvent ev = { .type = EMBER_ICE_EVENT_CONNECTED, .local = p->local, .remote = p->remote };
  /* Report what the peer sees us as: the server-reflexive candidate of
   * the base when the check's mapped address was it. */
  ev.local.type = p->mapped_type;
  for (guint i = 0; i < agent->n_local; i++)
    if (agent->local[i].type == p->mapped_type
        && ember_ice_addr_equal (&agent->local[i].base, &p->local.base))
      ev.local = agent->local[i];
  char a[EMBER_ICE_ADDR_STRLEN], b[EMBER_ICE_ADDR_STRLEN];
  g_debug ("ICE connected: %s %s -> %s %s", ember_ice_candidate_type_to_string (ev.local.type),
           ember_ice_addr_to_string (&p->local.base, a),
           ember_ice_candidate_type_to_string (p->remote.type),
           ember_ice_addr_to_string (&p->remote.addr, b));
  ice_push_event (agent, &ev);
  /* A direct pair may have succeeded while this relayed one was being
   * nominated. */
  ice_upgrade_to_direct (agent, now);
}

static gboolean
valid_credential (const char *s, gsize min, gsize max)
{
  gsize n = strlen (s);
  if (n < min || n > max)
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (strchr (ice_chars, s[i]) == NULL || s[i] == '\0')
      return FALSE;
  return TRUE;
}

gboolean
ember_ice_agent_set_remote_credentials (EmberIceAgent *agent, const char *ufrag,
                                        const char *pwd, GError **error)
{
  g_return_val_if_fail (agent != NULL && ufrag != NULL && pwd != NULL, FALSE);
  /* RFC 8445 §5.3: ufrag 4..256 and pwd 22..256 characters; we bound
   * both at our buffer sizes. */
  if (!valid_credential (ufrag, 4, EMBER_ICE_UFRAG_MAX)
      || !valid_credential (pwd, 22, EMBER_ICE_PWD_MAX))
    {
      g_set_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_PARSE,
                   "remote ICE credentials: ufrag must be 4..%d and pwd 22..%d ice-chars",
                   EMBER_ICE_UFRAG_MAX, EMBER_ICE_PWD_MAX);
      return FALSE;
    }
  if (agent->have_remote_credentials)
    {
      g_set_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_STATE,
                   "remote ICE credentials already set: an ICE restart needs a new agent");
      return FALSE;
    }
  g_strlcpy (agent->remote_ufrag, ufrag, sizeof agent->remote_ufrag);
  g_strlcpy (agent->remote_pwd, pwd, sizeof agent->remote_pwd);
  agent->have_remote_credentials = TRUE;
  return TRUE;
}

gboolean
ember_ice_agent_set_local_credentials (EmberIceAgent *agent, const char *ufrag,
                                       const char *pwd, GError **error)
{
  g_return_val_if_fail (agent != NULL && ufrag != NULL && pwd != NULL, FALSE);
  if (!valid_credential (ufrag, 4, EMBER_ICE_UFRAG_MAX)
      || !valid_credential (pwd, 22, EMBER_ICE_PWD_MAX))
    {
      g_set_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_PARSE,
                   "local ICE credentials: ufrag must be 4..%d and pwd 22..%d ice-chars",
                   EMBER_ICE_UFRAG_MAX, EMBER_ICE_PWD_MAX);
      return FALSE;
    }
  if (agent->n_local > 0 || agent->n_pairs > 0)
    {
      g_set_error (error, EMBER_ICE_ERROR, EMBER_ICE_ERROR_STATE,
                   "local ICE credentials must be set before any candidate");
      return FALSE;
    }
  g_strlcpy (agent->local_ufrag, ufrag, sizeof agent->local_ufrag);
  g_strlcpy (agent->local_pwd, pwd, sizeof agent->local_pwd);
  return TRUE;
}

static gboolean
refuse (GError **error, EmberIceError code, const char *what, const EmberIceCandidate *cand,
        const char *why)
{
  char a[EMBER_ICE_ADDR_STRLEN];
  g_set_error (error, EMBER_ICE_ERROR, code, "%s candidate %s %s: %s", what,
               ember_ice_candidate_type_to_string (cand->type),
               ember_ice_addr_to_string (&cand->addr, a), why);
  return FALSE;
}

gboolean
ember_ice_agent_add_local_candidate (EmberIceAgent *agent, const EmberIceCandidate *cand,
                                     GError **error)
{
  g_return_val_if_fail (agent != NULL && cand != NULL, FALSE);
  if (!ember_ice_addr_is_set (&cand->addr) || !ember_ice_addr_is_set (&cand->base))
    return refuse (error, EMBER_ICE_ERROR_PARSE, "local", cand, "address or base unset");
  if (agent->state == EMBER_ICE_STATE_FAILED)
    return refuse (error, EMBER_ICE_ERROR_STATE, "local", cand, "the agent failed");
  /* Seed 000: nothing new is paired once a pair is nominated. */
  if (agent->nominated)
    return refuse (error, EMBER_ICE_ERROR_STATE, "local", cand, "a pair is already nominated");
  for (guint i = 0; i < agent->n_local; i++)
    if (ember_ice_addr_equal (&agent->local[i].addr, &cand->addr)
        && agent->local[i].type == cand->type)
      return refuse (error, EMBER_ICE_ERROR_STATE, "local", cand, "duplicate");
  if (agent->n_local == EMBER_ICE_MAX_LOCAL_CANDIDATES)
    return refuse (error, EMBER_ICE_ERROR_LIMIT, "local", cand, "too many local candidates");
  agent->local[agent->n_local++] = *cand;
  ice_pairs_form_for_local (agent, cand);
  EmberIceEvent ev = { .type = EMBER_ICE_EVENT_LOCAL_CANDIDATE, .candidate = *cand };
  ice_push_event (agent, &ev);
  return TRUE;
}

gboolean
ember_ice_agent_add_remote_candidate (EmberIceAgent *agent, const EmberIceCandidate *cand,
                                      GError **error)
{
  g_return_val_if_fail (agent != NULL && cand != NULL, FALSE);
  if (!ember_ice_addr_is_set (&cand->addr) || cand->addr.port == 0)
    return refuse (error, EMBER_ICE_ERROR_PARSE, "remote", cand, "address unset");
  if (agent->state == EMBER_ICE_STATE_FAILED)
    return refuse (error, EMBER_ICE_ERROR_STATE, "remote", cand, "the agent failed");
  /* Seed 000: a peer that already gave up must not be kept probing
   * candidates learned after nomination. */
  if (agent->nominated)
    return refuse (error, EMBER_ICE_ERROR_STATE, "remote", cand, "a pair is already nominated");
  for (guint i = 0; i < agent->n_remote; i++)
    {
      EmberIceCandidate *c = &agent->remote[i];
      if (!ember_ice_addr_equal (&c->addr, &cand->addr))
        continue;
      if (c->type != EMBER_ICE_CANDIDATE_PRFLX)
        return refuse (error, EMBER_ICE_ERROR_STATE, "remote", cand, "duplicate");
      /* RFC 8445 §7.3.1.3: the signalled candidate replaces the
       * peer-reflexive one learned from a check. */
      *c = *cand;
      for (guint j = 0; j < agent->n_pairs; j++)
        if (ember_ice_addr_equal (&agent->pairs[j].remote.addr, &cand->addr))
          agent->pairs[j].remote = *cand;
      ice_pairs_recompute_priorities (agent);
      return TRUE;
    }
  if (agent->n_remote == EMBER_ICE_MAX_REMOTE_CANDIDATES)
    return refuse (error, EMBER_ICE_ERROR_LIMIT, "remote", cand, "too many remote candidates");
  agent->remote[agent->n_remote++] = *cand;
  ice_pairs_form_for_remote (agent, cand);
  return TRUE;
}

void
ice_nominate (EmberIceAgent *agent, gint64 now, gint index)
{
  agent->pairs[index].nominate_next = TRUE;
  agent->pairs[index].state = EMBER_ICE_PAIR_WAITING;
  ice_triggered_push (agent, index);
  agent->next_check = MIN (agent->next_check, now);
}

/* The selected pair went away with a candidate. Fall back to another
 * succeeded pair (the controlling side nominates it), else fail. */
static void
lost_selected (EmberIceAgent *agent, gint64 now, gint except)
{
  gint best = ice_pairs_best_valid (agent, except);
  if (best < 0)
    {
      ice_fail (agent, "the selected pair's candidate was invalidated");
      return;
    }
  if (agent->role == EMBER_ICE_ROLE_CONTROLLING)
    ice_nominate (agent, now, best);
  agent->state = EMBER_ICE_STATE_CHECKING;
  ice_select_pair (agent, now, best);
}

gboolean
ember_ice_agent_invalidate_remote_candidate (EmberIceAgent *agent, gint64 now,
                                             const EmberAddr *addr)
{
  g_return_val_if_fail (agent != NULL && addr != NULL, FALSE);
  gboolean found = FALSE;
  for (guint i = 0; i < agent->n_remote; i++)
    if (ember_ice_addr_equal (&agent->remote[i].addr, addr))
      {
        agent->remote[i] = agent->remote[--agent->n_remote];
        found = TRUE;
        break;
      }
  if (!found)
    return FALSE;
  if (ice_pairs_remove (agent, NULL, addr) && agent->state == EMBER_ICE_STATE_CONNECTED)
    lost_selected (agent, now, -1);
  return TRUE;
}

gboolean
ember_ice_agent_invalidate_local_candidate (EmberIceAgent *agent, gint64 now,
                                            const EmberAddr *addr)
{
  g_return_val_if_fail (agent != NULL && addr != NULL, FALSE);
  gboolean found = FALSE;
  for (guint i = 0; i < agent->n_local; i++)
    if (ember_ice_addr_equal (&agent->local[i].addr, addr))
      {
        EmberIceEvent ev = { .type = EMBER_ICE_EVENT_INVALIDATE_CANDIDATE,
                             .candidate = agent->local[i] };
        gboolean owns_base = agent->local[i].type == EMBER_ICE_CANDIDATE_HOST
                             || agent->local[i].type == EMBER_ICE_CANDIDATE_RELAY;
        agent->local[i] = agent->local[--agent->n_local];
        ice_push_event (agent, &ev);
        found = TRUE;
        /* A srflx candidate going says nothing about its host base. */
        if (owns_base && ice_pairs_remove (agent, addr, NULL)
            && agent->state == EMBER_ICE_STATE_CONNECTED)
          lost_selected (agent, now, -1);
        break;
      }
  return found;
}

EmberIceInputResult
ember_ice_agent_handle_input (EmberIceAgent *agent, gint64 now, const EmberAddr *local,
                              const EmberAddr *remote, const guint8 *buf, gsize len)
{
  g_return_val_if_fail (agent != NULL && local != NULL && remote != NULL, EMBER_ICE_INPUT_INVALID);
  if (buf == NULL || len == 0)
    return EMBER_ICE_INPUT_NOT_STUN;
  return ice_checks_handle (agent, now, local, remote, buf, len);
}

static gboolean
has_check_work (const EmberIceAgent *agent)
{
  if (!agent->have_remote_credentials || agent->state == EMBER_ICE_STATE_FAILED)
    return FALSE;
  if (agent->n_triggered > 0)
    return TRUE;
  for (guint i = 0; i < agent->n_pairs; i++)
    if (agent->pairs[i].state == EMBER_ICE_PAIR_WAITING
        || agent->pairs[i].state == EMBER_ICE_PAIR_FROZEN)
      return TRUE;
  return FALSE;
}

static gboolean
nominating (const EmberIceAgent *agent)
{
  for (guint i = 0; i < agent->n_pairs; i++)
    if (agent->pairs[i].nominate_next
        || (agent->pairs[i].state == EMBER_ICE_PAIR_IN_PROGRESS && agent->pairs[i].tx_use_candidate))
      return TRUE;
  return FALSE;
}

void
ice_upgrade_to_direct (EmberIceAgent *agent, gint64 now)
{
  if (agent->role != EMBER_ICE_ROLE_CONTROLLING || agent->state != EMBER_ICE_STATE_CONNECTED
      || agent->selected < 0 || !ice_pair_is_relayed (&agent->pairs[agent->selected])
      || nominating (agent))
    return;
  gint best = ice_pairs_best_valid (agent, -1);
  if (best < 0 || ice_pair_is_relayed (&agent->pairs[best]))
    return;
  g_debug ("ICE: a direct pair works: nominating it in place of the relayed one");
  ice_nominate (agent, now, best);
}

/* RFC 8445 §8.1.1 regular nomination: when to nominate, or G_MAXINT64.
 * By class rather than by priority alone (agent.h, "Nomination"): a
 * valid direct pair is nominated at once; a relayed one once no direct
 * pair is pending, or EMBER_ICE_RELAY_NOMINATION_DELAY_US after it
 * became valid (a direct pair that succeeds later takes over). */
static gint64
nomination_deadline (const EmberIceAgent *agent)
{
  if (agent->role != EMBER_ICE_ROLE_CONTROLLING || agent->nominated || agent->first_valid == 0
      || agent->state != EMBER_ICE_STATE_CHECKING || nominating (agent))
    return G_MAXINT64;
  gint best = ice_pairs_best_valid (agent, -1);
  if (best < 0)
    return G_MAXINT64;
  /* Relayed pairs rank below every direct one (type preference 0), so
   * a relayed best means no direct pair succeeded yet, and first_valid
   * is when the first relayed one did. */
  if (!ice_pair_is_relayed (&agent->pairs[best]) || !ice_pairs_direct_pending (agent))
    return agent->first_valid;
  return agent->first_valid + EMBER_ICE_RELAY_NOMINATION_DELAY_US;
}

gint64
ember_ice_agent_poll_timeout (const EmberIceAgent *agent)
{
  gint64 t = G_MAXINT64;
  if (agent->state == EMBER_ICE_STATE_FAILED)
    return t;
  if (has_check_work (agent))
    t = MIN (t, agent->next_check);
  for (guint i = 0; i < agent->n_pairs; i++)
    if (agent->pairs[i].state == EMBER_ICE_PAIR_IN_PROGRESS)
      t = MIN (t, agent->pairs[i].next_send);
  t = MIN (t, nomination_deadline (agent));
  if (agent->state == EMBER_ICE_STATE_CHECKING && !agent->nominated)
    t = MIN (t, agent->created + EMBER_ICE_CONNECT_TIMEOUT_US);
  if (agent->selected >= 0)
    {
      t = MIN (t, agent->next_keepalive);
      if (agent->ka_in_flight)
        t = MIN (t, agent->ka_next_send);
      t = MIN (t, agent->last_consent + EMBER_ICE_IDLE_TIMEOUT_US);
    }
  return t;
}

void
ember_ice_agent_handle_timeout (EmberIceAgent *agent, gint64 now)
{
  g_return_if_fail (agent != NULL);
  if (agent->state == EMBER_ICE_STATE_FAILED)
    return;

  /* Retransmissions, and failing checks that ran out of them. */
  for (guint i = 0; i < agent->n_pairs; i++)
    {
      IcePair *p = &agent->pairs[i];
      if (p->state != EMBER_ICE_PAIR_IN_PROGRESS || p->next_send > now)
        continue;
      if (p->transmits >= EMBER_ICE_CHECK_MAX_TRANSMITS)
        {
          p->state = EMBER_ICE_PAIR_FAILED;
          p->nominate_next = FALSE;
          /* A fail-over pair that no longer answers its nomination. */
          if ((gint) i == agent->selected)
            {
              agent->selected = -1;
              lost_selected (agent, now, (gint) i);
              if (agent->state == EMBER_ICE_STATE_FAILED)
                return;
            }
          continue;
        }
      ice_check_send (agent, now, (gint) i);
    }

  if (now >= nomination_deadline (agent))
    ice_nominate (agent, now, ice_pairs_best_valid (agent, -1));

  /* RFC 8445 §6.1.4.2: one new check per Ta. */
  if (has_check_work (agent) && now >= agent->next_check)
    {
      gint idx = ice_pairs_next_check (agent);
      if (idx >= 0)
        ice_check_send (agent, now, idx);
      agent->next_check = now + EMBER_ICE_TA_US;
    }

  if (agent->state == EMBER_ICE_STATE_CHECKING && !agent->nominated
      && now >= agent->created + EMBER_ICE_CONNECT_TIMEOUT_US)
    {
      ice_fail (agent, "no pair was nominated in time");
      return;
    }

  if (agent->selected >= 0)
    {
      if (now - agent->last_consent >= EMBER_ICE_IDLE_TIMEOUT_US)
        {
          ice_fail (agent, "consent lost: no response on the selected pair");
          return;
        }
      if (now >= agent->next_keepalive)
        {
          ice_keepalive_send (agent, now, TRUE);
          agent->next_keepalive = now + keepalive_interval (agent);
        }
      else if (agent->ka_in_flight && now >= agent->ka_next_send)
        ice_keepalive_send (agent, now, FALSE);
    }
}

gsize
ember_ice_agent_poll_transmit (EmberIceAgent *agent, guint8 *buf, gsize cap,
                               EmberAddr *from_local, EmberAddr *to)
{
  g_return_val_if_fail (agent != NULL && buf != NULL, 0);
  if (agent->tx_len == 0)
    return 0;
  IceTransmit *t = &agent->transmits[agent->tx_head];
  if (t->len > cap)
    return 0;
  memcpy (buf, t->data, t->len);
  *from_local = t->from;
  *to = t->to;
  gsize len = t->len;
  agent->tx_head = (agent->tx_head + 1) % EMBER_ICE_MAX_TRANSMITS;
  agent->tx_len--;
  return len;
}

gboolean
ember_ice_agent_poll_event (EmberIceAgent *agent, EmberIceEvent *ev)
{
  g_return_val_if_fail (agent != NULL && ev != NULL, FALSE);
  if (agent->ev_len == 0)
    return FALSE;
  *ev = agent->events[agent->ev_head];
  agent->ev_head = (agent->ev_head + 1) % EMBER_ICE_MAX_EVENTS;
  agent->ev_len--;
  return TRUE;
}

gboolean
ember_ice_agent_get_selected (const EmberIceAgent *agent, EmberIceCandidate *local,
                              EmberIceCandidate *remote)
{
  if (agent->selected < 0 || agent->state != EMBER_ICE_STATE_CONNECTED)
    return FALSE;
  if (local != NULL)
    *local = agent->pairs[agent->selected].local;
  if (remote != NULL)
    *remote = agent->pairs[agent->selected].remote;
  return TRUE;
}

guint
ember_ice_agent_get_n_pairs (const EmberIceAgent *agent)
{
  return agent->n_pairs;
}

gboolean
ember_ice_agent_get_pair (const EmberIceAgent *agent, guint index, EmberIcePairInfo *info)
{
  if (index >= agent->n_pairs)
    return FALSE;
  const IcePair *p = &agent->pairs[index];
  info->local = p->local;
  info->remote = p->remote;
  info->priority = p->priority;
  info->state = p->state;
  info->nominated = p->nominated;
  return TRUE;
}

guint
ember_ice_agent_get_n_remote_candidates (const EmberIceAgent *agent)
{
  return agent->n_remote;
}

const char *
ember_ice_pair_state_to_string (EmberIcePairState state)
{
  switch (state)
    {
    case EMBER_ICE_PAIR_FROZEN: return "frozen";
    case EMBER_ICE_PAIR_WAITING: return "waiting";
    case EMBER_ICE_PAIR_IN_PROGRESS: return "in-progress";
    case EMBER_ICE_PAIR_SUCCEEDED: return "succeeded";
    case EMBER_ICE_PAIR_FAILED: return "failed";
    default: return "unknown";
    }
}
