"""The network side of ``xstilts download``: the Hugging Face hub (``datasets``, ``huggingface_hub``) and plain HTTPS.

Every call has a timeout (``XSTILTS_DOWNLOAD_TIMEOUT`` seconds, default 30, per connection attempt and read), and
every failure becomes one :class:`~xstilts.errors.XstiltsError` naming the source: :class:`SourceUnreachable` when the
network or the host cannot be reached (or an offline switch is set), :class:`SourceMissing` when the host answers that
the file, repository or revision does not exist. Tests replace :func:`hub_revision` and :func:`http_get` (and
``datasets.load_dataset``) with fakes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import XstiltsError

#: environment switches under which nothing is fetched (``datasets``' and ``huggingface_hub``'s offline modes)
OFFLINE_VARIABLES = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
_CHUNK = 1 << 20


class SourceUnreachable(XstiltsError):
    """A source could not be reached (no network, a host that does not answer, or an offline switch)."""


class SourceMissing(XstiltsError):
    """The source answered that the file, repository, config or revision does not exist (HTTP 404 and the like)."""


def timeout() -> float:
    """Seconds to wait for a connection or a read (``XSTILTS_DOWNLOAD_TIMEOUT``, default 30)."""
    try:
        return max(1.0, float(os.environ.get("XSTILTS_DOWNLOAD_TIMEOUT", "30")))
    except ValueError:
        return 30.0


def offline_switch() -> str | None:
    """``"NAME=value"`` of the first offline switch that is on, else ``None``."""
    for name in OFFLINE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.lower() in ("1", "true", "yes", "on"):
            return f"{name}={value}"
    return None


def configure_hub_timeouts() -> None:
    """Short timeouts for ``huggingface_hub`` (read when it is first imported) unless the user set them."""
    t = str(int(timeout()))
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", t)
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", t)


_NETWORK_NAMES = ("ConnectError", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException",
                  "NetworkError", "ProxyError", "RemoteProtocolError", "OfflineModeIsEnabled", "ConnectionError",
                  "MaxRetryError", "NewConnectionError", "NameResolutionError")


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def is_network_error(err: BaseException) -> bool:
    """Whether *err* (or what caused it) says the network or the host could not be reached."""
    for e in _chain(err):
        if isinstance(e, urllib.error.HTTPError):
            return False
        if isinstance(e, (ConnectionError, TimeoutError, socket.timeout, socket.gaierror, urllib.error.URLError)):
            return True
        if type(e).__name__ in _NETWORK_NAMES:
            return True
        if "couldn't reach" in str(e).lower() or "offline mode" in str(e).lower():
            return True
    return False


def is_missing_error(err: BaseException) -> bool:
    """Whether *err* says that the thing asked for does not exist (HTTP 404, unknown repository/revision/config)."""
    for e in _chain(err):
        if isinstance(e, urllib.error.HTTPError):
            return e.code in (404, 410)
        name = type(e).__name__
        if name in ("RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError", "DatasetNotFoundError",
                    "FileNotFoundError"):
            return True
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (404, 410):
            return True
    return False


def _one_line(err: BaseException, limit: int = 200) -> str:
    text = " ".join(str(err).split())
    text = text if len(text) <= limit else text[:limit] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def explain(err: BaseException, source: str) -> XstiltsError:
    """The one-line error for *err* raised while fetching *source* (a hub id with config, or a URL)."""
    if isinstance(err, XstiltsError):
        return err
    if is_network_error(err):
        return SourceUnreachable(f"cannot reach {source} ({_one_line(err)}); check the network connection (the "
                                 f"files already downloaded are kept; run the same command again to go on)")
    if is_missing_error(err):
        return SourceMissing(f"{source} does not exist or is not public ({_one_line(err)})")
    return XstiltsError(f"downloading {source} failed ({_one_line(err)})")


def check_online(source: str) -> None:
    """Raise :class:`SourceUnreachable` naming *source* if an offline switch is set."""
    switch = offline_switch()
    if switch:
        raise SourceUnreachable(f"cannot reach {source}: offline mode is on ({switch}); `xstilts download` needs the "
                                f"network (unset {switch.split('=')[0]})")


# ----------------------------------------------------------------------------------------------- the hub
def hub_revision(path: str, revision: str | None) -> str:
    """The commit sha of the hub data set *path* at *revision* (the default branch when ``None``)."""
    from huggingface_hub import HfApi

    info = HfApi().dataset_info(path, revision=revision, timeout=timeout())
    if not info.sha:
        raise XstiltsError(f"the hub did not say which commit {path}@{revision or 'main'} is")
    return info.sha


def hub_load(path: str, config: str | None, split: str | None, revision: str, cache_dir: Path | None = None):
    """``datasets.load_dataset(path, config, split=split, revision=revision)``: the rows of one split, or a
    ``DatasetDict`` of every split when *split* is ``None``. With *cache_dir* (a scratch folder deleted afterwards) the
    hub files do not stay in the Hugging Face cache as a second copy of the data."""
    import datasets

    kw = {"cache_dir": str(cache_dir)} if cache_dir is not None else {}
    return datasets.load_dataset(path, config, split=split, revision=revision, **kw)


# ----------------------------------------------------------------------------------------------- HTTPS
def http_get(url: str, dest: Path) -> dict:
    """Stream *url* into the file *dest*; returns ``{"sha256", "md5", "bytes"}`` of the content and the response's
    version headers where the server sends them (``etag``, ``last_modified``, ``generation`` for Google Cloud
    Storage), which the manifest records as the file's revision."""
    req = urllib.request.Request(url, headers={"User-Agent": "xstilts-download"})
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(req, timeout=timeout()) as resp, open(dest, "wb") as out:
        headers = resp.headers
        while True:
            chunk = resp.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    info = {"sha256": sha.hexdigest(), "md5": md5.hexdigest(), "bytes": size}
    for key, header in (("etag", "ETag"), ("last_modified", "Last-Modified"), ("generation", "x-goog-generation")):
        if headers.get(header):
            info[key] = headers.get(header)
    return info
