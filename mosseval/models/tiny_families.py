"""Tiny random checkpoints of every video-capable transformers family, built offline.

Each family is built from its *real* configuration, model and processor classes (transformers 5.x)
with a locally trained byte-level BPE tokenizer that carries the family's special tokens and a chat
template written from the family's documented prompt format. The result is saved with
``save_pretrained`` and reloads through ``AutoProcessor`` + ``AutoModelForImageTextToText`` (or
``AutoModelForMultimodalLM``) exactly like the real checkpoint, so ``mosseval run --model DIR``
exercises the real code path of every family: its processor's placeholder expansion, its vision
tower, its position ids. Weights are random: outputs are noise; this tests plumbing, never quality.

``FAMILIES`` lists what is built; ``build_family(name, out_dir)`` builds one; ``ensure_family``
keeps one build per (family, seed, format) in the cache. Sizes: text hidden 64 with 2 layers,
vision hidden 32 with 2 layers, frames of 32x32 pixels -> a handful of visual tokens per frame.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mosseval.errors import OutputError, UsageError, did_you_mean

__all__ = ["TinyFamily", "FAMILIES", "build_family", "ensure_family", "family_dir", "FORMAT"]

FORMAT = 1
"""Bump when any recipe below changes: cached builds of another format are rebuilt."""
MANIFEST = "mosseval_tiny_family.json"
_LOCK = threading.Lock()

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


def _qwen_rope(theta: float = 10000.0, interleaved: bool = False) -> dict[str, Any]:
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": theta, "mrope_section": [2, 3, 3]}
    if interleaved:
        rope["mrope_interleaved"] = True
    return rope


def _qwen_text(ids: dict[str, int], vocab: int, **extra: Any) -> dict[str, Any]:
    return {**TEXT, "vocab_size": vocab, "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"], **extra}


def _qwen_pixel(merge: int = 2, patch: int = 8) -> dict[str, Any]:
    return dict(patch_size=patch, merge_size=merge, temporal_patch_size=2,
                size={"shortest_edge": 16 * 16, "longest_edge": 64 * 64})


QWEN_TOKENS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
               "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}
QWEN_SUPPRESS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
QWEN_VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"
QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


def _qwen2_vl_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen2VLConfig

    return Qwen2VLConfig(
        text_config=_qwen_text(ids, vocab, rope_parameters=_qwen_rope(), max_window_layers=2),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=8,
                           spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True)


def _qwen25_vl_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(
        text_config=_qwen_text(ids, vocab, rope_parameters=_qwen_rope(), max_window_layers=2),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8,
                           spatial_merge_size=2, temporal_patch_size=2, window_size=32, fullatt_block_indexes=[1],
                           out_hidden_size=64, tokens_per_second=2),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True)


def _qwen3_vision() -> dict[str, Any]:
    return dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=64, deepstack_visual_indexes=[0])


def _qwen3_ids(ids: dict[str, int]) -> dict[str, int]:
    return dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])


def _qwen3_vl_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen3VLConfig

    return Qwen3VLConfig(text_config=_qwen_text(ids, vocab, head_dim=16, rope_parameters=_qwen_rope(5e5, True)),
                         vision_config=_qwen3_vision(), tie_word_embeddings=True, **_qwen3_ids(ids))


_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, decoder_sparse_step=1)


def _qwen3_vl_moe_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen3VLMoeConfig

    return Qwen3VLMoeConfig(
        text_config=_qwen_text(ids, vocab, head_dim=16, rope_parameters=_qwen_rope(5e5, True), **_MOE),
        vision_config=_qwen3_vision(), tie_word_embeddings=True, **_qwen3_ids(ids))


_HYBRID = dict(layer_types=["linear_attention", "full_attention"], linear_num_key_heads=2, linear_num_value_heads=2,
               linear_key_head_dim=16, linear_value_head_dim=16, linear_conv_kernel_dim=4, head_dim=16,
               full_attention_interval=2)


def _qwen35_text(ids: dict[str, int], vocab: int, **extra: Any) -> dict[str, Any]:
    rope = {**_qwen_rope(1e7, True), "partial_rotary_factor": 1.0}
    return _qwen_text(ids, vocab, rope_parameters=rope, **_HYBRID, **extra)


def _qwen35_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen3_5Config

    return Qwen3_5Config(text_config=_qwen35_text(ids, vocab), vision_config=_qwen3_vision(),
                         tie_word_embeddings=True, **_qwen3_ids(ids))


def _qwen35_moe_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen3_5MoeConfig

    moe = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32)
    return Qwen3_5MoeConfig(text_config=_qwen35_text(ids, vocab, **moe), vision_config=_qwen3_vision(),
                            tie_word_embeddings=True, **_qwen3_ids(ids))


VIDEO_BUDGET = {"shortest_edge": 16 * 16, "longest_edge": 16 * IMAGE * IMAGE}
"""Families whose video ``size`` is a budget over all frames (Qwen3-VL, GLM): room for 16 frames of 32x32."""


def _qwen_processor(cls_name: str, video_cls: str, merge: int = 2, patch: int = 8, total_budget: bool = False):
    def make(tokenizer, template):
        import transformers

        px = _qwen_pixel(merge, patch)
        vpx = {**px, "size": VIDEO_BUDGET} if total_budget else px
        return getattr(transformers, cls_name)(
            image_processor=transformers.Qwen2VLImageProcessor(**px), tokenizer=tokenizer,
            video_processor=getattr(transformers, video_cls)(**vpx, do_sample_frames=False),
            chat_template=template)

    return make


def _qwen_family(name: str, model_type: str, display: str, config, processor, **kw) -> TinyFamily:
    return TinyFamily(
        name=name, model_type=model_type, display=display, tokens=dict(QWEN_TOKENS),
        extra_tokens=("<|im_start|>", "<|vision_pad|>"), eos="<|im_end|>", pad="<|endoftext|>",
        template=_chatml(QWEN_VIDEO, QWEN_IMAGE), config=config, processor=processor,
        suppress=QWEN_SUPPRESS, **kw)


# -- LLaVA family ---------------------------------------------------------------------------


def _llama_text(ids: dict[str, int], vocab: int, **extra: Any) -> dict[str, Any]:
    return {**TEXT, "model_type": "llama", "vocab_size": vocab, "bos_token_id": ids.get("<s>"),
            "eos_token_id": ids["</s>"], "pad_token_id": ids["<pad>"], **extra}


def _siglip(**extra: Any) -> dict[str, Any]:
    return dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, image_size=IMAGE, patch_size=8, **extra)


def _clip(**extra: Any) -> dict[str, Any]:
    return dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, image_size=IMAGE, patch_size=8, projection_dim=32, **extra)


PINPOINTS = [[IMAGE, IMAGE], [IMAGE, 2 * IMAGE], [2 * IMAGE, IMAGE], [2 * IMAGE, 2 * IMAGE]]
SQUARE = {"height": IMAGE, "width": IMAGE}


def _llava_ov_config(ids: dict[str, int], vocab: int):
    from transformers import LlavaOnevisionConfig

    text = {**_qwen_text(ids, vocab), "model_type": "qwen2"}
    return LlavaOnevisionConfig(text_config=text, vision_config=_siglip(), image_token_index=ids["<image>"],
                                video_token_index=ids["<video>"], vision_feature_select_strategy="full",
                                vision_feature_layer=-1, image_grid_pinpoints=PINPOINTS, tie_word_embeddings=True)


def _llava_ov_processor(tokenizer, template):
    import transformers

    return transformers.LlavaOnevisionProcessor(
        image_processor=transformers.LlavaOnevisionImageProcessor(size=SQUARE, image_grid_pinpoints=PINPOINTS),
        video_processor=transformers.LlavaOnevisionVideoProcessor(size=SQUARE), tokenizer=tokenizer,
        num_image_tokens=(IMAGE // 8) ** 2, vision_feature_select_strategy="full", chat_template=template)


def _llava_next_video_config(ids: dict[str, int], vocab: int):
    from transformers import LlavaNextVideoConfig

    return LlavaNextVideoConfig(text_config=_llama_text(ids, vocab), vision_config=_clip(),
                                image_token_index=ids["<image>"], video_token_index=ids["<video>"],
                                vision_feature_select_strategy="default", vision_feature_layer=-1,
                                image_grid_pinpoints=PINPOINTS, spatial_pool_stride=2, tie_word_embeddings=True)


def _llava_next_video_processor(tokenizer, template):
    import transformers

    return transformers.LlavaNextVideoProcessor(
        image_processor=transformers.LlavaNextImageProcessor(size={"shortest_edge": IMAGE}, crop_size=SQUARE,
                                                              image_grid_pinpoints=PINPOINTS),
        video_processor=transformers.LlavaNextVideoVideoProcessor(size={"shortest_edge": IMAGE}, crop_size=SQUARE),
        tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=template)


def _video_llava_config(ids: dict[str, int], vocab: int):
    from transformers import VideoLlavaConfig

    return VideoLlavaConfig(text_config=_llama_text(ids, vocab), vision_config=_clip(),
                            image_token_index=ids["<image>"], video_token_index=ids["<video>"],
                            vision_feature_select_strategy="default", vision_feature_layer=-1,
                            tie_word_embeddings=True)


def _video_llava_processor(tokenizer, template):
    import transformers

    return transformers.VideoLlavaProcessor(
        image_processor=transformers.VideoLlavaImageProcessor(size={"shortest_edge": IMAGE}, crop_size=SQUARE),
        video_processor=transformers.VideoLlavaVideoProcessor(size={"shortest_edge": IMAGE}, crop_size=SQUARE),
        tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=template)


LLAMA_SPECIALS = dict(eos="</s>", pad="<pad>", bos="<s>", add_bos=True)


# -- InternVL, SmolVLM2, Gemma, GLM, VideoLLaMA3, Omni ----------------------------------------


def _internvl_config(ids: dict[str, int], vocab: int):
    from transformers import InternVLConfig

    text = {**_qwen_text(ids, vocab), "model_type": "qwen2"}
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=[IMAGE, IMAGE], patch_size=[8, 8])
    return InternVLConfig(text_config=text, vision_config=vision, image_token_id=ids["<IMG_CONTEXT>"],
                          downsample_ratio=0.5, vision_feature_layer=-1, tie_word_embeddings=True)


def _internvl_processor(tokenizer, template):
    import transformers

    return transformers.InternVLProcessor(
        image_processor=transformers.GotOcr2ImageProcessor(size=SQUARE, crop_to_patches=False, max_patches=1),
        video_processor=transformers.InternVLVideoProcessor(size=SQUARE), tokenizer=tokenizer,
        image_seq_length=(IMAGE // 8) ** 2 // 4, chat_template=template)


def _smolvlm_config(ids: dict[str, int], vocab: int):
    from transformers import SmolVLMConfig

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  image_size=IMAGE, patch_size=8)
    text = {**TEXT, "model_type": "llama", "vocab_size": vocab, "bos_token_id": ids["<|im_start|>"],
            "eos_token_id": ids["<end_of_utterance>"], "pad_token_id": ids["<|endoftext|>"]}
    return SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=2, image_token_id=ids["<image>"],
                         tie_word_embeddings=True)


def _smolvlm_processor(tokenizer, template):
    import transformers

    edge = {"longest_edge": IMAGE}
    return transformers.SmolVLMProcessor(
        image_processor=transformers.SmolVLMImageProcessor(size=edge, max_image_size=edge, do_image_splitting=False),
        video_processor=transformers.SmolVLMVideoProcessor(size=edge, max_image_size=edge, do_sample_frames=False),
        tokenizer=tokenizer, image_seq_len=(IMAGE // 8) ** 2 // 4, chat_template=template)


def _gemma3_config(ids: dict[str, int], vocab: int):
    from transformers import Gemma3Config

    text = {**TEXT, "vocab_size": vocab, "head_dim": 16, "sliding_window": 64,
            "layer_types": ["sliding_attention", "full_attention"], "bos_token_id": ids["<bos>"],
            "eos_token_id": ids["<end_of_turn>"], "pad_token_id": ids["<pad>"]}
    return Gemma3Config(text_config=text, vision_config=_siglip(vision_use_head=False), mm_tokens_per_image=4,
                        boi_token_index=ids["<start_of_image>"], eoi_token_index=ids["<end_of_image>"],
                        image_token_index=ids["<image_soft_token>"], tie_word_embeddings=True)


def _gemma3_processor(tokenizer, template):
    import transformers

    return transformers.Gemma3Processor(image_processor=transformers.Gemma3ImageProcessor(size=SQUARE),
                                        tokenizer=tokenizer, image_seq_length=4, chat_template=template)


def _omni_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen2_5OmniConfig

    text = _qwen_text(ids, vocab, rope_parameters=_qwen_rope(), max_window_layers=2)
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                  temporal_patch_size=2, window_size=32, fullatt_block_indexes=[1], out_hidden_size=64)
    audio = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, num_mel_bins=128,
                 output_dim=64, n_window=50, max_source_positions=1500)
    thinker = dict(text_config=text, vision_config=vision, audio_config=audio,
                   image_token_id=ids["<|IMAGE|>"], video_token_id=ids["<|VIDEO|>"],
                   audio_token_id=ids["<|AUDIO|>"], vision_start_token_id=ids["<|vision_bos|>"],
                   vision_end_token_id=ids["<|vision_eos|>"], audio_start_token_id=ids["<|audio_bos|>"],
                   audio_end_token_id=ids["<|audio_eos|>"], position_id_per_seconds=25, seconds_per_chunk=2)
    talker = dict(vocab_size=64, embedding_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, rope_parameters=_qwen_rope(),
                  tts_codec_start_token_id=60, tts_codec_end_token_id=61, tts_codec_pad_token_id=62,
                  tts_codec_mask_token_id=63, tts_text_start_token_id=ids["<|im_start|>"],
                  tts_text_end_token_id=ids["<|im_end|>"], tts_text_pad_token_id=ids["<|endoftext|>"],
                  audio_token_index=ids["<|AUDIO|>"], image_token_index=ids["<|IMAGE|>"],
                  video_token_index=ids["<|VIDEO|>"], vision_start_token_id=ids["<|vision_bos|>"],
                  vision_end_token_id=ids["<|vision_eos|>"], audio_start_token_id=ids["<|audio_bos|>"],
                  audio_end_token_id=ids["<|audio_eos|>"])
    dit = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, head_dim=16, emb_dim=16, num_embeds=64,
               mel_dim=16, enc_emb_dim=16, enc_dim=16, enc_channels=[16, 16, 16, 16, 48], enc_attention_channels=8,
               enc_se_channels=8, look_ahead_layers=[0], look_backward_layers=[0, 1], block_size=4)
    bigvgan = dict(mel_dim=16, upsample_initial_channel=16, resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3, 5]],
                   upsample_rates=[2, 2], upsample_kernel_sizes=[4, 4])
    return Qwen2_5OmniConfig(thinker_config=thinker, talker_config=talker,
                             token2wav_config={"dit_config": dit, "bigvgan_config": bigvgan}, enable_audio_output=True)


def _omni_processor(tokenizer, template):
    import transformers

    px = _qwen_pixel()
    return transformers.Qwen2_5OmniProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(**px),
        video_processor=transformers.Qwen2VLVideoProcessor(**px, do_sample_frames=False),
        feature_extractor=transformers.WhisperFeatureExtractor(feature_size=128), tokenizer=tokenizer,
        chat_template=template)


def _glm_text(ids: dict[str, int], vocab: int, **extra: Any) -> dict[str, Any]:
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "partial_rotary_factor": 1.0}
    return {**TEXT, "vocab_size": vocab, "rope_parameters": rope, "eos_token_id": ids["<|user|>"],
            "pad_token_id": ids["<|endoftext|>"], **extra}


def _glm_vision() -> dict[str, Any]:
    return dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                temporal_patch_size=2, out_hidden_size=64, image_size=IMAGE)


def _glm_ids(ids: dict[str, int]) -> dict[str, int]:
    return dict(image_token_id=ids["<|image|>"], video_token_id=ids["<|video|>"],
                image_start_token_id=ids["<|begin_of_image|>"], image_end_token_id=ids["<|end_of_image|>"],
                video_start_token_id=ids["<|begin_of_video|>"], video_end_token_id=ids["<|end_of_video|>"])


def _glm4v_config(ids: dict[str, int], vocab: int):
    from transformers import Glm4vConfig

    return Glm4vConfig(text_config=_glm_text(ids, vocab), vision_config=_glm_vision(), tie_word_embeddings=True,
                       **_glm_ids(ids))


def _glm46v_config(ids: dict[str, int], vocab: int):
    from transformers import Glm46VConfig

    text = {**_glm_text(ids, vocab), "model_type": "glm4v_text"}
    return Glm46VConfig(text_config=text, vision_config={**_glm_vision(), "model_type": "glm4v_vision"},
                        tie_word_embeddings=True, **_glm_ids(ids))


def _glm_processor(cls_name: str, image_cls: str, video_cls: str):
    def make(tokenizer, template):
        import transformers

        px = dict(patch_size=8, merge_size=2, temporal_patch_size=2,
                  size={"shortest_edge": 16 * 16, "longest_edge": 64 * 64})
        return getattr(transformers, cls_name)(
            image_processor=getattr(transformers, image_cls)(**px),
            video_processor=getattr(transformers, video_cls)(**{**px, "size": VIDEO_BUDGET}, do_sample_frames=False),
            tokenizer=tokenizer, chat_template=template)

    return make


GLM_TOKENS = {"image_token": "<|image|>", "video_token": "<|video|>"}
GLM_EXTRA = ("[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|begin_of_image|>",
             "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>")


def _videollama3_config(ids: dict[str, int], vocab: int):
    from transformers import VideoLlama3Config

    text = {**_qwen_text(ids, vocab), "model_type": "qwen2"}
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, patch_size=8)
    return VideoLlama3Config(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                             video_token_id=ids["<|video_pad|>"], tie_word_embeddings=True)


def _videollama3_processor(tokenizer, template):
    import transformers

    px = dict(patch_size=8, merge_size=2, size={"shortest_edge": 16 * 16, "longest_edge": 64 * 64})
    return transformers.VideoLlama3Processor(
        image_processor=transformers.VideoLlama3ImageProcessor(**px),
        video_processor=transformers.VideoLlama3VideoProcessor(**px, do_sample_frames=False),
        tokenizer=tokenizer, chat_template=template)


def _gemma4_config(ids: dict[str, int], vocab: int):
    from transformers import Gemma4Config

    text = {**TEXT, "vocab_size": vocab, "head_dim": 16, "global_head_dim": 16, "sliding_window": 64,
            "layer_types": ["sliding_attention", "full_attention"], "bos_token_id": ids["<bos>"],
            "eos_token_id": ids["<turn|>"], "pad_token_id": ids["<pad>"], "vocab_size_per_layer_input": vocab,
            "hidden_size_per_layer_input": 8}
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, head_dim=16, patch_size=8, pooling_kernel_size=3,
                  position_embedding_size=1024)
    return Gemma4Config(text_config=text, vision_config=vision, audio_config=None,
                        boi_token_id=ids["<|image>"], eoi_token_id=ids["<image|>"],
                        image_token_id=ids["<|image|>"], video_token_id=ids["<|video|>"],
                        audio_token_id=ids["<|audio|>"], boa_token_id=ids["<|audio>"], eoa_token_index=ids["<audio|>"],
                        tie_word_embeddings=True)


def _gemma4_processor(tokenizer, template):
    import transformers

    px = dict(patch_size=8, max_soft_tokens=70, pooling_kernel_size=3)
    return transformers.Gemma4Processor(
        feature_extractor=transformers.Gemma4AudioFeatureExtractor(),
        image_processor=transformers.Gemma4ImageProcessor(**px),
        video_processor=transformers.Gemma4VideoProcessor(**px, do_sample_frames=False), tokenizer=tokenizer,
        image_seq_length=70, chat_template=template)


OMNI_TOKENS = {"image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "audio_token": "<|AUDIO|>",
               "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
               "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}


def _all_families() -> list[TinyFamily]:
    qwen = [
        _qwen_family("qwen2-vl", "qwen2_vl", "Qwen2-VL", _qwen2_vl_config,
                     _qwen_processor("Qwen2VLProcessor", "Qwen2VLVideoProcessor")),
        _qwen_family("qwen2.5-vl", "qwen2_5_vl", "Qwen2.5-VL", _qwen25_vl_config,
                     _qwen_processor("Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor")),
        _qwen_family("qwen3-vl", "qwen3_vl", "Qwen3-VL", _qwen3_vl_config,
                     _qwen_processor("Qwen3VLProcessor", "Qwen3VLVideoProcessor", total_budget=True)),
        _qwen_family("qwen3-vl-moe", "qwen3_vl_moe", "Qwen3-VL-MoE", _qwen3_vl_moe_config,
                     _qwen_processor("Qwen3VLProcessor", "Qwen3VLVideoProcessor", total_budget=True)),
        _qwen_family("qwen3.5", "qwen3_5", "Qwen3.5", _qwen35_config,
                     _qwen_processor("Qwen3VLProcessor", "Qwen3VLVideoProcessor", total_budget=True)),
        _qwen_family("qwen3.5-moe", "qwen3_5_moe", "Qwen3.5-MoE", _qwen35_moe_config,
                     _qwen_processor("Qwen3VLProcessor", "Qwen3VLVideoProcessor", total_budget=True)),
    ]
    llava_tokens = {"image_token": "<image>", "video_token": "<video>"}
    others = [
        TinyFamily("llava-onevision", "llava_onevision", "LLaVA-OneVision", dict(llava_tokens),
                   ("<|im_start|>",), "<|im_end|>", "<|endoftext|>", _chatml("<video>", "<image>", None),
                   _llava_ov_config, _llava_ov_processor, suppress=("<image>", "<video>")),
        TinyFamily("llava-next-video", "llava_next_video", "LLaVA-NeXT-Video", dict(llava_tokens), (),
                   template=_vicuna("<video>\n", "<image>\n"), config=_llava_next_video_config,
                   processor=_llava_next_video_processor, suppress=("<image>", "<video>"), **LLAMA_SPECIALS),
        TinyFamily("video-llava", "video_llava", "Video-LLaVA", dict(llava_tokens), (),
                   template=_vicuna("<video>\n", "<image>\n"), config=_video_llava_config,
                   processor=_video_llava_processor, suppress=("<image>", "<video>"), **LLAMA_SPECIALS,
                   notes="the video tower takes exactly 8 frames"),
        TinyFamily("internvl", "internvl", "InternVL (HF-native)",
                   {"start_image_token": "<img>", "end_image_token": "</img>",
                    "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"},
                   ("<|im_start|>",), "<|im_end|>", "<|endoftext|>", _chatml("<video>\n", "<image>\n"),
                   _internvl_config, _internvl_processor, suppress=("<img>", "</img>", "<IMG_CONTEXT>", "<video>")),
        TinyFamily("smolvlm2", "smolvlm", "SmolVLM2",
                   {"image_token": "<image>", "video_token": "<video>", "fake_image_token": "<fake_token_around_image>",
                    "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"},
                   ("<|im_start|>",), "<end_of_utterance>", "<|endoftext|>", _smolvlm(), _smolvlm_config,
                   _smolvlm_processor, suppress=("<image>", "<video>", "<fake_token_around_image>", "<global-img>"),
                   requires=("num2words",)),
        TinyFamily("gemma3", "gemma3", "Gemma 3",
                   {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                    "image_token": "<image_soft_token>"},
                   ("<start_of_turn>",), "<end_of_turn>", "<pad>", _gemma("", "<start_of_image>"),
                   _gemma3_config, _gemma3_processor, bos="<bos>", add_bos=True,
                   suppress=("<start_of_image>", "<end_of_image>", "<image_soft_token>"), video=False,
                   notes="no video processor: frames go in as a sequence of images"),
        TinyFamily("gemma4", "gemma4", "Gemma 4",
                   {"boi_token": "<|image>", "eoi_token": "<image|>", "image_token": "<|image|>",
                    "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"},
                   ("<|turn>", "<|video|>"), "<turn|>", "<pad>", _gemma4("<|video|>", "<|image|>"),
                   _gemma4_config, _gemma4_processor, bos="<bos>", add_bos=True,
                   suppress=("<|image>", "<image|>", "<|image|>", "<|video|>")),
        TinyFamily("glm-4.1v", "glm4v", "GLM-4.1V", dict(GLM_TOKENS), GLM_EXTRA, "<|user|>", "<|endoftext|>",
                   _glm("<|begin_of_video|><|video|><|end_of_video|>", "<|begin_of_image|><|image|><|end_of_image|>"),
                   _glm4v_config, _glm_processor("Glm4vProcessor", "Glm4vImageProcessor", "Glm4vVideoProcessor"),
                   suppress=GLM_EXTRA[5:] + ("<|image|>", "<|video|>")),
        TinyFamily("glm-4.6v", "glm46v", "GLM-4.6V", dict(GLM_TOKENS), GLM_EXTRA, "<|user|>", "<|endoftext|>",
                   _glm("<|begin_of_video|><|video|><|end_of_video|>", "<|begin_of_image|><|image|><|end_of_image|>"),
                   _glm46v_config, _glm_processor("Glm46VProcessor", "Glm46VImageProcessor", "Glm46VVideoProcessor"),
                   suppress=GLM_EXTRA[5:] + ("<|image|>", "<|video|>")),
        TinyFamily("videollama3", "video_llama_3", "VideoLLaMA3", {"image_token": "<|image_pad|>",
                                                                    "video_token": "<|video_pad|>"},
                   ("<|im_start|>",), "<|im_end|>", "<|endoftext|>", _chatml("<|video_pad|>", "<|image_pad|>"),
                   _videollama3_config, _videollama3_processor, suppress=("<|image_pad|>", "<|video_pad|>")),
        TinyFamily("qwen2.5-omni", "qwen2_5_omni", "Qwen2.5-Omni", dict(OMNI_TOKENS), ("<|im_start|>",),
                   "<|im_end|>", "<|endoftext|>",
                   _chatml("<|vision_bos|><|VIDEO|><|vision_eos|>", "<|vision_bos|><|IMAGE|><|vision_eos|>"),
                   _omni_config, _omni_processor, auto_class="AutoModelForMultimodalLM",
                   files={"spk_dict.pt": {"Chelsie": {"bos_token": 0}}},
                   suppress=tuple(OMNI_TOKENS.values())),
    ]
    return qwen + others


FAMILIES: dict[str, TinyFamily] = {f.name: f for f in _all_families()}


# --------------------------------------------------------------------------- building


def family_dir(name: str, cache_root: Path | None = None, seed: int = 0) -> Path:
    from mosseval.paths import cache_dir

    root = Path(cache_root) if cache_root is not None else cache_dir()
    return root / "models" / "tiny-families" / f"{name}-seed{int(seed)}"


def get_family(name: str) -> TinyFamily:
    if name not in FAMILIES:
        hint = did_you_mean(name, list(FAMILIES))
        raise UsageError(f"unknown tiny family {name!r}" + (f"; {hint}" if hint else ""),
                         hint="families: " + ", ".join(FAMILIES))
    return FAMILIES[name]


def build_family(name: str, out_dir: Path, seed: int = 0) -> Path:
    """Build family ``name`` into ``out_dir`` (created; must be empty or absent)."""
    from mosseval.torchvision_compat import ensure_torchvision

    fam = get_family(name)
    ensure_torchvision()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise OutputError(f"cannot build {name} into {out_dir}: the directory is not empty")
    with _LOCK:
        _build(fam, out_dir, int(seed))
    return out_dir


def _build(fam: TinyFamily, out_dir: Path, seed: int) -> None:
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    tokenizer = _tokenizer(list(fam.extra_tokens), bos=fam.bos, eos=fam.eos, pad=fam.pad, named=fam.tokens,
                           add_bos=fam.add_bos)
    processor = fam.processor(tokenizer, fam.template)
    tokenizer = processor.tokenizer  # some processors add tokens (Gemma 4's <|video|>)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.get_vocab()}
    config = fam.config(ids, len(tokenizer))
    auto = getattr(transformers, fam.auto_class)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = auto.from_config(config).to(torch.float32).eval()
    eos = [ids[fam.eos]] + ([ids[fam.pad]] if fam.pad != fam.eos else [])
    model.generation_config = transformers.GenerationConfig(
        bos_token_id=ids.get(fam.bos) if fam.bos else None, eos_token_id=eos, pad_token_id=ids[fam.pad],
        suppress_tokens=sorted(ids[t] for t in fam.suppress if t in ids), do_sample=False, max_new_tokens=32,
        **fam.generation)
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
        for fname, content in fam.files.items():
            torch.save(content, out_dir / fname)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    for p in out_dir.iterdir():
        p.chmod(0o644)
    manifest = {"family": fam.name, "model_type": fam.model_type, "format": FORMAT, "seed": seed,
                "transformers": transformers.__version__,
                "parameters": sum(p.numel() for p in model.parameters())}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _valid(path: Path) -> bool:
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def ensure_family(name: str, cache_root: Path | None = None, seed: int = 0) -> Path:
    """The cached build of family ``name``, building it once (atomically)."""
    from mosseval.fileio import build_dir_once

    get_family(name)
    return build_dir_once(family_dir(name, cache_root, seed), _valid, lambda tmp: build_family(name, tmp, seed=seed))
