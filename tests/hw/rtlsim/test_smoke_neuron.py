"""Issue-2 toolchain smoke test: Amaranth -> Verilog -> cocotb on both simulators via pytest."""
from pathlib import Path

import pytest

from hw.rtlsim import runner
from smoke_neuron import SmokeNeuron

HERE = Path(__file__).parent


@pytest.mark.parametrize("simulator", runner.SIMULATORS)
def test_lif_neuron_on_simulator(simulator):
    build_dir = runner.build(runner.verilog_of(SmokeNeuron(), "smoke_neuron"), "smoke_neuron", simulator)
    runner.run(build_dir, "smoke_neuron", simulator, "smoke_neuron", HERE)
