"""A private MariaDB primary, restic repositories and gatehouse-backup's
settings, for test_backup_tool.py: the real programs, on loopback, no mocks.

`Server` is one mariadbd (binary log on, GTID strict mode, like the site's
primary and replicas) in a directory of its own, on a free loopback port,
with the three accounts the tool uses: the dump user, the binlog stream user and a user
with every privilege that restores are loaded through. `Lab` is one
backup host's worth of state on that server: its own database, state
directory, restic repository (a copy of one initialised repository: `restic
init` takes seconds), textfile directory, drill directory and config.json;
it runs the tool as a subprocess, the way systemd runs it on a backup host.
Several labs share one server, each on its own database.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TOOL = REPO / "roles" / "backup" / "files" / "gatehouse_backup.py"
MARIADB_PROGRAMS = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin", "mariadb-dump", "mariadb-binlog")
PASSWORD = "lab-password-0123456789"
PRIMARY_SERVER_ID = 11
_stream_ids = itertools.count(9001)


class LabError(Exception):
    """The lab could not be built: a program is missing or did not start."""


def which(program: str) -> str | None:
    return shutil.which(program) or next(
        (str(p) for p in (Path("/usr/sbin") / program, Path("/usr/bin") / program) if p.exists()), None
    )


def require_programs() -> None:
    """MariaDB must be installed (make services installs it); restic is
    installed here when missing and we are root (CI's .ci/run installs it)."""
    missing = [p for p in MARIADB_PROGRAMS if which(p) is None]
    if missing:
        raise LabError(
            f"{', '.join(missing)} not found: install the Debian packages mariadb-server and "
            "mariadb-client (`make services` installs them)"
        )
    if which("restic") is None:
        if os.geteuid() != 0:
            raise LabError("restic not found: install the Debian package restic")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-qq", "restic"], env=env, capture_output=True).returncode:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "restic"], env=env, capture_output=True)
        if which("restic") is None:
            raise LabError("restic not found and `apt-get install restic` did not install it")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def owned_by_mysql(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, "mysql", "mysql")
    path.chmod(mode)
    return path


def client_defaults(path: Path, port: int, user: str, password: str = PASSWORD) -> Path:
    path.write_text(f"[client]\nhost=127.0.0.1\nport={port}\nuser={user}\npassword={password}\n")
    path.chmod(0o600)
    return path


class Server:
    """A private mariadbd with its binary log on, reached as root over its socket."""

    def __init__(self, root: Path, name: str = "primary", server_id: int = PRIMARY_SERVER_ID):
        # The tool's name for it (config.json's primary.name): its streamed
        # binlogs go to state/binlogs/<name>/.
        self.name = name
        self.server_id = server_id
        self.dir = root / name
        self.dir.mkdir()
        self.data = owned_by_mysql(self.dir / "data")
        self.run_dir = owned_by_mysql(self.dir / "run")
        self.socket = self.run_dir / "mysqld.sock"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        install = subprocess.run(
            ["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={self.data}",
             "--auth-root-authentication-method=socket", "--skip-test-db"],
            capture_output=True, text=True,
        )
        if install.returncode:
            raise LabError(f"mariadb-install-db failed: {install.stderr[-1500:]}")
        log = self.run_dir / "mysqld.err"
        self.process = subprocess.Popen(
            [which("mariadbd"), "--no-defaults", "--user=mysql", f"--datadir={self.data}",
             f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--pid-file={self.run_dir}/mysqld.pid", f"--log-error={log}",
             f"--server-id={self.server_id}", f"--log-bin={self.data}/mysql-bin", "--binlog-format=ROW",
             "--gtid-strict-mode=ON", "--log-slave-updates=ON", "--skip-name-resolve",
             # Speed, not durability: the lab is thrown away.
             "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while subprocess.run(["mariadb-admin", f"--socket={self.socket}", "-uroot", "ping"],
                             capture_output=True).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"mariadbd did not start: {log.read_text()[-1500:] if log.exists() else ''}")
            time.sleep(0.1)
        # Not binlogged: a replica of this server has the accounts already.
        self.sql(f"""
            SET SESSION sql_log_bin = 0;
            CREATE USER 'dump'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';
            GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, BINLOG MONITOR ON *.* TO 'dump'@'127.0.0.1';
            CREATE USER 'stream'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';
            GRANT REPLICATION SLAVE ON *.* TO 'stream'@'127.0.0.1';
            CREATE USER 'restore'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';
            GRANT ALL ON *.* TO 'restore'@'127.0.0.1';
        """)

    def replicate_from(self, source: Server) -> None:
        """Follow `source` from its current GTID on (its history stays there)."""
        self.sql(f"""
            SET GLOBAL gtid_slave_pos = '{source.gtid_binlog_pos()}';
            CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {source.port}, MASTER_USER = 'stream',
                MASTER_PASSWORD = '{PASSWORD}', MASTER_USE_GTID = slave_pos;
            START SLAVE;
        """)

    def catch_up_with(self, source: Server, timeout: int = 15) -> None:
        if self.value(f"SELECT MASTER_GTID_WAIT('{source.gtid_binlog_pos()}', {timeout})") != "0":
            raise AssertionError(f"{self.name} did not catch up with {source.name} in {timeout} s")

    def promote(self) -> None:
        """The failover: stop following, take writes."""
        self.sql("STOP SLAVE; RESET SLAVE ALL;")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, query: str, database: str | None = None) -> list[list[str]]:
        cmd = ["mariadb", f"--socket={self.socket}", "-uroot", "--batch", "--skip-column-names", "--raw"]
        proc = subprocess.run([*cmd, *([database] if database else [])], input=query, capture_output=True, text=True)
        if proc.returncode:
            raise AssertionError(f"SQL failed on {self.name}: {proc.stderr.strip()[-1000:]}\n{query[:1000]}")
        return [line.split("\t") for line in proc.stdout.splitlines()]

    def value(self, query: str, database: str | None = None) -> str:
        rows = self.sql(query, database)
        return rows[0][0] if rows else ""

    def gtid_binlog_pos(self) -> str:
        return self.value("SELECT @@gtid_binlog_pos")

    def binary_logs(self) -> dict[str, int]:
        return {name: int(size) for name, size, *_ in self.sql("SHOW BINARY LOGS")}

    def flush_binary_logs(self) -> str:
        """Rotate the binary log; the name of the new file."""
        self.sql("FLUSH BINARY LOGS")
        return max(self.binary_logs())


