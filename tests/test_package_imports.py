"""What ``import emms_ref`` loads, and the names it exposes."""

import subprocess
import sys

import emms_ref


def test_import_loads_no_heavy_dependency():
    code = (
        "import sys, emms_ref; "
        "heavy = [m for m in ('torch', 'transformers', 'open_clip', 'onnxruntime') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == ""


def test_baselines_are_importable_from_top_level():
    from emms_ref.baselines import h_score, leep, logme, logme_flabels, nce, transrate

    assert emms_ref.logme is logme
    assert emms_ref.logme_flabels is logme_flabels
    assert emms_ref.leep is leep
    assert emms_ref.nce is nce
    assert emms_ref.h_score is h_score
    assert emms_ref.transrate is transrate


def test_unknown_attribute_raises():
    try:
        emms_ref.not_a_function
    except AttributeError as error:
        assert "not_a_function" in str(error)
    else:
        raise AssertionError("expected AttributeError")
