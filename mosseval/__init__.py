"""mosseval: evaluation harness, leaderboard and GRPO trainer for video multimodal LLMs."""

__version__ = "0.1.0"
