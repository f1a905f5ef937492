"""A local CA and a certificate for this machine, made at start-up for `serve --tls` without
`--cert`: what `mkcert` does, in memory, with trustme (the optional extra `rawhttp[tls]`; the
standard library cannot make keys or sign certificates).

The CA is fresh each run and its key never leaves the process: a client trusts it for this run
only, through the CA file written here (`--cacert FILE`), never the system's store.
"""

from __future__ import annotations

import os
import ssl
import tempfile

from rawhttp.errors import TLSSetupError

# The names the certificate is valid for: what a client on this machine types.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
EXTRA_MISSING = "serve --tls without --cert needs the optional extra: pip install 'rawhttp[tls]'"


def local_certificate(
    context: ssl.SSLContext, cafile: str | os.PathLike | None = None
) -> tuple[str, str | None]:
    """Load a certificate for LOCAL_NAMES, signed by a fresh CA, into `context`; write the CA
    to `cafile`, or to ca.pem in a new private folder. (The CA file's path, that folder.)"""
    try:
        import trustme
    except ImportError:
        raise TLSSetupError(EXTRA_MISSING) from None
    ca = trustme.CA(organization_name="rawhttp serve --tls")
    ca.issue_cert(*LOCAL_NAMES).configure_cert(context)
    folder = None
    if cafile is None:
        folder = tempfile.mkdtemp(prefix="rawhttp-tls-")  # mode 0700: this user's only
        cafile = os.path.join(folder, "ca.pem")
    ca.cert_pem.write_to_path(str(cafile))
    return str(cafile), folder
