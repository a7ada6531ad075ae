"""Plots of the benchmark JSON records, shared by the scripts and the book's benchmark page."""

from __future__ import annotations

# Method -> (label, colour, line style) in every plot.
STYLES = {
    "products": ("X^T X + X^T Z (floor)", "black", ":"),
    "emms_exact": ("EMMS exact", "tab:blue", "-"),
    "emms_alternating_fast": ("EMMS alternating, fast t-step", "tab:cyan", "--"),
    "emms_alternating_exact": ("EMMS alternating, exact t-step", "tab:purple", "-."),
    "emms_release": ("EMMS release (one LS step)", "tab:orange", "-"),
    "logme_vectorised": ("LogME F-labels, vectorised", "tab:green", "-"),
    "logme_per_column": ("LogME F-labels, per-column loop", "tab:red", "-"),
}
# Method -> column header of the book's tables.
SHORT_NAMES = {
    "products": "floor",
    "emms_exact": "exact",
    "emms_alternating_fast": "alt. fast",
    "emms_alternating_exact": "alt. exact",
    "emms_release": "release",
    "logme_vectorised": "LogME vec.",
    "logme_per_column": "LogME loop",
}
AXIS_LABELS = {"N": "samples N", "D": "feature dimension D", "L": "F-label width L", "K": "F-label encoders K"}


def plot_sweeps(result, plt, title_suffix=""):
    """One log-log panel per swept size (N, D, L, K): median seconds of every method."""
    axes_names = list(result["sweeps"])
    figure, axes = plt.subplots(1, len(axes_names), figsize=(4.2 * len(axes_names), 3.6), squeeze=False)
    base = result["config"]["base"]
    for axis, name in zip(axes[0], axes_names):
        runs = result["sweeps"][name]
        values = [run["size"][name] for run in runs]
        for method, (label, colour, style) in STYLES.items():
            if method not in runs[0]["median_seconds"]:
                continue
            seconds = [run["median_seconds"][method] for run in runs]
            axis.plot(values, seconds, style, marker="o", markersize=3, color=colour, label=label)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel(AXIS_LABELS[name])
        axis.grid(True, which="both", alpha=0.3)
        others = ", ".join(f"{key}={value}" for key, value in zip("NDLK", base) if key != name)
        axis.set_title(f"vary {name} ({others})", fontsize=9)
    axes[0][0].set_ylabel("seconds (median)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.suptitle(f"Synthetic data, {result['device']}{title_suffix}", fontsize=10)
    figure.tight_layout()
    return figure
