"""Tiny builds of families that reuse a Qwen-VL video processor (``<|video_pad|>`` expanded to
``grid_t * grid_h * grid_w / merge²`` tokens): Cosmos3-Omni, Qwen4-Exp, EXAONE 4.5, LLaVA-OneVision-1.5,
HyperCLOVA X Vision V2, LFM3-VL and dots3.note."""

from __future__ import annotations

from mosseval.models.tiny_families.base import TEXT, TinyFamily, _chatml, _turns
from mosseval.models.tiny_families.qwen import (
    QWEN_IMAGE,
    QWEN_TOKENS,
    QWEN_VIDEO,
    VIDEO_BUDGET,
    _qwen3_ids,
    _qwen3_vision,
    _qwen_family,
    _qwen_pixel,
    _qwen_processor,
    _qwen_rope,
    _qwen_text,
)


def _cosmos3_omni_config(ids: dict[str, int], vocab: int):
    from transformers import Cosmos3OmniConfig

    text = _qwen_text(ids, vocab, head_dim=16, rope_parameters=_qwen_rope(5e5, True))
    return Cosmos3OmniConfig(text_config=text, vision_config=_qwen3_vision(), tie_word_embeddings=True,
                             **_qwen3_ids(ids))


def _qwen4_exp_config(ids: dict[str, int], vocab: int):
    from transformers import Qwen4ExpConfig

    text = _qwen_text(
        ids, vocab, head_dim=16, rope_parameters={**_qwen_rope(1e7, True), "partial_rotary_factor": 1.0},
        layer_types=["linear_attention", "indexed_attention"], linear_num_key_heads=2, linear_num_value_heads=2,
        linear_key_head_dim=16, linear_value_head_dim=16, linear_conv_kernel_dim=4, num_experts=4,
        num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32, hc_count=2,
        hc_lowrank=8, indexer_n_heads=2, indexer_kv_heads=1, indexer_head_dim=16, indexer_budget=64,
        indexer_compress_ratio=4, ple_layer_ids=[1], ple_embed_dim=16, ngram_vocab_size_base=512, make_ngram_vocab_size_divisible_by=8,
        split_ngram_parts=2, heads_per_ngram=2)
    return Qwen4ExpConfig(text_config=text, vision_config=_qwen3_vision(), tie_word_embeddings=True,
                          **_qwen3_ids(ids))


def _exaone45_config(ids: dict[str, int], vocab: int):
    from transformers import Exaone4_5_Config

    text = {**TEXT, "model_type": "exaone4", "vocab_size": vocab, "head_dim": 16, "sliding_window": 64,
            "layer_types": ["sliding_attention", "full_attention"], "bos_token_id": ids["[BOS]"],
            "eos_token_id": ids["[|endofturn|]"], "pad_token_id": ids["[PAD]"]}
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, num_key_value_heads=1, patch_size=8,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=32, fullatt_block_indexes=[1],
                  out_hidden_size=64)
    return Exaone4_5_Config(text_config=text, vision_config=vision, tie_word_embeddings=True, **_qwen3_ids(ids))


def _llava_ov15_config(ids: dict[str, int], vocab: int):
    from transformers import LlavaOnevision15Config

    text = _qwen_text(ids, vocab, model_type="qwen3", head_dim=16)
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                  out_hidden_size=64)
    return LlavaOnevision15Config(text_config=text, vision_config=vision, tie_word_embeddings=True,
                                  **_qwen3_ids(ids))


HCX_TOKENS = {"image_token": "<|IMAGE_PAD|>", "video_token": "<|VIDEO_PAD|>"}


def _hcx_config(ids: dict[str, int], vocab: int):
    from transformers import HyperCLOVAXVisionV2Config

    text = {**TEXT, "model_type": "hyperclovax", "vocab_size": vocab, "head_dim": 16,
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"], "attention_multiplier": 0.25, "logits_scaling": 1.0}
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=8, spatial_merge_size=2,
                  temporal_patch_size=2, window_size=32, fullatt_block_indexes=[1], out_hidden_size=64,
                  tokens_per_second=2)
    return HyperCLOVAXVisionV2Config(text_config=text, vision_config=vision, image_token_id=ids["<|IMAGE_PAD|>"],
                                     video_token_id=ids["<|VIDEO_PAD|>"], tie_word_embeddings=True)


def _lfm3_vl_config(ids: dict[str, int], vocab: int):
    from transformers import Lfm3VlConfig

    text = {**TEXT, "model_type": "lfm3", "vocab_size": vocab, "head_dim": 16, "sliding_window": 64,
            "layer_types": ["conv", "full_attention"], "bos_token_id": ids["<|startoftext|>"],
            "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|pad|>"]}
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, layer_types=["conv", "full_attention"], patch_size=8, spatial_merge_size=2,
                  temporal_patch_size=2)
    return Lfm3VlConfig(text_config=text, vision_config=vision, projector_hidden_size=64, tie_word_embeddings=True,
                        **_qwen3_ids(ids))


