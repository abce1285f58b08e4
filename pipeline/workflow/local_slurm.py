"""A single-node SLURM cluster on 127.0.0.1, for trying the workflow's SLURM profile on one machine
(and for its SLURM tests and benchmark). Debian's packages (slurmctld, slurmd, slurm-client, munge) without systemd:
munged, slurmctld and slurmd are started by hand with their own key, socket, state and logs under
one folder, and stopped by the PIDs they wrote there, never by process name.

    python -m pipeline.workflow.local_slurm up      # idempotent: a running cluster is left as it is
    python -m pipeline.workflow.local_slurm status
    python -m pipeline.workflow.local_slurm down    # cancels jobs, stops the daemons, unlinks the config

Then: ``snakemake --profile profiles/slurm-local ...`` (docs/guides/slurm.md).

The folder is $STYLESNAKE_SLURM_DIR (default /tmp/stylesnake-slurm). Root is needed: slurmd runs
each job as the submitting user, and the clients only read /etc/slurm/slurm.conf (see below).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The `srun` that the SLURM executor runs inside every job clears SLURM_CONF, so clients must find
# the config at the compiled-in path; we link ours there (and refuse to touch a real one).
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
PARTITION = "local"
# Not SLURM's default ports, so a real slurmctld/slurmd on the machine is never hit by mistake.
CTLD_PORT, SLURMD_PORT = 16817, 16818
DAEMONS = ("munged", "slurmctld", "slurmd")  # start order; stopped in reverse
BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel")
APT_PACKAGES = "slurmctld slurmd slurm-client munge"


class Unavailable(RuntimeError):
    """This machine cannot run the local cluster (not root, packages missing, a real SLURM here)."""


@dataclass(frozen=True)
class Cluster:
    root: Path

    @classmethod
    def default(cls) -> Cluster:
        return cls(Path(os.environ.get("STYLESNAKE_SLURM_DIR", "/tmp/stylesnake-slurm")))

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        """One line per finished job (JobId, Name, JobState, ExitCode, WorkDir, Tres ...)."""
        return self.root / "log" / "jobcomp.txt"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def pid_file(self, daemon: str) -> Path:
        return self.root / "run" / f"{daemon}.pid"

    def log_file(self, daemon: str) -> Path:
        return self.root / "log" / f"{daemon}.log"

    # --- state ------------------------------------------------------------------------------

    def pid(self, daemon: str) -> int | None:
        """The daemon's PID from its PID file, if that process is alive and still that daemon
        (a stale file's PID may since belong to someone else's process)."""
        try:
            pid = int(self.pid_file(daemon).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _is(pid, daemon) else None

    def running(self) -> dict[str, int | None]:
        return {daemon: self.pid(daemon) for daemon in DAEMONS}

    def ready(self) -> bool:
        """The controller answers and the node takes jobs."""
        try:
            states = _run("sinfo", "-h", "-N", "-p", PARTITION, "-o", "%T", timeout=10).split()
        except (subprocess.SubprocessError, OSError):
            return False
        return bool(states) and all(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states)

    def jobs(self) -> list[dict[str, str]]:
        """Finished jobs from the job-completion file, oldest first."""
        if not self.jobcomp.exists():
            return []
        return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in self.jobcomp.read_text().splitlines() if line]

    # --- up ---------------------------------------------------------------------------------

    def check_machine(self) -> None:
        if os.geteuid() != 0:
            raise Unavailable("needs root: slurmd runs jobs as their user and the config lives in /etc/slurm")
        missing = [b for b in BINARIES if not shutil.which(b, path=_sbin_path())]
        if missing:
            raise Unavailable(f"missing {', '.join(missing)}: apt-get install {APT_PACKAGES}")
        if (SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink()) and not self._owns_system_conf():
            raise Unavailable(f"{SYSTEM_CONF} exists and is not ours: a real SLURM install; not touching it")
        host = short_hostname()
        try:
            address = socket.gethostbyname(host)
        except OSError as error:
            raise Unavailable(f"hostname {host} does not resolve: {error}") from None
        if not address.startswith("127."):
            # The daemons bind to the address the hostname resolves to: only loopback keeps the
            # cluster (which runs anything as root) off the network.
            raise Unavailable(f"hostname {host} resolves to {address}, not loopback; add it to /etc/hosts as 127.0.0.1")

    def up(self, timeout: float = 60) -> None:
        """Start the cluster unless it is running already; return when the node takes jobs."""
        self.check_machine()
        running = self.running()
        if all(running.values()) and self.conf.exists():
            _wait(self.ready, timeout, "the running cluster never became ready", self)
            return
        if any(running.values()):  # half a cluster (a daemon died): start over cleanly
            self.down()
        for sub in ("state", "spool", "log"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        for sub in ("etc", "run", "state", "spool", "log", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses group/other-writable folders on its paths; clients need o+x to reach the socket.
        for path in [self.root, *(self.root / sub for sub in ("etc", "run", "state", "spool", "log", "munge"))]:
            path.chmod(0o755)
        self._start_munge()
        self.conf.write_text(slurm_conf(self))
        (self.conf.parent / "gres.conf").write_text(gres_conf())  # slurmd reads it beside slurm.conf
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        if not SYSTEM_CONF.is_symlink():
            SYSTEM_CONF.symlink_to(self.conf)
        _run(_sbin("slurmctld"), "-c", "-f", str(self.conf), timeout=30)
        _wait(lambda: self.pid("slurmctld") and _ok("scontrol", "ping"), 30, "slurmctld did not start", self)
        _run(_sbin("slurmd"), "-f", str(self.conf), timeout=30)
        _wait(self.ready, timeout, "the node never became idle", self)

    def _start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            _run(_sbin("mungekey"), "--create", "--bits", "1024", "--keyfile", str(key), timeout=30)
        key.chmod(0o600)
        _run(
            _sbin("munged"),
            f"--socket={self.munge_socket}",
            f"--key-file={key}",
            f"--pid-file={self.pid_file('munged')}",
            f"--log-file={self.log_file('munged')}",
            f"--seed-file={self.root / 'munge' / 'munged.seed'}",
            timeout=30,
        )
        _wait(lambda: self.pid("munged") and self.munge_socket.exists(), 15, "munged did not start", self)

    # --- down -------------------------------------------------------------------------------

    def down(self, timeout: float = 30) -> None:
        """Cancel every job, stop the daemons by their PID files, unlink the system config."""
        if self.pid("slurmctld"):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                _run("scancel", "--full", "--partition", PARTITION, timeout=10)
                # A job that will not die is no reason to leave the daemons running: stop them anyway.
                _poll(lambda: not _run("squeue", "-h", "-o", "%i", timeout=10).strip(), timeout)
        for daemon in reversed(DAEMONS):
            pid = self.pid(daemon)
            if pid is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            # The daemons remove their PID files early in shutdown: wait for the process itself.
            gone = functools.partial(_gone, pid, daemon)
            if not _poll(gone, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _poll(gone, 5)
            self.pid_file(daemon).unlink(missing_ok=True)
        if self._owns_system_conf():
            SYSTEM_CONF.unlink()

    def _owns_system_conf(self) -> bool:
        return SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == self.conf

    def log_tails(self, lines: int = 15) -> str:
        tails = []
        for daemon in DAEMONS:
            log = self.log_file(daemon)
            if log.exists():
                tails.append(f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(tails)


def short_hostname() -> str:
    return socket.gethostname().split(".")[0]


def slurm_conf(cluster: Cluster) -> str:
    host, root = short_hostname(), cluster.root
    # The node's CPUs and memory exactly as slurmd sees them, or it drains the node ("Low RealMemory").
    node = _run(_sbin("slurmd"), "-C", timeout=30).splitlines()[0]
    hardware = " ".join(field for field in node.split() if not field.startswith(("NodeName=", "UpTime=")))
    return f"""\
