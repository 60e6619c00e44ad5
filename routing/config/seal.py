"""The store's seal: which stored documents this installation validated when writing them.

Every write through `routing.config.store` validates the document in full (the schema's
every bound) and stores beside it, in the same Lua script, its seal: the SHA-1 of this
installation's schema fingerprint followed by the document's bytes. A read whose
document matches its seal is built without validating again
(`routing.config.load.read_config`: shape and cross-checks only). Any other document is
validated in full, with the messages a file gets:
- one edited in Redis by hand (the seal no longer matches);
- one written before seals existed (no seal);
- one written by an installation whose validation differs (another fingerprint: after an
  upgrade that tightened a bound, the old config is checked against the new bounds).

The fingerprint is the SHA-1 of the source of the modules that decide what a valid
config is. Installed without its sources, an installation has none, and validates
every document it reads in full.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

# What decides validity: the schema, its value types and enumerations, the runtime
# classes (their constants and cross-checks) and the sections' modules.
_SOURCES = ("schema.py", "values.py", "kinds.py", "models.py", "price.py", "batch.py",
            "samples.py")


@cache
def fingerprint() -> str | None:
    """This installation's schema fingerprint (None: its sources cannot be read)."""
    digest = hashlib.sha1(usedforsecurity=False)
    here = Path(__file__).parent
    try:
        for name in _SOURCES:
            digest.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
    except OSError:
        return None
    return digest.hexdigest()


def seal(document: bytes) -> str:
    """The seal of a document this installation validated ("": it has no fingerprint, and
    no document is ever read as sealed)."""
    mark = fingerprint()
    if mark is None:
        return ""
    return hashlib.sha1(mark.encode() + document, usedforsecurity=False).hexdigest()


def sealed(document: bytes, stored_seal: bytes | str | None) -> bool:
    """Whether `document` (the stored bytes) carries this installation's seal."""
    if not stored_seal:
        return False
    if isinstance(stored_seal, bytes):
        stored_seal = stored_seal.decode("ascii", "replace")
    return stored_seal == seal(document)
