"""Read Parquet, CSV and Zarr data lazily, block by block, for ``Incremental``.

:func:`read_table` turns a path (a file, a folder, a glob, a list of files,
or an fsspec URL such as ``s3://bucket/data/``) into ``(X, y)`` Dask
collections whose blocks are read, checked and converted only when the
training chain asks for them.  Nothing is read at call time except metadata:
Parquet footers, the first line (and a small sample) of every CSV file, Zarr
array metadata.  That up-front scan catches what it can before any training
starts (a missing target column, a non-numeric feature, an empty or
unreadable file, schema drift between files); everything else (a corrupt
page, a stray text value deep inside a CSV file, NaN) is caught when its
block is read, and every error names the file and the column.

Each block is read once per pass: for Parquet and CSV, X and y are two views
of the same read task, so computing a block's X and y together reads the
file once (Zarr features and a target in separate arrays are read by a task
each, every array once per block).  Column
selection and the conversion to ``dtype`` (``float32`` by default) happen
inside that task, per block.

Layouts
-------
* **Parquet**: ``.parquet`` / ``.pq`` / ``.parq`` files, or a folder of them
  (hidden files and names starting with ``_`` or ``.`` are skipped).  Row
  groups are the unit of reading; small files and row groups are combined
  into blocks of about ``blocksize`` bytes of converted features.  Hive
  partition folders (``year=2024/part-0.parquet``, as ``partition_cols=``
  writes them) below the folder passed, or below the files' common folder,
  are columns too, after the files' own columns: ``int64`` when every value
  is an integer, else text (values are URL-decoded;
  ``__HIVE_DEFAULT_PARTITION__`` is a missing value).
* **CSV**: ``.csv`` files (optionally compressed: ``.csv.gz``, ``.csv.bz2``,
  ``.csv.xz``, ``.csv.zst``, ``.csv.zip`` holding one file), comma separated,
  with a header line.
  Uncompressed files are split at line boundaries; compressed files are one
  block each.  Quoted fields must not contain line breaks.  Every row needs
  one field per header name: a row with more or fewer is refused with its
  line in the file (an empty field, ``1,,3``, is a missing value; a trailing
  delimiter on every row, ``1,2,3,``, is dropped).  Folder
  names are not read as columns (as with ``pandas.read_csv`` and Dask).
* **Zarr**: one store (not a list or a glob of stores): a group whose arrays
  are the columns (1-D arrays, one column each; a 2-D array is a block of
  feature columns under one name; arrays of other dimensions are not
  columns), or a single 2-D array whose ``columns`` attribute names its
  columns, each name once (else they are named ``"0"``, ``"1"``, ...).
  Features are real numbers (complex numbers are refused).  The rows are
  those of the arrays read: arrays left out may have other lengths.  Each
  array is read once per block; blocks are whole chunks of every array read
  when a common multiple of their chunks fits in ``blocksize``, else whole
  chunks of the first feature.
"""

from __future__ import annotations

import contextlib
import csv
import io as _bytesio
import math
import numbers
import os
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.base import tokenize
from dask.utils import parse_bytes

from ._text import one_line

__all__ = [
    "DataError",
    "Dataset",
    "FileInfo",
    "detect_format",
    "read_classes",
    "read_features",
    "read_table",
    "scan",
]

FORMATS = ("parquet", "csv", "zarr")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv",)
CSV_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zip": "zip"}
DEFAULT_BLOCKSIZE = "64MiB"
#: bytes read from the start of each CSV file to check its header and guess its types
CSV_SAMPLE_BYTES = 64 * 1024
#: the sample grows (doubling) up to this size to hold the header line and one row
CSV_MAX_SAMPLE_BYTES = 64 * 1024 * 1024
#: the folder name value Hive, Spark and pyarrow write for a missing partition value
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


class DataError(ValueError):
    """Bad input data.  The message names the file or column at fault and the fix."""


#: what the data is read for, which decides the fixes that messages suggest: training
#: chooses its features (--features / --exclude) and their dtype (--dtype); predicting with
#: a trained model (``gpuinc predict``) reads the model's features, as it was trained
TRAIN, PREDICT = "train", "predict"


def _check_purpose(purpose: str) -> None:
    if purpose not in (TRAIN, PREDICT):
        raise ValueError(f"purpose must be {TRAIN!r} or {PREDICT!r}, got {purpose!r}.")


# --------------------------------------------------------------------------- metadata
@dataclass(frozen=True)
class FileInfo:
    """What the up-front scan learned about one file, without reading its data."""

    path: str  #: path on its filesystem (no protocol)
    shown: str  #: the path as messages show it (with the protocol for URLs)
    size: int
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]  #: per column: numbers (or booleans) in this file
    types: tuple[str, ...]  #: per column, for messages
    rows: int | None = None  #: None for CSV (unknown until parsed)
    row_groups: tuple[int, ...] = ()  #: Parquet: rows in each row group
    header: bytes = b""  #: CSV: the header line, newline included
    compression: str | None = None  #: CSV
    bytes_per_row: float | None = None  #: CSV: the fewest among the samples (blocks plan)
    examples: tuple = ()  #: CSV: a sample value of each non-numeric column
    stamp: str = ""  #: changes when the file changes (size, modification time)
    #: columns that hold an index, not a feature (CSV: an unnamed first column)
    index_columns: tuple[str, ...] = ()
    #: Parquet: Hive partition columns from the file's folders, as (name, value, Arrow type)
    partitions: tuple[tuple[str, Any, str], ...] = ()
    #: CSV: columns of integers with missing values in the sample (pandas reads them as
    #: float64), as (name, "Int64" or "UInt64"), so that kept ids stay exact; and of
    #: booleans with missing values (Python objects to pandas), as (name, "boolean")
    int_columns: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _ZarrColumn:
    name: str
    array: str  #: path of the array inside the store ("" for a root array)
    index: int | None  #: column of a root 2-D array
    width: int
    dtype: str
    numeric: bool
    rows: int
    chunk_rows: int


@dataclass(frozen=True, eq=False)
class Dataset:
    """A scanned dataset: its format, files and columns (see :func:`scan`).

    Pass it to :func:`read_table`, :func:`read_features` or
    :func:`read_classes` instead of a path to reuse the scan.
    """

    source: str
    fmt: str
    files: tuple[FileInfo, ...] = ()
    storage_options: dict = field(default_factory=dict)
    zarr_columns: tuple[_ZarrColumn, ...] = ()
    zarr_store: str = ""  #: absolute path or URL of the Zarr store, for the block tasks
    #: Zarr: arrays of a group that are not columns (0-D, 3-D ...), as (name, ndim)
    zarr_skipped: tuple[tuple[str, int], ...] = ()
    fs: Any = None
    meta: Any = None  #: empty pandas frame with the first file's dtypes (Parquet, CSV)

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names (of the first file for Parquet and CSV)."""
        if self.fmt == "zarr":
            return tuple(c.name for c in self.zarr_columns)
        return self.files[0].columns

    @property
    def n_rows(self) -> int | None:
        """Total rows when the metadata says (Parquet, Zarr); None for CSV.

        Zarr: the length of the arrays, or None when they differ (the rows are then
        those of the arrays read, as ``read_table``'s ``X.shape[0]`` says).
        """
        if self.fmt == "zarr":
            lengths = {c.rows for c in self.zarr_columns}
            return lengths.pop() if len(lengths) == 1 else None
        rows = [f.rows for f in self.files]
        return None if any(r is None for r in rows) else int(sum(rows))

    @property
    def nbytes(self) -> int:
        """Bytes on storage."""
        return int(sum(f.size for f in self.files))

    def __repr__(self) -> str:
        rows = "?" if self.n_rows is None else f"{self.n_rows:,}"
        where = f"{len(self.files)} file(s)" if self.files else "zarr store"
        return (f"Dataset({self.source!r}, fmt={self.fmt!r}, {where}, rows={rows}, "
                f"columns={list(self.columns)})")


# --------------------------------------------------------------------------- helpers
def _url_to_fs(path: str, storage_options: dict):
    import fsspec

    return fsspec.core.url_to_fs(path, **storage_options)


def _is_local(fs) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _shown(fs, path: str) -> str:
    """The path as messages show it: relative to the working directory when below it."""
    if not _is_local(fs):
        return fs.unstrip_protocol(path)
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _csv_compression(name: str) -> str | None | bool:
    """None: plain CSV; a codec name: compressed CSV; False: not a CSV name."""
    lower = name.lower()
    for suffix, codec in CSV_COMPRESSIONS.items():
        if lower.endswith(".csv" + suffix):
            return codec
    return None if lower.endswith(CSV_SUFFIXES) else False


def _format_of_name(name: str) -> str | None:
    lower = name.lower().rstrip("/")
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if _csv_compression(lower) is not False:
        return "csv"
    if lower.endswith(".zarr"):
        return "zarr"
    return None


def _is_hidden(path: str, root: str) -> bool:
    rel = path[len(root):].lstrip("/") if path.startswith(root) else path.rsplit("/", 1)[-1]
    return any(part.startswith((".", "_")) for part in rel.split("/") if part)


def _is_zarr_dir(fs, root: str) -> bool:
    return any(fs.exists(f"{root.rstrip('/')}/{name}") for name in ("zarr.json", ".zgroup", ".zarray"))


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _common_folder(paths: Sequence[str]) -> str:
    """The deepest folder holding every path: the root of their Hive partition folders."""
    return posixpath.commonpath([posixpath.dirname(p) for p in paths]) if paths else ""


def _resolve(path, fmt: str | None, storage_options: dict):
    """(filesystem, file paths, format, source text, root folder) for what the user passed.

    The root is the folder passed, else the folder the files have in common
    (as Dask does); ``key=value`` folders below it are Hive partitions.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS} or None, got {fmt!r}.")
    if isinstance(path, (list, tuple)):
        if not path:
            raise DataError("The list of files is empty; pass at least one file.")
        names = [os.fspath(p) for p in path]
        fs, _ = _url_to_fs(names[0], storage_options)
        listed = [fs._strip_protocol(p) for p in names]
        paths, folders = [], []  # a folder of the list stands for its data files, as alone
        roots = []  # the folders listed, and those of the files listed: Hive partitions below
        for p, name in zip(listed, names, strict=True):
            if not fs.exists(p):
                raise FileNotFoundError(f"{name} does not exist.")
            if not fs.isdir(p) or fmt == "zarr" or (fmt is None and (
                    p.rstrip("/").endswith(".zarr") or _is_zarr_dir(fs, p))):
                paths.append(p)
                roots.append(posixpath.dirname(p))
                continue
            roots.append(p.rstrip("/"))
            inside = sorted(q for q in fs.find(p) if not _is_hidden(q, p))
            if not inside:
                raise DataError(
                    f"{name} (in the list) is an empty folder (hidden files and names starting "
                    "with '_' are skipped); point at the folder that holds the data files."
                )
            paths += inside
            folders += inside
        if fmt is None:
            fmt = _common_format(paths, names[0], ignore_unknown=bool(folders))
        if folders:  # other formats' files in the folders are left out, as for one folder
            chosen = set(folders)
            paths = [p for p in paths if p not in chosen or _format_of_name(p) == fmt] or paths
        twice = [p for p, n in Counter(paths).items() if n > 1]
        if twice:
            raise DataError(
                f"The list names {_listing(_shown(fs, p) for p in twice)} more than once (as "
                "itself, or inside a folder of the list), so its rows would be read twice; "
                "list each file once."
            )
        shown = names[0] if len(names) == 1 else f"{names[0]} (+{len(names) - 1} more)"
        return fs, paths, fmt, shown, posixpath.commonpath(roots)
    source = os.fspath(path)
    fs, root = _url_to_fs(source, storage_options)
    if _has_glob(source) and not fs.exists(root):  # an existing name may hold brackets
        paths, matched, stores = _glob_files(fs, root)
        if stores and (not paths or fmt == "zarr"):
            shown = [_shown(fs, p) for p in stores]
            raise DataError(
                f"{source} matches Zarr store(s) {_listing(shown)}, not data files; gpuinc reads "
                f"one Zarr store at a time: pass one store path (e.g. {shown[0]}), not a glob."
            )
        if not paths:
            raise FileNotFoundError(
                f"No files match {source} (hidden files and names starting with '_' are "
                "skipped).")
        if fmt is None:
            fmt = _common_format(paths, source, ignore_unknown=True)
        wanted = [p for p in paths if _format_of_name(p) == fmt]
        # the root is above what the glob matched: a matched key=value folder stays a
        # Hive partition, also when only one matched
        return fs, wanted or paths, fmt, source, _common_folder(matched)
    if not fs.exists(root):
        raise FileNotFoundError(f"{source} does not exist.")
    if fs.isdir(root):
        if fmt == "zarr" or (fmt is None and (root.rstrip("/").endswith(".zarr")
                                              or _is_zarr_dir(fs, root))):
            return fs, [root], "zarr", source, root
        files = sorted(p for p in fs.find(root) if not _is_hidden(p, root))
        if not files:
            raise DataError(
                f"{source} is an empty folder (hidden files and names starting with '_' are "
                "skipped); point at the folder that holds the data files."
            )
        if fmt is None:
            fmt = _common_format(files, source, ignore_unknown=True)
        wanted = [p for p in files if _format_of_name(p) == fmt]
        return fs, wanted or files, fmt, source, root.rstrip("/")
    return fs, [root], fmt or _common_format([root], source), source, _common_folder([root])


def _glob_files(fs, pattern: str) -> tuple[list[str], list[str], list[str]]:
    """The data files a glob matches, the matches that gave them (matched files, and
    the files inside matched folders such as ``data/year=*``, skipping hidden ones and
    ``_SUCCESS``-like markers as a folder does), and the Zarr stores it matched (not
    read as files)."""
    out, matched, stores = set(), [], []
    for p in fs.glob(pattern):
        if not fs.isdir(p):
            if not _is_hidden(p, posixpath.dirname(p)):
                out.add(p)
                matched.append(p)
        elif p.rstrip("/").endswith(".zarr") or _is_zarr_dir(fs, p):
            stores.append(p)
        else:
            inside = [q for q in fs.find(p) if not _is_hidden(q, p)]
            out.update(inside)
            matched += [p] if inside else []
    return sorted(out), matched, sorted(stores)


def _common_format(paths: Sequence[str], source: str, ignore_unknown: bool = False) -> str:
    kinds = {_format_of_name(p) for p in paths}
    if ignore_unknown and kinds - {None}:
        kinds.discard(None)
    if len(kinds) == 1 and None not in kinds:
        return kinds.pop()
    if None in kinds:
        odd = next(p for p in paths if _format_of_name(p) is None)
        raise DataError(
            f"Cannot tell the format of {odd} from its name; rename it with a .parquet, "
            ".csv or .zarr suffix, or pass fmt='parquet' / 'csv' / 'zarr' (--format)."
        )
    raise DataError(
        f"{source} mixes formats ({', '.join(sorted(kinds))}); put each format in its own "
        "folder, or pass fmt= (--format) to read only one of them."
    )


def detect_format(path, storage_options: dict | None = None) -> str:
    """The format of ``path``: ``"parquet"``, ``"csv"`` or ``"zarr"``.

    Decided by the suffix of the file (or of the files in a folder); a folder
    holding ``zarr.json`` (or ``.zgroup``/``.zarray``) is a Zarr store.
    ``path`` may be an fsspec URL; ``storage_options`` (credentials,
    endpoints) are passed to fsspec to list it.

    Examples
    --------
    >>> detect_format("data/train.csv")  # doctest: +SKIP
    'csv'
    """
    return _resolve(path, None, dict(storage_options or {}))[2]


