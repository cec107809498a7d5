/* ice/checks — connectivity and consent checks on the wire: building
 * STUN binding requests with short-term credentials, answering the
 * peer's, and processing responses (RFC 8445 §7, RFC 7675). */
#define G_LOG_DOMAIN "ember-ice"

#include "ice/agent-private.h"
#include "stun/message.h"

#include <string.h>

void
ice_queue_transmit (EmberIceAgent *agent, const EmberAddr *from, const EmberAddr *to,
                    const guint8 *buf, gsize len)
{
  if (len == 0 || len > EMBER_ICE_MAX_MESSAGE)
    return;
  if (agent->tx_len == EMBER_ICE_MAX_TRANSMITS)
    {
      /* The caller did not drain: drop the oldest (STUN retransmits). */
      agent->tx_head = (agent->tx_head + 1) % EMBER_ICE_MAX_TRANSMITS;
      agent->tx_len--;
    }
  IceTransmit *t = &agent->transmits[(agent->tx_head + agent->tx_len) % EMBER_ICE_MAX_TRANSMITS];
  t->from = *from;
  t->to = *to;
  t->len = len;
  memcpy (t->data, buf, len);
  agent->tx_len++;
}

/* RFC 8445 §7.1: USERNAME "remote_ufrag:local_ufrag", PRIORITY as a
 * peer-reflexive candidate of the local base, the role attribute with
 * our tie-breaker, USE-CANDIDATE when nominating, MESSAGE-INTEGRITY keyed
 * with the remote password, FINGERPRINT (§7.1 requires it). */
static void
send_request (EmberIceAgent *agent, const IcePair *p, const guint8 *txid, gboolean use_candidate)
{
  guint8 buf[EMBER_ICE_MAX_MESSAGE];
  char username[2 * EMBER_ICE_UFRAG_MAX + 2];
  g_snprintf (username, sizeof username, "%s:%s", agent->remote_ufrag, agent->local_ufrag);
  guint16 local_pref = p->local.base.family == EMBER_ADDR_IPV6 ? EMBER_ICE_LOCAL_PREF_IPV6
                                                               : EMBER_ICE_LOCAL_PREF_IPV4;
  guint32 prio = p->local.type == EMBER_ICE_CANDIDATE_RELAY
                     ? p->local.priority
                     : ember_ice_candidate_priority (EMBER_ICE_CANDIDATE_PRFLX, local_pref,
                                                     EMBER_ICE_COMPONENT);
  EmberStunBuilder b;
  ember_stun_builder_init (&b, buf, sizeof buf, EMBER_STUN_METHOD_BINDING,
                           EMBER_STUN_CLASS_REQUEST, txid);
  ember_stun_builder_add_string (&b, EMBER_STUN_ATTR_USERNAME, username);
  ember_stun_builder_add_u32 (&b, EMBER_STUN_ATTR_PRIORITY, prio);
  ember_stun_builder_add_u64 (&b,
                              agent->role == EMBER_ICE_ROLE_CONTROLLING
                                  ? EMBER_STUN_ATTR_ICE_CONTROLLING
                                  : EMBER_STUN_ATTR_ICE_CONTROLLED,
                              agent->tie_breaker);
  if (use_candidate && agent->role == EMBER_ICE_ROLE_CONTROLLING)
    ember_stun_builder_add_flag (&b, EMBER_STUN_ATTR_USE_CANDIDATE);
  ember_stun_builder_add_integrity (&b, (const guint8 *) agent->remote_pwd,
                                    strlen (agent->remote_pwd));
  ember_stun_builder_add_fingerprint (&b);
  gsize len = ember_stun_builder_finish (&b, NULL);
  if (len > 0)
    ice_queue_transmit (agent, &p->local.base, &p->remote.addr, buf, len);
}

void
ice_check_send (EmberIceAgent *agent, gint64 now, gint index)
{
  IcePair *p = &agent->pairs[index];
  if (p->state != EMBER_ICE_PAIR_IN_PROGRESS)
    {
      /* A new transaction (RFC 8445 §7.2.4). */
      ice_random_bytes (agent, p->txid, sizeof p->txid);
      p->state = EMBER_ICE_PAIR_IN_PROGRESS;
      p->transmits = 0;
      p->rto = EMBER_ICE_CHECK_RTO_US;
      p->tx_use_candidate = p->nominate_next && agent->role == EMBER_ICE_ROLE_CONTROLLING;
      p->tx_retriggered = p->retrigger;
      p->retrigger = FALSE;
    }
  send_request (agent, p, p->txid, p->tx_use_candidate);
  p->transmits++;
  p->next_send = now + p->rto;
  p->rto = MIN (p->rto * 2, EMBER_ICE_CHECK_RTO_MAX_US);
}