def gtid_seq(gtid: str, domain: str = "0") -> int:
    """The sequence number of a domain in a GTID list (0 when absent)."""
    for item in gtid.split(","):
        if item.startswith(f"{domain}-"):
            return int(item.rsplit("-", 1)[1])
    return 0


def prom(path: Path) -> dict[str, float]:
    """The samples of a textfile-collector file, by metric name."""
    samples = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


class Lab:
    """One backup host's state and settings, on its own database of `primary`."""

    def __init__(self, primary: Server, root: Path, name: str, template: RepositoryTemplate, **overrides):
        self.home = primary  # where the database was created
        self.name = name
        self.database = f"gh_{name}"
        self.dir = root / name
        self.dir.mkdir()
        self.state = self.dir / "state"
        self.state.mkdir(mode=0o700)
        self.textfile = self.dir / "textfile"
        self.textfile.mkdir()
        self.copies = self.dir / "copies"
        (self.copies / "auth1").mkdir(parents=True)
        (self.copies / "auth1" / "gatehouse.env").write_text(f"GATEHOUSE_ISSUER=https://{name}.example.org\n")
        self.drill_dir = owned_by_mysql(self.dir / "drill")
        self.repository = self.dir / "restic"
        shutil.copytree(template.path, self.repository)
        self.password_file = self.dir / "restic.password"
        self.password_file.write_text(PASSWORD + "\n")
        self.restic_env_file = self.dir / "restic.env"
        self.restic_env_file.write_text(
            f"RESTIC_REPOSITORY={self.repository}\nRESTIC_PASSWORD_FILE={self.password_file}\n"
        )
        self.settings = {
            "database": self.database,
            "stream_server_id": next(_stream_ids),
            "state_dir": str(self.state),
            "restic_env_file": str(self.restic_env_file),
            "restic_host": "lab",
            # The role's tiers (roles/backup/defaults/main.yml).
            "retention": {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 10},
            "textfile_dir": str(self.textfile),
            "config_copies_dir": str(self.copies),
            "drill": {"dir": str(self.drill_dir), "buffer_pool": "32M"},
            **overrides,
        }
        self.stream_process: subprocess.Popen | None = None
        self.fail_over_to(primary)
        primary.sql(f"""
            CREATE DATABASE `{self.database}`;
            USE `{self.database}`;
            CREATE TABLE accounts (id INT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(64) NOT NULL UNIQUE,
                                   created DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6));
            CREATE TABLE audit_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(64) NOT NULL,
                                    detail MEDIUMBLOB);
        """)

    def fail_over_to(self, primary: Server) -> None:
        """Point the settings at `primary` (what site.yml or the failover
        playbook does on the backup host after a failover)."""
        self.primary = primary
        self.dump_defaults = client_defaults(self.dir / "dump.cnf", primary.port, "dump")
        self.stream_defaults = client_defaults(self.dir / "stream.cnf", primary.port, "stream")
        self.target_defaults = client_defaults(self.dir / "target.cnf", primary.port, "restore")
        self.settings.update({
            "primary": {"name": primary.name, "host": "127.0.0.1", "port": primary.port},
            "dump_defaults_file": str(self.dump_defaults),
            "stream_defaults_file": str(self.stream_defaults),
        })
        self.config = self.write_config("config.json", self.settings)

    # --- the tool ------------------------------------------------------------

    def write_config(self, name: str, settings: dict) -> Path:
        path = self.dir / name
        path.write_text(json.dumps(settings, indent=2))
        return path

    def env(self, config: Path | None = None) -> dict:
        # The backup host's clock is not on UTC (half an hour off, even): the
        # tool's times must be UTC all the same.
        return {**os.environ, "GATEHOUSE_BACKUP_CONFIG": str(config or self.config), "TZ": "LAB-05:30"}

    def run(self, *args: str, config: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(TOOL), *args], env=self.env(config), capture_output=True,
                              text=True, timeout=timeout)

    def ok(self, *args: str, config: Path | None = None) -> dict:
        """The JSON a successful run prints."""
        proc = self.run(*args, config=config)
        assert proc.returncode == 0, f"gatehouse-backup {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
        return json.loads(proc.stdout.splitlines()[-1])

    def refused(self, *args: str, config: Path | None = None) -> str:
        """The message of a run that must be refused (exit 2) before changing anything."""
        proc = self.run(*args, config=config)
        assert proc.returncode == 2, f"expected a refusal (2), got {proc.returncode}: {proc.stdout}{proc.stderr}"
        assert f"gatehouse-backup {args[0]}: refused: " in proc.stderr
        return proc.stderr

    def failed(self, *args: str, config: Path | None = None) -> str:
        """The message of a run that must fail (exit 1)."""
        proc = self.run(*args, config=config)
        assert proc.returncode == 1, f"expected a failure (1), got {proc.returncode}: {proc.stdout}{proc.stderr}"
        assert f"gatehouse-backup {args[0]}: failed: " in proc.stderr
        return proc.stderr

    def metrics(self, job: str) -> dict[str, float]:
        return prom(self.textfile / f"gatehouse_backup_{job}.prom")

    # --- the binlog stream -----------------------------------------------------

    @property
    def source_dir(self) -> Path:
        return self.state / "binlogs" / self.primary.name

    def local_binlogs(self) -> dict[str, Path]:
        if not self.source_dir.is_dir():
            return {}
        return {p.name: p for p in sorted(self.source_dir.iterdir()) if re.fullmatch(r".+\.\d{6,}", p.name)}

    def start_stream(self) -> None:
        log = (self.dir / "stream.log").open("ab")
        self.stream_process = subprocess.Popen([sys.executable, str(TOOL), "stream"], env=self.env(),
                                               stdout=log, stderr=log)
        log.close()

    def stop_stream(self) -> None:
        if self.stream_process is not None and self.stream_process.poll() is None:
            self.stream_process.terminate()
            self.stream_process.wait(30)
        self.stream_process = None

    def wait_caught_up(self, timeout: float = 15) -> None:
        """Until every byte of the primary's binary logs (from the first
        streamed file on) is in the local copy."""
        deadline = time.monotonic() + timeout
        while True:
            local = {name: path.stat().st_size for name, path in self.local_binlogs().items()}
            on_primary = self.primary.binary_logs()
            if local and all(local.get(n, -1) >= s for n, s in on_primary.items() if n >= min(local)):
                return
            if self.stream_process is not None and self.stream_process.poll() is not None:
                raise AssertionError(f"the stream exited: {(self.dir / 'stream.log').read_text()[-1500:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the stream did not catch up in {timeout} s: local {local}, primary {on_primary}")
            time.sleep(0.1)

    def decoded_binlogs(self, names: list[str] | None = None) -> str:
        """The local binlog copy as SQL text, row events decoded."""
        files = [str(p) for n, p in self.local_binlogs().items() if names is None or n in names]
        proc = subprocess.run(["mariadb-binlog", "--base64-output=decode-rows", "-v", *files],
                              capture_output=True, text=True, errors="replace")
        return proc.stdout

    # --- the app's data ----------------------------------------------------------

    def sql(self, query: str) -> list[list[str]]:
        return self.primary.sql(query, self.database)

    def insert(self, *labels: str) -> None:
        """One transaction per label, an account and its audit line."""
        self.sql("".join(
            f"BEGIN; INSERT INTO accounts (label) VALUES ('{label}');"
            f" INSERT INTO audit_log (label, detail) VALUES ('{label}', UNHEX(SHA2('{label}', 256))); COMMIT;"
            for label in labels
        ))

    def labels(self) -> set[str]:
        exists = self.primary.value(f"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{self.database}'")
        if exists == "0":
            return set()
        return {row[0] for row in self.sql("SELECT label FROM accounts")}

    # --- the repository --------------------------------------------------------------

    def restic(self, *args: str, env_file: Path | None = None, binary: bool = False) -> subprocess.CompletedProcess:
        env = {**os.environ, "RESTIC_CACHE_DIR": str(self.state / "restic-cache")}
        for line in (env_file or self.restic_env_file).read_text().splitlines():
            key, value = line.split("=", 1)
            env[key] = value
        proc = subprocess.run(["restic", *args], env=env, capture_output=True, text=not binary)
        assert proc.returncode == 0, f"restic {' '.join(args)}: {proc.stderr}"
        return proc

    def snapshot_ids(self) -> list[str]:
        return [s["short_id"] for s in json.loads(self.restic("snapshots", "--json").stdout or "[]")]

    def snapshot_files(self, snapshot: str) -> dict[str, bytes]:
        """The staging directory a full backup holds, read with `restic dump`
        (a tar of the directory), by path relative to it."""
        staging = self.state / "staging" / "current"
        tar = self.restic("dump", snapshot, str(staging), binary=True).stdout
        prefix = str(staging).strip("/") + "/"
        files = {}
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            for member in archive.getmembers():
                name = member.name.lstrip("/")
                if member.isfile() and name.startswith(prefix):
                    files[name[len(prefix):]] = archive.extractfile(member).read()
        return files

    def close(self) -> None:
        self.stop_stream()
        self.home.sql(f"DROP DATABASE IF EXISTS `{self.database}`")
        shutil.rmtree(self.dir, ignore_errors=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RepositoryTemplate:
    """An initialised, empty repository the labs copy: `restic init` derives
    its key for seconds, a copy is instant. The init runs in the background
    from construction on (while the primary starts)."""

    def __init__(self, path: Path):
        self._path = path
        self._password = path.parent / "template.password"
        self._password.write_text(PASSWORD + "\n")
        self._env = {**os.environ, "RESTIC_REPOSITORY": str(path), "RESTIC_PASSWORD_FILE": str(self._password),
                     "RESTIC_CACHE_DIR": str(path.parent / "template-cache")}
        self._init = subprocess.Popen(["restic", "init"], env=self._env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
        self._ready = False

    @property
    def path(self) -> Path:
        if not self._ready:
            _, err = self._init.communicate()
            if self._init.returncode:
                raise LabError(f"restic init failed: {err}")
            cheapen_key(self._path, PASSWORD, self._env)
            self._ready = True
        return self._path


# restic opens a repository by deriving its key from the password with scrypt
# at the cost `restic init` calibrates (about half a second of CPU); the tests
# run restic some fifty times. The template's key is re-wrapped at a tiny
# cost (restic's key format: scrypt -> AES-256-CTR + Poly1305-AES over the
# master key; internal/crypto and internal/repository/key.go). Only the
# password's hashing changes: every backup, restore and check is restic's
# own. If anything about it fails, the calibrated key stays.
CHEAP_SCRYPT = {"N": 1024, "r": 8, "p": 1}


def cheapen_key(repository: Path, password: str, env: dict) -> None:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.poly1305 import Poly1305
    except ImportError:
        return
    (key_file,) = (repository / "keys").iterdir()
    original = key_file.read_bytes()
    key = json.loads(original)

    def derive(salt: bytes, n: int, r: int, p: int) -> bytes:
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=1 << 30, dklen=64)

    def ctr(derived: bytes, nonce: bytes):
        return Cipher(algorithms.AES(derived[:32]), modes.CTR(nonce))

    def mac(derived: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
        encryptor = Cipher(algorithms.AES(derived[32:48]), modes.ECB()).encryptor()
        return Poly1305.generate_tag(derived[48:64] + encryptor.update(nonce) + encryptor.finalize(), ciphertext)

    data = base64.b64decode(key["data"])
    nonce, ciphertext = data[:16], data[16:-16]
    old = derive(base64.b64decode(key["salt"]), key["N"], key["r"], key["p"])
    if mac(old, nonce, ciphertext) != data[-16:]:
        return
    decryptor = ctr(old, nonce).decryptor()
    master = decryptor.update(ciphertext) + decryptor.finalize()
    salt, nonce = os.urandom(64), os.urandom(16)
    new = derive(salt, **{k.lower(): v for k, v in CHEAP_SCRYPT.items()})
    encryptor = ctr(new, nonce).encryptor()
    ciphertext = encryptor.update(master) + encryptor.finalize()
    key.update(CHEAP_SCRYPT, salt=base64.b64encode(salt).decode(),
               data=base64.b64encode(nonce + ciphertext + mac(new, nonce, ciphertext)).decode())
    text = json.dumps(key).encode()
    key_file.unlink()
    cheap = repository / "keys" / hashlib.sha256(text).hexdigest()
    cheap.write_bytes(text)
    cheap.chmod(0o400)
    if subprocess.run(["restic", "cat", "config"], env=env, capture_output=True).returncode:
        cheap.unlink()
        key_file.write_bytes(original)
