from __future__ import annotations

import pytest

from storage.crypto import (
    EncryptionKeyError,
    TokenCipher,
    UndecryptableToken,
    generate_key,
)

TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_a_token_round_trips_and_the_ciphertext_does_not_contain_it() -> None:
    cipher = TokenCipher([generate_key()])
    ciphertext = cipher.encrypt(TOKEN)
    assert TOKEN.encode() not in ciphertext
    assert cipher.decrypt(ciphertext) == TOKEN


def test_rotation_with_two_keys_keeps_old_ciphertext_readable_then_moves_it_to_the_new_key() -> (
    None
):
    old_key, new_key = generate_key(), generate_key()
    written_under_old = TokenCipher([old_key]).encrypt(TOKEN)
    both = TokenCipher([new_key, old_key])

    assert both.decrypt(written_under_old) == TOKEN
    rotated = both.rotate(written_under_old)
    assert TokenCipher([new_key]).decrypt(rotated) == TOKEN
    with pytest.raises(UndecryptableToken):
        TokenCipher([old_key]).decrypt(rotated)


def test_new_tokens_are_encrypted_with_the_newest_key() -> None:
    old_key, new_key = generate_key(), generate_key()
    ciphertext = TokenCipher([new_key, old_key]).encrypt(TOKEN)
    assert TokenCipher([new_key]).decrypt(ciphertext) == TOKEN


def test_no_key_is_a_clear_error() -> None:
    with pytest.raises(EncryptionKeyError, match="ENCRYPTION_KEYS is not set"):
        TokenCipher([])


def test_a_malformed_key_is_named_by_position_without_echoing_it() -> None:
    malformed = "not-a-fernet-key-but-a-secret-value"
    with pytest.raises(EncryptionKeyError) as error:
        TokenCipher([generate_key(), malformed])
    assert "entry 2 of 2" in str(error.value)
    assert malformed not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_a_token_under_an_unknown_key_cannot_be_decrypted() -> None:
    ciphertext = TokenCipher([generate_key()]).encrypt(TOKEN)
    with pytest.raises(UndecryptableToken, match="any key in ENCRYPTION_KEYS"):
        TokenCipher([generate_key()]).decrypt(ciphertext)


def test_the_cipher_never_shows_its_keys() -> None:
    key = generate_key()
    assert key not in repr(TokenCipher([key]))
