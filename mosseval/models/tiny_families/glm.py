"""GLM-family tiny builds: GLM-4.1V, GLM-4.6V (and the families that reuse their processors)."""

from __future__ import annotations

from typing import Any

from mosseval.models.tiny_families.base import IMAGE, TEXT, TinyFamily, _glm
from mosseval.models.tiny_families.qwen import VIDEO_BUDGET


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



def families() -> list[TinyFamily]:
    return more_families() + glm5_families() + [
        TinyFamily("glm-4.1v", "glm4v", "GLM-4.1V", dict(GLM_TOKENS), GLM_EXTRA, "<|user|>", "<|endoftext|>",
                   _glm("<|begin_of_video|><|video|><|end_of_video|>", "<|begin_of_image|><|image|><|end_of_image|>"),
                   _glm4v_config, _glm_processor("Glm4vProcessor", "Glm4vImageProcessor", "Glm4vVideoProcessor"),
                   suppress=GLM_EXTRA[5:] + ("<|image|>", "<|video|>")),
        TinyFamily("glm-4.6v", "glm46v", "GLM-4.6V", dict(GLM_TOKENS), GLM_EXTRA, "<|user|>", "<|endoftext|>",
                   _glm("<|begin_of_video|><|video|><|end_of_video|>", "<|begin_of_image|><|image|><|end_of_image|>"),
                   _glm46v_config, _glm_processor("Glm46VProcessor", "Glm46VImageProcessor", "Glm46VVideoProcessor"),
                   suppress=GLM_EXTRA[5:] + ("<|image|>", "<|video|>")),
    ]


def _glm4v_moe_config(ids: dict[str, int], vocab: int):
    from transformers import Glm4vMoeConfig

    text = {**_glm_text(ids, vocab), "partial_rotary_factor": 0.5, "n_routed_experts": 4, "n_shared_experts": 1,
            "num_experts_per_tok": 2, "moe_intermediate_size": 32, "first_k_dense_replace": 1, "head_dim": 32}
    text["rope_parameters"] = {**text["rope_parameters"], "partial_rotary_factor": 0.5}
    return Glm4vMoeConfig(text_config=text, vision_config=_glm_vision(), tie_word_embeddings=True, **_glm_ids(ids))


def _glmga_config(ids: dict[str, int], vocab: int):
    from transformers import GlmgaConfig

    text = {**_glm_text(ids, vocab), "model_type": "glm4v_text"}
    return GlmgaConfig(text_config=text, vision_config={**_glm_vision(), "model_type": "glm4v_vision"},
                       tie_word_embeddings=True, **_glm_ids(ids))


def _glm_ocr_config(ids: dict[str, int], vocab: int):
    from transformers import GlmOcrConfig

    return GlmOcrConfig(text_config=_glm_text(ids, vocab), vision_config=_glm_vision(), tie_word_embeddings=True,
                        **_glm_ids(ids))


def _glm_family(name: str, model_type: str, display: str, config, processor, **kw) -> TinyFamily:
    return TinyFamily(name, model_type, display, dict(GLM_TOKENS), GLM_EXTRA, "<|user|>", "<|endoftext|>",
                      _glm("<|begin_of_video|><|video|><|end_of_video|>", "<|begin_of_image|><|image|><|end_of_image|>"),
                      config, processor, suppress=GLM_EXTRA[5:] + ("<|image|>", "<|video|>"), **kw)


def more_families() -> list[TinyFamily]:
    return [
        _glm_family("glm-4.5v", "glm4v_moe", "GLM-4.5V", _glm4v_moe_config,
                    _glm_processor("Glm4vProcessor", "Glm4vImageProcessor", "Glm4vVideoProcessor")),
        _glm_family("glmga", "glmga", "GLM-GA", _glmga_config,
                    _glm_processor("Glm46VProcessor", "GlmgaImageProcessor", "GlmgaVideoProcessor")),
        _glm_family("glm-ocr", "glm_ocr", "GLM-OCR", _glm_ocr_config,
                    _glm_processor("Glm46VProcessor", "Glm46VImageProcessor", "Glm46VVideoProcessor")),
    ]


def _glm5_next_config(ids: dict[str, int], vocab: int):
    from transformers import Glm5NextConfig

    text = {**TEXT, "vocab_size": vocab, "num_key_value_heads": 4, "moe_intermediate_size": 32, "n_routed_experts": 4,
            "n_shared_experts": 1, "num_experts_per_tok": 2, "kv_lora_rank": 16, "q_lora_rank": 16,
            "qk_nope_head_dim": 16, "v_head_dim": 16, "index_topk": 64, "index_head_dim": 16, "index_n_heads": 2,
            "index_kpool": 4, "layer_types": ["linear_attention", "indexed_attention"],
            "mlp_layer_types": ["dense", "sparse"], "linear_head_dim": 16, "linear_num_heads": 4, "hc_mult": 2,
            "hc_sinkhorn_iters": 2, "eos_token_id": ids["<|user|>"], "pad_token_id": ids["<|endoftext|>"]}
    vision = {**_glm_vision(), "projection_intermediate_size": 64}
    return Glm5NextConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **_glm_ids(ids))


def _glm5_next_processor(tokenizer, template):
    import transformers

    px = dict(patch_size=8, merge_size=2, temporal_patch_size=2, min_image_tokens=4, max_image_tokens=64)
    return transformers.Glm5NextProcessor(
        image_processor=transformers.Glm5NextImageProcessor(**px),
        video_processor=transformers.Glm5NextVideoProcessor(**px, do_sample_frames=False),
        tokenizer=tokenizer, chat_template=template)


def glm5_families() -> list[TinyFamily]:
    return [_glm_family("glm-5-next", "glm5_next", "GLM-5-Next", _glm5_next_config, _glm5_next_processor)]
