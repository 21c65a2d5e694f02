"""Leave-one-subject-out and the MEGC composite protocol, end to end on generated faces (one epoch per
fold: these tests check the protocol, not the model's quality)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mer_live.model.protocols as protocols
from mer_live.cli.main import main
from mer_live.corpora.fourdme import load_dataset
from mer_live.corpora.write import write_layout
from mer_live.model.config import TrainConfig
from mer_live.model.metrics import recognition_report

pytestmark = pytest.mark.slow  # make test-fast leaves this module out


def test_loso_trains_without_the_left_out_subject_and_pools_the_predictions(synth_extraction, monkeypatch):
    sequences, extraction = synth_extraction
    features = extraction.features
    seen, predicted = [], {}
    real_train, real_predict = protocols.train_model, protocols.predict_sequences

    def train_spy(train, val, *args, **kwargs):
        seen.append(({s.subject for s in train}, {s.subject for s in val}))
        return real_train(train, val, *args, **kwargs)

    def predict_spy(model, test, features, *args, **kwargs):
        probs = real_predict(model, test, features, *args, **kwargs)
        predicted.update({s.key: p for s, p in zip(test, probs)})
        return probs

    monkeypatch.setattr(protocols, "train_model", train_spy)
    monkeypatch.setattr(protocols, "predict_sequences", predict_spy)
    report = protocols.loso(sequences, features, TrainConfig(epochs=1, lr=1e-3), progress=False)

    subjects = sorted({s.subject for s in sequences})
    assert [f["subject"] for f in report["folds"]] == subjects
    for fold, (train, val) in zip(report["folds"], seen):
        assert fold["subject"] not in train | val and train and val and not train & val
    assert sum(f["n"] for f in report["folds"]) == report["pooled"]["n"] == len(sequences)
    truth = np.stack([s.multi_hot() for s in sequences])
    pooled = recognition_report(truth, np.stack([predicted[s.key] for s in sequences]), 0.2)
    assert report["pooled"]["uf1"] == pytest.approx(pooled["uf1"])  # one score over all folds' predictions


def test_loso_needs_three_subjects(synth_root):
    sequences = [s for s in load_dataset(synth_root) if s.subject in ("s01", "s02")]
    with pytest.raises(ValueError, match="≥ 3 subjects"):
        protocols.loso(sequences, {}, progress=False)


def test_composite_protocol_runs_over_three_datasets_in_their_layouts(synth_root, tmp_path, capsys):
    sequences = load_dataset(synth_root)
    roots = []
    for layout in ("casme2", "samm", "smic"):
        write_layout(sequences, tmp_path / layout, layout, progress=False)
        roots.append(str(tmp_path / layout))
    code = main(["evaluate", "--protocol", "composite", *roots, "--epochs", "1", "--lr", "1e-3", "--workers", "2"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == ["negative", "positive", "surprise"]
    assert set(report["by_dataset"]) == {"CASME II", "SAMM", "SMIC"}
    folds = [f["subject"] for f in report["folds"]]
    assert len(folds) == 9 and "CASME II/sub01" in folds and "SMIC/s1" in folds  # a subject per dataset
    # Others has no composite class (CASME II "others", SAMM "Other"; SMIC has no word for it)
    clips_with_a_class = sum(s.labels[0] != "Others" for s in sequences)
    assert report["pooled"]["n"] == 3 * clips_with_a_class
    assert report["pooled"]["threshold"] is None  # single label: the top class


def test_loso_refuses_a_checkpoint_and_holdout_needs_one(synth_root, capsys):
    assert main(["evaluate", str(synth_root), "--protocol", "loso", "--model", __file__]) == 2
    assert "--model: not used with --protocol loso (a model per fold" in capsys.readouterr().err
    assert main(["evaluate", str(synth_root)]) == 2
    assert "give --model" in capsys.readouterr().err