def _dots3_config(ids: dict[str, int], vocab: int):
    from transformers import Dots3NoteConfig

    text = {**TEXT, "vocab_size": vocab, "num_key_value_heads": 4, "q_lora_rank": 16, "kv_lora_rank": 16,
            "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 16, "head_dim": 16, "n_routed_experts": 4,
            "n_shared_experts": 1, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
            "shared_experts_intermediate_size": 32, "index_topk": 64, "index_head_dim": 16, "index_n_heads": 2,
            "layer_types": ["indexed_attention", "sliding_attention"], "sliding_window": 64,
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|endofresponse|>"],
            "pad_token_id": ids["<|endoftext|>"]}
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, patch_size=8,
                  spatial_merge_size=2, moe_intermediate_size=32, pyramid_num_routed=[-1, 2], num_experts_per_tok=1,
                  adapter_in_dim=32, adapter_out_dim=64, adapter_merge_size=2)
    audio = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=2, head_dim=16, downsample_hidden_size=8, conv_output_size=128,
                 adapter_input_size=32, adapter_out_dim=64)
    return Dots3NoteConfig(text_config=text, vision_config=vision, audio_config=audio,
                           image_token_id=ids["<|imgpad|>"], video_token_id=ids["<|video_pad|>"],
                           audio_token_id=ids["<|audio_comp_pad|>"], tie_word_embeddings=True)


def _dots3_processor(tokenizer, template):
    import transformers

    px = {**_qwen_pixel(), "temporal_patch_size": 1}
    return transformers.Dots3NoteProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(**px), tokenizer=tokenizer,
        video_processor=transformers.Qwen3VLVideoProcessor(**{**px, "size": VIDEO_BUDGET}, do_sample_frames=False),
        feature_extractor=transformers.Dots3NoteFeatureExtractor(), chat_template=template)


DOTS_TOKENS = {"image_token": "<|imgpad|>", "video_token": "<|video_pad|>", "audio_token": "<|audio_comp_pad|>"}


def _qwen_like(name: str, model_type: str, display: str, config, processor, tokens: dict[str, str],
               template: str, eos: str, pad: str, extra: tuple[str, ...] = (), **kw) -> TinyFamily:
    return TinyFamily(name=name, model_type=model_type, display=display, tokens=dict(tokens), extra_tokens=extra,
                      eos=eos, pad=pad, template=template, config=config, processor=processor,
                      suppress=tuple(tokens.values()) + tuple(t for t in extra if "vision" in t or "VIDEO" in t),
                      **kw)


def families() -> list[TinyFamily]:
    return [
        _qwen_family("cosmos3-omni", "cosmos3_omni", "Cosmos3-Omni", _cosmos3_omni_config,
                     _qwen_processor("Qwen3VLProcessor", "Qwen3VLVideoProcessor", total_budget=True)),
        _qwen_family("qwen4-exp", "qwen4_exp", "Qwen4-Exp", _qwen4_exp_config,
                     _qwen_processor("Qwen3VLProcessor", "Qwen3VLVideoProcessor", total_budget=True)),
        # EXAONE 4.0's turn format ([|role|]\n ... [|endofturn|]\n), non-thinking generation prompt
        _qwen_like("exaone4.5", "exaone4_5", "EXAONE 4.5", _exaone45_config,
                   _qwen_processor("Exaone4_5_Processor", "Qwen2VLVideoProcessor"), QWEN_TOKENS,
                   _turns("[|{role}|]\n", "[|endofturn|]\n", "[|assistant|]<think>\n\n</think>\n\n", QWEN_VIDEO,
                          QWEN_IMAGE), "[|endofturn|]", "[PAD]", bos="[BOS]",
                   extra=("[|system|]", "[|user|]", "[|assistant|]", "<think>", "</think>")),
        _qwen_like("llava-onevision-1.5", "llava_onevision1_5", "LLaVA-OneVision-1.5", _llava_ov15_config,
                   _qwen_processor("Exaone4_5_Processor", "Qwen2VLVideoProcessor", temporal=1), QWEN_TOKENS,
                   _chatml(QWEN_VIDEO, QWEN_IMAGE), "<|im_end|>", "<|endoftext|>", extra=("<|im_start|>",)),
        # the hub template writes the clip's duration as <|video_duration|>, which the processor fills in
        _qwen_like("hyperclovax-vision-v2", "hyperclovax_vision_v2", "HyperCLOVA X SEED Vision V2", _hcx_config,
                   _qwen_processor("HyperCLOVAXVisionV2Processor", "Qwen2VLVideoProcessor"), HCX_TOKENS,
                   _chatml("(video, <|video_duration|> s)<|VIDEO_PAD|>", "<|IMAGE_PAD|>"), "<|im_end|>",
                   "<|endoftext|>", extra=("<|im_start|>", "<|video_duration|>")),
        # LFM2/3 ChatML; the processor expands <|video_pad|> into per-frame "<t seconds><|vision_start|>...<|vision_end|>"
        _qwen_like("lfm3-vl", "lfm3_vl", "LFM3-VL", _lfm3_vl_config,
                   _qwen_processor("Lfm3VlProcessor", "Qwen3VLVideoProcessor", total_budget=True), QWEN_TOKENS,
                   "{{- bos_token -}}" + _chatml("<|video_pad|>", "<|image_pad|>", None), "<|im_end|>", "<|pad|>",
                   bos="<|startoftext|>", extra=("<|im_start|>",)),
        # dots.llm1's turn format (<|userprompt|>...<|endofuserprompt|><|response|>)
        _qwen_like("dots3-note", "dots3_note", "dots3.note", _dots3_config, _dots3_processor, DOTS_TOKENS,
                   _turns("<|{role}|>", "<|endof{role}|>", "<|response|>", "<|video_pad|>",
                          "<|img|><|imgpad|><|endofimg|>", roles={"user": "userprompt", "assistant": "response"}),
                   "<|endofresponse|>", "<|endoftext|>", auto_class="AutoModelForMultimodalLM",
                   extra=("<|system|>", "<|endofsystem|>", "<|userprompt|>", "<|endofuserprompt|>", "<|response|>",
                          "<|img|>", "<|endofimg|>")),
    ]
