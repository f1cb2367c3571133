"""Files people upload through the app, stored under <runs dir>/uploads/.

Checkpoints keep a sanitised name; zip archives of image folders are extracted
only when every member stays inside the target folder (no `..`, no absolute
path, no link) and the total uncompressed size is under a cap, counted while
writing, so a lying header cannot fill the disk.
"""
from __future__ import annotations

import io
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from lakd.runs import RunStoreError, atomic_write_bytes, safe_name

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")
DEFAULT_MAX_UNZIPPED = 2 * 1024**3  # 2 GiB
MAX_MEMBERS = 200_000


class UploadError(ValueError):
    pass


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for i in range(2, 10_000):
        cand = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not cand.exists():
            return cand
    raise UploadError(f"too many uploads named {path.name}")


def save_checkpoint_upload(filename: str, data: bytes, uploads_dir: Path) -> Path:
    """Store an uploaded checkpoint as uploads/<safe name><suffix>; returns its path."""
    suffix = Path(filename).suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise UploadError(f"{filename!r}: only {', '.join(CHECKPOINT_SUFFIXES)} files are accepted")
    stem = safe_name(Path(filename).stem)
    target = uploads_dir / f"{stem}{suffix}"
    if target.exists() and target.read_bytes() == data:
        return target
    target = _unique(target)
    try:
        atomic_write_bytes(target, data)
    except RunStoreError as e:  # disk full, read-only folder
        raise UploadError(str(e)) from e
    return target


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if any(part == ".." for part in PurePosixPath(name).parts):
        return "'..' in its path"
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return "a symbolic link"
    return None


def _find_root(folder: Path) -> Path:
    """The folder with train/ and val/: the top, or the single folder inside it."""
    if (folder / "train").is_dir():
        return folder
    subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "__MACOSX"))]
    if len(subdirs) == 1 and (subdirs[0] / "train").is_dir():
        return subdirs[0]
    return folder


def extract_zip(data: bytes, filename: str, uploads_dir: Path, max_bytes: int | None = None) -> Path:
    """Extract a zip safely into uploads/<safe name>/ and return the data root
    (the folder holding train/ and val/). Refuses the whole archive on any bad member.
    `max_bytes` (default DEFAULT_MAX_UNZIPPED) caps the unpacked size: a zip bomb is
    refused from its declared sizes before anything is written."""
    max_bytes = DEFAULT_MAX_UNZIPPED if max_bytes is None else max_bytes
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise UploadError(f"{filename!r} is not a zip archive ({e})") from e
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UploadError(f"{filename!r} has {len(infos)} entries; at most {MAX_MEMBERS} are accepted")
        for info in infos:
            problem = _member_problem(info)
            if problem:
                raise UploadError(f"refused {filename!r}: member {info.filename!r} has {problem}")
        declared = sum(i.file_size for i in infos)
        if declared > max_bytes:
            raise UploadError(f"refused {filename!r}: it unpacks to {declared / 2**20:.0f} MiB, "
                              f"more than the {max_bytes / 2**20:.0f} MiB allowed")
        uploads_dir.mkdir(parents=True, exist_ok=True)
        target = _unique(uploads_dir / safe_name(Path(filename).stem))
        tmp = uploads_dir / f".{target.name}.part"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        written = 0
        try:
            base = tmp.resolve()
            for info in infos:
                dest = (tmp / info.filename.replace("\\", "/")).resolve()
                if dest != base and base not in dest.parents:
                    raise UploadError(f"refused {filename!r}: member {info.filename!r} leaves the folder")
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(dest, "wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > max_bytes:
                            raise UploadError(f"refused {filename!r}: it unpacks to more than "
                                              f"{max_bytes / 2**20:.0f} MiB")
                        out.write(chunk)
            tmp.rename(target)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):  # disk full, read-only folder: nothing half-extracted is kept
                raise UploadError(f"could not extract {filename!r} into {uploads_dir}: {e.strerror or e}") from e
            raise
    return _find_root(target)


def list_uploaded_checkpoints(uploads_dir: Path) -> list[Path]:
    if not uploads_dir.is_dir():
        return []
    return sorted(p for p in uploads_dir.iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