void
ice_keepalive_send (EmberIceAgent *agent, gint64 now, gboolean first)
{
  if (agent->selected < 0)
    return;
  if (first)
    {
      ice_random_bytes (agent, agent->ka_txid, sizeof agent->ka_txid);
      agent->ka_in_flight = TRUE;
      agent->ka_rto = EMBER_ICE_CHECK_RTO_US;
    }
  /* RFC 7675 §5.1: consent checks are ordinary binding requests; the
   * controlling agent keeps USE-CANDIDATE off them. */
  send_request (agent, &agent->pairs[agent->selected], agent->ka_txid, FALSE);
  agent->ka_next_send = now + agent->ka_rto;
  agent->ka_rto = MIN (agent->ka_rto * 2, EMBER_ICE_CHECK_RTO_MAX_US);
}

static void
send_response (EmberIceAgent *agent, const EmberStunMessage *req, const EmberAddr *local,
               const EmberAddr *remote, guint error_code)
{
  guint8 buf[EMBER_ICE_MAX_MESSAGE];
  EmberStunBuilder b;
  ember_stun_builder_init (&b, buf, sizeof buf, EMBER_STUN_METHOD_BINDING,
                           error_code ? EMBER_STUN_CLASS_ERROR : EMBER_STUN_CLASS_SUCCESS,
                           req->transaction_id);
  if (error_code)
    ember_stun_builder_add_error_code (&b, error_code, NULL);
  else
    ember_stun_builder_add_xor_address (&b, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, remote);
  /* §7.3: the response is keyed with our own password. */
  ember_stun_builder_add_integrity (&b, (const guint8 *) agent->local_pwd,
                                    strlen (agent->local_pwd));
  ember_stun_builder_add_fingerprint (&b);
  gsize len = ember_stun_builder_finish (&b, NULL);
  if (len > 0)
    ice_queue_transmit (agent, local, remote, buf, len);
}

static gint
learn_peer_reflexive (EmberIceAgent *agent, const EmberAddr *remote, guint32 priority)
{
  /* RFC 8445 §7.3.1.3: an unknown source is a peer-reflexive candidate
   * with the PRIORITY of the request. Seed 000: not after nomination,
   * unless the data still goes through a relay: then the peer, alive
   * and checking on this session's credentials, may be showing us the
   * direct path (agent.h, "Nomination"). */
  if (agent->nominated
      && (agent->selected < 0 || !ice_pair_is_relayed (&agent->pairs[agent->selected])))
    return -1;
  if (agent->n_remote == EMBER_ICE_MAX_REMOTE_CANDIDATES)
    {
      /* Behind a symmetric NAT each new path maps to a new port, so
       * peer-reflexive candidates keep coming: the oldest one that the
       * selected pair does not use makes room. */
      const EmberAddr *sel = agent->selected >= 0 ? &agent->pairs[agent->selected].remote.addr : NULL;
      guint victim = agent->n_remote;
      for (guint i = 0; i < agent->n_remote && victim == agent->n_remote; i++)
        if (agent->remote[i].type == EMBER_ICE_CANDIDATE_PRFLX
            && (sel == NULL || !ember_ice_addr_equal (sel, &agent->remote[i].addr)))
          victim = i;
      if (victim == agent->n_remote)
        return -1;
      EmberAddr gone = agent->remote[victim].addr;
      memmove (&agent->remote[victim], &agent->remote[victim + 1],
               (agent->n_remote - victim - 1) * sizeof agent->remote[0]);
      agent->n_remote--;
      ice_pairs_remove (agent, NULL, &gone);
    }
  EmberIceCandidate *c = &agent->remote[agent->n_remote++];
  memset (c, 0, sizeof *c);
  c->type = EMBER_ICE_CANDIDATE_PRFLX;
  c->addr = *remote;
  c->priority = priority;
  /* §7.3.1.3: a unique foundation of the implementation's choosing. */
  g_snprintf (c->foundation, sizeof c->foundation, "prflx%u", agent->n_remote);
  ice_pairs_form_for_remote (agent, c);
  return 0;
}

