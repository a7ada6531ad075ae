"""Tests of the captioning experiment: caption F-labels, scores, the comparison interface, the data switch."""

import json
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from emms_ref import emms_score
from emms_ref.evaluation import weighted_kendall_tau
from emms_ref.experiments import captioning
from emms_ref.labels import TextEncoder


class CharacterCountEncoder(TextEncoder):
    """Deterministic stand-in encoder: counts of a few letters plus a hash feature, and a call log."""

    def __init__(self, name="letters"):
        super().__init__(name, 4)
        self.encoded = []

    def encode_batch(self, texts):
        self.encoded.extend(texts)
        return np.array(
            [[text.count("a"), text.count("e"), len(text), zlib.crc32(text.encode()) % 7] for text in texts],
            dtype=np.float32,
        )


CAPTIONS = [["a red circle", "one red ball"], ["a blue square"], ["a green triangle", "green", "a tri"]]


def test_flabels_average_is_mean_of_caption_rows(tmp_path):
    encoder = CharacterCountEncoder()
    average = captioning.caption_flabels(CAPTIONS, {"letters": encoder}, cache_dir=tmp_path)["letters"]
    per_caption = captioning.caption_flabels(CAPTIONS, {"letters": encoder}, mode="per_caption", cache_dir=tmp_path)["letters"]

    assert average.shape == (3, 4)
    assert per_caption.shape == (6, 4)
    expected = encoder.encode_batch(["a green triangle", "green", "a tri"]).mean(axis=0)
    np.testing.assert_allclose(average[2], expected, rtol=1e-6)
    np.testing.assert_allclose(per_caption[1], encoder.encode_batch(["one red ball"])[0])


def test_flabels_encode_each_distinct_caption_once(tmp_path):
    encoder = CharacterCountEncoder()
    captions = [["same caption", "same caption"], ["same caption"]]
    captioning.caption_flabels(captions, {"letters": encoder}, cache_dir=tmp_path)
    assert encoder.encoded == ["same caption"]

    # A second call finds every caption in the on-disk cache.
    encoder.encoded.clear()
    captioning.caption_flabels(captions, {"letters": encoder}, cache_dir=tmp_path)
    assert encoder.encoded == []


def test_flabels_reject_flat_caption_list(tmp_path):
    encoder = CharacterCountEncoder()
    with pytest.raises(TypeError, match=r"captions\[0\] must be a list of str"):
        captioning.caption_flabels(["a photo of a cat", "a dog"], {"letters": encoder}, cache_dir=tmp_path)
    with pytest.raises(TypeError, match="single str"):
        captioning.caption_flabels("a cat", {"letters": encoder}, cache_dir=tmp_path)
    with pytest.raises(TypeError, match=r"captions\[0\]\[1\] must be a str"):
        captioning.caption_flabels([["ab", None]], {"letters": encoder}, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="captions is empty"):
        captioning.caption_flabels([], {"letters": encoder}, cache_dir=tmp_path)
    assert encoder.encoded == []


def test_flabels_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        captioning.caption_flabels(CAPTIONS, {"letters": CharacterCountEncoder()}, mode="sum", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="no captions"):
        captioning.caption_flabels([["a"], []], {"letters": CharacterCountEncoder()}, cache_dir=tmp_path)


def test_scores_match_direct_emms_call():
    rng = np.random.default_rng(0)
    features = {"good": rng.normal(size=(60, 5)), "noise": rng.normal(size=(60, 5))}
    target = features["good"] @ rng.normal(size=(5, 3))
    f_labels = {"one": target + 0.1 * rng.normal(size=target.shape), "two": target + 0.5 * rng.normal(size=target.shape)}

    scores, seconds, weights = captioning.captioning_scores(features, f_labels)

    assert set(scores) == {"EMMS", "LogME (F-labels)"}
    direct = emms_score(features["good"], list(f_labels.values()))
    assert scores["EMMS"][0] == pytest.approx(direct.score)
    np.testing.assert_allclose(weights["good"], direct.weights)
    assert scores["EMMS"][0] > scores["EMMS"][1]
    assert scores["LogME (F-labels)"][0] > scores["LogME (F-labels)"][1]
    assert all(value >= 0 for value in seconds.values())


