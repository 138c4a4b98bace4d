"""PERSONNEL escrow: the judicial path, never in one person's hands.

An escrow age identity is generated once and split with Shamir's scheme
(SLIP-39, the ``shamir-mnemonic`` reference implementation) into word lists
for N custodians named by the school (the head teacher, the DPO of the
local authority…), any T of whom (T ≥ 2) can rebuild it. The identity
itself is never stored: the box keeps only its recipient, and every
person's PERSONNEL identity sealed to it. Opening a person's space then
takes T custodians typing their words, and is audited. Blocking: call
through the executor.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

from appliance import agefile

MIN_THRESHOLD: Final = 2


class EscrowError(ValueError):
    """Wrong or too few shares, or a damaged sealed key."""


@dataclass(frozen=True, slots=True)
class NewEscrow:
    """A new escrow: its recipient (stored) and the custodians' shares (printed once)."""

    recipient: str
    shares: list[str]
    threshold: int


def create(custodians: int, threshold: int) -> NewEscrow:
    """Make an escrow identity and split it between ``custodians``."""
    if not MIN_THRESHOLD <= threshold <= custodians <= 16:
        raise EscrowError("need 2 ≤ threshold ≤ custodians ≤ 16")
    # Imported here: its tables cost a tenth of the web's start on a slow box,
    # for what a school does once.
    import shamir_mnemonic

    identity = agefile.generate_identity()
    secret = agefile.bech32_decode(identity, "age-secret-key-")
    groups = shamir_mnemonic.generate_mnemonics(1, [(threshold, custodians)], secret)
    return NewEscrow(agefile.recipient_of(identity), groups[0], threshold)


def rebuild(shares: list[str]) -> str:
    """Return the escrow identity from enough custodians' shares."""
    import shamir_mnemonic

    try:
        secret = shamir_mnemonic.combine_mnemonics([" ".join(s.split()) for s in shares])
    except (shamir_mnemonic.MnemonicError, ValueError) as err:
        raise EscrowError(f"shares: {err}") from err
    return agefile.bech32_encode("age-secret-key-", secret).upper()


def seal_for_escrow(identity: str, escrow_recipient: str) -> str:
    """Return a person's identity sealed to the escrow (armoured for the DB)."""
    out = io.BytesIO()
    writer = agefile.AgeWriter(escrow_recipient, out)
    writer.write(identity.encode())
    writer.close()
    return out.getvalue().hex()


def open_from_escrow(sealed: str, escrow_identity: str) -> str:
    """Return a person's identity from its escrow seal."""
    try:
        return agefile.decrypt_stream(escrow_identity, io.BytesIO(bytes.fromhex(sealed))).decode()
    except (agefile.AgeError, ValueError) as err:
        raise EscrowError("this escrow does not open this key") from err
