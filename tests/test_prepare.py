"""`course.py prepare` in an offline room: honest messages and an exit code that means something."""
from __future__ import annotations

import json

from tests.conftest import write_image

from coursekit import prepare


def tiny_lfw(root):
    for name in ("Ada_Lovelace", "Alan_Turing"):
        for k in (1, 2):
            write_image(root / name / f"{name}_{k:04d}.jpg", size=(250, 250), seed=k)
    return root


def test_offline_with_lfw_but_no_olivetti_succeeds_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_LFW_DIR", str(tiny_lfw(tmp_path / "lfw")))
    assert prepare.main([]) == 0
    out = capsys.readouterr().out
    assert "✓ LFW" in out
    assert "Olivetti" in out and "Downloading was skipped because COURSE_OFFLINE=1 is set" in out
    assert "no lesson needs them" in out


def test_offline_without_lfw_fails_and_names_the_affected_lessons(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert prepare.main([]) == 1
    out = capsys.readouterr().out
    assert "✗ LFW" in out and "Downloading was skipped because COURSE_OFFLINE=1 is set" in out
    assert "lessons 0-10 will use the synthetic faces" in out


def write_encoder(models, info):
    models.mkdir(parents=True)
    (models / "encoder.keras").write_bytes(b"not read by the report")
    (models / "encoder.json").write_text(json.dumps(info))


def test_a_quick_mode_encoder_is_not_called_trained(monkeypatch, tmp_path, capsys):
    import os
    from pathlib import Path
    write_encoder(Path(os.environ["COURSE_DATA_DIR"]) / "models",
                  {"dataset": "synthetic", "quick_mode": True, "images_seen": 2048, "best_val_auc": 0.548})
    status = prepare.encoder_status()
    assert status.startswith("only a quick test-mode encoder") and "lessons 7-10 will retrain" in status
    assert "2,048 images" in status and "0.548" in status


def test_a_real_encoder_is_reported_with_its_provenance(tmp_path):
    import os
    from pathlib import Path
    write_encoder(Path(os.environ["COURSE_DATA_DIR"]) / "models",
                  {"dataset": "lfw", "quick_mode": False, "images_seen": 1_500_000, "best_val_auc": 0.93})
    status = prepare.encoder_status()
    assert status.startswith("trained encoder (trained on lfw, 1,500,000 images, validation AUC 0.930)")


def test_no_encoder_yet():
    assert prepare.encoder_status().startswith("not yet (lesson 6")