def test_comparison_interface(monkeypatch, tmp_path):
    rng = np.random.default_rng(1)
    images = np.zeros((40, 64, 64, 3), dtype=np.uint8)
    captions = [[f"caption {index % 5}", f"picture {index % 3}"] for index in range(40)]
    data = captioning.CaptionData(name="easyvqa_train", images=images, captions=captions, synthetic=True)
    members = ["model_a", "model_b", "model_c"]
    features = {name: rng.normal(size=(40, 6)) for name in members}
    truth = {"models": {"model_a": {"bleu4_mean": 0.3}, "model_b": {"bleu4_mean": 0.6}, "model_c": {"bleu4_mean": 0.5}}}

    monkeypatch.setattr(captioning, "easy_vqa_caption_data", lambda split, max_images=None: data)
    monkeypatch.setattr(captioning, "captioning_encoders", lambda **kwargs: ({"letters": CharacterCountEncoder()}, {}))
    monkeypatch.setattr(captioning, "caption_zoo_features", lambda data, **kwargs: (features, {}))
    monkeypatch.setattr(captioning, "load_captioning_ground_truth", lambda path=None: truth)

    result = captioning.captioning_comparison(cache_dir=tmp_path)

    assert set(result) >= {"task", "models", "ground_truth", "scores", "seconds", "weighted_tau", "flabel_encoders"}
    assert result["models"] == members
    assert result["ground_truth"] == [0.3, 0.6, 0.5]
    assert result["flabel_encoders"] == ["letters"]
    for method in ("EMMS", "LogME (F-labels)"):
        assert len(result["scores"][method]) == 3
        assert result["weighted_tau"][method] == pytest.approx(weighted_kendall_tau(result["scores"][method], [0.3, 0.6, 0.5]))


def test_published_switch_reads_karpathy_folder(monkeypatch, tmp_path):
    (tmp_path / "images").mkdir()
    entries = []
    for index in range(3):
        Image.new("RGB", (50, 70), (10 * index, 0, 0)).save(tmp_path / "images" / f"{index}.png")
        entries.append({"filename": f"{index}.png", "imgid": index, "split": "train", "sentences": [{"raw": f"photo {index}"}]})
    (tmp_path / "dataset_flickr30k.json").write_text(json.dumps({"dataset": "flickr30k", "images": entries}), encoding="utf-8")

    monkeypatch.setenv(captioning.CAPTIONS_ROOT_VARIABLE, str(tmp_path))
    data = captioning.caption_task_data("train", max_images=2)

    assert data.name == "flickr30k_train"
    assert not data.synthetic
    assert data.images.shape == (2, 64, 64, 3)
    assert data.captions == [["photo 0"], ["photo 1"]]


def test_default_task_is_synthetic_easy_vqa(monkeypatch):
    monkeypatch.delenv(captioning.CAPTIONS_ROOT_VARIABLE, raising=False)
    data = captioning.caption_task_data("train", max_images=5)
    assert data.synthetic
    assert data.name == "easyvqa_train"
    assert len(data.captions) == 5
    assert all(len(image_captions) == 5 for image_captions in data.captions)


def test_zoo_features_extracted_in_cached_blocks(monkeypatch):
    from emms_ref.experiments import easy_vqa_features

    calls = []

    def fake_features(images, *, split, members=None, cache_dir=None, progress=True):
        calls.append((split, len(images)))
        return {"model": images[:, 0, 0, :1].astype(np.float32)}, {"model": 1.0}

    monkeypatch.setattr(easy_vqa_features, "easy_vqa_zoo_features", fake_features)
    images = np.arange(2500, dtype=np.uint8).reshape(2500, 1, 1, 1).repeat(3, axis=3)
    data = captioning.CaptionData(name="easyvqa_train", images=images, captions=[["x"]] * 2500, synthetic=True)

    features, seconds = captioning.caption_zoo_features(data)

    assert calls == [("train", 1000), ("train_from1000_", 1000), ("train_from2000_", 500)]
    np.testing.assert_array_equal(features["model"][:, 0], images[:, 0, 0, 0])
    assert seconds["model"] == 3.0


