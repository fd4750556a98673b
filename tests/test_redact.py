"""The one redactor: every kind of secret the issue names, and what must stay untouched."""

from __future__ import annotations

import pytest

from mosseval.redact import is_secret_key, redact_argv, redact_mapping, redact_text, redact_url, redact_value

SECRET = "s3cr3tV4lue"


@pytest.mark.parametrize("text", [
    f"http://user:{SECRET}@host:8000/v1",
    f"https://host/v1?token={SECRET}",
    f"https://host/v1?model=x&key={SECRET}",
    f"https://host/v1?api_key={SECRET}&x=1",
    f"https://host/v1?apikey={SECRET}",
    f"https://host/v1?secret={SECRET}",
    f"https://host/v1?password={SECRET}",
    f"https://host/video.mp4?sig={SECRET}",
    f"https://host/video.mp4?signature={SECRET}",
    f"https://host/v1?access_token={SECRET}",
    f"https://bucket.s3.amazonaws.com/x.mp4?X-Amz-Signature={SECRET}&X-Amz-Credential={SECRET}",
    f"Authorization: Bearer {SECRET}",
    f"api-key: {SECRET}",
    f"x-api-key: {SECRET}",
    f"base_url=http://h/v1,api_key={SECRET},dtype=bfloat16",
    f'{{"api_key": "{SECRET}", "max_tokens": 5}}',
    f"connection error to http://a:{SECRET}@127.0.0.1:8000/v1: refused",
    f"password={SECRET} token={SECRET}",
    "sk-proj-abcdefghijklmnop1234",
    "hf_abcdefghijklmnopqrstu",
    f"api_key_env={SECRET}",  # the key pasted where its variable's name belongs
])
def test_secrets_never_survive(text):
    out = redact_text(text)
    assert SECRET not in out and "abcdefghijklmnop" not in out, out


@pytest.mark.parametrize("text", [
    "max_tokens=512 keyframe_interval=2.0 max_new_tokens=64",
    "use --model-args key=value,key2=value2",
    "export OPENAI_API_KEY=$OPENAI_API_KEY",
    "error: task 'x', key `loader`: required",
    "http://127.0.0.1:8000/v1/chat/completions?model=qwen",
    "The ball moves left; its token count is 5.",
    # the names of the variables that hold keys are not keys: the hints that name them stay readable
    "hint: export OPENAI_API_KEY=... (or put the key in another variable and pass api_key_env=THAT_VARIABLE)",
    "error: do not pass api_key=... in --model-args: it would end up in shell history and run files",
    "token_env=HF_TOKEN, api_key_env=$MY_KEY",
])
def test_ordinary_text_is_untouched(text):
    assert redact_text(text) == text


def test_variable_names_kept_in_written_args():
    assert redact_mapping({"api_key_env": "MY_KEY", "api_key": "zzz", "token_env": "not a name"}) == \
        {"api_key_env": "MY_KEY"}
    assert redact_value({"api_key_env": "MY_KEY", "secret": "abc"}) == {"api_key_env": "MY_KEY", "secret": "***"}


def test_url_keeps_its_shape():
    assert redact_url(f"http://u:{SECRET}@h:81/v1?token={SECRET}&m=x#f") == "http://h:81/v1?token=***&m=x#f"


def test_mapping_drops_secret_keys_and_scrubs_urls():
    out = redact_mapping({"api_key": SECRET, "base_url": f"http://u:p@h/v1?sig={SECRET}", "max_tokens": 9,
                          "token": SECRET, "dtype": "bfloat16"})
    assert out == {"base_url": "http://h/v1?sig=***", "max_tokens": 9, "dtype": "bfloat16"}


def test_value_masks_nested_secrets():
    out = redact_value({"headers": {"Authorization": f"Bearer {SECRET}"}, "args": [f"--token={SECRET}"],
                        "n": 3, "packages": {"tokenizers": "0.22"}})
    assert SECRET not in repr(out) and out["n"] == 3 and out["packages"] == {"tokenizers": "0.22"}


def test_argv():
    argv = ["run", "--api-key", SECRET, "--model-args", f"base_url=http://u:{SECRET}@h/v1?token={SECRET},x=1",
            f"--token={SECRET}", "--limit", "5"]
    out = redact_argv(argv)
    assert SECRET not in " ".join(out)
    assert out[:3] == ["run", "--api-key", "***"] and out[-2:] == ["--limit", "5"]
    assert out[4] == "base_url=http://h/v1?token=***,x=1"


@pytest.mark.parametrize("name,secret", [("api_key", True), ("apikey", True), ("token", True), ("sig", True),
                                         ("access_token", True), ("password", True), ("X-Amz-Signature", True),
                                         ("max_tokens", False), ("tokenizer", False), ("keyframe_interval", False),
                                         ("batch_size", False), ("base_url", False), ("monkey", False)])
def test_secret_key_names(name, secret):
    assert is_secret_key(name) is secret


# --------------------------------------------------------------------------- the fast paths change no answer

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FRAGMENTS = ["sk-", "sk-proj-", "hf_", "ghp_", "gho_", "xoxb-", "AKIA", "token", "Token", "TOKEN", "api_key", "API-KEY",
              "apikey", "secret", "passwd", "password", "pwd", "auth", "Authorization", "bearer", "Bearer ", "basic ",
              "credential", "session", "cookie", "sig", "signature", "x-amz-date", "X_AMZ_CRED", "key", "keyframe",
              "max_tokens", "tokenizer", "http://", "https://u:p@h/x?token=", "=", ":", "\"", "'", " ", "\t", "\n",
              "\u00a0", "\u2003", "-", "_", "/", "?", "&", "@", "$", "{", "}", "İ", "ı", "ſ", "\u212a", "abcdefghijkl",
              "0123456789", "ABCDEFGHIJKLMNOP", "é", "名"]
_texts = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=6)), max_size=10).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_texts)
def test_the_quick_answer_of_redact_text_is_the_full_one(text):
    """A text the quick test lets through unchanged is one the six patterns would leave unchanged too (a known
    secret that never occurs sends the text through every pattern)."""
    assert redact_text(text) == redact_text(text, secrets=("\x00never\x00",))


@settings(max_examples=1500, deadline=None)
@given(_texts)
def test_the_quick_answer_of_is_secret_key_is_the_full_one(name):
    """``is_secret_key``'s word test for ASCII names says no only where the full patterns say no."""
    from mosseval.redact import _NOT_SECRET, SECRET_KEYS

    bare = str(name).strip().lstrip("-")
    assert is_secret_key(name) == (bool(bare) and not _NOT_SECRET.match(bare) and bool(SECRET_KEYS.search(bare)))


def test_the_quick_tests_cover_every_pattern():
    """Each secret of the first test above, and each secret-holding name, goes the full way."""
    from mosseval.redact import _MAY_HOLD_SECRET

    for text in ["sk-proj-abcdefghijklmnop1234", "hf_abcdefghijklmnopqrstu", "ghp_abcdefghijklmn", "xoxb-abcdefghijkl",
                 "AKIAABCDEFGHIJKLMNOP", f"Bearer\t{SECRET}", f"api_key={SECRET}", f'"api_key": "{SECRET}"',
                 f"http://u:{SECRET}@h"]:
        assert _MAY_HOLD_SECRET.search(text), text
        assert redact_text(text) != text
    for name in ("api_key", "X-Amz-Signature", "ACCESS_TOKEN", "Passphrase", "pwd", "cookie", "session_id", "sig"):
        assert is_secret_key(name), name
