/* libintl.h — a translation-free libintl for the Windows cross build.
 *
 * GLib needs gettext's API to build; the Windows test stage needs no
 * translations, and Debian ships no MinGW gettext. Every lookup answers
 * with the message it was given, which is what gettext itself does for a
 * message that has no translation. Linked statically into GLib's DLLs by
 * scripts/build-windows.sh; never part of a Linux build. */
#pragma once

#include <locale.h>

/* MinGW's locale.h has no LC_MESSAGES; gettext's own libintl.h adds one
 * outside the range of the C library's categories. */
#ifndef LC_MESSAGES
#define LC_MESSAGES 1729
#endif

#ifdef __cplusplus
extern "C" {
#endif

char *gettext (const char *msgid);
char *dgettext (const char *domain, const char *msgid);
char *dcgettext (const char *domain, const char *msgid, int category);
char *ngettext (const char *msgid, const char *msgid_plural, unsigned long n);
char *dngettext (const char *domain, const char *msgid,
                 const char *msgid_plural, unsigned long n);
char *dcngettext (const char *domain, const char *msgid,
                  const char *msgid_plural, unsigned long n, int category);
char *textdomain (const char *domain);
char *bindtextdomain (const char *domain, const char *dirname);
char *bind_textdomain_codeset (const char *domain, const char *codeset);

#ifdef __cplusplus
}
#endif
