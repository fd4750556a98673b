"""Tiny builds of InternVL, SmolVLM2, Gemma 3/4 and VideoLLaMA3."""

from __future__ import annotations

from functools import partial

from mosseval.models.tiny_families.base import IMAGE, TEXT, TinyFamily, _chatml, _gemma, _gemma4, _smolvlm
from mosseval.models.tiny_families.llava import SQUARE, _siglip
from mosseval.models.tiny_families.qwen import _qwen_text


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


def _gemma4_config(ids: dict[str, int], vocab: int, prefix: str = "Gemma4"):
    import transformers

    text = {**TEXT, "vocab_size": vocab, "head_dim": 16, "global_head_dim": 16, "sliding_window": 64,
            "layer_types": ["sliding_attention", "full_attention"], "bos_token_id": ids["<bos>"],
            "eos_token_id": ids["<turn|>"], "pad_token_id": ids["<pad>"], "vocab_size_per_layer_input": vocab,
            "hidden_size_per_layer_input": 8}
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, head_dim=16, patch_size=8, pooling_kernel_size=3,
                  position_embedding_size=1024)
    return getattr(transformers, f"{prefix}Config")(text_config=text, vision_config=vision, audio_config=None,
                        boi_token_id=ids["<|image>"], eoi_token_id=ids["<image|>"],
                        image_token_id=ids["<|image|>"], video_token_id=ids["<|video|>"],
                        audio_token_id=ids["<|audio|>"], boa_token_id=ids["<|audio>"], eoa_token_index=ids["<audio|>"],
                        tie_word_embeddings=True)


def _gemma4_processor(tokenizer, template, prefix: str = "Gemma4"):
    import transformers

    px = dict(patch_size=8, max_soft_tokens=70, pooling_kernel_size=3)
    return getattr(transformers, f"{prefix}Processor")(
        feature_extractor=getattr(transformers, f"{prefix}AudioFeatureExtractor")(),
        image_processor=getattr(transformers, f"{prefix}ImageProcessor")(**px),
        video_processor=getattr(transformers, f"{prefix}VideoProcessor")(**px, do_sample_frames=False),
        tokenizer=tokenizer, image_seq_length=70, chat_template=template)


def _gemma4_family(name: str, model_type: str, display: str, prefix: str) -> TinyFamily:
    return TinyFamily(name, model_type, display,
                      {"boi_token": "<|image>", "eoi_token": "<image|>", "image_token": "<|image|>",
                       "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"},
                      ("<|turn>", "<|video|>"), "<turn|>", "<pad>", _gemma4("<|video|>", "<|image|>"),
                      partial(_gemma4_config, prefix=prefix), partial(_gemma4_processor, prefix=prefix), bos="<bos>",
                      add_bos=True, suppress=("<|image>", "<image|>", "<|image|>", "<|video|>"))


def families() -> list[TinyFamily]:
    return [
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
        _gemma4_family("gemma4", "gemma4", "Gemma 4", "Gemma4"),
        # Gemma 4 with the audio conformer replaced by a projection of raw waveform frames; vision identical
        _gemma4_family("gemma4-unified", "gemma4_unified", "Gemma 4 Unified", "Gemma4Unified"),
        TinyFamily("videollama3", "video_llama_3", "VideoLLaMA3", {"image_token": "<|image_pad|>",
                                                                    "video_token": "<|video_pad|>"},
                   ("<|im_start|>",), "<|im_end|>", "<|endoftext|>", _chatml("<|video_pad|>", "<|image_pad|>"),
                   _videollama3_config, _videollama3_processor, suppress=("<|image_pad|>", "<|video_pad|>")),
    ]
