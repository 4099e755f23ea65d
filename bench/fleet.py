"""Fleet benchmark: one command on N hosts, as whole cold processes.

Starts N real sshd hosts on loopback addresses (the test fixtures' sshd), then times, for
N = 10, 50, 100 by default:

* ``remediate run`` of a playbook with one ``command: true`` check, ``--forks N``, on an
  INI inventory like ansible's (the project byte-compiled first, as pip install does);
* ``ansible all -m command -a true -f N`` (ansible-core, default configuration: OpenSSH
  with ControlMaster, no pipelining; a fresh ControlPath directory for every run, and its
  masters stopped after it, so every run is cold);
* ``pyinfra INVENTORY exec --parallel N -y -- true`` (if a pyinfra executable is given:
  install it in a scratch virtualenv, it is not a project dependency);
* a bare paramiko baseline: a Python process that connects to every host from a pool of
  at most ``PARAMIKO_THREADS`` threads, runs ``true`` and disconnects (500 threads
  connecting at once overloaded the 2-core machine: 144 s for 500 hosts).

Each figure is the median wall time of ``--repeat`` runs of the whole process (start-up
included). Prints figures and ratios; asserts nothing. Needs root (it creates the test
account and runs sshd), sshd, and the test extras installed::

    .venv/bin/python bench/fleet.py [--sizes 10,50,100] [--repeat 5] [--pyinfra PATH]
                                    [--skip ansible]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.sshd import SSHFleet, SSHServer, create_account, create_fleet

BIN = Path(sys.executable).parent
PARAMIKO_THREADS = 100
"""The bare paramiko baseline's threads: as many as hosts up to 100 (pyinfra runs every
host at once, but in greenlets of one thread)."""

# A cold connect of hundreds of hosts at once on two cores can take the last hosts past
# the default 10 s check timeout: the bench measures time, not timeouts.
PLAYBOOK = """\
name: bench
hosts: all
checks:
  alive:
    command: {cmd: "true", timeout: 60s}
"""

PARAMIKO_BASELINE = """\
import json, sys
from concurrent.futures import ThreadPoolExecutor
import paramiko

spec = json.load(open(sys.argv[1]))
# Read once for the whole fleet, as remediate does: each client reading the whole file
# parses N keys per host (N squared in all: 238 ms of CPU per host at N = 500).
known = paramiko.HostKeys(spec["known_hosts"])
key = paramiko.Ed25519Key.from_private_key_file(spec["key"])

def one(host):
    client = paramiko.SSHClient()
    name = f"[{host['address']}]:{host['port']}"
    for kind, host_key in (known.lookup(name) or {}).items():
        client.get_host_keys().add(name, kind, host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host["address"], host["port"], username=spec["user"],
                   pkey=key, allow_agent=False, look_for_keys=False)
    _, stdout, _ = client.exec_command("true")
    status = stdout.channel.recv_exit_status()
    client.close()
    return status

with ThreadPoolExecutor(max_workers=min(len(spec["hosts"]), spec["threads"])) as pool:
    statuses = list(pool.map(one, spec["hosts"]))
sys.exit(1 if any(statuses) else 0)
"""


# One daemon tick as engine.unattended.daemon runs it: run_unattended on a pool kept open between ticks.
TICK_SCRIPT = """\
import json, sys, tempfile, time
from engine.core.planning import plan_run
from engine.core.runner import RunSettings
from engine.output.logs import configure, get_logger
from engine.unattended.state import open_store
from engine.transports import TransportPool
from engine.unattended.run import run_unattended
from inventory import load_inventory

playbook, inventory, forks, ticks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
plan = plan_run(playbook, load_inventory([inventory]))
pool = TransportPool(plan.hostvars)
scratch = tempfile.mkdtemp()
store = open_store(scratch + "/state.db")
# Logged as `remediate daemon --log-format json` logs (a line per node), to a file as
# journald would take it: the workers the tick is compared with log the same lines.
configure("json", stream=open(scratch + "/daemon.log", "a"))
logger = get_logger()
seconds = []
for tick in range(ticks + 1):  # the first tick connects
    started = time.perf_counter()
    report = run_unattended(plan, RunSettings(forks=forks), store, transports=pool, logger=logger)
    seconds.append(time.perf_counter() - started)
    assert report.exit_code == 0, report.counts
