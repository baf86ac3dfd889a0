"""The user's own data: a folder of images (one subfolder per class) or a CSV file.

Files are checked before training starts, so a bad row or a broken image is
reported by name, row and problem instead of failing mid-epoch.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.core import DatasetInfo, RawSplits, from_arrays, split_arrays
from zoo.errors import DataFormatError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def load_path(path: str, *, seed: int = 0, **options: Any) -> RawSplits:
    p = Path(path)
    if p.is_dir():
        return load_image_folder(p, seed=seed, **options)
    if p.is_file() and p.suffix.lower() == ".txt" and "sequence_length" in options:
        return load_text(p, **options)  # a language model's own text
    if p.is_file() and p.suffix.lower() in (".csv", ".tsv", ".txt"):
        return load_csv(p, seed=seed, **options)
    if p.exists():
        raise DataFormatError(
            f"{p}: unsupported file type {p.suffix!r}; give a folder of images "
            "(one subfolder per class) or a .csv file."
        )
    raise DataFormatError(f"{p}: no such file or folder.")


def load_text(path: Path, **options: Any) -> RawSplits:
    """A plain-text file for a language model (``zoo train char_lstm --dataset notes.txt``):
    windows of its tokens, as ``python_docs`` makes them."""
    from zoo.data.sequences import text_windows

    return text_windows(_read_text(path), str(path), f"the text file {path}", **options)


# --------------------------------------------------------------------------- images


def _scan_images(root: Path) -> tuple[list[str], list[Path], np.ndarray]:
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DataFormatError(
            f"{root}: an image folder needs one subfolder per class (at least 2); found "
            f"{classes or 'none'}."
        )
    files, labels, broken = [], [], []
    for k, cls in enumerate(classes):
        found = sorted(f for f in (root / cls).rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
        if not found:
            raise DataFormatError(f"{root / cls}: class folder holds no images {IMAGE_EXTENSIONS}.")
        for f in found:
            problem = _decode_problem(f)
            if problem:
                broken.append(f"{f} ({problem})")
            files.append(f)
            labels.append(k)
    if broken:
        more = f" and {len(broken) - 10} more" if len(broken) > 10 else ""
        raise DataFormatError(
            f"{root}: {len(broken)} image(s) cannot be decoded: {'; '.join(broken[:10])}{more}. "
            "Remove or replace them; nothing was trained."
        )
    return classes, files, np.asarray(labels, dtype="int32")


def _decode_problem(path: Path) -> str | None:
    """Why ``path`` cannot be decoded (every pixel, not only the header), or None."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
    except Exception as exc:  # PIL raises many types for broken files
        return str(exc) or type(exc).__name__
    return None


def load_image_folder(
    root: Path,
    *,
    seed: int = 0,
    image_size: tuple[int, int] = (224, 224),
    color_mode: str = "rgb",
) -> RawSplits:
    """Stratified train / validation / test splits of a class-per-subfolder image tree."""
    import keras
    import tensorflow as tf

    classes, files, labels = _scan_images(root)
    idx = np.arange(len(files))
    stratify = min(np.bincount(labels)) >= 3
    (tr, _), (va, _), (te, _) = split_arrays(idx, labels, seed=seed, stratify=stratify)
    split_of = np.zeros(len(files), dtype="int32")
    split_of[va], split_of[te] = 1, 2
    # keras lists files in sorted class/file order when shuffle=False: the same order as ours.
    full = keras.utils.image_dataset_from_directory(
        str(root),
        labels="inferred",
        label_mode="int",
        class_names=classes,
        color_mode=color_mode,
        image_size=tuple(image_size),
        batch_size=None,
        shuffle=False,
    )
    table = tf.constant(split_of)

    def part(k: int):
        return (
            full.enumerate()
            .filter(lambda i, xy: tf.equal(tf.gather(table, i), k))
            .map(lambda i, xy: (tf.cast(xy[0], tf.uint8), xy[1]))
        )

    channels = 1 if color_mode == "grayscale" else 3
    info = DatasetInfo(
        name=root.name,
        task="classification",
        modality="image",
        element_shape=(*image_size, channels),
        num_classes=len(classes),
        class_names=classes,
        pixel_range=255.0,
        sizes={"train": len(tr), "validation": len(va), "test": len(te)},
        source=f"image folder {root}",
    )
    return RawSplits(part(0), part(1), part(2), info)


