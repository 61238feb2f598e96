"""The smoke reproduction under an emulated other processor, run beside the rest of the tests.

It is a whole smoke reproduction (``regenerate.py --out``, its own phantom) under capped
instruction sets (``ONEDNN_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``): a minute or two of work that
waits on nothing else. The test session starts it as soon as it knows the portability test is
selected, at a lower scheduling priority (``nice`` 10), so it fills the processor time that the
mostly single-threaded tests leave idle; the test then only collects its result. It runs on one
thread (``OMP_NUM_THREADS=1``): two would contend with the tests' own threads, and on a 2-core
AMD EPYC tests/test_golden.py took 601 s with it on two threads, 169 s on one. One thread
against the golden files' two is a second difference the tolerance covers (measured: 4.7e-3
relative at most); with a fixed thread count the numbers do not depend on how busy the machine is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REGENERATE = Path(__file__).resolve().parent / "regenerate.py"
#: The test that reads the result (its name, as pytest collects it).
TEST_NAME = "test_smoke_tables_match_the_golden_files_on_an_emulated_other_processor"
#: Emulated processors, most capable first: (oneDNN's cap, ATen's cap, the capability PyTorch then reports).
EMULATIONS: tuple[tuple[str, str, str], ...] = (("AVX2", "avx2", "AVX2"), ("SSE41", "default", "DEFAULT"))
NICENESS = 10


def other_isa(here: str) -> tuple[str, str, str] | None:
    """The first emulated processor whose kernels are plainer than PyTorch's capability `here`
    (e.g. ``"AVX512"``); None when `here` is already the plainest."""
    ranks = {"AVX512": 2, "AVX2": 1, "DEFAULT": 0}
    for emulation in EMULATIONS:
        if ranks.get(emulation[2], 0) < ranks.get(here, 0):
            return emulation
    return None


@dataclass
class Finished:
    """What the emulated reproduction left: its exit code, output, and folder (``processor.json``, ``results/``)."""

    returncode: int
    stdout: str
    stderr: str
    out: Path


class EmulatedReproduction:
    """One background smoke reproduction under `emulation` = (oneDNN cap, ATen cap, expected capability)."""

    def __init__(self, emulation: tuple[str, str, str]) -> None:
        self.emulation = emulation
        self.work = Path(tempfile.mkdtemp(prefix="deepnorm-emulated-"))
        self.out = self.work / "out"
        onednn, aten, _ = emulation
        env = {**os.environ, "ONEDNN_MAX_CPU_ISA": onednn, "ATEN_CPU_CAPABILITY": aten, "OMP_NUM_THREADS": "1",
               "PYTHONUNBUFFERED": "1"}
        self._stdout = open(self.work / "stdout.txt", "w+", encoding="utf-8")
        self._stderr = open(self.work / "stderr.txt", "w+", encoding="utf-8")
        self._process = subprocess.Popen([sys.executable, str(REGENERATE), "--out", str(self.out)], env=env,
                                         stdout=self._stdout, stderr=self._stderr, cwd=self.work,
                                         preexec_fn=(lambda: os.nice(NICENESS)) if hasattr(os, "nice") else None)
        self._finished: Finished | None = None

    def result(self, timeout: float = 1200.0) -> Finished:
        """Wait (at most `timeout` s) for the reproduction; its exit code, output and folder."""
        if self._finished is None:
            try:
                code = self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = self._stop()
            outputs = []
            for handle in (self._stdout, self._stderr):
                handle.flush()
                handle.seek(0)
                outputs.append(handle.read())
            self._finished = Finished(code, outputs[0], outputs[1], self.out)
        return self._finished

    def _stop(self) -> int:
        """Kill the reproduction (its notebook kernels exit with their parent); its exit code."""
        if self._process.poll() is None:
            self._process.kill()
        return self._process.wait()

    def close(self) -> None:
        """Stop the reproduction if it still runs and delete its folder."""
        self._stop()
        self._stdout.close()
        self._stderr.close()
        shutil.rmtree(self.work, ignore_errors=True)
