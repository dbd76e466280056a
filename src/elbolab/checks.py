"""Argument checks shared by every public function, and the global ``validate`` switch.

Every public function of the probability core takes ``validate: bool | None = None``.
``None`` means "use the default", which is on unless :func:`set_default_validate` turned it
off, in the manner of ``torch.distributions.Distribution.set_default_validate_args``.
Checks raise :class:`TypeError` for a wrong type or dtype and :class:`ValueError` for a
bad value or shape, and always name the offending argument.

Floating point means float32 or float64, and also float16 and bfloat16: mixed-precision
training and the stability section compute in half precision on purpose, and get the
precision of their dtype. Integer and boolean tensors are refused, as are Python lists.

Counts have upper limits where a larger value could only exhaust memory or run for hours
(``MAX_DRAWS`` and the limits beside the functions that use them): the call then stops at
once with an error naming the argument, instead of an allocation failure deep inside torch.

Checking for NaN/inf costs one reduction (and, on a GPU, a host sync) per tensor; hot
training loops pass ``validate=False`` or turn the default off.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import NoReturn

import torch

_DEFAULT_VALIDATE = True

#: The most draws one call materializes: 1e9 float64 values are 8 GB, more than a laptop
#: holds. Stream larger Monte Carlo runs in chunks (``estimators.streaming_log_mean_exp``).
MAX_DRAWS = 10**9
#: The widest layer a network here may ask for: 2^16 units, a 2^16 × 2^16 float32 weight
#: matrix is already 16 GB.
MAX_WIDTH = 2**16
#: The most layers or steps of a loop a call may be asked to run (a deeper network or a longer
#: optimization of the lab's small problems is a mistaken count, not a plan).
MAX_LOOP = 10**7

_FLOAT_DTYPES = "float16, bfloat16, float32 or float64"


def set_default_validate(enabled: bool) -> None:
    """Turn argument validation on or off for every call that passes ``validate=None``."""
    global _DEFAULT_VALIDATE
    _DEFAULT_VALIDATE = bool(enabled)


def default_validate() -> bool:
    """The current default of the ``validate`` switch."""
    return _DEFAULT_VALIDATE


@contextlib.contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """Context manager that sets the validation default inside a block and restores it."""
    previous = _DEFAULT_VALIDATE
    set_default_validate(enabled)
    try:
        yield
    finally:
        set_default_validate(previous)


def should_validate(validate: bool | None) -> bool:
    """Resolve a per-call ``validate`` argument against the global default."""
    return _DEFAULT_VALIDATE if validate is None else bool(validate)


def finite_range(name: str, value: object) -> tuple[float, float]:
    """Require a floating-point tensor of finite entries; return its (min, max).

    One fused reduction (``aminmax``, which propagates NaN) instead of an elementwise
    ``isfinite`` mask: the check costs a single read of the tensor and no temporary.
    Empty tensors return ``(inf, -inf)``.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype ({_FLOAT_DTYPES}), got {value.dtype}"
        )
    if value.numel() == 0:
        return math.inf, -math.inf
    lo, hi = torch.stack(torch.aminmax(value.detach())).tolist()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        n_bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s); expected finite")
    return lo, hi


