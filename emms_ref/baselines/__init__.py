"""Baseline transferability metrics that EMMS is compared with.

Every function takes the features (or source-model predictions) of the
target samples and their labels and validates them in one step. It never
modifies its inputs. It returns a small frozen result object whose
``score`` is a float, where higher means better expected transfer:

* :func:`logme` and :func:`logme_flabels`: log maximum evidence of Bayesian
  linear regression, on class indicators or on F-labels (nats per sample);
* :func:`leep` and :func:`nce`: from the source classifier's predictions (nats);
* :func:`h_score`: plain or with Ledoit-Wolf shrinkage (dimensionless);
* :func:`transrate`: coding-rate difference (nats).

Class labels may be any sortable values (integers with gaps, strings); only
the classes present in the labels count.
"""

from .hscore import HScoreResult, h_score, ledoit_wolf_shrinkage
from .leep import LEEPResult, NCEResult, leep, nce
from .logme import LogMEConvergenceWarning, LogMEResult, logme
from .logme_flabels import LogMEFLabelsResult, logme_flabels
from .transrate import TransRateResult, transrate

__all__ = [
    "logme",
    "logme_flabels",
    "leep",
    "nce",
    "h_score",
    "transrate",
    "ledoit_wolf_shrinkage",
    "LogMEResult",
    "LogMEFLabelsResult",
    "LEEPResult",
    "NCEResult",
    "HScoreResult",
    "TransRateResult",
    "LogMEConvergenceWarning",
]
