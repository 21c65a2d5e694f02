"""Learning from small sets (issue 22): flow augmentation, fine-tuning from a checkpoint, the apex
source, class balance and the per-fold class counts."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pytest
import torch

from mer_live.cli.main import main
from mer_live.corpora.fourdme import load_dataset
from mer_live.corpora.labels import CLASSES
from mer_live.model.augment import jitter_magnitude, mirror_and_shift, mixup, rotate_and_scale
from mer_live.model.checkpoint import load_checkpoint, save_checkpoint
from mer_live.model.config import TrainConfig
from mer_live.model.evaluate import make_split
from mer_live.model.extract import apex_position, extract_dataset
from mer_live.model.loss import FocalLoss
from mer_live.model.microattnet import MicroAttNet, MicroAttNetConfig
from mer_live.model.protocols import clips_per_class, fold_table, loso
from mer_live.model.train import _sample_weights, frozen_modules, start_from, train_model
from mer_live.stream.features import PreprocessConfig

SIZE = 32


def uniform_flow(u: float, v: float) -> np.ndarray:
    """One sample (1, 3, S, S) whose every pixel moves by (u, v)."""
    x = np.zeros((1, 3, SIZE, SIZE), np.float32)
    x[0, 0], x[0, 1], x[0, 2] = u, v, np.hypot(u, v)
    return x


# ---------------------------------------------------------------- augmentation
def test_a_mirrored_sample_moves_the_other_way_along_x():
    x = np.concatenate([uniform_flow(0.5, 0.2)] * 64)
    x[:, :, :, : SIZE // 2] = 0  # the motion on the right half only
    mirrored = mirror_and_shift(x, np.random.default_rng(0), max_shift_px=0)
    kept = np.abs(mirrored[:, 0, :, : SIZE // 2]).max(axis=(1, 2)) == 0  # still on the right: not mirrored
    assert 10 < (~kept).sum() < 54
    assert np.allclose(mirrored[kept], x[0])
    assert np.allclose(mirrored[~kept, 0, :, : SIZE // 2], -0.5)
    assert np.allclose(mirrored[~kept, 1], x[0, 1, :, ::-1])


@pytest.mark.parametrize("seed", range(5))
def test_a_turned_sample_turns_its_vectors_with_its_pixels(seed):
    """A face turned by θ in the picture: a rightward motion now points θ away from the x axis, by
    as much as the pixels turned, and a zoom makes it longer by the zoom."""
    x = uniform_flow(0.4, 0.0)
    turned = rotate_and_scale(x, np.random.default_rng(seed), max_degrees=30, max_scale=0.2)
    centre = turned[0, :, SIZE // 2, SIZE // 2]
    probe = np.zeros((SIZE, SIZE), np.float32)
    probe[SIZE // 2, SIZE - 4] = 1.0  # where does a point right of the centre go?
    moved = rotate_and_scale(probe[None, None].repeat(3, axis=1), np.random.default_rng(seed), 30, 0.2)[0, 2]
    y, x_ = np.unravel_index(np.argmax(moved), moved.shape)
    pixel_angle = np.arctan2(y - (SIZE - 1) / 2, x_ - (SIZE - 1) / 2)
    assert np.arctan2(centre[1], centre[0]) == pytest.approx(pixel_angle, abs=0.12)
    assert np.hypot(centre[0], centre[1]) / 0.4 == pytest.approx(centre[2] / 0.4, rel=1e-5)
    assert 0.8 * 0.4 <= np.hypot(centre[0], centre[1]) <= 1.2 * 0.4 + 1e-6


def test_jitter_scales_a_sample_as_a_whole_and_stays_in_range():
    x = np.concatenate([uniform_flow(0.5, -0.5), uniform_flow(0.9, 0.0)])
    jittered = jitter_magnitude(x, np.random.default_rng(1), 0.3)
    ratios = jittered[:, 0, 0, 0] / x[:, 0, 0, 0]
    for i, ratio in enumerate(ratios):
        assert 0.7 <= ratio <= 1.3 or jittered[i, 0, 0, 0] == 1.0
        assert np.allclose(jittered[i], np.clip(x[i] * ratio, -1, 1), atol=1e-6)
    assert jittered.min() >= -1 and jittered.max() <= 1


def test_mixup_within_a_class_blends_only_samples_of_that_class():
    rng = np.random.default_rng(2)
    x = np.concatenate([uniform_flow(0.1, 0)] * 4 + [uniform_flow(0.9, 0)] * 4)
    y = np.array([[1, 0]] * 4 + [[0, 1]] * 4, np.float32)
    mixed_x, mixed_y = mixup(x, y, rng, alpha=0.4, within_class=True)
    assert np.array_equal(mixed_y, y)
    assert np.allclose(mixed_x[:4], x[:4]) and np.allclose(mixed_x[4:], x[4:])  # same-class partners only
    across_x, across_y = mixup(x, y, np.random.default_rng(3), alpha=0.4, within_class=False)
    assert np.allclose(across_y.sum(axis=1), 1.0)
    blend = across_y[:, 1]  # the share of the 0.9 class in each sample equals its share of 0.9 flow
    assert np.allclose(across_x[:, 0, 0, 0], 0.1 + 0.8 * blend, atol=1e-5)


# ---------------------------------------------------------------- class balance
def test_rare_classes_are_drawn_and_weighted_up():
    y = np.array([[1, 0, 0]] * 8 + [[0, 1, 0]] * 2 + [[0, 0, 1]] * 2, np.float32)
    weights = _sample_weights(y)
    assert weights[8] == pytest.approx(4 * weights[0]) and weights.sum() == pytest.approx(1.0)
    logits, targets = torch.zeros(3, 3), torch.eye(3)
    plain = FocalLoss(gamma=0, reduction="none")(logits, targets)
    weighted = FocalLoss(gamma=0, reduction="none", positive_weights=torch.tensor([0.5, 2.0, 2.0]))(logits, targets)
    assert torch.allclose(torch.diagonal(weighted), torch.diagonal(plain) * torch.tensor([0.5, 2.0, 2.0]))
    off_diagonal = ~torch.eye(3, dtype=torch.bool)
    assert torch.allclose(weighted[off_diagonal], plain[off_diagonal])  # negatives keep their weight


# ---------------------------------------------------------------- apex source
def test_the_apex_is_the_sheets_the_middle_or_left_to_detection(synth_root):
    seq = load_dataset(synth_root)[0]
    numbers = seq.event_numbers()
    assert numbers[apex_position(seq, numbers, "labelled")] == seq.apex
    middle = numbers[apex_position(seq, numbers, "middle")]
    assert abs(middle - (seq.onset + seq.offset) / 2) <= 0.5
    assert apex_position(seq, numbers, "detected") is None
    assert apex_position(replace(seq, apex=seq.onset), numbers, "labelled") == 1
    with pytest.raises(ValueError, match="apex must be one of"):
        apex_position(seq, numbers, "peak")


@pytest.mark.slow
def test_labelled_apex_features_are_cut_at_the_sheets_apex_and_cached_apart(synth_root, tmp_path):
    sequences = load_dataset(synth_root)[:2]
    config = PreprocessConfig(n_views=1)
    labelled = extract_dataset(sequences, tmp_path, config, workers=1, progress=False, apex="labelled")
    detected = extract_dataset(sequences, tmp_path, config, workers=1, progress=False, apex="detected")
    for seq in sequences:
        assert labelled.features[seq.key]["apex_frames"].tolist() == [seq.apex]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"features-{config.digest()}", f"features-{config.digest()}-apex-labelled"]
    )
    assert labelled.apex_errors(sequences) == [0, 0] and len(detected.apex_errors(sequences)) == 2


# ---------------------------------------------------------------- fine-tuning
def test_a_starting_checkpoint_gives_its_weights_except_a_layer_of_another_shape():
    torch.manual_seed(0)
    source = MicroAttNet(MicroAttNetConfig())
    target = MicroAttNet(MicroAttNetConfig(n_classes=3))
    fresh = start_from(target, source.state_dict())
    assert fresh == ["head.out.weight", "head.out.bias"]
    assert torch.equal(target.streams[0].block1.conv.weight, source.streams[0].block1.conv.weight)
    assert torch.equal(target.head.fc.weight, source.head.fc.weight)


@pytest.mark.slow
@pytest.mark.parametrize("freeze", ["streams", "block1"])
def test_fine_tuning_keeps_the_frozen_layers_and_trains_the_rest(synth_extraction, freeze):
    sequences, extraction = synth_extraction
    split = make_split(sequences, test_fraction=0.34, val_fraction=0.5, seed=0)
    torch.manual_seed(1)
    start = MicroAttNet(MicroAttNetConfig()).state_dict()
    model, _ = train_model(
        split.train,
        split.val,
        extraction.features,
        config=TrainConfig(epochs=2, patience=2, freeze=freeze),
        progress=False,
        init_state=start,
    )
    trained = model.state_dict()
    kept = {
        f"{name}.{key}"
        for name, module in model.named_modules()
        if module in frozen_modules(model, freeze)
        for key in module.state_dict()
    }
    assert kept and all(torch.equal(trained[k], start[k]) for k in kept)  # BatchNorm statistics included
    assert not torch.equal(trained["head.fc.weight"], start["head.fc.weight"])
    changed_streams = not torch.equal(trained["streams.0.block2.conv.weight"], start["streams.0.block2.conv.weight"])
    assert changed_streams == (freeze == "block1")


@pytest.mark.slow
def test_mer_train_fine_tunes_from_init_and_records_where_it_started(synth_root, tmp_path, capsys):
    torch.manual_seed(2)
    start = save_checkpoint(tmp_path / "pre.pt", MicroAttNet(MicroAttNetConfig(se_block=False)), labels=CLASSES)
    out = tmp_path / "fine.pt"
    cache = ["--cache", str(tmp_path / "cache")]
    args = ["train", str(synth_root), "--out", str(out), "--init", str(start), "--freeze", "block1", "--epochs", "1"]
    assert main([*args, *cache, "--apex", "middle"]) == 0
    model, checkpoint = load_checkpoint(out)
    assert model.se is None  # the starting checkpoint's architecture
    assert checkpoint.extra["init"] == {"checkpoint": str(start), "freeze": "block1"}
    assert checkpoint.extra["apex"] == "middle"
    printed = json.loads(capsys.readouterr().out)
    assert printed["epochs_run"] == 1


# ---------------------------------------------------------------- the LOSO table
@pytest.mark.slow
def test_each_fold_reports_its_training_clips_per_class_and_warns_of_rare_ones(synth_extraction, caplog):
    sequences, extraction = synth_extraction
    with caplog.at_level(logging.WARNING, logger="mer_live.model.protocols"):
        report = loso(sequences, extraction.features, TrainConfig(epochs=1), progress=False, min_class_clips=50)
    for fold in report["folds"]:  # three subjects: one tested, one for early stopping, one trained on
        others = {s.subject for s in sequences} - {fold["subject"]}
        one_subject = [clips_per_class([s for s in sequences if s.subject == o], CLASSES) for o in others]
        assert fold["train_clips"] in one_subject
        assert fold["wall_s"] > 0
    assert len([r for r in caplog.records if "fewer than 50 training clips" in r.getMessage()]) == len(report["folds"])
    table = fold_table(report)
    assert "train clips:" in table and all(f["subject"] in table for f in report["folds"])
