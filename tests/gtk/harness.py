'''The desktop client's test harness: an Xvfb display, a private system
bus, python-dbusmock stand-ins, ember-gtk itself, AT-SPI look-ups through
pyatspi, screenshots with ImageMagick's import, and TAP output for meson.

Run under dbus-run-session: the session bus carries AT-SPI and the
notification stand-in; the system bus the app talks to is a private
dbus-daemon whose address reaches the app through DBUS_SYSTEM_BUS_ADDRESS.
Everything started here is stopped in close(), also after a failure.
'''

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import dbus

BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
'''

DEFAULT_TIMEOUT = 60.0

# This test's own runtime directory, also for the services the session
# bus starts, before anything asks for the accessibility bus. Without it
# at-spi-bus-launcher puts its socket at ~/.cache/at-spi/bus, one path for
# every test on the machine: a second GUI test running at the same time
# unlinks and replaces the first one's socket, and the first one's app
# then fails to reach AT-SPI (or its actions go astray). Set on import,
# as pyatspi may reach for that bus as soon as it is imported.
RUNTIME_DIR = tempfile.mkdtemp(prefix=f'gtk-{os.getpid()}-')
os.environ['XDG_RUNTIME_DIR'] = RUNTIME_DIR
os.environ['XDG_CACHE_HOME'] = os.path.join(RUNTIME_DIR, 'cache')
if os.environ.get('DBUS_SESSION_BUS_ADDRESS'):
    dbus.SessionBus().get_object('org.freedesktop.DBus', '/org/freedesktop/DBus').UpdateActivationEnvironment(
        {'XDG_RUNTIME_DIR': RUNTIME_DIR, 'XDG_CACHE_HOME': os.environ['XDG_CACHE_HOME']},
        dbus_interface='org.freedesktop.DBus')


class Failure(Exception):
    pass


def wait_for(what, predicate, timeout=DEFAULT_TIMEOUT, interval=0.05):
    '''Polls predicate until it returns a true value (bounded in time).'''
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # an AT-SPI object may vanish while we look
            last_error = e
        time.sleep(interval)
    detail = f' (last error: {last_error})' if last_error else ''
    raise Failure(f'timed out after {timeout:.0f} s waiting for {what}{detail}')


def act(what, action, registered, tries=3, each=10):
    '''Runs an AT-SPI action until registered() says the app took it, at
    most `tries` times. An action on a widget is dropped now and then by
    GTK's AT-SPI bridge on a loaded machine; once registered() holds, the
    action is never repeated, so a test still sees each call exactly once.'''
    for attempt in range(tries):
        action()
        try:
            return wait_for(what, registered, timeout=each)
        except Failure:
            if attempt == tries - 1:
                raise


class Harness:
    def __init__(self, name):
        self.name = name
        self.procs = []
        self.tmp = RUNTIME_DIR
        self.log_dir = os.environ.get('EMBER_GTK_LOG_DIR') or self.tmp
        os.makedirs(self.log_dir, exist_ok=True)
        self.source_dir = os.path.dirname(os.path.abspath(__file__))
        self.count = 0
        self.failed = 0
        self.display = None
        self.system_bus = None
        self.app = None
        self.app_proc = None
        self.stale = False

    @staticmethod
    def missing_tools():
        '''What this machine lacks to run the GUI tests.'''
        missing = [t for t in ('Xvfb', 'import', 'identify', 'xwininfo', 'dbus-daemon')
                   if shutil.which(t) is None]
        for module in ('pyatspi', 'dbusmock'):
            try:
                __import__(module)
            except ImportError:
                missing.append(f'python3-{module}')
        return missing

    # processes ----------------------------------------------------------

    def spawn(self, argv, env=None, **kwargs):
        log = open(os.path.join(self.tmp, os.path.basename(argv[0]) + f'-{len(self.procs)}.log'), 'wb')
        proc = subprocess.Popen(argv, env=env, stdout=kwargs.pop('stdout', log), stderr=log,
                                start_new_session=True, **kwargs)
        proc.log_path = log.name
        self.procs.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def start_display(self):
        r, w = os.pipe()
        self.spawn(['Xvfb', '-displayfd', str(w), '-screen', '0', '1024x800x24',
                    '-nolisten', 'tcp', '-noreset'], pass_fds=(w,))
        os.close(w)
        data = b''
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while not data.endswith(b'\n') and time.monotonic() < deadline:
            chunk = os.read(r, 16)
            if not chunk:
                break
            data += chunk
        os.close(r)
        if not data.strip():
            raise Failure('Xvfb did not say which display it took')
        self.display = ':' + data.decode().strip()

    def start_system_bus(self, config=BUS_CONFIG):
        '''A private dbus-daemon standing in for the system bus; config is a
        busconfig with {dir} where it listens (default: anything goes).'''
        conf = os.path.join(self.tmp, 'system-bus.conf')
        with open(conf, 'w') as f:
            f.write(config.format(dir=self.tmp))
        proc = self.spawn(['dbus-daemon', '--config-file', conf, '--nofork', '--print-address'],
                          stdout=subprocess.PIPE)
        self.system_bus = proc.stdout.readline().decode().strip()
        if not self.system_bus:
            raise Failure('the private system bus did not start')
        os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = self.system_bus

    def system_connection(self):
        return dbus.bus.BusConnection(self.system_bus)

    def start_mock(self, template, parameters=None, system=True):
        '''Starts python-dbusmock with a template; returns (process, mock interface).'''
        import json
        argv = [sys.executable, '-m', 'dbusmock', '--template', template]
        if system:
            argv.insert(3, '--system')
        if parameters:
            argv += ['--parameters', json.dumps(parameters)]
        proc = self.spawn(argv)
        bus = self.system_connection() if system else dbus.SessionBus()
        module = template if template.endswith('.py') else None
        name, path = self._mock_name(template, module)
        wait_for(f'{name} on the bus', lambda: bus.name_has_owner(name) or proc.poll() is not None)
        if proc.poll() is not None:
            raise Failure(f'dbusmock {template} exited: {open(proc.log_path).read()}')
        return proc, dbus.Interface(bus.get_object(name, path), 'org.freedesktop.DBus.Mock')

    @staticmethod
    def _mock_name(template, module):
        if template == 'notification_daemon':
            return 'org.freedesktop.Notifications', '/org/freedesktop/Notifications'
        if template == 'polkitd':
            return 'org.freedesktop.PolicyKit1', '/org/freedesktop/PolicyKit1/Authority'
        return 'org.ember.Ember1', '/org/ember/Ember1'

    def start_app(self, program, *args, wait=True):
        '''Starts ember-gtk with its own XDG_CONFIG_HOME (self.config_home);
        with wait, returns its accessible once it is on the AT-SPI bus.'''
        # No animations: a switch flipped through AT-SPI changes at once,
        # not at the end of an animation that a loaded machine draws late.
        config_home = self.config_home = os.path.join(self.tmp, 'config')
        os.makedirs(os.path.join(config_home, 'gtk-4.0'), exist_ok=True)
        with open(os.path.join(config_home, 'gtk-4.0', 'settings.ini'), 'w') as f:
            f.write('[Settings]\ngtk-enable-animations=false\n')
        env = dict(os.environ)
        env.update({
            'DISPLAY': self.display,
            'GDK_BACKEND': 'x11',
            # Xvfb has no GPU: cairo draws quickly and the same each run.
            'GSK_RENDERER': 'cairo',
            'GTK_A11Y': 'atspi',
            'GSETTINGS_BACKEND': 'memory',
            'GTK_USE_PORTAL': '0',
            'DBUS_SYSTEM_BUS_ADDRESS': self.system_bus,
            'XDG_RUNTIME_DIR': self.tmp,
            'XDG_CONFIG_HOME': config_home,
        })
        env.pop('NO_AT_BRIDGE', None)
        self.app_proc = self.spawn([program, *args], env=env)
        if wait:
            self.app = wait_for('ember-gtk on the AT-SPI bus', self._find_app)
        return self.app

    def _find_app(self):
        import pyatspi
        if self.app_proc.poll() is not None:
            raise Failure(f'ember-gtk exited with {self.app_proc.returncode}: '
                          f'{open(self.app_proc.log_path).read()}')
        desktop = pyatspi.Registry.getDesktop(0)
        for i in range(desktop.childCount):
            child = desktop.getChildAtIndex(i)
            if child is not None and child.name == 'ember-gtk':
                return child
        return None

    def app_log(self):
        return open(self.app_proc.log_path, errors='replace').read() if self.app_proc else ''

    def close(self):
        for proc in reversed(self.procs):
            self.stop(proc)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # AT-SPI -------------------------------------------------------------

    def find_all(self, predicate, root=None, tabs=False):
        '''Every accessible under root (default: the app). The app marks
        what is not on screen (other pages, a folded banner) hidden, which
        takes it out of the tree. GTK 4.8 has no AT-SPI cache, so each
        node costs round trips: the view switchers (three, with a dozen
        nodes per tab) and scroll bars are skipped unless tabs is set.'''
        import pyatspi
        skip = {pyatspi.ROLE_SCROLL_BAR}
        if not tabs:
            skip.add(pyatspi.ROLE_PAGE_TAB_LIST)
        found = []
        # libatspi keeps the children it saw; GTK 4.8 does not always say
        # when a widget becomes visible (a header button, a dialog's
        # buttons): after a look-up that found nothing, start afresh.
        if self.stale:
            self.stale = False
            try:
                self.app.clear_cache()
            except Exception:
                pass

        def walk(node, depth):
            if node is None or depth > 60:
                return
            try:
                role = node.getRole()
                if role in skip:
                    return
                if predicate(node):
                    found.append(node)
                for i in range(node.childCount):
                    walk(node.getChildAtIndex(i), depth + 1)
            except Exception:
                return
        walk(root or self.app, 0)
        return found

    def find(self, what, predicate, timeout=DEFAULT_TIMEOUT, tabs=False):
        def look():
            found = self.find_all(predicate, tabs=tabs)
            self.stale = not found
            return found[0] if found else None
        return wait_for(what, look, timeout)

    def texts(self):
        '''The text of every label on screen (alerts too), for checks on words.'''
        import pyatspi
        return [n.name for n in self.find_all(lambda n: n.getRole() in (pyatspi.ROLE_LABEL,
                                                                          pyatspi.ROLE_ALERT))]

    def wait_text(self, *fragments, timeout=DEFAULT_TIMEOUT):
        '''Waits until every fragment is part of some label's text.'''
        quoted = ', '.join(f'“{f}”' for f in fragments)
        def look():
            texts = self.texts()
            self.stale = not all(any(f in t for t in texts) for f in fragments)
            return not self.stale
        return wait_for(f'labels saying {quoted}', look, timeout)

    def wait_no_text(self, fragment, timeout=DEFAULT_TIMEOUT):
        return wait_for(f'no label saying “{fragment}”',
                        lambda: not any(fragment in t for t in self.texts()), timeout)

    # screenshots --------------------------------------------------------

    def screenshot(self, name, frame):
        '''Saves the window as PNG in the log dir and checks it is the window:
        the size of the X window titled Ember, which is the size AT-SPI
        gives the frame plus at most GTK's resize border, and not a blank
        or single-colour frame.'''
        path = os.path.join(self.log_dir, f'ember-gtk-{name}.png')
        subprocess.run(['import', '-display', self.display, '-window', 'Ember', path],
                       check=True, timeout=30, capture_output=True)
        out = subprocess.run(['identify', '-format', '%w %h %k', path], check=True,
                             capture_output=True, text=True, timeout=30).stdout.split()
        width, height, colours = int(out[0]), int(out[1]), int(out[2])
        info = subprocess.run(['xwininfo', '-display', self.display, '-name', 'Ember'], check=True,
                              capture_output=True, text=True, timeout=30).stdout
        geometry = {k.strip(): v.strip() for k, _, v in
                    (line.partition(':') for line in info.splitlines()) if v}
        x_size = (int(geometry['Width']), int(geometry['Height']))
        if (width, height) != x_size:
            raise Failure(f'{path} is {width}x{height}, the X window {x_size[0]}x{x_size[1]}')
        ext = frame.queryComponent().getExtents(0)
        if not (0 <= width - ext.width <= 24 and 0 <= height - ext.height <= 24):
            raise Failure(f'{path} is {width}x{height}, the window AT-SPI sees {ext.width}x{ext.height}')
        # A blank or single-colour frame has one or two colours; a drawn
        # window with text and icons has hundreds.
        if colours < 50:
            raise Failure(f'{path} has {colours} colours: a blank frame, not the window')
        return path

    # TAP ----------------------------------------------------------------

    def check(self, name, fn, *args):
        '''Runs one step as a TAP test point; a failure is reported with
        what the window showed, and the run goes on.'''
        self.count += 1
        start = time.monotonic()
        try:
            fn(*args)
            print(f'ok {self.count} /gtk/{self.name}/{name} # {time.monotonic() - start:.1f} s', flush=True)
            return True
        except Exception as e:
            self.failed += 1
            print(f'not ok {self.count} /gtk/{self.name}/{name}', flush=True)
            for line in traceback.format_exception(e):
                for sub in line.rstrip().splitlines():
                    print(f'# {sub}', flush=True)
            if self.app is not None:
                try:
                    print(f'# labels on screen: {self.texts()}', flush=True)
                except Exception:
                    pass
            if self.app_proc is not None:
                for line in self.app_log().splitlines()[-20:]:
                    print(f'# app: {line}', flush=True)
            return False

    def finish(self):
        print(f'1..{self.count}', flush=True)
        return 1 if self.failed else 0
