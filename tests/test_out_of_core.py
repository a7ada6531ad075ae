"""Out-of-core and sharded EMMS: row blocks, memory-mapped files and merged accumulators."""

import pickle

import numpy as np
import pytest
import torch

from emms_ref import EMMSAccumulator, emms_score, emms_score_blocks, iter_row_blocks
from emms_ref.out_of_core import release_mapped_rows
from emms_ref.solver import NumpyBackend
from emms_ref.solver.moments import RegressionMoments


def make_problem(seed=0, n=1200, d=30, widths=(8, 8, 5), offset=0.0):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, d) + offset
    f_labels = [
        features[:, :width] @ rng.standard_normal((width, width)) * 0.3 + rng.standard_normal((n, width))
        for width in widths
    ]
    return features, f_labels


def lstsq_reference_score(features, f_labels, weights):
    """Independent reference: standardise, solve the least-squares W with lstsq, score at the given t."""
    x = (features - features.mean(0)) / features.std(0)
    width = max(block.shape[1] for block in f_labels)
    target = np.zeros((features.shape[0], width))
    for weight, block in zip(weights, f_labels):
        z = (block - block.mean(0)) / block.std(0)
        target[:, : block.shape[1]] += weight * z
    w = np.linalg.lstsq(x, target, rcond=None)[0]
    return -np.sum((x @ w - target) ** 2) / (features.shape[0] * width)


@pytest.mark.parametrize("block_rows", [1, 7, 100, 1199, 5000])
def test_blocks_match_in_memory(block_rows):
    features, f_labels = make_problem()
    reference = emms_score(features, f_labels)
    result = emms_score_blocks(iter_row_blocks(features, f_labels, block_rows=block_rows))
    assert result.score == pytest.approx(reference.score, rel=1e-10, abs=1e-13)
    np.testing.assert_allclose(result.weights, reference.weights, atol=1e-9)
    assert result.rank == reference.rank


def test_blocks_match_lstsq_reference_with_large_offsets():
    # Means of 1e6 next to unit spreads: each block is centred on its own
    # mean before its products are formed, so no precision is lost.
    features, f_labels = make_problem(offset=1e6)
    shifted = [block + 1e5 for block in f_labels]
    result = emms_score_blocks(iter_row_blocks(features, shifted, block_rows=97))
    assert result.score == pytest.approx(lstsq_reference_score(features, shifted, result.weights), rel=1e-8)


def test_alternating_method_on_blocks_matches_in_memory():
    features, f_labels = make_problem(seed=3)
    reference = emms_score(features, f_labels, method="alternating", t_step="fast")
    result = emms_score_blocks(iter_row_blocks(features, f_labels, block_rows=250), method="alternating", t_step="fast")
    np.testing.assert_allclose(result.history, reference.history, rtol=1e-10)
    assert result.n_iter == reference.n_iter


def test_sharded_gram_sum_reproduces_single_machine_score():
    features, f_labels = make_problem(seed=5, n=2000)
    reference = emms_score(features, f_labels)
    bounds = [0, 300, 1100, 1101, 2000]
    workers = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        worker = EMMSAccumulator()
        for block_start in range(start, stop, 128):
            block_stop = min(block_start + 128, stop)
            worker.update(features[block_start:block_stop], [block[block_start:block_stop] for block in f_labels])
        # What a worker would send: a picklable numpy copy of its moments.
        workers.append(pickle.loads(pickle.dumps(worker.to_numpy())))
    combined = workers[0]
    for worker in workers[1:]:
        combined = combined.merge(worker)
    assert combined.n_samples == 2000
    assert combined.result().score == pytest.approx(reference.score, rel=1e-10)
    # Merging in another order gives the same moments.
    reversed_order = workers[-1]
    for worker in reversed(workers[:-1]):
        reversed_order = reversed_order.merge(worker)
    assert reversed_order.result().score == pytest.approx(reference.score, rel=1e-10)