pool.close()
print(json.dumps(seconds[1:]))
"""


class Workdir:
    """Inventories and scripts for one fleet size, in every tool's format."""

    def __init__(self, root: Path, fleet: SSHFleet, servers: list[SSHServer]) -> None:
        self.root = root
        self.n = len(servers)
        self.servers = servers
        known = fleet.known_hosts(servers, name=f"bench_known_hosts_{self.n}")
        self.known_hosts = known
        user, key = fleet.account[0], str(fleet.client_key)
        self.account = (user, key)
        names = [f"h{i:03d}" for i in range(self.n)]

        # The operators' Ansible inventory format, as ansible reads it below; the remediate_*
        # variables keep the run to the bench's own known_hosts and key.
        self.remediate_inventory = root / "inventory.ini"
        host_lines = "".join(
            f"{n} ansible_host={s.address} ansible_port={s.port}\n"
            for n, s in zip(names, servers, strict=True)
        )
        self.remediate_inventory.write_text(
            host_lines + f"[all:vars]\nansible_user={user}\nansible_ssh_private_key_file={key}\n"
            f"remediate_known_hosts={known}\nremediate_ssh_agent=false\n"
            f"remediate_ssh_look_for_keys=false\nremediate_ssh_config={os.devnull}\n"
        )
        self.playbook = root / "bench.yml"
        self.playbook.write_text(PLAYBOOK)

        self.ansible_inventory = root / "ansible_inventory.ini"
        self.ansible_inventory.write_text(
            host_lines + f"[all:vars]\nansible_user={user}\nansible_ssh_private_key_file={key}\n"
            f"ansible_ssh_common_args='-o UserKnownHostsFile={known} "
            "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'\n"
            "ansible_python_interpreter=/usr/bin/python3\n"
        )
        self.ansible_config = root / "ansible.cfg"
        self.ansible_config.write_text("[defaults]\nhost_key_checking = True\n")

        self.pyinfra_inventory = root / "pyinfra_inventory.py"
        self.pyinfra_inventory.write_text(
            "hosts = "
            + repr(
                [
                    (
                        n,
                        {
                            "ssh_hostname": s.address,
                            "ssh_port": s.port,
                            "ssh_user": user,
                            "ssh_key": key,
                            "ssh_known_hosts_file": str(known),
                            "ssh_strict_host_key_checking": "yes",
                            "ssh_allow_agent": False,
                            "ssh_look_for_keys": False,
                        },
                    )
                    for n, s in zip(names, servers, strict=True)
                ]
            )
            + "\n"
        )

        self.paramiko_spec = root / "paramiko.json"
        self.paramiko_spec.write_text(
            json.dumps(
                {
                    "known_hosts": str(known),
                    "user": user,
                    "key": key,
                    "hosts": [{"address": s.address, "port": s.port} for s in servers],
                    "threads": PARAMIKO_THREADS,
                }
            )
        )
        self.paramiko_script = root / "paramiko_baseline.py"
        self.paramiko_script.write_text(PARAMIKO_BASELINE)


@dataclass
class Sample:
    """One cold run of a tool: wall time, CPU time (user + system, its reaped children
    included: ansible's forks) and peak resident memory of the process."""

    wall: float
    cpu: float
    peak_mb: float


def timed(
    argv: list[str], env: dict[str, str] | None = None, after: Callable[[], None] | None = None
) -> Sample:
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(argv, stdout=output, stderr=output, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if after is not None:
            after()
        if process.returncode != 0:
            output.seek(0)
            raise RuntimeError(f"{argv[0]} failed ({process.returncode}): {output.read()[-1500:]!r}")
    return Sample(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def run_remediate(work: Workdir) -> Sample:
    return timed(
        [
            str(BIN / "remediate"),
            "run",
            str(work.playbook),
            "-i",
            str(work.remediate_inventory),
            "--forks",
            str(work.n),
            "--log-format",
            "json",
        ]
    )


def run_ansible(work: Workdir) -> Sample:
    control = Path(tempfile.mkdtemp(prefix="cp-", dir=work.root))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(work.ansible_config),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_LOCAL_TEMP": str(work.root / "ansible-tmp"),
    }

    def stop_masters() -> None:
        # ControlPersist keeps one ssh master per host alive after the run: stop exactly
        # those of this run, so that the next run is cold again.
        for socket_path in control.iterdir():
            subprocess.run(
                ["ssh", "-S", str(socket_path), "-O", "exit", "x"], capture_output=True, timeout=10
            )
        shutil.rmtree(control, ignore_errors=True)

    return timed(
        [
            str(BIN / "ansible"),
            "all",
            "-i",
            str(work.ansible_inventory),
            "-m",
            "command",
            "-a",
            "true",
            "-f",
            str(work.n),
        ],
        env=env,
        after=stop_masters,
    )


def run_pyinfra(work: Workdir, pyinfra: str) -> Sample:
    return timed(
        [pyinfra, str(work.pyinfra_inventory), "exec", "--parallel", str(work.n), "-y", "--", "true"]
    )


def daemon_tick(work: Workdir, ticks: int) -> float:
    """Median seconds of a daemon tick over the fleet, connections already open."""
    root = Path(__file__).resolve().parent.parent
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            TICK_SCRIPT,
            str(work.playbook),
            str(work.remediate_inventory),
            str(work.n),
            str(ticks),
        ],
        capture_output=True,
        text=True,
        cwd=root,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"the daemon tick failed ({finished.returncode}): {finished.stderr[-1500:]}")
    output = finished.stdout
    return statistics.median(json.loads(output.splitlines()[-1]))


