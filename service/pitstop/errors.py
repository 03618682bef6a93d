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


class EngineError(PitstopError):
    """DuckDB could not finish a query: it ran out of memory, or could not read or write a file
    (the message names the setting to change where there is one)."""


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


def is_engine_error(error: BaseException) -> bool:
    """Whether ``error`` is DuckDB's own, told by its module (``_duckdb``), so the CLI can
    translate it without importing DuckDB."""
    return type(error).__module__.lstrip("_").partition(".")[0] == "duckdb"


def engine_error_line(error: BaseException, memory_setting: str | None = None) -> str:
    """A DuckDB error on one line: its first line (the rest is advice in DuckDB's own terms,
    ``SET memory_limit``...), and the next step in pitstop's terms: ``memory_setting`` (an
    environment variable and its value) for an out-of-memory error, space or permissions for a
    file DuckDB could not write."""
    import errno

    lines = str(error).strip().splitlines()
    text = " ".join((lines[0] if lines else type(error).__name__).split())[:300]
    if type(error).__name__ == "OutOfMemoryException":
        more = f"raise {memory_setting}" if memory_setting else "give it more memory"
        return f"DuckDB ran out of memory ({text}); {more} or free some on this machine"
    for reason, code in (
        ("No space left on device", errno.ENOSPC),
        ("Permission denied", errno.EACCES),
        ("Read-only file system", errno.EROFS),
    ):
        if reason in text:
            return f"DuckDB: {text}{errno_hint(code)}"
    return f"DuckDB: {text}"


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
