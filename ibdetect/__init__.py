"""Anomaly detection by multi-class deep data description with an Information Bottleneck loss."""

from .estimator import EmbeddingCollapseWarning, IBDeepDescription

__version__ = "0.1.0"

__all__ = ["EmbeddingCollapseWarning", "IBDeepDescription", "__version__"]
