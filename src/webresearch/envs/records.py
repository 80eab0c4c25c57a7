"""Build the env a recorded run used again, from the options its record keeps."""

from __future__ import annotations

from typing import Any

from webresearch.envs.web_research import WebResearchEnv
from webresearch.errors import ConfigError
from webresearch.replay.schema import RunRecord

__all__ = ["make_env_from_record"]


def make_env_from_record(run: RunRecord, **overrides: Any) -> WebResearchEnv:
    """The env ``run`` was recorded with, built again from ``run.config["env"]``.

    Options no string could name when the run was recorded (a web backend without a
    spec, a custom reward function, a reading agent) must be given in ``overrides``,
    which also replace any recorded option (``web="replay:runs/store#<run id>"`` to
    replay the run offline).

    Example:
        >>> env = WebResearchEnv(web="sim:seed=3", max_turns=4, date="2026-01-01")
        >>> run = RunRecord(config={"env": env.config_json()})
        >>> again = make_env_from_record(run)
        >>> again.config == env.config, again.system_prompt == env.system_prompt
        (True, True)
    """
    recorded = run.config.get("env")
    if not isinstance(recorded, dict):
        raise ConfigError(f"Expects a run record with its env's options under config['env'], "
                          f"actual: run {run.run_id} has {sorted(run.config)}")
    options = {k: v for k, v in recorded.items() if k != "unrecorded"}
    missing = [name for name in recorded.get("unrecorded", []) if name not in overrides]
    if missing:
        raise ConfigError(f"Expects {missing} given again to re-create run {run.run_id}'s env "
                          f"(the record could not name them), actual: not given")
    if options.get("reader") == "keyword" and "reader" not in overrides:
        from webresearch.web.reader import KeywordReader  # noqa: PLC0415

        options["reader"] = KeywordReader()
    return WebResearchEnv(**{**options, **overrides})
