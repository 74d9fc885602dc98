"""System packages that pip cannot install: Mesa's EGL (headless rendering) and npm (offline COCO weights).

Where they are missing, root on Debian/Ubuntu installs them with apt-get; anyone else gets the exact command.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

EGL_PACKAGES = ("libegl1", "libegl-mesa0", "libgl1-mesa-dri", "libgbm1")
NPM_PACKAGES = ("npm",)

# Run in a child process: a broken EGL stack can abort the interpreter rather than raise.
_EGL_PROBE = "import moderngl; ctx = moderngl.create_standalone_context(backend='egl'); print(ctx.info['GL_RENDERER'])"


def egl_available() -> bool:
    """True when moderngl can open a headless EGL context here."""
    probe = subprocess.run([sys.executable, "-c", _EGL_PROBE], capture_output=True, text=True)
    return probe.returncode == 0


def npm_available() -> bool:
    """True when the npm program is on PATH."""
    return shutil.which("npm") is not None


def _apt_install(packages: tuple[str, ...]) -> None:
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    can_install = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not can_install:
        raise SystemExit(f"missing system packages {', '.join(packages)}; install them with:\n"
                         f"  sudo apt-get update && sudo {' '.join(command)}")
    subprocess.run(["apt-get", "update", "-q"], check=True)
    subprocess.run(command, check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def ensure_system_packages(need_npm: bool = True, need_egl: bool = True) -> None:
    """Installs (as root) or names (otherwise) the system packages the main job needs."""
    missing: tuple[str, ...] = ()
    if need_egl and not egl_available():
        missing += EGL_PACKAGES
    if need_npm and not npm_available():
        missing += NPM_PACKAGES
    if missing:
        _apt_install(missing)
