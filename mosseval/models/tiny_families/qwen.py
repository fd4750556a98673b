"""Qwen-family tiny builds: Qwen2/2.5/3-VL(-MoE), Qwen3.5(-MoE), Qwen2.5-Omni."""

from __future__ import annotations

from typing import Any

from mosseval.models.tiny_families.base import IMAGE, TEXT, TinyFamily, _chatml


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


def _qwen_processor(cls_name: str, video_cls: str, merge: int = 2, patch: int = 8, total_budget: bool = False,
                    temporal: int = 2):
    def make(tokenizer, template):
        import transformers

        px = {**_qwen_pixel(merge, patch), "temporal_patch_size": temporal}
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

# -- Qwen2.5-Omni ------------------------------------------------------------------------------


def _omni_thinker(ids: dict[str, int], vocab: int) -> dict[str, Any]:
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
    return thinker


def _omni_thinker_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen2_5OmniThinkerConfig

    return Qwen2_5OmniThinkerConfig(**_omni_thinker(ids, vocab), tie_word_embeddings=True)


def _omni_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen2_5OmniConfig

    thinker = _omni_thinker(ids, vocab)
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


def _omni_processor_of(cls_name: str):
    """An omni processor (Qwen2.5-Omni, Qwen3-Omni-MoE): Qwen2-VL image/video processors + Whisper features."""
    def make(tokenizer, template):
        import transformers

        px = _qwen_pixel()
        return getattr(transformers, cls_name)(
            image_processor=transformers.Qwen2VLImageProcessor(**px),
            video_processor=transformers.Qwen2VLVideoProcessor(**px, do_sample_frames=False),
            feature_extractor=transformers.WhisperFeatureExtractor(feature_size=128), tokenizer=tokenizer,
            chat_template=template)

    return make


_omni_processor = _omni_processor_of("Qwen2_5OmniProcessor")


OMNI_TOKENS = {"image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>", "audio_token": "<|AUDIO|>",
               "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
               "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}


OMNI3_TOKENS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>", "audio_token": "<|audio_pad|>",
                "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>",
                "audio_bos_token": "<|audio_start|>", "audio_eos_token": "<|audio_end|>"}


def _omni3_thinker(ids: dict[str, int], vocab: int) -> tuple[dict[str, Any], dict[str, int]]:
    text = _qwen_text(ids, vocab, head_dim=16, rope_parameters=_qwen_rope(1e6, True), **_MOE)
    audio = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, num_mel_bins=128,
                 output_dim=64, downsample_hidden_size=8)
    media = dict(audio_token_id=ids["<|audio_pad|>"], image_token_id=ids["<|image_pad|>"],
                 video_token_id=ids["<|video_pad|>"], audio_start_token_id=ids["<|audio_start|>"])
    thinker = dict(text_config=text, vision_config=_qwen3_vision(), audio_config=audio,
                   vision_start_token_id=ids["<|vision_start|>"], **media)
    return thinker, media


def _omni3_thinker_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen3OmniMoeThinkerConfig

    return Qwen3OmniMoeThinkerConfig(**_omni3_thinker(ids, vocab)[0], tie_word_embeddings=True)


def _omni3_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen3OmniMoeConfig

    thinker, media = _omni3_thinker(ids, vocab)
    talker_text = dict(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                       rope_parameters={"rope_type": "default", "rope_theta": 1e6}, shared_expert_intermediate_size=32,
                       **_MOE)
    predictor = dict(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=16, num_code_groups=4)
    talker = dict(text_config=talker_text, code_predictor_config=predictor, num_code_groups=4, thinker_hidden_size=64,
                  accept_hidden_layer=1, codec_eos_token_id=58, codec_nothink_id=59, codec_think_bos_id=60,
                  codec_think_eos_id=61, codec_pad_id=62, codec_bos_id=63, speaker_id={"ethan": 57}, spatial_merge_size=2,
                  vision_start_token_id=ids["<|vision_start|>"], **media)
    code2wav = dict(codebook_size=64, hidden_size=32, num_attention_heads=2, num_key_value_heads=2,
                    intermediate_size=64, num_hidden_layers=1, num_quantizers=4, decoder_dim=32)
    return Qwen3OmniMoeConfig(thinker_config=thinker, talker_config=talker, code2wav_config=code2wav,
                              enable_audio_output=True, im_start_token_id=ids["<|im_start|>"],
                              im_end_token_id=ids["<|im_end|>"], tts_pad_token_id=ids["<|tts_pad|>"],
                              tts_bos_token_id=ids["<|tts_bos|>"], tts_eos_token_id=ids["<|tts_eos|>"])


_omni3_processor = _omni_processor_of("Qwen3OmniMoeProcessor")


def families() -> list[TinyFamily]:
    return [
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
        TinyFamily("qwen2.5-omni", "qwen2_5_omni", "Qwen2.5-Omni", dict(OMNI_TOKENS), ("<|im_start|>",),
                   "<|im_end|>", "<|endoftext|>",
                   _chatml("<|vision_bos|><|VIDEO|><|vision_eos|>", "<|vision_bos|><|IMAGE|><|vision_eos|>"),
                   _omni_config, _omni_processor, auto_class="AutoModelForMultimodalLM",
                   files={"spk_dict.pt": {"Chelsie": {"bos_token": 0}}},
                   suppress=tuple(OMNI_TOKENS.values())),
        TinyFamily("qwen3-omni-moe", "qwen3_omni_moe", "Qwen3-Omni-MoE", dict(OMNI3_TOKENS),
                   ("<|im_start|>", "<|tts_pad|>", "<|tts_bos|>", "<|tts_eos|>"), "<|im_end|>", "<|endoftext|>",
                   _chatml(QWEN_VIDEO, QWEN_IMAGE), _omni3_config, _omni3_processor,
                   auto_class="AutoModelForMultimodalLM", suppress=tuple(OMNI3_TOKENS.values())),
        # thinker-only checkpoints (the text half of the omni models, without talker and vocoder)
        TinyFamily("qwen2.5-omni-thinker", "qwen2_5_omni_thinker", "Qwen2.5-Omni thinker", dict(OMNI_TOKENS),
                   ("<|im_start|>",), "<|im_end|>", "<|endoftext|>",
                   _chatml("<|vision_bos|><|VIDEO|><|vision_eos|>", "<|vision_bos|><|IMAGE|><|vision_eos|>"),
                   _omni_thinker_config, _omni_processor, suppress=tuple(OMNI_TOKENS.values())),
        TinyFamily("qwen3-omni-moe-thinker", "qwen3_omni_moe_thinker", "Qwen3-Omni-MoE thinker", dict(OMNI3_TOKENS),
                   ("<|im_start|>",), "<|im_end|>", "<|endoftext|>", _chatml(QWEN_VIDEO, QWEN_IMAGE),
                   _omni3_thinker_config, _omni3_processor, suppress=tuple(OMNI3_TOKENS.values())),
    ]
