"""The one exception hierarchy of pitstop.

Every error a user can cause or meet is a :class:`PitstopError` whose message is one line that
names the problem and, where there is one, the next step. Third-party errors (dbt, DuckDB, Feast)
are translated at the boundary with ``raise SomePitstopError(...) from exc``; the CLI prints the
message and exits non-zero without a stack trace.
"""


class PitstopError(Exception):
    """Base class of every error pitstop raises on purpose."""

    exit_code = 1


class ConfigurationError(PitstopError):
    """A setting, flag or environment variable has a value pitstop cannot use."""

    exit_code = 2


class MissingInputError(PitstopError):
    """A step ran before the step that produces its input (e.g. ``build`` before ``generate``)."""


class BuildError(PitstopError):
    """The dbt build failed; the last good feature tables are left in place."""


class FeastError(PitstopError):
    """Feast refused the feature repo or a materialization (its message is kept, on one line)."""


class OnlineStoreUnavailableError(PitstopError):
    """The online store (SQLite file or Redis server) cannot be read or written right now."""


class NotFoundError(PitstopError):
    """Something asked for by name does not exist (the API answers 404 with this message)."""


class UnknownFeatureServiceError(NotFoundError):
    """No feature service of that name in the registry."""


class UnknownFeatureViewError(NotFoundError):
    """No feature view (batch or on-demand) of that name in the registry."""


class UnknownFeatureError(NotFoundError):
    """The feature view exists but has no feature of that name."""


class InvalidInputError(PitstopError):
    """A request or an input file is malformed (missing column, wrong type, naive vs aware...)."""

    exit_code = 2


class EntityColumnClashError(InvalidInputError, ValueError):
    """An entity frame has a column named like a requested feature (Feast's own stores refuse
    such a frame with a ``ValueError`` too, so this is one)."""


class TooManyEntitiesError(InvalidInputError):
    """A lookup asked for more entity rows than the server allows (the API answers 413)."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(
            f"{rows} entity rows in one lookup; the limit is {limit} (PITSTOP_MAX_ENTITIES): "
            "split the request"
        )
        self.rows, self.limit = rows, limit


class RequestTooLargeError(InvalidInputError):
    """A request body larger than the server takes (the API answers 413, before reading it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request body is larger than {limit:,} bytes (PITSTOP_MAX_BODY_BYTES): "
            "split the request"
        )
        self.limit = limit


class UnauthorizedError(PitstopError):
    """A request without the API key the server asks for (the API answers 401)."""


class BackgroundApiError(PitstopError):
    """The lookup API in a child process exited, did not answer in time, or answered an error."""


def os_error_line(error: OSError) -> str:
    """What the operating system refused, on one line: its reason, the file, and the next
    step where there is an obvious one (the CLI's translation of an ``OSError``)."""
    reason = error.strerror or one_line(error)
    files = [str(name) for name in (error.filename, error.filename2) if name is not None]
    where = f": {' -> '.join(files)}" if files else ""
    return f"{reason}{where}{errno_hint(error.errno or 0)}"


def errno_hint(code: int) -> str:
    """The next step for an operating system's refusal ``code`` (an errno), ``""`` when there
    is no obvious one: for messages of ours and of libraries that hide the OSError."""
    import errno

    space = "; free some space and run it again"
    permissions = "; check the permissions of the data folder (PITSTOP_DATA_DIR) and paths"
    hints = {
        errno.ENOSPC: space,
        errno.EDQUOT: space,
        errno.EACCES: permissions,
        errno.EPERM: permissions,
        errno.EROFS: "; the file system is read-only: use a writable data folder",
    }
    return hints.get(code, "")


def redacted(url: str) -> str:
    """A URL without its user and password (``redis://***@host:6379``), for messages."""
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def one_line(error: BaseException) -> str:
    """An exception's message on one line (whitespace folded, at most 300 characters), or its
    type's name when it has none: for an error of ours that names the cause it wraps."""
    text = " ".join(str(error).split())
    return (text or type(error).__name__)[:300]
