"""FAS, the baseline method (arXiv 2502.04405; METHOD.md M9), built on this package's parts.

* :mod:`las.fas.qcfs`: the QCFS activation and the FFN activation sites it replaces;
* :mod:`las.fas.finetune`: Stage 1, full-parameter fine-tuning with QCFS (resumable);
* :mod:`las.fas.calibration`: Stage 2, coarse-to-fine calibration of IF thresholds and initial
  potentials (per channel);
* :mod:`las.fas.convert`: the SNN, IF neurons at the QCFS sites, everything else float.

Only the FFN activation spikes; attention, softmax and the norms stay float (the paper's
design). In a gated FFN (SwiGLU/GeGLU) QCFS replaces the gate's activation, so the IF train
meets the float up projection in a Hadamard product and the down projection reads a float
current (its MACs stay MACs).
"""