# Written by pipeline/workflow/local_slurm.py: a one-node cluster on 127.0.0.1 for tests.
ClusterName=stylesnake
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={CTLD_PORT}
SlurmdPort={SLURMD_PORT}
# Only loopback: with the hostname on 127.0.0.1 the daemons listen there and nowhere else.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={cluster.munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={cluster.pid_file("slurmctld")}
SlurmdPidFile={cluster.pid_file("slurmd")}
SlurmctldLogFile={cluster.log_file("slurmctld")}
SlurmdLogFile={cluster.log_file("slurmd")}
# No systemd, no cgroups here.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# No slurmdbd, so no sacct: finished jobs stay in squeue for 5 min (the executor polls squeue)
# and every finished job gets a line in the job-completion file (the tests read it).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={cluster.jobcomp}
MinJobAge=300
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without it a job that gives no --mem would take the node's whole memory.
DefMemPerCPU=500
ReturnToService=2
# scancel: SIGKILL 5 s after SIGTERM (default 30).
KillWait=5
InactiveLimit=0
# A pretend GPU (no device behind it): GPU rules' --gpus=1 is scheduled as on a real GPU node,
# and the job-completion file shows which jobs held it.
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 {hardware} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def gres_conf() -> str:
    return f"NodeName={short_hostname()} Name=gpu File=/dev/null\n"


# --- helpers -----------------------------------------------------------------------------------


def _is(pid: int, daemon: str) -> bool:
    """Whether process ``pid`` runs ``daemon``'s binary."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    # Debian installs slurmctld as an alternatives link to slurmctld-wlm: compare real paths.
    return exe == os.path.realpath(_sbin(daemon))


def _sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _sbin(name: str) -> str:
    return shutil.which(name, path=_sbin_path()) or name


def _run(*command: str, timeout: float) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, command, proc.stdout, proc.stderr)
    return proc.stdout


def _ok(*command: str) -> bool:
    try:
        _run(*command, timeout=10)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def _gone(pid: int, daemon: str) -> bool:
    return not _is(pid, daemon)


def _poll(condition: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return bool(condition())


def _wait(condition: Callable[[], object], timeout: float, message: str, cluster: Cluster | None = None) -> None:
    if not _poll(condition, timeout):
        raise RuntimeError(f"{message} within {timeout:.0f} s" + (f"\n{cluster.log_tails()}" if cluster else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args()
    cluster = Cluster.default()
    try:
        if args.action == "up":
            cluster.up()
        elif args.action == "down":
            cluster.down()
    except Unavailable as error:
        print(f"local_slurm: {error}", file=sys.stderr)
        return 2
    running = cluster.running()
    print(f"{cluster.root}: " + ", ".join(f"{d} {'pid ' + str(p) if p else 'stopped'}" for d, p in running.items()))
    if args.action != "down" and all(running.values()):
        print(_run("sinfo", timeout=10).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
