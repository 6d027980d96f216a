"""Decrypting acquirers' files through GnuPG: streaming, the start-up check, bad files."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from local.pgp import KeyPair, encrypt, generate_key
from shared.cashback.pgp import GnuPG, PrivateKey
from shared.cashback.rtd_files import parse_stream
from shared.platform.errors import ConfigurationError, PermanentError


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return generate_key()


@pytest.fixture(scope="module")
def protected() -> tuple[KeyPair, str]:
    return generate_key(passphrase="correct horse"), "correct horse"


async def _chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _opened(gpg: GnuPG, data: bytes) -> bytes:
    return b"".join([block async for block in gpg.decrypt(_chunks(data))])


async def _source(key: PrivateKey) -> PrivateKey:
    return key


async def test_a_file_encrypted_to_the_platforms_key_decrypts_block_by_block(
    keys: KeyPair,
) -> None:
    plaintext = os.urandom(300_000).hex().encode()  # 600 KB that gpg cannot compress away
    gpg = GnuPG(lambda: _source(PrivateKey(keys.private)))
    try:
        blocks = [block async for block in gpg.decrypt(_chunks(encrypt(keys.public, plaintext)))]
        assert b"".join(blocks) == plaintext
        assert len(blocks) > 1
        assert max(len(b) for b in blocks) <= 64 * 1024
        await gpg.check()
    finally:
        await gpg.close()


async def test_a_protected_key_decrypts_with_its_passphrase(
    protected: tuple[KeyPair, str],
) -> None:
    pair, passphrase = protected
    gpg = GnuPG(lambda: _source(PrivateKey(pair.private, passphrase)))
    try:
        assert await _opened(gpg, encrypt(pair.public, b"a;b\n")) == b"a;b\n"
    finally:
        await gpg.close()


async def test_the_start_up_check_fails_with_the_wrong_passphrase(
    protected: tuple[KeyPair, str],
) -> None:
    pair, _ = protected
    gpg = GnuPG(lambda: _source(PrivateKey(pair.private, "wrong")))
    try:
        with pytest.raises(ConfigurationError):
            await gpg.check()
    finally:
        await gpg.close()


async def test_the_start_up_check_fails_without_a_key_or_without_gpg(keys: KeyPair) -> None:
    with pytest.raises(ConfigurationError):
        await GnuPG(lambda: _source(PrivateKey(keys.public))).check()
    with pytest.raises(ConfigurationError):
        await GnuPG(lambda: _source(PrivateKey(keys.private)), gpg="no-such-gpg").check()


async def test_a_file_for_another_key_or_damaged_is_refused(keys: KeyPair) -> None:
    other = generate_key("someone else <x@example.invalid>")
    gpg = GnuPG(lambda: _source(PrivateKey(keys.private)))
    try:
        with pytest.raises(PermanentError):
            await _opened(gpg, encrypt(other.public, b"not for us\n"))
        with pytest.raises(PermanentError):
            await _opened(gpg, b"plain text, never encrypted\n" * 1000)
        sealed = bytearray(encrypt(keys.public, os.urandom(50_000)))
        sealed[-40] ^= 0xFF
        with pytest.raises(PermanentError):
            await _opened(gpg, bytes(sealed))
        # and the keyring still works after refusing
        assert await _opened(gpg, encrypt(keys.public, b"ok\n")) == b"ok\n"
    finally:
        await gpg.close()


async def test_a_reader_that_stops_early_ends_the_decryption(keys: KeyPair) -> None:
    # A slice that ends before its file closes the plaintext with most of it unread; gpg's
    # output left in the pipe once made that close wait forever.
    plaintext = b"".join(b"%d;line of a file;%064d\n" % (n, n) for n in range(200_000))
    gpg = GnuPG(lambda: _source(PrivateKey(keys.private)))
    try:
        blocks = gpg.decrypt(_chunks(encrypt(keys.public, plaintext), 1024 * 1024))
        lines = parse_stream(blocks)
        for _ in range(5_000):
            await anext(lines)
        await lines.aclose()
        await asyncio.wait_for(blocks.aclose(), 60)  # a guard against the hang, not a timing
        assert await _opened(gpg, encrypt(keys.public, b"after;it\n")) == b"after;it\n"
    finally:
        await gpg.close()
