"""Decrypting acquirers' files with the platform's PGP private key, through GnuPG, streaming.

Acquirers encrypt each transaction file with the platform's public key (pagoPA's acquirer
interface, appendix "PGP Public Key"). The worker decrypts it through a ``gpg`` process: the
ciphertext is written to its stdin and the plaintext read from its stdout a block at a time, so
memory holds a block whatever the file's size. The key lives in a keyring of the worker's own,
in a private temporary directory, imported on first use from the secret provider (Key Vault in
Azure). The image must provide ``gpg`` (GnuPG 2.2+, Debian's ``gnupg``) on ``PATH``:
docs/cashback-files.md.

GnuPG writes plaintext before it has checked the message's integrity (the MDC at its end): a
file whose check fails raises :class:`PermanentError` after its lines were read, which the file
intake records as a failed file (scoring is idempotent, so what was enqueued stays counted
once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from shared.platform.errors import ConfigurationError, PermanentError

BLOCK = 64 * 1024
_PROBE = b"centro-stella decryption probe\n"


@dataclass(frozen=True)
class PrivateKey:
    """The armored private key and its passphrase (None: the key is not protected)."""

    armored: str
    passphrase: str | None = None


KeySource = Callable[[], Awaitable[PrivateKey]]


class GnuPG:
    """A keyring holding the platform's private key, and decryption through it."""

    def __init__(self, key_source: KeySource, *, gpg: str = "gpg") -> None:
        self._key_source = key_source
        self._gpg = gpg
        self._home: str | None = None
        self._passphrase_file: str | None = None
        self._lock = asyncio.Lock()
        self._checked = False  # once the probe passed, the keyring stays as it was

    async def _ready(self) -> str:
        async with self._lock:
            if self._home is None:
                self._home = await self._import()
            return self._home

    async def _import(self) -> str:
        if shutil.which(self._gpg) is None:
            raise ConfigurationError(f"{self._gpg!r} (GnuPG) is not on PATH")
        key = await self._key_source()
        home = tempfile.mkdtemp(prefix="cs-gnupg-")  # 0700: only this process's user
        code, _, err = await _run(
            [self._gpg, "--homedir", home, "--batch", "--quiet", "--import"],
            key.armored.encode(),
        )
        if code != 0 or not await self._has_secret_key(home):
            shutil.rmtree(home, ignore_errors=True)
            raise ConfigurationError(f"the PGP private key does not import: {_tail(err)}")
        if key.passphrase is not None:
            self._passphrase_file = os.path.join(home, "passphrase")
            fd = os.open(self._passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key.passphrase)
        return home

    async def _has_secret_key(self, home: str) -> bool:
        code, out, _ = await _run(
            [self._gpg, "--homedir", home, "--batch", "--with-colons", "--list-secret-keys"], b""
        )
        return code == 0 and b"\nsec:" in b"\n" + out

    def _decrypt_argv(self, home: str) -> list[str]:
        argv = [self._gpg, "--homedir", home, "--batch", "--yes", "--quiet", "--no-tty"]
        argv += ["--pinentry-mode", "loopback"]
        if self._passphrase_file is not None:
            argv += ["--passphrase-file", self._passphrase_file]
        return [*argv, "--decrypt"]

    async def public_key(self) -> str:
        """The armored public key matching the private one: what acquirers encrypt with."""
        home = await self._ready()
        code, out, err = await _run(
            [self._gpg, "--homedir", home, "--batch", "--armor", "--export"], b""
        )
        if code != 0 or not out:
            raise ConfigurationError(f"the PGP public key does not export: {_tail(err)}")
        return out.decode("ascii")

    async def decrypt(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """The plaintext of an encrypted stream, a block at a time.

        Raises:
            PermanentError: the stream is not a message to this key, or is damaged.
        """
        home = await self._ready()
        process = await asyncio.create_subprocess_exec(
            *self._decrypt_argv(home),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin
        assert process.stdout
        assert process.stderr
        feeding = asyncio.create_task(_feed(process.stdin, chunks))
        errors = asyncio.create_task(process.stderr.read())
        try:
            while block := await process.stdout.read(BLOCK):
                yield block
            code = await process.wait()
            try:
                await feeding  # a failure to read the ciphertext (a download) surfaces here
            except (BrokenPipeError, ConnectionError):
                if code == 0:  # gpg stopped reading yet succeeded: never expected
                    raise
            if code != 0:
                raise PermanentError(f"the file does not decrypt: {_tail(await errors)}")
        finally:
            if process.returncode is None:
                process.kill()
                # Read what gpg wrote before it died: with its output unread (a reader that
                # stopped early, as a slice that ends does), wait() never returns.
                with contextlib.suppress(ConnectionError):
                    while await process.stdout.read(BLOCK):
                        pass
                await process.wait()
            for task in (feeding, errors):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, BrokenPipeError, ConnectionError):
                    await task

    async def check(self) -> None:
        """Prove that the key decrypts: encrypt a probe to it, decrypt it back (once it
        passed, again: nothing to do). ``/api/health`` runs it, so it runs at start-up.

        Raises:
            ConfigurationError: no gpg, no key, or the key does not decrypt.
        """
        if self._checked:
            return
        home = await self._ready()
        code, sealed, err = await _run(
            [self._gpg, "--homedir", home, "--batch", "--trust-model", "always", "--encrypt",
             "--default-recipient-self"],
            _PROBE,
        )  # fmt: skip
        if code != 0:
            raise ConfigurationError(f"cannot encrypt to the platform's key: {_tail(err)}")

        async def once() -> AsyncIterator[bytes]:
            yield sealed

        try:
            opened = b"".join([block async for block in self.decrypt(once())])
        except PermanentError as error:
            raise ConfigurationError(f"the PGP private key does not decrypt: {error}") from None
        if opened != _PROBE:
            raise ConfigurationError("the PGP private key decrypts the probe wrongly")
        self._checked = True

    async def close(self) -> None:
        """Stop the keyring's agent and delete the keyring."""
        home, self._home = self._home, None
        if home is None:
            return
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            await _run([gpgconf, "--homedir", home, "--kill", "gpg-agent"], b"")
        shutil.rmtree(home, ignore_errors=True)


async def _feed(stdin: asyncio.StreamWriter, chunks: AsyncIterable[bytes]) -> None:
    try:
        async for chunk in chunks:
            stdin.write(chunk)
            await stdin.drain()
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionError):
            stdin.close()
            await stdin.wait_closed()


async def _run(argv: list[str], stdin: bytes) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin)
    return process.returncode or 0, out, err


def _tail(err: bytes) -> str:
    return err.decode("utf-8", "replace").strip()[-300:] or "no detail"
