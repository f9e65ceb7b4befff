"""PII detectors (positive and negative cases), placeholders, and the "pii" step on every payload.

The NER alignment test runs the step over every sentence of the bundled WNUT-17 train file,
which holds URLs, phone numbers and many @-handles (which are not e-mail addresses).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from foundry.domain.tags import is_valid_iob2, repair_iob2, spans_from_tags
from foundry.ingestion.options import PiiMode, PiiOptions, PiiType
from foundry.ingestion.pii import (
    TAGS_REPAIRED_COUNTER,
    PiiDetector,
    PiiHit,
    PiiStep,
    Placeholders,
    resolve_overlaps,
    rewrite_tokens,
)
from foundry.ingestion.pii.checksums import (
    iban_mod97_valid,
    iso7064_mod11_2_check,
    luhn_valid,
    spanish_id_valid,
    verhoeff_valid,
)
from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.runtime.examples import ChatMessage, Example, Provenance, Span

WNUT17_TRAIN = Path(__file__).parents[3] / "examples" / "data" / "wnut17" / "wnut17train.conll"
SECRET = b"test-secret"
PSEUDONYM = re.compile(r"<([A-Z_0-9]+?)_([0-9a-f]{8})>")

DETECTOR = PiiDetector()


def found(text: str, detector: PiiDetector = DETECTOR) -> list[tuple[str, str]]:
    """(type, matched text) of every hit."""
    return [(hit.kind.value, text[hit.start : hit.end]) for hit in detector.find(text)]


def kinds(text: str) -> set[str]:
    return {kind for kind, _ in found(text)}


# --- checksums --------------------------------------------------------------------------------------


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("8112189876")
    assert not luhn_valid("4111111111111112")


def test_iban_mod97() -> None:
    assert iban_mod97_valid("DE89370400440532013000")
    assert iban_mod97_valid("GB82WEST12345698765432")
    assert not iban_mod97_valid("DE89370400440532013001")
    assert not iban_mod97_valid("GB82WEST12345698765423")  # transposed digits


def test_iso7064_mod11_2() -> None:
    assert iso7064_mod11_2_check("11010519491231002") == "X"
    assert iso7064_mod11_2_check("36042619910101007") == "1"


def test_verhoeff() -> None:
    assert verhoeff_valid("234123412346")
    assert not verhoeff_valid("234123412347")
    assert not verhoeff_valid("234123412364")  # adjacent transposition


def test_spanish_letters() -> None:
    assert spanish_id_valid("12345678Z")
    assert spanish_id_valid("X1234567L")
    assert not spanish_id_valid("12345678A")


# --- e-mail -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to john.doe@example.com.", "john.doe@example.com"),
        ("Jane+news@Mail.Example.co.uk, please", "Jane+news@Mail.Example.co.uk"),
        ("<a_b-c@sub-domain.example.org>", "a_b-c@sub-domain.example.org"),
        ("josé@correo.es", "josé@correo.es"),
        ("请发邮件至john@example.com谢谢", "john@example.com"),  # glued to CJK text
        ("user@xn--80ak6aa92e.xn--p1ai", "user@xn--80ak6aa92e.xn--p1ai"),
    ],
)
def test_email_found(text: str, expected: str) -> None:
    assert found(text) == [("email", expected)]


@pytest.mark.parametrize(
    "text",
    [
        "@paulwalk it's the view",  # a handle, no local part
        "RT @user: hello",
        "me@localhost is not routable",  # no TLD
        "sorgelaw@yahoo . com",  # broken up by a tokenizer
        "a@b.c",  # one-letter TLD
        "x@-bad.com",
        "@ @ @",
    ],
)
def test_email_not_found(text: str) -> None:
    assert "email" not in kinds(text)


# --- URLs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see http://t.co/WUjZuGGirC now", "http://t.co/WUjZuGGirC"),
        ("(see https://en.wikipedia.org/wiki/Foo_(bar)).", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("at www.example.org/a?b=1&c=2, ok", "www.example.org/a?b=1&c=2"),
        ("HTTPS://EXAMPLE.COM/Path!", "HTTPS://EXAMPLE.COM/Path"),
        ("ftp://files.example.net/x.tar.gz;", "ftp://files.example.net/x.tar.gz"),
        ("访问https://example.com/a了解更多", "https://example.com/a"),  # glued to CJK text
        ('href="http://x.org/p?q=1"', "http://x.org/p?q=1"),
    ],
)
def test_url_found(text: str, expected: str) -> None:
    assert found(text) == [("url", expected)]


@pytest.mark.parametrize(
    "text",
    ["example.com is bare", "use http:// and nothing", "file.txt and e.g. this", "awww.cute", "http:///x"],
)
def test_url_not_found(text: str) -> None:
    assert "url" not in kinds(text)


def test_url_value_lowercases_scheme_and_host_only() -> None:
    (hit,) = DETECTOR.find("HTTPS://EXAMPLE.COM/Path")
    assert hit.value == "https://example.com/Path"


# --- IP addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 192.168.1.1.", "192.168.1.1"),
        ("host 8.8.8.8:53", "8.8.8.8"),
        ("net 10.0.0.0/8", "10.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
    ],
)
def test_ipv4_found(text: str, expected: str) -> None:
    assert found(text) == [("ipv4", expected)]


@pytest.mark.parametrize(
    "text",
    [
        "version 1.2.3.4.5",  # too many parts
        "999.1.1.1",  # part above 255
        "1.2.3.256",
        "01.02.03.04",  # leading zeros
        "v1.2.3.4",  # glued to a letter
        "pi is 3.14159",
        "1.2.3",
        "it costs 1.200.300 euros",
    ],
)
def test_ipv4_not_found(text: str) -> None:
    assert "ipv4" not in kinds(text)


@pytest.mark.parametrize(
    ("text", "expected", "value"),
    [
        ("server 2001:db8::1 up", "2001:db8::1", "2001:db8::1"),
        ("link fe80::1: down", "fe80::1", "fe80::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("mapped ::ffff:192.0.2.1.", "::ffff:192.0.2.1", "::ffff:c000:201"),
        ("loopback ::1", "::1", "::1"),
    ],
)
def test_ipv6_found(text: str, expected: str, value: str) -> None:
    (hit,) = DETECTOR.find(text)
    assert (hit.kind, text[hit.start : hit.end], hit.value) == (PiiType.IPV6, expected, value)


@pytest.mark.parametrize(
    "text",
    [
        "at 12:30:45 sharp",  # a time
        "mac 00:1A:2B:3C:4D:5E",  # a MAC address
        "dead::beef",  # no digit: reads as a word or scope
        "std::vector<int>",
        "ratio 1:2:3",
        "1:2:3:4:5:6:7:8:9",  # nine groups
    ],
)
def test_ipv6_not_found(text: str) -> None:
    assert "ipv6" not in kinds(text)


# --- phone numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "e164"),
    [
        ("Call (415) 555-2671 today", "(415) 555-2671", "+14155552671"),
        ("call 415.555.2671", "415.555.2671", "+14155552671"),
        ("London +44 20 7946 0958 office", "+44 20 7946 0958", "+442079460958"),
        ("Paris: +33 1 42 68 53 00.", "+33 1 42 68 53 00", "+33142685300"),
        ("Text 678-223-3699 by 6:59 pm", "678-223-3699", "+16782233699"),
        ("@GirlinCali79 415 555 2671 tape", "415 555 2671", "+14155552671"),  # digits glued to a word before
        ("Tel:+1 (415) 555-2671", "+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_phone_found(text: str, expected: str, e164: str) -> None:
    (hit,) = DETECTOR.find(text)
    assert (hit.kind, text[hit.start : hit.end], hit.value) == (PiiType.PHONE, expected, e164)


@pytest.mark.parametrize(
    "text",
    [
        "on 2024-01-15 at 10:30",  # a date
        "the 12/05/2019 event",
        "born in 1987, back in 2019",  # years
        "price $1,299,999.00 only",  # a price
        "costs $4155552671 now",
        "it is 12345678",
        "dial 555-1234",  # seven digits, no valid area code
        "order 9876543210 shipped",  # not a valid US number
        "ISBN 978-3-16-148410-0",
        "score 3 - 2 in 90 minutes",
    ],
)
def test_phone_not_found(text: str) -> None:
    assert "phone" not in kinds(text)


def test_phone_default_region() -> None:
    london = "ring 020 7946 0958 now"
    assert "phone" not in kinds(london)  # read in the US, it is not valid
    assert found(london, PiiDetector(default_region="GB")) == [("phone", "020 7946 0958")]
    international_only = PiiDetector(default_region="ZZ")
    assert international_only.find("(415) 555-2671") == []
    assert found("+1 415 555 2671", international_only) == [("phone", "+1 415 555 2671")]


def test_phone_unknown_region_rejected() -> None:
    with pytest.raises(InvalidArgumentError):
        PiiDetector(default_region="XX")


# --- payment cards ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4111 1111 1111 1111",  # Visa
        "4012888888881881",
        "5555-5555-5555-4444",  # Mastercard
        "2223003122003222",  # Mastercard 2-series
        "3782 822463 10005",  # American Express
        "6011111111111117",  # Discover
        "3530111333300000",  # JCB
        "30569309025904",  # Diners Club (14 digits)
        "6200000000000005",  # UnionPay
    ],
)
def test_card_found(number: str) -> None:
    text = f"card: {number}, exp 12/27"
    assert found(text) == [("payment_card", number)]


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "5555555555554443",
        "0000 0000 0000 0000",  # passes Luhn, no issuer
        "9111111111111111111",  # unknown issuer
        "411111111111111111",  # Visa has no 18-digit numbers
        "4111111111111111abc",  # glued to letters
        "1.4111111111111111",  # a decimal part
        "4111 1111 1111",  # too short
    ],
)
def test_card_not_found(text: str) -> None:
    assert "payment_card" not in kinds(text)


def test_numbers_glued_to_cjk_text() -> None:
    assert found("卡号4111111111111111已停用") == [("payment_card", "4111111111111111")]
    assert found("地址192.168.1.1不通") == [("ipv4", "192.168.1.1")]
    assert found("账户DE89370400440532013000。") == [("iban", "DE89370400440532013000")]


def test_card_followed_by_other_digits() -> None:
    assert found("4111 1111 1111 1111 2025") == [("payment_card", "4111 1111 1111 1111")]
    assert found("at 4111-1111-1111-1111 10am") == [("payment_card", "4111-1111-1111-1111")]
    (hit,) = DETECTOR.find("4111-1111-1111-1111")
    assert hit.value == "4111111111111111"


# --- IBAN -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iban", "value"),
    [
        ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
        ("GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("FR14 2004 1010 0505 0001 3M02 606", "FR1420041010050500013M02606"),
        ("NL91ABNA0417164300", "NL91ABNA0417164300"),
        ("NO93 8601 1117 947", "NO9386011117947"),
        ("gb82 west 1234 5698 7654 32", "GB82WEST12345698765432"),  # lower-cased text
    ],
)
def test_iban_found(iban: str, value: str) -> None:
    text = f"pay to {iban} before Friday"
    (hit,) = DETECTOR.find(text)
    assert (hit.kind, text[hit.start : hit.end], hit.value) == (PiiType.IBAN, iban, value)


@pytest.mark.parametrize(
    "text",
    [
        "DE89 3704 0044 0532 0130 01",  # checksum fails
        "GB82WEST12345698765423",
        "DE89 3704 0044 0532 0130",  # too short for DE
        "DE89370400440532013000123",  # too long for DE (glued digits)
        "QQ89370400440532013000",  # no such country
        "XDE89370400440532013000",  # glued to a letter
    ],
)
def test_iban_not_found(text: str) -> None:
    assert "iban" not in kinds(text)


def test_two_ibans_in_a_row() -> None:
    text = "DE89 3704 0044 0532 0130 00 GB82 WEST 1234 5698 7654 32"
    assert [kind for kind, _ in found(text)] == ["iban", "iban"]


# --- national ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "value"),
    [
        ("身份证 11010519491231002X 号", "11010519491231002X", "11010519491231002X"),
        ("id 11010519491231002x.", "11010519491231002x", "11010519491231002X"),
        ("id 360426199101010071", "360426199101010071", "360426199101010071"),
        ("DNI 12345678Z", "12345678Z", "12345678Z"),
        ("DNI 12345678-Z", "12345678-Z", "12345678Z"),
        ("NIE X1234567L", "X1234567L", "X1234567L"),
        ("Aadhaar 2341 2341 2346", "2341 2341 2346", "234123412346"),
        ("Aadhaar 2345-6789-0124", "2345-6789-0124", "234567890124"),
        ("personnummer 811218-9876", "811218-9876", "8112189876"),
        ("personnummer 19811218-9876", "19811218-9876", "8112189876"),
        ("samordningsnummer 701063-2391", "701063-2391", "7010632391"),
    ],
)
def test_national_id_found(text: str, expected: str, value: str) -> None:
    (hit,) = DETECTOR.find(text)
    assert (hit.kind, text[hit.start : hit.end], hit.value) == (PiiType.NATIONAL_ID, expected, value)


@pytest.mark.parametrize(
    "text",
    [
        "110105194912310021",  # CN: wrong check character
        "110105194902300020",  # CN: February 30th (check character right)
        "110105209912310029",  # CN: born in the future (check character right)
        "910105194912310029",  # CN: area code cannot start with 9 (check character right)
        "A11010519491231002X",  # CN: glued to a letter
        "12345678A",  # ES: wrong letter
        "X1234567A",
        "2341 2341 2347",  # IN: Verhoeff fails
        "234123412346",  # IN: the bare 12-digit form is not taken
        "1234 5678 9012",  # IN: cannot start with 1
        "811218-9877",  # SE: Luhn fails
        "811318-9876",  # SE: month 13
        "8112189876",  # SE: no separator
    ],
)
def test_national_id_not_found(text: str) -> None:
    assert "national_id" not in kinds(text)


def test_cn_negatives_fail_on_date_or_area_alone() -> None:
    assert iso7064_mod11_2_check("11010520991231002") == "9"
    assert iso7064_mod11_2_check("91010519491231002") == "9"
    assert iso7064_mod11_2_check("11010519490230002") == "0"


# --- overlaps ---------------------------------------------------------------------------------------


def test_url_holding_email_and_ip_is_one_url() -> None:
    assert found("go http://10.0.0.1/?to=a@b.com now") == [("url", "http://10.0.0.1/?to=a@b.com")]


def test_longest_then_most_specific_wins() -> None:
    hits = [
        PiiHit(0, 10, PiiType.PHONE, "p"),
        PiiHit(0, 18, PiiType.PAYMENT_CARD, "c"),
        PiiHit(0, 18, PiiType.NATIONAL_ID, "n"),
        PiiHit(20, 25, PiiType.PHONE, "q"),
        PiiHit(17, 21, PiiType.IPV4, "i"),
    ]
    kept = resolve_overlaps(hits)
    assert [(h.kind, h.start) for h in kept] == [(PiiType.NATIONAL_ID, 0), (PiiType.PHONE, 20)]


def test_types_restrict_detection() -> None:
    detector = PiiDetector([PiiType.EMAIL])
    assert found("a@b.com 4111 1111 1111 1111 http://x.org", detector) == [("email", "a@b.com")]


def test_no_hits_in_plain_text() -> None:
    assert (
        DETECTOR.find("It's the view from where I'm living for two weeks. Empire State Building = ESB.") == []
    )


# --- placeholders -----------------------------------------------------------------------------------


def test_mask() -> None:
    placeholders = Placeholders(PiiMode.MASK)
    assert placeholders(PiiHit(0, 1, PiiType.EMAIL, "a@b.com")) == "<EMAIL>"
    assert placeholders(PiiHit(0, 1, PiiType.PAYMENT_CARD, "4111")) == "<PAYMENT_CARD>"


def test_pseudonyms_are_consistent_and_keyed() -> None:
    first = Placeholders(PiiMode.PSEUDONYMIZE, SECRET)
    again = Placeholders(PiiMode.PSEUDONYMIZE, SECRET)  # another dataset, same secret
    other = Placeholders(PiiMode.PSEUDONYMIZE, b"another-secret")
    hit = PiiHit(0, 1, PiiType.EMAIL, "john@example.com")
    name = first(hit)
    assert PSEUDONYM.fullmatch(name) and name.startswith("<EMAIL_")
    assert first(hit) == name == again(hit)
    assert other(hit) != name
    assert first(PiiHit(0, 1, PiiType.EMAIL, "jane@example.com")) != name
    assert first(PiiHit(0, 1, PiiType.URL, "john@example.com")) != name.replace("EMAIL", "URL")


def test_pseudonyms_follow_normalized_values() -> None:
    step = PiiStep(PiiOptions(enabled=True, mode=PiiMode.PSEUDONYMIZE), secret=SECRET)
    out = step.apply(
        Example(id="1", text="(415) 555-2671 or +1 415 555 2671; John@Example.com, john@example.com")
    )
    assert out is not None and out.text is not None
    names = PSEUDONYM.findall(out.text)
    assert len(names) == 4
    assert names[0] == names[1] and names[2] == names[3] and names[0] != names[2]


def test_pseudonymize_needs_a_secret_and_hides_it() -> None:
    with pytest.raises(FailedPreconditionError):
        Placeholders(PiiMode.PSEUDONYMIZE, None)
    with pytest.raises(FailedPreconditionError):
        PiiStep(PiiOptions(enabled=True, mode=PiiMode.PSEUDONYMIZE), secret="")
    placeholders = Placeholders(PiiMode.PSEUDONYMIZE, "s3cr3t-value")
    assert "s3cr3t" not in repr(placeholders)
    assert all("s3cr3t" not in repr(value) for value in vars(placeholders).values())


# --- the step: text and chat ------------------------------------------------------------------------


def mask_step(*types: PiiType) -> PiiStep:
    return PiiStep(PiiOptions(enabled=True, mode=PiiMode.MASK, types=types))


def test_text_row_masked_and_counted() -> None:
    step = mask_step()
    rows = [
        Example(id="a", text="Mail john@example.com or call (415) 555-2671, card 4111 1111 1111 1111."),
        Example(id="b", text="nothing here"),
        Example(id="c", text="http://x.org and http://y.org from 10.1.2.3 IBAN DE89370400440532013000"),
    ]
    out = list(step.run(rows))
    assert out[0].text == "Mail <EMAIL> or call <PHONE>, card <PAYMENT_CARD>."
    assert out[1] is rows[1]
    assert out[2].text == "<URL> and <URL> from <IPV4> IBAN <IBAN>"
    assert step.report.counters == {
        "pii.email": 1,
        "pii.phone": 1,
        "pii.payment_card": 1,
        "pii.url": 2,
        "pii.ipv4": 1,
        "pii.iban": 1,
    }
    assert (step.report.rows_in, step.report.rows_out, step.report.rows_modified) == (3, 3, 2)
    assert step.counts_by_type() == {
        "email": 1,
        "phone": 1,
        "payment_card": 1,
        "url": 2,
        "ipv4": 1,
        "iban": 1,
    }


def test_row_without_hit_is_the_same_object() -> None:
    step = mask_step()
    for row in (
        Example(id="t", text="plain words"),
        Example(id="n", tokens=["plain", "words"], tags=["O", "O"], spans=[]),
        Example(id="c", messages=[ChatMessage("user", "hi"), ChatMessage("assistant", "hello")]),
        Example(id="e"),
    ):
        assert step.apply(row) is row


def test_disabled_step_passes_rows_through() -> None:
    step = PiiStep(PiiOptions(enabled=False, mode=PiiMode.PSEUDONYMIZE))  # no secret needed
    row = Example(id="a", text="john@example.com")
    assert step.apply(row) is row
    assert not step.report.counters


def test_chat_messages_rewritten_one_by_one() -> None:
    step = mask_step()
    kept = ChatMessage("system", "You are helpful.")
    row = Example(
        id="c",
        messages=[kept, ChatMessage("user", "my mail is a@b.com"), ChatMessage("assistant", "noted a@b.com")],
    )
    out = step.apply(row)
    assert out is not None and out.messages is not None
    assert [m.content for m in out.messages] == ["You are helpful.", "my mail is <EMAIL>", "noted <EMAIL>"]
    assert out.messages[0] is kept and [m.role for m in out.messages] == ["system", "user", "assistant"]
    assert row.messages is not None and row.messages[1].content == "my mail is a@b.com"  # input untouched
    assert step.report.counters == {"pii.email": 2}


# --- the step: token classification -----------------------------------------------------------------


def ner_row(tokens: list[str], tags: list[str]) -> Example:
    text, spans = spans_from_tags(tokens, tags)
    return Example(id="n", tokens=tokens, tags=tags, text=text, spans=spans, provenance=Provenance("f", 7))


def check_aligned(row: Example) -> None:
    assert row.tokens is not None and row.tags is not None
    assert len(row.tokens) == len(row.tags)
    assert is_valid_iob2(row.tags)
    assert (row.text, row.spans) == spans_from_tags(row.tokens, row.tags)


def test_hit_inside_one_token_rewrites_its_substring() -> None:
    out = mask_step().apply(ner_row(["mail:a@b.com,c@d.org", "to", "Bob"], ["O", "O", "B-person"]))
    assert out is not None
    assert out.tokens == ["mail:<EMAIL>,<EMAIL>", "to", "Bob"]
    assert out.tags == ["O", "O", "B-person"]
    assert out.spans == [Span(len("mail:<EMAIL>,<EMAIL> to "), len("mail:<EMAIL>,<EMAIL> to Bob"), "person")]
    check_aligned(out)


def test_hit_over_tokens_collapses_them_with_the_first_tag() -> None:
    out = mask_step().apply(ner_row(["call", "415", "555", "2671", "now"], ["O", "O", "O", "O", "O"]))
    assert out is not None
    assert (out.tokens, out.tags) == (["call", "<PHONE>", "now"], ["O", "O", "O"])
    check_aligned(out)


def test_collapse_keeps_b_and_i_tags() -> None:
    out = mask_step().apply(
        ner_row(["Acme", "415", "555", "2671", "Inc"], ["B-corp", "I-corp", "I-corp", "I-corp", "I-corp"])
    )
    assert out is not None
    assert (out.tokens, out.tags) == (["Acme", "<PHONE>", "Inc"], ["B-corp", "I-corp", "I-corp"])
    assert out.spans == [Span(0, len("Acme <PHONE> Inc"), "corp")]
    out = mask_step().apply(ner_row(["415", "555", "2671", "line"], ["B-phone", "I-phone", "I-phone", "O"]))
    assert out is not None
    assert (out.tokens, out.tags) == (["<PHONE>", "line"], ["B-phone", "O"])
    check_aligned(out)


def test_collapse_from_o_into_an_entity_repairs_the_next_tag() -> None:
    step = mask_step()
    out = step.apply(
        ner_row(
            ["call", "(415)", "555", "2671", "Corp", "HQ"], ["O", "O", "B-corp", "I-corp", "I-corp", "I-corp"]
        )
    )
    assert out is not None
    assert (out.tokens, out.tags) == (["call", "<PHONE>", "Corp", "HQ"], ["O", "O", "B-corp", "I-corp"])
    assert step.report.counters[TAGS_REPAIRED_COUNTER] == 1
    assert step.counts_by_type() == {"phone": 1}
    check_aligned(out)


def test_hit_starting_and_ending_inside_tokens() -> None:
    out = mask_step().apply(ner_row(["tel:(415)", "555-2671.", "ok"], ["O", "O", "B-x"]))
    assert out is not None
    assert (out.tokens, out.tags) == (["tel:<PHONE>.", "ok"], ["O", "B-x"])
    check_aligned(out)


def test_unlabeled_tokens_and_text_none() -> None:
    row = Example(id="u", tokens=["see", "http://x.org", "or", "415", "555", "2671"])
    out = mask_step().apply(row)
    assert out is not None
    assert out.tokens == ["see", "<URL>", "or", "<PHONE>"]
    assert (out.tags, out.text, out.spans) == (None, None, None)


def test_rewrite_tokens_directly() -> None:
    tokens = ["a@b.com", "and", "c@d.com"]
    hits = DETECTOR.find(" ".join(tokens))
    rewrite = rewrite_tokens(tokens, ["B-x", "O", "B-y"], hits, Placeholders(PiiMode.MASK))
    assert (rewrite.tokens, rewrite.tags, rewrite.repaired_tags) == (
        ["<EMAIL>", "and", "<EMAIL>"],
        ["B-x", "O", "B-y"],
        0,
    )


# --- WNUT-17 ----------------------------------------------------------------------------------------


def wnut17_rows() -> list[Example]:
    rows: list[Example] = []
    tokens: list[str] = []
    tags: list[str] = []
    lines = [*WNUT17_TRAIN.read_text(encoding="utf-8").splitlines(), ""]
    for number, line in enumerate(lines, start=1):
        if line.strip():
            token, tag = line.split("\t")
            tokens.append(token)
            tags.append(tag)
        elif tokens:
            text, spans = spans_from_tags(tokens, tags)
            rows.append(
                Example(
                    id=str(number),
                    tokens=tokens,
                    tags=tags,
                    text=text,
                    spans=spans,
                    provenance=Provenance("w", number),
                )
            )
            tokens, tags = [], []
    return rows


@pytest.mark.parametrize("mode", [PiiMode.MASK, PiiMode.PSEUDONYMIZE])
def test_wnut17_tokens_and_tags_stay_aligned(mode: PiiMode) -> None:
    rows = wnut17_rows()
    assert len(rows) == 3394
    step = PiiStep(PiiOptions(enabled=True, mode=mode), secret=SECRET)
    out = list(step.run(rows))
    assert len(out) == len(rows)
    changed = 0
    for before, after in zip(rows, out, strict=True):
        check_aligned(after)
        if after is before:
            continue
        changed += 1
        assert after.tokens != before.tokens and "<" in " ".join(after.tokens or [])
        assert after.id == before.id and after.provenance == before.provenance
    counters = step.report.counters
    assert changed == step.report.rows_modified > 800
    assert counters["pii.url"] > 900 and counters["pii.phone"] >= 4
    assert counters["pii.email"] == 0  # @-handles are not addresses
    assert sum(counters[f"pii.{kind.value}"] for kind in PiiType) >= changed


def test_wnut17_pseudonyms_agree_across_runs() -> None:
    rows = wnut17_rows()[:400]
    first = [
        row.tokens
        for row in PiiStep(PiiOptions(enabled=True, mode=PiiMode.PSEUDONYMIZE), secret=SECRET).run(rows)
    ]
    second = [
        row.tokens
        for row in PiiStep(PiiOptions(enabled=True, mode=PiiMode.PSEUDONYMIZE), secret=SECRET).run(rows)
    ]
    third = [
        row.tokens
        for row in PiiStep(PiiOptions(enabled=True, mode=PiiMode.PSEUDONYMIZE), secret=b"x").run(rows)
    ]
    assert first == second
    assert first != third


INJECTED = [
    ["415", "555", "2671"],  # a phone number over three tokens
    ["DE89", "3704", "0044", "0532", "0130", "00"],  # an IBAN over six
    ["mail:a.b@example.com,"],  # inside one token
    ["4111-1111-1111-1111"],
    ["(415)", "555-2671", "x@y.org"],  # two hits over three tokens
]


def test_injected_pii_keeps_tags_aligned_and_valid() -> None:
    """PII spliced into WNUT-17 sentences at seeded positions, inside and across entities."""
    rng = random.Random(17)
    rows = []
    for index, row in enumerate(wnut17_rows()[:1500]):
        assert row.tokens is not None and row.tags is not None
        tokens, tags = list(row.tokens), list(row.tags)
        # not next to a token with digits: "2 415 555 2671" is not a phone number
        places = [
            place
            for place in range(len(tokens) + 1)
            if not any(char.isdigit() for char in "".join(tokens[max(0, place - 1) : place + 1]))
        ]
        position = rng.choice(places)
        piece = INJECTED[index % len(INJECTED)]
        # the injected tokens take the tags around them, so hits start on O, B- and I- tags;
        # or an entity starts inside the hit and runs on after it (the case that needs repair)
        neighbour = tags[position - 1] if position else "O"
        if len(piece) > 1 and position < len(tokens) and rng.random() < 0.3:
            piece_tags = ["O", "B-corp"] + ["I-corp"] * (len(piece) - 2)
            tags[position] = "I-corp"
        else:
            inside = "I-" + neighbour[2:] if neighbour != "O" and rng.random() < 0.7 else "O"
            piece_tags = [inside] * len(piece)
        tokens[position:position] = piece
        tags[position:position] = piece_tags
        fixed, _ = repair_iob2(tags)
        rows.append(ner_row(tokens, fixed))
    step = mask_step()
    out = list(step.run(rows))
    for before, after in zip(rows, out, strict=True):
        assert after is not before
        check_aligned(after)
        assert after.tokens is not None and before.tokens is not None
        assert len(after.tokens) <= len(before.tokens)
        assert DETECTOR.find(after.text or "") == []  # nothing left to find
    counters = step.report.counters
    assert counters["pii.phone"] >= 600 and counters["pii.iban"] >= 300 and counters["pii.email"] >= 600
    assert counters["pii.payment_card"] >= 300
    assert counters[TAGS_REPAIRED_COUNTER] >= 50


def test_masked_wnut17_has_nothing_left_to_find() -> None:
    step = mask_step()
    for row in step.run(wnut17_rows()):
        assert DETECTOR.find(row.text or "") == []
