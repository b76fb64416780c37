"""Online models of the engine: River estimators whose arithmetic runs in Numba kernels."""

from engine.models.logistic import NumbaLogisticRegression, warm_up

__all__ = ["NumbaLogisticRegression", "warm_up"]