static gboolean
remote_known (const EmberIceAgent *agent, const EmberAddr *remote)
{
  for (guint i = 0; i < agent->n_remote; i++)
    if (ember_ice_addr_equal (&agent->remote[i].addr, remote))
      return TRUE;
  return FALSE;
}

static gboolean
local_base_known (const EmberIceAgent *agent, const EmberAddr *local)
{
  for (guint i = 0; i < agent->n_local; i++)
    if (ember_ice_addr_equal (&agent->local[i].base, local))
      return TRUE;
  return FALSE;
}

static void
switch_role (EmberIceAgent *agent, EmberIceRole role)
{
  g_debug ("role conflict: switching to %s",
           role == EMBER_ICE_ROLE_CONTROLLING ? "controlling" : "controlled");
  agent->role = role;
  ice_pairs_recompute_priorities (agent);
}

static EmberIceInputResult
handle_request (EmberIceAgent *agent, gint64 now, const EmberStunMessage *msg,
                const EmberAddr *local, const EmberAddr *remote)
{
  const guint8 *user;
  gsize user_len;
  gsize ufrag_len = strlen (agent->local_ufrag);
  /* §7.3: USERNAME is "our_ufrag:their_ufrag". */
  if (ember_stun_message_get_bytes (msg, EMBER_STUN_ATTR_USERNAME, &user, &user_len)
          != EMBER_STUN_OK
      || user_len <= ufrag_len || memcmp (user, agent->local_ufrag, ufrag_len) != 0
      || user[ufrag_len] != ':')
    return EMBER_ICE_INPUT_NOT_FOR_US;
  if (agent->have_remote_credentials
      && (user_len - ufrag_len - 1 != strlen (agent->remote_ufrag)
          || memcmp (user + ufrag_len + 1, agent->remote_ufrag, user_len - ufrag_len - 1) != 0))
    return EMBER_ICE_INPUT_NOT_FOR_US;  /* an old generation's check */
  if (ember_stun_message_verify_integrity (msg, (const guint8 *) agent->local_pwd,
                                           strlen (agent->local_pwd)) != EMBER_STUN_OK)
    return EMBER_ICE_INPUT_INVALID;
  if (agent->state == EMBER_ICE_STATE_FAILED)
    return EMBER_ICE_INPUT_HANDLED;  /* consent withdrawn: stay silent */

  guint32 priority = 0;
  if (ember_stun_message_get_u32 (msg, EMBER_STUN_ATTR_PRIORITY, &priority) != EMBER_STUN_OK)
    {
      send_response (agent, msg, local, remote, EMBER_STUN_ERROR_BAD_REQUEST);
      return EMBER_ICE_INPUT_INVALID;
    }

  /* §7.3.1.1: role conflicts, decided by the tie-breakers. */
  guint64 theirs;
  if (agent->role == EMBER_ICE_ROLE_CONTROLLING
      && ember_stun_message_get_u64 (msg, EMBER_STUN_ATTR_ICE_CONTROLLING, &theirs)
             == EMBER_STUN_OK)
    {
      if (agent->tie_breaker >= theirs)
        {
          send_response (agent, msg, local, remote, 487);
          return EMBER_ICE_INPUT_HANDLED;
        }
      switch_role (agent, EMBER_ICE_ROLE_CONTROLLED);
    }
  else if (agent->role == EMBER_ICE_ROLE_CONTROLLED
           && ember_stun_message_get_u64 (msg, EMBER_STUN_ATTR_ICE_CONTROLLED, &theirs)
                  == EMBER_STUN_OK)
    {
      if (agent->tie_breaker >= theirs)
        switch_role (agent, EMBER_ICE_ROLE_CONTROLLING);
      else
        {
          send_response (agent, msg, local, remote, 487);
          return EMBER_ICE_INPUT_HANDLED;
        }
    }

  send_response (agent, msg, local, remote, 0);

  if (!local_base_known (agent, local))
    return EMBER_ICE_INPUT_HANDLED;
  if (!remote_known (agent, remote))
    learn_peer_reflexive (agent, remote, priority);
  gint idx = ice_pair_find (agent, local, remote);
  if (idx < 0)
    return EMBER_ICE_INPUT_HANDLED;
  IcePair *p = &agent->pairs[idx];
  gboolean use_candidate = ember_stun_message_has (msg, EMBER_STUN_ATTR_USE_CANDIDATE);

  /* §7.3.1.5: the controlled agent nominates on USE-CANDIDATE. RFC 8445
   * waits for the pair's own check to succeed; we select it at once,
   * because the controlling side only sends USE-CANDIDATE once our
   * answers on this very path reached it, and waiting behind a long
   * triggered queue (symmetric NATs breed peer-reflexive pairs) leaves
   * the controlling side connected and us not. The triggered check still
   * runs and consent checks confirm the path. */
  if (use_candidate && agent->role == EMBER_ICE_ROLE_CONTROLLED)
    {
      /* A pair nominated before and replaced since (the controlling
       * side moved the data to a direct pair) is not taken back by a
       * late copy of its nomination: a check the controlling side sent
       * again, triggered by ours, can arrive after the replacement. */
      gboolean stale = p->nominated && agent->selected >= 0 && agent->selected != idx;
      p->nominated = TRUE;
      if (agent->selected != idx && !stale)
        ice_select_pair (agent, now, idx);
      idx = ice_pair_find (agent, local, remote);
      if (idx < 0)
        return EMBER_ICE_INPUT_HANDLED;
      p = &agent->pairs[idx];
    }
  /* §7.3.1.4: a triggered check unless the pair already succeeded. One
   * In-Progress is cancelled and sent again at once: behind NATs that
   * filter by address and port our first check died at the peer's NAT,
   * which the peer's check has just opened; its retransmission would
   * wait for the RTO (250 ms), the triggered check goes now. The
   * cancelled transaction's answer still counts for its timeout. */
  if (p->state != EMBER_ICE_PAIR_SUCCEEDED
      && !(p->state == EMBER_ICE_PAIR_IN_PROGRESS && p->tx_retriggered))
    {
      if (p->state == EMBER_ICE_PAIR_IN_PROGRESS)
        {
          memcpy (p->old_txid, p->txid, sizeof p->old_txid);
          p->old_use_candidate = p->tx_use_candidate;
          p->old_until = now + EMBER_ICE_CHECK_RTO_MAX_US;
          p->retrigger = TRUE;
        }
      p->state = EMBER_ICE_PAIR_WAITING;
      ice_triggered_push (agent, idx);
      if (agent->next_check > now)
        agent->next_check = now;
    }
  return EMBER_ICE_INPUT_HANDLED;
}

