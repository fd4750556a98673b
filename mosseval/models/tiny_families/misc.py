"""Tiny builds of the remaining video families, one builder each: Molmo2, ..."""

from __future__ import annotations

from typing import Any

from mosseval.models.tiny_families.base import IMAGE, TEXT, TinyFamily, _chatml, _turns

SQUARE = {"height": IMAGE, "width": IMAGE}


def _qwen3ish_text(ids: dict[str, int], vocab: int, eos: str = "<|im_end|>", pad: str = "<|endoftext|>",
                   **extra: Any) -> dict[str, Any]:
    return {**TEXT, "vocab_size": vocab, "head_dim": 16, "eos_token_id": ids[eos], "pad_token_id": ids[pad], **extra}


# -- Molmo2 ---------------------------------------------------------------------------------

MOLMO_PATCH = ("<im_patch>", "<im_col>", "<im_start>", "<low_res_im_start>", "<frame_start>", "<im_end>",
               "<frame_end>", "<im_low>")


def _molmo2_config(ids: dict[str, int], vocab: int):
    from transformers import Molmo2Config

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, head_dim=16, image_size=[IMAGE, IMAGE], patch_size=8)
    adapter = dict(vision_feature_layer=[-1], hidden_size=32, num_attention_heads=2, num_key_value_heads=2,
                   head_dim=16, intermediate_size=64, text_hidden_size=64)
    text = _qwen3ish_text(ids, vocab, additional_vocab_size=8, rope_parameters={"rope_type": "default",
                                                                                 "rope_theta": 1e6})
    return Molmo2Config(vision_config=vision, adapter_config=adapter, text_config=text,
                        image_start_token_id=ids["<im_start>"], low_res_image_start_token_id=ids["<low_res_im_start>"],
                        image_end_token_id=ids["<im_end>"], image_patch_id=ids["<im_patch>"],
                        frame_start_token_id=ids["<frame_start>"], frame_end_token_id=ids["<frame_end>"],
                        tie_word_embeddings=False)


def _molmo2_processor(tokenizer, template):
    import transformers

    px = dict(size=SQUARE, patch_size=8)
    return transformers.Molmo2Processor(
        image_processor=transformers.Molmo2ImageProcessor(**px, pooling_size=[2, 2], max_crops=1),
        video_processor=transformers.Molmo2VideoProcessor(**px, pooling_size=[2, 2], do_sample_frames=False),
        tokenizer=tokenizer, chat_template=template)


# -- Ovis2.5 ---------------------------------------------------------------------------------

OVIS_TOKENS = {"image_token": "<image>", "video_token": "<video>", "image_start_token": "<img>",
               "image_end_token": "</img>", "video_start_token": "<vid>", "video_end_token": "</vid>"}


def _ovis25_config(ids: dict[str, int], vocab: int):
    from transformers import Ovis2_5Config

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, patch_size=8,
                  spatial_merge_size=2, image_size=IMAGE, window_size=32, vocab_size=64, max_position_embeddings=64)
    text = _qwen3ish_text(ids, vocab, model_type="qwen3")
    return Ovis2_5Config(text_config=text, vision_config=vision, tie_word_embeddings=True,
                         **{f"{k}_id": ids[v] for k, v in OVIS_TOKENS.items()})


def _ovis25_processor(tokenizer, template):
    import transformers

    px = dict(patch_size=8, merge_size=2, temporal_patch_size=1, size={"shortest_edge": 16 * 16, "longest_edge": 64 * 64})
    return transformers.Ovis2_5Processor(
        image_processor=transformers.Ovis2_5ImageProcessor(**px),
        video_processor=transformers.Ovis2_5VideoProcessor(**px), tokenizer=tokenizer, chat_template=template)


# -- Kimi-K2.5 -------------------------------------------------------------------------------

KIMI_TOKENS = {"image_token": "<|media_pad|>", "video_token": "<|kimi_k25_video_placeholder|>"}
KIMI_EXTRA = ("<|im_system|>", "<|im_user|>", "<|im_assistant|>", "<|im_middle|>", "<|media_begin|>",
              "<|media_content|>", "<|media_end|>")
