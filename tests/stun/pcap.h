/* pcap — a tiny pcap writer for tests: every message a test builds can be
 * recorded and handed to tshark's dissectors, which then say whether any
 * frame is malformed. Records are raw IPv4 + UDP (LINKTYPE_RAW) between
 * 192.0.2.1 and 192.0.2.2 on port 3478. Test-only; main thread. */
#pragma once

#include <glib.h>

typedef struct _TestPcap TestPcap;

TestPcap *test_pcap_new (void);
void test_pcap_free (TestPcap *pcap);
/* Copies one UDP payload. */
void test_pcap_add (TestPcap *pcap, const guint8 *payload, gsize len);
guint test_pcap_count (const TestPcap *pcap);
gboolean test_pcap_write (const TestPcap *pcap, const char *path, GError **error);

/* Runs tshark over `path` and returns TRUE when no frame carries a
 * malformed-packet expert item and every frame was dissected as STUN or
 * ChannelData. Skips (g_test_skip, returns FALSE with *skipped) when
 * tshark is missing. On failure *report holds tshark's complaint. */
gboolean test_pcap_tshark_clean (const char *path, guint expected_frames, gboolean *skipped,
                                 char **report);
