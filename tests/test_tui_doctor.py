"""The doctor from the app's palette: its table from a real subprocess, refused while a run trains."""

from __future__ import annotations

from tui_fixtures import settings_in_tmp  # noqa: F401 - an autouse fixture


async def test_the_palette_doctor_shows_the_table_and_is_refused_while_a_run_trains(tmp_path, monkeypatch) -> None:
    from textual.widgets import Static
    from tui_fixtures import wait_until

    from vit_tui.engine.train.trainer_slot import TRAINER_SLOT
    from vit_tui.tui.actions import MAIN_ACTIONS
    from vit_tui.tui.app import VitApp
    from vit_tui.tui.screens import doctor as doctor_screen

    assert any(entry.action == "doctor" for entry in MAIN_ACTIONS)
    calls: list[str] = []

    def cpu_doctor(device: str = "auto", timeout_s: float = 180) -> dict:  # the real subprocess, on the CPU only
        calls.append(device)
        return real(device="cpu", timeout_s=timeout_s)

    real = doctor_screen.run_doctor_subprocess
    monkeypatch.setattr(doctor_screen, "run_doctor_subprocess", cpu_doctor)
    app = VitApp(home=tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        with TRAINER_SLOT.hold("run busy"):
            await app.run_action("doctor")
            await pilot.pause()
            assert not isinstance(app.screen, doctor_screen.DoctorScreen) and calls == []
        await app.run_action("doctor")
        await wait_until(pilot, lambda: isinstance(app.screen, doctor_screen.DoctorScreen), 5)
        await wait_until(pilot, lambda: bool(app.screen.query("#doctor-report")), 5)
        shown = app.screen.query_one("#doctor-report", Static)
        await wait_until(pilot, lambda: "running the probes" not in str(shown.render()), 120)
        assert "doctor failed" not in str(shown.render())
        assert calls == ["auto"]
