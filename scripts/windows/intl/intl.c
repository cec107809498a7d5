/* intl.c — see libintl.h: lookups without a catalogue. */
#include "libintl.h"

#include <stddef.h>

/* The name textdomain() last set; gettext's default is "messages". */
static char current_domain[64] = "messages";

char *
gettext (const char *msgid)
{
  return (char *) msgid;
}

char *
dgettext (const char *domain, const char *msgid)
{
  (void) domain;
  return (char *) msgid;
}

char *
dcgettext (const char *domain, const char *msgid, int category)
{
  (void) domain;
  (void) category;
  return (char *) msgid;
}

char *
ngettext (const char *msgid, const char *msgid_plural, unsigned long n)
{
  return (char *) (n == 1 ? msgid : msgid_plural);
}

char *
dngettext (const char *domain, const char *msgid, const char *msgid_plural,
           unsigned long n)
{
  (void) domain;
  return ngettext (msgid, msgid_plural, n);
}

char *
dcngettext (const char *domain, const char *msgid, const char *msgid_plural,
            unsigned long n, int category)
{
  (void) domain;
  (void) category;
  return ngettext (msgid, msgid_plural, n);
}

char *
textdomain (const char *domain)
{
  if (domain != NULL && domain[0] != '\0')
    {
      size_t i;
      for (i = 0; domain[i] != '\0' && i + 1 < sizeof current_domain; i++)
        current_domain[i] = domain[i];
      current_domain[i] = '\0';
    }
  return current_domain;
}

char *
bindtextdomain (const char *domain, const char *dirname)
{
  (void) domain;
  return (char *) dirname;
}

char *
bind_textdomain_codeset (const char *domain, const char *codeset)
{
  (void) domain;
  return (char *) codeset;
}