def check_log_weights(name: str, value: object) -> torch.Tensor:
    """Require a floating tensor of log-weights: no NaN and no +inf (−inf is a zero weight)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype ({_FLOAT_DTYPES}), got {value.dtype}"
        )
    if value.numel() and bool(torch.isnan(value).any() | (value == math.inf).any()):
        n_bad = int((torch.isnan(value) | (value == math.inf)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or +inf value(s); expected log-weights "
                         "in [-inf, inf) (-inf: a zero weight)")
    return value


def check_float_tensor(name: str, value: object) -> torch.Tensor:
    """Require a floating-point tensor with only finite entries."""
    finite_range(name, value)
    return value  # type: ignore[return-value]


def check_positive(name: str, value: torch.Tensor) -> torch.Tensor:
    """Require a finite floating tensor with strictly positive entries (e.g. a std)."""
    lo, _ = finite_range(name, value)
    if not lo > 0:
        raise ValueError(
            f"{name} must be strictly positive (a standard deviation or scale); "
            f"got minimum {lo:.6g}"
        )
    return value


def check_broadcastable(**tensors: torch.Tensor) -> torch.Size:
    """Require that the named tensors broadcast together; return the broadcast shape."""
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    try:
        return torch.broadcast_shapes(*(v.shape for v in tensors.values()))
    except RuntimeError:
        desc = ", ".join(f"{k}{list(s)}" for k, s in shapes.items())
        raise ValueError(f"shapes cannot be broadcast together: {desc}") from None


def _fail(error: Callable[[str, str], Exception] | None, kind: type[Exception], name: str,
          problem: str) -> NoReturn:
    """Raise ``kind(f"{name} {problem}")``, or ``error(name, problem)`` where the caller names
    its own error type (a setting's :class:`~elbolab.settings.ConfigError`)."""
    raise (kind(f"{name} {problem}") if error is None else error(name, problem))


def check_count(name: str, value: object, minimum: int = 1, maximum: int | None = None, *,
                optional: bool = False,
                error: Callable[[str, str], Exception] | None = None) -> int | None:
    """Require an integer count in [minimum, maximum] (sample sizes, k, chunk sizes, widths;
    ``None`` too when ``optional``). A bad value raises TypeError/ValueError naming ``name``,
    or ``error(name, problem)`` when given (the settings' ConfigError)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(error, TypeError, name, f"must be an integer, got {value!r}")
    if value < minimum:
        _fail(error, ValueError, name, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        _fail(error, ValueError, name, f"must be <= {maximum:,}, got {value:,}")
    return value


def check_number(name: str, value: object, *, minimum: float = -math.inf,
                 exclusive: bool = False, maximum: float = math.inf, optional: bool = False,
                 error: Callable[[str, str], Exception] | None = None) -> float | None:
    """Require a finite real number above ``minimum`` (strictly when ``exclusive``) and at
    most ``maximum`` (``None`` too when ``optional``); return it as a float. Errors as
    :func:`check_count`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(error, TypeError, name, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        _fail(error, ValueError, name, f"must be a finite number, got {value}")
    if value < minimum or (exclusive and value == minimum):
        _fail(error, ValueError, name,
              f"must be {'>' if exclusive else '>='} {minimum:g}, got {value:g}")
    if value > maximum:
        _fail(error, ValueError, name, f"must be <= {maximum:g}, got {value:g}")
    return float(value)


def check_choice(name: str, value: object, choices: tuple, *,
                 error: Callable[[str, str], Exception] | None = None) -> str:
    """Require one of ``choices`` (names of likelihoods, decoders, variances, splits). Errors
    as :func:`check_count`."""
    if (error is None and not isinstance(value, str)) or value not in choices:
        _fail(error, ValueError, name,
              f"must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_callable(name: str, value: object) -> None:
    """Require a callable (a log-density, a sampler, a loss)."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")


def check_generator(name: str, value: object) -> None:
    """Require ``None`` or a ``torch.Generator``."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(value).__name__}")


def check_dim(name: str, dim: object, ndim: int) -> int:
    """Require a dimension index valid for a tensor of ``ndim`` dimensions (negative counts
    from the end, as in torch)."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name} must be an int, got {type(dim).__name__}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{name}={dim} is out of range for a tensor of {ndim} dimension(s)")
    return dim


def check_full_precision(name: str, value: torch.Tensor) -> None:
    """Require float32 or float64 where a long sum needs the digits (the diffusion bound's T
    terms)."""
    if value.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64 here, got {value.dtype}")


def check_floats(validate: bool | None, **tensors: torch.Tensor) -> None:
    """Validate several float tensors (finite entries) and that they broadcast together.

    Does nothing when validation is off for this call.
    """
    if not should_validate(validate):
        return
    for name, value in tensors.items():
        check_float_tensor(name, value)
    check_broadcastable(**tensors)


__all__ = ["MAX_DRAWS", "MAX_LOOP", "MAX_WIDTH", "check_broadcastable", "check_callable",
           "check_choice", "check_count", "check_dim", "check_float_tensor", "check_floats",
           "check_full_precision", "check_generator", "check_log_weights", "check_number",
           "check_positive", "default_validate", "finite_range", "set_default_validate",
           "should_validate", "validation"]
