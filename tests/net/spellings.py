"""Spellings of addresses the URL policy must refuse: a hand-written table and generators.

``{p}`` in a URL is the canary's port (for loopback) or any port (elsewhere).
"""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

LOOPBACK_HOSTS = [
    "127.0.0.1", "127.0.0.1.", "127.0.0.1..", "127.1", "127.0.1", "2130706433", "0177.0.0.1",
    "0177.0000.0000.0001", "017700000001", "0x7f.1", "0x7f000001", "0X7F.0.0.1",
    "0x7f.0x0.0x0.0x1", "127.0x0.1", "127.00.0.1",
    "１２７．０．０．１",  # fullwidth digits and full stops
    "127。0。0。1",  # ideographic full stop
    "127｡0｡0｡1",  # halfwidth ideographic full stop
    "127．0．0．1",  # fullwidth full stop
    "１２７.０.０.１", "①②⑦.⓪.⓪.①", "𝟏𝟐𝟕.𝟎.𝟎.𝟏", "¹²⁷.⁰.⁰.¹", "127\u20240\u20240\u20241",
    "０ｘ７ｆ.１",  # fullwidth hex
    "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:127.0.0.1]", "[0000:0000:0000:0000:0000:ffff:7f00:0001]",
    "[::FFFF:7F00:1]", "[::127.0.0.1]", "[::7f00:1]", "[64:ff9b::7f00:1]",
    "[64:ff9b::127.0.0.1]", "[2002:7f00:1::]", "[2002:7f00:0001::1]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1
    "[::ffff:0:7f00:1]", "[::ffff:0:127.0.0.1]",  # IPv4-translated
    "[::1%25lo]", "[fe80::1%25lo]", "[::]", "0.0.0.0", "0", "0x0", "0.0", "[::ffff:0.0.0.0]",
    "localhost", "localhost.", "LOCALHOST", "ｌｏｃａｌｈｏｓｔ", "foo.localhost", "a.b.localhost.",
    "%31%32%37.0.0.1", "127.0.0.%31", "%6c%6f%63%61%6c%68%6f%73%74", "127.0.0.1%00.evil.test",
    "127.0.0.1%20", "1.2.3.4.5", "127.0.0.1.5",
]
"""Hosts that reach this machine (the canary listens on 127.0.0.1 and ::1)."""

ELSEWHERE_HOSTS = [
    "169.254.169.254", "169.254.169.254.", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376",
    "169.254.43518", "0xa9.0xfe.0xa9.0xfe", "0xA9.254.0251.0xfe",
    "１６９．２５４．１６９．２５４", "169。254。169。254", "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]", "[2002:a9fe:a9fe::]", "[::169.254.169.254]",
    "[fd00:ec2::254]", "100.100.100.200", "[fe80::a9fe:a9fe]",
    "10.0.0.1", "012.0.0.1", "167772161", "10.1", "192.168.0.1", "0xc0a80001", "192.168.1",
    "172.16.0.1", "172.31.255.255", "[fc00::1]", "[fd12:3456::1]", "[fe80::1]",
    "[::ffff:10.0.0.1]", "[64:ff9b::a00:1]", "[2002:a00:1::]", "100.64.0.1", "224.0.0.1",
    "255.255.255.255", "240.0.0.1", "198.18.0.1", "192.0.0.1", "[ff02::1]", "[100::1]",
    "[2001:db8::1]", "[64:ff9b:1::a00:1]",
]
"""Hosts elsewhere that must never be reached: metadata, private, link-local, reserved."""

USERINFO = ["user@{h}", "user:pass@{h}", "evil.test@{h}", "good.test:80@{h}",
            "1.1.1.1 &@{h}# @3.3.3.3"]
"""Userinfo tricks around a host ``{h}``."""


def url(host: str, port: int | str = "{p}", scheme: str = "http") -> str:
    return f"{scheme}://{host}:{port}/"


