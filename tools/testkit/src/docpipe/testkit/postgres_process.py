"""A PostgreSQL server that a test starts, stops and configures itself.

The session's pgserver (tests/conftest.py) listens on a Unix socket with trust
authentication and must stay up for every other test. Tests about the database going
away, TLS or passwords need a server of their own: this one runs the same pgserver
binaries (PostgreSQL 16 + pgvector), or a system PostgreSQL built with OpenSSL (pgserver's
is not) for TLS, in a fresh data folder, as a non-root user when the tests run as root
(PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "PostgresProcess",
    "migrated_postgres",
    "pgserver_bin_dir",
    "system_postgres_bin_dir",
]

_RUN_AS = "pgserver"  # the account pgserver itself uses when run as root


def pgserver_bin_dir() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def system_postgres_bin_dir() -> Path | None:
    """Debian's PostgreSQL (built with OpenSSL), newest major version first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    return Path(found[0]).parent if found else None


@dataclass
class PostgresProcess:
    """One server: ``initdb`` on creation of the object's data folder, then start/stop."""

    bin_dir: Path
    port: int
    listen_addresses: str = ""  # "" = Unix socket only
    settings: dict[str, str] = field(default_factory=dict)
    hba: list[str] = field(default_factory=list)  # lines placed before initdb's own
    data_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        # A short path: Unix socket paths are capped at ~107 bytes.
        self.data_dir = Path(tempfile.mkdtemp(prefix="dp-pg-", dir="/tmp"))
        self._user = _run_as_user()
        if self._user is not None:
            from pgserver.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.bin_dir)
            os.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                  "-E", "utf8", "--no-sync")  # fmt: skip
        conf = {
            "listen_addresses": f"'{self.listen_addresses}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.data_dir}'",
            "fsync": "off",
            "max_connections": "30",
            "shared_buffers": "16MB",
            **self.settings,
        }
        with (self.data_dir / "postgresql.conf").open("a") as f:
            f.writelines(f"{key} = {value}\n" for key, value in conf.items())
        hba_file = self.data_dir / "pg_hba.conf"
        hba_file.write_text("\n".join([*self.hba, hba_file.read_text()]))

    @property
    def socket_dir(self) -> str:
        return str(self.data_dir)

    def own(self, path: Path, mode: int = 0o600) -> None:
        """Give a file in the data folder to the server's account (keys must be 0600)."""
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)
        path.chmod(mode)

    def dsn(self, *, user: str | None = "postgres", database: str = "postgres") -> str:
        """As ``user``; None names no user (each service then connects as its own role)."""
        who = f"{quote(user)}@" if user else ""
        return f"postgresql://{who}/{database}?host={self.socket_dir}&port={self.port}"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def is_running(self) -> bool:
        status = self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False)
        return status.returncode == 0

    def remove(self) -> None:
        if self.is_running():
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log(self) -> str:
        path = self.data_dir / "log"
        return path.read_text() if path.exists() else ""

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.bin_dir / program), *args],
            user=self._user.pw_uid if self._user else None,
            group=self._user.pw_gid if self._user else None,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr}\n{self.log()}")
        return done


def _run_as_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_RUN_AS)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/false", _RUN_AS], check=True, capture_output=True)
        return pwd.getpwnam(_RUN_AS)


async def migrated_postgres(
    *,
    embedding_dimensions: int,
    role_passwords: dict[str, str] | None = None,
    hba: list[str] | None = None,
) -> PostgresProcess:
    """A started pgserver-binaries server with a migrated ``docpipe`` database.

    ``role_passwords`` (role → password) are set on the services' roles as on AWS; ``hba``
    lines come before the default trust rules (e.g. a password for a role on the socket).
    """
    import asyncpg

    from docpipe.common.migrations import apply_migrations
    from docpipe.devstack.embedded import free_port

    server = PostgresProcess(pgserver_bin_dir(), port=free_port(), hba=hba or [])
    server.start()
    admin = await asyncpg.connect(server.dsn())
    await admin.execute("create database docpipe")
    await admin.close()
    admin = await asyncpg.connect(server.dsn(database="docpipe"))
    try:
        await apply_migrations(
            admin, embedding_dimensions=embedding_dimensions, role_passwords=role_passwords
        )
    finally:
        await admin.close()
    return server
