#!/bin/sh
# The GUI tests' session bus (dbus-run-session --dbus-daemon=this): the
# real dbus-daemon with its standard output on standard error. The
# services it starts inherit that output, and at-spi2-registryd says on
# it that it runs, which would land in the test's TAP stream.
exec dbus-daemon "$@" >&2
