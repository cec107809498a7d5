/* turn-wake — when the TURN transport wakes the core: the readiness
 * thread (one per backend; it poll()s the sockets and an eventfd while
 * armed and wakes the stored waker once), the earliest deadline it waits
 * for, the clients' timers the core runs, and the wake after a control
 * call. The thread touches only the fields under `lock`; everything else
 * here runs on the core's thread.
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "turn-transport-private.h"

/* ---- Readiness thread ---------------------------------------------------- */

/* With `lock` held: make the thread look at its state again. */
void
turn_kick_locked (EmberBackend *be)
{
  if (be->polling)
    {
      guint64 one = 1;
      while (write (be->kick_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    }
  else
    g_cond_signal (&be->cond);
}

static int
timeout_ms (gint64 deadline)
{
  if (deadline == G_MAXINT64)
    return -1;
  gint64 left = deadline - g_get_monotonic_time ();
  if (left <= 0)
    return 0;
  return (int) MIN ((left + 999) / 1000, G_MAXINT);
}

gpointer
turn_readiness_thread (gpointer data)
{
  EmberBackend *be = data;
  g_mutex_lock (&be->lock);
  while (!be->stopping)
    {
      /* POLLOUT only on the socket that blocked: the other one is
       * writable and would wake the core in a loop. */
      int out_fd = be->recv_armed || be->send_armed ? be->out_fd : -1;
      if (!be->recv_armed && out_fd < 0)
        {
          g_cond_wait (&be->cond, &be->lock);
          continue;
        }
      struct pollfd pfd[3] = { { .fd = be->kick_fd, .events = POLLIN } };
      nfds_t n = 1;
      int fds[2] = { be->fd4, be->fd6 };
      for (guint i = 0; i < 2; i++)
        if (fds[i] >= 0)
          pfd[n++] = (struct pollfd) {
            .fd = fds[i],
            .events = (short) ((be->recv_armed ? POLLIN : 0) | (fds[i] == out_fd ? POLLOUT : 0)),
          };
      int timeout = timeout_ms (be->recv_armed ? be->deadline : G_MAXINT64);
      be->polling = TRUE;
      g_mutex_unlock (&be->lock);

      int r = poll (pfd, n, timeout);
      if (r > 0 && (pfd[0].revents & POLLIN))
        {
          guint64 v;
          ssize_t drained = read (be->kick_fd, &v, sizeof v);  /* non-blocking */
          (void) drained;
        }

      g_mutex_lock (&be->lock);
      be->polling = FALSE;
      if (be->stopping)
        break;
      gboolean in = FALSE, out = FALSE;
      for (nfds_t i = 1; r > 0 && i < n; i++)
        {
          in |= (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
          out |= (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP)) != 0;
        }
      EmberWaker *wake_recv = NULL, *wake_send = NULL;
      if (be->recv_armed && (in || out || g_get_monotonic_time () >= be->deadline))
        {
          be->recv_armed = FALSE;
          wake_recv = be->recv_waker;
        }
      if (be->send_armed && out)
        {
          be->send_armed = FALSE;
          wake_send = be->send_waker;
        }
      if (wake_recv != NULL || wake_send != NULL)
        {
          g_mutex_unlock (&be->lock);
          ember_waker_wake (wake_recv);
          ember_waker_wake (wake_send);
          g_mutex_lock (&be->lock);
        }
    }
  g_mutex_unlock (&be->lock);
  return NULL;
}

/* ---- Timers and wakes ------------------------------------------------------ */

/* No floor: turn_run_timers(now) leaves every one of these after `now`.
 * A client's poll_timeout() is later than the `now` of its last
 * handle_timeout(), even while all its transaction slots are busy
 * (client.h); held datagrams that old are dropped and credentials that
 * old renewed. So a deadline found already past has elapsed since, and
 * the wake it brings runs the timers that move it on: no spin. */
gint64
turn_next_deadline (EmberBackend *be)
{
  gint64 t = be->rest_renew_at;
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      t = MIN (t, ember_turn_client_poll_timeout (r->client));
      if (r->n_held > 0)
        t = MIN (t, r->held[r->held_order[0]].since + TURN_HOLD_US);
    }
  return t;
}

void
turn_run_timers (EmberBackend *be, gint64 now)
{
  /* After a suspend the monotonic deadline lies ahead while the username
   * is about to expire: the wall clock catches that at the next wake
   * (client keepalives bring one every few seconds). */
  if (now >= be->rest_renew_at || g_get_real_time () / G_USEC_PER_SEC >= be->rest_renew_unix)
    turn_renew_rest_credentials (be, now);
  for (guint i = 0; i < be->relays->len; i++)
    {
      Relay *r = g_ptr_array_index (be->relays, i);
      if (now >= ember_turn_client_poll_timeout (r->client))
        ember_turn_client_handle_timeout (r->client, now);
      turn_relay_drain (be, r, now);
    }
}

/* End of a call from outside poll_recv_many(): the core learns about new
 * events through the recv waker, and the readiness thread about an
 * earlier deadline or datagrams waiting for POLLOUT. */
void
turn_after_control (EmberBackend *be)
{
  gint64 dl = turn_next_deadline (be);
  EmberWaker *wake = NULL;
  g_mutex_lock (&be->lock);
  int out_fd = turn_blocked_fd (be);
  if (be->events_new)
    {
      wake = be->recv_waker;
      be->recv_armed = FALSE;
    }
  else if (be->recv_armed && (dl < be->deadline || out_fd != be->out_fd))
    {
      be->deadline = MIN (be->deadline, dl);
      be->out_fd = out_fd;
      turn_kick_locked (be);
    }
  g_mutex_unlock (&be->lock);
  be->events_new = FALSE;
  ember_waker_wake (wake);
}