# --------------------------------------------------------------------------- CSV


#: What ``task=`` (``--task``) may say a CSV's label column is.
CSV_TASKS = ("classification", "regression")
MISSING = {"", "nan", "na", "n/a", "null", "none", "?", "-"}
DELIMITERS = ",;\t|"
#: More distinct whole-number labels than this, with fewer than ``MIN_PER_CLASS`` rows
#: each on average, may be a quantity rather than classes: the user must say which.
MAX_PLAIN_CLASSES = 10
MIN_PER_CLASS = 10


def _number(text: str) -> float | None:
    """The cell as a float (``nan``/``inf`` included, checked later), or None."""
    try:
        return float(text)
    except ValueError:
        return None


def _rows(rownos: list[int], limit: int = 5) -> str:
    shown = ", ".join(map(str, rownos[:limit]))
    return (
        f"row {shown}"
        if len(rownos) == 1
        else f"rows {shown}" + (f" and {len(rownos) - limit} more" if len(rownos) > limit else "")
    )


def _read_text(path: Path) -> str:
    """The file as text: UTF-8 with or without a BOM, or an error naming the first bad byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise DataFormatError(
            f"{path}, row {row}: the file is not UTF-8 (byte 0x{data[exc.start]:02x}; it may "
            "be Latin-1 or Windows-1252). Save it as UTF-8, e.g. "
            f"`iconv -f latin1 -t utf-8 {path.name} > {path.stem}-utf8{path.suffix}`."
        ) from None


def _delimiter(path: Path, sample: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    first = sample.splitlines()[0] if sample.strip() else ""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _read_rows(path: Path, label_column: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    import io

    text = _read_text(path)
    if not text.strip():
        raise DataFormatError(f"{path}: the file is empty; it needs a header row and data rows.")
    delimiter = _delimiter(path, text[:8192])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    if label_column not in header:
        shown = {"\t": "tab"}.get(delimiter, repr(delimiter))
        raise DataFormatError(
            f"{path}, row 1 (header): no column {label_column!r}; columns are {header} "
            f"(read with delimiter {shown}). Name the label column 'label', or pass "
            "label_column=..."
        )
    rows = []
    for rowno, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataFormatError(
                f"{path}, row {rowno}: {len(row)} fields, the header has {len(header)}. "
                "Quote fields that contain the delimiter."
            )
        rows.append((rowno, row))
    return header, rows


def _is_numeric_column(cells: list[str]) -> bool:
    """Numbers in most cells: a column of numbers with typos, not a text column."""
    filled = [c for c in cells if c.strip()]
    numeric = sum(_number(c) is not None for c in filled)
    return bool(filled) and numeric * 2 > len(filled)


def _features(path: Path, header, rows, feature_cols) -> tuple[np.ndarray, str, tuple]:
    first = [r[feature_cols[0]] for _, r in rows]
    if len(feature_cols) == 1 and not _is_numeric_column(first):
        return np.asarray(first, dtype=object), "text", ()
    values = np.empty((len(rows), len(feature_cols)), dtype="float64")
    for m, ci in enumerate(feature_cols):
        column = [_number(r[ci].strip()) for _, r in rows]
        bad = [rowno for (rowno, _), v in zip(rows, column) if v is None]
        if bad:
            cell = rows[[rn for rn, _ in rows].index(bad[0])][1][ci]
            raise DataFormatError(
                f"{path}, {_rows(bad)}, column {header[ci]!r}: {cell!r} is not a number. "
                "Fix or remove those rows (a numeric column must hold numbers in every row)."
            )
        values[:, m] = column
    from zoo.checks import finite_features

    finite_features(
        values,
        source=str(path),
        columns=[header[c] for c in feature_cols],
        row_numbers=[rowno for rowno, _ in rows],
    )
    return values.astype("float32"), "tabular", (len(feature_cols),)


def _labels(path, rows, li, label_column, task):
    raw = [r[li].strip() for _, r in rows]
    missing = [rowno for (rowno, _), v in zip(rows, raw) if v.lower() in MISSING]
    if missing:
        raise DataFormatError(
            f"{path}, {_rows(missing)}: column {label_column!r} is empty or NaN. Every row "
            "needs a label: fill them in or remove those rows."
        )
    numeric = [_number(v) for v in raw]
    if any(v is not None and not np.isfinite(v) for v in numeric):
        bad = [rn for (rn, _), v in zip(rows, numeric) if v is not None and not np.isfinite(v)]
        raise DataFormatError(f"{path}, {_rows(bad)}: label {label_column!r} is infinite.")
    all_numbers = all(v is not None for v in numeric)
    if task == "regression":
        if not all_numbers:
            bad = [rn for (rn, _), v in zip(rows, numeric) if v is None]
            raise DataFormatError(
                f"{path}, {_rows(bad)}: a regression label {label_column!r} must be a number."
            )
        return "regression", np.asarray(numeric, dtype="float32").reshape(-1, 1), None
    whole = all_numbers and all(float(v).is_integer() for v in numeric)  # type: ignore[arg-type]
    if all_numbers and not whole and task is None:
        return "regression", np.asarray(numeric, dtype="float32").reshape(-1, 1), None
    if whole:
        keys = [int(v) for v in numeric]  # type: ignore[arg-type]
        names = sorted(set(keys))
        ambiguous = len(names) > MAX_PLAIN_CLASSES and len(rows) < MIN_PER_CLASS * len(names)
        if ambiguous and task is None:
            raise DataFormatError(
                f"{path}: column {label_column!r} holds {len(names)} distinct whole numbers in "
                f"{len(rows)} rows ({min(names)} to {max(names)}), fewer than {MIN_PER_CLASS} "
                "rows per value: is it a quantity or a class? Say which: `--task regression` "
                "(recipes.train(..., task='regression')) or `--task classification`."
            )
    else:
        keys, names = raw, sorted(set(raw))
    index = {k: i for i, k in enumerate(names)}
    return "classification", np.asarray([index[k] for k in keys], dtype="int32"), names


def load_csv(
    path: Path, *, seed: int = 0, label_column: str = "label", task: str | None = None
) -> RawSplits:
    """A CSV with a label column and either numeric feature columns or one text column.

    ``task`` (``"classification"`` or ``"regression"``) settles what the label is when
    it cannot be told from the data (many distinct whole numbers).
    """
    if task is not None and task not in (*CSV_TASKS, "binary"):
        raise DataFormatError(f"task must be one of {CSV_TASKS} for a CSV, got {task!r}.")
    header, rows = _read_rows(path, label_column)
    if len(rows) < 10:
        raise DataFormatError(f"{path}: only {len(rows)} data rows; at least 10 are needed.")
    li = header.index(label_column)
    feature_cols = [i for i in range(len(header)) if i != li]
    if not feature_cols:
        raise DataFormatError(f"{path}: no feature columns besides {label_column!r}.")
    x, modality, shape = _features(path, header, rows, feature_cols)
    kind, y, names = _labels(path, rows, li, label_column, task)
    if kind == "regression":
        info = DatasetInfo(path.stem, "regression", modality, shape, source=str(path))
        return from_arrays(x, y, info, seed=seed, stratify=False)
    if len(names) < 2:
        raise DataFormatError(
            f"{path}: column {label_column!r} holds a single class {names}; a classifier "
            "needs at least two."
        )
    info = DatasetInfo(
        path.stem,
        "classification",
        modality,
        shape,
        num_classes=len(names),
        class_names=[str(n) for n in names],
        source=str(path),
    )
    stratify = min(np.bincount(y)) >= 3
    return from_arrays(x, y, info, seed=seed, stratify=stratify)
