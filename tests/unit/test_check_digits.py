"""The one implementation of the check digits the redactor checks and the generator makes,
against the definitions the redaction and generator tests check with."""

from __future__ import annotations

import random
import string

from streams import redaction
from streams.check_digits import (
    cn_id_check_char,
    iban_check_digits,
    iban_ok,
    luhn_check_digit,
    luhn_ok,
)
from tests.unit.test_generator import cn_id_is_valid as cn_id_by_definition
from tests.unit.test_redaction import luhn_valid as luhn_by_definition


def test_luhn_agrees_with_its_definition() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        digits = "".join(rng.choice(string.digits) for _ in range(rng.randint(2, 19)))
        assert luhn_ok(digits) == luhn_by_definition(digits)
        payload = digits[:-1]
        assert luhn_ok(payload + luhn_check_digit(payload))
        assert [d for d in string.digits if luhn_by_definition(payload + d)] == [
            luhn_check_digit(payload)
        ]


def test_cn_id_check_char_agrees_with_its_definition() -> None:
    rng = random.Random(8)
    for _ in range(2000):
        first17 = "".join(rng.choice(string.digits) for _ in range(17))
        valid = [c for c in "0123456789X" if cn_id_by_definition(first17 + c)]
        assert valid == [cn_id_check_char(first17)]
        assert cn_id_check_char(first17 + valid[0]) == valid[0]  # the 18th is ignored


def test_iban_check_digits_make_a_valid_iban() -> None:
    assert iban_ok("DE89370400440532013000")
    assert not iban_ok("GB82WEST12345698765433")
    rng = random.Random(9)
    for _ in range(500):
        bban = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(18))
        country = rng.choice(("GB", "DE", "NL", "FR", "BE"))
        check = iban_check_digits(country, bban)
        assert iban_ok(country + check + bban)
        wrong = f"{(int(check) + rng.randint(1, 96)) % 97:02d}"
        assert not iban_ok(country + wrong + bban)


def test_the_redactor_uses_these_checks() -> None:
    assert vars(redaction)["luhn_ok"] is luhn_ok
    assert vars(redaction)["cn_id_check_char"] is cn_id_check_char
    assert vars(redaction)["iban_ok"] is iban_ok
