"""`fuelbreak.provenance`: what a result was made on."""

from __future__ import annotations

import torch

from fuelbreak.provenance import cpu_model, machine_record

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 sha_ni

processor\t: 1
model name\t: Something Else
flags\t\t: fpu
"""


def test_cpu_model_reads_the_first_processors_name_and_arithmetic_flags(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text(CPUINFO)
    assert cpu_model(f) == {"model": "AMD EPYC 9R14 96-Core Processor", "flags": ["avx2", "fma", "avx512f", "avx512_bf16"]}


def test_cpu_model_without_cpuinfo_says_what_the_platform_says(tmp_path):
    got = cpu_model(tmp_path / "missing")
    assert set(got) == {"model", "flags"} and got["flags"] == []


def test_machine_record_names_cpu_torch_threads_and_versions():
    rec = machine_record(3)
    assert rec["torch"] == torch.__version__ and rec["torch_threads"] == 3
    assert rec["cpu"]["model"] and isinstance(rec["cores"], int)
    assert rec["fuelbreak"] and rec["numpy"] and rec["python"]
    assert machine_record()["torch_threads"] == torch.get_num_threads()
