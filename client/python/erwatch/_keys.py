"""CURVE key files (README.md, "Running on a cluster"), read the way the C
library reads them (client/erwatch_key.c): '#' comment lines, blank lines
and one line holding the 40-character Z85 key; a file whose first comment
names the other kind (`erwatch keygen` writes "# erwatch curve secret key"
into NAME.key and "... public key" into NAME.pub) is refused. A bad or
missing file is an error, never a plaintext connection.
"""

import os

import zmq
from zmq.utils import z85

KEY_LEN = 40


def _valid(line):
    if len(line) != KEY_LEN:
        return False
    try:
        return len(z85.decode(line.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError, KeyError, OverflowError, TypeError):
        return False


def read_key(path, secret):
    """The Z85 key (bytes) of a key file; secret: a secret key is expected."""
    what = "secret key file" if secret else "public key file"
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 20)
    except OSError as e:
        raise ValueError("erwatch: cannot read %s %r: %s" % (what, path, e.strerror)) from None
    text = raw.decode("utf-8", "replace")
    key = None
    for no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#") and not _valid(line):
            says_secret = "erwatch curve secret key" in line
            says_public = "erwatch curve public key" in line
            if (secret and says_public) or (not secret and says_secret):
                raise ValueError("erwatch: %r holds a %s key, where a %s key is expected "
                                 "(keygen writes NAME.key, secret, and NAME.pub, public)"
                                 % (path, "secret" if says_secret else "public",
                                    "secret" if secret else "public"))
            continue
        if key is not None:
            raise ValueError("erwatch: %s %r line %d: a second key (one per file)"
                             % (what, path, no))
        if not _valid(line):
            raise ValueError("erwatch: %s %r line %d: not a CURVE key (40 characters of "
                             "Z85, as `erwatch keygen` writes)" % (what, path, no))
        key = line.encode("ascii")
    if key is None:
        raise ValueError("erwatch: %s %r holds no key" % (what, path))
    return key


def resolve(server_pub, client_key):
    """(server public key, client public key, client secret key) as Z85
    bytes, or None when no CURVE is asked for (arguments, else
    $ERWATCH_SERVER_PUB and $ERWATCH_CLIENT_KEY)."""
    if server_pub is None and client_key is None:
        server_pub = os.environ.get("ERWATCH_SERVER_PUB") or None
        client_key = os.environ.get("ERWATCH_CLIENT_KEY") or None
    if server_pub is None and client_key is None:
        return None
    if server_pub is None or client_key is None:
        raise ValueError("erwatch: CURVE needs both the server's public key file "
                         "(server_pub, $ERWATCH_SERVER_PUB) and this client's secret key "
                         "file (client_key, $ERWATCH_CLIENT_KEY); only the %s was given"
                         % ("server's" if server_pub else "client's"))
    spub = read_key(server_pub, secret=False)
    csec = read_key(client_key, secret=True)
    return spub, zmq.curve_public(csec), csec