static EmberIceCandidateType
mapped_type (const EmberIceAgent *agent, const IcePair *p, const EmberAddr *mapped)
{
  if (p->local.type == EMBER_ICE_CANDIDATE_RELAY || ember_ice_addr_equal (mapped, &p->local.addr))
    return p->local.type;
  for (guint i = 0; i < agent->n_local; i++)
    if (ember_ice_addr_equal (&agent->local[i].addr, mapped))
      return agent->local[i].type;
  /* §7.2.5.3.1: an unknown mapped address is a local peer-reflexive one. */
  return EMBER_ICE_CANDIDATE_PRFLX;
}

static EmberIceInputResult
handle_keepalive_response (EmberIceAgent *agent, gint64 now, const EmberStunMessage *msg)
{
  if (ember_stun_message_verify_integrity (msg, (const guint8 *) agent->remote_pwd,
                                           strlen (agent->remote_pwd)) != EMBER_STUN_OK)
    return EMBER_ICE_INPUT_INVALID;
  agent->ka_in_flight = FALSE;
  if (msg->klass == EMBER_STUN_CLASS_SUCCESS)
    agent->last_consent = now;
  return EMBER_ICE_INPUT_HANDLED;
}

static EmberIceInputResult
handle_response (EmberIceAgent *agent, gint64 now, const EmberStunMessage *msg,
                 const EmberAddr *local, const EmberAddr *remote)
{
  if (agent->ka_in_flight
      && memcmp (msg->transaction_id, agent->ka_txid, sizeof agent->ka_txid) == 0)
    return handle_keepalive_response (agent, now, msg);
  gboolean cancelled;
  gint idx = ice_pair_find_txid (agent, now, msg->transaction_id, &cancelled);
  if (idx < 0)
    return EMBER_ICE_INPUT_NOT_FOR_US;
  if (ember_stun_message_verify_integrity (msg, (const guint8 *) agent->remote_pwd,
                                           strlen (agent->remote_pwd)) != EMBER_STUN_OK)
    return EMBER_ICE_INPUT_INVALID;
  IcePair *p = &agent->pairs[idx];

  /* §7.2.5.2.1: a response from elsewhere, or arriving on another base,
   * means the path is not symmetric: the pair fails. */
  if (!ember_ice_addr_equal (remote, &p->remote.addr)
      || !ember_ice_addr_equal (local, &p->local.base))
    {
      p->state = EMBER_ICE_PAIR_FAILED;
      return EMBER_ICE_INPUT_HANDLED;
    }

  if (msg->klass == EMBER_STUN_CLASS_ERROR)
    {
      guint code = 0;
      const guint8 *reason;
      gsize reason_len;
      if (ember_stun_message_get_error_code (msg, &code, &reason, &reason_len) == EMBER_STUN_OK
          && code == 487)
        {
          /* §7.2.5.1: switch to the role opposite the one we sent and
           * retry the pair as a triggered check. */
          switch_role (agent, agent->role == EMBER_ICE_ROLE_CONTROLLING
                                  ? EMBER_ICE_ROLE_CONTROLLED
                                  : EMBER_ICE_ROLE_CONTROLLING);
          idx = ice_pair_find (agent, local, remote);
          if (idx >= 0)
            {
              agent->pairs[idx].state = EMBER_ICE_PAIR_WAITING;
              ice_triggered_push (agent, idx);
            }
          return EMBER_ICE_INPUT_HANDLED;
        }
      p->state = EMBER_ICE_PAIR_FAILED;
      return EMBER_ICE_INPUT_HANDLED;
    }

  EmberAddr mapped;
  if (ember_stun_message_get_xor_address (msg, EMBER_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped)
      != EMBER_STUN_OK)
    {
      p->state = EMBER_ICE_PAIR_FAILED;
      return EMBER_ICE_INPUT_INVALID;
    }
  /* The answer to a check a triggered one replaced: the pair works, and
   * the USE-CANDIDATE it carried (if any) is what counts. */
  gboolean use_candidate = cancelled ? p->old_use_candidate : p->tx_use_candidate;
  p->state = EMBER_ICE_PAIR_SUCCEEDED;
  p->old_until = 0;
  p->mapped_type = mapped_type (agent, p, &mapped);
  ice_pairs_thaw_foundation (agent, p);
  if (agent->first_valid == 0)
    agent->first_valid = now;
  if (agent->selected == idx)
    agent->last_consent = now;

  /* §7.2.5.3.4 / §8.1.1: a successful check that carried USE-CANDIDATE
   * (controlling), or that answers a nominated triggered check
   * (controlled), nominates the pair. */
  gboolean nominate = (agent->role == EMBER_ICE_ROLE_CONTROLLING && use_candidate)
                      || (agent->role == EMBER_ICE_ROLE_CONTROLLED && p->nominate_next);
  p->nominate_next = FALSE;
  if (nominate)
    {
      p->nominated = TRUE;
      ice_select_pair (agent, now, idx);
      return EMBER_ICE_INPUT_HANDLED;
    }
  ice_upgrade_to_direct (agent, now);
  return EMBER_ICE_INPUT_HANDLED;
}

