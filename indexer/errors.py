"""The error hierarchy. Each error carries one line for the user; edges (CLI, API) convert them."""


class MinerflowError(Exception):
    """Base of every error minerflow reports to a user as one line."""


class ConfigError(MinerflowError):
    """A bad setting: unknown network, missing datadir, unreadable file."""


class SourceError(MinerflowError):
    """Block files or the node could not be read as expected."""


class DamagedBlockError(SourceError):
    """A block whose bytes do not match its header (merkle root): a damaged disk or file."""


class ParseError(MinerflowError):
    """Bytes that do not form a valid block or transaction."""


class PoolsError(MinerflowError):
    """An invalid pools list."""


class LabelsError(MinerflowError):
    """An invalid exchange-labels file."""


class StoreError(MinerflowError):
    """The index could not be opened or does not match the request."""


class IndexLockedError(StoreError):
    """Another process holds the index."""


class IndexMismatchError(StoreError):
    """The index was built for another network, pools list or format: re-index required."""


class NotFound(MinerflowError):
    """A pool, block or entity that the index does not hold."""


class BadParameter(MinerflowError):
    """A query parameter out of its domain (entity level, interval, date)."""
