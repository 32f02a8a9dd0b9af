"""Ansible task wall time: virtumancer.libvirt vs community.libvirt.virt (or bare libvirt).

Two tasks, each against the daemon's ``test+unix:///default`` node (a real RPC per call):

- read: ``virtumancer.libvirt.vm_info`` vs ``community.libvirt.virt: command=info``;
- converge with nothing to change: ``virtumancer.libvirt.vm`` (spec + ``state: running`` of
  the running domain ``test``) vs ``community.libvirt.virt: name=test state=running``.

community.libvirt ships in the ``ansible`` package on PyPI (``ansible-galaxy`` needs Galaxy,
not reachable here): where it is not installed, the baseline is a module that only imports
libvirt-python, opens the URI and lists the domains (``command: info``'s work). Each task
runs in a ``loop``; per-task time is ``(T(loop of N) - T(loop of 1)) / (N - 1)``, which takes
ansible-playbook's own start-up out. Rounds are interleaved; each figure is a median.
Target: <= 1.5x the baseline.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._harness import report

ROOT = Path(__file__).resolve().parents[1]
URI = "test+unix:///default"
N = 11
ROUNDS = 5
TARGET = 1.5

BARE_MODULE = '''#!/usr/bin/python
"""A baseline module: import libvirt-python, open the URI, list the domains."""
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={"uri": {"type": "str"}}, supports_check_mode=True)
    import libvirt

    conn = libvirt.open(module.params["uri"])
    try:
        names = [domain.name() for domain in conn.listAllDomains()]
    finally:
        conn.close()
    module.exit_json(changed=False, names=names)


if __name__ == "__main__":
    main()
'''

#: The domain ``test`` of libvirt's default test node, as a spec that matches it.
TEST_SPEC = {"memory_bytes": 8589934592, "vcpus": 2}


def _task(module: str, args: dict[str, object]) -> dict[str, object]:
    return {"name": module, module: args, "loop": "{{ range(count | int) | list }}"}


def _has_community_libvirt(env: dict[str, str]) -> bool:
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "-l", "community.libvirt"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return "community.libvirt.virt" in listed.stdout


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="vmt-bench-ansible-"))
    (work / "library").mkdir()
    (work / "library" / "bare_libvirt.py").write_text(BARE_MODULE)
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": f"{ROOT}:{os.environ.get('ANSIBLE_COLLECTIONS_PATH', '')}",
        "ANSIBLE_LIBRARY": str(work / "library"),
        "ANSIBLE_HOME": str(work / "home"),
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
    }
    community = _has_community_libvirt(env)
    baseline = "community.libvirt.virt" if community else "bare libvirt module"
    variants: dict[str, dict[str, object]] = {
        "vm_info": _task("virtumancer.libvirt.vm_info", {"uri": URI}),
        "vm (no change)": _task(
            "virtumancer.libvirt.vm",
            {"uri": URI, "name": "test", "state": "running", "spec": TEST_SPEC},
        ),
    }
    if community:
        variants["virt info"] = _task("community.libvirt.virt", {"uri": URI, "command": "info"})
        variants["virt running"] = _task(
            "community.libvirt.virt", {"uri": URI, "name": "test", "state": "running"}
        )
    else:
        variants["bare libvirt"] = _task("bare_libvirt", {"uri": URI})
    playbooks = {}
    for name, task in variants.items():
        path = work / f"{name.replace(' ', '_').strip('()')}.yml"
        play = {"hosts": "localhost", "gather_facts": False, "tasks": [task]}
        path.write_text(json.dumps([play]))  # JSON is YAML
        playbooks[name] = path

    def wall(name: str, count: int) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                "localhost,",
                "-c",
                "local",
                "-e",
                f"count={count}",
                str(playbooks[name]),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or "changed=0" not in done.stdout:
            raise RuntimeError(f"{name}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        return elapsed

    per_task: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name in variants:
            per_task[name].append((wall(name, N) - wall(name, 1)) / (N - 1))
    medians = {name: statistics.median(values) for name, values in per_task.items()}
    pairs = (
        [("vm_info", "virt info"), ("vm (no change)", "virt running")]
        if community
        else [("vm_info", "bare libvirt"), ("vm (no change)", "bare libvirt")]
    )
    print(f"baseline: {baseline}; per-task wall time over loops of {N}, median of {ROUNDS}")
    for ours, theirs in pairs:
        ratio = medians[ours] / medians[theirs]
        report(
            f"ansible task: virtumancer.libvirt.{ours}",
            medians[ours],
            baseline=medians[theirs],
            baseline_name=theirs,
            target=f"<= {TARGET}x",
            ok=ratio <= TARGET,
        )


if __name__ == "__main__":
    main()
