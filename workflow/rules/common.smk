# Small helpers shared by the rules; the logic lives in the `las` package.
import os


def results(*parts):
    """Path under this experiment's results folder."""
    return os.path.join("results", config["experiment"], *parts)


def final_outputs():
    """Everything `rule all` asks for."""
    return [results("fit_hg", "hg_errors.csv")]
