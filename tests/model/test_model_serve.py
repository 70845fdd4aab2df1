"""model.serve's configuration: where access keys come from, and refusing to start without them."""

import pytest

from model.data.synthetic import taste_interactions
from model.local_endpoint import server as serve
from model.training.als import TrainingParams, fit


def test_access_keys_from_flags_win_over_the_environment():
    environ = {"SERVE_ACCESS_KEYS": "A:a", "AWS_ACCESS_KEY_ID": "B", "AWS_SECRET_ACCESS_KEY": "b"}
    assert serve.configured_secrets(["C:c", "D:d,E:e:with-colon"], environ) == {
        "C": "c",
        "D": "d",
        "E": "e:with-colon",
    }


def test_serve_access_keys_win_over_aws_credentials():
    environ = {
        "SERVE_ACCESS_KEYS": "A:a, A2:a2",
        "AWS_ACCESS_KEY_ID": "B",
        "AWS_SECRET_ACCESS_KEY": "b",
    }
    assert serve.configured_secrets([], environ) == {"A": "a", "A2": "a2"}


def test_the_process_aws_credentials_are_the_last_resort():
    environ = {"AWS_ACCESS_KEY_ID": "B", "AWS_SECRET_ACCESS_KEY": "b"}
    assert serve.configured_secrets([], environ) == {"B": "b"}
    assert serve.configured_secrets([], {"AWS_ACCESS_KEY_ID": "B"}) == {}


@pytest.mark.parametrize("value", ["no-colon", ":secret", "id:"])
def test_malformed_access_keys_are_refused(value):
    with pytest.raises(ValueError, match="ID:SECRET"):
        serve.parse_access_keys([value])


def test_no_model_means_exit_2(tmp_path, capsys):
    assert serve.main(["--model-dir", str(tmp_path), "--access-key", "A:a"]) == 2
    assert "no model in" in capsys.readouterr().err


def test_no_access_keys_means_exit_2(tmp_path, monkeypatch, capsys):
    fit(
        taste_interactions(num_users=10, num_items=6, num_categories=2, seed=1),
        TrainingParams(factors=2),
    ).save(tmp_path)
    for name in ("SERVE_ACCESS_KEYS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert serve.main(["--model-dir", str(tmp_path)]) == 2
    assert "no access keys" in capsys.readouterr().err


def test_fault_latency_over_a_minute_means_exit_2(tmp_path, capsys):
    fit(
        taste_interactions(num_users=10, num_items=6, num_categories=2, seed=1),
        TrainingParams(factors=2),
    ).save(tmp_path)
    argv = ["--model-dir", str(tmp_path), "--access-key", "A:a", "--fault-latency-ms", "60001"]
    assert serve.main(argv) == 2
    assert "latency_ms must be from 0 to 60000" in capsys.readouterr().err