def openssh_controlmaster_tick(work: Workdir, ticks: int) -> float:
    """Median seconds for OpenSSH to run `true` on every host at once through a
    ControlMaster connection opened beforehand (the lower bound for a tick)."""
    control = Path(tempfile.mkdtemp(prefix="cm-", dir=work.root))
    user, key = work.account
    base = [
        "ssh",
        "-o",
        f"UserKnownHostsFile={work.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-i",
        key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-l",
        user,
    ]
    sockets = []
    for index, server in enumerate(work.servers):
        socket_path = control / str(index)
        subprocess.run(
            [
                *base,
                "-p",
                str(server.port),
                "-o",
                f"ControlPath={socket_path}",
                "-M",
                "-f",
                "-N",
                server.address,
            ],
            check=True,
        )
        sockets.append((socket_path, server))
    seconds = []
    try:
        for _ in range(ticks):
            started = time.perf_counter()
            running = [
                subprocess.Popen([*base, "-p", str(s.port), "-o", f"ControlPath={path}", s.address, "true"])
                for path, s in sockets
            ]
            if any(process.wait() for process in running):
                raise RuntimeError("a command through the ControlMaster failed")
            seconds.append(time.perf_counter() - started)
    finally:
        for path, server in sockets:
            subprocess.run([*base, "-S", str(path), "-O", "exit", server.address], capture_output=True)
    return statistics.median(seconds)


def run_paramiko(work: Workdir) -> Sample:
    return timed([sys.executable, str(work.paramiko_script), str(work.paramiko_spec)])


def compile_project() -> None:
    """Byte-compile the project, as installing it with pip does: a checkout installed in
    editable mode under PYTHONDONTWRITEBYTECODE would compile every module on every start."""
    root = Path(__file__).resolve().parent.parent
    packages = [str(root / name) for name in ("engine", "checks", "remediations", "inventory", "playbooks")]
    command = [sys.executable, "-m", "compileall", "-q", *packages]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pyinfra", help="a pyinfra executable (from a scratch virtualenv)")
    parser.add_argument("--skip", default="", help="tools to leave out, comma-separated (e.g. ansible)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    compile_project()

    fleet = create_fleet(create_account())
    servers = fleet.start(max(sizes))
    tools: dict[str, Callable[[Workdir], Sample]] = {
        "remediate": run_remediate,
        "ansible": run_ansible,
        "paramiko": run_paramiko,
    }
    if args.pyinfra:
        pyinfra = args.pyinfra
        tools["pyinfra"] = lambda work: run_pyinfra(work, pyinfra)
    for name in filter(None, args.skip.split(",")):
        tools.pop(name)
    results: dict[int, dict[str, list[Sample]]] = {}
    ticks: dict[int, tuple[float, float]] = {}
    try:
        for n in sizes:
            root = Path(tempfile.mkdtemp(prefix=f"bench-{n}-", dir=fleet.root))
            work = Workdir(root, fleet, servers[:n])
            results[n] = {name: [] for name in tools}
            names = list(tools)
            for repeat in range(args.repeat):
                # Interleaved, so that drift hits every tool alike, and in a rotating order,
                # so that no tool always follows ansible (whose forks leave the machine busy).
                shift = repeat % len(names)
                for name in names[shift:] + names[:shift]:
                    results[n][name].append(tools[name](work))
            print(
                f"N={n}: "
                + ", ".join(
                    f"{name} {statistics.median(s.wall for s in samples):.2f}s"
                    for name, samples in results[n].items()
                ),
                flush=True,
            )
            ticks[n] = (daemon_tick(work, args.repeat), openssh_controlmaster_tick(work, args.repeat))
    finally:
        fleet.stop_all()
        shutil.rmtree(fleet.root, ignore_errors=True)

    for title, measure in (
        ("wall time (s)", lambda s: s.wall),
        ("CPU time per host (ms, user + system)", None),
        ("peak memory of the process (MB)", lambda s: s.peak_mb),
    ):
        print(f"\n{title}: median of {args.repeat} cold runs, and ratio to remediate")
        print(f"{'N':>5} " + " ".join(f"{name:>18}" for name in tools))
        for n, by_tool in results.items():

            def figure(
                samples: list[Sample], n: int = n, measure: Callable[[Sample], float] | None = measure
            ) -> float:
                if measure is None:
                    return statistics.median(s.cpu for s in samples) / n * 1000
                return statistics.median(measure(s) for s in samples)

            ours = figure(by_tool["remediate"])
            cells = [f"{figure(t):8.2f} ({figure(t) / ours:5.2f}x)" for t in by_tool.values()]
            print(f"{n:>5} " + " ".join(f"{c:>18}" for c in cells))

    print(f"\ndaemon tick, connections open (s): median of {args.repeat}, and ratio to OpenSSH ControlMaster")
    print(f"{'N':>5} {'remediate tick':>18} {'ssh -S, parallel':>18}")
    for n, (ours, openssh) in ticks.items():
        print(f"{n:>5} {ours:>18.3f} {openssh:>10.3f} ({ours / openssh:4.2f}x)")


if __name__ == "__main__":
    main()
