import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mer_live.corpora.labels import CLASSES
from mer_live.model.checkpoint import CHECKPOINT_VERSION, CheckpointError, load_checkpoint, save_checkpoint
from mer_live.model.loss import FocalLoss
from mer_live.model.microattnet import (
    FusionAttention,
    MicroAttNet,
    MicroAttNetConfig,
    SqueezeExcitation,
    fused_for_inference,
)
from mer_live.model.predictor import Prediction, Predictor
from mer_live.stream.settings import config_from_json, config_to_json

SIZE = MicroAttNetConfig().input_size


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def batch(n: int) -> torch.Tensor:
    return torch.randn(n, 3, SIZE, SIZE)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture
def trained_model() -> MicroAttNet:
    """A model whose BatchNorm running statistics are no longer the initial 0/1."""
    model = MicroAttNet()
    with torch.no_grad():
        model(batch(4))
    return model.eval()


# --- config ---


def test_config_round_trip_and_validation():
    cfg = MicroAttNetConfig(fc_hidden=64, se_block=False)
    assert config_from_json(MicroAttNetConfig, config_to_json(cfg)) == cfg
    with pytest.raises(ValueError, match="bogus"):
        config_from_json(MicroAttNetConfig, {**config_to_json(cfg), "bogus": 1})
    with pytest.raises(ValueError, match="block1_channels"):
        MicroAttNetConfig(block1_channels=0)
    with pytest.raises(ValueError, match="fc_dropout"):
        MicroAttNetConfig(fc_dropout=1.0)
    with pytest.raises(ValueError, match="divisible"):
        MicroAttNetConfig(input_size=100)


# --- model ---


def test_each_sample_is_scored_on_its_own_input(trained_model):
    """In eval mode a sample's logits do not depend on what else is in the batch, and they follow
    its input: a batch gives what each sample gives alone, and a changed sample changes only its row."""
    x = batch(3)
    with torch.inference_mode():
        together = trained_model(x)
        alone = torch.cat([trained_model(x[i : i + 1]) for i in range(3)])
        changed = x.clone()
        changed[1] = torch.randn_like(changed[1])
        after = trained_model(changed)
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(after[[0, 2]], together[[0, 2]], atol=1e-5)
    assert not torch.allclose(after[1], together[1], atol=1e-3)


def test_every_parameter_gets_a_gradient():
    model = MicroAttNet().train()
    targets = torch.randint(0, 2, (4, len(CLASSES))).float()
    FocalLoss()(model(batch(4)), targets).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_attention_weights_are_a_distribution_over_streams():
    model = MicroAttNet().eval()
    _, info = model(batch(3), return_attention=True)
    for key in ("alpha1", "alpha2"):
        alpha = info[key]
        assert alpha.shape == (3, 3)
        assert (alpha >= 0).all()
        torch.testing.assert_close(alpha.sum(dim=1), torch.ones(3))
    gate = info["se_gate"]
    assert gate.shape == (3, model.config.block2_channels)
    assert ((gate > 0) & (gate < 1)).all()


@pytest.mark.parametrize("fusion_attention", [True, False])
@pytest.mark.parametrize("se_block", [True, False])
def test_ablation_switches(fusion_attention, se_block):
    full = MicroAttNet()
    model = MicroAttNet(MicroAttNetConfig(fusion_attention=fusion_attention, se_block=se_block))

    def count(net, kind):
        return sum(isinstance(m, kind) for m in net.modules())

    assert count(model, FusionAttention) == (2 if fusion_attention else 0)
    assert count(model, SqueezeExcitation) == (1 if se_block else 0)
    assert (model.attn1 is None, model.attn2 is None) == (not fusion_attention,) * 2
    assert (model.se is None) == (not se_block)

    removed = tuple(kind for kind, on in ((FusionAttention, fusion_attention), (SqueezeExcitation, se_block)) if not on)
    removed_params = sum(n_params(m) for m in full.modules() if isinstance(m, removed))
    assert n_params(model) == n_params(full) - removed_params

    logits, info = model.eval()(batch(2), return_attention=True)
    assert logits.shape == (2, len(CLASSES))
    assert (info["alpha1"] is None, info["alpha2"] is None) == (not fusion_attention,) * 2
    assert (info["se_gate"] is None) == (not se_block)


def test_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match="expected input of shape"):
        MicroAttNet()(torch.randn(2, 2, SIZE, SIZE))


# --- focal loss ---


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_focal_loss_with_gamma_zero_is_bce(reduction):
    logits = torch.randn(8, len(CLASSES)) * 3
    targets = torch.randint(0, 2, (8, len(CLASSES))).float()
    torch.testing.assert_close(
        FocalLoss(gamma=0.0, reduction=reduction)(logits, targets),
        F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction),
    )


def test_focal_loss_down_weights_easy_examples():
    easy_logit, target = torch.tensor([4.0]), torch.tensor([1.0])
    focal = FocalLoss(gamma=2.0)(easy_logit, target)
    bce = FocalLoss(gamma=0.0)(easy_logit, target)
    assert 0 < focal < bce