# --------------------------------------------------------------------------- scanning
@contextlib.contextmanager
def _parquet_file(fs, path: str):
    import pyarrow.parquet as pq

    if fs is None or _is_local(fs):
        pf = pq.ParquetFile(path, pre_buffer=True)
        try:
            yield pf
        finally:
            pf.close()
    else:
        with fs.open(path, "rb") as fh:
            yield pq.ParquetFile(fh, pre_buffer=True)


def _arrow_is_numeric(typ) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(typ):
        return False  # categories: encode them as numbers first
    return bool(pa.types.is_integer(typ) or pa.types.is_floating(typ)
                or pa.types.is_boolean(typ) or pa.types.is_decimal(typ)
                or pa.types.is_null(typ))


def _stamp(info: dict) -> str:
    return tokenize(info.get("size"), info.get("mtime"), info.get("LastModified"),
                    info.get("created"), info.get("ETag"), info.get("etag"))


def _file_info(fs, path: str) -> tuple[str, int, str]:
    shown = _shown(fs, path)
    info = fs.info(path)
    size = int(info.get("size") or 0)
    if size == 0:
        raise DataError(f"{shown} is empty (0 bytes); remove it from the dataset or write it again.")
    return shown, size, _stamp(info)


def _scan_parquet_file(fs, path: str) -> tuple[FileInfo, Any]:
    shown, size, stamp = _file_info(fs, path)
    try:
        with _parquet_file(fs, path) as pf:
            md = pf.metadata
            schema = pf.schema_arrow
            row_groups = tuple(md.row_group(i).num_rows for i in range(md.num_row_groups))
    except Exception as exc:
        raise DataError(
            f"{shown} is not a readable Parquet file ({one_line(exc)}); replace it with a good "
            "copy or remove it from the dataset."
        ) from exc
    if sum(row_groups) == 0:
        raise DataError(f"{shown} has no rows; remove it from the dataset.")
    _check_unique_names(shown, schema.names)
    index_columns = set()
    pandas_md = schema.pandas_metadata or {}
    for col in pandas_md.get("index_columns", []):
        if isinstance(col, str):
            index_columns.add(col)
    ranges = _range_indexes(pandas_md, schema.names)
    # a stored pandas index is a column, but not a default feature (see read_table); so is a
    # named RangeIndex, which pandas stores as (start, stop, step) only: see _range_values
    names = [*schema.names, *ranges]
    index = tuple(n for n in names if n in index_columns or n in ranges)
    types = tuple("int64" if n in ranges else str(schema.field(n).type) for n in names)
    numeric = tuple(n in ranges or _arrow_is_numeric(schema.field(n).type) for n in names)
    empty = schema.empty_table()
    meta = empty.select([n for n in schema.names if n not in index_columns]).to_pandas()
    stored = [n for n in index if n not in ranges]
    if stored:  # as columns: with the pandas metadata, to_pandas would make them the index
        meta = pd.concat([meta, empty.select(stored).replace_schema_metadata(None).to_pandas()],
                         axis=1)
    for name in ranges:
        meta[name] = np.empty(0, dtype="int64")
    meta = meta[names]
    info = FileInfo(path, shown, size, tuple(names), numeric, types, rows=int(sum(row_groups)),
                    row_groups=row_groups, stamp=stamp, index_columns=index)
    return info, meta


def _check_unique_names(shown: str, names: Sequence[str]) -> None:
    """Refuse a file that names two columns alike: neither could be selected by its name."""
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise DataError(
            f"{shown} has more than one column named {_listing(repeated)}, so they cannot be "
            "told apart; rename the columns so that each name is used once, and write the "
            "file again."
        )


def _range_indexes(pandas_md: dict, names) -> dict:
    """The named RangeIndex levels pandas stored as metadata only: name -> (start, step)."""
    out = {}
    for col in pandas_md.get("index_columns", []):
        if (isinstance(col, dict) and col.get("kind") == "range"
                and isinstance(col.get("name"), str) and col["name"] not in names):
            out[col["name"]] = (int(col.get("start", 0)), int(col.get("step", 1)))
    return out


def _range_values(pf, groups, start: int, step: int) -> np.ndarray:
    """The values of a RangeIndex in row groups ``groups`` of a Parquet file."""
    md = pf.metadata
    sizes = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows = np.concatenate([np.arange(offsets[g], offsets[g + 1]) for g in groups])
    return (start + step * rows).astype("int64")


def _hive_folders(path: str, root: str) -> list[tuple[str, str | None]]:
    """The ``key=value`` folder names between ``root`` and the file at ``path``, decoded as
    pyarrow writes them (URL-quoted; ``__HIVE_DEFAULT_PARTITION__`` for a missing value)."""
    prefix = root.rstrip("/") + "/"
    if not path.startswith(prefix):
        return []
    out = []
    for part in path[len(prefix):].split("/")[:-1]:
        key, sep, value = part.partition("=")
        if sep and key:
            value = unquote(value)
            out.append((unquote(key), None if value == HIVE_NULL else value))
    return out


def _is_int64(text: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+", text) is not None and -2**63 <= int(text) < 2**63


def _partition_table(partitions, names, n_rows: int):
    """The partition columns in ``names`` as an Arrow table of ``n_rows`` equal values."""
    import pyarrow as pa

    return pa.table({key: pa.repeat(pa.scalar(value, pa.type_for_alias(typ)), n_rows)
                     for key, value, typ in partitions if key in names})


def _add_partitions(files: Sequence[FileInfo], meta, root: str):
    """Add the Hive partition columns (``year=2024/`` folders) to the scanned Parquet files.

    They are columns of every file below such a folder, after the file's own
    columns, as pyarrow and Dask read them; a key is ``int64`` if every value
    is an integer, else text (pyarrow's rule).  Reading them costs nothing:
    the block tasks fill them in from the value in the path.
    """
    found = [_hive_folders(info.path, root) for info in files]
    if not any(found):
        return tuple(files), meta
    values: dict[str, list] = {}
    for folders in found:
        for key, value in folders:
            values.setdefault(key, []).append(value)
    types = {key: "int64" if all(v is None or _is_int64(v) for v in vs) else "string"
             for key, vs in values.items()}
    out = []
    for info, folders in zip(files, found, strict=True):
        keys = [key for key, _ in folders]
        clash = sorted({k for k in keys if k in info.columns or keys.count(k) > 1})
        if clash:
            raise DataError(
                f"{info.shown}: partition folder key(s) {_listing(clash)} also name a column of "
                "the file or another folder on its path, so the value is ambiguous. Rename the "
                "folders or the columns so that each name is one column."
            )
        partitions = tuple((key, None if value is None else int(value) if types[key] == "int64"
                            else value, types[key]) for key, value in folders)
        out.append(replace(info, columns=info.columns + tuple(keys),
                           numeric=info.numeric + tuple(types[k] == "int64" for k in keys),
                           types=info.types + tuple(types[k] for k in keys),
                           partitions=partitions))
    first = out[0].partitions
    meta = pd.concat([meta, _partition_table(first, set(values), 0).to_pandas()], axis=1)
    return tuple(out), meta


def _parse_header(line: bytes, shown: str) -> list[str]:
    """The column names pandas gives the header ``line``.

    An empty name becomes ``'Unnamed: <position>'``, exactly as
    ``pandas.read_csv`` does, so the names checked here are the names the
    block tasks select.  A repeated name is refused (pandas would number it
    ``'a.1'``, a column the data does not name).
    """
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{shown} does not start with a UTF-8 text header ({one_line(exc)}); it is not a CSV "
            "file or it is corrupt. Replace it or remove it from the dataset."
        ) from exc
    raw = next(csv.reader([text.rstrip("\r\n")]), [])
    if not raw or all(not n.strip() for n in raw):
        raise DataError(f"{shown} has an empty header line; CSV files need a header of column names.")
    _check_unique_names(shown, [n for n in raw if n != ""])
    if len(raw) == 1:
        # one column whose name holds another separator: a file written with sep=";" (as
        # spreadsheets in many locales write CSV), or a TSV, read as one column
        for sep, called in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if len(raw[0].split(sep)) > 1:
                raise DataError(
                    f"{shown} looks separated by {called}, not commas: its header reads as "
                    f"one column, {raw[0][:60]!r}. gpuinc reads comma-separated CSV; write "
                    f"the file with commas (e.g. pandas.read_csv(path, sep={sep!r})"
                    ".to_csv(new_path, index=False)) or as Parquet."
                )
    try:
        names = [str(n) for n in pd.read_csv(_bytesio.StringIO(text), nrows=0).columns]
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{shown} has a header line pandas cannot parse ({one_line(exc)}).") from exc
    return names


def _csv_index_columns(header: bytes, names: Sequence[str]) -> tuple[str, ...]:
    """An unnamed first column (``df.to_csv()`` writes the index so) is an index, not a feature."""
    text = header.decode("utf-8-sig")
    raw = next(csv.reader([text.rstrip("\r\n")]), [])
    if raw and raw[0] == "" and names and names[0] == "Unnamed: 0":
        return ("Unnamed: 0",)
    return ()


#: the package fsspec needs for a compression it may lack
_COMPRESSION_PACKAGES = {"zstd": "zstandard (pip install zstandard)",
                         "snappy": "python-snappy", "lz4": "lz4"}


def _available_compressions() -> list:
    import fsspec

    return fsspec.available_compressions()


#: the first bytes of the compressed formats a CSV file may come in, whatever its name
_COMPRESSED_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
                     (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"))


def _check_zip_members(fs, path: str, shown: str) -> None:
    """A zip archive is read as one CSV file: refuse one that holds more (or none), which
    would otherwise be read as its first member alone."""
    import zipfile

    try:
        with fs.open(path, "rb") as raw, zipfile.ZipFile(raw) as archive:
            names = archive.namelist()
            members = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{shown} could not be read as a zip archive ({one_line(exc)}); is "
                        "it corrupt?") from exc
    if len(members) == 1 and len(names) > 1:  # the file's folder zipped with it
        raise DataError(
            f"{shown} is a zip archive of the file {members[0]} and its folder; a zipped CSV "
            "must hold the file alone (it is read as the archive's first entry). Zip the CSV "
            "file itself (zip -j), or compress it with gzip (.csv.gz)."
        )
    if len(members) != 1:
        listed = ", ".join(members[:5]) + (" ..." if len(members) > 5 else "")
        raise DataError(
            f"{shown} is a zip archive of {len(members)} files ({listed or 'none'}); a zipped "
            "CSV must hold one file. Extract the archive and pass its folder, or zip each CSV "
            "file on its own (or compress it with gzip: .csv.gz)."
        )


def _scan_csv_file(fs, path: str, compression: str | None = None) -> tuple[FileInfo, Any]:
    shown, size, stamp = _file_info(fs, path)
    compression = compression or _csv_compression(path) or None
    if compression == "zip":
        _check_zip_members(fs, path, shown)
    try:
        with fs.open(path, "rb", compression=compression) as fh:
            sample, complete = _read_csv_sample(fh)
    except Exception as exc:
        if compression and compression not in _available_compressions():
            raise DataError(
                f"{shown} is {compression}-compressed, which this Python cannot read: install "
                f"{_COMPRESSION_PACKAGES.get(compression, 'its decompression package')} "
                f"(fsspec reads {compression} with it), or decompress the file."
            ) from exc
        raise DataError(f"{shown} could not be read ({one_line(exc)}); is it corrupt?") from exc
    if compression is None:
        codec = next((c for magic, c in _COMPRESSED_MAGIC if sample.startswith(magic)), None)
        if codec is not None:  # compressed, under a name that does not say so (data.txt.gz)
            return _scan_csv_file(fs, path, codec)
    if not sample.strip():
        raise DataError(f"{shown} is empty (no header, no rows); remove it from the dataset.")
    if sample[257:262] == b"ustar":
        raise DataError(
            f"{shown} is a tar archive{f' ({compression}-compressed)' if compression else ''}, "
            "not a CSV file; extract it (tar -xf) and pass the CSV file(s) or their folder."
        )
    newline = sample.find(b"\n")
    if _wide_text(sample):
        raise DataError(
            f"{shown} is UTF-16 (or UTF-32) encoded text; save it as UTF-8 (e.g. iconv -f "
            "UTF-16 -t UTF-8) and read that."
        )
    if b"\x00" in sample[: newline if newline >= 0 else len(sample)]:
        raise DataError(
            f"{shown} holds NUL bytes in its first line, so it is binary data, not a CSV file "
            "(or it is corrupt); pass CSV text files (or Parquet with --format parquet)."
        )
    if newline < 0 and b"\r" in sample.rstrip(b"\r"):
        raise DataError(
            f"{shown} ends its lines with a carriage return alone (CR, as old Mac files do), "
            "which the CSV reader does not split on; convert its line endings to LF or CRLF "
            "(e.g. tr '\\r' '\\n' < old.csv > new.csv)."
        )
    if newline < 0:
        if complete:
            raise DataError(f"{shown} has a header but no rows; remove it from the dataset.")
        raise DataError(f"{shown}: the first {len(sample)} bytes hold no line break; it is "
                        "not a CSV file with a header, or it is corrupt.")
    header = sample[: newline + 1]
    names = _parse_header(header, shown)
    body = sample if complete else sample[: sample.rfind(b"\n") + 1]
    try:
        frame = _read_csv(body)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(
            f"{shown} is not well-formed CSV in its first lines ({one_line(exc)}); fix or remove it."
        ) from exc
    if len(frame) == 0:
        if complete:
            raise DataError(f"{shown} has a header but no rows; remove it from the dataset.")
        raise DataError(f"{shown}: no complete row in the first {len(sample)} bytes.")
    numeric, types, examples = [], [], []
    for name in names:
        col = frame[name] if name in frame.columns else pd.Series(dtype=float)
        ok = pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
        numeric.append(bool(ok))
        types.append(str(col.dtype))
        examples.append(None if ok else _first_non_numeric(col))
    rows_bytes = max(1, len(body) - len(header))
    bytes_per_row = rows_bytes / len(frame)
    if compression is None and not complete:
        # later rows may be shorter than the first ones (zeros after a dense head): blocks
        # are planned from the shortest rows seen, so that none holds many times blocksize
        bytes_per_row = min(bytes_per_row, _sampled_bytes_per_row(fs, path, size, shown))
    info = FileInfo(path, shown, size, tuple(names), tuple(numeric), tuple(types),
                    header=header, compression=compression,
                    bytes_per_row=bytes_per_row, examples=tuple(examples), stamp=stamp,
                    index_columns=_csv_index_columns(header, names),
                    int_columns=_csv_int_columns(body, frame))
    return info, frame.iloc[:0]


