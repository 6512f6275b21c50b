"""Hardware-aware defaults: what ``auto`` resolves to, the bf16 warning, ``gifemo doctor``, runs.

The AVX2 checks run for real where the CPU allows: ``ATEN_CPU_CAPABILITY=avx2
ONEDNN_MAX_CPU_ISA=AVX2`` makes an AVX-512 machine dispatch like an AVX2 one, and the
detection must follow it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from training_helpers import one_torch_thread, tiny_config, tiny_dataset  # noqa: F401  (autouse fixture)
from typer.testing import CliRunner

from gifemo import hardware
from gifemo.cli import app
from gifemo.hardware import EmulatedBF16Warning, normalize_precision, resolve_compute

AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


@pytest.fixture
def emulating_cpu(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(hardware, "cpu_capability", lambda: "AVX2")


@pytest.fixture
def native_bf16_cpu(monkeypatch):
    """A CPU with native bf16 that the probe measured at twice float32's speed."""
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(hardware, "cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(hardware, "bf16_speedup", lambda: 2.0)


@pytest.fixture
def probe_cache(monkeypatch, tmp_path):
    """An empty probe cache under ``tmp_path`` and a counting stand-in for the measurement."""
    monkeypatch.setenv("GIFEMO_CACHE", str(tmp_path))
    monkeypatch.setattr(hardware, "_measured", {})
    calls = []

    def measure():
        calls.append(hardware.probe_key())
        return 1.7

    monkeypatch.setattr(hardware, "measure_bf16_speedup", measure)
    return tmp_path / hardware.PROBE_FILE, calls


def test_precision_names_and_aliases():
    assert [
        normalize_precision(x)
        for x in ("auto", None, "32", "fp32", 32, "bf16", "BF16-mixed", "16", "fp16")
    ] == ["auto", "auto", "32", "32", "32", "bf16-mixed", "bf16-mixed", "16-mixed", "16-mixed"]
    with pytest.raises(
        ValueError, match="precision must be one of auto, 32, bf16-mixed, 16-mixed, got 'half'"
    ):
        normalize_precision("half")
    with pytest.raises(ValueError, match="one of 32, bf16-mixed"):
        normalize_precision("auto", allow_auto=False)


def test_auto_is_float32_channels_last_where_bf16_is_emulated(emulating_cpu):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        choice = resolve_compute("auto")
    assert (choice.precision, choice.channels_last, choice.device, choice.requested) == (
        "32",
        True,
        "cpu",
        "auto",
    )
    assert "AVX2 without native bfloat16" in choice.reason
    assert choice.describe().startswith("precision 32, channels-last (auto: CPU AVX2")


def test_auto_is_bf16_where_the_cpu_has_it_and_it_measures_faster(native_bf16_cpu):
    choice = resolve_compute("auto", None)
    assert (choice.precision, choice.channels_last) == ("bf16-mixed", True)
    assert "native bfloat16, measured 2.00x float32's speed" in choice.reason


@pytest.mark.parametrize(("speedup", "precision"), [(0.8, "32"), (1.1, "32"), (1.3, "bf16-mixed")])
def test_native_bf16_is_picked_only_where_it_is_faster(native_bf16_cpu, monkeypatch, speedup,
                                                       precision):  # fmt: skip
    # An Intel Xeon with AVX512-BF16 and no AMX ran the training step at 0.8x in bf16.
    monkeypatch.setattr(hardware, "bf16_speedup", lambda: speedup)
    choice = resolve_compute("auto")
    assert choice.precision == precision and f"{speedup:.2f}x" in choice.reason
    assert resolve_compute("bf16").precision == "bf16-mixed"  # asking still wins


def test_the_probe_is_not_run_where_bf16_is_emulated(emulating_cpu, probe_cache):
    assert resolve_compute("auto").precision == "32"
    assert probe_cache[1] == [] and not probe_cache[0].exists()


def test_the_probe_runs_once_per_cpu_kind_and_is_remembered(probe_cache, monkeypatch):
    path, calls = probe_cache
    assert hardware.bf16_speedup() == 1.7 and hardware.bf16_speedup() == 1.7
    assert len(calls) == 1
    entry = json.loads(path.read_text())[hardware.probe_key()]
    assert entry["bf16_speedup"] == 1.7 and entry["measured"]
    monkeypatch.setattr(hardware, "_measured", {})  # a new process reads the file
    assert hardware.bf16_speedup() == 1.7 and len(calls) == 1
    # Another CPU kind (or thread count, torch, ISA cap) is measured and kept beside it.
    monkeypatch.setattr(hardware, "probe_key", lambda: "another CPU")
    assert hardware.bf16_speedup() == 1.7 and calls[-1] == "another CPU"
    assert set(json.loads(path.read_text())) == {calls[0], "another CPU"}
    # A damaged file is measured over and rewritten whole.
    path.write_text('{"another CPU": {"bf16_')
    monkeypatch.setattr(hardware, "_measured", {})
    assert hardware.bf16_speedup() == 1.7 and len(calls) == 3
    assert json.loads(path.read_text())["another CPU"]["bf16_speedup"] == 1.7


def test_the_probe_key_names_what_the_speed_depends_on(monkeypatch):
    import torch

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    key = hardware.probe_key()
    for part in (hardware.cpu_model(), hardware.cpu_capability(), "onednn AVX2",
                 f"torch {torch.__version__}", f"{torch.get_num_threads()} threads"):  # fmt: skip
        assert part in key


def test_the_probe_measures_a_real_training_step():
    # Tiny shapes: where bf16 is emulated the probe never runs, but this call must still end.
    speedup = hardware.measure_bf16_speedup(batch=2, channels=8, size=8, repeats=2)
    assert math.isfinite(speedup) and speedup > 0


def test_explicit_values_win_and_emulated_bf16_warns(emulating_cpu):
    assert resolve_compute("32", False).to_dict() == {
        "precision": "32",
        "channels_last": False,
        "device": "cpu",
        "requested": "32",
        "reason": "as asked",
    }
    with pytest.warns(
        EmulatedBF16Warning, match=r"emulated: measured 7x slower 3x3 convolutions and over 100x"
    ):
        choice = resolve_compute("bf16")
    assert choice.precision == "bf16-mixed" and "emulates" in choice.reason
    with pytest.raises(ValueError, match="16-mixed needs a CUDA GPU"):
        resolve_compute("16-mixed", device="cpu")


def test_explicit_bf16_on_a_native_cpu_does_not_warn(native_bf16_cpu):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_compute("bf16-mixed").precision == "bf16-mixed"


@pytest.mark.parametrize(
    ("cap", "allowed"),
    [
        ("", True),
        ("AVX2", False),
        ("avx512_core", False),
        ("AVX512_CORE_BF16", True),
        ("ALL", True),
    ],
)
def test_onednn_isa_cap_is_read(monkeypatch, cap, allowed):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert hardware.onednn_isa_allows_bf16() is allowed


def _doctor_json(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", "from gifemo.cli import main; main()", "doctor", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="AVX2 emulation is an x86-64 setting"
)
def test_avx2_emulation_is_detected_as_a_cpu_without_native_bf16():
    report = _doctor_json(AVX2_ENV)
    assert report["cpu"]["capability"] == "AVX2"
    assert report["cpu"]["native_bf16"] is False
    assert report["auto"]["cpu"]["precision"] == "32"
    assert report["environment"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"


def test_doctor_reports_what_auto_picks_here():
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["auto"]["cpu"] == resolve_compute("auto", device="cpu").to_dict()
    assert report["cpu"]["native_bf16"] is hardware.cpu_has_native_bf16()
    assert report["torch"]["version"].startswith("2.")
    assert set(report["optional_programs"]) == {"imagemagick", "chromium"}
    text = CliRunner().invoke(app, ["doctor"]).output
    assert f"auto on cpu: precision {report['auto']['cpu']['precision']}" in text
    assert f"native bf16: {'yes' if report['cpu']['native_bf16'] else 'no'}" in text
    assert "cache dir: " in text


def test_a_run_stores_the_resolved_choice_in_its_config_checkpoint_and_report(
    tmp_path_factory, emulating_cpu, capsys
):
    from gifemo.evaluation import train_and_evaluate
    from gifemo.training.checkpoint import load_trained_model

    base = tmp_path_factory.getbasetemp()
    data = tiny_dataset(base / "synth")
    config = tiny_config(data, base / "cache", epochs=1, precision="auto", channels_last=None)
    run_dir = tmp_path_factory.mktemp("auto") / "run"
    result = train_and_evaluate(config, run_dir, progress=False)

    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (saved["precision"], saved["channels_last"]) == ("32", True)
    compute = load_trained_model(run_dir).metadata["compute"]
    assert compute["requested"] == "auto" and "AVX2 without native bfloat16" in compute["reason"]
    assert "training on cpu, precision 32, channels-last (auto: CPU AVX2" in capsys.readouterr().err
    training = result.report["context"]["training"]
    assert training["precision"] == "32" and "auto: CPU AVX2" in training["precision_reason"]
    assert "precision 32 (auto: CPU AVX2" in (run_dir / "report.md").read_text()

    # Resuming elsewhere with --precision auto re-decides for that machine (precision may change).
    from gifemo.training.run_dir import load_run_config

    assert load_run_config(run_dir, {"precision": "auto", "epochs": 2}).precision == "auto"
    with pytest.raises(ValueError, match="--size: saved 32, given 48"):
        load_run_config(run_dir, {"size": 48})


def test_predict_and_evaluate_default_to_auto(emulating_cpu, trained_run):
    import gifemo
    from gifemo.evaluation.evaluate import evaluate_run

    run_dir, _ = trained_run
    assert gifemo.load(run_dir).info.precision == "32"
    report = evaluate_run(
        run_dir, out=run_dir / "evaluations" / "auto", n_resamples=10, progress=False
    )
    assert report["context"]["precision"] == "32" and report["context"]["channels_last"] is True
    assert report["context"]["precision_reason"].startswith("auto: CPU AVX2")
    assert (
        Path(run_dir / "evaluations" / "auto" / "report.md")
        .read_text()
        .count("Evaluation precision")
        == 1
    )