MLA = dict(q_lora_rank=16, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16, n_routed_experts=4,
           n_shared_experts=1, num_experts_per_tok=2, n_group=1, topk_group=1, first_k_dense_replace=1,
           moe_intermediate_size=32)


def _kimi_k25_config(ids: dict[str, int], vocab: int):
    from transformers import Kimi_K25Config

    text = {**_qwen3ish_text(ids, vocab, model_type="deepseek_v3", num_key_value_heads=4, **MLA), "head_dim": 8}
    vision = dict(patch_size=8, pos_emb_height=8, pos_emb_width=8, pos_emb_time=4, num_attention_heads=2,
                  num_hidden_layers=2, hidden_size=32, intermediate_size=64)
    return Kimi_K25Config(text_config=text, vision_config=vision, projection_hidden_size=32,
                          image_token_id=ids["<|media_pad|>"], video_token_id=ids["<|kimi_k25_video_placeholder|>"],
                          vision_start_token_id=ids["<|media_begin|>"], vision_end_token_id=ids["<|media_end|>"],
                          tie_word_embeddings=True)


def _kimi_k25_processor(tokenizer, template):
    import transformers

    px = dict(patch_size=8, merge_size=2, size={"max_height": 64, "max_width": 64}, max_patches=64)
    return transformers.Kimi_K25Processor(
        image_processor=transformers.Kimi_K25ImageProcessor(**px),
        video_processor=transformers.Kimi_K25VideoProcessor(**px, do_sample_frames=False), tokenizer=tokenizer,
        chat_template=template)


# -- MiniCPM-V 4.6 / 4.7 / MiniCPM-OCR ----------------------------------------------------------

MINICPM_TOKENS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>", "image_start_token": "<image>",
                  "image_end_token": "</image>", "slice_start_token": "<slice>", "slice_end_token": "</slice>",
                  "image_id_start_token": "<image_id>", "image_id_end_token": "</image_id>"}


def _minicpm_text(ids: dict[str, int], vocab: int) -> dict[str, Any]:
    hybrid = dict(layer_types=["linear_attention", "full_attention"], linear_num_key_heads=2, linear_num_value_heads=2,
                  linear_key_head_dim=16, linear_value_head_dim=16, linear_conv_kernel_dim=4)
    return _qwen3ish_text(ids, vocab, model_type="qwen3_5_text", **hybrid,
                          rope_parameters={"rope_type": "default", "rope_theta": 1e7, "partial_rotary_factor": 1.0})


