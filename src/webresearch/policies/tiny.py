"""A tiny Qwen2-architecture model with a locally trained tokenizer, for tests and CPU demos.

No weights can be downloaded in tests (or offline), so this builds a random model of
Qwen2's architecture from a config and a byte-level BPE tokenizer trained on the
simulated web's pages, saved in the Hugging Face layout that transformers and vLLM load.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from webresearch.errors import ConfigError, DependencyNotInstalled

__all__ = ["CHAT_TEMPLATE", "RESPONSE_TEMPLATE", "build_tiny_model"]

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CHAT_TEMPLATE = (
    '{%- if tools %}\n'
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    '    {%- endif %}\n'
    '    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist'
    ' with the user query.\\n\\nYou are provided with function signatures'
    ' within <tools></tools> XML tags:\\n<tools>" }}\n'
    '    {%- for tool in tools %}\n'
    '        {{- "\\n" }}\n'
    '        {{- tool | tojson }}\n'
    '    {%- endfor %}\n'
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object'
    ' with function name and arguments within <tool_call></tool_call> XML'
    ' tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\":'
    ' <args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n'
    '{%- else %}\n'
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    '    {%- endif %}\n'
    '{%- endif %}\n'
    '{%- for message in messages %}\n'
    '    {%- if (message.role == "user") or (message.role == "system" and'
    ' not loop.first) or (message.role == "assistant" and not message.tool_calls) %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content +"
    " '<|im_end|>' + '\\n' }}\n"
    '    {%- elif message.role == "assistant" %}\n'
    "        {{- '<|im_start|>' + message.role }}\n"
    '        {%- if message.content %}\n'
    "            {{- '\\n' + message.content }}\n"
    '        {%- endif %}\n'
    '        {%- for tool_call in message.tool_calls %}\n'
    '            {%- if tool_call.function is defined %}\n'
    '                {%- set tool_call = tool_call.function %}\n'
    '            {%- endif %}\n'
    '            {{- \'\\n<tool_call>\\n{"name": "\' }}\n'
    '            {{- tool_call.name }}\n'
    '            {{- \'", "arguments": \' }}\n'
    '            {{- tool_call.arguments | tojson }}\n'
    "            {{- '}\\n</tool_call>' }}\n"
    '        {%- endfor %}\n'
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "tool" %}\n'
    '        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n"
    '        {%- endif %}\n'
    "        {{- '\\n<tool_response>\\n' }}\n"
    '        {{- message.content }}\n'
    "        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n"
    '        {%- endif %}\n'
    '    {%- endif %}\n'
    '{%- endfor %}\n'
    '{%- if add_generation_prompt %}\n'
    "    {{- '<|im_start|>assistant\\n' }}\n"
    '{%- endif %}\n'
)
"""Qwen2.5-Instruct's chat template, without its default system prompt ("You are Qwen..."
when a conversation has none): ChatML, tool schemas in the system turn, tool calls as
``<tool_call>`` JSON, tool results as ``<tool_response>`` in a user turn."""

RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "reasoning_content": {"open": "<think>", "close_pattern": r"</think>\s*",
                              "content": "text"},
        "tool_calls": {"open": "<tool_call>", "close_pattern": r"</tool_call>\s*",
                       "repeats": True, "content": "json",
                       "transform": {"type": "function", "function": "{content}"}},
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
"""How ``tokenizer.parse_response`` reads a reply back into a message (transformers >= 5.13):
TRL's for Qwen2.5, saved with the tokenizer so that TRL parses the tiny model's tool calls."""


_TOOL_TEXT_REPEATS = 100
"""Copies of each tool's schema and call in the tokenizer's corpus: enough that their
JSON pieces become tokens (a tool call takes 31 tokens, not 62)."""


def _corpus(worlds: Sequence[int]) -> Iterator[str]:
    from webresearch.envs.formats import FORMATS  # noqa: PLC0415
    from webresearch.sim.pages import render_content  # noqa: PLC0415
    from webresearch.sim.world import World, WorldConfig  # noqa: PLC0415

    for seed in worlds:
        world = World.generate(WorldConfig(seed=seed))
        yield from (render_content(world, entity).text() for entity in world.entities.values())
    for fmt in FORMATS.values():
        yield fmt().system_prompt(date="2026-01-01", max_turns=10)
        yield fmt().write_call("search", ["query"], thought="I should search.")
        yield fmt().write_answer("answer", thought="I know it.")
        for schema in fmt().tool_schemas():  # tool schemas and calls, as Qwen2.5 writes them
            function = schema["function"]
            argument = function["parameters"]["required"][0]
            call = {"name": function["name"], "arguments": {argument: ["words"]}}
            text = f"{json.dumps(schema)}\n<tool_call>\n{json.dumps(call)}\n</tool_call>"
            yield from itertools.repeat(text, _TOOL_TEXT_REPEATS)


def build_tiny_model(directory: str | Path, *, vocab_size: int = 2048, hidden_size: int = 64,
                     layers: int = 2, heads: int = 2, kv_heads: int = 1, seed: int = 0,
                     tokenizer_worlds: Sequence[int] = (0,), qwen2_pieces: bool = False) -> Path:
    """Build and save a random Qwen2 model and its tokenizer; return ``directory``.

    The default tokenizer is GPT-2's byte-level BPE trained on the default world's
    pages, its merges learned on GPT-2's pieces. Transformers loads a qwen2 model's
    tokenizer as ``Qwen2Tokenizer``, which cuts text Qwen2's way whatever was saved, so
    the default's merges are used on other pieces (those across digits never apply). A
    model meant to copy names it never saw wants ``qwen2_pieces=True`` (BPE learns on
    the pieces it will be used on) and ``tokenizer_worlds`` other than its training and
    test worlds (no name of either becomes one token: both split into the same kind of
    syllables).

    Args:
        directory: Where to save (``config.json``, weights, tokenizer files).
        vocab_size: BPE vocabulary size, special tokens included.
        hidden_size: Model width; ``hidden_size / heads`` must be at least 32 for vLLM.
        layers: Transformer layers.
        heads: Attention heads.
        kv_heads: Key-value heads; ``heads`` must be a multiple of it.
        seed: Seeds the weights.
        tokenizer_worlds: Seeds of the simulated worlds whose pages train the tokenizer.
        qwen2_pieces: Train BPE on Qwen2's pieces (those it is used on once loaded)
            instead of GPT-2's.
    """
    try:
        import torch  # noqa: PLC0415
        from tokenizers import (  # noqa: PLC0415
            Regex,
            Tokenizer,
            decoders,
            models,
            pre_tokenizers,
            trainers,
        )
        from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM  # noqa: PLC0415
        from transformers.models.qwen2.tokenization_qwen2 import (  # noqa: PLC0415
            PRETOKENIZE_REGEX,  # how transformers cuts text for a qwen2 model, once loaded
        )
    except ImportError as exc:
        raise DependencyNotInstalled("torch/transformers", "train") from exc
    if kv_heads < 1 or heads % kv_heads:
        raise ConfigError(f"Expects heads ({heads}) to be a multiple of kv_heads, "
                          f"actual: kv_heads={kv_heads}")
    directory = Path(directory)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if qwen2_pieces:
        bpe.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(_corpus(tokenizer_worlds), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL[1:], chat_template=CHAT_TEMPLATE)
    tokenizer.response_template = RESPONSE_TEMPLATE  # saved in tokenizer_config.json
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=8192, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)  # type: ignore[no-untyped-call]
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.pad_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
