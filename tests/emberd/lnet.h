/* lnet — network namespaces for the emberd netns tests.
 *
 * Each test runs its body in a subprocess (g_test_trap_subprocess) that
 * enters a named namespace "lnet-<tag>-<pid>" the parent created; the
 * parent deletes the namespace whatever the body did (assertion, crash,
 * ASan abort) and then checks the subprocess passed. Everything the body
 * makes lives in the namespace and goes with it.
 *
 *   static void test_x (void) {
 *     if (lnet_run_in_ns ("x")) return;   // parent: done
 *     ... body, inside the namespace ...
 *   }
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* NULL when the tests can run, else why not (for g_test_skip). */
const char *lnet_skip_reason (void);

/* In the parent: creates the namespace, runs this test in a subprocess,
 * deletes the namespace, asserts the subprocess passed; returns TRUE. In
 * the subprocess: enters the namespace (lo up) and returns FALSE. Skips
 * (returning TRUE) when lnet_skip_reason() says so. */
gboolean lnet_run_in_ns (const char *tag);
/* The namespace's name (subprocess only). */
const char *lnet_ns_name (void);
/* Subprocess: creates another namespace, "<name>-<suffix>", which the
 * parent deletes with the first one; returns its name (g_free) and, in
 * *fd, an open descriptor for lnet_ns_enter(). */
char *lnet_ns_extra (const char *suffix, int *fd);
/* A descriptor of the calling thread's namespace now. */
int lnet_ns_current (void);
/* setns() into the namespace of fd; sockets made after it live there and
 * stay there after the next lnet_ns_enter(). */
void lnet_ns_enter (int fd);

/* Runs a shell command line (in the current namespace) and returns its
 * standard output; asserts that it exited 0. */
char *lnet_sh (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
/* The same, returning the exit status and ignoring the output. */
int lnet_sh_status (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

/* Reads a sysctl ("net/ipv4/ip_forward") of the current namespace. */
char *lnet_sysctl (const char *key);

G_END_DECLS
