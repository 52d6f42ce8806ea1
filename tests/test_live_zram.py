"""zram swap for ``memcglab kernel run --zram``: the choice of a free device and the
refusals on fake /sys/block and /proc/swaps trees, and one LIVE setup/teardown as root when
this machine has a free zram device (skipped otherwise, with the reason)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from memcglab.errors import LiveError
from memcglab.live import zram

HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


def fake(tmp_path: Path, sizes: dict[str, int], swaps: list[str]) -> tuple[Path, Path, Path]:
    block, dev = tmp_path / "sys_block", tmp_path / "dev"
    for name, size in sizes.items():
        (block / name).mkdir(parents=True)
        (block / name / "disksize").write_text(f"{size}\n")
        (block / name / "reset").write_text("")
    (block / "vda").mkdir(parents=True, exist_ok=True)
    dev.mkdir()
    swaps_file = tmp_path / "swaps"
    swaps_file.write_text(HEADER + "".join(f"{s}\tpartition\t65532\t0\t5\n" for s in swaps))
    return block, swaps_file, dev


def test_free_devices_skip_those_in_use(tmp_path: Path) -> None:
    block, swaps, dev = fake(tmp_path, {"zram0": 1 << 27, "zram1": 0, "zram10": 0,
                                        "zram2": 0}, [str(tmp_path / "dev" / "zram1")])
    assert zram.zram_devices(block) == ["zram0", "zram1", "zram2", "zram10"]
    assert zram.free_devices(block, swaps, dev) == ["zram2", "zram10"]


@pytest.mark.parametrize(("device", "message"), [
    ("zram0", "in use .disksize 134217728"),
    ("zram1", "a swap area"),
    ("zram7", "no .*zram7"),
    ("sda", "a name like zram0"),
])
def test_a_device_in_use_is_refused(tmp_path: Path, device: str, message: str) -> None:
    block, swaps, dev = fake(tmp_path, {"zram0": 1 << 27, "zram1": 0},
                             [str(tmp_path / "dev" / "zram1")])
    with pytest.raises(LiveError, match=message):
        zram._check_free(device, block, swaps, dev)


def test_active_swaps_unescapes(tmp_path: Path) -> None:
    f = tmp_path / "swaps"
    f.write_text(HEADER + "/swap\\040file\tfile\t1024\t0\t-2\n/dev/zram0\tpartition\t1\t0\t5\n")
    assert zram.active_swaps(f) == ["/swap file", "/dev/zram0"]
    assert zram.active_swaps(tmp_path / "missing") == []


def test_teardown_of_what_is_gone_does_nothing(tmp_path: Path) -> None:
    block, swaps, dev = fake(tmp_path, {"zram0": 0}, [])
    rec = zram.ZramSwap("zram0", 1 << 26, str(uuid.uuid4()))
    zram.teardown(rec, sys_block=block, proc_swaps=swaps, dev=dev)  # disksize 0 already
    zram.teardown(zram.ZramSwap("zram9", 1 << 26, rec.uuid), sys_block=block,
                  proc_swaps=swaps, dev=dev)  # no such device any more
    assert (block / "zram0" / "reset").read_text() == ""


def _swap_header(u: uuid.UUID, label: bytes = b"") -> bytes:
    page = bytearray(4096)
    page[1036:1052] = u.bytes
    page[1052:1052 + len(label)] = label
    page[4086:] = b"SWAPSPACE2"
    return bytes(page)


def test_free_device(tmp_path: Path) -> None:
    block, swaps, dev = fake(tmp_path, {"zram0": 1 << 27, "zram1": 0}, [])
    assert zram.free_device(block, swaps, dev) == "zram1"
    (block / "zram1" / "disksize").write_text("4096\n")
    with pytest.raises(LiveError, match="zram0, zram1 are in use"):
        zram.free_device(block, swaps, dev)
    with pytest.raises(LiveError, match="CONFIG_ZRAM"):
        zram.free_device(tmp_path / "nothing", swaps, dev)


def test_teardown_by_name_needs_memcglabs_label(tmp_path: Path) -> None:
    block, swaps, dev = fake(tmp_path, {"zram0": 1 << 26}, [str(tmp_path / "dev" / "zram0")])
    u = uuid.uuid4()
    (dev / "zram0").write_bytes(_swap_header(u, b"theirs"))
    assert zram.swap_header("zram0", dev) == (str(u), "theirs")
    with pytest.raises(LiveError, match=r"label 'memcglab'.*someone else"):
        zram.teardown("zram0", sys_block=block, proc_swaps=swaps, dev=dev)
    with pytest.raises(LiveError, match="a name like zram0"):
        zram.teardown("../sda", sys_block=block, proc_swaps=swaps, dev=dev)
    assert (block / "zram0" / "reset").read_text() == ""


def test_teardown_by_name_resets_a_blank_half_setup(tmp_path: Path) -> None:
    # killed between the disksize write and mkswap: disksize set, nothing written
    block, swaps, dev = fake(tmp_path, {"zram0": 1 << 26}, [])
    (dev / "zram0").write_bytes(bytes(4096))
    zram.teardown("zram0", sys_block=block, proc_swaps=swaps, dev=dev)
    assert (block / "zram0" / "reset").read_text() == "1"
    # ... but a device with data on it (someone's zram disk) is left alone
    (block / "zram0" / "reset").write_text("")
    (dev / "zram0").write_bytes(b"ext4 data" + bytes(4087))
    with pytest.raises(LiveError, match="data written"):
        zram.teardown("zram0", sys_block=block, proc_swaps=swaps, dev=dev)
    assert (block / "zram0" / "reset").read_text() == ""


def test_teardown_leaves_someone_elses_swap_alone(tmp_path: Path) -> None:
    block, swaps, dev = fake(tmp_path, {"zram0": 1 << 26}, [str(tmp_path / "dev" / "zram0")])
    theirs = uuid.uuid4()
    (dev / "zram0").write_bytes(_swap_header(theirs))
    assert zram.swap_uuid("zram0", dev) == str(theirs)
    rec = zram.ZramSwap("zram0", 1 << 26, str(uuid.uuid4()))
    with pytest.raises(LiveError, match="someone else set it up"):
        zram.teardown(rec, sys_block=block, proc_swaps=swaps, dev=dev)
    (dev / "zram0").write_bytes(_swap_header(theirs, b"memcglab"))  # another run's
    with pytest.raises(LiveError, match="someone else set it up"):
        zram.teardown(rec, sys_block=block, proc_swaps=swaps, dev=dev)
    (dev / "zram0").write_bytes(bytes(4096))
    assert zram.swap_uuid("zram0", dev) is None
    assert (block / "zram0" / "reset").read_text() == ""


def test_record_round_trip() -> None:
    rec = zram.ZramSwap("zram3", 1 << 26, str(uuid.uuid4()))
    assert zram.ZramSwap.from_json(rec.to_json()) == rec
    with pytest.raises(LiveError, match="not a zram swap record"):
        zram.ZramSwap.from_json({"device": "../sda", "size_bytes": 1, "uuid": "x"})


# -- live --------------------------------------------------------------------------------

def _live_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not all(shutil.which(t) or shutil.which(t, path="/usr/sbin:/sbin")
               for t in ("mkswap", "swapon", "swapoff")):
        return "mkswap/swapon/swapoff (util-linux) not found"
    if not zram.zram_devices():
        return "no zram device (CONFIG_ZRAM, or none created)"
    if not zram.free_devices():
        return f"no free zram device: {', '.join(zram.zram_devices())} in use"
    return None


def _force_off(name: str) -> None:
    """Cleanup that does not trust the code under test: swapoff, then reset, directly."""
    import subprocess

    if f"/dev/{name}" in zram.active_swaps():
        swapoff = shutil.which("swapoff") or shutil.which("swapoff", path="/usr/sbin:/sbin")
        subprocess.run([str(swapoff), f"/dev/{name}"], check=False)
    if (Path("/sys/block") / name / "disksize").read_text().strip() != "0":
        (Path("/sys/block") / name / "reset").write_text("1")


@pytest.mark.skipif(_live_reason() is not None, reason=str(_live_reason()))
def test_live_setup_and_teardown() -> None:
    devices_before = zram.zram_devices()
    swaps_before = zram.active_swaps()
    claimed: set[str] = set()
    try:
        name = zram.free_device()
        claimed.add(name)
        rec = zram.setup(64 << 20)
        assert rec.device == name
        path = f"/dev/{rec.device}"
        assert rec.size_bytes == 64 << 20
        assert path in zram.active_swaps()
        line = next(ln for ln in Path("/proc/swaps").read_text().splitlines()
                    if ln.split()[0] == path)
        assert line.split()[4] == "5"  # priority
        assert zram.swap_header(name) == (rec.uuid, "memcglab")
        with pytest.raises(LiveError, match="in use"):
            zram.setup(64 << 20, device=name)  # never a device in use
        zram.teardown(rec)
        assert (Path("/sys/block") / name / "disksize").read_text().strip() == "0"
        assert path not in zram.active_swaps()
        zram.teardown(rec)  # idempotent
        # the runner's way: the device name first (into the state file), teardown by name
        rec = zram.setup(64 << 20, zram.free_device())
        zram.teardown(rec.device)
        assert path not in zram.active_swaps()
        zram.teardown(rec.device)
        # a setup killed between disksize and mkswap: teardown by name resets it
        (Path("/sys/block") / name / "disksize").write_text(str(64 << 20))
        zram.teardown(name)
        assert (Path("/sys/block") / name / "disksize").read_text().strip() == "0"
    finally:
        for n in claimed:
            _force_off(n)
        # nothing left behind, whatever failed above
        assert zram.active_swaps() == swaps_before
        assert zram.zram_devices() == devices_before
        for n in claimed:
            assert (Path("/sys/block") / n / "disksize").read_text().strip() == "0"
