"""Evaluation of converted models next to the originals: lm-eval model type, methods, pairing.

Importing :mod:`las.evaluation.lm_eval_model` registers the ``las`` model with lm-eval; this
package's ``__init__`` stays light (no lm-eval import) so stages that only need
:mod:`las.evaluation.methods` do not pay for it.
"""
