"""Shared pieces of the tiny family builds: sizes, the locally trained tokenizer, chat templates
written from each family's documented prompt format, and ``TinyFamily`` (how one family is built)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True)
"""Shared tiny text-model sizes (head_dim 16)."""
IMAGE = 32
"""Side of the square frames the tiny vision towers are built for."""

_CORPUS = """\
A red cube slides to the left while the blue sphere stays still near the wall.
Question: what colour does the square turn after it stops? Options: (A) green (B) red (C) blue (D) yellow.
<think>The square starts red. It moves right. It stops at the edge.</think><answer>C</answer>
First a circle appears, then two more circles appear, and at the end three circles remain.
The camera pans across a kitchen; a woman opens the fridge and takes out a bottle of milk.
Which object moves first in the video? Answer with the letter of the best option.
The video lasts for twelve seconds and shows a ball bouncing twice before it rolls away.
Frame from 00:01: the door is open. Frame from 00:05: the door is closed.
Best option: (B) the car turns left at the crossing and the bus waits behind it.
You are a helpful assistant. Describe how the scene changes over time, then answer.
"""


# --------------------------------------------------------------------------- tokenizer


def _tokenizer(specials: list[str], *, bos: str | None, eos: str, pad: str, named: dict[str, str],
               add_bos: bool = False, vocab_size: int = 400):
    """A byte-level BPE tokenizer trained on a tiny corpus, wrapped in transformers' generic
    ``TokenizersBackend``; ``named`` become attributes such as ``tokenizer.image_token``."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import BPE
    from transformers import TokenizersBackend

    ordered = list(dict.fromkeys([t for t in (pad, eos, bos) if t] + specials + list(named.values())))
    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=ordered,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    if add_bos and bos:
        bos_id = tok.token_to_id(bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)])
    return TokenizersBackend(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad,
                             extra_special_tokens=dict(named), model_max_length=8192, padding_side="left",
                             add_bos_token=add_bos)


# --------------------------------------------------------------------------- chat templates
# Written with expression blocks only, so trim_blocks / lstrip_blocks cannot change whitespace.
# `V` is what a {"type": "video"} item renders to, `I` an {"type": "image"} item.


def _chatml(video: str, image: str, system: str | None = "You are a helpful assistant.") -> str:
    sys_default = (
        "{%- if loop.first and message['role'] != 'system' -%}"
        f"{{{{- '<|im_start|>system\\n{system}<|im_end|>\\n' -}}}}"
        "{%- endif -%}"
    ) if system else ""
    return (
        "{%- for message in messages -%}" + sys_default +
        "{{- '<|im_start|>' + message['role'] + '\\n' -}}" + _content(video, image) +
        "{{- '<|im_end|>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
    )


def _content(video: str, image: str) -> str:
    return (
        "{%- if message['content'] is string -%}{{- message['content'] -}}"
        "{%- else -%}{%- for c in message['content'] -%}"
        f"{{%- if c['type'] == 'video' -%}}{{{{- {video!r} -}}}}"
        f"{{%- elif c['type'] == 'image' -%}}{{{{- {image!r} -}}}}"
        "{%- elif 'text' in c -%}{{- c['text'] -}}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}"
    )


def _vicuna(video: str, image: str) -> str:
    """LLaVA-NeXT-Video / Video-LLaVA (Vicuna-style ``USER: ... ASSISTANT:``)."""
    return (
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'system' -%}{{- message['content'] if message['content'] is string "
        "else message['content'][0]['text'] -}}{{- ' ' -}}"
        "{%- else -%}{{- message['role'].upper() + ': ' -}}" + _content(video, image) + "{{- ' ' -}}"
        "{%- endif -%}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"
    )


def _gemma(video: str, image: str) -> str:
    """Gemma 3: ``{{ bos_token }}<start_of_turn>user ...`` (the template itself writes the BOS)."""
    return (
        "{{- bos_token -}}"
        "{%- for message in messages -%}"
        "{%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}"
        "{{- '<start_of_turn>' + role + '\\n' -}}" + _content(video, image) +
        "{{- '<end_of_turn>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"
    )


def _gemma4(video: str, image: str) -> str:
    return (
        "{{- bos_token -}}"
        "{%- for message in messages -%}"
        "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
        "{{- '<|turn>' + role + '\\n' -}}" + _content(video, image) + "{{- '<turn|>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|turn>model\\n' -}}{%- endif -%}"
    )


def _glm(video: str, image: str) -> str:
    """GLM-4.1V / 4.6V: ``[gMASK]<sop><|system|>\\n...<|user|>\\n...<|assistant|>\\n``."""
    return (
        "{{- '[gMASK]<sop>' -}}"
        "{%- for message in messages -%}"
        "{{- '<|' + message['role'] + '|>\\n' -}}" + _content(video, image) +
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}"
    )


