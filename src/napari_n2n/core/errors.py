"""The project's exception types.

Every error a user can cause (a wrong file, a mismatched pair, an image smaller than the
patch, ...) is an :class:`N2NError` whose message says what was wrong and what to do. The
command-line interface prints such errors on one line; the widgets show them as napari
notifications. :class:`OutputError` is raised before any long work when an output cannot be
written where asked (see :mod:`napari_n2n.core.files`). :class:`TrainingError` wraps failures that happen *during* long work (torch's
out-of-memory and device errors are plain ``RuntimeError`` s, which superqt's generator workers
would otherwise swallow).
"""

from __future__ import annotations


class N2NError(Exception):
    """A user-facing error: the message says what was wrong and what to do."""


class InputError(N2NError, ValueError):
    """The data or options given are not usable as they are."""


class ModelFileError(N2NError):
    """A model file is missing, truncated, corrupted or not a napari-n2n model."""


class OutputError(InputError):
    """An output (image, model file, package) cannot be written where asked.

    It exists and replacing it was not allowed, it is one of the inputs, a folder or a device,
    the folder is read-only or full, or another run wrote the same file meanwhile. (An output's
    path is one of the options given, hence an :class:`InputError`.)
    """


class DeviceError(N2NError):
    """The requested compute device is not available."""


class TrainingError(N2NError):
    """Long work failed while running (out of memory, device error, ...).

    :class:`DenoisingError` is the same for prediction; catch :class:`TrainingError` to catch both.
    """

    #: what to do when the work runs out of memory, in the work's own settings
    MEMORY_ADVICE = "reduce the batch size, the patch size or the tile size, or use the CPU"

    @classmethod
    def from_exception(cls, exc: BaseException, what: str = "Training") -> TrainingError:
        """Wrap an unexpected exception raised inside long work with advice on what to do.

        Parameters
        ----------
        exc : BaseException
            The exception (its first line is kept).
        what : str
            The work that failed, as the message starts: ``"Training"``, ``"Denoising"``.

        Returns
        -------
        TrainingError
            Of the class it is called on; raise it ``from exc``.

        Examples
        --------
        >>> TrainingError.from_exception(RuntimeError("CUDA out of memory."))
        TrainingError('Training failed: CUDA out of memory. (RuntimeError). What to do: reduce the batch size, the patch size or the tile size, or use the CPU.')
        """
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        low = text.lower()
        if "out of memory" in low or isinstance(exc, MemoryError):
            advice = cls.MEMORY_ADVICE
        elif "cuda" in low or "mps" in low or "device" in low:
            advice = "try device 'cpu', or check the GPU driver"
        else:
            advice = "check the input data and options; report a bug if it persists"
        return cls(f"{what} failed: {text} ({type(exc).__name__}). What to do: {advice}.")


class DenoisingError(TrainingError):
    """Prediction (denoising) failed while running (out of memory, device error, ...)."""

    #: prediction has no batch or patch to make smaller: its tiles are what fills the memory
    MEMORY_ADVICE = "reduce the tile size, or use the CPU"

    @classmethod
    def from_exception(cls, exc: BaseException, what: str = "Denoising") -> DenoisingError:
        """:meth:`TrainingError.from_exception`, for prediction (its advice names the tile size).

        Examples
        --------
        >>> DenoisingError.from_exception(RuntimeError("CUDA out of memory."))
        DenoisingError('Denoising failed: CUDA out of memory. (RuntimeError). What to do: reduce the tile size, or use the CPU.')
        """
        return super().from_exception(exc, what)


class OutputStateError(OutputError):
    """What is at an output stops a run, and the user can resume it or start over.

    Raised by chunked prediction (:mod:`napari_n2n.ondisk.output`): the output exists
    (``kind="exists"``), an interrupted run left an unfinished result (``"unfinished"``), a
    resume would mix two models' or settings' results (``"mismatch"``), or a write failed
    mid-run, a full disk say (``"write_failed"``), or another run is writing it (``"locked"``). The message's advice names what a caller of
    the library does (``pass overwrite=True``, ``call again with resume=True``); a command line
    or a widget words it for its own controls with :meth:`worded`.

    Parameters
    ----------
    path : path-like
        The output, or the unfinished result or ledger the error is about.
    kind : {"exists", "unfinished", "mismatch", "write_failed", "locked"}
        What stops the run.
    why : str
        What is wrong, one or more sentences.
    advice : str
        What to do: a template with the fields ``{overwrite}`` (how the user starts over) and
        ``{resume}`` (how the user finishes the unfinished run).
    **wording
        ``overwrite=`` and ``resume=``: the words for those two actions (default: the library's).

    Examples
    --------
    >>> exc = OutputStateError("out.ome.zarr", "exists", "It exists.", "To replace it, {overwrite}.")
    >>> str(exc)
    'It exists. To replace it, pass overwrite=True.'
    >>> str(exc.worded(overwrite="add --overwrite"))
    'It exists. To replace it, add --overwrite.'
    """

    #: how a caller of the library starts over and finishes a run
    WORDING = {"overwrite": "pass overwrite=True", "resume": "call again with resume=True"}

    def __init__(self, path, kind: str, why: str, advice: str, **wording):
        self.path = path
        self.kind = kind
        self.why = why
        self.advice = advice
        self.wording = {**self.WORDING, **wording}
        super().__init__(f"{why} {advice.format(**self.wording)}")

    def __reduce__(self):
        return _rebuild_state_error, (
            type(self),
            self.path,
            self.kind,
            self.why,
            self.advice,
            self.wording,
        )

    def worded(self, **wording) -> OutputStateError:
        """Return the same error with its advice in other words.

        Parameters
        ----------
        **wording
            ``overwrite=`` (e.g. ``"add --overwrite"``) and ``resume=`` (e.g. ``"run it again
            with --resume"``): how the user starts over and finishes, in the caller's terms.

        Returns
        -------
        OutputStateError
            The same error (path, kind, cause) with the new words; raise it ``from`` this one.
        """
        return type(self)(
            self.path, self.kind, self.why, self.advice, **{**self.wording, **wording}
        )


def _rebuild_state_error(cls, path, kind, why, advice, wording):
    return cls(path, kind, why, advice, **wording)