def _minicpm_config(cls_name: str, **extra: Any):
    def make(ids: dict[str, int], vocab: int):
        import transformers

        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=IMAGE, patch_size=8, insert_layer_id=0)
        more = {k: ids[v] for k, v in extra.items()}
        return getattr(transformers, cls_name)(
            text_config=_minicpm_text(ids, vocab), vision_config=vision, insert_layer_id=0, image_size=IMAGE,
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"], tie_word_embeddings=True, **more)

    return make


def _minicpm_processor(cls_name: str, image_cls: str, video_cls: str):
    def make(tokenizer, template):
        import transformers

        px = dict(patch_size=8, scale_resolution=IMAGE, max_slice_nums=1)
        return getattr(transformers, cls_name)(
            image_processor=getattr(transformers, image_cls)(**px),
            video_processor=getattr(transformers, video_cls)(**px, do_sample_frames=False), tokenizer=tokenizer,
            chat_template=template)

    return make


def _minicpm(name: str, model_type: str, display: str, config, processor) -> TinyFamily:
    return TinyFamily(name, model_type, display, dict(MINICPM_TOKENS), ("<|im_start|>",), "<|im_end|>",
                      "<|endoftext|>", _chatml("<|video_pad|>", "<|image_pad|>"), config, processor,
                      suppress=tuple(MINICPM_TOKENS.values()))


# -- ERNIE-4.5-VL-MoE -------------------------------------------------------------------------

ERNIE_TOKENS = {"image_token": "<|IMAGE_PLACEHOLDER|>", "video_token": "<|VIDEO_PLACEHOLDER|>",
                "image_start_token": "<|IMAGE_START|>", "image_end_token": "<|IMAGE_END|>",
                "video_start_token": "<|VIDEO_START|>", "video_end_token": "<|VIDEO_END|>"}
ERNIE_FONT = "timestamp-font.ttf"


def _pillow_font() -> bytes:
    """Pillow's embedded TrueType font (the real checkpoints ship Roboto for the frame timestamps)."""
    from PIL import ImageFont

    return ImageFont.load_default(size=12).path.getvalue()


def _ernie_config(ids: dict[str, int], vocab: int):
    from transformers import Ernie4_5_VLMoeConfig

    text = {**TEXT, "vocab_size": vocab, "head_dim": 16, "moe_intermediate_size": [32, 16], "moe_k": 2,
            "moe_num_experts": 4, "moe_num_shared_experts": 1, "bos_token_id": ids["<|begin_of_sentence|>"],
            "eos_token_id": ids["<|end_of_sentence|>"], "pad_token_id": ids["<|pad|>"],
            "rope_parameters": {"rope_type": "default", "rope_theta": 5e5, "mrope_section": [3, 3, 2]}}  # h, w, t
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                  temporal_merge_size=2)
    return Ernie4_5_VLMoeConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                                **{f"{k}_id": ids[v] for k, v in ERNIE_TOKENS.items()})


def _ernie_processor(tokenizer, template, asset_dir):
    import transformers

    px = dict(patch_size=8, merge_size=2, size={"shortest_edge": 16 * 16, "longest_edge": 64 * 64})
    video = transformers.Ernie4_5_VLMoeVideoProcessor(**px, temporal_patch_size=2, min_frames=2, do_sample_frames=False,
                                                      draw_on_frames=True, font=str(asset_dir / ERNIE_FONT))
    return transformers.Ernie4_5_VLMoeProcessor(image_processor=transformers.Ernie4_5_VLMoeImageProcessor(**px),
                                                video_processor=video, tokenizer=tokenizer, chat_template=template)


def _ernie_template() -> str:
    """ERNIE-4.5-VL: ``<|begin_of_sentence|>User: ...\nAssistant: `` with numbered media blocks."""
    return (
        "{{- bos_token -}}{%- set ns = namespace(video=0, image=0) -%}"
        "{%- for message in messages -%}"
        "{%- if message['role'] == 'system' -%}{{- message['content'] if message['content'] is string "
        "else message['content'][0]['text'] -}}{{- '\n' -}}"
        "{%- else -%}{{- 'User: ' if message['role'] == 'user' else 'Assistant: ' -}}"
        "{%- if message['content'] is string -%}{{- message['content'] -}}{%- else -%}"
        "{%- for c in message['content'] -%}"
        "{%- if c['type'] == 'video' -%}{%- set ns.video = ns.video + 1 -%}"
        "{{- 'Video ' + ns.video|string + ':<|VIDEO_START|><|VIDEO_PLACEHOLDER|><|VIDEO_END|>' -}}"
        "{%- elif c['type'] == 'image' -%}{%- set ns.image = ns.image + 1 -%}"
        "{{- 'Picture ' + ns.image|string + ':<|IMAGE_START|><|IMAGE_PLACEHOLDER|><|IMAGE_END|>' -}}"
        "{%- elif 'text' in c -%}{{- c['text'] -}}{%- endif -%}{%- endfor -%}{%- endif -%}"
        "{{- '\n' if message['role'] == 'user' else '<|end_of_sentence|>' -}}"
        "{%- endif -%}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- 'Assistant: <think>\n\n</think>\n\n' -}}{%- endif -%}"
    )


# -- Cohere Compass (North Vision) ---------------------------------------------------------------