def load_ground_truth_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "captioning_ground_truth.py"
    spec = importlib.util.spec_from_file_location("captioning_ground_truth", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ground_truth_decoder_learns_from_informative_features():
    script = load_ground_truth_script()
    rng = np.random.default_rng(0)
    colors = ["red", "blue", "green", "yellow"]
    train_colors = rng.integers(0, 4, size=200)
    test_colors = rng.integers(0, 4, size=60)

    def captions_of(indices):
        # Captions of at least four words, because BLEU-4 is 0 without a matching 4-gram.
        return [[f"a {colors[i]} circle in the image", f"one {colors[i]} circle on a white background"] for i in indices]

    def informative(indices):
        return np.eye(4)[indices] + 0.01 * rng.normal(size=(len(indices), 4))

    args = script.parse_args(["--epochs", "20", "--batch-size", "50", "--hidden-size", "32", "--embedding-size", "16"])
    # One thread, as the script uses: on a busy 2-core machine two threads train many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        informed = script.train_and_score(
            informative(train_colors), captions_of(train_colors), informative(test_colors), captions_of(test_colors), args, seed=0
        )
        uninformed = script.train_and_score(
            rng.normal(size=(200, 4)), captions_of(train_colors), rng.normal(size=(60, 4)), captions_of(test_colors), args, seed=0
        )
    finally:
        torch.set_num_threads(threads)

    assert informed["bleu4"] > 0.9
    assert uninformed["bleu4"] < informed["bleu4"] - 0.2


def test_ground_truth_vocabulary_round_trip():
    script = load_ground_truth_script()
    vocabulary = script.CaptionVocabulary(["a red circle", "a blue square"])
    ids = vocabulary.encode(["a red circle", "a blue square"])
    assert ids.shape == (2, 5)
    assert vocabulary.decode(ids[0, 1:].tolist()) == "a red circle"


# --- CIFAR-10 images with class captions -----------------------------------------------------


def test_cifar10_captions_name_the_class():
    from emms_ref.experiments.cifar10 import cifar10_training_subset
    from emms_ref.tasks.captions import with_article

    data = captioning.cifar10_caption_data("train", images_per_class=3)
    images, labels, class_names = cifar10_training_subset(3)

    assert data.name == "cifar10_train"
    assert data.synthetic
    assert data.images.shape == (30, 32, 32, 3)
    np.testing.assert_array_equal(data.images, images)
    for image_captions, label in zip(data.captions, labels):
        assert len(image_captions) == 5
        assert image_captions[0] == f"a photo of {with_article(class_names[label])}"


def test_cifar10_caption_data_test_split():
    from emms_ref.datasets import load_cifar10_subset

    all_test = captioning.cifar10_caption_data("test")
    balanced = captioning.cifar10_caption_data("test", images_per_class=2)

    assert all_test.name == "cifar10_test"
    assert len(all_test.images) == len(load_cifar10_subset().test_labels)
    assert balanced.images.shape == (20, 32, 32, 3)
    assert len({tuple(captions) for captions in balanced.captions}) == 10
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        captioning.cifar10_caption_data("validation")


@pytest.mark.parametrize("images_per_class", [0, -1, 2.5, True, "2"])
def test_cifar10_caption_data_rejects_bad_count(images_per_class):
    with pytest.raises(ValueError, match="images_per_class must be a positive integer"):
        captioning.cifar10_caption_data("train", images_per_class=images_per_class)


def test_cifar10_caption_data_rejects_too_many_images():
    with pytest.raises(ValueError, match="pass at most 200"):
        captioning.cifar10_caption_data("test", images_per_class=201)


def test_cifar10_features_use_cifar_cache(monkeypatch):
    from emms_ref.experiments import cifar10

    calls = []

    def fake_features(images, *, split, members=None, cache_dir=None, progress=True):
        calls.append((split, len(images), members))
        return {"model": np.zeros((len(images), 2), dtype=np.float32)}, {"model": 0.5}

    monkeypatch.setattr(cifar10, "cifar10_zoo_features", fake_features)
    data = captioning.CaptionData(name="cifar10_test", images=np.zeros((7, 32, 32, 3), np.uint8), captions=[["x"]] * 7, synthetic=True)

    features, seconds = captioning.caption_zoo_features(data, members=["model"])

    assert calls == [("test", 7, ["model"])]
    assert features["model"].shape == (7, 2)
    assert seconds == {"model": 0.5}


