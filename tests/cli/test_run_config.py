"""What a run records of its command line holds no URL's user, password or query."""

from __future__ import annotations

import argparse
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from webresearch.cli.options import args_json

SECRET = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=6,
                 max_size=30).map(lambda s: "Z" + s)  # Z: never in the hosts or prefixes


@settings(max_examples=200, deadline=None)
@given(user=SECRET, password=SECRET, key=SECRET,
       prefix=st.sampled_from(["", "serve:", "retriever:", "--judge="]),
       host=st.sampled_from(["127.0.0.1:8000", "api.example.test", "[::1]:9"]))
def test_no_credential_of_a_url_is_recorded(user: str, password: str, key: str, prefix: str,
                                            host: str) -> None:
    url = f"{prefix}https://{user}:{password}@{host}/v1/?api_key={key}#frag"
    recorded = args_json(argparse.Namespace(base_url=url, episodes=3))
    assert password not in recorded["base_url"] and key not in recorded["base_url"]
    assert recorded["base_url"].startswith(prefix + "https://") and recorded["episodes"] == "3"
