"""The user's own data: a folder of images (one subfolder per class) or a CSV file.

Files are checked before training starts, so a bad row or a broken image is
reported by name, row and problem instead of failing mid-epoch.
"""

from __future__ import annotations

import csv
import math
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
    if p.is_file() and p.suffix.lower() in (".csv", ".tsv", ".txt"):
        return load_csv(p, seed=seed, **options)
    if p.exists():
        raise DataFormatError(
            f"{p}: unsupported file type {p.suffix!r}; give a folder of images "
            "(one subfolder per class) or a .csv file."
        )
    raise DataFormatError(f"{p}: no such file or folder.")


# --------------------------------------------------------------------------- images


def _scan_images(root: Path) -> tuple[list[str], list[Path], np.ndarray]:
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DataFormatError(
            f"{root}: an image folder needs one subfolder per class (at least 2); found "
            f"{classes or 'none'}."
        )
    from PIL import Image

    files, labels = [], []
    for k, cls in enumerate(classes):
        found = sorted(f for f in (root / cls).rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
        if not found:
            raise DataFormatError(f"{root / cls}: class folder holds no images {IMAGE_EXTENSIONS}.")
        for f in found:
            try:
                with Image.open(f) as im:
                    im.verify()
            except Exception as exc:  # PIL raises many types for broken files
                raise DataFormatError(f"{f}: not a readable image ({exc}).") from None
            files.append(f)
            labels.append(k)
    return classes, files, np.asarray(labels, dtype="int32")


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


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def load_csv(path: Path, *, seed: int = 0, label_column: str = "label") -> RawSplits:
    """A CSV with a label column and either numeric feature columns or one text column."""
    with open(path, newline="", encoding="utf-8") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        if not sample.strip():
            raise DataFormatError(f"{path}: the file is empty.")
        reader = csv.reader(fh, delimiter=delimiter)
        header = [h.strip() for h in next(reader)]
        if label_column not in header:
            raise DataFormatError(
                f"{path}, row 1 (header): no column {label_column!r}; columns are {header}. "
                "Name the label column 'label' or pass label_column=..."
            )
        li = header.index(label_column)
        rows = []
        for rowno, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise DataFormatError(
                    f"{path}, row {rowno}: {len(row)} fields, the header has {len(header)}."
                )
            rows.append((rowno, row))
    if len(rows) < 10:
        raise DataFormatError(f"{path}: only {len(rows)} data rows; at least 10 are needed.")
    feature_cols = [i for i in range(len(header)) if i != li]
    if not feature_cols:
        raise DataFormatError(f"{path}: no feature columns besides {label_column!r}.")

    text = len(feature_cols) == 1 and any(_number(r[feature_cols[0]]) is None for _, r in rows)
    if text:
        x = np.asarray([r[feature_cols[0]] for _, r in rows], dtype=object)
        modality, shape = "text", ()
    else:
        values = np.empty((len(rows), len(feature_cols)), dtype="float32")
        for n, (rowno, row) in enumerate(rows):
            for m, ci in enumerate(feature_cols):
                v = _number(row[ci].strip())
                if v is None:
                    raise DataFormatError(
                        f"{path}, row {rowno}, column {header[ci]!r}: {row[ci]!r} is not a "
                        "finite number."
                    )
                values[n, m] = v
        x, modality, shape = values, "tabular", (len(feature_cols),)

    raw_labels = [r[li].strip() for _, r in rows]
    for (rowno, _), lab in zip(rows, raw_labels):
        if lab == "":
            raise DataFormatError(f"{path}, row {rowno}: empty {label_column!r}.")
    numeric = [_number(v) for v in raw_labels]
    is_regression = all(v is not None for v in numeric) and any(
        v != int(v) for v in numeric if v is not None
    )
    if is_regression:
        y = np.asarray(numeric, dtype="float32").reshape(-1, 1)
        info = DatasetInfo(path.stem, "regression", modality, shape, source=str(path))
        return from_arrays(x, y, info, seed=seed, stratify=False)
    if all(v is not None for v in numeric):
        names = sorted({int(v) for v in numeric}, key=int)  # type: ignore[arg-type]
        keys = [int(v) for v in numeric]  # type: ignore[arg-type]
    else:
        names = sorted(set(raw_labels))
        keys = raw_labels
    index = {k: i for i, k in enumerate(names)}
    y = np.asarray([index[k] for k in keys], dtype="int32")
    if len(names) < 2:
        raise DataFormatError(f"{path}: column {label_column!r} holds a single class {names}.")
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