def test_cifar10_comparison_ground_truth_file(monkeypatch, tmp_path):
    rng = np.random.default_rng(2)
    captions = [[f"a photo of class {index % 4}"] for index in range(30)]
    data = captioning.CaptionData(name="cifar10_train", images=np.zeros((30, 32, 32, 3), np.uint8), captions=captions, synthetic=True)
    features = {name: rng.normal(size=(30, 4)) for name in ("model_a", "model_b", "model_c")}
    requested = []

    def fake_ground_truth(path=None, *, dataset="easy-vqa"):
        requested.append(dataset)
        return {"models": {"model_a": {"bleu4_mean": 0.9}, "model_c": {"bleu4_mean": 0.7}}}

    monkeypatch.setattr(captioning, "cifar10_caption_data", lambda split, images_per_class=None: data)
    monkeypatch.setattr(captioning, "captioning_encoders", lambda **kwargs: ({"letters": CharacterCountEncoder()}, {}))
    monkeypatch.setattr(captioning, "caption_zoo_features", lambda data, **kwargs: (features, {}))
    monkeypatch.setattr(captioning, "load_captioning_ground_truth", fake_ground_truth)

    result = captioning.cifar10_captioning_comparison(cache_dir=tmp_path)

    assert requested == ["cifar10"]
    assert "CIFAR-10" in result["task"]
    assert result["models"] == ["model_a", "model_c"]
    assert result["ground_truth"] == [0.9, 0.7]
    direct = emms_score(features["model_c"], [captioning.caption_flabels(captions, {"letters": CharacterCountEncoder()}, cache_dir=tmp_path)["letters"]])
    assert result["scores"]["EMMS"][1] == pytest.approx(direct.score)


def test_ground_truth_loader_rejects_unknown_dataset():
    with pytest.raises(ValueError, match="dataset must be one of"):
        captioning.load_captioning_ground_truth(dataset="coco")
    with pytest.raises(ValueError, match=r"load_captioning_ground_truth\(dataset='cifar10'\)"):
        captioning.load_captioning_ground_truth("cifar10")


def test_script_selects_task_and_output():
    script = load_ground_truth_script()

    default = script.parse_args([])
    cifar = script.parse_args(["--dataset", "cifar10", "--train-images", "2", "--test-images", "1"])
    assert default.output.name == "captioning_ground_truth.json"
    assert cifar.output.name == "captioning_cifar10_ground_truth.json"

    published = script.parse_args(["--dataset", "cifar10", "--captions-root", "/data/flickr8k"])
    assert published.output.name == "captioning_published_ground_truth.json"

    train, test = script.load_task(cifar)
    assert (train.name, len(train.images)) == ("cifar10_train", 20)
    assert (test.name, len(test.images)) == ("cifar10_test", 10)
    with pytest.raises(SystemExit):
        script.parse_args(["--dataset", "mnist"])


@pytest.mark.parametrize("arguments", [["--epochs", "0"], ["--batch-size", "0"], ["--train-images", "-1"], ["--seeds", "0", "0"]])
def test_script_rejects_bad_arguments(arguments, capsys):
    script = load_ground_truth_script()
    with pytest.raises(SystemExit):
        script.parse_args(arguments)
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("file_name, dataset, train_images", [
    ("captioning_ground_truth.json", "easyvqa", 2000),
    ("captioning_cifar10_ground_truth.json", "cifar10", 5000),
])
def test_committed_ground_truth_provenance(file_name, dataset, train_images):
    from pathlib import Path

    from emms_ref.features import MODEL_ZOO

    result = json.loads((Path(__file__).resolve().parents[1] / "results" / file_name).read_text(encoding="utf-8"))

    assert result["dataset"]["name"] == dataset
    assert result["dataset"]["train_images"] == train_images
    assert set(result["models"]) == set(MODEL_ZOO)
    assert result["command"].startswith("python scripts/captioning_ground_truth.py")
    assert result["date_utc"].endswith("Z")
    assert result["wall_seconds"] > 0
    for entry in result["models"].values():
        assert 0.0 <= entry["bleu4_mean"] <= 1.0
        assert len(entry["bleu4_per_seed"]) == len(result["protocol"]["seeds"])
