"""LLaVA-family tiny builds: LLaVA-OneVision, LLaVA-NeXT-Video, Video-LLaVA."""

from __future__ import annotations

from typing import Any

from mosseval.models.tiny_families.base import IMAGE, TEXT, TinyFamily, _chatml, _vicuna
from mosseval.models.tiny_families.qwen import _qwen_text


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


def families() -> list[TinyFamily]:
    llava_tokens = {"image_token": "<image>", "video_token": "<video>"}
    return [
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
    ]
