"""Decryption of downloads in the digi.me encrypted-file layout, as the Node SDK does it.

Bytes 0-255: the 32-byte data key (DSK) under RSA-OAEP with SHA-1 and MGF1-SHA-1, no label.
Bytes 256-271: the AES IV. The rest: AES-256-CBC with PKCS#7 padding over the payload, which
is gzip-compressed when `x-metadata.compression` is "gzip".
"""

import gzip

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from report import CheckFailure, expect

WRAPPED_KEY_BYTES = 256
IV_BYTES = 16
MIN_FILE_BYTES = WRAPPED_KEY_BYTES + IV_BYTES + 16


def decrypt_download(data, private_key):
    """Return the payload (still compressed, if it was) of an encrypted download."""
    # Node's own size check, before it tries to decrypt.
    expect(len(data) >= MIN_FILE_BYTES, f"encrypted file is {len(data)} bytes, fewer than {MIN_FILE_BYTES}")
    expect(len(data) % 16 == 0, f"encrypted file length {len(data)} is not a multiple of 16")
    try:
        data_key = private_key.decrypt(
            data[:WRAPPED_KEY_BYTES],
            padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
        )
    except ValueError:
        raise CheckFailure("RSA-OAEP (SHA-1) decryption of the data key with the reading contract's key failed") from None
    expect(len(data_key) == 32, f"data key is {len(data_key)} bytes, expected 32 for AES-256")
    iv = data[WRAPPED_KEY_BYTES:WRAPPED_KEY_BYTES + IV_BYTES]
    decryptor = Cipher(algorithms.AES(data_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data[WRAPPED_KEY_BYTES + IV_BYTES:]) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise CheckFailure("AES-256-CBC plaintext has invalid PKCS#7 padding") from None


def decompress(payload, compression):
    """Undo `x-metadata.compression` as Node does: gzip, or nothing for an absent or empty value."""
    if compression == "gzip":
        try:
            return gzip.decompress(payload)
        except (OSError, EOFError):
            raise CheckFailure("x-metadata.compression is gzip but the payload is not gzip data") from None
    expect(compression in (None, ""), f"unexpected compression {compression!r}")
    return payload
