"""`cca transcribe --ray`: the same batch spread over the workers of a Ray cluster.

Each worker is a Ray actor that loads the model once (the same `WhisperASR` and VAD a local run
builds, from the same name or path and options) and transcribes chunks of files with the same
`BatchTranscriber`, returning transcripts. Only the driver writes: outputs and the manifest go
through the same `Manifest` as a local run, so a run resumes a local one and the other way round,
and a worker that dies leaves nothing written. Its chunk goes to the next free worker (Ray
restarts the dead one), up to `max_attempts` times.

Every worker reads the input files at the driver's absolute paths: the inputs must be on a file
system that every node sees at the same path (on one machine, they are). Outputs are written by
the driver only, into its own output folder.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from voice.asr.batch import BatchOptions, FileResult, Job, Manifest, Progress
from voice.asr.types import ASROptions

logger = logging.getLogger(__name__)

INSTALL = "pip install 'contact-centre-agent[ray]'"
CONNECT_S = 5.0  # how long --ray ADDRESS may take to answer at all
PROBE_S = 300  # how long a driver waits for a dead worker to come back before going on without it


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker builds: the same model, VAD and options on every node."""

    model: str  # Whisper name, packaged:NAME or a checkpoint path, resolved on each worker's node
    device: str | None = None  # cpu, cuda or cuda:N on the worker; None: cuda where it has one
    asr: ASROptions = ASROptions()  # decoding options, as a local run's
    vad: str = "silero"  # VAD name (voice.asr.vad.load_vad)
    batch: BatchOptions = BatchOptions()  # batch size, decode threads, channels, limits, formats


@dataclass(frozen=True)
class RayOptions:
    address: str = "auto"  # auto: a running cluster, else a local one; host:port, ray://host:port
    workers: int | None = None  # actors, one model each; None: one per node (one per GPU on GPUs)
    cpus_per_worker: float | None = None  # None: the cluster's CPUs shared among the workers
    max_attempts: int = 3  # tries of a file whose worker died before it gives up on it

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise ValueError("--ray-workers must be at least 1")
        if self.cpus_per_worker is not None and self.cpus_per_worker <= 0:
            raise ValueError("--ray-cpus-per-worker must be more than 0")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise ImportError(f"cca transcribe --ray needs Ray: {INSTALL}") from e
    return ray