def loopback_urls() -> list[str]:
    return ([url(h) for h in LOOPBACK_HOSTS] + [f"http://{u.format(h='127.0.0.1:{p}')}/"
                                                 for u in USERINFO])


def elsewhere_urls() -> list[str]:
    return ([url(h) for h in ELSEWHERE_HOSTS] + [f"http://{u.format(h='169.254.169.254')}/"
                                                  for u in USERINFO])


# generated spellings ---------------------------------------------------------

BLOCKED_V4 = [ipaddress.IPv4Network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
    "0.0.0.0/8", "100.64.0.0/10")]
DIGITS = ["0123456789", "０１２３４５６７８９", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗", "𝟶𝟷𝟸𝟹𝟺𝟻𝟼𝟽𝟾𝟿", "₀₁₂₃₄₅₆₇₈₉"]
"""Digit families that IDNA (UTS 46) maps to ASCII digits."""
DOTS = [".", "。", "．", "｡", "\u2024", "\ufe52"]


def _part(value: int, style: str) -> str:
    if style == "oct":
        return "0" + format(value, "o")
    if style == "hex":
        return "0x" + format(value, "x")
    if style == "HEX":
        return "0X" + format(value, "X")
    return str(value)


@st.composite
def ipv4_spellings(draw: st.DrawFn) -> tuple[str, ipaddress.IPv4Address]:
    """A blocked IPv4 address written in any form a resolver accepts, and the address."""
    network = draw(st.sampled_from(BLOCKED_V4))
    address = draw(st.ip_addresses(network=network))
    assert isinstance(address, ipaddress.IPv4Address)
    value, parts = int(address), draw(st.integers(1, 4))
    numbers = [(value >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    numbers.append(value & ((1 << (8 * (5 - parts))) - 1))
    styles = draw(st.lists(st.sampled_from(["dec", "oct", "hex", "HEX"]),
                           min_size=parts, max_size=parts))
    text = ".".join(_part(n, s) for n, s in zip(numbers, styles, strict=True))
    digits = draw(st.sampled_from(DIGITS))
    text = "".join(digits[int(c)] if c.isdigit() else c for c in text)
    text = text.replace(".", draw(st.sampled_from(DOTS)))
    return text + "." * draw(st.integers(0, 2)), address


@st.composite
def ipv6_spellings(draw: st.DrawFn) -> tuple[str, ipaddress.IPv4Address]:
    """A blocked IPv4 address carried in IPv6 (mapped, NAT64, 6to4, compatible)."""
    network = draw(st.sampled_from(BLOCKED_V4))
    address = draw(st.ip_addresses(network=network))
    assert isinstance(address, ipaddress.IPv4Address)
    value = int(address)
    form = draw(st.sampled_from(["mapped", "nat64", "6to4", "compat"]))
    prefix = {"mapped": 0xFFFF << 32, "nat64": 0x64FF9B << 96, "compat": 0,
              "6to4": (0x2002 << 112) | (value << 80)}[form]
    six = ipaddress.IPv6Address(prefix | (0 if form == "6to4" else value))
    text = draw(st.sampled_from([six.compressed, six.exploded, six.compressed.upper()]))
    if form != "6to4" and draw(st.booleans()):
        text = ":".join(six.exploded.split(":")[:6]) + ":" + str(address)  # a dotted tail
    return f"[{text}]", address


def host_spellings() -> st.SearchStrategy[tuple[str, ipaddress.IPv4Address]]:
    return st.one_of(ipv4_spellings(), ipv6_spellings())


@st.composite
def blocked_urls(draw: st.DrawFn, port: int | str = "{p}") -> str:
    """A URL whose host is a generated spelling, maybe behind userinfo."""
    host, _ = draw(host_spellings())
    authority = f"{host}:{port}"
    trick = draw(st.sampled_from(["{h}", *USERINFO[:4]]))
    return f"http://{trick.format(h=authority)}/"