def test_merged_moments_equal_direct_centred_products():
    features, f_labels = make_problem(seed=7, n=500, d=6, widths=(3, 3))
    backend = NumpyBackend()
    first = RegressionMoments.from_block(backend, features[:123], [block[:123] for block in f_labels])
    second = RegressionMoments.from_block(backend, features[123:], [block[123:] for block in f_labels])
    merged = first.merge(second)
    centred_x = features - features.mean(0)
    stacked = np.concatenate(f_labels, axis=1)
    centred_z = stacked - stacked.mean(0)
    np.testing.assert_allclose(merged.s_xx, centred_x.T @ centred_x, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(merged.s_xz, centred_x.T @ centred_z, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(merged.s_zz[0, 1], (centred_z[:, :3] * centred_z[:, 3:]).sum(0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(merged.mean_x, features.mean(0), rtol=1e-13)
    assert merged.n == 500
    assert merged.n_blocks == 2


def test_memory_mapped_inputs_are_scored_in_blocks(tmp_path):
    features, f_labels = make_problem(seed=11)
    np.save(tmp_path / "features.npy", features.astype(np.float32))
    for k, block in enumerate(f_labels):
        np.save(tmp_path / f"f_labels_{k}.npy", block.astype(np.float32))
    mapped_features = np.load(tmp_path / "features.npy", mmap_mode="r")
    mapped_labels = [np.load(tmp_path / f"f_labels_{k}.npy", mmap_mode="r") for k in range(len(f_labels))]
    in_memory = emms_score(np.array(mapped_features), [np.array(block) for block in mapped_labels])
    mapped = emms_score(mapped_features, mapped_labels)
    assert mapped.score == pytest.approx(in_memory.score, rel=1e-10)
    # The pages are handed back, and the data reads the same afterwards.
    assert release_mapped_rows(mapped_features, 0, 100)
    np.testing.assert_array_equal(mapped_features[:100], features[:100].astype(np.float32))


def test_copy_on_write_mappings_are_not_released(tmp_path):
    np.save(tmp_path / "features.npy", np.arange(4096, dtype=np.float64).reshape(512, 8))
    mapped = np.load(tmp_path / "features.npy", mmap_mode="c")
    mapped[0, 0] = -1.0
    assert not release_mapped_rows(mapped, 0, 512)
    assert mapped[0, 0] == -1.0
    assert not release_mapped_rows(np.zeros((4, 4)), 0, 4)


def test_torch_blocks_match_numpy_blocks():
    features, f_labels = make_problem(seed=13)
    reference = emms_score_blocks(iter_row_blocks(features, f_labels, block_rows=300))
    tensors = torch.from_numpy(features), [torch.from_numpy(block) for block in f_labels]
    result = emms_score_blocks(iter_row_blocks(*tensors, block_rows=300))
    assert result.backend == "torch:cpu"
    assert result.score == pytest.approx(reference.score, rel=1e-10)


def test_blockwise_constant_column_is_kept():
    rng = np.random.default_rng(17)
    features = rng.standard_normal((400, 5))
    features[:, 0] = np.repeat([1.0, 2.0], 200)
    f_labels = [features[:, :1] + 0.1 * rng.standard_normal((400, 1))]
    reference = emms_score(features, f_labels)
    result = emms_score_blocks(iter_row_blocks(features, f_labels, block_rows=200))
    assert result.rank == 5
    assert result.score == pytest.approx(reference.score, rel=1e-10)


def test_caller_blocks_are_not_modified():
    features, f_labels = make_problem(seed=19)
    copies = features.copy(), [block.copy() for block in f_labels]
    emms_score_blocks(iter_row_blocks(features, f_labels, block_rows=64))
    np.testing.assert_array_equal(features, copies[0])
    for block, copy in zip(f_labels, copies[1]):
        np.testing.assert_array_equal(block, copy)


def test_feature_width_change_names_the_block():
    accumulator = EMMSAccumulator().update(np.ones((3, 4)) * np.arange(3)[:, None], [np.arange(3.0)[:, None]])
    with pytest.raises(ValueError, match="block 1.*feature width"):
        accumulator.update(np.ones((3, 5)), [np.arange(3.0)[:, None]])


def test_encoder_count_change_is_rejected():
    accumulator = EMMSAccumulator().update(np.eye(3), [np.eye(3)])
    with pytest.raises(ValueError, match="same encoders"):
        accumulator.update(np.eye(3), [np.eye(3), np.eye(3)])


def test_nan_in_a_later_block_names_the_block():
    features, f_labels = make_problem(seed=23, n=300)
    features = features.copy()
    features[250, 3] = np.nan
    with pytest.raises(ValueError, match=r"features block 2 contains NaN or inf, first at index \(50, 3\)"):
        emms_score_blocks(iter_row_blocks(features, f_labels, block_rows=100))


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ([], "yielded no rows"),
        ([(np.ones((1, 3)), [np.ones((1, 2))])], "at least 2 samples"),
        ([np.ones((3, 3))], "pairs"),
    ],
)
def test_bad_block_streams(blocks, message):
    with pytest.raises((ValueError, TypeError), match=message):
        emms_score_blocks(blocks)


def test_release_and_svd_are_refused_for_blocks():
    features, f_labels = make_problem(n=100)
    with pytest.raises(ValueError, match="release"):
        emms_score_blocks(iter_row_blocks(features, f_labels), method="release")
    with pytest.raises(ValueError, match="svd"):
        emms_score_blocks(iter_row_blocks(features, f_labels), factorization="svd")


def test_iter_row_blocks_checks_rows_and_block_size():
    with pytest.raises(ValueError, match="f_labels\\[0\\] has 4 rows"):
        list(iter_row_blocks(np.ones((5, 2)), [np.ones((4, 2))]))
    with pytest.raises(ValueError, match="block_rows"):
        list(iter_row_blocks(np.ones((5, 2)), [np.ones((5, 2))], block_rows=0))
