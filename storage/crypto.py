"""Encryption of Nmbrs API tokens at rest.

`TokenCipher(keys)` wraps cryptography's MultiFernet. `keys` are Fernet keys, newest first (the
order of `ENCRYPTION_KEYS`): encryption always uses the newest, decryption tries each, so rows
written under an older key stay readable until `rotate` re-encrypts them with the newest one.

Errors never carry key material or plaintext: `EncryptionKeyError` names which entry of
`ENCRYPTION_KEYS` is missing or malformed; `UndecryptableToken` says that no configured key fits.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class EncryptionKeyError(ValueError):
    """ENCRYPTION_KEYS is empty or holds something that is not a Fernet key."""


class UndecryptableToken(ValueError):
    """Ciphertext that none of the configured keys can open (a removed key, or corruption)."""


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 text)."""
    return Fernet.generate_key().decode("ascii")


class TokenCipher:
    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise EncryptionKeyError(
                "ENCRYPTION_KEYS is not set: generate a key with `onboard-bot keys generate`"
            )
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                # The underlying message may echo the value; say which entry instead.
                raise EncryptionKeyError(
                    f"ENCRYPTION_KEYS entry {position} of {len(keys)} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes, as printed by `onboard-bot keys generate`)"
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    def __repr__(self) -> str:
        return f"TokenCipher(keys=<{self.key_count} hidden>)"

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode("utf-8")
        except InvalidToken:
            raise UndecryptableToken(
                "stored token cannot be decrypted with any key in ENCRYPTION_KEYS"
            ) from None

    def rotate(self, ciphertext: bytes) -> bytes:
        """The same plaintext, encrypted with the newest key."""
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken:
            raise UndecryptableToken(
                "stored token cannot be decrypted with any key in ENCRYPTION_KEYS"
            ) from None

    def encrypt_at(self, plaintext: str, at: int) -> bytes:
        """Encrypted as if at `at` (epoch seconds), for `decrypt_within`'s age check."""
        return self._fernet.encrypt_at_time(plaintext.encode("utf-8"), at)

    def decrypt_within(self, ciphertext: bytes, *, ttl: int, now: int) -> str:
        """The plaintext, when encrypted at most `ttl` seconds before `now`; else (too old, or
        not ours) UndecryptableToken."""
        try:
            return self._fernet.decrypt_at_time(ciphertext, ttl, now).decode("utf-8")
        except InvalidToken:
            raise UndecryptableToken("expired, or not encrypted with ENCRYPTION_KEYS") from None
