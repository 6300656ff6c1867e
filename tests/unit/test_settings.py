"""Settings: precedence of overrides, environment, TOML file and defaults; one-line config errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.settings import ConfigError, Settings, embed_model_path, llm_model_path, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No DAGRAG_* variable from the outside, and a cwd without a dagrag.toml."""
    for name in list(os.environ):
        if name.startswith("DAGRAG_"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message, message
    return message


def test_defaults_without_any_source():
    s = load_settings()
    assert s.top_k == 4 and s.max_nodes == 5 and s.kb_path == Path(".dagrag")
    assert s.llm_model is None and s.embed_model is None


def test_precedence_overrides_beat_env_beat_file_beat_defaults(monkeypatch, tmp_path):
    config = write_toml(tmp_path / "conf.toml", "top_k = 7\nmax_nodes = 8\nnode_top_k = 9\n")
    # file only
    s = load_settings(config)
    assert (s.top_k, s.max_nodes, s.node_top_k, s.seed) == (7, 8, 9, 0)
    # env beats file
    monkeypatch.setenv("DAGRAG_TOP_K", "11")
    monkeypatch.setenv("DAGRAG_MAX_NODES", "3")
    s = load_settings(config)
    assert (s.top_k, s.max_nodes, s.node_top_k) == (11, 3, 9)
    # explicit overrides beat env; None overrides are ignored
    s = load_settings(config, top_k=2, max_nodes=None)
    assert (s.top_k, s.max_nodes, s.node_top_k) == (2, 3, 9)


def test_dagrag_config_env_names_the_file_instead_of_the_local_one(monkeypatch, tmp_path, clean_env):
    write_toml(clean_env / "dagrag.toml", "top_k = 6\nseed = 6\n")
    config = write_toml(tmp_path / "from-env.toml", "top_k = 13\n")
    monkeypatch.setenv("DAGRAG_CONFIG", str(config))
    s = load_settings()
    assert s.top_k == 13 and s.seed == 0  # the local file is not merged in


def test_explicit_config_file_beats_dagrag_config(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGRAG_CONFIG", str(write_toml(tmp_path / "env.toml", "top_k = 13\n")))
    assert load_settings(write_toml(tmp_path / "flag.toml", "top_k = 14\n")).top_k == 14


def test_local_dagrag_toml_in_cwd_is_read(clean_env):
    write_toml(clean_env / "dagrag.toml", 'top_k = 6\nkb_path = "kb-here"\n')
    s = load_settings()
    assert s.top_k == 6 and s.kb_path == Path("kb-here")


def test_local_dagrag_toml_is_ignored_when_a_config_is_named(clean_env, tmp_path):
    write_toml(clean_env / "dagrag.toml", "top_k = 6\n")
    assert load_settings(write_toml(tmp_path / "other.toml", "seed = 5\n")).top_k == 4


def test_unknown_toml_key_is_a_one_line_error_naming_it(tmp_path):
    config = write_toml(tmp_path / "bad.toml", "top_k = 3\ntop_kk = 5\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(config)
    assert "top_kk" in one_line(exc)


def test_unknown_key_in_local_dagrag_toml(clean_env):
    write_toml(clean_env / "dagrag.toml", "bogus_knob = true\n")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "bogus_knob" in one_line(exc)


def test_wrong_type_in_toml_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(write_toml(tmp_path / "c.toml", 'top_k = "many"\n'))
    message = one_line(exc)
    assert "top_k" in message and "many" in message


def test_out_of_range_env_value_names_the_key(monkeypatch):
    monkeypatch.setenv("DAGRAG_MAX_NODES", "99")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "max_nodes" in one_line(exc)


def test_malformed_toml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings(write_toml(tmp_path / "broken.toml", "top_k = = 3\n"))
    one_line(exc)


def test_missing_config_file(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as exc:
        load_settings(missing)
    assert "missing.toml" in one_line(exc)


def test_missing_config_file_named_by_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGRAG_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "gone.toml" in one_line(exc)


def test_llm_model_path_nonexistent_mentions_the_variable(tmp_path):
    s = load_settings(llm_model=str(tmp_path / "nope.gguf"))
    with pytest.raises(ConfigError) as exc:
        llm_model_path(s)
    message = one_line(exc)
    assert "DAGRAG_LLM_MODEL" in message and "nope.gguf" in message


def test_llm_model_path_from_env(monkeypatch, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("DAGRAG_LLM_MODEL", str(gguf))
    assert llm_model_path(load_settings()) == gguf


def test_default_llm_model_is_the_embedded_smollm2():
    path = llm_model_path(load_settings())
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert str(path).endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert path.is_file() and path.stat().st_size > 1_000_000


def test_default_embedder_is_a_sentence_transformers_folder():
    path = Path(embed_model_path(load_settings()))
    assert path.is_dir() and (path / "modules.json").is_file()


def test_configured_embedder_is_returned_as_given():
    assert embed_model_path(load_settings(embed_model="some/model")) == "some/model"


def test_with_overrides_applies_and_validates():
    s = load_settings()
    t = s.with_overrides(top_k=9, max_nodes=None)
    assert t.top_k == 9 and t.max_nodes == s.max_nodes and s.top_k == 4  # a copy; None ignored
    with pytest.raises(ConfigError) as exc:
        s.with_overrides(top_k=0)
    assert "top_k" in one_line(exc)
    with pytest.raises(ConfigError) as exc:
        s.with_overrides(temperature="hot")
    assert "temperature" in one_line(exc)
    with pytest.raises(ConfigError) as exc:
        s.with_overrides(no_such_setting=1)
    assert "no_such_setting" in one_line(exc)


def test_settings_is_a_settings_instance_even_with_a_file(tmp_path):
    s = load_settings(write_toml(tmp_path / "c.toml", "seed = 3\n"))
    assert isinstance(s, Settings) and s.seed == 3
