# Small helpers shared by the rules; the logic lives in the `las` package.
import os


def results(*parts):
    """Path under this experiment's results folder."""
    return os.path.join("results", config["experiment"], *parts)


def stage_confs(*groups):
    """Hydra config files a stage reads, as inputs: editing one reruns the stage."""
    return lambda w: [f"conf/{g.format(**w)}.yaml" for g in groups]


def final_outputs():
    """Everything `rule all` asks for."""
    return ["reports/fidelity.md"]
