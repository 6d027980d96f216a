"""PGP as an acquirer does it, and the platform's dev key: GnuPG in throwaway keyrings.

Used by the local platform (a dev key pair when the settings hold none), the tests and the
bench (encrypting files as an acquirer's batch does, to the platform's public key). Never
deployed.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEV_KEY_UID = "Centro Stella dev key, not a secret <files@centro-stella.invalid>"


@dataclass(frozen=True)
class KeyPair:
    private: str
    public: str


def _gpg(home: str, *args: str, data: bytes = b"") -> bytes:
    done = subprocess.run(
        ["gpg", "--homedir", home, "--batch", "--quiet", "--no-tty", *args],
        input=data,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gpg {args[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def _kill_agent(home: str) -> None:
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)


def generate_key(uid: str = DEV_KEY_UID, *, passphrase: str = "") -> KeyPair:
    """A new key pair (ed25519 + cv25519: generated in a fraction of a second)."""
    with tempfile.TemporaryDirectory(prefix="cs-pgp-") as home:
        try:
            _gpg(home, "--passphrase", passphrase, "--pinentry-mode", "loopback",
                 "--quick-gen-key", uid, "future-default", "default", "never")  # fmt: skip
            private = _gpg(
                home, "--passphrase", passphrase, "--pinentry-mode", "loopback",
                "--armor", "--export-secret-keys",
            )  # fmt: skip
            public = _gpg(home, "--armor", "--export")
        finally:
            _kill_agent(home)
    return KeyPair(private.decode("ascii"), public.decode("ascii"))


def public_of(private_key: str) -> str:
    """The armored public key of an armored private key."""
    with tempfile.TemporaryDirectory(prefix="cs-pgp-") as home:
        try:
            _gpg(home, "--import", data=private_key.encode())
            return _gpg(home, "--armor", "--export").decode("ascii")
        finally:
            _kill_agent(home)


def encrypt(public_key: str, plaintext: bytes) -> bytes:
    """``plaintext`` encrypted to ``public_key`` (binary OpenPGP, as the acquirers' batch)."""
    with tempfile.TemporaryDirectory(prefix="cs-pgp-") as home:
        _gpg(home, "--import", data=public_key.encode())
        return _gpg(home, "--trust-model", "always", "--encrypt",
                    "--default-recipient", _first_key(home), data=plaintext)  # fmt: skip


def encrypt_file(public_key: str, source: Path, target: Path) -> None:
    """``source`` encrypted to ``public_key`` into ``target``, streaming (big files)."""
    with tempfile.TemporaryDirectory(prefix="cs-pgp-") as home:
        _gpg(home, "--import", data=public_key.encode())
        _gpg(home, "--trust-model", "always", "--yes", "--output", str(target),
             "--encrypt", "--default-recipient", _first_key(home), str(source))  # fmt: skip


def _first_key(home: str) -> str:
    listing = _gpg(home, "--with-colons", "--list-keys").decode()
    for row in listing.splitlines():
        if row.startswith("fpr:"):
            return row.split(":")[9]
    raise RuntimeError("no key in the keyring")
