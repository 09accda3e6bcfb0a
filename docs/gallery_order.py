"""Order of the examples in the gallery: the quick start first, then by topic."""

ORDER = [
    "plot_quick_start.py",
    "plot_embedding.py",
    "plot_compare_losses.py",
    "plot_grid_search.py",
    "plot_false_alarms.py",
    "plot_known_anomalies.py",
    "plot_explain_table.py",
    "plot_explain_digits.py",
    "plot_mnist_cnn.py",
    "plot_persistence.py",
]


class ExampleOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order``.

    Examples missing from ``ORDER`` come last, by file name.
    """

    def __init__(self, src_dir):
        # sphinx-gallery passes the gallery's folder; one order serves all.
        pass

    def __call__(self, filename):
        position = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return position, filename