EmberIceInputResult
ice_checks_handle (EmberIceAgent *agent, gint64 now, const EmberAddr *local,
                   const EmberAddr *remote, const guint8 *buf, gsize len)
{
  if (ember_stun_classify (buf, len) != EMBER_STUN_KIND_STUN)
    return EMBER_ICE_INPUT_NOT_STUN;
  EmberStunMessage msg;
  if (ember_stun_message_parse (&msg, buf, len) != EMBER_STUN_OK)
    return EMBER_ICE_INPUT_NOT_FOR_US;
  if (msg.method != EMBER_STUN_METHOD_BINDING)
    return EMBER_ICE_INPUT_NOT_FOR_US;
  /* RFC 8445 §7.1: ICE checks always carry FINGERPRINT; a binding
   * without one belongs to a STUN server exchange, not to us. */
  if (msg.fingerprint < 0 || ember_stun_message_verify_fingerprint (&msg) != EMBER_STUN_OK)
    return EMBER_ICE_INPUT_NOT_FOR_US;
  switch (msg.klass)
    {
    case EMBER_STUN_CLASS_REQUEST:
      return handle_request (agent, now, &msg, local, remote);
    case EMBER_STUN_CLASS_SUCCESS:
    case EMBER_STUN_CLASS_ERROR:
      if (!agent->have_remote_credentials)
        return EMBER_ICE_INPUT_NOT_FOR_US;
      return handle_response (agent, now, &msg, local, remote);
    default:
      return EMBER_ICE_INPUT_NOT_FOR_US;
    }
}
