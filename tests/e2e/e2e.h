/* tests/e2e/e2e.h — the end-to-end test's helper modes (e2e-tools.c). */
#pragma once

#include <glib.h>

int e2e_stun_probe (int argc, char **argv);
int e2e_fake_portal (const char *mode, const char *listen, const char *logfile);
