"""sim/testbench.py's memory files: what write_memh writes, read_memh reads back, also in
the forms simulators dump (Icarus's ``// 0x...`` address comments, ``@ADDR`` lines, X)."""

import pytest

from sim.testbench import read_memh, tb_parameters, write_memh


def test_round_trip(tmp_path):
    blob = bytes(range(40))
    write_memh(tmp_path / "m.hex", blob, 64)
    assert read_memh(tmp_path / "m.hex", 64, 40) == blob


def test_icarus_comments_and_addresses_do_not_shift_words(tmp_path):
    f = tmp_path / "d.hex"
    f.write_text("// 0x00000000\n0102\n0304\n// 0x00000002\n0506\n@4\nxx08\n")
    got = read_memh(f, 16, 10)
    assert got == bytes([2, 1, 4, 3, 6, 5, 0, 0, 8, 0])


def test_latency_is_checked():
    with pytest.raises(ValueError, match="latency"):
        tb_parameters(addr_bits=12, mem_bits=64, words=8, latency=0)