def _smolvlm() -> str:
    """SmolVLM2: ``<|im_start|>User: ...<end_of_utterance>\\nAssistant:``."""
    return (
        "{{- '<|im_start|>' -}}"
        "{%- for message in messages -%}"
        "{{- message['role'] | capitalize -}}"
        "{%- if message['content'] is string -%}{{- ': ' + message['content'] -}}"
        "{%- else -%}{%- if message['content'][0]['type'] in ('image', 'video') -%}{{- ':' -}}"
        "{%- else -%}{{- ': ' -}}{%- endif -%}"
        "{%- for c in message['content'] -%}"
        "{%- if c['type'] == 'text' -%}{{- c['text'] -}}"
        "{%- elif c['type'] == 'image' -%}{{- '<image>' -}}"
        "{%- elif c['type'] == 'video' -%}{{- '<video>' -}}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}"
        "{{- '<end_of_utterance>\\n' -}}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}"
    )


# --------------------------------------------------------------------------- families


@dataclass(frozen=True)
class TinyFamily:
    """How to build one family's tiny checkpoint."""

    name: str
    """mosseval's family name (``qwen2.5-vl``), also the folder name of the build."""
    model_type: str
    """``config.model_type`` of the real checkpoints."""
    display: str
    tokens: dict[str, str]
    """Tokenizer attributes the processor reads (``image_token`` -> ``<|image_pad|>``, ...)."""
    extra_tokens: tuple[str, ...]
    """Other special tokens of the template / processor."""
    eos: str
    pad: str
    template: str
    config: Callable[[dict[str, int], int], Any]
    """``(token ids, vocab size) -> config``."""
    processor: Callable[[Any, str], Any]
    """``(tokenizer, chat template) -> processor``."""
    bos: str | None = None
    add_bos: bool = False
    suppress: tuple[str, ...] = ()
    """Tokens a random model must never generate (vision placeholders)."""
    video: bool = True
    """False: the family has no video processor (frames go in as images)."""
    auto_class: str = "AutoModelForImageTextToText"
    requires: tuple[str, ...] = ()
    """Extra importable modules the family's processor needs (beyond torch + transformers)."""
    notes: str = ""
    generation: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    """Extra files real checkpoints ship (``torch.save``-d), e.g. Qwen2.5-Omni's speaker table."""
    assets: dict[str, Callable[[], bytes]] = field(default_factory=dict)
    """Files the processor reads while it is built (written into the checkpoint first; the processor
    factory then gets ``asset_dir=``), e.g. ERNIE-4.5-VL's timestamp font."""



def _turns(start: str, end: str, gen: str, video: str, image: str, *, prefix: str = "",
           roles: dict[str, str] | None = None) -> str:
    """A turn-based template: ``prefix``, then per message ``start`` (``{role}`` is the message's role,
    renamed by ``roles``) + content + ``end``; ``gen`` opens the assistant's turn."""
    before, _, after = start.partition("{role}")
    rename = "".join(f"{{%- if role == {k!r} -%}}{{%- set role = {v!r} -%}}{{%- endif -%}}"
                     for k, v in (roles or {}).items())
    return (
        (f"{{{{- {prefix!r} -}}}}" if prefix else "")
        + "{%- for message in messages -%}{%- set role = message['role'] -%}" + rename
        + f"{{{{- {before!r} + role + {after!r} -}}}}" + _content(video, image) + f"{{{{- {end!r} -}}}}"
        + "{%- endfor -%}"
        + f"{{%- if add_generation_prompt -%}}{{{{- {gen!r} -}}}}{{%- endif -%}}"
    )
