"""Secrets: registered by every Secret, redacted from any text, kept out of what is serialised."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import pickle
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import webresearch.net.secrets as secrets_module
from webresearch.crawlers.live import LiveWebConfig
from webresearch.net.secrets import MIN_SECRET_LENGTH, RedactingFilter, Secret, redact

SECRETS = st.text(min_size=MIN_SECRET_LENGTH, max_size=30)


@pytest.fixture(autouse=True)
def _own_registry() -> Iterator[None]:
    """The secrets a test registers (hundreds of random ones) do not outlive it."""
    saved = secrets_module._REGISTRY
    secrets_module._REGISTRY = secrets_module._Registry()
    try:
        yield
    finally:
        secrets_module._REGISTRY = saved


@settings(max_examples=200, deadline=None)
@given(secret=SECRETS, before=st.text(max_size=20), after=st.text(max_size=20),
       form=st.sampled_from(["raw", "url", "json"]))
def test_a_registered_secret_never_survives_redaction(secret: str, before: str, after: str,
                                                      form: str) -> None:
    Secret(secret)
    shown = {"raw": secret, "url": quote(secret, safe=""), "json": json.dumps(secret)[1:-1]}[form]
    assert shown not in redact(before + shown + after)


def test_short_values_are_not_registered() -> None:
    Secret("abc")
    assert redact("abc abcdef") == "abc abcdef"


def test_a_secret_unpickled_in_another_process_registers_there() -> None:
    payload = pickle.dumps(Secret("sk-in-a-worker-42"))
    code = ("import pickle, sys; from webresearch.net.secrets import redact; "
            "pickle.loads(sys.stdin.buffer.read()); print(redact('echo: sk-in-a-worker-42'))")
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                         timeout=120, check=True).stdout
    assert out == b"echo: ***\n"


def test_live_web_config_keeps_the_key_out_of_everything_serialised() -> None:
    config = LiveWebConfig(api_key="sk-config-key-7")
    assert isinstance(config.api_key, Secret) and config.api_key.reveal() == "sk-config-key-7"
    record = json.dumps(dataclasses.asdict(config), default=str)  # how a run record holds it
    for text in (repr(config), str(dataclasses.asdict(config)), record):
        assert "sk-config-key-7" not in text
    assert pickle.loads(pickle.dumps(config)) == config  # a Ray worker still gets the key
    assert hash(config) == hash(LiveWebConfig(api_key="sk-config-key-7"))


def test_the_logging_filter_redacts_messages_and_tracebacks() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("tests.secrets")
    log.addHandler(handler)
    key = Secret("sk-log-line-99").reveal()
    try:
        log.warning("server answered: %s", f"401 Bearer {key}")
        try:
            raise RuntimeError(f"boom {key}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    assert "Bearer ***" in out.getvalue() and key not in out.getvalue()