COHERE_TOKENS = {"image_token": "<|IMAGE_PAD|>", "video_token": "<|VIDEO_PAD|>",
                 "vision_start_token": "<|VISION_START|>", "vision_end_token": "<|VISION_END|>"}
COHERE_EXTRA = ("<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", "<|SYSTEM_TOKEN|>", "<|CHATBOT_TOKEN|>",
                "<|START_RESPONSE|>", "<|END_RESPONSE|>")


def _qwen3_style_vision(**extra: Any) -> dict[str, Any]:
    return dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=64, deepstack_visual_indexes=[0],
                **extra)


def _cohere_compass_config(ids: dict[str, int], vocab: int):
    from transformers import CohereCompassConfig

    text = {**TEXT, "vocab_size": vocab, "bos_token_id": ids["<BOS_TOKEN>"], "eos_token_id": ids["<|END_OF_TURN_TOKEN|>"],
            "pad_token_id": ids["<PAD>"], "sliding_window": 64, "layer_types": ["sliding_attention", "full_attention"],
            # per layer type; the global layers use no positional embedding (NoPE)
            "rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 5e4,
                                                      "mrope_section": [2, 3, 3]}, "full_attention": None}}
    return CohereCompassConfig(text_config=text, vision_config=_qwen3_style_vision(), tie_word_embeddings=True,
                               **{f"{k}_id": ids[v] for k, v in COHERE_TOKENS.items()})


def _cohere_compass_processor(tokenizer, template):
    import transformers

    px = dict(patch_size=8, merge_size=2, temporal_patch_size=2)
    return transformers.CohereCompassProcessor(
        image_processor=transformers.CohereCompassImageProcessor(**px, size={"shortest_edge": 256, "longest_edge": 4096}),
        video_processor=transformers.CohereCompassVideoProcessor(
            **px, size={"shortest_edge": 16 * 16, "longest_edge": 16 * IMAGE * IMAGE}, do_sample_frames=False),
        tokenizer=tokenizer, chat_template=template)


# -- Cosmos3-Edge ------------------------------------------------------------------------------

QWEN_NAMED = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
              "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}


def _cosmos3_edge_config(ids: dict[str, int], vocab: int):
    from transformers import Cosmos3EdgeConfig

    text = _qwen3ish_text(ids, vocab, hidden_act="relu2", bos_token_id=ids["<s>"],
                          rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]})
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, patch_size=8,
                  num_patches=16, spatial_merge_size=2)
    return Cosmos3EdgeConfig(text_config=text, vision_config=vision, projector_hidden_size=64, tie_word_embeddings=True,
                             **{f"{k}_id": ids[v] for k, v in QWEN_NAMED.items()})


def _cosmos3_edge_processor(tokenizer, template):
    import transformers

    px = dict(patch_size=8, merge_size=2, size={"shortest_edge": 16 * 16, "longest_edge": 64 * 64})
    video = {**px, "size": {"shortest_edge": 16 * 16, "longest_edge": 16 * IMAGE * IMAGE}}  # a budget over all frames
    return transformers.Cosmos3EdgeProcessor(
        image_processor=transformers.Cosmos3EdgeImageProcessor(**px),
        video_processor=transformers.Cosmos3EdgeVideoProcessor(**video, do_sample_frames=False), tokenizer=tokenizer,
        chat_template=template)