def test_focal_loss_is_stable_for_extreme_logits():
    logits = torch.tensor([-200.0, 200.0], requires_grad=True)
    loss = FocalLoss(alpha=0.25)(logits, torch.tensor([1.0, 0.0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


# --- checkpoint ---


def test_checkpoint_round_trip(tmp_path, trained_model):
    path = save_checkpoint(tmp_path / "m.pt", trained_model, labels=CLASSES, extra={"epoch": 3, "uar": 0.5})
    loaded, ckpt = load_checkpoint(path)
    assert not loaded.training
    assert ckpt.config == trained_model.config
    assert (ckpt.labels, ckpt.version, ckpt.extra) == (CLASSES, CHECKPOINT_VERSION, {"epoch": 3, "uar": 0.5})
    x = batch(2)
    with torch.inference_mode():
        assert torch.equal(loaded(x), trained_model(x))


def test_a_checkpoint_holds_the_weights_once_and_nothing_else_big(tmp_path, trained_model):
    """No optimiser state, no duplicated tensors: the file is the parameters and buffers plus a
    little metadata."""
    path = save_checkpoint(tmp_path / "m.pt", trained_model, labels=CLASSES)
    tensors = sum(t.numel() * t.element_size() for t in trained_model.state_dict().values())
    assert tensors <= path.stat().st_size <= tensors * 1.05 + 64_000


def test_missing_checkpoint_file(tmp_path):
    path = tmp_path / "absent.pt"
    with pytest.raises(CheckpointError, match="not found") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_truncated_checkpoint(tmp_path, trained_model):
    data = save_checkpoint(tmp_path / "m.pt", trained_model, labels=CLASSES).read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def _wrong_version(payload):
    payload["version"] = CHECKPOINT_VERSION + 1


def _wrong_labels(payload):
    payload["labels"] = list(reversed(CLASSES))


def _missing_key(payload):
    del payload["config"]


def _config_mismatch(payload):
    payload["config"]["block2_channels"] = 16


def _missing_tensor(payload):
    del payload["state_dict"]["head.out.weight"]


def _unknown_config_key(payload):
    payload["config"]["depth"] = 3


@pytest.mark.parametrize(
    "tamper, message",
    [
        (_wrong_version, "version"),
        (_wrong_labels, "labels"),
        (_missing_key, "missing keys"),
        (_config_mismatch, "shape"),
        (_missing_tensor, "head.out.weight"),
        (_unknown_config_key, "depth"),
    ],
)
def test_tampered_checkpoint(tmp_path, trained_model, tamper, message):
    path = save_checkpoint(tmp_path / "m.pt", trained_model, labels=CLASSES)
    payload = torch.load(path, weights_only=True)
    tamper(payload)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)


def test_save_rejects_non_json_extra(tmp_path, trained_model):
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "m.pt", trained_model, labels=CLASSES, extra={"t": torch.zeros(1)})


# --- predictor ---


def test_predictor(tmp_path, trained_model):
    path = save_checkpoint(tmp_path / "m.pt", trained_model, labels=CLASSES)
    predictor = Predictor.from_checkpoint(path, device="cpu")
    samples = np.random.default_rng(0).standard_normal((4, 3, SIZE, SIZE)).astype(np.float32)
    pred = predictor.predict(samples)

    assert list(pred.probs) == list(CLASSES)
    assert all(0.0 <= p <= 1.0 for p in pred.probs.values())
    assert pred.per_sample_probs.shape == (4, len(CLASSES))
    np.testing.assert_allclose(list(pred.probs.values()), pred.per_sample_probs.mean(axis=0), rtol=1e-6)

    for alphas in (pred.attention, pred.attention["block1"]):
        weights = [alphas[k] for k in ("alpha_u", "alpha_v", "alpha_m")]
        assert all(w >= 0 for w in weights)
        assert sum(weights) == pytest.approx(1.0, abs=1e-5)
    assert 0.0 < pred.se_gate_mean < 1.0

    above = [c for c in CLASSES if pred.probs[c] >= 0.2]
    assert sorted(pred.labels(0.2)) == sorted(above or [max(pred.probs, key=pred.probs.get)])


def test_fused_model_gives_the_same_outputs_without_conv_batchnorm(trained_model):
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((4, 3, SIZE, SIZE)).astype(np.float32))
    fused = fused_for_inference(trained_model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in trained_model.modules())  # the original is untouched
    with torch.inference_mode():
        (logits, info), (fused_logits, fused_info) = trained_model.eval()(x, True), fused(x, True)
    torch.testing.assert_close(fused_logits, logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fused_info["alpha2"], info["alpha2"], rtol=1e-4, atol=1e-5)


def test_predictor_takes_the_release_direction_from_the_checkpoint(tmp_path, trained_model):
    """Checkpoints from before `release_flow` existed were trained on the paper's apex→offset."""
    old = save_checkpoint(tmp_path / "old.pt", trained_model, labels=CLASSES)
    new = save_checkpoint(tmp_path / "new.pt", trained_model, labels=CLASSES, extra={"release_flow": "offset_to_apex"})
    assert Predictor.from_checkpoint(old, device="cpu").release_flow == "apex_to_offset"
    assert Predictor.from_checkpoint(new, device="cpu").release_flow == "offset_to_apex"


def test_predictor_without_attention_modules():
    model = MicroAttNet(MicroAttNetConfig(fusion_attention=False, se_block=False))
    pred = Predictor(model, device="cpu").predict(np.zeros((1, 3, SIZE, SIZE), np.float32))
    assert pred.attention is None and pred.se_gate_mean is None


def test_predictor_rejects_bad_samples():
    predictor = Predictor(MicroAttNet(), device="cpu")
    with pytest.raises(ValueError, match="shape"):
        predictor.predict(np.zeros((3, SIZE, SIZE), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        predictor.predict(np.full((1, 3, SIZE, SIZE), np.nan, np.float32))


def _prediction(probs):
    return Prediction(
        probs=dict(zip(CLASSES, probs)),
        attention=None,
        se_gate_mean=None,
        per_sample_probs=np.array([probs], np.float32),
    )


def test_labels_threshold_rule():
    assert _prediction([0.1, 0.5, 0.05, 0.2, 0.3]).labels(0.2) == ["Positive", "Others", "Surprise"]
    # Nothing reaches the threshold: the single most probable class.
    assert _prediction([0.1, 0.05, 0.15, 0.02, 0.01]).labels(0.2) == ["Repression"]