def connect(address: str = "auto") -> bool:
    """Join the Ray cluster at `address` (see RayOptions.address); True if a local one was started.

    Does nothing if this process is already connected (a test's cluster, a caller's own)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = {"include_dashboard": False, "logging_level": logging.WARNING}
    if address == "auto":
        try:
            ray.init(address="auto", logging_level=logging.WARNING)
            return False
        except ConnectionError:
            logger.info("ray: no running cluster found; starting a local one")
            ray.init(address="local", **quiet)
            return True
    fix = (
        "start one with `ray start --head` and give its address (host:6379 or "
        "ray://host:10001), or use --ray auto"
    )
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray {address!r}: give auto, host:port or ray://host:port")
    try:  # Ray itself retries an address where nothing listens for minutes
        socket.create_connection((host, int(port)), timeout=CONNECT_S).close()
        ray.init(address=address, logging_level=logging.WARNING)
    except OSError as e:
        raise RuntimeError(f"cannot reach the Ray cluster at {address!r} ({e}); {fix}") from e
    except Exception as e:  # a Ray error: a version mismatch, a timeout
        raise RuntimeError(
            f"cannot join the Ray cluster at {address!r} ({type(e).__name__}: {e}); {fix}"
        ) from e
    return False


class Worker:
    """The body of one Ray actor: one loaded model, transcribing chunks of files."""

    def __init__(self, spec: WorkerSpec, threads: int | None = None):
        import torch

        from voice.asr.batch import BatchTranscriber
        from voice.asr.vad import load_vad
        from voice.asr.whisper import WhisperASR

        if threads:
            torch.set_num_threads(threads)
        asr = WhisperASR.from_pretrained(spec.model, device=spec.device, options=spec.asr)
        self.transcriber = BatchTranscriber(asr, load_vad(spec.vad), spec.batch)

    def key(self) -> str:
        return self.transcriber.key

    def count_windows(self, jobs: list[Job]) -> list[int]:
        return self.transcriber.count_windows(jobs)

    def transcribe(self, jobs: list[Job]) -> list:
        """[(FileResult, Transcript or None)] for the jobs, in the order they finished."""
        return self.transcriber.transcribe(jobs)


@dataclass
class _Chunk:
    jobs: list[Job]  # with absolute sources, as the workers read them
    attempts: int = 0  # tries whose worker died


class RayTranscriber:
    """`BatchTranscriber.run` over Ray workers: `start()` loads the models, `run()` transcribes."""

    def __init__(self, spec: WorkerSpec, options: RayOptions = RayOptions(), worker=Worker):
        self.spec = spec
        self.options = options
        self.worker = worker  # the actor's class (a test gives one that dies)
        self.actors: list = []
        self.down: set = set()  # workers that died and have not answered since
        self.key = ""

    # -- workers -----------------------------------------------------------------------------

    def _resources(self) -> tuple[int, float, float]:
        """(workers, CPUs each, GPUs each) from the options and what the cluster has."""
        ray = import_ray()
        have = ray.cluster_resources()
        cpus, gpus = have.get("CPU", 0.0), have.get("GPU", 0.0)
        device = self.spec.device
        on_gpu = gpus >= 1 and (device is None or device.startswith("cuda"))
        if device and device.startswith("cuda") and gpus < 1:
            raise ValueError(f"--device {device}: the Ray cluster has no GPU; use --device cpu")
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        n = self.options.workers or (int(gpus) if on_gpu else max(1, nodes))
        per_cpu = self.options.cpus_per_worker or max(1.0, math.floor(cpus / n))
        per_gpu = 1.0 if on_gpu else 0.0
        if n * per_cpu > cpus or n * per_gpu > gpus:
            raise ValueError(
                f"{n} workers of {per_cpu:g} CPUs and {per_gpu:g} GPUs do not fit in the Ray "
                f"cluster ({cpus:g} CPUs, {gpus:g} GPUs); lower --ray-workers or "
                "--ray-cpus-per-worker"
            )
        return n, per_cpu, per_gpu

    def start(self) -> None:
        """Start the workers and wait until each has loaded the model."""
        ray = import_ray()
        n, per_cpu, per_gpu = self._resources()
        actor = ray.remote(self.worker).options(
            num_cpus=per_cpu,
            num_gpus=per_gpu,
            max_restarts=-1,  # a dead worker comes back (loading the model again) ...
            max_task_retries=0,  # ... and the driver decides where its chunk goes
        )
        threads = max(1, int(per_cpu))
        self.actors = [actor.remote(self.spec, threads) for _ in range(n)]
        try:
            keys = set(ray.get([a.key.remote() for a in self.actors]))
        except ray.exceptions.RayError as e:
            self.stop()
            raise RuntimeError(
                f"a Ray worker could not load the model {self.spec.model!r}: {_cause(e)}; "
                "every node needs the same model (official name, packaged:NAME, or a checkpoint "
                "at the same path)"
            ) from e
        if len(keys) != 1:
            self.stop()
            raise RuntimeError(f"the Ray workers built different models or options: {keys}")
        self.key = keys.pop()
        logger.info("ray: %d workers, %g CPUs and %g GPUs each", n, per_cpu, per_gpu)

    def stop(self) -> None:
        ray = import_ray()
        for a in self.actors:
            ray.kill(a)
        self.actors, self.down = [], set()

    # -- the loop ----------------------------------------------------------------------------

    def run(self, jobs: list[Job], out_dir: Path, progress: bool = True) -> list[FileResult]:
        """As `BatchTranscriber.run`: the same outputs, manifest and results, and resumable."""
        if not self.actors:
            self.start()
        manifest = Manifest(out_dir, self.key, self.spec.batch.formats)
        todo, results = manifest.plan(jobs, self.spec.batch.overwrite)
        bar = Progress(len(todo), results, progress)
        by_source = {str(j.source.resolve()): j for j in todo}
        remote = [Job(Path(s), j.stem) for s, j in by_source.items()]  # what the workers read

        def fail(chunk: _Chunk, why: str) -> None:
            for j in chunk.jobs:
                bar.record(_failed(by_source[str(j.source)], why))

        def write(chunk: _Chunk, done: list) -> None:
            for r, transcript in done:
                job = by_source[r.source]
                if transcript is None:
                    error = r.error.replace(r.source, str(job.source))
                    bar.record(FileResult(str(job.source), r.status, r.duration_s, error))
                    continue
                try:
                    bar.record(manifest.write(job, transcript, r.duration_s))
                except OSError as e:  # a full disk fails this file, not the run (as locally)
                    bar.record(_failed(job, f"writing output failed: {e}", r.duration_s))

        self._dispatch(self._chunks(remote), "transcribe", write, fail)
        bar.close()
        return results

    def _chunks(self, jobs: list[Job]) -> deque[_Chunk]:
        """Chunks of files that start where the local loop starts a batch, about one batch each.

        The local loop decodes the windows of the files in order, `batch_size` at a time; a
        chunk that starts on such a boundary forms the same batches on its worker, and so the
        same transcripts. The windows are counted first, on the workers (decoding and VAD only).
        With --condition-on-previous-text, batches depend on which windows finish when: chunks
        are then `batch_size` files (see the README for what may differ).
        """
        size = self.spec.batch.batch_size
        if self.spec.asr.condition_on_previous_text or not jobs:
            return deque(_Chunk(jobs[i : i + size]) for i in range(0, len(jobs), size))
        counts: dict[str, int] = {}

        def counted(chunk: _Chunk, n: list[int]) -> None:
            counts.update((str(j.source), k) for j, k in zip(chunk.jobs, n, strict=True))

        first = deque(_Chunk(jobs[i : i + size]) for i in range(0, len(jobs), size))
        self._dispatch(first, "count_windows", counted, lambda chunk, why: None)
        chunks, current, windows = deque(), [], 0
        for job in jobs:
            current.append(job)
            windows += counts.get(str(job.source), 0)  # 0: it fails again, alone, later
            if windows >= size and windows % size == 0:
                chunks.append(_Chunk(current))
                current, windows = [], 0
        if current:
            chunks.append(_Chunk(current))
        return chunks

    def _dispatch(self, queue: deque[_Chunk], method: str, done, fail) -> None:
        """Run `method` of the workers on every chunk, each worker one chunk at a time;
        `done(chunk, value)` takes each answer, `fail(chunk, why)` each chunk given up on.

        A worker that died gets no chunk until it answers a probe (Ray restarts it and it loads
        the model again); its chunk goes whole (the same batches) to the next free worker."""
        ray = import_ray()
        idle = deque(a for a in self.actors if a not in self.down)
        running: dict = {a.key.remote(): (a, None) for a in self.down}  # ref -> (actor, chunk)
        probes: dict = {}  # actor -> probes it failed since it died
        while (queue and (idle or running)) or any(c is not None for _, c in running.values()):
            while queue and idle:
                actor, chunk = idle.popleft(), queue.popleft()
                running[getattr(actor, method).remote(chunk.jobs)] = (actor, chunk)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, chunk = running.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the code failed, not the worker: no retry
                idle.append(actor)
                fail(chunk, f"Ray worker failed: {_cause(e)}")
                continue
            except ray.exceptions.RayError as e:  # it died (killed, out of memory, node lost)
                self.down.add(actor)
                self._probe(actor, probes, running)
                if chunk is not None:
                    self._lost(chunk, e, queue, fail)
                continue
            probes.pop(actor, None)
            self.down.discard(actor)
            idle.appendleft(actor)
            if chunk is not None:
                done(chunk, value)
        for chunk in queue:  # every worker is gone
            fail(chunk, "no Ray worker is left (see `ray status` and the Ray logs)")

    def _probe(self, actor, probes: dict, running: dict) -> None:
        """Ask a worker that died whether it is back, once a second for `PROBE_S` seconds."""
        probes[actor] = probes.get(actor, 0) + 1
        if probes[actor] > PROBE_S:
            logger.warning("ray: a worker did not come back in %d s; going on without it", PROBE_S)
            return
        if probes[actor] > 1:
            time.sleep(1.0)
        running[actor.key.remote()] = (actor, None)

    def _lost(self, chunk: _Chunk, error, queue: deque, fail) -> None:
        chunk.attempts += 1
        names = ", ".join(j.source.name for j in chunk.jobs)
        if chunk.attempts >= self.options.max_attempts:
            logger.warning("ray: giving up on %s: its worker died %d times", names, chunk.attempts)
            fail(chunk, f"its Ray worker died {chunk.attempts} times ({_cause(error)})")
        else:
            logger.warning("ray: a worker died with %s in flight; trying again", names)
            queue.appendleft(chunk)  # whole: the same batches as a local run


def _failed(job: Job, why: str, duration_s: float = 0.0) -> FileResult:
    return FileResult(str(job.source), "failed", duration_s, error=f"{job.source}: {why}")


def _cause(e: BaseException) -> str:
    """The last line of a Ray error (the original exception), not its whole traceback."""
    lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()]
    return lines[-1] if lines else type(e).__name__