def families() -> list[TinyFamily]:
    return [
        TinyFamily("molmo2", "molmo2", "Molmo2", {"image_token": "<|image|>", "video_token": "<|video|>"},
                   ("<|im_start|>",) + MOLMO_PATCH, "<|im_end|>", "<|endoftext|>", _chatml("<|video|>", "<|image|>", None),
                   _molmo2_config, _molmo2_processor, bos="<|endoftext|>", suppress=("<|image|>", "<|video|>") + MOLMO_PATCH),
        TinyFamily("ovis2.5", "ovis2_5", "Ovis2.5", dict(OVIS_TOKENS), ("<|im_start|>",), "<|im_end|>", "<|endoftext|>",
                   _chatml("<video>", "<image>"), _ovis25_config, _ovis25_processor, suppress=tuple(OVIS_TOKENS.values())),
        # Kimi's turn format: <|im_user|>user<|im_middle|>...<|im_end|><|im_assistant|>assistant<|im_middle|>
        TinyFamily("kimi-k2.5", "kimi_k25", "Kimi-K2.5", dict(KIMI_TOKENS), KIMI_EXTRA, "<|im_end|>", "<|endoftext|>",
                   _turns("<|im_{role}|>{role}<|im_middle|>", "<|im_end|>", "<|im_assistant|>assistant<|im_middle|>",
                          "<|kimi_k25_video_placeholder|>", "<|media_begin|>image<|media_content|><|media_pad|><|media_end|>"),
                   _kimi_k25_config, _kimi_k25_processor, suppress=tuple(KIMI_TOKENS.values()) + KIMI_EXTRA[4:]),
        _minicpm("minicpm-v-4.6", "minicpmv4_6", "MiniCPM-V 4.6", _minicpm_config("MiniCPMV4_6Config"),
                 _minicpm_processor("MiniCPMV4_6Processor", "MiniCPMV4_6ImageProcessor", "MiniCPMV4_6VideoProcessor")),
        _minicpm("minicpm-v-4.7", "minicpmv4_7", "MiniCPM-V 4.7",
                 _minicpm_config("MiniCPMV4_7Config", image_start_id="<image>", image_end_id="</image>",
                                 slice_start_id="<slice>", slice_end_id="</slice>", newline_id="\u010a"),  # byte-level BPE spells "\\n" as "Ċ"
                 _minicpm_processor("MiniCPMV4_7Processor", "MiniCPMV4_6ImageProcessor", "MiniCPMV4_6VideoProcessor")),
        _minicpm("minicpm-ocr", "minicpm_ocr", "MiniCPM-OCR", _minicpm_config("MiniCPMOcrConfig"),
                 _minicpm_processor("MiniCPMOcrProcessor", "MiniCPMOcrImageProcessor", "MiniCPMOcrVideoProcessor")),
        TinyFamily("ernie-4.5-vl-moe", "ernie4_5_vl_moe", "ERNIE-4.5-VL-MoE", dict(ERNIE_TOKENS), ("<think>", "</think>"),
                   "<|end_of_sentence|>", "<|pad|>", _ernie_template(), _ernie_config, _ernie_processor,
                   bos="<|begin_of_sentence|>", assets={ERNIE_FONT: _pillow_font},
                   notes="the video processor draws each frame's timestamp onto the frame (a TrueType font ships "
                   "with the checkpoint)"),
        # Cohere's turn format; the processor expands <|VIDEO_PAD|> into "<t seconds><|VISION_START|>...<|VISION_END|>"
        TinyFamily("cohere-compass", "cohere_compass", "Cohere Compass (North Vision)", dict(COHERE_TOKENS), COHERE_EXTRA,
                   "<|END_OF_TURN_TOKEN|>", "<PAD>",
                   _turns("<|START_OF_TURN_TOKEN|><|{role}_TOKEN|>", "<|END_OF_TURN_TOKEN|>",
                          "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>", "<|VIDEO_PAD|>",
                          "<|VISION_START|><|IMAGE_PAD|><|VISION_END|>", prefix="<BOS_TOKEN>",
                          roles={"user": "USER", "system": "SYSTEM", "assistant": "CHATBOT"}),
                   _cohere_compass_config, _cohere_compass_processor, bos="<BOS_TOKEN>"),
        # ChatML; the processor expands <|video_pad|> into "<t seconds><|vision_start|>...<|vision_end|>" per frame
        TinyFamily("cosmos3-edge", "cosmos3_edge", "Cosmos3-Edge", dict(QWEN_NAMED), ("<|im_start|>",), "<|im_end|>",
                   "<|endoftext|>", _chatml("<|video_pad|>", "<|vision_start|><|image_pad|><|vision_end|>"),
                   _cosmos3_edge_config, _cosmos3_edge_processor, bos="<s>"),
    ]
