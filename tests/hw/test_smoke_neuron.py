"""Issue-2 toolchain smoke test: Amaranth -> Verilog -> cocotb on both simulators via pytest."""
from pathlib import Path

import pytest

from hw import sim_runner
from smoke_neuron import SmokeNeuron

HERE = Path(__file__).parent


@pytest.mark.parametrize("simulator", sim_runner.SIMULATORS)
def test_lif_neuron_on_simulator(simulator):
    build_dir = sim_runner.build(sim_runner.verilog_of(SmokeNeuron(), "smoke_neuron"), "smoke_neuron", simulator)
    sim_runner.run(build_dir, "smoke_neuron", simulator, "smoke_neuron", HERE)