def _wide_text(sample: bytes) -> bool:
    """Whether ``sample`` starts as UTF-16 or UTF-32 text of mostly ASCII characters (a
    byte-order mark aside): their other bytes, in a fixed pattern, are NUL."""
    head = sample[:64]
    for bom in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            head = head[len(bom):]
            break
    head = head[: len(head) // 4 * 4]
    if not head:
        return False

    def nul(i, step):
        return all(b == 0 for b in head[i::step])

    def text(i, step):
        return all(b != 0 for b in head[i::step])

    return ((nul(1, 2) and text(0, 2)) or (nul(0, 2) and text(1, 2))  # UTF-16 LE, BE
            or (nul(1, 4) and nul(2, 4) and nul(3, 4) and text(0, 4))  # UTF-32 LE
            or (nul(0, 4) and nul(1, 4) and nul(2, 4) and text(3, 4)))  # UTF-32 BE


#: places in an uncompressed CSV file (besides its start) where the scan samples the length
#: of its rows, and the bytes read at each
CSV_ROW_SAMPLES = 8
CSV_ROW_SAMPLE_BYTES = 16 * 1024


def _sampled_bytes_per_row(fs, path: str, size: int, shown: str) -> float:
    """The fewest bytes per row among ``CSV_ROW_SAMPLES`` short reads spread over the file
    (inf when none holds a whole line): a line break inside a quoted field makes rows look
    shorter, and so blocks smaller, never larger."""
    best = math.inf
    try:
        for k in range(1, CSV_ROW_SAMPLES + 1):
            offset = max(0, size * k // (CSV_ROW_SAMPLES + 1) - CSV_ROW_SAMPLE_BYTES // 2)
            # a ranged read each: a file object of a remote file system would read ahead
            # megabytes at every seek
            chunk = fs.cat_file(path, start=offset, end=min(size, offset + CSV_ROW_SAMPLE_BYTES))
            first, last = chunk.find(b"\n"), chunk.rfind(b"\n")
            lines = chunk.count(b"\n") - 1  # whole lines between the first and last break
            if lines > 0:
                best = min(best, (last - first) / lines)
    except Exception as exc:
        raise DataError(f"{shown} could not be read ({one_line(exc)}); is it corrupt?") from exc
    return best


_INTEGER_TEXT = r"\s*[+-]?\d+\s*"


def _csv_int_columns(body: bytes, frame: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """Columns of the sample ``frame`` whose values are all written as integers, but which
    pandas typed as float64 (or as text, above 2**63) because a value is missing:
    (name, "Int64" or "UInt64"); and those of booleans (``True`` / ``false`` ...) that a
    missing value made Python objects: (name, "boolean")."""
    floats = [c for c in frame.columns if frame[c].dtype.kind == "f" and frame[c].isna().any()]
    texts = [c for c in frame.columns if not pd.api.types.is_bool_dtype(frame[c])
             and not pd.api.types.is_numeric_dtype(frame[c])]
    if not floats and not texts:
        return ()
    # a float's text is gone from the frame ("1" and "1.0" both read 1.0): read those again;
    # text columns hold their text already
    text = _read_csv(body, dtype={c: str for c in floats}) if floats else frame
    out = []
    for name in [*floats, *texts]:
        values = text[name].dropna().astype(str).str.strip()
        missing = len(text) - int((values != "").sum())
        values = values[values != ""]  # above 2**63 pandas gives text, a missing value ""
        if not missing or not len(values):
            continue
        if values.str.lower().isin(["true", "false"]).all():
            out.append((str(name), "boolean"))
            continue
        if not values.str.fullmatch(_INTEGER_TEXT).all():
            continue
        numbers = [int(v) for v in values]
        low, high = min(numbers), max(numbers)
        if low >= -(2**63) and high < 2**63:
            out.append((str(name), "Int64"))
        elif low >= 0 and high < 2**64:
            out.append((str(name), "UInt64"))
    return tuple(out)


def _read_csv_sample(fh) -> tuple[bytes, bool]:
    """The first bytes of a CSV file: at least ``CSV_SAMPLE_BYTES``, grown (doubling, up to
    ``CSV_MAX_SAMPLE_BYTES``) until they hold the header line and one more line break.

    Returns the sample and whether it is the whole file.
    """
    sample, target = b"", CSV_SAMPLE_BYTES
    while True:
        want = target - len(sample)
        chunk = fh.read(want)
        sample += chunk
        if len(chunk) < want:  # short read: the end of the file
            return sample, True
        first = sample.find(b"\n")
        if first >= 0 and sample.find(b"\n", first + 1) >= 0:
            return sample, not fh.read(1)
        if target >= CSV_MAX_SAMPLE_BYTES:
            return sample, not fh.read(1)
        target = min(2 * target, CSV_MAX_SAMPLE_BYTES)


def _first_non_numeric(col: pd.Series):
    values = col[col.notna()]
    if len(values) == 0:
        return None
    bad = values[pd.to_numeric(values, errors="coerce").isna()]
    return (bad if len(bad) else values).iloc[0]


def _scan_zarr(fs, root: str, source: str, storage_options: dict) -> Dataset:
    from ._optional import import_optional

    zarr = import_optional("zarr", "io")

    store = root if _is_local(fs) else fs.unstrip_protocol(root)
    try:
        node = zarr.open(store=store, mode="r", storage_options=storage_options or None)
    except Exception as exc:
        raise DataError(f"{source} is not a readable Zarr store ({one_line(exc)}).") from exc
    columns, skipped = [], []
    if isinstance(node, zarr.Array):
        if node.ndim != 2:
            raise DataError(
                f"{source} is a {node.ndim}-D Zarr array; a single-array store must be 2-D "
                "(rows x columns). Store columns as arrays of a group instead."
            )
        names = node.attrs.get("columns") or [str(i) for i in range(node.shape[1])]
        if len(names) != node.shape[1]:
            raise DataError(
                f"{source}: the 'columns' attribute names {len(names)} columns but the array has "
                f"{node.shape[1]}; fix the attribute."
            )
        names = [str(name) for name in names]
        dup = sorted(c for c, n in Counter(names).items() if n > 1)
        if dup:
            raise DataError(
                f"{source}: the 'columns' attribute names column(s) {_listing(dup)} more than "
                "once, so they cannot be told apart; give every column its own name in the "
                "attribute."
            )
        numeric = _numpy_is_numeric(node.dtype)
        for i, name in enumerate(names):
            columns.append(_ZarrColumn(name, "", i, 1, str(node.dtype), numeric,
                                       int(node.shape[0]), int(node.chunks[0])))
    else:
        for name, arr in _zarr_group_arrays(fs, root, source, node):
            if arr.ndim not in (1, 2):
                skipped.append((name, int(arr.ndim)))
                continue
            width = 1 if arr.ndim == 1 else int(arr.shape[1])
            columns.append(_ZarrColumn(name, name, None, width, str(arr.dtype),
                                       _numpy_is_numeric(arr.dtype), int(arr.shape[0]),
                                       int(arr.chunks[0])))
        if not columns:
            other = (f" (its arrays {_dims(skipped)} are not columns)") if skipped else ""
            raise DataError(f"{source} is a Zarr group without 1-D or 2-D arrays{other}; it "
                            "holds no data.")
    if all(c.rows == 0 for c in columns):
        raise DataError(f"{source} has no rows; it holds no data to read.")
    return Dataset(source, "zarr", (), dict(storage_options), tuple(columns), zarr_store=store,
                   zarr_skipped=tuple(skipped), fs=fs)


def _dims(arrays) -> str:
    """'cube' (3-D), ... for (name, ndim) pairs."""
    return ", ".join(f"{name!r} ({ndim}-D)" for name, ndim in arrays)


def _zarr_group_arrays(fs, root: str, source: str, node) -> list:
    """The (name, array) pairs of a Zarr group, sorted by name; an array whose metadata
    cannot be read is a DataError that names it."""
    try:
        return sorted(node.arrays(), key=lambda item: item[0])
    except Exception as exc:
        problem = one_line(exc)
    bad = None
    with contextlib.suppress(Exception):  # find which member fails, to name it
        for entry in sorted(fs.ls(root, detail=False)):
            name = posixpath.basename(entry.rstrip("/"))
            if name.startswith(".") or not fs.isdir(entry):
                continue
            try:
                node[name]
            except Exception:
                bad = name
                break
    what = f"the array {bad!r} in {source}" if bad else f"an array in {source}"
    raise DataError(
        f"The metadata of {what} cannot be read ({problem}); the store may be corrupt. "
        "Rewrite that array, or remove it from the store."
    )


def _is_complex(dtype) -> bool:
    try:
        return np.dtype(dtype).kind == "c"
    except TypeError:
        return False


def _numpy_is_numeric(dtype) -> bool:
    """Real numbers or booleans (complex numbers are not features: they would lose their
    imaginary part)."""
    try:
        dtype = np.dtype(dtype)
        return bool((np.issubdtype(dtype, np.number)
                     and not np.issubdtype(dtype, np.complexfloating))
                    or np.issubdtype(dtype, np.bool_))
    except TypeError:  # text and other non-NumPy Zarr data types
        return False


def scan(path, fmt: str | None = None, *, storage_options: dict | None = None) -> Dataset:
    """Read the metadata of a dataset and check every file, without reading the data.

    Parameters
    ----------
    path : str, path, or list of them
        A file, a folder, a glob (``"data/*.parquet"``) or an fsspec URL
        (``"s3://bucket/data/"``, ``"gcs://..."``, ``"memory://..."``).
    fmt : {"parquet", "csv", "zarr"}, optional
        The format; by default it is read from the file suffixes.
    storage_options : dict, optional
        Passed to fsspec (credentials, endpoint ...).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        An empty or unreadable file, naming it.
    FileNotFoundError
        Nothing at ``path``.

    Examples
    --------
    >>> from gpuinc.io import scan
    >>> ds = scan("data/")  # doctest: +SKIP
    >>> ds.columns, ds.n_rows  # doctest: +SKIP
    (('f0', 'f1', 'label'), 1000000)
    """
    storage_options = dict(storage_options or {})
    fs, paths, fmt, source, root = _resolve(path, fmt, storage_options)
    if fmt == "zarr":
        if len(paths) > 1:
            names = ([os.fspath(p) for p in path] if isinstance(path, (list, tuple))
                     else [_shown(fs, p) for p in paths])
            what = "The list" if isinstance(path, (list, tuple)) else source
            raise DataError(
                f"{what} names {len(paths)} Zarr stores ({_listing(names)}); gpuinc reads "
                "one Zarr store at a time; pass one store path, or write the data into one "
                "store."
            )
        return _scan_zarr(fs, paths[0], os.fspath(path) if not isinstance(path, (list, tuple))
                          else os.fspath(path[0]), storage_options)
    scan_one = _scan_parquet_file if fmt == "parquet" else _scan_csv_file
    workers = max(1, min(16, len(paths)))
    with ThreadPoolExecutor(workers, thread_name_prefix="gpuinc-scan") as pool:
        results = list(pool.map(lambda p: scan_one(fs, p), paths))
    files, meta = tuple(info for info, _ in results), results[0][1]
    if fmt == "parquet":
        files, meta = _add_partitions(files, meta, root)
    return Dataset(source, fmt, files, storage_options, fs=fs, meta=meta)


# --------------------------------------------------------------------------- column choice
def _quoted(value, limit: int = 80) -> str:
    """``repr(value)``, cut to about ``limit`` characters: names and values from a file
    (a binary file's "header") must not make a message kilobytes long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}...{text[-12:]} ({len(text):,} characters)"


def _listing(names: Iterable[str], limit: int = 30) -> str:
    names = list(names)
    text = ", ".join(_quoted(n) for n in names[:limit])
    return text + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _where(ds: Dataset) -> str:
    return ds.files[0].shown if ds.files else ds.source


def _as_names(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


_TEXT_TYPES = ("string", "large_string", "str", "object", "string_view", "utf8", "large_utf8")


def _type_family(numeric: bool, typ: str) -> str:
    """"number", "text" or the type: labels of one family can be trained on together. Text
    includes categoricals of text (Arrow dictionaries of strings, whatever their index width)."""
    if numeric:
        return "number"
    if typ.startswith("dictionary<values="):
        values = typ[len("dictionary<values="):].split(",", 1)[0].strip()
        if values in _TEXT_TYPES:
            return "text"
    return "text" if typ in _TEXT_TYPES else typ


def _check_target(ds: Dataset, target: str) -> None:
    _check_zarr_dims(ds, [target])
    if target not in ds.columns:
        raise DataError(
            f"Target column {target!r} is not in {_where(ds)}; available columns: "
            f"{_listing(ds.columns)}. Pass one of them as the target (--target)."
        )
    for info in ds.files[1:]:
        if target not in info.columns:
            raise DataError(
                f"Schema drift: {info.shown} has no target column {target!r}, which "
                f"{ds.files[0].shown} has (its columns: {_listing(info.columns)}). Make the "
                "files agree."
            )
    if ds.fmt == "parquet":
        for info, typ in _parquet_types(ds, target):
            what = _unkeepable(typ)
            if what:
                raise DataError(
                    f"Target column {target!r} in {info.shown} holds {what} ({typ}); labels "
                    "must be numbers or text. Convert the column to numbers or text (e.g. "
                    "decode the bytes) and write the file again, or pick another target "
                    "(--target)."
                )


def _select(ds: Dataset, target: str | None, features, exclude=(), keep=(),
            text_target: bool = False, purpose: str = TRAIN) -> list[str]:
    """Validate the columns against every file; return the feature columns.

    ``purpose`` (:data:`TRAIN` or :data:`PREDICT`) words the fixes the errors suggest.
    """
    available = list(ds.columns)
    known = set(available)
    features = _as_names(features)
    exclude = set(_as_names(exclude) or [])
    keep = _as_names(keep) or []
    if target is not None:
        _check_target(ds, target)
    _check_zarr_dims(ds, [*(features or []), *keep], purpose)
    # an array that is not a column (3-D ...) is left out anyway: excluding it is fine
    not_columns = {name for name, _ in ds.zarr_skipped}
    # a column to exclude may be one that only some files have (leaving it out is the fix
    # for that drift): it is checked against every file's columns
    anywhere = known.union(*(info.columns for info in ds.files))
    _check_known(ds, [c for c in features or [] if c not in known],
                 sorted(c for c in exclude - not_columns if c not in anywhere),
                 [c for c in keep if c not in known], purpose)
    implicit = features is None
    if implicit:
        index = set(ds.files[0].index_columns) if ds.files else set()
        skip = exclude | set(keep) | index | {target}
        features = [c for c in available if c not in skip]
    else:
        if target is not None and target in features:
            raise DataError(
                f"The target column {target!r} is also listed as a feature; remove it from the "
                "features."
            )
        dup = sorted(c for c, n in Counter(features).items() if n > 1)
        if dup:
            raise DataError(f"Feature column(s) {_listing(dup)} listed more than once.")
        features = [c for c in features if c not in exclude]
    if not features:
        raise DataError(f"No feature columns left in {_where(ds)} (columns: {_listing(available)}).")
    if ds.fmt == "zarr":
        _check_zarr_columns(ds, features, target, purpose)
        return features
    first = ds.files[0]
    used = [*features, *([target] if target is not None else []), *keep]
    for info in ds.files:
        _check_file_columns(first, info, features, used, target, implicit,
                            csv=ds.fmt == "csv", text_target=text_target, exclude=exclude,
                            purpose=purpose)
    return features


def _check_known(ds: Dataset, features, exclude, keep, purpose: str = TRAIN) -> None:
    """Refuse column names the data lacks, saying what each was asked for and the fix.

    The features may come from a user (``--features``, ``features=``) or from a model
    (``gpuinc predict`` asks for the columns the model was trained on): for
    :data:`TRAIN` the message is true for both.
    """
    available = f"available columns: {_listing(ds.columns)}"
    if features and purpose == PREDICT:
        raise DataError(
            f"Feature column(s) {_listing(features)} not in {_where(ds)}; {available}. They "
            "were asked for by the model in `gpuinc predict`: a model needs the columns it "
            "was trained on, under the same names. Give data that has these columns, under "
            "these names, or train the model again on this data's columns."
        )
    if features:
        raise DataError(
            f"Feature column(s) {_listing(features)} not in {_where(ds)}; {available}. They "
            "were asked for as features: by --features / features=, or by the model in "
            "`gpuinc predict` (a model needs the columns it was trained on, under the same "
            "names). Give data that has these columns, under these names; or list only "
            "columns this data has (--features), or, for a model, train it again on this "
            "data's columns."
        )
    if keep:
        raise DataError(
            f"Column(s) {_listing(keep)} given to carry along "
            f"({'--id' if purpose == PREDICT else '--id / keep='}) not in {_where(ds)}; "
            f"{available}. Name columns this data has (check the spelling)."
        )
    if exclude:
        raise DataError(
            f"Column(s) {_listing(exclude)} given to --exclude / exclude= not in "
            f"{_where(ds)}; {available}. Name columns this data has (check the spelling), "
            "or leave them out of --exclude."
        )


def _check_file_columns(first: FileInfo, info: FileInfo, features, used, target, implicit,
                        csv: bool = False, text_target: bool = False, exclude=(),
                        purpose: str = TRAIN):
    pos = {c: i for i, c in enumerate(info.columns)}
    first_pos = {c: i for i, c in enumerate(first.columns)}
    missing = [c for c in used if c not in pos]
    if missing:
        if purpose != PREDICT:
            fix = "Make the files agree, or leave the column out (--features / --exclude)."
        elif any(c in features for c in missing):
            fix = "Make the files agree: the model needs the column(s)."
        else:  # columns of --id only
            fix = "Make the files agree, or leave the column(s) out of --id."
        raise DataError(
            f"Schema drift: {info.shown} has no column(s) {_listing(missing)}, which "
            f"{first.shown} has (its columns: {_listing(info.columns)}). {fix}"
        )
    if implicit and info is not first:
        extra = [c for c in info.columns if c not in first_pos
                 and c not in info.index_columns and c not in exclude]
        if extra:
            raise DataError(
                f"Schema drift: {info.shown} has column(s) {_listing(extra)} that {first.shown} "
                "lacks, so 'all the other columns' differs between files. Make the files agree, "
                "leave those columns out (--exclude / exclude=), or name the features "
                "explicitly (--features)."
            )
    for c in features:
        i = pos[c]
        if info.numeric[i]:
            continue
        j = first_pos[c]
        if info is not first and first.numeric[j]:
            fix = ("Make the files agree (convert the column to numbers in every file, as "
                   "for training): the model needs it." if purpose == PREDICT else
                   "Make the files agree (convert the column to numbers in every file), or "
                   "leave it out (--exclude / --features).")
            raise DataError(
                f"Schema drift: column {c!r} is {first.types[j]} in {first.shown} but "
                f"{info.types[i]} in {info.shown}. {fix}"
            )
        example = info.examples[i] if info.examples else None
        sample = f" (e.g. {_quoted(example)})" if example is not None else ""
        raise DataError(
            f"Feature column {_quoted(c)} in {info.shown} is not numeric: {info.types[i]}{sample}. "
            + _not_numeric_fix(purpose)
        )
    if target is not None and info is not first and not (csv and text_target):
        i, j = pos[target], first_pos[target]
        a = _type_family(first.numeric[j], first.types[j])
        b = _type_family(info.numeric[i], info.types[i])
        if a != b:
            csv_hint = (" For CSV labels that mix digits and text, read them as text in "
                        "every file: read_table(..., text_target=True).") if csv else ""
            raise DataError(
                f"Schema drift: target column {target!r} is {first.types[j]} in {first.shown} but "
                f"{info.types[i]} in {info.shown}; labels must have one type in every file."
                + csv_hint
            )


def _not_numeric_fix(purpose: str) -> str:
    """The fix for a feature column that holds something other than numbers."""
    if purpose == PREDICT:
        return ("The model was trained on it as a numeric feature: give data where it holds "
                "numbers, encoded as for training.")
    return ("Leave it out of the features (--exclude / --features; exclude= / features= in "
            "read_table), or encode it as numbers first.")


def _check_zarr_dims(ds: Dataset, names, purpose: str = TRAIN) -> None:
    """Refuse, by name, arrays of a Zarr group that are there but are not columns."""
    dims = dict(ds.zarr_skipped)
    bad = [(n, dims[n]) for n in dict.fromkeys(names) if n in dims]
    if bad:
        these = "it" if len(bad) == 1 else "them"
        if purpose == PREDICT:
            fix = (f"The model was trained on {these} as column(s): give data where "
                   f"{these} {'is' if len(bad) == 1 else 'are'} 1-D or 2-D, as for training "
                   "(e.g. arr.reshape(len(arr), -1)).")
        else:
            fix = (f"Store {these} as 2-D (e.g. arr.reshape(len(arr), -1)), or leave {these} "
                   "out (--features / --exclude).")
        raise DataError(
            f"{ds.source} holds {'array' if len(bad) == 1 else 'arrays'} {_dims(bad)}, but "
            f"only 1-D arrays (one column) and 2-D arrays (rows x columns) are columns. {fix}"
        )


def _zarr_by_name(ds: Dataset) -> dict:
    return {c.name: c for c in ds.zarr_columns}  # names are unique (see _scan_zarr)


def _check_zarr_columns(ds: Dataset, features, target, purpose: str = TRAIN):
    by_name = _zarr_by_name(ds)
    # the rows are those of the arrays read: other arrays may have any length
    rows = {c: by_name[c].rows for c in [*features, *([target] if target else [])]}
    if len(set(rows.values())) > 1:
        raise DataError(
            f"{ds.source}: the arrays have different lengths ({rows}); every column must have "
            "one value per row."
        )
    if not any(rows.values()):
        raise DataError(
            f"{ds.source}: the array(s) read ({_listing(rows)}) have no rows; there is nothing "
            f"{'to predict' if purpose == PREDICT else 'to train on'}."
        )
    for c in features:
        col = by_name[c]
        if not col.numeric and _is_complex(col.dtype):
            fix = ("The model was trained on it as real numbers: give data where it holds "
                   "real numbers, as for training." if purpose == PREDICT else
                   "Store the real and imaginary parts (or the magnitude) as arrays of their "
                   "own, or leave it out (--exclude / --features).")
            raise DataError(
                f"Feature array {c!r} in {ds.source} holds complex numbers ({col.dtype}); "
                f"features must be real numbers. {fix}"
            )
        if not col.numeric:
            fix = (f". {_not_numeric_fix(purpose)}" if purpose == PREDICT else
                   "; leave it out (--exclude / --features) or store it as numbers.")
            raise DataError(f"Feature array {c!r} in {ds.source} is not numeric ({col.dtype}){fix}")
    if target is not None and by_name[target].width != 1:
        raise DataError(
            f"Target array {target!r} in {ds.source} is 2-D; the target must be one column "
            "(a 1-D array)."
        )


# --------------------------------------------------------------------------- block reading
@dataclass(frozen=True)
class _Columns:
    """What each block task keeps and how it converts it (small: it travels with every task)."""

    features: tuple[str, ...]
    target: str | None
    keep: tuple[str, ...]
    dtype: str | None
    allow_nan: bool
    #: per kept column: "Int64" / "UInt64" (integers, exact even with missing values),
    #: "object" (a categorical: its values) or None (as read); see _kept_kind
    kept_kinds: tuple = ()
    #: CSV: parse the target as text in every block (see read_table's text_target)
    text_target: bool = False
    #: what the block is read for (TRAIN or PREDICT): the fixes its errors suggest
    purpose: str = TRAIN

    def __post_init__(self):
        _check_purpose(self.purpose)

    @property
    def needed(self) -> list[str]:
        out = list(self.features)
        for c in ([self.target] if self.target is not None else []) + list(self.keep):
            if c not in out:
                out.append(c)
        return out

    @property
    def kept_as(self) -> tuple[str, ...]:
        """The block's names for the ``keep`` columns.

        A kept column that is also a feature is in the block twice: converted
        under its own name, and as stored under a name no other column has.
        """
        taken, out = set(self.needed), []
        for c in self.keep:
            name = c
            if c in self.features:
                name = f"{c} (kept)"
                while name in taken:
                    name += "_"
                taken.add(name)
            out.append(name)
        return tuple(out)


def _allow_nan_fix(purpose: str) -> str:
    """How to accept missing values, for a sentence "Fill or drop them in the data, ..."."""
    if purpose == PREDICT:
        return "or pass --allow-nan for a model that handles them."
    return "or pass allow_nan=True (--allow-nan) for an estimator that handles them."


def _missing_values_error(where: str, names: Sequence[str], note: str = "",
                          purpose: str = TRAIN) -> DataError:
    return DataError(
        f"{where}: feature column(s) {_listing(names)} hold missing (NaN) or infinite "
        f"values. Fill or drop them in the data, {_allow_nan_fix(purpose)}{note}"
    )


def _nonfinite_error(where: str, names: Sequence[str], block: pd.DataFrame,
                     frame: pd.DataFrame, dtype, purpose: str = TRAIN) -> DataError:
    """The error for feature columns of a block with NaN or infinite values: a value too
    large for ``dtype`` (float32: about 3.4e38), infinite once converted, is named so."""
    if dtype is None or np.dtype(dtype).kind != "f":
        return _missing_values_error(where, names, purpose=purpose)
    limit = float(np.finfo(dtype).max)
    overflow, maybe = [], []
    for name in names:
        converted = block[name].to_numpy()
        inf = np.isinf(converted) if converted.dtype.kind in "fc" else np.zeros(len(block), bool)
        if not inf.any():
            continue
        original = frame[name]
        try:
            stored_dtype = np.dtype(getattr(original.dtype, "numpy_dtype", original.dtype))
        except TypeError:
            continue
        if stored_dtype.kind in "iuf" and stored_dtype.itemsize > np.dtype(dtype).itemsize:
            stored = original.to_numpy(dtype="float64", na_value=np.nan)
            big = inf & np.isfinite(stored)
            if big.any():
                overflow.append((name, stored[np.argmax(big)]))
        elif stored_dtype == np.dtype(dtype):  # CSV: parsed as dtype already
            maybe.append(name)
    # predicting, the features are read as the model was trained (train's --dtype)
    predict = purpose == PREDICT
    if overflow:
        examples = ", ".join(f"{name!r} (e.g. {value:g})" for name, value in overflow)
        fix = ("The model reads its features as it was trained (train's --dtype): train it "
               "again with --dtype float64, or scale the values down." if predict else
               "Pass --dtype float64 (dtype='float64'), or scale the values down.")
        return DataError(
            f"{where}: feature column(s) {examples} hold values too large for {dtype} (at most "
            f"±{limit:.3g}), which would become infinite. {fix}"
        )
    if maybe:
        fix = ("train the model again with --dtype float64" if predict else
               "pass --dtype float64 (dtype='float64')")
        return _missing_values_error(
            where, names,
            f" An infinite value in {_listing(maybe)} may also be a number too large for "
            f"{dtype} (beyond ±{limit:.3g}): for those, {fix}.", purpose=purpose)
    return _missing_values_error(where, names, purpose=purpose)


def _as_number_column(col: pd.Series):
    """A numeric NumPy array for a column pandas holds as an extension or object column.

    Nullable integers, floats and booleans (pandas ``Int64``, ``Float64``,
    ``boolean``; Arrow-backed types), Parquet booleans with nulls (``object``
    of True/False/None), decimals and all-null columns.  Returns
    ``(values, has_missing)``; values with missing entries are float64 with
    NaN.  None: not a column of numbers.
    """
    dt = col.dtype
    if isinstance(dt, np.dtype) and dt.kind == "O":
        kind = pd.api.types.infer_dtype(col, skipna=True)
        if kind == "boolean":
            col = col.astype("boolean")
        elif kind == "empty":
            return np.full(len(col), np.nan), len(col) > 0
        elif kind in ("decimal", "integer", "floating", "mixed-integer-float"):
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            return values, bool(col.isna().any())
        else:
            return None
    elif not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)):
        return None  # text, categories, dates ...
    missing = bool(col.isna().any())
    if missing:
        return col.to_numpy(dtype="float64", na_value=np.nan), True
    target = getattr(col.dtype, "numpy_dtype", None)
    try:
        values = col.to_numpy(dtype=target)
    except (TypeError, ValueError):
        values = col.to_numpy(dtype="float64")
    if values.dtype == object:
        values = values.astype("float64")
    return values, False


#: the kinds of kept integer columns: pandas' nullable dtypes, exact with missing values
_EXACT_INTS = ("Int64", "UInt64")

#: the kind of a kept CSV column read as the text of its fields (``gpuinc predict --id``)
_TEXT = "text"

try:  # the strings pandas.read_csv reads as missing values by default
    from pandas._libs.parsers import STR_NA_VALUES as _PANDAS_NA
except ImportError:  # pragma: no cover - a pandas that moved it
    _PANDAS_NA = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                  "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan",
                  "null"}
_PANDAS_NA = frozenset(_PANDAS_NA)


def _kept_kind(dt) -> str | None:
    """How a kept column of (meta) dtype ``dt`` comes out of every block (see _kept_values)."""
    if isinstance(dt, pd.CategoricalDtype):
        return "object"
    if pd.api.types.is_unsigned_integer_dtype(dt):
        return "UInt64"
    if pd.api.types.is_integer_dtype(dt):
        return "Int64"
    if pd.api.types.is_bool_dtype(dt):
        return "boolean"
    return None


#: the kind of a kept column whose values come out as their text ("1.50", "2024-01-31"):
#: Parquet decimals, dates and times, which pandas holds as Python objects
_AS_TEXT = "as-text"

#: Arrow types (as their names start) that kept columns and targets cannot hold: bytes
#: (Dask turns object columns into text, and bytes are not text) and nested values
_BINARY_TYPES = ("binary", "large_binary", "fixed_size_binary", "binary_view")
_NESTED_TYPES = ("list<", "large_list<", "fixed_size_list<", "list_view<", "large_list_view<",
                 "struct<", "map<", "dense_union<", "sparse_union<")


def _arrow_value_type(typ: str) -> str:
    """The type of the values of an Arrow type's name: a dictionary's values, else itself."""
    if typ.startswith("dictionary<values="):
        return typ[len("dictionary<values="):].split(", indices=", 1)[0].strip()
    return typ


def _unkeepable(typ: str) -> str | None:
    """"bytes" or "nested values" for an Arrow type that kept columns and targets cannot hold."""
    value = _arrow_value_type(typ)
    if value.startswith(_BINARY_TYPES):
        return "bytes"
    if value.startswith(_NESTED_TYPES):
        return "nested values"
    return None


def _parquet_types(ds: Dataset, name: str):
    """(file, Arrow type name) of column ``name`` in each Parquet file of ``ds``."""
    for info in ds.files:
        if name in info.columns:
            yield info, info.types[info.columns.index(name)]


def _kept_kinds(ds: Dataset, keep, purpose: str = TRAIN) -> tuple:
    # a CSV sample with a missing id gives float64: its text says whether the ids are integers
    ints = dict(ds.files[0].int_columns) if ds.files else {}
    kinds = []
    for c in keep:
        kind = ints.get(c) or _kept_kind(ds.meta[c].dtype)
        if ds.fmt == "parquet":
            for info, typ in _parquet_types(ds, c):
                what = _unkeepable(typ)
                if what:
                    option = "--id" if purpose == PREDICT else "keep= (--id)"
                    raise DataError(
                        f"Column {c!r} in {info.shown} holds {what} ({typ}), which {option} "
                        "cannot carry along (kept columns hold numbers, text, booleans, dates "
                        "and times); convert it to text first ("
                        + ("e.g. binary ids as hex, or str(uuid.UUID(bytes=...))" if what ==
                           "bytes" else "e.g. as JSON") + f"), or leave it out of {option}."
                    )
            typ = _arrow_value_type(ds.files[0].types[ds.files[0].columns.index(c)])
            if typ.startswith(("decimal", "date32", "date64", "time32", "time64")):
                kind = _AS_TEXT
        kinds.append(kind)
    return tuple(kinds)


def _kinds(cols: _Columns) -> tuple:
    return cols.kept_kinds or (None,) * len(cols.keep)


def _nullable_int(arrow_type):
    """pandas' nullable integer dtype for an Arrow integer type (None for other types)."""
    import pyarrow as pa

    if pa.types.is_unsigned_integer(arrow_type):
        return pd.UInt64Dtype()
    return pd.Int64Dtype() if pa.types.is_integer(arrow_type) else None


def _kept_values(values: pd.Series, kind: str | None, name: str, where: str,
                 purpose: str = TRAIN) -> pd.Series:
    """A kept column of one block, the same kind in every block.

    Integers stay exact: int64 (uint64), or pandas' nullable Int64 (UInt64)
    in a block with missing values (where pandas would make them float64 and
    round ids above 2**53). A categorical becomes its values, whose type every block shares
    (an empty categorical meta would not match any block's categories).
    """
    if kind in ("object", _TEXT):
        return values.astype(object)
    if kind == _AS_TEXT:  # Decimal, date, time objects: their text
        return values.map(str, na_action="ignore").astype(object)
    if kind is None or (isinstance(values.dtype, np.dtype) and values.dtype.kind in (
            "b" if kind == "boolean" else "iu")):
        return values
    try:
        exact = values.astype(kind)
    except (TypeError, ValueError) as exc:
        if kind == "boolean":
            text = values.astype(str).str.strip().str.lower()
            odd = values[values.notna() & ~values.isin([True, False])
                         & ~text.isin(["true", "false"])]
            held = "booleans"
        else:
            numbers = pd.to_numeric(values, errors="coerce")
            odd = values[values.notna() & (numbers.isna() | (numbers % 1 != 0))]
            held = "integers"
        example = odd.iloc[0] if len(odd) else None
        example = example.item() if isinstance(example, np.generic) else example
        raise DataError(
            f"{where}: column {name!r} holds {_quoted(example)} where the first rows of the data hold "
            f"{held}; fix the value, or leave the column out of "
            f"{'--id' if purpose == PREDICT else '--id / keep='}."
        ) from exc
    return exact if exact.hasnans else exact.astype("bool" if kind == "boolean" else kind.lower())


def _direct_features(frame: pd.DataFrame, cols: _Columns) -> pd.DataFrame | None:
    """The features of a block converted to ``cols.dtype`` straight into one C-ordered
    array (no copy of the selected columns, then of the converted ones, then a C-ordered
    one), when every feature column holds plain NumPy numbers or booleans, not all of
    them of ``cols.dtype`` already (those need no conversion: the columns are taken as
    they are, without a copy); else None."""
    if cols.dtype is None or any(kind == _TEXT and c in cols.features
                                 for c, kind in zip(cols.keep, _kinds(cols), strict=True)):
        return None
    columns = [frame[c] for c in cols.features]
    if not all(isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf" for col in columns):
        return None
    if all(col.dtype == cols.dtype for col in columns):
        return None
    n = len(frame)
    values = np.empty((n, len(columns)), dtype=cols.dtype)
    arrays = [col.to_numpy() for col in columns]
    # a slice of rows at a time, all columns at once: writing one column at a time into
    # the C-ordered array strides through all of it per column (5-7x slower)
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond the dtype: named later
        for a in range(0, n, _DIRECT_ROWS):
            np.stack([x[a:a + _DIRECT_ROWS] for x in arrays], axis=1,
                     out=values[a:a + _DIRECT_ROWS], casting="unsafe")
    return pd.DataFrame(values, index=frame.index, columns=list(cols.features), copy=False)


#: rows converted at a time by _direct_features
_DIRECT_ROWS = 8192


def _finish(frame: pd.DataFrame, cols: _Columns, where: str) -> pd.DataFrame:
    """Check one block's columns and convert its features; errors name ``where``."""
    block = _direct_features(frame, cols)
    if block is None:
        block = frame[list(cols.features)]
    as_text = [c for c, kind in zip(cols.keep, _kinds(cols), strict=True)
               if kind == _TEXT and c in cols.features]
    if as_text:  # a kept CSV column read as text that is also a feature: its numbers
        block = block.copy()
        for name in as_text:
            # read without pandas' missing-value strings (the id keeps "NA"): as a feature,
            # they are missing values, as in any other feature column
            values = block[name].where(~block[name].isin(_PANDAS_NA))
            block[name] = values
            with contextlib.suppress(ValueError, TypeError):  # text: refused below, by name
                block[name] = pd.to_numeric(values)
    converted, missing = {}, []
    for name, dt in block.dtypes.items():
        plain = isinstance(dt, np.dtype) and dt.kind != "O"
        if plain and (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)):
            continue
        # nullable, Arrow-backed, decimal, all-null or bool-with-null columns: NumPy numbers
        got = _as_number_column(block[name])
        if got is None:
            example = _first_non_numeric(block[name])
            sample = f" (e.g. {_quoted(example)})" if example is not None else ""
            raise DataError(
                f"{where}: feature column {_quoted(name)} holds non-numeric values{sample}. "
                + _not_numeric_fix(cols.purpose)
            )
        converted[name], has_missing = got
        if has_missing:
            missing.append(name)
    if missing and not cols.allow_nan:
        raise _missing_values_error(where, missing, purpose=cols.purpose)
    if converted:
        block = block.copy()
        for name, values in converted.items():
            block[name] = values
    if cols.dtype is not None and any(dt != cols.dtype for dt in block.dtypes):
        try:
            with np.errstate(over="ignore"):  # values beyond the dtype: named below, by column
                block = block.astype(cols.dtype)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{where}: a feature column cannot be converted to {cols.dtype} "
                f"({one_line(exc)}); pass --allow-nan for missing integers, or fix the data."
            ) from exc
    # One C-ordered (rows x features) array behind the features: estimators such as
    # scikit-learn's SGD need C order and would otherwise copy each block while it trains;
    # here the copy happens while the previous block trains.
    values = block.to_numpy()
    if not values.flags.c_contiguous and block.dtypes.nunique() == 1:
        values = np.ascontiguousarray(values)
        block = pd.DataFrame(values, index=frame.index, columns=block.columns, copy=False)
    if not cols.allow_nan and len(block):
        if values.dtype.kind in "fc":
            if not np.isfinite(values).all():
                bad_cols = [c for c, bad in zip(block.columns, (~np.isfinite(values)).any(axis=0),
                                                strict=True) if bad]
                raise _nonfinite_error(where, bad_cols, block, frame, cols.dtype, cols.purpose)
        else:  # mixed column types (e.g. bool and float): check the float columns one by one
            bad_cols = [c for c, dt in block.dtypes.items() if dt.kind in "fc"
                        and not np.isfinite(block[c].to_numpy()).all()]
            if bad_cols:
                raise _nonfinite_error(where, bad_cols, block, frame, cols.dtype, cols.purpose)
    extra = {}
    if cols.target is not None:
        y = frame[cols.target]
        if y.isna().any():
            raise DataError(
                f"{where}: the target column {cols.target!r} has missing values in "
                f"{int(y.isna().sum())} row(s); drop those rows or fill them."
            )
        if y.dtype == object and pd.api.types.infer_dtype(y, skipna=True) == "decimal":
            # Decimal labels (Parquet decimal128): numbers, as decimal features are; estimators
            # refuse Decimal objects ("Unknown label type")
            y = pd.Series(pd.to_numeric(y).to_numpy(dtype="float64"), index=y.index, name=y.name)
        extra[cols.target] = y
    for name, kept_as, kind in zip(cols.keep, cols.kept_as, _kinds(cols), strict=True):
        extra[kept_as] = _kept_values(frame[name], kind, name, where, cols.purpose)
    return block.assign(**extra) if extra else block


def _read_parquet_block(parts: tuple, fs, cols: _Columns, stamp: str = "") -> pd.DataFrame:
    """Read row groups of one or more Parquet files as one converted block (``stamp``
    only names the task)."""
    import pyarrow as pa

    frames = []
    for path, shown, groups, partitions in parts:
        where = f"{shown} (row groups {groups[0]}-{groups[-1]})" if len(groups) > 1 \
            else f"{shown} (row group {groups[0]})"
        in_path = {key for key, _, _ in partitions}
        try:
            with _parquet_file(fs, path) as pf:
                schema = pf.schema_arrow
                ranges = {n: r for n, r in _range_indexes(schema.pandas_metadata or {},
                                                          schema.names).items()
                          if n in cols.needed and n not in in_path}
                # one thread: blocks are decoded in parallel with training and with each other
                table = pf.read_row_groups(list(groups), use_threads=False,
                                           columns=[c for c in cols.needed
                                                    if c not in in_path and c not in ranges])
                for name, (start, step) in ranges.items():
                    table = table.append_column(name, pa.array(_range_values(pf, groups, start,
                                                                             step)))
            extra = _partition_table(partitions, cols.needed, table.num_rows)
            for name in extra.column_names:
                table = table.append_column(name, extra.column(name))
            frame = table.to_pandas(use_threads=False)
            # a stored pandas index asked for as a column: pandas' metadata made it the index
            index = [n for n in frame.index.names if n in table.column_names
                     and n not in frame.columns]
            if index:
                frame = frame.reset_index(level=index)
            for name, kind in zip(cols.keep, _kinds(cols), strict=True):
                column = table.column(name)
                if kind in _EXACT_INTS and column.null_count and _nullable_int(column.type):
                    # to_pandas makes integers with nulls float64: inexact above 2**53
                    frame[name] = column.to_pandas(types_mapper=_nullable_int)
                del column
            del table, extra  # in pandas now: free the Arrow copy before the conversion
        except Exception as exc:
            raise DataError(
                f"{where} could not be read ({one_line(exc)}); the file may be corrupt. Replace it "
                "with a good copy or remove it from the dataset."
            ) from exc
        frames.append(_finish(frame, cols, where))
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


def _read_csv_block(piece: tuple, fs, cols: _Columns, stamp: str = "") -> pd.DataFrame:
    """Read one byte range of a CSV file (whole lines) as one converted block.

    ``piece`` is (path, shown, header, offset, length, compression); ``stamp``
    only names the task (it changes with the files).
    """
    path, shown, header, offset, length, compression = piece
    where = shown if length is None else f"{shown} (bytes {offset}-{offset + length})"
    prefix = header if offset > 0 else b""
    try:
        with fs.open(path, "rb", compression=compression) as fh:
            if length is None:
                data = fh.read()
            else:  # the header, then the block's lines, in one buffer (no copy of the block)
                data = _read_lines(fh, offset, length, prefix)
    except Exception as exc:
        raise DataError(f"{where} could not be read ({one_line(exc)}).") from exc
    if offset > 0 and _NOT_SPACE.search(data, len(prefix)) is None:
        return _empty_block(cols)
    # every column is parsed: with usecols= pandas would silently accept rows with extra fields;
    # a kept column is parsed as pandas types it, even if it is also a feature
    fast = {c: cols.dtype for c in cols.features if c not in cols.keep} \
        if cols.dtype is not None else {}
    # integer ids parsed as such, exactly: pandas would make a block with an empty one float64
    fast.update({c: kind for c, kind in zip(cols.keep, _kinds(cols), strict=True)
                 if kind in _EXACT_INTS})
    # text: read as strings, so that pandas' type inference cannot change them ("007" -> 7)
    text = {c: str for c, kind in zip(cols.keep, _kinds(cols), strict=True) if kind == _TEXT}
    # text ids keep the exact text of every field ("NA", "None" ...), an empty one missing;
    # every other column keeps pandas' missing-value strings (only blocks with text ids)
    na = _text_id_na(_parse_header(_header_line(data), shown), text) if text else {}
    if cols.text_target:
        text[cols.target] = str
    fast.update(text)
    fast = fast or None
    lines = _BlockLines(fs, path, compression, offset, length)
    try:
        frame = _parse_csv(data, where, dtype=fast, malformed=(pd.errors.ParserError,
                                                                UnicodeDecodeError), lines=lines,
                           **na)
    except (ValueError, TypeError):
        # a value that is not a number: parse again without dtypes to name the column
        frame = _parse_csv(data, where, dtype=text or None, lines=lines, **na)
    # pandas reads a row with too few fields as missing values in its last columns: so the
    # last column has a missing value in every short row, and only then are the rows counted
    if len(frame.columns) and frame.iloc[:, -1].isna().any():
        _check_short_rows(data, where, lines, len(frame))
    del data  # the text is parsed: free it before the block is converted
    return _finish(frame, cols, where)


_NOT_SPACE = re.compile(rb"\S")


def _read_lines(fh, offset: int, length: int, prefix: bytes) -> bytearray:
    """``prefix``, then the whole lines of ``fh`` that ``fsspec.utils.read_block(fh, offset,
    length, delimiter=b"\\n")`` reads, in one buffer read into directly: the block is
    never copied to prepend the header."""
    import fsspec.utils

    fh.seek(offset)
    fsspec.utils.seek_delimiter(fh, b"\n", 2**16)
    start = fh.tell()
    fh.seek(offset + length)
    fsspec.utils.seek_delimiter(fh, b"\n", 2**16)
    size = max(0, fh.tell() - start)
    out = bytearray(len(prefix) + size)
    out[:len(prefix)] = prefix
    fh.seek(start)
    got = len(prefix)
    with memoryview(out) as view:
        while got < len(out):
            n = fh.readinto(view[got:]) if hasattr(fh, "readinto") else None
            if n is None:  # a file object without readinto
                chunk = fh.read(len(out) - got)
                n = len(chunk)
                view[got:got + n] = chunk
            if not n:
                break
            got += n
    del out[got:]
    return out


class _BufferStream(_bytesio.RawIOBase):
    """A read-only binary stream over a bytes-like object, which it does not copy
    (``io.BytesIO`` copies a bytearray)."""

    def __init__(self, data):
        super().__init__()
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = max(0, min(len(b), len(self._view) - self._pos))
        b[:n] = self._view[self._pos:self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._view.release()
        super().close()


def _stream(data):
    """A binary stream of CSV bytes for ``pd.read_csv``, without a copy of ``data``."""
    if isinstance(data, bytes):
        return _bytesio.BytesIO(data)  # shares the bytes object
    return _BufferStream(data)


def _text_id_na(names: Sequence[str], ids) -> dict:
    """``pd.read_csv`` options under which the ``ids`` columns read an empty field as
    missing and any other text as itself, while every other column (``names``: those of
    the header) keeps pandas' default missing-value strings (``NA``, ``null`` ...)."""
    values = {n: [""] if n in ids else list(_PANDAS_NA) for n in names}
    return {"keep_default_na": False, "na_values": values}


#: bytes read at a time when counting the lines before a CSV block (for error messages)
_COUNT_CHUNK = 1 << 22


@dataclass(frozen=True)
class _BlockLines:
    """Where one CSV block's lines are in its file, for error messages.

    The parsed bytes are the file's header line, then the block: line ``n`` of the
    parsed bytes (1: the header) is line ``n`` of the file for the first block, and for
    a later block the line ``n - 1`` lines after the block's first.
    """

    fs: Any
    path: str
    compression: str | None
    offset: int
    length: int | None

    def lines_before(self) -> int:
        """The number of lines of the file before the block (streamed, on error paths only).

        A block from byte ``offset`` on starts after the first line break at or after
        ``offset`` (``fsspec.utils.read_block``), so that break is counted too.
        """
        if self.offset == 0:
            return 0
        count, left = 0, self.offset
        with self.fs.open(self.path, "rb", compression=self.compression) as fh:
            while left > 0:
                chunk = fh.read(min(_COUNT_CHUNK, left))
                if not chunk:
                    raise EOFError(f"the file ends before byte {self.offset}")
                count += chunk.count(b"\n")
                left -= len(chunk)
        return count + 1

    def name(self, line: int) -> str:
        """``"line N of the file"`` for line ``line`` of the parsed bytes; if the lines
        before the block cannot be counted, ``"line N of bytes A-B"``."""
        if self.offset == 0:
            return f"line {line} of the file"
        try:
            return f"line {self.lines_before() + line - 1} of the file"
        except Exception as exc:
            end = "" if self.length is None else f"-{self.offset + self.length}"
            return (f"line {line - 1} of bytes {self.offset}{end}, counted from the first line "
                    f"that starts there (the lines before could not be counted: "
                    f"{one_line(exc)})")


def _ragged_row_error(where: str, lines: _BlockLines, line: int, expected: int, saw: int,
                      more: int = 0, names: int | None = None) -> DataError:
    """``names``: the header's fields, where the rows have one more (an empty last field)."""
    others = f"; {more} more row(s) of this block have too few fields too" if more else ""
    source = "as in the header" if names in (None, expected) else \
        f"the header's {names} and the empty one the rows end with"
    if saw > expected:
        why = ("Fix that row or drop it: every row needs one field per header name, and a "
               "value that holds the delimiter must be quoted (\"1,5\").")
    else:
        why = ("Fix that row or drop it: every row needs one field per header name; a "
               "missing value is an empty field (1,,3), not a missing one.")
    if getattr(lines, "offset", 0):  # a block that starts inside the file
        why += (" If the file's quoted fields hold line breaks, a block may start inside one: "
                "read the file in one block (blocksize=None, --blocksize none).")
    return DataError(
        f"{where} is not well-formed CSV (expected {expected} fields, {source}, in "
        f"{lines.name(line)}, saw {saw}{others}). {why}"
    )


#: pandas' message for a row with more fields than the header (its line counts from the
#: start of the bytes parsed)
_PANDAS_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


#: bytes of a CSV block looked at a time when counting its fields: the count works on
#: arrays of this many entries, not of the block's size
_FIELD_CHUNK = 1 << 20


def _field_counts(data: bytes, spans: bool = False):
    """The number of fields of each record of CSV bytes, -1 for a blank line (pandas skips
    those); with ``spans``, also each record's (start, end) in ``data``.

    See :func:`_records`, which gives them a slice of ``data`` at a time.
    """
    parts = list(_records(data))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return (empty, empty, empty) if spans else empty
    counts, starts, ends = (np.concatenate(p) for p in zip(*parts, strict=True))
    return (counts, starts, ends) if spans else counts


def _records(data: bytes):
    """The records of CSV bytes, ``_FIELD_CHUNK`` bytes at a time: for each slice, the
    (fields, start, end) arrays of the records that end in it (fields -1: a blank line,
    which pandas skips).

    Commas and line breaks inside quotes do not count, told by the parity of the
    quotes before them (``""`` inside a quoted field toggles it twice; the parity is
    carried from slice to slice), in whole-array steps.  Bytes with an odd number of
    quotes hold a stray one (``5"3``, which CSV readers take as a literal): then every
    line is a record, and the lines with quotes are counted one by one as pandas reads
    them.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    n = len(arr)
    n_quotes = data.count(b'"')
    balanced = n_quotes % 2 == 0
    parity = 0  # of the quotes before the slice
    open_start, open_commas, open_quoted = 0, 0, False  # the record the slice starts in

    def finish(counts, starts, ends, quoted):
        for i in np.flatnonzero(quoted):  # lines with stray quotes: as a CSV reader reads each
            counts[i] = _fields_in(data[starts[i]:ends[i]])
        # blank lines: one field, no more than white space (few: checked one by one)
        for i in np.flatnonzero(counts == 1):
            if not data[starts[i]:ends[i]].strip():
                counts[i] = -1
        return counts, starts, ends

    for a in range(0, n, _FIELD_CHUNK):
        part = arr[a:a + _FIELD_CHUNK]
        newline, comma = part == ord("\n"), part == ord(",")
        quote_at = None
        if n_quotes:
            quotes = (part == ord('"')).view(np.uint8)
            if balanced:
                outside = _outside_quotes(quotes)  # of the slice's own quotes
                if parity:  # an odd number of quotes before the slice: the other way round
                    np.logical_not(outside, out=outside)
                parity ^= int(np.count_nonzero(quotes)) & 1
                newline &= outside
                comma &= outside
                del outside
            else:
                quote_at = np.flatnonzero(quotes)
            del quotes
        ends = np.flatnonzero(newline)
        del newline
        commas_at = np.flatnonzero(comma)
        del comma
        before = np.searchsorted(commas_at, ends)
        quoted = np.zeros(len(ends), dtype=bool)
        if quote_at is not None and len(quote_at):
            which = np.searchsorted(ends, quote_at)
            quoted[which[which < len(ends)]] = True
        if not len(ends):
            open_commas += len(commas_at)
            open_quoted = open_quoted or bool(quote_at is not None and len(quote_at))
            continue
        counts = np.diff(before, prepend=0) + 1
        counts[0] += open_commas
        quoted[0] |= open_quoted
        ends += a
        starts = np.concatenate([[open_start], ends[:-1] + 1]).astype(np.int64)
        open_start = int(ends[-1]) + 1
        open_commas = len(commas_at) - int(before[-1])
        open_quoted = bool(quote_at is not None and len(quote_at) and quote_at[-1] + a > ends[-1])
        yield finish(counts, starts, ends, quoted)
    if open_start < n:  # a last record without a line break
        yield finish(np.array([open_commas + 1]), np.array([open_start], dtype=np.int64),
                     np.array([n]), np.array([open_quoted]))


def _outside_quotes(quotes: np.ndarray) -> np.ndarray:
    """For each byte, whether an even number of quotes stands before it (``quotes``: 1
    where a byte is a quote, as uint8)."""
    return (np.bitwise_xor.accumulate(quotes) ^ quotes) == 0


def _header_line(data: bytes) -> bytes:
    """The first line of CSV bytes, without its line break."""
    end = data.find(b"\n")
    return data if end < 0 else data[:end]


def _fields_in(text: bytes) -> int:
    """Fields of the first CSV record of ``text`` (a quote is special at a field's start
    only, as in pandas)."""
    return len(next(csv.reader([text.decode("utf-8", errors="replace")]), []))


def _short_records(data: bytes, least: int, skip_header: bool):
    """The records of ``data`` with fewer than ``least`` fields (blank lines aside), as
    (line of ``data`` where the record starts, from 0; fields), each confirmed by Python's CSV reader on its text: quotes
    outside CSV's rules (``5"3``) can make the whole-array count see a short record.  Works a
    slice of ``data`` at a time (see :func:`_records`)."""
    found, seen = [], 0
    for counts, starts, ends in _records(data):
        short = (counts >= 0) & (counts < least)
        if skip_header and seen == 0:
            short[0] = False
        seen += len(counts)
        for i in np.flatnonzero(short):
            text = data[starts[i]:ends[i]].decode("utf-8", errors="replace")
            fields = [len(r) for r in csv.reader(_bytesio.StringIO(text)) if r]
            if any(f < least for f in fields):
                # where it starts, in lines (records with quoted line breaks span several)
                found.append((data.count(b"\n", 0, int(starts[i])), min(fields)))
    return found


def _check_short_rows(data: bytes, where: str, lines: _BlockLines, n_rows: int) -> None:
    """Refuse rows with fewer fields than the header (pandas reads them as missing values).

    ``data`` is the header line and the block, which pandas read as ``n_rows`` rows.  Rows
    whose fields are there but empty (``1,,3``) are missing values, not short rows.
    """
    if b'"' not in data:
        # the quick answer, in one pass: when no row has more fields than the header (pandas
        # refuses those, unless the first row has one more: see _read_csv), every row has the
        # header's fields exactly when the commas add up
        header_end = data.find(b"\n")
        expected = data.count(b",", 0, header_end) + 1
        first_end = data.find(b"\n", header_end + 1)
        first_end = len(data) if first_end < 0 else first_end
        if (data.count(b",", header_end + 1, first_end) < expected
                and data.count(b",") == (expected - 1) * (n_rows + 1)):
            return
    header = _header_line(data)
    expected = _fields_in(header)
    short = _short_records(data, _least_fields(header, expected), skip_header=True)
    if short:
        first, fields = short[0]
        raise _ragged_row_error(where, lines, first + 1, expected, fields,
                                more=len(short) - 1)


def _least_fields(header: bytes, expected: int) -> int:
    """The fields a row needs: a header that ends with a delimiter names no last column,
    and rows without that empty field lack nothing (pandas reads them alike)."""
    return expected - 1 if header.rstrip(b"\r").endswith(b",") else expected


def _read_csv(data: bytes, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` of CSV bytes (a header line, then rows) whose rows may end with a
    stray delimiter.

    When the first row has one field more than the header, pandas makes the
    first field of every row the index, and every value lands one column name
    to the left.  A trailing delimiter on every row (a common export) is that,
    with an empty last field: the rows are then read with one unnamed column
    more, which must stay empty in every row and is dropped.  An extra field
    that holds a value (an unquoted delimiter inside a value, a header
    missing a name) raises ``ValueError`` rather than shifting or dropping
    values.
    """
    header, first = _first_records(data)
    if first is None or len(first) <= len(header):
        return pd.read_csv(_stream(data), **kwargs)
    if len(first) > len(header) + 1 or first[-1].strip():
        raise ValueError(
            f"its first row has {len(first)} fields for {len(header)} header names (an "
            "unquoted delimiter inside a value, or a column without a name in the header)"
        )
    names = [str(n) for n in pd.read_csv(_stream(data), nrows=0).columns]
    extra = "\x00gpuinc-trailing-field"
    dtype = kwargs.pop("dtype", None)
    dtype = {**(dtype or {}), extra: str}
    frame = pd.read_csv(_stream(data), header=0, names=[*names, extra], dtype=dtype,
                        **kwargs)
    tail = frame[extra].dropna().astype(str).str.strip()
    tail = tail[tail != ""]
    if len(tail):
        raise ValueError(
            f"its rows end with an empty field after the last header column, but a row holds "
            f"{tail.iloc[0]!r} there (an unquoted delimiter inside a value, or a column "
            "without a name in the header)"
        )
    return frame.drop(columns=extra)


def _first_records(data: bytes) -> tuple[list[str], list[str] | None]:
    """The header's fields and the first row's (None without a row), as the csv module reads
    them; at least 64 KiB are read, and enough for the header and the first row."""
    first_end = data.find(b"\n")
    second_end = data.find(b"\n", first_end + 1) if first_end >= 0 else -1
    limit = max(1 << 16, second_end + 1 if second_end >= 0 else len(data))
    records = csv.reader(_bytesio.StringIO(data[:limit].decode("utf-8-sig", errors="replace")))
    header = next(records, [])
    first = next(records, None)
    # blank and whitespace-only lines: pandas skips them
    while first is not None and (not first or (len(first) == 1 and not first[0].strip())):
        first = next(records, None)
    return header, first


def _parse_csv(data: bytes, where: str, dtype=None,
               malformed=(ValueError, pd.errors.ParserError),
               lines: _BlockLines | None = None, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` on bytes (``kwargs``: more of its options); the ``malformed`` errors
    become one DataError naming ``where`` (and, for a row with too many fields, its line in
    the file: ``lines``)."""
    try:
        with np.errstate(over="ignore"):  # values beyond a float32 dtype: named when checked
            return _read_csv(data, dtype=dtype, **kwargs)
    except malformed as exc:
        ragged = _PANDAS_RAGGED.search(str(exc)) if lines is not None else None
        if ragged:
            expected, line, saw = (int(g) for g in ragged.groups())
            names = _fields_in(_header_line(data))
            raise _ragged_row_error(where, lines, line, expected, saw, names=names) from exc
        raise DataError(
            f"{where} is not well-formed CSV ({one_line(exc)}); fix or remove the file."
        ) from exc


def _empty_block(cols: _Columns) -> pd.DataFrame:
    data = {c: np.empty(0, dtype=cols.dtype or "float64") for c in cols.features}
    if cols.target is not None:
        data[cols.target] = np.empty(0, dtype=object)
    for c in cols.kept_as:
        data.setdefault(c, np.empty(0, dtype=object))
    return pd.DataFrame(data)


def _rows_per_block(blocksize, n_features: int, dtype) -> int | None:
    if blocksize is None:
        return None
    nbytes = parse_bytes(blocksize) if isinstance(blocksize, str) else int(blocksize)
    if nbytes <= 0:
        raise ValueError(f"blocksize must be positive, got {blocksize!r}.")
    itemsize = np.dtype(dtype).itemsize if dtype is not None else 8
    return max(1, nbytes // max(1, n_features * itemsize))


def _parquet_pieces(files: Sequence[FileInfo], rows_per_block: int | None) -> list[tuple]:
    """Group row groups (across files) into blocks of about ``rows_per_block`` rows."""
    pieces: list[tuple] = []
    current: list[tuple] = []
    current_rows = 0
    for fi, info in enumerate(files):
        groups: list[int] = []
        for gi, n in enumerate(info.row_groups):
            if n == 0:
                continue
            groups.append(gi)
            current_rows += n
            if rows_per_block is not None and current_rows >= rows_per_block:
                current.append((fi, tuple(groups)))
                pieces.append(tuple(current))
                current, groups, current_rows = [], [], 0
        if groups:
            current.append((fi, tuple(groups)))
        if rows_per_block is None and current:
            pieces.append(tuple(current))
            current, current_rows = [], 0
    if current:
        pieces.append(tuple(current))
    return pieces


def _csv_pieces(files: Sequence[FileInfo], rows_per_block: int | None) -> list[tuple]:
    pieces = []
    for fi, info in enumerate(files):
        if info.compression is not None or rows_per_block is None:
            pieces.append((fi, 0, None))
            continue
        step = max(64 * 1024, int(rows_per_block * (info.bytes_per_row or 1)))
        if step >= info.size:
            pieces.append((fi, 0, None))
            continue
        # the last block ends at the end of the file (its bytes, as messages name them)
        pieces.extend((fi, off, min(step, info.size - off)) for off in range(0, info.size, step))
    return pieces


def block_sources(ds: Dataset, n_features: int, dtype, blocksize) -> list[str]:
    """What each block of ``read_table(ds, ...)`` reads, in block order, for messages:
    ``"data/part-3.parquet (row groups 0-2)"``, ``"data/x.csv (bytes 0-1048576)"``."""
    rows = _rows_per_block(blocksize, n_features, dtype)
    out = []
    if ds.fmt == "parquet":
        for piece in _parquet_pieces(ds.files, rows):
            out.append(", ".join(
                f"{ds.files[fi].shown} (row group{'s' if len(groups) > 1 else ''} "
                f"{groups[0]}{f'-{groups[-1]}' if len(groups) > 1 else ''})"
                for fi, groups in piece))
    elif ds.fmt == "csv":
        for fi, offset, length in _csv_pieces(ds.files, rows):
            shown = ds.files[fi].shown
            out.append(shown if length is None else f"{shown} (bytes {offset}-{offset + length})")
    return out


def _frame_meta(ds: Dataset, cols: _Columns) -> pd.DataFrame:
    meta = ds.meta
    data = {}
    for c in cols.features:
        if cols.dtype is not None:
            data[c] = np.empty(0, dtype=cols.dtype)
        else:
            data[c] = np.empty(0, dtype=_numpy_feature_dtype(meta[c].dtype))
    if cols.target is not None and cols.target not in data:
        target_meta = meta[cols.target].iloc[:0]
        first = ds.files[0] if ds.files else None
        if first is not None and first.types[first.columns.index(cols.target)].startswith(
                "decimal"):
            target_meta = target_meta.astype("float64")  # see _finish
        data[cols.target] = target_meta.astype(object) if cols.text_target else target_meta
    for c, kept_as, kind in zip(cols.keep, cols.kept_as, _kinds(cols), strict=True):
        column = meta[c].iloc[:0]
        if kind in ("object", _TEXT) or (kind in _EXACT_INTS
                                and not pd.api.types.is_integer_dtype(column.dtype)):
            # integers that the scan's sample read as float / text; text as object
            column = column.astype(object if kind == _TEXT else kind)
        data.setdefault(kept_as, column)
    return pd.DataFrame(data)


def _numpy_feature_dtype(dt) -> np.dtype:
    """The NumPy dtype of a feature block column with dtype=None (see :func:`_finish`); a
    block with missing values in a nullable integer or boolean column has float64 there."""
    if isinstance(dt, np.dtype) and dt.kind != "O":
        return dt
    numpy_dtype = getattr(dt, "numpy_dtype", None)
    if numpy_dtype is not None and np.dtype(numpy_dtype).kind != "O":
        return np.dtype(numpy_dtype)
    return np.dtype("float64")  # decimal and all-null columns, or missing values


def _tabular_frame(ds: Dataset, cols: _Columns, blocksize) -> dd.DataFrame:
    """One lazy frame (features, target, kept columns); one read task per block."""
    fs = None if _is_local(ds.fs) else ds.fs
    rows = _rows_per_block(blocksize, len(cols.features), cols.dtype)
    token = tokenize(ds.fmt, [(f.path, f.stamp) for f in ds.files], cols, blocksize,
                     ds.storage_options)
    # dd.from_map, not from_delayed(verify_meta=False): a frame of the latter could not
    # become a Dask array (.values failed with "Missing dependency"). Blocks may differ
    # from the meta on purpose (missing values in integer columns; see _finish).
    meta = _frame_meta(ds, cols)
    if ds.fmt == "parquet":
        pieces = [tuple((ds.files[fi].path, ds.files[fi].shown, groups, ds.files[fi].partitions)
                        for fi, groups in piece)
                  for piece in _parquet_pieces(ds.files, rows)]
        return dd.from_map(_read_parquet_block, pieces, args=(fs, cols, token), meta=meta,
                           enforce_metadata=False, label="gpuinc-read-parquet")
    fs = ds.fs
    pieces = [(ds.files[fi].path, ds.files[fi].shown, ds.files[fi].header, offset, length,
               ds.files[fi].compression)
              for fi, offset, length in _csv_pieces(ds.files, rows)]
    return dd.from_map(_read_csv_block, pieces, args=(fs, cols, token), meta=meta,
                       enforce_metadata=False, label="gpuinc-read-csv")


def _read_zarr_arrays(source: str, storage_options: dict, columns: tuple, start: int,
                      stop: int, where: str) -> dict:
    """Rows [start, stop) of the arrays that hold ``columns``, each array read once.

    A root 2-D array is read over the column ranges its wanted columns span (see
    :func:`_column_spans`); its entry is ``(block, {column of the array: column of
    the block})``, a named array's ``(block, None)``.  Errors are raised outside the ``except``
    clause, with the Zarr message in their text: chained to a Zarr exception, a
    DataError raised on a worker could not be unpickled on the client.
    """
    blocks, failure, failed = {}, None, columns[0]
    try:
        import zarr

        for col in columns:
            if col.array in blocks:
                continue
            failed = col
            arr = zarr.open_array(store=source, path=col.array, mode="r",
                                  storage_options=storage_options or None)
            if col.array:
                blocks[col.array] = (arr[start:stop], None)
            else:  # a root 2-D array: the column ranges of the column chunks wanted
                spans = _column_spans([c.index for c in columns if c.array == col.array],
                                      arr.chunks[1])
                parts = [arr[start:stop, a:b] for a, b in spans]
                where_in, offset = {}, 0  # column of the array -> column of the block
                for a, b in spans:
                    where_in.update({i: offset + i - a for i in range(a, b)})
                    offset += b - a
                block = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
                blocks[col.array] = (block, where_in)
    except Exception as exc:
        name = f"array {failed.name!r}" if failed.array else "the array"
        failure = (f"{where}: {name} could not be read ({one_line(exc)}); the store may be "
                   "corrupt, or it changed since it was scanned.")
    if failure is not None:
        raise DataError(failure)
    return blocks


def _column_spans(indices, chunk: int) -> list:
    """Column ranges to read for ``indices`` of a 2-D array chunked ``chunk`` columns wide:
    one range over the columns wanted, split where whole column chunks hold none of them
    (features c0..c9 and a target c399 are two reads, not one of 400 columns)."""
    wanted = sorted(set(indices))
    spans, first, last = [], wanted[0], wanted[0]
    for i in wanted[1:]:
        if i // chunk - last // chunk > 1:
            spans.append((first, last + 1))
            first = i
        last = i
    spans.append((first, last + 1))
    return spans


def _zarr_target(blocks: dict, col, where: str) -> np.ndarray:
    """The target column ``col`` out of the arrays read by :func:`_read_zarr_arrays`."""
    block, where_in = blocks[col.array]
    y = np.asarray(block if col.index is None else block[:, where_in[col.index]])
    # text labels (e.g. zarr 3 strings, NumPy StringDType): plain Python str objects
    y = y.astype(object) if y.dtype.kind == "T" else y
    if y.dtype.kind in "fcO":  # NaN, or None among text labels
        missing = int(np.asarray(pd.isna(y)).sum())
        if missing:
            raise DataError(
                f"{where}: the target array {col.name!r} has missing values in "
                f"{missing} row(s); drop those rows or fill them."
            )
    return y


def _zarr_features(blocks: dict, columns: tuple, rows: int, dtype: str | None,
                   allow_nan: bool, where: str, purpose: str = TRAIN) -> np.ndarray:
    """The feature columns, in order, as one C-ordered 2-D array."""
    pieces, run = [], []  # run: consecutive columns of a root 2-D array, as indices

    def flush():
        if run:
            block, where_in = blocks[""]
            wanted = [where_in[i] for i in run]
            contiguous = wanted == list(range(wanted[0], wanted[0] + len(wanted)))
            pieces.append(block[:, wanted[0]:wanted[-1] + 1] if contiguous
                          else np.take(block, wanted, axis=1))
            run.clear()

    for col in columns:
        if col.index is not None:
            run.append(col.index)
            continue
        flush()
        pieces.append(np.asarray(blocks[col.array][0]).reshape(rows, -1))
    flush()
    out = np.concatenate(pieces, axis=1) if len(pieces) > 1 else np.asarray(pieces[0])
    if dtype is not None:
        with np.errstate(over="ignore"):  # values beyond the dtype: refused below as infinite
            out = out.astype(dtype, copy=False)
    out = np.ascontiguousarray(out)  # a view of some columns of a block: one C-ordered copy
    if not allow_nan and out.dtype.kind in "fc" and not np.isfinite(out).all():
        bad = (~np.isfinite(out)).any(axis=0)
        names, j = [], 0
        for col in columns:
            if bad[j:j + col.width].any():
                names.append(col.name)
            j += col.width
        raise DataError(
            f"{where}: feature array(s) {_listing(names)} hold missing (NaN) or infinite values. "
            f"Fill or drop them in the data, {_allow_nan_fix(purpose)}"
        )
    return out


def _read_zarr_columns(source: str, storage_options: dict, columns: tuple, start: int, stop: int,
                       dtype: str | None, allow_nan: bool, what: str, purpose: str = TRAIN):
    """Rows [start, stop) of some Zarr columns as one 2-D (or, for a target, 1-D) array;
    ``purpose`` words the fixes its errors suggest."""
    where = f"{source} rows {start}:{stop}"
    blocks = _read_zarr_arrays(source, storage_options, columns, start, stop, where)
    if what == "y":
        return _zarr_target(blocks, columns[0], where)
    return _zarr_features(blocks, columns, stop - start, dtype, allow_nan, where, purpose)


def _read_zarr_xy(source: str, storage_options: dict, fcols: tuple, tcol, start: int,
                  stop: int, dtype: str | None, allow_nan: bool, purpose: str = TRAIN) -> tuple:
    """Features and target of rows [start, stop) from one read of the arrays they share."""
    where = f"{source} rows {start}:{stop}"
    blocks = _read_zarr_arrays(source, storage_options, (*fcols, tcol), start, stop, where)
    return (_zarr_features(blocks, fcols, stop - start, dtype, allow_nan, where, purpose),
            _zarr_target(blocks, tcol, where))


def _zarr_step(cols, n: int, rows: int | None) -> int:
    """Rows per Zarr block: about ``rows`` (None: all), whole chunks of the arrays read.

    When the arrays are chunked alike, or their chunks have a common multiple within
    ``rows``, blocks are made of whole chunks of every array, so no chunk is decoded
    twice in a pass.  Otherwise blocks follow the first feature's chunks.
    """
    if rows is None:
        return n
    chunks = [c.chunk_rows for c in cols if c.chunk_rows]
    unit = math.lcm(*chunks) if chunks else n
    if unit > rows:
        unit = cols[0].chunk_rows or n
    return max(unit, (rows // unit) * unit)


def _zarr_collections(ds: Dataset, features, target, dtype, allow_nan, blocksize,
                      purpose: str = TRAIN):
    by_name = _zarr_by_name(ds)
    fcols = tuple(by_name[c] for c in features)
    tcol = by_name[target] if target is not None else None
    width = sum(c.width for c in fcols)
    n = fcols[0].rows
    step = _zarr_step([*fcols, *([tcol] if tcol else [])], n,
                      _rows_per_block(blocksize, width, dtype))
    bounds = [(a, min(n, a + step)) for a in range(0, n, step)]
    token = tokenize(ds.zarr_store, ds.zarr_columns, features, target, dtype, allow_nan, blocksize,
                     purpose)
    out_dtype = np.dtype(dtype) if dtype is not None else np.result_type(*[c.dtype for c in fcols])
    so = ds.storage_options
    ydt = _zarr_label_dtype(tcol.dtype) if tcol is not None else None

    def x_block(task, a, b):
        return da.from_delayed(task, shape=(b - a, width), dtype=out_dtype,
                               meta=np.empty((0, 0), out_dtype))

    def y_block(task, a, b):
        return da.from_delayed(task, shape=(b - a,), dtype=ydt, meta=np.empty((0,), ydt))

    if tcol is not None and any(c.array == tcol.array for c in fcols):
        # The target is a column of an array the features come from (a root 2-D
        # array): one task reads the rows of both, so no chunk is decoded twice.
        pairs = [dask.delayed(_read_zarr_xy, pure=True, nout=2)(
            ds.zarr_store, so, fcols, tcol, a, b, dtype, allow_nan, purpose,
            dask_key_name=f"gpuinc-read-zarr-xy-{token}-{i}") for i, (a, b) in enumerate(bounds)]
        xs = [x_block(p[0], a, b) for p, (a, b) in zip(pairs, bounds, strict=True)]
        ys = [y_block(p[1], a, b) for p, (a, b) in zip(pairs, bounds, strict=True)]
    else:
        xs = [x_block(dask.delayed(_read_zarr_columns, pure=True)(
            ds.zarr_store, so, fcols, a, b, dtype, allow_nan, "X", purpose,
            dask_key_name=f"gpuinc-read-zarr-x-{token}-{i}"), a, b)
            for i, (a, b) in enumerate(bounds)]
        ys = None if tcol is None else [y_block(dask.delayed(_read_zarr_columns, pure=True)(
            ds.zarr_store, so, (tcol,), a, b, None, True, "y",
            dask_key_name=f"gpuinc-read-zarr-y-{token}-{i}"), a, b)
            for i, (a, b) in enumerate(bounds)]
    X = da.concatenate(xs, axis=0) if len(xs) > 1 else xs[0]
    if ys is None:
        return X, None
    return X, da.concatenate(ys, axis=0) if len(ys) > 1 else ys[0]


def _zarr_label_dtype(dtype: str) -> np.dtype:
    """The dtype of Zarr target blocks: object for text types NumPy cannot name from a string."""
    try:
        dt = np.dtype(dtype)
    except TypeError:  # e.g. 'StringDType()' (zarr 3 strings) and other Zarr-only types
        return np.dtype(object)
    return np.dtype(object) if dt.kind == "T" else dt


def _dataset(data, fmt, storage_options) -> Dataset:
    if isinstance(data, Dataset):
        if fmt is not None and fmt != data.fmt:
            raise ValueError(f"fmt={fmt!r} but the dataset was scanned as {data.fmt!r}.")
        return data
    return scan(data, fmt, storage_options=storage_options)


def _check_dtype(dtype):
    if dtype is None:
        return None
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        # a cast to integers truncates fractions (1.7 -> 1) and wraps values out of range
        raise ValueError(
            f"dtype={dtype!r} (--dtype): features are converted to it, and converting to an "
            "integer dtype would silently truncate fractions and wrap out-of-range values. Use a "
            "floating dtype such as 'float32' or 'float64', or dtype=None to keep each column's "
            "stored type."
        )
    if dt.kind != "f" or dt.name not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32', 'float64' or None (each column's stored "
                         f"type), got {dtype!r}.")
    return dt.name


def _check_flag(name: str, value) -> bool:
    """A True/False argument: anything else (``"no"``, which is true) is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def _check_column_name(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one column name (a str), got {value!r}.")
    return value


def _check_blocksize(blocksize):
    """``blocksize``: a positive number of bytes, a size such as "64MiB", or None."""
    if blocksize is None:
        return None
    if isinstance(blocksize, (bool, np.bool_)) or not isinstance(
            blocksize, (str, numbers.Real)) or (isinstance(blocksize, numbers.Real) and not (
                math.isfinite(blocksize) and float(blocksize).is_integer())):
        raise TypeError(f"blocksize must be a whole number of bytes, a size such as '64MiB', "
                        f"or None (one block per file), got {blocksize!r}.")
    try:
        nbytes = parse_bytes(blocksize) if isinstance(blocksize, str) else int(blocksize)
    except ValueError as exc:
        raise ValueError(f"blocksize must be a number of bytes, a size such as '64MiB', or "
                         f"None (one block per file), got {blocksize!r}.") from exc
    if nbytes <= 0:
        raise ValueError(f"blocksize must be positive, got {blocksize!r}.")
    return blocksize if isinstance(blocksize, str) else nbytes  # (1e6 as 1000000)


# --------------------------------------------------------------------------- public readers
def read_table(
    data,
    target: str,
    features: Sequence[str] | None = None,
    *,
    exclude: Sequence[str] = (),
    dtype: str | None = "float32",
    fmt: str | None = None,
    blocksize: int | str | None = DEFAULT_BLOCKSIZE,
    storage_options: dict | None = None,
    allow_nan: bool = False,
    text_target: bool = False,
):
    """Lazily read features ``X`` and target ``y`` from Parquet, CSV or Zarr.

    Only metadata is read now (see :func:`scan`); each block is read, checked
    and converted when it is computed, once for X and y together.

    Parameters
    ----------
    data : str, path, list of paths, or Dataset
        A file, a folder, a glob or an fsspec URL; or the result of :func:`scan`.
    target : str
        The column (Zarr: the 1-D array) to predict.  Decimal values
        (Parquet ``decimal128``) come out as ``float64``.
    features : list of str, optional
        Feature columns, in this order.  Default: every other column, less
        an index: for Parquet written by pandas, the stored index; for CSV,
        an unnamed first column (the index ``df.to_csv()`` writes, named
        ``'Unnamed: 0'``).  List it in ``features`` (or ``keep`` / ``--id``)
        to use it anyway; a named index that pandas stored as a range
        (``start, step`` in its metadata, no column) reads as its values.
        CSV column names are the names pandas gives them: an empty header
        name becomes ``'Unnamed: <position>'`` (0-based).  A file (Parquet
        or CSV) that names two columns alike is a :class:`DataError`.
    exclude : list of str
        Columns to leave out of the default features.
    dtype : {"float32", "float64"} or None, default="float32"
        Features are converted to this floating dtype, per block; integer
        dtypes are refused (the cast would truncate 1.7 to 1 and wrap values
        out of range).  None keeps NumPy types; nullable integers and
        booleans (pandas ``Int64``, ``boolean``, Parquet booleans with
        nulls) become NumPy ``int64`` / ``bool``, or ``float64`` with NaN in
        a block with missing values (allowed only with ``allow_nan=True``);
        decimals and all-null columns become ``float64``.
    fmt : {"parquet", "csv", "zarr"}, optional
        Default: from the file suffixes.
    blocksize : int, str or None, default="64MiB"
        About this many bytes of converted features per block (at least one
        Parquet row group or Zarr chunk), as a number or a size such as
        ``"64MiB"``.  None: one block per file.
    storage_options : dict, optional
        Passed to fsspec for URLs.
    allow_nan : bool, default=False
        Accept NaN, missing (null, NA) and infinite feature values (by
        default they are an error that names the column and the file).
    text_target : bool, default=False
        CSV only: read the target as text in every block.  pandas types each
        block on its own, so labels that mix digits and text ("1", "2",
        "x") come out as numbers in blocks without text; when
        :func:`read_classes` returns text labels for a CSV dataset, pass
        ``text_target=True`` so that every block's labels are text too
        (``gpuinc train`` does).

    Returns
    -------
    X : dask.dataframe.DataFrame (Parquet, CSV) or dask.array.Array (Zarr)
    y : dask.dataframe.Series or dask.array.Array (Zarr text labels: object)

    Raises
    ------
    DataError
        A missing target column, a non-numeric feature column, an empty or
        corrupt file, or schema drift between files: up front when the
        metadata shows it, otherwise when the block is computed.

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from gpuinc import Incremental
    >>> from gpuinc.io import read_classes, read_table
    >>> X, y = read_table("data/train/", target="label")  # doctest: +SKIP
    >>> inc = Incremental(SGDClassifier(), validation=0.1)  # doctest: +SKIP
    >>> inc.fit(X, y, classes=read_classes("data/train/", "label"))  # doctest: +SKIP
    """
    if target is None:
        raise ValueError("read_table needs a target column; use read_features for features only.")
    _check_column_name("target", target)
    dtype = _check_dtype(dtype)
    blocksize = _check_blocksize(blocksize)
    allow_nan = _check_flag("allow_nan", allow_nan)
    text_target = _check_flag("text_target", text_target)
    ds = _dataset(data, fmt, storage_options)
    features = _select(ds, target, features, exclude, text_target=text_target)
    if ds.fmt == "zarr":
        return _zarr_collections(ds, features, target, dtype, allow_nan, blocksize)
    cols = _Columns(tuple(features), target, (), dtype, bool(allow_nan),
                    text_target=bool(text_target) and ds.fmt == "csv")
    frame = _tabular_frame(ds, cols, blocksize)
    return frame[list(features)], frame[target]


def read_features(
    data,
    features: Sequence[str] | None = None,
    *,
    keep: Sequence[str] = (),
    exclude: Sequence[str] = (),
    dtype: str | None = "float32",
    fmt: str | None = None,
    blocksize: int | str | None = DEFAULT_BLOCKSIZE,
    storage_options: dict | None = None,
    allow_nan: bool = False,
):
    """Lazily read feature columns (and columns to carry along), e.g. for prediction.

    Parameters
    ----------
    data, features, exclude, dtype, fmt, blocksize, storage_options, allow_nan
        As in :func:`read_table`; default features are all columns not kept.
    keep : list of str
        Parquet and CSV: extra columns (ids ...) returned unconverted after
        the features, read in the same task (integers and booleans with
        missing values as pandas' ``Int64`` / ``boolean``; Parquet decimals,
        dates and times as the text of their values; Parquet columns of bytes
        or nested values are a :class:`DataError`).  A column cannot be both a
        feature (converted to ``dtype``) and kept (unchanged): that is a
        :class:`DataError`.

    Returns
    -------
    dask.dataframe.DataFrame (features then ``keep``) or dask.array.Array (Zarr)

    Examples
    --------
    >>> from gpuinc.io import read_features
    >>> frame = read_features("new/", ["f0", "f1"], keep=["id"])  # doctest: +SKIP
    >>> list(frame.columns)  # doctest: +SKIP
    ['f0', 'f1', 'id']
    """
    _check_dtype(dtype)
    blocksize = _check_blocksize(blocksize)
    allow_nan = _check_flag("allow_nan", allow_nan)
    return _read_features(_dataset(data, fmt, storage_options), features, keep=keep,
                          exclude=exclude, dtype=dtype, blocksize=blocksize, allow_nan=allow_nan)


def _read_features(ds: Dataset, features, *, keep=(), exclude=(), dtype, blocksize, allow_nan,
                   purpose: str = TRAIN):
    """:func:`read_features` of a scanned dataset; its errors suggest the fixes for
    ``purpose``: :data:`TRAIN`, or :data:`PREDICT` (``gpuinc predict``: the model's
    features, read as it was trained)."""
    _check_purpose(purpose)
    dtype = _check_dtype(dtype)
    keep = _as_names(keep) or []
    if ds.fmt == "zarr" and keep:
        raise DataError(f"{'--id' if purpose == PREDICT else 'keep= (--id)'} is available for "
                        "Parquet and CSV data, not for Zarr.")
    features = _select(ds, None, features, exclude, keep, purpose=purpose)
    if ds.fmt == "zarr":
        return _zarr_collections(ds, features, None, dtype, allow_nan, blocksize, purpose)[0]
    both = [c for c in keep if c in features]
    if both:
        # one frame holds one column per name: converted, it would change ids silently
        raise DataError(
            f"Column(s) {_listing(both)} listed both as features and in keep=: features are "
            f"converted to {dtype or 'numbers'}, kept columns come through unchanged, and the "
            "frame holds one column per name. List each column in only one of them."
        )
    cols = _Columns(tuple(features), None, tuple(keep), dtype, bool(allow_nan),
                    _kept_kinds(ds, keep, purpose), purpose=purpose)
    return _tabular_frame(ds, cols, blocksize)


def _read_features_and_kept(ds: Dataset, features, keep, *, dtype, blocksize, allow_nan,
                            purpose: str = PREDICT):
    """Features ``X`` and the ``keep`` columns as two frames over one read task (Parquet, CSV).

    For ``gpuinc predict --id``: unlike :func:`read_features`, a kept column
    may also be a feature (the model's); X holds it converted, ``kept`` as
    stored, integer columns as pandas' nullable (U)Int64 in every block (a
    block with a missing id holds that, and readers such as ``pd.read_parquet``
    would turn int64 parts into float64 where the parts differ).  CSV ``keep``
    columns come through as the text of their fields, exactly (``"000123"``
    stays ``"000123"``; a later ``"A4000"`` after integers is fine), as
    strings, an empty field as missing.  Its errors suggest the fixes for
    ``purpose`` (:data:`PREDICT`, or :data:`TRAIN`).
    """
    _check_purpose(purpose)
    dtype = _check_dtype(dtype)
    keep = _as_names(keep) or []
    features = _select(ds, None, features, (), keep, purpose=purpose)
    kinds = (_TEXT,) * len(keep) if ds.fmt == "csv" else _kept_kinds(ds, keep, purpose)
    cols = _Columns(tuple(features), None, tuple(keep), dtype, bool(allow_nan), kinds,
                    purpose=purpose)
    frame = _tabular_frame(ds, cols, blocksize)
    kept = frame[list(cols.kept_as)]
    if cols.kept_as != cols.keep:
        kept = kept.rename(columns=dict(zip(cols.kept_as, cols.keep, strict=True)))
    # integers and booleans of one type in every block (nullable where a block has nulls)
    ints = {c: kind for c, kind in zip(cols.keep, cols.kept_kinds, strict=True)
            if kind in (*_EXACT_INTS, "boolean")}
    return frame[list(features)], kept.astype(ints) if ints else kept


def _parquet_labels(fs, path: str, shown: str, target: str, partitions=()) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    for key, value, _ in partitions:
        if key == target:  # one label for the whole file: the value in its folder name
            if value is None:
                raise DataError(
                    f"{shown}: the target column {target!r} is missing for every row of the "
                    f"file (its folder is {target}={HIVE_NULL}); move the file out of the "
                    "dataset or give it a label."
                )
            return _partition_table(partitions, [target], 1).column(target).to_numpy()
    try:
        with _parquet_file(fs, path) as pf:
            column = pf.read(columns=[target]).column(target)
    except Exception as exc:
        raise DataError(f"{shown} could not be read ({one_line(exc)}); it may be corrupt.") from exc
    if column.null_count:
        raise DataError(
            f"{shown}: the target column {target!r} has missing values in {column.null_count} "
            "row(s); drop those rows or fill them."
        )
    if pa.types.is_decimal(column.type):  # as read_table gives them: float64 (see _finish)
        column = pc.cast(column, pa.float64(), safe=False)
    return pc.unique(column).to_numpy(zero_copy_only=False)


def csv_target_has_text(ds: Dataset, target: str) -> bool:
    """Whether the scan of a CSV dataset saw text in the target column of any file."""
    if ds.fmt != "csv":
        return False
    return any(not info.numeric[list(info.columns).index(target)] for info in ds.files
               if target in info.columns)


def _csv_labels(fs, path: str, shown: str, target: str, compression,
                text: bool = False) -> np.ndarray:
    """The distinct labels of one CSV file; ``text``: read as written ("01" stays "01")."""
    seen = []
    try:
        with fs.open(path, "rb", compression=compression) as fh:
            # index_col=False: a stray trailing delimiter cannot shift the target's values
            for chunk in pd.read_csv(fh, usecols=[target], chunksize=1_000_000, index_col=False,
                                     dtype={target: str} if text else None):
                col = chunk[target]
                if col.isna().any():
                    # pandas reads a row with too few fields (the target's among them) so
                    try:
                        _check_short_rows_in_file(fs, path, shown, compression)
                    except DataError:
                        raise
                    except Exception:  # the file cannot be read again: the message below
                        pass
                    raise DataError(
                        f"{shown}: the target column {target!r} has missing values; drop those "
                        "rows or fill them."
                    )
                seen.append(pd.unique(col.to_numpy()))
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{shown} is not well-formed CSV ({one_line(exc)}).") from exc
    if not text and len({part.dtype.kind == "O" for part in seen}) > 1:
        # numbers in some chunks only: the labels are text, read as written (str() of a
        # parsed number would turn "01" into "1")
        return _csv_labels(fs, path, shown, target, compression, text=True)
    return np.concatenate(seen) if seen else np.empty(0)


def _last_record_end(data: bytes) -> int:
    """Where the last whole record of CSV bytes (that start a record) ends: after the last
    line break outside quotes, or after the last line break when the quotes do not pair
    up in the second half (a stray literal quote: the rest must not pile up)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    quotes = (arr == ord('"')).view(np.uint8)
    newline = arr == ord("\n")
    if quotes.any():
        outside = np.flatnonzero(newline & _outside_quotes(quotes))
        if len(outside) and outside[-1] >= len(arr) // 2:
            return int(outside[-1]) + 1
    return data.rfind(b"\n") + 1


def _check_short_rows_in_file(fs, path: str, shown: str, compression) -> None:
    """Refuse the first row of a CSV file with fewer fields than its header (error paths
    only: the file is streamed, a few MiB at a time)."""
    lines, done, expected, tail = _BlockLines(fs, path, compression, 0, None), 0, None, b""
    with fs.open(path, "rb", compression=compression) as fh:
        while True:
            chunk = fh.read(_COUNT_CHUNK)
            data = tail + chunk
            cut = len(data) if not chunk else _last_record_end(data)
            data, tail = data[:cut], data[cut:]
            if data:
                header_here = expected is None
                if header_here:
                    header = _header_line(data)
                    expected = _fields_in(header)
                    least = _least_fields(header, expected)
                short = _short_records(data, least, skip_header=header_here)
                if short:
                    first, fields = short[0]
                    raise _ragged_row_error(shown, lines, done + first + 1, expected, fields)
                done += data.count(b"\n")
            if not chunk:
                return


def _zarr_labels(source, storage_options, col, start, stop) -> np.ndarray:
    return np.unique(_read_zarr_columns(source, storage_options, (col,), start, stop, None, True, "y"))


def read_classes(data, target: str, *, fmt: str | None = None,
                 storage_options: dict | None = None) -> np.ndarray:
    """The sorted distinct values of the target column, reading only that column.

    Classifiers need every class on their first ``partial_fit``; this gets
    them cheaply (Parquet reads only the target column chunks) instead of a
    full pass over the data.  Runs on the active Dask scheduler.

    ``data`` is what :func:`read_table` takes (a path, glob, list or fsspec
    URL, or the result of :func:`scan`); ``fmt`` (``"parquet"``, ``"csv"``
    or ``"zarr"``) overrides the format told from the suffixes, and
    ``storage_options`` are passed to fsspec for URLs.  CSV labels that
    mix digits and text come back all as text.

    Examples
    --------
    >>> from gpuinc.io import read_classes
    >>> read_classes("data/train/", "label")  # doctest: +SKIP
    array([0, 1])
    """
    _check_column_name("target", target)
    ds = _dataset(data, fmt, storage_options)
    _check_target(ds, target)
    if ds.fmt == "parquet":
        fs = None if _is_local(ds.fs) else ds.fs
        tasks = [dask.delayed(_parquet_labels, pure=True)(fs, f.path, f.shown, target, f.partitions)
                 for f in ds.files]
    elif ds.fmt == "csv":
        tasks = [dask.delayed(_csv_labels, pure=True)(ds.fs, f.path, f.shown, target, f.compression)
                 for f in ds.files]
    else:
        col = _zarr_by_name(ds)[target]
        chunk = max(1, col.chunk_rows)
        step = max(chunk, 1_000_000 // chunk * chunk)
        tasks = [dask.delayed(_zarr_labels, pure=True)(ds.zarr_store, ds.storage_options, col, a,
                                                       min(col.rows, a + step))
                 for a in range(0, col.rows, step)]
    parts = [p for p in dask.compute(*tasks) if len(p)]
    if ds.fmt == "csv" and len({p.dtype.kind == "O" for p in parts}) > 1:
        # pandas typed some files' labels as numbers and others' as text: the labels are
        # text ("1", "2", "x"), read as written; read_table(..., text_target=True) matches
        parts = [p for p in dask.compute(*[
            dask.delayed(_csv_labels, pure=True)(ds.fs, f.path, f.shown, target, f.compression,
                                                 text=True)
            for f in ds.files]) if len(p)]
    values = pd.unique(np.concatenate(parts)) if parts else np.empty(0)
    try:
        return np.sort(np.asarray(values))
    except TypeError as exc:
        raise DataError(
            f"The target column {target!r} mixes value types ({one_line(exc)}); labels must "
            "have one type."
        ) from exc
